//! The engine seam: what every engine's memory model answers. Calibration and the planner
//! sit above it and reach engines only through it (by way of [`super::Backend`], which
//! lists them).

use crate::components::Estimate;
use crate::config::RunConfig;
use crate::error::Result;
use crate::profile::ModelProfile;

/// One engine's analytic memory model (the calibrated figure is
/// [`crate::calibrate::calibrated_for`] on top).
///
/// ```
/// use memcal_predict::backend::MemoryModel;
/// use memcal_predict::{Backend, RunConfig};
///
/// let profile = memcal_predict::presets::profile("llama-3.2-1b:Q4_0")?;
/// let engine: &dyn MemoryModel = Backend::LlamaCpp.model();
/// assert_eq!(engine.name(), "llama.cpp");
/// let e = engine.analytic(&profile, &RunConfig::default())?;
/// assert!(e.host.weights >= profile.tensor_data_bytes);
/// assert!(engine.load_problem(&profile).is_none());
/// # Ok::<(), memcal_predict::Error>(())
/// ```
pub trait MemoryModel: Sync {
    /// The name records and calibration tables carry (`llama.cpp`, `memcal-candle`...).
    fn name(&self) -> &'static str;

    /// Other spellings `--backend` accepts.
    fn aliases(&self) -> &'static [&'static str];

    /// What the model covers, in one line (`predictor backends`).
    fn summary(&self) -> &'static str;

    /// What the engine holds at its peak for this model and configuration, per component
    /// and per buffer as the engine names them, with notes.
    fn analytic(&self, profile: &ModelProfile, config: &RunConfig) -> Result<Estimate>;

    /// Why the engine cannot load this model, when it cannot (the estimate is still given,
    /// with this as a note).
    fn load_problem(&self, _profile: &ModelProfile) -> Option<String> {
        None
    }

    /// Engine builds with rules of their own (`--engine-build`); empty for engines
    /// without build-keyed rules.
    fn rule_builds(&self) -> Vec<u32> {
        Vec::new()
    }
}

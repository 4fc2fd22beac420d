//! [`Predictor`]: one engine's memory model with its calibration tables, built once and
//! asked many questions.

use crate::backend::Backend;
use crate::calibrate::TableSet;
use crate::compat::MemoryRequirements;
use crate::components::Estimate;
use crate::config::RunConfig;
use crate::error::Result;
use crate::planner::{self, Budget, Plan};
use crate::profile::ModelProfile;

/// An engine's calibrated memory model.
///
/// ```
/// use memcal_predict::{Backend, Predictor, RunConfig};
///
/// let profile = memcal_predict::presets::profile("bitnet-b1.58-2b-4t")?;
/// let p = Predictor::new(Backend::BitnetCpp)?;
/// let config = RunConfig { ctx: 4096, margin_pct: 0.0, ..RunConfig::default() };
/// let e = p.estimate(&profile, &config)?;
/// assert_eq!(e.backend, "bitnet.cpp");
/// // The weights alone are 1.1 GiB of I2_S and F16 tensors.
/// assert!(e.host_bytes() > profile.tensor_data_bytes);
///
/// // What fits into 2 GiB, and BitNet-rs's own figures for the same file.
/// let plan = p.plan(&profile, &config, memcal_predict::planner::Budget { host_bytes: 2 << 30, gpu_bytes: None })?;
/// assert!(plan.max_ctx.is_some());
/// let rs = Predictor::new(Backend::BitnetRs)?.requirements(&profile, &config)?;
/// assert!(rs.total_mb > 3000);
/// # Ok::<(), memcal_predict::Error>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Predictor {
    backend: Backend,
    tables: TableSet,
}

impl Predictor {
    /// The predictor of `backend` with the calibration tables embedded in this build.
    pub fn new(backend: Backend) -> Result<Predictor> {
        Ok(Predictor {
            backend,
            tables: TableSet::embedded()?,
        })
    }

    /// The predictor of the engine most people run for this model
    /// ([`Backend::default_for`]) with the embedded tables.
    pub fn for_model(profile: &ModelProfile) -> Result<Predictor> {
        Predictor::new(Backend::default_for(profile))
    }

    /// The predictor of `backend` with other tables ([`TableSet::empty`] for the pure
    /// analytic model).
    pub fn with_tables(backend: Backend, tables: TableSet) -> Predictor {
        Predictor { backend, tables }
    }

    /// The engine this predictor describes.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The calibrated estimate per component, with headroom.
    pub fn estimate(&self, profile: &ModelProfile, config: &RunConfig) -> Result<Estimate> {
        crate::calibrate::calibrated_for(self.backend, profile, config, &self.tables)
    }

    /// What fits `budget`: GPU layers, largest context, largest batch.
    pub fn plan(&self, profile: &ModelProfile, config: &RunConfig, budget: Budget) -> Result<Plan> {
        planner::plan_for(self.backend, profile, config, budget, &self.tables)
    }

    /// The estimate in BitNet-rs's `MemoryRequirements` shape (MiB, rounded up).
    pub fn requirements(
        &self,
        profile: &ModelProfile,
        config: &RunConfig,
    ) -> Result<MemoryRequirements> {
        Ok(MemoryRequirements::from_estimate(
            &self.estimate(profile, config)?,
        ))
    }
}

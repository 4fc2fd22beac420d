//! The planner: under a memory budget, how many blocks go on the GPU, the largest context
//! and the largest batch that fit, with the headroom kept.
//!
//! Like mistral.rs's device mapper it takes the batch and context the user wants and
//! reports what goes where; it also searches for the largest context (at the requested
//! batch) and the largest batch (at the requested context). Every figure is the calibrated
//! estimate including its headroom, so "fits" means "fits with the margin reported".

use crate::backend::Backend;
use crate::calibrate::{self, TableSet};
use crate::components::Estimate;
use crate::config::{RunConfig, MAX_BATCH};
use crate::error::Result;
use crate::profile::ModelProfile;
use serde::Serialize;

pub mod budget;
pub mod gpus;
pub mod hosts;
pub mod serve;

pub use budget::{fits, largest, Budget};
pub use gpus::plan_gpus;
pub use hosts::{plan_hosts, HostPlan};

/// The planner's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// The budget planned against.
    pub budget: Budget,
    /// Whether the requested configuration fits (with the chosen GPU layers).
    pub requested_fits: bool,
    /// Blocks on the GPU for the requested configuration (0 on CPU).
    pub gpu_layers: u32,
    /// Total blocks of the model.
    pub n_layers: u32,
    /// The estimate for the requested configuration with `gpu_layers`.
    pub requested: Estimate,
    /// The largest context that fits at the requested batch (None: not even 1 token).
    pub max_ctx: Option<u32>,
    /// The largest batch that fits at the requested context (None: not even 1).
    pub max_batch: Option<u32>,
    /// The upper bound searched for the context (the trained context, or the requested one
    /// when larger).
    pub ctx_limit: u32,
    /// Headroom kept in the requested estimate, bytes (host + GPU).
    pub headroom_bytes: u64,
    /// With a served configuration: the prompt cache's limit that fits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serve: Option<serve::ServePlan>,
}

/// Plans `config` for `profile` under `budget` using the reference runtime's calibrated
/// estimate (see [`plan_for`] for an engine).
pub fn plan(
    profile: &ModelProfile,
    config: &RunConfig,
    budget: Budget,
    tables: &TableSet,
) -> Result<Plan> {
    plan_for(Backend::Memcal, profile, config, budget, tables)
}

/// Plans `config` for `profile` under `budget` with `backend`'s calibrated estimate, the
/// same figure `predictor estimate --backend` gives for each configuration tried.
pub fn plan_for(
    backend: Backend,
    profile: &ModelProfile,
    config: &RunConfig,
    budget: Budget,
    tables: &TableSet,
) -> Result<Plan> {
    config.validate()?;
    let est = |c: &RunConfig| calibrate::calibrated_for(backend, profile, c, tables);
    let n = profile.shape.n_layers;

    // GPU layers: as many as fit on the GPU (more blocks only add GPU memory), then check
    // the host can hold the rest.
    let gpu_layers = if config.device.is_cuda() {
        let cap = config.gpu_layers.unwrap_or(n).min(n);
        largest(0, cap, |g| {
            let e = est(&RunConfig {
                gpu_layers: Some(g),
                ..config.clone()
            })?;
            Ok(e.gpu
                .is_none_or(|x| x.total() <= budget.gpu_bytes.unwrap_or(0)))
        })?
        .unwrap_or(0)
    } else {
        0
    };
    let at = RunConfig {
        gpu_layers: config.device.is_cuda().then_some(gpu_layers),
        ..config.clone()
    };
    let requested = est(&at)?;
    let requested_fits = fits(&requested, &budget);

    let ctx_limit = budget::ctx_limit(profile, config);
    let max_ctx = largest(1, ctx_limit, |ctx| {
        // A fixed prompt longer than a context tried is cut to it.
        let prompt = at.prompt.map(|p| p.min(ctx));
        Ok(fits(
            &est(&RunConfig {
                ctx,
                prompt,
                ..at.clone()
            })?,
            &budget,
        ))
    })?;
    let max_batch = largest(1, MAX_BATCH, |batch| {
        Ok(fits(
            &est(&RunConfig {
                batch,
                ..at.clone()
            })?,
            &budget,
        ))
    })?;
    let headroom_bytes = requested.host.headroom + requested.gpu.map_or(0, |g| g.headroom);
    let serve = match &at.serve {
        Some(_) => Some(serve::plan_cache(&at, budget.host_bytes, &|c| {
            Ok(fits(&est(c)?, &budget))
        })?),
        None => None,
    };
    Ok(Plan {
        budget,
        requested_fits,
        gpu_layers,
        n_layers: n,
        requested,
        max_ctx,
        max_batch,
        ctx_limit,
        headroom_bytes,
        serve,
    })
}

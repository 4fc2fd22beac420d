//! The estimate: analytic components per device, and calibration applied on top.
//!
//! [`analytic`] mirrors the reference runtime's memory behaviour (see
//! [`crate::backend::BackendModel`]); [`calibrated()`] applies the matching
//! [`crate::table::CalibrationTable`] and sets the headroom from its held-out error.

pub mod activations;
pub mod calibrated;
pub mod kv_cache;
pub mod weights;

pub use calibrated::{calibrated, calibrated_for};

use crate::backend::BackendModel;
use crate::components::{Components, Estimate};
use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::profile::ModelProfile;

/// Checks that a profile can be estimated at all (no zero heads or widths).
pub(crate) fn check_profile(profile: &ModelProfile) -> Result<()> {
    let bad = |what: &str| {
        Err(Error::InvalidConfig(format!(
            "model {}: {what}; cannot estimate",
            profile.name
        )))
    };
    if profile.shape.n_layers == 0 || profile.layer_bytes.len() != profile.shape.n_layers as usize {
        return bad("no transformer blocks (or the block count does not match the tensors)");
    }
    if profile.shape.n_heads == 0 || profile.shape.head_dim_k == 0 || profile.shape.head_dim_v == 0
    {
        return bad("zero attention heads or head width");
    }
    if profile.shape.n_kv_heads.len() != profile.shape.n_layers as usize {
        return bad("KV head counts do not cover every block");
    }
    Ok(())
}

/// Bytes the reference runtime's load holds above the final host weights `host_weights`:
/// it reads every tensor on the host first (the sequential load peak where the profile
/// knows it, else the weights plus one copy of the largest tensor), then moves the
/// offloaded blocks to the GPU and drops their host copies.
pub fn load_transient(profile: &ModelProfile, backend: &BackendModel, host_weights: u64) -> u64 {
    if !backend.load_transient_copy {
        return 0;
    }
    let peak = if profile.sequential_load_peak_bytes > 0 {
        profile.sequential_load_peak_bytes
    } else {
        profile
            .tensor_data_bytes
            .saturating_add(profile.largest_tensor_bytes)
    };
    peak.saturating_sub(host_weights)
}

/// The note when a configuration asks for more context than the model was trained for.
pub(crate) fn context_note(profile: &ModelProfile, config: &RunConfig) -> Option<String> {
    (config.ctx as u64 > profile.shape.ctx_train && profile.shape.ctx_train > 0).then(|| {
        format!(
            "context {} exceeds the model's trained context {}",
            config.ctx, profile.shape.ctx_train
        )
    })
}

/// `c` with its headroom set to `margin_pct` of what it uses.
pub(crate) fn with_headroom(mut c: Components, margin_pct: f64) -> Components {
    c.headroom = headroom(c.used(), margin_pct);
    c
}

/// Headroom for `used` bytes at `pct` percent, rounded up.
pub fn headroom(used: u64, pct: f64) -> u64 {
    (used as f64 * pct.max(0.0) / 100.0).ceil() as u64
}

/// The analytic estimate for the reference runtime.
pub fn analytic(profile: &ModelProfile, config: &RunConfig) -> Result<Estimate> {
    analytic_with(profile, config, &BackendModel::memcal_candle())
}

/// The analytic estimate for a given backend model.
///
/// Host and GPU components are computed separately. On the host, what loading holds above
/// the final weights (transient copies) is only charged where it exceeds what the KV cache
/// and the activations add later (the copies are freed before they are allocated), so the
/// components add up to the predicted peak: `max(load peak, run peak)`.
pub fn analytic_with(
    profile: &ModelProfile,
    config: &RunConfig,
    backend: &BackendModel,
) -> Result<Estimate> {
    config.validate()?;
    check_profile(profile)?;
    let n = profile.shape.n_layers as usize;
    let g = config.gpu_layers_for(profile.shape.n_layers) as usize;
    let w = weights::split(profile, g as u32);
    let kv_host = kv_cache::bytes(profile, config, 0..n - g, false);
    let kv_gpu = kv_cache::bytes(profile, config, n - g..n, false);
    let act = activations::terms(profile, config, backend).peak();
    // Bytes above the final host weights while loading.
    let transient = load_transient(profile, backend, w.host);

    let notes: Vec<String> = context_note(profile, config).into_iter().collect();

    let (host, gpu) = if config.device.is_cuda() {
        // Activations live where the blocks run: the device forward's terms on the GPU;
        // the host computes its own blocks (the same per-step buffers as on the CPU) or,
        // with every block offloaded, only the embedding rows it uploads.
        let act_gpu = if g > 0 {
            activations::device_terms(profile, config).peak()
        } else {
            0
        };
        let act_host = if g == n {
            activations::terms(profile, config, backend).residual
        } else {
            act
        };
        let host_after_load = kv_host + act_host;
        let host = Components {
            weights: w.host,
            kv_cache: kv_host,
            activations: act_host,
            overhead: backend.host_base_bytes
                + backend.cuda_host_bytes
                + transient.saturating_sub(host_after_load),
            headroom: 0,
        };
        let gpu = Components {
            weights: w.gpu,
            kv_cache: kv_gpu,
            activations: act_gpu,
            overhead: backend.cuda_context_bytes,
            headroom: 0,
        };
        (host, Some(gpu))
    } else {
        let host = Components {
            weights: w.host,
            kv_cache: kv_host,
            activations: act,
            overhead: backend.host_base_bytes + transient.saturating_sub(kv_host + act),
            headroom: 0,
        };
        (host, None)
    };

    let with_headroom = |c: Components| with_headroom(c, config.margin_pct);
    Ok(Estimate {
        backend: backend.name.clone(),
        buffers: Vec::new(),
        config: config.clone(),
        gpu_layers: g as u32,
        host: with_headroom(host),
        gpu: gpu.map(with_headroom),
        calibration: None,
        notes,
        devices: Vec::new(),
    })
}

//! memcal's reference runtime (`memcal-candle`, crates/runtime): its analytic memory,
//! which mirrors what the runtime keeps (see ARCHITECTURE.md, "The reference runtime's
//! memory behaviour"): weights at their stored size ([`crate::backend::offload`] on a
//! GPU), the KV cache ([`kv_cache`]), one step's activations ([`activations`]) and the
//! runtime's own constants ([`constants`]).

pub mod activations;
pub mod constants;
pub mod kv_cache;

pub use constants::Constants;

use crate::backend::common::{context_note, no_moe_note};
use crate::backend::memory_model::MemoryModel;
use crate::backend::offload;
use crate::components::{Components, Estimate};
use crate::config::RunConfig;
use crate::error::Result;
use crate::profile::ModelProfile;

/// Bytes the reference runtime's load holds above the final host weights `host_weights`:
/// it reads every tensor on the host first (the sequential load peak where the profile
/// knows it, else the weights plus one copy of the largest tensor), then moves the
/// offloaded blocks to the GPU and drops their host copies.
pub fn load_transient(profile: &ModelProfile, backend: &Constants, host_weights: u64) -> u64 {
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

/// memcal's reference runtime on candle-core.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reference;

impl MemoryModel for Reference {
    fn name(&self) -> &'static str {
        "memcal-candle"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["memcal", "reference"]
    }

    fn summary(&self) -> &'static str {
        "memcal's reference runtime (candle-core): weights at stored size, KV resident at \
         allocation, chunked prefill, one tensor converted at a time on load; on CUDA the \
         last --gpu-layers blocks run a tensor forward on the device (I2_S unpacked one \
         matrix at a time)"
    }

    fn analytic(&self, profile: &ModelProfile, config: &RunConfig) -> Result<Estimate> {
        analytic(profile, config)
    }

    fn load_problem(&self, profile: &ModelProfile) -> Option<String> {
        no_moe_note(self.name(), profile)
    }
}

/// The analytic estimate for the reference runtime.
pub fn analytic(profile: &ModelProfile, config: &RunConfig) -> Result<Estimate> {
    analytic_with(profile, config, &Constants::memcal_candle())
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
    backend: &Constants,
) -> Result<Estimate> {
    config.validate()?;
    profile.check_estimable()?;
    let n = profile.shape.n_layers as usize;
    let g = config.gpu_layers_for(profile.shape.n_layers) as usize;
    let w = offload::split(profile, g as u32);
    let kv_host = kv_cache::bytes(profile, config, 0..n - g, false);
    let kv_gpu = kv_cache::bytes(profile, config, n - g..n, false);
    let act = activations::terms(profile, config, backend).peak();
    // Bytes above the final host weights while loading.
    let transient = load_transient(profile, backend, w.host);

    let notes: Vec<String> = context_note(profile, config).into_iter().collect();

    let device = crate::device::for_device(config.device);
    let (host, gpu) = if device.holds_offloaded_layers() {
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
                + device.host_bytes()
                + transient.saturating_sub(host_after_load),
            headroom: 0,
        };
        let gpu = Components {
            weights: w.gpu,
            kv_cache: kv_gpu,
            activations: act_gpu,
            overhead: device.context_bytes(),
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

    Ok(Estimate {
        backend: backend.name.clone(),
        buffers: Vec::new(),
        config: config.clone(),
        gpu_layers: g as u32,
        host: host.with_headroom(config.margin_pct),
        gpu: gpu.map(|g| g.with_headroom(config.margin_pct)),
        calibration: None,
        notes,
        devices: Vec::new(),
    })
}

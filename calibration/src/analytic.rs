//! The analytic components a correction is fitted on.
//!
//! They are recomputed from each record's profile and configuration with the *current*
//! predictor ([`predictor::backend::reference::analytic_with`]), so a change to the analytic model
//! needs a new fit, not new measurements. Records of a backend the predictor has no model
//! for (an external engine), or whose profile the predictor rejects, keep the prediction
//! stored in the record at measurement time.

use predictor::backend::reference::Constants;
use predictor::backend::Backend;
use predictor::components::Components;
use predictor::config::RunConfig;
use predictor::profile::ModelProfile;
use predictor::record::Record;

/// The configuration a record ran, with the prompt and decode lengths it really processed
/// (records written before the configuration carried them keep them beside it).
pub fn run_config(record: &Record) -> RunConfig {
    let mut c = record.config.clone();
    if c.prompt.is_none() && record.prompt_tokens > 0 {
        c.prompt = Some(record.prompt_tokens.min(c.ctx));
    }
    if c.decode == 0 {
        c.decode = record.decode_tokens;
    }
    c
}

/// Where a sample's analytic components came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Recomputed with the current predictor.
    Recomputed,
    /// Taken from the record; the string says why.
    Stored(String),
}

/// The reference runtime's constants, for a record of that backend (the load/run phase
/// split is only known for it).
pub fn backend_model(name: &str) -> Option<Constants> {
    let reference = Constants::memcal_candle();
    (reference.name == name).then_some(reference)
}

/// Analytic components of the device a configuration is measured on (the GPU on CUDA,
/// the host on CPU), with no headroom; `Err` with the reason when the predictor cannot
/// compute them.
pub fn device_components(
    profile: &ModelProfile,
    config: &RunConfig,
    backend: &str,
) -> Result<Components, String> {
    process_components(profile, config, backend, None)
}

/// [`device_components`] of one process of a split: the client (`device_name` None) or
/// the split device `device_name` (an RPC worker).
pub fn process_components(
    profile: &ModelProfile,
    config: &RunConfig,
    backend: &str,
    device_name: Option<&str>,
) -> Result<Components, String> {
    let engine: Backend = backend
        .parse()
        .map_err(|_| format!("the predictor has no model of backend {backend:?}"))?;
    let est = engine
        .analytic(profile, config)
        .map_err(|e| e.to_string())?;
    if let Some(name) = device_name {
        let d = est
            .device(name)
            .ok_or_else(|| format!("the estimate has no split device {name:?}"))?;
        return Ok(Components {
            headroom: 0,
            ..d.memory
        });
    }
    let side = if config.device.is_cuda() {
        est.gpu
            .ok_or_else(|| "the estimate has no GPU side for a CUDA run".to_string())?
    } else {
        est.host
    };
    Ok(Components {
        headroom: 0,
        ..side
    })
}

/// The analytic components of the two phases whose larger peak is the run's peak, on the
/// host of a CPU run: the load (weights plus the load transient: the sequential load peak
/// above the weights, or one copy of the largest tensor) and the run (weights, KV cache,
/// activations), both over the process base.
///
/// The predictor folds the two into one sum (the transient's excess over what the cache
/// and activations add later goes into the overhead); this splits that sum again from the
/// same [`Constants`] terms. `None` on CUDA, for a backend without a model, or when the
/// split does not add back up to `device` (the predictor's structure changed).
pub fn phase_components(
    profile: &ModelProfile,
    config: &RunConfig,
    backend: &str,
    device: &Components,
) -> Option<(Components, Components)> {
    if config.device.is_cuda() {
        return None;
    }
    let model = backend_model(backend)?;
    // As the predictor charges it on the host: the sequential load peak above the final
    // weights where the profile knows it, else one copy of the largest tensor.
    let transient =
        predictor::backend::reference::load_transient(profile, &model, profile.tensor_data_bytes);
    let run = Components {
        overhead: model.host_base_bytes,
        headroom: 0,
        ..*device
    };
    let load = Components {
        kv_cache: 0,
        activations: 0,
        overhead: model.host_base_bytes + transient,
        ..run
    };
    (load.used().max(run.used()) == device.used()).then_some((load, run))
}

/// The components of the measured device for a record: recomputed where possible, the
/// record's stored prediction otherwise.
pub fn components(record: &Record) -> (Components, Source) {
    match process_components(
        &record.profile,
        &run_config(record),
        &record.backend,
        record.device_name.as_deref(),
    ) {
        Ok(c) => (c, Source::Recomputed),
        Err(why) => {
            let stored = if record.config.device.is_cuda() {
                record.predicted.gpu.unwrap_or_default()
            } else {
                record.predicted.host
            };
            (
                Components {
                    headroom: 0,
                    ..stored
                },
                Source::Stored(why),
            )
        }
    }
}

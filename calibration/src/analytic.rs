//! The analytic components a correction is fitted on.
//!
//! They are recomputed from each record's profile and configuration with the *current*
//! predictor ([`predictor::estimate::analytic_with`]), so a change to the analytic model
//! needs a new fit, not new measurements. Records of a backend the predictor has no model
//! for (an external engine), or whose profile the predictor rejects, keep the prediction
//! stored in the record at measurement time.

use predictor::backend::BackendModel;
use predictor::components::Components;
use predictor::config::RunConfig;
use predictor::profile::ModelProfile;
use predictor::record::Record;

/// Where a sample's analytic components came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Recomputed with the current predictor.
    Recomputed,
    /// Taken from the record; the string says why.
    Stored(String),
}

/// The predictor's model of a backend, by the name records carry.
pub fn backend_model(name: &str) -> Option<BackendModel> {
    let reference = BackendModel::memcal_candle();
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
    let model = backend_model(backend)
        .ok_or_else(|| format!("the predictor has no model of backend {backend:?}"))?;
    let est =
        predictor::estimate::analytic_with(profile, config, &model).map_err(|e| e.to_string())?;
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

/// The components of the measured device for a record: recomputed where possible, the
/// record's stored prediction otherwise.
pub fn components(record: &Record) -> (Components, Source) {
    match device_components(&record.profile, &record.config, &record.backend) {
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

//! `-sm row` over GPUs: refused on builds whose CUDA backend has no split buffers (from
//! llama.cpp#24216 on), modelled as a layer split before them, with a note saying so.

use crate::backend::llama_cpp::build::Family;
use crate::config::{RunConfig, SplitMode, SplitOptions};
use crate::error::Result;

/// The note of a `-sm row` estimate on a build that still loads it.
pub const ROW_AS_LAYER: &str = "-sm row (a build before llama.cpp#24216) is modelled \
     as -sm layer (whole blocks per GPU); row splitting spreads each block's matrices instead \
     and keeps the KV cache on the main GPU";

/// `-sm row` over GPUs on a build whose CUDA backend has no split buffers: the engine
/// refuses to load, so there is no memory to predict.
pub fn refuse_missing_row_split(
    fam: &Family,
    config: &RunConfig,
    split: &SplitOptions,
) -> Result<()> {
    let Some(at) = fam.cuda_row_split_removed_at else {
        return Ok(());
    };
    let removed = config.engine_build.is_none_or(|b| b >= at);
    if split.mode == SplitMode::Row && removed {
        return Err(crate::error::Error::InvalidConfig(format!(
            "-sm row: {} from build {at} on fails to load it (\"device CUDA0 does not support \
             split buffers\"): its CUDA backend dropped split buffers \
             (ggml-org/llama.cpp#24216); use -sm layer, or give --engine-build below {at}",
            fam.name
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use crate::calibrate::calibrated_for;
    use crate::calibrate::TableSet;
    use crate::components::Estimate;
    use crate::config::Device;
    use crate::presets;

    fn over_gpus(mode: SplitMode, engine_build: Option<u32>) -> Result<Estimate> {
        let p = presets::profile("llama-3.2-1b:Q4_0").unwrap();
        let config = RunConfig {
            device: Device::Cuda(0),
            ctx: 2048,
            split: Some(SplitOptions::gpus(Device::Cuda(0), 2, &[1.0, 1.0], mode).unwrap()),
            engine_build,
            ..RunConfig::default()
        };
        calibrated_for(Backend::LlamaCpp, &p, &config, &TableSet::empty())
    }

    #[test]
    fn row_split_over_gpus_is_refused_where_the_build_has_no_split_buffers() {
        for build in [None, Some(9890), Some(11434), Some(20000)] {
            let e = over_gpus(SplitMode::Row, build).unwrap_err().to_string();
            assert!(
                e.contains("does not support split buffers"),
                "{build:?}: {e}"
            );
        }
        // Before the removal the estimate is given (as a layer split, with a note).
        let old = over_gpus(SplitMode::Row, Some(9000)).unwrap();
        assert!(
            old.notes.iter().any(|n| n.contains("-sm row")),
            "{:?}",
            old.notes
        );
        assert_eq!(old.devices.len(), 2);
        assert!(over_gpus(SplitMode::Layer, None).is_ok());
    }
}

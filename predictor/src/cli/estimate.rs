//! `predictor estimate`.

use super::render;
use crate::cli_args::{ConfigArgs, ModelArgs};
use predictor::backend::Backend;
use predictor::calibrate::table_set::TableSet;
use predictor::compat::MemoryRequirements;
use predictor::components::Estimate;
use predictor::profile::ModelProfile;
use serde::Serialize;
use std::path::PathBuf;

/// Arguments of `predictor estimate`.
#[derive(Debug, Clone, clap::Args)]
pub struct EstimateArgs {
    /// The model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// The run configuration.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The engine and its tables.
    #[command(flatten)]
    pub tables: TableArgs,
    /// Print JSON: components (bytes), host_bytes, gpu_bytes, requirements, calibration.
    #[arg(long)]
    pub json: bool,
}

/// The JSON answer of `predictor estimate --json` (and of the Python `estimate`).
#[derive(Serialize)]
pub struct EstimateJson<'a> {
    backend: &'a str,
    model: render::ModelSummary<'a>,
    config: &'a predictor::RunConfig,
    gpu_layers: u32,
    components: render::ComponentsJson<'a>,
    host_bytes: u64,
    gpu_bytes: Option<u64>,
    requirements: MemoryRequirements,
    calibration: Option<&'a predictor::components::CalibrationInfo>,
    notes: &'a [String],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    buffers: &'a [predictor::buffer::EngineBuffer],
}

/// Which engine and calibration tables a command uses (shared by `estimate` and `plan`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TableArgs {
    /// The engine that will run the model: llama.cpp, bitnet.cpp, bitnet-rs or memcal
    /// (the reference runtime); `predictor backends` lists them. Default: what most
    /// people run for the file (bitnet.cpp for BitNet ternary GGUF, llama.cpp for other
    /// GGUF, memcal for SafeTensors).
    #[arg(long)]
    pub backend: Option<String>,
    /// Use this calibration table (JSON) instead of the embedded ones.
    #[arg(long, conflicts_with = "uncalibrated")]
    pub table: Option<PathBuf>,
    /// Use the pure analytic estimate, without calibration.
    #[arg(long)]
    pub uncalibrated: bool,
}

impl TableArgs {
    /// The backend asked for, or the default for this model.
    pub fn backend(&self, profile: &ModelProfile) -> anyhow::Result<Backend> {
        match &self.backend {
            Some(name) => Ok(name.parse()?),
            None => Ok(Backend::default_for(profile)),
        }
    }

    /// The tables asked for (none with --uncalibrated).
    pub fn load(&self) -> anyhow::Result<TableSet> {
        Ok(match (&self.table, self.uncalibrated) {
            (_, true) => TableSet::empty(),
            (Some(p), false) => TableSet::from_file(p)?,
            (None, false) => TableSet::embedded()?,
        })
    }
}

/// An estimate with what it was made for: what `predictor estimate` prints.
#[derive(Debug, Clone)]
pub struct Estimated {
    /// The model's profile.
    pub profile: ModelProfile,
    /// The engine.
    pub backend: Backend,
    /// The estimate.
    pub estimate: Estimate,
    /// Whether it is the pure analytic estimate (`--uncalibrated`).
    pub uncalibrated: bool,
}

impl Estimated {
    /// The `--json` answer.
    pub fn json(&self) -> EstimateJson<'_> {
        let est = &self.estimate;
        EstimateJson {
            backend: self.backend.name(),
            buffers: &est.buffers,
            model: render::ModelSummary::of(&self.profile),
            config: &est.config,
            gpu_layers: est.gpu_layers,
            components: render::ComponentsJson::of(est),
            host_bytes: est.host_bytes(),
            gpu_bytes: est.gpu_bytes(),
            requirements: MemoryRequirements::from_estimate(est),
            calibration: est.calibration.as_ref(),
            notes: &est.notes,
        }
    }

    /// The readable answer.
    pub fn text(&self) -> String {
        render::estimate_text(&self.profile, &self.estimate, self.uncalibrated)
    }
}

/// The estimate `predictor estimate` gives for these arguments.
pub fn estimate(a: &EstimateArgs) -> anyhow::Result<Estimated> {
    let (profile, defaults) = super::load_model_with_defaults(&a.model)?;
    let backend = a.tables.backend(&profile)?;
    let mut config_args = a.config.clone();
    let default_notes = defaults.apply(&mut config_args.ctx);
    let config = config_args.to_config(profile.shape.ctx_train)?;
    let mut estimate = if a.tables.uncalibrated {
        backend.analytic(&profile, &config)?
    } else {
        predictor::calibrate::calibrated_for(backend, &profile, &config, &a.tables.load()?)?
    };
    estimate.notes.extend(default_notes);
    Ok(Estimated {
        profile,
        backend,
        estimate,
        uncalibrated: a.tables.uncalibrated,
    })
}

/// Runs `predictor estimate`.
pub fn run(a: &EstimateArgs) -> anyhow::Result<()> {
    let e = estimate(a)?;
    if a.json {
        super::print_json(&e.json())
    } else {
        print!("{}", e.text());
        Ok(())
    }
}

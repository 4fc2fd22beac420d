//! `predictor estimate`.

use super::render;
use predictor::backend::Backend;
use predictor::compat::MemoryRequirements;
use predictor::table_set::TableSet;
use predictor_cli::cli_args::{ConfigArgs, ModelArgs};
use serde::Serialize;
use std::path::PathBuf;

/// Arguments of `predictor estimate`.
#[derive(Debug, clap::Args)]
pub struct EstimateArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    config: ConfigArgs,
    #[command(flatten)]
    tables: TableArgs,
    /// Print JSON: components (bytes), host_bytes, gpu_bytes, requirements, calibration.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct EstimateJson<'a> {
    backend: &'a str,
    model: render::ModelSummary<'a>,
    config: &'a predictor::RunConfig,
    gpu_layers: u32,
    components: render::ComponentsJson,
    host_bytes: u64,
    gpu_bytes: Option<u64>,
    requirements: MemoryRequirements,
    calibration: Option<&'a predictor::components::CalibrationInfo>,
    notes: &'a [String],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    buffers: &'a [predictor::record::EngineBuffer],
}

/// Which engine and calibration tables a command uses (shared by `estimate` and `plan`).
#[derive(Debug, clap::Args)]
pub(super) struct TableArgs {
    /// The engine that will run the model: llama.cpp, bitnet.cpp, bitnet-rs or memcal
    /// (the reference runtime); `predictor backends` lists them. Default: what most
    /// people run for the file (bitnet.cpp for BitNet ternary GGUF, llama.cpp for other
    /// GGUF, memcal for SafeTensors).
    #[arg(long)]
    pub(super) backend: Option<String>,
    /// Use this calibration table (JSON) instead of the embedded ones.
    #[arg(long, conflicts_with = "uncalibrated")]
    table: Option<PathBuf>,
    /// Use the pure analytic estimate, without calibration.
    #[arg(long)]
    pub(super) uncalibrated: bool,
}

impl TableArgs {
    /// The backend asked for, or the default for this model.
    pub(super) fn backend(&self, profile: &predictor::ModelProfile) -> anyhow::Result<Backend> {
        match &self.backend {
            Some(name) => Ok(name.parse()?),
            None => Ok(Backend::default_for(profile)),
        }
    }

    /// The tables asked for (none with --uncalibrated).
    pub(super) fn load(&self) -> anyhow::Result<TableSet> {
        Ok(match (&self.table, self.uncalibrated) {
            (_, true) => TableSet::empty(),
            (Some(p), false) => TableSet::from_file(p)?,
            (None, false) => TableSet::embedded()?,
        })
    }
}

/// Runs `predictor estimate`.
pub fn run(a: &EstimateArgs) -> anyhow::Result<()> {
    let profile = super::load_model(&a.model)?;
    let backend = a.tables.backend(&profile)?;
    let config = a.config.to_host_config(profile.ctx_train)?;
    let est = if a.tables.uncalibrated {
        backend.analytic(&profile, &config)?
    } else {
        predictor::estimate::calibrated_for(backend, &profile, &config, &a.tables.load()?)?
    };
    if a.json {
        super::print_json(&EstimateJson {
            backend: backend.name(),
            buffers: &est.buffers,
            model: render::ModelSummary::of(&profile),
            config: &est.config,
            gpu_layers: est.gpu_layers,
            components: render::ComponentsJson::of(&est),
            host_bytes: est.host_bytes(),
            gpu_bytes: est.gpu_bytes(),
            requirements: MemoryRequirements::from_estimate(&est),
            calibration: est.calibration.as_ref(),
            notes: &est.notes,
        })
    } else {
        print!(
            "{}",
            render::estimate_text(&profile, &est, a.tables.uncalibrated)
        );
        Ok(())
    }
}

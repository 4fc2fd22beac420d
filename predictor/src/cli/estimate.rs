//! `predictor estimate`.

use super::render;
use predictor::cli_args::{ConfigArgs, ModelArgs};
use predictor::compat::MemoryRequirements;
use predictor::table_set::TableSet;
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
    model: render::ModelSummary<'a>,
    config: &'a predictor::RunConfig,
    gpu_layers: u32,
    components: render::ComponentsJson,
    host_bytes: u64,
    gpu_bytes: Option<u64>,
    requirements: MemoryRequirements,
    calibration: Option<&'a predictor::components::CalibrationInfo>,
    notes: &'a [String],
}

/// Which calibration tables a command uses (shared by `estimate` and `plan`).
#[derive(Debug, clap::Args)]
pub(super) struct TableArgs {
    /// Use this calibration table (JSON) instead of the embedded ones.
    #[arg(long, conflicts_with = "uncalibrated")]
    table: Option<PathBuf>,
    /// Use the pure analytic estimate, without calibration.
    #[arg(long)]
    pub(super) uncalibrated: bool,
}

impl TableArgs {
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
    let config = a.config.to_config(profile.ctx_train)?;
    let est = if a.tables.uncalibrated {
        predictor::estimate::analytic(&profile, &config)?
    } else {
        predictor::estimate::calibrated(&profile, &config, &a.tables.load()?)?
    };
    if a.json {
        super::print_json(&EstimateJson {
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

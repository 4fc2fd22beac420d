//! The `predictor` command line.

mod backends;
mod estimate;
mod inspect;
mod plan;
mod presets;
mod render;

use clap::{Parser, Subcommand};
use predictor::profile::ModelProfile;
use predictor_cli::cli_args::ModelArgs;

/// Predicts the RAM and GPU memory an LLM will take (BitNet I2_S/TL1/TL2 and every ggml
/// type, GGUF and SafeTensors), per component, from the model file's header alone, with
/// calibration measured on real runs.
#[derive(Debug, Parser)]
#[command(name = "predictor", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read a model file's header: format, architecture, tensors and bytes by type.
    Inspect(inspect::InspectArgs),
    /// Predict memory per component for one run configuration.
    Estimate(estimate::EstimateArgs),
    /// Find what fits a memory budget: GPU layer split, largest context and batch.
    Plan(plan::PlanArgs),
    /// List the built-in model shapes usable with --preset.
    Presets(presets::PresetsArgs),
    /// List the engines memcal predicts, what each model covers and the engine versions
    /// its calibration tables were measured on.
    Backends(backends::BackendsArgs),
}

/// Parses the command line and runs the command.
pub fn run() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Inspect(a) => inspect::run(&a),
        Command::Estimate(a) => estimate::run(&a),
        Command::Plan(a) => plan::run(&a),
        Command::Presets(a) => presets::run(&a),
        Command::Backends(a) => backends::run(&a),
    }
}

/// The profile of a file or preset.
fn load_model(m: &ModelArgs) -> anyhow::Result<ModelProfile> {
    // The reader's errors name the file and what is wrong.
    match (&m.file, &m.preset) {
        (Some(path), _) => Ok(predictor::model::load_profile(path)?),
        (None, Some(name)) => Ok(predictor::presets::profile(name)?),
        (None, None) => anyhow::bail!("give a model file or --preset NAME"),
    }
}

/// Prints a value as pretty JSON on stdout.
fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

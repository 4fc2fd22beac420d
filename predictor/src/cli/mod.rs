//! The `predictor` command line, as a library: the `predictor` binary and the Python
//! package's `memcal` command both run [`main_from`], and the Python functions build the
//! same argument structures ([`estimate::EstimateArgs`], [`plan::PlanArgs`], ...) and call
//! the same functions ([`estimate::estimate`], [`plan::plan`], ...), so a Python answer is
//! the command's `--json` answer, serialized by the same serde code.

pub mod backends;
pub mod estimate;
pub mod inspect;
mod llama_spellings;
pub mod plan;
pub mod presets;
mod render;

use crate::cli_args::ModelArgs;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use predictor::profile::ModelProfile;
use std::ffi::OsString;

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

/// Runs one parsed command.
fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Inspect(a) => inspect::run(&a),
        Command::Estimate(a) => estimate::run(&a),
        Command::Plan(a) => plan::run(&a),
        Command::Presets(a) => presets::run(&a),
        Command::Backends(a) => backends::run(&a),
    }
}

/// Runs the command line `args` (the first item is the program) as the command `name`
/// (`predictor`, or `memcal` for the Python package's command: the name `--help` and
/// `--version` show) and returns the process exit status: 0 on success; clap's status (2)
/// after printing a usage error, 0 after `--help` or `--version`; 1 after printing
/// `error: ` and the error with its causes on stderr.
pub fn main_from<I, T>(name: &'static str, args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let parsed = Cli::command()
        .name(name)
        .bin_name(name)
        .try_get_matches_from(llama_spellings::rewrite(args))
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with status 0, usage errors to stderr with 2.
            let _ = e.print();
            return e.exit_code();
        }
    };
    match run(cli.command) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

/// The profile of a file, model reference or preset.
pub fn load_model(m: &ModelArgs) -> anyhow::Result<ModelProfile> {
    Ok(load_model_with_defaults(m)?.0)
}

/// The profile of a file, model reference or preset, with the run defaults a reference
/// gives (an Ollama model's `num_ctx`).
pub fn load_model_with_defaults(
    m: &ModelArgs,
) -> anyhow::Result<(ModelProfile, predictor::model_ref::RunDefaults)> {
    // The reader's errors name the file (or URL) and what is wrong.
    match (&m.file, &m.preset) {
        (Some(path), _) => Ok(predictor::model_ref::load_reference(
            path,
            m.remote.options(),
        )?),
        (None, Some(name)) => Ok((predictor::presets::profile(name)?, Default::default())),
        (None, None) => anyhow::bail!("give a model file or --preset NAME"),
    }
}

/// Prints a value as pretty JSON on stdout.
fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn usage_errors_and_help_return_clap_statuses() {
        assert_eq!(main_from("predictor", ["predictor", "--no-such-flag"]), 2);
        assert_eq!(main_from("memcal", ["memcal", "--version"]), 0);
        assert_eq!(
            main_from(
                "predictor",
                ["predictor", "estimate", "--preset", "no-such"]
            ),
            1
        );
    }
}

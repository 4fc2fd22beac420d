//! The `profiler` command: subcommands and dispatch.

#[cfg(feature = "runtime")]
pub mod child;
#[cfg(feature = "runtime")]
pub mod cuda_check;
pub mod exec;
#[cfg(feature = "runtime")]
pub mod generate;
pub mod options;
pub mod render;
pub mod reprofile;
#[cfg(feature = "runtime")]
pub mod run;
#[cfg(feature = "runtime")]
pub mod sweep;
#[cfg(feature = "runtime")]
pub mod synth;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Measures how much memory LLM inference really takes, in isolated child processes.
#[derive(Debug, Parser)]
#[command(name = "profiler", version, about, long_about = None)]
pub struct Cli {
    /// What to do (default: `sweep` of the default suite).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
// Parsed once per run: the size of the largest variant (exec's flags) costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    #[cfg(feature = "runtime")]
    /// Measure one configuration of the reference runtime in a fresh process.
    Run(run::RunArgs),
    #[cfg(feature = "runtime")]
    /// Measure a grid of configurations, appending records and resuming.
    Sweep(sweep::SweepArgs),
    /// Measure another engine's command (its whole process tree) the same way.
    Exec(exec::ExecArgs),
    /// Recompute the model profile stored in records from the model files (after the
    /// profile gained fields); measurements are left as they are.
    Reprofile(reprofile::ReprofileArgs),
    #[cfg(feature = "runtime")]
    /// Write a deterministic synthetic GGUF model.
    Synth(synth::SynthArgs),
    #[cfg(feature = "runtime")]
    /// Load a model and generate tokens with the reference runtime.
    Generate(generate::GenerateArgs),
    #[cfg(feature = "runtime")]
    /// Self-test candle on a CUDA device (context, kernels, cuBLAS, quantized matmuls
    /// against the CPU) and print the device memory each step adds.
    CudaCheck(cuda_check::CudaCheckArgs),
    #[cfg(feature = "runtime")]
    /// Internal: one measured run in a fresh process (started by the profiler itself).
    #[command(name = "__child", hide = true)]
    Child(child::ChildArgs),
}

/// Makes candle's and rayon's global pools follow `MEMCAL_THREADS` (the runtime's own pool
/// reads it directly), unless they were set explicitly. Called first in `main`, before any
/// thread exists.
pub fn threads_from_env() {
    if let Ok(n) = std::env::var("MEMCAL_THREADS") {
        if n.trim().parse::<usize>().is_ok_and(|n| n > 0) {
            for var in ["CANDLE_NUM_THREADS", "RAYON_NUM_THREADS"] {
                if std::env::var_os(var).is_none() {
                    std::env::set_var(var, n.trim());
                }
            }
        }
    }
}

/// Parses the command line, runs it, and turns an error into a message and exit code 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // No arguments: the default suite.
    #[cfg(feature = "runtime")]
    let cli = match cli.command {
        None => Cli::parse_from(["profiler", "sweep"]),
        Some(_) => cli,
    };
    match cli.command {
        #[cfg(feature = "runtime")]
        Some(Command::Run(args)) => status_exit(run::run(&args)),
        #[cfg(feature = "runtime")]
        Some(Command::Sweep(args)) => report(sweep::run(&args)),
        Some(Command::Exec(args)) => status_exit(exec::run(&args)),
        Some(Command::Reprofile(args)) => status_exit(reprofile::run(&args).map(|()| true)),
        #[cfg(feature = "runtime")]
        Some(Command::Child(args)) => ExitCode::from(child::run(&args).clamp(0, 255) as u8),
        #[cfg(feature = "runtime")]
        Some(Command::Synth(args)) => report(synth::run(&args)),
        #[cfg(feature = "runtime")]
        Some(Command::Generate(args)) => report(generate::run(&args)),
        #[cfg(feature = "runtime")]
        Some(Command::CudaCheck(args)) => report(cuda_check::run(&args)),
        None => {
            // Built without the runtime there is no default suite: say what there is.
            let _ = <Cli as clap::CommandFactory>::command().print_help();
            ExitCode::SUCCESS
        }
    }
}

/// Exit code of a measuring command: 0 when the measured run's status was ok, 2 when it
/// was oom or error (its record was still printed), 1 when the command itself failed.
fn status_exit(result: anyhow::Result<bool>) -> ExitCode {
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) => report(Err(e)),
    }
}

/// Prints an error with its causes and returns exit code 1; success is 0.
fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

//! `profiler run`: measure one configuration of the reference runtime in a fresh process.

use super::options::ChildLimits;
use super::render::record_summary;
use crate::measure::runner::{default_prompt, Job, ModelInfo, DEFAULT_DECODE};
use crate::measure::store::RecordStore;
use anyhow::Context;
use predictor::record::Status;
use predictor_cli::cli_args::ConfigArgs;
use std::path::PathBuf;

/// Arguments of `profiler run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Model file (GGUF).
    pub file: PathBuf,
    /// The configuration.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Print the record as one JSON line instead of a summary.
    #[arg(long)]
    pub json: bool,
    /// Also append the record to this JSON Lines file.
    #[arg(long, value_name = "FILE")]
    pub append: Option<PathBuf>,
    /// Limits of the measured child.
    #[command(flatten)]
    pub limits: ChildLimits,
}

/// Runs `profiler run`. Returns whether the run's status was ok (the record is printed
/// either way).
pub fn run(args: &RunArgs) -> anyhow::Result<bool> {
    let model = ModelInfo::read(&args.file)
        .with_context(|| format!("reading model {}", args.file.display()))?;
    let config = args.config.to_config(model.profile.shape.ctx_train)?;
    // The prompt (default: fill the context minus the decode steps; a shorter one still
    // reaches the full context, the positions before it counting as a cached prefix) and
    // the decode steps (default DEFAULT_DECODE for a run).
    let decode = args.config.decode.unwrap_or(DEFAULT_DECODE);
    anyhow::ensure!(
        decode < config.ctx,
        "--decode {decode} leaves no room for a prompt in a context of {}",
        config.ctx
    );
    let prompt = default_prompt(&config, config.prompt, decode);
    anyhow::ensure!(
        prompt >= 1 && prompt as u64 + decode as u64 <= config.ctx as u64,
        "--prompt {prompt} + --decode {decode} must fit the context {}",
        config.ctx
    );
    let job = Job {
        model: &model,
        config,
        prompt,
        decode,
    };
    let mut runner = args.limits.runner()?;
    let record = runner.measure(&job)?;
    if let Some(path) = &args.append {
        RecordStore::new(path)
            .append(&record)
            .with_context(|| format!("appending the record to {}", path.display()))?;
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&record).context("encoding the record")?
        );
    } else {
        print!("{}", record_summary(&record));
    }
    Ok(record.status == Status::Ok)
}

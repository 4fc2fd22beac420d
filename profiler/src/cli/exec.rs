//! `profiler exec`: measure another engine's command the same way (peak RSS of its whole
//! process tree, wait4 ru_maxrss, GPU memory), as a record tagged with the backend name.

use super::render::record_summary;
use crate::measure::exec::{exec, ExecReport, ExecSpec};
use crate::measure::machine;
use crate::measure::runner::{now_secs, ModelInfo};
use crate::measure::software;
use crate::measure::store::RecordStore;
use crate::measure::watch::WatchOptions;
use anyhow::Context;
use predictor::cli_args::{human_bytes, parse_size, ConfigArgs};
use predictor::record::{Predicted, Record, Software, Status, RECORD_SCHEMA_VERSION};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Arguments of `profiler exec`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExecArgs {
    /// The model the command runs: with it the result is a full record (profile, key,
    /// analytic estimate); without it, a measurement only.
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Backend name the record is tagged with (default: the program's file name).
    #[arg(long)]
    pub backend: Option<String>,
    /// The configuration the command was asked to run (for the record).
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Prompt tokens per sequence the command processes (for the record).
    #[arg(long, default_value_t = 0)]
    pub prompt: u32,
    /// Tokens the command generates (for the record).
    #[arg(long, default_value_t = 0)]
    pub decode: u32,
    /// Poll interval of the process tree in milliseconds.
    #[arg(long, default_value_t = 5)]
    pub poll_ms: u64,
    /// Kill the command after this many seconds (recorded as an error).
    #[arg(long)]
    pub timeout: Option<u64>,
    /// Kill the command when its tree's resident memory passes this size (recorded as oom).
    #[arg(long, value_name = "SIZE")]
    pub max_rss: Option<String>,
    /// Print one JSON line instead of a summary.
    #[arg(long)]
    pub json: bool,
    /// Also append the record to this JSON Lines file (needs --model).
    #[arg(long, value_name = "FILE")]
    pub append: Option<PathBuf>,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

fn backend_name(args: &ExecArgs) -> String {
    args.backend.clone().unwrap_or_else(|| {
        args.command
            .first()
            .and_then(|p| Path::new(p).file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "external".into())
    })
}

/// Runs `profiler exec`; returns whether the command's status was ok.
pub fn run(args: &ExecArgs) -> anyhow::Result<bool> {
    anyhow::ensure!(
        args.append.is_none() || args.model.is_some(),
        "--append needs --model: a record names the model it measured"
    );
    let model = match &args.model {
        Some(p) => {
            Some(ModelInfo::read(p).with_context(|| format!("reading model {}", p.display()))?)
        }
        None => None,
    };
    let ctx_train = model.as_ref().map_or(0, |m| m.profile.ctx_train);
    let config = args.config.to_config(ctx_train)?;
    let rss_limit = match &args.max_rss {
        Some(s) => Some(parse_size(s).with_context(|| format!("--max-rss {s}"))?),
        None => None,
    };
    let spec = ExecSpec {
        argv: args.command.clone(),
        gpu: match config.device {
            predictor::Device::Cuda(o) => Some(o),
            predictor::Device::Cpu => None,
        },
        watch: WatchOptions {
            poll: Duration::from_millis(args.poll_ms.max(1)),
            timeout: args.timeout.map(Duration::from_secs),
            rss_limit,
            tree: true,
        },
    };
    let outcome = exec(&spec).context("profiling the command")?;
    let (status, message) = outcome.classify();
    let backend = backend_name(args);
    let Some(model) = model else {
        let report = ExecReport {
            backend,
            command: args
                .command
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            status,
            message,
            measured: outcome.measured(),
            max_processes: outcome.watched.max_processes,
        };
        if args.json {
            println!("{}", serde_json::to_string(&report).context("encoding")?);
        } else {
            let m = &report.measured;
            println!(
                "{} {:?}: peak RSS {} (tree polled {}, wait4 ru_maxrss {}), up to {} processes, {:.0} ms{}",
                report.backend,
                report.status,
                human_bytes(m.peak_rss_bytes),
                human_bytes(outcome.watched.polled_peak_rss),
                human_bytes(m.rusage_maxrss_bytes),
                report.max_processes,
                m.wall_ms,
                report.message.map(|s| format!(": {s}")).unwrap_or_default()
            );
        }
        return Ok(status == Status::Ok);
    };
    let machine = machine::describe(outcome.gpu.as_ref().map(|g| g.info.clone()));
    let predicted = predictor::estimate::analytic(&model.profile, &config)
        .map(|e| Predicted {
            host: e.host,
            gpu: e.gpu,
        })
        .unwrap_or_default();
    let record = Record {
        schema: RECORD_SCHEMA_VERSION,
        key: Record::make_key(
            &backend,
            &model.file.hash,
            &config,
            args.prompt,
            args.decode,
        ),
        timestamp: now_secs(),
        backend,
        machine,
        software: Software {
            candle_version: String::new(),
            ..software::describe()
        },
        model: model.file.clone(),
        profile: model.profile.clone(),
        config,
        prompt_tokens: args.prompt,
        decode_tokens: args.decode,
        measured: outcome.measured(),
        predicted,
        status,
        message,
    };
    if let Some(path) = &args.append {
        RecordStore::new(path)
            .append(&record)
            .with_context(|| format!("appending the record to {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&record).context("encoding")?);
    } else {
        print!("{}", record_summary(&record));
    }
    Ok(record.status == Status::Ok)
}

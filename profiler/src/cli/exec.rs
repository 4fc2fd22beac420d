//! `profiler exec`: measure another engine's command the same way (peak RSS of its whole
//! process tree, wait4 ru_maxrss, GPU memory), as a record tagged with the backend name.

use super::render::record_summary;
use crate::engine::{command, engine_command, parse_log, prompt, EngineBinary};
use crate::measure::exec::{exec, ExecReport, ExecSpec};
use crate::measure::machine;
use crate::measure::runner::{now_secs, ModelInfo};
use crate::measure::software;
use crate::measure::store::RecordStore;
use crate::measure::watch::WatchOptions;
use anyhow::Context;
use predictor::backend::Backend;
use predictor::record::{Predicted, Record, Software, Status, RECORD_SCHEMA_VERSION};
use predictor_cli::cli_args::{human_bytes, parse_size, ConfigArgs};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Arguments of `profiler exec`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExecArgs {
    /// The model the command runs: with it the result is a full record (profile, key,
    /// the backend's analytic estimate); without it, a measurement only.
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// The engine that runs: llama.cpp, bitnet.cpp, bitnet-rs or memcal (`predictor
    /// backends`). With --model it defaults to what most people run for that file.
    #[arg(long)]
    pub backend: Option<String>,
    /// The engine's executable (llama.cpp's `llama-completion`, bitnet.cpp's `llama-cli`,
    /// BitNet-rs's `bitnet`): the profiler then builds the command from the configuration
    /// (`-c` = ctx x batch, `-np` = batch, `-ub`, KV types, flash attention, mmap,
    /// repack, prompt and decode), so the record says exactly what ran. Omit it and give
    /// the command after `--` to run your own.
    #[arg(long, value_name = "PATH", requires = "model")]
    pub engine: Option<PathBuf>,
    /// Threads the engine runs with (with --engine).
    #[arg(long, default_value_t = 2)]
    pub threads: u32,
    /// The configuration (and, with --engine, what the engine is asked to run).
    #[command(flatten)]
    pub config: ConfigArgs,
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
    /// With --append: skip the run when a record with the same key is already there
    /// with status ok (resumes a sweep).
    #[arg(long, requires = "append")]
    pub resume: bool,
    /// Keep the command's output (stdout and stderr) in this file.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// The command and its arguments, after `--` (not with --engine).
    #[arg(last = true, value_name = "CMD", conflicts_with = "engine")]
    pub command: Vec<OsString>,
}

fn program_name(command: &[OsString]) -> String {
    command
        .first()
        .and_then(|p| Path::new(p).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "external".into())
}

/// What a build script left beside the engine's `bin/` (`engine.json`): name, version,
/// flags and ISA, compacted to one line for the record.
fn engine_build(bin: &Path) -> (String, String) {
    let Some(dir) = bin.parent().and_then(Path::parent) else {
        return (String::new(), String::new());
    };
    let Ok(text) = std::fs::read_to_string(dir.join("engine.json")) else {
        return (String::new(), String::new());
    };
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) => {
            let version = v
                .get("version")
                .and_then(|x| x.as_str())
                .unwrap_or_default()
                .to_string();
            (version, v.to_string())
        }
        Err(_) => (String::new(), String::new()),
    }
}

/// The ISA and build number a llama.cpp build's `engine.json` records, as a configuration
/// carries them (so the analytic estimate stored beside the run is for that build).
fn engine_isa_and_build(bin: &Path) -> (Option<String>, Option<u32>) {
    let (_, build) = engine_build(bin);
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&build) else {
        return (None, None);
    };
    let isa = v
        .get("isa")
        .and_then(|x| x.as_str())
        .map(|s| predictor::backend::isa::Isa::from_build(s).name);
    let number = v
        .get("build_number")
        .and_then(|x| x.as_u64())
        .and_then(|n| u32::try_from(n).ok());
    (isa, number)
}

/// The default wall-clock limit of a run, seconds: a stuck engine must not hang a sweep.
pub const DEFAULT_TIMEOUT_S: u64 = 3600;

/// Runs `profiler exec`; returns whether the command's status was ok (a skipped,
/// already-recorded configuration counts as ok).
pub fn run(args: &ExecArgs) -> anyhow::Result<bool> {
    anyhow::ensure!(
        args.append.is_none() || args.model.is_some(),
        "--append needs --model: a record names the model it measured"
    );
    anyhow::ensure!(
        args.engine.is_some() || !args.command.is_empty(),
        "nothing to run: give --engine PATH (with --model) or the command after --"
    );
    let model = match &args.model {
        Some(p) => {
            Some(ModelInfo::read(p).with_context(|| format!("reading model {}", p.display()))?)
        }
        None => None,
    };
    let backend: Option<Backend> = match (&args.backend, &model) {
        (Some(name), _) => Some(name.parse().with_context(|| format!("--backend {name}"))?),
        (None, Some(m)) => Some(Backend::default_for(&m.profile)),
        (None, None) => None,
    };
    let ctx_train = model.as_ref().map_or(0, |m| m.profile.ctx_train);
    let mut config = args.config.to_config(ctx_train)?;
    let rss_limit = match &args.max_rss {
        Some(s) => Some(parse_size(s).with_context(|| format!("--max-rss {s}"))?),
        None => None,
    };
    if let (Some(bin), Some(Backend::LlamaCpp)) = (&args.engine, backend) {
        let (isa, build) = engine_isa_and_build(bin);
        config.isa = config.isa.take().or(isa);
        config.engine_build = config.engine_build.or(build);
    }
    // The command: built from the configuration for a known engine, or the user's own.
    let engine_bin = match (&args.engine, backend) {
        (Some(path), Some(b)) => Some(EngineBinary {
            backend: b,
            path: path.clone(),
            threads: args.threads,
        }),
        _ => None,
    };
    let argv = match (&engine_bin, &args.model) {
        (Some(bin), Some(model_path)) => {
            let word = prompt::prompt_word(model_path);
            let text = prompt::prompt_text(&word, config.prompt_tokens());
            engine_command(bin, model_path, &config, &text)
        }
        _ => args.command.clone(),
    };
    let backend_name = backend
        .map(|b| b.name().to_string())
        .unwrap_or_else(|| program_name(&argv));
    if let (true, Some(path), Some(m)) = (args.resume, &args.append, &model) {
        let key = Record::make_key(
            &backend_name,
            &m.file.hash,
            &config,
            config.prompt_tokens(),
            config.decode,
        );
        let done = RecordStore::new(path)
            .load()
            .with_context(|| format!("reading {}", path.display()))?
            .records
            .iter()
            .any(|r| r.status == Status::Ok && r.engine_key.as_deref() == Some(key.as_str()));
        if done {
            eprintln!("already recorded: {key}");
            return Ok(true);
        }
    }
    // The engine's output goes to a log the record is read from.
    let scratch = tempfile::tempdir().context("creating a scratch directory")?;
    let log_path = args
        .log
        .clone()
        .unwrap_or_else(|| scratch.path().join("engine.log"));
    let spec = ExecSpec {
        argv: argv.clone(),
        gpu: match config.device {
            predictor::Device::Cuda(o) => Some(o),
            predictor::Device::Cpu => None,
        },
        watch: WatchOptions {
            poll: Duration::from_millis(args.poll_ms.max(1)),
            timeout: Some(Duration::from_secs(
                args.timeout.unwrap_or(DEFAULT_TIMEOUT_S),
            )),
            rss_limit,
            tree: true,
        },
        log: Some(log_path.clone()),
        env: engine_bin
            .as_ref()
            .map(command::engine_env)
            .unwrap_or_default(),
    };
    let outcome = exec(&spec).context("profiling the command")?;
    let (status, message) = outcome.classify();
    let log_text = std::fs::read(&log_path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    if status != Status::Ok {
        let tail: Vec<&str> = log_text.lines().rev().take(15).collect();
        for l in tail.iter().rev() {
            eprintln!("  | {l}");
        }
    }
    let Some(model) = model else {
        let report = ExecReport {
            backend: backend_name,
            command: argv
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
    let requested_key = Record::make_key(
        &backend_name,
        &model.file.hash,
        &config,
        config.prompt_tokens(),
        config.decode,
    );
    // What the engine said it ran replaces what it was asked to run.
    let engine = backend.filter(|b| *b != Backend::Memcal).map(|b| {
        let mut run = parse_log(b.name(), &log_text);
        if let Some(bin) = &args.engine {
            let (version, build) = engine_build(bin);
            if run.version.is_empty() {
                run.version = version;
            }
            run.build = build;
        }
        run.argv = argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        run
    });
    if let Some(e) = &engine {
        if let Some(p) = e.prompt_tokens {
            config.prompt = Some(p.min(config.ctx));
        }
        if let Some(d) = e.decode_tokens {
            config.decode = d;
        }
    }
    let machine = machine::describe(outcome.gpu.as_ref().map(|g| g.info.clone()));
    let predicted = backend
        .unwrap_or(Backend::Memcal)
        .analytic(&model.profile, &config)
        .map(|e| Predicted {
            host: e.host,
            gpu: e.gpu,
        })
        .unwrap_or_default();
    let prompt_tokens = config.prompt_tokens();
    let record = Record {
        schema: RECORD_SCHEMA_VERSION,
        key: Record::make_key(
            &backend_name,
            &model.file.hash,
            &config,
            prompt_tokens,
            config.decode,
        ),
        timestamp: now_secs(),
        backend: backend_name,
        machine,
        software: Software {
            candle_version: String::new(),
            ..software::describe()
        },
        model: model.file.clone(),
        profile: model.profile.clone(),
        prompt_tokens,
        decode_tokens: config.decode,
        config,
        measured: outcome.measured(),
        predicted,
        status,
        message,
        engine,
        engine_key: Some(requested_key),
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

//! `profiler exec`: measure another engine's command the same way (peak RSS of its whole
//! process tree, wait4 ru_maxrss, GPU memory), as a record tagged with the backend name.
//!
//! Three shapes of run: one command-line process; a server driven with a workload
//! (`--serve`, `exec/serve.rs`); a model split over RPC workers (`--hosts`, `exec/split.rs`), where
//! the client (a command-line run or a server) and every worker are measured separately
//! and each gives a record of its own role.

mod serve;
mod split;

use super::render::record_summary;
use crate::engine::command::engine_command_rpc;
use crate::engine::{command, parse_log, prompt, EngineBinary};
use crate::measure::exec::{exec, ExecOutcome, ExecReport, ExecSpec};
use crate::measure::machine;
use crate::measure::runner::{now_secs, ModelInfo};
use crate::measure::software;
use crate::measure::store::RecordStore;
use crate::measure::watch::WatchOptions;
use anyhow::Context;
use predictor::backend::Backend;
use predictor::config::{Role, RunConfig};
use predictor::record::{Predicted, Record, Software, Status, Workload, RECORD_SCHEMA_VERSION};
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
    /// With --hosts: the RPC worker's executable (llama.cpp's `ggml-rpc-server`; default:
    /// the one beside --engine). One is started per worker machine, on a localhost port.
    #[arg(long, value_name = "PATH")]
    pub rpc_server: Option<PathBuf>,
    /// With --hosts: measure without the machines' budgets as memory limits (by default
    /// each process's tree gets its machine's budget as a cgroup limit, where the system
    /// allows).
    #[arg(long)]
    pub no_limits: bool,
    /// With --serve: seconds the server may take to load and answer its health check.
    #[arg(long, default_value_t = 600)]
    pub ready_timeout: u64,
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
fn engine_isa_and_build(bin: &Path) -> (Option<predictor::config::isa::IsaSpec>, Option<u32>) {
    let (_, build) = engine_build(bin);
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&build) else {
        return (None, None);
    };
    let isa = v.get("isa").and_then(|x| x.as_str()).map(|s| {
        let isa = predictor::config::isa::Isa::from_build(s);
        predictor::config::isa::IsaSpec {
            given: isa.name.clone(),
            isa,
        }
    });
    let number = v
        .get("build_number")
        .and_then(|x| x.as_u64())
        .and_then(|n| u32::try_from(n).ok());
    (isa, number)
}

/// The default wall-clock limit of a run, seconds: a stuck engine must not hang a sweep.
pub const DEFAULT_TIMEOUT_S: u64 = 3600;

/// What every record of one `profiler exec` shares: the model, the engine and how it
/// runs, the configuration asked for and the key it was asked under.
pub(crate) struct RunContext<'a> {
    pub args: &'a ExecArgs,
    pub model: ModelInfo,
    pub model_path: PathBuf,
    pub backend: Backend,
    pub bin: EngineBinary,
    pub config: RunConfig,
    pub rss_limit: Option<u64>,
    pub requested_key: String,
}

impl RunContext<'_> {
    /// Watch options for a process of this run.
    pub fn watch(&self) -> WatchOptions {
        WatchOptions {
            poll: Duration::from_millis(self.args.poll_ms.max(1)),
            timeout: Some(Duration::from_secs(
                self.args.timeout.unwrap_or(DEFAULT_TIMEOUT_S),
            )),
            rss_limit: self.rss_limit,
            tree: true,
        }
    }

    /// The spec of the engine's process (`argv`, logging to `log`, at most `memory_limit`).
    pub fn spec(&self, argv: Vec<OsString>, log: &Path, memory_limit: Option<u64>) -> ExecSpec {
        ExecSpec {
            argv,
            gpu: match self.config.device {
                predictor::Device::Cuda(o) => Some(o),
                // The GPU sampler reads CUDA only: a ROCm run is measured on the host.
                predictor::Device::Cpu | predictor::Device::Rocm(_) => None,
            },
            watch: self.watch(),
            log: Some(log.to_path_buf()),
            env: command::engine_env(&self.bin),
            memory_limit,
        }
    }
}

/// Reads an engine's log (empty when it cannot be read) and, for a failed run, shows its
/// last lines.
pub(crate) fn read_log(path: &Path, status: Status, what: &str) -> String {
    let text = std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    if status != Status::Ok {
        eprintln!("{what} ({}):", path.display());
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        for l in tail.iter().rev() {
            eprintln!("  | {l}");
        }
    }
    text
}

/// One process of the run, measured, ready to become a record.
pub(crate) struct ProcessRun<'a> {
    /// Which process it is.
    pub role: Role,
    /// The split device it is (an RPC worker's name).
    pub device_name: Option<String>,
    /// Its command line.
    pub argv: &'a [OsString],
    /// What was measured.
    pub outcome: &'a ExecOutcome,
    /// Its status (the caller's classification: a server's workload may have failed).
    pub status: Status,
    /// Why it failed.
    pub message: Option<String>,
    /// Its log.
    pub log_text: &'a str,
    /// The configuration as it really ran (prompt and decode as the engine reported).
    pub config: RunConfig,
    /// A server's workload.
    pub workload: Option<Workload>,
}

/// The analytic prediction of `config` for one process of the run: the host (the only
/// process, the server, or the split's client) or the split device `device_name`.
fn predicted_for(ctx: &RunContext, config: &RunConfig, device_name: Option<&str>) -> Predicted {
    let Ok(e) = ctx.backend.analytic(&ctx.model.profile, config) else {
        return Predicted::default();
    };
    match device_name {
        None => Predicted {
            host: e.host,
            gpu: e.gpu,
        },
        Some(name) => Predicted {
            host: e
                .devices
                .iter()
                .find(|d| d.name == name)
                .map(|d| d.memory)
                .unwrap_or_default(),
            gpu: None,
        },
    }
}

/// The record of one process.
pub(crate) fn build_record(ctx: &RunContext, p: ProcessRun) -> Record {
    let mut engine = parse_log(ctx.backend.name(), p.log_text);
    let (version, build) = engine_build(&ctx.bin.path);
    if engine.version.is_empty() {
        engine.version = version;
    }
    engine.build = build;
    engine.argv = p
        .argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let config = p.config;
    let prompt_tokens = config.prompt_tokens();
    let mut key = Record::make_key(
        ctx.backend.name(),
        &ctx.model.file.hash,
        &config,
        prompt_tokens,
        config.decode,
    );
    let mut engine_key = ctx.requested_key.clone();
    if !p.role.is_cli() {
        let suffix = match &p.device_name {
            Some(d) => format!("|{}:{d}", p.role),
            None => format!("|{}", p.role),
        };
        key.push_str(&suffix);
        engine_key.push_str(&suffix);
    }
    let mut record = Record {
        schema: RECORD_SCHEMA_VERSION,
        key,
        timestamp: now_secs(),
        backend: ctx.backend.name().to_string(),
        machine: machine::describe(p.outcome.gpu.as_ref().map(|g| g.info.clone())),
        software: Software {
            candle_version: String::new(),
            ..software::describe()
        },
        model: ctx.model.file.clone(),
        profile: ctx.model.profile.clone(),
        prompt_tokens,
        decode_tokens: config.decode,
        predicted: predicted_for(ctx, &config, p.device_name.as_deref()),
        config,
        measured: p.outcome.measured(),
        status: p.status,
        message: p.message,
        engine: Some(engine),
        engine_key: Some(engine_key),
        role: p.role,
        device_name: p.device_name,
        workload: p.workload,
    };
    // The model, the engine's executable and any path on its command line by their file
    // names: a record names no path of this machine.
    record.make_portable();
    record
}

/// Whether a record with `key` (as requested) and status ok is already in `path`.
fn already_recorded(path: &Path, key: &str) -> anyhow::Result<bool> {
    Ok(RecordStore::new(path)
        .load()
        .with_context(|| format!("reading {}", path.display()))?
        .records
        .iter()
        .any(|r| r.status == Status::Ok && r.engine_key.as_deref() == Some(key)))
}

/// Appends and prints the records of a run; returns whether all of them are ok.
fn emit(args: &ExecArgs, records: &[Record]) -> anyhow::Result<bool> {
    for record in records {
        if let Some(path) = &args.append {
            RecordStore::new(path)
                .append(record)
                .with_context(|| format!("appending the record to {}", path.display()))?;
        }
        if args.json {
            println!("{}", serde_json::to_string(record).context("encoding")?);
        } else {
            print!("{}", record_summary(record));
        }
    }
    Ok(records.iter().all(|r| r.status == Status::Ok))
}

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
    if let Some(p) = args
        .model
        .as_deref()
        .filter(|p| predictor::model_ref::is_reference(p))
    {
        anyhow::bail!(
            "--model {}: exec runs the engine on a file on disk and measures it; a model \
             reference (URL, hf://, ollama://) is read for its header only by `predictor \
             estimate`: download the model and give its path",
            p.display()
        );
    }
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
    let ctx_train = model.as_ref().map_or(0, |m| m.profile.shape.ctx_train);
    let mut config = args.config.to_config(ctx_train)?;
    // What the llama.cpp build is (its engine.json): the estimate stored is for it.
    if let (Some(bin), Some(Backend::LlamaCpp)) = (&args.engine, backend) {
        let (isa, build) = engine_isa_and_build(bin);
        config.isa = config.isa.take().or(isa);
        config.engine_build = config.engine_build.or(build);
    }
    let rss_limit = match &args.max_rss {
        Some(s) => Some(parse_size(s).with_context(|| format!("--max-rss {s}"))?),
        None => None,
    };
    let deployed = config.serve.is_some() || config.split.is_some();
    // The command: built from the configuration for a known engine, or the user's own.
    let (path, b, model, model_path) = match (&args.engine, backend, model, &args.model) {
        (Some(path), Some(b), Some(model), Some(model_path)) => (path, b, model, model_path),
        (_, _, model, _) => {
            anyhow::ensure!(
                !deployed,
                "--serve and --hosts need --engine (llama-server or llama-completion) and --model"
            );
            return run_command(args, config, rss_limit, backend, model);
        }
    };
    let requested_key = Record::make_key(
        b.name(),
        &model.file.hash,
        &config,
        config.prompt_tokens(),
        config.decode,
    );
    let ctx = RunContext {
        args,
        model,
        model_path: model_path.clone(),
        backend: b,
        bin: EngineBinary {
            backend: b,
            path: path.clone(),
            threads: args.threads,
        },
        config,
        rss_limit,
        requested_key,
    };
    if ctx.config.split.is_some() {
        anyhow::ensure!(
            b == Backend::LlamaCpp,
            "--hosts runs llama.cpp's RPC workers (--backend llama.cpp)"
        );
    } else if deployed {
        anyhow::ensure!(
            matches!(b, Backend::LlamaCpp | Backend::BitnetCpp),
            "--serve runs llama-server: llama.cpp's or bitnet.cpp's (--backend llama.cpp or \
             bitnet.cpp)"
        );
    }
    if let (true, Some(path)) = (args.resume, &args.append) {
        // A split run is done when its client's record is there.
        let mut key = ctx.requested_key.clone();
        if let Some(role) = deployed.then(|| Role::of_client(&ctx.config)) {
            key.push_str(&format!("|{role}"));
        }
        if already_recorded(path, &key)? {
            eprintln!("already recorded: {key}");
            return Ok(true);
        }
    }
    let records = if ctx.config.split.is_some() {
        split::run(&ctx)?
    } else if ctx.config.serve.is_some() {
        vec![serve::run(&ctx, &[])?.into_record(&ctx, Role::Server, None)]
    } else {
        vec![run_engine(&ctx, &[], None, Role::Cli)?]
    };
    emit(args, &records)
}

/// One command-line run of a known engine, built from the configuration, with the RPC
/// workers `rpc` of a split (none on one machine) and at most `memory_limit` bytes.
pub(crate) fn run_engine(
    ctx: &RunContext,
    rpc: &[String],
    memory_limit: Option<u64>,
    role: Role,
) -> anyhow::Result<Record> {
    let scratch = tempfile::tempdir().context("creating a scratch directory")?;
    let log_path = ctx
        .args
        .log
        .clone()
        .unwrap_or_else(|| scratch.path().join("engine.log"));
    let word = prompt::prompt_word(&ctx.model_path);
    let text = prompt::prompt_text(&word, ctx.config.prompt_tokens());
    let argv = engine_command_rpc(&ctx.bin, &ctx.model_path, &ctx.config, &text, rpc);
    let outcome =
        exec(&ctx.spec(argv.clone(), &log_path, memory_limit)).context("profiling the command")?;
    let (status, message) = outcome.classify();
    let log_text = read_log(&log_path, status, "the engine's log");
    let config = reported_config(ctx, &log_text);
    Ok(build_record(
        ctx,
        ProcessRun {
            role,
            device_name: None,
            argv: &argv,
            outcome: &outcome,
            status,
            message,
            log_text: &log_text,
            config,
            workload: None,
        },
    ))
}

/// The configuration with the prompt and decode lengths the engine's log reports (what it
/// really ran, which replaces what it was asked to run).
fn reported_config(ctx: &RunContext, log_text: &str) -> RunConfig {
    let mut config = ctx.config.clone();
    let e = parse_log(ctx.backend.name(), log_text);
    if let Some(p) = e.prompt_tokens {
        config.prompt = Some(p.min(config.ctx));
    }
    if let Some(d) = e.decode_tokens {
        config.decode = d;
    }
    config
}

/// A user's own command (after `--`), or an engine without a model: measured as a tree;
/// a record when the model is known, else a measurement only.
fn run_command(
    args: &ExecArgs,
    config: RunConfig,
    rss_limit: Option<u64>,
    backend: Option<Backend>,
    model: Option<ModelInfo>,
) -> anyhow::Result<bool> {
    let argv = args.command.clone();
    let backend_name = backend
        .map(|b| b.name().to_string())
        .unwrap_or_else(|| program_name(&argv));
    let scratch = tempfile::tempdir().context("creating a scratch directory")?;
    let log_path = args
        .log
        .clone()
        .unwrap_or_else(|| scratch.path().join("engine.log"));
    let spec = ExecSpec {
        argv: argv.clone(),
        gpu: match config.device {
            predictor::Device::Cuda(o) => Some(o),
            predictor::Device::Cpu | predictor::Device::Rocm(_) => None,
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
        env: Vec::new(),
        memory_limit: None,
    };
    let outcome = exec(&spec).context("profiling the command")?;
    let (status, message) = outcome.classify();
    let _ = read_log(&log_path, status, "the command's output");
    if let (Some(model), Some(b), Some(model_path)) = (model, backend, &args.model) {
        let requested_key = Record::make_key(
            b.name(),
            &model.file.hash,
            &config,
            config.prompt_tokens(),
            config.decode,
        );
        let ctx = RunContext {
            args,
            model,
            model_path: model_path.clone(),
            backend: b,
            bin: EngineBinary {
                backend: b,
                path: PathBuf::from(argv.first().cloned().unwrap_or_default()),
                threads: args.threads,
            },
            config: config.clone(),
            rss_limit,
            requested_key,
        };
        let log_text = read_log(&log_path, Status::Ok, "");
        let record = build_record(
            &ctx,
            ProcessRun {
                role: Role::Cli,
                device_name: None,
                argv: &argv,
                outcome: &outcome,
                status,
                message,
                log_text: &log_text,
                config: reported_config(&ctx, &log_text),
                workload: None,
            },
        );
        return emit(args, &[record]);
    }
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
    Ok(status == Status::Ok)
}

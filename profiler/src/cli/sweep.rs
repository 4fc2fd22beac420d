//! `profiler sweep`: measure a grid of configurations, appending records as they finish
//! and resuming where a previous sweep stopped.

use super::options::{default_data_dir, ChildLimits};
use crate::measure::gpu::GpuMonitor;
use crate::measure::machine;
use crate::measure::runner::ModelInfo;
use crate::measure::sweep::{sweep, SweepJob, SweepOptions};
use crate::suite::{self, suite_prompt, SUITES, SUITE_DECODE};
use anyhow::Context;
use predictor::{Device, KvDtype, RunConfig};
use predictor_cli::cli_args::{human_bytes, parse_size};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Arguments of `profiler sweep`.
#[derive(Debug, Clone, clap::Args)]
pub struct SweepArgs {
    /// Named grid of synthetic models (default, calibration-cpu, cuda-default); ignored
    /// when --model is given.
    #[arg(long, default_value = "default")]
    pub suite: String,
    /// Sweep these model files instead of a suite (repeatable), over the grid below.
    #[arg(long = "model", value_name = "FILE")]
    pub models: Vec<PathBuf>,
    /// Devices of the --model grid (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "cpu")]
    pub device: Vec<String>,
    /// Batch sizes of the --model grid.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub batch: Vec<u32>,
    /// Contexts of the --model grid.
    #[arg(long, value_delimiter = ',', default_value = "512")]
    pub ctx: Vec<u32>,
    /// Micro-batches of the --model grid.
    #[arg(long, value_delimiter = ',', default_value = "128")]
    pub ubatch: Vec<u32>,
    /// KV dtypes of the --model grid.
    #[arg(long = "kv-dtype", value_delimiter = ',', default_value = "f16")]
    pub kv_dtype: Vec<String>,
    /// Prompt tokens of the --model grid (default: two micro-batches or what fits).
    #[arg(long)]
    pub prompt: Option<u32>,
    /// Decode steps of the --model grid.
    #[arg(long, default_value_t = SUITE_DECODE)]
    pub decode: u32,
    /// Directory of the records (`<machine fingerprint>.jsonl`); default calibration/data.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where the suite's synthetic models are written (default target/memcal-models or
    /// $MEMCAL_MODEL_DIR).
    #[arg(long, value_name = "DIR")]
    pub models_dir: Option<PathBuf>,
    /// Largest predicted host memory of a configuration, e.g. 8G (default: half of the
    /// memory available at the start); larger configurations are refused.
    #[arg(long, value_name = "SIZE")]
    pub budget: Option<String>,
    /// Re-run configurations recorded with status error.
    #[arg(long)]
    pub retry_errors: bool,
    /// Print the grid and exit.
    #[arg(long)]
    pub list: bool,
    /// Write the suite's models, print their paths and exit (to run an engine on them).
    #[arg(long, conflicts_with = "list")]
    pub models_only: bool,
    /// Limits of each measured child.
    #[command(flatten)]
    pub limits: ChildLimits,
}

/// The devices present: the CPU, and CUDA device 0 when this build can run on it.
fn devices_present() -> Vec<Device> {
    let mut out = vec![Device::Cpu];
    match GpuMonitor::open(0).and_then(|m| m.info()) {
        Ok(info) if cfg!(feature = "cuda") => {
            eprintln!("CUDA: {} ({} MiB)", info.name, info.total_bytes >> 20);
            out.push(Device::Cuda(0));
        }
        Ok(info) => eprintln!(
            "CUDA: {} present, but this build has no `cuda` feature: CPU only",
            info.name
        ),
        Err(e) => eprintln!("CUDA: {e}"),
    }
    out
}

/// The models and jobs of the sweep.
fn plan(args: &SweepArgs) -> anyhow::Result<(Vec<PathBuf>, Vec<SweepJob>)> {
    if args.models.is_empty() {
        let s = suite::build(&args.suite, &devices_present())?;
        let dir = args
            .models_dir
            .clone()
            .unwrap_or_else(suite::default_models_dir);
        let paths = if args.list {
            s.models
                .iter()
                .map(|m| suite::model_path(&dir, m))
                .collect()
        } else {
            eprintln!("models: {} in {}", s.models.len(), dir.display());
            suite::ensure_models(&dir, &s.models)?
        };
        let jobs = s
            .points
            .into_iter()
            .map(|p| SweepJob {
                model: p.model,
                config: p.config,
                prompt: p.prompt,
                decode: p.decode,
            })
            .collect();
        return Ok((paths, jobs));
    }
    let mut jobs = Vec::new();
    for m in 0..args.models.len() {
        for d in &args.device {
            let device: Device = d.parse()?;
            for &batch in &args.batch {
                for &ctx in &args.ctx {
                    for &ubatch in &args.ubatch {
                        for kv in &args.kv_dtype {
                            let kv_dtype: KvDtype = kv.parse()?;
                            let config = RunConfig {
                                device,
                                batch,
                                ctx,
                                ubatch,
                                kv_dtype,
                                gpu_layers: None,
                                margin_pct: 5.0,
                                ..RunConfig::default()
                            };
                            config.validate()?;
                            let prompt = args
                                .prompt
                                .unwrap_or_else(|| suite_prompt(ctx, ubatch, args.decode));
                            anyhow::ensure!(
                                prompt >= 1 && prompt as u64 + args.decode as u64 <= ctx as u64,
                                "prompt {prompt} + decode {} does not fit the context {ctx}",
                                args.decode
                            );
                            jobs.push(SweepJob {
                                model: m,
                                config,
                                prompt,
                                decode: args.decode,
                            });
                        }
                    }
                }
            }
        }
    }
    Ok((args.models.clone(), jobs))
}

/// Runs `profiler sweep`.
pub fn run(args: &SweepArgs) -> anyhow::Result<()> {
    if args.models.is_empty() && !SUITES.iter().any(|s| s.0 == args.suite) {
        let names: Vec<&str> = SUITES.iter().map(|s| s.0).collect();
        anyhow::bail!(
            "unknown suite {:?} (known: {})",
            args.suite,
            names.join(", ")
        );
    }
    let (paths, jobs) = plan(args)?;
    if args.models_only {
        for p in &paths {
            println!("{}", p.display());
        }
        return Ok(());
    }
    if args.list {
        for j in &jobs {
            let c = &j.config;
            println!(
                "{} {} b{} c{} u{} kv {} p{} d{}",
                paths[j.model].display(),
                c.device,
                c.batch,
                c.ctx,
                c.ubatch,
                c.kv_dtype,
                j.prompt,
                j.decode
            );
        }
        return Ok(());
    }
    let models = paths
        .iter()
        .map(|p| ModelInfo::read(p).with_context(|| format!("reading model {}", p.display())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let budget = match &args.budget {
        Some(s) => parse_size(s).with_context(|| format!("--budget {s}"))?,
        None => machine::available_memory() / 2,
    };
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    let mut runner = args.limits.runner()?;
    eprintln!(
        "sweep: {} configurations of {} models, budget {}, records in {}/{}.jsonl",
        jobs.len(),
        models.len(),
        human_bytes(budget),
        data_dir.display(),
        runner.cpu_machine().fingerprint
    );
    let opts = SweepOptions {
        data_dir,
        budget,
        margin: 0.2,
        retry_errors: args.retry_errors,
        progress: std::io::stderr().is_terminal(),
    };
    let report = sweep(&mut runner, &models, &jobs, &opts)?;
    for r in &report.refused {
        eprintln!("refused {r}");
    }
    eprintln!(
        "sweep done in {:.1} s: {} planned, {} already recorded, {} measured ({} ok, {} oom, {} error), {} refused",
        report.wall.as_secs_f64(),
        report.planned,
        report.already,
        report.measured(),
        report.ok,
        report.oom,
        report.error,
        report.refused.len()
    );
    for f in &report.files {
        eprintln!("records: {}", f.display());
    }
    Ok(())
}

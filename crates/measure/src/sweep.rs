//! Sweeps: many configurations, one fresh child each, records appended as they finish.
//!
//! Records go to `<data dir>/<machine fingerprint>.jsonl` (CPU and GPU runs of one host
//! land in different files, as their fingerprints differ). A configuration already
//! recorded there (same key) is skipped, so a sweep that was killed resumes where it
//! stopped. A configuration whose analytic estimate exceeds the memory budget is refused
//! before it starts; a child that passes the budget anyway is killed by the watchdog and
//! recorded as `oom`. A crash, OOM or error of one child is a record, and the sweep goes on.

use super::error::MeasureError;
use super::runner::{is_settled, Job, ModelInfo, Runner};
use super::store::RecordStore;
use predictor::record::{Record, Status};
use predictor::units::human_bytes;
use predictor::RunConfig;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One configuration of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepJob {
    /// Index into the sweep's models.
    pub model: usize,
    /// Configuration.
    pub config: RunConfig,
    /// Prompt tokens per sequence.
    pub prompt: u32,
    /// Decode steps.
    pub decode: u32,
}

/// How to sweep.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// Directory of the `<fingerprint>.jsonl` files.
    pub data_dir: PathBuf,
    /// Host bytes a configuration may be predicted to use (analytic estimate, margin
    /// included); larger ones are refused.
    pub budget: u64,
    /// Extra fraction on top of the estimate when comparing with the budget.
    pub margin: f64,
    /// Re-run configurations recorded with status `error`.
    pub retry_errors: bool,
    /// Draw a progress bar (on a terminal).
    pub progress: bool,
}

/// What a sweep did.
#[derive(Debug, Clone, Default)]
pub struct SweepReport {
    /// Configurations in the grid.
    pub planned: usize,
    /// Skipped: already recorded.
    pub already: usize,
    /// Refused: predicted above the budget, or no device (one line each).
    pub refused: Vec<String>,
    /// Measured with status ok.
    pub ok: usize,
    /// Measured with status oom.
    pub oom: usize,
    /// Measured with status error.
    pub error: usize,
    /// Files written.
    pub files: Vec<PathBuf>,
    /// Wall time.
    pub wall: Duration,
}

impl SweepReport {
    /// Records written by this sweep.
    pub fn measured(&self) -> usize {
        self.ok + self.oom + self.error
    }
}

/// An open store with the outcome of every key already in it.
struct OpenStore {
    store: RecordStore,
    settled: HashMap<String, Status>,
}

fn open_store(path: &Path) -> Result<OpenStore, MeasureError> {
    let store = RecordStore::new(path);
    let loaded = store.load()?;
    for (line, why) in &loaded.skipped {
        eprintln!("{}:{line}: skipped: {why}", path.display());
    }
    let settled = loaded
        .latest_by_key()
        .into_iter()
        .map(|(k, r)| (k, r.status))
        .collect();
    Ok(OpenStore { store, settled })
}

/// One line about a record for the log.
pub fn summary_line(model: &str, r: &Record) -> String {
    let c = &r.config;
    let predicted = r.predicted.host.used();
    let status = match r.status {
        Status::Ok => "ok",
        Status::Oom => "OOM",
        Status::Error => "ERROR",
    };
    let mut line = format!(
        "{status:5} {model} {} b{} c{} u{} kv {}: peak {} (predicted {})",
        c.device,
        c.batch,
        c.ctx,
        c.ubatch,
        c.kv_dtype,
        human_bytes(r.measured.peak_rss_bytes),
        human_bytes(predicted),
    );
    if let Some(g) = r.measured.gpu_peak_used_bytes {
        line.push_str(&format!(", GPU peak {}", human_bytes(g)));
    }
    if r.status != Status::Ok {
        if let Some(m) = &r.message {
            let short: String = m.chars().take(200).collect();
            line.push_str(&format!(": {short}"));
        }
    }
    line
}

fn progress_bar(n: usize, enabled: bool) -> indicatif::ProgressBar {
    if !enabled {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(n as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30}] {pos}/{len} (eta {eta}) {msg}",
    ) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb
}

/// Why `job` must not run, if its analytic estimate (with the margin) exceeds the host
/// budget or the room on its GPU.
fn over_budget(job: &Job<'_>, runner: &Runner, opts: &SweepOptions) -> Option<String> {
    let p = job.predicted().ok()?;
    let with_margin = |b: u64| (b as f64 * (1.0 + opts.margin)) as u64;
    let host = with_margin(p.host.used());
    if host > opts.budget {
        return Some(format!(
            "predicted {} of host memory (with margin) exceeds the budget {}",
            human_bytes(host),
            human_bytes(opts.budget)
        ));
    }
    if let (Some(gpu), predictor::Device::Cuda(o)) = (p.gpu, job.config.device) {
        let need = with_margin(gpu.used());
        let room = runner.gpu_room(o)?;
        if need > room {
            return Some(format!(
                "predicted {} of GPU memory (with margin) exceeds the {} free on cuda:{o}",
                human_bytes(need),
                human_bytes(room)
            ));
        }
    }
    None
}

/// Runs `jobs` over `models`, appending each record as it completes.
pub fn sweep(
    runner: &mut Runner,
    models: &[ModelInfo],
    jobs: &[SweepJob],
    opts: &SweepOptions,
) -> Result<SweepReport, MeasureError> {
    let start = Instant::now();
    let mut report = SweepReport {
        planned: jobs.len(),
        ..SweepReport::default()
    };
    let mut stores: HashMap<PathBuf, OpenStore> = HashMap::new();
    let pb = progress_bar(jobs.len(), opts.progress);
    for sj in jobs {
        pb.inc(1);
        let model = models.get(sj.model).ok_or_else(|| {
            MeasureError::Invalid(format!(
                "sweep job names model {} of {}",
                sj.model,
                models.len()
            ))
        })?;
        let job = Job {
            model,
            config: sj.config.clone(),
            prompt: sj.prompt,
            decode: sj.decode,
        };
        let label = format!(
            "{} {} b{} c{} u{} kv {}",
            model.profile.name,
            job.config.device,
            job.config.batch,
            job.config.ctx,
            job.config.ubatch,
            job.config.kv_dtype
        );
        pb.set_message(label.clone());
        let machine = match runner.machine_for(&job.config) {
            Ok(m) => m,
            Err(e) => {
                report.refused.push(format!("{label}: {e}"));
                continue;
            }
        };
        let path = opts.data_dir.join(format!("{}.jsonl", machine.fingerprint));
        if !stores.contains_key(&path) {
            stores.insert(path.clone(), open_store(&path)?);
        }
        let Some(open) = stores.get_mut(&path) else {
            continue;
        };
        let key = job.key();
        if open
            .settled
            .get(&key)
            .is_some_and(|&s| is_settled(s, opts.retry_errors))
        {
            report.already += 1;
            continue;
        }
        if let Some(why) = over_budget(&job, runner, opts) {
            report.refused.push(format!("{label}: {why}"));
            continue;
        }
        let record = runner.measure(&job)?;
        open.store.append(&record)?;
        open.settled.insert(key, record.status);
        if !report.files.contains(&path) {
            report.files.push(path.clone());
        }
        match record.status {
            Status::Ok => report.ok += 1,
            Status::Oom => report.oom += 1,
            Status::Error => report.error += 1,
        }
        let line = summary_line(&model.profile.name, &record);
        if pb.is_hidden() {
            eprintln!("{line}");
        } else {
            pb.println(line);
        }
    }
    pb.finish_and_clear();
    report.wall = start.elapsed();
    Ok(report)
}

//! Runs one measurement in a fresh child process and collects what it reported.
//!
//! The parent re-executes the profiler binary as `profiler __child '<spec>'`, reads the
//! phase events from the child's stdout as they come (so a crash keeps the phases already
//! measured), watches it (memory guard, timeout), reaps it with `wait4` for `ru_maxrss`,
//! and on CUDA samples device memory from its own context during the run. The outcome is
//! then classified: ok, oom (allocation failure, SIGKILL, CUDA OOM, the profiler's memory
//! guard) or error.

use super::error::MeasureError;
use super::gpu::GpuMonitor;
use super::protocol::{looks_like_oom, ChildEvent, ChildSpec, CHILD_SUBCOMMAND};
use super::wait;
use super::watch::{watch, KillReason, WatchOptions, Watched};
use predictor::record::{Measured, PhaseMeasure, Status};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How to start and guard the child.
#[derive(Debug, Clone)]
pub struct IsolateOptions {
    /// The profiler binary to re-execute (normally `std::env::current_exe()`).
    pub exe: PathBuf,
    /// Polling, timeout and memory guard.
    pub watch: WatchOptions,
    /// `RLIMIT_AS` for the child, in bytes (allocation failures then become `oom`).
    pub address_limit: Option<u64>,
    /// Extra environment for the child (e.g. `MEMCAL_THREADS`).
    pub env: Vec<(String, String)>,
}

impl IsolateOptions {
    /// Options for re-executing the running binary with no limits.
    pub fn for_current_exe() -> Result<IsolateOptions, MeasureError> {
        let exe = std::env::current_exe().map_err(|source| MeasureError::Process {
            what: "finding the profiler binary to re-execute".into(),
            source,
        })?;
        Ok(IsolateOptions {
            exe,
            watch: WatchOptions::default(),
            address_limit: None,
            env: Vec::new(),
        })
    }
}

/// Lines of the child's stderr kept for error messages.
const STDERR_TAIL_LINES: usize = 40;

/// What the child reported and how it ended.
#[derive(Debug, Clone)]
pub struct ChildRun {
    /// Phases in the order the child measured them.
    pub phases: Vec<PhaseMeasure>,
    /// Whether every VmHWM reset the child tried succeeded.
    pub peak_reset: bool,
    /// The child's `done` event, when it finished.
    pub done: Option<ChildEvent>,
    /// The child's own failure report: (message, recognised as OOM).
    pub failure: Option<(String, bool)>,
    /// Exit, polled peak, kill reason, wall time.
    pub watched: Watched,
    /// The last lines the child wrote on stderr.
    pub stderr_tail: String,
    /// Lines that looked like protocol lines but did not parse.
    pub protocol_errors: Vec<String>,
    /// Device memory used before the child (with the parent's context), on CUDA.
    pub gpu_baseline_used: Option<u64>,
    /// Peak device memory the parent's sampler saw during the child, baseline subtracted.
    pub gpu_parent_peak_used: Option<u64>,
}

fn stderr_tail(reader: impl Read) -> String {
    let mut tail: VecDeque<String> = VecDeque::new();
    for line in BufReader::new(reader).lines() {
        let Ok(line) = line else { break };
        if tail.len() == STDERR_TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    Vec::from(tail).join("\n")
}

/// Runs `spec` in a child process. `gpu` is the parent's monitor of the run's device on
/// CUDA (None on CPU or without a device). Errors are the parent's own failures (cannot
/// start the child, cannot wait); whatever happens inside the child is in the result.
pub fn run_child(
    spec: &ChildSpec,
    opts: &IsolateOptions,
    gpu: Option<&GpuMonitor>,
) -> Result<ChildRun, MeasureError> {
    let gpu_baseline_used = match gpu {
        Some(m) => m.mem_info().ok().map(|i| i.used()),
        None => None,
    };
    let mut spec = spec.clone();
    spec.gpu_baseline_used = gpu_baseline_used;
    let json = serde_json::to_string(&spec).map_err(|source| MeasureError::Json {
        what: "encoding the child spec".into(),
        source,
    })?;
    let mut cmd = Command::new(&opts.exe);
    cmd.arg(CHILD_SUBCOMMAND)
        .arg(json)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in &opts.env {
        cmd.env(k, v);
    }
    if let Some(limit) = opts.address_limit {
        wait::limit_address_space(&mut cmd, limit);
    }
    let mut child = cmd.spawn().map_err(|source| MeasureError::Process {
        what: format!("starting {}", opts.exe.display()),
        source,
    })?;
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take();
    let out_thread = std::thread::spawn(move || {
        let Some(stdout) = stdout else { return };
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            match ChildEvent::from_line(&line) {
                Some(ev) => {
                    if tx.send(ev).is_err() {
                        break;
                    }
                }
                None => eprintln!("[child {pid}] {line}"),
            }
        }
    });
    let stderr = child.stderr.take();
    let err_thread = std::thread::spawn(move || stderr.map(stderr_tail).unwrap_or_default());

    let sampler = gpu.map(|m| m.sampler(Duration::from_millis(2)));
    let watched = watch(pid, &opts.watch, || {})?;
    let gpu_peak = sampler.map(|s| s.stop());
    // The pipes close when the child is gone (it starts no processes of its own).
    let _ = out_thread.join();
    let stderr_tail = err_thread.join().unwrap_or_default();

    let mut run = ChildRun {
        phases: Vec::new(),
        peak_reset: true,
        done: None,
        failure: None,
        watched,
        stderr_tail,
        protocol_errors: Vec::new(),
        gpu_baseline_used,
        gpu_parent_peak_used: match (gpu_peak, gpu_baseline_used) {
            (Some(p), Some(b)) => Some(p.saturating_sub(b)),
            _ => None,
        },
    };
    for ev in rx.try_iter() {
        match ev {
            Ok(ChildEvent::Phase { phase, peak_reset }) => {
                run.peak_reset &= peak_reset;
                run.phases.push(phase);
            }
            Ok(ev @ ChildEvent::Done { .. }) => run.done = Some(ev),
            Ok(ChildEvent::Failed { message, oom }) => run.failure = Some((message, oom)),
            Err(e) => run.protocol_errors.push(e),
        }
    }
    Ok(run)
}

impl ChildRun {
    /// The outcome: ok, oom or error, with a message for the latter two.
    pub fn classify(&self) -> (Status, Option<String>) {
        let exit = &self.watched.exit;
        let tail = self.stderr_tail.trim();
        let with_tail = |m: String| {
            if tail.is_empty() {
                m
            } else {
                format!("{m}; stderr: {tail}")
            }
        };
        match self.watched.killed {
            Some(k @ KillReason::RssLimit { .. }) => return (Status::Oom, Some(k.describe())),
            Some(k @ KillReason::Timeout(_)) => return (Status::Error, Some(k.describe())),
            None => {}
        }
        if let Some((message, oom)) = &self.failure {
            let oom = *oom || looks_like_oom(message);
            let status = if oom { Status::Oom } else { Status::Error };
            return (status, Some(message.clone()));
        }
        if exit.success() && self.done.is_some() {
            if !self.protocol_errors.is_empty() {
                let m = format!(
                    "unreadable child events: {}",
                    self.protocol_errors.join("; ")
                );
                return (Status::Error, Some(m));
            }
            let note = (!self.peak_reset).then(|| {
                "VmHWM could not be reset: phase peaks count from the process start".to_string()
            });
            return (Status::Ok, note);
        }
        if exit.signal == Some(libc::SIGKILL) {
            let m = "killed by SIGKILL (the kernel's OOM killer or a cgroup memory limit)";
            return (Status::Oom, Some(with_tail(m.into())));
        }
        let m = with_tail(format!("child {} before finishing", exit.describe()));
        if looks_like_oom(tail) {
            (Status::Oom, Some(m))
        } else {
            (Status::Error, Some(m))
        }
    }

    /// The measured figures. `sys_available` is sysinfo's available memory before the run.
    pub fn measured(&self, sys_available: u64) -> Measured {
        let phase_peak = self.phases.iter().map(|p| p.peak_rss_bytes).max();
        let exit = &self.watched.exit;
        // After VmHWM resets, ru_maxrss covers the last phase only (the kernel reports the
        // same high-water mark); the whole-run peak is the largest of the phase peaks, of
        // ru_maxrss (the peak of the phase a crashed child died in) and of the polls.
        let peak = phase_peak
            .unwrap_or(0)
            .max(exit.maxrss_bytes)
            .max(self.watched.polled_peak_rss);
        let baseline = self
            .phases
            .iter()
            .find(|p| p.name == "baseline")
            .map(|p| p.rss_bytes)
            .unwrap_or(0);
        let (wall_ms, tps, child_gpu_peak) = match &self.done {
            Some(ChildEvent::Done {
                wall_ms,
                decode_tokens_per_s,
                gpu_peak_used_bytes,
                ..
            }) => (*wall_ms, *decode_tokens_per_s, *gpu_peak_used_bytes),
            _ => (self.watched.wall.as_secs_f64() * 1000.0, None, None),
        };
        let phase_gpu_peak = self
            .phases
            .iter()
            .filter_map(|p| p.gpu_peak_used_bytes)
            .max();
        let gpu_peak = [self.gpu_parent_peak_used, child_gpu_peak, phase_gpu_peak]
            .into_iter()
            .flatten()
            .max();
        Measured {
            baseline_rss_bytes: baseline,
            peak_rss_bytes: peak,
            rusage_maxrss_bytes: exit.maxrss_bytes,
            phases: self.phases.clone(),
            gpu_baseline_used_bytes: self.gpu_baseline_used,
            gpu_peak_used_bytes: gpu_peak,
            sys_available_bytes: sys_available,
            wall_ms,
            decode_tokens_per_s: tps,
        }
    }
}

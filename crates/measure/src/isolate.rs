//! Runs one measurement in a fresh child process and collects what it reported.
//!
//! The parent re-executes the profiler binary as `profiler __child '<spec>'`, reads the
//! phase events from the child's stdout as they come (so a crash keeps the phases already
//! measured), watches it (memory guard, timeout), reaps it with `wait4` for `ru_maxrss`,
//! and on CUDA samples device memory from its own context during the run. The outcome is
//! then classified: ok, oom (the child's typed report of a refused allocation or a CUDA
//! out-of-memory, SIGKILL, the profiler's memory guard) or error; never from message text.

use super::error::MeasureError;
use super::gpu::GpuMonitor;
use super::procfs;
use super::protocol::{ChildEvent, ChildSpec, CHILD_SUBCOMMAND};
use super::wait;
use super::watch::{watch, KillReason, WatchOptions, Watched};
use predictor::record::{Measured, PhaseMeasure, Status};
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
    /// Options for re-executing the running binary with no limits. The child is started
    /// through `/proc/self/exe`, which names this very binary even after a rebuild has
    /// replaced the file on disk, so a long sweep measures one version throughout.
    pub fn for_current_exe() -> Result<IsolateOptions, MeasureError> {
        let proc_exe = PathBuf::from("/proc/self/exe");
        let exe = if proc_exe.exists() {
            proc_exe
        } else {
            std::env::current_exe().map_err(|source| MeasureError::Process {
                what: "finding the profiler binary to re-execute".into(),
                source,
            })?
        };
        Ok(IsolateOptions {
            exe,
            watch: WatchOptions::default(),
            address_limit: None,
            env: Vec::new(),
        })
    }
}

/// Lines of the child's stderr kept from its start (where a panic or allocation failure
/// prints its message, before any backtrace).
const STDERR_HEAD_LINES: usize = 8;

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
    /// The child's stderr as kept for messages: its first lines (backtraces left out) and
    /// the first line reporting an out-of-memory condition.
    pub stderr_tail: String,
    /// Lines that looked like protocol lines but did not parse.
    pub protocol_errors: Vec<String>,
    /// Device memory used before the child (with the parent's context), on CUDA.
    pub gpu_baseline_used: Option<u64>,
    /// Peak device memory the parent's sampler saw during the child, baseline subtracted.
    pub gpu_parent_peak_used: Option<u64>,
    /// The parent's `VmHWM` when it spawned the child: the floor of the child's
    /// `ru_maxrss` (see [`spawn_noting_parent_peak`]).
    pub parent_hwm: u64,
}

/// What of the child's stderr goes into a message: its first lines. Backtraces
/// (RUST_BACKTRACE) are left out: they follow the message and say nothing about memory.
fn stderr_summary(reader: impl Read) -> String {
    let mut head = Vec::new();
    let mut in_backtrace = false;
    for line in BufReader::new(reader).lines() {
        let Ok(line) = line else { break };
        let t = line.trim_start();
        if t.starts_with("stack backtrace:") {
            in_backtrace = true;
        } else if in_backtrace {
            // Frames ("  3: name"), their locations ("at file:line") and the closing note.
            let frame = t.starts_with(|c: char| c.is_ascii_digit())
                || t.starts_with("at ")
                || t.starts_with("note:");
            in_backtrace = frame;
        }
        if !in_backtrace && !t.is_empty() && head.len() < STDERR_HEAD_LINES {
            head.push(line);
        }
    }
    head.join("\n")
}

/// Spawns `cmd` and returns it with this process's `VmHWM` at the spawn, reset just
/// before. The kernel folds the spawning process's memory image into the child's
/// `ru_maxrss` (at exec it records the high-water mark of the image being replaced: a
/// copy of ours after fork, ours itself after vfork), so a child's `ru_maxrss` is never
/// below this figure and only informative above it. `/usr/bin/time` has the same floor
/// (its own small RSS).
pub fn spawn_noting_parent_peak(
    cmd: &mut Command,
    what: &str,
) -> Result<(std::process::Child, u64), MeasureError> {
    // Where the kernel refuses the reset, the floor is our whole-life peak.
    let _ = procfs::reset_peak();
    let child = cmd.spawn().map_err(|source| MeasureError::Process {
        what: format!("starting {what}"),
        source,
    })?;
    let hwm = procfs::read_self().map(|s| s.vm_hwm).unwrap_or(u64::MAX);
    Ok((child, hwm))
}

/// `ru_maxrss` when it says more than the spawning process's own image (see
/// [`spawn_noting_parent_peak`]), else 0.
pub fn informative_maxrss(maxrss: u64, parent_hwm: u64) -> u64 {
    if maxrss > parent_hwm {
        maxrss
    } else {
        0
    }
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
    wait::die_with_parent(&mut cmd);
    if let Some(limit) = opts.address_limit {
        wait::limit_address_space(&mut cmd, limit);
    }
    let (mut child, parent_hwm) =
        spawn_noting_parent_peak(&mut cmd, &opts.exe.display().to_string())?;
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
    let err_thread = std::thread::spawn(move || stderr.map(stderr_summary).unwrap_or_default());

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
        parent_hwm,
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
            // The child says whether memory ran out, from its error's type or from its
            // allocator's refusal (reported before Rust aborts).
            let status = if *oom { Status::Oom } else { Status::Error };
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
        (Status::Error, Some(m))
    }

    /// The measured figures. `sys_available` is sysinfo's available memory before the run.
    pub fn measured(&self, sys_available: u64) -> Measured {
        let phase_peak = self.phases.iter().map(|p| p.peak_rss_bytes).max();
        let exit = &self.watched.exit;
        // After VmHWM resets, ru_maxrss covers the last phase only (the kernel reports the
        // same high-water mark) and is floored by the parent's image; the whole-run peak
        // is the largest of the phase peaks, of an informative ru_maxrss (the peak of the
        // phase a crashed child died in) and of the polls.
        let peak = phase_peak
            .unwrap_or(0)
            .max(informative_maxrss(exit.maxrss_bytes, self.parent_hwm))
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
            cgroup_peak_bytes: None,
            sys_available_bytes: sys_available,
            wall_ms,
            decode_tokens_per_s: tps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wait::ExitInfo;

    fn run_with(exit: ExitInfo, failure: Option<(String, bool)>, stderr: &str) -> ChildRun {
        ChildRun {
            phases: vec![PhaseMeasure {
                name: "load".into(),
                peak_rss_bytes: 10 << 20,
                ..Default::default()
            }],
            peak_reset: true,
            done: None,
            failure,
            watched: Watched {
                exit,
                polled_peak_rss: 12 << 20,
                max_processes: 1,
                killed: None,
                wall: Duration::from_millis(5),
            },
            stderr_tail: stderr.into(),
            protocol_errors: vec![],
            gpu_baseline_used: None,
            gpu_parent_peak_used: None,
            parent_hwm: 20 << 20,
        }
    }

    fn exit(code: Option<i32>, signal: Option<i32>) -> ExitInfo {
        ExitInfo {
            code,
            signal,
            maxrss_bytes: 30 << 20,
            user_ms: 0,
            sys_ms: 0,
        }
    }

    #[test]
    fn oom_comes_from_signals_and_typed_child_reports_never_from_text() {
        let killed = run_with(exit(None, Some(libc::SIGKILL)), None, "");
        assert_eq!(killed.classify().0, Status::Oom);
        // The child's allocator reported the refusal before Rust aborted.
        let refused = run_with(
            exit(None, Some(libc::SIGABRT)),
            Some(("memory allocation of 1073741824 bytes failed".into(), true)),
            "",
        );
        assert_eq!(
            refused.classify(),
            (
                Status::Oom,
                Some("memory allocation of 1073741824 bytes failed".into())
            )
        );
        // Text that mentions memory does not make an OOM: only the child's typed flag does.
        let stderr = "memory allocation of 1073741824 bytes failed\nstack backtrace:\n   0: \
                      std::alloc::rust_oom\n             at /rustc/x/alloc.rs:1\n";
        let aborted = run_with(
            exit(None, Some(libc::SIGABRT)),
            None,
            &stderr_summary(stderr.as_bytes()),
        );
        let (status, msg) = aborted.classify();
        assert_eq!(status, Status::Error);
        assert_eq!(
            msg.as_deref(),
            Some("child killed by SIGABRT before finishing; stderr: memory allocation of 1073741824 bytes failed")
        );
        let cuda_text = run_with(
            exit(Some(2), None),
            Some((
                "DriverError(CUDA_ERROR_OUT_OF_MEMORY, \"out of memory\")".into(),
                false,
            )),
            "",
        );
        assert_eq!(cuda_text.classify().0, Status::Error);
        let cuda_typed = run_with(exit(Some(2), None), Some(("device full".into(), true)), "");
        assert_eq!(cuda_typed.classify().0, Status::Oom);
        let segv = run_with(exit(None, Some(libc::SIGSEGV)), None, "");
        assert_eq!(segv.classify().0, Status::Error);
        let failed = run_with(
            exit(Some(2), None),
            Some(("no such tensor".into(), false)),
            "",
        );
        assert_eq!(
            failed.classify(),
            (Status::Error, Some("no such tensor".into()))
        );
    }

    #[test]
    fn the_peak_of_a_crashed_run_uses_polls_and_an_informative_maxrss() {
        let r = run_with(exit(None, Some(libc::SIGKILL)), None, "");
        // ru_maxrss (30 MiB) is above the parent's image (20 MiB): informative.
        assert_eq!(r.measured(0).peak_rss_bytes, 30 << 20);
        let mut low = r.clone();
        low.parent_hwm = 40 << 20;
        // Below the parent's image it says nothing; the poll (12 MiB) wins over the phase.
        assert_eq!(low.measured(0).peak_rss_bytes, 12 << 20);
    }
}

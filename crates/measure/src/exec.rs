//! Profiling any other engine (llama.cpp, a Python server): run its command, poll the
//! resident memory of its whole process tree, reap it with `wait4` for the direct child's
//! `ru_maxrss`, and on CUDA sample device memory from the profiler's own context.
//!
//! The tree's peak is the largest sum of `VmRSS` over the command and its descendants seen
//! at one poll (every `poll` interval, default 5 ms); `ru_maxrss` of the direct child (the
//! largest of it and the descendants it waited for, not their sum) is exact for a single
//! process and is what `/usr/bin/time -v` prints, but never below the profiler's own image
//! at the spawn (see [`super::isolate::spawn_noting_parent_peak`]). The recorded peak is
//! the larger of the polled peak and an informative `ru_maxrss`. Processes that daemonise
//! (leave the tree) are not followed.

use super::cgroup::TreeCgroup;
use super::error::MeasureError;
use super::gpu::{GpuBaseline, GpuMonitor};
use super::isolate::{informative_maxrss, spawn_noting_parent_peak};
use super::machine;
use super::wait;
use super::watch::{watch, KillReason, WatchOptions, Watched};
use predictor::record::{Measured, PhaseMeasure, Status};
use serde::Serialize;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The command to profile and how.
#[derive(Debug, Clone)]
pub struct ExecSpec {
    /// Program and arguments.
    pub argv: Vec<OsString>,
    /// CUDA device to sample, if any.
    pub gpu: Option<u32>,
    /// Polling, timeout and memory guard (`tree` is forced on).
    pub watch: WatchOptions,
    /// Where the command's stdout and stderr go (None: stdout to our stderr, stderr
    /// inherited), so an engine's own memory report can be read afterwards.
    pub log: Option<std::path::PathBuf>,
    /// Extra environment variables for the command.
    pub env: Vec<(String, String)>,
    /// A memory limit for the command's tree, enforced by the kernel through its cgroup
    /// (`memory.max` / `memory.limit_in_bytes`) where one can be created: a machine's
    /// budget when several "machines" share this one. Ignored where no cgroup can be made.
    pub memory_limit: Option<u64>,
}

/// What profiling a command found.
#[derive(Debug, Clone)]
pub struct ExecOutcome {
    /// Exit, polled tree peak, kill reason, wall time.
    pub watched: Watched,
    /// The device and what was in use before the command, on CUDA.
    pub gpu: Option<GpuBaseline>,
    /// Device memory used before the command (with the profiler's context).
    pub gpu_baseline_used: Option<u64>,
    /// Peak device memory the sampler saw, baseline subtracted.
    pub gpu_peak_used: Option<u64>,
    /// System memory available before the command.
    pub sys_available: u64,
    /// The profiler's `VmHWM` at the spawn: the floor of the command's `ru_maxrss`.
    pub parent_hwm: u64,
    /// The tree's peak from its own cgroup, where one could be created
    /// ([`crate::cgroup::TreeCgroup`]).
    pub cgroup_peak: Option<u64>,
    /// Whether the cgroup's memory limit was set (see [`ExecSpec::memory_limit`]).
    pub memory_limited: bool,
    /// Set when the profiler itself asked the command to stop (a server after its
    /// workload, an RPC worker after its client), before it exited: its exit status then
    /// says nothing about the run.
    pub stopped_by_profiler: bool,
}

/// A measurement of a command without a model (no record can be made without a profile).
#[derive(Debug, Clone, Serialize)]
pub struct ExecReport {
    /// Backend name given.
    pub backend: String,
    /// The command line.
    pub command: Vec<String>,
    /// Outcome.
    pub status: Status,
    /// Details of a failure.
    pub message: Option<String>,
    /// What was measured.
    pub measured: Measured,
    /// Largest number of processes seen at once.
    pub max_processes: usize,
}

/// Asks a running command's whole process group to stop: SIGTERM at once (a server shuts
/// down cleanly on it), SIGKILL once `grace` has passed without it exiting. Given to the
/// driver of [`exec_driven`] and kept by each [`Background`] tree.
#[derive(Debug)]
pub struct Stopper {
    pid: u32,
    asked: Mutex<Option<Instant>>,
    grace: Duration,
    ended: AtomicBool,
}

impl Stopper {
    fn new(pid: u32, grace: Duration) -> Stopper {
        Stopper {
            pid,
            asked: Mutex::new(None),
            grace,
            ended: AtomicBool::new(false),
        }
    }

    /// Whether the command is still running (not yet reaped).
    pub fn running(&self) -> bool {
        !self.ended.load(Ordering::SeqCst)
    }

    fn mark_ended(&self) {
        self.ended.store(true, Ordering::SeqCst);
    }

    /// The command's process id (the leader of its process group).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Sends SIGTERM to the command's group (once) and starts the grace period.
    pub fn stop(&self) {
        let mut asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
        if asked.is_none() {
            *asked = Some(Instant::now());
            wait::signal_group(self.pid, libc::SIGTERM);
        }
    }

    /// Whether [`Stopper::stop`] was called.
    pub fn asked(&self) -> bool {
        self.asked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Called at each poll: kills the group once the grace period after a stop is over.
    fn enforce(&self) {
        let asked = *self.asked.lock().unwrap_or_else(|e| e.into_inner());
        if asked.is_some_and(|t| t.elapsed() > self.grace) {
            wait::kill_group(self.pid);
        }
    }
}

/// The command of `spec`, started in a process group of its own (and a cgroup of its own
/// where the system allows one), dying with the profiler.
struct Started {
    child: std::process::Child,
    parent_hwm: u64,
    cgroup: Option<TreeCgroup>,
    memory_limited: bool,
}

fn start(spec: &ExecSpec) -> Result<Started, MeasureError> {
    let Some((program, args)) = spec.argv.split_first() else {
        return Err(MeasureError::Invalid("no command to profile".into()));
    };
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).process_group(0);
    cmd.envs(spec.env.iter().map(|(k, v)| (k, v)));
    match &spec.log {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(|e| MeasureError::io(path, e))?;
            let err = file.try_clone().map_err(|e| MeasureError::io(path, e))?;
            cmd.stdout(file).stderr(err);
        }
        // The command's stdout goes to our stderr, so `--json` output stays clean.
        None => {
            cmd.stdout(std::io::stderr());
        }
    }
    wait::die_with_parent(&mut cmd);
    // A cgroup of the tree's own where the system allows one: an exact tree peak, a kill
    // that reaches descendants that left the process group, and the memory limit.
    let cgroup = TreeCgroup::create();
    let mut memory_limited = false;
    if let Some(cg) = &cgroup {
        if let Some(limit) = spec.memory_limit {
            memory_limited = cg.set_limit(limit);
        }
        cg.join_on_spawn(&mut cmd);
    }
    let (child, parent_hwm) = spawn_noting_parent_peak(&mut cmd, &program.to_string_lossy())?;
    Ok(Started {
        child,
        parent_hwm,
        cgroup,
        memory_limited,
    })
}

/// After the leader was reaped: kills what it left running (in its group and, with a
/// cgroup, anywhere else) and reads the cgroup's peak.
fn finish(started: Started) -> (Option<u64>, bool) {
    wait::kill_group_members(started.child.id());
    let cgroup_peak = started.cgroup.as_ref().and_then(TreeCgroup::peak_bytes);
    if let Some(cg) = &started.cgroup {
        cg.kill_all();
    }
    (cgroup_peak, started.memory_limited)
}

/// Runs and profiles the command. Errors are the profiler's own (cannot start it, no
/// CUDA device when one was asked for); the command's failure is in the outcome.
pub fn exec(spec: &ExecSpec) -> Result<ExecOutcome, MeasureError> {
    exec_driven(spec, Duration::from_secs(10), |_| ()).map(|(outcome, _)| outcome)
}

/// Runs and profiles the command while `drive` runs beside it on a thread of its own,
/// given a [`Stopper`] for it: a server is started, then driven with a workload and
/// stopped (`stopper.stop()`: SIGTERM, SIGKILL after `grace`). The command is watched until
/// it exits, whatever the driver does; the driver's result is `None` when it panicked.
pub fn exec_driven<R: Send>(
    spec: &ExecSpec,
    grace: Duration,
    drive: impl FnOnce(&Stopper) -> R + Send,
) -> Result<(ExecOutcome, Option<R>), MeasureError> {
    let monitor = match spec.gpu {
        Some(o) => Some(GpuMonitor::open(o).map_err(|e| MeasureError::Invalid(e.0))?),
        None => None,
    };
    let gpu = match &monitor {
        Some(m) => Some(GpuBaseline::read(m).map_err(|e| MeasureError::Invalid(e.0))?),
        None => None,
    };
    let gpu_baseline_used = match &monitor {
        Some(m) => Some(m.mem_info().map_err(|e| MeasureError::Invalid(e.0))?.used()),
        None => None,
    };
    let sys_available = machine::available_memory();
    // Ctrl-C (or SIGTERM) stops the command's whole tree, not only the profiler: caught
    // before the command starts, so no signal can arrive while nothing would act on it.
    wait::catch_interrupts();
    let started = start(spec)?;
    let pid = started.child.id();
    let parent_hwm = started.parent_hwm;
    let stopper = Stopper::new(pid, grace);
    let sampler = monitor
        .as_ref()
        .map(|m| m.sampler(Duration::from_millis(2)));
    let opts = WatchOptions {
        tree: true,
        ..spec.watch
    };
    let (watched, driven) = std::thread::scope(|scope| {
        let driver = scope.spawn(|| drive(&stopper));
        let watched = watch(pid, &opts, || {
            if wait::interrupted() {
                wait::kill_group(pid);
            }
            stopper.enforce();
        });
        if watched.is_err() {
            // The profiler cannot watch any more: nothing it started may outlive it.
            wait::kill_group(pid);
            let _ = wait::wait(pid);
        }
        stopper.mark_ended();
        (watched, driver.join().ok())
    });
    let stopped_by_profiler = stopper.asked();
    let watched = watched?;
    let (cgroup_peak, memory_limited) = finish(started);
    if wait::interrupted() {
        return Err(MeasureError::Invalid(
            "interrupted: the command's process tree was stopped".into(),
        ));
    }
    let gpu_peak = sampler.map(|s| s.stop());
    Ok((
        ExecOutcome {
            watched,
            gpu,
            gpu_baseline_used,
            gpu_peak_used: match (gpu_peak, gpu_baseline_used) {
                (Some(p), Some(b)) => Some(p.saturating_sub(b)),
                _ => None,
            },
            sys_available,
            parent_hwm,
            cgroup_peak,
            memory_limited,
            stopped_by_profiler,
        },
        driven,
    ))
}

/// How a background tree ended: what watching found, the cgroup's peak, whether its memory
/// limit was set.
type TreeEnd = (Watched, Option<u64>, bool);

/// A command that runs in the background while something else is measured (an RPC
/// worker while its client runs): started, watched on a thread of its own, stopped with
/// [`Background::stop`].
pub struct Background {
    stopper: std::sync::Arc<Stopper>,
    watcher: std::thread::JoinHandle<Result<TreeEnd, MeasureError>>,
    parent_hwm: u64,
    sys_available: u64,
}

impl Background {
    /// Starts `spec`'s command and watches its tree (CPU only: `spec.gpu` is ignored).
    pub fn start(spec: &ExecSpec, grace: Duration) -> Result<Background, MeasureError> {
        let sys_available = machine::available_memory();
        wait::catch_interrupts();
        let started = start(spec)?;
        let pid = started.child.id();
        let parent_hwm = started.parent_hwm;
        let stopper = std::sync::Arc::new(Stopper::new(pid, grace));
        let opts = WatchOptions {
            tree: true,
            ..spec.watch
        };
        let s = stopper.clone();
        let watcher = std::thread::spawn(move || {
            let watched = watch(pid, &opts, || {
                if wait::interrupted() {
                    wait::kill_group(pid);
                }
                s.enforce();
            });
            if watched.is_err() {
                wait::kill_group(pid);
                let _ = wait::wait(pid);
            }
            s.mark_ended();
            let (peak, limited) = finish(started);
            watched.map(|w| (w, peak, limited))
        });
        Ok(Background {
            stopper,
            watcher,
            parent_hwm,
            sys_available,
        })
    }

    /// The command's process id.
    pub fn pid(&self) -> u32 {
        self.stopper.pid()
    }

    /// Whether the command has ended (by itself, or stopped).
    pub fn has_ended(&self) -> bool {
        !self.stopper.running()
    }

    /// Stops the command (SIGTERM, SIGKILL after the grace period) and returns what was
    /// measured over its whole life.
    pub fn stop(self) -> Result<ExecOutcome, MeasureError> {
        // A command that already ended by itself was not stopped by us.
        if self.stopper.running() {
            self.stopper.stop();
        }
        let (watched, cgroup_peak, memory_limited) = self.watcher.join().map_err(|_| {
            MeasureError::Invalid("the watcher of a background command panicked".into())
        })??;
        Ok(ExecOutcome {
            watched,
            gpu: None,
            gpu_baseline_used: None,
            gpu_peak_used: None,
            sys_available: self.sys_available,
            parent_hwm: self.parent_hwm,
            cgroup_peak,
            memory_limited,
            stopped_by_profiler: self.stopper.asked(),
        })
    }
}

impl ExecOutcome {
    /// The outcome of a command that was never started: nothing measured, exit code
    /// unknown (for the record of a process a failure upstream kept from running).
    pub fn not_run() -> ExecOutcome {
        ExecOutcome {
            watched: Watched {
                exit: wait::ExitInfo::default(),
                polled_peak_rss: 0,
                max_processes: 0,
                killed: None,
                wall: Duration::ZERO,
            },
            gpu: None,
            gpu_baseline_used: None,
            gpu_peak_used: None,
            sys_available: machine::available_memory(),
            parent_hwm: 0,
            cgroup_peak: None,
            memory_limited: false,
            stopped_by_profiler: false,
        }
    }

    /// ok when the command exited with 0, or lived until the profiler stopped it; oom
    /// when it was killed by SIGKILL (the OOM killer) or by the profiler's memory guard;
    /// error otherwise.
    pub fn classify(&self) -> (Status, Option<String>) {
        let exit = &self.watched.exit;
        match self.watched.killed {
            Some(k @ KillReason::RssLimit { .. }) => (Status::Oom, Some(k.describe())),
            Some(k @ KillReason::Timeout(_)) => (Status::Error, Some(k.describe())),
            None if exit.success() || self.stopped_by_profiler => (Status::Ok, None),
            None if exit.signal == Some(libc::SIGKILL) => (
                Status::Oom,
                Some("killed by SIGKILL (the kernel's OOM killer or a cgroup memory limit)".into()),
            ),
            None => (Status::Error, Some(format!("command {}", exit.describe()))),
        }
    }

    /// The measured figures: one phase `run` holding the tree's peak.
    pub fn measured(&self) -> Measured {
        let exit = &self.watched.exit;
        let peak = self
            .watched
            .polled_peak_rss
            .max(informative_maxrss(exit.maxrss_bytes, self.parent_hwm));
        let wall_ms = self.watched.wall.as_secs_f64() * 1000.0;
        Measured {
            baseline_rss_bytes: 0,
            peak_rss_bytes: peak,
            rusage_maxrss_bytes: exit.maxrss_bytes,
            phases: vec![PhaseMeasure {
                name: "run".into(),
                rss_bytes: 0,
                peak_rss_bytes: self.watched.polled_peak_rss,
                rss_anon_bytes: 0,
                rss_file_bytes: 0,
                gpu_used_bytes: None,
                gpu_peak_used_bytes: self.gpu_peak_used,
                elapsed_ms: wall_ms,
            }],
            gpu_baseline_used_bytes: self.gpu_baseline_used,
            gpu_peak_used_bytes: self.gpu_peak_used,
            cgroup_peak_bytes: self.cgroup_peak,
            sys_available_bytes: self.sys_available,
            wall_ms,
            decode_tokens_per_s: None,
        }
    }
}

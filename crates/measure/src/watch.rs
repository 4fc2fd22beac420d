//! Watching a running child until it ends: reaps it with `wait4`, polls its resident
//! memory (its own, or its whole process tree), and kills it past a time or memory limit.

use super::error::MeasureError;
use super::procfs;
use super::wait::{self, ExitInfo};
use std::time::{Duration, Instant};

/// Limits and polling of a watched child.
#[derive(Debug, Clone, Copy)]
pub struct WatchOptions {
    /// Time between polls.
    pub poll: Duration,
    /// Kill the child after this long (recorded as an error, not a measurement).
    pub timeout: Option<Duration>,
    /// Kill the child when its polled resident set (or tree's) exceeds this many bytes:
    /// the profiler's own guard against driving the machine into swap or the OOM killer.
    pub rss_limit: Option<u64>,
    /// Poll the whole process tree (external engines) instead of the child alone; a
    /// kill then goes to the child's process group (start it with `process_group(0)`).
    pub tree: bool,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            poll: Duration::from_millis(5),
            timeout: None,
            rss_limit: None,
            tree: false,
        }
    }
}

/// Why the watcher killed the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillReason {
    /// It ran past the timeout.
    Timeout(Duration),
    /// Its resident set passed the limit (bytes seen, limit).
    RssLimit {
        /// Resident bytes seen.
        seen: u64,
        /// The limit.
        limit: u64,
    },
}

impl KillReason {
    /// Words for a record's message.
    pub fn describe(&self) -> String {
        match self {
            KillReason::Timeout(t) => {
                format!("killed by the profiler after {:.0} s", t.as_secs_f64())
            }
            KillReason::RssLimit { seen, limit } => format!(
                "killed by the profiler: resident memory {} MiB passed the limit of {} MiB",
                seen >> 20,
                limit >> 20
            ),
        }
    }
}

/// What watching found.
#[derive(Debug, Clone, Copy)]
pub struct Watched {
    /// How the child ended (its own `ru_maxrss` included).
    pub exit: ExitInfo,
    /// Largest polled resident set (of the tree when `tree`), in bytes. Polling can miss
    /// a short spike between polls; `VmHWM` and `ru_maxrss` cannot.
    pub polled_peak_rss: u64,
    /// Largest number of processes seen at once in the tree.
    pub max_processes: usize,
    /// Set when the watcher killed it.
    pub killed: Option<KillReason>,
    /// Wall time from the start of watching to the reaping.
    pub wall: Duration,
}

/// Watches child `pid` (which must be our child and not yet reaped) until it ends.
/// `on_poll` is called after each poll (used for the GPU sampler or progress).
pub fn watch(
    pid: u32,
    opts: &WatchOptions,
    mut on_poll: impl FnMut(),
) -> Result<Watched, MeasureError> {
    let start = Instant::now();
    let mut polled_peak = 0u64;
    let mut max_processes = 0usize;
    let mut killed = None;
    loop {
        if let Some(exit) = wait::try_wait(pid)? {
            return Ok(Watched {
                exit,
                polled_peak_rss: polled_peak,
                max_processes,
                killed,
                wall: start.elapsed(),
            });
        }
        let (rss, n) = if opts.tree {
            procfs::tree_rss(pid)
        } else {
            match procfs::read_pid(pid) {
                Ok(s) => (s.vm_rss, 1),
                Err(_) => (0, 0),
            }
        };
        polled_peak = polled_peak.max(rss);
        max_processes = max_processes.max(n);
        if killed.is_none() {
            if let Some(limit) = opts.rss_limit.filter(|&l| rss > l) {
                killed = Some(KillReason::RssLimit { seen: rss, limit });
            } else if let Some(t) = opts.timeout.filter(|&t| start.elapsed() > t) {
                killed = Some(KillReason::Timeout(t));
            }
            if killed.is_some() {
                if opts.tree {
                    wait::kill_group(pid);
                } else {
                    wait::kill(pid);
                }
            }
        }
        on_poll();
        std::thread::sleep(opts.poll);
    }
}

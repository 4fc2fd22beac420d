//! llama.cpp's RPC workers for a measured split run: one `rpc-server` per "machine" of the
//! split, each on a localhost port of its own, in a process tree and cgroup of its own
//! (with the machine's budget as its memory limit where the system allows), each measured
//! separately while the client runs.

use crate::engine::command::rpc_server_command;
use crate::error::MeasureError;
use crate::exec::{Background, ExecOutcome, ExecSpec};
use crate::serve::{free_port, wait_listening};
use crate::watch::WatchOptions;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One worker to start.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    /// The machine's name (the split device it is).
    pub name: String,
    /// Its memory limit (the machine's budget), if any.
    pub memory_limit: Option<u64>,
    /// Where its log goes.
    pub log: PathBuf,
}

/// A started worker.
pub struct Worker {
    /// The machine's name.
    pub name: String,
    /// `127.0.0.1:port`, what the client's `--rpc` lists.
    pub endpoint: String,
    /// Its log file.
    pub log: PathBuf,
    /// Why it never listened (it died while starting, e.g. killed at its memory limit, or
    /// took too long); None once it listens.
    pub not_ready: Option<String>,
    tree: Background,
}

impl Worker {
    /// Whether it is still running.
    pub fn alive(&self) -> bool {
        !self.tree.has_ended()
    }

    /// Stops it and returns what was measured over its life.
    pub fn stop(self) -> Result<(String, PathBuf, ExecOutcome), MeasureError> {
        Ok((self.name, self.log, self.tree.stop()?))
    }
}

/// Starts one `rpc-server` (`bin`) per spec, each on a free port, and waits until each
/// listens; a worker that never does is returned with [`Worker::not_ready`] set, so that
/// its end is recorded. An error is the profiler's own (no port, cannot start the
/// program); the ones already started are then stopped.
pub fn start_workers(
    bin: &Path,
    specs: &[WorkerSpec],
    threads: u32,
    watch: WatchOptions,
) -> Result<Vec<Worker>, MeasureError> {
    let mut workers: Vec<Worker> = Vec::new();
    for spec in specs {
        match start_worker(bin, spec, threads, watch) {
            Ok(w) => workers.push(w),
            Err(e) => {
                stop_all(workers);
                return Err(e);
            }
        }
    }
    Ok(workers)
}

fn start_worker(
    bin: &Path,
    spec: &WorkerSpec,
    threads: u32,
    watch: WatchOptions,
) -> Result<Worker, MeasureError> {
    let port = free_port().map_err(|source| MeasureError::Process {
        what: "finding a free port for an RPC worker".into(),
        source,
    })?;
    let exec = ExecSpec {
        argv: rpc_server_command(bin, port, threads),
        gpu: None,
        watch,
        log: Some(spec.log.clone()),
        env: Vec::new(),
        memory_limit: spec.memory_limit,
    };
    let tree = Background::start(&exec, Duration::from_secs(5))?;
    let ready = wait_listening(port, Duration::from_secs(30), || !tree.has_ended());
    Ok(Worker {
        name: spec.name.clone(),
        endpoint: format!("127.0.0.1:{port}"),
        log: spec.log.clone(),
        not_ready: ready
            .err()
            .map(|why| format!("RPC worker {}: {why}", spec.name)),
        tree,
    })
}

/// Stops every worker, ignoring what they measured (used when a run is abandoned).
pub fn stop_all(workers: Vec<Worker>) {
    for w in workers {
        let _ = w.stop();
    }
}

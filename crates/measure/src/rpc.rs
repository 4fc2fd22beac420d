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
/// listens. On a failure the ones already started are stopped.
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
    let worker = Worker {
        name: spec.name.clone(),
        endpoint: format!("127.0.0.1:{port}"),
        log: spec.log.clone(),
        tree,
    };
    match ready {
        Ok(_) => Ok(worker),
        Err(why) => {
            let _ = worker.stop();
            Err(MeasureError::Invalid(format!(
                "RPC worker {} ({}): {why}; see {}",
                spec.name,
                bin.display(),
                spec.log.display()
            )))
        }
    }
}

/// Stops every worker, ignoring what they measured (used when a run is abandoned).
pub fn stop_all(workers: Vec<Worker>) {
    for w in workers {
        let _ = w.stop();
    }
}

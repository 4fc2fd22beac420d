//! `profiler exec --hosts`: a model split over llama.cpp RPC workers. One `rpc-server` is
//! started per worker machine (here: on localhost ports, each in a tree and cgroup of its
//! own with the machine's budget as its memory limit where the system allows), then the
//! client runs against them (a command-line run, or a server with `--serve`), then the
//! workers are stopped. Every process's peak is its own record: the client's (role
//! `rpc-client`) and each worker's (role `rpc-server`, named after its machine).

use super::{build_record, read_log, run_engine, serve, ProcessRun, RunContext};
use crate::measure::rpc::{start_workers, WorkerSpec};
use anyhow::Context;
use predictor::config::Role;
use predictor::record::{Record, Status};
use std::path::{Path, PathBuf};

/// The RPC worker binary: `--rpc-server`, else `ggml-rpc-server` (or `rpc-server`, its
/// older name) beside the client's binary.
fn worker_binary(ctx: &RunContext) -> anyhow::Result<PathBuf> {
    if let Some(p) = &ctx.args.rpc_server {
        return Ok(p.clone());
    }
    let dir = ctx.bin.path.parent().unwrap_or(Path::new("."));
    ["ggml-rpc-server", "rpc-server"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .with_context(|| {
            format!(
                "no ggml-rpc-server beside {}: give --rpc-server PATH",
                ctx.bin.path.display()
            )
        })
}

/// Runs the split and returns the client's record, then each worker's.
pub fn run(ctx: &RunContext) -> anyhow::Result<Vec<Record>> {
    let hosts = ctx
        .args
        .config
        .hosts()?
        .context("a split run needs --hosts")?;
    let limit = |b: Option<u64>| if ctx.args.no_limits { None } else { b };
    let bin = worker_binary(ctx)?;
    let logs = tempfile::tempdir().context("creating a scratch directory")?;
    let specs: Vec<WorkerSpec> = hosts[1..]
        .iter()
        .map(|h| WorkerSpec {
            name: h.name.clone(),
            memory_limit: limit(h.budget),
            log: logs.path().join(format!("rpc-{}.log", h.name)),
        })
        .collect();
    let workers = start_workers(&bin, &specs, ctx.args.threads, ctx.watch())
        .context("starting the RPC workers")?;
    let endpoints: Vec<String> = workers.iter().map(|w| w.endpoint.clone()).collect();
    let client_limit = limit(hosts[0].budget);
    let not_ready: Vec<String> = workers.iter().filter_map(|w| w.not_ready.clone()).collect();
    let client = if !not_ready.is_empty() {
        // A worker that never listened (killed at its memory limit while starting, say):
        // the client is not run, and every process's record says why.
        Ok(unstarted_client(ctx, &not_ready.join("; ")))
    } else if ctx.config.serve.is_some() {
        serve::run_limited(ctx, &endpoints, client_limit)
            .map(|s| s.into_record(ctx, Role::RpcClient, None))
    } else {
        run_engine(ctx, &endpoints, client_limit, Role::RpcClient)
    };
    // The workers are stopped whatever happened to the client.
    let mut stopped = Vec::new();
    for (w, endpoint) in workers.into_iter().zip(&endpoints) {
        let argv =
            crate::engine::command::rpc_server_command(&bin, port_of(endpoint), ctx.args.threads);
        stopped.push((w.stop(), argv, endpoint.clone()));
    }
    let client = client?;
    let mut records = Vec::new();
    for (result, argv, endpoint) in stopped {
        let (name, log, outcome) = result.context("stopping an RPC worker")?;
        let (mut status, mut message) = outcome.classify();
        if status == Status::Ok && client.status != Status::Ok {
            status = Status::Error;
            message = Some("the client failed: the worker's run is incomplete".into());
        }
        let log_text = read_log(&log, status, &format!("RPC worker {name}'s log"));
        let mut record = build_record(
            ctx,
            ProcessRun {
                role: Role::RpcServer,
                device_name: Some(name),
                argv: &argv,
                outcome: &outcome,
                status,
                message,
                log_text: &log_text,
                config: client.config.clone(),
                workload: None,
            },
        );
        // The buffers the client placed on this worker, as the client's log names them
        // (`RPC0[127.0.0.1:port] model buffer size = ...`).
        if let (Some(e), Some(c)) = (record.engine.as_mut(), client.engine.as_ref()) {
            e.buffers = c
                .buffers
                .iter()
                .filter(|b| b.buffer.contains(&endpoint))
                .cloned()
                .collect();
            e.prompt_tokens = c.prompt_tokens;
            e.decode_tokens = c.decode_tokens;
        }
        records.push(record);
    }
    records.insert(0, client);
    Ok(records)
}

/// The client's record when its workers did not all start: an error, nothing measured.
fn unstarted_client(ctx: &RunContext, why: &str) -> Record {
    let outcome = crate::measure::exec::ExecOutcome::not_run();
    build_record(
        ctx,
        ProcessRun {
            role: Role::RpcClient,
            device_name: None,
            argv: &[],
            outcome: &outcome,
            status: Status::Error,
            message: Some(format!("the client was not run: {why}")),
            log_text: "",
            config: ctx.config.clone(),
            workload: None,
        },
    )
}

fn port_of(endpoint: &str) -> u16 {
    endpoint
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

//! `profiler exec --serve`: llama-server started on a free local port, driven with a
//! workload of concurrent requests once it answers its health check, then stopped, its
//! whole tree measured from start to exit.

use super::{build_record, read_log, ProcessRun, RunContext};
use crate::engine::command::server_command;
use crate::engine::prompt;
use crate::measure::exec::{exec_driven, ExecOutcome};
use crate::measure::serve::{free_port, run_workload, wait_ready, WorkloadSpec};
use anyhow::Context;
use predictor::config::{Role, RunConfig};
use predictor::record::{Record, Status, Workload};
use std::ffi::OsString;
use std::time::Duration;

/// Requests per slot when the configuration does not say: every slot busy at once, then
/// a second wave that reuses the slots (and fills the prompt cache with the first).
pub const DEFAULT_REQUESTS_PER_SLOT: u32 = 2;

/// A measured server run.
pub struct ServedRun {
    argv: Vec<OsString>,
    outcome: ExecOutcome,
    status: Status,
    message: Option<String>,
    log_text: String,
    workload: Option<Workload>,
    config: RunConfig,
    /// The log file's folder, kept while the run's records are made.
    _scratch: Option<tempfile::TempDir>,
}

impl ServedRun {
    /// The record of the server's process (`role`: the server, or the client of a split).
    pub fn into_record(self, ctx: &RunContext, role: Role, device_name: Option<String>) -> Record {
        build_record(
            ctx,
            ProcessRun {
                role,
                device_name,
                argv: &self.argv,
                outcome: &self.outcome,
                status: self.status,
                message: self.message,
                log_text: &self.log_text,
                config: self.config,
                workload: self.workload,
            },
        )
    }
}

/// Why the driver gave up.
enum Driven {
    Served(Workload),
    NotReady(String),
}

/// Runs llama-server (`ctx.bin`) for `ctx.config` with the RPC workers `rpc` (none on one
/// machine) and drives it: waits for its health check, sends the workload, stops it.
pub fn run(ctx: &RunContext, rpc: &[String]) -> anyhow::Result<ServedRun> {
    run_limited(ctx, rpc, None)
}

/// [`run`] with the server's tree limited to `memory_limit` bytes (a machine's budget).
pub fn run_limited(
    ctx: &RunContext,
    rpc: &[String],
    memory_limit: Option<u64>,
) -> anyhow::Result<ServedRun> {
    let serve = ctx.config.serve.clone().unwrap_or_default();
    let requests = serve.requests_per_slot.unwrap_or(DEFAULT_REQUESTS_PER_SLOT);
    let (scratch, log_path) = match &ctx.args.log {
        Some(p) => (None, p.clone()),
        None => {
            let d = tempfile::tempdir().context("creating a scratch directory")?;
            let p = d.path().join("server.log");
            (Some(d), p)
        }
    };
    let port = free_port().context("finding a free port for the server")?;
    let argv = server_command(&ctx.bin, &ctx.model_path, &ctx.config, port, rpc);
    let workload = WorkloadSpec {
        clients: ctx.config.batch.max(1),
        requests_per_client: requests,
        prompt_tokens: ctx.config.prompt_tokens(),
        decode_tokens: ctx.config.decode.max(1),
        word: prompt::prompt_word(&ctx.model_path),
    };
    let ready_timeout = Duration::from_secs(ctx.args.ready_timeout);
    let spec = ctx.spec(argv.clone(), &log_path, memory_limit);
    // A server stops on SIGTERM; one that hangs gets SIGKILL after 30 s.
    let (outcome, driven) = exec_driven(&spec, Duration::from_secs(30), |stopper| {
        let alive = || stopper.running();
        let driven = match wait_ready(port, ready_timeout, alive) {
            Ok(_) => Driven::Served(run_workload(port, &workload, &alive)),
            Err(why) => Driven::NotReady(why.to_string()),
        };
        stopper.stop();
        driven
    })
    .context("profiling the server")?;
    let (mut status, mut message) = outcome.classify();
    let workload = match driven {
        Some(Driven::Served(w)) => {
            let total = w.clients * w.requests_per_client;
            if status == Status::Ok && w.failed_requests > 0 {
                status = Status::Error;
                message = Some(format!(
                    "{} of {total} requests failed (see the server's log)",
                    w.failed_requests
                ));
            }
            Some(w)
        }
        Some(Driven::NotReady(why)) => {
            if status == Status::Ok {
                status = Status::Error;
            }
            message = Some(message.map_or(why.clone(), |m| format!("{why}: {m}")));
            None
        }
        None => {
            status = Status::Error;
            message = Some("the workload driver panicked".into());
            None
        }
    };
    let log_text = read_log(&log_path, status, "the server's log");
    // What the server reported it ran: the longest prompt and generation of any request.
    let mut config = ctx.config.clone();
    if let Some(w) = &workload {
        if let Some(&p) = w.prompt_tokens.iter().max() {
            config.prompt = Some(p.min(config.ctx));
        }
        if let Some(&d) = w.decode_tokens.iter().max() {
            config.decode = d;
        }
        if let Some(s) = config.serve.as_mut() {
            s.requests_per_slot = Some(w.requests_per_client);
        }
    }
    Ok(ServedRun {
        argv,
        outcome,
        status,
        message,
        log_text,
        workload,
        config,
        _scratch: scratch,
    })
}

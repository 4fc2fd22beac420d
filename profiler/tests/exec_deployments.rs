//! `profiler exec --serve` and `--hosts` against stand-ins for llama-server, rpc-server and
//! an RPC client (`tests/mock_engines/*.py`, Python's standard library only): the workload
//! is sent in waves and recorded, every process of a split gets a record of its own role,
//! a server that dies or never becomes ready is a failed record, and no process is left
//! running whatever happened.

use predictor::config::Role;
use predictor::record::{Record, Status};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn mock(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/mock_engines")
        .join(name)
}

fn model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny_llama.gguf")
}

fn has_python() -> bool {
    Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `profiler exec` with `args` and `env`; returns its records (one JSON line each).
fn exec(args: &[&str], env: &[(&str, &str)]) -> (bool, Vec<Record>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_profiler"))
        .arg("exec")
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("the profiler runs");
    let records = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("a record"))
        .collect();
    (
        out.status.success(),
        records,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn gone(pid: u32) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(s)
                if s.rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z')) =>
            {
                return true
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    false
}

fn pids(file: &Path) -> Vec<u32> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn serve_args<'a>(server: &'a str, model: &'a str) -> Vec<&'a str> {
    vec![
        "--backend",
        "llama.cpp",
        "--engine",
        server,
        "--model",
        model,
        "--serve",
        "--slots",
        "3",
        "--ctx",
        "512",
        "--prompt",
        "16",
        "--decode",
        "2",
        "--requests",
        "2",
        "--json",
    ]
}

#[test]
fn a_served_workload_is_recorded_in_waves_and_the_server_stopped() {
    if !has_python() {
        eprintln!("no python3: the stand-in server cannot run");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("server.pid");
    let (server, model) = (mock("mock_llama_server.py"), model());
    let (server, model) = (server.to_str().unwrap(), model.to_str().unwrap());
    let (ok, records, err) = exec(
        &serve_args(server, model),
        &[
            ("MOCK_PIDFILE", pidfile.to_str().unwrap()),
            ("MOCK_MIB", "48"),
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.status, Status::Ok, "{:?}", r.message);
    assert_eq!(r.role, Role::Server);
    let w = r.workload.as_ref().expect("the workload is recorded");
    assert_eq!((w.clients, w.requests_per_client), (3, 2));
    assert_eq!(w.prompt_tokens.len(), 6);
    assert_eq!(w.failed_requests, 0);
    assert!(w.max_busy_slots >= 1, "{w:?}");
    // The server's own memory is in the peak; the slots are the configuration's batch.
    assert!(
        r.measured.peak_rss_bytes > 48 << 20,
        "{}",
        r.measured.peak_rss_bytes
    );
    assert_eq!(r.config.batch, 3);
    assert_eq!(r.config.serve.as_ref().unwrap().requests_per_slot, Some(2));
    assert!(r.key.ends_with("|server"), "{}", r.key);
    let pid = pids(&pidfile)[0];
    assert!(gone(pid), "the server {pid} is still running");
}

#[test]
fn a_server_that_dies_mid_run_is_a_failed_record_never_a_silent_zero() {
    if !has_python() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("server.pid");
    let (server, model) = (mock("mock_llama_server.py"), model());
    let (server, model) = (server.to_str().unwrap(), model.to_str().unwrap());
    let (ok, records, _) = exec(
        &serve_args(server, model),
        &[
            ("MOCK_PIDFILE", pidfile.to_str().unwrap()),
            ("MOCK_DIE_AFTER", "2"),
        ],
    );
    assert!(!ok, "a failed run exits non-zero");
    let r = &records[0];
    assert_ne!(r.status, Status::Ok);
    assert!(r.message.is_some());
    assert!(gone(pids(&pidfile)[0]));
}

#[test]
fn a_server_that_never_becomes_ready_is_stopped_and_recorded_as_failed() {
    if !has_python() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("server.pid");
    let (server, model) = (mock("mock_llama_server.py"), model());
    let (server, model) = (server.to_str().unwrap(), model.to_str().unwrap());
    let mut args = serve_args(server, model);
    args.extend(["--ready-timeout", "2"]);
    let (ok, records, _) = exec(
        &args,
        &[
            ("MOCK_PIDFILE", pidfile.to_str().unwrap()),
            ("MOCK_NEVER_READY", "1"),
        ],
    );
    assert!(!ok);
    let r = &records[0];
    assert_eq!(r.status, Status::Error);
    assert!(
        r.message
            .as_deref()
            .unwrap_or("")
            .contains("did not become ready"),
        "{:?}",
        r.message
    );
    assert!(r.workload.is_none());
    assert!(gone(pids(&pidfile)[0]));
}

#[test]
fn every_process_of_a_split_is_measured_and_recorded_with_its_role() {
    if !has_python() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("workers.pid");
    let (client, worker, model) = (
        mock("mock_llama_client.py"),
        mock("mock_rpc_server.py"),
        model(),
    );
    let (ok, records, err) = exec(
        &[
            "--backend",
            "llama.cpp",
            "--engine",
            client.to_str().unwrap(),
            "--rpc-server",
            worker.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
            "--hosts",
            "client,a,b",
            "--tensor-split",
            "3,1",
            "--ctx",
            "512",
            "--prompt",
            "16",
            "--json",
        ],
        &[
            ("MOCK_PIDFILE", pidfile.to_str().unwrap()),
            ("MOCK_WORKER_MIB", "24"),
            ("MOCK_CLIENT_MIB", "32"),
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(records.len(), 3, "{err}");
    assert_eq!(records[0].role, Role::RpcClient);
    assert_eq!(records[0].device_name, None);
    for (r, name) in records[1..].iter().zip(["a", "b"]) {
        assert_eq!(r.role, Role::RpcServer);
        assert_eq!(r.device_name.as_deref(), Some(name));
        assert_eq!(r.status, Status::Ok, "{:?}", r.message);
        // Each worker's own peak, not the client's.
        let peak = r.measured.peak_rss_bytes;
        assert!(peak > 24 << 20 && peak < 48 << 20, "{peak}");
        // The buffers the client placed on it, as its log names them.
        let e = r.engine.as_ref().unwrap();
        assert_eq!(e.buffers.len(), 1, "{:?}", e.buffers);
        assert!(r.key.ends_with(&format!("|rpc-server:{name}")), "{}", r.key);
    }
    assert!(records[0].measured.peak_rss_bytes > 32 << 20);
    let split = records[0].config.split.as_ref().unwrap();
    assert_eq!(split.tensor_split, [3.0, 1.0]);
    let workers = pids(&pidfile);
    assert_eq!(workers.len(), 2);
    for pid in workers {
        assert!(gone(pid), "worker {pid} outlived the measurement");
    }
}

#[test]
fn a_worker_over_its_machines_budget_is_an_oom_record_where_a_cgroup_limits_it() {
    if !has_python() {
        return;
    }
    let (client, worker, model) = (
        mock("mock_llama_client.py"),
        mock("mock_rpc_server.py"),
        model(),
    );
    let (ok, records, err) = exec(
        &[
            "--backend",
            "llama.cpp",
            "--engine",
            client.to_str().unwrap(),
            "--rpc-server",
            worker.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
            "--hosts",
            "client=500M,a=32M",
            "--ctx",
            "512",
            "--prompt",
            "16",
            "--json",
        ],
        &[("MOCK_WORKER_MIB", "64")],
    );
    assert!(!ok, "a run whose worker could not start is not ok");
    assert_eq!(records.len(), 2, "{err}");
    let (c, w) = (&records[0], &records[1]);
    assert_eq!(c.role, Role::RpcClient);
    assert_eq!(c.status, Status::Error);
    assert!(
        c.message.as_deref().unwrap_or("").contains("not run"),
        "{:?}",
        c.message
    );
    assert_eq!(w.device_name.as_deref(), Some("a"));
    if w.measured.cgroup_peak_bytes.is_some() {
        // The kernel held the worker to its machine's 32 MiB.
        assert_eq!(w.status, Status::Oom, "{:?}", w.message);
    } else {
        eprintln!("no cgroup here: the budget is not enforced, nothing more to check");
    }
}

//! Helpers shared by the measurement tests: the profiler binary, tiny synthetic models,
//! and running the binary for a JSON result.
#![allow(dead_code)]

use predictor::ggml_type::GgmlType;
use predictor::record::Record;
use profiler::synth::{write_model, SynthSpec};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The profiler binary built for this test run.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_profiler")
}

/// Writes a small BitNet model (2 layers, hidden 256, 4 query / 2 KV heads of 64) to
/// `dir/name.gguf`.
pub fn tiny_model(dir: &Path, name: &str) -> PathBuf {
    let spec = SynthSpec::preset("tiny").expect("the tiny preset exists");
    let path = dir.join(format!("{name}.gguf"));
    write_model(&spec, &path).expect("writing the tiny model");
    path
}

/// Writes a small llama model in `qtype`.
pub fn tiny_llama(dir: &Path, qtype: GgmlType) -> PathBuf {
    let mut spec = SynthSpec::preset("tiny-llama").expect("the tiny-llama preset exists");
    spec.qtype = qtype;
    let path = dir.join(format!("llama-{}.gguf", qtype.name()));
    write_model(&spec, &path).expect("writing the tiny llama model");
    path
}

/// Splits a line of arguments at whitespace (none of the test arguments hold spaces).
pub fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// `profiler exec --json ARGS...` with `env`, parsed; panics unless it succeeded.
pub fn exec_json(args: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    let out = Command::new(bin())
        .args(["exec", "--json"])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("starting the profiler binary");
    assert!(
        out.status.success(),
        "exec {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("exec --json prints JSON")
}

/// Runs the binary with `args`, with a fixed thread count so runs are comparable.
pub fn profiler(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env("MEMCAL_THREADS", "2")
        .output()
        .expect("starting the profiler binary")
}

/// `profiler run MODEL ARGS --json`, parsed into a record.
pub fn run_record(model: &Path, args: &[&str]) -> Record {
    let mut all = vec!["run", model.to_str().expect("utf-8 path"), "--json"];
    all.extend_from_slice(args);
    let out = profiler(&all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "profiler {all:?} gave no record ({e}); status {:?}\nstdout: {stdout}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The end-of-phase RSS of phase `name`.
pub fn phase_rss(r: &Record, name: &str) -> u64 {
    r.measured
        .phases
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no phase {name} in {:?}", r.measured.phases))
        .rss_bytes
}

/// `/usr/bin/time -v CMD...` with `env`: (the command's exit success, "Maximum resident set
/// size" in bytes).
pub fn gnu_time(cmd: &[&str], env: &[(&str, &str)]) -> (bool, u64) {
    assert!(
        Path::new("/usr/bin/time").is_file(),
        "GNU time is needed: install the Debian package `time` (.ci/run does)"
    );
    let mut c = Command::new("/usr/bin/time");
    c.arg("-v").args(cmd);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("running /usr/bin/time");
    let err = String::from_utf8_lossy(&out.stderr);
    let kb: u64 = err
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no maximum RSS in time's output:\n{err}"));
    (out.status.success(), kb * 1024)
}

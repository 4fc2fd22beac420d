//! The command line: `run --json` prints one record with the documented keys, `sweep
//! --list` prints the grid without running it, and wrong input gives a clear error and exit
//! code 1, never a panic.

mod measure_support;

use measure_support::{exec_json, profiler, tiny_llama, tiny_model, words};

/// `profiler run MODEL ARGS...`.
fn run_tiny(model: &std::path::Path, args: &str) -> std::process::Output {
    let mut all = vec!["run", model.to_str().unwrap()];
    all.extend(words(args));
    profiler(&all)
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn run_json_prints_one_record_with_the_documented_keys() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path(), "tiny");
    let append = dir.path().join("out.jsonl");
    let mut args = vec![
        "run",
        model.to_str().unwrap(),
        "--append",
        append.to_str().unwrap(),
    ];
    args.extend(words("--json --ctx 256 --ubatch 64 --batch 2 --decode 3"));
    let out = profiler(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.trim().lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["config"]["ctx"], 256);
    assert_eq!(v["config"]["batch"], 2);
    assert_eq!(
        v["prompt_tokens"], 253,
        "the prompt fills the context by default"
    );
    assert_eq!(v["decode_tokens"], 3);
    assert_eq!(v["backend"], "memcal-candle");
    // The binary's own build is compiled in: the profile and a commit (or `unknown`).
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    assert_eq!(v["software"]["build_profile"], profile);
    assert!(!v["software"]["git_commit"].as_str().unwrap().is_empty());
    assert!(v["measured"]["peak_rss_bytes"].as_u64().unwrap() > 1 << 20);
    assert!(v["measured"]["gpu_peak_used_bytes"].is_null());
    let phases: Vec<&str> = v["measured"]["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        phases,
        ["start", "baseline", "load", "kv_alloc", "prefill", "decode"]
    );
    assert!(v["predicted"]["host"]["kv_cache"].as_u64().unwrap() > 0);
    assert!(v["model"]["hash"]
        .as_str()
        .unwrap()
        .starts_with("fnv1a64s:"));
    assert!(!v["machine"]["fingerprint"].as_str().unwrap().is_empty());
    // The model by its file name (size and hash identify it), not by this machine's path.
    assert_eq!(v["model"]["path"], "tiny.gguf");
    let appended = std::fs::read_to_string(&append).unwrap();
    assert_eq!(appended.trim(), text.trim());
}

#[test]
fn an_engine_record_names_no_path_of_this_machine() {
    use std::os::unix::fs::PermissionsExt;
    // A stand-in engine installed as the build scripts install one: bin/ with engine.json
    // beside it, naming the absolute bin path.
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_llama(dir.path(), predictor::ggml_type::GgmlType::Q8_0);
    let bin_dir = dir.path().join("llama.cpp-1/bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let engine = bin_dir.join("llama-completion");
    std::fs::write(&engine, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&engine, std::fs::Permissions::from_mode(0o755)).unwrap();
    let build = serde_json::json!({"name": "llama.cpp", "version": "1", "bin": bin_dir});
    std::fs::write(
        dir.path().join("llama.cpp-1/engine.json"),
        build.to_string(),
    )
    .unwrap();
    let append = dir.path().join("records.jsonl");
    let v = exec_json(
        &[
            "--backend",
            "llama.cpp",
            "--engine",
            engine.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
            "--ctx",
            "256",
            "--append",
            append.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(v["model"]["path"], "llama-Q8_0.gguf");
    let argv: Vec<&str> = v["engine"]["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(argv[..3], ["llama-completion", "-m", "llama-Q8_0.gguf"]);
    let build: serde_json::Value =
        serde_json::from_str(v["engine"]["build"].as_str().unwrap()).unwrap();
    assert_eq!(build["bin"], "bin");
    assert_eq!(build["version"], "1");
    let stored = std::fs::read_to_string(&append).unwrap();
    let root = dir.path().to_str().unwrap();
    assert!(!stored.contains(root), "the stored record names {root}");
    let stored: serde_json::Value = serde_json::from_str(stored.trim()).unwrap();
    assert_eq!(stored, v, "the stored record is the printed one");
}

#[test]
fn the_readable_summary_shows_phases_and_components() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path(), "tiny");
    let out = run_tiny(&model, "--ctx 128 --decode 2");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for word in [
        "status   ok",
        "kv_alloc",
        "prefill",
        "predicted",
        "measured",
        "peak RSS",
    ] {
        assert!(text.contains(word), "{word} missing from:\n{text}");
    }
}

#[test]
fn sweep_list_prints_the_grid_without_running() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path(), "tiny");
    let data = dir.path().join("data");
    let mut args = vec!["sweep", "--model", model.to_str().unwrap()];
    args.extend(["--data-dir", data.to_str().unwrap()]);
    args.extend(words("--list --batch 1,2 --ctx 128,256,512"));
    let out = profiler(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 6);
    assert!(!data.exists(), "--list must not measure");
    let out = profiler(&["sweep", "--list", "--suite", "calibration-cpu"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).lines().count() >= 200);
}

#[test]
fn wrong_input_is_a_clear_error() {
    let cases: &[(&[&str], &str)] = &[
        (&["sweep", "--suite", "nope"], "unknown suite"),
        (&["run", "/nonexistent/m.gguf"], "/nonexistent/m.gguf"),
        (
            &["exec", "--", "/nonexistent/engine"],
            "/nonexistent/engine",
        ),
        (
            &["exec", "--append", "x.jsonl", "--", "true"],
            "--append needs --model",
        ),
    ];
    for (args, needle) in cases {
        let out = profiler(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path(), "tiny");
    let out = run_tiny(&model, "--ctx 64 --decode 64");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--decode 64"), "{}", stderr(&out));
    let out = run_tiny(&model, "--device tpu");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("tpu"), "{}", stderr(&out));
}

#[test]
fn a_cuda_run_without_a_device_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path(), "tiny");
    let out = run_tiny(&model, "--device cuda --ctx 128 --json");
    let err = stderr(&out);
    if out.status.code() == Some(1) {
        assert!(err.contains("no CUDA device"), "{err}");
    } else {
        // A machine with a CUDA device: a record of the run on it, whatever its outcome.
        let v: serde_json::Value =
            serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
        assert_eq!(v["config"]["device"], "cuda:0");
        assert!(v["machine"]["gpu"]["name"].is_string(), "{v}");
    }
}

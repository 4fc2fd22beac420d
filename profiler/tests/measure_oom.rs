//! Children that run out of memory become `oom` records, not crashes of the profiler:
//! an allocation past the child's RLIMIT_AS (set with setrlimit before exec), whether the
//! runtime asked for it fallibly (a typed error) or not (the child's allocator reports the
//! refusal before Rust aborts), and a child killed by the profiler's resident-memory guard. A bad model file is an `error` with a
//! message naming the file, and never a panic.

mod measure_support;

use measure_support::{profiler, run_record, tiny_model, words};
use predictor::record::Status;

#[test]
fn an_allocation_past_rlimit_as_is_an_oom_record() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path(), "tiny");
    // KV cache: 2 layers x K,V x batch 8 x 65536 x 128 x 4 bytes = 1 GiB, far past the
    // 768 MiB address space the child gets (enough for the binary, threads and the model).
    let r = run_record(
        &model,
        &words("--batch 8 --ctx 65536 --kv-dtype f32 --prompt 16 --address-limit 768M"),
    );
    assert_eq!(r.status, Status::Oom, "{:?}", r.message);
    // The runtime allocates the KV cache fallibly: the refusal is a typed error.
    let msg = r.message.unwrap_or_default();
    assert!(
        msg.contains("out of memory") && msg.contains("KV cache"),
        "{msg}"
    );
    // The phases before the failure were kept.
    let names: Vec<&str> = r.measured.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["start", "baseline", "load"]);
}

#[test]
fn an_infallible_allocation_refused_is_reported_by_the_childs_allocator() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path(), "tiny");
    // The KV cache fits (16 MiB); the attention scores of one prefill chunk do not:
    // 8 sequences x 2048 rows x 4 heads x ~4092 positions x 4 bytes = 1 GiB past 768 MiB.
    let r = run_record(
        &model,
        &words(
            "--batch 8 --ctx 4096 --ubatch 2048 --prompt 2048 --kv-dtype f16 \
             --address-limit 768M",
        ),
    );
    assert_eq!(r.status, Status::Oom, "{:?}", r.message);
    let msg = r.message.unwrap_or_default();
    assert!(msg.starts_with("memory allocation of "), "{msg}");
    let names: Vec<&str> = r.measured.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["start", "baseline", "load", "kv_alloc"]);
}

#[test]
fn a_child_killed_by_the_memory_guard_is_an_oom_record() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path(), "tiny");
    // 256 MiB of KV cache against a 64 MiB guard.
    let r = run_record(
        &model,
        &words("--batch 4 --ctx 32768 --kv-dtype f32 --prompt 16 --max-rss 64M"),
    );
    assert_eq!(r.status, Status::Oom, "{:?}", r.message);
    let msg = r.message.unwrap_or_default();
    assert!(msg.contains("killed by the profiler"), "{msg}");
    assert!(r.measured.peak_rss_bytes > 64 << 20);
}

#[test]
fn a_bad_model_file_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.gguf");
    std::fs::write(&bad, b"GGUF\x03\x00\x00\x00garbage").unwrap();
    let out = profiler(&["run", bad.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.gguf"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let missing = dir.path().join("missing.gguf");
    let out = profiler(&["run", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.gguf"));
}

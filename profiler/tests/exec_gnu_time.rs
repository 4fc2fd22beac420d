//! `profiler exec` and `profiler run` agree with GNU time (`/usr/bin/time -v`, "Maximum
//! resident set size") on the same deterministic run, within 2%: one run of the reference
//! runtime (the profiler's own measured child, a 2-layer model with a 64 MiB KV cache),
//! with the per-phase VmHWM reset turned off so that time's `ru_maxrss` covers the whole
//! run.

mod measure_support;

use measure_support::{bin, exec_json, gnu_time, run_record, tiny_model, words};
use predictor::KvDtype;
use predictor::RunConfig;
use profiler::measure::child::NO_RESET_ENV;
use profiler::measure::protocol::ChildSpec;
use std::path::Path;

fn within(a: u64, b: u64, frac: f64) -> bool {
    (a as f64 - b as f64).abs() <= frac * b as f64
}

/// The measured child's spec for the tiny model: `batch` sequences of 8192 positions with
/// an f32 cache (16 MiB per sequence), a 16-token prompt, `decode` steps.
fn child_spec(model: &Path, batch: u32, decode: u32) -> String {
    serde_json::to_string(&ChildSpec {
        model: model.to_path_buf(),
        config: RunConfig {
            batch,
            ctx: 8192,
            ubatch: 16,
            kv_dtype: KvDtype::F32,
            ..RunConfig::default()
        },
        prompt: 16,
        decode,
        gpu_baseline_used: None,
        seed: 1,
    })
    .expect("a spec encodes")
}

#[test]
fn exec_and_run_peaks_match_gnu_time_within_two_percent() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path(), "tiny");
    // KV: 2 layers x K,V x batch 4 x 8192 positions x 128 x 4 bytes = 64 MiB.
    let json = child_spec(&model, 4, 2);
    let child = [bin(), "__child", json.as_str()];
    let env = [(NO_RESET_ENV, "1"), ("MEMCAL_THREADS", "2")];
    let (ok, time_peak) = gnu_time(&child, &env);
    assert!(ok, "the child run failed under time");
    assert!(time_peak > 64 << 20, "time saw {time_peak} bytes");

    // exec: the same child, profiled as an external command.
    let mut args = vec!["--"];
    args.extend_from_slice(&child);
    let report = exec_json(&args, &env);
    assert_eq!(report["status"], "ok");
    let exec_peak = report["measured"]["peak_rss_bytes"].as_u64().unwrap();
    let exec_maxrss = report["measured"]["rusage_maxrss_bytes"].as_u64().unwrap();
    assert!(
        within(exec_peak, time_peak, 0.02),
        "exec peak {exec_peak} vs time {time_peak}"
    );
    assert!(
        within(exec_maxrss, time_peak, 0.02),
        "exec ru_maxrss {exec_maxrss} vs time {time_peak}"
    );
    // The tree poll (every 5 ms) sees the held KV cache and the prefill too.
    let polled = report["measured"]["phases"][0]["peak_rss_bytes"]
        .as_u64()
        .unwrap();
    assert!(
        within(polled, time_peak, 0.05),
        "polled {polled} vs time {time_peak}"
    );

    // run: per-phase peaks (VmHWM reset after each phase); their maximum is the whole-run
    // peak an unreset run shows.
    let rec = run_record(
        &model,
        &words("--batch 4 --ctx 8192 --ubatch 16 --kv-dtype f32 --prompt 16 --decode 2"),
    );
    assert_eq!(
        rec.status,
        predictor::record::Status::Ok,
        "{:?}",
        rec.message
    );
    let run_peak = rec.measured.peak_rss_bytes;
    assert!(
        within(run_peak, time_peak, 0.02),
        "run peak {run_peak} vs time {time_peak}"
    );
    // After the resets, ru_maxrss is the last phase's peak (decode), not the run's.
    let decode = rec.measured.phases.last().unwrap();
    assert_eq!(decode.name, "decode");
    assert!(within(
        rec.measured.rusage_maxrss_bytes,
        decode.peak_rss_bytes,
        0.02
    ));
}

#[test]
fn exec_sums_the_rss_of_the_whole_process_tree() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path(), "tiny");
    let spec = |batch: u32| child_spec(&model, batch, 200);
    // Two children at once under one shell: 32 and 64 MiB of KV cache, held while they
    // decode. Each alone stays below their sum; the tree's peak reaches it.
    let script = format!(
        "\"$0\" __child '{}' >/dev/null & \"$0\" __child '{}' >/dev/null; wait",
        spec(2),
        spec(4)
    );
    let report = exec_json(
        &["--poll-ms", "2", "--", "sh", "-c", &script, bin()],
        &[("MEMCAL_THREADS", "1")],
    );
    let peak = report["measured"]["peak_rss_bytes"].as_u64().unwrap();
    let maxrss = report["measured"]["rusage_maxrss_bytes"].as_u64().unwrap();
    assert!(report["max_processes"].as_u64().unwrap() >= 3, "{report}");
    assert!(peak >= (96 << 20), "tree peak {peak}");
    assert!(
        maxrss < (96 << 20),
        "ru_maxrss {maxrss} is a max, not a sum"
    );
}

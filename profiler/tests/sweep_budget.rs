//! A sweep refuses configurations whose analytic estimate exceeds the memory budget before
//! running them (no child, no record), and runs the ones under it.

mod measure_support;

use measure_support::{profiler, tiny_model, words};
use predictor::record::parse_jsonl;

#[test]
fn configurations_over_the_budget_are_refused_before_they_run() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path(), "tiny");
    let data = dir.path().join("data");
    // ctx 256 is predicted at ~15 MiB; ctx 262144 with batch 8 at several GiB of f32 KV.
    let mut args = vec!["sweep", "--model", model.to_str().unwrap()];
    args.extend(["--data-dir", data.to_str().unwrap()]);
    args.extend(words(
        "--ctx 256,262144 --batch 8 --ubatch 32 --kv-dtype f32 --decode 1 --budget 512M",
    ));
    let out = profiler(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("refused"), "{err}");
    assert!(err.contains("exceeds the budget"), "{err}");
    let mut records = Vec::new();
    for f in std::fs::read_dir(&data).unwrap() {
        let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
        records.extend(parse_jsonl(&text).into_iter().map(|r| r.unwrap()));
    }
    assert_eq!(
        records.len(),
        1,
        "only the configuration under the budget ran"
    );
    assert_eq!(records[0].config.ctx, 256);
}

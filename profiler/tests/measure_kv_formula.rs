//! Doubling the context of a run raises the recorded KV phase (end of `kv_alloc` minus end
//! of `load`) by the KV formula's amount,
//! `batch x ctx x sum over layers of kv_heads x (head_dim_k + head_dim_v) x dtype bytes`,
//! measured through the real runtime in fresh child processes, for f32 and f16 caches.
//!
//! Tolerance: 1% of the expected growth plus 512 KiB. The kernel keeps RSS counters per
//! thread and folds them in batches (up to 64 pages per thread), and the allocator rounds
//! each of the cache's 2 x layers buffers to pages.

mod measure_support;

use measure_support::{phase_rss, run_record, tiny_model};
use predictor::record::Status;
use predictor::KvDtype;

#[test]
fn doubling_the_context_adds_the_kv_formula_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path(), "tiny");
    for (kv, bytes) in [(KvDtype::F32, 4u64), (KvDtype::F16, 2)] {
        let batch = 3u64;
        let run = |ctx: u64| {
            let r = run_record(
                &model,
                &[
                    "--batch",
                    &batch.to_string(),
                    "--ctx",
                    &ctx.to_string(),
                    "--ubatch",
                    "32",
                    "--prompt",
                    "32",
                    "--decode",
                    "1",
                    "--kv-dtype",
                    kv.as_str(),
                ],
            );
            assert_eq!(r.status, Status::Ok, "{:?}", r.message);
            r
        };
        let (small, large) = (run(2048), run(4096));
        let per_token = small.profile.shape.kv_elements_per_token();
        assert_eq!(
            per_token,
            2 * 2 * (64 + 64),
            "2 layers x 2 KV heads x (64 + 64)"
        );
        let kv_phase = |r: &predictor::record::Record| {
            phase_rss(r, "kv_alloc").saturating_sub(phase_rss(r, "load"))
        };
        let (a, b) = (kv_phase(&small), kv_phase(&large));
        let expected_growth = batch * 2048 * per_token * bytes;
        let growth = b as i64 - a as i64;
        let tolerance = expected_growth as f64 * 0.01 + (512 << 10) as f64;
        assert!(
            (growth as f64 - expected_growth as f64).abs() <= tolerance,
            "{kv}: KV phase grew by {growth} bytes, formula says {expected_growth}"
        );
        // The whole phase matches the formula too (the cache is resident when allocated).
        let formula = batch * 4096 * per_token * bytes;
        assert!(
            (b as f64 - formula as f64).abs() <= formula as f64 * 0.01 + (512 << 10) as f64,
            "{kv}: KV phase {b} vs formula {formula}"
        );
        assert_eq!(large.predicted.host.kv_cache, formula);
    }
}

//! The committed tables against `calibration/holdout/`: engine records of models and
//! configurations that no analytic model was shaped on and no table was fitted on
//! (`scripts/engines/holdout.sh`). They must stay within the targets.

use calibration::paths::{default_tables_dir, workspace_root};
use calibration::records::load_dir;
use predictor::table_set::TableSet;

/// Held-out runs known to be under-predicted by more than 2%, with why: (backend, model,
/// context, batch). Each must still miss (a fixed one leaves the list) and stay within
/// -5%; README.md ("The general case") reports them.
const KNOWN_MISSES: &[(&str, &str, u32, u32, &str)] = &[(
    "llama.cpp",
    "ho-moe-mixtral-6x1536-e16-q4k",
    2500,
    3,
    "without mmap, 18.6 MiB resident beyond every buffer the engine printed (which the \
     model matches to the byte): llama.cpp stages each repacked tensor in a fresh vector \
     (27-40 MiB here), which glibc may keep resident once freed; not modelled",
)];

#[test]
fn held_out_engine_records_are_predicted_within_five_percent() {
    let ds = load_dir(&workspace_root().join("calibration").join("holdout")).unwrap();
    let tables = TableSet::from_dir(&default_tables_dir()).unwrap();
    let backends: std::collections::BTreeSet<&str> = ds
        .samples
        .iter()
        .map(|s| s.group.backend.as_str())
        .collect();
    for b in ["llama.cpp", "bitnet.cpp", "bitnet-rs"] {
        assert!(backends.contains(b), "no held-out record of {b}");
    }
    for s in &ds.samples {
        let backend: predictor::Backend = s.group.backend.parse().unwrap();
        let config = predictor::RunConfig {
            margin_pct: 0.0,
            ..s.config.clone()
        };
        let e = predictor::estimate::calibrated_for(backend, &s.profile, &config, &tables).unwrap();
        let err = (e.host_bytes() as f64 - s.measured as f64) / s.measured as f64;
        let known = KNOWN_MISSES.iter().find(|(b, m, ctx, batch, _)| {
            *b == s.group.backend
                && *m == s.model()
                && *ctx == s.config.ctx
                && *batch == s.config.batch
        });
        if let Some((_, m, _, _, why)) = known {
            eprintln!("known miss {m}: {:+.2}% ({why})", err * 100.0);
            assert!(
                (-0.05..-0.02).contains(&err),
                "known miss {m} is now {:+.2}%: take it off KNOWN_MISSES if fixed",
                err * 100.0
            );
            continue;
        }
        assert!(
            (-0.02..=0.05).contains(&err),
            "{} {} ctx {}: {:+.2}%",
            s.group.backend,
            s.model(),
            s.config.ctx,
            err * 100.0
        );
    }
}

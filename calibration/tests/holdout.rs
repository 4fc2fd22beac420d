//! The committed tables against `calibration/holdout/`: engine records of models and
//! configurations that no analytic model was shaped on and no table was fitted on
//! (`scripts/engines/holdout.sh`, `scripts/engines/holdout-deployments.sh`, the held-out
//! shapes of `scripts/engines/sweep-general.sh`). No process may be under-predicted by
//! more than 2%, but for the known misses below (none now); every process stays within 5%
//! above.

use calibration::paths::{default_tables_dir, workspace_root};
use calibration::records::load_dir;
use predictor::calibrate::table_set::TableSet;
use predictor::config::Role;

/// Held-out runs known to be under-predicted by more than 2%, with why: (backend, model,
/// context, batch). Each must still miss (a fixed one leaves the list) and stay within
/// -5%; README.md ("The general case") reports them.
const KNOWN_MISSES: &[(&str, &str, u32, u32, &str)] = &[];

#[test]
fn held_out_engine_records_are_never_under_predicted_and_within_their_bounds_above() {
    let ds = load_dir(&workspace_root().join("calibration").join("holdout")).unwrap();
    let tables = TableSet::from_dir(&default_tables_dir()).unwrap();
    let engines: std::collections::BTreeSet<String> =
        ds.samples.iter().map(|s| s.group.engine()).collect();
    for e in [
        "llama.cpp",
        "bitnet.cpp",
        "bitnet-rs",
        "llama.cpp/server",
        "llama.cpp/rpc-client",
        "llama.cpp/rpc-server",
    ] {
        assert!(engines.contains(e), "no held-out record of {e}");
    }
    for s in &ds.samples {
        let predicted = s
            .calibrated_peak(&tables)
            .unwrap_or_else(|| panic!("{} {}: no estimate", s.group.engine(), s.model()));
        let err = (predicted as f64 - s.measured as f64) / s.measured as f64;
        let known = KNOWN_MISSES.iter().find(|(b, m, ctx, batch, _)| {
            *b == s.group.engine()
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
        let above = match s.group.role {
            Role::RpcClient | Role::RpcServer | Role::Cli | Role::Server => 0.05,
        };
        assert!(
            (-0.02..=above).contains(&err),
            "{} {} ctx {}: {:+.2}%",
            s.group.engine(),
            s.model(),
            s.config.ctx,
            err * 100.0
        );
    }
}

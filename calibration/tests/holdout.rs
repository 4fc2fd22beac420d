//! The committed tables against `calibration/holdout/`: engine records of models and
//! configurations that no analytic model was shaped on and no table was fitted on
//! (`scripts/engines/holdout.sh`). They must stay within the targets.

use calibration::paths::{default_tables_dir, workspace_root};
use calibration::records::load_dir;
use predictor::table_set::TableSet;

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

//! Accuracy regression: the committed records, analysed with the current predictor, must
//! not have a held-out p95 error above the figure of their committed table (and every
//! group with records must have a table). Skipped, with the reason printed, only while
//! `calibration/data` holds no records.

use calibration::analysis::analyse;
use calibration::check::p95_regressions;
use calibration::one_sided::Procedure;
use calibration::paths::{default_data_dir, default_tables_dir};
use calibration::records::load_dir;
use calibration::tables::read_tables;

#[test]
fn committed_held_out_p95_does_not_grow() {
    let ds = load_dir(&default_data_dir()).expect("committed records load");
    if ds.samples.is_empty() {
        println!(
            "skipped: no usable records in {} yet (run the profiler's sweep)",
            default_data_dir().display()
        );
        return;
    }
    let tables: Vec<_> = read_tables(&default_tables_dir())
        .expect("committed tables load")
        .into_iter()
        .map(|(_, _, t)| t)
        .collect();
    let (groups, _) = analyse(&ds, &Procedure::default());
    assert!(
        !groups.is_empty(),
        "records are present but no group could be analysed"
    );
    for g in &groups {
        assert!(
            tables.iter().any(|t| t.name == g.key.name()),
            "group {} has records but no committed table: run `cargo run --release -p \
             calibration -- fit`",
            g.key
        );
    }
    let regressions = p95_regressions(&groups, &tables);
    assert!(regressions.is_empty(), "{regressions:#?}");
}

//! fit -> report -> check on synthetic records in a scratch directory: outputs are
//! byte-identical when regenerated, `check` passes on them and fails on any tampering.
//! (Set `CALIBRATION_E2E_KEEP=<dir>` to keep the generated files for inspection.)

use calibration::analysis::analyse;
use calibration::check::check;
use calibration::one_sided::Procedure;
use calibration::records::load_dir;
use calibration::report::write_report;
use calibration::synthetic::{synthetic_records, Peaks, Truth};
use calibration::tables::{build_table, write_tables};
use std::path::Path;

/// Writes synthetic records for three quantizations, with a torn last line.
fn write_data(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let mut text = String::new();
    for (q, truth) in [
        (
            "I2_S",
            Truth {
                factors: [1.02, 1.0, 0.7, 1.0],
                additive_bytes: 30.0 * 1048576.0,
            },
        ),
        (
            "Q4_0",
            Truth {
                factors: [1.05, 1.1, 0.9, 1.2],
                additive_bytes: 10.0 * 1048576.0,
            },
        ),
        (
            "F16",
            Truth {
                factors: [1.0, 1.0, 1.3, 1.0],
                additive_bytes: 50.0 * 1048576.0,
            },
        ),
    ] {
        // The BitNet group peaks as the runtime does (the larger of load and run).
        let peaks = if q == "I2_S" {
            Peaks::Phased
        } else {
            Peaks::Summed
        };
        for r in synthetic_records(q, &truth, 0.01, peaks) {
            text.push_str(&serde_json::to_string(&r).unwrap());
            text.push('\n');
        }
    }
    text.push_str("{\"schema\":1,\"key\":\"torn");
    std::fs::write(dir.join("synthetic-machine.jsonl"), text).unwrap();
}

/// fit + report into `root`.
fn generate(root: &Path) {
    let ds = load_dir(&root.join("data")).unwrap();
    assert_eq!(ds.warnings.len(), 1, "{:?}", ds.warnings);
    let (groups, skipped) = analyse(&ds, &Procedure::default());
    assert!(skipped.is_empty(), "{skipped:?}");
    let tables: Vec<_> = groups.iter().filter_map(build_table).collect();
    assert_eq!(tables.len(), 3);
    write_tables(&root.join("tables"), &tables).unwrap();
    write_report(&root.join("reports"), &ds, &groups, &skipped).unwrap();
}

fn files(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for sub in ["tables", "reports", "reports/plots"] {
        let mut entries: Vec<_> = std::fs::read_dir(root.join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        entries.sort();
        for p in entries {
            let name = p.strip_prefix(root).unwrap().display().to_string();
            out.push((name, std::fs::read(&p).unwrap()));
        }
    }
    out
}

#[test]
fn outputs_are_deterministic_and_checked() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    for root in [a.path(), b.path()] {
        write_data(&root.join("data"));
        generate(root);
    }
    let (fa, fb) = (files(a.path()), files(b.path()));
    // 3 tables, the report, the GPU log corpus's report and 7 plots (PNG and SVG each).
    assert_eq!(
        fa.len(),
        3 + 2 + 14,
        "{:?}",
        fa.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for (x, y) in fa.iter().zip(&fb) {
        assert_eq!(x.0, y.0);
        assert!(x.1 == y.1, "{} differs between two generations", x.0);
    }
    let md = String::from_utf8(
        fa.iter()
            .find(|f| f.0.ends_with("accuracy.md"))
            .unwrap()
            .1
            .clone(),
    )
    .unwrap();
    assert!(md.contains("## memcal-candle/cpu/I2_S"));
    assert!(md.contains("leave-one-shape-out"));
    if let Some(keep) = std::env::var_os("CALIBRATION_E2E_KEEP") {
        let keep = Path::new(&keep);
        for (name, bytes) in &fa {
            let p = keep.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
    }

    let root = a.path();
    let run = || {
        check(
            &root.join("data"),
            &root.join("tables"),
            &root.join("reports"),
            &Procedure::default(),
        )
        .unwrap()
    };
    let ok = run();
    assert!(ok.passed(), "{:?}", ok.problems);
    assert_eq!(ok.checked.len(), 3 + 2 + 14);

    // A hand-edited table figure is caught, with the field named.
    let table = root.join("tables/memcal-candle.cpu.Q4_0.json");
    let text = std::fs::read_to_string(&table).unwrap();
    let edited = text.replacen("\"headroom_pct\": ", "\"headroom_pct\": 1", 1);
    std::fs::write(&table, &edited).unwrap();
    let bad = run();
    assert!(
        bad.problems
            .iter()
            .any(|p| p.contains("Q4_0") && p.contains("headroom_pct")),
        "{:?}",
        bad.problems
    );
    std::fs::write(&table, &text).unwrap();

    // A stale plot and a changed report are caught.
    std::fs::write(root.join("reports/plots/old.png"), b"x").unwrap();
    std::fs::write(root.join("reports/accuracy.md"), "edited").unwrap();
    let bad = run();
    assert_eq!(bad.problems.len(), 2, "{:?}", bad.problems);
}

#[test]
fn a_malformed_middle_line_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let truth = Truth {
        factors: [1.0; 4],
        additive_bytes: 0.0,
    };
    let r =
        serde_json::to_string(&synthetic_records("Q8_0", &truth, 0.0, Peaks::Summed)[0]).unwrap();
    std::fs::write(dir.path().join("m.jsonl"), format!("{r}\nnot json\n{r}\n")).unwrap();
    let e = load_dir(dir.path()).unwrap_err().to_string();
    assert!(e.contains("m.jsonl:2:"), "{e}");
}

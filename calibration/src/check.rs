//! `calibration check`: recompute the tables and the report from the committed records
//! and compare them with the committed files, byte for byte, and make sure no group's
//! held-out p95 grew past the figure its committed table promises.

use crate::analysis::{analyse, GroupAnalysis};
use crate::error::{CalibrationError, Result};
use crate::one_sided::Procedure;
use crate::records::load_dir;
use crate::report::{write_report, PLOTS_DIR};
use crate::tables::{build_tables, file_name, read_tables, to_json};
use predictor::table::CalibrationTable;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Slack when comparing a recomputed p95 with a table's rounded figure.
const P95_SLACK: f64 = 1e-6;

/// What `check` found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckOutcome {
    /// Everything that differs or regressed (empty: the check passes).
    pub problems: Vec<String>,
    /// What was compared, for the summary.
    pub checked: Vec<String>,
}

impl CheckOutcome {
    /// Whether nothing differs.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Fields of two tables that differ, by name.
fn table_differences(fresh: &CalibrationTable, committed: &CalibrationTable) -> Vec<String> {
    let as_map = |t: &CalibrationTable| -> BTreeMap<String, String> {
        match serde_json::to_value(t) {
            Ok(serde_json::Value::Object(m)) => {
                m.into_iter().map(|(k, v)| (k, v.to_string())).collect()
            }
            _ => BTreeMap::new(),
        }
    };
    let (a, b) = (as_map(fresh), as_map(committed));
    a.iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, v)| {
            let old = b.get(k).map(String::as_str).unwrap_or("(missing)");
            format!("{k}: committed {old}, recomputed {v}")
        })
        .collect()
}

/// Held-out p95 regressions: a group whose recomputed validation p95 exceeds its
/// committed table's figure.
pub fn p95_regressions(groups: &[GroupAnalysis], committed: &[CalibrationTable]) -> Vec<String> {
    let mut out = Vec::new();
    for t in committed {
        let Some(g) = groups.iter().find(|g| g.key.name() == t.name) else {
            continue;
        };
        let Some(v) = g.validation() else { continue };
        if v.stats.p95_abs_rel > t.validation.p95_abs_rel + P95_SLACK {
            out.push(format!(
                "{}: held-out p95 grew from {:.4}% (committed table) to {:.4}% ({})",
                t.name,
                t.validation.p95_abs_rel * 100.0,
                v.stats.p95_abs_rel * 100.0,
                v.scheme
            ));
        }
    }
    out
}

/// Compares the tables recomputed from `groups` with the committed ones in `dir`.
fn check_tables(groups: &[GroupAnalysis], dir: &Path, outcome: &mut CheckOutcome) -> Result<()> {
    let committed = read_tables(dir)?;
    let fresh: Vec<CalibrationTable> = build_tables(groups);
    for t in &fresh {
        let name = file_name(t);
        match committed.iter().find(|(n, _, _)| *n == name) {
            None => outcome
                .problems
                .push(format!("table {name} is missing: run `calibration fit`")),
            Some((_, text, old)) if *text != to_json(t) => {
                let diffs = table_differences(t, old);
                outcome.problems.push(format!(
                    "table {name} differs from what the records give: {}",
                    if diffs.is_empty() {
                        "formatting".to_string()
                    } else {
                        diffs.join("; ")
                    }
                ));
            }
            Some(_) => outcome.checked.push(format!("table {name}")),
        }
    }
    for (name, _, _) in &committed {
        if !fresh.iter().any(|t| file_name(t) == *name) {
            outcome.problems.push(format!(
                "table {name} has no group in the records any more: run `calibration fit`"
            ));
        }
    }
    let tables: Vec<CalibrationTable> = committed.into_iter().map(|(_, _, t)| t).collect();
    outcome.problems.extend(p95_regressions(groups, &tables));
    Ok(())
}

/// The files of a directory tree, relative to it with `/` separators, sorted.
fn tree_files(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack: Vec<(PathBuf, String)> = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, prefix)) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(CalibrationError::io(&d, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| CalibrationError::io(&d, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = format!("{prefix}{name}");
            if entry.path().is_dir() {
                stack.push((entry.path(), format!("{rel}/")));
            } else {
                out.push(rel);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Regenerates the report into a scratch directory and compares it with `dir`.
fn check_report(
    ds: &crate::records::Dataset,
    groups: &[GroupAnalysis],
    skipped: &[String],
    dir: &Path,
    outcome: &mut CheckOutcome,
) -> Result<()> {
    let scratch =
        std::env::temp_dir().join(format!("memcal-calibration-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let result = write_report(&scratch, ds, groups, skipped).and_then(|written| {
        for rel in &written {
            let fresh = scratch.join(rel);
            let fresh_bytes = std::fs::read(&fresh).map_err(|e| CalibrationError::io(&fresh, e))?;
            match std::fs::read(dir.join(rel)) {
                Ok(bytes) if bytes == fresh_bytes => outcome.checked.push(format!("report {rel}")),
                Ok(_) => outcome.problems.push(format!(
                    "report {rel} differs from what the records give: run `calibration report`"
                )),
                Err(_) => outcome
                    .problems
                    .push(format!("report {rel} is missing: run `calibration report`")),
            }
        }
        for rel in tree_files(&dir.join(PLOTS_DIR))? {
            let rel = format!("{PLOTS_DIR}/{rel}");
            if !written.contains(&rel) {
                outcome
                    .problems
                    .push(format!("report {rel} is not generated any more: remove it"));
            }
        }
        Ok(())
    });
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// Runs every check.
pub fn check(
    data_dir: &Path,
    tables_dir: &Path,
    reports_dir: &Path,
    procedure: &Procedure,
) -> Result<CheckOutcome> {
    let ds = load_dir(data_dir)?;
    let (groups, skipped) = analyse(&ds, procedure);
    let mut outcome = CheckOutcome::default();
    check_tables(&groups, tables_dir, &mut outcome)?;
    check_report(&ds, &groups, &skipped, reports_dir, &mut outcome)?;
    Ok(outcome)
}

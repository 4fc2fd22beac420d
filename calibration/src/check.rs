//! `calibration check`: recompute the tables and the report from the committed records
//! and compare them with the committed files, and make sure no group's held-out p95 grew
//! past the figure its committed table promises.
//!
//! Numbers are compared with a tolerance, not byte for byte, so that another libm or CPU
//! rounding a last digit differently does not fail the check: table fields within a
//! relative 1e-6, printed numbers (the report, the SVG plots) within one unit of their
//! last printed digit. The PNG plots are drawn from the same data as the SVGs, so only
//! their presence is checked.

use crate::analysis::{analyse, GroupAnalysis};
use crate::error::{CalibrationError, Result};
use crate::one_sided::Procedure;
use crate::records::load_dir;
use crate::report::{write_report, PLOTS_DIR};
use crate::tables::{build_tables, file_name, read_tables, to_json};
use predictor::calibrate::table::CalibrationTable;
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

/// Relative tolerance of table numbers.
const TABLE_REL_TOLERANCE: f64 = 1e-6;

/// Whether two JSON values are equal, numbers within [`TABLE_REL_TOLERANCE`].
fn json_close(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as V;
    match (a, b) {
        (V::Number(x), V::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => {
                (x - y).abs() <= TABLE_REL_TOLERANCE * x.abs().max(y.abs()).max(1e-9)
            }
            _ => x == y,
        },
        (V::Array(x), V::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_close(p, q))
        }
        (V::Object(x), V::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_close(v, w)))
        }
        _ => a == b,
    }
}

/// Fields of two tables that differ, by name.
fn table_differences(fresh: &CalibrationTable, committed: &CalibrationTable) -> Vec<String> {
    let as_map = |t: &CalibrationTable| -> BTreeMap<String, serde_json::Value> {
        match serde_json::to_value(t) {
            Ok(serde_json::Value::Object(m)) => m.into_iter().collect(),
            _ => BTreeMap::new(),
        }
    };
    let (a, b) = (as_map(fresh), as_map(committed));
    a.iter()
        .filter(|(k, v)| b.get(*k).is_none_or(|w| !json_close(v, w)))
        .map(|(k, v)| {
            let old = b
                .get(k)
                .map_or_else(|| "(missing)".to_string(), |w| w.to_string());
            format!("{k}: committed {old}, recomputed {v}")
        })
        .collect()
}

/// Splits text into runs of digits (with one decimal point) and everything else.
fn tokens(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_number = false;
    let mut seen_point = false;
    for (i, c) in text.char_indices() {
        let number_char = c.is_ascii_digit() || (c == '.' && in_number && !seen_point);
        if number_char != in_number {
            if i > start {
                out.push(&text[start..i]);
            }
            start = i;
            in_number = c.is_ascii_digit();
            seen_point = false;
        }
        if in_number && c == '.' {
            seen_point = true;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// Whether two texts are the same but for printed decimals that differ by at most one unit
/// of their last printed digit; integers too when `integers_may_round` (pixel positions in
/// a plot), else they must match (counts in a report).
pub fn texts_close(a: &str, b: &str, integers_may_round: bool) -> bool {
    let (x, y) = (tokens(a), tokens(b));
    x.len() == y.len()
        && x.iter().zip(&y).all(|(p, q)| {
            if p == q {
                return true;
            }
            let digits = |t: &str| t.split('.').nth(1).map_or(0, str::len);
            match (p.parse::<f64>(), q.parse::<f64>()) {
                (Ok(u), Ok(v)) if p.chars().next().is_some_and(|c| c.is_ascii_digit()) => {
                    let places = digits(p).max(digits(q));
                    if places == 0 && !integers_may_round {
                        return false;
                    }
                    let unit = 10f64.powi(-(places as i32));
                    (u - v).abs() <= unit * 1.000_001
                }
                _ => false,
            }
        })
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
            let same = |bytes: &[u8]| {
                if rel.ends_with(".png") {
                    // Drawn from the same data as its SVG, which is compared.
                    return true;
                }
                match (
                    std::str::from_utf8(bytes),
                    std::str::from_utf8(&fresh_bytes),
                ) {
                    (Ok(a), Ok(b)) => texts_close(a, b, rel.ends_with(".svg")),
                    _ => bytes == fresh_bytes.as_slice(),
                }
            };
            match std::fs::read(dir.join(rel)) {
                Ok(bytes) if same(&bytes) => outcome.checked.push(format!("report {rel}")),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_numbers_may_differ_in_their_last_digit_only() {
        assert!(texts_close(
            "p95 0.89% of 12.5 MiB",
            "p95 0.90% of 12.5 MiB",
            false
        ));
        assert!(texts_close("x=10.25 y=3", "x=10.26 y=3", false));
        assert!(!texts_close("p95 0.89%", "p95 0.91%", false));
        assert!(!texts_close("p95 0.89%", "p95 0.89 %", false));
        assert!(!texts_close("llama.cpp", "llama.cpq", false));
        assert!(!texts_close("3 records", "4 records", false));
        // A plot's pixel positions may round either way.
        assert!(texts_close(
            "<circle cx=\"103\"",
            "<circle cx=\"104\"",
            true
        ));
        assert!(texts_close("1.5.2", "1.5.2", false));
    }

    #[test]
    fn table_numbers_are_compared_with_a_relative_tolerance() {
        let a = serde_json::json!({"f": 1.0000001, "s": "x", "v": [1, 2.0]});
        let b = serde_json::json!({"f": 1.0, "s": "x", "v": [1, 2.0]});
        assert!(json_close(&a, &b));
        let c = serde_json::json!({"f": 1.001, "s": "x", "v": [1, 2.0]});
        assert!(!json_close(&a, &c));
        let d = serde_json::json!({"f": 1.0, "s": "y", "v": [1, 2.0]});
        assert!(!json_close(&b, &d));
    }
}

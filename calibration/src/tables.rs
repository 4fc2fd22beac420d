//! Calibration tables: built from a group's analysis, written as deterministic JSON (one
//! file per group, fixed field order, numbers rounded to a fixed precision so the same
//! records give byte-identical files), and read back.

use crate::analysis::GroupAnalysis;
use crate::error::{CalibrationError, Result};
use crate::meaning::meaning;
use crate::paths::files_with_extension;
use crate::records::bits_per_weight;
use crate::records::ALL_TYPES;
use crate::stats::median;
use predictor::calibrate::table::{
    CalibrationTable, Correction, ErrorStats, Provenance, TABLE_FORMAT_VERSION,
};
use std::collections::BTreeSet;
use std::path::Path;

/// The command that regenerates the tables, stored in their provenance.
pub const GENERATED_BY: &str = "cargo run --release -p calibration -- fit";

/// Decimals kept for factors and error fractions.
pub const DECIMALS: i32 = 6;

/// `x` rounded to `decimals` decimals (and -0 made 0), so the JSON text is stable.
pub fn rounded(x: f64, decimals: i32) -> f64 {
    let p = 10f64.powi(decimals);
    let r = (x * p).round() / p;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

/// A correction at the table's precision (factors to [`DECIMALS`], whole bytes).
pub fn rounded_correction(c: &Correction) -> Correction {
    Correction {
        weights: rounded(c.weights, DECIMALS),
        kv_cache: rounded(c.kv_cache, DECIMALS),
        activations: rounded(c.activations, DECIMALS),
        overhead: rounded(c.overhead, DECIMALS),
        additive_bytes: rounded(c.additive_bytes, 0),
    }
}

/// Error figures at the table's precision.
pub fn rounded_stats(s: &ErrorStats) -> ErrorStats {
    ErrorStats {
        count: s.count,
        median_abs_rel: rounded(s.median_abs_rel, DECIMALS),
        p95_abs_rel: rounded(s.p95_abs_rel, DECIMALS),
        max_abs_rel: rounded(s.max_abs_rel, DECIMALS),
        under_2pct_rate: rounded(s.under_2pct_rate, DECIMALS),
        worst_under_bytes: s.worst_under_bytes,
    }
}

/// Sorted, de-duplicated strings.
fn sorted_set<'a>(items: impl Iterator<Item = &'a String>) -> Vec<String> {
    items
        .collect::<BTreeSet<&String>>()
        .into_iter()
        .cloned()
        .collect()
}

/// Stored bits per weight of the group's quantization type: the median over its records'
/// profiles (the predictor uses it to pick the nearest table for an unmeasured type).
pub fn group_bits_per_weight(g: &GroupAnalysis) -> f64 {
    let v: Vec<f64> = g
        .samples
        .iter()
        .map(|s| bits_per_weight(&s.profile, &g.key.qtype))
        .collect();
    median(&v)
}

/// The tables to ship for analysed groups: every validated group's table, except an
/// external engine's per-weight-type table that validates worse than that engine's
/// all-types table (the predictor then uses the all-types one, and says so).
pub fn build_tables(groups: &[GroupAnalysis]) -> Vec<CalibrationTable> {
    let all: Vec<CalibrationTable> = groups.iter().filter_map(build_table).collect();
    let p95_of_all = |t: &CalibrationTable| {
        all.iter()
            .find(|a| {
                a.backend == t.backend
                    && a.role == t.role
                    && a.device_kind == t.device_kind
                    && a.qtype == ALL_TYPES
            })
            .map(|a| (a.validation.p95_abs_rel, a.validation.under_2pct_rate))
    };
    all.iter()
        .filter(|t| {
            t.qtype == ALL_TYPES
                || !crate::records::pools_types(&t.backend, t.device_kind)
                || p95_of_all(t).is_none_or(|(p95, under)| {
                    t.validation.p95_abs_rel <= p95 && t.validation.under_2pct_rate <= under
                })
        })
        .cloned()
        .collect()
}

/// The table of an analysed group; `None` when it has no held-out validation.
pub fn build_table(g: &GroupAnalysis) -> Option<CalibrationTable> {
    let validation = g.validation()?;
    let mut lines = vec![format!(
        "validation: {} ({} folds), the scheme with the larger held-out p95",
        validation.scheme, validation.folds
    )];
    lines.extend(meaning(g));
    Some(CalibrationTable {
        format: TABLE_FORMAT_VERSION,
        name: g.key.name(),
        backend: g.key.backend.clone(),
        role: g.key.role,
        device_kind: g.key.device_kind,
        qtype: g.key.qtype.clone(),
        bits_per_weight: rounded(group_bits_per_weight(g), 4),
        correction: rounded_correction(&g.calibrated.correction),
        headroom_pct: rounded(g.headroom_pct(), 1),
        validation: rounded_stats(&validation.stats),
        meaning: lines,
        provenance: Provenance {
            machines: sorted_set(g.samples.iter().map(|s| &s.machine)),
            commits: sorted_set(g.samples.iter().map(|s| &s.commit)),
            records: g.samples.len() as u64,
            data_files: sorted_set(g.samples.iter().map(|s| &s.data_file)),
            generated_by: GENERATED_BY.to_string(),
            engine_versions: sorted_set(
                g.samples
                    .iter()
                    .map(|s| &s.engine_version)
                    .filter(|v| !v.is_empty()),
            ),
        },
    })
}

/// The JSON text of a table: pretty-printed in the struct's field order, newline-ended.
pub fn to_json(t: &CalibrationTable) -> String {
    // Serialising plain data with string keys cannot fail; fall back to the compact form
    // of the same value rather than panic if it ever did.
    let mut s = serde_json::to_string_pretty(t).unwrap_or_else(|e| format!("{{\"error\":{e:?}}}"));
    s.push('\n');
    s
}

/// The file name of a table (`<backend>[.<role>].<device kind>.<qtype>.json`), the same
/// as its group's ([`crate::records::GroupKey::file_name`]).
pub fn file_name(t: &CalibrationTable) -> String {
    crate::records::GroupKey {
        backend: t.backend.clone(),
        role: t.role,
        device_kind: t.device_kind,
        qtype: t.qtype.clone(),
    }
    .file_name()
}

/// Reads every table of a directory: (file name, JSON text, parsed table), sorted.
pub fn read_tables(dir: &Path) -> Result<Vec<(String, String, CalibrationTable)>> {
    let mut out = Vec::new();
    for p in files_with_extension(dir, "json")? {
        let text = std::fs::read_to_string(&p).map_err(|e| CalibrationError::io(&p, e))?;
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let table = CalibrationTable::from_json(&name, &text).map_err(|source| {
            CalibrationError::Table {
                path: p.clone(),
                source,
            }
        })?;
        out.push((name, text, table));
    }
    Ok(out)
}

/// Writes the tables into `dir` (created if needed) and removes the `*.json` files there
/// that no longer correspond to a group. Returns (written, removed) file names.
pub fn write_tables(dir: &Path, tables: &[CalibrationTable]) -> Result<(Vec<String>, Vec<String>)> {
    std::fs::create_dir_all(dir).map_err(|e| CalibrationError::io(dir, e))?;
    let names: BTreeSet<String> = tables.iter().map(file_name).collect();
    let mut removed = Vec::new();
    for p in files_with_extension(dir, "json")? {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !names.contains(&name) {
            std::fs::remove_file(&p).map_err(|e| CalibrationError::io(&p, e))?;
            removed.push(name);
        }
    }
    for t in tables {
        let p = dir.join(file_name(t));
        crate::paths::write_atomic(&p, to_json(t))?;
    }
    Ok((names.into_iter().collect(), removed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::analyse_group;
    use crate::one_sided::Procedure;
    use crate::records::Sample;
    use crate::synthetic::{synthetic_group, Truth};

    fn table() -> CalibrationTable {
        let truth = Truth {
            factors: [1.03, 1.0, 0.7, 1.1],
            additive_bytes: 20.0 * 1048576.0,
        };
        let samples: Vec<Sample> = synthetic_group("I2_S", &truth, 0.01);
        let key = samples[0].group.clone();
        let g = analyse_group(&key, samples, &Procedure::default()).unwrap();
        build_table(&g).unwrap()
    }

    #[test]
    fn json_round_trips_and_is_deterministic() {
        let t = table();
        let text = to_json(&t);
        let back = CalibrationTable::from_json("t", &text).unwrap();
        assert_eq!(back, t);
        assert_eq!(to_json(&back), text, "re-serialising changes nothing");
        assert_eq!(to_json(&table()), text, "a second fit gives the same bytes");
        assert_eq!(file_name(&t), "memcal-candle.cpu.I2_S.json");
        assert_eq!(t.name, "memcal-candle/cpu/I2_S");
        assert_eq!(t.provenance.records, 150);
        assert_eq!(t.provenance.generated_by, GENERATED_BY);
        assert!(t.validation.count > 0 && t.validation.p95_abs_rel > 0.0);
        assert!(t
            .meaning
            .iter()
            .any(|m| m.starts_with("terms: factor per component")));
        // The truth holds 3% more weight bytes than stored: the meaning must say so.
        let weights = t.meaning.iter().find(|m| m.starts_with("weights")).unwrap();
        assert!(
            weights.starts_with("weights x1.0") && weights.contains("exceed the stored"),
            "{weights}"
        );
    }

    #[test]
    fn write_replaces_stale_tables_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("memcal-candle.cpu.OLD.json"), "{}").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "kept").unwrap();
        let t = table();
        let (written, removed) = write_tables(dir.path(), std::slice::from_ref(&t)).unwrap();
        assert_eq!(written, vec!["memcal-candle.cpu.I2_S.json".to_string()]);
        assert_eq!(removed, vec!["memcal-candle.cpu.OLD.json".to_string()]);
        assert!(dir.path().join("notes.txt").exists());
        let read = read_tables(dir.path()).unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].2, t);
        assert_eq!(read[0].1, to_json(&t));
    }

    #[test]
    fn rounding_is_fixed_and_signless_at_zero() {
        assert_eq!(rounded(1.0300000049, 6), 1.03);
        assert_eq!(rounded(-1e-9, 6).to_bits(), 0f64.to_bits());
        assert_eq!(rounded(12345.6, 0), 12346.0);
    }
}

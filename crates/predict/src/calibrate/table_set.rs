//! The set of calibration tables an estimate can use: the ones embedded at build time
//! (from `crates/predict/tables/*.json`), or tables read from files.

use super::table::CalibrationTable;
use crate::config::{DeviceKind, Role};
use crate::error::{Error, Result};
use std::path::Path;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_tables.rs"));
}

/// The `qtype` of a backend's table fitted over all its weight types.
pub const ALL_TYPES: &str = "all";

/// How a table was chosen for a model and device.
#[derive(Debug, Clone, PartialEq)]
pub struct TableMatch<'a> {
    /// The table.
    pub table: &'a CalibrationTable,
    /// True when backend, device kind and quantization all matched, or the table is the
    /// backend's own all-types table (validated on every weight type it measured).
    pub exact: bool,
    /// Why this table, when it is a fallback.
    pub note: Option<String>,
}

/// A collection of calibration tables.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableSet {
    tables: Vec<CalibrationTable>,
}

impl TableSet {
    /// The tables shipped inside this binary.
    pub fn embedded() -> Result<TableSet> {
        let tables = embedded::TABLES
            .iter()
            .map(|(name, text)| CalibrationTable::from_json(name, text))
            .collect::<Result<Vec<_>>>()?;
        Ok(TableSet { tables })
    }

    /// No tables: estimates stay analytic.
    pub fn empty() -> TableSet {
        TableSet::default()
    }

    /// Tables from one JSON file (a single table).
    pub fn from_file(path: &Path) -> Result<TableSet> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| Error::io(path.to_path_buf(), source))?;
        let table = CalibrationTable::from_json(&path.display().to_string(), &text)?;
        Ok(TableSet {
            tables: vec![table],
        })
    }

    /// Tables from every `*.json` file of a directory, in file-name order.
    pub fn from_dir(dir: &Path) -> Result<TableSet> {
        let io = |source| Error::io(dir.to_path_buf(), source);
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        let mut tables = Vec::new();
        for p in paths {
            tables.extend(TableSet::from_file(&p)?.tables);
        }
        Ok(TableSet { tables })
    }

    /// All tables.
    pub fn tables(&self) -> &[CalibrationTable] {
        &self.tables
    }

    /// Whether the set holds no table.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// The table for (backend, role, device kind, quantization), looked up by exact
    /// backend name and role (another engine's table, or another process's, is never
    /// used): the exact one; else the backend's table over all its weight types
    /// ([`ALL_TYPES`]); else the backend's table whose bits per weight are nearest to
    /// `bpw`. None when the backend has no table for this role and device kind.
    pub fn find(
        &self,
        backend: &str,
        role: Role,
        device_kind: DeviceKind,
        qtype: &str,
        bpw: f64,
    ) -> Option<TableMatch<'_>> {
        let own = || {
            self.tables
                .iter()
                .filter(|t| t.device_kind == device_kind && t.backend == backend && t.role == role)
        };
        // The engine as tables name it: `llama.cpp`, `llama.cpp/server`, ...
        let backend = if role.is_cli() {
            backend.to_string()
        } else {
            format!("{backend}/{role}")
        };
        if let Some(t) = own().find(|t| t.qtype == qtype) {
            return Some(TableMatch {
                table: t,
                exact: true,
                note: None,
            });
        }
        if let Some(t) = own().find(|t| t.qtype == ALL_TYPES) {
            // Validated on every weight type the engine was measured with (models held
            // out whole): its own figures hold, no widening.
            return Some(TableMatch {
                table: t,
                exact: true,
                note: Some(format!(
                    "no calibration table for {backend}/{device_kind}/{qtype}; using {}, fitted \
                     and validated over all of {backend}'s weight types",
                    t.name
                )),
            });
        }
        let distance = |t: &CalibrationTable| (t.bits_per_weight - bpw).abs();
        let nearest = own().min_by(|a, b| distance(a).total_cmp(&distance(b)))?;
        Some(TableMatch {
            table: nearest,
            exact: false,
            note: Some(format!(
                "no calibration table for {backend}/{device_kind}/{qtype}; using the nearest, {} \
                 ({:.2} vs {:.2} bits per weight), with widened headroom",
                nearest.name, nearest.bits_per_weight, bpw
            )),
        })
    }

    /// The engine versions the tables of `backend` were measured on.
    pub fn engine_versions(&self, backend: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .tables
            .iter()
            .filter(|t| t.backend == backend)
            .flat_map(|t| t.provenance.engine_versions.iter().cloned())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

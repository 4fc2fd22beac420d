//! Calibration tables: the format the calibration crate writes and the predictor applies.
//!
//! A table corrects the analytic components of one (backend, device kind, quantization)
//! group: `calibrated = weights*fw + kv*fk + activations*fa + overhead*fo + additive`.
//! It carries the held-out error measured when it was fitted, which sets the headroom.

use crate::components::Components;
use crate::config::{DeviceKind, Role};
use crate::error::Error;
use serde::{Deserialize, Serialize};

/// Version of the table format.
pub const TABLE_FORMAT_VERSION: u32 = 1;

/// Multiplicative factors per component and an additive term.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Correction {
    /// Factor on the weight bytes.
    pub weights: f64,
    /// Factor on the KV cache bytes.
    pub kv_cache: f64,
    /// Factor on the activation/workspace bytes.
    pub activations: f64,
    /// Factor on the runtime overhead bytes.
    pub overhead: f64,
    /// Bytes added (may be negative).
    pub additive_bytes: f64,
}

impl Correction {
    /// The identity correction.
    pub const IDENTITY: Correction = Correction {
        weights: 1.0,
        kv_cache: 1.0,
        activations: 1.0,
        overhead: 1.0,
        additive_bytes: 0.0,
    };

    /// Applies the factors to analytic components; the additive term goes to overhead.
    /// Headroom is left as it is (the caller sets it).
    pub fn apply(&self, c: &Components) -> Components {
        let scale = |v: u64, f: f64| (v as f64 * f).max(0.0).round() as u64;
        let overhead = (c.overhead as f64 * self.overhead + self.additive_bytes).max(0.0);
        Components {
            weights: scale(c.weights, self.weights),
            kv_cache: scale(c.kv_cache, self.kv_cache),
            activations: scale(c.activations, self.activations),
            overhead: overhead.round() as u64,
            headroom: c.headroom,
        }
    }
}

/// Error figures of a table, measured on held-out records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorStats {
    /// Records evaluated.
    pub count: u64,
    /// Median absolute relative error of the total.
    pub median_abs_rel: f64,
    /// 95th percentile absolute relative error of the total.
    pub p95_abs_rel: f64,
    /// Largest absolute relative error.
    pub max_abs_rel: f64,
    /// Fraction of records under-predicted by more than 2%.
    pub under_2pct_rate: f64,
    /// Largest under-prediction in bytes (0 when none).
    pub worst_under_bytes: u64,
}

/// Where a table's numbers came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// Machine fingerprints of the records.
    pub machines: Vec<String>,
    /// git commits that produced the records.
    pub commits: Vec<String>,
    /// Records used for the fit.
    pub records: u64,
    /// Data files read.
    pub data_files: Vec<String>,
    /// The command that regenerates the table.
    pub generated_by: String,
    /// Versions of the engine that produced the records (build number, commit), for
    /// external engines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub engine_versions: Vec<String>,
}

/// One calibration table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationTable {
    /// Format version ([`TABLE_FORMAT_VERSION`]).
    pub format: u32,
    /// Name, `<backend>/<device kind>/<qtype>`.
    pub name: String,
    /// Backend the records came from (`memcal-candle`, ...).
    pub backend: String,
    /// The process of a deployment the table is for (omitted: a command-line run).
    #[serde(default, skip_serializing_if = "Role::is_cli")]
    pub role: Role,
    /// The device kind it was measured on.
    pub device_kind: DeviceKind,
    /// Dominant weight type of the models (e.g. `I2_S`).
    pub qtype: String,
    /// Stored bits per weight of that type (from the records' profiles); used to find the
    /// nearest table for a type that was never measured.
    #[serde(default)]
    pub bits_per_weight: f64,
    /// The fitted correction.
    pub correction: Correction,
    /// Headroom to keep, in percent of the calibrated use, from the held-out error.
    pub headroom_pct: f64,
    /// Held-out validation figures.
    pub validation: ErrorStats,
    /// What each factor means, in words, for the report and `--help` readers.
    pub meaning: Vec<String>,
    /// Where the numbers came from.
    pub provenance: Provenance,
}

impl CalibrationTable {
    /// Parses and checks a table from JSON text.
    pub fn from_json(name: &str, text: &str) -> Result<CalibrationTable, Error> {
        let t: CalibrationTable = serde_json::from_str(text).map_err(|e| Error::Table {
            name: name.to_string(),
            what: e.to_string(),
        })?;
        if t.format != TABLE_FORMAT_VERSION {
            return Err(Error::Table {
                name: name.to_string(),
                what: format!(
                    "format {} is not supported (expected {TABLE_FORMAT_VERSION})",
                    t.format
                ),
            });
        }
        let c = t.correction;
        let finite = [
            c.weights,
            c.kv_cache,
            c.activations,
            c.overhead,
            c.additive_bytes,
        ]
        .iter()
        .all(|v| v.is_finite());
        if !finite || c.weights < 0.0 || c.kv_cache < 0.0 || c.activations < 0.0 {
            return Err(Error::Table {
                name: name.to_string(),
                what: "correction factors must be finite and non-negative".into(),
            });
        }
        Ok(t)
    }
}

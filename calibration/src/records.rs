//! Loading measured records (`calibration/data/*.jsonl`) into fit samples.
//!
//! Every successful record becomes a [`Sample`]: its group (backend, device kind,
//! dominant quantization), its model shape, the analytic components on the measured
//! device (recomputed with the current predictor, see [`crate::analytic`]) and the
//! measured peak. Records that did not complete (`oom`, `error`) or carry no peak for
//! their device are counted and left out.

use crate::analytic::{self, Source};
use crate::error::{CalibrationError, Result};
use crate::paths::{display_name, files_with_extension};
pub use predictor::calibrate::table_set::ALL_TYPES;
use predictor::components::Components;
use predictor::config::{DeviceKind, Role, RunConfig};
use predictor::profile::ModelProfile;
use predictor::record::{Record, Status, RECORD_SCHEMA_VERSION};
use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

/// The records a table is fitted on: one backend, one device kind, one quantization type
/// ([`weight_qtype`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey {
    /// Runtime measured (`memcal-candle`, ...).
    pub backend: String,
    /// The process of the deployment (a command-line run, a server, an RPC client or
    /// worker): each is calibrated on its own.
    pub role: Role,
    /// The device kind measured.
    pub device_kind: DeviceKind,
    /// Dominant weight type (`I2_S`, `Q4_0`, ...).
    pub qtype: String,
}

/// Whether a backend is an external engine.
pub fn is_engine(backend: &str) -> bool {
    backend != predictor::backend::Backend::Memcal.name()
}

/// Whether records of this backend and device kind also form one group over all weight
/// types ([`ALL_TYPES`]): every external engine, and every backend on CUDA (a GPU run
/// measures few models of each type, so per-type groups rarely hold two shapes). A
/// per-type group of such a backend needs two shapes and must validate as well as the
/// all-types group to ship a table of its own.
pub fn pools_types(backend: &str, device_kind: DeviceKind) -> bool {
    is_engine(backend) || device_kind == DeviceKind::Cuda
}

impl GroupKey {
    /// Whether a sample of group `g` belongs to this group (itself, or the all-types group
    /// of its backend and device).
    pub fn contains(&self, g: &GroupKey) -> bool {
        self == g
            || (self.qtype == ALL_TYPES
                && self.backend == g.backend
                && self.role == g.role
                && self.device_kind == g.device_kind)
    }

    /// The backend with its role, as tables and reports name them: `llama.cpp` for a
    /// command-line run, `llama.cpp/server`, `llama.cpp/rpc-server`...
    pub fn engine(&self) -> String {
        if self.role.is_cli() {
            self.backend.clone()
        } else {
            format!("{}/{}", self.backend, self.role)
        }
    }

    /// The table name, `<backend>[/<role>]/<device kind>/<qtype>`.
    pub fn name(&self) -> String {
        format!("{}/{}/{}", self.engine(), self.device_kind, self.qtype)
    }

    /// The table file name, `<backend>[.<role>].<device kind>.<qtype>.json`.
    pub fn file_name(&self) -> String {
        format!(
            "{}.{}.{}.json",
            self.engine().replace('/', "."),
            self.device_kind,
            self.qtype
        )
    }
}

impl fmt::Display for GroupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A model shape: what leave-one-shape-out holds out together. Two files with the same
/// shape but another quantization share a shape (they fall in different groups anyway).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShapeKey {
    /// Architecture name.
    pub architecture: String,
    /// Transformer blocks.
    pub n_layers: u32,
    /// Embedding width.
    pub hidden: u64,
    /// Query heads.
    pub n_heads: u32,
    /// KV heads per layer.
    pub n_kv_heads: Vec<u32>,
    /// Feed-forward width.
    pub ffn: u64,
    /// Vocabulary size.
    pub vocab: u64,
}

impl ShapeKey {
    /// The shape of a profile.
    pub fn of(p: &ModelProfile) -> ShapeKey {
        ShapeKey {
            architecture: p.shape.architecture.clone(),
            n_layers: p.shape.n_layers,
            hidden: p.shape.hidden,
            n_heads: p.shape.n_heads,
            n_kv_heads: p.shape.n_kv_heads.clone(),
            ffn: p.shape.ffn,
            vocab: p.shape.vocab,
        }
    }
}

impl fmt::Display for ShapeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kv = match (self.n_kv_heads.iter().min(), self.n_kv_heads.iter().max()) {
            (Some(a), Some(b)) if a != b => format!("{a}-{b}"),
            (Some(a), _) => a.to_string(),
            _ => "0".into(),
        };
        write!(
            f,
            "{} L{} d{} h{}/{} ffn{} v{}",
            self.architecture, self.n_layers, self.hidden, self.n_heads, kv, self.ffn, self.vocab
        )
    }
}

/// The two phases of a run whose larger peak is the run's peak: analytic components and
/// measured peaks of the load and of the rest of the run (KV allocation, prefill, decode).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phases {
    /// Analytic components of the load phase.
    pub load: Components,
    /// Analytic components of the run after the load.
    pub run: Components,
    /// Measured peak of the load phase, bytes.
    pub load_peak: u64,
    /// Measured peak of the phases after the load, bytes.
    pub run_peak: u64,
    /// Measured resident bytes before the load (the process base the analytic
    /// overhead models), bytes.
    pub baseline: u64,
}

/// Measured (load, run) peaks of a record: the `load` phase's peak, and the largest
/// peak of the `kv_alloc`, `prefill` and `decode` phases (GPU peaks on CUDA). `None` when
/// a record lacks either.
pub fn phase_peaks(record: &Record) -> Option<(u64, u64)> {
    let peak = |p: &predictor::record::PhaseMeasure| {
        if record.config.device.is_cuda() {
            p.gpu_peak_used_bytes
        } else {
            Some(p.peak_rss_bytes)
        }
    };
    let phases = &record.measured.phases;
    let load = phases.iter().find(|p| p.name == "load").and_then(peak)?;
    let run = phases
        .iter()
        .filter(|p| matches!(p.name.as_str(), "kv_alloc" | "prefill" | "decode"))
        .filter_map(peak)
        .max()?;
    Some((load, run))
}

/// One measured configuration, ready to fit.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The table group it belongs to.
    pub group: GroupKey,
    /// The model shape.
    pub shape: ShapeKey,
    /// The model's profile (kept to draw predicted curves).
    pub profile: ModelProfile,
    /// The configuration measured.
    pub config: RunConfig,
    /// Analytic components on the measured device (GPU on CUDA, host on CPU).
    pub components: Components,
    /// Whether the components were recomputed or taken from the record.
    pub source: Source,
    /// The load and run phases, where the record has both and the split is known.
    pub phases: Option<Phases>,
    /// The measured peak on that device, bytes.
    pub measured: u64,
    /// Machine fingerprint.
    pub machine: String,
    /// git commit that produced the record.
    pub commit: String,
    /// Data file (workspace-relative) the record came from.
    pub data_file: String,
    /// The model file's content hash: what leave-one-model-out holds out together.
    pub model_id: String,
    /// The external engine's version (build number, commit), empty for the reference
    /// runtime.
    pub engine_version: String,
    /// The buffers the engine reported in its log (empty for the reference runtime).
    pub engine_buffers: Vec<predictor::buffer::EngineBuffer>,
    /// In a split run, the device this process is (an RPC worker's name).
    pub device_name: Option<String>,
}

impl Sample {
    /// The analytic peak (sum of the components, no headroom).
    pub fn analytic_used(&self) -> u64 {
        self.components.used()
    }

    /// The model name (profile name).
    pub fn model(&self) -> &str {
        &self.profile.name
    }

    /// The calibrated peak of this sample's process with `tables`, no headroom (margin 0):
    /// what `predictor estimate --margin 0` says for it. None when the predictor cannot
    /// estimate it.
    pub fn calibrated_peak(
        &self,
        tables: &predictor::calibrate::table_set::TableSet,
    ) -> Option<u64> {
        let backend = self.group.backend.parse::<predictor::Backend>().ok()?;
        let config = RunConfig {
            margin_pct: 0.0,
            ..self.config.clone()
        };
        let e =
            predictor::calibrate::calibrated_for(backend, &self.profile, &config, tables).ok()?;
        match &self.device_name {
            Some(d) => e.device(d).map(|d| d.memory.total()),
            None if config.device.is_cuda() => e.gpu_bytes(),
            None => Some(e.host_bytes()),
        }
    }
}

/// Everything read from a data directory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset {
    /// Usable samples, in file then line order.
    pub samples: Vec<Sample>,
    /// Data files read (workspace-relative), sorted.
    pub files: Vec<String>,
    /// Records that did not complete (`oom` or `error`).
    pub not_ok: usize,
    /// Completed records with no peak for their device.
    pub no_peak: usize,
    /// Completed records whose peak is below [`MIN_PEAK_BYTES`], left out.
    pub below_resolution: usize,
    /// Warnings to print (torn last lines, analytic fallbacks).
    pub warnings: Vec<String>,
    /// The commit of the build that measured each usable sample (`+dirty` for a tree with
    /// uncommitted changes), in sample order.
    pub commits: Vec<String>,
}

impl Dataset {
    /// The groups present, sorted: one per (backend, device kind, weight type), and one more
    /// over all weight types ([`ALL_TYPES`]) where [`pools_types`] says so.
    pub fn groups(&self) -> Vec<GroupKey> {
        let mut set: BTreeSet<GroupKey> = self.samples.iter().map(|s| s.group.clone()).collect();
        for s in &self.samples {
            if pools_types(&s.group.backend, s.group.device_kind) {
                set.insert(GroupKey {
                    qtype: ALL_TYPES.to_string(),
                    ..s.group.clone()
                });
            }
        }
        set.into_iter().collect()
    }

    /// The samples of one group, in load order.
    pub fn group(&self, key: &GroupKey) -> Vec<Sample> {
        self.samples
            .iter()
            .filter(|s| key.contains(&s.group))
            .cloned()
            .collect()
    }
}

/// Parses one JSON Lines file. A line that does not parse is an error naming the file and
/// line, except a torn last line (the file does not end with a newline, as after a crash
/// mid-write), which is skipped with a warning.
pub fn parse_records(path: &Path, text: &str) -> Result<(Vec<Record>, Vec<String>)> {
    let last_line = text.lines().count();
    let torn_tail = !text.is_empty() && !text.ends_with('\n');
    let mut records = Vec::new();
    let mut warnings = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let line = i + 1;
        if l.trim().is_empty() {
            continue;
        }
        let bad = |what: String| CalibrationError::Record {
            path: path.to_path_buf(),
            line,
            what,
        };
        match serde_json::from_str::<Record>(l) {
            Ok(r) if r.schema != RECORD_SCHEMA_VERSION => {
                return Err(bad(format!(
                    "record schema {} is not supported (expected {RECORD_SCHEMA_VERSION})",
                    r.schema
                )))
            }
            Ok(r) => records.push(r),
            Err(e) if torn_tail && line == last_line => warnings.push(format!(
                "{}:{line}: skipped a torn last line ({e})",
                display_name(path)
            )),
            Err(e) => return Err(bad(e.to_string())),
        }
    }
    Ok((records, warnings))
}

/// The quantization a table is for: the quantized storage type holding the most weight
/// elements, or the profile's dominant type when nothing is quantized (F16, F32 models).
///
/// Not simply `dominant_type`: BitNet files keep the token embedding (and an untied output)
/// in F16, which in a small model holds more elements than the ternary blocks, yet the
/// model's memory behaviour is that of its I2_S/TL2 blocks.
pub fn weight_qtype(profile: &ModelProfile) -> String {
    // The predictor's rule, so a table is found for exactly the models it was fitted on.
    profile
        .weight_type()
        .map_or_else(String::new, |t| t.name().to_string())
}

/// Stored bits per weight of `qtype` in a profile (0 when absent).
pub fn bits_per_weight(profile: &ModelProfile, qtype: &str) -> f64 {
    predictor::calibrate::bits_per_weight(profile, qtype.parse().ok())
}

/// Turns a completed record into a sample; `None` when it has no usable peak.
pub fn sample_of(record: &Record, data_file: &str) -> Option<Sample> {
    let measured = record.measured_peak().filter(|&m| m > 0)?;
    let (components, source) = analytic::components(record);
    let phases = phase_peaks(record).and_then(|(load_peak, run_peak)| {
        let (load, run) = analytic::phase_components(
            &record.profile,
            &analytic::run_config(record),
            &record.backend,
            &components,
        )?;
        Some(Phases {
            load,
            run,
            load_peak,
            run_peak,
            baseline: record.measured.baseline_rss_bytes,
        })
    });
    Some(Sample {
        group: GroupKey {
            backend: record.backend.clone(),
            role: record.role,
            device_kind: record.config.device.kind(),
            qtype: weight_qtype(&record.profile),
        },
        shape: ShapeKey::of(&record.profile),
        profile: record.profile.clone(),
        config: analytic::run_config(record),
        components,
        source,
        phases,
        measured,
        machine: record.machine.fingerprint.clone(),
        commit: record.software.git_commit.clone(),
        data_file: data_file.to_string(),
        model_id: record.model.hash.clone(),
        engine_version: record
            .engine
            .as_ref()
            .map(|e| e.version.clone())
            .unwrap_or_default(),
        engine_buffers: record
            .engine
            .as_ref()
            .map(|e| e.buffers.clone())
            .unwrap_or_default(),
        device_name: record.device_name.clone(),
    })
}

/// Records whose measured peak is below this are left out of fitting and validation.
///
/// The kernel keeps RSS counters per CPU and folds them in batches, so VmRSS/VmHWM read up
/// to about 0.25 MiB off per counter (anonymous and file pages: about 0.5 MiB in all, seen
/// in the profiler's measurements). Below 32 MiB that resolution is more than 1.5% of the
/// peak, the same size as the 2% under-prediction target, so such records (the profiler's
/// tiny smoke-test models) measure the counters more than the model; no deployed model is
/// that small.
pub const MIN_PEAK_BYTES: u64 = 32 << 20;

/// Reads every `*.jsonl` file of `dir` (sorted by name). A missing directory is an empty
/// dataset, so the commands work before the first sweep.
pub fn load_dir(dir: &Path) -> Result<Dataset> {
    let mut ds = Dataset::default();
    let paths = files_with_extension(dir, "jsonl")?;
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|e| CalibrationError::io(&path, e))?;
        let (records, warnings) = parse_records(&path, &text)?;
        let name = display_name(&path);
        ds.warnings.extend(warnings);
        let mut fallbacks = 0usize;
        for r in &records {
            if r.status != Status::Ok {
                ds.not_ok += 1;
                continue;
            }
            if r.measured_peak()
                .is_some_and(|m| m > 0 && m < MIN_PEAK_BYTES)
            {
                ds.below_resolution += 1;
                continue;
            }
            match sample_of(r, &name) {
                Some(s) => {
                    if let Source::Stored(_) = s.source {
                        fallbacks += 1;
                    }
                    ds.samples.push(s);
                    ds.commits.push(r.software.git_commit.clone());
                }
                None => ds.no_peak += 1,
            }
        }
        if fallbacks > 0 {
            ds.warnings.push(format!(
                "{name}: {fallbacks} record(s) use the analytic prediction stored at \
                 measurement time (the current predictor cannot recompute them)"
            ));
        }
        ds.files.push(name);
    }
    Ok(ds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{synthetic_profile, Peaks};

    #[test]
    fn weight_qtype_prefers_the_quantized_blocks_over_a_large_f16_embedding() {
        let mut p = synthetic_profile(0, "I2_S");
        // A small BitNet model: the F16 embedding holds the most elements.
        p.by_type
            .entry("F16".parse().unwrap())
            .or_default()
            .elements = 1 << 40;
        p.dominant_type = "F16".parse().ok();
        assert_eq!(weight_qtype(&p), "I2_S");
        assert!((bits_per_weight(&p, "I2_S") - 2.0).abs() < 0.01);
        let f16 = synthetic_profile(0, "F16");
        assert_eq!(weight_qtype(&f16), "F16");
        let f32 = synthetic_profile(0, "F32");
        assert_eq!(weight_qtype(&f32), "F32");
        assert_eq!(bits_per_weight(&f32, "Q4_0"), 0.0);
    }

    #[test]
    fn a_torn_last_line_is_skipped_with_a_warning() {
        let truth = crate::synthetic::Truth {
            factors: [1.0; 4],
            additive_bytes: 0.0,
        };
        let r = serde_json::to_string(
            &crate::synthetic::synthetic_records("Q8_0", &truth, 0.0, Peaks::Summed)[0],
        )
        .unwrap();
        let path = Path::new("x.jsonl");
        let (records, warnings) = parse_records(path, &format!("{r}\n\n{r}\n{{\"sche")).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("x.jsonl:4"), "{warnings:?}");
        // The same bad line followed by a newline is not torn: it is an error.
        let e = parse_records(path, &format!("{r}\n{{\"sche\n")).unwrap_err();
        assert!(e.to_string().contains("x.jsonl:2:"), "{e}");
        let mut other = r.replacen("\"schema\":1", "\"schema\":2", 1);
        other.push('\n');
        let e = parse_records(path, &other).unwrap_err();
        assert!(e.to_string().contains("schema 2"), "{e}");
    }
}

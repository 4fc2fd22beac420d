//! `predictor inspect`: what a model file holds, as a serde structure and as a readable
//! table.

use crate::error::Result;
use crate::profile::{Experts, MlaHeads, ModelFormat, TensorRole, TypeStats};
use crate::read::{open_model, OpenedModel};
use crate::weight_type::WeightType;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The shape fields of a model (the profile's hyperparameters).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hparams {
    /// Transformer blocks.
    pub n_layers: u32,
    /// Embedding width.
    pub hidden: u64,
    /// Query heads.
    pub n_heads: u32,
    /// KV heads per block.
    pub n_kv_heads: Vec<u32>,
    /// Per-head key width.
    pub head_dim_k: u32,
    /// Per-head value width.
    pub head_dim_v: u32,
    /// Feed-forward width (per expert for MoE).
    pub ffn: u64,
    /// Vocabulary size.
    pub vocab: u64,
    /// Training context (0: unknown).
    pub ctx_train: u64,
    /// Output projection tied to the token embedding.
    pub tied_embeddings: bool,
    /// Sliding-window size.
    pub sliding_window: Option<u64>,
    /// Which blocks slide (empty: none, or all when a window is set).
    pub sliding_layers: Vec<bool>,
    /// MoE shape.
    pub experts: Option<Experts>,
    /// Multi-head latent attention's trained head widths (absent for other attention).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mla: Option<MlaHeads>,
}

/// GGUF-specific header facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GgufDetails {
    /// Format version.
    pub version: u32,
    /// Data alignment.
    pub alignment: u64,
    /// Where tensor data starts.
    pub data_offset: u64,
    /// Number of metadata keys.
    pub n_kv: u64,
}

/// Everything `inspect` reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inspection {
    /// The file inspected.
    pub path: String,
    /// `gguf` or `safetensors`.
    pub format: ModelFormat,
    /// Architecture (`general.architecture` or `model_type`).
    pub architecture: String,
    /// Number of tensors.
    pub n_tensors: u64,
    /// Parameters (elements of all tensors; packed ternary U8 counts 4 per byte).
    pub n_params: u64,
    /// Sum of stored tensor sizes, padding excluded.
    pub tensor_data_bytes: u64,
    /// Bytes of the file(s).
    pub file_bytes: u64,
    /// The model's weight type (see [`crate::profile::weight_type`]; `""` without tensors).
    #[serde(with = "crate::weight_type::name_or_empty")]
    pub dominant_type: Option<WeightType>,
    /// Tensors, elements and bytes per storage type.
    pub by_type: BTreeMap<WeightType, TypeStats>,
    /// Bytes per role.
    pub by_role: BTreeMap<TensorRole, u64>,
    /// The largest tensor in bytes.
    pub largest_tensor_bytes: u64,
    /// Shape.
    pub hparams: Hparams,
    /// GGUF header facts (absent for SafeTensors).
    pub gguf: Option<GgufDetails>,
    /// Notes from the reader (type-id readings, defaults, inconsistencies).
    pub notes: Vec<String>,
}

/// Reads the model at `path` and reports what it holds.
pub fn inspect(path: &Path) -> Result<Inspection> {
    // A lone SafeTensors file (or index) without config.json: what its header holds.
    if crate::read::lacks_config(path) && path.is_file() {
        let name = path.to_string_lossy().to_ascii_lowercase();
        let ck = if name.ends_with(".index.json") {
            crate::safetensors::Checkpoint::open_index(path)?
        } else {
            crate::safetensors::Checkpoint::open_file(path)?
        };
        let p = crate::read::profile_without_config(&ck);
        return Ok(inspection(ck.path.display().to_string(), p, None));
    }
    inspect_opened(&open_model(path)?)
}

/// Reports what an opened model holds (a file, or a model reference's headers).
pub fn inspect_opened(opened: &OpenedModel) -> Result<Inspection> {
    let p = opened.profile()?;
    let (shown, gguf) = match opened {
        OpenedModel::Gguf(g) => (
            g.path.display().to_string(),
            Some(GgufDetails {
                version: g.version,
                alignment: g.alignment,
                data_offset: g.data_offset,
                n_kv: g.n_kv() as u64,
            }),
        ),
        OpenedModel::SafeTensors(ck, _) => (ck.path.display().to_string(), None),
    };
    Ok(inspection(shown, p, gguf))
}

/// The inspection of a profile.
fn inspection(
    shown: String,
    p: crate::profile::ModelProfile,
    gguf: Option<GgufDetails>,
) -> Inspection {
    Inspection {
        path: shown,
        format: p.format,
        architecture: p.shape.architecture,
        n_tensors: p.by_type.values().map(|s| s.tensors).sum(),
        n_params: p.n_params,
        tensor_data_bytes: p.tensor_data_bytes,
        file_bytes: p.file_bytes,
        dominant_type: p.dominant_type,
        by_type: p.by_type,
        by_role: p.by_role,
        largest_tensor_bytes: p.largest_tensor_bytes,
        hparams: Hparams {
            n_layers: p.shape.n_layers,
            hidden: p.shape.hidden,
            n_heads: p.shape.n_heads,
            n_kv_heads: p.shape.n_kv_heads,
            head_dim_k: p.shape.head_dim_k,
            head_dim_v: p.shape.head_dim_v,
            ffn: p.shape.ffn,
            vocab: p.shape.vocab,
            ctx_train: p.shape.ctx_train,
            tied_embeddings: p.shape.tied_embeddings,
            sliding_window: p.shape.sliding_window,
            sliding_layers: p.shape.sliding_layers,
            experts: p.shape.experts,
            mla: p.shape.mla,
        },
        gguf,
        notes: p.notes,
    }
}

/// `1234567` as `1,234,567`.
pub fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut groups: Vec<&str> = digits
        .as_bytes()
        .rchunks(3)
        .map(|g| std::str::from_utf8(g).unwrap_or_default())
        .collect();
    groups.reverse();
    groups.join(",")
}

/// Bytes in binary units (`1.10 GiB`): the one formatter every command uses.
pub use crate::units::human_bytes;

/// A count in decimal units (`2.41 B`, `125.3 M`).
fn human_count(n: u64) -> String {
    let v = n as f64;
    if v >= 1e9 {
        format!("{:.2} B", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.1} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} K", v / 1e3)
    } else {
        n.to_string()
    }
}

fn share(part: u64, total: u64) -> String {
    if total == 0 {
        "-".to_string()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / total as f64)
    }
}

/// The KV heads as one number, or `min..max (per block)` when they vary.
fn kv_summary(kv: &[u32]) -> String {
    let lo = kv.iter().min().copied().unwrap_or(0);
    let hi = kv.iter().max().copied().unwrap_or(0);
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}..{hi} (per block)")
    }
}

/// A readable report.
pub fn render_text(i: &Inspection) -> String {
    let mut s = String::new();
    let fmt = match (&i.format, &i.gguf) {
        (_, Some(g)) => format!(
            "GGUF v{}, alignment {}, {} keys, data at {}",
            g.version,
            g.alignment,
            g.n_kv,
            group_digits(g.data_offset)
        ),
        (ModelFormat::Safetensors, None) => "SafeTensors + config.json".to_string(),
        (ModelFormat::Preset, None) => "preset".to_string(),
        (ModelFormat::Gguf, None) => "GGUF".to_string(),
    };
    let _ = writeln!(s, "file          {} ({fmt})", i.path);
    let _ = writeln!(s, "architecture  {}", i.architecture);
    let _ = writeln!(s, "tensors       {}", group_digits(i.n_tensors));
    let _ = writeln!(
        s,
        "parameters    {} ({})",
        human_count(i.n_params),
        group_digits(i.n_params)
    );
    let _ = writeln!(
        s,
        "tensor data   {} B ({}), dominant type {}",
        group_digits(i.tensor_data_bytes),
        human_bytes(i.tensor_data_bytes),
        i.dominant_type.as_ref().map_or("", WeightType::name)
    );
    let _ = writeln!(
        s,
        "file size     {} B ({})",
        group_digits(i.file_bytes),
        human_bytes(i.file_bytes)
    );
    let _ = writeln!(
        s,
        "largest       {} B",
        group_digits(i.largest_tensor_bytes)
    );
    render_hparams(&mut s, &i.hparams);
    render_tables(&mut s, i);
    s
}

/// The hyperparameters' lines.
fn render_hparams(s: &mut String, h: &Hparams) {
    let _ = writeln!(s, "\nhparams");
    let _ = writeln!(
        s,
        "  layers {}, hidden {}, heads {} / kv {}, head dim {}/{}",
        h.n_layers,
        h.hidden,
        h.n_heads,
        kv_summary(&h.n_kv_heads),
        h.head_dim_k,
        h.head_dim_v
    );
    let ctx = if h.ctx_train == 0 {
        "unknown".to_string()
    } else {
        h.ctx_train.to_string()
    };
    let _ = writeln!(
        s,
        "  ffn {}, vocab {}, context {ctx}, tied embeddings {}",
        h.ffn,
        h.vocab,
        if h.tied_embeddings { "yes" } else { "no" }
    );
    if let Some(w) = h.sliding_window {
        let which = if h.sliding_layers.is_empty() {
            "all blocks".to_string()
        } else {
            format!(
                "{} of {} blocks",
                h.sliding_layers.iter().filter(|&&b| b).count(),
                h.sliding_layers.len()
            )
        };
        let _ = writeln!(s, "  sliding window {w} ({which})");
    }
    if let Some(e) = h.experts {
        let _ = writeln!(s, "  experts {} ({} per token)", e.total, e.active);
    }
    if let Some(m) = h.mla {
        let _ = writeln!(
            s,
            "  latent attention (MLA): heads trained {}/{} wide, cached as one {}-wide row per \
             token",
            m.k, m.v, h.head_dim_k
        );
    }
}

/// The tables by type and by role, and the notes.
fn render_tables(s: &mut String, i: &Inspection) {
    let _ = writeln!(s, "\nby type");
    let _ = writeln!(
        s,
        "  {:<12} {:>8} {:>18} {:>18} {:>7}",
        "TYPE", "TENSORS", "ELEMENTS", "BYTES", "SHARE"
    );
    for (name, t) in &i.by_type {
        let _ = writeln!(
            s,
            "  {:<12} {:>8} {:>18} {:>18} {:>7}",
            name,
            group_digits(t.tensors),
            group_digits(t.elements),
            group_digits(t.bytes),
            share(t.bytes, i.tensor_data_bytes)
        );
    }
    let _ = writeln!(s, "\nby role");
    for (role, bytes) in &i.by_role {
        let name = serde_json::to_value(role)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "  {:<12} {:>18} {:>7}",
            name,
            group_digits(*bytes),
            share(*bytes, i.tensor_data_bytes)
        );
    }
    if !i.notes.is_empty() {
        let _ = writeln!(s, "\nnotes");
        for n in &i.notes {
            let _ = writeln!(s, "  - {n}");
        }
    }
}

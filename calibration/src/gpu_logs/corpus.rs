//! The corpus files (calibration/gpu-logs/*.json): one public GPU run each, with its
//! source, build, GPUs, the model as the log printed it, the flags that change memory
//! and every buffer line (see calibration/gpu-logs/README.md for the schema).

use crate::error::{CalibrationError, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The build a run printed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Build {
    /// Build number (`build: 5269 (1d36b367)`).
    #[serde(default, deserialize_with = "lenient")]
    pub number: Option<u32>,
    /// Where the log prints no build line: the builds it lies between, `[first, last]`,
    /// from what the thread does print (the same user's builds before and after, a
    /// message only some builds print). `source_note` says how they were found.
    #[serde(default)]
    pub bounds: Option<[u32; 2]>,
}

impl Build {
    /// The build a replay runs the rules of: the printed number, else the first of the
    /// bounds (a run with bounds is covered only where every build in them gives the same
    /// buffers).
    pub fn replayed(&self) -> Option<u32> {
        self.number.or(self.bounds.map(|[first, _]| first))
    }

    /// How reports name it: `b5898`, `b5898-6019` for bounds, `b?` for neither.
    pub fn label(&self) -> String {
        match (self.number, self.bounds) {
            (Some(n), _) => format!("b{n}"),
            (None, Some([first, last])) => format!("b{first}-{last}"),
            (None, None) => "b?".into(),
        }
    }
}

/// One GPU of a run.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Gpu {
    /// Device index.
    #[serde(default, deserialize_with = "nullable")]
    pub index: u32,
    /// Device name.
    #[serde(default, deserialize_with = "nullable")]
    pub name: Option<String>,
    /// Free memory the engine saw at load, MiB.
    #[serde(default, deserialize_with = "lenient")]
    pub free_mib: Option<f64>,
}

/// The model as the log printed it (`print_info`, the loader's type counts).
#[derive(Debug, Clone, Default, Deserialize)]
#[allow(missing_docs)]
pub struct Model {
    pub arch: Option<String>,
    pub ftype: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub n_ctx_train: Option<u64>,
    #[serde(default, deserialize_with = "lenient")]
    pub n_embd: Option<u64>,
    #[serde(default, deserialize_with = "lenient")]
    pub n_layer: Option<u32>,
    #[serde(default, deserialize_with = "lenient")]
    pub n_head: Option<u32>,
    #[serde(default, deserialize_with = "lenient")]
    pub n_head_kv: Option<u32>,
    #[serde(default, deserialize_with = "lenient")]
    pub n_embd_head_k: Option<u32>,
    #[serde(default, deserialize_with = "lenient")]
    pub n_ff: Option<u64>,
    #[serde(default, deserialize_with = "lenient")]
    pub n_vocab: Option<u64>,
    #[serde(default, deserialize_with = "lenient")]
    pub n_expert: Option<u32>,
    #[serde(default, deserialize_with = "lenient")]
    pub n_expert_used: Option<u32>,
    #[serde(default, deserialize_with = "lenient")]
    pub n_ff_exp: Option<u64>,
    #[serde(default, deserialize_with = "lenient")]
    pub n_rot: Option<u32>,
    #[serde(default, deserialize_with = "nullable")]
    pub type_counts: BTreeMap<String, u64>,
}

/// The flags that change memory.
#[derive(Debug, Clone, Default, Deserialize)]
#[allow(missing_docs)]
pub struct Flags {
    /// The command line as the log or thread printed it.
    pub command_line: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub n_ctx: Option<u64>,
    #[serde(default, deserialize_with = "lenient")]
    pub n_ubatch: Option<u32>,
    #[serde(default, deserialize_with = "lenient")]
    pub n_seq_max: Option<u32>,
    pub flash_attn: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "lenient")]
    pub n_gpu_layers: Option<i64>,
    pub offloaded_printed: Option<String>,
    pub type_k: Option<String>,
    pub type_v: Option<String>,
    pub kv_unified: Option<serde_json::Value>,
    pub mmap: Option<bool>,
    pub split_mode: Option<String>,
    pub tensor_split: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "nullable")]
    pub override_tensor: Option<Vec<String>>,
    pub n_cpu_moe: Option<serde_json::Value>,
    pub no_kv_offload: Option<serde_json::Value>,
}

/// One printed buffer line.
#[derive(Debug, Clone, Deserialize)]
pub struct Buffer {
    /// The verbatim line.
    pub line: String,
    /// Its buffer type (`CUDA0`, `CUDA_Host`, `CPU_Mapped`...).
    pub device: String,
    /// `model`, `kv`, `kv_swa`, `compute`, `output`, `rs` or `other`.
    pub kind: String,
    /// The printed size, MiB.
    pub mib: f64,
}

/// One public run.
#[derive(Debug, Clone, Deserialize)]
#[allow(missing_docs)]
pub struct Run {
    pub id: String,
    pub source_url: String,
    pub engine: String,
    #[serde(default, deserialize_with = "nullable")]
    pub build: Build,
    pub backend: String,
    #[serde(default, deserialize_with = "nullable")]
    pub gpus: Vec<Gpu>,
    #[serde(default, deserialize_with = "nullable")]
    pub model: Model,
    #[serde(default, deserialize_with = "nullable")]
    pub flags: Flags,
    #[serde(default, deserialize_with = "nullable")]
    pub buffers: Vec<Buffer>,
    #[serde(default, deserialize_with = "nullable")]
    pub memory_breakdown: Vec<String>,
    /// Whether the run was added after the rules it is replayed by were settled, and no
    /// rule was changed after holding it against them: a held-out run.
    #[serde(default)]
    pub held_out: bool,
}

/// A number as the log gave it, or none where it gave something else (a per-layer list,
/// a remark).
fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
{
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::Number(n) => n.to_string().parse().ok(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// A field that may be `null`: its default then.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Every run of the corpus folder, in file-name order.
pub fn load(dir: &Path) -> Result<Vec<Run>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| CalibrationError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).map_err(|e| CalibrationError::io(p, e))?;
            serde_json::from_str(&text).map_err(|e| CalibrationError::GpuLog {
                path: p.clone(),
                what: e.to_string(),
            })
        })
        .collect()
}

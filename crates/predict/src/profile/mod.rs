//! The model profile: everything about a model that memory depends on, read from a file's
//! header (GGUF, SafeTensors + config.json, see [`crate::read`]) or taken from a preset.
//! [`shape`] holds the hyperparameters with llama.cpp's per-layer queries, [`tensors`]
//! what the tensor table says.

pub mod shape;
pub mod tensors;

pub use shape::{Experts, MlaHeads, ModelShape};
pub use tensors::{
    BlockNorms, BlockWeights, HeaderStats, LayerParts, MatmulWeight, TensorRole, TensorSpans,
    TypeStats,
};

use crate::error::{Error, Result};
use crate::weight_type::WeightType;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a profile came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelFormat {
    /// A GGUF file (v2 or v3).
    Gguf,
    /// A SafeTensors checkpoint (single file or sharded) with its config.json.
    Safetensors,
    /// A built-in shape from [`crate::presets`], no file read.
    Preset,
}

/// The weight type a model "is", from its bytes by type: the quantized type (a ggml block
/// type, a BitNet ternary type, or SafeTensors' packed ternary U8) holding the most
/// weights; when nothing is quantized, the type holding the most weights. Ties go to the
/// first name. Counting weights rather than bytes, and preferring quantized types, keeps a
/// BitNet file an I2_S model although its F16 embedding may hold more bytes (or, in a small
/// model, more weights) than its ternary projections. Calibration tables are keyed by it.
/// None for a profile without tensors.
pub fn weight_type(by_type: &BTreeMap<WeightType, TypeStats>) -> Option<WeightType> {
    let most = |only_quantized: bool| {
        by_type
            .iter()
            .filter(|(n, _)| !only_quantized || n.is_quantized())
            .fold(
                None,
                |best: Option<(&WeightType, u64)>, (n, t)| match best {
                    Some((_, e)) if e >= t.elements => best,
                    _ => Some((n, t.elements)),
                },
            )
            .map(|(n, _)| *n)
    };
    most(true).or_else(|| most(false))
}

/// Everything about a model that its memory depends on.
///
/// Shapes come from the header keys (or config.json); sizes come from the tensor table, so
/// they are exact for the file, whatever quantization mix it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelProfile {
    /// A short name (file stem or preset name).
    pub name: String,
    /// Where the profile came from.
    pub format: ModelFormat,
    /// The hyperparameters (written inline, as the profile's own fields).
    #[serde(flatten)]
    pub shape: ModelShape,
    /// Total parameters (elements of all tensors).
    pub n_params: u64,
    /// Stored tensor bytes, padding excluded.
    pub tensor_data_bytes: u64,
    /// Bytes of the whole file (0 for presets).
    pub file_bytes: u64,
    /// The model's weight type (see [`weight_type`]), e.g. `I2_S`, `Q4_0`, `F16`
    /// (written `""` when the model has no tensors).
    #[serde(with = "crate::weight_type::name_or_empty")]
    pub dominant_type: Option<WeightType>,
    /// Tensors, elements and bytes by storage type.
    pub by_type: BTreeMap<WeightType, TypeStats>,
    /// Stored bytes by role.
    pub by_role: BTreeMap<TensorRole, u64>,
    /// Stored bytes of each transformer block's tensors (length `n_layers`).
    pub layer_bytes: Vec<u64>,
    /// The largest single tensor in bytes (loaders keep a transient copy of one tensor).
    pub largest_tensor_bytes: u64,
    /// The largest tensor in elements (a loader that dequantizes to f32 needs 4 bytes each).
    pub largest_tensor_elements: u64,
    /// Peak bytes while loading the tensors one at a time in file order when every tensor
    /// that is converted into another storage (all types but the packed ternary I2_S, TL1,
    /// TL2) is briefly held twice: `max_i(bytes before i + bytes_i x (2 or 1))`. A loader
    /// that reads into a buffer and converts (the reference runtime, candle) peaks here; one
    /// that maps the file does not. 0 when unknown (older records).
    #[serde(default)]
    pub sequential_load_peak_bytes: u64,
    /// Bytes of the 2-D weights that feed matrix multiplications (all 2-D tensors but the
    /// token embedding) with a row count divisible by 8, by storage type: the tensors
    /// llama.cpp's CPU backend may repack into an interleaved copy (`CPU_REPACK`).
    #[serde(default)]
    pub repack_candidates: BTreeMap<WeightType, u64>,
    /// Matrix-multiplication weights by type and shape (empty in records written before
    /// they were kept: engines then fall back to [`ModelProfile::repack_candidates`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matmul_weights: Vec<MatmulWeight>,
    /// The weights at the end of the tensor data, after the last tensor that is not a
    /// matrix-multiplication weight, in file order, with the bytes from each one's start
    /// to the end of the data (`bytes` here; `count` 1). An engine that maps the file and
    /// moves these into an extra buffer unmaps their pages after loading (llama.cpp maps
    /// only the range of tensors its mapped buffer keeps).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trailing_weights: Vec<MatmulWeight>,
    /// Each block's tensors by part (empty in records written before they were kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layer_parts: Vec<LayerParts>,
    /// Each block's matrix-multiplication weights in file order (empty in records written
    /// before they were kept: engines then share [`ModelProfile::matmul_weights`] out
    /// evenly over the blocks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub block_weights: Vec<BlockWeights>,
    /// Norm weights per block (`None` in records written before they were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_norms: Option<BlockNorms>,
    /// Whether the dense blocks' gate and up projections are one `ffn_up` of twice the
    /// feed-forward width with no `ffn_gate` (GLM-4, Phi-3, ChatGLM): llama.cpp's graph
    /// then splits the product in two for its SwiGLU ([`crate::backend::llama_cpp`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fused_gate_up: bool,
    /// Whether each block's Q, K and V projections are one `attn_qkv.weight` (GPT-NeoX,
    /// Phi-2 and Phi-3, Falcon, Bloom, MPT...): llama.cpp's graph takes Q, K and V from
    /// one product ([`crate::backend::llama_cpp`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fused_qkv: bool,
    /// Whether the dense blocks' feed-forward is one `ffn_up` of the feed-forward width
    /// with no `ffn_gate` (GPT-NeoX, GPT-2, Phi-2, Falcon...): a plain activation of one
    /// product, not a gated one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ungated_ffn: bool,
    /// Whether attention and feed-forward both read the block's input, each through its
    /// own norm, and add to the residual together (`<arch>.use_parallel_residual`,
    /// GPT-NeoX).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub parallel_residual: bool,
    /// The header's tokenizer and size (zero for presets without one and older records).
    #[serde(default)]
    pub header: HeaderStats,
    /// Where the blocks, the embedding and the output layer lie in the tensor data (None for
    /// presets and older records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spans: Option<TensorSpans>,
    /// Notes the reader wants the user to see (e.g. which reading of an ambiguous type id
    /// was chosen).
    pub notes: Vec<String>,
}

impl ModelProfile {
    /// Bytes held by the given role (0 if none).
    pub fn role_bytes(&self, role: TensorRole) -> u64 {
        self.by_role.get(&role).copied().unwrap_or(0)
    }

    /// The model's weight type, recomputed from the tensor bytes (see [`weight_type`]), so
    /// profiles stored by older versions, whose `dominant_type` followed another rule,
    /// give today's answer.
    pub fn weight_type(&self) -> Option<WeightType> {
        weight_type(&self.by_type)
    }

    /// The name of [`ModelProfile::dominant_type`] (`""` without tensors).
    pub fn dominant_name(&self) -> &'static str {
        self.dominant_type.as_ref().map_or("", WeightType::name)
    }

    /// Whether the weights are BitNet ternary blocks (I2_S, TL1, TL2 or packed U8).
    pub fn is_ternary(&self) -> bool {
        self.weight_type().is_some_and(|t| t.is_ternary())
    }

    /// Bytes not inside any transformer block (embedding, output, final norm, others).
    pub fn non_layer_bytes(&self) -> u64 {
        self.tensor_data_bytes
            .saturating_sub(self.layer_bytes.iter().sum::<u64>())
    }

    /// Checks that the profile can be estimated at all (blocks, heads and widths that are
    /// not zero, per-block figures for every block).
    pub fn check_estimable(&self) -> Result<()> {
        let bad = |what: &str| {
            Err(Error::InvalidConfig(format!(
                "model {}: {what}; cannot estimate",
                self.name
            )))
        };
        let s = &self.shape;
        if s.n_layers == 0 || self.layer_bytes.len() != s.n_layers as usize {
            return bad("no transformer blocks (or the block count does not match the tensors)");
        }
        if s.n_heads == 0 || s.head_dim_k == 0 || s.head_dim_v == 0 {
            return bad("zero attention heads or head width");
        }
        if s.n_kv_heads.len() != s.n_layers as usize {
            return bad("KV head counts do not cover every block");
        }
        Ok(())
    }
}

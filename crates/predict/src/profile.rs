//! The model profile: everything about a model that memory depends on, read from a file's
//! header (GGUF, SafeTensors + config.json) or taken from a preset.

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

/// What a weight tensor is for. Used to split weight bytes by role and to decide which
/// tensors live on which device when layers are offloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TensorRole {
    /// Token embedding table (`token_embd`, `embed_tokens`).
    Embedding,
    /// Attention projections (q, k, v, output) and their biases.
    Attention,
    /// Feed-forward projections (gate, up, down), experts and router included.
    Ffn,
    /// Normalisation weights (RMSNorm / LayerNorm, sub-norms).
    Norm,
    /// The output projection (`output`, `lm_head`); absent when embeddings are tied.
    Output,
    /// Anything else (rope frequency tables, scales, unknown tensors).
    Other,
}

impl TensorRole {
    /// Classifies a tensor by its GGUF or Hugging Face name.
    pub fn from_tensor_name(name: &str) -> TensorRole {
        let n = name.to_ascii_lowercase();
        let last = n.rsplit('.').nth(1).unwrap_or(&n);
        if n.starts_with("token_embd") || n.contains("embed_tokens") || n.contains("wte") {
            TensorRole::Embedding
        } else if n.starts_with("output.") || n == "output" || n.starts_with("lm_head") {
            TensorRole::Output
        } else if n.contains("norm") || last.ends_with("_ln") || last.starts_with("ln_") {
            TensorRole::Norm
        } else if n.contains("attn") || n.contains("self_attn") || n.contains("attention") {
            TensorRole::Attention
        } else if n.contains("ffn") || n.contains("mlp") || n.contains("expert") {
            TensorRole::Ffn
        } else {
            TensorRole::Other
        }
    }
}

/// Count, elements and stored bytes of the tensors of one storage type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeStats {
    /// Number of tensors stored in this type.
    pub tensors: u64,
    /// Total elements (weights) in those tensors.
    pub elements: u64,
    /// Total stored bytes, alignment padding excluded.
    pub bytes: u64,
}

impl TypeStats {
    /// Adds one tensor.
    pub fn add(&mut self, elements: u64, bytes: u64) {
        self.tensors += 1;
        self.elements += elements;
        self.bytes += bytes;
    }
}

/// The weight type a model "is", from its bytes by type: the quantized type (a ggml block
/// type, a BitNet ternary type, or SafeTensors' packed ternary U8) holding the most
/// weights; when nothing is quantized, the type holding the most weights. Ties go to the
/// first name. Counting weights rather than bytes, and preferring quantized types, keeps a
/// BitNet file an I2_S model although its F16 embedding may hold more bytes (or, in a small
/// model, more weights) than its ternary projections. Calibration tables are keyed by it.
pub fn weight_type(by_type: &BTreeMap<String, TypeStats>) -> String {
    let quantized = |name: &str| {
        name == crate::model::PACKED_TERNARY
            || crate::ggml_type::GgmlType::from_name(name).is_some_and(|t| t.is_quantized())
    };
    let most = |only_quantized: bool| {
        by_type
            .iter()
            .filter(|(n, _)| !only_quantized || quantized(n))
            .fold(None, |best: Option<(&String, u64)>, (n, t)| match best {
                Some((_, e)) if e >= t.elements => best,
                _ => Some((n, t.elements)),
            })
            .map(|(n, _)| n.clone())
    };
    most(true).or_else(|| most(false)).unwrap_or_default()
}

/// What the file's header says about its tokenizer and its own size: engines build their
/// vocabulary structures from it, and a mapped file keeps the header resident while it loads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderStats {
    /// Tokens in `tokenizer.ggml.tokens` (0 when the file has no tokenizer).
    pub tokens: u64,
    /// Merges in `tokenizer.ggml.merges` (BPE vocabularies; 0 otherwise).
    pub merges: u64,
    /// Bytes before the tensor data: header, metadata, tensor table and padding.
    pub bytes: u64,
}

/// Where the parts of a model lie in the file's tensor data, as byte ranges `[start, end)`
/// in tensor-table order (the order a loader reads them in; files written by llama.cpp's
/// tools put the token embedding and output layer first, some converters sort by name).
/// Empty ranges are `[0, 0)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSpans {
    /// Each block's tensors.
    pub layers: Vec<[u64; 2]>,
    /// The token embedding.
    pub embedding: [u64; 2],
    /// The output layer (final norm and projection).
    pub output: [u64; 2],
}

impl TensorSpans {
    /// The smallest range holding all of `spans` (empty ones ignored).
    pub fn covering(spans: impl IntoIterator<Item = [u64; 2]>) -> [u64; 2] {
        spans
            .into_iter()
            .filter(|s| s[1] > s[0])
            .fold(None, |acc: Option<[u64; 2]>, s| match acc {
                None => Some(s),
                Some(a) => Some([a[0].min(s[0]), a[1].max(s[1])]),
            })
            .unwrap_or([0, 0])
    }

    /// Adds a tensor at `[start, end)` to `span`.
    pub fn extend(span: &mut [u64; 2], start: u64, end: u64) {
        if span[1] <= span[0] {
            *span = [start, end];
        } else {
            span[0] = span[0].min(start);
            span[1] = span[1].max(end);
        }
    }
}

/// Mixture-of-experts shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Experts {
    /// Experts per MoE layer.
    pub total: u32,
    /// Experts used per token.
    pub active: u32,
}

/// Weights that feed matrix multiplications, grouped by storage type and shape: what an
/// engine's CPU backend may move into an extra buffer (llama.cpp's `CPU_REPACK`, `AMX`)
/// by rules on the type and the shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatmulWeight {
    /// Storage type name (`Q4_0`, `Q4_K`, ...).
    #[serde(rename = "type")]
    pub ty: String,
    /// Input width (`ne[0]`).
    pub ne0: u64,
    /// Rows, one per output (`ne[1]`).
    pub ne1: u64,
    /// Matrices stacked in the tensor (`ne[2]`): 1 for a 2-D weight (`mul_mat`), the
    /// expert count for merged expert tensors (`ffn_*_exps`, used by `mul_mat_id`).
    pub ne2: u64,
    /// Tensors of this type and shape.
    pub count: u64,
    /// Stored bytes of all of them.
    pub bytes: u64,
}

/// Normalisation weights inside a transformer block: which per-token rows a block's graph
/// normalises, read from the tensors (the most of any block), not from the architecture.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockNorms {
    /// Norm weights of the residual width (`attn_norm`, `ffn_norm`, post-norms, sub-norms
    /// of that width): each normalises one row of `hidden` values per token.
    pub hidden: u32,
    /// Whether queries are normalised per head (`attn_q_norm`, one head wide).
    pub q: bool,
    /// Whether keys are normalised per head (`attn_k_norm`).
    pub k: bool,
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
    /// `general.architecture` (GGUF) or `model_type` (config.json), e.g. `llama`, `bitnet-b1.58`.
    pub architecture: String,
    /// Transformer blocks.
    pub n_layers: u32,
    /// Embedding width (d_model).
    pub hidden: u64,
    /// Query heads.
    pub n_heads: u32,
    /// Key/value heads per layer (length `n_layers`; equal entries for a scalar key).
    pub n_kv_heads: Vec<u32>,
    /// Per-head key width.
    pub head_dim_k: u32,
    /// Per-head value width.
    pub head_dim_v: u32,
    /// Feed-forward width (per expert for MoE).
    pub ffn: u64,
    /// Vocabulary size.
    pub vocab: u64,
    /// Context length the model was trained for.
    pub ctx_train: u64,
    /// Whether the output projection reuses the token embedding.
    pub tied_embeddings: bool,
    /// Sliding-window size, where the model has sliding-window layers.
    pub sliding_window: Option<u64>,
    /// Which layers use the sliding window (empty: none, or all when the window is set and
    /// the format does not say which).
    pub sliding_layers: Vec<bool>,
    /// MoE shape, for mixture-of-experts models.
    pub experts: Option<Experts>,
    /// Total parameters (elements of all tensors).
    pub n_params: u64,
    /// Stored tensor bytes, padding excluded.
    pub tensor_data_bytes: u64,
    /// Bytes of the whole file (0 for presets).
    pub file_bytes: u64,
    /// The model's weight type (see [`weight_type`]), e.g. `I2_S`, `Q4_0`, `F16`.
    pub dominant_type: String,
    /// Tensors, elements and bytes by storage type name.
    pub by_type: BTreeMap<String, TypeStats>,
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
    pub repack_candidates: BTreeMap<String, u64>,
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
    /// Norm weights per block (`None` in records written before they were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_norms: Option<BlockNorms>,
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

    /// Total KV heads x head width summed over layers, for keys and values:
    /// the number of cache elements one token adds.
    pub fn kv_elements_per_token(&self) -> u64 {
        self.n_kv_heads
            .iter()
            .map(|&h| h as u64 * (self.head_dim_k as u64 + self.head_dim_v as u64))
            .sum()
    }

    /// The largest KV head count of any layer.
    pub fn max_kv_heads(&self) -> u32 {
        self.n_kv_heads.iter().copied().max().unwrap_or(0)
    }

    /// Whether the weights are BitNet ternary blocks (I2_S, TL1, TL2 or packed U8).
    pub fn is_ternary(&self) -> bool {
        matches!(
            weight_type(&self.by_type).as_str(),
            "I2_S" | "TL1" | "TL2" | crate::model::PACKED_TERNARY
        )
    }

    /// Bytes not inside any transformer block (embedding, output, final norm, others).
    pub fn non_layer_bytes(&self) -> u64 {
        self.tensor_data_bytes
            .saturating_sub(self.layer_bytes.iter().sum::<u64>())
    }
}

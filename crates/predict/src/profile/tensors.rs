//! What a model's tensors hold, counted from the tensor table: roles, bytes by type,
//! matrix-multiplication weights by shape, block norms, where the parts lie in the file.

use crate::weight_type::WeightType;
use serde::{Deserialize, Serialize};

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

/// Weights that feed matrix multiplications, grouped by storage type and shape: what an
/// engine's CPU backend may move into an extra buffer (llama.cpp's `CPU_REPACK`, `AMX`)
/// by rules on the type and the shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatmulWeight {
    /// Storage type (`Q4_0`, `Q4_K`, ...).
    #[serde(rename = "type")]
    pub ty: WeightType,
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

/// One block's matrix-multiplication weights (each `count` 1) in file order, and how many
/// of the last of them end the block: no other tensor of the block follows them in the
/// file. A mapped buffer that keeps the block's other tensors but not these ends before
/// them ([`crate::backend::llama_cpp::gpu`]'s host span with repacked host blocks).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockWeights {
    /// The weights, in file order.
    pub weights: Vec<MatmulWeight>,
    /// How many of the last `weights` end the block.
    pub trailing: usize,
}

impl BlockWeights {
    /// The trailing weights, last first.
    pub fn trailing_last_first(&self) -> impl Iterator<Item = &MatmulWeight> {
        self.weights.iter().rev().take(self.trailing)
    }
}

/// A block's tensors by the part of the block they belong to, as llama.cpp's tensor
/// overrides name them (`-ot blk\.3\.ffn_.*_exps=CPU`, `--n-cpu-moe`): bytes and the
/// tensors holding them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerParts {
    /// `attn_*` tensors (norm, projections, biases, sinks).
    pub attention: u64,
    /// `ffn_*` tensors other than the routed experts (norms, router, dense or shared FFN).
    pub ffn: u64,
    /// The routed experts (`ffn_{gate,up,down,gate_up}_exps`, their biases and scales).
    pub experts: u64,
    /// Everything else in the block.
    pub other: u64,
    /// Tensors in the block.
    pub tensors: u32,
}

impl LayerParts {
    /// The part of a block tensor `name` (of `bytes`) is in, added.
    pub fn add(&mut self, name: &str, bytes: u64) {
        let n = name.to_ascii_lowercase();
        let part = n.split('.').nth(2).unwrap_or("");
        if part.starts_with("ffn_") && part.contains("_exps") {
            self.experts += bytes;
        } else if part.starts_with("ffn_") {
            self.ffn += bytes;
        } else if part.starts_with("attn_") {
            self.attention += bytes;
        } else {
            self.other += bytes;
        }
        self.tensors += 1;
    }
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

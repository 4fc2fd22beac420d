//! Model hyper-parameters read from a GGUF header, with the real key names of llama.cpp
//! and of microsoft/BitNet's fork (`<arch>.attention.head_count`, `<arch>.rope.freq_base`...).

use crate::error::{Result, RuntimeError};
use crate::ops::Activation;
use predictor::gguf::GgufFile;

/// The architectures the runtime runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// `llama` (and llama-shaped files: mistral).
    Llama,
    /// `qwen2`: llama with q/k/v biases and NEOX rope.
    Qwen2,
    /// `bitnet`: the original BitNet b1.58 models (1bitLLM): sub-norms, SiLU FFN.
    Bitnet,
    /// `bitnet-b1.58` / `bitnet-25`: BitNet b1.58 2B-4T style, sub-norms, squared-ReLU FFN.
    BitnetB158,
}

impl Arch {
    /// Reads `general.architecture`.
    pub fn from_name(name: &str) -> Option<Arch> {
        Some(match name {
            "llama" | "mistral" => Arch::Llama,
            "qwen2" => Arch::Qwen2,
            "bitnet" => Arch::Bitnet,
            "bitnet-b1.58" | "bitnet-25" => Arch::BitnetB158,
            _ => return None,
        })
    }

    /// Whether the blocks carry `attn_sub_norm` / `ffn_sub_norm`.
    pub fn has_sub_norms(self) -> bool {
        matches!(self, Arch::Bitnet | Arch::BitnetB158)
    }

    /// The FFN gate activation.
    pub fn activation(self) -> Activation {
        match self {
            Arch::BitnetB158 => Activation::Relu2,
            _ => Activation::Silu,
        }
    }

    /// Whether rope pairs are NEOX-style (`j`, `j + d/2`); llama.cpp's `llama_rope_type`.
    pub fn rope_neox(self) -> bool {
        !matches!(self, Arch::Llama)
    }
}

/// Everything about the model's shape the forward pass needs.
#[derive(Debug, Clone, PartialEq)]
pub struct HParams {
    /// The architecture as written in the file.
    pub arch_name: String,
    /// The architecture.
    pub arch: Arch,
    /// Transformer blocks.
    pub n_layers: usize,
    /// Embedding width.
    pub hidden: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// Per-head width.
    pub head_dim: usize,
    /// Feed-forward width.
    pub ffn: usize,
    /// Vocabulary (rows of `token_embd`).
    pub vocab: usize,
    /// Training context (`<arch>.context_length`, 0 if absent).
    pub ctx_train: usize,
    /// RMS norm epsilon.
    pub rms_eps: f32,
    /// RoPE base frequency.
    pub rope_base: f32,
    /// Rotated dimensions per head.
    pub rope_dims: usize,
}

/// Upper bound for any single dimension read from a header: larger values are treated as a
/// malformed file rather than used to size buffers.
const MAX_DIM: u64 = 1 << 24;

impl HParams {
    /// Reads the hyper-parameters of `file`; `vocab` is the row count of `token_embd`.
    pub fn read(file: &GgufFile, vocab: usize) -> Result<HParams> {
        let path = &file.path;
        let arch_name = file
            .architecture()
            .ok_or_else(|| RuntimeError::model(path, "no general.architecture key"))?
            .to_string();
        let arch = Arch::from_name(&arch_name).ok_or_else(|| {
            RuntimeError::unsupported(
                path,
                format!(
                    "architecture {arch_name:?} (the runtime runs llama, qwen2, bitnet, \
                     bitnet-b1.58 and bitnet-25)"
                ),
            )
        })?;
        let key = |s: &str| format!("{arch_name}.{s}");
        let int = |s: &str| -> Result<Option<usize>> {
            match file.get(&key(s)) {
                None => Ok(None),
                Some(v) => {
                    // A per-layer array (head_count_kv) must be uniform here.
                    let n = match v.as_u64() {
                        Some(n) => Some(n),
                        None => v.as_array().and_then(|a| {
                            let all = a.to_u64_vec()?;
                            let first = *all.first()?;
                            all.iter().all(|&x| x == first).then_some(first)
                        }),
                    };
                    match n {
                        Some(n) if n <= MAX_DIM => Ok(Some(n as usize)),
                        _ => Err(RuntimeError::model(
                            path,
                            format!("{} is not a usable integer (got {v:?})", key(s)),
                        )),
                    }
                }
            }
        };
        let need = |s: &str| -> Result<usize> {
            int(s)?
                .filter(|&n| n > 0)
                .ok_or_else(|| RuntimeError::model(path, format!("missing or zero key {}", key(s))))
        };
        let n_layers = need("block_count")?;
        let hidden = need("embedding_length")?;
        let heads = need("attention.head_count")?;
        let kv_heads = int("attention.head_count_kv")?.unwrap_or(heads);
        let ffn = need("feed_forward_length")?;
        let head_dim = int("attention.key_length")?.unwrap_or(hidden / heads);
        let ctx_train = int("context_length")?.unwrap_or(0);
        let rope_dims = int("rope.dimension_count")?.unwrap_or(head_dim);
        let f = |s: &str, d: f64| file.get_f64(&key(s)).unwrap_or(d) as f32;
        let rms_eps = f("attention.layer_norm_rms_epsilon", 1e-5);
        let rope_base = f("rope.freq_base", 10_000.0);
        if kv_heads == 0 || heads % kv_heads != 0 {
            return Err(RuntimeError::model(
                path,
                format!("{heads} query heads cannot be grouped over {kv_heads} KV heads"),
            ));
        }
        if head_dim == 0 || rope_dims > head_dim || rope_dims % 2 != 0 {
            return Err(RuntimeError::model(
                path,
                format!("rope over {rope_dims} of {head_dim} head dimensions"),
            ));
        }
        if !(rms_eps.is_finite() && rms_eps >= 0.0 && rope_base.is_finite() && rope_base > 0.0) {
            return Err(RuntimeError::model(
                path,
                format!("bad rms epsilon {rms_eps} or rope base {rope_base}"),
            ));
        }
        Ok(HParams {
            arch_name,
            arch,
            n_layers,
            hidden,
            heads,
            kv_heads,
            head_dim,
            ffn,
            vocab,
            ctx_train,
            rms_eps,
            rope_base,
            rope_dims,
        })
    }

    /// K (and V) elements per position per layer.
    pub fn kv_dim(&self) -> usize {
        self.kv_heads * self.head_dim
    }
}

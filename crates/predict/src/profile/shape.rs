//! A model's shape, with llama.cpp's per-layer queries (`llama-hparams.h`): the one place
//! that says which blocks slide, how many KV heads a block has, how wide its cache rows are
//! and whether the blocks route experts.

use serde::{Deserialize, Serialize};

/// Mixture-of-experts shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Experts {
    /// Experts per MoE layer.
    pub total: u32,
    /// Experts used per token.
    pub active: u32,
}

/// The hyperparameters memory depends on (llama.cpp's `llama_hparams`), read from the
/// header keys (or config.json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelShape {
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
    /// Multi-head latent attention (DeepSeek-V2/V3, Kimi K2, GLM-4.7-Flash...): the key and
    /// value widths of a head as the model was trained (`attention.key_length_mla`,
    /// `value_length_mla`), the cache then holding one latent row per token
    /// (`head_dim_k` wide, `head_dim_v` of it the values); None for other attention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mla: Option<MlaHeads>,
}

/// The trained head widths of a multi-head latent attention model
/// (`n_embd_head_k_mla`, `n_embd_head_v_mla`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MlaHeads {
    /// Key width per head.
    pub k: u32,
    /// Value width per head.
    pub v: u32,
}

impl ModelShape {
    /// Whether block `il` attends over a sliding window (`hparams.is_swa(il)`).
    pub fn is_swa(&self, il: usize) -> bool {
        self.sliding_window.is_some() && self.sliding_layers.get(il).copied().unwrap_or(false)
    }

    /// Whether the model attends with multi-head latent attention (`hparams.is_mla()`).
    pub fn is_mla(&self) -> bool {
        self.mla.is_some()
    }

    /// Whether any block slides (`hparams.is_swa_any()`).
    pub fn is_swa_any(&self) -> bool {
        self.sliding_window.is_some() && self.sliding_layers.iter().any(|&s| s)
    }

    /// Whether llama.cpp keeps this model's KV in two caches, one for the sliding-window
    /// blocks (`llama_kv_cache_iswa`): a window is declared.
    pub fn has_swa_cache(&self) -> bool {
        self.sliding_window.is_some_and(|w| w > 0)
    }

    /// The experts of a mixture-of-experts model (None for a dense one, or a declared
    /// count of 0).
    pub fn moe(&self) -> Option<Experts> {
        self.experts.filter(|e| e.total > 0)
    }

    /// Whether the blocks route experts.
    pub fn is_moe(&self) -> bool {
        self.moe().is_some()
    }

    /// KV heads of block `il` (`hparams.n_head_kv(il)`; 0 beyond the blocks).
    pub fn n_head_kv(&self, il: usize) -> u32 {
        self.n_kv_heads.get(il).copied().unwrap_or(0)
    }

    /// The largest KV head count of any block.
    pub fn max_kv_heads(&self) -> u32 {
        self.n_kv_heads.iter().copied().max().unwrap_or(0)
    }

    /// Key elements per token of block `il` (`hparams.n_embd_k_gqa(il)`).
    pub fn n_embd_k_gqa(&self, il: usize) -> u64 {
        u64::from(self.n_head_kv(il)) * u64::from(self.head_dim_k)
    }

    /// Value elements per token of block `il` (`hparams.n_embd_v_gqa(il)`).
    pub fn n_embd_v_gqa(&self, il: usize) -> u64 {
        u64::from(self.n_head_kv(il)) * u64::from(self.head_dim_v)
    }

    /// Total KV heads x head width summed over layers, for keys and values: the number
    /// of cache elements one token adds.
    pub fn kv_elements_per_token(&self) -> u64 {
        self.n_kv_heads
            .iter()
            .map(|&h| h as u64 * (self.head_dim_k as u64 + self.head_dim_v as u64))
            .sum()
    }
}

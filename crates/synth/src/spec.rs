//! What a synthetic model looks like: architecture, shape, quantization, seed; and presets.

use super::SynthError;
use predictor::ggml_type::GgmlType;

/// The shape and storage of a synthetic model.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthSpec {
    /// `general.architecture`: `llama`, `qwen2`, `bitnet` or `bitnet-b1.58`.
    pub arch: String,
    /// Transformer blocks.
    pub layers: usize,
    /// Embedding width.
    pub hidden: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// Per-head width (default `hidden / heads`).
    pub head_dim: Option<usize>,
    /// Feed-forward width.
    pub ffn: usize,
    /// Vocabulary.
    pub vocab: usize,
    /// Training context written to `<arch>.context_length`.
    pub ctx_train: usize,
    /// Storage type of the attention and FFN projections.
    pub qtype: GgmlType,
    /// Whether the output projection is tied to the token embedding (no `output` tensor).
    pub tied: bool,
    /// Seed of every random value in the file.
    pub seed: u64,
    /// Mixture of experts: the FFN of every block is `total` experts of width `ffn`
    /// (merged `ffn_{gate,up,down}_exps` tensors and an F32 router `ffn_gate_inp`).
    pub moe: Option<SynthMoe>,
    /// Sliding window written to `<arch>.attention.sliding_window` (gemma2/gemma3 use it
    /// on their default layer pattern; llama and phi3 files may carry it, and llama.cpp
    /// ignores it there).
    pub sliding_window: Option<usize>,
    /// Storage type of the token embedding (default F16, or F32 for F32 models).
    pub embd_type: Option<GgmlType>,
    /// Write every quantized tensor as random blocks ([`crate::blocks`]) instead of
    /// quantizing random normal weights: the same layout and size, much faster.
    pub fast_blocks: bool,
}

/// Experts of a mixture-of-experts block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynthMoe {
    /// Experts per block.
    pub total: usize,
    /// Experts used per token.
    pub used: usize,
}

/// Architectures the writer lays out, with what their blocks hold.
pub const ARCHITECTURES: &[(&str, &str)] = &[
    (
        "llama",
        "attn q/k/v/output, gate/up/down; with --experts: Mixtral-style merged experts",
    ),
    ("qwen2", "llama plus q/k/v biases"),
    ("qwen3", "llama plus per-head q/k norms"),
    ("qwen3moe", "qwen3 with merged experts (needs --experts)"),
    (
        "gpt-oss",
        "q/k/v/output biases, attention sinks, merged experts with biases and a biased \
         router (needs --experts and --sliding-window: even blocks slide)",
    ),
    (
        "gemma2",
        "post-attention and post-FFN norms, sliding window on even blocks, tied",
    ),
    (
        "gemma3",
        "gemma2 plus q/k norms, every 6th block global, tied",
    ),
    (
        "phi3",
        "fused attn_qkv and gate+up (ffn_up of 2 x FFN rows)",
    ),
    (
        "bitnet",
        "BitNet (bitnet.cpp's converter): sub-norms, ternary projections",
    ),
    (
        "bitnet-b1.58",
        "BitNet b1.58 (2B-4T layout): sub-norms, ternary projections",
    ),
];

/// Named presets: name, description.
pub const PRESETS: &[(&str, &str)] = &[
    (
        "tiny",
        "bitnet-b1.58, 2 layers, hidden 256, 4/2 heads, FFN 512, vocab 512, I2_S",
    ),
    (
        "tiny-tl2",
        "bitnet-b1.58, 2 layers, hidden 512, 4/2 heads, FFN 768, vocab 512, TL2",
    ),
    (
        "tiny-llama",
        "llama, 2 layers, hidden 256, 4/2 heads, FFN 512, vocab 512, Q8_0",
    ),
    (
        "tiny-qwen2",
        "qwen2 (q/k/v biases), 2 layers, hidden 256, 4/2 heads, FFN 512, Q4_0",
    ),
    (
        "bitnet-2b-4t",
        "BitNet b1.58 2B-4T shape: 30 layers, 2560, 20/5, FFN 6912, vocab 128256, I2_S",
    ),
    (
        "bitnet-large",
        "bitnet_b1_58-large shape: 24 layers, 1536, 16/16, FFN 4096, vocab 32002, I2_S",
    ),
    (
        "llama3-8b-1.58",
        "Llama3-8B-1.58 shape: 32 layers, 4096, 32/8, FFN 14336, vocab 128256, I2_S",
    ),
];

impl SynthSpec {
    /// A preset by name (see [`PRESETS`]), with seed 0.
    pub fn preset(name: &str) -> Result<SynthSpec, SynthError> {
        let s = |arch: &str, l, h, hq, hk, f, v, c, q, tied| SynthSpec {
            arch: arch.to_string(),
            layers: l,
            hidden: h,
            heads: hq,
            kv_heads: hk,
            head_dim: None,
            ffn: f,
            vocab: v,
            ctx_train: c,
            qtype: q,
            tied,
            seed: 0,
            moe: None,
            sliding_window: None,
            embd_type: None,
            fast_blocks: false,
        };
        use GgmlType::*;
        Ok(match name {
            "tiny" => s("bitnet-b1.58", 2, 256, 4, 2, 512, 512, 2048, I2S, true),
            "tiny-tl2" => s("bitnet-b1.58", 2, 512, 4, 2, 768, 512, 2048, TL2, true),
            "tiny-llama" => s("llama", 2, 256, 4, 2, 512, 512, 2048, Q8_0, false),
            "tiny-qwen2" => s("qwen2", 2, 256, 4, 2, 512, 512, 2048, Q4_0, false),
            "bitnet-2b-4t" => s(
                "bitnet-b1.58",
                30,
                2560,
                20,
                5,
                6912,
                128256,
                4096,
                I2S,
                true,
            ),
            "bitnet-large" => s("bitnet", 24, 1536, 16, 16, 4096, 32002, 2048, I2S, true),
            "llama3-8b-1.58" => s(
                "bitnet-b1.58",
                32,
                4096,
                32,
                8,
                14336,
                128256,
                8192,
                I2S,
                false,
            ),
            _ => {
                let names: Vec<&str> = PRESETS.iter().map(|p| p.0).collect();
                return Err(SynthError::Spec(format!(
                    "unknown preset {name:?} (known: {})",
                    names.join(", ")
                )));
            }
        })
    }

    /// Per-head width.
    pub fn head_dim(&self) -> usize {
        self.head_dim.unwrap_or(self.hidden / self.heads.max(1))
    }

    /// Whether this is a BitNet architecture (sub-norms, F16 embedding).
    pub fn is_bitnet(&self) -> bool {
        predictor::gguf::is_bitnet_architecture(&self.arch)
    }

    /// Storage type of the token embedding (and of an untied BitNet output).
    pub fn embedding_type(&self) -> GgmlType {
        match (self.embd_type, self.qtype) {
            (Some(t), _) => t,
            (None, GgmlType::F32) => GgmlType::F32,
            _ => GgmlType::F16,
        }
    }

    /// Whether the layout has per-head q/k norms.
    pub fn has_qk_norm(&self) -> bool {
        matches!(self.arch.as_str(), "qwen3" | "qwen3moe" | "gemma3")
    }

    /// Whether the attention projections carry biases (q/k/v; gpt-oss also the output).
    pub fn has_qkv_bias(&self) -> bool {
        matches!(self.arch.as_str(), "qwen2" | "gpt-oss")
    }

    /// Whether the layout has post-attention and post-FFN norms.
    pub fn has_post_norms(&self) -> bool {
        matches!(self.arch.as_str(), "gemma2" | "gemma3")
    }

    /// Checks that the shape can be stored in `qtype` and run.
    pub fn validate(&self) -> Result<(), SynthError> {
        let bad = |m: String| Err(SynthError::Spec(m));
        if !ARCHITECTURES.iter().any(|(a, _)| *a == self.arch) {
            let names: Vec<&str> = ARCHITECTURES.iter().map(|a| a.0).collect();
            return bad(format!(
                "architecture {:?} (expected one of {})",
                self.arch,
                names.join(", ")
            ));
        }
        match (self.arch.as_str(), self.moe) {
            ("qwen3moe" | "gpt-oss", None) => {
                return bad(format!("{} needs experts (--experts N)", self.arch))
            }
            ("llama" | "qwen3moe" | "gpt-oss", Some(m))
                if m.total == 0 || m.used == 0 || m.used > m.total || m.total > 512 =>
            {
                return bad(format!(
                    "experts: {} used of {} (need 1 <= used <= total <= 512)",
                    m.used, m.total
                ));
            }
            ("llama" | "qwen3moe" | "gpt-oss", Some(_)) => {}
            (a, Some(_)) => return bad(format!("{a} has no mixture-of-experts layout here")),
            _ => {}
        }
        if self.arch == "gpt-oss" && self.sliding_window.is_none() {
            return bad("gpt-oss needs a sliding window (--sliding-window N)".into());
        }
        if self.arch == "gpt-oss" && self.tied {
            return bad("gpt-oss has its own output projection (--untied)".into());
        }
        if self.has_post_norms() && !self.tied {
            return bad(format!(
                "{} ties its output to the token embedding",
                self.arch
            ));
        }
        if self.arch == "phi3" && self.heads * self.head_dim() != self.hidden {
            return bad("phi3 needs heads x head_dim == hidden".into());
        }
        let dims = [
            self.layers,
            self.hidden,
            self.heads,
            self.kv_heads,
            self.ffn,
            self.vocab,
        ];
        if dims.contains(&0) || self.head_dim() == 0 {
            return bad("every dimension must be at least 1".into());
        }
        if dims.iter().any(|&d| d > 1 << 20) {
            return bad("dimensions above 2^20 are not supported".into());
        }
        if !self.heads.is_multiple_of(self.kv_heads) {
            return bad(format!(
                "{} heads do not group over {} KV heads",
                self.heads, self.kv_heads
            ));
        }
        if !self.head_dim().is_multiple_of(2) {
            return bad(format!(
                "head width {} must be even (rope)",
                self.head_dim()
            ));
        }
        let q_dim = self.heads * self.head_dim();
        if self.is_bitnet() && q_dim != self.hidden {
            return bad(format!(
                "BitNet needs heads x head_dim == hidden ({q_dim} != {})",
                self.hidden
            ));
        }
        if self.qtype.is_bitnet() && !self.is_bitnet() {
            return bad(format!(
                "{} projections need a BitNet architecture",
                self.qtype
            ));
        }
        let (block, what) = match self.qtype {
            GgmlType::I2S => (128, "I2_S needs input widths divisible by 128"),
            GgmlType::TL2 => (1, ""),
            t if t.is_bitnet() => return bad(format!("projection type {t} is not supported")),
            t if memcal_runtime::matrix::candle_dtype(t).is_none()
                && !crate::blocks::needs_blocks(t) =>
            {
                return bad(format!("projection type {t} is not supported"))
            }
            t => (
                t.block_elems() as usize,
                "the projection type's block size must divide the input widths",
            ),
        };
        for k in [self.hidden, q_dim, self.ffn] {
            if k % block != 0 {
                return bad(format!("{what} (got {k}, block {block})"));
            }
            if self.qtype == GgmlType::TL2 && k < 256 {
                return bad(format!("TL2 needs input widths of at least 256 (got {k})"));
            }
        }
        let e = self.embedding_type();
        if e.is_bitnet()
            || (memcal_runtime::matrix::candle_dtype(e).is_none()
                && !crate::blocks::needs_blocks(e))
        {
            return bad(format!("embedding type {e} is not supported"));
        }
        if !self.hidden.is_multiple_of(e.block_elems() as usize) {
            return bad(format!(
                "hidden must be a multiple of the embedding type's block ({})",
                e.block_elems()
            ));
        }
        Ok(())
    }
}

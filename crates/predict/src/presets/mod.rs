//! Built-in shapes of well-known models, so a user can ask without the file.
//!
//! A preset builds the GGUF header the model's usual conversion would have (tensor names,
//! shapes and types; no tokenizer, no data) and reads it with the same reader as a real
//! file, so a preset's profile is exactly what `predictor inspect` would report for that
//! conversion. Weight types follow the usual converters: BitNet models keep F16 token
//! embeddings (and output), F32 norms and ternary projections; other models use the chosen
//! type for every matrix and F32 for norms and biases. Where a type cannot hold a tensor
//! (a row width that is not a multiple of its block, as llama.cpp also finds), the tensor
//! falls back to Q8_0, or F16 when even that does not fit, as llama.cpp's quantizer does.
//!
//! A llama.cpp file type instead of a ggml type (`llama-3.1-8b:Q4_K_M`, `:Q5_K_S`,
//! `:IQ3_M`, `:MOSTLY_IQ4_XS`, `:"Q4_K - Medium"`) builds the file `llama-quantize` would
//! write from the unquantized model: every tensor typed by llama.cpp's mix
//! ([`quant_mix`], no importance matrix), in its write order, through [`shape::header`].
//! A name that is both a ggml type and a file type (`Q4_0`, `Q8_0`, `Q2_K`, `IQ4_NL`,
//! `IQ4_XS`, `F16`...) keeps its ggml-type meaning; spell the file type `MOSTLY_Q4_0`.

pub mod ftype;
pub mod quant_mix;
pub mod shape;

pub use ftype::Ftype;
pub use quant_mix::{tensor_type, tensor_types, MixContext, MixOptions, TensorDesc};
pub use shape::Shape;

use crate::error::{Error, Result};
use crate::ggml_type::GgmlType;
use crate::gguf::writer::GgufWriter;
use crate::gguf::GgufFile;
use crate::profile::ModelProfile;
use serde::Serialize;
use std::path::Path;

/// One model shape.
#[derive(Debug, Clone, Serialize)]
pub struct Preset {
    /// Name used with `--preset`.
    pub name: &'static str,
    /// GGUF architecture name.
    pub arch: &'static str,
    /// Transformer blocks.
    pub layers: u32,
    /// Embedding width.
    pub hidden: u64,
    /// Query heads.
    pub heads: u32,
    /// KV heads.
    pub kv_heads: u32,
    /// Per-head width.
    pub head_dim: u32,
    /// Feed-forward width.
    pub ffn: u64,
    /// Vocabulary.
    pub vocab: u64,
    /// Trained context.
    pub ctx: u64,
    /// Output projection tied to the embedding.
    pub tied: bool,
    /// Weight type of the projections unless `NAME:TYPE` says otherwise.
    pub default_type: &'static str,
    /// q/k/v biases (Qwen2).
    pub qkv_bias: bool,
    /// Where the shape comes from.
    pub source: &'static str,
    /// Routed experts per block (0: a dense model).
    #[serde(skip_serializing_if = "is_zero")]
    pub experts: u32,
    /// Experts used per token.
    #[serde(skip_serializing_if = "is_zero")]
    pub experts_used: u32,
    /// An expert's feed-forward width.
    #[serde(skip_serializing_if = "is_zero")]
    pub expert_ffn: u64,
}

fn is_zero<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// A preset from its table row: (name, arch, layers, hidden, heads, kv heads, head_dim,
/// ffn, vocab, trained context, tied, default type, qkv bias, source).
#[allow(clippy::too_many_arguments)]
const fn row(
    name: &'static str,
    arch: &'static str,
    layers: u32,
    hidden: u64,
    heads: u32,
    kv_heads: u32,
    head_dim: u32,
    ffn: u64,
    vocab: u64,
    ctx: u64,
    tied: bool,
    default_type: &'static str,
    qkv_bias: bool,
    source: &'static str,
) -> Preset {
    Preset {
        name,
        arch,
        layers,
        hidden,
        heads,
        kv_heads,
        head_dim,
        ffn,
        vocab,
        ctx,
        tied,
        default_type,
        qkv_bias,
        source,
        experts: 0,
        experts_used: 0,
        expert_ffn: 0,
    }
}

/// `p` as a mixture of experts: `experts` routed experts of width `expert_ffn` per block,
/// `used` of them per token (merged `ffn_{gate,up,down}_exps`, an F32 router).
const fn moe(p: Preset, experts: u32, used: u32, expert_ffn: u64) -> Preset {
    Preset {
        experts,
        experts_used: used,
        expert_ffn,
        ..p
    }
}

#[rustfmt::skip]
const TABLE: [Preset; 13] = [
    row("bitnet-b1.58-2b-4t", "bitnet-b1.58", 30, 2560, 20, 5, 128, 6912, 128256, 4096, true, "I2_S", false, "microsoft/bitnet-b1.58-2B-4T config.json"),
    row("bitnet-b1.58-large", "bitnet", 24, 1536, 16, 16, 96, 4096, 32002, 2048, true, "I2_S", false, "1bitLLM/bitnet_b1_58-large config.json"),
    row("bitnet-b1.58-3b", "bitnet", 26, 3200, 32, 32, 100, 8640, 32002, 2048, true, "I2_S", false, "1bitLLM/bitnet_b1_58-3B config.json"),
    row("llama3-8b-1.58", "llama", 32, 4096, 32, 8, 128, 14336, 128256, 8192, false, "I2_S", false, "HF1BitLLM/Llama3-8B-1.58-100B-tokens config.json"),
    row("falcon3-3b-1.58bit", "llama", 22, 3072, 12, 4, 256, 9216, 131072, 32768, false, "I2_S", false, "tiiuae/Falcon3-3B-Instruct-1.58bit config.json"),
    row("falcon3-7b-1.58bit", "llama", 28, 3072, 12, 4, 256, 23040, 131072, 32768, false, "I2_S", false, "tiiuae/Falcon3-7B-Instruct-1.58bit config.json"),
    row("llama-3.2-1b", "llama", 16, 2048, 32, 8, 64, 8192, 128256, 131072, true, "Q4_0", false, "meta-llama/Llama-3.2-1B config.json"),
    row("llama-3.1-8b", "llama", 32, 4096, 32, 8, 128, 14336, 128256, 131072, false, "Q4_0", false, "meta-llama/Llama-3.1-8B config.json"),
    row("mistral-7b-v0.3", "llama", 32, 4096, 32, 8, 128, 14336, 32768, 32768, false, "Q4_0", false, "mistralai/Mistral-7B-v0.3 config.json"),
    row("qwen2.5-7b", "qwen2", 28, 3584, 28, 4, 128, 18944, 152064, 32768, false, "Q4_0", true, "Qwen/Qwen2.5-7B config.json"),
    row("llama-3.1-70b", "llama", 80, 8192, 64, 8, 128, 28672, 128256, 131072, false, "Q4_0", false, "meta-llama/Llama-3.1-70B config.json"),
    moe(row("qwen3-30b-a3b", "qwen3moe", 48, 2048, 32, 4, 128, 6144, 151936, 40960, false, "Q4_K_M", false, "Qwen/Qwen3-30B-A3B config.json"), 128, 8, 768),
    moe(row("qwen3-235b-a22b", "qwen3moe", 94, 4096, 64, 4, 128, 12288, 151936, 40960, false, "Q4_K_M", false, "Qwen/Qwen3-235B-A22B config.json"), 128, 8, 1536),
];

/// Every preset, in display order.
pub fn all() -> Vec<Preset> {
    TABLE.to_vec()
}

/// What a preset's `:TYPE` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weights {
    /// Every matrix in one ggml type (norms and biases F32), as presets always did.
    Type(GgmlType),
    /// A llama.cpp file type: each tensor typed as `llama-quantize` types it.
    Mix(Ftype),
}

impl Weights {
    /// Reads `:TYPE`: a ggml type name (`Q4_K`, `Q4_0`, `I2_S`) first, so every spelling
    /// that named a type still does; then a llama.cpp file type ([`Ftype::parse`]: `Q4_K_M`,
    /// `IQ3_M`, `15`). An explicit file-type spelling (`MOSTLY_Q4_0`, `Q4_K - Medium`) is
    /// always a file type.
    pub fn parse(s: &str) -> Option<Weights> {
        let s = s.trim();
        if Ftype::is_explicit_spelling(s) {
            return Ftype::parse(s).map(Weights::Mix);
        }
        match GgmlType::from_name(s).filter(|t| *t != GgmlType::I8S) {
            Some(t) => Some(Weights::Type(t)),
            None => Ftype::parse(s).map(Weights::Mix),
        }
    }

    /// The `TYPE` a profile is labelled with, read back by [`Weights::parse`]: the ggml
    /// type's name, the file type's (`Q4_K_M`), or `MOSTLY_Q4_0` for a file type whose
    /// name is also a ggml type's.
    pub fn label(self) -> String {
        match self {
            Weights::Type(t) => t.name().to_string(),
            Weights::Mix(f) if GgmlType::from_name(f.name()).is_some() => {
                format!("MOSTLY_{}", f.name())
            }
            Weights::Mix(f) => f.name().to_string(),
        }
    }
}

/// The preset of `spec` (`NAME` or `NAME:TYPE`, case-insensitive) and what its `TYPE`
/// asks for ([`Weights::parse`]).
pub fn find_weights(spec: &str) -> Result<(Preset, Weights)> {
    let (name, ty) = match spec.split_once(':') {
        Some((n, t)) => (n, Some(t)),
        None => (spec, None),
    };
    let preset = all()
        .into_iter()
        .find(|p| p.name.eq_ignore_ascii_case(name.trim()))
        .ok_or_else(|| Error::UnknownPreset(spec.to_string()))?;
    let ty_name = ty.unwrap_or(preset.default_type);
    let weights = Weights::parse(ty_name).ok_or_else(|| {
        Error::InvalidConfig(format!("preset {spec:?}: unknown weight type {ty_name:?}"))
    })?;
    Ok((preset, weights))
}

/// The preset of `spec` (`NAME` or `NAME:TYPE`, case-insensitive) and its weight type.
/// A llama.cpp file type such as `Q4_K_M` is refused here (it is no single type): use
/// [`find_weights`] and [`header_for`].
pub fn find(spec: &str) -> Result<(Preset, GgmlType)> {
    match find_weights(spec)? {
        (preset, Weights::Type(ty)) => Ok((preset, ty)),
        (_, Weights::Mix(f)) => Err(Error::InvalidConfig(format!(
            "preset {spec:?}: {f} is a llama.cpp file type (a per-tensor mix), not one \
             weight type; use presets::find_weights and presets::header_for"
        ))),
    }
}

impl Preset {
    /// This preset as a [`Shape`] for [`shape::header`]: Llama 3.1 and 3.2 carry the
    /// `rope_freqs.weight` their llama3 rope scaling makes the converter write.
    pub fn shape(&self) -> Result<Shape> {
        if !shape::SHAPE_ARCHS.contains(&self.arch) {
            return Err(Error::InvalidConfig(format!(
                "preset {}: llama.cpp file-type mixes are built for {:?}, not {}",
                self.name,
                shape::SHAPE_ARCHS,
                self.arch
            )));
        }
        let heads = (self.heads, self.kv_heads);
        let mut s = Shape::new(
            self.arch,
            self.layers,
            self.hidden,
            heads,
            self.ffn,
            self.vocab,
        );
        s.name = self.name.to_string();
        s.head_dim = self.head_dim;
        s.ctx_train = self.ctx;
        s.tied = self.tied;
        s.qkv_bias = self.qkv_bias;
        s.qk_norm = self.arch.starts_with("qwen3");
        s.rope_freqs = self.name.starts_with("llama-3.1") || self.name.starts_with("llama-3.2");
        if self.experts > 0 {
            s = s.with_experts(self.experts, self.experts_used, self.expert_ffn);
        }
        Ok(s)
    }
}

/// The GGUF header of `preset` with `weights`: [`header`] for one type, else the
/// file `llama-quantize` makes ([`shape::header`], no importance matrix).
pub fn header_for(preset: &Preset, weights: Weights) -> Result<GgufWriter> {
    match weights {
        Weights::Type(ty) => header(preset, ty),
        Weights::Mix(f) => shape::header(&preset.shape()?, f, MixOptions::default()),
    }
}

/// The GGUF header a conversion of `preset` with projections in `ty` would have.
pub fn header(preset: &Preset, ty: GgmlType) -> Result<GgufWriter> {
    if preset.experts > 0 || preset.arch.starts_with("qwen3") {
        // Laid out as llama.cpp's loader creates these architectures' tensors.
        return shape::header_one_type(&preset.shape()?, ty);
    }
    let p = preset;
    let err = |e: crate::gguf::writer::WriteError| {
        Error::InvalidConfig(format!("preset {}: {e}", p.name))
    };
    let bitnet = ty.is_bitnet();
    let mut w = GgufWriter::new();
    let a = p.arch;
    w.add_string("general.architecture", a).map_err(err)?;
    w.add_string("general.name", p.name).map_err(err)?;
    w.add_u32(&format!("{a}.block_count"), p.layers)
        .map_err(err)?;
    w.add_u64(&format!("{a}.context_length"), p.ctx)
        .map_err(err)?;
    w.add_u64(&format!("{a}.embedding_length"), p.hidden)
        .map_err(err)?;
    w.add_u64(&format!("{a}.feed_forward_length"), p.ffn)
        .map_err(err)?;
    w.add_u32(&format!("{a}.attention.head_count"), p.heads)
        .map_err(err)?;
    w.add_u32(&format!("{a}.attention.head_count_kv"), p.kv_heads)
        .map_err(err)?;
    w.add_u32(&format!("{a}.attention.key_length"), p.head_dim)
        .map_err(err)?;
    w.add_u32(&format!("{a}.attention.value_length"), p.head_dim)
        .map_err(err)?;
    w.add_u64(&format!("{a}.vocab_size"), p.vocab)
        .map_err(err)?;

    let (h, f, v) = (p.hidden, p.ffn, p.vocab);
    let q = p.heads as u64 * p.head_dim as u64;
    let kv = p.kv_heads as u64 * p.head_dim as u64;
    let embed_ty = if bitnet { GgmlType::F16 } else { ty };
    let mut t = |name: &str, dims: &[u64], want: GgmlType| -> Result<()> {
        w.add_tensor_info(name, dims, shape::storable(want, dims))
            .map(|_| ())
            .map_err(err)
    };
    t("token_embd.weight", &[h, v], embed_ty)?;
    for l in 0..p.layers {
        let n = |s: &str| format!("blk.{l}.{s}");
        t(&n("attn_norm.weight"), &[h], GgmlType::F32)?;
        t(&n("attn_q.weight"), &[h, q], ty)?;
        t(&n("attn_k.weight"), &[h, kv], ty)?;
        t(&n("attn_v.weight"), &[h, kv], ty)?;
        if p.qkv_bias {
            t(&n("attn_q.bias"), &[q], GgmlType::F32)?;
            t(&n("attn_k.bias"), &[kv], GgmlType::F32)?;
            t(&n("attn_v.bias"), &[kv], GgmlType::F32)?;
        }
        t(&n("attn_output.weight"), &[q, h], ty)?;
        t(&n("ffn_norm.weight"), &[h], GgmlType::F32)?;
        t(&n("ffn_gate.weight"), &[h, f], ty)?;
        t(&n("ffn_up.weight"), &[h, f], ty)?;
        t(&n("ffn_down.weight"), &[f, h], ty)?;
        if bitnet {
            t(&n("attn_sub_norm.weight"), &[h], GgmlType::F32)?;
            t(&n("ffn_sub_norm.weight"), &[f], GgmlType::F32)?;
        }
    }
    t("output_norm.weight", &[h], GgmlType::F32)?;
    if !p.tied {
        t("output.weight", &[h, v], embed_ty)?;
    }
    Ok(w)
}

/// The profile of preset `spec` (`NAME` or `NAME:TYPE`).
pub fn profile(spec: &str) -> Result<ModelProfile> {
    let (preset, weights) = find_weights(spec)?;
    let w = header_for(&preset, weights)?;
    let map =
        |e: crate::gguf::writer::WriteError| Error::InvalidConfig(format!("preset {spec}: {e}"));
    let bytes = w.header_bytes().map_err(map)?;
    let (_, data_len) = w.layout().map_err(map)?;
    let label = format!("preset:{}:{}", preset.name, weights.label());
    let file = GgufFile::parse(Path::new(&label), &bytes, bytes.len() as u64 + data_len)?;
    let mut profile = crate::read::profile_from_gguf(&file)?;
    profile.name = format!("{}:{}", preset.name, weights.label());
    profile.format = crate::profile::ModelFormat::Preset;
    profile.file_bytes = 0;
    Ok(profile)
}

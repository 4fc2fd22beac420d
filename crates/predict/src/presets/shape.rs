//! The GGUF header of an arbitrary llama-family model quantized to a llama.cpp file type:
//! tensor names and shapes as llama.cpp's loader creates them (`load_arch_tensors` in
//! src/models/llama.cpp, qwen2.cpp, qwen3.cpp, qwen3moe.cpp, glm4.cpp), types from
//! [`super::quant_mix`], in the order `llama-quantize` writes them. So the calibration
//! crate can rebuild a model from a public log's `print_info` lines.

use super::ftype::Ftype;
use super::quant_mix::{loader_order, tensor_types, MixContext, MixOptions, TensorDesc};
use crate::error::{Error, Result};
use crate::ggml_type::GgmlType;
use crate::gguf::writer::{GgufWriter, WriteError};

/// The architectures [`Shape`] builds.
pub const SHAPE_ARCHS: [&str; 6] = ["llama", "qwen2", "qwen3", "qwen3moe", "glm4", "gptneox"];

/// A llama-family model's shape, as `print_info` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// GGUF architecture: `llama` (also Mistral and Mixtral), `qwen2`, `qwen3`, `qwen3moe`,
    /// `glm4` (GLM-4-0414), `gptneox` (Pythia: LayerNorms with biases, one fused QKV
    /// product, a GELU feed-forward, the parallel residual; src/models/gptneox.cpp).
    pub arch: String,
    /// `general.name`.
    pub name: String,
    /// Blocks (`n_layer`).
    pub n_layer: u32,
    /// Embedding width (`n_embd`).
    pub n_embd: u64,
    /// Query heads (`n_head`).
    pub n_head: u32,
    /// KV heads (`n_head_kv`).
    pub n_head_kv: u32,
    /// Per-head width (`n_embd_head_k`, equal to `n_embd_head_v` here).
    pub head_dim: u32,
    /// Dense feed-forward width (`n_ff`); the experts' width of a llama MoE.
    pub n_ff: u64,
    /// Vocabulary (`n_vocab`).
    pub n_vocab: u64,
    /// Trained context (`n_ctx_train`).
    pub ctx_train: u64,
    /// No `output.weight`: the output reuses `token_embd`.
    pub tied: bool,
    /// `attn_{q,k,v}.bias` (Qwen2).
    pub qkv_bias: bool,
    /// `attn_{q,k}_norm.weight` (Qwen3).
    pub qk_norm: bool,
    /// `rope_freqs.weight` (Llama 3.1/3.2 and others with llama3 rope scaling).
    pub rope_freqs: bool,
    /// `post_attention_norm.weight` and `post_ffw_norm.weight` after each block's attention
    /// and feed-forward (GLM-4).
    pub post_norms: bool,
    /// One `ffn_up.weight` of twice `n_ff` holding the gate and the up projection, and no
    /// `ffn_gate.weight` (GLM-4's fused SwiGLU input).
    pub fused_up: bool,
    /// Rotated dimensions per head (`n_rot`, `rope.dimension_count`); None: the whole head.
    pub n_rot: Option<u32>,
    /// Experts (`n_expert`; 0 for a dense model).
    pub n_expert: u32,
    /// Experts used per token (`n_expert_used`).
    pub n_expert_used: u32,
    /// An expert's feed-forward width (`n_ff_exp`; qwen3moe).
    pub n_ff_exp: u64,
}

impl Shape {
    /// A dense shape with `head_dim = n_embd / n_head`, untied, no rope factors, and the
    /// architecture's usual extras: q/k/v biases for qwen2, q/k norms for qwen3 and
    /// qwen3moe, post-norms and a fused gate/up projection for glm4. Set the other fields
    /// as the log says.
    pub fn new(
        arch: &str,
        n_layer: u32,
        n_embd: u64,
        (n_head, n_head_kv): (u32, u32),
        n_ff: u64,
        n_vocab: u64,
    ) -> Shape {
        Shape {
            arch: arch.to_string(),
            name: format!("memcal {arch} shape"),
            n_layer,
            n_embd,
            n_head,
            n_head_kv,
            head_dim: n_embd.checked_div(n_head as u64).unwrap_or(0) as u32,
            n_ff,
            n_vocab,
            ctx_train: 4096,
            tied: false,
            qkv_bias: arch == "qwen2",
            qk_norm: matches!(arch, "qwen3" | "qwen3moe"),
            rope_freqs: false,
            post_norms: arch == "glm4",
            fused_up: arch == "glm4",
            n_rot: None,
            n_expert: 0,
            n_expert_used: 0,
            n_ff_exp: 0,
        }
    }

    /// The same as a mixture of experts: merged `ffn_{gate,up,down}_exps` and an F32
    /// `ffn_gate_inp` in every block.
    pub fn with_experts(mut self, n_expert: u32, n_expert_used: u32, n_ff_exp: u64) -> Shape {
        self.n_expert = n_expert;
        self.n_expert_used = n_expert_used;
        self.n_ff_exp = n_ff_exp;
        self
    }

    /// The experts' feed-forward width: `n_ff_exp` where set, else `n_ff` (llama MoE).
    fn expert_ff(&self) -> u64 {
        if self.n_ff_exp > 0 {
            self.n_ff_exp
        } else {
            self.n_ff
        }
    }

    /// An error unless this shape is one llama.cpp loads.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidConfig(format!("shape {}: {m}", self.name)));
        if !SHAPE_ARCHS.contains(&self.arch.as_str()) {
            return bad(format!(
                "architecture {:?} is not one of {SHAPE_ARCHS:?}",
                self.arch
            ));
        }
        if self.n_layer == 0 || self.n_embd == 0 || self.n_ff == 0 || self.n_vocab == 0 {
            return bad("n_layer, n_embd, n_ff and n_vocab must be above 0".into());
        }
        if self.n_head == 0 || self.n_head_kv == 0 || self.head_dim == 0 {
            return bad("n_head, n_head_kv and head_dim must be above 0".into());
        }
        if !self.n_head.is_multiple_of(self.n_head_kv) {
            return bad(format!(
                "n_head {} is not a multiple of n_head_kv {}",
                self.n_head, self.n_head_kv
            ));
        }
        if self.arch == "qwen3moe" && self.n_expert == 0 {
            return bad("qwen3moe needs experts".into());
        }
        if self.arch == "gptneox"
            && (self.n_expert > 0 || self.tied || self.n_head_kv != self.n_head)
        {
            return bad("gptneox is dense, untied, with as many KV heads as heads".into());
        }
        if self.fused_up && self.n_expert > 0 {
            return bad("a fused gate/up projection (glm4) is a dense block: no experts".into());
        }
        if self.n_expert > 0 && (self.n_expert_used == 0 || self.n_expert_used > self.n_expert) {
            return bad(format!(
                "{} experts used of {}",
                self.n_expert_used, self.n_expert
            ));
        }
        Ok(())
    }

    /// The unquantized file's tensors (F32 norms, biases, router and rope factors, F16
    /// matrices), in [`loader_order`], the order `llama-quantize` writes.
    pub fn tensors(&self) -> Vec<TensorDesc> {
        if self.arch == "gptneox" {
            return self.neox_tensors();
        }
        let (h, v, hd) = (self.n_embd, self.n_vocab, self.head_dim as u64);
        let (q, kv) = (self.n_head as u64 * hd, self.n_head_kv as u64 * hd);
        let mut out = Vec::new();
        let mut t = |name: String, dims: &[u64]| {
            let source = if dims.len() == 1 || name.contains("ffn_gate_inp") {
                GgmlType::F32
            } else {
                GgmlType::F16
            };
            out.push(TensorDesc::new(name, dims, source));
        };
        t("token_embd.weight".into(), &[h, v]);
        t("output_norm.weight".into(), &[h]);
        if !self.tied {
            t("output.weight".into(), &[h, v]);
        }
        if self.rope_freqs {
            t("rope_freqs.weight".into(), &[hd / 2]);
        }
        for l in 0..self.n_layer {
            let n = |s: &str| format!("blk.{l}.{s}");
            t(n("attn_norm.weight"), &[h]);
            t(n("attn_q.weight"), &[h, q]);
            t(n("attn_k.weight"), &[h, kv]);
            t(n("attn_v.weight"), &[h, kv]);
            if self.qkv_bias {
                t(n("attn_q.bias"), &[q]);
                t(n("attn_k.bias"), &[kv]);
                t(n("attn_v.bias"), &[kv]);
            }
            if self.qk_norm {
                t(n("attn_q_norm.weight"), &[hd]);
                t(n("attn_k_norm.weight"), &[hd]);
            }
            t(n("attn_output.weight"), &[q, h]);
            if self.post_norms {
                t(n("post_attention_norm.weight"), &[h]);
                t(n("post_ffw_norm.weight"), &[h]);
            }
            t(n("ffn_norm.weight"), &[h]);
            if self.n_expert > 0 {
                let (e, f) = (self.n_expert as u64, self.expert_ff());
                t(n("ffn_gate_inp.weight"), &[h, e]);
                t(n("ffn_gate_exps.weight"), &[h, f, e]);
                t(n("ffn_down_exps.weight"), &[f, h, e]);
                t(n("ffn_up_exps.weight"), &[h, f, e]);
            } else if self.fused_up {
                t(n("ffn_down.weight"), &[self.n_ff, h]);
                t(n("ffn_up.weight"), &[h, 2 * self.n_ff]);
            } else {
                t(n("ffn_gate.weight"), &[h, self.n_ff]);
                t(n("ffn_down.weight"), &[self.n_ff, h]);
                t(n("ffn_up.weight"), &[h, self.n_ff]);
            }
        }
        let order = loader_order(&out);
        order.into_iter().map(|i| out[i].clone()).collect()
    }

    /// [`Shape::tensors`] of a `gptneox` model, as its `load_arch_tensors` creates them.
    fn neox_tensors(&self) -> Vec<TensorDesc> {
        let (h, f) = (self.n_embd, self.n_ff);
        let qkv = h + 2 * self.n_head_kv as u64 * self.head_dim as u64;
        let mut out = Vec::new();
        let mut t = |name: String, dims: &[u64]| {
            let source = if dims.len() == 1 {
                GgmlType::F32
            } else {
                GgmlType::F16
            };
            out.push(TensorDesc::new(name, dims, source));
        };
        t("token_embd.weight".into(), &[h, self.n_vocab]);
        t("output_norm.weight".into(), &[h]);
        t("output_norm.bias".into(), &[h]);
        t("output.weight".into(), &[h, self.n_vocab]);
        for l in 0..self.n_layer {
            let n = |s: &str| format!("blk.{l}.{s}");
            for (name, dims) in [
                ("attn_norm.weight", vec![h]),
                ("attn_norm.bias", vec![h]),
                ("attn_qkv.weight", vec![h, qkv]),
                ("attn_qkv.bias", vec![qkv]),
                ("attn_output.weight", vec![h, h]),
                ("attn_output.bias", vec![h]),
                ("ffn_norm.weight", vec![h]),
                ("ffn_norm.bias", vec![h]),
                ("ffn_down.weight", vec![f, h]),
                ("ffn_down.bias", vec![h]),
                ("ffn_up.weight", vec![h, f]),
                ("ffn_up.bias", vec![f]),
            ] {
                t(n(name), &dims);
            }
        }
        let order = loader_order(&out);
        order.into_iter().map(|i| out[i].clone()).collect()
    }

    /// The quantize state llama.cpp builds for this model.
    pub fn mix_context(&self, options: MixOptions) -> MixContext {
        let (a, l, h, kv, e) = (
            &self.arch,
            self.n_layer,
            self.n_head,
            self.n_head_kv,
            self.n_expert,
        );
        MixContext::new(a, l, h, kv, e).with_options(options)
    }

    /// Every tensor of this model quantized to `ftype`, with its type, in write order.
    pub fn quantized(&self, ftype: Ftype, options: MixOptions) -> Vec<(TensorDesc, GgmlType)> {
        let tensors = self.tensors();
        let types = tensor_types(ftype, &tensors, &mut self.mix_context(options));
        tensors.into_iter().zip(types).collect()
    }
}

/// The GGUF header of `shape` quantized to `ftype` with `options`: the `general.*` and
/// `<arch>.*` keys llama.cpp reads (u32 as the converter writes them, `general.file_type`
/// included) and every tensor as [`Shape::quantized`] types it. No tokenizer is written
/// (add `tokenizer.ggml.*` to the writer for a loadable file).
pub fn header(shape: &Shape, ftype: Ftype, options: MixOptions) -> Result<GgufWriter> {
    shape.validate()?;
    let err = |e: WriteError| Error::InvalidConfig(format!("shape {}: {e}", shape.name));
    let mut w = GgufWriter::new();
    add_keys(&mut w, shape, Some(ftype)).map_err(err)?;
    for (t, ty) in shape.quantized(ftype, options) {
        w.add_tensor_info(&t.name, &t.dims, ty).map_err(err)?;
    }
    Ok(w)
}

/// The GGUF header of `shape` with every matrix in `ty` (norms, biases and the router
/// F32; a matrix `ty` cannot hold as llama.cpp's quantizer falls back), as a preset's
/// `NAME:TYPE` with a ggml type asks. No `general.file_type` is written.
pub fn header_one_type(shape: &Shape, ty: GgmlType) -> Result<GgufWriter> {
    shape.validate()?;
    let err = |e: WriteError| Error::InvalidConfig(format!("shape {}: {e}", shape.name));
    let mut w = GgufWriter::new();
    add_keys(&mut w, shape, None).map_err(err)?;
    for t in shape.tensors() {
        let want = if t.source == GgmlType::F32 {
            GgmlType::F32
        } else {
            ty
        };
        let stored = storable(want, &t.dims);
        w.add_tensor_info(&t.name, &t.dims, stored).map_err(err)?;
    }
    Ok(w)
}

/// The type a tensor of row width `ne0` is stored in when `wanted` cannot hold
/// it (its rows are not whole blocks of `wanted`): Q8_0, then F16, then F32.
pub(crate) fn storable(wanted: GgmlType, dims: &[u64]) -> GgmlType {
    [wanted, GgmlType::Q8_0, GgmlType::F16]
        .into_iter()
        .find(|t| t.nbytes(dims).is_some())
        .unwrap_or(GgmlType::F32)
}

/// A u32 key's value, or an error naming it.
fn u32_of(key: &str, v: u64) -> std::result::Result<u32, WriteError> {
    u32::try_from(v).map_err(|_| WriteError::Invalid(format!("{key} = {v} does not fit a u32")))
}

/// The metadata keys of [`header`].
fn add_keys(
    w: &mut GgufWriter,
    s: &Shape,
    ftype: Option<Ftype>,
) -> std::result::Result<(), WriteError> {
    let a = s.arch.as_str();
    let k = |n: &str| format!("{a}.{n}");
    w.add_string("general.architecture", a)?;
    w.add_string("general.name", &s.name)?;
    if let Some(ftype) = ftype {
        w.add_u32("general.file_type", ftype.id())?;
        w.add_u32("general.quantization_version", 2)?;
    }
    w.add_u32(&k("block_count"), s.n_layer)?;
    w.add_u32(&k("context_length"), u32_of("context_length", s.ctx_train)?)?;
    w.add_u32(
        &k("embedding_length"),
        u32_of("embedding_length", s.n_embd)?,
    )?;
    w.add_u32(
        &k("feed_forward_length"),
        u32_of("feed_forward_length", s.n_ff)?,
    )?;
    w.add_u32(&k("attention.head_count"), s.n_head)?;
    w.add_u32(&k("attention.head_count_kv"), s.n_head_kv)?;
    let derived = s.n_embd.checked_div(s.n_head as u64) == Some(s.head_dim as u64);
    if !derived || a.starts_with("qwen3") {
        w.add_u32(&k("attention.key_length"), s.head_dim)?;
        w.add_u32(&k("attention.value_length"), s.head_dim)?;
    }
    // Required by these archs' load_arch_hparams; the converters' usual values.
    let eps = if matches!(a, "llama" | "glm4") {
        1e-5
    } else {
        1e-6
    };
    if a == "gptneox" {
        // LayerNorm, and Pythia's parallel residual.
        w.add_f32(&k("attention.layer_norm_epsilon"), 1e-5)?;
        w.add_bool(&k("use_parallel_residual"), true)?;
    } else {
        w.add_f32(&k("attention.layer_norm_rms_epsilon"), eps)?;
    }
    w.add_u32(&k("rope.dimension_count"), s.n_rot.unwrap_or(s.head_dim))?;
    w.add_u32(&k("vocab_size"), u32_of("vocab_size", s.n_vocab)?)?;
    if s.n_expert > 0 {
        w.add_u32(&k("expert_count"), s.n_expert)?;
        w.add_u32(&k("expert_used_count"), s.n_expert_used)?;
        if s.n_ff_exp > 0 {
            let f = u32_of("expert_feed_forward_length", s.n_ff_exp)?;
            w.add_u32(&k("expert_feed_forward_length"), f)?;
        }
    }
    Ok(())
}

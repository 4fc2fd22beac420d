//! llama.cpp's quantization mixes: the type `llama-quantize` gives each tensor of a file
//! made with a given [`Ftype`], so a synthetic header has exactly the per-tensor types of a
//! real conversion.
//!
//! This follows `src/llama-quant.cpp` of llama.cpp build 11434 function by function:
//! [`category`] is `tensor_get_category`, [`allows_quantization`] is
//! `tensor_allows_quantization`, [`tensor_type`] is `llama_tensor_get_type` (which calls
//! `llama_tensor_get_type_impl`, then `tensor_type_fallback`), [`MixContext::count`] is
//! `init_quantize_state_counters` and [`tensor_types`] is the preliminary loop of
//! `llama_model_quantize_impl` over the tensors in `llama_model_loader::weights_map` order
//! ([`loader_order`]). Not modelled: `--tensor-type` regex overrides, `--prune-layers`,
//! `--only-copy`, `--leave-output-tensor` and the per_layer_token_embd override detail.

use super::ftype::Ftype;
use crate::ggml_type::GgmlType;

mod rules;

/// A tensor's broad role, as `tensor_get_category` sees it from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TensorCategory {
    /// `token_embd.weight` or `per_layer_token_embd.weight`.
    TokenEmbd,
    /// `output.weight`.
    Output,
    /// A name containing `attn_qkv.weight`.
    AttentionQkv,
    /// A name containing `attn_kv_b.weight` (DeepSeek's MLA).
    AttentionKvB,
    /// A name containing `attn_v.weight`.
    AttentionV,
    /// A name containing `attn_k.weight`.
    AttentionK,
    /// A name containing `attn_q.weight`.
    AttentionQ,
    /// A name containing `attn_output.weight`.
    AttentionOutput,
    /// A name containing `ffn_up` (`ffn_up_exps`, `ffn_up_shexp` too).
    FfnUp,
    /// A name containing `ffn_gate` (`ffn_gate_exps`, and `ffn_gate_inp`, which is never
    /// quantized).
    FfnGate,
    /// A name containing `ffn_down`.
    FfnDown,
    /// Anything else.
    Other,
}

impl TensorCategory {
    /// `category_is_attn_v`: V-like tensors, the ones `i_attention_wv` counts.
    pub fn is_attn_v_like(self) -> bool {
        matches!(
            self,
            TensorCategory::AttentionV
                | TensorCategory::AttentionQkv
                | TensorCategory::AttentionKvB
        )
    }
}

/// `tensor_get_category`: the first match in llama.cpp's order.
pub fn category(name: &str) -> TensorCategory {
    use TensorCategory::*;
    if name == "output.weight" {
        return Output;
    }
    if name == "token_embd.weight" || name == "per_layer_token_embd.weight" {
        return TokenEmbd;
    }
    let by_part = [
        ("attn_qkv.weight", AttentionQkv),
        ("attn_kv_b.weight", AttentionKvB),
        ("attn_v.weight", AttentionV),
        ("attn_k.weight", AttentionK),
        ("attn_q.weight", AttentionQ),
        ("attn_output.weight", AttentionOutput),
        ("ffn_up", FfnUp),
        ("ffn_gate", FfnGate),
        ("ffn_down", FfnDown),
    ];
    by_part
        .into_iter()
        .find(|(part, _)| name.contains(part))
        .map_or(Other, |(_, c)| c)
}

/// `ggml_n_dims`: dimensions up to the last one above 1 (at least 1).
pub fn n_dims(dims: &[u64]) -> usize {
    dims.iter().rposition(|&d| d > 1).map_or(1, |i| i + 1)
}

/// Parts of a name that `tensor_allows_quantization` never quantizes, for every arch.
const NEVER_QUANTIZED: [&str; 35] = [
    "_norm.weight",
    "ffn_gate_inp.weight",
    "ffn_gate_tid2eid.weight",
    "altup",
    "laurel",
    "per_layer_model_proj",
    "ssm_conv1d",
    "shortconv.conv.weight",
    "indexer.k_proj.weight",
    "indexer.q_proj.weight",
    "time_mix_first.weight",
    "time_mix_w0.weight",
    "time_mix_w1.weight",
    "time_mix_w2.weight",
    "time_mix_v0.weight",
    "time_mix_v1.weight",
    "time_mix_v2.weight",
    "time_mix_a0.weight",
    "time_mix_a1.weight",
    "time_mix_a2.weight",
    "time_mix_g1.weight",
    "time_mix_g2.weight",
    "time_mix_decay_w1.weight",
    "time_mix_decay_w2.weight",
    "time_mix_lerp_fused.weight",
    "attn_rel_b.weight",
    ".position_embd",
    "sam.pos_embd",
    "sam.neck.",
    "sam.net_",
    ".rel_pos",
    ".patch_embd",
    ".patch_merger",
    "a.rvq.codebook",
    "mm.a.code_embd",
];

/// The GLM5-next tensors `tensor_allows_quantization` keeps as they are.
const GLM5_NEXT_KEPT: [&str; 14] = [
    "hc_",
    "indexer.attn_q_b",
    "indexer.attn_k",
    "indexer.proj",
    "indexer_compressor_gate",
    "indexer_compressor_ape",
    "ssm_f_a.weight",
    "ssm_f_b.weight",
    "ssm_g_a.weight",
    "ssm_g_b.weight",
    "ssm_beta.weight",
    "attn_kv_a_mqa.weight",
    "attn_k_b.weight",
    "attn_v_b.weight",
];

/// `tensor_allows_quantization` (with `--only-copy` off and the output tensor quantized):
/// 2-D and 3-D tensors whose name ends in `weight`, except norms, expert routers,
/// positional/token-type embeddings and the small tensors llama.cpp lists.
pub fn allows_quantization(arch: &str, name: &str, dims: &[u64]) -> bool {
    if n_dims(dims) < 2 || !name.ends_with("weight") {
        return false;
    }
    if name == "position_embd.weight" || name == "token_types.weight" {
        return false;
    }
    if NEVER_QUANTIZED.iter().any(|p| name.contains(p)) {
        return false;
    }
    !(arch == "glm5-next" && GLM5_NEXT_KEPT.iter().any(|p| name.contains(p)))
}

/// One tensor of the unquantized source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorDesc {
    /// GGUF tensor name, e.g. `blk.0.attn_v.weight`.
    pub name: String,
    /// Dimensions, `ne[0]` (the row width) first.
    pub dims: Vec<u64>,
    /// Its type in the source file (F32 for norms, biases and routers; F16 or BF16 for
    /// matrices): the type a tensor that is not quantized keeps.
    pub source: GgmlType,
}

impl TensorDesc {
    /// A tensor from its name, dimensions and source type.
    pub fn new(name: impl Into<String>, dims: &[u64], source: GgmlType) -> TensorDesc {
        TensorDesc {
            name: name.into(),
            dims: dims.to_vec(),
            source,
        }
    }
}

/// The `llama_model_quantize_params` options that change the mix.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MixOptions {
    /// An importance matrix was given (`--imatrix`): changes the IQ3_XXS, IQ4_NL, IQ4_XS,
    /// Q4_0 and Q5_0 rules for `attn_v` and `ffn_down`.
    pub has_imatrix: bool,
    /// `--pure`: every quantized tensor in the default type (fallbacks still apply).
    pub pure: bool,
    /// `--output-tensor-type`.
    pub output_type: Option<GgmlType>,
    /// `--token-embedding-type`.
    pub token_embd_type: Option<GgmlType>,
    /// The quantizer of builds before `attn_qkv` was typed as `attn_v` (the
    /// `category_is_attn_v` of b11434's llama-quant.cpp): a fused QKV weight then took its own
    /// branch (Q3_K_M, Q3_K_L and IQ3_M to Q4_K, Q4_K_M to Q5_K, Q5_K_M to Q6_K) and no
    /// `attn_v` rule. That branch is still in b11434's source, after the one that now takes
    /// it. Files quantized by such a build (ggml-ci's Pythia files of b4893) carry that mix.
    pub legacy_qkv: bool,
}

/// What the rules depend on: `quantize_state_impl` and the model's hparams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixContext {
    /// GGUF architecture name (`llama`, `qwen3moe`, `falcon`...).
    pub arch: String,
    /// Blocks (`hparams.n_layer_all`): `n_ffn_down`, `n_ffn_gate` and `n_ffn_up`.
    pub n_layer: u32,
    /// Query heads of block 0.
    pub n_head: u32,
    /// KV heads of block 0.
    pub n_head_kv: u32,
    /// `hparams.n_expert` (0 for dense models).
    pub n_expert: u32,
    /// `model.type == LLM_TYPE_70B` (see [`model_type_is_70b`]).
    pub is_70b: bool,
    /// `has_tied_embeddings`: no `output.weight`, so `token_embd` is typed as the output.
    pub tied_embeddings: bool,
    /// `n_attention_wv`: V-like tensors in the file.
    pub n_attention_wv: u32,
    /// `i_attention_wv`: V-like tensors typed so far.
    pub i_attention_wv: u32,
    /// `i_ffn_down`: `ffn_down*` tensors typed so far.
    pub i_ffn_down: u32,
    /// `i_ffn_gate`: `ffn_gate*` tensors typed so far.
    pub i_ffn_gate: u32,
    /// `i_ffn_up`: `ffn_up*` tensors typed so far.
    pub i_ffn_up: u32,
    /// The quantize options.
    pub options: MixOptions,
}

/// Which counter a tensor's typing advances (the `++qs.i_*` of `llama_tensor_get_type_impl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bump {
    None,
    AttentionWv,
    FfnDown,
    FfnGate,
    FfnUp,
}

/// Whether llama.cpp's `load_arch_hparams` sets `LLM_TYPE_70B`, the only model type the
/// mix looks at: llama with 80 blocks and GQA (not 8 experts), qwen2, deci and olmo with
/// 80 blocks, jais2 with 68 (src/models/*.cpp).
pub fn model_type_is_70b(
    arch: &str,
    n_layer: u32,
    n_head: u32,
    n_head_kv: u32,
    n_expert: u32,
) -> bool {
    match arch {
        "llama" => n_expert != 8 && n_layer == 80 && n_head != n_head_kv,
        "qwen2" | "deci" | "olmo" => n_layer == 80,
        "jais2" => n_layer == 68,
        _ => false,
    }
}

impl MixContext {
    /// A fresh quantize state for a model: counters at 0, embeddings assumed tied until
    /// [`MixContext::count`] sees `output.weight`, as llama.cpp starts.
    pub fn new(arch: &str, n_layer: u32, n_head: u32, n_head_kv: u32, n_expert: u32) -> Self {
        MixContext {
            arch: arch.to_string(),
            n_layer,
            n_head,
            n_head_kv,
            n_expert,
            is_70b: model_type_is_70b(arch, n_layer, n_head, n_head_kv, n_expert),
            tied_embeddings: true,
            n_attention_wv: 0,
            i_attention_wv: 0,
            i_ffn_down: 0,
            i_ffn_gate: 0,
            i_ffn_up: 0,
            options: MixOptions::default(),
        }
    }

    /// The same with `options`.
    pub fn with_options(mut self, options: MixOptions) -> Self {
        self.options = options;
        self
    }

    /// `hparams.n_gqa()`: query heads per KV head (integer division; 0 without KV heads).
    pub fn n_gqa(&self) -> u32 {
        self.n_head.checked_div(self.n_head_kv).unwrap_or(0)
    }

    /// `init_quantize_state_counters` (as `llama_quant_compute_types` runs it, from a
    /// reset state): counts the V-like tensors, notes whether `output.weight` exists and
    /// sets the running counters to 0.
    pub fn count(&mut self, tensors: &[TensorDesc]) {
        self.n_attention_wv = tensors
            .iter()
            .filter(|t| category(&t.name).is_attn_v_like())
            .count() as u32;
        self.tied_embeddings = !tensors
            .iter()
            .any(|t| category(&t.name) == TensorCategory::Output);
        self.i_attention_wv = 0;
        self.i_ffn_down = 0;
        self.i_ffn_gate = 0;
        self.i_ffn_up = 0;
    }

    /// Types one tensor as [`tensor_type`] does and advances the counter llama.cpp
    /// advances for it. Call in [`loader_order`].
    pub fn next_type(&mut self, ftype: Ftype, tensor: &TensorDesc) -> GgmlType {
        let (ty, bump) = select(ftype, tensor, self);
        match bump {
            Bump::None => {}
            Bump::AttentionWv => self.i_attention_wv += 1,
            Bump::FfnDown => self.i_ffn_down += 1,
            Bump::FfnGate => self.i_ffn_gate += 1,
            Bump::FfnUp => self.i_ffn_up += 1,
        }
        ty
    }
}

/// `llama_tensor_get_type`: the type `tensor` gets in a file of type `ftype`, given the
/// state in `ctx` (its counters as llama.cpp has them when it reaches this tensor).
pub fn tensor_type(ftype: Ftype, tensor: &TensorDesc, ctx: &MixContext) -> GgmlType {
    select(ftype, tensor, ctx).0
}

/// The type and the counter bump of one tensor (`llama_tensor_get_type`).
fn select(ftype: Ftype, t: &TensorDesc, ctx: &MixContext) -> (GgmlType, Bump) {
    if !allows_quantization(&ctx.arch, &t.name, &t.dims) {
        return (t.source, Bump::None);
    }
    let cat = category(&t.name);
    let opts = &ctx.options;
    if let (Some(ty), TensorCategory::TokenEmbd) = (opts.token_embd_type, cat) {
        return (ty, Bump::None);
    }
    if let (Some(ty), TensorCategory::Output) = (opts.output_type, cat) {
        return (ty, Bump::None);
    }
    let default = ftype.default_type();
    if !default.is_quantized() {
        return (default, Bump::None);
    }
    let (ty, bump) = if opts.pure {
        (default, Bump::None)
    } else {
        rules::impl_type(ctx, default, t, ftype, cat)
    };
    (fallback(t, ty), bump)
}

/// `tensor_type_fallback`: a type whose block divides the row width `ne[0]`.
///
/// llama.cpp throws for a 256-wide-or-more block type with no fallback listed; no
/// [`Ftype`] reaches that case, and F16 is returned for it here.
pub fn fallback(t: &TensorDesc, target: GgmlType) -> GgmlType {
    use GgmlType as G;
    let ncols = t.dims.first().copied().unwrap_or(1);
    if ncols % target.block_elems() == 0 {
        return target;
    }
    let ret = match target {
        G::IQ1S | G::IQ1M | G::IQ2XXS | G::IQ2XS | G::IQ2S | G::IQ3XXS | G::IQ3S | G::IQ4XS => {
            G::IQ4NL
        }
        G::Q2_0 | G::Q2K | G::Q3K | G::TQ1_0 | G::TQ2_0 => G::Q4_0,
        G::Q4K => G::Q5_0,
        G::Q5K => G::Q5_1,
        G::Q6K => G::Q8_0,
        other if other.block_elems() <= 32 => other,
        _ => G::F16,
    };
    if ncols % ret.block_elems() != 0 {
        G::F16
    } else {
        ret
    }
}

/// The layer `blk.N.` of a tensor name.
pub fn layer_of(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("blk.")?;
    let digits = rest.split('.').next()?;
    digits.parse().ok()
}

/// The order `llama_model_loader::weights_map` keeps (its `weight_name_comparer`): tensors
/// outside blocks first, then block by block in number order, by name within each. It is
/// the order `llama-quantize` types tensors in (the counters depend on it) and writes them.
pub fn loader_order(tensors: &[TensorDesc]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..tensors.len()).collect();
    let key = |i: &usize| {
        let n = tensors[*i].name.as_str();
        (layer_of(n).map_or(-1, i64::from), n)
    };
    order.sort_by(|a, b| key(a).cmp(&key(b)));
    order
}

/// The types of every tensor of a source file quantized to `ftype`, in the order given:
/// [`MixContext::count`] over them, then [`MixContext::next_type`] for each in
/// [`loader_order`], as `llama_model_quantize_impl` does.
pub fn tensor_types(ftype: Ftype, tensors: &[TensorDesc], ctx: &mut MixContext) -> Vec<GgmlType> {
    ctx.count(tensors);
    let mut out = vec![GgmlType::F32; tensors.len()];
    for i in loader_order(tensors) {
        out[i] = ctx.next_type(ftype, &tensors[i]);
    }
    out
}

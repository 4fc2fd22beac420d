//! `llama_tensor_get_type_impl` (src/llama-quant.cpp, build 11434), one function per
//! branch of its `if / else if` chain, in the same order and with the same conditions.

use super::{layer_of, Bump, MixContext, TensorCategory, TensorDesc};
use crate::ggml_type::GgmlType;
use crate::presets::ftype::Ftype;

use Ftype as F;
use GgmlType as G;
use TensorCategory as C;

/// `use_more_bits`: the first and last eighth of the layers, and every third in between.
pub(crate) fn use_more_bits(i_layer: i64, n_layers: i64) -> bool {
    i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2
}

/// What the rules see of one tensor and its model.
struct Q<'a> {
    ctx: &'a MixContext,
    ftype: Ftype,
    t: &'a TensorDesc,
    cat: TensorCategory,
}

impl Q<'_> {
    /// Whether the tensor takes the `attn_v` rules ([`TensorCategory::is_attn_v_like`],
    /// less a fused QKV weight for [`super::MixOptions::legacy_qkv`]).
    fn attn_v_like(&self) -> bool {
        self.cat.is_attn_v_like() && !(self.ctx.options.legacy_qkv && self.cat == C::AttentionQkv)
    }

    fn is(&self, fs: &[Ftype]) -> bool {
        fs.contains(&self.ftype)
    }
    fn falcon(&self) -> bool {
        self.ctx.arch == "falcon"
    }
    fn gqa(&self) -> u32 {
        self.ctx.n_gqa()
    }
    fn imatrix(&self) -> bool {
        self.ctx.options.has_imatrix
    }
    /// `layer_info`: with more than one expert the layer comes from the tensor's name
    /// (llama.cpp throws when it has none; the counter is kept here), else the counter.
    fn layer_info(&self, counter: u32) -> (i64, i64) {
        let n = i64::from(self.ctx.n_layer);
        if self.ctx.n_expert.max(1) > 1 {
            if let Some(l) = layer_of(&self.t.name) {
                return (i64::from(l), n);
            }
        }
        (i64::from(counter), n)
    }
}

/// The 1-2 bit i-quant file types that share one branch.
const IQ_LOW: [Ftype; 6] = [F::IQ2XXS, F::IQ2XS, F::IQ1S, F::IQ2S, F::IQ2M, F::IQ1M];

/// `llama_tensor_get_type_impl`: the mix's type for a quantizable tensor whose default is
/// `new_type`, and the counter its typing advances.
pub(crate) fn impl_type(
    ctx: &MixContext,
    new_type: GgmlType,
    t: &TensorDesc,
    ftype: Ftype,
    cat: TensorCategory,
) -> (GgmlType, Bump) {
    let q = Q { ctx, ftype, t, cat };
    // By default, for glm5-next, don't let these tensors be quantized below Q8_0.
    let glm5 = ["attn_q_a", "attn_q_b", "nextn.eh_proj"];
    if ctx.arch == "glm5-next" && glm5.iter().any(|p| t.name.contains(p)) {
        return match new_type {
            G::F32 | G::BF16 | G::F16 => (new_type, Bump::None),
            _ => (G::Q8_0, Bump::None),
        };
    }
    let none = |ty| (ty, Bump::None);
    if cat == C::Output || (ctx.tied_embeddings && cat == C::TokenEmbd) {
        none(output(&q, new_type))
    } else if ftype == F::Mxfp4Moe {
        none(mxfp4_moe(&q))
    } else if cat == C::TokenEmbd {
        none(token_embd(&q, new_type))
    } else if q.is(&IQ_LOW) {
        iq_low(&q, new_type)
    } else if q.attn_v_like() {
        (attn_v(&q, new_type), Bump::AttentionWv)
    } else if cat == C::AttentionK {
        none(attn_k(&q, new_type))
    } else if cat == C::AttentionQ {
        none(match ftype {
            F::IQ3XS => G::IQ3XXS,
            F::IQ3XXS => G::IQ2S,
            _ => new_type,
        })
    } else if cat == C::FfnDown {
        (ffn_down(&q, new_type), Bump::FfnDown)
    } else if cat == C::AttentionOutput {
        none(attn_output(&q, new_type))
    } else if cat == C::AttentionQkv {
        none(match ftype {
            F::Q3KM | F::Q3KL | F::IQ3M => G::Q4K,
            F::Q4KM => G::Q5K,
            F::Q5KM => G::Q6K,
            _ => new_type,
        })
    } else if cat == C::FfnGate {
        (gate_up(&q, new_type, ctx.i_ffn_gate), Bump::FfnGate)
    } else if cat == C::FfnUp {
        (gate_up(&q, new_type, ctx.i_ffn_up), Bump::FfnUp)
    } else {
        none(new_type)
    }
}

/// `output.weight`, and `token_embd.weight` of a model with tied embeddings.
fn output(q: &Q, new_type: GgmlType) -> GgmlType {
    if let Some(ty) = q.ctx.options.output_type {
        return ty;
    }
    let nx = q.t.dims.first().copied().unwrap_or(1);
    if q.ftype == F::Mxfp4Moe || q.falcon() || nx % new_type.block_elems() != 0 {
        G::Q8_0
    } else if q.is(&[
        F::IQ2XXS,
        F::IQ2XS,
        F::IQ3XXS,
        F::IQ1S,
        F::IQ2S,
        F::IQ2M,
        F::IQ1M,
    ]) {
        G::Q5K
    } else if new_type != G::Q8_0 {
        G::Q6K
    } else {
        new_type
    }
}

/// MXFP4_MOE: expert tensors (3-D) in MXFP4, everything else in Q8_0.
fn mxfp4_moe(q: &Q) -> GgmlType {
    let bailing = q.ctx.arch == "bailingmoe3";
    let bailing_expert = bailing && matches!(q.cat, C::FfnUp | C::FfnGate | C::FfnDown);
    let ne2 = q.t.dims.get(2).copied().unwrap_or(1);
    if ne2 > 1 && (!bailing || bailing_expert) {
        G::MXFP4
    } else {
        G::Q8_0
    }
}

/// `token_embd.weight` of a model with an output tensor.
fn token_embd(q: &Q, new_type: GgmlType) -> GgmlType {
    if let Some(ty) = q.ctx.options.token_embd_type {
        return ty;
    }
    match q.ftype {
        F::IQ2XXS | F::IQ2XS | F::IQ1S | F::IQ1M => G::Q2K,
        F::IQ2S | F::IQ2M | F::IQ3XXS => G::IQ3S,
        F::TQ1_0 | F::TQ2_0 | F::Q2_0 => G::Q4K,
        _ => new_type,
    }
}

/// The branch of IQ2_XXS, IQ2_XS, IQ1_S, IQ2_S, IQ2_M and IQ1_M.
fn iq_low(q: &Q, new_type: GgmlType) -> (GgmlType, Bump) {
    let iq2sm = q.is(&[F::IQ2S, F::IQ2M]);
    let n_expert = q.ctx.n_expert;
    if q.attn_v_like() {
        let ty = if q.gqa() >= 4 || n_expert >= 4 {
            G::Q4K
        } else if iq2sm {
            G::IQ3S
        } else {
            G::Q2K
        };
        (ty, Bump::AttentionWv)
    } else if n_expert == 8 && q.cat == C::AttentionK {
        (G::Q4K, Bump::None)
    } else if q.cat == C::FfnDown {
        let first = q.ctx.i_ffn_down < q.ctx.n_layer / 8;
        let ty = match (first, iq2sm) {
            (true, true) => G::IQ3S,
            (true, false) => G::Q2K,
            _ => new_type,
        };
        (ty, Bump::FfnDown)
    } else if q.cat == C::AttentionOutput {
        let ty = if n_expert == 8 {
            G::Q5K
        } else if q.is(&[F::IQ1S, F::IQ1M]) {
            G::IQ2XXS
        } else if iq2sm {
            G::IQ3S
        } else {
            new_type
        };
        (ty, Bump::None)
    } else {
        (new_type, Bump::None)
    }
}

/// `attn_v`, `attn_qkv` and `attn_kv_b` of the other file types.
fn attn_v(q: &Q, new_type: GgmlType) -> GgmlType {
    let (gqa, i, n) = (q.gqa(), q.ctx.i_attention_wv, q.ctx.n_attention_wv);
    let mut ty = new_type;
    if q.ftype == F::Q2K {
        ty = if gqa >= 4 { G::Q4K } else { G::Q3K };
    } else if q.ftype == F::Q2KS && gqa >= 4 {
        ty = G::Q4K;
    } else if q.ftype == F::IQ3XXS {
        ty = if gqa >= 4 {
            G::Q4K
        } else if !q.imatrix() {
            G::IQ3S
        } else {
            G::IQ3XXS
        };
    } else if (q.is(&[F::IQ3XS, F::IQ3S]) && gqa >= 4) || q.ftype == F::IQ3M {
        // llama.cpp's two adjacent branches (IQ3_XS/IQ3_S with GQA, then IQ3_M), one type.
        ty = G::Q4K;
    } else if q.ftype == F::Q3KM {
        ty = if i < 2 { G::Q5K } else { G::Q4K };
    } else if q.ftype == F::Q3KL || (q.is(&[F::IQ4NL, F::IQ4XS]) && gqa >= 4) {
        // Q3_K_L, then IQ4_NL/IQ4_XS with GQA: adjacent branches of one type.
        ty = G::Q5K;
    } else if q.is(&[F::Q4KM, F::Q5KM]) && use_more_bits(i64::from(i), i64::from(n)) {
        ty = G::Q6K;
    } else if q.ftype == F::Q4KS && i < 4 {
        ty = G::Q5K;
    }
    // In the 70B model 8 heads share attn_v: more bits cost almost nothing.
    if q.ctx.is_70b && matches!(ty, G::Q3K | G::Q4K) {
        ty = G::Q5K;
    }
    // For the 8-expert model, bumping this to Q8_0 trades just ~128MB.
    if q.ctx.n_expert == 8 {
        ty = G::Q8_0;
    }
    ty
}

/// `attn_k` of the other file types.
fn attn_k(q: &Q, new_type: GgmlType) -> GgmlType {
    if q.ctx.n_expert == 8 {
        G::Q8_0
    } else if q.ftype == F::IQ3XS {
        G::IQ3XXS
    } else if q.ftype == F::IQ3XXS {
        G::IQ2S
    } else {
        new_type
    }
}

/// `ffn_down` (dense, `_exps` and `_shexp`) of the other file types.
fn ffn_down(q: &Q, new_type: GgmlType) -> GgmlType {
    let (i, n) = q.layer_info(q.ctx.i_ffn_down);
    let more = use_more_bits(i, n);
    let n_expert = q.ctx.n_expert;
    match q.ftype {
        F::Q2K => G::Q3K,
        F::Q2KS => {
            if i < n / 8 {
                G::Q4K
            } else {
                new_type
            }
        }
        F::IQ3XXS if !q.imatrix() => {
            if i < n / 8 {
                G::Q4K
            } else {
                G::Q3K
            }
        }
        F::Q3KM => {
            if i < n / 16 {
                G::Q5K
            } else if !q.falcon() || more {
                G::Q4K
            } else {
                G::Q3K
            }
        }
        F::IQ3M if i < n / 8 || (n_expert == 8 && more) => G::Q4K,
        F::Q3KL => {
            if q.falcon() {
                G::Q4K
            } else {
                G::Q5K
            }
        }
        F::Q4KM => ffn_down_q4_k_m(q, new_type, i, n),
        _ => ffn_down_rest(q, new_type, i, n),
    }
}

/// `ffn_down` of Q4_K_M.
fn ffn_down_q4_k_m(q: &Q, new_type: GgmlType, i: i64, n: i64) -> GgmlType {
    let more = use_more_bits(i, n);
    if q.falcon() {
        if i < n / 16 {
            G::Q6K
        } else if more {
            G::Q5K
        } else {
            G::Q4K
        }
    } else if more {
        G::Q6K
    } else {
        new_type
    }
}

/// The rest of the `ffn_down` chain, after Q4_K_M.
fn ffn_down_rest(q: &Q, new_type: GgmlType, i: i64, n: i64) -> GgmlType {
    if i < n / 8 && q.is(&[F::IQ4NL, F::IQ4XS]) && !q.imatrix() {
        G::Q5K
    } else if q.ftype == F::Q5KM && use_more_bits(i, n) {
        G::Q6K
    } else if q.ftype == F::Q4KS && !q.falcon() && i < n / 8 {
        G::Q5K
    } else if q.is(&[F::Q4_0, F::Q5_0]) && q.imatrix() && i < n / 8 {
        // Guard against craziness in the first few ffn_down layers (imatrix only).
        if q.ftype == F::Q4_0 {
            G::Q4_1
        } else {
            G::Q5_1
        }
    } else {
        new_type
    }
}

/// `attn_output` of the other file types.
fn attn_output(q: &Q, new_type: GgmlType) -> GgmlType {
    if q.falcon() {
        return if q.ftype == F::Q3KL { G::Q4K } else { new_type };
    }
    if q.ctx.n_expert == 8 {
        let bumped = [
            F::Q2K,
            F::IQ3XS,
            F::IQ3XXS,
            F::Q3KS,
            F::Q3KM,
            F::IQ4NL,
            F::Q4KS,
            F::Q4KM,
            F::IQ3S,
            F::IQ3M,
            F::IQ4XS,
        ];
        return if q.is(&bumped) { G::Q5K } else { new_type };
    }
    match q.ftype {
        F::Q2K => G::Q3K,
        F::IQ3XXS => G::IQ3S,
        F::Q3KM | F::IQ3M => G::Q4K,
        F::Q3KL => G::Q5K,
        _ => new_type,
    }
}

/// `ffn_gate` and `ffn_up`: IQ3_XS puts the middle layers in IQ3_XXS.
fn gate_up(q: &Q, new_type: GgmlType, counter: u32) -> GgmlType {
    let (i, n) = q.layer_info(counter);
    if q.ftype == F::IQ3XS && i >= n / 8 && i < 7 * n / 8 {
        G::IQ3XXS
    } else {
        new_type
    }
}

#[cfg(test)]
mod tests {
    use super::use_more_bits;

    #[test]
    fn more_bits_layers() {
        let count = |n: i64| (0..n).filter(|&i| use_more_bits(i, n)).count();
        assert_eq!(count(32), 16);
        assert_eq!(count(48), 24);
        assert_eq!(count(94), 46);
    }
}

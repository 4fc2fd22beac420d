//! One block's part of a device's graph: attention (flash or not, over the mask or its
//! F16 cast) and the feed-forward (separate gate and up products, or one fused product
//! and its SwiGLU), in the order llama.cpp's builders visit them.

use super::{Builder, DeviceInputs, Dims, WorkerSplit, F32};
use crate::backend::llama_cpp::ggml_alloc::Tensor;
use crate::profile::ModelProfile;

/// One block's tensors over the residual `x`; returns the residual it leaves. `last_out`:
/// the block is the device's last and the output head follows (only the output rows go on).
#[allow(clippy::too_many_arguments)]
pub(super) fn block(
    b: &mut Builder,
    profile: &ModelProfile,
    split: &WorkerSplit,
    inp: &DeviceInputs,
    dims: &Dims,
    l: usize,
    x: usize,
    last_out: bool,
) -> usize {
    let (t, d, h, dk, dv, f) = (dims.t, dims.d, dims.h, dims.dk, dims.dv, dims.f);
    let out_rows = dims.out_rows;
    let input = |k: usize| inp.first_copy[k];
    let hkv = u64::from(profile.shape.n_head_kv(l));
    let swa = profile.shape.is_swa(l);
    let kind = usize::from(swa);
    let n_kv = if swa { dims.swa_kv } else { dims.n_kv };
    let (kidx, vidx, mask) = (
        input(inp.attn.idx[kind]),
        input(inp.attn.idx[kind] + 1),
        input(inp.attn.mask[kind]),
    );
    let pos = input(inp.pos_in);
    let attn_norm = b.node(t * d * F32, vec![x], !dims.layer_norm);
    // A rotation is one more product over the tensor (its reshaped view).
    let rot = |b: &mut Builder, x: usize, r: usize, bytes: u64| {
        let m = inp.attn.rot[kind][r];
        if m == usize::MAX {
            x
        } else {
            b.node(bytes, vec![x, input(m)], false)
        }
    };
    let heads = Heads { h, hkv, dk, dv };
    let (q, k, v) = qkv(b, profile, split, dims, &heads, (attn_norm, pos), &rot);
    b.push(Tensor::external(vec![k, kidx]));
    b.push(Tensor::external(vec![v, vidx]));
    let attn = attention(b, split, &heads, (t, n_kv), q, (kind, mask));
    let attn = rot(b, attn, 1, t * h * dv * F32);
    let o = b.node(t * d * F32, vec![attn], false);
    // The last block of the output device goes on with the output rows only.
    let (rows, o, x) = if last_out {
        let ids = input(inp.out_ids_in);
        let og = b.node(out_rows * d * F32, vec![o, ids], false);
        let xg = b.node(out_rows * d * F32, vec![x, ids], false);
        (out_rows, og, xg)
    } else {
        (t, o, x)
    };
    // A parallel block's feed-forward reads the block's input; a sequential one the input
    // plus the attention.
    let ffn_inp = if profile.parallel_residual {
        x
    } else {
        b.node(rows * d * F32, vec![o, x], true)
    };
    let ffn_norm = b.node(rows * d * F32, vec![ffn_inp], !dims.layer_norm);
    let act = if profile.fused_gate_up {
        fused_swiglu(b, split.glu_op, rows * f * F32, ffn_norm)
    } else if profile.ungated_ffn {
        // One product; its bias and activation in place.
        b.node(rows * f * F32, vec![ffn_norm], false)
    } else {
        gated(b, rows * f * F32, ffn_norm)
    };
    let down = b.node(rows * d * F32, vec![act], false);
    let out = b.node(rows * d * F32, vec![down, ffn_inp], true);
    if profile.parallel_residual {
        b.node(rows * d * F32, vec![out, o], true)
    } else {
        out
    }
}

/// Q, K and V over the normed input `x`, in the order the graph computes them (Q, then V
/// and K, or K and V over an iSWA cache), each followed by its `rot`ation where a
/// quantized cache has one: three projections, each with the first operation over its
/// reshaped view (RoPE with `pos`); or one fused QKV product with Q and K roped from it and
/// V read from it where the build takes [`WorkerSplit::qkv_views`], else each slice
/// copied out of it first.
fn qkv(
    b: &mut Builder,
    profile: &ModelProfile,
    split: &WorkerSplit,
    dims: &Dims,
    hd: &Heads,
    (x, pos): (usize, usize),
    rot: &dyn Fn(&mut Builder, usize, usize, u64) -> usize,
) -> (usize, usize, usize) {
    let t = dims.t;
    let (q_bytes, k_bytes, v_bytes) = (
        t * hd.h * hd.dk * F32,
        t * hd.hkv * hd.dk * F32,
        t * hd.hkv * hd.dv * F32,
    );
    let fused = profile
        .fused_qkv
        .then(|| b.node(q_bytes + k_bytes + v_bytes, vec![x], false));
    // A slice of the fused product: the product itself where it is a view, else its copy.
    let slice = |b: &mut Builder, bytes: u64, f: usize| {
        if split.qkv_views {
            f
        } else {
            b.node(bytes, vec![f], false)
        }
    };
    let roped = |b: &mut Builder, bytes: u64| match fused {
        Some(f) => {
            let s = slice(b, bytes, f);
            b.node(bytes, vec![s, pos], false)
        }
        None => b.projected(bytes, x, pos),
    };
    let plain = |b: &mut Builder, bytes: u64| match fused {
        Some(f) => slice(b, bytes, f),
        None => b.node(bytes, vec![x], false),
    };
    let q = roped(b, q_bytes);
    let q = rot(b, q, 0, q_bytes);
    if dims.iswa {
        let k = roped(b, k_bytes);
        let k = rot(b, k, 0, k_bytes);
        let v = plain(b, v_bytes);
        (q, k, rot(b, v, 1, v_bytes))
    } else {
        let v = plain(b, v_bytes);
        let v = rot(b, v, 1, v_bytes);
        let k = roped(b, k_bytes);
        (q, rot(b, k, 0, k_bytes), v)
    }
}

/// Query and KV heads of a block, and their widths.
#[derive(Clone, Copy)]
struct Heads {
    h: u64,
    hkv: u64,
    dk: u64,
    dv: u64,
}

/// The attention of `t` queries `q` over `n_kv` cells with the `mask` of attention kind
/// `kind`: one flash-attention node (reading the mask's F16 cast where the build makes
/// one), or the KQ product, its masked softmax in place and the product with V.
fn attention(
    b: &mut Builder,
    split: &WorkerSplit,
    hd: &Heads,
    (t, n_kv): (u64, u64),
    q: usize,
    (kind, mask): (usize, usize),
) -> usize {
    let Heads { h, hkv, dk, dv } = *hd;
    if split.flash_attn {
        let mask = if split.mask_cast {
            b.mask_cast(kind, mask)
        } else {
            mask
        };
        b.node(
            t * h * dv * F32 + fa_scratch(split, hkv, n_kv, dk, dv),
            vec![q, mask],
            false,
        )
    } else {
        let kq = b.node(n_kv * t * h * F32, vec![q], false);
        let probs = b.node(n_kv * t * h * F32, vec![kq, mask], true);
        let kqv = b.node(dv * t * h * F32, vec![probs], false);
        b.node(t * h * dv * F32, vec![kqv], false)
    }
}

/// The gated activation of separate gate and up products of `x`, each `bytes`.
fn gated(b: &mut Builder, bytes: u64, x: usize) -> usize {
    let gate = b.node(bytes, vec![x], false);
    let up = b.node(bytes, vec![x], false);
    b.node(bytes, vec![gate, up], false)
}

/// The SwiGLU of a fused gate/up projection of `x` (`build_ffn` with `LLM_FFN_SWIGLU` and
/// no gate tensor), each half `half` bytes: the product of twice that, then one
/// `ggml_swiglu` node, or in builds before the GLU ops, in graph order: the first half
/// copied out (`ggml_cont` of a view), its SiLU in place, the second half copied out, and
/// their product in place.
fn fused_swiglu(b: &mut Builder, glu_op: bool, half: u64, x: usize) -> usize {
    let up = b.node(2 * half, vec![x], false);
    if glu_op {
        return b.node(half, vec![up], false);
    }
    let x0 = b.node(half, vec![up], false);
    let silu = b.node(half, vec![x0], true);
    let x1 = b.node(half, vec![up], false);
    b.node(half, vec![silu, x1], true)
}

/// Bytes a flash-attention node holds beyond its output where the device keeps F16 copies
/// of a quantized K and V in it (`ggml_cuda_flash_attn_ext_get_alloc_size`): each copy
/// aligned to 128 bytes.
fn fa_scratch(split: &WorkerSplit, hkv: u64, n_kv: u64, dk: u64, dv: u64) -> u64 {
    if !split.fa_f16_scratch {
        return 0;
    }
    2 * (dk + dv) * hkv * n_kv + 2 * 128
}

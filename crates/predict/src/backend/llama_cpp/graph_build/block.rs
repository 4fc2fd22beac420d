//! One block's part of a device's graph: attention (flash or not, over the mask or its
//! F16 cast) and the feed-forward (separate gate and up products, or one fused product
//! and its SwiGLU), in the order llama.cpp's builders visit them; for a host block the
//! device computes by op offload, with the copies of its weights and KV views.

use super::{Builder, DeviceInputs, Dims, HostBlock, ProductWeights, WorkerSplit, F32};
use crate::backend::llama_cpp::ggml_alloc::Tensor;
use crate::profile::ModelProfile;

/// One block's tensors over the residual `x`; returns the residual it leaves. `last_out`:
/// the block is the device's last and the output head follows (only the output rows go on).
/// `host`: the block lives in host memory and reaches this device by op offload.
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
    host: Option<&HostBlock>,
) -> usize {
    let w = host.map(|h| h.weights).unwrap_or_default();
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
    let (q, k, v) = qkv(b, profile, split, dims, &heads, (attn_norm, pos, w), &rot);
    kv_stores(b, host.is_some(), (k, kidx), (v, vidx));
    let views = host.map(|h| (h.k_view, h.v_view));
    let attn = attention(b, split, &heads, (t, n_kv), q, (kind, mask), views);
    let attn = rot(b, attn, 1, t * h * dv * F32);
    let o = b.product(t * d * F32, attn, w.o);
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
        fused_swiglu(b, split.glu_op, rows * f * F32, ffn_norm, w.up)
    } else if profile.ungated_ffn {
        // One product; its bias and activation in place.
        b.product(rows * f * F32, ffn_norm, w.up)
    } else {
        gated(b, rows * f * F32, ffn_norm, &w)
    };
    let down = b.product(rows * d * F32, act, w.down);
    let out = b.node(rows * d * F32, vec![down, ffn_inp], true);
    if profile.parallel_residual {
        b.node(rows * d * F32, vec![out, o], true)
    } else {
        out
    }
}

/// The KV stores of K and V with their cell indices: on this device, or on the CPU that
/// holds a host block's cache (`on_host`: handed K and V; the indices stay there).
fn kv_stores(b: &mut Builder, on_host: bool, (k, kidx): (usize, usize), (v, vidx): (usize, usize)) {
    if on_host {
        b.push(Tensor::external(vec![k]));
        b.push(Tensor::external(vec![v]));
    } else {
        b.push(Tensor::external(vec![k, kidx]));
        b.push(Tensor::external(vec![v, vidx]));
    }
}

/// Q, K and V over the normed input `x`, in the order the graph computes them (Q, then V
/// and K, or K and V over an iSWA cache), each followed by its `rot`ation where a
/// quantized cache has one: three projections, each with the first operation over its
/// reshaped view (RoPE with `pos`); or one fused QKV product with Q and K roped from it and
/// V read from it where the build takes [`WorkerSplit::qkv_views`], else each slice
/// copied out of it first. `w`: the copies of the projections' weights (op offload).
fn qkv(
    b: &mut Builder,
    profile: &ModelProfile,
    split: &WorkerSplit,
    dims: &Dims,
    hd: &Heads,
    (x, pos, w): (usize, usize, ProductWeights),
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
        .then(|| b.product(q_bytes + k_bytes + v_bytes, x, w.q));
    // A slice of the fused product: the product itself where it is a view, else its copy.
    let slice = |b: &mut Builder, bytes: u64, f: usize| {
        if split.qkv_views {
            f
        } else {
            b.node(bytes, vec![f], false)
        }
    };
    let roped = |b: &mut Builder, bytes: u64, weight: u64| match fused {
        Some(f) => {
            let s = slice(b, bytes, f);
            b.node(bytes, vec![s, pos], false)
        }
        None => b.projected(bytes, x, pos, weight),
    };
    let plain = |b: &mut Builder, bytes: u64, weight: u64| match fused {
        Some(f) => slice(b, bytes, f),
        None => b.product(bytes, x, weight),
    };
    let q = roped(b, q_bytes, w.q);
    let q = rot(b, q, 0, q_bytes);
    if dims.iswa {
        let k = roped(b, k_bytes, w.k);
        let k = rot(b, k, 0, k_bytes);
        let v = plain(b, v_bytes, w.v);
        (q, k, rot(b, v, 1, v_bytes))
    } else {
        let v = plain(b, v_bytes, w.v);
        let v = rot(b, v, 1, v_bytes);
        let k = roped(b, k_bytes, w.k);
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
/// one), or the KQ product, its masked softmax in place and the product with V. `views`:
/// the bytes of the copies of a host block's K and V views, both made at the start of the
/// attention's split (after the KV stores on the CPU), each freed after its product.
fn attention(
    b: &mut Builder,
    split: &WorkerSplit,
    hd: &Heads,
    (t, n_kv): (u64, u64),
    q: usize,
    (kind, mask): (usize, usize),
    views: Option<(u64, u64)>,
) -> usize {
    let Heads { h, hkv, dk, dv } = *hd;
    let mask = if split.flash_attn && split.mask_cast {
        b.mask_cast(kind, mask)
    } else {
        mask
    };
    let (kc, vc) = match views {
        Some((k, v)) => (
            Some(b.node(k, Vec::new(), false)),
            Some(b.node(v, Vec::new(), false)),
        ),
        None => (None, None),
    };
    if split.flash_attn {
        b.node(
            t * h * dv * F32 + fa_scratch(split, hkv, n_kv, dk, dv),
            [q, mask].into_iter().chain(kc).chain(vc).collect(),
            false,
        )
    } else {
        let kq = b.node(
            n_kv * t * h * F32,
            std::iter::once(q).chain(kc).collect(),
            false,
        );
        let probs = b.node(n_kv * t * h * F32, vec![kq, mask], true);
        let kqv = b.node(
            dv * t * h * F32,
            std::iter::once(probs).chain(vc).collect(),
            false,
        );
        b.node(t * h * dv * F32, vec![kqv], false)
    }
}

/// The gated activation of separate gate and up products of `x`, each `bytes` (with the
/// copies of their weights `w` where op offload makes them).
fn gated(b: &mut Builder, bytes: u64, x: usize, w: &ProductWeights) -> usize {
    let gate = b.product(bytes, x, w.gate);
    let up = b.product(bytes, x, w.up);
    b.node(bytes, vec![gate, up], false)
}

/// The SwiGLU of a fused gate/up projection of `x` (`build_ffn` with `LLM_FFN_SWIGLU` and
/// no gate tensor), each half `half` bytes: the product of twice that, then one
/// `ggml_swiglu` node, or in builds before the GLU ops, in graph order: the first half
/// copied out (`ggml_cont` of a view), its SiLU in place, the second half copied out, and
/// their product in place.
fn fused_swiglu(b: &mut Builder, glu_op: bool, half: u64, x: usize, weight: u64) -> usize {
    let up = b.product(2 * half, x, weight);
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

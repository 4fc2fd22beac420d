//! The compute graph a device runs for its blocks, as the tensors ggml's allocator lays
//! out (`llama-graph.cpp`'s builders, in the order the engine visits them): the split's
//! inputs (with their pipeline copies), each block's attention and feed-forward, the output
//! head or the residual passed on. [`super::compute_buffer`] allocates it.

use super::ggml_alloc::Tensor;
use super::graph::Graph;
use super::kv_cache::KvGeometry;
use crate::profile::ModelProfile;

const F32: u64 = 4;
/// Alignment of a CPU buffer's tensors (and an RPC worker's).
pub const CPU_ALIGN: u64 = 32;

/// What one device of a split holds, as its graph sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSplit {
    /// The blocks it computes, in order.
    pub blocks: Vec<usize>,
    /// Whether its first block is block 0 (its input is the token embeddings).
    pub first: bool,
    /// Whether it computes the output layer.
    pub output: bool,
    /// Whether this is the client that keeps no block (its CPU holds the graph's inputs
    /// and gathers the embedding rows; `blocks` is then empty).
    pub client: bool,
    /// Whether the block before its first one runs on the client's CPU: the scheduler then
    /// hands it that block's last residual add, so it receives the add's two operands.
    pub after_cpu: bool,
    /// Copies of each split input the scheduler keeps (4 with pipeline parallelism, else 1).
    pub copies: u32,
    /// Whether the embeddings arrive with the build's mixed-embedding inputs (build 11434:
    /// the embeddings, a second embedding row set, its slot ids and a duplicate).
    pub mixed_embd_inputs: bool,
    /// Whether attention runs as flash attention (one fused node, an f16 mask).
    pub flash_attn: bool,
    /// The Hadamard rotations of a quantized KV cache: the sizes of the K and V rotation
    /// matrices (0: none). See [`super::cparams::kv_rotation`].
    pub rotation: (u64, u64),
    /// Alignment of the device's buffer (32 on a CPU, 128 on a GPU).
    pub align: u64,
    /// Tokens a KV mask's rows are padded to (the build's `GGML_KQ_MASK_PAD`).
    pub mask_pad: u64,
    /// Whether each flash-attention node holds the F16 copies of a quantized K and V
    /// (ggml-cuda's FLASH_ATTN_EXT alloc size from b9295).
    pub fa_f16_scratch: bool,
}

/// A device's graph as tensors, with which of them are copies of the split's inputs.
pub(crate) struct Plan {
    pub(crate) tensors: Vec<Tensor>,
    /// Whether tensor j is a copy of an input.
    pub(crate) is_copy: Vec<bool>,
    /// The tensors of each input copy.
    pub(crate) copy_of: Vec<Vec<usize>>,
    /// Whether tensor j is never computed (a branch the graph does not select).
    pub(crate) idle: Vec<bool>,
}

struct Builder {
    plan: Plan,
}

impl Builder {
    fn push(&mut self, t: Tensor) -> usize {
        self.plan.tensors.push(t);
        self.plan.is_copy.push(false);
        self.plan.idle.push(false);
        self.plan.tensors.len() - 1
    }

    fn node(&mut self, bytes: u64, srcs: Vec<usize>, inplace: bool) -> usize {
        self.push(Tensor::node(bytes, srcs, inplace))
    }

    /// A projection of `x` and the first operation over its reshaped view (RoPE with
    /// `pos`, or a q/k norm) in a tensor of its own: ggml never reuses a view's memory in
    /// place, so both exist until the projection is freed.
    fn projected(&mut self, bytes: u64, x: usize, pos: usize) -> usize {
        let m = self.node(bytes, vec![x], false);
        self.node(bytes, vec![m, pos], false)
    }
}

/// Bytes of one mask over `n_kv` cells for `t` tokens in `streams` streams.
fn mask_bytes(n_kv: u64, t: u64, streams: u64, flash_attn: bool, pad: u64) -> u64 {
    let pad = pad.max(1);
    let s = streams.clamp(1, t.max(1));
    let rows = t.div_ceil(s).div_ceil(pad) * pad * s;
    n_kv * rows * if flash_attn { 2 } else { F32 }
}

/// How an architecture's graph scales the token embeddings before its first block, on the
/// device that computes that block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EmbdScale {
    /// Not scaled.
    None,
    /// A scale operation over the embeddings (Gemma and Gemma 2 by `sqrt(n_embd)`, Granite
    /// by its `embedding_scale`; Gemma 3 before the mixed-embedding inputs).
    Op,
    /// A multiplication by a per-row scale input (`inp_scale_rows`: Gemma 3 and later with
    /// the mixed-embedding inputs, which scale token rows only).
    Rows,
}

/// The embedding scale of `arch` (read from llama.cpp's graph builders: which call
/// `build_inp_embd` with a scale, or scale its result).
fn embedding_scale(arch: &str, mixed_embd_inputs: bool) -> EmbdScale {
    match arch {
        "gemma3" | "gemma3n" | "gemma4" | "gemma-embedding" if mixed_embd_inputs => EmbdScale::Rows,
        "gemma" | "gemma2" | "gemma3" | "gemma3n" | "gemma-embedding" | "granite"
        | "granitemoe" | "granitehybrid" => EmbdScale::Op,
        _ => EmbdScale::None,
    }
}

/// Where the inputs of each attention kind (`[full, sliding]`) sit in an input list.
struct AttnInputs {
    mask: [usize; 2],
    idx: [usize; 2],
    rot: [[usize; 2]; 2],
}

/// Appends each attention kind's inputs, in order of first use: the rotation matrices of
/// a quantized cache, the K and V cell indices, the mask.
fn attn_inputs(
    inputs: &mut Vec<u64>,
    kinds: &[bool],
    split: &WorkerSplit,
    geo: &KvGeometry,
    g: Graph,
    swa_kv: u64,
) -> AttnInputs {
    let t = g.tokens.max(1);
    let mut at = AttnInputs {
        mask: [usize::MAX; 2],
        idx: [usize::MAX; 2],
        rot: [[usize::MAX; 2]; 2],
    };
    for &k in kinds {
        let kv = if k { swa_kv } else { g.n_kv };
        for (r, &n) in [split.rotation.0, split.rotation.1].iter().enumerate() {
            if n > 0 {
                at.rot[usize::from(k)][r] = inputs.len();
                inputs.push(n * n * F32);
            }
        }
        at.idx[usize::from(k)] = inputs.len();
        inputs.extend([t * 8, t * 8]);
        at.mask[usize::from(k)] = inputs.len();
        inputs.push(mask_bytes(
            kv,
            t,
            geo.streams,
            split.flash_attn,
            split.mask_pad,
        ));
    }
    at
}

/// The attention kinds (`true`: sliding window) of `blocks`, in order of first use.
fn attention_kinds(profile: &ModelProfile, blocks: &[usize]) -> Vec<bool> {
    let mut kinds: Vec<bool> = Vec::new();
    for &l in blocks {
        let swa = profile.shape.is_swa(l);
        if !kinds.contains(&swa) {
            kinds.push(swa);
        }
    }
    kinds
}

/// The client's part of a split's graph when it keeps no block: every graph input (the
/// scheduler keeps `copies` of each on the CPU, never freed) and the embedding rows it
/// gathers for the first device. The inputs are those of the whole model: tokens, the
/// embedding and mixed-embedding inputs, a row scale, positions, each attention kind's
/// rotations, cell indices and mask, and the output row ids.
fn build_client(profile: &ModelProfile, split: &WorkerSplit, geo: &KvGeometry, g: Graph) -> Plan {
    let t = g.tokens.max(1);
    let d = profile.shape.hidden;
    let copies = split.copies.max(1) as usize;
    let mut b = Builder {
        plan: Plan {
            tensors: Vec::new(),
            is_copy: Vec::new(),
            copy_of: vec![Vec::new(); copies],
            idle: Vec::new(),
        },
    };
    let mut inputs: Vec<u64> = vec![t * 4, t * d * F32];
    let mixed_tokens = inputs.len();
    if split.mixed_embd_inputs {
        inputs.extend([t * 4, t * 8, t * d * F32]);
    }
    if embedding_scale(&profile.shape.architecture, split.mixed_embd_inputs) == EmbdScale::Rows {
        inputs.push(t * F32);
    }
    inputs.push(t * 4);
    let blocks: Vec<usize> = (0..profile.shape.n_layers as usize).collect();
    let kinds = attention_kinds(profile, &blocks);
    let swa_kv = g.n_kv.min(geo.swa_cells.max(1));
    attn_inputs(&mut inputs, &kinds, split, geo, g, swa_kv);
    inputs.push(t * 4);
    // The engine writes only the inputs of the batch's kind: token batches leave the
    // embedding inputs and the mixed path's inputs unwritten (the copies sent to the
    // first device read untouched pages).
    let unwritten = 1..mixed_tokens + if split.mixed_embd_inputs { 3 } else { 0 };
    let mut first_copy = Vec::with_capacity(inputs.len());
    for c in 0..copies {
        for (k, &bytes) in inputs.iter().enumerate() {
            let i = b.push(Tensor::input(bytes, copies > 1));
            b.plan.is_copy[i] = true;
            b.plan.idle[i] = unwritten.contains(&k);
            b.plan.copy_of[c].push(i);
            if c == 0 {
                first_copy.push(i);
            }
        }
    }
    // The token rows, then (not computed for token batches) the mixed path's rows; the
    // first device copies them, so nothing here reads them again.
    b.node(t * d * F32, vec![first_copy[0]], false);
    if split.mixed_embd_inputs {
        let rows = b.node(t * d * F32, vec![first_copy[mixed_tokens]], false);
        b.plan.idle[rows] = true;
    }
    b.plan
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

/// The sizes one graph's tensors are made of.
struct Dims {
    /// Tokens.
    t: u64,
    d: u64,
    h: u64,
    dk: u64,
    dv: u64,
    f: u64,
    /// Rows of logits computed.
    out_rows: u64,
    /// Cells a full-attention block attends.
    n_kv: u64,
    /// Cells a sliding-window block attends.
    swa_kv: u64,
    /// Whether the KV lives in two caches (full and sliding-window), whose attention
    /// builds its nodes in another order.
    iswa: bool,
}

impl Dims {
    fn new(profile: &ModelProfile, geo: &KvGeometry, g: Graph) -> Dims {
        let s = &profile.shape;
        let t = g.tokens.max(1);
        Dims {
            t,
            d: s.hidden,
            h: u64::from(s.n_heads),
            dk: u64::from(s.head_dim_k),
            dv: u64::from(s.head_dim_v),
            f: s.ffn,
            out_rows: g.outputs.min(t),
            n_kv: g.n_kv,
            swa_kv: g.n_kv.min(geo.swa_cells.max(1)),
            iswa: s.has_swa_cache(),
        }
    }
}

/// Where a device's inputs sit in its tensor list (their first copy, which the graph
/// reads).
struct DeviceInputs {
    first_copy: Vec<usize>,
    residual_in: usize,
    embd_in: usize,
    residual_parts: bool,
    scale: EmbdScale,
    scale_rows_in: usize,
    pos_in: usize,
    attn: AttnInputs,
    out_ids_in: usize,
}

/// The split's inputs, in the order its blocks first use them, each in every copy the
/// scheduler keeps.
fn device_inputs(
    b: &mut Builder,
    profile: &ModelProfile,
    split: &WorkerSplit,
    geo: &KvGeometry,
    g: Graph,
    dims: &Dims,
) -> DeviceInputs {
    let (t, d) = (dims.t, dims.d);
    let mut inputs: Vec<u64> = Vec::new();
    let residual_in = inputs.len();
    if split.first && split.mixed_embd_inputs {
        inputs.extend([t * d * F32, t * d * F32, t * 8]);
    }
    let embd_in = inputs.len();
    inputs.push(t * d * F32);
    let residual_parts = split.after_cpu && !split.first;
    if residual_parts {
        inputs.push(t * d * F32);
    }
    let scale = if split.first {
        embedding_scale(&profile.shape.architecture, split.mixed_embd_inputs)
    } else {
        EmbdScale::None
    };
    let scale_rows_in = inputs.len();
    if scale == EmbdScale::Rows {
        inputs.push(t * F32);
    }
    let pos_in = inputs.len();
    inputs.push(t * 4);
    // KV indices and the mask of each attention kind, by first use.
    let kinds = attention_kinds(profile, &split.blocks);
    let attn = attn_inputs(&mut inputs, &kinds, split, geo, g, dims.swa_kv);
    let out_ids_in = inputs.len();
    if split.output && !split.blocks.is_empty() {
        inputs.push(dims.out_rows.max(1) * 4);
    }
    // Every copy of every input; the graph reads the first.
    let copies = split.copies.max(1) as usize;
    let mut first_copy = Vec::with_capacity(inputs.len());
    for c in 0..copies {
        for &bytes in &inputs {
            let i = b.push(Tensor::input(bytes, copies > 1));
            b.plan.is_copy[i] = true;
            b.plan.copy_of[c].push(i);
            if c == 0 {
                first_copy.push(i);
            }
        }
    }
    DeviceInputs {
        first_copy,
        residual_in,
        embd_in,
        residual_parts,
        scale,
        scale_rows_in,
        pos_in,
        attn,
        out_ids_in,
    }
}

/// One block's tensors over the residual `x`; returns the residual it leaves. `last_out`:
/// the block is the device's last and the output head follows (only the output rows go on).
#[allow(clippy::too_many_arguments)]
fn block(
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
    let attn_norm = b.node(t * d * F32, vec![x], true);
    // A rotation is one more product over the tensor (its reshaped view).
    let rot = |b: &mut Builder, x: usize, r: usize, bytes: u64| {
        let m = inp.attn.rot[kind][r];
        if m == usize::MAX {
            x
        } else {
            b.node(bytes, vec![x, input(m)], false)
        }
    };
    let q = b.projected(t * h * dk * F32, attn_norm, pos);
    let q = rot(b, q, 0, t * h * dk * F32);
    // With a sliding-window cache the engine expands K before V; otherwise V first.
    let (k, v) = if dims.iswa {
        let k = b.projected(t * hkv * dk * F32, attn_norm, pos);
        let k = rot(b, k, 0, t * hkv * dk * F32);
        let v = b.node(t * hkv * dv * F32, vec![attn_norm], false);
        (k, rot(b, v, 1, t * hkv * dv * F32))
    } else {
        let v = b.node(t * hkv * dv * F32, vec![attn_norm], false);
        let v = rot(b, v, 1, t * hkv * dv * F32);
        let k = b.projected(t * hkv * dk * F32, attn_norm, pos);
        (rot(b, k, 0, t * hkv * dk * F32), v)
    };
    b.push(Tensor::external(vec![k, kidx]));
    b.push(Tensor::external(vec![v, vidx]));
    let attn = if split.flash_attn {
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
    };
    let attn = rot(b, attn, 1, t * h * dv * F32);
    let o = b.node(t * d * F32, vec![attn], false);
    let (rows, ffn_inp) = if last_out {
        let ids = input(inp.out_ids_in);
        let og = b.node(out_rows * d * F32, vec![o, ids], false);
        let xg = b.node(out_rows * d * F32, vec![x, ids], false);
        (out_rows, b.node(out_rows * d * F32, vec![og, xg], true))
    } else {
        (t, b.node(t * d * F32, vec![o, x], true))
    };
    let ffn_norm = b.node(rows * d * F32, vec![ffn_inp], true);
    let gate = b.node(rows * f * F32, vec![ffn_norm], false);
    let up = b.node(rows * f * F32, vec![ffn_norm], false);
    let act = b.node(rows * f * F32, vec![gate, up], false);
    let down = b.node(rows * d * F32, vec![act], false);
    b.node(rows * d * F32, vec![down, ffn_inp], true)
}

/// The tensors of the graph `g` a device of a split runs, in the engine's node order.
pub(crate) fn build(
    profile: &ModelProfile,
    split: &WorkerSplit,
    geo: &KvGeometry,
    g: Graph,
) -> Plan {
    if split.client {
        return build_client(profile, split, geo, g);
    }
    let dims = Dims::new(profile, geo, g);
    let (t, d) = (dims.t, dims.d);
    let mut b = Builder {
        plan: Plan {
            tensors: Vec::new(),
            is_copy: Vec::new(),
            copy_of: vec![Vec::new(); split.copies.max(1) as usize],
            idle: Vec::new(),
        },
    };
    let inp = device_inputs(&mut b, profile, split, geo, g, &dims);
    let input = |k: usize| inp.first_copy[k];
    if split.first && split.mixed_embd_inputs {
        // The duplicate the mixed embeddings are scattered from.
        // Token batches select the token path: the mixed path's nodes are not computed.
        let dup = b.node(t * d * F32, vec![input(inp.residual_in + 1)], false);
        b.plan.idle[dup] = true;
        // The rows are set in place (a view of the duplicate nothing reads: it is never
        // freed).
        b.push(Tensor {
            srcs: vec![dup, input(inp.residual_in), input(inp.residual_in + 2)],
            ..Tensor::view(dup, t * d * F32)
        });
    }
    let mut x = input(inp.embd_in);
    match inp.scale {
        EmbdScale::None => {}
        EmbdScale::Op => x = b.node(t * d * F32, vec![x], true),
        EmbdScale::Rows => x = b.node(t * d * F32, vec![x, input(inp.scale_rows_in)], true),
    }
    if inp.residual_parts {
        x = b.node(t * d * F32, vec![x, input(inp.embd_in + 1)], true);
    }
    let last = split.blocks.len().saturating_sub(1);
    for (n, &l) in split.blocks.iter().enumerate() {
        x = block(
            &mut b,
            profile,
            split,
            &inp,
            &dims,
            l,
            x,
            n == last && split.output,
        );
    }
    if split.output {
        let rows = if split.blocks.is_empty() {
            t
        } else {
            dims.out_rows
        };
        let normed = b.node(rows * d * F32, vec![x], true);
        b.push(Tensor {
            output: true,
            ..Tensor::node(rows * profile.shape.vocab * F32, vec![normed], false)
        });
    } else {
        // The last residual is copied to the next device.
        b.push(Tensor::external(vec![x]));
    }
    b.plan
}

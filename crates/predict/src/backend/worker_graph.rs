//! The compute graph a device of a layer split runs for its blocks (an RPC worker), laid
//! out by ggml's allocator ([`super::ggml_alloc`]): the compute buffer the engine reserves
//! for it and what a run's graphs touch in that buffer. A run on one CPU is the split whose
//! one device holds every block and the output: its reservation is what the engine prints.
//!
//! The tensors are those of llama.cpp's dense transformer block that own memory, in the
//! order the engine's graph visits them (read from `GGML_SCHED_DEBUG=2` dumps of build
//! 11434 on llama, qwen2 and gemma3 files); operations that run in place over a tensor used
//! once (bias adds, q/k norms, RoPE, scaling, post-norms, the softmax) add nothing to the
//! layout and are left out. The split's inputs (the residual stream from the previous
//! device, positions, KV indices and a mask per attention kind, output row ids) come first;
//! with pipeline parallelism the scheduler keeps `copies` of each, never freed, and a run
//! writes one copy per graph in turn.
//!
//! The layout is computed for the reserved worst case; each run graph has the same tensors
//! at their reserved offsets with its own sizes, so what it touches is the union of those
//! extents. Measured on RPC workers, the buffer the engine prints is matched within 2% and
//! a worker's touched compute grows with the blocks it holds as the replay says.

use super::ggml_alloc::{allocate, Layout, Tensor};
use super::llama_cpp::{Graph, KvGeometry};
use crate::profile::ModelProfile;

const F32: u64 = 4;
/// Alignment of a CPU (and RPC) buffer's tensors.
const ALIGN: u64 = 32;
/// Page size the touched bytes are counted in.
const PAGE: u64 = 4096;
/// ggml's `GGML_KQ_MASK_PAD`: mask rows are padded to this many tokens.
const MASK_PAD: u64 = 64;

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
    /// matrices (0: none). See [`kv_rotation`].
    pub rotation: (u64, u64),
}

/// The Hadamard rotations llama.cpp applies around a quantized KV cache (from build 10001
/// on): K (and Q) are rotated by an `n x n` matrix, `n` the largest power of two from 64
/// that divides the head width, when K is quantized and its heads are a multiple of 64
/// wide; V (and the attention output) by a 64 x 64 one when V is. Each rotation is one
/// more matrix product over the tensor, and each matrix a graph input per attention kind.
pub fn kv_rotation(profile: &ModelProfile, quantized: bool) -> (u64, u64) {
    if !quantized {
        return (0, 0);
    }
    let (dk, dv) = (
        u64::from(profile.shape.head_dim_k),
        u64::from(profile.shape.head_dim_v),
    );
    let k = if dk > 0 && dk % 64 == 0 {
        let mut n = 64;
        while dk % (2 * n) == 0 {
            n *= 2;
        }
        n
    } else {
        0
    };
    let v = if dv > 0 && dv % 64 == 0 { 64 } else { 0 };
    (k, v)
}

/// The compute buffer of one device: reserved, and touched by a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerCompute {
    /// Bytes the engine reserves (the `compute buffer size` it prints).
    pub reserved: u64,
    /// Bytes of it the run's graphs write (resident pages).
    pub touched: u64,
}

/// Whether the replay models this file's blocks: dense (no experts), with heads and a
/// feed-forward width known.
pub fn supported(profile: &ModelProfile) -> bool {
    profile.shape.experts.filter(|e| e.total > 0).is_none()
        && profile.shape.n_heads > 0
        && profile.shape.hidden > 0
        && profile.shape.ffn > 0
}

/// The device's compute buffer for the reserved graph `reserved` and the run's `graphs`,
/// each with its place in the run (which decides the input copy it writes: the scheduler
/// moves to the next copy after each graph).
pub fn compute(
    profile: &ModelProfile,
    split: &WorkerSplit,
    geo: &KvGeometry,
    reserved: Graph,
    graphs: &[(usize, Graph)],
) -> WorkerCompute {
    if split.blocks.is_empty() && !split.output && !split.client {
        return WorkerCompute {
            reserved: 0,
            touched: 0,
        };
    }
    let plan = build(profile, split, geo, reserved);
    let layout: Layout = allocate(&plan.tensors, ALIGN);
    let mut touched = 0;
    let mut union: Vec<u64> = Vec::new();
    // Graph i writes input copy i % copies; the other copies keep what earlier graphs wrote.
    let copies = split.copies.max(1) as usize;
    let mut copy_bytes: Vec<Vec<u64>> = vec![Vec::new(); copies];
    for &(i, g) in graphs {
        let run = build(profile, split, geo, g);
        if run.tensors.len() != plan.tensors.len() {
            continue;
        }
        let c = i % copies;
        // What the graph does not compute or write (another branch of a selection, the
        // inputs of another kind of batch) stays untouched.
        let sizes: Vec<u64> = run
            .tensors
            .iter()
            .zip(&run.idle)
            .map(|(t, &idle)| if idle { 0 } else { t.bytes })
            .collect();
        if copy_bytes[c].is_empty() {
            copy_bytes[c] = vec![0; sizes.len()];
        }
        for &j in &run.copy_of[c] {
            copy_bytes[c][j] = copy_bytes[c][j].max(sizes[j]);
        }
        // Everything but the input copies: the union over graphs is bounded by the
        // largest graph's pages at each offset, so take each tensor's largest size.
        if union.is_empty() {
            union = vec![0; sizes.len()];
        }
        for (j, s) in sizes.iter().enumerate() {
            if !run.is_copy[j] {
                union[j] = union[j].max(*s);
            }
        }
    }
    if !union.is_empty() {
        for cb in &copy_bytes {
            for (j, b) in cb.iter().enumerate() {
                union[j] = union[j].max(*b);
            }
        }
        touched = layout.touched(|j| union[j], PAGE);
    }
    WorkerCompute {
        reserved: layout.size,
        touched,
    }
}

/// A device's graph as tensors, with which of them are copies of the split's inputs.
struct Plan {
    tensors: Vec<Tensor>,
    /// Whether tensor j is a copy of an input.
    is_copy: Vec<bool>,
    /// The tensors of each input copy.
    copy_of: Vec<Vec<usize>>,
    /// Whether tensor j is never computed (a branch the graph does not select).
    idle: Vec<bool>,
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
fn mask_bytes(n_kv: u64, t: u64, streams: u64, flash_attn: bool) -> u64 {
    let s = streams.clamp(1, t.max(1));
    let rows = t.div_ceil(s).div_ceil(MASK_PAD) * MASK_PAD * s;
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
        inputs.push(mask_bytes(kv, t, geo.streams, split.flash_attn));
    }
    at
}

/// The attention kinds (`true`: sliding window) of `blocks`, in order of first use.
fn attention_kinds(profile: &ModelProfile, blocks: &[usize]) -> Vec<bool> {
    let mut kinds: Vec<bool> = Vec::new();
    for &l in blocks {
        let swa = profile.shape.sliding_window.is_some()
            && profile
                .shape
                .sliding_layers
                .get(l)
                .copied()
                .unwrap_or(false);
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

fn build(profile: &ModelProfile, split: &WorkerSplit, geo: &KvGeometry, g: Graph) -> Plan {
    if split.client {
        return build_client(profile, split, geo, g);
    }
    let t = g.tokens.max(1);
    let d = profile.shape.hidden;
    let h = u64::from(profile.shape.n_heads);
    let dk = u64::from(profile.shape.head_dim_k);
    let dv = u64::from(profile.shape.head_dim_v);
    let f = profile.shape.ffn;
    let out_rows = g.outputs.min(t);
    let swa = |l: usize| {
        profile.shape.sliding_window.is_some()
            && profile
                .shape
                .sliding_layers
                .get(l)
                .copied()
                .unwrap_or(false)
    };
    let swa_kv = g.n_kv.min(geo.swa_cells.max(1));
    let n_kv = |l: usize| if swa(l) { swa_kv } else { g.n_kv };
    let copies = split.copies.max(1) as usize;
    let mut b = Builder {
        plan: Plan {
            tensors: Vec::new(),
            is_copy: Vec::new(),
            copy_of: vec![Vec::new(); copies],
            idle: Vec::new(),
        },
    };

    // The split's inputs, in the order its blocks first use them.
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
    let AttnInputs {
        mask: mask_in,
        idx: idx_in,
        rot: rot_in,
    } = attn_inputs(&mut inputs, &kinds, split, geo, g, swa_kv);
    let out_ids_in = inputs.len();
    if split.output && !split.blocks.is_empty() {
        inputs.push(out_rows.max(1) * 4);
    }
    // Every copy of every input; the graph reads the first.
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
    let input = |k: usize| first_copy[k];
    if split.first && split.mixed_embd_inputs {
        // The duplicate the mixed embeddings are scattered from.
        // Token batches select the token path: the mixed path's nodes are not computed.
        let dup = b.node(t * d * F32, vec![input(residual_in + 1)], false);
        b.plan.idle[dup] = true;
        // The rows are set in place (a view of the duplicate nothing reads: it is never
        // freed).
        b.push(Tensor {
            srcs: vec![dup, input(residual_in), input(residual_in + 2)],
            ..Tensor::view(dup, t * d * F32)
        });
    }

    // llama.cpp keeps a sliding-window model's KV in two caches, whose attention builds
    // its nodes in another order.
    let iswa = profile.shape.sliding_window.is_some_and(|w| w > 0);
    let mut x = input(embd_in);
    match scale {
        EmbdScale::None => {}
        EmbdScale::Op => x = b.node(t * d * F32, vec![x], true),
        EmbdScale::Rows => x = b.node(t * d * F32, vec![x, input(scale_rows_in)], true),
    }
    if residual_parts {
        x = b.node(t * d * F32, vec![x, input(embd_in + 1)], true);
    }
    let last = split.blocks.len().saturating_sub(1);
    for (n, &l) in split.blocks.iter().enumerate() {
        let hkv = u64::from(profile.shape.n_kv_heads.get(l).copied().unwrap_or(0));
        let kind = usize::from(swa(l));
        let (kidx, vidx, mask) = (
            input(idx_in[kind]),
            input(idx_in[kind] + 1),
            input(mask_in[kind]),
        );
        let pos = input(pos_in);
        let attn_norm = b.node(t * d * F32, vec![x], true);
        // A rotation is one more product over the tensor (its reshaped view).
        let rot = |b: &mut Builder, x: usize, r: usize, bytes: u64| {
            let m = rot_in[kind][r];
            if m == usize::MAX {
                x
            } else {
                b.node(bytes, vec![x, input(m)], false)
            }
        };
        let q = b.projected(t * h * dk * F32, attn_norm, pos);
        let q = rot(&mut b, q, 0, t * h * dk * F32);
        // With a sliding-window cache the engine expands K before V; otherwise V first.
        let (k, v) = if iswa {
            let k = b.projected(t * hkv * dk * F32, attn_norm, pos);
            let k = rot(&mut b, k, 0, t * hkv * dk * F32);
            let v = b.node(t * hkv * dv * F32, vec![attn_norm], false);
            (k, rot(&mut b, v, 1, t * hkv * dv * F32))
        } else {
            let v = b.node(t * hkv * dv * F32, vec![attn_norm], false);
            let v = rot(&mut b, v, 1, t * hkv * dv * F32);
            let k = b.projected(t * hkv * dk * F32, attn_norm, pos);
            (rot(&mut b, k, 0, t * hkv * dk * F32), v)
        };
        b.push(Tensor::external(vec![k, kidx]));
        b.push(Tensor::external(vec![v, vidx]));
        let attn = if split.flash_attn {
            b.node(t * h * dv * F32, vec![q, mask], false)
        } else {
            let kq = b.node(n_kv(l) * t * h * F32, vec![q], false);
            let probs = b.node(n_kv(l) * t * h * F32, vec![kq, mask], true);
            let kqv = b.node(dv * t * h * F32, vec![probs], false);
            b.node(t * h * dv * F32, vec![kqv], false)
        };
        let attn = rot(&mut b, attn, 1, t * h * dv * F32);
        let o = b.node(t * d * F32, vec![attn], false);
        let (rows, ffn_inp) = if n == last && split.output {
            let ids = input(out_ids_in);
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
        x = b.node(rows * d * F32, vec![down, ffn_inp], true);
    }
    if split.output {
        let rows = if split.blocks.is_empty() { t } else { out_rows };
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Qwen2.5-Coder-0.5B's shapes (24 blocks, 896 wide, 14 heads of 64, 2 KV heads,
    /// feed-forward 4864, 151936 tokens).
    fn qwen05() -> ModelProfile {
        let mut p = crate::presets::profile("llama-3.2-1b:Q4_0").expect("a built-in preset");
        p.shape.n_layers = 24;
        p.shape.hidden = 896;
        p.shape.n_heads = 14;
        p.shape.n_kv_heads = vec![2; 24];
        p.shape.head_dim_k = 64;
        p.shape.head_dim_v = 64;
        p.shape.ffn = 4864;
        p.shape.vocab = 151936;
        p
    }

    /// Gemma 3 270M's shapes (18 blocks, 640 wide, 4 heads of 256, 1 KV head, feed-forward
    /// 2048, 262144 tokens, a 512-token window on all but every sixth block).
    fn gemma270m() -> ModelProfile {
        let mut p = qwen05();
        p.shape.architecture = "gemma3".into();
        p.shape.n_layers = 18;
        p.shape.hidden = 640;
        p.shape.n_heads = 4;
        p.shape.n_kv_heads = vec![1; 18];
        p.shape.head_dim_k = 256;
        p.shape.head_dim_v = 256;
        p.shape.ffn = 2048;
        p.shape.vocab = 262144;
        p.shape.sliding_window = Some(512);
        p.shape.sliding_layers = (0..18).map(|l| l % 6 != 5).collect();
        p
    }

    fn mib(b: u64) -> f64 {
        b as f64 / (1u64 << 20) as f64
    }

    #[test]
    fn gemma_buffers_match_build_11434_allocations() {
        // Traced with ggml-alloc's own debug output (build 11434, `-ub 512 -fa auto`):
        // the first of two workers, blocks 0-9, prints 52.84 MiB at -c 4096 and, with a
        // q8_0 cache wrapped in Hadamard rotations (256 for K, 64 for V), 70.97 MiB at
        // -c 8192; with -ngl 10 the first worker (blocks 8-12, after the client's CPU
        // blocks, no pipeline copies) prints 19.52 MiB.
        let p = gemma270m();
        let reserved = |ctx: u64| Graph {
            tokens: 512,
            n_kv: ctx,
            outputs: 512,
        };
        let geo = |ctx: u64| KvGeometry {
            streams: 1,
            cells: ctx,
            swa_cells: 1024,
        };
        let first = split(0..10, true, false);
        let f16 = compute(&p, &first, &geo(4096), reserved(4096), &[]);
        assert!(
            (mib(f16.reserved) - 52.84).abs() < 0.01,
            "{}",
            mib(f16.reserved)
        );
        let q8 = WorkerSplit {
            rotation: kv_rotation(&p, true),
            ..first.clone()
        };
        assert_eq!(q8.rotation, (256, 64));
        let q8 = compute(&p, &q8, &geo(8192), reserved(8192), &[]);
        assert!(
            (mib(q8.reserved) - 70.97).abs() < 0.01,
            "{}",
            mib(q8.reserved)
        );
        let after_cpu = WorkerSplit {
            after_cpu: true,
            copies: 1,
            ..split(9..14, false, false)
        };
        let w = compute(&p, &after_cpu, &geo(4096), reserved(4096), &[]);
        assert!(
            (mib(w.reserved) - 19.52).abs() < 0.01,
            "{}",
            mib(w.reserved)
        );
    }

    fn split(blocks: std::ops::Range<usize>, first: bool, output: bool) -> WorkerSplit {
        WorkerSplit {
            blocks: blocks.collect(),
            first,
            output,
            client: false,
            after_cpu: false,
            copies: 4,
            mixed_embd_inputs: true,
            flash_attn: true,
            rotation: (0, 0),
        }
    }

    const GEO: KvGeometry = KvGeometry {
        streams: 1,
        cells: 3072,
        swa_cells: 3072,
    };
    const RESERVED: Graph = Graph {
        tokens: 384,
        n_kv: 3072,
        outputs: 384,
    };

    #[test]
    fn the_reserved_buffers_match_what_build_11434_printed() {
        // `-c 3000 -ub 384 --rpc a,b --tensor-split 2,1`: the engine printed 51.42 MiB for
        // the first worker (13 blocks) and 238.16 MiB for the second (11 blocks and the
        // output layer).
        let p = qwen05();
        let w1 = compute(
            &p,
            &split(0..13, true, false),
            &GEO,
            RESERVED,
            &[(0, RESERVED)],
        );
        let w2 = compute(
            &p,
            &split(13..24, false, true),
            &GEO,
            RESERVED,
            &[(0, RESERVED)],
        );
        assert!(
            (mib(w2.reserved) - 238.16).abs() < 0.05,
            "{}",
            mib(w2.reserved)
        );
        assert!(
            (mib(w1.reserved) - 51.42).abs() / 51.42 < 0.03,
            "{}",
            mib(w1.reserved)
        );
    }

    #[test]
    fn the_first_worker_keeps_copies_of_the_embedding_inputs() {
        let p = qwen05();
        let run = [
            (
                0,
                Graph {
                    tokens: 384,
                    n_kv: 512,
                    outputs: 0,
                },
            ),
            (
                1,
                Graph {
                    tokens: 315,
                    n_kv: 768,
                    outputs: 1,
                },
            ),
        ];
        let later = compute(&p, &split(6..12, false, false), &GEO, RESERVED, &run);
        let first = compute(&p, &split(0..6, true, false), &GEO, RESERVED, &run);
        // Two more embedding inputs, four copies each, kept to the end: 2 x 4 x 384 x
        // 896 x 4 bytes (10.5 MiB).
        assert!(first.reserved >= later.reserved + 2 * 4 * 384 * 896 * 4);
        assert!(later.touched < later.reserved && first.touched < first.reserved);
        // A run writes less than the reservation (the masks over 512 and 768 cells, not
        // 3072), and more than one block's feed-forward (three 384 x 4864 f32 tensors).
        assert!(later.touched > 3 * 384 * 4864 * 4);
        // Without pipeline copies the inputs are freed after use: a smaller layout.
        let single = WorkerSplit {
            copies: 1,
            ..split(6..12, false, false)
        };
        assert!(compute(&p, &single, &GEO, RESERVED, &run).reserved < later.reserved);
    }
}

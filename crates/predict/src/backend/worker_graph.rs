//! The compute graph a device of a layer split runs for its blocks (an RPC worker), laid
//! out by ggml's allocator ([`super::ggml_alloc`]): the compute buffer the engine reserves
//! for it and what a run's graphs touch in that buffer.
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
    /// Copies of each split input the scheduler keeps (4 with pipeline parallelism, else 1).
    pub copies: u32,
    /// Whether the embeddings arrive with the build's mixed-embedding inputs (build 11434:
    /// the embeddings, a second embedding row set, its slot ids and a duplicate).
    pub mixed_embd_inputs: bool,
    /// Whether attention runs as flash attention (one fused node, an f16 mask).
    pub flash_attn: bool,
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
    profile.experts.filter(|e| e.total > 0).is_none()
        && profile.n_heads > 0
        && profile.hidden > 0
        && profile.ffn > 0
}

/// The device's compute buffer for the reserved graph `reserved` and the run's `graphs`
/// (of which the first `prompt_graphs` process prompt tokens).
pub fn compute(
    profile: &ModelProfile,
    split: &WorkerSplit,
    geo: &KvGeometry,
    reserved: Graph,
    graphs: &[Graph],
) -> WorkerCompute {
    if split.blocks.is_empty() && !split.output {
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
    for (i, &g) in graphs.iter().enumerate() {
        let run = build(profile, split, geo, g);
        if run.tensors.len() != plan.tensors.len() {
            continue;
        }
        let c = i % copies;
        let sizes: Vec<u64> = run.tensors.iter().map(|t| t.bytes).collect();
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
}

struct Builder {
    plan: Plan,
}

impl Builder {
    fn push(&mut self, t: Tensor) -> usize {
        self.plan.tensors.push(t);
        self.plan.is_copy.push(false);
        self.plan.tensors.len() - 1
    }

    fn node(&mut self, bytes: u64, srcs: Vec<usize>, inplace: bool) -> usize {
        self.push(Tensor::node(bytes, srcs, inplace))
    }
}

/// Bytes of one mask over `n_kv` cells for `t` tokens in `streams` streams.
fn mask_bytes(n_kv: u64, t: u64, streams: u64, flash_attn: bool) -> u64 {
    let s = streams.clamp(1, t.max(1));
    let rows = t.div_ceil(s).div_ceil(MASK_PAD) * MASK_PAD * s;
    n_kv * rows * if flash_attn { 2 } else { F32 }
}

fn build(profile: &ModelProfile, split: &WorkerSplit, geo: &KvGeometry, g: Graph) -> Plan {
    let t = g.tokens.max(1);
    let d = profile.hidden;
    let h = u64::from(profile.n_heads);
    let dk = u64::from(profile.head_dim_k);
    let dv = u64::from(profile.head_dim_v);
    let f = profile.ffn;
    let out_rows = g.outputs.min(t);
    let swa = |l: usize| {
        profile.sliding_window.is_some() && profile.sliding_layers.get(l).copied().unwrap_or(false)
    };
    let swa_kv = g.n_kv.min(geo.swa_cells.max(1));
    let n_kv = |l: usize| if swa(l) { swa_kv } else { g.n_kv };
    let copies = split.copies.max(1) as usize;
    let mut b = Builder {
        plan: Plan {
            tensors: Vec::new(),
            is_copy: Vec::new(),
            copy_of: vec![Vec::new(); copies],
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
    let pos_in = inputs.len();
    inputs.push(t * 4);
    // KV indices and the mask of each attention kind, by first use.
    let mut kinds: Vec<bool> = Vec::new();
    for &l in &split.blocks {
        if !kinds.contains(&swa(l)) {
            kinds.push(swa(l));
        }
    }
    let mut mask_in = [usize::MAX; 2];
    let mut idx_in = [usize::MAX; 2];
    for &k in &kinds {
        let kv = if k { swa_kv } else { g.n_kv };
        idx_in[usize::from(k)] = inputs.len();
        inputs.extend([t * 8, t * 8]);
        mask_in[usize::from(k)] = inputs.len();
        inputs.push(mask_bytes(kv, t, geo.streams, split.flash_attn));
    }
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
        let dup = b.node(t * d * F32, vec![input(residual_in + 1)], false);
        b.push(Tensor::external(vec![
            input(residual_in),
            input(residual_in + 2),
            dup,
        ]));
    }

    let norms = super::llama_cpp::block_norms(profile);
    let mut x = input(embd_in);
    let last = split.blocks.len().saturating_sub(1);
    for (n, &l) in split.blocks.iter().enumerate() {
        let hkv = u64::from(profile.n_kv_heads.get(l).copied().unwrap_or(0));
        let kind = usize::from(swa(l));
        let (kidx, vidx, mask) = (
            input(idx_in[kind]),
            input(idx_in[kind] + 1),
            input(mask_in[kind]),
        );
        let pos = input(pos_in);
        let attn_norm = b.node(t * d * F32, vec![x], true);
        let q = b.node(t * h * dk * F32, vec![attn_norm, pos], false);
        // With q/k norms the engine builds K before V; otherwise V is expanded first.
        let (k, v) = if norms.q || norms.k {
            let k = b.node(t * hkv * dk * F32, vec![attn_norm, pos], false);
            let v = b.node(t * hkv * dv * F32, vec![attn_norm], false);
            (k, v)
        } else {
            let v = b.node(t * hkv * dv * F32, vec![attn_norm], false);
            let k = b.node(t * hkv * dk * F32, vec![attn_norm, pos], false);
            (k, v)
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
            ..Tensor::node(rows * profile.vocab * F32, vec![normed], false)
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
        p.n_layers = 24;
        p.hidden = 896;
        p.n_heads = 14;
        p.n_kv_heads = vec![2; 24];
        p.head_dim_k = 64;
        p.head_dim_v = 64;
        p.ffn = 4864;
        p.vocab = 151936;
        p
    }

    fn split(blocks: std::ops::Range<usize>, first: bool, output: bool) -> WorkerSplit {
        WorkerSplit {
            blocks: blocks.collect(),
            first,
            output,
            copies: 4,
            mixed_embd_inputs: true,
            flash_attn: true,
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
        let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
        let w1 = compute(&p, &split(0..13, true, false), &GEO, RESERVED, &[RESERVED]);
        let w2 = compute(&p, &split(13..24, false, true), &GEO, RESERVED, &[RESERVED]);
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
            Graph {
                tokens: 384,
                n_kv: 512,
                outputs: 0,
            },
            Graph {
                tokens: 315,
                n_kv: 768,
                outputs: 1,
            },
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

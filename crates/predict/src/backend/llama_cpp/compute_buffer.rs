//! The compute graph a device of a layer split runs for its blocks (an RPC worker), laid
//! out by ggml's allocator ([`super::ggml_alloc`], over the graph [`super::graph_build`] builds): the compute buffer the engine reserves
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

use super::cparams::Cparams;
use super::ggml_alloc::{allocate, Layout};
use super::graph::Graph;
use super::graph_build::{build, WorkerSplit, CPU_ALIGN};
use super::kv_cache::KvGeometry;
use crate::profile::ModelProfile;

/// Page size the touched bytes are counted in.
const PAGE: u64 = 4096;

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

/// The part of this run's graph a CPU computes: `blocks` in order (the first reading
/// the token embeddings where it is block 0), the residual passed on, one copy of each
/// input, in a CPU buffer's alignment, with the build's graph rules. Callers set what
/// differs (the output layer, the client's role, pipeline copies).
pub fn cpu_split(cp: &Cparams, blocks: Vec<usize>) -> WorkerSplit {
    WorkerSplit {
        first: blocks.first() == Some(&0),
        blocks,
        output: false,
        client: false,
        after_cpu: false,
        copies: 1,
        mixed_embd_inputs: cp.build.mixed_embd_inputs,
        flash_attn: cp.flash_attn,
        rotation: cp.rotation,
        align: CPU_ALIGN,
        mask_pad: cp.build.kq_mask_pad,
        fa_f16_scratch: false,
        glu_op: cp.build.glu_op,
        qkv_views: cp.build.qkv_views,
        mask_cast: cp.flash_attn && !cp.build.gpu.fa_mask_f16,
        host: Vec::new(),
    }
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
    let layout: Layout = allocate(&plan.tensors, split.align.max(1));
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

#[cfg(test)]
mod tests {
    use super::super::cparams::kv_rotation;
    use super::super::graph_build::{HostBlock, ProductWeights};
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
            v_cache: true,
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
            align: 32,
            mask_pad: 64,
            fa_f16_scratch: false,
            glu_op: true,
            qkv_views: true,
            mask_cast: false,
            host: Vec::new(),
        }
    }

    const GEO: KvGeometry = KvGeometry {
        streams: 1,
        cells: 3072,
        swa_cells: 3072,
        v_cache: true,
    };
    const RESERVED: Graph = Graph {
        tokens: 384,
        n_kv: 3072,
        outputs: 384,
    };

    #[test]
    fn a_host_block_run_by_op_offload_holds_its_copies_at_its_widest_point() {
        // Without flash attention over a long context each block's score matrix is the
        // widest point of the graph; a host block's attention (block 0, run here by op
        // offload) reads copies of its K and V views, made just before it.
        let p = qwen05();
        let cells = 32768;
        let geo = KvGeometry {
            streams: 1,
            cells,
            swa_cells: cells,
            v_cache: true,
        };
        let g = Graph {
            tokens: 512,
            n_kv: cells,
            outputs: 512,
        };
        let gpu = WorkerSplit {
            flash_attn: false,
            copies: 1,
            mixed_embd_inputs: false,
            ..split(0..4, true, false)
        };
        // Cells x 2 KV heads x 64 wide, f16.
        let view = cells * 2 * 64 * 2;
        let host = WorkerSplit {
            host: vec![HostBlock {
                k_view: view,
                v_view: view,
                weights: ProductWeights::default(),
            }],
            ..gpu.clone()
        };
        let a = compute(&p, &gpu, &geo, g, &[]).reserved;
        let b = compute(&p, &host, &geo, g, &[]).reserved;
        assert_eq!(b - a, 2 * view, "{} -> {}", mib(a), mib(b));
        // With flash attention over a short context the feed-forward is the widest point:
        // a host block's up projection there reads the copy of its weight.
        let short = Graph {
            tokens: 512,
            n_kv: 512,
            outputs: 512,
        };
        let geo = KvGeometry {
            cells: 512,
            swa_cells: 512,
            ..geo
        };
        let gpu = WorkerSplit {
            flash_attn: true,
            ..gpu
        };
        let weight = 64 << 20;
        let host = WorkerSplit {
            host: vec![HostBlock {
                weights: ProductWeights {
                    up: weight,
                    ..ProductWeights::default()
                },
                ..HostBlock::default()
            }],
            ..gpu.clone()
        };
        let a = compute(&p, &gpu, &geo, short, &[]).reserved;
        let b = compute(&p, &host, &geo, short, &[]).reserved;
        // The copy, the product it is read by and the residual are live at once; the
        // allocator extends a free block at the end of the buffer for the copy, so the
        // buffer grows by at most the copy.
        let (t, f, d) = (512, 4864, 896);
        assert!(b >= weight + t * f * 4 + t * d * 4, "{}", mib(b));
        assert!(
            b - a <= weight && b - a > weight / 2,
            "{} -> {}",
            mib(a),
            mib(b)
        );
    }

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

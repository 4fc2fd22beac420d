//! The host graph parts the CPU computes itself. Where op offload does not take the
//! operations on host weights (a micro-batch under `GGML_OP_OFFLOAD_MIN_BATCH`, or
//! `--no-op-offload`) and no BLAS backend does, the scheduler leaves them with their
//! weights: the CPU backend runs the blocks `-ngl` keeps in host memory, the parts of
//! blocks that tensor overrides keep there (experts, a dense feed-forward, attention) and
//! the output layer when it stays. The pinned host compute buffer (`CUDA_Host compute`)
//! then holds that graph beside the inputs.
//!
//! Estimated from the CPU's graph as for a run on one CPU (with `-ngl 0` the same graph,
//! so the same compute buffer): ggml's allocator replayed over the host blocks (the live
//! set where the replay does not cover the model), and the live set for parts of blocks,
//! each with the copy of the rows it reads from the GPU. No public GPU log with op offload
//! off has been found to check it against (the estimate says so).

use super::op_offload;
use super::residence::Residence;
use crate::backend::llama_cpp::compute_buffer;
use crate::backend::llama_cpp::cparams::Cparams;
use crate::backend::llama_cpp::graph::reserved_graph;
use crate::backend::llama_cpp::graph_build::WorkerSplit;
use crate::backend::llama_cpp::kv_cache::kv_bytes;
use crate::backend::llama_cpp::live_set::graph_parts;

const F32: u64 = 4;

/// Whether the CPU computes graph parts in host memory itself: op offload not taking
/// them ([`op_offload::offloads`]), no BLAS backend, and a product of a host weight (a
/// block part or the output layer in host memory).
pub fn computes(cp: &Cparams, res: &Residence) -> bool {
    !cp.config.blas && !op_offload::offloads(cp) && res.host_matmul_weights()
}

/// What the CPU holds beside the graph inputs for the parts of blocks that overrides keep
/// in host memory (their cache stays with the block): each part's live set with the copy
/// of the rows it reads from the GPU, and for attention of a block on a GPU the copies of
/// its K and V views; with no block kept whole on the host, the output layer's
/// normed rows and logits with the residual's copy where it stays. Their widest; 0 where
/// the CPU computes none ([`whole_blocks`] gives the blocks kept whole).
pub fn share(cp: &Cparams, res: &Residence) -> u64 {
    if !computes(cp, res) {
        return 0;
    }
    let p = cp.profile;
    let parts = graph_parts(cp, reserved_graph(cp), reserved_graph(cp));
    let rows = cp.n_ubatch * p.shape.hidden * F32;
    let whole = res.host_blocks();
    let blocks = (0..res.parts.len())
        .filter(|l| !whole.contains(l))
        .map(|l| {
            let host = res.parts[l].map(|d| d.is_none());
            // Attention whose cache is on a GPU reads copies of the block's K and V views.
            let views = if res.place.layers[l].is_some() {
                let (k, v) = kv_bytes(p, cp.config, &cp.kv, [l]);
                k + v
            } else {
                0
            };
            let attention = if host[0] {
                rows + parts.attention - parts.mask + views
            } else {
                0
            };
            let ffn = if host[1] || host[2] {
                rows + parts.ffn
            } else {
                0
            };
            attention.max(ffn)
        });
    let head = if res.place.output.is_none() && whole.is_empty() {
        rows + parts.head
    } else {
        0
    };
    blocks.max().unwrap_or(0).max(head)
}

/// The host compute buffer for the blocks kept whole in host memory (blocks 0..k with
/// `-ngl`), with the output layer where it stays, as for a run on one CPU: ggml's
/// allocator replayed over the CPU's graph (the graph inputs, the embedding rows, each
/// block, the logits or the residual passed to the GPU) where the replay covers the
/// model, else the live set of one block and the head. `None` where the CPU computes no
/// such block.
pub fn whole_blocks(cp: &Cparams, res: &Residence) -> Option<u64> {
    let blocks = res.host_blocks();
    if !computes(cp, res) || blocks.is_empty() {
        return None;
    }
    let output = res.place.output.is_none();
    let prefix = blocks.iter().enumerate().all(|(i, &l)| i == l);
    if !(prefix && cp.build.keeps_reserved_layout && compute_buffer::supported(cp.profile)) {
        let parts = graph_parts(cp, reserved_graph(cp), reserved_graph(cp));
        return Some(parts.touched(true, output));
    }
    let split = WorkerSplit {
        output,
        ..compute_buffer::cpu_split(cp, blocks)
    };
    Some(compute_buffer::compute(cp.profile, &split, &cp.kv, reserved_graph(cp), &[]).reserved)
}

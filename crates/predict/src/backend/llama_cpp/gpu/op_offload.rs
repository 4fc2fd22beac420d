//! Op offload: what the first GPU computes for weights left in host memory, and what it
//! holds for that (`ggml_backend_sched_backend_id_from_cur` in ggml-backend.cpp, with
//! ggml-cuda's `offload_op`: a batch of at least `GGML_OP_OFFLOAD_MIN_BATCH`, 32 by
//! default; `get_rows` never).
//!
//! An operation on a host weight goes to the first GPU for such a micro-batch (unless
//! `--no-op-offload`), and the
//! scheduler's expansion passes give that GPU the neighbouring operations, so the whole
//! graph of a block kept on the host runs there except its KV stores, which stay with the
//! cache on the CPU (and the products of weights the CPU repacked, which are not host
//! memory to the scheduler). The GPU's compute buffer then holds, one split at a time, a
//! copy of each host weight for its product and copies of the block's K and V cache views
//! for its attention ([`HostBlock`]); the CPU's holds the K and V rows it stores and,
//! for a repacked product, the product's input and result. Read from the source (b11434)
//! and seen in the scheduler dump of ggml-org/llama.cpp#25800 (a host block's attention on
//! CUDA0 with its cache views as split inputs); on the ggml-ci runs of builds 4893 and
//! 4935 with `-ngl 10` (repacked host blocks) the CPU's share gives the printed
//! `CUDA_Host compute` exactly.

use super::blas;
use super::host_repack::{host_rules, is_head};
use super::residence::Residence;
use crate::backend::llama_cpp::cparams::Cparams;
use crate::backend::llama_cpp::graph::Graph;
use crate::backend::llama_cpp::graph_build::{HostBlock, ProductWeights};
use crate::backend::llama_cpp::kv_cache::kv_bytes;
use crate::backend::llama_cpp::live_set::graph_parts;
use crate::profile::MatmulWeight;

const F32: u64 = 4;
/// `GGML_OP_OFFLOAD_MIN_BATCH`'s default: the smallest batch ggml-cuda offloads.
pub const MIN_BATCH: u64 = 32;

/// Whether op offload takes operations on host weights for the reserved micro-batch: on
/// (no `--no-op-offload`) and a batch ggml-cuda offloads.
pub fn offloads(cp: &Cparams) -> bool {
    !cp.config.no_op_offload && cp.n_ubatch >= MIN_BATCH
}

/// Whether the first GPU takes the graph of host blocks for the reserved micro-batch: op
/// offload on ([`offloads`]), and no BLAS backend taking the host weights' products first.
pub fn takes_host_blocks(cp: &Cparams) -> bool {
    offloads(cp) && !blas::takes_host_products(cp)
}

/// The blocks op offload runs on the first GPU: those kept whole in host memory (every
/// part of them), in order; none where it does not take them ([`takes_host_blocks`]).
pub fn offloaded_blocks(cp: &Cparams, res: &Residence) -> Vec<usize> {
    if !takes_host_blocks(cp) {
        return Vec::new();
    }
    res.host_blocks()
}

/// The offloaded host blocks the first GPU's graph replay can take ahead of `blocks`, its
/// own: blocks 0..k followed by its own from k on (what `-ngl` leaves on the host), else
/// none (the live-set terms of [`offload_copy`] then stand for them).
pub fn replayed_host_blocks(cp: &Cparams, res: &Residence, blocks: &[usize]) -> Vec<usize> {
    let host = offloaded_blocks(cp, res);
    let prefix = host.iter().enumerate().all(|(i, &l)| i == l);
    let follows = blocks.first().is_none_or(|&b| b == host.len());
    if prefix && follows {
        host
    } else {
        Vec::new()
    }
}

/// Whether the CPU repacks `w` beside the GPU (its product then runs on the CPU).
fn repacked(cp: &Cparams, w: &MatmulWeight) -> bool {
    host_rules(cp).is_some_and(|r| r.repacks(&cp.isa, w))
}

/// Bytes of block `l`'s weight of shape `ne0 x ne1` that op offload copies (0 where none
/// is found or the CPU repacked it): the block's own weight, or for a profile that does
/// not list them per block, the first stored group of that shape (its type may differ
/// from the block's where a quantization mix varies by block).
fn weight_copy(cp: &Cparams, l: usize, ne0: u64, ne1: u64) -> u64 {
    let p = cp.profile;
    let of_shape = |w: &&MatmulWeight| w.ne0 == ne0 && w.ne1 == ne1 && w.ne2 == 1;
    let found = match p.block_weights.get(l) {
        Some(b) if !b.weights.is_empty() => b.weights.iter().find(of_shape).cloned(),
        _ => p
            .matmul_weights
            .iter()
            .find(of_shape)
            .map(|w| MatmulWeight {
                bytes: w.bytes / w.count.max(1),
                count: 1,
                ..w.clone()
            }),
    };
    found.filter(|w| !repacked(cp, w)).map_or(0, |w| w.bytes)
}

/// What host block `l` brings into the first GPU: its weights' copies by product and the
/// copies of its K and V views (at the reserve they span every cell: the block's cache).
pub fn host_block(cp: &Cparams, l: usize) -> HostBlock {
    let s = &cp.profile.shape;
    let (d, f) = (s.hidden, s.ffn);
    let (h, hkv) = (u64::from(s.n_heads), u64::from(s.n_head_kv(l)));
    let (dk, dv) = (u64::from(s.head_dim_k), u64::from(s.head_dim_v));
    let q = if cp.profile.fused_qkv {
        weight_copy(cp, l, d, h * dk + hkv * (dk + dv))
    } else {
        weight_copy(cp, l, d, h * dk)
    };
    let up = if cp.profile.fused_gate_up {
        weight_copy(cp, l, d, 2 * f)
    } else {
        weight_copy(cp, l, d, f)
    };
    let (k_view, v_view) = kv_bytes(cp.profile, cp.config, &cp.kv, [l]);
    HostBlock {
        weights: ProductWeights {
            q,
            k: weight_copy(cp, l, d, hkv * dk),
            v: weight_copy(cp, l, d, hkv * dv),
            o: weight_copy(cp, l, h * dv, d),
            // A fused gate/up product (in `up`) and an ungated FFN have no gate of their own.
            gate: if cp.profile.fused_gate_up || cp.profile.ungated_ffn {
                0
            } else {
                weight_copy(cp, l, d, f)
            },
            up,
            down: weight_copy(cp, l, f, d),
        },
        k_view,
        v_view,
    }
}

/// The largest weight op offload copies into the first GPU for one micro-batch, with what
/// its product runs beside, where the graph replay does not show it (`replayed`: the host
/// blocks are in the replay): a host-resident expert stack or block matrix with the
/// block's FFN live set, the GPU's masks and the residual; a host block's attention with
/// the copies of its K and V views; the output projection with the logits of the reserved
/// outputs and the normed rows it multiplies, or the residual's copy and its output rows
/// where those are wider (printed: weight + logits + one micro-batch of normed rows on the
/// ggml-ci runs with `-ngl 10`, 203.99 MiB). `masks`: the bytes of the KV masks the GPU
/// holds.
pub fn offload_copy(
    cp: &Cparams,
    res: &Residence,
    reserved: Graph,
    masks: u64,
    replayed: bool,
) -> u64 {
    if !res.host_matmul_weights() || !offloads(cp) {
        return 0;
    }
    let p = cp.profile;
    let vocab = p.shape.vocab;
    let experts_host = res.parts.iter().any(|x| x[2].is_none());
    // A build's BLAS backend takes the plain products of host weights (not the experts).
    let blas = blas::takes_host_products(cp);
    let dense_host = !blas && res.parts.iter().any(|x| x[0].is_none() || x[1].is_none());
    let output_host = !blas && res.place.output.is_none();
    let largest = |head: bool| {
        p.matmul_weights
            .iter()
            .filter(|w| w.count > 0 && !repacked(cp, w))
            .filter(|w| is_head(p, w) == head)
            .filter(|w| head || (w.ne2 > 1 && experts_host) || (w.ne2 == 1 && dense_host))
            .map(|w| w.bytes / w.count)
            .max()
            .unwrap_or(0)
    };
    let parts = graph_parts(cp, reserved, reserved);
    let residual = cp.n_ubatch * p.shape.hidden * F32;
    let block = match largest(false) {
        _ if replayed => 0,
        0 => 0,
        w => w + parts.ffn + masks + residual,
    };
    let views = offloaded_blocks(cp, res)
        .into_iter()
        .map(|l| {
            let (k, v) = kv_bytes(p, cp.config, &cp.kv, [l]);
            k + v
        })
        .max();
    let attention = match views {
        Some(kv) if !replayed => parts.residual + parts.attention - parts.mask + masks + kv,
        _ => 0,
    };
    let head = match largest(true) {
        w if w > 0 && output_host => {
            // The residual's copy and its output rows, then the normed rows and logits.
            let (t, o, e) = (
                cp.n_ubatch,
                cp.n_outputs_max.min(cp.n_ubatch),
                p.shape.hidden,
            );
            w + ((t + o) * e).max(o * (e + vocab)) * F32
        }
        _ => 0,
    };
    block.max(attention).max(head)
}

/// What the CPU's compute buffer holds beside the graph inputs while op offload runs the
/// host blocks on the first GPU: the widest of each offloaded block's K and V rows (copies
/// the KV stores read) and, for a product of a repacked weight (the CPU computes it), the
/// copy of its input with its result; the same for a repacked output projection over the
/// reserved outputs. 0 without offloaded blocks.
pub fn cpu_share(cp: &Cparams, res: &Residence) -> u64 {
    let p = cp.profile;
    let t = cp.n_ubatch;
    let blocks = offloaded_blocks(cp, res);
    let stores = blocks
        .iter()
        .map(|&l| t * (p.shape.n_embd_k_gqa(l) + p.shape.n_embd_v_gqa(l)) * F32);
    let products = blocks.iter().flat_map(|&l| {
        p.block_weights
            .get(l)
            .map(|b| b.weights.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|w| repacked(cp, w))
            .map(|w| t * (w.ne0 + w.ne1) * F32)
    });
    let head = if !takes_host_blocks(cp) || res.place.output.is_some() {
        0
    } else {
        let o = cp.n_outputs_max.min(t);
        p.matmul_weights
            .iter()
            .filter(|w| is_head(p, w) && repacked(cp, w))
            .map(|w| o * (w.ne0 + w.ne1) * F32)
            .max()
            .unwrap_or(0)
    };
    stores.chain(products).max().unwrap_or(0).max(head)
}

//! What one place of a split (the client, or a device) holds: its blocks' weights and KV,
//! and its compute buffer, replayed where ggml's allocator is modelled.

use super::placement::{output_layer_bytes, output_norm_bytes, Placement};
use crate::backend::llama_cpp::compute_buffer;
use crate::backend::llama_cpp::cparams::Cparams;
use crate::backend::llama_cpp::graph::{run_sequence, Graph};
use crate::backend::llama_cpp::graph_build::WorkerSplit;
use crate::backend::llama_cpp::kv_cache::kv_bytes_of;
use crate::backend::llama_cpp::live_set::graph_parts;
use crate::profile::{ModelProfile, TensorRole};

/// What one place of a split (the client, or a device) holds for a configuration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Share {
    /// Weight bytes it holds.
    pub weights: u64,
    /// The largest tensor of its blocks (about one feed-forward matrix).
    pub block_tensor: u64,
    /// The output layer's projection when this place holds it (0 otherwise).
    pub projection: u64,
    /// KV bytes of its blocks.
    pub kv: u64,
    /// Compute bytes its graph touches.
    pub compute: u64,
    /// Compute bytes reserved for it (what the engine prints).
    pub compute_reserved: u64,
    /// Of `compute`, the CPU backend's work buffer (matmul inputs converted).
    pub work: u64,
    /// Whether `compute` replays the engine's allocator over this device's graph.
    pub replayed: bool,
}

/// The graphs a place evaluates, in a compute buffer laid out for `reserved`, the
/// scheduler keeping `copies` of each split input.
#[derive(Debug, Clone, Copy)]
pub struct Graphs<'g> {
    /// The run's bounding graphs.
    pub run: &'g [Graph],
    /// The worst case the buffer is reserved for.
    pub reserved: Graph,
    /// Copies of each split input.
    pub copies: u32,
}

/// The share of `place` (`None`: the client) evaluated over `graphs`.
pub fn share(cp: &Cparams, placement: &Placement, place: Option<usize>, graphs: Graphs) -> Share {
    let profile = cp.profile;
    let blocks: Vec<usize> = placement.layers_on(place).collect();
    let holds_output = placement.output == place;
    let mut weights: u64 = blocks
        .iter()
        .map(|&l| profile.layer_bytes.get(l).copied().unwrap_or(0))
        .sum();
    if holds_output {
        weights += output_layer_bytes(profile);
    }
    if place.is_none() {
        weights += profile.role_bytes(TensorRole::Embedding);
    }
    // The largest tensor of a block is about one feed-forward matrix (of all experts, for
    // a mixture of experts); the output layer's projection is one tensor.
    let block_tensor = if blocks.is_empty() {
        0
    } else {
        largest_block_tensor(profile)
    };
    let projection = if holds_output {
        output_layer_bytes(profile).saturating_sub(output_norm_bytes(profile))
    } else {
        0
    };
    let kv = kv_bytes_of(profile, cp.config, &cp.kv, blocks.iter().copied());
    let replayed = cp.build.keeps_reserved_layout && compute_buffer::supported(profile);
    let (compute, compute_reserved, work) = if replayed {
        replayed_compute(cp, placement, place, &blocks, graphs)
    } else {
        summed_compute(cp, place, !blocks.is_empty(), holds_output, graphs)
    };
    Share {
        weights,
        block_tensor,
        projection,
        kv,
        compute,
        compute_reserved,
        work,
        replayed,
    }
}

/// (touched, reserved, work) bytes of a place's compute buffer with ggml's allocator
/// replayed over its graph.
///
/// An RPC worker runs its graphs in the layout the client planned for the reserved worst
/// case (the client allocates the worker's compute buffer). The client that keeps no block
/// holds the graph's inputs and the embedding rows, laid out the same way; a client that
/// keeps blocks (`-ngl` below the block count) is the first device of the split, with the
/// output head where it holds it (its printed compute buffer: p95 35% off as one block's
/// tensors summed, 4.3% replayed).
fn replayed_compute(
    cp: &Cparams,
    placement: &Placement,
    place: Option<usize>,
    blocks: &[usize],
    graphs: Graphs,
) -> (u64, u64, u64) {
    let holds_output = placement.output == place;
    let client = place.is_none() && blocks.is_empty() && !holds_output;
    let split = WorkerSplit {
        client,
        after_cpu: blocks
            .first()
            .and_then(|&l| l.checked_sub(1))
            .is_some_and(|prev| placement.layers.get(prev) == Some(&None)),
        output: holds_output,
        copies: graphs.copies,
        ..compute_buffer::cpu_split(cp, blocks.to_vec())
    };
    // The run's graphs in order (the input copy each writes follows from its place).
    // A server evaluates many graphs as requests interleave: any of its bounding graphs
    // may land on any copy.
    let sequence: Vec<(usize, Graph)> = if cp.config.serve.is_none() {
        run_sequence(cp, graphs.copies)
    } else {
        let n = graphs.copies.max(1) as usize;
        graphs
            .run
            .iter()
            .flat_map(|&g| (0..n).map(move |c| (c, g)))
            .collect()
    };
    let c = compute_buffer::compute(cp.profile, &split, &cp.kv, graphs.reserved, &sequence);
    // The CPU backend converts each matmul's input into a work buffer of its own (the
    // client gathers rows: no matmul).
    let work = if client {
        0
    } else {
        graphs
            .run
            .iter()
            .map(|&g| graph_parts(cp, g, graphs.reserved).work)
            .max()
            .unwrap_or(0)
    };
    (c.touched + work, c.reserved, work)
}

/// (touched, reserved, work) bytes of a place's compute buffer where the allocator is not
/// replayed: its blocks' tensors add up as in a smaller graph's reuse of the reserved
/// layout (one block's tensors summed).
fn summed_compute(
    cp: &Cparams,
    place: Option<usize>,
    has_blocks: bool,
    holds_output: bool,
    graphs: Graphs,
) -> (u64, u64, u64) {
    let touched = |g: Graph| {
        let mut parts = graph_parts(cp, g, graphs.reserved);
        if place.is_some() && cp.build.keeps_reserved_layout {
            parts.sum_layout = true;
            parts.ffn += parts.ffn_product;
        }
        parts.touched(has_blocks, holds_output)
    };
    (
        graphs.run.iter().map(|&g| touched(g)).max().unwrap_or(0),
        graph_parts(cp, graphs.reserved, graphs.reserved).touched(has_blocks, holds_output),
        0,
    )
}

/// Bytes of the largest weight tensor of a block (what one tensor message to a device
/// holds): from the file's matmul weights, less the vocabulary-sized embedding and output
/// projection; for a profile stored without them, a third of a block's feed-forward.
pub fn largest_block_tensor(profile: &ModelProfile) -> u64 {
    block_tensor_sizes(profile)
        .into_iter()
        .map(|(bytes, _)| bytes)
        .max()
        .unwrap_or_else(|| {
            (profile.role_bytes(TensorRole::Ffn) / u64::from(profile.shape.n_layers.max(1)))
                .div_ceil(3)
        })
}

/// The blocks' matmul weights as `(bytes of one tensor, tensors)`: the file's matmul
/// weights less the vocabulary-sized embedding and output projection.
pub(super) fn block_tensor_sizes(profile: &ModelProfile) -> Vec<(u64, u64)> {
    profile
        .matmul_weights
        .iter()
        .filter(|w| w.ne0 != profile.shape.vocab && w.ne1 != profile.shape.vocab && w.count > 0)
        .map(|w| (w.bytes / w.count, w.count))
        .collect()
}

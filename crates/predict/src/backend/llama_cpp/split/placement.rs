//! Where llama.cpp puts a split's layers (`llama_model::load_tensors`, `dev_layer` /
//! `dev_output`): the placement of the blocks and the output layer over the devices, the
//! file span the client keeps mapped, and the scheduler's pipeline copies.

use crate::backend::llama_cpp::cparams::Cparams;
use crate::config::{SplitMode, SplitOptions};
use crate::profile::{ModelProfile, TensorRole, TensorSpans};

/// Which device holds each block and the output layer (`None`: the client's CPU).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Device of each block, in block order.
    pub layers: Vec<Option<usize>>,
    /// Device of the output layer (output norm and projection).
    pub output: Option<usize>,
}

impl Placement {
    /// The blocks device `d` holds (`None`: the client).
    pub fn layers_on(&self, d: Option<usize>) -> impl Iterator<Item = usize> + '_ {
        self.layers
            .iter()
            .enumerate()
            .filter(move |(_, x)| **x == d)
            .map(|(i, _)| i)
    }

    /// The first block on `d` and how many it holds (blocks of one device are contiguous).
    pub fn range_on(&self, d: Option<usize>) -> (u32, u32) {
        let mut it = self.layers_on(d);
        match it.next() {
            Some(first) => (first as u32, 1 + it.count() as u32),
            None => (0, 0),
        }
    }
}

/// Layers offloaded for `-ngl` = `gpu_layers` (None: all of them and the output layer).
pub fn offloaded(n_layers: u32, gpu_layers: Option<u32>) -> u32 {
    gpu_layers.map_or(n_layers + 1, |g| g.min(n_layers + 1))
}

/// llama.cpp's placement of `n_layers` blocks and the output layer over `split`'s devices:
/// with `output_first` (builds from ≈b7460) `-ngl N` takes the output layer and the last
/// `N - 1` blocks, before it the last `N` blocks and the output layer only when `N` exceeds
/// the blocks.
pub fn placement(
    n_layers: u32,
    gpu_layers: Option<u32>,
    split: &SplitOptions,
    output_first: bool,
) -> Placement {
    let n = n_layers as usize;
    let act = offloaded(n_layers, gpu_layers) as usize;
    let start = if output_first {
        n + 1 - act
    } else {
        n.saturating_sub(gpu_layers.map_or(n + 1, |g| g as usize))
    };
    // Cumulative shares, normalised, in f32 like the engine.
    let mut cum: Vec<f32> = Vec::with_capacity(split.tensor_split.len());
    let mut sum = 0f32;
    for &s in &split.tensor_split {
        sum += s as f32;
        cum.push(sum);
    }
    for c in cum.iter_mut() {
        *c /= sum;
    }
    let device = |il: usize| -> Option<usize> {
        if il < start || il - start >= act || cum.is_empty() {
            return None;
        }
        let x = (il - start) as f32 / act as f32;
        // std::upper_bound: the first share strictly above x.
        let d = cum.iter().position(|&c| c > x).unwrap_or(cum.len() - 1);
        Some(d.min(cum.len() - 1))
    };
    Placement {
        layers: (0..n).map(device).collect(),
        output: device(n),
    }
}

/// Bytes of the output layer's tensors where it is placed: the output norm and the
/// projection, or (tied embeddings) a duplicate of the token embedding.
pub fn output_layer_bytes(profile: &ModelProfile) -> u64 {
    let projection = if profile.shape.tied_embeddings || profile.role_bytes(TensorRole::Output) == 0
    {
        profile.role_bytes(TensorRole::Embedding)
    } else {
        profile.role_bytes(TensorRole::Output)
    };
    projection + output_norm_bytes(profile)
}

/// Bytes of the final norm (the norms outside the blocks, and what else is outside them
/// besides the embedding and the output projection).
pub(super) fn output_norm_bytes(profile: &ModelProfile) -> u64 {
    profile
        .non_layer_bytes()
        .saturating_sub(profile.role_bytes(TensorRole::Embedding))
        .saturating_sub(profile.role_bytes(TensorRole::Output))
}

/// Bytes of the file the client keeps mapped once loaded: llama.cpp unmaps what lies before
/// its first and after its last CPU tensor (the token embedding, the blocks it keeps, the
/// output layer when it keeps it), so where the file puts them decides. Without the file's
/// layout, the whole file once the client keeps blocks.
pub(super) fn client_mapped(profile: &ModelProfile, place: &Placement, file: u64) -> u64 {
    let Some(sp) = &profile.spans else {
        return if place.layers_on(None).next().is_some() {
            file
        } else {
            profile.role_bytes(TensorRole::Embedding)
        };
    };
    let mut parts = vec![sp.embedding];
    parts.extend(
        place
            .layers_on(None)
            .filter_map(|l| sp.layers.get(l).copied()),
    );
    if place.output.is_none() {
        parts.push(sp.output);
    }
    let c = TensorSpans::covering(parts);
    c[1] - c[0]
}

/// Whether the output layer lies before device `d`'s blocks in the file (it is then loaded,
/// and its message copied, before them). Unknown layout: after (the larger peak).
pub(super) fn output_first(profile: &ModelProfile, place: &Placement, d: usize) -> bool {
    let Some(sp) = &profile.spans else {
        return false;
    };
    let blocks = TensorSpans::covering(
        place
            .layers_on(Some(d))
            .filter_map(|l| sp.layers.get(l).copied()),
    );
    // A tied output layer is a duplicate of the token embedding, loaded where it lies.
    let projection = if profile.shape.tied_embeddings || profile.role_bytes(TensorRole::Output) == 0
    {
        sp.embedding
    } else {
        sp.output
    };
    projection[1] > projection[0] && (blocks[1] == blocks[0] || projection[0] < blocks[0])
}

/// Copies of each split input the scheduler keeps: the family's pipeline copies when the
/// engine turns pipeline parallelism on (a layer split over more than one device that
/// offloads every block and the output layer), else one.
pub fn pipeline_copies(cp: &Cparams, split: &SplitOptions) -> u32 {
    let n = cp.profile.shape.n_layers;
    let all = offloaded(n, cp.config.gpu_layers) > n;
    // llama.cpp turns it off with -nkvo and with any tensor override too.
    let plain = cp.config.kv_offload && cp.config.tensor_overrides.is_empty();
    if split.devices.len() > 1 && all && split.mode == SplitMode::Layer && plain {
        cp.build.pipeline_copies.max(1)
    } else {
        1
    }
}

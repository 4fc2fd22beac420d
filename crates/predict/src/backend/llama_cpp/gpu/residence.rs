//! Where each part of the model lives on a GPU run (`llama_model::load_tensors`,
//! `select_weight_buft`): `-ngl`'s placement of the blocks and the output layer over the
//! GPUs (the token embedding always on the host), then the tensor overrides of `-ot`,
//! `--cpu-moe` and `--n-cpu-moe` on top. An override of `output.weight` moves the output
//! layer: on the host, op offload computes a micro-batch's logits on the first GPU as for
//! an output layer `-ngl` leaves on the host.

use crate::backend::llama_cpp::split::placement::{output_layer_bytes, placement, Placement};
use crate::config::overrides::{BlockPart, OverrideTarget};
use crate::config::{RunConfig, SplitOptions};
use crate::profile::{LayerParts, ModelProfile, TensorRole};

/// Where each block's parts and the output layer live (`None`: host memory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Residence {
    /// `-ngl`'s placement: where each block's graph (and its KV cache) goes.
    pub place: Placement,
    /// Per block, where its attention, FFN, routed experts and other tensors live.
    pub parts: Vec<[Option<usize>; 4]>,
    /// Where `-ngl` alone puts the output layer: llama.cpp's output device, whose pinned
    /// host buffer holds the logits whatever an override does with the weights.
    pub ngl_output: Option<usize>,
}

/// The bytes of part `p` of a block.
fn part_bytes(parts: &LayerParts, p: BlockPart) -> u64 {
    match p {
        BlockPart::Attention => parts.attention,
        BlockPart::Ffn => parts.ffn,
        BlockPart::Experts => parts.experts,
        BlockPart::Other => parts.other,
    }
}

impl Residence {
    /// The residence of `profile`'s parts for `config` over the GPUs of `split`
    /// (`output_first`: the build's `-ngl` order, see [`placement`]).
    pub fn new(
        profile: &ModelProfile,
        config: &RunConfig,
        split: &SplitOptions,
        output_first: bool,
    ) -> Residence {
        let n = profile.shape.n_layers;
        let mut place = placement(n, config.gpu_layers, split, output_first);
        let ngl_output = place.output;
        match config.tensor_overrides.output_target() {
            Some(OverrideTarget::Host) => place.output = None,
            Some(OverrideTarget::Gpu(g)) => place.output = Some(g as usize),
            None => {}
        }
        let parts = place
            .layers
            .iter()
            .enumerate()
            .map(|(l, &d)| {
                BlockPart::ALL.map(|p| match config.tensor_overrides.target(l as u32, p) {
                    Some(OverrideTarget::Host) => None,
                    Some(OverrideTarget::Gpu(n)) => Some(n as usize),
                    None => d,
                })
            })
            .collect();
        Residence {
            place,
            parts,
            ngl_output,
        }
    }

    /// The parts of block `l` (from the profile, or the whole block as `other` for a
    /// profile stored without them).
    pub fn layer_parts(profile: &ModelProfile, l: usize) -> LayerParts {
        profile.layer_parts.get(l).copied().unwrap_or(LayerParts {
            other: profile.layer_bytes.get(l).copied().unwrap_or(0),
            tensors: 1,
            ..LayerParts::default()
        })
    }

    /// Weight bytes on `d` (`None`: the host) and the tensors holding them: the parts of
    /// blocks resident there, the output layer where it is placed, and on the host the
    /// token embedding.
    pub fn weights_on(&self, profile: &ModelProfile, d: Option<usize>) -> (u64, u64) {
        let (mut bytes, mut tensors) = (0u64, 0u64);
        for (l, where_) in self.parts.iter().enumerate() {
            let lp = Residence::layer_parts(profile, l);
            let here: Vec<BlockPart> = BlockPart::ALL
                .into_iter()
                .zip(where_)
                .filter(|(_, w)| **w == d)
                .map(|(p, _)| p)
                .collect();
            bytes += here.iter().map(|&p| part_bytes(&lp, p)).sum::<u64>();
            // Tensors in proportion to the bytes held (for alignment padding only).
            let all = lp.attention + lp.ffn + lp.experts + lp.other;
            if all > 0 {
                let held: u64 = here.iter().map(|&p| part_bytes(&lp, p)).sum();
                tensors += (u64::from(lp.tensors) * held).div_ceil(all);
            }
        }
        if self.place.output == d {
            bytes += output_layer_bytes(profile);
            tensors += 2;
        }
        if d.is_none() {
            bytes += profile.role_bytes(TensorRole::Embedding);
            tensors += 1;
        }
        (bytes, tensors)
    }

    /// Whether any part of block `l` lives on the host.
    pub fn host_holds_part_of(&self, l: usize) -> bool {
        self.parts.get(l).is_some_and(|p| p.contains(&None))
    }

    /// The blocks kept whole in host memory: no part on a GPU and their cache on the host
    /// (what `-ngl` leaves there), in order.
    pub fn host_blocks(&self) -> Vec<usize> {
        (0..self.parts.len())
            .filter(|&l| {
                self.place.layers[l].is_none() && self.parts[l].iter().all(Option::is_none)
            })
            .collect()
    }

    /// Whether a matrix multiplication's weight lives on the host for some block (a CPU
    /// block, experts kept on the CPU) or the output layer does: op offload then copies it
    /// into the first GPU's compute buffer for a micro-batch.
    pub fn host_matmul_weights(&self) -> bool {
        self.place.output.is_none() || self.parts.iter().any(|p| p[..3].contains(&None))
    }
}

//! Where llama.cpp puts a block's tensors against `-ngl`'s placement: `-ot PATTERN=BUFT`
//! (`--override-tensor`), `--cpu-moe` and `--n-cpu-moe N`, as typed overrides of whole
//! parts of a block (its attention, its FFN, its routed experts) and of the output layer.
//!
//! The command line turns regular expressions over tensor names into these (the library
//! never sees a pattern); llama.cpp takes the first override whose pattern matches a
//! tensor, and so do [`TensorOverrides::target`]'s lookups.

use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A part of a block, as overrides name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TensorPart {
    /// Every tensor of the block (`blk\.3\.`).
    Block,
    /// `attn_*`.
    Attention,
    /// Every `ffn_*` tensor, the routed experts included (`blk\.3\.ffn`).
    Ffn,
    /// The `ffn_*` tensors other than the routed experts (norm, router, dense or shared
    /// FFN).
    FfnDense,
    /// The routed experts only (`ffn_*_exps`: `--cpu-moe`, `exps=CPU`).
    Experts,
    /// The output layer's projection (`output.weight`: `-ot "^output\.weight$=CPU"`); not a
    /// part of any block.
    Output,
}

impl TensorPart {
    /// Whether an override of this part covers the block part `p` (one of
    /// [`BlockPart`]).
    pub fn covers(&self, p: BlockPart) -> bool {
        match self {
            TensorPart::Block => true,
            TensorPart::Attention => p == BlockPart::Attention,
            TensorPart::Ffn => matches!(p, BlockPart::Ffn | BlockPart::Experts),
            TensorPart::FfnDense => p == BlockPart::Ffn,
            TensorPart::Experts => p == BlockPart::Experts,
            TensorPart::Output => false,
        }
    }
}

/// The disjoint parts a block's tensors fall into (see
/// [`crate::profile::LayerParts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockPart {
    /// `attn_*`.
    Attention,
    /// `ffn_*` but the routed experts.
    Ffn,
    /// The routed experts.
    Experts,
    /// Anything else.
    Other,
}

impl BlockPart {
    /// Every part.
    pub const ALL: [BlockPart; 4] = [
        BlockPart::Attention,
        BlockPart::Ffn,
        BlockPart::Experts,
        BlockPart::Other,
    ];
}

/// Where an override puts what it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverrideTarget {
    /// Host memory (`=CPU`).
    Host,
    /// GPU `n` of the run (`=CUDA1`).
    Gpu(u32),
}

impl fmt::Display for OverrideTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OverrideTarget::Host => f.write_str("CPU"),
            OverrideTarget::Gpu(n) => write!(f, "GPU{n}"),
        }
    }
}

/// One override: the `part` of block `layer` (every block when `None`) goes to `target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TensorOverride {
    /// The block (None: every block).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<u32>,
    /// The part of it.
    pub part: TensorPart,
    /// Where it goes.
    pub target: OverrideTarget,
}

/// A run's overrides, in the order they were given (the first that matches wins).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TensorOverrides(pub Vec<TensorOverride>);

impl TensorOverrides {
    /// `--n-cpu-moe n`: the routed experts of blocks `0..n` in host memory.
    pub fn n_cpu_moe(n: u32) -> TensorOverrides {
        TensorOverrides(
            (0..n)
                .map(|l| TensorOverride {
                    layer: Some(l),
                    part: TensorPart::Experts,
                    target: OverrideTarget::Host,
                })
                .collect(),
        )
    }

    /// `--cpu-moe`: every block's routed experts in host memory.
    pub fn cpu_moe() -> TensorOverrides {
        TensorOverrides(vec![TensorOverride {
            layer: None,
            part: TensorPart::Experts,
            target: OverrideTarget::Host,
        }])
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Where the first override matching part `p` of block `layer` sends it, if one does.
    pub fn target(&self, layer: u32, p: BlockPart) -> Option<OverrideTarget> {
        self.0
            .iter()
            .find(|o| o.layer.is_none_or(|l| l == layer) && o.part.covers(p))
            .map(|o| o.target)
    }

    /// Where the first override of the output layer sends it, if one does.
    pub fn output_target(&self) -> Option<OverrideTarget> {
        self.0
            .iter()
            .find(|o| o.part == TensorPart::Output)
            .map(|o| o.target)
    }

    /// Checks every GPU target is one of the run's `n_gpus`.
    pub fn validate(&self, n_gpus: usize) -> Result<(), Error> {
        match self.0.iter().find_map(|o| match o.target {
            OverrideTarget::Gpu(n) if n as usize >= n_gpus => Some(n),
            _ => None,
        }) {
            Some(n) => Err(Error::InvalidConfig(format!(
                "a tensor override names GPU {n}, but the run has {n_gpus} GPU(s)"
            ))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_matching_override_wins_and_parts_nest() {
        let o = TensorOverrides(vec![
            TensorOverride {
                layer: Some(3),
                part: TensorPart::Ffn,
                target: OverrideTarget::Gpu(0),
            },
            TensorOverride {
                layer: None,
                part: TensorPart::Experts,
                target: OverrideTarget::Host,
            },
        ]);
        assert_eq!(
            o.target(3, BlockPart::Experts),
            Some(OverrideTarget::Gpu(0))
        );
        assert_eq!(o.target(4, BlockPart::Experts), Some(OverrideTarget::Host));
        assert_eq!(o.target(4, BlockPart::Ffn), None);
        assert_eq!(o.target(3, BlockPart::Attention), None);
        assert!(o.validate(1).is_ok() && o.validate(0).is_err());
        let n = TensorOverrides::n_cpu_moe(2);
        assert_eq!(n.target(1, BlockPart::Experts), Some(OverrideTarget::Host));
        assert_eq!(n.target(2, BlockPart::Experts), None);
    }
}

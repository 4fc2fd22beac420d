//! The weights of host blocks that a build repacks beside a GPU
//! ([`GpuRules::host_repack`](crate::backend::llama_cpp::build::GpuRules::host_repack)):
//! which go into the CPU's extra buffer (`CPU_AARCH64` on those builds), and how far the
//! mapped span of a block's kept tensors falls short of the block's end when its last
//! weights moved.
//!
//! Before ggml-org/llama.cpp#12498 the CPU buffer list offered the CPU's extra buffer types
//! before the GPU's pinned host type, so the weights of blocks left on the host (and the
//! output layer, when it stays) were repacked as on a CPU-only run; later builds do the
//! same with `--no-host`, which drops the host type from the list. The weights that move
//! are no longer host memory to the scheduler, so op offload cannot copy them to the GPU:
//! their products run on the CPU. Only the `CPU_REPACK` rules are applied here; an `AMX`
//! build on such a machine is not modelled.

use super::residence::Residence;
use crate::backend::llama_cpp::cparams::Cparams;
use crate::backend::llama_cpp::repack::IsaRules;
use crate::error::{Error, Result};
use crate::profile::{MatmulWeight, ModelProfile};

/// What the host's extra buffer takes on a GPU run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostRepack {
    /// The buffer's name as the build prints it.
    pub name: &'static str,
    /// Bytes moved into it.
    pub bytes: u64,
    /// Bytes that leave the model buffer for it: all of them but a tied output's, which
    /// is the token embedding loaded a second time (the model buffer keeps the embedding
    /// for its lookups).
    pub moved: u64,
    /// Per block: bytes at the end of the block's span that moved (0 for GPU blocks).
    pub cut: Vec<u64>,
}

/// Whether `w` is the output projection (vocabulary-wide).
pub(super) fn is_head(p: &ModelProfile, w: &MatmulWeight) -> bool {
    w.ne2 == 1 && (w.ne1 == p.shape.vocab || w.ne0 == p.shape.vocab)
}

/// Bytes of block `l`'s weights the rules repack: from the block's own weights, or an
/// even share of the non-output weights in profiles that do not list them per block.
fn block_bytes(cp: &Cparams, rules: &IsaRules, l: usize) -> u64 {
    let p = cp.profile;
    let repacked = |w: &&MatmulWeight| rules.repacks(&cp.isa, w);
    match p.block_weights.get(l) {
        Some(b) if !b.weights.is_empty() => {
            b.weights.iter().filter(repacked).map(|w| w.bytes).sum()
        }
        _ => {
            let all: u64 = p
                .matmul_weights
                .iter()
                .filter(|w| !is_head(p, w))
                .filter(repacked)
                .map(|w| w.bytes)
                .sum();
            all / u64::from(p.shape.n_layers.max(1))
        }
    }
}

/// Bytes at the end of block `l`'s span that moved: its trailing weights, last first,
/// while the rules repack them.
fn block_cut(cp: &Cparams, rules: &IsaRules, l: usize) -> u64 {
    cp.profile.block_weights.get(l).map_or(0, |b| {
        b.trailing_last_first()
            .take_while(|w| rules.repacks(&cp.isa, w))
            .map(|w| w.bytes)
            .sum()
    })
}

/// The extra-buffer rules that apply to host weights beside a GPU: on builds that offer
/// the CPU's extra buffers before the GPU's host type, or with `--no-host` (which drops the
/// host type from the list); none with `--no-repack` or without extra buffers.
pub fn host_rules(cp: &Cparams) -> Option<IsaRules> {
    let before_host = cp.build.gpu.host_repack || cp.config.no_host;
    cp.build
        .extra_buffers
        .filter(|_| before_host && cp.config.repack)
}

/// Refuses tensor overrides where host weights are repacked ([`host_rules`]): the loader
/// then picks an overridden weight's buffer by rules memcal does not follow (the plain
/// `CPU` type on the older builds, the CPU list with `--no-host`), and this module repacks
/// whole host blocks and an output layer that `-ngl` leaves on the host only. Without
/// overrides, every host weight is one of those, which op offload's copy relies on too.
pub fn refuse_overrides(cp: &Cparams) -> Result<()> {
    if host_rules(cp).is_none() || cp.config.tensor_overrides.is_empty() {
        return Ok(());
    }
    let why = if cp.config.no_host {
        "--no-host".to_string()
    } else {
        format!(
            "build {} (which repacks host blocks beside a GPU)",
            cp.config.engine_build.unwrap_or_default()
        )
    };
    Err(Error::InvalidConfig(format!(
        "tensor overrides (-ot, --cpu-moe, --n-cpu-moe) with {why}: the overridden weights' \
         buffers are not modelled there (memcal repacks whole host blocks only)"
    )))
}

/// What the build repacks of the host's blocks and output layer, or `None` where it
/// repacks nothing beside a GPU ([`host_rules`]).
pub fn host_repack(cp: &Cparams, res: &Residence) -> Option<HostRepack> {
    let rules = host_rules(cp)?;
    let p = cp.profile;
    let host = |l: usize| res.place.layers.get(l).is_some_and(Option::is_none);
    let n = res.place.layers.len();
    let cut: Vec<u64> = (0..n)
        .map(|l| if host(l) { block_cut(cp, &rules, l) } else { 0 })
        .collect();
    let blocks: u64 = (0..n)
        .filter(|&l| host(l))
        .map(|l| block_bytes(cp, &rules, l))
        .sum();
    let head: u64 = if res.place.output.is_none() {
        p.matmul_weights
            .iter()
            .filter(|w| is_head(p, w) && rules.repacks(&cp.isa, w))
            .map(|w| w.bytes)
            .sum()
    } else {
        0
    };
    let moved = blocks + if p.shape.tied_embeddings { 0 } else { head };
    (blocks + head > 0).then(|| HostRepack {
        name: rules.repack_buffer_name(),
        bytes: blocks + head,
        moved,
        cut,
    })
}

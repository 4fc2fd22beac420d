//! The CPU instruction sets an engine build is compiled for, as data: named sets of
//! features, read from `/proc/cpuinfo` or an engine build's own list. Which weights each
//! ISA moves into llama.cpp's extra buffers is the engine's business
//! (`backend::isa`'s rules); this is only what the ISA is.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
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

    /// A name from [`NAMED`], or features joined by `+` or `,` (`avx2+avx512`), or
    /// `generic` (none of the features, what [`Isa::from_cpuinfo`] names such a CPU).
    fn from_str(s: &str) -> Result<Isa> {
        let t = s.trim().to_ascii_lowercase();
        if t == "generic" {
            return Ok(Isa::named_for(Vec::new()));
        }
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

/// An ISA as a configuration names it (`--isa`): the spelling given, written back as is in
/// records and JSON, and what it parses to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsaSpec {
    /// The name as given (`avx2`, `avx2+avx512`, or the detected name for `native`).
    pub given: String,
    /// What it means.
    pub isa: Isa,
}

impl FromStr for IsaSpec {
    type Err = Error;

    /// Parses like [`Isa`], keeping the spelling.
    fn from_str(s: &str) -> Result<IsaSpec> {
        Ok(IsaSpec {
            given: s.to_string(),
            isa: s.parse()?,
        })
    }
}

impl Serialize for IsaSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.given)
    }
}

impl<'de> Deserialize<'de> for IsaSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<IsaSpec, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for IsaSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.given)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Feature::*;

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
}

//! ggml tensor types: ids, names, block sizes and exact stored sizes, including the
//! BitNet b1.58 fork's ternary types I2_S, TL1 and TL2.
//!
//! Sizes follow ggml's `type_traits` table (QK_K = 256) and, for the BitNet types, the
//! fork's `ggml_nbytes` override (microsoft/BitNet's llama.cpp submodule), which is the only
//! place their true size is defined: the fork's traits claim 1 byte per element.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A ggml tensor storage type.
///
/// Ids 36-42 mean different things upstream and in the BitNet fork; [`GgmlType::from_id`]
/// gives the upstream reading and [`GgmlType::from_bitnet_id`] the fork's. The GGUF reader
/// decides per file which one applies. Serialized as its [`GgmlType::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum GgmlType {
    /// 32-bit float (id 0).
    F32,
    /// 16-bit IEEE float (id 1).
    F16,
    /// 4-bit, 32-element blocks with an f16 scale (id 2).
    Q4_0,
    /// 4-bit, 32-element blocks with f16 scale and min (id 3).
    Q4_1,
    /// 5-bit, 32-element blocks (id 6).
    Q5_0,
    /// 5-bit with min, 32-element blocks (id 7).
    Q5_1,
    /// 8-bit, 32-element blocks with an f16 scale (id 8).
    Q8_0,
    /// 8-bit with f32 scale and sum (id 9).
    Q8_1,
    /// 2-bit k-quant, 256-element super-blocks (id 10).
    Q2K,
    /// 3-bit k-quant (id 11).
    Q3K,
    /// 4-bit k-quant (id 12).
    Q4K,
    /// 5-bit k-quant (id 13).
    Q5K,
    /// 6-bit k-quant (id 14).
    Q6K,
    /// 8-bit k-quant, used for intermediate results (id 15).
    Q8K,
    /// i-quant 2.06 bpw (id 16).
    IQ2XXS,
    /// i-quant 2.31 bpw (id 17).
    IQ2XS,
    /// i-quant 3.06 bpw (id 18).
    IQ3XXS,
    /// i-quant 1.56 bpw (id 19).
    IQ1S,
    /// 4-bit non-linear, 32-element blocks (id 20).
    IQ4NL,
    /// i-quant 3.44 bpw (id 21).
    IQ3S,
    /// i-quant 2.5 bpw (id 22).
    IQ2S,
    /// i-quant 4.25 bpw (id 23).
    IQ4XS,
    /// 8-bit integer (id 24).
    I8,
    /// 16-bit integer (id 25).
    I16,
    /// 32-bit integer (id 26).
    I32,
    /// 64-bit integer (id 27).
    I64,
    /// 64-bit float (id 28).
    F64,
    /// i-quant 1.75 bpw (id 29).
    IQ1M,
    /// bfloat16 (id 30).
    BF16,
    /// Ternary 1.69 bpw (id 34).
    TQ1_0,
    /// Ternary 2.06 bpw (id 35).
    TQ2_0,
    /// Upstream MXFP4: 32 elements in 17 bytes (id 39 upstream).
    MXFP4,
    /// Upstream NVFP4: 64 elements in 36 bytes (id 40 upstream).
    NVFP4,
    /// Upstream 1-bit: 128 elements in 18 bytes (id 41 upstream).
    Q1_0,
    /// Upstream 2-bit: 64 elements in 18 bytes (id 42 upstream).
    Q2_0,
    /// BitNet fork: ternary weights at 2 bits each plus a 32-byte tail holding the f32
    /// per-tensor scale (id 36 in the fork).
    I2S,
    /// BitNet fork: int8 activations, a compute type never stored in files (id 37 in the fork).
    I8S,
    /// BitNet fork, ARM lookup-table kernel layout; same size as I2_S (id 38 in the fork).
    TL1,
    /// BitNet fork, x86 lookup-table kernel layout: three weights in 5 bits plus a 256-column
    /// remainder at 4 bits per 2 weights (id 39 in the 2024 fork, 42 in newer builds).
    TL2,
}

/// Every type, in id order (fork types last).
pub const ALL_TYPES: [GgmlType; 39] = {
    use GgmlType::*;
    [
        F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2K, Q3K, Q4K, Q5K, Q6K, Q8K, IQ2XXS, IQ2XS,
        IQ3XXS, IQ1S, IQ4NL, IQ3S, IQ2S, IQ4XS, I8, I16, I32, I64, F64, IQ1M, BF16, TQ1_0, TQ2_0,
        MXFP4, NVFP4, Q1_0, Q2_0, I2S, I8S, TL1, TL2,
    ]
};

/// Size of one I2_S/TL1 element group's tail: one f32 scale padded to 32 bytes.
const BITNET_TAIL_BYTES: u64 = 32;

impl GgmlType {
    /// The upstream ggml reading of a type id (ids 36-38 are removed types upstream and give
    /// `None`; 39-42 are MXFP4, NVFP4, Q1_0, Q2_0).
    pub fn from_id(id: u32) -> Option<GgmlType> {
        use GgmlType::*;
        Some(match id {
            0 => F32,
            1 => F16,
            2 => Q4_0,
            3 => Q4_1,
            6 => Q5_0,
            7 => Q5_1,
            8 => Q8_0,
            9 => Q8_1,
            10 => Q2K,
            11 => Q3K,
            12 => Q4K,
            13 => Q5K,
            14 => Q6K,
            15 => Q8K,
            16 => IQ2XXS,
            17 => IQ2XS,
            18 => IQ3XXS,
            19 => IQ1S,
            20 => IQ4NL,
            21 => IQ3S,
            22 => IQ2S,
            23 => IQ4XS,
            24 => I8,
            25 => I16,
            26 => I32,
            27 => I64,
            28 => F64,
            29 => IQ1M,
            30 => BF16,
            34 => TQ1_0,
            35 => TQ2_0,
            39 => MXFP4,
            40 => NVFP4,
            41 => Q1_0,
            42 => Q2_0,
            _ => return None,
        })
    }

    /// The BitNet fork's reading of a type id: 36 I2_S, 37 I8_S, 38 TL1, 39 TL2 (2024 fork)
    /// and 42 TL2 (newer fork builds). Ids below 36 read as upstream; other ids give `None`.
    pub fn from_bitnet_id(id: u32) -> Option<GgmlType> {
        match id {
            36 => Some(GgmlType::I2S),
            37 => Some(GgmlType::I8S),
            38 => Some(GgmlType::TL1),
            39 | 42 => Some(GgmlType::TL2),
            0..=35 => GgmlType::from_id(id),
            _ => None,
        }
    }

    /// Whether an id reads differently upstream and in the BitNet fork (36-39 and 42).
    pub fn is_ambiguous_id(id: u32) -> bool {
        matches!(id, 36..=39 | 42)
    }

    /// The id this type is written with: the upstream id, or for the fork types the 2024
    /// fork's (I2_S 36, I8_S 37, TL1 38, TL2 39).
    pub fn id(self) -> u32 {
        use GgmlType::*;
        match self {
            F32 => 0,
            F16 => 1,
            Q4_0 => 2,
            Q4_1 => 3,
            Q5_0 => 6,
            Q5_1 => 7,
            Q8_0 => 8,
            Q8_1 => 9,
            Q2K => 10,
            Q3K => 11,
            Q4K => 12,
            Q5K => 13,
            Q6K => 14,
            Q8K => 15,
            IQ2XXS => 16,
            IQ2XS => 17,
            IQ3XXS => 18,
            IQ1S => 19,
            IQ4NL => 20,
            IQ3S => 21,
            IQ2S => 22,
            IQ4XS => 23,
            I8 => 24,
            I16 => 25,
            I32 => 26,
            I64 => 27,
            F64 => 28,
            IQ1M => 29,
            BF16 => 30,
            TQ1_0 => 34,
            TQ2_0 => 35,
            MXFP4 => 39,
            NVFP4 => 40,
            Q1_0 => 41,
            Q2_0 => 42,
            I2S => 36,
            I8S => 37,
            TL1 => 38,
            TL2 => 39,
        }
    }

    /// The conventional upper-case name, e.g. `Q4_K`, `IQ2_XXS`, `I2_S`, `TL2`.
    pub fn name(self) -> &'static str {
        use GgmlType::*;
        match self {
            F32 => "F32",
            F16 => "F16",
            Q4_0 => "Q4_0",
            Q4_1 => "Q4_1",
            Q5_0 => "Q5_0",
            Q5_1 => "Q5_1",
            Q8_0 => "Q8_0",
            Q8_1 => "Q8_1",
            Q2K => "Q2_K",
            Q3K => "Q3_K",
            Q4K => "Q4_K",
            Q5K => "Q5_K",
            Q6K => "Q6_K",
            Q8K => "Q8_K",
            IQ2XXS => "IQ2_XXS",
            IQ2XS => "IQ2_XS",
            IQ3XXS => "IQ3_XXS",
            IQ1S => "IQ1_S",
            IQ4NL => "IQ4_NL",
            IQ3S => "IQ3_S",
            IQ2S => "IQ2_S",
            IQ4XS => "IQ4_XS",
            I8 => "I8",
            I16 => "I16",
            I32 => "I32",
            I64 => "I64",
            F64 => "F64",
            IQ1M => "IQ1_M",
            BF16 => "BF16",
            TQ1_0 => "TQ1_0",
            TQ2_0 => "TQ2_0",
            MXFP4 => "MXFP4",
            NVFP4 => "NVFP4",
            Q1_0 => "Q1_0",
            Q2_0 => "Q2_0",
            I2S => "I2_S",
            I8S => "I8_S",
            TL1 => "TL1",
            TL2 => "TL2",
        }
    }

    /// Looks a type up by [`GgmlType::name`], case-insensitively.
    pub fn from_name(name: &str) -> Option<GgmlType> {
        ALL_TYPES
            .iter()
            .copied()
            .find(|t| t.name().eq_ignore_ascii_case(name))
    }

    /// Elements per block. The BitNet types report 1, as the fork's type traits do; their
    /// real size comes from [`GgmlType::nbytes`] only.
    pub fn block_elems(self) -> u64 {
        self.traits().0
    }

    /// Bytes per block. The BitNet types report 1 (see [`GgmlType::block_elems`]).
    pub fn block_bytes(self) -> u64 {
        self.traits().1
    }

    /// Whether this is one of the BitNet fork's ternary types (I2_S, I8_S, TL1, TL2), whose
    /// size is not `block_bytes` per `block_elems`.
    pub fn is_bitnet(self) -> bool {
        matches!(
            self,
            GgmlType::I2S | GgmlType::I8S | GgmlType::TL1 | GgmlType::TL2
        )
    }

    /// Whether the type packs several elements per block (not a plain float/int type).
    pub fn is_quantized(self) -> bool {
        self.block_elems() > 1 || matches!(self, GgmlType::I2S | GgmlType::TL1 | GgmlType::TL2)
    }

    /// (elements per block, bytes per block), from ggml's type traits.
    fn traits(self) -> (u64, u64) {
        use GgmlType::*;
        match self {
            F32 => (1, 4),
            F16 => (1, 2),
            Q4_0 => (32, 18),
            Q4_1 => (32, 20),
            Q5_0 => (32, 22),
            Q5_1 => (32, 24),
            Q8_0 => (32, 34),
            Q8_1 => (32, 36),
            Q2K => (256, 84),
            Q3K => (256, 110),
            Q4K => (256, 144),
            Q5K => (256, 176),
            Q6K => (256, 210),
            Q8K => (256, 292),
            IQ2XXS => (256, 66),
            IQ2XS => (256, 74),
            IQ3XXS => (256, 98),
            IQ1S => (256, 50),
            IQ4NL => (32, 18),
            IQ3S => (256, 110),
            IQ2S => (256, 82),
            IQ4XS => (256, 136),
            I8 => (1, 1),
            I16 => (1, 2),
            I32 => (1, 4),
            I64 => (1, 8),
            F64 => (1, 8),
            IQ1M => (256, 56),
            BF16 => (1, 2),
            TQ1_0 => (256, 54),
            TQ2_0 => (256, 66),
            MXFP4 => (32, 17),
            NVFP4 => (64, 36),
            Q1_0 => (128, 18),
            Q2_0 => (64, 18),
            I2S | I8S | TL1 | TL2 => (1, 1),
        }
    }

    /// Exact stored bytes of a tensor with dimensions `dims` (`ne[0]` first, the innermost;
    /// missing dimensions count as 1, at most 4 are allowed).
    ///
    /// * Classic types: `ne0 / block_elems * block_bytes * ne1 * ne2 * ne3`; `None` when
    ///   `ne0` is not a multiple of the block.
    /// * I2_S and TL1: `n / 4 + 32` with `n = ne0*ne1*ne2*ne3` (2 bits per weight, then a
    ///   32-byte tail whose first 4 bytes hold the f32 per-tensor scale), integer division as
    ///   in the fork's `ggml_nbytes`. The fork's x86 kernels further need `ne0 % 128 == 0`
    ///   (ARM: 64); that is a kernel constraint, not a size one, and is not checked here.
    /// * TL2: with `K = ne0` and `M = ne1`, the fork's C expression evaluated left to right
    ///   in integers: `b = (K-256)*M/3*5/8 + 256*M/2*4/8`, then `b` rounded up to a multiple
    ///   of 32, plus 32. `None` when `K < 256` (the C value would be negative) or when the
    ///   tensor is not 2-D (`ne2*ne3 != 1`: the fork's formula reads `ne[1]` only).
    /// * I8_S: 1 byte per element (it is never stored; the size is its type trait).
    ///
    /// A tensor with any zero dimension has 0 bytes, as in ggml. `None` on arithmetic
    /// overflow or more than 4 dimensions.
    pub fn nbytes(self, dims: &[u64]) -> Option<u64> {
        if dims.len() > 4 {
            return None;
        }
        let ne = |i: usize| dims.get(i).copied().unwrap_or(1);
        let (ne0, ne1, ne2, ne3) = (ne(0), ne(1), ne(2), ne(3));
        let n = ne0.checked_mul(ne1)?.checked_mul(ne2)?.checked_mul(ne3)?;
        if n == 0 {
            return Some(0);
        }
        match self {
            GgmlType::I2S | GgmlType::TL1 => Some(n / 4 + BITNET_TAIL_BYTES),
            GgmlType::TL2 => {
                if ne2.checked_mul(ne3)? != 1 {
                    return None;
                }
                tl2_nbytes(ne0, ne1)
            }
            _ => {
                let (be, bb) = self.traits();
                if ne0 % be != 0 {
                    return None;
                }
                (ne0 / be)
                    .checked_mul(bb)?
                    .checked_mul(ne1)?
                    .checked_mul(ne2)?
                    .checked_mul(ne3)
            }
        }
    }
}

/// The fork's TL2 size for a `K x M` weight (see [`GgmlType::nbytes`]).
fn tl2_nbytes(k: u64, m: u64) -> Option<u64> {
    let rest = k.checked_sub(256)?;
    let three = (rest.checked_mul(m)? / 3).checked_mul(5)? / 8;
    let tail = (256u64.checked_mul(m)? / 2).checked_mul(4)? / 8;
    let raw = three.checked_add(tail)?;
    let padded = raw.checked_add(31)? / 32 * 32;
    padded.checked_add(BITNET_TAIL_BYTES)
}

impl From<GgmlType> for String {
    fn from(t: GgmlType) -> String {
        t.name().to_string()
    }
}

impl TryFrom<String> for GgmlType {
    type Error = String;

    fn try_from(s: String) -> Result<GgmlType, String> {
        GgmlType::from_name(&s).ok_or_else(|| format!("unknown ggml type {s:?}"))
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_the_right_reading() {
        for t in ALL_TYPES {
            let back = if t.is_bitnet() {
                GgmlType::from_bitnet_id(t.id())
            } else {
                GgmlType::from_id(t.id())
            };
            assert_eq!(back, Some(t), "{t}");
            assert_eq!(GgmlType::from_name(t.name()), Some(t));
            let json = serde_json::to_string(&t).expect("serialize");
            assert_eq!(json, format!("\"{}\"", t.name()));
            assert_eq!(serde_json::from_str::<GgmlType>(&json).ok(), Some(t));
        }
        for removed in [4, 5, 31, 32, 33, 36, 37, 38, 43, 1000] {
            assert_eq!(GgmlType::from_id(removed), None, "{removed}");
        }
        assert_eq!(GgmlType::from_bitnet_id(42), Some(GgmlType::TL2));
        assert_eq!(GgmlType::from_id(42), Some(GgmlType::Q2_0));
    }

    #[test]
    fn classic_sizes_follow_the_block_table() {
        assert_eq!(
            GgmlType::Q4K.nbytes(&[4096, 4096]),
            Some(4096 / 256 * 144 * 4096)
        );
        assert_eq!(GgmlType::Q8_0.nbytes(&[32, 3, 2]), Some(34 * 6));
        assert_eq!(GgmlType::F16.nbytes(&[7]), Some(14));
        assert_eq!(GgmlType::Q4_0.nbytes(&[33]), None);
        assert_eq!(GgmlType::F32.nbytes(&[u64::MAX, 2]), None);
        assert_eq!(GgmlType::F32.nbytes(&[1, 1, 1, 1, 1]), None);
        assert_eq!(GgmlType::Q6K.nbytes(&[0, 5]), Some(0));
    }

    #[test]
    fn bitnet_sizes_match_the_fork_formulas() {
        // 2B-4T q projection: 2560 x 2560.
        assert_eq!(GgmlType::I2S.nbytes(&[2560, 2560]), Some(1_638_400 + 32));
        assert_eq!(GgmlType::TL1.nbytes(&[2560, 640]), Some(409_600 + 32));
        // TL2 at K = 2560, M = 2560: (2304*2560/3)*5/8 + 256*2560/2*4/8.
        let three = 2304u64 * 2560 / 3 * 5 / 8;
        let tail = 256u64 * 2560 / 2 * 4 / 8;
        let raw = three + tail;
        assert_eq!(
            GgmlType::TL2.nbytes(&[2560, 2560]),
            Some(raw.div_ceil(32) * 32 + 32)
        );
        assert_eq!(GgmlType::TL2.nbytes(&[255, 4]), None);
        assert_eq!(GgmlType::TL2.nbytes(&[256, 4, 2]), None);
        assert_eq!(GgmlType::TL2.nbytes(&[256, 1]), Some(64 + 32));
    }
}

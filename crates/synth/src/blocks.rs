//! ggml block layouts, written from seeded random bytes with the block's scale fields set
//! to a fixed small value: engines load and run them like any file of that type (memory
//! does not depend on the values), and every weight stays finite and small. Used for the
//! types candle has no quantizer for, and for every classic type with `--fast-blocks`
//! (a 7B model in a few minutes instead of half an hour).
//!
//! Layouts (ggml-common.h): IQ4_NL is `{ f16 d; u8 qs[16]; }` (32 weights, 18 bytes),
//! IQ4_XS is `{ f16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128]; }` (256 weights, 136
//! bytes), MXFP4 is `{ u8 e; u8 qs[16]; }` (32 weights, 17 bytes, E8M0 scale).

use crate::rng::Rng;
use predictor::ggml_type::GgmlType;

/// Where a block's scales sit: (offset, bytes) of each f16 scale, and of the E8M0 byte.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Layout {
    /// Bytes per block.
    pub bytes: usize,
    /// Offsets of f16 scale fields (`d`, and `dmin`/`m` where the type has one).
    pub f16_scales: &'static [usize],
    /// Offset of an E8M0 exponent byte, if the type has one.
    pub e8m0: Option<usize>,
    /// The largest |weight| a block holds per unit of `d` (the quant range times the
    /// largest sub-block scale), so `d = amplitude / reach` bounds the weights.
    pub reach: f32,
}

const fn l(bytes: usize, f16_scales: &'static [usize], reach: f32) -> Layout {
    Layout {
        bytes,
        f16_scales,
        e8m0: None,
        reach,
    }
}

/// The layout of a quantized type (ggml-common.h's `block_*` structs): the types candle
/// has no quantizer for, and every classic type for [`fill`]'s fast path.
pub fn layout(t: GgmlType) -> Option<Layout> {
    Some(match t {
        GgmlType::Q4_0 => l(18, &[0], 8.0),
        GgmlType::Q4_1 => l(20, &[0, 2], 15.0),
        GgmlType::Q5_0 => l(22, &[0], 16.0),
        GgmlType::Q5_1 => l(24, &[0, 2], 31.0),
        GgmlType::Q8_0 => l(34, &[0], 127.0),
        // Q2_K: scales[16], qs[64], d, dmin.
        GgmlType::Q2K => l(84, &[80, 82], 45.0),
        // Q3_K: hmask[32], qs[64], scales[12], d.
        GgmlType::Q3K => l(110, &[108], 128.0),
        // Q4_K, Q5_K: d, dmin, scales[12], (qh[32],) qs[128].
        GgmlType::Q4K => l(144, &[0, 2], 945.0),
        GgmlType::Q5K => l(176, &[0, 2], 1953.0),
        // Q6_K: ql[128], qh[64], scales[16] (int8), d.
        GgmlType::Q6K => l(210, &[208], 4096.0),
        GgmlType::IQ4NL => l(18, &[0], 127.0),
        // IQ4_XS: d, scales_h, scales_l[4], qs[128] (6-bit signed sub-block scales).
        GgmlType::IQ4XS => l(136, &[0], 4064.0),
        GgmlType::MXFP4 => Layout {
            bytes: 17,
            f16_scales: &[],
            e8m0: Some(0),
            reach: 6.0,
        },
        _ => return None,
    })
}

/// Whether the writer always uses random blocks for this type (candle cannot quantize it).
pub fn needs_blocks(t: GgmlType) -> bool {
    matches!(t, GgmlType::IQ4NL | GgmlType::IQ4XS | GgmlType::MXFP4)
}

/// Writes `out.len() / layout.bytes` blocks: random bytes from `rng`, scales set so that a
/// weight is at most about `amplitude` in magnitude.
pub fn fill(l: Layout, rng: &mut Rng, amplitude: f32, out: &mut [u8]) {
    let d = half::f16::from_f32(amplitude / l.reach).to_le_bytes();
    // 2^(e - 127) x 6 <= amplitude.
    let e = (127.0 + (amplitude / l.reach).log2().floor()).clamp(1.0, 254.0) as u8;
    for block in out.chunks_exact_mut(l.bytes) {
        for chunk in block.chunks_mut(8) {
            let r = rng.next_u64().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
        for &o in l.f16_scales {
            block[o..o + 2].copy_from_slice(&d);
        }
        if let Some(o) = l.e8m0 {
            block[o] = e;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_the_type_sizes_and_scales_are_set() {
        use GgmlType::*;
        for t in [
            Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2K, Q3K, Q4K, Q5K, Q6K, IQ4NL, IQ4XS, MXFP4,
        ] {
            let l = layout(t).unwrap();
            assert_eq!(l.bytes as u64, t.block_bytes(), "{t}");
            let mut buf = vec![0u8; l.bytes * 3];
            fill(l, &mut Rng::new(1, 2, 3), 0.05, &mut buf);
            for b in buf.chunks(l.bytes) {
                for &o in l.f16_scales {
                    let d = half::f16::from_le_bytes([b[o], b[o + 1]]).to_f32();
                    assert!((d * l.reach - 0.05).abs() < 1e-3, "{t}: {d}");
                }
                if let Some(o) = l.e8m0 {
                    assert!(6.0 * 2f32.powi(b[o] as i32 - 127) <= 0.05, "{t}");
                }
            }
        }
        assert!(layout(F16).is_none() && layout(I2S).is_none());
    }
}

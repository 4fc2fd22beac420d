//! ggml block layouts for the quantized types candle has no quantizer for, written from
//! seeded random bytes with the block's scale fields set to a fixed small value: engines
//! load and run them like any file of that type (memory does not depend on the values),
//! and every weight stays finite and small.
//!
//! Layouts (ggml-common.h): IQ4_NL is `{ f16 d; u8 qs[16]; }` (32 weights, 18 bytes),
//! IQ4_XS is `{ f16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128]; }` (256 weights, 136
//! bytes), MXFP4 is `{ u8 e; u8 qs[16]; }` (32 weights, 17 bytes, E8M0 scale).

use crate::rng::Rng;
use predictor::ggml_type::GgmlType;

/// Where a block's scales sit: (offset, bytes) of each f16 scale, and of the E8M0 byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Bytes per block.
    pub bytes: usize,
    /// Offsets of f16 scale fields.
    pub f16_scales: &'static [usize],
    /// Offset of an E8M0 exponent byte, if the type has one.
    pub e8m0: Option<usize>,
}

/// The layout of a type this module writes (`None` for the others).
pub fn layout(t: GgmlType) -> Option<Layout> {
    Some(match t {
        GgmlType::IQ4NL => Layout {
            bytes: 18,
            f16_scales: &[0],
            e8m0: None,
        },
        GgmlType::IQ4XS => Layout {
            bytes: 136,
            f16_scales: &[0],
            e8m0: None,
        },
        GgmlType::MXFP4 => Layout {
            bytes: 17,
            f16_scales: &[],
            e8m0: Some(0),
        },
        _ => return None,
    })
}

/// Writes `out.len() / layout.bytes` blocks: random bytes from `rng`, scales set so that a
/// weight is at most about `amplitude` in magnitude.
pub fn fill(l: Layout, rng: &mut Rng, amplitude: f32, out: &mut [u8]) {
    // IQ4 codebooks reach 127, E2M1 values 6: the scale brings the largest to amplitude.
    let d = half::f16::from_f32(amplitude / 127.0).to_le_bytes();
    // 2^(e - 127) x 6 <= amplitude.
    let e = (127.0 + (amplitude / 6.0).log2().floor()).clamp(1.0, 254.0) as u8;
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
        for t in [GgmlType::IQ4NL, GgmlType::IQ4XS, GgmlType::MXFP4] {
            let l = layout(t).unwrap();
            assert_eq!(l.bytes as u64, t.block_bytes(), "{t}");
            let mut buf = vec![0u8; l.bytes * 3];
            fill(l, &mut Rng::new(1, 2, 3), 0.05, &mut buf);
            for b in buf.chunks(l.bytes) {
                for &o in l.f16_scales {
                    let d = half::f16::from_le_bytes([b[o], b[o + 1]]).to_f32();
                    assert!((d * 127.0 - 0.05).abs() < 1e-3, "{t}: {d}");
                }
                if let Some(o) = l.e8m0 {
                    assert!(6.0 * 2f32.powi(b[o] as i32 - 127) <= 0.05, "{t}");
                }
            }
        }
        assert!(layout(GgmlType::Q4_0).is_none());
    }
}

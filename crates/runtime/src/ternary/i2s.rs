//! I2_S, x86 layout (microsoft/BitNet): 2 bits per weight in blocks of 128 weights.
//!
//! The matrix (`M` rows of `K` weights, `K % 128 == 0`) is flattened row-major. Each block
//! of 128 weights takes 32 bytes; byte `j` of a block holds weights `j`, `32 + j`, `64 + j`
//! and `96 + j`, two bits each, high bits first. Codes: 0 -> -1, 1 -> 0, 2 -> +1. After the
//! `M * K / 4` data bytes comes a 32-byte tail whose first 4 bytes are the per-tensor f32
//! scale (little-endian); the other 28 bytes are unused. Total: `M * K / 4 + 32` bytes.

use super::TernaryRows;

/// Weights per block.
pub const BLOCK: usize = 128;
/// Bytes of the tail after the packed codes.
pub const TAIL: usize = 32;

/// Stored size of an `m x k` I2_S tensor.
pub fn nbytes(m: usize, k: usize) -> usize {
    m * k / 4 + TAIL
}

/// Packs ternary codes (`m x k`, values in -1..=1) and a scale into I2_S bytes.
/// `k` must be a multiple of 128.
pub fn pack(codes: &[i8], k: usize, scale: f32) -> Vec<u8> {
    let n = codes.len();
    debug_assert!(k.is_multiple_of(BLOCK) && n.is_multiple_of(k));
    let mut out = vec![0u8; n / 4 + TAIL];
    for (blk, chunk) in codes.chunks_exact(BLOCK).enumerate() {
        let dst = &mut out[blk * 32..blk * 32 + 32];
        for (j, d) in dst.iter_mut().enumerate() {
            let c = |i: usize| ((chunk[i].clamp(-1, 1) + 1) as u8) & 3;
            *d = (c(j) << 6) | (c(32 + j) << 4) | (c(64 + j) << 2) | c(96 + j);
        }
    }
    out[n / 4..n / 4 + 4].copy_from_slice(&scale.to_le_bytes());
    out
}

/// An I2_S matrix held exactly as stored (data plus tail).
#[derive(Debug, Clone)]
pub struct I2sMatrix {
    data: Vec<u8>,
    rows: usize,
    cols: usize,
    scale: f32,
}

impl I2sMatrix {
    /// Wraps stored I2_S bytes for an `rows x cols` matrix. `scale_override` replaces the
    /// tail scale (files that carry the scale as a separate `<name>_scale` tensor).
    /// Returns a message naming what is wrong when the sizes do not fit.
    pub fn new(
        data: Vec<u8>,
        rows: usize,
        cols: usize,
        scale_override: Option<f32>,
    ) -> Result<I2sMatrix, String> {
        if !cols.is_multiple_of(BLOCK) {
            return Err(format!("I2_S needs K % 128 == 0, got K = {cols}"));
        }
        let want = nbytes(rows, cols);
        if data.len() < want - TAIL + 4 {
            return Err(format!(
                "I2_S {rows}x{cols} needs {want} bytes, the tensor has {}",
                data.len()
            ));
        }
        let scale = super::tensor_scale("I2_S", &data, rows * cols / 4, scale_override)?;
        Ok(I2sMatrix {
            data,
            rows,
            cols,
            scale,
        })
    }

    /// Bytes held (the stored tensor bytes).
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// The packed codes only (`rows x cols / 4` bytes, without the tail).
    pub fn codes(&self) -> &[u8] {
        &self.data[..self.rows * self.cols / 4]
    }
}

#[inline(always)]
fn unpack_generic(src: &[u8], out: &mut [i8]) {
    for (blk, o) in src.chunks_exact(32).zip(out.chunks_exact_mut(BLOCK)) {
        let (o0, rest) = o.split_at_mut(32);
        let (o1, rest) = rest.split_at_mut(32);
        let (o2, o3) = rest.split_at_mut(32);
        for j in 0..32 {
            let b = blk[j];
            o0[j] = ((b >> 6) & 3) as i8 - 1;
            o1[j] = ((b >> 4) & 3) as i8 - 1;
            o2[j] = ((b >> 2) & 3) as i8 - 1;
            o3[j] = (b & 3) as i8 - 1;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn unpack_avx2(src: &[u8], out: &mut [i8]) {
    unpack_generic(src, out)
}

impl TernaryRows for I2sMatrix {
    fn rows(&self) -> usize {
        self.rows
    }
    fn cols(&self) -> usize {
        self.cols
    }
    fn scale(&self) -> f32 {
        self.scale
    }
    fn unpack_row(&self, r: usize, out: &mut [i8]) {
        let rb = self.cols / 4;
        let src = &self.data[r * rb..(r + 1) * rb];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2 (checked above).
                unsafe { unpack_avx2(src, out) };
                return;
            }
        }
        unpack_generic(src, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_layout_matches_the_x86_block_order() {
        // weight 0 -> +1 (code 2), weight 32 -> -1 (code 0), 64 -> 0 (1), 96 -> +1 (2)
        let mut codes = vec![0i8; 128];
        codes[0] = 1;
        codes[32] = -1;
        codes[96] = 1;
        let b = pack(&codes, 128, 0.5);
        assert_eq!(b.len(), 64);
        assert_eq!(b[0], 0b10_00_01_10);
        assert_eq!(b[1], 0b01_01_01_01);
        assert_eq!(f32::from_le_bytes([b[32], b[33], b[34], b[35]]), 0.5);
    }

    #[test]
    fn unpack_inverts_pack() {
        let (m, k) = (3, 256);
        let codes: Vec<i8> = (0..m * k)
            .map(|i| ((i * 5 + i / 7) % 3) as i8 - 1)
            .collect();
        let w = I2sMatrix::new(pack(&codes, k, 2.0), m, k, None).unwrap();
        let mut row = vec![0i8; k];
        for r in 0..m {
            w.unpack_row(r, &mut row);
            assert_eq!(&row[..], &codes[r * k..(r + 1) * k]);
        }
        assert_eq!(w.scale, 2.0);
        assert_eq!(w.bytes(), nbytes(m, k));
    }
}

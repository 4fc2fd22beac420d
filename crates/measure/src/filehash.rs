//! A fast identity hash of a model file.
//!
//! `fnv1a64s:<16 hex>`: FNV-1a (64-bit) over the file size (8 bytes, little-endian), the
//! first 1 MiB (the GGUF header with its metadata and tensor table), 16 samples of 64 KiB
//! at evenly spaced offsets, and the last 1 MiB. It reads at most about 3 MiB whatever the
//! file size, so it costs milliseconds; it is not cryptographic and not a full-content
//! hash (two files differing only between samples collide), which is fine for telling
//! measured models apart and keying resumed sweeps.

use super::error::MeasureError;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

const HEAD: u64 = 1 << 20;
const TAIL: u64 = 1 << 20;
const SAMPLES: u64 = 16;
const SAMPLE: u64 = 64 << 10;

/// FNV-1a, 64-bit, incremental.
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a64(u64);

impl Default for Fnv1a64 {
    fn default() -> Self {
        Fnv1a64(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a64 {
    /// Adds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// The hash so far.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// The sampled hash of `path` (see the module docs) and its size.
pub fn hash_file(path: &Path) -> Result<(String, u64), MeasureError> {
    let file = File::open(path).map_err(|e| MeasureError::io(path, e))?;
    let size = file
        .metadata()
        .map_err(|e| MeasureError::io(path, e))?
        .len();
    let mut h = Fnv1a64::default();
    h.update(&size.to_le_bytes());
    let mut ranges = vec![(0, HEAD.min(size))];
    for i in 0..SAMPLES {
        let off = size / (SAMPLES + 1) * (i + 1);
        ranges.push((off, SAMPLE.min(size - off)));
    }
    let tail = TAIL.min(size);
    ranges.push((size - tail, tail));
    let mut buf = Vec::new();
    for (off, len) in ranges {
        buf.resize(len as usize, 0);
        file.read_exact_at(&mut buf, off)
            .map_err(|e| MeasureError::io(path, e))?;
        h.update(&buf);
    }
    Ok((format!("fnv1a64s:{:016x}", h.finish()), size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn fnv_matches_the_reference_vectors() {
        let mut h = Fnv1a64::default();
        h.update(b"");
        assert_eq!(h.finish(), 0xcbf29ce484222325);
        let mut h = Fnv1a64::default();
        h.update(b"a");
        assert_eq!(h.finish(), 0xaf63dc4c8601ec8c);
    }

    #[test]
    fn hashes_differ_with_content_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::File::create(&a)
            .unwrap()
            .write_all(&[1u8; 5000])
            .unwrap();
        std::fs::File::create(&b)
            .unwrap()
            .write_all(&[1u8; 5001])
            .unwrap();
        let (ha, sa) = hash_file(&a).unwrap();
        let (hb, _) = hash_file(&b).unwrap();
        assert_eq!(sa, 5000);
        assert_ne!(ha, hb);
        assert_eq!(hash_file(&a).unwrap().0, ha);
        assert!(hash_file(&dir.path().join("missing")).is_err());
    }
}

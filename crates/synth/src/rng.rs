//! A small deterministic generator (SplitMix64) for synthetic weights: the same seed gives
//! the same file on every machine and thread count.

use predictor::rng::{SplitMix64, GOLDEN};

/// The workspace's SplitMix64 with the distributions synthetic weights need.
#[derive(Debug, Clone)]
pub struct Rng(SplitMix64);

impl Rng {
    /// A generator for stream `(seed, a, b)` (e.g. tensor index and row).
    pub fn new(seed: u64, a: u64, b: u64) -> Rng {
        let mut r = SplitMix64::from_state(seed ^ a.wrapping_mul(GOLDEN));
        let x = r.next_u64() ^ b.wrapping_mul(0xD1B5_4A32_D192_ED03);
        Rng(SplitMix64::from_state(x))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Two independent standard normal values (Box-Muller).
    pub fn normal2(&mut self) -> (f32, f32) {
        let u1 = ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let u2 = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
        ((r * c) as f32, (r * s) as f32)
    }

    /// Fills `out` with N(0, std^2) values.
    pub fn fill_normal(&mut self, out: &mut [f32], std: f32) {
        for pair in out.chunks_mut(2) {
            let (a, b) = self.normal2();
            pair[0] = a * std;
            if let Some(x) = pair.get_mut(1) {
                *x = b * std;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_deterministic_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Rng::new(7, 1, 2).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(Rng::new(7, 1, 2).next_u64(), Rng::new(7, 1, 3).next_u64());
        let mut r = Rng::new(1, 0, 0);
        let mut v = vec![0f32; 20_000];
        r.fill_normal(&mut v, 2.0);
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / v.len() as f32;
        assert!(
            mean.abs() < 0.1 && (var - 4.0).abs() < 0.2,
            "mean {mean} var {var}"
        );
    }
}

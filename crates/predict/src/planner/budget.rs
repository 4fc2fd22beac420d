//! The budget a plan is made against, whether an estimate fits it, and the search for the
//! largest value that fits, shared by every kind of plan.

use crate::components::Estimate;
use crate::config::{RunConfig, MAX_CTX};
use crate::error::Result;
use crate::profile::ModelProfile;
use serde::Serialize;

/// Memory available to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Budget {
    /// Host RAM in bytes.
    pub host_bytes: u64,
    /// GPU memory in bytes (ignored on CPU).
    pub gpu_bytes: Option<u64>,
}

/// Whether an estimate fits a budget, headroom included: its host total within the host
/// budget, and its GPU total within the GPU budget (none on a GPU that has no budget).
pub fn fits(e: &Estimate, b: &Budget) -> bool {
    let gpu_ok = match (e.gpu, b.gpu_bytes) {
        (Some(g), Some(budget)) => g.total() <= budget,
        (Some(g), None) => g.total() == 0,
        (None, _) => true,
    };
    gpu_ok && e.host.total() <= b.host_bytes
}

/// Largest value in `lo..=hi` for which `ok` holds, assuming `ok` is monotone (true then
/// false). None when `ok(lo)` is false.
pub fn largest<F: FnMut(u32) -> Result<bool>>(lo: u32, hi: u32, mut ok: F) -> Result<Option<u32>> {
    if hi < lo || !ok(lo)? {
        return Ok(None);
    }
    let (mut good, mut bad) = (lo, hi as u64 + 1);
    while bad - good as u64 > 1 {
        let mid = ((good as u64 + bad) / 2) as u32;
        if ok(mid)? {
            good = mid;
        } else {
            bad = mid as u64;
        }
    }
    Ok(Some(good))
}

/// The upper bound a plan searches the context up to: the trained context (or the
/// requested one when larger), or the largest any configuration may ask for when the
/// model does not say.
pub fn ctx_limit(profile: &ModelProfile, config: &RunConfig) -> u32 {
    if profile.shape.ctx_train > 0 {
        (profile.shape.ctx_train.min(MAX_CTX as u64) as u32).max(config.ctx)
    } else {
        MAX_CTX
    }
}

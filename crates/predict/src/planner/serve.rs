//! Planning a server: the slots and contexts that fit come from the estimate itself (a
//! server's slots are the configuration's batch); what is left is how large llama-server's
//! prompt cache may grow (`--cache-ram`) beside the requested slots and context.

use super::{fits, largest, Budget};
use crate::components::Estimate;
use crate::config::RunConfig;
use crate::error::Result;
use serde::Serialize;

/// The prompt cache that fits a served configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ServePlan {
    /// `--cache-ram` of the request, MiB (-1: no limit).
    pub requested_cache_ram_mib: i64,
    /// The largest `--cache-ram`, MiB, with which a long-running server at the requested
    /// slots and context stays within the budget (None: not even with the cache off).
    pub max_cache_ram_mib: Option<u32>,
}

/// The largest `--cache-ram` that fits `config` (a long-running server: the cache full).
pub fn plan_cache(
    config: &RunConfig,
    budget: &Budget,
    est: &dyn Fn(&RunConfig) -> Result<Estimate>,
) -> Result<ServePlan> {
    let serve = config.serve.clone().unwrap_or_default();
    let at = |mib: u32| -> Result<bool> {
        let mut c = config.clone();
        if let Some(s) = c.serve.as_mut() {
            s.cache_ram_mib = i64::from(mib);
            s.requests_per_slot = None;
        }
        Ok(fits(&est(&c)?, budget))
    };
    // Up to the host budget: no cache larger than all of it can fit.
    let cap = (budget.host_bytes >> 20).min(u64::from(u32::MAX)) as u32;
    Ok(ServePlan {
        requested_cache_ram_mib: serve.cache_ram_mib,
        max_cache_ram_mib: largest(0, cap, at)?,
    })
}

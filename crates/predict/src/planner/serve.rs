//! Planning a server: the slots and contexts that fit come from the estimate itself (a
//! server's slots are the configuration's batch); what is left is how large llama-server's
//! prompt cache may grow (`--cache-ram`) beside the requested slots and context.

use super::budget::largest;
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

/// The largest `--cache-ram` with which `config` fits (a long-running server: the cache
/// full), searched up to `host_budget` (the server's machine: no cache larger than all of
/// it can fit); `fits` says whether a configuration fits every machine of the plan.
pub fn plan_cache(
    config: &RunConfig,
    host_budget: u64,
    fits: &dyn Fn(&RunConfig) -> Result<bool>,
) -> Result<ServePlan> {
    let serve = config.serve.clone().unwrap_or_default();
    let at = |mib: u32| -> Result<bool> {
        let mut c = config.clone();
        if let Some(s) = c.serve.as_mut() {
            s.cache_ram_mib = i64::from(mib);
            s.requests_per_slot = None;
        }
        fits(&c)
    };
    let cap = (host_budget >> 20).min(u64::from(u32::MAX)) as u32;
    Ok(ServePlan {
        requested_cache_ram_mib: serve.cache_ram_mib,
        max_cache_ram_mib: largest(0, cap, at)?,
    })
}

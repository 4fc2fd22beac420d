//! Planning a model split over several machines with llama.cpp's RPC backend: given each
//! machine's budget (the client first, then the RPC workers in `--rpc` order), which blocks
//! each worker takes, how many stay on the client, and the flags that make llama.cpp
//! place them so (`-ngl`, `--tensor-split` as block counts); then the largest context and
//! batch for which such a placement exists.
//!
//! llama.cpp gives each worker a contiguous run of the offloaded layers, in order, the
//! output layer last, and keeps the first blocks on the client. The planner fills the
//! workers from the last one backwards, each with as many layers as its budget holds (a
//! worker's memory grows with every layer it takes), so the fewest blocks are left for the
//! client, which must then hold them with the token embedding and its own buffers. Every
//! figure is the calibrated estimate with its headroom, per process role.

use super::budget::largest;
use crate::backend::Backend;
use crate::calibrate::{self, TableSet};
use crate::components::Estimate;
use crate::config::split::Host;
use crate::config::{RunConfig, SplitOptions, MAX_BATCH};
use crate::error::{Error, Result};
use crate::profile::ModelProfile;
use serde::Serialize;

/// One machine of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MachinePlan {
    /// Its name.
    pub name: String,
    /// What it is: `client` (the process that runs the model), `rpc-server` or `gpu`.
    pub role: String,
    /// Its budget, bytes.
    pub budget_bytes: u64,
    /// What it needs with the split found (headroom included), bytes.
    pub needs_bytes: u64,
    /// Blocks it holds.
    pub blocks: u32,
    /// Whether it holds the output layer.
    pub output_layer: bool,
    /// Whether it fits its budget.
    pub fits: bool,
}

/// The planner's answer for a split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostPlan {
    /// Whether the requested configuration fits on every machine with the split found.
    pub requested_fits: bool,
    /// `-ngl`: the layers offloaded to the workers (blocks, and the output layer as one).
    pub gpu_layers: u32,
    /// `--tensor-split`: the layers each worker takes, in `--hosts` order.
    pub tensor_split: Vec<u32>,
    /// Each machine, client first.
    pub machines: Vec<MachinePlan>,
    /// The estimate of the requested configuration with that split.
    pub requested: Estimate,
    /// The largest context at the requested batch for which a split fits every machine.
    pub max_ctx: Option<u32>,
    /// The largest batch at the requested context for which a split fits.
    pub max_batch: Option<u32>,
    /// The upper bound searched for the context.
    pub ctx_limit: u32,
    /// The llama.cpp flags that give this placement (with the workers' `--rpc` list).
    pub flags: String,
    /// `--n-cpu-moe`: the first blocks whose routed experts stay in host memory so that
    /// every layer fits on the GPUs (local GPUs, mixture-of-experts models).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n_cpu_moe: Option<u32>,
    /// With a served client (`llama-server --rpc`): the prompt cache's limit with which a
    /// split still fits every machine (the cache lives on the client's machine).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serve: Option<crate::planner::serve::ServePlan>,
}

/// A placement: the layers each worker takes (fewest on the client).
pub(super) struct Assignment {
    /// Layers per device, in split order.
    pub(super) counts: Vec<u32>,
    /// The estimate with them.
    pub(super) estimate: Estimate,
    /// Whether every machine fits its budget.
    pub(super) fits: bool,
}

/// `config` with the layer counts `counts` on the split's devices (RPC workers named
/// `names`, unless `config` is already split over GPUs).
fn with_split(config: &RunConfig, names: &[String], counts: &[u32]) -> Result<RunConfig> {
    let offloaded: u32 = counts.iter().sum();
    let shares: Vec<f64> = if offloaded == 0 {
        vec![1.0; counts.len()]
    } else {
        counts.iter().map(|&c| f64::from(c)).collect()
    };
    let split = match &config.split {
        Some(s) if s.on_gpus() => s.with_shares(&shares)?,
        _ => SplitOptions::rpc(names, &shares)?,
    };
    Ok(RunConfig {
        gpu_layers: Some(offloaded),
        split: Some(split),
        ..config.clone()
    })
}

/// Fills the workers from the last one backwards and checks every machine; at most
/// `config.gpu_layers` layers are offloaded where it is set.
pub(super) fn assign(
    backend: Backend,
    profile: &ModelProfile,
    config: &RunConfig,
    hosts: &[Host],
    tables: &TableSet,
) -> Result<Assignment> {
    let names: Vec<String> = hosts[1..].iter().map(|h| h.name.clone()).collect();
    let budget = |h: &Host| h.budget.unwrap_or(u64::MAX);
    let est = |c: &RunConfig| calibrate::calibrated_for(backend, profile, c, tables);
    let all = profile.shape.n_layers + 1;
    let layers = config.gpu_layers.map_or(all, |g| g.min(all));
    // A worker's share is sized while the workers before it hold nothing, but its memory
    // also depends on what they take (once every layer is offloaded the scheduler keeps
    // pipeline copies of its inputs): a worker found over its budget in the whole split
    // is capped one layer lower and the workers before it are filled again.
    let mut caps = vec![layers; names.len()];
    loop {
        let mut counts = vec![0u32; names.len()];
        let mut remaining = layers;
        for i in (0..names.len()).rev() {
            let limit = budget(&hosts[i + 1]);
            let fits_with = |m: u32| -> Result<bool> {
                let mut trial = counts.clone();
                trial[i] = m;
                let e = est(&with_split(config, &names, &trial)?)?;
                Ok(e.device(&names[i])
                    .is_some_and(|d| d.memory.total() <= limit))
            };
            let m = largest(0, remaining.min(caps[i]), fits_with)?.unwrap_or(0);
            counts[i] = m;
            remaining -= m;
        }
        let estimate = est(&with_split(config, &names, &counts)?)?;
        let over = (0..names.len()).rev().find(|&i| {
            counts[i] > 0
                && estimate
                    .device(&names[i])
                    .is_some_and(|d| d.memory.total() > budget(&hosts[i + 1]))
        });
        if let Some(i) = over {
            caps[i] = counts[i] - 1;
            continue;
        }
        let fits = estimate.host.total() <= budget(&hosts[0])
            && hosts[1..].iter().all(|h| {
                estimate
                    .device(&h.name)
                    .is_some_and(|d| d.memory.total() <= budget(h))
            });
        return Ok(Assignment {
            counts,
            estimate,
            fits,
        });
    }
}

/// What each machine of a split holds and needs, the client first.
fn machine_plans(profile: &ModelProfile, hosts: &[Host], a: &Assignment) -> Vec<MachinePlan> {
    let e = &a.estimate;
    // What the estimate placed elsewhere, not a formula of `-ngl`: whether `-ngl` takes the
    // output layer first or last is the build's rule.
    let elsewhere: u32 = e.devices.iter().map(|d| d.n_layers).sum();
    let mut machines = vec![MachinePlan {
        name: hosts[0].name.clone(),
        role: "client".into(),
        budget_bytes: hosts[0].budget.unwrap_or(0),
        needs_bytes: e.host.total(),
        blocks: profile.shape.n_layers.saturating_sub(elsewhere),
        output_layer: !e.devices.iter().any(|d| d.output_layer),
        fits: e.host.total() <= hosts[0].budget.unwrap_or(0),
    }];
    for h in &hosts[1..] {
        let d = e.device(&h.name);
        let needs = d.map_or(0, |d| d.memory.total());
        let gpu = d.is_some_and(|d| d.kind.is_gpu());
        machines.push(MachinePlan {
            name: h.name.clone(),
            role: if gpu { "gpu" } else { "rpc-server" }.into(),
            budget_bytes: h.budget.unwrap_or(0),
            needs_bytes: needs,
            blocks: d.map_or(0, |d| d.n_layers),
            output_layer: d.is_some_and(|d| d.output_layer),
            fits: needs <= h.budget.unwrap_or(0),
        });
    }
    machines
}

/// The llama.cpp flags that give an assignment (with `--n-cpu-moe n_cpu_moe`).
pub(super) fn split_flags(a: &Assignment, n_cpu_moe: Option<u32>) -> String {
    let offloaded: u32 = a.counts.iter().sum();
    let split = a
        .counts
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(",");
    if a.estimate
        .config
        .split
        .as_ref()
        .is_some_and(SplitOptions::on_gpus)
    {
        let moe = n_cpu_moe.map_or(String::new(), |n| format!(" --n-cpu-moe {n}"));
        if a.counts.len() == 1 {
            format!("-ngl {offloaded}{moe}")
        } else {
            format!("-ngl {offloaded} --tensor-split {split}{moe}")
        }
    } else {
        format!(
            "--rpc <worker host:port, in --hosts order> -ngl {offloaded} --tensor-split {split}"
        )
    }
}

/// Plans `config` split over `hosts` (the client first, each with a budget): RPC workers,
/// or, when `config` is split over local GPUs (`cuda:0`, ... as `hosts[1..]`), the GPUs.
pub fn plan_hosts(
    backend: Backend,
    profile: &ModelProfile,
    config: &RunConfig,
    hosts: &[Host],
    tables: &TableSet,
) -> Result<HostPlan> {
    config.validate()?;
    if hosts.len() < 2 {
        return Err(Error::InvalidConfig(
            "a split needs the client's machine and at least one RPC worker".into(),
        ));
    }
    if let Some(h) = hosts.iter().find(|h| h.budget.is_none()) {
        return Err(Error::InvalidConfig(format!(
            "--hosts: machine {:?} needs a budget to plan (NAME=SIZE)",
            h.name
        )));
    }
    let a = assign(backend, profile, config, hosts, tables)?;
    let ctx_limit = super::budget::ctx_limit(profile, config);
    let max_ctx = largest(1, ctx_limit, |ctx| {
        let prompt = config.prompt.map(|p| p.min(ctx));
        let c = RunConfig {
            ctx,
            prompt,
            ..config.clone()
        };
        Ok(assign(backend, profile, &c, hosts, tables)?.fits)
    })?;
    let max_batch = largest(1, MAX_BATCH, |batch| {
        let c = RunConfig {
            batch,
            ..config.clone()
        };
        Ok(assign(backend, profile, &c, hosts, tables)?.fits)
    })?;
    let serve = match &config.serve {
        Some(_) => Some(crate::planner::serve::plan_cache(
            config,
            hosts[0].budget.unwrap_or(0),
            &|c| Ok(assign(backend, profile, c, hosts, tables)?.fits),
        )?),
        None => None,
    };
    let offloaded: u32 = a.counts.iter().sum();
    let machines = machine_plans(profile, hosts, &a);
    let flags = split_flags(&a, None);
    Ok(HostPlan {
        requested_fits: a.fits,
        gpu_layers: offloaded,
        tensor_split: a.counts.clone(),
        machines,
        requested: a.estimate,
        max_ctx,
        max_batch,
        ctx_limit,
        flags,
        n_cpu_moe: None,
        serve,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::split::parse_hosts;
    use crate::presets;

    fn cfg(ctx: u32) -> RunConfig {
        RunConfig {
            ctx,
            prompt: Some(64),
            decode: 4,
            ..RunConfig::default()
        }
    }

    #[test]
    fn the_workers_take_what_their_budgets_hold_and_the_client_the_rest() {
        let p = presets::profile("llama-3.2-1b:Q4_0").unwrap();
        let t = TableSet::empty();
        let hosts = parse_hosts("client=2G,a=600M,b=600M").unwrap();
        let plan = plan_hosts(Backend::LlamaCpp, &p, &cfg(4096), &hosts, &t).unwrap();
        assert_eq!(plan.machines.len(), 3);
        let blocks: u32 = plan.machines.iter().map(|m| m.blocks).sum();
        assert_eq!(blocks, p.shape.n_layers, "{plan:?}");
        for m in &plan.machines[1..] {
            assert!(m.needs_bytes <= m.budget_bytes, "{m:?}");
        }
        // The output layer goes with the last worker's blocks.
        assert!(plan.machines[2].output_layer);
        // One block more on any worker does not fit (each took what it can hold), unless
        // there was none left to take.
        let total = p.shape.n_layers + 1;
        assert!(plan.gpu_layers <= total);
        assert_eq!(plan.requested_fits, plan.machines.iter().all(|m| m.fits));
        // A larger context never fits where a smaller one does not.
        if let Some(c) = plan.max_ctx {
            let bigger = plan_hosts(Backend::LlamaCpp, &p, &cfg(c + 1), &hosts, &t).unwrap();
            assert!(!bigger.requested_fits || c + 1 > plan.ctx_limit, "{c}");
        }
    }

    #[test]
    fn a_served_client_gets_the_largest_prompt_cache_the_split_holds() {
        let p = presets::profile("llama-3.2-1b:Q4_0").unwrap();
        let t = TableSet::empty();
        let hosts = parse_hosts("client=3G,a=1G").unwrap();
        let served = |cache_ram_mib: i64| RunConfig {
            serve: Some(crate::config::ServeOptions {
                cache_ram_mib,
                ..Default::default()
            }),
            ..cfg(4096)
        };
        let plan = plan_hosts(Backend::LlamaCpp, &p, &served(8192), &hosts, &t).unwrap();
        let sp = plan.serve.expect("a served plan sizes the prompt cache");
        assert_eq!(sp.requested_cache_ram_mib, 8192);
        let m = sp.max_cache_ram_mib.expect("the cache off fits 3G");
        assert!(m > 0 && m < 3072, "{m}");
        let at = |mib: u32| {
            plan_hosts(Backend::LlamaCpp, &p, &served(i64::from(mib)), &hosts, &t)
                .unwrap()
                .requested_fits
        };
        assert!(at(m), "{m}");
        assert!(!at(m + 1), "{m}");
        // A command-line client has no prompt cache to size.
        let cli = plan_hosts(Backend::LlamaCpp, &p, &cfg(4096), &hosts, &t).unwrap();
        assert!(cli.serve.is_none());
    }

    #[test]
    fn budgets_are_required() {
        let p = presets::profile("llama-3.2-1b:Q4_0").unwrap();
        let hosts = parse_hosts("client=2G,a").unwrap();
        let e = plan_hosts(
            Backend::LlamaCpp,
            &p,
            &cfg(4096),
            &hosts,
            &TableSet::empty(),
        );
        assert!(e.unwrap_err().to_string().contains("needs a budget"));
    }
}

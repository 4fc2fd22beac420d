//! Planning llama.cpp on this machine's GPUs, each with its budget (`plan --device cuda
//! --gpus 24G,24G`): `-ngl`, `--tensor-split` as layer counts and, for a mixture of experts
//! that does not fit whole, `--n-cpu-moe`, then the largest context and batch with them.
//!
//! The layers are placed as over RPC workers ([`super::hosts`]): each GPU, from the last,
//! takes as many layers as its budget holds. A mixture of experts whose layers do not all
//! fit keeps every layer on the GPUs and moves the routed experts of the first blocks to
//! host memory instead (`--n-cpu-moe N`, the fewest blocks that make everything fit), as
//! llama.cpp's own `--fit` does: the experts are most of the weights and the least of the
//! work per token, so the attention, the KV cache and the shared tensors stay on the GPU.

use super::hosts::{assign, plan_hosts, split_flags, HostPlan};
use crate::backend::Backend;
use crate::calibrate::TableSet;
use crate::config::overrides::TensorOverrides;
use crate::config::split::Host;
use crate::config::{RunConfig, SplitMode, SplitOptions};
use crate::error::{Error, Result};
use crate::profile::ModelProfile;

/// The machine's GPUs as a split: the host first, then `cuda:0..` (or `rocm:0..`), each
/// with its budget, and `config` split over them in proportion to the budgets.
fn gpu_hosts(config: &RunConfig, host: u64, gpus: &[u64]) -> Result<(RunConfig, Vec<Host>)> {
    if !config.device.is_gpu() {
        return Err(Error::InvalidConfig(
            "planning GPUs needs a GPU device: --device cuda (or rocm)".into(),
        ));
    }
    if gpus.is_empty() {
        return Err(Error::InvalidConfig(
            "--gpus: give at least one GPU budget".into(),
        ));
    }
    let shares: Vec<f64> = gpus.iter().map(|&b| b.max(1) as f64).collect();
    let mode = config.split.as_ref().map_or(SplitMode::Layer, |s| s.mode);
    let split = SplitOptions::gpus(config.device.with_ordinal(0), gpus.len(), &shares, mode)?;
    let mut hosts = vec![Host {
        name: "host".into(),
        budget: Some(host),
    }];
    hosts.extend(split.devices.iter().zip(gpus).map(|(d, &b)| Host {
        name: d.name.clone(),
        budget: Some(b),
    }));
    let config = RunConfig {
        split: Some(split),
        ..config.clone()
    };
    Ok((config, hosts))
}

/// Plans `config` on GPUs with budgets `gpus` (bytes, in device order) and `host` bytes of
/// host memory, with `backend`'s calibrated estimate (a llama.cpp-family engine).
pub fn plan_gpus(
    backend: Backend,
    profile: &ModelProfile,
    config: &RunConfig,
    host: u64,
    gpus: &[u64],
    tables: &TableSet,
) -> Result<HostPlan> {
    config.validate()?;
    let (config, hosts) = gpu_hosts(config, host, gpus)?;
    let n = profile.shape.n_layers;
    let wanted = config.gpu_layers.map_or(n + 1, |g| g.min(n + 1));
    let everything = |c: &RunConfig| -> Result<bool> {
        let a = assign(backend, profile, c, &hosts, tables)?;
        let gpus_fit = hosts[1..].iter().all(|h| {
            a.estimate
                .device(&h.name)
                .is_some_and(|d| d.memory.total() <= h.budget.unwrap_or(0))
        });
        Ok(a.counts.iter().sum::<u32>() == wanted && gpus_fit)
    };
    let experts = profile.shape.is_moe() && config.tensor_overrides.is_empty();
    let n_cpu_moe = if experts && !everything(&config)? {
        // The fewest blocks whose experts must leave (more never take GPU memory back).
        let with = |m: u32| RunConfig {
            tensor_overrides: TensorOverrides::n_cpu_moe(m),
            ..config.clone()
        };
        let (mut lo, mut hi) = (1, n);
        if everything(&with(hi))? {
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if everything(&with(mid))? {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            Some(lo)
        } else {
            None
        }
    } else {
        None
    };
    let chosen = RunConfig {
        tensor_overrides: n_cpu_moe
            .map_or(config.tensor_overrides.clone(), TensorOverrides::n_cpu_moe),
        ..config.clone()
    };
    let mut plan = plan_hosts(backend, profile, &chosen, &hosts, tables)?;
    let a = assign(backend, profile, &chosen, &hosts, tables)?;
    plan.flags = split_flags(&a, n_cpu_moe);
    plan.n_cpu_moe = n_cpu_moe;
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets;

    const GIB: u64 = 1 << 30;

    fn cfg(ctx: u32) -> RunConfig {
        RunConfig {
            device: crate::config::Device::Cuda(0),
            ctx,
            margin_pct: 0.0,
            ..RunConfig::default()
        }
    }

    #[test]
    fn a_dense_model_fills_the_gpus_and_leaves_the_first_blocks_on_the_host() {
        let p = presets::profile("llama-3.1-8b:Q4_K_M").unwrap();
        let t = TableSet::empty();
        let all = plan_gpus(Backend::LlamaCpp, &p, &cfg(8192), 32 * GIB, &[24 * GIB], &t).unwrap();
        assert_eq!(all.gpu_layers, p.shape.n_layers + 1, "{all:?}");
        assert_eq!(all.flags, format!("-ngl {}", p.shape.n_layers + 1));
        assert!(all.requested_fits && all.n_cpu_moe.is_none());
        let part = plan_gpus(Backend::LlamaCpp, &p, &cfg(8192), 32 * GIB, &[3 * GIB], &t).unwrap();
        assert!(
            part.gpu_layers > 0 && part.gpu_layers < p.shape.n_layers,
            "{part:?}"
        );
        let gpu = &part.machines[1];
        assert!(gpu.fits && gpu.needs_bytes <= 3 * GIB, "{gpu:?}");
        // One layer more would not fit.
        let more = RunConfig {
            gpu_layers: Some(part.gpu_layers + 1),
            split: None,
            ..cfg(8192)
        };
        let e = crate::calibrate::calibrated_for(Backend::LlamaCpp, &p, &more, &t).unwrap();
        assert!(e.gpu.unwrap().total() > 3 * GIB);
    }

    #[test]
    fn two_gpus_split_by_their_budgets() {
        let p = presets::profile("llama-3.1-70b:Q4_K_M").unwrap();
        let t = TableSet::empty();
        let plan = plan_gpus(
            Backend::LlamaCpp,
            &p,
            &cfg(4096),
            64 * GIB,
            &[24 * GIB, 24 * GIB],
            &t,
        )
        .unwrap();
        assert_eq!(plan.tensor_split.len(), 2);
        assert!(plan.flags.contains("--tensor-split"), "{}", plan.flags);
        for m in &plan.machines[1..] {
            assert!(m.needs_bytes <= m.budget_bytes, "{m:?}");
        }
    }

    #[test]
    fn a_mixture_of_experts_keeps_its_layers_on_the_gpu_and_moves_experts() {
        let p = presets::profile("qwen3-30b-a3b:Q4_K_M").unwrap();
        let t = TableSet::empty();
        let plan = plan_gpus(Backend::LlamaCpp, &p, &cfg(8192), 64 * GIB, &[8 * GIB], &t).unwrap();
        let n = plan
            .n_cpu_moe
            .expect("17 GiB of weights need experts on the host");
        assert_eq!(plan.gpu_layers, p.shape.n_layers + 1);
        assert!(
            plan.flags.ends_with(&format!("--n-cpu-moe {n}")),
            "{}",
            plan.flags
        );
        assert!(plan.machines[1].fits, "{plan:?}");
        // One block fewer on the host does not fit the GPU.
        let fewer = RunConfig {
            tensor_overrides: TensorOverrides::n_cpu_moe(n - 1),
            split: None,
            ..cfg(8192)
        };
        let e = crate::calibrate::calibrated_for(Backend::LlamaCpp, &p, &fewer, &t).unwrap();
        assert!(e.gpu.unwrap().total() > 8 * GIB);
    }
}

//! `predictor plan`.

use super::render;
use anyhow::Context as _;
use predictor::planner::{self, Budget};
use predictor_cli::cli_args::{human_bytes, parse_size, ConfigArgs, ModelArgs};
use predictor_cli::device_memory;
use std::fmt::Write as _;

/// Arguments of `predictor plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    config: ConfigArgs,
    /// Host RAM budget (e.g. 16G). Default: the memory this machine has available now.
    #[arg(long, value_parser = parse_size_arg)]
    budget: Option<u64>,
    /// GPU memory budget (e.g. 24G). Default: the device's free memory, read through the
    /// CUDA driver when one is present.
    #[arg(long, value_parser = parse_size_arg)]
    gpu_budget: Option<u64>,
    #[command(flatten)]
    tables: super::estimate::TableArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn parse_size_arg(s: &str) -> Result<u64, String> {
    parse_size(s).map_err(|e| e.to_string())
}

/// The budget: given on the command line, or read from this machine.
fn budget(a: &PlanArgs, device: predictor::Device) -> anyhow::Result<(Budget, Vec<String>)> {
    let mut notes = Vec::new();
    let host_bytes = match a.budget {
        Some(b) => b,
        None => {
            let b = device_memory::host_available_bytes();
            notes.push(format!(
                "host budget: {} available now (sysinfo)",
                human_bytes(b)
            ));
            b
        }
    };
    let gpu_bytes = match (device, a.gpu_budget) {
        (predictor::Device::Cpu, _) => None,
        (_, Some(b)) => Some(b),
        (predictor::Device::Cuda(n), None) => match device_memory::cuda_memory(n) {
            Ok(Some(m)) => {
                notes.push(format!(
                    "GPU budget: {} free of {} on {} (cuMemGetInfo)",
                    human_bytes(m.free_bytes),
                    human_bytes(m.total_bytes),
                    m.name
                ));
                Some(m.free_bytes)
            }
            Ok(None) => anyhow::bail!(
                "no CUDA driver on this machine: give the GPU budget with --gpu-budget SIZE"
            ),
            Err(e) => return Err(anyhow::anyhow!(e)).context("cannot read free GPU memory"),
        },
    };
    Ok((
        Budget {
            host_bytes,
            gpu_bytes,
        },
        notes,
    ))
}

/// Runs `predictor plan`.
pub fn run(a: &PlanArgs) -> anyhow::Result<()> {
    let profile = super::load_model(&a.model)?;
    let config = a.config.to_host_config(profile.ctx_train)?;
    let (budget, notes) = budget(a, config.device)?;
    let tables = a.tables.load()?;
    let backend = a.tables.backend(&profile)?;
    let plan = planner::plan_for(backend, &profile, &config, budget, &tables)?;
    if a.json {
        #[derive(serde::Serialize)]
        struct PlanJson<'a> {
            backend: &'a str,
            model: render::ModelSummary<'a>,
            #[serde(flatten)]
            plan: &'a planner::Plan,
            notes: &'a [String],
        }
        return super::print_json(&PlanJson {
            backend: backend.name(),
            model: render::ModelSummary::of(&profile),
            plan: &plan,
            notes: &notes,
        });
    }
    let mut s = String::new();
    let _ = writeln!(s, "backend: {} ({})", backend.name(), backend.summary());
    let _ = writeln!(s, "model:   {}", render::model_line(&profile));
    let gpu_budget = plan
        .budget
        .gpu_bytes
        .map(|g| format!(", GPU {}", human_bytes(g)));
    let _ = writeln!(
        s,
        "budget:  host {}{}",
        human_bytes(plan.budget.host_bytes),
        gpu_budget.unwrap_or_default()
    );
    let c = &plan.requested.config;
    let _ = writeln!(
        s,
        "request: {}, batch {}, context {}: {}",
        c.device,
        c.batch,
        c.ctx,
        if plan.requested_fits {
            "fits"
        } else {
            "does NOT fit"
        }
    );
    if config.device.is_cuda() {
        let _ = writeln!(
            s,
            "layers:  {} of {} blocks on the GPU, the rest on the host",
            plan.gpu_layers, plan.n_layers
        );
    }
    let _ = writeln!(
        s,
        "needs:   host {}{} (headroom kept: {})",
        human_bytes(plan.requested.host_bytes()),
        plan.requested
            .gpu_bytes()
            .map(|g| format!(", GPU {}", human_bytes(g)))
            .unwrap_or_default(),
        human_bytes(plan.headroom_bytes)
    );
    let or_none = |v: Option<u32>| v.map_or("nothing fits".to_string(), |v| v.to_string());
    let _ = writeln!(
        s,
        "max context at batch {}: {} (searched up to {})",
        c.batch,
        or_none(plan.max_ctx),
        plan.ctx_limit
    );
    let _ = writeln!(
        s,
        "max batch at context {}: {}",
        c.ctx,
        or_none(plan.max_batch)
    );
    if let Some(cal) = &plan.requested.calibration {
        let _ = writeln!(
            s,
            "calibration: {} (held-out p95 error {:.1}%)",
            cal.name,
            cal.expected_p95_error * 100.0
        );
    }
    for n in notes.iter().chain(plan.requested.notes.iter()) {
        let _ = writeln!(s, "note: {n}");
    }
    print!("{s}");
    Ok(())
}

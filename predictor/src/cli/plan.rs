//! `predictor plan`.

use super::render;
use crate::cli_args::{human_bytes, parse_size, ConfigArgs, ModelArgs};
use crate::device_memory;
use anyhow::Context as _;
use predictor::backend::Backend;
use predictor::planner::{self, Budget};
use predictor::profile::ModelProfile;
use std::fmt::Write as _;

/// Arguments of `predictor plan`.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// The model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// The run configuration asked for.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Host RAM budget (e.g. 16G). Default: the memory this machine has available now.
    #[arg(long, value_parser = parse_size_arg)]
    pub budget: Option<u64>,
    /// GPU memory budget (e.g. 24G). Default: the device's free memory, read through the
    /// CUDA driver when one is present.
    #[arg(long, value_parser = parse_size_arg)]
    pub gpu_budget: Option<u64>,
    /// One budget per GPU, in device order (e.g. 24G,24G): llama.cpp on these GPUs, planned
    /// as `-ngl`, `--tensor-split` and, for a mixture of experts that does not fit whole,
    /// `--n-cpu-moe`. Default with --device cuda: the free memory of every GPU present.
    #[arg(long, value_name = "SIZE,...", value_delimiter = ',', value_parser = parse_size_arg)]
    pub gpus: Vec<u64>,
    /// The engine and its tables.
    #[command(flatten)]
    pub tables: super::estimate::TableArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// A plan with what it was made for: what `predictor plan` prints.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The model's profile.
    pub profile: ModelProfile,
    /// The engine.
    pub backend: Backend,
    /// The plan.
    pub plan: planner::Plan,
    /// Where the budget came from, when it was read from this machine.
    pub notes: Vec<String>,
}

/// The JSON answer of `predictor plan --json` (and of the Python `plan`).
#[derive(serde::Serialize)]
pub struct PlanJson<'a> {
    backend: &'a str,
    model: render::ModelSummary<'a>,
    #[serde(flatten)]
    plan: &'a planner::Plan,
    notes: &'a [String],
}

fn parse_size_arg(s: &str) -> Result<u64, String> {
    parse_size(s).map_err(|e| e.to_string())
}

/// The host budget: --budget, or what this machine has available now (with a note).
fn host_budget(a: &PlanArgs, notes: &mut Vec<String>) -> u64 {
    a.budget.unwrap_or_else(|| {
        let b = device_memory::host_available_bytes();
        notes.push(format!(
            "host budget: {} available now (sysinfo)",
            human_bytes(b)
        ));
        b
    })
}

/// The budget: given on the command line, or read from this machine.
fn budget(a: &PlanArgs, device: predictor::Device) -> anyhow::Result<(Budget, Vec<String>)> {
    let mut notes = Vec::new();
    let host_bytes = host_budget(a, &mut notes);
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
        (predictor::Device::Rocm(_), None) => anyhow::bail!(
            "the free memory of a ROCm GPU is not read here: give the GPU budget with \
             --gpu-budget SIZE (or --gpus)"
        ),
    };
    Ok((
        Budget {
            host_bytes,
            gpu_bytes,
        },
        notes,
    ))
}

/// The plan `predictor plan` gives for these arguments.
pub fn plan(a: &PlanArgs) -> anyhow::Result<Planned> {
    let (profile, defaults) = super::load_model_with_defaults(&a.model)?;
    let mut config_args = a.config.clone();
    let default_notes = defaults.apply(&mut config_args.ctx);
    let config = config_args.to_config(profile.shape.ctx_train)?;
    let (budget, mut notes) = budget(a, config.device)?;
    notes.extend(default_notes);
    let tables = a.tables.load()?;
    let backend = a.tables.backend(&profile)?;
    let plan = planner::plan_for(backend, &profile, &config, budget, &tables)?;
    Ok(Planned {
        profile,
        backend,
        plan,
        notes,
    })
}

impl Planned {
    /// The `--json` answer.
    pub fn json(&self) -> PlanJson<'_> {
        PlanJson {
            backend: self.backend.name(),
            model: render::ModelSummary::of(&self.profile),
            plan: &self.plan,
            notes: &self.notes,
        }
    }

    /// The readable answer.
    pub fn text(&self) -> String {
        plan_text(self)
    }
}

/// A plan split over several machines (`--hosts`) or local GPUs (`--tensor-split`).
#[derive(Debug, Clone)]
pub struct SplitPlanned {
    /// The model's profile.
    pub profile: ModelProfile,
    /// The engine.
    pub backend: Backend,
    /// The plan.
    pub plan: planner::HostPlan,
    /// Where the budgets came from, when they were read from this machine.
    pub notes: Vec<String>,
}

/// The JSON answer of `predictor plan --hosts ... --json`.
#[derive(serde::Serialize)]
pub struct SplitPlanJson<'a> {
    backend: &'a str,
    model: render::ModelSummary<'a>,
    #[serde(flatten)]
    plan: &'a planner::HostPlan,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    notes: &'a [String],
}

/// `predictor plan --hosts`: a split over RPC workers, each machine with its budget.
fn split_plan(
    a: &PlanArgs,
    hosts: &[predictor::config::split::Host],
) -> anyhow::Result<SplitPlanned> {
    let (profile, defaults) = super::load_model_with_defaults(&a.model)?;
    let mut config_args = a.config.clone();
    // The split plan's answer has no notes: the default applies all the same.
    let _ = defaults.apply(&mut config_args.ctx);
    let config = config_args.to_config(profile.shape.ctx_train)?;
    let tables = a.tables.load()?;
    let backend = a.tables.backend(&profile)?;
    let plan = planner::plan_hosts(backend, &profile, &config, hosts, &tables)?;
    Ok(SplitPlanned {
        profile,
        backend,
        plan,
        notes: Vec::new(),
    })
}

/// Each GPU's budget: `--gpus`, else `--gpu-budget` for each GPU of `--tensor-split` (one
/// without it), else the free memory of every CUDA device present.
fn gpu_budgets(a: &PlanArgs, device: predictor::Device) -> anyhow::Result<(Vec<u64>, Vec<String>)> {
    if !a.gpus.is_empty() {
        return Ok((a.gpus.clone(), Vec::new()));
    }
    if let Some(b) = a.gpu_budget {
        let k = match &a.config.tensor_split {
            Some(ts) => predictor::config::split::parse_tensor_split(ts)?.len(),
            None => 1,
        };
        return Ok((vec![b; k.max(1)], Vec::new()));
    }
    if !matches!(device, predictor::Device::Cuda(_)) {
        anyhow::bail!("the free memory of a {device} GPU is not read here: give each GPU's budget with --gpus SIZE,...");
    }
    match device_memory::cuda_devices() {
        Ok(Some(devs)) if !devs.is_empty() => {
            let notes = devs
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    format!(
                        "GPU budget of cuda:{i}: {} free of {} on {} (cuMemGetInfo)",
                        human_bytes(m.free_bytes),
                        human_bytes(m.total_bytes),
                        m.name
                    )
                })
                .collect();
            Ok((devs.iter().map(|m| m.free_bytes).collect(), notes))
        }
        Ok(_) => anyhow::bail!(
            "no CUDA device on this machine: give each GPU's budget with --gpus SIZE,... \
             (e.g. --gpus 24G,24G)"
        ),
        Err(e) => Err(anyhow::anyhow!(e)).context("cannot read free GPU memory"),
    }
}

/// `predictor plan --device cuda` for a llama.cpp-family engine: its placement over the
/// GPUs, each with its budget.
fn gpus_plan(
    a: &PlanArgs,
    profile: ModelProfile,
    defaults: predictor::model_ref::RunDefaults,
    backend: Backend,
) -> anyhow::Result<SplitPlanned> {
    let mut config_args = a.config.clone();
    let mut notes = defaults.apply(&mut config_args.ctx);
    // The planner places the layers itself: a --tensor-split given only counts the GPUs.
    config_args.tensor_split = None;
    let config = config_args.to_config(profile.shape.ctx_train)?;
    let (gpus, gpu_notes) = gpu_budgets(a, config.device)?;
    notes.extend(gpu_notes);
    let host = host_budget(a, &mut notes);
    let tables = a.tables.load()?;
    let plan = planner::plan_gpus(backend, &profile, &config, host, &gpus, &tables)?;
    Ok(SplitPlanned {
        profile,
        backend,
        plan,
        notes,
    })
}

impl SplitPlanned {
    /// The `--json` answer.
    pub fn json(&self) -> SplitPlanJson<'_> {
        SplitPlanJson {
            backend: self.backend.name(),
            model: render::ModelSummary::of(&self.profile),
            plan: &self.plan,
            notes: &self.notes,
        }
    }

    /// The readable answer.
    pub fn text(&self) -> String {
        split_text(self)
    }
}

fn split_text(p: &SplitPlanned) -> String {
    let (profile, backend, plan) = (&p.profile, p.backend, &p.plan);
    let mut s = String::new();
    let _ = writeln!(s, "backend: {} ({})", backend.name(), backend.summary());
    let _ = writeln!(s, "model:   {}", render::model_line(profile));
    let c = &plan.requested.config;
    let what = if c.serve.is_some() { "slots" } else { "batch" };
    let _ = writeln!(
        s,
        "request: {what} {}, context {}: {}",
        c.batch,
        c.ctx,
        if plan.requested_fits {
            "fits"
        } else {
            "does NOT fit"
        }
    );
    let _ = writeln!(s, "flags:   {}", plan.flags);
    let _ = writeln!(
        s,
        "\n{:<14} {:<11} {:>10} {:>14} {:>14}  fits",
        "machine", "role", "blocks", "needs", "budget"
    );
    for m in &plan.machines {
        let _ = writeln!(
            s,
            "{:<14} {:<11} {:>10} {:>14} {:>14}  {}",
            m.name,
            m.role,
            format!("{}{}", m.blocks, if m.output_layer { " +out" } else { "" }),
            human_bytes(m.needs_bytes),
            human_bytes(m.budget_bytes),
            if m.fits { "yes" } else { "NO" }
        );
    }
    s.push('\n');
    limit_lines(&mut s, c, limits_of!(plan));
    for n in p.notes.iter().chain(&plan.requested.notes) {
        let _ = writeln!(s, "note: {n}");
    }
    s
}

/// The JSON answer of `predictor plan --json`, split or not.
#[derive(serde::Serialize)]
#[serde(untagged)]
pub enum PlanAnswerJson<'a> {
    /// One machine.
    One(PlanJson<'a>),
    /// A split.
    Split(SplitPlanJson<'a>),
}

/// What `predictor plan` answers: one machine, or a split.
#[derive(Debug, Clone)]
pub enum PlanAnswer {
    /// One machine (with a GPU or not).
    One(Planned),
    /// A split over RPC workers or local GPUs, each with its budget.
    Split(SplitPlanned),
}

impl PlanAnswer {
    /// The `--json` answer.
    pub fn json(&self) -> PlanAnswerJson<'_> {
        match self {
            PlanAnswer::One(p) => PlanAnswerJson::One(p.json()),
            PlanAnswer::Split(p) => PlanAnswerJson::Split(p.json()),
        }
    }

    /// The readable answer.
    pub fn text(&self) -> String {
        match self {
            PlanAnswer::One(p) => p.text(),
            PlanAnswer::Split(p) => p.text(),
        }
    }
}

/// The plan `predictor plan` gives for these arguments, split or not.
pub fn plan_answer(a: &PlanArgs) -> anyhow::Result<PlanAnswer> {
    let invalid = |m: &str| predictor::Error::InvalidConfig(m.into());
    if let Some(hosts) = a.config.hosts()? {
        if a.budget.is_some() {
            return Err(invalid(
                "--hosts gives each machine its budget (NAME=SIZE); --budget is for one machine",
            )
            .into());
        }
        return Ok(PlanAnswer::Split(split_plan(a, &hosts)?));
    }
    // llama.cpp on this machine's GPUs: its placement over them, each with its budget.
    let device: predictor::Device = a.config.device.parse()?;
    if device.is_gpu() {
        let (profile, defaults) = super::load_model_with_defaults(&a.model)?;
        let backend = a.tables.backend(&profile)?;
        if matches!(backend, Backend::LlamaCpp | Backend::BitnetCpp) {
            return Ok(PlanAnswer::Split(gpus_plan(a, profile, defaults, backend)?));
        }
        if !a.gpus.is_empty() {
            return Err(invalid(&format!(
                "--gpus plans llama.cpp's placement over GPUs; {} is planned with --gpu-budget",
                backend.name()
            ))
            .into());
        }
    }
    // A model split over local GPUs: each GPU's budget, and the host's.
    if a.config.hosts.is_none() && a.config.tensor_split.is_some() {
        let config = a.config.split_options()?;
        let Some(split) = config else {
            return Err(invalid("--tensor-split needs --device cuda or --hosts").into());
        };
        let gpu = a.gpu_budget.ok_or_else(|| {
            invalid("planning a split over GPUs needs each GPU's budget: --gpu-budget SIZE")
        })?;
        let host = a.budget.unwrap_or_else(device_memory::host_available_bytes);
        let mut hosts = vec![predictor::config::split::Host {
            name: "host".into(),
            budget: Some(host),
        }];
        hosts.extend(
            split
                .devices
                .iter()
                .map(|d| predictor::config::split::Host {
                    name: d.name.clone(),
                    budget: Some(gpu),
                }),
        );
        return Ok(PlanAnswer::Split(split_plan(a, &hosts)?));
    }
    Ok(PlanAnswer::One(plan(a)?))
}

/// Runs `predictor plan`.
pub fn run(a: &PlanArgs) -> anyhow::Result<()> {
    let p = plan_answer(a)?;
    if a.json {
        super::print_json(&p.json())
    } else {
        print!("{}", p.text());
        Ok(())
    }
}

/// The [`Limits`] of a one-device plan or a split's (fields of the same names on both).
macro_rules! limits_of {
    ($plan:expr) => {
        Limits {
            max_ctx: $plan.max_ctx,
            max_batch: $plan.max_batch,
            ctx_limit: $plan.ctx_limit,
            serve: $plan.serve.as_ref(),
        }
    };
}
use limits_of;

/// The searched limits of a plan (one device or a split).
struct Limits<'a> {
    max_ctx: Option<u32>,
    max_batch: Option<u32>,
    ctx_limit: u32,
    serve: Option<&'a planner::serve::ServePlan>,
}

/// The largest context and batch (or slots) that fit, and a served plan's prompt cache.
fn limit_lines(s: &mut String, c: &predictor::RunConfig, l: Limits<'_>) {
    let what = if c.serve.is_some() { "slots" } else { "batch" };
    let or_none = |v: Option<u32>| v.map_or("nothing fits".to_string(), |v| v.to_string());
    let _ = writeln!(
        s,
        "max context at {what} {}: {} (searched up to {})",
        c.batch,
        or_none(l.max_ctx),
        l.ctx_limit
    );
    let _ = writeln!(
        s,
        "max {what} at context {}: {}",
        c.ctx,
        or_none(l.max_batch)
    );
    if let Some(sp) = l.serve {
        cache_line(s, sp);
    }
}

/// The prompt cache a served plan leaves room for.
fn cache_line(s: &mut String, sp: &planner::serve::ServePlan) {
    let _ = writeln!(
        s,
        "prompt cache: --cache-ram {} asked; a long-running server at these slots fits with --cache-ram up to {}",
        sp.requested_cache_ram_mib,
        sp.max_cache_ram_mib
            .map_or("- (nothing fits even with it off)".to_string(), |m| m.to_string())
    );
}

fn plan_text(p: &Planned) -> String {
    let (profile, backend, plan, notes) = (&p.profile, p.backend, &p.plan, &p.notes);
    let mut s = String::new();
    let _ = writeln!(s, "backend: {} ({})", backend.name(), backend.summary());
    let _ = writeln!(s, "model:   {}", render::model_line(profile));
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
    let what = if c.serve.is_some() { "slots" } else { "batch" };
    let _ = writeln!(
        s,
        "request: {}, {what} {}, context {}: {}",
        c.device,
        c.batch,
        c.ctx,
        if plan.requested_fits {
            "fits"
        } else {
            "does NOT fit"
        }
    );
    if c.device.is_cuda() {
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
    limit_lines(&mut s, c, limits_of!(plan));
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
    s
}

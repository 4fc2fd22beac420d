//! `predictor backends`: the engines memcal predicts, what each model covers, and the
//! engine versions its calibration tables were measured on.

use predictor::backend::Backend;
use predictor::calibrate::table_set::TableSet;
use predictor::config::isa::NAMED;
use serde::Serialize;

/// Arguments of `predictor backends`.
#[derive(Debug, Clone, clap::Args)]
pub struct BackendsArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// One engine, as `predictor backends --json` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct BackendInfo {
    /// The backend's name.
    pub name: &'static str,
    /// Other names `--backend` accepts for it.
    pub aliases: &'static [&'static str],
    /// What its memory model covers.
    pub models: &'static str,
    /// Embedded calibration tables of this backend (`<backend>/<device>/<weight type>`).
    pub tables: Vec<String>,
    /// Engine versions the tables were measured on.
    pub measured_on: Vec<String>,
    /// Whether a CUDA table exists (without one, `--device cuda` estimates are analytic).
    pub cuda_calibrated: bool,
    /// Engine builds with their own rules (`--engine-build`; others use the nearest);
    /// empty for engines without build-keyed rules.
    pub rule_builds: Vec<u32>,
}

/// Every engine memcal predicts, with its embedded tables (`predictor backends --json`).
pub fn backends() -> anyhow::Result<Vec<BackendInfo>> {
    let tables = TableSet::embedded()?;
    Ok(Backend::ALL
        .iter()
        .map(|b| BackendInfo {
            name: b.name(),
            aliases: b.aliases(),
            models: b.summary(),
            tables: tables
                .tables()
                .iter()
                .filter(|t| t.backend == b.name())
                .map(|t| t.name.clone())
                .collect(),
            measured_on: tables.engine_versions(b.name()),
            cuda_calibrated: tables.tables().iter().any(|t| {
                t.backend == b.name() && t.device_kind == predictor::config::DeviceKind::Cuda
            }),
            rule_builds: b.rule_builds(),
        })
        .collect())
}

/// Runs `predictor backends`.
pub fn run(a: &BackendsArgs) -> anyhow::Result<()> {
    let infos = backends()?;
    if a.json {
        return super::print_json(&infos);
    }
    for i in &infos {
        println!("{} (also: {})", i.name, i.aliases.join(", "));
        println!("  models:      {}", i.models);
        if i.tables.is_empty() {
            println!("  tables:      none (estimates are analytic, with 15% extra headroom)");
        } else {
            println!("  tables:      {}", i.tables.join(", "));
        }
        if !i.measured_on.is_empty() {
            println!("  measured on: {}", i.measured_on.join("; "));
        }
        if !i.rule_builds.is_empty() {
            let builds: Vec<String> = i.rule_builds.iter().map(|b| b.to_string()).collect();
            let isas: Vec<&str> = NAMED.iter().map(|n| n.0).collect();
            println!(
                "  rules:       builds {} (--engine-build; another build uses the nearest \
                 at or below it); ISAs {} (--isa; default: this CPU's)",
                builds.join(", "),
                isas.join(", ")
            );
        }
        if !i.cuda_calibrated {
            println!("  cuda:        not calibrated (no GPU records yet): analytic, with 15% extra headroom");
        }
    }
    Ok(())
}

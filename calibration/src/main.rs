//! `calibration` command line: `fit` writes the tables, `report` regenerates `reports/`,
//! `check` recomputes both from the committed records and fails on any difference.

use anyhow::{bail, Context, Result};
use calibration::analysis::{analyse, GroupAnalysis};
use calibration::one_sided::Procedure;
use calibration::paths::{default_data_dir, default_reports_dir, default_tables_dir};
use calibration::records::{load_dir, Dataset};
use calibration::tables::{build_tables, write_tables};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

/// Fits memcal's calibration tables from measured records and reports their error.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Directory of the measured records (`*.jsonl`).
    #[arg(long, global = true, default_value_os_t = default_data_dir())]
    data: PathBuf,
    /// Directory of the calibration tables.
    #[arg(long, global = true, default_value_os_t = default_tables_dir())]
    tables: PathBuf,
    /// Directory of the generated report.
    #[arg(long, global = true, default_value_os_t = default_reports_dir())]
    reports: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fit one table per (backend, device kind, quantization) and write them.
    Fit,
    /// Regenerate the accuracy report and its plots.
    Report,
    /// Recompute tables and report from the records; fail if they differ from the
    /// committed ones or a held-out p95 grew past its table's figure.
    Check,
    /// Print every usable record's measured peak beside the analytic estimate (one line
    /// each, largest errors last), to see where a backend's model misses.
    Residuals {
        /// Only records of this backend.
        #[arg(long)]
        backend: Option<String>,
    },
}

/// Loads and analyses the records, printing warnings and skipped groups.
fn load_and_analyse(data: &Path) -> Result<(Dataset, Vec<GroupAnalysis>, Vec<String>)> {
    let ds = load_dir(data).with_context(|| format!("reading records in {}", data.display()))?;
    for w in &ds.warnings {
        eprintln!("warning: {w}");
    }
    let (groups, skipped) = analyse(&ds, &Procedure::default());
    for s in &skipped {
        eprintln!("not fitted: {s}");
    }
    eprintln!(
        "{} usable records ({} not completed, {} without a peak, {} below the {} MiB resolution \
         floor) from {} file(s); {} group(s)",
        ds.samples.len(),
        ds.not_ok,
        ds.no_peak,
        ds.below_resolution,
        calibration::records::MIN_PEAK_BYTES >> 20,
        ds.files.len(),
        groups.len()
    );
    Ok((ds, groups, skipped))
}

fn fit(cli: &Cli) -> Result<()> {
    let (_, groups, _) = load_and_analyse(&cli.data)?;
    let tables = build_tables(&groups);
    let (written, removed) = write_tables(&cli.tables, &tables)
        .with_context(|| format!("writing tables to {}", cli.tables.display()))?;
    for t in &tables {
        let v = &t.validation;
        println!(
            "{}: {} records, held-out p95 {:.2}%, under >2% {:.2}%, headroom {:.1}%",
            t.name,
            t.provenance.records,
            v.p95_abs_rel * 100.0,
            v.under_2pct_rate * 100.0,
            t.headroom_pct
        );
    }
    for r in removed {
        println!("removed stale table {r}");
    }
    println!("{} table(s) in {}", written.len(), cli.tables.display());
    Ok(())
}

fn report(cli: &Cli) -> Result<()> {
    let (ds, groups, skipped) = load_and_analyse(&cli.data)?;
    let written = calibration::report::write_report(&cli.reports, &ds, &groups, &skipped)
        .with_context(|| format!("writing the report to {}", cli.reports.display()))?;
    println!(
        "wrote {} file(s) in {}",
        written.len(),
        cli.reports.display()
    );
    Ok(())
}

fn check(cli: &Cli) -> Result<()> {
    let outcome =
        calibration::check::check(&cli.data, &cli.tables, &cli.reports, &Procedure::default())
            .context("checking the committed tables and report")?;
    for c in &outcome.checked {
        println!("ok: {c}");
    }
    if !outcome.passed() {
        for p in &outcome.problems {
            eprintln!("FAIL: {p}");
        }
        bail!("{} problem(s) found", outcome.problems.len());
    }
    println!("check passed");
    Ok(())
}

fn residuals(cli: &Cli, backend: Option<&str>) -> Result<()> {
    let ds = load_dir(&cli.data)
        .with_context(|| format!("reading records in {}", cli.data.display()))?;
    let mut rows: Vec<(f64, String)> = ds
        .samples
        .iter()
        .filter(|s| backend.is_none_or(|b| s.group.backend == b))
        .map(|s| {
            let a = s.analytic_used() as f64;
            let m = s.measured as f64;
            let c = &s.config;
            let err = (a - m) / m;
            let line = format!(
                "{:+7.2}%  {:>9.1} MiB measured {:>9.1} MiB analytic  {} {} ctx {} batch {} ub {} kv {} fa {} mmap {} repack {} prompt {} decode {}",
                err * 100.0,
                m / 1048576.0,
                a / 1048576.0,
                s.group.backend,
                s.model(),
                c.ctx,
                c.batch,
                c.ubatch,
                c.kv_dtype,
                c.flash_attn,
                c.mmap,
                c.repack,
                c.prompt_tokens(),
                c.decode
            );
            (err.abs(), line)
        })
        .collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (_, l) in rows {
        println!("{l}");
    }
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Fit => fit(&cli),
        Command::Report => report(&cli),
        Command::Check => check(&cli),
        Command::Residuals { ref backend } => residuals(&cli, backend.as_deref()),
    }
}

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
    /// Fit records measured by builds with uncommitted changes (`+dirty`) even when their
    /// commit is not listed in the records directory's accepted-dirty.txt.
    #[arg(long, global = true)]
    allow_dirty: bool,
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
    /// Regenerate the README's accuracy table (between its `figures:accuracy` markers)
    /// from the records; with --check, fail instead when it differs.
    Readme {
        /// Fail if README.md differs from what the records give; write nothing.
        #[arg(long)]
        check: bool,
        /// The README to update.
        #[arg(long, default_value_os_t = calibration::paths::workspace_root().join("README.md"))]
        file: PathBuf,
    },
    /// Rewrite record files so that no record names a path of the machine that measured
    /// it: the model, the engine's executable and command-line paths, and the engine
    /// build's install path become file names (what `profiler` writes now); every other
    /// byte is kept, and a line equal to an earlier one once migrated (what a union merge
    /// of migrated and unmigrated records leaves) is dropped. Idempotent. With --check,
    /// write nothing and fail when a line would change.
    MigrateRecords {
        /// Fail if a record names a machine path; write nothing.
        #[arg(long)]
        check: bool,
        /// Directories of record files (`*.jsonl`). Default: calibration/data and
        /// calibration/holdout.
        dirs: Vec<PathBuf>,
    },
    /// Print every usable record's measured peak beside the analytic estimate and the
    /// calibrated one with the tables of --tables (one line each, largest analytic errors
    /// last), then the error figures per backend. With `--data calibration/holdout`: the
    /// accuracy on models and configurations nothing was fitted or shaped on.
    Residuals {
        /// Only records of this backend.
        #[arg(long)]
        backend: Option<String>,
    },
    /// Replay the public GPU log corpus (calibration/gpu-logs) through the estimate: which
    /// runs the model covers and why the others are left out, then each printed buffer
    /// against the predicted one.
    GpuLogs {
        /// The corpus folder.
        #[arg(long, default_value_os_t = calibration::paths::workspace_root().join("calibration/gpu-logs"))]
        dir: PathBuf,
    },
}

/// Refuses records of dirty builds that are not accepted (see
/// [`calibration::provenance`]), unless `allow` is set.
fn gate_dirty(ds: &Dataset, data: &Path, allow: bool) -> Result<()> {
    use calibration::provenance::{accepted_dirty, unaccepted_dirty, ACCEPTED_DIRTY_FILE};
    let accepted = accepted_dirty(data)?;
    let bad = unaccepted_dirty(ds.commits.iter().map(String::as_str), &accepted);
    if bad.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = bad
        .iter()
        .map(|(c, n)| format!("{c}+dirty ({n} records)"))
        .collect();
    if allow {
        eprintln!(
            "warning: fitting records of dirty builds (--allow-dirty): {}",
            list.join(", ")
        );
        return Ok(());
    }
    bail!(
        "records in {} were measured by builds with uncommitted changes: {}. Re-measure with a \
         clean build, accept the commit in {}/{ACCEPTED_DIRTY_FILE} (with the reason), or pass \
         --allow-dirty",
        data.display(),
        list.join(", "),
        data.display()
    )
}

/// Loads and analyses the records, printing warnings and skipped groups.
fn load_and_analyse(cli: &Cli) -> Result<(Dataset, Vec<GroupAnalysis>, Vec<String>)> {
    let data = &cli.data;
    let ds = load_dir(data).with_context(|| format!("reading records in {}", data.display()))?;
    gate_dirty(&ds, data, cli.allow_dirty)?;
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
    let (_, groups, _) = load_and_analyse(cli)?;
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

fn readme(cli: &Cli, check: bool, file: &Path) -> Result<()> {
    let (_, groups, _) = load_and_analyse(cli)?;
    let table = calibration::readme::accuracy_table(&groups);
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let runs = calibration::gpu_logs::load(
        &calibration::paths::workspace_root().join("calibration/gpu-logs"),
    )?;
    let gpu =
        calibration::readme::gpu_logs_table(&calibration::gpu_logs::report::replay_all(&runs));
    let new = calibration::readme::splice(&text, &table)
        .and_then(|t| {
            use calibration::readme::{splice_between, GPU_BEGIN, GPU_END};
            splice_between(&t, GPU_BEGIN, GPU_END, &gpu)
        })
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    if new == text {
        println!(
            "{}: the accuracy table is what the records give",
            file.display()
        );
        return Ok(());
    }
    if check {
        bail!(
            "{}: the accuracy or GPU log table differs from what the records and the corpus \
             give; run `cargo run --release -p calibration -- readme` and commit the result",
            file.display()
        );
    }
    calibration::paths::write_atomic(file, new.as_bytes())
        .with_context(|| format!("writing {}", file.display()))?;
    println!("{}: accuracy table updated", file.display());
    Ok(())
}

fn report(cli: &Cli) -> Result<()> {
    let (ds, groups, skipped) = load_and_analyse(cli)?;
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
    let ds = load_dir(&cli.data)
        .with_context(|| format!("reading records in {}", cli.data.display()))?;
    gate_dirty(&ds, &cli.data, cli.allow_dirty)?;
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
    use calibration::stats::{error_stats, Outcome};
    use std::collections::BTreeMap;
    let ds = load_dir(&cli.data)
        .with_context(|| format!("reading records in {}", cli.data.display()))?;
    let tables = predictor::calibrate::table_set::TableSet::from_dir(&cli.tables)
        .with_context(|| format!("reading tables in {}", cli.tables.display()))?;
    let mut rows: Vec<(f64, String)> = Vec::new();
    let mut by_backend: BTreeMap<String, (Vec<Outcome>, Vec<Outcome>)> = BTreeMap::new();
    for s in ds
        .samples
        .iter()
        .filter(|s| backend.is_none_or(|b| s.group.backend == b))
    {
        let m = s.measured as f64;
        let a = s.analytic_used() as f64;
        // The calibrated peak with these tables, no headroom (margin 0).
        let calibrated = s.calibrated_peak(&tables).map(|p| p as f64);
        let c = &s.config;
        // Every record counts for its backend, and for its model class, ISA and engine
        // build where those set it apart.
        let mut groups = vec![s.group.engine()];
        if s.profile.shape.experts.is_some_and(|e| e.total > 0) {
            groups.push(format!("{} mixture-of-experts", s.group.backend));
            groups.push(format!(
                "{} mixture-of-experts ({})",
                s.group.backend, s.profile.shape.architecture
            ));
        } else if s.profile.n_params >= 6_000_000_000 {
            groups.push(format!("{} dense >= 6B parameters", s.group.backend));
        }
        if let Some(isa) = c.isa.as_ref().filter(|i| i.given != "avx2") {
            groups.push(format!("{} ISA {isa}", s.group.backend));
        }
        if let Some(b) = c.engine_build {
            groups.push(format!("{} build {b}", s.group.backend));
        }
        for g in groups {
            let entry = by_backend.entry(g).or_default();
            entry.0.push(Outcome {
                predicted: a,
                measured: m,
            });
            if let Some(p) = calibrated {
                entry.1.push(Outcome {
                    predicted: p,
                    measured: m,
                });
            }
        }
        let cal = calibrated.map_or_else(
            || "      -".to_string(),
            |p| format!("{:+7.2}%", (p - m) / m * 100.0),
        );
        rows.push((
            ((a - m) / m).abs(),
            format!(
                "analytic {:+7.2}%  calibrated {cal}  {:>9.1} MiB measured  {}{} {} ctx {} batch {} ub {} kv {} fa {} mmap {} repack {} prompt {} decode {}",
                (a - m) / m * 100.0,
                m / 1048576.0,
                s.group.engine(),
                s.device_name.as_deref().map(|d| format!("[{d}]")).unwrap_or_default(),
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
            ),
        ));
    }
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (_, l) in rows {
        println!("{l}");
    }
    for (b, (analytic, calibrated)) in by_backend {
        let (a, c) = (error_stats(&analytic), error_stats(&calibrated));
        println!(
            "{b}: {} records; analytic p95 {:.2}%, under >2% {:.1}%; calibrated ({}) p95 {:.2}%, max {:.2}%, under >2% {:.1}%",
            a.count,
            a.p95_abs_rel * 100.0,
            a.under_2pct_rate * 100.0,
            calibration::paths::display_name(&cli.tables),
            c.p95_abs_rel * 100.0,
            c.max_abs_rel * 100.0,
            c.under_2pct_rate * 100.0
        );
    }
    Ok(())
}

fn migrate_records(check: bool, dirs: &[PathBuf]) -> Result<()> {
    use calibration::paths::{default_data_dir, default_holdout_dir};
    let dirs = if dirs.is_empty() {
        vec![default_data_dir(), default_holdout_dir()]
    } else {
        dirs.to_vec()
    };
    let files = calibration::migrate::migrate_dirs(&dirs, !check)?;
    let (done, dropped) = if check {
        ("name a machine path", "found")
    } else {
        ("rewritten", "dropped")
    };
    let mut changed = 0;
    for f in &files {
        println!(
            "{}: {} of {} records {done}, {} duplicate line(s) {dropped}",
            calibration::paths::display_name(&f.path),
            f.changed,
            f.records,
            f.duplicates,
        );
        changed += f.changed + f.duplicates;
    }
    if check && changed > 0 {
        bail!(
            "{changed} record line(s) name a path of the machine that measured them or repeat \
             an earlier one; run `cargo run --release -p calibration -- migrate-records` and \
             commit the result"
        );
    }
    Ok(())
}

/// Prints the GPU corpus replay.
fn gpu_logs(dir: &Path) -> Result<()> {
    let runs = calibration::gpu_logs::load(dir)?;
    for r in &runs {
        match calibration::gpu_logs::cover(r) {
            Err(why) => println!("{:<32} left out: {why}", r.id),
            Ok(c) => {
                let (scored, unscored) = calibration::gpu_logs::replay::replay_split(&c);
                println!("{:<32} {} {}", r.id, r.build.label(), r.source_url);
                let tagged = scored
                    .iter()
                    .map(|o| (o, ""))
                    .chain(unscored.iter().map(|o| (o, "  (not checked: not scored)")));
                for (o, tag) in tagged {
                    println!(
                        "    {:<12} {:<8} printed {:>10.2} MiB  predicted {:>10.2} MiB  {:+7.2}%{tag}",
                        o.device,
                        o.kind,
                        o.printed / 1048576.0,
                        o.predicted / 1048576.0,
                        100.0 * o.rel()
                    );
                }
            }
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Fit => fit(&cli),
        Command::Report => report(&cli),
        Command::Check => check(&cli),
        Command::Readme { check, ref file } => readme(&cli, check, file),
        Command::Residuals { ref backend } => residuals(&cli, backend.as_deref()),
        Command::MigrateRecords { check, ref dirs } => migrate_records(check, dirs),
        Command::GpuLogs { ref dir } => gpu_logs(dir),
    }
}

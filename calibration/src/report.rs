//! The accuracy report, `reports/accuracy.md`, with its plots in `reports/plots/`.
//!
//! Everything in it is computed from the records by [`crate::analysis`]: the same
//! numbers the tables carry. Nothing depends on the time or the machine that renders it,
//! so regenerating from the same data gives the same bytes.

use crate::analysis::{analyse, GroupAnalysis, SchemeResult};
use crate::cross_validation::{config_pair, Scheme};
use crate::diagnosis::{diagnose, phase_diagnosis, Bin};
use crate::error::{CalibrationError, Result};
use crate::fit::{factors, FitOptions, Model, Term, COMPONENT_NAMES};
use crate::one_sided::{Procedure, UpliftPolicy};
use crate::records::{Dataset, ShapeKey};
use crate::stats::mib;
use crate::tables::build_table;
use predictor::calibrate::table::ErrorStats;
use predictor::config::Role;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

/// The command that regenerates the report.
pub const GENERATED_BY: &str = "cargo run --release -p calibration -- report";

/// Held-out p95 absolute relative error the product aims for.
pub const TARGET_P95: f64 = 0.05;
/// Held-out rate of under-predictions beyond 2% the product aims for.
pub const TARGET_UNDER_RATE: f64 = 0.01;

/// The report file name inside the reports directory.
pub const REPORT_FILE: &str = "accuracy.md";
/// The plots directory inside the reports directory.
pub const PLOTS_DIR: &str = "plots";

/// The plots the report embeds (file stems, in order) with their captions.
const PLOTS: [(&str, &str); 5] = [
    (
        "predicted_vs_measured",
        "Held-out calibrated prediction (the validation scheme of each table) against the \
         measured peak; the black line is y = x, the grey lines +-5%.",
    ),
    (
        "error_distribution",
        "Signed relative error per quantization: the analytic estimate on every record \
         (left), the held-out calibrated prediction (right). Red: -2%, grey: +-5%.",
    ),
    (
        "component_breakdown",
        "Calibrated components per model in percent of the measured peak (the additive \
         term is shown in the overhead, as the predictor applies it).",
    ),
    (
        "memory_vs_context",
        "Measured peaks (points) over the calibrated prediction (curves, the committed \
         correction on the analytic components along the context axis).",
    ),
    (
        "engines_held_out_error",
        "Held-out calibrated error per backend (each engine's all-types table, every table of \
         the reference runtime) against the measured peak: the red line is -2%, the grey \
         lines +-5%.",
    ),
];

const MODEL_TEXT: &str = "\
Per group (backend, device kind, dominant quantization) the measured peak (peak RSS on \
CPU, peak GPU use on CUDA) is modelled from the analytic components of the same device:

    measured ~= fw*W + fk*K + fa*A + fo*O + c

- `W` weights: stored tensor bytes. `fw` absorbs allocation rounding and load copies \
still resident at the peak.
- `K` KV cache: batch x ctx x layers x KV heads x head width x dtype. `fk` absorbs \
allocator rounding or (below 1) reserved but unwritten pages.
- `A` activations: the modelled peak workspace of a prefill step. `fa` says how much of \
it is really live at once.
- `O` overhead: process base plus the load transient (what loading holds above the final \
weights: the sequential load peak, or one copy of the largest tensor) where it exceeds \
what the cache and activations add later.
- `c` additive: what scales with no component (binary, libraries, thread stacks, \
allocator arenas).

The fit minimises relative residuals (small and large models count the same) with Huber \
weights (one outlier cannot dominate), factors bounded to [0, 8], a component that is \
absent or constant in every record kept at factor 1, and a light ridge towards the \
analytic model (0.1% of each unknown's own information) that only matters where \
components are collinear. The fit is then raised by the smallest uplift that keeps inner held-out under-predictions beyond 2% rare (99th \
percentile within 1%), chosen on the training records only. Validation reruns the whole \
procedure with one model shape held out (leave-one-shape-out) and with whole (ctx, batch) \
pairs held out (5 folds). A table reports the scheme with the larger p95; its headroom is \
the largest held-out under-prediction of either scheme, rounded up to 0.1%. The summary \
also gives the held-out figures of the same fit without the uplift, to separate the error \
of the fit from the price of making it one-sided.
";

/// `x` as a percentage with two decimals, `-` for NaN.
fn pct(x: f64) -> String {
    if x.is_nan() {
        "-".into()
    } else {
        format!("{:.2}%", x * 100.0)
    }
}

/// A percent figure (already in percent) with two decimals, `-` for NaN.
fn points(x: f64) -> String {
    if x.is_nan() {
        "-".into()
    } else {
        format!("{x:+.2}%")
    }
}

/// One row of an error table.
fn stats_row(out: &mut String, label: &str, s: &ErrorStats) {
    let _ = writeln!(
        out,
        "| {label} | {} | {} | {} | {} | {} | {:.1} |",
        s.count,
        pct(s.median_abs_rel),
        pct(s.p95_abs_rel),
        pct(s.max_abs_rel),
        pct(s.under_2pct_rate),
        mib(s.worst_under_bytes as f64)
    );
}

/// Whether a validation meets both targets.
fn meets(s: &ErrorStats) -> bool {
    s.p95_abs_rel <= TARGET_P95 && s.under_2pct_rate <= TARGET_UNDER_RATE
}

/// A check mark or a cross for the summary table.
fn verdict(ok: bool) -> &'static str {
    if ok {
        "yes"
    } else {
        "**no**"
    }
}

fn summary(out: &mut String, groups: &[GroupAnalysis], symmetric: &[GroupAnalysis]) {
    out.push_str(
        "| group | records | shapes | (ctx, batch) pairs | validation | held-out p95 | \
         under >2% | targets met | headroom | without uplift: p95 / under >2% | analytic p95 | \
         analytic under >2% |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for g in groups {
        let Some(v) = g.validation() else { continue };
        let shapes: BTreeSet<&ShapeKey> = g.samples.iter().map(|s| &s.shape).collect();
        let pairs: BTreeSet<(u32, u32)> = g.samples.iter().map(config_pair).collect();
        let plain = symmetric
            .iter()
            .find(|o| o.key == g.key)
            .and_then(|o| o.scheme(v.scheme))
            .map(|r| {
                format!(
                    "{} / {}",
                    pct(r.stats.p95_abs_rel),
                    pct(r.stats.under_2pct_rate)
                )
            })
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.1}% | {plain} | {} | {} |",
            g.key,
            g.samples.len(),
            shapes.len(),
            pairs.len(),
            v.scheme,
            pct(v.stats.p95_abs_rel),
            pct(v.stats.under_2pct_rate),
            verdict(meets(&v.stats)),
            g.headroom_pct(),
            pct(g.analytic.p95_abs_rel),
            pct(g.analytic.under_2pct_rate),
        );
    }
}

/// Per external engine: what ran, and each analytic buffer against the engine's own log.
/// What a process role is, for the engine sections.
fn role_words(role: Role) -> &'static str {
    match role {
        Role::Cli => "",
        Role::Server => {
            " `llama-server` with parallel slots, measured with `profiler exec --serve` (the server \
             started on a free port, a workload of concurrent requests in waves, every slot busy \
             at once, then stopped; the peak of its whole tree): \
             [plots/server_slots.svg](plots/server_slots.svg) shows each model's peak against \
             its slots."
        }
        Role::RpcClient => {
            " The client of a model split over RPC workers (`--rpc`, `--tensor-split`, `-ngl`), \
             measured with `profiler exec --hosts` (one `rpc-server` per worker machine on a \
             localhost port, each process measured separately): \
             [plots/engines_held_out_error.svg](plots/engines_held_out_error.svg) shows its \
             held-out error beside the workers'."
        }
        Role::RpcServer => {
            " The RPC workers (`rpc-server`) of the same split runs, one record per worker: \
             each holds the blocks llama.cpp placed on it, their KV cache and compute."
        }
    }
}

fn engines_section(out: &mut String, ds: &Dataset, groups: &[GroupAnalysis]) {
    let engines: BTreeSet<(&str, Role)> = ds
        .samples
        .iter()
        .map(|s| (s.group.backend.as_str(), s.group.role))
        .filter(|(b, _)| crate::records::is_engine(b))
        .collect();
    if engines.is_empty() {
        return;
    }
    out.push_str(
        "## Engines

Each engine people run is its own backend, with its own analytic model \
         and tables (looked up by exact backend), and each process of a deployment (a \
         command-line run, a server, an RPC client, an RPC worker) has tables of its own. Its \
         records come from `profiler exec --engine` sweeps (`scripts/engines/sweep-*.sh`); the \
         held-out figures below are the worst of leave-one-shape-out, leave-one-model-out and \
         held-out (ctx, batch).\n\n",
    );
    for (b, role) in engines {
        let samples: Vec<&crate::records::Sample> = ds
            .samples
            .iter()
            .filter(|s| s.group.backend == b && s.group.role == role)
            .collect();
        let models: BTreeSet<&str> = samples.iter().map(|s| s.model()).collect();
        let versions: BTreeSet<&str> = samples
            .iter()
            .map(|s| s.engine_version.as_str())
            .filter(|v| !v.is_empty())
            .collect();
        let engine = samples
            .first()
            .map_or_else(|| b.to_string(), |s| s.group.engine());
        let _ = writeln!(
            out,
            "### {engine}\n\n-{} {} records of {} models ({}); engine version(s): {}.",
            role_words(role),
            samples.len(),
            models.len(),
            models.iter().copied().collect::<Vec<_>>().join(", "),
            if versions.is_empty() {
                "not reported".to_string()
            } else {
                versions.iter().copied().collect::<Vec<_>>().join(", ")
            }
        );
        let shipped = crate::tables::build_tables(groups);
        for g in groups
            .iter()
            .filter(|g| g.key.backend == b && g.key.role == role)
        {
            if let Some(v) = g.validation() {
                let models: BTreeSet<&str> = g.samples.iter().map(|s| s.model()).collect();
                let table = if shipped.iter().any(|t| t.name == g.key.name()) {
                    "shipped"
                } else {
                    "not shipped: it validates worse than the all-types table, which covers it"
                };
                let _ = writeln!(
                    out,
                    "- `{}` ({} records, {} models): held-out p95 {} ({}), under-predicted by \
                     more than 2% in {}; analytic alone p95 {}; table {table}.",
                    g.key,
                    g.samples.len(),
                    models.len(),
                    pct(v.stats.p95_abs_rel),
                    v.scheme,
                    pct(v.stats.under_2pct_rate),
                    pct(g.analytic.p95_abs_rel)
                );
            }
        }
        let owned: Vec<crate::records::Sample> = samples.iter().map(|s| (*s).clone()).collect();
        let checks = crate::engines::component_checks(b, &owned);
        if checks.is_empty() {
            out.push_str("- The engine prints no buffer sizes to check components against.\n\n");
            continue;
        }
        out.push_str(
            "\nThe analytic buffers against the sizes the engine printed (`predictor estimate \
             --json` gives them as `buffers`):\n\n| component | records | median abs error | \
             p95 abs error | max abs error |\n|---|---|---|---|---|\n",
        );
        for c in checks {
            let what = crate::engines::COMPONENTS
                .iter()
                .find(|(n, _)| *n == c.component)
                .map_or("", |(_, w)| w);
            let _ = writeln!(
                out,
                "| {} ({what}) | {} | {} | {} | {} |",
                c.component,
                c.stats.count,
                pct(c.stats.median_abs_rel),
                pct(c.stats.p95_abs_rel),
                pct(c.stats.max_abs_rel)
            );
        }
        out.push('\n');
    }
}

fn correction_section(out: &mut String, g: &GroupAnalysis) {
    let fit = &g.calibrated.fit;
    let raw = factors(&fit.correction);
    let stored = factors(&g.calibrated.correction);
    let ranges = g.fold_ranges();
    let range = |j: usize, scale: f64, decimals: usize| match ranges {
        Some(r) => format!(
            "{:.d$} to {:.d$}",
            r[j].0 / scale,
            r[j].1 / scale,
            d = decimals
        ),
        None => "-".into(),
    };
    out.push_str(
        "| term | fitted | stored (with uplift) | stored, range over validation folds | determined |\n\
         |---|---|---|---|---|\n",
    );
    for (j, name) in COMPONENT_NAMES.iter().enumerate() {
        let how = match fit.terms[j] {
            Term::Fitted => "fitted",
            Term::AtBound => "pinned at a bound",
            Term::Absent => "absent: kept at 1",
            Term::Constant => "constant: kept at 1",
            Term::Common => "one factor for all",
            Term::Unselected => "not freed",
        };
        let _ = writeln!(
            out,
            "| {name} | {:.4} | {:.4} | {} | {how} |",
            raw[j],
            stored[j],
            range(j, 1.0, 4)
        );
    }
    let _ = writeln!(
        out,
        "| additive (MiB) | {:+.1} | {:+.1} | {} | fitted |",
        mib(fit.correction.additive_bytes),
        mib(g.calibrated.correction.additive_bytes),
        range(4, 1048576.0, 1)
    );
    let inner = g
        .calibrated
        .inner_scheme
        .map(|s| s.name())
        .unwrap_or("in-sample ratios (too few shapes and pairs)");
    let _ = writeln!(
        out,
        "\nUnknowns freed: {} (chosen on inner folds). Uplift {:+.2}% (inner folds: \
         {inner}); robust scale of the fit's relative residuals {:.2}%, {} of {} records down-weighted as outliers, {} IRLS iterations. \
         Headroom {:.1}%.\n",
        g.calibrated.terms.name(),
        g.calibrated.uplift * 100.0,
        fit.scale * 100.0,
        fit.downweighted,
        fit.records,
        fit.iterations,
        g.headroom_pct()
    );
    if let Some(t) = build_table(g) {
        out.push_str("What the factors mean:\n\n");
        for line in &t.meaning {
            let _ = writeln!(out, "- {line}");
        }
        out.push('\n');
    }
}

fn validation_section(out: &mut String, g: &GroupAnalysis) {
    out.push_str(
        "| estimate | count | median abs | p95 abs | max abs | under >2% | worst miss (MiB) |\n\
         |---|---|---|---|---|---|---|\n",
    );
    stats_row(out, "analytic, uncalibrated (all records)", &g.analytic);
    stats_row(out, "calibrated, in-sample", &g.in_sample);
    for scheme in Scheme::ALL {
        match g.scheme(scheme) {
            Some(SchemeResult {
                folds,
                stats,
                failed,
                ..
            }) => {
                let label = format!("calibrated, {scheme} ({folds} folds)");
                stats_row(out, &label, stats);
                if !failed.is_empty() {
                    let _ = writeln!(out, "| not evaluated: {} | | | | | | |", failed.join("; "));
                }
            }
            None => {
                let _ = writeln!(
                    out,
                    "| calibrated, {scheme}: nothing to hold out | | | | | | |"
                );
            }
        }
    }
    out.push('\n');
}

fn bins_table(out: &mut String, variable: &str, bins: &[Bin]) {
    let _ = writeln!(
        out,
        "| {variable} | records | analytic median | held-out median | worst held-out |\n\
         |---|---|---|---|---|"
    );
    for b in bins {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            b.label,
            b.count,
            points(b.analytic_median_pct),
            points(b.held_out_median_pct),
            points(b.held_out_min_pct)
        );
    }
    out.push('\n');
}

fn phase_section(out: &mut String, g: &GroupAnalysis) {
    let Some(p) = phase_diagnosis(g) else {
        return;
    };
    let _ = writeln!(
        out,
        "Phases ({} records with both measured): the measured peak is the load phase in {} \
         of them, the analytic peak in {}. Measured baseline RSS before the load {:.1} MiB \
         (median), modelled process base {:.1} MiB.\n\n\
         | phase | analytic vs measured peak, median | median miss (MiB) |\n|---|---|---|\n\
         | load (weights + load transient) | {} | {:+.1} |\n\
         | run (weights + KV + activations) | {} | {:+.1} |\n",
        p.count,
        p.load_peaks_measured,
        p.load_peaks_analytic,
        mib(p.baseline_bytes),
        mib(p.modelled_base_bytes),
        points(p.load.0),
        mib(p.load.1),
        points(p.run.0),
        mib(p.run.1),
    );
}

fn alternative_section(out: &mut String, summed: &[GroupAnalysis], phased: &[GroupAnalysis]) {
    let with_phases: Vec<&GroupAnalysis> = phased
        .iter()
        .filter(|g| g.samples.iter().any(|s| s.phases.is_some()))
        .collect();
    if with_phases.is_empty() {
        return;
    }
    out.push_str(
        "## Phase-wise application (not what the predictor applies yet)\n\n\
         The peak of a run is the larger of its load phase (weights plus the transient copy \
         of tensors being converted) and its run phase (weights, KV cache, activations). The \
         predictor folds both into one sum, so one set of factors must serve two regimes. \
         Applying the same kind of correction to each phase's analytic components and taking \
         the larger (each phase fitted on its own measured peak, same robust fit, uplift and \
         validation) gives:\n\n\
         | group | held-out p95 (phases) | under >2% (phases) | held-out p95 (summed, tables) | \
         weights | kv_cache | activations | overhead | additive (MiB) |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for g in with_phases {
        let Some(v) = g.validation() else { continue };
        let summed_p95 = summed
            .iter()
            .find(|s| s.key == g.key)
            .and_then(|s| s.validation())
            .map(|v| pct(v.stats.p95_abs_rel))
            .unwrap_or_else(|| "-".into());
        let c = &g.calibrated.correction;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.4} | {:.4} | {:.4} | {:.4} | {:+.1} |",
            g.key,
            pct(v.stats.p95_abs_rel),
            pct(v.stats.under_2pct_rate),
            summed_p95,
            c.weights,
            c.kv_cache,
            c.activations,
            c.overhead,
            mib(c.additive_bytes)
        );
    }
    out.push('\n');
}

fn diagnosis_section(out: &mut String, g: &GroupAnalysis) {
    phase_section(out, g);
    let d = diagnose(g);
    out.push_str(
        "Signed error (predicted - measured) / measured: negative is an under-prediction.\n\n\
         | trend per doubling of | analytic | held-out calibrated |\n|---|---|---|\n",
    );
    for t in &d.trends {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            t.variable,
            points(t.analytic_pct_per_doubling),
            points(t.held_out_pct_per_doubling)
        );
    }
    out.push('\n');
    for (variable, bins) in &d.bins {
        bins_table(out, variable, bins);
    }
    if d.findings.is_empty() {
        out.push_str("No trend beyond 1 point per doubling.\n\n");
    } else {
        for f in &d.findings {
            let _ = writeln!(out, "- {f}");
        }
        out.push('\n');
    }
}

/// The Markdown text of the report.
pub fn markdown(ds: &Dataset, groups: &[GroupAnalysis], skipped: &[String]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# memcal calibration accuracy\n\n\
         Generated by `{GENERATED_BY}` (tables: `cargo run --release -p calibration -- fit`) \
         from the records in `calibration/data`; `cargo run --release -p calibration -- check` \
         fails when this file, its plots or the tables differ from what the records give.\n"
    );
    out.push_str("## Data\n\n");
    let files = if ds.files.is_empty() {
        "none".to_string()
    } else {
        ds.files
            .iter()
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        out,
        "- Data files: {files}.\n- Usable records: {}; not completed (oom/error): {}; \
         without a peak for their device: {}; left out with a peak below {} MiB: {} (the \
         kernel's RSS counters are exact to about 0.5 MiB, more than 1.5% of such a peak: \
         they measure the counters more than the model).\n- Groups analysed: {}.",
        ds.samples.len(),
        ds.not_ok,
        ds.no_peak,
        crate::records::MIN_PEAK_BYTES >> 20,
        ds.below_resolution,
        groups.len()
    );
    for s in skipped {
        let _ = writeln!(out, "- Not fitted: {s}.");
    }
    for w in &ds.warnings {
        let _ = writeln!(out, "- Warning: {w}.");
    }
    out.push('\n');
    if groups.is_empty() {
        out.push_str("No group could be fitted yet: run the profiler's sweep first.\n\n");
    } else {
        let _ = writeln!(
            out,
            "## Targets\n\nHeld-out p95 absolute relative error <= {:.0}% and under-predictions \
             beyond 2% in <= {:.0}% of configurations, per group.\n",
            TARGET_P95 * 100.0,
            TARGET_UNDER_RATE * 100.0
        );
        let symmetric = Procedure {
            uplift: UpliftPolicy::NONE,
            ..Procedure::default()
        };
        summary(&mut out, groups, &analyse(ds, &symmetric).0);
        out.push('\n');
        engines_section(&mut out, ds, groups);
    }
    let phased = Procedure {
        fit: FitOptions {
            model: Model::Phased,
            ..FitOptions::default()
        },
        ..Procedure::default()
    };
    alternative_section(&mut out, groups, &analyse(ds, &phased).0);
    let _ = writeln!(out, "## The correction model\n\n{MODEL_TEXT}");
    for g in groups {
        let _ = writeln!(out, "## {}\n\n### Correction\n", g.key);
        correction_section(&mut out, g);
        out.push_str("### Validation\n\n");
        validation_section(&mut out, g);
        out.push_str("### Where the error lies\n\n");
        diagnosis_section(&mut out, g);
    }
    out.push_str("## Plots\n\n");
    for (stem, caption) in PLOTS {
        let _ = writeln!(
            out,
            "![{stem}]({PLOTS_DIR}/{stem}.png)\n\n{caption} ([SVG]({PLOTS_DIR}/{stem}.svg))\n"
        );
    }
    out
}

/// Writes `accuracy.md` and the plots into `dir`; returns the files written, relative
/// to `dir`.
pub fn write_report(
    dir: &Path,
    ds: &Dataset,
    groups: &[GroupAnalysis],
    skipped: &[String],
) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).map_err(|e| CalibrationError::io(dir, e))?;
    let md = dir.join(REPORT_FILE);
    crate::paths::write_atomic(&md, markdown(ds, groups, skipped))?;
    let mut written = vec![REPORT_FILE.to_string()];
    let plots = crate::plots::render_all(groups, &dir.join(PLOTS_DIR))?;
    written.extend(plots.into_iter().map(|p| format!("{PLOTS_DIR}/{p}")));
    written.extend(write_gpu_logs(dir)?);
    Ok(written)
}

/// Writes the GPU log corpus's report (`gpu-logs.md`) and its plot into `dir`.
fn write_gpu_logs(dir: &Path) -> Result<Vec<String>> {
    use crate::gpu_logs::report::{markdown, replay_all, REPORT_FILE as GPU_REPORT};
    let corpus = crate::paths::workspace_root().join("calibration/gpu-logs");
    let runs = crate::gpu_logs::load(&corpus)?;
    let replayed = replay_all(&runs);
    let plot = crate::plots::gpu_logs::GpuLogsError::new(&replayed);
    let stem = format!("{PLOTS_DIR}/gpu_logs_error");
    crate::paths::write_atomic(&dir.join(GPU_REPORT), markdown(&replayed, &stem))?;
    let mut written = vec![GPU_REPORT.to_string()];
    let files = crate::plots::render(&plot, &dir.join(PLOTS_DIR))?;
    written.extend(files.into_iter().map(|p| format!("{PLOTS_DIR}/{p}")));
    Ok(written)
}

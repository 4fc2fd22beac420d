//! Where the error lies: signed relative error binned by context, batch, micro-batch and
//! model, and its trend per doubling of each. A trend in the *analytic* error points at
//! the analytic term that scales wrongly; a trend left in the *held-out calibrated* error
//! is what no constant factor can fix, so the analytic model itself must change.

use crate::analysis::{analytic_outcomes, GroupAnalysis};
use crate::records::Sample;
use crate::stats::{median, Outcome};
use std::collections::BTreeMap;

/// A trend steeper than this (percentage points per doubling) is reported as a finding.
pub const TREND_THRESHOLD_PCT: f64 = 1.0;

/// Errors of the records sharing one value of a variable.
#[derive(Debug, Clone, PartialEq)]
pub struct Bin {
    /// The value (e.g. `4096`).
    pub label: String,
    /// Records.
    pub count: usize,
    /// Median signed error of the analytic estimate, percent.
    pub analytic_median_pct: f64,
    /// Median signed held-out calibrated error, percent (NaN when none held out).
    pub held_out_median_pct: f64,
    /// Most negative held-out calibrated error (the worst under-prediction), percent.
    pub held_out_min_pct: f64,
}

/// Least-squares slope of the signed error against log2 of a variable.
#[derive(Debug, Clone, PartialEq)]
pub struct Trend {
    /// The variable.
    pub variable: &'static str,
    /// Analytic error, percentage points per doubling.
    pub analytic_pct_per_doubling: f64,
    /// Held-out calibrated error, percentage points per doubling.
    pub held_out_pct_per_doubling: f64,
}

/// A variable the error is examined against: name, what it says about the model, its
/// value for a sample.
struct Variable {
    name: &'static str,
    terms: &'static str,
    value: fn(&Sample) -> f64,
    bin: fn(f64) -> (u64, String),
}

const VARIABLES: [Variable; 5] = [
    Variable {
        name: "context",
        terms: "the context-proportional terms (KV cache, attention scores, f32 K/V views)",
        value: |s| s.config.ctx as f64,
        bin: exact_bin,
    },
    Variable {
        name: "batch",
        terms: "the batch-proportional terms (KV cache, activations, logits)",
        value: |s| s.config.batch as f64,
        bin: exact_bin,
    },
    Variable {
        name: "micro-batch",
        terms: "the chunk-proportional activation terms (scores, hidden and FFN vectors)",
        value: |s| s.config.effective_ubatch() as f64,
        bin: exact_bin,
    },
    Variable {
        name: "score buffer (MiB)",
        terms: "the attention-score buffers (batch x heads x micro-batch x ctx, f32): how \
                many are live at once",
        value: |s| {
            let c = &s.config;
            let bytes = c.batch as f64
                * s.profile.shape.n_heads as f64
                * c.effective_ubatch() as f64
                * c.ctx as f64
                * 4.0;
            (bytes / 1048576.0).max(1.0 / 1024.0)
        },
        bin: power_of_two_bin,
    },
    Variable {
        name: "model size",
        terms: "the weight and load-transient terms, or a constant the analytic base \
                misses (a constant weighs more on small models)",
        value: |s| s.components.weights.max(1) as f64,
        bin: exact_bin,
    },
];

/// One group's diagnosis.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnosis {
    /// Bins per variable name (context, batch, micro-batch) and per model.
    pub bins: Vec<(&'static str, Vec<Bin>)>,
    /// Trends per variable.
    pub trends: Vec<Trend>,
    /// Findings in words (empty when no trend passes the threshold).
    pub findings: Vec<String>,
}

/// A bin per value (context, batch and micro-batch take few values).
fn exact_bin(v: f64) -> (u64, String) {
    (v as u64, format!("{}", v as u64))
}

/// A bin per power of two (sizes in MiB): `[2^k, 2^(k+1))`, everything below 1 together.
fn power_of_two_bin(v: f64) -> (u64, String) {
    if v < 1.0 {
        return (0, "<1".into());
    }
    let lo = 2f64.powf(v.log2().floor()) as u64;
    (lo, format!("{lo}-{}", 2 * lo))
}

/// Slope of `y` on `log2(x)`; 0 with fewer than two distinct x.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let lx: Vec<f64> = points.iter().map(|p| p.0.log2()).collect();
    let mx = lx.iter().sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = lx.iter().map(|x| (x - mx).powi(2)).sum();
    if sxx < 1e-12 {
        return 0.0;
    }
    let sxy: f64 = lx
        .iter()
        .zip(points)
        .map(|(x, p)| (x - mx) * (p.1 - my))
        .sum();
    sxy / sxx
}

/// Diagnoses a group from its analytic errors and the held-out errors of its validation
/// scheme.
pub fn diagnose(g: &GroupAnalysis) -> Diagnosis {
    let analytic: Vec<f64> = analytic_outcomes(&g.samples)
        .iter()
        .map(|o| o.rel_error() * 100.0)
        .collect();
    let mut held: Vec<Option<f64>> = vec![None; g.samples.len()];
    if let Some(v) = g.validation() {
        for h in &v.held_out {
            held[h.index] = Some(Outcome::rel_error(&h.outcome) * 100.0);
        }
    }
    let bin_by = |key: &dyn Fn(&Sample) -> (u64, String)| {
        let mut map: BTreeMap<(u64, String), Vec<usize>> = BTreeMap::new();
        for (i, s) in g.samples.iter().enumerate() {
            map.entry(key(s)).or_default().push(i);
        }
        map.into_iter()
            .map(|((_, label), idx)| {
                let a: Vec<f64> = idx.iter().map(|&i| analytic[i]).collect();
                let h: Vec<f64> = idx.iter().filter_map(|&i| held[i]).collect();
                Bin {
                    label,
                    count: idx.len(),
                    analytic_median_pct: median(&a),
                    held_out_median_pct: if h.is_empty() { f64::NAN } else { median(&h) },
                    held_out_min_pct: h.iter().copied().fold(f64::NAN, f64::min),
                }
            })
            .collect::<Vec<Bin>>()
    };
    let mut bins = Vec::new();
    for v in &VARIABLES[..4] {
        let (f, bin) = (v.value, v.bin);
        bins.push((v.name, bin_by(&|s| bin(f(s)))));
    }
    bins.push((
        "model",
        bin_by(&|s| (s.components.weights, s.model().to_string())),
    ));

    let mut trends = Vec::new();
    let mut findings = Vec::new();
    for v in &VARIABLES {
        let xs: Vec<f64> = g.samples.iter().map(v.value).collect();
        let a: Vec<(f64, f64)> = xs.iter().copied().zip(analytic.iter().copied()).collect();
        let h: Vec<(f64, f64)> = xs
            .iter()
            .zip(&held)
            .filter_map(|(&x, e)| e.map(|e| (x, e)))
            .collect();
        let t = Trend {
            variable: v.name,
            analytic_pct_per_doubling: slope(&a),
            held_out_pct_per_doubling: slope(&h),
        };
        if t.analytic_pct_per_doubling.abs() >= TREND_THRESHOLD_PCT {
            findings.push(format!(
                "analytic error moves {:+.2} points per doubling of {}: {} scale differently \
                 than the runtime ({} as {} grows)",
                t.analytic_pct_per_doubling,
                v.name,
                v.terms,
                if t.analytic_pct_per_doubling > 0.0 {
                    "over-predicted more"
                } else {
                    "under-predicted more"
                },
                v.name
            ));
        }
        if t.held_out_pct_per_doubling.abs() >= TREND_THRESHOLD_PCT {
            findings.push(format!(
                "after calibration the held-out error still moves {:+.2} points per doubling \
                 of {}: no constant factor fixes {}; the analytic model should change there",
                t.held_out_pct_per_doubling, v.name, v.terms
            ));
        }
        trends.push(t);
    }
    Diagnosis {
        bins,
        trends,
        findings,
    }
}

/// The analytic estimate phase by phase: which phase peaks, and how far each phase's
/// analytic figure is from its measured peak.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseDiagnosis {
    /// Records with both phases measured.
    pub count: usize,
    /// Records whose measured peak is the load phase.
    pub load_peaks_measured: usize,
    /// Records whose analytic peak is the load phase.
    pub load_peaks_analytic: usize,
    /// Median measured baseline RSS before the load, bytes.
    pub baseline_bytes: f64,
    /// The process base the analytic overhead assumes (median), bytes.
    pub modelled_base_bytes: f64,
    /// Load phase: median signed error (percent) and median miss (analytic - measured,
    /// bytes).
    pub load: (f64, f64),
    /// Run phase (KV allocation, prefill, decode): the same.
    pub run: (f64, f64),
}

/// The phase diagnosis of a group (None when no record has both phases).
pub fn phase_diagnosis(g: &GroupAnalysis) -> Option<PhaseDiagnosis> {
    let phases: Vec<_> = g.samples.iter().filter_map(|s| s.phases).collect();
    if phases.is_empty() {
        return None;
    }
    let summary = |pairs: Vec<(f64, f64)>| {
        let pct: Vec<f64> = pairs.iter().map(|(a, m)| (a - m) / m * 100.0).collect();
        let bytes: Vec<f64> = pairs.iter().map(|(a, m)| a - m).collect();
        (median(&pct), median(&bytes))
    };
    let f = |v: Vec<f64>| median(&v);
    Some(PhaseDiagnosis {
        count: phases.len(),
        load_peaks_measured: phases.iter().filter(|p| p.load_peak >= p.run_peak).count(),
        load_peaks_analytic: phases
            .iter()
            .filter(|p| p.load.used() >= p.run.used())
            .count(),
        baseline_bytes: f(phases.iter().map(|p| p.baseline as f64).collect()),
        modelled_base_bytes: f(phases.iter().map(|p| p.run.overhead as f64).collect()),
        load: summary(
            phases
                .iter()
                .map(|p| (p.load.used() as f64, p.load_peak as f64))
                .collect(),
        ),
        run: summary(
            phases
                .iter()
                .map(|p| (p.run.used() as f64, p.run_peak as f64))
                .collect(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::analyse_group;
    use crate::one_sided::Procedure;
    use crate::synthetic::{synthetic_group, Truth};

    #[test]
    fn slope_per_doubling() {
        let pts = [(1.0, 0.0), (2.0, 1.5), (4.0, 3.0), (8.0, 4.5)];
        assert!((slope(&pts) - 1.5).abs() < 1e-12);
        assert_eq!(slope(&[(4.0, 1.0), (4.0, 2.0)]), 0.0);
    }

    #[test]
    fn a_context_dependent_miss_is_found() {
        // The runtime holds twice the modelled KV cache: the analytic estimate falls
        // further behind as the context grows.
        let truth = Truth {
            factors: [1.0, 2.0, 1.0, 1.0],
            additive_bytes: 0.0,
        };
        let samples = synthetic_group("Q8_0", &truth, 0.0);
        let key = samples[0].group.clone();
        let g = analyse_group(&key, samples, &Procedure::default()).unwrap();
        let d = diagnose(&g);
        let ctx = &d.trends[0];
        assert_eq!(ctx.variable, "context");
        assert!(
            ctx.analytic_pct_per_doubling < -TREND_THRESHOLD_PCT,
            "{ctx:?}"
        );
        // The calibrated fit absorbs a pure factor: nothing left to find after it.
        assert!(
            ctx.held_out_pct_per_doubling.abs() < TREND_THRESHOLD_PCT,
            "{ctx:?}"
        );
        assert!(d.findings.iter().any(|f| f.contains("doubling of context")));
        let ctx_bins = &d.bins[0].1;
        assert_eq!(ctx_bins.len(), 5);
        assert!(ctx_bins[0].analytic_median_pct > ctx_bins[4].analytic_median_pct);
    }
}

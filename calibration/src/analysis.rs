//! Everything computed for one group: the calibrated correction on all its records, the
//! held-out validation under both schemes, and the uncalibrated analytic error beside it.
//! `fit`, `report` and `check` all start from here, so they cannot disagree.

use crate::cross_validation::{folds, held_out, HeldOut, Scheme};
use crate::fit::Model;
use crate::one_sided::{calibrate, Calibrated, Procedure};
use crate::records::{Dataset, GroupKey, Sample};
use crate::stats::{error_stats, Outcome};
use predictor::calibrate::table::{Correction, ErrorStats};

/// Held-out results of one scheme.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemeResult {
    /// The scheme.
    pub scheme: Scheme,
    /// Folds run.
    pub folds: usize,
    /// Held-out predictions, by sample index.
    pub held_out: Vec<HeldOut>,
    /// The correction each fold fitted (uplift included), with the fold's label.
    pub corrections: Vec<(String, Correction)>,
    /// Folds whose fit failed (not evaluated), with the reason.
    pub failed: Vec<String>,
    /// Error figures of the held-out predictions.
    pub stats: ErrorStats,
}

/// One group's analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupAnalysis {
    /// The group.
    pub key: GroupKey,
    /// Its samples, in load order (held-out indices refer to these).
    pub samples: Vec<Sample>,
    /// How the correction is applied.
    pub model: Model,
    /// The correction fitted on every sample.
    pub calibrated: Calibrated,
    /// Held-out results per scheme that had folds.
    pub schemes: Vec<SchemeResult>,
    /// The analytic estimate (no correction) on every sample.
    pub analytic: ErrorStats,
    /// The final correction on the samples it was fitted on (in-sample, for reference).
    pub in_sample: ErrorStats,
}

impl GroupAnalysis {
    /// The validation figures a table carries: the scheme with the larger held-out p95
    /// (leave-one-shape-out on a tie), the conservative reading.
    pub fn validation(&self) -> Option<&SchemeResult> {
        self.schemes.iter().filter(|r| r.stats.count > 0).fold(
            None,
            |best: Option<&SchemeResult>, r| match best {
                Some(b) if b.stats.p95_abs_rel >= r.stats.p95_abs_rel => Some(b),
                _ => Some(r),
            },
        )
    }

    /// The held-out results of a scheme, if it ran.
    pub fn scheme(&self, scheme: Scheme) -> Option<&SchemeResult> {
        self.schemes.iter().find(|r| r.scheme == scheme)
    }

    /// Headroom in percent: the largest held-out under-prediction of either scheme,
    /// rounded up to 0.1%, so that with it no held-out record is under-predicted.
    pub fn headroom_pct(&self) -> f64 {
        let worst = self
            .schemes
            .iter()
            .flat_map(|r| r.held_out.iter())
            .map(|h| h.outcome.measured / h.outcome.predicted.max(1.0) - 1.0)
            .fold(0.0f64, f64::max);
        // Round the percent up to a tenth; the 1e-9 keeps exact tenths where they are.
        ((worst * 1000.0 - 1e-9).ceil().max(0.0)) / 10.0
    }

    /// The range (min, max) of each factor and of the additive term over the folds of the
    /// validation scheme, each fold's uplift included (so it compares with the stored
    /// correction): how well the records determine each term. None without folds.
    pub fn fold_ranges(&self) -> Option<[(f64, f64); 5]> {
        let v = self.validation()?;
        if v.corrections.is_empty() {
            return None;
        }
        let mut out = [(f64::INFINITY, f64::NEG_INFINITY); 5];
        for (_, c) in &v.corrections {
            let f = crate::fit::factors(c);
            let values = [f[0], f[1], f[2], f[3], c.additive_bytes];
            for (r, x) in out.iter_mut().zip(values) {
                *r = (r.0.min(x), r.1.max(x));
            }
        }
        Some(out)
    }

    /// Outcomes of the final correction on every sample.
    pub fn calibrated_outcomes(&self) -> Vec<Outcome> {
        self.samples
            .iter()
            .map(|s| Outcome {
                predicted: self.model.predict(&self.calibrated.correction, s),
                measured: s.measured as f64,
            })
            .collect()
    }
}

/// Outcomes of the analytic estimate (the components' sum).
pub fn analytic_outcomes(samples: &[Sample]) -> Vec<Outcome> {
    samples
        .iter()
        .map(|s| Outcome {
            predicted: s.analytic_used() as f64,
            measured: s.measured as f64,
        })
        .collect()
}

/// Analyses one group's samples. Fails when the group cannot be fitted at all.
pub fn analyse_group(
    key: &GroupKey,
    samples: Vec<Sample>,
    procedure: &Procedure,
) -> crate::error::Result<GroupAnalysis> {
    let refs: Vec<&Sample> = samples.iter().collect();
    let name = key.name();
    let calibrated = calibrate(&name, &refs, procedure)?;
    let mut schemes = Vec::new();
    for scheme in Scheme::ALL {
        let f = folds(&refs, scheme);
        if f.is_empty() {
            continue;
        }
        let run = held_out(&refs, &f, procedure.fit.model, |label, train| {
            calibrate(&format!("{name}, {label}"), train, procedure).map(|c| c.correction)
        });
        let outcomes: Vec<Outcome> = run.predictions.iter().map(|h| h.outcome).collect();
        schemes.push(SchemeResult {
            scheme,
            folds: f.len(),
            stats: error_stats(&outcomes),
            held_out: run.predictions,
            corrections: run.corrections,
            failed: run.failed,
        });
    }
    let analytic = error_stats(&analytic_outcomes(&samples));
    let mut g = GroupAnalysis {
        key: key.clone(),
        model: procedure.fit.model,
        samples,
        calibrated,
        schemes,
        analytic,
        in_sample: ErrorStats::default(),
    };
    g.in_sample = error_stats(&g.calibrated_outcomes());
    Ok(g)
}

/// Every group of a dataset that could be analysed, sorted by key, and a line for each
/// group that could not (too few records to fit, or nothing to hold out).
pub fn analyse(ds: &Dataset, procedure: &Procedure) -> (Vec<GroupAnalysis>, Vec<String>) {
    let mut done = Vec::new();
    let mut skipped = Vec::new();
    for key in ds.groups() {
        let samples = ds.group(&key);
        let shapes: std::collections::BTreeSet<_> = samples.iter().map(|s| &s.shape).collect();
        if crate::records::pools_types(&key.backend, key.device_kind)
            && key.qtype != crate::records::ALL_TYPES
            && shapes.len() < 2
        {
            skipped.push(format!(
                "{key}: {} records of one model shape: no model to hold out, so no table of its \
                 own (the {}/{}/{} table covers it)",
                samples.len(),
                key.engine(),
                key.device_kind,
                crate::records::ALL_TYPES
            ));
            continue;
        }
        match analyse_group(&key, samples, procedure) {
            Ok(g) if g.validation().is_some() => done.push(g),
            Ok(g) => skipped.push(format!(
                "{key}: {} records of one shape and one (ctx, batch) pair: nothing to hold out, \
                 so no validated table",
                g.samples.len()
            )),
            Err(e) => skipped.push(format!("{key}: {e}")),
        }
    }
    (done, skipped)
}

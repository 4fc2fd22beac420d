//! The one-sided calibration procedure: a robust fit, then a uniform uplift chosen on the
//! training records only, so that under-predictions beyond 2% stay rare.
//!
//! First the unknowns to free are chosen ([`crate::fit::Terms`]: none, the additive term
//! only, a common factor, or a factor per component): the one whose inner held-out p95
//! miss is smallest, the simpler on a tie. Records of two or three model shapes rarely support
//! four separate factors, and a fit that follows them too closely predicts a new shape
//! worse than the analytic estimate does.
//!
//! A symmetric fit under-predicts about half of the records by a little; a memory
//! planner cannot afford that. After fitting, the training records are cross-validated
//! *among themselves* (the inner folds: leave one shape out when there are at least two
//! shapes, held-out configurations otherwise), and the uplift `s` is the smallest that
//! brings the [`UpliftPolicy::quantile`] of the inner held-out ratios
//! `measured / predicted` within [`UpliftPolicy::allowed_under`]:
//! `1 + s = max(1, (1 - allowed_under) * quantile)`. The table's correction is the fit
//! raised by `1 + s` (every factor and the additive term). Nothing of an outer test fold
//! is used to choose `s`.

use crate::cross_validation::{folds, held_out, Scheme};
use crate::error::CalibrationError;
use crate::error::Result;
use crate::fit::{fit, raised, Fit, FitOptions, Terms};
use crate::records::{Sample, ShapeKey};
use crate::stats::{quantile, Outcome};
use predictor::calibrate::table::Correction;
use std::collections::BTreeSet;

/// How far the uplift goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UpliftPolicy {
    /// Quantile of the inner held-out `measured / predicted` ratios to cover.
    pub quantile: f64,
    /// Under-prediction still accepted at that quantile (a fraction).
    pub allowed_under: f64,
}

impl UpliftPolicy {
    /// No uplift at all: the symmetric robust fit (for comparison in the report).
    pub const NONE: UpliftPolicy = UpliftPolicy {
        quantile: 0.0,
        allowed_under: 1.0,
    };
}

impl Default for UpliftPolicy {
    fn default() -> Self {
        UpliftPolicy {
            quantile: 0.99,
            allowed_under: 0.01,
        }
    }
}

/// Settings of the whole procedure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Procedure {
    /// The fit.
    pub fit: FitOptions,
    /// The uplift.
    pub uplift: UpliftPolicy,
    /// Choose the freed unknowns by inner cross-validation (else `fit.terms`).
    pub select_terms: bool,
}

impl Default for Procedure {
    fn default() -> Self {
        Procedure {
            fit: FitOptions::default(),
            uplift: UpliftPolicy::default(),
            select_terms: true,
        }
    }
}

/// A calibrated correction: the fit, the uplift and their product.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibrated {
    /// The robust fit.
    pub fit: Fit,
    /// The unknowns it freed.
    pub terms: Terms,
    /// The uplift chosen on inner folds (a fraction, >= 0).
    pub uplift: f64,
    /// The scheme of the inner folds (None: too few shapes and pairs, in-sample ratios).
    pub inner_scheme: Option<Scheme>,
    /// The fit raised by the uplift: what the table stores.
    pub correction: Correction,
}

/// The inner scheme for a training set: shapes when there are two or more, else
/// configurations.
pub fn inner_scheme(samples: &[&Sample]) -> Option<Scheme> {
    let shapes: BTreeSet<&ShapeKey> = samples.iter().map(|s| &s.shape).collect();
    if shapes.len() >= 2 {
        return Some(Scheme::LeaveOneShapeOut);
    }
    let pairs: BTreeSet<(u32, u32)> = samples
        .iter()
        .map(|s| crate::cross_validation::config_pair(s))
        .collect();
    (pairs.len() >= 2).then_some(Scheme::HeldOutConfigs)
}

/// The uplift that covers `ratios` (`measured / predicted`) per `policy`.
pub fn choose_uplift(ratios: &[f64], policy: &UpliftPolicy) -> f64 {
    if ratios.is_empty() {
        return 0.0;
    }
    ((1.0 - policy.allowed_under) * quantile(ratios, policy.quantile) - 1.0).max(0.0)
}

/// Held-out `measured / predicted` ratios of a fit with `opts` on the inner folds of
/// `samples` (in-sample ratios without folds).
fn inner_ratios(
    label: &str,
    samples: &[&Sample],
    scheme: Option<Scheme>,
    opts: &FitOptions,
) -> Result<Vec<f64>> {
    match scheme {
        Some(scheme) => {
            let inner = folds(samples, scheme);
            let run = held_out(samples, &inner, opts.model, |l, train| {
                fit(&format!("{label}, inner {l}"), train, opts).map(|f| f.correction)
            });
            Ok(run.predictions.iter().map(|h| ratio(&h.outcome)).collect())
        }
        None => {
            let base = fit(label, samples, opts)?;
            Ok(samples
                .iter()
                .map(|s| {
                    ratio(&Outcome {
                        predicted: opts.model.predict(&base.correction, s),
                        measured: s.measured as f64,
                    })
                })
                .collect())
        }
    }
}

/// p95 of `|ratio - 1|`: how far held-out predictions miss, either way.
fn miss_p95(ratios: &[f64]) -> f64 {
    let miss: Vec<f64> = ratios.iter().map(|r| (r - 1.0).abs()).collect();
    quantile(&miss, 0.95)
}

/// How much smaller (as a fraction) a richer correction's inner held-out p95 miss must be
/// than the simpler one's to be chosen.
pub const SIMPLER_MARGIN: f64 = 0.005;

/// Fits `samples` and raises the fit one-sidedly (see the module documentation).
///
/// With [`Procedure::select_terms`], the unknowns freed ([`Terms`]) are chosen first: the
/// choice whose inner held-out p95 miss is smallest, the simpler on a tie; without inner
/// folds nothing can justify any correction, and the analytic estimate is kept.
pub fn calibrate(label: &str, samples: &[&Sample], procedure: &Procedure) -> Result<Calibrated> {
    let scheme = inner_scheme(samples);
    let candidates: Vec<Terms> = match (procedure.select_terms, scheme) {
        (false, _) => vec![procedure.fit.terms],
        (true, None) => vec![Terms::Analytic],
        (true, Some(_)) => Terms::ALL.to_vec(),
    };
    let mut best: Option<(f64, FitOptions, Vec<f64>)> = None;
    let mut last_error = None;
    for terms in candidates {
        let opts = FitOptions {
            terms,
            ..procedure.fit
        };
        match inner_ratios(label, samples, scheme, &opts) {
            Ok(ratios) if !ratios.is_empty() => {
                let score = miss_p95(&ratios);
                // A richer correction must beat the simpler one by a clear margin, not by
                // the noise of a few inner folds (the one-standard-error habit).
                let better = match &best {
                    None => true,
                    Some(b) => score < b.0 - SIMPLER_MARGIN,
                };
                if better {
                    best = Some((score, opts, ratios));
                }
            }
            Ok(_) => {}
            Err(e) => last_error = Some(e),
        }
    }
    let Some((_, opts, ratios)) = best else {
        return Err(last_error
            .unwrap_or_else(|| CalibrationError::fit(label, "no inner fold could be fitted")));
    };
    let base = fit(label, samples, &opts)?;
    let uplift = choose_uplift(&ratios, &procedure.uplift);
    Ok(Calibrated {
        correction: raised(&base.correction, uplift),
        fit: base,
        terms: opts.terms,
        uplift,
        inner_scheme: scheme,
    })
}

/// `measured / predicted`, with a prediction of zero treated as one byte.
fn ratio(o: &Outcome) -> f64 {
    o.measured / o.predicted.max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::Terms;
    use crate::synthetic::{synthetic_group, Truth};

    #[test]
    fn uplift_covers_the_quantile_and_never_lowers() {
        let policy = UpliftPolicy {
            quantile: 1.0,
            allowed_under: 0.0,
        };
        assert!((choose_uplift(&[0.9, 1.0, 1.05], &policy) - 0.05).abs() < 1e-12);
        assert_eq!(choose_uplift(&[0.8, 0.9], &policy), 0.0);
        assert_eq!(choose_uplift(&[], &policy), 0.0);
    }

    #[test]
    fn the_simplest_correction_that_generalises_is_chosen() {
        // Only a constant is missing: freeing factors can only fit the noise.
        let offset = Truth {
            factors: [1.0; 4],
            additive_bytes: 30.0 * 1048576.0,
        };
        let samples = synthetic_group("Q4_0", &offset, 0.01);
        let refs: Vec<&Sample> = samples.iter().collect();
        let c = calibrate("offset", &refs, &Procedure::default()).unwrap();
        assert_eq!(c.terms, Terms::Additive);
        assert!((c.fit.correction.additive_bytes / offset.additive_bytes - 1.0).abs() < 0.05);
        // Nothing is missing: no correction beats the analytic estimate on held-out records.
        let exact = Truth {
            factors: [1.0; 4],
            additive_bytes: 0.0,
        };
        let samples = synthetic_group("Q4_0", &exact, 0.01);
        let refs: Vec<&Sample> = samples.iter().collect();
        let c = calibrate("exact", &refs, &Procedure::default()).unwrap();
        assert_eq!(c.terms, Terms::Analytic);
        // Components off by different factors: only separate factors predict well.
        let skewed = Truth {
            factors: [1.05, 1.4, 0.5, 1.0],
            additive_bytes: 0.0,
        };
        let samples = synthetic_group("Q4_0", &skewed, 0.002);
        let refs: Vec<&Sample> = samples.iter().collect();
        let c = calibrate("skewed", &refs, &Procedure::default()).unwrap();
        assert_eq!(c.terms, Terms::Full);
    }

    #[test]
    fn noisy_records_get_an_uplift_that_removes_most_under_predictions() {
        let truth = Truth {
            factors: [1.02, 1.0, 0.8, 1.0],
            additive_bytes: 30.0 * 1048576.0,
        };
        let samples = synthetic_group("TL2", &truth, 0.02);
        let refs: Vec<&Sample> = samples.iter().collect();
        let c = calibrate("noisy", &refs, &Procedure::default()).unwrap();
        assert_eq!(c.inner_scheme, Some(Scheme::LeaveOneShapeOut));
        assert!(c.uplift > 0.0 && c.uplift < 0.03, "{}", c.uplift);
        let under = refs
            .iter()
            .filter(|s| {
                crate::fit::predict(&c.correction, &s.components) < 0.98 * s.measured as f64
            })
            .count();
        assert!(under * 100 <= refs.len(), "{under} of {}", refs.len());
        assert!((c.correction.weights / c.fit.correction.weights - 1.0 - c.uplift).abs() < 1e-12);
    }
}

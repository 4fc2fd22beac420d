//! The robust, bounded fit of one correction.
//!
//! Model: `measured ~= fw*W + fk*K + fa*A + fo*O + c`, with `W, K, A, O` the analytic
//! components (weights, KV cache, activations, overhead) of the measured device. The fit
//! minimises *relative* residuals `(prediction - measured) / measured`, so a 200 MiB
//! model and a 20 GiB model weigh the same: each row of the least-squares system is
//! divided by its measurement, and the target is 1.
//!
//! - **Robust**: iteratively reweighted least squares with Huber weights on the relative
//!   residuals (tuning constant [`FitOptions::huber_k`] times a MAD scale, floored at
//!   [`FitOptions::min_scale`]). A record far off the others gets a weight that shrinks
//!   with its residual, so one outlier cannot pull the fit; the Huber loss is convex, so
//!   the result does not depend on the starting point.
//! - **Bounded**: factors stay in [`FitOptions::factor_bounds`] (non-negative: a
//!   component cannot give memory back), by an active set: a factor that leaves its
//!   bounds is pinned to the bound and the rest re-solved.
//! - **Identifiable only where the data says something**: a component that is zero in
//!   every record (e.g. no activations modelled) or constant across them (e.g. a fixed
//!   overhead, indistinguishable from `c`) keeps factor 1 and is not fitted; a ridge pull
//!   towards the analytic model (factors 1, `c` = 0), scaled to each unknown's own
//!   information, settles directions the records barely constrain (collinear components)
//!   while moving a well-determined factor by at most 0.1% of its distance from 1.
//! - **Additive term `c`**: what the analytic model has no component for and that does not
//!   scale with any of them (process baseline, allocator arenas, thread stacks). It is
//!   fitted in units of the median measurement, so every unknown is of order 1.

use crate::error::{CalibrationError, Result};
use crate::linalg::solve;
use crate::records::Sample;
use crate::stats::median;
use predictor::calibrate::table::Correction;
use predictor::components::Components;

/// Component names, in the order of [`component_values`] and [`factors`].
pub const COMPONENT_NAMES: [&str; 4] = ["weights", "kv_cache", "activations", "overhead"];

/// Unknowns: four factors and the additive term.
const UNKNOWNS: usize = 5;
/// Index of the additive term among the unknowns.
const ADDITIVE: usize = 4;

/// The four analytic components as numbers, in [`COMPONENT_NAMES`] order.
pub fn component_values(c: &Components) -> [f64; 4] {
    [
        c.weights as f64,
        c.kv_cache as f64,
        c.activations as f64,
        c.overhead as f64,
    ]
}

/// The four factors of a correction, in [`COMPONENT_NAMES`] order.
pub fn factors(c: &Correction) -> [f64; 4] {
    [c.weights, c.kv_cache, c.activations, c.overhead]
}

/// A correction from four factors and an additive term.
pub fn correction_from(f: [f64; 4], additive_bytes: f64) -> Correction {
    Correction {
        weights: f[0],
        kv_cache: f[1],
        activations: f[2],
        overhead: f[3],
        additive_bytes,
    }
}

/// A correction with every factor and the additive term multiplied by `1 + uplift`: the
/// whole prediction raised by that fraction.
pub fn raised(c: &Correction, uplift: f64) -> Correction {
    let s = 1.0 + uplift;
    correction_from(factors(c).map(|f| f * s), c.additive_bytes * s)
}

/// The calibrated peak a correction predicts for analytic components, exactly as the
/// predictor computes it ([`Correction::apply`], then the sum without headroom).
pub fn predict(correction: &Correction, c: &Components) -> f64 {
    correction.apply(c).used() as f64
}

/// How a correction turns a sample's analytic components into a predicted peak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Model {
    /// One set of components whose sum is the peak: what the predictor applies
    /// ([`Correction::apply`] on the estimate's components).
    #[default]
    Summed,
    /// The larger of the corrected load phase and the corrected run phase, each fitted on
    /// its own measured peak ([`crate::records::Phases`]); samples without phases count
    /// as summed.
    Phased,
}

impl Model {
    /// A short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            Model::Summed => "summed components",
            Model::Phased => "max of load and run phases",
        }
    }

    /// The (analytic components, measured bytes) observations a sample gives a fit.
    pub fn observations(&self, s: &Sample) -> Vec<(Components, f64)> {
        match (self, &s.phases) {
            (Model::Phased, Some(p)) => {
                vec![(p.load, p.load_peak as f64), (p.run, p.run_peak as f64)]
            }
            _ => vec![(s.components, s.measured as f64)],
        }
    }

    /// The peak a correction predicts for a sample.
    pub fn predict(&self, correction: &Correction, s: &Sample) -> f64 {
        match (self, &s.phases) {
            (Model::Phased, Some(p)) => {
                predict(correction, &p.load).max(predict(correction, &p.run))
            }
            _ => predict(correction, &s.components),
        }
    }
}

/// Which unknowns a fit frees: from a single additive term to a factor per component.
/// Fewer unknowns generalise better when the records cover few model shapes;
/// [`crate::one_sided::calibrate`] picks among them by inner cross-validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Terms {
    /// Nothing: the analytic estimate as it is (the identity correction).
    Analytic,
    /// Only the additive term; every factor stays 1.
    Additive,
    /// One common factor on every component, and the additive term.
    Scale,
    /// A factor per component and the additive term.
    #[default]
    Full,
}

impl Terms {
    /// Every choice, simplest first (so a tie keeps the simpler).
    pub const ALL: [Terms; 4] = [Terms::Analytic, Terms::Additive, Terms::Scale, Terms::Full];

    /// A short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            Terms::Analytic => "none (the analytic estimate as it is)",
            Terms::Additive => "additive only",
            Terms::Scale => "common factor + additive",
            Terms::Full => "factor per component + additive",
        }
    }
}

/// How a factor was determined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Term {
    /// Fitted freely within its bounds.
    Fitted,
    /// Fitted, but pinned at a bound.
    AtBound,
    /// Zero in every record: kept at 1.
    Absent,
    /// Constant across the records (indistinguishable from the additive term): kept at 1.
    Constant,
    /// One factor shared by every component ([`Terms::Scale`]).
    Common,
    /// Not freed: a correction with fewer unknowns generalised best ([`Terms::Additive`],
    /// [`Terms::Analytic`]).
    Unselected,
}

/// Settings of the fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitOptions {
    /// Huber tuning constant, in robust standard deviations (1.345: 95% efficiency on
    /// normal errors).
    pub huber_k: f64,
    /// Floor of the robust scale of the relative residuals, so a near-perfect fit does
    /// not treat every tiny deviation as an outlier.
    pub min_scale: f64,
    /// IRLS iterations at most.
    pub max_iterations: usize,
    /// Convergence: largest change of any unknown between iterations.
    pub tolerance: f64,
    /// Ridge pull towards factors 1 and `c` = 0, relative to each unknown's own diagonal
    /// of the normal equations (so it resolves collinear directions without biasing
    /// well-determined ones by more than this fraction).
    pub ridge: f64,
    /// Lower and upper bound of every factor.
    pub factor_bounds: (f64, f64),
    /// A component whose spread `(max - min) / max` over the records is below this is
    /// constant: not fitted.
    pub constant_spread: f64,
    /// What the correction is applied to.
    pub model: Model,
    /// Which unknowns are freed.
    pub terms: Terms,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            huber_k: 1.345,
            min_scale: 0.002,
            max_iterations: 200,
            tolerance: 1e-10,
            ridge: 1e-3,
            factor_bounds: (0.0, 8.0),
            constant_spread: 1e-3,
            model: Model::Summed,
            terms: Terms::Full,
        }
    }
}

/// A fitted correction and how it was obtained.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// The correction (before any one-sided uplift).
    pub correction: Correction,
    /// How each factor was determined, in [`COMPONENT_NAMES`] order.
    pub terms: [Term; 4],
    /// Robust scale (1.4826 x MAD) of the relative residuals at convergence.
    pub scale: f64,
    /// IRLS iterations run.
    pub iterations: usize,
    /// Records fitted.
    pub records: usize,
    /// Records with a Huber weight below 1 at convergence (treated as outliers).
    pub downweighted: usize,
}

/// One weighted, ridge-regularised least-squares solve over the `free` unknowns, with
/// factors outside their bounds pinned (active set). `beta` holds the values of the
/// unknowns that are not free and receives the solution; returns which were pinned.
fn solve_bounded(
    rows: &[[f64; UNKNOWNS]],
    weights: &[f64],
    free: &[usize],
    beta: &mut [f64; UNKNOWNS],
    opts: &FitOptions,
) -> Option<[bool; UNKNOWNS]> {
    let prior = [1.0, 1.0, 1.0, 1.0, 0.0];
    let mut active: Vec<usize> = free.to_vec();
    let mut pinned = [false; UNKNOWNS];
    loop {
        let k = active.len();
        let mut a = vec![vec![0.0; k]; k];
        let mut b = vec![0.0; k];
        for (row, &w) in rows.iter().zip(weights) {
            let fixed: f64 = (0..UNKNOWNS)
                .filter(|j| !active.contains(j))
                .map(|j| row[j] * beta[j])
                .sum();
            let target = 1.0 - fixed;
            for (p, &jp) in active.iter().enumerate() {
                b[p] += w * row[jp] * target;
                for (q, &jq) in active.iter().enumerate() {
                    a[p][q] += w * row[jp] * row[jq];
                }
            }
        }
        for (p, &j) in active.iter().enumerate() {
            // Relative to the unknown's own information: an unknown the records determine
            // on its own barely moves (a fraction `ridge` of the way to the prior), one they
            // only determine in combination with another (collinear) stays near it.
            let lambda = opts.ridge * a[p][p];
            a[p][p] += lambda;
            b[p] += lambda * prior[j];
        }
        let x = solve(a, b)?;
        let (lo, hi) = opts.factor_bounds;
        let mut pinned_any = false;
        for (p, &j) in active.iter().enumerate() {
            beta[j] = x[p];
            if j < ADDITIVE && !(lo..=hi).contains(&x[p]) {
                beta[j] = x[p].clamp(lo, hi);
                pinned[j] = true;
                pinned_any = true;
            }
        }
        if !pinned_any {
            return Some(pinned);
        }
        active.retain(|&j| !pinned[j]);
    }
}

/// How a component enters the fit: absent, constant, or fitted.
fn classify(values: impl Iterator<Item = f64>, constant_spread: f64) -> Term {
    let (min, max) = values.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if max <= 0.0 {
        Term::Absent
    } else if (max - min) / max < constant_spread {
        Term::Constant
    } else {
        Term::Fitted
    }
}

/// Fits a correction to samples (see the module documentation). `label` names the group
/// or fold in errors.
pub fn fit(label: &str, samples: &[&Sample], opts: &FitOptions) -> Result<Fit> {
    if samples.is_empty() {
        return Err(CalibrationError::fit(label, "no records"));
    }
    let observations: Vec<(Components, f64)> = samples
        .iter()
        .flat_map(|s| opts.model.observations(s))
        .collect();
    let measured: Vec<f64> = observations.iter().map(|o| o.1).collect();
    let unit = median(&measured);
    let values: Vec<[f64; 4]> = observations
        .iter()
        .map(|o| component_values(&o.0))
        .collect();
    let mut terms = [Term::Fitted; 4];
    for (j, term) in terms.iter_mut().enumerate() {
        *term = classify(values.iter().map(|v| v[j]), opts.constant_spread);
    }
    let present = |t: Term| t != Term::Absent;
    let (rows, free): (Vec<[f64; UNKNOWNS]>, Vec<usize>) = match opts.terms {
        Terms::Full => (
            values
                .iter()
                .zip(&measured)
                .map(|(v, &m)| [v[0] / m, v[1] / m, v[2] / m, v[3] / m, unit / m])
                .collect(),
            (0..4)
                .filter(|&j| terms[j] == Term::Fitted)
                .chain([ADDITIVE])
                .collect(),
        ),
        Terms::Scale => {
            // The sum of the components in the first column; the others stay empty.
            let sums: Vec<f64> = values.iter().map(|v| v.iter().sum()).collect();
            let varies = classify(sums.iter().copied(), opts.constant_spread) == Term::Fitted;
            for t in terms.iter_mut().filter(|t| present(**t)) {
                *t = if varies { Term::Common } else { Term::Constant };
            }
            let rows = sums
                .iter()
                .zip(&measured)
                .map(|(v, &m)| [v / m, 0.0, 0.0, 0.0, unit / m])
                .collect();
            let free = if varies {
                vec![0, ADDITIVE]
            } else {
                vec![ADDITIVE]
            };
            (rows, free)
        }
        Terms::Additive | Terms::Analytic => {
            for t in terms.iter_mut().filter(|t| present(**t)) {
                *t = Term::Unselected;
            }
            let rows = values
                .iter()
                .zip(&measured)
                .map(|(v, &m)| [v[0] / m, v[1] / m, v[2] / m, v[3] / m, unit / m])
                .collect();
            let free = if opts.terms == Terms::Analytic {
                Vec::new()
            } else {
                vec![ADDITIVE]
            };
            (rows, free)
        }
    };
    if samples.len() < 2 * free.len() {
        return Err(CalibrationError::fit(
            label,
            format!(
                "{} records for {} unknowns (at least twice as many needed)",
                samples.len(),
                free.len()
            ),
        ));
    }

    let mut beta = [1.0, 1.0, 1.0, 1.0, 0.0];
    let mut weights = vec![1.0; rows.len()];
    let mut scale = opts.min_scale;
    let mut iterations = 0;
    let mut pinned = [false; UNKNOWNS];
    let singular = || CalibrationError::fit(label, "singular least-squares system");
    while iterations < opts.max_iterations {
        iterations += 1;
        let previous = beta;
        pinned = solve_bounded(&rows, &weights, &free, &mut beta, opts).ok_or_else(singular)?;
        let residuals: Vec<f64> = rows
            .iter()
            .map(|r| r.iter().zip(&beta).map(|(x, b)| x * b).sum::<f64>() - 1.0)
            .collect();
        let centre = median(&residuals);
        let deviations: Vec<f64> = residuals.iter().map(|r| (r - centre).abs()).collect();
        scale = (1.4826 * median(&deviations)).max(opts.min_scale);
        let cut = opts.huber_k * scale;
        for (w, r) in weights.iter_mut().zip(&residuals) {
            *w = if r.abs() <= cut { 1.0 } else { cut / r.abs() };
        }
        let change = beta
            .iter()
            .zip(&previous)
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        if change < opts.tolerance {
            break;
        }
    }
    let f = match opts.terms {
        Terms::Scale => [beta[0]; 4],
        _ => [beta[0], beta[1], beta[2], beta[3]],
    };
    for (j, t) in terms.iter_mut().enumerate() {
        let column = if opts.terms == Terms::Scale { 0 } else { j };
        if pinned[column] && matches!(*t, Term::Fitted | Term::Common) {
            *t = Term::AtBound;
        }
    }
    Ok(Fit {
        correction: correction_from(f, beta[ADDITIVE] * unit),
        terms,
        scale,
        iterations,
        records: samples.len(),
        downweighted: weights.iter().filter(|&&w| w < 1.0).count(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{synthetic_group, synthetic_records, synthetic_samples, Peaks, Truth};

    const TRUTH: Truth = Truth {
        factors: [1.03, 1.10, 0.60, 1.0],
        additive_bytes: 40.0 * 1048576.0,
    };

    fn refs(s: &[Sample]) -> Vec<&Sample> {
        s.iter().collect()
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1.0)
    }

    #[test]
    fn recovers_known_factors() {
        let samples = synthetic_group("I2_S", &TRUTH, 0.0);
        let f = fit("synthetic", &refs(&samples), &FitOptions::default()).unwrap();
        let got = factors(&f.correction);
        for j in 0..3 {
            assert!(close(got[j], TRUTH.factors[j], 5e-3), "{j}: {got:?}");
        }
        // Overhead is a constant base plus the load transient: identifiable, factor 1.
        assert!(close(got[3], 1.0, 1e-2), "{got:?}");
        assert!(
            close(f.correction.additive_bytes, TRUTH.additive_bytes, 1e-2),
            "{}",
            f.correction.additive_bytes
        );
        assert_eq!(f.downweighted, 0);
    }

    #[test]
    fn one_outlier_does_not_move_the_fit() {
        let mut samples = synthetic_group("I2_S", &TRUTH, 0.0);
        let clean = fit("clean", &refs(&samples), &FitOptions::default()).unwrap();
        // One record measured 60% high (a noisy neighbour, a page-cache accident).
        samples[7].measured = (samples[7].measured as f64 * 1.6) as u64;
        let dirty = fit("dirty", &refs(&samples), &FitOptions::default()).unwrap();
        for (a, b) in factors(&clean.correction)
            .iter()
            .zip(factors(&dirty.correction))
        {
            assert!(close(*a, b, 5e-3), "{a} vs {b}");
        }
        assert!(dirty.downweighted >= 1);
        // Ordinary least squares (no reweighting) is pulled much further.
        let ols = FitOptions {
            max_iterations: 1,
            ..FitOptions::default()
        };
        let pulled = fit("ols", &refs(&samples), &ols).unwrap();
        let shift = |c: &Correction| (c.additive_bytes - clean.correction.additive_bytes).abs();
        assert!(shift(&pulled.correction) > 3.0 * shift(&dirty.correction));
    }

    #[test]
    fn absent_and_constant_components_keep_factor_one() {
        let mut samples = synthetic_group("Q4_0", &TRUTH, 0.0);
        for s in &mut samples {
            s.measured -= (s.components.activations as f64 * TRUTH.factors[2]) as u64;
            s.components.activations = 0;
            s.measured -= s.components.overhead;
            s.components.overhead = 7 << 20;
            s.measured += s.components.overhead;
        }
        let f = fit("absent", &refs(&samples), &FitOptions::default()).unwrap();
        assert_eq!(f.terms[2], Term::Absent);
        assert_eq!(f.terms[3], Term::Constant);
        assert_eq!(f.correction.activations, 1.0);
        assert_eq!(f.correction.overhead, 1.0);
        assert!(close(f.correction.weights, TRUTH.factors[0], 1e-3));
    }

    #[test]
    fn factors_stay_within_bounds() {
        // Measurements that fall as the KV cache grows: unbounded, the KV factor would
        // come out negative.
        let falling = Truth {
            factors: [1.5, -0.2, 0.6, 1.0],
            additive_bytes: 200.0 * 1048576.0,
        };
        let samples = synthetic_group("F16", &falling, 0.0);
        let f = fit("bounded", &refs(&samples), &FitOptions::default()).unwrap();
        assert_eq!(f.terms[1], Term::AtBound);
        assert_eq!(f.correction.kv_cache, 0.0);
        for v in factors(&f.correction) {
            assert!((0.0..=8.0).contains(&v));
        }
    }

    #[test]
    fn the_phased_model_recovers_a_truth_applied_per_phase() {
        let records = synthetic_records("I2_S", &TRUTH, 0.0, Peaks::Phased);
        let samples = synthetic_samples(&records);
        assert!(samples.iter().all(|s| s.phases.is_some()));
        let phased = FitOptions {
            model: Model::Phased,
            ..FitOptions::default()
        };
        let f = fit("phased", &refs(&samples), &phased).unwrap();
        let got = factors(&f.correction);
        for j in 0..3 {
            assert!(close(got[j], TRUTH.factors[j], 5e-3), "{j}: {got:?}");
        }
        let worst_phased = samples
            .iter()
            .map(|s| (Model::Phased.predict(&f.correction, s) / s.measured as f64 - 1.0).abs())
            .fold(0.0, f64::max);
        assert!(worst_phased < 2e-3, "{worst_phased}");
        // The summed model cannot express a maximum of two phases exactly.
        let summed = fit("summed", &refs(&samples), &FitOptions::default()).unwrap();
        let worst = samples
            .iter()
            .map(|s| (Model::Summed.predict(&summed.correction, s) / s.measured as f64 - 1.0).abs())
            .fold(0.0, f64::max);
        assert!(worst > 5.0 * worst_phased, "{worst} vs {worst_phased}");
    }

    #[test]
    fn too_few_records_is_an_error() {
        let samples = synthetic_group("I2_S", &TRUTH, 0.0);
        let e = fit("few", &refs(&samples[..3]), &FitOptions::default()).unwrap_err();
        assert!(e.to_string().contains("few"), "{e}");
        assert!(fit("none", &[], &FitOptions::default()).is_err());
    }
}

//! Held-out validation: does a correction fitted on some records predict others?
//!
//! Two schemes, both strict about leakage (nothing of a test fold is seen by its fit):
//!
//! - **Leave one model shape out**: every record of one shape (architecture, layers,
//!   widths, heads, FFN, vocabulary) is predicted by a fit on the other shapes. This is
//!   what a user of a new model meets.
//! - **Held-out configurations**: the distinct (context, batch) pairs are dealt into
//!   folds; every record of a fold's pairs, whatever its model, is predicted by a fit on
//!   the records of the other pairs. This is what a user of a known model at a new
//!   context or batch meets.

use crate::error::Result;
use crate::fit::Model;
use crate::records::{Sample, ShapeKey};
use crate::stats::Outcome;
use predictor::calibrate::table::Correction;
use std::collections::BTreeSet;
use std::fmt;

/// Folds of the held-out-configurations scheme at most.
pub const CONFIG_FOLDS: usize = 5;

/// A validation scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scheme {
    /// One fold per model shape.
    LeaveOneShapeOut,
    /// (context, batch) pairs dealt into at most [`CONFIG_FOLDS`] folds.
    HeldOutConfigs,
    /// One fold per model file (the engines' records: a published model and its
    /// requantized copies are different files of one shape).
    LeaveOneModelOut,
}

impl Scheme {
    /// Both schemes, in report order.
    pub const ALL: [Scheme; 3] = [
        Scheme::LeaveOneShapeOut,
        Scheme::HeldOutConfigs,
        Scheme::LeaveOneModelOut,
    ];

    /// A short name for tables and reports.
    pub fn name(&self) -> &'static str {
        match self {
            Scheme::LeaveOneShapeOut => "leave-one-shape-out",
            Scheme::HeldOutConfigs => "held-out (ctx, batch)",
            Scheme::LeaveOneModelOut => "leave-one-model-out",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One train/test split, by indices into the sample slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fold {
    /// What is held out, for messages.
    pub label: String,
    /// Indices fitted on.
    pub train: Vec<usize>,
    /// Indices predicted.
    pub test: Vec<usize>,
}

/// The (context, batch) pair of a sample.
pub fn config_pair(s: &Sample) -> (u32, u32) {
    (s.config.ctx, s.config.batch)
}

/// Splits `samples` for `scheme`. Fewer than two distinct shapes (or pairs) give no
/// folds: there is nothing to hold out.
pub fn folds(samples: &[&Sample], scheme: Scheme) -> Vec<Fold> {
    let split = |label: String, held: &dyn Fn(&Sample) -> bool| {
        let (test, train): (Vec<usize>, Vec<usize>) =
            (0..samples.len()).partition(|&i| held(samples[i]));
        Fold { label, train, test }
    };
    match scheme {
        Scheme::LeaveOneShapeOut => {
            let shapes: BTreeSet<&ShapeKey> = samples.iter().map(|s| &s.shape).collect();
            if shapes.len() < 2 {
                return Vec::new();
            }
            shapes
                .into_iter()
                .map(|shape| split(format!("shape {shape}"), &|s: &Sample| &s.shape == shape))
                .collect()
        }
        Scheme::LeaveOneModelOut => {
            let models: BTreeSet<&str> = samples.iter().map(|s| s.model_id.as_str()).collect();
            let shapes: BTreeSet<&ShapeKey> = samples.iter().map(|s| &s.shape).collect();
            // With one file per shape this is leave-one-shape-out again.
            if models.len() < 2 || models.len() == shapes.len() {
                return Vec::new();
            }
            models
                .into_iter()
                .map(|m| {
                    let name = samples
                        .iter()
                        .find(|s| s.model_id == m)
                        .map_or(m, |s| s.profile.name.as_str());
                    split(format!("model {name}"), &|s: &Sample| s.model_id == m)
                })
                .collect()
        }
        Scheme::HeldOutConfigs => {
            let pairs: Vec<(u32, u32)> = samples
                .iter()
                .map(|s| config_pair(s))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            if pairs.len() < 2 {
                return Vec::new();
            }
            let k = pairs.len().min(CONFIG_FOLDS);
            (0..k)
                .map(|f| {
                    let held: BTreeSet<(u32, u32)> =
                        pairs.iter().copied().skip(f).step_by(k).collect();
                    let label = format!("configs fold {}/{k}", f + 1);
                    split(label, &|s: &Sample| held.contains(&config_pair(s)))
                })
                .collect()
        }
    }
}

/// A held-out prediction of one sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeldOut {
    /// Index of the sample.
    pub index: usize,
    /// The prediction of the fold's correction, with the measurement.
    pub outcome: Outcome,
}

/// What a cross-validation run produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HeldOutRun {
    /// Held-out predictions, sorted by sample index.
    pub predictions: Vec<HeldOut>,
    /// The correction each fold fitted, with the fold's label.
    pub corrections: Vec<(String, Correction)>,
    /// Folds whose fit failed, with the reason (their samples are not predicted).
    pub failed: Vec<String>,
}

/// Held-out predictions over `folds`: each fold's test samples predicted (as `model`
/// applies a correction) by `procedure` fitted on its training samples. A fold whose fit fails is left out and named in
/// [`HeldOutRun::failed`], so the caller can say what was not evaluated.
pub fn held_out<F>(samples: &[&Sample], folds: &[Fold], model: Model, procedure: F) -> HeldOutRun
where
    F: Fn(&str, &[&Sample]) -> Result<Correction>,
{
    let mut run = HeldOutRun::default();
    for fold in folds {
        let train: Vec<&Sample> = fold.train.iter().map(|&i| samples[i]).collect();
        match procedure(&fold.label, &train) {
            Ok(correction) => {
                run.predictions.extend(fold.test.iter().map(|&i| HeldOut {
                    index: i,
                    outcome: Outcome {
                        predicted: model.predict(&correction, samples[i]),
                        measured: samples[i].measured as f64,
                    },
                }));
                run.corrections.push((fold.label.clone(), correction));
            }
            Err(e) => run.failed.push(format!("{}: {e}", fold.label)),
        }
    }
    run.predictions.sort_by_key(|h| h.index);
    run
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{synthetic_group, Truth};

    fn samples() -> Vec<Sample> {
        let truth = Truth {
            factors: [1.0; 4],
            additive_bytes: 0.0,
        };
        synthetic_group("Q8_0", &truth, 0.0)
    }

    #[test]
    fn leave_one_shape_out_never_trains_on_the_held_out_shape() {
        let s = samples();
        let refs: Vec<&Sample> = s.iter().collect();
        let folds = folds(&refs, Scheme::LeaveOneShapeOut);
        assert_eq!(folds.len(), crate::synthetic::SHAPES.len());
        let mut seen = BTreeSet::new();
        for f in &folds {
            let held: BTreeSet<&ShapeKey> = f.test.iter().map(|&i| &refs[i].shape).collect();
            assert_eq!(held.len(), 1, "{}", f.label);
            assert!(f.train.iter().all(|&i| !held.contains(&refs[i].shape)));
            assert_eq!(f.train.len() + f.test.len(), refs.len());
            seen.extend(f.test.iter().copied());
        }
        assert_eq!(seen.len(), refs.len(), "every sample is held out once");
    }

    #[test]
    fn held_out_configs_never_train_on_a_held_out_pair() {
        let s = samples();
        let refs: Vec<&Sample> = s.iter().collect();
        let folds = folds(&refs, Scheme::HeldOutConfigs);
        assert_eq!(folds.len(), CONFIG_FOLDS);
        let mut tested = 0;
        for f in &folds {
            let held: BTreeSet<(u32, u32)> = f.test.iter().map(|&i| config_pair(refs[i])).collect();
            let trained: BTreeSet<(u32, u32)> =
                f.train.iter().map(|&i| config_pair(refs[i])).collect();
            assert!(held.is_disjoint(&trained), "{}", f.label);
            assert!(!held.is_empty() && !trained.is_empty());
            tested += f.test.len();
        }
        assert_eq!(tested, refs.len());
    }

    #[test]
    fn one_shape_or_one_pair_gives_no_folds() {
        let s = samples();
        let one_shape: Vec<&Sample> = s.iter().filter(|x| x.shape == s[0].shape).collect();
        assert!(folds(&one_shape, Scheme::LeaveOneShapeOut).is_empty());
        let one_pair: Vec<&Sample> = s
            .iter()
            .filter(|x| config_pair(x) == config_pair(&s[0]))
            .collect();
        assert!(folds(&one_pair, Scheme::HeldOutConfigs).is_empty());
    }

    #[test]
    fn held_out_reports_failed_folds_and_predicts_the_rest() {
        let s = samples();
        let refs: Vec<&Sample> = s.iter().collect();
        let f = folds(&refs, Scheme::LeaveOneShapeOut);
        let run = held_out(&refs, &f, Model::Summed, |label, _train| {
            if label == f[0].label {
                Err(crate::error::CalibrationError::fit(label, "refused"))
            } else {
                Ok(Correction::IDENTITY)
            }
        });
        assert_eq!(run.failed.len(), 1);
        assert_eq!(run.corrections.len(), f.len() - 1);
        assert_eq!(run.predictions.len(), refs.len() - f[0].test.len());
        assert!(run.predictions.windows(2).all(|w| w[0].index < w[1].index));
        // The identity correction reproduces the analytic sum, which these records measure.
        for h in &run.predictions {
            assert!(h.outcome.rel_error().abs() < 1e-6);
        }
    }
}

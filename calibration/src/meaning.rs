//! What each fitted factor means, in words, derived from its value: the lines stored in a
//! table's `meaning` and shown in the report.

use crate::analysis::GroupAnalysis;
use crate::fit::{component_values, factors, Term, Terms, COMPONENT_NAMES};
use crate::stats::{median, mib};

/// A deviation from 1 smaller than this reads "as modelled".
const AS_MODELLED: f64 = 0.01;
/// A factor whose range over the validation folds is wider than this is flagged as
/// poorly determined by the records.
const WIDE_RANGE: f64 = 0.2;

/// Why a component's factor would sit above or below 1, per component: (above, below).
fn reasons(component: usize) -> (&'static str, &'static str) {
    match component {
        0 => (
            "resident weights exceed the stored tensor bytes: per-tensor allocation \
             rounding and alignment, or a load-time copy still resident at the peak",
            "fewer weight bytes are resident at the peak than stored: pages of some \
             tensors are never touched, or the estimate counts a tensor twice",
        ),
        1 => (
            "the KV cache costs more than batch x ctx x layers x KV heads x head width x \
             dtype: allocator rounding of the cache buffers, or a transient copy on append",
            "less of the reserved KV cache is resident than reserved: positions never \
             written are reserved but not charged (pages count on first write)",
        ),
        2 => (
            "more prefill intermediates are live at the peak than modelled (e.g. the \
             softmax output beside the scores, an extra f32 copy of K/V)",
            "some buffers the model counts as live at once are freed or reused before \
             the peak",
        ),
        _ => (
            "the process holds more than the modelled base and load transient: larger \
             allocator arenas or thread stacks, or a load transient that outlives its \
             tensor",
            "the modelled load transient is not fully resident (freed early, or served \
             by pages returned to the OS)",
        ),
    }
}

/// One line per factor, one for the additive term and one for the uplift.
pub fn meaning(g: &GroupAnalysis) -> Vec<String> {
    let fit = &g.calibrated.fit;
    let f = factors(&fit.correction);
    let medians: Vec<f64> = (0..4)
        .map(|j| {
            let v: Vec<f64> = g
                .samples
                .iter()
                .map(|s| component_values(&s.components)[j])
                .collect();
            median(&v)
        })
        .collect();
    let ranges = g.fold_ranges();
    let mut out = vec![format!(
        "terms: {} (the choice that predicted held-out records of the training folds best)",
        g.calibrated.terms.name()
    )];
    for (j, name) in COMPONENT_NAMES.iter().enumerate() {
        let d = f[j] - 1.0;
        let effect = d * medians[j];
        let mut line = match fit.terms[j] {
            Term::Absent => {
                format!("{name} x1 (not fitted): zero in every record, so kept as modelled")
            }
            Term::Common => format!(
                "{name} x{:.3}: one factor on every component (separate factors did not \
                 generalise better on held-out records): the analytic estimate as a whole is \
                 {:+.1}% off ({:+.1} MiB of {name} on the median record)",
                f[j],
                d * 100.0,
                mib(effect)
            ),
            Term::Unselected => format!(
                "{name} x1 (not fitted): {} generalised best on held-out records, so the \
                 {name} term is kept as modelled",
                if g.calibrated.terms == Terms::Analytic {
                    "the analytic estimate without any correction"
                } else {
                    "an additive-only correction"
                }
            ),
            Term::Constant => format!(
                "{name} x1 (not fitted): {:.1} MiB in every record, indistinguishable from \
                 the additive term, so kept as modelled",
                mib(medians[j])
            ),
            _ if d.abs() < AS_MODELLED => format!(
                "{name} x{:.3}: as modelled ({:+.1}%, {:+.1} MiB on the median record)",
                f[j],
                d * 100.0,
                mib(effect)
            ),
            term => {
                let (above, below) = reasons(j);
                let bound = if term == Term::AtBound {
                    " (pinned at its bound)"
                } else {
                    ""
                };
                format!(
                    "{name} x{:.3}{bound}: measured {:+.1}% against the analytic {name} \
                     ({:+.1} MiB on the median record): {}",
                    f[j],
                    d * 100.0,
                    mib(effect),
                    if d > 0.0 { above } else { below }
                )
            }
        };
        if let Some((lo, hi)) = ranges.map(|r| r[j]) {
            let fitted = matches!(fit.terms[j], Term::Fitted | Term::AtBound | Term::Common);
            if fitted && hi - lo > WIDE_RANGE {
                line.push_str(&format!(
                    " (poorly determined by these records: {lo:.2} to {hi:.2} across the \
                     validation folds)"
                ));
            }
        }
        out.push(line);
    }
    let c = fit.correction.additive_bytes;
    out.push(if c >= 0.0 {
        format!(
            "additive {:+.1} MiB: resident bytes that scale with no component (binary and \
             libraries, thread stacks, allocator arenas) beyond the modelled base",
            mib(c)
        )
    } else {
        format!(
            "additive {:+.1} MiB: the modelled constant overhead is larger than what the \
             process holds at its peak",
            mib(c)
        )
    });
    out.push(format!(
        "uplift {:+.2}%: every term above is raised by this fraction (chosen on inner \
         held-out folds of the training records) so that under-predictions beyond 2% \
         stay rare; the stored factors include it, the figures above do not",
        g.calibrated.uplift * 100.0
    ));
    out
}

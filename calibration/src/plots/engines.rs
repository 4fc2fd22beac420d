//! Held-out error per engine and process: one colour per backend and role (an engine's
//! all-types table for its command-line runs, its server, its RPC client and workers; every
//! weight type's table of the reference runtime), signed relative error against the
//! measured peak on a log axis, with the -2% and +-5% lines.

use super::{draw_empty, draw_error, draw_error_lines, draw_point_series, log_span, Plot, FAMILY};
use crate::analysis::GroupAnalysis;
use crate::records::{is_engine, ALL_TYPES};
use crate::stats::mib;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::BTreeMap;

/// The figure's data: per backend, (measured MiB, signed error %) points.
#[derive(Debug, Clone, PartialEq)]
pub struct EnginesError {
    series: Vec<(String, Vec<(f64, f64)>)>,
}

impl EnginesError {
    /// Points of every backend's validation scheme.
    pub fn new(groups: &[GroupAnalysis]) -> Self {
        let mut by: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for g in groups {
            let engine = is_engine(&g.key.backend);
            if engine && g.key.qtype != ALL_TYPES {
                continue;
            }
            let Some(v) = g.validation() else { continue };
            by.entry(g.key.engine()).or_default().extend(
                v.held_out
                    .iter()
                    .map(|h| (mib(h.outcome.measured), h.outcome.rel_error() * 100.0)),
            );
        }
        EnginesError {
            series: by.into_iter().collect(),
        }
    }
}

impl Plot for EnginesError {
    fn name(&self) -> &str {
        "engines_held_out_error"
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let all = || self.series.iter().flat_map(|s| s.1.iter());
        if all().next().is_none() {
            return draw_empty(root, "no held-out predictions yet");
        }
        let span = log_span(all().map(|&(m, _)| m));
        let reach = all().map(|&(_, e)| e.abs()).fold(6.0f64, f64::max).ceil();
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Held-out calibrated error per engine (signed, % of the measured peak)",
                (FAMILY, 20),
            )
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(span.clone().log_scale(), -reach..reach)
            .map_err(draw_error)?;
        chart
            .configure_mesh()
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:+.0}%"))
            .light_line_style(TRANSPARENT)
            .x_desc("measured peak (MiB)")
            .y_desc("predicted - measured (%)")
            .label_style((FAMILY, 13))
            .draw()
            .map_err(draw_error)?;
        draw_error_lines(&mut chart, (span.start, span.end), &[5.0, -5.0], &[-2.0])?;
        draw_point_series(&mut chart, &self.series, 3, "held-out predictions")
    }
}

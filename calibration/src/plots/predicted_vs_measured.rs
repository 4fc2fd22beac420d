//! Held-out calibrated prediction against the measured peak, log-log, one colour per
//! quantization type, with the y = x line and the +-5% band.

use super::{
    draw_empty, draw_error, draw_legend, draw_log_mesh, group_label, log_span, qtype_colour,
    qtypes, Plot, FAMILY,
};
use crate::analysis::GroupAnalysis;
use crate::stats::mib;
use plotters::coord::Shift;
use plotters::prelude::*;

/// One series: a label, its colour and (measured, predicted) MiB points.
type Series = (String, RGBColor, Vec<(f64, f64)>);

/// The figure's data.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictedVsMeasured {
    series: Vec<Series>,
}

impl PredictedVsMeasured {
    /// Points of every group's validation scheme (the one its table reports).
    pub fn new(groups: &[GroupAnalysis]) -> Self {
        let present = qtypes(groups);
        let series = groups
            .iter()
            .filter_map(|g| {
                let v = g.validation()?;
                let points = v
                    .held_out
                    .iter()
                    .map(|h| (mib(h.outcome.measured), mib(h.outcome.predicted)))
                    .collect();
                Some((
                    group_label(g, groups),
                    qtype_colour(&g.key.qtype, &present),
                    points,
                ))
            })
            .collect();
        PredictedVsMeasured { series }
    }
}

impl Plot for PredictedVsMeasured {
    fn name(&self) -> &str {
        "predicted_vs_measured"
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let all = || self.series.iter().flat_map(|s| s.2.iter());
        if all().next().is_none() {
            return draw_empty(root, "no held-out predictions yet");
        }
        let span = log_span(all().flat_map(|&(m, p)| [m, p]));
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Held-out calibrated prediction vs measured peak (MiB)",
                (FAMILY, 20),
            )
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(span.clone().log_scale(), span.clone().log_scale())
            .map_err(draw_error)?;
        draw_log_mesh(
            &mut chart,
            "measured peak (MiB)",
            "predicted peak (MiB)",
            13,
        )?;
        let ends = [span.start, span.end];
        for (factor, style) in [
            (1.0, BLACK.stroke_width(1)),
            (1.05, BLACK.mix(0.35).stroke_width(1)),
            (0.95, BLACK.mix(0.35).stroke_width(1)),
        ] {
            chart
                .draw_series(LineSeries::new(ends.map(|x| (x, x * factor)), style))
                .map_err(draw_error)?;
        }
        for (label, colour, points) in &self.series {
            let c = *colour;
            chart
                .draw_series(
                    points
                        .iter()
                        .map(move |&p| Circle::new(p, 3, c.mix(0.8).filled())),
                )
                .map_err(draw_error)?
                .label(label.as_str())
                .legend(move |(x, y)| Circle::new((x + 8, y), 4, c.filled()));
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperLeft, 14)
    }
}

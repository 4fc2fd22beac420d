//! Signed relative error per quantization type: the uncalibrated analytic estimate on
//! every record (left) beside the held-out calibrated prediction (right), with the
//! +-5% band and the -2% under-prediction line.

use super::{
    category_label, draw_empty, draw_error, group_label, qtype_colour, qtypes, Plot, FAMILY,
};
use crate::analysis::{analytic_outcomes, GroupAnalysis};
use crate::synthetic::unit_noise;
use plotters::coord::Shift;
use plotters::prelude::*;

/// One category: label, colour, signed errors in percent.
type Category = (String, RGBColor, Vec<f64>);

/// The figure's data.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorDistribution {
    analytic: Vec<Category>,
    calibrated: Vec<Category>,
}

impl ErrorDistribution {
    /// Errors of every group.
    pub fn new(groups: &[GroupAnalysis]) -> Self {
        let present = qtypes(groups);
        let mut analytic = Vec::new();
        let mut calibrated = Vec::new();
        for g in groups {
            let label = group_label(g, groups);
            let colour = qtype_colour(&g.key.qtype, &present);
            let pct = |o: &crate::stats::Outcome| o.rel_error() * 100.0;
            analytic.push((
                label.clone(),
                colour,
                analytic_outcomes(&g.samples).iter().map(pct).collect(),
            ));
            let held = g
                .validation()
                .map(|v| v.held_out.iter().map(|h| pct(&h.outcome)).collect())
                .unwrap_or_default();
            calibrated.push((label, colour, held));
        }
        ErrorDistribution {
            analytic,
            calibrated,
        }
    }
}

/// Draws one panel of categories.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    categories: &[Category],
) -> Result<(), String> {
    let values = || categories.iter().flat_map(|c| c.2.iter().copied());
    let lo = values().fold(-6.0f64, f64::min) - 1.0;
    let hi = values().fold(6.0f64, f64::max) + 1.0;
    let n = categories.len().max(1) as f64;
    let labels: Vec<String> = categories.iter().map(|c| c.0.clone()).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FAMILY, 17))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(-0.5..n - 0.5, lo..hi)
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(categories.len().max(1))
        .x_label_formatter(&|x| category_label(&labels, *x))
        .y_desc("(predicted - measured) / measured, %")
        .label_style((FAMILY, 13))
        .draw()
        .map_err(draw_error)?;
    for (y, style) in [
        (0.0, BLACK.stroke_width(1)),
        (5.0, BLACK.mix(0.35).stroke_width(1)),
        (-5.0, BLACK.mix(0.35).stroke_width(1)),
        (-2.0, RED.mix(0.7).stroke_width(1)),
    ] {
        chart
            .draw_series(LineSeries::new([(-0.5, y), (n - 0.5, y)], style))
            .map_err(draw_error)?;
    }
    let mut k = 0u64;
    for (i, (_, colour, errors)) in categories.iter().enumerate() {
        let c = *colour;
        let points: Vec<(f64, f64)> = errors
            .iter()
            .map(|&e| {
                k += 1;
                (i as f64 + 0.3 * unit_noise(k), e)
            })
            .collect();
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(move |p| Circle::new(p, 2, c.mix(0.7).filled())),
            )
            .map_err(draw_error)?;
    }
    Ok(())
}

impl Plot for ErrorDistribution {
    fn name(&self) -> &str {
        "error_distribution"
    }

    fn size(&self) -> (u32, u32) {
        (1200, 560)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        if self.analytic.is_empty() {
            return draw_empty(root, "no records yet");
        }
        let (left, right) = root.split_horizontally(600);
        panel(&left, "Analytic estimate (all records)", &self.analytic)?;
        panel(&right, "Calibrated, held out", &self.calibrated)
    }
}

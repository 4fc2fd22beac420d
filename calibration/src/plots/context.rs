//! Memory against context length, one panel per group, one colour per model: the
//! measured peaks at the model's smallest batch (filled), the calibrated prediction for
//! each of those configurations (hollow), and a predicted curve along the context axis at
//! the micro-batch and KV dtype of the longest-context record (the group's table
//! correction applied to the analytic components the current predictor computes).

use super::{
    by_model, draw_empty, draw_error, draw_legend, draw_log_mesh, group_label, log_span,
    powers_of_two, Plot, FAMILY, PALETTE,
};
use crate::analysis::GroupAnalysis;
use crate::analytic::process_components;
use crate::fit::predict;
use crate::records::Sample;
use crate::stats::mib;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::BTreeSet;

/// Points on the curve between the smallest and largest measured context.
const CURVE_POINTS: usize = 48;

/// One model's series, (ctx, MiB) points.
#[derive(Debug, Clone, PartialEq)]
struct Series {
    /// Model, batch and the curve's setting.
    label: String,
    /// Measured peaks.
    measured: Vec<(f64, f64)>,
    /// Calibrated predictions of the same configurations.
    predicted: Vec<(f64, f64)>,
    /// The predicted curve along the context axis.
    curve: Vec<(f64, f64)>,
}

/// One panel: title and series.
type Panel = (String, Vec<Series>);

/// The figure's data.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryVsContext {
    panels: Vec<Panel>,
}

/// The predicted curve from `lo` to `hi` tokens at the configuration of `template`: the
/// analytic components recomputed along a log-spaced context grid; empty where the
/// predictor cannot recompute them (the hollow markers still show the predictions).
fn curve(g: &GroupAnalysis, template: &Sample, lo: f64, hi: f64) -> Vec<(f64, f64)> {
    let ctxs: BTreeSet<u32> = (0..CURVE_POINTS)
        .map(|i| {
            let t = i as f64 / (CURVE_POINTS - 1) as f64;
            (lo * (hi / lo).powf(t)).round() as u32
        })
        .collect();
    let points: Option<Vec<(f64, f64)>> = ctxs
        .iter()
        .map(|&ctx| {
            let mut config = template.config.clone();
            config.ctx = ctx.max(1);
            process_components(
                &template.profile,
                &config,
                &template.group.backend,
                template.device_name.as_deref(),
            )
            .ok()
            .map(|c| (ctx as f64, mib(predict(&g.calibrated.correction, &c))))
        })
        .collect();
    points.unwrap_or_default()
}

impl MemoryVsContext {
    /// One panel per group.
    pub fn new(groups: &[GroupAnalysis]) -> Self {
        let mut panels = Vec::new();
        for g in groups {
            let mut series = Vec::new();
            for (model, samples) in by_model(g) {
                let Some(batch) = samples.iter().map(|s| s.config.batch).min() else {
                    continue;
                };
                let mut at_batch: Vec<&Sample> = samples
                    .into_iter()
                    .filter(|s| s.config.batch == batch)
                    .collect();
                at_batch.sort_by_key(|s| (s.config.ctx, s.config.ubatch));
                let Some(&longest) = at_batch.last() else {
                    continue;
                };
                let measured = at_batch
                    .iter()
                    .map(|s| (s.config.ctx as f64, mib(s.measured as f64)))
                    .collect();
                let predicted = at_batch
                    .iter()
                    .map(|s| {
                        let p = predict(&g.calibrated.correction, &s.components);
                        (s.config.ctx as f64, mib(p))
                    })
                    .collect();
                let lo = at_batch[0].config.ctx as f64;
                let c = &longest.config;
                series.push(Series {
                    label: format!(
                        "{model} b{batch} (curve: u{} kv {})",
                        c.ubatch,
                        c.kv_dtype.as_str()
                    ),
                    measured,
                    predicted,
                    curve: curve(g, longest, lo, c.ctx as f64),
                });
            }
            panels.push((group_label(g, groups), series));
        }
        MemoryVsContext { panels }
    }

    /// Columns of the panel grid.
    fn columns(&self) -> usize {
        self.panels.len().clamp(1, 2)
    }
}

/// Draws one panel.
fn panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &Panel) -> Result<(), String> {
    let all = || {
        p.1.iter()
            .flat_map(|s| s.measured.iter().chain(&s.predicted).chain(&s.curve))
    };
    let xs = || all().map(|q| q.0);
    let ys = || all().map(|q| q.1);
    let x_span = log_span(xs());
    let x_ticks = powers_of_two(&x_span);
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{}: peak vs context", p.0), (FAMILY, 16))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(
            x_span.log_scale().with_key_points(x_ticks),
            log_span(ys()).log_scale(),
        )
        .map_err(draw_error)?;
    draw_log_mesh(&mut chart, "context (tokens)", "peak (MiB)", 12)?;
    for (i, series) in p.1.iter().enumerate() {
        let c = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(
                series.curve.iter().copied(),
                c.stroke_width(2),
            ))
            .map_err(draw_error)?
            .label(series.label.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], c.stroke_width(2)));
        chart
            .draw_series(
                series
                    .measured
                    .iter()
                    .map(move |&q| Circle::new(q, 3, c.filled())),
            )
            .map_err(draw_error)?;
        chart
            .draw_series(
                series
                    .predicted
                    .iter()
                    .map(move |&q| Circle::new(q, 6, c.stroke_width(1))),
            )
            .map_err(draw_error)?;
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperLeft, 11)
}

impl Plot for MemoryVsContext {
    fn name(&self) -> &str {
        "memory_vs_context"
    }

    fn size(&self) -> (u32, u32) {
        let rows = self.panels.len().div_ceil(self.columns()).max(1) as u32;
        (1200, 460 * rows)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        if self.panels.is_empty() {
            return draw_empty(root, "no records yet");
        }
        let cols = self.columns();
        let rows = self.panels.len().div_ceil(cols);
        let areas = root.split_evenly((rows, cols));
        for (area, p) in areas.iter().zip(&self.panels) {
            panel(area, p)?;
        }
        Ok(())
    }
}

//! Memory against context length, one panel per group: measured peaks as points over the
//! calibrated prediction as a curve, one colour per model. Each model is shown at the
//! (batch, micro-batch, KV dtype) setting measured at the most context lengths; the
//! curve is the group's table correction applied to the analytic components the current
//! predictor computes along the context axis.

use super::{
    by_model, draw_empty, draw_error, draw_legend, draw_log_mesh, group_label, log_span,
    powers_of_two, Plot, FAMILY, PALETTE,
};
use crate::analysis::GroupAnalysis;
use crate::analytic::device_components;
use crate::fit::predict;
use crate::records::Sample;
use crate::stats::mib;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// Points on the curve between the smallest and largest measured context.
const CURVE_POINTS: usize = 48;

/// One model's series: label, measured (ctx, MiB) points, predicted (ctx, MiB) curve.
type Series = (String, Vec<(f64, f64)>, Vec<(f64, f64)>);

/// One panel: title and series.
type Panel = (String, Vec<Series>);

/// The figure's data.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryVsContext {
    panels: Vec<Panel>,
}

/// The (batch, micro-batch, KV dtype) setting of a sample.
fn setting(s: &Sample) -> (u32, u32, &'static str) {
    (s.config.batch, s.config.ubatch, s.config.kv_dtype.as_str())
}

/// The predicted curve of one model's series: the analytic components recomputed along
/// a log-spaced context grid (and at every measured context); where the predictor cannot
/// recompute them, the predictions at the measured points.
fn curve(g: &GroupAnalysis, series: &[&Sample]) -> Vec<(f64, f64)> {
    let first = series[0];
    let lo = series.iter().map(|s| s.config.ctx).min().unwrap_or(1) as f64;
    let hi = series.iter().map(|s| s.config.ctx).max().unwrap_or(1) as f64;
    let mut ctxs: BTreeSet<u32> = series.iter().map(|s| s.config.ctx).collect();
    for i in 0..CURVE_POINTS {
        let t = i as f64 / (CURVE_POINTS - 1) as f64;
        ctxs.insert((lo * (hi / lo).powf(t)).round() as u32);
    }
    let recomputed: Option<Vec<(f64, f64)>> = ctxs
        .iter()
        .map(|&ctx| {
            let mut config = first.config.clone();
            config.ctx = ctx.max(1);
            device_components(&first.profile, &config, &first.group.backend)
                .ok()
                .map(|c| (ctx as f64, mib(predict(&g.calibrated.correction, &c))))
        })
        .collect();
    recomputed.unwrap_or_else(|| {
        let mut pts: Vec<(f64, f64)> = series
            .iter()
            .map(|s| {
                let p = predict(&g.calibrated.correction, &s.components);
                (s.config.ctx as f64, mib(p))
            })
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        pts
    })
}

impl MemoryVsContext {
    /// One panel per group.
    pub fn new(groups: &[GroupAnalysis]) -> Self {
        let mut panels = Vec::new();
        for g in groups {
            let mut series = Vec::new();
            for (model, samples) in by_model(g) {
                let mut by_setting: BTreeMap<_, Vec<&Sample>> = BTreeMap::new();
                for s in samples {
                    by_setting.entry(setting(s)).or_default().push(s);
                }
                // Most distinct contexts; the first (smallest) setting on a tie.
                let best = by_setting
                    .iter()
                    .fold(None, |best: Option<(usize, _)>, (k, v)| {
                        let n = v
                            .iter()
                            .map(|s| s.config.ctx)
                            .collect::<BTreeSet<_>>()
                            .len();
                        match best {
                            Some((m, _)) if m >= n => best,
                            _ => Some((n, k)),
                        }
                    });
                let Some((_, key)) = best else { continue };
                let chosen = &by_setting[key];
                let points = chosen
                    .iter()
                    .map(|s| (s.config.ctx as f64, mib(s.measured as f64)))
                    .collect();
                let (b, u, kv) = *key;
                series.push((
                    format!("{model} (b{b} u{u} kv {kv})"),
                    points,
                    curve(g, chosen),
                ));
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
    let xs = || p.1.iter().flat_map(|s| s.1.iter().chain(&s.2).map(|q| q.0));
    let ys = || p.1.iter().flat_map(|s| s.1.iter().chain(&s.2).map(|q| q.1));
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
    for (i, (label, points, curve)) in p.1.iter().enumerate() {
        let c = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(curve.iter().copied(), c.stroke_width(2)))
            .map_err(draw_error)?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], c.stroke_width(2)));
        chart
            .draw_series(points.iter().map(move |&q| Circle::new(q, 3, c.filled())))
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

//! Stacked calibrated components per model, in percent of the measured peak (so models
//! of any size share one axis; the bar ends where the prediction does, the black line at
//! 100% is the measurement). Each model is shown at its largest-context batch-1 record
//! (the smallest batch measured, if none at 1).

use super::{by_model, category_label, draw_empty, draw_error, draw_legend, Plot, FAMILY, PALETTE};
use crate::analysis::GroupAnalysis;
use crate::fit::COMPONENT_NAMES;
use crate::records::Sample;
use crate::stats::mib;
use plotters::coord::Shift;
use plotters::prelude::*;

/// One bar: label and the four calibrated components in percent of the measured peak
/// (the additive term is part of the overhead, as the predictor applies it).
type Bar = (String, [f64; 4]);

/// The figure's data.
#[derive(Debug, Clone, PartialEq)]
pub struct Breakdown {
    bars: Vec<Bar>,
}

/// The record shown for a model: smallest batch, then largest context, then largest
/// micro-batch, then first loaded.
fn representative<'a>(samples: &[&'a Sample]) -> Option<&'a Sample> {
    samples.iter().copied().min_by_key(|s| {
        (
            s.config.batch,
            std::cmp::Reverse(s.config.ctx),
            std::cmp::Reverse(s.config.ubatch),
        )
    })
}

impl Breakdown {
    /// One bar per model of every group.
    pub fn new(groups: &[GroupAnalysis]) -> Self {
        let mut bars = Vec::new();
        for g in groups {
            for (model, samples) in by_model(g) {
                let Some(s) = representative(&samples) else {
                    continue;
                };
                let c = g.calibrated.correction.apply(&s.components);
                let m = s.measured as f64 / 100.0;
                bars.push((
                    format!(
                        "{model} [{}] c{} b{}: {:.0} MiB",
                        g.key.qtype,
                        s.config.ctx,
                        s.config.batch,
                        mib(s.measured as f64)
                    ),
                    [
                        c.weights as f64 / m,
                        c.kv_cache as f64 / m,
                        c.activations as f64 / m,
                        c.overhead as f64 / m,
                    ],
                ));
            }
        }
        Breakdown { bars }
    }
}

impl Plot for Breakdown {
    fn name(&self) -> &str {
        "component_breakdown"
    }

    fn size(&self) -> (u32, u32) {
        (1200, 160 + 34 * self.bars.len().max(4) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        if self.bars.is_empty() {
            return draw_empty(root, "no records yet");
        }
        let n = self.bars.len() as f64;
        let widest = self
            .bars
            .iter()
            .map(|b| b.1.iter().sum::<f64>())
            .fold(100.0f64, f64::max)
            .max(125.0);
        let labels: Vec<String> = self.bars.iter().map(|b| b.0.clone()).collect();
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Calibrated components per model, % of the measured peak (line: measured)",
                (FAMILY, 19),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(470)
            .build_cartesian_2d(0.0..widest * 1.08, -0.5..n - 0.5)
            .map_err(draw_error)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(self.bars.len())
            .y_label_formatter(&|y| category_label(&labels, *y))
            .x_desc("% of measured peak")
            .label_style((FAMILY, 12))
            .draw()
            .map_err(draw_error)?;
        for (j, name) in COMPONENT_NAMES.iter().enumerate() {
            let colour = PALETTE[j];
            let rects: Vec<Rectangle<(f64, f64)>> = self
                .bars
                .iter()
                .enumerate()
                .map(|(i, (_, parts))| {
                    let x0: f64 = parts[..j].iter().sum();
                    let y = i as f64;
                    Rectangle::new([(x0, y - 0.35), (x0 + parts[j], y + 0.35)], colour.filled())
                })
                .collect();
            chart
                .draw_series(rects)
                .map_err(draw_error)?
                .label(*name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled())
                });
        }
        chart
            .draw_series(LineSeries::new(
                [(100.0, -0.5), (100.0, n - 0.5)],
                BLACK.stroke_width(2),
            ))
            .map_err(draw_error)?
            .label("measured")
            .legend(|(x, y)| {
                PathElement::new([(x + 6, y - 6), (x + 6, y + 6)], BLACK.stroke_width(2))
            });
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight, 13)
    }
}

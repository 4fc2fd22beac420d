//! The public GPU logs' buffers: the signed error of each printed buffer against memcal's
//! prediction, by kind (model, KV, output, the GPUs' and the host's compute buffers), one
//! colour per llama.cpp build, with the +-1% and -2% lines.

use super::{
    category_label, draw_empty, draw_error, draw_error_lines, draw_point_series, Plot, FAMILY,
};
use crate::gpu_logs::report::{category, Replayed, CATEGORIES};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::BTreeMap;

/// The figure's data: per build, (kind index, signed error %) points.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuLogsError {
    series: Vec<(String, Vec<(f64, f64)>)>,
}

impl GpuLogsError {
    /// The points of every compared buffer, spread within their kind in corpus order.
    pub fn new(r: &Replayed) -> Self {
        let mut by: BTreeMap<u32, Vec<(f64, f64)>> = BTreeMap::new();
        let mut seen = [0usize; CATEGORIES.len()];
        for o in &r.outcomes {
            let Some(i) = CATEGORIES.iter().position(|c| *c == category(o)) else {
                continue;
            };
            // A fixed spread (no randomness: the same data draws the same bytes).
            let x = i as f64 + ((seen[i] % 9) as f64 - 4.0) * 0.06;
            seen[i] += 1;
            by.entry(o.build).or_default().push((x, 100.0 * o.rel()));
        }
        GpuLogsError {
            series: by.into_iter().map(|(b, p)| (format!("b{b}"), p)).collect(),
        }
    }
}

impl Plot for GpuLogsError {
    fn name(&self) -> &str {
        "gpu_logs_error"
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let all = || self.series.iter().flat_map(|s| s.1.iter());
        if all().next().is_none() {
            return draw_empty(root, "no covered GPU log yet");
        }
        let reach = all().map(|&(_, e)| e.abs()).fold(3.0f64, f64::max).ceil();
        let labels: Vec<String> = CATEGORIES.iter().map(|c| c.to_string()).collect();
        let mut chart = ChartBuilder::on(root)
            .caption(
                "llama.cpp GPU buffers: memcal against the printed figure (signed, %)",
                (FAMILY, 20),
            )
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(-0.6f64..(CATEGORIES.len() as f64 - 0.4), -reach..reach)
            .map_err(draw_error)?;
        chart
            .configure_mesh()
            .x_labels(CATEGORIES.len() * 4 + 1)
            .x_label_formatter(&|x| category_label(&labels, *x))
            .y_label_formatter(&|y| format!("{y:+.0}%"))
            .light_line_style(TRANSPARENT)
            .x_desc("buffer kind")
            .y_desc("predicted - printed (%)")
            .label_style((FAMILY, 13))
            .draw()
            .map_err(draw_error)?;
        let ends = (-0.6, CATEGORIES.len() as f64 - 0.4);
        draw_error_lines(&mut chart, ends, &[1.0, -1.0], &[-2.0])?;
        draw_point_series(&mut chart, &self.series, 4, "buffers")
    }
}

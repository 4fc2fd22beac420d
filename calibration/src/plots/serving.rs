//! A server's memory against its slots: one colour per model, the measured peak of each
//! served workload (filled) and its calibrated prediction (hollow), for every group of the
//! server role.

use super::{by_model, draw_empty, draw_error, draw_legend, log_span, Plot, FAMILY, PALETTE};
use crate::analysis::GroupAnalysis;
use crate::records::ALL_TYPES;
use crate::stats::mib;
use plotters::coord::Shift;
use plotters::prelude::*;

/// One model's points: (slots, MiB) measured and predicted.
type Series = (String, Vec<(f64, f64)>, Vec<(f64, f64)>);

/// The figure's data.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSlots {
    title: String,
    series: Vec<Series>,
}

impl ServerSlots {
    /// The server role's all-types group, if measured.
    pub fn new(groups: &[GroupAnalysis]) -> Self {
        let g = groups
            .iter()
            .find(|g| g.key.role == predictor::config::Role::Server && g.key.qtype == ALL_TYPES);
        let Some(g) = g else {
            return ServerSlots {
                title: "llama-server".into(),
                series: Vec::new(),
            };
        };
        let series = by_model(g)
            .into_iter()
            .map(|(model, samples)| {
                let measured = samples
                    .iter()
                    .map(|s| (s.config.batch as f64, mib(s.measured as f64)))
                    .collect();
                let predicted = samples
                    .iter()
                    .map(|s| {
                        (
                            s.config.batch as f64,
                            mib(g.model.predict(&g.calibrated.correction, s)),
                        )
                    })
                    .collect();
                (model.to_string(), measured, predicted)
            })
            .collect();
        ServerSlots {
            title: format!("{} (measured filled, calibrated prediction hollow)", g.key),
            series,
        }
    }
}

impl Plot for ServerSlots {
    fn name(&self) -> &str {
        "server_slots"
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let all = || {
            self.series
                .iter()
                .flat_map(|s| s.1.iter().chain(s.2.iter()))
        };
        if all().next().is_none() {
            return draw_empty(root, "no llama-server records yet");
        }
        let x_max = all().map(|p| p.0).fold(1.0f64, f64::max) + 1.0;
        let y = log_span(all().map(|p| p.1));
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FAMILY, 18))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..x_max, y.log_scale())
            .map_err(draw_error)?;
        chart
            .configure_mesh()
            .x_desc("slots (-np)")
            .y_desc("peak RSS of the server (MiB)")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .light_line_style(TRANSPARENT)
            .label_style((FAMILY, 13))
            .draw()
            .map_err(draw_error)?;
        for (i, (label, measured, predicted)) in self.series.iter().enumerate() {
            let c = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(
                    measured
                        .iter()
                        .map(move |&p| Circle::new(p, 4, c.mix(0.85).filled())),
                )
                .map_err(draw_error)?
                .label(label.clone())
                .legend(move |(x, y)| Circle::new((x + 8, y), 4, c.filled()));
            chart
                .draw_series(
                    predicted
                        .iter()
                        .map(move |&p| Circle::new(p, 6, c.stroke_width(1))),
                )
                .map_err(draw_error)?;
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperLeft, 13)
    }
}

//! The report's plots, drawn with plotters to PNG and SVG from the same code.
//!
//! Every plot is a [`Plot`]: a name (the file stem), a size and a `draw` generic over the
//! drawing backend, rendered by [`render`] to `<name>.png` and `<name>.svg`. Text in the
//! PNGs uses the DejaVu Sans font committed in `calibration/assets` (registered once at
//! run time, [`register_font`]), so output does not depend on the fonts of the machine;
//! nothing time- or machine-dependent is drawn, so the same data gives the same bytes.

pub mod breakdown;
pub mod context;
pub mod engines;
pub mod error_distribution;
pub mod gpu_logs;
pub mod predicted_vs_measured;
pub mod serving;

use crate::analysis::GroupAnalysis;
use crate::error::{CalibrationError, Result};
use crate::records::Sample;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Once;

/// DejaVu Sans (Bitstream Vera licence, `calibration/assets/DejaVuSans.LICENSE`).
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// The family every plot's text uses.
pub const FAMILY: &str = "sans-serif";

/// Registers the committed font as [`FAMILY`] (once per process).
pub fn register_font_once() -> Result<()> {
    static ONCE: Once = Once::new();
    let mut failed = false;
    ONCE.call_once(|| failed = register_font(FAMILY, FontStyle::Normal, FONT).is_err());
    if failed {
        return Err(CalibrationError::Plot {
            name: "font".into(),
            what: "the committed DejaVuSans.ttf is not a valid font".into(),
        });
    }
    Ok(())
}

/// A drawing error as text (plotters' errors are generic over the backend).
pub fn draw_error<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// One figure.
pub trait Plot {
    /// File stem (`predicted_vs_measured`, ...).
    fn name(&self) -> &str;
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32) {
        (960, 640)
    }
    /// Draws the figure on a white area.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// Draws `plot` to `<dir>/<name>.png` and `<dir>/<name>.svg`; returns the file names.
pub fn render<P: Plot>(plot: &P, dir: &Path) -> Result<Vec<String>> {
    register_font_once()?;
    let fail = |what: String| CalibrationError::Plot {
        name: plot.name().to_string(),
        what,
    };
    // Drawn under temporary names, renamed into place once complete.
    let png = dir.join(format!("{}.png", plot.name()));
    let svg = dir.join(format!("{}.svg", plot.name()));
    let (png_tmp, svg_tmp) = (
        crate::paths::temporary_name(&png).with_extension("tmp.png"),
        crate::paths::temporary_name(&svg).with_extension("tmp.svg"),
    );
    {
        let root = BitMapBackend::new(&png_tmp, plot.size()).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error).map_err(fail)?;
        plot.draw(&root).map_err(fail)?;
        root.present().map_err(draw_error).map_err(fail)?;
    }
    {
        let root = SVGBackend::new(&svg_tmp, plot.size()).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error).map_err(fail)?;
        plot.draw(&root).map_err(fail)?;
        root.present().map_err(draw_error).map_err(fail)?;
    }
    for (tmp, dst) in [(&png_tmp, &png), (&svg_tmp, &svg)] {
        std::fs::rename(tmp, dst).map_err(|e| CalibrationError::io(dst, e))?;
    }
    Ok(vec![
        format!("{}.png", plot.name()),
        format!("{}.svg", plot.name()),
    ])
}

/// Draws every figure of the report into `dir`; returns the file names written.
pub fn render_all(groups: &[GroupAnalysis], dir: &Path) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).map_err(|e| CalibrationError::io(dir, e))?;
    let mut out = Vec::new();
    out.extend(render(
        &predicted_vs_measured::PredictedVsMeasured::new(groups),
        dir,
    )?);
    out.extend(render(
        &error_distribution::ErrorDistribution::new(groups),
        dir,
    )?);
    out.extend(render(&breakdown::Breakdown::new(groups), dir)?);
    out.extend(render(&context::MemoryVsContext::new(groups), dir)?);
    out.extend(render(&engines::EnginesError::new(groups), dir)?);
    out.extend(render(&serving::ServerSlots::new(groups), dir)?);
    Ok(out)
}

/// Fixed colours for the usual quantization types, so a type keeps its colour whatever
/// else is measured; other types take the remaining colours in name order.
const QTYPE_ORDER: [&str; 8] = ["I2_S", "TL1", "TL2", "Q4_0", "Q8_0", "F16", "BF16", "F32"];

/// A qualitative palette (Tableau 10).
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The colour of a quantization type among the types `present` (sorted).
pub fn qtype_colour(qtype: &str, present: &[String]) -> RGBColor {
    let index = QTYPE_ORDER
        .iter()
        .position(|q| *q == qtype)
        .unwrap_or_else(|| {
            let others = present
                .iter()
                .filter(|p| !QTYPE_ORDER.contains(&p.as_str()));
            QTYPE_ORDER.len() + others.take_while(|p| p.as_str() != qtype).count()
        });
    PALETTE[index % PALETTE.len()]
}

/// The quantization types of the groups, sorted and de-duplicated.
pub fn qtypes(groups: &[GroupAnalysis]) -> Vec<String> {
    let mut q: Vec<String> = groups.iter().map(|g| g.key.qtype.clone()).collect();
    q.sort();
    q.dedup();
    q
}

/// A label for a group: the qtype alone when every group shares backend and device kind.
pub fn group_label(g: &GroupAnalysis, groups: &[GroupAnalysis]) -> String {
    let same = groups
        .iter()
        .all(|o| o.key.backend == g.key.backend && o.key.device_kind == g.key.device_kind);
    if same {
        g.key.qtype.clone()
    } else {
        g.key.name()
    }
}

/// A logarithmic axis range covering `values` with a margin, never empty.
pub fn log_span(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if hi <= 0.0 {
        return 1.0..10.0;
    }
    (lo / 1.25)..(hi * 1.25)
}

/// A tick label on a logarithmic MiB or token axis: whole numbers from 10 up.
pub fn log_label(v: &f64) -> String {
    if *v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Powers of two inside a range: the tick positions of a context axis.
pub fn powers_of_two(range: &std::ops::Range<f64>) -> Vec<f64> {
    (0..40)
        .map(|k| 2f64.powi(k))
        .filter(|v| range.contains(v))
        .collect()
}

/// A group's samples by model name, in name order.
pub fn by_model(g: &GroupAnalysis) -> BTreeMap<&str, Vec<&Sample>> {
    let mut map: BTreeMap<&str, Vec<&Sample>> = BTreeMap::new();
    for s in &g.samples {
        map.entry(s.model()).or_default().push(s);
    }
    map
}

/// The label of category `v` on a categorical axis drawn as the numbers 0, 1, ...: the
/// label at a whole number, nothing between.
pub fn category_label(labels: &[String], v: f64) -> String {
    let i = v.round();
    if (v - i).abs() < 1e-6 && i >= 0.0 {
        labels.get(i as usize).cloned().unwrap_or_default()
    } else {
        String::new()
    }
}

/// Draws the mesh of a chart with logarithmic axes: whole-number tick labels, no light
/// lines (they crowd a log axis).
pub fn draw_log_mesh<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    x_desc: &str,
    y_desc: &str,
    size: u32,
) -> Result<(), String>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_label_formatter(&log_label)
        .y_label_formatter(&log_label)
        .light_line_style(TRANSPARENT)
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style((FAMILY, size))
        .draw()
        .map_err(draw_error)
}

/// Draws the series legend of a chart at `position` with text of `size` pixels.
pub fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
    size: u32,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FAMILY, size))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(draw_error)
}

/// Draws the horizontal reference lines of a signed-error chart from `x0` to `x1`: 0 in
/// black, each of `grey` in light grey, each of `red` in red (the under-prediction limit).
pub fn draw_error_lines<'a, DB: DrawingBackend + 'a, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    (x0, x1): (f64, f64),
    grey: &[f64],
    red: &[f64],
) -> Result<(), String>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let lines = std::iter::once((0.0, BLACK.stroke_width(1)))
        .chain(grey.iter().map(|&y| (y, BLACK.mix(0.35).stroke_width(1))))
        .chain(red.iter().map(|&y| (y, RED.mix(0.6).stroke_width(1))));
    for (y, style) in lines {
        chart
            .draw_series(LineSeries::new([(x0, y), (x1, y)], style))
            .map_err(draw_error)?;
    }
    Ok(())
}

/// Draws each labelled series of points as filled circles of `radius` in the palette's
/// colours, its legend entry naming how many `unit` it has, then the legend.
pub fn draw_point_series<'a, DB: DrawingBackend + 'a, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    series: &[(String, Vec<(f64, f64)>)],
    radius: i32,
    unit: &str,
) -> Result<(), String>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for (i, (label, points)) in series.iter().enumerate() {
        let c = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(
                points
                    .iter()
                    .map(move |&p| Circle::new(p, radius, c.mix(0.8).filled())),
            )
            .map_err(draw_error)?
            .label(format!("{label} ({} {unit})", points.len()))
            .legend(move |(x, y)| Circle::new((x + 8, y), 4, c.filled()));
    }
    draw_legend(chart, SeriesLabelPosition::UpperRight, 14)
}

/// Draws a centred note on an empty area (a figure with no data to show).
pub fn draw_empty<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    what: &str,
) -> Result<(), String> {
    let (w, h) = root.dim_in_pixel();
    root.draw(&Text::new(
        what.to_string(),
        (w as i32 / 2 - 150, h as i32 / 2),
        (FAMILY, 18).into_font(),
    ))
    .map_err(draw_error)
}

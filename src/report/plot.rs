//! Charts, drawn with plotters and written twice: PNG (for slides and chat) and SVG (for the
//! browser). Labels use DejaVu Sans, embedded in the binary, so a chart looks the same on a
//! machine with no fonts installed.
//!
//! Charts are described as data ([`Figure`]) by the callers, which know what they show, and
//! drawn here, which knows how.

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, SegmentValue, ValueFormatter};
use plotters::prelude::*;
use std::path::Path;

/// DejaVu Sans (licence: assets/fonts/LICENSE-DejaVu.txt).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Colour-blind-safe palette (Okabe and Ito), black left out for the axes.
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
];

/// Bars that are not capacity (a saturated service): grey, apart from every palette colour.
const MUTED: RGBColor = RGBColor(175, 175, 175);

/// Width of every chart, pixels.
const WIDTH: u32 = 960;

/// Points of a line beyond which it is drawn 1 pixel wide (about the plot area's width).
const DENSE_POINTS: usize = 1000;

/// A figure: lines on one or more stacked panels that share the x axis, or bars.
pub enum Figure {
    /// Line panels.
    Lines(Lines),
    /// Bar panels.
    Bars(Bars),
}

/// Lines on panels stacked over one x axis.
pub struct Lines {
    /// Title above the panels.
    pub title: String,
    /// Label of the x axis, with its unit.
    pub x_label: String,
    /// Logarithmic x axis.
    pub x_log: bool,
    /// Panels, top to bottom.
    pub panels: Vec<Panel>,
}

/// One panel of a [`Lines`] figure.
pub struct Panel {
    /// Label of the y axis, with its unit.
    pub y_label: String,
    /// Logarithmic y axis.
    pub y_log: bool,
    /// Fixed y range, e.g. 0..1 for a probability; `None` fits the data.
    pub y_range: Option<(f64, f64)>,
    /// The lines.
    pub series: Vec<Series>,
    /// Where the legend goes: the corner the lines leave free.
    pub legend: Legend,
}

/// A corner of a panel for its legend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legend {
    /// Upper left (timeseries, which start low, and most charts).
    UpperLeft,
    /// Lower right (CDFs that rise early, whose upper left the lines fill).
    LowerRight,
}

/// One line, with an optional 95% confidence band.
pub struct Series {
    /// Legend text.
    pub label: String,
    /// Points, in drawing order; non-finite ones break nothing, they are left out.
    pub points: Vec<(f64, f64)>,
    /// The band around the line.
    pub band: Band,
}

impl Series {
    /// Every y (`vertical`) or every x the series draws: its points and the edges of a band
    /// along that axis, so that the axis range holds the band too.
    fn extent(&self, vertical: bool) -> Vec<f64> {
        let band: &[(f64, f64, f64)] = match (&self.band, vertical) {
            (Band::Y(b), true) | (Band::X(b), false) => b,
            _ => &[],
        };
        self.points
            .iter()
            .map(|p| if vertical { p.1 } else { p.0 })
            .chain(band.iter().flat_map(|&(_, lo, hi)| [lo, hi]))
            .collect()
    }
}

/// A confidence band around a line.
pub enum Band {
    /// No band.
    None,
    /// Vertical: (x, low y, high y).
    Y(Vec<(f64, f64, f64)>),
    /// Horizontal, for a CDF whose x is the estimate: (y, low x, high x).
    X(Vec<(f64, f64, f64)>),
}

/// Bars, one panel per figure measured, sharing the categories.
pub struct Bars {
    /// Title.
    pub title: String,
    /// Category names, left to right.
    pub categories: Vec<String>,
    /// Panels, top to bottom.
    pub panels: Vec<BarPanel>,
    /// A category drawn in the accent colour (e.g. the cheapest), if any.
    pub highlight: Option<usize>,
    /// Categories drawn in grey, one flag each (e.g. saturated services, whose bars are
    /// not capacity).
    pub muted: Vec<bool>,
}

/// One panel of a [`Bars`] figure.
pub struct BarPanel {
    /// Label of the y axis, with its unit.
    pub y_label: String,
    /// One value per category (NaN: no bar) with its optional 95% interval.
    pub values: Vec<(f64, Option<(f64, f64)>)>,
}

/// Writes `stem.png` and `stem.svg` into `dir`; returns the two file names.
pub fn write(fig: &Figure, dir: &Path, stem: &str) -> std::io::Result<[String; 2]> {
    register_font();
    let panels = match fig {
        Figure::Lines(l) => l.panels.len(),
        Figure::Bars(b) => b.panels.len(),
    }
    .max(1) as u32;
    let size = (
        WIDTH,
        90 + 300 * panels.min(4) - 40 * panels.saturating_sub(1).min(3),
    );
    let png = format!("{stem}.png");
    let svg = format!("{stem}.svg");
    let err = |e: String| std::io::Error::other(format!("drawing {stem}: {e}"));
    {
        let path = dir.join(&png);
        let root = BitMapBackend::new(&path, size).into_drawing_area();
        draw(&root, fig).map_err(err)?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        draw(&root, fig).map_err(err)?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    text.push('\n');
    std::fs::write(dir.join(&svg), text)?;
    Ok([png, svg])
}

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The font is part of the binary and known to parse; a failure would only mean
        // plain boxes for labels, not wrong charts, so it is not an error.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

type Res = Result<(), String>;

fn e2s<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, fig: &Figure) -> Res {
    root.fill(&WHITE).map_err(e2s)?;
    let (title, n) = match fig {
        Figure::Lines(l) => (&l.title, l.panels.len()),
        Figure::Bars(b) => (&b.title, b.panels.len()),
    };
    let area = root
        .titled(title, (FAMILY, 24).into_font().color(&BLACK))
        .map_err(e2s)?;
    if n == 0 {
        return Ok(());
    }
    let parts = area.split_evenly((n, 1));
    match fig {
        Figure::Lines(l) => {
            let (x0, x1) = fit(
                l.panels
                    .iter()
                    .flat_map(|p| p.series.iter())
                    .flat_map(|s| s.extent(false)),
                l.x_log,
                false,
            );
            for (i, (panel, part)) in l.panels.iter().zip(&parts).enumerate() {
                // The x label once, under the lowest panel.
                let x_label = if i + 1 == n { l.x_label.as_str() } else { "" };
                let (y0, y1) = panel.y_range.unwrap_or_else(|| {
                    fit(
                        panel.series.iter().flat_map(|s| s.extent(true)),
                        panel.y_log,
                        true,
                    )
                });
                match (l.x_log, panel.y_log) {
                    (false, false) => line_panel(part, x_label, l.x_log, panel, x0..x1, y0..y1),
                    (true, false) => {
                        line_panel(part, x_label, l.x_log, panel, (x0..x1).log_scale(), y0..y1)
                    }
                    (false, true) => {
                        line_panel(part, x_label, l.x_log, panel, x0..x1, (y0..y1).log_scale())
                    }
                    (true, true) => line_panel(
                        part,
                        x_label,
                        true,
                        panel,
                        (x0..x1).log_scale(),
                        (y0..y1).log_scale(),
                    ),
                }?;
            }
        }
        Figure::Bars(b) => {
            for (panel, part) in b.panels.iter().zip(&parts) {
                bar_panel(part, b, panel)?;
            }
        }
    }
    Ok(())
}

/// The axis range that holds `values` with a margin; from 0 for a linear y axis of
/// non-negative data, so that bars and rates are read against zero.
fn fit(values: impl Iterator<Item = f64>, log: bool, from_zero: bool) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return if log { (1.0, 10.0) } else { (0.0, 1.0) };
    }
    if log {
        // From a power of ten: plotters labels a log axis from the first power of ten in
        // range, so values below it would go unlabelled.
        let floor = 10f64.powf(lo.log10().floor());
        let lo = if floor < lo { floor } else { lo * 0.9 };
        // Up to a whole multiple of the last power of ten (1600 -> 2000), where plotters
        // puts a label, so that the largest values are not past the last one.
        let top = hi * 1.05;
        let step = 10f64.powf(top.log10().floor());
        return (lo, (top / step).ceil() * step);
    }
    if from_zero && lo >= 0.0 {
        lo = 0.0;
    }
    let span = hi - lo;
    if span <= 0.0 {
        let pad = if hi == 0.0 { 1.0 } else { hi.abs() * 0.1 };
        return (
            lo - if from_zero && lo == 0.0 { 0.0 } else { pad },
            hi + pad,
        );
    }
    let lo = if from_zero && lo == 0.0 {
        0.0
    } else {
        lo - span * 0.04
    };
    (lo, hi + span * 0.06)
}

/// A tick label: at most four significant digits, no exponent for everyday magnitudes.
pub fn tick(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-6..1e7).contains(&a) {
        return format!("{v:.1e}");
    }
    let digits = (3 - a.log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn line_panel<DB, X, Y>(
    area: &DrawingArea<DB, Shift>,
    x_label: &str,
    panel_x_log: bool,
    panel: &Panel,
    x: impl AsRangedCoord<CoordDescType = X, Value = f64>,
    y: impl AsRangedCoord<CoordDescType = Y, Value = f64>,
) -> Res
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let (x_log, y_log) = (panel_x_log, panel.y_log);
    let mut chart = ChartBuilder::on(area)
        .margin_left(12)
        .margin_right(24)
        .margin_top(8)
        .x_label_area_size(if x_label.is_empty() { 28 } else { 48 })
        .y_label_area_size(78)
        .build_cartesian_2d(x, y)
        .map_err(e2s)?;
    let label_font = (FAMILY, 17).into_font();
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(panel.y_label.as_str())
        .axis_desc_style(label_font.clone())
        .label_style((FAMILY, 14).into_font())
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(205, 205, 205))
        // Log axes get their fine lines from the labelled ones; more would crowd a decade.
        .x_max_light_lines(if x_log { 1 } else { 4 })
        .y_max_light_lines(if y_log { 1 } else { 4 })
        .draw()
        .map_err(e2s)?;
    let (xr, yr) = (chart.x_range(), chart.y_range());
    let inside = |&(px, py): &(f64, f64)| {
        px.is_finite()
            && py.is_finite()
            && px >= xr.start
            && px <= xr.end
            && py >= yr.start
            && py <= yr.end
    };
    for (i, s) in panel.series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let clamp = |(px, py): (f64, f64)| (px.clamp(xr.start, xr.end), py.clamp(yr.start, yr.end));
        // The band's outline: along the low edge, back along the high one.
        let outline = |b: &[(f64, f64, f64)], swap: bool| -> Vec<(f64, f64)> {
            let ok: Vec<&(f64, f64, f64)> = b
                .iter()
                .filter(|t| t.1.is_finite() && t.2.is_finite())
                .collect();
            let lows = ok.iter().map(|t| (t.0, t.1));
            let highs = ok.iter().rev().map(|t| (t.0, t.2));
            lows.chain(highs)
                .map(|(a, v)| if swap { (v, a) } else { (a, v) })
                .map(clamp)
                .collect()
        };
        let polygon = match &s.band {
            Band::None => Vec::new(),
            Band::Y(b) => outline(b, false),
            Band::X(b) => outline(b, true),
        };
        if polygon.len() >= 3 {
            chart
                .draw_series(std::iter::once(Polygon::new(polygon, color.mix(0.2))))
                .map_err(e2s)?;
        }
        let pts: Vec<(f64, f64)> = s.points.iter().copied().filter(inside).collect();
        // Each line a little thinner than the one before, so that a line hidden under a
        // later one with the same values (desired and ready replicas) still shows. A line of
        // more points than the panel has pixels (a long run's, decimated to the lowest and
        // highest value of each bucket) is drawn 1 pixel wide: the joins of a wider one turn
        // its zigzag into spikes far past the values.
        let width = if pts.len() > DENSE_POINTS {
            1
        } else if i == 0 {
            4
        } else {
            2
        };
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(width)))
            .map_err(e2s)?
            .label(s.label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(3))
            });
        // Markers only where points are few enough to be measurements, not a curve.
        if pts.len() <= 40 {
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(e2s)?;
        }
    }
    if panel.series.iter().any(|s| !s.label.is_empty()) {
        chart
            .configure_series_labels()
            .label_font((FAMILY, 14).into_font())
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .position(match panel.legend {
                Legend::UpperLeft => SeriesLabelPosition::UpperLeft,
                Legend::LowerRight => SeriesLabelPosition::LowerRight,
            })
            .draw()
            .map_err(e2s)?;
    }
    Ok(())
}

fn bar_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, b: &Bars, p: &BarPanel) -> Res {
    let n = b.categories.len().max(1);
    let (_, hi) = fit(
        p.values
            .iter()
            .flat_map(|(v, ci)| [*v, ci.map_or(f64::NAN, |c| c.1)]),
        false,
        true,
    );
    let mut chart = ChartBuilder::on(area)
        .margin_left(12)
        .margin_right(24)
        .margin_top(8)
        .x_label_area_size(40)
        .y_label_area_size(78)
        .build_cartesian_2d((0..n - 1).into_segmented(), 0.0..hi)
        .map_err(e2s)?;
    let cats = &b.categories;
    // Category names shrink to fit their slot (a glyph is about 0.6 em wide).
    let longest = cats
        .iter()
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let slot_px = f64::from(WIDTH - 120) / n as f64;
    let label_size = (slot_px / (longest * 0.6)).clamp(9.0, 15.0);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_desc(p.y_label.as_str())
        .axis_desc_style((FAMILY, 17).into_font())
        .label_style((FAMILY, 15).into_font())
        .x_label_style((FAMILY, label_size).into_font())
        .x_labels(n)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => cats.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .y_label_formatter(&|v| tick(*v))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(205, 205, 205))
        .draw()
        .map_err(e2s)?;
    for (i, (v, ci)) in p.values.iter().enumerate() {
        if !v.is_finite() {
            continue;
        }
        let color = if b.highlight == Some(i) {
            PALETTE[5]
        } else if b.muted.get(i).copied().unwrap_or(false) {
            MUTED
        } else {
            PALETTE[0]
        };
        let mut bar = Rectangle::new(
            [
                (SegmentValue::Exact(i), 0.0),
                (SegmentValue::Exact(i + 1), *v),
            ],
            color.mix(0.85).filled(),
        );
        // Bars about 60% of their slot, whatever the number of categories.
        let slot = (WIDTH - 120) / n as u32;
        bar.set_margin(0, 0, slot / 5, slot / 5);
        chart.draw_series(std::iter::once(bar)).map_err(e2s)?;
        if let Some((lo, hi)) = ci.filter(|c| c.0.is_finite() && c.1.is_finite()) {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![
                        (SegmentValue::CenterOf(i), lo),
                        (SegmentValue::CenterOf(i), hi),
                    ],
                    BLACK.stroke_width(2),
                )))
                .map_err(e2s)?;
        }
        chart
            .draw_series(std::iter::once(Text::new(
                tick(*v),
                // Above the whisker, so that the two do not overlap.
                (SegmentValue::CenterOf(i), ci.map_or(*v, |c| c.1.max(*v))),
                TextStyle::from((FAMILY, 15).into_font()).pos(
                    plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Center,
                        plotters::style::text_anchor::VPos::Bottom,
                    ),
                ),
            )))
            .map_err(e2s)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_short() {
        assert_eq!(tick(0.5), "0.5");
        assert_eq!(tick(1000.0), "1000");
        assert_eq!(tick(12.345678), "12.35");
        assert_eq!(tick(0.000123456), "0.0001235");
        assert_eq!(tick(2.0e9), "2.0e9");
    }

    #[test]
    fn ranges_hold_the_data() {
        let (lo, hi) = fit([2.0, 8.0].into_iter(), false, true);
        assert_eq!(lo, 0.0);
        assert!(hi > 8.0);
        let (lo, hi) = fit([10.0, 1000.0, f64::NAN].into_iter(), true, true);
        assert!(lo < 10.0 && lo > 0.0 && hi > 1000.0);
        assert_eq!(fit(std::iter::empty(), false, true), (0.0, 1.0));
    }
}

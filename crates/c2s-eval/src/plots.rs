//! The report's figures, drawn with plotters to SVG (inline in the HTML) and
//! PNG. Text uses the bundled DejaVu Sans, so PNGs look the same everywhere.

use std::path::Path;
use std::sync::Once;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{EvalError, Result};

static FONT: Once = Once::new();
const FONT_NAME: &str = "sans-serif";

fn ensure_font() {
    FONT.call_once(|| {
        // The font ships in the binary; it parses, or the build is broken.
        plotters::style::register_font(
            FONT_NAME,
            FontStyle::Normal,
            include_bytes!("../fonts/DejaVuSans.ttf"),
        )
        .unwrap_or_else(|_| panic!("bundled font does not parse"));
    });
}

/// A drawn figure: its name (file stem), title and SVG text.
#[derive(Debug, Clone)]
pub struct Figure {
    pub name: String,
    pub title: String,
    pub svg: String,
}

/// Something that draws itself on any plotters backend.
pub trait Chart {
    fn title(&self) -> &str;
    fn size(&self) -> (u32, u32) {
        (760, 520)
    }
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String>;
}

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Draws `chart` as SVG (returned) and as `dir/NAME.svg` and `dir/NAME.png`.
pub fn render(name: &str, chart: &impl Chart, dir: &Path) -> Result<Figure> {
    ensure_font();
    let size = chart.size();
    let plot_err = |problem: String| EvalError::Plot {
        plot: name.to_string(),
        problem,
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        chart.draw(&root).map_err(plot_err)?;
        root.present().map_err(|e| plot_err(e.to_string()))?;
    }
    let svg_path = dir.join(format!("{name}.svg"));
    std::fs::write(&svg_path, &svg).map_err(|e| EvalError::io(&svg_path, e))?;
    let png_path = dir.join(format!("{name}.png"));
    {
        let root = BitMapBackend::new(&png_path, size).into_drawing_area();
        chart.draw(&root).map_err(plot_err)?;
        root.present().map_err(|e| plot_err(e.to_string()))?;
    }
    Ok(Figure {
        name: name.to_string(),
        title: chart.title().to_string(),
        svg,
    })
}

fn color(i: usize) -> RGBColor {
    // Tableau 10, then Palette99 for long label lists.
    const T10: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    if i < T10.len() {
        let (r, g, b) = T10[i];
        RGBColor(r, g, b)
    } else {
        let c = Palette99::pick(i).to_rgba();
        RGBColor(c.0, c.1, c.2)
    }
}

fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo { (hi - lo) * 0.05 } else { 0.5 };
    (lo - pad, hi + pad)
}

type Area<DB> = DrawingArea<DB, Shift>;

/// A white canvas split into the plot (left) and its legend panel (right).
fn panels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
) -> std::result::Result<(Area<DB>, Area<DB>), String> {
    root.fill(&WHITE).map_err(err)?;
    let (w, _) = root.dim_in_pixel();
    Ok(root.split_horizontally(w * 7 / 10))
}

type Axes<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Titled numeric axes over the given x and y ranges.
fn axes<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    x_label: &str,
    y_label: &str,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
) -> std::result::Result<Axes<'a, DB>, String> {
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT_NAME, 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style((FONT_NAME, 13))
        .draw()
        .map_err(err)?;
    Ok(chart)
}

#[derive(Clone, Copy)]
enum Marker {
    Dot,
    Cross,
    Line,
}

/// A legend in its own panel beside the plot, so it never hides data.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    items: &[(String, Marker, RGBColor)],
) -> std::result::Result<(), String> {
    let font = (FONT_NAME, 12).into_font().color(&BLACK);
    for (i, (name, marker, c)) in items.iter().enumerate() {
        let y = 50 + 18 * i as i32;
        match marker {
            Marker::Dot => area.draw(&Circle::new((14, y), 4, c.filled())),
            Marker::Cross => area.draw(&Cross::new((14, y), 4, c.stroke_width(2))),
            Marker::Line => area.draw(&PathElement::new(vec![(6, y), (22, y)], c.stroke_width(2))),
        }
        .map_err(err)?;
        area.draw(&Text::new(name.clone(), (28, y - 7), font.clone()))
            .map_err(err)?;
    }
    Ok(())
}

/// (name, drawn hollow, points) of one group of a scatter plot.
pub type PointGroup = (String, bool, Vec<(f64, f64)>);

/// Points coloured by group; `hollow` groups drawn as crosses.
pub struct Scatter {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// (group name, hollow, points).
    pub groups: Vec<PointGroup>,
    /// Colour index per group (groups sharing a colour, e.g. real and generated of one type).
    pub colors: Vec<usize>,
    /// A line to draw over the points (x0, y0, x1, y1), with its legend.
    pub line: Option<((f64, f64, f64, f64), String)>,
    pub point_size: u32,
}

impl Chart for Scatter {
    fn title(&self) -> &str {
        &self.title
    }
    fn size(&self) -> (u32, u32) {
        (900, 600)
    }
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String> {
        let (plot, legend) = panels(root)?;
        let all = || self.groups.iter().flat_map(|g| g.2.iter());
        let x = span(all().map(|p| p.0));
        let y = span(all().map(|p| p.1));
        let mut chart = axes(&plot, &self.title, &self.x_label, &self.y_label, x, y)?;
        let s = self.point_size;
        let mut items = Vec::new();
        for (gi, (name, hollow, pts)) in self.groups.iter().enumerate() {
            let c = color(self.colors.get(gi).copied().unwrap_or(gi));
            if *hollow {
                chart
                    .draw_series(pts.iter().map(|&p| Cross::new(p, s + 1, c.stroke_width(1))))
                    .map_err(err)?;
                items.push((name.clone(), Marker::Cross, c));
            } else {
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, s, c.mix(0.6).filled())))
                    .map_err(err)?;
                items.push((name.clone(), Marker::Dot, c));
            }
        }
        if let Some(((a, b, c2, d), name)) = &self.line {
            chart
                .draw_series(LineSeries::new(
                    vec![(*a, *b), (*c2, *d)],
                    BLACK.stroke_width(2),
                ))
                .map_err(err)?;
            items.push((name.clone(), Marker::Line, BLACK));
        }
        draw_legend(&legend, &items)
    }
}

/// Lines over a shared x axis (loss curves, accuracy against k).
pub struct Lines {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<(String, Vec<(f64, f64)>)>,
    pub y_range: Option<(f64, f64)>,
    pub markers: bool,
}

impl Chart for Lines {
    fn title(&self) -> &str {
        &self.title
    }
    fn size(&self) -> (u32, u32) {
        (900, 520)
    }
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String> {
        let (plot, legend) = panels(root)?;
        let all = || self.series.iter().flat_map(|s| s.1.iter());
        let x = span(all().map(|p| p.0));
        let y = self.y_range.unwrap_or_else(|| span(all().map(|p| p.1)));
        let mut chart = axes(&plot, &self.title, &self.x_label, &self.y_label, x, y)?;
        let mut items = Vec::new();
        for (i, (name, pts)) in self.series.iter().enumerate() {
            let c = color(i);
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
                .map_err(err)?;
            if self.markers {
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))
                    .map_err(err)?;
            }
            items.push((name.clone(), Marker::Line, c));
        }
        draw_legend(&legend, &items)
    }
}

/// A confusion matrix: rows truth, columns predicted, shaded by row share.
pub struct Heatmap {
    pub title: String,
    pub labels: Vec<String>,
    pub counts: Vec<Vec<usize>>,
}

impl Chart for Heatmap {
    fn title(&self) -> &str {
        &self.title
    }
    fn size(&self) -> (u32, u32) {
        let n = self.labels.len() as u32;
        let side = 40 * n.max(1);
        (side + 230, side + 230)
    }
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String> {
        // Drawn in pixels: category labels centred on their cells.
        root.fill(&WHITE).map_err(err)?;
        let n = self.labels.len() as i32;
        let (left, top, cell) = (180, 50, 40);
        let title = (FONT_NAME, 16).into_font().color(&BLACK);
        root.draw(&Text::new(self.title.clone(), (10, 12), title))
            .map_err(err)?;
        let font = (FONT_NAME, 12).into_font().color(&BLACK);
        let right = |t: &str| font.font.box_size(t).map(|(w, _)| w as i32).unwrap_or(0);
        for (r, row) in self.counts.iter().enumerate() {
            let total = row.iter().sum::<usize>().max(1) as f64;
            let y = top + cell * r as i32;
            let label = &self.labels[r];
            root.draw(&Text::new(
                label.clone(),
                (left - 8 - right(label), y + cell / 2 - 7),
                font.clone(),
            ))
            .map_err(err)?;
            for (c, &v) in row.iter().enumerate() {
                let share = v as f64 / total;
                let x = left + cell * c as i32;
                let shade = RGBColor(
                    (255.0 - 224.0 * share) as u8,
                    (255.0 - 136.0 * share) as u8,
                    (255.0 - 75.0 * share) as u8,
                );
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell, y + cell)],
                    shade.filled(),
                ))
                .map_err(err)?;
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell, y + cell)],
                    BLACK.mix(0.15),
                ))
                .map_err(err)?;
                let text = v.to_string();
                let c = if share > 0.5 { WHITE } else { BLACK };
                root.draw(&Text::new(
                    text.clone(),
                    (x + cell / 2 - right(&text) / 2, y + cell / 2 - 7),
                    (FONT_NAME, 12).into_font().color(&c),
                ))
                .map_err(err)?;
            }
        }
        let bottom = top + cell * n;
        let rotated = (FONT_NAME, 12)
            .into_font()
            .transform(FontTransform::Rotate90)
            .color(&BLACK);
        for (c, label) in self.labels.iter().enumerate() {
            let x = left + cell * c as i32 + cell / 2 + 6;
            root.draw(&Text::new(label.clone(), (x, bottom + 6), rotated.clone()))
                .map_err(err)?;
        }
        let axis = (FONT_NAME, 13).into_font().color(&BLACK);
        root.draw(&Text::new(
            "rows: true type · columns: predicted type",
            (left, top - 20),
            axis,
        ))
        .map_err(err)?;
        Ok(())
    }
}

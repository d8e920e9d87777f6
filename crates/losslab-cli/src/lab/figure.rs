//! Line and scatter figures drawn with `plotters`: one or more panels side by
//! side, each with its series, rendered to SVG text (for the report) or to an
//! SVG or PNG file, written atomically.
//!
//! PNG text is drawn with DejaVu Sans, embedded in the binary
//! (`assets/fonts/`, Bitstream Vera licence), so no system font is needed for
//! English. DejaVu has no CJK glyphs: a PNG figure whose text is Chinese is
//! drawn with WenQuanYi Zen Hei instead, loaded at run time from Debian's
//! package `fonts-wqy-zenhei` (`/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc`,
//! GPL with the font exception; not shipped in the repository) or from the
//! file named by `LOSSLAB_CJK_FONT`; without one, such a PNG is an error that
//! says so. SVG figures name the family `sans-serif` and leave the glyphs to
//! the viewer.

use anyhow::{bail, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// A solid line.
    Line,
    /// A dashed line.
    Dashed,
    /// One dot per point.
    Points,
}

/// One named series of points.
#[derive(Debug, Clone)]
pub struct Series {
    /// The legend's label.
    pub label: String,
    /// The points (non-finite ones are skipped).
    pub points: Vec<(f64, f64)>,
    /// How it is drawn.
    pub mark: Mark,
    /// Its colour, an index into the palette (series of one loss share one).
    pub color: usize,
}

impl Series {
    /// A series.
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>, mark: Mark, color: usize) -> Self {
        Series { label: label.into(), points, mark, color }
    }
}

/// One panel: axes, a title, series.
#[derive(Debug, Clone, Default)]
pub struct Panel {
    /// The title above the panel.
    pub title: String,
    /// The x axis's label.
    pub x_label: String,
    /// The y axis's label.
    pub y_label: String,
    /// The series.
    pub series: Vec<Series>,
    /// The y range; `None`: fitted to the data.
    pub y_range: Option<(f64, f64)>,
}

/// Panels side by side.
#[derive(Debug, Clone)]
pub struct Figure {
    /// The panels, left to right.
    pub panels: Vec<Panel>,
    /// Width of one panel in pixels.
    pub panel_width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// Makes a temporary file readable by everyone, as a file created normally
/// would be (`tempfile` creates them readable by the owner only).
pub fn publish(file: &tempfile::NamedTempFile) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.as_file().set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// The palette: colour-blind-friendly (Okabe–Ito), then greys.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(120, 120, 120),
];

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
        // The font is checked by a unit test; a failure here only loses text.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Where a font with CJK glyphs is looked for, after `LOSSLAB_CJK_FONT`:
/// Debian's fonts-wqy-zenhei, then fonts-wqy-microhei.
pub const CJK_FONT_PATHS: &[&str] = &["/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"];

/// The family name the CJK font is registered under.
const CJK_FAMILY: &str = "losslab-cjk";

/// Loads and registers the CJK font once; the path it came from, or why none could be loaded.
fn register_cjk_font() -> Result<&'static str, &'static str> {
    static LOADED: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    let r = LOADED.get_or_init(|| {
        let mut paths: Vec<String> = std::env::var("LOSSLAB_CJK_FONT").ok().filter(|p| !p.is_empty()).into_iter().collect();
        paths.extend(CJK_FONT_PATHS.iter().map(|p| (*p).to_string()));
        for path in &paths {
            if let Ok(bytes) = std::fs::read(path) {
                // Registered fonts live as long as the process.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font(CJK_FAMILY, FontStyle::Normal, bytes).is_ok() {
                    return Ok(path.clone());
                }
            }
        }
        Err(format!(
            "a PNG figure with Chinese text needs a font with CJK glyphs, and none was found (tried {}): install Debian's fonts-wqy-zenhei, set LOSSLAB_CJK_FONT to a .ttf/.ttc/.otf file, or write .svg",
            paths.join(", ")
        ))
    });
    r.as_ref().map(String::as_str).map_err(String::as_str)
}

/// Text as the font of `family` can draw it: WenQuanYi Zen Hei has no
/// U+2212 minus sign, so it becomes a hyphen-minus there.
fn glyphs(family: &str, s: &str) -> String {
    if family == CJK_FAMILY {
        s.replace('\u{2212}', "-")
    } else {
        s.to_string()
    }
}

/// Whether `s` holds CJK characters (which DejaVu Sans cannot draw).
pub fn has_cjk(s: &str) -> bool {
    s.chars().any(|c| matches!(c, '\u{2E80}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}' | '\u{FF00}'..='\u{FFEF}'))
}

impl Figure {
    /// Whether any of the figure's text is CJK.
    pub fn needs_cjk(&self) -> bool {
        self.panels.iter().any(|p| has_cjk(&p.title) || has_cjk(&p.x_label) || has_cjk(&p.y_label) || p.series.iter().any(|s| has_cjk(&s.label)))
    }

    /// A figure of the given panels, 520 × 380 pixels each.
    pub fn new(panels: Vec<Panel>) -> Self {
        Figure { panels, panel_width: 520, height: 380 }
    }

    fn size(&self) -> (u32, u32) {
        #[allow(clippy::cast_possible_truncation)]
        let n = self.panels.len().max(1) as u32;
        (self.panel_width * n, self.height)
    }

    /// The figure as SVG text.
    ///
    /// # Errors
    /// If drawing fails (a panel without finite points).
    pub fn to_svg(&self) -> Result<String> {
        register_font();
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, self.size()).into_drawing_area();
            self.draw(&root, "sans-serif")?;
            root.present().map_err(|e| anyhow::anyhow!("cannot draw the figure: {e:?}"))?;
        }
        Ok(svg)
    }

    /// Writes the figure to `path`, SVG or PNG by its extension, atomically:
    /// into a temporary file beside it, renamed over `path` once complete.
    ///
    /// # Errors
    /// Another extension, a directory that does not exist, or a failed draw or write.
    pub fn write(&self, path: &Path) -> Result<()> {
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            bail!("cannot write `{}`: the directory `{}` does not exist", path.display(), dir.display());
        }
        let context = || format!("cannot write `{}`", path.display());
        match ext.as_deref() {
            Some("svg") => {
                let svg = self.to_svg()?;
                let mut tmp = tempfile::Builder::new().prefix(".losslab-").suffix(".svg").tempfile_in(dir).with_context(context)?;
                std::io::Write::write_all(&mut tmp, svg.as_bytes()).with_context(context)?;
                publish(&tmp).with_context(context)?;
                tmp.persist(path).map_err(|e| anyhow::Error::new(e.error)).with_context(context)?;
            }
            Some("png") => {
                register_font();
                let family = if self.needs_cjk() {
                    register_cjk_font().map_err(|e| anyhow::anyhow!("cannot write `{}`: {e}", path.display()))?;
                    CJK_FAMILY
                } else {
                    "sans-serif"
                };
                let tmp = tempfile::Builder::new().prefix(".losslab-").suffix(".png").tempfile_in(dir).with_context(context)?;
                {
                    let root = BitMapBackend::new(tmp.path(), self.size()).into_drawing_area();
                    self.draw(&root, family)?;
                    root.present().map_err(|e| anyhow::anyhow!("cannot draw the figure: {e:?}")).with_context(context)?;
                }
                publish(&tmp).with_context(context)?;
                tmp.persist(path).map_err(|e| anyhow::Error::new(e.error)).with_context(context)?;
            }
            _ => bail!("cannot write `{}`: the output must end in .svg or .png", path.display()),
        }
        Ok(())
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, family: &str) -> Result<()> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow::anyhow!("cannot draw the figure: {e:?}");
        root.fill(&WHITE).map_err(err)?;
        let areas = root.split_evenly((1, self.panels.len().max(1)));
        for (panel, area) in self.panels.iter().zip(areas) {
            draw_panel(panel, &area, family).map_err(|e| anyhow::anyhow!("cannot draw `{}`: {e}", panel.title))?;
        }
        Ok(())
    }
}

fn finite(points: &[(f64, f64)]) -> impl Iterator<Item = (f64, f64)> + '_ {
    points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite())
}

fn range(vals: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return None;
    }
    if hi - lo < 1e-12 {
        let pad = lo.abs().max(1.0) * 0.1;
        return Some((lo - pad, hi + pad));
    }
    let pad = (hi - lo) * 0.05;
    Some((lo - pad, hi + pad))
}

fn draw_panel<DB: DrawingBackend>(panel: &Panel, area: &DrawingArea<DB, Shift>, family: &str) -> Result<(), String> {
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| format!("{x:?}");
    let all = || panel.series.iter().flat_map(|s| finite(&s.points));
    let (x0, x1) = range(all().map(|p| p.0)).ok_or("no finite point to draw")?;
    let (y0, y1) = match panel.y_range {
        Some(r) => r,
        None => range(all().map(|p| p.1)).ok_or("no finite point to draw")?,
    };
    let mut chart = ChartBuilder::on(area)
        .caption(glyphs(family, &panel.title), (family, 16))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(glyphs(family, &panel.x_label))
        .y_desc(glyphs(family, &panel.y_label))
        .label_style((family, 12))
        .axis_desc_style((family, 13))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(210, 210, 210))
        .draw()
        .map_err(e)?;
    let in_range = |(x, y): &(f64, f64)| *y >= y0 && *y <= y1 && *x >= x0 && *x <= x1;
    for s in &panel.series {
        let color = PALETTE[s.color % PALETTE.len()];
        let pts: Vec<(f64, f64)> = finite(&s.points).collect();
        let mark = s.mark;
        if mark == Mark::Points {
            chart
                .draw_series(pts.iter().filter(|p| in_range(p)).map(|&p| Circle::new(p, 2, color.mix(0.6).filled())))
                .map_err(e)?;
        } else {
            // Break the line where it leaves the y range, so that clipped parts do not smear the border.
            for seg in segments(&pts, y0, y1) {
                if mark == Mark::Dashed {
                    chart.draw_series(DashedLineSeries::new(seg, 6, 4, color.stroke_width(2)))
                } else {
                    chart.draw_series(LineSeries::new(seg, color.stroke_width(2)))
                }
                .map_err(e)?;
            }
        }
    }
    // The legend, drawn by hand in the panel's top right corner (plotters'
    // own legend needs a 'static backend, which an SVG string is not).
    let labelled: Vec<&Series> = panel.series.iter().filter(|s| !s.label.is_empty()).collect();
    if !labelled.is_empty() {
        let (w, _) = area.dim_in_pixel();
        let longest = labelled.iter().map(|s| s.label.chars().count()).max().unwrap_or(0);
        #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
        let box_w = (longest as i32) * 7 + 34;
        #[allow(clippy::cast_possible_wrap)]
        let x0 = (w as i32 - box_w - 22).max(60);
        let y0 = 40;
        #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
        let box_h = labelled.len() as i32 * 16 + 8;
        area.draw(&Rectangle::new([(x0, y0), (x0 + box_w, y0 + box_h)], WHITE.mix(0.85).filled())).map_err(e)?;
        area.draw(&Rectangle::new([(x0, y0), (x0 + box_w, y0 + box_h)], RGBColor(180, 180, 180))).map_err(e)?;
        for (i, s) in labelled.iter().enumerate() {
            let color = PALETTE[s.color % PALETTE.len()];
            #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
            let y = y0 + 12 + i as i32 * 16;
            match s.mark {
                Mark::Points => area.draw(&Circle::new((x0 + 14, y), 3, color.filled())).map_err(e)?,
                Mark::Dashed => {
                    area.draw(&PathElement::new(vec![(x0 + 6, y), (x0 + 12, y)], color.stroke_width(2))).map_err(e)?;
                    area.draw(&PathElement::new(vec![(x0 + 16, y), (x0 + 22, y)], color.stroke_width(2))).map_err(e)?;
                }
                Mark::Line => area.draw(&PathElement::new(vec![(x0 + 6, y), (x0 + 22, y)], color.stroke_width(2))).map_err(e)?,
            }
            area.draw(&Text::new(glyphs(family, &s.label), (x0 + 28, y - 7), (family, 12).into_font())).map_err(e)?;
        }
    }
    Ok(())
}

/// The runs of consecutive points inside `[y0, y1]`, each extended to the
/// boundary crossing so that lines end at the border.
fn segments(pts: &[(f64, f64)], y0: f64, y1: f64) -> Vec<Vec<(f64, f64)>> {
    let inside = |y: f64| y >= y0 && y <= y1;
    let clamp = |a: (f64, f64), b: (f64, f64)| {
        // The point on a→b where y reaches the boundary b lies beyond.
        let yb = if b.1 > y1 { y1 } else { y0 };
        let t = (yb - a.1) / (b.1 - a.1);
        (a.0 + t * (b.0 - a.0), yb)
    };
    let mut out = vec![];
    let mut cur: Vec<(f64, f64)> = vec![];
    for (i, &p) in pts.iter().enumerate() {
        if inside(p.1) {
            if cur.is_empty() && i > 0 && !inside(pts[i - 1].1) {
                cur.push(clamp(p, pts[i - 1]));
            }
            cur.push(p);
        } else if !cur.is_empty() {
            let last = *cur.last().expect("non-empty");
            cur.push(clamp(last, p));
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig() -> Figure {
        let pts: Vec<(f64, f64)> = (0..50).map(|i| (f64::from(i) / 10.0, (f64::from(i) / 10.0).powi(2))).collect();
        Figure::new(vec![Panel {
            title: "x²".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            series: vec![Series::new("square", pts.clone(), Mark::Line, 0), Series::new("dots", pts, Mark::Points, 1)],
            y_range: Some((0.0, 10.0)),
        }])
    }

    #[test]
    fn svg_and_png() {
        let svg = fig().to_svg().unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("square"), "{}", &svg[..200]);
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("f.png");
        fig().write(&png).unwrap();
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
        assert!(fig().write(&dir.path().join("f.jpg")).unwrap_err().to_string().contains(".svg or .png"));
    }

    #[test]
    fn png_with_chinese_text_uses_a_cjk_font() {
        let mut f = fig();
        f.panels[0].title = "损失随残差的变化".into();
        assert!(f.needs_cjk() && !fig().needs_cjk());
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("zh.png");
        match register_cjk_font() {
            // The font exists here (Debian's fonts-wqy-zenhei): the PNG is drawn with it.
            Ok(_) => {
                f.write(&png).unwrap();
                assert_eq!(&std::fs::read(&png).unwrap()[1..4], b"PNG");
            }
            // No CJK font on this machine: a clear error, and no file.
            Err(_) => {
                let e = f.write(&png).unwrap_err().to_string();
                assert!(e.contains("fonts-wqy-zenhei") && e.contains("LOSSLAB_CJK_FONT"), "{e}");
                assert!(!png.exists());
            }
        }
    }

    #[test]
    fn segments_split_at_the_range() {
        let s = segments(&[(0.0, 0.0), (1.0, 2.0), (2.0, 0.5)], 0.0, 1.0);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0], vec![(0.0, 0.0), (0.5, 1.0)]);
        assert!((s[1][0].0 - 5.0 / 3.0).abs() < 1e-12 && s[1][0].1 == 1.0 && s[1][1] == (2.0, 0.5));
    }
}

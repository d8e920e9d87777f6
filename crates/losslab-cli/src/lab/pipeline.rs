//! Question 2 drawn: the cross-entropy pipeline (logits → softmax → −log p of
//! the true class → batch mean) as an SVG diagram, with the numbers of a
//! worked example on each stage, computed by [`losslab`], and the gradient
//! flowing back underneath (1/N per example, −1/p at the true class,
//! softmax − one-hot at the logits).

use anyhow::Result;
use losslab::{CrossEntropyLoss, Reduction};
use ndarray::{Array1, Array2, Axis, Ix2};
use std::fmt::Write as _;

/// The labels of the diagram, in the page's language.
#[derive(Debug, Clone, Copy)]
pub struct PipelineLabels<'a> {
    /// "logits z".
    pub logits: &'a str,
    /// "softmax p".
    pub softmax: &'a str,
    /// "−log p[true]".
    pub nll: &'a str,
    /// "batch mean".
    pub mean: &'a str,
    /// "forward".
    pub forward: &'a str,
    /// "backward (gradient)".
    pub backward: &'a str,
    /// "example".
    pub example: &'a str,
    /// "true class".
    pub true_class: &'a str,
}

/// Every number of the diagram.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// The logits, one row per example.
    pub z: Array2<f64>,
    /// The true classes.
    pub target: Vec<usize>,
    /// softmax(z), row by row.
    pub p: Array2<f64>,
    /// −log p of the true class, per example.
    pub per_example: Array1<f64>,
    /// Their mean: the loss.
    pub loss: f64,
    /// ∂loss/∂(−log p[true]) = 1/N per example.
    pub grad_per_example: f64,
    /// ∂loss/∂p[true] = −1/(N p[true]) per example.
    pub grad_p_true: Array1<f64>,
    /// ∂loss/∂z = (softmax − one-hot)/N (the library's backward).
    pub grad_z: Array2<f64>,
}

/// The numbers of the pipeline for logits `z` and true classes `target`.
///
/// # Errors
/// A class out of range.
pub fn compute(z: &Array2<f64>, target: &[usize]) -> Result<Pipeline> {
    let labels = Array1::from(target.iter().map(|&t| t as i64).collect::<Vec<_>>());
    let p = losslab::softmax(&z.view(), Axis(1))?.into_dimensionality::<Ix2>()?;
    let per_example = CrossEntropyLoss::new().reduction(Reduction::None).forward(z.view(), labels.view())?.into_dimensionality()?;
    let (loss, g) = CrossEntropyLoss::new().forward_backward(z.view(), labels.view())?;
    #[allow(clippy::cast_precision_loss)]
    let n = z.nrows() as f64;
    let grad_p_true = Array1::from(target.iter().enumerate().map(|(i, &t)| -1.0 / (n * p[[i, t]])).collect::<Vec<_>>());
    Ok(Pipeline {
        z: z.clone(),
        target: target.to_vec(),
        p,
        per_example,
        loss: loss[[]],
        grad_per_example: 1.0 / n,
        grad_p_true,
        grad_z: g.input.into_dimensionality()?,
    })
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn fmt(v: f64) -> String {
    let s = format!("{v:.4}");
    if s == "-0.0000" { "0.0000".into() } else { s }
}

/// The diagram as an SVG element.
pub fn svg(pipe: &Pipeline, labels: &PipelineLabels<'_>) -> String {
    let (n, c) = pipe.z.dim();
    let box_w = 210.0;
    let gap = 50.0;
    let row_h = 18.0;
    let head = 44.0;
    let rows_h = (n * (c + 1)) as f64 * row_h;
    let h_fwd = head + rows_h + 16.0;
    let height = h_fwd * 2.0 + 40.0;
    let width = 4.0 * box_w + 3.0 * gap + 20.0;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"13\">\
         <defs><marker id=\"arr\" markerWidth=\"10\" markerHeight=\"8\" refX=\"9\" refY=\"4\" orient=\"auto\"><path d=\"M0,0 L10,4 L0,8 z\" fill=\"#444\"/></marker>\
         <marker id=\"arrb\" markerWidth=\"10\" markerHeight=\"8\" refX=\"9\" refY=\"4\" orient=\"auto\"><path d=\"M0,0 L10,4 L0,8 z\" fill=\"#d55e00\"/></marker></defs>"
    );
    let _ = write!(s, "<text x=\"10\" y=\"14\" font-weight=\"bold\">{} →</text>", esc(labels.forward));
    let _ = write!(s, "<text x=\"10\" y=\"{}\" font-weight=\"bold\" fill=\"#d55e00\">← {}</text>", h_fwd + 30.0, esc(labels.backward));
    let titles = [labels.logits, labels.softmax, labels.nll, labels.mean];
    for (k, title) in titles.iter().enumerate() {
        let x = 10.0 + k as f64 * (box_w + gap);
        for (y0, stroke) in [(20.0, "#0072b2"), (h_fwd + 36.0, "#d55e00")] {
            let _ = write!(s, "<rect x=\"{x}\" y=\"{y0}\" width=\"{box_w}\" height=\"{}\" rx=\"6\" fill=\"#fff\" stroke=\"{stroke}\" stroke-width=\"1.5\"/>", h_fwd - 24.0);
        }
        let _ = write!(s, "<text x=\"{}\" y=\"38\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>", x + box_w / 2.0, esc(title));
        let grad_title = match k {
            0 => "∂L/∂z = (p − y)/N".to_string(),
            1 => "∂L/∂p[t] = −1/(N·p[t])".to_string(),
            2 => format!("∂L/∂ℓᵢ = 1/N = {}", fmt(pipe.grad_per_example)),
            _ => "∂L/∂L = 1".to_string(),
        };
        let _ = write!(s, "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-weight=\"bold\" fill=\"#d55e00\">{}</text>", x + box_w / 2.0, h_fwd + 54.0, esc(&grad_title));
        if k < 3 {
            let ax = x + box_w;
            let _ = write!(s, "<line x1=\"{ax}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#444\" stroke-width=\"2\" marker-end=\"url(#arr)\"/>", h_fwd / 2.0 + 10.0, ax + gap - 2.0);
            let by = h_fwd + 36.0 + (h_fwd - 24.0) / 2.0;
            let _ = write!(s, "<line x1=\"{0}\" y1=\"{by}\" x2=\"{1}\" y2=\"{by}\" stroke=\"#d55e00\" stroke-width=\"2\" marker-end=\"url(#arrb)\"/>", ax + gap - 2.0, ax + 2.0);
        }
    }
    let text = |s: &mut String, k: usize, y: f64, t: &str, fill: &str, bold: bool| {
        let x = 10.0 + k as f64 * (box_w + gap) + 12.0;
        let _ = write!(s, "<text x=\"{x}\" y=\"{y}\" fill=\"{fill}\"{}>{}</text>", if bold { " font-weight=\"bold\"" } else { "" }, esc(t));
    };
    for i in 0..n {
        let t = pipe.target[i];
        let y_fwd = head + 14.0 + (i * (c + 1)) as f64 * row_h;
        let y_bwd = y_fwd + h_fwd + 16.0;
        let caption = format!("{} {} ({} {t})", labels.example, i + 1, labels.true_class);
        text(&mut s, 0, y_fwd, &caption, "#444", false);
        text(&mut s, 0, y_bwd, &caption, "#444", false);
        for j in 0..c {
            let yy = y_fwd + (j + 1) as f64 * row_h;
            let yb = y_bwd + (j + 1) as f64 * row_h;
            let mark = j == t;
            text(&mut s, 0, yy, &format!("z{j} = {}", fmt(pipe.z[[i, j]])), "#222", mark);
            text(&mut s, 1, yy, &format!("p{j} = {}", fmt(pipe.p[[i, j]])), "#222", mark);
            text(&mut s, 0, yb, &format!("∂L/∂z{j} = {}", fmt(pipe.grad_z[[i, j]])), "#d55e00", mark);
            if mark {
                text(&mut s, 2, yy, &format!("−ln {} = {}", fmt(pipe.p[[i, j]]), fmt(pipe.per_example[i])), "#222", true);
                text(&mut s, 1, yb, &format!("∂L/∂p{j} = {}", fmt(pipe.grad_p_true[i])), "#d55e00", true);
                text(&mut s, 2, yb, &format!("∂L/∂ℓ{} = {}", i + 1, fmt(pipe.grad_per_example)), "#d55e00", false);
            }
        }
    }
    let mid = head + 14.0 + row_h;
    let terms = pipe.per_example.iter().map(|&v| fmt(v)).collect::<Vec<_>>().join(" + ");
    text(&mut s, 3, mid, &format!("({terms}) / {n}"), "#222", false);
    text(&mut s, 3, mid + row_h, &format!("L = {}", fmt(pipe.loss)), "#222", true);
    text(&mut s, 3, mid + h_fwd + 16.0, "1", "#d55e00", true);
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worked_example_by_hand() {
        let z = ndarray::array![[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]];
        let p = compute(&z, &[0, 2]).unwrap();
        let e = [2f64.exp(), 1f64.exp(), 0.1f64.exp()];
        let p00 = e[0] / e.iter().sum::<f64>();
        assert!((p.p[[0, 0]] - p00).abs() < 1e-15);
        assert!((p.per_example[0] + p00.ln()).abs() < 1e-15);
        assert!((p.grad_z[[0, 0]] - (p00 - 1.0) / 2.0).abs() < 1e-15);
        assert!((p.grad_p_true[0] + 1.0 / (2.0 * p00)).abs() < 1e-15);
        let labels = PipelineLabels { logits: "logits z", softmax: "softmax p", nll: "−log p[true]", mean: "batch mean", forward: "forward", backward: "backward", example: "example", true_class: "true class" };
        let svg = svg(&p, &labels);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains(&format!("p0 = {:.4}", p00)) && svg.contains(&format!("L = {:.4}", p.loss)));
        assert!(svg.contains("−ln 0.6590 = 0.4170"), "the article's first example: p = 0.659, −ln p = 0.417");
    }
}

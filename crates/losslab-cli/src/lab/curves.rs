//! A loss and its gradient along one axis (the residual, the margin or the
//! predicted probability), for any element-wise loss of the catalog, evaluated
//! by [`catalog::evaluate`](losslab_registry::evaluate) (so by the library).

use losslab_registry::{resolve, EvalRequest, LossSpec, OptionValue, TensorKind};
use crate::lab::figure::{Mark, Panel, Series};
use crate::lab::i18n::Lang;
use losslab_registry::Tensor;
use anyhow::{bail, Result};
use losslab::Reduction;
use ndarray::Array1;

/// What a curve is drawn against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Against {
    /// `r = input − target` (regression): input = r, target = 0.
    Residual,
    /// `m = y·logit` of a positive example (binary classification): input = m, target = 1.
    Margin,
    /// The predicted probability `p` of the true class: input = p, target = 1.
    Probability,
}

impl Against {
    /// The axis's label.
    pub fn label(self) -> &'static str {
        match self {
            Against::Residual => "residual r = input − target",
            Against::Margin => "margin m = logit of the true class (target 1)",
            Against::Probability => "predicted probability p of the true class",
        }
    }

    /// The axis's label in `lang`.
    pub fn label_in(self, lang: Lang) -> String {
        lang.t(match self {
            Against::Residual => "axis-residual-label",
            Against::Margin => "axis-margin-label",
            Against::Probability => "axis-probability-label",
        })
    }

    /// The default grid: 401 points.
    pub fn grid(self) -> Vec<f64> {
        let (lo, hi) = match self {
            Against::Residual | Against::Margin => (-4.0, 4.0),
            Against::Probability => (0.001, 0.999),
        };
        (0..=400).map(|i| lo + (hi - lo) * f64::from(i) / 400.0).collect()
    }

    /// The axis a loss is naturally drawn against.
    pub fn natural(spec: &LossSpec) -> Against {
        let n = spec.name;
        if n.contains("with_logits") || n.contains("hinge") || n.contains("margin") || n.contains("logistic") {
            Against::Margin
        } else if spec.tensor("input").is_none() || n.starts_with("binary_cross_entropy") || n.contains("focal") {
            Against::Probability
        } else {
            Against::Residual
        }
    }
}

/// Short names `plot` accepts besides the catalog's.
pub const ALIASES: &[(&str, &str)] = &[
    ("mse", "torch:mse_loss"),
    ("l2", "torch:mse_loss"),
    ("l1", "torch:l1_loss"),
    ("mae", "torch:l1_loss"),
    ("smooth-l1", "torch:smooth_l1_loss"),
    ("smooth_l1", "torch:smooth_l1_loss"),
    ("huber", "torch:huber_loss"),
    ("bce", "torch:binary_cross_entropy"),
    ("bce-with-logits", "torch:binary_cross_entropy_with_logits"),
    ("logistic", "torch:binary_cross_entropy_with_logits"),
    ("binary-entropy", "losslab:binary_entropy"),
    ("self-information", "losslab:self_information"),
];

/// A loss and its gradient along an axis.
#[derive(Debug, Clone)]
pub struct Curve {
    /// The loss's qualified name.
    pub name: String,
    /// Its one-line summary.
    pub summary: &'static str,
    /// The axis.
    pub against: Against,
    /// The points of the axis.
    pub xs: Vec<f64>,
    /// The loss at each point.
    pub values: Vec<f64>,
    /// Its derivative along the axis at each point.
    pub grads: Vec<f64>,
}

/// The catalog loss a name means (an [`ALIASES`] entry or a catalog name).
///
/// # Errors
/// An unknown name (the message suggests close ones).
pub fn lookup(name: &str) -> Result<&'static LossSpec> {
    let name = ALIASES.iter().find(|(a, _)| *a == name).map_or(name, |(_, n)| n);
    Ok(resolve(name)?)
}

/// Evaluates `name` (see [`lookup`]) and its gradient along `against` at `xs`.
/// Information functions of one tensor `p` (binary entropy, self-information)
/// are drawn in bits.
///
/// # Errors
/// An unknown loss; a loss that is not element-wise in one prediction tensor
/// (and a float target); a loss undefined all along the axis.
pub fn curve(name: &str, against: Against, xs: &[f64]) -> Result<Curve> {
    let spec = lookup(name)?;
    let qname = spec.qualified_name();
    let x = Tensor::F64(Array1::from(xs.to_vec()).into_dyn());
    let mut request = EvalRequest { want_grads: true, reduction: Some(Reduction::None), ..EvalRequest::default() };
    let required: Vec<_> = spec.tensors.iter().filter(|t| t.required).collect();
    let input = match required.as_slice() {
        [one] if matches!(one.kind, TensorKind::Float | TensorKind::Promoted) => {
            if spec.option("base").is_some() {
                request.options.insert("base".into(), OptionValue::Float(2.0));
            }
            one.name
        }
        [a, b] if a.name == "input" && b.name == "target" && b.kind != TensorKind::Int => {
            let t = if against == Against::Residual { 0.0 } else { 1.0 };
            request.tensors.insert("target".into(), Tensor::F64(Array1::from_elem(xs.len(), t).into_dyn()).into());
            "input"
        }
        _ => {
            let names: Vec<_> = required.iter().map(|t| t.name).collect();
            bail!("{qname} cannot be plotted: it takes ({}), and plot draws losses of one prediction `input` against a float `target` (or of one tensor `p`)", names.join(", "))
        }
    };
    request.tensors.insert(input.into(), x.into());
    let e = spec
        .evaluate(request)
        .map_err(|e| anyhow::anyhow!("{qname} cannot be plotted against the {}: {e:#}", axis_name(against)))?;
    let values = e.value.to_f64_vec();
    if values.len() != xs.len() {
        bail!("{qname} cannot be plotted: it is not element-wise (one value per point)");
    }
    let grads = e.grads.get(input).map(Tensor::to_f64_vec).unwrap_or_else(|| vec![f64::NAN; xs.len()]);
    if values.iter().all(|v| !v.is_finite()) {
        bail!("{qname} is not defined along the {} (try --against {})", against.label(), axis_name(Against::natural(spec)));
    }
    Ok(Curve { name: qname, summary: spec.summary, against, xs: xs.to_vec(), values, grads })
}

/// The `--against` value of an axis.
pub fn axis_name(a: Against) -> &'static str {
    match a {
        Against::Residual => "residual",
        Against::Margin => "margin",
        Against::Probability => "probability",
    }
}

/// The name of an axis in `lang` (`residual`, `残差`...).
pub fn axis_name_in(a: Against, lang: Lang) -> String {
    lang.t(match a {
        Against::Residual => "axis-residual",
        Against::Margin => "axis-margin",
        Against::Probability => "axis-probability",
    })
}

/// Two panels, the losses and their gradients, one colour per loss.
pub fn panels(curves: &[Curve]) -> Vec<Panel> {
    panels_in(curves, Lang::En)
}

/// [`panels`] with the titles and axis labels in `lang`.
pub fn panels_in(curves: &[Curve], lang: Lang) -> Vec<Panel> {
    let Some(first) = curves.first() else { return vec![] };
    let label = first.against.label_in(lang);
    let (mut loss, mut grad) = (Panel::default(), Panel::default());
    loss.title = lang.t("curve-loss-title");
    grad.title = lang.t("curve-gradient-title");
    for (p, y) in [(&mut loss, lang.t("curve-loss")), (&mut grad, lang.t("curve-gradient"))] {
        p.x_label = label.clone();
        p.y_label = y;
    }
    for (i, c) in curves.iter().enumerate() {
        let v = c.xs.iter().copied().zip(c.values.iter().copied()).collect();
        let g = c.xs.iter().copied().zip(c.grads.iter().copied()).collect();
        loss.series.push(Series::new(c.name.clone(), v, Mark::Line, i));
        grad.series.push(Series::new(c.name.clone(), g, Mark::Line, i));
    }
    // Keep steep losses (−log p near 0) from flattening the others.
    loss.y_range = clip_range(curves.iter().flat_map(|c| c.values.iter().copied()));
    grad.y_range = clip_range(curves.iter().flat_map(|c| c.grads.iter().copied()));
    vec![loss, grad]
}

/// A y range that shows the bulk of the values: the 2nd to 98th percentile
/// widened by a tenth, or everything when that is narrow anyway.
fn clip_range(vals: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let mut v: Vec<f64> = vals.filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let q = |f: f64| {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let i = ((v.len() - 1) as f64 * f).round() as usize;
        v[i]
    };
    let (lo, hi) = (q(0.02).min(0.0), q(0.98));
    if hi - lo < 1e-12 {
        return None;
    }
    let pad = (hi - lo) * 0.1;
    Some((lo - pad, hi + pad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn residual_curves_match_closed_forms() {
        let c = curve("huber", Against::Residual, &[-3.0, 0.5, 2.0]).unwrap();
        assert_eq!(c.name, "torch:huber_loss");
        assert_eq!(c.values, vec![2.5, 0.125, 1.5]);
        assert_eq!(c.grads, vec![-1.0, 0.5, 1.0]);
        let c = curve("logistic", Against::Margin, &[0.0]).unwrap();
        assert!((c.values[0] - 2f64.ln()).abs() < 1e-15);
        assert!((c.grads[0] + 0.5).abs() < 1e-15);
        let c = curve("binary-entropy", Against::Probability, &[0.5]).unwrap();
        assert!((c.values[0] - 1.0).abs() < 1e-15, "in bits");
    }

    #[test]
    fn unplottable() {
        let e = curve("nll_loss", Against::Residual, &[0.0]).unwrap_err().to_string();
        assert!(e.contains("cannot be plotted"), "{e}");
        assert!(curve("no_such_loss", Against::Residual, &[0.0]).is_err());
    }
}

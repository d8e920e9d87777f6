//! The curves that explain three of today's loss families (issue 17), each
//! computed by the registry, as `losslab eval` computes the losses:
//!
//! - DPO's loss against the implicit reward margin, one curve per `loss_type`
//!   ([`dpo_curves`]);
//! - the angular margin's effect on the decision boundary of a two-class face
//!   classifier: ArcFace, CosFace and SphereFace against the plain normalised
//!   softmax ([`angular_curves`], [`boundary_angle`]);
//! - diffusion's min-SNR-γ weights against the timestep ([`min_snr_curves`]).

use anyhow::{anyhow, Result};
use losslab::Reduction;
use losslab_registry::{evaluate, EvalRequest, Evaluation, OptionValue, Tensor};
use ndarray::{arr1, Array1, Array2};

/// One named curve.
#[derive(Debug, Clone)]
pub struct NamedCurve {
    /// The curve's label (a `loss_type`, a loss or a prediction type).
    pub label: String,
    /// The points.
    pub points: Vec<(f64, f64)>,
}

fn value(loss: &str, reduction: Option<Reduction>, tensors: Vec<(&str, Tensor)>, options: Vec<(&str, OptionValue)>) -> Result<Evaluation> {
    let mut request = EvalRequest { reduction, ..EvalRequest::default() };
    for (name, t) in tensors {
        request.tensors.insert(name.into(), t.into());
    }
    for (name, o) in options {
        request.options.insert(name.into(), o);
    }
    evaluate(loss, request).map_err(|e| anyhow!("{e}"))
}

fn name(s: &str) -> OptionValue {
    OptionValue::Name(losslab_registry::Name::new(s).expect("a valid option name"))
}

/// The DPO `loss_type`s drawn (eight: one colour each), with the options each needs to be defined
/// (`exo_pair` needs ε > 0, `robust` is `sigmoid` at ε = 0). `aot` and
/// `aot_unpaired` (which sort the batch) and `bco_pair` (a running mean) depend on
/// the rest of the batch, not on one pair's margin, and are not drawn.
pub const DPO_TYPES: &[(&str, f64)] =
    &[("sigmoid", 0.0), ("hinge", 0.0), ("ipo", 0.0), ("robust", 0.1), ("exo_pair", 1e-3), ("nca_pair", 0.0), ("sppo_hard", 0.0), ("apo_zero", 0.0)];

/// The β of the DPO curves (TRL's default).
pub const DPO_BETA: f64 = 0.1;

/// `trl:dpo_loss` of one pair against the implicit reward margin
/// `h = β ((log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l)))`,
/// the pair's chosen reward `h / 2` and rejected reward `−h / 2` (the reference's
/// log-probabilities 0), for each `loss_type` of [`DPO_TYPES`].
///
/// # Errors
/// If the registry rejects a request (it does not: the inputs are valid).
pub fn dpo_curves(margins: &[f64]) -> Result<Vec<NamedCurve>> {
    let n = margins.len();
    let chosen = Array1::from_iter(margins.iter().map(|h| h / (2.0 * DPO_BETA)));
    let zeros = Array1::<f64>::zeros(n);
    DPO_TYPES
        .iter()
        .map(|&(loss_type, smoothing)| {
            // Per pair: the `none` reduction.
            let e = value(
                "trl:dpo_loss",
                Some(Reduction::None),
                vec![
                    ("chosen_logps", Tensor::F64(chosen.clone().into_dyn())),
                    ("rejected_logps", Tensor::F64((-&chosen).into_dyn())),
                    ("ref_chosen_logps", Tensor::F64(zeros.clone().into_dyn())),
                    ("ref_rejected_logps", Tensor::F64(zeros.clone().into_dyn())),
                ],
                vec![("loss_type", name(loss_type)), ("beta", OptionValue::Float(DPO_BETA)), ("label_smoothing", OptionValue::Float(smoothing))],
            )?;
            let values = e.value.to_f64_vec();
            Ok(NamedCurve { label: loss_type.to_string(), points: margins.iter().copied().zip(values).collect() })
        })
        .collect()
}

/// The margins of the angular-margin curves: pml's defaults for the margins,
/// one scale for all (so that only the margin differs).
pub const ANGULAR: &[(&str, &str, f64)] = &[("softmax (no margin)", "pml:cos_face", 0.0), ("ArcFace, m = 28.6°", "pml:arc_face", 28.6), ("CosFace, m = 0.35", "pml:cos_face", 0.35), ("SphereFace, m = 4", "pml:sphere_face", 4.0)];

/// The scale of the angular-margin curves.
pub const ANGULAR_SCALE: f64 = 16.0;

/// The loss of one embedding of class 0 at angle `θ` (degrees) from class 0's
/// centre, in a plane where class 1's centre is at 90°, for each loss of
/// [`ANGULAR`]: the plain normalised softmax is at its decision boundary (loss
/// ln 2) at 45°; a margin moves the angle at which the loss falls to ln 2 towards
/// class 0's centre, so that a class must be tighter to be classified.
///
/// # Errors
/// If the registry rejects a request (it does not: the inputs are valid).
pub fn angular_curves(thetas_deg: &[f64]) -> Result<Vec<NamedCurve>> {
    let w = Array2::<f64>::eye(2);
    ANGULAR
        .iter()
        .map(|&(label, loss, margin)| {
            let points = thetas_deg
                .iter()
                .map(|&deg| {
                    let th = deg.to_radians();
                    let e = value(
                        loss,
                        None,
                        vec![
                            ("embeddings", Tensor::F64(Array2::from_shape_vec((1, 2), vec![th.cos(), th.sin()]).expect("1 × 2").into_dyn())),
                            ("labels", Tensor::I64(arr1(&[0i64]).into_dyn())),
                            ("W", Tensor::F64(w.clone().into_dyn())),
                        ],
                        vec![("margin", OptionValue::Float(margin)), ("scale", OptionValue::Float(ANGULAR_SCALE))],
                    )?;
                    Ok((deg, e.value.to_f64_vec()[0]))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(NamedCurve { label: label.to_string(), points })
        })
        .collect()
}

/// The angle (degrees) at which a curve of [`angular_curves`] crosses ln 2, the
/// loss of a 50/50 prediction: the decision boundary, linearly interpolated.
pub fn boundary_angle(curve: &NamedCurve) -> Option<f64> {
    let ln2 = std::f64::consts::LN_2;
    curve.points.windows(2).find_map(|w| {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        ((y0 - ln2) * (y1 - ln2) <= 0.0 && y0 != y1).then(|| x0 + (ln2 - y0) * (x1 - x0) / (y1 - y0))
    })
}

/// Stable Diffusion's noise schedule (`scaled_linear`, β from 0.00085 to 0.012
/// over 1000 steps): its cumulative ᾱ.
pub fn scaled_linear_alphas_cumprod() -> Vec<f64> {
    let (a, b, n) = (0.00085f64.sqrt(), 0.012f64.sqrt(), 1000);
    let mut prod = 1.0;
    (0..n)
        .map(|i| {
            let beta = (a + (b - a) * i as f64 / (n - 1) as f64).powi(2);
            prod *= 1.0 - beta;
            prod
        })
        .collect()
}

/// The min-SNR-γ weights (γ = 5) against the timestep for ε-, v- and
/// x₀-prediction, and the SNR itself (log₁₀), as `diffusers:min_snr_loss`
/// reports them in its `weights` and `snr` outputs, on
/// [`scaled_linear_alphas_cumprod`].
///
/// # Errors
/// If the registry rejects a request (it does not: the inputs are valid).
pub fn min_snr_curves(timesteps: &[i64]) -> Result<(NamedCurve, Vec<NamedCurve>)> {
    let alphas = Array1::from(scaled_linear_alphas_cumprod());
    let n = timesteps.len();
    let mut snr = None;
    let mut weights = vec![];
    for kind in ["epsilon", "v_prediction", "sample"] {
        let e = value(
            "diffusers:min_snr_loss",
            None,
            vec![
                ("model_pred", Tensor::F64(Array2::<f64>::zeros((n, 1)).into_dyn())),
                ("target", Tensor::F64(Array2::<f64>::ones((n, 1)).into_dyn())),
                ("timesteps", Tensor::I64(Array1::from(timesteps.to_vec()).into_dyn())),
                ("alphas_cumprod", Tensor::F64(alphas.clone().into_dyn())),
            ],
            vec![("prediction_type", name(kind)), ("snr_gamma", OptionValue::Float(5.0))],
        )?;
        let get = |k: &str| e.outputs.get(k).map(Tensor::to_f64_vec).ok_or_else(|| anyhow!("diffusers:min_snr_loss gave no `{k}` output"));
        let xs = timesteps.iter().map(|&t| t as f64);
        if snr.is_none() {
            snr = Some(NamedCurve { label: "log₁₀ SNR".into(), points: xs.clone().zip(get("snr")?.into_iter().map(f64::log10)).collect() });
        }
        weights.push(NamedCurve { label: kind.to_string(), points: xs.zip(get("weights")?).collect() });
    }
    Ok((snr.expect("three prediction types"), weights))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpo_sigmoid_is_the_logistic_loss_of_the_margin_and_hinge_its_hinge() {
        let hs = [-3.0, -0.5, 0.0, 0.7, 2.5];
        let curves = dpo_curves(&hs).unwrap();
        let get = |t: &str| curves.iter().find(|c| c.label == t).unwrap();
        for (i, &h) in hs.iter().enumerate() {
            // Independently: −log σ(h) and max(0, 1 − h) (TRL: relu(1 − β·Δ)).
            let sigmoid = (1.0 + (-h).exp()).ln();
            assert!((get("sigmoid").points[i].1 - sigmoid).abs() < 1e-12, "{h}");
            assert!((get("hinge").points[i].1 - (1.0 - h).max(0.0)).abs() < 1e-12, "{h}");
            // IPO: (Δ − 1/(2β))² with Δ = h/β, the margin before β.
            let ipo = (h / DPO_BETA - 1.0 / (2.0 * DPO_BETA)).powi(2);
            assert!((get("ipo").points[i].1 - ipo).abs() < 1e-9 * ipo.max(1.0), "{h}");
        }
    }

    #[test]
    fn margins_move_the_decision_boundary_towards_the_class_centre() {
        let thetas: Vec<f64> = (0..=180).map(|i| f64::from(i) * 0.5).collect();
        let curves = angular_curves(&thetas).unwrap();
        let at = |i: usize| boundary_angle(&curves[i]).unwrap();
        // No margin: cos θ = sin θ at 45°.
        assert!((at(0) - 45.0).abs() < 1e-6, "{}", at(0));
        // ArcFace: cos(θ + m) = sin θ = cos(90° − θ) at θ = 45° − m/2.
        assert!((at(1) - (45.0 - 28.6 / 2.0)).abs() < 0.05, "{}", at(1));
        // CosFace: cos θ − 0.35 = sin θ, i.e. √2 cos(θ + 45°) = 0.35.
        let cosface = (0.35f64 / 2f64.sqrt()).acos().to_degrees() - 45.0;
        assert!((at(2) - cosface).abs() < 0.05, "{} vs {cosface}", at(2));
        // SphereFace moves it too.
        assert!(at(3) < 45.0, "{}", at(3));
    }

    #[test]
    fn min_snr_weights_are_the_capped_snr_ratios() {
        let ts = [0i64, 100, 400, 999];
        let (snr, w) = min_snr_curves(&ts).unwrap();
        let alphas = scaled_linear_alphas_cumprod();
        for (i, &t) in ts.iter().enumerate() {
            let a = alphas[t as usize];
            let s = a / (1.0 - a);
            // diffusers computes in float32: relative tolerance accordingly.
            assert!((snr.points[i].1 - s.log10()).abs() < 1e-5 * s.log10().abs().max(1.0), "{t}");
            let close = |got: f64, want: f64| (got - want).abs() <= 1e-5 * want.abs().max(1e-3);
            assert!(close(w[0].points[i].1, s.min(5.0) / s), "epsilon at {t}");
            assert!(close(w[1].points[i].1, s.min(5.0) / (s + 1.0)), "v at {t}");
            assert!(close(w[2].points[i].1, s.min(5.0)), "sample at {t}");
        }
    }
}

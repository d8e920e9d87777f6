//! Likelihood and margin losses: gradients by finite differences in f64 for
//! every loss and reduction, identities between losses, the edge cases each is
//! known for (zero Poisson targets, variances at and below eps, exact-margin
//! ties, saturated margins) and error messages. Values against the references
//! are in the golden suite (crates/losslab-cli/tests/golden/likelihood_margin.json).

use crate::common;

use common::{assert_close, check_gradient, dot, Rng};
use losslab::{GaussianNllLoss, Gradients, HingeEmbeddingLoss, L2Loss, LogPoissonLoss, MarginRankingLoss, MultiMarginLoss, MulticlassHingeLoss, MulticlassPerceptronLoss, MultilabelMarginLoss, MultilabelSoftMarginLoss, PerceptronLoss, PoissonNllLoss, Reduction, Result, SigmoidCrossEntropyWithLogits, SoftMarginLoss, WeightedCrossEntropyWithLogits};
use losslab::margin::{KerasCategoricalHinge, KerasHinge, KerasSquaredHinge};
use losslab::likelihood::KerasPoisson;
use ndarray::{array, ArrayD, ArrayViewD, IxDyn};

/// The upstream gradient for a result of `shape`: random for unreduced results, 0.7 for scalars.
fn upstream(rng: &mut Rng, shape: &[usize]) -> ArrayD<f64> {
    if shape.is_empty() {
        ArrayD::from_elem(IxDyn(&[]), 0.7)
    } else {
        rng.array(shape, -1.0, 1.0)
    }
}

type LabelFwd = dyn Fn(&ArrayD<f64>) -> ArrayD<f64>;
type LabelBwd = dyn Fn(&ArrayD<f64>, ArrayViewD<'_, f64>) -> ArrayD<f64>;
type Fwd<'a> = dyn Fn(&ArrayD<f64>, &ArrayD<f64>) -> Result<ArrayD<f64>> + 'a;
type Bwd<'a> = dyn Fn(&ArrayD<f64>, &ArrayD<f64>, ArrayViewD<'_, f64>) -> Result<Gradients<f64>> + 'a;

/// Checks `backward` of a two-tensor loss against finite differences of
/// `Σ g · forward` in the prediction (`pred_first`: the first argument is the
/// prediction) and, where `Some`, in the other tensor.
fn check_pair(name: &str, rng: &mut Rng, a: &ArrayD<f64>, b: &ArrayD<f64>, pred_first: bool, fwd: &Fwd<'_>, bwd: &Bwd<'_>) {
    let out = fwd(a, b).unwrap();
    let g = upstream(rng, out.shape());
    let grads = bwd(a, b, g.view()).unwrap();
    let (pred_grad, other_grad) = (&grads.input, grads.target.as_ref());
    let (ga, gb) = if pred_first { (Some(pred_grad), other_grad) } else { (other_grad, Some(pred_grad)) };
    if let Some(ga) = ga {
        check_gradient(&format!("{name} d/d(first)"), a, ga, |a| dot(&g, &fwd(a, b).unwrap()));
    }
    if let Some(gb) = gb {
        check_gradient(&format!("{name} d/d(second)"), b, gb, |b| dot(&g, &fwd(a, b).unwrap()));
    }
    // forward_backward is forward + backward with ones.
    let ones = ArrayD::from_elem(out.shape(), 1.0);
    let g1 = bwd(a, b, ones.view()).unwrap();
    assert_eq!(g1.input.shape(), pred_grad.shape());
}

macro_rules! pair {
    ($loss:expr, pred_first) => {
        (
            Box::new(|a: &ArrayD<f64>, b: &ArrayD<f64>| $loss.forward(a.view(), b.view())) as Box<Fwd<'_>>,
            Box::new(|a: &ArrayD<f64>, b: &ArrayD<f64>, g: ArrayViewD<'_, f64>| $loss.backward(a.view(), b.view(), g)) as Box<Bwd<'_>>,
            true,
        )
    };
    ($loss:expr, pred_second) => {
        (
            Box::new(|a: &ArrayD<f64>, b: &ArrayD<f64>| $loss.forward(a.view(), b.view())) as Box<Fwd<'_>>,
            Box::new(|a: &ArrayD<f64>, b: &ArrayD<f64>, g: ArrayViewD<'_, f64>| $loss.backward(a.view(), b.view(), g)) as Box<Bwd<'_>>,
            false,
        )
    };
}

fn signs(rng: &mut Rng, shape: &[usize]) -> ArrayD<f64> {
    rng.array(shape, -1.0, 1.0).mapv(|v| if v < 0.0 { -1.0 } else { 1.0 })
}

#[test]
fn elementwise_gradients_match_finite_differences() {
    let mut rng = Rng::new(11);
    for shape in [vec![], vec![5], vec![3, 4], vec![2, 3, 2]] {
        let x = rng.array(&shape, -2.0, 2.0);
        let rate = rng.array(&shape, 0.2, 3.0);
        let counts = rng.array(&shape, 1.2, 5.0); // away from the Stirling mask's edge at 1
        let soft = rng.array(&shape, 0.05, 0.95);
        let s = signs(&mut rng, &shape);
        let d = rng.array(&shape, 0.2, 2.0); // distances away from margin 1
        let d = d.mapv(|v| if (v - 1.0).abs() < 0.05 { v + 0.2 } else { v });
        for r in Reduction::ALL {
            let poisson = [
                PoissonNllLoss::new().reduction(r),
                PoissonNllLoss::new().reduction(r).full(true),
                PoissonNllLoss::new().reduction(r).log_input(false).eps(0.1),
                PoissonNllLoss::new().reduction(r).log_input(false).full(true),
            ];
            for (k, p) in poisson.iter().enumerate() {
                let input = if p.log_input { &x } else { &rate };
                let (f, b, pf) = pair!(p, pred_first);
                check_pair(&format!("poisson {k} {r} {shape:?}"), &mut rng, input, &counts, pf, &*f, &*b);
            }
            let lp = LogPoissonLoss::new().reduction(r).compute_full_loss(true);
            let (f, b, pf) = pair!(lp, pred_second);
            check_pair(&format!("log_poisson {r}"), &mut rng, &counts, &x, pf, &*f, &*b);
            let sig = SigmoidCrossEntropyWithLogits::new().reduction(r);
            let (f, b, pf) = pair!(sig, pred_second);
            check_pair(&format!("sigmoid ce {r}"), &mut rng, &soft, &x, pf, &*f, &*b);
            let wce = WeightedCrossEntropyWithLogits::new(2.5).reduction(r);
            let (f, b, pf) = pair!(wce, pred_second);
            check_pair(&format!("weighted ce {r}"), &mut rng, &soft, &x, pf, &*f, &*b);
            let mrl_x2 = rng.array(&shape, -2.0, 2.0);
            let mrl = MarginRankingLoss::new().reduction(r).margin(0.3);
            let out = mrl.forward(x.view(), mrl_x2.view(), s.view()).unwrap();
            let g = upstream(&mut rng, out.shape());
            let gr = mrl.backward(x.view(), mrl_x2.view(), s.view(), g.view()).unwrap();
            let obj = |a: &ArrayD<f64>, b: &ArrayD<f64>, t: &ArrayD<f64>| dot(&g, &mrl.forward(a.view(), b.view(), t.view()).unwrap());
            check_gradient("mrl d/dinput1", &x, &gr.input1, |a| obj(a, &mrl_x2, &s));
            check_gradient("mrl d/dinput2", &mrl_x2, &gr.input2, |b| obj(&x, b, &s));
            check_gradient("mrl d/dtarget", &s, &gr.target, |t| obj(&x, &mrl_x2, t));
            let hel = HingeEmbeddingLoss::new().reduction(r);
            let (f, b, pf) = pair!(hel, pred_first);
            check_pair(&format!("hinge embedding {r}"), &mut rng, &d, &s, pf, &*f, &*b);
            let sml = SoftMarginLoss::new().reduction(r);
            let (f, b, pf) = pair!(sml, pred_first);
            check_pair(&format!("soft margin {r}"), &mut rng, &x, &s, pf, &*f, &*b);
            let per = PerceptronLoss::new().reduction(r);
            let (f, b, pf) = pair!(per, pred_first);
            check_pair(&format!("perceptron {r}"), &mut rng, &x, &s, pf, &*f, &*b);
            let l2 = L2Loss::new().reduction(r);
            let (val, g) = l2.forward_backward(x.view()).unwrap();
            let go = ArrayD::from_elem(val.shape(), 1.0);
            check_gradient("l2", &x, &g.input, |t| dot(&go, &l2.forward(t.view()).unwrap()));
        }
    }
}

#[test]
fn gaussian_nll_gradients_match_finite_differences_for_every_var_shape() {
    let mut rng = Rng::new(12);
    let x = rng.array(&[4, 3], -2.0, 2.0);
    let y = rng.array(&[4, 3], -2.0, 2.0);
    for vshape in [vec![4, 3], vec![4], vec![4, 1], vec![1, 3]] {
        let v = rng.array(&vshape, 0.2, 2.0);
        for r in Reduction::ALL {
            for loss in [GaussianNllLoss::new().reduction(r), GaussianNllLoss::new().reduction(r).full(true).eps(0.01)] {
                let out = loss.forward(x.view(), y.view(), v.view()).unwrap();
                let g = upstream(&mut rng, out.shape());
                let gr = loss.backward(x.view(), y.view(), v.view(), g.view()).unwrap();
                let obj = |a: &ArrayD<f64>, b: &ArrayD<f64>, c: &ArrayD<f64>| dot(&g, &loss.forward(a.view(), b.view(), c.view()).unwrap());
                check_gradient("gnll d/dinput", &x, &gr.input, |a| obj(a, &y, &v));
                check_gradient("gnll d/dtarget", &y, &gr.target, |b| obj(&x, b, &v));
                check_gradient(&format!("gnll d/dvar {vshape:?}"), &v, &gr.var, |c| obj(&x, &y, c));
            }
        }
    }
    // A per-sample variance is the same as that variance repeated along the last axis.
    let v = rng.array(&[4], 0.2, 2.0);
    let full = ArrayD::from_shape_fn(IxDyn(&[4, 3]), |i| v[i[0]]);
    let loss = GaussianNllLoss::new().reduction(Reduction::None);
    assert_close("gnll homoscedastic", &loss.forward(x.view(), y.view(), v.view()).unwrap(), &loss.forward(x.view(), y.view(), full.view()).unwrap(), 1e-15);
}

#[test]
fn lane_losses_gradients_match_finite_differences() {
    let mut rng = Rng::new(13);
    for shape in [vec![6], vec![3, 4], vec![2, 3, 4]] {
        let x = rng.array(&shape, -2.0, 2.0);
        let soft = rng.array(&shape, 0.0, 1.0);
        let w = rng.array(&[*shape.last().unwrap()], 0.2, 2.0);
        let pm = signs(&mut rng, &shape);
        // y_pred away from the hinge kink 1 − y·ŷ = 0.
        let yp = x.mapv(|v| if (v.abs() - 1.0).abs() < 0.05 { v * 1.2 } else { v });
        let rate = rng.array(&shape, 0.2, 3.0);
        let counts = rng.array(&shape, 0.0, 4.0);
        let c = *shape.last().unwrap();
        let nd = shape.len();
        let onehot = ArrayD::from_shape_fn(IxDyn(&shape), |i: IxDyn| {
            let lead: usize = (0..nd - 1).map(|k| i[k] * (k + 3)).sum();
            if i[nd - 1] == (lead * 7 + 1) % c { 1.0 } else { 0.0 }
        });
        for r in Reduction::ALL {
            let ml = MultilabelSoftMarginLoss::new().reduction(r).weight(w.view());
            let (f, b, pf) = pair!(ml, pred_first);
            check_pair(&format!("mlsm {r} {shape:?}"), &mut rng, &x, &soft, pf, &*f, &*b);
            let kp = KerasPoisson::new().reduction(r);
            let (f, b, pf) = pair!(kp, pred_second);
            check_pair(&format!("keras poisson {r}"), &mut rng, &counts, &rate, pf, &*f, &*b);
            let kh = KerasHinge::new().reduction(r);
            let (f, b, pf) = pair!(kh, pred_second);
            check_pair(&format!("keras hinge {r}"), &mut rng, &pm, &yp, pf, &*f, &*b);
            let ks = KerasSquaredHinge::new().reduction(r);
            let (f, b, pf) = pair!(ks, pred_second);
            check_pair(&format!("keras squared hinge {r}"), &mut rng, &pm, &yp, pf, &*f, &*b);
            // Random scores: the max of (1 − y)·ŷ is unique and the margin is not met exactly.
            let kc = KerasCategoricalHinge::new().reduction(r);
            let (f, b, pf) = pair!(kc, pred_second);
            check_pair(&format!("keras categorical hinge {r}"), &mut rng, &onehot, &x, pf, &*f, &*b);
        }
    }
}

#[test]
fn label_losses_gradients_match_finite_differences() {
    let mut rng = Rng::new(14);
    let x = rng.array(&[5, 4], -2.0, 2.0);
    let y = ArrayD::from_shape_vec(IxDyn(&[5]), vec![0i64, 3, 1, 2, 3]).unwrap();
    let ml = ArrayD::from_shape_vec(IxDyn(&[5, 4]), vec![0i64, -1, 0, 0, 3, 1, -1, 2, 1, 2, 3, 0, -1, 0, 0, 0, 2, 2, -1, 0]).unwrap();
    for r in Reduction::ALL {
        let losses: Vec<(String, Box<LabelFwd>, Box<LabelBwd>)> = vec![
            {
                let l = MultiMarginLoss::new().reduction(r);
                let l2 = l.clone();
                let (y, y2) = (y.clone(), y.clone());
                ("multi_margin p=1".into(), Box::new(move |x| l.forward(x.view(), y.view()).unwrap()), Box::new(move |x, g| l2.backward(x.view(), y2.view(), g).unwrap().input))
            },
            {
                let l = MultiMarginLoss::new().reduction(r).p(2).margin(1.5).weight(array![0.5, 1.0, 2.0, 0.25].view());
                let l2 = l.clone();
                let (y, y2) = (y.clone(), y.clone());
                ("multi_margin p=2".into(), Box::new(move |x| l.forward(x.view(), y.view()).unwrap()), Box::new(move |x, g| l2.backward(x.view(), y2.view(), g).unwrap().input))
            },
            {
                let l = MultilabelMarginLoss::new().reduction(r);
                let (m, m2) = (ml.clone(), ml.clone());
                ("multilabel_margin".into(), Box::new(move |x| l.forward(x.view(), m.view()).unwrap()), Box::new(move |x, g| MultilabelMarginLoss::new().reduction(r).backward(x.view(), m2.view(), g).unwrap().input))
            },
            {
                let (y, y2) = (y.clone(), y.clone());
                ("optax multiclass_hinge".into(), Box::new(move |x| MulticlassHingeLoss::new().reduction(r).forward(x.view(), y.view()).unwrap()), Box::new(move |x, g| MulticlassHingeLoss::new().reduction(r).backward(x.view(), y2.view(), g).unwrap().input))
            },
            {
                let (y, y2) = (y.clone(), y.clone());
                ("optax multiclass_perceptron".into(), Box::new(move |x| MulticlassPerceptronLoss::new().reduction(r).forward(x.view(), y.view()).unwrap()), Box::new(move |x, g| MulticlassPerceptronLoss::new().reduction(r).backward(x.view(), y2.view(), g).unwrap().input))
            },
        ];
        for (name, f, b) in losses {
            let out = f(&x);
            let g = upstream(&mut rng, out.shape());
            check_gradient(&format!("{name} {r}"), &x, &b(&x, g.view()), |x| dot(&g, &f(x)));
        }
    }
}

// ---------------------------------------------------------------------------------------
// identities

#[test]
fn identities_between_losses() {
    let mut rng = Rng::new(15);
    let x = rng.array(&[3, 4], -3.0, 3.0);
    let z = rng.array(&[3, 4], 0.0, 1.0);
    let none = Reduction::None;
    // weighted cross entropy with pos_weight 1 is sigmoid cross entropy, values and gradients.
    let (a, ga) = SigmoidCrossEntropyWithLogits::new().forward_backward(z.view(), x.view()).unwrap();
    let (b, gb) = WeightedCrossEntropyWithLogits::new(1.0).forward_backward(z.view(), x.view()).unwrap();
    assert_close("wce(1) = sigmoid ce", &b, &a, 1e-14);
    assert_close("wce(1) = sigmoid ce, d/dlogits", &gb.input, &ga.input, 1e-14);
    // TF's log_poisson_loss is torch's poisson_nll_loss with log_input, unreduced (and with full
    // for targets > 1, where both add the Stirling term).
    let counts = rng.array(&[3, 4], 1.5, 6.0);
    for full in [false, true] {
        let tf = LogPoissonLoss::new().compute_full_loss(full).forward(counts.view(), x.view()).unwrap();
        let torch = PoissonNllLoss::new().reduction(none).full(full).forward(x.view(), counts.view()).unwrap();
        assert_close("log_poisson = poisson_nll", &tf, &torch, 1e-14);
    }
    // poisson_nll on a log-rate x equals poisson_nll on the rate exp(x) with eps = 0.
    let on_log = PoissonNllLoss::new().reduction(none).forward(x.view(), counts.view()).unwrap();
    let on_rate = PoissonNllLoss::new().reduction(none).log_input(false).eps(0.0).forward(x.mapv(f64::exp).view(), counts.view()).unwrap();
    assert_close("log_input vs rate", &on_rate, &on_log, 1e-12);
    // soft margin is the one-class multilabel soft margin with targets (y + 1)/2.
    let s = signs(&mut rng, &[3, 4]);
    let sm = SoftMarginLoss::new().reduction(none).forward(x.view(), s.view()).unwrap();
    let x1 = x.clone().insert_axis(ndarray::Axis(2));
    let t1 = s.mapv(|v| (v + 1.0) / 2.0).insert_axis(ndarray::Axis(2));
    let ml = MultilabelSoftMarginLoss::new().reduction(none).forward(x1.view(), t1.view()).unwrap();
    assert_close("soft margin = 1-class multilabel soft margin", &ml, &sm, 1e-14);
    // l2_loss is half the summed MSE against zero.
    let l2 = L2Loss::new().forward(x.view()).unwrap();
    let mse = losslab::mse_loss(x.view(), ArrayD::zeros(x.shape()).view(), Reduction::Sum).unwrap();
    assert!((l2[[]] - mse[[]] / 2.0).abs() <= 1e-14 * mse[[]]);
    // Keras hinge with ±1 labels: squared hinge is the mean of the squared terms.
    let h = KerasHinge::new().forward(s.view(), x.view()).unwrap();
    let terms = (1.0 - &s * &x).mapv(|v| v.max(0.0));
    let want = terms.mean_axis(ndarray::Axis(1)).unwrap();
    assert_close("keras hinge", &h, &want.into_dyn(), 1e-14);
    let sq = KerasSquaredHinge::new().forward(s.view(), x.view()).unwrap();
    assert_close("keras squared hinge", &sq, &terms.mapv(|v| v * v).mean_axis(ndarray::Axis(1)).unwrap().into_dyn(), 1e-14);
    // optax: the perceptron losses are 0 when the label has the top score; multiclass hinge ≥ 1 − margin gap.
    let labels = ArrayD::from_shape_vec(IxDyn(&[3]), (0..3).map(|r| (0..4).max_by(|&a, &b| x[[r, a]].total_cmp(&x[[r, b]])).unwrap()).collect()).unwrap();
    let mp = MulticlassPerceptronLoss::new().forward(x.view(), labels.view()).unwrap();
    assert!(mp.iter().all(|&v| v == 0.0));
    // Keras categorical hinge with one-hot labels equals optax's multiclass hinge when both violate.
    let big = array![[3.0f64, 0.5, 2.5, -1.0], [0.0, 1.0, 0.75, 0.2]];
    let lab = array![1i64, 2];
    let oh = array![[0.0f64, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]];
    let k = KerasCategoricalHinge::new().forward(oh.view(), big.view()).unwrap();
    let o = MulticlassHingeLoss::new().forward(big.view(), lab.view()).unwrap();
    assert_close("categorical hinge = multiclass hinge (violated)", &k, &o, 1e-15);
}

// ---------------------------------------------------------------------------------------
// edge cases

#[test]
fn poisson_zero_and_small_targets() {
    let x = array![0.5f64, 0.5, 0.5, 0.5, 0.5];
    let y = array![0.0f64, 0.5, 1.0, 2.0, -1.0];
    let loss = PoissonNllLoss::new().reduction(Reduction::None).full(true);
    let (v, g) = loss.forward_backward(x.view(), y.view()).unwrap();
    let e = 0.5f64.exp();
    // The Stirling term only where y > 1: 2·log 2 − 2 + ½ log(4π).
    let st = 2.0 * 2f64.ln() - 2.0 + 0.5 * (4.0 * std::f64::consts::PI).ln();
    let want = [e, e - 0.25, e - 0.5, e - 1.0 + st, e + 0.5];
    for (a, b) in v.iter().zip(want) {
        assert!((a - b).abs() < 1e-15, "{a} vs {b}");
    }
    // PyTorch's target gradient: NaN where y ≤ 0 (0 · log y in the masked branch), −x for 0 < y ≤ 1.
    let gt = g.target.unwrap();
    assert!(gt[0].is_nan() && gt[4].is_nan());
    assert_eq!((gt[1], gt[2]), (-0.5, -0.5));
    assert!((gt[3] - (-0.5 + 2f64.ln() + 0.25)).abs() < 1e-15);
    // Without full, a zero target is ordinary: ℓ = exp(x), ∂ℓ/∂y = −x.
    let (v0, g0) = PoissonNllLoss::new().reduction(Reduction::None).forward_backward(x.view(), y.view()).unwrap();
    assert_eq!(v0[0], e);
    assert_eq!(g0.target.unwrap()[0], -0.5);
    // TensorFlow's compute_full_loss keeps the Stirling term for negative targets: NaN.
    let tf = LogPoissonLoss::new().compute_full_loss(true).forward(y.view(), x.view()).unwrap();
    assert!(tf[4].is_nan());
    assert_eq!(tf[0], e);
    // A zero rate with a zero target and log_input = false: eps keeps it finite.
    let r = PoissonNllLoss::new().reduction(Reduction::None).log_input(false).forward(array![0.0f64, 0.0].view(), array![0.0f64, 3.0].view()).unwrap();
    assert_eq!(r[0], 0.0);
    assert!((r[1] - -3.0 * 1e-8f64.ln()).abs() < 1e-12);
}

#[test]
fn gaussian_var_at_and_below_eps_passes_the_gradient_through() {
    let x = array![[0.5f64, 1.0, 2.0]];
    let y = array![[0.0f64, 0.0, 1.0]];
    let v = array![[1e-8f64, 0.0, 1e-6]];
    let (val, g) = GaussianNllLoss::new().reduction(Reduction::None).forward_backward(x.view(), y.view(), v.view()).unwrap();
    let eps = 1e-6f64;
    for (k, d) in [0.5f64, 1.0, 1.0].into_iter().enumerate() {
        // The clamped value in the forward pass, its derivative (not 0) for var.
        assert!((val[[0, k]] - 0.5 * (eps.ln() + d * d / eps)).abs() <= 1e-12 * val[[0, k]].abs());
        let want = 0.5 * (1.0 / eps - d * d / (eps * eps));
        assert!((g.var[[0, k]] - want).abs() <= 1e-12 * want.abs(), "{} vs {want}", g.var[[0, k]]);
        assert!((g.input[[0, k]] - d / eps).abs() <= 1e-9 * d / eps);
    }
}

#[test]
fn exact_margin_ties_take_the_references_gradient() {
    // PyTorch: a term exactly at the margin has gradient 0.
    let g = MarginRankingLoss::new().margin(1.0).forward_backward(array![0.0f64].view(), array![1.0f64].view(), array![-1.0f64].view()).unwrap().1;
    assert_eq!((g.input1[0], g.input2[0], g.target[0]), (0.0, 0.0, 0.0));
    let g = HingeEmbeddingLoss::new().forward_backward(array![1.0f64].view(), array![-1.0f64].view()).unwrap().1;
    assert_eq!(g.input[0], 0.0);
    let (v, g) = MultilabelMarginLoss::new().forward_backward(array![[0.1f64, 1.1, 0.1, 0.3]].view(), array![[1i64, -1, 2, 2]].view()).unwrap();
    assert!((v[[]] - 0.2 / 4.0).abs() < 1e-15); // the two ties contribute 0
    assert_eq!(g.input, array![[0.0, -0.25, 0.0, 0.25]].into_dyn());
    let g = MultiMarginLoss::new().forward_backward(array![[1.0f64, 0.0, 0.5]].view(), array![0i64].view()).unwrap().1;
    assert_eq!(g.input, array![[-1.0 / 3.0, 0.0, 1.0 / 3.0]].into_dyn());
    // JAX (Keras, optax): maximum(z, 0) gives half the gradient at z = 0.
    let g = KerasHinge::new().forward_backward(array![[-1.0f64, 1.0, 0.5]].view(), array![[-1.0f64, 1.0, 0.5]].view()).unwrap().1;
    assert_eq!(g.input, array![[0.5 / 3.0, -0.5 / 3.0, -0.5 / 3.0]].into_dyn());
    let g = PerceptronLoss::new().forward_backward(array![0.0f64, -2.0].view(), array![1.0f64, 1.0].view()).unwrap().1;
    assert_eq!(g.input, array![-0.5, -1.0].into_dyn());
    assert_eq!(g.target.unwrap(), array![-0.0, 2.0].into_dyn());
    // ... and splits a max's gradient equally among tied maxima.
    let g = MulticlassHingeLoss::new().forward_backward(array![[0.5f64, 0.5, 0.5]].view(), array![2i64].view()).unwrap().1;
    assert_eq!(g.input, array![[0.5, 0.5, -1.0]].into_dyn());
    let g = MulticlassPerceptronLoss::new().forward_backward(array![[0.5f64, 0.5, 0.5]].view(), array![2i64].view()).unwrap().1;
    assert!((g.input[[0, 0]] - 1.0 / 3.0).abs() < 1e-16 && (g.input[[0, 2]] + 2.0 / 3.0).abs() < 1e-15);
    // Keras categorical hinge: the target's own slot (0 · ŷ) ties for the max of (1 − y)·ŷ.
    let g = KerasCategoricalHinge::new().forward_backward(array![[0.0f64, 1.0, 0.0]].view(), array![[-1.0f64, -0.5, -2.0]].view()).unwrap().1;
    assert_eq!(g.input, array![[0.0, -1.0, 0.0]].into_dyn());
    assert_eq!(g.target.unwrap(), array![[1.0, 1.0, 2.0]].into_dyn());
}

#[test]
fn tensorflow_weighted_cross_entropy_gradient_at_a_zero_logit() {
    // TensorFlow differentiates |x| and relu(−x) as 0 at 0: ∂ℓ/∂x = 1 − z there, not 1 − z − (1 + (q − 1) z)/2.
    let z = array![0.0f64, 0.5, 1.0];
    let x = array![0.0f64, 0.0, 0.0];
    let g = WeightedCrossEntropyWithLogits::new(3.0).forward_backward(z.view(), x.view()).unwrap().1;
    assert_eq!(g.input, array![1.0, 0.5, 0.0].into_dyn());
    // sigmoid_cross_entropy_with_logits has the true derivative σ(0) − z there.
    let g = SigmoidCrossEntropyWithLogits::new().forward_backward(z.view(), x.view()).unwrap().1;
    assert_eq!(g.input, array![0.5, 0.0, -0.5].into_dyn());
}

#[test]
fn saturated_margins_stay_finite() {
    let x = array![1e4f64, -1e4, 800.0];
    let s = array![-1.0f64, 1.0, -1.0];
    let (v, g) = SoftMarginLoss::new().reduction(Reduction::None).forward_backward(x.view(), s.view()).unwrap();
    assert_eq!(v, array![1e4, 1e4, 800.0].into_dyn()); // PyTorch: inf
    assert_eq!(g.input, array![1.0, -1.0, 1.0].into_dyn()); // PyTorch: NaN
    let v = SigmoidCrossEntropyWithLogits::new().forward(array![0.0f64, 1.0].view(), array![1e4f64, -1e4].view()).unwrap();
    assert_eq!(v, array![1e4, 1e4].into_dyn());
    let v = MultilabelSoftMarginLoss::new().reduction(Reduction::None).forward(array![[1e4f64, -1e4]].view(), array![[1.0f64, 0.0]].view()).unwrap();
    assert_eq!(v[0], 0.0);
}

#[test]
fn keras_hinge_converts_binary_labels_only_when_all_are_binary() {
    let p = array![[0.5f64, 0.25, -2.0]];
    // All 0/1: converted to −1/1 (and the y_true gradient doubles).
    let (v, g) = KerasHinge::new().forward_backward(array![[0.0f64, 1.0, 1.0]].view(), p.view()).unwrap();
    assert!((v[0] - (1.5 + 0.75 + 3.0) / 3.0).abs() < 1e-15);
    assert_eq!(g.target.unwrap(), array![[-1.0 / 3.0, -0.5 / 3.0, 4.0 / 3.0]].into_dyn());
    // A −1 among them: not binary, used as given (0 stays 0).
    let v = KerasHinge::new().forward(array![[0.0f64, 1.0, -1.0]].view(), p.view()).unwrap();
    assert!((v[0] - (1.0 + 0.75 + 0.0) / 3.0).abs() < 1e-15);
}

// ---------------------------------------------------------------------------------------
// Gaussian NLL with a scalar variance (PyTorch's `var` as a Python float)

/// The bits of every element, to compare arrays exactly (NaN included).
fn bits<T: losslab::Float>(a: &ArrayD<T>) -> (Vec<usize>, Vec<u64>) {
    (a.shape().to_vec(), a.iter().map(|v| v.to_wide().to_bits()).collect())
}

/// The scalar path against the tensor path with `var` filled to `input`'s
/// shape (value, input and target gradients), and its `var` gradient against a
/// 0-d `var` tensor on the flattened input (the same elements, in the same
/// order), bit for bit (a reduced value to rounding: its sum's order differs).
fn check_scalar_var_is_the_filled_tensor<T: losslab::Float>(rng: &mut Rng) {
    let t = |a: &ArrayD<f64>| a.mapv(T::from_wide);
    for shape in [vec![], vec![5], vec![4, 3], vec![2, 3, 4]] {
        let (x, y) = (t(&rng.array(&shape, -2.0, 2.0)), t(&rng.array(&shape, -2.0, 2.0)));
        let n = x.len();
        let (xf, yf) = (x.to_shape(IxDyn(&[n])).unwrap().to_owned(), y.to_shape(IxDyn(&[n])).unwrap().to_owned());
        for var in [0.5, 1.75, 3.0, 1e-8, 0.0, 0.05, 0.1 + 1e-12] {
            let v = var; // an f64, rounded to T by the scalar path: the filled tensors hold it rounded
            let filled = ArrayD::from_elem(x.shape(), T::from_wide(var));
            let v0 = ArrayD::from_elem(IxDyn(&[]), T::from_wide(var));
            for r in Reduction::ALL {
                for loss in [GaussianNllLoss::new().reduction(r), GaussianNllLoss::new().reduction(r).full(true).eps(0.1)] {
                    let what = format!("{} {shape:?} var={var} {loss:?}", T::NAME);
                    let (val, g) = loss.forward_backward_scalar_var(x.view(), y.view(), v).unwrap();
                    let (val_t, g_t) = loss.forward_backward(x.view(), y.view(), filled.view()).unwrap();
                    // The filled tensor of one shape takes the fused sweep, the scalar the
                    // general path: each element's loss and gradient are the same bits, a
                    // reduced value's sum is taken in another order (both in f64).
                    let same_value = |a: &ArrayD<T>, b: &ArrayD<T>, what: &str, summed: bool| {
                        if r == Reduction::None && !summed {
                            assert_eq!(bits(a), bits(b), "{what}");
                        } else {
                            let (a, b) = (a.iter().next().unwrap().to_wide(), b.iter().next().unwrap().to_wide());
                            assert!(a == b || (a - b).abs() <= 1e-14 * b.abs().max(1.0) || (a.is_nan() && b.is_nan()), "{what}: {a} vs {b}");
                        }
                    };
                    same_value(&loss.forward_scalar_var(x.view(), y.view(), v).unwrap(), &val_t, &format!("{what}: forward"), false);
                    same_value(&val, &val_t, &format!("{what}: value"), false);
                    assert_eq!(bits(&g.input), bits(&g_t.input), "{what}: grad input");
                    assert_eq!(bits(&g.target), bits(&g_t.target), "{what}: grad target");
                    assert_eq!(g.var.shape(), &[] as &[usize], "{what}: grad var is 0-d");
                    let go = upstream(rng, val.shape()).mapv(T::from_wide);
                    let b = loss.backward_scalar_var(x.view(), y.view(), v, go.view()).unwrap();
                    let b_t = loss.backward(x.view(), y.view(), filled.view(), go.view()).unwrap();
                    assert_eq!(bits(&b.input), bits(&b_t.input), "{what}: backward input");
                    assert_eq!(bits(&b.target), bits(&b_t.target), "{what}: backward target");
                    // BatchMean divides by the first axis, which flattening changes.
                    if r != Reduction::BatchMean || shape.len() <= 1 {
                        let (_, g_0d) = loss.forward_backward(xf.view(), yf.view(), v0.view()).unwrap();
                        same_value(&g.var, &g_0d.var, &format!("{what}: grad var"), true);
                        if r == Reduction::None {
                            let go_f = go.to_shape(IxDyn(&[n])).unwrap().to_owned();
                            let b_0d = loss.backward(xf.view(), yf.view(), v0.view(), go_f.view()).unwrap();
                            same_value(&b.var, &b_0d.var, &format!("{what}: backward var"), true);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn gaussian_scalar_var_is_the_filled_var_tensor_bit_for_bit() {
    let mut rng = Rng::new(31);
    check_scalar_var_is_the_filled_tensor::<f64>(&mut rng);
    check_scalar_var_is_the_filled_tensor::<f32>(&mut rng);
}

#[test]
fn gaussian_scalar_var_gradients_match_finite_differences() {
    let mut rng = Rng::new(32);
    for shape in [vec![], vec![5], vec![4, 3], vec![2, 3, 4]] {
        let x = rng.array(&shape, -2.0, 2.0);
        let y = rng.array(&shape, -2.0, 2.0);
        for var in [0.3, 1.0, 2.5] {
            for r in Reduction::ALL {
                for loss in [GaussianNllLoss::new().reduction(r), GaussianNllLoss::new().reduction(r).full(true).eps(0.01)] {
                    let out = loss.forward_scalar_var(x.view(), y.view(), var).unwrap();
                    let g = upstream(&mut rng, out.shape());
                    let gr = loss.backward_scalar_var(x.view(), y.view(), var, g.view()).unwrap();
                    let obj = |a: &ArrayD<f64>, b: &ArrayD<f64>, v: f64| dot(&g, &loss.forward_scalar_var(a.view(), b.view(), v).unwrap());
                    let what = format!("gnll scalar var {shape:?} var={var} {r}");
                    check_gradient(&format!("{what} d/dinput"), &x, &gr.input, |a| obj(a, &y, var));
                    check_gradient(&format!("{what} d/dtarget"), &y, &gr.target, |b| obj(&x, b, var));
                    let v0 = ArrayD::from_elem(IxDyn(&[]), var);
                    check_gradient(&format!("{what} d/dvar"), &v0, &gr.var, |c| obj(&x, &y, c[[]]));
                }
            }
        }
    }
}

#[test]
fn gaussian_scalar_var_negative_is_pytorchs_error_and_nan_propagates() {
    let x = array![[1.0f64, 2.0], [3.0, 4.0]];
    let y = array![[0.5f64, 2.0], [3.0, 1.0]];
    let loss = GaussianNllLoss::new();
    let want = "gaussian_nll_loss: `var` holds -0.5 at position [], expected a variance >= 0 (PyTorch: var has negative entry/entries)";
    assert_eq!(loss.forward_scalar_var(x.view(), y.view(), -0.5).unwrap_err().to_string(), want);
    assert_eq!(loss.forward_backward_scalar_var(x.view(), y.view(), -0.5).unwrap_err().to_string(), want);
    let go = ArrayD::from_elem(IxDyn(&[]), 1.0);
    assert_eq!(loss.backward_scalar_var(x.view(), y.view(), -0.5, go.view()).unwrap_err().to_string(), want);
    let xf = x.mapv(|v| v as f32);
    assert_eq!(loss.forward_scalar_var(xf.view(), xf.view(), -0.5).unwrap_err().to_string(), want);
    // The sign is checked before rounding to f32, as PyTorch checks the Python float:
    // -1e-300 rounds to -0.0 in f32, but is negative.
    let e = loss.forward_scalar_var(xf.view(), xf.view(), -1e-300).unwrap_err();
    assert!(matches!(e, losslab::LossError::Domain { value, .. } if value == -1e-300), "{e}");
    // ... and the value is rounded to f32 as var * ones_like(input) rounds it.
    let (a, b) = (loss.forward_scalar_var(xf.view(), xf.view(), 0.1), loss.forward_scalar_var(xf.view(), xf.view(), f64::from(0.1f32)));
    assert_eq!(a.unwrap(), b.unwrap());
    assert!(matches!(loss.forward_scalar_var(x.view(), y.view(), f64::NEG_INFINITY), Err(losslab::LossError::Domain { .. })));
    assert!(matches!(loss.forward_scalar_var(x.view(), y.view(), -f64::MIN_POSITIVE), Err(losslab::LossError::Domain { .. })));
    // Checked first, as PyTorch does: before the shapes.
    let e = loss.forward_scalar_var(array![1.0f64, 2.0].view(), array![1.0f64, 2.0, 3.0].view(), -1.0).unwrap_err();
    assert!(matches!(e, losslab::LossError::Domain { .. }), "{e}");
    let e = loss
        .forward_scalar_var(
            array![1.0f64, 2.0].view(),
            array![1.0f64, 2.0, 3.0].view(),
            1.0,
        )
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "gaussian_nll_loss: `target` has shape [3], expected a shape that broadcasts with `input` [2] \
         (PyTorch's broadcasting: sizes aligned from the last axis, equal or 1)"
    );
    // -0.0 is not negative (PyTorch: -0.0 < 0 is False): clamped to eps like 0.
    let a = loss.forward_scalar_var(x.view(), y.view(), -0.0).unwrap();
    assert_eq!(a, loss.forward_scalar_var(x.view(), y.view(), 0.0).unwrap());
    // NaN is not negative either (nan < 0 is False in PyTorch): the loss and every gradient are NaN.
    for r in Reduction::ALL {
        let l = GaussianNllLoss::new().reduction(r);
        let (v, g) = l.forward_backward_scalar_var(x.view(), y.view(), f64::NAN).unwrap();
        assert!(v.iter().all(|v| v.is_nan()), "{r}: {v}");
        assert!(g.input.iter().chain(g.target.iter()).chain(g.var.iter()).all(|v| v.is_nan()), "{r}: {g:?}");
        let (v, _) = l.forward_backward_scalar_var(xf.view(), xf.view(), f64::NAN).unwrap();
        assert!(v.iter().all(|v| v.is_nan()), "{r}: {v}");
    }
}

#[test]
fn gaussian_scalar_var_on_an_empty_input() {
    for shape in [vec![0], vec![2, 0], vec![0, 3]] {
        let x = ArrayD::<f64>::zeros(IxDyn(&shape));
        for r in Reduction::ALL {
            let (v, g) = GaussianNllLoss::new().reduction(r).forward_backward_scalar_var(x.view(), x.view(), 0.5).unwrap();
            match r {
                Reduction::None => assert_eq!(v.shape(), &shape[..]),
                Reduction::Sum => assert_eq!(v[[]], 0.0),
                // 0/0, as documented on Reduction (BatchMean of a non-empty first axis: 0).
                _ => assert!(v[[]].is_nan() || (r == Reduction::BatchMean && shape[0] > 0 && v[[]] == 0.0), "{shape:?} {r}: {v}"),
            }
            assert_eq!((g.input.shape(), g.target.shape()), (&shape[..], &shape[..]));
            assert_eq!(g.var.shape(), &[] as &[usize]);
            assert_eq!(g.var[[]], 0.0, "{shape:?} {r}: nothing to sum");
        }
    }
}

// ---------------------------------------------------------------------------------------
// errors

#[test]
fn errors_name_the_loss_the_tensor_and_the_fix() {
    let x = array![[1.0f64, 2.0], [3.0, 4.0]];
    let e = GaussianNllLoss::new().forward(x.view(), x.view(), array![[1.0f64, -0.5], [1.0, 1.0]].view()).unwrap_err();
    assert_eq!(e.to_string(), "gaussian_nll_loss: `var` holds -0.5 at position [0, 1], expected a variance >= 0 (PyTorch: var has negative entry/entries)");
    let e = GaussianNllLoss::new().forward(x.view(), x.view(), array![1.0f64, 2.0, 3.0].view()).unwrap_err();
    assert!(e.to_string().starts_with("gaussian_nll_loss: `var` has shape [3], expected [2, 2] (the shape of `input`), [2]"), "{e}");
    for bad in [array![[1.0f64, 1.0]].into_dyn(), ArrayD::from_elem(IxDyn(&[2, 2, 1]), 1.0), ArrayD::from_elem(IxDyn(&[1, 1]), 1.0)] {
        assert!(GaussianNllLoss::new().forward(x.view(), x.view(), bad.view()).is_ok() == (bad.shape() == [1, 2]), "{:?}", bad.shape());
    }
    let e = MultiMarginLoss::new().p(3).forward(x.view(), array![0i64, 1].view()).unwrap_err();
    assert_eq!(e.to_string(), "multi_margin_loss: option `p` = 3 is invalid: expected 1 or 2 (PyTorch: only p == 1 and p == 2 supported)");
    let e = MultiMarginLoss::new().forward(x.view(), array![0i64, 2].view()).unwrap_err();
    assert_eq!(e.to_string(), "multi_margin_loss: `target` holds class index 2 at position [1], outside the valid range [0, 2)");
    let e = MultiMarginLoss::new().weight(array![1.0f64].view()).forward(x.view(), array![0i64, 1].view()).unwrap_err();
    assert_eq!(e.to_string(), "multi_margin_loss: `weight` has shape [1], expected [2] (one weight per class)");
    let e = MultilabelMarginLoss::new().forward(x.view(), array![[0i64, -2], [1, -1]].view()).unwrap_err();
    assert_eq!(e.to_string(), "multilabel_margin_loss: `target` holds -2 at position [0, 1], expected a class index in [0, C) or -1 (which ends the sample's targets)");
    let e = MultilabelMarginLoss::new()
        .forward(
            ArrayD::<f64>::zeros(IxDyn(&[2, 2, 2])).view(),
            ArrayD::<i64>::zeros(IxDyn(&[2, 2, 2])).view(),
        )
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "multilabel_margin_loss: `input` has shape [2, 2, 2], expected (), (C,) or (N, C) with C >= 1 (a scalar, or a non-empty vector or matrix)"
    );
    let e = MulticlassHingeLoss::new()
        .forward(x.view(), array![0i64, 5].view())
        .unwrap_err();
    assert_eq!(e.to_string(), "multiclass_hinge_loss: `labels` holds class index 5 at position [1], outside the valid range [0, 2)");
    let e = MulticlassPerceptronLoss::new().forward(x.view(), array![0i64].view()).unwrap_err();
    assert_eq!(e.to_string(), "multiclass_perceptron_loss: `labels` has shape [1], expected [2] (the shape of `scores` without its last axis)");
    let e = SigmoidCrossEntropyWithLogits::new().forward(array![1.0f64].view(), array![1.0f64, 2.0].view()).unwrap_err();
    assert_eq!(e.to_string(), "sigmoid_cross_entropy_with_logits: `labels` has shape [1], expected [2] (the shape of `logits`)");
    let e = KerasHinge::new()
        .forward(ndarray::arr0(1.0f64).view(), ndarray::arr0(1.0f64).view())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "hinge: `y_pred` has shape [], expected at least 1 dimension (the last axis is reduced)"
    );
    let e = WeightedCrossEntropyWithLogits::new(1.0)
        .pos_weight(array![1.0f64, 2.0, 3.0].view())
        .forward(x.view(), x.view())
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("weighted_cross_entropy_with_logits: `pos_weight` has shape [3]"),
        "{e}"
    );
    // PyTorch broadcasts these (once refused here): the result has the broadcast shape.
    let (l, g) = MarginRankingLoss::new()
        .margin(0.5)
        .reduction(Reduction::None)
        .forward_backward(
            array![1.0f64].view(),
            array![1.0f64].view(),
            array![1.0f64, 1.0].view(),
        )
        .unwrap();
    assert_eq!(l, array![0.5, 0.5].into_dyn());
    assert_eq!(
        (g.input1, g.input2, g.target),
        (
            array![-2.0].into_dyn(),
            array![2.0].into_dyn(),
            array![-0.0, -0.0].into_dyn()
        )
    );
    let e = MarginRankingLoss::new()
        .forward(
            array![1.0f64, 2.0].view(),
            array![1.0f64].view(),
            array![1.0f64, 1.0, 1.0].view(),
        )
        .unwrap_err();
    assert!(e.to_string().starts_with("margin_ranking_loss: `target` has shape [3], expected a shape that broadcasts with `input1` [2] and `input2` [1]"), "{e}");
    let e = MarginRankingLoss::new()
        .forward(
            array![[1.0f64]].view().into_dyn(),
            array![1.0f64].view().into_dyn(),
            array![[1.0f64]].view().into_dyn(),
        )
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("PyTorch: All input tensors should have same dimension"),
        "{e}"
    );
    let l = PoissonNllLoss::new()
        .forward(array![1.0f64].view(), array![1.0f64, 1.0].view())
        .unwrap();
    assert!((l[[]] - (1f64.exp() - 1.0)).abs() < 1e-15);
    let e = PoissonNllLoss::new()
        .forward(array![1.0f64, 1.0].view(), array![1.0f64, 1.0, 1.0].view())
        .unwrap_err();
    assert!(e.to_string().starts_with("poisson_nll_loss: `target` has shape [3], expected a shape that broadcasts with `input` [2]"), "{e}");
    let g = ArrayD::from_elem(IxDyn(&[3]), 1.0f64);
    let e = L2Loss::new().backward(x.view(), g.view()).unwrap_err();
    assert_eq!(e.to_string(), "l2_loss: `grad_output` has shape [3], expected [] (the result is a scalar under reduction `sum`)");
}

#[test]
fn f32_agrees_with_f64() {
    let mut rng = Rng::new(16);
    let x = rng.array(&[4, 5], -3.0, 3.0).mapv(|v| v as f32 as f64);
    let y = rng.array(&[4, 5], 0.0, 4.0).mapv(|v| v as f32 as f64);
    let (x32, y32) = (x.mapv(|v| v as f32), y.mapv(|v| v as f32));
    let l = PoissonNllLoss::new().full(true).reduction(Reduction::None);
    let a = l.forward(x.view(), y.view()).unwrap();
    let b = l.forward(x32.view(), y32.view()).unwrap().mapv(f64::from);
    assert_close("poisson f32", &b, &a, 1e-6);
    let s = MultiMarginLoss::new().p(2);
    let lab = array![0i64, 1, 4, 2];
    let a = s.forward_backward(x.view(), lab.view()).unwrap().1.input;
    let b = s.forward_backward(x32.view(), lab.view()).unwrap().1.input.mapv(f64::from);
    assert_close("multi margin grad f32", &b, &a, 1e-6);
}

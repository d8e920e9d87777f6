//! Broadcasting (issue 12): the element-wise losses take operands that broadcast
//! as PyTorch broadcasts them; each gradient, summed back to its operand's
//! shape, is checked by central finite differences in f64 (the values and
//! gradients themselves against PyTorch are in the golden file parity.json).

mod common;

use common::{check_gradient, dot, Rng};
use losslab::{
    GaussianNllLoss, HingeEmbeddingLoss, HuberLoss, KlDivLoss, L1Loss, MarginRankingLoss, MseLoss,
    PoissonNllLoss, Reduction, SmoothL1Loss, SoftMarginLoss,
};
use losslab::{CrossEntropyLoss, MultilabelSoftMarginLoss};
use ndarray::ArrayD;

const PAIRS: &[(&[usize], &[usize])] = &[
    (&[5], &[1]),
    (&[5], &[]),
    (&[], &[5]),
    (&[5, 2], &[1, 2]),
    (&[1, 2], &[5, 2]),
    (&[5, 1], &[1, 3]),
    (&[2, 1, 3], &[4, 1]),
];

/// Checks `backward`'s two gradients (of `Σ g · loss` for a random `g`) by finite differences.
fn check_pair(
    name: &str,
    rng: &mut Rng,
    (xs, ys): (&[usize], &[usize]),
    (xlo, ylo): (f64, f64),
    target_grad: bool,
    forward: impl Fn(&ArrayD<f64>, &ArrayD<f64>) -> ArrayD<f64>,
    backward: impl Fn(&ArrayD<f64>, &ArrayD<f64>, &ArrayD<f64>) -> (ArrayD<f64>, Option<ArrayD<f64>>),
) {
    let x = rng.array(xs, xlo, xlo + 2.0);
    let y = rng.array(ys, ylo, ylo + 2.0);
    let out = forward(&x, &y);
    let g = rng.array(out.shape(), -1.0, 1.0);
    let (gx, gy) = backward(&x, &y, &g);
    check_gradient(&format!("{name} {xs:?}/{ys:?} d/input"), &x, &gx, |x| {
        dot(&g, &forward(x, &y))
    });
    if target_grad {
        check_gradient(
            &format!("{name} {xs:?}/{ys:?} d/target"),
            &y,
            &gy.expect("a target gradient"),
            |y| dot(&g, &forward(&x, y)),
        );
    }
}

macro_rules! pair {
    ($name:literal, $loss:expr, $lo:expr, $tg:expr, $pairs:expr) => {{
        let mut rng = Rng::new(12);
        for &p in $pairs {
            for r in [Reduction::None, Reduction::Mean, Reduction::Sum] {
                let loss = $loss.reduction(r);
                check_pair(
                    $name,
                    &mut rng,
                    p,
                    $lo,
                    $tg,
                    |x, y| loss.forward(x.view(), y.view()).unwrap(),
                    |x, y, g| {
                        let gr = loss.backward(x.view(), y.view(), g.view()).unwrap();
                        assert_eq!(gr.input.shape(), x.shape());
                        if let Some(t) = &gr.target {
                            assert_eq!(t.shape(), y.shape());
                        }
                        (gr.input, gr.target)
                    },
                );
            }
        }
    }};
}

#[test]
fn regression_losses_broadcast_with_gradients_summed_back() {
    pair!("mse_loss", MseLoss::new(), (-1.0, -1.0), true, PAIRS);
    pair!("l1_loss", L1Loss::new(), (-1.0, 2.0), true, PAIRS);
    pair!(
        "smooth_l1_loss",
        SmoothL1Loss::new().beta(0.5),
        (-1.0, -1.0),
        true,
        PAIRS
    );
    pair!(
        "huber_loss",
        HuberLoss::new().delta(0.75),
        (-1.0, -1.0),
        true,
        PAIRS
    );
}

#[test]
fn likelihood_and_margin_losses_broadcast() {
    pair!("kl_div", KlDivLoss::new(), (-1.0, 0.1), true, PAIRS);
    pair!(
        "kl_div log_target",
        KlDivLoss::new().log_target(true),
        (-1.0, -1.0),
        true,
        PAIRS
    );
    pair!(
        "poisson_nll_loss",
        PoissonNllLoss::new(),
        (-1.0, 0.5),
        true,
        PAIRS
    );
    pair!(
        "poisson_nll_loss rate",
        PoissonNllLoss::new().log_input(false).full(true),
        (0.5, 1.5),
        true,
        PAIRS
    );
    pair!(
        "hinge_embedding_loss",
        HingeEmbeddingLoss::new().margin(5.0),
        (0.0, -1.0),
        false,
        PAIRS
    );
    let to_input: &[(&[usize], &[usize])] = &[
        (&[5], &[1]),
        (&[5], &[]),
        (&[5, 2], &[1, 2]),
        (&[2, 3, 2], &[3, 1]),
    ];
    pair!(
        "soft_margin_loss",
        SoftMarginLoss::new(),
        (-1.0, -1.0),
        false,
        to_input
    );
    // soft_margin_loss keeps the input's shape: an input that would grow is an error, as PyTorch's.
    let e = SoftMarginLoss::new()
        .forward(
            ArrayD::<f64>::zeros(vec![1, 2]).view(),
            ArrayD::<f64>::zeros(vec![5, 2]).view(),
        )
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("the shape of `input`, which the result keeps"),
        "{e}"
    );
}

#[test]
fn gaussian_nll_broadcasts_input_target_and_var() {
    let mut rng = Rng::new(7);
    let cases: &[(&[usize], &[usize], &[usize])] = &[
        (&[5], &[1], &[5]),
        (&[5], &[], &[]),
        (&[4, 3], &[1, 3], &[4]),
        (&[4, 3], &[4, 1], &[1, 3]),
        (&[1, 3], &[4, 3], &[1, 3]),
    ];
    for &(xs, ys, vs) in cases {
        let (x, y, v) = (
            rng.array(xs, -1.0, 1.0),
            rng.array(ys, -1.0, 1.0),
            rng.array(vs, 0.5, 2.0),
        );
        let loss = GaussianNllLoss::new().reduction(Reduction::None);
        let f = |x: &ArrayD<f64>, y: &ArrayD<f64>, v: &ArrayD<f64>| {
            loss.forward(x.view(), y.view(), v.view()).unwrap()
        };
        let out = f(&x, &y, &v);
        let g = rng.array(out.shape(), -1.0, 1.0);
        let gr = loss
            .backward(x.view(), y.view(), v.view(), g.view())
            .unwrap();
        check_gradient("gaussian d/input", &x, &gr.input, |x| {
            dot(&g, &f(x, &y, &v))
        });
        check_gradient("gaussian d/target", &y, &gr.target, |y| {
            dot(&g, &f(&x, y, &v))
        });
        check_gradient("gaussian d/var", &v, &gr.var, |v| dot(&g, &f(&x, &y, v)));
    }
}

#[test]
fn margin_ranking_broadcasts_three_operands_of_one_rank() {
    let mut rng = Rng::new(3);
    let cases: &[[&[usize]; 3]] = &[
        [&[5, 2], &[5, 1], &[1, 2]],
        [&[1, 3], &[4, 1], &[4, 3]],
        [&[2, 1, 3], &[1, 4, 1], &[2, 4, 3]],
    ];
    for &[a, b, t] in cases {
        let (x1, x2, y) = (
            rng.array(a, -2.0, 2.0),
            rng.array(b, -2.0, 2.0),
            rng.array(t, -1.5, 1.5),
        );
        let loss = MarginRankingLoss::new()
            .margin(0.3)
            .reduction(Reduction::Sum);
        let f = |x1: &ArrayD<f64>, x2: &ArrayD<f64>, y: &ArrayD<f64>| {
            loss.forward(x1.view(), x2.view(), y.view()).unwrap()[[]]
        };
        let (_, gr) = loss
            .forward_backward(x1.view(), x2.view(), y.view())
            .unwrap();
        check_gradient("margin_ranking d/input1", &x1, &gr.input1, |v| {
            f(v, &x2, &y)
        });
        check_gradient("margin_ranking d/input2", &x2, &gr.input2, |v| {
            f(&x1, v, &y)
        });
        check_gradient("margin_ranking d/target", &y, &gr.target, |v| {
            f(&x1, &x2, v)
        });
    }
}

#[test]
fn multilabel_soft_margin_broadcasts_input_target_and_weight() {
    let mut rng = Rng::new(21);
    // (input, target, weight): the class axis is the input's last; the weight's
    // gradient is PyTorch's autograd's.
    let cases: &[(&[usize], &[usize], Option<&[usize]>)] = &[
        (&[5, 3], &[1, 3], None),
        (&[1, 3], &[5, 3], Some(&[3])),
        (&[5, 3], &[5, 3], Some(&[5, 1])),
        (&[5, 3], &[3], Some(&[])),
        (&[4], &[1], Some(&[4])),
        (&[2, 3, 4], &[3, 1], Some(&[4])),
        (&[3], &[2, 3], Some(&[1, 3])),
    ];
    for &(xs, ys, ws) in cases {
        let (x, y) = (rng.array(xs, -2.0, 2.0), rng.array(ys, 0.0, 1.0));
        let w = ws.map(|s| rng.array(s, 0.2, 2.0));
        for r in [Reduction::None, Reduction::Mean, Reduction::Sum] {
            let with = |w: Option<&ArrayD<f64>>| {
                let l = MultilabelSoftMarginLoss::new().reduction(r);
                match w {
                    Some(w) => l.weight(w.view()),
                    None => l,
                }
            };
            let f = |x: &ArrayD<f64>, y: &ArrayD<f64>, w: Option<&ArrayD<f64>>| {
                with(w).forward(x.view(), y.view()).unwrap()
            };
            let out = f(&x, &y, w.as_ref());
            let g = rng.array(out.shape(), -1.0, 1.0);
            let (gr, gw) = with(w.as_ref())
                .backward_with_weight(x.view(), y.view(), g.view())
                .unwrap();
            let name = format!("multilabel_soft_margin {xs:?}/{ys:?}/{ws:?} {r}");
            check_gradient(&format!("{name} d/input"), &x, &gr.input, |x| {
                dot(&g, &f(x, &y, w.as_ref()))
            });
            check_gradient(&format!("{name} d/target"), &y, gr.target.as_ref().unwrap(), |y| {
                dot(&g, &f(&x, y, w.as_ref()))
            });
            match &w {
                Some(w) => check_gradient(&format!("{name} d/weight"), w, gw.as_ref().unwrap(), |w| {
                    dot(&g, &f(&x, &y, Some(w)))
                }),
                None => assert!(gw.is_none()),
            }
        }
    }
}

#[test]
fn cross_entropy_probabilities_differentiate_the_weight() {
    let mut rng = Rng::new(5);
    for (shape, eps) in [(&[4usize, 3][..], 0.0), (&[2, 3, 4][..], 0.2), (&[3][..], 0.1)] {
        let c = if shape.len() == 1 { shape[0] } else { shape[1] };
        let (x, t) = (rng.array(shape, -2.0, 2.0), rng.array(shape, 0.0, 1.0));
        let w = rng.array(&[c], 0.2, 2.0);
        for r in [Reduction::None, Reduction::Mean, Reduction::Sum] {
            let ce = |w: &ArrayD<f64>| {
                CrossEntropyLoss::new()
                    .reduction(r)
                    .label_smoothing(eps)
                    .weight(w.view().into_dimensionality().unwrap())
            };
            let f = |w: &ArrayD<f64>| ce(w).forward_probs(x.view(), t.view()).unwrap();
            let out = f(&w);
            let g = rng.array(out.shape(), -1.0, 1.0);
            let (gr, gw) = ce(&w)
                .backward_probs_with_weight(x.view(), t.view(), g.view())
                .unwrap();
            assert_eq!(gr, ce(&w).backward_probs(x.view(), t.view(), g.view()).unwrap());
            check_gradient(&format!("cross_entropy {shape:?} ε={eps} {r} d/weight"), &w, &gw, |w| {
                dot(&g, &f(w))
            });
        }
    }
}

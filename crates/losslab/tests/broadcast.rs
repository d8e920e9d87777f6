//! Broadcasting (issue 12): the element-wise losses take operands that broadcast
//! as PyTorch broadcasts them; each gradient, summed back to its operand's
//! shape, is checked by central finite differences in f64 (the values and
//! gradients themselves against PyTorch are in the golden file parity.json).

use crate::common;

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
    type Case<'a> = (&'a [usize], &'a [usize], Option<&'a [usize]>);
    let cases: &[Case<'_>] = &[
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

#[test]
fn cosine_embedding_and_triplet_broadcast_vectors_of_one_rank() {
    use losslab::{CosineEmbeddingLoss, TripletDistance, TripletMarginLoss, TripletMarginWithDistanceLoss};
    let mut rng = Rng::new(33);
    // cosine_embedding_loss: (input1, input2, target); the vector axis broadcasts too.
    let cases: &[(&[usize], &[usize], &[usize])] = &[
        (&[4, 3], &[1, 3], &[4]),
        (&[1, 3], &[4, 3], &[1]),
        (&[4, 3], &[4, 1], &[4]),
        (&[1, 1], &[1, 3], &[4]),
        (&[3], &[3], &[]),
    ];
    for &(s1, s2, st) in cases {
        let (x1, x2) = (rng.array(s1, -1.0, 1.0), rng.array(s2, -1.0, 1.0));
        let y = ArrayD::from_shape_vec(st, (0..st.iter().product::<usize>()).map(|k| if k % 2 == 0 { 1.0 } else { -1.0 }).collect()).unwrap();
        for r in [Reduction::None, Reduction::Mean, Reduction::Sum] {
            let loss = CosineEmbeddingLoss::new().margin(-0.5).reduction(r);
            let f = |a: &ArrayD<f64>, b: &ArrayD<f64>| loss.forward(a.view(), b.view(), y.view()).unwrap();
            let out = f(&x1, &x2);
            let g = rng.array(out.shape(), -1.0, 1.0);
            let gr = loss.backward(x1.view(), x2.view(), y.view(), g.view()).unwrap();
            let name = format!("cosine_embedding {s1:?}/{s2:?}/{st:?} {r}");
            check_gradient(&format!("{name} d/input1"), &x1, &gr.input1, |v| dot(&g, &f(v, &x2)));
            check_gradient(&format!("{name} d/input2"), &x2, &gr.input2, |v| dot(&g, &f(&x1, v)));
        }
    }
    // triplet losses: (anchor, positive, negative) of one rank.
    let cases: &[[&[usize]; 3]] = &[
        [&[4, 3], &[1, 3], &[4, 3]],
        [&[1, 3], &[4, 3], &[4, 3]],
        [&[4, 3], &[4, 1], &[1, 3]],
        [&[2, 1, 3], &[1, 4, 3], &[2, 4, 1]],
    ];
    for &[sa, sp, sn] in cases {
        let (a, p, n) = (rng.array(sa, -1.0, 1.0), rng.array(sp, -1.0, 1.0), rng.array(sn, -1.0, 1.0));
        for swap in [false, true] {
            let t = TripletMarginLoss::new().margin(2.0).p(1.5).swap(swap).reduction(Reduction::None);
            let d = TripletMarginWithDistanceLoss::new().distance_function(TripletDistance::Cosine).margin(1.5).swap(swap).reduction(Reduction::None);
            let ft = |a: &ArrayD<f64>, p: &ArrayD<f64>, n: &ArrayD<f64>| t.forward(a.view(), p.view(), n.view()).unwrap();
            let fd = |a: &ArrayD<f64>, p: &ArrayD<f64>, n: &ArrayD<f64>| d.forward(a.view(), p.view(), n.view()).unwrap();
            let out = ft(&a, &p, &n);
            let g = rng.array(out.shape(), -1.0, 1.0);
            let name = format!("triplet {sa:?}/{sp:?}/{sn:?} swap={swap}");
            let gr = t.backward(a.view(), p.view(), n.view(), g.view()).unwrap();
            check_gradient(&format!("{name} d/anchor"), &a, &gr.anchor, |v| dot(&g, &ft(v, &p, &n)));
            check_gradient(&format!("{name} d/positive"), &p, &gr.positive, |v| dot(&g, &ft(&a, v, &n)));
            check_gradient(&format!("{name} d/negative"), &n, &gr.negative, |v| dot(&g, &ft(&a, &p, v)));
            let gr = d.backward(a.view(), p.view(), n.view(), g.view()).unwrap();
            check_gradient(&format!("{name} cosine d/anchor"), &a, &gr.anchor, |v| dot(&g, &fd(v, &p, &n)));
            check_gradient(&format!("{name} cosine d/positive"), &p, &gr.positive, |v| dot(&g, &fd(&a, v, &n)));
            check_gradient(&format!("{name} cosine d/negative"), &n, &gr.negative, |v| dot(&g, &fd(&a, &p, v)));
        }
    }
    // One rank, as PyTorch's.
    let (m, v) = (ArrayD::<f64>::zeros(vec![4, 3]), ArrayD::<f64>::zeros(vec![3]));
    let e = TripletMarginLoss::new().forward(m.view(), m.view(), v.view()).unwrap_err().to_string();
    assert!(e.contains("same number of dimensions"), "{e}");
}

#[test]
fn box_losses_broadcast_boxes2_into_boxes1() {
    use losslab::{CompleteBoxIouLoss, DistanceBoxIouLoss, GeneralizedBoxIouLoss};
    let mut rng = Rng::new(44);
    let boxes = |rng: &mut Rng, lead: &[usize]| {
        let mut s = lead.to_vec();
        s.push(4);
        let mut b = rng.array(&s, 0.0, 4.0);
        for mut row in b.lanes_mut(ndarray::Axis(s.len() - 1)) {
            row[2] += row[0] + 0.5;
            row[3] += row[1] + 0.5;
        }
        b
    };
    for (l1, l2) in [(&[5usize][..], &[1usize][..]), (&[2, 3], &[3]), (&[3], &[])] {
        let (b1, b2) = (boxes(&mut rng, l1), boxes(&mut rng, l2));
        macro_rules! check {
            ($loss:expr, $name:literal) => {{
                let loss = $loss.reduction(Reduction::None);
                let f = |a: &ArrayD<f64>, b: &ArrayD<f64>| loss.forward(a.view(), b.view()).unwrap();
                let out = f(&b1, &b2);
                assert_eq!(out.shape(), l1);
                let g = rng.array(out.shape(), -1.0, 1.0);
                let gr = loss.backward(b1.view(), b2.view(), g.view()).unwrap();
                check_gradient(concat!($name, " d/boxes1"), &b1, &gr.input, |v| dot(&g, &f(v, &b2)));
                check_gradient(concat!($name, " d/boxes2"), &b2, gr.target.as_ref().unwrap(), |v| dot(&g, &f(&b1, v)));
            }};
        }
        check!(GeneralizedBoxIouLoss::new(), "giou");
        check!(DistanceBoxIouLoss::new(), "diou");
        // CIoU's α has no gradient (torchvision), so finite differences do not
        // apply: the broadcast boxes2's gradient is that of the expanded boxes2, summed back.
        let loss = CompleteBoxIouLoss::new().reduction(Reduction::Sum);
        let expanded = b2.broadcast(b1.shape()).unwrap().to_owned();
        let (v, gr) = loss.forward_backward(b1.view(), b2.view()).unwrap();
        let (ve, ge) = loss.forward_backward(b1.view(), expanded.view()).unwrap();
        // The expanded boxes take the fused sweep, whose sum runs in another
        // order than the general path's: the same value to rounding.
        assert!((v[[]] - ve[[]]).abs() <= 1e-14 * ve[[]].abs(), "ciou value: {v} vs {ve}");
        assert_eq!(gr.input, ge.input);
        // (Here boxes2's shape is a trailing part of boxes1's, after axes of 1.)
        let summed = ge.target.unwrap().into_shape_with_order((b1.len() / b2.len(), b2.len())).unwrap().sum_axis(ndarray::Axis(0));
        let got = gr.target.unwrap();
        assert_eq!(got.shape(), b2.shape());
        for (g, e) in got.iter().zip(summed.iter()) {
            assert!((g - e).abs() <= 1e-12 * (1.0 + e.abs()), "ciou d/boxes2: {g} vs {e}");
        }
    }
}

#[test]
fn nll_and_cross_entropy_take_a_one_element_target_for_one_sample() {
    use losslab::NllLoss;
    let x = ndarray::array![0.5f64, -1.0, 2.0];
    let w = ndarray::array![1.0f64, 2.0, 3.0];
    for r in [Reduction::None, Reduction::Mean, Reduction::Sum] {
        let nll = NllLoss::new().weight(w.view()).reduction(r);
        let one = nll.forward(x.view(), ndarray::array![2i64].view()).unwrap();
        assert_eq!(one, nll.forward(x.view(), ndarray::arr0(2i64).view()).unwrap());
        assert_eq!(one.ndim(), 0);
        let ce = CrossEntropyLoss::new().reduction(r);
        let (v1, g1) = ce.forward_backward(x.view(), ndarray::array![1i64].view()).unwrap();
        let (v0, g0) = ce.forward_backward(x.view(), ndarray::arr0(1i64).view()).unwrap();
        assert_eq!((v1, g1), (v0, g0));
        // PyTorch refuses the (1,) form with label smoothing.
        assert!(ce.clone().label_smoothing(0.1).forward(x.view(), ndarray::array![1i64].view()).is_err());
    }
}

//! Losses that burn has no composition of: the gradients through burn's
//! autograd equal central finite differences in f64, reduced and unreduced
//! (with an upstream gradient of varying weights).

mod common;

use burn::tensor::{DType, Tensor};
use common::{assert_close, classes, float, ints, numbers, values};
use losslab_burn::{loss, LossArg, Options, Reduction};

/// `Σ weights · loss(args)` as a number, the float argument `wrt` replaced by `x`.
fn objective<const R: usize>(name: &str, args: &[(&str, LossArg)], options: &Options, weights: &Option<Vec<f64>>) -> f64 {
    let l: Tensor<R> = loss(name, args, options).unwrap();
    let v = values(l);
    match weights {
        Some(w) => v.iter().zip(w).map(|(a, b)| a * b).sum(),
        None => v.iter().sum(),
    }
}

/// Checks the gradient of each float argument in `wrt` against finite differences.
fn check<const R: usize>(name: &str, shapes: &[(&str, Vec<f64>, Vec<usize>)], ints_arg: Option<(&str, Vec<i64>, Vec<usize>)>, options: &Options) {
    let device = losslab_burn::device();
    let make = |vals: &[f64], shape: &[usize]| -> LossArg {
        match shape.len() {
            1 => float::<1>(vals, [shape[0]], DType::F64, &device).into(),
            2 => float::<2>(vals, [shape[0], shape[1]], DType::F64, &device).into(),
            n => panic!("rank {n}"),
        }
    };
    let int_arg = || ints_arg.as_ref().map(|(n, v, s)| (*n, if s.len() == 1 { ints::<1>(v, [s[0]], &device).into() } else { ints::<2>(v, [s[0], s[1]], &device).into() }));
    // The autograd gradients, with upstream weights for an unreduced result.
    let tracked: Vec<Tensor<2>> = shapes
        .iter()
        .map(|(_, v, s)| {
            let s2 = if s.len() == 1 { [1, s[0]] } else { [s[0], s[1]] };
            float::<2>(v, s2, DType::F64, &device).require_grad()
        })
        .collect();
    let mut args: Vec<(&str, LossArg)> = shapes
        .iter()
        .zip(&tracked)
        .map(|((n, _, s), t)| (*n, if s.len() == 1 { t.clone().reshape([s[0]]).into() } else { t.clone().into() }))
        .collect();
    args.extend(int_arg());
    let l: Tensor<R> = loss(name, &args, options).unwrap();
    let n_out = l.shape().num_elements();
    let weights = (n_out > 1).then(|| numbers(n_out, 99, 2.0));
    let upstream = match &weights {
        Some(w) => float::<1>(w, [n_out], DType::F64, &device).reshape(l.shape()),
        None => Tensor::<R>::ones(l.shape(), (&device, DType::F64)),
    };
    let grads = (l * upstream).sum().backward();
    for (k, (name_k, v, s)) in shapes.iter().enumerate() {
        let Some(g) = tracked[k].grad(&grads) else {
            continue; // a tensor the reference does not differentiate
        };
        let g = values(g);
        let h = 1e-6;
        let fd: Vec<f64> = (0..v.len())
            .map(|i| {
                let at = |d: f64| {
                    let mut args: Vec<(&str, LossArg)> = shapes
                        .iter()
                        .enumerate()
                        .map(|(j, (n, w, s))| {
                            let mut w = w.clone();
                            if j == k {
                                w[i] += d;
                            }
                            (*n, make(&w, s))
                        })
                        .collect();
                    args.extend(int_arg());
                    objective::<R>(name, &args, options, &weights)
                };
                (at(h) - at(-h)) / (2.0 * h)
            })
            .collect();
        assert_close(&g, &fd, 1e-6, &format!("{name}: d/d{name_k} ({s:?})"));
    }
}

#[test]
fn keras_hinge() {
    // Unreduced by default (a loss per row): the backward differentiates with the upstream weights.
    let y_true: Vec<f64> = classes(12, 2, 1).iter().map(|&v| (2 * v - 1) as f64).collect();
    let y_pred = numbers(12, 2, 1.5);
    check::<1>("keras:hinge", &[("y_true", y_true.clone(), vec![3, 4]), ("y_pred", y_pred.clone(), vec![3, 4])], None, &Options::new());
    check::<1>("keras:hinge", &[("y_pred", y_pred, vec![3, 4]), ("y_true", y_true, vec![3, 4])], None, &Options::new().reduction(Reduction::Mean));
}

#[test]
fn torch_kl_div() {
    let p: Vec<f64> = numbers(12, 3, 1.0).iter().map(|v| v.abs() + 0.05).collect();
    let q: Vec<f64> = numbers(12, 4, 1.0).iter().map(|v| (v.abs() + 0.05).ln()).collect();
    for r in [Reduction::Mean, Reduction::Sum, Reduction::BatchMean] {
        check::<1>("torch:kl_div", &[("input", q.clone(), vec![3, 4]), ("target", p.clone(), vec![3, 4])], None, &Options::new().reduction(r));
    }
    check::<2>("torch:kl_div", &[("input", q.clone(), vec![3, 4]), ("target", p, vec![3, 4])], None, &Options::new().reduction(Reduction::None));
    let lp: Vec<f64> = numbers(12, 5, 1.0);
    check::<2>("torch:kl_div", &[("input", q, vec![3, 4]), ("target", lp, vec![3, 4])], None, &Options::new().set("log_target", true).reduction(Reduction::None));
}

#[test]
fn torch_multi_margin_loss() {
    let x = numbers(15, 6, 1.0);
    let y = classes(5, 3, 7);
    let w: Vec<f64> = numbers(3, 8, 1.0).iter().map(|v| v.abs() + 0.5).collect();
    for p in [1, 2] {
        let opts = Options::new().set("p", p).set("margin", 0.8);
        check::<1>("torch:multi_margin_loss", &[("input", x.clone(), vec![5, 3])], Some(("target", y.clone(), vec![5])), &opts);
        check::<1>(
            "torch:multi_margin_loss",
            &[("input", x.clone(), vec![5, 3]), ("weight", w.clone(), vec![3])],
            Some(("target", y.clone(), vec![5])),
            &opts.clone().reduction(Reduction::None),
        );
    }
}

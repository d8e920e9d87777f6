//! The sharded LM head: the vocabulary split over P "processes" (threads of
//! this process through `collective::ThreadGroup`, as MPI ranks would run),
//! each holding a slice of `linear_weight`. The loss, the per-token outputs
//! and the `input` gradient of every rank, and each rank's slice of the
//! `linear_weight` and `linear_bias` gradients, equal the single-process
//! results (relative error ‖a − b‖ / ‖b‖: f64 1e-12, f32 1e-6; no element
//! further than 5× that from the other over the largest), bit-identical from run to run
//! for a given P; ranks that do not fit together all end with an error.

use crate::common;

use losslab::collective::{Collective, ThreadGroup};
use losslab::{LinearCrossEntropyGradients, LinearCrossEntropyLoss, LinearCrossEntropyOutput, LossError, Reduction};
use ndarray::{s, Array1, Array2, ArrayD, ArrayView1, ArrayView2, IxDyn};

/// `n` values uniform in [−scale, scale) from `seed`.
fn values(n: usize, seed: u64, scale: f64) -> Vec<f64> {
    common::Rng::new(seed).symmetric(n, scale)
}

/// The shards of `v` classes over `p` ranks: uneven, contiguous, in rank order.
fn shards(v: usize, p: usize) -> Vec<(usize, usize)> {
    (0..p).map(|r| (r * v / p, (r + 1) * v / p)).collect()
}

type Run<T> = (LinearCrossEntropyOutput<T>, LinearCrossEntropyGradients<T>);

/// Every rank's result, rank `r` holding `ranges[r]` of the classes.
fn sharded<T: losslab::Float + Send + Sync>(
    lce: &LinearCrossEntropyLoss,
    x: &Array2<T>,
    w: &Array2<T>,
    b: Option<&Array1<T>>,
    t: &Array1<i64>,
    up: Option<&ArrayD<T>>,
    ranges: &[(usize, usize)],
    v: usize,
) -> Vec<Result<Run<T>, LossError>> {
    let group = ThreadGroup::new(ranges.len());
    std::thread::scope(|sc| {
        let handles: Vec<_> = group
            .iter()
            .zip(ranges)
            .map(|(m, &(a, e))| {
                sc.spawn(move || {
                    let ws: ArrayView2<'_, T> = w.slice(s![a..e, ..]);
                    let bs: Option<ArrayView1<'_, T>> = b.map(|b| b.slice(s![a..e]));
                    lce.forward_backward_sharded(m, x.view(), ws, bs, a, v, t.view(), up.map(|u| u.view()))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// The relative error of `a` against `b` as a whole: `‖a − b‖₂ / ‖b‖₂` (NaN
/// where both are NaN counts as equal). A tensor summed in another order over
/// the ranks differs by float rounding spread over its elements; the largest
/// single difference is held to 5× the bound by [`max_dev`].
fn max_rel<T: losslab::Float>(a: impl IntoIterator<Item = T>, b: impl IntoIterator<Item = T>) -> f64 {
    let (a, b): (Vec<f64>, Vec<f64>) = (a.into_iter().map(|v| v.to_wide()).collect(), b.into_iter().map(|v| v.to_wide()).collect());
    assert_eq!(a.len(), b.len());
    assert!(max_dev(&a, &b) <= 5.0 * TOL.with(|t| t.get()), "largest difference {:e}", max_dev(&a, &b));
    let pairs = a.iter().zip(&b).filter(|(x, y)| !(x.is_nan() && y.is_nan()));
    let (num, den) = pairs.fold((0f64, 0f64), |(n, d), (x, y)| (n + (x - y) * (x - y), d + y * y));
    if num.is_nan() { f64::INFINITY } else { (num / den.max(1e-300)).sqrt() }
}

/// The largest difference over the largest magnitude of `b`.
fn max_dev(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-300);
    a.iter().zip(b).fold(0f64, |m, (x, y)| if x.is_nan() && y.is_nan() { m } else { m.max((x - y).abs() / scale) })
}

thread_local! {
    static TOL: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

fn check<T: losslab::Float + Send + Sync>(tol: f64, cast: fn(f64) -> T) {
    TOL.with(|t| t.set(tol));
    let (n, d, v) = (41, 12, 517);
    let x = Array2::from_shape_vec((n, d), values(n * d, 1, 2.0)).unwrap().mapv(cast);
    let w = Array2::from_shape_vec((v, d), values(v * d, 2, 0.6)).unwrap().mapv(cast);
    let b = Array1::from_vec(values(v, 3, 0.5)).mapv(cast);
    let cw = Array1::from_vec(values(v, 4, 0.5).into_iter().map(|u| 1.0 + u).collect::<Vec<_>>());
    let t = Array1::from_shape_fn(n, |i| if i % 7 == 2 { -100 } else { ((i * 131) % v) as i64 });
    let up_none = ArrayD::from_shape_vec(IxDyn(&[n]), values(n, 5, 1.0)).unwrap().mapv(cast);
    let cases: Vec<(&str, LinearCrossEntropyLoss, bool, Option<&ArrayD<T>>)> = vec![
        ("plain", LinearCrossEntropyLoss::new(), false, None),
        (
            "every option",
            LinearCrossEntropyLoss::new()
                .weight(cw.view())
                .label_smoothing(0.1)
                .lse_square_scale(1e-2)
                .softcap(Some(4.0))
                .logit_scale(1.2)
                .return_lse(true)
                .return_entropy(true)
                .return_predicted(true)
                .tile_bytes(16 * 200 * 8),
            true,
            None,
        ),
        (
            "none, upstream, unweighted smoothing",
            LinearCrossEntropyLoss::new().reduction(Reduction::None).label_smoothing(0.2).return_predicted(true).tile_bytes(8 * 100 * 8),
            true,
            Some(&up_none),
        ),
    ];
    for (what, lce, bias, up) in cases {
        let bias = bias.then_some(&b);
        let (o1, g1) = lce.forward_backward(x.view(), w.view(), bias.map(|b| b.view()), t.view(), up.map(|u| u.view())).unwrap();
        for p in [1, 2, 3, 5] {
            let ranges = shards(v, p);
            let runs = sharded(&lce, &x, &w, bias, &t, up, &ranges, v);
            let again = sharded(&lce, &x, &w, bias, &t, up, &ranges, v);
            for (r, ((run, run2), &(a, e))) in runs.iter().zip(&again).zip(&ranges).enumerate() {
                let (o, g) = run.as_ref().unwrap_or_else(|err| panic!("{what}, P = {p}, rank {r}: {err}"));
                assert_eq!(run, run2, "{what}, P = {p}, rank {r}: not the same bits twice");
                let ctx = format!("{what}, P = {p}, rank {r}");
                assert!(max_rel(o.loss.iter().copied(), o1.loss.iter().copied()) <= tol, "{ctx}: loss {} vs {}", o.loss, o1.loss);
                assert!(max_rel(o.z_loss.iter().copied(), o1.z_loss.iter().copied()) <= tol, "{ctx}: z_loss");
                for (got, want, name) in [(&o.lse, &o1.lse, "lse"), (&o.entropy, &o1.entropy, "entropy")] {
                    if let (Some(got), Some(want)) = (got, want) {
                        assert!(max_rel(got.iter().copied(), want.iter().copied()) <= tol, "{ctx}: {name}");
                    }
                }
                assert_eq!(o.predicted, o1.predicted, "{ctx}: predicted");
                assert!(max_rel(g.input.iter().copied(), g1.input.iter().copied()) <= tol, "{ctx}: input gradient");
                let gw_want = g1.linear_weight.slice(s![a..e, ..]);
                assert!(max_rel(g.linear_weight.iter().copied(), gw_want.iter().copied()) <= tol, "{ctx}: linear_weight gradient");
                if let (Some(gb), Some(gb1)) = (&g.linear_bias, &g1.linear_bias) {
                    assert!(max_rel(gb.iter().copied(), gb1.slice(s![a..e]).iter().copied()) <= tol, "{ctx}: linear_bias gradient");
                }
            }
        }
    }
}

#[test]
fn sharded_equals_single_process_in_f64() {
    check::<f64>(1e-12, |v| v);
}

#[test]
fn sharded_equals_single_process_in_f32() {
    check::<f32>(1e-6, |v| v as f32);
}

#[test]
fn ranks_that_do_not_fit_together_all_end_with_an_error() {
    let (n, d, v) = (6, 3, 10);
    let x = Array2::from_shape_vec((n, d), values(n * d, 1, 1.0)).unwrap();
    let w = Array2::from_shape_vec((v, d), values(v * d, 2, 1.0)).unwrap();
    let t = Array1::from_shape_fn(n, |i| (i % v) as i64);
    let lce = LinearCrossEntropyLoss::new();
    let message = |r: &Result<Run<f64>, LossError>| r.as_ref().err().map(ToString::to_string).expect("an error");
    // A gap: rank 1 starts at 6 where rank 0 ended at 5.
    let runs = sharded(&lce, &x, &w, None, &t, None, &[(0, 5), (6, 10)], v);
    assert!(runs.iter().all(|r| matches!(r, Err(LossError::Collective { .. }))));
    assert!(message(&runs[0]).contains("do not tile the vocabulary [0, 10)"), "{}", message(&runs[0]));
    // One rank's own inputs are invalid: it says why, the others that it failed.
    let mut bad = t.clone();
    bad[2] = 99;
    let group = ThreadGroup::new(2);
    let runs: Vec<Result<Run<f64>, LossError>> = std::thread::scope(|sc| {
        let hs: Vec<_> = group
            .iter()
            .map(|m| {
                let (x, w, t, bad, lce) = (&x, &w, &t, &bad, &lce);
                sc.spawn(move || {
                    let r = m.rank();
                    let targets = if r == 1 { bad } else { t };
                    lce.forward_backward_sharded(m, x.view(), w.slice(s![5 * r..5 * r + 5, ..]), None, 5 * r, v, targets.view(), None)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(matches!(runs[1], Err(LossError::ClassIndex { index: 99, .. })));
    assert_eq!(message(&runs[0]), "linear_cross_entropy: rank(s) [1] of 2 refused their inputs (each reports why); no rank computed");
    // Different targets on the ranks.
    let group = ThreadGroup::new(2);
    let mut other = t.clone();
    other[0] = 3;
    let runs: Vec<Result<Run<f64>, LossError>> = std::thread::scope(|sc| {
        let hs: Vec<_> = group
            .iter()
            .map(|m| {
                let (x, w, t, other, lce) = (&x, &w, &t, &other, &lce);
                sc.spawn(move || {
                    let r = m.rank();
                    let targets = if r == 1 { other } else { t };
                    lce.forward_backward_sharded(m, x.view(), w.slice(s![5 * r..5 * r + 5, ..]), None, 5 * r, v, targets.view(), None)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(runs.iter().all(|r| message(r).contains("rank 1 has targets (checksum)")), "{}", message(&runs[0]));
    // One rank asks for gradients, the other does not: both end with the error.
    let group = ThreadGroup::new(2);
    let runs: Vec<Result<(), LossError>> = std::thread::scope(|sc| {
        let hs: Vec<_> = group
            .iter()
            .map(|m| {
                let (x, w, t, lce) = (&x, &w, &t, &lce);
                sc.spawn(move || {
                    let r = m.rank();
                    let shard = w.slice(s![5 * r..5 * r + 5, ..]);
                    if r == 0 {
                        lce.forward_sharded(m, x.view(), shard, None, 0, v, t.view()).map(|_| ())
                    } else {
                        lce.forward_backward_sharded(m, x.view(), shard, None, 5, v, t.view(), None).map(|_| ())
                    }
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in &runs {
        let m = r.as_ref().err().map(ToString::to_string).expect("an error");
        assert!(m.contains("rank 1 has gradients asked for (1: yes) 1, rank 0 has 0"), "{m}");
    }
}

//! The information-theory module against mathematics written here: closed
//! forms, identities (H(p, q) = H(p) + KL(p‖q), KL(p‖p) = 0, JS symmetric and
//! ≤ ln 2), the zero conventions, reductions, errors, and every gradient checked
//! by central finite differences in f64.

use losslab::information::{cross_entropy, cross_entropy_backward};
use losslab::{binary_entropy, js_divergence, kl_div, self_information, Gradients, KlDivLoss, Reduction};
use losslab::information::{entropy, entropy_backward, js_divergence_backward, kl_divergence, kl_divergence_backward, ScipyEntropy};
use ndarray::{array, ArrayD, IxDyn};
use std::f64::consts::LN_2;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Tolerances, named once: values in f64 and f32 (relative), gradients by
/// central differences (relative to max(1, |g|)).
const F64_TOL: f64 = 1e-13;
const F32_TOL: f64 = 1e-6;
const FD_STEP: f64 = 1e-6;
const FD_TOL: f64 = 1e-6;

fn close(a: f64, b: f64, tol: f64) -> bool {
    a == b || (a - b).abs() <= tol * a.abs().max(b.abs()).max(1e-3)
}

#[track_caller]
fn assert_close(a: f64, b: f64, tol: f64) {
    assert!(close(a, b, tol), "{a} vs {b} (tol {tol})");
}

#[track_caller]
fn assert_all_close(a: &ArrayD<f64>, b: &ArrayD<f64>, tol: f64) {
    assert_eq!(a.shape(), b.shape());
    for (x, y) in a.iter().zip(b.iter()) {
        assert_close(*x, *y, tol);
    }
}

/// Deterministic pseudo-random numbers (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    fn array(&mut self, shape: &[usize], lo: f64, hi: f64) -> ArrayD<f64> {
        ArrayD::from_shape_fn(IxDyn(shape), |_| self.uniform(lo, hi))
    }
    /// Probability distributions along `axis`, every entry at least `floor`
    /// before normalisation; with `zeros`, about a quarter of the entries are 0
    /// (never a whole lane).
    fn distributions(&mut self, shape: &[usize], axis: usize, floor: f64, zeros: bool) -> ArrayD<f64> {
        let mut a = self.array(shape, floor, 1.0);
        if zeros {
            for v in a.iter_mut() {
                if self.unit() < 0.25 {
                    *v = 0.0;
                }
            }
        }
        for mut lane in a.lanes_mut(ndarray::Axis(axis)) {
            if lane.iter().all(|&v| v == 0.0) {
                lane[0] = 1.0;
            }
            let s: f64 = lane.iter().sum();
            lane.mapv_inplace(|v| v / s);
        }
        a
    }
}

fn scalar(v: f64) -> ArrayD<f64> {
    ArrayD::from_elem(IxDyn(&[]), v)
}

fn dot(a: &ArrayD<f64>, b: &ArrayD<f64>) -> f64 {
    assert_eq!(a.shape(), b.shape());
    a.iter().zip(b.iter()).map(|(x, y)| x * y).sum()
}

/// Central differences of `f` at `x`, element by element.
fn numeric_grad(x: &ArrayD<f64>, f: impl Fn(&ArrayD<f64>) -> f64) -> ArrayD<f64> {
    let x = x.as_standard_layout().into_owned();
    let mut g = x.clone();
    for i in 0..x.len() {
        let (mut xp, mut xm) = (x.clone(), x.clone());
        let v = x.as_slice().unwrap()[i];
        let (hi, lo) = (v + FD_STEP, v - FD_STEP);
        xp.as_slice_mut().unwrap()[i] = hi;
        xm.as_slice_mut().unwrap()[i] = lo;
        g.as_slice_mut().unwrap()[i] = (f(&xp) - f(&xm)) / (hi - lo);
    }
    g
}

#[track_caller]
fn assert_grad(analytic: &ArrayD<f64>, numeric: &ArrayD<f64>, what: &str) {
    assert_eq!(analytic.shape(), numeric.shape(), "{what}");
    for (i, (a, n)) in analytic.iter().zip(numeric.iter()).enumerate() {
        assert!(
            (a - n).abs() <= FD_TOL * a.abs().max(1.0),
            "{what}: element {i}: analytic {a} vs central difference {n}"
        );
    }
}

fn f32s(a: &ArrayD<f64>) -> ArrayD<f32> {
    a.mapv(|v| v as f32)
}

fn widen32(a: &ArrayD<f32>) -> ArrayD<f64> {
    a.mapv(f64::from)
}

// ---------------------------------------------------------------------------
// Self-information, entropy, binary entropy: closed forms
// ---------------------------------------------------------------------------

#[test]
fn self_information_closed_forms() {
    let p = array![1.0f64, 0.5, 0.25, 0.125, 0.0, 0.1];
    let nats = self_information(p.view(), None).unwrap();
    let expected = array![0.0, LN_2, 2.0 * LN_2, 3.0 * LN_2, f64::INFINITY, 10f64.ln()].into_dyn();
    assert_all_close(&nats, &expected, F64_TOL);
    let bits = self_information(p.view(), Some(2.0)).unwrap();
    assert_all_close(&bits, &array![0.0, 1.0, 2.0, 3.0, f64::INFINITY, 10f64.log2()].into_dyn(), F64_TOL);
    assert!(nats[0].is_sign_positive(), "I(1) is +0");
    let dits = self_information(array![0.001f64].view(), Some(10.0)).unwrap();
    assert_close(dits[0], 3.0, F64_TOL);
    // Rarer events carry more information.
    assert!(nats.as_slice().unwrap().windows(2).take(4).all(|w| w[0] < w[1]));
    assert!(self_information(array![-0.5f64].view(), None).unwrap()[0].is_nan());
}

#[test]
fn entropy_of_uniform_over_n_is_ln_n() {
    for n in 1..=16usize {
        let p = ArrayD::from_elem(IxDyn(&[n]), 1.0 / n as f64);
        assert_close(entropy(p.view(), 0, None).unwrap()[[]], (n as f64).ln(), F64_TOL);
        assert_close(entropy(p.view(), 0, Some(2.0)).unwrap()[[]], (n as f64).log2(), F64_TOL);
    }
    let p = ArrayD::from_elem(IxDyn(&[10]), 0.1);
    assert_close(entropy(p.view(), 0, Some(10.0)).unwrap()[[]], 1.0, F64_TOL);
}

#[test]
fn entropy_of_a_certain_outcome_is_zero_and_is_not_normalised() {
    let h = entropy(array![[0.0f64, 1.0, 0.0], [0.5, 0.5, 0.5]].view(), 1, None).unwrap();
    assert_eq!(h[0], 0.0);
    // No normalisation: three halves give 3 · ½ ln 2.
    assert_close(h[1], 1.5 * LN_2, F64_TOL);
    assert!(entropy(array![-0.5f64, 1.5].view(), 0, None).unwrap()[[]].is_nan());
}

#[test]
fn entropy_sums_along_the_axis_asked() {
    let mut rng = Rng(1);
    let p = rng.array(&[2, 3, 4], 0.01, 1.0);
    for axis in [0isize, 1, 2, -1, -2, -3] {
        let a = if axis < 0 { (axis + 3) as usize } else { axis as usize };
        let h = entropy(p.view(), axis, None).unwrap();
        let expected = p.map_axis(ndarray::Axis(a), |lane| -lane.iter().map(|v| v * v.ln()).sum::<f64>());
        assert_all_close(&h, &expected.into_dyn(), F64_TOL);
    }
    // A transposed (non-standard-layout) view gives the same numbers.
    let t = p.clone().permuted_axes(IxDyn(&[2, 1, 0]));
    let ht = entropy(t.view(), 2, None).unwrap();
    let h0 = entropy(p.view(), 0, None).unwrap();
    assert_all_close(&ht, &h0.t().to_owned(), F64_TOL);
}

#[test]
fn binary_entropy_closed_forms() {
    let h = binary_entropy(array![0.5f64, 0.0, 1.0].view(), None).unwrap();
    assert_eq!(h, array![LN_2, 0.0, 0.0].into_dyn());
    assert_eq!(binary_entropy(array![0.5f64].view(), Some(2.0)).unwrap()[0], 1.0);
    // h(p) = h(1 − p), equals entropy((p, 1 − p)), and is maximal at ½.
    for i in 1..100 {
        let p = i as f64 / 100.0;
        let hp = binary_entropy(array![p].view(), None).unwrap()[0];
        let hq = binary_entropy(array![1.0 - p].view(), None).unwrap()[0];
        assert_close(hp, hq, 1e-12);
        assert_close(hp, entropy(array![p, 1.0 - p].view(), 0, None).unwrap()[[]], 1e-12);
        assert!(hp <= LN_2 && hp > 0.0);
    }
    // Tiny p: h = p(1 − ln p) − p²/2 − p³/6 − …; the naive (1 − p) ln(1 − p) loses digits.
    for p in [1e-10f64, 1e-15, 1e-300] {
        let h = binary_entropy(array![p].view(), None).unwrap()[0];
        assert_close(h, p * (1.0 - p.ln()) - p * p / 2.0, 1e-14);
    }
    assert!(binary_entropy(array![1.5f64].view(), None).unwrap()[0].is_nan());
    assert!(binary_entropy(array![-0.5f64].view(), None).unwrap()[0].is_nan());
}

// ---------------------------------------------------------------------------
// The article's example and the identities
// ---------------------------------------------------------------------------

#[test]
fn the_articles_example() {
    let (p, q) = (array![1.0f64, 0.0, 0.0], array![0.7f64, 0.2, 0.1]);
    let ln07 = 0.7f64.ln();
    assert_eq!(entropy(p.view(), 0, None).unwrap()[[]], 0.0);
    assert_close(kl_divergence(p.view(), q.view(), 0, None).unwrap()[[]], -ln07, F64_TOL);
    assert_close(cross_entropy(p.view(), q.view(), 0, None).unwrap()[[]], -ln07, F64_TOL);
    assert_close(kl_divergence(p.view(), q.view(), 0, Some(2.0)).unwrap()[[]], -0.7f64.log2(), F64_TOL);
    // KL is minimal, 0, at q = p.
    assert_eq!(kl_divergence(q.view(), q.view(), 0, None).unwrap()[[]], 0.0);
}

#[test]
fn cross_entropy_is_entropy_plus_kl() {
    let mut rng = Rng(2);
    for (shape, axis) in [(vec![7], 0isize), (vec![5, 6], 1), (vec![4, 3, 5], 0), (vec![3, 4, 5], -2)] {
        let a = if axis < 0 { (axis + shape.len() as isize) as usize } else { axis as usize };
        for zeros in [false, true] {
            let p = rng.distributions(&shape, a, 0.0, zeros);
            let q = rng.distributions(&shape, a, 0.01, false);
            for base in [None, Some(2.0), Some(10.0)] {
                let ce = cross_entropy(p.view(), q.view(), axis, base).unwrap();
                let h = entropy(p.view(), axis, base).unwrap();
                let kl = kl_divergence(p.view(), q.view(), axis, base).unwrap();
                assert_all_close(&ce, &(&h + &kl), 1e-12);
            }
        }
    }
}

#[test]
fn kl_of_a_distribution_with_itself_is_zero_and_kl_is_nonnegative() {
    let mut rng = Rng(3);
    for _ in 0..50 {
        let p = rng.distributions(&[3, 8], 1, 0.0, true);
        let q = rng.distributions(&[3, 8], 1, 0.001, false);
        assert!(kl_divergence(p.view(), p.view(), 1, None).unwrap().iter().all(|&v| v == 0.0));
        assert!(kl_divergence(p.view(), q.view(), 1, None).unwrap().iter().all(|&v| v >= 0.0));
        // Gibbs: the cross entropy is never below the entropy.
        let ce = cross_entropy(p.view(), q.view(), 1, None).unwrap();
        let h = entropy(p.view(), 1, None).unwrap();
        assert!(ce.iter().zip(h.iter()).all(|(c, h)| *c >= *h - 1e-15));
    }
}

#[test]
fn the_zero_conventions() {
    // 0·log(0/0) = 0, 0·log(0/q) = 0, p·log(p/0) = +∞.
    let kl = |p: [f64; 2], q: [f64; 2]| {
        kl_divergence(array![p[0], p[1]].view(), array![q[0], q[1]].view(), 0, None).unwrap()[[]]
    };
    assert_eq!(kl([0.0, 1.0], [0.0, 1.0]), 0.0);
    assert_close(kl([0.0, 1.0], [0.5, 0.5]), LN_2, F64_TOL);
    assert_eq!(kl([0.5, 0.5], [1.0, 0.0]), f64::INFINITY);
    // SciPy's rel_entr: negative entries give +∞, NaN propagates.
    assert_eq!(kl([-0.5, 1.5], [0.5, 0.5]), f64::INFINITY);
    assert_eq!(kl([0.0, 1.0], [-0.5, 1.5]), f64::INFINITY);
    assert!(kl([f64::NAN, 1.0], [0.5, 0.5]).is_nan());
    // Cross entropy: 0·log 0 = 0, p·log 0 = −∞ so H = +∞.
    let ce = |p: [f64; 2], q: [f64; 2]| {
        cross_entropy(array![p[0], p[1]].view(), array![q[0], q[1]].view(), 0, None).unwrap()[[]]
    };
    assert_eq!(ce([0.0, 1.0], [0.0, 1.0]), 0.0);
    assert_eq!(ce([0.5, 0.5], [1.0, 0.0]), f64::INFINITY);
    assert!(ce([f64::NAN, 1.0], [0.5, 0.5]).is_nan());
    // Entropy: 0·log 0 = 0.
    assert_eq!(entropy(array![0.0f64, 0.0].view(), 0, None).unwrap()[[]], 0.0);
}

#[test]
fn kl_divergence_is_accurate_for_nearby_distributions() {
    // KL(p‖q) ≈ Σ (p − q)² / (2p) for q close to p: the quotient keeps the digits
    // that ln p − ln q would cancel.
    let p = array![0.5f64, 0.5];
    let e = 1e-9;
    let q = array![0.5 + e, 0.5 - e];
    let kl = kl_divergence(p.view(), q.view(), 0, None).unwrap()[[]];
    // Exact series: Σ p ln(p/q) = −½ [ln(1 + 2e) + ln(1 − 2e)] = e² · 2 + O(e⁴).
    assert_close(kl, 2.0 * e * e, 1e-6);
}

#[test]
fn js_is_symmetric_bounded_and_zero_on_equal_inputs() {
    let mut rng = Rng(4);
    for _ in 0..50 {
        let p = rng.distributions(&[4, 6], 1, 0.0, true);
        let q = rng.distributions(&[4, 6], 1, 0.0, true);
        let pq = js_divergence(p.view(), q.view(), 1, None).unwrap();
        let qp = js_divergence(q.view(), p.view(), 1, None).unwrap();
        assert_all_close(&pq, &qp, 1e-15);
        assert!(pq.iter().all(|&v| (0.0..=LN_2 + 1e-15).contains(&v)));
        assert!(js_divergence(p.view(), p.view(), 1, None).unwrap().iter().all(|&v| v == 0.0));
        // The definition: ½ KL(p‖m) + ½ KL(q‖m).
        let m = (&p + &q) / 2.0;
        let def = (kl_divergence(p.view(), m.view(), 1, None).unwrap()
            + kl_divergence(q.view(), m.view(), 1, None).unwrap())
            / 2.0;
        assert_all_close(&pq, &def, 1e-12);
        // In bits, at most 1.
        assert!(js_divergence(p.view(), q.view(), 1, Some(2.0)).unwrap().iter().all(|&v| v <= 1.0 + 1e-15));
    }
    // Disjoint supports reach the bound, and stay finite where KL is +∞.
    let (p, q) = (array![1.0f64, 0.0], array![0.0f64, 1.0]);
    assert_eq!(js_divergence(p.view(), q.view(), 0, None).unwrap()[[]], LN_2);
    assert_eq!(js_divergence(p.view(), q.view(), 0, Some(2.0)).unwrap()[[]], 1.0);
    assert_eq!(kl_divergence(p.view(), q.view(), 0, None).unwrap()[[]], f64::INFINITY);
}

#[test]
fn a_base_divides_by_its_logarithm() {
    let mut rng = Rng(5);
    let p = rng.distributions(&[3, 5], 1, 0.01, false);
    let q = rng.distributions(&[3, 5], 1, 0.01, false);
    for b in [2.0, 10.0, 0.5, std::f64::consts::E, 1e-3] {
        let lb = f64::ln(b);
        assert_all_close(&entropy(p.view(), 1, Some(b)).unwrap(), &(entropy(p.view(), 1, None).unwrap() / lb), F64_TOL);
        assert_all_close(
            &kl_divergence(p.view(), q.view(), 1, Some(b)).unwrap(),
            &(kl_divergence(p.view(), q.view(), 1, None).unwrap() / lb),
            F64_TOL,
        );
        assert_all_close(
            &js_divergence(p.view(), q.view(), 1, Some(b)).unwrap(),
            &(js_divergence(p.view(), q.view(), 1, None).unwrap() / lb),
            F64_TOL,
        );
        assert_all_close(
            &cross_entropy(p.view(), q.view(), 1, Some(b)).unwrap(),
            &(cross_entropy(p.view(), q.view(), 1, None).unwrap() / lb),
            F64_TOL,
        );
    }
}

#[test]
fn f32_agrees_with_f64() {
    let mut rng = Rng(6);
    let p = f32s(&rng.distributions(&[4, 7], 1, 0.0, true));
    let q = f32s(&rng.distributions(&[4, 7], 1, 0.01, false));
    let (p64, q64) = (widen32(&p), widen32(&q));
    let pairs: [(ArrayD<f32>, ArrayD<f64>); 6] = [
        (entropy(p.view(), 1, None).unwrap(), entropy(p64.view(), 1, None).unwrap()),
        (cross_entropy(p.view(), q.view(), 1, None).unwrap(), cross_entropy(p64.view(), q64.view(), 1, None).unwrap()),
        (
            kl_divergence(p.view(), q.view(), 1, Some(2.0)).unwrap(),
            kl_divergence(p64.view(), q64.view(), 1, Some(2.0)).unwrap(),
        ),
        (
            js_divergence(p.view(), q.view(), -1, None).unwrap(),
            js_divergence(p64.view(), q64.view(), -1, None).unwrap(),
        ),
        (binary_entropy(q.view(), None).unwrap(), binary_entropy(q64.view(), None).unwrap()),
        (self_information(q.view(), None).unwrap(), self_information(q64.view(), None).unwrap()),
    ];
    for (a, b) in &pairs {
        // Computed in f64 from the same inputs and rounded once.
        assert_eq!(a, &b.mapv(|v| v as f32));
        assert_all_close(&widen32(a), b, F32_TOL);
    }
    let lq = q.mapv(f32::ln);
    let a = kl_div(lq.view(), p.view(), Reduction::BatchMean, false).unwrap();
    let b = kl_div(widen32(&lq).view(), p64.view(), Reduction::BatchMean, false).unwrap();
    assert_close(f64::from(a[[]]), b[[]], F32_TOL);
    let a = ScipyEntropy::new().axis(1).forward(p.view(), Some(q.view())).unwrap();
    let b = ScipyEntropy::new().axis(1).forward(p64.view(), Some(q64.view())).unwrap();
    assert_all_close(&widen32(&a), &b, F32_TOL);
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

#[test]
fn shape_mismatches_are_errors_naming_both_tensors() {
    let (p, q) = (array![0.5f64, 0.5, 0.0], array![0.5f64, 0.5]);
    assert_eq!(
        kl_divergence(p.view(), q.view(), 0, None).unwrap_err().to_string(),
        "kl_divergence: `q` has shape [2], expected [3] (the shape of `p`)"
    );
    assert_eq!(
        js_divergence(p.view(), q.view(), 0, None).unwrap_err().to_string(),
        "js_divergence: `q` has shape [2], expected [3] (the shape of `p`)"
    );
    assert_eq!(
        cross_entropy(p.view(), q.view(), 0, None).unwrap_err().to_string(),
        "information::cross_entropy: `q` has shape [2], expected [3] (the shape of `p`)"
    );
    assert_eq!(
        kl_div(
            array![[0.0f64, 0.0, 0.0]].view(),
            array![[0.5f64, 0.5]].view(),
            Reduction::Mean,
            false
        )
        .unwrap_err()
        .to_string(),
        "kl_div: `target` has shape [1, 2], expected a shape that broadcasts with `input` [1, 3] \
         (PyTorch's broadcasting: sizes aligned from the last axis, equal or 1)"
    );
    assert_eq!(
        ScipyEntropy::new().forward(p.view(), Some(q.view())).unwrap_err().to_string(),
        "scipy.stats.entropy: `qk` has shape [2], expected [3] (the shape of `pk`)"
    );
    assert!(kl_divergence_backward(p.view(), q.view(), 0, None, scalar(1.0).view()).is_err());
}

#[test]
fn bad_bases_are_errors() {
    let p = array![0.5f64, 0.5];
    for (b, shown) in [(1.0, "1"), (0.0, "0"), (-2.0, "-2"), (f64::NAN, "NaN"), (f64::INFINITY, "inf")] {
        let msg = |loss: &str| {
            format!("{loss}: option `base` = {shown} is invalid: expected a finite number > 0 other than 1")
        };
        assert_eq!(entropy(p.view(), 0, Some(b)).unwrap_err().to_string(), msg("entropy"));
        assert_eq!(self_information(p.view(), Some(b)).unwrap_err().to_string(), msg("self_information"));
        assert_eq!(binary_entropy(p.view(), Some(b)).unwrap_err().to_string(), msg("binary_entropy"));
        assert_eq!(kl_divergence(p.view(), p.view(), 0, Some(b)).unwrap_err().to_string(), msg("kl_divergence"));
        assert_eq!(js_divergence(p.view(), p.view(), 0, Some(b)).unwrap_err().to_string(), msg("js_divergence"));
        assert_eq!(
            cross_entropy(p.view(), p.view(), 0, Some(b)).unwrap_err().to_string(),
            msg("information::cross_entropy")
        );
        assert_eq!(
            ScipyEntropy::new().base(b).forward(p.view(), None).unwrap_err().to_string(),
            msg("scipy.stats.entropy")
        );
        assert!(entropy_backward(p.view(), 0, Some(b), scalar(1.0).view()).is_err());
    }
}

#[test]
fn bad_axes_are_errors() {
    let p = array![[0.5f64, 0.5], [1.0, 0.0]];
    assert_eq!(
        entropy(p.view(), 2, None).unwrap_err().to_string(),
        "entropy: option `axis` = 2 is invalid: expected an axis in [-2, 2) for a tensor with 2 dimension(s)"
    );
    assert_eq!(
        kl_divergence(p.view(), p.view(), -3, None).unwrap_err().to_string(),
        "kl_divergence: option `axis` = -3 is invalid: expected an axis in [-2, 2) for a tensor with 2 dimension(s)"
    );
    assert_eq!(
        ScipyEntropy::new().axis(5).forward(p.view(), None).unwrap_err().to_string(),
        "scipy.stats.entropy: option `axis` = 5 is invalid: expected an axis in [-2, 2) for a tensor with 2 dimension(s)"
    );
    // A 0-d tensor has no axis to sum along.
    assert!(entropy(scalar(1.0).view(), 0, None).is_err());
}

#[test]
fn grad_output_of_the_wrong_shape_is_an_error() {
    let p = array![[0.5f64, 0.5], [1.0, 0.0]];
    let bad = ArrayD::<f64>::ones(IxDyn(&[3]));
    assert_eq!(
        entropy_backward(p.view(), 1, None, bad.view()).unwrap_err().to_string(),
        "entropy: `grad_output` has shape [3], expected [2] (the shape of the result)"
    );
    assert_eq!(
        js_divergence_backward(p.view(), p.view(), 0, None, bad.view()).unwrap_err().to_string(),
        "js_divergence: `grad_output` has shape [3], expected [2] (the shape of the result)"
    );
    assert_eq!(
        KlDivLoss::new().backward(p.view(), p.view(), bad.view()).unwrap_err().to_string(),
        "kl_div: `grad_output` has shape [3], expected [] (the result is a scalar under reduction `mean`)"
    );
    assert_eq!(
        ScipyEntropy::new().backward(p.view(), None, bad.view()).unwrap_err().to_string(),
        "scipy.stats.entropy: `grad_output` has shape [3], expected [2] (the shape of the unreduced result)"
    );
}

// ---------------------------------------------------------------------------
// KlDivLoss (torch.nn.functional.kl_div)
// ---------------------------------------------------------------------------

#[test]
fn kl_div_reductions() {
    let mut rng = Rng(7);
    let p = rng.distributions(&[4, 5], 1, 0.0, true);
    let log_q = rng.distributions(&[4, 5], 1, 0.01, false).mapv(f64::ln);
    let none = kl_div(log_q.view(), p.view(), Reduction::None, false).unwrap();
    assert_eq!(none.shape(), &[4, 5]);
    let total: f64 = none.sum();
    assert_close(kl_div(log_q.view(), p.view(), Reduction::Sum, false).unwrap()[[]], total, F64_TOL);
    assert_close(kl_div(log_q.view(), p.view(), Reduction::Mean, false).unwrap()[[]], total / 20.0, F64_TOL);
    assert_close(kl_div(log_q.view(), p.view(), Reduction::BatchMean, false).unwrap()[[]], total / 4.0, F64_TOL);
    // The default is PyTorch's `mean`.
    assert_eq!(
        KlDivLoss::new().forward(log_q.view(), p.view()).unwrap(),
        kl_div(log_q.view(), p.view(), Reduction::Mean, false).unwrap()
    );
    // BatchMean is the mean KL divergence per sample; each row of None sums to KL.
    let q = log_q.mapv(f64::exp);
    let kl = kl_divergence(p.view(), q.view(), 1, None).unwrap();
    assert_close(kl_div(log_q.view(), p.view(), Reduction::BatchMean, false).unwrap()[[]], kl.mean().unwrap(), 1e-12);
    assert_all_close(&none.sum_axis(ndarray::Axis(1)), &kl, 1e-12);
    // A 0-d input: batchmean divides by nothing.
    let (x0, t0) = (scalar(-1.0), scalar(0.5));
    let s = kl_div(x0.view(), t0.view(), Reduction::Sum, false).unwrap();
    assert_eq!(kl_div(x0.view(), t0.view(), Reduction::BatchMean, false).unwrap(), s);
    assert_close(s[[]], 0.5 * (0.5f64.ln() + 1.0), F64_TOL);
}

#[test]
fn kl_div_with_log_targets_agrees() {
    let mut rng = Rng(8);
    let p = rng.distributions(&[3, 6], 1, 0.01, false);
    let log_q = rng.distributions(&[3, 6], 1, 0.01, false).mapv(f64::ln);
    for r in Reduction::ALL {
        let a = kl_div(log_q.view(), p.view(), r, false).unwrap();
        let b = kl_div(log_q.view(), p.mapv(f64::ln).view(), r, true).unwrap();
        assert_all_close(&a, &b, 1e-12);
    }
}

#[test]
fn kl_div_pointwise_values() {
    // ℓ = t (ln t − x); t = 0 gives 0 (xlogy); log_target: exp(t)(t − x).
    let x = array![-1.0f64, -2.0, -0.5];
    let t = array![0.5f64, 0.0, 1.0];
    let l = kl_div(x.view(), t.view(), Reduction::None, false).unwrap();
    assert_all_close(&l, &array![0.5 * (0.5f64.ln() + 1.0), 0.0, 0.5].into_dyn(), F64_TOL);
    let l = kl_div(x.view(), t.view(), Reduction::None, true).unwrap();
    assert_all_close(&l, &array![0.5f64.exp() * 1.5, 2.0, 1f64.exp() * 1.5].into_dyn(), F64_TOL);
}

// ---------------------------------------------------------------------------
// ScipyEntropy (scipy.stats.entropy)
// ---------------------------------------------------------------------------

#[test]
fn scipy_entropy_normalises_and_matches_scipys_documented_values() {
    // From the scipy.stats.entropy docs: a fair coin has 1 bit; [9/10, 1/10] about 0.469.
    let e = ScipyEntropy::new().base(2.0);
    assert_eq!(e.forward(array![0.5f64, 0.5].view(), None).unwrap()[[]], 1.0);
    let h = e.forward(array![9.0f64, 1.0].view(), None).unwrap()[[]];
    assert_close(h, -(0.9 * 0.9f64.log2() + 0.1 * 0.1f64.log2()), F64_TOL);
    // With qk: KL of the normalised distributions; scipy gives 0.5108256237659907.
    let kl = ScipyEntropy::new().forward(array![1.0f64, 1.0].view(), Some(array![9.0f64, 1.0].view())).unwrap()[[]];
    assert_close(kl, (5.0f64 / 3.0).ln(), F64_TOL);
    // Uniform counts: ln n.
    let ones = ArrayD::<f64>::ones(IxDyn(&[7]));
    assert_close(ScipyEntropy::new().forward(ones.view(), None).unwrap()[[]], 7f64.ln(), F64_TOL);
}

#[test]
fn scipy_entropy_is_entropy_of_the_normalised_input_along_axis_0_by_default() {
    let mut rng = Rng(9);
    let pk = rng.array(&[5, 3], 0.0, 4.0);
    let qk = rng.array(&[5, 3], 0.1, 4.0);
    let (pn, qn) = (&pk / &pk.sum_axis(ndarray::Axis(0)), &qk / &qk.sum_axis(ndarray::Axis(0)));
    let s = ScipyEntropy::new().forward(pk.view(), None).unwrap();
    assert_eq!(s.shape(), &[3]);
    assert_all_close(&s, &entropy(pn.view(), 0, None).unwrap(), 1e-12);
    let s = ScipyEntropy::new().base(10.0).forward(pk.view(), Some(qk.view())).unwrap();
    assert_all_close(&s, &kl_divergence(pn.view(), qn.view(), 0, Some(10.0)).unwrap(), 1e-12);
    // Scaling pk changes nothing.
    let s1 = ScipyEntropy::new().axis(-1).forward(pk.view(), None).unwrap();
    let s2 = ScipyEntropy::new().axis(-1).forward((&pk * 37.5).view(), None).unwrap();
    assert_all_close(&s1, &s2, 1e-13);
    // Negative entries: entr(x < 0) = −∞.
    assert_eq!(ScipyEntropy::new().forward(array![2.0f64, -0.5].view(), None).unwrap()[[]], f64::NEG_INFINITY);
}

#[test]
fn scipy_entropy_reductions() {
    let mut rng = Rng(10);
    let pk = rng.array(&[4, 6], 0.1, 1.0);
    let none = ScipyEntropy::new().axis(1).forward(pk.view(), None).unwrap();
    assert_eq!(ScipyEntropy::default().reduction, Reduction::None);
    let total = none.sum();
    let with = |r| ScipyEntropy::new().axis(1).reduction(r).forward(pk.view(), None).unwrap()[[]];
    assert_close(with(Reduction::Sum), total, F64_TOL);
    assert_close(with(Reduction::Mean), total / 4.0, F64_TOL);
    assert_close(with(Reduction::BatchMean), total / 4.0, F64_TOL);
    // BatchMean divides by the first axis of SciPy's output: [6, 4, 5] → [4, 5] → 4.
    let pk3 = rng.array(&[6, 4, 5], 0.1, 1.0);
    let out = ScipyEntropy::new().forward(pk3.view(), None).unwrap();
    let bm = ScipyEntropy::new().reduction(Reduction::BatchMean).forward(pk3.view(), None).unwrap()[[]];
    assert_close(bm, out.sum() / 4.0, F64_TOL);
}

// ---------------------------------------------------------------------------
// Gradients by central finite differences (f64, away from zeros)
// ---------------------------------------------------------------------------

#[test]
fn entropy_gradient() {
    let mut rng = Rng(11);
    let p = rng.array(&[3, 4], 0.05, 1.0);
    for (axis, base) in [(1isize, None), (0, Some(2.0)), (-1, Some(10.0))] {
        let out_len = if axis == 0 { 4 } else { 3 };
        let go = rng.array(&[out_len], -1.5, 1.5);
        let g = entropy_backward(p.view(), axis, base, go.view()).unwrap();
        let n = numeric_grad(&p, |p| dot(&go, &entropy(p.view(), axis, base).unwrap()));
        assert_grad(&g, &n, &format!("entropy axis {axis} base {base:?}"));
    }
}

type PairFn =
    fn(ndarray::ArrayViewD<'_, f64>, ndarray::ArrayViewD<'_, f64>, isize, Option<f64>) -> losslab::Result<ArrayD<f64>>;
type PairGrad = fn(
    ndarray::ArrayViewD<'_, f64>,
    ndarray::ArrayViewD<'_, f64>,
    isize,
    Option<f64>,
    ndarray::ArrayViewD<'_, f64>,
) -> losslab::Result<Gradients<f64>>;

fn check_pair_gradient(name: &str, f: PairFn, df: PairGrad, seed: u64) {
    let mut rng = Rng(seed);
    let p = rng.array(&[2, 3, 4], 0.05, 1.0);
    let q = rng.array(&[2, 3, 4], 0.05, 1.0);
    for (axis, base, out) in [(2isize, None, vec![2, 3]), (0, Some(2.0), vec![3, 4]), (-2, Some(0.5), vec![2, 4])] {
        let go = rng.array(&out, -1.5, 1.5);
        let g = df(p.view(), q.view(), axis, base, go.view()).unwrap();
        let dq = numeric_grad(&q, |q| dot(&go, &f(p.view(), q.view(), axis, base).unwrap()));
        let dp = numeric_grad(&p, |p| dot(&go, &f(p.view(), q.view(), axis, base).unwrap()));
        assert_grad(&g.input, &dq, &format!("{name} d/dq axis {axis} base {base:?}"));
        assert_grad(g.target.as_ref().unwrap(), &dp, &format!("{name} d/dp axis {axis} base {base:?}"));
    }
}

#[test]
fn cross_entropy_gradient() {
    check_pair_gradient("cross_entropy", cross_entropy, cross_entropy_backward, 12);
}

#[test]
fn kl_divergence_gradient() {
    check_pair_gradient("kl_divergence", kl_divergence, kl_divergence_backward, 13);
}

#[test]
fn js_divergence_gradient() {
    check_pair_gradient("js_divergence", js_divergence, js_divergence_backward, 14);
}

#[test]
fn kl_div_gradients_every_reduction_and_log_target() {
    let mut rng = Rng(15);
    let x = rng.array(&[3, 4], -3.0, -0.1);
    for log_target in [false, true] {
        let t = if log_target { rng.array(&[3, 4], -3.0, 0.0) } else { rng.array(&[3, 4], 0.05, 1.0) };
        for r in Reduction::ALL {
            let loss = KlDivLoss::new().reduction(r).log_target(log_target);
            let go = if r == Reduction::None { rng.array(&[3, 4], -1.5, 1.5) } else { scalar(0.7) };
            let g = loss.backward(x.view(), t.view(), go.view()).unwrap();
            let dx = numeric_grad(&x, |x| dot(&go, &loss.forward(x.view(), t.view()).unwrap()));
            let dt = numeric_grad(&t, |t| dot(&go, &loss.forward(x.view(), t.view()).unwrap()));
            let what = format!("kl_div reduction {r} log_target {log_target}");
            assert_grad(&g.input, &dx, &format!("{what} d/dinput"));
            assert_grad(g.target.as_ref().unwrap(), &dt, &format!("{what} d/dtarget"));
            // d/dinput = −target (or −exp(target)), scaled.
            let scale = match r {
                Reduction::None => go.clone(),
                Reduction::Sum => ArrayD::from_elem(IxDyn(&[3, 4]), 0.7),
                Reduction::Mean => ArrayD::from_elem(IxDyn(&[3, 4]), 0.7 / 12.0),
                Reduction::BatchMean => ArrayD::from_elem(IxDyn(&[3, 4]), 0.7 / 3.0),
            };
            let tt = if log_target { t.mapv(f64::exp) } else { t.clone() };
            assert_all_close(&g.input, &(-(&tt * &scale)), 1e-15);
        }
    }
}

#[test]
fn kl_div_target_gradient_is_nan_at_zero_target_as_in_torch() {
    // PyTorch differentiates xlogy(t, t) through both operands: the second gives
    // grad·t/t = 0/0 = NaN at t == 0, whatever grad is. The loss and the input
    // gradient stay finite.
    let x = array![[-1.0f64, -2.0, -0.5]];
    let t = array![[0.0f64, 0.3, 0.7]];
    for r in Reduction::ALL {
        let loss = KlDivLoss::new().reduction(r);
        let (v, g) = loss.forward_backward(x.view(), t.view()).unwrap();
        assert!(v.iter().all(|v| v.is_finite()));
        assert!(g.input.iter().all(|v| v.is_finite()));
        assert_eq!(g.input[[0, 0]], 0.0);
        let gt = g.target.unwrap();
        assert!(gt[[0, 0]].is_nan(), "reduction {r}: {}", gt[[0, 0]]);
        assert!(gt[[0, 1]].is_finite() && gt[[0, 2]].is_finite());
    }
    // Even with a zero upstream gradient.
    let g = KlDivLoss::new()
        .reduction(Reduction::None)
        .backward(x.view(), t.view(), ArrayD::zeros(IxDyn(&[1, 3])).view())
        .unwrap();
    assert!(g.target.unwrap()[[0, 0]].is_nan());
    // Elsewhere: ln t + 1 − x.
    let g = KlDivLoss::new().reduction(Reduction::Sum).backward(x.view(), t.view(), scalar(1.0).view()).unwrap();
    assert_close(g.target.unwrap()[[0, 1]], 0.3f64.ln() + 1.0 + 2.0, F64_TOL);
    // With log targets, t = 0 is log-probability 0 (probability 1): an ordinary point;
    // t = −∞ (probability 0) is exp(−∞)·(−∞ − x) = 0·(−∞): NaN loss and gradients, as in torch.
    let g = KlDivLoss::new().log_target(true).backward(x.view(), t.view(), scalar(1.0).view()).unwrap();
    assert!(g.target.unwrap().iter().all(|v| v.is_finite()));
    let t = array![[f64::NEG_INFINITY, -1.0]];
    let x = array![[-1.0f64, -0.5]];
    let loss = KlDivLoss::new().log_target(true).reduction(Reduction::None);
    let (v, g) = loss.forward_backward(x.view(), t.view()).unwrap();
    assert!(v[[0, 0]].is_nan() && v[[0, 1]].is_finite());
    assert!(g.target.unwrap()[[0, 0]].is_nan());
    assert_eq!(g.input[[0, 0]], 0.0);
}

#[test]
fn scipy_entropy_gradient_without_qk() {
    let mut rng = Rng(16);
    let pk = rng.array(&[4, 3], 0.2, 2.0);
    for (axis, base, r) in [
        (0isize, None, Reduction::None),
        (1, Some(2.0), Reduction::None),
        (-1, None, Reduction::Mean),
        (0, Some(10.0), Reduction::BatchMean),
    ] {
        let e = ScipyEntropy::new().axis(axis).base(base).reduction(r);
        let out_shape: Vec<usize> = if r != Reduction::None {
            vec![]
        } else if axis == 0 {
            vec![3]
        } else {
            vec![4]
        };
        let go = rng.array(&out_shape, -1.5, 1.5);
        let g = e.backward(pk.view(), None, go.view()).unwrap();
        assert!(g.target.is_none());
        let n = numeric_grad(&pk, |pk| dot(&go, &e.forward(pk.view(), None).unwrap()));
        assert_grad(&g.input, &n, &format!("scipy entropy axis {axis} base {base:?} {r}"));
        // Scale invariance: Σⱼ pkⱼ ∂S/∂pkⱼ = 0.
        assert!(dot(&pk, &g.input).abs() < 1e-12);
    }
}

#[test]
fn scipy_entropy_gradient_with_qk() {
    let mut rng = Rng(17);
    let pk = rng.array(&[4, 3], 0.2, 2.0);
    let qk = rng.array(&[4, 3], 0.2, 2.0);
    for (axis, base, r) in [
        (0isize, None, Reduction::None),
        (1, Some(2.0), Reduction::None),
        (-1, None, Reduction::Sum),
        (0, Some(0.5), Reduction::BatchMean),
    ] {
        let e = ScipyEntropy::new().axis(axis).base(base).reduction(r);
        let out_shape: Vec<usize> = if r != Reduction::None {
            vec![]
        } else if axis == 0 {
            vec![3]
        } else {
            vec![4]
        };
        let go = rng.array(&out_shape, -1.5, 1.5);
        let g = e.backward(pk.view(), Some(qk.view()), go.view()).unwrap();
        let dq = numeric_grad(&qk, |qk| dot(&go, &e.forward(pk.view(), Some(qk.view())).unwrap()));
        let dp = numeric_grad(&pk, |pk| dot(&go, &e.forward(pk.view(), Some(qk.view())).unwrap()));
        let what = format!("scipy entropy with qk, axis {axis} base {base:?} {r}");
        assert_grad(&g.input, &dq, &format!("{what} d/dqk"));
        assert_grad(g.target.as_ref().unwrap(), &dp, &format!("{what} d/dpk"));
    }
}

#[test]
fn scipy_entropy_gradient_with_zeros_in_pk() {
    // A zero in pk (qk > 0) is a boundary: its own derivative is −∞ (with qk) or
    // +∞ (without), the others stay finite and match central differences.
    let pk = array![0.0f64, 1.0, 2.0].into_dyn();
    let qk = array![1.0f64, 1.0, 2.0].into_dyn();
    let e = ScipyEntropy::new();
    let g = e.backward(pk.view(), Some(qk.view()), scalar(1.0).view()).unwrap();
    let dp = g.target.unwrap();
    assert_eq!(dp[0], f64::NEG_INFINITY);
    let n = numeric_grad(&qk, |qk| e.forward(pk.view(), Some(qk.view())).unwrap()[[]]);
    assert_grad(&g.input, &n, "scipy d/dqk with a zero in pk");
    let g = e.backward(pk.view(), None, scalar(1.0).view()).unwrap();
    assert_eq!(g.input[0], f64::INFINITY);
    assert!(g.input.iter().skip(1).all(|v| v.is_finite()));
}

#[test]
fn forward_backward_is_forward_and_backward_with_unit_upstream() {
    let mut rng = Rng(18);
    let x = rng.array(&[2, 5], -3.0, -0.1);
    let t = rng.array(&[2, 5], 0.05, 1.0);
    for r in Reduction::ALL {
        let loss = KlDivLoss::new().reduction(r);
        let (v, g) = loss.forward_backward(x.view(), t.view()).unwrap();
        assert_eq!(v, loss.forward(x.view(), t.view()).unwrap());
        let ones = ArrayD::ones(v.raw_dim());
        assert_eq!(g, loss.backward(x.view(), t.view(), ones.view()).unwrap());
        let e = ScipyEntropy::new().axis(1).reduction(r);
        for qk in [None, Some(x.mapv(f64::exp))] {
            let (v, g) = e.forward_backward(t.view(), qk.as_ref().map(|a| a.view())).unwrap();
            assert_eq!(v, e.forward(t.view(), qk.as_ref().map(|a| a.view())).unwrap());
            let ones = ArrayD::ones(v.raw_dim());
            assert_eq!(g, e.backward(t.view(), qk.as_ref().map(|a| a.view()), ones.view()).unwrap());
        }
    }
}

// ---------------------------------------------------------------------------
// Gradients at the boundary: the documented limits
// ---------------------------------------------------------------------------

#[test]
fn gradients_at_zeros_are_the_documented_limits() {
    let one = scalar(1.0);
    // Entropy: +∞ at p = 0.
    let g = entropy_backward(array![0.0f64, 1.0].view(), 0, None, one.view()).unwrap();
    assert_eq!(g[0], f64::INFINITY);
    assert_eq!(g[1], -1.0);
    // KL: (p, q) = (0, q>0), (0, 0), (p>0, 0), negative.
    let p = array![0.0f64, 0.0, 0.5, -0.5];
    let q = array![0.5f64, 0.0, 0.0, 0.5];
    let g = kl_divergence_backward(p.view(), q.view(), 0, None, one.view()).unwrap();
    let dp = g.target.unwrap();
    assert_eq!(dp.iter().take(3).copied().collect::<Vec<_>>(), vec![f64::NEG_INFINITY, f64::INFINITY, f64::INFINITY]);
    assert_eq!(g.input.iter().take(3).copied().collect::<Vec<_>>(), vec![0.0, 0.0, f64::NEG_INFINITY]);
    assert!(dp[3].is_nan() && g.input[3].is_nan());
    // Cross entropy: ∂/∂q = 0 where p = 0 (even at q = 0); ∂/∂p = +∞ at q = 0.
    let g =
        cross_entropy_backward(array![0.0f64, 1.0].view(), array![0.0f64, 0.0].view(), 0, None, one.view()).unwrap();
    assert_eq!(g.input.iter().copied().collect::<Vec<_>>(), vec![0.0, f64::NEG_INFINITY]);
    assert_eq!(g.target.unwrap().iter().copied().collect::<Vec<_>>(), vec![f64::INFINITY, f64::INFINITY]);
    // JS: (0, 0) gives ½ ln 2 for both; (0, q>0) gives −∞ and ½ ln 2.
    let g =
        js_divergence_backward(array![0.0f64, 0.0].view(), array![0.0f64, 0.5].view(), 0, None, one.view()).unwrap();
    let dp = g.target.unwrap();
    assert_eq!(dp[0], 0.5 * LN_2);
    assert_eq!(dp[1], f64::NEG_INFINITY);
    assert_eq!(g.input[0], 0.5 * LN_2);
    assert_close(g.input[1], 0.5 * LN_2, F64_TOL);
    // The JS limits are the one-sided slopes along each axis.
    let h = 1e-8;
    let js = |p: f64, q: f64| js_divergence(array![p].view(), array![q].view(), 0, None).unwrap()[[]];
    assert_close((js(h, 0.0) - js(0.0, 0.0)) / h, 0.5 * LN_2, 1e-7);
}

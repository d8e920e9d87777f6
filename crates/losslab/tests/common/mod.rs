//! Test support: a deterministic pseudo-random source and a central
//! finite-difference gradient checker in f64.
#![allow(dead_code)]

pub mod alloc;
pub mod fused;
pub mod losses;

use ndarray::{ArrayD, IxDyn};

/// SplitMix64: deterministic, dependency-free pseudo-random numbers for tests.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }
    /// `n` values uniform in [−scale, scale).
    pub fn symmetric(&mut self, n: usize, scale: f64) -> Vec<f64> {
        (0..n).map(|_| self.range(-scale, scale)).collect()
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn array(&mut self, shape: &[usize], lo: f64, hi: f64) -> ArrayD<f64> {
        ArrayD::from_shape_fn(IxDyn(shape), |_| self.range(lo, hi))
    }
    /// Rows (along the last axis) that are probability distributions.
    pub fn simplex(&mut self, shape: &[usize]) -> ArrayD<f64> {
        let mut a = self.array(shape, 0.05, 1.0);
        let last = shape.len() - 1;
        for mut lane in a.lanes_mut(ndarray::Axis(last)) {
            let s: f64 = lane.sum();
            lane.mapv_inplace(|v| v / s);
        }
        a
    }
}

/// Checks `analytic` against central differences of `f` at `x`:
/// `|analytic − numeric| ≤ tol · max(1, |numeric|)` element by element.
pub fn check_gradient(name: &str, x: &ArrayD<f64>, analytic: &ArrayD<f64>, f: impl Fn(&ArrayD<f64>) -> f64) {
    assert_eq!(x.shape(), analytic.shape(), "{name}: gradient shape");
    let h = 1e-6;
    let tol = 1e-6;
    let mut xp = x.clone();
    for (i, (&a, xi)) in analytic.iter().zip(x.iter()).enumerate() {
        let flat = xp.as_slice_mut().expect("standard layout");
        flat[i] = xi + h;
        let up = f(&xp);
        let flat = xp.as_slice_mut().expect("standard layout");
        flat[i] = xi - h;
        let down = f(&xp);
        xp.as_slice_mut().expect("standard layout")[i] = *xi;
        let numeric = (up - down) / (2.0 * h);
        assert!(
            (a - numeric).abs() <= tol * numeric.abs().max(1.0),
            "{name}: element {i}: analytic {a} vs numeric {numeric}"
        );
    }
}

/// `Σ g · v`: the scalar whose gradient a `backward(…, g)` call returns.
pub fn dot(g: &ArrayD<f64>, v: &ArrayD<f64>) -> f64 {
    assert_eq!(g.shape(), v.shape());
    g.iter().zip(v.iter()).map(|(a, b)| a * b).sum()
}

/// Asserts `a ≈ b` element-wise within `rtol` relative (and NaN/inf equal).
pub fn assert_close(name: &str, a: &ArrayD<f64>, b: &ArrayD<f64>, rtol: f64) {
    assert_eq!(a.shape(), b.shape(), "{name}: shape");
    for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        if x.is_nan() || y.is_nan() || x.is_infinite() || y.is_infinite() {
            assert!(x.is_nan() && y.is_nan() || x == y, "{name}: element {i}: {x} vs {y}");
        } else {
            assert!((x - y).abs() <= rtol * y.abs().max(1e-300) + 1e-300, "{name}: element {i}: {x} vs {y}");
        }
    }
}

//! The helpers of the fused cross-entropy tests (`fused.rs` for `f32`/`f64`,
//! `fused_half.rs` for `bf16`/`f16`): the logits and labels drawn, the option
//! sets, the general path's result, bit comparison and thread pools.

use super::Rng;
use losslab::half::{bf16, f16};
use losslab::{CrossEntropyLoss, Float, Reduction};
use ndarray::{Array1, Array2, ArrayD, Axis};

/// The logits' element types of the fused tests: `f32`, `f64`, `bf16`, `f16`.
pub trait Logit: Copy {
    /// The nearest value (ties to even).
    fn from_f64(v: f64) -> Self;
    /// The bits of the value, as stored.
    fn bits(self) -> u64;
}

macro_rules! logit {
    ($($t:ty: $from:expr;)*) => {$(
        impl Logit for $t {
            fn from_f64(v: f64) -> Self {
                $from(v)
            }
            fn bits(self) -> u64 {
                self.to_bits().into()
            }
        }
    )*};
}
logit! {
    f64: |v| v;
    f32: |v| v as f32;
    bf16: bf16::from_f64;
    f16: f16::from_f64;
}

/// `n × c` logits uniform in `(−scale, scale)`, rounded to `E`.
pub fn logits<E: Logit>(rng: &mut Rng, n: usize, c: usize, scale: f64) -> Array2<E> {
    Array2::from_shape_fn((n, c), |_| E::from_f64((rng.uniform() * 2.0 - 1.0) * scale))
}

/// `n` labels in `[0, c)`, about one in ten `ignore`.
pub fn labels(rng: &mut Rng, n: usize, c: usize, ignore: i64) -> Array1<i64> {
    Array1::from_shape_fn(n, |_| if rng.uniform() < 0.1 { ignore } else { (rng.next_u64() % c as u64) as i64 })
}

/// The same shape and the same bits, element by element.
pub fn same_bits<E: Logit>(a: &ArrayD<E>, b: &ArrayD<E>) -> bool {
    a.shape() == b.shape() && a.iter().zip(b.iter()).all(|(x, y)| x.bits() == y.bits())
}

/// Every reduction with four sets of options (label smoothing, weights,
/// `ignore_index`). A weighted one has `Some(vec![])`: [`with_weights`] draws
/// the weights once the class count is known.
pub fn losses() -> Vec<(String, CrossEntropyLoss)> {
    let mut v = vec![];
    for r in Reduction::ALL {
        for (eps, weighted, ignore) in [(0.0, false, -100), (0.1, false, 1), (0.0, true, 2), (0.3, true, 0)] {
            let mut ce = CrossEntropyLoss::new().reduction(r).label_smoothing(eps).ignore_index(ignore);
            if weighted {
                ce.weight = Some(vec![]);
            }
            v.push((format!("{r} ε={eps} weighted={weighted} ignore={ignore}"), ce));
        }
    }
    v
}

/// `ce` with `c` weights in `[0, 2)` drawn where it is weighted.
pub fn with_weights(ce: &CrossEntropyLoss, c: usize, rng: &mut Rng) -> CrossEntropyLoss {
    let mut ce = ce.clone();
    if ce.weight.is_some() {
        ce.weight = Some((0..c).map(|_| rng.uniform() * 2.0).collect());
    }
    ce
}

/// The loss and gradient by the general path: the input as `(N, C, 1)`, which
/// the fused kernels do not take, the result back as `(N,)` and `(N, C)`.
pub fn general_path<T: Float>(ce: &CrossEntropyLoss, x: &Array2<T>, y: &Array1<i64>) -> (ArrayD<T>, ArrayD<T>) {
    let x3 = x.clone().insert_axis(Axis(2));
    let y2 = y.clone().insert_axis(Axis(1));
    let (v, g) = ce.forward_backward(x3.view(), y2.view()).unwrap();
    let v = if ce.reduction == Reduction::None { v.index_axis_move(Axis(1), 0) } else { v };
    (v, g.input.index_axis_move(Axis(2), 0))
}

/// `f` on a new pool of `threads` threads.
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
}

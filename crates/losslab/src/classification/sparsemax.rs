//! The sparsemax losses (optax's binary `sparsemax_loss` and
//! `multiclass_sparsemax_loss`): the Fenchel–Young losses of the sparsemax
//! projection onto the simplex.

use crate::machinery::broadcast::Broadcast;
use crate::machinery::methods::{free_fn, loss_methods};
#[allow(unused_imports)] // for the docs' links
use crate::machinery::error::LossError;
use crate::machinery::error::{shape_err, Result};
use crate::machinery::float::{widen, ClassIndex, Float};
use crate::machinery::lanes::*;
use crate::machinery::reduction::{ones_like_output, sum_f64, Gradients, Neumaier, Reducer, Reduction};
use ndarray::{ArrayD, ArrayView, ArrayViewD, Dimension};

// ---------------------------------------------------------------------------------------
// sparsemax losses

/// `jax.nn.sparse_plus`: 0 for `x ≤ −1`, `(x + 1)²/4` between, `x` for `x ≥ 1`;
/// and its derivative (0, `(x + 1)/2`, 1). NaN propagates (through the middle
/// branch). Selects, no branch: it vectorises.
#[inline(always)]
fn sparse_plus(x: f64) -> (f64, f64) {
    let (low, high) = (x <= -1.0, x >= 1.0);
    let v = if low { 0.0 } else if high { x } else { (x + 1.0) * (x + 1.0) / 4.0 };
    let d = if low { 0.0 } else if high { 1.0 } else { (x + 1.0) / 2.0 };
    (v, d)
}

/// A label of the binary [`OptaxSparsemaxLoss`]: integer or float, positive
/// when nonzero, as optax's `jnp.where(labels, …)` reads it (a float NaN is
/// nonzero, hence positive; `−0.0` is zero).
pub trait BinaryLabel: Copy + Send + Sync + 'static {
    /// Whether the label is the positive class (nonzero).
    fn is_positive(self) -> bool;
}

impl<L: ClassIndex> BinaryLabel for L {
    #[inline]
    fn is_positive(self) -> bool {
        self.index() != 0
    }
}

impl BinaryLabel for f32 {
    #[inline]
    fn is_positive(self) -> bool {
        self != 0.0
    }
}

impl BinaryLabel for f64 {
    #[inline]
    fn is_positive(self) -> bool {
        self != 0.0
    }
}

/// optax's `sparsemax_loss`: the **binary** sparsemax loss (Fenchel–Young loss of
/// the sparse sigmoid), element-wise on logits and 0/1 labels.
///
/// ```text
/// z    = −logits if labels ≠ 0, else logits
/// loss = sparse_plus(z) = 0 (z ≤ −1),  (z + 1)²/4 (−1 < z < 1),  z (z ≥ 1)
/// ```
///
/// Zero exactly when `sparse_sigmoid(logits) = labels`. optax's name is
/// `sparsemax_loss`, though it is binary; the multi-class loss is
/// [`OptaxMulticlassSparsemaxLoss`].
///
/// Labels are integers or floats ([`BinaryLabel`]), as optax takes them (its
/// docs say "integer label (0 or 1)", and it computes
/// `sparse_plus(jnp.where(labels, −logits, logits))`): any nonzero label counts
/// as the positive class, so a float label is not interpolated: `0.5`, `−3`
/// and NaN are all read as 1, `−0.0` as 0; the loss is that of the label 0
/// or 1 it is read as. The labels get no gradient (`jax.grad` gives zeros:
/// they only choose a branch).
///
/// `logits` and `labels` broadcast together as optax broadcasts them (NumPy's
/// rule: `(N, 1)` labels against `(N, C)` logits, or the logits broadcast); the
/// result has the broadcast shape and the logits' gradient is summed back to
/// their shape.
///
/// Logits and labels of one shape, contiguous, take the machinery's fused
/// element-wise sweep (value and gradient in one parallel pass, the logits in
/// their own type and the labels in theirs, bit-identical whatever the thread
/// count); broadcast or strided ones are widened to `f64`; each element by the
/// same formula.
///
/// # Errors
/// [`LossError::Shape`] if the shapes do not broadcast.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::classification::OptaxSparsemaxLoss;
/// let v = OptaxSparsemaxLoss::new().forward(array![0.3f64, 2.0].view(), array![1i64, 0].view()).unwrap();
/// assert!((v[0] - 0.1225).abs() < 1e-15);
/// assert_eq!(v[1], 2.0);
/// // Float labels, as optax takes them: any nonzero label is positive.
/// let f = OptaxSparsemaxLoss::new().forward(array![0.3f64, 0.3].view(), array![1.0f64, 0.5].view()).unwrap();
/// assert_eq!(f[0], f[1]);
/// ```
///
/// # References
/// M. Blondel, A. F. T. Martins, V. Niculae, "Learning with Fenchel-Young Losses",
/// JMLR 21, 2020, Sec. 4.4, <https://arxiv.org/abs/1901.02324>;
/// <https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.sparsemax_loss>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OptaxSparsemaxLoss {
    /// The reduction of the element-wise losses (default `None`).
    pub reduction: Reduction,
}

impl Default for OptaxSparsemaxLoss {
    fn default() -> Self {
        OptaxSparsemaxLoss { reduction: Reduction::None }
    }
}

impl OptaxSparsemaxLoss {
    const NAME: &'static str = "sparsemax_loss";

    /// No reduction (optax's element-wise output).
    pub fn new() -> Self {
        Self::default()
    }

    /// One element, the fused and the general path's: `sparse_plus(z)` with
    /// `z = −x` for a positive label, `x` otherwise, and its derivative with
    /// respect to `x` scaled by the upstream gradient `s`.
    #[inline(always)]
    fn element(x: f64, positive: bool, s: f64) -> (f64, f64) {
        let sign = if positive { -1.0 } else { 1.0 };
        let (v, d) = sparse_plus(sign * x);
        (v, s * (sign * d))
    }

    /// The loss and, for an upstream gradient, the logits' gradient. Logits
    /// and labels of one shape, both contiguous, take the machinery's
    /// three-operand sweep ([`eval_triple`]: value and gradient in one parallel
    /// pass in the logits' own type, the labels read in theirs); broadcast or
    /// strided ones (and a strided upstream gradient of an unreduced result)
    /// are broadcast and widened to `f64`, each element by the same formula.
    fn eval<T: Float, L: BinaryLabel, D1: Dimension, D2: Dimension>(
        &self,
        logits: &ArrayView<'_, T, D1>,
        labels: &ArrayView<'_, L, D2>,
        up: &Upstream<'_, T>,
    ) -> Result<Eval<T, Gradients<T>>> {
        if logits.shape() == labels.shape() {
            if let (Some(x), Some(l)) = (logits.as_slice(), labels.as_slice()) {
                // No third operand: a slice of `()` (no memory).
                let none = vec![(); x.len()];
                let fused = eval_triple(Self::NAME, logits.shape(), (x, l, &none[..]), self.reduction, up, [true, false, false], #[inline(always)] |x: T, l: L, (), s| {
                    let (v, g) = Self::element(x.to_wide(), l.is_positive(), s);
                    (v, [g, 0.0, 0.0])
                })?;
                if let Some((value, g)) = fused {
                    return Ok((value, g.map(|[gx, _, _]| Gradients { input: gx.expect("the logits' gradient"), target: None })));
                }
            }
        }
        // optax: `jnp.where(labels, −logits, logits)` broadcasts them (NumPy's rule).
        let bc = Broadcast::numpy(Self::NAME, &[("logits", logits.shape()), ("labels", labels.shape())])?;
        let x = bc.expand_flat(0, &widen(logits));
        let pos: Vec<f64> = labels.iter().map(|l| f64::from(u8::from(l.is_positive()))).collect();
        let pos = bc.expand_flat(1, &pos);
        let reducer = Reducer::counting(self.reduction, &bc.shape, &bc.shape);
        let scales = up.scales(Self::NAME, &reducer)?;
        let value = reducer.output(x.iter().zip(&pos).map(|(&x, &p)| Self::element(x, p != 0.0, 0.0).0).collect());
        let grads = scales.map(|s| {
            let g = (0..x.len()).map(|i| Self::element(x[i], pos[i] != 0.0, s.at(i)).1).collect();
            Gradients { input: bc.reduce(0, g), target: None }
        });
        Ok((value, grads))
    }

    /// The element-wise losses (reduced as `self.reduction` says).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, L: BinaryLabel, D1: Dimension, D2: Dimension>(
        &self,
        logits: ArrayView<'_, T, D1>,
        labels: ArrayView<'_, L, D2>,
    ) -> Result<ArrayD<T>> {
        Ok(self.eval(&logits, &labels, &Upstream::Skip)?.0)
    }

    /// The gradient of `Σ grad_output · loss` w.r.t. `logits` (`target`: `None`).
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
    /// have the result's shape.
    pub fn backward<T: Float, L: BinaryLabel, D1: Dimension, D2: Dimension>(
        &self,
        logits: ArrayView<'_, T, D1>,
        labels: ArrayView<'_, L, D2>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<Gradients<T>> {
        Ok(self.eval(&logits, &labels, &Upstream::Given(grad_output))?.1.expect("gradients requested"))
    }

    /// The loss and its gradient (of the result's sum when unreduced), in one sweep.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, L: BinaryLabel, D1: Dimension, D2: Dimension>(
        &self,
        logits: ArrayView<'_, T, D1>,
        labels: ArrayView<'_, L, D2>,
    ) -> Result<(ArrayD<T>, Gradients<T>)> {
        let (value, g) = self.eval(&logits, &labels, &Upstream::Ones)?;
        Ok((value, g.expect("gradients requested")))
    }

    /// Sets the reduction.
    #[must_use]
    pub fn reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }
}

/// The Euclidean projection of `v` onto the probability simplex (sparsemax), by
/// the sorted-threshold algorithm exactly as optax's `projection_simplex` writes it:
/// sort descending, `k = #{i : 1/i + uᵢ − (Σ_{j≤i} uⱼ)/i > 0}`,
/// `p = relu(1/k + v − (Σ_{j≤k} uⱼ)/k)`.
pub(crate) fn projection_simplex(v: &[f64]) -> Vec<f64> {
    let n = v.len();
    if n == 0 {
        return vec![];
    }
    if v.iter().any(|x| x.is_nan()) {
        return vec![f64::NAN; n];
    }
    let mut u = v.to_vec();
    u.sort_by(|a, b| b.total_cmp(a));
    let mut cumsum = Vec::with_capacity(n);
    let mut acc = 0.0;
    for &x in &u {
        acc += x;
        cumsum.push(acc);
    }
    let k = (0..n).filter(|&i| 1.0 / (i + 1) as f64 + (u[i] - cumsum[i] / (i + 1) as f64) > 0.0).count().max(1);
    let kf = k as f64;
    v.iter().map(|&x| (1.0 / kf + (x - cumsum[k - 1] / kf)).max(0.0)).collect()
}

thread_local! {
    /// The candidates for a row's support in [`multiclass_sparsemax_row`],
    /// sorted (one scratch per thread, at most a row long).
    static CANDIDATES: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// One row of [`OptaxMulticlassSparsemaxLoss`] on the machinery's row sweep:
/// the loss of scores `x` with label `y` and, for `g`, the gradient
/// `g.up · (p − onehot(y))` written into every element of `g.gx`; the same bits
/// as the general path ([`projection_simplex`], then the loss's sums), without
/// sorting the row.
///
/// The support of `p = sparsemax(x)` lies above `max x − 1` (its threshold `τ`
/// satisfies `Σ (xᵢ − τ)₊ = 1`, so `max x − τ ≤ 1`). Only the elements at or
/// above `max x − 1 − δ` are sorted: they are the prefix of the whole row's
/// descending sort, so their cumulative sums are the ones `projection_simplex`
/// forms, and for every element below them optax's test
/// `1/i + uᵢ − (Σ_{j≤i} uⱼ)/i > 0` is false: exactly it is at most
/// `(1 − (u₁ − uᵢ))/i < −δ/i`, and `δ = 4 (C + 1)(C + 4) ε (1 + max |x|)` bounds
/// the rounding of its evaluation (a cumulative sum of at most `C` terms, a
/// division, two additions). So `k` and `Σ_{j≤k} uⱼ`, hence `p`, are the general
/// path's. A row with an infinite element sorts every element; a row with a
/// NaN is NaN, its gradient NaN. The loss's and the gradient's compensated sums
/// run over the support only: their other terms are `+0`, which leaves a
/// compensated sum unchanged.
#[inline(always)]
fn multiclass_sparsemax_row<T: Float>(x: &[T], y: usize, g: Option<RowGrads<'_, T>>) -> f64 {
    let c = x.len();
    let (mut hi, mut lo, mut nan) = (f64::NEG_INFINITY, f64::INFINITY, false);
    for &v in x {
        let v = v.to_wide();
        nan |= v.is_nan();
        hi = hi.max(v);
        lo = lo.min(v);
    }
    if nan {
        if let Some(g) = g {
            g.gx.fill(T::from_wide(g.up * f64::NAN));
        }
        return f64::NAN;
    }
    let big = hi.abs().max(lo.abs());
    let cf = c as f64;
    let floor = if big.is_finite() { hi - 1.0 - 4.0 * (cf + 1.0) * (cf + 4.0) * f64::EPSILON * (1.0 + big) } else { f64::NEG_INFINITY };
    // k and Σ_{j≤k} uⱼ as projection_simplex computes them.
    let (a, b) = CANDIDATES.with(|cand| {
        let mut u = cand.borrow_mut();
        u.clear();
        u.extend(x.iter().map(|v| v.to_wide()).filter(|&v| v >= floor));
        u.sort_by(|a, b| b.total_cmp(a));
        let (mut acc, mut k) = (0.0, 0usize);
        for (i, v) in u.iter_mut().enumerate() {
            acc += *v;
            if 1.0 / (i + 1) as f64 + (*v - acc / (i + 1) as f64) > 0.0 {
                k += 1;
            }
            *v = acc;
        }
        let k = k.max(1);
        let kf = k as f64;
        (1.0 / kf, u[k - 1] / kf)
    });
    let sy = x[y].to_wide();
    let (mut lin, mut sq, mut others) = (Neumaier::default(), Neumaier::default(), Neumaier::default());
    let mut support = |i: usize, p: f64, xi: f64| {
        if p != 0.0 {
            lin.add(p * if i == y { 0.0 } else { xi - sy });
            sq.add(p * p);
            if i != y {
                others.add(p);
            }
        }
    };
    match g {
        Some(g) => {
            for (i, (o, &v)) in g.gx.iter_mut().zip(x).enumerate() {
                let xi = v.to_wide();
                let p = (a + (xi - b)).max(0.0);
                *o = T::from_wide(g.up * p);
                support(i, p, xi);
            }
            g.gx[y] = T::from_wide(g.up * -others.total());
        }
        None => {
            for (i, &v) in x.iter().enumerate() {
                let xi = v.to_wide();
                support(i, (a + (xi - b)).max(0.0), xi);
            }
        }
    }
    lin.total() + 0.5 * (1.0 - sq.total())
}

/// optax's `multiclass_sparsemax_loss`: the sparsemax (Fenchel–Young) loss of
/// integer labels, one per row of `scores`.
///
/// ```text
/// p    = sparsemax(scores) = argmin_{p ∈ Δ} ‖p − scores‖²       (row by row)
/// s'   = scores − scores[label]   (with s'[label] = 0)
/// loss = Σ_i p_i s'_i + ½ (1 − Σ_i p_i²)
/// ∂/∂scores = p − onehot(label)
/// ```
///
/// The loss is 0 exactly when `sparsemax(scores)` is the one-hot label; unlike
/// softmax cross entropy it reaches 0 at finite scores (a margin). The gradient
/// is the one JAX computes through optax's custom JVP of the projection
/// (`diag(s) − s sᵀ/|s|` on the support `s`), which simplifies to `p − onehot`.
///
/// Shapes: `scores` `(N, C)`, `labels` `(N,)` (optax `vmap`s over the rows).
///
/// Contiguous scores and labels take the machinery's row sweep: rows in
/// parallel, in the scores' own type, each row's loss and gradient in one
/// pass, sorting only the elements within `1 + δ` of the row's maximum (the
/// support lies above `max − 1`); the result has the bits of sorting the whole
/// row as optax does, whatever the thread count. Strided ones are widened to
/// `f64` and sorted whole.
///
/// # Errors
/// [`LossError::Shape`] if `scores` is not 2-d or `labels` is not `(N,)`;
/// [`LossError::ClassIndex`] for a label outside `[0, C)` (JAX would clamp the index
/// silently).
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::classification::OptaxMulticlassSparsemaxLoss;
/// let scores = array![[3.0f64, 0.0, 0.0], [1.0, 0.5, 0.0]];
/// let labels = array![0i64, 0];
/// let (v, g) = OptaxMulticlassSparsemaxLoss::new().forward_backward(scores.view(), labels.view()).unwrap();
/// assert_eq!(v[0], 0.0); // sparsemax is already one-hot
/// // p = [0.75, 0.25, 0]: loss = 0.25·(−0.5) + ½(1 − 0.625)
/// assert_eq!(v[1], 0.0625);
/// assert_eq!(g.input.as_slice().unwrap()[3..], [-0.25, 0.25, 0.0]);
/// ```
///
/// # References
/// A. F. T. Martins, R. F. Astudillo, "From Softmax to Sparsemax: A Sparse Model of
/// Attention and Multi-Label Classification", ICML 2016, <https://arxiv.org/abs/1602.02068>;
/// <https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.multiclass_sparsemax_loss>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OptaxMulticlassSparsemaxLoss {
    /// The reduction of the per-example losses (default `None`).
    pub reduction: Reduction,
}

impl Default for OptaxMulticlassSparsemaxLoss {
    fn default() -> Self {
        OptaxMulticlassSparsemaxLoss { reduction: Reduction::None }
    }
}

impl OptaxMulticlassSparsemaxLoss {
    const NAME: &'static str = "multiclass_sparsemax_loss";

    /// No reduction (optax's per-example output).
    pub fn new() -> Self {
        Self::default()
    }

    /// The loss and, for an upstream gradient, the scores' gradient. Contiguous
    /// `(N, C)` scores and `(N,)` labels take the machinery's row sweep
    /// ([`multiclass_sparsemax_row`]: rows in parallel, each row's loss and
    /// gradient in one pass in the scores' own type, the same bits as the
    /// general path); strided ones take the general path ([`projection_simplex`]
    /// per row, widened to `f64`).
    fn eval<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        scores: ArrayView<'_, T, D1>,
        labels: ArrayView<'_, L, D2>,
        up: &Upstream<'_, T>,
    ) -> Result<Eval<T, Gradients<T>>> {
        if scores.ndim() != 2 {
            return Err(shape_err(Self::NAME, "scores", "(N, C): optax maps the loss over the rows of a 2-d tensor", scores.shape()));
        }
        let (n, c) = (scores.shape()[0], scores.shape()[1]);
        let reducer = Reducer::counting(self.reduction, &[n], scores.shape());
        if let (Some(xs), Some(ls), true) = (scores.as_slice(), labels.as_slice(), n > 0 && c > 0 && labels.shape() == [n]) {
            class_labels(Self::NAME, "labels", &labels, c, None)?;
            return eval_rows_into(Self::NAME, &reducer, scores.shape(), (n, c), up, false, true, #[inline(always)] |r: usize, g: Option<RowGrads<'_, T>>| {
                multiclass_sparsemax_row(&xs[r * c..(r + 1) * c], ls[r].index() as usize, g)
            });
        }
        let ones;
        let go = match up {
            Upstream::Skip => None,
            Upstream::Ones => {
                ones = ones_like_output::<T>(&reducer);
                Some(ones.view())
            }
            Upstream::Given(g) => Some(g.view()),
        };
        let (value, g) = self.run(&scores, &labels, go.as_ref())?;
        Ok((value, g.map(|input| Gradients { input, target: None })))
    }

    /// The general path: [`projection_simplex`] per row, widened to `f64`.
    fn run<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        scores: &ArrayView<'_, T, D1>,
        labels: &ArrayView<'_, L, D2>,
        go: Option<&ArrayViewD<'_, T>>,
    ) -> Result<(ArrayD<T>, Option<ArrayD<T>>)> {
        if scores.ndim() != 2 {
            return Err(shape_err(Self::NAME, "scores", "(N, C): optax maps the loss over the rows of a 2-d tensor", scores.shape()));
        }
        run_labels(Self::NAME, ("scores", scores), ("labels", labels), false, None, self.reduction, go, |s, lab, g| {
            let y = lab.unwrap_or(0);
            let p = projection_simplex(s);
            let sy = s[y];
            let v = sum_f64((0..s.len()).map(|i| {
                let sp = if i == y { 0.0 } else { s[i] - sy };
                p[i] * if p[i] != 0.0 { sp } else { 0.0 }
            })) + 0.5 * (1.0 - sum_f64(p.iter().map(|x| x * x)));
            if let Some(gx) = g {
                for (i, o) in gx.iter_mut().enumerate() {
                    *o = p[i];
                }
                gx[y] = -sum_f64((0..s.len()).filter(|&i| i != y).map(|i| p[i]));
            }
            v
        })
    }

    loss_methods!(torch: eval, (scores: float, labels: labels), "`input` w.r.t. `scores` (`target`: `None`)");
}

free_fn! {
    /// [`OptaxMulticlassSparsemaxLoss`]: `optax.losses.multiclass_sparsemax_loss(scores, labels)`.
    pub fn optax_multiclass_sparsemax_loss(scores: float, labels: labels) = OptaxMulticlassSparsemaxLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::classification::optax_multiclass_sparsemax_loss(array![[0.0f64, 0.0]].view(), array![1u8].view()).unwrap();
        /// assert_eq!(v[0], 0.25); // p = [½, ½]: ½·0 + ½·0 + ½(1 − ½)
        /// ```
        ///
        /// # References
        /// [`OptaxMulticlassSparsemaxLoss`]: its formula, the reference's semantics and the paper.
    }

}

/// [`OptaxSparsemaxLoss`]: `optax.losses.sparsemax_loss(logits, labels)` (the binary sparsemax loss), one value per element.
///
/// # Errors
/// See [`OptaxSparsemaxLoss`].
pub fn optax_sparsemax_loss<T: Float, L: BinaryLabel, D1: Dimension, D2: Dimension>(
    logits: ArrayView<'_, T, D1>,
    labels: ArrayView<'_, L, D2>,
) -> Result<ArrayD<T>> {
    OptaxSparsemaxLoss::new().forward(logits, labels)
}

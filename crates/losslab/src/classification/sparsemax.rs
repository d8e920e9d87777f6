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
use crate::machinery::reduction::{sum_f64, Gradients, Reducer, Reduction};
use ndarray::{ArrayD, ArrayView, ArrayViewD, Dimension};

// ---------------------------------------------------------------------------------------
// sparsemax losses

/// `jax.nn.sparse_plus`: 0 for `x ≤ −1`, `(x + 1)²/4` between, `x` for `x ≥ 1`;
/// and its derivative (0, `(x + 1)/2`, 1).
#[inline]
fn sparse_plus(x: f64) -> (f64, f64) {
    if x <= -1.0 {
        (0.0, 0.0)
    } else if x >= 1.0 {
        (x, 1.0)
    } else if x.is_nan() {
        (x, x)
    } else {
        ((x + 1.0) * (x + 1.0) / 4.0, (x + 1.0) / 2.0)
    }
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

    fn prepare<T: Float, L: BinaryLabel, D1: Dimension, D2: Dimension>(
        &self,
        logits: &ArrayView<'_, T, D1>,
        labels: &ArrayView<'_, L, D2>,
    ) -> Result<(Vec<f64>, Vec<f64>, Reducer, Broadcast)> {
        // optax: `jnp.where(labels, −logits, logits)` broadcasts them (NumPy's rule).
        let bc = Broadcast::numpy(Self::NAME, &[("logits", logits.shape()), ("labels", labels.shape())])?;
        let x = bc.expand_flat(0, &widen(logits));
        let s: Vec<f64> = labels.iter().map(|l| if l.is_positive() { -1.0 } else { 1.0 }).collect();
        let s = bc.expand_flat(1, &s);
        let reducer = Reducer::counting(self.reduction, &bc.shape, &bc.shape);
        Ok((x, s, reducer, bc))
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
        let (x, s, reducer, _) = self.prepare(&logits, &labels)?;
        Ok(reducer.output(x.iter().zip(&s).map(|(&x, &s)| sparse_plus(s * x).0).collect()))
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
        let (x, s, reducer, bc) = self.prepare(&logits, &labels)?;
        let scales = reducer.scales(Self::NAME, &grad_output)?;
        let g = (0..x.len()).map(|i| scales.at(i) * (s[i] * sparse_plus(s[i] * x[i]).1)).collect();
        Ok(Gradients { input: bc.reduce(0, g), target: None })
    }

    /// The loss and its gradient (of the result's sum when unreduced).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, L: BinaryLabel, D1: Dimension, D2: Dimension>(
        &self,
        logits: ArrayView<'_, T, D1>,
        labels: ArrayView<'_, L, D2>,
    ) -> Result<(ArrayD<T>, Gradients<T>)> {
        let value = self.forward(logits.view(), labels.view())?;
        let ones = ArrayD::from_elem(value.shape(), T::one());
        Ok((value, self.backward(logits, labels, ones.view())?))
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

    loss_methods!(torch: run(input = only), (scores: float, labels: labels));
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

//! Contrastive image-text pretraining: OpenCLIP's `ClipLoss` (CLIP's symmetric
//! InfoNCE) and `SigLipLoss` (SigLIP's pairwise sigmoid loss), on `(N, D)`
//! image and text features with a learnable `logit_scale` and `logit_bias`.
//!
//! Both build the `(N, N)` logits `L = s · X Yᵀ + b` (`X` the image features,
//! `Y` the text features, pair `i` matching image `i` with text `i`) with one
//! matrix product (the `gemm` crate, in `f64`), evaluate their loss over its
//! rows (and, for CLIP, its columns) in parallel, and return the gradients of
//! the features (two more matrix products, `G Y` and `Gᵀ X`, from the logits'
//! gradient `G` written over the logits), of the scale (`Σᵢ xᵢ · (G Y)ᵢ`) and
//! of the bias (`Σ G`): memory one `(N, N)` buffer of `f64` beside the widened
//! features, for any `N`.
//!
//! As OpenCLIP's losses, these **do not normalise the features**: OpenCLIP's
//! models return unit-norm features (`F.normalize` in `encode_image` /
//! `encode_text`) and the loss multiplies what it is given. `logit_scale` is
//! the scale itself (OpenCLIP's models pass `self.logit_scale.exp()`), and
//! its gradient is the gradient with respect to that exponentiated scale.
//! Single-process semantics (`world_size = 1`: no gathering of features).

use crate::machinery::error::{shape_err, Result};
use crate::machinery::float::{narrow, Float};
use crate::machinery::kernels::par::{self, SyncPtr};
use crate::machinery::reduction::{ones_like_output, sum_f64, Reducer, Reduction, Scales};
use crate::math::{max_nan, sigmoid_f64, softplus_f64};
use ndarray::{ArrayD, ArrayView, ArrayViewD, Dimension};

/// The gradients of [`ClipLoss`] and [`SigLipLoss`]: with respect to the two
/// feature tensors (their shapes), the scale and the bias (`None` when no bias
/// was given).
#[derive(Debug, Clone, PartialEq)]
pub struct ContrastiveGradients<T> {
    /// Gradient with respect to `image_features`.
    pub image_features: ArrayD<T>,
    /// Gradient with respect to `text_features`.
    pub text_features: ArrayD<T>,
    /// Gradient with respect to `logit_scale` (the exponentiated scale, as given).
    pub logit_scale: T,
    /// Gradient with respect to `logit_bias`, where one was given.
    pub logit_bias: Option<T>,
}

/// `dst (m × n, row-major) = beta · lhs (m × k) · rhs (k × n)`, each operand by
/// its row and column strides, in `f64` through the `gemm` crate.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul(m: usize, n: usize, k: usize, dst: &mut [f64], lhs: &[f64], (lhs_rs, lhs_cs): (isize, isize), rhs: &[f64], (rhs_rs, rhs_cs): (isize, isize), beta: f64) {
    debug_assert_eq!(dst.len(), m * n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        dst.fill(0.0);
        return;
    }
    #[cfg(feature = "rayon")]
    let parallelism = if par::threads() > 1 && m * n * k >= (1 << 18) { gemm::Parallelism::Rayon(par::threads()) } else { gemm::Parallelism::None };
    #[cfg(not(feature = "rayon"))]
    let parallelism = gemm::Parallelism::None;
    // SAFETY: dst holds m × n elements, row-major; lhs and rhs hold the m × k and
    // k × n elements their strides address (the callers pass their own buffers).
    unsafe {
        gemm::gemm(m, n, k, dst.as_mut_ptr(), 1, n as isize, false, lhs.as_ptr(), lhs_cs, lhs_rs, rhs.as_ptr(), rhs_cs, rhs_rs, 0.0, beta, false, false, false, parallelism);
    }
}

/// `m + ln Σ exp(x − m)` of values whose maximum is `m` and whose shifted sum is
/// `s`; the maximum itself where it is NaN or infinite (`torch.logsumexp`).
#[inline]
fn lse_from(m: f64, s: impl FnOnce() -> f64) -> f64 {
    if m.is_nan() || m.is_infinite() {
        m
    } else {
        m + s().ln()
    }
}

/// The features widened, and the `(N, N)` logits `s · X Yᵀ + b` (row-major).
struct Pairs {
    n: usize,
    d: usize,
    x: Vec<f64>,
    y: Vec<f64>,
    scale: f64,
    bias: Option<f64>,
    /// The logits; the backward pass overwrites them with their gradient.
    l: Vec<f64>,
}

impl Pairs {
    fn new<T: Float, D: Dimension>(
        loss: &'static str,
        image: &ArrayView<'_, T, D>,
        text: &ArrayView<'_, T, D>,
        scale: T,
        bias: Option<T>,
    ) -> Result<Pairs> {
        if image.ndim() != 2 {
            return Err(shape_err(loss, "image_features", "(N, D) (2-D)", image.shape()));
        }
        if text.shape() != image.shape() {
            return Err(shape_err(loss, "text_features", format!("{:?} (the shape of `image_features`: one text per image)", image.shape()), text.shape()));
        }
        let (n, d) = (image.shape()[0], image.shape()[1]);
        let x: Vec<f64> = image.iter().map(|v| v.to_wide()).collect();
        let y: Vec<f64> = text.iter().map(|v| v.to_wide()).collect();
        let (scale, bias) = (scale.to_wide(), bias.map(Float::to_wide));
        let mut l = vec![0.0; n * n];
        // OpenCLIP: logit_scale * image_features @ text_features.T (+ logit_bias).
        matmul(n, n, d, &mut l, &x, (d as isize, 1), &y, (1, d as isize), scale);
        if let Some(b) = bias {
            let lp = SyncPtr(l.as_mut_ptr());
            par::for_each(n, n * n, |i| {
                // SAFETY: row i is this task's alone.
                let row = unsafe { std::slice::from_raw_parts_mut(lp.add(i * n), n) };
                row.iter_mut().for_each(|v| *v += b);
            });
        }
        Ok(Pairs { n, d, x, y, scale, bias, l })
    }

    fn row(&self, i: usize) -> &[f64] {
        &self.l[i * self.n..(i + 1) * self.n]
    }

    /// Each row's log-sum-exp, in parallel.
    fn row_lse(&self) -> Vec<f64> {
        let n = self.n;
        let mut out = vec![0.0; n];
        let op = SyncPtr(out.as_mut_ptr());
        par::for_each(n, n * n, |i| {
            let row = self.row(i);
            let m = max_nan(row.iter().copied());
            // SAFETY: element i is this task's alone.
            unsafe { *op.add(i) = lse_from(m, || row.iter().map(|&v| (v - m).exp()).sum::<f64>()) };
        });
        out
    }

    /// Each column's log-sum-exp: blocks of columns in parallel, each read row
    /// by row (the maxima, then the sums).
    fn col_lse(&self) -> Vec<f64> {
        const BLOCK: usize = 64;
        let n = self.n;
        let mut out = vec![0.0; n];
        let op = SyncPtr(out.as_mut_ptr());
        par::for_each(n.div_ceil(BLOCK), n * n, |b| {
            let (j0, j1) = (b * BLOCK, ((b + 1) * BLOCK).min(n));
            let w = j1 - j0;
            let mut m = [f64::NEG_INFINITY; BLOCK];
            for i in 0..n {
                let row = &self.row(i)[j0..j1];
                for (mj, &v) in m[..w].iter_mut().zip(row) {
                    if v.is_nan() || mj.is_nan() {
                        *mj = f64::NAN;
                    } else if v > *mj {
                        *mj = v;
                    }
                }
            }
            let mut s = [0.0f64; BLOCK];
            for i in 0..n {
                let row = &self.row(i)[j0..j1];
                for ((sj, &mj), &v) in s[..w].iter_mut().zip(&m[..w]).zip(row) {
                    *sj += (v - mj).exp();
                }
            }
            for k in 0..w {
                // SAFETY: columns j0..j1 are this task's alone.
                unsafe { *op.add(j0 + k) = lse_from(m[k], || s[k]) };
            }
        });
        out
    }

    /// Overwrites the logits with `G`, row `i`'s entries `grad(i, j, l_ij)`, in parallel.
    fn write_grad(&mut self, grad: impl Fn(usize, usize, f64) -> f64 + Sync) {
        let n = self.n;
        let lp = SyncPtr(self.l.as_mut_ptr());
        par::for_each(n, n * n, |i| {
            // SAFETY: row i is this task's alone.
            let row = unsafe { std::slice::from_raw_parts_mut(lp.add(i * n), n) };
            for (j, v) in row.iter_mut().enumerate() {
                *v = grad(i, j, *v);
            }
        });
    }

    /// The gradients from `G` (held in `self.l`): `s · G Y`, `s · Gᵀ X`,
    /// `Σᵢ xᵢ · (G Y)ᵢ` and `Σ G`.
    fn grads<T: Float>(self, shape: &[usize]) -> ContrastiveGradients<T> {
        let (n, d) = (self.n, self.d);
        let (ni, di) = (n as isize, d as isize);
        let mut gy = vec![0.0; n * d];
        matmul(n, d, n, &mut gy, &self.l, (ni, 1), &self.y, (di, 1), 1.0);
        let mut gtx = vec![0.0; n * d];
        matmul(n, d, n, &mut gtx, &self.l, (1, ni), &self.x, (di, 1), 1.0);
        let ds = sum_f64((0..n).map(|i| sum_f64(self.x[i * d..(i + 1) * d].iter().zip(&gy[i * d..(i + 1) * d]).map(|(a, b)| a * b))));
        let db = self.bias.map(|_| sum_f64((0..n).map(|i| sum_f64(self.row(i).iter().copied()))));
        let s = self.scale;
        ContrastiveGradients {
            image_features: narrow(shape, gy.into_iter().map(|v| s * v).collect()),
            text_features: narrow(shape, gtx.into_iter().map(|v| s * v).collect()),
            logit_scale: T::from_wide(ds),
            logit_bias: db.map(T::from_wide),
        }
    }
}

/// Writes `forward`, `backward`, `forward_backward` and the `reduction` setter of
/// a contrastive loss from its `values(&Pairs) -> Vec<f64>` (one per pair) and
/// `grad(&mut Pairs, &Scales)` (writing `G` over the logits).
macro_rules! contrastive_methods {
    () => {
        /// Sets the reduction of the per-pair losses (default `Mean`: OpenCLIP's result).
        #[must_use]
        pub fn reduction(mut self, reduction: Reduction) -> Self {
            self.reduction = reduction;
            self
        }

        /// The loss, reduced as `self.reduction` says.
        ///
        /// # Errors
        /// See the type's docs.
        pub fn forward<T: Float, D: Dimension>(
            &self,
            image_features: ArrayView<'_, T, D>,
            text_features: ArrayView<'_, T, D>,
            logit_scale: T,
            logit_bias: Option<T>,
        ) -> Result<ArrayD<T>> {
            let p = Pairs::new(Self::NAME, &image_features, &text_features, logit_scale, logit_bias)?;
            let r = Reducer::counting(self.reduction, &[p.n], &[p.n]);
            Ok(r.output(self.values(&p)))
        }

        /// The gradients of `Σ grad_output · loss` (`grad_output` has the result's
        /// shape) with respect to the features, the scale and the bias.
        ///
        /// # Errors
        /// See the type's docs; also [`LossError::Shape`](crate::LossError::Shape) if
        /// `grad_output` does not have the result's shape.
        pub fn backward<T: Float, D: Dimension>(
            &self,
            image_features: ArrayView<'_, T, D>,
            text_features: ArrayView<'_, T, D>,
            logit_scale: T,
            logit_bias: Option<T>,
            grad_output: ArrayViewD<'_, T>,
        ) -> Result<ContrastiveGradients<T>> {
            let mut p = Pairs::new(Self::NAME, &image_features, &text_features, logit_scale, logit_bias)?;
            let r = Reducer::counting(self.reduction, &[p.n], &[p.n]);
            let scales = r.scales(Self::NAME, &grad_output)?;
            self.grad(&mut p, &scales);
            Ok(self.finish(p.grads(image_features.shape())))
        }

        /// The loss and its gradients (of the result's sum when unreduced), from one
        /// product of the features.
        ///
        /// # Errors
        /// See the type's docs.
        pub fn forward_backward<T: Float, D: Dimension>(
            &self,
            image_features: ArrayView<'_, T, D>,
            text_features: ArrayView<'_, T, D>,
            logit_scale: T,
            logit_bias: Option<T>,
        ) -> Result<(ArrayD<T>, ContrastiveGradients<T>)> {
            let mut p = Pairs::new(Self::NAME, &image_features, &text_features, logit_scale, logit_bias)?;
            let r = Reducer::counting(self.reduction, &[p.n], &[p.n]);
            let value = r.output(self.values(&p));
            let ones = ones_like_output::<T>(&r);
            let scales = r.scales(Self::NAME, &ones.view())?;
            self.grad(&mut p, &scales);
            Ok((value, self.finish(p.grads(image_features.shape()))))
        }
    };
}

// ---------------------------------------------------------------------------------------
// open_clip:clip_loss

/// CLIP's symmetric contrastive loss, OpenCLIP's `ClipLoss` (single process):
/// the mean of the image→text and text→image cross entropies of the `(N, N)`
/// logits, each image's text at the diagonal.
///
/// ```text
/// L = s · X Yᵀ (+ b)                      X: image features (N, D), Y: text features (N, D)
/// ℓᵢ = ½ (logsumexp_j L_ij − L_ii) + ½ (logsumexp_j L_ji − L_ii)
/// loss = (1/N) Σᵢ ℓᵢ = ½ (cross_entropy(L, arange(N)) + cross_entropy(Lᵀ, arange(N)))
/// ```
///
/// `logit_scale` is the multiplier itself (OpenCLIP's models pass
/// `self.logit_scale.exp()`; a temperature τ is `1/τ`); `logit_bias` is
/// optional (OpenCLIP adds it to both directions' logits). The features are
/// used as given, **not normalised** (OpenCLIP's models normalise them before
/// the loss). Every tensor is differentiated: the features, the scale and the
/// bias (whose gradient is 0 up to rounding: a constant shift of every logit
/// leaves each softmax unchanged).
///
/// The result per pair `ℓᵢ` (`Reduction::None`) is losslab's: OpenCLIP returns
/// their mean (`Mean`, the default; `BatchMean` is the same, `Sum` is `N` times it).
///
/// # Errors
/// [`LossError::Shape`](crate::LossError::Shape) if `image_features` is not 2-D or `text_features` has
/// another shape (OpenCLIP's cross entropy refuses unequal batches).
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::open_clip::ClipLoss;
/// let img = array![[1.0f64, 0.0], [0.0, 1.0]];
/// let txt = array![[1.0f64, 0.0], [0.0, 1.0]];
/// let loss = ClipLoss::new().forward(img.view(), txt.view(), 10.0, None).unwrap();
/// // each row: logsumexp(10, 0) − 10 = ln(1 + e^−10)
/// assert!((loss[[]] - (-10.0f64).exp().ln_1p()).abs() < 1e-15);
/// ```
///
/// # References
/// A. Radford et al., "Learning Transferable Visual Models From Natural Language
/// Supervision", ICML 2021; OpenCLIP `open_clip.loss.ClipLoss`
/// (<https://github.com/mlfoundations/open_clip/blob/main/src/open_clip/loss.py>), 3.3.0.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ClipLoss {
    /// The reduction of the per-pair losses (default `Mean`).
    pub reduction: Reduction,
}

impl Default for ClipLoss {
    fn default() -> Self {
        ClipLoss { reduction: Reduction::Mean }
    }
}

impl ClipLoss {
    const NAME: &'static str = "clip_loss";

    /// OpenCLIP's result: `Mean`.
    pub fn new() -> Self {
        Self::default()
    }

    fn values(&self, p: &Pairs) -> Vec<f64> {
        let (lr, lc) = (p.row_lse(), p.col_lse());
        (0..p.n).map(|i| {
            let dii = p.l[i * p.n + i];
            0.5 * (lr[i] - dii) + 0.5 * (lc[i] - dii)
        }).collect()
    }

    fn grad(&self, p: &mut Pairs, scales: &Scales) {
        let (lr, lc) = (p.row_lse(), p.col_lse());
        p.write_grad(|i, j, l| {
            let (ui, uj) = (0.5 * scales.at(i), 0.5 * scales.at(j));
            let delta = if i == j { 1.0 } else { 0.0 };
            ui * ((l - lr[i]).exp() - delta) + uj * ((l - lc[j]).exp() - delta)
        });
    }

    /// The bias's gradient is 0 exactly: `Σⱼ softmax(L)ᵢⱼ − 1 = 0` for every row
    /// and column (PyTorch's autograd gives its rounding, ~1e-16).
    fn finish<T: Float>(&self, mut g: ContrastiveGradients<T>) -> ContrastiveGradients<T> {
        if g.logit_bias.is_some() {
            g.logit_bias = Some(T::zero());
        }
        g
    }

    contrastive_methods!();
}

// ---------------------------------------------------------------------------------------
// open_clip:siglip_loss

/// SigLIP's pairwise sigmoid loss, OpenCLIP's `SigLipLoss` (single process):
/// every image-text pair is a binary classification, positive on the diagonal.
///
/// ```text
/// L = s · X Yᵀ + b               zᵢⱼ = 1 if i = j, else −1
/// ℓᵢ = Σⱼ −log σ(zᵢⱼ Lᵢⱼ) = Σⱼ softplus(−zᵢⱼ Lᵢⱼ)
/// loss = (1/N) Σᵢ ℓᵢ               (OpenCLIP: −logsigmoid(labels · logits).sum() / N)
/// ```
///
/// OpenCLIP divides the sum over all `N²` pairs by `N` (the batch), not by
/// `N²`: followed. `Reduction::None` gives each image's row sum `ℓᵢ`; `Mean`
/// (the default) and `BatchMean` are OpenCLIP's result, `Sum` the sum over every
/// pair. `logit_scale` is the multiplier itself (OpenCLIP's models pass
/// `self.logit_scale.exp()`, initialised to 10); `logit_bias` (initialised to
/// −10 in OpenCLIP's SigLIP models) is a required positional argument of
/// `SigLipLoss.forward` that may be `None`, as here. The features are used as
/// given, not normalised. Every tensor is differentiated.
///
/// # Errors
/// [`LossError::Shape`](crate::LossError::Shape) if `image_features` is not 2-D or `text_features` has
/// another shape.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::open_clip::SigLipLoss;
/// let img = array![[1.0f64, 0.0], [0.0, 1.0]];
/// let txt = array![[1.0f64, 0.0], [0.0, 1.0]];
/// let loss = SigLipLoss::new().forward(img.view(), txt.view(), 10.0, Some(-10.0)).unwrap();
/// // diagonal logits 0 (softplus(0) = ln 2), off-diagonal −10 (softplus(−10))
/// let want = 2f64.ln() + (-10.0f64).exp().ln_1p();
/// assert!((loss[[]] - want).abs() < 1e-15);
/// ```
///
/// # References
/// X. Zhai, B. Mustafa, A. Kolesnikov, L. Beyer, "Sigmoid Loss for Language
/// Image Pre-Training", ICCV 2023; OpenCLIP `open_clip.loss.SigLipLoss`
/// (<https://github.com/mlfoundations/open_clip/blob/main/src/open_clip/loss.py>), 3.3.0.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SigLipLoss {
    /// The reduction of the per-image losses (default `Mean`).
    pub reduction: Reduction,
}

impl Default for SigLipLoss {
    fn default() -> Self {
        SigLipLoss { reduction: Reduction::Mean }
    }
}

impl SigLipLoss {
    const NAME: &'static str = "siglip_loss";

    /// OpenCLIP's result: `Mean` (the sum over pairs divided by `N`).
    pub fn new() -> Self {
        Self::default()
    }

    fn values(&self, p: &Pairs) -> Vec<f64> {
        let n = p.n;
        let mut out = vec![0.0; n];
        let op = SyncPtr(out.as_mut_ptr());
        par::for_each(n, n * n, |i| {
            let v = sum_f64(p.row(i).iter().enumerate().map(|(j, &l)| softplus_f64(if i == j { -l } else { l })));
            // SAFETY: element i is this task's alone.
            unsafe { *op.add(i) = v };
        });
        out
    }

    fn grad(&self, p: &mut Pairs, scales: &Scales) {
        // d softplus(−z l)/dl = −z σ(−z l)
        p.write_grad(|i, j, l| {
            let u = scales.at(i);
            if i == j {
                -u * sigmoid_f64(-l)
            } else {
                u * sigmoid_f64(l)
            }
        });
    }

    fn finish<T: Float>(&self, g: ContrastiveGradients<T>) -> ContrastiveGradients<T> {
        g
    }

    contrastive_methods!();
}

/// [`ClipLoss`]'s result (`Mean`): `open_clip.loss.ClipLoss()(image_features, text_features, logit_scale, logit_bias)`.
///
/// # Errors
/// See [`ClipLoss`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// let x = array![[0.6f64, 0.8], [1.0, 0.0]];
/// let l = losslab::open_clip::clip_loss(x.view(), x.view(), 1.0, None).unwrap();
/// assert!(l[[]] > 0.0);
/// ```
pub fn clip_loss<T: Float, D: Dimension>(image_features: ArrayView<'_, T, D>, text_features: ArrayView<'_, T, D>, logit_scale: T, logit_bias: Option<T>) -> Result<ArrayD<T>> {
    ClipLoss::new().forward(image_features, text_features, logit_scale, logit_bias)
}

/// [`SigLipLoss`]'s result (`Mean`): `open_clip.loss.SigLipLoss()(image_features, text_features, logit_scale, logit_bias)`.
///
/// # Errors
/// See [`SigLipLoss`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// let x = array![[0.6f64, 0.8], [1.0, 0.0]];
/// let l = losslab::open_clip::siglip_loss(x.view(), x.view(), 10.0, Some(-10.0)).unwrap();
/// assert!(l[[]] > 0.0);
/// ```
pub fn siglip_loss<T: Float, D: Dimension>(image_features: ArrayView<'_, T, D>, text_features: ArrayView<'_, T, D>, logit_scale: T, logit_bias: Option<T>) -> Result<ArrayD<T>> {
    SigLipLoss::new().forward(image_features, text_features, logit_scale, logit_bias)
}

//! How per-element losses are combined into the result: [`Reduction`].

use crate::machinery::error::{LossError, Result};
use crate::machinery::float::{narrow, Float};
use ndarray::{ArrayD, ArrayViewD};
use std::fmt;
use std::str::FromStr;

/// How a loss combines its per-element (or per-sample) values, with PyTorch's
/// semantics.
///
/// Every reduction is valid for every loss:
///
/// ```text
/// None       ℓ                       the unreduced tensor
/// Sum        Σᵢ ℓᵢ
/// Mean       Σᵢ ℓᵢ / Σᵢ wᵢ            wᵢ = 1, or the weight of the sample's class for
///                                     class-weighted losses; ignored samples count 0
/// BatchMean  Σᵢ ℓᵢ / N                N = the size of the input's first (batch) axis,
///                                     1 for a tensor without axes
/// ```
///
/// `Mean` of an empty batch, or of a batch whose every sample is ignored, is
/// `0 / 0 = NaN`, and `Sum` is `0`, as in PyTorch. `BatchMean` is
/// `torch.nn.functional.kl_div`'s `'batchmean'`, offered for every loss.
///
/// # Examples
/// ```
/// use losslab::Reduction;
/// assert_eq!("batchmean".parse::<Reduction>().unwrap(), Reduction::BatchMean);
/// assert_eq!(Reduction::default(), Reduction::Mean);
/// assert_eq!(Reduction::Sum.to_string(), "sum");
/// assert!("average".parse::<Reduction>().is_err());
/// ```
///
/// # References
/// <https://pytorch.org/docs/stable/nn.functional.html#loss-functions> (the `reduction` argument); `batchmean`: <https://pytorch.org/docs/stable/generated/torch.nn.functional.kl_div.html>
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Reduction {
    /// No reduction: the loss of each element or sample.
    None,
    /// The (weighted) mean: PyTorch's default.
    #[default]
    Mean,
    /// The sum.
    Sum,
    /// The sum divided by the batch size (the length of the first axis).
    BatchMean,
}

impl Reduction {
    /// Every reduction, in the order PyTorch lists them.
    pub const ALL: [Reduction; 4] = [Reduction::None, Reduction::Mean, Reduction::Sum, Reduction::BatchMean];

    /// The name PyTorch gives this reduction (`"none"`, `"mean"`, `"sum"`, `"batchmean"`).
    pub fn name(self) -> &'static str {
        match self {
            Reduction::None => "none",
            Reduction::Mean => "mean",
            Reduction::Sum => "sum",
            Reduction::BatchMean => "batchmean",
        }
    }
}

impl fmt::Display for Reduction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing a [`Reduction`] from a name it does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown reduction `{0}`: expected one of none, mean, sum, batchmean")]
pub struct ParseReductionError(pub String);

impl FromStr for Reduction {
    type Err = ParseReductionError;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Reduction::ALL.into_iter().find(|r| r.name() == s).ok_or_else(|| ParseReductionError(s.to_string()))
    }
}

/// The gradients of a loss with respect to its floating-point inputs.
///
/// `input` is the gradient with respect to the prediction (`input`, `logits`,
/// `qk`); `target` the gradient with respect to a floating-point target
/// (`target`, `labels`, `pk`) where the reference differentiates it, `None`
/// where the target is integer or not differentiated. Each loss's docs say which
/// tensor is which.
///
/// # Examples
/// ```
/// use ndarray::array;
/// // ℓ = (x − y)²: ∂ℓ/∂x = 2(x − y), ∂ℓ/∂y = −2(x − y).
/// let g = losslab::MseLoss::new().forward_backward(array![3.0f64].view(), array![1.0].view()).unwrap().1;
/// assert_eq!(g.input, array![4.0].into_dyn());
/// assert_eq!(g.target, Some(array![-4.0].into_dyn()));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Gradients<T> {
    /// Gradient with respect to the prediction; the prediction's shape.
    pub input: ArrayD<T>,
    /// Gradient with respect to the target, where it is differentiable; the target's shape.
    pub target: Option<ArrayD<T>>,
}

/// Compensated (Neumaier) summation: the sum of `f64`s with an error bound that
/// does not grow with their number. Deterministic: always left to right.
pub(crate) fn sum_f64(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut n = Neumaier::default();
    for v in values {
        n.add(v);
    }
    n.total()
}

/// A running [`sum_f64`], for sums whose terms come one at a time.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Neumaier {
    s: f64,
    c: f64,
}

impl Neumaier {
    /// Adds `v` (after the terms added so far).
    #[inline]
    pub(crate) fn add(&mut self, v: f64) {
        let (s, t) = (self.s, self.s + v);
        self.c += if s.abs() >= v.abs() { (s - t) + v } else { (v - t) + s };
        self.s = t;
    }

    /// The compensated sum.
    #[inline]
    pub(crate) fn total(self) -> f64 {
        let r = self.s + self.c;
        // Infinities and NaN make the compensation NaN; the plain sum is then right.
        if r.is_finite() {
            r
        } else {
            self.s
        }
    }
}

/// Combines per-sample losses (computed in `f64`) into the result of a loss, and
/// turns an upstream gradient into one scale per sample for the backward pass.
#[derive(Debug, Clone)]
pub(crate) struct Reducer {
    pub(crate) reduction: Reduction,
    /// Shape of the unreduced result.
    pub(crate) shape: Vec<usize>,
    /// Denominator of `Mean`: the number of samples, or the summed weights of those that count.
    pub(crate) mean_denominator: f64,
    /// Denominator of `BatchMean`.
    pub(crate) batch: f64,
}

impl Reducer {
    /// A reducer whose mean divides by the number of elements of `shape`, and
    /// whose batch size is `batch_of`'s first axis.
    pub(crate) fn counting(reduction: Reduction, shape: &[usize], batch_of: &[usize]) -> Self {
        let n: usize = shape.iter().product();
        Reducer {
            reduction,
            shape: shape.to_vec(),
            mean_denominator: n as f64,
            batch: batch_of.first().copied().unwrap_or(1) as f64,
        }
    }

    /// The result: the losses themselves for `None`, else a 0-d array.
    pub(crate) fn output<T: Float>(&self, losses: Vec<f64>) -> ArrayD<T> {
        debug_assert_eq!(losses.len(), self.shape.iter().product::<usize>());
        let total = || sum_f64(losses.iter().copied());
        let v = match self.reduction {
            Reduction::None => return narrow(&self.shape, losses),
            Reduction::Sum => total(),
            Reduction::Mean => total() / self.mean_denominator,
            Reduction::BatchMean => total() / self.batch,
        };
        ArrayD::from_elem(ndarray::IxDyn(&[]), T::from_wide(v))
    }

    /// The reduced result (not `None`) from the sum of the losses.
    pub(crate) fn output_total<T: Float>(&self, total: f64) -> ArrayD<T> {
        let v = match self.reduction {
            Reduction::None => unreachable!("output_total of an unreduced loss"),
            Reduction::Sum => total,
            Reduction::Mean => total / self.mean_denominator,
            Reduction::BatchMean => total / self.batch,
        };
        ArrayD::from_elem(ndarray::IxDyn(&[]), T::from_wide(v))
    }

    /// Checks that an upstream gradient of an unreduced result has its shape.
    pub(crate) fn check_unreduced(&self, loss: &'static str, grad_output: &[usize]) -> Result<()> {
        if grad_output != self.shape.as_slice() {
            return Err(LossError::Shape {
                loss,
                tensor: "grad_output",
                expected: format!("{:?} (the shape of the unreduced result)", self.shape),
                found: grad_output.to_vec(),
            });
        }
        Ok(())
    }

    /// The shape of the result.
    pub(crate) fn output_shape(&self) -> Vec<usize> {
        match self.reduction {
            Reduction::None => self.shape.clone(),
            _ => vec![],
        }
    }

    /// The factor each sample's local gradient is multiplied by, given the
    /// gradient of some scalar with respect to the result (`grad_output`, the
    /// result's shape; a reduced result also takes any one-element shape).
    pub(crate) fn scales<T: Float>(&self, loss: &'static str, grad_output: &ArrayViewD<'_, T>) -> Result<Scales> {
        match self.reduction {
            Reduction::None => {
                self.check_unreduced(loss, grad_output.shape())?;
                Ok(Scales::PerSample(crate::machinery::float::widen(grad_output)))
            }
            r => {
                if grad_output.len() != 1 {
                    return Err(LossError::Shape {
                        loss,
                        tensor: "grad_output",
                        expected: format!("[] (the result is a scalar under reduction `{r}`)"),
                        found: grad_output.shape().to_vec(),
                    });
                }
                let g = grad_output.iter().next().expect("one element").to_wide();
                Ok(Scales::Uniform(match r {
                    Reduction::Sum => g,
                    Reduction::Mean => g / self.mean_denominator,
                    Reduction::BatchMean => g / self.batch,
                    Reduction::None => unreachable!(),
                }))
            }
        }
    }
}

/// One upstream-gradient factor per sample.
#[derive(Debug, Clone)]
pub(crate) enum Scales {
    PerSample(Vec<f64>),
    Uniform(f64),
}

impl Scales {
    #[inline]
    pub(crate) fn at(&self, i: usize) -> f64 {
        match self {
            Scales::PerSample(v) => v[i],
            Scales::Uniform(g) => *g,
        }
    }
}

/// A tensor of ones in `T` with the result's shape, the default upstream gradient.
pub(crate) fn ones_like_output<T: Float>(r: &Reducer) -> ArrayD<T> {
    ArrayD::from_elem(ndarray::IxDyn(&r.output_shape()), T::one())
}

/// A loss with one value per item of a batch (a sequence, a pair of sequences),
/// prepared once from its inputs: the per-item values the [`Reducer`] combines,
/// and the gradient of its one differentiated input given one upstream scale
/// per item. [`per_item`] writes `forward`, `backward` and `forward_backward`
/// from it.
pub(crate) trait PerItem {
    /// The reducer of the items' values.
    fn reducer(&self) -> &Reducer;
    /// Each item's value, in the reducer's order.
    fn values(&self) -> Vec<f64>;
    /// The gradient of the differentiated input (row-major, its shape), given
    /// each item's upstream scale.
    fn grad(&self, scales: &Scales) -> Vec<f64>;
}

/// The three entry points of a [`PerItem`] loss on its differentiated input of
/// shape `shape` (its gradient is the [`Gradients`]' `input`; `target` is `None`).
pub(crate) mod per_item {
    use super::{ones_like_output, Gradients, PerItem};
    use crate::machinery::error::Result;
    use crate::machinery::float::{narrow, Float};
    use ndarray::{ArrayD, ArrayViewD};

    /// The reduced values.
    pub(crate) fn forward<T: Float>(job: &impl PerItem) -> ArrayD<T> {
        job.reducer().output(job.values())
    }

    /// The gradient of `Σ grad_output · result`.
    pub(crate) fn backward<T: Float>(loss: &'static str, job: &impl PerItem, shape: &[usize], grad_output: &ArrayViewD<'_, T>) -> Result<Gradients<T>> {
        let scales = job.reducer().scales(loss, grad_output)?;
        Ok(Gradients { input: narrow(shape, job.grad(&scales)), target: None })
    }

    /// The reduced values and the gradient of their sum.
    pub(crate) fn forward_backward<T: Float>(loss: &'static str, job: &impl PerItem, shape: &[usize]) -> Result<(ArrayD<T>, Gradients<T>)> {
        let ones = ones_like_output::<T>(job.reducer());
        Ok((forward(job), backward(loss, job, shape, &ones.view())?))
    }
}

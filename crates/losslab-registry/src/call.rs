//! What a loss's eval function sees: checked, typed tensors and options.

use super::{LossSpec, OptionValue};
use crate::tensor::FloatElement;
use crate::error::{error, fail};
use crate::Result;
use losslab::{Gradients, Reduction};
use ndarray::{ArrayD, ArrayView1, ArrayViewD, CowArray, Ix1, IxDyn};
use std::collections::BTreeMap;

/// One evaluation's inputs, checked against the loss's spec: every required
/// tensor present with the right element kind, every option of its type (the
/// defaults filled in). The tensors are the caller's own when it lent them
/// (views), so a loss reads them in place.
pub(crate) struct Call<'a, T> {
    pub(crate) spec: &'static LossSpec,
    pub(crate) floats: BTreeMap<&'static str, CowArray<'a, T, IxDyn>>,
    pub(crate) ints: BTreeMap<&'static str, CowArray<'a, i64, IxDyn>>,
    pub(crate) options: BTreeMap<&'static str, OptionValue>,
    /// The reduction asked for, or the loss's default; `None`: the loss's own output.
    pub(crate) reduction: Option<Reduction>,
    pub(crate) grad_output: Option<CowArray<'a, T, IxDyn>>,
    pub(crate) want_grads: bool,
}

/// A loss's result, its gradients by tensor name, and its other outputs by
/// name (`z_loss`, `lse`, ...: [`Evaluation::outputs`](crate::Evaluation::outputs)).
pub(crate) struct Output<T> {
    pub(crate) value: ArrayD<T>,
    pub(crate) grads: Vec<(&'static str, ArrayD<T>)>,
    pub(crate) aux: Vec<(&'static str, crate::Tensor)>,
}

impl<T: FloatElement> Call<'_, T> {
    /// A float tensor the spec requires.
    pub(crate) fn float(&self, name: &str) -> ArrayViewD<'_, T> {
        self.opt_float(name).unwrap_or_else(|| panic!("{name} is a required float tensor of {}", self.spec.name))
    }

    /// A float tensor, if given.
    pub(crate) fn opt_float(&self, name: &str) -> Option<ArrayViewD<'_, T>> {
        self.floats.get(name).map(|a| a.view())
    }

    /// An integer tensor the spec requires (or that [`is_int`](Self::is_int) says is there).
    pub(crate) fn int(&self, name: &str) -> ArrayViewD<'_, i64> {
        self.ints.get(name).map(|a| a.view()).unwrap_or_else(|| panic!("{name} is a required int tensor of {}", self.spec.name))
    }

    /// Whether the tensor `name` was given as integers.
    pub(crate) fn is_int(&self, name: &str) -> bool {
        self.ints.contains_key(name)
    }

    /// A 1-D float tensor, if given (a per-class weight).
    pub(crate) fn opt_vector(&self, name: &str, what: &str) -> Result<Option<ArrayView1<'_, T>>> {
        let Some(v) = self.opt_float(name) else { return Ok(None) };
        let shape = v.shape().to_vec();
        match v.into_dimensionality::<Ix1>() {
            Ok(v) => Ok(Some(v)),
            Err(_) => fail!(Shape, "{}: `{name}` has shape {shape:?}, expected 1-D ({what})", self.spec.qualified_name()),
        }
    }

    fn option(&self, key: &str) -> OptionValue {
        *self.options.get(key).unwrap_or_else(|| panic!("{key} is an option of {}", self.spec.name))
    }

    /// A float option.
    pub(crate) fn f64(&self, key: &str) -> f64 {
        match self.option(key) {
            OptionValue::Float(v) => v,
            v => panic!("{key} is a float option, got {v}"),
        }
    }

    /// A float option that may be `None`.
    pub(crate) fn opt_f64(&self, key: &str) -> Option<f64> {
        match self.option(key) {
            OptionValue::Float(v) => Some(v),
            OptionValue::None => None,
            v => panic!("{key} is an optional float option, got {v}"),
        }
    }

    /// An integer option.
    pub(crate) fn i64(&self, key: &str) -> i64 {
        match self.option(key) {
            OptionValue::Int(v) => v,
            v => panic!("{key} is an integer option, got {v}"),
        }
    }

    /// An axis option.
    pub(crate) fn axis(&self, key: &str) -> Result<isize> {
        let v = self.i64(key);
        isize::try_from(v).map_err(|_| error!(Option, "{}: option `{key}` = {v} is invalid: expected an axis that fits the platform's isize", self.spec.qualified_name()))
    }

    /// A name option ([`OptionType::Choice`](super::OptionType::Choice)).
    pub(crate) fn name(&self, key: &str) -> String {
        match self.option(key) {
            OptionValue::Name(n) => n.as_str().to_string(),
            v => panic!("{key} is a name option, got {v}"),
        }
    }

    /// A boolean option.
    pub(crate) fn bool(&self, key: &str) -> bool {
        match self.option(key) {
            OptionValue::Bool(v) => v,
            v => panic!("{key} is a bool option, got {v}"),
        }
    }

    /// The reduction to give a loss that has a reduction parameter: the one
    /// asked for, or `None` (its own, unreduced output).
    pub(crate) fn reduction(&self) -> Reduction {
        self.reduction.unwrap_or(Reduction::None)
    }

    /// The upstream gradient for a result `value`: the one given (checked to
    /// have the result's shape) or ones.
    pub(crate) fn grad_output_for(&self, value: &ArrayD<T>) -> Result<CowArray<'_, T, IxDyn>> {
        match &self.grad_output {
            Some(g) if g.shape() == value.shape() => Ok(g.view().into()),
            Some(g) => fail!(
                Shape,
                "{}: `grad_output` has shape {:?}, expected {:?} (the shape of the result)",
                self.spec.qualified_name(),
                g.shape(),
                value.shape()
            ),
            None => Ok(ArrayD::from_elem(value.shape(), T::one()).into()),
        }
    }

    /// The output of a loss that applies the reduction itself: `value`, and,
    /// when gradients are wanted, `backward(grad_output)`'s gradients named
    /// `input` and `target`.
    pub(crate) fn finish(
        &self,
        value: ArrayD<T>,
        (input, target): (&'static str, Option<&'static str>),
        backward: impl FnOnce(ArrayViewD<'_, T>) -> losslab::Result<Gradients<T>>,
    ) -> Result<Output<T>> {
        if !self.want_grads {
            return Ok(Output { aux: vec![], value, grads: vec![] });
        }
        let g = self.grad_output_for(&value)?;
        let grads = backward(g.view())?;
        Ok(Output { aux: vec![], value, grads: name_grads(grads, input, target) })
    }

    /// [`finish`](Self::finish) for a loss whose `forward_backward` evaluates
    /// it once: that one call when no upstream gradient is given (its ones are
    /// the default), `forward` then `backward(grad_output)` otherwise, and
    /// `forward` alone when no gradient is wanted.
    pub(crate) fn finish_once(
        &self,
        names: (&'static str, Option<&'static str>),
        forward: impl FnOnce() -> losslab::Result<ArrayD<T>>,
        forward_backward: impl FnOnce() -> losslab::Result<(ArrayD<T>, Gradients<T>)>,
        backward: impl FnOnce(ArrayViewD<'_, T>) -> losslab::Result<Gradients<T>>,
    ) -> Result<Output<T>> {
        if self.want_grads && self.grad_output.is_none() {
            let (value, grads) = forward_backward()?;
            return Ok(Output { aux: vec![], value, grads: name_grads(grads, names.0, names.1) });
        }
        self.finish(forward()?, names, backward)
    }

    /// The output of a function without a reduction parameter: `unreduced`
    /// reduced as asked (the sum, mean, or sum over the length of the first axis
    /// of the unreduced result), and the gradients of `backward(g)` with `g` the
    /// upstream gradient of the unreduced result.
    pub(crate) fn finish_unreduced(
        &self,
        unreduced: ArrayD<T>,
        (input, target): (&'static str, Option<&'static str>),
        backward: impl FnOnce(ArrayViewD<'_, T>) -> Result<Gradients<T>>,
    ) -> Result<Output<T>> {
        let n = unreduced.len();
        let factor = |r: Reduction| match r {
            Reduction::None | Reduction::Sum => 1.0,
            #[allow(clippy::cast_precision_loss)]
            Reduction::Mean => 1.0 / n as f64,
            #[allow(clippy::cast_precision_loss)]
            Reduction::BatchMean => 1.0 / unreduced.shape().first().copied().unwrap_or(1) as f64,
        };
        let value = match self.reduction {
            None | Some(Reduction::None) => unreduced.clone(),
            Some(r) => {
                let sum = neumaier(unreduced.iter().map(|v| v.to_wide()));
                let v = match r {
                    Reduction::Mean => sum / n as f64,
                    Reduction::BatchMean => sum / unreduced.shape().first().copied().unwrap_or(1) as f64,
                    _ => sum,
                };
                ArrayD::from_elem(IxDyn(&[]), T::from_wide(v))
            }
        };
        if !self.want_grads {
            return Ok(Output { aux: vec![], value, grads: vec![] });
        }
        let g = self.grad_output_for(&value)?;
        let g_unreduced = match self.reduction {
            None | Some(Reduction::None) => g,
            Some(r) => {
                let s = g.iter().next().expect("a scalar").to_wide() * factor(r);
                ArrayD::from_elem(unreduced.shape(), T::from_wide(s)).into()
            }
        };
        let grads = backward(g_unreduced.view())?;
        Ok(Output { aux: vec![], value, grads: name_grads(grads, input, target) })
    }
}

fn name_grads<T>(g: Gradients<T>, input: &'static str, target: Option<&'static str>) -> Vec<(&'static str, ArrayD<T>)> {
    let mut v = vec![(input, g.input)];
    if let (Some(name), Some(t)) = (target, g.target) {
        v.push((name, t));
    }
    v
}

/// Compensated (Neumaier) summation, as the library sums.
fn neumaier(values: impl IntoIterator<Item = f64>) -> f64 {
    let (mut s, mut c) = (0.0f64, 0.0f64);
    for v in values {
        let t = s + v;
        c += if s.abs() >= v.abs() { (s - t) + v } else { (v - t) + s };
        s = t;
    }
    let r = s + c;
    if r.is_finite() {
        r
    } else {
        s
    }
}

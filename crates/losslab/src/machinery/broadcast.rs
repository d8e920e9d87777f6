//! Broadcasting, as PyTorch (and NumPy) broadcast: shapes aligned from their
//! last axis, each pair of sizes equal or one of them 1; the result takes the
//! larger. A loss's element-wise path reads each operand through
//! [`Broadcast::expand`] and sums each operand's gradient back to its own shape
//! with [`Broadcast::reduce`] (compensated sums, in row-major order of the
//! result, so the same inputs give the same bits).
//!
//! Operands of one shape broadcast trivially ([`Broadcast::is_trivial`]): the
//! fused kernels keep those; everything else takes the general path.
//!
//! TensorFlow, Keras and optax broadcast by the same (NumPy's) rule
//! ([`Broadcast::numpy`], which names that rule in its errors); Keras's
//! element-wise regression losses first squeeze or expand a trailing axis of
//! size 1 ([`keras_same_rank`]).

use crate::machinery::error::{LossError, Result};
use crate::machinery::float::{narrow, Float};
use crate::machinery::reduction::Neumaier;
use ndarray::{ArrayD, ArrayView, Dimension, IxDyn};

/// The broadcast of named operands: the result's shape and, per operand, the
/// flat index it is read at for each element of the result.
#[derive(Debug, Clone)]
pub(crate) struct Broadcast {
    /// The broadcast shape (the result's, before any reduction).
    pub(crate) shape: Vec<usize>,
    shapes: Vec<Vec<usize>>,
}

/// The broadcast of two shapes, `None` where they do not broadcast.
pub(crate) fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for (k, o) in out.iter_mut().enumerate() {
        let da = if k + a.len() >= n {
            a[k + a.len() - n]
        } else {
            1
        };
        let db = if k + b.len() >= n {
            b[k + b.len() - n]
        } else {
            1
        };
        *o = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

impl Broadcast {
    /// Broadcasts the operands `(name, shape)` together.
    ///
    /// # Errors
    /// [`LossError::Shape`] naming the loss, the first operand that does not
    /// broadcast with those before it, its shape and theirs.
    pub(crate) fn new(loss: &'static str, operands: &[(&'static str, &[usize])]) -> Result<Self> {
        Self::with_rule(loss, operands, "PyTorch's broadcasting")
    }

    /// As [`new`](Self::new), for the references that broadcast as NumPy does
    /// (TensorFlow, Keras, optax): the same rule, named so in the error.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub(crate) fn numpy(loss: &'static str, operands: &[(&'static str, &[usize])]) -> Result<Self> {
        Self::with_rule(loss, operands, "NumPy's broadcasting")
    }

    fn with_rule(loss: &'static str, operands: &[(&'static str, &[usize])], rule: &str) -> Result<Self> {
        let mut shape: Vec<usize> = Vec::new();
        for (k, &(name, s)) in operands.iter().enumerate() {
            shape = match broadcast_shapes(&shape, s) {
                Some(b) => b,
                None => {
                    let others: Vec<String> = operands[..k]
                        .iter()
                        .map(|(n, s)| format!("`{n}` {s:?}"))
                        .collect();
                    return Err(LossError::Shape {
                        loss,
                        tensor: name,
                        expected: format!(
                            "a shape that broadcasts with {} ({rule}: sizes aligned from the last axis, equal or 1)",
                            others.join(" and ")
                        ),
                        found: s.to_vec(),
                    });
                }
            };
        }
        Ok(Broadcast {
            shape,
            shapes: operands.iter().map(|(_, s)| s.to_vec()).collect(),
        })
    }

    /// Broadcasts the operands to the first one's shape, which the result keeps
    /// (PyTorch's in-place operations: `soft_margin_loss`'s input, a weight of
    /// `binary_cross_entropy`).
    ///
    /// # Errors
    /// [`LossError::Shape`] naming the loss, the operand that does not broadcast
    /// to the first one's shape, and both shapes.
    pub(crate) fn to_first(
        loss: &'static str,
        operands: &[(&'static str, &[usize])],
    ) -> Result<Self> {
        let b = Self::new(loss, operands)?;
        let (first, fs) = operands[0];
        if b.shape != fs {
            let (name, s) = operands[1..]
                .iter()
                .find(|(_, s)| broadcast_shapes(fs, s).as_deref() != Some(fs))
                .copied()
                .unwrap_or(operands[0]);
            return Err(LossError::Shape {
                loss,
                tensor: name,
                expected: format!("a shape that broadcasts to {fs:?} (the shape of `{first}`, which the result keeps, as PyTorch's)"),
                found: s.to_vec(),
            });
        }
        Ok(b)
    }

    /// The number of elements of the result.
    pub(crate) fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether every operand has the result's shape (nothing to broadcast).
    pub(crate) fn is_trivial(&self) -> bool {
        self.shapes.iter().all(|s| *s == self.shape)
    }

    /// Operand `k`'s shape.
    pub(crate) fn shape_of(&self, k: usize) -> &[usize] {
        &self.shapes[k]
    }

    /// For each element of the result (row-major), the flat index into operand `k`.
    pub(crate) fn index(&self, k: usize) -> Vec<usize> {
        let s = &self.shapes[k];
        let n = self.shape.len();
        // The operand's row-major strides, aligned to the result's axes, 0 where it broadcasts.
        let mut strides = vec![0usize; n];
        let mut acc = 1;
        for j in (0..s.len()).rev() {
            let axis = n - s.len() + j;
            strides[axis] = if s[j] == 1 { 0 } else { acc };
            acc *= s[j];
        }
        let total = self.len();
        let mut out = Vec::with_capacity(total);
        let mut counter = vec![0usize; n];
        let mut flat = 0usize;
        for _ in 0..total {
            out.push(flat);
            for axis in (0..n).rev() {
                counter[axis] += 1;
                flat += strides[axis];
                if counter[axis] < self.shape[axis] {
                    break;
                }
                flat -= strides[axis] * counter[axis];
                counter[axis] = 0;
            }
        }
        out
    }

    /// Operand `k`'s values, given flat in row-major order of its own shape, at
    /// each element of the result.
    pub(crate) fn expand_flat(&self, k: usize, a: &[f64]) -> Vec<f64> {
        debug_assert_eq!(a.len(), self.shapes[k].iter().product::<usize>());
        if self.shapes[k] == self.shape {
            return a.to_vec();
        }
        self.index(k).into_iter().map(|i| a[i]).collect()
    }

    /// Operand `k`'s values (widened) at each element of the result.
    pub(crate) fn expand<T: Float, D: Dimension>(
        &self,
        k: usize,
        a: &ArrayView<'_, T, D>,
    ) -> Vec<f64> {
        debug_assert_eq!(a.shape(), self.shapes[k].as_slice());
        let a = a.view().into_dyn();
        match a.broadcast(IxDyn(&self.shape)) {
            Some(b) => b.iter().map(|v| v.to_wide()).collect(),
            None => unreachable!("the operand broadcasts to the result (checked in new)"),
        }
    }

    /// A gradient in the result's shape (row-major) summed back to operand
    /// `k`'s shape: each of its elements the compensated sum, in order, of the
    /// result's elements that read it.
    pub(crate) fn reduce<T: Float>(&self, k: usize, g: Vec<f64>) -> ArrayD<T> {
        narrow(&self.shapes[k], self.reduce_wide(k, g))
    }

    /// As [`reduce`](Self::reduce), kept in f64 (flat, row-major in operand
    /// `k`'s shape), for a gradient that flows on through the operand's own
    /// transformation.
    pub(crate) fn reduce_wide(&self, k: usize, g: Vec<f64>) -> Vec<f64> {
        let s = &self.shapes[k];
        if *s == self.shape {
            return g;
        }
        let mut sums = vec![Neumaier::default(); s.iter().product()];
        for (i, v) in self.index(k).into_iter().zip(g) {
            sums[i].add(v);
        }
        sums.into_iter().map(Neumaier::total).collect()
    }
}

/// Keras's `squeeze_or_expand_to_same_rank(y_true, y_pred)`, which its
/// element-wise regression losses (`log_cosh`, `huber`,
/// `mean_squared_logarithmic_error`, `mean_absolute_percentage_error`,
/// `cosine_similarity`) apply before they broadcast: where one shape has one
/// axis more than the other and that last axis has size 1, it is squeezed; or,
/// where the other is 1-d, the other gains a trailing axis of size 1. The
/// shapes `(a, b)` as Keras then broadcasts them (element counts unchanged).
pub(crate) fn keras_same_rank(a: &[usize], b: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    if a.len() == b.len() + 1 && a.last() == Some(&1) {
        if b.len() == 1 {
            b.push(1);
        } else {
            a.pop();
        }
    } else if b.len() == a.len() + 1 && b.last() == Some(&1) {
        if a.len() == 1 {
            a.push(1);
        } else {
            b.pop();
        }
    }
    (a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_broadcast_as_numpy() {
        assert_eq!(broadcast_shapes(&[5], &[1]), Some(vec![5]));
        assert_eq!(broadcast_shapes(&[5], &[]), Some(vec![5]));
        assert_eq!(broadcast_shapes(&[5, 1], &[1, 3]), Some(vec![5, 3]));
        assert_eq!(broadcast_shapes(&[2, 1, 3], &[4, 1]), Some(vec![2, 4, 3]));
        assert_eq!(broadcast_shapes(&[0], &[1]), Some(vec![0]));
        assert_eq!(broadcast_shapes(&[5], &[3]), None);
        assert_eq!(broadcast_shapes(&[5, 2], &[2, 5]), None);
    }

    #[test]
    fn index_and_reduce() {
        let b = Broadcast::new("t", &[("input", &[2, 1, 3]), ("target", &[4, 1])]).unwrap();
        assert_eq!(b.shape, vec![2, 4, 3]);
        assert_eq!(b.index(1), (0..24).map(|i| (i / 3) % 4).collect::<Vec<_>>());
        assert_eq!(
            b.index(0),
            (0..24).map(|i| (i / 12) * 3 + i % 3).collect::<Vec<_>>()
        );
        let g: ArrayD<f64> = b.reduce(1, vec![1.0; 24]);
        assert_eq!(g.shape(), &[4, 1]);
        assert!(g.iter().all(|&v| v == 6.0));
        let x = ndarray::array![[1.0f64], [2.0], [3.0], [4.0]];
        assert_eq!(b.expand(1, &x.view())[..6], [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
    }

    #[test]
    fn keras_squeezes_or_expands_a_trailing_one() {
        assert_eq!(keras_same_rank(&[4, 1], &[4]), (vec![4, 1], vec![4, 1]));
        assert_eq!(keras_same_rank(&[4], &[4, 1]), (vec![4, 1], vec![4, 1]));
        assert_eq!(keras_same_rank(&[2, 3, 1], &[2, 3]), (vec![2, 3], vec![2, 3]));
        assert_eq!(keras_same_rank(&[4, 3], &[4]), (vec![4, 3], vec![4]));
        assert_eq!(keras_same_rank(&[4, 1], &[1, 3]), (vec![4, 1], vec![1, 3]));
        let b = Broadcast::new("t", &[("a", &[2, 1]), ("b", &[3])]).unwrap();
        assert_eq!(b.expand_flat(0, &[1.0, 2.0]), [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
        let e = Broadcast::numpy("log_cosh", &[("y_pred", &[4, 3]), ("y_true", &[4])]).unwrap_err().to_string();
        assert!(e.contains("NumPy's broadcasting") && e.contains("`y_true` has shape [4]"), "{e}");
    }

    #[test]
    fn errors_name_both_tensors_and_shapes() {
        let e = Broadcast::new("mse_loss", &[("input", &[5]), ("target", &[3])])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("mse_loss")
                && e.contains("`target` has shape [3]")
                && e.contains("`input` [5]"),
            "{e}"
        );
        let e = Broadcast::to_first(
            "soft_margin_loss",
            &[("input", &[1, 2]), ("target", &[5, 2])],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`target` has shape [5, 2]") && e.contains("[1, 2]"),
            "{e}"
        );
    }
}

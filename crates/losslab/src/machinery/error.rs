//! The error type of every fallible loss.

/// Why a loss could not be computed.
///
/// Every variant names the loss and the tensor or option at fault, what was
/// expected and what was found, so that the message alone tells a person what to
/// fix. NaN in the data is not an error: it propagates, as in the references.
///
/// # Examples
/// ```
/// use ndarray::array;
/// let err = losslab::mse_loss(array![1.0, 2.0].view(), array![1.0, 2.0, 3.0].view(), losslab::Reduction::Mean)
///     .unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "mse_loss: `target` has shape [3], expected a shape that broadcasts with `input` [2] \
///      (PyTorch's broadcasting: sizes aligned from the last axis, equal or 1)"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LossError {
    /// A tensor's shape does not fit the others.
    #[error("{loss}: `{tensor}` has shape {found:?}, expected {expected}")]
    Shape {
        /// The loss being computed.
        loss: &'static str,
        /// The tensor whose shape is wrong.
        tensor: &'static str,
        /// What was expected, in words (for example `"[4, 3] (the shape of `input`)"`).
        expected: String,
        /// The shape found.
        found: Vec<usize>,
    },
    /// A class index is outside `[0, classes)` and is not the `ignore_index`.
    #[error(
        "{loss}: `{tensor}` holds class index {index} at position {position:?}, \
         outside the valid range [0, {classes}){}",
        ignore_index.map(|i| format!(" and not ignore_index ({i})")).unwrap_or_default()
    )]
    ClassIndex {
        /// The loss being computed.
        loss: &'static str,
        /// The label tensor.
        tensor: &'static str,
        /// The offending index.
        index: i64,
        /// Where it is, as an index into the label tensor.
        position: Vec<usize>,
        /// The number of classes.
        classes: usize,
        /// The `ignore_index` in force, if any.
        ignore_index: Option<i64>,
    },
    /// A value is outside the domain the loss is defined on.
    #[error("{loss}: `{tensor}` holds {} at position {position:?}, expected {expected}", number(*.value))]
    Domain {
        /// The loss being computed.
        loss: &'static str,
        /// The tensor holding the value.
        tensor: &'static str,
        /// The value found.
        value: f64,
        /// Where it is.
        position: Vec<usize>,
        /// The domain, in words (for example `"a probability in [0, 1]"`).
        expected: &'static str,
    },
    /// An option has a value the loss does not accept.
    #[error("{loss}: option `{option}` = {value} is invalid: expected {expected}")]
    Option {
        /// The loss being computed.
        loss: &'static str,
        /// The option's name, as the reference spells it.
        option: &'static str,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// A combination of inputs and options the reference rejects.
    #[error("{loss}: {message}")]
    Unsupported {
        /// The loss being computed.
        loss: &'static str,
        /// What is not supported, in words.
        message: String,
    },
    /// The processes of a sharded computation do not fit together (their
    /// shards, inputs or checks), or their communication failed.
    #[error("{loss}: {message}")]
    Collective {
        /// The loss being computed.
        loss: &'static str,
        /// What went wrong, in words (naming the ranks).
        message: String,
    },
}

/// The result type of every fallible loss.
pub type Result<T, E = LossError> = std::result::Result<T, E>;

pub(crate) fn shape_err(loss: &'static str, tensor: &'static str, expected: impl Into<String>, found: &[usize]) -> LossError {
    LossError::Shape { loss, tensor, expected: expected.into(), found: found.to_vec() }
}

/// Checks that `b` has exactly the shape of `a`.
pub(crate) fn same_shape(
    loss: &'static str,
    a_name: &'static str,
    a: &[usize],
    b_name: &'static str,
    b: &[usize],
) -> Result<()> {
    if a == b {
        Ok(())
    } else {
        Err(shape_err(loss, b_name, format!("{a:?} (the shape of `{a_name}`)"), b))
    }
}

/// The multi-index of flat position `flat` in a row-major array of `shape`.
pub(crate) fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (i, &d) in shape.iter().enumerate().rev() {
        if d > 0 {
            idx[i] = flat % d;
            flat /= d;
        }
    }
    idx
}

/// A number as an error message shows it: as `{}` prints it, but in
/// scientific notation where that would run to many digits (below 10⁻⁴ or from
/// 10¹⁶ in magnitude: `-1e-300`, not a 0 followed by 299 more).
pub(crate) fn number(v: f64) -> String {
    if v != 0.0 && v.is_finite() && !(1e-4..1e16).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        v.to_string()
    }
}

pub(crate) fn check_option(loss: &'static str, option: &'static str, value: f64, ok: bool, expected: &str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(LossError::Option { loss, option, value: number(value), expected: expected.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::number;

    #[test]
    fn numbers_in_messages_stay_short() {
        for (v, want) in [(-0.5, "-0.5"), (-1.0, "-1"), (0.0, "0"), (-0.0, "-0"), (1e-4, "0.0001"), (-1e-300, "-1e-300"), (2.5e-7, "2.5e-7"), (1e16, "1e16"), (123456.0, "123456"), (f64::NEG_INFINITY, "-inf"), (f64::NAN, "NaN")] {
            assert_eq!(number(v), want, "{v:?}");
        }
    }
}

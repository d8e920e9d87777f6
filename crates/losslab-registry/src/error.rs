//! [`Error`]: why an evaluation failed, with an [`ErrorKind`] a front end maps
//! to its own error types.

use losslab::LossError;

/// What kind of mistake an [`Error`] reports: what a front end maps to its own
/// error types (a Python binding, say: `KeyError` for [`UnknownLoss`](ErrorKind::UnknownLoss),
/// `TypeError` for the argument kinds and [`Dtype`](ErrorKind::Dtype), `ValueError`
/// for [`Option`](ErrorKind::Option), [`Shape`](ErrorKind::Shape) and [`Value`](ErrorKind::Value),
/// `IndexError` for [`ClassIndex`](ErrorKind::ClassIndex)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No loss (or no framework) of that name.
    UnknownLoss,
    /// The loss has no tensor argument of that name.
    UnknownTensor,
    /// The loss has no option of that name.
    UnknownOption,
    /// A required tensor was not given.
    MissingTensor,
    /// A tensor of the wrong element type: an integer tensor where the
    /// reference refuses one, a float where class indices are required, float
    /// tensors of different precisions, no float tensor at all.
    Dtype,
    /// An option value of the wrong type or outside what the loss accepts
    /// (from the registry, or the library's [`LossError::Option`]), or given twice.
    Option,
    /// A tensor whose shape does not fit ([`LossError::Shape`], a `grad_output`
    /// of another shape than the result's).
    Shape,
    /// A class index outside `[0, classes)` ([`LossError::ClassIndex`]).
    ClassIndex,
    /// A value outside the loss's domain ([`LossError::Domain`]).
    Value,
    /// A combination of inputs and options the reference rejects
    /// ([`LossError::Unsupported`]).
    Unsupported,
}

impl ErrorKind {
    /// The kind of a library error.
    pub fn of(err: &LossError) -> ErrorKind {
        match err {
            LossError::Shape { .. } => ErrorKind::Shape,
            LossError::ClassIndex { .. } => ErrorKind::ClassIndex,
            LossError::Domain { .. } => ErrorKind::Value,
            LossError::Option { .. } => ErrorKind::Option,
            LossError::Unsupported { .. } => ErrorKind::Unsupported,
            // A variant added to the library later: a bad value until mapped.
            _ => ErrorKind::Value,
        }
    }
}

/// Why an evaluation failed: a message a person can act on (naming the loss,
/// the tensor or option, what was expected and what was found) and its
/// [`kind`](Error::kind).
///
/// An error of the library itself keeps its [`LossError`]
/// ([`loss_error`](Error::loss_error)); it is the error's own text, not a
/// cause behind it, so [`source`](std::error::Error::source) stays `None` and
/// reporters that walk the chain print the message once.
///
/// # Examples
/// ```
/// use losslab_registry::{evaluate, EvalRequest, ErrorKind, Tensor};
/// let mut request = EvalRequest::default();
/// request.tensors.insert("input".into(), Tensor::F64(ndarray::arr1(&[1.0, 2.0]).into_dyn()).into());
/// request.tensors.insert("target".into(), Tensor::F64(ndarray::arr1(&[1.0, 2.0, 3.0]).into_dyn()).into());
/// let err = evaluate("mse_loss", request).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Shape);
/// assert_eq!(
///     err.to_string(),
///     "mse_loss: `target` has shape [3], expected a shape that broadcasts with `input` [2] \
///      (PyTorch's broadcasting: sizes aligned from the last axis, equal or 1)"
/// );
/// assert!(err.loss_error().is_some());
/// assert_eq!(losslab_registry::resolve("msee").unwrap_err().kind(), ErrorKind::UnknownLoss);
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{repr}")]
pub struct Error {
    kind: ErrorKind,
    repr: Repr,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum Repr {
    #[error("{0}")]
    Message(String),
    /// Its text, not a cause: no `#[source]`.
    #[error("{0}")]
    Loss(LossError),
}

impl Error {
    /// An error of kind `kind` with the message `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, repr: Repr::Message(message.into()) }
    }

    /// What kind of mistake it is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The library's error, when the loss itself refused the input.
    pub fn loss_error(&self) -> Option<&LossError> {
        match &self.repr {
            Repr::Loss(e) => Some(e),
            Repr::Message(_) => None,
        }
    }
}

impl From<LossError> for Error {
    fn from(err: LossError) -> Error {
        Error { kind: ErrorKind::of(&err), repr: Repr::Loss(err) }
    }
}

/// The result type of the registry.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `return Err(Error::new(ErrorKind::$kind, format!(...)))`.
macro_rules! fail {
    ($kind:ident, $($fmt:tt)+) => {
        return Err($crate::Error::new($crate::ErrorKind::$kind, format!($($fmt)+)))
    };
}
pub(crate) use fail;

/// `Error::new(ErrorKind::$kind, format!(...))`.
macro_rules! error {
    ($kind:ident, $($fmt:tt)+) => {
        $crate::Error::new($crate::ErrorKind::$kind, format!($($fmt)+))
    };
}
pub(crate) use error;

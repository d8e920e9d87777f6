//! [`Tensor`]: an n-d array of one of the element types the registry computes
//! with; [`TensorArg`]: a tensor argument of an evaluation, owned or borrowed.

use ndarray::{ArrayD, ArrayViewD, CowArray, IxDyn};
use std::fmt;

/// An n-dimensional array of `float32`, `float64` or integer elements, as a
/// front end hands it over (the CLI reads `float16` files as `float32`,
/// exactly, and `int32` and `int64` files both as [`Tensor::I64`]).
///
/// # Examples
/// ```
/// use losslab_registry::{Dtype, Tensor};
/// let t = Tensor::F32(ndarray::arr1(&[1.0f32, 2.0]).into_dyn());
/// assert_eq!(t.dtype(), Dtype::Float32);
/// assert_eq!(t.shape(), &[2]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Tensor {
    /// `float32` elements.
    F32(ArrayD<f32>),
    /// `float64` elements.
    F64(ArrayD<f64>),
    /// Integer elements (`int32` or `int64` in the file).
    I64(ArrayD<i64>),
}

/// The element type of a [`Tensor`], named as NumPy names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dtype {
    /// `float32`.
    Float32,
    /// `float64`.
    Float64,
    /// `int64` (also what `int32` files are read as).
    Int64,
}

impl Dtype {
    /// NumPy's name: `"float32"`, `"float64"`, `"int64"`.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::Float32 => "float32",
            Dtype::Float64 => "float64",
            Dtype::Int64 => "int64",
        }
    }

    /// Whether this is a floating-point type.
    pub fn is_float(self) -> bool {
        matches!(self, Dtype::Float32 | Dtype::Float64)
    }

    /// The dtype called `name` (`"float32"`, `"float64"`, `"int64"`; also
    /// `"int32"`, read as `int64`).
    pub fn from_name(name: &str) -> Option<Dtype> {
        match name {
            "float32" => Some(Dtype::Float32),
            "float64" => Some(Dtype::Float64),
            "int64" | "int32" => Some(Dtype::Int64),
            _ => None,
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Tensor {
    /// The element type.
    pub fn dtype(&self) -> Dtype {
        match self {
            Tensor::F32(_) => Dtype::Float32,
            Tensor::F64(_) => Dtype::Float64,
            Tensor::I64(_) => Dtype::Int64,
        }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            Tensor::F32(a) => a.shape(),
            Tensor::F64(a) => a.shape(),
            Tensor::I64(a) => a.shape(),
        }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.shape().iter().product()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements widened to `f64`, in row-major order (integers converted
    /// exactly up to 2⁵³).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match self {
            Tensor::F32(a) => a.iter().map(|&v| f64::from(v)).collect(),
            Tensor::F64(a) => a.iter().copied().collect(),
            #[allow(clippy::cast_precision_loss)]
            Tensor::I64(a) => a.iter().map(|&v| v as f64).collect(),
        }
    }

    /// A float tensor converted to `dtype` (`float32` rounds to nearest);
    /// integer tensors and `Int64` requests are returned unchanged.
    #[must_use]
    pub fn cast_float(self, dtype: Dtype) -> Tensor {
        match (self, dtype) {
            (Tensor::F32(a), Dtype::Float64) => Tensor::F64(a.mapv(f64::from)),
            #[allow(clippy::cast_possible_truncation)]
            (Tensor::F64(a), Dtype::Float32) => Tensor::F32(a.mapv(|v| v as f32)),
            (t, _) => t,
        }
    }
}

impl From<ArrayD<f32>> for Tensor {
    fn from(a: ArrayD<f32>) -> Self {
        Tensor::F32(a)
    }
}

impl From<ArrayD<f64>> for Tensor {
    fn from(a: ArrayD<f64>) -> Self {
        Tensor::F64(a)
    }
}

impl From<ArrayD<i64>> for Tensor {
    fn from(a: ArrayD<i64>) -> Self {
        Tensor::I64(a)
    }
}

impl Tensor {
    /// A borrowed [`TensorArg`] of this tensor: evaluating with it reads the
    /// tensor's elements where they are.
    pub fn view(&self) -> TensorArg<'_> {
        match self {
            Tensor::F32(a) => TensorArg::F32(a.view().into()),
            Tensor::F64(a) => TensorArg::F64(a.view().into()),
            Tensor::I64(a) => TensorArg::I64(a.view().into()),
        }
    }
}

/// A tensor argument of an evaluation ([`EvalRequest`](crate::EvalRequest)):
/// an owned [`Tensor`] moved in, or a view of elements the caller keeps (a
/// NumPy array, a candle tensor's storage), which the registry reads in place,
/// without copying. A view may have any strides; the library's fused kernels
/// run on contiguous views and the general path on any.
///
/// # Examples
/// ```
/// use losslab_registry::{evaluate, EvalRequest, Tensor, TensorArg};
/// let input = ndarray::arr1(&[0.0f32, 3.0]).into_dyn();
/// let target = ndarray::arr1(&[0.0f32, 1.0]).into_dyn();
/// let mut request = EvalRequest::default();
/// request.tensors.insert("input".into(), TensorArg::from(input.view()));   // borrowed
/// request.tensors.insert("target".into(), Tensor::F32(target).into());       // moved in
/// assert_eq!(evaluate("mse_loss", request).unwrap().value, Tensor::F32(ndarray::arr0(2.0f32).into_dyn()));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum TensorArg<'a> {
    /// `float32` elements.
    F32(CowArray<'a, f32, IxDyn>),
    /// `float64` elements.
    F64(CowArray<'a, f64, IxDyn>),
    /// Integer elements.
    I64(CowArray<'a, i64, IxDyn>),
}

impl TensorArg<'_> {
    /// The element type.
    pub fn dtype(&self) -> Dtype {
        match self {
            TensorArg::F32(_) => Dtype::Float32,
            TensorArg::F64(_) => Dtype::Float64,
            TensorArg::I64(_) => Dtype::Int64,
        }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            TensorArg::F32(a) => a.shape(),
            TensorArg::F64(a) => a.shape(),
            TensorArg::I64(a) => a.shape(),
        }
    }

    /// Whether the elements are borrowed (read in place) rather than owned.
    pub fn is_view(&self) -> bool {
        match self {
            TensorArg::F32(a) => a.is_view(),
            TensorArg::F64(a) => a.is_view(),
            TensorArg::I64(a) => a.is_view(),
        }
    }

    /// An owned [`Tensor`] (the elements copied when borrowed).
    pub fn into_owned(self) -> Tensor {
        match self {
            TensorArg::F32(a) => Tensor::F32(a.into_owned()),
            TensorArg::F64(a) => Tensor::F64(a.into_owned()),
            TensorArg::I64(a) => Tensor::I64(a.into_owned()),
        }
    }
}

impl From<Tensor> for TensorArg<'_> {
    fn from(t: Tensor) -> Self {
        match t {
            Tensor::F32(a) => TensorArg::F32(a.into()),
            Tensor::F64(a) => TensorArg::F64(a.into()),
            Tensor::I64(a) => TensorArg::I64(a.into()),
        }
    }
}

impl<'a> From<&'a Tensor> for TensorArg<'a> {
    fn from(t: &'a Tensor) -> Self {
        t.view()
    }
}

macro_rules! arg_from {
    ($($t:ty => $v:ident),*) => {$(
        impl<'a> From<ArrayViewD<'a, $t>> for TensorArg<'a> {
            fn from(a: ArrayViewD<'a, $t>) -> Self {
                TensorArg::$v(a.into())
            }
        }
        impl From<ArrayD<$t>> for TensorArg<'_> {
            fn from(a: ArrayD<$t>) -> Self {
                TensorArg::$v(a.into())
            }
        }
    )*};
}
arg_from!(f32 => F32, f64 => F64, i64 => I64);

/// A float element type the catalog computes in (`f32` or `f64`): moves
/// arrays in and out of [`Tensor`].
pub trait FloatElement: losslab::Float + losslab::classification::BinaryLabel {
    /// The [`Dtype`] of this element type.
    const DTYPE: Dtype;
    /// The array, if `t` holds this element type.
    fn from_tensor(t: Tensor) -> Option<ArrayD<Self>>;
    /// The array, owned or borrowed as given, if `t` holds this element type.
    fn from_arg(t: TensorArg<'_>) -> Option<CowArray<'_, Self, IxDyn>>;
    /// Wraps an array in a [`Tensor`].
    fn into_tensor(a: ArrayD<Self>) -> Tensor;
}

impl FloatElement for f32 {
    const DTYPE: Dtype = Dtype::Float32;
    fn from_tensor(t: Tensor) -> Option<ArrayD<Self>> {
        match t {
            Tensor::F32(a) => Some(a),
            _ => None,
        }
    }
    fn from_arg(t: TensorArg<'_>) -> Option<CowArray<'_, Self, IxDyn>> {
        match t {
            TensorArg::F32(a) => Some(a),
            _ => None,
        }
    }
    fn into_tensor(a: ArrayD<Self>) -> Tensor {
        Tensor::F32(a)
    }
}

impl FloatElement for f64 {
    const DTYPE: Dtype = Dtype::Float64;
    fn from_tensor(t: Tensor) -> Option<ArrayD<Self>> {
        match t {
            Tensor::F64(a) => Some(a),
            _ => None,
        }
    }
    fn from_arg(t: TensorArg<'_>) -> Option<CowArray<'_, Self, IxDyn>> {
        match t {
            TensorArg::F64(a) => Some(a),
            _ => None,
        }
    }
    fn into_tensor(a: ArrayD<Self>) -> Tensor {
        Tensor::F64(a)
    }
}

//! The element types losslab computes in.

use std::fmt::{Debug, Display};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for half::bf16 {}
    impl Sealed for half::f16 {}
}

/// A floating-point element type that losslab's losses accept: `f32` or `f64`.
///
/// The trait is sealed. Every loss widens its inputs to `f64`, computes and
/// accumulates there, and rounds the result once to `Self`: an `f32` result is
/// the correctly rounded value of an `f64` computation on the same inputs in
/// all but pathological cases, which is what the golden suite checks
/// (f32 within about 1e-6 relative of the float64 truth).
///
/// # Examples
/// ```
/// use losslab::Float;
/// assert_eq!(f32::NAME, "float32");
/// assert_eq!(<f32 as Float>::from_wide(0.1f64), 0.1f32);
/// assert_eq!(0.5f32.to_wide(), 0.5f64);
/// ```
pub trait Float:
    num_traits::Float
    + ndarray::ScalarOperand
    + Debug
    + Display
    + Default
    + Send
    + Sync
    + 'static
    + sealed::Sealed
{
    /// The NumPy name of the type (`"float32"`, `"float64"`).
    const NAME: &'static str;
    /// Widens to the accumulation type, `f64` (exact).
    fn to_wide(self) -> f64;
    /// Rounds an `f64` to the nearest `Self` (round to nearest even).
    fn from_wide(v: f64) -> Self;
}

impl Float for f32 {
    const NAME: &'static str = "float32";
    #[inline(always)]
    fn to_wide(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn from_wide(v: f64) -> Self {
        v as f32
    }
}

impl Float for f64 {
    const NAME: &'static str = "float64";
    #[inline(always)]
    fn to_wide(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_wide(v: f64) -> Self {
        v
    }
}

/// An integer class index: the element type of label tensors.
///
/// Implemented for the signed and unsigned integer types a label array is
/// commonly stored in. Negative values are valid only as an `ignore_index`.
///
/// # Examples
/// ```
/// use losslab::ClassIndex;
/// assert_eq!(3u8.index(), 3);
/// assert_eq!((-100i32).index(), -100);
/// ```
pub trait ClassIndex: Copy + Debug + Send + Sync + 'static {
    /// The index as an `i64`.
    fn index(self) -> i64;
}

macro_rules! class_index {
    ($($t:ty),*) => {$(
        impl ClassIndex for $t {
            #[inline(always)]
            #[allow(clippy::cast_possible_wrap, clippy::unnecessary_cast)]
            fn index(self) -> i64 { self as i64 }
        }
    )*};
}
class_index!(i8, i16, i32, i64, u8, u16, u32, isize);

impl ClassIndex for u64 {
    #[inline(always)]
    fn index(self) -> i64 {
        i64::try_from(self).unwrap_or(i64::MAX)
    }
}

impl ClassIndex for usize {
    #[inline(always)]
    fn index(self) -> i64 {
        i64::try_from(self).unwrap_or(i64::MAX)
    }
}

/// Widens a view of any dimension into a standard-layout `Vec<f64>`, in
/// logical (row-major) order.
pub(crate) fn widen<T: Float, D: ndarray::Dimension>(a: &ndarray::ArrayView<'_, T, D>) -> Vec<f64> {
    a.iter().map(|v| v.to_wide()).collect()
}

/// Rounds a row-major `Vec<f64>` into an array of `T` with the given shape.
pub(crate) fn narrow<T: Float>(shape: &[usize], data: Vec<f64>) -> ndarray::ArrayD<T> {
    let v: Vec<T> = data.into_iter().map(T::from_wide).collect();
    ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape), v).expect("shape and length agree")
}

/// A half-precision element type the fused softmax cross entropy accepts for
/// its logits and gradient: [`half::bf16`] or [`half::f16`] (re-exported as
/// `losslab::half`).
///
/// The trait is sealed. The half kernels widen each logit to `f32` (exactly),
/// compute in `f32`, accumulate in `f64`, return the loss as `f32` and round
/// the gradient once to `Self`, to nearest even: the gradient is within the
/// half type's own precision (about 1 ulp of `Self`) of the `f64` truth on the
/// same inputs. See `CrossEntropyLoss::forward_half`.
///
/// # Examples
/// ```
/// use losslab::{half::bf16, HalfFloat};
/// assert_eq!(bf16::NAME, "bfloat16");
/// assert_eq!(bf16::from_f32(1.0).to_f32(), 1.0);
/// assert_eq!(<bf16 as HalfFloat>::from_f64(1.0 + 1.0 / 256.0).to_f32(), 1.0); // ties to even
/// ```
pub trait HalfFloat: Copy + Debug + Display + Default + PartialEq + Send + Sync + 'static + sealed::Sealed {
    /// The type's name: `"bfloat16"` or `"float16"` (NumPy's name, where it has one).
    const NAME: &'static str;
    /// Widens to `f32` (exact).
    fn to_f32(self) -> f32;
    /// Rounds an `f32` to the nearest `Self` (ties to even; NaN stays NaN).
    fn from_f32(v: f32) -> Self;
    /// Rounds an `f64` to the nearest `Self`, once (ties to even).
    fn from_f64(v: f64) -> Self;
}

impl HalfFloat for half::bf16 {
    const NAME: &'static str = "bfloat16";
    #[inline(always)]
    fn to_f32(self) -> f32 {
        half::bf16::to_f32(self)
    }
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        half::bf16::from_f32(v)
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        half::bf16::from_f64(v)
    }
}

impl HalfFloat for half::f16 {
    const NAME: &'static str = "float16";
    #[inline(always)]
    fn to_f32(self) -> f32 {
        half::f16::to_f32(self)
    }
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        half::f16::from_f32(v)
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        half::f16::from_f64(v)
    }
}

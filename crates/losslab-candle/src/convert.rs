//! Between candle and the registry: a CPU storage read as a request tensor,
//! a result or gradient turned back into candle storage, the device and dtype
//! checks, and the errors.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, DType, DeviceLocation, Layout, Shape, Storage, Tensor};
use losslab::half::{bf16, f16};
use losslab_registry::{Tensor as RTensor, TensorArg};
use ndarray::{ArrayD, ArrayViewD, IxDyn, ShapeBuilder};
use std::panic::{catch_unwind, AssertUnwindSafe};

pub(crate) type Result<T> = candle_core::Result<T>;

/// A candle error carrying losslab's own message (the registry's or the
/// library's: it names the loss, the tensor or option, what was expected).
/// (Without candle's backtrace, which `Error::wrap` adds under `RUST_BACKTRACE`:
/// the message is losslab's exactly.)
pub(crate) fn registry_error(e: losslab_registry::Error) -> candle_core::Error {
    candle_core::Error::Wrapped(Box::new(e))
}

/// A candle error with a message of the adapter's own.
pub(crate) fn msg(m: String) -> candle_core::Error {
    candle_core::Error::Msg(m)
}

/// Runs a computation of the registry or the library; a panic (a bug) becomes
/// an error instead of unwinding through candle.
pub(crate) fn guarded<T>(loss: &str, f: impl FnOnce() -> std::result::Result<T, losslab_registry::Error>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(registry_error(e)),
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            Err(msg(format!("{loss}: internal error in losslab (a bug, please report it): {why}")))
        }
    }
}

/// The error for a tensor that is not on the CPU, naming its device.
pub(crate) fn device_error(loss: &str, name: &str, location: DeviceLocation) -> Option<candle_core::Error> {
    let device = match location {
        DeviceLocation::Cpu => return None,
        DeviceLocation::Cuda { gpu_id } => format!("the CUDA device {gpu_id}"),
        DeviceLocation::Metal { gpu_id } => format!("the Metal device {gpu_id}"),
    };
    Some(msg(format!(
        "{loss}: `{name}` is on {device}; losslab computes on the CPU only: move it first \
         (`tensor.to_device(&candle_core::Device::Cpu)`)"
    )))
}

/// Checks that `t` is on the CPU.
pub(crate) fn check_cpu(loss: &str, name: &str, t: &Tensor) -> Result<()> {
    match device_error(loss, name, t.device().location()) {
        None => Ok(()),
        Some(e) => Err(e),
    }
}

/// Whether the registry can take a tensor of this dtype: `f32` and `f64` as
/// they are, `bf16` and `f16` widened to `f32`, integers as `i64`.
pub(crate) fn check_dtype(loss: &str, name: &str, dtype: DType) -> Result<()> {
    match dtype {
        DType::F32 | DType::F64 | DType::BF16 | DType::F16 | DType::U8 | DType::U32 | DType::I16 | DType::I32 | DType::I64 => Ok(()),
        d => Err(msg(format!(
            "{loss}: `{name}` has dtype {}, expected float32, float64, bfloat16 or float16 (or integers: u8, u32, i16, i32, i64)",
            d.as_str()
        ))),
    }
}

/// Whether the dtype is a 16-bit float (computed in `f32` on the general path).
pub(crate) fn is_half(dtype: DType) -> bool {
    matches!(dtype, DType::BF16 | DType::F16)
}

/// The elements of `data` that `layout` addresses, as an n-d view (any
/// strides, broadcast ones included).
pub(crate) fn view<'a, T>(loss: &str, name: &str, data: &'a [T], layout: &Layout) -> Result<ArrayViewD<'a, T>> {
    let shape = IxDyn(layout.dims()).strides(IxDyn(layout.stride()));
    data.get(layout.start_offset()..)
        .and_then(|d| ArrayViewD::from_shape(shape, d).ok())
        .ok_or_else(|| msg(format!("{loss}: `{name}`: its layout {layout:?} does not fit its storage (a bug in the caller)")))
}

/// THE conversion of a view into a request's tensor: lent to the registry,
/// which reads the candle storage in place (no copy).
fn arg<'a, T>(view: ArrayViewD<'a, T>) -> TensorArg<'a>
where
    ArrayViewD<'a, T>: Into<TensorArg<'a>>,
{
    view.into()
}

/// A CPU storage, read through its layout, as a request tensor: `f32`,
/// `f64`, `i64` lent as they are (read in place); 16-bit floats widened to
/// `f32` (exactly), other integers to `i64` (the only copies).
pub(crate) fn request_tensor<'a>(loss: &str, name: &str, s: &'a CpuStorage, layout: &Layout) -> Result<TensorArg<'a>> {
    Ok(match s {
        CpuStorage::F32(d) => arg(view(loss, name, d, layout)?),
        CpuStorage::F64(d) => arg(view(loss, name, d, layout)?),
        CpuStorage::I64(d) => arg(view(loss, name, d, layout)?),
        CpuStorage::BF16(d) => view(loss, name, d, layout)?.mapv(bf16::to_f32).into(),
        CpuStorage::F16(d) => view(loss, name, d, layout)?.mapv(f16::to_f32).into(),
        CpuStorage::U8(d) => view(loss, name, d, layout)?.mapv(i64::from).into(),
        CpuStorage::U32(d) => view(loss, name, d, layout)?.mapv(i64::from).into(),
        CpuStorage::I16(d) => view(loss, name, d, layout)?.mapv(i64::from).into(),
        CpuStorage::I32(d) => view(loss, name, d, layout)?.mapv(i64::from).into(),
        other => {
            check_dtype(loss, name, other.dtype())?;
            unreachable!("check_dtype refuses every other dtype")
        }
    })
}

/// The CPU storage behind a tensor's storage guard (held by the caller for
/// as long as the request reads it).
pub(crate) fn cpu<'s>(loss: &str, name: &str, storage: &'s Storage) -> Result<&'s CpuStorage> {
    match storage {
        Storage::Cpu(s) => Ok(s),
        Storage::Cuda(_) => Err(msg(format!("{loss}: `{name}` is on a CUDA device; losslab computes on the CPU only"))),
        Storage::Metal(_) => Err(msg(format!("{loss}: `{name}` is on a Metal device; losslab computes on the CPU only"))),
    }
}

/// The elements of an array in row-major order, without a copy when it is
/// already a standard-layout array of its own buffer.
pub(crate) fn into_vec<T: Clone>(a: ArrayD<T>) -> Vec<T> {
    if a.is_standard_layout() {
        let n = a.len();
        let (v, offset) = a.into_raw_vec_and_offset();
        if offset.unwrap_or(0) == 0 && v.len() == n {
            return v;
        }
        let start = offset.unwrap_or(0);
        return v[start..start + n].to_vec();
    }
    a.iter().cloned().collect()
}

/// A registry tensor as candle storage and shape.
pub(crate) fn to_storage(t: RTensor) -> (CpuStorage, Shape) {
    let shape = Shape::from(t.shape().to_vec());
    let s = match t {
        RTensor::F32(a) => CpuStorage::F32(into_vec(a)),
        RTensor::F64(a) => CpuStorage::F64(into_vec(a)),
        RTensor::I64(a) => CpuStorage::I64(into_vec(a)),
    };
    (s, shape)
}

/// CPU storage as a candle tensor of `shape` (the vector moved, not copied).
pub(crate) fn storage_to_tensor(s: CpuStorage, shape: &Shape) -> Result<Tensor> {
    let dev = candle_core::Device::Cpu;
    match s {
        CpuStorage::F32(v) => Tensor::from_vec(v, shape, &dev),
        CpuStorage::F64(v) => Tensor::from_vec(v, shape, &dev),
        CpuStorage::BF16(v) => Tensor::from_vec(v, shape, &dev),
        CpuStorage::F16(v) => Tensor::from_vec(v, shape, &dev),
        CpuStorage::I64(v) => Tensor::from_vec(v, shape, &dev),
        other => Err(msg(format!("losslab-candle: unexpected gradient dtype {}", other.dtype().as_str()))),
    }
}

/// A registry tensor as a candle tensor on the CPU.
pub(crate) fn to_tensor(t: RTensor) -> Result<Tensor> {
    let (s, shape) = to_storage(t);
    storage_to_tensor(s, &shape)
}

/// The value of a one-element tensor, as `f64`.
pub(crate) fn scalar(t: &Tensor) -> Result<f64> {
    t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?.first().copied().ok_or_else(|| msg("losslab-candle: empty upstream gradient".into()))
}

/// `g · s` for a scalar upstream gradient `s` (no pass when `s` is 1), in
/// `f32` for 16-bit gradients (one rounding).
pub(crate) fn scale(g: Tensor, s: f64) -> Result<Tensor> {
    if s == 1.0 {
        return Ok(g);
    }
    if is_half(g.dtype()) {
        let dt = g.dtype();
        return g.to_dtype(DType::F32)?.affine(s, 0.0)?.to_dtype(dt);
    }
    g.affine(s, 0.0)
}

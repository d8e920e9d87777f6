//! `losslab._native`: the Python extension under the `losslab` package.
//!
//! A thin layer over [`losslab_registry`]: `catalog` exports the registry's
//! catalog (names, tensors, options, defaults, differentiated tensors) for the
//! Python layer to generate its functions from, `evaluate` is the registry's
//! `evaluate` on NumPy arrays, and `cross_entropy_fused` runs the library's
//! fused softmax cross-entropy kernel on the caller's own buffers (no copy of
//! the logits, the gradient written into a buffer the caller owns) for the
//! PyTorch autograd function. Every computation runs with the GIL released and
//! inside `catch_unwind`: a panic becomes a `RuntimeError`, never an abort.
//!
//! No loss is implemented and no argument is checked here beyond what NumPy's
//! types require (dtypes the registry has no type for): the registry and the
//! library check everything else, and their errors become Python exceptions
//! by their [`ErrorKind`].

use losslab::half::{bf16, f16};
use losslab::{CrossEntropyLoss, Reduction};
use losslab_registry::{catalog as registry_catalog, resolve, Dtype, ErrorKind, EvalRequest, Framework, OptionType, OptionValue, Tensor, TensorArg};
use ndarray::{ArrayD, ArrayView1, ArrayViewD, ArrayViewMutD, CowArray, IxDyn};
use numpy::{IntoPyArray, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A registry error as the Python exception of its kind: `TypeError` for
/// dtypes and for argument names (unknown, missing), `ValueError` for the rest
/// (shapes, class indices out of range, values outside the domain, options,
/// unknown losses).
fn py_error(e: &losslab_registry::Error) -> PyErr {
    let msg = e.to_string();
    match e.kind() {
        ErrorKind::Dtype | ErrorKind::UnknownTensor | ErrorKind::UnknownOption | ErrorKind::MissingTensor => PyTypeError::new_err(msg),
        _ => PyValueError::new_err(msg),
    }
}

/// Runs `f` without the GIL, a panic turned into a `RuntimeError`.
fn compute<T: Send>(py: Python<'_>, what: &str, f: impl FnOnce() -> Result<T, losslab_registry::Error> + Send) -> PyResult<T> {
    let out = py.detach(|| catch_unwind(AssertUnwindSafe(f)));
    match out {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(py_error(&e)),
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            Err(PyRuntimeError::new_err(format!("{what}: internal error in losslab (a bug, please report it): {why}")))
        }
    }
}

fn dtype_name(a: &Bound<'_, PyUntypedArray>) -> String {
    a.dtype().to_string()
}

/// A NumPy array held for one call, as the registry reads it: float32,
/// float64 and int64 arrays borrowed (read in place while the call runs, no
/// copy; the borrow is NumPy's read-only borrow, released when the call
/// returns); int32 widened to int64 and float16 to float32 (exactly, as the
/// command line reads float16 files). A borrowed array that is not C-contiguous
/// is copied into C order for the call (never rejected), so the fused kernels
/// apply to it too.
enum Arg<'py> {
    F32(PyReadonlyArrayDyn<'py, f32>),
    F64(PyReadonlyArrayDyn<'py, f64>),
    I64(PyReadonlyArrayDyn<'py, i64>),
    Converted(Tensor),
}

impl Arg<'_> {
    /// The registry's argument: a view of the NumPy array's own elements when
    /// they are C-contiguous.
    fn lend(&self) -> TensorArg<'_> {
        fn c_order<T: Clone>(v: ArrayViewD<'_, T>) -> CowArray<'_, T, IxDyn> {
            if v.is_standard_layout() {
                v.into()
            } else {
                v.as_standard_layout().into_owned().into()
            }
        }
        match self {
            Arg::F32(a) => TensorArg::F32(c_order(a.as_array())),
            Arg::F64(a) => TensorArg::F64(c_order(a.as_array())),
            Arg::I64(a) => TensorArg::I64(c_order(a.as_array())),
            Arg::Converted(t) => t.view(),
        }
    }
}

/// `obj` as an [`Arg`]; a `TypeError` for anything but a NumPy array of a
/// dtype the registry has a type for.
fn arg<'py>(loss: &str, name: &str, obj: &Bound<'py, PyAny>) -> PyResult<Arg<'py>> {
    if let Ok(a) = obj.cast::<PyArrayDyn<f32>>() {
        return Ok(Arg::F32(a.try_readonly()?));
    }
    if let Ok(a) = obj.cast::<PyArrayDyn<f64>>() {
        return Ok(Arg::F64(a.try_readonly()?));
    }
    if let Ok(a) = obj.cast::<PyArrayDyn<i64>>() {
        return Ok(Arg::I64(a.try_readonly()?));
    }
    if let Ok(a) = obj.cast::<PyArrayDyn<i32>>() {
        return Ok(Arg::Converted(Tensor::I64(a.readonly().as_array().mapv(i64::from))));
    }
    if let Ok(a) = obj.cast::<PyArrayDyn<f16>>() {
        return Ok(Arg::Converted(Tensor::F32(a.readonly().as_array().mapv(f32::from))));
    }
    let found = match obj.cast::<PyUntypedArray>() {
        Ok(a) => format!("dtype {}", dtype_name(a)),
        Err(_) => format!("a {}", obj.get_type().name()?),
    };
    Err(PyTypeError::new_err(format!(
        "{loss}: `{name}` has {found}, expected a NumPy array of float32, float64 or float16 (or int32/int64 class indices)"
    )))
}

/// A Python option value as the registry's [`OptionValue`].
fn option_value(loss: &str, key: &str, v: &Bound<'_, PyAny>) -> PyResult<OptionValue> {
    if v.is_none() {
        return Ok(OptionValue::None);
    }
    if let Ok(b) = v.cast::<PyBool>() {
        return Ok(OptionValue::Bool(b.is_true()));
    }
    if v.is_instance_of::<PyInt>() {
        return match v.extract::<i64>() {
            Ok(i) => Ok(OptionValue::Int(i)),
            Err(_) => Ok(OptionValue::Float(v.extract::<f64>()?)),
        };
    }
    if v.is_instance_of::<PyFloat>() {
        return Ok(OptionValue::Float(v.extract::<f64>()?));
    }
    if let Ok(s) = v.cast::<PyString>() {
        let s = s.to_str()?;
        return s.parse::<OptionValue>().map_err(|_| {
            PyValueError::new_err(format!("{loss}: option `{key}` = {s:?} is invalid: expected a name (letters, digits, _)"))
        });
    }
    // NumPy scalars and 0-d arrays: by their Python value.
    if let Ok(item) = v.call_method0("item") {
        if !item.is(v) && (item.is_instance_of::<PyInt>() || item.is_instance_of::<PyFloat>() || item.is_instance_of::<PyBool>()) {
            return option_value(loss, key, &item);
        }
    }
    Err(PyTypeError::new_err(format!(
        "{loss}: option `{key}` is a {}, expected a number, a bool, None or a name",
        v.get_type().name()?
    )))
}

fn parse_reduction(loss: &str, r: Option<&str>) -> PyResult<Option<Reduction>> {
    r.map(|s| {
        s.parse::<Reduction>()
            .map_err(|_| PyValueError::new_err(format!("{loss}: reduction = {s:?} is invalid: expected one of 'none', 'mean', 'sum', 'batchmean'")))
    })
    .transpose()
}

fn to_py<'py>(py: Python<'py>, t: Tensor) -> Bound<'py, PyAny> {
    match t {
        Tensor::F32(a) => a.into_pyarray(py).into_any(),
        Tensor::F64(a) => a.into_pyarray(py).into_any(),
        Tensor::I64(a) => a.into_pyarray(py).into_any(),
    }
}

/// Evaluates the registry's loss `loss` (`framework:name`, or an unqualified
/// name): `tensors` maps argument names to NumPy arrays, `options` option
/// names to Python values. Returns `(value, grads)`: the result as a NumPy
/// array (0-d for a reduced loss) and, when `want_grads`, a dict of the
/// gradients of `Σ grad_output · value` by tensor name; with `with_outputs`,
/// `(value, grads, outputs)`, `outputs` the loss's other outputs by name
/// (`linear_cross_entropy`'s `z_loss`, `lse`, `entropy`, `predicted`).
#[pyfunction]
#[pyo3(signature = (loss, tensors, options=None, reduction=None, grad_output=None, want_grads=false, with_outputs=false))]
fn evaluate<'py>(
    py: Python<'py>,
    loss: &str,
    tensors: &Bound<'py, PyDict>,
    options: Option<&Bound<'py, PyDict>>,
    reduction: Option<&str>,
    grad_output: Option<&Bound<'py, PyAny>>,
    want_grads: bool,
    with_outputs: bool,
) -> PyResult<Bound<'py, PyTuple>> {
    let spec = resolve(loss).map_err(|e| py_error(&e))?;
    let qname = spec.qualified_name();
    // The arrays stay borrowed from NumPy until the call returns.
    let mut held = Vec::with_capacity(tensors.len());
    for (k, v) in tensors.iter() {
        let name: String = k.extract()?;
        if v.is_none() {
            continue;
        }
        let a = arg(&qname, &name, &v)?;
        held.push((name, a));
    }
    let held_grad = match grad_output.filter(|g| !g.is_none()) {
        Some(g) => Some(arg(&qname, "grad_output", g)?),
        None => None,
    };
    let mut request = EvalRequest { reduction: parse_reduction(&qname, reduction)?, want_grads, ..EvalRequest::default() };
    request.tensors = held.iter().map(|(name, a)| (name.clone(), a.lend())).collect();
    request.grad_output = held_grad.as_ref().map(Arg::lend);
    if let Some(options) = options {
        for (k, v) in options.iter() {
            let key: String = k.extract()?;
            request.options.insert(key.clone(), option_value(&qname, &key, &v)?);
        }
    }
    let e = compute(py, &qname, move || spec.evaluate(request))?;
    let grads = PyDict::new(py);
    for (name, g) in e.grads {
        grads.set_item(name, to_py(py, g))?;
    }
    if with_outputs {
        let outputs = PyDict::new(py);
        for (name, t) in e.outputs {
            outputs.set_item(name, to_py(py, t))?;
        }
        return PyTuple::new(py, [to_py(py, e.value), grads.into_any(), outputs.into_any()]);
    }
    PyTuple::new(py, [to_py(py, e.value), grads.into_any()])
}

fn option_type(t: OptionType) -> (&'static str, Vec<&'static str>) {
    match t {
        OptionType::Float => ("float", vec![]),
        OptionType::OptionalFloat => ("optional_float", vec![]),
        OptionType::Int => ("int", vec![]),
        OptionType::Axis => ("axis", vec![]),
        OptionType::Bool => ("bool", vec![]),
        OptionType::Choice(names) => ("choice", names.to_vec()),
    }
}

fn option_py<'py>(py: Python<'py>, v: OptionValue) -> Bound<'py, PyAny> {
    match v {
        OptionValue::Int(i) => i.into_pyobject(py).expect("int").into_any(),
        OptionValue::Float(x) => x.into_pyobject(py).expect("float").into_any(),
        OptionValue::Bool(b) => PyBool::new(py, b).to_owned().into_any(),
        OptionValue::None => py.None().into_bound(py),
        OptionValue::Name(n) => PyString::new(py, n.as_str()).into_any(),
    }
}

/// The registry's catalog: one dict per loss (framework, name, qualified,
/// summary, tensors, options with their defaults as values and as the
/// reference writes them, default_reduction, grads, and `root`: whether the
/// unqualified name resolves to it).
#[pyfunction]
fn catalog(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let out = PyList::empty(py);
    for s in registry_catalog() {
        let d = PyDict::new(py);
        d.set_item("framework", s.framework.name())?;
        d.set_item("name", s.name)?;
        d.set_item("qualified", s.qualified_name())?;
        d.set_item("summary", s.summary)?;
        d.set_item("root", resolve(s.name).map(|r| std::ptr::eq(r, s)).unwrap_or(false))?;
        let tensors = PyList::empty(py);
        for t in s.tensors {
            let td = PyDict::new(py);
            td.set_item("name", t.name)?;
            td.set_item("required", t.required)?;
            td.set_item("kind", t.kind.name())?;
            td.set_item("doc", t.doc)?;
            tensors.append(td)?;
        }
        d.set_item("tensors", tensors)?;
        let options = PyList::empty(py);
        for o in s.options {
            let od = PyDict::new(py);
            let (ty, choices) = option_type(o.ty);
            od.set_item("key", o.key)?;
            od.set_item("type", ty)?;
            od.set_item("type_name", o.ty.name())?;
            od.set_item("choices", choices)?;
            od.set_item("default", option_py(py, o.default_value()))?;
            od.set_item("default_repr", o.default)?;
            od.set_item("doc", o.doc)?;
            options.append(od)?;
        }
        d.set_item("options", options)?;
        d.set_item("default_reduction", s.default_reduction.map(|r| r.to_string()))?;
        d.set_item("grads", s.grads.to_vec())?;
        out.append(d)?;
    }
    Ok(out)
}

/// The frameworks in the order an unqualified name is looked up.
#[pyfunction]
fn frameworks() -> Vec<&'static str> {
    Framework::ALL.iter().map(|f| f.name()).collect()
}

/// Logits as the fused kernel reads them, borrowed from the caller's array.
enum Logits<'a> {
    F32(ArrayViewD<'a, f32>),
    F64(ArrayViewD<'a, f64>),
    Bf16(ArrayViewD<'a, bf16>),
    F16(ArrayViewD<'a, f16>),
}

/// The gradient buffer of the fused kernel, borrowed mutably from the caller.
enum GradBuf<'a> {
    F32(ArrayViewMutD<'a, f32>),
    F64(ArrayViewMutD<'a, f64>),
    Bf16(ArrayViewMutD<'a, bf16>),
    F16(ArrayViewMutD<'a, f16>),
}

enum Labels<'a> {
    I64(ArrayViewD<'a, i64>),
    I32(ArrayViewD<'a, i32>),
}

enum Value {
    F32(ArrayD<f32>),
    F64(ArrayD<f64>),
}

/// `a` (16-bit words, C-contiguous) as a view of the half type `H`.
fn half_view<H>(a: ArrayViewD<'_, u16>) -> Option<ArrayViewD<'_, H>> {
    let slice = a.to_slice()?;
    // SAFETY: `bf16` and `f16` are `#[repr(transparent)]` over `u16`: same size
    // and alignment; the slice covers the whole C-contiguous array.
    let halves = unsafe { std::slice::from_raw_parts(slice.as_ptr().cast::<H>(), slice.len()) };
    ArrayViewD::from_shape(IxDyn(a.shape()), halves).ok()
}

fn half_view_mut<H>(mut a: ArrayViewMutD<'_, u16>) -> Option<ArrayViewMutD<'_, H>> {
    let shape = IxDyn(a.shape());
    let slice = a.as_slice_mut()?;
    // SAFETY: as in `half_view`; the only view of the buffer.
    let halves = unsafe { std::slice::from_raw_parts_mut(slice.as_mut_ptr().cast::<H>(), slice.len()) };
    ArrayViewMutD::from_shape(shape, halves).ok()
}

const CE: &str = "torch:cross_entropy";

/// One call of the fused kernel: the value, and the gradient (for an upstream
/// gradient of ones) written into `grad` when given.
fn run_fused(loss: &CrossEntropyLoss, logits: &Logits<'_>, labels: &Labels<'_>, grad: Option<&mut GradBuf<'_>>) -> Result<Value, losslab_registry::Error> {
    macro_rules! go {
        ($t:expr) => {{
            let t = $t;
            match (logits, grad) {
                (Logits::F32(x), None) => Value::F32(loss.forward(x.view(), t)?),
                (Logits::F64(x), None) => Value::F64(loss.forward(x.view(), t)?),
                (Logits::Bf16(x), None) => Value::F32(loss.forward_half(x.view(), t)?),
                (Logits::F16(x), None) => Value::F32(loss.forward_half(x.view(), t)?),
                (Logits::F32(x), Some(GradBuf::F32(g))) => Value::F32(loss.forward_backward_into(x.view(), t, g.view_mut())?),
                (Logits::F64(x), Some(GradBuf::F64(g))) => Value::F64(loss.forward_backward_into(x.view(), t, g.view_mut())?),
                (Logits::Bf16(x), Some(GradBuf::Bf16(g))) => Value::F32(loss.forward_backward_half_into(x.view(), t, g.view_mut())?),
                (Logits::F16(x), Some(GradBuf::F16(g))) => Value::F32(loss.forward_backward_half_into(x.view(), t, g.view_mut())?),
                _ => return Err(losslab_registry::Error::new(ErrorKind::Dtype, format!("{CE}: the gradient buffer's dtype differs from the input's"))),
            }
        }};
    }
    Ok(match labels {
        Labels::I64(t) => go!(t.view()),
        Labels::I32(t) => go!(t.view()),
    })
}

/// The arrays of a fused call, borrowed (read-only input and target,
/// read-write gradient), and the loss configured.
struct Borrowed<'py> {
    input: Input<'py>,
    target: Target<'py>,
    grad: Option<Grad<'py>>,
}

enum Input<'py> {
    F32(numpy::PyReadonlyArrayDyn<'py, f32>),
    F64(numpy::PyReadonlyArrayDyn<'py, f64>),
    Half(numpy::PyReadonlyArrayDyn<'py, u16>, bool),
}

enum Target<'py> {
    I64(numpy::PyReadonlyArrayDyn<'py, i64>),
    I32(numpy::PyReadonlyArrayDyn<'py, i32>),
}

enum Grad<'py> {
    F32(numpy::PyReadwriteArrayDyn<'py, f32>),
    F64(numpy::PyReadwriteArrayDyn<'py, f64>),
    Half(numpy::PyReadwriteArrayDyn<'py, u16>),
}

fn bad_dtype(what: &str, a: &Bound<'_, PyAny>) -> PyErr {
    let d = a.cast::<PyUntypedArray>().map(dtype_name).unwrap_or_else(|_| "(not a NumPy array)".into());
    PyTypeError::new_err(format!("{CE}: `{what}` has dtype {d}, expected float32, float64, bfloat16 or float16 logits"))
}

impl<'py> Borrowed<'py> {
    fn new(input: &Bound<'py, PyAny>, target: &Bound<'py, PyAny>, grad: Option<&Bound<'py, PyAny>>, half: Option<&str>) -> PyResult<Self> {
        let input_b = match half {
            None => match (input.cast::<PyArrayDyn<f32>>(), input.cast::<PyArrayDyn<f64>>()) {
                (Ok(a), _) => Input::F32(a.readonly()),
                (_, Ok(a)) => Input::F64(a.readonly()),
                _ => return Err(bad_dtype("input", input)),
            },
            Some(h @ ("bfloat16" | "float16")) => match input.cast::<PyArrayDyn<u16>>() {
                Ok(a) => Input::Half(a.readonly(), h == "bfloat16"),
                Err(_) => return Err(bad_dtype("input", input)),
            },
            Some(h) => return Err(PyValueError::new_err(format!("{CE}: half = {h:?}, expected 'bfloat16' or 'float16'"))),
        };
        let target_b = match (target.cast::<PyArrayDyn<i64>>(), target.cast::<PyArrayDyn<i32>>()) {
            (Ok(a), _) => Target::I64(a.readonly()),
            (_, Ok(a)) => Target::I32(a.readonly()),
            _ => {
                let d = target.cast::<PyUntypedArray>().map(dtype_name).unwrap_or_else(|_| "(not a NumPy array)".into());
                return Err(PyTypeError::new_err(format!("{CE}: `target` has dtype {d}, expected int32 or int64 class indices")));
            }
        };
        let grad_b = match grad.filter(|g| !g.is_none()) {
            None => None,
            Some(g) => Some(match (&input_b, g.cast::<PyArrayDyn<f32>>(), g.cast::<PyArrayDyn<f64>>(), g.cast::<PyArrayDyn<u16>>()) {
                (Input::F32(_), Ok(a), _, _) => Grad::F32(a.readwrite()),
                (Input::F64(_), _, Ok(a), _) => Grad::F64(a.readwrite()),
                (Input::Half(..), _, _, Ok(a)) => Grad::Half(a.readwrite()),
                _ => return Err(bad_dtype("grad", g)),
            }),
        };
        Ok(Borrowed { input: input_b, target: target_b, grad: grad_b })
    }

    fn views(&mut self) -> PyResult<(Logits<'_>, Labels<'_>, Option<GradBuf<'_>>)> {
        let contiguous = || PyValueError::new_err(format!("{CE}: half-precision `input` and `grad` must be C-contiguous"));
        let logits = match &self.input {
            Input::F32(a) => Logits::F32(a.as_array()),
            Input::F64(a) => Logits::F64(a.as_array()),
            Input::Half(a, true) => Logits::Bf16(half_view(a.as_array()).ok_or_else(contiguous)?),
            Input::Half(a, false) => Logits::F16(half_view(a.as_array()).ok_or_else(contiguous)?),
        };
        let labels = match &self.target {
            Target::I64(a) => Labels::I64(a.as_array()),
            Target::I32(a) => Labels::I32(a.as_array()),
        };
        let is_bf16 = matches!(self.input, Input::Half(_, true));
        let grad = match &mut self.grad {
            None => None,
            Some(Grad::F32(a)) => Some(GradBuf::F32(a.as_array_mut())),
            Some(Grad::F64(a)) => Some(GradBuf::F64(a.as_array_mut())),
            Some(Grad::Half(a)) => {
                let words = a.as_array_mut();
                Some(if is_bf16 {
                    GradBuf::Bf16(half_view_mut(words).ok_or_else(contiguous)?)
                } else {
                    GradBuf::F16(half_view_mut(words).ok_or_else(contiguous)?)
                })
            }
        };
        Ok((logits, labels, grad))
    }
}

fn ce_loss(weight: Option<&Bound<'_, PyAny>>, ignore_index: i64, label_smoothing: f64, reduction: &str) -> PyResult<CrossEntropyLoss> {
    let reduction = parse_reduction(CE, Some(reduction))?.expect("given");
    let mut loss = CrossEntropyLoss::new().reduction(reduction).ignore_index(ignore_index).label_smoothing(label_smoothing);
    if let Some(w) = weight.filter(|w| !w.is_none()) {
        let w = match arg(CE, "weight", w)?.lend().into_owned() {
            Tensor::I64(_) => return Err(PyTypeError::new_err(format!("{CE}: `weight` has an integer dtype, expected float"))),
            t => t,
        };
        if w.shape().len() != 1 {
            return Err(PyValueError::new_err(format!("{CE}: `weight` has shape {:?}, expected 1-D (one weight per class)", w.shape())));
        }
        let w = w.to_f64_vec();
        loss = loss.weight(ArrayView1::from(&w[..]));
    }
    Ok(loss)
}

/// The fused softmax cross entropy of `torch:cross_entropy` with class-index
/// targets, on the caller's buffers: `input` is float32, float64, or 16-bit
/// words with `half` = `"bfloat16"` or `"float16"`; `target` int64 or int32
/// class indices; `weight` (optional) one float per class. With `grad` (an
/// array of the input's shape and type), the gradient of the result (for an
/// upstream gradient of ones) is written into it in the same sweep. Returns
/// the value (float32 for half logits).
#[pyfunction]
#[pyo3(signature = (input, target, weight, ignore_index, label_smoothing, reduction, grad=None, half=None))]
#[allow(clippy::too_many_arguments)]
fn cross_entropy_fused<'py>(
    py: Python<'py>,
    input: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    weight: Option<&Bound<'py, PyAny>>,
    ignore_index: i64,
    label_smoothing: f64,
    reduction: &str,
    grad: Option<&Bound<'py, PyAny>>,
    half: Option<&str>,
) -> PyResult<Bound<'py, PyAny>> {
    let loss = ce_loss(weight, ignore_index, label_smoothing, reduction)?;
    let mut b = Borrowed::new(input, target, grad, half)?;
    let (logits, labels, mut grad) = b.views()?;
    let value = compute(py, CE, move || run_fused(&loss, &logits, &labels, grad.as_mut()))?;
    Ok(match value {
        Value::F32(a) => a.into_pyarray(py).into_any(),
        Value::F64(a) => a.into_pyarray(py).into_any(),
    })
}

/// The raw kernel's time, for the benchmark: `reps` calls of the fused
/// cross entropy's forward + backward into `grad` (mean reduction), timed in
/// Rust, the arrays borrowed once. Returns the seconds of each call.
#[pyfunction]
#[pyo3(signature = (input, target, grad, reps, half=None))]
fn bench_cross_entropy_kernel<'py>(
    py: Python<'py>,
    input: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    grad: &Bound<'py, PyAny>,
    reps: usize,
    half: Option<&str>,
) -> PyResult<Vec<f64>> {
    let loss = CrossEntropyLoss::new();
    let mut b = Borrowed::new(input, target, Some(grad), half)?;
    let (logits, labels, mut grad) = b.views()?;
    compute(py, CE, move || {
        let mut times = Vec::with_capacity(reps);
        for _ in 0..reps {
            let t0 = std::time::Instant::now();
            std::hint::black_box(run_fused(&loss, &logits, &labels, grad.as_mut())?);
            times.push(t0.elapsed().as_secs_f64());
        }
        Ok(times)
    })
}

/// The dtype names the registry computes in, for the Python layer.
#[pyfunction]
fn dtypes() -> Vec<&'static str> {
    [Dtype::Float32, Dtype::Float64, Dtype::Int64].iter().map(|d| d.name()).collect()
}

/// The allocator the `losslab` command installs: the gradients this module
/// allocates per call, when large, on huge pages (its own Rust allocations
/// only; NumPy's and PyTorch's are theirs).
#[global_allocator]
static GLOBAL: losslab::alloc::HugePages = losslab::alloc::HugePages;

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(catalog, m)?)?;
    m.add_function(wrap_pyfunction!(frameworks, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(cross_entropy_fused, m)?)?;
    m.add_function(wrap_pyfunction!(bench_cross_entropy_kernel, m)?)?;
    m.add_function(wrap_pyfunction!(dtypes, m)?)?;
    Ok(())
}

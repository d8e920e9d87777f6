//! Arbitrary `losslab eval` requests: a loss name (catalog entry or free
//! text), `--tensor`/`--option`/`--reduction` strings through the flag
//! validation, and small tensors of arbitrary shapes, dtypes and values
//! (NaN, ±inf, out-of-range labels included) through `losslab_registry::evaluate`.
//! Any outcome but a panic is fine: `Ok`, or an error.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use losslab_registry::{catalog, evaluate, EvalRequest, OptionValue, Tensor};
use losslab_cli::cli::eval::{EvalArgs, EvalConfig};
use ndarray::{ArrayD, IxDyn};

/// At most this many elements per tensor, so that one input runs in microseconds.
const MAX_ELEMENTS: usize = 48;

#[derive(Debug, Arbitrary)]
enum LossName {
    Catalog(u16),
    Free(String),
}

#[derive(Debug, Arbitrary)]
enum Elem {
    F32,
    F64,
    Int,
}

#[derive(Debug, Arbitrary)]
struct TensorIn {
    /// An index into the loss's tensor names, or a free name.
    name: Result<u8, String>,
    dtype: Elem,
    shape: Vec<u8>,
    /// Values drawn from a palette of hostile and ordinary numbers, or raw.
    values: Vec<u8>,
}

#[derive(Debug, Arbitrary)]
struct OptionIn {
    /// An index into the loss's option keys, or a free key.
    key: Result<u8, String>,
    /// A palette value or free text, parsed as `--option KEY=VALUE` is.
    value: Result<u8, String>,
}

#[derive(Debug, Arbitrary)]
struct Input {
    loss: LossName,
    tensors: Vec<TensorIn>,
    options: Vec<OptionIn>,
    /// Free `--tensor`/`--option` strings, through `EvalConfig::from_args` only.
    raw_tensors: Vec<String>,
    raw_options: Vec<String>,
    reduction: Option<Result<u8, String>>,
    grad_output: Option<TensorIn>,
    want_grads: bool,
}

const FLOATS: [f64; 16] =
    [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e-300, -1e300, 1e38, 3.5e38, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e-45, -7.25, 100.0];
const INTS: [i64; 12] = [0, 1, 2, 3, -1, -100, 4, 5, i64::MAX, i64::MIN, 1 << 40, 7];
const OPTION_TEXT: [&str; 20] = [
    "0", "1", "-1", "2", "-100", "0.1", "1.0", "-0.5", "nan", "inf", "-inf", "True", "False", "None", "1e308", "cosine", "mean",
    "9223372036854775807", "-9223372036854775808", "1e-300",
];
const REDUCTIONS: [&str; 5] = ["none", "mean", "sum", "batchmean", "sum_over_batch_size"];

fn tensor(t: &TensorIn) -> Tensor {
    let mut shape: Vec<usize> = t.shape.iter().take(5).map(|&d| usize::from(d % 7)).collect();
    // Keep tensors small: shrink the last axes until the product is bounded.
    while shape.iter().product::<usize>() > MAX_ELEMENTS {
        let i = shape.iter().rposition(|&d| d > 1).expect("a product > 1 has an axis > 1");
        shape[i] /= 2;
    }
    let n: usize = shape.iter().product();
    let byte = |i: usize| t.values.get(i % t.values.len().max(1)).copied().unwrap_or(0);
    match t.dtype {
        Elem::F32 => Tensor::F32(ArrayD::zeros(IxDyn(&shape))).map_values(n, |i| f64_of(byte(i), i)),
        Elem::F64 => Tensor::F64(ArrayD::zeros(IxDyn(&shape))).map_values(n, |i| f64_of(byte(i), i)),
        Elem::Int => {
            let v: Vec<i64> = (0..n).map(|i| int_of(byte(i))).collect();
            Tensor::I64(ArrayD::from_shape_vec(IxDyn(&shape), v).expect("n elements"))
        }
    }
}

fn f64_of(b: u8, i: usize) -> f64 {
    if b & 0x80 == 0 {
        FLOATS[usize::from(b) % FLOATS.len()]
    } else {
        // An ordinary number, different per position.
        (f64::from(b & 0x7f) - 64.0) / 16.0 + i as f64 * 0.03125
    }
}

fn int_of(b: u8) -> i64 {
    if b & 0x80 == 0 {
        INTS[usize::from(b) % INTS.len()]
    } else {
        i64::from(b & 0x0f)
    }
}

trait MapValues {
    fn map_values(self, n: usize, f: impl Fn(usize) -> f64) -> Tensor;
}

impl MapValues for Tensor {
    #[allow(clippy::cast_possible_truncation)]
    fn map_values(self, n: usize, f: impl Fn(usize) -> f64) -> Tensor {
        match self {
            Tensor::F32(a) => {
                let v: Vec<f32> = (0..n).map(|i| f(i) as f32).collect();
                Tensor::F32(ArrayD::from_shape_vec(a.raw_dim(), v).expect("n elements"))
            }
            Tensor::F64(a) => {
                let v: Vec<f64> = (0..n).map(f).collect();
                Tensor::F64(ArrayD::from_shape_vec(a.raw_dim(), v).expect("n elements"))
            }
            t => t,
        }
    }
}

fn run(input: &Input) {
    let specs = catalog();
    let (loss, spec) = match &input.loss {
        LossName::Catalog(i) => {
            let s = &specs[usize::from(*i) % specs.len()];
            (s.qualified_name(), Some(s))
        }
        LossName::Free(s) => (s.clone(), None),
    };

    // The flags, as the command line validates them.
    let mut option_flags = input.raw_options.clone();
    for o in &input.options {
        let key = match (&o.key, spec) {
            (Ok(i), Some(s)) if !s.options.is_empty() => s.options[usize::from(*i) % s.options.len()].key.to_string(),
            (Ok(i), _) => format!("k{i}"),
            (Err(k), _) => k.clone(),
        };
        let value = match &o.value {
            Ok(i) => OPTION_TEXT[usize::from(*i) % OPTION_TEXT.len()].to_string(),
            Err(v) => v.clone(),
        };
        option_flags.push(format!("{key}={value}"));
    }
    let reduction = input.reduction.as_ref().map(|r| match r {
        Ok(i) => REDUCTIONS[usize::from(*i) % REDUCTIONS.len()].to_string(),
        Err(s) => s.clone(),
    });
    let args = EvalArgs {
        loss: loss.clone(),
        tensors: input.raw_tensors.clone(),
        options: option_flags.clone(),
        reduction: reduction.clone(),
        out: None,
        grad_dir: None,
        grad_format: "npy".to_string(),
        grad_output: None,
    };
    let _ = EvalConfig::from_args(&args);
    // Each option string on its own, too.
    for raw in &option_flags {
        if let Some((_, v)) = raw.split_once('=') {
            if let Ok(value) = v.parse::<OptionValue>() {
                // Display then parse again gives the same kind of value.
                let _ = value.to_string().parse::<OptionValue>();
            }
        }
    }

    // The evaluation, on in-memory tensors.
    let args = EvalArgs { tensors: Vec::new(), options: option_flags, ..args };
    let Ok(config) = EvalConfig::from_args(&args) else { return };
    let mut request =
        EvalRequest { options: config.options, reduction: config.reduction, want_grads: input.want_grads, ..EvalRequest::default() };
    for t in &input.tensors {
        let name = match (&t.name, spec) {
            (Ok(i), Some(s)) if !s.tensors.is_empty() => s.tensors[usize::from(*i) % s.tensors.len()].name.to_string(),
            (Ok(i), _) => format!("t{i}"),
            (Err(n), _) => n.clone(),
        };
        request.tensors.insert(name, tensor(t).into());
    }
    request.grad_output = input.grad_output.as_ref().map(|t| tensor(t).into());
    let _ = evaluate(&loss, request);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) {
        run(&input);
    }
});

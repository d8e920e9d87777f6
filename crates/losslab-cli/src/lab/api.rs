//! The JSON API of `losslab serve` (`POST /api/eval`): a request naming a loss,
//! its tensors as nested lists, its options and reduction, answered with the
//! value and the gradients as the registry computes them, under the names
//! `losslab eval` prints (`loss`, `reduction`, `dtype`, `shape`, `value`,
//! `outputs`), the gradients as nested lists by tensor name.
//!
//! Every request is checked before anything is computed: its size (at most
//! [`MAX_ELEMENTS`] numbers over all its tensors, at most [`MAX_DEPTH`] axes),
//! finite numbers only, known fields; then the registry checks the loss, its
//! tensors and options as for `losslab eval`. A bad request is an [`ApiError`]
//! with a message naming the field, what was expected and what was found.
//!
//! # Request
//! ```json
//! {"loss": "torch:cross_entropy",
//!  "tensors": {"input": [[2.0, 1.0, 0.1]], "target": [0]},
//!  "options": {"label_smoothing": 0.1},
//!  "reduction": "mean",
//!  "dtype": "float64",
//!  "grad_output": null,
//!  "want_grads": true}
//! ```
//! Only `loss` and `tensors` are required. A tensor is a number (0-d) or
//! nested lists of numbers; its element type follows the loss's declaration:
//! float for float tensors (an integer literal such as `1` is the float 1,
//! as JavaScript writes `1.0`), integers for class indices (a number with a
//! fraction is refused), and for tensors that may be either
//! (`cross_entropy`'s `target`) integers when every number is an integer
//! literal. `{"dtype": "int64" | "float64" | "float32", "data": NESTED}`
//! states the type explicitly. `dtype` (default `float64`) is the
//! computation's float type.
//!
//! # Examples
//! ```
//! use losslab_cli::lab::api::eval_json;
//! let answer = eval_json(br#"{"loss": "mse_loss", "tensors": {"input": [1, 2], "target": [0, 0]}}"#).unwrap();
//! assert_eq!(answer["value"], 2.5);
//! assert_eq!(answer["grads"]["input"], serde_json::json!([1.0, 2.0]));
//! let err = eval_json(br#"{"loss": "mse_loss", "tensors": {"input": [1, "nan"], "target": [0, 0]}}"#).unwrap_err();
//! assert!(err.to_string().contains("finite numbers only"), "{err}");
//! ```

use crate::cli::json;
use losslab::Reduction;
use losslab_registry::{resolve, EvalRequest, OptionValue, Tensor, TensorKind};
use ndarray::{ArrayD, IxDyn};
use serde_json::{Map, Value};
use std::fmt;

/// The most numbers a request may hold, over all its tensors.
pub const MAX_ELEMENTS: usize = 65_536;
/// The most axes a tensor may have.
pub const MAX_DEPTH: usize = 8;
/// The most tensors or options a request may name.
pub const MAX_ENTRIES: usize = 32;

/// A request the API refuses (an HTTP 400), with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError(pub String);

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ApiError {}

macro_rules! bad {
    ($($t:tt)*) => { return Err(ApiError(format!($($t)*))) };
}

/// Answers one `POST /api/eval` body.
///
/// # Errors
/// Malformed JSON, unknown fields, oversized or ragged tensors, non-finite
/// numbers, and every error of the registry (unknown loss, tensor or option,
/// shapes, dtypes, values), each with its message.
pub fn eval_json(body: &[u8]) -> Result<Value, ApiError> {
    let request: Value = serde_json::from_slice(body).map_err(|e| ApiError(format!("the request is not valid JSON: {e}")))?;
    let Value::Object(fields) = request else {
        bad!("the request must be a JSON object with `loss` and `tensors`, found {}", kind(&request));
    };
    const FIELDS: [&str; 7] = ["loss", "tensors", "options", "reduction", "dtype", "grad_output", "want_grads"];
    for key in fields.keys() {
        if !FIELDS.contains(&key.as_str()) {
            bad!("unknown field `{key}`: expected one of {}", FIELDS.join(", "));
        }
    }
    let Some(Value::String(loss)) = fields.get("loss") else {
        bad!("`loss` must be a loss name such as \"torch:cross_entropy\" (`losslab list` shows them), found {}", fields.get("loss").map_or("nothing", kind));
    };
    let spec = resolve(loss).map_err(|e| ApiError(format!("{e:#}")))?;
    let float32 = match fields.get("dtype") {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) if s == "float64" => false,
        Some(Value::String(s)) if s == "float32" => true,
        Some(other) => bad!("`dtype` must be \"float64\" or \"float32\", found {other}"),
    };
    let reduction = match fields.get("reduction") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.parse::<Reduction>().map_err(|e| ApiError(format!("`reduction`: {e}")))?),
        Some(other) => bad!("`reduction` must be \"none\", \"mean\", \"sum\", \"batchmean\" or null, found {other}"),
    };
    let want_grads = match fields.get("want_grads") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(other) => bad!("`want_grads` must be true or false, found {other}"),
    };

    let mut budget = MAX_ELEMENTS;
    let mut request = EvalRequest { reduction, want_grads, ..EvalRequest::default() };
    let Some(Value::Object(tensors)) = fields.get("tensors") else {
        bad!("`tensors` must be an object of tensors by name, found {}", fields.get("tensors").map_or("nothing", kind));
    };
    if tensors.len() > MAX_ENTRIES {
        bad!("`tensors` names {} tensors, more than the limit of {MAX_ENTRIES}", tensors.len());
    }
    for (name, value) in tensors {
        spec.check_tensor_name(name).map_err(|e| ApiError(format!("{e:#}")))?;
        let declared = spec.tensor(name).expect("checked").kind;
        let t = tensor(&format!("tensor `{name}`"), value, declared, float32, &mut budget)?;
        request.tensors.insert(name.clone(), t.into());
    }
    if let Some(g) = fields.get("grad_output").filter(|g| !g.is_null()) {
        request.grad_output = Some(tensor("`grad_output`", g, TensorKind::Float, float32, &mut budget)?.into());
    }
    match fields.get("options") {
        None | Some(Value::Null) => {}
        Some(Value::Object(options)) => {
            if options.len() > MAX_ENTRIES {
                bad!("`options` names {} options, more than the limit of {MAX_ENTRIES}", options.len());
            }
            for (key, v) in options {
                request.options.insert(key.clone(), option(key, v)?);
            }
        }
        Some(other) => bad!("`options` must be an object of options by name, found {}", kind(other)),
    }

    let e = spec.evaluate(request).map_err(|e| ApiError(format!("{e:#}")))?;
    let too_large = |t: &Tensor| json::tensor_value(t).unwrap_or(Value::Null);
    let mut answer = Map::new();
    answer.insert("loss".into(), Value::from(e.loss.clone()));
    answer.insert("reduction".into(), Value::from(e.reduction.map_or("none", Reduction::name)));
    answer.insert("dtype".into(), Value::from(e.dtype.name()));
    answer.insert("shape".into(), Value::from(e.value.shape().to_vec()));
    answer.insert("value".into(), too_large(&e.value));
    answer.insert("grads".into(), Value::Object(e.grads.iter().map(|(k, t)| (k.clone(), too_large(t))).collect()));
    answer.insert("outputs".into(), Value::Object(e.outputs.iter().map(|(k, t)| (k.clone(), too_large(t))).collect()));
    Ok(Value::Object(answer))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// An option's JSON value: a number (an integer literal is an integer), a
/// boolean, null (None) or a name.
fn option(key: &str, v: &Value) -> Result<OptionValue, ApiError> {
    Ok(match v {
        Value::Null => OptionValue::None,
        Value::Bool(b) => OptionValue::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => OptionValue::Int(i),
            (None, Some(f)) if f.is_finite() => OptionValue::Float(f),
            _ => bad!("option `{key}` = {n} is out of range"),
        },
        Value::String(s) => s.parse::<OptionValue>().map_err(|e| ApiError(format!("option `{key}`: {e}")))?,
        other => bad!("option `{key}` must be a number, a boolean, null or a name, found {}", kind(other)),
    })
}

/// The numbers of a tensor, flat in row-major order, with its shape and
/// whether every number was an integer literal.
struct Flat {
    shape: Vec<usize>,
    values: Vec<f64>,
    all_int: bool,
}

fn tensor(what: &str, value: &Value, declared: TensorKind, float32: bool, budget: &mut usize) -> Result<Tensor, ApiError> {
    let (data, explicit) = match value {
        Value::Object(o) => {
            for key in o.keys() {
                if key != "dtype" && key != "data" {
                    bad!("{what}: unknown field `{key}` (a tensor is nested lists, or {{\"dtype\": ..., \"data\": nested lists}})");
                }
            }
            let dtype = match o.get("dtype") {
                Some(Value::String(s)) if matches!(s.as_str(), "int64" | "float64" | "float32") => s.as_str(),
                other => bad!("{what}: `dtype` must be \"int64\", \"float64\" or \"float32\", found {}", other.map_or("nothing".to_string(), Value::to_string)),
            };
            let Some(data) = o.get("data") else { bad!("{what}: `data` is missing") };
            (data, Some(dtype))
        }
        v => (v, None),
    };
    let mut flat = Flat { shape: vec![], values: vec![], all_int: true };
    shape_of(what, data, 0, &mut flat.shape)?;
    let n: usize = flat.shape.iter().product();
    if n > *budget {
        bad!("{what} has {n} numbers: a request may hold at most {MAX_ELEMENTS} numbers over all its tensors");
    }
    *budget -= n;
    let shape = flat.shape.clone();
    collect(what, data, &shape, &mut flat)?;
    let int = match explicit {
        Some("int64") => true,
        Some(_) => false,
        None => match declared {
            TensorKind::Int => true,
            TensorKind::Either => flat.all_int,
            TensorKind::Float | TensorKind::Promoted => false,
        },
    };
    let shape = IxDyn(&shape);
    if int {
        let mut ints = Vec::with_capacity(n);
        for (k, &v) in flat.values.iter().enumerate() {
            if v.fract() != 0.0 || v.abs() > 9.007_199_254_740_992e15 {
                bad!("{what}: element {k} is {v}, expected an integer (class indices)");
            }
            #[allow(clippy::cast_possible_truncation)]
            ints.push(v as i64);
        }
        return Ok(Tensor::I64(ArrayD::from_shape_vec(shape, ints).expect("the shape counts the values")));
    }
    #[allow(clippy::cast_possible_truncation)]
    let t = if float32 || explicit == Some("float32") {
        Tensor::F32(ArrayD::from_shape_vec(shape, flat.values.iter().map(|&v| v as f32).collect()).expect("counted"))
    } else {
        Tensor::F64(ArrayD::from_shape_vec(shape, flat.values).expect("counted"))
    };
    Ok(t)
}

/// The shape of nested lists, read along the first element of each level.
fn shape_of(what: &str, v: &Value, depth: usize, shape: &mut Vec<usize>) -> Result<(), ApiError> {
    if let Value::Array(items) = v {
        if depth >= MAX_DEPTH {
            bad!("{what} is nested deeper than {MAX_DEPTH} levels");
        }
        if items.len() > MAX_ELEMENTS {
            bad!("{what} has a list of {} items: a request may hold at most {MAX_ELEMENTS} numbers", items.len());
        }
        shape.push(items.len());
        if let Some(first) = items.first() {
            shape_of(what, first, depth + 1, shape)?;
        }
    }
    Ok(())
}

/// The numbers of nested lists of the given shape, checked to be rectangular and finite.
fn collect(what: &str, v: &Value, shape: &[usize], flat: &mut Flat) -> Result<(), ApiError> {
    match (v, shape.split_first()) {
        (Value::Array(items), Some((&n, rest))) => {
            if items.len() != n {
                bad!("{what} is ragged: a list of {} items where its first list at that level has {n}", items.len());
            }
            for item in items {
                collect(what, item, rest, flat)?;
            }
            Ok(())
        }
        (Value::Number(num), None) => {
            let Some(x) = num.as_f64().filter(|x| x.is_finite()) else {
                bad!("{what}: {num} is out of range: finite numbers only");
            };
            flat.all_int &= num.is_i64() || num.is_u64();
            flat.values.push(x);
            Ok(())
        }
        (Value::Number(_), Some(_)) => bad!("{what} is ragged: a number where its first element at that level is a list"),
        (Value::Array(_), None) => bad!("{what} is ragged: a list where its first element at that level is a number"),
        (other, _) => bad!("{what}: found {} ({other}), expected a number or a list: finite numbers only", kind(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(v: Value) -> Result<Value, ApiError> {
        eval_json(v.to_string().as_bytes())
    }

    #[test]
    fn cross_entropy_answers_as_the_registry() {
        let a = eval(json!({"loss": "cross_entropy", "tensors": {"input": [[2, 1, 0.1]], "target": [0]}})).unwrap();
        assert_eq!(a["loss"], "torch:cross_entropy");
        assert_eq!(a["reduction"], "mean");
        assert_eq!(a["dtype"], "float64");
        let p0 = 2f64.exp() / (2f64.exp() + 1f64.exp() + 0.1f64.exp());
        assert!((a["value"].as_f64().unwrap() + p0.ln()).abs() < 1e-15);
        assert!((a["grads"]["input"][0][0].as_f64().unwrap() - (p0 - 1.0)).abs() < 1e-15);
        // Probabilities (floats) as the target: the dense form, the same numbers.
        let b = eval(json!({"loss": "cross_entropy", "tensors": {"input": [[2, 1, 0.1]], "target": [[1.0, 0.5e-300, 0.0]]}})).unwrap();
        assert!((b["value"].as_f64().unwrap() - a["value"].as_f64().unwrap()).abs() < 1e-15);
        // Explicit dtypes.
        let c = eval(json!({"loss": "cross_entropy", "dtype": "float32", "tensors": {"input": [[2, 1, 0.1]], "target": {"dtype": "int64", "data": [0]}}})).unwrap();
        assert_eq!(c["dtype"], "float32");
    }

    #[test]
    fn reductions_options_and_upstream_gradients() {
        let a = eval(json!({"loss": "smooth_l1_loss", "tensors": {"input": [0.5, 3.0], "target": [0, 0]}, "options": {"beta": 1}, "reduction": "none", "grad_output": [2, 1]})).unwrap();
        assert_eq!(a["value"], json!([0.125, 2.5]));
        assert_eq!(a["grads"]["input"], json!([1.0, 1.0]));
        assert_eq!(a["shape"], json!([2]));
        let b = eval(json!({"loss": "huber_loss", "tensors": {"input": [3.0], "target": [0]}, "want_grads": false})).unwrap();
        assert_eq!(b["grads"], json!({}));
    }

    #[test]
    fn hostile_requests_are_refused_with_a_message() {
        let msg = |v: Value| eval(v).unwrap_err().0;
        assert!(eval_json(b"{not json").unwrap_err().0.starts_with("the request is not valid JSON"));
        assert!(eval_json(b"[1, 2]").unwrap_err().0.contains("must be a JSON object"));
        assert!(msg(json!({"loss": "msee_loss", "tensors": {}})).contains("did you mean torch:mse_loss"));
        assert!(msg(json!({"tensors": {}})).contains("`loss` must be a loss name"));
        assert!(msg(json!({"loss": "mse_loss", "tensors": {"input": [1], "target": [1]}, "extra": 1})).contains("unknown field `extra`"));
        assert!(msg(json!({"loss": "mse_loss", "tensors": {"input": [1, "nan"], "target": [0, 0]}})).contains("finite numbers only"));
        assert!(msg(json!({"loss": "mse_loss", "tensors": {"input": [[1, 2], [3]], "target": [0, 0]}})).contains("ragged"));
        assert!(msg(json!({"loss": "mse_loss", "tensors": {"input": [[1, 2], 3], "target": [0, 0]}})).contains("ragged"));
        assert!(msg(json!({"loss": "mse_loss", "tensors": {"input": vec![0.5; MAX_ELEMENTS + 1], "target": [0]}})).contains("at most 65536"));
        let half = vec![0.5; MAX_ELEMENTS / 2 + 1];
        assert!(msg(json!({"loss": "mse_loss", "tensors": {"input": half.clone(), "target": half}})).contains("over all its tensors"));
        assert!(msg(json!({"loss": "mse_loss", "tensors": {"input": [[[[[[[[[1]]]]]]]]], "target": [0]}})).contains("deeper than 8"));
        assert!(msg(json!({"loss": "mse_loss", "tensors": {"input": [1], "weight": [1]}})).contains("has no tensor `weight`"));
        assert!(msg(json!({"loss": "mse_loss", "tensors": {"input": [1, 2], "target": [1, 2, 3]}})).contains("shape"));
        assert!(msg(json!({"loss": "cross_entropy", "tensors": {"input": [[1, 2]], "target": {"dtype": "int64", "data": [0.5]}}})).contains("expected an integer"));
        assert!(msg(json!({"loss": "cross_entropy", "tensors": {"input": [[1, 2]], "target": [7]}})).contains("7"));
        assert!(msg(json!({"loss": "huber_loss", "tensors": {"input": [1], "target": [1]}, "options": {"delta": -1}})).contains("delta"));
        assert!(msg(json!({"loss": "huber_loss", "tensors": {"input": [1], "target": [1]}, "reduction": "average"})).contains("reduction"));
        assert!(msg(json!({"loss": "huber_loss", "tensors": {"input": [1], "target": [1]}, "dtype": "float16"})).contains("dtype"));
        assert!(eval_json(br#"{"loss": "mse_loss", "tensors": {"input": [1e999], "target": [0]}}"#).is_err());
    }
}

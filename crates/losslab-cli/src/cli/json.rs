//! Tensors as JSON: numbers, nested arrays, and non-finite values as strings.

use losslab_registry::Tensor;
use serde_json::Value;

/// The largest number of elements [`tensor_value`] writes out.
pub const MAX_JSON_ELEMENTS: usize = 100_000;

/// A float as JSON: a number, or `"nan"`, `"inf"`, `"-inf"`.
pub fn float_value(v: f64) -> Value {
    if v.is_nan() {
        Value::from("nan")
    } else if v.is_infinite() {
        Value::from(if v > 0.0 { "inf" } else { "-inf" })
    } else {
        Value::from(v)
    }
}

/// An `f32` as JSON, written with the fewest digits that identify it
/// (`0.1`, not `0.10000000149011612`).
pub fn f32_value(v: f32) -> Value {
    if v.is_finite() {
        // The shortest decimal that round-trips to `v`, read back as an f64.
        float_value(v.to_string().parse::<f64>().unwrap_or(f64::from(v)))
    } else {
        float_value(f64::from(v))
    }
}

/// A tensor as JSON: a number for a 0-d tensor, nested arrays otherwise;
/// `None` when it has more than [`MAX_JSON_ELEMENTS`] elements.
///
/// # Examples
/// ```
/// use losslab_cli::cli::json::tensor_value;
/// use losslab_registry::Tensor;
/// let t = Tensor::F64(ndarray::arr2(&[[1.0, f64::NAN], [f64::INFINITY, -0.5]]).into_dyn());
/// assert_eq!(tensor_value(&t).unwrap().to_string(), r#"[[1.0,"nan"],["inf",-0.5]]"#);
/// ```
pub fn tensor_value(t: &Tensor) -> Option<Value> {
    if t.len() > MAX_JSON_ELEMENTS {
        return None;
    }
    let flat: Vec<Value> = match t {
        Tensor::F32(a) => a.iter().map(|&v| f32_value(v)).collect(),
        Tensor::F64(a) => a.iter().map(|&v| float_value(v)).collect(),
        Tensor::I64(a) => a.iter().map(|&v| Value::from(v)).collect(),
    };
    Some(nest(t.shape(), &mut flat.into_iter()))
}

fn nest(shape: &[usize], items: &mut impl Iterator<Item = Value>) -> Value {
    match shape.split_first() {
        None => items.next().expect("as many items as the shape holds"),
        Some((&n, rest)) => Value::Array((0..n).map(|_| nest(rest, items)).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr0, ArrayD, IxDyn};

    #[test]
    fn scalars_and_shapes() {
        assert_eq!(tensor_value(&Tensor::F32(arr0(0.1f32).into_dyn())).unwrap().to_string(), "0.1");
        assert_eq!(tensor_value(&Tensor::F64(arr0(f64::NEG_INFINITY).into_dyn())).unwrap(), Value::from("-inf"));
        assert_eq!(tensor_value(&Tensor::F64(ArrayD::zeros(IxDyn(&[2, 0])))).unwrap().to_string(), "[[],[]]");
        assert_eq!(tensor_value(&Tensor::I64(ArrayD::zeros(IxDyn(&[1, 2])))).unwrap().to_string(), "[[0,0]]");
        assert!(tensor_value(&Tensor::F32(ArrayD::zeros(IxDyn(&[MAX_JSON_ELEMENTS + 1])))).is_none());
        assert!(tensor_value(&Tensor::F32(ArrayD::zeros(IxDyn(&[MAX_JSON_ELEMENTS])))).is_some());
    }

    #[test]
    fn f32_shortest_repr_round_trips() {
        for v in [0.1f32, 1.0 / 3.0, f32::MIN_POSITIVE, f32::MAX, -7.25e-12, 16_777_217.0] {
            let Value::Number(n) = f32_value(v) else { panic!() };
            assert_eq!(n.as_f64().unwrap() as f32, v);
        }
    }
}

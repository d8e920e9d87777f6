//! Helpers of the tests: deterministic data, tensors of either float type, comparisons.
#![allow(dead_code)]

use burn::tensor::{DType, Device, Int, Tensor, TensorData};

/// `n` numbers in [-scale, scale), from `seed` (xorshift: the same on every machine).
pub fn numbers(n: usize, seed: u64, scale: f64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// Class indices in [0, classes).
pub fn classes(n: usize, classes: usize, seed: u64) -> Vec<i64> {
    numbers(n, seed, 1.0).iter().map(|v| (((v + 1.0) / 2.0 * classes as f64) as i64).min(classes as i64 - 1)).collect()
}

/// A float tensor of `dtype` (F32 or F64) holding `values`.
pub fn float<const D: usize>(values: &[f64], shape: [usize; D], dtype: DType, device: &Device) -> Tensor<D> {
    let data = match dtype {
        DType::F32 => TensorData::new(values.iter().map(|&v| v as f32).collect::<Vec<_>>(), shape),
        DType::F64 => TensorData::new(values.to_vec(), shape),
        d => panic!("{d:?}"),
    };
    Tensor::from_data(data, (device, dtype))
}

pub fn ints<const D: usize>(values: &[i64], shape: [usize; D], device: &Device) -> Tensor<D, Int> {
    Tensor::from_data(TensorData::new(values.to_vec(), shape), device)
}

/// The elements, widened to f64.
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().try_into_vec_as::<f64>().expect("float data")
}

/// `|a − b| ≤ tol · max(1, |b|)` element-wise.
#[track_caller]
pub fn assert_close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * y.abs().max(1.0), "{what}[{i}]: {x} vs {y} (tolerance {tol})\n{a:?}\n{b:?}");
    }
}

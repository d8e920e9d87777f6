//! Trains a small MLP on the digits shipped in the repository (data/digits.csv:
//! scikit-learn's 8x8 handwritten digits) with burn's SGD (momentum 0.9), twice
//! from the same initialisation and batches: once with losslab's cross entropy
//! (`losslab_burn::cross_entropy`, the fused kernel inside burn's autograd) and
//! once with burn's own `CrossEntropyLoss`. Prints the loss of each epoch for
//! both, the largest relative difference of the two curves, the test accuracy
//! and the time per loss call (forward + backward of the loss alone).
//!
//!     cargo run --release -p losslab-burn --example train_digits_burn -- [--epochs 30] [--dtype f32|f64]

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::module::Param;
use burn::nn::{Linear, Relu};
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use std::time::{Duration, Instant};

#[derive(Module, Debug)]
struct Mlp {
    hidden: Linear,
    activation: Relu,
    output: Linear,
}

impl Mlp {
    /// PyTorch's (and burn's) default initialisation, U(−k, k) with k = 1/√fan_in,
    /// from a fixed generator: both runs start from the same parameters.
    fn new(dtype: DType, device: &Device) -> Self {
        Mlp { hidden: linear(64, 64, 1, dtype, device), activation: Relu::new(), output: linear(64, 10, 2, dtype, device) }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.output.forward(self.activation.forward(self.hidden.forward(x)))
    }
}

fn linear(d_in: usize, d_out: usize, seed: u64, dtype: DType, device: &Device) -> Linear {
    let k = 1.0 / (d_in as f64).sqrt();
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut uniform = |n: usize| -> Vec<f64> {
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * k
            })
            .collect()
    };
    let weight = floats(&uniform(d_in * d_out), [d_in, d_out], dtype, device);
    let bias = floats(&uniform(d_out), [d_out], dtype, device);
    Linear { weight: Param::from_tensor(weight), bias: Some(Param::from_tensor(bias)) }
}

struct Split {
    x: Vec<f64>,
    y: Vec<i64>,
}

/// The 1797 digits, shuffled (a fixed permutation), split 1400 / 397.
fn load_digits() -> (Split, Split) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/digits.csv");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut rows: Vec<(Vec<f64>, i64)> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let v: Vec<f64> = l.split(',').map(|s| s.trim().parse().expect("a number")).collect();
            (v[..64].iter().map(|p| p / 16.0).collect(), v[64] as i64)
        })
        .collect();
    shuffle(&mut rows, 0);
    let split = |rows: &[(Vec<f64>, i64)]| Split { x: rows.iter().flat_map(|r| r.0.iter().copied()).collect(), y: rows.iter().map(|r| r.1).collect() };
    let (train, test) = rows.split_at(1400);
    (split(train), split(test))
}

/// Fisher–Yates with a xorshift generator: the same order on every machine.
fn shuffle<T>(v: &mut [T], seed: u64) {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x2545_F491_4F6C_DD1D;
    for i in (1..v.len()).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        v.swap(i, (s % (i as u64 + 1)) as usize);
    }
}

fn floats<const D: usize>(v: &[f64], shape: [usize; D], dtype: DType, device: &Device) -> Tensor<D> {
    let data = match dtype {
        DType::F64 => TensorData::new(v.to_vec(), shape),
        _ => TensorData::new(v.iter().map(|&x| x as f32).collect::<Vec<_>>(), shape),
    };
    Tensor::from_data(data, (device, dtype))
}

struct Run {
    curve: Vec<f64>,
    accuracy: f64,
    per_call: Duration,
}

fn train(ours: bool, train_set: &Split, test_set: &Split, epochs: usize, dtype: DType) -> Run {
    let device = losslab_burn::device();
    let mut model = Mlp::new(dtype, &device);
    let mut optim = SgdConfig::new().with_momentum(Some(MomentumConfig::new().with_momentum(0.9).with_dampening(0.0))).init();
    let burn_ce = CrossEntropyLossConfig::new().init(&device);
    let (n, batch) = (train_set.y.len(), 64);
    let (mut curve, mut loss_time, mut calls) = (Vec::new(), Duration::ZERO, 0u32);
    for epoch in 0..epochs {
        let mut order: Vec<usize> = (0..n).collect();
        shuffle(&mut order, epoch as u64 + 1);
        let mut total = 0.0;
        for chunk in order.chunks(batch) {
            let xb: Vec<f64> = chunk.iter().flat_map(|&i| train_set.x[i * 64..(i + 1) * 64].iter().copied()).collect();
            let yb: Vec<i64> = chunk.iter().map(|&i| train_set.y[i]).collect();
            let x = floats(&xb, [chunk.len(), 64], dtype, &device);
            let y = Tensor::<1, Int>::from_data(TensorData::new(yb, [chunk.len()]), &device);
            let logits = model.forward(x);
            // The loss call alone, forward + backward, on a leaf copy of the logits.
            let leaf = logits.clone().detach().require_grad();
            let t0 = Instant::now();
            let loss: Tensor<1> = if ours {
                losslab_burn::cross_entropy(leaf.clone(), y, &losslab_burn::CrossEntropyOptions::default()).expect("valid batch")
            } else {
                burn_ce.forward(leaf.clone(), y)
            };
            let leaf_grads = loss.backward();
            let g = leaf.grad(&leaf_grads).expect("a gradient");
            loss_time += t0.elapsed();
            calls += 1;
            total += loss.into_data().try_into_vec_as::<f64>().expect("a number")[0] * chunk.len() as f64;
            // Through the model: the logits' gradient as the upstream gradient.
            let grads = GradientsParams::from_grads((logits * g).sum().backward(), &model);
            model = optim.step(0.1, model, grads);
        }
        curve.push(total / n as f64);
    }
    let logits = model.forward(floats(&test_set.x, [test_set.y.len(), 64], dtype, &device));
    let pred: Vec<i64> = logits.argmax(1).into_data().try_into_vec_as::<i64>().expect("ints");
    let correct = pred.iter().zip(&test_set.y).filter(|(a, b)| a == b).count();
    Run { curve, accuracy: correct as f64 / test_set.y.len() as f64, per_call: loss_time / calls.max(1) }
}

fn main() {
    let mut epochs = 30;
    let mut dtype = DType::F32;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--epochs" => epochs = args.next().and_then(|v| v.parse().ok()).expect("--epochs N"),
            "--dtype" => {
                dtype = match args.next().as_deref() {
                    Some("f32" | "float32") => DType::F32,
                    Some("f64" | "float64") => DType::F64,
                    other => panic!("--dtype f32|f64, not {other:?}"),
                }
            }
            other => panic!("unknown argument {other} (--epochs N, --dtype f32|f64)"),
        }
    }
    let (train_set, test_set) = load_digits();
    let ours = train(true, &train_set, &test_set, epochs, dtype);
    let theirs = train(false, &train_set, &test_set, epochs, dtype);
    println!("epoch  losslab      burn");
    for (e, (a, b)) in ours.curve.iter().zip(&theirs.curve).enumerate() {
        println!("{:5}  {a:.8}  {b:.8}", e + 1);
    }
    let diff = ours.curve.iter().zip(&theirs.curve).map(|(a, b)| (a - b).abs() / b.abs().max(1e-12)).fold(0.0, f64::max);
    println!("largest relative difference of the loss curves: {diff:.2e}");
    println!("test accuracy: losslab {:.4}, burn {:.4}", ours.accuracy, theirs.accuracy);
    println!(
        "time per loss call (forward + backward, batch 64 x 10): losslab {:.1} us, burn {:.1} us",
        ours.per_call.as_secs_f64() * 1e6,
        theirs.per_call.as_secs_f64() * 1e6
    );
    let tol = if dtype == DType::F64 { 1e-9 } else { 1e-3 };
    assert!(diff < tol, "the curves differ by {diff:.2e} (tolerance {tol:.0e})");
}

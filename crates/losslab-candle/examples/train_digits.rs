//! Trains a small classifier (64 → 64 → 10, ReLU) on the digits shipped in the
//! repository (`data/digits.csv`: scikit-learn's 8×8 handwritten digits) with
//! candle-nn's SGD, twice from the same initial weights and batches: once with
//! losslab's cross entropy (`losslab_candle::cross_entropy`, the fused kernel)
//! and once with candle-nn's own (`candle_nn::loss::cross_entropy`). Prints the
//! loss of each epoch for both, the largest relative difference of the two
//! curves, the test accuracy and the time of each loss call (forward +
//! backward of the loss alone, on a leaf copy of the logits).
//!
//! ```sh
//! cargo run --release -p losslab-candle --example train_digits_candle [-- --epochs 30 --dtype f32|f64]
//! ```

use candle_core::{DType, Device, Result, Tensor, Var, D};
use candle_nn::{Linear, Module, Optimizer, SGD};
use losslab_candle::{cross_entropy, CrossEntropyOptions};
use std::time::{Duration, Instant};

const DIGITS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/digits.csv");
const N_TRAIN: usize = 1400;
const BATCH: usize = 64;

/// A small deterministic generator (SplitMix64) for the weights and the batches.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize
    }
    fn shuffle(&mut self, v: &mut [usize]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

/// The digits: pixels scaled to [0, 1] and labels, shuffled, split into a
/// training set of 1400 images and a test set of the other 397.
fn load(dtype: DType) -> Result<((Tensor, Tensor), (Tensor, Tensor))> {
    let text = std::fs::read_to_string(DIGITS).map_err(|e| candle_core::Error::Msg(format!("{DIGITS}: {e}")))?;
    let mut rows: Vec<(Vec<f64>, u32)> = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let v: Vec<f64> = line.split(',').map(|s| s.trim().parse::<f64>().expect("a number")).collect();
        rows.push((v[..64].iter().map(|p| p / 16.0).collect(), v[64] as u32));
    }
    let mut order: Vec<usize> = (0..rows.len()).collect();
    Rng(0).shuffle(&mut order);
    let part = |idx: &[usize]| -> Result<(Tensor, Tensor)> {
        let x: Vec<f64> = idx.iter().flat_map(|&i| rows[i].0.iter().copied()).collect();
        let y: Vec<u32> = idx.iter().map(|&i| rows[i].1).collect();
        Ok((Tensor::from_vec(x, (idx.len(), 64), &Device::Cpu)?.to_dtype(dtype)?, Tensor::from_vec(y, idx.len(), &Device::Cpu)?))
    };
    Ok((part(&order[..N_TRAIN])?, part(&order[N_TRAIN..])?))
}

struct Mlp {
    l1: Linear,
    l2: Linear,
    vars: Vec<Var>,
}

impl Mlp {
    /// PyTorch's default initialisation: uniform in ±1/√fan_in.
    fn new(seed: u64, dtype: DType) -> Result<Mlp> {
        let mut rng = Rng(seed);
        let mut param = |shape: &[usize], fan_in: usize| -> Result<Var> {
            let n: usize = shape.iter().product();
            let bound = 1.0 / (fan_in as f64).sqrt();
            let v: Vec<f64> = (0..n).map(|_| (2.0 * rng.unit() - 1.0) * bound).collect();
            Var::from_tensor(&Tensor::from_vec(v, shape, &Device::Cpu)?.to_dtype(dtype)?)
        };
        let vars = vec![param(&[64, 64], 64)?, param(&[64], 64)?, param(&[10, 64], 64)?, param(&[10], 64)?];
        let l1 = Linear::new(vars[0].as_tensor().clone(), Some(vars[1].as_tensor().clone()));
        let l2 = Linear::new(vars[2].as_tensor().clone(), Some(vars[3].as_tensor().clone()));
        Ok(Mlp { l1, l2, vars })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.l2.forward(&self.l1.forward(x)?.relu()?)
    }
}

/// Which cross entropy a run uses.
#[derive(Clone, Copy)]
enum Loss {
    Losslab,
    CandleNn,
}

impl Loss {
    fn call(self, logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
        match self {
            Loss::Losslab => cross_entropy(logits, labels, &CrossEntropyOptions::default()),
            Loss::CandleNn => candle_nn::loss::cross_entropy(logits, labels),
        }
    }
}

/// Trains from seed 1's weights; returns the loss of each epoch (the mean over
/// the samples), the test accuracy and the mean time of a loss call.
fn train(loss: Loss, train: &(Tensor, Tensor), test: &(Tensor, Tensor), epochs: usize, dtype: DType) -> Result<(Vec<f64>, f64, Duration)> {
    let model = Mlp::new(1, dtype)?;
    let mut opt = SGD::new(model.vars.clone(), 0.2)?;
    let mut batches = Rng(2);
    let (x, y) = train;
    let (mut loss_time, mut calls) = (Duration::ZERO, 0u32);
    let mut curve = Vec::with_capacity(epochs);
    for _ in 0..epochs {
        let mut order: Vec<usize> = (0..N_TRAIN).collect();
        batches.shuffle(&mut order);
        let mut total = 0.0;
        for idx in order.chunks(BATCH) {
            let idx = Tensor::from_vec(idx.iter().map(|&i| i as u32).collect::<Vec<_>>(), idx.len(), &Device::Cpu)?;
            let (xb, yb) = (x.index_select(&idx, 0)?, y.index_select(&idx, 0)?);
            let logits = model.forward(&xb)?;
            // The loss alone, timed, on a leaf copy of the logits; then its
            // gradient carried into the model: Σ logits · ∂loss/∂logits.
            let leaf = Var::from_tensor(&logits.detach())?;
            let t0 = Instant::now();
            let l = loss.call(leaf.as_tensor(), &yb)?;
            let g = l.backward()?;
            loss_time += t0.elapsed();
            calls += 1;
            let dlogits = g.get(&leaf).expect("the gradient of the logits").detach();
            opt.backward_step(&(logits * dlogits)?.sum_all()?)?;
            total += l.to_dtype(DType::F64)?.to_scalar::<f64>()? * idx.dim(0)? as f64;
        }
        curve.push(total / N_TRAIN as f64);
    }
    let pred = model.forward(&test.0)?.argmax(D::Minus1)?;
    let correct = pred.eq(&test.1)?.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?;
    Ok((curve, correct / test.1.dim(0)? as f64, loss_time / calls))
}

fn main() -> Result<()> {
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
                    other => panic!("--dtype f32 or f64, not {other:?}"),
                }
            }
            other => panic!("unknown argument {other} (expected --epochs N, --dtype f32|f64)"),
        }
    }
    let (train_set, test_set) = load(dtype)?;
    let (ours, acc_ours, t_ours) = train(Loss::Losslab, &train_set, &test_set, epochs, dtype)?;
    let (theirs, acc_theirs, t_theirs) = train(Loss::CandleNn, &train_set, &test_set, epochs, dtype)?;
    println!("epoch  losslab      candle-nn");
    for (e, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        println!("{:5}  {a:.8}  {b:.8}", e + 1);
    }
    let diff = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs() / b.abs().max(1e-12)).fold(0.0, f64::max);
    println!("largest relative difference of the loss curves: {diff:.2e}");
    println!("test accuracy: losslab {acc_ours:.4}, candle-nn {acc_theirs:.4}");
    println!(
        "time per loss call (forward + backward, batch {BATCH} x 10): losslab {:.1} us, candle-nn {:.1} us",
        t_ours.as_secs_f64() * 1e6,
        t_theirs.as_secs_f64() * 1e6
    );
    let tol = if dtype == DType::F32 { 1e-4 } else { 1e-9 };
    if diff > tol {
        eprintln!("the loss curves differ by {diff:.2e} > {tol:.0e}");
        std::process::exit(1);
    }
    println!("the loss curves agree");
    Ok(())
}

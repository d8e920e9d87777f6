//! losslab beside its Rust peers, `candle-nn` and `burn` (ndarray backend), on
//! the same `f32` inputs in one process: softmax cross entropy with class-index
//! targets (mean over the rows) and MSE (mean), forward and forward + backward;
//! and losslab's adapters, `losslab-candle` and `losslab-burn`, forward +
//! backward through each framework's own autograd, beside the Rust kernel.
//!
//! Before anything is timed, each peer's loss must equal losslab's to a relative
//! 1e-4 (MSE over more than 10⁶ elements: 1e-3, over more than 10⁷: 5e-2, as the
//! peers accumulate the mean in f32 and lose digits there; losslab's is checked
//! against an f64 mean) and
//! its gradient losslab's to 1e-4 of the largest gradient element, so that like
//! is compared with like. The adapters run the kernel itself: their loss and
//! gradient must equal the kernel's exactly.
//!
//! Two more functions time what the candle adapter cannot avoid: `losslab_fwd_bwd_fresh`
//! is the kernel writing into a newly allocated gradient (as an adapter must, to
//! hand the framework a new tensor, unless it can reuse one; `losslab_fwd_bwd`
//! reuses one buffer), and `candle_zeros_add` is what candle's backprop does
//! with every gradient an operation returns (`GradStore::or_insert`: a zeros
//! tensor, then `add`). The burn adapter reuses its gradient buffers once burn
//! has dropped them (`losslab_burn::release_buffers`);
//! `burn_adapter_unpooled_fwd_bwd` drops them after each call, as the adapter
//! was before it kept them.
//!
//! ```sh
//! RAYON_NUM_THREADS=2 cargo bench -p losslab-bench --bench peers
//! # other shapes, another MSE size (0 skips MSE), longer measurement:
//! LOSSLAB_PEERS_SHAPES=1024x32000,65536x1000 LOSSLAB_PEERS_MSE=10000000 LOSSLAB_PEERS_SECS=10 \
//!   cargo bench -p losslab-bench --bench peers
//! # then the table of medians and ratios:
//! cargo run --release -p losslab-bench
//! ```
//!
//! Every library here runs on rayon's global pool (candle and burn's ndarray
//! backend read `RAYON_NUM_THREADS` as well), so `RAYON_NUM_THREADS` sets the
//! thread count of all three.
//!
//! Criterion's groups are `ce_{rows}x{classes}` and `mse_{elements}`, its
//! functions `{library}_{fwd|fwd_bwd|fwd_bwd_inplace|fwd_bwd_fresh}` (libraries
//! `losslab`, `candle`, `burn`, `candle_adapter`, `burn_adapter`, `burn_adapter_unpooled`) and
//! `candle_zeros_add`; the throughput is in elements (logits, or input
//! elements) per second.

use std::hint::black_box;
use std::time::Duration;

use burn::nn::loss::{CrossEntropyLossConfig, MseLoss as BurnMse, Reduction as BurnReduction};
use burn::tensor::{DType, Device as BDevice, Int, Tensor, TensorData};
use candle_core::{Device, Tensor as CTensor, Var};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput};
use losslab::{CrossEntropyLoss, MseLoss, Reduction};
use ndarray::{Array1, Array2};

/// The allocator the `losslab` command installs, for every library here alike:
/// large blocks (the gradients each forward + backward allocates, candle's
/// zeros and sums) on huge pages.
#[global_allocator]
static GLOBAL: losslab::alloc::HugePages = losslab::alloc::HugePages;

/// The cross entropy shapes timed by default (issue 15's): a language model's
/// vocabulary over 8192 rows, a thousand classes, and ten classes over a
/// million rows; 2.6 × 10⁸, 6.6 × 10⁷ and 10⁷ logits.
const DEFAULT_SHAPES: &str = "8192x32000,65536x1000,1048576x10";
/// The MSE size timed by default.
const DEFAULT_MSE: usize = 100_000_000;

/// Deterministic values uniform in [-4, 4) (xorshift64), the same for every library.
fn fill(v: &mut [f32], seed: u64) {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for x in v {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        *x = ((s >> 11) as f64 / (1u64 << 53) as f64 * 8.0 - 4.0) as f32;
    }
}

fn parse_shapes(spec: &str) -> Vec<(usize, usize)> {
    spec.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            let (n, c) = s.trim().split_once('x').unwrap_or_else(|| panic!("LOSSLAB_PEERS_SHAPES: `{s}` is not ROWSxCLASSES"));
            let p = |t: &str| t.parse::<usize>().unwrap_or_else(|_| panic!("LOSSLAB_PEERS_SHAPES: `{t}` in `{s}` is not a count"));
            (p(n), p(c))
        })
        .collect()
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name}: `{v}` is not a count")))
}

/// Asserts `peer`'s loss (to a relative `tol`) and gradient against losslab's and prints the differences.
fn check(what: &str, tol: f64, ours: f32, peer: f32, g_ours: &[f32], g_peer: &[f32]) {
    let rel = ((peer as f64 - ours as f64) / ours as f64).abs();
    assert!(rel <= tol, "{what}: loss {peer} against losslab's {ours} (relative difference {rel:.2e} > {tol:.0e})");
    assert_eq!(g_ours.len(), g_peer.len(), "{what}: gradient length");
    let scale = g_ours.iter().fold(0f32, |m, g| m.max(g.abs())) as f64;
    let diff = g_ours.iter().zip(g_peer).fold(0f64, |m, (a, b)| m.max((*a as f64 - *b as f64).abs()));
    assert!(diff <= 1e-4 * scale, "{what}: gradient differs by {diff:.3e}, more than 1e-4 of its largest element {scale:.3e}");
    eprintln!("check {what}: loss {peer} (losslab {ours}, relative {rel:.1e}); gradient max difference {:.1e} of max |g|", diff / scale);
}

/// Asserts that an adapter's loss and gradient are the kernel's, exactly.
fn check_exact(what: &str, ours: f32, adapter: f32, g_ours: &[f32], g_adapter: &[f32]) {
    assert_eq!(ours, adapter, "{what}: the adapter's loss is not the kernel's");
    assert!(g_ours == g_adapter, "{what}: the adapter's gradient is not the kernel's");
    eprintln!("check {what}: loss {adapter} and gradient equal to the kernel's");
}

fn group<'a>(c: &'a mut Criterion, name: &str, elements: usize) -> BenchmarkGroup<'a, WallTime> {
    let secs = env_usize("LOSSLAB_PEERS_SECS", 3) as u64;
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(elements as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(secs));
    g
}

/// burn's NdArray device without autodiff (deprecated in burn 0.22 in favour of
/// burn-flex; the adapter's backend, so the peer is timed on it too).
#[allow(deprecated)]
fn burn_plain() -> BDevice {
    BDevice::ndarray()
}

fn burn_float<const D: usize>(v: Vec<f32>, shape: [usize; D], dev: &BDevice) -> Tensor<D> {
    Tensor::from_data(TensorData::new(v, shape), (dev, DType::F32))
}

fn burn_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("f32 data")
}

/// candle's backprop on a gradient `g` an operation returned: a zeros tensor
/// (`GradStore::or_insert`) and the sum (`*sum_grad = sum_grad.add(&g)`).
fn candle_accumulate(g: &CTensor) -> CTensor {
    let z = g.zeros_like().expect("candle zeros");
    z.add(g).expect("candle add")
}

fn cross_entropy(c: &mut Criterion, n: usize, k: usize) {
    let mut x = Array2::<f32>::zeros((n, k));
    fill(x.as_slice_mut().expect("standard layout"), 1);
    let y = Array1::from_shape_fn(n, |i| ((i as u64).wrapping_mul(2_654_435_761) % k as u64) as i64);
    let mut grad = Array2::<f32>::zeros((n, k));
    let ce = CrossEntropyLoss::new();
    let ours = ce.forward_backward_into(x.view(), y.view(), grad.view_mut()).expect("valid")[[]];
    let ours_fwd = ce.forward(x.view(), y.view()).expect("valid")[[]];
    assert_eq!(ours, ours_fwd, "losslab: forward and forward_backward_into give the same loss");
    // A new gradient each call (what an adapter hands its framework).
    let fresh = || {
        let mut g = Array2::<f32>::zeros((n, k));
        let v = ce.forward_backward_into(x.view(), y.view(), g.view_mut()).expect("valid");
        (v, g)
    };

    // candle: `loss::cross_entropy` (log_softmax, then nll), backward through a
    // `Var`; the adapter on the same `Var`.
    let cx = CTensor::from_vec(x.as_slice().expect("standard layout").to_vec(), (n, k), &Device::Cpu).expect("candle tensor");
    let cy = CTensor::from_vec(y.iter().map(|&t| t as u32).collect::<Vec<_>>(), n, &Device::Cpu).expect("candle tensor");
    let cv = Var::from_tensor(&cx).expect("candle var");
    let candle_fwd = |x: &CTensor| candle_nn::loss::cross_entropy(x, &cy).expect("candle cross_entropy");
    let candle_fb = || {
        let loss = candle_nn::loss::cross_entropy(cv.as_tensor(), &cy).expect("candle cross_entropy");
        let grads = loss.backward().expect("candle backward");
        let g = grads.get(cv.as_tensor()).expect("candle gradient").clone();
        (loss, g)
    };
    let cce = losslab_candle::CrossEntropyOptions::default();
    let candle_adapter_fb = || {
        let loss = losslab_candle::cross_entropy(cv.as_tensor(), &cy, &cce).expect("losslab-candle cross_entropy");
        let grads = loss.backward().expect("candle backward");
        let g = grads.get(cv.as_tensor()).expect("candle gradient").clone();
        (loss, g)
    };
    let cg = {
        let v = candle_fwd(&cx).to_scalar::<f32>().expect("scalar");
        let (l, g) = candle_fb();
        let lv = l.to_scalar::<f32>().expect("scalar");
        assert_eq!(v, lv);
        let g = g.flatten_all().and_then(|t| t.to_vec1::<f32>()).expect("candle gradient");
        check(&format!("candle cross_entropy {n}x{k}"), 1e-4, ours, lv, grad.as_slice().unwrap(), &g);
        let (l, g) = candle_adapter_fb();
        let lv = l.to_scalar::<f32>().expect("scalar");
        let gv = g.flatten_all().and_then(|t| t.to_vec1::<f32>()).expect("candle gradient");
        check_exact(&format!("losslab-candle cross_entropy {n}x{k}"), ours, lv, grad.as_slice().unwrap(), &gv);
        g
    };

    // burn: `CrossEntropyLoss` on the ndarray backend (forward), under autodiff
    // (forward + backward); the adapter on the same autodiff tensors.
    let plain = burn_plain();
    let ad = losslab_burn::device();
    let bce = CrossEntropyLossConfig::new().init(&plain);
    let ace = CrossEntropyLossConfig::new().init(&ad);
    let bx = burn_float(x.as_slice().unwrap().to_vec(), [n, k], &plain);
    let by = Tensor::<1, Int>::from_data(TensorData::new(y.to_vec(), [n]), &plain);
    let ax = burn_float(x.as_slice().unwrap().to_vec(), [n, k], &ad).require_grad();
    let ay = Tensor::<1, Int>::from_data(TensorData::new(y.to_vec(), [n]), &ad);
    let burn_fwd = || bce.forward(bx.clone(), by.clone());
    let burn_fb = || {
        let loss = ace.forward(ax.clone(), ay.clone());
        let grads = loss.backward();
        let g = ax.grad(&grads).expect("burn gradient");
        (loss, g)
    };
    let bco = losslab_burn::CrossEntropyOptions::default();
    let burn_adapter_fb = || {
        let loss: Tensor<1> = losslab_burn::cross_entropy(ax.clone(), ay.clone(), &bco).expect("losslab-burn cross_entropy");
        let grads = loss.backward();
        let g = ax.grad(&grads).expect("burn gradient");
        (loss, g)
    };
    // The adapter as it was before it kept its gradient buffers: each call's
    // gradient in memory new to the process.
    let burn_adapter_unpooled_fb = || {
        let r = burn_adapter_fb();
        losslab_burn::release_buffers();
        r
    };
    {
        let v = burn_vec(burn_fwd())[0];
        let (l, g) = burn_fb();
        let lv = burn_vec(l)[0];
        assert!(((v - lv) / v).abs() < 1e-6, "burn: forward {v} and autodiff forward {lv}");
        check(&format!("burn CrossEntropyLoss {n}x{k}"), 1e-4, ours, lv, grad.as_slice().unwrap(), &burn_vec(g));
        let (l, g) = burn_adapter_fb();
        check_exact(&format!("losslab-burn cross_entropy {n}x{k}"), ours, burn_vec(l)[0], grad.as_slice().unwrap(), &burn_vec(g));
    }

    let mut g = group(c, &format!("ce_{n}x{k}"), n * k);
    g.bench_function("losslab_fwd", |b| b.iter(|| black_box(ce.forward(x.view(), y.view()).expect("valid"))));
    g.bench_function("losslab_fwd_bwd", |b| {
        b.iter(|| black_box(ce.forward_backward_into(x.view(), y.view(), grad.view_mut()).expect("valid")))
    });
    g.bench_function("losslab_fwd_bwd_fresh", |b| b.iter(|| black_box(fresh())));
    g.bench_function("candle_adapter_fwd_bwd", |b| b.iter(|| black_box(candle_adapter_fb())));
    g.bench_function("candle_zeros_add", |b| b.iter(|| black_box(candle_accumulate(&cg))));
    g.bench_function("burn_adapter_fwd_bwd", |b| b.iter(|| black_box(burn_adapter_fb())));
    g.bench_function("burn_adapter_unpooled_fwd_bwd", |b| b.iter(|| black_box(burn_adapter_unpooled_fb())));
    g.bench_function("candle_fwd", |b| b.iter(|| black_box(candle_fwd(&cx).to_scalar::<f32>().expect("scalar"))));
    g.bench_function("candle_fwd_bwd", |b| b.iter(|| black_box(candle_fb())));
    g.bench_function("burn_fwd", |b| b.iter(|| black_box(burn_fwd().into_scalar::<f32>())));
    g.bench_function("burn_fwd_bwd", |b| b.iter(|| black_box(burn_fb())));
    drop((cx, cv, cg, bx, ax));
    // In place over the logits: each run's gradient is the next run's logits (as
    // `losslab bench` does); the kernel's work does not depend on the values.
    let mut xi = x;
    drop(grad);
    g.bench_function("losslab_fwd_bwd_inplace", |b| {
        b.iter(|| black_box(ce.forward_backward_inplace(xi.view_mut(), y.view()).expect("valid")))
    });
    g.finish();
}

fn mse(c: &mut Criterion, n: usize) {
    let mut x = Array1::<f32>::zeros(n);
    fill(x.as_slice_mut().unwrap(), 1);
    let mut t = Array1::<f32>::zeros(n);
    fill(t.as_slice_mut().unwrap(), 3);
    let mut grad = Array1::<f32>::zeros(n);
    let l = MseLoss::new();
    let ours = l.forward_backward_into(x.view(), t.view(), grad.view_mut()).expect("valid")[[]];
    assert_eq!(ours, l.forward(x.view(), t.view()).expect("valid")[[]]);
    let (xs, ts) = (x.as_slice().unwrap(), t.as_slice().unwrap());
    // The mean in f64, to show which side a difference in the loss comes from.
    let exact = xs.iter().zip(ts).map(|(a, b)| (*a as f64 - *b as f64).powi(2)).sum::<f64>() / n as f64;
    assert!(((ours as f64 - exact) / exact).abs() <= 1e-6, "losslab mse {ours} against the f64 mean {exact}");
    eprintln!("check losslab mse {n}: loss {ours}, the f64 mean {exact}");
    // The peers sum the squares in f32 (burn naively), which over 10⁷ elements
    // costs them up to about 10⁻³ relative (burn measured 7 × 10⁻⁴ at 10⁷), and
    // over 10⁸ more (candle measured 2.3 × 10⁻³ and burn 1.7 × 10⁻² at 10⁸): the
    // loss is checked to that; the gradient, element by element, to 10⁻⁴.
    let tol = match n {
        0..=1_000_000 => 1e-4,
        1_000_001..=10_000_000 => 1e-3,
        _ => 5e-2,
    };
    let fresh = || {
        let mut g = Array1::<f32>::zeros(n);
        let v = l.forward_backward_into(x.view(), t.view(), g.view_mut()).expect("valid");
        (v, g)
    };

    // candle: `loss::mse`; the adapter's `mse` on the same `Var`.
    let cx = CTensor::from_vec(xs.to_vec(), n, &Device::Cpu).expect("candle tensor");
    let ct = CTensor::from_vec(ts.to_vec(), n, &Device::Cpu).expect("candle tensor");
    let cv = Var::from_tensor(&cx).expect("candle var");
    let candle_fb = || {
        let loss = candle_nn::loss::mse(cv.as_tensor(), &ct).expect("candle mse");
        let grads = loss.backward().expect("candle backward");
        let g = grads.get(cv.as_tensor()).expect("candle gradient").clone();
        (loss, g)
    };
    let candle_adapter_fb = || {
        let loss = losslab_candle::mse(cv.as_tensor(), &ct, Reduction::Mean).expect("losslab-candle mse");
        let grads = loss.backward().expect("candle backward");
        let g = grads.get(cv.as_tensor()).expect("candle gradient").clone();
        (loss, g)
    };
    let cg = {
        let (loss, g) = candle_fb();
        let g = g.to_vec1::<f32>().expect("candle gradient");
        check(&format!("candle mse {n}"), tol, ours, loss.to_scalar::<f32>().unwrap(), grad.as_slice().unwrap(), &g);
        let (loss, g) = candle_adapter_fb();
        let gv = g.to_vec1::<f32>().expect("candle gradient");
        check_exact(&format!("losslab-candle mse {n}"), ours, loss.to_scalar::<f32>().unwrap(), grad.as_slice().unwrap(), &gv);
        g
    };

    // burn: `MseLoss` with `Reduction::Mean`; the adapter's `mse` on the same tensors.
    let plain = burn_plain();
    let ad = losslab_burn::device();
    let bx = burn_float(xs.to_vec(), [n], &plain);
    let bt = burn_float(ts.to_vec(), [n], &plain);
    let ax = burn_float(xs.to_vec(), [n], &ad).require_grad();
    let at = burn_float(ts.to_vec(), [n], &ad);
    let bm = BurnMse::new();
    let burn_fb = || {
        let loss = bm.forward(ax.clone(), at.clone(), BurnReduction::Mean);
        let grads = loss.backward();
        let g = ax.grad(&grads).expect("burn gradient");
        (loss, g)
    };
    let burn_adapter_fb = || {
        let loss: Tensor<1> = losslab_burn::mse(ax.clone(), at.clone(), Reduction::Mean).expect("losslab-burn mse");
        let grads = loss.backward();
        let g = ax.grad(&grads).expect("burn gradient");
        (loss, g)
    };
    // The adapter as it was before it kept its gradient buffers: each call's
    // gradient in memory new to the process.
    let burn_adapter_unpooled_fb = || {
        let r = burn_adapter_fb();
        losslab_burn::release_buffers();
        r
    };
    {
        let (loss, g) = burn_fb();
        check(&format!("burn MseLoss {n}"), tol, ours, burn_vec(loss)[0], grad.as_slice().unwrap(), &burn_vec(g));
        let (loss, g) = burn_adapter_fb();
        check_exact(&format!("losslab-burn mse {n}"), ours, burn_vec(loss)[0], grad.as_slice().unwrap(), &burn_vec(g));
    }

    let mut g = group(c, &format!("mse_{n}"), n);
    g.bench_function("losslab_fwd", |b| b.iter(|| black_box(l.forward(x.view(), t.view()).expect("valid"))));
    g.bench_function("losslab_fwd_bwd", |b| {
        b.iter(|| black_box(l.forward_backward_into(x.view(), t.view(), grad.view_mut()).expect("valid")))
    });
    g.bench_function("losslab_fwd_bwd_fresh", |b| b.iter(|| black_box(fresh())));
    g.bench_function("candle_adapter_fwd_bwd", |b| b.iter(|| black_box(candle_adapter_fb())));
    g.bench_function("candle_zeros_add", |b| b.iter(|| black_box(candle_accumulate(&cg))));
    g.bench_function("burn_adapter_fwd_bwd", |b| b.iter(|| black_box(burn_adapter_fb())));
    g.bench_function("burn_adapter_unpooled_fwd_bwd", |b| b.iter(|| black_box(burn_adapter_unpooled_fb())));
    g.bench_function("candle_fwd", |b| {
        b.iter(|| black_box(candle_nn::loss::mse(&cx, &ct).expect("candle mse").to_scalar::<f32>().unwrap()))
    });
    g.bench_function("candle_fwd_bwd", |b| b.iter(|| black_box(candle_fb())));
    g.bench_function("burn_fwd", |b| b.iter(|| black_box(bm.forward(bx.clone(), bt.clone(), BurnReduction::Mean).into_scalar::<f32>())));
    g.bench_function("burn_fwd_bwd", |b| b.iter(|| black_box(burn_fb())));
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    eprintln!(
        "losslab-bench peers: {} rayon threads, losslab kernels: {}",
        rayon::current_num_threads(),
        losslab::kernel_isa()
    );
    let shapes = std::env::var("LOSSLAB_PEERS_SHAPES").unwrap_or_else(|_| DEFAULT_SHAPES.to_string());
    for (n, k) in parse_shapes(&shapes) {
        cross_entropy(&mut c, n, k);
    }
    let m = env_usize("LOSSLAB_PEERS_MSE", DEFAULT_MSE);
    if m > 0 {
        mse(&mut c, m);
    }
    c.final_summary();
}

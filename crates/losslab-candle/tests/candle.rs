//! losslab-candle against candle-nn's own composed losses (values and
//! gradients through candle's autograd), against the registry for every loss
//! of the catalog, against finite differences where candle-nn has no such
//! loss; 16-bit logits, strided tensors, errors, and a few steps of training.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{Module, Optimizer};
use losslab_candle::{
    binary_cross_entropy_with_logits, cross_entropy, huber, kl_div, l1, loss, mse, nll, smooth_l1, BceWithLogitsOptions,
    CrossEntropyOptions, LossOptions, NllOptions, Reduction,
};
use losslab_registry as reg;

type Result<T> = candle_core::Result<T>;

const CPU: Device = Device::Cpu;

/// Deterministic pseudo-random numbers (a 64-bit LCG).
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Roughly normal, scaled.
    fn normal(&mut self, scale: f64) -> f64 {
        (self.unit() + self.unit() + self.unit() - 1.5) * 2.0 * scale
    }
    fn tensor(&mut self, shape: &[usize], scale: f64, dtype: DType) -> Tensor {
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|_| self.normal(scale)).collect();
        Tensor::from_vec(v, shape, &CPU).unwrap().to_dtype(dtype).unwrap()
    }
    fn classes(&mut self, n: usize, c: usize) -> Tensor {
        let v: Vec<u32> = (0..n).map(|_| (self.unit() * c as f64) as u32).collect();
        Tensor::from_vec(v, n, &CPU).unwrap()
    }
}

fn f64s(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap()
}

/// Asserts `|a − b| ≤ tol · max(1, |b|)` elementwise.
#[track_caller]
fn close(a: &Tensor, b: &Tensor, tol: f64, what: &str) {
    assert_eq!(a.dims(), b.dims(), "{what}: shapes");
    for (i, (x, y)) in f64s(a).iter().zip(f64s(b)).enumerate() {
        assert!((x - y).abs() <= tol * y.abs().max(1.0), "{what}[{i}]: {x} vs {y}");
    }
}

fn grad(g: &candle_core::backprop::GradStore, v: &Var) -> Tensor {
    g.get(v).expect("a gradient").clone()
}

/// A candle tensor as a registry tensor (for the registry's own evaluation).
fn to_registry(t: &Tensor) -> reg::Tensor {
    let shape = ndarray::IxDyn(t.dims());
    match t.dtype() {
        DType::F64 => reg::Tensor::F64(ndarray::ArrayD::from_shape_vec(shape, t.flatten_all().unwrap().to_vec1::<f64>().unwrap()).unwrap()),
        DType::F32 => reg::Tensor::F32(ndarray::ArrayD::from_shape_vec(shape, t.flatten_all().unwrap().to_vec1::<f32>().unwrap()).unwrap()),
        _ => {
            let v = t.to_dtype(DType::I64).unwrap().flatten_all().unwrap().to_vec1::<i64>().unwrap();
            reg::Tensor::I64(ndarray::ArrayD::from_shape_vec(shape, v).unwrap())
        }
    }
}

fn from_registry(t: &reg::Tensor) -> Tensor {
    match t {
        reg::Tensor::F64(a) => Tensor::from_vec(a.iter().copied().collect::<Vec<_>>(), a.shape(), &CPU).unwrap(),
        reg::Tensor::F32(a) => Tensor::from_vec(a.iter().copied().collect::<Vec<_>>(), a.shape(), &CPU).unwrap(),
        reg::Tensor::I64(a) => Tensor::from_vec(a.iter().copied().collect::<Vec<_>>(), a.shape(), &CPU).unwrap(),
    }
}

// ---- against candle-nn

#[test]
fn cross_entropy_equals_candle_nn_in_value_and_gradient() -> Result<()> {
    let mut rng = Rng(1);
    for (dtype, tol) in [(DType::F32, 1e-6), (DType::F64, 1e-13)] {
        for (n, c) in [(1, 2), (8, 5), (64, 10), (3, 1000)] {
            let x = Var::from_tensor(&rng.tensor(&[n, c], 3.0, dtype))?;
            let t = rng.classes(n, c);
            let ours = cross_entropy(x.as_tensor(), &t, &CrossEntropyOptions::default())?;
            let theirs = candle_nn::loss::cross_entropy(x.as_tensor(), &t)?;
            close(&ours, &theirs, tol, "value");
            close(&grad(&ours.backward()?, &x), &grad(&theirs.backward()?, &x), tol, "gradient");
            // The upstream gradient scales the fused gradient.
            let ours3 = (cross_entropy(x.as_tensor(), &t, &CrossEntropyOptions::default())? * 3.0)?;
            let theirs3 = (candle_nn::loss::cross_entropy(x.as_tensor(), &t)? * 3.0)?;
            close(&grad(&ours3.backward()?, &x), &grad(&theirs3.backward()?, &x), tol, "scaled gradient");
        }
    }
    Ok(())
}

#[test]
fn nll_mse_huber_and_bce_equal_candle_nn() -> Result<()> {
    let mut rng = Rng(2);
    for (dtype, tol) in [(DType::F32, 1e-5), (DType::F64, 1e-12)] {
        // nll on log-probabilities (candle-nn's composed log-softmax).
        let z = Var::from_tensor(&rng.tensor(&[6, 4], 2.0, dtype))?;
        let lp = candle_nn::ops::log_softmax(z.as_tensor(), 1)?;
        let t = rng.classes(6, 4);
        let ours = nll(&lp, &t, &NllOptions::default())?;
        let theirs = candle_nn::loss::nll(&lp, &t)?;
        close(&ours, &theirs, tol, "nll");
        close(&grad(&ours.backward()?, &z), &grad(&theirs.backward()?, &z), tol, "nll gradient");

        // Regression losses: both arguments are differentiated.
        let x = Var::from_tensor(&rng.tensor(&[5, 3], 1.5, dtype))?;
        let y = Var::from_tensor(&rng.tensor(&[5, 3], 1.5, dtype))?;
        let pairs: [(&str, Tensor, Tensor); 2] = [
            ("mse", mse(&x, &y, Reduction::Mean)?, candle_nn::loss::mse(&x, &y)?),
            ("huber", huber(&x, &y, 0.7, Reduction::Mean)?, candle_nn::loss::huber(&x, &y, 0.7)?),
        ];
        for (name, ours, theirs) in pairs {
            close(&ours, &theirs, tol, name);
            let (go, gt) = (ours.backward()?, theirs.backward()?);
            close(&grad(&go, &x), &grad(&gt, &x), tol, name);
            close(&grad(&go, &y), &grad(&gt, &y), tol, name);
        }

        // BCE with logits on moderate logits, targets in [0, 1] (both differentiated).
        let x = Var::from_tensor(&rng.tensor(&[4, 3], 2.0, dtype))?;
        let y = Var::from_tensor(&(rng.tensor(&[4, 3], 1.0, DType::F64).affine(0.2, 0.5)?.to_dtype(dtype)?))?;
        let ours = binary_cross_entropy_with_logits(&x, &y, &BceWithLogitsOptions::default())?;
        let theirs = candle_nn::loss::binary_cross_entropy_with_logit(&x, &y)?;
        close(&ours, &theirs, tol * 10.0, "bce");
        let (go, gt) = (ours.backward()?, theirs.backward()?);
        close(&grad(&go, &x), &grad(&gt, &x), tol * 10.0, "bce input");
        close(&grad(&go, &y), &grad(&gt, &y), tol * 10.0, "bce target");
    }
    // Large logits: losslab's is exact where candle-nn's composition overflows (candle issue 2561).
    let x = Var::new(&[100.0f32, -100.0], &CPU)?;
    let y = Tensor::new(&[0.0f32, 1.0], &CPU)?;
    let ours = binary_cross_entropy_with_logits(&x, &y, &BceWithLogitsOptions::default())?;
    assert_eq!(ours.to_scalar::<f32>()?, 100.0);
    assert_eq!(grad(&ours.backward()?, &x).to_vec1::<f32>()?, [0.5, -0.5]);
    assert!(!candle_nn::loss::binary_cross_entropy_with_logit(&x, &y)?.to_scalar::<f32>()?.is_finite());
    Ok(())
}

// ---- cross entropy's options, 16-bit logits, layouts

#[test]
fn cross_entropy_options_equal_the_registry_for_any_upstream_gradient() -> Result<()> {
    let mut rng = Rng(3);
    let (n, c) = (7, 4);
    let x = Var::from_tensor(&rng.tensor(&[n, c], 2.0, DType::F64))?;
    let t = Tensor::new(&[0i64, 3, 2, 2, 1, 0, 2], &CPU)?; // class 2 ignored below
    let w = Tensor::new(&[0.5f64, 2.0, 1.0, 1.5], &CPU)?;
    let up = rng.tensor(&[n], 1.0, DType::F64);
    for reduction in [Reduction::None, Reduction::Mean, Reduction::Sum] {
        let options = CrossEntropyOptions { weight: Some(w.clone()), ignore_index: 2, reduction, label_smoothing: 0.1 };
        let v = cross_entropy(x.as_tensor(), &t, &options)?;
        let s = if reduction == Reduction::None { (&v * &up)?.sum_all()? } else { (&v * 2.5)? };
        let g = grad(&s.backward()?, &x);

        let mut request = reg::EvalRequest { want_grads: true, reduction: Some(reduction), ..Default::default() };
        request.tensors.insert("input".into(), to_registry(x.as_tensor()).into());
        request.tensors.insert("target".into(), to_registry(&t).into());
        request.tensors.insert("weight".into(), to_registry(&w).into());
        request.options.insert("ignore_index".into(), reg::OptionValue::Int(2));
        request.options.insert("label_smoothing".into(), reg::OptionValue::Float(0.1));
        request.grad_output =
            Some(if reduction == Reduction::None { to_registry(&up) } else { reg::Tensor::F64(ndarray::arr0(2.5).into_dyn()) }.into());
        let e = reg::evaluate("torch:cross_entropy", request).unwrap();
        close(&v, &from_registry(&e.value), 1e-14, "value");
        close(&g, &from_registry(&e.grads["input"]), 1e-14, "gradient");
    }
    // Class probabilities go through the registry: the targets get their gradient too.
    let p = Var::from_tensor(&candle_nn::ops::softmax(&rng.tensor(&[n, c], 1.0, DType::F64), 1)?)?;
    let v = cross_entropy(x.as_tensor(), p.as_tensor(), &CrossEntropyOptions::default())?;
    let g = v.backward()?;
    assert_eq!(grad(&g, &p).dims(), &[n, c]);
    // Any integer type of class indices.
    let a = cross_entropy(x.as_tensor(), &Tensor::new(&[0u8, 3, 2, 2, 1, 0, 2], &CPU)?, &CrossEntropyOptions::default())?;
    let b = cross_entropy(x.as_tensor(), &Tensor::new(&[0u32, 3, 2, 2, 1, 0, 2], &CPU)?, &CrossEntropyOptions::default())?;
    assert_eq!(a.to_scalar::<f64>()?, b.to_scalar::<f64>()?);
    Ok(())
}

/// `(N, C, d)` logits (the kernel's general path) and a `(C,)` input with a
/// 0-d target: the registry's values and gradients, per-sample upstream
/// gradients on the class axis 1.
#[test]
fn cross_entropy_of_any_rank_equals_the_registry() -> Result<()> {
    let mut rng = Rng(12);
    let cases = [
        (rng.tensor(&[3, 4, 5], 2.0, DType::F64), Tensor::new(&[[0i64, 1, 2, 3, 0], [3, 3, 1, -100, 2], [1, 0, 0, 2, 3]], &CPU)?),
        (rng.tensor(&[4], 2.0, DType::F64), Tensor::new(2i64, &CPU)?),
    ];
    for (x, t) in cases {
        let x = Var::from_tensor(&x)?;
        for reduction in [Reduction::None, Reduction::Mean, Reduction::Sum] {
            let v = cross_entropy(x.as_tensor(), &t, &CrossEntropyOptions { reduction, label_smoothing: 0.05, ..Default::default() })?;
            let up = if v.rank() == 0 { Tensor::new(-1.5f64, &CPU)? } else { rng.tensor(v.dims(), 1.0, DType::F64) };
            let g = grad(&(&v * &up)?.sum_all()?.backward()?, &x);
            let mut request = reg::EvalRequest { want_grads: true, reduction: Some(reduction), ..Default::default() };
            request.tensors.insert("input".into(), to_registry(x.as_tensor()).into());
            request.tensors.insert("target".into(), to_registry(&t).into());
            request.options.insert("label_smoothing".into(), reg::OptionValue::Float(0.05));
            request.grad_output = Some(to_registry(&up).into());
            let e = reg::evaluate("torch:cross_entropy", request).unwrap();
            close(&v, &from_registry(&e.value), 1e-14, "value");
            close(&g, &from_registry(&e.grads["input"]), 1e-14, "gradient");
        }
    }
    Ok(())
}

#[test]
fn bf16_and_f16_cross_entropy_agree_with_f32() -> Result<()> {
    let mut rng = Rng(4);
    let (n, c) = (16, 10);
    let base = rng.tensor(&[n, c], 3.0, DType::F32);
    let t = rng.classes(n, c);
    let up = rng.tensor(&[n], 1.0, DType::F32);
    for (half, rel) in [(DType::BF16, 1.0 / 128.0), (DType::F16, 1.0 / 1024.0)] {
        let xh = Var::from_tensor(&base.to_dtype(half)?)?;
        let x32 = Var::from_tensor(&xh.to_dtype(DType::F32)?)?; // the same values in f32
        for reduction in [Reduction::Mean, Reduction::None] {
            let o = CrossEntropyOptions { reduction, ..Default::default() };
            let (vh, v32) = (cross_entropy(xh.as_tensor(), &t, &o)?, cross_entropy(x32.as_tensor(), &t, &o)?);
            assert_eq!(vh.dtype(), DType::F32, "the value of 16-bit logits is f32");
            close(&vh, &v32, 1e-6, "value");
            let (sh, s32) = if reduction == Reduction::None { ((&vh * &up)?.sum_all()?, (&v32 * &up)?.sum_all()?) } else { (vh, v32) };
            let (gh, g32) = (grad(&sh.backward()?, &xh), grad(&s32.backward()?, &x32));
            assert_eq!(gh.dtype(), half);
            for (a, b) in f64s(&gh).iter().zip(f64s(&g32)) {
                assert!((a - b).abs() <= rel * b.abs() + 1e-7, "{half:?} {reduction:?}: {a} vs {b}");
            }
        }
    }
    // By name: the same fused kernel.
    let xh = Var::from_tensor(&base.to_dtype(DType::BF16)?)?;
    let o = LossOptions::new().set("label_smoothing", 0.1).set("ignore_index", 3);
    let a = loss("cross_entropy", &[("input", xh.as_tensor()), ("target", &t)], &o)?;
    let typed = CrossEntropyOptions { label_smoothing: 0.1, ignore_index: 3, ..Default::default() };
    let b = cross_entropy(xh.as_tensor(), &t, &typed)?;
    assert_eq!(a.to_scalar::<f32>()?, b.to_scalar::<f32>()?);
    assert_eq!(f64s(&grad(&a.backward()?, &xh)), f64s(&grad(&b.backward()?, &xh)));
    // 16-bit inputs on the general path: computed in f32, gradients narrowed back.
    let x = Var::from_tensor(&base.to_dtype(DType::BF16)?)?;
    let y = base.affine(0.5, 0.1)?;
    let v = mse(&x, &y, Reduction::Mean)?;
    assert_eq!(v.dtype(), DType::F32);
    assert_eq!(grad(&v.backward()?, &x).dtype(), DType::BF16);
    Ok(())
}

#[test]
fn strided_tensors_are_made_contiguous_and_get_their_gradients() -> Result<()> {
    let mut rng = Rng(5);
    // Logits stored class-major: the (N, C) logits are a transposed view.
    let xt = Var::from_tensor(&rng.tensor(&[5, 9], 2.0, DType::F32))?;
    let logits = xt.t()?;
    assert!(!logits.is_contiguous());
    let t = rng.classes(9, 5);
    let v = cross_entropy(&logits, &t, &CrossEntropyOptions::default())?;
    let want = candle_nn::loss::cross_entropy(&logits.contiguous()?, &t)?;
    close(&v, &want, 1e-6, "value");
    let (g, gw) = (grad(&v.backward()?, &xt), grad(&want.backward()?, &xt));
    assert_eq!(g.dims(), &[5, 9]);
    close(&g, &gw, 1e-6, "gradient");

    // Rows 1..4 of a larger tensor: contiguous, at an offset in its storage.
    let big = Var::from_tensor(&rng.tensor(&[6, 5], 2.0, DType::F32))?;
    let rows = big.narrow(0, 1, 3)?;
    assert!(rows.is_contiguous());
    let t3 = rng.classes(3, 5);
    let v = cross_entropy(&rows, &t3, &CrossEntropyOptions::default())?;
    let want = candle_nn::loss::cross_entropy(&rows, &t3)?;
    close(&v, &want, 1e-6, "value at an offset");
    close(&grad(&v.backward()?, &big), &grad(&want.backward()?, &big), 1e-6, "gradient at an offset");

    // The general path: a narrowed, transposed input and a broadcast target.
    let a = Var::from_tensor(&rng.tensor(&[4, 6], 1.0, DType::F64))?;
    let x = a.narrow(1, 1, 3)?.t()?; // (3, 4), strided
    let y = Tensor::new(&[0.5f64, -0.5, 1.0, 0.0], &CPU)?.broadcast_as((3, 4))?; // stride 0
    let v = mse(&x, &y, Reduction::Sum)?;
    let want = candle_nn::loss::mse(&x.contiguous()?, &y.contiguous()?)?.affine(12.0, 0.0)?;
    close(&v, &want, 1e-12, "value");
    close(&grad(&v.backward()?, &a), &grad(&want.backward()?, &a), 1e-12, "gradient");
    Ok(())
}

#[test]
fn a_second_backward_recomputes_the_gradient() -> Result<()> {
    let mut rng = Rng(6);
    let x = Var::from_tensor(&rng.tensor(&[4, 3], 1.0, DType::F64))?;
    let t = rng.classes(4, 3);
    let v = cross_entropy(x.as_tensor(), &t, &CrossEntropyOptions::default())?;
    let g1 = grad(&v.backward()?, &x);
    let g2 = grad(&v.backward()?, &x);
    close(&g1, &g2, 0.0, "cross entropy");
    let y = rng.tensor(&[4, 3], 1.0, DType::F64);
    let v = l1(&x, &y, Reduction::Mean)?;
    let g1 = grad(&v.backward()?, &x);
    let g2 = grad(&v.backward()?, &x);
    close(&g1, &g2, 0.0, "l1");
    Ok(())
}

/// Upstream gradients from `sum_all` and `mean_all` (a constant, broadcast back
/// over the unreduced loss) reach the registry's backward and the fused one.
#[test]
fn upstream_gradients_of_sum_all_and_mean_all() -> Result<()> {
    let mut rng = Rng(13);
    let y_true = rng.tensor(&[4, 3], 1.0, DType::F64);
    let y_pred = Var::from_tensor(&rng.tensor(&[4, 3], 1.0, DType::F64))?;
    let h = || loss("keras:hinge", &[("y_true", &y_true), ("y_pred", y_pred.as_tensor())], &LossOptions::new());
    let by_sum = grad(&h()?.sum_all()?.backward()?, &y_pred);
    let by_weights = grad(&(h()? * Tensor::ones(4, DType::F64, &CPU)?)?.sum_all()?.backward()?, &y_pred);
    close(&by_sum, &by_weights, 0.0, "hinge, sum_all");
    let by_mean = grad(&h()?.mean_all()?.backward()?, &y_pred);
    close(&by_mean, &(by_sum / 4.0)?, 1e-15, "hinge, mean_all");

    let x = Var::from_tensor(&rng.tensor(&[4, 3], 1.0, DType::F64))?;
    let t = rng.classes(4, 3);
    let none = CrossEntropyOptions { reduction: Reduction::None, ..Default::default() };
    let a = grad(&cross_entropy(x.as_tensor(), &t, &none)?.mean_all()?.backward()?, &x);
    let b = grad(&cross_entropy(x.as_tensor(), &t, &CrossEntropyOptions::default())?.backward()?, &x);
    close(&a, &b, 1e-15, "cross entropy, mean_all of the unreduced loss");
    Ok(())
}

// ---- every loss of the catalog, and finite differences

/// Every loss of the registry through `loss`: the registry's value, and its
/// gradients for an upstream gradient (random for an unreduced result, 2.5
/// for a scalar one) for every tensor it differentiates.
#[test]
fn every_loss_of_the_catalog_equals_the_registry() -> Result<()> {
    let mut rng = Rng(7);
    let mut checked = 0;
    for spec in reg::catalog() {
        let q = spec.qualified_name();
        let r = reg::samples::recipe(spec).unwrap();
        let dims: Vec<usize> =
            r.default.iter().zip(r.min).enumerate().map(|(i, (&d, &m))| if i == r.batch { m.max(3) } else { d.min(12).max(m) }).collect();
        let inputs = reg::samples::sample_inputs(spec, &dims, reg::Dtype::Float64, 5).unwrap();
        let options = reg::samples::sample_options(spec);
        let mut lo = LossOptions::new();
        for (k, v) in &options {
            lo = lo.set(k, *v);
        }
        let tensors: Vec<(&str, Tensor)> = inputs.iter().map(|(n, t)| (*n, from_registry(t))).collect();
        let vars: Vec<(&str, Var)> = tensors
            .iter()
            .filter(|(n, t)| spec.grads.contains(n) && t.dtype().is_float())
            .map(|(n, t)| (*n, Var::from_tensor(t).unwrap()))
            .collect();
        let args: Vec<(&str, &Tensor)> =
            tensors.iter().map(|(n, t)| (*n, vars.iter().find(|(m, _)| m == n).map_or(t, |(_, v)| v.as_tensor()))).collect();
        let v = loss(&q, &args, &lo).unwrap_or_else(|e| panic!("{q}: {e}"));
        let up = if v.rank() == 0 { Tensor::new(2.5f64, &CPU)? } else { rng.tensor(v.dims(), 1.0, DType::F64) };
        let g = (&v * &up)?.sum_all()?.backward()?;

        let request = reg::EvalRequest {
            tensors: inputs.into_iter().map(|(n, t)| (n.to_string(), t.into())).collect(),
            options,
            grad_output: Some(to_registry(&up).into()),
            want_grads: true,
            ..Default::default()
        };
        let e = spec.evaluate(request).unwrap();
        close(&v, &from_registry(&e.value), 1e-13, &format!("{q} value"));
        for (n, var) in &vars {
            let want = from_registry(&e.grads[*n]);
            close(&grad(&g, var), &want, 1e-12, &format!("{q} gradient of {n}"));
        }
        checked += 1;
    }
    assert_eq!(checked, reg::catalog().len());
    Ok(())
}

/// `Σ w · loss` differentiated by candle against central differences of the
/// same function in f64, for losses candle-nn does not have.
fn finite_differences(name: &str, tensors: &[(&str, Tensor, bool)], options: &LossOptions) -> Result<()> {
    let vars: Vec<Option<Var>> = tensors.iter().map(|(_, t, d)| d.then(|| Var::from_tensor(t).unwrap())).collect();
    let args: Vec<(&str, &Tensor)> =
        tensors.iter().zip(&vars).map(|((n, t, _), v)| (*n, v.as_ref().map_or(t, |v| v.as_tensor()))).collect();
    let v = loss(name, &args, options)?;
    let w = Rng(99).tensor(v.dims(), 1.0, DType::F64);
    let g = (&v * &w)?.sum_all()?.backward()?;
    let f = |ts: &[(&str, &Tensor)]| -> f64 { (loss(name, ts, options).unwrap() * &w).unwrap().sum_all().unwrap().to_scalar::<f64>().unwrap() };
    let h = 1e-6;
    for (k, var) in vars.iter().enumerate() {
        let Some(var) = var else { continue };
        let analytic = f64s(&grad(&g, var));
        let base = f64s(var.as_tensor());
        for i in 0..base.len() {
            let at = |d: f64| {
                let mut p = base.clone();
                p[i] += d;
                Tensor::from_vec(p, var.dims(), &CPU).unwrap()
            };
            let (plus, minus) = (at(h), at(-h));
            let mut ts = args.clone();
            ts[k].1 = &plus;
            let fp = f(&ts);
            ts[k].1 = &minus;
            let fm = f(&ts);
            let numeric = (fp - fm) / (2.0 * h);
            assert!((analytic[i] - numeric).abs() <= 1e-6 * numeric.abs().max(1.0), "{name} `{}`[{i}]: {} vs {numeric}", tensors[k].0, analytic[i]);
        }
    }
    Ok(())
}

#[test]
fn losses_candle_nn_lacks_match_finite_differences() -> Result<()> {
    let mut rng = Rng(8);
    let f = DType::F64;
    let none = LossOptions::new().reduction(Reduction::None);
    // Keras's hinge: one value per sample (no reduction argument), both tensors differentiated.
    finite_differences("keras:hinge", &[("y_true", rng.tensor(&[4, 3], 1.0, f), true), ("y_pred", rng.tensor(&[4, 3], 1.0, f), true)], &LossOptions::new())?;
    // PyTorch's KL divergence, with log targets, unreduced.
    let lp = candle_nn::ops::log_softmax(&rng.tensor(&[3, 4], 1.0, f), 1)?;
    let lq = candle_nn::ops::log_softmax(&rng.tensor(&[3, 4], 1.0, f), 1)?;
    finite_differences("torch:kl_div", &[("input", lp.clone(), true), ("target", lq.clone(), true)], &none.clone().set("log_target", true))?;
    let v = kl_div(&lp, &lq.exp()?, false, Reduction::BatchMean)?;
    assert!(v.to_scalar::<f64>()? > 0.0);
    // Multi-class margin, p = 2, with class weights, mean.
    let t = Tensor::new(&[0i64, 2, 1, 3, 2], &CPU)?;
    let wt = Tensor::new(&[1.0f64, 0.5, 2.0, 1.5], &CPU)?;
    finite_differences(
        "torch:multi_margin_loss",
        &[("input", rng.tensor(&[5, 4], 1.0, f), true), ("target", t, false), ("weight", wt, false)],
        &LossOptions::new().set("p", 2).set("margin", 0.8),
    )?;
    // The LM head (issue 16): input, linear_weight and linear_bias differentiated, with a z-loss,
    // a soft-cap and label smoothing.
    finite_differences(
        "torch:linear_cross_entropy",
        &[
            ("input", rng.tensor(&[5, 3], 1.0, f), true),
            ("linear_weight", rng.tensor(&[7, 3], 0.5, f), true),
            ("linear_bias", rng.tensor(&[7], 0.5, f), true),
            ("target", Tensor::new(&[0i64, 6, -100, 3, 2], &CPU)?, false),
        ],
        &LossOptions::new().set("lse_square_scale", 0.01).set("softcap", 2.5).set("label_smoothing", 0.1),
    )?;
    // Three differentiated tensors (a CustomOp3): the Gaussian NLL and the triplet margin loss.
    finite_differences(
        "torch:gaussian_nll_loss",
        &[("input", rng.tensor(&[6], 1.0, f), true), ("target", rng.tensor(&[6], 1.0, f), true), ("var", rng.tensor(&[6], 0.3, f).abs()?.affine(1.0, 0.2)?, true)],
        &none,
    )?;
    finite_differences(
        "torch:triplet_margin_loss",
        &[("anchor", rng.tensor(&[3, 5], 1.0, f), true), ("positive", rng.tensor(&[3, 5], 1.0, f), true), ("negative", rng.tensor(&[3, 5], 1.0, f), true)],
        &none,
    )?;
    // TensorFlow's sigmoid cross entropy and smooth L1 (beta) by name and typed.
    finite_differences(
        "tf:sigmoid_cross_entropy_with_logits",
        &[("labels", rng.tensor(&[7], 0.3, f).affine(1.0, 0.5)?, true), ("logits", rng.tensor(&[7], 3.0, f), true)],
        &LossOptions::new(),
    )?;
    let x = Var::from_tensor(&rng.tensor(&[5], 1.0, f))?;
    let y = rng.tensor(&[5], 1.0, f);
    let a = smooth_l1(&x, &y, 0.5, Reduction::Sum)?;
    let b = loss("smooth_l1_loss", &[("input", x.as_tensor()), ("target", &y)], &LossOptions::new().set("beta", 0.5).reduction(Reduction::Sum))?;
    assert_eq!(a.to_scalar::<f64>()?, b.to_scalar::<f64>()?);
    Ok(())
}

// ---- errors

#[test]
fn bad_inputs_are_errors_with_losslab_s_message() -> Result<()> {
    let x = Var::new(&[[1.0f32, 2.0, 3.0], [0.0, 0.0, 0.0]], &CPU)?;
    let err = |r: Result<Tensor>| r.map(|_| ()).unwrap_err().to_string();
    let ce = CrossEntropyOptions::default();

    let e = err(cross_entropy(x.as_tensor(), &Tensor::new(&[0u32, 7], &CPU)?, &ce));
    assert!(e.contains("cross_entropy") && e.contains('7'), "{e}");
    let e = err(cross_entropy(x.as_tensor(), &Tensor::new(&[0u32, 1, 2], &CPU)?, &ce));
    assert!(e.contains("cross_entropy") && e.contains("shape"), "{e}");
    let e = err(cross_entropy(&Tensor::new(&[[1u32, 2]], &CPU)?, &Tensor::new(&[0u32], &CPU)?, &ce));
    assert_eq!(e, "torch:cross_entropy: `input` has dtype u32, expected float32, float64, bfloat16 or float16 logits");
    let bad = CrossEntropyOptions { label_smoothing: 1.5, ..Default::default() };
    let e = err(cross_entropy(x.as_tensor(), &Tensor::new(&[0u32, 1], &CPU)?, &bad));
    assert!(e.contains("label_smoothing"), "{e}");
    let bad = CrossEntropyOptions { weight: Some(Tensor::new(&[1.0f32, 2.0], &CPU)?), ..Default::default() };
    let e = err(cross_entropy(x.as_tensor(), &Tensor::new(&[0u32, 1], &CPU)?, &bad));
    assert!(e.contains("weight"), "{e}");

    let y = Tensor::new(&[[1.0f32, 0.0, 1.0], [0.0, 1.0, 0.0]], &CPU)?;
    let e = err(loss("keras:hinge", &[("y_true", &y)], &LossOptions::new()));
    assert!(e.contains("keras:hinge needs tensor `y_pred`"), "{e}");
    let e = err(loss("keras:hinge", &[("y_true", &y), ("y_pred", x.as_tensor()), ("logits", &y)], &LossOptions::new()));
    assert!(e.contains("keras:hinge has no tensor `logits`"), "{e}");
    let e = err(loss("keras:hinge", &[("y_true", &y), ("y_true", x.as_tensor())], &LossOptions::new()));
    assert_eq!(e, "keras:hinge: tensor `y_true` is given twice");
    let e = err(loss("torch:smooth_l1_loss", &[("input", x.as_tensor()), ("target", &y)], &LossOptions::new().set("beta", true)));
    assert!(e.contains("option `beta`"), "{e}");
    let e = err(loss("torch:smooth_l1_loss", &[("input", x.as_tensor()), ("target", &y)], &LossOptions::new().set("bta", 1.0)));
    assert!(e.contains("has no option `bta`"), "{e}");
    let e = err(loss("torch:triplet_margin_with_distance_loss", &[("anchor", &y)], &LossOptions::new().set("distance", "not a name")));
    assert!(e.contains("option `distance`"), "{e}");
    let e = err(mse(x.as_tensor(), &Tensor::new(&[1.0f32, 2.0], &CPU)?.reshape((2, 1))?.repeat((1, 2))?, Reduction::Mean));
    assert!(e.contains("mse_loss") && e.contains("shape"), "{e}");
    let e = err(mse(x.as_tensor(), &y.to_dtype(DType::F64)?, Reduction::Mean));
    assert!(e.contains("float32") && e.contains("float64"), "{e}");
    let e = err(loss("torch:msee_loss", &[("input", x.as_tensor())], &LossOptions::new()));
    assert!(e.contains("did you mean torch:mse_loss"), "{e}");
    Ok(())
}

// ---- training

/// A two-layer perceptron, its weights as `Var`s.
struct Mlp {
    l1: candle_nn::Linear,
    l2: candle_nn::Linear,
    vars: Vec<Var>,
}

impl Mlp {
    fn new(rng: &mut Rng, sizes: (usize, usize, usize), dtype: DType) -> Mlp {
        let (i, h, o) = sizes;
        let vars: Vec<Var> = [rng.tensor(&[h, i], 0.4, dtype), rng.tensor(&[h], 0.1, dtype), rng.tensor(&[o, h], 0.4, dtype), rng.tensor(&[o], 0.1, dtype)]
            .iter()
            .map(|t| Var::from_tensor(t).unwrap())
            .collect();
        let l1 = candle_nn::Linear::new(vars[0].as_tensor().clone(), Some(vars[1].as_tensor().clone()));
        let l2 = candle_nn::Linear::new(vars[2].as_tensor().clone(), Some(vars[3].as_tensor().clone()));
        Mlp { l1, l2, vars }
    }
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.l2.forward(&self.l1.forward(x)?.relu()?)
    }
}

#[test]
fn sgd_steps_give_the_parameters_candle_nn_s_loss_gives() -> Result<()> {
    for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
        let mut data = Rng(10);
        let x = data.tensor(&[32, 8], 1.0, dtype);
        let t = data.classes(32, 3);
        let ours = Mlp::new(&mut Rng(11), (8, 16, 3), dtype);
        let theirs = Mlp::new(&mut Rng(11), (8, 16, 3), dtype);
        let mut opt_ours = candle_nn::SGD::new(ours.vars.clone(), 0.5)?;
        let mut opt_theirs = candle_nn::SGD::new(theirs.vars.clone(), 0.5)?;
        for _ in 0..5 {
            let a = cross_entropy(&ours.forward(&x)?, &t, &CrossEntropyOptions::default())?;
            let b = candle_nn::loss::cross_entropy(&theirs.forward(&x)?, &t)?;
            close(&a, &b, tol, "loss");
            opt_ours.backward_step(&a)?;
            opt_theirs.backward_step(&b)?;
        }
        for (a, b) in ours.vars.iter().zip(&theirs.vars) {
            close(a.as_tensor(), b.as_tensor(), tol, "parameters");
        }
    }
    Ok(())
}

/// `mse` of two tensors of one shape, reduced, runs the fused kernel: the same
/// value and gradients (the target's included, for an upstream gradient other
/// than 1) as the registry's general path, and no gradient for an untracked target.
#[test]
fn fused_mse_equals_the_registry_s_path() -> Result<()> {
    let mut rng = Rng(11);
    for (dtype, tol) in [(DType::F32, 1e-6), (DType::F64, 1e-12)] {
        for reduction in [Reduction::Mean, Reduction::Sum] {
            let x = Var::from_tensor(&rng.tensor(&[4, 5], 1.0, dtype))?;
            let y = Var::from_tensor(&rng.tensor(&[4, 5], 1.0, dtype))?;
            let fused = mse(x.as_tensor(), y.as_tensor(), reduction)?;
            let o = LossOptions::new().reduction(reduction);
            let general = loss("torch:mse_loss", &[("input", x.as_tensor()), ("target", y.as_tensor())], &o)?;
            close(&fused, &general, tol, "value");
            let (gf, gg) = ((fused * 3.0)?.backward()?, (general * 3.0)?.backward()?);
            close(&grad(&gf, &x), &grad(&gg, &x), tol, "input gradient");
            close(&grad(&gf, &y), &grad(&gg, &y), tol, "target gradient");
            // An untracked target: the input's gradient only.
            let g = mse(x.as_tensor(), &y.as_tensor().detach(), reduction)?.backward()?;
            close(&grad(&g, &x), &grad(&gg, &x).affine(1.0 / 3.0, 0.0)?, tol, "input gradient, untracked target");
            assert!(g.get(y.as_tensor()).is_none());
        }
    }
    Ok(())
}

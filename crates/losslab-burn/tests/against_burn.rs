//! losslab's losses and gradients through burn's autograd equal burn's own
//! composed losses (`burn::nn::loss`), in f32 and f64.

mod common;

use burn::nn::loss::{BinaryCrossEntropyLossConfig, CrossEntropyLossConfig, HuberLossConfig, MseLoss, Reduction as BurnReduction};
use burn::tensor::activation::log_softmax;
use burn::tensor::{DType, Tensor};
use common::{assert_close, classes, float, ints, numbers, values};
use losslab_burn::{CrossEntropyOptions, Reduction};

const DTYPES: [(DType, f64); 2] = [(DType::F32, 2e-5), (DType::F64, 1e-12)];

#[test]
fn cross_entropy_equals_burns() {
    let device = losslab_burn::device();
    for (dtype, tol) in DTYPES {
        let (n, c) = (16, 7);
        let x = numbers(n * c, 1, 4.0);
        let y = classes(n, c, 2);
        let ours_x = float(&x, [n, c], dtype, &device).require_grad();
        let theirs_x = float(&x, [n, c], dtype, &device).require_grad();
        let ours: Tensor<1> =
            losslab_burn::cross_entropy(ours_x.clone(), ints(&y, [n], &device), &CrossEntropyOptions::default()).unwrap();
        let theirs = CrossEntropyLossConfig::new().init(&device).forward(theirs_x.clone(), ints(&y, [n], &device));
        assert_eq!(ours.dims(), theirs.dims());
        assert_close(&values(ours.clone()), &values(theirs.clone()), tol, "value");
        // An upstream gradient other than 1: 2.5 · loss.
        let g_ours = ours_x.grad(&(ours * 2.5).backward()).unwrap();
        let g_theirs = theirs_x.grad(&(theirs * 2.5).backward()).unwrap();
        assert_close(&values(g_ours), &values(g_theirs), tol, "grad");
    }
}

#[test]
fn unreduced_cross_entropy_honours_the_upstream_gradient() {
    let device = losslab_burn::device();
    for (dtype, tol) in DTYPES {
        let (n, c) = (9, 4);
        let x = numbers(n * c, 3, 3.0);
        let y = classes(n, c, 4);
        let w = numbers(n, 5, 2.0);
        let ours_x = float(&x, [n, c], dtype, &device).require_grad();
        let theirs_x = float(&x, [n, c], dtype, &device).require_grad();
        let options = CrossEntropyOptions { reduction: Reduction::None, ..CrossEntropyOptions::default() };
        let ours: Tensor<1> = losslab_burn::cross_entropy(ours_x.clone(), ints(&y, [n], &device), &options).unwrap();
        // burn's composition: −log_softmax gathered at the targets.
        let theirs: Tensor<1> =
            -log_softmax(theirs_x.clone(), 1).gather(1, ints(&y, [n], &device).reshape([n, 1])).reshape([n]);
        assert_close(&values(ours.clone()), &values(theirs.clone()), tol, "value");
        let weights = float(&w, [n], dtype, &device);
        let g_ours = ours_x.grad(&(ours * weights.clone()).sum().backward()).unwrap();
        let g_theirs = theirs_x.grad(&(theirs * weights).sum().backward()).unwrap();
        assert_close(&values(g_ours), &values(g_theirs), tol, "grad");
    }
}

#[test]
fn cross_entropy_of_a_sum_of_two_uses_reaches_the_input_twice() {
    // The logits feed the loss twice: burn adds both gradients.
    let device = losslab_burn::device();
    let x = numbers(12, 6, 2.0);
    let y = classes(4, 3, 7);
    let xt = float(&x, [4, 3], DType::F64, &device).require_grad();
    let a: Tensor<1> = losslab_burn::cross_entropy(xt.clone(), ints(&y, [4], &device), &CrossEntropyOptions::default()).unwrap();
    let b: Tensor<1> = losslab_burn::cross_entropy(xt.clone() * 2.0, ints(&y, [4], &device), &CrossEntropyOptions::default()).unwrap();
    let g = values(xt.grad(&(a + b).backward()).unwrap());
    let theirs_x = float(&x, [4, 3], DType::F64, &device).require_grad();
    let ce = CrossEntropyLossConfig::new().init(&device);
    let t = ce.forward(theirs_x.clone(), ints(&y, [4], &device)) + ce.forward(theirs_x.clone() * 2.0, ints(&y, [4], &device));
    assert_close(&g, &values(theirs_x.grad(&t.backward()).unwrap()), 1e-12, "grad");
}

#[test]
fn mse_equals_burns_reduced_and_unreduced() {
    let device = losslab_burn::device();
    for (dtype, tol) in DTYPES {
        let (a, b) = (numbers(24, 8, 3.0), numbers(24, 9, 3.0));
        for (ours_r, theirs_r) in [(Reduction::Mean, BurnReduction::Mean), (Reduction::Sum, BurnReduction::Sum)] {
            let (x, y) = (float(&a, [4, 6], dtype, &device).require_grad(), float(&b, [4, 6], dtype, &device).require_grad());
            let (bx, by) = (float(&a, [4, 6], dtype, &device).require_grad(), float(&b, [4, 6], dtype, &device).require_grad());
            let ours: Tensor<1> = losslab_burn::mse(x.clone(), y.clone(), ours_r).unwrap();
            let theirs = MseLoss::new().forward(bx.clone(), by.clone(), theirs_r);
            assert_close(&values(ours.clone()), &values(theirs.clone()), tol, "value");
            let (g1, g2) = (ours.backward(), theirs.backward());
            assert_close(&values(x.grad(&g1).unwrap()), &values(bx.grad(&g2).unwrap()), tol, "input grad");
            assert_close(&values(y.grad(&g1).unwrap()), &values(by.grad(&g2).unwrap()), tol, "target grad");
            // An upstream gradient other than 1 (the fused path scales, and negates for the target).
            let ours: Tensor<1> = losslab_burn::mse(x.clone(), y.clone(), ours_r).unwrap();
            let theirs_r = if ours_r == Reduction::Mean { BurnReduction::Mean } else { BurnReduction::Sum };
            let theirs = MseLoss::new().forward(bx.clone(), by.clone(), theirs_r);
            let (g1, g2) = (ours.mul_scalar(3.0).backward(), theirs.mul_scalar(3.0).backward());
            assert_close(&values(x.grad(&g1).unwrap()), &values(bx.grad(&g2).unwrap()), tol, "input grad, upstream 3");
            assert_close(&values(y.grad(&g1).unwrap()), &values(by.grad(&g2).unwrap()), tol, "target grad, upstream 3");
        }
        // Unreduced, with an upstream gradient of varying weights.
        let w = numbers(24, 10, 2.0);
        let (x, bx) = (float(&a, [4, 6], dtype, &device).require_grad(), float(&a, [4, 6], dtype, &device).require_grad());
        let ours: Tensor<2> = losslab_burn::mse(x.clone(), float(&b, [4, 6], dtype, &device), Reduction::None).unwrap();
        let theirs = MseLoss::new().forward_no_reduction(bx.clone(), float(&b, [4, 6], dtype, &device));
        assert_close(&values(ours.clone()), &values(theirs.clone()), tol, "value");
        let weights = float(&w, [4, 6], dtype, &device);
        let g1 = x.grad(&(ours * weights.clone()).sum().backward()).unwrap();
        let g2 = bx.grad(&(theirs * weights).sum().backward()).unwrap();
        assert_close(&values(g1), &values(g2), tol, "grad");
    }
}

#[test]
fn huber_equals_burns() {
    // burn keeps delta as an f32: 0.75 is the same number in both types.
    let device = losslab_burn::device();
    for (dtype, tol) in DTYPES {
        let (a, b) = (numbers(30, 11, 3.0), numbers(30, 12, 3.0));
        let (x, bx) = (float(&a, [30], dtype, &device).require_grad(), float(&a, [30], dtype, &device).require_grad());
        let ours: Tensor<1> = losslab_burn::huber(x.clone(), float(&b, [30], dtype, &device), 0.75, Reduction::Mean).unwrap();
        let theirs = HuberLossConfig::new(0.75).init().forward(bx.clone(), float(&b, [30], dtype, &device), BurnReduction::Mean);
        assert_close(&values(ours.clone()), &values(theirs.clone()), tol, "value");
        assert_close(&values(x.grad(&ours.backward()).unwrap()), &values(bx.grad(&theirs.backward()).unwrap()), tol, "grad");
    }
}

#[test]
fn bce_with_logits_equals_burns() {
    // f32 only: burn 0.22's BinaryCrossEntropyLoss casts its integer targets to the default
    // float type (f32) and panics ("Data type mismatch") on f64 logits.
    let device = losslab_burn::device();
    for (dtype, tol) in [DTYPES[0]] {
        let a = numbers(20, 13, 5.0);
        let t = classes(20, 2, 14);
        let tf: Vec<f64> = t.iter().map(|&v| v as f64).collect();
        let (x, bx) = (float(&a, [4, 5], dtype, &device).require_grad(), float(&a, [4, 5], dtype, &device).require_grad());
        let ours: Tensor<1> = losslab_burn::binary_cross_entropy_with_logits(
            x.clone(),
            float(&tf, [4, 5], dtype, &device),
            &losslab_burn::BceWithLogitsOptions::default(),
        )
        .unwrap();
        let theirs = BinaryCrossEntropyLossConfig::new().with_logits(true).init(&device).forward(bx.clone(), ints(&t, [4, 5], &device));
        assert_close(&values(ours.clone()), &values(theirs.clone()), tol, "value");
        assert_close(&values(x.grad(&ours.backward()).unwrap()), &values(bx.grad(&theirs.backward()).unwrap()), tol, "grad");
    }
}

#[test]
fn l1_and_nll_equal_burns_composition() {
    let device = losslab_burn::device();
    let (a, b) = (numbers(12, 15, 2.0), numbers(12, 16, 2.0));
    let (x, bx) = (float(&a, [3, 4], DType::F64, &device).require_grad(), float(&a, [3, 4], DType::F64, &device).require_grad());
    let ours: Tensor<1> = losslab_burn::l1(x.clone(), float(&b, [3, 4], DType::F64, &device), Reduction::Mean).unwrap();
    let theirs = (bx.clone() - float(&b, [3, 4], DType::F64, &device)).abs().mean();
    assert_close(&values(ours.clone()), &values(theirs.clone()), 1e-12, "l1 value");
    assert_close(&values(x.grad(&ours.backward()).unwrap()), &values(bx.grad(&theirs.backward()).unwrap()), 1e-12, "l1 grad");

    let y = classes(3, 4, 17);
    let (x, bx) = (float(&a, [3, 4], DType::F64, &device).require_grad(), float(&a, [3, 4], DType::F64, &device).require_grad());
    let ours: Tensor<1> = losslab_burn::nll(x.clone(), ints(&y, [3], &device), &losslab_burn::NllOptions::default()).unwrap();
    let theirs = -bx.clone().gather(1, ints(&y, [3, 1], &device)).mean();
    assert_close(&values(ours.clone()), &values(theirs.clone()), 1e-12, "nll value");
    assert_close(&values(x.grad(&ours.backward()).unwrap()), &values(bx.grad(&theirs.backward()).unwrap()), 1e-12, "nll grad");
}

#[test]
fn untracked_inputs_give_a_plain_tensor() {
    // Without autodiff (burn's plain NdArray device), the loss is just computed.
    #[allow(deprecated)]
    let device = burn::tensor::Device::ndarray();
    let x = float(&[1.0, 2.0], [2], DType::F32, &device);
    let y = float(&[0.0, 0.0], [2], DType::F32, &device);
    let l: Tensor<1> = losslab_burn::mse(x, y, Reduction::Mean).unwrap();
    assert!(!l.is_autodiff());
    assert_eq!(values(l), [2.5]);
    // On the autodiff device without require_grad: no gradient is computed, none is asked for.
    let device = losslab_burn::device();
    let l: Tensor<1> = losslab_burn::mse(float(&[1.0, 2.0], [2], DType::F32, &device), float(&[0.0, 0.0], [2], DType::F32, &device), Reduction::Mean).unwrap();
    assert_eq!(values(l), [2.5]);
}

#[test]
fn gradient_checkpointing_devices_give_the_same_gradients() {
    let x = numbers(15, 20, 2.0);
    let y = classes(5, 3, 21);
    let run = |device: burn::tensor::Device| {
        let xt = float(&x, [5, 3], DType::F64, &device).require_grad();
        // A memory-bound op before the loss, recomputed under checkpointing.
        let l: Tensor<1> = losslab_burn::cross_entropy(xt.clone().exp(), ints(&y, [5], &device), &CrossEntropyOptions::default()).unwrap();
        let h: Tensor<1> = losslab_burn::loss("keras:hinge", &[("y_true", xt.clone() * 0.0 + 1.0), ("y_pred", xt.clone())], &losslab_burn::Options::new()).unwrap();
        values(xt.grad(&(l + h.sum()).backward()).unwrap())
    };
    let plain = run(losslab_burn::device());
    let checkpointed = run(losslab_burn::device().gradient_checkpointing());
    assert_close(&checkpointed, &plain, 1e-15, "grad");
}

#[test]
fn strided_tensors_are_read_as_they_are() {
    // burn's transpose is a view with swapped strides: the losses read it in place.
    let device = losslab_burn::device();
    let (n, c) = (6, 4);
    let x = numbers(n * c, 22, 2.0);
    let y = classes(n, c, 23);
    let ours_x = float(&x, [c, n], DType::F64, &device).require_grad();
    let theirs_x = float(&x, [c, n], DType::F64, &device).require_grad();
    let ours: Tensor<1> =
        losslab_burn::cross_entropy(ours_x.clone().transpose(), ints(&y, [n], &device), &CrossEntropyOptions::default()).unwrap();
    let theirs = CrossEntropyLossConfig::new().init(&device).forward(theirs_x.clone().transpose(), ints(&y, [n], &device));
    assert_close(&values(ours.clone()), &values(theirs.clone()), 1e-12, "value");
    assert_close(&values(ours_x.grad(&ours.backward()).unwrap()), &values(theirs_x.grad(&theirs.backward()).unwrap()), 1e-12, "grad");
    let t = numbers(n * c, 24, 2.0);
    let (a, b) = (float(&x, [c, n], DType::F64, &device).require_grad(), float(&x, [c, n], DType::F64, &device).require_grad());
    let ours: Tensor<1> = losslab_burn::mse(a.clone().transpose(), float(&t, [n, c], DType::F64, &device), Reduction::Mean).unwrap();
    let theirs = MseLoss::new().forward(b.clone().transpose(), float(&t, [n, c], DType::F64, &device), BurnReduction::Mean);
    assert_close(&values(ours.clone()), &values(theirs.clone()), 1e-12, "mse value");
    assert_close(&values(a.grad(&ours.backward()).unwrap()), &values(b.grad(&theirs.backward()).unwrap()), 1e-12, "mse grad");
}

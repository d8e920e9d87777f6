//! The fused losses' reused gradient buffers (`src/pool.rs`): a gradient burn
//! still holds is never overwritten by a later call, reused buffers give the
//! same gradients as new ones, and the pool holds at most two per float type.
//!
//! One test function: the pool is global to the process, and the steps below
//! count what it holds.

mod common;

use burn::tensor::{DType, Int, Tensor};
use common::{assert_close, classes, float, ints, numbers, values};
use losslab_burn::{cross_entropy, mse, CrossEntropyOptions, Reduction};
use ndarray::{Array1, Array2};

/// 2048 × 256 logits: 2 MiB in f32, above the pool's 1 MiB floor.
const N: usize = 2048;
const C: usize = 256;

/// The library's own gradient of the summed cross entropy (elements of order
/// 1, so that the tolerance tells one input's gradient from another's), in f64.
fn kernel_grad(x: &[f64], t: &[i64]) -> Vec<f64> {
    let x = Array2::from_shape_vec((N, C), x.to_vec()).unwrap();
    let t = Array1::from_vec(t.to_vec());
    let (_, g) = losslab::CrossEntropyLoss::new().reduction(Reduction::Sum).forward_backward(x.view(), t.view()).unwrap();
    g.input.iter().copied().collect()
}

#[test]
fn reused_gradient_buffers_never_change_a_gradient_burn_holds() {
    let device = losslab_burn::device();
    let options = CrossEntropyOptions { reduction: Reduction::Sum, ..CrossEntropyOptions::default() };
    losslab_burn::release_buffers();
    let (xa, xb) = (numbers(N * C, 1, 4.0), numbers(N * C, 2, 4.0));
    let t = classes(N, C, 3);
    let (ga, gb) = (kernel_grad(&xa, &t), kernel_grad(&xb, &t));
    let targets: Tensor<1, Int> = ints(&t, [N], &device);
    for dtype in [DType::F32, DType::F64] {
        let tol = if dtype == DType::F32 { 1e-6 } else { 1e-15 };
        let what = format!("{dtype:?}");
        let a = float(&xa, [N, C], dtype, &device).require_grad();
        let b = float(&xb, [N, C], dtype, &device).require_grad();
        let grad_of = |x: &Tensor<2>| {
            let loss: Tensor<1> = cross_entropy(x.clone(), targets.clone(), &options).unwrap();
            let grads = loss.backward();
            x.grad(&grads).unwrap()
        };

        // Gradients dropped between calls: the buffer is reused, and each call
        // writes the whole of it.
        for (x, g) in [(&a, &ga), (&b, &gb), (&a, &ga)] {
            assert_close(&values(grad_of(x)), g, tol, &format!("{what}: a gradient written into a reused buffer"));
        }

        // A gradient still held (a clone of burn's tensor) is not reused: the
        // next call writes elsewhere, and the held one keeps its values.
        let held = grad_of(&a);
        let other = grad_of(&b);
        assert_close(&values(held.clone()), &ga, tol, &format!("{what}: the held gradient after another call"));
        assert_close(&values(other), &gb, tol, &format!("{what}: the other call's gradient"));
        // Mutating the held gradient (burn copies before writing to a shared
        // buffer) leaves the pool's next buffer whole.
        let doubled = held.clone() * 2.0;
        drop(held);
        assert_close(&values(grad_of(&b)), &gb, tol, &format!("{what}: after the held gradient was dropped"));
        assert_close(&values(doubled), &ga.iter().map(|v| 2.0 * v).collect::<Vec<_>>(), tol, &format!("{what}: the doubled gradient"));

        // An upstream gradient that is not 1 scales a copy (the pool holds a
        // handle), never the kept buffer: the next call is still right.
        let loss: Tensor<1> = cross_entropy(a.clone(), targets.clone(), &options).unwrap();
        let g3 = a.grad(&(loss * 3.0).backward()).unwrap();
        assert_close(&values(g3), &ga.iter().map(|v| 3.0 * v).collect::<Vec<_>>(), tol, &format!("{what}: upstream 3"));
        assert_close(&values(grad_of(&a)), &ga, tol, &format!("{what}: after an upstream of 3"));

        // Per-sample results (their buffers are not kept: the backward scales
        // them in place): the upstream of each sample scales the gradient.
        let o = CrossEntropyOptions { reduction: Reduction::None, ..CrossEntropyOptions::default() };
        let w: Vec<f64> = (0..N).map(|i| (i % 5) as f64 - 2.0).collect();
        let per_sample: Tensor<1> = cross_entropy(a.clone(), targets.clone(), &o).unwrap();
        let g = a.grad(&(per_sample * float(&w, [N], dtype, &device)).sum().backward()).unwrap();
        let want: Vec<f64> = ga.iter().enumerate().map(|(i, v)| v * w[i / C]).collect();
        assert_close(&values(g), &want, tol, &format!("{what}: per-sample upstream"));
        assert_close(&values(grad_of(&a)), &ga, tol, &format!("{what}: after a per-sample upstream"));
    }
    // Per float type, two buffers of the one shape: the held gradient's and
    // the one the call beside it wrote.
    assert_eq!(losslab_burn::release_buffers(), 4);

    // MSE shares the pool; at most two buffers per float type, the oldest
    // dropped first.
    for n in [300_000usize, 400_000, 500_000] {
        let x = float(&numbers(n, 4, 1.0), [n], DType::F32, &device).require_grad();
        let y = float(&numbers(n, 5, 1.0), [n], DType::F32, &device).require_grad();
        for _ in 0..2 {
            let loss: Tensor<1> = mse(x.clone(), y.clone(), Reduction::Sum).unwrap();
            let grads = loss.backward();
            let (gx, gy) = (values(x.grad(&grads).unwrap()), values(y.grad(&grads).unwrap()));
            let want: Vec<f64> = values(x.clone()).iter().zip(values(y.clone())).map(|(a, b)| 2.0 * (a - b)).collect();
            assert_close(&gx, &want, 1e-6, "mse: the input's gradient");
            assert_close(&gy, &want.iter().map(|v| -v).collect::<Vec<_>>(), 1e-6, "mse: the target's gradient");
        }
    }
    assert_eq!(losslab_burn::release_buffers(), 2);
    assert_eq!(losslab_burn::release_buffers(), 0);
}

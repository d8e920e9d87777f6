//! The per-row losses on the row sweep (Keras's and optax's among them; and `kl_div` on the element-wise
//! sweep; and the overlap losses on the overlap sweep) allocate their result, their gradients and a few bytes of shape,
//! nothing in proportion to the input beyond that: no widened copies, no
//! temporaries. Its own test binary, so that no other test allocates while it
//! counts (the count is over every thread: rayon's workers included).

mod common;

use common::alloc::{pools, Counting, ALLOCS, ARMED, BYTES};
use losslab::keras::{CategoricalCrossentropy, CategoricalFocalCrossentropy, Dice, KlDivergence as KerasKl, SparseCategoricalCrossentropy, Tversky};
use losslab::optax::KlDivergence as OptaxKl;
use losslab::{BinaryDiceLoss, DiceLoss, JaccardLoss, KlDivLoss, MulticlassGeneralizedDiceLoss, MultiMarginLoss, MultilabelMarginLoss, MultilabelSoftMarginLoss, NllLoss};
use ndarray::{Array1, Array2, Array3};
use std::sync::atomic::Ordering;

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Serialises this binary's tests, each held for its whole run: the counter is
/// process-wide, and a test building its inputs on another thread would be
/// counted.
static COUNTING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The bytes `call` allocates per call (the mean of 20, after 5 to warm the pool up).
fn bytes_per_call<R>(pool: &rayon::ThreadPool, mut call: impl FnMut() -> R + Send) -> usize {
    pool.install(|| {
        for _ in 0..5 {
            call();
        }
        BYTES.store(0, Ordering::SeqCst);
        ALLOCS.store(0, Ordering::SeqCst);
        ARMED.store(true, Ordering::SeqCst);
        for _ in 0..20 {
            std::hint::black_box(call());
        }
        ARMED.store(false, Ordering::SeqCst);
    });
    BYTES.load(Ordering::SeqCst) / 20
}

#[test]
fn forward_backward_allocates_its_result_and_gradients_only() {
    let _alone = COUNTING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let pools = pools();
    let (n, c) = (2048usize, 300usize);
    let x = Array2::from_shape_fn((n, c), |(i, j)| ((i * 31 + j * 17) % 23) as f32 * 0.3 - 3.0);
    let t = Array2::from_shape_fn((n, c), |(i, j)| ((i + j) % 3) as f32 * 0.5);
    let y = Array1::from_shape_fn(n, |i| ((i * 7) % c) as i64);
    // multilabel_margin_loss's targets: a few classes per row, then -1.
    let m = Array2::from_shape_fn((n, c), |(i, j)| if j < 1 + i % 5 { ((i + j * 37) % c) as i64 } else { -1 });
    // Probabilities (Keras's losses renormalise them per row).
    let p = Array2::from_shape_fn((n, c), |(i, j)| ((i * 13 + j * 5) % 17) as f32 * 0.01 + 0.001);
    let grad = n * c * 4;
    // Keras's and optax's losses are unreduced by default: their result (one
    // f32 per row), forward_backward's upstream ones and their f64 widening.
    let unreduced = n * (4 + 4 + 8);
    // Shapes, the 0-d result, rayon's queues: a few KiB at most.
    let slack = 16 << 10;
    for (threads, pool) in &pools {
        let cases: Vec<(&str, usize, usize)> = vec![
            ("nll_loss", grad, bytes_per_call(pool, || NllLoss::new().forward_backward(x.view(), y.view()).unwrap())),
            ("nll_loss forward", 0, bytes_per_call(pool, || NllLoss::new().forward(x.view(), y.view()).unwrap())),
            ("multi_margin_loss", grad, bytes_per_call(pool, || MultiMarginLoss::new().forward_backward(x.view(), y.view()).unwrap())),
            ("multilabel_soft_margin_loss", 2 * grad, bytes_per_call(pool, || MultilabelSoftMarginLoss::new().forward_backward(x.view(), t.view()).unwrap())),
            ("multilabel_margin_loss", grad, bytes_per_call(pool, || MultilabelMarginLoss::new().forward_backward(x.view(), m.view()).unwrap())),
            ("kl_div", 2 * grad, bytes_per_call(pool, || KlDivLoss::new().forward_backward(x.view(), t.view()).unwrap())),
            ("keras categorical_crossentropy", 2 * grad + unreduced, bytes_per_call(pool, || CategoricalCrossentropy::new().forward_backward(t.view(), p.view()).unwrap())),
            ("keras categorical_focal_crossentropy", 2 * grad + unreduced, bytes_per_call(pool, || CategoricalFocalCrossentropy::new().forward_backward(t.view(), p.view()).unwrap())),
            ("keras sparse_categorical_crossentropy", grad + unreduced, bytes_per_call(pool, || SparseCategoricalCrossentropy::new().forward_backward(y.view(), p.view()).unwrap())),
            ("keras kl_divergence", 2 * grad + unreduced, bytes_per_call(pool, || KerasKl::new().forward_backward(t.view(), p.view()).unwrap())),
            ("optax kl_divergence", 2 * grad + unreduced, bytes_per_call(pool, || OptaxKl::new().forward_backward(x.view(), t.view()).unwrap())),
        ];
        for (what, want, got) in cases {
            eprintln!("{what}, {threads} thread(s): {got} bytes per call (gradients {want})");
            assert!(got >= want && got <= want + slack, "{what}, {threads} thread(s): {got} bytes per call, gradients {want}");
        }
    }
}

/// The overlap losses (Keras's dice and tversky, optax's dice losses, the
/// Jaccard loss) allocate their two gradients and, per group of their
/// result, a few `f64`s (the sums, the losses, the upstream gradient widened,
/// the result): no widened copy of a tensor, no temporary of its size.
#[test]
fn overlap_losses_allocate_their_gradients_and_per_group_sums_only() {
    let _alone = COUNTING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let pools = pools();
    let (n, c) = (2048usize, 300usize);
    let y = Array2::from_shape_fn((n, c), |(i, j)| f32::from(u8::from((i * 7 + j * 3) % 5 < 2)));
    let p = Array2::from_shape_fn((n, c), |(i, j)| ((i * 13 + j * 5) % 17) as f32 * 0.05 + 0.01);
    // optax's layout: (N, pixels, classes).
    let (b, px, k) = (4usize, 40_000usize, 4usize);
    let x3 = Array3::from_shape_fn((b, px, k), |(i, j, l)| ((i * 31 + j * 17 + l * 7) % 23) as f32 * 0.3 - 3.0);
    let t3 = Array3::from_shape_fn((b, px, k), |(i, j, l)| f32::from(u8::from((i + j + l) % k == 0)));
    let grads = 2 * n * c * 4;
    let grads3 = 2 * b * px * k * 4;
    // Per group: its sums (up to 3 f64), its loss (f64), the upstream ones and
    // their widening, the result: at most 80 bytes, and a few KiB of shapes and queues.
    let per_group = 80;
    let slack = 16 << 10;
    for (threads, pool) in &pools {
        let cases: Vec<(&str, usize, usize)> = vec![
            ("keras dice (one scalar)", grads, bytes_per_call(pool, || Dice::new().forward_backward(y.view(), p.view()).unwrap())),
            ("keras tversky (per row)", grads + n * per_group, bytes_per_call(pool, || Tversky::new().axis(Some(vec![1])).forward_backward(y.view(), p.view()).unwrap())),
            ("jaccard_loss (per row)", grads + n * per_group, bytes_per_call(pool, || JaccardLoss::new().forward_backward(p.view(), y.view()).unwrap())),
            // Summed along the long axis, each column's rows are cut into stretches of
            // half a piece (16 Ki elements) or more, each with its partial [f64; 3]
            // per column, added in order afterwards.
            ("jaccard_loss (per column)", grads + c * per_group + (n * c).div_ceil(1 << 14) * c * 24, bytes_per_call(pool, || JaccardLoss::new().axis(Some(vec![0])).forward_backward(p.view(), y.view()).unwrap())),
            ("optax binary_dice_loss", grads + n * per_group, bytes_per_call(pool, || BinaryDiceLoss::new().forward_backward(p.view(), y.view()).unwrap())),
            ("optax dice_loss", grads3 + b * k * per_group, bytes_per_call(pool, || DiceLoss::new().forward_backward(x3.view(), t3.view()).unwrap())),
            (
                "optax multiclass_generalized_dice_loss",
                grads3 + b * k * per_group,
                bytes_per_call(pool, || MulticlassGeneralizedDiceLoss::new().forward_backward(x3.view(), t3.view()).unwrap()),
            ),
        ];
        for (what, bound, got) in cases {
            eprintln!("{what}, {threads} thread(s): {got} bytes per call (bound {bound})");
            assert!(got >= grads.min(grads3) && got <= bound + slack, "{what}, {threads} thread(s): {got} bytes per call, bound {bound}");
        }
    }
}

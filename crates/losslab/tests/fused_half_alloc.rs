//! The in-place half-precision fused cross entropy (`bf16`, `f16`) allocates
//! nothing but its result: its scratch rows live on the stack. Its own test
//! binary, so that no other test allocates while it counts (the count is over
//! every thread: rayon's workers included).

mod common;

use common::alloc::{assert_allocates_only_the_result, pools, Counting};
use losslab::half::{bf16, f16};
use losslab::{CrossEntropyLoss, HalfFloat};
use ndarray::{Array1, Array2};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The in-place mode allocates nothing but its 0-d result, for both half
/// types (after a few calls have warmed the pool up).
#[test]
fn in_place_allocates_only_the_result() {
    let pools = pools();
    check::<bf16>(&pools);
    check::<f16>(&pools);
}

fn check<H: HalfFloat>(pools: &[(usize, rayon::ThreadPool)]) {
    // Rows split over threads, one long row split over blocks, rows longer
    // than the scratch row, few classes.
    for &(n, c) in &[(64usize, 3000usize), (1, 30_000), (2, 100_000), (4096, 10)] {
        let mut x = Array2::from_shape_fn((n, c), |(i, j)| H::from_f32(((i * 31 + j * 17) % 23) as f32 * 0.3 - 3.0));
        let y = Array1::from_shape_fn(n, |i| ((i * 7) % c) as i64);
        let ce = CrossEntropyLoss::new().label_smoothing(0.1);
        let what = format!("{} {n}x{c}", H::NAME);
        assert_allocates_only_the_result(&what, pools, || ce.forward_backward_half_inplace(x.view_mut(), y.view()).unwrap());
    }
}

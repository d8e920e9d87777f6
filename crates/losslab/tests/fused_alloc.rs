//! The in-place fused cross entropy allocates nothing but its result. Its own
//! test binary, so that no other test allocates while it counts (the count is
//! over every thread: rayon's workers included).

mod common;

use common::alloc::{assert_allocates_only_the_result, pools, Counting};
use losslab::CrossEntropyLoss;
use ndarray::{Array1, Array2};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The in-place mode allocates nothing but its 0-d result (after a few calls
/// have warmed the pool up).
#[test]
fn in_place_allocates_only_the_result() {
    let pools = pools();
    for &(n, c) in &[(64usize, 3000usize), (1, 300_000), (4096, 10)] {
        let mut x = Array2::from_shape_fn((n, c), |(i, j)| ((i * 31 + j * 17) % 23) as f32 * 0.3 - 3.0);
        let y = Array1::from_shape_fn(n, |i| ((i * 7) % c) as i64);
        let ce = CrossEntropyLoss::new().label_smoothing(0.1);
        assert_allocates_only_the_result(&format!("{n}x{c}"), &pools, || ce.forward_backward_inplace(x.view_mut(), y.view()).unwrap());
    }
}

//! The in-place half-precision fused cross entropy (`bf16`, `f16`) allocates
//! nothing but its result: its scratch rows live on the stack. Its own test
//! binary, so that no other test allocates while it counts (the count is over
//! every thread: rayon's workers included).

use losslab::half::{bf16, f16};
use losslab::{CrossEntropyLoss, HalfFloat};
use ndarray::{Array1, Array2};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static ARMED: AtomicBool = AtomicBool::new(false);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if ARMED.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
}
#[global_allocator]
static GLOBAL: Counting = Counting;

/// The in-place mode allocates nothing but its 0-d result, for both half types (after a few calls
/// have warmed the pool up). The pools live through the whole test: a pool's
/// threads allocate while they shut down.
#[test]
fn in_place_allocates_only_the_result() {
    let pools: Vec<_> = [1, 2].iter().map(|&t| (t, rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap())).collect();
    for (_, pool) in &pools {
        // Every worker started (a starting thread allocates).
        pool.broadcast(|_| ());
    }
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
        for (threads, pool) in pools {
            let threads = *threads;
            pool.install(|| {
                // Warm-up: rayon's work queues reach their size.
                for _ in 0..5 {
                    ce.forward_backward_half_inplace(x.view_mut(), y.view()).unwrap();
                }
                ALLOCS.store(0, Ordering::SeqCst);
                ARMED.store(true, Ordering::SeqCst);
                for _ in 0..100 {
                    std::hint::black_box(ce.forward_backward_half_inplace(x.view_mut(), y.view()).unwrap());
                }
                ARMED.store(false, Ordering::SeqCst);
            });
            // One allocation per call: the 0-d result's one-element buffer. With
            // more than one thread, rayon's work-stealing deques (crossbeam) now
            // and then grow, shrink or free a buffer; none of that is losslab's.
            let count = ALLOCS.load(Ordering::SeqCst);
            eprintln!("{} {n}x{c}, {threads} thread(s): {count} allocations in 100 calls", H::NAME);
            if threads == 1 {
                assert_eq!(count, 100, "{n}x{c}: allocations in 100 calls on 1 thread");
            } else {
                assert!((100..=110).contains(&count), "{n}x{c}: {count} allocations in 100 calls on {threads} threads");
            }
        }
    }
}

//! A counting global allocator, for the tests that the fused in-place modes
//! allocate nothing but their result (`fused_alloc.rs`, `fused_half_alloc.rs`).
//!
//! A `#[global_allocator]` is one per binary: a test binary that counts
//! declares it itself,
//! `#[global_allocator] static GLOBAL: common::alloc::Counting = common::alloc::Counting;`,
//! and should run nothing else (the count is over every thread). Without the
//! declaration nothing is counted and [`assert_allocates_only_the_result`] fails.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The system allocator, counting the allocations made while [`ARMED`].
pub struct Counting;
pub static ALLOCS: AtomicUsize = AtomicUsize::new(0);
pub static ARMED: AtomicBool = AtomicBool::new(false);
/// The bytes of the allocations counted in [`ALLOCS`].
pub static BYTES: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if ARMED.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(l.size(), Ordering::Relaxed);
        }
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
}

/// Pools of 1 and 2 threads, every worker started (a starting thread
/// allocates). The pools should live through the whole test: a pool's threads
/// allocate while they shut down.
pub fn pools() -> Vec<(usize, rayon::ThreadPool)> {
    let pools: Vec<_> = [1, 2].iter().map(|&t| (t, rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap())).collect();
    for (_, pool) in &pools {
        pool.broadcast(|_| ());
    }
    pools
}

/// On each pool: 5 calls of `call` to warm it up (rayon's work queues reach
/// their size), then 100 counted; asserts one allocation per call (the 0-d
/// result's one-element buffer). With more than one thread, rayon's
/// work-stealing deques (crossbeam) now and then grow, shrink or free a buffer;
/// none of that is losslab's: 100 to 110 there.
pub fn assert_allocates_only_the_result<R>(what: &str, pools: &[(usize, rayon::ThreadPool)], mut call: impl FnMut() -> R + Send) {
    for (threads, pool) in pools {
        let threads = *threads;
        pool.install(|| {
            for _ in 0..5 {
                call();
            }
            ALLOCS.store(0, Ordering::SeqCst);
            ARMED.store(true, Ordering::SeqCst);
            for _ in 0..100 {
                std::hint::black_box(call());
            }
            ARMED.store(false, Ordering::SeqCst);
        });
        let count = ALLOCS.load(Ordering::SeqCst);
        eprintln!("{what}, {threads} thread(s): {count} allocations in 100 calls");
        if threads == 1 {
            assert_eq!(count, 100, "{what}: allocations in 100 calls on 1 thread");
        } else {
            assert!((100..=110).contains(&count), "{what}: {count} allocations in 100 calls on {threads} threads");
        }
    }
}

//! The fused linear cross entropy never holds the logits: the most memory it
//! has allocated at once, beyond its inputs, is its gradients, its per-token
//! numbers, one tile of logits and a bounded scratch (a row per thread, the
//! matrix products' packing buffers), however many tokens and classes. Its own
//! test binary: the allocator it installs tracks the live bytes of every thread.

use losslab::LinearCrossEntropyLoss;
use ndarray::{Array1, Array2};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Peak;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Peak {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(l.size(), Ordering::SeqCst) + l.size();
        PEAK.fetch_max(now, Ordering::SeqCst);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::SeqCst);
        System.dealloc(p, l)
    }
}

#[global_allocator]
static GLOBAL: Peak = Peak;

/// One test at a time: the counters are the whole process's.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn peak_memory_is_the_gradients_and_one_tile() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // 4096 tokens × 16384 classes: 256 MiB of f32 logits if they were held.
    let (n, d, v) = (4096usize, 32usize, 16384usize);
    let x = Array2::from_shape_fn((n, d), |(i, k)| ((i * 31 + k * 17) % 23) as f32 * 0.05 - 0.5);
    let w = Array2::from_shape_fn((v, d), |(j, k)| ((j * 13 + k * 7) % 19) as f32 * 0.05 - 0.45);
    let t = Array1::from_shape_fn(n, |i| ((i * 7) % v) as i64);
    let tile = 8 << 20;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    pool.broadcast(|_| ());
    let lce = LinearCrossEntropyLoss::new().label_smoothing(0.1).lse_square_scale(1e-4).tile_bytes(tile);
    let (grads, per_token) = ((n * d + v * d) * 4, n * 16);
    // Threads' rows (2 × V), gemm's packing buffers, shapes: a few MiB at most.
    let slack = 6 << 20;
    for with_grads in [false, true] {
        let base = LIVE.load(Ordering::SeqCst);
        PEAK.store(base, Ordering::SeqCst);
        pool.install(|| {
            if with_grads {
                std::hint::black_box(lce.forward_backward(x.view(), w.view(), None, t.view(), None).unwrap());
            } else {
                std::hint::black_box(lce.forward(x.view(), w.view(), None, t.view()).unwrap());
            }
        });
        let extra = PEAK.load(Ordering::SeqCst) - base;
        let want = if with_grads { grads } else { 0 } + per_token + tile;
        eprintln!("gradients {with_grads}: peak {extra} bytes beyond the inputs (gradients + per-token + tile = {want}, logits would be {})", n * v * 4);
        assert!(extra <= want + slack, "gradients {with_grads}: peak {extra} bytes, bound {}", want + slack);
    }
}

/// `bf16` inputs: the gradients (`bf16`), the `f32` accumulator of the
/// weight's gradient (`V × D × 4` bytes), the per-token numbers, one tile
/// (the `f32` logits and their `bf16` gradient within `tile_bytes`) and the
/// packed operands (a few copies of a tile's tokens, one per part of a few
/// thousand classes' rows): never the logits.
#[test]
fn bfloat16_peak_memory_is_the_gradients_the_accumulator_and_one_tile() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    use losslab::half::bf16;
    let (n, d, v) = (4096usize, 32usize, 16384usize);
    let x = Array2::from_shape_fn((n, d), |(i, k)| bf16::from_f32(((i * 31 + k * 17) % 23) as f32 * 0.05 - 0.5));
    let w = Array2::from_shape_fn((v, d), |(j, k)| bf16::from_f32(((j * 13 + k * 7) % 19) as f32 * 0.05 - 0.45));
    let t = Array1::from_shape_fn(n, |i| ((i * 7) % v) as i64);
    let tile = 8 << 20;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    pool.broadcast(|_| ());
    let lce = LinearCrossEntropyLoss::new().label_smoothing(0.1).tile_bytes(tile);
    let (grads, acc, per_token) = ((n * d + v * d) * 2, v * d * 4, n * 16);
    let slack = 6 << 20;
    let base = LIVE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    pool.install(|| std::hint::black_box(lce.forward_backward_half(x.view(), w.view(), None, t.view(), None).unwrap()));
    let extra = PEAK.load(Ordering::SeqCst) - base;
    let want = grads + acc + per_token + tile;
    eprintln!("bf16: peak {extra} bytes beyond the inputs (gradients + accumulator + per-token + tile = {want}, logits would be {})", n * v * 4);
    assert!(extra <= want + slack, "bf16: peak {extra} bytes, bound {}", want + slack);
}

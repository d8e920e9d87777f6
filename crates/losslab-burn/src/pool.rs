//! The fused losses' gradient buffers, reused across calls.
//!
//! The fused cross entropy and MSE, reduced, write their gradient in the
//! forward and hand that buffer to burn as the input's gradient (a per-sample
//! cross entropy's is not kept: its backward scales it in place, which a
//! second handle would turn into a copy). A new buffer of that size (400
//! MB for 8192 × 32000 `f32` logits) comes from the operating system for every
//! call, and the kernel's first write to each of its pages faults and zeroes
//! it: that alone cost the adapter more than half the kernel's throughput
//! (`docs/performance.md`, issue 15). As PyTorch's caching allocator does, the
//! adapter keeps a handle on the last buffers it handed out and reuses one once
//! burn has dropped every other handle on it (the training loop's gradients
//! gone after the optimiser's step): the kernel then rewrites memory already
//! mapped.
//!
//! Correctness never depends on the pool: a buffer is reused only while this
//! handle is its only one (`ArcArray::is_unique`: no tensor, gradient or view
//! of burn's refers to it, and none can be made from a handle no one else
//! holds), and burn's `NdArray` backend copies an array before mutating it in
//! place whenever another handle exists (copy on write), so the pool's handle
//! never sees a write. The kernels overwrite every element of the buffer.
//!
//! At most [`KEEP`] buffers per float type are held, each at least
//! [`MIN_BYTES`] (smaller ones come cheaply from the allocator's heap); the
//! oldest goes first. [`release_buffers`](crate::release_buffers) drops them all.

use ndarray::{ArcArray, IxDyn};
use std::sync::{Mutex, MutexGuard};

/// The number of buffers kept per float type: a training loop's one loss, or
/// two of different shapes (a training and an evaluation batch).
pub(crate) const KEEP: usize = 2;

/// The smallest buffer kept, in bytes.
pub(crate) const MIN_BYTES: usize = 1 << 20;

type Pool<E> = Mutex<Vec<ArcArray<E, IxDyn>>>;

static F32: Pool<f32> = Mutex::new(Vec::new());
static F64: Pool<f64> = Mutex::new(Vec::new());

/// A float type whose gradient buffers are pooled.
pub(crate) trait Pooled: Copy + Default + 'static {
    fn pool() -> MutexGuard<'static, Vec<ArcArray<Self, IxDyn>>>;
}

impl Pooled for f32 {
    fn pool() -> MutexGuard<'static, Vec<ArcArray<f32, IxDyn>>> {
        // A panic while the lock was held left the list itself whole.
        F32.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Pooled for f64 {
    fn pool() -> MutexGuard<'static, Vec<ArcArray<f64, IxDyn>>> {
        F64.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A buffer of `shape` to overwrite: a kept one that no one else holds, else a
/// new one (zeros).
pub(crate) fn take<E: Pooled>(shape: &[usize]) -> ArcArray<E, IxDyn> {
    let mut pool = E::pool();
    if let Some(i) = pool.iter().position(|a| a.shape() == shape && a.is_unique()) {
        return pool.remove(i);
    }
    drop(pool);
    // `vec![0.0; n]` underneath: `calloc`, no pass over the memory.
    ArcArray::from_elem(IxDyn(shape), E::default())
}

/// Keeps a handle on `buffer` (handed to burn as a gradient) for a later
/// [`take`], if it is large enough to be worth keeping.
pub(crate) fn keep<E: Pooled>(buffer: &ArcArray<E, IxDyn>) {
    if buffer.len() * std::mem::size_of::<E>() < MIN_BYTES {
        return;
    }
    let mut pool = E::pool();
    if pool.len() == KEEP {
        pool.remove(0);
    }
    pool.push(buffer.clone());
}

/// Drops every kept buffer; returns how many there were.
pub(crate) fn release() -> usize {
    f32::pool().drain(..).count() + f64::pool().drain(..).count()
}

//! The parallel loop of the fused kernels: rayon's current pool with the
//! `rayon` feature, the calling thread without it. Work is always split into
//! pieces fixed by the problem's size, never by the number of threads, and
//! combined in a fixed order, so that results are bit-identical whatever the
//! thread count.

/// A raw pointer that may cross threads: each task touches a disjoint range.
#[derive(Clone, Copy)]
pub(crate) struct SyncPtr<T>(pub(crate) *mut T);
// SAFETY: used only to hand disjoint ranges of one buffer to parallel tasks.
unsafe impl<T> Send for SyncPtr<T> {}
unsafe impl<T> Sync for SyncPtr<T> {}

impl<T> SyncPtr<T> {
    pub(crate) fn null() -> Self {
        SyncPtr(std::ptr::null_mut())
    }
    pub(crate) fn is_null(&self) -> bool {
        self.0.is_null()
    }
    /// The pointer `i` elements on (null stays null).
    pub(crate) fn add(self, i: usize) -> *mut T {
        if self.0.is_null() {
            self.0
        } else {
            // SAFETY: callers stay within the buffer.
            unsafe { self.0.add(i) }
        }
    }
}

/// The least work (elements a call touches) that goes to rayon's workers:
/// waking them costs tens of microseconds, more than a small call's whole work
/// (a 2 × 3 cross entropy took 70 µs on 2 threads and 12 µs on one). Below it
/// the pieces run on the calling thread, in the same partition: the same bits.
pub(crate) const PAR_MIN_WORK: usize = 1 << 15;

/// Runs `f(0)`, …, `f(n − 1)`, in parallel where the `rayon` feature is on and
/// the call's `work` (the elements it touches) is at least [`PAR_MIN_WORK`].
pub(crate) fn for_each(n: usize, work: usize, f: impl Fn(usize) + Sync + Send) {
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        if n > 1 && work >= PAR_MIN_WORK && rayon::current_num_threads() > 1 {
            (0..n).into_par_iter().for_each(f);
            return;
        }
    }
    #[cfg(not(feature = "rayon"))]
    let _ = work;
    (0..n).for_each(f);
}

/// The number of threads the parallel loops run on.
pub(crate) fn threads() -> usize {
    #[cfg(feature = "rayon")]
    {
        rayon::current_num_threads()
    }
    #[cfg(not(feature = "rayon"))]
    {
        1
    }
}

/// Compensated (Neumaier) summation in order, as [`crate::machinery::reduction`] sums.
pub(crate) fn neumaier(values: &[f64]) -> f64 {
    crate::machinery::reduction::sum_f64(values.iter().copied())
}

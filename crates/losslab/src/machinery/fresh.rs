//! The output buffers of the fused sweeps (a result per element, the
//! gradients), allocated per call as a reference's autograd allocates them.
//!
//! A large buffer is fresh memory: the C allocator maps it anew (glibc maps
//! anything above its mmap threshold, up to 32 MB once it has adapted), and
//! each 4 KiB page then faults on its first write, in the middle of the
//! sweep. [`zeroed`] faults the pages of a large buffer in ahead, with
//! `madvise(MADV_POPULATE_WRITE)` (Linux 5.14 on) over fixed pieces in
//! parallel: one system call per piece in place of a trap per page. Memory
//! the allocator reuses is already mapped, and the call costs a walk of its
//! page table. Elsewhere (other systems, older kernels) the buffer is the
//! plain zeroed vector; the values are the same either way.

use crate::machinery::float::Float;
use crate::machinery::kernels::par::{self, SyncPtr};

/// From this many bytes on, [`zeroed`] faults the buffer's pages in ahead
/// (below, a buffer may sit in memory the allocator already holds, and a
/// system call costs more than the faults it saves).
pub(crate) const POPULATE_MIN_BYTES: usize = 1 << 21;

/// The bytes of one piece of a buffer populated by one task.
const PIECE_BYTES: usize = 1 << 21;

/// A vector of `n` zeros for a sweep to write its outputs into: `vec![0; n]`,
/// its pages faulted in ahead ([`populate`]) where it holds at least
/// [`POPULATE_MIN_BYTES`].
pub(crate) fn zeroed<T: Float>(n: usize) -> Vec<T> {
    let mut v = vec![T::zero(); n];
    if std::mem::size_of_val(v.as_slice()) >= POPULATE_MIN_BYTES {
        populate(&mut v);
    }
    v
}

/// An output buffer of `n` elements that a sweep writes in full before any is
/// read: allocated without zeroing (no pass of the allocator's `memset` on
/// one thread where it reuses memory), its pages faulted in ahead in parallel
/// ([`populate`]) where it holds at least [`POPULATE_MIN_BYTES`]. The sweep
/// writes through [`Fresh::ptr`]; [`Fresh::written`] then gives the vector.
pub(crate) struct Fresh<T> {
    buf: Vec<T>,
    len: usize,
}

impl<T: Float> Fresh<T> {
    /// Room for `n` elements, none written yet.
    pub(crate) fn new(n: usize) -> Self {
        let mut buf = Vec::with_capacity(n);
        if n * std::mem::size_of::<T>() >= POPULATE_MIN_BYTES {
            populate(&mut buf.spare_capacity_mut()[..n]);
        }
        Fresh { buf, len: n }
    }

    /// Where the sweep writes element 0 (the buffer's `n` elements follow).
    pub(crate) fn ptr(&mut self) -> SyncPtr<T> {
        SyncPtr(self.buf.as_mut_ptr())
    }

    /// The vector of the `n` elements written.
    ///
    /// # Safety
    /// Every one of the `n` elements has been written through [`Fresh::ptr`].
    pub(crate) unsafe fn written(mut self) -> Vec<T> {
        // SAFETY: the capacity is n, and the caller has written all n.
        unsafe { self.buf.set_len(self.len) };
        self.buf
    }
}

/// Faults in the whole pages inside `buf`, writable, in pieces of
/// [`PIECE_BYTES`] run in parallel (the contents are unchanged: the pages of a
/// fresh mapping are zeros). A no-op where the system lacks
/// `MADV_POPULATE_WRITE` (the first write faults them then).
pub(crate) fn populate<T>(buf: &mut [T]) {
    const PAGE: usize = 4096;
    let start = (buf.as_mut_ptr() as usize).next_multiple_of(PAGE);
    let end = (buf.as_mut_ptr() as usize + std::mem::size_of_val(buf)) & !(PAGE - 1);
    if end <= start {
        return;
    }
    let base = SyncPtr(start as *mut u8);
    let len = end - start;
    let pieces = len.div_ceil(PIECE_BYTES);
    par::for_each(pieces, len, |p| {
        let lo = p * PIECE_BYTES;
        let hi = (lo + PIECE_BYTES).min(len);
        // SAFETY: [lo, hi) lies within the page-aligned interior of `buf`,
        // which this call holds mutably; populating does not change its contents.
        unsafe { POPULATE_WRITE.apply(base.add(lo), hi - lo) };
    });
}

/// `MADV_POPULATE_WRITE` (Linux 5.14): fault the pages in, writable.
static POPULATE_WRITE: Advice = Advice::new(23);

/// One `madvise` advice, given until the kernel first refuses it as unknown
/// (`EINVAL`: an older kernel, or the feature compiled out) and not asked
/// again after that; other errors (`ENOMEM`, `EFAULT`) leave the memory as it
/// was. Off Linux, nothing is asked.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) struct Advice {
    code: std::ffi::c_int,
    refused: std::sync::atomic::AtomicBool,
}

impl Advice {
    /// The advice numbered `code` (`<sys/mman.h>`'s `MADV_*`).
    pub(crate) const fn new(code: std::ffi::c_int) -> Self {
        Advice { code, refused: std::sync::atomic::AtomicBool::new(false) }
    }

    /// Gives the advice for the `len` bytes at `addr` (page-aligned).
    ///
    /// # Safety
    /// `[addr, addr + len)` is memory the caller owns, and the advice does
    /// not change its contents.
    #[allow(unused_variables)]
    pub(crate) unsafe fn apply(&self, addr: *mut u8, len: usize) {
        #[cfg(target_os = "linux")]
        {
            use std::sync::atomic::Ordering;
            extern "C" {
                fn madvise(addr: *mut std::ffi::c_void, len: usize, advice: std::ffi::c_int) -> std::ffi::c_int;
            }
            if self.refused.load(Ordering::Relaxed) {
                return;
            }
            // SAFETY: the range is the caller's, and the advice keeps its contents.
            if unsafe { madvise(addr.cast(), len, self.code) } != 0 && std::io::Error::last_os_error().raw_os_error() == Some(22) {
                self.refused.store(true, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_is_zeros_at_every_size() {
        for n in [0usize, 1, 1000, POPULATE_MIN_BYTES / 4 - 1, POPULATE_MIN_BYTES / 4, 3 * POPULATE_MIN_BYTES / 4 + 17] {
            let v = zeroed::<f32>(n);
            assert_eq!(v.len(), n);
            assert!(v.iter().all(|&x| x == 0.0));
            let w = zeroed::<f64>(n);
            assert!(w.len() == n && w.iter().all(|&x| x == 0.0));
        }
    }

    #[test]
    fn populate_keeps_the_contents() {
        let mut v: Vec<u32> = (0..3_000_000u32).collect();
        populate(&mut v[5..]);
        assert!(v.iter().enumerate().all(|(i, &x)| x == i as u32));
    }
}

//! [`HugePages`]: the system allocator, with large buffers backed by 2 MiB
//! pages, for a program that hands its losses' outputs fresh memory.
//!
//! A reference's autograd allocates each gradient per call, and so does
//! losslab's (the forward + backward returns new arrays). A buffer of many
//! megabytes is then memory the C allocator maps anew, and every 4 KiB page of
//! it traps on its first write: on the machines losslab is measured on, a
//! fresh 128 MiB gradient costs about 50 ms of page faults, several times the
//! sweep that writes it (a fused cross entropy over 32 M logits). Backed by
//! transparent huge pages the same buffer faults 64 times in place of 32 768,
//! and costs about 11 ms, nearly all of it the kernel's zeroing.
//!
//! [`HugePages`] is [`std::alloc::System`] plus one `madvise(MADV_HUGEPAGE)`
//! over the 2 MiB-aligned interior of every block from
//! [`HugePages::MIN_BYTES`] to [`HugePages::MAX_BYTES`]: other blocks and the
//! allocator's own bookkeeping are untouched, and a block the allocator
//! reuses keeps the advice it already has.
//!
//! Why a ceiling: a fresh huge page must be found whole, and beyond a few
//! hundred megabytes at a time the kernel (or, in a virtual machine, the host
//! behind it) has to assemble them. On the 2-core KVM guests losslab is
//! measured on (2026-12-05, `madvise` mode, 14 GB free), filling a fresh block
//! took, on average over 10–50 calls, 4 KiB pages against huge pages: 32 MB
//! 11.3 against 2.8 ms, 128 MB 46 against 12 ms, 256 MB 100 against 42–76 ms
//! (one call in 20 stalled 1.1 s); 512 MB 200 against 164–202 ms; 1 GB 410–440
//! against 670–1000 ms, with stalls of 4.7–7.3 s. Above
//! [`HugePages::MAX_BYTES`] the block keeps 4 KiB pages.
//!
//! The advice changes no value, only where the kernel's pages come from, and
//! only where the system lets a program ask: on Linux with transparent huge
//! pages in `madvise` or `always` mode
//! (`/sys/kernel/mm/transparent_hugepage/enabled`); elsewhere, or where the
//! advice is refused, it is the system allocator. The cost: a huge page is
//! resident whole, so a block written only in part may hold up to 2 MiB more
//! per page touched (the losses' outputs are written whole).
//!
//! A library cannot choose its user's allocator, so losslab does not install
//! it: the `losslab` command, the Python module and the benchmarks do, and a
//! Rust program opts in with one line.
//!
//! ```
//! #[global_allocator]
//! static GLOBAL: losslab::alloc::HugePages = losslab::alloc::HugePages;
//!
//! let grad = vec![0f32; 8 << 20]; // 32 MiB, its interior on 2 MiB pages
//! assert_eq!(grad.len(), 8 << 20);
//! ```

use crate::machinery::fresh::Advice;
use std::alloc::{GlobalAlloc, Layout, System};

/// The system allocator, with blocks of at least [`HugePages::MIN_BYTES`]
/// advised onto transparent huge pages (see the [module](self) docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct HugePages;

impl HugePages {
    /// The smallest block advised onto huge pages: two of them, so that at
    /// least one aligned huge page lies inside any block of this size.
    pub const MIN_BYTES: usize = 4 << 20;
    /// The largest block advised onto huge pages (see the [module](self)
    /// docs: larger ones have stalled for seconds while the pages were found).
    pub const MAX_BYTES: usize = 256 << 20;
}

// SAFETY: every call is forwarded to `System` with its arguments unchanged;
// the advice only changes the backing of pages inside the returned block.
unsafe impl GlobalAlloc for HugePages {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, forwarded.
        let p = unsafe { System.alloc(layout) };
        advise(p, layout.size());
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, forwarded.
        let p = unsafe { System.alloc_zeroed(layout) };
        advise(p, layout.size());
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, forwarded.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if new_size > layout.size() {
            advise(p, new_size);
        }
        p
    }
}

/// Advises the 2 MiB-aligned interior of the block `[p, p + len)` onto huge
/// pages, if the block holds from [`HugePages::MIN_BYTES`] to
/// [`HugePages::MAX_BYTES`] (a null `p`, a failed allocation, is left alone).
fn advise(p: *mut u8, len: usize) {
    const HUGE: usize = 2 << 20;
    if p.is_null() || !(HugePages::MIN_BYTES..=HugePages::MAX_BYTES).contains(&len) {
        return;
    }
    let start = (p as usize).next_multiple_of(HUGE);
    let end = (p as usize + len) & !(HUGE - 1);
    if end > start {
        // SAFETY: the range lies inside the block just allocated.
        unsafe { HUGEPAGE.apply(start as *mut u8, end - start) };
    }
}

/// `MADV_HUGEPAGE` (Linux 2.6.38), refused (`EINVAL`) where the kernel has no
/// transparent huge pages: the memory then stays on 4 KiB pages.
static HUGEPAGE: Advice = Advice::new(14);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_of_every_size_keep_their_contents() {
        for n in [0usize, 1, 4095, HugePages::MIN_BYTES - 1, HugePages::MIN_BYTES, 3 * HugePages::MIN_BYTES + 17, HugePages::MAX_BYTES + 1] {
            let layout = Layout::from_size_align(n.max(1), 64).unwrap();
            unsafe {
                let p = HugePages.alloc_zeroed(layout);
                assert!(!p.is_null());
                assert!(std::slice::from_raw_parts(p, n).iter().all(|&b| b == 0));
                std::ptr::write_bytes(p, 7, n);
                let q = HugePages.realloc(p, layout, 2 * n.max(1));
                assert!(std::slice::from_raw_parts(q, n).iter().all(|&b| b == 7));
                HugePages.dealloc(q, Layout::from_size_align(2 * n.max(1), 64).unwrap());
            }
        }
    }
}

//! Element-wise losses of up to three aligned operands, each of its own
//! element type (Gaussian NLL: input, target, variance; margin ranking: the
//! two scores and the target; optax's binary sparsemax: logits and integer or
//! float labels): the loss, its sum and the gradients with respect to the
//! operands in one sweep over contiguous inputs, the outputs in the result's
//! type `T`.
//!
//! A loss gives its element as one function `f(a, b, c, s) = (ℓ, [g_a, g_b,
//! g_c])` of the three elements and the upstream gradient `s` of that
//! element: it widens what it reads and returns the gradients already scaled,
//! in the order of multiplications its reference (and its general path) uses,
//! so that the fused and the general path give the same bits per element. A
//! loss of two operands passes a slice of `()` as the third (no memory).
//!
//! The loop is the element-wise kernels' portable one
//! ([`super::elementwise`]): groups of [`LANES`] elements loaded, computed,
//! then stored, compiled three times (AVX-512, AVX2 + FMA, the baseline) and
//! chosen once at run time; LLVM vectorises it where `f` has no libm call or
//! data-dependent branch. The sum is bit-identical whatever the thread count:
//! the same partition as [`super::elementwise`] ([`CHUNK`]-element chunks, each
//! in [`LANES`] lanes combined by a fixed tree; at most [`MAX_PARTS`](super::elementwise::MAX_PARTS) parts
//! fixed by the length alone, compensated in order).

use super::elementwise::{lane_tree, level, run_parts, sum_chunks, CHUNK, LANES};
use super::par::SyncPtr;
use crate::machinery::float::Float;

/// What a sweep computes (a bit set; a const parameter, so that each mode is a
/// loop of its own).
pub(crate) mod mode {
    /// The sum of the losses.
    pub(crate) const SUM: u8 = 1;
    /// Each loss, stored (`Reduction::None`).
    pub(crate) const STORE: u8 = 2;
    /// The gradient with respect to the first operand.
    pub(crate) const G0: u8 = 4;
    /// The gradients with respect to all three operands.
    pub(crate) const G012: u8 = 4 | 8 | 16;
    /// The upstream gradient is per element (else one scale for all).
    pub(crate) const PER: u8 = 32;
    /// The bit of operand `k`'s gradient.
    pub(crate) const fn grad(k: usize) -> u8 {
        4 << k
    }
}

/// The buffers of one sweep. Null pointers are outputs the mode does not write.
pub(crate) struct Job3<A, B, C, T> {
    a: *const A,
    b: *const B,
    c: *const C,
    len: usize,
    /// Per-element losses (`STORE`).
    pub(crate) losses: SyncPtr<T>,
    /// The gradient of each operand (its `mode::grad` bit).
    pub(crate) grads: [SyncPtr<T>; 3],
    /// The upstream gradient per element (`PER`).
    pub(crate) up: *const T,
    /// The upstream gradient of every element (without `PER`).
    pub(crate) scale: f64,
}
// SAFETY: the raw pointers are read (a, b, c, up) or written in disjoint ranges.
unsafe impl<A, B, C, T> Send for Job3<A, B, C, T> {}
unsafe impl<A, B, C, T> Sync for Job3<A, B, C, T> {}

impl<A: Copy, B: Copy, C: Copy, T: Float> Job3<A, B, C, T> {
    /// A job over three operands of one length, with no output yet.
    pub(crate) fn new(a: &[A], b: &[B], c: &[C]) -> Self {
        assert!(a.len() == b.len() && a.len() == c.len(), "the operands have one length");
        Job3 {
            a: a.as_ptr(),
            b: b.as_ptr(),
            c: c.as_ptr(),
            len: a.len(),
            losses: SyncPtr::null(),
            grads: [SyncPtr::null(); 3],
            up: std::ptr::null(),
            scale: 1.0,
        }
    }
}

/// One chunk `[lo, hi)`: its sum, lane `k` holding the elements `lo + k (mod
/// LANES)`, the lanes combined by a fixed tree, the last `< LANES` elements
/// added after it.
///
/// # Safety
/// `[lo, hi)` lies within the job, whose buffers hold `len` elements.
#[inline(always)]
unsafe fn chunk<A, B, C, T, F, const M: u8>(f: &F, j: &Job3<A, B, C, T>, lo: usize, hi: usize) -> f64
where
    A: Copy,
    B: Copy,
    C: Copy,
    T: Float,
    F: Fn(A, B, C, f64) -> (f64, [f64; 3]),
{
    // The pointers and the scale in locals: a store through an output could
    // otherwise be taken to change the job's fields, reloaded after each one
    // (and the loop not vectorised).
    let (a_p, b_p, c_p, up_p, scale0) = (j.a, j.b, j.c, j.up, j.scale);
    let (lp, gp) = (j.losses.0, [j.grads[0].0, j.grads[1].0, j.grads[2].0]);
    let scale = |i: usize| if M & mode::PER != 0 { (*up_p.add(i)).to_wide() } else { scale0 };
    let store = |i: usize, l: f64, g: [f64; 3]| {
        if M & mode::STORE != 0 {
            *lp.add(i) = T::from_wide(l);
        }
        for (k, gk) in g.into_iter().enumerate() {
            if M & mode::grad(k) != 0 {
                *gp[k].add(i) = T::from_wide(gk);
            }
        }
    };
    let mut acc = [0.0f64; LANES];
    let mut i = lo;
    while i + LANES <= hi {
        // Loaded, computed, then stored: the outputs need not be proved
        // distinct from the inputs for the loop to vectorise.
        let a: [A; LANES] = std::array::from_fn(|k| *a_p.add(i + k));
        let b: [B; LANES] = std::array::from_fn(|k| *b_p.add(i + k));
        let c: [C; LANES] = std::array::from_fn(|k| *c_p.add(i + k));
        let s: [f64; LANES] = std::array::from_fn(|k| scale(i + k));
        // One array per output (not one per element): stores of unit stride.
        // The gradients are narrowed to `T` as they are computed: for `f32`
        // half the registers between the two loops (f64 arrays of the whole
        // group were spilled to the stack and reloaded).
        let mut l = [0.0f64; LANES];
        let mut g = [[T::zero(); LANES]; 3];
        for k in 0..LANES {
            let (v, d) = f(a[k], b[k], c[k], s[k]);
            l[k] = v;
            for (gq, dq) in g.iter_mut().zip(d) {
                gq[k] = T::from_wide(dq);
            }
        }
        // Stored here, not through `store` with the narrowed values (the
        // tail's closure): that form compiled to a loop 1.8 × slower for
        // margin ranking (3.1 against 1.8 ms, 2026-12-06).
        for k in 0..LANES {
            if M & mode::STORE != 0 {
                *lp.add(i + k) = T::from_wide(l[k]);
            }
            for q in 0..3 {
                if M & mode::grad(q) != 0 {
                    *gp[q].add(i + k) = g[q][k];
                }
            }
            if M & mode::SUM != 0 {
                acc[k] += l[k];
            }
        }
        i += LANES;
    }
    let mut tail = 0.0f64;
    for i in i..hi {
        let (l, g) = f(*a_p.add(i), *b_p.add(i), *c_p.add(i), scale(i));
        store(i, l, g);
        if M & mode::SUM != 0 {
            tail += l;
        }
    }
    lane_tree(acc) + tail
}

/// The chunks `[c0, c1)`: their sums, compensated in order.
#[inline(always)]
unsafe fn chunks<A: Copy, B: Copy, C: Copy, T: Float, F: Fn(A, B, C, f64) -> (f64, [f64; 3]), const M: u8>(
    f: &F,
    j: &Job3<A, B, C, T>,
    c0: usize,
    c1: usize,
) -> f64 {
    sum_chunks(c0, c1, #[inline(always)] |k| chunk::<A, B, C, T, F, M>(f, j, k * CHUNK, ((k + 1) * CHUNK).min(j.len)))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
unsafe fn chunks_avx512<A: Copy, B: Copy, C: Copy, T: Float, F: Fn(A, B, C, f64) -> (f64, [f64; 3]), const M: u8>(
    f: &F,
    j: &Job3<A, B, C, T>,
    c0: usize,
    c1: usize,
) -> f64 {
    chunks::<A, B, C, T, F, M>(f, j, c0, c1)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn chunks_avx2<A: Copy, B: Copy, C: Copy, T: Float, F: Fn(A, B, C, f64) -> (f64, [f64; 3]), const M: u8>(
    f: &F,
    j: &Job3<A, B, C, T>,
    c0: usize,
    c1: usize,
) -> f64 {
    chunks::<A, B, C, T, F, M>(f, j, c0, c1)
}

unsafe fn chunks_base<A: Copy, B: Copy, C: Copy, T: Float, F: Fn(A, B, C, f64) -> (f64, [f64; 3]), const M: u8>(
    f: &F,
    j: &Job3<A, B, C, T>,
    c0: usize,
    c1: usize,
) -> f64 {
    chunks::<A, B, C, T, F, M>(f, j, c0, c1)
}

/// The loop over chunks `[c0, c1)` of a job (one mode, one instruction set).
type PartFn<A, B, C, T, F> = unsafe fn(&F, &Job3<A, B, C, T>, usize, usize) -> f64;

/// The sweep of mode `M` on this CPU's instruction set; the sum of the losses
/// (0 without `SUM`).
///
/// # Safety
/// As [`run`].
unsafe fn run_mode<A, B, C, T, F, const M: u8>(f: &F, j: &Job3<A, B, C, T>) -> f64
where
    A: Copy,
    B: Copy,
    C: Copy,
    T: Float,
    F: Fn(A, B, C, f64) -> (f64, [f64; 3]) + Sync,
{
    if j.len == 0 {
        return 0.0;
    }
    let part: PartFn<A, B, C, T, F> = match level() {
        #[cfg(target_arch = "x86_64")]
        2 => chunks_avx512::<A, B, C, T, F, M>,
        #[cfg(target_arch = "x86_64")]
        1 => chunks_avx2::<A, B, C, T, F, M>,
        _ => chunks_base::<A, B, C, T, F, M>,
    };
    // SAFETY: each part's chunks are its own (as `run_mode`'s caller promises).
    run_parts(j.len, |c0, c1| unsafe { part(f, j, c0, c1) })
}

/// Runs the sweep `m` says: `SUM` or `STORE`, with no gradient, `G0` or
/// `G012`, and `PER` only with `STORE` and gradients. Returns the sum of the
/// losses (0 without `SUM`).
///
/// # Safety
/// The operands hold the job's `len` elements; every output the mode writes
/// (and `up` under `PER`) holds `len` elements, and the written ones overlap
/// nothing else.
pub(crate) unsafe fn run<A, B, C, T, F>(f: F, m: u8, j: &Job3<A, B, C, T>) -> f64
where
    A: Copy,
    B: Copy,
    C: Copy,
    T: Float,
    F: Fn(A, B, C, f64) -> (f64, [f64; 3]) + Sync,
{
    use mode::*;
    const SUM_G0: u8 = SUM | G0;
    const STORE_G0: u8 = STORE | G0;
    const STORE_G0_PER: u8 = STORE | G0 | PER;
    const SUM_G012: u8 = SUM | G012;
    const STORE_G012: u8 = STORE | G012;
    const STORE_G012_PER: u8 = STORE | G012 | PER;
    let f = &f;
    match m {
        SUM => run_mode::<A, B, C, T, F, SUM>(f, j),
        STORE => run_mode::<A, B, C, T, F, STORE>(f, j),
        SUM_G0 => run_mode::<A, B, C, T, F, SUM_G0>(f, j),
        STORE_G0 => run_mode::<A, B, C, T, F, STORE_G0>(f, j),
        STORE_G0_PER => run_mode::<A, B, C, T, F, STORE_G0_PER>(f, j),
        SUM_G012 => run_mode::<A, B, C, T, F, SUM_G012>(f, j),
        STORE_G012 => run_mode::<A, B, C, T, F, STORE_G012>(f, j),
        STORE_G012_PER => run_mode::<A, B, C, T, F, STORE_G012_PER>(f, j),
        _ => unreachable!("unsupported three-operand mode {m}"),
    }
}

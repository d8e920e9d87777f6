//! The evaluation loops every family runs its mathematics on: element-wise over
//! aligned tensors, per lane along an axis, per row with class labels; the
//! upstream gradient; and the macros that write a loss's `forward` /
//! `backward` / `forward_backward` / builder methods from its evaluation.

use crate::machinery::error::{same_shape, shape_err, unravel, LossError, Result};
use crate::machinery::float::{narrow, widen, ClassIndex, Float};
use crate::machinery::kernels::elementwise::{self, mode, ElemOp, FnOp, Job};
use crate::machinery::fresh::{self, Fresh};
use crate::machinery::kernels::par::SyncPtr;
use crate::machinery::pointwise::Pointwise;
use crate::machinery::reduction::{ones_like_output, sum_f64, Gradients, Reducer, Reduction, Scales};
use crate::machinery::broadcast::{keras_same_rank, Broadcast};
use ndarray::{ArrayD, ArrayView, ArrayViewD, Dimension, IxDyn};

/// Which upstream gradient a shared `eval` is run with: none (forward only),
/// ones of the result's shape (`forward_backward`), or the caller's.
pub(crate) enum Upstream<'a, T> {
    Skip,
    Ones,
    Given(ArrayViewD<'a, T>),
}

impl<'a, T: Float> Upstream<'a, T> {
    /// The given upstream gradient's view, `None` for [`Upstream::Skip`] and
    /// [`Upstream::Ones`]: the argument of the general paths that take an
    /// optional upstream (for `Ones` they compute the value alone, and the
    /// caller runs the backward pass with ones of the value's shape).
    pub(crate) fn given(&self) -> Option<&ArrayViewD<'a, T>> {
        match self {
            Upstream::Given(g) => Some(g),
            Upstream::Skip | Upstream::Ones => None,
        }
    }

    /// The per-sample scales of the upstream gradient, `None` for a forward pass.
    pub(crate) fn scales(&self, loss: &'static str, reducer: &Reducer) -> Result<Option<Scales>> {
        match self {
            Upstream::Skip => Ok(None),
            Upstream::Ones => Ok(Some(reducer.scales(loss, &ones_like_output::<T>(reducer).view())?)),
            Upstream::Given(g) => Ok(Some(reducer.scales(loss, g)?)),
        }
    }
}

/// `(value, gradients)` of a shared `eval`.
pub(crate) type Eval<T, G> = (ArrayD<T>, Option<G>);

/// How the two operands of an element-wise loss pair up: the same shape, or
/// broadcast together ([`Pointwise::broadcast`]), or the second broadcast to
/// the first's shape ([`Pointwise::broadcast_to_first`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pairing {
    Same,
    Broadcast,
    ToFirst,
}

/// Runs an element-wise loss of two tensors paired as `pairing` says: `f(i, x, y)`
/// is the loss at element `i` of the result, `df(i, x, y)` its derivatives
/// (`∂/∂x`, `∂/∂y`), each gradient summed back to its operand's shape.
///
/// Operands of one shape, contiguous, take the fused sweep
/// ([`kernels::elementwise`](crate::machinery::kernels::elementwise)): value and
/// gradients in one pass, read and written in the tensors' own type, in
/// parallel, with a sum bit-identical whatever the thread count. Others (a
/// broadcast, a strided view, a strided upstream gradient) are widened and
/// evaluated by the same formulas.
#[allow(clippy::too_many_arguments)]
pub(crate) fn eval_pointwise<T, D, F, G>(
    loss: &'static str,
    pairing: Pairing,
    x: (&'static str, &ArrayView<'_, T, D>),
    y: (&'static str, &ArrayView<'_, T, D>),
    reduction: Reduction,
    up: &Upstream<'_, T>,
    target_grad: bool,
    f: F,
    df: G,
) -> Result<Eval<T, Gradients<T>>>
where
    T: Float,
    D: Dimension,
    F: Fn(usize, f64, f64) -> f64 + Copy + Send + Sync,
    G: Fn(usize, f64, f64) -> (f64, f64) + Copy + Send + Sync,
{
    eval_pointwise_op(loss, pairing, x, y, reduction, up, target_grad, FnOp(f, df), f, df)
}

/// [`eval_pointwise`] with the fused sweep's op given apart from the general
/// path's formulas: `op` (an [`ElemOp`] with an AVX-512 form of its own, for
/// one) runs on contiguous operands of one shape, `f` and `df` on the others.
/// `op.eval` must agree with `f` and `df` (the losses' tests compare the two
/// paths).
#[allow(clippy::too_many_arguments)]
pub(crate) fn eval_pointwise_op<T, D, O, F, G>(
    loss: &'static str,
    pairing: Pairing,
    x: (&'static str, &ArrayView<'_, T, D>),
    y: (&'static str, &ArrayView<'_, T, D>),
    reduction: Reduction,
    up: &Upstream<'_, T>,
    target_grad: bool,
    op: O,
    f: F,
    df: G,
) -> Result<Eval<T, Gradients<T>>>
where
    T: Float,
    D: Dimension,
    O: ElemOp,
    F: Fn(usize, f64, f64) -> f64 + Copy + Send + Sync,
    G: Fn(usize, f64, f64) -> (f64, f64) + Copy + Send + Sync,
{
    if x.1.shape() == y.1.shape() {
        if let (Some(xs), Some(ys)) = (x.1.as_slice(), y.1.as_slice()) {
            if let Some(done) = fused_pointwise(loss, x.1.shape(), xs, ys, reduction, up, target_grad, op)? {
                return Ok(done);
            }
        }
    }
    let p = match pairing {
        Pairing::Same => Pointwise::named(loss, x, y)?,
        Pairing::Broadcast => Pointwise::broadcast(loss, x, y)?,
        Pairing::ToFirst => Pointwise::broadcast_to_first(loss, x, y)?,
    };
    let reducer = p.reducer(reduction);
    let scales = up.scales(loss, &reducer)?;
    let value = p.forward(reduction, f);
    let grads = match scales {
        None => None,
        Some(s) => {
            let n = p.x.len();
            let (mut gx, mut gy) = (Vec::with_capacity(n), Vec::with_capacity(if target_grad { n } else { 0 }));
            for i in 0..n {
                let (dx, dy) = df(i, p.x[i], p.y[i]);
                gx.push(s.at(i) * dx);
                if target_grad {
                    gy.push(s.at(i) * dy);
                }
            }
            Some(Gradients {
                input: p.grad_x(gx),
                target: target_grad.then(|| p.grad_y(gy)),
            })
        }
    };
    Ok((value, grads))
}

/// The fused sweep of [`eval_pointwise`] on contiguous operands of `shape`;
/// `None` where the upstream gradient is per element and strided.
#[allow(clippy::too_many_arguments)]
fn fused_pointwise<T: Float, O: ElemOp>(
    loss: &'static str,
    shape: &[usize],
    xs: &[T],
    ys: &[T],
    reduction: Reduction,
    up: &Upstream<'_, T>,
    target_grad: bool,
    op: O,
) -> Result<Option<Eval<T, Gradients<T>>>> {
    let reducer = Reducer::counting(reduction, shape, shape);
    let n = xs.len();
    let mut j = Job::new(xs, ys);
    let mut m = if reduction == Reduction::None { mode::STORE } else { mode::SUM };
    match up {
        Upstream::Skip => {}
        Upstream::Ones => {
            m |= mode::GX;
            // Ones: 1 per element unreduced, the reduction's one factor otherwise.
            if reduction != Reduction::None {
                j.scale = reducer.scales(loss, &ones_like_output::<T>(&reducer).view())?.at(0);
            }
        }
        Upstream::Given(g) if reduction == Reduction::None => {
            reducer.check_unreduced(loss, g.shape())?;
            let Some(gs) = g.as_slice() else { return Ok(None) };
            j.up = gs.as_ptr();
            m |= mode::GX | mode::PER;
        }
        Upstream::Given(g) => {
            m |= mode::GX;
            j.scale = reducer.scales(loss, g)?.at(0);
        }
    }
    let array = |v: Vec<T>| ArrayD::from_shape_vec(IxDyn(shape), v).expect("shape and length agree");
    if target_grad && m & mode::GX != 0 {
        m |= mode::GY;
    }
    // The outputs the mode writes, each in full ([`Fresh`]).
    let out = |bit: u8| (m & bit != 0).then(|| Fresh::new(n));
    let (mut losses, mut gx, mut gy) = (out(mode::STORE), out(mode::GX), out(mode::GY));
    for (buf, ptr) in [(&mut losses, &mut j.losses), (&mut gx, &mut j.gx), (&mut gy, &mut j.gy)] {
        if let Some(b) = buf {
            *ptr = b.ptr();
        }
    }
    // SAFETY: x, y (and the upstream gradient under PER) hold n elements; each
    // buffer the mode writes holds n elements and is this call's own.
    let total = unsafe { elementwise::run(op, m, &j) };
    // SAFETY: the sweep wrote every element of each buffer of its mode.
    let done = |b: Option<Fresh<T>>| b.map(|b| array(unsafe { b.written() }));
    let value = done(losses).unwrap_or_else(|| reducer.output_total(total));
    let grads = done(gx).map(|input| Gradients { input, target: done(gy) });
    Ok(Some((value, grads)))
}

/// The result of [`eval_triple`]: the value and, when an upstream gradient was
/// given, the gradient of each operand asked for (`None` for the others).
pub(crate) type Eval3<T> = Eval<T, [Option<ArrayD<T>>; 3]>;

/// Runs an element-wise loss of three aligned, contiguous operands of `shape`
/// (each of its own element type) on the fused three-operand sweep
/// ([`kernels::triple`](crate::machinery::kernels::triple)): `f(a, b, c, s)`
/// is one element's loss and its gradients, scaled by the element's upstream
/// gradient `s`; `want[k]` asks for operand `k`'s gradient (`[true, false,
/// false]` or all three). Value and gradients in one parallel pass, written in
/// `T`, the sum in `f64` in a fixed order (bit-identical whatever the thread
/// count). `None` where the upstream gradient is per element and strided (the
/// caller's general path then).
#[allow(clippy::too_many_arguments)]
pub(crate) fn eval_triple<T, A, B, C, F>(
    loss: &'static str,
    shape: &[usize],
    (a, b, c): (&[A], &[B], &[C]),
    reduction: Reduction,
    up: &Upstream<'_, T>,
    want: [bool; 3],
    f: F,
) -> Result<Option<Eval3<T>>>
where
    T: Float,
    A: Copy,
    B: Copy,
    C: Copy,
    F: Fn(A, B, C, f64) -> (f64, [f64; 3]) + Sync,
{
    use crate::machinery::kernels::triple::{self, mode as m3, Job3};
    debug_assert!(want == [true, false, false] || want == [true; 3], "the sweep's gradient sets");
    let reducer = Reducer::counting(reduction, shape, shape);
    let n = a.len();
    let mut job = Job3::new(a, b, c);
    let mut m = if reduction == Reduction::None { m3::STORE } else { m3::SUM };
    let grads_mode = if want[1] { m3::G012 } else { m3::G0 };
    match up {
        Upstream::Skip => {}
        Upstream::Ones => {
            m |= grads_mode;
            if reduction != Reduction::None {
                job.scale = reducer.scales(loss, &ones_like_output::<T>(&reducer).view())?.at(0);
            }
        }
        Upstream::Given(g) if reduction == Reduction::None => {
            reducer.check_unreduced(loss, g.shape())?;
            let Some(gs) = g.as_slice() else { return Ok(None) };
            job.up = gs.as_ptr();
            m |= grads_mode | m3::PER;
        }
        Upstream::Given(g) => {
            m |= grads_mode;
            job.scale = reducer.scales(loss, g)?.at(0);
        }
    }
    // The outputs the mode writes, each in full ([`Fresh`]).
    let mut losses = (m & m3::STORE != 0).then(|| Fresh::new(n));
    if let Some(b) = &mut losses {
        job.losses = b.ptr();
    }
    let mut grads: [Option<Fresh<T>>; 3] = std::array::from_fn(|k| (m & m3::grad(k) != 0).then(|| Fresh::new(n)));
    for (g, ptr) in grads.iter_mut().zip(job.grads.iter_mut()) {
        if let Some(b) = g {
            *ptr = b.ptr();
        }
    }
    // SAFETY: the operands (and the upstream gradient under PER) hold n
    // elements; each output the mode writes holds n elements and is this call's own.
    let total = unsafe { triple::run(f, m, &job) };
    let array = |v: Vec<T>| ArrayD::from_shape_vec(IxDyn(shape), v).expect("shape and length agree");
    // SAFETY: the sweep wrote every element of each buffer of its mode.
    let done = |b: Option<Fresh<T>>| b.map(|b| array(unsafe { b.written() }));
    let value = done(losses).unwrap_or_else(|| reducer.output_total(total));
    let out = (m & m3::G0 != 0).then(|| grads.map(done));
    Ok(Some((value, out)))
}

/// One row's outputs in [`eval_rows`]: the upstream gradient of its loss and
/// its gradients (each the row's `C` elements, zeroed), or `None` for a
/// forward pass.
pub(crate) struct RowGrads<'a, T> {
    /// The upstream gradient of the row's loss (the reduction's factor included).
    pub(crate) up: f64,
    /// `∂/∂` the first tensor.
    pub(crate) gx: &'a mut [T],
    /// `∂/∂` the second tensor (empty unless asked for).
    pub(crate) go: &'a mut [T],
}

/// The start of a softmax over one row `x`: its maximum `m`, the exponentials
/// `exp(x − m)` written at `dst` (nothing when it is null), and `(m, Σ exp(x − m))`
/// in `f64`; `None`, with `special` set, when the row
/// holds a NaN or its maximum is infinite (inputs the callers leave to their
/// general path).
///
/// # Safety
/// `dst`, when not null, is valid for `x.len()` writes.
#[inline(always)]
pub(crate) unsafe fn softmax_row<T: Float>(x: &[T], dst: *mut T, special: &std::sync::atomic::AtomicBool) -> Option<(f64, f64)> {
    let ops = crate::machinery::kernels::ops_for::<T>();
    // SAFETY: x holds x.len() elements; dst as the caller says.
    let (m, nan) = unsafe { (ops.max)(x.as_ptr(), x.len()) };
    if nan || !m.is_finite() {
        special.store(true, std::sync::atomic::Ordering::Relaxed);
        return None;
    }
    // SAFETY: as above; m is finite and at least every element.
    let (s, _) = unsafe { (ops.exp_sum)(x.as_ptr(), dst, x.len(), m, false) };
    Some((m.to_wide(), s))
}

/// Runs a per-row loss over `rows` contiguous rows of `c` elements on the fused
/// row sweep ([`kernels::rows`](crate::machinery::kernels::rows)): `row(r,
/// grads)` returns row `r`'s loss and, when `grads` is `Some`, writes its
/// gradients (scaled by `grads.up`) into the row's slices, in the one pass; rows
/// in parallel, in the tensors' own type, the sum in a fixed order
/// (bit-identical whatever the thread count). `shape` is the gradients'
/// (`rows · c` elements), `reducer` the result's; `other_grad` asks for the
/// gradient of a second tensor of `shape`. Nothing is allocated but the
/// result, the gradients and, for an unreduced result's upstream gradient, its
/// widening.
pub(crate) fn eval_rows<T: Float>(
    loss: &'static str,
    reducer: &Reducer,
    shape: &[usize],
    rc: (usize, usize),
    up: &Upstream<'_, T>,
    other_grad: bool,
    row: impl Fn(usize, Option<RowGrads<'_, T>>) -> f64 + Sync,
) -> Result<Eval<T, Gradients<T>>> {
    eval_rows_into(loss, reducer, shape, rc, up, other_grad, false, row)
}

/// [`eval_rows`]; with `full`, `row` writes every element of the gradients'
/// slices it is given, and they are handed to it unzeroed
/// ([`fresh::Fresh`]: no `memset`, pages faulted in ahead in parallel).
#[allow(clippy::too_many_arguments)]
pub(crate) fn eval_rows_into<T: Float>(
    loss: &'static str,
    reducer: &Reducer,
    shape: &[usize],
    (rows, c): (usize, usize),
    up: &Upstream<'_, T>,
    other_grad: bool,
    full: bool,
    row: impl Fn(usize, Option<RowGrads<'_, T>>) -> f64 + Sync,
) -> Result<Eval<T, Gradients<T>>> {
    let n = rows * c;
    // SAFETY (of the sweep): `lp` is null or holds `rows` elements, `gxp` and
    // `gop` hold `n` each where the scales ask for them, all this call's own;
    // the closures are inlined into the part loop, which is compiled per
    // instruction set ([`kernels::rows`](crate::machinery::kernels::rows)).
    eval_rows_core(loss, reducer, shape, (rows, c), up, other_grad, full, |sweep| unsafe {
        crate::machinery::kernels::rows::run(rows, n, sweep.losses, #[inline(always)] |r: usize| row(r, sweep.row(r, c, other_grad)))
    })
}

/// [`eval_rows_into`] in [`rows::run_batched`](crate::machinery::kernels::rows::run_batched)'s
/// three steps: `first(r)` per row, `middle(firsts, seconds)` per batch of
/// rows, then `row(r, first, second, grads)`, the row's loss and gradients
/// as [`eval_rows_into`]'s `row`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn eval_rows_batched<T: Float>(
    loss: &'static str,
    reducer: &Reducer,
    shape: &[usize],
    (rows, c): (usize, usize),
    up: &Upstream<'_, T>,
    full: bool,
    first: impl Fn(usize) -> f64 + Sync,
    middle: impl Fn(&[f64], &mut [f64]) + Sync,
    row: impl Fn(usize, f64, f64, Option<RowGrads<'_, T>>) -> f64 + Sync,
) -> Result<Eval<T, Gradients<T>>> {
    let n = rows * c;
    // SAFETY: as eval_rows_into's.
    eval_rows_core(loss, reducer, shape, (rows, c), up, false, full, |sweep| unsafe {
        crate::machinery::kernels::rows::run_batched(
            rows,
            n,
            sweep.losses,
            first,
            middle,
            #[inline(always)]
            |r: usize, u: f64, v: f64| row(r, u, v, sweep.row(r, c, false)),
        )
    })
}

/// The outputs of a row sweep as [`eval_rows_core`] hands them to its loop:
/// each row's loss at `losses[r]` (null: the result is reduced, only the
/// sum is wanted), and with `scales` (the rows' upstream gradients) the
/// gradients' `rows · c` elements at `gx` (and `go` where a second tensor's
/// gradient is asked for; null otherwise).
pub(crate) struct RowsSweep<'a, T> {
    pub(crate) losses: SyncPtr<T>,
    pub(crate) gx: SyncPtr<T>,
    pub(crate) go: SyncPtr<T>,
    pub(crate) scales: Option<&'a Scales>,
}

impl<T> RowsSweep<'_, T> {
    /// Row `r`'s [`RowGrads`] (rows of `c` elements; `go` empty unless
    /// `other_grad`), or `None` for a forward pass.
    ///
    /// # Safety
    /// Row `r`'s elements of the gradients are the caller's alone, and `r`
    /// is one of the sweep's rows.
    #[inline(always)]
    pub(crate) unsafe fn row(&self, r: usize, c: usize, other_grad: bool) -> Option<RowGrads<'_, T>> {
        let sc = self.scales?;
        // SAFETY: the function's contract.
        let (gx, go) = unsafe {
            (
                std::slice::from_raw_parts_mut(self.gx.0.add(r * c), c),
                if other_grad { std::slice::from_raw_parts_mut(self.go.0.add(r * c), c) } else { &mut [][..] },
            )
        };
        Some(RowGrads { up: sc.at(r), gx, go })
    }
}

/// [`eval_rows_into`] with the sweep itself given: `sweep(outputs)` runs
/// the rows (stores each row's loss where `outputs.losses` is not null,
/// writes the gradients where `outputs.scales` is `Some`: every element of
/// them under `full`, else the nonzero ones over zeros) and returns the sum
/// of the losses in a fixed order. The allocation of the outputs and the
/// result's assembly are this function's.
#[allow(clippy::too_many_arguments)]
pub(crate) fn eval_rows_core<T: Float>(
    loss: &'static str,
    reducer: &Reducer,
    shape: &[usize],
    (rows, c): (usize, usize),
    up: &Upstream<'_, T>,
    other_grad: bool,
    full: bool,
    sweep: impl FnOnce(RowsSweep<'_, T>) -> f64,
) -> Result<Eval<T, Gradients<T>>> {
    let n = rows * c;
    debug_assert_eq!(n, shape.iter().product::<usize>());
    let scales = up.scales(loss, reducer)?;
    let mut losses = Vec::new();
    let lp = if reducer.reduction == Reduction::None {
        losses = fresh::zeroed(rows);
        SyncPtr(losses.as_mut_ptr())
    } else {
        SyncPtr::null()
    };
    // The gradients: zeroed, or (`full`) unwritten until the rows write them.
    let alloc = |want: bool| match (want, full) {
        (false, _) => (Vec::new(), None),
        (true, false) => (fresh::zeroed(n), None),
        (true, true) => (Vec::new(), Some(fresh::Fresh::new(n))),
    };
    let ((mut gx, mut fx), (mut go, mut fo)) = (alloc(scales.is_some()), alloc(scales.is_some() && other_grad));
    let gxp = fx.as_mut().map_or(SyncPtr(gx.as_mut_ptr()), |f| f.ptr());
    let gop = fo.as_mut().map_or(SyncPtr(go.as_mut_ptr()), |f| f.ptr());
    let total = sweep(RowsSweep { losses: lp, gx: gxp, go: gop, scales: scales.as_ref() });
    // SAFETY: with `full`, the rows have written every element of both.
    unsafe {
        if let Some(f) = fx {
            gx = f.written();
        }
        if let Some(f) = fo {
            go = f.written();
        }
    }
    let value = if reducer.reduction == Reduction::None {
        ArrayD::from_shape_vec(IxDyn(&reducer.shape), losses).expect("one loss per row")
    } else {
        reducer.output_total(total)
    };
    let array = |v: Vec<T>| ArrayD::from_shape_vec(IxDyn(shape), v).expect("shape and length agree");
    let grads = scales.is_some().then(|| Gradients { input: array(gx), target: other_grad.then(|| array(go)) });
    Ok((value, grads))
}

/// A shared `eval`'s result as a [`PairOutput`] (both gradients asked for).
pub(crate) fn pair_output<T>((value, grads): Eval<T, Gradients<T>>) -> PairOutput<T> {
    (value, grads.map(|g| (g.input, g.target.expect("the second tensor's gradient"))))
}

/// [`eval_rows`] for a loss of two tensors of one shape, both contiguous,
/// reduced over their last axis (one result per row): `row(a, b, grads)` is
/// the loss of one row pair (`a` the first tensor's row, `b` the second's)
/// and, when `grads` is `Some`, writes both rows' gradients (`gx` the first
/// tensor's, `go` the second's). `None` where the shapes differ, a tensor is
/// strided, 0-d or empty: the general path takes those (and says what is
/// wrong with them).
///
/// The gradients as [`Gradients`], `input` the first tensor's, `target` the
/// second's ([`pair_output`] makes them a [`PairOutput`]).
pub(crate) fn eval_pair_rows<T: Float, D: Dimension>(
    loss: &'static str,
    a: (&'static str, &ArrayView<'_, T, D>),
    b: &ArrayView<'_, T, D>,
    reduction: Reduction,
    up: &Upstream<'_, T>,
    row: impl Fn(&[T], &[T], Option<RowGrads<'_, T>>) -> f64 + Sync,
) -> Result<Option<Eval<T, Gradients<T>>>> {
    eval_pair_rows_into(loss, a, b, reduction, up, false, row)
}

/// Two tensors of one shape, both contiguous, as rows over their last axis:
/// the row sweeps' operands ([`eval_pair_rows_into`], [`rows_op_f32`]).
struct PairRows<'a, T> {
    av: &'a [T],
    bv: &'a [T],
    rows: usize,
    c: usize,
    /// The result's reducer (one loss per row).
    reducer: Reducer,
}

/// `a` and `b` as [`PairRows`]; `None` where the shapes differ, a tensor is
/// strided, 0-d or empty (the general path's cases).
fn pair_rows<'a, T: Float, D: Dimension>(
    loss: &'static str,
    (a_name, a): (&'static str, &'a ArrayView<'_, T, D>),
    b: &'a ArrayView<'_, T, D>,
    reduction: Reduction,
) -> Result<Option<PairRows<'a, T>>> {
    let shape = a.shape();
    if b.shape() != shape || shape.is_empty() {
        return Ok(None);
    }
    let (Some(av), Some(bv)) = (a.as_slice(), b.as_slice()) else { return Ok(None) };
    let (rows, c, out) = last_axis(loss, a_name, shape)?;
    if rows * c == 0 {
        return Ok(None);
    }
    Ok(Some(PairRows { av, bv, rows, c, reducer: Reducer::counting(reduction, &out, shape) }))
}

/// [`eval_pair_rows`]; `full` as [`eval_rows_into`]'s.
fn eval_pair_rows_into<T: Float, D: Dimension>(
    loss: &'static str,
    (a_name, a): (&'static str, &ArrayView<'_, T, D>),
    b: &ArrayView<'_, T, D>,
    reduction: Reduction,
    up: &Upstream<'_, T>,
    full: bool,
    row: impl Fn(&[T], &[T], Option<RowGrads<'_, T>>) -> f64 + Sync,
) -> Result<Option<Eval<T, Gradients<T>>>> {
    let shape = a.shape();
    let Some(PairRows { av, bv, rows, c, reducer }) = pair_rows(loss, (a_name, a), b, reduction)? else { return Ok(None) };
    let done = eval_rows_into(loss, &reducer, shape, (rows, c), up, true, full, #[inline(always)] |r: usize, g: Option<RowGrads<'_, T>>| {
        row(&av[r * c..(r + 1) * c], &bv[r * c..(r + 1) * c], g)
    })?;
    Ok(Some(done))
}


/// The row sweep of a per-sample mean of an element-wise loss given as an
/// [`ElemOp`] (`x` the first tensor's element, `y` the second's): per row, the
/// element-wise sweep's own loop ([`elementwise::serial_loop`]: its AVX-512
/// `f32` form where the op has one, else the portable loop compiled for the
/// CPU) over the row's `C` elements, the loss and both gradients (scaled by
/// `up / C`) in one pass, its sum divided by `C`; rows in parallel
/// ([`eval_rows`]). `None` where [`eval_pair_rows`] declines (shapes that
/// differ, a strided tensor): the caller's general path then.
pub(crate) fn eval_mean_rows_op<T: Float, D: Dimension, O: ElemOp>(
    loss: &'static str,
    a: (&'static str, &ArrayView<'_, T, D>),
    b: &ArrayView<'_, T, D>,
    reduction: Reduction,
    up: &Upstream<'_, T>,
    op: O,
) -> Result<Option<Eval<T, Gradients<T>>>> {
    eval_rows_op(loss, a, b, reduction, up, op, true)
}

/// [`eval_mean_rows_op`] for a loss written on [`PairOutput`]s; without
/// `mean`, for a per-sample sum (`Σ_k ℓ(x_k, y_k)` over the last axis,
/// gradients scaled by the upstream alone: optax's KL divergences, Keras's).
#[allow(clippy::too_many_arguments)]
pub(crate) fn pair_rows_op<T: Float, D: Dimension, O: ElemOp>(
    loss: &'static str,
    a: (&'static str, &ArrayView<'_, T, D>),
    b: &ArrayView<'_, T, D>,
    reduction: Reduction,
    up: &Upstream<'_, T>,
    op: O,
    mean: bool,
) -> Result<Option<PairOutput<T>>> {
    Ok(eval_rows_op(loss, a, b, reduction, up, op, mean)?.map(pair_output))
}

/// [`eval_mean_rows_op`] (`mean`) and [`pair_rows_op`].
fn eval_rows_op<T: Float, D: Dimension, O: ElemOp>(
    loss: &'static str,
    a: (&'static str, &ArrayView<'_, T, D>),
    b: &ArrayView<'_, T, D>,
    reduction: Reduction,
    up: &Upstream<'_, T>,
    op: O,
    mean: bool,
) -> Result<Option<Eval<T, Gradients<T>>>> {
    #[cfg(target_arch = "x86_64")]
    if O::LANES512 != elementwise::Lanes::Generic && elementwise::level() == 2 && std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() {
        return rows_op_f32(loss, a, b, reduction, up, op, mean);
    }
    let (fwd, fb) = (elementwise::serial_loop::<T, O>(mode::SUM), elementwise::serial_loop::<T, O>(mode::SUM | mode::GX | mode::GY));
    eval_pair_rows_into(loss, a, b, reduction, up, true, #[inline(always)] |x: &[T], y: &[T], g: Option<RowGrads<'_, T>>| {
        let (cf, chunks) = (if mean { x.len() as f64 } else { 1.0 }, x.len().div_ceil(elementwise::CHUNK));
        let mut j = Job::new(x, y);
        // SAFETY: the row's x and y hold C elements; so do its gradients.
        let sum = match g {
            None => unsafe { fwd(op, &j, 0, chunks) },
            Some(g) => {
                j.scale = g.up / cf;
                (j.gx, j.gy) = (SyncPtr(g.gx.as_mut_ptr()), SyncPtr(g.go.as_mut_ptr()));
                unsafe { fb(op, &j, 0, chunks) }
            }
        };
        sum / cf
    })
}

/// [`eval_rows_op`] for `f32` operands on AVX-512, an op with an AVX-512
/// form: the rows of each part in one loop ([`elementwise::x86::rows_f32`]),
/// the same bits as the row-by-row path (each row on the element-wise loop),
/// without its call per row.
#[cfg(target_arch = "x86_64")]
fn rows_op_f32<T: Float, D: Dimension, O: ElemOp>(
    loss: &'static str,
    (a_name, a): (&'static str, &ArrayView<'_, T, D>),
    b: &ArrayView<'_, T, D>,
    reduction: Reduction,
    up: &Upstream<'_, T>,
    op: O,
    mean: bool,
) -> Result<Option<Eval<T, Gradients<T>>>> {
    debug_assert_eq!(std::any::TypeId::of::<T>(), std::any::TypeId::of::<f32>());
    let shape = a.shape();
    let Some(PairRows { av, bv, rows, c, reducer }) = pair_rows(loss, (a_name, a), b, reduction)? else { return Ok(None) };
    let cf = if mean { c as f64 } else { 1.0 };
    // T is f32 (the caller's test): the pointers are the f32 buffers'.
    let (x, y) = (SyncPtr(av.as_ptr() as *mut f32), SyncPtr(bv.as_ptr() as *mut f32));
    let done = eval_rows_core(loss, &reducer, shape, (rows, c), up, true, true, |sw| {
        let (lp, gx, go) = (sw.losses.0 as *mut f32, SyncPtr(sw.gx.0 as *mut f32), SyncPtr(sw.go.0 as *mut f32));
        let ptrs = (x, y, SyncPtr(lp), gx, go);
        crate::machinery::kernels::rows::run_parts(rows, rows * c, |lo, hi| {
            let (x, y, lp, gx, go) = ptrs;
            // SAFETY: AVX-512 is present (the caller's test); x, y and both
            // gradients hold rows · c elements, the losses `rows` (or null);
            // rows lo..hi are this part's alone.
            unsafe { elementwise::x86::rows_f32(op, (x.0, y.0, c), cf, lp.0, sw.scales.map(|s| (gx.0, go.0, s)), lo, hi) }
        })
    })?;
    Ok(Some(done))
}

/// `f` itself: binds an `#[inline(always)]` closure with `let` (an attribute
/// is allowed on a call's argument, not on a `let`'s initialiser), so that it
/// is inlined into the row sweep's compiled loops as its caller's closures are.
#[inline(always)]
pub(crate) fn inlined<F>(f: F) -> F {
    f
}


/// Splits a shape into `(samples, classes, shape of one result per sample)` along
/// its last axis; an error for a tensor without axes.
pub(crate) fn last_axis(loss: &'static str, tensor: &'static str, shape: &[usize]) -> Result<(usize, usize, Vec<usize>)> {
    match shape.split_last() {
        None => Err(shape_err(loss, tensor, "at least 1 dimension (the last axis is reduced)", shape)),
        Some((&c, rest)) => Ok((rest.iter().product(), c, rest.to_vec())),
    }
}


/// The compensated sum of `f(k)` over the lane of sample `s` (`c` elements).
pub(crate) fn sum_lane(s: usize, c: usize, f: impl Fn(usize) -> f64) -> f64 {
    crate::machinery::reduction::sum_f64((s * c..(s + 1) * c).map(f))
}

/// Runs a loss with one value per lane along the last axis (row-major:
/// sample `s` is elements `s·c .. (s+1)·c`). `f(s, _)` is sample `s`'s loss;
/// `g(s, scale, grad_pred, grad_other)` adds `scale · ∂ℓₛ/∂·` to the gradients.
#[allow(clippy::too_many_arguments)]
pub(crate) fn eval_lanes<T: Float>(
    loss: &'static str,
    shape: &[usize],
    samples: usize,
    c: usize,
    out_shape: &[usize],
    reduction: Reduction,
    up: &Upstream<'_, T>,
    other_grad: bool,
    f: impl Fn(usize, usize) -> f64,
    g: impl Fn(usize, f64, &mut [f64], &mut [f64]),
) -> Result<Eval<T, Gradients<T>>> {
    eval_lanes_then(loss, shape, (samples, c, out_shape.to_vec()), reduction, up, f, g, |gp, go| Gradients {
        input: narrow(shape, gp),
        target: other_grad.then(|| narrow(shape, go)),
    })
}

/// The loop of [`eval_lanes`], over the lanes `(samples, c, out_shape)` of
/// `shape` (as [`last_axis`] gives them); `finish` turns the gradients, in
/// `shape`, into the tensors' own (for tensors broadcast by
/// [`Pointwise::from_broadcast`]: [`Pointwise::gradients`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn eval_lanes_then<T: Float>(
    loss: &'static str,
    shape: &[usize],
    (samples, c, out_shape): (usize, usize, Vec<usize>),
    reduction: Reduction,
    up: &Upstream<'_, T>,
    f: impl Fn(usize, usize) -> f64,
    g: impl Fn(usize, f64, &mut [f64], &mut [f64]),
    finish: impl FnOnce(Vec<f64>, Vec<f64>) -> Gradients<T>,
) -> Result<Eval<T, Gradients<T>>> {
    let reducer = Reducer::counting(reduction, &out_shape, shape);
    let scales = up.scales(loss, &reducer)?;
    let value = reducer.output((0..samples).map(|s| f(s, c)).collect());
    let grads = scales.map(|sc| {
        let n = samples * c;
        let (mut gp, mut go) = (vec![0.0; n], vec![0.0; n]);
        for s in 0..samples {
            g(s, sc.at(s), &mut gp, &mut go);
        }
        finish(gp, go)
    });
    Ok((value, grads))
}

/// The lanes of a tensor along one axis: `outer × inner` lanes of `len` elements
/// with stride `inner`, and the shape of one result per lane.
#[derive(Debug, Clone)]
pub(crate) struct Lanes {
    pub(crate) outer: usize,
    pub(crate) len: usize,
    pub(crate) inner: usize,
    pub(crate) out_shape: Vec<usize>,
}

impl Lanes {
    pub(crate) fn new(loss: &'static str, tensor: &'static str, shape: &[usize], axis: isize) -> Result<Self> {
        if shape.is_empty() {
            return Err(shape_err(loss, tensor, "at least 1 dimension", shape));
        }
        let ax = resolve_axis(loss, "axis", axis, shape.len())?;
        let (outer, len, inner) = lanes(shape, ax);
        let mut out_shape = shape.to_vec();
        out_shape.remove(ax);
        Ok(Lanes { outer, len, inner, out_shape })
    }
    pub(crate) fn count(&self) -> usize {
        self.outer * self.inner
    }
    #[inline]
    pub(crate) fn at(&self, s: usize, k: usize) -> usize {
        let (o, i) = (s / self.inner, s % self.inner);
        o * self.len * self.inner + k * self.inner + i
    }
}

/// Gradients of a pair kernel, lane by lane: `(∂/∂a, ∂/∂b)`.
pub(crate) type LaneGrads<'a> = Option<(&'a mut [f64], &'a mut [f64])>;

/// The value, and the gradients w.r.t. both tensors when an upstream gradient was given.
pub(crate) type PairOutput<T> = (ArrayD<T>, Option<(ArrayD<T>, ArrayD<T>)>);

/// How the two tensors of a per-lane loss ([`run_pair_with`]) may differ in shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PairShapes {
    /// One shape: the reference refuses any other.
    Same,
    /// Broadcast together as NumPy broadcasts ([`Broadcast::numpy`]: Keras,
    /// optax, TensorFlow); the lanes are those of the broadcast shape and each
    /// gradient is summed back to its tensor's shape.
    Numpy {
        /// Per tensor: the reference transforms it over its own lane (a
        /// softmax, a renormalisation, a norm) before it broadcasts, so its lane
        /// axis must have the broadcast lane's length (a lane axis of size 1
        /// that broadcasts is refused).
        own_lane: [bool; 2],
        /// Keras's squeeze or expand of a trailing axis of size 1 first
        /// ([`keras_same_rank`]).
        keras_rank: bool,
    },
}

impl PairShapes {
    /// NumPy broadcasting, no tensor transformed over its own lane.
    pub(crate) const NUMPY: PairShapes = PairShapes::Numpy { own_lane: [false, false], keras_rank: false };
    /// Keras's element-wise regression losses: squeeze or expand a trailing 1, then NumPy broadcasting.
    pub(crate) const KERAS_RANK: PairShapes = PairShapes::Numpy { own_lane: [false, false], keras_rank: true };
}

/// Runs a per-lane loss over two float tensors of the same shape.
///
/// `kernel(a, b, grads)` returns the loss of one lane and, when `grads` is
/// `Some`, writes the lane's gradients w.r.t. `a` and `b` into it (zeroed).
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_pair<T: Float, D: Dimension>(
    loss: &'static str,
    a: (&'static str, &ArrayView<'_, T, D>),
    b: (&'static str, &ArrayView<'_, T, D>),
    axis: isize,
    reduction: Reduction,
    grad_output: Option<&ArrayViewD<'_, T>>,
    kernel: impl Fn(&[f64], &[f64], LaneGrads<'_>) -> f64,
) -> Result<PairOutput<T>> {
    run_pair_with(loss, a, b, axis, PairShapes::Same, reduction, grad_output, kernel)
}

/// [`run_pair`], the tensors' shapes as `shapes` says: equal, or broadcast (the
/// kernel then sees the lanes of the broadcast tensors).
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_pair_with<T: Float, D1: Dimension, D2: Dimension>(
    loss: &'static str,
    (an, a): (&'static str, &ArrayView<'_, T, D1>),
    (bn, b): (&'static str, &ArrayView<'_, T, D2>),
    axis: isize,
    shapes: PairShapes,
    reduction: Reduction,
    grad_output: Option<&ArrayViewD<'_, T>>,
    kernel: impl Fn(&[f64], &[f64], LaneGrads<'_>) -> f64,
) -> Result<PairOutput<T>> {
    let (shape, av, bv, bc) = match shapes {
        PairShapes::Same => {
            same_shape(loss, an, a.shape(), bn, b.shape())?;
            (a.shape().to_vec(), widen(a), widen(b), None)
        }
        PairShapes::Numpy { own_lane, keras_rank } => {
            let (sa, sb) = if keras_rank { keras_same_rank(a.shape(), b.shape()) } else { (a.shape().to_vec(), b.shape().to_vec()) };
            let bc = Broadcast::numpy(loss, &[(an, &sa), (bn, &sb)])?;
            if axis >= 0 && sa.len() != sb.len() {
                let (name, s, other, os) = if sa.len() < sb.len() { (an, &sa, bn, &sb) } else { (bn, &sb, an, &sa) };
                return Err(shape_err(
                    loss,
                    name,
                    format!("{} dimensions, as `{other}` {os:?} (with the axis {axis} counted from the front, tensors of different ranks do not broadcast here)", os.len()),
                    s,
                ));
            }
            let lanes = Lanes::new(loss, an, &bc.shape, axis)?;
            let ax = resolve_axis(loss, "axis", axis, bc.shape.len())?;
            for (k, (name, s, given)) in [(an, &sa, a.shape()), (bn, &sb, b.shape())].into_iter().enumerate() {
                let lead = bc.shape.len() - s.len();
                let own = if ax >= lead { s[ax - lead] } else { 1 };
                if own_lane[k] && own != lanes.len {
                    return Err(shape_err(
                        loss,
                        name,
                        format!(
                            "a shape that broadcasts to {:?} with its own axis {axis} of {} entries (the reference transforms `{name}` over that axis before it broadcasts; a size-1 axis there is not taken)",
                            bc.shape, lanes.len
                        ),
                        given,
                    ));
                }
            }
            let (av, bv) = (bc.expand_flat(0, &widen(a)), bc.expand_flat(1, &widen(b)));
            (bc.shape.clone(), av, bv, Some(bc))
        }
    };
    let lanes = Lanes::new(loss, an, &shape, axis)?;
    let reducer = Reducer::counting(reduction, &lanes.out_shape, &shape);
    let scales = match grad_output {
        Some(g) => Some(reducer.scales(loss, g)?),
        None => None,
    };
    let n = lanes.len;
    let (mut la, mut lb, mut ga, mut gb) = (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let want = scales.is_some();
    let (mut gav, mut gbv) = (vec![0.0; if want { av.len() } else { 0 }], vec![0.0; if want { av.len() } else { 0 }]);
    let mut losses = Vec::with_capacity(lanes.count());
    for s in 0..lanes.count() {
        for k in 0..n {
            let i = lanes.at(s, k);
            la[k] = av[i];
            lb[k] = bv[i];
        }
        match &scales {
            Some(sc) => {
                ga.fill(0.0);
                gb.fill(0.0);
                losses.push(kernel(&la, &lb, Some((&mut ga, &mut gb))));
                let up = sc.at(s);
                for k in 0..n {
                    let i = lanes.at(s, k);
                    gav[i] = up * ga[k];
                    gbv[i] = up * gb[k];
                }
            }
            None => losses.push(kernel(&la, &lb, None)),
        }
    }
    let value = reducer.output(losses);
    let grads = want.then(|| match &bc {
        None => (narrow(&shape, gav), narrow(&shape, gbv)),
        Some(bc) => (reshaped(bc.reduce(0, gav), a.shape()), reshaped(bc.reduce(1, gbv), b.shape())),
    });
    Ok((value, grads))
}

/// A gradient in the (squeezed or expanded) shape it was reduced to, in its tensor's own shape.
fn reshaped<T: Float>(g: ArrayD<T>, shape: &[usize]) -> ArrayD<T> {
    if g.shape() == shape {
        return g;
    }
    let v: Vec<T> = g.iter().copied().collect();
    ArrayD::from_shape_vec(IxDyn(shape), v).expect("the same number of elements")
}

/// Validated integer labels for a tensor whose last axis holds the classes:
/// `Some(class)` per sample, `None` where the label is `ignore`d.
pub(crate) fn class_labels<L: ClassIndex, D: Dimension>(
    loss: &'static str,
    tensor: &'static str,
    labels: &ArrayView<'_, L, D>,
    classes: usize,
    ignore: Option<i64>,
) -> Result<Vec<Option<usize>>> {
    labels
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            let l = l.index();
            if Some(l) == ignore {
                Ok(None)
            } else if l < 0 || l as u64 >= classes as u64 {
                Err(LossError::ClassIndex {
                    loss,
                    tensor,
                    index: l,
                    position: unravel(i, labels.shape()),
                    classes,
                    ignore_index: ignore,
                })
            } else {
                Ok(Some(l as usize))
            }
        })
        .collect()
}

/// Runs a per-sample loss over a float tensor `(…, C)` (classes on the last axis)
/// and integer labels `(…)`.
///
/// `kernel(x, label, grad)` returns the loss of one sample and, when `grad` is
/// `Some`, writes the gradient w.r.t. `x` (zeroed) into it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_labels<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
    loss: &'static str,
    (xn, x): (&'static str, &ArrayView<'_, T, D1>),
    (ln, labels): (&'static str, &ArrayView<'_, L, D2>),
    squeeze_trailing_one: bool,
    ignore: Option<i64>,
    reduction: Reduction,
    grad_output: Option<&ArrayViewD<'_, T>>,
    kernel: impl Fn(&[f64], Option<usize>, Option<&mut [f64]>) -> f64,
) -> Result<(ArrayD<T>, Option<ArrayD<T>>)> {
    let shape = x.shape().to_vec();
    if shape.is_empty() {
        return Err(shape_err(loss, xn, "at least 1 dimension (the classes, last)", &shape));
    }
    let lanes = Lanes::new(loss, xn, &shape, -1)?;
    let mut lshape = labels.shape().to_vec();
    if squeeze_trailing_one && lshape.len() == shape.len() && lshape.last() == Some(&1) {
        lshape.pop();
    }
    if lshape != lanes.out_shape {
        let extra = if squeeze_trailing_one { format!(" or {:?}", [lanes.out_shape.as_slice(), &[1]].concat()) } else { String::new() };
        return Err(shape_err(
            loss,
            ln,
            format!("{:?}{extra} (the shape of `{xn}` without its last, class axis)", lanes.out_shape),
            labels.shape(),
        ));
    }
    let labs = class_labels(loss, ln, labels, lanes.len, ignore)?;
    let xv = widen(x);
    let reducer = Reducer::counting(reduction, &lanes.out_shape, &shape);
    let scales = match grad_output {
        Some(g) => Some(reducer.scales(loss, g)?),
        None => None,
    };
    let n = lanes.len;
    let (mut lx, mut g) = (vec![0.0; n], vec![0.0; n]);
    let mut gx = vec![0.0; if scales.is_some() { xv.len() } else { 0 }];
    let mut losses = Vec::with_capacity(lanes.count());
    for (s, &lab) in labs.iter().enumerate() {
        for (k, v) in lx.iter_mut().enumerate() {
            *v = xv[lanes.at(s, k)];
        }
        match &scales {
            Some(sc) => {
                g.fill(0.0);
                losses.push(kernel(&lx, lab, Some(&mut g)));
                let up = sc.at(s);
                for (k, gk) in g.iter().enumerate() {
                    gx[lanes.at(s, k)] = up * gk;
                }
            }
            None => losses.push(kernel(&lx, lab, None)),
        }
    }
    let value = reducer.output(losses);
    Ok((value, scales.is_some().then(|| narrow(&shape, gx))))
}

/// The mean over a lane of an element-wise loss `f(t, p)` with local
/// derivatives `df(t, p) = (∂f/∂t, ∂f/∂p)`.
#[inline]
pub(crate) fn mean_lane(
    t: &[f64],
    p: &[f64],
    grads: LaneGrads<'_>,
    f: impl Fn(f64, f64) -> f64,
    df: impl Fn(f64, f64) -> (f64, f64),
) -> f64 {
    let n = t.len() as f64;
    let v = sum_f64(t.iter().zip(p).map(|(&a, &b)| f(a, b))) / n;
    if let Some((gt, gp)) = grads {
        for k in 0..t.len() {
            let (dt, dp) = df(t[k], p[k]);
            gt[k] = dt / n;
            gp[k] = dp / n;
        }
    }
    v
}

macro_rules! check_smoothing {
    ($loss:expr, $ls:expr) => {
        check_option($loss, "label_smoothing", $ls, (0.0..=1.0).contains(&$ls), "a number in [0, 1]")
    };
}






pub(crate) use check_smoothing;

/// Splits `shape` around `axis` into `(outer, len, inner)`: the lanes along
/// `axis` of a row-major array are `outer × inner` slices of `len` elements with
/// stride `inner`.
pub(crate) fn lanes(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product();
    (outer, shape[axis], inner)
}

/// Resolves a possibly negative axis (NumPy style) against `ndim`.
pub(crate) fn resolve_axis(loss: &'static str, option: &'static str, axis: isize, ndim: usize) -> Result<usize> {
    let a = if axis < 0 { axis + ndim as isize } else { axis };
    if a < 0 || a >= ndim as isize {
        return Err(LossError::Option {
            loss,
            option,
            value: axis.to_string(),
            expected: format!("an axis in [-{ndim}, {ndim}) for a tensor with {ndim} dimension(s)"),
        });
    }
    Ok(a as usize)
}

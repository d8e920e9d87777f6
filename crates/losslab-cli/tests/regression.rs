//! Regression tests, one per failure found (by fuzzing or otherwise), each
//! named after the failure it pins. The fuzz artifacts that found them are
//! kept in `fuzz/regressions/<target>/` and replayed by `cargo fuzz run`.

use losslab_cli::npy;

/// A version 1.0 `.npy` file whose header is `dict`, followed by `data`.
fn npy_bytes(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    v.extend_from_slice(&u16::try_from(dict.len() + 1).unwrap().to_le_bytes());
    v.extend_from_slice(dict.as_bytes());
    v.push(b'\n');
    v.extend_from_slice(data);
    v
}

fn read_err(bytes: &[u8]) -> String {
    format!("{:#}", npy::read_from(bytes, bytes.len() as u64).expect_err("must be an error"))
}

/// Found by `npy_read` within seconds (seeded with `zero_with_huge_axes.npy`):
/// a zero-sized array needs no bytes, so the size check against the file
/// passed, and ndarray then refused the shape `(0, 2**62, 2**62)` (its
/// non-zero axes overflow `isize`) inside an `expect`: a panic.
#[test]
fn npy_zero_sized_array_with_huge_axes_is_an_error_not_a_panic() {
    for (descr, shape) in [
        ("<f8", "(0, 4611686018427387904, 4611686018427387904)"),
        ("<f8", "(0, 9223372036854775808)"),
        ("<f4", "(1099511627776, 0, 1099511627776)"),
        ("<i4", "(0, 4294967296, 4294967296)"),
        ("<i8", "(18446744073709551615, 0)"),
    ] {
        for fortran in ["False", "True"] {
            let dict = format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}");
            let e = read_err(&npy_bytes(&dict, b""));
            assert!(e.starts_with("declared shape [") && e.contains("is too large"), "{descr} {shape} {fortran}: {e}");
        }
    }
    // A zero-sized array whose other axes ndarray accepts still reads.
    let b = npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (0, 1000000), }", b"");
    assert_eq!(npy::read_from(&b[..], b.len() as u64).unwrap().shape(), &[0, 1_000_000]);
}

/// Found by `eval_args` after 646 895 executions (13.5 minutes):
/// `optax:dice_loss` on predictions with a zero-sized class axis, such as
/// `(2, 0)`, counted its rows as `elements / classes` = 0 instead of 2, so the
/// per-row losses (none) did not fill the result's shape `[2]`: an assertion in
/// the reducer, a panic; its gradient then divided by the class count, 0.
/// optax's class mean of no classes is 0/0: NaN per row.
#[test]
fn optax_dice_with_a_zero_sized_class_axis_is_nan_per_row_not_a_panic() {
    use losslab::{DiceLoss, Reduction};
    use ndarray::{ArrayD, IxDyn};
    for shape in [&[2usize, 0][..], &[3, 4, 0], &[1, 0]] {
        let x = ArrayD::<f64>::zeros(IxDyn(shape));
        let rows = shape[0];
        let v = DiceLoss::new().reduction(Reduction::None).forward(x.view(), x.view()).unwrap();
        assert_eq!(v.shape(), &[rows], "{shape:?}");
        assert!(v.iter().all(|l| l.is_nan()), "{shape:?}: {v}");
        let (s, g) = DiceLoss::new().reduction(Reduction::Sum).forward_backward(x.view(), x.view()).unwrap();
        assert!(s[[]].is_nan() && g.input.shape() == shape, "{shape:?}: {s}");
        let x32 = ArrayD::<f32>::zeros(IxDyn(shape));
        assert_eq!(DiceLoss::new().reduction(Reduction::None).forward(x32.view(), x32.view()).unwrap().shape(), &[rows]);
    }
    // Through `losslab eval`'s catalog, as the fuzzer called it.
    let mut request = losslab_registry::EvalRequest { want_grads: true, ..Default::default() };
    request.tensors.insert("predictions".into(), losslab_registry::Tensor::F64(ArrayD::zeros(IxDyn(&[2, 0]))).into());
    request.tensors.insert("targets".into(), losslab_registry::Tensor::F64(ArrayD::zeros(IxDyn(&[2, 0]))).into());
    let e = losslab_registry::evaluate("optax:dice_loss", request);
    assert!(e.is_ok(), "{e:?}");
}

//! Bad input is an `Err` with losslab's message (naming the loss, the tensor,
//! what was expected and what was found), never a panic.

mod common;

use burn::tensor::{DType, Tensor};
use common::{float, ints, numbers};
use losslab_burn::{cross_entropy, loss, CrossEntropyOptions, ErrorKind, LossArg, Options, Reduction};

fn message<T: std::fmt::Debug>(r: Result<T, losslab_burn::Error>) -> (ErrorKind, String) {
    let e = r.unwrap_err();
    (e.kind(), e.to_string())
}

#[test]
fn cross_entropy_errors() {
    let device = losslab_burn::device();
    let x = float(&numbers(6, 1, 1.0), [2, 3], DType::F32, &device).require_grad();
    let ok = CrossEntropyOptions::default();
    // A class index out of range.
    let (kind, m) = message(cross_entropy::<2, 1, 1>(x.clone(), ints(&[0, 3], [2], &device), &ok));
    assert_eq!(kind, ErrorKind::ClassIndex);
    assert!(m.contains("cross_entropy") && m.contains('3'), "{m}");
    // Targets of the wrong shape.
    let (kind, m) = message(cross_entropy::<2, 1, 1>(x.clone(), ints(&[0, 1, 2], [3], &device), &ok));
    assert_eq!(kind, ErrorKind::Shape);
    assert!(m.contains("cross_entropy") && m.contains("target"), "{m}");
    // Label smoothing outside [0, 1].
    let bad = CrossEntropyOptions { label_smoothing: 1.5, ..CrossEntropyOptions::default() };
    let (kind, m) = message(cross_entropy::<2, 1, 1>(x.clone(), ints(&[0, 1], [2], &device), &bad));
    assert_eq!(kind, ErrorKind::Option);
    assert!(m.contains("label_smoothing"), "{m}");
    // A weight of the wrong length.
    let w = CrossEntropyOptions { weight: Some(float(&[1.0, 2.0], [2], DType::F32, &device)), ..CrossEntropyOptions::default() };
    let (kind, m) = message(cross_entropy::<2, 1, 1>(x.clone(), ints(&[0, 1], [2], &device), &w));
    assert_eq!(kind, ErrorKind::Shape);
    assert!(m.contains("weight"), "{m}");
    // A result of another rank than asked for: unreduced (2,) as Tensor<2>.
    let none = CrossEntropyOptions { reduction: Reduction::None, ..CrossEntropyOptions::default() };
    let (kind, m) = message(cross_entropy::<2, 1, 2>(x.clone(), ints(&[0, 1], [2], &device), &none));
    assert_eq!(kind, ErrorKind::Shape);
    assert!(m.contains("rank 1") && m.contains("rank-2"), "{m}");
    // The logits are still usable: nothing was recorded.
    let l: Tensor<1> = cross_entropy(x.clone(), ints(&[0, 1], [2], &device), &ok).unwrap();
    assert!(x.grad(&l.backward()).is_some());
}

#[test]
fn registry_errors_pass_through() {
    let device = losslab_burn::device();
    let a = || float(&[1.0, 2.0], [2], DType::F64, &device);
    // Shapes that do not broadcast.
    let (kind, m) = message(losslab_burn::mse::<1, 1>(a(), float(&[1.0, 2.0, 3.0], [3], DType::F64, &device), Reduction::Mean));
    assert_eq!(kind, ErrorKind::Shape);
    assert!(m.starts_with("mse_loss: `target` has shape [3]"), "{m}");
    // float32 with float64.
    let (kind, m) = message(losslab_burn::l1::<1, 1>(a(), float(&[1.0, 2.0], [2], DType::F32, &device), Reduction::Mean));
    assert_eq!(kind, ErrorKind::Dtype);
    assert!(m.contains("`target` has dtype float32, expected float64"), "{m}");
    // An unknown loss, tensor, option.
    let args: [(&str, LossArg); 2] = [("input", a().into()), ("target", a().into())];
    let (kind, m) = message(loss::<1, _>("mse", &args, &Options::new()));
    assert_eq!(kind, ErrorKind::UnknownLoss);
    assert!(m.contains("did you mean torch:mse_loss?"), "{m}");
    let (kind, m) = message(loss::<1, _>("torch:mse_loss", &[("input", a()), ("weight", a())], &Options::new()));
    assert_eq!(kind, ErrorKind::UnknownTensor);
    assert_eq!(m, "torch:mse_loss has no tensor `weight`; its tensors are input, target");
    let (kind, m) = message(loss::<1, _>("torch:mse_loss", &args, &Options::new().set("beta", 1.0)));
    assert_eq!(kind, ErrorKind::UnknownOption);
    assert!(m.contains("has no option `beta`"), "{m}");
    // A missing tensor.
    let (kind, m) = message(loss::<1, _>("torch:mse_loss", &[("input", a())], &Options::new()));
    assert_eq!(kind, ErrorKind::MissingTensor);
    assert!(m.contains("needs tensor `target`"), "{m}");
    // An option of the wrong value.
    let (kind, m) = message(losslab_burn::huber::<1, 1>(a(), a(), -1.0, Reduction::Mean));
    assert_eq!(kind, ErrorKind::Option);
    assert!(m.contains("delta"), "{m}");
    // Floats where class indices are required.
    let (kind, m) = message(loss::<1, LossArg>("torch:nll_loss", &[("input", float(&[0.0; 4], [2, 2], DType::F64, &device).into()), ("target", float(&[0.0; 2], [2], DType::F64, &device).into())], &Options::new()));
    assert_eq!(kind, ErrorKind::Dtype);
    assert!(m.contains("`target`"), "{m}");
    // Integers where floats are required (the typed entry checks before the kernel).
    let (kind, m) = message(loss::<1, LossArg>("torch:kl_div", &[("input", a().into()), ("target", ints(&[0, 1], [2], &device).into())], &Options::new()));
    assert_eq!(kind, ErrorKind::Dtype);
    assert!(m.contains("`target`"), "{m}");
    // A value outside the loss's domain.
    let (kind, m) = message(loss::<1, _>("torch:binary_cross_entropy", &[("input", float(&[2.0], [1], DType::F64, &device)), ("target", float(&[1.0], [1], DType::F64, &device))], &Options::new()));
    assert_eq!(kind, ErrorKind::Value);
    assert!(m.contains("binary_cross_entropy"), "{m}");
}

#[test]
fn every_loss_of_the_catalog_is_reachable_by_name() {
    // Each name resolves; a call without tensors is a clear MissingTensor error, not a panic.
    let device = losslab_burn::device();
    let x = float(&[0.5], [1], DType::F32, &device);
    for spec in losslab_registry::catalog() {
        let name = spec.qualified_name();
        let first = spec.tensors.iter().find(|t| t.required).unwrap().name;
        let r = loss::<1, _>(&name, &[(first, x.clone())], &Options::new());
        if let Err(e) = r {
            assert!(!e.to_string().is_empty(), "{name}");
        }
    }
}

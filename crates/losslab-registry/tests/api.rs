//! The registry's own tests, through its public API: the catalog's names and
//! defaults, resolution, requests and their errors, option literals, the input
//! recipes and the path table.
//!
//! They are an integration test rather than unit tests inside the crate (`[lib]
//! test = false` in Cargo.toml): a unit-test build compiles the whole registry a
//! second time, with every loss it dispatches to (on CI's 2 cores, about 5 minutes
//! of the test build), where this file links the library `cargo test` builds anyway.

// From src/lib.rs.
mod api {
    use losslab::Reduction;
    use losslab_registry::*;

    #[test]
    fn names_are_unique_and_defaults_parse() {
        let mut seen = std::collections::HashSet::new();
        for s in catalog() {
            assert!(seen.insert(s.qualified_name()), "duplicate {}", s.qualified_name());
            for o in s.options {
                let v = o.default.parse::<OptionValue>().unwrap_or_else(|e| panic!("{}: {}: {e}", s.qualified_name(), o.key));
                o.ty.coerce(v).unwrap_or_else(|e| panic!("{}: {} default: {e}", s.qualified_name(), o.key));
            }
            for g in s.grads {
                let t = s.tensor(g).unwrap_or_else(|| panic!("{}: grad of unknown tensor {g}", s.qualified_name()));
                assert_ne!(t.kind, TensorKind::Int, "{}: {g}", s.qualified_name());
            }
            assert!(
                s.tensors.iter().any(|t| t.required && matches!(t.kind, TensorKind::Float | TensorKind::Promoted)),
                "{}",
                s.qualified_name()
            );
        }
    }

    #[test]
    fn resolution_order() {
        assert_eq!(resolve("mse_loss").unwrap().qualified_name(), "torch:mse_loss");
        assert_eq!(resolve("torch:mse_loss").unwrap().qualified_name(), "torch:mse_loss");
        assert!(resolve("tf:mse_loss").unwrap_err().to_string().contains("did you mean torch:mse_loss?"));
        let e = resolve("pt:mse_loss").unwrap_err().to_string();
        assert!(e.contains("unknown framework `pt`") && e.contains("torch, torchvision, torchaudio, tf"), "{e}");
        assert_eq!(resolve("zzzzzzzz").unwrap_err().to_string(), "unknown loss `zzzzzzzz` (`losslab list` shows every loss)");
    }

    fn request(tensors: Vec<(&str, Tensor)>) -> EvalRequest<'static> {
        EvalRequest { tensors: tensors.into_iter().map(|(n, t)| (n.to_string(), t.into())).collect(), ..EvalRequest::default() }
    }

    fn f64s(v: &[f64]) -> Tensor {
        Tensor::F64(ndarray::arr1(v).into_dyn())
    }

    fn f32s(v: &[f32]) -> Tensor {
        Tensor::F32(ndarray::arr1(v).into_dyn())
    }

    fn message(loss: &str, r: EvalRequest<'_>) -> String {
        format!("{:#}", evaluate(loss, r).unwrap_err())
    }

    #[test]
    fn request_errors() {
        let ok = || request(vec![("input", f64s(&[1.0])), ("target", f64s(&[2.0]))]);
        let mut r = ok();
        r.tensors.insert("weight".into(), f64s(&[1.0]).into());
        assert_eq!(message("mse_loss", r), "torch:mse_loss has no tensor `weight`; its tensors are input, target");
        let mut r = ok();
        r.options.insert("beta".into(), OptionValue::Float(1.0));
        assert_eq!(message("mse_loss", r), "torch:mse_loss has no option `beta`; it has no options");
        let mut r = request(vec![
            ("input", Tensor::F64(ndarray::arr2(&[[1.0, 2.0]]).into_dyn())),
            ("target", Tensor::I64(ndarray::arr1(&[0i64]).into_dyn())),
        ]);
        r.options.insert("label_smoothing".into(), OptionValue::Int(0));
        assert!(evaluate("cross_entropy", r).is_ok(), "an integer is a valid float option");
        let r = request(vec![("input", f64s(&[1.0]))]);
        assert_eq!(
            message("cross_entropy", r),
            "torch:cross_entropy needs tensor `target` (class indices (int, shape (N,) or (N, d1, ...), or (1,) for a (C,) input) \
             or class probabilities (float, input's shape)); its tensors are input, target, weight (optional)"
        );
        let r = request(vec![("input", f32s(&[1.0])), ("target", f64s(&[2.0]))]);
        assert!(message("l1_loss", r).contains("`target` has dtype float64, expected float32 (the dtype of `input`"));
        let mut r = ok();
        r.grad_output = Some(f32s(&[1.0]).into());
        r.want_grads = true;
        assert_eq!(message("mse_loss", r), "torch:mse_loss: `grad_output` has dtype float32, expected float64 (the dtype of the tensors)");
        let mut r = ok();
        r.options.insert("delta".into(), OptionValue::None);
        assert_eq!(message("huber_loss", r), "torch:huber_loss: option `delta` = None is invalid: expected a number");
        // A library error passes through with its own message.
        let mut r = ok();
        r.options.insert("delta".into(), OptionValue::Int(0));
        assert_eq!(message("huber_loss", r), "huber_loss: option `delta` = 0 is invalid: expected a number > 0");
    }

    #[test]
    fn error_kinds() {
        let kind = |loss: &str, r: EvalRequest<'_>| evaluate(loss, r).unwrap_err().kind();
        let ok = || request(vec![("input", f64s(&[1.0, 2.0])), ("target", f64s(&[2.0, 0.5]))]);
        assert_eq!(resolve("pt:mse_loss").unwrap_err().kind(), ErrorKind::UnknownLoss);
        assert_eq!(kind("nope", ok()), ErrorKind::UnknownLoss);
        let mut r = ok();
        r.tensors.insert("weight".into(), f64s(&[1.0]).into());
        assert_eq!(kind("mse_loss", r), ErrorKind::UnknownTensor);
        let mut r = ok();
        r.options.insert("beta".into(), OptionValue::Float(1.0));
        assert_eq!(kind("mse_loss", r), ErrorKind::UnknownOption);
        assert_eq!(kind("mse_loss", request(vec![("input", f64s(&[1.0]))])), ErrorKind::MissingTensor);
        let ints = || Tensor::I64(ndarray::arr1(&[0i64, 1]).into_dyn());
        assert_eq!(kind("kl_div", request(vec![("input", f64s(&[1.0, 2.0])), ("target", ints())])), ErrorKind::Dtype);
        assert_eq!(kind("nll_loss", request(vec![("input", f64s(&[1.0, 2.0])), ("target", f64s(&[1.0]))])), ErrorKind::Dtype);
        assert_eq!(kind("mse_loss", request(vec![("input", ints()), ("target", ints())])), ErrorKind::Dtype, "no float tensor");
        let mut r = ok();
        r.options.insert("delta".into(), OptionValue::None);
        assert_eq!(kind("huber_loss", r), ErrorKind::Option);
        let mut r = ok();
        r.options.insert("delta".into(), OptionValue::Int(-1));
        let e = evaluate("huber_loss", r).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Option);
        assert!(matches!(e.loss_error(), Some(losslab::LossError::Option { .. })));
        assert!(std::error::Error::source(&e).is_none(), "the library's message is the error's own, not a cause");
        let e = evaluate("mse_loss", request(vec![("input", f64s(&[1.0, 2.0])), ("target", f64s(&[1.0, 2.0, 3.0]))])).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Shape);
        let r = request(vec![
            ("input", Tensor::F64(ndarray::arr2(&[[1.0, 2.0]]).into_dyn())),
            ("target", Tensor::I64(ndarray::arr1(&[5i64]).into_dyn())),
        ]);
        assert_eq!(kind("cross_entropy", r), ErrorKind::ClassIndex);
        assert_eq!(kind("binary_cross_entropy", request(vec![("input", f64s(&[2.0])), ("target", f64s(&[1.0]))])), ErrorKind::Value);
        let mut r = ok();
        r.grad_output = Some(f64s(&[1.0, 1.0]).into());
        r.want_grads = true;
        assert_eq!(kind("mse_loss", r), ErrorKind::Shape, "grad_output of another shape");
    }

    #[test]
    fn integers_are_promoted_where_declared_and_never_differentiated() {
        let mut r = request(vec![("input", f32s(&[0.5, 3.0])), ("target", Tensor::I64(ndarray::arr1(&[0i64, 2]).into_dyn()))]);
        r.want_grads = true;
        let e = evaluate("mse_loss", r).unwrap();
        assert_eq!(e.dtype, Dtype::Float32);
        assert_eq!(e.grads.keys().collect::<Vec<_>>(), ["input"]);
        let mut r = request(vec![("input", Tensor::I64(ndarray::arr1(&[0i64, 2]).into_dyn())), ("target", f64s(&[0.5, 3.0]))]);
        r.want_grads = true;
        let e = evaluate("l1_loss", r).unwrap();
        assert_eq!(e.value, Tensor::F64(ndarray::arr0(0.75).into_dyn()));
        assert_eq!(e.grads.keys().collect::<Vec<_>>(), ["target"]);
        // The same numbers as the float tensor.
        let a = evaluate("keras:hinge", request(vec![("y_true", Tensor::I64(ndarray::arr1(&[1i64, -1]).into_dyn())), ("y_pred", f64s(&[0.3, 0.2]))]));
        let b = evaluate("keras:hinge", request(vec![("y_true", f64s(&[1.0, -1.0])), ("y_pred", f64s(&[0.3, 0.2]))]));
        assert_eq!(a.unwrap().value, b.unwrap().value);
    }

    #[test]
    fn dtype_follows_the_inputs() {
        let e = evaluate("l1_loss", request(vec![("input", f32s(&[1.0, 2.0])), ("target", f32s(&[0.0, 0.0]))])).unwrap();
        assert_eq!(e.dtype, Dtype::Float32);
        assert_eq!(e.value, Tensor::F32(ndarray::arr0(1.5f32).into_dyn()));
        assert_eq!(e.reduction, Some(Reduction::Mean));
        assert!(e.grads.is_empty(), "no gradients unless asked for");
        let mut r = request(vec![
            ("labels", Tensor::I64(ndarray::arr1(&[1i64]).into_dyn())),
            ("logits", Tensor::F64(ndarray::arr2(&[[0.0, 0.0]]).into_dyn())),
        ]);
        r.want_grads = true;
        let e = evaluate("tf:sparse_softmax_cross_entropy_with_logits", r).unwrap();
        assert_eq!(e.reduction, None, "TensorFlow's own output");
        assert_eq!(e.value, f64s(&[2f64.ln()]));
        assert_eq!(e.grads.keys().collect::<Vec<_>>(), ["logits"]);
    }

    #[test]
    fn pos_weight_is_a_tensor_or_a_number_exactly_once() {
        let base = || request(vec![("labels", f64s(&[1.0, 0.0])), ("logits", f64s(&[0.3, -2.0]))]);
        let mut number = base();
        number.options.insert("pos_weight".into(), OptionValue::Float(1.5));
        let mut tensor = base();
        tensor.tensors.insert("pos_weight".into(), Tensor::F64(ndarray::arr0(1.5).into_dyn()).into());
        let (a, b) = (evaluate("tf:weighted_cross_entropy_with_logits", number).unwrap(), evaluate("tf:weighted_cross_entropy_with_logits", tensor).unwrap());
        assert_eq!(a.value, b.value);
        let mut both = base();
        both.options.insert("pos_weight".into(), OptionValue::Float(1.5));
        both.tensors.insert("pos_weight".into(), f64s(&[1.0, 2.0]).into());
        let e = evaluate("tf:weighted_cross_entropy_with_logits", both).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Option);
        assert_eq!(
            e.to_string(),
            "tf:weighted_cross_entropy_with_logits: `pos_weight` is given twice, as a tensor and as the option pos_weight = 1.5, \
             expected one of them (a tensor, or one number)"
        );
        let e = evaluate("tf:weighted_cross_entropy_with_logits", base()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MissingTensor);
        assert!(e.to_string().contains("needs `pos_weight`") && e.to_string().contains("found neither"), "{e}");
    }

    #[test]
    fn sparsemax_labels_are_integers_or_floats_read_as_zero_or_nonzero() {
        let x = || f64s(&[0.3, -0.5, 2.0]);
        let run = |labels: Tensor| {
            let mut r = request(vec![("logits", x()), ("labels", labels)]);
            r.want_grads = true;
            evaluate("optax:sparsemax_loss", r)
        };
        let ints = run(Tensor::I64(ndarray::arr1(&[1i64, 0, 7]).into_dyn())).unwrap();
        let floats = run(f64s(&[1.0, -0.0, 0.5])).unwrap();
        assert_eq!(ints.value, floats.value);
        assert_eq!(floats.grads.keys().collect::<Vec<_>>(), ["logits"], "labels get no gradient");
        // Float labels share the logits' dtype, as every float tensor of an evaluation.
        assert_eq!(run(f32s(&[1.0, 0.0, 1.0])).unwrap_err().kind(), ErrorKind::Dtype);
    }

    #[test]
    fn near_misses_are_suggested() {
        // By edit distance (one edit here; `msee_loss` is not taken for dice_loss)
        // and by substring.
        let e = resolve("msee_loss").unwrap_err().to_string();
        assert!(e.contains("did you mean torch:mse_loss") && !e.contains("dice"), "{e}");
        assert!(resolve("mse_los").unwrap_err().to_string().contains("did you mean torch:mse_loss"));
        assert!(resolve("Huber_Los").unwrap_err().to_string().contains("torch:huber_loss"));
        assert!(!resolve("zzzzzzzz").unwrap_err().to_string().contains("did you mean"));
    }
}

// From src/options.rs.
mod options {
    use losslab_registry::{Name, OptionType, OptionValue};

    #[test]
    fn parses_the_literals_of_python_and_json() {
        for (s, v) in [
            ("1", OptionValue::Int(1)),
            ("-100", OptionValue::Int(-100)),
            (" 2 ", OptionValue::Int(2)),
            ("1.0", OptionValue::Float(1.0)),
            ("1e-3", OptionValue::Float(1e-3)),
            ("-inf", OptionValue::Float(f64::NEG_INFINITY)),
            ("true", OptionValue::Bool(true)),
            ("True", OptionValue::Bool(true)),
            ("false", OptionValue::Bool(false)),
            ("False", OptionValue::Bool(false)),
            ("None", OptionValue::None),
            ("null", OptionValue::None),
            ("99999999999999999999", OptionValue::Float(1e20)),
        ] {
            assert_eq!(s.parse::<OptionValue>().unwrap(), v, "{s}");
        }
        assert!("nan".parse::<OptionValue>().map(|v| matches!(v, OptionValue::Float(x) if x.is_nan())).unwrap());
        assert_eq!("cosine".parse::<OptionValue>().unwrap(), OptionValue::Name(Name::new("cosine").unwrap()));
        for bad in ["", "a b", "1,5", "0x10", "[1]", "x-y"] {
            let e = bad.parse::<OptionValue>().unwrap_err().to_string();
            assert!(e.contains("expected a number, true/false"), "{bad}: {e}");
        }
    }

    #[test]
    fn coercion() {
        use OptionValue as V;
        assert_eq!(OptionType::Float.coerce(V::Int(2)), Ok(V::Float(2.0)));
        assert_eq!(OptionType::OptionalFloat.coerce(V::None), Ok(V::None));
        assert_eq!(OptionType::Float.coerce(V::None), Err("expected a number".into()));
        assert_eq!(OptionType::Int.coerce(V::Float(1.5)), Err("expected an integer".into()));
        assert_eq!(OptionType::Bool.coerce(V::Int(1)), Err("expected True or False".into()));
        assert_eq!(OptionType::Axis.coerce(V::Int(-1)), Ok(V::Int(-1)));
        let c = OptionType::Choice(&["pairwise", "cosine"]);
        let name = |s| V::Name(Name::new(s).unwrap());
        assert_eq!(c.coerce(name("cosine")), Ok(name("cosine")));
        assert_eq!(c.coerce(name("euclid")), Err("expected one of pairwise, cosine".into()));
        assert_eq!(OptionType::Float.coerce(name("abc")), Err("expected a number".into()));
    }
}

// From src/samples.rs.
mod samples {
    use losslab_registry::samples::*;
    use losslab_registry::{catalog, resolve, Dtype, ErrorKind, EvalRequest, LossSpec, Tensor};
    use ndarray::Axis;

    /// Checks that a table keyed by qualified name (`names`, in `file`) has one
    /// row for every loss of the catalog and none for a loss it lacks.
    pub(crate) fn assert_one_row_per_loss(names: &[&str], file: &str) {
        let losses: Vec<String> = catalog().iter().map(LossSpec::qualified_name).collect();
        let missing: Vec<&String> = losses.iter().filter(|l| !names.contains(&l.as_str())).collect();
        assert!(missing.is_empty(), "losses missing from {file}: {missing:?}");
        let unknown: Vec<&&str> = names.iter().filter(|n| !losses.iter().any(|l| l == *n)).collect();
        assert!(unknown.is_empty(), "{file} names losses the registry lacks: {unknown:?}");
        let mut seen = std::collections::HashSet::new();
        let twice: Vec<&&str> = names.iter().filter(|n| !seen.insert(**n)).collect();
        assert!(twice.is_empty(), "{file} has two rows for {twice:?}");
    }

    #[test]
    fn every_loss_has_one_recipe_and_every_recipe_a_loss() {
        let names: Vec<&str> = recipes().iter().map(|r| r.loss).collect();
        assert_one_row_per_loss(&names, "the input recipes (crates/losslab-registry/src/samples.rs)");
        for r in recipes() {
            assert_eq!(r.dims.split('×').count(), r.default.len(), "{}", r.loss);
            assert_eq!(r.min.len(), r.default.len(), "{}", r.loss);
            assert!(r.batch < r.default.len(), "{}", r.loss);
        }
    }

    /// Each recipe's inputs at a small scale, in both dtypes: every required tensor,
    /// every differentiated one's gradient, finite values and gradients.
    #[test]
    fn every_recipe_evaluates_with_its_gradients() {
        for spec in catalog() {
            let r = recipe(spec).unwrap();
            let dims: Vec<usize> = r.default.iter().zip(r.min).enumerate().map(|(i, (&d, &m))| if i == r.batch { m.max(3) } else { d.min(24).max(m) }).collect();
            for dtype in [Dtype::Float32, Dtype::Float64] {
                let q = spec.qualified_name();
                let tensors = sample_inputs(spec, &dims, dtype, 11).unwrap();
                for t in spec.tensors.iter().filter(|t| t.required) {
                    assert!(tensors.iter().any(|(n, _)| *n == t.name), "{q}: no `{}`", t.name);
                }
                let floats: Vec<&str> = tensors.iter().filter(|(_, t)| t.dtype().is_float()).map(|(n, _)| *n).collect();
                let request = EvalRequest {
                    tensors: tensors.into_iter().map(|(n, t)| (n.to_string(), t.into())).collect(),
                    options: sample_options(spec),
                    want_grads: true,
                    ..EvalRequest::default()
                };
                let e = spec.evaluate(request).unwrap_or_else(|e| panic!("{q} {dtype}: {e}"));
                assert!(e.value.to_f64_vec().iter().all(|v| v.is_finite()), "{q} {dtype}: value {:?}", e.value);
                for g in spec.grads.iter().filter(|g| floats.contains(g)) {
                    let grad = e.grads.get(*g).unwrap_or_else(|| panic!("{q} {dtype}: no gradient of {g}"));
                    assert!(grad.to_f64_vec().iter().all(|v| v.is_finite()), "{q} {dtype}: gradient of {g}");
                }
            }
        }
    }

    #[test]
    fn samples_are_valid_and_repeatable() {
        let spec = resolve("torch:ctc_loss").unwrap();
        let a = sample_inputs(spec, &[9, 5, 4, 6], Dtype::Float32, 3).unwrap();
        assert_eq!(a, sample_inputs(spec, &[9, 5, 4, 6], Dtype::Float32, 3).unwrap());
        assert_ne!(a, sample_inputs(spec, &[9, 5, 4, 6], Dtype::Float32, 4).unwrap());
        let lengths = a.iter().find(|(n, _)| *n == "target_lengths").unwrap().1.to_f64_vec();
        assert!(lengths.iter().all(|&l| (1.0..=4.0).contains(&l)), "feasible in 9 frames: {lengths:?}");
        let boxes = sample_inputs(resolve("generalized_box_iou_loss").unwrap(), &[100], Dtype::Float64, 1).unwrap();
        let b = boxes[0].1.to_f64_vec();
        assert!(b.chunks(4).all(|b| b[0] < b[2] && b[1] < b[3]));
        let lov = sample_inputs(resolve("lovasz_softmax").unwrap(), &[2, 3, 4, 5], Dtype::Float64, 1).unwrap();
        let Tensor::F64(p) = &lov[0].1 else { panic!() };
        for s in p.sum_axis(Axis(1)) {
            assert!((s - 1.0).abs() < 1e-12);
        }
        let spec = resolve("mse_loss").unwrap();
        assert_eq!(recipe(spec).unwrap().scaled_dims(0.5), [1 << 21]);
        let e = |dims: &[usize]| sample_inputs(spec, dims, Dtype::Float32, 0).unwrap_err().to_string();
        assert_eq!(e(&[2, 3]), "torch:mse_loss takes a shape N (1 sizes, e.g. 4194304), got 2 size(s)");
        assert_eq!(e(&[0]), "torch:mse_loss: size N = 0 is too small (at least 1; the shape is N)");
        assert!(e(&[usize::MAX]).contains("too large"));
        assert_eq!(sample_inputs(spec, &[3], Dtype::Int64, 0).unwrap_err().kind(), ErrorKind::Dtype);
    }
}

// From src/paths.rs.
mod paths {
    use losslab_registry::paths::paths;

    /// Every registry loss has exactly one row, and every row a loss: a loss
    /// added to the catalog says which path it takes (and why, if general).
    #[test]
    fn every_loss_states_its_path() {
        let names: Vec<&str> = paths().iter().map(|p| p.loss).collect();
        crate::samples::assert_one_row_per_loss(&names, "the path table (crates/losslab-registry/src/paths.rs)");
        for p in paths() {
            assert!(!p.note.is_empty(), "{}: say why", p.loss);
        }
    }
}

// From src/detseg.rs.
mod detseg {
    use losslab_registry::{evaluate, EvalRequest, OptionValue, Tensor};
    use losslab::Reduction;
    use ndarray::{ArrayD, IxDyn};

    fn f(shape: &[usize], data: Vec<f64>) -> Tensor {
        Tensor::F64(ArrayD::from_shape_vec(IxDyn(shape), data).unwrap())
    }

    fn values(t: &Tensor) -> (Vec<usize>, Vec<f64>) {
        (t.shape().to_vec(), t.to_f64_vec())
    }

    #[test]
    fn optax_dice_reduction_is_optax_s_across_classes() {
        let run = |r: Option<Reduction>| {
            let mut q = EvalRequest { reduction: r, ..EvalRequest::default() };
            q.tensors.insert("predictions".into(), f(&[2, 3, 2], (0..12).map(|k| (k as f64 * 0.7).sin()).collect()).into());
            q.tensors.insert("targets".into(), f(&[2, 3, 2], vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0]).into());
            values(&evaluate("optax:dice_loss", q).unwrap().value)
        };
        let (shape, none) = run(Some(Reduction::None));
        assert_eq!(shape, [2, 2], "per sample and class");
        let (shape, mean) = run(None);
        assert_eq!(shape, [2], "optax's default: the mean across classes");
        assert_eq!(run(Some(Reduction::Mean)).1, mean);
        for s in 0..2 {
            assert!((mean[s] - (none[2 * s] + none[2 * s + 1]) / 2.0).abs() < 1e-15);
            assert!((run(Some(Reduction::Sum)).1[s] - (none[2 * s] + none[2 * s + 1])).abs() < 1e-15);
        }
        let (shape, bm) = run(Some(Reduction::BatchMean));
        assert_eq!(shape, Vec::<usize>::new());
        assert!((bm[0] - (mean[0] + mean[1]) / 2.0).abs() < 1e-15);
    }

    #[test]
    fn scalar_encodings_of_axis_classes_and_ignore() {
        let mut q = EvalRequest::default();
        q.tensors.insert("y_true".into(), f(&[2, 2], vec![1.0, 0.0, 1.0, 1.0]).into());
        q.tensors.insert("y_pred".into(), f(&[2, 2], vec![0.5, 0.5, 0.25, 0.75]).into());
        q.options.insert("axis".into(), OptionValue::Float(1.5));
        let e = format!("{:#}", evaluate("keras:dice", q.clone()).unwrap_err());
        assert_eq!(e, "keras:dice: option `axis` = 1.5 is invalid: expected an integer (below 9e15 in magnitude) or None");
        q.options.insert("axis".into(), OptionValue::Int(-1));
        assert_eq!(evaluate("keras:dice", q).unwrap().value.shape(), &[2]);

        let probas = f(&[1, 3, 2], vec![0.7, 0.2, 0.2, 0.5, 0.1, 0.3]);
        let labels = Tensor::I64(ndarray::arr2(&[[0i64, 1]]).into_dyn());
        let run = |classes: Option<Vec<i64>>, present: bool, ignore: OptionValue| {
            let mut q = EvalRequest::default();
            q.tensors.insert("probas".into(), probas.clone().into());
            q.tensors.insert("labels".into(), labels.clone().into());
            if let Some(c) = classes {
                q.tensors.insert("classes".into(), Tensor::I64(ndarray::arr1(&c).into_dyn()).into());
            }
            q.options.insert("present".into(), OptionValue::Bool(present));
            q.options.insert("ignore".into(), ignore);
            evaluate("losslab:lovasz_softmax", q).map(|e| e.value.to_f64_vec()[0])
        };
        let present = run(None, true, OptionValue::None).unwrap();
        assert_eq!(run(Some(vec![0, 1]), false, OptionValue::None).unwrap(), present, "the present classes, listed");
        assert_ne!(run(None, false, OptionValue::None).unwrap(), present, "class 2 is absent: 'all' averages it in");
        assert_eq!(run(None, true, OptionValue::Int(1)).unwrap(), run(Some(vec![0]), true, OptionValue::Int(1)).unwrap());
        assert!(run(Some(vec![-1]), true, OptionValue::None).is_err());
        assert!(run(None, true, OptionValue::Float(0.5)).is_err());
    }
}

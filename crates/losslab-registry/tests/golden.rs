//! The golden suite: every case of `tests/golden/*.json` (the real references'
//! outputs, written by `scripts/golden/generate.py`; format in
//! `scripts/golden/README.md`) evaluated through the registry's `evaluate`, in each dtype the
//! case lists, result and gradients compared with the float64 truth.
//!
//! One test per reference file, so a failure names its framework; each test
//! collects every failing case and reports them together, by case id.

use losslab::Reduction;
use losslab_registry::{catalog, evaluate, resolve, Dtype, ErrorKind, EvalRequest, Name, OptionValue, Tensor};
use ndarray::{ArrayD, IxDyn};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// The per-dtype tolerance, named once: `|got − want| ≤ rel·|want| + abs·scale`,
/// with `scale` the largest finite `|want|` of the array (at least the dtype's
/// smallest normal number).
#[derive(Debug, Clone, Copy)]
struct Tolerance {
    rel: f64,
    abs: f64,
    min_scale: f64,
}

const F64_TOL: Tolerance = Tolerance { rel: 1e-10, abs: 1e-12, min_scale: f64::MIN_POSITIVE };
const F32_TOL: Tolerance = Tolerance { rel: 1e-5, abs: 1e-6, min_scale: f32::MIN_POSITIVE as f64 };

fn tolerance(dtype: Dtype) -> Tolerance {
    match dtype {
        Dtype::Float32 => F32_TOL,
        _ => F64_TOL,
    }
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("golden")
}

fn load(file: &str) -> Value {
    let path = golden_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

/// A JSON float: a number or one of "nan", "inf", "-inf".
fn json_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("bad number {n}")),
        Value::String(s) if s == "nan" => Ok(f64::NAN),
        Value::String(s) if s == "inf" => Ok(f64::INFINITY),
        Value::String(s) if s == "-inf" => Ok(f64::NEG_INFINITY),
        other => Err(format!("not a float: {other}")),
    }
}

/// An option's JSON value: a number, a boolean, `null`, a name, or one of the
/// strings `"nan"`, `"inf"`, `"-inf"`.
fn option_value(v: &Value) -> Result<OptionValue, String> {
    Ok(match v {
        Value::Null => OptionValue::None,
        Value::Bool(b) => OptionValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => OptionValue::Int(i),
            None => OptionValue::Float(json_float(v)?),
        },
        Value::String(s) if matches!(s.as_str(), "nan" | "inf" | "-inf") => OptionValue::Float(json_float(v)?),
        Value::String(s) => OptionValue::Name(Name::new(s).ok_or_else(|| format!("bad option name {s:?}"))?),
        other => return Err(format!("cannot use JSON `{other}` as an option value")),
    })
}

/// A golden TENSOR as read, floats widened to f64.
struct GoldenTensor {
    dtype: String,
    shape: Vec<usize>,
    data: Vec<f64>,
    ints: Vec<i64>,
}

fn golden_tensor(v: &Value) -> Result<GoldenTensor, String> {
    let dtype = v["dtype"].as_str().ok_or("tensor without dtype")?.to_string();
    let shape: Vec<usize> = v["shape"]
        .as_array()
        .ok_or("tensor without shape")?
        .iter()
        .map(|d| d.as_u64().map(|d| d as usize).ok_or("bad shape entry"))
        .collect::<Result<_, _>>()?;
    let raw = v["data"].as_array().ok_or("tensor without data")?;
    if raw.len() != shape.iter().product::<usize>() {
        return Err(format!("tensor of shape {shape:?} has {} data entries", raw.len()));
    }
    let (data, ints) = if dtype.starts_with("int") || dtype.starts_with("uint") {
        (vec![], raw.iter().map(|x| x.as_i64().ok_or(format!("not an integer: {x}"))).collect::<Result<_, _>>()?)
    } else {
        (raw.iter().map(json_float).collect::<Result<_, _>>()?, vec![])
    };
    Ok(GoldenTensor { dtype, shape, data, ints })
}

/// A golden tensor as an input: integers as `I64`, floats in the case's dtype.
fn input_tensor(v: &Value, dtype: Dtype) -> Result<Tensor, String> {
    let g = golden_tensor(v)?;
    if g.dtype.starts_with("float") {
        let a = ArrayD::from_shape_vec(IxDyn(&g.shape), g.data).map_err(|e| e.to_string())?;
        Ok(Tensor::F64(a).cast_float(dtype))
    } else if g.dtype.starts_with("int") || g.dtype.starts_with("uint") {
        Ok(Tensor::I64(ArrayD::from_shape_vec(IxDyn(&g.shape), g.ints).map_err(|e| e.to_string())?))
    } else {
        Err(format!("unsupported golden dtype {}", g.dtype))
    }
}

/// Compares `got` with the float64 truth `want`; the mismatches, described.
fn compare(what: &str, got: &Tensor, want: &Value, tol: Tolerance) -> Vec<String> {
    let want = match golden_tensor(want) {
        Ok(w) => w,
        Err(e) => return vec![format!("{what}: bad golden tensor: {e}")],
    };
    if got.shape() != want.shape.as_slice() {
        return vec![format!("{what}: shape {:?}, expected {:?}", got.shape(), want.shape)];
    }
    let got = got.to_f64_vec();
    let scale = want.data.iter().filter(|v| v.is_finite()).fold(tol.min_scale, |m, v| m.max(v.abs()));
    let mut bad = Vec::new();
    let mut count = 0;
    for (i, (&g, &w)) in got.iter().zip(&want.data).enumerate() {
        let ok = if w.is_nan() {
            g.is_nan()
        } else if w.is_infinite() {
            g == w
        } else {
            g.is_finite() && (g - w).abs() <= tol.rel * w.abs() + tol.abs * scale
        };
        if !ok {
            count += 1;
            if bad.len() < 3 {
                let dev = if w.is_finite() && g.is_finite() {
                    format!(" (|Δ| = {:.3e}, scale {scale:.3e})", (g - w).abs())
                } else {
                    String::new()
                };
                bad.push(format!("{what}[{i}]: got {g:?}, expected {w:?}{dev}"));
            }
        }
    }
    if count > bad.len() {
        bad.push(format!("{what}: {} more mismatches ({count} of {})", count - bad.len(), got.len()));
    }
    bad
}

/// Runs one case in one dtype; the failures, described. `error_kind`: the kind
/// an expected error must have, if the file says.
fn run_case(case: &Value, dtype: Dtype, error_kind: Option<ErrorKind>) -> Result<Vec<String>, String> {
    let loss = case["loss"].as_str().ok_or("case without loss")?;
    // An unknown loss must not pass as an expected error.
    let spec = resolve(loss).map_err(|e| format!("{e:#}"))?;
    if spec.qualified_name() != loss {
        return Err(format!("`{loss}` resolves to {}", spec.qualified_name()));
    }
    let mut request = EvalRequest::default();
    for (name, t) in case["tensors"].as_object().ok_or("case without tensors")? {
        request.tensors.insert(name.clone(), input_tensor(t, dtype)?.into());
    }
    // Integer tensors (class indices, or integers the loss promotes) have no gradient.
    let int_tensors: Vec<String> = request.tensors.iter().filter(|(_, t)| !t.dtype().is_float()).map(|(n, _)| n.clone()).collect();
    for (key, v) in case["options"].as_object().ok_or("case without options")? {
        request.options.insert(key.clone(), option_value(v)?);
    }
    request.reduction = match &case["reduction"] {
        Value::Null => None,
        Value::String(s) => Some(s.parse::<Reduction>().map_err(|e| e.to_string())?),
        other => return Err(format!("bad reduction {other}")),
    };
    if !case["grad_output"].is_null() {
        request.grad_output = Some(input_tensor(&case["grad_output"], dtype)?.into());
    }
    let grads = case["grads"].as_object().cloned().unwrap_or_default();
    request.want_grads = !grads.is_empty();

    let result = evaluate(loss, request);
    if let Some(reason) = case["error"].as_str() {
        return Ok(match result {
            Err(err) => match error_kind {
                Some(kind) if err.kind() != kind => vec![format!("error of kind {:?}, expected {kind:?}: {err}", err.kind())],
                _ => vec![],
            },
            Ok(e) => vec![format!("expected an error (the reference said: {reason}), got a result of shape {:?}", e.value.shape())],
        });
    }
    let e = match result {
        Ok(e) => e,
        Err(err) => return Ok(vec![format!("unexpected error: {err:#}")]),
    };
    let tol = tolerance(dtype);
    let mut failures = Vec::new();
    if e.dtype != dtype {
        failures.push(format!("computed in {}, expected {dtype}", e.dtype));
    }
    failures.extend(compare("value", &e.value, &case["expected"], tol));
    for name in &int_tensors {
        if e.grads.contains_key(name) {
            failures.push(format!("a gradient for the integer tensor `{name}`"));
        }
    }
    for (name, want) in &grads {
        match e.grads.get(name) {
            Some(got) => failures.extend(compare(&format!("grad {name}"), got, want, tol)),
            None => failures.push(format!("no gradient for `{name}` (got {:?})", e.grads.keys().collect::<Vec<_>>())),
        }
    }
    // The loss's other outputs, where the case gives them (`z_loss`, `lse`, ...).
    for (name, want) in case["outputs"].as_object().into_iter().flatten() {
        match e.outputs.get(name) {
            Some(got) => failures.extend(compare(&format!("output {name}"), got, want, tol)),
            None => failures.push(format!("no output `{name}` (got {:?})", e.outputs.keys().collect::<Vec<_>>())),
        }
    }
    Ok(failures)
}

/// Runs every case of `file` in each of its dtypes; panics listing every failure.
fn check_file(file: &str) {
    check_file_with(file, None);
}

/// [`check_file`], with every expected error of kind `error_kind` when given.
fn check_file_with(file: &str, error_kind: Option<ErrorKind>) {
    let doc = load(file);
    let cases = doc["cases"].as_array().unwrap_or_else(|| panic!("{file}: no cases"));
    assert!(!cases.is_empty(), "{file}: no cases");
    let mut failures = Vec::new();
    let mut runs = 0;
    let mut ids = BTreeSet::new();
    for case in cases {
        let id = case["id"].as_str().unwrap_or("<no id>");
        if !ids.insert(id.to_string()) {
            failures.push(format!("{id}: duplicate case id"));
        }
        let dtypes: Vec<&str> = case["dtypes"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        if dtypes.is_empty() {
            failures.push(format!("{id}: no dtypes"));
        }
        for name in dtypes {
            let Some(dtype) = Dtype::from_name(name).filter(|d| d.is_float()) else {
                failures.push(format!("{id}: unknown dtype {name}"));
                continue;
            };
            runs += 1;
            match run_case(case, dtype, error_kind) {
                Ok(f) if f.is_empty() => {}
                Ok(f) => failures.push(format!("{id} [{name}]:\n      {}", f.join("\n      "))),
                Err(e) => failures.push(format!("{id} [{name}]: bad case: {e}")),
            }
        }
    }
    assert!(failures.is_empty(), "{file}: {} of {runs} runs ({} cases) failed:\n  {}", failures.len(), cases.len(), failures.join("\n  "));
    eprintln!("{file}: {runs} runs of {} cases passed", cases.len());
}

#[test]
fn golden_torch() {
    check_file("torch.json");
}

#[test]
fn golden_tf() {
    check_file("tf.json");
}

#[test]
fn golden_scipy() {
    check_file("scipy.json");
}

#[test]
fn golden_losslab() {
    check_file("losslab.json");
}

#[test]
fn golden_likelihood_margin() {
    check_file("likelihood_margin.json");
}

#[test]
fn golden_kerasoptax() {
    check_file("kerasoptax.json");
}

#[test]
fn golden_detseg() {
    check_file("detseg.json");
}

#[test]
fn golden_ctc() {
    check_file("ctc.json");
}

/// The RNN transducer (`scripts/golden/transducer.py`): torchaudio's semantics,
/// from a float64 reference of its kernel (torchaudio does not install beside
/// the pinned PyTorch).
#[test]
fn golden_transducer() {
    check_file("transducer.json");
}

#[test]
fn golden_embedding() {
    check_file("embedding.json");
}

/// The LM head's fused linear cross entropy (`scripts/golden/linear_ce.py`):
/// PyTorch's `linear_cross_entropy`, and the z-loss, soft-cap, scale and
/// per-token outputs written with PyTorch tensors.
#[test]
fn golden_linear_ce() {
    check_file("linear_ce.json");
}

/// The names and forms of issue 12: `keras:huber`, `keras:circle`, `keras:ctc`,
/// TensorFlow's weighted cross entropy with `pos_weight` a number, optax's
/// sparsemax loss with float labels.
#[test]
fn golden_names() {
    check_file("names.json");
}

/// Integer tensors where a float one is expected: promoted (PyTorch's type
/// promotion, Keras's cast of `y_true`, `jnp`'s promotion) where the reference
/// promotes them, refused with [`ErrorKind::Dtype`] where it refuses them.
#[test]
fn golden_promotion() {
    check_file_with("promotion.json", Some(ErrorKind::Dtype));
}

/// PyTorch's broadcasting, 0-d forms, gradients and non-finite gradients
/// (`scripts/golden/parity.py`).
#[test]
fn golden_parity() {
    check_file("parity.json");
}

/// Broadcasting in TensorFlow, Keras and optax (`scripts/golden/broadcast.py`):
/// the tensors broadcast as each reference broadcasts them, each gradient summed
/// back to its tensor's shape; the refusals are shape errors.
#[test]
fn golden_broadcast() {
    check_file_with("broadcast.json", Some(ErrorKind::Shape));
}

/// OpenCLIP's `ClipLoss` and `SigLipLoss` (`scripts/golden/contrastive.py`): the
/// real classes on float64 tensors, gradients of the features, scale and bias.
#[test]
fn golden_contrastive() {
    check_file("contrastive.json");
}

/// The GAN, gradient-penalty and VAE losses (float64 PyTorch programs: no
/// reference library ships them) and diffusers' min-SNR-γ loss (the real
/// `compute_snr` and the training script's lines), `scripts/golden/generative.py`.
#[test]
fn golden_generative() {
    check_file("generative.json");
}

/// TRL's preference losses (`scripts/golden/preference.py`): `DPOTrainer._compute_loss`,
/// `CPOTrainer.cpo_loss`, `ORPOTrainer.odds_ratio_loss` and `KTOTrainer._compute_loss`
/// themselves, with the rewards (and KTO's KL estimate).
#[test]
fn golden_preference() {
    check_file("preference.json");
}

/// pytorch-metric-learning's loss objects (`scripts/golden/metric.py`): the
/// real classes with their class matrix loaded, float64 and float32, gradients
/// of the embeddings and of `W` by autograd.
#[test]
fn golden_metric() {
    check_file("metric.json");
}

/// The large-vocabulary losses (`scripts/golden/vocabulary.py`): PyTorch's
/// `AdaptiveLogSoftmaxWithLoss` module with the case's weights loaded (its `.loss`, its
/// `.output` as the output `output`), TensorFlow's `sampled_softmax_loss` and `nce_loss`
/// with `sampled_values` given; gradients of the input and every weight.
#[test]
fn golden_vocabulary() {
    check_file("vocabulary.json");
}

/// TRL's GRPO loss (`scripts/golden/policy.py`): `GRPOTrainer._compute_loss` itself
/// on precomputed log-probabilities, every loss type, its logged statistics as
/// outputs; PPO's clipped surrogate from a float64 PyTorch program.
#[test]
fn golden_policy() {
    check_file("policy.json");
}

/// The per-token losses over (B, T, V) logits (`scripts/golden/tokens.py`): TRL's
/// `selective_log_softmax` with DPO's ignore mask, TRL's real
/// `GKDTrainer.generalized_jsd_loss`, and a float64 torch program of Hinton's KL.
#[test]
fn golden_tokens() {
    check_file("tokens.json");
}

/// Every loss of the catalog has at least one golden case, and every golden
/// file is one the tests above run.
#[test]
fn every_loss_has_a_golden_case() {
    // Losses exempt from the golden suite, each with the reason. Empty: every
    // loss of the catalog has a reference case.
    const EXEMPT: &[&str] = &[];
    const FILES: &[&str] = &[
        "transducer.json",
        "torch.json",
        "linear_ce.json",
        "tf.json",
        "scipy.json",
        "losslab.json",
        "likelihood_margin.json",
        "kerasoptax.json",
        "detseg.json",
        "ctc.json",
        "embedding.json",
        "promotion.json",
        "parity.json",
        "names.json",
        "broadcast.json",
        "contrastive.json",
        "generative.json",
        "preference.json",
        "metric.json",
        "vocabulary.json",
        "policy.json",
        "tokens.json",
    ];

    let mut on_disk: Vec<String> = std::fs::read_dir(golden_dir())
        .expect("tests/golden exists")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    on_disk.sort();
    let mut expected: Vec<String> = FILES.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(on_disk, expected, "a golden file that no test runs, or a missing one");

    let mut covered: BTreeMap<String, usize> = BTreeMap::new();
    for file in FILES {
        for case in load(file)["cases"].as_array().into_iter().flatten() {
            if case["error"].is_null() {
                *covered.entry(case["loss"].as_str().unwrap_or_default().to_string()).or_default() += 1;
            }
        }
    }
    let missing: Vec<String> =
        catalog().iter().map(|s| s.qualified_name()).filter(|n| !covered.contains_key(n) && !EXEMPT.contains(&n.as_str())).collect();
    assert!(missing.is_empty(), "losses without a (non-error) golden case: {missing:?}");
}

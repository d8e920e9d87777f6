//! End-to-end tests of the `losslab` binary: output JSON, files written,
//! gradients checked against formulas computed here, and every error path
//! (non-zero exit, one `error:` line on stderr naming the problem, nothing
//! on stdout, no output file left behind).

use losslab_cli::npy;
use losslab_registry::Tensor;
use ndarray::{arr1, arr2, ArrayD, IxDyn};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod common;
use common::{err_in as err, losslab};

/// Runs a command that must succeed; its stdout parsed as one JSON object on one line.
fn ok_json(dir: &Path, args: &[&str]) -> Value {
    let out = losslab(dir, args);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{args:?} failed: {stderr}");
    assert!(stderr.is_empty(), "{args:?} wrote to stderr: {stderr}");
    assert_eq!(stdout.lines().count(), 1, "one line of JSON: {stdout}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn write(dir: &Path, name: &str, t: Tensor) -> String {
    npy::write(&dir.join(name), &t).unwrap();
    name.to_string()
}

fn f64s(dir: &Path, name: &str, data: &[f64]) -> String {
    write(dir, name, Tensor::F64(arr1(data).into_dyn()))
}

fn read_f64(path: &Path) -> Vec<f64> {
    npy::read(path).unwrap().to_f64_vec()
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-300) || a == b
}

fn assert_close(got: &[f64], want: &[f64], rel: f64) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!(close(*g, *w, rel), "{got:?} vs {want:?}");
    }
}

fn json_f64s(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(json_f64s).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap()],
        Value::String(s) => vec![s.parse().unwrap()],
        other => panic!("not a number: {other}"),
    }
}

/// The files in `dir`, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    v.sort();
    v
}

fn setup() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().to_path_buf();
    (t, p)
}

/// The regression example: x = [1, 2, 4], y = [1, 1, 1].
fn mse_files(d: &Path) -> (Vec<f64>, Vec<f64>) {
    let (x, y) = (vec![1.0, 2.0, 4.0], vec![1.0, 1.0, 1.0]);
    f64s(d, "x.npy", &x);
    f64s(d, "y.npy", &y);
    (x, y)
}

#[test]
fn eval_prints_one_json_object() {
    let (_t, d) = setup();
    mse_files(&d);
    let v = ok_json(&d, &["eval", "mse_loss", "--tensor", "input=x.npy", "--tensor", "target=y.npy"]);
    assert_eq!(v["loss"], "torch:mse_loss");
    assert_eq!(v["reduction"], "mean");
    assert_eq!(v["dtype"], "float64");
    assert_eq!(v["shape"], serde_json::json!([]));
    assert!(v["value"].is_number(), "a scalar is a JSON number: {v}");
    assert!(close(v["value"].as_f64().unwrap(), 10.0 / 3.0, 1e-15));
    assert!(v.get("grads").is_none() && v.get("out").is_none(), "{v}");
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 5, "{keys:?}");
}

#[test]
fn qualified_and_unqualified_names() {
    let (_t, d) = setup();
    mse_files(&d);
    let v = ok_json(&d, &["eval", "torch:mse_loss", "-t", "input=x.npy", "-t", "target=y.npy"]);
    assert_eq!(v["loss"], "torch:mse_loss");
    // Unqualified `cross_entropy` is PyTorch's; `losslab:cross_entropy` the information function.
    write(&d, "logits.npy", Tensor::F64(arr2(&[[1.0, 2.0, 3.0]]).into_dyn()));
    write(&d, "labels.npy", Tensor::I64(arr1(&[2i64]).into_dyn()));
    let v = ok_json(&d, &["eval", "cross_entropy", "-t", "input=logits.npy", "-t", "target=labels.npy"]);
    assert_eq!(v["loss"], "torch:cross_entropy");
    let lse = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
    assert!(close(v["value"].as_f64().unwrap(), lse - 3.0, 1e-14), "{v}");
    let (p, q) = ([0.5, 0.5], [0.25, 0.75]);
    f64s(&d, "p.npy", &p);
    f64s(&d, "q.npy", &q);
    let v = ok_json(&d, &["eval", "losslab:cross_entropy", "-t", "p=p.npy", "-t", "q=q.npy"]);
    assert_eq!(v["loss"], "losslab:cross_entropy");
    assert_eq!(v["reduction"], "none");
    assert!(close(v["value"].as_f64().unwrap(), -(0.5 * 0.25f64.ln() + 0.5 * 0.75f64.ln()), 1e-15));
    // Unqualified `entropy` is SciPy's (scipy comes before losslab), which normalises.
    f64s(&d, "pk.npy", &[1.0, 3.0]);
    let v = ok_json(&d, &["eval", "entropy", "-t", "pk=pk.npy"]);
    assert_eq!(v["loss"], "scipy:entropy");
    assert!(close(v["value"].as_f64().unwrap(), -(0.25 * 0.25f64.ln() + 0.75 * 0.75f64.ln()), 1e-15));
}

#[test]
fn out_writes_the_result_in_the_compute_dtype() {
    let (_t, d) = setup();
    let (x, y) = mse_files(&d);
    let v = ok_json(&d, &["eval", "mse_loss", "-t", "input=x.npy", "-t", "target=y.npy", "--reduction", "none", "--out", "r.npy"]);
    assert_eq!(v["out"], "r.npy");
    assert_eq!(v["shape"], serde_json::json!([3]));
    let want: Vec<f64> = x.iter().zip(&y).map(|(a, b)| (a - b) * (a - b)).collect();
    assert_eq!(read_f64(&d.join("r.npy")), want);
    assert_eq!(json_f64s(&v["value"]), want);

    write(&d, "a32.npy", Tensor::F32(arr2(&[[0.5f32, -1.0], [2.0, 0.0]]).into_dyn()));
    write(&d, "b32.npy", Tensor::F32(arr2(&[[0.0f32, 0.0], [0.0, 0.0]]).into_dyn()));
    let v = ok_json(&d, &["eval", "l1_loss", "-t", "input=a32.npy", "-t", "target=b32.npy", "--reduction", "sum", "--out", "s.npy"]);
    assert_eq!(v["dtype"], "float32");
    let r = npy::read(&d.join("s.npy")).unwrap();
    assert_eq!(r, Tensor::F32(ndarray::arr0(3.5f32).into_dyn()), "a 0-d float32 result");
}

#[test]
fn grad_dir_writes_every_gradient() {
    let (_t, d) = setup();
    let (x, y) = mse_files(&d);
    let v = ok_json(&d, &["eval", "mse_loss", "-t", "input=x.npy", "-t", "target=y.npy", "--grad-dir", "g/nested"]);
    assert_eq!(files(&d.join("g/nested")), ["input.npy", "target.npy"]);
    assert_eq!(v["grads"]["input"].as_str().unwrap(), Path::new("g/nested").join("input.npy").to_str().unwrap());
    // d/dx mean((x − y)²) = 2 (x − y) / n; d/dy = −d/dx.
    let n = x.len() as f64;
    let gx: Vec<f64> = x.iter().zip(&y).map(|(a, b)| 2.0 * (a - b) / n).collect();
    assert_close(&read_f64(&d.join("g/nested/input.npy")), &gx, 1e-15);
    let gy: Vec<f64> = gx.iter().map(|g| -g).collect();
    assert_close(&read_f64(&d.join("g/nested/target.npy")), &gy, 1e-15);
}

#[test]
fn gaussian_nll_takes_var_as_a_float_option_and_writes_no_gradient_for_it() {
    let (_t, d) = setup();
    let (x, y) = ([1.0, 2.0, -0.5, 0.25], [0.0, 0.5, 1.0, 0.25]);
    f64s(&d, "x.npy", &x);
    f64s(&d, "y.npy", &y);
    f64s(&d, "v.npy", &[0.5; 4]);
    let base = ["eval", "gaussian_nll_loss", "-t", "input=x.npy", "-t", "target=y.npy", "--reduction", "sum"];
    let v = ok_json(&d, &[&base[..], &["-O", "var=0.5", "--grad-dir", "g"]].concat());
    // PyTorch has no gradient for a Python float: input and target only.
    assert_eq!(files(&d.join("g")), ["input.npy", "target.npy"]);
    assert_eq!(v["grads"].as_object().unwrap().len(), 2, "{v}");
    let want: f64 = x.iter().zip(&y).map(|(a, b)| 0.5 * (0.5f64.ln() + (a - b) * (a - b) / 0.5)).sum();
    assert_close(&[v["value"].as_f64().unwrap()], &[want], 1e-15);
    let gx: Vec<f64> = x.iter().zip(&y).map(|(a, b)| (a - b) / 0.5).collect();
    assert_close(&read_f64(&d.join("g/input.npy")), &gx, 1e-15);
    // The same as the tensor filled with the float, which has its gradient too.
    let t = ok_json(&d, &[&base[..], &["-t", "var=v.npy", "--grad-dir", "h"]].concat());
    assert_eq!(t["value"], v["value"]);
    assert_eq!(files(&d.join("h")), ["input.npy", "target.npy", "var.npy"]);
    assert_eq!(read_f64(&d.join("h/input.npy")), read_f64(&d.join("g/input.npy")));
    assert_eq!(read_f64(&d.join("h/target.npy")), read_f64(&d.join("g/target.npy")));
    // `losslab list` shows the float form.
    let out = losslab(&d, &["list"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let entry = text.split("\n\n").find(|e| e.starts_with("torch:gaussian_nll_loss")).expect("listed");
    assert!(entry.contains("var = None") && entry.contains("var (when a tensor)"), "{entry}");
}

#[test]
fn cross_entropy_gradient_is_softmax_minus_one_hot() {
    let (_t, d) = setup();
    let logits = [[2.0f32, 0.5, -1.0], [0.25, 1.5, -0.75]];
    let labels = [0i64, 2];
    write(&d, "logits.npy", Tensor::F32(arr2(&logits).into_dyn()));
    write(&d, "labels.npy", Tensor::I64(arr1(&labels).into_dyn()));
    let v = ok_json(&d, &["eval", "cross_entropy", "-t", "input=logits.npy", "-t", "target=labels.npy", "--grad-dir", "g"]);
    assert_eq!(v["dtype"], "float32");
    // Only `input`: the target is integer.
    assert_eq!(files(&d.join("g")), ["input.npy"]);
    let Tensor::F32(g) = npy::read(&d.join("g/input.npy")).unwrap() else { panic!("float32 gradient") };
    let mut loss = 0.0;
    for (i, row) in logits.iter().enumerate() {
        let z: f64 = row.iter().map(|&v| f64::from(v).exp()).sum();
        for (j, &v) in row.iter().enumerate() {
            let p = f64::from(v).exp() / z;
            let want = (p - if j as i64 == labels[i] { 1.0 } else { 0.0 }) / 2.0;
            assert!((f64::from(g[[i, j]]) - want).abs() <= 1e-6 * want.abs().max(1e-3), "{i},{j}: {} vs {want}", g[[i, j]]);
        }
        loss += z.ln() - f64::from(row[labels[i] as usize]);
    }
    assert!((v["value"].as_f64().unwrap() - loss / 2.0).abs() < 1e-6);
}

/// A float16 `.npy` file written byte by byte as NumPy writes one (`<f2`,
/// version 1.0, the header padded to 64 bytes): the IEEE 754 binary16 bit
/// patterns of the values.
fn f16_npy(dir: &Path, name: &str, shape: &str, bits: &[u16]) -> String {
    let mut dict = format!("{{'descr': '<f2', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    b.extend_from_slice(dict.as_bytes());
    b.extend(bits.iter().flat_map(|v| v.to_le_bytes()));
    std::fs::write(dir.join(name), b).unwrap();
    name.to_string()
}

/// `eval` on float16 logits: read as float32 (exactly), computed in float32,
/// written as float32.
#[test]
fn eval_reads_float16_files() {
    let (_t, d) = setup();
    // [[2, 0.5, −1], [0.25, 1.5, −0.75]], every value exact in float16.
    let logits = [[2.0f64, 0.5, -1.0], [0.25, 1.5, -0.75]];
    f16_npy(&d, "logits16.npy", "(2, 3)", &[0x4000, 0x3800, 0xBC00, 0x3400, 0x3E00, 0xBA00]);
    let labels = [0i64, 2];
    write(&d, "labels.npy", Tensor::I64(arr1(&labels).into_dyn()));
    let v = ok_json(&d, &["eval", "cross_entropy", "-t", "input=logits16.npy", "-t", "target=labels.npy", "--grad-dir", "g", "--out", "r.npy"]);
    assert_eq!(v["dtype"], "float32");
    let Tensor::F32(g) = npy::read(&d.join("g/input.npy")).unwrap() else { panic!("a float32 gradient") };
    assert!(matches!(npy::read(&d.join("r.npy")).unwrap(), Tensor::F32(_)), "a float32 result");
    let mut loss = 0.0;
    for (i, row) in logits.iter().enumerate() {
        let z: f64 = row.iter().map(|v| v.exp()).sum();
        for (j, &v) in row.iter().enumerate() {
            let want = (v.exp() / z - if j as i64 == labels[i] { 1.0 } else { 0.0 }) / 2.0;
            assert!((f64::from(g[[i, j]]) - want).abs() <= 1e-6 * want.abs().max(1e-3), "{i},{j}: {} vs {want}", g[[i, j]]);
        }
        loss += z.ln() - row[labels[i] as usize];
    }
    assert!((v["value"].as_f64().unwrap() - loss / 2.0).abs() < 1e-6);
    // A float16 input goes with float32 tensors (it is one), not float64 ones.
    f16_npy(&d, "x16.npy", "(3,)", &[0x3C00, 0x4000, 0x4400]); // 1, 2, 4
    write(&d, "y32.npy", Tensor::F32(arr1(&[1.0f32, 1.0, 1.0]).into_dyn()));
    let v = ok_json(&d, &["eval", "mse_loss", "-t", "input=x16.npy", "-t", "target=y32.npy", "--reduction", "sum"]);
    assert_eq!((v["dtype"].as_str().unwrap(), v["value"].as_f64().unwrap()), ("float32", 10.0));
    f64s(&d, "y.npy", &[1.0, 1.0, 1.0]);
    let e = err(&d, &["eval", "mse_loss", "-t", "input=x16.npy", "-t", "target=y.npy"]);
    assert!(e.contains("`target` has dtype float64, expected float32 (the dtype of `input`"), "{e}");
}

#[test]
fn grad_output_scales_the_gradients() {
    let (_t, d) = setup();
    let (x, y) = mse_files(&d);
    let g = [1.0, -2.0, 0.5];
    f64s(&d, "go.npy", &g);
    ok_json(
        &d,
        &[
            "eval",
            "mse_loss",
            "-t",
            "input=x.npy",
            "-t",
            "target=y.npy",
            "--reduction",
            "none",
            "--grad-dir",
            "g",
            "--grad-output",
            "go.npy",
        ],
    );
    let want: Vec<f64> = (0..3).map(|i| g[i] * 2.0 * (x[i] - y[i])).collect();
    assert_close(&read_f64(&d.join("g/input.npy")), &want, 1e-15);

    // A grad_output of another shape than the result's is an error, and nothing is written.
    f64s(&d, "go2.npy", &[1.0, 2.0]);
    let e = err(
        &d,
        &[
            "eval",
            "mse_loss",
            "-t",
            "input=x.npy",
            "-t",
            "target=y.npy",
            "--reduction",
            "none",
            "--grad-dir",
            "h",
            "--out",
            "o.npy",
            "--grad-output",
            "go2.npy",
        ],
    );
    assert!(e.contains("`grad_output` has shape [2], expected [3]"), "{e}");
    assert!(!d.join("h").exists() && !d.join("o.npy").exists());
    // A scalar result takes a 0-d grad_output.
    write(&d, "go0.npy", Tensor::F64(ndarray::arr0(3.0).into_dyn()));
    ok_json(&d, &["eval", "mse_loss", "-t", "input=x.npy", "-t", "target=y.npy", "--grad-dir", "k", "--grad-output", "go0.npy"]);
    let want: Vec<f64> = (0..3).map(|i| 3.0 * 2.0 * (x[i] - y[i]) / 3.0).collect();
    assert_close(&read_f64(&d.join("k/input.npy")), &want, 1e-15);
}

#[test]
fn reduction_override_for_a_tf_loss() {
    let (_t, d) = setup();
    let labels = [[1.0, 0.0], [0.25, 0.75], [0.5, 0.5]];
    let logits = [[0.0, 1.0], [2.0, -1.0], [0.5, 0.5]];
    write(&d, "labels.npy", Tensor::F64(arr2(&labels).into_dyn()));
    write(&d, "logits.npy", Tensor::F64(arr2(&logits).into_dyn()));
    let per_sample: Vec<f64> = (0..3)
        .map(|i| {
            let lse = (logits[i][0].exp() + logits[i][1].exp()).ln();
            -(labels[i][0] * (logits[i][0] - lse) + labels[i][1] * (logits[i][1] - lse))
        })
        .collect();
    let args = ["eval", "tf:softmax_cross_entropy_with_logits", "-t", "labels=labels.npy", "-t", "logits=logits.npy"];
    let v = ok_json(&d, &args);
    assert_eq!(v["reduction"], "none");
    assert_eq!(v["shape"], serde_json::json!([3]));
    assert_close(&json_f64s(&v["value"]), &per_sample, 1e-14);
    let v = ok_json(&d, &[&args[..], &["--reduction", "mean"]].concat());
    assert_eq!(v["reduction"], "mean");
    assert_eq!(v["shape"], serde_json::json!([]));
    assert!(close(v["value"].as_f64().unwrap(), per_sample.iter().sum::<f64>() / 3.0, 1e-14));
    let v = ok_json(&d, &[&args[..], &["--reduction", "sum", "--grad-dir", "g"]].concat());
    assert!(close(v["value"].as_f64().unwrap(), per_sample.iter().sum::<f64>(), 1e-14));
    // d/dlogits = softmax(logits) − labels (the labels sum to 1).
    let g = read_f64(&d.join("g/logits.npy"));
    for i in 0..3 {
        let z = logits[i][0].exp() + logits[i][1].exp();
        for j in 0..2 {
            assert!((g[i * 2 + j] - (logits[i][j].exp() / z - labels[i][j])).abs() < 1e-14);
        }
    }
    assert_eq!(files(&d.join("g")), ["labels.npy", "logits.npy"]);
}

#[test]
fn non_finite_values_and_large_results() {
    let (_t, d) = setup();
    f64s(&d, "x.npy", &[f64::INFINITY, f64::NAN, 1.0]);
    f64s(&d, "y.npy", &[0.0, 0.0, 1.0]);
    let v = ok_json(&d, &["eval", "l1_loss", "-t", "input=x.npy", "-t", "target=y.npy", "--reduction", "none"]);
    assert_eq!(v["value"], serde_json::json!(["inf", "nan", 0.0]));
    let v = ok_json(&d, &["eval", "l1_loss", "-t", "input=x.npy", "-t", "target=y.npy"]);
    assert_eq!(v["value"], "nan");

    let n = 100_001;
    write(&d, "big.npy", Tensor::F32(ArrayD::from_elem(IxDyn(&[n]), 1.0f32)));
    write(&d, "zero.npy", Tensor::F32(ArrayD::zeros(IxDyn(&[n]))));
    let v = ok_json(&d, &["eval", "mse_loss", "-t", "input=big.npy", "-t", "target=zero.npy", "--reduction", "none"]);
    assert!(v["value"].is_null(), "{}", v["shape"]);
    assert!(v["value_note"].as_str().unwrap().contains("--out"), "{v}");
    assert_eq!(v["shape"], serde_json::json!([n]));
}

#[test]
fn list_text_and_json() {
    let (_t, d) = setup();
    let out = losslab(&d, &["list"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for spec in losslab_registry::catalog() {
        assert!(text.contains(&format!("\n{}\n", spec.qualified_name())), "{} missing", spec.qualified_name());
    }
    assert!(text.contains("ignore_index = -100"), "{text}");
    assert!(text.contains("label_smoothing = 0.0"), "{text}");

    let out = losslab(&d, &["list", "--json"]);
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let all = v.as_array().unwrap();
    assert_eq!(all.len(), losslab_registry::catalog().len());
    let ce = all.iter().find(|l| l["name"] == "torch:cross_entropy").unwrap();
    assert_eq!(ce["framework"], "torch");
    assert_eq!(ce["default_reduction"], "mean");
    assert_eq!(ce["tensors"][1]["kind"], "int or float");
    assert_eq!(
        ce["options"][0],
        serde_json::json!({"key": "ignore_index", "type": "int", "default": "-100", "doc": ce["options"][0]["doc"]})
    );
    let tf = all.iter().find(|l| l["name"] == "tf:sparse_softmax_cross_entropy_with_logits").unwrap();
    assert!(tf["default_reduction"].is_null());
    // Integer-to-float promotion, per tensor, as the reference does it.
    let mse = all.iter().find(|l| l["name"] == "torch:mse_loss").unwrap();
    assert_eq!(mse["tensors"][1]["kind"], "float (int promoted)");
    let kl = all.iter().find(|l| l["name"] == "torch:kl_div").unwrap();
    assert_eq!(kl["tensors"][1]["kind"], "float");
    assert!(text.contains("target  float (int promoted): the target: a shape that broadcasts with input's"), "{text}");
}

/// PyTorch promotes an integer target of mse_loss to the input's float dtype;
/// the result is in that dtype and the integer tensor has no gradient.
#[test]
fn integer_targets_are_promoted_where_the_reference_promotes_them() {
    let (_t, d) = setup();
    write(&d, "x32.npy", Tensor::F32(arr1(&[0.5f32, 3.0]).into_dyn()));
    write(&d, "i.npy", Tensor::I64(arr1(&[0i64, 2]).into_dyn()));
    let v = ok_json(&d, &["eval", "mse_loss", "-t", "input=x32.npy", "-t", "target=i.npy", "--grad-dir", "g"]);
    assert_eq!(v["dtype"], "float32");
    assert_eq!(json_f64s(&v["value"]), [0.625]);
    assert_eq!(files(&d.join("g")), ["input.npy"]);
    assert_eq!(read_f64(&d.join("g/input.npy")), [0.5, 1.0]);
}

#[test]
fn broken_pipe_is_not_an_error() {
    let mut child =
        Command::new(env!("CARGO_BIN_EXE_losslab")).args(["list", "--json"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Every error path: the message names the problem, and no output file is left
/// (neither `--out` nor anything in `--grad-dir`; an existing `--out` file is untouched).
#[test]
fn errors_name_the_problem_and_leave_no_file() {
    let (_t, d) = setup();
    mse_files(&d);
    f64s(&d, "y3.npy", &[1.0, 2.0, 3.0]);
    f64s(&d, "y2.npy", &[1.0, 2.0]);
    write(&d, "x32.npy", Tensor::F32(arr1(&[1.0f32, 2.0, 4.0]).into_dyn()));
    write(&d, "i3.npy", Tensor::I64(arr1(&[1i64, 2, 3]).into_dyn()));
    write(&d, "logits.npy", Tensor::F64(arr2(&[[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]).into_dyn()));
    write(&d, "labels_bad.npy", Tensor::I64(arr1(&[0i64, 5]).into_dyn()));
    std::fs::write(d.join("garbage.npy"), b"this is not a numpy file at all").unwrap();
    let mut good = Vec::new();
    npy::write_to(&mut good, &Tensor::F64(arr1(&[1.0, 2.0, 4.0]).into_dyn())).unwrap();
    std::fs::write(d.join("truncated.npy"), &good[..good.len() - 5]).unwrap();
    let header = |descr: &str, shape: &str| {
        let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n");
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        b.extend_from_slice(dict.as_bytes());
        b.extend_from_slice(&[0u8; 24]);
        b
    };
    std::fs::write(d.join("huge.npy"), header("<f8", "(100000000000, 100000000000)")).unwrap();
    std::fs::write(d.join("huge2.npy"), header("<f8", "(1000000000,)")).unwrap();
    std::fs::write(d.join("u2.npy"), header("<u2", "(12,)")).unwrap();
    std::fs::write(d.join("existing.npy"), b"keep me").unwrap();

    let base = ["eval"];
    let cases: &[(&[&str], &str)] = &[
        (&["msee_loss", "-t", "input=x.npy", "-t", "target=y.npy"], "unknown loss `msee_loss`: did you mean torch:mse_loss"),
        (&["pt:mse_loss", "-t", "input=x.npy", "-t", "target=y.npy"], "unknown framework `pt`"),
        (&["mse_loss", "-t", "inputs=x.npy", "-t", "target=y.npy"], "torch:mse_loss has no tensor `inputs`; its tensors are input, target"),
        (
            &["smooth_l1_loss", "-t", "input=x.npy", "-t", "target=y.npy", "-O", "betta=1"],
            "has no option `betta`; its options are beta (float, default 1.0)",
        ),
        (&["smooth_l1_loss", "-t", "input=x.npy", "-t", "target=y.npy", "-O", "beta=big"], "option `beta` = big is invalid: expected a number"),
        (&["smooth_l1_loss", "-t", "input=x.npy", "-t", "target=y.npy", "-O", "beta=1,5"], "--option beta=1,5: cannot parse `1,5`"),
        (
            &["smooth_l1_loss", "-t", "input=x.npy", "-t", "target=y.npy", "-O", "beta=-1"],
            "smooth_l1_loss: option `beta` = -1 is invalid: expected a number >= 0",
        ),
        (&["mse_loss", "-t", "input=x.npy"], "torch:mse_loss needs tensor `target`"),
        (&["mse_loss", "-t", "input=x.npy", "-t", "target=y2.npy"], "`target` has shape [2], expected a shape that broadcasts with `input` [3]"),
        (&["kl_div", "-t", "input=x.npy", "-t", "target=i3.npy"], "torch:kl_div: `target` has dtype int64, expected float32 or float64"),
        (
            &["mse_loss", "-t", "input=x32.npy", "-t", "target=y3.npy"],
            "`target` has dtype float64, expected float32 (the dtype of `input`",
        ),
        (&["nll_loss", "-t", "input=logits.npy", "-t", "target=y2.npy"], "`target` has dtype float64, expected integer class indices"),
        (&["cross_entropy", "-t", "input=logits.npy", "-t", "target=labels_bad.npy"], "class index 5"),
        (&["mse_loss", "-t", "input=garbage.npy", "-t", "target=y.npy"], "--tensor input=garbage.npy: not a .npy file"),
        (
            &["mse_loss", "-t", "input=truncated.npy", "-t", "target=y.npy"],
            "--tensor input=truncated.npy: truncated or corrupt: declared shape [3] of <f8 needs 24 bytes of data, but the file has only 19",
        ),
        (
            &["mse_loss", "-t", "input=huge.npy", "-t", "target=y.npy"],
            "--tensor input=huge.npy: declared shape [100000000000, 100000000000] is too large",
        ),
        (
            &["mse_loss", "-t", "input=huge2.npy", "-t", "target=y.npy"],
            "declared shape [1000000000] of <f8 needs 8000000000 bytes of data, but the file has only 24",
        ),
        (
            &["mse_loss", "-t", "input=u2.npy", "-t", "target=y.npy"],
            "unsupported dtype `<u2`; supported: float16 (<f2, read as float32), float32 (<f4), float64 (<f8), int32 (<i4), int64 (<i8)",
        ),
        (&["mse_loss", "-t", "input=missing.npy", "-t", "target=y.npy"], "--tensor input=missing.npy: cannot open the file"),
        (
            &["mse_loss", "-t", "input=x.npy", "-t", "target=y.npy", "--reduction", "avg"],
            "--reduction: unknown reduction `avg`: expected one of none, mean, sum, batchmean",
        ),
        (&["mse_loss", "-t", "input", "-t", "target=y.npy"], "--tensor `input`: expected NAME=FILE"),
        (&["mse_loss", "-t", "input=x.npy", "-t", "input=y.npy"], "--tensor: `input` is given twice"),
        (
            &["tf:softmax_cross_entropy_with_logits", "-t", "labels=x.npy", "-t", "logits=x.npy", "-O", "axis=1.5"],
            "option `axis` = 1.5 is invalid: expected an integer axis",
        ),
    ];
    for (args, want) in cases {
        let full: Vec<&str> = [&base[..], args, &["--out", "existing.npy", "--grad-dir", "grads"]].concat();
        let e = err(&d, &full);
        assert!(e.contains(want), "{args:?}:\n  got:  {e}  want: {want}");
        assert_eq!(std::fs::read(d.join("existing.npy")).unwrap(), b"keep me", "{args:?} touched --out");
        assert!(!d.join("grads").exists(), "{args:?} left --grad-dir");
        let full: Vec<&str> = [&base[..], args, &["--out", "new.npy"]].concat();
        err(&d, &full);
        assert!(!d.join("new.npy").exists(), "{args:?} left --out");
        assert!(!files(&d).iter().any(|f| f.contains(".tmp")), "{args:?} left a temporary file");
    }
    // An --out in a directory that does not exist: an error after computing, nothing left.
    let e = err(&d, &["eval", "mse_loss", "-t", "input=x.npy", "-t", "target=y.npy", "--out", "no/such/dir/r.npy", "--grad-dir", "grads"]);
    assert!(e.contains("cannot write `no/such/dir/r.npy`"), "{e}");
    assert!(!d.join("grads").exists());
}

#[test]
fn usage_errors_exit_non_zero() {
    let (_t, d) = setup();
    let out = losslab(&d, &["eval", "mse_loss", "--grad-output", "g.npy"]);
    assert_eq!(out.status.code(), Some(2), "clap's usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--grad-dir"));
    let out = losslab(&d, &["frobnicate"]);
    assert!(!out.status.success());
    let out = losslab(&d, &["--version"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("losslab "));
}

#[test]
fn shipped_examples_work() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let v = ok_json(&root, &["eval", "cross_entropy", "--tensor", "input=examples/logits.npy", "--tensor", "target=examples/labels.npy"]);
    assert_eq!(v["loss"], "torch:cross_entropy");
    assert_eq!(v["dtype"], "float32");
    let Tensor::F32(logits) = npy::read(&root.join("examples/logits.npy")).unwrap() else { panic!("float32 logits") };
    let Tensor::I64(labels) = npy::read(&root.join("examples/labels.npy")).unwrap() else { panic!("int64 labels") };
    assert_eq!(logits.shape(), &[4, 3]);
    let want: f64 = (0..4)
        .map(|i| {
            let row = logits.index_axis(ndarray::Axis(0), i);
            row.iter().map(|&v| f64::from(v).exp()).sum::<f64>().ln() - f64::from(row[labels[i] as usize])
        })
        .sum::<f64>()
        / 4.0;
    assert!((v["value"].as_f64().unwrap() - want).abs() < 1e-6, "{v} vs {want}");
}

/// `losslab bench --json` prints one object with every documented field (the
/// output's shape only: speed claims live in benchmarks, never in tests).
#[test]
fn bench_json_has_every_field() {
    let dir = tempfile::tempdir().unwrap();
    for dtype in ["f32", "f64", "bf16", "f16"] {
        let v = ok_json(
            dir.path(),
            &["bench", "cross_entropy", "--fused", "--shape", "8x300", "--dtype", dtype, "--threads", "2", "--json", "--reps", "1", "--warmup", "0", "--mem-mib", "4"],
        );
        assert_eq!(v["loss"], "torch:cross_entropy");
        assert_eq!(v["shape"], serde_json::json!([8, 300]));
        assert_eq!(v["dtype"], dtype);
        assert_eq!(v["threads"], 2);
        for key in [
            "fwd_elems_per_s",
            "fwd_bwd_elems_per_s",
            "fwd_bwd_inplace_elems_per_s",
            "mem_read_gbps",
            "mem_rmw_gbps",
            "exp_per_s",
            "roofline_fraction",
        ] {
            assert!(v[key].as_f64().is_some_and(|x| x > 0.0 && x.is_finite()), "{key}: {}", v[key]);
        }
    }
    let e = err(dir.path(), &["bench", "cross_entropy", "--fused", "--shape", "8", "--reps", "1"]);
    assert!(e.contains("ROWSxCLASSES"), "{e}");
    let e = err(dir.path(), &["bench", "cross_entropy", "--shape", "8x3", "--dtype", "f8"]);
    assert!(e.contains("unsupported --dtype `f8`: expected f32, f64, bf16 or f16"), "{e}");
    let e = err(dir.path(), &["bench", "mse_loss", "--shape", "8", "--dtype", "bf16"]);
    assert!(e.contains("--dtype bf16 is supported for cross_entropy only"), "{e}");
    // Shapes that cannot be allocated: an error before any allocation, not a panic or an abort.
    let e = err(dir.path(), &["bench", "cross_entropy", "--fused", "--shape", "99999999999x99999999999"]);
    assert_eq!(e.trim_end(), "error: --shape `99999999999x99999999999` is too large: its element count overflows");
    let e = err(dir.path(), &["bench", "cross_entropy", "--shape", "100000000x100000", "--dtype", "bf16"]);
    assert!(e.starts_with("error: --shape `100000000x100000` needs 37252.9 GiB (2 buffers of 10000000000000 bf16 elements), more than the "), "{e}");
    let e = err(dir.path(), &["bench", "mse_loss", "--fused", "--shape", "1e14"]);
    assert!(e.contains("(3 buffers of 100000000000000 f32 elements)"), "{e}");
    // Without --fused: any loss through the registry, with its tensors and memory.
    let v = ok_json(dir.path(), &["bench", "keras:log_cosh", "--shape", "16x8", "--threads", "2", "--json", "--reps", "1", "--warmup", "0", "--mem-mib", "4"]);
    assert_eq!(v["loss"], "keras:log_cosh");
    assert_eq!(v["mode"], "registry");
    assert_eq!(v["differentiated"], serde_json::json!(["y_pred", "y_true"]));
    for key in ["fwd_s", "fwd_bwd_s", "fwd_bwd_elems_per_s", "mem_rmw_gbps", "bandwidth_fraction", "input_bytes", "grad_bytes"] {
        assert!(v[key].as_f64().is_some_and(|x| x > 0.0 && x.is_finite()), "{key}: {}", v[key]);
    }
    let e = err(dir.path(), &["bench", "mse_loss", "--shape", "1e14"]);
    assert!(e.starts_with("error: torch:mse_loss on N = 100000000000000 needs about "), "{e}");
    let e = err(dir.path(), &["bench", "ctc_loss", "--grad", "targets"]);
    assert_eq!(e.trim_end(), "error: --grad targets: torch:ctc_loss does not differentiate `targets` (it differentiates log_probs)");
    let e = err(dir.path(), &["bench", "cross_entropy", "--shape", "8x3", "--threads", "0"]);
    assert_eq!(e.trim_end(), "error: --threads must be at least 1");
}

/// The LM head through `eval`: the loss, its other outputs (`outputs`: the
/// z-loss always, per-token outputs when asked for) and the three gradients.
#[test]
fn linear_cross_entropy_reports_its_outputs_and_gradients() {
    let (_t, d) = setup();
    let x = [[1.0f64, 2.0], [0.5, -1.0], [0.0, 1.5]];
    let w = [[0.1f64, 0.2], [0.3, -0.1], [0.0, 0.5], [-0.2, 0.4]];
    let t = [2i64, 0, -100];
    write(&d, "x.npy", Tensor::F64(arr2(&x).into_dyn()));
    write(&d, "w.npy", Tensor::F64(arr2(&w).into_dyn()));
    write(&d, "b.npy", Tensor::F64(arr1(&[0.1, -0.1, 0.0, 0.2]).into_dyn()));
    write(&d, "t.npy", Tensor::I64(arr1(&t).into_dyn()));
    let args = ["eval", "linear_cross_entropy", "-t", "input=x.npy", "-t", "linear_weight=w.npy", "-t", "linear_bias=b.npy", "-t", "target=t.npy"];
    let opts = ["-O", "lse_square_scale=0.5", "-O", "return_lse=true", "-O", "return_predicted=true", "--reduction", "none", "--grad-dir", "g"];
    let v = ok_json(&d, &[&args[..], &opts[..]].concat());
    assert_eq!(v["loss"], "torch:linear_cross_entropy");
    let (lse, pred, z) = (json_f64s(&v["outputs"]["lse"]), json_f64s(&v["outputs"]["predicted"]), json_f64s(&v["outputs"]["z_loss"]));
    let b = [0.1, -0.1, 0.0, 0.2];
    for (i, row) in x.iter().enumerate() {
        let logits: Vec<f64> = w.iter().zip(&b).map(|(wr, bj)| row[0] * wr[0] + row[1] * wr[1] + bj).collect();
        let m = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let want = m + logits.iter().map(|l| (l - m).exp()).sum::<f64>().ln();
        assert!(close(lse[i], want, 1e-12), "lse[{i}]: {} vs {want}", lse[i]);
        assert_eq!(pred[i] as usize, logits.iter().position(|&l| l == m).unwrap());
        let zl = if t[i] < 0 { 0.0 } else { 0.5 * want * want };
        assert!(close(z[i], zl, 1e-12) || (z[i] == 0.0 && zl == 0.0), "z_loss[{i}]");
        let ce = if t[i] < 0 { 0.0 } else { want - logits[t[i] as usize] };
        assert!(close(json_f64s(&v["value"])[i], ce + zl, 1e-12) || t[i] < 0);
    }
    assert_eq!(files(&d.join("g")), ["input.npy", "linear_bias.npy", "linear_weight.npy"]);
    // A class index outside the vocabulary: a clear error, non-zero exit, no file.
    write(&d, "bad.npy", Tensor::I64(arr1(&[2i64, 4, 0]).into_dyn()));
    let e = err(&d, &["eval", "linear_cross_entropy", "-t", "input=x.npy", "-t", "linear_weight=w.npy", "-t", "target=bad.npy"]);
    assert!(e.contains("linear_cross_entropy: `target` holds class index 4 at position [1], outside the valid range [0, 4)"), "{e}");
}

/// `losslab bench linear_cross_entropy --json`: GFLOP/s beside the FMA peak
/// measured in the process, and the memory (the output's shape only).
#[test]
fn bench_linear_cross_entropy_has_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let v = ok_json(dir.path(), &["bench", "linear_cross_entropy", "--shape", "64x16x500", "--threads", "2", "--json", "--reps", "1", "--warmup", "0"]);
    assert_eq!(v["loss"], "torch:linear_cross_entropy");
    assert_eq!((v["n"].as_u64(), v["d"].as_u64(), v["v"].as_u64()), (Some(64), Some(16), Some(500)));
    for key in ["fwd_s", "fwd_bwd_s", "fwd_gflops", "fwd_bwd_gflops", "fma_peak_gflops", "fwd_bwd_fraction_of_peak", "input_bytes", "grad_bytes"] {
        assert!(v[key].as_f64().is_some_and(|x| x > 0.0 && x.is_finite()), "{key}: {}", v[key]);
    }
    let e = err(dir.path(), &["bench", "linear_cross_entropy", "--shape", "64x16"]);
    assert!(e.contains("linear_cross_entropy takes N×D×V"), "{e}");
    let e = err(dir.path(), &["bench", "linear_cross_entropy", "--dtype", "f16"]);
    assert!(e.contains("unsupported --dtype `f16` for linear_cross_entropy: expected f32, f64 or bf16"), "{e}");
    // bf16: the same fields, and whether the dot products ran (with their peak where the CPU has them).
    let b = ok_json(dir.path(), &["bench", "linear_cross_entropy", "--shape", "64x16x500", "--dtype", "bf16", "--threads", "2", "--json", "--reps", "1", "--warmup", "0"]);
    assert_eq!(b["dtype"], "bf16");
    assert!(b["fwd_bwd_gflops"].as_f64().is_some_and(|x| x > 0.0 && x.is_finite()), "{b}");
    assert_eq!(b["grad_bytes"].as_u64(), Some((64 * 16 + 500 * 16) * 2));
    let dots = b["bf16_dot_products"].as_bool().expect("bf16_dot_products");
    assert!(!dots || b["bf16_peak_gflops"].as_f64().is_some_and(|p| p > 0.0), "{b}");
    let e = err(dir.path(), &["bench", "linear_cross_entropy", "--fused"]);
    assert!(e.contains("--fused, --grad, --save-inputs and --scale do not apply"), "{e}");
}

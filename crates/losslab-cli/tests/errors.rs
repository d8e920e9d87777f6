//! Every class of error `losslab eval` reports, pinned: the built binary is run
//! on one bad input per class, and each run must exit non-zero, print nothing
//! on stdout, print exactly the expected one-line message on stderr (naming the
//! loss or the flag and file, the tensor or option, what was expected and what
//! was found), never panic, and leave no output file: neither `--out` nor
//! anything in `--grad-dir`, no temporary file, and an existing `--out` file
//! untouched (issue 6: errors a person can act on).

use losslab_cli::npy;
use losslab_registry::Tensor;
use ndarray::{arr1, arr2, ArrayD, IxDyn};
use std::path::Path;

mod common;
use common::losslab;

/// The files under `dir`, recursively, as paths relative to it, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(root).unwrap().display().to_string());
            if p.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v);
    v.sort();
    v
}

/// A `.npy` file with the header dictionary `dict` (padded as NumPy does) and `data`.
fn raw_npy(version: u8, dict: &str, data: &[u8]) -> Vec<u8> {
    let prefix = if version == 1 { 10 } else { 12 };
    let mut text = dict.to_string();
    while !(prefix + text.len() + 1).is_multiple_of(64) {
        text.push(' ');
    }
    text.push('\n');
    let mut b = b"\x93NUMPY".to_vec();
    b.extend_from_slice(&[version, 0]);
    if version == 1 {
        b.extend_from_slice(&(text.len() as u16).to_le_bytes());
    } else {
        b.extend_from_slice(&(text.len() as u32).to_le_bytes());
    }
    b.extend_from_slice(text.as_bytes());
    b.extend_from_slice(data);
    b
}

fn header(descr: &str, shape: &str) -> String {
    format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}")
}

/// A directory holding the inputs every case reads.
fn inputs() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let w = |name: &str, t: Tensor| npy::write(&d.join(name), &t).unwrap();
    w("x.npy", Tensor::F64(arr1(&[1.0, 2.0, 4.0]).into_dyn()));
    w("y.npy", Tensor::F64(arr1(&[1.0, 1.0, 1.0]).into_dyn()));
    w("y2.npy", Tensor::F64(arr1(&[1.0, 1.0]).into_dyn()));
    w("x32.npy", Tensor::F32(arr1(&[1.0f32, 2.0, 4.0]).into_dyn()));
    w("var.npy", Tensor::F64(arr1(&[1.0, -0.5, 1.0]).into_dyn()));
    w("logits.npy", Tensor::F64(arr2(&[[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]).into_dyn()));
    w("labels.npy", Tensor::I64(arr1(&[0i64, 2]).into_dyn()));
    w("labels_bad.npy", Tensor::I64(arr1(&[0i64, 3]).into_dyn()));
    w("ints.npy", Tensor::I64(arr1(&[1i64, 2, 3]).into_dyn()));
    w("g2.npy", Tensor::F64(arr1(&[1.0, 1.0]).into_dyn()));
    w("g0_32.npy", Tensor::F32(ArrayD::from_elem(IxDyn(&[]), 1.0f32)));
    let f = |name: &str, bytes: &[u8]| std::fs::write(d.join(name), bytes).unwrap();
    f("garbage.npy", b"this is not a numpy file");
    f("short.npy", b"\x93NUMPY\x01");
    f("v9.npy", &raw_npy(1, &header("<f8", "(1,)"), &[0; 8])[..].iter().enumerate().map(|(i, &b)| if i == 6 { 9 } else { b }).collect::<Vec<_>>());
    let mut good = Vec::new();
    npy::write_to(&mut good, &Tensor::F64(arr1(&[1.0, 2.0, 4.0]).into_dyn())).unwrap();
    f("truncated.npy", &good[..good.len() - 5]);
    let mut extra = good.clone();
    extra.extend_from_slice(&[0; 8]);
    f("extra.npy", &extra);
    let mut lying = good.clone();
    lying[8] = 0xff;
    lying[9] = 0xff;
    f("lying_header.npy", &lying);
    f("huge.npy", &raw_npy(1, &header("<f8", "(1000000000, 1000000000)"), &[0; 8]));
    f("huge_bytes.npy", &raw_npy(1, &header("<f8", "(4000000000, 4000000000)"), &[0; 8]));
    f("huge_overflow.npy", &raw_npy(1, &header("<f8", "(18446744073709551615, 18446744073709551615)"), &[0; 8]));
    f("negative.npy", &raw_npy(1, &header("<f8", "(-3,)"), &[0; 24]));
    f("u2.npy", &raw_npy(1, &header("<u2", "(3,)"), &[0; 6]));
    f("c8.npy", &raw_npy(1, &header("<c8", "(3,)"), &[0; 24]));
    f("structured.npy", &raw_npy(1, "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,), }", &[0; 8]));
    f("no_shape.npy", &raw_npy(1, "{'descr': '<f8', 'fortran_order': False, }", &[0; 8]));
    f("bad_order.npy", &raw_npy(1, "{'descr': '<f8', 'fortran_order': 'C', 'shape': (1,), }", &[0; 8]));
    f("not_dict.npy", &raw_npy(1, "[1, 2]", &[0; 8]));
    f("bad_syntax.npy", &raw_npy(1, "{'descr' '<f8'}", &[]));
    f("v2_truncated.npy", b"\x93NUMPY\x02\x00\x10\x00");
    std::fs::create_dir(d.join("a_dir.npy")).unwrap();
    t
}

/// `(what, arguments after "eval", the exact stderr)`.
type Case = (&'static str, &'static [&'static str], &'static str);

const X: &str = "input=x.npy";
const Y: &str = "target=y.npy";

fn cases() -> Vec<Case> {
    vec![
        // --- the loss, its options and tensors ---
        ("unknown loss, with a suggestion", &["msee_loss", "-t", X, "-t", Y], "unknown loss `msee_loss`: did you mean torch:mse_loss? (`losslab list` shows every loss)"),
        ("unknown loss", &["frobnicate", "-t", X, "-t", Y], "unknown loss `frobnicate` (`losslab list` shows every loss)"),
        (
            "unknown framework",
            &["pt:mse_loss", "-t", X, "-t", Y],
            "unknown framework `pt` in loss name `pt:mse_loss`: expected one of torch, torchvision, torchaudio, tf, keras, optax, scipy, trl, open_clip, pml, diffusers, losslab",
        ),
        (
            "unknown option",
            &["smooth_l1_loss", "-t", X, "-t", Y, "-O", "betta=1"],
            "torch:smooth_l1_loss has no option `betta`; its options are beta (float, default 1.0)",
        ),
        ("option of a loss without options", &["mse_loss", "-t", X, "-t", Y, "-O", "beta=1"], "torch:mse_loss has no option `beta`; it has no options"),
        ("option value of the wrong type", &["smooth_l1_loss", "-t", X, "-t", Y, "-O", "beta=abc"], "torch:smooth_l1_loss: option `beta` = abc is invalid: expected a number"),
        (
            "option value out of range",
            &["smooth_l1_loss", "-t", X, "-t", Y, "-O", "beta=-1"],
            "smooth_l1_loss: option `beta` = -1 is invalid: expected a number >= 0",
        ),
        (
            "option value not in the choices",
            &["tf:softmax_cross_entropy_with_logits", "-t", "labels=logits.npy", "-t", "logits=logits.npy", "-O", "axis=True"],
            "tf:softmax_cross_entropy_with_logits: option `axis` = True is invalid: expected an integer axis",
        ),
        (
            "option value that does not parse",
            &["smooth_l1_loss", "-t", X, "-t", Y, "-O", "beta=1,5"],
            "--option beta=1,5: cannot parse `1,5`: expected a number, true/false (or True/False), None/null, or a name",
        ),
        ("option without a value", &["smooth_l1_loss", "-t", X, "-t", Y, "-O", "beta"], "--option `beta`: expected KEY=VALUE (for example label_smoothing=0.1)"),
        ("option given twice", &["smooth_l1_loss", "-t", X, "-t", Y, "-O", "beta=1", "-O", "beta=2"], "--option: `beta` is given twice"),
        (
            "unknown reduction",
            &["mse_loss", "-t", X, "-t", Y, "--reduction", "avg"],
            "--reduction: unknown reduction `avg`: expected one of none, mean, sum, batchmean",
        ),
        (
            "missing tensor",
            &["mse_loss", "-t", X],
            "torch:mse_loss needs tensor `target` (the target: a shape that broadcasts with input's (PyTorch's broadcasting; the result has the broadcast shape)); its tensors are input, target",
        ),
        ("unknown tensor name", &["mse_loss", "-t", "inputs=x.npy", "-t", Y], "torch:mse_loss has no tensor `inputs`; its tensors are input, target"),
        ("tensor without a file", &["mse_loss", "-t", "input", "-t", Y], "--tensor `input`: expected NAME=FILE (for example input=logits.npy or input=out.safetensors:logits)"),
        ("tensor given twice", &["mse_loss", "-t", X, "-t", "input=y.npy"], "--tensor: `input` is given twice"),
        (
            "shapes that do not broadcast",
            &["mse_loss", "-t", X, "-t", "target=y2.npy"],
            "mse_loss: `target` has shape [2], expected a shape that broadcasts with `input` [3] (PyTorch's broadcasting: sizes aligned from the last axis, equal or 1)",
        ),
        (
            "out-of-range label",
            &["cross_entropy", "-t", "input=logits.npy", "-t", "target=labels_bad.npy"],
            "cross_entropy: `target` holds class index 3 at position [1], outside the valid range [0, 3) and not ignore_index (-100)",
        ),
        (
            "negative variance",
            &["gaussian_nll_loss", "-t", X, "-t", Y, "-t", "var=var.npy"],
            "gaussian_nll_loss: `var` holds -0.5 at position [1], expected a variance >= 0 (PyTorch: var has negative entry/entries)",
        ),
        (
            "negative float variance",
            &["gaussian_nll_loss", "-t", X, "-t", Y, "-O", "var=-0.5"],
            "gaussian_nll_loss: `var` holds -0.5 at position [], expected a variance >= 0 (PyTorch: var has negative entry/entries)",
        ),
        (
            "variance as a tensor and a float",
            &["gaussian_nll_loss", "-t", X, "-t", Y, "-t", "var=y.npy", "-O", "var=0.5"],
            "torch:gaussian_nll_loss: `var` is given twice, as a tensor and as the option var = 0.5, expected one of them (a tensor, or one float for every element)",
        ),
        (
            "no variance",
            &["gaussian_nll_loss", "-t", X, "-t", Y],
            "torch:gaussian_nll_loss needs `var`, the predicted variance (>= 0): a tensor (--tensor var=FILE.npy) or one float for every element (--option var=VALUE), found neither; its tensors are input, target, var",
        ),
        ("integers for a float tensor", &["kl_div", "-t", X, "-t", "target=ints.npy"], "torch:kl_div: `target` has dtype int64, expected float32 or float64"),
        (
            "floats for class indices",
            &["nll_loss", "-t", "input=logits.npy", "-t", "target=y2.npy"],
            "torch:nll_loss: `target` has dtype float64, expected integer class indices (int32 or int64)",
        ),
        (
            "mixed float dtypes",
            &["mse_loss", "-t", "input=x32.npy", "-t", Y],
            "torch:mse_loss: `target` has dtype float64, expected float32 (the dtype of `input`: all float tensors must be float32, or all float64)",
        ),
        // --- the .npy files ---
        ("missing file", &["mse_loss", "-t", "input=missing.npy", "-t", Y], "--tensor input=missing.npy: cannot open the file: No such file or directory (os error 2)"),
        ("a directory", &["mse_loss", "-t", "input=a_dir.npy", "-t", Y], "--tensor input=a_dir.npy: expected a .npy file, found a directory"),
        (
            "not a .npy file",
            &["mse_loss", "-t", "input=garbage.npy", "-t", Y],
            "--tensor input=garbage.npy: not a .npy file: expected the NumPy magic string \\x93NUMPY at the start, found b\"this i\"",
        ),
        (
            "a file shorter than any header",
            &["mse_loss", "-t", "input=short.npy", "-t", Y],
            "--tensor input=short.npy: not a .npy file: it has 7 bytes, fewer than the 10 of the smallest .npy header",
        ),
        (
            "truncated data",
            &["mse_loss", "-t", "input=truncated.npy", "-t", Y],
            "--tensor input=truncated.npy: truncated or corrupt: declared shape [3] of <f8 needs 24 bytes of data, but the file has only 19",
        ),
        (
            "extra bytes after the data",
            &["mse_loss", "-t", "input=extra.npy", "-t", Y],
            "--tensor input=extra.npy: corrupt: declared shape [3] of <f8 needs 24 bytes of data, but the file has 32 (extra bytes after the data)",
        ),
        (
            "a header length past the end",
            &["mse_loss", "-t", "input=lying_header.npy", "-t", Y],
            "--tensor input=lying_header.npy: truncated: the header declares 65535 bytes but the file has only 142 after the prefix",
        ),
        (
            "a version 2.0 prefix cut short",
            &["mse_loss", "-t", "target=v2_truncated.npy", "-t", X],
            "--tensor target=v2_truncated.npy: truncated: the file has 10 bytes, fewer than the 12 of a version 2.0 header's prefix",
        ),
        (
            "a huge declared shape",
            &["mse_loss", "-t", "input=huge.npy", "-t", Y],
            "--tensor input=huge.npy: truncated or corrupt: declared shape [1000000000, 1000000000] of <f8 needs 8000000000000000000 bytes of data, but the file has only 8",
        ),
        (
            "a declared shape whose byte size overflows",
            &["mse_loss", "-t", "input=huge_bytes.npy", "-t", Y],
            "--tensor input=huge_bytes.npy: declared shape [4000000000, 4000000000] is too large (its byte size overflows)",
        ),
        (
            "a declared shape whose size overflows",
            &["mse_loss", "-t", "input=huge_overflow.npy", "-t", Y],
            "--tensor input=huge_overflow.npy: declared shape [18446744073709551615, 18446744073709551615] is too large (its element count overflows)",
        ),
        (
            "a negative shape entry",
            &["mse_loss", "-t", "input=negative.npy", "-t", Y],
            "--tensor input=negative.npy: malformed header: expected 'shape' entries in [0, 2^64), found -3",
        ),
        (
            "unsupported dtype",
            &["mse_loss", "-t", "input=u2.npy", "-t", Y],
            "--tensor input=u2.npy: unsupported dtype `<u2`; supported: float16 (<f2, read as float32), float32 (<f4), float64 (<f8), int32 (<i4), int64 (<i8), little- or big-endian (> instead of <)",
        ),
        (
            "complex numbers",
            &["mse_loss", "-t", "input=c8.npy", "-t", Y],
            "--tensor input=c8.npy: unsupported dtype `<c8`; supported: float16 (<f2, read as float32), float32 (<f4), float64 (<f8), int32 (<i4), int64 (<i8), little- or big-endian (> instead of <)",
        ),
        (
            "a structured dtype",
            &["mse_loss", "-t", "input=structured.npy", "-t", Y],
            "--tensor input=structured.npy: unsupported dtype: a structured (record) array; supported: float16 (<f2, read as float32), float32 (<f4), float64 (<f8), int32 (<i4), int64 (<i8), little- or big-endian (> instead of <)",
        ),
        (
            "an unsupported format version",
            &["mse_loss", "-t", "input=v9.npy", "-t", Y],
            "--tensor input=v9.npy: unsupported .npy format version 9.0 (expected 1.0, 2.0 or 3.0)",
        ),
        ("a header without a shape", &["mse_loss", "-t", "input=no_shape.npy", "-t", Y], "--tensor input=no_shape.npy: malformed header: expected a 'shape' key, found none"),
        (
            "a header with a bad fortran_order",
            &["mse_loss", "-t", "input=bad_order.npy", "-t", Y],
            "--tensor input=bad_order.npy: malformed header: expected 'fortran_order' to be True or False, found the string \"C\"",
        ),
        (
            "a header that is not a dict",
            &["mse_loss", "-t", "input=not_dict.npy", "-t", Y],
            "--tensor input=not_dict.npy: malformed header: expected a Python dict literal, found a list",
        ),
        (
            "a header that does not parse",
            &["mse_loss", "-t", "input=bad_syntax.npy", "-t", Y],
            "--tensor input=bad_syntax.npy: malformed header: expected `:` at byte 9",
        ),
        // --- gradients and outputs ---
        (
            "grad_output of the wrong shape",
            &["mse_loss", "-t", X, "-t", Y, "--grad-output", "g2.npy"],
            "torch:mse_loss: `grad_output` has shape [2], expected [] (the shape of the result)",
        ),
        (
            "grad_output of the wrong dtype",
            &["mse_loss", "-t", X, "-t", Y, "--grad-output", "g0_32.npy"],
            "torch:mse_loss: `grad_output` has dtype float32, expected float64 (the dtype of the tensors)",
        ),
        ("grad_output missing", &["mse_loss", "-t", X, "-t", Y, "--grad-output", "nope.npy"], "--grad-output nope.npy: cannot open the file: No such file or directory (os error 2)"),
    ]
}

fn check(dir: &Path, what: &str, args: &[&str], want: &str, code: i32) {
    let out = losslab(dir, args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(code), "{what}: exit status; stderr: {stderr}");
    assert!(out.stdout.is_empty(), "{what}: printed {}", String::from_utf8_lossy(&out.stdout));
    assert!(!stderr.contains("panicked"), "{what}: panicked: {stderr}");
    assert_eq!(stderr, format!("error: {want}\n"), "{what}");
}

#[test]
fn every_eval_error_is_pinned_and_leaves_no_file() {
    let t = inputs();
    let d = t.path();
    std::fs::write(d.join("existing.npy"), b"keep me").unwrap();
    let before = tree(d);
    let cases = cases();
    for (what, args, want) in &cases {
        // With --out over an existing file and a --grad-dir to create (the
        // grad-output cases need --grad-dir).
        let full: Vec<&str> = [&["eval"], *args, &["--out", "existing.npy", "--grad-dir", "grads/sub"]].concat();
        check(d, what, &full, want, 1);
        assert_eq!(std::fs::read(d.join("existing.npy")).unwrap(), b"keep me", "{what}: --out overwritten");
        assert_eq!(tree(d), before, "{what}: files left behind");
        // With a new --out file.
        let full: Vec<&str> = [&["eval"], *args, &["--out", "new.npy", "--grad-dir", "grads"]].concat();
        check(d, what, &full, want, 1);
        assert_eq!(tree(d), before, "{what}: files left behind");
    }
    assert!(cases.len() >= 40, "{}", cases.len());
}

/// Output paths that cannot be written: the error comes after the evaluation
/// succeeded, and nothing is left.
#[test]
fn unwritable_outputs_are_errors_that_leave_nothing() {
    let t = inputs();
    let d = t.path();
    std::fs::create_dir_all(d.join("g/input.npy/blocker")).unwrap();
    let before = tree(d);
    let cases: &[(&str, &[&str], &str)] = &[
        ("--out in a missing directory", &["--out", "no/such/r.npy"], "--out: cannot write `no/such/r.npy`: expected an existing directory `no/such`, found none"),
        ("--out under a file", &["--out", "x.npy/r.npy"], "--out: cannot write `x.npy/r.npy`: expected `x.npy` to be a directory, found a file"),
        ("--out a directory", &["--out", "a_dir.npy"], "--out `a_dir.npy`: expected a file name such as result.npy, found a directory"),
        ("--grad-dir a file", &["--out", "r.npy", "--grad-dir", "x.npy"], "--grad-dir `x.npy`: expected a directory, found a file"),
        (
            "--grad-dir under a file",
            &["--out", "r.npy", "--grad-dir", "x.npy/g"],
            "--grad-dir: cannot create the directory `x.npy/g`: Not a directory (os error 20)",
        ),
        // The result and the target's gradient are written, then the input's
        // gradient cannot be renamed over a directory: everything is removed.
        (
            "an error after partial success",
            &["--out", "r.npy", "--grad-dir", "g"],
            "--grad-dir: cannot write `g/input.npy`: Is a directory (os error 21)",
        ),
    ];
    for (what, extra, want) in cases {
        let args: Vec<&str> = [&["eval", "mse_loss", "-t", X, "-t", Y], *extra].concat();
        check(d, what, &args, want, 1);
        assert_eq!(tree(d), before, "{what}: files left behind");
    }
    // The same with an existing --out: replaced, then restored.
    std::fs::write(d.join("existing.npy"), b"keep me").unwrap();
    let before = tree(d);
    check(
        d,
        "an error after replacing an existing --out",
        &["eval", "mse_loss", "-t", X, "-t", Y, "--out", "existing.npy", "--grad-dir", "g"],
        "--grad-dir: cannot write `g/input.npy`: Is a directory (os error 21)",
        1,
    );
    assert_eq!(std::fs::read(d.join("existing.npy")).unwrap(), b"keep me", "--out not restored");
    assert_eq!(tree(d), before, "files left behind");
    // The same evaluation succeeds where the outputs can be written.
    let out = losslab(d, &["eval", "mse_loss", "-t", X, "-t", Y, "--out", "r.npy", "--grad-dir", "h"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(d.join("r.npy").is_file() && d.join("h/input.npy").is_file() && d.join("h/target.npy").is_file());
    // And replaces an existing --out, leaving no copy of the old one.
    let out = losslab(d, &["eval", "mse_loss", "-t", X, "-t", Y, "--out", "existing.npy"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(npy::read(&d.join("existing.npy")).unwrap(), Tensor::F64(ArrayD::from_elem(IxDyn(&[]), 10.0 / 3.0)), "mean of 0, 1, 9");
    assert!(!tree(d).iter().any(|f| f.contains(".losslab-")), "{:?}", tree(d));
}

/// clap's usage errors: exit status 2, its own message, no panic, no file.
#[test]
fn usage_errors_are_clap_s() {
    let t = inputs();
    let d = t.path();
    let before = tree(d);
    let cases: &[(&[&str], &str)] = &[
        (&["eval"], "error: the following required arguments were not provided:\n  <LOSS>\n"),
        (&["eval", "mse_loss", "--grad-output", "g2.npy", "--out", "r.npy"], "error: the following required arguments were not provided:\n  --grad-dir <DIR>\n"),
        (&["eval", "mse_loss", "--frobnicate", "--out", "r.npy"], "error: unexpected argument '--frobnicate' found\n"),
    ];
    for (args, first) in cases {
        let out = losslab(d, args);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty());
        assert!(stderr.starts_with(first), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(tree(d), before, "{args:?}: files left behind");
    }
}

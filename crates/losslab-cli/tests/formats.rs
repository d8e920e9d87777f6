//! `losslab eval` on `.safetensors` files and `.npz` archives (issue 15): the
//! same results as on `.npy` files; `--out`/`--grad-dir` written as
//! `.safetensors` and read back; and every malformed file an exact one-line
//! error, a non-zero exit and no output file. The files are written here,
//! with the `safetensors` and `zip` crates.

use losslab_cli::{npy, safetensors_file};
use losslab_registry::Tensor;
use ndarray::{arr1, arr2};
use safetensors::Dtype;
use std::io::Write;
use std::path::Path;

mod common;
use common::{err_in, losslab};

const LOGITS: [[f32; 3]; 2] = [[1.0, -0.5, 2.25], [0.0, 3.5, -1.0]];
const LABELS: [i64; 2] = [2, 0];

fn le<T: Copy, const N: usize>(values: &[T], f: fn(T) -> [u8; N]) -> Vec<u8> {
    values.iter().flat_map(|v| f(*v)).collect()
}

fn write_safetensors(path: &Path, entries: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) {
    let views: Vec<_> = entries
        .iter()
        .map(|(n, d, s, b)| (*n, safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

fn write_npz(path: &Path, members: &[(&str, &Tensor)], method: zip::CompressionMethod) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, t) in members {
        zip.start_file(format!("{name}.npy"), zip::write::SimpleFileOptions::default().compression_method(method)).unwrap();
        npy::write_to(&mut zip, t).unwrap();
    }
    zip.finish().unwrap().flush().unwrap();
}

fn stdout_of(dir: &Path, args: &[&str]) -> String {
    let out = losslab(dir, args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A directory with the logits and labels as `.npy` files, the reference.
fn reference() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    npy::write(&d.path().join("logits.npy"), &Tensor::F32(arr2(&LOGITS).into_dyn())).unwrap();
    npy::write(&d.path().join("labels.npy"), &Tensor::I64(arr1(&LABELS).into_dyn())).unwrap();
    d
}

fn flat_logits() -> Vec<f32> {
    LOGITS.iter().flatten().copied().collect()
}

#[test]
fn safetensors_inputs_give_the_npy_result() {
    let d = reference();
    let want = stdout_of(d.path(), &["eval", "cross_entropy", "-t", "input=logits.npy", "-t", "target=labels.npy", "--reduction", "none"]);
    write_safetensors(
        &d.path().join("batch.safetensors"),
        &[
            ("logits", Dtype::F32, vec![2, 3], le(&flat_logits(), f32::to_le_bytes)),
            ("labels", Dtype::I64, vec![2], le(&LABELS, i64::to_le_bytes)),
            ("labels32", Dtype::I32, vec![2], le(&LABELS.map(|v| v as i32), i32::to_le_bytes)),
        ],
    );
    for target in ["target=batch.safetensors:labels", "target=batch.safetensors:labels32", "target=labels.npy"] {
        let got = stdout_of(d.path(), &["eval", "cross_entropy", "-t", "input=batch.safetensors:logits", "-t", target, "--reduction", "none"]);
        assert_eq!(got, want, "{target}");
    }
    // A file of one tensor needs no name.
    write_safetensors(&d.path().join("one.safetensors"), &[("x", Dtype::F32, vec![2, 3], le(&flat_logits(), f32::to_le_bytes))]);
    let got = stdout_of(d.path(), &["eval", "cross_entropy", "-t", "input=one.safetensors", "-t", "target=labels.npy", "--reduction", "none"]);
    assert_eq!(got, want);
}

#[test]
fn f16_and_bf16_are_read_as_float32_exactly() {
    let d = reference();
    // Values exact in both 16-bit formats: the float32 reference is the same numbers.
    let f16: Vec<u16> = flat_logits().iter().map(|v| losslab::half::f16::from_f32(*v).to_bits()).collect();
    let bf16: Vec<u16> = flat_logits().iter().map(|v| losslab::half::bf16::from_f32(*v).to_bits()).collect();
    assert!(f16.iter().zip(flat_logits()).all(|(b, v)| losslab::half::f16::from_bits(*b).to_f32() == v));
    write_safetensors(
        &d.path().join("half.safetensors"),
        &[
            ("f16", Dtype::F16, vec![2, 3], le(&f16, u16::to_le_bytes)),
            ("bf16", Dtype::BF16, vec![2, 3], le(&bf16, u16::to_le_bytes)),
        ],
    );
    let want = stdout_of(d.path(), &["eval", "cross_entropy", "-t", "input=logits.npy", "-t", "target=labels.npy"]);
    assert!(want.contains("\"dtype\":\"float32\""), "{want}");
    for name in ["f16", "bf16"] {
        let got = stdout_of(d.path(), &["eval", "cross_entropy", "-t", &format!("input=half.safetensors:{name}"), "-t", "target=labels.npy"]);
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn npz_inputs_give_the_npy_result() {
    let d = reference();
    let want = stdout_of(d.path(), &["eval", "cross_entropy", "-t", "input=logits.npy", "-t", "target=labels.npy"]);
    let logits = Tensor::F32(arr2(&LOGITS).into_dyn());
    let labels = Tensor::I64(arr1(&LABELS).into_dyn());
    for (file, method) in [("stored.npz", zip::CompressionMethod::Stored), ("deflated.npz", zip::CompressionMethod::Deflated)] {
        write_npz(&d.path().join(file), &[("logits", &logits), ("labels", &labels)], method);
        let got = stdout_of(d.path(), &["eval", "cross_entropy", "-t", &format!("input={file}:logits"), "-t", &format!("target={file}:labels")]);
        assert_eq!(got, want, "{file}");
    }
}

#[test]
fn out_and_grads_as_safetensors_round_trip() {
    let d = reference();
    let args = ["eval", "cross_entropy", "-t", "input=logits.npy", "-t", "target=labels.npy", "--reduction", "none"];
    let npy_run = stdout_of(d.path(), &[&args[..], &["--out", "r.npy", "--grad-dir", "g"]].concat());
    let st_run =
        stdout_of(d.path(), &[&args[..], &["--out", "r.safetensors", "--grad-dir", "gs", "--grad-format", "safetensors"]].concat());
    assert!(st_run.contains("\"out\":\"r.safetensors\""), "{st_run}");
    assert!(st_run.contains("\"grads\":{\"input\":\"gs/grads.safetensors:input\"}"), "{st_run}");
    assert_eq!(npy_run.split("\"out\"").next(), st_run.split("\"out\"").next(), "the same value printed");

    let bytes = std::fs::read(d.path().join("r.safetensors")).unwrap();
    let file = safetensors_file::parse(&bytes).unwrap();
    assert_eq!(safetensors_file::names_list(&file), "loss");
    assert_eq!(safetensors_file::tensor(&file, "loss").unwrap().into_owned(), npy::read(&d.path().join("r.npy")).unwrap());

    let bytes = std::fs::read(d.path().join("gs/grads.safetensors")).unwrap();
    let file = safetensors_file::parse(&bytes).unwrap();
    assert_eq!(safetensors_file::tensor(&file, "input").unwrap().into_owned(), npy::read(&d.path().join("g/input.npy")).unwrap());
    let mut listed: Vec<String> = std::fs::read_dir(d.path().join("gs")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    listed.sort();
    assert_eq!(listed, ["grads.safetensors"], "one file, no temporary left");

    // --grad-output takes a source as --tensor does: the same gradients from either file.
    stdout_of(d.path(), &[&args[..], &["--grad-dir", "go-npy", "--grad-output", "r.npy"]].concat());
    stdout_of(d.path(), &[&args[..], &["--grad-dir", "go-st", "--grad-output", "r.safetensors:loss"]].concat());
    assert_eq!(npy::read(&d.path().join("go-npy/input.npy")).unwrap(), npy::read(&d.path().join("go-st/input.npy")).unwrap());

    // What losslab writes, it reads: the result as an input again.
    let again = stdout_of(d.path(), &["eval", "mse_loss", "-t", "input=r.safetensors:loss", "-t", "target=r.npy"]);
    assert!(again.contains("\"value\":0.0"), "{again}");
}

/// Every malformed-file case: the exact message, a failure, and no output file.
#[test]
fn malformed_files_are_clear_errors_and_leave_nothing() {
    let d = reference();
    let p = d.path();
    write_safetensors(
        &p.join("batch.safetensors"),
        &[
            ("logits", Dtype::F32, vec![2, 3], le(&flat_logits(), f32::to_le_bytes)),
            ("labels", Dtype::I64, vec![2], le(&LABELS, i64::to_le_bytes)),
            ("bytes", Dtype::U8, vec![2], vec![1, 2]),
        ],
    );
    let raw = |header: &str, data: &[u8]| {
        let mut v = (header.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(header.as_bytes());
        v.extend_from_slice(data);
        v
    };
    std::fs::write(p.join("lying.safetensors"), raw(r#"{"x":{"dtype":"F32","shape":[100000000000],"data_offsets":[0,400000000000]}}"#, &[0; 8]))
        .unwrap();
    std::fs::write(p.join("mismatch.safetensors"), raw(r#"{"x":{"dtype":"F64","shape":[2,3],"data_offsets":[0,24]}}"#, &[0; 24])).unwrap();
    std::fs::write(p.join("unknown.safetensors"), raw(r#"{"x":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}"#, &[0; 16])).unwrap();
    let full = std::fs::read(p.join("batch.safetensors")).unwrap();
    std::fs::write(p.join("truncated.safetensors"), &full[..full.len() - 5]).unwrap();
    std::fs::write(p.join("cut-header.safetensors"), &full[..20]).unwrap();
    std::fs::write(p.join("trailing.safetensors"), [&full[..], b"abc"].concat()).unwrap();
    let mut big = full.clone();
    big[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    std::fs::write(p.join("big-header.safetensors"), &big).unwrap();
    std::fs::write(p.join("junk.npz"), b"PK but not really a zip").unwrap();
    write_npz(&p.join("batch.npz"), &[("labels", &Tensor::I64(arr1(&LABELS).into_dyn()))], zip::CompressionMethod::Deflated);

    let supported = "supported: F32, F64, F16 and BF16 (read as float32), I64 and I32 (read as int64)";
    let cases: Vec<(&str, String)> = vec![
        ("input=batch.safetensors:nope", "--tensor input=batch.safetensors:nope: no tensor `nope` in the file; it has: bytes, labels, logits".into()),
        (
            "input=batch.safetensors",
            "--tensor input=batch.safetensors: the file holds several tensors (bytes, labels, logits): name one, as FILE.safetensors:NAME".into(),
        ),
        ("input=batch.safetensors:bytes", format!("--tensor input=batch.safetensors:bytes: tensor `bytes` has dtype U8, which losslab does not read; {supported}")),
        (
            "input=lying.safetensors:x",
            "--tensor input=lying.safetensors:x: truncated or corrupt: tensor `x`'s data_offsets [0, 400000000000] reach past the file's 8 bytes of data".into(),
        ),
        (
            "input=mismatch.safetensors:x",
            "--tensor input=mismatch.safetensors:x: corrupt header: tensor `x` of dtype F64 and shape [2, 3] needs 48 bytes, but its data_offsets [0, 24] span 24".into(),
        ),
        ("input=unknown.safetensors:x", format!("--tensor input=unknown.safetensors:x: malformed header: tensor `x` has the unknown dtype `F128`; {supported}")),
        (
            "input=truncated.safetensors:logits",
            // The serializer orders by alignment, then name: labels [0, 16], logits [16, 40], bytes [40, 42].
            format!(
                "--tensor input=truncated.safetensors:logits: truncated or corrupt: tensor `bytes`'s data_offsets [40, 42] reach past the file's {} bytes of data",
                full.len() - 5 - 8 - (u64::from_le_bytes(full[..8].try_into().unwrap()) as usize)
            ),
        ),
        (
            "input=cut-header.safetensors:logits",
            format!(
                "--tensor input=cut-header.safetensors:logits: truncated or corrupt: the header's length field declares {} bytes of header, but the file has only 12 after it",
                u64::from_le_bytes(full[..8].try_into().unwrap())
            ),
        ),
        (
            "input=big-header.safetensors:logits",
            format!(
                "--tensor input=big-header.safetensors:logits: truncated or corrupt: the header's length field declares 1099511627776 bytes of header, but the file has only {} after it",
                full.len() - 8
            ),
        ),
        (
            "input=trailing.safetensors:logits",
            format!(
                "--tensor input=trailing.safetensors:logits: truncated or corrupt: the tensors' data_offsets do not cover exactly the file's {} bytes of data (a truncated file, or bytes after the data)",
                full.len() + 3 - 8 - (u64::from_le_bytes(full[..8].try_into().unwrap()) as usize)
            ),
        ),
        ("input=missing.safetensors:x", "--tensor input=missing.safetensors:x: cannot open the file: No such file or directory (os error 2)".into()),
        ("input=batch.npz:logits", "--tensor input=batch.npz:logits: no array `logits` in the archive; it has: labels".into()),
    ];
    for (tensor, want) in &cases {
        let args = ["eval", "cross_entropy", "-t", tensor, "-t", "target=labels.npy", "--out", "r.safetensors", "--grad-dir", "g"];
        let e = err_in(p, &args);
        assert_eq!(e.trim_end(), format!("error: {want}"), "{tensor}");
        assert!(!p.join("r.safetensors").exists() && !p.join("g").exists(), "{tensor} left an output");
    }
    let e = err_in(p, &["eval", "cross_entropy", "-t", "input=junk.npz:x", "-t", "target=labels.npy", "--out", "r.npy"]);
    assert!(e.starts_with("error: --tensor input=junk.npz:x: not a .npz file (a zip archive): "), "{e}");
    let names: Vec<String> = std::fs::read_dir(p).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(!names.iter().any(|n| n.starts_with(".losslab-") || n.starts_with("r.")), "{names:?}");
}

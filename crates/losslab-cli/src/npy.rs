//! Reading and writing NumPy `.npy` files (format versions 1.0, 2.0 and 3.0).
//!
//! Reads `float16`, `float32`, `float64`, `int32` and `int64` arrays, little-
//! or big-endian, in C or Fortran order, into a [`Tensor`] (`float16` as
//! [`Tensor::F32`], exactly: every float16 value is a float32; `int32` as
//! [`Tensor::I64`]); writes a [`Tensor`]
//! (0-d included) little-endian in C order, version 1.0 (2.0 for huge headers).
//!
//! Reading never trusts the header: the byte size its shape declares is checked
//! against the file's size before anything is allocated, so a corrupt or
//! hostile header is an error, not an allocation attempt. Writing goes to a
//! temporary file in the destination's directory that is renamed into place only
//! once complete, so a failed write never leaves a half-written file.

use losslab_registry::Tensor;
use anyhow::{bail, Context, Result};
use ndarray::{ArrayD, IxDyn, ShapeBuilder};
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// The element types [`read`] accepts, for error messages.
pub const SUPPORTED_DTYPES: &str =
    "float16 (<f2, read as float32), float32 (<f4), float64 (<f8), int32 (<i4), int64 (<i8), little- or big-endian (> instead of <)";

/// Reads the `.npy` file at `path`.
///
/// # Errors
/// An error naming the file and the problem: it cannot be opened, it is not a
/// `.npy` file, its header is malformed, its dtype is not one of
/// [`SUPPORTED_DTYPES`], its declared shape needs more bytes than the file has
/// (truncated, or a shape too large to be real), or it has bytes past the data.
///
/// # Examples
/// ```
/// use losslab_cli::npy;
/// use losslab_registry::Tensor;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("x.npy");
/// npy::write(&path, &Tensor::F64(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]).into_dyn())).unwrap();
/// let t = npy::read(&path).unwrap();
/// assert_eq!(t.shape(), &[2, 2]);
/// ```
pub fn read(path: &Path) -> Result<Tensor> {
    read_labelled(path, &format!("`{}`", path.display()))
}

/// Reads the `.npy` file at `path`, every error prefixed by `label`, which
/// names where the path came from (for example `--tensor input=x.npy`).
///
/// # Errors
/// As [`read`].
///
/// # Examples
/// ```
/// let err = losslab_cli::npy::read_labelled("no/such.npy".as_ref(), "--tensor input=no/such.npy").unwrap_err();
/// assert_eq!(
///     format!("{err:#}"),
///     "--tensor input=no/such.npy: cannot open the file: No such file or directory (os error 2)"
/// );
/// ```
pub fn read_labelled(path: &Path, label: &str) -> Result<Tensor> {
    let read = || -> Result<Tensor> {
        let file = File::open(path).context("cannot open the file")?;
        let meta = file.metadata().context("cannot read the file's size")?;
        if meta.is_dir() {
            bail!("expected a .npy file, found a directory");
        }
        read_from(std::io::BufReader::new(file), meta.len())
    };
    read().with_context(|| label.to_string())
}

/// Reads a `.npy` stream of `len` bytes (the whole file's size) from `reader`.
///
/// # Errors
/// As [`read`], without the file name.
pub fn read_from(mut reader: impl Read, len: u64) -> Result<Tensor> {
    if len < 10 {
        bail!("not a .npy file: it has {len} bytes, fewer than the 10 of the smallest .npy header");
    }
    let mut pre = [0u8; 8];
    reader.read_exact(&mut pre).context("cannot read the header")?;
    if &pre[..6] != MAGIC {
        bail!("not a .npy file: expected the NumPy magic string \\x93NUMPY at the start, found {}", escape_bytes(&pre[..6]));
    }
    let (major, minor) = (pre[6], pre[7]);
    let (header_len, prefix) = match major {
        1 => {
            let mut b = [0u8; 2];
            reader.read_exact(&mut b).context("truncated: the file ends inside the header")?;
            (u64::from(u16::from_le_bytes(b)), 10u64)
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            if len < 12 {
                bail!("truncated: the file has {len} bytes, fewer than the 12 of a version {major}.{minor} header's prefix");
            }
            reader.read_exact(&mut b).context("truncated: the file ends inside the header")?;
            (u64::from(u32::from_le_bytes(b)), 12u64)
        }
        _ => bail!("unsupported .npy format version {major}.{minor} (expected 1.0, 2.0 or 3.0)"),
    };
    if prefix + header_len > len {
        bail!("truncated: the header declares {header_len} bytes but the file has only {} after the prefix", len.saturating_sub(prefix));
    }
    let mut text = vec![0u8; header_len as usize];
    reader.read_exact(&mut text).context("truncated: the file ends inside the header")?;
    let text = std::str::from_utf8(&text).map_err(|e| {
        anyhow::anyhow!("malformed header: expected UTF-8 text, found an invalid byte at header byte {}", e.valid_up_to())
    })?;
    let header = Header::parse(text)?;

    let n = header
        .shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .with_context(|| format!("declared shape {:?} is too large (its element count overflows)", header.shape))?;
    let needed = n
        .checked_mul(header.kind.size() as u64)
        .with_context(|| format!("declared shape {:?} is too large (its byte size overflows)", header.shape))?;
    let available = len - prefix - header_len;
    if needed > available {
        bail!(
            "truncated or corrupt: declared shape {:?} of {} needs {needed} bytes of data, but the file has only {available}",
            header.shape,
            header.descr
        );
    }
    if needed < available {
        bail!(
            "corrupt: declared shape {:?} of {} needs {needed} bytes of data, but the file has {available} (extra bytes after the data)",
            header.shape,
            header.descr
        );
    }
    let mut data = vec![0u8; needed as usize];
    reader.read_exact(&mut data).context("truncated: the file ends inside the data")?;
    let shape: Vec<usize> = header.shape.iter().map(|&d| d as usize).collect();
    let kind = header.kind;
    let big = header.big_endian;
    let fortran = header.fortran_order;
    Ok(match kind {
        // Every float16 value is exactly a float32 (NaN payloads and subnormals included).
        Kind::F16 => Tensor::F32(shaped(
            &shape,
            fortran,
            decode(&data, |b: [u8; 2]| losslab::half::f16::from_bits(if big { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) }).to_f32()),
        )?),
        Kind::F32 => Tensor::F32(shaped(
            &shape,
            fortran,
            decode(&data, |b: [u8; 4]| if big { f32::from_be_bytes(b) } else { f32::from_le_bytes(b) }),
        )?),
        Kind::F64 => Tensor::F64(shaped(
            &shape,
            fortran,
            decode(&data, |b: [u8; 8]| if big { f64::from_be_bytes(b) } else { f64::from_le_bytes(b) }),
        )?),
        Kind::I32 => Tensor::I64(shaped(
            &shape,
            fortran,
            decode(&data, |b: [u8; 4]| i64::from(if big { i32::from_be_bytes(b) } else { i32::from_le_bytes(b) })),
        )?),
        Kind::I64 => Tensor::I64(shaped(
            &shape,
            fortran,
            decode(&data, |b: [u8; 8]| if big { i64::from_be_bytes(b) } else { i64::from_le_bytes(b) }),
        )?),
    })
}

/// `bytes` as a Rust byte-string literal (`b"\\x93NUMPX"`), for messages.
fn escape_bytes(bytes: &[u8]) -> String {
    format!("b\"{}\"", bytes.escape_ascii())
}

fn decode<const N: usize, T>(data: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
    data.chunks_exact(N).map(|c| f(c.try_into().expect("chunk of N bytes"))).collect()
}

/// The array of `shape` holding `data` in C or Fortran order, in standard (C) layout.
///
/// # Errors
/// If ndarray refuses the shape: the length is checked against the file, but
/// a zero-sized array may still declare other axes whose product (or byte size)
/// exceeds `isize::MAX`, such as `(0, 2**62, 2**62)`.
fn shaped<T: Clone>(shape: &[usize], fortran: bool, data: Vec<T>) -> Result<ArrayD<T>> {
    let too_large = |_| anyhow::anyhow!("declared shape {shape:?} is too large (the product of its non-zero axes exceeds isize::MAX bytes)");
    if fortran {
        let a = ArrayD::from_shape_vec(IxDyn(shape).f(), data).map_err(too_large)?;
        Ok(a.as_standard_layout().into_owned())
    } else {
        ArrayD::from_shape_vec(IxDyn(shape), data).map_err(too_large)
    }
}

/// Writes `tensor` to `path` as a `.npy` file, atomically: the data goes to a
/// temporary file in `path`'s directory, renamed over `path` once complete.
///
/// # Errors
/// If the directory cannot be written or the rename fails; `path` is then untouched.
pub fn write(path: &Path, tensor: &Tensor) -> Result<()> {
    stage(path, tensor)?.commit()
}

/// A `.npy` file written to a temporary file beside its destination, not yet
/// in place: [`commit`](Staged::commit) renames it; dropping it deletes it.
///
/// Lets a caller write every output first and move them into place only once
/// all were written.
#[derive(Debug)]
pub struct Staged {
    temp: tempfile::NamedTempFile,
    dest: PathBuf,
}

impl Staged {
    /// The destination path.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Renames the temporary file to its destination (replacing any file there).
    ///
    /// # Errors
    /// If the rename fails; the temporary file is then deleted.
    pub fn commit(self) -> Result<()> {
        let dest = self.dest;
        self.temp.persist(&dest).map_err(|e| anyhow::Error::new(e.error)).with_context(|| format!("cannot write `{}`", dest.display()))?;
        Ok(())
    }
}

/// Writes `tensor` to a temporary file in `path`'s directory, to be moved to
/// `path` by [`Staged::commit`].
///
/// # Errors
/// If the directory does not exist or cannot be written.
pub fn stage(path: &Path, tensor: &Tensor) -> Result<Staged> {
    stage_with(path, |mut w| write_to(&mut w, tensor))
}

/// Writes what `write` writes to a temporary file in `path`'s directory, to be
/// moved to `path` by [`Staged::commit`]: the staging of every output format
/// (`.npy` here, `.safetensors` in [`crate::safetensors_file`]).
///
/// # Errors
/// If the directory does not exist or cannot be written, or `write` fails.
pub fn stage_with(path: &Path, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<Staged> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let context = || format!("cannot write `{}`", path.display());
    if !dir.exists() {
        bail!("cannot write `{}`: expected an existing directory `{}`, found none", path.display(), dir.display());
    }
    if !dir.is_dir() {
        bail!("cannot write `{}`: expected `{}` to be a directory, found a file", path.display(), dir.display());
    }
    let mut builder = tempfile::Builder::new();
    builder.prefix(".losslab-").suffix(".tmp");
    // The file becomes the user's output: the usual permissions (0666 less the
    // umask), not a temporary file's private 0600.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut temp = builder.tempfile_in(dir).map_err(|e| {
        // tempfile names its random temporary path; the user's is the one to name.
        let cause = e.get_ref().and_then(std::error::Error::source).map_or_else(|| e.to_string(), ToString::to_string);
        anyhow::anyhow!("cannot write `{}`: cannot create a file in `{}`: {cause}", path.display(), dir.display())
    })?;
    {
        let mut w = BufWriter::new(temp.as_file_mut());
        write(&mut w).with_context(context)?;
        w.flush().with_context(context)?;
    }
    Ok(Staged { temp, dest: path.to_path_buf() })
}

/// Writes `tensor` in `.npy` format to `w` (little-endian, C order).
///
/// # Errors
/// If writing fails.
pub fn write_to(w: &mut impl Write, tensor: &Tensor) -> std::io::Result<()> {
    let descr = match tensor {
        Tensor::F32(_) => "<f4",
        Tensor::F64(_) => "<f8",
        Tensor::I64(_) => "<i8",
    };
    w.write_all(&header_bytes(descr, tensor.shape()))?;
    match tensor {
        Tensor::F32(a) => a.iter().try_for_each(|v| w.write_all(&v.to_le_bytes())),
        Tensor::F64(a) => a.iter().try_for_each(|v| w.write_all(&v.to_le_bytes())),
        Tensor::I64(a) => a.iter().try_for_each(|v| w.write_all(&v.to_le_bytes())),
    }
}

/// The magic string, version, header length and header text, padded with
/// spaces and a newline so that the data starts at a multiple of 64 bytes.
fn header_bytes(descr: &str, shape: &[usize]) -> Vec<u8> {
    let shape_text = match shape {
        [] => "()".to_string(),
        [d] => format!("({d},)"),
        ds => format!("({})", ds.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
    };
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    let (version, prefix) = if dict.len() + 1 + 10 <= 65535 { (1u8, 10) } else { (2u8, 12) };
    let total = (prefix + dict.len() + 1).div_ceil(64) * 64;
    let header_len = total - prefix;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        out.extend_from_slice(&u16::try_from(header_len).expect("fits, checked above").to_le_bytes());
    } else {
        out.extend_from_slice(&u32::try_from(header_len).unwrap_or(u32::MAX).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.resize(total - 1, b' ');
    out.push(b'\n');
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    F16,
    F32,
    F64,
    I32,
    I64,
}

impl Kind {
    fn size(self) -> usize {
        match self {
            Kind::F16 => 2,
            Kind::F32 | Kind::I32 => 4,
            Kind::F64 | Kind::I64 => 8,
        }
    }
}

#[derive(Debug)]
struct Header {
    descr: String,
    kind: Kind,
    big_endian: bool,
    fortran_order: bool,
    shape: Vec<u64>,
}

impl Header {
    fn parse(text: &str) -> Result<Header> {
        let value = Py::parse(text).map_err(|e| anyhow::anyhow!("malformed header: {e}"))?;
        let Py::Dict(entries) = value else { bail!("malformed header: expected a Python dict literal, found {}", value.describe()) };
        let get = |key: &str| {
            entries
                .iter()
                .find(|(k, _)| matches!(k, Py::Str(s) if s == key))
                .map(|(_, v)| v)
                .with_context(|| format!("malformed header: expected a '{key}' key, found none"))
        };
        let descr = match get("descr")? {
            Py::Str(s) => s.clone(),
            Py::List(_) => bail!("unsupported dtype: a structured (record) array; supported: {SUPPORTED_DTYPES}"),
            v => bail!("malformed header: expected 'descr' to be a string, found {}", v.describe()),
        };
        let fortran_order = match get("fortran_order")? {
            Py::Bool(b) => *b,
            v => bail!("malformed header: expected 'fortran_order' to be True or False, found {}", v.describe()),
        };
        let shape = match get("shape")? {
            Py::Tuple(items) | Py::List(items) => items
                .iter()
                .map(|d| match d {
                    Py::Int(i) => {
                        u64::try_from(*i).map_err(|_| {
                            anyhow::anyhow!("malformed header: expected 'shape' entries in [0, 2^64), found {i}")
                        })
                    }
                    v => bail!("malformed header: expected 'shape' to hold integers, found {}", v.describe()),
                })
                .collect::<Result<Vec<u64>>>()?,
            v => bail!("malformed header: expected 'shape' to be a tuple of integers, found {}", v.describe()),
        };
        let (order, ty) = descr.split_at(descr.chars().next().map_or(0, |c| if "<>|=".contains(c) { 1 } else { 0 }));
        let big_endian = order == ">";
        let kind = match ty {
            "f2" => Kind::F16,
            "f4" => Kind::F32,
            "f8" => Kind::F64,
            "i4" => Kind::I32,
            "i8" => Kind::I64,
            _ => bail!("unsupported dtype `{descr}`; supported: {SUPPORTED_DTYPES}"),
        };
        Ok(Header { descr, kind, big_endian, fortran_order, shape })
    }
}

/// The subset of Python literals a `.npy` header uses.
#[derive(Debug, Clone, PartialEq)]
enum Py {
    Str(String),
    Int(i128),
    Bool(bool),
    None,
    Tuple(Vec<Py>),
    List(Vec<Py>),
    Dict(Vec<(Py, Py)>),
}

impl Py {
    /// What the value is, in words, for messages.
    fn describe(&self) -> String {
        match self {
            Py::Str(s) if s.len() <= 40 => format!("the string {s:?}"),
            Py::Str(_) => "a string".to_string(),
            Py::Int(i) => format!("the integer {i}"),
            Py::Bool(b) => (if *b { "True" } else { "False" }).to_string(),
            Py::None => "None".to_string(),
            Py::Tuple(_) => "a tuple".to_string(),
            Py::List(_) => "a list".to_string(),
            Py::Dict(_) => "a dict".to_string(),
        }
    }

    fn parse(text: &str) -> std::result::Result<Py, String> {
        let mut p = PyParser { s: text.as_bytes(), i: 0 };
        let v = p.value(0)?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("unexpected text after the dict at byte {}", p.i));
        }
        Ok(v)
    }
}

struct PyParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl PyParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn value(&mut self, depth: usize) -> std::result::Result<Py, String> {
        if depth > 32 {
            return Err("nested too deeply".into());
        }
        match self.peek() {
            None => Err("unexpected end of text".into()),
            Some(b'{') => {
                self.i += 1;
                let mut entries = Vec::new();
                loop {
                    if self.peek() == Some(b'}') {
                        self.i += 1;
                        return Ok(Py::Dict(entries));
                    }
                    let k = self.value(depth + 1)?;
                    if self.peek() != Some(b':') {
                        return Err(format!("expected `:` at byte {}", self.i));
                    }
                    self.i += 1;
                    let v = self.value(depth + 1)?;
                    entries.push((k, v));
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {}
                        _ => return Err(format!("expected `,` or `}}` at byte {}", self.i)),
                    }
                }
            }
            Some(open @ (b'(' | b'[')) => {
                let close = if open == b'(' { b')' } else { b']' };
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    if self.peek() == Some(close) {
                        self.i += 1;
                        return Ok(if open == b'(' { Py::Tuple(items) } else { Py::List(items) });
                    }
                    items.push(self.value(depth + 1)?);
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(c) if c == close => {}
                        _ => return Err(format!("expected `,` or `{}` at byte {}", close as char, self.i)),
                    }
                }
            }
            Some(q @ (b'\'' | b'"')) => {
                self.i += 1;
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i] != q {
                    if self.s[self.i] == b'\\' {
                        return Err("escapes in strings are not supported".into());
                    }
                    self.i += 1;
                }
                if self.i == self.s.len() {
                    return Err("unterminated string".into());
                }
                let v = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
                self.i += 1;
                Ok(Py::Str(v))
            }
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                let start = self.i;
                self.i += 1;
                while self.i < self.s.len() && (self.s[self.i].is_ascii_digit() || self.s[self.i] == b'L') {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.i]).expect("ascii").trim_end_matches('L');
                text.parse::<i128>().map(Py::Int).map_err(|_| format!("integer `{text}` out of range"))
            }
            Some(_) => {
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i].is_ascii_alphabetic() {
                    self.i += 1;
                }
                match &self.s[start..self.i] {
                    b"True" => Ok(Py::Bool(true)),
                    b"False" => Ok(Py::Bool(false)),
                    b"None" => Ok(Py::None),
                    _ => Err(format!("unexpected character at byte {start}")),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr0, arr1, arr2, Array3};

    fn roundtrip(t: &Tensor) -> Tensor {
        let mut bytes = Vec::new();
        write_to(&mut bytes, t).unwrap();
        read_from(&bytes[..], bytes.len() as u64).unwrap()
    }

    fn raw(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
        let dict = format!("{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}", if fortran { "True" } else { "False" });
        let mut v = MAGIC.to_vec();
        v.extend_from_slice(&[1, 0]);
        v.extend_from_slice(&((dict.len() + 1) as u16).to_le_bytes());
        v.extend_from_slice(dict.as_bytes());
        v.push(b'\n');
        v.extend_from_slice(data);
        v
    }

    fn err(bytes: &[u8]) -> String {
        format!("{:#}", read_from(bytes, bytes.len() as u64).unwrap_err())
    }

    #[test]
    fn roundtrips_f32_f64_i64() {
        let a = Tensor::F32(arr2(&[[1.5f32, -0.0, f32::NAN], [f32::INFINITY, 1e-45, f32::MAX]]).into_dyn());
        let b = roundtrip(&a);
        let (Tensor::F32(x), Tensor::F32(y)) = (&a, &b) else { panic!("dtype changed") };
        assert_eq!(x.shape(), y.shape());
        assert!(x.iter().zip(y.iter()).all(|(p, q)| p.to_bits() == q.to_bits()));

        let c = Tensor::F64(Array3::from_shape_fn((2, 3, 4), |(i, j, k)| (i * 12 + j * 4 + k) as f64 / 7.0).into_dyn());
        assert_eq!(roundtrip(&c), c);
        let d = Tensor::I64(arr1(&[0i64, -100, i64::MAX, i64::MIN]).into_dyn());
        assert_eq!(roundtrip(&d), d);
    }

    #[test]
    fn roundtrips_0d_and_empty() {
        let s = Tensor::F64(arr0(2.5).into_dyn());
        assert_eq!(roundtrip(&s), s);
        let s32 = Tensor::F32(arr0(-1.25f32).into_dyn());
        assert_eq!(roundtrip(&s32), s32);
        let e = Tensor::F32(ArrayD::zeros(IxDyn(&[0])));
        assert_eq!(roundtrip(&e), e);
        let e2 = Tensor::F64(ArrayD::zeros(IxDyn(&[3, 0, 2])));
        assert_eq!(roundtrip(&e2), e2);
    }

    #[test]
    fn header_text_is_numpys() {
        let h = header_bytes("<f4", &[4, 3]);
        assert_eq!(h.len(), 128, "numpy pads the whole header to a multiple of 64");
        let text = std::str::from_utf8(&h[10..]).unwrap();
        assert!(text.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3), }"));
        assert!(text.ends_with(" \n"));
        assert!(std::str::from_utf8(&header_bytes("<f8", &[5])[10..]).unwrap().contains("'shape': (5,)"));
        assert!(std::str::from_utf8(&header_bytes("<f8", &[])[10..]).unwrap().contains("'shape': ()"));
    }

    #[test]
    fn npyz_reads_what_we_write() {
        let a = Tensor::F32(arr2(&[[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]]).into_dyn());
        let mut bytes = Vec::new();
        write_to(&mut bytes, &a).unwrap();
        let f = npyz::NpyFile::new(&bytes[..]).unwrap();
        assert_eq!(f.shape(), &[2, 3]);
        assert_eq!(f.into_vec::<f32>().unwrap(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn reads_npyz_big_endian_and_fortran_files() {
        use npyz::WriterBuilder;
        let mut bytes = Vec::new();
        {
            let mut w = npyz::WriteOptions::new()
                .dtype(npyz::DType::Plain(">f8".parse().unwrap()))
                .shape(&[2, 3])
                .order(npyz::Order::Fortran)
                .writer(&mut bytes)
                .begin_nd()
                .unwrap();
            // Fortran order: column by column.
            w.extend([1.0f64, 4.0, 2.0, 5.0, 3.0, 6.0]).unwrap();
            w.finish().unwrap();
        }
        let t = read_from(&bytes[..], bytes.len() as u64).unwrap();
        assert_eq!(t, Tensor::F64(arr2(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).into_dyn()));

        let data: Vec<u8> = [7i32, -3].iter().flat_map(|v| v.to_be_bytes()).collect();
        let t = read_from(&raw(">i4", false, "(2,)", &data)[..], (raw(">i4", false, "(2,)", &data)).len() as u64).unwrap();
        assert_eq!(t, Tensor::I64(arr1(&[7i64, -3]).into_dyn()));
    }

    /// float16 files become float32, exactly, in either byte order and layout.
    /// The bit patterns are IEEE 754 binary16's (what NumPy's `<f2` holds):
    /// 1.0 = 0x3C00, −2.5 = 0xC100, 65504 (the largest) = 0x7BFF, 2⁻²⁴ (the
    /// smallest subnormal) = 0x0001, ∞ = 0x7C00, NaN = 0x7E00.
    #[test]
    fn float16_becomes_f32_exactly() {
        let bits = [0x3C00u16, 0xC100, 0x7BFF, 0x0001, 0x7C00, 0x7E00];
        let want = [1.0f32, -2.5, 65504.0, 2f32.powi(-24), f32::INFINITY, f32::NAN];
        for (descr, big) in [("<f2", false), (">f2", true)] {
            let data: Vec<u8> = bits.iter().flat_map(|v| if big { v.to_be_bytes() } else { v.to_le_bytes() }).collect();
            let b = raw(descr, false, "(6,)", &data);
            let Tensor::F32(t) = read_from(&b[..], b.len() as u64).unwrap() else { panic!("{descr}: float16 is read as float32") };
            for (got, want) in t.iter().zip(want) {
                assert!(got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()), "{descr}: {got} vs {want}");
            }
        }
        // Fortran order: [[1, 2], [3, 4]] stored by columns.
        let data: Vec<u8> = [0x3C00u16, 0x4200, 0x4000, 0x4400].iter().flat_map(|v| v.to_le_bytes()).collect();
        let b = raw("<f2", true, "(2, 2)", &data);
        assert_eq!(read_from(&b[..], b.len() as u64).unwrap(), Tensor::F32(ndarray::arr2(&[[1.0f32, 2.0], [3.0, 4.0]]).into_dyn()));
    }

    #[test]
    fn int32_becomes_i64() {
        let data: Vec<u8> = [1i32, 2, -100].iter().flat_map(|v| v.to_le_bytes()).collect();
        let b = raw("<i4", false, "(3,)", &data);
        assert_eq!(read_from(&b[..], b.len() as u64).unwrap(), Tensor::I64(arr1(&[1i64, 2, -100]).into_dyn()));
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(err(b"hello world, not numpy").starts_with("not a .npy file"));
        assert!(err(b"\x93NUM").starts_with("not a .npy file"));
        assert!(err(&raw("<u2", false, "(1,)", &[0, 0])).contains("unsupported dtype `<u2`; supported: float16 (<f2, read as float32), float32 (<f4)"));
        assert!(err(&raw("<c8", false, "(1,)", &[0; 8])).contains("unsupported dtype `<c8`"));
        assert!(err(&raw("<f2", false, "(3,)", &[0; 4])).contains("declared shape [3] of <f2 needs 6 bytes of data, but the file has only 4"));
        let b = raw("<f8", false, "(3,)", &[0u8; 16]);
        assert_eq!(err(&b), "truncated or corrupt: declared shape [3] of <f8 needs 24 bytes of data, but the file has only 16");
        let b = raw("<f8", false, "(1,)", &[0u8; 16]);
        assert!(err(&b).contains("extra bytes"));
        let b = raw("<f4", false, "(1000000000000, 1000000000000)", &[0u8; 4]);
        assert!(
            err(&b).starts_with(
                "truncated or corrupt: declared shape [1000000000000, 1000000000000] of <f4 needs 4000000000000000000000000 bytes"
            ) || err(&b).contains("too large"),
            "{}",
            err(&b)
        );
        let b = raw("<f4", false, "(4294967296, 4294967296, 4294967296)", &[0u8; 4]);
        assert!(err(&b).contains("too large"), "{}", err(&b));
        let b = raw("<f4", false, "(-1,)", &[0u8; 4]);
        assert_eq!(err(&b), "malformed header: expected 'shape' entries in [0, 2^64), found -1");
        let mut b = raw("<f4", false, "(1,)", &[0u8; 4]);
        b[8] = 0xff;
        b[9] = 0xff;
        assert!(err(&b).starts_with("truncated: the header declares 65535 bytes"), "{}", err(&b));
        let b = raw("<f4", false, "(1,", &[0u8; 4]);
        assert!(err(&b).starts_with("malformed header"), "{}", err(&b));
        let mut b = raw("<f4", false, "(1,)", &[0u8; 4]);
        b[6] = 9;
        assert!(err(&b).contains("unsupported .npy format version 9.0"));
    }

    #[test]
    fn write_is_atomic_and_leaves_nothing_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        let t = Tensor::F32(arr1(&[1.0f32]).into_dyn());
        write(&p, &t).unwrap();
        assert_eq!(read(&p).unwrap(), t);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o644, 0o644 & !umask(), "an ordinary file's permissions, not 0600");
        }
        let missing = dir.path().join("no/such/dir/b.npy");
        let e = format!("{:#}", write(&missing, &t).unwrap_err());
        assert!(e.starts_with("cannot write `"), "{e}");
        let staged = stage(&dir.path().join("c.npy"), &t).unwrap();
        drop(staged);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "a dropped stage leaves nothing");
    }

    /// The process's umask (read by setting and restoring it is racy; read /proc instead).
    #[cfg(unix)]
    fn umask() -> u32 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Umask:").map(|v| u32::from_str_radix(v.trim(), 8).unwrap_or(0o022))))
            .unwrap_or(0o022)
    }

    #[test]
    fn read_names_the_file() {
        let e = format!("{:#}", read(Path::new("/no/such/file.npy")).unwrap_err());
        assert!(e.starts_with("`/no/such/file.npy`: cannot open the file: "), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.npy");
        std::fs::write(&p, b"garbage garbage").unwrap();
        let e = format!("{:#}", read(&p).unwrap_err());
        assert!(e.contains("bad.npy`: not a .npy file"), "{e}");
    }
}

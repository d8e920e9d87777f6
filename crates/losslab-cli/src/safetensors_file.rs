//! Reading and writing `.safetensors` files (Hugging Face's format), through
//! the [`safetensors`] crate.
//!
//! Reads `F32`, `F64`, `F16`, `BF16`, `I32` and `I64` tensors as registry
//! tensors: `F16` and `BF16` as float32, exactly (every 16-bit float value is
//! a float32); `I32` as int64. Writes [`Tensor`]s as `F32`, `F64` or `I64`.
//!
//! # Zero-copy, when the bytes allow it
//! The file is read into memory once ([`std::fs::read`]: no memory map, so a
//! file changed by another process while losslab runs cannot change the
//! tensors under it) and parsed in place by [`safetensors::SafeTensors`].
//! An `F32`, `F64` or `I64` tensor whose data start at an address aligned for
//! its element type (on a little-endian machine) is lent to the registry as a
//! view of those bytes ([`TensorArg`] borrowed, no copy). The format does not
//! promise alignment (a header's length is any multiple of 8, tensors follow
//! each other without padding): a misaligned tensor, and every `F16`, `BF16`
//! and `I32` tensor, which must be widened anyway, is decoded into an owned
//! array instead. Files written by the `safetensors` libraries pad the header
//! to a multiple of 8 bytes, so `F32` tensors after one another stay aligned.
//!
//! # Never trusting the header
//! [`parse`] checks the header's declared length against the file's before
//! reading it, and every tensor's shape and dtype against its `data_offsets`
//! and the bytes the file really has, before anything is built: a corrupt or
//! hostile header is an error naming the problem (and the tensor), never an
//! allocation of a declared size, never a panic. The reader is fuzzed
//! (`fuzz/fuzz_targets/safetensors_read.rs`).

use anyhow::{anyhow, bail, Context, Result};
use losslab_registry::{Tensor, TensorArg};
use ndarray::{ArrayD, ArrayViewD, CowArray, IxDyn};
use safetensors::{Dtype, SafeTensorError, SafeTensors};
use std::io::Write;
use std::path::Path;

/// The dtypes [`tensor`] reads, for messages.
pub const SUPPORTED_DTYPES: &str = "F32, F64, F16 and BF16 (read as float32), I64 and I32 (read as int64)";

/// The largest header the format allows (the `safetensors` crate's limit).
const MAX_HEADER_BYTES: u64 = 100_000_000;

/// The name of the one tensor in a `--out FILE.safetensors` file.
pub const RESULT_NAME: &str = "loss";

/// Parses a whole `.safetensors` file held in `bytes`, in place.
///
/// # Errors
/// Naming the problem: fewer than 8 bytes; a header length past the end of
/// the file or over the format's 100 MB; a header that is not a UTF-8 JSON
/// object; a tensor of an unknown dtype, or whose shape and dtype need a
/// different number of bytes than its `data_offsets` span, or whose data lie
/// past the end of the file; offsets that leave gaps, overlap, or do not end
/// at the end of the file.
///
/// # Examples
/// ```
/// let err = losslab_cli::safetensors_file::parse(b"\xff\0\0\0\0\0\0\0{}").unwrap_err();
/// assert_eq!(
///     format!("{err:#}"),
///     "truncated or corrupt: the header's length field declares 255 bytes of header, but the file has only 2 after it"
/// );
/// ```
pub fn parse(bytes: &[u8]) -> Result<SafeTensors<'_>> {
    let len = bytes.len() as u64;
    let Some(prefix) = bytes.get(..8) else {
        bail!("not a .safetensors file: it has {len} bytes, fewer than the 8 of the header's length field");
    };
    let n = u64::from_le_bytes(prefix.try_into().expect("8 bytes"));
    if n > len - 8 {
        bail!("truncated or corrupt: the header's length field declares {n} bytes of header, but the file has only {} after it", len - 8);
    }
    if n > MAX_HEADER_BYTES {
        bail!("corrupt: the header's length field declares {n} bytes of header, more than the format's limit of {MAX_HEADER_BYTES}");
    }
    let header = &bytes[8..8 + n as usize];
    let data_len = len - 8 - n;
    if header.first() != Some(&b'{') {
        bail!(
            "malformed header: expected a JSON object (`{{`) after the 8-byte length field, found {}",
            match header.first() {
                Some(b) => format!("b\"{}\"", [*b].escape_ascii()),
                None => "an empty header".to_string(),
            }
        );
    }
    let text = std::str::from_utf8(header)
        .map_err(|e| anyhow!("malformed header: expected UTF-8 text, found an invalid byte at header byte {}", e.valid_up_to()))?;
    check_header(text, data_len)?;
    SafeTensors::deserialize(bytes).map_err(|e| describe(e, data_len))
}

/// The checks whose failures the crate reports without naming the tensor:
/// each tensor's dtype, shape and offsets against each other and the file.
fn check_header(text: &str, data_len: u64) -> Result<()> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| anyhow!("malformed header: invalid JSON: {e}"))?;
    let serde_json::Value::Object(entries) = value else { bail!("malformed header: expected a JSON object") };
    // The tensor whose data end last, checked against the file once all are
    // read: a truncated file names the tensor that reaches furthest.
    let mut furthest: Option<(&str, u64, u64)> = None;
    for (name, info) in &entries {
        if name == "__metadata__" {
            continue;
        }
        let info = info.as_object().with_context(|| format!("malformed header: tensor `{name}`: expected an object with dtype, shape and data_offsets"))?;
        let field = |key: &str| info.get(key).with_context(|| format!("malformed header: tensor `{name}` has no `{key}`"));
        let dtype_text = field("dtype")?.as_str().with_context(|| format!("malformed header: tensor `{name}`: expected `dtype` to be a string"))?;
        let dtype: Dtype = serde_json::from_value(serde_json::Value::String(dtype_text.to_string()))
            .map_err(|_| anyhow!("malformed header: tensor `{name}` has the unknown dtype `{dtype_text}`; supported: {SUPPORTED_DTYPES}"))?;
        let shape: Vec<u64> = field("shape")?
            .as_array()
            .and_then(|a| a.iter().map(serde_json::Value::as_u64).collect())
            .with_context(|| format!("malformed header: tensor `{name}`: expected `shape` to be a list of non-negative integers"))?;
        let offsets: Vec<u64> = field("data_offsets")?
            .as_array()
            .and_then(|a| a.iter().map(serde_json::Value::as_u64).collect())
            .filter(|o: &Vec<u64>| o.len() == 2)
            .with_context(|| format!("malformed header: tensor `{name}`: expected `data_offsets` to be two non-negative integers [begin, end]"))?;
        let (begin, end) = (offsets[0], offsets[1]);
        let needed = shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .and_then(|count| count.checked_mul(dtype.bitsize() as u64))
            .map(|bits| bits.div_ceil(8))
            .with_context(|| format!("corrupt header: tensor `{name}`'s shape {shape:?} is too large (its byte size overflows)"))?;
        if end < begin {
            bail!("corrupt header: tensor `{name}`'s data_offsets [{begin}, {end}] end before they begin");
        }
        if end - begin != needed {
            bail!(
                "corrupt header: tensor `{name}` of dtype {dtype_text} and shape {shape:?} needs {needed} bytes, but its data_offsets [{begin}, {end}] span {}",
                end - begin
            );
        }
        if furthest.is_none_or(|(_, _, e)| end > e) {
            furthest = Some((name, begin, end));
        }
    }
    if let Some((name, begin, end)) = furthest.filter(|&(_, _, end)| end > data_len) {
        bail!("truncated or corrupt: tensor `{name}`'s data_offsets [{begin}, {end}] reach past the file's {data_len} bytes of data");
    }
    Ok(())
}

/// What the crate's error means, in this crate's words.
fn describe(e: SafeTensorError, data_len: u64) -> anyhow::Error {
    match e {
        SafeTensorError::InvalidOffset(name) => {
            anyhow!("corrupt header: tensor `{name}`'s data_offsets do not begin where the previous tensor's end (gaps or overlaps)")
        }
        SafeTensorError::MetadataIncompleteBuffer => anyhow!(
            "truncated or corrupt: the tensors' data_offsets do not cover exactly the file's {data_len} bytes of data (a truncated file, or bytes after the data)"
        ),
        SafeTensorError::MisalignedSlice => anyhow!("unsupported: a tensor of sub-byte elements that does not end on a byte"),
        e => anyhow!("malformed header: {e}"),
    }
}

/// The tensor named `name` in `file`, as a registry tensor argument: lent
/// (a view of `file`'s bytes) where the dtype and the alignment allow, decoded
/// otherwise (see the module's documentation).
///
/// # Errors
/// If `file` has no tensor `name` (the message lists the names it has), or
/// its dtype is not one of [`SUPPORTED_DTYPES`].
///
/// # Examples
/// ```
/// use losslab_cli::safetensors_file;
/// let data: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
/// let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2], &data).unwrap();
/// let bytes = safetensors::serialize([("logits", view)], None).unwrap();
/// let file = safetensors_file::parse(&bytes).unwrap();
/// let t = safetensors_file::tensor(&file, "logits").unwrap();
/// assert_eq!(t.shape(), &[2]);
/// let err = safetensors_file::tensor(&file, "labels").unwrap_err();
/// assert_eq!(format!("{err:#}"), "no tensor `labels` in the file; it has: logits");
/// ```
pub fn tensor<'a>(file: &SafeTensors<'a>, name: &str) -> Result<TensorArg<'a>> {
    let Ok(view) = file.tensor(name) else {
        bail!("no tensor `{name}` in the file; it has: {}", names_list(file));
    };
    let shape = view.shape();
    let data = view.data();
    Ok(match view.dtype() {
        Dtype::F32 => TensorArg::F32(lend_or_decode(data, shape, f32::from_le_bytes)?),
        Dtype::F64 => TensorArg::F64(lend_or_decode(data, shape, f64::from_le_bytes)?),
        Dtype::I64 => TensorArg::I64(lend_or_decode(data, shape, i64::from_le_bytes)?),
        Dtype::I32 => TensorArg::I64(decoded(data, shape, |b: [u8; 4]| i64::from(i32::from_le_bytes(b)))?.into()),
        Dtype::F16 => {
            TensorArg::F32(decoded(data, shape, |b: [u8; 2]| losslab::half::f16::from_bits(u16::from_le_bytes(b)).to_f32())?.into())
        }
        Dtype::BF16 => {
            TensorArg::F32(decoded(data, shape, |b: [u8; 2]| losslab::half::bf16::from_bits(u16::from_le_bytes(b)).to_f32())?.into())
        }
        other => bail!("tensor `{name}` has dtype {other:?}, which losslab does not read; supported: {SUPPORTED_DTYPES}"),
    })
}

/// The names of the tensors in `file`, sorted, comma-separated (`(none)` if empty).
pub fn names_list(file: &SafeTensors<'_>) -> String {
    let mut names = file.names();
    names.sort_unstable();
    if names.is_empty() {
        "(none)".to_string()
    } else {
        names.join(", ")
    }
}

/// Element types every bit pattern of which is a value, so that aligned
/// little-endian bytes may be read as them in place.
trait Plain: Copy {}
impl Plain for f32 {}
impl Plain for f64 {}
impl Plain for i64 {}

fn lend_or_decode<'a, T: Plain, const N: usize>(
    data: &'a [u8],
    shape: &[usize],
    decode: fn([u8; N]) -> T,
) -> Result<CowArray<'a, T, IxDyn>> {
    debug_assert_eq!(std::mem::size_of::<T>(), N);
    #[cfg(target_endian = "little")]
    {
        // SAFETY: `T` is f32, f64 or i64 (`Plain`): every bit pattern is a
        // value and there is no padding; `align_to` only yields the aligned
        // middle part, used only when it is the whole slice.
        let (head, body, tail) = unsafe { data.align_to::<T>() };
        if head.is_empty() && tail.is_empty() {
            return Ok(ArrayViewD::from_shape(IxDyn(shape), body).map_err(|_| too_large(shape))?.into());
        }
    }
    Ok(decoded(data, shape, decode)?.into())
}

fn decoded<T, const N: usize>(data: &[u8], shape: &[usize], decode: impl Fn([u8; N]) -> T) -> Result<ArrayD<T>> {
    let values: Vec<T> = data.chunks_exact(N).map(|c| decode(c.try_into().expect("N bytes"))).collect();
    ArrayD::from_shape_vec(IxDyn(shape), values).map_err(|_| too_large(shape))
}

fn too_large(shape: &[usize]) -> anyhow::Error {
    anyhow!("declared shape {shape:?} is too large (the product of its non-zero axes exceeds isize::MAX bytes)")
}

/// Reads the `.safetensors` file at `path` into memory, checking it is one;
/// [`parse`] and [`tensor`] then read its tensors in place.
///
/// # Errors
/// If the file cannot be read (it is a directory, or missing); its content
/// is checked by [`parse`].
pub fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    if path.is_dir() {
        bail!("expected a .safetensors file, found a directory");
    }
    std::fs::read(path).context("cannot open the file")
}

/// Writes `tensors` (name, tensor) in `.safetensors` format to `w`:
/// float32 as `F32`, float64 as `F64`, integers as `I64`, little-endian.
///
/// # Errors
/// If writing fails, or two tensors have the same name.
///
/// # Examples
/// ```
/// use losslab_cli::safetensors_file;
/// use losslab_registry::Tensor;
/// let t = Tensor::F64(ndarray::arr1(&[0.5, 1.5]).into_dyn());
/// let mut bytes = Vec::new();
/// safetensors_file::write_to(&mut bytes, &[("loss", &t)]).unwrap();
/// let file = safetensors_file::parse(&bytes).unwrap();
/// assert_eq!(safetensors_file::tensor(&file, "loss").unwrap().into_owned(), t);
/// ```
pub fn write_to(w: &mut dyn Write, tensors: &[(&str, &Tensor)]) -> std::io::Result<()> {
    let encoded: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, t)| {
            let (dtype, bytes): (Dtype, Vec<u8>) = match t {
                Tensor::F32(a) => (Dtype::F32, a.iter().flat_map(|v| v.to_le_bytes()).collect()),
                Tensor::F64(a) => (Dtype::F64, a.iter().flat_map(|v| v.to_le_bytes()).collect()),
                Tensor::I64(a) => (Dtype::I64, a.iter().flat_map(|v| v.to_le_bytes()).collect()),
            };
            (*name, dtype, t.shape().to_vec(), bytes)
        })
        .collect();
    let views = encoded
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes).map(|v| (*name, v))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(std::io::Error::other)?;
    let mut names: Vec<&str> = views.iter().map(|(n, _)| *n).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(std::io::Error::other(format!("two tensors named `{}`", w[0])));
    }
    let bytes = safetensors::serialize(views, None).map_err(std::io::Error::other)?;
    w.write_all(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr2;

    fn file(entries: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
        let views: Vec<_> =
            entries.iter().map(|(n, d, s, b)| (*n, safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap())).collect();
        safetensors::serialize(views, None).unwrap()
    }

    fn raw(header: &str, data: &[u8]) -> Vec<u8> {
        let mut v = (header.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(header.as_bytes());
        v.extend_from_slice(data);
        v
    }

    fn err(bytes: &[u8]) -> String {
        format!("{:#}", parse(bytes).unwrap_err())
    }

    #[test]
    fn reads_every_supported_dtype() {
        let f32s: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let f64s: Vec<u8> = [0.25f64].iter().flat_map(|v| v.to_le_bytes()).collect();
        let i64s: Vec<u8> = [3i64, -1].iter().flat_map(|v| v.to_le_bytes()).collect();
        let i32s: Vec<u8> = [7i32, -8].iter().flat_map(|v| v.to_le_bytes()).collect();
        // 1.0, -2.5, 2^-24 (the smallest subnormal), NaN in float16; 1.0, -2.0, 3.0e38-ish in bfloat16.
        let f16s: Vec<u8> = [0x3C00u16, 0xC100, 0x0001, 0x7E00].iter().flat_map(|v| v.to_le_bytes()).collect();
        let bf16s: Vec<u8> = [0x3F80u16, 0xC000, 0x7F7F].iter().flat_map(|v| v.to_le_bytes()).collect();
        let bytes = file(&[
            ("a", Dtype::F32, vec![1, 2], f32s),
            ("b", Dtype::F64, vec![], f64s),
            ("c", Dtype::I64, vec![2], i64s),
            ("d", Dtype::I32, vec![2], i32s),
            ("e", Dtype::F16, vec![4], f16s),
            ("f", Dtype::BF16, vec![3], bf16s),
        ]);
        let st = parse(&bytes).unwrap();
        assert_eq!(tensor(&st, "a").unwrap().into_owned(), Tensor::F32(arr2(&[[1.5f32, -2.0]]).into_dyn()));
        assert_eq!(tensor(&st, "b").unwrap().into_owned(), Tensor::F64(ndarray::arr0(0.25).into_dyn()));
        assert_eq!(tensor(&st, "c").unwrap().into_owned(), Tensor::I64(ndarray::arr1(&[3, -1]).into_dyn()));
        assert_eq!(tensor(&st, "d").unwrap().into_owned(), Tensor::I64(ndarray::arr1(&[7, -8]).into_dyn()));
        let Tensor::F32(e) = tensor(&st, "e").unwrap().into_owned() else { panic!("f16 is read as f32") };
        assert_eq!(&e.as_slice().unwrap()[..3], &[1.0, -2.5, 2f32.powi(-24)]);
        assert!(e[[3]].is_nan());
        let Tensor::F32(f) = tensor(&st, "f").unwrap().into_owned() else { panic!("bf16 is read as f32") };
        assert_eq!(f.as_slice().unwrap(), &[1.0, -2.0, f32::from_bits(0x7F7F_0000)]);
    }

    #[test]
    fn aligned_tensors_are_lent_misaligned_copied() {
        // A header of 8·k bytes after an 8-byte length: the data start at a multiple of 8
        // from the buffer's start; a u64 buffer makes that an aligned address.
        let st_bytes = file(&[("x", Dtype::F64, vec![2], [1.0f64, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect())]);
        let mut words = vec![0u64; st_bytes.len().div_ceil(8) + 1];
        let aligned: &mut [u8] = unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), words.len() * 8) };
        aligned[..st_bytes.len()].copy_from_slice(&st_bytes);
        let st = parse(&aligned[..st_bytes.len()]).unwrap();
        let t = tensor(&st, "x").unwrap();
        assert_eq!(t.is_view(), cfg!(target_endian = "little"), "an aligned F64 tensor is lent");
        // The same file one byte further on: misaligned, decoded.
        aligned.copy_within(0..st_bytes.len(), 1);
        let st = parse(&aligned[1..=st_bytes.len()]).unwrap();
        let t = tensor(&st, "x").unwrap();
        assert!(!t.is_view(), "a misaligned tensor is copied");
        assert_eq!(t.into_owned(), Tensor::F64(ndarray::arr1(&[1.0, 2.0]).into_dyn()));
    }

    #[test]
    fn roundtrips_what_it_writes() {
        let a = Tensor::F32(arr2(&[[1.0f32, f32::NAN], [f32::INFINITY, -0.0]]).into_dyn());
        let b = Tensor::I64(ndarray::arr1(&[i64::MIN, 0]).into_dyn());
        let mut bytes = Vec::new();
        write_to(&mut bytes, &[("a", &a), ("b", &b)]).unwrap();
        let st = parse(&bytes).unwrap();
        let Tensor::F32(x) = tensor(&st, "a").unwrap().into_owned() else { panic!() };
        let Tensor::F32(y) = &a else { panic!() };
        assert!(x.iter().zip(y.iter()).all(|(p, q)| p.to_bits() == q.to_bits()));
        assert_eq!(tensor(&st, "b").unwrap().into_owned(), b);
        assert!(write_to(&mut Vec::new(), &[("a", &a), ("a", &b)]).is_err());
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(err(b"\x01\x02"), "not a .safetensors file: it has 2 bytes, fewer than the 8 of the header's length field");
        assert_eq!(
            err(&raw("[1, 2]", b"")),
            "malformed header: expected a JSON object (`{`) after the 8-byte length field, found b\"[\""
        );
        assert!(err(&raw("{\"a\": ", b"")).starts_with("malformed header: invalid JSON: "), "{}", err(&raw("{\"a\": ", b"")));
        assert_eq!(
            err(&raw(r#"{"x":{"dtype":"Q8","shape":[1],"data_offsets":[0,1]}}"#, &[0])),
            "malformed header: tensor `x` has the unknown dtype `Q8`; supported: F32, F64, F16 and BF16 (read as float32), I64 and I32 (read as int64)"
        );
        // A lying shape: far more than the file holds, nothing allocated.
        assert_eq!(
            err(&raw(r#"{"x":{"dtype":"F32","shape":[1000000000000],"data_offsets":[0,4000000000000]}}"#, &[0; 8])),
            "truncated or corrupt: tensor `x`'s data_offsets [0, 4000000000000] reach past the file's 8 bytes of data"
        );
        assert_eq!(
            err(&raw(r#"{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, &[0; 8])),
            "corrupt header: tensor `x` of dtype F32 and shape [3] needs 12 bytes, but its data_offsets [0, 8] span 8"
        );
        assert!(err(&raw(r#"{"x":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}}"#, &[0; 8]))
            .contains("too large"));
        assert_eq!(
            err(&raw(r#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, &[0; 8])),
            "truncated or corrupt: the tensors' data_offsets do not cover exactly the file's 8 bytes of data (a truncated file, or bytes after the data)"
        );
        assert_eq!(
            err(&raw(r#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, &[0; 8])),
            "corrupt header: tensor `x`'s data_offsets do not begin where the previous tensor's end (gaps or overlaps)"
        );
        let mut huge = raw("{}", b"");
        huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(err(&huge).starts_with("truncated or corrupt: the header's length field declares 18446744073709551615 bytes"));
        let bytes = file(&[("u", Dtype::U8, vec![2], vec![1, 2])]);
        let st = parse(&bytes).unwrap();
        assert_eq!(
            format!("{:#}", tensor(&st, "u").unwrap_err()),
            "tensor `u` has dtype U8, which losslab does not read; supported: F32, F64, F16 and BF16 (read as float32), I64 and I32 (read as int64)"
        );
    }
}

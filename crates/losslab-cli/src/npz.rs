//! Reading arrays from NumPy `.npz` archives (`np.savez`, `np.savez_compressed`).
//!
//! An `.npz` file is a zip archive of `.npy` files, one per array: the array
//! `labels` is the member `labels.npy`. Each member is decompressed into
//! memory and read by [`npy::read_from`], so the
//! dtypes, layouts and checks are the `.npy` reader's exactly. Members stored
//! (`np.savez`) or deflated (`np.savez_compressed`) are read; other zip
//! compression methods and encrypted members are refused with an error.
//!
//! A member's declared size is not trusted either: its bytes are read as they
//! come (the buffer grows with the data really decompressed, at most to the
//! declared size), and a member whose data differ in length from what it
//! declares is an error.

use crate::npy;
use anyhow::{anyhow, bail, Context, Result};
use losslab_registry::Tensor;
use std::io::{Read, Seek};
use std::path::Path;

/// Reads the array `name` (the member `name.npy`, or a member named exactly
/// `name`) of the `.npz` archive at `path`, or, when `name` is `None`, the
/// archive's only array.
///
/// # Errors
/// As [`read_from`], naming the file's problem.
pub fn read(path: &Path, name: Option<&str>) -> Result<Tensor> {
    if path.is_dir() {
        bail!("expected a .npz file, found a directory");
    }
    let file = std::fs::File::open(path).context("cannot open the file")?;
    read_from(std::io::BufReader::new(file), name)
}

/// Reads the array `name` (or the only array) from a `.npz` archive in `reader`.
///
/// # Errors
/// Not a zip archive; no such array (the message lists the arrays there are);
/// several arrays and no name; a member compressed other than stored or
/// deflate, or encrypted; a member whose data are not its declared size or
/// fail their checksum; or any error of the `.npy` reader on the member.
///
/// # Examples
/// ```
/// use std::io::Write;
/// let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
/// zip.start_file("labels.npy", zip::write::SimpleFileOptions::default()).unwrap();
/// let labels = losslab_registry::Tensor::I64(ndarray::arr1(&[0i64, 2]).into_dyn());
/// losslab_cli::npy::write_to(&mut zip, &labels).unwrap();
/// let bytes = zip.finish().unwrap().into_inner();
/// let t = losslab_cli::npz::read_from(std::io::Cursor::new(&bytes), Some("labels")).unwrap();
/// assert_eq!(t, labels);
/// let err = losslab_cli::npz::read_from(std::io::Cursor::new(&bytes), Some("logits")).unwrap_err();
/// assert_eq!(format!("{err:#}"), "no array `logits` in the archive; it has: labels");
/// ```
pub fn read_from(reader: impl Read + Seek, name: Option<&str>) -> Result<Tensor> {
    let mut archive = zip::ZipArchive::new(reader).map_err(|e| anyhow!("not a .npz file (a zip archive): {e}"))?;
    let members: Vec<String> = archive.file_names().map(str::to_string).collect();
    let arrays = || {
        let mut names: Vec<&str> = members.iter().map(|m| m.strip_suffix(".npy").unwrap_or(m)).collect();
        names.sort_unstable();
        if names.is_empty() {
            "(none)".to_string()
        } else {
            names.join(", ")
        }
    };
    let member = match name {
        Some(name) => {
            let with_suffix = format!("{name}.npy");
            if members.contains(&with_suffix) {
                with_suffix
            } else if members.iter().any(|m| m == name) {
                name.to_string()
            } else {
                bail!("no array `{name}` in the archive; it has: {}", arrays());
            }
        }
        None => match members.as_slice() {
            [only] => only.clone(),
            [] => bail!("the archive holds no arrays"),
            _ => bail!("the archive holds several arrays ({}): name one, as FILE.npz:NAME", arrays()),
        },
    };
    let mut read_member = || -> Result<Tensor> {
        let mut file = archive.by_name(&member).map_err(|e| match e {
            zip::result::ZipError::UnsupportedArchive(what) => {
                anyhow!("unsupported: {what} (losslab reads members stored or deflated, as np.savez and np.savez_compressed write them)")
            }
            e => anyhow!("{e}"),
        })?;
        let declared = file.size();
        let mut bytes = Vec::new();
        // Grows with the bytes really there, never past the declared size + 1.
        (&mut file).take(declared.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| anyhow!("corrupt member data: {e}"))?;
        if bytes.len() as u64 != declared {
            bail!("corrupt: the member declares {declared} bytes but holds {}", bytes.len());
        }
        npy::read_from(&bytes[..], bytes.len() as u64)
    };
    read_member().with_context(|| format!("member `{member}`"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    fn archive(members: &[(&str, &Tensor)], method: zip::CompressionMethod) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, t) in members {
            zip.start_file(*name, zip::write::SimpleFileOptions::default().compression_method(method)).unwrap();
            npy::write_to(&mut zip, t).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn reads_stored_and_deflated_members() {
        let a = Tensor::F32(ndarray::arr2(&[[1.0f32, 2.0], [3.0, 4.0]]).into_dyn());
        let b = Tensor::I64(ndarray::arr1(&[1i64, 0]).into_dyn());
        for method in [zip::CompressionMethod::Stored, zip::CompressionMethod::Deflated] {
            let bytes = archive(&[("logits.npy", &a), ("labels.npy", &b)], method);
            assert_eq!(read_from(Cursor::new(&bytes), Some("logits")).unwrap(), a);
            assert_eq!(read_from(Cursor::new(&bytes), Some("labels.npy")).unwrap(), b);
            let e = format!("{:#}", read_from(Cursor::new(&bytes), None).unwrap_err());
            assert_eq!(e, "the archive holds several arrays (labels, logits): name one, as FILE.npz:NAME");
        }
        let one = archive(&[("x.npy", &a)], zip::CompressionMethod::Stored);
        assert_eq!(read_from(Cursor::new(&one), None).unwrap(), a);
    }

    /// A member whose headers declare 2 GB uncompressed: an error, not a 2 GB buffer.
    #[test]
    fn a_lying_member_size_is_an_error() {
        let t = Tensor::F32(ndarray::arr1(&[1.0f32, 2.0]).into_dyn());
        let mut bytes = archive(&[("x.npy", &t)], zip::CompressionMethod::Stored);
        let find = |b: &[u8], sig: &[u8]| b.windows(4).position(|w| w == sig).unwrap();
        let local = find(&bytes, b"PK\x03\x04");
        bytes[local + 22..local + 26].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        let central = find(&bytes, b"PK\x01\x02");
        bytes[central + 24..central + 28].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        let e = format!("{:#}", read_from(Cursor::new(&bytes), Some("x")).unwrap_err());
        assert_eq!(e, "member `x.npy`: corrupt: the member declares 2147483647 bytes but holds 136");
    }

    #[test]
    fn errors_name_the_problem() {
        let e = format!("{:#}", read_from(Cursor::new(b"not a zip at all"), Some("x")).unwrap_err());
        assert!(e.starts_with("not a .npz file (a zip archive): "), "{e}");
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        zip.start_file("bad.npy", zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(b"\x93NUMPY garbage").unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        let e = format!("{:#}", read_from(Cursor::new(&bytes), Some("bad")).unwrap_err());
        assert!(e.starts_with("member `bad.npy`: "), "{e}");
    }
}

//! Which file format a path holds, by its extension, and where in the file a
//! tensor is: `FILE.npy`, `FILE.npz:NAME`, `FILE.safetensors:NAME`.
//!
//! # Naming a tensor inside a file
//! A source is split at its **last** `:` only when the part before it ends in
//! `.safetensors` or `.npz` (in any case): `out.safetensors:logits` is the
//! tensor `logits` of `out.safetensors`; `batch.npz:labels` is the array
//! `labels` (the member `labels.npy`) of `batch.npz`. Anything else is a path
//! as given, colons included (`runs/12:00/x.npy`). With no `:NAME`, a
//! `.safetensors` or `.npz` file must hold exactly one tensor, which is the
//! one read. (A tensor whose own name contains `:` cannot be named; such a
//! name would be split at its last `:`.)
//!
//! # Formats by extension
//! `.safetensors` is read by [`safetensors_file`], `.npz` by [`npz`], and
//! anything else as `.npy` by [`npy`]. Outputs are written as `.safetensors`
//! when the path ends in `.safetensors`, as `.npy` otherwise.

use crate::{npy, npz, safetensors_file};
use anyhow::{bail, Context, Result};
use losslab_registry::{Tensor, TensorArg};
use std::fmt;
use std::path::{Path, PathBuf};

/// A tensor file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A NumPy `.npy` file (the default for any other extension).
    Npy,
    /// A NumPy `.npz` archive.
    Npz,
    /// A `.safetensors` file.
    Safetensors,
}

impl Format {
    /// The format of `path`, by its extension (any case).
    ///
    /// # Examples
    /// ```
    /// use losslab_cli::tensor_file::Format;
    /// assert_eq!(Format::of("m.SafeTensors".as_ref()), Format::Safetensors);
    /// assert_eq!(Format::of("b.npz".as_ref()), Format::Npz);
    /// assert_eq!(Format::of("x.npy".as_ref()), Format::Npy);
    /// assert_eq!(Format::of("x".as_ref()), Format::Npy);
    /// ```
    pub fn of(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("safetensors") => Format::Safetensors,
            Some("npz") => Format::Npz,
            _ => Format::Npy,
        }
    }
}

/// Where a tensor is: a file, and the tensor's name inside it for the
/// formats that hold several.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSource {
    /// The file.
    pub path: PathBuf,
    /// The tensor's name in a `.safetensors` or `.npz` file (`None`: its only one).
    pub name: Option<String>,
}

impl TensorSource {
    /// Parses `FILE` or `FILE.safetensors:NAME` / `FILE.npz:NAME` (see the
    /// module's documentation for the rule).
    ///
    /// # Examples
    /// ```
    /// use losslab_cli::tensor_file::TensorSource;
    /// let s = TensorSource::parse("out/model.safetensors:logits");
    /// assert_eq!((s.path.to_str().unwrap(), s.name.as_deref()), ("out/model.safetensors", Some("logits")));
    /// let s = TensorSource::parse("runs/12:00/x.npy");
    /// assert_eq!((s.path.to_str().unwrap(), s.name), ("runs/12:00/x.npy", None));
    /// let s = TensorSource::parse("batch.npz");
    /// assert_eq!((s.path.to_str().unwrap(), s.name), ("batch.npz", None));
    /// ```
    pub fn parse(spec: &str) -> TensorSource {
        if let Some((file, name)) = spec.rsplit_once(':') {
            let lower = file.to_ascii_lowercase();
            if !name.is_empty() && (lower.ends_with(".safetensors") || lower.ends_with(".npz")) {
                return TensorSource { path: PathBuf::from(file), name: Some(name.to_string()) };
            }
        }
        TensorSource { path: PathBuf::from(spec), name: None }
    }

    /// The file's format.
    pub fn format(&self) -> Format {
        Format::of(&self.path)
    }

    /// Reads the tensor, owned (see [`TensorSource::read_arg`] to lend a
    /// `.safetensors` tensor in place). Errors are prefixed by `label`.
    ///
    /// # Errors
    /// Those of the format's reader; a `:NAME` on a `.npy` file cannot occur
    /// ([`parse`](TensorSource::parse) keeps it in the path).
    pub fn read(&self, label: &str) -> Result<Tensor> {
        match self.format() {
            Format::Safetensors => {
                let bytes = safetensors_file::read_bytes(&self.path).with_context(|| label.to_string())?;
                Ok(self.read_arg(&bytes, label)?.into_owned())
            }
            _ => self.read_arg(&[], label).map(TensorArg::into_owned),
        }
    }

    /// Reads the tensor as a registry argument: for a `.safetensors` source,
    /// from `bytes` (the file's content, from
    /// [`safetensors_file::read_bytes`]), lent in place where the dtype and
    /// alignment allow; for `.npy` and `.npz` sources, `bytes` is unused and
    /// the file is read. Errors are prefixed by `label`.
    ///
    /// # Errors
    /// Those of the format's reader.
    pub fn read_arg<'a>(&self, bytes: &'a [u8], label: &str) -> Result<TensorArg<'a>> {
        if self.format() == Format::Npy {
            return Ok(npy::read_labelled(&self.path, label)?.into());
        }
        let read = || -> Result<TensorArg<'a>> {
            Ok(match self.format() {
                Format::Npy => bail!("read above"),
                Format::Npz => npz::read(&self.path, self.name.as_deref())?.into(),
                Format::Safetensors => {
                    let file = safetensors_file::parse(bytes)?;
                    match &self.name {
                        Some(name) => safetensors_file::tensor(&file, name)?,
                        None => match file.names().as_slice() {
                            [only] => safetensors_file::tensor(&file, only)?,
                            [] => bail!("the file holds no tensors"),
                            _ => bail!(
                                "the file holds several tensors ({}): name one, as FILE.safetensors:NAME",
                                safetensors_file::names_list(&file)
                            ),
                        },
                    }
                }
            })
        };
        read().with_context(|| label.to_string())
    }
}

impl fmt::Display for TensorSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{}:{name}", self.path.display()),
            None => write!(f, "{}", self.path.display()),
        }
    }
}

/// Stages `tensors` (name, tensor) for `path` in the format its extension
/// names: a `.safetensors` file holding every tensor under its name, or a
/// `.npy` file (then `tensors` must hold exactly one, whose name is unused).
///
/// # Errors
/// A `.npz` path (losslab does not write archives), or a failure to write.
pub fn stage(path: &Path, tensors: &[(&str, &Tensor)]) -> Result<npy::Staged> {
    match (Format::of(path), tensors) {
        (Format::Safetensors, _) => npy::stage_with(path, |w| safetensors_file::write_to(w, tensors)),
        (Format::Npz, _) => bail!(
            "cannot write `{}`: losslab writes .npy and .safetensors files, not .npz archives",
            path.display()
        ),
        (Format::Npy, [(_, t)]) => npy::stage(path, t),
        (Format::Npy, _) => bail!("cannot write `{}`: a .npy file holds one tensor, not {}", path.display(), tensors.len()),
    }
}

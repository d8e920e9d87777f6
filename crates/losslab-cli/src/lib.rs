//! The library behind the `losslab` command line: evaluate any loss of
//! [`losslab`] on `.npy` files, under the reference frameworks' own names.
//!
//! ```text
//! losslab eval cross_entropy --tensor input=examples/logits.npy --tensor target=examples/labels.npy
//! {"loss":"torch:cross_entropy","reduction":"mean","dtype":"float32","shape":[],"value":0.7615295}
//! ```
//!
//! The losses, their names, arguments and defaults, and the dynamic call are
//! [`losslab_registry`]'s ([`catalog`](losslab_registry::catalog),
//! [`evaluate`](losslab_registry::evaluate), [`Tensor`](losslab_registry::Tensor)),
//! shared with the other front ends; this crate holds the I/O, the flags and
//! the presentation:
//!
//! - [`npy`]: reading and writing NumPy `.npy` files, defensively (a header is
//!   never trusted) and atomically (no half-written file is ever left), as
//!   registry [`Tensor`](losslab_registry::Tensor)s.
//! - [`safetensors_file`] and [`npz`]: reading `.safetensors` files (zero-copy
//!   where the bytes are aligned; bf16 and f16 widened to float32) and `.npz`
//!   archives, as defensively; [`tensor_file`]: the format by extension, and
//!   `FILE.safetensors:NAME` / `FILE.npz:NAME` sources.
//! - [`cli`]: the command line itself (`eval`, `list`, `bench`, `info`, `explain`, `serve`,
//!   `plot`, `report`), clap flags validated into a configuration, then run;
//!   `src/main.rs` only prints errors.
//! - [`lab`]: the experiments and figures behind `plot` and `report`, and the
//!   page and JSON API of `serve`.
//!
//! # Examples
//! ```
//! use losslab_registry::{evaluate, EvalRequest, Tensor};
//! use ndarray::{arr1, arr2};
//!
//! let mut request = EvalRequest { want_grads: true, ..EvalRequest::default() };
//! request.tensors.insert("input".into(), Tensor::F64(arr2(&[[0.0, 0.0]]).into_dyn()).into());
//! request.tensors.insert("target".into(), Tensor::I64(arr1(&[1]).into_dyn()).into());
//! let e = evaluate("cross_entropy", request).unwrap();
//! assert_eq!(e.loss, "torch:cross_entropy");
//! assert_eq!(e.value, Tensor::F64(ndarray::arr0(2f64.ln()).into_dyn()));
//! assert_eq!(e.grads["input"], Tensor::F64(arr2(&[[0.5, -0.5]]).into_dyn()));
//! ```
#![deny(missing_docs)]
#![warn(rust_2018_idioms)]

pub mod cli;
pub mod lab;
pub mod npy;
pub mod npz;
pub mod safetensors_file;
pub mod tensor_file;

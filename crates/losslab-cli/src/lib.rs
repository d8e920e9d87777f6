//! The library behind the `losslab` command line: evaluate any loss of
//! [`losslab`] on `.npy` files, under the reference frameworks' own names.
//!
//! ```text
//! losslab eval cross_entropy --tensor input=examples/logits.npy --tensor target=examples/labels.npy
//! {"loss":"torch:cross_entropy","reduction":"mean","dtype":"float32","shape":[],"value":0.7615295}
//! ```
//!
//! - [`catalog`]: every loss `losslab eval` knows ([`catalog::catalog`]), each a
//!   [`LossSpec`](catalog::LossSpec) with the reference's tensor and option
//!   names and defaults, and [`catalog::evaluate`], which checks a request
//!   against the spec and computes the result and gradients in the inputs' float
//!   type. Used by the binary and by the golden test suite alike.
//! - [`npy`]: reading and writing NumPy `.npy` files, defensively (a header is
//!   never trusted) and atomically (no half-written file is ever left).
//! - [`tensor`]: [`Tensor`](tensor::Tensor), the `float32`/`float64`/integer
//!   arrays the files hold.
//! - [`cli`]: the command line itself (`eval`, `list`, `bench`), clap flags validated
//!   into a configuration, then run; `src/main.rs` only prints errors.
//!
//! # Examples
//! ```
//! use losslab_cli::catalog::{evaluate, EvalRequest};
//! use losslab_cli::tensor::Tensor;
//! use ndarray::{arr1, arr2};
//!
//! let mut request = EvalRequest { want_grads: true, ..EvalRequest::default() };
//! request.tensors.insert("input".into(), Tensor::F64(arr2(&[[0.0, 0.0]]).into_dyn()));
//! request.tensors.insert("target".into(), Tensor::I64(arr1(&[1]).into_dyn()));
//! let e = evaluate("cross_entropy", request).unwrap();
//! assert_eq!(e.loss, "torch:cross_entropy");
//! assert_eq!(e.value, Tensor::F64(ndarray::arr0(2f64.ln()).into_dyn()));
//! assert_eq!(e.grads["input"], Tensor::F64(arr2(&[[0.5, -0.5]]).into_dyn()));
//! ```
#![deny(missing_docs)]
#![warn(rust_2018_idioms)]

pub mod catalog;
pub mod cli;
pub mod lab;
pub mod npy;
pub mod tensor;

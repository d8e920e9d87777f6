//! losslab's integration tests, one binary for all of them but the allocation
//! counters (`*_alloc.rs`, `linear_ce_memory.rs`, which need a binary of their
//! own: a `#[global_allocator]` is one per binary and counts every thread).
//!
//! Each file of `tests/` is a module here (`cargo test -p losslab --test suite
//! metric::` runs one of them). One binary rather than one per file: the library
//! is generic over the float type and the dimension, so each test binary
//! instantiates and optimises the losses it calls again, and links again; on CI's
//! 2 cores one binary per file took about 3 times as long to build.

mod common;
#[path = "broadcast.rs"]
mod broadcast;
#[path = "classification.rs"]
mod classification;
#[path = "contrastive.rs"]
mod contrastive;
#[path = "detseg.rs"]
mod detseg;
#[path = "distillation.rs"]
mod distillation;
#[path = "embedding.rs"]
mod embedding;
#[path = "errors.rs"]
mod errors;
#[path = "fused.rs"]
mod fused;
#[path = "fused_boxes.rs"]
mod fused_boxes;
#[path = "fused_elementwise.rs"]
mod fused_elementwise;
#[path = "fused_half.rs"]
mod fused_half;
#[path = "fused_rows.rs"]
mod fused_rows;
#[path = "fused_triple.rs"]
mod fused_triple;
#[path = "generative.rs"]
mod generative;
#[path = "hostile.rs"]
mod hostile;
#[path = "information.rs"]
mod information;
#[path = "kerasoptax.rs"]
mod kerasoptax;
#[path = "likelihood_margin.rs"]
mod likelihood_margin;
#[path = "linear_ce.rs"]
mod linear_ce;
#[path = "linear_ce_sharded.rs"]
mod linear_ce_sharded;
#[path = "metric.rs"]
mod metric;
#[path = "names.rs"]
mod names;
#[path = "overlap.rs"]
mod overlap;
#[path = "policy.rs"]
mod policy;
#[path = "preference.rs"]
mod preference;
#[path = "properties.rs"]
mod properties;
#[path = "regression.rs"]
mod regression;
#[path = "sequence.rs"]
mod sequence;
#[path = "vocabulary.rs"]
mod vocabulary;

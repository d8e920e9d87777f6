//! Deep metric learning (`pml:`): pytorch-metric-learning's loss objects on
//! `(N, D)` embeddings and `(N,)` integer labels — the angular-margin softmax
//! losses with their class matrix `W` `(D, C)` as a tensor, and the pair losses
//! over every pair of the batch (pml's default: no miner) on cosine similarities.
//!
//! The lifted structure losses take pml's `LpDistance` (Euclidean), N-pairs its
//! `DotProductSimilarity`, each with its `normalize_embeddings` as an option.
//!
//! pml's losses have no reduction argument: with none asked for, each returns
//! its default reducer's result (pml's `MeanReducer` or `AvgNonZeroReducer`,
//! per loss). A reduction asked for picks a reducer: `none` the per-element
//! losses the reducer receives (losslab's), `sum` pml's `SumReducer`, `mean`
//! (and `batchmean`) pml's `MeanReducer`.

use super::call::{Call, Output};
use super::{eval, float, int, opt, Framework, LossSpec, OptionType};
use crate::tensor::FloatElement;
use crate::Result;
use losslab::pml::{ArcFaceLoss, CircleLoss, CosFaceLoss, MetricGradients, MetricReducer, MultiSimilarityLoss, SphereFaceLoss, SupConLoss, LiftedStructureLoss, GeneralizedLiftedStructureLoss, NPairsLoss};
use losslab::Reduction;
use ndarray::ArrayD;

const EMBEDDINGS: super::TensorSpec = float("embeddings", "the embeddings, shape (N, D) (normalised by the loss)");
const LABELS: super::TensorSpec = int("labels", "the class of each embedding, shape (N,), in [0, C)");
const W: super::TensorSpec = float("W", "the class matrix (the loss object's W parameter), shape (D, C) (its columns normalised by the loss)");

pub(super) const LOSSES: &[LossSpec] = &[
    LossSpec {
        framework: Framework::Pml,
        name: "arc_face",
        summary: "ArcFace: cross entropy of scale · cos θ over the normalised class columns of W, the target's angle plus an additive margin (degrees)",
        tensors: &[EMBEDDINGS, LABELS, W],
        options: &[
            opt("margin", OptionType::Float, "28.6", "the additive angular margin, in degrees"),
            opt("scale", OptionType::Float, "64", "the scale of the logits"),
        ],
        default_reduction: None,
        grads: &["embeddings", "W"],
        eval: eval!(arc_face),
    },
    LossSpec {
        framework: Framework::Pml,
        name: "cos_face",
        summary: "CosFace: cross entropy of scale · (cos θ − margin at the target) over the normalised class columns of W",
        tensors: &[EMBEDDINGS, LABELS, W],
        options: &[
            opt("margin", OptionType::Float, "0.35", "the additive cosine margin"),
            opt("scale", OptionType::Float, "64", "the scale of the logits"),
        ],
        default_reduction: None,
        grads: &["embeddings", "W"],
        eval: eval!(cos_face),
    },
    LossSpec {
        framework: Framework::Pml,
        name: "sphere_face",
        summary: "SphereFace (A-Softmax): cross entropy of scale · ‖e‖ · cos θ, the target's angle multiplied by the integer margin (ψ = (−1)ᵏ cos mθ − 2k)",
        tensors: &[EMBEDDINGS, LABELS, W],
        options: &[
            opt("margin", OptionType::Float, "4", "the angular multiplier m (truncated to an integer, as pml's int(margin); at least 1)"),
            opt("scale", OptionType::Float, "1", "the scale of the logits (beside the embedding's norm)"),
        ],
        default_reduction: None,
        grads: &["embeddings", "W"],
        eval: eval!(sphere_face),
    },
    LossSpec {
        framework: Framework::Pml,
        name: "sup_con",
        summary: "supervised contrastive loss: −mean over positives of log softmax(cos/τ) over the other samples, per anchor; pml's AvgNonZeroReducer",
        tensors: &[EMBEDDINGS_PAIRS, LABELS_PAIRS],
        options: &[opt("temperature", OptionType::Float, "0.1", "the temperature τ")],
        default_reduction: None,
        grads: &["embeddings"],
        eval: eval!(sup_con),
    },
    LossSpec {
        framework: Framework::Pml,
        name: "multi_similarity",
        summary: "multi-similarity loss: (1/α) log(1 + Σ_pos e^{−α(s − base)}) + (1/β) log(1 + Σ_neg e^{β(s − base)}) per anchor, cosine s; pml's MeanReducer",
        tensors: &[EMBEDDINGS_PAIRS, LABELS_PAIRS],
        options: &[
            opt("alpha", OptionType::Float, "2", "the positive pairs' weight α"),
            opt("beta", OptionType::Float, "50", "the negative pairs' weight β"),
            opt("base", OptionType::Float, "0.5", "the similarity offset λ"),
        ],
        default_reduction: None,
        grads: &["embeddings"],
        eval: eval!(multi_similarity),
    },
    LossSpec {
        framework: Framework::Pml,
        name: "circle",
        summary: "circle loss: softplus(logsumexp_pos(−γ α_p (s_p − 1 + m)) + logsumexp_neg(γ α_n (s_n − m))) per anchor, α detached, cosine s; pml's AvgNonZeroReducer",
        tensors: &[EMBEDDINGS_PAIRS, LABELS_PAIRS],
        options: &[
            opt("m", OptionType::Float, "0.4", "the relaxation margin m"),
            opt("gamma", OptionType::Float, "80", "the scale γ"),
        ],
        default_reduction: None,
        grads: &["embeddings"],
        eval: eval!(circle),
    },
    LossSpec {
        framework: Framework::Pml,
        name: "lifted_structure",
        summary: "lifted structure loss: relu(log Σ_{negatives of a or p} e^{neg_margin − d} + d_ap − pos_margin)² / 2 per ordered positive pair (a, p), Euclidean d of the normalised embeddings; pml's MeanReducer over the positive pairs",
        tensors: &[EMBEDDINGS_LP, LABELS_PAIRS],
        options: &[NEG_MARGIN, POS_MARGIN, NORMALIZE],
        default_reduction: None,
        grads: &["embeddings"],
        eval: eval!(lifted_structure),
    },
    LossSpec {
        framework: Framework::Pml,
        name: "generalized_lifted_structure",
        summary: "generalized lifted structure loss: relu(log Σ_pos e^{d − pos_margin} + log Σ_neg e^{neg_margin − d}) per anchor, Euclidean d of the normalised embeddings; pml's MeanReducer",
        tensors: &[EMBEDDINGS_LP, LABELS_PAIRS],
        options: &[NEG_MARGIN, POS_MARGIN, NORMALIZE],
        default_reduction: None,
        grads: &["embeddings"],
        eval: eval!(generalized_lifted_structure),
    },
    LossSpec {
        framework: Framework::Pml,
        name: "n_pairs",
        summary: "N-pairs loss: one positive pair per label (its first two samples, labels in increasing order), cross entropy of each anchor's dot products with every pair's positive against its own; pml's MeanReducer over the pairs",
        tensors: &[EMBEDDINGS_DOT, LABELS_PAIRS],
        options: &[NORMALIZE],
        default_reduction: None,
        grads: &["embeddings"],
        eval: eval!(n_pairs),
    },
];

const EMBEDDINGS_LP: super::TensorSpec = float("embeddings", "the embeddings, shape (N, D) (normalised by the loss's LpDistance unless normalize_embeddings is False)");
const EMBEDDINGS_DOT: super::TensorSpec = float("embeddings", "the embeddings, shape (N, D) (normalised by the loss's DotProductSimilarity unless normalize_embeddings is False)");
const NEG_MARGIN: super::OptionSpec = opt("neg_margin", OptionType::Float, "1", "the negative pairs' margin");
const POS_MARGIN: super::OptionSpec = opt("pos_margin", OptionType::Float, "0", "the positive pairs' margin");
const NORMALIZE: super::OptionSpec = opt("normalize_embeddings", OptionType::Bool, "True", "the distance normalises the embeddings (pml's distance argument normalize_embeddings)");

const EMBEDDINGS_PAIRS: super::TensorSpec = float("embeddings", "the embeddings, shape (N, D) (normalised by the loss's CosineSimilarity)");
const LABELS_PAIRS: super::TensorSpec = int("labels", "the label of each embedding, shape (N,): pairs of equal labels are positive, the others negative");

/// The reducer: the loss's own (pml's default) unless a reduction is asked for.
fn reducer<T: FloatElement>(c: &Call<'_, T>, default: MetricReducer) -> MetricReducer {
    match c.reduction {
        None => default,
        Some(Reduction::None) => MetricReducer::None,
        Some(Reduction::Sum) => MetricReducer::Sum,
        Some(Reduction::Mean | Reduction::BatchMean) => MetricReducer::Mean,
    }
}

/// The output of a loss with `forward` and `backward(grad_output)` (or `forward_backward`).
fn finish<T: FloatElement>(
    c: &Call<'_, T>,
    forward: impl FnOnce() -> losslab::Result<ArrayD<T>>,
    forward_backward: impl FnOnce() -> losslab::Result<(ArrayD<T>, MetricGradients<T>)>,
    backward: impl FnOnce(ndarray::ArrayViewD<'_, T>) -> losslab::Result<MetricGradients<T>>,
    weight_name: &'static str,
) -> Result<Output<T>> {
    if !c.want_grads {
        return Ok(Output { value: forward()?, grads: vec![], aux: vec![] });
    }
    let (value, g) = match &c.grad_output {
        None => forward_backward()?,
        Some(_) => {
            let value = forward()?;
            let go = c.grad_output_for(&value)?;
            let g = backward(go.view())?;
            (value, g)
        }
    };
    let mut grads = vec![("embeddings", g.embeddings)];
    if let Some(w) = g.weight {
        grads.push((weight_name, w));
    }
    Ok(Output { value, grads, aux: vec![] })
}

macro_rules! face_eval {
    ($f:ident, $ty:ident) => {
        fn $f<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
            let (e, l, w) = (c.float("embeddings"), c.int("labels"), c.float("W"));
            let loss = $ty::new().margin(c.f64("margin")).scale(c.f64("scale"));
            let loss = loss.clone().reducer(reducer(c, loss.reducer));
            finish(
                c,
                || loss.forward(e.view(), l.view(), w.view()),
                || loss.forward_backward(e.view(), l.view(), w.view()),
                |go| loss.backward(e.view(), l.view(), w.view(), go),
                "W",
            )
        }
    };
}

face_eval!(arc_face, ArcFaceLoss);
face_eval!(cos_face, CosFaceLoss);
face_eval!(sphere_face, SphereFaceLoss);

macro_rules! pair_eval {
    ($f:ident, $loss:expr) => {
        fn $f<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
            let (e, l) = (c.float("embeddings"), c.int("labels"));
            let loss = $loss(c);
            let loss = loss.clone().reducer(reducer(c, loss.reducer));
            finish(
                c,
                || loss.forward(e.view(), l.view()),
                || loss.forward_backward(e.view(), l.view()),
                |go| loss.backward(e.view(), l.view(), go),
                "W",
            )
        }
    };
}

pair_eval!(sup_con, |c: &Call<'_, T>| SupConLoss::new().temperature(c.f64("temperature")));
pair_eval!(multi_similarity, |c: &Call<'_, T>| MultiSimilarityLoss::new().alpha(c.f64("alpha")).beta(c.f64("beta")).base(c.f64("base")));
pair_eval!(circle, |c: &Call<'_, T>| CircleLoss::new().m(c.f64("m")).gamma(c.f64("gamma")));
pair_eval!(lifted_structure, |c: &Call<'_, T>| LiftedStructureLoss::new().neg_margin(c.f64("neg_margin")).pos_margin(c.f64("pos_margin")).normalize_embeddings(c.bool("normalize_embeddings")));
pair_eval!(generalized_lifted_structure, |c: &Call<'_, T>| GeneralizedLiftedStructureLoss::new()
    .neg_margin(c.f64("neg_margin"))
    .pos_margin(c.f64("pos_margin"))
    .normalize_embeddings(c.bool("normalize_embeddings")));
pair_eval!(n_pairs, |c: &Call<'_, T>| NPairsLoss::new().normalize_embeddings(c.bool("normalize_embeddings")));

//! Embedding and ranking losses: PyTorch's cosine embedding and triplet losses,
//! Keras's cosine similarity and circle loss, optax's NT-Xent, triplet margin and ranking softmax.

use super::call::{Call, Output};
use super::{eval, float, int, opt, opt_promoted, promoted, Framework, LossSpec, OptionType, TensorKind, TensorSpec};
use crate::tensor::FloatElement;
use crate::Result;
use losslab::{CosineEmbeddingGradients, CosineEmbeddingLoss, Gradients, RankingSoftmaxLoss, Reduction, TripletDistance, TripletGradients, TripletMarginLoss, TripletMarginWithDistanceLoss, keras, optax};
use ndarray::{ArrayD, ArrayViewD};

// PyTorch promotes integer embeddings; optax refuses them.
const ANCHOR: TensorSpec = promoted("anchor", "anchors, shape (N, D) or (D,) (the distance is along the last axis)");
const POSITIVE: TensorSpec = promoted("positive", "positives: anchor's rank, a shape that broadcasts with anchor's and negative's ((1, D) against (N, D))");
const NEGATIVE: TensorSpec = promoted("negative", "negatives: anchor's rank, a shape that broadcasts with anchor's and positive's");
const MARGIN_1: super::OptionSpec = opt("margin", OptionType::Float, "1.0", "the margin between the distances (> 0)");
const SWAP: super::OptionSpec = opt("swap", OptionType::Bool, "False", "use min(d(a, n), d(p, n)) as the negative distance");

pub(super) const LOSSES: &[LossSpec] = &[
    LossSpec {
        framework: Framework::Torch,
        name: "cosine_embedding_loss",
        summary: "Cosine embedding: 1 − cos for pairs labelled 1, max(0, cos − margin) for pairs labelled −1",
        tensors: &[
            promoted("input1", "first vectors, shape (N, D) or (D,)"),
            promoted("input2", "second vectors: input1's rank, a shape that broadcasts with input1's ((1, D) against (N, D))"),
            promoted("target", "1 or −1 per pair: shape (N,) or (1,) with 2-D inputs, () with 1-D inputs"),
        ],
        options: &[opt("margin", OptionType::Float, "0.0", "the cosine below which dissimilar pairs cost nothing")],
        default_reduction: Some(Reduction::Mean),
        grads: &["input1", "input2"],
        eval: eval!(cosine_embedding),
    },
    LossSpec {
        framework: Framework::Torch,
        name: "triplet_margin_loss",
        summary: "Triplet margin: max(margin + d(a, p) − d(a, n), 0) with d(x, y) = ‖x − y + eps‖_p",
        tensors: &[ANCHOR, POSITIVE, NEGATIVE],
        options: &[
            MARGIN_1,
            opt("p", OptionType::Float, "2.0", "the norm degree (inf allowed)"),
            opt("eps", OptionType::Float, "1e-06", "added to each component of the difference (PyTorch's pairwise_distance)"),
            SWAP,
        ],
        default_reduction: Some(Reduction::Mean),
        grads: &["anchor", "positive", "negative"],
        eval: eval!(triplet),
    },
    LossSpec {
        framework: Framework::Torch,
        name: "triplet_margin_with_distance_loss",
        summary: "Triplet margin with a named distance: pairwise (‖x − y + 1e-6‖₂) or cosine (1 − cos)",
        tensors: &[ANCHOR, POSITIVE, NEGATIVE],
        options: &[
            opt(
                "distance_function",
                OptionType::Choice(&["pairwise", "cosine"]),
                "pairwise",
                "pairwise (PyTorch's None: pairwise_distance) or cosine (1 − cosine_similarity along the last axis)",
            ),
            MARGIN_1,
            SWAP,
        ],
        default_reduction: Some(Reduction::Mean),
        grads: &["anchor", "positive", "negative"],
        eval: eval!(triplet_with_distance),
    },
    LossSpec {
        framework: Framework::Keras,
        name: "cosine_similarity",
        summary: "Negative cosine similarity along an axis (−1 aligned, 0 orthogonal), Keras's l2 normalisation",
        tensors: &[promoted("y_true", "targets, any shape"), float("y_pred", "predictions: a shape that broadcasts with y_true's (NumPy's rule, after Keras squeezes or expands a trailing axis of 1; each normalised over its own axis)")],
        options: &[opt("axis", OptionType::Axis, "-1", "the axis along which the similarity is computed")],
        default_reduction: None,
        grads: &["y_true", "y_pred"],
        eval: eval!(keras_cosine),
    },
    LossSpec {
        framework: Framework::Optax,
        name: "ntxent",
        summary: "NT-Xent / InfoNCE contrastive loss over a batch of embeddings; same label = positive pair",
        tensors: &[float("embeddings", "a batch of embeddings, shape (N, F)"), int("labels", "a group label per embedding, shape (N,)")],
        options: &[opt("temperature", OptionType::Float, "0.07", "the temperature dividing the cosine similarities")],
        default_reduction: None,
        grads: &["embeddings"],
        eval: eval!(ntxent),
    },
    LossSpec {
        framework: Framework::Optax,
        name: "triplet_margin_loss",
        summary: "optax's triplet margin: max((Σ(a − p)^k + eps)^(1/k) − (Σ(a − n)^k + eps)^(1/k) + margin, 0)",
        tensors: &[
            float("anchors", "anchors, any shape with an embedding axis"),
            float("positives", "positives: a shape that broadcasts with anchors' and negatives' (NumPy's rule)"),
            float("negatives", "negatives: a shape that broadcasts with anchors' and positives'"),
        ],
        options: &[
            opt("axis", OptionType::Axis, "-1", "the embedding axis"),
            opt("norm_degree", OptionType::Float, "2", "the power k (no absolute value: odd k is signed)"),
            opt("margin", OptionType::Float, "1.0", "the margin"),
            opt("eps", OptionType::Float, "1e-06", "added to the sum of powers"),
        ],
        default_reduction: None,
        grads: &["anchors", "positives", "negatives"],
        eval: eval!(optax_triplet),
    },
    LossSpec {
        framework: Framework::Optax,
        name: "ranking_softmax_loss",
        summary: "Listwise softmax ranking loss: −Σ labels · log_softmax(logits) over each list (the last axis)",
        tensors: &[
            float("logits", "scores, shape (..., list_size)"),
            promoted("labels", "relevance labels: a shape that broadcasts with logits' (NumPy's rule; not along the logits' own list axis)"),
            TensorSpec { name: "where", required: false, kind: TensorKind::Int, doc: "valid items (nonzero = valid), broadcast to logits' shape" },
            opt_promoted("weights", "a weight per item multiplying the labels, broadcast to logits' shape"),
        ],
        options: &[],
        default_reduction: Some(Reduction::Mean),
        grads: &["logits", "labels"],
        eval: eval!(ranking_softmax),
    },
    LossSpec {
        framework: Framework::Keras,
        name: "circle",
        summary: "Circle loss (Sun et al. 2020) on cosine distances of L2-normalised embeddings, one value per query",
        tensors: &[
            int("y_true", "a label per embedding, shape (N,) or (N, 1)"),
            float("y_pred", "L2-normalised embeddings, shape (N, D)"),
            TensorSpec { name: "ref_labels", required: false, kind: TensorKind::Int, doc: "the references' labels, shape (M,) or (M, 1) (default y_true)" },
            TensorSpec { name: "ref_embeddings", required: false, kind: TensorKind::Float, doc: "L2-normalised reference embeddings, shape (M, D) (default y_pred)" },
        ],
        options: &[
            opt("remove_diagonal", OptionType::Bool, "True", "remove the pairs (i, i) from the positives"),
            opt("gamma", OptionType::Float, "80", "the scale of the logits"),
            opt("margin", OptionType::Float, "0.4", "the relaxation margin"),
        ],
        default_reduction: None,
        grads: &["y_pred", "ref_embeddings"],
        eval: eval!(keras_circle),
    },
];

/// The output of a loss with one gradient per named tensor.
fn finish_named<T: FloatElement>(
    c: &Call<'_, T>,
    value: ArrayD<T>,
    backward: impl FnOnce(ArrayViewD<'_, T>) -> losslab::Result<Vec<(&'static str, ArrayD<T>)>>,
) -> Result<Output<T>> {
    if !c.want_grads {
        return Ok(Output { aux: vec![], value, grads: vec![] });
    }
    let g = c.grad_output_for(&value)?;
    let grads = backward(g.view())?;
    Ok(Output { aux: vec![], value, grads })
}

fn triplet_named<T>(g: TripletGradients<T>, names: [&'static str; 3]) -> Vec<(&'static str, ArrayD<T>)> {
    vec![(names[0], g.anchor), (names[1], g.positive), (names[2], g.negative)]
}

fn cosine_embedding<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = CosineEmbeddingLoss::new().reduction(c.reduction()).margin(c.f64("margin"));
    let (x1, x2) = (c.float("input1"), c.float("input2"));
    let target = c.float("target");
    let both = |g: CosineEmbeddingGradients<T>| Gradients { input: g.input1, target: Some(g.input2) };
    c.finish_once(
        ("input1", Some("input2")),
        || loss.forward(x1.view(), x2.view(), target.view()),
        || loss.forward_backward(x1.view(), x2.view(), target.view()).map(|(v, g)| (v, both(g))),
        |g| loss.backward(x1.view(), x2.view(), target.view(), g).map(both),
    )
}

const TORCH_TRIPLET: [&str; 3] = ["anchor", "positive", "negative"];

fn triplet<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = TripletMarginLoss::new()
        .reduction(c.reduction())
        .margin(c.f64("margin"))
        .p(c.f64("p"))
        .eps(c.f64("eps"))
        .swap(c.bool("swap"));
    let (a, p, n) = (c.float("anchor"), c.float("positive"), c.float("negative"));
    let value = loss.forward(a.view(), p.view(), n.view())?;
    finish_named(c, value, |g| Ok(triplet_named(loss.backward(a.view(), p.view(), n.view(), g)?, TORCH_TRIPLET)))
}

fn triplet_with_distance<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let distance: TripletDistance = c.name("distance_function").parse()?;
    let loss = TripletMarginWithDistanceLoss::new()
        .reduction(c.reduction())
        .distance_function(distance)
        .margin(c.f64("margin"))
        .swap(c.bool("swap"));
    let (a, p, n) = (c.float("anchor"), c.float("positive"), c.float("negative"));
    let value = loss.forward(a.view(), p.view(), n.view())?;
    finish_named(c, value, |g| Ok(triplet_named(loss.backward(a.view(), p.view(), n.view(), g)?, TORCH_TRIPLET)))
}

fn keras_cosine<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = keras::CosineSimilarity::new().reduction(c.reduction()).axis(c.axis("axis")?);
    let (t, p) = (c.float("y_true"), c.float("y_pred"));
    c.finish_once(("y_pred", Some("y_true")), || loss.forward(t.view(), p.view()), || loss.forward_backward(t.view(), p.view()), |g| loss.backward(t.view(), p.view(), g))
}

fn ntxent<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = optax::NtXent::new().reduction(c.reduction()).temperature(c.f64("temperature"));
    let (e, l) = (c.float("embeddings"), c.int("labels"));
    c.finish_once(("embeddings", None), || loss.forward(e.view(), l.view()), || loss.forward_backward(e.view(), l.view()), |g| loss.backward(e.view(), l.view(), g))
}

fn optax_triplet<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = optax::TripletMarginLoss::new()
        .reduction(c.reduction())
        .axis(c.axis("axis")?)
        .norm_degree(c.f64("norm_degree"))
        .margin(c.f64("margin"))
        .eps(c.f64("eps"));
    let (a, p, n) = (c.float("anchors"), c.float("positives"), c.float("negatives"));
    let value = loss.forward(a.view(), p.view(), n.view())?;
    finish_named(c, value, |g| Ok(triplet_named(loss.backward(a.view(), p.view(), n.view(), g)?, ["anchors", "positives", "negatives"])))
}

fn ranking_softmax<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let mut loss = RankingSoftmaxLoss::new().reduction(c.reduction());
    if c.is_int("where") {
        loss = loss.where_(c.int("where").mapv(|v| v != 0).view());
    }
    if let Some(w) = c.opt_float("weights") {
        loss = loss.weights(w);
    }
    let (s, y) = (c.float("logits"), c.float("labels"));
    c.finish_once(("logits", Some("labels")), || loss.forward(s.view(), y.view()), || loss.forward_backward(s.view(), y.view()), |g| loss.backward(s.view(), y.view(), g))
}

fn keras_circle<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = keras::Circle::new()
        .reduction(c.reduction())
        .remove_diagonal(c.bool("remove_diagonal"))
        .gamma(c.f64("gamma"))
        .margin(c.f64("margin"));
    let (t, p) = (c.int("y_true"), c.float("y_pred"));
    let rl = c.is_int("ref_labels").then(|| c.int("ref_labels"));
    let re = c.opt_float("ref_embeddings");
    c.finish_once(
        ("y_pred", Some("ref_embeddings")),
        || loss.forward_with_refs(t.view(), p.view(), rl.clone(), re.clone()),
        || loss.forward_backward_with_refs(t.view(), p.view(), rl.clone(), re.clone()),
        |g| loss.backward_with_refs(t.view(), p.view(), rl.clone(), re.clone(), g),
    )
}

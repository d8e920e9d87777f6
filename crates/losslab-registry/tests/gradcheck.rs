//! Every gradient the catalog returns, checked by central finite differences in
//! float64, for every loss, every reduction (the default included) and an
//! upstream gradient that is not all ones.
//!
//! The golden suite checks gradients against the references' autograd where
//! the reference has one; SciPy's and losslab's information functions have
//! none, so this suite is what checks theirs (and the catalog's own reduction
//! of functions without a reduction argument, and the routing of each
//! gradient to its tensor's name).

use losslab::Reduction;
use losslab_registry::{catalog, evaluate, EvalRequest, Name, OptionValue, Tensor, TensorKind};
use ndarray::{arr1, ArrayD, IxDyn};
use std::collections::{BTreeMap, BTreeSet};

fn f(shape: &[usize], data: &[f64]) -> Tensor {
    Tensor::F64(ArrayD::from_shape_vec(IxDyn(shape), data.to_vec()).unwrap())
}

fn i(data: &[i64]) -> Tensor {
    Tensor::I64(arr1(data).into_dyn())
}

/// A test setup: a loss, its tensors and options, away from kinks and domain edges.
struct Setup {
    loss: &'static str,
    tensors: Vec<(&'static str, Tensor)>,
    options: Vec<(&'static str, OptionValue)>,
}

fn setup(loss: &'static str, tensors: Vec<(&'static str, Tensor)>, options: Vec<(&'static str, OptionValue)>) -> Setup {
    Setup { loss, tensors, options }
}

fn setups() -> Vec<Setup> {
    use OptionValue::{Bool, Float, Int};
    let x = f(&[2, 3], &[0.3, -1.7, 2.2, 0.9, 0.05, -0.4]);
    let y = f(&[2, 3], &[0.1, 0.4, -0.6, 1.3, -0.8, 0.2]);
    let logits = f(&[2, 3], &[0.5, -1.0, 2.0, 1.5, 0.25, -0.75]);
    let probs = f(&[2, 3], &[0.2, 0.5, 0.3, 0.6, 0.1, 0.3]);
    let probs2 = f(&[2, 3], &[0.4, 0.35, 0.25, 0.15, 0.45, 0.4]);
    let p01 = f(&[2, 3], &[0.3, 0.8, 0.55, 0.1, 0.6, 0.9]);
    let t01 = f(&[2, 3], &[0.2, 0.95, 0.05, 0.5, 0.7, 0.3]);
    let unnorm = f(&[2, 3], &[1.0, 3.0, 2.0, 0.5, 4.0, 1.5]);
    let unnorm2 = f(&[2, 3], &[2.0, 1.0, 1.0, 3.0, 0.5, 2.5]);
    let cw = f(&[3], &[0.5, 1.0, 2.0]);
    let ctc_x = f(&[4, 2, 3], &[0.3, -1.2, 0.8, 1.1, 0.2, -0.5, -0.7, 0.9, 0.1, 0.4, -0.3, 1.3, 0.6, 0.5, -1.0, -0.2, 1.4, 0.0, 1.0, -0.6, 0.2, 0.7, 0.3, -0.9]);
    let Tensor::F64(a) = &ctc_x else { unreachable!() };
    let ctc_x_batch_major = a.clone().permuted_axes(IxDyn(&[1, 0, 2])).as_standard_layout().to_owned();
    let ctc_labels = Tensor::I64(ndarray::arr2(&[[1i64, 1], [2, 0]]).into_dyn());
    let rnnt_vals: Vec<f64> = (0..72).map(|k| f64::from((k * 37) % 23) / 7.0 - 1.5).collect();
    let rnnt_x = f(&[2, 3, 3, 4], &rnnt_vals);
    let i2 = |rows: &[[i64; 2]]| Tensor::I64(ndarray::arr2(rows).into_dyn());
    // Embeddings of norm below 1 (dot products below 1: no clamp), away from the circle loss's ties.
    let emb = f(&[4, 3], &[0.5, 0.3, -0.2, 0.1, -0.6, 0.4, 0.45, 0.2, 0.1, -0.3, 0.5, 0.35]);
    let emb_scaled = f(&[4, 3], &[0.45, 0.27, -0.18, 0.09, -0.54, 0.36, 0.405, 0.18, 0.09, -0.27, 0.45, 0.315]);
    let refs = f(&[5, 3], &[0.2, 0.6, -0.1, -0.4, 0.1, 0.5, 0.3, -0.3, 0.6, 0.55, 0.05, 0.2, -0.1, -0.5, -0.45]);
    vec![
        setup("torch:mse_loss", vec![("input", x.clone()), ("target", y.clone())], vec![]),
        setup("torch:l1_loss", vec![("input", x.clone()), ("target", y.clone())], vec![]),
        setup("torch:smooth_l1_loss", vec![("input", x.clone()), ("target", y.clone())], vec![]),
        setup("torch:smooth_l1_loss", vec![("input", x.clone()), ("target", y.clone())], vec![("beta", Float(0.5))]),
        setup("torch:huber_loss", vec![("input", x.clone()), ("target", y.clone())], vec![("delta", Float(1.5))]),
        setup("torch:cross_entropy", vec![("input", logits.clone()), ("target", i(&[2, 0]))], vec![]),
        // The LM head: hidden states (2, 2), a (3, 2) head with its bias; weights, smoothing, z-loss, soft-cap, scale.
        setup(
            "torch:linear_cross_entropy",
            vec![
                ("input", f(&[2, 2], &[0.6, -1.1, 0.9, 0.4])),
                ("linear_weight", f(&[3, 2], &[0.5, -0.3, 1.2, 0.8, -0.7, 0.25])),
                ("linear_bias", f(&[3], &[0.1, -0.2, 0.3])),
                ("weight", cw.clone()),
                ("target", i(&[2, 0])),
            ],
            vec![("label_smoothing", Float(0.1)), ("lse_square_scale", Float(0.05)), ("softcap", Float(2.0)), ("logit_scale", Float(1.3))],
        ),
        setup(
            "torch:cross_entropy",
            vec![("input", logits.clone()), ("target", i(&[2, 1])), ("weight", cw.clone())],
            vec![("label_smoothing", Float(0.1))],
        ),
        setup("torch:cross_entropy", vec![("input", logits.clone()), ("target", i(&[2, 1]))], vec![("ignore_index", Int(1))]),
        setup("torch:cross_entropy", vec![("input", logits.clone()), ("target", probs.clone())], vec![("label_smoothing", Float(0.2))]),
        setup(
            "torch:cross_entropy",
            vec![("input", logits.clone()), ("target", probs.clone()), ("weight", cw.clone())],
            vec![("label_smoothing", Float(0.2))],
        ),
        setup("torch:nll_loss", vec![("input", logits.clone()), ("target", i(&[1, 2])), ("weight", cw.clone())], vec![]),
        setup("torch:binary_cross_entropy", vec![("input", p01.clone()), ("target", t01.clone()), ("weight", cw.clone())], vec![]),
        setup(
            "torch:binary_cross_entropy_with_logits",
            vec![("input", logits.clone()), ("target", t01.clone()), ("weight", f(&[2, 1], &[0.5, 2.0])), ("pos_weight", cw.clone())],
            vec![],
        ),
        setup("torch:kl_div", vec![("input", logits.clone()), ("target", probs.clone())], vec![]),
        setup("torch:kl_div", vec![("input", logits.clone()), ("target", logits.clone())], vec![("log_target", Bool(true))]),
        setup("tf:softmax_cross_entropy_with_logits", vec![("labels", probs.clone()), ("logits", logits.clone())], vec![]),
        // Labels that sum to 1 along the class axis: for others, TensorFlow's
        // gradient (softmax − labels, which losslab reproduces, checked by the
        // golden case `unnormalised-rows`) is not the derivative of the loss.
        setup(
            "tf:softmax_cross_entropy_with_logits",
            vec![("labels", f(&[2, 3], &[0.25, 0.5, 0.7, 0.75, 0.5, 0.3])), ("logits", logits.clone())],
            vec![("axis", Int(0))],
        ),
        setup("tf:sparse_softmax_cross_entropy_with_logits", vec![("labels", i(&[2, 0])), ("logits", logits.clone())], vec![]),
        setup("scipy:entropy", vec![("pk", unnorm.clone())], vec![]),
        setup("scipy:entropy", vec![("pk", unnorm.clone())], vec![("axis", Int(1)), ("base", Float(2.0))]),
        setup("scipy:entropy", vec![("pk", unnorm.clone()), ("qk", unnorm2.clone())], vec![]),
        setup("scipy:entropy", vec![("pk", unnorm.clone()), ("qk", unnorm2.clone())], vec![("axis", Int(-1)), ("base", Int(10))]),
        setup("losslab:self_information", vec![("p", p01.clone())], vec![]),
        setup("losslab:self_information", vec![("p", p01.clone())], vec![("base", Float(2.0))]),
        setup("losslab:entropy", vec![("p", probs.clone())], vec![]),
        setup("losslab:entropy", vec![("p", probs.clone())], vec![("axis", Int(0)), ("base", Float(2.0))]),
        setup("losslab:binary_entropy", vec![("p", p01.clone())], vec![]),
        setup("losslab:binary_entropy", vec![("p", p01.clone())], vec![("base", Float(2.0))]),
        setup("losslab:cross_entropy", vec![("p", probs.clone()), ("q", probs2.clone())], vec![]),
        setup("losslab:cross_entropy", vec![("p", probs.clone()), ("q", probs2.clone())], vec![("axis", Int(0)), ("base", Float(2.0))]),
        setup("losslab:kl_divergence", vec![("p", probs.clone()), ("q", probs2.clone())], vec![]),
        setup("losslab:kl_divergence", vec![("p", probs.clone()), ("q", probs2.clone())], vec![("axis", Int(0)), ("base", Float(2.0))]),
        setup("losslab:js_divergence", vec![("p", probs.clone()), ("q", probs2.clone())], vec![]),
        setup("losslab:js_divergence", vec![("p", probs.clone()), ("q", probs2.clone())], vec![("axis", Int(0)), ("base", Float(2.0))]),
        // The RNN transducer: 2 sequences (3 frames, labels "1 2"; 2 frames, label "0"), 4 classes, blank the last.
        setup(
            "torchaudio:rnnt_loss",
            vec![("logits", rnnt_x.clone()), ("targets", i2(&[[1, 2], [0, 0]])), ("logit_lengths", i(&[3, 2])), ("target_lengths", i(&[2, 1]))],
            vec![],
        ),
        setup(
            "torchaudio:rnnt_loss",
            vec![("logits", rnnt_x.clone()), ("targets", i2(&[[1, 2], [0, 0]])), ("logit_lengths", i(&[3, 2])), ("target_lengths", i(&[2, 1]))],
            vec![("blank", Int(0)), ("fused_log_softmax", Bool(false))],
        ),
        // CTC: 4 frames, 3 classes, 2 sequences (labels "1 1" and "2", 4 and 3 frames).
        setup(
            "torch:ctc_loss",
            vec![("log_probs", ctc_x.clone()), ("targets", ctc_labels.clone()), ("input_lengths", i(&[4, 3])), ("target_lengths", i(&[2, 1]))],
            vec![],
        ),
        setup(
            "tf:ctc_loss",
            vec![("labels", ctc_labels.clone()), ("logits", ctc_x.clone()), ("label_length", i(&[2, 1])), ("logit_length", i(&[4, 3]))],
            vec![],
        ),
        setup(
            "optax:ctc_loss",
            vec![
                ("logits", Tensor::F64(ctc_x_batch_major.clone())),
                ("logit_paddings", f(&[2, 4], &[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0])),
                ("labels", ctc_labels),
                ("label_paddings", f(&[2, 2], &[0.0, 0.0, 0.0, 1.0])),
            ],
            vec![("log_epsilon", Float(-50.0))],
        ),
        // embedding & ranking: triplets with every hinge active and no distance ties
        setup("torch:cosine_embedding_loss", vec![("input1", x.clone()), ("input2", y.clone()), ("target", f(&[2], &[1.0, -1.0]))], vec![]),
        setup(
            "torch:cosine_embedding_loss",
            vec![("input1", x.clone()), ("input2", y.clone()), ("target", i(&[-1, 1]))],
            vec![("margin", Float(-0.5))],
        ),
        setup("torch:triplet_margin_loss", vec![("anchor", x.clone()), ("positive", y.clone()), ("negative", logits.clone())], vec![("margin", Float(4.0))]),
        setup(
            "torch:triplet_margin_loss",
            vec![("anchor", x.clone()), ("positive", y.clone()), ("negative", logits.clone())],
            vec![("margin", Float(4.0)), ("p", Float(3.0)), ("swap", Bool(true)), ("eps", Float(0.0))],
        ),
        setup(
            "torch:triplet_margin_with_distance_loss",
            vec![("anchor", x.clone()), ("positive", y.clone()), ("negative", logits.clone())],
            vec![("distance_function", OptionValue::Name(Name::new("cosine").unwrap())), ("margin", Float(2.5)), ("swap", Bool(true))],
        ),
        setup("torch:triplet_margin_with_distance_loss", vec![("anchor", x.clone()), ("positive", y.clone()), ("negative", logits.clone())], vec![("margin", Float(4.0))]),
        setup("keras:cosine_similarity", vec![("y_true", x.clone()), ("y_pred", y.clone())], vec![]),
        setup("keras:cosine_similarity", vec![("y_true", x.clone()), ("y_pred", y.clone())], vec![("axis", Int(0))]),
        setup(
            "optax:ntxent",
            vec![("embeddings", f(&[4, 3], &[0.3, -1.7, 2.2, 0.9, 0.05, -0.4, 0.1, 0.4, -0.6, 1.3, -0.8, 0.2])), ("labels", i(&[0, 1, 0, 1]))],
            vec![("temperature", Float(0.5))],
        ),
        setup("optax:triplet_margin_loss", vec![("anchors", x.clone()), ("positives", y.clone()), ("negatives", logits.clone())], vec![("margin", Float(4.0))]),
        setup(
            "optax:triplet_margin_loss",
            vec![("anchors", x.clone()), ("positives", y.clone()), ("negatives", logits.clone())],
            vec![("axis", Int(0)), ("norm_degree", Float(4.0)), ("margin", Float(4.0))],
        ),
        setup("optax:ranking_softmax_loss", vec![("logits", logits.clone()), ("labels", unnorm.clone())], vec![]),
        setup(
            "optax:ranking_softmax_loss",
            vec![("logits", logits.clone()), ("labels", unnorm.clone()), ("where", Tensor::I64(ndarray::arr2(&[[1i64, 0, 1], [1, 1, 1]]).into_dyn())), ("weights", cw.clone())],
            vec![],
        ),
        // Likelihood and margin losses, away from their kinks (ties at a margin, a Poisson target at 0 or 1).
        setup("torch:poisson_nll_loss", vec![("input", x.clone()), ("target", unnorm.clone())], vec![]),
        setup(
            "torch:poisson_nll_loss",
            vec![("input", p01.clone()), ("target", f(&[2, 3], &[0.5, 1.5, 2.0, 3.0, 0.25, 4.0]))],
            vec![("log_input", Bool(false)), ("full", Bool(true)), ("eps", Float(0.01))],
        ),
        setup("torch:gaussian_nll_loss", vec![("input", x.clone()), ("target", y.clone()), ("var", unnorm.clone())], vec![("full", Bool(true))]),
        setup("torch:gaussian_nll_loss", vec![("input", x.clone()), ("target", y.clone()), ("var", f(&[2], &[0.5, 2.0]))], vec![]),
        setup("torch:gaussian_nll_loss", vec![("input", x.clone()), ("target", y.clone()), ("var", f(&[1, 3], &[0.5, 2.0, 0.75]))], vec![]),
        setup(
            "torch:margin_ranking_loss",
            vec![("input1", x.clone()), ("input2", y.clone()), ("target", f(&[2, 3], &[1.0, -1.0, 1.0, -1.0, -1.0, 1.0]))],
            vec![("margin", Float(0.5))],
        ),
        setup("torch:hinge_embedding_loss", vec![("input", p01.clone()), ("target", f(&[2, 3], &[1.0, -1.0, -1.0, 1.0, -1.0, 0.5]))], vec![]),
        setup("torch:soft_margin_loss", vec![("input", x.clone()), ("target", f(&[2, 3], &[1.0, -1.0, -1.0, 1.0, -1.0, 1.0]))], vec![]),
        setup("torch:multilabel_soft_margin_loss", vec![("input", logits.clone()), ("target", t01.clone()), ("weight", cw.clone())], vec![]),
        setup("torch:multilabel_margin_loss", vec![("input", x.clone()), ("target", Tensor::I64(ndarray::arr2(&[[0i64, -1, -1], [1, 2, -1]]).into_dyn()))], vec![]),
        setup(
            "torch:multi_margin_loss",
            vec![("input", logits.clone()), ("target", i(&[0, 2])), ("weight", cw.clone())],
            vec![("p", Int(2)), ("margin", Float(2.0))],
        ),
        setup("tf:sigmoid_cross_entropy_with_logits", vec![("labels", t01.clone()), ("logits", logits.clone())], vec![]),
        setup(
            "tf:weighted_cross_entropy_with_logits",
            vec![("labels", t01.clone()), ("logits", logits.clone()), ("pos_weight", cw.clone())],
            vec![],
        ),
        setup(
            "tf:log_poisson_loss",
            vec![("targets", f(&[2, 3], &[0.5, 1.5, 2.0, 3.0, 0.25, 4.0])), ("log_input", x.clone())],
            vec![("compute_full_loss", Bool(true))],
        ),
        setup("tf:l2_loss", vec![("t", x.clone())], vec![]),
        setup("keras:poisson", vec![("y_true", unnorm.clone()), ("y_pred", p01.clone())], vec![]),
        setup("keras:hinge", vec![("y_true", f(&[2, 3], &[1.0, -1.0, 1.0, -1.0, 1.0, 1.0])), ("y_pred", x.clone())], vec![]),
        setup("keras:squared_hinge", vec![("y_true", f(&[2, 3], &[1.0, -1.0, 1.0, -1.0, 1.0, 1.0])), ("y_pred", x.clone())], vec![]),
        setup("keras:categorical_hinge", vec![("y_true", f(&[2, 3], &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0])), ("y_pred", logits.clone())], vec![]),
        setup("optax:multiclass_hinge_loss", vec![("scores", logits.clone()), ("labels", i(&[2, 0]))], vec![]),
        setup("optax:multiclass_perceptron_loss", vec![("scores", logits.clone()), ("labels", i(&[0, 2]))], vec![]),
        setup("optax:perceptron_loss", vec![("predictor_outputs", x.clone()), ("targets", f(&[2, 3], &[1.0, 1.0, -1.0, 1.0, -1.0, 1.0]))], vec![]),
        // Keras and optax (family kerasoptax)
        setup("keras:binary_crossentropy", vec![("y_true", t01.clone()), ("y_pred", p01.clone())], vec![("label_smoothing", Float(0.1))]),
        setup("keras:binary_crossentropy", vec![("y_true", t01.clone()), ("y_pred", logits.clone())], vec![("from_logits", Bool(true)), ("axis", Int(0))]),
        setup("keras:binary_focal_crossentropy", vec![("y_true", t01.clone()), ("y_pred", p01.clone())], vec![("apply_class_balancing", Bool(true))]),
        setup("keras:binary_focal_crossentropy", vec![("y_true", t01.clone()), ("y_pred", logits.clone())], vec![("from_logits", Bool(true)), ("gamma", Float(1.5))]),
        setup("keras:categorical_crossentropy", vec![("y_true", probs.clone()), ("y_pred", unnorm.clone())], vec![("label_smoothing", Float(0.2))]),
        setup("keras:categorical_crossentropy", vec![("y_true", probs.clone()), ("y_pred", logits.clone())], vec![("from_logits", Bool(true))]),
        setup("keras:categorical_focal_crossentropy", vec![("y_true", probs.clone()), ("y_pred", unnorm.clone())], vec![]),
        setup("keras:categorical_focal_crossentropy", vec![("y_true", probs.clone()), ("y_pred", logits.clone())], vec![("from_logits", Bool(true)), ("axis", Int(0))]),
        setup("keras:sparse_categorical_crossentropy", vec![("y_true", i(&[2, 0])), ("y_pred", unnorm.clone())], vec![]),
        setup("keras:sparse_categorical_crossentropy", vec![("y_true", i(&[2, 1])), ("y_pred", logits.clone())], vec![("from_logits", Bool(true)), ("ignore_class", Int(1))]),
        setup("keras:categorical_generalized_cross_entropy", vec![("y_true", i(&[1, 2])), ("y_pred", probs.clone())], vec![("q", Float(0.7))]),
        setup("keras:kl_divergence", vec![("y_true", probs.clone()), ("y_pred", probs2.clone())], vec![]),
        setup("keras:log_cosh", vec![("y_true", y.clone()), ("y_pred", x.clone())], vec![]),
        setup("keras:mean_squared_logarithmic_error", vec![("y_true", unnorm.clone()), ("y_pred", unnorm2.clone())], vec![]),
        setup("keras:mean_absolute_percentage_error", vec![("y_true", y.clone()), ("y_pred", x.clone())], vec![]),
        setup("optax:poly_loss_cross_entropy", vec![("logits", logits.clone()), ("labels", probs.clone())], vec![("epsilon", Float(-1.0))]),
        setup("optax:safe_softmax_cross_entropy", vec![("logits", logits.clone()), ("labels", probs.clone())], vec![]),
        setup("optax:sparsemax_loss", vec![("logits", x.clone()), ("labels", Tensor::I64(ndarray::arr2(&[[1, 0, 1], [0, 0, 1]]).into_dyn()))], vec![]),
        setup("optax:multiclass_sparsemax_loss", vec![("scores", x.clone()), ("labels", i(&[0, 2]))], vec![]),
        setup("optax:kl_divergence", vec![("log_predictions", logits.clone()), ("targets", probs.clone())], vec![]),
        setup("optax:generalized_kl_divergence", vec![("log_predictions", logits.clone()), ("targets", unnorm.clone())], vec![]),
        setup("optax:kl_divergence_with_log_targets", vec![("log_predictions", logits.clone()), ("log_targets", x.clone())], vec![]),
        setup("optax:smooth_labels", vec![("labels", probs.clone())], vec![("alpha", Float(0.1))]),
        setup("optax:huber_loss", vec![("predictions", x.clone()), ("targets", y.clone())], vec![("delta", Float(0.5))]),
        setup("optax:huber_loss", vec![("predictions", x.clone())], vec![]),
        setup("optax:log_cosh", vec![("predictions", x.clone()), ("targets", y.clone())], vec![]),
        // The names of issue 12 (golden file names.json).
        setup("keras:huber", vec![("y_true", y.clone()), ("y_pred", x.clone())], vec![]),
        setup("keras:huber", vec![("y_true", y.clone()), ("y_pred", x.clone())], vec![("delta", Float(0.5))]),
        setup("keras:circle", vec![("y_true", i(&[0, 1, 0, 1])), ("y_pred", emb.clone())], vec![("gamma", Float(8.0))]),
        setup(
            "keras:circle",
            vec![("y_true", i(&[0, 1, 0, 1])), ("y_pred", emb.clone()), ("ref_labels", i(&[1, 0, 2, 1, 0])), ("ref_embeddings", refs)],
            vec![("gamma", Float(6.0)), ("margin", Float(0.25)), ("remove_diagonal", Bool(false))],
        ),
        setup("keras:circle", vec![("y_true", i(&[0, 1, 0, 1])), ("y_pred", emb.clone()), ("ref_embeddings", emb_scaled)], vec![("gamma", Float(8.0))]),
        setup("keras:ctc", vec![("y_true", Tensor::I64(ndarray::arr2(&[[1i64, 2, 0], [2, 0, 0]]).into_dyn())), ("y_pred", Tensor::F64(ctc_x_batch_major.clone()))], vec![]),
        setup("tf:weighted_cross_entropy_with_logits", vec![("labels", t01.clone()), ("logits", logits.clone())], vec![("pos_weight", Float(2.5))]),
        setup("optax:sparsemax_loss", vec![("logits", x), ("labels", f(&[2, 3], &[1.0, 0.0, 0.5, 0.0, -0.0, 2.0]))], vec![]),
    ]
    .into_iter()
    .chain(detseg_setups())
    .chain(contrastive_generative_setups())
    .chain(preference_setups())
    .chain(metric_setups())
    .chain(token_setups())
    .chain(vocabulary_setups())
    .chain(policy_setups())
    .collect()
}

/// Detection and segmentation (src/detseg.rs): inputs away from ties and kinks.
fn detseg_setups() -> Vec<Setup> {
    use OptionValue::{Bool, Float, Int};
    let logits = f(&[2, 3], &[0.5, -1.0, 2.0, 1.5, 0.25, -0.75]);
    let t01 = f(&[2, 3], &[0.2, 0.95, 0.05, 0.5, 0.7, 0.3]);
    let p01 = f(&[2, 3], &[0.3, 0.8, 0.55, 0.1, 0.6, 0.9]);
    let b1 = f(&[3, 4], &[0.0, 0.0, 2.0, 3.0, 1.0, 1.5, 4.0, 3.25, 5.0, 5.0, 6.5, 7.0]);
    let b2 = f(&[3, 4], &[0.5, 1.0, 3.0, 2.5, 9.0, 8.0, 10.5, 9.75, 4.25, 5.5, 7.0, 6.0]);
    // CIoU's α has no gradient (torch.no_grad), so finite differences of the full
    // loss agree with it only where v = 0: boxes of equal aspect ratios (the golden
    // suite checks the general case against torch's autograd).
    let c1 = f(&[2, 4], &[0.0, 0.0, 2.0, 1.0, 1.0, 1.0, 2.0, 4.0]);
    let c2 = f(&[2, 4], &[0.5, 0.25, 4.5, 2.25, 1.5, 0.0, 2.5, 3.0]);
    let x4 = f(&[2, 2, 3], &[0.5, -1.0, 2.0, 1.5, 0.25, -0.75, 0.1, 0.9, -0.3, 1.2, -1.1, 0.4]);
    let t4 = f(&[2, 2, 3], &[1.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.0, 0.0, 1.0, 0.25, 0.25, 0.5]);
    let probas = f(&[1, 3, 4], &[0.7, 0.15, 0.1, 0.35, 0.2, 0.6, 0.25, 0.45, 0.1, 0.25, 0.65, 0.2]);
    vec![
        setup("torchvision:sigmoid_focal_loss", vec![("inputs", logits.clone()), ("targets", t01.clone())], vec![]),
        setup(
            "torchvision:sigmoid_focal_loss",
            vec![("inputs", logits.clone()), ("targets", t01.clone())],
            vec![("alpha", Int(-1)), ("gamma", Float(0.5))],
        ),
        setup("torchvision:generalized_box_iou_loss", vec![("boxes1", b1.clone()), ("boxes2", b2.clone())], vec![]),
        setup("torchvision:distance_box_iou_loss", vec![("boxes1", b1.clone()), ("boxes2", b2.clone())], vec![("eps", Float(0.1))]),
        setup("torchvision:complete_box_iou_loss", vec![("boxes1", c1), ("boxes2", c2)], vec![("eps", Float(0.1))]),
        setup("keras:dice", vec![("y_true", t01.clone()), ("y_pred", p01.clone())], vec![]),
        setup("keras:dice", vec![("y_true", t01.clone()), ("y_pred", p01.clone())], vec![("axis", Int(1))]),
        setup(
            "keras:tversky",
            vec![("y_true", t01.clone()), ("y_pred", p01.clone())],
            vec![("alpha", Float(0.7)), ("beta", Float(0.3)), ("axis", Int(-1))],
        ),
        setup("optax:dice_loss", vec![("predictions", x4.clone()), ("targets", t4.clone())], vec![]),
        setup(
            "optax:dice_loss",
            vec![("predictions", x4.clone()), ("targets", t4.clone()), ("class_weights", f(&[3], &[0.5, 1.0, 2.0]))],
            vec![("alpha", Float(0.3)), ("beta", Float(0.8)), ("ignore_background", Bool(true)), ("axis", Int(0))],
        ),
        setup("optax:binary_dice_loss", vec![("predictions", logits.clone()), ("targets", t01.clone())], vec![("smooth", Float(0.5))]),
        setup("optax:multiclass_generalized_dice_loss", vec![("predictions", x4.clone()), ("targets", t4)], vec![]),
        setup("losslab:softmax_focal_loss", vec![("input", logits.clone()), ("target", i(&[2, 0]))], vec![]),
        setup(
            "losslab:softmax_focal_loss",
            vec![("input", logits.clone()), ("target", i(&[1, 2])), ("alpha", f(&[3], &[0.25, 0.5, 1.0]))],
            vec![("gamma", Float(0.5))],
        ),
        setup("losslab:quantile_loss", vec![("input", logits), ("target", p01.clone())], vec![("quantile", Float(0.8))]),
        setup("losslab:jaccard_loss", vec![("input", p01.clone()), ("target", t01.clone())], vec![]),
        setup("losslab:jaccard_loss", vec![("input", p01), ("target", t01)], vec![("smooth", Float(0.0)), ("axis", Int(0))]),
        setup("losslab:lovasz_softmax", vec![("probas", probas.clone()), ("labels", Tensor::I64(ndarray::arr2(&[[0i64, 1, 1, 2]]).into_dyn()))], vec![]),
        setup(
            "losslab:lovasz_softmax",
            vec![("probas", probas), ("labels", Tensor::I64(ndarray::arr2(&[[0i64, 1, 9, 1]]).into_dyn()))],
            vec![("present", Bool(false)), ("per_image", Bool(true)), ("ignore", Int(9))],
        ),
    ]
}

/// TRL's preference losses: every DPO loss type (with lengths for ipo and
/// sigmoid_norm), every f-divergence, every CPO loss type with and without
/// AlphaPO's α, ORPO, both KTO loss types (the KL estimate positive and
/// clamped, an empty side; the KL inputs are [`DETACHED`]); log-ratios away
/// from hinge's kink and the sorts' ties, KL means away from the clamp.
fn preference_setups() -> Vec<Setup> {
    use OptionValue::{Float, Name as N};
    let name = |s: &str| N(losslab_registry::Name::new(s).unwrap());
    let c = f(&[4], &[-10.3, -7.9, -12.6, -9.1]);
    let r = f(&[4], &[-11.2, -8.4, -10.7, -13.5]);
    let rc = f(&[4], &[-10.9, -7.1, -12.2, -10.4]);
    let rr = f(&[4], &[-10.6, -9.3, -11.8, -12.7]);
    let nc = f(&[4], &[3.0, 0.0, 5.0, 2.0]);
    let nr = f(&[4], &[4.0, 2.0, 1.0, 6.0]);
    let dpo = || vec![("chosen_logps", c.clone()), ("rejected_logps", r.clone()), ("ref_chosen_logps", rc.clone()), ("ref_rejected_logps", rr.clone())];
    let mut v = Vec::new();
    for lt in [
        "sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot", "aot_unpaired", "apo_zero", "apo_down", "discopop", "sigmoid_norm",
    ] {
        let mut t = dpo();
        if lt == "ipo" || lt == "sigmoid_norm" {
            t.push(("chosen_lengths", nc.clone()));
            t.push(("rejected_lengths", nr.clone()));
        }
        let ls = if matches!(lt, "exo_pair" | "robust" | "aot" | "aot_unpaired") { 0.15 } else { 0.0 };
        v.push(setup("trl:dpo_loss", t, vec![("loss_type", name(lt)), ("beta", Float(0.7)), ("label_smoothing", Float(ls)), ("discopop_tau", Float(0.4))]));
    }
    for fd in ["forward_kl", "js_divergence", "alpha_divergence"] {
        for lt in ["sigmoid", "ipo", "discopop"] {
            let mut t = dpo();
            if lt == "ipo" {
                t.push(("chosen_lengths", nc.clone()));
                t.push(("rejected_lengths", nr.clone()));
            }
            v.push(setup("trl:dpo_loss", t, vec![("loss_type", name(lt)), ("beta", Float(0.5)), ("f_divergence_type", name(fd)), ("f_alpha_divergence_coef", Float(0.3))]));
        }
    }
    let ac = f(&[3], &[-0.4, -1.3, -0.9]);
    let ar = f(&[3], &[-1.1, -0.7, -2.0]);
    for lt in ["sigmoid", "hinge", "ipo", "simpo"] {
        for alpha in [0.0, 0.3] {
            v.push(setup(
                "trl:cpo_loss",
                vec![("chosen_logps", ac.clone()), ("rejected_logps", ar.clone())],
                vec![("loss_type", name(lt)), ("beta", Float(0.8)), ("label_smoothing", Float(0.1)), ("simpo_gamma", Float(0.3)), ("alpha", Float(alpha))],
            ));
        }
    }
    let oc = f(&[4], &[-0.3, -1.4, -0.69, -2.2]);
    let or = f(&[4], &[-0.9, -0.2, -0.75, -1.6]);
    v.push(setup("trl:odds_ratio_loss", vec![("chosen_logps", oc.clone()), ("rejected_logps", or.clone())], vec![]));
    v.push(setup("trl:odds_ratio_loss", vec![("chosen_logps", oc), ("rejected_logps", or)], vec![("beta", Float(2.0))]));
    // KTO: 3 chosen, 2 rejected, a KL batch of 5 whose mean log-ratio is 0.3 (kl > 0) or −0.5 (clamped);
    // one empty side; apo_zero_unpaired with and without the (ignored) KL batch
    let kc = f(&[3], &[-10.3, -7.9, -12.6]);
    let krc = f(&[3], &[-10.9, -7.1, -12.2]);
    let kr = f(&[2], &[-11.2, -8.4]);
    let krr = f(&[2], &[-10.6, -9.3]);
    let kk = f(&[5], &[-20.0, -21.5, -19.0, -22.0, -18.5]);
    let krk_pos = f(&[5], &[-20.5, -21.5, -19.4, -22.1, -19.0]);
    let krk_neg = f(&[5], &[-19.5, -21.0, -18.6, -21.5, -18.4]);
    let e = f(&[0], &[]);
    let kto = |c: &Tensor, rc: &Tensor, r: &Tensor, rr: &Tensor, kl: Option<&Tensor>| {
        let mut t = vec![("policy_chosen_logps", c.clone()), ("reference_chosen_logps", rc.clone()), ("policy_rejected_logps", r.clone()), ("reference_rejected_logps", rr.clone())];
        if let Some(k) = kl {
            t.push(("policy_KL_logps", kk.clone()));
            t.push(("reference_KL_logps", k.clone()));
        }
        t
    };
    let w = |b: f64| vec![("beta", Float(b)), ("desirable_weight", Float(1.3)), ("undesirable_weight", Float(0.6))];
    v.push(setup("trl:kto_loss", kto(&kc, &krc, &kr, &krr, Some(&krk_pos)), w(0.7)));
    v.push(setup("trl:kto_loss", kto(&kc, &krc, &kr, &krr, Some(&krk_neg)), w(0.4)));
    v.push(setup("trl:kto_loss", kto(&e, &e, &kr, &krr, Some(&krk_pos)), w(1.5)));
    v.push(setup("trl:kto_loss", kto(&kc, &krc, &e, &e, Some(&krk_pos)), vec![]));
    let apo = |mut o: Vec<(&'static str, OptionValue)>| {
        o.push(("loss_type", name("apo_zero_unpaired")));
        o
    };
    v.push(setup("trl:kto_loss", kto(&kc, &krc, &kr, &krr, None), apo(w(0.7))));
    v.push(setup("trl:kto_loss", kto(&kc, &krc, &kr, &krr, Some(&krk_pos)), apo(vec![])));
    v
}

/// Contrastive (open_clip) and generative losses: every float input, scale and bias included.
fn contrastive_generative_setups() -> Vec<Setup> {
    use OptionValue::{Bool, Float, Name as N};
    let name = |s: &str| N(losslab_registry::Name::new(s).unwrap());
    let img = f(&[3, 2], &[0.6, -0.8, 0.3, 0.9, -0.5, 0.2]);
    let txt = f(&[3, 2], &[0.7, -0.4, 0.1, 1.1, -0.9, -0.3]);
    let scale = f(&[], &[2.5]);
    let scale1 = f(&[1], &[3.0]);
    let bias = f(&[], &[-0.7]);
    let r = f(&[2, 3], &[0.3, -1.7, 2.2, 0.9, 0.05, -0.4]);
    let fk = f(&[2, 3], &[0.1, 0.4, -0.6, 1.3, -0.8, -1.2]);
    let grads = f(&[3, 2, 2], &[0.3, -0.2, 0.5, 0.1, 0.9, 1.2, -0.4, 0.6, 0.05, -0.1, 0.2, 0.15]);
    let mu = f(&[2, 3], &[0.5, -1.0, 0.2, 1.5, 0.25, -0.75]);
    let lv = f(&[2, 3], &[0.1, -0.6, 0.4, -1.2, 0.3, 0.05]);
    let xh = f(&[2, 2, 2], &[0.3, -0.2, 0.5, 0.1, 0.9, 1.2, -0.4, 0.6]);
    let x01 = f(&[2, 2, 2], &[0.2, 0.95, 0.05, 0.5, 0.7, 0.3, 0.6, 0.1]);
    let alphas = f(&[5], &[0.99, 0.9, 0.6, 0.3, 0.05]);
    let ts = Tensor::I64(ndarray::arr1(&[0i64, 3]).into_dyn());
    let mut v = vec![
        setup("open_clip:clip_loss", vec![("image_features", img.clone()), ("text_features", txt.clone()), ("logit_scale", scale.clone())], vec![]),
        setup("open_clip:clip_loss", vec![("image_features", img.clone()), ("text_features", txt.clone()), ("logit_scale", scale1.clone()), ("logit_bias", bias.clone())], vec![]),
        setup("open_clip:siglip_loss", vec![("image_features", img.clone()), ("text_features", txt.clone()), ("logit_scale", scale.clone()), ("logit_bias", bias.clone())], vec![]),
        setup("open_clip:siglip_loss", vec![("image_features", img), ("text_features", txt), ("logit_scale", scale1)], vec![]),
        setup("losslab:gradient_penalty", vec![("gradients", grads.clone())], vec![]),
        setup("losslab:gradient_penalty", vec![("gradients", grads.clone())], vec![("target", Float(0.5))]),
        setup("losslab:gradient_penalty", vec![("gradients", grads)], vec![("kind", name("r1"))]),
        setup("losslab:vae_kl", vec![("mu", mu.clone()), ("logvar", lv.clone())], vec![]),
        setup("losslab:vae_elbo", vec![("reconstruction", xh.clone()), ("target", x01.clone()), ("mu", mu.clone()), ("logvar", lv.clone())], vec![]),
        setup(
            "losslab:vae_elbo",
            vec![("reconstruction", xh.clone()), ("target", x01.clone()), ("mu", mu.clone()), ("logvar", lv.clone())],
            vec![("variance", Float(0.3)), ("full", Bool(true)), ("kl_weight", Float(0.25))],
        ),
        setup("losslab:vae_elbo", vec![("reconstruction", xh.clone()), ("target", x01.clone()), ("mu", mu), ("logvar", lv)], vec![("likelihood", name("bernoulli")), ("kl_weight", Float(2.0))]),
    ];
    for kind in ["non_saturating", "minimax", "hinge", "least_squares", "wasserstein"] {
        v.push(setup("losslab:gan_generator_loss", vec![("fake_logits", fk.clone())], vec![("kind", name(kind))]));
        v.push(setup("losslab:gan_discriminator_loss", vec![("real_logits", r.clone()), ("fake_logits", fk.clone())], vec![("kind", name(kind))]));
    }
    for kind in ["epsilon", "v_prediction", "sample"] {
        v.push(setup(
            "diffusers:min_snr_loss",
            vec![("model_pred", xh.clone()), ("target", x01.clone()), ("timesteps", ts.clone()), ("alphas_cumprod", alphas.clone())],
            vec![("prediction_type", name(kind)), ("snr_gamma", Float(2.0))],
        ));
    }
    // A 1-D prediction: the script's mean over every element for each sample.
    v.push(setup(
        "diffusers:min_snr_loss",
        vec![("model_pred", f(&[2], &[0.3, -0.2])), ("target", f(&[2], &[0.1, 0.4])), ("timesteps", ts), ("alphas_cumprod", alphas)],
        vec![],
    ));
    v
}

/// pml's metric losses (embeddings, and the class matrix W of the face losses),
/// away from their kinks (target cosines off ±1, ArcFace's θ = π − m, SphereFace's θ = kπ/m).
fn metric_setups() -> Vec<Setup> {
    use OptionValue::{Bool, Float};
    let emb = f(&[4, 3], &[0.5, 0.3, -0.2, 0.1, -0.6, 0.4, 0.45, 0.2, 0.1, -0.3, 0.5, 0.35]);
    let w = f(&[3, 3], &[0.8, -0.3, 0.2, 0.1, 0.9, -0.5, -0.4, 0.2, 0.7]);
    let labels = i(&[0, 1, 0, 2]);
    let face = |loss: &'static str, opts: Vec<(&'static str, OptionValue)>| {
        setup(loss, vec![("embeddings", emb.clone()), ("labels", labels.clone()), ("W", w.clone())], opts)
    };
    vec![
        face("pml:arc_face", vec![("scale", Float(2.0))]),
        face("pml:arc_face", vec![("margin", Float(120.0)), ("scale", Float(1.5))]),
        face("pml:cos_face", vec![("scale", Float(3.0))]),
        face("pml:cos_face", vec![("margin", Float(-0.2)), ("scale", Float(0.5))]),
        face("pml:sphere_face", vec![]),
        face("pml:sphere_face", vec![("margin", Float(3.0)), ("scale", Float(2.0))]),
        face("pml:sphere_face", vec![("margin", Float(1.0))]),
        // the pair losses: a class of one sample (an anchor without positives)
        setup("pml:sup_con", vec![("embeddings", emb.clone()), ("labels", labels.clone())], vec![("temperature", Float(0.5))]),
        setup("pml:sup_con", vec![("embeddings", emb.clone()), ("labels", i(&[1, 1, 1, 0]))], vec![]),
        setup("pml:multi_similarity", vec![("embeddings", emb.clone()), ("labels", labels.clone())], vec![("beta", Float(5.0))]),
        setup("pml:multi_similarity", vec![("embeddings", emb.clone()), ("labels", i(&[1, 1, 1, 0]))], vec![("alpha", Float(1.5)), ("base", Float(-0.2))]),
        setup("pml:circle", vec![("embeddings", emb.clone()), ("labels", labels.clone())], vec![("gamma", Float(4.0))]),
        setup("pml:circle", vec![("embeddings", emb.clone()), ("labels", i(&[1, 1, 1, 0]))], vec![("m", Float(0.25)), ("gamma", Float(2.0))]),
        // Euclidean distances (normalised and raw), the relu active
        setup("pml:lifted_structure", vec![("embeddings", emb.clone()), ("labels", labels.clone())], vec![]),
        setup("pml:lifted_structure", vec![("embeddings", emb.clone()), ("labels", i(&[1, 1, 0, 0]))], vec![("neg_margin", Float(0.5)), ("pos_margin", Float(0.1)), ("normalize_embeddings", Bool(false))]),
        setup("pml:generalized_lifted_structure", vec![("embeddings", emb.clone()), ("labels", labels.clone())], vec![]),
        setup("pml:generalized_lifted_structure", vec![("embeddings", emb.clone()), ("labels", i(&[1, 1, 1, 0]))], vec![("neg_margin", Float(2.0)), ("normalize_embeddings", Bool(false))]),
        // N-pairs: the pairs (0, 2) and (1, 3); (0, 1) and (2, 3) with raw dot products
        setup("pml:n_pairs", vec![("embeddings", emb.clone()), ("labels", i(&[5, 2, 5, 2]))], vec![]),
        setup("pml:n_pairs", vec![("embeddings", emb), ("labels", i(&[3, 3, 1, 1]))], vec![("normalize_embeddings", Bool(false))]),
    ]
}

/// The per-token losses over (B, T, V) logits: every reduction (the loop's),
/// labels with ignored tokens and without, every β case, temperatures, both directions.
fn token_setups() -> Vec<Setup> {
    use OptionValue::{Float, Int, Name as N};
    let name = |s: &str| N(losslab_registry::Name::new(s).unwrap());
    let data: Vec<f64> = (0..24).map(|k| ((k * 37 % 23) as f64 - 11.0) * 0.21).collect();
    let data2: Vec<f64> = (0..24).map(|k| ((k * 13 % 19) as f64 - 9.0) * 0.27).collect();
    let s = f(&[2, 3, 4], &data);
    let t = f(&[2, 3, 4], &data2);
    let labels = Tensor::I64(ndarray::arr2(&[[1i64, -100, 3], [0, 2, -100]]).into_dyn());
    let labels1 = Tensor::I64(ndarray::arr2(&[[1i64, -1, 3], [-1, 2, 0]]).into_dyn());
    let st = |l: Option<&Tensor>| {
        let mut v = vec![("student_logits", s.clone()), ("teacher_logits", t.clone())];
        if let Some(l) = l {
            v.push(("labels", l.clone()));
        }
        v
    };
    let mut v = vec![
        setup("losslab:sequence_log_probs", vec![("logits", s.clone()), ("labels", labels.clone())], vec![]),
        setup("losslab:sequence_log_probs", vec![("logits", t.clone()), ("labels", labels1.clone())], vec![("ignore_index", Int(-1))]),
    ];
    for beta in [0.0, 1.0, 0.5, 0.2] {
        v.push(setup("trl:generalized_jsd_loss", st(Some(&labels)), vec![("beta", Float(beta))]));
        v.push(setup("trl:generalized_jsd_loss", st(None), vec![("beta", Float(beta)), ("temperature", Float(1.7))]));
    }
    for dir in ["forward", "reverse"] {
        v.push(setup("losslab:distillation_kl", st(Some(&labels)), vec![("direction", name(dir))]));
        v.push(setup("losslab:distillation_kl", st(None), vec![("direction", name(dir)), ("temperature", Float(2.5))]));
        v.push(setup("losslab:distillation_kl", st(Some(&labels1)), vec![("direction", name(dir)), ("temperature", Float(0.6)), ("ignore_index", Int(-1))]));
    }
    v
}

/// Large vocabularies (src/vocabulary.rs): the adaptive softmax's input and every
/// weight (with and without the head's bias, batched and not, one to four clusters,
/// a tail of 0 rows), the sampled losses' weights, biases and inputs (num_true 1 and
/// 2, accidental hits removed or not, a candidate sampled twice).
fn vocabulary_setups() -> Vec<Setup> {
    use OptionValue::{Bool, Float, Int};
    // Deterministic values in about [-scale, scale].
    let pr = |shape: &[usize], seed: f64, scale: f64| {
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|k| scale * ((k as f64 + 1.0) * 1.37 + seed).sin()).collect();
        f(shape, &v)
    };
    let ints = |shape: &[usize], v: &[i64]| Tensor::I64(ArrayD::from_shape_vec(IxDyn(shape), v.to_vec()).unwrap());
    let asm = "torch:adaptive_log_softmax_with_loss";
    // in_features 6, cutoffs [2, 4], n_classes 7, div_value 2: tails of 3 and 1 rows.
    let two = |bias: bool| {
        let mut t = vec![
            ("input", pr(&[4, 6], 0.3, 1.0)),
            ("target", i(&[0, 2, 3, 6])),
            ("cutoffs", i(&[2, 4])),
            ("head_weight", pr(&[4, 6], 1.1, 0.6)),
            ("tail_0_proj", pr(&[3, 6], 2.2, 0.6)),
            ("tail_0_out", pr(&[2, 3], 3.3, 0.8)),
            ("tail_1_proj", pr(&[1, 6], 4.4, 0.6)),
            ("tail_1_out", pr(&[3, 1], 5.5, 0.8)),
        ];
        if bias {
            t.push(("head_bias", pr(&[4], 6.6, 0.5)));
        }
        t
    };
    let mut unbatched = two(true);
    unbatched[0] = ("input", pr(&[6], 0.9, 1.0));
    unbatched[1] = ("target", Tensor::I64(ndarray::arr0(5i64).into_dyn()));
    // in_features 3, four clusters of div_value 1 (full-rank tails); div_value 4 makes a tail of 0 rows.
    let four = vec![
        ("input", pr(&[5, 3], 0.7, 1.0)),
        ("target", i(&[0, 1, 2, 3, 5])),
        ("cutoffs", i(&[1, 2, 3, 4])),
        ("head_weight", pr(&[5, 3], 1.9, 0.7)),
        ("tail_0_proj", pr(&[3, 3], 2.8, 0.7)),
        ("tail_0_out", pr(&[1, 3], 3.7, 0.7)),
        ("tail_1_proj", pr(&[3, 3], 4.6, 0.7)),
        ("tail_1_out", pr(&[1, 3], 5.5, 0.7)),
        ("tail_2_proj", pr(&[3, 3], 6.4, 0.7)),
        ("tail_2_out", pr(&[1, 3], 7.3, 0.7)),
        ("tail_3_proj", pr(&[3, 3], 8.2, 0.7)),
        ("tail_3_out", pr(&[2, 3], 9.1, 0.7)),
    ];
    let zero_tail = vec![
        ("input", pr(&[3, 4], 0.2, 1.0)),
        ("target", i(&[0, 3, 5])),
        ("cutoffs", i(&[2])),
        ("head_weight", pr(&[3, 4], 1.3, 0.7)),
        ("tail_0_proj", pr(&[1, 4], 2.4, 0.7)),
        ("tail_0_out", pr(&[4, 1], 3.5, 0.7)),
    ];
    let zero_rows = vec![
        ("input", pr(&[3, 3], 0.2, 1.0)),
        ("target", i(&[0, 3, 5])),
        ("cutoffs", i(&[2])),
        ("head_weight", pr(&[3, 3], 1.3, 0.7)),
        ("tail_0_proj", f(&[0, 3], &[])),
        ("tail_0_out", f(&[4, 0], &[])),
    ];
    let sampled = |nt: usize| {
        let labels = if nt == 1 { ints(&[3, 1], &[1, 4, 2]) } else { ints(&[3, 2], &[1, 4, 4, 4, 2, 0]) };
        vec![
            ("weights", pr(&[6, 3], 0.4, 0.8)),
            ("biases", pr(&[6], 1.6, 0.4)),
            ("labels", labels),
            ("inputs", pr(&[3, 3], 2.9, 1.0)),
            ("sampled_candidates", i(&[4, 0, 5, 4])),
            ("true_expected_count", f(&[3, nt], &[0.3, 0.9, 1.2, 0.5, 0.7, 0.25][..3 * nt])),
            ("sampled_expected_count", f(&[4], &[0.4, 0.8, 1.1, 0.6])),
        ]
    };
    let mut v = vec![
        setup(asm, two(false), vec![("div_value", Float(2.0))]),
        setup(asm, two(true), vec![("div_value", Float(2.0))]),
        setup(asm, unbatched, vec![("div_value", Float(2.0))]),
        setup(asm, four, vec![("div_value", Float(1.0))]),
        setup(asm, zero_tail, vec![]),
        setup(asm, zero_rows, vec![("div_value", Float(8.0))]),
    ];
    for loss in ["tf:sampled_softmax_loss", "tf:nce_loss"] {
        for remove in [true, false] {
            v.push(setup(loss, sampled(1), vec![("remove_accidental_hits", Bool(remove))]));
            v.push(setup(loss, sampled(2), vec![("num_true", Int(2)), ("remove_accidental_hits", Bool(remove))]));
        }
    }
    v
}

/// The policy-gradient losses (trl:grpo_loss, losslab:ppo_clip_loss): ratios on
/// both sides of the clip range and inside it (away from its edges and δ), every
/// loss type at both importance-sampling levels, with and without the KL term,
/// per-sequence and per-token advantages. Not here: `old_per_token_logps` absent,
/// where TRL's ratio is `exp(logp − logp.detach())` (1, with the gradient of
/// `exp(logp)`): autograd's gradient, not the derivative of the value; the
/// golden cases `grpo/*/on-policy` check it against TRL. The detached weights
/// (CISPO's clamped ratio, VESPO's φ) are held constant: CISPO's ratios all above
/// its cap, VESPO on-policy; the golden cases check the rest.
fn policy_setups() -> Vec<Setup> {
    use OptionValue::{Bool, Float, Int, Name as N};
    let name = |s: &str| N(losslab_registry::Name::new(s).unwrap());
    let lp = [-0.3, -1.2, -0.05, -2.1, -0.8, -0.45, -1.6, -0.15, -0.9, -0.6, -1.1, -0.25];
    // log-ratios away from ln(1 ± ε) for ε = 0.1, 0.2, 0.28 and from ln δ; the masked row means too
    let lr = [0.5, -0.6, 0.05, -0.1, 0.3, 0.9, -0.4, 0.12, -0.35, 0.08, 0.6, -0.7];
    let old: Vec<f64> = lp.iter().zip(lr).map(|(a, r)| a - r).collect();
    let old = f(&[3, 4], &old);
    let rf: Vec<f64> = lp.iter().enumerate().map(|(k, a)| a + 0.3 * ((k % 3) as f64) - 0.25).collect();
    let logp = f(&[3, 4], &lp);
    let rf = f(&[3, 4], &rf);
    let adv = f(&[3], &[1.3, -0.7, 0.45]);
    let adv_bt = f(&[3, 4], &[0.8, -1.1, 0.3, -0.2, 1.5, -0.6, 0.9, -0.35, -0.75, 0.4, 1.2, -0.5]);
    let mask = f(&[3, 4], &[1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
    let imask = Tensor::I64(ndarray::ArrayD::from_shape_vec(IxDyn(&[3, 4]), vec![1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0]).unwrap());
    let t = |adv: &Tensor, with_old: bool, rfl: bool| {
        let mut v = vec![("per_token_logps", logp.clone()), ("advantages", adv.clone()), ("completion_mask", imask.clone())];
        if with_old {
            v.push(("old_per_token_logps", old.clone()));
        }
        if rfl {
            v.push(("ref_per_token_logps", rf.clone()));
        }
        v
    };
    let mut v = Vec::new();
    for lt in ["grpo", "bnpo", "dr_grpo", "dapo", "cispo", "sapo", "luspo", "vespo"] {
        for level in ["token", "sequence"] {
            let o = |extra: Vec<(&'static str, OptionValue)>| {
                let mut o = vec![("loss_type", name(lt)), ("importance_sampling_level", name(level)), ("max_completion_length", Int(6))];
                o.extend(extra);
                o
            };
            if lt == "vespo" {
                // VESPO's weight is a detached function of the ratio: constant only on-policy.
                v.push(setup("trl:grpo_loss", t(&adv, false, false), o(vec![])));
                v.push(setup("trl:grpo_loss", t(&adv_bt, false, true), o(vec![("beta", Float(0.2)), ("use_bias_correction_kl", Bool(false))])));
                continue;
            }
            v.push(setup("trl:grpo_loss", t(&adv, true, false), o(vec![])));
            v.push(setup("trl:grpo_loss", t(&adv, true, true), o(vec![("beta", Float(0.3))])));
            v.push(setup("trl:grpo_loss", t(&adv_bt, true, true), o(vec![("beta", Float(0.2)), ("use_bias_correction_kl", Bool(false))])));
        }
    }
    v.push(setup("trl:grpo_loss", t(&adv_bt, true, true), vec![("loss_type", name("grpo")), ("delta", Float(1.3)), ("epsilon_high", Float(0.28)), ("beta", Float(0.1))]));
    v.push(setup("trl:grpo_loss", t(&adv, true, false), vec![("loss_type", name("dapo")), ("num_items_in_batch", Float(20.0)), ("epsilon", Float(0.1))]));
    // CISPO's detached ratio: every ratio here (≥ e^−0.7) above the cap 0.3, so constant
    v.push(setup("trl:grpo_loss", t(&adv_bt, true, true), vec![("loss_type", name("cispo")), ("epsilon_high", Float(0.3)), ("beta", Float(0.1))]));
    v.push(setup("trl:grpo_loss", t(&adv, true, false), vec![("loss_type", name("sapo")), ("sapo_temperature_pos", Float(0.5)), ("sapo_temperature_neg", Float(2.0))]));
    v.push(setup("trl:grpo_loss", t(&adv_bt, false, false), vec![("loss_type", name("vespo")), ("vespo_k_pos", Float(1.5)), ("vespo_lambda_neg", Float(0.5))]));
    let (lpp, oldp) = (logp.clone(), old.clone());
    let p = |adv: &Tensor, m: bool| {
        let mut v = vec![("log_probs", lpp.clone()), ("old_log_probs", oldp.clone()), ("advantages", adv.clone())];
        if m {
            v.push(("mask", mask.clone()));
        }
        v
    };
    v.push(setup("losslab:ppo_clip_loss", p(&adv, true), vec![]));
    v.push(setup("losslab:ppo_clip_loss", p(&adv, false), vec![("level", name("sequence"))]));
    v.push(setup("losslab:ppo_clip_loss", p(&adv_bt, true), vec![("level", name("sequence")), ("clip_epsilon", Float(0.1)), ("clip_epsilon_high", Float(0.28))]));
    v.push(setup("losslab:ppo_clip_loss", p(&adv_bt, false), vec![]));
    v
}

/// Inputs the reference detaches: their gradient is zero by its design (not
/// the derivative of the loss, which depends on them), checked to be exactly
/// zero; the golden suite checks it against the reference's autograd.
const DETACHED: &[(&str, &str, &str)] = &[
    ("trl:kto_loss", "policy_KL_logps", "TRL computes the KL log-probabilities under no_grad and detaches the KL estimate"),
    ("trl:kto_loss", "reference_KL_logps", "TRL detaches the KL estimate"),
];

/// Losses whose reference gradient is, by the reference's design, not the
/// derivative of the loss: their gradients are routed and shaped as the others',
/// and checked against the reference's autograd by the golden suite.
const NOT_THE_DERIVATIVE: &[(&str, &str)] = &[
    (
        "torch:ctc_loss",
        "PyTorch returns exp(log_probs) − posterior, the gradient as if log_probs came out of log_softmax; \
         crates/losslab/tests/sequence.rs checks it by finite differences through a log_softmax",
    ),
    (
        "pml:circle",
        "pml's CircleLoss detaches its weights α_p = relu(1 + m − s_p) and α_n = relu(s_n + m); \
         the golden suite (metric.json) checks the gradient against pml's autograd",
    ),
];

fn request<'a>(s: &Setup, tensors: &'a BTreeMap<String, Tensor>, reduction: Option<Reduction>, go: Option<Tensor>, grads: bool) -> EvalRequest<'a> {
    EvalRequest {
        tensors: tensors.iter().map(|(n, t)| (n.clone(), t.view())).collect(),
        options: s.options.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        reduction,
        grad_output: go.map(Into::into),
        want_grads: grads,
    }
}

fn values(t: &Tensor) -> Vec<f64> {
    t.to_f64_vec()
}

/// `Σ go · loss(tensors)`.
fn objective(s: &Setup, tensors: &BTreeMap<String, Tensor>, reduction: Option<Reduction>, go: &[f64]) -> f64 {
    let e = evaluate(s.loss, request(s, tensors, reduction, None, false)).unwrap();
    values(&e.value).iter().zip(go).map(|(v, g)| v * g).sum()
}

#[test]
fn every_gradient_matches_finite_differences() {
    let mut failures = Vec::new();
    let mut checked = BTreeSet::new();
    for s in setups() {
        let tensors: BTreeMap<String, Tensor> = s.tensors.iter().map(|(n, t)| (n.to_string(), t.clone())).collect();
        for reduction in [None, Some(Reduction::None), Some(Reduction::Mean), Some(Reduction::Sum), Some(Reduction::BatchMean)] {
            let label = format!("{} {:?} {:?}", s.loss, s.options, reduction);
            let value = evaluate(s.loss, request(&s, &tensors, reduction, None, false)).unwrap().value;
            // A deterministic upstream gradient that is not all ones.
            let go: Vec<f64> = (0..value.len()).map(|k| 0.75 + 0.5 * ((k * 7 % 5) as f64) - 0.9 * ((k % 2) as f64)).collect();
            let go_t = f(value.shape(), &go);
            let e = evaluate(s.loss, request(&s, &tensors, reduction, Some(go_t), true)).unwrap();
            checked.insert(e.loss.clone());

            // The gradients returned: every differentiable float tensor given, no other.
            let spec = e.spec;
            let want_names: BTreeSet<String> = spec
                .grads
                .iter()
                .filter(|g| tensors.get(**g).is_some_and(|t| t.dtype().is_float()))
                .filter(|g| spec.tensor(g).map(|t| t.kind) != Some(TensorKind::Int))
                // torch differentiates cross_entropy's weight with probability targets only.
                .filter(|g| {
                    !(spec.qualified_name() == "torch:cross_entropy" && **g == "weight" && tensors.get("target").is_some_and(|t| !t.dtype().is_float()))
                })
                .map(|g| g.to_string())
                .collect();
            let got_names: BTreeSet<String> = e.grads.keys().cloned().collect();
            if got_names != want_names {
                failures.push(format!("{label}: gradients {got_names:?}, expected {want_names:?}"));
            }

            for (name, grad) in &e.grads {
                if NOT_THE_DERIVATIVE.iter().any(|(l, _)| *l == s.loss) {
                    continue;
                }
                if DETACHED.iter().any(|(l, t, _)| *l == s.loss && t == name) {
                    if values(grad).iter().any(|&g| g != 0.0) {
                        failures.push(format!("{label}: d/d{name} = {:?}, expected zeros (detached)", values(grad)));
                    }
                    continue;
                }
                let g = values(grad);
                let Tensor::F64(base) = &tensors[name] else { unreachable!() };
                assert_eq!(grad.shape(), base.shape(), "{label}: grad {name} shape");
                for (k, &gk) in g.iter().enumerate() {
                    let x0 = base.as_slice().unwrap()[k];
                    let h = 1e-6 * x0.abs().max(1.0);
                    let at = |x: f64| {
                        let mut t = tensors.clone();
                        let Tensor::F64(a) = t.get_mut(name).unwrap() else { unreachable!() };
                        a.as_slice_mut().unwrap()[k] = x;
                        objective(&s, &t, reduction, &go)
                    };
                    let fd = (at(x0 + h) - at(x0 - h)) / (2.0 * h);
                    // Written so that a NaN on either side fails.
                    let agrees = (fd - gk).abs() <= 1e-6 * (1.0 + gk.abs());
                    if !agrees {
                        failures.push(format!("{label}: d/d{name}[{k}] = {gk}, finite differences {fd}"));
                    }
                }
            }
        }
    }
    let all: BTreeSet<String> = catalog().iter().map(|s| s.qualified_name()).collect();
    let missing: Vec<_> = all.difference(&checked).collect();
    assert!(missing.is_empty(), "losses without a gradient check: {missing:?}");
    assert!(failures.is_empty(), "{} gradient mismatches:\n  {}", failures.len(), failures.join("\n  "));
}

/// A function without a reduction argument returns its own output by default,
/// and `--reduction` reduces it: sum, mean over its elements, batchmean over its
/// first axis.
#[test]
fn reductions_of_functions_without_one() {
    let p = f(&[2, 3], &[0.2, 0.5, 0.3, 0.6, 0.1, 0.3]);
    let run = |r: Option<Reduction>| {
        let mut q = EvalRequest { reduction: r, ..EvalRequest::default() };
        q.tensors.insert("p".into(), p.clone().into());
        q.options.insert("axis".into(), OptionValue::Int(0));
        let e = evaluate("losslab:entropy", q).unwrap();
        (e.reduction, values(&e.value), e.value.shape().to_vec())
    };
    let (r, own, shape) = run(None);
    assert_eq!((r, shape), (None, vec![3]));
    let sum: f64 = own.iter().sum();
    assert_eq!(run(Some(Reduction::None)).1, own);
    assert!((run(Some(Reduction::Sum)).1[0] - sum).abs() < 1e-15);
    assert!((run(Some(Reduction::Mean)).1[0] - sum / 3.0).abs() < 1e-15);
    assert!((run(Some(Reduction::BatchMean)).1[0] - sum / 3.0).abs() < 1e-15);
    assert_eq!(run(Some(Reduction::Mean)).2, Vec::<usize>::new());
}

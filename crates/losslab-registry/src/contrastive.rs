//! Contrastive image-text pretraining (`open_clip:`): OpenCLIP's `ClipLoss` and
//! `SigLipLoss` on `(N, D)` features, with the scale and bias as tensors.

use super::call::{Call, Output};
use super::{eval, float, opt_float, Framework, LossSpec};
use crate::error::fail;
use crate::tensor::FloatElement;
use crate::Result;
use losslab::open_clip::{ClipLoss, ContrastiveGradients, SigLipLoss};
use losslab::Reduction;
use ndarray::{ArrayD, ArrayViewD, IxDyn};

pub(super) const LOSSES: &[LossSpec] = &[
    LossSpec {
        framework: Framework::OpenClip,
        name: "clip_loss",
        summary: "CLIP's symmetric InfoNCE: the mean of the image→text and text→image cross entropies of logit_scale · X Yᵀ (+ logit_bias)",
        tensors: &[
            float("image_features", "image embeddings, shape (N, D) (used as given: OpenCLIP's models normalise them)"),
            float("text_features", "text embeddings, shape (N, D); text i matches image i"),
            float("logit_scale", "the multiplier of the logits, one element (0-d or (1,)): the model's logit_scale.exp()"),
            opt_float("logit_bias", "a shift of every logit, one element (0-d or (1,))"),
        ],
        options: &[],
        default_reduction: Some(Reduction::Mean),
        grads: &["image_features", "text_features", "logit_scale", "logit_bias"],
        eval: eval!(clip),
    },
    LossSpec {
        framework: Framework::OpenClip,
        name: "siglip_loss",
        summary: "SigLIP's pairwise sigmoid loss: Σ −log σ(z · (logit_scale · X Yᵀ + logit_bias)) / N, z = +1 on the diagonal, −1 off it",
        tensors: &[
            float("image_features", "image embeddings, shape (N, D) (used as given: OpenCLIP's models normalise them)"),
            float("text_features", "text embeddings, shape (N, D); text i matches image i"),
            float("logit_scale", "the multiplier of the logits, one element (0-d or (1,)): the model's logit_scale.exp()"),
            opt_float("logit_bias", "a shift of every logit, one element (0-d or (1,)); SigLIP models learn it (init −10)"),
        ],
        options: &[],
        default_reduction: Some(Reduction::Mean),
        grads: &["image_features", "text_features", "logit_scale", "logit_bias"],
        eval: eval!(siglip),
    },
];

/// A one-element tensor (0-d, `(1,)` or `(1, 1)`, which broadcast with the `(N, N)` logits) as a number.
fn scalar<T: FloatElement>(c: &Call<'_, T>, name: &str, t: ArrayViewD<'_, T>) -> Result<T> {
    if t.len() != 1 || t.ndim() > 2 {
        fail!(Shape, "{}: `{name}` has shape {:?}, expected one element (0-d or (1,))", c.spec.qualified_name(), t.shape());
    }
    Ok(*t.iter().next().expect("one element"))
}

fn run<T: FloatElement>(c: &Call<'_, T>, siglip: bool) -> Result<Output<T>> {
    let (x, y) = (c.float("image_features"), c.float("text_features"));
    let scale_t = c.float("logit_scale");
    let scale = scalar(c, "logit_scale", scale_t.view())?;
    let bias_t = c.opt_float("logit_bias");
    let bias = bias_t.as_ref().map(|b| scalar(c, "logit_bias", b.view())).transpose()?;
    let reduction = c.reduction.unwrap_or(Reduction::Mean);
    let (clip, sig) = (ClipLoss::new().reduction(reduction), SigLipLoss::new().reduction(reduction));
    let forward = |x, y| if siglip { sig.forward(x, y, scale, bias) } else { clip.forward(x, y, scale, bias) };
    if !c.want_grads {
        return Ok(Output { value: forward(x.view(), y.view())?, grads: vec![], aux: vec![] });
    }
    let (value, g): (ArrayD<T>, ContrastiveGradients<T>) = match &c.grad_output {
        None => {
            if siglip {
                sig.forward_backward(x.view(), y.view(), scale, bias)?
            } else {
                clip.forward_backward(x.view(), y.view(), scale, bias)?
            }
        }
        Some(_) => {
            let value = forward(x.view(), y.view())?;
            let go = c.grad_output_for(&value)?;
            let go = go.view();
            let g = if siglip { sig.backward(x.view(), y.view(), scale, bias, go)? } else { clip.backward(x.view(), y.view(), scale, bias, go)? };
            (value, g)
        }
    };
    let like = |shape: &[usize], v: T| ArrayD::from_elem(IxDyn(shape), v);
    let mut grads = vec![
        ("image_features", g.image_features),
        ("text_features", g.text_features),
        ("logit_scale", like(scale_t.shape(), g.logit_scale)),
    ];
    if let (Some(b), Some(gb)) = (&bias_t, g.logit_bias) {
        grads.push(("logit_bias", like(b.shape(), gb)));
    }
    Ok(Output { value, grads, aux: vec![] })
}

fn clip<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    run(c, false)
}

fn siglip<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    run(c, true)
}

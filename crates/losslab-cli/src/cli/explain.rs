//! `losslab explain TOPIC`: the article's questions answered in plain text,
//! with every number computed live by [`losslab`].

use crate::cli::info::{num, parse_list};
use crate::lab::{ce_vs_mse, ce_vs_mse_two_class, one_hot};
use anyhow::{bail, Result};
use losslab::{
    CrossEntropyLoss, HuberLoss, L1Loss, MseLoss, Reduction, SmoothL1Loss, SoftmaxCrossEntropyWithLogits,
    SparseSoftmaxCrossEntropyWithLogits,
};
use ndarray::{Array1, Array2, ArrayView1, Axis};
use std::fmt::Write as _;
use std::io::Write;
use std::process::ExitCode;

const AFTER_HELP: &str = "\
Examples:
  losslab explain entropy
  losslab explain cross-entropy --logits 2,1,0.1 --target 0
  losslab explain cross-entropy --logits '2,1,0.1;0.5,2.5,0.3' --target 0,2
  losslab explain mse-vs-ce
  losslab explain dense-vs-sparse
  losslab explain l1-l2-smooth-l1
  losslab explain catalog";

/// What `explain` can explain: one topic per question of the article.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Topic {
    /// Q1: self-information, entropy, binary entropy, KL, cross entropy.
    Entropy,
    /// Q2: the cross-entropy loss step by step (logits, softmax, −log p, batch mean, gradient).
    CrossEntropy,
    /// Q3: why MSE on softmax outputs is a poor classification loss.
    MseVsCe,
    /// Q4: TensorFlow's dense and sparse softmax cross entropy.
    DenseVsSparse,
    /// Q5: L1, L2, Smooth L1 and Huber near 0 and far away.
    #[value(name = "l1-l2-smooth-l1")]
    L1L2SmoothL1,
    /// Q6: the families of losses used in practice.
    Catalog,
}

/// The flags of `losslab explain`, as given.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct ExplainArgs {
    /// The topic.
    #[arg(value_enum)]
    pub topic: Topic,
    /// Logits for `cross-entropy`: one row per example, rows separated by `;`
    /// (default 2,1,0.1;0.5,2.5,0.3).
    #[arg(long, value_name = "Z1,Z2,...[;...]", allow_hyphen_values = true)]
    pub logits: Option<String>,
    /// The true class of each row for `cross-entropy`, comma-separated (default 0,2).
    #[arg(long, value_name = "C1,...")]
    pub target: Option<String>,
}

/// Runs `losslab explain`.
///
/// # Errors
/// Bad `--logits` or `--target`, or a failed write.
pub fn run(args: &ExplainArgs, out: &mut dyn Write) -> Result<ExitCode> {
    if args.topic != Topic::CrossEntropy && (args.logits.is_some() || args.target.is_some()) {
        bail!("--logits and --target are for `explain cross-entropy` only");
    }
    let text = match args.topic {
        Topic::Entropy => entropy()?,
        Topic::CrossEntropy => {
            let (z, t) = parse_batch(args.logits.as_deref(), args.target.as_deref())?;
            cross_entropy_text(&z, &t)?
        }
        Topic::MseVsCe => mse_vs_ce()?,
        Topic::DenseVsSparse => dense_vs_sparse_text()?,
        Topic::L1L2SmoothL1 => l1_l2_smooth_l1()?,
        Topic::Catalog => catalog(),
    };
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Parses `--logits` rows and `--target` classes, with the defaults.
///
/// # Errors
/// Rows of different lengths, fewer than 2 classes, non-finite logits, a
/// target count that is not the row count, a class out of range.
pub fn parse_batch(logits: Option<&str>, target: Option<&str>) -> Result<(Array2<f64>, Vec<usize>)> {
    let (logits, target) = match (logits, target) {
        (None, None) => ("2,1,0.1;0.5,2.5,0.3", "0,2"),
        (Some(l), Some(t)) => (l, t),
        (Some(_), None) => bail!("--logits needs --target, the true class of each row"),
        (None, Some(_)) => bail!("--target needs --logits"),
    };
    let rows: Vec<Vec<f64>> = logits.split(';').map(|r| parse_list("logits", r)).collect::<Result<_>>()?;
    let c = rows[0].len();
    if c < 2 {
        bail!("--logits: a row needs at least 2 classes, got {c}");
    }
    if let Some((i, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != c) {
        bail!("--logits: row {} has {} values but row 1 has {c}: every row needs one logit per class", i + 1, r.len());
    }
    if rows.iter().flatten().any(|v| !v.is_finite()) {
        bail!("--logits: every logit must be a finite number");
    }
    let targets: Vec<usize> = target
        .split(',')
        .map(|s| {
            let s = s.trim();
            s.parse::<usize>().map_err(|_| anyhow::anyhow!("--target: `{s}` is not a class index (0, 1, 2, ...)"))
        })
        .collect::<Result<_>>()?;
    if targets.len() != rows.len() {
        bail!("--target has {} classes but --logits has {} rows: one true class per row", targets.len(), rows.len());
    }
    if let Some(&t) = targets.iter().find(|&&t| t >= c) {
        bail!("--target: class {t} is out of range: the logits have {c} classes, 0 to {}", c - 1);
    }
    let n = rows.len();
    Ok((Array2::from_shape_vec((n, c), rows.into_iter().flatten().collect())?, targets))
}

fn row(v: ArrayView1<'_, f64>) -> String {
    format!("({})", v.iter().map(|&x| num(x)).collect::<Vec<_>>().join(", "))
}

fn entropy() -> Result<String> {
    let mut s = String::new();
    let _ = writeln!(s, "ENTROPY AND CROSS ENTROPY (the article's question 1)\n");
    let _ = writeln!(s, "Self-information I(x) = −log p(x): the rarer an event, the more its occurrence tells.");
    let ps = Array1::from(vec![1.0, 0.5, 0.25, 0.1, 0.01]);
    let bits = losslab::self_information(ps.view(), Some(2.0))?;
    for (p, i) in ps.iter().zip(bits.iter()) {
        let _ = writeln!(s, "  p = {:<5} I = {:<9} bits", num(*p), num(*i));
    }
    let _ = writeln!(s, "\nEntropy H(X) = −Σ p log p: the expected self-information, the uncertainty of the system.");
    let _ = writeln!(s, "A 0-1 event with probability p has H = −[p log p + (1 − p) log(1 − p)]:");
    let grid = Array1::from(vec![0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0]);
    let h: ndarray::ArrayD<f64> = losslab::binary_entropy(grid.view(), Some(2.0))?;
    for (p, v) in grid.iter().zip(h.iter()) {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let bar = "#".repeat((*v * 40.0f64).round() as usize);
        let _ = writeln!(s, "  p = {:<5} H = {:<9} bits {bar}", num(*p), num(*v));
    }
    let _ = writeln!(s, "  Maximal (1 bit) at p = 0.5, where nothing is known in advance; 0 at p = 0 or 1, where the outcome is certain.");
    let u4 = losslab::information::entropy(Array1::from(vec![0.25; 4]).view(), 0, Some(2.0))?[[]];
    let _ = writeln!(s, "  A uniform choice among 4 outcomes: H = {} bits; among n: log₂ n.\n", num(u4));

    let p = Array1::from(vec![1.0, 0.0, 0.0]);
    let q = Array1::from(vec![0.7, 0.2, 0.1]);
    let kl = losslab::information::kl_divergence(p.view(), q.view(), 0, None)?[[]];
    let kl_rev = losslab::information::kl_divergence(q.view(), p.view(), 0, None)?[[]];
    let ce = losslab::information::cross_entropy(p.view(), q.view(), 0, None)?[[]];
    let _ = writeln!(s, "Relative entropy (KL divergence) KL(p‖q) = Σ p log(p/q): how far the prediction q is from the truth p.");
    let _ = writeln!(s, "  The article's example, truth p = (1, 0, 0), prediction q = (0.7, 0.2, 0.1), in nats:");
    let _ = writeln!(s, "  KL(p‖q) = 1·ln(1/0.7) + 0·ln(0/0.2) + 0·ln(0/0.1) = {} (= −ln 0.7; the zero terms are 0 by convention)", num(kl));
    let _ = writeln!(s, "  KL(q‖p) = {}: q gives mass to outcomes p rules out (q·log(q/0) = ∞). KL is not symmetric.", num(kl_rev));
    let _ = writeln!(s, "  Conventions: 0·log(0/0) = 0, 0·log(0/q) = 0, p·log(p/0) = ∞. KL ≥ 0, and 0 only when q = p.\n");
    let _ = writeln!(s, "Cross entropy H(p, q) = −Σ p log q = H(p) + KL(p‖q).");
    let _ = writeln!(s, "  Here H(p) = 0 (a one-hot truth is certain), so H(p, q) = KL(p‖q) = {}.", num(ce));
    let _ = writeln!(s, "  With the truth fixed, H(p) is a constant: minimising cross entropy is minimising KL.");
    let _ = writeln!(s, "  For a one-hot truth it is −log q(true class): the classification loss of question 2.\n");
    let _ = writeln!(s, "Try: losslab info --p 1,0,0 --q 0.7,0.2,0.1   (or any p and q; --bits for bits)");
    Ok(s)
}

/// The text of `explain cross-entropy` for a batch of logits and true classes.
///
/// # Errors
/// A class out of range.
pub fn cross_entropy_text(z: &Array2<f64>, t: &[usize]) -> Result<String> {
    let mut s = String::new();
    let (n, c) = z.dim();
    let _ = writeln!(s, "CROSS-ENTROPY LOSS, STEP BY STEP (the article's question 2)\n");
    let _ = writeln!(s, "A batch of {n} example(s), {c} classes. The last layer outputs one logit (confidence, wx + b) per class.\n");
    let p = losslab::softmax(&z.view(), Axis(1))?.into_dimensionality::<ndarray::Ix2>()?;
    let labels = Array1::from(t.iter().map(|&v| v as i64).collect::<Vec<_>>());
    let per = CrossEntropyLoss::new().reduction(Reduction::None).forward(z.view(), labels.view())?;
    let (mean, grads) = CrossEntropyLoss::new().forward_backward(z.view(), labels.view())?;
    for i in 0..n {
        let zr = z.row(i);
        let m = zr.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        let e: Array1<f64> = zr.mapv(|v| (v - m).exp());
        let sum: f64 = e.sum();
        let _ = writeln!(s, "Example {} (true class {}):", i + 1, t[i]);
        let _ = writeln!(s, "  1. logits          z = {}", row(zr));
        let _ = writeln!(s, "  2. softmax         exp(z − max z) = {}, sum = {}", row(e.view()), num(sum));
        let _ = writeln!(s, "                     p = exp(z − max z) / sum = {}   (sums to 1)", row(p.row(i)));
        let _ = writeln!(s, "  3. −log p[{}]       = −ln {} = {}", t[i], num(p[[i, t[i]]]), num(per[i]));
    }
    let _ = writeln!(s, "\n  4. batch mean      ({}) / {n} = {}", per.iter().map(|&v| num(v)).collect::<Vec<_>>().join(" + "), num(mean[[]]));
    let _ = writeln!(s, "     (torch.nn.functional.cross_entropy(z, target) gives the same: the softmax and the log are fused");
    let _ = writeln!(s, "      as log_softmax(z) = z − logsumexp(z), which never takes the log of an underflowed 0.)\n");
    let y = one_hot(t, c);
    let _ = writeln!(s, "  5. gradient        ∂loss/∂z = (softmax(z) − one_hot(target)) / N");
    #[allow(clippy::cast_precision_loss)]
    let by_hand = (&p - &y) / n as f64;
    let g = grads.input.into_dimensionality::<ndarray::Ix2>()?;
    for i in 0..n {
        let _ = writeln!(s, "     example {}: ({} − {}) / {n} = {}", i + 1, row(p.row(i)), row(y.row(i)), row(by_hand.row(i)));
        let _ = writeln!(s, "                losslab's backward gives {}", row(g.row(i)));
    }
    let diff = (&g - &by_hand).iter().fold(0.0f64, |a, b| a.max(b.abs()));
    let _ = writeln!(s, "     largest difference: {diff:e}");
    let _ = writeln!(s, "\n  The gradient pushes the true class's logit up by 1 − p (the more wrong, the harder) and every");
    let _ = writeln!(s, "  other logit down by its probability; it vanishes only when p(true) = 1.");
    Ok(s)
}

fn mse_vs_ce() -> Result<String> {
    let mut s = String::new();
    let _ = writeln!(s, "WHY NOT MSE FOR CLASSIFICATION? (the article's question 3)\n");
    let _ = writeln!(s, "Two classes, logits (0, s), true class 0, so p = p(true) = 1 / (1 + e^s). Per example:");
    let _ = writeln!(s, "  cross entropy   CE  = −ln p                 ∂CE/∂z  = p − y            ‖·‖ = √2 (1 − p)");
    let _ = writeln!(s, "  MSE on softmax  MSE = Σ (pⱼ − yⱼ)² = 2(1−p)²  ∂MSE/∂z = J_softmax · 2(p − y)  ‖·‖ = 4√2 p (1 − p)²\n");
    let _ = writeln!(s, "  {:>9} {:>10} {:>12} {:>10} {:>12} {:>14}", "p(true)", "CE", "‖∂CE/∂z‖", "MSE", "‖∂MSE/∂z‖", "CE / MSE grad");
    for p in [0.999, 0.9, 0.5, 0.1, 0.01, 0.001, 1e-6] {
        let r = ce_vs_mse_two_class(p)?;
        let _ = writeln!(
            s,
            "  {:>9} {:>10} {:>12} {:>10} {:>12} {:>14}",
            num(p),
            num(r.ce),
            num(r.ce_grad),
            num(r.mse),
            format!("{:.3e}", r.mse_grad),
            format!("{:.3e}", r.ce_grad / r.mse_grad)
        );
    }
    let _ = writeln!(s, "\n  When the model is confidently wrong (p(true) → 0), cross entropy's loss and gradient are");
    let _ = writeln!(s, "  largest: it corrects the worst mistakes fastest. MSE's loss is bounded by 2 and its gradient");
    let _ = writeln!(s, "  goes to 0 with p: the softmax saturates, its Jacobian diag(p) − p pᵀ → 0, and learning stalls");
    let _ = writeln!(s, "  exactly on the examples that need it most.");
    // Convexity in s: second differences along the logit.
    let h = 1e-3;
    let second = |f: &dyn Fn(f64) -> f64, x: f64| (f(x + h) - 2.0 * f(x) + f(x - h)) / (h * h);
    let mse_at = |x: f64| ce_vs_mse(&[0.0, x], 0).map(|r| r.mse).unwrap_or(f64::NAN);
    let ce_at = |x: f64| ce_vs_mse(&[0.0, x], 0).map(|r| r.ce).unwrap_or(f64::NAN);
    let xs = [-4.0, -1.0, 0.0, 1.0, 4.0];
    let _ = writeln!(s, "\n  Convexity in the logit s (second differences, h = 1e-3):");
    let _ = writeln!(s, "    s      {}", xs.iter().map(|x| format!("{:>10}", num(*x))).collect::<String>());
    let _ = writeln!(s, "    CE''   {}", xs.iter().map(|&x| format!("{:>10.4}", second(&ce_at, x))).collect::<String>());
    let _ = writeln!(s, "    MSE''  {}", xs.iter().map(|&x| format!("{:>10.4}", second(&mse_at, x))).collect::<String>());
    let _ = writeln!(s, "  CE'' > 0 everywhere (convex in the logits); MSE'' changes sign: non-convex, with flat regions.");
    let _ = writeln!(s, "\n  `losslab report` trains the same classifier on handwritten digits with both losses.");
    Ok(s)
}

/// The text of `explain dense-vs-sparse`.
///
/// # Errors
/// Never.
pub fn dense_vs_sparse_text() -> Result<String> {
    let mut s = String::new();
    let _ = writeln!(s, "TENSORFLOW'S DENSE AND SPARSE SOFTMAX CROSS ENTROPY (the article's question 4)\n");
    let z = ndarray::array![[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]];
    let labels = ndarray::array![0i64, 2];
    let onehot = one_hot(&[0, 2], 3);
    let _ = writeln!(s, "  logits = {} ; {}   labels = [0, 2]\n", row(z.row(0)), row(z.row(1)));
    let _ = writeln!(s, "  tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits): one integer class per example,");
    let _ = writeln!(s, "    labels shape (N,). The usual case: exactly one right class, and no one-hot matrix to build.");
    let _ = writeln!(s, "  tf.nn.softmax_cross_entropy_with_logits(labels, logits): a probability per class per example,");
    let _ = writeln!(s, "    labels shape (N, C): one-hot, or soft (label smoothing, distillation, mixup, ambiguous labels).\n");
    let sparse = SparseSoftmaxCrossEntropyWithLogits::new().forward(labels.view(), z.view())?;
    let dense = SoftmaxCrossEntropyWithLogits::new().forward(onehot.view(), z.view())?;
    let _ = writeln!(s, "  On one-hot labels they agree:");
    let _ = writeln!(s, "    sparse(labels = [0, 2])              = {}", row(sparse.view().into_dimensionality()?));
    let _ = writeln!(s, "    dense(labels = one_hot([0, 2], 3))   = {}", row(dense.view().into_dimensionality()?));
    let eps = 0.1;
    let smooth = onehot.mapv(|v| v * (1.0 - eps) + eps / 3.0);
    let dense_s = SoftmaxCrossEntropyWithLogits::new().forward(smooth.view(), z.view())?;
    let _ = writeln!(s, "\n  Only the dense one takes soft labels. Label smoothing ε = {eps}: y = (1 − ε)·one_hot + ε/C:");
    let _ = writeln!(s, "    labels = {} ; {}", row(smooth.row(0)), row(smooth.row(1)));
    let _ = writeln!(s, "    dense(smoothed labels)               = {}", row(dense_s.view().into_dimensionality()?));
    let _ = writeln!(s, "    The sparse one cannot express this: its labels are class indices.");
    let _ = writeln!(s, "    (Since Keras and PyTorch ≥ 1.10, a `label_smoothing` option computes the same from indices.)\n");
    let p = losslab::softmax(&z.view(), Axis(1))?;
    let wrong = SparseSoftmaxCrossEntropyWithLogits::new().forward(labels.view(), p.view())?;
    let (_, g_right) = SparseSoftmaxCrossEntropyWithLogits::new().reduction(Reduction::Sum).forward_backward(labels.view(), z.view())?;
    let (_, g_wrong) = SparseSoftmaxCrossEntropyWithLogits::new().reduction(Reduction::Sum).forward_backward(labels.view(), p.view())?;
    let norm = |a: &ndarray::ArrayD<f64>| a.iter().map(|v| v * v).sum::<f64>().sqrt();
    let _ = writeln!(s, "  Both want raw logits: they apply the softmax themselves. Given softmax output instead,");
    let _ = writeln!(s, "  they apply a second softmax to numbers in [0, 1], which squashes every prediction towards uniform:");
    let _ = writeln!(s, "    probabilities p = {} ; {}", row(p.index_axis(Axis(0), 0).into_dimensionality()?), row(p.index_axis(Axis(0), 1).into_dimensionality()?));
    let _ = writeln!(s, "    right: sparse(labels, logits)        = {}", row(sparse.view().into_dimensionality()?));
    let _ = writeln!(s, "    wrong: sparse(labels, softmax(logits)) = {}", row(wrong.view().into_dimensionality()?));
    let _ = writeln!(s, "    (both pulled towards ln 3 = {}, the loss of a uniform guess)", num(3f64.ln()));
    let _ = writeln!(s, "    gradient norm: right {}, wrong {} (and the extra softmax's Jacobian sits between it and the model)", num(norm(&g_right.input)), num(norm(&g_wrong.input)));
    let _ = writeln!(s, "  The loss can never go below −ln(e / (e + C − 1)) = {} for C = 3, however confident the", num(-(1f64.exp() / (1f64.exp() + 2.0)).ln()));
    let _ = writeln!(s, "  model: the bug trains, badly, and raises no error.");
    Ok(s)
}

fn l1_l2_smooth_l1() -> Result<String> {
    let mut s = String::new();
    let _ = writeln!(s, "L2, L1, SMOOTH L1 AND HUBER (the article's question 5)\n");
    let r = Array1::from(vec![-10.0, -2.0, -1.0, -0.5, -0.1, 0.0, 0.1, 0.5, 1.0, 2.0, 10.0]);
    let zero = Array1::zeros(r.len());
    type ValueAndGrad<'a> = Box<dyn Fn() -> Result<(ndarray::ArrayD<f64>, ndarray::ArrayD<f64>)> + 'a>;
    let losses: [(&str, ValueAndGrad<'_>); 4] = [
        ("L2 (MSE)", Box::new(|| {
            let (v, g) = MseLoss::new().reduction(Reduction::None).forward_backward(r.view(), zero.view())?;
            Ok((v, g.input))
        })),
        ("L1 (MAE)", Box::new(|| {
            let (v, g) = L1Loss::new().reduction(Reduction::None).forward_backward(r.view(), zero.view())?;
            Ok((v, g.input))
        })),
        ("Smooth L1 (β=1)", Box::new(|| {
            let (v, g) = SmoothL1Loss::new().reduction(Reduction::None).forward_backward(r.view(), zero.view())?;
            Ok((v, g.input))
        })),
        ("Huber (δ=1)", Box::new(|| {
            let (v, g) = HuberLoss::new().reduction(Reduction::None).forward_backward(r.view(), zero.view())?;
            Ok((v, g.input))
        })),
    ];
    let _ = writeln!(s, "Loss ℓ(r) and gradient ∂ℓ/∂r of one residual r = prediction − target:\n");
    let _ = writeln!(s, "  {:<17}{}", "r", r.iter().map(|v| format!("{:>8}", num(*v))).collect::<String>());
    for (name, f) in &losses {
        let (v, g) = f()?;
        let _ = writeln!(s, "  {:<17}{}", format!("{name}"), v.iter().map(|x| format!("{:>8}", num(*x))).collect::<String>());
        let _ = writeln!(s, "  {:<17}{}", "   gradient", g.iter().map(|x| format!("{:>8}", num(*x))).collect::<String>());
    }
    let _ = writeln!(s, "\n  L2: smooth, and its gradient 2r shrinks as the fit improves (fine steps near the optimum);");
    let _ = writeln!(s, "      but an outlier with r = 10 pulls 20 times harder than r = 0.5: outliers dominate the fit.");
    let _ = writeln!(s, "  L1: every point pulls with the same force ±1, so outliers cannot dominate (the median is robust);");
    let _ = writeln!(s, "      but the gradient does not shrink near the optimum (it oscillates around it unless the");
    let _ = writeln!(s, "      learning rate decays), and it is undefined at r = 0 (PyTorch and losslab use 0 there).");
    let _ = writeln!(s, "  Smooth L1 = L2 near 0 (r²/2β for |r| < β) and L1 far away (|r| − β/2): the small gradient near");
    let _ = writeln!(s, "      the optimum and the bounded pull of outliers. Fast R-CNN uses it for box regression: early");
    let _ = writeln!(s, "      in training the boxes are far off and L2's gradients would explode.");
    let _ = writeln!(s, "  Huber(δ) = δ · SmoothL1(β = δ): the same shape, with slope δ instead of 1 far away.");
    let _ = writeln!(s, "\n  `losslab report` fits a line to the diabetes data with injected outliers under all four.");
    Ok(s)
}

/// The families of losses used in practice, one line each, and the catalog's
/// losses by family.
fn catalog() -> String {
    let mut s = String::new();
    let _ = writeln!(s, "LOSSES USED IN PRACTICE (the article's question 6)\n");
    for (family, when) in FAMILIES {
        let _ = writeln!(s, "  {family:<26} {when}");
    }
    let _ = writeln!(s, "\nIn losslab's catalog now (`losslab list` for arguments and defaults):");
    for spec in losslab_registry::catalog() {
        let _ = writeln!(s, "  {:<46} {}", spec.qualified_name(), spec.summary);
    }
    s
}

/// The families of losses in practice, each with when to use it.
pub const FAMILIES: &[(&str, &str)] = &[
    ("cross entropy (softmax)", "multi-class classification, one label per example; with label smoothing against overconfidence"),
    ("binary cross entropy", "two classes, or several independent labels per example (multi-label); pos_weight for imbalance"),
    ("focal loss", "dense detection with extreme class imbalance: down-weights the easy, well-classified examples"),
    ("hinge / margin losses", "max-margin classifiers (SVMs); a loss of 0 once the margin is large enough"),
    ("KL divergence", "matching a whole distribution: distillation (teacher → student), VAEs, policy constraints"),
    ("MSE (L2)", "regression with Gaussian-like noise and no outliers; smooth and fast near the optimum"),
    ("L1 (MAE)", "regression robust to outliers (fits the median); constant gradient"),
    ("Smooth L1 / Huber", "robust regression that stays smooth near 0: box regression in detectors"),
    ("log-cosh, quantile", "smooth robust regression; quantile (pinball) loss for prediction intervals"),
    ("Poisson / Gaussian NLL", "counts; regression that also predicts its own uncertainty"),
    ("IoU, GIoU, DIoU, CIoU", "bounding boxes: optimise the overlap metric itself, scale-invariant"),
    ("Dice, Tversky, Jaccard", "segmentation with small foreground regions, where pixel-wise CE is swamped by background"),
    ("triplet, contrastive", "metric learning: embeddings where similar items are close (faces, retrieval)"),
    ("InfoNCE", "self-supervised and multimodal contrastive learning (SimCLR, CLIP): pick the positive among negatives"),
    ("CTC", "sequence labelling without alignment: speech and handwriting recognition"),
];

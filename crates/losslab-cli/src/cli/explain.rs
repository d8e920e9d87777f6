//! `losslab explain TOPIC`: the article's questions answered in plain text,
//! with every number computed live by [`losslab`].

use crate::cli::info::{num, parse_list};
use crate::lab::i18n::Lang;
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
  losslab explain catalog
  losslab explain entropy --lang zh";

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
    /// The language of the text: en or zh (by default the LANG environment
    /// variable's where it is Chinese, else English).
    #[arg(long, value_name = "LANG")]
    pub lang: Option<String>,
}

/// Runs `losslab explain`.
///
/// # Errors
/// Bad `--logits` or `--target`, or a failed write.
pub fn run(args: &ExplainArgs, out: &mut dyn Write) -> Result<ExitCode> {
    if args.topic != Topic::CrossEntropy && (args.logits.is_some() || args.target.is_some()) {
        bail!("--logits and --target are for `explain cross-entropy` only");
    }
    let lang = Lang::from_flag_or_env(args.lang.as_deref())?;
    let text = match args.topic {
        Topic::Entropy => entropy(lang)?,
        Topic::CrossEntropy => {
            let (z, t) = parse_batch(args.logits.as_deref(), args.target.as_deref())?;
            cross_entropy_text(&z, &t, lang)?
        }
        Topic::MseVsCe => mse_vs_ce(lang)?,
        Topic::DenseVsSparse => dense_vs_sparse_text(lang)?,
        Topic::L1L2SmoothL1 => l1_l2_smooth_l1(lang)?,
        Topic::Catalog => catalog(lang),
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

fn entropy(lang: Lang) -> Result<String> {
    let mut s = String::new();
    let bits_word = lang.t("info-unit-bits");
    let _ = writeln!(s, "{}\n", lang.t("explain-entropy-title"));
    let _ = writeln!(s, "{}", lang.t("explain-entropy-self-information"));
    let ps = Array1::from(vec![1.0, 0.5, 0.25, 0.1, 0.01]);
    let bits = losslab::self_information(ps.view(), Some(2.0))?;
    for (p, i) in ps.iter().zip(bits.iter()) {
        let _ = writeln!(s, "  p = {:<5} I = {:<9} {bits_word}", num(*p), num(*i));
    }
    let _ = writeln!(s, "\n{}", lang.t("explain-entropy-entropy"));
    let _ = writeln!(s, "{}", lang.t("explain-entropy-binary"));
    let grid = Array1::from(vec![0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0]);
    let h: ndarray::ArrayD<f64> = losslab::binary_entropy(grid.view(), Some(2.0))?;
    for (p, v) in grid.iter().zip(h.iter()) {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let bar = "#".repeat((*v * 40.0f64).round() as usize);
        let _ = writeln!(s, "  p = {:<5} H = {:<9} {bits_word} {bar}", num(*p), num(*v));
    }
    let _ = writeln!(s, "  {}", lang.t("explain-entropy-maximal"));
    let u4 = losslab::information::entropy(Array1::from(vec![0.25; 4]).view(), 0, Some(2.0))?[[]];
    let _ = writeln!(s, "  {}\n", lang.f("explain-entropy-uniform", &[("h", &num(u4))]));

    let p = Array1::from(vec![1.0, 0.0, 0.0]);
    let q = Array1::from(vec![0.7, 0.2, 0.1]);
    let kl = losslab::information::kl_divergence(p.view(), q.view(), 0, None)?[[]];
    let kl_rev = losslab::information::kl_divergence(q.view(), p.view(), 0, None)?[[]];
    let ce = losslab::information::cross_entropy(p.view(), q.view(), 0, None)?[[]];
    let _ = writeln!(s, "{}", lang.t("explain-entropy-kl"));
    let _ = writeln!(s, "  {}", lang.t("explain-entropy-example"));
    let _ = writeln!(s, "  KL(p‖q) = 1·ln(1/0.7) + 0·ln(0/0.2) + 0·ln(0/0.1) = {} ({})", num(kl), lang.t("explain-entropy-kl-zero-terms"));
    let _ = writeln!(s, "  KL(q‖p) = {}: {}", num(kl_rev), lang.t("explain-entropy-kl-reverse"));
    let _ = writeln!(s, "  {}\n", lang.t("explain-entropy-conventions"));
    let _ = writeln!(s, "{}", lang.t("explain-entropy-cross-entropy"));
    let _ = writeln!(s, "  {}", lang.f("explain-entropy-ce-here", &[("ce", &num(ce))]));
    let _ = writeln!(s, "  {}", lang.t("explain-entropy-ce-is-kl"));
    let _ = writeln!(s, "  {}\n", lang.t("explain-entropy-ce-one-hot"));
    let _ = writeln!(s, "{}", lang.t("explain-entropy-try"));
    Ok(s)
}

/// The text of `explain cross-entropy` for a batch of logits and true classes.
///
/// # Errors
/// A class out of range.
pub fn cross_entropy_text(z: &Array2<f64>, t: &[usize], lang: Lang) -> Result<String> {
    let mut s = String::new();
    let (n, c) = z.dim();
    let _ = writeln!(s, "{}\n", lang.t("explain-ce-title"));
    let _ = writeln!(s, "{}\n", lang.f("explain-ce-batch", &[("n", &n), ("c", &c)]));
    let p = losslab::softmax(&z.view(), Axis(1))?.into_dimensionality::<ndarray::Ix2>()?;
    let labels = Array1::from(t.iter().map(|&v| v as i64).collect::<Vec<_>>());
    let per = CrossEntropyLoss::new().reduction(Reduction::None).forward(z.view(), labels.view())?;
    let (mean, grads) = CrossEntropyLoss::new().forward_backward(z.view(), labels.view())?;
    for i in 0..n {
        let zr = z.row(i);
        let m = zr.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        let e: Array1<f64> = zr.mapv(|v| (v - m).exp());
        let sum: f64 = e.sum();
        let _ = writeln!(s, "{}", lang.f("explain-ce-example", &[("i", &(i + 1)), ("t", &t[i])]));
        let _ = writeln!(s, "  1. logits          z = {}", row(zr));
        let _ = writeln!(s, "  2. softmax         exp(z − max z) = {}, sum = {}", row(e.view()), num(sum));
        let _ = writeln!(s, "                     p = exp(z − max z) / sum = {}   ({})", row(p.row(i)), lang.t("explain-ce-sums-to-one"));
        let _ = writeln!(s, "  3. −log p[{}]       = −ln {} = {}", t[i], num(p[[i, t[i]]]), num(per[i]));
    }
    let _ = writeln!(s, "\n  4. {:<15} ({}) / {n} = {}", lang.t("explain-ce-batch-mean"), per.iter().map(|&v| num(v)).collect::<Vec<_>>().join(" + "), num(mean[[]]));
    let _ = writeln!(s, "     {}", lang.t("explain-ce-torch-same"));
    let _ = writeln!(s, "     {}\n", lang.t("explain-ce-fused"));
    let y = one_hot(t, c);
    let _ = writeln!(s, "  5. {:<15} ∂loss/∂z = (softmax(z) − one_hot(target)) / N", lang.t("explain-ce-gradient"));
    #[allow(clippy::cast_precision_loss)]
    let by_hand = (&p - &y) / n as f64;
    let g = grads.input.into_dimensionality::<ndarray::Ix2>()?;
    for i in 0..n {
        let _ = writeln!(s, "     {} {}: ({} − {}) / {n} = {}", lang.t("explain-ce-example-word"), i + 1, row(p.row(i)), row(y.row(i)), row(by_hand.row(i)));
        let _ = writeln!(s, "                {}", lang.f("explain-ce-backward-gives", &[("g", &row(g.row(i)))]));
    }
    let diff = (&g - &by_hand).iter().fold(0.0f64, |a, b| a.max(b.abs()));
    let _ = writeln!(s, "     {}", lang.f("explain-ce-largest-difference", &[("d", &format!("{diff:e}"))]));
    let _ = writeln!(s, "\n  {}", lang.t("explain-ce-push"));
    Ok(s)
}

fn mse_vs_ce(lang: Lang) -> Result<String> {
    let mut s = String::new();
    let _ = writeln!(s, "{}\n", lang.t("explain-mse-title"));
    let _ = writeln!(s, "{}", lang.t("explain-mse-setup"));
    let _ = writeln!(s, "  {}", lang.t("explain-mse-ce-line"));
    let _ = writeln!(s, "  {}\n", lang.t("explain-mse-mse-line"));
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
    let _ = writeln!(s, "\n  {}", lang.t("explain-mse-confidently-wrong"));
    // Convexity in s: second differences along the logit.
    let h = 1e-3;
    let second = |f: &dyn Fn(f64) -> f64, x: f64| (f(x + h) - 2.0 * f(x) + f(x - h)) / (h * h);
    let mse_at = |x: f64| ce_vs_mse(&[0.0, x], 0).map(|r| r.mse).unwrap_or(f64::NAN);
    let ce_at = |x: f64| ce_vs_mse(&[0.0, x], 0).map(|r| r.ce).unwrap_or(f64::NAN);
    let xs = [-4.0, -1.0, 0.0, 1.0, 4.0];
    let _ = writeln!(s, "\n  {}", lang.t("explain-mse-convexity"));
    let _ = writeln!(s, "    s      {}", xs.iter().map(|x| format!("{:>10}", num(*x))).collect::<String>());
    let _ = writeln!(s, "    CE''   {}", xs.iter().map(|&x| format!("{:>10.4}", second(&ce_at, x))).collect::<String>());
    let _ = writeln!(s, "    MSE''  {}", xs.iter().map(|&x| format!("{:>10.4}", second(&mse_at, x))).collect::<String>());
    let _ = writeln!(s, "  {}", lang.t("explain-mse-non-convex"));
    let _ = writeln!(s, "\n  {}", lang.t("explain-mse-report"));
    Ok(s)
}

/// The text of `explain dense-vs-sparse`.
///
/// # Errors
/// Never.
pub fn dense_vs_sparse_text(lang: Lang) -> Result<String> {
    let mut s = String::new();
    let _ = writeln!(s, "{}\n", lang.t("explain-ds-title"));
    let z = ndarray::array![[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]];
    let labels = ndarray::array![0i64, 2];
    let onehot = one_hot(&[0, 2], 3);
    let _ = writeln!(s, "  logits = {} ; {}   labels = [0, 2]\n", row(z.row(0)), row(z.row(1)));
    let _ = writeln!(s, "  tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits): {}", lang.t("explain-ds-sparse"));
    let _ = writeln!(s, "    {}", lang.t("explain-ds-sparse-shape"));
    let _ = writeln!(s, "  tf.nn.softmax_cross_entropy_with_logits(labels, logits): {}", lang.t("explain-ds-dense"));
    let _ = writeln!(s, "    {}\n", lang.t("explain-ds-dense-shape"));
    let sparse = SparseSoftmaxCrossEntropyWithLogits::new().forward(labels.view(), z.view())?;
    let dense = SoftmaxCrossEntropyWithLogits::new().forward(onehot.view(), z.view())?;
    let _ = writeln!(s, "  {}", lang.t("explain-ds-agree"));
    let _ = writeln!(s, "    sparse(labels = [0, 2])              = {}", row(sparse.view().into_dimensionality()?));
    let _ = writeln!(s, "    dense(labels = one_hot([0, 2], 3))   = {}", row(dense.view().into_dimensionality()?));
    let eps = 0.1;
    let smooth = onehot.mapv(|v| v * (1.0 - eps) + eps / 3.0);
    let dense_s = SoftmaxCrossEntropyWithLogits::new().forward(smooth.view(), z.view())?;
    let _ = writeln!(s, "\n  {}", lang.f("explain-ds-only-dense", &[("eps", &eps)]));
    let _ = writeln!(s, "    labels = {} ; {}", row(smooth.row(0)), row(smooth.row(1)));
    let _ = writeln!(s, "    dense(smoothed labels)               = {}", row(dense_s.view().into_dimensionality()?));
    let _ = writeln!(s, "    {}", lang.t("explain-ds-sparse-cannot"));
    let _ = writeln!(s, "    {}\n", lang.t("explain-ds-label-smoothing-option"));
    let p = losslab::softmax(&z.view(), Axis(1))?;
    let wrong = SparseSoftmaxCrossEntropyWithLogits::new().forward(labels.view(), p.view())?;
    let (_, g_right) = SparseSoftmaxCrossEntropyWithLogits::new().reduction(Reduction::Sum).forward_backward(labels.view(), z.view())?;
    let (_, g_wrong) = SparseSoftmaxCrossEntropyWithLogits::new().reduction(Reduction::Sum).forward_backward(labels.view(), p.view())?;
    let norm = |a: &ndarray::ArrayD<f64>| a.iter().map(|v| v * v).sum::<f64>().sqrt();
    let _ = writeln!(s, "  {}", lang.t("explain-ds-raw-logits"));
    let _ = writeln!(s, "  {}", lang.t("explain-ds-second-softmax"));
    let _ = writeln!(s, "    {} p = {} ; {}", lang.t("explain-ds-probabilities"), row(p.index_axis(Axis(0), 0).into_dimensionality()?), row(p.index_axis(Axis(0), 1).into_dimensionality()?));
    let _ = writeln!(s, "    {}: sparse(labels, logits)        = {}", lang.t("explain-ds-right"), row(sparse.view().into_dimensionality()?));
    let _ = writeln!(s, "    {}: sparse(labels, softmax(logits)) = {}", lang.t("explain-ds-wrong"), row(wrong.view().into_dimensionality()?));
    let _ = writeln!(s, "    {}", lang.f("explain-ds-pulled", &[("ln3", &num(3f64.ln()))]));
    let _ = writeln!(s, "    {}", lang.f("explain-ds-gradient-norm", &[("right", &num(norm(&g_right.input))), ("wrong", &num(norm(&g_wrong.input)))]));
    let _ = writeln!(s, "  {}", lang.f("explain-ds-floor", &[("floor", &num(-(1f64.exp() / (1f64.exp() + 2.0)).ln()))]));
    Ok(s)
}

fn l1_l2_smooth_l1(lang: Lang) -> Result<String> {
    let mut s = String::new();
    let _ = writeln!(s, "{}\n", lang.t("explain-reg-title"));
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
    let _ = writeln!(s, "{}\n", lang.t("explain-reg-setup"));
    let grad_word = format!("   {}", lang.t("explain-reg-gradient"));
    let _ = writeln!(s, "  {:<17}{}", "r", r.iter().map(|v| format!("{:>8}", num(*v))).collect::<String>());
    for (name, f) in &losses {
        let (v, g) = f()?;
        let _ = writeln!(s, "  {:<17}{}", format!("{name}"), v.iter().map(|x| format!("{:>8}", num(*x))).collect::<String>());
        let _ = writeln!(s, "  {:<17}{}", grad_word, g.iter().map(|x| format!("{:>8}", num(*x))).collect::<String>());
    }
    s.push('\n');
    for id in ["explain-reg-l2", "explain-reg-l1", "explain-reg-smooth-l1", "explain-reg-huber"] {
        let _ = writeln!(s, "  {}", lang.t(id));
    }
    let _ = writeln!(s, "\n  {}", lang.t("explain-reg-report"));
    Ok(s)
}

/// The families of losses used in practice, one line each, and the catalog's
/// losses by family.
fn catalog(lang: Lang) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}\n", lang.t("explain-catalog-title"));
    for (family, when) in families(lang) {
        let _ = writeln!(s, "  {family}");
        let _ = writeln!(s, "      {when}");
    }
    let _ = writeln!(s, "\n{}", lang.t("explain-catalog-now"));
    for spec in losslab_registry::catalog() {
        let _ = writeln!(s, "  {:<46} {}", spec.qualified_name(), spec.summary);
    }
    s
}

/// The families of losses in practice, by the catalogue's message id: the
/// family's name is `family-ID`, when to use it `family-ID-when`.
pub const FAMILIES: &[&str] = &[
    "softmax-ce",
    "bce",
    "focal",
    "hinge",
    "kl",
    "mse",
    "l1",
    "smooth-l1",
    "log-cosh",
    "nll",
    "iou",
    "dice",
    "triplet",
    "infonce",
    "ctc",
    "preference",
    "policy-gradient",
    "distillation",
    "clip",
    "metric-learning",
    "transducer",
    "large-vocabulary",
    "generative",
];

/// The families of losses in practice in `lang`: (family, when to use it).
pub fn families(lang: Lang) -> Vec<(String, String)> {
    FAMILIES.iter().map(|id| (lang.t(&format!("family-{id}")), lang.t(&format!("family-{id}-when")))).collect()
}

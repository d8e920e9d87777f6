//! `losslab report`: one self-contained HTML page (inline SVG, no network)
//! that answers the article's six questions, running its experiments when it
//! is made.

use crate::cli::explain;
use crate::cli::info::{self, num};
use crate::lab::curves::{axis_name, curve, panels, Against};
use crate::lab::figure::{Figure, Mark, Panel, Series};
use crate::lab::robust::{fit_line, ols, Fit};
use crate::lab::train::{self, calibration, split, truncate, Config, Objective};
use crate::lab::{ce_vs_mse, ce_vs_mse_two_class, data};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::Array1;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// The flags of `losslab report`, as given.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// The directory the page is written to (created if missing), as `index.html`.
    #[arg(long, value_name = "DIR", default_value = "target/report")]
    pub out: PathBuf,
    /// A reduced run (fewer epochs and iterations, a smaller training set), for tests.
    #[arg(long)]
    pub quick: bool,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn figure(html: &mut String, fig: &Figure, caption: &str) -> Result<()> {
    let svg = fig.to_svg()?;
    let _ = writeln!(html, "<figure>{svg}<figcaption>{caption}</figcaption></figure>");
    Ok(())
}

fn table(html: &mut String, head: &[&str], rows: &[Vec<String>]) {
    let _ = write!(html, "<table><tr>");
    for h in head {
        let _ = write!(html, "<th>{}</th>", esc(h));
    }
    let _ = writeln!(html, "</tr>");
    for r in rows {
        let _ = write!(html, "<tr>");
        for c in r {
            let _ = write!(html, "<td>{}</td>", esc(c));
        }
        let _ = writeln!(html, "</tr>");
    }
    let _ = writeln!(html, "</table>");
}

fn pct(v: f64) -> String {
    format!("{:.1}%", 100.0 * v)
}

/// Runs `losslab report`.
///
/// # Errors
/// An output directory that cannot be created or written.
pub fn run(args: &ReportArgs, out: &mut dyn Write) -> Result<ExitCode> {
    let start = Instant::now();
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create `{}`", args.out.display()))?;
    let (epochs, train_rows, iters) = if args.quick { (3, 400, 300) } else { (40, usize::MAX, 4000) };
    let steps = 6 + 4 * epochs as u64 + if args.quick { 2 } else { 5 };
    let bar = ProgressBar::new(steps);
    bar.set_style(ProgressStyle::with_template("{spinner} {msg:32} [{bar:30}] {pos}/{len} {elapsed}").expect("a valid template").progress_chars("=> "));
    let mut html = String::new();
    let _ = writeln!(
        html,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>losslab: understanding loss in deep learning</title><style>\
body{{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.45;color:#222}}\
h1{{border-bottom:2px solid #0072b2}} h2{{margin-top:2em;border-bottom:1px solid #ccc}}\
figure{{margin:1em 0}} figure svg{{max-width:100%;height:auto}} figcaption{{font-size:.92em;color:#444}}\
table{{border-collapse:collapse;margin:.8em 0}} td,th{{border:1px solid #ccc;padding:.25em .6em;text-align:right}} th{{background:#f3f3f3}}\
pre{{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:.85em}} .gallery{{display:grid;grid-template-columns:1fr 1fr;gap:1em}}\
</style></head><body>"
    );
    let _ = writeln!(html, "<h1>Understanding loss in deep learning: six questions, answered with evidence</h1>");
    let _ = writeln!(
        html,
        "<p>Made by <code>losslab report</code>{}: every number and figure below was computed when the page was made, by the losslab library's own losses and gradients. The data are scikit-learn's handwritten digits and diabetes data, shipped in the repository (<code>data/README.md</code> gives their sources and licences).</p>",
        if args.quick { " in quick mode (fewer epochs, a smaller training set)" } else { "" }
    );

    // Q1 ----------------------------------------------------------------------------------
    bar.set_message("Q1 entropy");
    let _ = writeln!(html, "<h2 id=\"q1\">1. What do entropy and cross entropy mean?</h2>");
    let _ = writeln!(html, "<p>Self-information <i>I(x) = −log p(x)</i>; entropy <i>H = −Σ p log p</i>, its expectation; KL divergence <i>KL(p‖q) = Σ p log(p/q)</i>; cross entropy <i>H(p, q) = H(p) + KL(p‖q)</i>. The article's example, truth p = (1, 0, 0) and prediction q = (0.7, 0.2, 0.1), in nats:</p>");
    let i = info::compute(
        info::distribution("p", vec![1.0, 0.0, 0.0])?,
        Some(info::distribution("q", vec![0.7, 0.2, 0.1])?),
        false,
    )?;
    let o = |v: Option<f64>| num(v.unwrap_or(f64::NAN));
    table(
        &mut html,
        &["H(p)", "H(q)", "H(p, q)", "KL(p‖q)", "KL(q‖p)", "JS(p, q)"],
        &[vec![num(i.entropy_p), o(i.entropy_q), o(i.cross_entropy), o(i.kl_pq), o(i.kl_qp), o(i.js)]],
    );
    let _ = writeln!(html, "<p>KL(p‖q) = H(p, q) = −ln 0.7 = 0.356675 because H(p) = 0; KL(q‖p) = ∞ because q gives probability to outcomes p rules out (q·log(q/0) = ∞): KL is not symmetric. Try <code>losslab info --p … --q …</code>.</p>");
    let be = curve("binary-entropy", Against::Probability, &Against::Probability.grid())?;
    let mut fig = Figure::new(vec![panels(std::slice::from_ref(&be)).remove(0)]);
    fig.panels[0].title = "binary entropy H(p) in bits".into();
    figure(&mut html, &fig, "Figure 1. The entropy of a 0-1 event with probability p: 1 bit at p = 0.5 (maximal uncertainty), 0 at p = 0 and 1 (a certain outcome); H(0.1) = H(0.9) = 0.469 bits.")?;
    bar.inc(1);

    // Q2 ----------------------------------------------------------------------------------
    bar.set_message("Q2 cross-entropy pipeline");
    let _ = writeln!(html, "<h2 id=\"q2\">2. How is the cross-entropy loss used?</h2>");
    let (z, t) = explain::parse_batch(None, None)?;
    let pipe = crate::lab::pipeline::compute(&z, &t)?;
    let labels = crate::lab::pipeline::PipelineLabels {
        logits: "logits z",
        softmax: "softmax p",
        nll: "−log p of the true class",
        mean: "batch mean",
        forward: "forward",
        backward: "backward: the gradient of L",
        example: "example",
        true_class: "true class",
    };
    let _ = writeln!(
        html,
        "<figure>{}<figcaption>Figure 2a. The pipeline on the worked example (two examples, three classes, 4 decimals shown). Forward, left to right: the logits, their softmax, −ln of the true class's probability, the mean L = {}. Backward, right to left: ∂L/∂L = 1; each example's loss gets 1/N; the true class's probability gets −1/(N·p), the more so the smaller p; through the softmax that becomes (p − one-hot)/N at the logits: the true logit is pushed up by (1 − p)/N, every other logit down by p/N.</figcaption></figure>",
        crate::lab::pipeline::svg(&pipe, &labels),
        num(pipe.loss)
    );
    let text = explain::cross_entropy_text(&z, &t)?;
    let _ = writeln!(html, "<p>Logits → softmax → −log p of the true class → mean over the batch; the gradient is softmax − one-hot (divided by the batch size). Step by step on two examples (<code>losslab explain cross-entropy</code>):</p><pre>{}</pre>", esc(&text));
    bar.inc(1);

    // Q3 ----------------------------------------------------------------------------------
    bar.set_message("Q3 digits: CE vs MSE");
    let _ = writeln!(html, "<h2 id=\"q3\">3. Why can't MSE replace cross entropy for classification?</h2>");
    let digits = data::digits()?;
    let sp = truncate(&split(&digits, 450, 2024), train_rows);
    let cfg = Config { epochs, lr: 0.5, batch: 32, seed: 7 };
    let (m_ce, h_ce) = train::train(&sp, Objective::CrossEntropy { smoothing: 0.0 }, cfg, || bar.inc(1))?;
    let (_m_mse, h_mse) = train::train(&sp, Objective::MseOnSoftmax, cfg, || bar.inc(1))?;
    let ep: Vec<f64> = (0..=epochs).map(|e| e as f64).collect();
    let line = |v: &[f64], label: &str, c: usize| Series::new(label, ep.iter().copied().zip(v.iter().copied()).collect(), Mark::Line, c);
    let fig = Figure::new(vec![
        Panel { title: "training loss (each under its own objective)".into(), x_label: "epoch".into(), y_label: "loss".into(), series: vec![line(&h_ce.train_loss, "cross entropy", 0), line(&h_mse.train_loss, "MSE on softmax", 1)], y_range: None },
        Panel { title: "test accuracy".into(), x_label: "epoch".into(), y_label: "accuracy".into(), series: vec![line(&h_ce.test_acc, "cross entropy", 0), line(&h_mse.test_acc, "MSE on softmax", 1)], y_range: Some((0.0, 1.0)) },
    ]);
    let acc_at = |h: &train::History, e: usize| h.test_acc[e.min(h.test_acc.len() - 1)];
    figure(
        &mut html,
        &fig,
        &format!(
            "Figure 2. Softmax regression (64 pixels → 10 classes) on {} training digits, {} test digits, from the same initial weights (seed {}), minibatches of {}, learning rate {}. Test accuracy after 1 epoch: cross entropy {}, MSE {}; after {} epochs: cross entropy {}, MSE {}.",
            sp.train_y.len(), sp.test_y.len(), cfg.seed, cfg.batch, cfg.lr,
            pct(acc_at(&h_ce, 1)), pct(acc_at(&h_mse, 1)), epochs, pct(acc_at(&h_ce, epochs)), pct(acc_at(&h_mse, epochs))
        ),
    )?;
    // Gradient magnitude against p(true): closed-form slice and the test digits under the CE model after one epoch.
    let (m1, _) = train::train(&sp, Objective::CrossEntropy { smoothing: 0.0 }, Config { epochs: 1, ..cfg }, || {})?;
    let zt = m1.logits(sp.test_x.view());
    let mut pts_ce = vec![];
    let mut pts_mse = vec![];
    for (row, &y) in zt.outer_iter().zip(&sp.test_y) {
        let r = ce_vs_mse(row.as_slice().expect("contiguous"), y)?;
        pts_ce.push((r.p_true, r.ce_grad));
        pts_mse.push((r.p_true, r.mse_grad));
    }
    let grid: Vec<f64> = (1..200).map(|k| f64::from(k) / 200.0).collect();
    let slice: Vec<_> = grid.iter().map(|&p| ce_vs_mse_two_class(p)).collect::<Result<_>>()?;
    let fig = Figure::new(vec![Panel {
        title: "gradient magnitude ‖∂loss/∂logits‖ against p(true class)".into(),
        x_label: "predicted probability of the true class".into(),
        y_label: "gradient norm".into(),
        series: vec![
            Series::new("CE, two-class slice", slice.iter().map(|r| (r.p_true, r.ce_grad)).collect(), Mark::Line, 0),
            Series::new("MSE, two-class slice", slice.iter().map(|r| (r.p_true, r.mse_grad)).collect(), Mark::Line, 1),
            Series::new("CE, test digits", pts_ce.clone(), Mark::Points, 0),
            Series::new("MSE, test digits", pts_mse.clone(), Mark::Points, 1),
        ],
        y_range: Some((0.0, 1.5)),
    }]);
    let low: Vec<usize> = (0..pts_ce.len()).filter(|&k| pts_ce[k].0 < 0.1).collect();
    let mean = |v: &[(f64, f64)], ix: &[usize]| if ix.is_empty() { f64::NAN } else { ix.iter().map(|&k| v[k].1).sum::<f64>() / ix.len() as f64 };
    let at01 = ce_vs_mse_two_class(0.01)?;
    figure(
        &mut html,
        &fig,
        &format!(
            "Figure 3. Lines: two classes with logits (0, s); CE's gradient norm is √2(1 − p), MSE's 4√2·p(1 − p)². At p = 0.01 (confidently wrong) CE's is {} and MSE's {}, {} times smaller. Dots: the {} test digits under the cross-entropy model after one epoch, each loss's per-example gradient; among the {} digits with p(true) &lt; 0.1 the mean gradient norm is {} for CE and {} for MSE.",
            num(at01.ce_grad), num(at01.mse_grad), num((at01.ce_grad / at01.mse_grad).round()), pts_ce.len(), low.len(), num(mean(&pts_ce, &low)), num(mean(&pts_mse, &low))
        ),
    )?;
    let _ = writeln!(html, "<p>After a softmax, MSE's gradient carries the softmax Jacobian diag(p) − ppᵀ, which vanishes when the prediction saturates, right or wrong: a confidently wrong example barely moves the weights, while cross entropy's gradient p − y is largest exactly there. MSE is also bounded (at most 2 per example) and non-convex in the logits (<code>losslab explain mse-vs-ce</code>). Test accuracy of the final models: cross entropy {}, MSE {}.</p>", pct(acc_at(&h_ce, epochs)), pct(acc_at(&h_mse, epochs)));
    let _ = m_ce;

    // The decisive experiment: the same confidently wrong start, several seeds.
    let seeds: &[u64] = if args.quick { &[1, 2] } else { &[1, 2, 3, 4, 5] };
    let rec_epochs = if args.quick { 3 } else { 20 };
    let runs: Vec<train::RecoveryRun> = seeds
        .iter()
        .map(|&seed| {
            let r = train::recovery_run(&sp, Config { epochs: rec_epochs, seed, ..cfg }, 2, 3.0);
            bar.inc(1);
            r
        })
        .collect::<Result<_>>()?;
    let _ = writeln!(html, "<h3>The decisive experiment: a network that is sure of the wrong answer</h3>");
    let _ = writeln!(html, "<p>Above, both losses start from small random weights, where every prediction is near uniform and MSE's gradient is not yet small: MSE only lags. The difference becomes decisive when the network is <i>confidently wrong</i>, as after a bad initialisation, a shift in the data or noisy labels. To build that start, the classifier is trained with cross entropy for 2 epochs, then each class's weights are moved to the next class (0 → 1, …, 9 → 0) and multiplied by 3: the network now answers <i>c + 1</i> with high confidence for a digit <i>c</i>. From that same start, the same network is trained with each loss ({rec_epochs} epochs, the settings above), for {} seeds (each seed changes the initial weights, the pre-training and the minibatch order).</p>", seeds.len());
    let stat = |v: Vec<f64>| {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let (lo, hi) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
        format!("{} ({}–{})", pct(m), pct(lo), pct(hi))
    };
    let at = |mse: bool, e: usize| {
        stat(runs.iter().map(|r| {
            let v = if mse { &r.mse_acc } else { &r.ce_acc };
            v[e.min(v.len() - 1)]
        }).collect())
    };
    let checkpoints = [0usize, 1, 5.min(rec_epochs), rec_epochs];
    let mut rows = vec![];
    for (name, mse) in [("cross entropy", false), ("MSE on softmax", true)] {
        let mut row = vec![name.to_string()];
        row.extend(checkpoints.iter().map(|&e| at(mse, e)));
        rows.push(row);
    }
    let head: Vec<String> = checkpoints.iter().map(|e| if *e == 0 { "start".to_string() } else { format!("epoch {e}") }).collect();
    let mut head_refs = vec!["test accuracy: mean (min–max) over seeds"];
    head_refs.extend(head.iter().map(String::as_str));
    table(&mut html, &head_refs, &rows);
    let ep_r: Vec<f64> = (0..=rec_epochs).map(|e| e as f64).collect();
    let mut series = vec![];
    for (k, r) in runs.iter().enumerate() {
        let label = |name: &str| if k == 0 { name.to_string() } else { String::new() };
        series.push(Series::new(label("cross entropy"), ep_r.iter().copied().zip(r.ce_acc.iter().copied()).collect(), Mark::Line, 0));
        series.push(Series::new(label("MSE on softmax"), ep_r.iter().copied().zip(r.mse_acc.iter().copied()).collect(), Mark::Line, 1));
    }
    let first = &runs[0];
    let log_p: Vec<(f64, f64, f64)> = first.start_grads.iter().map(|&(p, c, m)| (p.max(1e-12).log10(), c, m)).collect();
    let fig = Figure::new(vec![
        Panel { title: "test accuracy from the confidently wrong start, every seed".into(), x_label: "epoch".into(), y_label: "accuracy".into(), series, y_range: Some((0.0, 1.0)) },
        Panel {
            title: format!("at the start (seed {}): gradient norm per training digit", first.seed),
            x_label: "log₁₀ p(true class)".into(),
            y_label: "‖∂loss/∂logits‖".into(),
            series: vec![
                Series::new("cross entropy", log_p.iter().map(|g| (g.0, g.1)).collect(), Mark::Points, 0),
                Series::new("MSE on softmax", log_p.iter().map(|g| (g.0, g.2)).collect(), Mark::Points, 1),
            ],
            y_range: Some((0.0, 1.5)),
        },
    ]);
    let mut ratios: Vec<f64> = first.start_grads.iter().filter(|g| g.0 < 0.01).map(|g| g.2 / g.1).collect();
    ratios.sort_by(f64::total_cmp);
    let median_ratio = ratios.get(ratios.len() / 2).copied().unwrap_or(f64::NAN);
    figure(
        &mut html,
        &fig,
        &format!(
            "Figure 3b. Left: test accuracy from the confidently wrong start, one line per seed and loss. Right: at the start, each training digit's probability of its true class (median {:.2e} for seed {}) and each loss's gradient norm with respect to the logits; on the {} of {} digits with p(true) &lt; 0.01, MSE's gradient is a median {} of cross entropy's.",
            first.start_p_true, first.seed, ratios.len(), first.start_grads.len(), pct(median_ratio)
        ),
    )?;
    let _ = writeln!(html, "<p><b>What it shows.</b> From the same confidently wrong start, cross entropy recovers on every seed ({} test accuracy after {rec_epochs} epochs) while MSE on the softmax stalls on every seed ({}). The right panel says why: cross entropy's gradient on a confidently wrong example is about √2·(1 − p) ≈ 1.4, the largest it can be, so those examples drive the update; MSE's passes through the softmax Jacobian diag(p) − ppᵀ, which is near 0 when the softmax is saturated, so the examples that most need correcting barely move the weights. The spread over seeds is small beside the gap: it is not luck.</p>", at(false, rec_epochs), at(true, rec_epochs));

    // Q4 ----------------------------------------------------------------------------------
    bar.set_message("Q4 dense/sparse, smoothing");
    let _ = writeln!(html, "<h2 id=\"q4\">4. TensorFlow's softmax_cross_entropy_with_logits vs sparse_softmax_cross_entropy_with_logits</h2>");
    let _ = writeln!(html, "<pre>{}</pre>", esc(&explain::dense_vs_sparse_text()?));
    let (m_ls, _) = train::train(&sp, Objective::CrossEntropy { smoothing: 0.1 }, cfg, || bar.inc(1))?;
    let c0 = calibration(&m_ce, sp.test_x.view(), &sp.test_y)?;
    let c1 = calibration(&m_ls, sp.test_x.view(), &sp.test_y)?;
    // The last run's epochs count for the bar too.
    for _ in 0..epochs {
        bar.inc(1);
    }
    let _ = writeln!(html, "<p>Label smoothing (ε = 0.1, the dense form: targets (1 − ε)·one-hot + ε/10) on the same classifier, same seed and settings, evaluated on the test digits:</p>");
    let row = |name: &str, c: &train::Calibration| vec![name.to_string(), pct(c.accuracy), format!("{:.3}", c.confidence), format!("{:.3}", c.nll), format!("{:.3}", c.ece)];
    table(&mut html, &["training targets", "accuracy", "mean confidence", "test NLL", "ECE (10 bins)"], &[row("one-hot (ε = 0)", &c0), row("smoothed (ε = 0.1)", &c1)]);
    let rel = |c: &train::Calibration| c.bins.iter().filter(|b| b.2 > 0).map(|b| (b.0, b.1)).collect::<Vec<_>>();
    let diag: Vec<(f64, f64)> = vec![(0.0, 0.0), (1.0, 1.0)];
    let fig = Figure::new(vec![Panel {
        title: "reliability: accuracy against confidence".into(),
        x_label: "confidence (largest predicted probability)".into(),
        y_label: "accuracy in the bin".into(),
        series: vec![
            Series::new("perfect calibration", diag, Mark::Dashed, 7),
            Series::new("ε = 0", rel(&c0), Mark::Line, 0),
            Series::new("ε = 0.1", rel(&c1), Mark::Line, 2),
        ],
        y_range: Some((0.0, 1.05)),
    }]);
    figure(
        &mut html,
        &fig,
        &format!(
            "Figure 4. Reliability diagram on the {} test digits (10 equal-width confidence bins, empty bins left out). Mean confidence {:.3} vs accuracy {} without smoothing; {:.3} vs {} with ε = 0.1. Smoothing caps the confidence a model is rewarded for (the optimum puts 1 − ε + ε/10 = 0.91 on the true class), so it lowers confidence; whether that improves calibration depends on whether the model was over- or under-confident to begin with, as the ECE column shows.",
            sp.test_y.len(), c0.confidence, pct(c0.accuracy), c1.confidence, pct(c1.accuracy)
        ),
    )?;
    bar.inc(1);

    // Q5 ----------------------------------------------------------------------------------
    bar.set_message("Q5 robust regression");
    let _ = writeln!(html, "<h2 id=\"q5\">5. L2 vs L1, and why Smooth L1</h2>");
    let db = data::diabetes()?;
    let n = db.bmi.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| db.bmi[b].total_cmp(&db.bmi[a]));
    let outliers: Vec<usize> = order[..22].to_vec();
    let mut y_bad = db.target.clone();
    for &k in &outliers {
        y_bad[k] /= 10.0;
    }
    let mean_sd = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        (m, (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt())
    };
    let (mx, sx) = mean_sd(&db.bmi);
    let (my, sy) = mean_sd(&y_bad);
    let xs = Array1::from(db.bmi.iter().map(|v| (v - mx) / sx).collect::<Vec<_>>());
    let ys = Array1::from(y_bad.iter().map(|v| (v - my) / sy).collect::<Vec<_>>());
    let (a_clean, b_clean) = ols(&db.bmi, &db.target);
    let mut fits = vec![];
    for f in Fit::ALL {
        let (a, b) = fit_line(f, &xs, &ys, iters)?;
        // Back to the original units: y = my + sy (a + b (x − mx)/sx).
        let slope = sy * b / sx;
        let icpt = my + sy * a - slope * mx;
        bar.inc(1);
        fits.push((f, icpt, slope));
    }
    let err = |icpt: f64, slope: f64| {
        let r: Vec<f64> = db.bmi.iter().zip(&db.target).map(|(x, y)| icpt + slope * x - y).collect();
        (r.iter().map(|v| v.abs()).sum::<f64>() / r.len() as f64, (r.iter().map(|v| v * v).sum::<f64>() / r.len() as f64).sqrt())
    };
    let mut rows = vec![];
    let (mae, rmse) = err(a_clean, b_clean);
    rows.push(vec!["least squares on the clean data (reference)".into(), format!("{b_clean:.2}"), format!("{a_clean:.1}"), format!("{mae:.1}"), format!("{rmse:.1}")]);
    for (f, icpt, slope) in &fits {
        let (mae, rmse) = err(*icpt, *slope);
        rows.push(vec![format!("{} on the corrupted data", f.name()), format!("{slope:.2}"), format!("{icpt:.1}"), format!("{mae:.1}"), format!("{rmse:.1}")]);
    }
    let _ = writeln!(html, "<p>Disease progression against body mass index for the {n} patients of the diabetes data. To imitate a data-entry error, the targets of the 22 patients (5%) with the highest BMI are divided by 10 (a dropped digit). A line is fitted to the corrupted data under each loss, by gradient descent on standardised data ({iters} steps, losses and gradients from losslab; Smooth L1 and Huber act at 1 standard deviation of the target, {sy:.1}). Errors are measured against the true targets of all patients.</p>");
    table(&mut html, &["fit", "slope (per BMI unit)", "intercept", "MAE vs true targets", "RMSE vs true targets"], &rows);
    let (x_lo, x_hi) = db.bmi.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let clean_pts: Vec<(f64, f64)> = (0..n).filter(|k| !outliers.contains(k)).map(|k| (db.bmi[k], y_bad[k])).collect();
    let bad_pts: Vec<(f64, f64)> = outliers.iter().map(|&k| (db.bmi[k], y_bad[k])).collect();
    let mut series = vec![Series::new("patients", clean_pts, Mark::Points, 7), Series::new("corrupted targets", bad_pts, Mark::Points, 6)];
    series.push(Series::new("clean least squares", vec![(x_lo, a_clean + b_clean * x_lo), (x_hi, a_clean + b_clean * x_hi)], Mark::Dashed, 6));
    for (k, (f, icpt, slope)) in fits.iter().enumerate() {
        series.push(Series::new(f.name(), vec![(x_lo, icpt + slope * x_lo), (x_hi, icpt + slope * x_hi)], Mark::Line, k));
    }
    let fig = Figure { panels: vec![Panel { title: "lines fitted to the corrupted diabetes data".into(), x_label: "body mass index".into(), y_label: "disease progression".into(), series, y_range: None }], panel_width: 760, height: 440 };
    figure(
        &mut html,
        &fig,
        &format!(
            "Figure 5. Black dots: the 22 corrupted targets. The clean least-squares slope is {b_clean:.2}; on the corrupted data L2's slope is {:.2}, L1's {:.2}, Smooth L1's {:.2}, Huber's {:.2}.",
            fits[0].2, fits[1].2, fits[2].2, fits[3].2
        ),
    )?;
    let xs_r = Against::Residual.grid();
    let rc: Vec<_> = ["mse", "l1", "smooth-l1", "huber"].iter().map(|l| curve(l, Against::Residual, &xs_r)).collect::<Result<_>>()?;
    let fig = Figure::new(panels(&rc));
    let g_at = |c: &crate::lab::curves::Curve, r: f64| curve(&c.name, Against::Residual, &[r]).map(|k| k.grads[0]);
    let mut grows = vec![];
    for c in &rc {
        grows.push(vec![c.name.clone(), num(g_at(c, 0.1)?), num(g_at(c, 1.0)?), num(g_at(c, 10.0)?)]);
    }
    figure(&mut html, &fig, "Figure 6. Each loss and its gradient against the residual (Smooth L1 with β = 1 and Huber with δ = 1 coincide). Near 0, L2, Smooth L1 and Huber have gradients that shrink with the residual; L1's stays ±1. Far away, L2's gradient grows without bound while the others stay at ±1: an outlier at r = 10 pulls 10 times harder under L2 than under Smooth L1.")?;
    table(&mut html, &["loss", "gradient at r = 0.1", "at r = 1", "at r = 10"], &grows);
    let _ = writeln!(html, "<p><b>What the outlier experiment shows.</b> L2 squares the residuals, so the 5% corrupted targets drag the whole line. L1 is the most robust here: its fit has the lowest MAE against the true targets, because every point pulls with the same force ±1 and the line follows the median. On outliers alone, L1 wins. Its weakness is elsewhere: the same constant-size gradient.</p>");

    // Q5, the other half: L1 at a fixed learning rate.
    let _ = writeln!(html, "<h3>Why detectors moved from L1 to Smooth L1: the fit near the optimum</h3>");
    let (t, from, lr, steps) = (0.37, 3.0, 0.1, 150);
    let paths: Vec<Vec<(f64, f64)>> = Fit::ALL.iter().map(|&f| crate::lab::robust::fixed_step_path(f, t, from, lr, steps)).collect::<Result<_>>()?;
    let step_series = |k: usize, pick: &dyn Fn(&(f64, f64)) -> f64| Series::new(Fit::ALL[k].name(), paths[k].iter().enumerate().map(|(i, p)| (i as f64, pick(p))).collect(), Mark::Line, k);
    let fig = Figure::new(vec![
        Panel { title: format!("the parameter θ over the steps (target {t}, learning rate {lr})"), x_label: "step".into(), y_label: "θ".into(), series: (0..4).map(|k| step_series(k, &|p| p.0)).collect(), y_range: Some((0.0, 1.0)) },
        Panel { title: "the loss over the steps".into(), x_label: "step".into(), y_label: "loss".into(), series: (0..4).map(|k| step_series(k, &|p| p.1)).collect(), y_range: Some((0.0, 0.2)) },
    ]);
    let tail = |k: usize| {
        let v: Vec<f64> = paths[k][steps - 10..].iter().map(|p| p.0).collect();
        v.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b)) - v.iter().fold(f64::INFINITY, |a, &b| a.min(b))
    };
    figure(
        &mut html,
        &fig,
        &format!(
            "Figure 6b. One box coordinate θ regressed to its ground truth {t} from {from}, by gradient descent at the fixed learning rate {lr}, under each loss (Smooth L1 with β = 1 and Huber with δ = 1 coincide). Over the last 10 steps θ moves by {} under L1, {} under L2, {} under Smooth L1 and {} under Huber.",
            num(tail(1)), num(tail(0)), num(tail(2)), num(tail(3))
        ),
    )?;
    let (xs_c, ys_c) = {
        let (mx, sx) = mean_sd(&db.bmi);
        let (my, sy) = mean_sd(&db.target);
        (Array1::from(db.bmi.iter().map(|v| (v - mx) / sx).collect::<Vec<_>>()), Array1::from(db.target.iter().map(|v| (v - my) / sy).collect::<Vec<_>>()))
    };
    let line_steps = if args.quick { 200 } else { 300 };
    let sizes: Vec<Vec<f64>> = Fit::ALL.iter().map(|&f| crate::lab::robust::fixed_step_sizes(f, &xs_c, &ys_c, 0.5, line_steps)).collect::<Result<_>>()?;
    let fig = Figure::new(vec![Panel {
        title: "a line fitted to the clean diabetes data at a fixed learning rate (0.5)".into(),
        x_label: "step".into(),
        y_label: "log₁₀ size of the step".into(),
        series: sizes.iter().enumerate().map(|(k, v)| Series::new(Fit::ALL[k].name(), v.iter().enumerate().map(|(i, s)| (i as f64, s.max(1e-16).log10())).collect(), Mark::Line, k)).collect(),
        y_range: Some((-16.0, 0.0)),
    }]);
    let last = |k: usize| sizes[k][line_steps - 1];
    figure(
        &mut html,
        &fig,
        &format!(
            "Figure 6c. The same four losses fitting the line to the {n} clean patients (standardised), full batch, learning rate 0.5, {line_steps} steps: the size of each step ‖(Δa, Δb)‖. After {line_steps} steps it is {} under L2, {} under Smooth L1, {} under Huber, and {} under L1.",
            format!("{:.1e}", last(0)), format!("{:.1e}", last(2)), format!("{:.1e}", last(3)), format!("{:.1e}", last(1))
        ),
    )?;
    let _ = writeln!(html, "<p><b>What it shows.</b> L1's gradient has the same size however close the fit is, so at a fixed learning rate it never settles: θ jumps across the target and back by one full step forever (Figure 6b), and the line keeps moving by steps that do not shrink (Figure 6c); only a decaying learning rate stops it, and it is undefined at 0. L2 and Smooth L1 settle: their gradients shrink with the residual, so the steps shrink geometrically. That is why Fast R-CNN replaced L2 with Smooth L1 for box regression (the outlier experiment above: L2's pull grows with the error) rather than with L1 (this experiment): Smooth L1 is L2 near the optimum and L1 far from it (<code>losslab explain l1-l2-smooth-l1</code>).</p>");

    // Q6 ----------------------------------------------------------------------------------
    bar.set_message("Q6 gallery");
    let _ = writeln!(html, "<h2 id=\"q6\">6. Other losses used in practice</h2>");
    let fam: Vec<Vec<String>> = explain::FAMILIES.iter().map(|(f, w)| vec![f.to_string(), w.to_string()]).collect();
    table(&mut html, &["family", "when to use it"], &fam);
    let _ = writeln!(html, "<p>The gallery: every loss of losslab's catalog that is element-wise in one prediction, drawn with its gradient against its natural axis.</p><div class=\"gallery\">");
    let mut skipped = vec![];
    for spec in losslab_registry::catalog() {
        let against = Against::natural(spec);
        match curve(&spec.qualified_name(), against, &against.grid()) {
            Ok(c) => {
                let mut f = Figure::new(panels(std::slice::from_ref(&c)));
                f.panel_width = 300;
                f.height = 240;
                for p in &mut f.panels {
                    p.series[0].label = String::new();
                }
                let mid = c.xs.len() / 2;
                figure(
                    &mut html,
                    &f,
                    &format!("<b>{}</b>: {}. Against the {}; at {} = {}: loss {}, gradient {}.", esc(&c.name), esc(c.summary), axis_name(against), axis_name(against), num(c.xs[mid]), num(c.values[mid]), num(c.grads[mid])),
                )?;
            }
            Err(_) => skipped.push(spec.qualified_name()),
        }
    }
    let _ = writeln!(html, "</div><p>Not drawn (they take class indices, whole distributions or several tensors): {}.</p>", esc(&skipped.join(", ")));
    bar.inc(1);

    let secs = start.elapsed().as_secs_f64();
    let _ = writeln!(html, "<hr><p>Made in {secs:.1} s by losslab {}.</p></body></html>", env!("CARGO_PKG_VERSION"));
    let path = args.out.join("index.html");
    let mut tmp = tempfile::Builder::new().prefix(".losslab-").suffix(".html").tempfile_in(&args.out).with_context(|| format!("cannot write `{}`", path.display()))?;
    tmp.write_all(html.as_bytes())?;
    crate::lab::figure::publish(&tmp)?;
    tmp.persist(&path).map_err(|e| anyhow::Error::new(e.error)).with_context(|| format!("cannot write `{}`", path.display()))?;
    bar.finish_and_clear();
    writeln!(out, "wrote {} ({:.1} s)", path.display(), secs)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

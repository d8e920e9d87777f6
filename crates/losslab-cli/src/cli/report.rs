//! `losslab report`: one self-contained HTML page (inline SVG, no network)
//! per language that answers the article's six questions, running its
//! experiments once when they are made: `index.html` in English and
//! `index.zh.html` in Chinese, each linking to the other. The words come from
//! the lab's catalogues ([`crate::lab::i18n`]), the numbers from the
//! experiments, the same in both.

use crate::cli::explain;
use crate::cli::info::{self, num};
use crate::lab::curves::{axis_name_in, curve, panels_in, Against};
use crate::lab::figure::{Figure, Mark, Panel, Series};
use crate::lab::i18n::Lang;
use crate::lab::robust::{fit_line, ols, Fit};
use crate::lab::train::{self, calibration, split, truncate, Config, Objective};
use crate::lab::{ce_vs_mse, ce_vs_mse_two_class, data, modern};
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
    /// The directory the pages are written to (created if missing): `index.html`
    /// in English and `index.zh.html` in Chinese, each linking to the other.
    #[arg(long, value_name = "DIR", default_value = "target/report")]
    pub out: PathBuf,
    /// A reduced run (fewer epochs and iterations, a smaller training set), for tests.
    #[arg(long)]
    pub quick: bool,
    /// The language of the progress and of the line that names the pages
    /// written (the page in this language first): en or zh (by default the
    /// LANG environment variable's where it is Chinese, else English). Both
    /// pages are always written, from one run of the experiments.
    #[arg(long, value_name = "LANG")]
    pub lang: Option<String>,
}

/// The file name of the page in `lang`: `index.html` (English) or `index.zh.html`.
pub fn page_name(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "index.html",
        Lang::Zh => "index.zh.html",
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn figure(html: &mut String, fig: &Figure, caption: &str) -> Result<()> {
    let svg = fig.to_svg()?;
    let _ = writeln!(html, "<figure>{svg}<figcaption>{caption}</figcaption></figure>");
    Ok(())
}

fn table<S: AsRef<str>>(html: &mut String, head: &[S], rows: &[Vec<String>]) {
    let _ = write!(html, "<table><tr>");
    for h in head {
        let _ = write!(html, "<th>{}</th>", esc(h.as_ref()));
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

/// A paragraph: `<p>` and the message.
fn para(html: &mut String, text: &str) {
    let _ = writeln!(html, "<p>{text}</p>");
}

/// Runs `losslab report`.
///
/// # Errors
/// An unknown `--lang`, or an output directory that cannot be created or written.
#[allow(clippy::too_many_lines)]
pub fn run(args: &ReportArgs, out: &mut dyn Write) -> Result<ExitCode> {
    let start = Instant::now();
    let ui = Lang::from_flag_or_env(args.lang.as_deref())?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create `{}`", args.out.display()))?;
    let (epochs, train_rows, iters) = if args.quick { (3, 400, 300) } else { (40, usize::MAX, 4000) };
    let steps = 6 + 4 * epochs as u64 + if args.quick { 2 } else { 5 };
    let bar = ProgressBar::new(steps);
    bar.set_style(ProgressStyle::with_template("{spinner} {msg:32} [{bar:30}] {pos}/{len} {elapsed}").expect("a valid template").progress_chars("=> "));
    let mut pages: Vec<(Lang, String)> = Lang::ALL.iter().map(|&l| (l, String::new())).collect();
    for (l, html) in &mut pages {
        let l = *l;
        let _ = writeln!(
            html,
            "<!DOCTYPE html><html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title><style>\
body{{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.45;color:#222}}\
h1{{border-bottom:2px solid #0072b2}} h2{{margin-top:2em;border-bottom:1px solid #ccc}}\
figure{{margin:1em 0}} figure svg{{max-width:100%;height:auto}} figcaption{{font-size:.92em;color:#444}}\
table{{border-collapse:collapse;margin:.8em 0}} td,th{{border:1px solid #ccc;padding:.25em .6em;text-align:right}} th{{background:#f3f3f3}}\
pre{{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:.85em}} .gallery{{display:grid;grid-template-columns:1fr 1fr;gap:1em}}\
.lang{{float:right;margin-top:.4em}}\
</style></head><body>",
            l.html_code(),
            esc(&l.t("report-title"))
        );
        let o = l.other();
        let _ = writeln!(html, "<p class=\"lang\"><a id=\"other-language\" href=\"{}\" hreflang=\"{}\">{}</a></p>", page_name(o), o.html_code(), l.t("report-other-language"));
        let _ = writeln!(html, "<h1>{}</h1>", l.t("report-h1"));
        let quick = if args.quick { l.t("report-quick") } else { String::new() };
        para(html, &l.f("report-intro", &[("quick", &quick)]));
    }

    // Q1 ----------------------------------------------------------------------------------
    bar.set_message(ui.t("report-progress-q1"));
    let i = info::compute(
        info::distribution("p", vec![1.0, 0.0, 0.0])?,
        Some(info::distribution("q", vec![0.7, 0.2, 0.1])?),
        false,
    )?;
    let o = |v: Option<f64>| num(v.unwrap_or(f64::NAN));
    let be = curve("binary-entropy", Against::Probability, &Against::Probability.grid())?;
    let h01 = curve("binary-entropy", Against::Probability, &[0.1])?.values[0];
    for (l, html) in &mut pages {
        let l = *l;
        let _ = writeln!(html, "<h2 id=\"q1\">1. {}</h2>", l.t("report-q1-title"));
        para(html, &l.t("report-q1-intro"));
        table(
            html,
            &["H(p)", "H(q)", "H(p, q)", "KL(p‖q)", "KL(q‖p)", "JS(p, q)"],
            &[vec![num(i.entropy_p), o(i.entropy_q), o(i.cross_entropy), o(i.kl_pq), o(i.kl_qp), o(i.js)]],
        );
        para(html, &l.f("report-q1-kl", &[("kl", &o(i.kl_pq))]));
        let mut fig = Figure::new(vec![panels_in(std::slice::from_ref(&be), l).remove(0)]);
        fig.panels[0].title = l.t("report-fig1-title");
        figure(html, &fig, &l.f("report-fig1-caption", &[("h", &format!("{h01:.3}"))]))?;
    }
    bar.inc(1);

    // Q2 ----------------------------------------------------------------------------------
    bar.set_message(ui.t("report-progress-q2"));
    let (z, t) = explain::parse_batch(None, None)?;
    let pipe = crate::lab::pipeline::compute(&z, &t)?;
    for (l, html) in &mut pages {
        let l = *l;
        let _ = writeln!(html, "<h2 id=\"q2\">2. {}</h2>", l.t("report-q2-title"));
        let words = [
            l.t("report-pipe-logits"),
            l.t("report-pipe-softmax"),
            l.t("report-pipe-nll"),
            l.t("report-pipe-mean"),
            l.t("report-pipe-forward"),
            l.t("report-pipe-backward"),
            l.t("report-pipe-example"),
            l.t("report-pipe-true-class"),
        ];
        let labels = crate::lab::pipeline::PipelineLabels {
            logits: &words[0],
            softmax: &words[1],
            nll: &words[2],
            mean: &words[3],
            forward: &words[4],
            backward: &words[5],
            example: &words[6],
            true_class: &words[7],
        };
        let _ = writeln!(
            html,
            "<figure>{}<figcaption>{}</figcaption></figure>",
            crate::lab::pipeline::svg(&pipe, &labels),
            l.f("report-fig2a-caption", &[("loss", &num(pipe.loss))])
        );
        let text = explain::cross_entropy_text(&z, &t, l)?;
        let _ = writeln!(html, "<p>{}</p><pre>{}</pre>", l.t("report-q2-steps"), esc(&text));
    }
    bar.inc(1);

    // Q3 ----------------------------------------------------------------------------------
    bar.set_message(ui.t("report-progress-q3"));
    let digits = data::digits()?;
    let sp = truncate(&split(&digits, 450, 2024), train_rows);
    let cfg = Config { epochs, lr: 0.5, batch: 32, seed: 7 };
    let (m_ce, h_ce) = train::train(&sp, Objective::CrossEntropy { smoothing: 0.0 }, cfg, || bar.inc(1))?;
    let (_m_mse, h_mse) = train::train(&sp, Objective::MseOnSoftmax, cfg, || bar.inc(1))?;
    let ep: Vec<f64> = (0..=epochs).map(|e| e as f64).collect();
    let line = |v: &[f64], label: String, c: usize| Series::new(label, ep.iter().copied().zip(v.iter().copied()).collect(), Mark::Line, c);
    let acc_at = |h: &train::History, e: usize| h.test_acc[e.min(h.test_acc.len() - 1)];
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
    let low: Vec<usize> = (0..pts_ce.len()).filter(|&k| pts_ce[k].0 < 0.1).collect();
    let mean = |v: &[(f64, f64)], ix: &[usize]| if ix.is_empty() { f64::NAN } else { ix.iter().map(|&k| v[k].1).sum::<f64>() / ix.len() as f64 };
    let at01 = ce_vs_mse_two_class(0.01)?;

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
    let ep_r: Vec<f64> = (0..=rec_epochs).map(|e| e as f64).collect();
    let first = &runs[0];
    let log_p: Vec<(f64, f64, f64)> = first.start_grads.iter().map(|&(p, c, m)| (p.max(1e-12).log10(), c, m)).collect();
    let mut ratios: Vec<f64> = first.start_grads.iter().filter(|g| g.0 < 0.01).map(|g| g.2 / g.1).collect();
    ratios.sort_by(f64::total_cmp);
    let median_ratio = ratios.get(ratios.len() / 2).copied().unwrap_or(f64::NAN);
    for (l, html) in &mut pages {
        let l = *l;
        let (ce_name, mse_name) = (l.t("report-ce"), l.t("report-mse-on-softmax"));
        let _ = writeln!(html, "<h2 id=\"q3\">3. {}</h2>", l.t("report-q3-title"));
        let fig = Figure::new(vec![
            Panel { title: l.t("report-fig2-loss-title"), x_label: l.t("report-epoch"), y_label: l.t("curve-loss"), series: vec![line(&h_ce.train_loss, ce_name.clone(), 0), line(&h_mse.train_loss, mse_name.clone(), 1)], y_range: None },
            Panel { title: l.t("report-fig2-acc-title"), x_label: l.t("report-epoch"), y_label: l.t("report-accuracy"), series: vec![line(&h_ce.test_acc, ce_name.clone(), 0), line(&h_mse.test_acc, mse_name.clone(), 1)], y_range: Some((0.0, 1.0)) },
        ]);
        figure(
            html,
            &fig,
            &l.f(
                "report-fig2-caption",
                &[
                    ("train", &sp.train_y.len()),
                    ("test", &sp.test_y.len()),
                    ("seed", &cfg.seed),
                    ("batch", &cfg.batch),
                    ("lr", &cfg.lr),
                    ("ce1", &pct(acc_at(&h_ce, 1))),
                    ("mse1", &pct(acc_at(&h_mse, 1))),
                    ("epochs", &epochs),
                    ("ce", &pct(acc_at(&h_ce, epochs))),
                    ("mse", &pct(acc_at(&h_mse, epochs))),
                ],
            ),
        )?;
        let fig = Figure::new(vec![Panel {
            title: l.t("report-fig3-title"),
            x_label: l.t("report-fig3-x"),
            y_label: l.t("report-fig3-y"),
            series: vec![
                Series::new(l.t("report-fig3-ce-slice"), slice.iter().map(|r| (r.p_true, r.ce_grad)).collect(), Mark::Line, 0),
                Series::new(l.t("report-fig3-mse-slice"), slice.iter().map(|r| (r.p_true, r.mse_grad)).collect(), Mark::Line, 1),
                Series::new(l.t("report-fig3-ce-digits"), pts_ce.clone(), Mark::Points, 0),
                Series::new(l.t("report-fig3-mse-digits"), pts_mse.clone(), Mark::Points, 1),
            ],
            y_range: Some((0.0, 1.5)),
        }]);
        figure(
            html,
            &fig,
            &l.f(
                "report-fig3-caption",
                &[
                    ("ce", &num(at01.ce_grad)),
                    ("mse", &num(at01.mse_grad)),
                    ("ratio", &num((at01.ce_grad / at01.mse_grad).round())),
                    ("n", &pts_ce.len()),
                    ("low", &low.len()),
                    ("ce_low", &num(mean(&pts_ce, &low))),
                    ("mse_low", &num(mean(&pts_mse, &low))),
                ],
            ),
        )?;
        para(html, &l.f("report-q3-why", &[("ce", &pct(acc_at(&h_ce, epochs))), ("mse", &pct(acc_at(&h_mse, epochs)))]));

        let _ = writeln!(html, "<h3>{}</h3>", l.t("report-q3-decisive-title"));
        para(html, &l.f("report-q3-decisive-setup", &[("epochs", &rec_epochs), ("seeds", &seeds.len())]));
        let mut rows = vec![];
        for (name, mse) in [(&ce_name, false), (&mse_name, true)] {
            let mut row = vec![name.clone()];
            row.extend(checkpoints.iter().map(|&e| at(mse, e)));
            rows.push(row);
        }
        let mut head = vec![l.t("report-q3-table-head")];
        head.extend(checkpoints.iter().map(|e| if *e == 0 { l.t("report-start") } else { l.f("report-epoch-n", &[("e", e)]) }));
        table(html, &head, &rows);
        let mut series = vec![];
        for (k, r) in runs.iter().enumerate() {
            let label = |name: &str| if k == 0 { name.to_string() } else { String::new() };
            series.push(Series::new(label(&ce_name), ep_r.iter().copied().zip(r.ce_acc.iter().copied()).collect(), Mark::Line, 0));
            series.push(Series::new(label(&mse_name), ep_r.iter().copied().zip(r.mse_acc.iter().copied()).collect(), Mark::Line, 1));
        }
        let fig = Figure::new(vec![
            Panel { title: l.t("report-fig3b-left-title"), x_label: l.t("report-epoch"), y_label: l.t("report-accuracy"), series, y_range: Some((0.0, 1.0)) },
            Panel {
                title: l.f("report-fig3b-right-title", &[("seed", &first.seed)]),
                x_label: l.t("report-fig3b-right-x"),
                y_label: "‖∂loss/∂logits‖".into(),
                series: vec![
                    Series::new(ce_name.clone(), log_p.iter().map(|g| (g.0, g.1)).collect(), Mark::Points, 0),
                    Series::new(mse_name.clone(), log_p.iter().map(|g| (g.0, g.2)).collect(), Mark::Points, 1),
                ],
                y_range: Some((0.0, 1.5)),
            },
        ]);
        figure(
            html,
            &fig,
            &l.f(
                "report-fig3b-caption",
                &[
                    ("median_p", &format!("{:.2e}", first.start_p_true)),
                    ("seed", &first.seed),
                    ("low", &ratios.len()),
                    ("n", &first.start_grads.len()),
                    ("ratio", &pct(median_ratio)),
                ],
            ),
        )?;
        para(html, &l.f("report-q3-shows", &[("ce", &at(false, rec_epochs)), ("mse", &at(true, rec_epochs)), ("epochs", &rec_epochs)]));
    }
    let _ = m_ce;

    // Q4 ----------------------------------------------------------------------------------
    bar.set_message(ui.t("report-progress-q4"));
    let (m_ls, _) = train::train(&sp, Objective::CrossEntropy { smoothing: 0.1 }, cfg, || bar.inc(1))?;
    let c0 = calibration(&m_ce, sp.test_x.view(), &sp.test_y)?;
    let c1 = calibration(&m_ls, sp.test_x.view(), &sp.test_y)?;
    // The last run's epochs count for the bar too.
    for _ in 0..epochs {
        bar.inc(1);
    }
    let rel = |c: &train::Calibration| c.bins.iter().filter(|b| b.2 > 0).map(|b| (b.0, b.1)).collect::<Vec<_>>();
    for (l, html) in &mut pages {
        let l = *l;
        let _ = writeln!(html, "<h2 id=\"q4\">4. {}</h2>", l.t("report-q4-title"));
        let _ = writeln!(html, "<pre>{}</pre>", esc(&explain::dense_vs_sparse_text(l)?));
        para(html, &l.t("report-q4-smoothing"));
        let row = |name: String, c: &train::Calibration| vec![name, pct(c.accuracy), format!("{:.3}", c.confidence), format!("{:.3}", c.nll), format!("{:.3}", c.ece)];
        table(
            html,
            &[l.t("report-q4-targets"), l.t("report-accuracy"), l.t("report-q4-confidence"), l.t("report-q4-nll"), l.t("report-q4-ece")],
            &[row(l.t("report-q4-one-hot"), &c0), row(l.t("report-q4-smoothed"), &c1)],
        );
        let diag: Vec<(f64, f64)> = vec![(0.0, 0.0), (1.0, 1.0)];
        let fig = Figure::new(vec![Panel {
            title: l.t("report-fig4-title"),
            x_label: l.t("report-fig4-x"),
            y_label: l.t("report-fig4-y"),
            series: vec![
                Series::new(l.t("report-fig4-perfect"), diag, Mark::Dashed, 7),
                Series::new("ε = 0", rel(&c0), Mark::Line, 0),
                Series::new("ε = 0.1", rel(&c1), Mark::Line, 2),
            ],
            y_range: Some((0.0, 1.05)),
        }]);
        figure(
            html,
            &fig,
            &l.f(
                "report-fig4-caption",
                &[
                    ("n", &sp.test_y.len()),
                    ("conf0", &format!("{:.3}", c0.confidence)),
                    ("acc0", &pct(c0.accuracy)),
                    ("conf1", &format!("{:.3}", c1.confidence)),
                    ("acc1", &pct(c1.accuracy)),
                ],
            ),
        )?;
    }
    bar.inc(1);

    // Q5 ----------------------------------------------------------------------------------
    bar.set_message(ui.t("report-progress-q5"));
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
    let (x_lo, x_hi) = db.bmi.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let clean_pts: Vec<(f64, f64)> = (0..n).filter(|k| !outliers.contains(k)).map(|k| (db.bmi[k], y_bad[k])).collect();
    let bad_pts: Vec<(f64, f64)> = outliers.iter().map(|&k| (db.bmi[k], y_bad[k])).collect();
    let xs_r = Against::Residual.grid();
    let rc: Vec<_> = ["mse", "l1", "smooth-l1", "huber"].iter().map(|l| curve(l, Against::Residual, &xs_r)).collect::<Result<_>>()?;
    let g_at = |c: &crate::lab::curves::Curve, r: f64| curve(&c.name, Against::Residual, &[r]).map(|k| k.grads[0]);
    let mut grows = vec![];
    for c in &rc {
        grows.push(vec![c.name.clone(), num(g_at(c, 0.1)?), num(g_at(c, 1.0)?), num(g_at(c, 10.0)?)]);
    }
    // Q5, the other half: L1 at a fixed learning rate.
    let (t, from, lr, steps) = (0.37, 3.0, 0.1, 150);
    let paths: Vec<Vec<(f64, f64)>> = Fit::ALL.iter().map(|&f| crate::lab::robust::fixed_step_path(f, t, from, lr, steps)).collect::<Result<_>>()?;
    let step_series = |k: usize, pick: &dyn Fn(&(f64, f64)) -> f64| Series::new(Fit::ALL[k].name(), paths[k].iter().enumerate().map(|(i, p)| (i as f64, pick(p))).collect(), Mark::Line, k);
    let tail = |k: usize| {
        let v: Vec<f64> = paths[k][steps - 10..].iter().map(|p| p.0).collect();
        v.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b)) - v.iter().fold(f64::INFINITY, |a, &b| a.min(b))
    };
    let (xs_c, ys_c) = {
        let (mx, sx) = mean_sd(&db.bmi);
        let (my, sy) = mean_sd(&db.target);
        (Array1::from(db.bmi.iter().map(|v| (v - mx) / sx).collect::<Vec<_>>()), Array1::from(db.target.iter().map(|v| (v - my) / sy).collect::<Vec<_>>()))
    };
    let line_steps = if args.quick { 200 } else { 300 };
    let sizes: Vec<Vec<f64>> = Fit::ALL.iter().map(|&f| crate::lab::robust::fixed_step_sizes(f, &xs_c, &ys_c, 0.5, line_steps)).collect::<Result<_>>()?;
    let last = |k: usize| format!("{:.1e}", sizes[k][line_steps - 1]);
    for (l, html) in &mut pages {
        let l = *l;
        let _ = writeln!(html, "<h2 id=\"q5\">5. {}</h2>", l.t("report-q5-title"));
        let mut rows = vec![];
        let (mae, rmse) = err(a_clean, b_clean);
        rows.push(vec![l.t("report-q5-clean-fit"), format!("{b_clean:.2}"), format!("{a_clean:.1}"), format!("{mae:.1}"), format!("{rmse:.1}")]);
        for (f, icpt, slope) in &fits {
            let (mae, rmse) = err(*icpt, *slope);
            rows.push(vec![l.f("report-q5-corrupted-fit", &[("fit", &f.name())]), format!("{slope:.2}"), format!("{icpt:.1}"), format!("{mae:.1}"), format!("{rmse:.1}")]);
        }
        para(html, &l.f("report-q5-setup", &[("n", &n), ("iters", &iters), ("sd", &format!("{sy:.1}"))]));
        table(html, &[l.t("report-q5-fit"), l.t("report-q5-slope"), l.t("report-q5-intercept"), l.t("report-q5-mae"), l.t("report-q5-rmse")], &rows);
        let mut series = vec![Series::new(l.t("report-fig5-patients"), clean_pts.clone(), Mark::Points, 7), Series::new(l.t("report-fig5-corrupted"), bad_pts.clone(), Mark::Points, 6)];
        series.push(Series::new(l.t("report-fig5-clean-ls"), vec![(x_lo, a_clean + b_clean * x_lo), (x_hi, a_clean + b_clean * x_hi)], Mark::Dashed, 6));
        for (k, (f, icpt, slope)) in fits.iter().enumerate() {
            series.push(Series::new(f.name(), vec![(x_lo, icpt + slope * x_lo), (x_hi, icpt + slope * x_hi)], Mark::Line, k));
        }
        let fig = Figure { panels: vec![Panel { title: l.t("report-fig5-title"), x_label: l.t("report-fig5-x"), y_label: l.t("report-fig5-y"), series, y_range: None }], panel_width: 760, height: 440 };
        let slope = |k: usize| format!("{:.2}", fits[k].2);
        figure(
            html,
            &fig,
            &l.f("report-fig5-caption", &[("clean", &format!("{b_clean:.2}")), ("l2", &slope(0)), ("l1", &slope(1)), ("smooth", &slope(2)), ("huber", &slope(3))]),
        )?;
        let fig = Figure::new(panels_in(&rc, l));
        figure(html, &fig, &l.t("report-fig6-caption"))?;
        table(html, &[l.t("report-q5-loss"), l.t("report-q5-grad-01"), l.t("report-q5-grad-1"), l.t("report-q5-grad-10")], &grows);
        para(html, &l.t("report-q5-outliers-show"));

        let _ = writeln!(html, "<h3>{}</h3>", l.t("report-q5-l1-title"));
        let fig = Figure::new(vec![
            Panel { title: l.f("report-fig6b-theta-title", &[("t", &t), ("lr", &lr)]), x_label: l.t("report-step"), y_label: "θ".into(), series: (0..4).map(|k| step_series(k, &|p| p.0)).collect(), y_range: Some((0.0, 1.0)) },
            Panel { title: l.t("report-fig6b-loss-title"), x_label: l.t("report-step"), y_label: l.t("curve-loss"), series: (0..4).map(|k| step_series(k, &|p| p.1)).collect(), y_range: Some((0.0, 0.2)) },
        ]);
        figure(
            html,
            &fig,
            &l.f("report-fig6b-caption", &[("t", &t), ("from", &from), ("lr", &lr), ("l1", &num(tail(1))), ("l2", &num(tail(0))), ("smooth", &num(tail(2))), ("huber", &num(tail(3)))]),
        )?;
        let fig = Figure::new(vec![Panel {
            title: l.t("report-fig6c-title"),
            x_label: l.t("report-step"),
            y_label: l.t("report-fig6c-y"),
            series: sizes.iter().enumerate().map(|(k, v)| Series::new(Fit::ALL[k].name(), v.iter().enumerate().map(|(i, s)| (i as f64, s.max(1e-16).log10())).collect(), Mark::Line, k)).collect(),
            y_range: Some((-16.0, 0.0)),
        }]);
        figure(
            html,
            &fig,
            &l.f("report-fig6c-caption", &[("n", &n), ("steps", &line_steps), ("l2", &last(0)), ("smooth", &last(2)), ("huber", &last(3)), ("l1", &last(1))]),
        )?;
        para(html, &l.t("report-q5-l1-shows"));
    }

    // Q6 ----------------------------------------------------------------------------------
    bar.set_message(ui.t("report-progress-q6"));
    let mut drawn = vec![];
    let mut skipped = vec![];
    for spec in losslab_registry::catalog() {
        let against = Against::natural(spec);
        match curve(&spec.qualified_name(), against, &against.grid()) {
            Ok(c) => drawn.push(c),
            Err(_) => skipped.push(spec.qualified_name()),
        }
    }
    // Today's losses: DPO against the reward margin, the angular margins, min-SNR.
    let margins: Vec<f64> = (0..=160).map(|i| -4.0 + 0.05 * f64::from(i)).collect();
    let dpo = modern::dpo_curves(&margins)?;
    let thetas: Vec<f64> = (0..=180).map(|i| 0.5 * f64::from(i)).collect();
    let angular = modern::angular_curves(&thetas)?;
    let timesteps: Vec<i64> = (0..1000).step_by(5).collect();
    let (snr, weights) = modern::min_snr_curves(&timesteps)?;
    let at_margin = |label: &str, h: f64| -> f64 {
        let c = dpo.iter().find(|c| c.label == label).expect("a drawn loss_type");
        c.points.iter().min_by(|a, b| (a.0 - h).abs().total_cmp(&(b.0 - h).abs())).map_or(f64::NAN, |p| p.1)
    };
    let ipo_min = dpo.iter().find(|c| c.label == "ipo").and_then(|c| c.points.iter().min_by(|a, b| a.1.total_cmp(&b.1))).map_or(f64::NAN, |p| p.0);
    let boundary = |k: usize| modern::boundary_angle(&angular[k]).map_or_else(|| "—".to_string(), |a| format!("{a:.1}"));
    // The first timestep whose SNR is below γ: where the ε weight reaches 1.
    let crossover = snr.points.iter().find(|p| p.1 < 5f64.log10()).map_or(f64::NAN, |p| p.0);
    for (l, html) in &mut pages {
        let l = *l;
        let _ = writeln!(html, "<h2 id=\"q6\">6. {}</h2>", l.t("report-q6-title"));
        let fam: Vec<Vec<String>> = explain::families(l).into_iter().map(|(f, w)| vec![f, w]).collect();
        table(html, &[l.t("report-q6-family"), l.t("report-q6-when")], &fam);
        para(html, &l.t("report-q6-today"));
        let line = |c: &modern::NamedCurve, k: usize| Series::new(c.label.clone(), c.points.clone(), Mark::Line, k);
        let fig = Figure {
            panels: vec![Panel { title: l.t("report-fig7-title"), x_label: l.t("report-fig7-x"), y_label: l.t("curve-loss"), series: dpo.iter().enumerate().map(|(k, c)| line(c, k)).collect(), y_range: Some((0.0, 5.0)) }],
            panel_width: 760,
            height: 440,
        };
        figure(
            html,
            &fig,
            &l.f("report-fig7-caption", &[("beta", &modern::DPO_BETA), ("sig0", &num(at_margin("sigmoid", 0.0))), ("sig4", &num(at_margin("sigmoid", 4.0))), ("ipo_min", &format!("{ipo_min:.2}"))]),
        )?;
        let names = ["report-fig8-plain", "report-fig8-arc", "report-fig8-cos", "report-fig8-sphere"];
        let mut series: Vec<Series> = angular.iter().zip(names).enumerate().map(|(k, (c, id))| Series::new(l.t(id), c.points.clone(), Mark::Line, k)).collect();
        series.push(Series::new(l.t("report-fig8-ln2"), vec![(0.0, std::f64::consts::LN_2), (90.0, std::f64::consts::LN_2)], Mark::Dashed, 7));
        let fig = Figure { panels: vec![Panel { title: l.t("report-fig8-title"), x_label: l.t("report-fig8-x"), y_label: l.t("curve-loss"), series, y_range: Some((0.0, 6.0)) }], panel_width: 760, height: 440 };
        figure(
            html,
            &fig,
            &l.f("report-fig8-caption", &[("scale", &modern::ANGULAR_SCALE), ("plain", &boundary(0)), ("arc", &boundary(1)), ("cos", &boundary(2)), ("sphere", &boundary(3))]),
        )?;
        let fig = Figure::new(vec![
            Panel { title: l.t("report-fig9-snr-title"), x_label: l.t("report-fig9-x"), y_label: "log₁₀ SNR".into(), series: vec![line(&snr, 6)], y_range: None },
            Panel { title: l.t("report-fig9-weights-title"), x_label: l.t("report-fig9-x"), y_label: l.t("report-fig9-weight"), series: weights.iter().zip(["report-fig9-eps", "report-fig9-v", "report-fig9-x0"]).enumerate().map(|(k, (c, id))| Series::new(l.t(id), c.points.clone(), Mark::Line, k)).collect(), y_range: Some((0.0, 5.2)) },
        ]);
        let first = |c: &modern::NamedCurve| c.points.first().map_or(f64::NAN, |p| p.1);
        figure(
            html,
            &fig,
            &l.f(
                "report-fig9-caption",
                &[("snr0", &format!("{:.0}", 10f64.powf(first(&snr)))), ("w0", &num(first(&weights[0]))), ("v0", &num(first(&weights[1]))), ("cross", &crossover)],
            ),
        )?;
        let _ = writeln!(html, "<p>{}</p><div class=\"gallery\">", l.t("report-q6-gallery"));
        for c in &drawn {
            let mut f = Figure::new(panels_in(std::slice::from_ref(c), l));
            f.panel_width = 300;
            f.height = 240;
            for p in &mut f.panels {
                p.series[0].label = String::new();
            }
            let mid = c.xs.len() / 2;
            let axis = axis_name_in(c.against, l);
            figure(
                html,
                &f,
                &format!(
                    "<b>{}</b>: {}. {}",
                    esc(&c.name),
                    esc(c.summary),
                    l.f("report-q6-at", &[("axis", &axis), ("x", &num(c.xs[mid])), ("loss", &num(c.values[mid])), ("grad", &num(c.grads[mid]))])
                ),
            )?;
        }
        let _ = writeln!(html, "</div><p>{}</p>", l.f("report-q6-not-drawn", &[("names", &esc(&skipped.join(", ")))]));
    }
    bar.inc(1);

    let secs = start.elapsed().as_secs_f64();
    let mut written = vec![];
    for (l, html) in &mut pages {
        let _ = writeln!(html, "<hr><p>{}</p></body></html>", l.f("report-made-in", &[("secs", &format!("{secs:.1}")), ("version", &env!("CARGO_PKG_VERSION"))]));
        let path = args.out.join(page_name(*l));
        let mut tmp = tempfile::Builder::new().prefix(".losslab-").suffix(".html").tempfile_in(&args.out).with_context(|| format!("cannot write `{}`", path.display()))?;
        tmp.write_all(html.as_bytes())?;
        crate::lab::figure::publish(&tmp)?;
        tmp.persist(&path).map_err(|e| anyhow::Error::new(e.error)).with_context(|| format!("cannot write `{}`", path.display()))?;
        written.push((*l, path));
    }
    bar.finish_and_clear();
    // The page in the language asked for first.
    written.sort_by_key(|(l, _)| *l != ui);
    let (a, b) = (&written[0].1, &written[1].1);
    writeln!(out, "{}", ui.f("report-wrote", &[("first", &a.display()), ("second", &b.display()), ("secs", &format!("{secs:.1}"))]))?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

//! End-to-end tests of the lab subcommands (`info`, `explain`, `plot`,
//! `report`) through the binary: the numbers they print are checked against
//! closed forms computed here, independently of the library.

use serde_json::Value;
use std::path::Path;

mod common;
use common::{err_in, losslab};

/// Runs a command that must succeed; its stdout.
fn ok(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    ok_in(dir.path(), args)
}

fn ok_in(dir: &Path, args: &[&str]) -> String {
    let out = losslab(dir, args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{args:?} failed: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

fn err(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    err_in(dir.path(), args)
}

fn json(args: &[&str]) -> Value {
    let s = ok(args);
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs().max(1.0)
}

fn f(v: &Value) -> f64 {
    match v {
        Value::String(s) if s == "inf" => f64::INFINITY,
        v => v.as_f64().unwrap_or_else(|| panic!("not a number: {v}")),
    }
}

/// The number printed after `label` on its line (`∞` is infinity, `−` a minus sign).
fn number_after(text: &str, label: &str) -> f64 {
    let line = text.lines().find(|l| l.contains(label)).unwrap_or_else(|| panic!("no `{label}` in:\n{text}"));
    let rest = &line[line.find(label).unwrap() + label.len()..];
    let tok = rest.split_whitespace().next().unwrap().replace('−', "-");
    if tok == "∞" {
        f64::INFINITY
    } else {
        tok.parse().unwrap_or_else(|_| panic!("`{tok}` in `{line}`"))
    }
}

// ----------------------------------------------------------------------------- info

#[test]
fn info_default_is_the_article_example() {
    let text = ok(&["info"]);
    assert!(text.contains("p = (1, 0, 0)") && text.contains("q = (0.7, 0.2, 0.1)"), "{text}");
    // Closed forms: H(p) = 0, KL(p‖q) = H(p, q) = −ln 0.7, KL(q‖p) = ∞.
    assert_eq!(number_after(&text, "H(p)    ="), 0.0);
    assert!((number_after(&text, "  KL(p‖q) =") - -(0.7f64.ln())).abs() < 1e-6, "{text}");
    assert!((number_after(&text, "  H(p, q) =") - -(0.7f64.ln())).abs() < 1e-6);
    let hq = -(0.7 * 0.7f64.ln() + 0.2 * 0.2f64.ln() + 0.1 * 0.1f64.ln());
    assert!((number_after(&text, "H(q)    =") - hq).abs() < 1e-6);
    assert_eq!(number_after(&text, "  KL(q‖p) ="), f64::INFINITY);
    assert!(text.contains("KL is not symmetric"));
    assert!(text.contains("q·log(q/0) = ∞"), "the zero convention in words: {text}");
    assert!(text.contains("0·log(0/q) = 0"));
}

#[test]
fn info_json_matches_closed_forms() {
    let v = json(&["info", "--json"]);
    assert_eq!(v["unit"], "nats");
    assert!(close(f(&v["kl_pq"]), -(0.7f64.ln())));
    assert!(close(f(&v["cross_entropy"]), -(0.7f64.ln())));
    assert_eq!(f(&v["kl_qp"]), f64::INFINITY);
    assert_eq!(f(&v["entropy_p"]), 0.0);
    // JS with m = (0.85, 0.1, 0.05).
    let m = [0.85, 0.1, 0.05];
    let (p, q) = ([1.0, 0.0, 0.0], [0.7, 0.2, 0.1]);
    let kl = |a: &[f64; 3]| a.iter().zip(&m).filter(|(x, _)| **x > 0.0).map(|(x, y)| x * (x / y).ln()).sum::<f64>();
    assert!(close(f(&v["js"]), 0.5 * kl(&p) + 0.5 * kl(&q)));
    let iq: Vec<f64> = v["self_information_q"].as_array().unwrap().iter().map(f).collect();
    assert!(close(iq[1], -(0.2f64.ln())));
    assert_eq!(f(&v["self_information_p"][1]), f64::INFINITY);
}

#[test]
fn info_bits_of_a_uniform_distribution() {
    let v = json(&["info", "--p", "0.25,0.25,0.25,0.25", "--q", "0.5,0.5,0,0", "--bits", "--json"]);
    assert_eq!(v["unit"], "bits");
    assert!(close(f(&v["entropy_p"]), 2.0));
    assert!(close(f(&v["entropy_q"]), 1.0));
    assert_eq!(f(&v["kl_pq"]), f64::INFINITY, "q rules out outcomes p allows");
    assert!(close(f(&v["kl_qp"]), 1.0), "KL(q‖p) = Σ ½ log₂(½ / ¼) = 1 bit");
    let text = ok(&["info", "--p", "0.25,0.25,0.25,0.25", "--bits"]);
    assert_eq!(number_after(&text, "H(p)    ="), 2.0);
    assert!(text.contains("Give --q too"));
}

#[test]
fn info_normalises_counts_with_a_note() {
    let text = ok(&["info", "--p", "1,1,2"]);
    assert!(text.contains("note: --p sums to 4, normalised to (0.25, 0.25, 0.5)"), "{text}");
    let v = json(&["info", "--p", "1,1,2", "--json"]);
    assert_eq!(v["p_normalised"], true);
    assert!(close(f(&v["entropy_p"]), 1.5 * 2f64.ln()));
}

#[test]
fn info_errors() {
    assert!(err(&["info", "--p", "0.5,-0.5,1"]).contains("--p: entry 2 is -0.5: probabilities cannot be negative"));
    assert!(err(&["info", "--p", "0.5,0.5", "--q", "0.2,0.3,0.5"]).contains("--p has 2 entries but --q has 3"));
    assert!(err(&["info", "--p", "0.5,abc"]).contains("entry 2 is `abc`, not a number"));
    assert!(err(&["info", "--p", "0,0"]).contains("sums to 0"));
    assert!(err(&["info", "--p", "nan,1"]).contains("must be finite"));
    assert!(err(&["info", "--q", "0.5,0.5"]).contains("--q needs --p"));
}

// -------------------------------------------------------------------------- explain

/// Parses a printed number (`−` as minus, `∞`).
fn parse_num(tok: &str) -> f64 {
    let t = tok.trim_matches(|c| c == '(' || c == ')' || c == ',').replace('−', "-");
    if t == "∞" {
        f64::INFINITY
    } else {
        t.parse().unwrap_or_else(|_| panic!("not a number: `{tok}`"))
    }
}

/// The numbers in the parenthesised tuple following `label` on its line.
fn tuple_after(text: &str, label: &str) -> Vec<f64> {
    let line = text.lines().find(|l| l.contains(label)).unwrap_or_else(|| panic!("no `{label}` in:\n{text}"));
    let rest = &line[line.find(label).unwrap() + label.len()..];
    let open = rest.find('(').unwrap();
    let close = rest[open..].find(')').unwrap() + open;
    rest[open + 1..close].split(", ").map(parse_num).collect()
}

fn softmax(z: &[f64]) -> Vec<f64> {
    let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

#[test]
fn explain_cross_entropy_step_by_step() {
    let text = ok(&["explain", "cross-entropy", "--logits", "2,1,0.1", "--target", "0"]);
    let p = softmax(&[2.0, 1.0, 0.1]);
    let printed = tuple_after(&text, "p = exp(z − max z) / sum =");
    for (a, b) in printed.iter().zip(&p) {
        assert!((a - b).abs() < 1e-6, "{printed:?} vs {p:?}");
    }
    assert!((number_after(&text, "3. −log p[0]       = −ln 0.659001 =") - -p[0].ln()).abs() < 1e-5, "{text}");
    let grad = tuple_after(&text, "losslab's backward gives");
    assert!((grad[0] - (p[0] - 1.0)).abs() < 1e-6 && (grad[1] - p[1]).abs() < 1e-6, "softmax − one-hot: {grad:?}");

    // The default: a batch of two, the mean of the per-example losses.
    let text = ok(&["explain", "cross-entropy"]);
    let p2 = softmax(&[0.5, 2.5, 0.3]);
    let mean = (-p[0].ln() - p2[2].ln()) / 2.0;
    let line = text.lines().find(|l| l.contains("4. batch mean")).unwrap();
    let printed = parse_num(line.rsplit(' ').next().unwrap());
    assert!((printed - mean).abs() < 1e-5, "{line} vs {mean}");
}

#[test]
fn explain_mse_vs_ce_shows_the_vanishing_gradient() {
    let text = ok(&["explain", "mse-vs-ce"]);
    // Two classes at p(true) = 0.01: CE = −ln p, ‖∂CE/∂z‖ = √2 (1 − p), ‖∂MSE/∂z‖ = 4√2 p (1 − p)².
    let line = text.lines().find(|l| l.trim_start().starts_with("0.01 ")).unwrap_or_else(|| panic!("{text}"));
    let cols: Vec<f64> = line.split_whitespace().map(parse_num).collect();
    let p: f64 = 0.01;
    assert!((cols[1] - -p.ln()).abs() < 1e-5, "{line}");
    assert!((cols[2] - 2f64.sqrt() * (1.0 - p)).abs() < 1e-5, "{line}");
    assert!((cols[3] - 2.0 * (1.0 - p).powi(2)).abs() < 1e-5, "{line}");
    assert!((cols[4] - 4.0 * 2f64.sqrt() * p * (1.0 - p).powi(2)).abs() < 1e-3 * cols[4], "{line}");
    assert!(text.contains("learning stalls"));
}

#[test]
fn explain_dense_vs_sparse_agree_on_one_hot() {
    let text = ok(&["explain", "dense-vs-sparse"]);
    let sparse = tuple_after(&text, "sparse(labels = [0, 2])");
    let dense = tuple_after(&text, "dense(labels = one_hot([0, 2], 3))");
    assert_eq!(sparse, dense);
    assert!((sparse[0] - -softmax(&[2.0, 1.0, 0.1])[0].ln()).abs() < 1e-5);
    // Smoothed labels y = 0.9·one_hot + 0.1/3: −Σ y log p.
    let p = softmax(&[2.0, 1.0, 0.1]);
    let y = [0.9 + 0.1 / 3.0, 0.1 / 3.0, 0.1 / 3.0];
    let want: f64 = -y.iter().zip(&p).map(|(a, b)| a * b.ln()).sum::<f64>();
    assert!((tuple_after(&text, "dense(smoothed labels)")[0] - want).abs() < 1e-5);
    // Softmax output given as logits: a second softmax.
    let wrong = tuple_after(&text, "wrong: sparse(labels, softmax(logits))");
    assert!((wrong[0] - -softmax(&p)[0].ln()).abs() < 1e-5);
}

#[test]
fn explain_l1_l2_smooth_l1_values_and_gradients() {
    let text = ok(&["explain", "l1-l2-smooth-l1"]);
    let row = |label: &str, nth: usize| -> Vec<f64> {
        let line = text.lines().filter(|l| l.trim_start().starts_with(label)).nth(nth).unwrap_or_else(|| panic!("{label}"));
        line.split_whitespace().rev().take(11).map(parse_num).collect::<Vec<_>>().into_iter().rev().collect()
    };
    let r = row("r ", 0);
    assert_eq!(r[0], -10.0);
    let l2 = row("L2 (MSE)", 0);
    let smooth = row("Smooth L1", 0);
    let grads: Vec<Vec<f64>> = (0..4).map(|i| row("gradient", i)).collect();
    for (k, &x) in r.iter().enumerate() {
        assert!((l2[k] - x * x).abs() < 1e-9);
        let s = if x.abs() < 1.0 { 0.5 * x * x } else { x.abs() - 0.5 };
        assert!((smooth[k] - s).abs() < 1e-9, "{x}");
        assert!((grads[0][k] - 2.0 * x).abs() < 1e-9);
        assert_eq!(grads[1][k], if x == 0.0 { 0.0 } else { x.signum() });
        assert!((grads[2][k] - x.clamp(-1.0, 1.0)).abs() < 1e-9);
    }
}

#[test]
fn explain_entropy_and_catalog() {
    let text = ok(&["explain", "entropy"]);
    assert_eq!(number_after(&text, "p = 0.5   H ="), 1.0);
    assert!((number_after(&text, "p = 0.1   H =") - -(0.1 * 0.1f64.log2() + 0.9 * 0.9f64.log2())).abs() < 1e-6);
    assert_eq!(number_after(&text, "among 4 outcomes: H ="), 2.0);
    let text = ok(&["explain", "catalog"]);
    for spec in losslab_registry::catalog() {
        assert!(text.contains(&spec.qualified_name()), "{}", spec.qualified_name());
    }
    assert!(text.contains("focal loss") && text.contains("CTC"));
}

#[test]
fn explain_errors() {
    assert!(err(&["explain", "cross-entropy", "--logits", "1,2", "--target", "2"]).contains("class 2 is out of range"));
    assert!(err(&["explain", "cross-entropy", "--logits", "1,2;3", "--target", "0,0"]).contains("row 2 has 1 values"));
    assert!(err(&["explain", "cross-entropy", "--logits", "1,2", "--target", "0,1"]).contains("--target has 2 classes but --logits has 1 rows"));
    assert!(err(&["explain", "entropy", "--logits", "1,2"]).contains("for `explain cross-entropy` only"));
    let out = losslab(Path::new("."), &["explain", "nonsense"]);
    assert!(!out.status.success());
}

// ----------------------------------------------------------------------------- plot

#[test]
fn plot_svg_and_png() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok_in(dir.path(), &["plot", "mse", "l1", "smooth-l1", "huber", "--out", "reg.svg"]);
    assert!(out.contains("wrote reg.svg") && out.contains("against the residual"), "{out}");
    let svg = std::fs::read_to_string(dir.path().join("reg.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("torch:huber_loss") && svg.contains("torch:l1_loss"));
    let out = ok_in(dir.path(), &["plot", "binary-entropy", "--out", "h.png"]);
    assert!(out.contains("against the probability"), "{out}");
    let png = std::fs::read(dir.path().join("h.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let out = ok_in(dir.path(), &["plot", "logistic", "bce-with-logits", "--out", "m.svg"]);
    assert!(out.contains("against the margin"), "{out}");
    let mut names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["h.png", "m.svg", "reg.svg"], "no temporary file left behind");
}

#[test]
fn plot_errors_leave_no_file() {
    let dir = tempfile::tempdir().unwrap();
    assert!(err_in(dir.path(), &["plot", "mse", "--out", "x.jpg"]).contains("must end in .svg or .png"));
    assert!(err_in(dir.path(), &["plot", "nosuchloss", "--out", "x.svg"]).contains("unknown loss `nosuchloss`"));
    assert!(err_in(dir.path(), &["plot", "mse", "nll_loss", "--out", "x.svg"]).contains("torch:nll_loss cannot be plotted"));
    assert!(err_in(dir.path(), &["plot", "mse", "--out", "no/such/dir/x.svg"]).contains("does not exist"));
    assert!(err_in(dir.path(), &["plot", "bce", "--against", "residual", "--out", "x.png"]).contains("binary_cross_entropy"));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no partial file");
}

// --------------------------------------------------------------------------- report

#[test]
fn report_quick_has_every_question() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok_in(dir.path(), &["report", "--quick", "--out", "rep"]);
    assert!(out.contains("wrote rep/index.html"), "{out}");
    let html = std::fs::read_to_string(dir.path().join("rep/index.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    for q in 1..=6 {
        assert!(html.contains(&format!("<h2 id=\"q{q}\">{q}. ")), "question {q}");
    }
    assert!(html.matches("<svg").count() >= 6, "figures inline");
    assert!(html.matches("<figcaption>").count() == html.matches("<figure>").count(), "every figure captioned");
    assert!(!html.contains("http://") || html.matches("http://").count() == html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count(), "no network resource");
    assert!(!html.contains("<script") && !html.contains("<link"));
    // The article's example, computed in the page: KL(p‖q) = −ln 0.7.
    assert!(html.contains("0.356675"));
    // Closed forms in the Q3 caption: at p = 0.01, ‖∂CE/∂z‖ = √2 · 0.99, ‖∂MSE/∂z‖ = 4√2 · 0.01 · 0.99².
    assert!(html.contains(&format!("CE's is {:.6}", 2f64.sqrt() * 0.99)), "{}", &html[html.find("Figure 3").unwrap()..][..300]);
    assert!(html.contains(&format!("MSE's {:.6}", 4.0 * 2f64.sqrt() * 0.01 * 0.99 * 0.99)));
    // Question 2 drawn: the worked example's numbers on the pipeline (p = e²/(e² + e + e^0.1) = 0.6590, −ln p = 0.4170).
    let p = 2f64.exp() / (2f64.exp() + 1f64.exp() + 0.1f64.exp());
    assert!(html.contains("Figure 2a.") && html.contains(&format!("−ln {p:.4} = {:.4}", -p.ln())));
    // Question 3's decisive experiment: every seed in the table, the figure and what it shows.
    assert!(html.contains("The decisive experiment") && html.contains("Figure 3b.") && html.contains("it is not luck"));
    // Question 5 settled: at a fixed learning rate 0.1, L1 jumps by one whole step (0.1) around
    // the target forever; L2 (gradient 2(θ − t), contraction 0.8 per step) has settled to 0.
    let fig6b = &html[html.find("Figure 6b.").expect("Figure 6b")..][..600];
    assert!(fig6b.contains("θ moves by 0.1 under L1, 0 under L2"), "{fig6b}");
    assert!(html.contains("Figure 6c.") && html.contains("On outliers alone, L1 wins"));
    assert!(html.contains("<a id=\"other-language\" href=\"index.zh.html\""), "links to the Chinese page");
    let mut names: Vec<_> = std::fs::read_dir(dir.path().join("rep")).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.sort();
    assert_eq!(names, ["index.html", "index.zh.html"], "both languages, no temporary file left");
}

#[test]
fn report_error_on_an_unwritable_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file"), "x").unwrap();
    assert!(err_in(dir.path(), &["report", "--quick", "--out", "file/sub"]).contains("cannot create `file/sub`"));
}

// ------------------------------------------------------------------ the article's language

/// Runs a command with `LANG` set; its stdout.
fn ok_with_lang(env_lang: &str, args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_losslab")).current_dir(dir.path()).env("LANG", env_lang).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Chinese text: Han characters, and nothing left of a missing message or argument.
fn assert_chinese(text: &str, words: &[&str]) {
    assert!(text.chars().filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c)).count() > 20, "not Chinese:\n{text}");
    assert!(!text.contains("{$") && !text.contains("[info-") && !text.contains("[explain-") && !text.contains("[report-") && !text.contains("[family-"), "a message or argument is missing:\n{text}");
    for w in words {
        assert!(text.contains(w), "no `{w}` in:\n{text}");
    }
}

#[test]
fn info_in_chinese_has_the_same_numbers() {
    let text = ok(&["info", "--lang", "zh"]);
    assert_chinese(&text, &["信息量", "熵", "交叉熵", "相对熵", "KL 散度", "真实分布", "q·log(q/0) = ∞", "奈特"]);
    assert!(text.contains("p = (1, 0, 0)") && text.contains("q = (0.7, 0.2, 0.1)"), "{text}");
    // Closed forms, as in English: H(p) = 0, KL(p‖q) = H(p, q) = −ln 0.7, KL(q‖p) = ∞.
    assert_eq!(number_after(&text, "H(p)    ="), 0.0);
    assert!((number_after(&text, "  KL(p‖q) =") - -(0.7f64.ln())).abs() < 1e-6, "{text}");
    assert!((number_after(&text, "  H(p, q) =") - -(0.7f64.ln())).abs() < 1e-6);
    let hq = -(0.7 * 0.7f64.ln() + 0.2 * 0.2f64.ln() + 0.1 * 0.1f64.ln());
    assert!((number_after(&text, "H(q)    =") - hq).abs() < 1e-6);
    assert_eq!(number_after(&text, "  KL(q‖p) ="), f64::INFINITY);
    // Every number line is the English one's, word for word but the unit and the notes.
    let en = ok(&["info", "--lang", "en"]);
    // The table of self-information: the same rows in both languages, −ln of each q computed here.
    let rows = |t: &str| t.lines().map(|l| l.split_whitespace().collect::<Vec<_>>()).filter(|w| w.len() == 5 && w[0].parse::<usize>().is_ok()).map(|w| w.join(" ")).collect::<Vec<_>>();
    let want: Vec<String> = [(1.0, 0.7), (0.0, 0.2), (0.0, 0.1)]
        .iter()
        .enumerate()
        .map(|(i, &(p, q)): (usize, &(f64, f64))| format!("{i} {p} {} {q} {:.6}", if p == 0.0 { "∞".to_string() } else { "0".to_string() }, -q.ln()))
        .collect();
    assert_eq!(rows(&en), want);
    assert_eq!(rows(&text), want);
    // Bits, in Chinese.
    let text = ok(&["info", "--p", "0.25,0.25,0.25,0.25", "--bits", "--lang", "zh"]);
    assert_eq!(number_after(&text, "H(p)    ="), 2.0);
    assert_chinese(&text, &["比特", "--q"]);
}

#[test]
fn lang_falls_back_to_the_environment() {
    let zh = ok_with_lang("zh_CN.UTF-8", &["info"]);
    assert_chinese(&zh, &["信息量"]);
    let en = ok_with_lang("zh_CN.UTF-8", &["info", "--lang", "en"]);
    assert!(en.contains("Self-information") && !en.contains("信息量"));
    let en = ok_with_lang("de_DE.UTF-8", &["explain", "entropy"]);
    assert!(en.contains("ENTROPY AND CROSS ENTROPY"));
    let zh = ok_with_lang("zh_TW.UTF-8", &["explain", "entropy"]);
    assert_chinese(&zh, &["熵"]);
    assert!(err(&["info", "--lang", "fr"]).contains("--lang fr: expected en or zh"));
    assert!(err(&["explain", "entropy", "--lang", "de"]).contains("expected en or zh"));
}

#[test]
fn explain_in_chinese_has_the_same_numbers() {
    // Q1: binary entropy in bits, the article's example.
    let text = ok(&["explain", "entropy", "--lang", "zh"]);
    assert_chinese(&text, &["信息量", "熵", "相对熵（KL 散度）", "交叉熵", "真实分布 (1, 0, 0)，预测 (0.7, 0.2, 0.1)"]);
    assert_eq!(number_after(&text, "p = 0.5   H ="), 1.0);
    assert!((number_after(&text, "p = 0.1   H =") - -(0.1 * 0.1f64.log2() + 0.9 * 0.9f64.log2())).abs() < 1e-6);
    assert!((number_after(&text, "KL(p‖q) = 1·ln(1/0.7) + 0·ln(0/0.2) + 0·ln(0/0.1) =") - -(0.7f64.ln())).abs() < 1e-6);
    assert!(text.contains(&format!("H(p, q) = KL(p‖q) = {:.6}", -(0.7f64.ln()))), "{text}");

    // Q2: softmax, −log p and the gradient, checked against the softmax computed here.
    let text = ok(&["explain", "cross-entropy", "--logits", "2,1,0.1", "--target", "0", "--lang", "zh"]);
    assert_chinese(&text, &["交叉熵", "样本 1（真实类别 0）", "梯度"]);
    let p = softmax(&[2.0, 1.0, 0.1]);
    let printed = tuple_after(&text, "p = exp(z − max z) / sum =");
    for (a, b) in printed.iter().zip(&p) {
        assert!((a - b).abs() < 1e-6, "{printed:?} vs {p:?}");
    }
    assert!((number_after(&text, "3. −log p[0]       = −ln 0.659001 =") - -p[0].ln()).abs() < 1e-5, "{text}");
    let grad = tuple_after(&text, "losslab 的反向传播给出");
    assert!((grad[0] - (p[0] - 1.0)).abs() < 1e-6 && (grad[1] - p[1]).abs() < 1e-6, "{grad:?}");
    let text = ok(&["explain", "cross-entropy", "--lang", "zh"]);
    let p2 = softmax(&[0.5, 2.5, 0.3]);
    let line = text.lines().find(|l| l.contains("4. 批次平均")).unwrap();
    assert!((parse_num(line.rsplit(' ').next().unwrap()) - (-p[0].ln() - p2[2].ln()) / 2.0).abs() < 1e-5, "{line}");

    // Q3: the p(true) = 0.01 row.
    let text = ok(&["explain", "mse-vs-ce", "--lang", "zh"]);
    assert_chinese(&text, &["雅可比矩阵", "停滞"]);
    let line = text.lines().find(|l| l.trim_start().starts_with("0.01 ")).unwrap();
    let cols: Vec<f64> = line.split_whitespace().map(parse_num).collect();
    let q: f64 = 0.01;
    assert!((cols[1] - -q.ln()).abs() < 1e-5 && (cols[2] - 2f64.sqrt() * (1.0 - q)).abs() < 1e-5, "{line}");
    assert!((cols[4] - 4.0 * 2f64.sqrt() * q * (1.0 - q).powi(2)).abs() < 1e-3 * cols[4], "{line}");

    // Q4: dense and sparse agree on one-hot; the smoothed labels.
    let text = ok(&["explain", "dense-vs-sparse", "--lang", "zh"]);
    assert_chinese(&text, &["稠密", "稀疏", "标签平滑"]);
    let sparse = tuple_after(&text, "sparse(labels = [0, 2])");
    assert_eq!(sparse, tuple_after(&text, "dense(labels = one_hot([0, 2], 3))"));
    assert!((sparse[0] - -p[0].ln()).abs() < 1e-5);
    let y = [0.9 + 0.1 / 3.0, 0.1 / 3.0, 0.1 / 3.0];
    let want: f64 = -y.iter().zip(&p).map(|(a, b)| a * b.ln()).sum::<f64>();
    assert!((tuple_after(&text, "dense(smoothed labels)")[0] - want).abs() < 1e-5);
    assert!((tuple_after(&text, "错误: sparse(labels, softmax(logits))")[0] - -softmax(&p)[0].ln()).abs() < 1e-5);

    // Q5: the values and gradients of the four losses.
    let text = ok(&["explain", "l1-l2-smooth-l1", "--lang", "zh"]);
    assert_chinese(&text, &["Smooth L1", "离群点", "残差"]);
    let row = |label: &str, nth: usize| -> Vec<f64> {
        let line = text.lines().filter(|l| l.trim_start().starts_with(label)).nth(nth).unwrap_or_else(|| panic!("{label}"));
        line.split_whitespace().rev().take(11).map(parse_num).collect::<Vec<_>>().into_iter().rev().collect()
    };
    let r = row("r ", 0);
    let (l2, grads): (Vec<f64>, Vec<Vec<f64>>) = (row("L2 (MSE)", 0), (0..4).map(|i| row("梯度", i)).collect());
    for (k, &x) in r.iter().enumerate() {
        assert!((l2[k] - x * x).abs() < 1e-9 && (grads[0][k] - 2.0 * x).abs() < 1e-9);
        assert!((grads[2][k] - x.clamp(-1.0, 1.0)).abs() < 1e-9);
    }
}

#[test]
fn explain_catalog_names_the_new_families_in_both_languages() {
    let families = [
        ("dpo_loss", "偏好优化"),
        ("kto_loss", "偏好优化"),
        ("trl:grpo_loss", "策略梯度"),
        ("losslab:ppo_clip_loss", "策略梯度"),
        ("trl:generalized_jsd_loss", "知识蒸馏"),
        ("losslab:sequence_log_probs", "知识蒸馏"),
        ("open_clip:clip_loss", "对比预训练"),
        ("siglip_loss", "对比预训练"),
        ("arc_face", "度量学习"),
        ("n_pairs", "度量学习"),
        ("torchaudio:rnnt_loss", "RNN-T"),
        ("tf:sampled_softmax_loss", "大词表"),
        ("tf:nce_loss", "大词表"),
        ("diffusers:min_snr_loss", "生成模型"),
    ];
    let en = ok(&["explain", "catalog"]);
    let zh = ok(&["explain", "catalog", "--lang", "zh"]);
    assert_chinese(&zh, &["交叉熵", "Focal Loss", "CTC"]);
    for (name, zh_word) in families {
        assert!(en.contains(name), "en: {name}");
        let line = zh.lines().find(|l| l.contains(name)).unwrap_or_else(|| panic!("zh: {name}"));
        assert!(line.contains(zh_word), "{line}");
    }
    assert!(en.contains("preference optimisation") && en.contains("GAN losses, gradient penalty"));
    // Both list every loss of the registry, and the same number of families.
    for spec in losslab_registry::catalog() {
        assert!(zh.contains(&spec.qualified_name()), "{}", spec.qualified_name());
    }
    let count = |t: &str| t.lines().take_while(|l| !l.starts_with("In losslab") && !l.starts_with("losslab 目录")).filter(|l| l.starts_with("      ")).count();
    assert_eq!(count(&en), count(&zh));
    assert!(count(&en) >= 23);
}

#[test]
fn report_in_chinese_has_the_same_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok_in(dir.path(), &["report", "--quick", "--out", "rep", "--lang", "zh"]);
    assert!(out.starts_with("已写入 rep/index.zh.html 和 rep/index.html"), "{out}");
    let zh = std::fs::read_to_string(dir.path().join("rep/index.zh.html")).unwrap();
    let en = std::fs::read_to_string(dir.path().join("rep/index.html")).unwrap();
    assert!(zh.starts_with("<!DOCTYPE html><html lang=\"zh-CN\">") && zh.trim_end().ends_with("</html>"));
    assert!(zh.contains("<a id=\"other-language\" href=\"index.html\" hreflang=\"en\">English</a>"));
    assert!(en.contains("<a id=\"other-language\" href=\"index.zh.html\" hreflang=\"zh-CN\">中文</a>"));
    assert_chinese(&zh, &["信息量", "相对熵（KL 散度）", "交叉熵", "Smooth L1", "真实分布 (1, 0, 0)，预测 (0.7, 0.2, 0.1)", "决定性的实验", "这不是运气", "只看离群点，L1 胜出"]);
    for q in 1..=6 {
        assert!(zh.contains(&format!("<h2 id=\"q{q}\">{q}. ")), "question {q}");
    }
    assert_eq!(zh.matches("<svg").count(), en.matches("<svg").count(), "the same figures");
    assert_eq!(zh.matches("<figure>").count(), zh.matches("<figcaption>").count());
    assert!(!zh.contains("<script") && !zh.contains("<link"));
    // The numbers, computed here: KL(p‖q) = −ln 0.7; at p = 0.01 the gradient norms √2·0.99 and 4√2·0.01·0.99².
    assert!(zh.contains(&format!("−ln 0.7 = {:.6}", -(0.7f64.ln()))));
    assert!(zh.contains(&format!("交叉熵的是 {:.6}", 2f64.sqrt() * 0.99)), "{}", &zh[zh.find("图 3.").unwrap()..][..400]);
    assert!(zh.contains(&format!("MSE 的是 {:.6}", 4.0 * 2f64.sqrt() * 0.01 * 0.99 * 0.99)));
    let p = 2f64.exp() / (2f64.exp() + 1f64.exp() + 0.1f64.exp());
    assert!(zh.contains("图 2a.") && zh.contains(&format!("−ln {p:.4} = {:.4}", -p.ln())));
    // Question 5 settled, in Chinese: L1 jumps by one whole step (0.1) forever, L2 has settled.
    assert!(zh.contains("θ 的变动幅度：L1 下为 0.1，L2 下为 0，"), "{}", &zh[zh.find("图 6b.").unwrap()..][..600]);
    // The figures' labels are in Chinese too (SVG text from the catalogue).
    assert!(zh.contains("测试准确率") && zh.contains("体重指数（BMI）") && zh.contains("残差 r = 预测 − 目标") && zh.contains("前向传播"));
    // Every table cell that is a number is the same in both pages.
    let cells = |h: &str| h.split("<td>").skip(1).map(|c| c.split("</td>").next().unwrap().to_string()).filter(|c| c.parse::<f64>().is_ok() || c.ends_with('%')).collect::<Vec<_>>();
    assert_eq!(cells(&en), cells(&zh));
    assert!(cells(&en).len() > 30);
}

#[test]
fn plot_in_chinese() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok_in(dir.path(), &["plot", "mse", "l1", "--lang", "zh", "--out", "f.svg"]);
    assert!(out.starts_with("已写入 f.svg"), "{out}");
    let svg = std::fs::read_to_string(dir.path().join("f.svg")).unwrap();
    assert!(svg.contains("损失随残差的变化") && svg.contains("梯度随残差的变化") && svg.contains("残差 r = 预测 − 目标"), "titles and axis in Chinese");
    // A PNG in Chinese needs a CJK font: drawn where Debian's fonts-wqy-zenhei is installed, else a clear error.
    let out = losslab(dir.path(), &["plot", "mse", "--lang", "zh", "--out", "f.png"]);
    if std::path::Path::new("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc").exists() {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(&std::fs::read(dir.path().join("f.png")).unwrap()[1..4], b"PNG");
    } else if !out.status.success() {
        assert!(String::from_utf8_lossy(&out.stderr).contains("fonts-wqy-zenhei"));
    }
}

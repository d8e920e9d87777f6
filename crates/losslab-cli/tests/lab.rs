//! End-to-end tests of the lab subcommands (`info`, `explain`, `plot`,
//! `report`) through the binary: the numbers they print are checked against
//! closed forms computed here, independently of the library.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn losslab(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_losslab")).current_dir(dir).args(args).output().expect("the binary runs")
}

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

/// Runs a command that must fail; its stderr, one `error:` line, nothing on stdout.
fn err_in(dir: &Path, args: &[&str]) -> String {
    let out = losslab(dir, args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success(), "{args:?} succeeded: {}", String::from_utf8_lossy(&out.stdout));
    assert!(out.stdout.is_empty(), "{args:?} printed: {}", String::from_utf8_lossy(&out.stdout));
    assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    stderr
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

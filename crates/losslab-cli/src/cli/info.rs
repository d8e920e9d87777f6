//! `losslab info`: the information theory of one distribution, or of a true
//! distribution `p` and a prediction `q` (the article's question 1).
//!
//! Every number comes from [`losslab`]'s information functions
//! ([`self_information`](losslab::self_information), [`entropy`](losslab::information::entropy),
//! [`cross_entropy`](losslab::information::cross_entropy),
//! [`kl_divergence`](losslab::information::kl_divergence), [`js_divergence`](losslab::js_divergence)).

use anyhow::{bail, Result};
use crate::lab::i18n::Lang;
use ndarray::Array1;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::io::Write;
use std::process::ExitCode;

const AFTER_HELP: &str = "\
Without --p and --q: the article's example, ground truth p = (1, 0, 0) against the
prediction q = (0.7, 0.2, 0.1). A list that does not sum to 1 (counts, say) is
normalised, with a note; negative, NaN or infinite entries, an all-zero list and
lists of different lengths are errors.

Examples:
  losslab info
  losslab info --p 0.25,0.25,0.25,0.25 --bits
  losslab info --p 1,0,0 --q 0.7,0.2,0.1 --json
  losslab info --lang zh";

/// The flags of `losslab info`, as given.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct InfoArgs {
    /// The true distribution, comma-separated (default 1,0,0 when --q is not given either).
    #[arg(long, value_name = "P1,P2,...", allow_hyphen_values = true)]
    pub p: Option<String>,
    /// The predicted distribution, comma-separated (default 0.7,0.2,0.1 when --p is not given either).
    #[arg(long, value_name = "Q1,Q2,...", allow_hyphen_values = true)]
    pub q: Option<String>,
    /// Logarithms in base 2 (bits).
    #[arg(long, conflicts_with = "nats")]
    pub bits: bool,
    /// Natural logarithms (nats): the default, the unit of deep-learning losses.
    #[arg(long)]
    pub nats: bool,
    /// Print one JSON object instead of text (infinities as the string "inf").
    #[arg(long)]
    pub json: bool,
    /// The language of the text: en or zh (by default the LANG environment
    /// variable's where it is Chinese, else English).
    #[arg(long, value_name = "LANG")]
    pub lang: Option<String>,
}

/// A distribution as given, and as used (normalised).
#[derive(Debug, Clone, PartialEq)]
pub struct Distribution {
    /// The values as given.
    pub given: Vec<f64>,
    /// The values divided by their sum.
    pub probs: Vec<f64>,
}

impl Distribution {
    /// Whether normalising changed the values (the sum was not 1 to within 1e-12).
    pub fn normalised(&self) -> bool {
        let s: f64 = self.given.iter().sum();
        (s - 1.0).abs() > 1e-12
    }
}

/// Parses a comma-separated list of numbers.
///
/// # Errors
/// An empty list, or an entry that is not a number.
pub fn parse_list(name: &str, text: &str) -> Result<Vec<f64>> {
    let items: Vec<&str> = text.split(',').map(str::trim).collect();
    if items.iter().all(|s| s.is_empty()) {
        bail!("--{name} is empty: give comma-separated numbers, e.g. --{name} 0.7,0.2,0.1");
    }
    items
        .iter()
        .enumerate()
        .map(|(i, s)| {
            s.parse::<f64>().map_err(|_| anyhow::anyhow!("--{name}: entry {} is `{s}`, not a number (expected comma-separated numbers, e.g. 0.7,0.2,0.1)", i + 1))
        })
        .collect()
}

/// Checks a list of probabilities (or weights) and normalises it to sum to 1.
///
/// # Errors
/// A negative, NaN or infinite entry, or a list that sums to 0.
pub fn distribution(name: &str, given: Vec<f64>) -> Result<Distribution> {
    for (i, &v) in given.iter().enumerate() {
        if !v.is_finite() {
            bail!("--{name}: entry {} is {v}: probabilities must be finite numbers", i + 1);
        }
        if v < 0.0 {
            bail!("--{name}: entry {} is {v}: probabilities cannot be negative", i + 1);
        }
    }
    let sum: f64 = given.iter().sum();
    if sum <= 0.0 {
        bail!("--{name} sums to 0: a distribution needs some positive mass");
    }
    let probs = given.iter().map(|v| v / sum).collect();
    Ok(Distribution { given, probs })
}

/// Everything `info` computes, in the unit asked for.
#[derive(Debug, Clone)]
pub struct Info {
    /// `"bits"` or `"nats"`.
    pub unit: &'static str,
    /// The true distribution.
    pub p: Distribution,
    /// The prediction, if given.
    pub q: Option<Distribution>,
    /// `−log pᵢ` for each outcome.
    pub self_information_p: Vec<f64>,
    /// `−log qᵢ` for each outcome.
    pub self_information_q: Option<Vec<f64>>,
    /// `H(p)`.
    pub entropy_p: f64,
    /// `H(q)`.
    pub entropy_q: Option<f64>,
    /// `H(p, q)`.
    pub cross_entropy: Option<f64>,
    /// `KL(p‖q)`.
    pub kl_pq: Option<f64>,
    /// `KL(q‖p)`.
    pub kl_qp: Option<f64>,
    /// `JS(p, q)`.
    pub js: Option<f64>,
}

/// Computes [`Info`] with [`losslab`]'s functions.
///
/// # Errors
/// Lists of different lengths.
pub fn compute(p: Distribution, q: Option<Distribution>, bits: bool) -> Result<Info> {
    let base = bits.then_some(2.0);
    let unit = if bits { "bits" } else { "nats" };
    if let Some(q) = &q {
        if q.probs.len() != p.probs.len() {
            bail!(
                "--p has {} entries but --q has {}: both must give a probability to the same outcomes",
                p.probs.len(),
                q.probs.len()
            );
        }
    }
    let pa = Array1::from(p.probs.clone());
    let scalar = |a: ndarray::ArrayD<f64>| a.iter().next().copied().expect("a scalar");
    let self_information_p = losslab::self_information(pa.view(), base)?.iter().copied().collect();
    let entropy_p = scalar(losslab::information::entropy(pa.view(), 0, base)?);
    let mut info = Info {
        unit,
        p: p.clone(),
        q: q.clone(),
        self_information_p,
        self_information_q: None,
        entropy_p,
        entropy_q: None,
        cross_entropy: None,
        kl_pq: None,
        kl_qp: None,
        js: None,
    };
    if let Some(q) = q {
        let qa = Array1::from(q.probs.clone());
        info.self_information_q = Some(losslab::self_information(qa.view(), base)?.iter().copied().collect());
        info.entropy_q = Some(scalar(losslab::information::entropy(qa.view(), 0, base)?));
        info.cross_entropy = Some(scalar(losslab::information::cross_entropy(pa.view(), qa.view(), 0, base)?));
        info.kl_pq = Some(scalar(losslab::information::kl_divergence(pa.view(), qa.view(), 0, base)?));
        info.kl_qp = Some(scalar(losslab::information::kl_divergence(qa.view(), pa.view(), 0, base)?));
        info.js = Some(scalar(losslab::js_divergence(pa.view(), qa.view(), 0, base)?));
    }
    Ok(info)
}

/// A number as text: `∞` for infinity, otherwise up to 6 significant decimals.
pub fn num(v: f64) -> String {
    if v == f64::INFINITY {
        "∞".to_string()
    } else if v == f64::NEG_INFINITY {
        "−∞".to_string()
    } else if v == 0.0 {
        "0".to_string()
    } else {
        let s = format!("{v:.6}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.replace('-', "−")
    }
}

fn list(v: &[f64]) -> String {
    format!("({})", v.iter().map(|&x| num(x)).collect::<Vec<_>>().join(", "))
}

fn json_num(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else if v.is_nan() {
        json!("nan")
    } else if v > 0.0 {
        json!("inf")
    } else {
        json!("-inf")
    }
}

impl Info {
    /// The JSON object `info --json` prints.
    pub fn to_json(&self) -> Value {
        let nums = |v: &[f64]| Value::Array(v.iter().map(|&x| json_num(x)).collect());
        let opt = |v: Option<f64>| v.map_or(Value::Null, json_num);
        json!({
            "unit": self.unit,
            "p": nums(&self.p.probs),
            "p_given": nums(&self.p.given),
            "p_normalised": self.p.normalised(),
            "q": self.q.as_ref().map_or(Value::Null, |q| nums(&q.probs)),
            "q_given": self.q.as_ref().map_or(Value::Null, |q| nums(&q.given)),
            "q_normalised": self.q.as_ref().map(Distribution::normalised),
            "self_information_p": nums(&self.self_information_p),
            "self_information_q": self.self_information_q.as_deref().map_or(Value::Null, nums),
            "entropy_p": json_num(self.entropy_p),
            "entropy_q": opt(self.entropy_q),
            "cross_entropy": opt(self.cross_entropy),
            "kl_pq": opt(self.kl_pq),
            "kl_qp": opt(self.kl_qp),
            "js": opt(self.js),
        })
    }

    /// The text `info` prints, in English.
    pub fn to_text(&self) -> String {
        self.to_text_in(Lang::En)
    }

    /// The text `info --lang LANG` prints: the same numbers in either language.
    pub fn to_text_in(&self, lang: Lang) -> String {
        let u = &lang.t(if self.unit == "bits" { "info-unit-bits" } else { "info-unit-nats" });
        let log = if self.unit == "bits" { "log₂" } else { "ln" };
        let mut s = String::new();
        let p = &self.p.probs;
        if self.p.normalised() {
            let _ = writeln!(s, "{}", lang.f("info-note-normalised", &[("flag", &"--p"), ("sum", &num(self.p.given.iter().sum())), ("list", &list(p))]));
        }
        if let Some(q) = &self.q {
            if q.normalised() {
                let _ = writeln!(s, "{}", lang.f("info-note-normalised", &[("flag", &"--q"), ("sum", &num(q.given.iter().sum())), ("list", &list(&q.probs))]));
            }
        }
        let _ = writeln!(s, "p = {}   {}", list(p), lang.t("info-p-is-truth"));
        if let Some(q) = &self.q {
            let _ = writeln!(s, "q = {}   {}", list(&q.probs), lang.t("info-q-is-prediction"));
        }
        let _ = writeln!(s, "{}\n", lang.f("info-unit", &[("unit", u), ("log", &log)]));

        let _ = writeln!(s, "{}", lang.t("info-self-information"));
        let outcome = lang.t("info-outcome");
        match (&self.q, &self.self_information_q) {
            (Some(q), Some(iq)) => {
                let _ = writeln!(s, "  {outcome:>7} {:>8} {:>14} {:>12} {:>14}", "p", "I_p = −log p", "q", "I_q = −log q");
                for i in 0..p.len() {
                    let _ = writeln!(
                        s,
                        "  {:>7} {:>8} {:>14} {:>12} {:>14}",
                        i,
                        num(p[i]),
                        num(self.self_information_p[i]),
                        num(q.probs[i]),
                        num(iq[i])
                    );
                }
            }
            _ => {
                let _ = writeln!(s, "  {outcome:>7} {:>8} {:>14}", "p", "I_p = −log p");
                for (i, (&pi, &ii)) in p.iter().zip(&self.self_information_p).enumerate() {
                    let _ = writeln!(s, "  {:>7} {:>8} {:>14}", i, num(pi), num(ii));
                }
            }
        }
        if p.iter().chain(self.q.iter().flat_map(|q| q.probs.iter())).any(|&v| v == 0.0) {
            let _ = writeln!(s, "  {}", lang.t("info-zero-probability"));
        }
        s.push('\n');

        let _ = writeln!(s, "{}", lang.t("info-entropy"));
        let n = p.len();
        let _ = writeln!(s, "  H(p)    = {:<10} {u}   {}", num(self.entropy_p), lang.f("info-entropy-max", &[("max", &num(max_entropy(n, self.unit))), ("n", &n)]));
        let (Some(q), Some(hq), Some(ce), Some(kl_pq), Some(kl_qp), Some(js)) =
            (&self.q, self.entropy_q, self.cross_entropy, self.kl_pq, self.kl_qp, self.js)
        else {
            let _ = writeln!(s, "\n{}", lang.t("info-give-q"));
            return s;
        };
        let q = &q.probs;
        let _ = writeln!(s, "  H(q)    = {:<10} {u}\n", num(hq));
        let _ = writeln!(s, "{}", lang.t("info-cross-entropy"));
        let _ = writeln!(s, "  H(p, q) = {:<10} {u}   = H(p) + KL(p‖q) = {} + {}\n", num(ce), num(self.entropy_p), num(kl_pq));
        let _ = writeln!(s, "{}", lang.t("info-kl"));
        let _ = writeln!(s, "  KL(p‖q) = {:<10} {u}", num(kl_pq));
        let _ = writeln!(s, "  KL(q‖p) = {:<10} {u}   {}", num(kl_qp), lang.t(if kl_pq == kl_qp { "info-kl-not-symmetric-equal" } else { "info-kl-not-symmetric" }));
        let _ = writeln!(s, "  {}", lang.t("info-zero-conventions"));
        for (i, (&pi, &qi)) in p.iter().zip(q).enumerate() {
            if pi == 0.0 && qi > 0.0 {
                let _ = writeln!(s, "  - {}", lang.f("info-outcome-p-zero", &[("i", &i), ("q", &num(qi))]));
            } else if pi > 0.0 && qi == 0.0 {
                let _ = writeln!(s, "  - {}", lang.f("info-outcome-q-zero", &[("i", &i), ("p", &num(pi))]));
            } else if pi == 0.0 && qi == 0.0 {
                let _ = writeln!(s, "  - {}", lang.f("info-outcome-both-zero", &[("i", &i)]));
            }
        }
        if kl_pq.is_infinite() {
            let _ = writeln!(s, "  {}", lang.t("info-kl-pq-infinite"));
        }
        if kl_qp.is_infinite() {
            let _ = writeln!(s, "  {}", lang.t("info-kl-qp-infinite"));
        }
        let _ = writeln!(s, "\n{}", lang.t("info-js"));
        let _ = writeln!(s, "  JS(p, q) = {:<10} {u}   {}", num(js), lang.f("info-js-max", &[("max", &num(if self.unit == "bits" { 1.0 } else { 2f64.ln() })), ("unit", u)]));
        s
    }
}

fn max_entropy(n: usize, unit: &str) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let ln = (n as f64).ln();
    if unit == "bits" {
        ln / 2f64.ln()
    } else {
        ln
    }
}

/// Runs `losslab info`.
///
/// # Errors
/// Bad lists (see [`distribution`]), lists of different lengths, or a failed write.
pub fn run(args: &InfoArgs, out: &mut dyn Write) -> Result<ExitCode> {
    let lang = Lang::from_flag_or_env(args.lang.as_deref())?;
    let (p, q) = match (&args.p, &args.q) {
        (None, None) => (vec![1.0, 0.0, 0.0], Some(vec![0.7, 0.2, 0.1])),
        (Some(p), q) => (parse_list("p", p)?, q.as_deref().map(|q| parse_list("q", q)).transpose()?),
        (None, Some(_)) => bail!("--q needs --p, the true distribution it is compared with"),
    };
    let p = distribution("p", p)?;
    let q = q.map(|q| distribution("q", q)).transpose()?;
    let info = compute(p, q, args.bits)?;
    if args.json {
        writeln!(out, "{}", info.to_json())?;
    } else {
        out.write_all(info.to_text_in(lang).as_bytes())?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn article_example() {
        let p = distribution("p", vec![1.0, 0.0, 0.0]).unwrap();
        let q = distribution("q", vec![0.7, 0.2, 0.1]).unwrap();
        let info = compute(p, Some(q), false).unwrap();
        assert_eq!(info.entropy_p, 0.0);
        assert!((info.kl_pq.unwrap() + 0.7f64.ln()).abs() < 1e-15);
        assert_eq!(info.kl_qp, Some(f64::INFINITY));
        assert!(info.to_text().contains("q·log(q/0) = ∞"));
    }

    #[test]
    fn errors() {
        assert!(distribution("p", vec![0.5, -0.5]).unwrap_err().to_string().contains("cannot be negative"));
        assert!(distribution("p", vec![0.0, 0.0]).unwrap_err().to_string().contains("sums to 0"));
        assert!(parse_list("q", "0.5,x").unwrap_err().to_string().contains("entry 2 is `x`"));
        let p = distribution("p", vec![0.5, 0.5]).unwrap();
        let q = distribution("q", vec![1.0, 0.0, 0.0]).unwrap();
        assert!(compute(p, Some(q), true).unwrap_err().to_string().contains("--p has 2 entries but --q has 3"));
    }

    #[test]
    fn numbers() {
        assert_eq!(num(0.5), "0.5");
        assert_eq!(num(-0.25), "−0.25");
        assert_eq!(num(f64::INFINITY), "∞");
        assert_eq!(num(2.0), "2");
    }
}

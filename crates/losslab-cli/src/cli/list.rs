//! `losslab list`: every loss `eval` knows.

use losslab_registry::{catalog, Framework, LossSpec};
use anyhow::Result;
use serde::Serialize;
use std::io::Write;
use std::process::ExitCode;

/// The flags of `losslab list`.
#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    /// Print JSON (an array of losses) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `losslab list`.
///
/// # Errors
/// If writing to `out` fails.
pub fn run(args: &ListArgs, out: &mut dyn Write) -> Result<ExitCode> {
    if args.json {
        let all: Vec<LossJson> = catalog().iter().map(spec_json).collect();
        serde_json::to_writer_pretty(&mut *out, &all).map_err(std::io::Error::from)?;
        writeln!(out)?;
    } else {
        out.write_all(text().as_bytes())?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// One loss as `list --json` shows it.
#[derive(Debug, Serialize)]
pub struct LossJson {
    /// The qualified name (`torch:cross_entropy`).
    pub name: String,
    /// The framework (`torch`).
    pub framework: &'static str,
    /// The name within the framework (`cross_entropy`).
    pub short_name: &'static str,
    /// One line on what it computes.
    pub summary: &'static str,
    /// Its tensor arguments.
    pub tensors: Vec<TensorJson>,
    /// Its options.
    pub options: Vec<OptionJson>,
    /// The default reduction; `null`: the function's own output.
    pub default_reduction: Option<&'static str>,
    /// The tensors it differentiates.
    pub grads: &'static [&'static str],
}

/// A tensor argument in `list --json`.
#[derive(Debug, Serialize)]
pub struct TensorJson {
    /// Its name.
    pub name: &'static str,
    /// Whether it must be given.
    pub required: bool,
    /// `"float"`, `"float (int promoted)"` (integers accepted, converted to the float dtype, not differentiated), `"int"` or `"int or float"`.
    pub kind: &'static str,
    /// What it holds.
    pub doc: &'static str,
}

/// An option in `list --json`.
#[derive(Debug, Serialize)]
pub struct OptionJson {
    /// Its name.
    pub key: &'static str,
    /// Its type.
    #[serde(rename = "type")]
    pub ty: &'static str,
    /// Its default, as the reference writes it.
    pub default: &'static str,
    /// What it does.
    pub doc: &'static str,
}

/// One loss as JSON: names, tensors, options with their defaults, default
/// reduction (`null`: the function's own output), differentiable tensors.
pub fn spec_json(s: &LossSpec) -> LossJson {
    LossJson {
        name: s.qualified_name(),
        framework: s.framework.name(),
        short_name: s.name,
        summary: s.summary,
        tensors: s.tensors.iter().map(|t| TensorJson { name: t.name, required: t.required, kind: t.kind.name(), doc: t.doc }).collect(),
        options: s.options.iter().map(|o| OptionJson { key: o.key, ty: o.ty.name(), default: o.default, doc: o.doc }).collect(),
        default_reduction: s.default_reduction.map(|r| r.name()),
        grads: s.grads,
    }
}

/// The catalog as text for a terminal.
pub fn text() -> String {
    use std::fmt::Write as _;
    let order: Vec<_> = Framework::ALL.iter().map(|f| f.name()).collect();
    let mut s = format!(
        "Losses for `losslab eval LOSS`. A bare name means the first of {} that has it.\n\
         Reductions: none, mean, sum, batchmean (--reduction).\n",
        order.join(", ")
    );
    for spec in catalog() {
        let _ = writeln!(s, "\n{}\n    {}", spec.qualified_name(), spec.summary);
        let width = spec
            .tensors
            .iter()
            .map(|t| t.name.len())
            .chain(spec.options.iter().map(|o| o.key.len() + 3 + o.default.len()))
            .max()
            .unwrap_or(0);
        for (i, t) in spec.tensors.iter().enumerate() {
            let label = if i == 0 { "tensors" } else { "" };
            let kind = if t.required { t.kind.name().to_string() } else { format!("{}, optional", t.kind.name()) };
            let _ = writeln!(s, "    {label:<11}{:<width$}  {kind}: {}", t.name, t.doc);
        }
        if spec.options.is_empty() {
            let _ = writeln!(s, "    {:<11}(none)", "options");
        }
        for (i, o) in spec.options.iter().enumerate() {
            let label = if i == 0 { "options" } else { "" };
            let _ = writeln!(s, "    {label:<11}{:<width$}  {}: {}", format!("{} = {}", o.key, o.default), o.ty.name(), o.doc);
        }
        let reduction = match spec.default_reduction {
            Some(r) => format!("{r} by default"),
            None => "none by default (the function's own output)".to_string(),
        };
        let _ = writeln!(s, "    {:<11}{reduction}", "reduction");
        let grads: Vec<String> = spec
            .grads
            .iter()
            .map(|g| match spec.tensor(g).map(|t| t.kind) {
                Some(losslab_registry::TensorKind::Either | losslab_registry::TensorKind::Promoted) => format!("{g} (when float)"),
                // A tensor that an option of the same name may replace (gaussian_nll_loss's var).
                _ if spec.option(g).is_some() => format!("{g} (when a tensor)"),
                _ => (*g).to_string(),
            })
            .collect();
        let _ = writeln!(s, "    {:<11}{}", "grads", grads.join(", "));
    }
    s
}

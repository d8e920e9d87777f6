//! `losslab plot`: losses and their gradients against the residual, the
//! margin or the predicted probability, several on one figure, as SVG or PNG.

use crate::lab::curves::{axis_name_in, curve, lookup, panels_in, Against, ALIASES};
use crate::lab::i18n::Lang;
use crate::lab::figure::Figure;
use anyhow::{bail, Result};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

const AFTER_HELP: &str = "\
LOSS is a catalog name (`losslab list`) or one of the short names mse, l2, l1, mae,
smooth-l1, huber, bce, bce-with-logits, logistic, binary-entropy, self-information.
Losses of one tensor (binary-entropy, self-information) are drawn in bits.
Without --against, the axis is the first loss's natural one: the residual for
regression losses, the margin for losses of logits, the probability for losses of
probabilities. The file is written whole or not at all.

Examples:
  losslab plot mse l1 smooth-l1 huber --out target/regression.svg
  losslab plot logistic --out target/logistic.png
  losslab plot bce --against probability --out target/bce.png
  losslab plot binary-entropy --out target/binary-entropy.svg
  losslab plot mse l1 smooth-l1 huber --lang zh --out target/regression.zh.png";

/// The flags of `losslab plot`, as given.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct PlotArgs {
    /// The losses to draw, on one figure.
    #[arg(value_name = "LOSS", required = true)]
    pub losses: Vec<String>,
    /// The output: FILE.svg or FILE.png.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// What to draw the losses against.
    #[arg(long, value_enum)]
    pub against: Option<Against>,
    /// The language of the titles and axis names: en or zh (by default the
    /// LANG environment variable's where it is Chinese, else English). A PNG
    /// in Chinese is drawn with a CJK font: Debian's fonts-wqy-zenhei, or the
    /// file named by LOSSLAB_CJK_FONT.
    #[arg(long, value_name = "LANG")]
    pub lang: Option<String>,
}

/// Runs `losslab plot`.
///
/// # Errors
/// An unknown or unplottable loss, a bad output path, a failed write.
pub fn run(args: &PlotArgs, out: &mut dyn Write) -> Result<ExitCode> {
    let ext = args.out.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    if !matches!(ext.as_deref(), Some("svg" | "png")) {
        bail!("--out `{}`: the output must end in .svg or .png", args.out.display());
    }
    let lang = Lang::from_flag_or_env(args.lang.as_deref())?;
    let first = lookup(&args.losses[0])?;
    let against = args.against.unwrap_or_else(|| Against::natural(first));
    let xs = against.grid();
    let curves = args.losses.iter().map(|l| curve(l, against, &xs)).collect::<Result<Vec<_>>>()?;
    let axis = axis_name_in(against, lang);
    let mut fig = Figure::new(panels_in(&curves, lang));
    fig.panels[0].title = lang.f("plot-loss-title", &[("axis", &axis)]);
    fig.panels[1].title = lang.f("plot-gradient-title", &[("axis", &axis)]);
    fig.write(&args.out)?;
    let names = curves.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
    writeln!(out, "{}", lang.f("plot-wrote", &[("path", &args.out.display()), ("losses", &names), ("axis", &axis)]))?;
    let _ = ALIASES;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

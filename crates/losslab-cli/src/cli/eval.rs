//! `losslab eval`: evaluate a loss and its gradients on `.npy` files.

use losslab_registry::{resolve, EvalRequest, Evaluation, OptionValue};
use crate::cli::json;
use crate::npy;
use anyhow::{bail, Context, Result};
use losslab::Reduction;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const AFTER_HELP: &str = "\
Prints one JSON object: loss (the qualified name), reduction, dtype, shape, value
(a number, nested arrays, or null past 100000 elements; non-finite values as the
strings \"nan\", \"inf\", \"-inf\"), and grads (the files written) with --grad-dir.

Tensors are .npy files of float16, float32 or float64 data and int32 or int64
labels. The computation runs in the dtype of the floating-point tensors; a
float16 file is read as float32 (exactly: every float16 value is a float32), so
float16 inputs are computed in float32 and results and gradients are written as
float32. (NumPy has no bfloat16 dtype.)

Examples:
  losslab eval cross_entropy --tensor input=examples/logits.npy --tensor target=examples/labels.npy
  losslab eval torch:cross_entropy --tensor input=examples/logits.npy --tensor target=examples/labels.npy \\
      --option label_smoothing=0.1 --reduction none --grad-dir grads/
  losslab eval tf:softmax_cross_entropy_with_logits --tensor labels=examples/probs.npy \\
      --tensor logits=examples/logits.npy --reduction mean";

/// The flags of `losslab eval`, as given.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct EvalArgs {
    /// The loss: framework:name (torch:cross_entropy) or a bare name, looked up
    /// in the order torch, torchvision, tf, keras, optax, scipy, losslab
    /// (`losslab list` shows them all).
    #[arg(value_name = "LOSS")]
    pub loss: String,

    /// A tensor argument, by the reference's name (repeat for each).
    #[arg(long = "tensor", short = 't', value_name = "NAME=FILE.npy")]
    pub tensors: Vec<String>,

    /// An option, by the reference's name: a number, true/false (True/False), or
    /// None/null (repeat for each).
    #[arg(long = "option", short = 'O', value_name = "KEY=VALUE")]
    pub options: Vec<String>,

    /// The reduction [default: the loss's own: mean for PyTorch's losses, none
    /// (the function's own output) for TensorFlow's, SciPy's and losslab's].
    #[arg(long, value_name = "none|mean|sum|batchmean")]
    pub reduction: Option<String>,

    /// Write the result to this .npy file (in the computation's dtype).
    #[arg(long, value_name = "FILE.npy")]
    pub out: Option<PathBuf>,

    /// Write the gradient of every differentiable float tensor to DIR/NAME.npy
    /// (DIR is created if missing).
    #[arg(long, value_name = "DIR")]
    pub grad_dir: Option<PathBuf>,

    /// The upstream gradient (the result's shape): the gradients written are
    /// those of Σ grad_output · result [default: ones].
    #[arg(long, value_name = "FILE.npy", requires = "grad_dir")]
    pub grad_output: Option<PathBuf>,
}

/// `losslab eval`'s flags, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalConfig {
    /// The loss's name as given.
    pub loss: String,
    /// Tensor files by argument name, in the order given.
    pub tensors: Vec<(String, PathBuf)>,
    /// Options by name.
    pub options: BTreeMap<String, OptionValue>,
    /// The reduction asked for.
    pub reduction: Option<Reduction>,
    /// Where to write the result.
    pub out: Option<PathBuf>,
    /// Where to write the gradients.
    pub grad_dir: Option<PathBuf>,
    /// The upstream gradient's file.
    pub grad_output: Option<PathBuf>,
}

impl EvalConfig {
    /// Validates the raw flags: `NAME=FILE` and `KEY=VALUE` syntax, no name
    /// given twice, option values that parse, a known reduction.
    ///
    /// # Errors
    /// Naming the flag and what is wrong with it.
    ///
    /// # Examples
    /// ```
    /// use clap::Parser;
    /// use losslab_cli::cli::{eval::EvalConfig, Cli, Command};
    /// let cli = Cli::parse_from(["losslab", "eval", "huber_loss", "--tensor", "input=x.npy", "--option", "delta=2"]);
    /// let Command::Eval(args) = cli.command else { unreachable!() };
    /// let config = EvalConfig::from_args(&args).unwrap();
    /// assert_eq!(config.tensors[0].0, "input");
    /// assert_eq!(config.options["delta"], losslab_registry::OptionValue::Int(2));
    /// ```
    pub fn from_args(args: &EvalArgs) -> Result<EvalConfig> {
        let mut tensors: Vec<(String, PathBuf)> = Vec::new();
        for raw in &args.tensors {
            let Some((name, file)) = raw.split_once('=').filter(|(n, f)| !n.trim().is_empty() && !f.is_empty()) else {
                bail!("--tensor `{raw}`: expected NAME=FILE.npy (for example input=logits.npy)");
            };
            let name = name.trim();
            if tensors.iter().any(|(n, _)| n == name) {
                bail!("--tensor: `{name}` is given twice");
            }
            tensors.push((name.to_string(), PathBuf::from(file)));
        }
        let mut options = BTreeMap::new();
        for raw in &args.options {
            let Some((key, value)) = raw.split_once('=').filter(|(k, _)| !k.trim().is_empty()) else {
                bail!("--option `{raw}`: expected KEY=VALUE (for example label_smoothing=0.1)");
            };
            let key = key.trim();
            let value = value.parse::<OptionValue>().with_context(|| format!("--option {raw}"))?;
            if options.insert(key.to_string(), value).is_some() {
                bail!("--option: `{key}` is given twice");
            }
        }
        let reduction = match &args.reduction {
            Some(r) => Some(r.parse::<Reduction>().context("--reduction")?),
            None => None,
        };
        Ok(EvalConfig {
            loss: args.loss.clone(),
            tensors,
            options,
            reduction,
            out: args.out.clone(),
            grad_dir: args.grad_dir.clone(),
            grad_output: args.grad_output.clone(),
        })
    }
}

/// What `losslab eval` prints.
#[derive(Debug, Serialize)]
pub struct EvalReport {
    /// The qualified name of the loss evaluated.
    pub loss: String,
    /// The reduction applied (`"none"` for a function's own output).
    pub reduction: &'static str,
    /// `"float32"` or `"float64"`.
    pub dtype: &'static str,
    /// The result's shape.
    pub shape: Vec<usize>,
    /// The result: a number, nested arrays, or null when too large.
    pub value: serde_json::Value,
    /// Why `value` is null, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_note: Option<String>,
    /// The file the result was written to (`--out`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out: Option<String>,
    /// The gradient files written (`--grad-dir`), by tensor name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grads: Option<BTreeMap<String, String>>,
}

/// Runs `losslab eval`: reads the tensors, evaluates, writes the requested
/// files (all computed first, each written atomically; on any error none is
/// left behind, and a file one replaced is restored), and prints the report as one line of JSON to `out`.
///
/// # Errors
/// Bad flags, unreadable or malformed files, any evaluation error, or a
/// failure to write the outputs.
pub fn run(args: &EvalArgs, out: &mut dyn Write) -> Result<ExitCode> {
    let config = EvalConfig::from_args(args)?;
    let spec = resolve(&config.loss)?;

    let mut request = EvalRequest { options: config.options.clone(), reduction: config.reduction, ..EvalRequest::default() };
    for (name, path) in &config.tensors {
        // An unknown name is reported before any file is read.
        spec.check_tensor_name(name)?;
        let t = npy::read_labelled(path, &format!("--tensor {name}={}", path.display()))?;
        request.tensors.insert(name.clone(), t.into());
    }
    if let Some(path) = &config.grad_output {
        request.grad_output = Some(npy::read_labelled(path, &format!("--grad-output {}", path.display()))?.into());
    }
    request.want_grads = config.grad_dir.is_some();
    let evaluation = spec.evaluate(request)?;

    let (grad_files, out_file) = write_outputs(&config, &evaluation)?;
    let value = json::tensor_value(&evaluation.value);
    let value_note = value.is_none().then(|| {
        format!(
            "the result has {} elements, more than {} are not printed: use --out FILE.npy to get them",
            evaluation.value.len(),
            json::MAX_JSON_ELEMENTS
        )
    });
    let report = EvalReport {
        loss: evaluation.loss.clone(),
        reduction: evaluation.reduction.map_or("none", Reduction::name),
        dtype: evaluation.dtype.name(),
        shape: evaluation.value.shape().to_vec(),
        value: value.unwrap_or(serde_json::Value::Null),
        value_note,
        out: out_file,
        grads: grad_files,
    };
    serde_json::to_writer(&mut *out, &report).map_err(std::io::Error::from)?;
    writeln!(out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

type Written = (Option<BTreeMap<String, String>>, Option<String>);

/// Writes `--out` and the `--grad-dir` files: every file to a temporary file
/// first, then all renamed into place; on failure, removes what it created.
fn write_outputs(config: &EvalConfig, e: &Evaluation) -> Result<Written> {
    let mut created_dirs: Vec<PathBuf> = Vec::new();
    let result = stage_and_commit(config, e, &mut created_dirs);
    if result.is_err() {
        // Deepest first; `remove_dir` only removes empty directories.
        for d in created_dirs.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
    result
}

fn stage_and_commit(config: &EvalConfig, e: &Evaluation, created_dirs: &mut Vec<PathBuf>) -> Result<Written> {
    let mut staged = Vec::new();
    let mut out_file = None;
    if let Some(path) = &config.out {
        if path.is_dir() {
            bail!("--out `{}`: expected a file name such as result.npy, found a directory", path.display());
        }
        staged.push(("--out", npy::stage(path, &e.value).context("--out")?));
        out_file = Some(path.display().to_string());
    }
    let mut grad_files = None;
    if let Some(dir) = &config.grad_dir {
        if dir.exists() && !dir.is_dir() {
            bail!("--grad-dir `{}`: expected a directory, found a file", dir.display());
        }
        create_dir(dir, created_dirs).with_context(|| format!("--grad-dir: cannot create the directory `{}`", dir.display()))?;
        let mut files = BTreeMap::new();
        for (name, g) in &e.grads {
            let path = dir.join(format!("{name}.npy"));
            staged.push(("--grad-dir", npy::stage(&path, g).context("--grad-dir")?));
            files.insert(name.clone(), path.display().to_string());
        }
        grad_files = Some(files);
    }
    // Each file is renamed into place; a file it replaces is kept aside until
    // all are, so that a failure part-way restores what was there.
    let mut committed: Vec<(PathBuf, Option<tempfile::TempPath>)> = Vec::new();
    let rollback = |committed: Vec<(PathBuf, Option<tempfile::TempPath>)>| {
        for (dest, old) in committed.into_iter().rev() {
            let _ = match old {
                Some(old) => std::fs::rename(&old, &dest),
                None => std::fs::remove_file(&dest),
            };
        }
    };
    for (flag, s) in staged {
        let dest = s.dest().to_path_buf();
        let old = match keep_aside(&dest).with_context(|| format!("{flag}: cannot write `{}`", dest.display())) {
            Ok(old) => old,
            Err(err) => {
                rollback(committed);
                return Err(err);
            }
        };
        if let Err(err) = s.commit().context(flag) {
            rollback(committed);
            return Err(err);
        }
        committed.push((dest, old));
    }
    // Success: the copies kept aside are deleted as they drop.
    Ok((grad_files, out_file))
}

/// A copy of the file at `dest`, if there is one, beside it (a hard link, or a
/// copy where links are refused), deleted when dropped.
fn keep_aside(dest: &Path) -> std::io::Result<Option<tempfile::TempPath>> {
    if !dest.is_file() {
        return Ok(None);
    }
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let old = tempfile::Builder::new().prefix(".losslab-").suffix(".npy.old").tempfile_in(dir)?.into_temp_path();
    std::fs::remove_file(&old)?;
    if std::fs::hard_link(dest, &old).is_err() {
        std::fs::copy(dest, &old)?;
    }
    Ok(Some(old))
}

/// Creates `dir` and its missing ancestors, recording those it created (outermost first).
fn create_dir(dir: &Path, created: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut p = Some(dir);
    while let Some(d) = p.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        missing.push(d.to_path_buf());
        p = d.parent();
    }
    for d in missing.into_iter().rev() {
        std::fs::create_dir(&d)?;
        created.push(d);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn config(args: &[&str]) -> Result<EvalConfig> {
        let cli = crate::cli::Cli::try_parse_from([&["losslab", "eval"], args].concat()).unwrap();
        let crate::cli::Command::Eval(a) = cli.command else { unreachable!() };
        EvalConfig::from_args(&a)
    }

    #[test]
    fn raw_flags_are_validated() {
        let c = config(&["mse_loss", "-t", "input=a=b.npy", "--option", "beta = 0.5", "--reduction", "sum"]).unwrap();
        assert_eq!(c.tensors, vec![("input".to_string(), PathBuf::from("a=b.npy"))]);
        assert_eq!(c.options["beta"].to_string(), "0.5");
        assert_eq!(c.reduction, Some(Reduction::Sum));
        let e = |a: &[&str]| format!("{:#}", config(a).unwrap_err());
        assert_eq!(e(&["x", "--tensor", "input"]), "--tensor `input`: expected NAME=FILE.npy (for example input=logits.npy)");
        assert_eq!(e(&["x", "--tensor", "=a.npy"]), "--tensor `=a.npy`: expected NAME=FILE.npy (for example input=logits.npy)");
        assert_eq!(e(&["x", "-t", "a=1.npy", "-t", "a=2.npy"]), "--tensor: `a` is given twice");
        assert_eq!(e(&["x", "--option", "beta"]), "--option `beta`: expected KEY=VALUE (for example label_smoothing=0.1)");
        // (`abc` would parse, as a name; the loss then rejects it for a number option)
        assert!(e(&["x", "--option", "beta=1,5"]).starts_with("--option beta=1,5: cannot parse `1,5`"));
        assert_eq!(e(&["x", "-O", "a=1", "-O", "a=2"]), "--option: `a` is given twice");
        assert_eq!(e(&["x", "--reduction", "avg"]), "--reduction: unknown reduction `avg`: expected one of none, mean, sum, batchmean");
    }
}

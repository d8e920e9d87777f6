//! `losslab eval`: evaluate a loss and its gradients on `.npy`, `.npz` and
//! `.safetensors` files.

use losslab_registry::{resolve, EvalRequest, Evaluation, OptionValue};
use crate::cli::json;
use crate::safetensors_file;
use crate::tensor_file::{self, Format, TensorSource};
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
strings \"nan\", \"inf\", \"-inf\"), grads (the files written) with --grad-dir, and
outputs (the loss's other outputs, such as linear_cross_entropy's z_loss) where it has them.

Tensors are read from .npy files, .npz archives and .safetensors files, by the
file's extension (any other extension is read as .npy):
  --tensor input=logits.npy                   a .npy file
  --tensor target=batch.npz:labels            the array `labels` (member labels.npy) of an archive
  --tensor input=model_out.safetensors:logits the tensor `logits` of a .safetensors file
A source is split at its last `:` only when the part before ends in .npz or
.safetensors; any other path is taken whole, colons included. Without :NAME, a
.npz or .safetensors file must hold exactly one tensor. Data types: float16,
float32, float64, int32, int64 in .npy/.npz (little- or big-endian); F32, F64,
F16, BF16, I32, I64 in .safetensors. float16 and bfloat16 are read as float32,
exactly (every 16-bit float value is a float32), so they are computed in
float32 and results and gradients are written as float32; int32 labels are read
as int64. The computation runs in the dtype of the floating-point tensors.
.safetensors tensors of F32, F64 and I64 are read in place (no copy) when their
bytes are aligned in the file, copied otherwise. A malformed, truncated or
lying file is an error naming the file and what is wrong.

--grad-output takes a source as --tensor does. --out writes a .safetensors
file (one tensor named `loss`) when its name ends in .safetensors, a .npy file
otherwise. --grad-dir writes DIR/NAME.npy per tensor, or with
--grad-format safetensors one file DIR/grads.safetensors holding every
gradient under its tensor's name. Every file is written to a temporary file
and renamed into place once all are written: on any error, no output is left.

Examples:
  losslab eval cross_entropy --tensor input=examples/logits.npy --tensor target=examples/labels.npy
  losslab eval torch:cross_entropy --tensor input=examples/logits.npy --tensor target=examples/labels.npy \\
      --option label_smoothing=0.1 --reduction none --grad-dir grads/
  losslab eval tf:softmax_cross_entropy_with_logits --tensor labels=examples/probs.npy \\
      --tensor logits=examples/logits.npy --reduction mean
  losslab eval cross_entropy --tensor input=model_out.safetensors:logits --tensor target=batch.npz:labels \\
      --out loss.safetensors --grad-dir grads/ --grad-format safetensors";

/// The flags of `losslab eval`, as given.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct EvalArgs {
    /// The loss: framework:name (torch:cross_entropy) or a bare name, looked up
    /// in the order torch, torchvision, torchaudio, tf, keras, optax, scipy, trl, open_clip, pml, diffusers, losslab
    /// (`losslab list` shows them all).
    #[arg(value_name = "LOSS")]
    pub loss: String,

    /// A tensor argument, by the reference's name (repeat for each).
    /// FILE is a .npy file, FILE.npz:ARRAY or FILE.safetensors:TENSOR (see below).
    #[arg(long = "tensor", short = 't', value_name = "NAME=FILE")]
    pub tensors: Vec<String>,

    /// An option, by the reference's name: a number, true/false (True/False), or
    /// None/null (repeat for each).
    #[arg(long = "option", short = 'O', value_name = "KEY=VALUE")]
    pub options: Vec<String>,

    /// The reduction [default: the loss's own: mean for PyTorch's losses, none
    /// (the function's own output) for TensorFlow's, SciPy's and losslab's].
    #[arg(long, value_name = "none|mean|sum|batchmean")]
    pub reduction: Option<String>,

    /// Write the result to this .npy file, or .safetensors file (one tensor
    /// named `loss`), by the extension (in the computation's dtype).
    #[arg(long, value_name = "FILE.npy|FILE.safetensors")]
    pub out: Option<PathBuf>,

    /// Write the gradient of every differentiable float tensor to DIR/NAME.npy,
    /// or to DIR/grads.safetensors with --grad-format safetensors (DIR is
    /// created if missing).
    #[arg(long, value_name = "DIR")]
    pub grad_dir: Option<PathBuf>,

    /// The format of the --grad-dir files: npy (one DIR/NAME.npy per
    /// gradient) or safetensors (one DIR/grads.safetensors, a tensor per name).
    #[arg(long, value_name = "npy|safetensors", default_value = "npy", requires = "grad_dir")]
    pub grad_format: String,

    /// The upstream gradient (the result's shape): the gradients written are
    /// those of Σ grad_output · result [default: ones].
    #[arg(long, value_name = "FILE", requires = "grad_dir")]
    pub grad_output: Option<String>,
}

/// `losslab eval`'s flags, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalConfig {
    /// The loss's name as given.
    pub loss: String,
    /// Tensor sources by argument name, in the order given.
    pub tensors: Vec<(String, TensorSource)>,
    /// Options by name.
    pub options: BTreeMap<String, OptionValue>,
    /// The reduction asked for.
    pub reduction: Option<Reduction>,
    /// Where to write the result.
    pub out: Option<PathBuf>,
    /// Where to write the gradients.
    pub grad_dir: Option<PathBuf>,
    /// Whether the gradients go to one `grads.safetensors` (else one `.npy` each).
    pub grad_safetensors: bool,
    /// The upstream gradient's source.
    pub grad_output: Option<TensorSource>,
}

/// The file `--grad-format safetensors` writes in the `--grad-dir`.
pub const GRADS_SAFETENSORS: &str = "grads.safetensors";

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
        let mut tensors: Vec<(String, TensorSource)> = Vec::new();
        for raw in &args.tensors {
            let Some((name, file)) = raw.split_once('=').filter(|(n, f)| !n.trim().is_empty() && !f.is_empty()) else {
                bail!("--tensor `{raw}`: expected NAME=FILE (for example input=logits.npy or input=out.safetensors:logits)");
            };
            let name = name.trim();
            if tensors.iter().any(|(n, _)| n == name) {
                bail!("--tensor: `{name}` is given twice");
            }
            tensors.push((name.to_string(), TensorSource::parse(file)));
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
        let grad_safetensors = match args.grad_format.as_str() {
            "npy" => false,
            "safetensors" => true,
            other => bail!("--grad-format: unknown format `{other}`: expected npy or safetensors"),
        };
        if let Some(out) = &args.out {
            if Format::of(out) == Format::Npz {
                bail!("--out `{}`: losslab writes .npy and .safetensors files, not .npz archives", out.display());
            }
        }
        Ok(EvalConfig {
            loss: args.loss.clone(),
            tensors,
            options,
            reduction,
            out: args.out.clone(),
            grad_dir: args.grad_dir.clone(),
            grad_safetensors,
            grad_output: args.grad_output.as_deref().map(TensorSource::parse),
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
    /// The loss's other outputs, by name (`linear_cross_entropy`'s `z_loss`,
    /// and `lse`, `entropy`, `predicted` when asked for): numbers, nested
    /// arrays, or null when too large.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, serde_json::Value>,
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

    // An unknown name is reported before any file is read.
    for (name, _) in &config.tensors {
        spec.check_tensor_name(name)?;
    }
    // Each .safetensors file is read once, into memory; its tensors are then
    // lent to the evaluation in place where their bytes allow (see
    // `safetensors_file`).
    let mut contents: BTreeMap<&Path, Vec<u8>> = BTreeMap::new();
    for (name, source) in &config.tensors {
        if source.format() == Format::Safetensors && !contents.contains_key(source.path.as_path()) {
            let bytes = safetensors_file::read_bytes(&source.path).with_context(|| format!("--tensor {name}={source}"))?;
            contents.insert(source.path.as_path(), bytes);
        }
    }
    let mut request = EvalRequest { options: config.options.clone(), reduction: config.reduction, ..EvalRequest::default() };
    for (name, source) in &config.tensors {
        let bytes = contents.get(source.path.as_path()).map_or(&[][..], Vec::as_slice);
        let t = source.read_arg(bytes, &format!("--tensor {name}={source}"))?;
        request.tensors.insert(name.clone(), t);
    }
    if let Some(source) = &config.grad_output {
        request.grad_output = Some(source.read(&format!("--grad-output {source}"))?.into());
    }
    request.want_grads = config.grad_dir.is_some();
    let evaluation = spec.evaluate(request)?;

    let (grad_files, out_file) = write_outputs(&config, &evaluation)?;
    let value = json::tensor_value(&evaluation.value);
    let value_note = value.is_none().then(|| {
        format!(
            "the result has {} elements, more than {} are not printed: use --out FILE.npy (or FILE.safetensors) to get them",
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
        outputs: evaluation.outputs.iter().map(|(k, t)| (k.clone(), json::tensor_value(t).unwrap_or(serde_json::Value::Null))).collect(),
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
        staged.push(("--out", tensor_file::stage(path, &[(safetensors_file::RESULT_NAME, &e.value)]).context("--out")?));
        out_file = Some(path.display().to_string());
    }
    let mut grad_files = None;
    if let Some(dir) = &config.grad_dir {
        if dir.exists() && !dir.is_dir() {
            bail!("--grad-dir `{}`: expected a directory, found a file", dir.display());
        }
        create_dir(dir, created_dirs).with_context(|| format!("--grad-dir: cannot create the directory `{}`", dir.display()))?;
        let mut files = BTreeMap::new();
        if config.grad_safetensors {
            let path = dir.join(GRADS_SAFETENSORS);
            let grads: Vec<(&str, &losslab_registry::Tensor)> = e.grads.iter().map(|(n, g)| (n.as_str(), g)).collect();
            staged.push(("--grad-dir", tensor_file::stage(&path, &grads).context("--grad-dir")?));
            for name in e.grads.keys() {
                files.insert(name.clone(), format!("{}:{name}", path.display()));
            }
        } else {
            for (name, g) in &e.grads {
                let path = dir.join(format!("{name}.npy"));
                staged.push(("--grad-dir", tensor_file::stage(&path, &[(name.as_str(), g)]).context("--grad-dir")?));
                files.insert(name.clone(), path.display().to_string());
            }
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
        assert_eq!(c.tensors, vec![("input".to_string(), TensorSource::parse("a=b.npy"))]);
        assert_eq!(c.tensors[0].1.path, PathBuf::from("a=b.npy"));
        assert_eq!(c.options["beta"].to_string(), "0.5");
        assert_eq!(c.reduction, Some(Reduction::Sum));
        let c = config(&["mse_loss", "-t", "input=m.safetensors:logits", "-t", "target=b.NPZ:y", "-t", "weight=t:1.npy"]).unwrap();
        let got: Vec<(&str, Option<&str>)> = c.tensors.iter().map(|(_, s)| (s.path.to_str().unwrap(), s.name.as_deref())).collect();
        assert_eq!(got, vec![("m.safetensors", Some("logits")), ("b.NPZ", Some("y")), ("t:1.npy", None)]);
        let e = |a: &[&str]| format!("{:#}", config(a).unwrap_err());
        assert_eq!(
            e(&["x", "--tensor", "input"]),
            "--tensor `input`: expected NAME=FILE (for example input=logits.npy or input=out.safetensors:logits)"
        );
        assert_eq!(
            e(&["x", "--tensor", "=a.npy"]),
            "--tensor `=a.npy`: expected NAME=FILE (for example input=logits.npy or input=out.safetensors:logits)"
        );
        assert_eq!(e(&["x", "--out", "r.npz"]), "--out `r.npz`: losslab writes .npy and .safetensors files, not .npz archives");
        assert_eq!(
            e(&["x", "--grad-dir", "g", "--grad-format", "pt"]),
            "--grad-format: unknown format `pt`: expected npy or safetensors"
        );
        assert_eq!(e(&["x", "-t", "a=1.npy", "-t", "a=2.npy"]), "--tensor: `a` is given twice");
        assert_eq!(e(&["x", "--option", "beta"]), "--option `beta`: expected KEY=VALUE (for example label_smoothing=0.1)");
        // (`abc` would parse, as a name; the loss then rejects it for a number option)
        assert!(e(&["x", "--option", "beta=1,5"]).starts_with("--option beta=1,5: cannot parse `1,5`"));
        assert_eq!(e(&["x", "-O", "a=1", "-O", "a=2"]), "--option: `a` is given twice");
        assert_eq!(e(&["x", "--reduction", "avg"]), "--reduction: unknown reduction `avg`: expected one of none, mean, sum, batchmean");
    }
}

//! The command line: flags as clap parses them, validated into a
//! configuration, then run.
//!
//! Each subcommand has its module: raw flags (`*Args`, what clap parses), and a
//! `run` that validates them and does the work, writing to the given output.

pub mod bench;
pub mod bench_lm;
pub mod eval;
pub mod explain;
pub mod info;
pub mod json;
pub mod list;
pub mod plot;
pub mod report;
pub mod serve;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::io::Write;
use std::process::ExitCode;

/// `losslab`: the loss functions of deep learning, exact and stable, on `.npy` files.
#[derive(Debug, Parser)]
#[command(name = "losslab", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate a loss (and its gradients) on .npy, .npz or .safetensors files; prints one JSON object.
    Eval(eval::EvalArgs),
    /// List every loss `eval` knows, with its tensors, options and defaults.
    List(list::ListArgs),
    /// Self-information, entropy, cross entropy, KL and JS of distributions (the article's example by default).
    Info(info::InfoArgs),
    /// Explain one of the article's questions in plain text, with numbers computed live.
    Explain(explain::ExplainArgs),
    /// Plot losses and their gradients against the residual, margin or probability (SVG or PNG).
    Plot(plot::PlotArgs),
    /// Write one HTML page answering the article's six questions, with experiments run now.
    Report(report::ReportArgs),
    /// Time any loss (forward, forward + backward, peak memory) beside the machine's measured limits; --fused: the fused kernels.
    Bench(bench::BenchArgs),
    /// Serve the lab's page to play with (and its JSON API, POST /api/eval) on 127.0.0.1.
    Serve(serve::ServeArgs),
}

/// Runs a parsed command line, writing its output to `out`.
///
/// # Errors
/// Whatever the subcommand reports; the binary prints it as `error: {:#}`.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<ExitCode> {
    match cli.command {
        Command::Eval(args) => eval::run(&args, out),
        Command::List(args) => list::run(&args, out),
        Command::Info(args) => info::run(&args, out),
        Command::Explain(args) => explain::run(&args, out),
        Command::Plot(args) => plot::run(&args, out),
        Command::Report(args) => report::run(&args, out),
        Command::Bench(args) => bench::run(&args, out),
        Command::Serve(args) => serve::run(&args, out),
    }
}

/// Whether `err` comes from writing to a closed pipe (`losslab list | head`),
/// which is not an error for a command-line tool.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

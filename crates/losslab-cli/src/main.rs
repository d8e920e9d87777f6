//! `losslab`: evaluate losses on `.npy` files, with the references' own names.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(err) if losslab_cli::cli::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = losslab_cli::cli::Cli::parse();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    losslab_cli::cli::run(cli, &mut out)
}

//! `losslab`: evaluate losses on `.npy` files, with the references' own names.

use clap::Parser;
use std::process::ExitCode;

/// Large outputs (the gradients a forward + backward allocates per call) on
/// huge pages: a fraction of the page faults of 4 KiB pages.
#[global_allocator]
static GLOBAL: losslab::alloc::HugePages = losslab::alloc::HugePages;

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

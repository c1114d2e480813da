//! `strata`: product-analytics events in, user segments out.
//!
//! This binary is glue: [`args`] holds the clap types, each subcommand is a function
//! in [`commands`], and every library error is turned into one message on stderr and
//! an exit code here (0 ok, 2 bad usage or bad input, 1 internal failure).

mod args;
mod commands;

use clap::Parser;
use std::process::ExitCode;

/// mimalloc instead of the system allocator: the decoder allocates and frees column
/// buffers of about a megabyte per 32,768-row batch, and glibc hands those back to the
/// kernel and faults them in again (page faults and page clearing were 3% of the
/// feature scan's profile). Measured in docs/performance.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A failure, sorted by whose it is.
#[derive(Debug)]
pub enum Failure {
    /// Bad usage or bad input: exit 2.
    Input(String),
    /// Our fault or the machine's: exit 1.
    Internal(String),
}

impl From<strata_io::IoError> for Failure {
    fn from(e: strata_io::IoError) -> Self {
        if e.is_bad_input() {
            Failure::Input(e.to_string())
        } else {
            Failure::Internal(e.to_string())
        }
    }
}

impl From<strata_features::EngineError> for Failure {
    fn from(e: strata_features::EngineError) -> Self {
        match e {
            strata_features::EngineError::Io(io) => (*io).into(),
            other => Failure::Input(other.to_string()),
        }
    }
}

impl From<strata_core::ConfigError> for Failure {
    fn from(e: strata_core::ConfigError) -> Self {
        Failure::Input(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Input(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Internal(msg)) => {
            eprintln!("internal error: {msg}");
            ExitCode::from(1)
        }
    }
}

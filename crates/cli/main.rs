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
/// kernel and faults them in again: `strata features` on the 50,000-user benchmark
/// went from 1.07-1.12 s to 0.82-0.84 s. Measured in docs/performance.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns transparent huge pages off for this process (Linux; set `STRATA_THP=1` to
/// keep them). With THP "always", every fresh 2 MiB of the heap is zeroed whole on first
/// touch and again after the allocator returns it: 18 weekly snapshots of 50,000 users
/// spent 5.6-6.9 s in the kernel (8.9-9.7 s wall) with them and 1.5-2.1 s (5.9-6.6 s
/// wall) without. `strata features` alone does slightly better with them most of the
/// time (0.09-0.12 s of system time against 0.22-0.27 s) but spent 0.73-0.94 s in about
/// one run in three; without them it is steady. Measured in docs/performance.md.
fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("STRATA_THP").is_none() {
        // Best effort: a kernel without the setting runs as before.
        let _ = nix::sys::prctl::set_thp_disable(true);
    }
}

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
    no_huge_pages();
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

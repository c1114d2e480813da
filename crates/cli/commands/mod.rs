//! One function per subcommand.

mod accounts;
mod demo;
mod discover;
mod features;
mod frame;
mod generate;
mod outcomes;
mod report;
mod rules;
mod run;
mod segment;
mod snapshots;

use crate::args::{Cli, Command};
use crate::Failure;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<(), Failure> {
    let quiet = cli.quiet;
    match cli.command {
        Command::Demo(a) => demo::run(a, quiet),
        Command::Generate(a) => generate::run(a, quiet),
        Command::Features(a) => features::run(a, quiet).map(|_| ()),
        Command::Rules(c) => rules::run(c, quiet),
        Command::Discover(a) => discover::run(a, quiet),
        Command::Assign(a) => discover::assign(a, quiet),
        Command::Segment(a) => segment::run(a, quiet),
        Command::Report(a) => report::run(a, quiet).map(|_| ()),
        Command::Run(a) => run::run(a, quiet).map(|_| ()),
        Command::Snapshots(a) => snapshots::run(a, quiet),
        Command::Outcomes(a) => outcomes::run(a, quiet),
    }
}

use crate::args::GenerateArgs;
use crate::Failure;
use strata_gen::{generate, GenError, GenParams};

pub fn run(a: GenerateArgs, quiet: bool) -> Result<(), Failure> {
    std::fs::create_dir_all(&a.out)
        .map_err(|e| Failure::Input(format!("cannot create output folder {}: {e}", a.out.display())))?;
    let s = generate(GenParams { users: a.users, days: a.days, seed: a.seed }, &a.out).map_err(|e| match e {
        GenError::Params(m) => Failure::Input(m),
        other => Failure::Internal(other.to_string()),
    })?;
    if !quiet {
        eprintln!(
            "wrote {} users and {} events to {} (events.parquet, users.parquet, personas.parquet)",
            s.users,
            s.events,
            a.out.display()
        );
    }
    Ok(())
}

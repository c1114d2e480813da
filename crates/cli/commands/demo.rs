use crate::args::{Algo, DemoArgs, InputArgs, RunArgs};
use crate::Failure;
use strata_gen::{generate, GenParams};

pub fn run(a: DemoArgs, quiet: bool) -> Result<(), Failure> {
    std::fs::create_dir_all(&a.out)
        .map_err(|e| Failure::Input(format!("cannot create output folder {}: {e}", a.out.display())))?;
    let data = a.out.join("data");
    std::fs::create_dir_all(&data).map_err(|e| Failure::Internal(format!("cannot create {}: {e}", data.display())))?;
    let started = std::time::Instant::now();
    let s = generate(GenParams { users: a.users, days: a.days, seed: a.seed }, &data)
        .map_err(|e| Failure::Internal(e.to_string()))?;
    if !quiet {
        eprintln!("sample: {} users, {} events in {}", s.users, s.events, data.display());
    }
    // The default rules, written out to edit, then the whole pipeline on the sample.
    let rules = a.out.join("strata.rules");
    strata_io::write_atomic(&rules, |f| {
        use std::io::Write;
        f.write_all(strata_rules::DEFAULT_RULES.as_bytes()).map_err(|e| e.to_string())
    })?;
    let path = |f: &str| data.join(f).to_string_lossy().into_owned();
    let out = super::run::run(
        RunArgs {
            input: InputArgs::plain(Some(path("events.parquet")), Some(path("users.parquet")), None),
            rules: Some(rules.clone()),
            algo: Algo::Kmeans,
            k: "auto".into(),
            k_min: 4,
            k_max: 12,
            eps: "auto".into(),
            min_samples: 10,
            seed: a.seed,
            personas: Some(data.join("personas.parquet")),
            out: a.out.clone(),
        },
        quiet,
    )?;
    // The summary is the demo's point: print it even with --quiet.
    println!(
        "demo done in {:.1} s: {} users, report in {}",
        started.elapsed().as_secs_f64(),
        out.report.users,
        out.report_dir.join("report.html").display()
    );
    for (i, h) in out.report.headlines.iter().enumerate() {
        println!("  {}. {h}", i + 1);
    }
    Ok(())
}

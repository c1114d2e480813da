use crate::args::{DemoArgs, FeaturesArgs, InputArgs};
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
    let features = a.out.join("features.parquet");
    // The default rules, written out to edit; the features carry their aggregates.
    let rules = a.out.join("strata.rules");
    strata_io::write_atomic(&rules, |f| {
        use std::io::Write;
        f.write_all(strata_rules::DEFAULT_RULES.as_bytes()).map_err(|e| e.to_string())
    })?;
    let path = |f: &str| data.join(f).to_string_lossy().into_owned();
    let input = |events: Option<String>| InputArgs {
        events,
        users: Some(path("users.parquet")),
        as_of: None,
        config: None,
        col_user_id: None,
        col_timestamp: None,
        col_event: None,
    };
    let out = super::features::run(
        FeaturesArgs { input: input(Some(path("events.parquet"))), rules: Some(rules.clone()), out: features.clone() },
        quiet,
    )?;
    // The default rules on the feature table just written: segments and scores.
    let segments = a.out.join("segments.parquet");
    super::segment::run(
        crate::args::SegmentArgs {
            seg: crate::args::SegmentSource {
                input: input(None),
                features: Some(features.clone()),
                rules: Some(rules.clone()),
            },
            out: segments.clone(),
        },
        quiet,
    )
    .map(|_| ())?;
    if !quiet {
        eprintln!(
            "demo done in {:.1} s: features for {} users in {}, segments and scores in {} (rules: {})",
            started.elapsed().as_secs_f64(),
            out.table.len(),
            features.display(),
            segments.display(),
            rules.display()
        );
    }
    Ok(())
}

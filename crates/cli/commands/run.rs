//! `strata run`: features (with the rules' aggregates, one pass over the events),
//! segments and scores from that table, clusters, and the report, all under one folder.

use crate::args::{
    CovarianceArg, DiscoverArgs, FeaturesArgs, ReportArgs, RunArgs, ScaleArg, SegmentArgs, SegmentSource,
};
use crate::Failure;
use strata_report::Report;

/// What a run wrote, for the demo's summary.
#[derive(Debug)]
pub struct RunOutput {
    /// The report.
    pub report: Report,
    /// The report folder.
    pub report_dir: std::path::PathBuf,
}

/// Runs the whole pipeline.
pub fn run(a: RunArgs, quiet: bool) -> Result<RunOutput, Failure> {
    if a.input.events.is_none() {
        return Err(Failure::Input("strata run needs --events (a file, folder or glob of Parquet events)".into()));
    }
    std::fs::create_dir_all(&a.out)
        .map_err(|e| Failure::Input(format!("cannot create output folder {}: {e}", a.out.display())))?;
    let started = std::time::Instant::now();
    let features = a.out.join("features.parquet");
    let segments = a.out.join("segments.parquet");
    let clusters = a.out.join("clusters.parquet");
    let model = a.out.join("model.json");
    let report_dir = a.out.join("report");
    let step = |what: &str| {
        if !quiet {
            eprintln!("[{:>5.1} s] {what}", started.elapsed().as_secs_f64());
        }
    };
    // Without --rules, the built-in rules are written beside the outputs: the run
    // records what made its segments, and the feature pass computes their aggregates.
    let rules = match a.rules.clone() {
        Some(r) => r,
        None => {
            let r = a.out.join("strata.rules");
            strata_io::write_atomic(&r, |f| {
                use std::io::Write;
                f.write_all(strata_rules::DEFAULT_RULES.as_bytes()).map_err(|e| e.to_string())
            })?;
            r
        }
    };
    // 1. Features, with every aggregate the rules name, in one pass over the events.
    step("features");
    let users = a.input.users.clone();
    let config = a.input.config.clone();
    super::features::run(FeaturesArgs { input: a.input, rules: Some(rules.clone()), out: features.clone() }, quiet)?;
    // Account-level sales tiers when the data names accounts.
    let has_accounts = matches!(
        super::frame::Frame::open(&features)?.feature("account_id"),
        Some(strata_rules::Column::Str { codes, .. }) if codes.iter().any(|c| *c != u32::MAX)
    );
    // 2. Segments and scores from the feature table (no second pass over the events).
    step("segments and scores");
    super::segment::run(
        SegmentArgs {
            seg: SegmentSource {
                input: crate::args::InputArgs::plain(None, users, config.clone()),
                features: Some(features.clone()),
                rules: Some(rules.clone()),
            },
            accounts: has_accounts.then(|| a.out.join("accounts.parquet")),
            out: segments.clone(),
        },
        quiet,
    )?;
    // 3. Clusters.
    step("clusters");
    super::discover::run(
        DiscoverArgs {
            features: features.clone(),
            algo: a.algo,
            k: a.k,
            k_min: a.k_min,
            k_max: a.k_max,
            eps: a.eps,
            min_samples: a.min_samples,
            columns: None,
            scale: ScaleArg::Standard,
            pca: None,
            max_iter: 300,
            tol: 1e-4,
            n_init: 3,
            seed: a.seed,
            sample: 4000,
            gmm_sample: 20_000,
            covariance: CovarianceArg::Full,
            init_centers: None,
            model: Some(model),
            out: clusters.clone(),
        },
        quiet,
    )?;
    // 4. The report.
    step("report");
    let report = super::report::run(
        ReportArgs {
            features,
            segments,
            clusters,
            rules: Some(rules),
            personas: a.personas,
            config,
            outcomes: None,
            transitions: None,
            seed: a.seed,
            out: report_dir.clone(),
        },
        quiet,
    )?;
    step("done");
    Ok(RunOutput { report, report_dir })
}

//! Command-line arguments, as close to what the user typed as possible.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// strata turns product-analytics events into user segments.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about, propagate_version = true)]
pub struct Cli {
    /// No progress bar and no summary on stderr (errors are still printed).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make the built-in sample data set and run the pipeline on it.
    Demo(DemoArgs),
    /// Write synthetic PLG events with planted personas.
    Generate(GenerateArgs),
    /// Compute the per-user feature table.
    Features(FeaturesArgs),
    /// Evaluate rule segments and scores for every user, computing the aggregates the
    /// rules name in the same pass over the events.
    Segment(SegmentArgs),
    /// Discover user groups in the feature table with k-means or DBSCAN.
    Discover(DiscoverArgs),
    /// Label a (later) feature table with a model saved by `discover --model`.
    Assign(AssignArgs),
    /// How discovered clusters map onto the defined segments and scores: report.md,
    /// report.html, report.json and misfiled.parquet in --out.
    Report(ReportArgs),
    /// Features, segments, clusters and the report in one go, reading the events once.
    Run(RunArgs),
    /// Segments at several as-of times in one pass over the events; transitions between
    /// consecutive snapshots and the users entering and leaving each segment.
    Snapshots(SnapshotsArgs),
    /// What happened after a snapshot: retention, paid conversion, revenue and an LTV
    /// proxy per segment, and backtests of the scores (AUC, lift by tier).
    Outcomes(OutcomesArgs),
    /// Work with rule files (segments written like the seed's section 6.1).
    #[command(subcommand)]
    Rules(RulesCommand),
}

/// `strata rules ...`.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Write the default rules (the whole seed playbook) to a file to edit.
    Init {
        /// Where to write them; an existing file is never overwritten.
        #[arg(long, default_value = "strata.rules")]
        out: PathBuf,
    },
    /// Parse a rule file, resolve every name, list every problem and the windowed
    /// aggregates the rules need from the event engine.
    Check {
        /// The rule file (default: the built-in default rules).
        file: Option<PathBuf>,
    },
    /// For one user: each score's component points and tier, and each segment's
    /// conditions with the values that decided them.
    Explain {
        /// The user id.
        #[arg(long)]
        user: String,
        #[command(flatten)]
        seg: Box<SegmentSource>,
    },
}

/// `strata demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder for the sample data and every output (created if missing).
    #[arg(long, default_value = "strata-demo")]
    pub out: PathBuf,
    /// Users in the sample.
    #[arg(long, default_value_t = 20_000)]
    pub users: usize,
    /// Days of events in the sample.
    #[arg(long, default_value_t = 120)]
    pub days: u32,
    /// Seed of the sample.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

/// `strata generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Number of users.
    #[arg(long)]
    pub users: usize,
    /// Days of events, ending 2026-11-30T00:00:00Z.
    #[arg(long, default_value_t = 120)]
    pub days: u32,
    /// Seed of every random choice; the same seed gives byte-identical files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output folder (created if missing): events.parquet, users.parquet, personas.parquet.
    #[arg(long)]
    pub out: PathBuf,
}

/// Where the events and users come from, and how to read them.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// Events: a Parquet file, a folder of them (recursive, hive-style folders allowed) or a glob.
    #[arg(long)]
    pub events: Option<String>,
    /// Users table (Parquet file, folder or glob): signup_at, plan, account_id, ...
    #[arg(long)]
    pub users: Option<String>,
    /// The as-of time T, RFC 3339 (default: the latest event timestamp).
    #[arg(long)]
    pub as_of: Option<String>,
    /// Config file (strata.toml): [columns], [signals], [features], [activation].
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Name of the user id column in the data (overrides [columns] user_id).
    #[arg(long)]
    pub col_user_id: Option<String>,
    /// Name of the timestamp column in the data (overrides [columns] timestamp).
    #[arg(long)]
    pub col_timestamp: Option<String>,
    /// Name of the event name column in the data (overrides [columns] event).
    #[arg(long)]
    pub col_event: Option<String>,
}

/// `strata features`.
impl InputArgs {
    /// Events, users and config, every other input at its default.
    pub fn plain(events: Option<String>, users: Option<String>, config: Option<PathBuf>) -> InputArgs {
        InputArgs { events, users, as_of: None, config, col_user_id: None, col_timestamp: None, col_event: None }
    }
}

#[derive(Debug, Args)]
pub struct FeaturesArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Also compute the windowed aggregates this rule file names (columns named like
    /// `events.pricing_page_view(last_14_days)`), so `segment --features` can use them.
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// Output Parquet file; the data-quality summary goes beside it as <name>.quality.json.
    #[arg(long)]
    pub out: PathBuf,
}

/// Where `segment` and `rules explain` get their values and rules.
#[derive(Debug, Args)]
pub struct SegmentSource {
    #[command(flatten)]
    pub input: InputArgs,
    /// A feature table written by `strata features`, instead of --events.
    #[arg(long, conflicts_with = "events")]
    pub features: Option<PathBuf>,
    /// The rule file (see docs/rules.md); default: the built-in default rules
    /// (`strata rules init` writes them out).
    #[arg(long)]
    pub rules: Option<PathBuf>,
}

/// `strata segment`.
#[derive(Debug, Args)]
pub struct SegmentArgs {
    #[command(flatten)]
    pub seg: SegmentSource,
    /// Also write sales prioritization at account level (seed 7.2) to this Parquet file.
    #[arg(long)]
    pub accounts: Option<PathBuf>,
    /// Output Parquet file: user_id, one string column per family, one Boolean column
    /// per segment outside a family, and per score its total, tier and component points.
    #[arg(long)]
    pub out: PathBuf,
}

/// Clustering algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Algo {
    /// k-means (Lloyd, greedy k-means++ seeding).
    Kmeans,
    /// DBSCAN (exact; noise is a null cluster).
    Dbscan,
    /// Gaussian mixture (full covariances, EM on a seeded sample; --k auto picks the lowest BIC).
    Gmm,
}

/// Covariances of a Gaussian mixture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CovarianceArg {
    /// A full covariance matrix per component.
    Full,
    /// Per-feature variances only.
    Diag,
}

/// Scaling after imputation and log1p.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScaleArg {
    /// (x - mean) / standard deviation.
    Standard,
    /// (x - median) / interquartile range.
    Robust,
    /// No scaling.
    None,
}

/// `strata discover`.
#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// A feature table written by `strata features`.
    #[arg(long)]
    pub features: PathBuf,
    /// The algorithm.
    #[arg(long, value_enum, default_value = "kmeans")]
    pub algo: Algo,
    /// Clusters for k-means or components for gmm: a number, or `auto` (k-means: the best
    /// silhouette over --k-min..=--k-max; gmm: the lowest BIC).
    #[arg(long, default_value = "auto", allow_hyphen_values = true)]
    pub k: String,
    /// Smallest k tried by --k auto.
    #[arg(long, default_value_t = 2)]
    pub k_min: usize,
    /// Largest k tried by --k auto.
    #[arg(long, default_value_t = 12)]
    pub k_max: usize,
    /// DBSCAN radius in the scaled space: a number, or `auto` (the knee of the sorted k-distances).
    #[arg(long, default_value = "auto", allow_hyphen_values = true)]
    pub eps: String,
    /// DBSCAN: points within eps (itself included) that make a core point.
    #[arg(long, default_value_t = 10)]
    pub min_samples: usize,
    /// Columns to cluster on, comma-separated (default: every behavioural numeric column).
    #[arg(long, value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
    /// Scaling.
    #[arg(long, value_enum, default_value = "standard")]
    pub scale: ScaleArg,
    /// Project onto this many principal components first.
    #[arg(long)]
    pub pca: Option<usize>,
    /// k-means: Lloyd iterations per run, at most.
    #[arg(long, default_value_t = 300)]
    pub max_iter: usize,
    /// k-means: stop when the centres move less than this times the mean feature
    /// variance (squared), as scikit-learn's `tol`.
    #[arg(long, default_value_t = 1e-4)]
    pub tol: f64,
    /// k-means: restarts; the lowest inertia wins.
    #[arg(long, default_value_t = 3)]
    pub n_init: usize,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// gmm: full covariances, or diagonal ones (no correlations; much cheaper on many columns).
    #[arg(long, value_enum, default_value = "full")]
    pub covariance: CovarianceArg,
    /// gmm: rows EM is fitted on (a seeded sample when there are more users).
    #[arg(long, default_value_t = 20_000)]
    pub gmm_sample: usize,
    /// Users in the seeded sample for silhouette and stability.
    #[arg(long, default_value_t = 4000)]
    pub sample: usize,
    /// k-means: start from these centres (CSV, one row per cluster, in the transformed
    /// space) instead of k-means++, for comparisons with other tools.
    #[arg(long)]
    pub init_centers: Option<PathBuf>,
    /// Save the fitted model (JSON) for `strata assign`.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Output Parquet file: user_id, cluster (Int64; null = noise); profiles go beside
    /// it as <name>.profiles.json.
    #[arg(long)]
    pub out: PathBuf,
}

/// `strata assign`.
#[derive(Debug, Args)]
pub struct AssignArgs {
    /// A model saved by `strata discover --model`.
    #[arg(long)]
    pub model: PathBuf,
    /// The feature table to label.
    #[arg(long)]
    pub features: PathBuf,
    /// Output Parquet file: user_id, cluster.
    #[arg(long)]
    pub out: PathBuf,
}

/// `strata report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The feature table (`strata features`).
    #[arg(long)]
    pub features: PathBuf,
    /// The segments (`strata segment`).
    #[arg(long)]
    pub segments: PathBuf,
    /// The clusters (`strata discover`).
    #[arg(long)]
    pub clusters: PathBuf,
    /// The rules that made the segments (default: the built-in rules).
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// Planted personas (`strata generate`'s personas.parquet): adds how well clusters
    /// and segments recover them.
    #[arg(long)]
    pub personas: Option<PathBuf>,
    /// strata.toml: `[report] goal` and `questions`.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// outcomes.json from `strata outcomes`: fills the dashboard with measured retention,
    /// paid conversion and LTV.
    #[arg(long)]
    pub outcomes: Option<PathBuf>,
    /// transitions.parquet from `strata snapshots`: the latest movement between two
    /// snapshots, per family.
    #[arg(long)]
    pub transitions: Option<PathBuf>,
    /// Seed for the learned rules' training sample.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The folder to write the report into.
    #[arg(long)]
    pub out: PathBuf,
}

/// `strata run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Rule file (default: the built-in rules).
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// Clustering algorithm.
    #[arg(long, value_enum, default_value = "kmeans")]
    pub algo: Algo,
    /// Number of clusters, or `auto` (silhouette over --k-min..=--k-max).
    #[arg(long, default_value = "auto")]
    pub k: String,
    /// Smallest k tried by `--k auto` (4: seed section 10, "start with 4-6 segments").
    #[arg(long, default_value_t = 4)]
    pub k_min: usize,
    /// Largest k tried by `--k auto`.
    #[arg(long, default_value_t = 12)]
    pub k_max: usize,
    /// DBSCAN radius, or `auto`.
    #[arg(long, default_value = "auto")]
    pub eps: String,
    /// DBSCAN core-point neighbours.
    #[arg(long, default_value_t = 10)]
    pub min_samples: usize,
    /// Seed for every random choice.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Planted personas, for generated data.
    #[arg(long)]
    pub personas: Option<PathBuf>,
    /// The output folder.
    #[arg(long)]
    pub out: PathBuf,
}

/// `strata snapshots`.
#[derive(Debug, Args)]
pub struct SnapshotsArgs {
    /// Product events: a Parquet file, a folder or a glob.
    #[arg(long)]
    pub events: String,
    /// Users table (signup, plan, ...).
    #[arg(long)]
    pub users: Option<String>,
    /// strata.toml.
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    /// Rule file (default: the built-in rules).
    #[arg(long)]
    pub rules: Option<std::path::PathBuf>,
    /// A snapshot time (RFC 3339); repeat for each snapshot.
    #[arg(long = "as-of")]
    pub as_of: Vec<String>,
    /// Snapshots every interval (`7d`, `2w`, `12h`), counted back from --to.
    #[arg(long)]
    pub every: Option<String>,
    /// First snapshot no earlier than this (default: the first event).
    #[arg(long)]
    pub from: Option<String>,
    /// Last snapshot (default: the latest event).
    #[arg(long)]
    pub to: Option<String>,
    /// Days without activity after which a user counts as churned.
    #[arg(long, default_value_t = 30)]
    pub churn_days: u32,
    /// The output folder.
    #[arg(long)]
    pub out: std::path::PathBuf,
}

/// `strata outcomes`.
#[derive(Debug, Args)]
pub struct OutcomesArgs {
    /// Product events: a Parquet file, a folder or a glob.
    #[arg(long)]
    pub events: String,
    /// Users table.
    #[arg(long)]
    pub users: Option<String>,
    /// strata.toml.
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    /// Rule file (default: the built-in rules).
    #[arg(long)]
    pub rules: Option<std::path::PathBuf>,
    /// The snapshot time T (RFC 3339); the data must reach T + horizon.
    #[arg(long = "as-of")]
    pub as_of: String,
    /// The horizon H after T (`30d`, `4w`).
    #[arg(long, default_value = "30d")]
    pub horizon: String,
    /// The output folder.
    #[arg(long)]
    pub out: std::path::PathBuf,
}

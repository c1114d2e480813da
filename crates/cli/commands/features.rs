use crate::args::{FeaturesArgs, InputArgs};
use crate::Failure;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use strata_core::{AsOf, Config};
use strata_features::{Input, Output, Plan};
use strata_io::{
    check_output_path, discover, read_users, write_atomic, write_parquet_atomic, EventColumns, EventSource,
};

/// Resolves the config file plus `--col-*` flags.
pub fn load_config(a: &InputArgs) -> Result<Config, Failure> {
    let mut cfg = match &a.config {
        Some(p) => Config::from_file(p)?,
        None => Config::default(),
    };
    for (name, v) in [("user_id", &a.col_user_id), ("timestamp", &a.col_timestamp), ("event", &a.col_event)] {
        if let Some(v) = v {
            cfg.columns.set(name, v);
        }
    }
    Ok(cfg)
}

/// `<dir>/<stem>.quality.json` beside an output file.
pub fn quality_path(out: &Path) -> PathBuf {
    let stem = out.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "features".into());
    out.with_file_name(format!("{stem}.quality.json"))
}

/// What [`engine`] read and computed.
pub struct EngineRun {
    /// The engine's output.
    pub out: Output,
    /// The users table, if one was given.
    pub users: Option<strata_io::UsersTable>,
    /// The resolved config.
    pub config: Config,
}

/// Reads the inputs, runs the engine with `plan`, and returns its output; writes
/// nothing.
pub fn engine(a: &InputArgs, plan: &Plan, outputs: &[&Path], quiet: bool) -> Result<EngineRun, Failure> {
    let as_of = a
        .as_of
        .as_deref()
        .map(|s| AsOf::parse_rfc3339(s).map_err(|e| Failure::Input(format!("--as-of: {e}"))))
        .transpose()?;
    let pick = |source: &EventSource, users: Option<&strata_io::UsersTable>, cfg: &Config| {
        let input = Input { source, users, config: cfg, as_of, plan, progress: None };
        Ok(vec![strata_features::resolve_as_of(&input)?])
    };
    let (mut outs, users, config) = engine_many(a, plan, outputs, quiet, &pick)?;
    let out = outs.pop().ok_or_else(|| Failure::Internal("the engine returned no snapshot".into()))?;
    Ok(EngineRun { out, users, config })
}

/// Chooses the as-of times once the events are open.
pub type PickTimes<'a> =
    dyn Fn(&EventSource, Option<&strata_io::UsersTable>, &Config) -> Result<Vec<(AsOf, &'static str)>, Failure> + 'a;

/// Reads the inputs and runs the engine once for every as-of time `pick` chooses, in a
/// single pass over the events; writes nothing.
pub fn engine_many(
    a: &InputArgs,
    plan: &Plan,
    outputs: &[&Path],
    quiet: bool,
    pick: &PickTimes<'_>,
) -> Result<(Vec<Output>, Option<strata_io::UsersTable>, Config), Failure> {
    engine_each(a, plan, outputs, quiet, pick, &|out, _, _| out)
}

/// What [`engine_each`] does with each snapshot once it is finished.
/// It gets the users table's attributes (shared by every snapshot) and the config.
pub type EachSnapshot<'a, T> = dyn Fn(Output, &super::frame::Attributes<'_>, &Config) -> T + Sync + 'a;

/// [`engine_many`], handing each snapshot to `each` as soon as it is finished (on
/// several threads) and returning what `each` gives, in time order: a caller that
/// reduces a snapshot keeps only a few feature tables in memory at once.
pub fn engine_each<T: Send>(
    a: &InputArgs,
    plan: &Plan,
    outputs: &[&Path],
    quiet: bool,
    pick: &PickTimes<'_>,
    each: &EachSnapshot<'_, T>,
) -> Result<(Vec<T>, Option<strata_io::UsersTable>, Config), Failure> {
    let cfg = load_config(a)?;
    let Some(events) = a.events.as_deref() else {
        return Err(Failure::Input("--events is required: the product events (Parquet file, folder or glob)".into()));
    };
    let event_paths = discover(events)?;
    let users_paths = a.users.as_deref().map(discover).transpose()?.unwrap_or_default();
    let mut inputs = event_paths.clone();
    inputs.extend(users_paths);
    if let Some(c) = &a.config {
        inputs.push(c.clone());
    }
    for out in outputs {
        check_output_path(out, &inputs)?;
    }
    let source = EventSource::open(&event_paths, &EventColumns::from_map(&cfg.columns))?;
    let t0 = std::time::Instant::now();
    let users = a.users.as_deref().map(|u| read_users(u, &cfg.columns)).transpose()?;
    let trace = std::env::var_os("STRATA_TRACE").is_some();
    if trace {
        eprintln!("trace: users table {:.3} s", t0.elapsed().as_secs_f64());
    }
    let times = pick(&source, users.as_ref(), &cfg)?;
    let bar = if quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::with_draw_target(Some(source.total_rows()), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} reading events {bar:30} {human_pos}/{human_len} rows ({per_sec}, {eta})",
        ) {
            b.set_style(style);
        }
        b
    };
    let tick = |n: u64| bar.inc(n);
    let input =
        Input { source: &source, users: users.as_ref(), config: &cfg, as_of: None, plan, progress: Some(&tick) };
    let attrs = super::frame::Attributes::new(users.as_ref());
    let outs = strata_features::compute_each(input, &times, &|out| {
        if trace {
            let lines: Vec<String> = out
                .timings
                .iter()
                .map(|(phase, secs)| format!("trace: {} {phase} done at {secs:.3} s", out.as_of.to_rfc3339()))
                .collect();
            eprintln!("{}", lines.join("\n"));
        }
        each(out, &attrs, &cfg)
    })?;
    bar.finish_and_clear();
    Ok((outs, users, cfg))
}

/// Writes the feature table and its quality summary.
pub fn write_outputs(out: &Output, path: &Path) -> Result<(), Failure> {
    let batch = out.table.to_record_batch().map_err(|e| Failure::Internal(e.to_string()))?;
    write_parquet_atomic(path, &batch)?;
    let json = serde_json::to_string_pretty(&out.quality).map_err(|e| Failure::Internal(e.to_string()))?;
    write_atomic(&quality_path(path), |f| {
        use std::io::Write;
        f.write_all(json.as_bytes()).and_then(|_| f.write_all(b"\n")).map_err(|e| e.to_string())
    })?;
    Ok(())
}

pub fn run(a: FeaturesArgs, quiet: bool) -> Result<Output, Failure> {
    let qpath = quality_path(&a.out);
    let mut plan = Plan::new();
    // Each user's list of features is read only by `strata outcomes`.
    plan.skip_feature_sets();
    let extra = match &a.rules {
        Some(r) => {
            let (shown, program) = super::rules::load_program(Some(r))?;
            super::segment::plan_aggregates(&program, &mut plan, &shown)?
        }
        None => Default::default(),
    };
    let mut out = engine(&a.input, &plan, &[&a.out, &qpath], quiet)?.out;
    for (req, id) in extra {
        let name = req.name();
        if out.table.column(&name).is_none() {
            let values = out.aggs[id].iter().map(|v| Some(*v)).collect();
            out.table.columns.push((name, strata_features::Column::Float(values)));
        }
    }
    let t0 = std::time::Instant::now();
    write_outputs(&out, &a.out)?;
    if std::env::var_os("STRATA_TRACE").is_some() {
        eprintln!("trace: write {:.3} s", t0.elapsed().as_secs_f64());
    }
    if !quiet {
        eprintln!("{}", out.quality.brief());
        eprintln!(
            "wrote {} ({} users x {} columns) and {}",
            a.out.display(),
            out.table.len(),
            out.table.columns.len() + 1,
            qpath.display()
        );
    }
    Ok(out)
}

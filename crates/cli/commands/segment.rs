use super::frame::{build_table, Frame};
use crate::args::{SegmentArgs, SegmentSource};
use crate::Failure;
use arrow_array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use strata_features::{Agg, Plan};
use strata_io::write_parquet_atomic;
use strata_rules::{AggRequest, Operand, Outcome, Program, Table};

/// The engine aggregate for a rule's request.
pub fn to_agg(r: &AggRequest) -> Agg {
    match r {
        AggRequest::EventCount(n, d) => Agg::EventCount { name: n.clone(), days: *d },
        AggRequest::AllEvents(d) => Agg::EventCount { name: "*".into(), days: *d },
        AggRequest::SessionCount(d) => Agg::SessionCount { days: *d },
        AggRequest::AvgWeeklySessions(d) => Agg::AvgWeeklySessions { days: *d },
        AggRequest::DistinctFeatures(d) => Agg::DistinctFeatures { days: *d },
        AggRequest::ActiveDays(d) => Agg::ActiveDays { days: *d },
    }
}

pub use strata_rules::snake_case;

/// Adds the aggregates `program` needs to `plan`; returns aggregate -> plan index.
pub fn plan_aggregates(
    program: &Program,
    plan: &mut Plan,
    rules: &str,
) -> Result<BTreeMap<AggRequest, usize>, Failure> {
    let mut ids = BTreeMap::new();
    for op in &program.operands {
        if let Operand::Agg(r) = op {
            let id = plan.add(to_agg(r)).map_err(|e| Failure::Input(format!("{rules}: {e}")))?;
            ids.insert(r.clone(), id.0);
        }
    }
    Ok(ids)
}

/// What evaluating a rule program produced.
pub struct Evaluated {
    /// Where the values came from.
    pub frame: Frame,
    /// Every operand's values (score slots filled).
    pub table: Table,
    /// Scores and memberships.
    pub outcome: Outcome,
}

/// Gets every operand (from the events in one pass, or from a feature table) and runs
/// the program.
pub fn evaluate(
    program: &Program,
    a: &SegmentSource,
    rules: &str,
    outputs: &[&Path],
    quiet: bool,
) -> Result<Evaluated, Failure> {
    let (frame, users, cfg) = match (&a.features, &a.input.events) {
        (Some(_), Some(_)) => {
            return Err(Failure::Input("give either --features or --events, not both".into()));
        }
        (None, None) => {
            return Err(Failure::Input(
                "give --events (and --users) to compute everything, or --features FILE from `strata features`".into(),
            ))
        }
        (None, Some(_)) => {
            let mut plan = Plan::new();
            // Each user's list of features is read only by `strata outcomes`.
            plan.skip_feature_sets();
            let agg_ids = plan_aggregates(program, &mut plan, rules)?;
            let run = super::features::engine(&a.input, &plan, outputs, quiet)?;
            (Frame::Engine { out: Box::new(run.out), agg_ids }, run.users, run.config)
        }
        (Some(f), None) => {
            let cfg = super::features::load_config(&a.input)?;
            let mut inputs = vec![f.clone()];
            let users_paths = a.input.users.as_deref().map(strata_io::discover).transpose()?.unwrap_or_default();
            inputs.extend(users_paths);
            for out in outputs {
                strata_io::check_output_path(out, &inputs)?;
            }
            let users = a.input.users.as_deref().map(|u| strata_io::read_users(u, &cfg.columns)).transpose()?;
            (Frame::open(f)?, users, cfg)
        }
    };
    let mut table = build_table(program, &frame, users.as_ref(), &cfg, rules)?;
    let outcome = strata_rules::run(program, &mut table);
    Ok(Evaluated { frame, table, outcome })
}

/// The segments Parquet: user_id, family columns, flag columns, every score's total,
/// tier and component points.
pub fn segments_batch(program: &Program, frame: &Frame, outcome: &Outcome) -> Result<RecordBatch, Failure> {
    segments_batch_from(program, frame, outcome, outcome.scores.iter().cloned())
}

/// [`segments_batch`] with the scores given apart and owned, so that their columns
/// become Arrow arrays without a copy (`strata snapshots` drops them anyway; copying
/// the default rules' 35 score columns per snapshot was 30-40 ms of CPU over 18 weekly
/// snapshots of the 50,000-user benchmark: docs/performance.md).
pub fn segments_batch_from(
    program: &Program,
    frame: &Frame,
    outcome: &Outcome,
    scores: impl IntoIterator<Item = strata_rules::run::ScoreResult>,
) -> Result<RecordBatch, Failure> {
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    let (f, a) = frame.user_array()?;
    fields.push(f);
    arrays.push(a);
    for fam in &outcome.families {
        fields.push(Field::new(snake_case(&fam.name), DataType::Utf8, false));
        arrays.push(Arc::new(labels(
            fam.assigned.iter().map(|s| Some(s.map_or("Unclassified", |i| program.segments[i].name.as_str()))),
        )));
    }
    for (i, s) in program.segments.iter().enumerate() {
        if s.family.is_none() {
            fields.push(Field::new(snake_case(&s.name), DataType::Boolean, false));
            arrays.push(Arc::new(BooleanArray::from(outcome.members[i].clone())));
        }
    }
    for (sc, res) in program.scores.iter().zip(scores) {
        fields.push(Field::new(format!("{}_score", sc.name), DataType::Float64, false));
        arrays.push(Arc::new(Float64Array::from(res.total)));
        if !sc.tiers.is_empty() {
            fields.push(Field::new(format!("{}_tier", sc.name), DataType::Utf8, true));
            arrays.push(Arc::new(labels(res.tier.iter().map(|t| t.map(|i| sc.tiers[i].value.as_str())))));
        }
        for (c, pts) in sc.components.iter().zip(res.points) {
            fields.push(Field::new(format!("{}_{}_points", sc.name, snake_case(&c.name)), DataType::Float64, false));
            arrays.push(Arc::new(Float64Array::from(pts)));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for f in &fields {
        if !seen.insert(f.name().clone()) {
            return Err(Failure::Input(format!(
                "two outputs would both be named '{}'; rename a segment, family or score",
                f.name()
            )));
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| Failure::Internal(e.to_string()))
}

/// A column of labels (segment and tier names), its bytes sized before they are
/// written: grown by doubling, every family and tier column of a weekly snapshot was
/// copied about ten times over.
fn labels<'a>(values: impl ExactSizeIterator<Item = Option<&'a str>> + Clone) -> StringArray {
    let bytes = values.clone().map(|v| v.map_or(0, str::len)).sum();
    let mut b = arrow_array::builder::StringBuilder::with_capacity(values.len(), bytes);
    b.extend(values);
    b.finish()
}

/// `<dir>/<stem>.health.json` beside the segments file.
pub fn health_path(out: &Path) -> std::path::PathBuf {
    let stem = out.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "segments".into());
    out.with_file_name(format!("{stem}.health.json"))
}

pub fn run(a: SegmentArgs, quiet: bool) -> Result<(), Failure> {
    let (shown, program) = super::rules::load_program(a.seg.rules.as_deref())?;
    let hpath = health_path(&a.out);
    let t0 = std::time::Instant::now();
    let mut outputs: Vec<&std::path::Path> = vec![&a.out, &hpath];
    if let Some(p) = &a.accounts {
        outputs.push(p);
    }
    let Evaluated { frame, outcome, table } = evaluate(&program, &a.seg, &shown, &outputs, quiet)?;
    if std::env::var_os("STRATA_TRACE").is_some() {
        eprintln!("trace: inputs and rules {:.3} s", t0.elapsed().as_secs_f64());
    }
    let n = frame.rows();
    let health = strata_rules::health::health(&program, &outcome.members, n);
    let batch = segments_batch(&program, &frame, &outcome)?;
    let json = serde_json::to_string_pretty(&health).map_err(|e| Failure::Internal(e.to_string()))?;
    write_parquet_atomic(&a.out, &batch)?;
    if let Some(p) = &a.accounts {
        let plan = program.slot_of(&strata_rules::Operand::User("plan".into())).and_then(|s| table.cols.get(s));
        match super::accounts::accounts_batch(&program, &frame, &outcome, plan)? {
            Some(b) => {
                write_parquet_atomic(p, &b)?;
                if !quiet {
                    eprintln!("wrote {} ({} accounts)", p.display(), b.num_rows());
                }
            }
            None => {
                return Err(Failure::Input(format!(
                    "--accounts: {} has no account_id: give events or a users table with account_id",
                    frame.describe()
                )))
            }
        }
    }
    strata_io::write_atomic(&hpath, |f| {
        use std::io::Write;
        f.write_all(json.as_bytes()).and_then(|_| f.write_all(b"\n")).map_err(|e| e.to_string())
    })?;
    if !quiet {
        if let Frame::Engine { out, .. } = &frame {
            eprintln!("{}", out.quality.brief());
        }
        eprintln!("rules: {shown} ({} scores, {} segments)", program.scores.len(), program.segments.len());
        let pct = |c: usize| if n > 0 { 100.0 * c as f64 / n as f64 } else { 0.0 };
        for fam in &outcome.families {
            let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
            let mut none = 0;
            for s in &fam.assigned {
                match s {
                    Some(i) => *counts.entry(*i).or_default() += 1,
                    None => none += 1,
                }
            }
            let parts: Vec<String> = fam
                .segments
                .iter()
                .map(|i| {
                    let c = counts.get(i).copied().unwrap_or(0);
                    format!("{} {c} ({:.1}%)", program.segments[*i].name, pct(c))
                })
                .chain(std::iter::once(format!("Unclassified {none} ({:.1}%)", pct(none))))
                .collect();
            eprintln!("  {}: {}", fam.name, parts.join(", "));
        }
        for (i, s) in program.segments.iter().enumerate() {
            if s.family.is_none() {
                let c = outcome.members[i].iter().filter(|b| **b).count();
                eprintln!("  {}: {c} ({:.1}%)", s.name, pct(c));
            }
        }
        for (sc, res) in program.scores.iter().zip(&outcome.scores) {
            let mean = if n > 0 { res.total.iter().sum::<f64>() / n as f64 } else { 0.0 };
            eprintln!("  score {}: mean {mean:.1} of at most {}", sc.name, sc.max_points());
        }
        for w in &health.warnings {
            eprintln!("  warning: {w}");
        }
        eprintln!("wrote {} ({} users) and {}", a.out.display(), n, hpath.display());
    }
    Ok(())
}

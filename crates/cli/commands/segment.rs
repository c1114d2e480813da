use crate::args::SegmentArgs;
use crate::Failure;
use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use std::collections::BTreeMap;
use std::sync::Arc;
use strata_features::{Agg, Plan};
use strata_io::{write_parquet_atomic, UserKey};
use strata_rules::{eval, scores, AggRequest, Columns, Operand, Value};

fn to_agg(r: &AggRequest) -> Agg {
    match r {
        AggRequest::EventCount(n, d) => Agg::EventCount { name: n.clone(), days: *d },
        AggRequest::AllEvents(d) => Agg::EventCount { name: "*".into(), days: *d },
        AggRequest::SessionCount(d) => Agg::SessionCount { days: *d },
        AggRequest::AvgWeeklySessions(d) => Agg::AvgWeeklySessions { days: *d },
        AggRequest::DistinctFeatures(d) => Agg::DistinctFeatures { days: *d },
        AggRequest::ActiveDays(d) => Agg::ActiveDays { days: *d },
    }
}

/// `Power Users` -> `power_users`.
pub fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_string()
}

/// Operand values by slot, then by user.
pub struct Cols(Vec<Vec<Value>>);

impl Columns for Cols {
    fn get(&self, slot: usize, row: usize) -> Value {
        self.0.get(slot).and_then(|c| c.get(row)).cloned().unwrap_or(Value::Null)
    }
}

fn attr_values(users: &strata_io::UsersTable, column: &str, keys: &[UserKey]) -> Option<Vec<Value>> {
    use arrow_array::cast::AsArray;
    use arrow_array::Array;
    let first = users.batches.first()?;
    first.schema().index_of(column).ok()?;
    let index: std::collections::HashMap<&UserKey, (usize, usize)> =
        users.keys.iter().zip(users.rows.iter().copied()).collect();
    Some(
        keys.iter()
            .map(|k| {
                let Some(&(b, r)) = index.get(k) else { return Value::Null };
                let Some(col) = users.batches[b].column_by_name(column) else { return Value::Null };
                if col.is_null(r) {
                    return Value::Null;
                }
                let s = match col.data_type() {
                    DataType::Boolean => return Value::Bool(col.as_boolean().value(r)),
                    dt if dt.is_numeric() => arrow_cast::cast(&col.slice(r, 1), &DataType::Float64)
                        .ok()
                        .map(|a| a.as_primitive::<arrow_array::types::Float64Type>().value(0)),
                    _ => None,
                };
                if let Some(v) = s {
                    return Value::Num(v);
                }
                match arrow_cast::cast(&col.slice(r, 1), &DataType::Utf8) {
                    Ok(a) => Value::Str(a.as_string::<i32>().value(0).to_string()),
                    Err(_) => Value::Null,
                }
            })
            .collect(),
    )
}

/// What evaluating a rule program over the inputs produced.
pub struct Evaluated {
    /// The engine's output (features, aggregates, quality).
    pub out: strata_features::Output,
    /// Every operand's values, by slot.
    pub cols: Cols,
    /// Engagement component points per user: frequency, breadth, depth, recency.
    pub points: Vec<[f64; 4]>,
    /// Engagement score per user.
    pub engagement: Vec<f64>,
}

/// Runs the engine with the aggregates `program` needs and gathers every operand.
pub fn evaluate(
    program: &strata_rules::Program,
    input: &crate::args::InputArgs,
    rules: &std::path::Path,
    outputs: &[&std::path::Path],
    quiet: bool,
) -> Result<Evaluated, Failure> {
    let mut plan = Plan::new();
    let mut agg_ids = BTreeMap::new();
    for op in &program.operands {
        if let Operand::Agg(r) = op {
            let id = plan.add(to_agg(r)).map_err(|e| Failure::Input(format!("{}: {e}", rules.display())))?;
            agg_ids.insert(r.clone(), id.0);
        }
    }
    let run = super::features::engine(input, &plan, outputs, quiet)?;
    let (out, users, cfg) = (run.out, run.users, run.config);
    let t = &out.table;
    let n = t.len();
    let fcol = |name: &str| -> Vec<Value> {
        match t.column(name) {
            Some(strata_features::Column::Str(v)) => {
                v.iter().map(|s| s.clone().map_or(Value::Null, Value::Str)).collect()
            }
            Some(c) => (0..n).map(|r| c.f64_at(r).map_or(Value::Null, Value::Num)).collect(),
            None => vec![Value::Null; n],
        }
    };
    let num = |name: &str| -> Vec<Option<f64>> { (0..n).map(|r| t.column(name).and_then(|c| c.f64_at(r))).collect() };
    let (weekly, breadth, minutes, since) = (
        num("avg_weekly_sessions_28d"),
        num("feature_breadth_30d"),
        num("avg_session_minutes_28d"),
        num("days_since_last_seen"),
    );
    let points: Vec<[f64; 4]> = (0..n)
        .map(|r| {
            [
                scores::frequency_points(weekly[r].unwrap_or(0.0)),
                scores::breadth_points(breadth[r]),
                scores::depth_points(minutes[r]),
                scores::recency_points(since[r]),
            ]
        })
        .collect();
    let engagement: Vec<f64> = points.iter().map(|p| p.iter().sum()).collect();

    let mut cols = Vec::with_capacity(program.operands.len());
    for op in &program.operands {
        let values = match op {
            Operand::Feature(f) => fcol(f),
            Operand::Agg(r) => out.aggs[agg_ids[r]].iter().map(|v| Value::Num(*v)).collect(),
            Operand::TotalFeatures => vec![Value::Num(out.quality.catalog_size as f64); n],
            Operand::Score(_) => engagement.iter().map(|v| Value::Num(*v)).collect(),
            Operand::User(attr) if attr == "days_since_signup" => fcol("tenure_days"),
            Operand::UsagePct => users
                .as_ref()
                .and_then(|u| attr_values(u, cfg.columns.get("usage_pct"), &t.keys))
                .unwrap_or_else(|| vec![Value::Null; n]),
            Operand::User(attr) => {
                let column = cfg.columns.get(attr);
                let Some(v) = users.as_ref().and_then(|u| attr_values(u, column, &t.keys)) else {
                    let used_by: Vec<&str> =
                        program.segments.iter().filter(|s| s.cond.uses(cols.len())).map(|s| s.name.as_str()).collect();
                    return Err(Failure::Input(format!(
                        "rule{} {} use{} user.{attr}, but {} has no column '{column}'; add it, map it with [columns] {attr} = \"...\", or change the rule",
                        if used_by.len() == 1 { "" } else { "s" },
                        used_by.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", "),
                        if used_by.len() == 1 { "s" } else { "" },
                        if users.is_some() { "the users table" } else { "the input (no --users given)" }
                    )));
                };
                v
            }
        };
        cols.push(values);
    }
    let cols = Cols(cols);
    Ok(Evaluated { out, cols, points, engagement })
}

pub fn run(a: SegmentArgs, quiet: bool) -> Result<(), Failure> {
    let program = super::rules::load(&a.rules, &super::rules::SCORES)?;
    let health_path = {
        let stem = a.out.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "segments".into());
        a.out.with_file_name(format!("{stem}.health.json"))
    };
    let Evaluated { out, cols, points, engagement } =
        evaluate(&program, &a.input, &a.rules, &[&a.out, &health_path], quiet)?;
    let t = &out.table;
    let n = t.len();

    // Families: the first matching segment in file order, else "Unclassified".
    let mut families: Vec<(String, Vec<Option<String>>)> = Vec::new();
    let mut flags: Vec<(String, Vec<bool>)> = Vec::new();
    for s in &program.segments {
        match &s.family {
            Some(f) if !families.iter().any(|(name, _)| name == f) => families.push((f.clone(), vec![None; n])),
            Some(_) => {}
            None => flags.push((s.name.clone(), vec![false; n])),
        }
    }
    for row in 0..n {
        for s in &program.segments {
            let hit = eval(&s.cond, &cols, row) == Value::Bool(true);
            match &s.family {
                Some(f) => {
                    if let Some((_, v)) = families.iter_mut().find(|(name, _)| name == f) {
                        if hit && v[row].is_none() {
                            v[row] = Some(s.name.clone());
                        }
                    }
                }
                None => {
                    if let Some((_, v)) = flags.iter_mut().find(|(name, _)| *name == s.name) {
                        v[row] = hit;
                    }
                }
            }
        }
    }

    let members: Vec<Vec<bool>> = program
        .segments
        .iter()
        .map(|s| match &s.family {
            Some(f) => families
                .iter()
                .find(|(name, _)| name == f)
                .map(|(_, v)| v.iter().map(|x| x.as_deref() == Some(s.name.as_str())).collect())
                .unwrap_or_else(|| vec![false; n]),
            None => {
                flags.iter().find(|(name, _)| *name == s.name).map(|(_, v)| v.clone()).unwrap_or_else(|| vec![false; n])
            }
        })
        .collect();
    let health = strata_rules::health::health(&program, &members, n);

    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    let key_batch = t.to_record_batch().map_err(|e| Failure::Internal(e.to_string()))?;
    fields.push(key_batch.schema().field(0).clone());
    arrays.push(key_batch.column(0).clone());
    let mut summary = Vec::new();
    for (f, v) in &families {
        fields.push(Field::new(snake_case(f), DataType::Utf8, false));
        arrays.push(Arc::new(StringArray::from_iter_values(v.iter().map(|s| s.as_deref().unwrap_or("Unclassified")))));
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for s in v {
            *counts.entry(s.as_deref().unwrap_or("Unclassified")).or_default() += 1;
        }
        summary.push(format!("{f}: {}", counts.iter().map(|(k, c)| format!("{k} {c}")).collect::<Vec<_>>().join(", ")));
    }
    for (name, v) in &flags {
        fields.push(Field::new(snake_case(name), DataType::Boolean, false));
        arrays.push(Arc::new(BooleanArray::from(v.clone())));
        let c = v.iter().filter(|b| **b).count();
        summary.push(format!("{name}: {c} ({:.1}%)", if n > 0 { 100.0 * c as f64 / n as f64 } else { 0.0 }));
    }
    fields.push(Field::new("engagement_score", DataType::Float64, false));
    arrays.push(Arc::new(Float64Array::from(engagement.clone())));
    fields.push(Field::new("engagement_tier", DataType::Utf8, false));
    arrays.push(Arc::new(StringArray::from_iter_values(engagement.iter().map(|s| scores::engagement_tier(*s)))));
    for (i, comp) in ["frequency", "breadth", "depth", "recency"].iter().enumerate() {
        fields.push(Field::new(format!("engagement_{comp}_points"), DataType::Int64, false));
        arrays.push(Arc::new(Int64Array::from_iter_values(points.iter().map(|p| p[i] as i64))));
    }
    let batch =
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| Failure::Internal(e.to_string()))?;
    let json = serde_json::to_string_pretty(&health).map_err(|e| Failure::Internal(e.to_string()))?;
    write_parquet_atomic(&a.out, &batch)?;
    strata_io::write_atomic(&health_path, |f| {
        use std::io::Write;
        f.write_all(json.as_bytes()).and_then(|_| f.write_all(b"\n")).map_err(|e| e.to_string())
    })?;
    if !quiet {
        eprintln!("{}", out.quality.brief());
        for line in summary {
            eprintln!("  {line}");
        }
        for f in &health.families {
            eprintln!("  {}: {} unassigned ({:.1}%)", f.family, f.unassigned, 100.0 * f.unassigned_share);
        }
        for w in &health.warnings {
            eprintln!("  warning: {w}");
        }
        eprintln!("wrote {} ({} users) and {}", a.out.display(), n, health_path.display());
    }
    Ok(())
}

//! Where rule operands come from: the engine's output for this run, or a feature table
//! written earlier (`strata segment --features FILE`), plus the users table.

use crate::Failure;
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use strata_io::UserKey;
use strata_rules::{AggRequest, Column, Operand, Program, Table};

/// Per-user values the rules can read.
pub enum Frame {
    /// This run's engine output, with the aggregates the rules asked for.
    Engine {
        /// The engine's output.
        out: Box<strata_features::Output>,
        /// Aggregate -> index into `out.aggs`.
        agg_ids: BTreeMap<AggRequest, usize>,
    },
    /// A feature table file.
    File {
        /// The file.
        path: PathBuf,
        /// Its contents.
        batch: RecordBatch,
        /// The feature catalog's size, from the quality summary beside it or derived
        /// from `features_used_30d / feature_breadth_30d`.
        catalog: Option<f64>,
    },
}

fn to_rules_column(col: &strata_features::Column, n: usize) -> Column {
    use strata_features::Column as F;
    // One match per column, not per value (`f64_at` matched on every row: 2.9% of the
    // weekly snapshots' CPU went to building the rules' table).
    match col {
        F::Str(v) => Column::strings(v.iter().map(|s| s.as_deref())),
        F::Count(v) => nums(v.iter().map(|x| *x as f64), n),
        F::Int(v) => nums(v.iter().map(|x| x.map_or(f64::NAN, |x| x as f64)), n),
        F::Float(v) => nums(v.iter().map(|x| x.unwrap_or(f64::NAN)), n),
    }
}

/// `n` numbers: those of `it`, then nulls. Generic, so each column's conversion is one
/// plain loop (through a `dyn Iterator` every value was a call: `Frame::feature` took
/// 1.9% of the weekly snapshots' samples).
fn nums(it: impl Iterator<Item = f64>, n: usize) -> Column {
    let mut v = Vec::with_capacity(n);
    v.extend(it.take(n));
    v.resize(n, f64::NAN);
    Column::Num(v)
}

fn arrow_to_column(a: &ArrayRef) -> Option<Column> {
    match a.data_type() {
        DataType::Boolean => Some(Column::Bool(a.as_boolean().iter().collect())),
        dt if dt.is_numeric() => {
            let f = arrow_cast::cast(a, &DataType::Float64).ok()?;
            Some(Column::numbers(f.as_primitive::<arrow_array::types::Float64Type>().iter()))
        }
        _ => {
            let s = arrow_cast::cast(a, &DataType::Utf8).ok()?;
            Some(Column::strings(s.as_string::<i32>().iter()))
        }
    }
}

/// A feature-table column that holds the same numbers as an aggregate.
fn equivalent_column(r: &AggRequest) -> Option<String> {
    let known = match r {
        AggRequest::SessionCount(7) => "sessions_7d",
        AggRequest::SessionCount(28) => "sessions_28d",
        AggRequest::AvgWeeklySessions(28) => "avg_weekly_sessions_28d",
        AggRequest::DistinctFeatures(7) => "features_used_7d",
        AggRequest::DistinctFeatures(30) => "features_used_30d",
        AggRequest::AllEvents(7) => "events_7d",
        AggRequest::AllEvents(28) => "events_28d",
        AggRequest::ActiveDays(30) => "active_days_30d",
        AggRequest::EventCount(name, days) => {
            return strata_features::SIGNAL_COLUMNS
                .iter()
                .find(|(_, key, d)| key == name && d == days)
                .map(|(col, _, _)| col.to_string())
        }
        _ => return None,
    };
    Some(known.to_string())
}

/// Reads a whole Parquet file into one batch; `what` names it in messages.
pub fn read_parquet(path: &Path, what: &str) -> Result<RecordBatch, Failure> {
    let file =
        std::fs::File::open(path).map_err(|e| Failure::Input(format!("cannot open {what} {}: {e}", path.display())))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(1 << 16).build())
        .map_err(|e| Failure::Input(format!("{} is not a Parquet {what}: {e}", path.display())))?;
    let schema = arrow_array::RecordBatchReader::schema(&reader);
    let batches: Vec<RecordBatch> =
        reader.collect::<Result<_, _>>().map_err(|e| Failure::Input(format!("cannot read {}: {e}", path.display())))?;
    arrow_select::concat::concat_batches(&schema, &batches)
        .map_err(|e| Failure::Internal(format!("{}: {e}", path.display())))
}

impl Frame {
    /// Reads a feature table written by `strata features`.
    pub fn open(path: &Path) -> Result<Frame, Failure> {
        let batch = read_parquet(path, "feature table")?;
        if batch.schema().index_of("user_id").is_err() {
            return Err(Failure::Input(format!(
                "{} has no user_id column; give a table written by `strata features`",
                path.display()
            )));
        }
        let quality = super::features::quality_path(path);
        let from_quality = std::fs::read_to_string(&quality)
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|v| v.get("catalog_size").and_then(serde_json::Value::as_f64));
        let mut frame = Frame::File { path: path.to_path_buf(), batch, catalog: from_quality };
        if from_quality.is_none() {
            let derived = match (frame.feature("features_used_30d"), frame.feature("feature_breadth_30d")) {
                (Some(Column::Num(u)), Some(Column::Num(b))) => {
                    u.iter().zip(&b).find(|(u, b)| **b > 0.0 && !u.is_nan()).map(|(u, b)| (u / b).round())
                }
                _ => None,
            };
            if let Frame::File { catalog, .. } = &mut frame {
                *catalog = derived;
            }
        }
        Ok(frame)
    }

    /// Users.
    pub fn rows(&self) -> usize {
        match self {
            Frame::Engine { out, .. } => out.table.len(),
            Frame::File { batch, .. } => batch.num_rows(),
        }
    }

    /// The `user_id` column, as it goes into outputs.
    pub fn user_array(&self) -> Result<(arrow_schema::Field, ArrayRef), Failure> {
        match self {
            Frame::Engine { out, .. } => Ok(out.table.user_id_array()),
            Frame::File { batch, .. } => {
                let i = batch.schema().index_of("user_id").map_err(|e| Failure::Internal(e.to_string()))?;
                Ok((batch.schema().field(i).clone(), batch.column(i).clone()))
            }
        }
    }

    /// User ids, in row order.
    pub fn keys(&self) -> Vec<UserKey> {
        match self {
            Frame::Engine { out, .. } => out.table.keys.clone(),
            Frame::File { batch, .. } => {
                let Some(a) = batch.column_by_name("user_id") else { return Vec::new() };
                if let Ok(i) = arrow_cast::cast(a, &DataType::Int64) {
                    if i.null_count() == 0 && a.data_type().is_integer() {
                        return i
                            .as_primitive::<arrow_array::types::Int64Type>()
                            .values()
                            .iter()
                            .map(|v| UserKey::Int(*v))
                            .collect();
                    }
                }
                match arrow_cast::cast(a, &DataType::Utf8) {
                    Ok(s) => s.as_string::<i32>().iter().map(|v| UserKey::Str(v.unwrap_or("").into())).collect(),
                    Err(_) => Vec::new(),
                }
            }
        }
    }

    /// A feature column.
    pub fn feature(&self, name: &str) -> Option<Column> {
        match self {
            Frame::Engine { out, .. } => out.table.column(name).map(|c| to_rules_column(c, out.table.len())),
            Frame::File { batch, .. } => batch.column_by_name(name).and_then(arrow_to_column),
        }
    }

    /// An aggregate's column: computed by the engine, or a column of the feature table
    /// (under its canonical name, as `strata features --rules` writes it, or an
    /// equivalent core column).
    pub fn agg(&self, r: &AggRequest) -> Option<Column> {
        match self {
            Frame::Engine { out, agg_ids } => agg_ids.get(r).map(|i| Column::Num(out.aggs[*i].clone())),
            Frame::File { .. } => {
                self.feature(&r.name()).or_else(|| equivalent_column(r).and_then(|c| self.feature(&c)))
            }
        }
    }

    /// The feature catalog's size.
    pub fn total_features(&self) -> Option<f64> {
        match self {
            Frame::Engine { out, .. } => Some(out.quality.catalog_size as f64),
            Frame::File { catalog, .. } => *catalog,
        }
    }

    /// What the data covers, for messages.
    pub fn describe(&self) -> String {
        match self {
            Frame::Engine { out, .. } => format!("as of {}", out.as_of.to_rfc3339()),
            Frame::File { path, .. } => format!("from {}", path.display()),
        }
    }
}

/// Users-table attributes by name, aligned to the frame's users. One value serves
/// many frames (the snapshots of a run): each column is converted once.
pub struct Attributes<'a> {
    users: Option<&'a strata_io::UsersTable>,
    index: HashMap<&'a UserKey, (usize, usize)>,
    /// Columns converted so far, by name (None: the table has no such column).
    converted: std::sync::Mutex<HashMap<String, Option<std::sync::Arc<Vec<Column>>>>>,
}

impl<'a> Attributes<'a> {
    pub fn new(users: Option<&'a strata_io::UsersTable>) -> Self {
        let index = users.map(|u| u.keys.iter().zip(u.rows.iter().copied()).collect()).unwrap_or_default();
        Attributes { users, index, converted: Default::default() }
    }

    /// Column `name` of every batch of the users table, converted once.
    fn batches(&self, name: &str) -> Option<std::sync::Arc<Vec<Column>>> {
        let users = self.users?;
        let mut cache = self.converted.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry(name.to_string())
            .or_insert_with(|| {
                users.batches.first()?.schema().index_of(name).ok()?;
                let cols: Option<Vec<Column>> =
                    users.batches.iter().map(|b| b.column_by_name(name).and_then(arrow_to_column)).collect();
                cols.map(std::sync::Arc::new)
            })
            .clone()
    }

    /// Column `name` for the users `keys`; `rows`, when given, is each key's index into
    /// the users table's keys (what the engine knows already), saving a lookup by key.
    pub fn column(&self, name: &str, keys: &[UserKey], rows: Option<&[Option<usize>]>) -> Option<Column> {
        let users = self.users?;
        let per_batch = self.batches(name)?;
        let at = |i: usize| -> Option<(usize, usize)> {
            match rows {
                Some(r) => r.get(i).copied().flatten().and_then(|j| users.rows.get(j).copied()),
                None => self.index.get(&keys[i]).copied(),
            }
        };
        let n = keys.len();
        Some(match per_batch.first()? {
            Column::Num(_) => Column::numbers((0..n).map(|i| {
                let (b, r) = at(i)?;
                match &per_batch[b] {
                    Column::Num(v) => v.get(r).copied().filter(|x| !x.is_nan()),
                    _ => None,
                }
            })),
            Column::Bool(_) => Column::Bool(
                (0..n)
                    .map(|i| {
                        let (b, r) = at(i)?;
                        match &per_batch[b] {
                            Column::Bool(v) => v.get(r).copied().flatten(),
                            _ => None,
                        }
                    })
                    .collect(),
            ),
            // One batch (the usual users table): its dictionary as it is, and each
            // user's code, instead of hashing every user's string again per snapshot.
            Column::Str { dict, codes } if per_batch.len() == 1 => Column::Str {
                dict: dict.clone(),
                codes: (0..n).map(|i| at(i).and_then(|(_, r)| codes.get(r).copied()).unwrap_or(u32::MAX)).collect(),
            },
            _ => Column::strings((0..n).map(|i| {
                let (b, r) = at(i)?;
                match &per_batch[b] {
                    Column::Str { dict, codes } => codes.get(r).and_then(|c| dict.get(*c as usize)).map(String::as_str),
                    _ => None,
                }
            })),
        })
    }
}

/// The rules (segments and scores) that read operand `slot`, and whether each guards
/// it with `is null`.
fn users_of(program: &Program, slot: usize) -> Vec<(String, bool)> {
    let mut v = Vec::new();
    for s in &program.scores {
        let exprs = s.exprs();
        if exprs.iter().any(|e| e.uses(slot)) {
            v.push((format!("score \"{}\"", s.name), exprs.iter().any(|e| e.guards(slot))));
        }
    }
    for s in &program.segments {
        if s.cond.uses(slot) {
            v.push((format!("segment \"{}\"", s.name), s.cond.guards(slot)));
        }
    }
    v
}

/// Every operand of `program` for every user of `frame`.
pub fn build_table(
    program: &Program,
    frame: &Frame,
    users: Option<&strata_io::UsersTable>,
    cfg: &strata_core::Config,
    rules: &str,
) -> Result<Table, Failure> {
    build_table_with(program, frame, &Attributes::new(users), cfg, rules)
}

/// [`build_table`] with the users table's attributes given, so that several frames
/// share their conversion.
pub fn build_table_with(
    program: &Program,
    frame: &Frame,
    attrs: &Attributes<'_>,
    cfg: &strata_core::Config,
    rules: &str,
) -> Result<Table, Failure> {
    let users = attrs.users;
    let n = frame.rows();
    // The engine gives each row's users-table row; a file is matched by key.
    let file_keys;
    let (rows, keys): (Option<&[Option<usize>]>, &[UserKey]) = match frame {
        Frame::Engine { out, .. } => (Some(&out.users_row), &out.table.keys),
        Frame::File { .. } => {
            file_keys = frame.keys();
            (None, &file_keys)
        }
    };
    let mut cols = Vec::with_capacity(program.operands.len());
    for (slot, op) in program.operands.iter().enumerate() {
        let missing = |what: String, fix: &str| -> Result<Column, Failure> {
            let using = users_of(program, slot);
            if !using.is_empty() && using.iter().all(|(_, g)| *g) {
                return Ok(Column::Null);
            }
            let names: Vec<&str> = using.iter().filter(|(_, g)| !*g).map(|(n, _)| n.as_str()).collect();
            Err(Failure::Input(format!(
                "{rules}: {} uses {what}; {fix}, or guard it in the rule with `is null`",
                names.join(", ")
            )))
        };
        let col = match op {
            Operand::Feature(f) => match frame.feature(f) {
                Some(c) => c,
                None => {
                    missing(format!("the feature {f}, which {} lacks", frame.describe()), "recompute the features")?
                }
            },
            Operand::Agg(r) => match frame.agg(r) {
                Some(c) => c,
                None => missing(
                    format!("{}, which the feature table {} does not hold", r.name(), frame.describe()),
                    "run with --events so it is computed, or write the table with `strata features --rules RULES`",
                )?,
            },
            Operand::TotalFeatures => match frame.total_features() {
                Some(v) => Column::Const(v),
                None => missing(
                    "total_features, which cannot be told from this table".into(),
                    "keep the .quality.json beside the feature table",
                )?,
            },
            Operand::Score(_) => Column::Null, // filled in by strata_rules::run, in order
            Operand::User(a) if a == "days_since_signup" => frame.feature("tenure_days").unwrap_or(Column::Null),
            Operand::UsagePct | Operand::User(_) => {
                let (shown, column) = match op {
                    Operand::User(a) => (format!("user.{a}"), cfg.columns.get(a).to_string()),
                    _ => ("usage.percentage_of_limit".to_string(), cfg.columns.get("usage_pct").to_string()),
                };
                match attrs.column(&column, keys, rows) {
                    Some(c) => c,
                    None => missing(
                        format!(
                            "{shown}, but {} has no column '{column}'",
                            if users.is_some() { "the users table" } else { "the input (no --users given)" }
                        ),
                        &format!("add it with --users, map it with [columns] in strata.toml ({column} = \"...\")"),
                    )?,
                }
            }
        };
        cols.push(col);
    }
    Ok(Table { rows: n, cols })
}

//! Tiny event tables written to Parquet, and the engine run on them.
#![allow(dead_code)]

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strata_core::{AsOf, Config};
use strata_features::{compute, Column, Input, Output, Plan};
use strata_io::{read_users, EventColumns, EventSource};

pub const MIN: i64 = 60_000_000;
pub const HOUR: i64 = 60 * MIN;
pub const DAY: i64 = 24 * HOUR;
/// The as-of instant used by the tests: day 1000 since the epoch.
pub const T: i64 = 1000 * DAY;

#[derive(Debug, Clone, PartialEq)]
pub struct Ev {
    pub user: Option<String>,
    pub ts: Option<i64>,
    pub event: String,
    pub feature: Option<String>,
    pub session: Option<String>,
    pub revenue: Option<f64>,
}

pub fn ev(user: &str, ts: i64, event: &str) -> Ev {
    Ev { user: Some(user.into()), ts: Some(ts), event: event.into(), feature: None, session: None, revenue: None }
}

pub fn evf(user: &str, ts: i64, feature: &str) -> Ev {
    Ev { feature: Some(feature.into()), ..ev(user, ts, "feature_used") }
}

/// Writes events; `with_session` adds the session_id column.
pub fn write_events(dir: &Path, name: &str, rows: &[Ev], with_session: bool) -> PathBuf {
    let mut fields = vec![
        Field::new("user_id", DataType::Utf8, true),
        Field::new("timestamp", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        Field::new("event", DataType::Utf8, false),
        Field::new("feature", DataType::Utf8, true),
        Field::new("revenue", DataType::Float64, true),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(rows.iter().map(|r| r.user.clone()).collect::<Vec<_>>())),
        Arc::new(TimestampMicrosecondArray::from(rows.iter().map(|r| r.ts).collect::<Vec<_>>())),
        Arc::new(StringArray::from(rows.iter().map(|r| Some(r.event.clone())).collect::<Vec<_>>())),
        Arc::new(StringArray::from(rows.iter().map(|r| r.feature.clone()).collect::<Vec<_>>())),
        Arc::new(Float64Array::from(rows.iter().map(|r| r.revenue).collect::<Vec<_>>())),
    ];
    if with_session {
        fields.push(Field::new("session_id", DataType::Utf8, true));
        cols.push(Arc::new(StringArray::from(rows.iter().map(|r| r.session.clone()).collect::<Vec<_>>())));
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
    let path = dir.join(name);
    strata_io::write_parquet_atomic(&path, &batch).unwrap();
    path
}

/// Writes a users table of (user_id, signup_at).
pub fn write_users(dir: &Path, rows: &[(&str, Option<i64>)]) -> PathBuf {
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("signup_at", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
            Arc::new(
                TimestampMicrosecondArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>()).with_timezone("UTC"),
            ),
        ],
    )
    .unwrap();
    let path = dir.join("users.parquet");
    strata_io::write_parquet_atomic(&path, &batch).unwrap();
    path
}

pub fn run_with(events: &Path, users: Option<&Path>, as_of: Option<i64>, cfg: &Config, plan: &Plan) -> Output {
    let source = EventSource::open(&[events.to_path_buf()], &EventColumns::from_map(&cfg.columns)).unwrap();
    let users = users.map(|u| read_users(u.to_str().unwrap(), &cfg.columns).unwrap());
    compute(Input { source: &source, users: users.as_ref(), config: cfg, as_of: as_of.map(AsOf), plan, progress: None })
        .unwrap()
}

pub fn run(events: &Path, users: Option<&Path>) -> Output {
    run_with(events, users, Some(T), &Config::default(), &Plan::new())
}

/// The value of column `name` for user `user` as f64 (None for null).
pub fn val(out: &Output, user: &str, name: &str) -> Option<f64> {
    let row =
        out.table.keys.iter().position(|k| k.to_string() == user).unwrap_or_else(|| panic!("no row for user {user}"));
    out.table.column(name).unwrap_or_else(|| panic!("no column {name}")).f64_at(row)
}

pub fn users_of(out: &Output) -> Vec<String> {
    out.table.keys.iter().map(|k| k.to_string()).collect()
}

pub fn count_col(out: &Output, name: &str) -> Vec<i64> {
    match out.table.column(name) {
        Some(Column::Count(v)) => v.clone(),
        other => panic!("{name} is not a count column: {other:?}"),
    }
}

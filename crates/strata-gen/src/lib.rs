//! Synthetic product-led-growth data with planted personas.
//!
//! The principal entry point is [`generate`], which writes `events.parquet`,
//! `users.parquet` and `personas.parquet` for a [`GenParams`]. Each user's behaviour
//! follows one [`Persona`] from the seed's descriptions (power, regular, casual,
//! declining, dormant, evaluator, team champion, plus users who never show up), with
//! heavy-tailed noise. Every user draws from their own generator seeded by
//! `(seed, user index)`, and users are produced in chunks that are written in order,
//! so output is byte-identical per seed and a million users never sit in memory as
//! events at once.

mod persona;

pub use persona::Persona;

use arrow_array::builder::{Float64Builder, StringDictionaryBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use std::path::Path;
use std::sync::Arc;
use strata_core::MICROS_PER_DAY;

/// The instant generated data ends at: 2026-11-30T00:00:00Z (fixed, so output does not
/// depend on the day it is generated).
pub const END_MICROS: i64 = 20_787 * MICROS_PER_DAY;

/// The product's feature catalog.
pub const FEATURES: [&str; 12] = [
    "dashboards",
    "reports",
    "projects",
    "tasks",
    "templates",
    "integrations",
    "automations",
    "comments",
    "files",
    "calendar",
    "api",
    "admin",
];

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct GenParams {
    /// Number of users.
    pub users: usize,
    /// Days of events, ending at [`END_MICROS`].
    pub days: u32,
    /// Seed of every random choice.
    pub seed: u64,
}

/// Generation failures (I/O only: every parameter combination is valid).
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// Writing a file failed.
    #[error("writing {path}: {detail}")]
    Write {
        /// The file.
        path: String,
        /// What failed.
        detail: String,
    },
    /// Nonsense parameters.
    #[error("{0}")]
    Params(String),
}

/// Counts of what was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GenSummary {
    /// Users written.
    pub users: usize,
    /// Event rows written.
    pub events: u64,
}

/// One generated event.
#[derive(Debug, Clone, Copy)]
struct Ev {
    ts: i64,
    event: u8,
    feature: u8,
    revenue: f64,
    null_user: bool,
}

/// Event names, indexed by `Ev::event`.
const EVENTS: [&str; 20] = [
    "session_start",
    "page_view",
    "feature_used",
    "project_created",
    "task_added",
    "task_completed",
    "template_used",
    "integration_connected",
    "invite_sent",
    "content_created",
    "content_shared",
    "pricing_page_view",
    "locked_feature_click",
    "support_ticket",
    "payment_failed",
    "plan_downgraded",
    "cancel_page_view",
    "sales_contact",
    "payment_succeeded",
    "docs_view",
];
const NO_FEATURE: u8 = u8::MAX;

struct UserOut {
    id: String,
    persona: Persona,
    signup: i64,
    plan: &'static str,
    role: &'static str,
    industry: &'static str,
    country: &'static str,
    company_size: i64,
    seats: i64,
    usage_pct: f64,
    account: String,
    events: Vec<Ev>,
}

fn user_rng(seed: u64, i: usize) -> StdRng {
    // SplitMix64 of (seed, index): independent streams per user.
    let mut z = seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    StdRng::seed_from_u64(z ^ (z >> 31))
}

/// Writes the three files into `out` (which must exist).
pub fn generate(p: GenParams, out: &Path) -> Result<GenSummary, GenError> {
    if p.users == 0 || p.days == 0 {
        return Err(GenError::Params("--users and --days must be at least 1".into()));
    }
    let werr = |path: &Path, e: String| GenError::Write { path: path.display().to_string(), detail: e };
    let ev_path = out.join("events.parquet");
    let width = p.users.to_string().len().max(6);
    let ev_schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, true),
        Field::new("timestamp", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
        Field::new("event", DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)), false),
        Field::new("feature", DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)), true),
        Field::new("account_id", DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)), true),
        Field::new("revenue", DataType::Float64, true),
    ]));
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(1 << 20))
        .set_created_by("strata generate".into())
        .build();
    let mut users_meta: Vec<UserOut> = Vec::with_capacity(p.users);
    let mut summary = GenSummary { users: p.users, events: 0 };
    strata_io::write_atomic(&ev_path, |f| {
        let mut w = ArrowWriter::try_new(f, ev_schema.clone(), Some(props.clone())).map_err(|e| e.to_string())?;
        let chunk = 2048;
        for start in (0..p.users).step_by(chunk) {
            let end = (start + chunk).min(p.users);
            let mut users: Vec<UserOut> = (start..end)
                .into_par_iter()
                .map(|i| persona::make_user(p, i, width, &mut user_rng(p.seed, i)))
                .collect();
            let batch = events_batch(&ev_schema, &users).map_err(|e| e.to_string())?;
            summary.events += batch.num_rows() as u64;
            w.write(&batch).map_err(|e| e.to_string())?;
            for u in &mut users {
                u.events = Vec::new();
            }
            users_meta.extend(users);
        }
        w.close().map_err(|e| e.to_string())?;
        Ok(())
    })
    .map_err(|e| werr(&ev_path, e.to_string()))?;

    let users_batch = users_batch(&users_meta).map_err(|e| werr(&out.join("users.parquet"), e.to_string()))?;
    strata_io::write_parquet_atomic(&out.join("users.parquet"), &users_batch)
        .map_err(|e| werr(&out.join("users.parquet"), e.to_string()))?;
    let personas = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Utf8, false),
            Field::new("persona", DataType::Utf8, false),
        ])),
        vec![
            Arc::new(StringArray::from_iter_values(users_meta.iter().map(|u| u.id.as_str()))),
            Arc::new(StringArray::from_iter_values(users_meta.iter().map(|u| u.persona.name()))),
        ],
    )
    .map_err(|e| werr(&out.join("personas.parquet"), e.to_string()))?;
    strata_io::write_parquet_atomic(&out.join("personas.parquet"), &personas)
        .map_err(|e| werr(&out.join("personas.parquet"), e.to_string()))?;
    Ok(summary)
}

fn events_batch(schema: &Arc<Schema>, users: &[UserOut]) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let n: usize = users.iter().map(|u| u.events.len()).sum();
    let mut uid = arrow_array::builder::StringBuilder::with_capacity(n, n * 8);
    let mut ts = Vec::with_capacity(n);
    let mut ev = StringDictionaryBuilder::<Int32Type>::new();
    let mut feat = StringDictionaryBuilder::<Int32Type>::new();
    let mut acct = StringDictionaryBuilder::<Int32Type>::new();
    let mut rev = Float64Builder::with_capacity(n);
    for u in users {
        for e in &u.events {
            if e.null_user {
                uid.append_null();
            } else {
                uid.append_value(&u.id);
            }
            ts.push(e.ts);
            ev.append_value(EVENTS[e.event as usize]);
            if e.feature == NO_FEATURE {
                feat.append_null();
            } else {
                feat.append_value(FEATURES[e.feature as usize]);
            }
            acct.append_value(&u.account);
            if e.revenue > 0.0 {
                rev.append_value(e.revenue);
            } else {
                rev.append_null();
            }
        }
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(uid.finish()),
        Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
        Arc::new(ev.finish()),
        Arc::new(feat.finish()),
        Arc::new(acct.finish()),
        Arc::new(rev.finish()),
    ];
    RecordBatch::try_new(schema.clone(), cols)
}

fn users_batch(users: &[UserOut]) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("signup_at", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
        Field::new("plan", DataType::Utf8, false),
        Field::new("role", DataType::Utf8, false),
        Field::new("industry", DataType::Utf8, false),
        Field::new("country", DataType::Utf8, false),
        Field::new("company_size", DataType::Int64, false),
        Field::new("seats", DataType::Int64, false),
        Field::new("usage_pct", DataType::Float64, false),
        Field::new("account_id", DataType::Utf8, false),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(users.iter().map(|u| u.id.as_str()))),
        Arc::new(TimestampMicrosecondArray::from_iter_values(users.iter().map(|u| u.signup)).with_timezone("UTC")),
        Arc::new(StringArray::from_iter_values(users.iter().map(|u| u.plan))),
        Arc::new(StringArray::from_iter_values(users.iter().map(|u| u.role))),
        Arc::new(StringArray::from_iter_values(users.iter().map(|u| u.industry))),
        Arc::new(StringArray::from_iter_values(users.iter().map(|u| u.country))),
        Arc::new(Int64Array::from_iter_values(users.iter().map(|u| u.company_size))),
        Arc::new(Int64Array::from_iter_values(users.iter().map(|u| u.seats))),
        Arc::new(Float64Array::from_iter_values(users.iter().map(|u| u.usage_pct))),
        Arc::new(StringArray::from_iter_values(users.iter().map(|u| u.account.as_str()))),
    ];
    RecordBatch::try_new(schema, cols)
}

/// A standard normal draw (Box-Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A Poisson draw (Knuth; the rates here are small).
fn poisson(rng: &mut StdRng, lambda: f64) -> u32 {
    if lambda <= 0.0 {
        return 0;
    }
    if lambda > 30.0 {
        return (lambda + lambda.sqrt() * normal(rng)).round().max(0.0) as u32;
    }
    let l = (-lambda).exp();
    let mut k = 0;
    let mut p = 1.0;
    loop {
        p *= rng.gen::<f64>();
        if p <= l {
            return k;
        }
        k += 1;
    }
}

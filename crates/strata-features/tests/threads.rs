//! The same result whatever the thread count, on a file whose row groups are so uneven
//! that the workers which finish their small groups wait for batches of the large one
//! (the scan hands them decoded batches to fold: `engine::Spare`).

#![allow(clippy::unwrap_used)] // Tests may panic: that is how they fail.

mod common;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use common::{DAY, MIN, T};
use parquet::arrow::ArrowWriter;
use std::sync::Arc;
use strata_core::{AsOf, Config};
use strata_features::{compute_many, Input, Output, Plan};
use strata_io::{EventColumns, EventSource};

/// `n` rows of a fixed pseudo-random stream: 300 users, 60 days before `T` and a few
/// after, 5 event names, 12 features, some revenue, adjacent duplicates.
fn rows(n: usize, seed: u64) -> RecordBatch {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut users: Vec<String> = Vec::new();
    let mut ts: Vec<i64> = Vec::new();
    let mut events: Vec<&str> = Vec::new();
    let mut features: Vec<Option<String>> = Vec::new();
    let mut revenue: Vec<Option<f64>> = Vec::new();
    for _ in 0..n {
        let r = next();
        if r % 50 == 0 && !users.is_empty() {
            // An adjacent duplicate of the row before.
            users.push(users[users.len() - 1].clone());
            ts.push(ts[ts.len() - 1]);
            events.push(events[events.len() - 1]);
            features.push(features[features.len() - 1].clone());
            revenue.push(revenue[revenue.len() - 1]);
            continue;
        }
        users.push(format!("u{}", (r >> 8) % 300));
        ts.push(T - ((r >> 20) % (62 * DAY as u64)) as i64 + 2 * DAY / 2 - ((r >> 40) % 3) as i64 * MIN);
        let e = ["feature_used", "session_start", "invite_sent", "payment_succeeded", "pricing_page_viewed"]
            [((r >> 4) % 5) as usize];
        events.push(e);
        features.push((e == "feature_used").then(|| format!("f{}", (r >> 30) % 12)));
        revenue.push((e == "payment_succeeded").then(|| ((r >> 12) % 10_000) as f64 / 100.0));
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("timestamp", DataType::Timestamp(TimeUnit::Microsecond, None), false),
        Field::new("event", DataType::Utf8, false),
        Field::new("feature", DataType::Utf8, true),
        Field::new("revenue", DataType::Float64, true),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(users)),
        Arc::new(TimestampMicrosecondArray::from(ts)),
        Arc::new(StringArray::from(events)),
        Arc::new(StringArray::from(features)),
        Arc::new(Float64Array::from(revenue)),
    ];
    RecordBatch::try_new(schema, cols).unwrap()
}

fn run(path: &std::path::Path, threads: usize, times: &[i64]) -> Vec<Output> {
    let cfg = Config::default();
    let source = EventSource::open(&[path.to_path_buf()], &EventColumns::from_map(&cfg.columns)).unwrap();
    let plan = Plan::new();
    let as_ofs: Vec<(AsOf, &'static str)> = times.iter().map(|t| (AsOf(*t), "--as-of")).collect();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        compute_many(
            Input { source: &source, users: None, config: &cfg, as_of: None, plan: &plan, progress: None },
            &as_ofs,
        )
        .unwrap()
    })
}

/// What must not depend on the thread count: the table, the quality summary and each
/// user's features by name.
fn summary(outs: &[Output]) -> Vec<Vec<String>> {
    outs.iter()
        .map(|o| {
            // Codes are numbered by first appearance, which depends on the threads:
            // compare names, sorted.
            let used: Vec<Vec<&str>> = (0..o.table.len())
                .map(|r| {
                    let mut v: Vec<&str> =
                        o.features_used.get(r).iter().map(|c| o.feature_names[*c as usize].as_str()).collect();
                    v.sort_unstable();
                    v
                })
                .collect();
            let mut lines = vec![format!("{:?}", o.table.keys), format!("{:?}", o.quality), format!("{used:?}")];
            lines.extend(o.table.columns.iter().map(|(name, c)| format!("{name}: {c:?}")));
            lines
        })
        .collect()
}

#[test]
fn uneven_row_groups_give_the_same_result_on_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.parquet");
    // One row group of 150,000 rows (five decoded batches) and four of 3,000.
    let sizes = [150_000, 3_000, 3_000, 3_000, 3_000];
    let first = rows(1, 1);
    let mut w = ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), first.schema(), None).unwrap();
    for (i, n) in sizes.iter().enumerate() {
        w.write(&rows(*n, i as u64 + 7)).unwrap();
        w.flush().unwrap();
    }
    let meta = w.close().unwrap();
    assert_eq!(meta.num_row_groups(), sizes.len());

    // One snapshot, and several whole days apart (the day-grid scan).
    for times in [vec![T], vec![T - 14 * DAY, T - 7 * DAY, T]] {
        let one = summary(&run(&path, 1, &times));
        assert!(one[0][1].contains("duplicate_rows: "), "the summary holds the quality counts");
        for threads in [2, 3, 5] {
            let many = summary(&run(&path, threads, &times));
            assert_eq!(many.len(), one.len());
            for (a, b) in many.iter().flatten().zip(one.iter().flatten()) {
                assert!(a == b, "{threads} threads, as-of times {times:?}: {}", &a[..a.len().min(300)]);
            }
        }
    }
}

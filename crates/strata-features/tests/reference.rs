//! The engine against a naive reference written here with plain loops over each
//! user's sorted events, on random small tables (with and without session ids).

#![allow(clippy::unwrap_used)] // Tests may panic: that is how they fail.

mod common;
use common::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const EVENTS: [&str; 6] =
    ["page_view", "invite_sent", "pricing_page_view", "locked_feature_click", "support_ticket", "feature_used"];
const FEATURES: [&str; 5] = ["f0", "f1", "f2", "f3", "f4"];
const USERS: [&str; 5] = ["u0", "u1", "u2", "u3", "u4"];

fn arb_event(with_session: bool) -> impl Strategy<Value = Ev> {
    (
        0usize..USERS.len(),
        // From 100 days before T to 2 days after (those must be ignored); a coarse grid so
        // that equal timestamps and exact window edges happen often.
        -200i64..=4,
        0i64..7,
        0usize..EVENTS.len(),
        prop::option::of(0usize..FEATURES.len()),
        0u8..3,
        prop::bool::weighted(0.03),
    )
        .prop_map(move |(u, half_days, quarter, e, f, s, null_user)| Ev {
            user: (!null_user).then(|| USERS[u].to_string()),
            ts: Some(T + half_days * DAY / 2 + quarter * 10 * MIN),
            event: EVENTS[e].to_string(),
            feature: f.map(|f| FEATURES[f].to_string()),
            session: with_session.then(|| format!("s{s}")),
            revenue: None,
        })
}

/// Events packed into the last 5 days before T (2 users, 10-minute steps within an
/// hour of each half day), so sessions of several events are common and as-of times
/// fall inside them.
fn arb_dense_event() -> impl Strategy<Value = Ev> {
    (0usize..2, -10i64..=0, 0i64..7, 0usize..EVENTS.len(), prop::option::of(0usize..FEATURES.len())).prop_map(
        |(u, half_days, tens, e, f)| Ev {
            user: Some(USERS[u].to_string()),
            ts: Some(T + half_days * DAY / 2 + tens * 10 * MIN),
            event: EVENTS[e].to_string(),
            feature: f.map(|f| FEATURES[f].to_string()),
            session: None,
            revenue: None,
        },
    )
}

struct Reference {
    sessions_7d: i64,
    sessions_28d: i64,
    active_days_30d: i64,
    features_used_7d: i64,
    features_used_30d: i64,
    feature_breadth_30d: Option<f64>,
    peak_week: i64,
    avg_session_minutes_28d: Option<f64>,
    events_28d: i64,
    days_since_last_seen: Option<f64>,
    median_gap: Option<f64>,
    tenure: Option<f64>,
    invites_30d: i64,
    pricing_14d: i64,
    locked_14d: i64,
    support_7d: i64,
    weeks: Vec<i64>,
}

fn reference(rows: &[Ev], with_session: bool) -> BTreeMap<String, Reference> {
    let mut by_user: BTreeMap<String, Vec<&Ev>> = BTreeMap::new();
    for r in rows {
        if let (Some(u), Some(ts)) = (&r.user, r.ts) {
            if ts <= T {
                by_user.entry(u.clone()).or_default().push(r);
            }
        }
    }
    let catalog: BTreeSet<&str> = by_user.values().flatten().filter_map(|r| r.feature.as_deref()).collect();
    let in_days = |ts: i64, n: i64| T - ts < n * DAY;
    let mut out = BTreeMap::new();
    for (u, mut evs) in by_user {
        evs.sort_by_key(|e| e.ts);
        // Sessions as (start, end).
        let mut sessions: Vec<(i64, i64)> = Vec::new();
        if with_session {
            let mut by_id: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
            for e in &evs {
                let ts = e.ts.unwrap();
                let s = by_id.entry(e.session.as_deref().unwrap()).or_insert((ts, ts));
                s.0 = s.0.min(ts);
                s.1 = s.1.max(ts);
            }
            sessions = by_id.into_values().collect();
            sessions.sort();
        } else {
            for e in &evs {
                let ts = e.ts.unwrap();
                match sessions.last_mut() {
                    Some(s) if ts - s.1 <= 30 * MIN => s.1 = ts,
                    _ => sessions.push((ts, ts)),
                }
            }
        }
        let s28: Vec<_> = sessions.iter().filter(|s| in_days(s.0, 28)).collect();
        let mut gaps: Vec<f64> = sessions.windows(2).map(|w| (w[1].0 - w[0].0) as f64 / DAY as f64).collect();
        gaps.sort_by(f64::total_cmp);
        let median_gap = match gaps.len() {
            0 => None,
            n if n % 2 == 1 => Some(gaps[n / 2]),
            n => Some((gaps[n / 2 - 1] + gaps[n / 2]) / 2.0),
        };
        let distinct = |n: i64| {
            evs.iter()
                .filter(|e| in_days(e.ts.unwrap(), n))
                .filter_map(|e| e.feature.as_deref())
                .collect::<BTreeSet<_>>()
                .len() as i64
        };
        let peak = (0..12)
            .map(|w| {
                evs.iter()
                    .filter(|e| (T - e.ts.unwrap()) / (7 * DAY) == w)
                    .filter_map(|e| e.feature.as_deref())
                    .collect::<BTreeSet<_>>()
                    .len() as i64
            })
            .max()
            .unwrap();
        let count =
            |name: &str, n: i64| evs.iter().filter(|e| e.event == name && in_days(e.ts.unwrap(), n)).count() as i64;
        let f30 = distinct(30);
        let last = evs.last().unwrap().ts.unwrap();
        let first = evs.first().unwrap().ts.unwrap();
        out.insert(
            u,
            Reference {
                sessions_7d: sessions.iter().filter(|s| in_days(s.0, 7)).count() as i64,
                sessions_28d: s28.len() as i64,
                active_days_30d: evs
                    .iter()
                    .filter(|e| in_days(e.ts.unwrap(), 30))
                    .map(|e| (T - e.ts.unwrap()) / DAY)
                    .collect::<BTreeSet<_>>()
                    .len() as i64,
                features_used_7d: distinct(7),
                features_used_30d: f30,
                feature_breadth_30d: (!catalog.is_empty()).then(|| f30 as f64 / catalog.len() as f64),
                peak_week: peak,
                avg_session_minutes_28d: (!s28.is_empty())
                    .then(|| s28.iter().map(|s| (s.1 - s.0) as f64 / 60e6).sum::<f64>() / s28.len() as f64),
                events_28d: evs.iter().filter(|e| in_days(e.ts.unwrap(), 28)).count() as i64,
                days_since_last_seen: Some((T - last) as f64 / DAY as f64),
                median_gap,
                tenure: Some((T - first) as f64 / DAY as f64),
                invites_30d: count("invite_sent", 30),
                pricing_14d: count("pricing_page_view", 14),
                locked_14d: count("locked_feature_click", 14),
                support_7d: count("support_ticket", 7),
                weeks: (0..12).map(|w| sessions.iter().filter(|s| (T - s.0) / (7 * DAY) == w).count() as i64).collect(),
            },
        );
    }
    out
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(1.0),
        _ => false,
    }
}

fn check(rows: &[Ev], with_session: bool) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let p = write_events(dir.path(), "e.parquet", rows, with_session);
    let out = run(&p, None);
    let want = reference(rows, with_session);
    prop_assert_eq!(users_of(&out), want.keys().cloned().collect::<Vec<_>>());
    for (u, r) in &want {
        let got = |c: &str| val(&out, u, c);
        let n = |x: i64| Some(x as f64);
        let checks: Vec<(&str, Option<f64>)> = vec![
            ("sessions_7d", n(r.sessions_7d)),
            ("sessions_28d", n(r.sessions_28d)),
            ("avg_weekly_sessions_28d", Some(r.sessions_28d as f64 / 4.0)),
            ("active_days_30d", n(r.active_days_30d)),
            ("features_used_7d", n(r.features_used_7d)),
            ("features_used_30d", n(r.features_used_30d)),
            ("feature_breadth_30d", r.feature_breadth_30d),
            ("peak_week_features_84d", n(r.peak_week)),
            ("avg_session_minutes_28d", r.avg_session_minutes_28d),
            ("events_28d", n(r.events_28d)),
            ("days_since_last_seen", r.days_since_last_seen),
            ("median_session_gap_days", r.median_gap),
            ("tenure_days", r.tenure),
            ("invites_sent_30d", n(r.invites_30d)),
            ("pricing_page_views_14d", n(r.pricing_14d)),
            ("locked_feature_clicks_14d", n(r.locked_14d)),
            ("support_tickets_7d", n(r.support_7d)),
        ];
        for (c, expect) in checks {
            prop_assert!(close(got(c), expect), "user {} column {}: engine {:?}, reference {:?}", u, c, got(c), expect);
        }
        for (w, expect) in r.weeks.iter().enumerate() {
            let c = format!("sessions_week_{w}");
            prop_assert!(close(got(&c), n(*expect)), "user {} {}: {:?} vs {}", u, c, got(&c), expect);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_reference_derived_sessions(rows in prop::collection::vec(arb_event(false), 1..120)) {
        check(&rows, false)?;
    }

    #[test]
    fn engine_matches_reference_session_ids(rows in prop::collection::vec(arb_event(true), 1..120)) {
        check(&rows, true)?;
    }
}

/// The multi-snapshot pass gives, for every as-of time, exactly the table a run at that
/// time alone gives: every column, every user, the quality counts.
fn check_snapshots(rows: &[Ev], days_back: &[i64]) -> Result<(), TestCaseError> {
    check_snapshots_at(rows, &days_back.iter().map(|d| T - d * DAY).collect::<Vec<_>>())
}

fn check_snapshots_at(rows: &[Ev], at: &[i64]) -> Result<(), TestCaseError> {
    use strata_core::{AsOf, Config};
    use strata_features::{compute, compute_many, Input, Plan};
    let dir = tempfile::tempdir().unwrap();
    let p = write_events(dir.path(), "e.parquet", rows, false);
    let cfg = Config::default();
    let cols = strata_io::EventColumns::from_map(&cfg.columns);
    let src = strata_io::EventSource::open(&[p], &cols).unwrap();
    let plan = Plan::default();
    let input = Input { source: &src, users: None, config: &cfg, as_of: None, plan: &plan, progress: None };
    let times: Vec<(AsOf, &'static str)> = at.iter().map(|t| (AsOf(*t), "--as-of")).collect();
    let many = compute_many(input, &times).unwrap();
    prop_assert_eq!(many.len(), times.len());
    for (got, (t, _)) in many.iter().zip(&times) {
        let one = compute(Input { as_of: Some(*t), ..input }).unwrap();
        prop_assert_eq!(&got.table.keys, &one.table.keys);
        prop_assert_eq!(format!("{:?}", got.table.columns), format!("{:?}", one.table.columns));
        prop_assert_eq!(serde_json::to_string(&got.quality).unwrap(), serde_json::to_string(&one.quality).unwrap());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn one_pass_many_snapshots_equals_separate_runs(
        rows in proptest::collection::vec(arb_event(false), 1..80),
        days_back in proptest::collection::vec(0i64..40, 1..10),
    ) {
        check_snapshots(&rows, &days_back)?;
    }

    /// As-of times in the middle of sessions (events come every 10 minutes within an
    /// hour): the snapshots that derive their sessions from the latest one's must cut
    /// the session running across their time exactly as a run of their own does.
    #[test]
    fn snapshots_inside_sessions_equal_separate_runs(
        rows in proptest::collection::vec(arb_dense_event(), 1..80),
        at in proptest::collection::vec((0i64..8, 0i64..14), 1..5),
    ) {
        let times: Vec<i64> = at.iter().map(|(half_days, five)| T - half_days * DAY / 2 + five * 5 * MIN).collect();
        check_snapshots_at(&rows, &times)?;
    }
}

/// Events with revenue, an account per row and many duplicate rows (some adjacent,
/// some with rows of other times between): what the one-fold-per-row grid path of a
/// multi-snapshot scan must reproduce beyond the columns above.
fn arb_rich_rows() -> impl Strategy<Value = Vec<(Ev, Option<String>, u8)>> {
    let one = (
        0usize..3,
        -120i64..=4,
        0i64..3,
        0usize..EVENTS.len(),
        prop::option::of(0usize..FEATURES.len()),
        prop::option::of(0u32..4),
        prop::option::of(0usize..3),
        0u8..4,
    )
        .prop_map(|(u, half_days, tens, e, f, rev, acct, copies)| {
            let ev = Ev {
                user: Some(USERS[u].to_string()),
                ts: Some(T + half_days * DAY / 2 + tens * 10 * MIN),
                event: EVENTS[e].to_string(),
                feature: f.map(|f| FEATURES[f].to_string()),
                session: None,
                revenue: rev.map(|r| f64::from(r) * 2.5),
            };
            (ev, acct.map(|a| format!("acct{a}")), copies)
        });
    prop::collection::vec(one, 1..60)
}

/// The snapshots `days_back` days before `T`, computed in one pass, each beside a run
/// of its own.
fn with_separate_runs(
    input: strata_features::Input<'_>,
    days_back: &[i64],
) -> Vec<(strata_features::Output, strata_features::Output)> {
    use strata_core::AsOf;
    let times: Vec<(AsOf, &'static str)> = days_back.iter().map(|d| (AsOf(T - d * DAY), "--as-of")).collect();
    let many = strata_features::compute_many(input, &times).unwrap();
    many.into_iter()
        .zip(&times)
        .map(|(got, (t, _))| {
            (got, strata_features::compute(strata_features::Input { as_of: Some(*t), ..input }).unwrap())
        })
        .collect()
}

/// `rows` written by [`write_rich`] into a new folder (kept while the source is used),
/// opened as an event source with the default columns.
fn rich_source(rows: &[(Ev, Option<String>)]) -> (tempfile::TempDir, strata_io::EventSource) {
    let dir = tempfile::tempdir().unwrap();
    let p = write_rich(dir.path(), rows);
    let cols = strata_io::EventColumns::from_map(&strata_core::Config::default().columns);
    let src = strata_io::EventSource::open(&[p], &cols).unwrap();
    (dir, src)
}

fn write_rich(dir: &std::path::Path, rows: &[(Ev, Option<String>)]) -> std::path::PathBuf {
    use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
    use arrow_schema::{DataType, Field, Schema, TimeUnit};
    use std::sync::Arc;
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, true),
        Field::new("timestamp", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        Field::new("event", DataType::Utf8, false),
        Field::new("feature", DataType::Utf8, true),
        Field::new("revenue", DataType::Float64, true),
        Field::new("account_id", DataType::Utf8, true),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(rows.iter().map(|r| r.0.user.clone()).collect::<Vec<_>>())),
        Arc::new(TimestampMicrosecondArray::from(rows.iter().map(|r| r.0.ts).collect::<Vec<_>>())),
        Arc::new(StringArray::from(rows.iter().map(|r| Some(r.0.event.clone())).collect::<Vec<_>>())),
        Arc::new(StringArray::from(rows.iter().map(|r| r.0.feature.clone()).collect::<Vec<_>>())),
        Arc::new(Float64Array::from(rows.iter().map(|r| r.0.revenue).collect::<Vec<_>>())),
        Arc::new(StringArray::from(rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>())),
    ];
    // Row groups of 5 rows: the workers each take some, so a user's records are split
    // between them and merged.
    let path = dir.join("rich.parquet");
    let props = parquet::file::properties::WriterProperties::builder().set_max_row_group_row_count(Some(5)).build();
    let file = std::fs::File::create(&path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, schema.clone(), Some(props)).unwrap();
    w.write(&RecordBatch::try_new(schema, cols).unwrap()).unwrap();
    w.close().unwrap();
    path
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    /// Whole-day as-of offsets (the grid path) on rows with revenue, accounts and
    /// duplicates: every snapshot equals a run of its own, quality counts included.
    #[test]
    fn grid_snapshots_with_revenue_accounts_and_duplicates_equal_separate_runs(
        rich in arb_rich_rows(),
        days_back in proptest::collection::vec(0i64..50, 2..12),
        echo_at in proptest::collection::vec(0usize..60, 0..4),
    ) {
        use strata_core::Config;
        use strata_features::{Input, Plan};
        // Copies right after a row (adjacent duplicates), and copies of earlier rows
        // further on (duplicates with other rows between).
        let mut rows: Vec<(Ev, Option<String>)> = Vec::new();
        for (ev, acct, copies) in &rich {
            for _ in 0..=(*copies / 2) {
                rows.push((ev.clone(), acct.clone()));
            }
        }
        for &i in &echo_at {
            if let Some(r) = rows.get(i % rows.len()).cloned() {
                let at = (i * 7) % (rows.len() + 1);
                rows.insert(at, r.clone());
                rows.insert(at, r);
            }
        }
        let (_dir, src) = rich_source(&rows);
        let cfg = Config::default();
        let plan = Plan::default();
        let input = Input { source: &src, users: None, config: &cfg, as_of: None, plan: &plan, progress: None };
        for (got, one) in with_separate_runs(input, &days_back) {
            prop_assert_eq!(&got.table.keys, &one.table.keys);
            prop_assert_eq!(format!("{:?}", got.table.columns), format!("{:?}", one.table.columns));
            prop_assert_eq!(serde_json::to_string(&got.quality).unwrap(), serde_json::to_string(&one.quality).unwrap());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    /// Event counts over windows shorter than the data, longer than it and `all_time`
    /// (the grid path keeps the last two from snapshot to snapshot instead of summing
    /// them again): every snapshot's aggregates equal a run of its own.
    #[test]
    fn grid_snapshot_event_counts_over_every_window_equal_separate_runs(
        rich in arb_rich_rows(),
        days_back in proptest::collection::vec(0i64..50, 2..10),
    ) {
        use strata_core::Config;
        use strata_features::{Agg, Input, Plan};
        let rows: Vec<(Ev, Option<String>)> = rich.into_iter().map(|(e, a, _)| (e, a)).collect();
        let (_dir, src) = rich_source(&rows);
        let cfg = Config::default();
        let mut plan = Plan::new();
        for (name, days) in
            [("*", u32::MAX), ("*", 100), ("*", 3), ("invite_sent", u32::MAX), ("page_view", 200), ("page_view", 10)]
        {
            plan.add(Agg::EventCount { name: name.into(), days }).unwrap();
        }
        let input = Input { source: &src, users: None, config: &cfg, as_of: None, plan: &plan, progress: None };
        for (got, one) in with_separate_runs(input, &days_back) {
            prop_assert_eq!(&got.table.keys, &one.table.keys);
            prop_assert_eq!(&got.aggs, &one.aggs);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
    /// A plan that keeps only some columns gives exactly those, in the table's order,
    /// with the values of the full table (the account-user counts too, which need
    /// columns that are left out).
    #[test]
    fn kept_columns_equal_the_full_tables(
        rich in arb_rich_rows(),
        pick in proptest::collection::vec(any::<bool>(), 63),
        days_back in proptest::collection::vec(0i64..50, 1..4),
    ) {
        use strata_core::{AsOf, Config};
        use strata_features::{compute_many, feature_names, Input, Plan};
        let rows: Vec<(Ev, Option<String>)> = rich.into_iter().map(|(e, a, _)| (e, a)).collect();
        let (_dir, src) = rich_source(&rows);
        let cfg = Config::default();
        let names = feature_names();
        let wanted: Vec<String> =
            names.iter().zip(pick.iter().cycle()).filter(|(_, k)| **k).map(|(n, _)| n.clone()).collect();
        let mut some = Plan::new();
        some.keep_only_columns(wanted.iter().cloned().chain(["not_a_column".to_string()]));
        some.skip_feature_sets();
        let all = Plan::new();
        let times: Vec<(AsOf, &'static str)> = days_back.iter().map(|d| (AsOf(T - d * DAY), "--as-of")).collect();
        let input = Input { source: &src, users: None, config: &cfg, as_of: None, plan: &all, progress: None };
        let full = compute_many(input, &times).unwrap();
        let kept = compute_many(Input { plan: &some, ..input }, &times).unwrap();
        for (f, k) in full.iter().zip(&kept) {
            let got: Vec<&str> = k.table.columns.iter().map(|c| c.0.as_str()).collect();
            let want: Vec<&str> =
                f.table.columns.iter().map(|c| c.0.as_str()).filter(|n| wanted.iter().any(|w| w == n)).collect();
            prop_assert_eq!(&got, &want);
            for (name, col) in &k.table.columns {
                prop_assert_eq!(format!("{:?}", col), format!("{:?}", f.table.column(name).unwrap()));
            }
            prop_assert_eq!(&k.table.keys, &f.table.keys);
            prop_assert!(k.features_used.is_empty(), "the feature sets were skipped");
            prop_assert_eq!(f.features_used.len(), f.table.keys.len());
        }
    }
}

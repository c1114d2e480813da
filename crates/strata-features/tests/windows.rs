//! Every window edge and definition of contract sections 2 and 3, on tiny tables.

#![allow(clippy::unwrap_used)] // Tests may panic: that is how they fail.

mod common;
use common::*;
use strata_core::Config;
use strata_features::Plan;

#[test]
fn window_edges_are_half_open() {
    let dir = tempfile::tempdir().unwrap();
    let rows = vec![
        ev("a", T, "x"),                // exactly at T: in
        ev("a", T - 7 * DAY, "x"),      // exactly T - 7 days: out of 7d, in 28d
        ev("a", T - 7 * DAY + 1, "x"),  // just inside 7d
        ev("a", T - 28 * DAY, "x"),     // out of 28d
        ev("a", T + 1, "x"),            // after T: ignored
        ev("b", T - 28 * DAY + 1, "x"), // just inside 28d
    ];
    let p = write_events(dir.path(), "e.parquet", &rows, false);
    let out = run(&p, None);
    assert_eq!(val(&out, "a", "events_28d"), Some(3.0));
    assert_eq!(val(&out, "a", "events_7d"), Some(2.0));
    assert_eq!(val(&out, "b", "events_28d"), Some(1.0));
    assert_eq!(val(&out, "a", "events_total"), Some(4.0));
    assert_eq!(out.quality.rows_skipped.after_as_of, 1);
    // Sessions (gaps of days) start at T-28d, T-7d, T-7d+1us (same session as T-7d), T.
    assert_eq!(val(&out, "a", "sessions_7d"), Some(1.0), "the session starting at T-7d exactly is out");
    assert_eq!(val(&out, "a", "sessions_28d"), Some(2.0));
    assert_eq!(val(&out, "a", "avg_weekly_sessions_28d"), Some(0.5));
    assert_eq!(val(&out, "a", "days_since_last_seen"), Some(0.0));
    assert_eq!(val(&out, "b", "days_since_last_seen"), Some(28.0 - 1.0 / DAY as f64));
}

#[test]
fn a_session_counts_in_the_window_of_its_start() {
    let dir = tempfile::tempdir().unwrap();
    // Starts 10 minutes before T - 7d and runs 20 minutes into the window.
    let s = T - 7 * DAY - 10 * MIN;
    let rows = vec![ev("a", s, "x"), ev("a", s + 15 * MIN, "x"), ev("a", s + 30 * MIN, "x")];
    let p = write_events(dir.path(), "e.parquet", &rows, false);
    let out = run(&p, None);
    assert_eq!(val(&out, "a", "sessions_7d"), Some(0.0));
    assert_eq!(val(&out, "a", "sessions_28d"), Some(1.0));
    assert_eq!(val(&out, "a", "events_7d"), Some(2.0), "events count by their own time");
    assert_eq!(val(&out, "a", "avg_session_minutes_28d"), Some(30.0));
    assert_eq!(val(&out, "a", "events_per_session_28d"), Some(3.0));
}

#[test]
fn thirty_minute_gap_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let rows = vec![
        ev("same", T - DAY, "x"),
        ev("same", T - DAY + 30 * MIN, "x"), // exactly 30 minutes: same session
        ev("split", T - DAY, "x"),
        ev("split", T - DAY + 30 * MIN + 1, "x"), // one microsecond more: new session
    ];
    let p = write_events(dir.path(), "e.parquet", &rows, false);
    let out = run(&p, None);
    assert_eq!(val(&out, "same", "sessions_7d"), Some(1.0));
    assert_eq!(val(&out, "split", "sessions_7d"), Some(2.0));
    // A configured gap of 45 minutes joins both.
    let cfg = Config { session_gap_secs: 45 * 60, ..Config::default() };
    let out = run_with(&p, None, Some(T), &cfg, &Plan::new());
    assert_eq!(val(&out, "split", "sessions_7d"), Some(1.0));
}

#[test]
fn session_ids_define_sessions_when_present() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = vec![ev("a", T - 3 * HOUR, "x"), ev("a", T - HOUR, "x"), ev("a", T - 2 * HOUR, "x")];
    for r in &mut rows {
        r.session = Some("s1".into());
    }
    // Same id in another user is another session.
    let mut other = ev("b", T - HOUR, "x");
    other.session = Some("s1".into());
    rows.push(other);
    let p = write_events(dir.path(), "e.parquet", &rows, true);
    let out = run(&p, None);
    assert_eq!(val(&out, "a", "sessions_7d"), Some(1.0));
    assert_eq!(val(&out, "a", "avg_session_minutes_28d"), Some(120.0));
    assert_eq!(val(&out, "b", "sessions_7d"), Some(1.0));
}

#[test]
fn median_session_gap_even_and_odd() {
    let dir = tempfile::tempdir().unwrap();
    let at = |d: i64| T - 20 * DAY + d * DAY;
    // odd: starts 0,1,3,6 -> gaps 1,2,3 -> 2
    // even: starts 0,1,3,7,8 -> gaps 1,2,4,1 -> (1+2)/2 = 1.5
    let mut rows: Vec<Ev> = [0, 1, 3, 6].iter().map(|d| ev("odd", at(*d), "x")).collect();
    rows.extend([0, 1, 3, 7, 8].iter().map(|d| ev("even", at(*d), "x")));
    rows.push(ev("one", at(0), "x"));
    let p = write_events(dir.path(), "e.parquet", &rows, false);
    let out = run(&p, None);
    assert_eq!(val(&out, "odd", "median_session_gap_days"), Some(2.0));
    assert_eq!(val(&out, "even", "median_session_gap_days"), Some(1.5));
    assert_eq!(val(&out, "one", "median_session_gap_days"), None, "null under 2 sessions");
}

#[test]
fn features_breadth_and_peak_week() {
    let dir = tempfile::tempdir().unwrap();
    let rows = vec![
        evf("a", T - HOUR, "f1"),
        evf("a", T - 2 * DAY, "f2"),
        evf("a", T - 10 * DAY, "f3"),
        evf("a", T - 10 * DAY + MIN, "f4"),
        evf("a", T - 10 * DAY + 2 * MIN, "f1"),
        evf("a", T - 40 * DAY, "f5"),
        evf("b", T - HOUR, "f6"),
        Ev { feature: None, ..ev("b", T - HOUR, "page_view") },
    ];
    let p = write_events(dir.path(), "e.parquet", &rows, false);
    let out = run(&p, None);
    assert_eq!(val(&out, "a", "features_used_7d"), Some(2.0));
    assert_eq!(val(&out, "a", "features_used_30d"), Some(4.0));
    assert_eq!(val(&out, "a", "feature_breadth_30d"), Some(4.0 / 6.0), "catalog = 6 features seen");
    // week 0: f1, f2; week 1: f3, f4, f1 -> 3
    assert_eq!(val(&out, "a", "peak_week_features_84d"), Some(3.0));
    assert_eq!(val(&out, "a", "features_week_0"), Some(2.0));
    assert_eq!(val(&out, "b", "features_used_7d"), Some(1.0));
    // A configured catalog sets the denominator and what counts.
    let mut cfg =
        Config { catalog: Some(vec!["f1".into(), "f2".into(), "f3".into(), "f9".into()]), ..Config::default() };
    let out = run_with(&p, None, Some(T), &cfg, &Plan::new());
    assert_eq!(val(&out, "a", "features_used_30d"), Some(3.0));
    assert_eq!(val(&out, "a", "feature_breadth_30d"), Some(0.75));
    assert_eq!(val(&out, "b", "feature_breadth_30d"), Some(0.0));
    cfg.catalog = Some(vec![]);
    let out = run_with(&p, None, Some(T), &cfg, &Plan::new());
    assert_eq!(val(&out, "a", "feature_breadth_30d"), None, "null when the catalog is empty");
}

#[test]
fn active_days_streaks_and_weeks() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows: Vec<Ev> = (0..5).map(|d| ev("a", T - d * DAY - HOUR, "x")).collect();
    rows.extend((10..13).map(|d| ev("a", T - d * DAY - HOUR, "x")));
    rows.push(ev("a", T - 29 * DAY - HOUR, "x")); // day 29: in 30d
    rows.push(ev("a", T - 30 * DAY - HOUR, "x")); // day 30: out
    let p = write_events(dir.path(), "e.parquet", &rows, false);
    let out = run(&p, None);
    assert_eq!(val(&out, "a", "active_days_30d"), Some(9.0));
    assert_eq!(val(&out, "a", "longest_streak_days_84d"), Some(5.0));
    assert_eq!(val(&out, "a", "current_streak_days"), Some(5.0));
    // days 0-4 -> week 0, 10-12 -> week 1, 29 -> week 4, 30 -> week 4
    assert_eq!(val(&out, "a", "active_weeks_84d"), Some(3.0));
}

#[test]
fn users_table_signup_tenure_and_exclusion() {
    let dir = tempfile::tempdir().unwrap();
    let rows = vec![
        ev("early", T - 50 * DAY, "x"),
        ev("late", T - 5 * DAY, "x"), // signs up after T: these count as before signup
        ev("late", T - 4 * DAY, "x"),
        ev("stranger", T - 2 * DAY, "x"),
    ];
    let p = write_events(dir.path(), "e.parquet", &rows, false);
    let u = write_users(
        dir.path(),
        &[("early", Some(T - 100 * DAY)), ("late", Some(T + DAY)), ("quiet", Some(T - DAY)), ("nosignup", None)],
    );
    let out = run(&p, Some(&u));
    assert_eq!(users_of(&out), vec!["early", "nosignup", "quiet", "stranger"], "sorted by user_id");
    assert_eq!(val(&out, "early", "tenure_days"), Some(100.0), "tenure from signup_at");
    assert_eq!(val(&out, "stranger", "tenure_days"), Some(2.0), "tenure from the first event");
    assert_eq!(val(&out, "quiet", "tenure_days"), Some(1.0));
    assert_eq!(val(&out, "quiet", "sessions_28d"), Some(0.0), "counts are 0, not null");
    assert_eq!(val(&out, "quiet", "days_since_last_seen"), None);
    assert_eq!(val(&out, "quiet", "avg_session_minutes_28d"), None);
    assert_eq!(val(&out, "nosignup", "tenure_days"), None);
    let q = &out.quality;
    assert_eq!(q.events_before_signup, 2);
    assert_eq!(q.users_signing_up_after_as_of, 1);
    assert_eq!(q.users_missing_from_users_table, 1);
    assert_eq!(q.users_without_events, 2);
}

#[test]
fn nulls_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let rows = vec![
        ev("a", T - DAY, "x"),
        Ev { user: None, ..ev("a", T - DAY, "x") },
        Ev { ts: None, ..ev("a", T - DAY, "x") },
        Ev { ts: None, ..ev("a", T - DAY, "x") },
        ev("b", T - DAY, "x"),
        ev("b", T - DAY, "x"), // identical to the used row just before it: a duplicate
    ];
    let p = write_events(dir.path(), "e.parquet", &rows, false);
    let out = run(&p, None);
    let q = &out.quality;
    assert_eq!(q.rows_read, 6);
    assert_eq!(q.rows_skipped.null_user_id, 1);
    assert_eq!(q.rows_skipped.null_timestamp, 2);
    assert_eq!(q.rows_used, 3);
    assert_eq!(q.duplicate_rows, 1);
    assert_eq!(val(&out, "b", "events_total"), Some(2.0), "duplicates are counted, not removed");
}

#[test]
fn signals_map_through_config_and_plan_aggregates_use_any_window() {
    let dir = tempfile::tempdir().unwrap();
    let rows = vec![
        ev("a", T - DAY, "Pricing Viewed"),
        ev("a", T - 13 * DAY, "pricing_page_viewed"),
        ev("a", T - 14 * DAY, "Pricing Viewed"),   // out of 14d
        ev("a", T - 2 * DAY, "pricing_page_view"), // the key itself is not mapped any more
        ev("a", T - DAY, "invite_sent"),
        ev("a", T - 3 * DAY, "support_ticket"),
        ev("a", T - 100 * DAY, "Custom Thing"),
    ];
    let p = write_events(dir.path(), "e.parquet", &rows, false);
    let cfg = strata_core::Config::from_str_at(
        "[signals]\npricing_page_view = [\"Pricing Viewed\", \"pricing_page_viewed\"]\n",
        std::path::Path::new("t.toml"),
    )
    .unwrap();
    let mut plan = Plan::new();
    let custom = plan.add(strata_features::Agg::EventCount { name: "Custom Thing".into(), days: 101 }).unwrap();
    let custom_short = plan.add(strata_features::Agg::EventCount { name: "Custom Thing".into(), days: 100 }).unwrap();
    let sess = plan.add(strata_features::Agg::SessionCount { days: 3 }).unwrap();
    let weekly = plan.add(strata_features::Agg::AvgWeeklySessions { days: 14 }).unwrap();
    let feats = plan.add(strata_features::Agg::DistinctFeatures { days: 5 }).unwrap();
    let active = plan.add(strata_features::Agg::ActiveDays { days: 2 }).unwrap();
    assert!(plan.add(strata_features::Agg::SessionCount { days: 0 }).is_err());
    let out = run_with(&p, None, Some(T), &cfg, &plan);
    assert_eq!(val(&out, "a", "pricing_page_views_14d"), Some(2.0));
    assert_eq!(val(&out, "a", "invites_sent_30d"), Some(1.0));
    assert_eq!(val(&out, "a", "support_tickets_7d"), Some(1.0));
    assert_eq!(out.aggs[custom.0], vec![1.0]);
    assert_eq!(out.aggs[custom_short.0], vec![0.0]);
    // sessions start at days 1, 2, 3 (and 13, 14, 100): last 3 days -> days 1, 2
    assert_eq!(out.aggs[sess.0], vec![2.0]);
    // sessions starting in the last 14 days: days 1, 2, 3, 13 -> 4 / 2 weeks
    assert_eq!(out.aggs[weekly.0], vec![2.0]);
    assert_eq!(out.aggs[feats.0], vec![0.0]);
    assert_eq!(out.aggs[active.0], vec![1.0]);
}

#[test]
fn revenue_accounts_and_activation() {
    let dir = tempfile::tempdir().unwrap();
    let rows = vec![
        Ev { revenue: Some(10.25), ..ev("a", T - DAY, "payment_succeeded") },
        Ev { revenue: Some(0.1), ..ev("a", T - 40 * DAY, "payment_succeeded") },
        ev("a", T - 2 * DAY, "project_created"),
        ev("a", T - 2 * DAY, "invite_sent"),
        ev("b", T - 2 * DAY, "task_added"),
    ];
    let p = write_events(dir.path(), "e.parquet", &rows, false);
    let out = run(&p, None);
    assert_eq!(val(&out, "a", "revenue_total"), Some(10.35));
    assert_eq!(val(&out, "a", "revenue_30d"), Some(10.25));
    assert_eq!(val(&out, "a", "activation_points"), Some(45.0));
    assert_eq!(val(&out, "a", "activation_milestones_reached"), Some(2.0));
    assert_eq!(val(&out, "b", "activation_points"), Some(15.0));
    assert_eq!(val(&out, "b", "revenue_total"), Some(0.0));
}

#[test]
fn weekly_baseline_and_change() {
    let dir = tempfile::tempdir().unwrap();
    // 4 sessions a week in weeks 1..=4, 1 in week 0; signed up 5 weeks ago.
    let mut rows = Vec::new();
    for w in 1..=4 {
        for s in 0..4 {
            rows.push(ev("a", T - w * 7 * DAY - s * DAY - HOUR, "x"));
        }
    }
    rows.push(ev("a", T - HOUR, "x"));
    let p = write_events(dir.path(), "e.parquet", &rows, false);
    let u = write_users(dir.path(), &[("a", Some(T - 35 * DAY))]);
    let out = run(&p, Some(&u));
    assert_eq!(val(&out, "a", "sessions_week_0"), Some(1.0));
    assert_eq!(val(&out, "a", "sessions_week_1"), Some(4.0));
    assert_eq!(val(&out, "a", "trailing_4w_avg_sessions"), Some(4.0));
    assert_eq!(val(&out, "a", "baseline_weeks"), Some(5.0));
    // weeks 1..=5: 4,4,4,4,0
    assert_eq!(val(&out, "a", "baseline_weekly_sessions_mean"), Some(3.2));
    assert_eq!(val(&out, "a", "baseline_weekly_sessions_median"), Some(4.0));
    assert_eq!(val(&out, "a", "wow_session_change"), Some(-0.75));
    assert_eq!(val(&out, "a", "session_change_vs_baseline"), Some((1.0 - 3.2) / 3.2));
}

/// Duplicates are looked for within windows of 32,768 rows from the row group's start,
/// whatever size the decoder's batches are: a copy right across a decoder batch
/// boundary inside a window counts, a copy right across a window boundary does not.
#[test]
fn duplicate_window_spans_decoder_batches() {
    assert_eq!(1 << 15, 4 * strata_io::BATCH_ROWS, "this test places copies at the decoder's batch edges");
    let dir = tempfile::tempdir().unwrap();
    let mut rows: Vec<Ev> = (0..70_000).map(|i| ev(&format!("u{}", i % 7), T - DAY + i as i64, "x")).collect();
    rows[101] = rows[100].clone(); // inside the first batch: counted
    let b = strata_io::BATCH_ROWS;
    rows[b] = rows[b - 1].clone(); // across the first batch edge, inside the window: counted
    rows[1 << 15] = rows[(1 << 15) - 1].clone(); // across the window edge: not counted
    let p = write_events(dir.path(), "e.parquet", &rows, false);
    let out = run(&p, None);
    assert_eq!(out.quality.rows_used, 70_000);
    assert_eq!(out.quality.duplicate_rows, 2);
}

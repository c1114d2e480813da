//! The `strata` binary end to end: commands, exit codes, messages, outputs, and every
//! bad input of issue #2.

#![allow(clippy::unwrap_used)] // Tests may panic: that is how they fail.

use arrow_array::{
    ArrayRef, Float64Array, Int64Array, LargeStringArray, RecordBatch, StringArray, TimestampMicrosecondArray,
    TimestampMillisecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

const DAY: i64 = 86_400_000_000;
const T: i64 = 20_000 * DAY;

fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata")).args(args).output().expect("run strata")
}

fn strata_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_strata"));
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run strata")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(path: &Path, fields: Vec<Field>, cols: Vec<ArrayRef>) -> PathBuf {
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
    let f = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    path.to_path_buf()
}

fn events(path: &Path, users: &[Option<&str>], ts: &[Option<i64>], ev: &[&str]) -> PathBuf {
    write(
        path,
        vec![
            Field::new("user_id", DataType::Utf8, true),
            Field::new("timestamp", DataType::Timestamp(TimeUnit::Microsecond, None), true),
            Field::new("event", DataType::Utf8, false),
        ],
        vec![
            Arc::new(StringArray::from(users.to_vec())),
            Arc::new(TimestampMicrosecondArray::from(ts.to_vec())),
            Arc::new(StringArray::from(ev.to_vec())),
        ],
    )
}

fn simple_events(dir: &Path) -> PathBuf {
    events(
        &dir.join("events.parquet"),
        &[Some("a"), Some("b"), Some("a")],
        &[Some(T - DAY), Some(T - 2 * DAY), Some(T)],
        &["x", "y", "x"],
    )
}

/// Asserts exit code 2, one message containing every `needle`, and that `out` was not written.
fn bad_input(o: &Output, needles: &[&str], out: &Path) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert!(err.starts_with("error: "), "{err}");
    for n in needles {
        assert!(err.contains(n), "expected {n:?} in {err}");
    }
    assert!(!out.exists(), "no output may be written on bad input");
    if let Some(dir) = out.parent() {
        if dir.exists() {
            let tmp: Vec<_> = std::fs::read_dir(dir)
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
                .collect();
            assert!(tmp.is_empty(), "temporary files left behind: {tmp:?}");
        }
    }
}

fn features(dir: &Path, events: &Path, extra: &[&str]) -> (Output, PathBuf) {
    let out = dir.join("out").join("features.parquet");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let mut args = vec!["features", "--events", events.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    (strata(&args), out)
}

fn read_batches(path: &Path) -> Vec<RecordBatch> {
    let f = std::fs::File::open(path).unwrap();
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

#[test]
fn features_writes_table_and_quality_summary() {
    let dir = tempfile::tempdir().unwrap();
    let ev = simple_events(dir.path());
    let (o, out) = features(dir.path(), &ev, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let b = read_batches(&out);
    let schema = b[0].schema();
    let names: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).take(18).collect();
    assert_eq!(
        names,
        [
            "user_id",
            "sessions_7d",
            "sessions_28d",
            "avg_weekly_sessions_28d",
            "active_days_30d",
            "features_used_7d",
            "features_used_30d",
            "feature_breadth_30d",
            "peak_week_features_84d",
            "avg_session_minutes_28d",
            "events_28d",
            "days_since_last_seen",
            "median_session_gap_days",
            "tenure_days",
            "invites_sent_30d",
            "pricing_page_views_14d",
            "locked_feature_clicks_14d",
            "support_tickets_7d"
        ],
        "contract section 3 columns first, in order"
    );
    assert_eq!(schema.field(1).data_type(), &DataType::Int64);
    assert_eq!(schema.field(3).data_type(), &DataType::Float64);
    assert_eq!(b[0].num_rows(), 2);
    let q: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/features.quality.json")).unwrap()).unwrap();
    assert_eq!(q["rows_read"], 3);
    assert_eq!(q["as_of_source"], "latest event");
    assert!(stderr(&o).contains("wrote"), "{}", stderr(&o));
}

#[test]
fn missing_required_column() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir.path().join("e.parquet"),
        vec![Field::new("user_id", DataType::Utf8, false), Field::new("event", DataType::Utf8, false)],
        vec![Arc::new(StringArray::from(vec!["a"])), Arc::new(StringArray::from(vec!["x"]))],
    );
    let (o, out) = features(dir.path(), &p, &[]);
    bad_input(&o, &["e.parquet", "no column 'timestamp'", "user_id, event", "[columns]"], &out);
}

#[test]
fn column_of_a_type_the_contract_does_not_accept() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir.path().join("e.parquet"),
        vec![
            Field::new("user_id", DataType::Utf8, false),
            Field::new("timestamp", DataType::Utf8, false),
            Field::new("event", DataType::Utf8, false),
        ],
        vec![
            Arc::new(StringArray::from(vec!["a"])),
            Arc::new(StringArray::from(vec!["2026-01-01"])),
            Arc::new(StringArray::from(vec!["x"])),
        ],
    );
    let (o, out) = features(dir.path(), &p, &[]);
    bad_input(&o, &["e.parquet", "'timestamp'", "type Utf8", "Timestamp(any unit"], &out);
}

#[test]
fn not_parquet_truncated_and_empty_files() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.parquet");
    std::fs::write(&text, "user_id,timestamp,event\na,2026-01-01,x\n").unwrap();
    let (o, out) = features(dir.path(), &text, &[]);
    bad_input(&o, &["notes.parquet", "not a readable Parquet file"], &out);

    let good = simple_events(dir.path());
    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.path().join("cut.parquet");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let (o, out) = features(dir.path(), &cut, &[]);
    bad_input(&o, &["cut.parquet", "not a readable Parquet file"], &out);

    let empty = dir.path().join("empty.parquet");
    std::fs::write(&empty, b"").unwrap();
    let (o, out) = features(dir.path(), &empty, &[]);
    bad_input(&o, &["empty.parquet", "0 bytes"], &out);
}

#[test]
fn zero_row_file_still_gives_users_table_rows() {
    let dir = tempfile::tempdir().unwrap();
    let ev = events(&dir.path().join("e.parquet"), &[], &[], &[]);
    let users = write(
        &dir.path().join("users.parquet"),
        vec![
            Field::new("user_id", DataType::Utf8, false),
            Field::new("signup_at", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        ],
        vec![
            Arc::new(StringArray::from(vec!["u1", "u2"])),
            Arc::new(TimestampMicrosecondArray::from(vec![Some(T - DAY), None])),
        ],
    );
    let (o, out) = features(dir.path(), &ev, &["--users", users.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let b = read_batches(&out);
    assert_eq!(b.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
    std::fs::remove_file(&out).unwrap();
    // With neither events nor signups there is no default as-of time.
    let (o, out) = features(dir.path(), &ev, &[]);
    bad_input(&o, &["--as-of"], &out);
    let (o, _) = features(dir.path(), &ev, &["--as-of", "2026-01-01T00:00:00Z"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn null_user_ids_and_timestamps_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let ev = events(
        &dir.path().join("e.parquet"),
        &[Some("a"), None, Some("b"), Some("c")],
        &[Some(T), Some(T), None, Some(T + DAY)],
        &["x", "x", "x", "x"],
    );
    let (o, out) = features(dir.path(), &ev, &["--as-of", "2024-10-04T00:00:00Z"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let q: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.with_file_name("features.quality.json")).unwrap()).unwrap();
    assert_eq!(q["rows_skipped"]["null_user_id"], 1);
    assert_eq!(q["rows_skipped"]["null_timestamp"], 1);
    assert_eq!(q["rows_skipped"]["after_as_of"], 1);
    assert_eq!(q["users_out"], 1);
    assert!(stderr(&o).contains("null user_id 1"), "{}", stderr(&o));
}

#[test]
fn duplicate_user_in_users_table() {
    let dir = tempfile::tempdir().unwrap();
    let ev = simple_events(dir.path());
    let users = write(
        &dir.path().join("users.parquet"),
        vec![Field::new("user_id", DataType::Utf8, false)],
        vec![Arc::new(StringArray::from(vec!["u1", "u2", "u1"]))],
    );
    let (o, out) = features(dir.path(), &ev, &["--users", users.to_str().unwrap()]);
    bad_input(&o, &["users.parquet", "'u1' appears more than once"], &out);
}

#[test]
fn a_directory_with_mixed_timestamp_units_and_string_types_loads() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("events");
    std::fs::create_dir_all(d.join("day=1")).unwrap();
    std::fs::create_dir_all(d.join("day=2")).unwrap();
    events(&d.join("day=1/part-0.parquet"), &[Some("a"), Some("b")], &[Some(T - DAY), Some(T - DAY)], &["x", "x"]);
    write(
        &d.join("day=2/part-0.parquet"),
        vec![
            Field::new("user_id", DataType::LargeUtf8, false),
            Field::new("timestamp", DataType::Timestamp(TimeUnit::Millisecond, Some("+02:00".into())), false),
            Field::new("event", DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::Utf8)), false),
        ],
        vec![
            Arc::new(LargeStringArray::from(vec!["a"])),
            Arc::new(TimestampMillisecondArray::from(vec![T / 1000]).with_timezone("+02:00")),
            Arc::new(arrow_array::DictionaryArray::<arrow_array::types::Int8Type>::from_iter(["x"])),
        ],
    );
    let (o, out) = features(dir.path(), &d, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let b = read_batches(&out);
    let col = |name: &str| b[0].column_by_name(name).unwrap().as_any().downcast_ref::<Int64Array>().unwrap().clone();
    assert_eq!(col("events_28d").values().to_vec(), vec![2, 1]);
    assert_eq!(col("sessions_7d").values().to_vec(), vec![2, 1]);
}

#[test]
fn integer_ids_mixed_with_string_ids_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("events");
    std::fs::create_dir_all(&d).unwrap();
    events(&d.join("a.parquet"), &[Some("a")], &[Some(T)], &["x"]);
    write(
        &d.join("b.parquet"),
        vec![
            Field::new("user_id", DataType::Int64, false),
            Field::new("timestamp", DataType::Timestamp(TimeUnit::Microsecond, None), false),
            Field::new("event", DataType::Utf8, false),
        ],
        vec![
            Arc::new(Int64Array::from(vec![7])),
            Arc::new(TimestampMicrosecondArray::from(vec![T])),
            Arc::new(StringArray::from(vec!["x"])),
        ],
    );
    let (o, out) = features(dir.path(), &d, &[]);
    bad_input(&o, &["b.parquet", "integer", "a.parquet"], &out);
}

#[test]
fn as_of_that_does_not_parse() {
    let dir = tempfile::tempdir().unwrap();
    let ev = simple_events(dir.path());
    let (o, out) = features(dir.path(), &ev, &["--as-of", "last tuesday"]);
    bad_input(&o, &["--as-of", "'last tuesday'", "RFC 3339"], &out);
}

#[test]
fn output_folder_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let ev = simple_events(dir.path());
    let out = dir.path().join("nowhere/features.parquet");
    let o = strata(&["features", "--events", ev.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    bad_input(&o, &["nowhere", "does not exist"], &out);
}

#[test]
fn output_path_equal_to_input_is_refused_and_input_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let ev = simple_events(dir.path());
    let before = std::fs::read(&ev).unwrap();
    let o = strata(&["features", "--events", ev.to_str().unwrap(), "--out", ev.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is also an input"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&ev).unwrap(), before);
}

#[test]
fn missing_events_path_and_bad_usage() {
    let o = strata(&["features", "--events", "/definitely/not/here.parquet", "--out", "x.parquet"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no such file or folder"), "{}", stderr(&o));
    let o = strata(&["features", "--out", "x.parquet"]);
    assert_eq!(o.status.code(), Some(2), "missing --events is bad usage");
    let o = strata(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    let o = strata(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let help = String::from_utf8_lossy(&o.stdout);
    for cmd in ["demo", "generate", "features"] {
        assert!(help.contains(cmd), "{help}");
    }
}

#[test]
fn config_maps_posthog_and_amplitude_column_names() {
    let dir = tempfile::tempdir().unwrap();
    let ev = write(
        &dir.path().join("amplitude.parquet"),
        vec![
            Field::new("user_id", DataType::Utf8, false),
            Field::new("event_type", DataType::Utf8, false),
            Field::new("event_time", DataType::Timestamp(TimeUnit::Microsecond, None), false),
            Field::new("session_id", DataType::Int64, false),
        ],
        vec![
            Arc::new(StringArray::from(vec!["a", "a", "a"])),
            Arc::new(StringArray::from(vec!["Pricing Viewed", "x", "x"])),
            Arc::new(TimestampMicrosecondArray::from(vec![T - 3 * 3_600_000_000, T - 3_600_000_000, T])),
            Arc::new(Int64Array::from(vec![1, 1, 2])),
        ],
    );
    let cfg = dir.path().join("strata.toml");
    std::fs::write(
        &cfg,
        "[columns]\nevent = \"event_type\"\ntimestamp = \"event_time\"\n\n[signals]\npricing_page_view = \"Pricing Viewed\"\n",
    )
    .unwrap();
    let (o, out) = features(dir.path(), &ev, &["--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let b = read_batches(&out);
    let col = |name: &str| b[0].column_by_name(name).unwrap().as_any().downcast_ref::<Int64Array>().unwrap().value(0);
    assert_eq!(col("sessions_7d"), 2, "two session ids");
    assert_eq!(col("pricing_page_views_14d"), 1);

    // PostHog: distinct_id, through the --col flag.
    let ph = write(
        &dir.path().join("posthog.parquet"),
        vec![
            Field::new("distinct_id", DataType::Utf8, false),
            Field::new("event", DataType::Utf8, false),
            Field::new("timestamp", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
        ],
        vec![
            Arc::new(StringArray::from(vec!["p"])),
            Arc::new(StringArray::from(vec!["$pageview"])),
            Arc::new(TimestampMicrosecondArray::from(vec![T]).with_timezone("UTC")),
        ],
    );
    let (o, _) = features(dir.path(), &ph, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no column 'user_id'"), "{}", stderr(&o));
    let (o, _) = features(dir.path(), &ph, &["--col-user-id", "distinct_id"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // A config error names the file, line and column.
    std::fs::write(&cfg, "[columns]\nuser_id = 3\n").unwrap();
    let (o, out) = features(dir.path(), &ev, &["--config", cfg.to_str().unwrap()]);
    let _ = out;
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("strata.toml:2:"), "{}", stderr(&o));
}

#[test]
fn generate_is_deterministic_and_features_are_identical_across_thread_counts() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    for d in [&a, &b] {
        let o =
            strata(&["-q", "generate", "--users", "600", "--days", "40", "--seed", "3", "--out", d.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    for f in ["events.parquet", "users.parquet", "personas.parquet"] {
        assert_eq!(std::fs::read(a.join(f)).unwrap(), std::fs::read(b.join(f)).unwrap(), "{f} differs per run");
    }
    let ev = a.join("events.parquet");
    let users = a.join("users.parquet");
    let mut outs = Vec::new();
    for threads in ["1", "2", "3"] {
        let out = dir.path().join(format!("f{threads}.parquet"));
        let o = strata_env(
            &[
                "-q",
                "features",
                "--events",
                ev.to_str().unwrap(),
                "--users",
                users.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            &[("RAYON_NUM_THREADS", threads)],
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        outs.push(std::fs::read(out).unwrap());
    }
    assert_eq!(outs[0], outs[1], "1 vs 2 threads");
    assert_eq!(outs[0], outs[2], "1 vs 3 threads");
    // Weekly snapshots (the day-grid path): the same bytes whatever the thread count.
    let mut snaps = Vec::new();
    for threads in ["1", "2"] {
        let out = dir.path().join(format!("s{threads}"));
        std::fs::create_dir(&out).unwrap();
        let o = strata_env(
            &[
                "-q",
                "snapshots",
                "--events",
                ev.to_str().unwrap(),
                "--users",
                users.to_str().unwrap(),
                "--every",
                "7d",
                "--out",
                out.to_str().unwrap(),
            ],
            &[("RAYON_NUM_THREADS", threads)],
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let files = ["segments_over_time.parquet", "transitions.parquet", "membership_changes.parquet"];
        snaps.push(files.map(|f| std::fs::read(out.join(f)).unwrap()));
    }
    assert!(snaps[0][0].len() > 1000, "a real segments file");
    assert_eq!(snaps[0], snaps[1], "snapshots: 1 vs 2 threads");
}

#[test]
fn demo_runs_end_to_end_on_a_small_sample() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let o = strata(&["demo", "--users", "300", "--days", "30", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for f in [
        "data/events.parquet",
        "data/users.parquet",
        "data/personas.parquet",
        "features.parquet",
        "features.quality.json",
        "segments.parquet",
        "clusters.parquet",
        "clusters.profiles.json",
        "model.json",
        "report/report.md",
        "report/report.html",
        "report/report.json",
        "report/misfiled.parquet",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let rows: usize = read_batches(&out.join("features.parquet")).iter().map(|b| b.num_rows()).sum();
    let q: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("features.quality.json")).unwrap()).unwrap();
    // Every generated user has a row, except those who sign up after the latest event.
    assert_eq!(rows as u64 + q["users_signing_up_after_as_of"].as_u64().unwrap(), 300);
    assert!(rows > 280, "{rows}");
    // The demo ends with where the report is and three findings.
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("demo done") && stdout.contains("report.html"), "{stdout}");
    assert!(stdout.contains("  1. ") && stdout.contains("  3. "), "{stdout}");
    check_report(&out.join("report"), rows);
}

/// Every report file is there and readable, and report.json holds contract section 6.
fn check_report(dir: &Path, users: usize) {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["users"].as_u64(), Some(users as u64));
    let mapping = json["mapping"].as_array().expect("mapping");
    assert!(!mapping.is_empty());
    for m in mapping {
        assert!(m["family"].is_string());
        for k in ["ari", "nmi", "v_measure", "homogeneity", "completeness"] {
            let v = m[k].as_f64().unwrap_or(f64::NAN);
            assert!((-1.0..=1.0).contains(&v), "{k} = {v}");
        }
        let total: u64 = m["contingency"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap())
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(total, users as u64, "contingency counts every user once");
    }
    assert_eq!(json["headlines"].as_array().map(Vec::len), Some(3));
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("# Segmentation Strategy") && md.contains("## Data Foundation"));
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("<svg") && !html.contains("<script"));
    let _ = read_batches(&dir.join("misfiled.parquet"));
}

#[test]
fn run_then_report_again_and_a_failed_report_leaves_the_earlier_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let o = strata(&["generate", "--users", "400", "--days", "40", "--seed", "3", "--out", data.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = dir.path().join("run");
    let p = |f: &str| data.join(f).to_str().unwrap().to_string();
    let o = strata(&[
        "run",
        "--events",
        &p("events.parquet"),
        "--users",
        &p("users.parquet"),
        "--k",
        "4",
        "--personas",
        &p("personas.parquet"),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let users: usize = read_batches(&out.join("features.parquet")).iter().map(|b| b.num_rows()).sum();
    check_report(&out.join("report"), users);
    // Generated users belong to accounts: the account-level sales tiers are written.
    let acc = &read_batches(&out.join("accounts.parquet"))[0];
    let tiers = acc.column_by_name("sales_tier").unwrap().as_any().downcast_ref::<StringArray>().unwrap().clone();
    assert!(acc.num_rows() > 0);
    assert!((0..acc.num_rows()).all(|i| tiers.value(i).starts_with("Tier ")));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report/report.json")).unwrap()).unwrap();
    assert!(json["personas"]["clusters"]["ari"].is_number());
    // `strata report` on the same files gives the same report.md.
    let again = dir.path().join("again");
    let f = |x: &str| out.join(x).to_str().unwrap().to_string();
    let o = strata(&[
        "report",
        "--features",
        &f("features.parquet"),
        "--segments",
        &f("segments.parquet"),
        "--clusters",
        &f("clusters.parquet"),
        "--personas",
        &p("personas.parquet"),
        "--rules",
        &f("strata.rules"),
        "--out",
        again.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let first = std::fs::read_to_string(out.join("report/report.md")).unwrap();
    assert_eq!(std::fs::read_to_string(again.join("report.md")).unwrap(), first);
    // A bad input fails with exit 2 and leaves the earlier report as it was.
    let o = strata(&[
        "report",
        "--features",
        &f("features.parquet"),
        "--segments",
        &f("clusters.parquet"),
        "--clusters",
        &f("clusters.parquet"),
        "--out",
        again.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("segment"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(again.join("report.md")).unwrap(), first);
    let leftovers: Vec<_> = std::fs::read_dir(&again).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 4, "{leftovers:?}");
    // Outcomes 14 days before the end of the data (2026-10-21 to 2026-11-29): ICP by users and by accounts, recommendations,
    // and the report's sections for them.
    let oc = dir.path().join("outcomes");
    let o = strata(&[
        "-q",
        "outcomes",
        "--events",
        &p("events.parquet"),
        "--users",
        &p("users.parquet"),
        "--as-of",
        "2026-11-14T00:00:00Z",
        "--horizon",
        "14d",
        "--out",
        oc.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(oc.join("outcomes.json")).unwrap()).unwrap();
    let accounts = j["icp"]["accounts"].as_u64().unwrap();
    assert!(accounts >= 5, "{}", j["icp"]);
    assert_eq!(j["insights"]["icp_account_groups"].as_u64().unwrap(), (accounts as f64 * 0.2).round() as u64);
    assert!(!j["insights"]["icp_accounts"].as_array().unwrap().is_empty());
    assert!(j["insights"]["icp_accounts"].as_array().unwrap().iter().all(|a| a["top_share"].as_f64().unwrap() <= 1.0));
    let with = dir.path().join("with-outcomes");
    let o = strata(&[
        "-q",
        "report",
        "--features",
        &f("features.parquet"),
        "--segments",
        &f("segments.parquet"),
        "--clusters",
        &f("clusters.parquet"),
        "--rules",
        &f("strata.rules"),
        "--outcomes",
        oc.join("outcomes.json").to_str().unwrap(),
        "--out",
        with.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let md = std::fs::read_to_string(with.join("report.md")).unwrap();
    for section in
        ["## Ideal customer profile: users", "## Ideal customer profile: accounts", "## Feature recommendations"]
    {
        assert!(md.contains(section), "{section} missing");
    }
}

/// Opens report.html in headless Chromium: no console message, no failed request, and a
/// screenshot that is not blank. `.ci/run` installs Debian's chromium and sets
/// STRATA_BROWSER_TEST=1, so there the test cannot skip.
#[test]
fn report_html_renders_in_headless_chromium() {
    let browser = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].into_iter().find(|b| Path::new(b).exists());
    let required = std::env::var_os("STRATA_BROWSER_TEST").is_some();
    let Some(browser) = browser else {
        assert!(!required, "STRATA_BROWSER_TEST is set but chromium is not installed");
        eprintln!("skipped: no chromium (CI installs it and sets STRATA_BROWSER_TEST=1)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let o = strata(&["demo", "--users", "300", "--days", "30", "--quiet", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let page = out.join("report/report.html");
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    let profile = dir.path().join("chromium-profile");
    let o = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--hide-scrollbars",
            "--window-size=1200,2400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    let log = String::from_utf8_lossy(&o.stderr);
    for line in log.lines() {
        assert!(!line.contains(":CONSOLE("), "console message from the page: {line}");
        assert!(!line.contains("Failed to load resource") && !line.contains("net::ERR_"), "failed request: {line}");
    }
    assert!(shot.is_file(), "no screenshot; chromium said:\n{log}");
    // Not blank: a real share of the pixels is neither white nor one flat colour.
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let px = info.color_type.samples();
    let pixels = &buf[..info.buffer_size()];
    let ink = pixels.chunks(px).filter(|p| p.iter().take(3).any(|c| *c < 200)).count();
    let total = pixels.len() / px;
    assert!(ink * 200 > total, "the page looks blank: {ink} of {total} pixels have ink");
    let mut colours: Vec<[u8; 3]> = pixels.chunks(px).map(|p| [p[0], p[1], p[2]]).collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(colours.len() > 20, "only {} colours: charts missing", colours.len());
}

#[test]
fn rules_check_accepts_the_seed_rules_and_lists_their_aggregates() {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/crates/strata-rules/tests/fixtures/seed-6.1.rules");
    let o = strata(&["rules", "check", fixture]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let out = out.replace(fixture, "seed-6.1.rules");
    assert_eq!(
        out,
        "seed-6.1.rules: 1 scores, 3 segments, no problems
  score \"engagement\": 4 components, at most 100 points, 5 tiers
  segment \"Power Users\"
  segment \"At Risk\"
  segment \"Expansion Ready\"
aggregates the rules need from the events (computed in the same pass):
  events.locked_feature_click(last_14_days)
  events.pricing_page_view(last_14_days)
  events.session_count(last_7_days)
  events.avg_weekly_sessions(last_28_days)
  events.unique_features_used(last_30_days)
"
    );
}

#[test]
fn rules_check_reports_every_problem_with_position_and_hint() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.rules");
    std::fs::write(&f, "segment \"A\" {\n  conditions { sesions_7d >= 1 }\n}\nsegment \"B\" {\n  conditions { events.session_count(last_0_days) > }\n}\n").unwrap();
    let o = strata(&["rules", "check", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o).replace(f.to_str().unwrap(), "bad.rules");
    assert_eq!(
        err,
        "error: 2 problems in bad.rules

error: unknown feature 'sesions_7d'
  --> bad.rules:2:16
  |
2 |   conditions { sesions_7d >= 1 }
  |                ^^^^^^^^^^
  |
  = hint: did you mean 'sessions_7d'?

error: expected a value, a name or '(', found '}'
  --> bad.rules:5:52
  |
5 |   conditions { events.session_count(last_0_days) > }
  |                                                    ^
"
    );
    let o = strata(&["rules", "check", "/no/such.rules"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn segment_runs_the_seed_rules_and_families_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let o =
        strata(&["-q", "generate", "--users", "800", "--days", "60", "--seed", "5", "--out", data.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let ev = data.join("events.parquet");
    let users = data.join("users.parquet");
    let rules = dir.path().join("mine.rules");
    let seed = include_str!("../crates/strata-rules/tests/fixtures/seed-6.1.rules");
    std::fs::write(
        &rules,
        format!(
            "{seed}\nsegment \"Paid\" {{\n  conditions {{ user.plan in [\"basic\", \"pro\", \"enterprise\"] }}\n  family: \"Plan\"\n}}\nsegment \"Trial\" {{\n  conditions {{ user.plan == \"trial\" }}\n  family: \"Plan\"\n}}\n"
        ),
    )
    .unwrap();
    let mut outs = Vec::new();
    for threads in ["1", "2"] {
        let out = dir.path().join(format!("segments{threads}.parquet"));
        let o = strata_env(
            &[
                "segment",
                "--events",
                ev.to_str().unwrap(),
                "--users",
                users.to_str().unwrap(),
                "--rules",
                rules.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            &[("RAYON_NUM_THREADS", threads)],
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(stderr(&o).contains("Power Users: "), "{}", stderr(&o));
        outs.push(std::fs::read(&out).unwrap());
    }
    assert_eq!(outs[0], outs[1], "byte-identical across thread counts");
    let h: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("segments1.health.json")).unwrap()).unwrap();
    assert_eq!(
        h["users"].as_u64().unwrap() as usize,
        read_batches(&dir.path().join("segments1.parquet"))[0].num_rows()
    );
    assert_eq!(h["overlap_segments"], serde_json::json!(["Power Users", "At Risk", "Expansion Ready"]));
    assert_eq!(h["families"][0]["family"], "Plan");
    let warnings: Vec<&str> = h["warnings"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
    let warnings = warnings.join("\n");
    assert!(warnings.contains("segment \"Power Users\" has no action"), "{warnings}");
    assert!(warnings.contains("segment \"Trial\" uses only profile attributes"), "{warnings}");
    // The overlap matrix's diagonal is each segment's size.
    for (i, s) in h["segments"].as_array().unwrap().iter().take(3).enumerate() {
        assert_eq!(h["overlap"][i][i], s["size"]);
    }
    let b = read_batches(&dir.path().join("segments1.parquet"));
    let schema = b[0].schema();
    let names: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "user_id",
            "plan",
            "power_users",
            "at_risk",
            "expansion_ready",
            "engagement_score",
            "engagement_tier",
            "engagement_usage_frequency_points",
            "engagement_feature_breadth_points",
            "engagement_engagement_depth_points",
            "engagement_recency_points"
        ]
    );
    assert_eq!(schema.field_with_name("power_users").unwrap().data_type(), &DataType::Boolean);
    // The family column holds the first matching segment or "Unclassified".
    let plan = b[0].column_by_name("plan").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
    let values: std::collections::BTreeSet<&str> = plan.iter().flatten().collect();
    assert_eq!(values, ["Paid", "Trial", "Unclassified"].into_iter().collect());
    // Power users exist in generated data and are a minority.
    let power =
        b[0].column_by_name("power_users").unwrap().as_any().downcast_ref::<arrow_array::BooleanArray>().unwrap();
    let n_power = power.iter().flatten().filter(|x| *x).count();
    assert!(n_power > 0 && n_power < b[0].num_rows() / 3, "{n_power}");
}

#[test]
fn segment_refuses_bad_rules_and_missing_attributes_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let ev = simple_events(dir.path());
    let out = dir.path().join("segments.parquet");
    let rules = dir.path().join("r.rules");
    std::fs::write(&rules, "segment \"A\" { conditions { scores.churn_rsk > 5 } }\n").unwrap();
    let o = strata(&[
        "segment",
        "--events",
        ev.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    bad_input(&o, &["unknown score 'churn_rsk'"], &out);
    std::fs::write(&rules, "segment \"Designers\" { conditions { user.role == \"designer\" } }\n").unwrap();
    let o = strata(&[
        "segment",
        "--events",
        ev.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    bad_input(&o, &["segment \"Designers\"", "user.role", "no column 'role'", "guard it"], &out);
    // Guarded with `is null`, the missing column is null for everyone and the run succeeds.
    std::fs::write(
        &rules,
        "segment \"Designers\" { conditions { user.role is not null AND user.role == \"designer\" } action: \"x\" }\n",
    )
    .unwrap();
    let o = strata(&[
        "segment",
        "--events",
        ev.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn rules_explain_shows_the_values_that_decided_each_condition() {
    let dir = tempfile::tempdir().unwrap();
    let h = 3_600_000_000i64;
    let ts: Vec<Option<i64>> = (0..6).map(|d| Some(T - d * DAY - h)).chain([Some(T - 2 * h)]).collect();
    let ev = events(
        &dir.path().join("e.parquet"),
        &[Some("a"); 7],
        &ts,
        &["x", "x", "x", "x", "x", "x", "pricing_page_view"],
    );
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/crates/strata-rules/tests/fixtures/seed-6.1.rules");
    let users = write(
        &dir.path().join("u.parquet"),
        vec![Field::new("user_id", DataType::Utf8, false), Field::new("usage_pct", DataType::Float64, true)],
        vec![Arc::new(StringArray::from(vec!["a"])), Arc::new(Float64Array::from(vec![0.5]))],
    );
    let (ev_s, users_s) = (ev.to_str().unwrap(), users.to_str().unwrap());
    let o =
        strata(&["-q", "rules", "explain", "--user", "a", "--rules", fixture, "--events", ev_s, "--users", users_s]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        // T is the latest event, T0 - 1 h; the pricing view at T0 - 2 h is its own session.
        "user a as of 2024-10-03T23:00:00Z
score engagement = 31 (Low)
    5 points  usage frequency: avg_weekly_sessions_28d = 1.75
    3 points  feature breadth: feature_breadth_30d = null
    3 points  engagement depth: avg_session_minutes_28d = 0
   20 points  recency: recency_days = 0
segment \"Power Users\": no
  events.session_count(last_7_days) >= 5    [7 vs 5] true
  AND events.unique_features_used(last_30_days) >= 0.7 * total_features    [0 vs 0] true
  AND user.days_since_signup >= 30    [5 vs 30] false
segment \"At Risk\": no
  events.session_count(last_7_days) < 0.5 * events.avg_weekly_sessions(last_28_days)    [7 vs 0.875] false
  AND events.avg_weekly_sessions(last_28_days) >= 2    [1.75 vs 2] false
segment \"Expansion Ready\": no
  scores.engagement >= 60    [31 vs 60] false
  AND ( ... OR ... ): true
    usage.percentage_of_limit >= 0.7    [0.5 vs 0.7] false
    OR events.pricing_page_view(last_14_days) >= 1    [1 vs 1] true
    OR events.locked_feature_click(last_14_days) >= 1    [0 vs 1] false
"
    );
    let o = strata(&["rules", "explain", "--user", "nobody", "--rules", fixture, "--events", ev_s, "--users", users_s]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("user 'nobody' has no row"), "{}", stderr(&o));
}

#[test]
fn default_rules_init_and_segment_from_a_feature_table_match_the_events_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rules = d.join("strata.rules");
    let o = strata(&["rules", "init", "--out", rules.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&rules).unwrap(), include_str!("../crates/strata-rules/rules/default.rules"));
    let o = strata(&["rules", "init", "--out", rules.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "never overwrites");
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));

    let data = d.join("data");
    let o =
        strata(&["-q", "generate", "--users", "600", "--days", "60", "--seed", "9", "--out", data.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (ev, users) = (data.join("events.parquet"), data.join("users.parquet"));
    let (ev, users) = (ev.to_str().unwrap(), users.to_str().unwrap());
    // The default rules (no --rules) straight from the events.
    let from_events = d.join("a.parquet");
    let o = strata(&["segment", "--events", ev, "--users", users, "--out", from_events.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("rules: <default rules> (8 scores, 37 segments)"), "{}", stderr(&o));
    // The same from a feature table that carries the rules' aggregates.
    let feats = d.join("f.parquet");
    let o = strata(&[
        "-q",
        "features",
        "--events",
        ev,
        "--users",
        users,
        "--rules",
        rules.to_str().unwrap(),
        "--out",
        feats.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let fb = read_batches(&feats);
    assert!(fb[0].schema().index_of("events.project_created(all_time)").is_ok());
    let from_table = d.join("b.parquet");
    let o = strata(&[
        "-q",
        "segment",
        "--features",
        feats.to_str().unwrap(),
        "--users",
        users,
        "--rules",
        rules.to_str().unwrap(),
        "--out",
        from_table.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (a, b) = (read_batches(&from_events), read_batches(&from_table));
    assert_eq!(a[0].schema(), b[0].schema());
    assert_eq!(a, b, "same segments and scores from the events and from the feature table");
    let schema = a[0].schema();
    for col in [
        "behavioral",
        "lifecycle",
        "intent",
        "plan",
        "dormant",
        "rfm",
        "sales_tier",
        "power_cohort",
        "champions",
        "at_risk_composite",
        "expansion_ready",
        "engagement_score",
        "churn_risk_tier",
        "expansion_readiness_team_growth_signals_points",
        "rfm_monetary_score",
    ] {
        assert!(schema.index_of(col).is_ok(), "{col} missing");
    }
    // Every engagement total is the sum of its four component columns.
    let col = |name: &str| {
        a[0].column_by_name(name).unwrap().as_any().downcast_ref::<Float64Array>().unwrap().values().to_vec()
    };
    let total = col("engagement_score");
    let parts: Vec<Vec<f64>> = ["usage_frequency", "feature_breadth", "engagement_depth", "recency"]
        .iter()
        .map(|c| col(&format!("engagement_{c}_points")))
        .collect();
    for (i, t) in total.iter().enumerate() {
        assert_eq!(*t, parts.iter().map(|p| p[i]).sum::<f64>());
    }
    // A feature table without the rules' aggregates: a clear error naming one.
    let plain = d.join("plain.parquet");
    let o = strata(&["-q", "features", "--events", ev, "--out", plain.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = d.join("c.parquet");
    let o =
        strata(&["segment", "--features", plain.to_str().unwrap(), "--users", users, "--out", out.to_str().unwrap()]);
    bad_input(&o, &["events.", "does not hold", "--events"], &out);
}

/// `strata generate` (45 days) then `strata features` in `d`: the feature table.
fn generated_features(d: &Path, users: usize, seed: u64) -> PathBuf {
    let data = d.join("data");
    let (u, s) = (users.to_string(), seed.to_string());
    let o = strata(&["-q", "generate", "--users", &u, "--days", "45", "--seed", &s, "--out", data.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (o, feats) = features(d, &data.join("events.parquet"), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    feats
}

#[test]
fn discover_and_assign_are_deterministic_and_refuse_bad_settings() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let feats = generated_features(d, 500, 4);
    let f = feats.to_str().unwrap();
    let mut runs = Vec::new();
    for threads in ["1", "2"] {
        let out = d.join(format!("c{threads}.parquet"));
        let model = d.join(format!("m{threads}.json"));
        let o = strata_env(
            &[
                "discover",
                "--features",
                f,
                "--k",
                "auto",
                "--k-max",
                "5",
                "--model",
                model.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            &[("RAYON_NUM_THREADS", threads)],
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(stderr(&o).contains("k =  5: silhouette"), "{}", stderr(&o));
        runs.push((
            std::fs::read(&out).unwrap(),
            std::fs::read(d.join(format!("c{threads}.profiles.json"))).unwrap(),
            std::fs::read(&model).unwrap(),
        ));
    }
    assert_eq!(runs[0], runs[1], "byte-identical whatever the thread count");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("c1.profiles.json")).unwrap()).unwrap();
    let k = report["k"].as_u64().unwrap() as usize;
    assert_eq!(report["k_scores"].as_array().unwrap().len(), 4);
    assert_eq!(report["profiles"].as_array().unwrap().len(), k);
    let sizes: u64 = report["profiles"].as_array().unwrap().iter().map(|p| p["size"].as_u64().unwrap()).sum();
    // Assigning the same table with the saved model gives the same clusters.
    let again = d.join("again.parquet");
    let o = strata(&[
        "-q",
        "assign",
        "--model",
        d.join("m1.json").to_str().unwrap(),
        "--features",
        f,
        "--out",
        again.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (x, y) = (read_batches(&d.join("c1.parquet")), read_batches(&again));
    assert_eq!(x, y);
    assert_eq!(sizes as usize, x[0].num_rows());
    // DBSCAN with eps chosen from the data: noise is a null cluster.
    let db = d.join("db.parquet");
    let o = strata(&[
        "-q",
        "discover",
        "--features",
        f,
        "--algo",
        "dbscan",
        "--min-samples",
        "5",
        "--out",
        db.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let b = read_batches(&db);
    assert_eq!(b[0].schema().field_with_name("cluster").unwrap().data_type(), &DataType::Int64);
    // Bad settings: exit 2, nothing written.
    let out = d.join("bad.parquet");
    let o2 = out.to_str().unwrap();
    for (args, needle) in [
        (vec!["--k", "0"], "--k 0"),
        (vec!["--k", "many"], "give a number or auto"),
        (vec!["--k", "900"], "cannot make 900 clusters"),
        (vec!["--columns", "sesions_7d"], "did you mean 'sessions_7d'"),
        (vec!["--columns", "account_id"], "not numeric"),
        (vec!["--algo", "dbscan", "--eps", "-1"], "positive number"),
    ] {
        let mut all = vec!["discover", "--features", f, "--out", o2];
        all.extend(args);
        let o = strata(&all);
        bad_input(&o, &[needle], &out);
    }
}

#[test]
fn gmm_discover_and_assign_agree_and_are_identical_across_thread_counts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let feats = generated_features(d, 400, 6);
    let f = feats.to_str().unwrap();
    let mut runs = Vec::new();
    for threads in ["1", "2"] {
        let out = d.join(format!("g{threads}.parquet"));
        let model = d.join(format!("gm{threads}.json"));
        let args = gmm_auto(
            f,
            ("2", "4"),
            &["--gmm-sample", "300", "--model", model.to_str().unwrap(), "--out", out.to_str().unwrap()],
        );
        let o = strata_env(&args, &[("RAYON_NUM_THREADS", threads)]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(stderr(&o).contains("k =  4: BIC"), "{}", stderr(&o));
        runs.push((std::fs::read(&out).unwrap(), std::fs::read(&model).unwrap()));
    }
    assert_eq!(runs[0], runs[1], "byte-identical whatever the thread count");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("g1.profiles.json")).unwrap()).unwrap();
    assert_eq!(report["algo"], "gmm");
    assert_eq!(report["fitted_on"], 300, "EM ran on the seeded sample");
    let bics: Vec<f64> = report["k_scores"].as_array().unwrap().iter().map(|s| s["bic"].as_f64().unwrap()).collect();
    let best = bics.iter().cloned().fold(f64::INFINITY, f64::min);
    assert_eq!(report["bic"].as_f64().unwrap(), best, "the lowest BIC wins");
    let b = read_batches(&d.join("g1.parquet"));
    use arrow_array::cast::AsArray;
    let prob = b[0].column_by_name("cluster_probability").unwrap().as_primitive::<arrow_array::types::Float64Type>();
    assert!(prob.values().iter().all(|p| (0.0..=1.0 + 1e-12).contains(p) && *p >= 1.0 / 4.0 - 1e-12));
    // The saved model labels the same table the same way, probabilities included.
    let again = d.join("again.parquet");
    let o = strata(&[
        "-q",
        "assign",
        "--model",
        d.join("gm1.json").to_str().unwrap(),
        "--features",
        f,
        "--out",
        again.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(b, read_batches(&again));
    // More components than users can fill: exit 2, nothing written.
    let out = d.join("bad.parquet");
    let o = strata(&["discover", "--features", f, "--algo", "gmm", "--k", "300", "--out", out.to_str().unwrap()]);
    bad_input(&o, &["lower --k"], &out);
    // --k auto where no k can be fitted: exit 2, saying why.
    let o = strata(&[&["-q"][..], &gmm_auto(f, ("250", "251"), &["--out", out.to_str().unwrap()])].concat());
    bad_input(&o, &["no k in --k-min..=--k-max could be fitted", "lower --k"], &out);
}

/// `strata discover --algo gmm --k auto` on `features` over `k_min..=k_max`, then `rest`.
fn gmm_auto<'a>(features: &'a str, (k_min, k_max): (&'a str, &'a str), rest: &[&'a str]) -> Vec<&'a str> {
    let mut args =
        vec!["discover", "--features", features, "--algo", "gmm", "--k", "auto", "--k-min", k_min, "--k-max", k_max];
    args.extend_from_slice(rest);
    args
}

#[test]
fn snapshots_count_transitions_and_membership_changes_on_a_hand_made_set() {
    let dir = tempfile::tempdir().unwrap();
    let t1 = T - 10 * DAY;
    // a: active at both; b: active, then idle; c: churned at both; d: new, then active;
    // e: idle, then churned (30 days without activity at T).
    let ev = events(
        &dir.path().join("events.parquet"),
        &[Some("a"), Some("a"), Some("b"), Some("c"), Some("d"), Some("e")],
        &[Some(t1 - DAY), Some(T), Some(t1 - DAY), Some(t1 - 40 * DAY), Some(T - 2 * DAY), Some(t1 - 20 * DAY)],
        &["x", "x", "x", "x", "x", "x"],
    );
    let rules = dir.path().join("usage.rules");
    std::fs::write(
        &rules,
        "segment \"Active\" {\n conditions { sessions_7d >= 1 }\n family: \"Usage\"\n}\n\
         segment \"Idle\" {\n conditions { sessions_7d == 0 }\n family: \"Usage\"\n}\n",
    )
    .unwrap();
    let out = dir.path().join("snap");
    let iso = |t: i64| {
        let secs = t / 1_000_000;
        let (y, m, d) = strata_core::time::civil_from_days(secs.div_euclid(86_400));
        let s = secs.rem_euclid(86_400);
        format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60)
    };
    let o = strata(&[
        "snapshots",
        "--events",
        ev.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
        "--as-of",
        &iso(t1),
        "--as-of",
        &iso(T),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let b = &read_batches(&out.join("transitions.parquet"))[0];
    let col = |i: usize| b.column(i).as_any().downcast_ref::<StringArray>().unwrap().clone();
    let (fam, from, to) = (col(0), col(3), col(4));
    let users = b.column(5).as_any().downcast_ref::<Int64Array>().unwrap();
    let share = b.column(6).as_any().downcast_ref::<Float64Array>().unwrap();
    let mut got: Vec<(String, String, i64, f64)> = (0..b.num_rows())
        .map(|i| {
            assert_eq!(fam.value(i), "Usage");
            (from.value(i).to_string(), to.value(i).to_string(), users.value(i), share.value(i))
        })
        .collect();
    got.sort_by(|x, y| (x.0.as_str(), x.1.as_str()).cmp(&(y.0.as_str(), y.1.as_str())));
    let want = vec![
        ("Active", "Active", 1, 0.5),
        ("Active", "Idle", 1, 0.5),
        ("Idle", "churned", 1, 1.0),
        ("churned", "churned", 1, 1.0),
        ("new", "Active", 1, 1.0),
    ];
    let want: Vec<(String, String, i64, f64)> =
        want.into_iter().map(|(a, b, c, d)| (a.to_string(), b.to_string(), c, d)).collect();
    assert_eq!(got, want);
    let c = &read_batches(&out.join("membership_changes.parquet"))[0];
    let s = |i: usize| c.column(i).as_any().downcast_ref::<StringArray>().unwrap().clone();
    let (user, seg, change) = (s(0), s(4), s(5));
    let mut rows: Vec<String> =
        (0..c.num_rows()).map(|i| format!("{} {} {}", user.value(i), change.value(i), seg.value(i))).collect();
    rows.sort();
    assert_eq!(rows, ["b entered Idle", "b left Active", "d entered Active", "e entered churned", "e left Idle"]);
    // A time outside the data: exit 2, saying what the data covers.
    let o = strata(&[
        "snapshots",
        "--events",
        ev.to_str().unwrap(),
        "--as-of",
        "1990-01-01T00:00:00Z",
        "--as-of",
        &iso(T),
        "--out",
        dir.path().join("bad").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("the events cover"), "{}", stderr(&o));
}

#[test]
fn outcomes_after_a_snapshot_on_a_hand_made_set() {
    let dir = tempfile::tempdir().unwrap();
    let ts0 = T - 10 * DAY;
    // a: active before and 2 days after; b: only before; c: pays 10 a day after (its
    // first revenue); d: back only 10 days later, past the 5-day horizon.
    let rows: Vec<(&str, i64, &str, Option<f64>)> = vec![
        ("a", ts0 - DAY, "x", None),
        ("a", ts0 + 2 * DAY, "x", None),
        ("b", ts0 - DAY, "x", None),
        ("c", ts0 - 2 * DAY, "x", None),
        ("c", ts0 + DAY, "payment", Some(10.0)),
        ("d", ts0 - 3 * DAY, "x", None),
        ("d", T, "x", None),
    ];
    let ev = write(
        &dir.path().join("events.parquet"),
        vec![
            Field::new("user_id", DataType::Utf8, false),
            Field::new("timestamp", DataType::Timestamp(TimeUnit::Microsecond, None), false),
            Field::new("event", DataType::Utf8, false),
            Field::new("revenue", DataType::Float64, true),
        ],
        vec![
            Arc::new(StringArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
            Arc::new(TimestampMicrosecondArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
            Arc::new(StringArray::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
            Arc::new(Float64Array::from(rows.iter().map(|r| r.3).collect::<Vec<_>>())),
        ],
    );
    let secs = ts0 / 1_000_000;
    let (y, m, d) = strata_core::time::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let iso = format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60);
    // The default rules read usage.percentage_of_limit from the users table.
    let users = write(
        &dir.path().join("users.parquet"),
        vec![Field::new("user_id", DataType::Utf8, false), Field::new("usage_pct", DataType::Float64, true)],
        vec![Arc::new(StringArray::from(vec!["a", "b", "c", "d"])), Arc::new(Float64Array::from(vec![None; 4]))],
    );
    let out = dir.path().join("out");
    let o = strata(&[
        "outcomes",
        "--events",
        ev.to_str().unwrap(),
        "--users",
        users.to_str().unwrap(),
        "--as-of",
        &iso,
        "--horizon",
        "5d",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("outcomes.json")).unwrap()).unwrap();
    let all = &j["segments"][0];
    assert_eq!(all["segment"], "all users");
    assert_eq!(all["users"], 4);
    assert_eq!(all["retention"].as_f64(), Some(0.5));
    assert_eq!(all["paid_conversion"].as_f64(), Some(0.25));
    assert_eq!(all["avg_revenue"].as_f64(), Some(2.5));
    assert!(j["backtests"].as_array().unwrap().iter().any(|b| b["score"] == "churn_risk"));
    let _ = read_batches(&out.join("outcomes_by_segment.parquet"));
    // A horizon the data does not cover: exit 2 with the span.
    let o = strata(&[
        "outcomes",
        "--events",
        ev.to_str().unwrap(),
        "--users",
        users.to_str().unwrap(),
        "--as-of",
        &iso,
        "--horizon",
        "30d",
        "--out",
        dir.path().join("o2").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("the events cover"), "{}", stderr(&o));
}

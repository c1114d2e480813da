#!/usr/bin/env python3
"""strata features vs. the same contract-section-3 columns in DuckDB, on the same file.

Generates the benchmark data (50,000 users x 120 days, about 21 million events) with
`strata generate` unless it is there already, runs `strata features` and a DuckDB SQL
query that computes every pinned core feature, checks that both agree on every column
of every user, and prints both wall times, the ratio and both peak RSS figures.

    python3 -m venv .venv && .venv/bin/pip install duckdb
    cargo build --release
    .venv/bin/python benches/features_vs_duckdb.py [--users 50000] [--days 120] [--threads 2]

DuckDB is installed for the benchmark only; nothing in the tests needs it.
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STRATA = os.path.join(ROOT, "target", "release", "strata")
DAY = 86_400_000_000
WEEK = 7 * DAY
GAP = 30 * 60 * 1_000_000

QUERY = """
WITH raw AS (
  SELECT user_id, epoch_us("timestamp") AS ts, event, feature FROM read_parquet('{events}')
),
tt AS (SELECT max(ts) AS t FROM raw),
e AS (
  SELECT r.user_id, r.ts, r.event, r.feature, tt.t - r.ts AS delta
  FROM raw r, tt WHERE r.user_id IS NOT NULL AND r.ts IS NOT NULL AND r.ts <= tt.t
),
g AS (
  SELECT user_id, ts, delta,
    CASE WHEN ts - lag(ts) OVER (PARTITION BY user_id ORDER BY ts) <= {gap} THEN 0 ELSE 1 END AS new_sess
  FROM e
),
s1 AS (
  SELECT user_id, ts, delta,
    sum(new_sess) OVER (PARTITION BY user_id ORDER BY ts ROWS UNBOUNDED PRECEDING) AS sid
  FROM g
),
sess AS (
  SELECT user_id, sid, min(ts) AS start, max(ts) AS stop, max(delta) AS sdelta FROM s1 GROUP BY user_id, sid
),
sess_agg AS (
  SELECT user_id,
    count(*) FILTER (WHERE sdelta < 7 * {day}) AS sessions_7d,
    count(*) FILTER (WHERE sdelta < 28 * {day}) AS sessions_28d,
    avg((stop - start) / 60e6) FILTER (WHERE sdelta < 28 * {day}) AS avg_session_minutes_28d
  FROM sess GROUP BY user_id
),
gaps AS (
  SELECT user_id, (start - lag(start) OVER (PARTITION BY user_id ORDER BY start)) / 86400e6 AS gap FROM sess
),
gap_agg AS (SELECT user_id, median(gap) AS median_session_gap_days FROM gaps WHERE gap IS NOT NULL GROUP BY user_id),
ev_agg AS (
  SELECT user_id,
    count(DISTINCT delta // {day}) FILTER (WHERE delta < 30 * {day}) AS active_days_30d,
    count(DISTINCT feature) FILTER (WHERE delta < 7 * {day}) AS features_used_7d,
    count(DISTINCT feature) FILTER (WHERE delta < 30 * {day}) AS features_used_30d,
    count(*) FILTER (WHERE delta < 28 * {day}) AS events_28d,
    min(delta) / 86400e6 AS days_since_last_seen,
    max(delta) AS first_delta,
    count(*) FILTER (WHERE event = 'invite_sent' AND delta < 30 * {day}) AS invites_sent_30d,
    count(*) FILTER (WHERE event = 'pricing_page_view' AND delta < 14 * {day}) AS pricing_page_views_14d,
    count(*) FILTER (WHERE event = 'locked_feature_click' AND delta < 14 * {day}) AS locked_feature_clicks_14d,
    count(*) FILTER (WHERE event = 'support_ticket' AND delta < 7 * {day}) AS support_tickets_7d
  FROM e GROUP BY user_id
),
wk AS (
  SELECT user_id, delta // {week} AS w, count(DISTINCT feature) AS nf
  FROM e WHERE delta < 12 * {week} GROUP BY user_id, w
),
wk_agg AS (SELECT user_id, max(nf) AS peak_week_features_84d FROM wk GROUP BY user_id),
cat AS (SELECT count(DISTINCT feature) AS c FROM e),
u AS (SELECT user_id, epoch_us(signup_at) AS signup FROM read_parquet('{users}')),
who AS (
  SELECT u.user_id, u.signup FROM u, tt WHERE u.signup IS NULL OR u.signup <= tt.t
  UNION ALL
  SELECT ev_agg.user_id, NULL FROM ev_agg ANTI JOIN u USING (user_id)
)
SELECT who.user_id,
  coalesce(sessions_7d, 0) AS sessions_7d,
  coalesce(sessions_28d, 0) AS sessions_28d,
  coalesce(sessions_28d, 0) / 4.0 AS avg_weekly_sessions_28d,
  coalesce(active_days_30d, 0) AS active_days_30d,
  coalesce(features_used_7d, 0) AS features_used_7d,
  coalesce(features_used_30d, 0) AS features_used_30d,
  CASE WHEN cat.c > 0 THEN coalesce(features_used_30d, 0) / cat.c END AS feature_breadth_30d,
  coalesce(peak_week_features_84d, 0) AS peak_week_features_84d,
  avg_session_minutes_28d,
  coalesce(events_28d, 0) AS events_28d,
  days_since_last_seen,
  median_session_gap_days,
  (tt.t - coalesce(who.signup, tt.t - first_delta)) / 86400e6 AS tenure_days,
  coalesce(invites_sent_30d, 0) AS invites_sent_30d,
  coalesce(pricing_page_views_14d, 0) AS pricing_page_views_14d,
  coalesce(locked_feature_clicks_14d, 0) AS locked_feature_clicks_14d,
  coalesce(support_tickets_7d, 0) AS support_tickets_7d
FROM who CROSS JOIN tt CROSS JOIN cat
LEFT JOIN sess_agg USING (user_id)
LEFT JOIN gap_agg USING (user_id)
LEFT JOIN ev_agg USING (user_id)
LEFT JOIN wk_agg USING (user_id)
ORDER BY who.user_id
"""

CORE = [
    "sessions_7d", "sessions_28d", "avg_weekly_sessions_28d", "active_days_30d", "features_used_7d",
    "features_used_30d", "feature_breadth_30d", "peak_week_features_84d", "avg_session_minutes_28d",
    "events_28d", "days_since_last_seen", "median_session_gap_days", "tenure_days", "invites_sent_30d",
    "pricing_page_views_14d", "locked_feature_clicks_14d", "support_tickets_7d",
]


def timed(cmd, env=None):
    """Runs cmd; returns (seconds, peak RSS in MiB)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env)
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t0
    if status != 0:
        sys.exit(f"{cmd[0]} failed with status {status}")
    return dt, ru.ru_maxrss / 1024


def duckdb_child(events, users, out, threads):
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    q = QUERY.format(events=events, users=users, gap=GAP, day=DAY, week=WEEK)
    con.execute(f"COPY ({q}) TO '{out}' (FORMAT parquet)")


def compare(strata_out, duck_out):
    import duckdb

    con = duckdb.connect()
    n_s = con.execute(f"SELECT count(*) FROM read_parquet('{strata_out}')").fetchone()[0]
    n_d = con.execute(f"SELECT count(*) FROM read_parquet('{duck_out}')").fetchone()[0]
    bad = []
    if n_s != n_d:
        bad.append(f"row counts differ: strata {n_s}, duckdb {n_d}")
    for c in CORE:
        diff = con.execute(f"""
            SELECT count(*) FROM read_parquet('{strata_out}') s FULL JOIN read_parquet('{duck_out}') d USING (user_id)
            WHERE NOT ((s.{c} IS NULL AND d.{c} IS NULL)
                       OR abs(s.{c} - d.{c}) <= 1e-9 * greatest(1, abs(d.{c})))
        """).fetchone()[0]
        if diff:
            bad.append(f"{c}: {diff} users differ")
    return n_s, bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=50_000)
    ap.add_argument("--days", type=int, default=120)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each tool; the best and the median are reported")
    ap.add_argument("--data", default=os.path.join(ROOT, "bench-data"))
    ap.add_argument("--duckdb-child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.duckdb_child:
        duckdb_child(*a.duckdb_child, a.threads)
        return
    data = os.path.join(a.data, f"u{a.users}-d{a.days}")
    events, users = os.path.join(data, "events.parquet"), os.path.join(data, "users.parquet")
    if not os.path.exists(events):
        os.makedirs(data, exist_ok=True)
        subprocess.run([STRATA, "generate", "--users", str(a.users), "--days", str(a.days), "--out", data], check=True)
    import duckdb

    rows = duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{events}')").fetchone()[0]
    strata_out = os.path.join(data, "strata-features.parquet")
    duck_out = os.path.join(data, "duckdb-features.parquet")
    env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads))
    s_runs, d_runs = [], []
    for _ in range(a.repeat):
        s_runs.append(timed([STRATA, "--quiet", "features", "--events", events, "--users", users, "--out", strata_out], env))
        d_runs.append(timed([sys.executable, __file__, "--threads", str(a.threads), "--duckdb-child", events, users, duck_out]))
    n, bad = compare(strata_out, duck_out)
    s_t = sorted(t for t, _ in s_runs)
    d_t = sorted(t for t, _ in d_runs)
    print(json.dumps({
        "events": int(rows), "users": n, "threads": a.threads, "runs": a.repeat,
        "strata_best_s": round(s_t[0], 3), "strata_median_s": round(s_t[len(s_t) // 2], 3),
        "duckdb_best_s": round(d_t[0], 3), "duckdb_median_s": round(d_t[len(d_t) // 2], 3),
        "ratio_best": round(d_t[0] / s_t[0], 1), "ratio_median": round(d_t[len(d_t) // 2] / s_t[len(s_t) // 2], 1),
        "strata_peak_rss_mib": round(max(r for _, r in s_runs)), "duckdb_peak_rss_mib": round(max(r for _, r in d_runs)),
        "columns_compared": len(CORE), "mismatches": bad,
    }, indent=2))
    if bad:
        sys.exit("strata and DuckDB disagree")


if __name__ == "__main__":
    main()

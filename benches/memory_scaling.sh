#!/usr/bin/env bash
# Peak RSS of `strata features` at a fixed number of users as the days (and so the
# events) double. Memory should follow users and sessions, not events.
#   cargo build --release && bash benches/memory_scaling.sh [users]
set -euo pipefail
cd "$(dirname "$0")/.."
users=${1:-50000}
bin=target/release/strata
for days in 120 240; do
  d=bench-data/u$users-d$days
  [ -f "$d/events.parquet" ] || { mkdir -p "$d"; $bin -q generate --users "$users" --days "$days" --out "$d"; }
  /usr/bin/time -f "days=$days wall=%e s peak_rss=%M KB" $bin -q features --events "$d/events.parquet" --users "$d/users.parquet" --out "$d/features.parquet"
  python3 -c "import json,sys; print('  rows read:', json.load(open(sys.argv[1]))['rows_read'])" "$d/features.quality.json"
done

#!/usr/bin/env bash
# Weekly snapshots over the whole span against one snapshot (issue #6): `strata
# snapshots --every 7d` (one pass over the events for every as-of time) against
# `strata segment --events` (one as-of time), on the 50,000-user benchmark data.
# Weekly is timed twice: over the whole span (18 as-of times on this data, counted back
# from the last event) and with exactly the 17 the issue counts (from 16 weeks before
# the last event). Prints every run's wall time and peak RSS, then the ratios of the
# best runs.
#   cargo build --release && bash benches/snapshots_vs_one.sh [users] [days] [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
users=${1:-50000}
days=${2:-120}
runs=${3:-3}
bin=target/release/strata
d=bench-data/u$users-d$days
[ -f "$d/events.parquet" ] || { mkdir -p "$d"; $bin -q generate --users "$users" --days "$days" --seed 1 --out "$d"; }
ev=(--events "$d/events.parquet" --users "$d/users.parquet")
# The last as-of time of the weekly run (untimed), and 16 weeks before it.
last=$($bin snapshots "${ev[@]}" --every 7d --out "$d/snapshots" 2>&1 >/dev/null | sed -n 's/.* to \([^ ]*\) in one pass.*/\1/p')
secs=$(date -u -d "$last" +%s)
from=$(date -u -d "@$((secs - 16 * 7 * 86400))${last:19:7}" +%Y-%m-%dT%H:%M:%S.%6NZ)
timed() { { /usr/bin/time -f "%e %M" "$@" >/dev/null; } 2>&1 | tail -1; }
best() { sort -n | head -1; }
one=(); many=(); issue=()
for i in $(seq "$runs"); do
  t=$(timed $bin -q segment "${ev[@]}" --out "$d/one.parquet")
  echo "one snapshot:  ${t% *} s, peak ${t#* } KB"; one+=("${t% *}")
  t=$(timed $bin -q snapshots "${ev[@]}" --every 7d --out "$d/snapshots")
  echo "weekly (every 7d, whole span): ${t% *} s, peak ${t#* } KB"; many+=("${t% *}")
  t=$(timed $bin -q snapshots "${ev[@]}" --every 7d --from "$from" --out "$d/snapshots17")
  echo "weekly (17 times, from $from): ${t% *} s, peak ${t#* } KB"; issue+=("${t% *}")
done
b1=$(printf '%s\n' "${one[@]}" | best); bm=$(printf '%s\n' "${many[@]}" | best); bi=$(printf '%s\n' "${issue[@]}" | best)
echo "best: one $b1 s, weekly over the whole span $bm s, ratio $(python3 -c "print(round($bm/$b1, 2))")x (target < 3x)"
echo "best: one $b1 s, weekly with the issue's 17 times $bi s, ratio $(python3 -c "print(round($bi/$b1, 2))")x (target < 3x)"

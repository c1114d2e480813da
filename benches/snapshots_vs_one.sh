#!/usr/bin/env bash
# Weekly snapshots over the whole span against one snapshot (issue #6): `strata
# snapshots --every 7d` (one pass over the events for every as-of time) against
# `strata segment --events` (one as-of time), on the 50,000-user benchmark data.
# Prints every run's wall time and peak RSS, then the ratio of the best runs.
#   cargo build --release && bash benches/snapshots_vs_one.sh [users] [days] [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
users=${1:-50000}
days=${2:-120}
runs=${3:-3}
bin=target/release/strata
d=bench-data/u$users-d$days
[ -f "$d/events.parquet" ] || { mkdir -p "$d"; $bin -q generate --users "$users" --days "$days" --seed 1 --out "$d"; }
best() { sort -n | head -1; }
one=(); many=()
for i in $(seq "$runs"); do
  t=$( { /usr/bin/time -f "%e %M" $bin -q segment --events "$d/events.parquet" --users "$d/users.parquet" --out "$d/one.parquet" >/dev/null; } 2>&1 | tail -1)
  echo "one snapshot:  ${t% *} s, peak ${t#* } KB"; one+=("${t% *}")
  t=$( { /usr/bin/time -f "%e %M" $bin -q snapshots --events "$d/events.parquet" --users "$d/users.parquet" --every 7d --out "$d/snapshots" >/dev/null; } 2>&1 | tail -1)
  echo "weekly (every 7d): ${t% *} s, peak ${t#* } KB"; many+=("${t% *}")
done
b1=$(printf '%s\n' "${one[@]}" | best); bm=$(printf '%s\n' "${many[@]}" | best)
echo "best: one $b1 s, weekly $bm s, ratio $(python3 -c "print(round($bm/$b1, 2))")x (target < 3x)"

#!/usr/bin/env bash
# The nightly run of a stored history (nothing new arrived), on one machine
# and on Beam's Prism runner in-process, alternating: wall time, compute
# time and peak memory of each, and a check that both published the same
# mart files.
#
#   bench/beam.sh 1000000            # about 1M stored invoice lines
#   ROUNDS=3 SHARDS=8 bench/beam.sh 10000000
#   GOMEMLIMIT=10GiB bench/beam.sh 10000000   # applies to both commands
#
# The history is generated straight into the normalized tables (about 31
# lines per customer over 60 months, `mrrflow generate --format parquet`),
# kept under bench/out/ (git-ignored) and reused.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
rounds=${ROUNDS:-3}
shards=${SHARDS:-8}
out=bench/out
mkdir -p "$out"
go build -o "$out/mrrflow" ./cmd/mrrflow
(cd beam && go build -o "../$out/mrrflow-beam" ./cmd/mrrflow-beam)
data="$out/data-parquet-$n"
if [ ! -f "$data/config.yaml" ]; then
  "$out/mrrflow" generate --customers $(( n / 31 )) --months 60 --seed 1 --format parquet --out "$data" --clean >/dev/null
fi

# run NAME COMMAND...: runs on a fresh copy of the stored warehouse and
# prints wall, compute and peak.
run() {
  local name=$1 wh="$out/wh-beam-$1"
  shift
  rm -rf "$wh" && cp -r "$data/warehouse" "$wh"
  local start end
  start=$(date +%s.%N)
  if ! /usr/bin/time -v -o "$out/time-$name.txt" "$@" -c "$data/config.yaml" --warehouse "$wh" 2>"$out/log-$name.json" >/dev/null; then
    echo "$name failed: see $out/log-$name.json and $out/time-$name.txt" >&2
    tail -3 "$out/log-$name.json" >&2
    return 1
  fi
  end=$(date +%s.%N)
  local peak compute
  peak=$(awk -F: '/Maximum resident set size/ {printf "%.1f", $2/1048576}' "$out/time-$name.txt")
  compute=$(python3 -c '
import json, sys
for raw in open(sys.argv[1]):
    try:
        m = json.loads(raw)
    except ValueError:
        continue
    if m.get("message") == "computed":
        print("%.1f" % (m.get("took_ms", 0) / 1000))
        break
else:
    print("-")' "$out/log-$name.json")
  printf '%-22s %8.1f %10s %9s\n' "$name" "$(python3 -c "print($end - $start)")" "$compute" "$peak"
}

echo "$n lines (generated), $shards shards, $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
printf '%-22s %8s %10s %9s\n' run wall_s compute_s peak_GiB
for r in $(seq "$rounds"); do
  run one-machine "$out/mrrflow" run
  run "prism-$shards-shards" "$out/mrrflow-beam" --shards "$shards"
  if ! diff -r "$out/wh-beam-one-machine/marts" "$out/wh-beam-prism-$shards-shards/marts" >/dev/null; then
    echo "round $r: the mart files differ" >&2
    exit 1
  fi
done
echo "mart files identical in every round"

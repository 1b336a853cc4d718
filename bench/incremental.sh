#!/usr/bin/env bash
# Measures what a nightly run costs when little changed. On a generated
# history of N invoice lines (normalized tables, bench/run.sh's parquet
# format, one GrowPanel source in upsert mode) it runs:
#   1. a full run as of D1 (no incremental state yet);
#   2. night 1: 1% of the lines new or changed (bench/delta) and as_of one
#      day later, incrementally, then the same run with --full on a copy of
#      the warehouse as it was after 1;
#   3. night 2: another 1% and one more day, both warehouses again (the
#      incremental one now has every customer's digest);
#   4. night 3: nothing new, as_of one more day.
# For each night it prints both runs' wall time and peak memory and the
# ratio incremental / full, and checks that their mart files are
# byte-identical; and the time of each run's steps: the source normalized,
# the incremental update's steps (logged at debug level), the load.
#
#   bench/incremental.sh                      # 1M lines
#   bench/incremental.sh 10000000
#   BY=customers bench/incremental.sh 1000000 # the 1% are all the lines of 1% of the customers
#   SHARE=0.05 bench/incremental.sh 1000000
#   NIGHTS=3 bench/incremental.sh 100000000   # only the night with nothing new (a
#                                             # night with new records loads the
#                                             # whole source into memory)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
share=${SHARE:-0.01}
by=${BY:-lines}
out=bench/out
mkdir -p "$out"
[ -n "${NOBUILD:-}" ] || go build -o "$out/mrrflow" ./cmd/mrrflow
go build -o "$out/delta" ./bench/delta
data="$out/data-parquet-$n"
if [ ! -f "$data/config.yaml" ]; then
  "$out/mrrflow" generate --customers $(( n / 31 )) --months 60 --seed 1 --format parquet --out "$data" --clean >/dev/null
fi
header=$(head -1 "$data/invoices.csv")
inc="$out/inc-$n" full="$out/inc-full-$n"
rm -rf "$inc" "$full"
cp -r "$data/warehouse" "$inc"
echo "$header" > "$data/invoices.csv"
trap 'echo "$header" > "$data/invoices.csv"' EXIT

# measure NAME ARGS...: runs mrrflow, prints wall time, peak memory and
# how many customers it computed; leaves the wall time in $wall.
measure() {
  local name=$1; shift
  /usr/bin/time -v -o "$out/time.txt" "$out/mrrflow" run -v -c "$data/config.yaml" "$@" 2>"$out/inc-log.json" >/dev/null
  local peak what
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$out/time.txt")
  peak=$(awk -F: '/Maximum resident set size/ {printf "%d", $2/1024}' "$out/time.txt")
  what=$(python3 -c '
import json,sys
steps = []
for raw in open(sys.argv[1]):
    try: m=json.loads(raw)
    except ValueError: continue
    msg = m.get("message", "")
    if msg=="computed":
        print("%s customers computed, compute %.2f s%s" % (m.get("recomputed"), m.get("took_ms")/1000, " (all: "+m.get("why","")+")" if m.get("full") else ""))
    elif msg.startswith("incremental update: ") or msg=="source normalized" or msg.startswith("loaded"):
        steps.append("%s %.1f s" % (msg.replace("incremental update: ", "").split(":")[0], m.get("took_ms", 0)/1000))
if steps:
    print("      steps: " + ", ".join(steps))' "$out/inc-log.json")
  printf '  %-13s %8.2f s %7d MiB   %s\n' "$name" "$wall" "$peak" "$what"
}

# night LABEL AS_OF [SEED]: a delta of that seed (none without one), then
# the run on both warehouses.
night() {
  local label=$1 asof=$2 seed=${3:-}
  if [ -n "$seed" ]; then
    "$out/delta" --warehouse "$inc" --source gen --share "$share" --day "$asof" --by "$by" --seed "$seed" > "$data/invoices.csv" 2>/dev/null
    echo "$label, as_of $asof: $(( $(wc -l < "$data/invoices.csv") - 1 )) invoice lines new or changed"
  else
    echo "$header" > "$data/invoices.csv"
    echo "$label, as_of $asof: nothing new"
  fi
  measure incremental --warehouse "$inc" --as-of "$asof"; local a=$wall
  measure --full --warehouse "$full" --as-of "$asof" --full; local b=$wall
  python3 -c 'import sys; print("  incremental / full: %.2f" % (float(sys.argv[1])/float(sys.argv[2])))' "$a" "$b"
  if diff -r "$inc/marts" "$full/marts" >/dev/null; then
    echo "  marts: byte-identical"
  else
    echo "  marts: DIFFER" >&2
    exit 1
  fi
}

echo "N=$n lines, $share new or changed a night (by $by); $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "1. the first run, as_of 2024-12-20"
measure full --warehouse "$inc" --as-of 2024-12-20
cp -r "$inc" "$full"
nights=${NIGHTS:-1 2 3}
[[ " $nights " == *" 1 "* ]] && night "2. night 1" 2024-12-21 1
[[ " $nights " == *" 2 "* ]] && night "3. night 2" 2024-12-22 2
[[ " $nights " == *" 3 "* ]] && night "4. night 3" 2024-12-23
true

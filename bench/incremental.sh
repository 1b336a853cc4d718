#!/usr/bin/env bash
# Measures what a nightly run costs when little changed. On a generated
# history of N invoice lines (normalized tables, bench/run.sh's parquet
# format) it runs:
#   1. a full run as of D1 (no incremental state yet);
#   2. the next night: 1% of the lines new or changed (bench/delta: half
#      the same lines sent again with another amount, half new lines of the
#      same customers) and as_of one day later, incrementally;
#   3. the same second run with --full, on a copy of the warehouse after 1.
# It prints each run's wall time and peak memory, the ratio incremental /
# full, and checks that the two second runs' mart files are byte-identical.
#
#   bench/incremental.sh                 # 1M lines
#   bench/incremental.sh 10000000
#   SHARE=0.05 bench/incremental.sh 1000000
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
share=${SHARE:-0.01}
d1=2024-12-20 d2=2024-12-21
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

measure() { # name, then the run's arguments
  local name=$1; shift
  /usr/bin/time -v -o "$out/time.txt" "$out/mrrflow" run -c "$data/config.yaml" "$@" 2>"$out/inc-log-$name.json" >/dev/null
  local wall peak
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$out/time.txt")
  peak=$(awk -F: '/Maximum resident set size/ {printf "%d", $2/1024}' "$out/time.txt")
  local why
  why=$(python3 -c '
import json,sys
for raw in open(sys.argv[1]):
    try: m=json.loads(raw)
    except ValueError: continue
    if m.get("message")=="computed":
        print("%s of customers recomputed%s" % (m.get("recomputed"), " (full: "+m.get("why","")+")" if m.get("full") else ""))' "$out/inc-log-$name.json")
  printf '%-22s %8.2f s %8d MiB   %s\n' "$name" "$wall" "$peak" "$why"
  echo "$wall" > "$out/inc-wall-$name"
}

echo "N=$n lines, $share new or changed; $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
measure "1. full run ($d1)" --warehouse "$inc" --as-of "$d1"
cp -r "$inc" "$full"
"$out/delta" --warehouse "$inc" --source gen --share "$share" --day "$d2" --by "${BY:-lines}" > "$data/invoices.csv"
measure "2. incremental ($d2)" --warehouse "$inc" --as-of "$d2"
measure "3. --full ($d2)" --warehouse "$full" --as-of "$d2" --full
echo "$header" > "$data/invoices.csv"
python3 -c 'import sys; a=float(open(sys.argv[1]).read()); b=float(open(sys.argv[2]).read()); print("incremental / full: %.2f" % (a/b))' \
  "$out/inc-wall-2. incremental ($d2)" "$out/inc-wall-3. --full ($d2)"
if diff -r "$inc/marts" "$full/marts" >/dev/null; then
  echo "marts: byte-identical"
else
  echo "marts: DIFFER" >&2
  exit 1
fi

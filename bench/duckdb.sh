#!/usr/bin/env bash
# The full run side by side with DuckDB running the reference SQL of
# ../shared/duckref (a simpler, monthly-grain MRR in SQL, through npm's
# @duckdb/node-api, 2 threads) over the same stored Parquet, alternating,
# ROUNDS times (4 by default). mrrflow runs `run --full` on a copy of a
# generated warehouse (bench/run.sh's parquet format); both are timed
# whole under /usr/bin/time. Prints each run and the medians.
#
#   bench/duckdb.sh                 # 10M lines
#   bench/duckdb.sh 1000000
#   DUCKREF=/path/to/duckref bench/duckdb.sh
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000000}
rounds=${ROUNDS:-4}
duckref=${DUCKREF:-../shared/duckref}
if [ ! -f "$duckref/run.mjs" ]; then
  echo "no DuckDB reference at $duckref (set DUCKREF)" >&2
  exit 2
fi
out=bench/out
mkdir -p "$out"
[ -n "${NOBUILD:-}" ] || go build -o "$out/mrrflow" ./cmd/mrrflow
data="$out/data-parquet-$n"
if [ ! -f "$data/config.yaml" ]; then
  "$out/mrrflow" generate --customers $(( n / 31 )) --months 60 --seed 1 --format parquet --out "$data" --clean >/dev/null
fi
peer="$out/duckref"
if [ ! -d "$peer/node_modules/@duckdb/node-api" ]; then
  mkdir -p "$peer"
  (cd "$peer" && npm init -y >/dev/null && npm install --silent @duckdb/node-api >/dev/null)
fi
cp "$duckref"/*.sql "$duckref"/run.mjs "$peer/"
wh="$out/duck-wh-$n"
rm -rf "$wh" && cp -r "$data/warehouse" "$wh"
lines=$(ls "$wh"/normalized/invoice_lines/source=gen/*.parquet | head -1)
plans=$(ls "$wh"/normalized/plans/source=gen/*.parquet | head -1)

timed() { # prints "wall peak_MiB" of a command
  /usr/bin/time -v -o "$out/duck-time.txt" "$@" >/dev/null 2>"$out/duck-err.txt" || { cat "$out/duck-err.txt" >&2; exit 1; }
  awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; w=s} /Maximum resident set size/ {m=$2/1024} END {printf "%.2f %d\n", w, m}' "$out/duck-time.txt"
}

echo "N=$n lines; $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); wall s and peak MiB"
: > "$out/duck-mrrflow.txt"; : > "$out/duck-duckdb.txt"
for i in $(seq "$rounds"); do
  m=$(timed "$out/mrrflow" run -c "$data/config.yaml" --warehouse "$wh" --as-of 2024-12-20 --full)
  d=$(timed node "$peer/run.mjs" bench "$lines" "$plans")
  echo "$m" >> "$out/duck-mrrflow.txt"; echo "$d" >> "$out/duck-duckdb.txt"
  echo "round $i: mrrflow run --full $m   duckdb $d"
done
python3 - "$out/duck-mrrflow.txt" "$out/duck-duckdb.txt" <<'PY'
import statistics, sys
def read(p):
    rows = [l.split() for l in open(p) if l.strip()]
    return statistics.median(float(r[0]) for r in rows), statistics.median(float(r[1]) for r in rows)
(mw, mm), (dw, dm) = read(sys.argv[1]), read(sys.argv[2])
print("medians: mrrflow %.2f s, %d MiB; duckdb %.2f s, %d MiB; wall ratio mrrflow / duckdb %.2f, memory %.2f" % (mw, mm, dw, dm, mw / dw, mm / dm))
PY

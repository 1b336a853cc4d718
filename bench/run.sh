#!/usr/bin/env bash
# Runs the whole pipeline on generated data and reports, per stage, wall
# time, lines per second and the run's peak memory. staged_s is the writing
# of the normalized tables, which overlaps compute and load.
#
#   bench/run.sh                 # 100k and 1M invoice lines, CSV and NDJSON
#   bench/run.sh 10000000        # sizes in invoice lines (about)
#   FORMATS=growpanel bench/run.sh 1000000
#   FORMATS=stripe bench/run.sh 1000000      # Stripe API objects (NDJSON)
#   FORMATS=parquet bench/run.sh 100000000   # normalized tables, no text
#
# With FORMATS=parquet the data is generated straight into the normalized
# tables (about 31 lines per customer over 60 months) and the run computes
# from them: extract is then only the check that nothing new arrived.
# PARTITION_LINES sets the engine's partition budget (run --partition-lines),
# IMPORT_BYTES when a delivery is normalized in partitions (run
# --import-bytes; -1 holds every delivery in memory).
#
# Data and warehouses go under bench/out/ (git-ignored); generated data is
# kept and reused across runs of the same size and format.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100000 1000000)
formats=${FORMATS:-"growpanel growpanel-ndjson"}
out=bench/out
mkdir -p "$out"
go build -o "$out/mrrflow" ./cmd/mrrflow
printf '%-17s %10s %9s %12s %9s %9s %5s %9s %9s %10s\n' format lines extract_s lines/s staged_s compute_s parts load_s total_s peak_MiB
for n in "${sizes[@]}"; do
  for f in $formats; do
    customers=$(( n / 10 )) months=24
    [ "$f" = parquet ] && customers=$(( n / 31 )) months=60
    data="$out/data-$f-$n"
    if [ ! -f "$data/config.yaml" ]; then
      "$out/mrrflow" generate --customers "$customers" --months "$months" --seed 1 --format "$f" --out "$data" --clean >/dev/null
    fi
    wh="$out/wh-$f-$n"
    if [ "$f" = parquet ]; then
      # The generated warehouse is the input: runs work on a copy of it.
      rm -rf "$wh" && cp -r "$data/warehouse" "$wh"
    else
      rm -rf "$wh"
    fi
    /usr/bin/time -v -o "$out/time.txt" "$out/mrrflow" run -c "$data/config.yaml" --warehouse "$wh" \
      --partition-lines "${PARTITION_LINES:-0}" --import-bytes "${IMPORT_BYTES:-0}" 2>"$out/log.json" >/dev/null
    peak=$(awk -F: '/Maximum resident set size/ {printf "%d", $2/1024}' "$out/time.txt")
    python3 - "$out/log.json" "$f" "$peak" <<'PY'
import json, sys
lines, ext, staged, comp, load, total, parts, unchanged = 0, 0.0, 0.0, 0.0, 0.0, 0.0, 1, False
for raw in open(sys.argv[1]):
    try:
        m = json.loads(raw)
    except ValueError:
        continue
    msg = m.get("message", "")
    took = m.get("took_ms", 0) / 1000
    if msg == "source normalized":
        if m.get("unchanged"):
            lines += m.get("invoice_lines", 0)
            unchanged = True
        else:
            lines += m.get("accounts", {}).get("invoice", {}).get("read", 0)
        ext += took
    elif msg == "normalized tables staged":
        staged += took
    elif msg == "computed":
        comp = took
        parts = m.get("partitions", 1)
    elif msg.startswith("loaded"):
        load = took
    elif msg.startswith("run finished"):
        total = m.get("took_ms", 0) / 1000
rate = lines / ext if ext and not unchanged else 0
print(f"{sys.argv[2]:<17} {lines:>10} {ext:>9.2f} {rate:>12,.0f} {staged:>9.2f} {comp:>9.2f} {parts:>5} {load:>9.2f} {total:>9.2f} {sys.argv[3]:>10}")
PY
  done
done

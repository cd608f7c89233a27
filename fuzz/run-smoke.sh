#!/usr/bin/env bash
# Runs every fuzz target for a while (CI smoke: 20 s each), seeding the corpora from tests/data.
# Usage: fuzz/run-smoke.sh [seconds-per-target]. Needs cargo-fuzz (installed if missing) and
# builds flightrec without its `store` feature, so the bundled DuckDB is not rebuilt.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-20}"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/flightrec/fuzz-target}"
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
mkdir -p corpus/event_parse corpus/ndjson_lines corpus/wal_scan corpus/query_params
split -l 1 -d -a 3 ../tests/data/sample-events.ndjson corpus/event_parse/sample-
cp ../tests/data/sample-events.ndjson corpus/ndjson_lines/sample
cp ../tests/data/compat/v0.1.0-segment.wal corpus/wal_scan/v0.1.0-segment
printf 'limit=10&type=tool_call&from=2026-11-25T00:00:00Z&job_id=job-42' > corpus/query_params/seed
for target in wal_scan event_parse ndjson_lines query_params; do
    cp ../tests/data/fuzz/"$target"/* "corpus/$target/"  # inputs kept from earlier long runs
done
for target in wal_scan event_parse ndjson_lines query_params; do
    echo "== fuzz $target for ${secs}s"
    log="$(mktemp)"
    if ! cargo fuzz run -O "$target" "corpus/$target" -- -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 >"$log" 2>&1; then
        tail -60 "$log"
        echo "fuzz target $target failed: the crashing input is under fuzz/artifacts/$target/"
        exit 1
    fi
    grep -E "Done [0-9]+ runs" "$log"
    rm -f "$log"
done

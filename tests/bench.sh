#!/usr/bin/env bash
# `make bench`: throughput and peak memory of a real export against the simulator, on a small
# and a ten times larger range, with the targets the tool promises:
#   - memory stays flat: peak RSS under 40 MiB, and the large range within 1.5x of the small;
#   - throughput over loopback without injected latency: at least 5 000 conversations/s (CSV).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked --workspace --quiet
# Wherever cargo puts its output: CARGO_TARGET_DIR, build.target-dir, or ./target.
target=$(cargo metadata --format-version 1 --no-deps --locked | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="$target/release"
dir="$target/bench"
rm -rf "$dir"
mkdir -p "$dir"

"$bin"/genesys-sim --port-file "$dir/url" --seed 7 --conversations 300000 \
    --from 2026-11-01 --to 2026-11-08 --fault-rate 0 --token-fault-rate 0 \
    --token-lifetime 3600 --client-id bench --client-secret bench-secret \
    >"$dir/simulator.log" 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do
    [ -s "$dir/url" ] && break
    sleep 0.1
done
url=$(cat "$dir/url")

# Runs one export; prints "conversations seconds peak_kib".
measure() {
    local to=$1 format=$2 out=$3 mode=$4
    local started ended peak=0 hwm
    started=$(date +%s.%N)
    GENESYSCLOUD_OAUTHCLIENT_ID=bench GENESYSCLOUD_OAUTHCLIENT_SECRET=bench-secret \
        "$bin"/genesys-export conversations --from 2026-11-01 --to "$to" \
        --window 6h --format "$format" --mode "$mode" --job-poll 10ms \
        --api-base "$url" --login-base "$url" -q -o "$out" &
    local pid=$!
    # VmHWM is the process's peak resident set so far; the last reading before exit is its peak.
    while hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null) && [ -n "$hwm" ]; do
        peak=$hwm
        sleep 0.02
    done
    wait "$pid"
    ended=$(date +%s.%N)
    local rows
    if [ "$format" = csv ]; then rows=$(($(wc -l <"$out") - 1)); else rows=$(wc -l <"$out"); fi
    echo "$rows $(awk -v a="$started" -v b="$ended" 'BEGIN { printf "%.3f", b - a }') $peak"
}

fail=0
report() {
    local label=$1 rows=$2 secs=$3 peak=$4
    local rate
    rate=$(awk -v r="$rows" -v s="$secs" 'BEGIN { printf "%d", r / s }')
    printf '%-24s %8d conversations %7.2f s %8d conv/s  peak RSS %6.1f MiB\n' \
        "$label" "$rows" "$secs" "$rate" "$(awk -v p="$peak" 'BEGIN { print p / 1024 }')"
    if [ "$peak" -gt $((40 * 1024)) ]; then
        echo "  FAIL: peak RSS above 40 MiB"; fail=1
    fi
    if [ "$rate" -lt 5000 ]; then
        echo "  FAIL: below 5000 conversations/s"; fail=1
    fi
}

read -r small_rows small_secs small_peak < <(measure 2026-11-01T18:00:00Z csv "$dir/small.csv" query)
report "query, csv, 18 hours" "$small_rows" "$small_secs" "$small_peak"
read -r large_rows large_secs large_peak < <(measure 2026-11-08 csv "$dir/large.csv" query)
report "query, csv, 7 days" "$large_rows" "$large_secs" "$large_peak"
read -r json_rows json_secs json_peak < <(measure 2026-11-08 jsonl "$dir/large.jsonl" query)
report "query, jsonl, 7 days" "$json_rows" "$json_secs" "$json_peak"
read -r job_rows job_secs job_peak < <(measure 2026-11-08 csv "$dir/jobs.csv" jobs)
report "jobs, csv, 7 days" "$job_rows" "$job_secs" "$job_peak"

if [ "$large_peak" -gt $((small_peak * 3 / 2)) ]; then
    echo "FAIL: memory grows with the range (${small_peak} KiB -> ${large_peak} KiB)"; fail=1
fi
[ "$fail" = 0 ] && echo "bench: all targets met"
exit "$fail"

#!/usr/bin/env bash
# `make demo`: a real export against the bundled Genesys Cloud simulator, with tokens that
# live two seconds and faults injected (401, 429, 5xx, HTML pages, resets, truncated bodies).
# The simulated data lake holds the first five days: the default `--mode auto` estimates how
# many conversations they hold and sends them through analytics jobs or the details query,
# whichever it expects to be faster, saying which and why. The CSV is then checked against the
# simulator's ground truth, id by id.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked --workspace --quiet
# Wherever cargo puts its output: CARGO_TARGET_DIR, build.target-dir, or ./target.
target=$(cargo metadata --format-version 1 --no-deps --locked | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="$target/release"
dir="$target/demo"
rm -rf "$dir"
mkdir -p "$dir"

"$bin"/genesys-sim \
    --port-file "$dir/url" --dump-ids "$dir/ground-truth.txt" \
    --seed 42 --conversations 20000 --from 2026-11-01 --to 2026-11-08 \
    --client-id demo-client --client-secret demo-secret \
    --token-lifetime 2 --fault-rate 0.06 --retry-after 1 --latency-ms 5 \
    --availability 2026-11-06 --job-max-page-size 1000 --job-polls 2 \
    >"$dir/simulator.log" 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    [ -s "$dir/url" ] && break
    sleep 0.1
done
url=$(cat "$dir/url")
echo "simulator: $url (20000 conversations, 2 s tokens, 6% of requests faulty, data lake up to 2026-11-06)"

export GENESYSCLOUD_OAUTHCLIENT_ID=demo-client GENESYSCLOUD_OAUTHCLIENT_SECRET=demo-secret
# The setup first, as on a new server: region, connection, token, permissions, clock.
"$bin"/genesys-export check --api-base "$url" --login-base "$url"

"$bin"/genesys-export conversations \
    --from 2026-11-01 --to 2026-11-08 --window 6h \
    --api-base "$url" --login-base "$url" --backoff 200ms --job-poll 200ms \
    --output "$dir/conversations.csv"

# Job results come in the API's order, not by start time: compare sorted, and count repeats.
tail -n +2 "$dir/conversations.csv" | cut -d, -f1 | sort >"$dir/exported-ids.txt"
sort "$dir/ground-truth.txt" -o "$dir/ground-truth.txt"
repeats=$(uniq -d "$dir/exported-ids.txt" | wc -l)
if [ "$repeats" = 0 ] && diff -q "$dir/ground-truth.txt" "$dir/exported-ids.txt" >/dev/null; then
    echo "check: all $(wc -l <"$dir/ground-truth.txt") conversations of the ground truth, each exactly once"
else
    echo "check: the export differs from the ground truth (diff $dir/ground-truth.txt $dir/exported-ids.txt)" >&2
    exit 1
fi
echo "CSV: $dir/conversations.csv"

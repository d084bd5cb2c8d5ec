#!/usr/bin/env bash
# `make bench`: real exports against simulators on loopback, each figure printed next to the
# target the tool promises, PASS or FAIL. Runs one after another so they do not disturb each
# other; the exit status is non-zero if any target fails, once every figure is printed.
#
# 1. Without latency: throughput of at least 5 000 conversations/s, and memory that stays flat
#    (the 7-day range within 1.5x of the 18-hour one).
# 2. A latency profile like the real API's: 400 ms per request, 5 requests allowed in any 1 s
#    window, jobs fulfilled 20 s after submission, the data lake holding the older part of the
#    range. Each run is made with the default `--parallel` and again with `--parallel 1`:
#    - the details query, 20 000 conversations over a week: at most 1.25x its floor (requests
#      admitted / 5 per s) with at most 1 % of requests answered 429;
#    - default `auto` on a week the lake holds (about 5 000 conversations, `--window 1d`): at
#      most 2x the bulk floor (one job's 20 s + its 1 000-record result pages at 5 per s);
#    - default `auto` on one small day in the lake (about 700 conversations): at most 1.3x the
#      same day through `--mode query`;
#    - jobs whose result pages are granted 10 000 records at a time.
# 3. Peak RSS at most 16 MiB on every run.
# 4. CPU on the 20 000-conversation week without latency (the median of three runs, each
#    shown): at most 10 ms per 1 000
#    conversations on the query and the jobs paths, CSV and JSON Lines, and at most 2x the
#    floor measured in the same run (serde_json parsing the same conversations, in pages of the
#    reply's size, into `Value`; into `IgnoredAny` shown beside it); with strace installed, at
#    most 4 write-type system calls per committed page. The targets are the glibc build's;
#    the static musl build that `make release` ships is measured beside them once built.
# 5. `--tables`: the 20 000-conversation week as a dataset, without latency: CPU (user + system,
#    the median of three runs) at most 2x the single CSV's (with the same name columns, so the same name lookups), the
#    same requests, peak RSS at most 16 MiB; the dataset's rows per table are printed.
#
# Requests and 429s are the export's own counts (its closing summary on stderr): every attempt
# is counted, the token endpoint apart, and every 429 is retried. Runs of the same range must
# export the same number of conversations; the query week must match the simulator's ground
# truth. A run still going after its guard time is stopped (SIGTERM) and fails.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked --workspace --quiet
# Wherever cargo puts its output: CARGO_TARGET_DIR, build.target-dir, or ./target.
target=$(cargo metadata --format-version 1 --no-deps --locked | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="$target/release"
dir="$target/bench"
rm -rf "$dir"
mkdir -p "$dir"

rss_limit_kib=$((16 * 1024))
rate=5                # requests allowed per second in the latency profile
job_delay=20          # seconds from a job's submission to its fulfilment
job_page=1000         # job result page size the lake simulator grants
fail=0
started_bench=$(date +%s)

sims=()
trap 'for p in "${sims[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

# start_sim NAME [simulator flags...]: serves in the background; its URL goes to $dir/NAME.url.
start_sim() {
    local name=$1
    shift
    "$bin"/genesys-sim --port-file "$dir/$name.url" --fault-rate 0 --token-fault-rate 0 \
        --token-lifetime 3600 --client-id bench --client-secret bench-secret "$@" \
        >"$dir/$name.sim.log" 2>&1 &
    sims+=($!)
}

# sim_url NAME: waits (up to 60 s: generating the data takes a moment) and prints the URL.
sim_url() {
    for _ in $(seq 1 600); do
        [ -s "$dir/$1.url" ] && break
        sleep 0.1
    done
    if [ ! -s "$dir/$1.url" ]; then
        echo "bench: simulator $1 did not start (see $dir/$1.sim.log)" >&2
        exit 1
    fi
    cat "$dir/$1.url"
}

ticks=$(getconf CLK_TCK)

# measure NAME GUARD_SECS URL [export flags...]: one export to $dir/NAME.out (written with
# $out_flag, default -o; kept when $keep is set); sets r_conv r_secs r_peak r_api r_429 r_cpu
# (r_conv is "-" when the run failed: its log is $dir/NAME.log). r_cpu is the process's own
# user + system time (all its threads) as /proc last showed it, within a poll of its end.
measure() {
    local name=$1 guard=$2 url=$3
    shift 3
    local started ended now peak=0 hwm stopped=0 status=0 cpu=0 used
    started=$(date +%s.%N)
    GENESYSCLOUD_OAUTHCLIENT_ID=bench GENESYSCLOUD_OAUTHCLIENT_SECRET=bench-secret \
        "$bin"/genesys-export conversations --api-base "$url" --login-base "$url" \
        "${out_flag:--o}" "$dir/$name.out" "$@" 2>"$dir/$name.log" &
    local pid=$!
    # VmHWM is the process's peak resident set so far; the last reading before exit is its peak.
    while hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null) && [ -n "$hwm" ]; do
        peak=$hwm
        used=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null) && [ -n "$used" ] && cpu=$used
        now=$(date +%s.%N)
        # Past the guard: SIGTERM (the export saves its state and exits), SIGKILL 15 s later.
        if [ "$stopped" = 0 ] && awk -v a="$started" -v b="$now" -v g="$guard" 'BEGIN { exit !(b - a > g) }'; then
            kill -TERM "$pid" 2>/dev/null || true
            stopped=1
        elif [ "$stopped" = 1 ] && awk -v a="$started" -v b="$now" -v g="$guard" 'BEGIN { exit !(b - a > g + 15) }'; then
            kill -KILL "$pid" 2>/dev/null || true
            stopped=2
        fi
        sleep 0.02
    done
    wait "$pid" || status=$?
    ended=$(date +%s.%N)
    r_cpu=$(awk -v c="$cpu" -v t="$ticks" 'BEGIN { printf "%.2f", c / t }')
    r_secs=$(awk -v a="$started" -v b="$ended" 'BEGIN { printf "%.2f", b - a }')
    r_peak=$peak
    local done_line
    done_line=$(grep '^.*done: ' "$dir/$name.log" | tail -n 1 || true)
    r_conv=$(echo "$done_line" | sed -n 's/.*done: \([0-9]*\) conversations.*/\1/p')
    local all token
    all=$(echo "$done_line" | sed -n 's/.* \([0-9]*\) requests (\([0-9]*\) to the token endpoint).*/\1/p')
    token=$(echo "$done_line" | sed -n 's/.* \([0-9]*\) requests (\([0-9]*\) to the token endpoint).*/\2/p')
    r_api=$(( ${all:-0} - ${token:-0} ))
    r_429=$(echo "$done_line" | sed -n 's/.*[( ]429: \([0-9]*\).*/\1/p')
    r_429=${r_429:-0}
    if [ "$status" != 0 ] || [ -z "$r_conv" ]; then
        r_conv=- r_api=- r_429=-
        if [ "$stopped" != 0 ]; then
            r_secs=">$guard"
            echo "  FAIL: $name stopped after its ${guard} s guard (log: $dir/$name.log)"
        else
            echo "  FAIL: $name exited $status: $(grep -v '^$' "$dir/$name.log" | tail -n 1)"
        fi
        fail=1
    fi
    [ -n "${keep:-}" ] || rm -rf "$dir/$name.out"
}

# verdict OK TEXT: prints TEXT as PASS or FAIL.
verdict() {
    if [ "$1" = 1 ]; then echo "  PASS: $2"; else echo "  FAIL: $2"; fail=1; fi
}

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
# le A B: A <= B (decimals).
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

check_rss() {
    if [ "$2" -gt "$rss_limit_kib" ]; then
        echo "  FAIL: $1: peak RSS $(mib "$2") MiB above 16 MiB"
        fail=1
    fi
}

# same A B WHAT: the runs exported the same number of conversations (a failed run, "-", has
# already failed).
same() {
    if [ "$1" != - ] && [ "$2" != - ] && [ "$1" != "$2" ]; then
        echo "  FAIL: $3 exported $1 and $2 conversations"
        fail=1
    fi
}

start_sim fast --seed 7 --conversations 100000 --from 2026-11-01 --to 2026-11-08
profile=(--latency-ms 400 --rate-limit "$rate/1s" --job-fulfil-after-ms $((job_delay * 1000)))
start_sim week --seed 11 --conversations 20000 --from 2026-11-01 --to 2026-11-08 \
    --job-max-page-size 10000 --dump-ids "$dir/week-ids.txt" "${profile[@]}"
# Nine days at about 720 a day, the first seven in the lake.
start_sim lake --seed 12 --conversations 6480 --from 2026-11-01 --to 2026-11-10 \
    --availability 2026-11-08 --job-max-page-size "$job_page" "${profile[@]}"
start_sim clean --seed 11 --conversations 20000 --from 2026-11-01 --to 2026-11-08 \
    --job-max-page-size 10000
fast=$(sim_url fast)
week=$(sim_url week)
lake=$(sim_url lake)

echo "== without latency: throughput >= 5000 conversations/s, peak RSS <= 16 MiB"
printf '%-26s %8s %9s %9s %9s\n' run conv wall_s conv/s rss_MiB
fast_run() {
    local name=$1 label=$2
    shift 2
    measure "$name" 300 "$fast" --window 6h --job-poll 10ms "$@"
    local conv_s=0
    [ "$r_conv" != - ] && conv_s=$(awk -v r="$r_conv" -v s="$r_secs" 'BEGIN { printf "%d", r / s }')
    printf '%-26s %8s %9s %9s %9s\n' "$label" "$r_conv" "$r_secs" "$conv_s" "$(mib "$r_peak")"
    check_rss "$label" "$r_peak"
    if [ "$conv_s" -lt 5000 ]; then
        echo "  FAIL: $label: below 5000 conversations/s"
        fail=1
    fi
}
fast_run small "query, csv, 18 hours" --from 2026-11-01 --to 2026-11-01T18:00:00Z --mode query
small_peak=$r_peak
fast_run large "query, csv, 7 days" --from 2026-11-01 --to 2026-11-08 --mode query
large_peak=$r_peak
large_conv=$r_conv
fast_run jsonl "query, jsonl, 7 days" --from 2026-11-01 --to 2026-11-08 --mode query --format jsonl
same "$large_conv" "$r_conv" "the 7 days as csv and jsonl"
fast_run jobs "jobs, csv, 7 days" --from 2026-11-01 --to 2026-11-08 --mode jobs
same "$large_conv" "$r_conv" "the 7 days through the query and jobs"
if [ "$large_peak" -gt $((small_peak * 3 / 2)) ]; then
    echo "  FAIL: memory grows with the range (${small_peak} KiB -> ${large_peak} KiB)"
    fail=1
fi

echo
echo "== CPU per 1 000 conversations: the 20 000 week without latency, next to the parse floor"
clean=$(sim_url clean)
# cpu NAME [export flags...]: the week exported three times (to $dir/NAME.out, written with
# $out_flag, default -o); sets c_ms (CPU ms per 1 000 conversations, user + system, the
# median run's), c_cpu (that run's CPU seconds), c_all (every run's ms per 1 000), c_pages and
# c_conv ("-" when a run failed). Keeps the last output. The median stands: a run's system time is the kernel's
# work on the file it writes (page cache, block allocation, writeback at each sync), and on
# a shared disk one run in a few pays for other writers' state of the filesystem.
cpu() {
    local name=$1 status=0 line user sys run
    shift
    local TIMEFORMAT='%3U %3S' runs=() seconds=()
    for run in 1 2 3; do
        rm -rf "$dir/$name.out"
        { time GENESYSCLOUD_OAUTHCLIENT_ID=bench GENESYSCLOUD_OAUTHCLIENT_SECRET=bench-secret \
            timeout 300 "$bin"/genesys-export conversations --api-base "$clean" --login-base "$clean" \
            "${out_flag:--o}" "$dir/$name.out" --from 2026-11-01 --to 2026-11-08 --job-poll 10ms "$@" \
            2>"$dir/$name.log"; } 2>"$dir/$name.cpu" || status=$?
        read -r user sys <"$dir/$name.cpu" || true
        line=$(grep 'done: ' "$dir/$name.log" | tail -n 1 || true)
        c_conv=$(echo "$line" | sed -n 's/.*done: \([0-9]*\) conversations.*/\1/p')
        c_pages=$(echo "$line" | sed -n 's/.* \([0-9]*\) pages.*/\1/p')
        if [ "$status" != 0 ] || [ -z "$c_conv" ] || [ "$c_conv" = 0 ]; then
            echo "  FAIL: $name exited $status (log: $dir/$name.log)"
            fail=1
            c_ms=- c_conv=- c_pages=- c_all=- c_cpu=-
            return
        fi
        runs+=("$(awk -v u="$user" -v s="$sys" -v n="$c_conv" 'BEGIN { printf "%.1f", (u + s) * 1e6 / n }')")
        seconds+=("$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.3f", u + s }')")
    done
    c_ms=$(printf '%s\n' "${runs[@]}" | sort -g | sed -n 2p)
    c_cpu=$(printf '%s\n' "${seconds[@]}" | sort -g | sed -n 2p)
    c_all="${runs[*]}"
}
# writes NAME [export flags...]: write-type system calls per committed page, under strace.
writes() {
    local name=$1
    shift
    rm -f "$dir/$name.out"
    GENESYSCLOUD_OAUTHCLIENT_ID=bench GENESYSCLOUD_OAUTHCLIENT_SECRET=bench-secret \
        strace -f -c -o "$dir/$name.strace" -e trace=write,writev,pwrite64,pwritev,pwritev2 \
        "$bin"/genesys-export conversations --api-base "$clean" --login-base "$clean" \
        -o "$dir/$name.out" --from 2026-11-01 --to 2026-11-08 --job-poll 10ms "$@" 2>"$dir/$name.log"
    local calls pages
    calls=$(awk '$NF ~ /^(write|writev|pwrite64|pwritev|pwritev2)$/ { n += $4 } END { print n + 0 }' "$dir/$name.strace")
    pages=$(sed -n 's/.*done: .* \([0-9]*\) pages.*/\1/p' "$dir/$name.log" | tail -n 1)
    w_per_page=$(awk -v c="$calls" -v p="${pages:-0}" 'BEGIN { if (p > 0) printf "%.1f", c / p; else print "-" }')
    w_calls=$calls
    w_pages=${pages:--}
}
printf '%-22s %8s %7s %11s %11s %13s %8s\n' run conv pages cpu_ms/1k value_ms/1k ignored_ms/1k x_value
cpu_runs=(
    "query csv|cpu-qcsv|--mode query"
    "query jsonl|cpu-qjsonl|--mode query --format jsonl"
    "jobs csv|cpu-jcsv|--mode jobs --window 7d"
    "jobs jsonl|cpu-jjsonl|--mode jobs --window 7d --format jsonl"
)
# The floor: the conversations the JSON Lines runs wrote, in pages of the reply's size.
floor_of() { # FILE PAGE -> "value ignored"
    "$bin"/parse-floor --page "$2" "$1" | awk '{ print $3, $4 }'
}
for entry in "${cpu_runs[@]}"; do
    IFS='|' read -r label name flags <<<"$entry"
    # shellcheck disable=SC2086 # the flags are words
    cpu "$name" $flags
    eval "${name//-/_}=(\"$c_ms\" \"$c_conv\" \"$c_pages\" \"${c_all:--}\")"
done
value=(- -) ignored=(- -)
[ -s "$dir/cpu-qjsonl.out" ] && read -r value[0] ignored[0] <<<"$(floor_of "$dir/cpu-qjsonl.out" 100)"
[ -s "$dir/cpu-jjsonl.out" ] && read -r value[1] ignored[1] <<<"$(floor_of "$dir/cpu-jjsonl.out" 1000)"
for entry in "${cpu_runs[@]}"; do
    IFS='|' read -r label name _ <<<"$entry"
    declare -n r="${name//-/_}"
    k=0
    [[ $name == cpu-j* ]] && k=1
    x=$(ratio "${r[0]}" "${value[$k]}")
    printf '%-22s %8s %7s %11s %11s %13s %8s   (runs: %s)\n' "$label" "${r[1]}" "${r[2]}" "${r[0]}" "${value[$k]}" "${ignored[$k]}" "$x" "${r[3]}"
    if [ "${r[0]}" != - ]; then
        ok=0
        le "${r[0]}" 10 && ok=1
        verdict "$ok" "$label: ${r[0]} ms CPU per 1 000 conversations <= 10"
        ok=0
        [ "${value[$k]}" != - ] && le "${r[0]}" "$(awk -v v="${value[$k]}" 'BEGIN { print v * 2 }')" && ok=1
        verdict "$ok" "$label: within 2x the Value parse of the same bytes (${x}x)"
    fi
    unset -n r
done
same "$(wc -l <"$dir/cpu-qjsonl.out" 2>/dev/null || echo -)" "$(wc -l <"$dir/cpu-jjsonl.out" 2>/dev/null || echo -)" "the clean week through the query and jobs"
# The binary users run is the static musl build (`make release`): its own allocator, its
# CPU shown beside the figures above when it has been built (no target of its own).
shipped="$target/x86_64-unknown-linux-musl/release"
if [ -x "$shipped/genesys-export" ]; then
    built=$bin bin=$shipped
    for entry in "${cpu_runs[@]}"; do
        IFS='|' read -r label name flags <<<"$entry"
        # shellcheck disable=SC2086 # the flags are words
        cpu "${name/cpu-/cpu-musl-}" $flags
        printf '%-22s %8s %7s %11s   (the static musl build make release ships; runs: %s)\n' "$label, musl" "$c_conv" "$c_pages" "$c_ms" "${c_all:--}"
    done
    bin=$built
fi
if command -v strace >/dev/null; then
    for entry in "query csv|w-qcsv|--mode query" "jobs jsonl|w-jjsonl|--mode jobs --window 7d --format jsonl"; do
        IFS='|' read -r label name flags <<<"$entry"
        # shellcheck disable=SC2086 # the flags are words
        writes "$name" $flags
        ok=0
        [ "$w_per_page" != - ] && le "$w_per_page" 4 && ok=1
        verdict "$ok" "$label: $w_calls write-type system calls for $w_pages committed pages ($w_per_page a page) <= 4"
    done
else
    echo "  (strace not installed: write-type system calls per page not measured)"
fi
rm -f "$dir"/cpu-*.out "$dir"/w-*.out

echo
echo "== latency profile: 400 ms a request, $rate requests/s in a 1 s sliding window, jobs fulfilled after ${job_delay} s"
printf '%-34s %8s %7s %8s %5s %7s %7s %8s %6s\n' \
    run parallel conv wall_s requests 429s rss_MiB floor_s x_floor
# row LABEL PARALLEL: prints the last run's figures next to `floor` ("-" for none).
row() {
    local label=$1 parallel=$2
    local x=-
    [ "$floor" != - ] && [ "$r_conv" != - ] && x=$(ratio "$r_secs" "$floor")
    printf '%-34s %8s %7s %8s %5s %7s %7s %8s %6s\n' "$label" "$parallel" "$r_conv" "$r_secs" \
        "$r_api" "$r_429" "$(mib "$r_peak")" "$floor" "$x"
    check_rss "$label, --parallel $parallel" "$r_peak"
}
# slow NAME GUARD_SECS URL [export flags...]: one run of the latency profile.
slow() {
    local name=$1 guard=$2 url=$3
    shift 3
    sleep 1 # the previous run's requests leave the 1 s window
    measure "$name" "$guard" "$url" "$@"
}
# The query's floor: every request the limit admitted, at the allowed rate.
query_floor() {
    if [ "$r_api" = - ]; then echo -; return; fi
    awk -v n="$r_api" -v k="$r_429" -v r="$rate" 'BEGIN { printf "%.1f", (n - k) / r }'
}

week_truth=$(wc -l <"$dir/week-ids.txt")
wk=(--from 2026-11-01 --to 2026-11-08 --mode query)
slow q4 300 "$week" "${wk[@]}"
floor=$(query_floor)
row "query, week (20 000)" default
q4=("$r_conv" "$r_secs" "$r_api" "$r_429")
q4_floor=$floor
slow q1 300 "$week" "${wk[@]}" --parallel 1
floor=$(query_floor)
row "" 1
same "$week_truth" "${q4[0]}" "the ground truth and the query week"
same "${q4[0]}" "$r_conv" "the query week at both --parallel"

lk=(--from 2026-11-01 --to 2026-11-08 --window 1d)
slow a4 100 "$lake" "${lk[@]}"
floor=-
[ "$r_conv" != - ] && floor=$(awk -v c="$r_conv" -v p="$job_page" -v d="$job_delay" -v r="$rate" \
    'BEGIN { pages = int((c + p - 1) / p); if (pages < 1) pages = 1; printf "%.1f", d + pages / r }')
row "auto, lake week (--window 1d)" default
a4=("$r_conv" "$r_secs")
a4_floor=$floor
slow a1 100 "$lake" "${lk[@]}" --parallel 1
row "" 1
same "${a4[0]}" "$r_conv" "the lake week at both --parallel"

floor=-
day=(--from 2026-11-03 --to 2026-11-04)
slow d4 60 "$lake" "${day[@]}"
row "auto, small day in the lake" default
d4=("$r_conv" "$r_secs")
slow d1 60 "$lake" "${day[@]}" --parallel 1
row "" 1
slow dq4 60 "$lake" "${day[@]}" --mode query
row "query, the same day" default
dq4=("$r_conv" "$r_secs")
slow dq1 60 "$lake" "${day[@]}" --mode query --parallel 1
row "" 1
same "${d4[0]}" "${dq4[0]}" "the small day through auto and the query"

jb=(--from 2026-11-01 --to 2026-11-08 --window 7d --mode jobs)
slow j4 300 "$week" "${jb[@]}"
row "jobs, week, 10 000-record pages" default
j4_conv=$r_conv
slow j1 300 "$week" "${jb[@]}" --parallel 1
row "" 1
same "$week_truth" "$j4_conv" "the ground truth and the jobs week"
same "$j4_conv" "$r_conv" "the jobs week at both --parallel"

echo
echo "== tables: the 20 000-conversation week as a dataset (--tables), no latency"
tables=$clean
printf '%-34s %7s %8s %8s %9s %7s\n' run conv wall_s cpu_s requests rss_MiB
tw=(--from 2026-11-01 --to 2026-11-08 --mode query)
named=conversation_id,conversation_start,conversation_end,originating_direction,media_types,queue_ids,queue_names,user_ids,ani,dnis,wrap_up_codes,division_ids,user_names,wrap_up_names
# CPU: the median of three runs of each, timed apart (`cpu`) from the run that measures memory
# and requests.
cpu tcsv-cpu --mode query --columns "$named"
measure tcsv 300 "$tables" "${tw[@]}" --columns "$named"
printf '%-34s %7s %8s %8s %9s %7s   (runs: %s ms per 1 000)\n' "single CSV, name columns" "$r_conv" "$r_secs" "$c_cpu" "$r_api" "$(mib "$r_peak")" "$c_all"
check_rss "single CSV" "$r_peak"
tcsv=("$r_conv" "$c_cpu" "$r_api")
out_flag=--tables cpu tdir-cpu --mode query
out_flag=--tables keep=1 measure tdir 300 "$tables" "${tw[@]}"
printf '%-34s %7s %8s %8s %9s %7s   (runs: %s ms per 1 000)\n' "--tables" "$r_conv" "$r_secs" "$c_cpu" "$r_api" "$(mib "$r_peak")" "$c_all"
check_rss "--tables" "$r_peak"
same "${tcsv[0]}" "$r_conv" "the week as one CSV and as tables"
if [ -f "$dir/tdir.out/manifest.json" ]; then
    echo "  rows: $(tr -d ' \n' <"$dir/tdir.out/manifest.json" | sed -n 's/.*"rows":{\([^}]*\)}.*/\1/p')"
fi
tables_cpu=("$c_cpu" "$r_api")

echo
echo "== targets (default --parallel)"
if [ "${q4[0]}" = - ]; then
    verdict 0 "query week: no figure (the run failed or was stopped, see above)"
else
    ok=0
    le "${q4[1]}" "$(awk -v f="$q4_floor" 'BEGIN { print f * 1.25 }')" && ok=1
    verdict "$ok" "query week ${q4[1]} s <= 1.25 x its floor ${q4_floor} s ($(ratio "${q4[1]}" "$q4_floor")x)"
    ok=0
    [ $((q4[3] * 100)) -le "${q4[2]}" ] && ok=1
    verdict "$ok" "query week 429s ${q4[3]} <= 1 % of ${q4[2]} requests"
fi
if [ "${a4[0]}" = - ]; then
    verdict 0 "auto, lake week: no figure (the run failed or was stopped, see above)"
else
    ok=0
    le "${a4[1]}" "$(awk -v f="$a4_floor" 'BEGIN { print f * 2 }')" && ok=1
    verdict "$ok" "auto, lake week ${a4[1]} s <= 2 x the bulk floor ${a4_floor} s ($(ratio "${a4[1]}" "$a4_floor")x)"
fi
if [ "${d4[0]}" = - ] || [ "${dq4[0]}" = - ]; then
    verdict 0 "auto, small day: no figure (a run failed or was stopped, see above)"
else
    ok=0
    le "${d4[1]}" "$(awk -v q="${dq4[1]}" 'BEGIN { print q * 1.3 }')" && ok=1
    verdict "$ok" "auto, small day ${d4[1]} s <= 1.3 x the query's ${dq4[1]} s ($(ratio "${d4[1]}" "${dq4[1]}")x)"
fi
if [ "${tcsv[0]}" = - ] || [ "$r_conv" = - ]; then
    verdict 0 "tables: no figure (a run failed or was stopped, see above)"
else
    ok=0
    le "${tables_cpu[0]}" "$(awk -v c="${tcsv[1]}" 'BEGIN { print c * 2 }')" && ok=1
    verdict "$ok" "tables CPU ${tables_cpu[0]} s <= 2 x the single CSV's ${tcsv[1]} s ($(ratio "${tables_cpu[0]}" "${tcsv[1]}")x)"
    ok=0
    [ "${tables_cpu[1]}" = "${tcsv[2]}" ] && ok=1
    verdict "$ok" "tables requests ${tables_cpu[1]} = the single CSV's ${tcsv[2]}"
fi
echo "  (peak RSS <= 16 MiB and equal counts are checked under each row above)"
echo "bench: $(($(date +%s) - started_bench)) s"
if [ "$fail" = 0 ]; then echo "bench: all targets met"; else echo "bench: some targets failed"; fi
exit "$fail"

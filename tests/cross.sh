# Sourced by tests/release.sh: the checks every artifact passes where it runs (natively,
# under qemu-aarch64 or under wine), and the Windows-specific ones under wine.
#
# The caller sets: `target` (cargo's target directory), `work` (a scratch directory), `sim_bin`
# (the simulator) and `fail` (prints and exits). Every export runs against a simulator on
# loopback and is compared with its ground truth id by id, or byte for byte with an
# uninterrupted export of the same command.

# Starts a simulator in "$1" (a new directory) with the rest as its options, 300 conversations
# over one day, short tokens and faults; sets `sim_url` and `sim_pids`.
start_sim() {
    local dir=$1
    shift
    mkdir -p "$dir"
    "$sim_bin" --port-file "$dir/url" --dump-ids "$dir/truth.txt" \
        --seed 11 --conversations 300 --from 2026-11-01 --to 2026-11-02 \
        --client-id release-client --client-secret release-secret \
        --token-lifetime 2 --fault-rate 0.05 --retry-after 1 "$@" \
        >"$dir/log" 2>&1 &
    sim_pids+=("$!")
    for _ in $(seq 1 100); do
        [ -s "$dir/url" ] && break
        sleep 0.1
    done
    [ -s "$dir/url" ] || fail "the simulator did not start (see $dir/log)"
    sort "$dir/truth.txt" -o "$dir/truth.txt"
    sim_url=$(sed 's#//127\.0\.0\.1:#//localhost:#' "$dir/url")
}

# The CSV "$1" holds each conversation of the simulator in "$2" exactly once; their number is
# left in `exported`.
check_ids() {
    local ids="$2/exported.txt"
    tail -n +2 "$1" | cut -d, -f1 | sort >"$ids"
    [ -z "$(uniq -d "$ids")" ] || fail "$1 repeats conversations"
    diff -q "$2/truth.txt" "$ids" >/dev/null || fail "$1 differs from the simulator's ground truth"
    exported=$(wc -l <"$ids")
}

# Waits until the file "$1" exists while the process "$2" runs; fails if it ends first.
await_file() {
    for _ in $(seq 1 1200); do
        [ -e "$1" ] && return 0
        kill -0 "$2" 2>/dev/null || fail "the export ended before $1 appeared"
        sleep 0.05
    done
    fail "$1 did not appear within a minute"
}

# Runs the artifact: `run DIR ARGS...` in DIR, with an empty environment but for the client
# id and what the runner ($runner, an array: empty, qemu-aarch64, or wine) needs
# ($runner_env). `path` turns a path into the artifact's own spelling (a Windows path under
# wine). `command_in DIR ARGS...` sets `cmd` to the same command, to be started in the
# background (`"${cmd[@]}" &` leaves the process itself in `$!`).
command_in() {
    local dir=$1
    shift
    cmd=(env -i -C "$dir" "${runner_env[@]}" GENESYSCLOUD_OAUTHCLIENT_ID=release-client
        "${runner[@]}" "$artifact" "$@")
}
run() {
    command_in "$@"
    "${cmd[@]}"
}

# The export command of these checks, to the file "$1", against `sim_url`, in `args`.
export_args() {
    args=(conversations --client-secret-file "$(path "$work/secret")"
        --from 2026-11-01 --to 2026-11-02 --mode query --page-size 10 --parallel 1
        --api-base "$sim_url" --login-base "$sim_url" --backoff 200ms --output "$(path "$1")")
}

# `--version`, an export compared with the ground truth, and a kill-and-resume compared byte
# for byte with the uninterrupted export, for the artifact `artifact` under `runner`.
check_artifact() {
    local name=$1 dir="$work/$1"
    mkdir -p "$dir/run"
    run "$dir/run" --version >/dev/null || fail "$name: --version failed"
    start_sim "$dir/sim" --latency-ms 40
    export_args "$dir/run/whole.csv"
    run "$dir/run" "${args[@]}" 2>"$dir/whole.log" ||
        fail "$name: the export failed (see $dir/whole.log)"
    check_ids "$dir/run/whole.csv" "$dir/sim"
    export_args "$dir/run/killed.csv"
    command_in "$dir/run" "${args[@]}"
    "${cmd[@]}" 2>"$dir/killed.log" &
    local pid=$!
    await_file "$dir/run/killed.csv.state" "$pid"
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    [ ! -e "$dir/run/killed.csv" ] || fail "$name: the export finished before it was killed"
    [ -e "$dir/run/killed.csv.partial" ] || fail "$name: no partial file after the kill"
    export_args "$dir/run/killed.csv"
    run "$dir/run" "${args[@]}" 2>"$dir/resumed.log" ||
        fail "$name: the resumed export failed (see $dir/resumed.log)"
    grep -q 'resum' "$dir/resumed.log" || fail "$name: the second run did not resume (see $dir/resumed.log)"
    cmp -s "$dir/run/whole.csv" "$dir/run/killed.csv" ||
        fail "$name: the killed and resumed export differs from the uninterrupted one"
    echo "release check ($name): --version, an export of $exported conversations equal to the ground truth, a kill -9 mid-run resumed byte for byte"
}

# Under wine: the unit tests, from their Windows test executable "$1" (the lock's and
# Ctrl-Break's among them), but those wine 8 cannot run: the reparse-point one (its
# CreateSymbolicLinkW makes no link), the ACL one (it keeps no DACL a program sets) and four
# that expect Unix paths (two `--pending` ones, two of the zone lookup's); README.md ("Windows
# under wine") says why, from wine's source. Then, with the artifact: a second run refused
# while the first holds the lock; Ctrl-C (wine turns SIGINT into the console's CTRL_C_EVENT,
# through the handler the export installs) stopping the first with exit 130 and its state
# saved, then resumed byte for byte; Ctrl-Break, sent by "$2" (tests/windows/ctrl_break.c, the
# thread the console starts), doing the same; and links at the export's own names refused.
check_windows() {
    local tests=$1 ctrl_break=$2 dir="$work/windows"
    mkdir -p "$dir/run"
    env -i -C "$dir/run" "${runner_env[@]}" "${runner[@]}" "$tests" --test-threads 1 \
        --skip sys_windows::tests::a_reparse_point --skip sys_windows::tests::a_private_file \
        --skip pending::tests::handed_entries_round_trip \
        --skip pending::tests::written_follow_ups_are_handed \
        --skip tz::tests::a_missing_zone_names_itself --skip tz::tests::local_reads_tz_then \
        >"$dir/unit.log" 2>&1 || fail "windows: the unit tests under wine failed (see $dir/unit.log)"
    local passed
    passed=$(sed -n 's/^test result: ok\. \([0-9]*\) passed.*/\1/p' "$dir/unit.log")
    [ "${passed:-0}" -ge 100 ] || fail "windows: fewer unit tests than expected ran (see $dir/unit.log)"
    local test
    for test in lock::tests::a_second_lock_on_the_same_export_is_refused_and_the_first_is_released \
        sys_windows::tests::a_lock_is_exclusive_and_leaves_the_file_readable \
        signal::tests::a_console_ctrl_break_is_noted_as_a_signal \
        own_files::tests::every_spelling_of_one_file_is_the_same_file; do
        grep -q "^test $test ... ok" "$dir/unit.log" ||
            fail "windows: the unit test $test did not run (see $dir/unit.log)"
    done
    # Slow replies (30 pages of 300 ms): the first run is still going when the second starts.
    start_sim "$dir/sim" --latency-ms 300
    local whole="$work/wine/run/whole.csv"
    export_args "$dir/run/c.csv"
    command_in "$dir/run" "${args[@]}"
    "${cmd[@]}" 2>"$dir/Ctrl-C.log" &
    local pid=$!
    await_file "$dir/run/c.csv.state" "$pid"
    local code=0
    export_args "$dir/run/c.csv"
    run "$dir/run" "${args[@]}" 2>"$dir/second.log" || code=$?
    [ "$code" = 2 ] || fail "windows: a second run on a locked export exited $code, not 2 (see $dir/second.log)"
    grep -q 'is already exporting' "$dir/second.log" || fail "windows: the second run did not name the lock (see $dir/second.log)"
    grep -q "(process [0-9]*)" "$dir/second.log" || fail "windows: the second run did not name the holder (see $dir/second.log)"
    kill -INT "$pid"
    stopped_and_resumed "$pid" Ctrl-C "$dir" "$whole"
    # Ctrl-Break, to the process whose id the lock file holds, on a fresh run of the same export.
    rm "$dir/run/c.csv"
    export_args "$dir/run/c.csv"
    command_in "$dir/run" "${args[@]}"
    "${cmd[@]}" 2>"$dir/Ctrl-Break.log" &
    pid=$!
    await_file "$dir/run/c.csv.state" "$pid"
    env -i "${runner_env[@]}" "${runner[@]}" "$ctrl_break" "$(tr -dc 0-9 <"$dir/run/c.csv.lock")" ||
        fail "windows: Ctrl-Break could not be delivered"
    stopped_and_resumed "$pid" Ctrl-Break "$dir" "$whole"
    echo "release check (windows): $passed unit tests under wine; a second run refused while the first held the lock (exit 2, holder named); Ctrl-C, then Ctrl-Break, stopped a run (exit 130, state saved) and the re-run completed it byte for byte"
    check_windows_links
}

# The export "$1" (to c.csv in "$3"/run), sent "$2" (Ctrl-C or Ctrl-Break; its stderr in
# "$3/$2.log"), ends with exit 130 saying why, its state saved; the same command then
# completes it, equal byte for byte to the uninterrupted export "$4", leaving no other file.
stopped_and_resumed() {
    local pid=$1 event=$2 dir=$3 whole=$4 code=0
    wait "$pid" || code=$?
    [ "$code" = 130 ] || fail "windows: $event ended the export with $code, not 130 (see $dir/$event.log)"
    grep -q "interrupted by $event" "$dir/$event.log" || fail "windows: the run stopped by $event did not say why (see $dir/$event.log)"
    [ -s "$dir/run/c.csv.state" ] && [ ! -e "$dir/run/c.csv" ] || fail "windows: no state saved at $event"
    export_args "$dir/run/c.csv"
    run "$dir/run" "${args[@]}" 2>"$dir/resumed-$event.log" ||
        fail "windows: the export resumed after $event failed (see $dir/resumed-$event.log)"
    cmp -s "$whole" "$dir/run/c.csv" || fail "windows: the export resumed after $event differs from the uninterrupted one"
    [ "$(ls -A "$dir/run")" = "c.csv" ] || fail "windows: the export left other files: $(ls -A "$dir/run")"
}

# Under wine, a link where the lock, the partial file or the state should be is refused and
# what it points to is left alone. Wine 8 shows a Windows program two kinds of reparse point,
# to a query by name: a Unix symbolic link to a directory, planted here as an attacker would,
# and a mount point, mounted in a mount namespace of this check's own (`unshare -rm`, as
# tests/faults.rs mounts a full disk) where the system allows one; its wineserver runs there.
check_windows_links() {
    local dir="$work/links" name mounted=0
    mkdir -p "$dir/run" "$dir/victim"
    echo precious >"$dir/victim/keep"
    for name in lock partial state; do
        ln -s "$dir/victim" "$dir/run/c.csv.$name"
        refused_at "$name" "$dir/victim"
        rm "$dir/run/c.csv.$name"
    done
    WINEPREFIX="$WINEPREFIX" wineserver -w
    if unshare -rm true 2>/dev/null; then
        unshare -rm bash -c "set -euo pipefail
            $(declare -p work artifact runner runner_env sim_url WINEPREFIX)
            $(declare -f fail path command_in run export_args refused_at mount_points_refused)
            mount_points_refused" || exit 1
        mounted=1
    fi
    [ -z "$(ls -A "$dir/run")" ] || fail "windows: the refused runs left files: $(ls -A "$dir/run")"
    echo "release check (windows): a symbolic link to a directory$([ "$mounted" = 1 ] && echo " and a mount point") at c.csv.lock, .partial and .state refused, the link's target untouched"
}

# In a mount namespace of its own: a mount point at each name in turn, holding `keep`.
mount_points_refused() {
    local name at
    for name in lock partial state; do
        at="$work/links/run/c.csv.$name"
        mkdir "$at"
        mount -t tmpfs none "$at"
        echo precious >"$at/keep"
        refused_at "$name" "$at"
        umount "$at"
        rmdir "$at"
    done
    wineserver -w
}

# Runs the export of `check_windows_links` with a link at c.csv."$1" to the directory "$2"
# (holding only `keep`), and checks it is refused with the documented exit code, saying why.
# The partial file is refused when the link cannot be removed (wine 8 removes no directory
# link); the state is not a regular file, so it cannot be resumed.
refused_at() {
    local name=$1 target=$2 dir="$work/links" code=0 want=6 attempt says='is a symbolic link or a junction'
    case $name in
        partial) says='cannot create .*c\.csv\.partial' ;;
        state) want=2 says='c\.csv\.state cannot be resumed (it is not a regular file)' ;;
    esac
    export_args "$dir/run/c.csv"
    # A run that printed no error line of its own never ran: wine itself failed to start it
    # (a wineserver starting or stopping meanwhile). It is run again, at most twice.
    for attempt in 1 2 3; do
        code=0
        run "$dir/run" "${args[@]}" 2>"$dir/$name.log" || code=$?
        [ "$code" != "$want" ] && ! grep -q '^error: ' "$dir/$name.log" && [ "$attempt" != 3 ] || break
        echo "release check (windows): wine did not run the export at c.csv.$name (exit $code): $(tr '\n' ' ' <"$dir/$name.log"); again"
        WINEPREFIX="$WINEPREFIX" wineserver -w
    done
    [ "$code" = "$want" ] ||
        fail "windows: a link at c.csv.$name: exit $code, not $want: $(tr '\n' ' ' <"$dir/$name.log")"
    grep -q "$says" "$dir/$name.log" ||
        fail "windows: a link at c.csv.$name: not refused as it should be: $(tr '\n' ' ' <"$dir/$name.log")"
    [ "$(ls -A "$target")" = keep ] && [ "$(cat "$target/keep")" = precious ] ||
        fail "windows: a link at c.csv.$name: what it points to was changed"
    [ "$(ls -A "$dir/run")" = "c.csv.$name" ] || fail "windows: a link at c.csv.$name: the run left $(ls -A "$dir/run")"
}

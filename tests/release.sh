#!/usr/bin/env bash
# `make release`: the release artifact, a fully static x86_64 Linux binary, built and checked.
#
# With the musl target (installed by rustup when it can reach its servers, with musl-tools from
# apt-get) the binary links musl; where the target cannot be installed it links glibc
# statically (static-pie). Either way it needs no shared library at run time. The checks: no
# program interpreter and no shared library in the ELF headers, at most 6 MiB, `--version`,
# and an export against the simulator from an empty directory with an empty environment
# (`env -i`), the secret read from a file, compared with the ground truth id by id.
set -euo pipefail
cd "$(dirname "$0")/.."

musl=x86_64-unknown-linux-musl
gnu=x86_64-unknown-linux-gnu
have_musl_target() {
    rustup target list --installed 2>/dev/null | grep -qx "$musl"
}
if ! have_musl_target && command -v rustup >/dev/null 2>&1; then
    timeout 90 rustup target add "$musl" >/dev/null 2>&1 || true
fi
if have_musl_target && ! command -v musl-gcc >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    { apt-get update -qq && apt-get install -y -qq musl-tools; } >/dev/null 2>&1 || true
fi
if have_musl_target && command -v musl-gcc >/dev/null 2>&1; then
    triple=$musl libc="musl"
    CC_x86_64_unknown_linux_musl=musl-gcc cargo build --release --locked -p genesys-export --target "$musl"
else
    triple=$gnu libc="glibc, static-pie (the musl target could not be installed)"
    RUSTFLAGS="-C target-feature=+crt-static" \
        cargo build --release --locked -p genesys-export --target "$gnu"
fi
target=$(cargo metadata --format-version 1 --no-deps --locked | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
built="$target/$triple/release/genesys-export"
dist="$target/dist"
mkdir -p "$dist"
cp "$built" "$dist/genesys-export"
bin="$dist/genesys-export"

fail() { echo "release check: $*" >&2; exit 1; }
headers=$(readelf -lW -d "$bin")
if grep -q 'INTERP' <<<"$headers"; then fail "$bin asks for a program interpreter (dynamically linked)"; fi
if grep -q '(NEEDED)' <<<"$headers"; then fail "$bin needs shared libraries: $(grep '(NEEDED)' <<<"$headers" | tr -s ' ' | tr '\n' ' ')"; fi
size=$(stat -c %s "$bin")
[ "$size" -le $((6 * 1024 * 1024)) ] || fail "$bin is $size bytes, more than 6 MiB"
version=$(env -i "$bin" --version) || fail "$bin --version failed"

# A short export from an empty directory with an empty environment, through the resolver
# (`localhost`), with short tokens and faults.
cargo build --locked --quiet -p genesys-sim
sim_bin="$target/debug/genesys-sim"
work=$(mktemp -d)
trap 'kill ${sim:-} 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir "$work/run" "$work/sim"
"$sim_bin" --port-file "$work/sim/url" --dump-ids "$work/sim/truth.txt" \
    --seed 7 --conversations 600 --from 2026-11-01 --to 2026-11-02 \
    --client-id release-client --client-secret release-secret \
    --token-lifetime 2 --fault-rate 0.05 --retry-after 1 \
    >"$work/sim/log" 2>&1 &
sim=$!
for _ in $(seq 1 100); do
    [ -s "$work/sim/url" ] && break
    sleep 0.1
done
[ -s "$work/sim/url" ] || fail "the simulator did not start (see $work/sim/log)"
url=$(sed 's#//127\.0\.0\.1:#//localhost:#' "$work/sim/url")
printf 'release-secret\n' >"$work/secret"
chmod 600 "$work/secret"
(cd "$work/run" && env -i GENESYSCLOUD_OAUTHCLIENT_ID=release-client \
    "$bin" conversations --client-secret-file "$work/secret" \
    --from 2026-11-01 --to 2026-11-02 --mode query \
    --api-base "$url" --login-base "$url" --backoff 200ms \
    --output conversations.csv) || fail "the export with an empty environment failed"
tail -n +2 "$work/run/conversations.csv" | cut -d, -f1 | sort >"$work/exported.txt"
sort "$work/sim/truth.txt" -o "$work/sim/truth.txt"
[ -z "$(uniq -d "$work/exported.txt")" ] || fail "the export repeats conversations"
diff -q "$work/sim/truth.txt" "$work/exported.txt" >/dev/null || fail "the export differs from the simulator's ground truth"
[ "$(ls -A "$work/run")" = "conversations.csv" ] || fail "the export left other files: $(ls -A "$work/run")"

echo "release: $bin ($version, $libc, $size bytes, statically linked)"
echo "release check: --version and an export of $(wc -l <"$work/exported.txt") conversations with env -i, each exactly once"

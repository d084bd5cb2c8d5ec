#!/usr/bin/env bash
# `make release`: the three release artifacts in target/dist/, built and each checked where it
# runs.
#
#   genesys-export                 x86_64 Linux, static (musl; glibc static-pie where the musl
#                                  target cannot be installed), run natively
#   genesys-export-aarch64-linux   ARM64 Linux, static musl, cross-built, run under qemu-aarch64
#   genesys-export.exe             x86_64 Windows (windows-gnu, the C runtime's static parts
#                                  linked in), run under wine
#
# What is missing is installed: the rustup targets (rustup), musl-tools, the cross compilers,
# qemu-user and wine (apt-get). The checks: Linux binaries have no program interpreter and no
# shared library in their ELF headers; the Windows one imports only DLLs of Windows itself;
# each is at most 6 MiB. Each runs `--version`, an export against the simulator on loopback
# with an empty environment (the secret read from a file, paths in the artifact's own
# spelling: `Z:\...` under wine) compared with the ground truth id by id, and an export killed
# with SIGKILL mid-run then re-run, compared byte for byte with the uninterrupted one. Under
# wine the Windows-specific unit tests run too, a second run is refused while the first holds
# the lock, Ctrl-C and Ctrl-Break each stop a run with its state saved, and links at the
# export's own names are refused (see tests/cross.sh). The Windows code is linted with clippy
# for its target as well.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

fail() { echo "release check: $*" >&2; exit 1; }
apt_updated=
# Installs Debian packages "$@" (quietly; a failure shows in the check that follows).
apt_install() {
    command -v apt-get >/dev/null 2>&1 || return 0
    if [ -z "$apt_updated" ]; then
        apt-get update -qq >/dev/null 2>&1 || true
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
        >/dev/null 2>&1 || true
}
# Makes sure the command "$1" exists, installing the packages "${@:2}" where it does not.
need() {
    command -v "$1" >/dev/null 2>&1 || apt_install "${@:2}"
    command -v "$1" >/dev/null 2>&1 || fail "$1 is missing and apt-get install ${*:2} did not provide it"
}
have_target() { rustup target list --installed 2>/dev/null | grep -qx "$1"; }
add_target() {
    have_target "$1" || timeout 300 rustup target add "$1" >/dev/null 2>&1 || true
}
size_ok() {
    local size
    size=$(stat -c %s "$1")
    [ "$size" -le $((6 * 1024 * 1024)) ] || fail "$1 is $size bytes, more than 6 MiB"
}
static_elf() {
    local headers
    headers=$(readelf -lW -d "$1")
    if grep -q 'INTERP' <<<"$headers"; then fail "$1 asks for a program interpreter (dynamically linked)"; fi
    if grep -q '(NEEDED)' <<<"$headers"; then fail "$1 needs shared libraries: $(grep '(NEEDED)' <<<"$headers" | tr -s ' ' | tr '\n' ' ')"; fi
}

# --- The builds -------------------------------------------------------------------------
musl=x86_64-unknown-linux-musl
gnu=x86_64-unknown-linux-gnu
arm=aarch64-unknown-linux-musl
win=x86_64-pc-windows-gnu
if command -v rustup >/dev/null 2>&1; then
    add_target "$musl"
    add_target "$arm"
    add_target "$win"
fi
if have_target "$musl" && ! command -v musl-gcc >/dev/null 2>&1; then
    apt_install musl-tools
fi
if have_target "$musl" && command -v musl-gcc >/dev/null 2>&1; then
    triple=$musl libc="musl"
    CC_x86_64_unknown_linux_musl=musl-gcc cargo build --release --locked -p genesys-export --target "$musl"
else
    triple=$gnu libc="glibc, static-pie (the musl target could not be installed)"
    RUSTFLAGS="-C target-feature=+crt-static" \
        cargo build --release --locked -p genesys-export --target "$gnu"
fi
have_target "$arm" || fail "the rustup target $arm could not be installed"
have_target "$win" || fail "the rustup target $win could not be installed"
need aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu libc6-dev-arm64-cross
need x86_64-w64-mingw32-gcc gcc-mingw-w64-x86-64 binutils-mingw-w64-x86-64
need x86_64-w64-mingw32-objdump binutils-mingw-w64-x86-64
# The C parts (ring) compile against the cross compiler's headers; musl's crt objects and
# libc come with the rustup target (self-contained), so the GNU cross linker links them.
CC_aarch64_unknown_linux_musl=aarch64-linux-gnu-gcc \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=aarch64-linux-gnu-gcc \
    cargo build --release --locked -p genesys-export --target "$arm"
# `crt-static` links libgcc and winpthread in; the C library itself is msvcrt.dll, part of
# every Windows.
CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --locked -p genesys-export --target "$win"
# The Windows code is linted as the native code is (`make lint`), its unit tests included.
cargo clippy --locked --quiet -p genesys-export --target "$win" --bin genesys-export -- -D warnings
cargo clippy --locked --quiet -p genesys-export --target "$win" --bin genesys-export --profile test \
    -- -D warnings
# The Windows unit tests, run under wine below.
win_tests=$(CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUSTFLAGS="-C target-feature=+crt-static" \
    cargo test --no-run --locked -p genesys-export --bin genesys-export --target "$win" \
    --message-format json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*\.exe\)".*/\1/p' | tail -n 1)
[ -n "$win_tests" ] || fail "the Windows unit tests did not build"
cargo build --locked --quiet -p genesys-sim
built=$SECONDS

target=$(cargo metadata --format-version 1 --no-deps --locked | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
dist="$target/dist"
mkdir -p "$dist"
bin="$dist/genesys-export"
bin_arm="$dist/genesys-export-aarch64-linux"
bin_win="$dist/genesys-export.exe"
cp "$target/$triple/release/genesys-export" "$bin"
cp "$target/$arm/release/genesys-export" "$bin_arm"
cp "$target/$win/release/genesys-export.exe" "$bin_win"

# --- The static checks ------------------------------------------------------------------
static_elf "$bin"
static_elf "$bin_arm"
readelf -hW "$bin_arm" | grep -q 'AArch64' || fail "$bin_arm is not an AArch64 binary"
# The DLLs of Windows itself: the kernel, the C runtime every Windows ships, sockets,
# cryptography and security; std names its synchronisation API set.
system_dlls=" kernel32.dll ntdll.dll msvcrt.dll ws2_32.dll advapi32.dll bcrypt.dll bcryptprimitives.dll userenv.dll api-ms-win-core-synch-l1-2-0.dll "
dlls=$(x86_64-w64-mingw32-objdump -p "$bin_win" | sed -n 's/^\s*DLL Name: //p' | tr 'A-Z' 'a-z' | sort -u)
[ -n "$dlls" ] || fail "$bin_win has no import table"
for dll in $dlls; do
    [[ "$system_dlls" == *" $dll "* ]] || fail "$bin_win needs $dll, which Windows does not ship"
done
for artifact in "$bin" "$bin_arm" "$bin_win"; do size_ok "$artifact"; done

# --- Each artifact where it runs ----------------------------------------------------------
qemu=$(command -v qemu-aarch64 || command -v qemu-aarch64-static || true)
if [ -z "$qemu" ]; then
    need qemu-aarch64 qemu-user
    qemu=$(command -v qemu-aarch64)
fi
need wine wine wine64
sim_bin="$target/debug/genesys-sim"
work=$(mktemp -d)
sim_pids=()
export WINEPREFIX="$target/wine"
cleanup() {
    local code=$?
    for pid in "${sim_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    WINEPREFIX="$WINEPREFIX" wineserver -k 2>/dev/null || true
    # A failed check's files (the logs it names) are kept.
    if [ "$code" = 0 ]; then rm -rf "$work"; fi
}
trap cleanup EXIT
printf 'release-secret\n' >"$work/secret"
chmod 600 "$work/secret"
# shellcheck source=tests/cross.sh
. tests/cross.sh

# x86_64 Linux: natively, as before, and an export with an empty environment.
runner=() runner_env=() artifact=$bin
path() { echo "$1"; }
check_artifact linux-x86_64
[ "$(ls -A "$work/linux-x86_64/run")" = "$(printf 'killed.csv\nwhole.csv')" ] ||
    fail "the export left other files: $(ls -A "$work/linux-x86_64/run")"

# ARM64 Linux under qemu-aarch64.
runner=("$qemu") artifact=$bin_arm
check_artifact linux-aarch64

# Windows under wine, with a prefix made once (wine's first start is its slow part).
wine_started=$SECONDS
if [ ! -e "$WINEPREFIX/system.reg" ]; then
    WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" wineboot --init >/dev/null 2>&1 ||
        fail "wine could not initialise $WINEPREFIX"
    WINEPREFIX="$WINEPREFIX" wineserver -w
fi
# Wine 8 (Debian 12) lacks bcryptprimitives.dll, which Windows 10 and later have and every Rust
# program imports: a stand-in, built from tests/windows/, goes into the prefix only.
shim="$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
if [ ! -e "$shim" ]; then
    x86_64-w64-mingw32-gcc -O2 -shared -o "$shim" tests/windows/bcryptprimitives.c \
        tests/windows/bcryptprimitives.def -ladvapi32 || fail "the stand-in $shim did not build"
fi
runner=("$(command -v wine)")
runner_env=(HOME="$HOME" PATH=/usr/bin:/bin WINEPREFIX="$WINEPREFIX" WINEDEBUG=-all)
artifact=$bin_win
# Windows paths: the drive letter wine maps / to, and backslashes.
path() { echo "Z:${1//\//\\}"; }
check_artifact wine
# Ctrl-Break under wine comes from a small program, sent the way the console sends it.
ctrl_break="$work/ctrl_break.exe"
x86_64-w64-mingw32-gcc -O2 -Wall -o "$ctrl_break" tests/windows/ctrl_break.c ||
    fail "tests/windows/ctrl_break.c did not build"
check_windows "$win_tests" "$ctrl_break"

echo "release: $bin ($(env -i "$bin" --version), $libc, $(stat -c %s "$bin") bytes, statically linked)"
echo "release: $bin_arm (aarch64, musl, $(stat -c %s "$bin_arm") bytes, statically linked)"
echo "release: $bin_win (x86_64 Windows, $(stat -c %s "$bin_win") bytes, DLLs: $(echo $dlls))"
echo "release: built in $((built - started)) s, checked in $((SECONDS - built)) s (wine $((SECONDS - wine_started)) s)"

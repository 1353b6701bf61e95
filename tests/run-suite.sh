#!/bin/bash
# Run the whole krb5-stateless test suite on a Debian 12 machine, as root:
#   1. install missing build and test dependencies (apt-get),
#   2. build out of tree and run `make check` (Check unit tests, then
#      integration tests against Debian's real krb5kdc on loopback),
#   3. build again with ASan+UBSan and run `make check` there,
#   4. `make distcheck`,
#   5. run every libFuzzer target briefly (FUZZ_SECONDS, default 20).
# Prints one closing line "N passed, N failed, N skipped" (automake's totals
# of steps 2 and 3, plus one each for distcheck and the fuzz runs) and exits
# non-zero if anything failed.
#
# Environment: KS_BUILD_ROOT (default: a new temporary directory),
# SKIP_SANITIZERS=1, SKIP_DISTCHECK=1, SKIP_FUZZ=1, FUZZ_SECONDS.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)
build_root=${KS_BUILD_ROOT:-$(mktemp -d /tmp/krb5-stateless-suite.XXXXXX)}
passed=0 failed=0 skipped=0

say() { printf '\n=== %s\n' "$*"; }

deps="build-essential autoconf automake libtool pkg-config libkrb5-dev
krb5-multidev comerr-dev krb5-kdc krb5-user krb5-admin-server libssl-dev
libverto-dev liblmdb-dev check faketime clang libclang-rt-14-dev strace
tcpdump user-mode-linux kmod iproute2 iputils-ping"

install_deps() {
    local missing="" p
    for p in $deps; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q "ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    say "installing:$missing"
    if [ "$(id -u)" != 0 ]; then
        echo "run as root (or install:$missing)" >&2
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q && apt-get install -y -q --no-install-recommends $missing
}

# Add the totals of every test-suite.log under $1 to the counters.
count_results() {
    local log n
    for log in $(find "$1/tests" -name test-suite.log 2>/dev/null); do
        n=$(sed -n 's/^# PASS: *//p' "$log"); passed=$((passed + ${n:-0}))
        n=$(sed -n 's/^# SKIP: *//p' "$log"); skipped=$((skipped + ${n:-0}))
        n=$(sed -n 's/^# FAIL: *//p' "$log"); failed=$((failed + ${n:-0}))
        n=$(sed -n 's/^# ERROR: *//p' "$log"); failed=$((failed + ${n:-0}))
        n=$(sed -n 's/^# XPASS: *//p' "$log"); failed=$((failed + ${n:-0}))
    done
}

# Configure, build and check in $1 with configure arguments $2...
build_and_check() {
    local dir=$1; shift
    mkdir -p "$dir" && cd "$dir" || return 1
    if ! "$top/configure" -q "$@" || ! make -s -j"$jobs"; then
        echo "build failed in $dir" >&2
        failed=$((failed + 1))
        return 1
    fi
    make -k -j"$jobs" check
    count_results "$dir"
    # Show the logs of failing tests.
    grep -l -E '^:test-result: (FAIL|ERROR)' $(find tests -name '*.trs') \
        2>/dev/null | while read -r trs; do
        echo "----- ${trs%.trs}.log"; cat "${trs%.trs}.log"
    done
}

install_deps || { echo "0 passed, 1 failed"; exit 1; }
cd "$top" || exit 1
if [ ! -x configure ] || [ configure.ac -nt configure ]; then
    say "autoreconf"
    autoreconf -fi || { echo "0 passed, 1 failed"; exit 1; }
fi

say "build and check ($build_root/plain)"
build_and_check "$build_root/plain"

if [ -z "${SKIP_SANITIZERS:-}" ]; then
    say "ASan+UBSan build and check ($build_root/sanitize)"
    build_and_check "$build_root/sanitize" --enable-sanitizers
fi

if [ -z "${SKIP_DISTCHECK:-}" ]; then
    say "distcheck"
    if (cd "$build_root/plain" && make -s distcheck >"$build_root/distcheck.log" 2>&1); then
        passed=$((passed + 1)); echo "PASS: make distcheck"
    else
        failed=$((failed + 1)); echo "FAIL: make distcheck"
        tail -60 "$build_root/distcheck.log"
    fi
fi

if [ -z "${SKIP_FUZZ:-}" ] && [ -x "$top/tests/fuzz/run.sh" ] && command -v clang >/dev/null; then
    say "fuzz targets, ${FUZZ_SECONDS:-20}s each"
    if out=$(BUILDDIR="$build_root/plain" bash "$top/tests/fuzz/run.sh" "${FUZZ_SECONDS:-20}" 2>&1); then
        n=$(printf '%s\n' "$out" | grep -c '^PASS:')
        passed=$((passed + n)); printf '%s\n' "$out" | grep -E '^(PASS|FAIL):'
    else
        printf '%s\n' "$out" | tail -40
        n=$(printf '%s\n' "$out" | grep -c '^FAIL:'); [ "$n" -gt 0 ] || n=1
        failed=$((failed + n))
    fi
fi

echo
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]

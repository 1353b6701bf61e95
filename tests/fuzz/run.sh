#!/bin/bash
# Build every libFuzzer target and run each for SECONDS (default 60), all
# at once (one process per target), then print one line per target:
#   PASS: fuzz_classify (1234567 execs in 60 s, work corpus 345 inputs)
#   FAIL: fuzz_classify (exit 77; crash: .../fuzz_classify-crash-<sha1>; log: ...)
# Exit status 0 when no target failed.
#
# Environment: BUILDDIR, a configured build directory (default: configure
# a new one under ${TMPDIR:-/tmp}); FUZZ_WORKDIR (default
# BUILDDIR/fuzz-targets/work) keeps the growing corpora, logs and crash
# inputs; the seed corpora in tests/fuzz/corpus are never written to.
# Reproduce a crash with: BUILDDIR/fuzz-targets/<target> <crash file>.
set -u

seconds=${1:-60}
case $seconds in
    ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(cd "$here/../.." && pwd)
targets="fuzz_classify fuzz_config_value fuzz_devreg_message fuzz_cammac
    fuzz_freshness_token fuzz_cms_verify fuzz_tempkey_message fuzz_kink_msg
    fuzz_kink_isakmp fuzz_kink_xfrm"

command -v clang >/dev/null ||
    { echo "FAIL: fuzz (clang not found: apt-get install clang)"; exit 1; }

if [ -z "${BUILDDIR:-}" ]; then
    BUILDDIR=$(mktemp -d "${TMPDIR:-/tmp}/ks-fuzz-build.XXXXXX")
    if [ ! -x "$srcdir/configure" ]; then
        (cd "$srcdir" && autoreconf -fi) >/dev/null 2>&1 ||
            { echo "FAIL: fuzz (autoreconf failed)"; exit 1; }
    fi
    (cd "$BUILDDIR" && "$srcdir/configure" -q) >"$BUILDDIR/configure.out" 2>&1 ||
        { echo "FAIL: fuzz (configure failed, see $BUILDDIR/config.log)"; exit 1; }
fi
BUILDDIR=$(cd "$BUILDDIR" && pwd)
outdir=$BUILDDIR/fuzz-targets
work=${FUZZ_WORKDIR:-$outdir/work}
mkdir -p "$work/artifacts"

if ! make -s -C "$here" SRCDIR="$srcdir" BUILDDIR="$BUILDDIR" OUTDIR="$outdir" \
        >"$work/build.log" 2>&1; then
    cat "$work/build.log"
    echo "FAIL: fuzz (build failed)"
    exit 1
fi

# Start every target; each writes new inputs to its own work corpus.
pids=""
for t in $targets; do
    mkdir -p "$work/corpus/$t"
    "$outdir/$t" "$work/corpus/$t" "$here/corpus/$t" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len=8192 -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/$t-" >"$work/$t.log" 2>&1 &
    pids="$pids $!"
done

status=0
set -- $pids
for t in $targets; do
    wait "$1"
    rc=$?
    shift
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log")
    ncorp=$(find "$work/corpus/$t" -type f | wc -l)
    if [ "$rc" -eq 0 ]; then
        echo "PASS: $t (${execs:-?} execs in $seconds s, work corpus $ncorp inputs)"
    else
        crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$work/$t.log" |
                    tail -1)
        grep -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error' \
            "$work/$t.log" | sed 's/^/  /'
        echo "FAIL: $t (exit $rc; crash: ${crash:-none}; log: $work/$t.log)"
        status=1
    fi
done
exit $status

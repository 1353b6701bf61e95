#!/bin/bash
# kinkd's xfrm SA backend (kink/kink_sa_xfrm.c) against real kernels:
#
#   1. this host's kernel, in a fresh network namespace: where it has no
#      ESP (the machines the suite runs on), kink_sa_add fails with a
#      message naming the cause and leaves nothing behind; trap policies,
#      an ACQUIRE, the socket bypass and close (no ESP needed; this part
#      runs in sanitizer builds too);
#   2. a UML guest (uml-run.sh) with ESP: in namespaces a and b the driver
#      (xfrm_driver.c) reserves SPIs, installs mirrored SA pairs (AES-GCM
#      transport; a rekey next to them; AES-CBC/HMAC-SHA256 tunnel after
#      an ACQUIRE from a trap policy), pings pass as ESP (tcpdump: ESP with
#      the SPIs, no plaintext ICMP; SA byte counters grow), soft and hard
#      EXPIREs arrive, the KINK socket bypass works, and delete and close
#      remove every SA and policy.
#
# Needs root (skips otherwise); the UML part is skipped in sanitizer
# builds.  Environment: XFRM_DRIVER (the built
# driver; without it the driver is compiled here from KS_TOP_BUILDDIR's
# libraries), KS_KEEP=1 keeps the work directory.
set -u
here=$(cd "$(dirname "$0")" && pwd)
t0=$(date +%s)

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (UML, network namespaces)"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/t_uml_xfrm.XXXXXX") || exit 99
cleanup() { [ -n "${KS_KEEP:-}" ] && echo "kept $work" || rm -rf "$work"; }
trap cleanup EXIT

driver=${XFRM_DRIVER:-}
if [ -z "$driver" ] || [ ! -x "$driver" ]; then
    b=${KS_TOP_BUILDDIR:-$here/../..}
    s=${KS_TOP_SRCDIR:-$here/../..}
    driver=$work/xfrm_driver
    ${KS_CC:-cc} -O1 -g -I"$b" -I"$s/lib" -I"$b/lib" -I"$s/kink" \
        $(pkg-config --cflags krb5 libverto) -o "$driver" \
        "$here/xfrm_driver.c" "$b/kink/.libs/libkinkd.a" \
        "$b/kink/.libs/libkink.a" "$b/lib/.libs/libkscommon.a" \
        $(pkg-config --libs krb5 libverto openssl) -llmdb -lcom_err ||
        { echo "FAIL: cannot build the driver"; exit 99; }
fi

echo "=== host kernel $(uname -r), fresh network namespace"
unshare -n "$driver" host 2>&1
hrc=$?
case $hrc in
    0) ;;
    77) echo "(host part skipped)" ;;
    *) echo "FAIL: host part"; exit 1 ;;
esac

if [ "${KS_SANITIZE:-no}" = yes ]; then
    # ASan reserves terabytes of shadow address space, more than a UML
    # process's address space holds.
    echo "SKIP: UML part (sanitizer builds cannot run in UML)"
    exit $hrc
fi
echo "=== UML guest"
XFRM_DRIVER=$driver UML_PASS_ENV=XFRM_DRIVER \
    UML_PKGS="tcpdump iputils-ping" UML_TIMEOUT=${UML_TIMEOUT:-120} \
    bash "$here/uml-run.sh" "$here/guest_xfrm_backend.sh" "$work/uml"
rc=$?
echo "=== wall time $(( $(date +%s) - t0 )) s"
[ $rc -eq 77 ] && exit 77
if [ $rc -ne 0 ] || grep -q '^FAIL' "$work/uml/guest.log"; then
    echo "FAIL: kernel test in UML (guest rc=$rc)"
    exit 1
fi
echo "PASS: xfrm backend in a real kernel"
exit 0

#!/bin/bash
# kink-bench.sh: SA pairs per second between two kinkd (backend none) on
# loopback with tickets cached, and the messages per SA pair counted from a
# tcpdump capture of the whole run (issue 5's benchmark).  Two runs: the
# optimistic exchange (the responder takes the initiator's first proposal:
# CREATE, REPLY) and the three-message one (the responder picks another
# proposal: CREATE, REPLY, ACK).  Pairs are negotiated one after the other
# by the daemon itself (kinkctl initiate PEER COUNT), so the figure is the
# round trip of one exchange, crypto and KEYMAT included, not kinkctl's.
#
#   bash bench/kink-bench.sh            (from a configured and built tree)
#   KS_BUILDDIR=/path/to/build BENCH_KINK_PAIRS=2000 bash bench/kink-bench.sh
#
# Needs root (tcpdump on lo) and the packages of tests/run-suite.sh.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
b=${KS_BUILDDIR:-$top}
N=${BENCH_KINK_PAIRS:-1000}
export KS_TOP_SRCDIR=$top KS_TOP_BUILDDIR=$b
export KS_MODULE_DIR=$b/kdb-stateless/.libs KSTATELESS=$b/kdb-stateless/kstateless
export KINKD=$b/kink/kinkd KINKCTL=$b/kink/kinkctl
[ -x "$KINKD" ] || { echo "kink-bench: no kinkd in $b/kink (build first, or set KS_BUILDDIR)" >&2; exit 2; }
command -v tcpdump >/dev/null || { echo "kink-bench: tcpdump is needed (apt-get install tcpdump)" >&2; exit 2; }
. "$top/tests/lib/realm.sh"
. "$top/tests/lib/kink.sh"
ks_tmpdir
T=$KS_TMPDIR
realm_create "$T/r" >/dev/null || exit 1
realm_env "$T/r"
kdc_start "$T/r" || exit 1
for h in a b c; do
    kstateless keytab -k "$T/$h.keytab" host/$h.example.test >/dev/null || exit 1
done
PORT=$(free_port)
A=127.0.0.2 B=127.0.0.3 C=127.0.0.4
{
    kink_peer $B host/b.example.test@EXAMPLE.TEST "$PORT"
    kink_peer $C host/c.example.test@EXAMPLE.TEST "$PORT"
} | kinkd_conf "$T/a.conf" $A "$PORT" "keytab:FILE:$T/a.keytab host/a.example.test" "$T/a"
kink_peer $A host/a.example.test@EXAMPLE.TEST "$PORT" |
    kinkd_conf "$T/b.conf" $B "$PORT" "keytab:FILE:$T/b.keytab host/b.example.test" "$T/b"
kink_peer $A host/a.example.test@EXAMPLE.TEST "$PORT" "proposal = esp aes128-cbc hmac-sha1" |
    kinkd_conf "$T/c.conf" $C "$PORT" "keytab:FILE:$T/c.keytab host/c.example.test" "$T/c"
for h in a b c; do
    kinkd_start $h "$T/$h.conf" || exit 1
done

echo "kink-bench: $N SA pairs per run, kinkd backend none, tickets cached, $(nproc) CPUs"
printf '%-44s %12s %16s\n' "exchange" "pairs/s" "messages/pair"
run() {
    local label=$1 peer=$2 out pcap=$T/$RANDOM.pcap tpid n rate i
    kinkctl_at "$T/a" initiate "$peer" >/dev/null || { echo "kink-bench: warm-up with $peer failed" >&2; return 1; }
    tcpdump -i lo -n -U --immediate-mode -w "$pcap" "udp port $PORT" >"$pcap.log" 2>&1 &
    tpid=$!
    for ((i = 0; i < 100; i++)); do grep -q 'listening on' "$pcap.log" && break; sleep 0.05; done
    out=$(kinkctl_at "$T/a" -t 600 initiate "$peer" "$N") || { echo "kink-bench: $out" >&2; kill $tpid; return 1; }
    sleep 0.5; kill -INT $tpid; wait $tpid 2>/dev/null
    n=$(tcpdump -r "$pcap" -n 2>/dev/null | wc -l)
    rate=$(sed -nE 's/.*: ([0-9.]+) pairs\/s$/\1/p' <<<"$out")
    printf '%-44s %12s %16s\n' "$label" "$rate" "$(awk -v n="$n" -v p="$N" 'BEGIN { printf "%.2f", n / p }')"
    rm -f "$pcap"
}
run "CREATE/REPLY (optimistic, aes256-gcm16)" $B
run "CREATE/REPLY/ACK (third proposal chosen)" $C
for h in a b c; do kinkd_stop $h; done
exit 0

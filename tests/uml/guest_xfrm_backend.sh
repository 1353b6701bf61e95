#!/bin/bash
# Guest side of t_uml_xfrm_backend.sh (runs inside UML through uml-run.sh).
#
#   guest_xfrm_backend.sh
#       make network namespaces a and b joined by a veth pair (10.9.0.1
#       and fd00:9::1 on va, 10.9.0.2 and fd00:9::2 on vb; 10.20.1.1
#       behind a and 10.20.2.1 behind b for tunnel mode) and run
#       "$XFRM_DRIVER uml THIS_SCRIPT";
#   guest_xfrm_backend.sh esp NS SRC DST SPI1 SPI2
#       the driver's traffic check: ping SRC -> DST from NS (a) while
#       tcpdump captures what a and b send on the veth; pass if the ping
#       passes, the wire shows ESP with both SPIs and no plaintext ICMP,
#       and the two SAs' byte counters in NS grew.
set -u

if [ "${1:-}" = esp ]; then
    shift
    ns=$1 src=$2 dst=$3 spi1=$4 spi2=$5
    # What each side sends onto the veth ("-Q out" on both ends): tcpdump
    # on a receiving interface would also show the packets that tunnel
    # mode decapsulates and hands back to the stack there.
    d=$GUEST_TMP/esp.$$; mkdir -p "$d"
    bytes() {   # the byte counter of SA $1 in namespace $ns
        ip -n "$ns" -s xfrm state | awk -v spi="spi $1" '
            index($0, spi) { on = 1 }
            on && /lifetime current:/ { getline; sub(/\(bytes\).*/, "");
                gsub(/[ \t]/, ""); print; exit }'
    }
    # Each side sends 4 packets: tcpdump -c 4 ends when it has them.
    # The filter takes the test's own ICMP in the clear too (router
    # solicitations and the like are not the test's traffic).
    filter="esp or ((icmp or icmp6) and host $src and host $dst)"
    pids=
    for side in a:va b:vb; do
        n=${side%:*} i=${side#*:}
        ip netns exec $n tcpdump -Z root -U -n -Q out -i $i -c 4 \
            -w "$d/$n.pcap" "$filter" 2>"$d/$n.err" &
        pids="$pids $!"
    done
    for _ in $(seq 60); do
        grep -q listening "$d/a.err" && grep -q listening "$d/b.err" && break
        sleep 0.05
    done
    nrx=$(ip netns exec "$ns" ping -c 4 -i 0.2 -W 2 -I "$src" "$dst" |
          sed -n 's/.* \([0-9]*\) received.*/\1/p')
    for _ in $(seq 40); do
        kill -0 $pids 2>/dev/null || break
        sleep 0.05
    done
    kill -INT $pids 2>/dev/null; wait $pids 2>/dev/null
    for n in a b; do tcpdump -n -r "$d/$n.pcap" 2>/dev/null; done >"$d/wire"
    nesp=$(grep -c ESP "$d/wire")
    nicmp=$(grep -c ICMP "$d/wire")
    ok=0
    echo "  esp check: ${nrx:-0}/4 echo replies, wire: $nesp ESP, $nicmp plaintext ICMP"
    [ "${nrx:-0}" = 4 ] || { echo "  ping $src -> $dst lost replies"; ok=1; }
    [ "$nesp" -ge 8 ] || { echo "  expected >= 8 ESP packets"; ok=1; }
    [ "$nicmp" -eq 0 ] || { echo "  plaintext ICMP on the wire"; ok=1; }
    for s in $spi1 $spi2; do
        grep -q "ESP(spi=$s," "$d/wire" ||
            { echo "  no ESP with spi=$s on the wire"; ok=1; }
        b=$(bytes "$s")
        echo "  SA $s in $ns: ${b:-?} bytes"
        [ -n "$b" ] && [ "$b" -gt 0 ] ||
            { echo "  SA $s: byte counter did not grow"; ok=1; }
    done
    [ $ok -eq 0 ] || { cat "$d/wire" "$d"/*.err;
                       ip -n "$ns" -s xfrm state; ip -n "$ns" xfrm policy; }
    rm -rf "$d"
    exit $ok
fi

fail() { echo "FAIL: $*"; exit 1; }
[ -n "${XFRM_DRIVER:-}" ] && [ -x "$XFRM_DRIVER" ] ||
    fail "no driver (XFRM_DRIVER=${XFRM_DRIVER:-})"
for t in tcpdump ping ip; do
    command -v $t >/dev/null || fail "$t missing in the guest"
done
ip netns add a && ip netns add b || fail "ip netns add"
ip link add va netns a type veth peer name vb netns b || fail "veth"
ip -n a addr add 10.9.0.1/24 dev va
ip -n b addr add 10.9.0.2/24 dev vb
for n in a b; do ip -n $n link set lo up; done
ip -n a link set va up && ip -n b link set vb up || fail "link up"
ip -n a addr add 10.20.1.1/32 dev lo
ip -n b addr add 10.20.2.1/32 dev lo
ip -n a addr add fd00:9::1/64 dev va nodad
ip -n b addr add fd00:9::2/64 dev vb nodad
# Static neighbors: IPv6 neighbor discovery is ICMPv6, which the IPv6
# test's policies select.
ip -n a neigh add fd00:9::2 dev va nud permanent \
    lladdr "$(ip -n b -br link show vb | awk '{print $3}')" || fail "neigh a"
ip -n b neigh add fd00:9::1 dev vb nud permanent \
    lladdr "$(ip -n a -br link show va | awk '{print $3}')" || fail "neigh b"
ip -n a route add 10.20.2.0/24 via 10.9.0.2 src 10.20.1.1 || fail "route a"
ip -n b route add 10.20.1.0/24 via 10.9.0.1 src 10.20.2.1 || fail "route b"
# Without policies, the plain path works (so a failure later is IPsec's).
ip netns exec a ping -c 1 -W 2 10.9.0.2 >/dev/null || fail "plain ping"
ip netns exec a ping -c 1 -W 2 -I 10.20.1.1 10.20.2.1 >/dev/null ||
    fail "plain ping between the tunnel subnets"
ip netns exec a ping -c 1 -W 2 fd00:9::2 >/dev/null || fail "plain IPv6 ping"
echo "PASS: namespaces a and b up, plain pings pass"

"$XFRM_DRIVER" uml "$0"

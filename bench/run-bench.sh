#!/bin/sh
# run-bench.sh: compare a stock db2-backed MIT KDC with a stateless one on
# this machine, check that the stateless KDC's memory does not grow with
# the number of names it is asked about, measure device registration
# and login (devreg) against stock MIT anonymous PKINIT and encrypted-
# timestamp AS, and measure temporary server keys (tempkey): TGS for a
# temporary-key service against a derived-key one, and registrations/s.
#
#   bench/run-bench.sh                          # builds the project itself
#   KS_BUILDDIR=/path/to/build bench/run-bench.sh
#   BENCH_ONLY=tempkey KS_BUILDDIR=... bench/run-bench.sh   # step 6 alone
#
# What it does, in one run:
#   1. Builds the project out of tree into a temporary directory, unless
#      KS_BUILDDIR names an existing build (it needs bench/ksbench,
#      kdb-stateless/kstateless and kdb-stateless/.libs/stateless.so).
#   2. Creates two throwaway realms, both named EXAMPLE.TEST, in a temporary
#      directory, each with its own krb5.conf and kdc.conf and the same
#      realm settings: supported_enctypes (the four AES enctypes), max_life
#      10h, max_renewable_life 7d.
#        db2:       Debian's stock kdc.conf settings, including its
#                   "default_principal_flags = +preauth"; kdb5_util create
#                   -s, kadmin.local addprinc -randkey for the client
#                   host/client.example.test and the service
#                   host/bench.example.test, ktadd of the client.  As
#                   shipped, a successful AS for a principal that requires
#                   preauthentication costs db2 a second round trip and an
#                   fsync (last-success bookkeeping); that is the baseline.
#                   For comparison, host/nopreauth.example.test is added with
#                   -requires_preauth (one round trip, nothing written).
#        stateless: kstateless init, service = host/*, kstateless keytab of
#                   the client (derived services do not require preauth).
#      Each realm gets one krb5kdc -n process (no -w) on 127.0.0.1 with a
#      free high port (UDP and TCP).  With two CPUs or more, every KDC is
#      pinned to the last CPU and the clients to the others (taskset), so
#      that the load generator does not take CPU time from the KDC it
#      measures; BENCH_PIN=0 turns that off.
#   3. For each round (BENCH_ROUNDS), alternating between the realms, runs
#      ksbench -m as (AS with the keytab) and ksbench -m tgs (TGS for
#      host/bench.example.test, no ticket cache) for BENCH_SECONDS each with
#      BENCH_PROCS client processes.  ksbench sends each process's requests
#      through one UDP socket (-a) so that the client side stays cheaper
#      than the KDC; BENCH_TRANSPORT=library lets libkrb5 locate the KDC and
#      open a socket per request instead.  Prints the median requests/s and
#      the KDC's CPU time per request (utime + stime from /proc, which other
#      load on the machine disturbs less than throughput), and the ratios
#      stateless/db2 against the goals (AS >= 1.5, TGS >= 1.3) as PASS or
#      BELOW GOAL lines.
#   4. Restarts the stateless KDC and prints its VmRSS after 1 lookup;
#      after a control of 20000 lookups that reuse one service and one
#      device name; after BENCH_NAMES distinct service names plus
#      BENCH_NAMES distinct device names (ksbench -m names); and after as
#      many more.  krb5kdc's own lookaside (replay) cache keeps every reply
#      for two minutes, up to 10 MB of packets, whatever the backend: the
#      control fills it, so what follows is what distinct names cost.
#   5. Device registration and login (issue 3), unless BENCH_DEVREG=0.
#      First bench/ksstorebench prints what the replay-cache write of every
#      login costs on the disk of the temporary directory (replay.mdb,
#      committed without a sync), next to a synced write to store.mdb (the
#      cost of that write before the replay tables got their own file).
#      Then two more realms, also EXAMPLE.TEST, each with its own pinned
#      krb5kdc:
#        pkinit:  db2 with MIT's PKINIT (Debian package krb5-pkinit,
#                 installed by this script when missing and run as root)
#                 set up for anonymous PKINIT as in MIT's PKINIT guide: an
#                 RSA-2048 CA and KDC certificate (EKU id-pkinit-KPKdc,
#                 id-pkinit-san krbtgt/EXAMPLE.TEST@EXAMPLE.TEST),
#                 pkinit_identity, pkinit_anchors, restrict_anonymous_to_tgt
#                 and the principal WELLKNOWN/ANONYMOUS.
#        devreg:  stateless with devreg.so, devreg_identity an ECDSA P-256
#                 certificate (tests/lib/pki.sh), anonymous registration
#                 allowed, device p256dev (self-signed P-256 certificate)
#                 and device eddev (Ed25519) staged with 'kstateless stage
#                 add ID --pubkey'.
#      Then, BENCH_DEVREG_SECONDS each, BENCH_PROCS client processes
#      (ksbench -m init, in-process kinit; each request a fresh AS
#      exchange with a fresh nonce, so the KDC's lookaside cache never
#      answers):
#        stock anonymous PKINIT (kinit -n: -A -X X509_anchors=...): the
#            client offers 2048-bit MODP Diffie-Hellman (MIT's default
#            pkinit_dh_min_bits), the KDC signs with RSA-2048;
#        devreg staged P-256, staged Ed25519, anonymous: registrations for
#            the same device id every time (registration keeps no state,
#            so the id does not matter; anonymous uses anondev, which is
#            not staged).  The key agreement is X25519 in all three: the
#            KDC offers X25519 and P-256 and the client always takes
#            X25519, so the modes differ in the device's signature
#            (ECDSA P-256, Ed25519, none); the KDC signs its half with
#            its P-256 key in all three;
#        stock encrypted-timestamp AS with a keytab on the db2 realm (the
#            client requires preauthentication), the login baseline;
#        devreg login with a registration ticket (kinit -X devreg_ticket=;
#            the ticket, obtained once with the stock kinit, is copied into
#            a MEMORY ccache in each client process).
#      Prints requests, seconds, requests/s, exchanges (round trips) per
#      request, the KDC's CPU time per request and the share of its CPU it
#      used, the clients' CPU time per request, and the ratios to the
#      baselines (requests/s and KDC CPU) against the goals: registration
#      >= 5x anonymous PKINIT, login >= 1.0x encrypted timestamp.  With
#      few CPUs the clients can limit requests/s (a devreg or PKINIT
#      client spends about as much CPU as the KDC); the KDC's CPU time per
#      request is then the measure of its capacity.
#   6. Temporary server keys (issue 4), unless BENCH_TEMPKEY=0: one more
#      stateless realm, also EXAMPLE.TEST, with its own pinned krb5kdc and
#      tempkey.so (devreg_identity an ECDSA P-256 KDC certificate,
#      tempkey_anchors a CA of server certificates, tempkey_max_life 1d),
#      service = host/* as in step 2.  ktempkey register gives
#      host/tk.example.test a temporary key (key id 1, lifetime 1d), and a
#      stock kvno -k checks that its tickets are in that key, not in a
#      derived one.  Then, for each round, alternating, ksbench -m tgs for
#      host/tk.example.test (temporary key) and for
#      host/derived.example.test (derived key), same client and TGT setup
#      as in step 3; prints the median requests/s, the KDC's CPU time per
#      request and the ratio temporary/derived against the goal (>= 0.9).
#      Then registrations of new keys of host/reg.example.test, in
#      process: ksbench -m init -P -1602 (the tempkey padata type, sent
#      optimistically as ktempkey does) -X tempkey_identity, tempkey_anchor,
#      tempkey_keytab, tempkey_lifetime=1h, one client process
#      (registrations of one principal take consecutive key ids, so they
#      are serialized).  Each is a new key id: two AS exchanges; on the
#      client a key sealed to the KDC and a CMS signature, then a keytab
#      rewrite and a state-file write, each fsynced; on the KDC a
#      signature check, an unseal and a synced store write.  A
#      principal's live keys make its registrations dearer (the KDC
#      unwraps all of them in every AS exchange for it, the client
#      rewrites a keytab holding all of them), and a server running
#      ktempkey run keeps a few (expired ones are pruned).  So the
#      registrations run in batches of BENCH_TEMPKEY_BATCH (key ids 1 to
#      BENCH_TEMPKEY_BATCH), for BENCH_TEMPKEY_SECONDS: before each batch
#      'kstateless tempkeys purge' makes the KDC forget the principal's
#      keys and the keytab and state file are removed (not measured).
#      Prints registrations/s, ms/registration, the KDC's and the
#      client's CPU time per registration, and the same for
#      BENCH_TEMPKEY_KTEMPKEY sequential "ktempkey register" commands of
#      a second principal, host/reg2.example.test, from key id 1 (one
#      process and one krb5 context per registration, as an operator or
#      ktempkey run does it).
#
# BENCH_ONLY=LIST (comma-separated: astgs, memory, devreg, tempkey; steps
# 3, 4, 5 and 6) runs only those steps and sets up only the realms they
# need (default: all of them).
#
# A benchmark prints figures: it exits 0 whenever it could measure, and 1
# only when a realm could not be set up.  Processes it started are stopped
# and the temporary directory removed on exit (BENCH_KEEP=1 keeps it).
#
# Environment:
#   KS_BUILDDIR      existing build directory (default: build one)
#   BENCH_SECONDS    seconds per AS/TGS run (default 10)
#   BENCH_DEVREG     0 skips step 5 (default 1)
#   BENCH_DEVREG_SECONDS  seconds per registration/login run (default
#                    BENCH_SECONDS)
#   BENCH_PROCS      client processes per run (default 2)
#   BENCH_ROUNDS     measurement rounds; medians are reported (default 1)
#   BENCH_NAMES      distinct names of each kind for the memory check
#                    (default 100000; 0 skips it)
#   BENCH_TEMPKEY    0 skips step 6 (default 1)
#   BENCH_TEMPKEY_SECONDS  seconds of registration batches (default
#                    BENCH_SECONDS; at least one batch runs)
#   BENCH_TEMPKEY_BATCH    registrations per batch, i.e. the most key ids
#                    the principal has (default 10)
#   BENCH_TEMPKEY_KTEMPKEY ktempkey register commands timed (default 10;
#                    0 skips them)
#   BENCH_ONLY       steps to run, see above (default: all)
#   BENCH_TRANSPORT  direct (default) or library, see step 3
#   BENCH_PIN        1 (default with 2 CPUs or more): pin KDCs and clients
#                    to separate CPUs; 0: let the scheduler place them
#   BENCH_KEEP       1: keep the temporary directory (configs, KDC logs)
#   KRB5KDC, KDB5_UTIL, KADMIN_LOCAL   stock tools (default: from PATH and
#                    /usr/sbin)

# tests/lib/pki.sh, sourced for the certificates of steps 5 and 6, uses
# bash arrays: run under bash whatever shell started the script.
if [ -z "${BASH_VERSION:-}" ]; then
    command -v bash >/dev/null 2>&1 ||
        { echo "run-bench: bash is needed (tests/lib/pki.sh)" >&2; exit 1; }
    exec bash "$0" "$@"
fi

set -eu

srcdir=$(cd "$(dirname "$0")/.." && pwd)
seconds=${BENCH_SECONDS:-10}
procs=${BENCH_PROCS:-2}
rounds=${BENCH_ROUNDS:-1}
names=${BENCH_NAMES:-100000}
transport=${BENCH_TRANSPORT:-direct}
devreg=${BENCH_DEVREG:-1}
devreg_seconds=${BENCH_DEVREG_SECONDS:-$seconds}
tempkey=${BENCH_TEMPKEY:-1}
tempkey_seconds=${BENCH_TEMPKEY_SECONDS:-$seconds}
tempkey_batch=${BENCH_TEMPKEY_BATCH:-10}
tempkey_ktempkey=${BENCH_TEMPKEY_KTEMPKEY:-10}
only=${BENCH_ONLY:-astgs,memory,devreg,tempkey}
ncpu=$(nproc 2>/dev/null || echo 1)
pin=${BENCH_PIN:-1}
if [ "$ncpu" -lt 2 ] || ! command -v taskset >/dev/null 2>&1; then
    pin=0
fi
kdc_cpu=$((ncpu - 1))
client_cpus=0
[ "$ncpu" -le 2 ] || client_cpus=0-$((ncpu - 2))
realm=EXAMPLE.TEST
client=host/client.example.test
nopreauth=host/nopreauth.example.test
service=host/bench.example.test
tk_service=host/tk.example.test
tk_derived=host/derived.example.test
tk_reg=host/reg.example.test
tk_reg2=host/reg2.example.test
enctypes="aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal"
enctypes="$enctypes aes256-cts-hmac-sha384-192:normal"
enctypes="$enctypes aes128-cts-hmac-sha256-128:normal"

PATH=$PATH:/usr/sbin:/sbin
KRB5KDC=${KRB5KDC:-$(command -v krb5kdc || echo krb5kdc)}
KDB5_UTIL=${KDB5_UTIL:-$(command -v kdb5_util || echo kdb5_util)}
KADMIN_LOCAL=${KADMIN_LOCAL:-$(command -v kadmin.local || echo kadmin.local)}

work=$(mktemp -d "${TMPDIR:-/tmp}/ks-bench.XXXXXX")
kdc_pids=""

cleanup() {
    for pid in $kdc_pids; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in $kdc_pids; do
        wait "$pid" 2>/dev/null || true
    done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        echo "run-bench: kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM

die() {
    echo "run-bench: $*" >&2
    exit 1
}

case $transport in
direct|library) ;;
*) die "BENCH_TRANSPORT must be direct or library, not '$transport'" ;;
esac
[ "$tempkey_batch" -ge 1 ] 2>/dev/null ||
    die "BENCH_TEMPKEY_BATCH must be a number of at least 1"
for s in $(echo "$only" | tr ',' ' '); do
    case $s in
    astgs|memory|devreg|tempkey) ;;
    *) die "BENCH_ONLY: unknown step '$s' (astgs, memory, devreg, tempkey)" ;;
    esac
done

# Zero status if step $1 (astgs, memory, devreg, tempkey) runs: named by
# BENCH_ONLY and not turned off by its own variable.
step() {
    case ,$only, in
    *,"$1",*) ;;
    *) return 1 ;;
    esac
    case $1 in
    memory) [ "$names" -gt 0 ] ;;
    devreg) [ "$devreg" != 0 ] ;;
    tempkey) [ "$tempkey" != 0 ] ;;
    esac
}

# Debian packages the runs need: the stock KDC and tools, openssl for the
# test certificates, and MIT's PKINIT plugin for the anonymous PKINIT
# baseline.  Missing ones are installed when running as root.
bench_deps="krb5-kdc krb5-user krb5-admin-server openssl"
! step devreg || bench_deps="$bench_deps krb5-pkinit"
install_deps() {
    missing=""
    for p in $bench_deps; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q "ok installed" || missing="$missing $p"
    done
    [ -n "$missing" ] || return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "run-bench: missing Debian packages:$missing (install them as" \
            "root); going on without" >&2
        return 0
    fi
    echo "run-bench: installing$missing"
    (export DEBIAN_FRONTEND=noninteractive
     apt-get update -q && apt-get install -y -q --no-install-recommends \
         $missing) >"$work/apt.log" 2>&1 ||
        echo "run-bench: apt-get failed (see $work/apt.log); going on" >&2
}
if command -v dpkg-query >/dev/null 2>&1; then
    install_deps
fi

# Build out of tree, as a user would, unless a build directory was given.
if [ -n "${KS_BUILDDIR:-}" ]; then
    build=$(cd "$KS_BUILDDIR" && pwd)
else
    build=$work/build
    mkdir -p "$build"
    echo "run-bench: building in $build (set KS_BUILDDIR to reuse a build)"
    if [ ! -x "$srcdir/configure" ]; then
        (cd "$srcdir" && autoreconf -fi) >"$work/autoreconf.log" 2>&1 ||
            { BENCH_KEEP=1; die "autoreconf failed; see $work/autoreconf.log"
            }
    fi
    (cd "$build" && "$srcdir/configure" -q &&
        make -j"$(nproc 2>/dev/null || echo 2)") >"$work/build.log" 2>&1 ||
        { BENCH_KEEP=1; die "build failed; see $work/build.log"; }
fi
ksbench=$build/bench/ksbench
kstateless=$build/kdb-stateless/kstateless
moddir=$build/kdb-stateless/.libs
devreg_so=$build/preauth/.libs/devreg.so
tempkey_so=$build/plugins/.libs/tempkey.so
ktempkey=$build/plugins/ktempkey
KINIT=${KINIT:-$(command -v kinit || echo kinit)}
KVNO=${KVNO:-$(command -v kvno || echo kvno)}
for f in "$ksbench" "$kstateless" "$moddir/stateless.so"; do
    [ -e "$f" ] || die "$f is missing; run make in $build"
done
clk_tck=$(getconf CLK_TCK 2>/dev/null || echo 100)

# Print a random high port that nothing uses over UDP or TCP.
free_port() {
    while :; do
        port=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
        if ! ss -Htuan 2>/dev/null | awk '{ print $5 }' |
                grep -q ":$port\$"; then
            echo "$port"
            return
        fi
    done
}

# Wait until something listens on UDP port $1 (10 s at most).
wait_port() {
    i=0
    while [ $i -lt 100 ]; do
        if ss -Hlun "sport = :$1" 2>/dev/null | grep -q .; then
            return 0
        fi
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# Write krb5.conf and kdc.conf for the realm in directory $1 on port $2 with
# backend $3 (db2 or stateless); $4 (optional) holds more relations of the
# realm's section of kdc.conf, $5 more sections of krb5.conf.
write_config() {
    dir=$1 port=$2 backend=$3 more_realm=${4:-} more_krb5=${5:-}
    cat >"$dir/krb5.conf" <<EOF
[libdefaults]
    default_realm = $realm
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
[realms]
    $realm = {
        kdc = 127.0.0.1:$port
    }
[domain_realm]
    .example.test = $realm
$more_krb5
EOF
    {
        cat <<EOF
[kdcdefaults]
    kdc_listen = 127.0.0.1:$port
    kdc_tcp_listen = 127.0.0.1:$port
[realms]
    $realm = {
        database_name = $dir/principal
        acl_file = $dir/kadm5.acl
        key_stash_file = $dir/stash
        max_life = 10h 0m 0s
        max_renewable_life = 7d 0h 0m 0s
        supported_enctypes = $enctypes
$more_realm
EOF
        if [ "$backend" = stateless ]; then
            cat <<EOF
        database_module = stateless
    }
[dbmodules]
    db_module_dir = $moddir
    stateless = {
        db_library = stateless
        secret_file = $dir/stateless.secret
        state_dir = $dir/state
        service = host/*
    }
EOF
        else
            cat <<EOF
        default_principal_flags = +preauth
    }
EOF
        fi
        cat <<EOF
[logging]
    kdc = FILE:$dir/kdc.log
EOF
    } >"$dir/kdc.conf"
    : >"$dir/kadm5.acl"
}

# Run a command in the realm of directory $1.
in_realm() {
    dir=$1
    shift
    KRB5_CONFIG=$dir/krb5.conf KRB5_KDC_PROFILE=$dir/kdc.conf "$@"
}

# Run a command on the clients' CPUs when pinning.
on_client_cpus() {
    if [ "$pin" = 1 ]; then
        taskset -c "$client_cpus" "$@"
    else
        "$@"
    fi
}

# Start krb5kdc for the realm in directory $1.
kdc_start() {
    dir=$1
    # A simple command in the background, so that $! is krb5kdc itself
    # (taskset execs it).
    if [ "$pin" = 1 ]; then
        KRB5_CONFIG=$dir/krb5.conf KRB5_KDC_PROFILE=$dir/kdc.conf \
            taskset -c "$kdc_cpu" "$KRB5KDC" -n -r "$realm" \
            >>"$dir/kdc.stderr" 2>&1 &
    else
        KRB5_CONFIG=$dir/krb5.conf KRB5_KDC_PROFILE=$dir/kdc.conf \
            "$KRB5KDC" -n -r "$realm" >>"$dir/kdc.stderr" 2>&1 &
    fi
    echo $! >"$dir/kdc.pid"
    kdc_pids="$kdc_pids $!"
    wait_port "$(cat "$dir/port")" ||
        die "krb5kdc for $dir did not start; see $dir/kdc.stderr, $dir/kdc.log"
}

# Stop the KDC of the realm in directory $1.
kdc_stop() {
    pid=$(cat "$1/kdc.pid")
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    kdc_pids=$(echo "$kdc_pids" | tr ' ' '\n' | grep -vx "$pid" | tr '\n' ' ')
}

setup_db2() {
    dir=$work/db2
    mkdir -p "$dir"
    free_port >"$dir/port"
    write_config "$dir" "$(cat "$dir/port")" db2
    {
        in_realm "$dir" "$KDB5_UTIL" create -s -r "$realm" -P bench-master &&
        for q in "addprinc -randkey $client" "addprinc -randkey $service" \
                 "addprinc -randkey -requires_preauth $nopreauth" \
                 "ktadd -k $dir/client.keytab $client" \
                 "ktadd -k $dir/nopreauth.keytab $nopreauth"; do
            in_realm "$dir" "$KADMIN_LOCAL" -r "$realm" -q "$q" || exit 1
        done
    } >"$dir/setup.log" 2>&1 || die "db2 realm setup failed:
$(cat "$dir/setup.log")"
    kdc_start "$dir"
}

setup_stateless() {
    dir=$work/stateless
    mkdir -p "$dir"
    free_port >"$dir/port"
    write_config "$dir" "$(cat "$dir/port")" stateless
    {
        in_realm "$dir" "$kstateless" init &&
        in_realm "$dir" "$kstateless" keytab -k "$dir/client.keytab" "$client"
    } >"$dir/setup.log" 2>&1 || die "stateless realm setup failed:
$(cat "$dir/setup.log")"
    kdc_start "$dir"
}

# --- devreg realms (step 5) --------------------------------------------------

# Certificates: pki_ca, pki_kdc, pki_selfsigned (P-256, Ed25519) from the
# test harness, and RSA-2048 variants for the PKINIT baseline below.
. "$srcdir/tests/lib/pki.sh"

# pki_rsa_ca DIR NAME: DIR/NAME.pem, DIR/NAME.key, an RSA-2048 CA.
pki_rsa_ca() {
    _pki_san_cnf "$1/$2.cnf" X x y 1 1.3.6.1.5.2.3.4
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1/$2.key" \
        -out "$1/$2.pem" -subj "/CN=$2" -days 30 -config "$1/$2.cnf" \
        -extensions ca
}

# pki_rsa_kdc DIR CA NAME: DIR/NAME.pem, DIR/NAME.key, an RSA-2048 KDC
# certificate from CA as MIT's PKINIT guide makes it: EKU id-pkinit-KPKdc,
# id-pkinit-san krbtgt/REALM@REALM.
pki_rsa_kdc() {
    _pki_san_cnf "$1/$3.cnf" "$realm" krbtgt "$realm" 2 1.3.6.1.5.2.3.5
    openssl req -new -newkey rsa:2048 -nodes -keyout "$1/$3.key" \
        -out "$1/$3.csr" -subj "/CN=$3" -config "$1/$3.cnf" &&
    openssl x509 -req -in "$1/$3.csr" -CA "$1/$2.pem" -CAkey "$1/$2.key" \
        -CAcreateserial -out "$1/$3.pem" -days 30 -extfile "$1/$3.cnf" \
        -extensions ext
}

# Zero status if MIT's PKINIT plugin is installed.
have_pkinit() {
    dpkg-query -W -f='${Status}' krb5-pkinit 2>/dev/null |
        grep -q "ok installed"
}

# The db2 realm with anonymous PKINIT (the registration baseline).
setup_pkinit() {
    dir=$work/pkinit
    mkdir -p "$dir/pki"
    free_port >"$dir/port"
    { pki_rsa_ca "$dir/pki" pkca && pki_rsa_kdc "$dir/pki" pkca kdc; } \
        >"$dir/pki.log" 2>&1 || die "making the PKINIT certificates failed:
$(cat "$dir/pki.log")"
    write_config "$dir" "$(cat "$dir/port")" db2 \
"        pkinit_identity = FILE:$dir/pki/kdc.pem,$dir/pki/kdc.key
        pkinit_anchors = FILE:$dir/pki/pkca.pem
        restrict_anonymous_to_tgt = true"
    {
        in_realm "$dir" "$KDB5_UTIL" create -s -r "$realm" -P bench-master &&
        in_realm "$dir" "$KADMIN_LOCAL" -r "$realm" \
            -q "addprinc -randkey WELLKNOWN/ANONYMOUS"
    } >"$dir/setup.log" 2>&1 || die "PKINIT realm setup failed:
$(cat "$dir/setup.log")"
    kdc_start "$dir"
}

# The stateless realm with devreg, two staged devices, and a registration
# ticket of device/p256dev in $dir/reg.cc for the login runs.
setup_devreg() {
    dir=$work/devreg
    P=$dir/pki
    mkdir -p "$P"
    free_port >"$dir/port"
    { pki_ca "$P" regca && pki_kdc "$P" regca "$realm" rs &&
        pki_selfsigned "$P" p256dev p256 &&
        pki_selfsigned "$P" eddev ed25519; } >"$dir/pki.log" 2>&1 ||
        die "making the devreg certificates failed"
    write_config "$dir" "$(cat "$dir/port")" stateless \
"        devreg_identity = FILE:$P/rs.pem,$P/rs.key
        devreg_allow_anonymous = true" \
"[plugins]
    kdcpreauth = {
        module = devreg:$devreg_so
    }
    clpreauth = {
        module = devreg:$devreg_so
    }"
    {
        in_realm "$dir" "$kstateless" init &&
        in_realm "$dir" "$kstateless" stage add p256dev \
            --pubkey "$P/p256dev.pem" &&
        in_realm "$dir" "$kstateless" stage add eddev --pubkey "$P/eddev.pem"
    } >"$dir/setup.log" 2>&1 || die "devreg realm setup failed:
$(cat "$dir/setup.log")"
    kdc_start "$dir"
    in_realm "$dir" "$KINIT" -S "devreg/$realm" \
        -X "devreg_anchor=FILE:$P/regca.pem" \
        -X "devreg_identity=FILE:$P/p256dev.pem,$P/p256dev.key" \
        -c "FILE:$dir/reg.cc" device/p256dev </dev/null \
        >>"$dir/setup.log" 2>&1 ||
        die "registering device/p256dev with the stock kinit failed:
$(cat "$dir/setup.log")"
}

# --- tempkey realm (step 6) -------------------------------------------------

# The stateless realm with tempkey.so: a KDC certificate (devreg_identity,
# what servers seal their keys to), a CA of server certificates
# (tempkey_anchors) and certificates for $tk_service, $tk_reg and $tk_reg2;
# the client's keytab, and a temporary key of $tk_service in
# $dir/tk.keytab, whose tickets a stock kvno -k checks (the principal also
# matches service = host/*: without the key its tickets would be in a
# derived key, which that keytab does not hold).
setup_tempkey() {
    dir=$work/tempkey
    P=$dir/pki
    mkdir -p "$P"
    free_port >"$dir/port"
    { pki_ca "$P" kdcca && pki_kdc "$P" kdcca "$realm" rs &&
        pki_ca "$P" srvca &&
        pki_server "$P" srvca tk "$tk_service" "$realm" &&
        pki_server "$P" srvca reg "$tk_reg" "$realm" &&
        pki_server "$P" srvca reg2 "$tk_reg2" "$realm"; } \
        >"$dir/pki.log" 2>&1 || die "making the tempkey certificates failed"
    write_config "$dir" "$(cat "$dir/port")" stateless \
"        devreg_identity = FILE:$P/rs.pem,$P/rs.key
        tempkey_anchors = FILE:$P/srvca.pem
        tempkey_max_life = 1d" \
"[plugins]
    kdcpreauth = {
        module = tempkey:$tempkey_so
    }
    clpreauth = {
        module = tempkey:$tempkey_so
    }"
    {
        in_realm "$dir" "$kstateless" init &&
        in_realm "$dir" "$kstateless" keytab -k "$dir/client.keytab" "$client"
    } >"$dir/setup.log" 2>&1 || die "tempkey realm setup failed:
$(cat "$dir/setup.log")"
    kdc_start "$dir"
    {
        in_realm "$dir" "$ktempkey" register -p "$tk_service" \
            -k "FILE:$dir/tk.keytab" --identity "FILE:$P/tk.pem,$P/tk.key" \
            --anchor "FILE:$P/kdcca.pem" --lifetime 1d </dev/null &&
        in_realm "$dir" env KRB5CCNAME="FILE:$dir/client.cc" "$KINIT" -k \
            -t "$dir/client.keytab" "$client" </dev/null &&
        in_realm "$dir" env KRB5CCNAME="FILE:$dir/client.cc" "$KVNO" \
            -k "$dir/tk.keytab" "$tk_service" </dev/null
    } >>"$dir/setup.log" 2>&1 &&
        grep -q 'keytab entry valid' "$dir/setup.log" ||
        die "registering a temporary key of $tk_service failed:
$(cat "$dir/setup.log")"
}

# CPU time (utime + stime) of process $1 in clock ticks.
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# VmRSS of process $1 in kB.
rss_kb() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# Run ksbench in the realm of directory $1 with the remaining arguments.
# Prints ksbench's machine-readable line with the KDC's CPU time per request
# appended (kdc_cpu_us), or a line with rps=0 when ksbench failed.
bench() {
    dir=$1
    shift
    if [ "$transport" = direct ]; then
        set -- -a "127.0.0.1:$(cat "$dir/port")" "$@"
    fi
    pid=$(cat "$dir/kdc.pid")
    t0=$(cpu_ticks "$pid")
    out=$(export KRB5_CONFIG="$dir/krb5.conf"
        on_client_cpus "$ksbench" "$@" 2>>"$dir/ksbench.stderr") || true
    t1=$(cpu_ticks "$pid")
    line=$(printf '%s\n' "$out" | grep '^ksbench ' || true)
    if [ -z "$line" ]; then
        echo "ksbench failed rps=0 requests=0 errors=0 elapsed=0" \
            "exch_per_req=0 kdc_cpu_us=0 (see $dir/ksbench.stderr:" \
            "$(tail -n 1 "$dir/ksbench.stderr" 2>/dev/null))"
        return
    fi
    n=$(field requests "$line")
    printf '%s kdc_cpu_us=%s\n' "$line" \
        "$(awk -v t="$((t1 - t0))" -v hz="$clk_tck" -v n="$n" \
            'BEGIN { printf "%.0f", (n > 0) ? t * 1e6 / hz / n : 0 }')"
}

# Extract field $1 (name=value) of a ksbench line $2.
field() {
    printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# Median of the numbers on stdin.
median() {
    sort -n | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print 0; exit }
        if (NR % 2) print v[(NR + 1) / 2];
        else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Median of column $3 of the results for mode $1, realm $2.
pick() {
    awk -v m="$1" -v b="$2" -v c="$3" '$1 == m && $2 == b { print $c }' \
        "$work/results" | median
}

# Print a goal line: label, db2 rps, stateless rps, goal.
verdict() {
    awk -v label="$1" -v a="$2" -v b="$3" -v goal="$4" 'BEGIN {
        r = (a > 0) ? b / a : 0
        printf "%-3s stateless/db2 = %.2f (goal >= %s): %s\n", label, r,
               goal, (a > 0 && r >= goal) ? "PASS" : "BELOW GOAL" }'
}

# Print a ratio b/a with two decimals.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (a > 0) ? b / a : 0 }'
}

echo "run-bench: realms under $work"
: >"$work/results"
sl=$work/stateless
if step astgs || step devreg; then
    setup_db2
fi
if step astgs || step memory; then
    setup_stateless
fi

if [ "$pin" = 1 ]; then
    placement="KDCs on CPU $kdc_cpu, clients on CPUs $client_cpus"
else
    placement="no CPU pinning"
fi
if step astgs; then
    echo "== AS (keytab) and TGS (no cache): $seconds s per run," \
        "$procs client processes, one krb5kdc process per realm," \
        "$ncpu CPUs ($placement), $rounds round(s), transport $transport"
    echo "   enctypes (both realms): $enctypes"
    echo "   load average before: $(cut -d' ' -f1-3 /proc/loadavg)" \
        "(other load on the machine makes throughput noisy; see kdc_cpu_us)"
    r=1
    while [ "$r" -le "$rounds" ]; do
        for mode in as as-nopreauth tgs; do
            for backend in db2 stateless; do
                dir=$work/$backend
                case $mode/$backend in
                as/*)
                    line=$(bench "$dir" -p "$client" -k "$dir/client.keytab" \
                        -m as -d "$seconds" -c "$procs") ;;
                as-nopreauth/db2)
                    line=$(bench "$dir" -p "$nopreauth" \
                        -k "$dir/nopreauth.keytab" -m as -d "$seconds" \
                        -c "$procs") ;;
                as-nopreauth/*)
                    continue ;;
                tgs/*)
                    line=$(bench "$dir" -p "$client" -k "$dir/client.keytab" \
                        -m tgs -s "$service" -d "$seconds" -c "$procs") ;;
                esac
                echo "   round $r $backend $mode: $line"
                echo "$mode $backend $(field rps "$line")" \
                    "$(field kdc_cpu_us "$line")" >>"$work/results"
            done
        done
        r=$((r + 1))
    done
    echo "   load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

    as_db2=$(pick as db2 3)
    as_sl=$(pick as stateless 3)
    asn_db2=$(pick as-nopreauth db2 3)
    tgs_db2=$(pick tgs db2 3)
    tgs_sl=$(pick tgs stateless 3)
    cas_db2=$(pick as db2 4)
    cas_sl=$(pick as stateless 4)
    casn_db2=$(pick as-nopreauth db2 4)
    ctgs_db2=$(pick tgs db2 4)
    ctgs_sl=$(pick tgs stateless 4)
    echo
    printf '%-34s %10s %10s %14s\n' "" "db2" "stateless" "stateless/db2"
    printf '%-34s %10.0f %10.0f %14s\n' "AS (keytab) requests/s" \
        "$as_db2" "$as_sl" "$(ratio "$as_db2" "$as_sl")"
    printf '%-34s %10.0f %10.0f %14s\n' "TGS (no cache) requests/s" \
        "$tgs_db2" "$tgs_sl" "$(ratio "$tgs_db2" "$tgs_sl")"
    printf '%-34s %10.0f %10.0f %14s\n' "AS KDC CPU us/request" \
        "$cas_db2" "$cas_sl" "$(ratio "$cas_sl" "$cas_db2")"
    printf '%-34s %10.0f %10.0f %14s\n' "TGS KDC CPU us/request" \
        "$ctgs_db2" "$ctgs_sl" "$(ratio "$ctgs_sl" "$ctgs_db2")"
    printf '%-34s %10.0f %10s %14s\n' "AS, db2 client without preauth/s" \
        "$asn_db2" "-" "$(ratio "$asn_db2" "$as_sl")"
    printf '%-34s %10.0f %10s %14s\n' "  its KDC CPU us/request" \
        "$casn_db2" "-" "$(ratio "$cas_sl" "$casn_db2")"
    echo "(CPU ratios are db2/stateless: how many times less CPU the" \
        "stateless KDC spends per request)"
    verdict AS "$as_db2" "$as_sl" 1.5
    verdict TGS "$tgs_db2" "$tgs_sl" 1.3
fi

if step memory; then
    control=$((2 * names < 20000 ? 2 * names : 20000))
    echo
    echo "== stateless KDC memory (fresh krb5kdc)"
    kdc_stop "$sl"
    kdc_start "$sl"
    pid=$(cat "$sl/kdc.pid")
    line=$(bench "$sl" -p "$client" -k "$sl/client.keytab" -m names -n 1 \
        -s "host/first%u.example.test" -D "device/first%u")
    rss1=$(rss_kb "$pid")
    echo "   1 lookup:  $line"
    line=$(bench "$sl" -p "$client" -k "$sl/client.keytab" -m names \
        -n "$control" -u 1 -c "$procs" \
        -s "host/same%u.example.test" -D "device/same%u")
    rss2=$(rss_kb "$pid")
    echo "   control:   $line"
    line=$(bench "$sl" -p "$client" -k "$sl/client.keytab" -m names \
        -n $((2 * names)) -c "$procs" \
        -s "host/svc%u.example.test" -D "device/dev%u")
    rss3=$(rss_kb "$pid")
    echo "   distinct:  $line"
    line=$(bench "$sl" -p "$client" -k "$sl/client.keytab" -m names \
        -n $((2 * names)) -c "$procs" \
        -s "host/more%u.example.test" -D "device/more%u")
    rss4=$(rss_kb "$pid")
    echo "   more:      $line"
    echo
    printf '%-62s %8s\n' "stateless krb5kdc VmRSS after" "kB"
    printf '%-62s %8s\n' "1 lookup" "$rss1"
    printf '%-62s %8s\n' \
        "then $control lookups of 1 service and 1 device name (control)" \
        "$rss2"
    printf '%-62s %8s\n' \
        "then $names distinct services + $names distinct devices" "$rss3"
    printf '%-62s %8s\n' \
        "then $names + $names more distinct names" "$rss4"
    echo "RSS after 1 lookup: $rss1 kB; after $names + $names distinct" \
        "names: $rss3 kB ($((rss3 - rss2)) kB over the control);" \
        "after $names + $names more: $((rss4 - rss3)) kB more."
    echo "(The control's growth is krb5kdc's lookaside cache, up to 10 MB of" \
        "replies kept 2 minutes, whatever the backend.)"
fi

if step devreg && [ ! -e "$devreg_so" ]; then
    echo
    echo "== device registration and login (devreg)"
    echo "   $devreg_so is missing: no devreg figures (run make in $build)"
elif step devreg; then
    echo
    echo "== device registration and login (devreg): $devreg_seconds s per" \
        "run, $procs client processes, one krb5kdc per realm ($placement)"
    dv=$work/devreg pk=$work/pkinit
    if [ -x "$build/bench/ksstorebench" ]; then
        echo "   the replay cache write of every login (lib/ks_store," \
            "bench/ksstorebench, on the disk of $work):"
        "$build/bench/ksstorebench" -d "$work" 2>&1 | grep -v '^ksstore' |
            sed 's/^/   /' || true
    fi
    setup_devreg
    if have_pkinit; then
        setup_pkinit
    else
        echo "   krb5-pkinit is not installed: no anonymous PKINIT baseline"
    fi
    echo "   load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    : >"$work/devreg.results"
    # devreg_run KEY DIR ARGS...: one measured run, recorded under KEY.
    devreg_run() {
        key=$1 rdir=$2
        shift 2
        line=$(bench "$rdir" "$@" -d "$devreg_seconds" -c "$procs")
        echo "   $key: $line"
        echo "$key $(field requests "$line") $(field errors "$line")" \
            "$(field elapsed "$line") $(field rps "$line")" \
            "$(field exch_per_req "$line") $(field kdc_cpu_us "$line")" \
            "$(field client_cpu_us "$line")" >>"$work/devreg.results"
    }
    A=devreg_anchor=FILE:$dv/pki/regca.pem
    if have_pkinit; then
        devreg_run pkinit-anon "$pk" -m init -A \
            -p "WELLKNOWN/ANONYMOUS@$realm" \
            -X "X509_anchors=FILE:$pk/pki/pkca.pem"
    fi
    I=devreg_identity=FILE:$dv/pki
    devreg_run reg-p256 "$dv" -m init -p device/p256dev -s "devreg/$realm" \
        -X "$A" -X "$I/p256dev.pem,$dv/pki/p256dev.key"
    devreg_run reg-ed25519 "$dv" -m init -p device/eddev -s "devreg/$realm" \
        -X "$A" -X "$I/eddev.pem,$dv/pki/eddev.key"
    devreg_run reg-anon "$dv" -m init -p device/anondev -s "devreg/$realm" \
        -X "$A" -X devreg_anonymous=yes
    devreg_run as-encts "$work/db2" -m as -p "$client" \
        -k "$work/db2/client.keytab"
    devreg_run login "$dv" -m init -p device/p256dev \
        -M "devreg_ticket=FILE:$dv/reg.cc"
    echo "   load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

    # col KEY N: column N of KEY's result (0 when absent).
    col() {
        awk -v k="$1" -v c="$2" '$1 == k { v = $c } END { print v + 0 }' \
            "$work/devreg.results"
    }
    # row LABEL KEY BASEKEY GOAL: one line of the table.
    row() {
        awk -v label="$1" -v goal="$4" \
            -v n="$(col "$2" 2)" -v e="$(col "$2" 3)" -v t="$(col "$2" 4)" \
            -v r="$(col "$2" 5)" -v x="$(col "$2" 6)" -v c="$(col "$2" 7)" \
            -v cc="$(col "$2" 8)" -v br="$(col "$3" 5)" \
            -v bc="$(col "$3" 7)" -v base="$3" -v key="$2" 'BEGIN {
            if (key == base) { ratio = "baseline"; cratio = "-"; v = "" }
            else {
                ratio = (br > 0) ? sprintf("%.2fx", r / br) : "n/a"
                cratio = (br > 0 && c > 0) ? sprintf("%.1fx", bc / c) : "n/a"
                if (br <= 0) v = "no baseline"
                else if (r <= 0) v = "not measured"
                else v = (r / br >= goal) ? "PASS" : "BELOW GOAL"
                v = sprintf(">= %sx: %s", goal, v)
            }
            if (e > 0) label = label " (" e " errors)"
            printf "%-34s %7d %5.1f %7.1f %4.2f %7d %5.0f %7d %8s %6s  %s\n",
                label, n, t, r, x, c, c * r / 1e4, cc, ratio, cratio, v }'
    }
    echo
    printf '%-34s %7s %5s %7s %4s %7s %5s %7s %8s %6s  %s\n' "mode" \
        "reqs" "sec" "req/s" "exch" "KDC us" "KDC" "cli us" "req/s" "CPU" \
        "goal"
    printf '%-34s %7s %5s %7s %4s %7s %5s %7s %8s %6s\n' "" "" "" "" \
        "/req" "/req" "busy%" "/req" "ratio" "ratio"
    row "stock anonymous PKINIT (kinit -n)" pkinit-anon pkinit-anon 1
    row "devreg staged P-256 (X25519)" reg-p256 pkinit-anon 5
    row "devreg staged Ed25519 (X25519)" reg-ed25519 pkinit-anon 5
    row "devreg anonymous (X25519)" reg-anon pkinit-anon 5
    row "stock enc-timestamp AS, keytab" as-encts as-encts 1
    row "devreg login, registration ticket" login as-encts 1.0
    echo "(exch/req: messages to the KDC per request, i.e. round trips;" \
        "KDC us/req: krb5kdc's CPU time; KDC busy%: the share of its CPU" \
        "the KDC used during the run; cli us/req: the client processes'" \
        "CPU time, setup included; CPU ratio: baseline KDC us / devreg KDC" \
        "us.  Registrations are compared with the PKINIT line, the login" \
        "with the enc-timestamp line; stock lines run against db2 realms." \
        "Where the KDC is well below 100% busy, the clients (or other load" \
        "on the machine) limited req/s, and the CPU ratio is the better" \
        "measure of what one KDC can serve.)"
fi

if step tempkey && { [ ! -e "$tempkey_so" ] || [ ! -x "$ktempkey" ]; }; then
    echo
    echo "== temporary server keys (tempkey)"
    echo "   $tempkey_so or $ktempkey is missing: no tempkey figures" \
        "(run make in $build)"
elif step tempkey; then
    echo
    echo "== temporary server keys (tempkey): TGS $seconds s per run," \
        "$procs client processes, $rounds round(s); registrations" \
        "$tempkey_seconds s in batches of $tempkey_batch, 1 client" \
        "process; one krb5kdc ($placement), transport $transport"
    setup_tempkey
    tk=$work/tempkey
    echo "   $(grep 'keytab entry valid' "$tk/setup.log")"
    echo "   load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    r=1
    while [ "$r" -le "$rounds" ]; do
        # Alternate which service goes first, so that neither always runs
        # right after the other's load.
        if [ $((r % 2)) = 1 ]; then
            order="tgs-temp tgs-derived"
        else
            order="tgs-derived tgs-temp"
        fi
        for mode in $order; do
            svc=$tk_derived
            [ "$mode" = tgs-derived ] || svc=$tk_service
            line=$(bench "$tk" -p "$client" -k "$tk/client.keytab" -m tgs \
                -s "$svc" -d "$seconds" -c "$procs")
            echo "   round $r $mode ($svc): $line"
            echo "$mode tempkey $(field rps "$line")" \
                "$(field kdc_cpu_us "$line")" >>"$work/results"
        done
        r=$((r + 1))
    done

    # Registrations of new keys of one principal, in process (ksbench),
    # in batches from key id 1 (see the top of this file).
    : >"$work/tempkey.regs"
    t_end=$(($(date +%s) + tempkey_seconds))
    nb=0
    while [ "$nb" = 0 ] || [ "$(date +%s)" -lt "$t_end" ]; do
        # The first purge finds nothing to purge.
        in_realm "$tk" "$kstateless" tempkeys purge "$tk_reg@$realm" \
            >/dev/null 2>&1 || true
        rm -f "$tk/reg.keytab" "$tk/reg.keytab.tempkey"
        line=$(bench "$tk" -m init -P -1602 -p "$tk_reg" \
            -X "tempkey_identity=FILE:$tk/pki/reg.pem,$tk/pki/reg.key" \
            -X "tempkey_anchor=FILE:$tk/pki/kdcca.pem" \
            -X "tempkey_keytab=FILE:$tk/reg.keytab" \
            -X tempkey_lifetime=1h -n "$tempkey_batch" -c 1)
        nb=$((nb + 1))
        [ "$nb" -gt 3 ] || echo "   registrations, batch $nb: $line"
        echo "$(field requests "$line") $(field errors "$line")" \
            "$(field elapsed "$line") $(field exchanges "$line")" \
            "$(field kdc_cpu_us "$line") $(field client_cpu_us "$line")" \
            >>"$work/tempkey.regs"
        # ksbench failed outright: do not loop on it.
        [ "$(field requests "$line")" -gt 0 ] || break
    done
    # Totals: requests, errors, seconds, exchanges/request, and the CPU
    # times per request weighted by each batch's requests.
    regline=$(awk '{ n += $1; e += $2; t += $3; x += $4; c += $5 * $1;
                     cc += $6 * $1 }
        END { printf "batches=%d requests=%d errors=%d elapsed=%.3f " \
                  "rps=%.1f exch_per_req=%.2f kdc_cpu_us=%.0f " \
                  "client_cpu_us=%.0f\n", NR, n, e, t,
                  (t > 0) ? (n - e) / t : 0, (n > 0) ? x / n : 0,
                  (n > 0) ? c / n : 0, (n > 0) ? cc / n : 0 }' \
        "$work/tempkey.regs")
    echo "   registrations ($tk_reg, ksbench, $nb batches): $regline"

    # The same with one ktempkey process per registration.
    kt_n=0 kt_ok=0 kt_sec=0 kt_kdc=0
    if [ "$tempkey_ktempkey" -gt 0 ]; then
        pid=$(cat "$tk/kdc.pid")
        t0=$(cpu_ticks "$pid")
        w0=$(date +%s.%N)
        while [ "$kt_n" -lt "$tempkey_ktempkey" ]; do
            if (export KRB5_CONFIG="$tk/krb5.conf"
                on_client_cpus "$ktempkey" register -p "$tk_reg2" \
                    -k "FILE:$tk/reg2.keytab" \
                    --identity "FILE:$tk/pki/reg2.pem,$tk/pki/reg2.key" \
                    --anchor "FILE:$tk/pki/kdcca.pem" --lifetime 1h \
                    </dev/null) >>"$tk/ktempkey.log" 2>&1; then
                kt_ok=$((kt_ok + 1))
            fi
            kt_n=$((kt_n + 1))
        done
        w1=$(date +%s.%N)
        t1=$(cpu_ticks "$pid")
        kt_sec=$(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.3f", b - a }')
        kt_kdc=$(awk -v t="$((t1 - t0))" -v hz="$clk_tck" -v n="$kt_ok" \
            'BEGIN { printf "%.0f", (n > 0) ? t * 1e6 / hz / n : 0 }')
        echo "   registrations ($tk_reg2, $kt_n ktempkey register):" \
            "$kt_ok succeeded in $kt_sec s (see $tk/ktempkey.log)"
    fi
    echo "   load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

    tgs_d=$(pick tgs-derived tempkey 3)
    tgs_t=$(pick tgs-temp tempkey 3)
    ctgs_d=$(pick tgs-derived tempkey 4)
    ctgs_t=$(pick tgs-temp tempkey 4)
    echo
    printf '%-34s %10s %10s %17s\n' "" "derived" "temporary" \
        "temporary/derived"
    printf '%-34s %10.0f %10.0f %17s\n' "TGS (no cache) requests/s" \
        "$tgs_d" "$tgs_t" "$(ratio "$tgs_d" "$tgs_t")"
    printf '%-34s %10.0f %10.0f %17s\n' "TGS KDC CPU us/request" \
        "$ctgs_d" "$ctgs_t" "$(ratio "$ctgs_t" "$ctgs_d")"
    echo "(services $tk_derived and $tk_service of one realm and one KDC;" \
        "the CPU ratio is derived/temporary: above 1, a temporary-key TGS" \
        "costs the KDC less CPU)"
    # The goal is on requests/s; the CPU ratio, which other load on the
    # machine disturbs less, is printed next to it.
    awk -v a="$tgs_d" -v b="$tgs_t" -v ca="$ctgs_d" -v cb="$ctgs_t" 'BEGIN {
        r = (a > 0) ? b / a : 0
        printf "TGS temporary/derived = %.2f (goal >= 0.9): %s", r,
               (a > 0 && r >= 0.9) ? "PASS" : "BELOW GOAL"
        printf " (by KDC CPU per request: %.2f)\n", (cb > 0) ? ca / cb : 0 }'
    echo
    printf '%-34s %5s %6s %7s %7s %4s %8s %8s\n' \
        "registrations of new keys" "regs" "sec" "regs/s" "ms/reg" "exch" \
        "KDC us" "cli us"
    awk -v n="$(field requests "$regline")" -v e="$(field errors "$regline")" \
        -v t="$(field elapsed "$regline")" -v r="$(field rps "$regline")" \
        -v x="$(field exch_per_req "$regline")" \
        -v c="$(field kdc_cpu_us "$regline")" \
        -v cc="$(field client_cpu_us "$regline")" 'BEGIN {
        label = "ksbench -m init -P -1602, 1 proc"
        if (e > 0) label = label " (" e " errors)"
        printf "%-34s %5d %6.1f %7.1f %7.1f %4.2f %8d %8d\n", label, n, t, r,
               (r > 0) ? 1000 / r : 0, x, c, cc }'
    if [ "$tempkey_ktempkey" -gt 0 ]; then
        awk -v n="$kt_n" -v ok="$kt_ok" -v t="$kt_sec" -v c="$kt_kdc" 'BEGIN {
            label = "ktempkey register, a process each"
            if (ok < n) label = label " (" n - ok " errors)"
            r = (t > 0) ? ok / t : 0
            printf "%-34s %5d %6.1f %7.1f %7.1f %4s %8d %8s\n", label, n, t,
                   r, (r > 0) ? 1000 / r : 0, "-", c, "-" }'
    fi
    echo "(one principal each, sequential, key ids 1 to" \
        "$tempkey_batch (ksbench, purged between batches) and 1 to" \
        "$tempkey_ktempkey (ktempkey); every registration is a new key" \
        "id: 2 AS exchanges (exch), a synced store write on the KDC, a" \
        "keytab rewrite and a state-file write, both fsynced, on the" \
        "client, on the disk of $work: the fsyncs make these figures" \
        "depend on the disk and its other load.  KDC us: krb5kdc's CPU" \
        "time per registration; cli us: the client process's CPU time" \
        "per registration, setup included.)"
    awk -v r="$(field rps "$regline")" 'BEGIN {
        printf "registrations/s: %.1f (%.1f ms/registration)\n", r,
               (r > 0) ? 1000 / r : 0 }'
fi

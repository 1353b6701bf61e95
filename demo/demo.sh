#!/bin/bash
#
# demo/demo.sh: a throwaway krb5-stateless realm on loopback.
#
# On a fresh Debian 12 machine, as root:   bash demo/demo.sh
#
# Installs the missing Debian packages, builds the project out of tree in a
# temporary directory, creates the realm EXAMPLE.TEST on 127.0.0.1 (a free
# high port) whose KDC is Debian's own krb5kdc with the stateless backend,
# and uses the stock kinit, kvno, klist and kadmin.local against it: service
# keytabs and tickets, then devices that register (staged, with kregister;
# anonymous, with kinit), log in with their registration tickets and reach
# each other with user-to-user tickets.  It prints a numbered summary,
# stops the KDC and deletes everything it created.  The exit status is
# non-zero if a step failed.
#
# Environment:
#   DEMO_BUILD_DIR=DIR   use an existing build tree (configured from this
#                        source tree and built) instead of building one
#   KEEP=1               keep the temporary directory (configs, logs) for
#                        inspection; its path is printed at the end
#
# Nothing outside the temporary directory is touched, apart from the apt
# packages.

set -u

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRCDIR=$(cd "$SCRIPT_DIR/.." && pwd)

REALM=EXAMPLE.TEST
WEB=host/web.example.test
DB=host/db.example.test
DEVICE=device/sensor-0001
CAMERA=device/camera-0002
TK=www/shop.example.test        # a tempkey-only service (tempkey_services)
KEY_PERIOD=604800               # 7d, as in the kdc.conf written below
KEY_EPOCH=1767225600            # the default key_epoch, 2026-01-01T00:00:00Z

APT_PACKAGES="build-essential autoconf automake libtool pkg-config \
libkrb5-dev krb5-multidev comerr-dev krb5-kdc krb5-user krb5-admin-server \
libssl-dev libverto-dev liblmdb-dev check faketime openssl"

export PATH="$PATH:/usr/sbin:/sbin"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/krb5-stateless-demo.XXXXXX") || exit 1
KDC_PID=
STEP_NAMES=()
STEP_RESULTS=()
FAILED=0

# Stop the KDC this script started and remove the temporary directory.
cleanup() {
    local p
    for p in $KINKD_PIDS; do
        kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    if [ -n "$KDC_PID" ] && kill -0 "$KDC_PID" 2>/dev/null; then
        kill "$KDC_PID" 2>/dev/null
        wait "$KDC_PID" 2>/dev/null
    fi
    if [ "${KEEP:-0}" = 1 ]; then
        echo "Kept $WORK (KEEP=1)."
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s\n' "$*"; }

# Run a step: step "DESCRIPTION" FUNCTION.  After a failure the remaining
# steps are listed as skipped.
step() {
    local desc=$1 fn=$2 n=$(( ${#STEP_NAMES[@]} + 1 ))
    STEP_NAMES+=("$desc")
    if [ "$FAILED" != 0 ]; then
        STEP_RESULTS+=("SKIPPED")
        return
    fi
    say ""
    say "==> $n. $desc"
    if "$fn"; then
        STEP_RESULTS+=("OK")
    else
        STEP_RESULTS+=("FAILED")
        FAILED=1
    fi
}

# Run a command with its command line shown, as a user would type it.
show() {
    say "\$ $*"
    "$@"
}

# --- 1. dependencies -------------------------------------------------------

step_dependencies() {
    local missing=() p status rc
    for p in $APT_PACKAGES; do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)
        [ "$status" = installed ] || missing+=("$p")
    done
    if [ ${#missing[@]} = 0 ]; then
        say "All Debian packages are installed."
        return 0
    fi
    say "Missing Debian packages: ${missing[*]}"
    if [ "$(id -u)" != 0 ]; then
        say "Run this script as root, or install them:" \
            "apt-get install ${missing[*]}"
        return 1
    fi
    say "\$ apt-get update && apt-get install -y ${missing[*]}  (log: apt.log)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >"$WORK/apt.log" 2>&1 &&
        apt-get install -y -q --no-install-recommends "${missing[@]}" \
            >>"$WORK/apt.log" 2>&1
    rc=$?
    if [ "$rc" != 0 ]; then
        tail -n 20 "$WORK/apt.log"
        say "apt-get failed (exit $rc)"
    fi
    return "$rc"
}

# --- 2. build -------------------------------------------------------------

step_build() {
    if [ -n "${DEMO_BUILD_DIR:-}" ]; then
        BUILD=$(cd "$DEMO_BUILD_DIR" && pwd) || return 1
        say "Using the existing build tree $BUILD"
    else
        BUILD=$WORK/build
        if [ -e "$SRCDIR/config.status" ]; then
            say "$SRCDIR is configured in-tree; run 'make distclean' there" \
                "so that it can be built out of tree."
            return 1
        fi
        if [ ! -x "$SRCDIR/configure" ]; then
            say "\$ (cd $SRCDIR && autoreconf -fi)"
            (cd "$SRCDIR" && autoreconf -fi) >"$WORK/build.log" 2>&1 || {
                tail -n 20 "$WORK/build.log"; return 1; }
        fi
        mkdir -p "$BUILD"
        say "\$ cd $BUILD && $SRCDIR/configure && make -j2" \
            "  (log: build.log)"
        (cd "$BUILD" && "$SRCDIR/configure" -q && make -j2) \
            >>"$WORK/build.log" 2>&1 || {
            tail -n 30 "$WORK/build.log"; return 1; }
    fi
    KSTATELESS=$BUILD/kdb-stateless/kstateless
    MODULE_DIR=$BUILD/kdb-stateless/.libs
    DEVREG_SO=$BUILD/preauth/.libs/devreg.so
    KREGISTER=$BUILD/preauth/kregister
    TEMPKEY_SO=$BUILD/plugins/.libs/tempkey.so
    KTEMPKEY=$BUILD/plugins/ktempkey
    KINKD=$BUILD/kink/kinkd
    KINKCTL=$BUILD/kink/kinkctl
    if [ ! -x "$KSTATELESS" ] || [ ! -f "$MODULE_DIR/stateless.so" ] ||
        [ ! -f "$DEVREG_SO" ] || [ ! -x "$KREGISTER" ] ||
        [ ! -f "$TEMPKEY_SO" ] || [ ! -x "$KTEMPKEY" ] || [ ! -x "$KINKD" ]; then
        say "$BUILD lacks kdb-stateless/kstateless, stateless.so," \
            "preauth/.libs/devreg.so, preauth/kregister," \
            "plugins/.libs/tempkey.so or plugins/ktempkey"
        return 1
    fi
    say "Built $MODULE_DIR/stateless.so, $DEVREG_SO, $TEMPKEY_SO," \
        "$KSTATELESS, $KREGISTER and $KTEMPKEY"
}

# --- 3. certificates ----------------------------------------------------

# The registration service's CA and identity (the KDC signs its half of
# each registration with it), and the key pair of the staged device.
step_pki() {
    local d=$WORK/pki
    mkdir -p "$d"
    say "\$ openssl req -x509 ... -out pki/devreg-ca.pem     # the devices' anchor"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -subj /CN=devreg-ca -days 30 -keyout "$d/devreg-ca.key" \
        -out "$d/devreg-ca.pem" -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=keyCertSign >"$WORK/pki.log" 2>&1 ||
        { cat "$WORK/pki.log"; return 1; }
    cat >"$d/rs.cnf" <<EOC
[ext]
extendedKeyUsage = 1.3.6.1.5.2.3.5
subjectAltName = otherName:1.3.6.1.5.2.2;SEQUENCE:princ
[princ]
realm = EXP:0,GeneralString:$REALM
principal_name = EXP:1,SEQUENCE:pn
[pn]
name_type = EXP:0,INTEGER:2
name_string = EXP:1,SEQUENCE:ns
[ns]
n1 = GeneralString:krbtgt
n2 = GeneralString:$REALM
EOC
    say "\$ openssl x509 -req ... -out pki/rs.pem  # EKU id-pkinit-KPKdc, SAN krbtgt/$REALM"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -subj /CN=kdc.example.test -keyout "$d/rs.key" -out "$d/rs.csr" \
        >>"$WORK/pki.log" 2>&1 &&
        openssl x509 -req -in "$d/rs.csr" -CA "$d/devreg-ca.pem" \
            -CAkey "$d/devreg-ca.key" -days 30 -extfile "$d/rs.cnf" \
            -extensions ext -out "$d/rs.pem" >>"$WORK/pki.log" 2>&1 ||
        { cat "$WORK/pki.log"; return 1; }
    say "\$ openssl req -x509 -newkey ed25519 ... -out pki/sensor.pem   # on the device"
    openssl req -x509 -newkey ed25519 -nodes -subj /CN=sensor-0001 -days 30 \
        -keyout "$d/sensor.key" -out "$d/sensor.pem" >>"$WORK/pki.log" 2>&1 ||
        { cat "$WORK/pki.log"; return 1; }
    say "\$ openssl req -x509 ... -out pki/servers-ca.pem   # tempkey_anchors"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -subj /CN=servers-ca -days 30 -keyout "$d/servers-ca.key" \
        -out "$d/servers-ca.pem" -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=keyCertSign >>"$WORK/pki.log" 2>&1 ||
        { cat "$WORK/pki.log"; return 1; }
    chmod 600 "$d"/*.key
    ls -l "$d"/*.pem "$d"/*.key | sed 's/^/    /'
}

# --- 4. realm configuration -----------------------------------------------

# Nonzero if something listens on (or uses) local port $1, TCP or UDP.
port_in_use() {
    local hex
    hex=$(printf '%04X' "$1")
    awk 'NR > 1 { print $2 }' /proc/net/tcp /proc/net/tcp6 /proc/net/udp \
        /proc/net/udp6 2>/dev/null | grep -qi ":$hex\$"
}

# Print a free high port.
free_port() {
    local p i
    for i in $(seq 1 100); do
        p=$(( 20000 + RANDOM % 40000 ))
        port_in_use "$p" || { echo "$p"; return 0; }
    done
    return 1
}

# Write krb5.conf and kdc.conf for the realm on port $1.
write_config() {
    local port=$1
    cat >"$WORK/krb5.conf" <<EOF
[libdefaults]
    default_realm = $REALM
    dns_lookup_kdc = false
    dns_lookup_realm = false
    rdns = false
    dns_canonicalize_hostname = false

[realms]
    $REALM = {
        kdc = 127.0.0.1:$port
    }

[plugins]
    kdcpreauth = {
        module = devreg:$DEVREG_SO
        module = tempkey:$TEMPKEY_SO
    }
    clpreauth = {
        module = devreg:$DEVREG_SO
        module = tempkey:$TEMPKEY_SO
    }
EOF
    cat >"$WORK/kdc.conf" <<EOF
[kdcdefaults]
    kdc_ports = $port
    kdc_tcp_ports = $port

[realms]
    $REALM = {
        database_module = stateless
        kdc_listen = 127.0.0.1:$port
        kdc_tcp_listen = 127.0.0.1:$port
        max_life = 30d
        max_renewable_life = 7d
        devreg_identity = FILE:$WORK/pki/rs.pem,$WORK/pki/rs.key
        devreg_allow_anonymous = true
        tempkey_anchors = FILE:$WORK/pki/servers-ca.pem
        tempkey_max_life = 1d
    }

[dbmodules]
    db_module_dir = $MODULE_DIR
    stateless = {
        db_library = stateless
        secret_file = $WORK/realm/stateless.secret
        state_dir = $WORK/realm/state
        key_period = 7d
        service = host/*.example.test
        service = sip/*.example.test
        device_namespace = device
        device_max_life = 10h
        registration_max_life = 30d
        unprovisioned_services = sip/*
        tempkey_services = www/*
    }

[logging]
    kdc = FILE:$WORK/kdc.log
    admin_server = FILE:$WORK/kadmin.log
    default = FILE:$WORK/krb5.log
EOF
}

step_config() {
    PORT=$(free_port) || { say "no free port found"; return 1; }
    mkdir -p "$WORK/realm"
    write_config "$PORT"
    export KRB5_CONFIG=$WORK/krb5.conf
    export KRB5_KDC_PROFILE=$WORK/kdc.conf
    export KRB5CCNAME=FILE:$WORK/ccache.default
    say "Realm $REALM on 127.0.0.1:$PORT (UDP and TCP) in $WORK"
    say "KRB5_CONFIG=$KRB5_CONFIG"
    say "KRB5_KDC_PROFILE=$KRB5_KDC_PROFILE, whose [dbmodules] section is:"
    sed -n '/^\[dbmodules\]/,/^\[logging\]/p' "$KRB5_KDC_PROFILE" |
        sed '$d' | sed 's/^/    /'
}

# --- 4-5. realm secret ---------------------------------------------------

step_init() {
    local out
    say "\$ kstateless init"
    out=$("$KSTATELESS" init) || return 1
    printf '%s\n' "$out"
    INIT_CHECK=$(printf '%s\n' "$out" | sed -n 's/.*(check value \([0-9a-f]*\)).*/\1/p')
    show ls -l "$WORK/realm/stateless.secret" || return 1
    [ -n "$INIT_CHECK" ] && \
        [ "$(stat -c %a "$WORK/realm/stateless.secret")" = 600 ]
}

step_check_value() {
    say "\$ kstateless check-value"
    CHECK=$("$KSTATELESS" check-value) || return 1
    say "$CHECK"
    if [ "$CHECK" != "$INIT_CHECK" ]; then
        say "check-value $CHECK differs from init's $INIT_CHECK"
        return 1
    fi
    say "Same value as printed by init: replicas compare it to confirm" \
        "they hold the same secret."
}

# --- 6. KDC --------------------------------------------------------------

# Start krb5kdc in the foreground mode (-n) in the background; wait until
# it serves requests.  Nonzero if it exits or does not come up.
start_kdc() {
    local i
    : >"$WORK/kdc.log"
    krb5kdc -n >"$WORK/kdc.stderr" 2>&1 &
    KDC_PID=$!
    for i in $(seq 1 100); do
        if ! kill -0 "$KDC_PID" 2>/dev/null; then
            wait "$KDC_PID" 2>/dev/null
            KDC_PID=
            return 1
        fi
        grep -q 'commencing operation' "$WORK/kdc.log" && return 0
        sleep 0.1
    done
    return 1
}

step_kdc() {
    local tries
    say "\$ krb5kdc -n &"
    for tries in 1 2 3; do
        start_kdc && break
        if grep -q 'Address already in use' "$WORK/kdc.log" && [ "$tries" -lt 3 ]; then
            PORT=$(free_port) || return 1
            write_config "$PORT"
            say "port taken meanwhile; retrying on $PORT"
            continue
        fi
        cat "$WORK/kdc.stderr"
        tail -n 5 "$WORK/kdc.log"
        return 1
    done
    say "krb5kdc (pid $KDC_PID) is serving $REALM on 127.0.0.1:$PORT; its log says:"
    grep 'stateless:' "$WORK/kdc.log" | head -n 1 | sed 's/^/    /'
    grep -q "secret check value $CHECK" "$WORK/kdc.log"
}

# --- 7-10. keytabs and tickets ------------------------------------------

current_kvno() {
    local now
    now=$(date +%s)
    if [ "$now" -lt "$KEY_EPOCH" ]; then
        echo 1
    else
        echo $(( 1 + (now - KEY_EPOCH) / KEY_PERIOD ))
    fi
}

step_keytab() {
    show "$KSTATELESS" keytab -k "$WORK/web.keytab" "$WEB" || return 1
    show klist -k -e "$WORK/web.keytab" || return 1
    [ "$(stat -c %a "$WORK/web.keytab")" = 600 ] || return 1
    KVNO=$(current_kvno)
    klist -k "$WORK/web.keytab" | grep -q " $KVNO $WEB@" &&
        klist -k "$WORK/web.keytab" | grep -q " $((KVNO + 1)) $WEB@"
}

step_kinit() {
    show kinit -k -t "$WORK/web.keytab" "$WEB" || return 1
    show klist
}

step_kvno() {
    local out
    say "\$ kvno $DB"
    out=$(kvno "$DB") || return 1
    say "$out"
    say "(current kvno from the schedule: 1 + floor((now - key_epoch) /" \
        "key_period) = $KVNO)"
    [ "$out" = "$DB@$REALM: kvno = $KVNO" ]
}

step_validate() {
    local out
    say "The db server gets its own keytab; it validates the ticket that" \
        "$WEB holds for it:"
    show "$KSTATELESS" keytab -k "$WORK/db.keytab" "$DB" || return 1
    say "\$ kvno -k $WORK/db.keytab $DB"
    out=$(kvno -k "$WORK/db.keytab" "$DB") || return 1
    say "$out"
    case $out in
    *"keytab entry valid"*) return 0 ;;
    *) return 1 ;;
    esac
}

# --- 11-13. kadmin.local and devices -------------------------------------

# kadmin.local prints which principal it "authenticates as"; it does not
# matter here (it opens the database directly), so leave that line out.
kadmin_local() {
    kadmin.local -q "$1" 2>&1 | grep -v '^Authenticating as principal'
}

step_getprinc() {
    local out
    say "\$ kadmin.local -q \"getprinc krbtgt/$REALM\""
    out=$(kadmin_local "getprinc krbtgt/$REALM")
    say "$out"
    say "(the current kvno $KVNO and the previous one; the next kvno is only" \
        "in keytabs)"
    printf '%s\n' "$out" | grep -q "vno $KVNO, aes256-cts-hmac-sha1-96" ||
        return 1
    # Before key_epoch + key_period there is no previous kvno.
    [ "$KVNO" = 1 ] ||
        printf '%s\n' "$out" | grep -q "vno $((KVNO - 1)), aes256-cts-hmac-sha1-96"
}

step_readonly() {
    local out
    say "\$ kadmin.local -q \"modprinc -maxlife 1h $WEB\""
    out=$(kadmin_local "modprinc -maxlife 1h $WEB")
    say "$out"
    printf '%s\n' "$out" | grep -q 'read-only'
}

step_device() {
    local out
    say "\$ kadmin.local -q \"getprinc $DEVICE\""
    out=$(kadmin_local "getprinc $DEVICE")
    say "$out"
    printf '%s\n' "$out" | grep -q 'Number of keys: 0' || return 1
    printf '%s\n' "$out" | grep -q 'REQUIRES_PRE_AUTH DISALLOW_SVR' || return 1

    say "\$ kvno $DEVICE      # an ordinary (not user-to-user) ticket"
    if out=$(kvno "$DEVICE" 2>&1); then
        say "$out"
        say "unexpected: the KDC issued a non-user-to-user ticket to a device"
        return 1
    fi
    say "$out"
    case $out in
    *"user2user only"*) ;;
    *) return 1 ;;
    esac

    say "\$ kinit $DEVICE      # no registration ticket, no password"
    if KRB5CCNAME=FILE:$WORK/ccache.device kinit "$DEVICE" </dev/null \
        >"$WORK/kinit-device.out" 2>&1; then
        say "unexpected: a device logged in without preauthentication"
        return 1
    fi
    cat "$WORK/kinit-device.out"
    say "KDC log:"
    grep "NEEDED_PREAUTH: $DEVICE@" "$WORK/kdc.log" | tail -n 1 |
        sed 's/^.* 127\.0\.0\.1: /    /'
    grep -q "NEEDED_PREAUTH: $DEVICE@" "$WORK/kdc.log" || return 1
    say "Devices have no keys in the KDC: they log in with the" \
        "registration ticket they get by registering (next steps) and are" \
        "reached only with user-to-user tickets (kvno --u2u)."
}

# --- devices: registration, login, policy, user-to-user -----------------

step_stage() {
    show "$KSTATELESS" stage add sensor-0001 --pubkey "$WORK/pki/sensor.pem" ||
        return 1
    show "$KSTATELESS" stage list
}

write_kregister_conf() {
    cat >"$WORK/kregister.conf" <<EOC
principal = $DEVICE@$REALM
anchor = FILE:$WORK/pki/devreg-ca.pem
identity = FILE:$WORK/pki/sensor.pem,$WORK/pki/sensor.key
registration_ccache = FILE:$WORK/sensor.reg
ccache = FILE:$WORK/sensor.tgt
EOC
}

step_enroll() {
    write_kregister_conf
    say "$WORK/kregister.conf:"
    sed 's/^/    /' "$WORK/kregister.conf"
    show "$KREGISTER" -c "$WORK/kregister.conf" enroll || return 1
    show klist -c "FILE:$WORK/sensor.reg" || return 1
    klist -c "FILE:$WORK/sensor.reg" | grep -q "devreg/$REALM@$REALM"
}

step_login() {
    show "$KREGISTER" -c "$WORK/kregister.conf" login || return 1
    show "$KREGISTER" -c "$WORK/kregister.conf" status || return 1
    say "\$ KRB5CCNAME=FILE:sensor.tgt kvno $DB"
    KRB5CCNAME=FILE:$WORK/sensor.tgt kvno "$DB"
}

step_anonymous() {
    say "\$ kinit -S devreg/$REALM -X devreg_anchor=FILE:pki/devreg-ca.pem \\"
    say "      -X devreg_anonymous=yes -c camera.reg $CAMERA"
    kinit -S "devreg/$REALM" -X "devreg_anchor=FILE:$WORK/pki/devreg-ca.pem" \
        -X devreg_anonymous=yes -c "FILE:$WORK/camera.reg" "$CAMERA" \
        </dev/null || return 1
    say "\$ kinit -X devreg_ticket=FILE:camera.reg -c camera.tgt $CAMERA"
    kinit -X "devreg_ticket=FILE:$WORK/camera.reg" \
        -c "FILE:$WORK/camera.tgt" "$CAMERA" </dev/null || return 1
    show klist -c "FILE:$WORK/camera.tgt"
}

step_restricted() {
    local out
    say "\$ KRB5CCNAME=FILE:camera.tgt kvno sip/phone.example.test   # allowed"
    KRB5CCNAME=FILE:$WORK/camera.tgt kvno sip/phone.example.test || return 1
    say "\$ KRB5CCNAME=FILE:camera.tgt kvno $DB"
    if out=$(KRB5CCNAME=FILE:$WORK/camera.tgt kvno "$DB" 2>&1); then
        say "$out"
        say "unexpected: an unprovisioned anonymous device reached $DB"
        return 1
    fi
    say "$out"
    say "KDC log:"
    grep "DEVREG_UNPROVISIONED" "$WORK/kdc.log" | tail -n 1 |
        sed 's/^.* 127\.0\.0\.1: /    /'
    grep -q "DEVREG_UNPROVISIONED" "$WORK/kdc.log" || return 1
    say "(after 'kstateless provision camera-0002' and a new login the" \
        "camera reaches $DB too)"
}

step_u2u() {
    local out
    say "\$ KRB5CCNAME=FILE:sensor.tgt kvno --u2u FILE:camera.tgt $CAMERA"
    out=$(KRB5CCNAME=FILE:$WORK/sensor.tgt kvno --u2u \
        "FILE:$WORK/camera.tgt" "$CAMERA" 2>&1) || { say "$out"; return 1; }
    say "$out"
    say "(encrypted in the session key of the camera's TGT, hence kvno 0)"
    [ "$out" = "$CAMERA@$REALM: kvno = 0" ]
}

step_refusal() {
    local out
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -subj /CN=rogue -days 1 -keyout "$WORK/pki/rogue.key" \
        -out "$WORK/pki/rogue.pem" >>"$WORK/pki.log" 2>&1 || return 1
    chmod 600 "$WORK/pki/rogue.key"
    say "\$ kinit -S devreg/$REALM -X devreg_anchor=FILE:pki/devreg-ca.pem \\"
    say "      -X devreg_identity=FILE:pki/rogue.pem,pki/rogue.key device/rogue-9"
    if out=$(kinit -S "devreg/$REALM" \
        -X "devreg_anchor=FILE:$WORK/pki/devreg-ca.pem" \
        -X "devreg_identity=FILE:$WORK/pki/rogue.pem,$WORK/pki/rogue.key" \
        -c "FILE:$WORK/rogue.reg" device/rogue-9 </dev/null 2>&1); then
        say "unexpected: an unstaged device registered"
        return 1
    fi
    say "$out"
    say "KDC log:"
    grep "verify failure" "$WORK/kdc.log" | tail -n 1 |
        sed 's/^.*: preauth/    preauth/'
    case $out in
    *"[unknown-device]"*) return 0 ;;
    *) return 1 ;;
    esac
}

# --- tempkey: a service whose key the KDC never keeps for long ------------

# A certificate from the servers' CA (tempkey_anchors, made with the
# others) for the shop's server, naming its host by dNSName.
step_tk_pki() {
    local d=$WORK/pki
    printf '[ext]\nsubjectAltName = DNS:shop.example.test\n' >"$d/shop.cnf"
    say "\$ openssl x509 -req ... -out pki/shop.pem   # dNSName shop.example.test, no EKU"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -subj /CN=shop.example.test -keyout "$d/shop.key" -out "$d/shop.csr" \
        >>"$WORK/pki.log" 2>&1 &&
        openssl x509 -req -in "$d/shop.csr" -CA "$d/servers-ca.pem" \
            -CAkey "$d/servers-ca.key" -days 30 -extfile "$d/shop.cnf" \
            -extensions ext -out "$d/shop.pem" >>"$WORK/pki.log" 2>&1 ||
        return 1
    chmod 600 "$d/shop.key"
}

step_tk_register() {
    local out
    say "\$ ktempkey register -p $TK -k shop.keytab \\"
    say "      --identity FILE:pki/shop.pem,pki/shop.key --anchor FILE:pki/devreg-ca.pem --lifetime 2h"
    out=$("$KTEMPKEY" register -p "$TK" -k "$WORK/shop.keytab" \
        --identity "FILE:$WORK/pki/shop.pem,$WORK/pki/shop.key" \
        --anchor "FILE:$WORK/pki/devreg-ca.pem" --lifetime 2h </dev/null 2>&1) ||
        { say "$out"; return 1; }
    say "$out"
    show klist -k "$WORK/shop.keytab" || return 1
    case $out in
    *"registered key id 1 of $TK@$REALM"*) return 0 ;;
    *) return 1 ;;
    esac
}

step_tk_kvno() {
    local out
    say "\$ kvno -k shop.keytab $TK     # as the client $WEB"
    out=$(kvno -k "$WORK/shop.keytab" "$TK" 2>&1) || { say "$out"; return 1; }
    say "$out"
    show klist || return 1
    say "(the ticket ends no later than the key, 2 hours after its registration)"
    [ "$out" = "$TK@$REALM: kvno = 1, keytab entry valid" ]
}

step_tk_list() {
    show "$KSTATELESS" tempkeys list || return 1
    "$KSTATELESS" tempkeys list | grep -q "^$TK@$REALM  *1 "
}

# --- kinkd: IPsec SAs between the two devices -----------------------------

# kinkd for a device: its TGT ccache as identity, backend none (the demo
# does not touch the kernel), the other device as its only peer.
KINKD_PIDS=
kinkd_for() {
    local name=$1 addr=$2 ccache=$3 peer=$4 princ=$5 port=$6 extra=${7:-}
    mkdir -p "$WORK/kink-$name/state" && chmod 700 "$WORK/kink-$name/state"
    cat >"$WORK/kink-$name.conf" <<EOC
identity = ccache:FILE:$ccache
listen = $addr:$port
backend = none
control_socket = $WORK/kink-$name/ctl.sock
state_dir = $WORK/kink-$name/state
peer $peer {
    principal = $princ@$REALM
    port = $port
    $extra
}
EOC
    "$KINKD" -d -K -c "$WORK/kink-$name.conf" </dev/null \
        >"$WORK/kink-$name.log" 2>&1 &
    KINKD_PIDS="$KINKD_PIDS $!"
}

step_kink() {
    local port=$((20000 + RANDOM % 10000)) out i in k1 k2
    kinkd_for sensor 127.0.0.2 "$WORK/sensor.tgt" 127.0.0.3 "$CAMERA" "$port"
    kinkd_for camera 127.0.0.3 "$WORK/camera.tgt" 127.0.0.2 "$DEVICE" "$port" \
        "gettgt = yes"
    for i in $(seq 100); do
        [ -S "$WORK/kink-sensor/ctl.sock" ] && [ -S "$WORK/kink-camera/ctl.sock" ] && break
        sleep 0.05
    done
    say "(kinkd on 127.0.0.2 as $DEVICE, on 127.0.0.3 as $CAMERA; no keytabs)"
    say "\$ kinkctl -s kink-sensor/ctl.sock initiate 127.0.0.3"
    out=$("$KINKCTL" -s "$WORK/kink-sensor/ctl.sock" initiate 127.0.0.3 2>&1) ||
        { say "$out"; tail -n 5 "$WORK/kink-sensor.log"; return 1; }
    say "$out"
    say "\$ kinkctl -s kink-camera/ctl.sock sa"
    "$KINKCTL" -s "$WORK/kink-camera/ctl.sock" sa || return 1
    grep -E 'GETTGT|trying user-to-user' "$WORK/kink-sensor.log" \
        "$WORK/kink-camera.log" | sed 's/^.*kinkd: /    /'
    in=$(sed -nE 's/.*in=0x([0-9a-f]{8}).*/\1/p' <<<"$out")
    k1=$(grep -E "none: +in SPI 0x$in " "$WORK/kink-sensor.log" | sed -E 's/.* keys //')
    k2=$(grep -E "none: +out SPI 0x$in " "$WORK/kink-camera.log" | sed -E 's/.* keys //')
    say "(the sensor's inbound ESP keys equal the camera's outbound keys:" \
        "$([ -n "$k1" ] && [ "$k1" = "$k2" ] && echo yes || echo NO))"
    [ -n "$k1" ] && [ "$k1" = "$k2" ]
}

# --- run -----------------------------------------------------------------

say "krb5-stateless demo: a throwaway realm $REALM on loopback"
say "Source $SRCDIR, scratch directory $WORK"

step "Debian packages installed" step_dependencies
step "Project built out of tree (stateless.so, devreg.so, tempkey.so, kstateless, kregister, ktempkey, kinkd)" step_build
step "Registration service CA and identity, a device key, a servers' CA (openssl)" step_pki
step "Realm $REALM configured with the stateless backend and devreg" step_config
step "kstateless init created the realm secret (mode 600)" step_init
step "kstateless check-value printed the same check value" step_check_value
step "Stock krb5kdc started and logged that check value" step_kdc
step "kstateless keytab wrote $WEB (current and next kvno)" step_keytab
step "kinit -k obtained a TGT as $WEB" step_kinit
step "kvno $DB got a ticket in the current kvno" step_kvno
step "kvno -k validated that ticket with $DB's keytab" step_validate
step "kadmin.local getprinc krbtgt/$REALM shows derived keys" step_getprinc
step "kadmin.local refuses changes (read-only backend)" step_readonly
step "$DEVICE is keyless, needs preauth, user-to-user only" step_device
step "kstateless stage add recorded $DEVICE's public key" step_stage
step "kregister enroll: $DEVICE registered, got its registration ticket" step_enroll
step "kregister login: a TGT with the registration ticket, no password" step_login
step "$CAMERA registered anonymously and logged in (stock kinit)" step_anonymous
step "The anonymous camera reaches only unprovisioned_services" step_restricted
step "$DEVICE got a user-to-user ticket for $CAMERA" step_u2u
step "An unstaged device is refused, and told why" step_refusal
step "A certificate for $TK's host from the servers' CA (openssl)" step_tk_pki
step "ktempkey registered a temporary key for $TK (key id 1)" step_tk_register
step "kvno -k: a ticket for $TK in key id 1, valid with its keytab" step_tk_kvno
step "kstateless tempkeys list shows the key (never its bytes)" step_tk_list
step "kinkd: $DEVICE and $CAMERA negotiate IPsec SAs by KINK (user-to-user)" step_kink

say ""
say "Summary"
for i in "${!STEP_NAMES[@]}"; do
    printf '%3d. %-8s %s\n' $((i + 1)) "${STEP_RESULTS[$i]}" "${STEP_NAMES[$i]}"
done
if [ "$FAILED" != 0 ]; then
    say "The demo FAILED."
    if [ -s "$WORK/kdc.log" ]; then
        say "Last lines of the KDC log:"
        tail -n 20 "$WORK/kdc.log"
    fi
    exit 1
fi
say "All steps OK.  Stopping the KDC and removing $WORK."
exit 0

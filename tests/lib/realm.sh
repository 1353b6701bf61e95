# realm.sh: helpers for tests that run a real MIT krb5kdc (bash; source it).
#
# A test makes a temporary directory, creates one or more realms in it,
# starts Debian's krb5kdc on a free loopback port for each, and drives the
# stock clients (kinit, kvno, klist, kadmin.local) against them:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/../lib/realm.sh"
#   ks_tmpdir                                   # sets KS_TMPDIR, EXIT trap
#   realm_create "$KS_TMPDIR/r" --dbmod 'service = HTTP/*'
#   kdc_start "$KS_TMPDIR/r" || { fail "KDC did not start"; finish; }
#   realm_env "$KS_TMPDIR/r"
#   export KRB5CCNAME=FILE:$KS_TMPDIR/cc
#   expect_ok "kinit with a derived keytab" kinit -k -t "$kt" host/a.example.test
#   finish
#
# A realm directory DIR holds krb5.conf, kdc.conf, port (the KDC's UDP and
# TCP port on 127.0.0.1), realm, backend, kdc.log (the KDC's log),
# kdc.stderr, kdc.pid while a KDC runs, and for the stateless backend
# stateless.secret and state/.  Everything a test creates lives under
# KS_TMPDIR, which is removed at exit (kept on failure when KS_KEEP=1), and
# every KDC started is stopped at exit.
#
# Functions (details above each one):
#   ks_tmpdir                    make KS_TMPDIR, arrange cleanup at exit
#   free_port                    print a free, reserved TCP+UDP port
#   wait_port PORT [TIMEOUT_S]   wait until PORT listens (TCP) and is bound (UDP)
#   realm_create DIR [--backend stateless|db2] [--realm R] [--secret FILE]
#                [--no-secret] [--dbmod 'k = v']... [--no-default-service]
#                [--realmopt 'k = v']... [--enctypes 'E...'] [--libdefault 'k = v']...
#   realm_env [-p] DIR           export KRB5_CONFIG, KRB5_KDC_PROFILE (-p: print)
#   realm_run DIR CMD...         run CMD with DIR's environment (a subshell)
#   realm_enable_devreg DIR [STATE_DIR]  load devreg.so in DIR's KDC and clients
#   realm_enable_tempkey DIR     load tempkey.so in DIR's KDC and clients
#   realm_devices_db2 DIR STATE NAME...  db2 realm with devreg and devices
#   devreg_login NAME CCDIR      device/NAME registers and logs in
#   kdc_start DIR [WORKERS]      krb5kdc -n [-w WORKERS] in the background
#   kdc_stop DIR, kdc_kill9 DIR  stop it (SIGTERM, SIGKILL fallback) / kill it
#   kdc_start_expect_failure DIR REGEX [DESC]
#   ks_children PID              pids of PID's children (KDC workers)
#   kstateless, ks_kadmin_local, ks_kdb5_util, ks_module_host CMD...
#                                our tool / stock tools that load our module
#   ks_kvno_at EPOCH PERIOD NOW  the key schedule's current kvno
#   re_escape STRING             STRING quoted for grep -E
#   pass, fail, skip, finish, expect_ok, expect_fail, expect_match,
#   expect_output, expect_eq     results (see below)
# ks_tmpdir, kdc_start, kdc_stop and kdc_kill9 change the test's state:
# call them directly, never inside $(...) or an expect_* (both run their
# command in a subshell).  Do not use a bare 'wait' in a test: the KDCs
# are children of the test's shell.
#
# Environment (set by tests/integration/Makefile.am; for a standalone run
# export at least KS_MODULE_DIR and KSTATELESS):
#   KS_MODULE_DIR   directory holding the built stateless.so
#   KSTATELESS      the built kstateless program
#   KRB5KDC, KADMIN_LOCAL, KDB5_UTIL   stock programs (default /usr/sbin/...)
#   KS_SANITIZE=yes our module is built with ASan+UBSan: stock programs that
#                   load it (krb5kdc, kadmin.local, kdb5_util) run with the
#                   sanitizer runtimes preloaded, ASAN_OPTIONS
#                   detect_leaks=0:abort_on_error=1 (stock MIT programs
#                   leak); a sanitizer report in the KDC's stderr fails the
#                   test.  KS_CC: the compiler whose runtimes to preload.
#   KS_PRELOAD      extra libraries preloaded into those stock programs
#                   and the KDC (for example libfaketime)
#   KS_CMD_TIMEOUT  seconds after which ks_module_host kills its command
#   KS_KEEP=1       keep KS_TMPDIR when a test fails
#   KS_PORT_MIN, KS_PORT_MAX   range of free_port (default 20000-32000)
#
# Assertions count results and never exit: pass, fail, expect_ok,
# expect_fail, expect_match, expect_output, expect_eq.  They print
# "PASS: ..." or "FAIL: ..." (with the command's output on failure); the
# last command's combined output and status are in KS_OUT and KS_RC.  skip
# prints "SKIP: reason" and exits 77; finish stops the KDCs still running,
# prints a summary and exits 1 if anything failed (99 if nothing was
# asserted).  Harness errors (missing build, bad arguments) exit 99.

if [ -n "${_KS_REALM_SH_LOADED:-}" ]; then
    return 0
fi
_KS_REALM_SH_LOADED=1

: "${KRB5KDC:=/usr/sbin/krb5kdc}"
: "${KADMIN_LOCAL:=/usr/sbin/kadmin.local}"
: "${KDB5_UTIL:=/usr/sbin/kdb5_util}"
: "${KS_SANITIZE:=no}"
: "${KS_PRELOAD:=}"

KS_DEFAULT_REALM=EXAMPLE.TEST
KS_AES_ENCTYPES="aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96 aes256-cts-hmac-sha384-192 aes128-cts-hmac-sha256-128"
# Ports handed out by free_port: below Linux's ephemeral range (32768-60999)
# so that client source ports never take them.
KS_PORT_MIN=${KS_PORT_MIN:-20000}
KS_PORT_MAX=${KS_PORT_MAX:-32000}

KS_PASSES=0
KS_FAILS=0
KS_OUT=
KS_RC=0
KS_TMPDIR=${KS_TMPDIR:-}
_KS_KDC_DIRS=()
_KS_SAN_ENV=()

# Print a harness error and exit 99 (automake's "hard error").
_ks_die() {
    echo "ERROR: realm.sh: $*" >&2
    exit 99
}

# Require a variable naming an existing file or directory.
_ks_require() {
    local var=$1 what=$2 val
    val=${!var:-}
    if [ -z "$val" ]; then
        _ks_die "$var is not set ($what); run the test through 'make check' or export it"
    fi
    if [ ! -e "$val" ]; then
        _ks_die "$var=$val does not exist ($what); build the tree first"
    fi
}

# --- results ---------------------------------------------------------------

pass() {
    KS_PASSES=$((KS_PASSES + 1))
    echo "PASS: $*"
}

fail() {
    KS_FAILS=$((KS_FAILS + 1))
    echo "FAIL: $*"
}

skip() {
    echo "SKIP: $*"
    exit 77
}

# Print KS_OUT indented, for failure reports.
_ks_show_output() {
    [ -n "$KS_OUT" ] || return 0
    printf '%s\n' "$KS_OUT" | sed 's/^/    | /'
}

# Nonzero status if text on stdin holds a sanitizer report.
_ks_sanitizer_report() {
    grep -Eq 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:'
}

# Run CMD..., setting KS_OUT (stdout and stderr) and KS_RC.
_ks_run() {
    KS_OUT=$("$@" 2>&1)
    KS_RC=$?
}

# expect_ok DESC CMD...: CMD succeeds.
expect_ok() {
    local desc=$1
    shift
    _ks_run "$@"
    if [ "$KS_RC" -eq 0 ] && ! _ks_sanitizer_report <<<"$KS_OUT"; then
        pass "$desc"
        return 0
    fi
    fail "$desc (exit $KS_RC: $*)"
    _ks_show_output
    return 1
}

# expect_fail DESC REGEX CMD...: CMD fails (without crashing) and its output
# matches the extended regular expression REGEX.
expect_fail() {
    local desc=$1 re=$2
    shift 2
    _ks_run "$@"
    if [ "$KS_RC" -eq 0 ]; then
        fail "$desc (succeeded but should fail: $*)"
    elif [ "$KS_RC" -ge 126 ]; then
        fail "$desc (exit $KS_RC, crashed or not runnable: $*)"
    elif _ks_sanitizer_report <<<"$KS_OUT"; then
        fail "$desc (sanitizer report: $*)"
    elif ! grep -Eq -- "$re" <<<"$KS_OUT"; then
        fail "$desc (failed as expected, but output does not match /$re/: $*)"
    else
        pass "$desc"
        return 0
    fi
    _ks_show_output
    return 1
}

# expect_match DESC REGEX CMD...: CMD succeeds and its output matches REGEX.
expect_match() {
    local desc=$1 re=$2
    shift 2
    _ks_run "$@"
    if [ "$KS_RC" -ne 0 ]; then
        fail "$desc (exit $KS_RC: $*)"
    elif _ks_sanitizer_report <<<"$KS_OUT"; then
        fail "$desc (sanitizer report: $*)"
    elif ! grep -Eq -- "$re" <<<"$KS_OUT"; then
        fail "$desc (output does not match /$re/: $*)"
    else
        pass "$desc"
        return 0
    fi
    _ks_show_output
    return 1
}

# expect_output DESC REGEX CMD...: CMD runs to completion (any exit status,
# no crash) and its output matches REGEX.  For tools whose exit status does
# not report failure, such as kadmin.local -q.
expect_output() {
    local desc=$1 re=$2
    shift 2
    _ks_run "$@"
    if [ "$KS_RC" -ge 126 ]; then
        fail "$desc (exit $KS_RC, crashed or not runnable: $*)"
    elif _ks_sanitizer_report <<<"$KS_OUT"; then
        fail "$desc (sanitizer report: $*)"
    elif ! grep -Eq -- "$re" <<<"$KS_OUT"; then
        fail "$desc (output does not match /$re/: $*)"
    else
        pass "$desc"
        return 0
    fi
    _ks_show_output
    return 1
}

# expect_eq DESC EXPECTED ACTUAL: the two strings are equal.
expect_eq() {
    if [ "$2" = "$3" ]; then
        pass "$1"
        return 0
    fi
    fail "$1 (expected '$2', got '$3')"
    return 1
}

# re_escape STRING: print STRING with extended-regex metacharacters escaped.
re_escape() {
    printf '%s' "$1" | sed 's/[][\\.^$*+?(){}|]/\\&/g'
}

# finish: stop the KDCs still running, print a summary, exit 0 or 1.
finish() {
    local d
    for d in "${_KS_KDC_DIRS[@]}"; do
        kdc_stop "$d"
    done
    echo "# $KS_PASSES passed, $KS_FAILS failed"
    if [ "$KS_FAILS" -gt 0 ]; then
        exit 1
    fi
    if [ "$KS_PASSES" -eq 0 ]; then
        echo "ERROR: no assertion was made" >&2
        exit 99
    fi
    exit 0
}

# --- temporary directory and cleanup ---------------------------------------

# ks_tmpdir: create the test's temporary directory (KS_TMPDIR) and arrange
# for every KDC to be stopped and the directory removed at exit.
ks_tmpdir() {
    local name
    if [ "${BASH_SUBSHELL:-0}" -gt 0 ]; then
        _ks_die "call ks_tmpdir directly, not in \$(...): it sets KS_TMPDIR and an EXIT trap"
    fi
    if [ -n "${_KS_TMPDIR_OWNED:-}" ]; then
        return 0
    fi
    name=$(basename "$0" .sh)
    KS_TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/ks-$name.XXXXXX") ||
        _ks_die "cannot create a directory in ${TMPDIR:-/tmp}"
    _KS_TMPDIR_OWNED=1
    export KS_TMPDIR
    trap _ks_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    echo "# test directory $KS_TMPDIR"
}

# EXIT trap: stop KDCs, release ports, remove (or keep) KS_TMPDIR.
_ks_cleanup() {
    local rc=$? d
    set +e
    # Other helper files (kink.sh) stop their daemons first.
    if declare -F ks_cleanup_hook >/dev/null; then
        ks_cleanup_hook || { [ "$rc" -eq 0 ] && rc=1; }
    fi
    for d in "${_KS_KDC_DIRS[@]}"; do
        # A crash or sanitizer report found now still fails the test.
        if ! kdc_stop "$d" && [ "$rc" -eq 0 ]; then
            rc=1
        fi
    done
    _ks_release_ports
    if [ -n "${_KS_TMPDIR_OWNED:-}" ] && [ -d "$KS_TMPDIR" ]; then
        if [ "${KS_KEEP:-0}" = 1 ] && { [ "$KS_FAILS" -gt 0 ] ||
               { [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; }; }; then
            echo "# KS_KEEP=1: kept $KS_TMPDIR"
        else
            rm -rf "$KS_TMPDIR"
        fi
    fi
    exit "$rc"
}

# --- ports ----------------------------------------------------------------

# Zero status if PORT is bound by any TCP or UDP socket (IPv4 or IPv6).
_ks_port_in_use() {
    local hex
    hex=$(printf ':%04X' "$1")
    awk -v p="$hex" 'FNR > 1 && substr($2, length($2) - 4) == p { f = 1 }
                     END { exit !f }' \
        /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6 2>/dev/null
}

# Zero status if PORT has a listening TCP socket and a bound UDP socket.
_ks_port_ready() {
    local hex
    hex=$(printf ':%04X' "$1")
    awk -v p="$hex" 'FNR > 1 && substr($2, length($2) - 4) == p {
                         if (FILENAME ~ /tcp/ && $4 == "0A") t = 1
                         if (FILENAME ~ /udp/) u = 1 }
                     END { exit !(t && u) }' \
        /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6 2>/dev/null
}

_ks_port_lockdir() {
    echo "${TMPDIR:-/tmp}/ks-test-ports"
}

# free_port: print a port free for TCP and UDP on 127.0.0.1.  The port is
# reserved (a directory in ${TMPDIR:-/tmp}/ks-test-ports owned by this
# test's pid) until the test exits, so that tests run in parallel never
# pick the same one.
free_port() {
    local lockdir port owner i
    lockdir=$(_ks_port_lockdir)
    mkdir -p "$lockdir" 2>/dev/null
    for ((i = 0; i < 500; i++)); do
        port=$((KS_PORT_MIN + (RANDOM * 32768 + RANDOM) % (KS_PORT_MAX - KS_PORT_MIN)))
        if _ks_port_in_use "$port"; then
            continue
        fi
        if mkdir "$lockdir/$port" 2>/dev/null; then
            echo $$ >"$lockdir/$port/pid"
            echo "$port"
            return 0
        fi
        # Reclaim a reservation whose test is gone.
        owner=$(cat "$lockdir/$port/pid" 2>/dev/null)
        if [ -n "$owner" ] && ! kill -0 "$owner" 2>/dev/null; then
            rm -rf "${lockdir:?}/$port"
        fi
    done
    echo "free_port: no free port in $KS_PORT_MIN-$KS_PORT_MAX" >&2
    return 1
}

# Drop the port reservations of this test.
_ks_release_ports() {
    local lockdir d
    lockdir=$(_ks_port_lockdir)
    [ -d "$lockdir" ] || return 0
    for d in "$lockdir"/*; do
        [ -f "$d/pid" ] || continue
        if [ "$(cat "$d/pid" 2>/dev/null)" = "$$" ]; then
            rm -rf "$d"
        fi
    done
}

# wait_port PORT [TIMEOUT_S]: wait until something listens on TCP PORT and
# has UDP PORT bound (default timeout 10 s).
wait_port() {
    local port=$1 timeout=${2:-10} i n
    n=$((timeout * 20))
    for ((i = 0; i < n; i++)); do
        if _ks_port_ready "$port"; then
            return 0
        fi
        sleep 0.05
    done
    echo "wait_port: nothing listens on port $port after ${timeout}s" >&2
    return 1
}

# --- sanitizers and stock programs -----------------------------------------

# Fill _KS_SAN_ENV with the environment for stock programs that load our
# module: the sanitizer runtimes (KS_SANITIZE=yes) and KS_PRELOAD.
_ks_host_env() {
    local preload="" lib cc asan_opts="detect_leaks=0:abort_on_error=1"
    _KS_SAN_ENV=()
    # KS_PRELOAD goes first: with libfaketime after the ASan runtime, the
    # process hangs in start-up (seen with gcc 12's libasan.so.8 and
    # libfaketime 0.9.10), so ASan's link-order check is turned off.
    if [ -n "$KS_PRELOAD" ]; then
        preload=$KS_PRELOAD
        asan_opts="$asan_opts:verify_asan_link_order=0"
    fi
    if [ "$KS_SANITIZE" = yes ]; then
        cc=${KS_CC:-gcc}
        cc=${cc%% *}
        for lib in libasan.so libubsan.so; do
            local path
            path=$("$cc" -print-file-name=$lib 2>/dev/null)
            if [ -z "$path" ] || [ "$path" = "$lib" ] || [ ! -e "$path" ]; then
                _ks_die "KS_SANITIZE=yes but '$cc -print-file-name=$lib' finds no runtime"
            fi
            preload="$preload${preload:+ }$(readlink -f "$path")"
        done
        _KS_SAN_ENV+=("ASAN_OPTIONS=$asan_opts"
                      "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
    fi
    if [ -n "$preload" ]; then
        _KS_SAN_ENV+=("LD_PRELOAD=$preload")
    fi
}

# ks_module_host CMD...: run a stock program that loads our module (with
# the sanitizer runtimes and KS_PRELOAD preloaded when KS_SANITIZE=yes).
# KS_CMD_TIMEOUT=SECONDS bounds its run time.
ks_module_host() {
    _ks_host_env
    if [ -n "${KS_CMD_TIMEOUT:-}" ]; then
        timeout "$KS_CMD_TIMEOUT" env "${_KS_SAN_ENV[@]}" "$@"
    else
        env "${_KS_SAN_ENV[@]}" "$@"
    fi
}

# ks_kadmin_local ARGS...: kadmin.local for the realm of realm_env.
ks_kadmin_local() {
    ks_module_host "$KADMIN_LOCAL" "$@"
}

# ks_kdb5_util ARGS...: kdb5_util for the realm of realm_env.
ks_kdb5_util() {
    ks_module_host "$KDB5_UTIL" "$@"
}

# kstateless ARGS...: the built kstateless (its own sanitizers linked in).
kstateless() {
    _ks_require KSTATELESS "the built kstateless program"
    "$KSTATELESS" "$@"
}

# ks_kvno_at EPOCH PERIOD NOW: the current kvno of the key schedule,
# 1 + floor((NOW - EPOCH) / PERIOD), 1 before EPOCH.
ks_kvno_at() {
    local epoch=$1 period=$2 now=$3
    if [ "$now" -lt "$epoch" ]; then
        echo 1
    else
        echo $((1 + (now - epoch) / period))
    fi
}

# --- realms ----------------------------------------------------------------

# Print "key" of a "key = value" string, trimmed.
_ks_key_of() {
    local k=${1%%=*}
    k=${k#"${k%%[![:space:]]*}"}
    k=${k%"${k##*[![:space:]]}"}
    echo "$k"
}

# Print "value" of a "key = value" string, trimmed.
_ks_value_of() {
    local v=${1#*=}
    v=${v#"${v%%[![:space:]]*}"}
    v=${v%"${v##*[![:space:]]}"}
    echo "$v"
}

# realm_create DIR [options]: write DIR/krb5.conf and DIR/kdc.conf for a
# realm whose KDC will listen on 127.0.0.1:<free port> (UDP and TCP), and
# create its secret (stateless) or database (db2).  Options:
#   --backend stateless|db2   (default stateless)
#   --realm R                 (default EXAMPLE.TEST)
#   --secret FILE             copy FILE as the secret instead of running
#                             'kstateless init'
#   --no-secret               create neither secret nor state_dir
#   --dbmod 'key = value'     a relation of [dbmodules] <backend>; replaces
#                             the default of the same key, except 'service'
#                             which adds to the default host/*
#   --no-default-service      no default 'service = host/*'
#   --realmopt 'key = value'  a relation of [realms] R (replaces a default)
#   --enctypes 'E1 E2 ...'    supported_enctypes (default the four AES)
#   --libdefault 'key = value' a relation of krb5.conf [libdefaults]
realm_create() {
    local dir=${1:?realm_create: DIR missing}
    shift
    local backend=stateless realm=$KS_DEFAULT_REALM secret="" nosecret=""
    local enctypes=$KS_AES_ENCTYPES defservice=yes port kv k e
    local -a dbmods=() realmopts=() libdefaults=()
    while [ $# -gt 0 ]; do
        case $1 in
            --backend) backend=$2; shift 2 ;;
            --realm) realm=$2; shift 2 ;;
            --secret) secret=$2; shift 2 ;;
            --no-secret) nosecret=yes; shift ;;
            --dbmod) dbmods+=("$2"); shift 2 ;;
            --no-default-service) defservice=""; shift ;;
            --realmopt) realmopts+=("$2"); shift 2 ;;
            --enctypes) enctypes=$2; shift 2 ;;
            --libdefault) libdefaults+=("$2"); shift 2 ;;
            *) _ks_die "realm_create: unknown option '$1'" ;;
        esac
    done
    case $backend in
        stateless)
            _ks_require KS_MODULE_DIR "the directory holding the built stateless.so"
            [ -e "$KS_MODULE_DIR/stateless.so" ] ||
                _ks_die "no stateless.so in KS_MODULE_DIR=$KS_MODULE_DIR"
            if [ -z "$secret" ] && [ -z "$nosecret" ]; then
                _ks_require KSTATELESS "the built kstateless program"
            fi
            ;;
        db2) ;;
        *) _ks_die "realm_create: unknown backend '$backend'" ;;
    esac

    mkdir -p "$dir" || return 1
    dir=$(cd "$dir" && pwd)
    port=$(free_port) || return 1
    echo "$port" >"$dir/port"
    echo "$realm" >"$dir/realm"
    echo "$backend" >"$dir/backend"

    # Defaults, then overrides of the same key.
    local -A dbval=() realmval=()
    local -a dborder=() realmorder=() services=()
    if [ "$backend" = stateless ]; then
        dbval[db_library]=stateless
        dbval[secret_file]=$dir/stateless.secret
        dbval[state_dir]=$dir/state
        dborder=(db_library secret_file state_dir)
        [ -n "$defservice" ] && services+=("host/*")
    else
        dbval[db_library]=db2
        dbval[database_name]=$dir/principal
        dborder=(db_library database_name)
    fi
    for kv in "${dbmods[@]}"; do
        k=$(_ks_key_of "$kv")
        if [ "$k" = service ]; then
            services+=("$(_ks_value_of "$kv")")
            continue
        fi
        [ -n "${dbval[$k]+set}" ] || dborder+=("$k")
        dbval[$k]=$(_ks_value_of "$kv")
    done
    local supported=""
    for e in $enctypes; do
        case $e in
            *:*) supported="$supported${supported:+ }$e" ;;
            *) supported="$supported${supported:+ }$e:normal" ;;
        esac
    done
    realmval[database_module]=$backend
    realmval[kdc_listen]=127.0.0.1:$port
    realmval[kdc_tcp_listen]=127.0.0.1:$port
    realmval[supported_enctypes]=$supported
    realmval[acl_file]=$dir/kadm5.acl
    realmorder=(database_module kdc_listen kdc_tcp_listen supported_enctypes acl_file)
    if [ "$backend" = db2 ]; then
        realmval[key_stash_file]=$dir/stash
        realmorder+=(key_stash_file)
    fi
    for kv in "${realmopts[@]}"; do
        k=$(_ks_key_of "$kv")
        [ -n "${realmval[$k]+set}" ] || realmorder+=("$k")
        realmval[$k]=$(_ks_value_of "$kv")
    done

    {
        echo "[libdefaults]"
        echo "    default_realm = $realm"
        echo "    dns_lookup_kdc = false"
        echo "    dns_lookup_realm = false"
        echo "    dns_canonicalize_hostname = false"
        echo "    rdns = false"
        for kv in "${libdefaults[@]}"; do
            echo "    $kv"
        done
        echo
        echo "[realms]"
        echo "    $realm = {"
        echo "        kdc = 127.0.0.1:$port"
        echo "    }"
    } >"$dir/krb5.conf"
    {
        echo "[kdcdefaults]"
        echo "    kdc_listen = 127.0.0.1:$port"
        echo "    kdc_tcp_listen = 127.0.0.1:$port"
        echo
        echo "[realms]"
        echo "    $realm = {"
        for k in "${realmorder[@]}"; do
            echo "        $k = ${realmval[$k]}"
        done
        echo "    }"
        echo
        echo "[dbmodules]"
        echo "    db_module_dir = ${KS_MODULE_DIR:-/nonexistent}"
        echo "    $backend = {"
        for k in "${dborder[@]}"; do
            echo "        $k = ${dbval[$k]}"
        done
        for kv in "${services[@]}"; do
            echo "        service = $kv"
        done
        echo "    }"
        echo
        echo "[logging]"
        echo "    kdc = FILE:$dir/kdc.log"
        echo "    admin_server = FILE:$dir/kadmin.log"
        echo "    default = FILE:$dir/krb5.log"
    } >"$dir/kdc.conf"
    : >"$dir/kadm5.acl"

    if [ "$backend" = db2 ]; then
        local pw
        pw=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
        if ! (realm_env "$dir" &&
              ks_kdb5_util -r "$realm" create -s -P "$pw") \
                >"$dir/kdb5_util.out" 2>&1; then
            echo "realm_create: kdb5_util create failed:" >&2
            sed 's/^/    | /' "$dir/kdb5_util.out" >&2
            return 1
        fi
    elif [ -n "$secret" ]; then
        if [ ! -r "$secret" ]; then
            echo "realm_create: cannot read secret $secret" >&2
            return 1
        fi
        mkdir -p "${dbval[state_dir]}" && chmod 700 "${dbval[state_dir]}" &&
            install -m 600 "$secret" "${dbval[secret_file]}" || return 1
    elif [ -z "$nosecret" ]; then
        if ! (realm_env "$dir" && kstateless init) >"$dir/init.out" 2>&1; then
            echo "realm_create: kstateless init failed:" >&2
            sed 's/^/    | /' "$dir/init.out" >&2
            return 1
        fi
    fi
    return 0
}

# realm_env [-p] DIR: export KRB5_CONFIG and KRB5_KDC_PROFILE for DIR's
# realm (and a private replay cache directory); with -p also print them as
# shell assignments.  KRB5CCNAME is left to the caller.
realm_env() {
    local print=""
    if [ "${1:-}" = -p ]; then
        print=yes
        shift
    fi
    local dir=${1:?realm_env: DIR missing}
    [ -f "$dir/krb5.conf" ] || _ks_die "realm_env: no realm in $dir"
    export KRB5_CONFIG=$dir/krb5.conf
    export KRB5_KDC_PROFILE=$dir/kdc.conf
    export KRB5RCACHEDIR=$dir
    if [ -n "$print" ]; then
        printf 'export KRB5_CONFIG=%q KRB5_KDC_PROFILE=%q KRB5RCACHEDIR=%q\n' \
            "$KRB5_CONFIG" "$KRB5_KDC_PROFILE" "$KRB5RCACHEDIR"
    fi
}

# realm_enable_devreg DIR [STATE_DIR]: load the devreg preauth module
# ($KS_DEVREG_MODULE) in DIR's KDC and clients.  For a realm whose backend
# is not stateless, STATE_DIR (created, mode 0700) becomes the realm's
# devreg_state_dir (replay cache).  Stock programs that load the module
# (krb5kdc, kinit) must then run through ks_module_host in sanitizer
# builds.
realm_enable_devreg() {
    local dir=${1:?realm_enable_devreg: DIR missing} state=${2:-}
    [ -n "${KS_DEVREG_MODULE:-}" ] ||
        _ks_die "realm_enable_devreg: KS_DEVREG_MODULE is not set"
    cat >>"$dir/krb5.conf" <<EOC
[plugins]
    kdcpreauth = {
        module = devreg:$KS_DEVREG_MODULE
    }
    clpreauth = {
        module = devreg:$KS_DEVREG_MODULE
    }
EOC
    if [ -n "$state" ]; then
        mkdir -p "$state" && chmod 700 "$state"
        sed -i "s|^\( *\)kdc_listen = |\1devreg_state_dir = $state\n&|" \
            "$dir/kdc.conf"
    fi
}

# realm_enable_tempkey DIR: load the tempkey preauth module
# ($KS_TEMPKEY_MODULE) in DIR's KDC and clients (as realm_enable_devreg).
realm_enable_tempkey() {
    local dir=${1:?realm_enable_tempkey: DIR missing}
    [ -n "${KS_TEMPKEY_MODULE:-}" ] ||
        _ks_die "realm_enable_tempkey: KS_TEMPKEY_MODULE is not set"
    cat >>"$dir/krb5.conf" <<EOC
[plugins]
    kdcpreauth = {
        module = tempkey:$KS_TEMPKEY_MODULE
    }
    clpreauth = {
        module = tempkey:$KS_TEMPKEY_MODULE
    }
EOC
}

# realm_devices_db2 DIR STATE_DIR NAME...: a db2 realm in DIR (max_life
# 30d) with devreg loaded (state in STATE_DIR), the devreg service and
# password-registered devices device/NAME (requires_preauth, allow_svr
# for registration), exported with realm_env and its KDC started.
# Non-zero if the KDC did not start.
realm_devices_db2() {
    local dir=$1 state=$2 d
    shift 2
    realm_create "$dir" --backend db2 --realmopt 'max_life = 30d'
    realm_enable_devreg "$dir" "$state"
    realm_env "$dir"
    ks_kadmin_local -q "addprinc -randkey devreg/EXAMPLE.TEST" >/dev/null 2>&1
    for d in "$@"; do
        ks_kadmin_local -q "addprinc -pw Reg1stration +requires_preauth -allow_svr device/$d" \
            >/dev/null 2>&1
    done
    kdc_start "$dir"
}

# devreg_login NAME CCDIR: device/NAME of realm_devices_db2 gets its
# registration ticket (CCDIR/reg.NAME), loses its keys, and logs in with
# the ticket (CCDIR/tgt.NAME) — asserted with expect_ok.
devreg_login() {
    local d=$1 ccdir=$2
    echo Reg1stration | KRB5CCNAME=FILE:$ccdir/reg.$d ks_module_host \
        kinit -l 1d -S devreg/EXAMPLE.TEST device/$d >/dev/null 2>&1
    ks_kadmin_local -q "purgekeys -all device/$d" >/dev/null 2>&1
    expect_ok "device/$d logs in with its registration ticket" \
        ks_module_host kinit -X "devreg_ticket=FILE:$ccdir/reg.$d" \
        -c "FILE:$ccdir/tgt.$d" device/$d
}

# realm_run DIR CMD...: run CMD (a program or function) with DIR's
# environment, leaving the caller's unchanged.
realm_run() {
    local dir=${1:?realm_run: DIR missing}
    shift
    (realm_env "$dir" && "$@")
}

# --- KDC processes ---------------------------------------------------------

# Zero status if PID is a live (not zombie) process.
_ks_alive() {
    local s
    read -r s 2>/dev/null <"/proc/$1/stat" || return 1
    s=${s##*) }
    [ "${s%% *}" != Z ]
}

# ks_children PID: print the pids of PID's children.
ks_children() {
    local parent=$1 f s
    for f in /proc/[0-9]*/stat; do
        read -r s 2>/dev/null <"$f" || continue
        s=${s##*) }
        s=${s#* }
        if [ "${s%% *}" = "$parent" ]; then
            f=${f#/proc/}
            echo "${f%/stat}"
        fi
    done
}

# Launch krb5kdc for DIR in the background; sets _KS_KDC_PID.
_ks_kdc_launch() {
    local dir=$1 workers=${2:-}
    local -a args=(-n)
    [ -f "$dir/kdc.conf" ] || _ks_die "no realm in $dir"
    [ -n "$workers" ] && args+=(-w "$workers")
    _ks_host_env
    : >"$dir/kdc.stderr"
    env "${_KS_SAN_ENV[@]}" KRB5_CONFIG="$dir/krb5.conf" \
        KRB5_KDC_PROFILE="$dir/kdc.conf" KRB5RCACHEDIR="$dir" \
        "$KRB5KDC" "${args[@]}" </dev/null >"$dir/kdc.stdout" \
        2>"$dir/kdc.stderr" &
    _KS_KDC_PID=$!
}

# Wait for PID to exit (up to TIMEOUT_S); zero status if it did.
_ks_wait_exit() {
    local pid=$1 timeout=${2:-10} i n
    n=$((timeout * 20))
    for ((i = 0; i < n; i++)); do
        _ks_alive "$pid" || return 0
        sleep 0.05
    done
    return 1
}

# Report (fail) a sanitizer report in a KDC's stderr.
_ks_check_kdc_stderr() {
    local dir=$1
    if [ -f "$dir/kdc.stderr" ] && _ks_sanitizer_report <"$dir/kdc.stderr"; then
        fail "sanitizer report in krb5kdc of $dir"
        sed 's/^/    | /' "$dir/kdc.stderr" | head -60
        return 1
    fi
    return 0
}

# kdc_start DIR [WORKERS]: start krb5kdc -n [-w WORKERS] for DIR's realm
# and wait until it listens; on failure print its log and return 1.
kdc_start() {
    local dir=${1:?kdc_start: DIR missing} workers=${2:-} port pid rc
    local timeout=20
    dir=$(cd "$dir" && pwd)
    port=$(cat "$dir/port")
    [ "$KS_SANITIZE" = yes ] && timeout=60
    _ks_kdc_launch "$dir" "$workers"
    pid=$_KS_KDC_PID
    local i n=$((timeout * 20))
    for ((i = 0; i < n; i++)); do
        if ! _ks_alive "$pid"; then
            { wait "$pid"; } 2>/dev/null
            rc=$?
            echo "kdc_start: krb5kdc for $dir exited with status $rc" >&2
            _ks_dump_kdc "$dir" >&2
            _ks_check_kdc_stderr "$dir"
            return 1
        fi
        if _ks_port_ready "$port"; then
            echo "$pid" >"$dir/kdc.pid"
            _KS_KDC_DIRS+=("$dir")
            return 0
        fi
        sleep 0.05
    done
    echo "kdc_start: krb5kdc for $dir does not listen on $port after ${timeout}s" >&2
    _ks_dump_kdc "$dir" >&2
    kill -KILL "$pid" 2>/dev/null
    { wait "$pid"; } 2>/dev/null
    return 1
}

# Print a KDC's log and stderr.
_ks_dump_kdc() {
    local dir=$1 f
    for f in kdc.log kdc.stderr; do
        if [ -s "$dir/$f" ]; then
            echo "--- $dir/$f"
            tail -n 40 "$dir/$f"
        fi
    done
}

# Forget DIR as a running KDC.
_ks_forget_kdc() {
    local dir=$1 d
    local -a keep=()
    for d in "${_KS_KDC_DIRS[@]}"; do
        [ "$d" = "$dir" ] || keep+=("$d")
    done
    _KS_KDC_DIRS=("${keep[@]}")
    rm -f "$dir/kdc.pid"
}

# kdc_stop DIR: stop DIR's KDC with SIGTERM (SIGKILL after 10 s); with -w N
# the parent stops its workers.  Fails (and returns 1) if the KDC had
# crashed, left workers behind, or its stderr holds a sanitizer report.
kdc_stop() {
    local dir=${1:?kdc_stop: DIR missing} pid rc status=0 c
    local -a kids=()
    dir=$(cd "$dir" && pwd)
    [ -f "$dir/kdc.pid" ] || return 0
    pid=$(cat "$dir/kdc.pid")
    mapfile -t kids < <(ks_children "$pid")
    if _ks_alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null
        if ! _ks_wait_exit "$pid" 10; then
            echo "kdc_stop: krb5kdc $pid ignored SIGTERM; killing it" >&2
            kill -KILL "$pid" "${kids[@]}" 2>/dev/null
            _ks_wait_exit "$pid" 5
        fi
        { wait "$pid"; } 2>/dev/null
        rc=$?
    else
        { wait "$pid"; } 2>/dev/null
        rc=$?
        fail "krb5kdc of $dir had exited (status $rc) before kdc_stop"
        status=1
    fi
    if [ "$status" -eq 0 ] && [ "$rc" -ge 128 ] && [ "$rc" -ne 143 ] &&
           [ "$rc" -ne 137 ]; then
        fail "krb5kdc of $dir died of signal $((rc - 128))"
        status=1
    fi
    for c in "${kids[@]}"; do
        if ! _ks_wait_exit "$c" 5; then
            fail "krb5kdc worker $c of $dir survived its parent"
            kill -KILL "$c" 2>/dev/null
            status=1
        fi
    done
    _ks_forget_kdc "$dir"
    _ks_check_kdc_stderr "$dir" || status=1
    [ "$status" -eq 0 ] || _ks_dump_kdc "$dir"
    return "$status"
}

# kdc_kill9 DIR: kill DIR's KDC and its workers with SIGKILL.
kdc_kill9() {
    local dir=${1:?kdc_kill9: DIR missing} pid
    local -a kids=()
    dir=$(cd "$dir" && pwd)
    [ -f "$dir/kdc.pid" ] || return 0
    pid=$(cat "$dir/kdc.pid")
    mapfile -t kids < <(ks_children "$pid")
    # (bash reports "Killed" jobs on stderr when it reaps them.)
    {
        kill -KILL "$pid" "${kids[@]}"
        _ks_wait_exit "$pid" 5
        wait "$pid"
    } 2>/dev/null
    _ks_forget_kdc "$dir"
    _ks_check_kdc_stderr "$dir"
}

# kdc_start_expect_failure DIR REGEX [DESC]: krb5kdc must exit non-zero
# (without crashing) and its log or stderr must match REGEX.
kdc_start_expect_failure() {
    local dir=${1:?kdc_start_expect_failure: DIR missing} re=$2 pid rc port
    local desc=${3:-/$2/}
    dir=$(cd "$dir" && pwd)
    port=$(cat "$dir/port")
    : >"$dir/kdc.log"
    _ks_kdc_launch "$dir" ""
    pid=$_KS_KDC_PID
    local i n=400
    [ "$KS_SANITIZE" = yes ] && n=1200
    for ((i = 0; i < n; i++)); do
        _ks_alive "$pid" || break
        if _ks_port_ready "$port"; then
            i=$n
            break
        fi
        sleep 0.05
    done
    if [ "$i" -ge "$n" ]; then
        fail "krb5kdc for $dir started; it should refuse to start ($desc)"
        {
            kill -KILL "$pid"
            _ks_wait_exit "$pid" 5
            wait "$pid"
        } 2>/dev/null
        _ks_dump_kdc "$dir"
        return 1
    fi
    { wait "$pid"; } 2>/dev/null
    rc=$?
    if [ "$rc" -eq 0 ]; then
        fail "krb5kdc for $dir exited 0; it should refuse to start (/$re/)"
    elif [ "$rc" -ge 126 ]; then
        fail "krb5kdc for $dir crashed (status $rc) instead of refusing to start"
    elif ! _ks_check_kdc_stderr "$dir"; then
        :
    elif ! cat "$dir/kdc.log" "$dir/kdc.stderr" 2>/dev/null | grep -Eq -- "$re"; then
        fail "krb5kdc for $dir refused to start, but its log does not match /$re/"
    else
        pass "krb5kdc refuses to start: $desc"
        return 0
    fi
    _ks_dump_kdc "$dir"
    return 1
}

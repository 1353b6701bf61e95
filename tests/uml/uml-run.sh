#!/bin/bash
# uml-run.sh GUEST_SCRIPT OUTDIR
#
# Run GUEST_SCRIPT (a bash script) as root inside a User-Mode Linux guest:
# a real Linux 6.1 kernel with ESP, AH, veth and network namespaces, run as
# an ordinary process (Debian's user-mode-linux package).  The host kernel
# of the machines the suite runs on has XFRM netlink but no ESP, so this is
# where kernel IPsec is tested.
#
# How (the facts of /work/shared/uml/README.md):
#   - the guest's root file system is the host's / (hostfs), so binaries
#     from the build tree run unchanged inside it, and OUTDIR is shared;
#   - guest-private state goes on tmpfs: /run (ip netns), /dev/shm, and
#     GUEST_TMP=/run/uml-guest, the guest script's working directory;
#   - modules come from /usr/lib/uml/modules, loaded with `modprobe -d`,
#     and the kernel's module autoload is pointed at a wrapper, so crypto
#     templates (authenc, gcm, ...) load on demand;
#   - UML's own exit status is always 0: the guest script's status comes
#     back in OUTDIR/rc, its output in OUTDIR/guest.log;
#   - UML runs in its own process group, killed as a whole on timeout;
#   - the guest powers off with the reboot(2) system call.
#
# Environment:
#   UML_TIMEOUT   seconds before the guest is killed (default 120)
#   UML_MEM       guest memory (default 256M)
#   UML_PKGS      more Debian packages the guest script needs (installed
#                 with apt-get when missing, e.g. "tcpdump iputils-ping")
#   UML_MODULES   more kernel modules to load before the script runs
#   UML_PASS_ENV  names of host variables to set in the guest too
#
# Exit status: the guest script's (0 pass, 77 skip, other: fail); 77 when
# UML cannot run here (not root, packages cannot be installed, no UML
# kernel); 99 when the guest gave no result (crash, timeout); 2 on usage
# errors.  The guest log is printed either way.
set -u

usage() { echo "usage: $0 GUEST_SCRIPT OUTDIR" >&2; exit 2; }
skip() { echo "SKIP: $*"; exit 77; }
[ $# -eq 2 ] || usage
script=$1 out=$2
[ -f "$script" ] || { echo "$0: no guest script $script" >&2; exit 2; }
mkdir -p "$out" || exit 2
out=$(cd "$out" && pwd -P)
script=$(cd "$(dirname "$script")" && pwd -P)/$(basename "$script")
# The guest mounts over these; OUTDIR must be the host's, visible as is.
case "$out" in
    /run/*|/proc/*|/sys/*|/dev/*) echo "$0: OUTDIR $out is not shared with" \
        "the guest (use a directory outside /run, /proc, /sys, /dev)" >&2
        exit 2 ;;
esac
case "$out$script" in
    *[[:space:]]*) echo "$0: paths with white space are not supported" >&2
        exit 2 ;;
esac

t0=$(date +%s.%N)
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# ---- 1. packages ------------------------------------------------------------
[ "$(id -u)" = 0 ] || skip "UML kernel tests need root (the guest's root is the host's /)"
command -v dpkg-query >/dev/null || skip "not a Debian system (no dpkg-query)"
pkgs="user-mode-linux kmod iproute2 perl-base ${UML_PKGS:-}"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo ">> installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    aptopt="-o DPkg::Lock::Timeout=600 -q"
    # Try without updating first: the lists are often fresh enough.
    if ! apt-get $aptopt install -y --no-install-recommends $missing \
            >"$out/apt.log" 2>&1; then
        { apt-get $aptopt update &&
          apt-get $aptopt install -y --no-install-recommends $missing; } \
            >>"$out/apt.log" 2>&1 ||
            { tail -5 "$out/apt.log"; skip "cannot install:$missing (see $out/apt.log)"; }
    fi
fi
uml=$(command -v linux.uml || echo /usr/bin/linux.uml)
[ -x "$uml" ] || skip "no UML kernel ($uml)"
[ -d /usr/lib/uml/modules ] || skip "no UML modules in /usr/lib/uml/modules"
t_apt=$(elapsed "$t0")

# ---- 2. the guest's init -------------------------------------------------------
rm -f "$out/rc" "$out/guest.log" "$out/console.log"
{
    echo "# variables from the host (UML_PASS_ENV)"
    for v in ${UML_PASS_ENV:-}; do
        [ -n "${!v+x}" ] && declare -p "$v" | sed 's/^declare -[^ ]* /export /'
    done
} >"$out/guest-env.sh"
modules="xfrm_user af_key esp4 ah4 ipv6 esp6 veth cryptomgr authenc echainiv
seqiv cbc ctr gcm ghash_generic hmac sha1_generic sha256_generic
sha512_generic aes_generic ${UML_MODULES:-}"
cat >"$out/guest-init.sh" <<EOF
#!/bin/bash
# PID 1 in the UML guest (written by uml-run.sh).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export UMLOUT=$out GUEST_TMP=/run/uml-guest
poweroff_now() {
    sync
    perl -e 'syscall(169, 0xfee1dead, 672274793, 0x4321fedc, 0)'
    echo o >/proc/sysrq-trigger; sleep 5
}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm 2>/dev/null
mount -t devpts devpts /dev/pts 2>/dev/null
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /dev/shm 2>/dev/null
mkdir -p /run/uml/lib/modules "\$GUEST_TMP"
mount --bind /usr/lib/uml/modules /run/uml/lib/modules
printf '#!/bin/sh\nexec /usr/sbin/modprobe -d /run/uml "\$@"\n' >/run/uml/modprobe
chmod +x /run/uml/modprobe
echo /run/uml/modprobe >/proc/sys/kernel/modprobe
for m in $(echo $modules); do /run/uml/modprobe -q "\$m" 2>/dev/null; done
ip link set lo up
. $out/guest-env.sh
echo "guest: kernel \$(uname -r), up \$(cut -d' ' -f1 /proc/uptime)s before the script" >\$UMLOUT/guest.log
cd "\$GUEST_TMP"
bash $script >>\$UMLOUT/guest.log 2>&1 </dev/null
echo \$? >\$UMLOUT/rc.tmp && mv \$UMLOUT/rc.tmp \$UMLOUT/rc
echo "guest: up \$(cut -d' ' -f1 /proc/uptime)s at the end" >>\$UMLOUT/guest.log
poweroff_now
EOF
chmod +x "$out/guest-init.sh"

# ---- 3. boot ----------------------------------------------------------------
timeout=${UML_TIMEOUT:-120}
t1=$(date +%s.%N)
setsid "$uml" mem="${UML_MEM:-256M}" root=/dev/root rootfstype=hostfs \
    rootflags=/ rw init="$out/guest-init.sh" con=null con0=null,fd:1 \
    </dev/null >"$out/console.log" 2>&1 &
upid=$!
deadline=$(( $(date +%s) + timeout ))
timed_out=
while kill -0 "$upid" 2>/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo ">> UML timed out after ${timeout}s: killing process group $upid"
        kill -KILL -- -"$upid" 2>/dev/null
        timed_out=1
        break
    fi
    sleep 0.2
done
wait "$upid" 2>/dev/null
# UML's helper processes share the group; SIGKILLed ptraced children take
# a moment to go.
for _ in $(seq 50); do
    kill -0 -- -"$upid" 2>/dev/null || break
    kill -KILL -- -"$upid" 2>/dev/null
    sleep 0.2
done
t_uml=$(elapsed "$t1")

# ---- 4. result -----------------------------------------------------------------
echo "================ guest log ($out/guest.log)"
if [ -f "$out/guest.log" ]; then
    cat "$out/guest.log"
else
    echo "(no guest log) console tail:"
    tail -40 "$out/console.log"
fi
echo "================"
echo ">> timings: packages ${t_apt}s, UML boot+script+poweroff ${t_uml}s, total $(elapsed "$t0")s"
rc=$(cat "$out/rc" 2>/dev/null)
case "$rc" in
    [0-9]*) exit "$rc" ;;
esac
echo ">> the guest gave no result${timed_out:+ (timed out)}; console log: $out/console.log"
exit 99

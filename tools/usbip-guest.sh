#!/usr/bin/env bash
# The USB path for real: `readerkit usbip-serve` exports the readerkit-ccid USB
# class (usb-device on a virtual bus, the simulated card behind it) over USB/IP
# to a QEMU x86-64 guest running Debian bookworm, whose kernel (vhci-hcd, through
# Debian's `usbip attach`) sees a USB CCID reader, and whose pcscd with libccid
# (the USB driver, ifd-ccid.bundle) and pyscard run APDUs on the card.
#
# BY HAND ONLY, NOT IN CI: it needs KVM, debootstrap from Debian's mirror on the
# first run (a ~900 MB rootfs and a 2 GiB image) and minutes of time; CI runs the
# USB/IP server against a scripted client instead (cli/tests/usbip_serve.rs).
#
#   tools/usbip-guest.sh            build the guest once (cached), run the check
#   USBIP_GUEST_DIR=DIR ...         where the guest is cached (default
#                                   ${XDG_CACHE_HOME:-~/.cache}/readerkit-usbip-guest;
#                                   never inside the repository)
#   USBIP_SERVE_ARGS="--level extended --slow --work-ms 100" ...
#                                   options for usbip-serve (the card's behaviour
#                                   and the exchange level; at the extended level
#                                   the client also sends extended APDUs)
#   USBIP_SERVE_ARGS="--keys 1234E" ...
#                                   a PIN pad (bPINSupport 03) pressing the simulated
#                                   card's PIN: the client also reads the part 10
#                                   features, verifies the PIN through libccid's
#                                   FEATURE_VERIFY_PIN_DIRECT (right keys, a wrong
#                                   script: 63 C2, right again), changes it and back
#                                   through FEATURE_MODIFY_PIN_DIRECT (the later
#                                   keys go to usbip-serve's stdin when the client
#                                   asks) and the summary ends with ", PIN pad checked"
#   USBIP_GUEST_CHECK=edges ...     no pcscd: the guest's tools/usbip-guest/edges.py
#                                   drives the reader with pyusb through its kernel
#                                   (usbfs, vhci-hcd): SET_INTERFACE and bulk OUT's
#                                   CLEAR_FEATURE(ENDPOINT_HALT) inside a message,
#                                   bulk IN's inside an answer, SET_CONFIGURATION 1
#                                   again and a refused SET_CONFIGURATION 2, the class
#                                   ABORT (first, with malformed PC_to_RDR_Aborts, and
#                                   while the card works), bulk-IN reads that time out
#                                   (unlinked);
#                                   one `EDGE <name>: ok|FAILED ...` line each.
#                                   usbip-serve runs with --slow --work-ms 1500
#                                   --trace (its URBs in $USBIP_GUEST_DIR/server.log;
#                                   a `usbip-serve got:` line counts the requests
#                                   the kernel forwarded, and the run fails when
#                                   one of them never came) unless USBIP_SERVE_ARGS
#                                   is set (the cases need a --slow card working
#                                   over 300 ms)
#   USBIP_GUEST_ACCEL=kvm ...       QEMU's accelerator (default tcg: on the project's
#                                   machines /dev/kvm is there but the CPU has no
#                                   vmx flag, and under KVM the guest kernel is still
#                                   decompressing after 5 minutes (not hung: its
#                                   registers move); TCG boots it in about 25 s)
#
# Needs (Debian): debootstrap, qemu-system-x86, e2fsprogs, usbip. The guest is
# built again when its package list changes (kept in $USBIP_GUEST_DIR/packages).
# The last line is the summary:
#   usbip-guest: ok|FAILED: reader <seen|not seen>, <N> APDUs checked, <R> round trips/s[, card moves seen[, reconfigured][, PIN pad checked]]
# or, with USBIP_GUEST_CHECK=edges,
#   usbip-guest: ok: edges <N> of <N>   or   usbip-guest: FAILED: edges <F> of <N>: <names>
# and the whole guest console (with pcscd's debug log) is kept in
# $USBIP_GUEST_DIR/console.log.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${USBIP_GUEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/readerkit-usbip-guest}
case "$dir" in "$root"*) echo "usbip-guest: USBIP_GUEST_DIR must be outside the repository" >&2; exit 2 ;; esac
case "${USBIP_GUEST_CHECK:-}" in
"" | edges) ;;
*) echo "usbip-guest: USBIP_GUEST_CHECK is empty or edges, not $USBIP_GUEST_CHECK" >&2; exit 2 ;;
esac
mkdir -p "$dir"
image=$dir/rootfs.ext4
packages=linux-image-amd64,initramfs-tools,kmod,udev,iproute2,usbip,pcscd,libccid,pcsc-tools,python3-pyscard,python3-usb,procps
# The package list the cached guest was built with: another list builds it again.
stamp=$dir/packages
if [ "$(cat "$stamp" 2>/dev/null)" != "$packages" ]; then
    rm -f "$image" "$dir/debootstrap.done"
fi

if [ ! -f "$image" ]; then
    if [ ! -f "$dir/debootstrap.done" ]; then
        echo "usbip-guest: debootstrap bookworm into $dir/rootfs (once a package list)" >&2
        rm -rf "$dir/rootfs"
        debootstrap --variant=minbase --include="$packages" bookworm "$dir/rootfs" \
            http://deb.debian.org/debian >"$dir/debootstrap.log" 2>&1
        echo "$packages" >"$stamp"
        touch "$dir/debootstrap.done"
    fi
    # PID 1 of the guest: mount the basics, run the check from the second disk,
    # power off.
    cat >"$dir/rootfs/sbin/readerkit-init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /run /tmp /check
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -o ro /dev/vdb /check && sh /check/check.sh
echo o >/proc/sysrq-trigger
# PID 1 must not exit before the power-off takes effect.
sleep 60
INIT
    chmod +x "$dir/rootfs/sbin/readerkit-init"
    cp "$dir"/rootfs/boot/vmlinuz-* "$dir/vmlinuz"
    cp "$dir"/rootfs/boot/initrd.img-* "$dir/initrd.img"
    rm -f "$image.tmp"
    mke2fs -q -t ext4 -d "$dir/rootfs" "$image.tmp" 2G
    mv "$image.tmp" "$image"
fi

cargo build -q -p readerkit-cli --manifest-path "$root/Cargo.toml"
bin=$root/target/debug/readerkit
work=$(mktemp -d)
server=
qemu=
cleanup() {
    [ -n "$qemu" ] && kill "$qemu" 2>/dev/null || true
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The edges check needs a card that works long enough for a read to time out
# (and --trace for the server's log of the URBs the kernel sent).
if [ "${USBIP_GUEST_CHECK:-}" = edges ]; then
    serve_args=${USBIP_SERVE_ARGS-"--slow --work-ms 1500 --trace"}
else
    serve_args=${USBIP_SERVE_ARGS:-}
fi
# usbip-serve's stdin: the card moves and PIN pad keys the guest's client asks for.
mkfifo "$work/control"
exec 3<>"$work/control"
# shellcheck disable=SC2086 # the options are words on purpose
"$bin" usbip-serve --port 0 $serve_args <"$work/control" >"$work/port" 2>"$dir/server.log" &
server=$!
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(head -1 "$work/port")
[ -n "$port" ] || { echo "usbip-guest: FAILED: usbip-serve did not start" >&2; exit 1; }

mkdir "$work/check"
cp "$root/tools/usbip-guest/check.sh" "$root/tools/usbip-guest/client.py" \
    "$root/tools/usbip-guest/edges.py" "$root/tools/lib/unix-listening.awk" "$work/check/"
echo "$port" >"$work/check/port"
echo "$serve_args" >"$work/check/serve-args"
echo "${USBIP_GUEST_CHECK:-}" >"$work/check/mode"
mke2fs -q -t ext2 -d "$work/check" "$work/check.ext2" 8M

# Empty the console log before QEMU starts: its own redirection happens in the
# background job, maybe after the loop below first looks, which would then read
# the previous run's "CLIENT remove-now" and move the card before this run's
# client asks (a removal or the card lost at the start, 1 run in 3 back to back).
: >"$dir/console.log"
timeout 600 qemu-system-x86_64 -accel "${USBIP_GUEST_ACCEL:-tcg}" -m 1024 -smp 1 -nographic -no-reboot \
    -kernel "$dir/vmlinuz" -initrd "$dir/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 net.ifnames=0 init=/sbin/readerkit-init panic=1 quiet" \
    -drive "file=$image,format=raw,if=virtio,snapshot=on" \
    -drive "file=$work/check.ext2,format=raw,if=virtio,readonly=on" \
    -netdev user,id=net0 -device virtio-net-pci,netdev=net0 \
    </dev/null >"$dir/console.log" 2>&1 &
qemu=$!

# Pass the client's requests for card movements and keys on to usbip-serve.
removed=
inserted=
keys_sent=0
while kill -0 "$qemu" 2>/dev/null; do
    # Each `CLIENT keys KEYS` line once, in order, when the console has all of
    # it (its CR is there).
    asked=$(grep -a "^CLIENT keys .*"$'\r' "$dir/console.log" | tr -d '\r' || true)
    if [ -n "$asked" ]; then
        printf '%s\n' "$asked" | tail -n +$((keys_sent + 1)) |
            while read -r _ _ script; do echo "keys $script" >&3; done
        keys_sent=$(printf '%s\n' "$asked" | wc -l)
    fi
    if [ -z "$removed" ] && grep -q "^CLIENT remove-now" "$dir/console.log"; then
        echo remove >&3
        removed=1
    fi
    if [ -z "$inserted" ] && grep -q "^CLIENT insert-now" "$dir/console.log"; then
        echo insert >&3
        inserted=1
    fi
    sleep 0.5
done
wait "$qemu" || true

if [ "${USBIP_GUEST_CHECK:-}" = edges ]; then
    grep -E "^(GUEST|EDGE)" "$dir/console.log" | tr -d '\r' || true
    summary=$(sed -n 's/^EDGES \(.*\)/\1/p' "$dir/console.log" | tr -d '\r')
    summary=${summary:-FAILED not run}
    # With --trace, what reached usbip-serve: the kernel's requests as URBs.
    # Each case's request must have reached the device (a refused
    # SET_CONFIGURATION 2 would STALL as well if the kernel had kept it).
    if grep -q "^usbip: Submit" "$dir/server.log"; then
        urbs() { grep -c "$1" "$dir/server.log" || true; }
        set_interface=$(urbs 'setup: \[1, 11, ')
        clear_halt=$(urbs 'setup: \[2, 1, 0, 0, ')
        configuration_1=$(urbs 'setup: \[0, 9, 1, ')
        configuration_2=$(urbs 'setup: \[0, 9, 2, ')
        class_abort=$(urbs 'setup: \[33, 1, ')
        unlink=$(urbs '^usbip: Unlink {')
        echo "usbip-serve got: SET_INTERFACE $set_interface," \
            "CLEAR_FEATURE(ENDPOINT_HALT) $clear_halt," \
            "SET_CONFIGURATION 1 $configuration_1 (one at enumeration)," \
            "SET_CONFIGURATION 2 $configuration_2," \
            "class ABORT $class_abort, UNLINK $unlink"
        if [ "${summary%% *}" = ok ] && {
            [ "$set_interface" -eq 0 ] || [ "$clear_halt" -eq 0 ] || [ "$configuration_1" -lt 2 ] ||
                [ "$configuration_2" -eq 0 ] || [ "$class_abort" -eq 0 ] || [ "$unlink" -eq 0 ]
        }; then
            summary="FAILED the cases passed, but a request they send did not reach usbip-serve (counts above)"
        fi
    fi
    case "$summary" in
    "ok "*) echo "usbip-guest: ok: edges ${summary#ok }" ;;
    *)
        echo "usbip-guest: FAILED: edges ${summary#FAILED }"
        exit 1
        ;;
    esac
    exit 0
fi
grep -E "^(GUEST|READERS|ATR|APDUS|PINPAD|ROUNDTRIPS|MOVES|RECONFIGURE|CLIENT)" "$dir/console.log" || true
echo "libccid (pcscd -d) lines it did not like:"
grep "^PCSCD" "$dir/console.log" | grep -i -E "error|fail|not supported|warning|unknown" | head -20 || true
seen=$(grep -q "^READERS \['[^]]" "$dir/console.log" && echo seen || echo "not seen")
checked=$(sed -n 's/^CLIENT ok \([0-9]*\) APDUs.*/\1/p' "$dir/console.log")
rate=$(sed -n 's/^ROUNDTRIPS .*: \([0-9]*\)\/s.*/\1/p' "$dir/console.log")
if grep -q "^CLIENT ok" "$dir/console.log"; then
    pin_pad=$(grep -q "^CLIENT ok .*PIN pad checked" "$dir/console.log" && echo ", PIN pad checked" || true)
    reconfigured=$(grep -q "^CLIENT ok .*reconfigured" "$dir/console.log" && echo ", reconfigured" || true)
    echo "usbip-guest: ok: reader $seen, $checked APDUs checked, $rate round trips/s, card moves seen$reconfigured$pin_pad"
else
    echo "usbip-guest: FAILED: reader $seen, ${checked:-0} APDUs checked, ${rate:-0} round trips/s"
    exit 1
fi

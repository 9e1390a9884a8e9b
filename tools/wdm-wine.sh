#!/bin/bash
# Load the sample WDM driver (bindings-wdm/vreader) in Wine's NT kernel host and drive
# it from a Win32 client through DeviceIoControl (issue 15).
#
#   tools/wdm-wine.sh
#
# 1. installs what is missing (Debian: wine, wine64, gcc-mingw-w64-x86-64; rustup:
#    nightly rust-src for the kernel image);
# 2. builds target/wdm/readerkit-vreader.sys with bindings-wdm/build-sys.sh and the two
#    Win32 programs of bindings-wdm/wine/ with x86_64-w64-mingw32-gcc;
# 3. makes a fresh private WINEPREFIX (target/wdm-wine/prefix), wineboot -i, waits;
# 4. install.exe add: the .sys as a root-enumerated PnP device (SetupAPI + newdev);
# 5. client.exe run: one line per check (sleep and wake among them, through the
#    sample's power control IOCTL_VREADER_POWER: Wine sends no power IRPs);
#    hostile.exe SEED CALLS: an untrusted caller (a seeded storm of malformed requests,
#    cancels from several threads, tracking from two handles while the card moves,
#    lying TRANSMIT headers, the storm while the reader sleeps and wakes, a close in
#    flight);
#    WDM_STORM_SEED (default 27) and WDM_STORM_CALLS (default 3000) choose the storm;
#    client.exe remove: DIF_REMOVE with a tracking request pending and requests racing
#    it, then the device must be deleted (the driver's DbgPrint, seen via
#    WINEDEBUG=warn+debugstr) and its interface gone;
# 6. prints "wdm-wine: N passed, M failed" and exits non-zero on any failure. The
#    wineserver of the private prefix is always killed at the end.
#
# Headless: DISPLAY is emptied and mscoree/mshtml are disabled, so wineboot asks for
# no Mono/Gecko install. Nothing from Wine is kept in the repository.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/tools/lib/debs.sh"
work="$root/target/wdm-wine"
bin="$work/bin"
log="$work/wine.log"
t_start=$(date +%s)

ensure_debs wdm-wine "Wine and the mingw linker" wine wine64 gcc-mingw-w64-x86-64 || exit 1
if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
sysroot=$(rustc +nightly --print sysroot)
if [ ! -f "$sysroot/lib/rustlib/src/rust/library/Cargo.lock" ]; then
    rustup component add rust-src --toolchain nightly
fi

"$root/bindings-wdm/build-sys.sh" >/dev/null
mkdir -p "$bin"
cp "$root/target/wdm/readerkit-vreader.sys" "$root/target/wdm/readerkit-vreader.inf" "$bin/"
# Undefined behaviour in the test programs (a memcpy from NULL, even of 0 bytes; a
# signed overflow) traps, so the program ends without its summary and counts as failed.
cc=(x86_64-w64-mingw32-gcc -municode -O2 -Wall -Wextra -Werror
    -fsanitize=undefined -fsanitize-undefined-trap-on-error)
"${cc[@]}" -o "$bin/install.exe" "$root/bindings-wdm/wine/install.c" -lsetupapi -lnewdev
"${cc[@]}" -o "$bin/client.exe" "$root/bindings-wdm/wine/client.c" "$root/bindings-wdm/wine/io.c" -lsetupapi
"${cc[@]}" -o "$bin/hostile.exe" "$root/bindings-wdm/wine/hostile.c" "$root/bindings-wdm/wine/io.c" -lsetupapi
t_built=$(date +%s)

export WINEPREFIX="$work/prefix" WINEARCH=win64 DISPLAY= WAYLAND_DISPLAY=
export WINEDLLOVERRIDES="mscoree,mshtml=" WINEDEBUG="-all,err+all,warn+debugstr"
cleanup() {
    # Only the wineserver of our private prefix (and with it its processes).
    WINEPREFIX="$work/prefix" wineserver -k 2>/dev/null || true
}
trap cleanup EXIT
cleanup
rm -rf "$WINEPREFIX"
mkdir -p "$WINEPREFIX"
: >"$log"

# wineboot -i creates the prefix; wait until its server is gone. Then a persistent
# server stays up between the programs (winedevice keeps the driver loaded); its output
# and that of the services it starts (winedevice's DbgPrint) goes to the log.
timeout 300 wine wineboot -i </dev/null >>"$log" 2>&1
timeout 300 wineserver -w
wineserver -p 120 </dev/null >>"$log" 2>&1
t_booted=$(date +%s)

passed=0
failed=0
say() { # say ok|FAIL text
    echo "$1 $2"
    if [ "$1" = ok ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}
count_client() { # the client's "client: N passed, M failed" line
    local line
    # `|| true`: no summary is a failure to count, not the end of the script (set -e).
    line=$(grep -E '^client: [0-9]+ passed, [0-9]+ failed' "$1" | tail -1 || true)
    if [ -z "$line" ]; then
        say FAIL "client.exe $2 ended without its summary (crash or hang)"
        return
    fi
    passed=$((passed + $(echo "$line" | awk '{print $2}')))
    failed=$((failed + $(echo "$line" | awk '{print $4}')))
}

cd "$bin"
# services.exe (and with it winedevice) starts with the first program and inherits its
# stderr: everything goes to the log, opened for appending.
if timeout 120 wine install.exe add readerkit-vreader.inf </dev/null >>"$log" 2>&1; then
    say ok "install.exe add: root-enumerated device installed"
else
    say FAIL "install.exe add: $(grep '^install: ' "$log" | tail -1)"
fi
wait_for_log() { # wait_for_log TEXT: up to 5 s for the driver's DbgPrint line
    for _ in $(seq 1 50); do
        grep -qF "$1" "$log" && return 0
        sleep 0.1
    done
    return 1
}
if wait_for_log "readerkit-vreader: started"; then
    say ok "driver loaded in winedevice: DriverEntry, AddDevice, START_DEVICE"
else
    say FAIL "driver loaded in winedevice (no 'started' line in $log)"
fi

timeout 300 wine client.exe run </dev/null >"$work/client-run.out" 2>>"$log" || true
sed -e 's/\r$//' "$work/client-run.out" | grep -vE '^client: ' || true
count_client <(sed -e 's/\r$//' "$work/client-run.out") run

seed=${WDM_STORM_SEED:-27}
calls=${WDM_STORM_CALLS:-3000}
echo "wdm-wine: hostile.exe seed $seed, $calls calls (WDM_STORM_SEED / WDM_STORM_CALLS)"
timeout 300 wine hostile.exe "$seed" "$calls" </dev/null >"$work/hostile.out" 2>>"$log" || true
sed -e 's/\r$//' "$work/hostile.out" | grep -vE '^client: ' || true
count_client <(sed -e 's/\r$//' "$work/hostile.out") "hostile $seed"

timeout 120 wine client.exe remove </dev/null >"$work/client-remove.out" 2>>"$log" || true
sed -e 's/\r$//' "$work/client-remove.out" | grep -vE '^client: ' || true
count_client <(sed -e 's/\r$//' "$work/client-remove.out") remove
# The sample logs at trace level through DbgPrintEx (component IHVDRIVER = 0x4d):
# requests with their outcome, and the line's exchanges decoded.
for line in "4d:00000010: readerkit: -> PPS request FF 10 95 7A : PPS T=0, PPS1 95 (F=512, D=16)" \
    "4d:00000010: readerkit: -> T=0 header CLA 80 INS EE P1 00 P2 00 P3 03" \
    "4d:00000010: readerkit: <- T=0 procedure ACK EE (all data)" \
    "4d:00000010: readerkit: -> S(IFS request, 254)" \
    "4d:00000010: readerkit: -> I(N(S)=0, M=0) 9 bytes" \
    "4d:00000004: readerkit: POWER cold reset -> success, 20 bytes"; do
    if grep -qF "$line" "$log"; then
        say ok "DbgPrintEx trace: $line"
    else
        say FAIL "DbgPrintEx trace: no '$line' in $log"
    fi
done
if wait_for_log "readerkit: REMOVE_DEVICE: device deleted"; then
    say ok "REMOVE_DEVICE after SURPRISE_REMOVAL passed down, device detached and deleted"
else
    say FAIL "REMOVE_DEVICE: no 'device deleted' line from the driver in $log"
fi
if grep -qiE "err:seh|err:heap|err:ntoskrnl|Unhandled exception|page fault|KeBugCheck" "$log"; then
    say FAIL "no crash or bug check in winedevice: $(grep -iE 'err:seh|err:heap|err:ntoskrnl|Unhandled exception|page fault|KeBugCheck' "$log" | head -1)"
else
    say ok "no crash or bug check in winedevice"
fi

t_end=$(date +%s)
echo "wdm-wine: times: build $((t_built - t_start)) s, fresh prefix $((t_booted - t_built)) s, install + checks $((t_end - t_booted)) s, total $((t_end - t_start)) s (log: $log)"
echo "wdm-wine: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

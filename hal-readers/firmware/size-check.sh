#!/bin/sh
# Size and RAM budget of the example firmware (the device board: an STM32F401 USB
# CCID reader, thumbv7em-none-eabihf, opt-level "s" + LTO): core + engines + chip
# driver + CCID + USB (stm32f4xx-hal's OTG FS driver and usb-device)
#   flash (vector table, code, read-only data, .data image)  <= 48 KiB
#   static RAM (.data + .bss: the Device with the line reader, engines and chip
#   driver, the CCID class and its message buffers, the USB stack) + stack
#   <= 6 KiB
# The stack is measured, not estimated, where it can be: the QEMU flavour serving
# CCID (ccid-stack.sh: the same core, engines, chip driver and CCID code on
# mps2-an386 with the simulated card, driven through its pseudo-terminal with a
# T=0 and a T=1 session, a command answered CMD_SLOT_BUSY and an aborted one) paints its stack and reports the deepest use below the
# caller of CcidReader::handle. The device's frames above that call (reset,
# board::start, run, board::serve's loop, which runs the commands) are added
# from the device ELF's prologues (every push, vpush and stack adjustment in
# those functions, summed: an upper bound), and so is the deepest call path of
# the bus poll the card line's wait makes while a command runs (below). No
# interrupt is enabled on the device (USB is polled), so nothing else stacks on
# top.
# Needs the thumbv7em-none-eabihf target, qemu-system-arm, llvm-objdump and one of
# llvm-size (Debian: llvm), arm-none-eabi-size (binutils-arm-none-eabi) or
# rust-size.
set -eu
cd "$(dirname "$0")"
rustup target list --installed 2>/dev/null | grep -q thumbv7em-none-eabihf \
    || rustup target add thumbv7em-none-eabihf
cargo build --locked --release --target thumbv7em-none-eabihf
target_dir="${CARGO_TARGET_DIR:-target}"
elf="$target_dir/thumbv7em-none-eabihf/release/readerkit-hal-firmware"
for tool in llvm-size arm-none-eabi-size rust-size; do
    if command -v "$tool" >/dev/null 2>&1; then size_tool=$tool; break; fi
done
if [ -z "${size_tool:-}" ]; then
    echo "size-check: no size tool (llvm-size, arm-none-eabi-size, rust-size)" >&2
    exit 1
fi
# System V format: one "section size address" line per section.
section() { "$size_tool" -A "$elf" | awk -v s="$1" '$1 == s { n += $2 } END { print n + 0 }'; }
flash=$(( $(section .vector_table) + $(section .text) + $(section .rodata) + $(section .data) ))
ram=$(( $(section .data) + $(section .bss) ))
host=$(section .host)

measured=$(./ccid-stack.sh) || {
    printf '%s\n' "$measured"
    echo "size-check: the QEMU CCID session failed; no stack figures" >&2
    exit 1
}
ccid_stack=$(printf '%s\n' "$measured" | sed -n 's/^ccid stack: \([0-9]*\) B$/\1/p')
[ -n "$ccid_stack" ] || {
    printf '%s\n' "$measured"
    echo "size-check: no stack figure from the QEMU CCID session" >&2
    exit 1
}
above=$(llvm-objdump -d --no-show-raw-insn "$elf" | awk '
  /^[0-9a-f]+ </ { keep = ($2 == "<reset>:" || $2 ~ /firmware5board5start17|firmware3run17|firmware5board5serve17/); next }
  keep && /\t(push|push\.w|stmdb)\t/ { t += 4 * split($0, a, ",") }
  keep && /\tvpush\t/ { t += 8 * split($0, a, ",") }
  keep && /\tsub(\.w|w)?\tsp, (sp, )?#/ { v = $NF; sub(/#/, "", v); t += v }
  END { print t + 0 }')
[ "$above" -gt 0 ] || { echo "size-check: no frames found above CcidReader::handle in $elf" >&2; exit 1; }
# Below the deepest driver frame: while a command runs the card line's wait (the
# delay) polls the bus (board::poll_bus: usb-device and the CCID port) and the
# line's requests for more time send a time extension (board::more_time); on
# QEMU both are the serial reader's, already in the measured figure. The deepest
# call path from either, from the device ELF: static calls, plus UsbDevice's
# calls of the CCID port's UsbClass methods (through dyn), added as an upper
# bound.
below=$(llvm-objdump -d --no-show-raw-insn "$elf" | awk '
  function depth(f,   i, n, best, d, cs) {
    if (f in memo) return memo[f]
    if (f in onpath) return 0
    onpath[f] = 1
    best = 0
    n = split(calls[f], cs, " ")
    for (i = 1; i <= n; i++) { d = depth(cs[i]); if (d > best) best = d }
    delete onpath[f]
    memo[f] = frame[f] + best
    return memo[f]
  }
  /^[0-9a-f]+ </ {
    name = $2; gsub(/^<|>:$/, "", name)
    if (name ~ /^\$/) next
    cur = name; frame[cur] += 0
    if (cur ~ /CcidPort.*UsbClass/) cls = cls " " cur
    next
  }
  /\t(push|push\.w|stmdb)\t/ { frame[cur] += 4 * split($0, a, ",") }
  /\tvpush\t/ { frame[cur] += 8 * split($0, a, ",") }
  /\tsub(\.w|w)?\tsp, (sp, )?#/ { v = $NF; sub(/#/, "", v); frame[cur] += v }
  /\t(bl|b|b\.w|blx)\t(0x)?[0-9a-f]+ </ {
    match($0, /<[^>+]+/); t = substr($0, RSTART + 1, RLENGTH - 1)
    if (t != cur && t !~ /^\$/) calls[cur] = calls[cur] " " t
  }
  END {
    for (f in frame)
      if (f ~ /board8poll_bus17|UsbDevice\$LT\$B\$GT\$[0-9]+(control_in|control_out|get_descriptor)17/)
        calls[f] = calls[f] cls
    worst = 0
    for (f in frame)
      if (f ~ /board8poll_bus17|board9more_time17/) { d = depth(f); if (d > worst) worst = d }
    print worst
  }')
[ "$below" -gt 0 ] || { echo "size-check: no bus poll found below the card line's wait in $elf" >&2; exit 1; }
stack=$((ccid_stack + above + below))
total=$((ram + stack))
echo "firmware: flash $flash bytes (limit 49152), static RAM $ram bytes, stack $stack bytes (CCID command $ccid_stack B measured under QEMU + $above B of the device's frames above it + $below B of its bus poll below the card line's wait), static RAM + stack $total bytes (limit 6144) [$size_tool, QEMU]"
echo "firmware: not budgeted: host buffers $host bytes (.host)"
status=0
[ "$flash" -le 49152 ] || { echo "size-check: flash over 48 KiB" >&2; status=1; }
[ "$total" -le 6144 ] || { echo "size-check: static RAM + stack over 6 KiB" >&2; status=1; }
exit $status

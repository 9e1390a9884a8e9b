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
# T=0 and a T=1 session) paints its stack and reports the deepest use below the
# caller of CcidReader::handle. The device's frames above that call (reset,
# board::start, run, board::serve's loop, CcidClass::service) are added from the
# device ELF's prologues (every push, vpush and stack adjustment in those
# functions, summed: an upper bound). No interrupt is enabled on the device (USB
# is polled), so nothing else stacks on top.
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
  /^[0-9a-f]+ </ { keep = ($2 == "<reset>:" || $2 ~ /firmware5board5start17|firmware3run17|firmware5board5serve17|CcidClass.*7service17/); next }
  keep && /\t(push|push\.w|stmdb)\t/ { t += 4 * split($0, a, ",") }
  keep && /\tvpush\t/ { t += 8 * split($0, a, ",") }
  keep && /\tsub(\.w|w)?\tsp, (sp, )?#/ { v = $NF; sub(/#/, "", v); t += v }
  END { print t + 0 }')
[ "$above" -gt 0 ] || { echo "size-check: no frames found above CcidReader::handle in $elf" >&2; exit 1; }
stack=$((ccid_stack + above))
total=$((ram + stack))
echo "firmware: flash $flash bytes (limit 49152), static RAM $ram bytes, stack $stack bytes (CCID command $ccid_stack B measured under QEMU + $above B of the device's frames above it), static RAM + stack $total bytes (limit 6144) [$size_tool, QEMU]"
echo "firmware: not budgeted: host buffers $host bytes (.host)"
status=0
[ "$flash" -le 49152 ] || { echo "size-check: flash over 48 KiB" >&2; status=1; }
[ "$total" -le 6144 ] || { echo "size-check: static RAM + stack over 6 KiB" >&2; status=1; }
exit $status

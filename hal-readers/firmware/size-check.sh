#!/bin/sh
# Size and RAM budget of the example firmware (the device board, thumbv7em-none-eabihf,
# opt-level "s" + LTO):
#   flash (vector table, code, read-only data, .data image)  <= 32 KiB
#   driver stack (deepest request, below the caller of Device::control)  <= 1 KiB
#   static RAM (.data + .bss: the Device with the line reader, engines and chip
#   driver) + driver stack  <= 2 KiB
# The host's request and answer buffers (.host) are the application's and are
# reported apart. The stack is measured, not estimated: the same firmware runs on
# QEMU's mps2-an386 (run-qemu.sh, the simulated card behind the card line, the
# stack painted and its high-water mark read after each request).
# Needs the thumbv7em-none-eabihf target, qemu-system-arm, and one of llvm-size
# (Debian: llvm), arm-none-eabi-size (binutils-arm-none-eabi) or rust-size.
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

session=$(./run-qemu.sh) || {
    printf '%s\n' "$session"
    echo "size-check: the QEMU run failed; no stack figures" >&2
    exit 1
}
stack=$(printf '%s\n' "$session" | sed -n 's/^stack high water: driver \([0-9]*\) B.*/\1/p')
process=$(printf '%s\n' "$session" | sed -n 's/.*process stack \([0-9]*\) B.*/\1/p')
[ -n "$stack" ] && [ -n "$process" ] || {
    printf '%s\n' "$session"
    echo "size-check: no stack figures in the QEMU session" >&2
    exit 1
}
total=$((ram + stack))
echo "firmware: flash $flash bytes (limit 32768), static RAM $ram bytes (limit 2048), driver stack $stack bytes (limit 1024), static RAM + driver stack $total bytes (limit 2048) [$size_tool, QEMU]"
echo "firmware: not budgeted: host buffers $host bytes (.host), whole process stack $process bytes (start-up, session and driver, under QEMU)"
status=0
[ "$flash" -le 32768 ] || { echo "size-check: flash over 32 KiB" >&2; status=1; }
[ "$ram" -le 2048 ] || { echo "size-check: static RAM over 2 KiB" >&2; status=1; }
[ "$stack" -le 1024 ] || { echo "size-check: driver stack over 1 KiB" >&2; status=1; }
[ "$total" -le 2048 ] || { echo "size-check: static RAM + driver stack over 2 KiB" >&2; status=1; }
exit $status

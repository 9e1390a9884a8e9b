#!/bin/sh
# Build the example firmware for thumbv7em-none-eabihf at opt-level "s" and check
# its size: flash (text + data) under 32 KiB, static RAM (data + bss) under 2 KiB.
# Needs the thumbv7em-none-eabihf target and one of llvm-size (Debian: llvm),
# arm-none-eabi-size (binutils-arm-none-eabi) or rust-size (cargo-binutils).
set -eu
cd "$(dirname "$0")"
rustup target list --installed 2>/dev/null | grep -q thumbv7em-none-eabihf \
    || rustup target add thumbv7em-none-eabihf
cargo build --release --target thumbv7em-none-eabihf
target_dir="${CARGO_TARGET_DIR:-target}"
elf="$target_dir/thumbv7em-none-eabihf/release/readerkit-hal-firmware"
for tool in llvm-size arm-none-eabi-size rust-size; do
    if command -v "$tool" >/dev/null 2>&1; then size_tool=$tool; break; fi
done
if [ -z "${size_tool:-}" ]; then
    echo "size-check: no size tool (llvm-size, arm-none-eabi-size, rust-size)" >&2
    exit 1
fi
# Berkeley format: text data bss dec hex filename
set -- $("$size_tool" "$elf" | tail -n 1)
text=$1 data=$2 bss=$3
flash=$((text + data))
ram=$((data + bss))
echo "firmware: flash $flash bytes (limit 32768), static RAM $ram bytes (limit 2048) [$size_tool]"
[ "$flash" -le 32768 ] || { echo "size-check: flash over 32 KiB" >&2; exit 1; }
[ "$ram" -le 2048 ] || { echo "size-check: static RAM over 2 KiB" >&2; exit 1; }

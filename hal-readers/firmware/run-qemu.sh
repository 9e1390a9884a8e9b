#!/bin/sh
# Build the QEMU flavour of the example firmware (feature "qemu", board/mps2.rs)
# and run it on qemu-system-arm's mps2-an386 (Cortex-M4) with the simulated card:
# prints the session (stack marks per request) and exits with the firmware's
# verdict (semihosting exit status; 124 if it hangs past QEMU_TIMEOUT seconds).
#   run-qemu.sh [TRACE_FILE]   also write an instruction trace (one line per
#                              instruction executed: -singlestep -d exec,nochain)
# Prints the ELF's path first ("elf: PATH"). Installs qemu-system-arm when missing
# and run as root.
set -eu
cd "$(dirname "$0")"
rustup target list --installed 2>/dev/null | grep -q thumbv7em-none-eabihf \
    || rustup target add thumbv7em-none-eabihf
if ! command -v qemu-system-arm >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "run-qemu: installing qemu-system-arm" >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-system-arm >&2
    else
        echo "run-qemu: qemu-system-arm missing (Debian: qemu-system-arm)" >&2
        exit 1
    fi
fi
cargo build --locked --quiet --release --features qemu --target thumbv7em-none-eabihf
target_dir="${CARGO_TARGET_DIR:-target}"
elf="$target_dir/thumbv7em-none-eabihf/release/readerkit-hal-firmware"
echo "elf: $elf"
set -- -M mps2-an386 -display none -monitor none -serial stdio \
    -semihosting-config enable=on,target=native -kernel "$elf" ${1:+-singlestep -d exec,nochain -D "$1"}
exec timeout "${QEMU_TIMEOUT:-60}" qemu-system-arm "$@"

#!/bin/sh
# The C binding's unit tests under Miri (Stacked Borrows): every rk_* entry point
# through its extern "C" signature, the overlap / alias / re-entry tests included.
# Needs the nightly toolchain with the miri component:
#   rustup component add miri --toolchain nightly
# About 1.5 min on 2 cores the first time (Miri's sysroot), seconds afterwards.
set -eu
cd "$(dirname "$0")/.."
if ! cargo +nightly miri --version >/dev/null 2>&1; then
    echo "miri-c.sh: Miri is missing: rustup component add miri --toolchain nightly" >&2
    exit 1
fi
cargo +nightly miri setup
cargo +nightly miri test -p readerkit-c --lib

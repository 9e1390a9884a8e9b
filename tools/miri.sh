#!/bin/sh
# The bindings' C entry points under Miri (Stacked Borrows), called through their
# extern "C" signatures as a C caller would:
# - readerkit-c: its unit tests, every rk_* entry point, the overlap / alias /
#   re-entry tests included;
# - readerkit-pcsclite: the IFDH functions as pcscd calls them, with NULL
#   pointers, short buffers and unknown Luns and tags, and the polling pair pcscd
#   gets as function addresses, and a Lun closed under calls on other threads
#   then opened again (tests/ffi.rs; its vpcd test is left out: Miri has no
#   sockets).
# Needs the nightly toolchain with the miri component:
#   rustup component add miri --toolchain nightly
# About 2.5 min on 2 cores the first time (Miri's sysroot), seconds afterwards.
set -eu
cd "$(dirname "$0")/.."
if ! cargo +nightly miri --version >/dev/null 2>&1; then
    echo "miri.sh: Miri is missing: rustup component add miri --toolchain nightly" >&2
    exit 1
fi
cargo +nightly miri setup
cargo +nightly miri test -p readerkit-c --lib
# pcscd copies a polling function's address out of the capability's bytes; the
# test does the same with an integer-to-pointer cast, which is what it means.
# The tests are chosen by name, and a name that matches nothing runs nothing:
# the run must report exactly these five passed (a renamed test fails it).
log=$(mktemp)
trap 'rm -f "$log"' EXIT
MIRIFLAGS="${MIRIFLAGS:-} -Zmiri-permissive-provenance" \
    cargo +nightly miri test -p readerkit-pcsclite --test ffi -- \
    bad_input_gets_ifd_codes_never_a_crash \
    polling_waits_for_the_timeout_or_the_stop_function \
    a_card_swapped_between_two_looks_is_reported_absent_once \
    a_power_down_answers_alike_with_or_without_a_length \
    closing_a_lun_under_running_calls_then_reopening_it --exact 2>&1 | tee "$log"
if ! grep -q "^test result: ok. 5 passed; 0 failed" "$log"; then
    echo "miri.sh: the pcsc-lite binding's five tests did not all run and pass under Miri" >&2
    exit 1
fi

#!/usr/bin/env bash
# The tests of the no_std crates (core, card-sim, hal-readers), and those of the
# CCID and pcsc-lite bindings that need no host program, on a 32-bit target
# (armv7-unknown-linux-gnueabihf) and on a big-endian one (s390x-unknown-linux-gnu),
# run under qemu-user. Every byte-order decision must be explicit: a stray
# from_ne_bytes fails here on s390x, a usize = u64 assumption on armv7.
#
# Of the bindings: readerkit-ccid's unit tests (descriptor, message headers,
# dwMaxIFSD and the other little-endian fields) and its integration tests that
# drive CcidReader and the USB class in the test process (commands, more_time,
# secure, usb); readerkit-pcsclite's unit tests and ffi (the exported IFDH
# functions called as pcscd would: SCARD_ATTR_MAXINPUT and the DWORD attributes
# in this host's byte order, which only a big-endian host tells apart from
# little-endian). Their other tests need the host's pcscd, libccid, vicc or a
# pseudo-terminal. Both crates have the `pcsc` crate as a dev-dependency (for
# those pcscd tests), and pcsc-sys asks for the target's libpcsclite, which has
# no cross package here: an empty linker script stands in for it. The tests run
# here never call PC/SC (the linker's --as-needed drops the library); one that
# did would fail to link (undefined SCard* symbols), never pass without it.
#
#   ./tools/cross-test.sh              both targets
#   ./tools/cross-test.sh s390x        one of them (armv7 | s390x)
#
# Linker and runner come from the environment set below (Debian's cross gcc and
# qemu-user), not from a committed .cargo/config, so nobody else's build changes.
# Both targets share one target dir (target/cross: host build scripts and proc
# macros are built once), and only the library and integration-test binaries are
# built (no examples, benchmarks or doc tests).
# Needs: gcc-arm-linux-gnueabihf, gcc-s390x-linux-gnu, libc6-dev-armhf-cross,
# libc6-dev-s390x-cross, qemu-user; installed here when missing and run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/lib/debs.sh

declare -A gcc_of=([armv7]=arm-linux-gnueabihf [s390x]=s390x-linux-gnu)
declare -A triple_of=([armv7]=armv7-unknown-linux-gnueabihf [s390x]=s390x-unknown-linux-gnu)
declare -A qemu_of=([armv7]=qemu-arm [s390x]=qemu-s390x)
declare -A libc_of=([armv7]=libc6-dev-armhf-cross [s390x]=libc6-dev-s390x-cross)

arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(armv7 s390x)

pkgs=(qemu-user)
for arch in "${arches[@]}"; do
  [ -n "${triple_of[$arch]:-}" ] || { echo "cross-test: unknown target '$arch' (armv7 | s390x)" >&2; exit 2; }
  pkgs+=("gcc-${gcc_of[$arch]}" "${libc_of[$arch]}")
done
ensure_debs cross-test "cross linkers and qemu-user" "${pkgs[@]}" || exit 1

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}/cross"
# pcsc-sys's -lpcsclite, for the cross targets (see above).
no_pcsclite="$CARGO_TARGET_DIR/no-pcsclite"
mkdir -p "$no_pcsclite"
printf '/* no libpcsclite for the cross targets: a test calling PC/SC fails to link */\n' \
  >"$no_pcsclite/libpcsclite.so"
export PCSC_LIB_DIR="$no_pcsclite"

# suite TRIPLE WHAT CARGO-TEST-ARGS...: run one `cargo test` under qemu-user,
# adding its counts to $passed and $failed; exits on a failure.
suite() {
  local triple=$1 what=$2
  shift 2
  printf '\n=== tests of %s on %s (qemu-user)\n' "$what" "$triple"
  local log status began=$SECONDS
  log=$(mktemp)
  set +e
  cargo test --target "$triple" "$@" 2>&1 | tee "$log" \
    | grep -E '^(test result|error|failures:|---- )|FAILED|panicked'
  status=${PIPESTATUS[0]}
  set -e
  passed=$((passed + $(awk '/^test result:/ { n += $4 } END { print n + 0 }' "$log")))
  failed=$((failed + $(awk '/^test result:/ { n += $6 } END { print n + 0 }' "$log")))
  rm -f "$log"
  echo "($what: $((SECONDS - began)) s, build included)"
  if [ "$status" != 0 ]; then
    echo "$triple: $passed passed, $failed failed"
    echo "cross-test: tests of $what failed on $triple" >&2
    exit "$status"
  fi
}

for arch in "${arches[@]}"; do
  triple=${triple_of[$arch]}
  if ! rustup target list --installed | grep -qx "$triple"; then
    rustup target add "$triple"
  fi
  env_name=$(echo "$triple" | tr 'a-z-' 'A-Z_')
  sysroot="/usr/${gcc_of[$arch]}"
  export "CARGO_TARGET_${env_name}_LINKER=${gcc_of[$arch]}-gcc"
  export "CARGO_TARGET_${env_name}_RUNNER=${qemu_of[$arch]} -L $sysroot"
  start=$SECONDS
  passed=0
  failed=0
  # The no_std crates on their own (the bindings' features, std and log among
  # them, would otherwise be unified into the core they test).
  suite "$triple" "core, card-sim, hal-readers" \
    -p readerkit -p readerkit-card-sim -p readerkit-hal --lib --tests
  suite "$triple" "bindings-ccid, bindings-pcsclite (no host programs)" \
    -p readerkit-ccid -p readerkit-pcsclite --lib \
    --test commands --test more_time --test secure --test usb --test ffi
  echo "$triple: $passed passed, $failed failed ($((SECONDS - start)) s)"
done

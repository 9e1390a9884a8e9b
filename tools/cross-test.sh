#!/usr/bin/env bash
# The tests of the no_std crates (core, card-sim, hal-readers) on a 32-bit target
# (armv7-unknown-linux-gnueabihf) and on a big-endian one (s390x-unknown-linux-gnu),
# run under qemu-user. Every byte-order decision must be explicit: a stray
# from_ne_bytes fails here on s390x, a usize = u64 assumption on armv7.
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
for arch in "${arches[@]}"; do
  triple=${triple_of[$arch]}
  if ! rustup target list --installed | grep -qx "$triple"; then
    rustup target add "$triple"
  fi
  env_name=$(echo "$triple" | tr 'a-z-' 'A-Z_')
  sysroot="/usr/${gcc_of[$arch]}"
  export "CARGO_TARGET_${env_name}_LINKER=${gcc_of[$arch]}-gcc"
  export "CARGO_TARGET_${env_name}_RUNNER=${qemu_of[$arch]} -L $sysroot"
  printf '\n=== tests of core, card-sim, hal-readers on %s (qemu-user)\n' "$triple"
  start=$SECONDS
  log=$(mktemp)
  set +e
  cargo test --target "$triple" -p readerkit -p readerkit-card-sim -p readerkit-hal \
    --lib --tests 2>&1 | tee "$log" | grep -E '^(test result|error|failures:|---- )|FAILED|panicked'
  status=${PIPESTATUS[0]}
  set -e
  passed=$(awk '/^test result:/ { n += $4 } END { print n + 0 }' "$log")
  failed=$(awk '/^test result:/ { n += $6 } END { print n + 0 }' "$log")
  rm -f "$log"
  echo "$triple: $passed passed, $failed failed ($((SECONDS - start)) s)"
  [ "$status" = 0 ] || { echo "cross-test: tests failed on $triple" >&2; exit "$status"; }
done

#!/usr/bin/env bash
# The main job: a smart-card session through the whole readerkit stack on the
# simulated card.
#
# 1. In process: `readerkit demo` (core request entry point -> line reader with the
#    PPS/T=0/T=1 engines -> simulated card), printing every request and every byte
#    on the card's I/O line.
# 2. Through the real PC/SC daemon: pcscd loads libifd_readerkit.so on `sim:t1` and a
#    PC/SC client (the `pcsc` crate) runs a short session, printing each APDU and its
#    answer. This needs root and Debian's pcscd: installed here if missing (as root
#    with apt); otherwise this part is skipped with a note and only part 1 runs.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "=== 1. the stack in process: readerkit demo"
cargo run -q --release -p readerkit-cli -- demo

echo
echo "=== 2. the stack under the real pcscd: libifd_readerkit.so on sim:t1"
missing=()
command -v pcscd >/dev/null || missing+=(pcscd)
command -v systemd-socket-activate >/dev/null || missing+=(systemd)
dpkg -s libpcsclite-dev >/dev/null 2>&1 || missing+=(libpcsclite-dev)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing ${missing[*]} (pcscd, socket activation, the PC/SC client library)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
if [ "$(id -u)" != 0 ] || ! command -v pcscd >/dev/null || ! command -v systemd-socket-activate >/dev/null ||
  ! dpkg -s libpcsclite-dev >/dev/null 2>&1; then
  echo "pcscd part skipped: it needs root and Debian's pcscd (part 1 above ran the same stack in process)"
  exit 0
fi
cargo build -q --release -p readerkit-pcsclite
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
cargo run -q --release -p readerkit-pcsclite --example demo -- "$target_dir/release/libifd_readerkit.so"

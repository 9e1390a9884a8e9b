#!/usr/bin/env bash
# The main job: a smart-card session through the whole readerkit stack on the
# simulated card.
#
# 1. In process: `readerkit demo` (core request entry point -> line reader with the
#    PPS/T=0/T=1 engines -> simulated card), printing every request and every byte
#    on the card's I/O line.
# 2. Through the real PC/SC daemon: pcscd loads libifd_readerkit.so on `sim:t1` and a
#    PC/SC client (the `pcsc` crate) runs a short session, printing each APDU and its
#    answer. This needs root (pcscd writes /run/pcscd) and Debian's pcscd; without
#    root this part is skipped with a note and only part 1 runs.
#
# On a bare Debian machine with rustup it installs (as root, with apt) exactly what
# it uses and is missing, saying so on one line: a C linker for cargo, and for part 2
# pcscd, systemd-socket-activate (package systemd), libpcsclite and pkg-config (the
# `pcsc` crate links libpcsclite found by pkg-config). Nothing from Python.
# tools/demo-check.sh runs this and checks its output.
set -euo pipefail
cd "$(dirname "$0")/.."

is_root() { [ "$(id -u)" = 0 ]; }

# Install Debian packages quietly: one line saying what and why; apt's output is
# shown only when it fails.
install_packages() {
  local why=$1
  shift
  echo "demo: installing ${*} with apt (${why})"
  local log
  log=$(mktemp)
  if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"; } >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "demo: apt-get install $* failed" >&2
    exit 1
  fi
  rm -f "$log"
}

can_install() { is_root && command -v apt-get >/dev/null; }

# What each part uses, as "check|package": the check is a command on PATH, a file,
# or "-" for the package itself being installed.
build_needs=("cc|gcc" "-|libc6-dev")
pcscd_needs=(
  "/usr/sbin/pcscd|pcscd"
  "/usr/bin/systemd-socket-activate|systemd"
  "-|libpcsclite-dev"
  "pkg-config|pkg-config"
)
missing_of() {
  local item check pkg
  for item in "$@"; do
    check=${item%%|*}
    pkg=${item#*|}
    case $check in
      -) command -v dpkg-query >/dev/null || continue # not Debian: the user's to provide
         dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || echo "$pkg" ;;
      /*) [ -e "$check" ] || echo "$pkg" ;;
      *) command -v "$check" >/dev/null || echo "$pkg" ;;
    esac
  done
}

mapfile -t missing < <(missing_of "${build_needs[@]}")
why=()
[ ${#missing[@]} -eq 0 ] || why+=("the C linker cargo uses")
run_pcscd=yes
is_root || run_pcscd=no
if [ $run_pcscd = yes ]; then
  n=${#missing[@]}
  mapfile -t -O "$n" missing < <(missing_of "${pcscd_needs[@]}")
  [ ${#missing[@]} -eq "$n" ] || why+=("pcscd, its socket activation, the PC/SC client library and pkg-config to find it")
fi
if [ ${#missing[@]} -gt 0 ]; then
  if can_install; then
    install_packages "$(IFS=';'; echo "${why[*]}" | sed 's/;/; /g')" "${missing[@]}"
  else
    echo "demo: missing Debian packages ${missing[*]}: install them (as root: apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

echo "=== 1. the stack in process: readerkit demo"
cargo run -q --release -p readerkit-cli -- demo

echo
echo "=== 2. the stack under the real pcscd: libifd_readerkit.so on sim:t1"
if [ $run_pcscd = no ]; then
  echo "pcscd part skipped: pcscd needs root (part 1 above ran the same stack in process)"
  exit 0
fi
# The example finds libifd_readerkit.so in the same target directory as itself.
cargo build -q --release -p readerkit-pcsclite --lib
cargo run -q --release -p readerkit-pcsclite --example demo

#!/usr/bin/env bash
# The example firmware on an emulated Cortex-M4: Debian's qemu-system-arm, machine
# mps2-an386, the QEMU board of hal-readers/firmware (same code as the device
# firmware; the simulated card stands behind a simulated TDA8035 on the card line).
#
# Prints the session (each request, its answer checked, its stack marks), the
# instructions each request executed, split into the firmware's (Device,
# LineReader, the engines, the chip driver) and the simulated hardware's, and as
# its last line
#   firmware: <N> requests ok, flash <B> B, static RAM <B> B, stack high water <B> B
#   (scripted session); device (USB CCID reader) stack <B> B
# where flash, static RAM and the device's stack are the device firmware's (the
# STM32F401 USB CCID reader; hal-readers/firmware/size-check.sh, which also
# enforces the budgets and measures the CCID stack under QEMU) and the stack high
# water is the driver's depth below Device::control measured here. Exits with the firmware's
# verdict (QEMU's semihosting exit status), or 124 past the time limit.
#
# Instruction counts: QEMU runs one instruction per translation block
# (-singlestep) and logs every block it executes (-d exec,nochain), so each log
# line is one instruction executed. Debian's QEMU 7.2 ships no TCG plugins
# (libinsn.so), hence the log; it streams through a FIFO into awk, never to disk.
# Exception entry and return are not instructions and are not counted.
#
#   qemu-firmware.sh ccid
# instead serves the firmware's CCID reader (feature `ccid`: readerkit-ccid with
# the GemPC Twin serial framing on UART0) on a pseudo-terminal of this machine,
# until killed: the terminal's path is printed alone on the first line, for
# pcscd's `DEVICENAME <path>:GemPCTwin` with Debian's libccidtwin.so. The console
# (UART1) follows on stdout (stack high-water marks as they grow); lines on stdin
# move the card: `remove`, `insert`; `slow N` makes the T=0 card send N NULL
# bytes (requests for more time) before every answer, about 0.2 s of work each,
# and work about 0.2 s before its ATR; `wtx N` makes the card send an S(WTX
# request) with multiplier N before every T=1 answer.
set -euo pipefail
cd "$(dirname "$0")/.."

. tools/lib/debs.sh
# On stderr: in `ccid` mode stdout's first line is the terminal's path alone.
ensure_debs qemu-firmware "QEMU's Cortex-M4, llvm-nm and llvm-objdump" qemu-system-arm llvm >&2 || exit 1
for tool in qemu-system-arm llvm-nm llvm-objdump; do
  command -v "$tool" >/dev/null || {
    echo "qemu-firmware: $tool missing (Debian: qemu-system-arm, llvm)" >&2
    exit 1
  }
done

if [ "${1:-}" = ccid ]; then
  command -v qemu-system-arm >/dev/null || {
    echo "qemu-firmware: qemu-system-arm missing (Debian: qemu-system-arm)" >&2
    exit 1
  }
  rustup target list --installed 2>/dev/null | grep -q thumbv7em-none-eabihf \
    || rustup target add thumbv7em-none-eabihf >&2
  fw=hal-readers/firmware
  (cd "$fw" && cargo build --locked --quiet --release --features qemu,ccid --target thumbv7em-none-eabihf)
  case "${CARGO_TARGET_DIR:-target}" in
    /*) elf="$CARGO_TARGET_DIR" ;;
    *) elf="$fw/${CARGO_TARGET_DIR:-target}" ;;
  esac
  elf="$elf/thumbv7em-none-eabihf/release/readerkit-hal-firmware"
  # QEMU says "char device redirected to /dev/pts/N (label serial0)" on stdout
  # before the console (line-buffered by stdbuf: stdout is a pipe here): that
  # line becomes the path alone. exec: killing this
  # script's process kills QEMU.
  exec stdbuf -oL qemu-system-arm -M mps2-an386 -display none -monitor none \
    -serial pty -serial stdio -semihosting-config enable=on,target=native \
    -kernel "$elf" > >(sed -u -E 's/^char device redirected to ([^ ]+) \(label serial0\)$/\1/')
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkfifo "$work/trace"

fw=hal-readers/firmware
# Build first (so that the FIFO reader starts only when QEMU will open it).
(cd "$fw" && cargo build --locked --quiet --release --features qemu --target thumbv7em-none-eabihf)
elf="$fw/${CARGO_TARGET_DIR:-target}/thumbv7em-none-eabihf/release/readerkit-hal-firmware"
[ -f "$elf" ] || elf="${CARGO_TARGET_DIR:-$fw/target}/thumbv7em-none-eabihf/release/readerkit-hal-firmware"

addr() {
  local v
  v=$(llvm-nm "$elf" | awk -v s="$1" '$3 == s { print $1 }')
  [ -n "$v" ] && printf '%08x' $((0x$v & ~1))
}
request=$(addr fw_mark_request)
done_=$(addr fw_mark_done)
svcall=$(addr svcall)
# Where the simulated hardware hands back to the firmware: after each `svc`.
returns=$(for a in $(llvm-objdump -d --no-show-raw-insn "$elf" | awk '$2 == "svc" { sub(":", "", $1); print $1 }'); do
  printf '%08x ' $((0x$a + 2))
done)
[ -n "$request" ] && [ -n "$done_" ] && [ -n "$svcall" ] && [ -n "$returns" ] || {
  echo "qemu-firmware: markers not found in $elf" >&2
  exit 1
}

# Per request k (the k-th fw_mark_request ... fw_mark_done):
#   "k firmware simulation core chip builtins board"
# The firmware's instructions are also split by the function QEMU names for each
# (the symbol of its address): the core (readerkit: Device, LineReader, engines),
# the chip driver (readerkit-hal), compiler builtins (division, memcpy) and the
# board and session code. Functions inlined into another count as that one.
awk -v req="$request" -v fin="$done_" -v sim="$svcall" -v rets="$returns" '
  BEGIN { n = split(rets, r, " "); for (i = 1; i <= n; i++) back[r[i]] = 1 }
  {
    if (!match($0, /\[[0-9a-f]+\/[0-9a-f]+\//)) next
    pc = substr($0, RSTART + 1, RLENGTH - 2); sub(/^[0-9a-f]+\//, "", pc)
    if (pc == req) { k++; on = 1 }
    if (pc == sim) insim = 1
    else if (insim && (pc in back)) insim = 0
    if (on) {
      if (insim) simc[k]++
      else {
        fwc[k]++
        f = $NF
        if (f ~ /readerkit_hal_firmware/) board[k]++
        else if (f ~ /readerkit_hal/) chip[k]++
        else if (f ~ /readerkit/) core[k]++
        else if (f ~ /compiler_builtins|__aeabi|__udiv|memcpy|memset|memclr/) rt[k]++
        else board[k]++
      }
    }
    if (pc == fin) on = 0
  }
  END { for (i = 1; i <= k; i++) print i, fwc[i] + 0, simc[i] + 0, core[i] + 0, chip[i] + 0, rt[i] + 0, board[i] + 0 }
' "$work/trace" >"$work/counts" &
counter=$!

set +e
QEMU_TIMEOUT=${QEMU_TIMEOUT:-60} "$fw/run-qemu.sh" "$work/trace" | tee "$work/session"
verdict=${PIPESTATUS[0]}
set -e
# If QEMU never opened the FIFO (it failed to start), awk still waits to open it:
# open it once for writing so that awk sees an empty trace and ends.
if kill -0 "$counter" 2>/dev/null; then
  (: >"$work/trace") &
  opener=$!
fi
wait "$counter"
[ -z "${opener:-}" ] || kill "$opener" 2>/dev/null || true

echo
echo "instructions per request: firmware (core = Device, LineReader, engines; chip = TDA8035 driver with the board's pin and UART accessors; rt = compiler builtins; board = session and board) and the simulated card and chip:"
awk '
  NR == FNR { fwc[$1] = $2; simc[$1] = $3; core[$1] = $4; chip[$1] = $5; rt[$1] = $6; board[$1] = $7; next }
  /^request [0-9]+: / {
    k = $2; sub(":", "", k)
    name = $0; sub(/^request [0-9]+: /, "", name); sub(/: (ok|WRONG).*/, "", name)
    if (name ~ /T=1/) proto = "T=1"; else if (name ~ /T=0/) proto = "T=0"
    printf "  request %2d %-28s firmware %7d (core %6d, chip %6d, rt %6d, board %5d), simulation %7d\n",
      k, name, fwc[k], core[k], chip[k], rt[k], board[k], simc[k]
    if (name ~ /ECHO/) {
      n = name; sub(/.*ECHO /, "", n); sub(/ bytes/, "", n)
      all[proto, n + 0] = fwc[k]; eng[proto, n + 0] = core[k]
    }
  }
  END {
    for (p = 0; p <= 1; p++) {
      proto = "T=" p
      if ((proto, 1024) in all && (proto, 255) in all) {
        printf "  %s ECHO 1024 bytes, per byte: firmware %.1f, core %.1f; marginal per byte, (ECHO 1024 - ECHO 255) / 769: firmware %.1f, core %.1f\n",
          proto, all[proto, 1024] / 1024, eng[proto, 1024] / 1024,
          (all[proto, 1024] - all[proto, 255]) / 769, (eng[proto, 1024] - eng[proto, 255]) / 769
      }
    }
  }
' "$work/counts" "$work/session"

if [ "$verdict" != 0 ]; then
  echo "qemu-firmware: the firmware's verdict is $verdict" >&2
  exit "$verdict"
fi

echo
size_line=$(./hal-readers/firmware/size-check.sh | tee /dev/stderr | grep "^firmware: flash")
flash=$(echo "$size_line" | sed -E 's/.*flash ([0-9]+) bytes.*/\1/')
ram=$(echo "$size_line" | sed -E 's/.*static RAM ([0-9]+) bytes.*/\1/')
ok=$(sed -nE 's/^firmware: ([0-9]+) requests ok$/\1/p' "$work/session")
stack=$(sed -nE 's/^stack high water: driver ([0-9]+) B.*/\1/p' "$work/session")
device_stack=$(echo "$size_line" | sed -E 's/.*, stack ([0-9]+) bytes.*/\1/')
echo "firmware: $ok requests ok, flash $flash B, static RAM $ram B, stack high water $stack B (scripted session); device (USB CCID reader) stack $device_stack B"
# The driver's own budget (core + engines + chip driver, the simulated card apart):
# 1 KiB of stack, whatever the board around it.
if [ -z "$stack" ] || [ "$stack" -gt 1024 ]; then
  echo "qemu-firmware: the driver's stack high water (${stack:-not measured} B) is over its 1 KiB budget" >&2
  exit 1
fi

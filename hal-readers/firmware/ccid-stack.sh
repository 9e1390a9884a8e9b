#!/usr/bin/env bash
# The stack the CCID reader needs, measured: the QEMU flavour of the firmware
# serving CCID (tools/qemu-firmware.sh ccid) is driven through its pseudo-terminal
# with a fixed session in the GemPC Twin framing, as libccid would send it:
#   Escape 02 (firmware version), GetSlotStatus, IccPowerOn, PPS for T=1 and a
#   T=1 I-block with an ECHO of 200 bytes (TPDU level), IccPowerOn, PPS for T=0,
#   T=0 TPDUs SELECT and ECHO of 255 bytes with its GET RESPONSE; then, with the
#   card slow (console `slow 5`), a GET CHALLENGE and a GetSlotStatus sent while
#   it runs (answered CMD_SLOT_BUSY), another GET CHALLENGE stopped by an Abort
#   (CMD_ABORTED, then the Abort's slot status); IccPowerOff.
# The firmware paints its stack before each command and prints the deepest use
# below the caller of CcidReader::handle; this prints, as its last line,
#   ccid stack: <B> B
# and fails if an answer is missing (the ECHO data and 90 00 of both protocols,
# CMD_SLOT_BUSY, CMD_ABORTED).
# Needs qemu-system-arm and the thumbv7em-none-eabihf target.
set -euo pipefail
cd "$(dirname "$0")"

work=$(mktemp -d)
qemu_pid=
cleanup() {
  [ -z "$qemu_pid" ] || kill "$qemu_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

mkfifo "$work/console" "$work/control"
# The console's control lines (`slow N`), open both ways: never blocks, never EOF.
exec 5<>"$work/control"
# A target directory of its own: the device build's ELF (size-check.sh reads it)
# stays where it is.
case "${CARGO_TARGET_DIR:-target}" in
  /*) qemu_target="$CARGO_TARGET_DIR/qemu-ccid" ;;
  *) qemu_target="$PWD/${CARGO_TARGET_DIR:-target}/qemu-ccid" ;;
esac
CARGO_TARGET_DIR=$qemu_target ../../tools/qemu-firmware.sh ccid >"$work/console" <"$work/control" &
qemu_pid=$!
exec 4<"$work/console"
read -r -t 300 pty <&4 || { echo "ccid-stack: no pseudo-terminal from qemu-firmware.sh ccid" >&2; exit 1; }
case "$pty" in /dev/pts/*) ;; *) echo "ccid-stack: not a pty: $pty" >&2; exit 1 ;; esac
cat <&4 >"$work/log" &

exec 3<>"$pty"
stty -F "$pty" raw -echo
cat <&3 >"$work/answers" &
reader=$!

# frame HEX...: one GemPC Twin frame (SYNC, ACK, message, LRC) to the firmware.
frame() {
  local lrc=$((0x03 ^ 0x06)) out='\x03\x06' b
  for b in "$@"; do
    lrc=$((lrc ^ 0x$b))
    out="$out\\x$b"
  done
  printf "$out\\x$(printf %02x "$lrc")" >&3
}
# answered SEQ: whether an RDR_to_PC answer (80..84) for slot 0 with bSeq SEQ came.
answered() {
  od -An -v -tx1 "$work/answers" | tr -d ' \n' | grep -Eq "0306(80|81|82|83|84)[0-9a-f]{8}00$1"
}
# send TYPE SEQ B7 B8 B9 DATA...: a PC_to_RDR message on slot 0.
send() {
  local type=$1 seq=$2 b7=$3 b8=$4 b9=$5
  shift 5
  local n=$#
  frame "$type" "$(printf %02x $((n & 255)))" "$(printf %02x $((n >> 8)))" 00 00 00 "$seq" "$b7" "$b8" "$b9" "$@"
}
# await SEQ: wait (up to 15 s) for the answer with bSeq SEQ.
await() {
  local _
  for _ in $(seq 1 150); do
    answered "$1" && return 0
    sleep 0.1
  done
  echo "ccid-stack: no answer to the message with bSeq $1" >&2
}
# message TYPE SEQ B7 B8 B9 DATA...: send, then the answer awaited, as a host does:
# the firmware listens while a command runs and answers a message sent meanwhile
# with CMD_SLOT_BUSY.
message() {
  send "$@"
  await "$2"
}
# slow_command SEQ APDU...: send a T=0 TPDU to the slow card and wait (up to 15 s)
# until it works: its echo (the TPDU's length + 13 bytes) followed by the GemPC
# Twin's time request (81).
slow_command() {
  local seq=$1 before _
  shift
  before=$(stat -c %s "$work/answers")
  send 6f "$seq" 00 00 00 "$@"
  for _ in $(seq 1 150); do
    od -An -v -tx1 -j $((before + $# + 13)) "$work/answers" 2>/dev/null | tr -d ' \n' | grep -q '^81' && return 0
    sleep 0.1
  done
  echo "ccid-stack: no time request for the message with bSeq $seq" >&2
}
# console TEXT: a control line to the firmware's console, and its reply awaited.
console() {
  local _
  echo "$1" >&5
  for _ in $(seq 1 150); do
    grep -q "^$2" "$work/log" && return 0
    sleep 0.1
  done
  echo "ccid-stack: the console never said $2" >&2
}
# bytes N: 00 01 02 ... (N bytes).
bytes() {
  local i
  for ((i = 0; i < $1; i++)); do printf '%02x ' $((i & 255)); done
}
# The T=1 block 00 00 LEN INF LRC with INF = ECHO of 200 bytes.
t1_block() {
  local inf lrc b
  inf="80 ee 00 00 c8 $(bytes 200) 00"
  lrc=0
  set -- 00 00 ce $inf
  for b in "$@"; do lrc=$((lrc ^ 0x$b)); done
  echo "$* $(printf %02x "$lrc")"
}

message 6b 01 00 00 00 02
message 65 02 00 00 00
message 62 03 00 00 00
message 6f 04 00 00 00 ff 11 96 78
# shellcheck disable=SC2046
message 6f 05 00 00 00 $(t1_block)
message 62 06 00 00 00
message 6f 07 00 00 00 ff 10 96 79
message 6f 08 00 00 00 00 a4 00 0c 02 3f 00
# shellcheck disable=SC2046
message 6f 09 00 00 00 80 ee 00 00 ff $(bytes 255)
message 6f 0a 00 00 00 00 c0 00 00 ff
# The busy and abort paths, with a slow card: a GetSlotStatus while GET CHALLENGE
# runs, then an Abort of another.
console "slow 5" "slow card: 5 NULL bytes"
slow_command 0b 00 84 00 00 08
message 65 0c 00 00 00
await 0b
slow_command 0d 00 84 00 00 08
message 72 0e 00 00 00
console "slow 0" "slow card: 0 NULL bytes"
message 63 0f 00 00 00

# Every answer came (each message waited for its own). The T=1 answer is the first
# block of a chain (the IFSD stays 32: no S(IFS) request is sent).
sleep 0.2
kill "$reader" 2>/dev/null || true
hex=$(od -An -v -tx1 "$work/answers" | tr -d ' \n')
want_t1="002020$(bytes 32 | tr -d ' ')"
want_t0="$(bytes 255 | tr -d ' ')9000"
status=0
echo "$hex" | grep -q '03068100000000000f' || { echo "ccid-stack: no answer to IccPowerOff" >&2; status=1; }
echo "$hex" | grep -q '03068100000000000c40e003' || { echo "ccid-stack: no CMD_SLOT_BUSY" >&2; status=1; }
# bmICCStatus 0: the aborted T=0 exchange left the card deactivated (only a reset
# ends it), yet the slot stays active for the host until it powers the card
# (reader::host_icc_status).
echo "$hex" | grep -q '03068000000000000d40ff00' || { echo "ccid-stack: no CMD_ABORTED" >&2; status=1; }
echo "$hex" | grep -q '03068100000000000e' || { echo "ccid-stack: no answer to the Abort" >&2; status=1; }
echo "$hex" | grep -Eq '0306800a000000000b000000[0-9a-f]{16}9000' || { echo "ccid-stack: no answer to the busy slot's GET CHALLENGE" >&2; status=1; }
echo "$hex" | grep -q "$want_t1" || { echo "ccid-stack: no T=1 ECHO answer" >&2; status=1; }
echo "$hex" | grep -q "$want_t0" || { echo "ccid-stack: no T=0 ECHO answer" >&2; status=1; }
kill "$qemu_pid" 2>/dev/null || true
wait "$qemu_pid" 2>/dev/null || true
qemu_pid=
stack=$(sed -nE 's/^stack high water: CCID command ([0-9]+) B.*/\1/p' "$work/log" | sort -n | tail -1)
if [ "$status" != 0 ] || [ -z "$stack" ]; then
  echo "ccid-stack: answers: $hex" >&2
  cat "$work/log" >&2
  echo "ccid-stack: the CCID session failed" >&2
  exit 1
fi
grep '^stack high water' "$work/log" | tail -1
echo "ccid stack: $stack B"

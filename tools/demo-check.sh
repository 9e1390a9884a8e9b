#!/usr/bin/env bash
# Run the main job (./tools/demo.sh) and check its output, so it cannot break
# silently: both parts must run (as root, so part 2 is not skipped) and print the
# markers of a real session: the ATR, the PPS exchange, each APDU with its expected
# answer, and the pcscd session from start to a clean stop.
#   ./tools/demo-check.sh         run the demo (its output is kept in target/demo.out)
#   ./tools/demo-check.sh FILE    check a demo output saved earlier, without running it
set -euo pipefail
cd "$(dirname "$0")/.."

failures=0
checks=0
if [ $# -gt 0 ]; then
  out=$1
else
  out=target/demo.out
  mkdir -p target
  if ! ./tools/demo.sh >"$out" 2>&1; then
    cat "$out"
    echo "demo-check: ./tools/demo.sh failed (output above, kept in $out)" >&2
    exit 1
  fi
fi

pass() { checks=$((checks + 1)); }
fail() {
  checks=$((checks + 1))
  failures=$((failures + 1))
  echo "demo-check: FAIL: $*" >&2
}

# A line equal to $1 is in the output.
has_line() {
  if grep -qxF -- "$1" "$out"; then pass; else fail "no line \"$1\""; fi
}

# A line starting with $1 is in the output.
has_prefix() {
  if grep -q "^$(printf '%s' "$1" | sed 's/[][\.*^$/]/\\&/g')" "$out"; then pass; else fail "no line starting with \"$1\""; fi
}

# A line matches the extended regex $1.
has_match() {
  if grep -qE -- "$1" "$out"; then pass; else fail "no line matching /$1/"; fi
}

# The line right after the line equal to $1 matches the extended regex $2 (a
# request and its answer).
answer_of() {
  local next
  next=$(grep -A1 -xF -- "$1" "$out" | sed -n 2p || true)
  if [[ $next =~ $2 ]]; then pass; else fail "after \"$1\" expected /$2/, got \"$next\""; fi
}

# Part 1: the stack in process.
atr_t1='3B 9B 96 81 71 FE 45 00 80 65 52 4B 53 49 4D 73 10 21 40 EF'
has_line "=== 1. the stack in process: readerkit demo"
has_line "  < ATR $atr_t1  (state Negotiable)"
answer_of "      -> FF 11 95 7B" '^      <- FF 11 95$'
has_line "  < T=1  (state Specific)"
answer_of "> TRANSMIT SELECT MF: 00 A4 00 0C 02 3F 00" '^      -> '
has_line "  < SW 9000"
has_line "  < SW 63C2"
has_line "  < SW 6D00"
has_match '^  < ([0-9A-F]{2} ){8} SW 9000$' # GET CHALLENGE
has_line "  < no card (NTSTATUS 0xC0000178)"
has_line "demo: every step answered as expected"

# Part 2: the same card under the real pcscd through the pcsc crate.
has_line "=== 2. the stack under the real pcscd: libifd_readerkit.so on sim:t1"
if grep -q '^pcscd part skipped' "$out"; then
  fail "the pcscd part was skipped (it needs root)"
fi
has_prefix "driver: /"
has_prefix "pcscd: socket-activated on /"
has_line "reader: readerkit sim 00 00"
has_line "ATR: $atr_t1"
has_line "protocol: T=1"
answer_of "> 00 A4 00 0C 02 3F 00 (SELECT MF)" '^< 90 00$'
answer_of "> 00 84 00 00 08 (GET CHALLENGE)" '^< ([0-9A-F]{2} ){8}90 00$'
answer_of "> 00 A4 00 0C 02 01 01 (SELECT EF 0101)" '^< 90 00$'
answer_of "> 00 B0 00 00 10 (READ BINARY)" '^< ([0-9A-F]{2} ){16}90 00$'
answer_of "> 80 EE 00 00 05 68 65 6C 6C 6F 00 (ECHO)" '^< 68 65 6C 6C 6F 90 00$'
has_line "pcscd stopped cleanly (driver unloaded, no driver error in its log)"
if grep -q -e '^< error' -e 'panicked' -e 'Some(' "$out"; then
  fail "an error, a panic or Rust's debug format in the output"
else
  pass
fi

if [ $failures -gt 0 ]; then
  echo "--- demo output ($out):" >&2
  cat "$out" >&2
  echo "demo-check: $((checks - failures)) passed, $failures failed" >&2
  exit 1
fi
echo "demo-check: $checks passed, 0 failed"

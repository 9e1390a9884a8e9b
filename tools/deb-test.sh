#!/usr/bin/env bash
# Build the Debian package with cargo-deb, check what is in it, install it with
# dpkg, run a PC/SC session through the stock pcscd from the installed files only,
# then purge the package. One line per check, a summary, non-zero on any failure.
#
#   sudo tools/deb-test.sh
#
# The session: the installed example /etc/reader.conf.d/readerkit-sim and
# readerkit-vpcd are copied, uncommented, to /etc/reader.conf.d/readerkit-deb-test;
# pcscd is started as Debian's units start it (pcscd.socket's ListenStream,
# pcscd.service's ExecStart: `pcscd --foreground --auto-exit` on
# /run/pcscd/pcscd.comm, the default configuration); Debian's pyscard connects
# through the default socket, reads the sim card's ATR and sends it APDUs, then
# does the same with vsmartcard's vicc connected to the vpcd example's port; the
# installed /usr/bin/readerkit decodes the ATR and sends the sim card the same
# APDUs. Whatever happens, the exit trap stops pcscd and vicc, removes the test
# entry and the socket, and purges the package, so the machine is left as it was.
# While that pcscd runs, the test holds /tmp/readerkit-pcscd.lock, the lock
# testkit/src/pcscd.rs takes for every pcscd test (they share /run/pcscd/pcscd.pid).
#
# Needs root, and Debian's dpkg-dev, binutils, pcscd, systemd
# (systemd-socket-activate), python3-pyscard, vsmartcard-vpicc,
# python3-virtualsmartcard and python3-pycryptodome; cargo-deb is installed with
# `cargo install` if missing.
# The package is built in ${CARGO_TARGET_DIR:-target}/pcscd-driver, the target
# directory where the pcscd tests build the same library, and left in its debian/.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

package=readerkit
lib=/usr/lib/pcsc/drivers/serial/libifd_readerkit.so
cli=/usr/bin/readerkit
examples=(/etc/reader.conf.d/readerkit-sim /etc/reader.conf.d/readerkit-vpcd
  /etc/reader.conf.d/readerkit-serial)
entry=/etc/reader.conf.d/readerkit-deb-test
lock=/tmp/readerkit-pcscd.lock
cargo_deb_version=3.8.0
# The T=1 profile of the simulated card (card-sim/src/atr.rs).
atr_t1='3B 9B 96 81 71 FE 45 00 80 65 52 4B 53 49 4D 73 10 21 40 EF'

started=$(date +%s)
checks=0
failures=0
ok() {
  checks=$((checks + 1))
  echo "ok   $*"
}
fail() {
  checks=$((checks + 1))
  failures=$((failures + 1))
  echo "FAIL $*"
}
# check DESCRIPTION COMMAND...: one check, passed when COMMAND succeeds.
check() {
  local what=$1
  shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}
die() {
  echo "deb-test: $*" >&2
  exit 1
}

# --- preconditions: refuse rather than disturb this machine --------------------
[ "$(id -u)" = 0 ] || die "needs root (dpkg -i, /etc/reader.conf.d, pcscd)"
# dpkg-shlibdeps (dpkg-dev) gives cargo-deb the shared-library dependencies; strip
# and readelf come with binutils.
for tool in dpkg dpkg-deb dpkg-shlibdeps strip readelf nm /usr/sbin/pcscd /usr/bin/systemd-socket-activate flock; do
  command -v "$tool" >/dev/null || die "$tool is missing (Debian packages dpkg, dpkg-dev, binutils, pcscd, systemd, util-linux)"
done
[ -d /usr/lib/python3/dist-packages/smartcard ] || die "Debian's pyscard is missing (apt-get install python3-pyscard)"
# vsmartcard's vicc (a virtual card for the vpcd example) and what it imports; Debian
# puts its modules off sys.path and names pycryptodome Cryptodome (see vicc.py).
vicc_modules=/usr/lib/python3/site-packages/virtualsmartcard
[ -x /usr/bin/vicc ] && [ -d "$vicc_modules" ] ||
  die "vsmartcard's vicc is missing (apt-get install vsmartcard-vpicc python3-virtualsmartcard)"
/usr/bin/python3 -c 'import Cryptodome' 2>/dev/null || /usr/bin/python3 -c 'import Crypto' 2>/dev/null ||
  die "pycryptodome is missing (apt-get install python3-pycryptodome)"
for unit in pcscd.socket pcscd.service; do
  [ -f "/lib/systemd/system/$unit" ] || die "/lib/systemd/system/$unit is missing (Debian package pcscd)"
done
if dpkg-query -W -f '${db:Status-Status}' "$package" 2>/dev/null | grep -qv '^not-installed$'; then
  die "a $package package is already installed (or its conffiles are left): this test installs and purges its own; remove that one first (dpkg --purge $package)"
fi
[ -e "$entry" ] && die "$entry exists (left by a test that was killed?): remove it first"

work=$(mktemp -d /tmp/readerkit-deb-test.XXXXXX)
pcscd_pid=
vicc_pid=
socket=
installed=no
cleanup() {
  local rc=$?
  if [ -n "$vicc_pid" ]; then
    kill "$vicc_pid" 2>/dev/null
    wait "$vicc_pid" 2>/dev/null
  fi
  if [ -n "$pcscd_pid" ] && kill -0 "$pcscd_pid" 2>/dev/null; then
    kill -INT "$pcscd_pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pcscd_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pcscd_pid" 2>/dev/null
    wait "$pcscd_pid" 2>/dev/null
  fi
  # The socket systemd-socket-activate made (pcscd does not remove an inherited one).
  [ -n "$socket" ] && rm -f "$socket"
  rm -f "$entry"
  if [ "$installed" = yes ]; then
    dpkg --purge "$package" >/dev/null 2>&1 || echo "deb-test: dpkg --purge $package failed: remove it by hand" >&2
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build ------------------------------------------------------------------------
if ! cargo deb --version >/dev/null 2>&1; then
  echo "deb-test: installing cargo-deb $cargo_deb_version (cargo install --locked)"
  cargo install cargo-deb --locked --version "$cargo_deb_version" >"$work/cargo-install.log" 2>&1 ||
    { cat "$work/cargo-install.log"; die "cargo install cargo-deb failed"; }
fi
target=${CARGO_TARGET_DIR:-$root/target}
case $target in /*) ;; *) target=$root/$target ;; esac
target=$target/pcscd-driver
# Each crate built on its own, so the library is the very build the pcscd tests
# make (one build of both would unify the core's features and rebuild it).
build_started=$(date +%s)
CARGO_TARGET_DIR=$target cargo build --release -q -p readerkit-pcsclite --lib ||
  die "cargo build -p readerkit-pcsclite failed"
CARGO_TARGET_DIR=$target cargo build --release -q -p readerkit-cli || die "cargo build -p readerkit-cli failed"
rm -rf "$target/debian"
CARGO_TARGET_DIR=$target cargo deb -p readerkit-pcsclite --no-build --output "$target/debian/" \
  >"$work/cargo-deb.log" 2>&1 || { cat "$work/cargo-deb.log"; die "cargo deb failed"; }
deb=$(ls "$target"/debian/*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || die "cargo deb made no .deb"
echo "deb-test: built $deb in $(($(date +%s) - build_started)) s"

# --- what is in the package (dpkg-deb -I / -c) -----------------------------------
dpkg-deb -I "$deb" >"$work/info" || die "dpkg-deb -I $deb failed"
field() { dpkg-deb -f "$deb" "$1"; }
check "control: Package is $package" test "$(field Package)" = "$package"
check "control: Architecture is this machine's ($(dpkg --print-architecture))" \
  test "$(field Architecture)" = "$(dpkg --print-architecture)"
check "control: Depends names pcscd" grep -qE '(^|, )pcscd($|,| )' <<<"$(field Depends)"
check "control: Depends names libc6 (from dpkg-shlibdeps)" grep -q 'libc6' <<<"$(field Depends)"
check "control: Maintainer, Description and Section are set" \
  test -n "$(field Maintainer)" -a -n "$(field Description)" -a -n "$(field Section)"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles >"$work/conffiles" 2>/dev/null
check "control: the three reader.conf.d examples are conffiles" \
  diff <(sort "$work/conffiles") <(printf '%s\n' "${examples[@]}" | sort)

# Every regular file with its mode and owner; nothing more, nothing less.
# (cargo-deb writes owners as numbers: 0/0 is root/root.)
dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { sub("^0/0$", "root/root", $2); print $1, $2, $6 }' |
  sort >"$work/files"
sort >"$work/files.expected" <<EOF
-rw-r--r-- root/root .$lib
-rwxr-xr-x root/root .$cli
-rw-r--r-- root/root .${examples[0]}
-rw-r--r-- root/root .${examples[1]}
-rw-r--r-- root/root .${examples[2]}
-rw-r--r-- root/root ./usr/share/doc/$package/copyright
-rw-r--r-- root/root ./usr/share/doc/$package/README.md
EOF
if diff "$work/files.expected" "$work/files" >"$work/files.diff"; then
  ok "contents: exactly the library, the CLI, three examples, copyright and README, root-owned"
else
  fail "contents differ from the expected list (- expected, + in the package):"
  sed -n '3,$p' "$work/files.diff"
fi

dpkg-deb -x "$deb" "$work/x"
check "library: exports the IFD handler API v3 (IFDHCreateChannelByName ... IFDHControl)" \
  bash -c "nm -D --defined-only '$work/x$lib' | grep -cwE 'IFDH(CreateChannelByName|CreateChannel|CloseChannel|GetCapabilities|SetCapabilities|SetProtocolParameters|PowerICC|TransmitToICC|ICCPresence|Control)' | grep -qx 10"
check "library and CLI are stripped (no .debug_info)" \
  bash -c "! readelf -S '$work/x$lib' '$work/x$cli' | grep -q '\.debug_info'"
for example in "${examples[@]}"; do
  check "example ${example#/etc/reader.conf.d/}: every line commented out" \
    bash -c "! grep -vqE '^[[:space:]]*(#|$)' '$work/x$example'"
  check "example ${example#/etc/reader.conf.d/}: names LIBPATH $lib" \
    grep -qxE "#LIBPATH[[:space:]]+$lib" "$work/x$example"
done
# Every crate linked into the two binaries is named in the copyright file.
crates=$(cargo tree -q -p readerkit-pcsclite -p readerkit-cli -e normal,no-proc-macro \
  --prefix none -f '{p}' 2>/dev/null | awk '{ print $1 }' | grep -v '^readerkit' | sort -u)
missing=
for crate in $crates; do
  grep -qE "^ +$crate +" "$work/x/usr/share/doc/$package/copyright" || missing="$missing $crate"
done
if [ -n "$crates" ] && [ -z "$missing" ]; then
  ok "copyright: names all $(wc -w <<<"$crates") crates linked in, and is Debian's format"
else
  fail "copyright: crates linked in but not listed in packaging/copyright:${missing:- (cargo tree listed none)}"
fi
check "copyright: machine-readable format 1.0" \
  grep -qx 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' \
  "$work/x/usr/share/doc/$package/copyright"

# --- install ------------------------------------------------------------------------
if dpkg -i "$deb" >"$work/dpkg-i.log" 2>&1; then
  installed=yes
  ok "dpkg -i $(basename "$deb")"
else
  installed=yes # half-installed: the trap purges it
  fail "dpkg -i $(basename "$deb"):"
  cat "$work/dpkg-i.log"
  exit 1
fi
check "dpkg: $package is installed and its files verify (dpkg -V)" \
  bash -c "dpkg-query -W -f '\${db:Status-Status}' $package | grep -qx installed && dpkg -V $package"
check "installed: $lib and $cli" test -f "$lib" -a -x "$cli"

# --- a PC/SC session through the stock pcscd ----------------------------------------
exec 9>"$lock"
flock -w 900 9 || die "waited 15 min for $lock (another pcscd test holds it)"
listen=$(sed -n 's/^ListenStream=//p' /lib/systemd/system/pcscd.socket)
exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/pcscd.service)
PCSCD_ARGS=
# shellcheck disable=SC1091
[ -r /etc/default/pcscd ] && . /etc/default/pcscd
exec_start=${exec_start//\$PCSCD_ARGS/$PCSCD_ARGS}
if [ -e "$listen" ]; then
  /usr/bin/python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); sys.exit(0 if s.connect_ex(sys.argv[1]) == 0 else 1)" "$listen" &&
    die "a pcscd already serves $listen: stop it (systemctl stop pcscd.socket pcscd) and run again"
  rm -f "$listen" # stale, from a pcscd that died
fi
socket=$listen

# The installed examples, enabled as they are: the test proves they work.
sed -E 's/^#(FRIENDLYNAME|DEVICENAME|LIBPATH)([[:space:]])/\1\2/' \
  /etc/reader.conf.d/readerkit-sim /etc/reader.conf.d/readerkit-vpcd >"$entry"
sim_device=$(sed -n 's/^DEVICENAME[[:space:]]*//p' "$entry" | grep '^sim:')
vpcd_device=$(sed -n 's/^DEVICENAME[[:space:]]*//p' "$entry" | grep '^vpcd:')
check "test entry: the sim and vpcd examples enabled ($sim_device, $vpcd_device)" \
  test "$(grep -c '^LIBPATH' "$entry")" = 2 -a -n "$sim_device" -a -n "$vpcd_device"

unset PCSCLITE_CSOCK_NAME
echo "deb-test: starting: systemd-socket-activate -l $socket $exec_start"
# shellcheck disable=SC2086 # ExecStart's words
/usr/bin/systemd-socket-activate -l "$socket" $exec_start >"$work/pcscd.log" 2>&1 &
pcscd_pid=$! # systemd-socket-activate execs pcscd in place
# Ready when the socket listens, not when its file exists: systemd-socket-activate
# binds (the file appears) before it listens, and a client connecting in between is
# refused (libpcsclite: SCARD_E_NO_SERVICE). tools/lib/unix-listening.awk reads the
# kernel's socket table; reading it does not start pcscd.
listening() {
  awk -v path="$1" -f "$root/tools/lib/unix-listening.awk" /proc/net/unix
}
for _ in $(seq 100); do listening "$socket" && break; sleep 0.1; done
listening "$socket" || die "systemd-socket-activate never listened on $socket (log: $work/pcscd.log)"

cat >"$work/session.py" <<'EOF'
"""PC/SC client of the session (Debian's pyscard, the default pcscd socket).

  session.py readers NAME...           wait (15 s) until a reader of each friendly
                                       NAME is listed; print "reader: X" lines
  session.py card NAME LABEL APDU...   connect to reader NAME (waiting 15 s for a
                                       card), print "LABEL: ATR: ..", "LABEL:
                                       protocol: ..", "LABEL: > APDU", "LABEL: < ANSWER"
"""
import sys, time
from smartcard.System import readers
from smartcard.Exceptions import CardConnectionException, NoCardException
from smartcard.scard import SCARD_PROTOCOL_T0, SCARD_PROTOCOL_T1
from smartcard.util import toBytes, toHexString

def named(name, friendly):
    # pcscd appends " NN SS": the reader's number among those of its library, the slot.
    return name.startswith(friendly + " ") and len(name) == len(friendly) + 6

def listed():
    try:
        return [str(r) for r in readers()]
    except Exception:
        return []

deadline = time.monotonic() + 15
if sys.argv[1] == "readers":
    wanted = sys.argv[2:]
    names = listed()
    while time.monotonic() < deadline and not all(any(named(n, w) for n in names) for w in wanted):
        time.sleep(0.2)
        names = listed()
    for name in names:
        print("reader:", name)
else:
    friendly, label, apdus = sys.argv[2], sys.argv[3], sys.argv[4:]
    reader = next(r for r in readers() if named(str(r), friendly))
    conn = reader.createConnection()
    while True:
        try:
            conn.connect()
            break
        except (NoCardException, CardConnectionException):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    print(label + ": ATR:", toHexString(conn.getATR()))
    protocol = {SCARD_PROTOCOL_T0: "T=0", SCARD_PROTOCOL_T1: "T=1"}.get(conn.getProtocol())
    print(label + ": protocol:", protocol)
    for apdu in apdus:
        data, sw1, sw2 = conn.transmit(toBytes(apdu))
        print(label + ": >", toHexString(toBytes(apdu)))
        print(label + ": <", toHexString(list(data) + [sw1, sw2]))
    conn.disconnect()
EOF
sim_name=$(sed -n 's/^FRIENDLYNAME[[:space:]]*"\(.*\)"/\1/p' "$entry" | head -n 1)
vpcd_name=$(sed -n 's/^FRIENDLYNAME[[:space:]]*"\(.*\)"/\1/p' "$entry" | sed -n 2p)
vpcd_port=${vpcd_device#vpcd:}
vpcd_port=${vpcd_port%%:*}
session() { timeout 60 /usr/bin/python3 "$work/session.py" "$@" >>"$work/session" 2>&1; }
# The first client starts pcscd (socket activation), which opens the vpcd port.
session readers "$sim_name" "$vpcd_name"
readers_rc=$?
# A virtual card for the vpcd example: vsmartcard's vicc, with Debian's pycryptodome.
PYTHONPATH=$vicc_modules /usr/bin/python3 testkit/py/vicc.py \
  -t iso7816 -P "$vpcd_port" >"$work/vicc.log" 2>&1 &
vicc_pid=$!
select_mf='00 A4 00 0C 02 3F 00'
echo_apdu='80 EE 00 00 04 CA FE F0 0D 00'
session card "$sim_name" sim "$select_mf" "$echo_apdu"
sim_rc=$?
# vicc's ISO 7816 card: SELECT MF with P2 0C (no FCI: vicc fails on P2 00).
session card "$vpcd_name" vpcd "$select_mf"
vpcd_rc=$?
kill "$vicc_pid" 2>/dev/null
wait "$vicc_pid" 2>/dev/null
vicc_pid=
sed 's/^/  | /' "$work/session"
check "session: pyscard ran to the end through $socket" test "$readers_rc$sim_rc$vpcd_rc" = 000
sim_reader=$(sed -n "s/^reader: \($sim_name [0-9A-F][0-9A-F] 00\)\$/\1/p" "$work/session" | head -n 1)
check "session: the stock pcscd lists the sim example's reader (\"$sim_reader\")" test -n "$sim_reader"
check "session: the stock pcscd lists the vpcd example's reader (\"$vpcd_name NN 00\")" \
  grep -qE "^reader: $vpcd_name [0-9A-F]{2} 00\$" "$work/session"
# The line after the line "$1" is "$2".
answered() { grep -A1 -xF -- "$1" "$work/session" | sed -n 2p | grep -qxF -- "$2"; }
check "session: the sim card's ATR ($atr_t1)" grep -qxF "sim: ATR: $atr_t1" "$work/session"
check "session: the sim card at T=1" grep -qxF "sim: protocol: T=1" "$work/session"
check "session: sim SELECT MF answered 90 00" answered "sim: > $select_mf" "sim: < 90 00"
check "session: sim ECHO answered CA FE F0 0D 90 00" answered "sim: > $echo_apdu" "sim: < CA FE F0 0D 90 00"
check "session: vicc's card in the vpcd example's reader gave an ATR" \
  grep -qE '^vpcd: ATR: 3B( [0-9A-F]{2})+$' "$work/session"
check "session: vpcd SELECT MF answered 90 00 by vicc" answered "vpcd: > $select_mf" "vpcd: < 90 00"
check "pcscd (pid $pcscd_pid) loaded $lib" grep -qF " $lib" "/proc/$pcscd_pid/maps"

# The installed CLI decodes the ATR that came through pcscd.
session_atr=$(sed -n 's/^sim: ATR: //p' "$work/session" | tr -d ' ')
if "$cli" atr --json "${session_atr:-00}" >"$work/cli.json" 2>&1 &&
  /usr/bin/python3 -c "
import json, sys
j = json.load(open(sys.argv[1]))
sys.exit(0 if j['atr'] == sys.argv[2] and j['protocols'] == [1] and j['default_protocol'] == 1 else 1)
" "$work/cli.json" "$session_atr" 2>/dev/null; then
  ok "$cli atr --json: that ATR offers T=1"
else
  fail "$cli atr --json $session_atr:"
  head -c 2000 "$work/cli.json"
fi
# The installed CLI is a PC/SC client too: the same APDUs to the sim reader.
timeout 60 "$cli" apdu --json --reader "$sim_reader" "$select_mf" "$echo_apdu" >"$work/cli-apdu" 2>&1
cli_rc=$?
sed 's/^/  | /' "$work/cli-apdu"
if [ $cli_rc = 0 ] && /usr/bin/python3 -c "
import json, sys
j = json.load(open(sys.argv[1]))
hex = lambda s: s.replace(' ', '').replace(':', '').upper()
a = j['apdus']
sys.exit(0 if j['reader'] == sys.argv[2] and hex(j['atr']) == hex(sys.argv[3])
         and [hex(x['sw']) for x in a] == ['9000', '9000'] and hex(a[1]['data']) == 'CAFEF00D' else 1)
" "$work/cli-apdu" "$sim_reader" "$atr_t1" 2>/dev/null; then
  ok "$cli apdu --json: the sim card's ATR, SELECT MF 9000, ECHO CAFEF00D 9000"
else
  fail "$cli apdu --json (exit $cli_rc): not the expected reader, ATR and answers"
fi

# SIGINT: the clean stop, every reader closed (IFDHCloseChannel) and every driver
# unloaded; SIGTERM, systemd's default, makes pcscd exit at once. pcsc-lite 1.9.9
# has a lost wake-up here: its signal thread sets the exit flag, but the main loop
# only looks at it when its select() returns, and a signal that arrives while the
# main thread is not in select() does not interrupt it (seen twice here under load:
# select() slept on until --auto-exit's alarm, 60 s after the last client). So if
# pcscd is still there after 5 s, a connection to its socket wakes the main loop.
# 30 s in all is a hang guard, not a speed limit.
stop_started=$(date +%s%N)
kill -INT "$pcscd_pid"
stopped=no
woken=no
for i in $(seq 300); do
  kill -0 "$pcscd_pid" 2>/dev/null || { stopped=yes; break; }
  if [ "$i" = 50 ]; then
    woken=yes
    /usr/bin/python3 -c "import socket,sys; socket.socket(socket.AF_UNIX).connect_ex(sys.argv[1])" "$socket"
  fi
  sleep 0.1
done
stop_ms=$((($(date +%s%N) - stop_started) / 1000000))
if [ $stopped = no ]; then
  echo "  pcscd's threads still running after 30 s (wchan):"
  for task in /proc/"$pcscd_pid"/task/*; do
    echo "  | $(cat "$task/comm" 2>/dev/null) $(cat "$task/wchan" 2>/dev/null)"
  done
  kill -KILL "$pcscd_pid" 2>/dev/null
fi
wait "$pcscd_pid" 2>/dev/null
[ $woken = yes ] && echo "note pcscd missed SIGINT's wake-up; a connection to $socket woke it after 5 s"
check "pcscd exits on SIGINT (in $stop_ms ms)" test "$stopped" = yes
pcscd_pid=
rm -f "$socket"
socket=
check "pcscd's log: no error from the driver, no panic" \
  bash -c "! grep -qiE 'readerkit: ERROR|panic|IFDHandler functions missing|Open Port .* Failed' '$work/pcscd.log'"
[ $failures = 0 ] || { echo "  pcscd's log:"; sed 's/^/  | /' "$work/pcscd.log"; }
rm -f "$entry"
exec 9>&-

# --- purge -----------------------------------------------------------------------------
if dpkg --purge "$package" >"$work/dpkg-purge.log" 2>&1; then
  installed=no
  ok "dpkg --purge $package"
else
  fail "dpkg --purge $package:"
  cat "$work/dpkg-purge.log"
fi
left=
for path in "$lib" "$cli" "${examples[@]}" "/usr/share/doc/$package"; do
  [ -e "$path" ] && left="$left $path"
done
check "purged: nothing of the package left${left:+ (left:$left)}" test -z "$left"
check "purged: dpkg no longer knows $package" \
  bash -c "! dpkg-query -W -f '\${db:Status-Status}' $package 2>/dev/null | grep -qv '^not-installed\$'"

echo "deb-test: $checks checks, $failures failed, $(($(date +%s) - started)) s"
[ $failures = 0 ]

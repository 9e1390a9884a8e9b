#!/usr/bin/env python3
"""PC/SC client run inside the USB/IP guest (pyscard over the guest's pcscd and
libccid): the reader's name, the card's ATR, SELECT, GET CHALLENGE, ECHO of every
short length, APDU round trips per second, then the card taken out and put back
(asked of the host with `CLIENT remove-now` / `CLIENT insert-now` lines, which
tools/usbip-guest.sh passes to usbip-serve's stdin) as SCardGetStatusChange sees
it. Prints `CLIENT ok ...` or `CLIENT failed ...` as its last line."""

import sys
import time

from smartcard import scard
from smartcard.System import readers
from smartcard.util import toHexString

ROUND_TRIP_SECONDS = 3.0
# A hang guard for each card movement, not a timing assertion.
MOVE_TIMEOUT_SECONDS = 60.0


def wait_for(context, reader, state, what):
    """Wait until SCardGetStatusChange reports `state` for `reader`."""
    _, states = scard.SCardGetStatusChange(context, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
    deadline = time.monotonic() + MOVE_TIMEOUT_SECONDS
    while not states[0][1] & state:
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {MOVE_TIMEOUT_SECONDS:.0f} s")
        current = states[0][1] & ~scard.SCARD_STATE_CHANGED
        _, states = scard.SCardGetStatusChange(context, 2000, [(reader, current)])
    print(f"MOVES {what} seen by SCardGetStatusChange", flush=True)


def serve_args():
    """The options usbip-serve runs with (tools/usbip-guest.sh's USBIP_SERVE_ARGS)."""
    try:
        with open("/check/serve-args") as f:
            return f.read()
    except OSError:
        return ""


def main():
    names = readers()
    print("READERS", [str(r) for r in names], flush=True)
    if not names:
        print("CLIENT failed: no reader")
        return 1
    connection = names[0].createConnection()
    connection.connect()
    print("ATR", toHexString(connection.getATR()), flush=True)
    checks = 0

    def expect(apdu, sw, data=None):
        nonlocal checks
        answer, sw1, sw2 = connection.transmit(apdu)
        if (sw1, sw2) != sw or (data is not None and answer != data):
            raise AssertionError(
                f"{toHexString(apdu)[:40]}: {toHexString(answer)[:40]} {sw1:02X} {sw2:02X}"
            )
        checks += 1
        return answer

    expect([0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00], (0x90, 0x00))
    first = expect([0x00, 0x84, 0x00, 0x00, 0x08], (0x90, 0x00))
    second = expect([0x00, 0x84, 0x00, 0x00, 0x08], (0x90, 0x00))
    if len(first) != 8 or first == second:
        raise AssertionError("GET CHALLENGE gave the same 8 bytes twice")
    for n in range(1, 256):
        data = [(i * 7 + n) & 0xFF for i in range(n)]
        expect([0x80, 0xEE, 0x00, 0x00, n] + data + [0x00], (0x90, 0x00), data)
    print(f"APDUS {checks} checked (SELECT, GET CHALLENGE, ECHO 1..255)", flush=True)
    if "extended" in serve_args():
        # Extended APDUs (Lc and Le in three bytes), longer than one 271-byte
        # CCID message: libccid chains them both ways.
        for n in (256, 300, 600, 900):
            data = [(i * 5 + n) & 0xFF for i in range(n)]
            apdu = [0x80, 0xEE, 0x00, 0x00, 0x00, n >> 8, n & 0xFF] + data + [0x00, 0x00]
            expect(apdu, (0x90, 0x00), data)
        print(f"APDUS {checks} checked (and extended ECHO of 256, 300, 600, 900)", flush=True)

    echo = [0x80, 0xEE, 0x00, 0x00, 0x10] + list(range(16)) + [0x00]
    count = 0
    start = time.monotonic()
    while time.monotonic() - start < ROUND_TRIP_SECONDS:
        connection.transmit(echo)
        count += 1
    elapsed = time.monotonic() - start
    rate = count / elapsed
    print(f"ROUNDTRIPS {count} in {elapsed:.2f} s: {rate:.0f}/s (ECHO of 16 bytes)", flush=True)
    connection.disconnect()

    _, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    reader = str(names[0])
    print("CLIENT remove-now", flush=True)
    wait_for(context, reader, scard.SCARD_STATE_EMPTY, "removal")
    print("CLIENT insert-now", flush=True)
    wait_for(context, reader, scard.SCARD_STATE_PRESENT, "insertion")
    again = names[0].createConnection()
    again.connect()
    _, sw1, sw2 = again.transmit([0x00, 0x84, 0x00, 0x00, 0x08])
    if (sw1, sw2) != (0x90, 0x00):
        raise AssertionError(f"GET CHALLENGE on the new card: {sw1:02X} {sw2:02X}")
    checks += 1
    print(f"CLIENT ok {checks} APDUs checked, {rate:.0f} round trips/s, card moves seen")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # reported, not hidden: the summary says failed
        print(f"CLIENT failed: {type(e).__name__}: {e}")
        sys.exit(1)

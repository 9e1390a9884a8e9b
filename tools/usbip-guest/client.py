#!/usr/bin/env python3
"""PC/SC client run inside the USB/IP guest (pyscard over the guest's pcscd and
libccid): the reader's name, the card's ATR, SELECT, GET CHALLENGE, ECHO of every
short length, then APDU round trips per second. Prints `CLIENT ok ...` or
`CLIENT failed ...` as its last line."""

import sys
import time

from smartcard.System import readers
from smartcard.util import toHexString

ROUND_TRIP_SECONDS = 3.0


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

    echo = [0x80, 0xEE, 0x00, 0x00, 0x10] + list(range(16)) + [0x00]
    count = 0
    start = time.monotonic()
    while time.monotonic() - start < ROUND_TRIP_SECONDS:
        connection.transmit(echo)
        count += 1
    elapsed = time.monotonic() - start
    rate = count / elapsed
    print(f"ROUNDTRIPS {count} in {elapsed:.2f} s: {rate:.0f}/s (ECHO of 16 bytes)")
    print(f"CLIENT ok {checks} APDUs checked, {rate:.0f} round trips/s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # reported, not hidden: the summary says failed
        print(f"CLIENT failed: {type(e).__name__}: {e}")
        sys.exit(1)

#!/usr/bin/python3
"""A pyscard session against readerkit's `serial:...:tda8029` reader in pcscd
(a simulated TDA8029 with the simulated T=1 card on the other end of a pty).

Usage: serial_session.py READER ATR_HEX
Exits non-zero (with the failing check) on any mismatch; prints OK at the end.
"""
import sys
from smartcard.scard import *

from checks import check, echo, establish, ok, reset_select_unpower

reader, atr_hex = sys.argv[1], sys.argv[2]
ctx = establish(reader)

rv, h, proto = SCardConnect(ctx, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1)
ok(rv, "connect")
check(proto == SCARD_PROTOCOL_T1, "T=1 active (the card's first protocol)")
pci = SCARD_PCI_T1
rv, name, state, p, atr = SCardStatus(h)
ok(rv, "status")
check(bytes(atr).hex().upper() == atr_hex.replace(" ", "").upper(), "ATR %s" % bytes(atr).hex())
rv, vendor = SCardGetAttrib(h, SCARD_ATTR_VENDOR_NAME)
ok(rv, "vendor attribute")
check(bytes(vendor).rstrip(b"\0") == b"readerkit", "vendor %r" % bytes(vendor))

rv, r = SCardTransmit(h, pci, [0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00])
ok(rv, "SELECT MF")
check(r == [0x90, 0x00], "SELECT MF %r" % r)
rv, c1 = SCardTransmit(h, pci, [0x00, 0x84, 0x00, 0x00, 0x08])
ok(rv, "GET CHALLENGE")
check(len(c1) == 10 and c1[-2:] == [0x90, 0x00], "challenge %r" % c1)
rv, c2 = SCardTransmit(h, pci, [0x00, 0x84, 0x00, 0x00, 0x08])
ok(rv, "GET CHALLENGE again")
check(len(c2) == 10 and c2[-2:] == [0x90, 0x00] and c2 != c1, "fresh challenge %r" % c2)
for n in (1, 16, 100, 255):
    data = [(i * 5 + n) & 0xFF for i in range(n)]
    rv, r = SCardTransmit(h, pci, echo(data))
    ok(rv, "ECHO %d" % n)
    check(r == data + [0x90, 0x00], "ECHO %d answer %r" % (n, r))
rv, r = SCardTransmit(h, pci, [0x00, 0x99, 0x00, 0x00])
ok(rv, "unknown INS")
check(r == [0x6D, 0x00], "6D00: %r" % r)

# Part 10: short APDUs only over ALPAR (dwMaxAPDUDataSize 255).
rv, feat = SCardControl(h, SCARD_CTL_CODE(3400), [])
ok(rv, "GET_FEATURE_REQUEST")
check(len(feat) == 6 and feat[0] == 0x12, "feature list %r" % feat)
rv, props = SCardControl(h, int.from_bytes(bytes(feat[2:6]), "big"), [])
ok(rv, "GET_TLV_PROPERTIES")
check(props[0:2] == [0x0A, 4] and int.from_bytes(bytes(props[2:6]), "little") == 255, "dwMaxAPDUDataSize %r" % props)

# A reset goes through the chip again (power_up), the card answers afresh.
reset_select_unpower(h, SCARD_PROTOCOL_T1, pci)
SCardReleaseContext(ctx)
print("OK")

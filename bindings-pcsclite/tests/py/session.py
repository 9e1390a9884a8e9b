#!/usr/bin/python3
"""A PC/SC session with pyscard against readerkit's `sim:` readers in pcscd.

Usage: session.py T1_READER T0_READER [ROUNDS]
Exits non-zero (with the failing check) on any mismatch; prints OK at the end.
"""
import sys
from smartcard.scard import *

from checks import check, echo, establish, ok, reset_select_unpower

t1_reader, t0_reader = sys.argv[1], sys.argv[2]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 1
ctx = establish(t1_reader, t0_reader)

for _ in range(rounds):
    # T=1: ATR, GET CHALLENGE, ECHO short and extended, unknown INS, attributes, control.
    rv, h, proto = SCardConnect(ctx, t1_reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1)
    ok(rv, "connect T=1")
    check(proto == SCARD_PROTOCOL_T1, "T=1 active")
    rv, atr = SCardGetAttrib(h, SCARD_ATTR_ATR_STRING)
    ok(rv, "ATR attribute")
    rv, name, state, p, status_atr = SCardStatus(h)
    ok(rv, "status")
    check(bytes(atr) == bytes(status_atr) and atr[0] == 0x3B, "ATR matches: %s" % bytes(atr).hex())
    rv, vendor = SCardGetAttrib(h, SCARD_ATTR_VENDOR_NAME)
    ok(rv, "vendor attribute")
    check(bytes(vendor).rstrip(b"\0") == b"readerkit", "vendor %r" % bytes(vendor))
    rv, r = SCardTransmit(h, SCARD_PCI_T1, [0x00, 0x84, 0x00, 0x00, 0x08])
    ok(rv, "GET CHALLENGE")
    check(len(r) == 10 and r[-2:] == [0x90, 0x00], "challenge %r" % r)
    for n in (1, 2, 100, 254, 255, 256, 1000, 4096, 5000):
        data = [(i * 7 + n) & 0xFF for i in range(n)]
        rv, r = SCardTransmit(h, SCARD_PCI_T1, echo(data))
        ok(rv, "ECHO %d" % n)
        check(r == data + [0x90, 0x00], "ECHO %d answer" % n)
    rv, r = SCardTransmit(h, SCARD_PCI_T1, [0x00, 0x99, 0x00, 0x00])
    ok(rv, "unknown INS")
    check(r == [0x6D, 0x00], "6D00: %r" % r)
    rv, feat = SCardControl(h, SCARD_CTL_CODE(3400), [])
    ok(rv, "GET_FEATURE_REQUEST")
    # FEATURE_GET_TLV_PROPERTIES, then the sim PIN pad's VERIFY/MODIFY_PIN_DIRECT
    # and IFD_PIN_PROPERTIES.
    check(len(feat) == 24 and feat[0] == 0x12 and feat[1] == 4
          and feat[6] == 0x06 and feat[12] == 0x07 and feat[18] == 0x0A,
          "feature list %r" % feat)
    tlv_code = int.from_bytes(bytes(feat[2:6]), "big")
    rv, props = SCardControl(h, tlv_code, [])
    ok(rv, "GET_TLV_PROPERTIES")
    check(props[0:2] == [0x0A, 4] and int.from_bytes(bytes(props[2:6]), "little") == 65536, "dwMaxAPDUDataSize %r" % props)
    rv, _ = SCardControl(h, SCARD_CTL_CODE(1), [])
    check(rv != SCARD_S_SUCCESS, "unknown control code refused")
    reset_select_unpower(h, SCARD_PROTOCOL_T1, SCARD_PCI_T1)

    # T=0: 61xx (case 4 SELECT with FCI) and 6Cxx (READ BINARY with a wrong Le).
    rv, h, proto = SCardConnect(ctx, t0_reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0)
    ok(rv, "connect T=0")
    check(proto == SCARD_PROTOCOL_T0, "T=0 active")
    rv, r = SCardTransmit(h, SCARD_PCI_T0, [0x00, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00, 0x00])
    ok(rv, "SELECT FCI")
    check(r[0] == 0x6F and r[-2:] == [0x90, 0x00], "FCI %r" % r)
    rv, r = SCardTransmit(h, SCARD_PCI_T0, [0x00, 0xA4, 0x00, 0x0C, 0x02, 0x01, 0x01])
    ok(rv, "SELECT EF 0101")
    check(r == [0x90, 0x00], "SELECT EF %r" % r)
    rv, r = SCardTransmit(h, SCARD_PCI_T0, [0x00, 0xB0, 0x01, 0xF4, 0x20])
    ok(rv, "READ BINARY 6Cxx")
    check(len(r) == 14 and r[-2:] in ([0x90, 0x00], [0x62, 0x82]), "6Cxx path %r" % r)
    rv, r = SCardTransmit(h, SCARD_PCI_T0, [0x00, 0x50, 0x00, 0x00])
    ok(rv, "unknown INS T=0")
    check(r == [0x6D, 0x00], "6D00 T=0: %r" % r)
    ok(SCardDisconnect(h, SCARD_LEAVE_CARD), "disconnect")

SCardReleaseContext(ctx)
print("OK")

"""What the pyscard client scripts share: checks that fail with a message, the
simulated card's ECHO command, and a context in which the readers are listed."""
import sys
from smartcard.scard import (SCARD_RESET_CARD, SCARD_S_SUCCESS, SCARD_SCOPE_USER,
                             SCARD_SHARE_SHARED, SCARD_UNPOWER_CARD, SCardDisconnect,
                             SCardEstablishContext, SCardGetErrorMessage, SCardListReaders,
                             SCardReconnect, SCardTransmit)

def check(cond, what):
    """Exit non-zero, saying `what`, unless `cond`."""
    if not cond:
        print("FAIL:", what)
        sys.exit(1)

def ok(rv, what):
    """Exit non-zero unless the PC/SC call answered SCARD_S_SUCCESS."""
    check(rv == SCARD_S_SUCCESS, "%s: %s" % (what, SCardGetErrorMessage(rv)))

def echo(data):
    """The simulated card's ECHO (80 EE 00 00) of `data`: short form up to 255
    bytes, extended form above."""
    n = len(data)
    if n <= 255:
        return [0x80, 0xEE, 0, 0, n] + data + [0]
    return [0x80, 0xEE, 0, 0, 0, n >> 8, n & 0xFF] + data + [0, 0]

def establish(*wanted):
    """A user context in which each reader of `wanted` is listed."""
    rv, ctx = SCardEstablishContext(SCARD_SCOPE_USER)
    ok(rv, "establish")
    rv, readers = SCardListReaders(ctx, [])
    ok(rv, "list")
    check(all(r in readers for r in wanted), "readers %r listed: %r" % (wanted, readers))
    return ctx

def reset_select_unpower(h, protocol, pci):
    """Reconnect resetting the card: SELECT MF (00 A4 00 0C 02 3F 00) must then
    answer 90 00; then disconnect, unpowering the card."""
    rv, _ = SCardReconnect(h, SCARD_SHARE_SHARED, protocol, SCARD_RESET_CARD)
    ok(rv, "reconnect reset")
    rv, r = SCardTransmit(h, pci, [0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00])
    ok(rv, "SELECT after reset")
    check(r == [0x90, 0x00], "SELECT MF after reset %r" % r)
    ok(SCardDisconnect(h, SCARD_UNPOWER_CARD), "disconnect unpower")

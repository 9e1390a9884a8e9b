"""What the pyscard client scripts share: checks that fail with a message, the
simulated card's ECHO command, and a context in which the readers are listed."""
import sys
from smartcard.scard import (SCARD_S_SUCCESS, SCARD_SCOPE_USER, SCardEstablishContext,
                             SCardGetErrorMessage, SCardListReaders)

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

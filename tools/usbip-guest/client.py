#!/usr/bin/env python3
"""PC/SC client run inside the USB/IP guest (pyscard over the guest's pcscd and
libccid): the reader's name, the card's ATR, SELECT, GET CHALLENGE, ECHO of every
short length, APDU round trips per second, then the card taken out and put back
(asked of the host with `CLIENT remove-now` / `CLIENT insert-now` lines, which
tools/usbip-guest.sh passes to usbip-serve's stdin) as SCardGetStatusChange sees
it. With a PIN pad (`--keys` in usbip-serve's options, which must press the
card's PIN "1234" and OK: `--keys 1234E`), PC/SC part 10 PIN verification
through libccid: the reader's features (CM_IOCTL_GET_FEATURE_REQUEST), then a
PIN_VERIFY_STRUCTURE sent to FEATURE_VERIFY_PIN_DIRECT with the right keys (90
00), a wrong key script (63 C2) and the right one again (90 00), then a
PIN_MODIFY_STRUCTURE to FEATURE_MODIFY_PIN_DIRECT changing the PIN to "5678"
(90 00), a verification of it and the change back (90 00 each); the later key
scripts are asked of the host with `CLIENT keys KEYS` lines, which
tools/usbip-guest.sh passes to usbip-serve's stdin as `keys KEYS`.
Last, the guest's kernel reconfigures the device (bConfigurationValue 0, then 1:
two SET_CONFIGURATION requests through vhci-hcd while libccid has its
interrupt transfer pending); the reader must leave pcscd's list, come back and
answer again. Prints `CLIENT ok ...` or `CLIENT failed ...` as its last line."""

import glob
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


def card_moved(context, reader, state, what):
    """Wait for a card movement the client asked for, and say it was seen."""
    wait_for(context, reader, state, what)
    print(f"MOVES {what} seen by SCardGetStatusChange", flush=True)


# PC/SC part 10 (pcsc-lite's reader.h): CM_IOCTL_GET_FEATURE_REQUEST and the
# feature tags.
GET_FEATURE_REQUEST = scard.SCARD_CTL_CODE(3400)
FEATURE_VERIFY_PIN_DIRECT = 0x06
FEATURE_MODIFY_PIN_DIRECT = 0x07
FEATURE_GET_TLV_PROPERTIES = 0x12
# The TLV properties' tags for the reader's USB identity (values little endian).
PROPERTY_ID_VENDOR = 0x0B
# PC/SC part 10 TLV properties libccid reports only from the reader's answer to
# its Gemalto "get firmware features" escape.
PROPERTY_ENTRY_VALIDATION_CONDITION = 0x02
PROPERTY_MIN_PIN_SIZE = 0x06
PROPERTY_MAX_PIN_SIZE = 0x07
# What usbip-serve's keypad announces there: size, OK key or time-out; PINs of
# 1 to 32 digits (the core's PIN entry limits).
PIN_PROPERTIES = {
    PROPERTY_ENTRY_VALIDATION_CONDITION: 0x07,
    PROPERTY_MIN_PIN_SIZE: 1,
    PROPERTY_MAX_PIN_SIZE: 32,
}
PROPERTY_ID_PRODUCT = 0x0C
# usbip-serve's reader: a GemPC Twin USB.
GEMPC_TWIN = (0x08E6, 0x3437)


def features(connection):
    """The reader's part 10 feature list: {tag: control code}."""
    tlvs = connection.control(GET_FEATURE_REQUEST, [])
    found = {}
    for i in range(0, len(tlvs) - 5, 6):
        tag, length = tlvs[i], tlvs[i + 1]
        if length != 4:
            raise AssertionError(f"feature {tag:02X} of {length} bytes in {toHexString(tlvs)}")
        found[tag] = int.from_bytes(bytes(tlvs[i + 2 : i + 6]), "big")
    return found


# The PIN blocks of both structures: bTimerOut 30 s for the first key,
# bTimerOut2 10 s for each next one, bmFormatString ASCII digits left justified
# at byte 0, bmPINBlockString no length field and an 8-byte block,
# bmPINLengthFormat none.
BLOCK = [30, 10, 0x82, 0x08, 0x00]
# wPINMaxExtraDigit (4 to 8 digits), bEntryValidationCondition (the OK key).
LIMITS = [8, 4, 0x02]
# wLangId: US English.
LANG = [0x09, 0x04]
# bTeoPrologue.
PROLOGUE = [0, 0, 0]


def with_apdu(head, apdu):
    """`head`, ulDataLength (4 bytes, little endian) and the APDU."""
    return head + list(len(apdu).to_bytes(4, "little")) + apdu


def tlv_properties(connection, code):
    """FEATURE_GET_TLV_PROPERTIES: {tag: value bytes}."""
    tlvs = connection.control(code, [])
    found = {}
    i = 0
    while i + 2 <= len(tlvs):
        tag, length = tlvs[i], tlvs[i + 1]
        value = tlvs[i + 2 : i + 2 + length]
        if len(value) != length:
            raise AssertionError(f"TLV properties cut short: {toHexString(tlvs)}")
        found[tag] = bytes(value)
        i += 2 + length
    return found


def verify_structure():
    """A PIN_VERIFY_STRUCTURE for the simulated card's VERIFY `00 20 00 80 08`
    and 8 bytes of FF, one message (bNumberMessage 1, bMsgIndex 0)."""
    apdu = [0x00, 0x20, 0x00, 0x80, 0x08] + [0xFF] * 8
    return with_apdu(BLOCK + LIMITS + [0x01] + LANG + [0x00] + PROLOGUE, apdu)


def modify_structure():
    """A PIN_MODIFY_STRUCTURE for CHANGE REFERENCE DATA `00 24 00 80 10` and 16
    bytes of FF: the current PIN at byte 0 (bInsertionOffsetOld), the new one at
    byte 8 (bInsertionOffsetNew), entered twice (bConfirmPIN 03), three messages
    (bNumberMessage 3, bMsgIndex1..3 0, 1, 2)."""
    apdu = [0x00, 0x24, 0x00, 0x80, 0x10] + [0xFF] * 16
    head = BLOCK + [0, 8] + LIMITS[:2] + [0x03] + LIMITS[2:] + [0x03] + LANG + [0, 1, 2] + PROLOGUE
    return with_apdu(head, apdu)


def check_pin_pad(connection):
    """PIN verification and modification on the reader's PIN pad through
    libccid."""
    found = features(connection)
    print("PINPAD features", {f"{t:02X}": f"{c:08X}" for t, c in found.items()}, flush=True)
    for tag, name in ((FEATURE_VERIFY_PIN_DIRECT, "VERIFY"), (FEATURE_MODIFY_PIN_DIRECT, "MODIFY")):
        if tag not in found:
            raise AssertionError(f"no FEATURE_{name}_PIN_DIRECT in the reader's features")
    if FEATURE_GET_TLV_PROPERTIES in found:
        properties = tlv_properties(connection, found[FEATURE_GET_TLV_PROPERTIES])
        print("PINPAD properties", {f"{t:02X}": v.hex(" ") for t, v in properties.items()}, flush=True)
        identity = tuple(
            int.from_bytes(properties.get(tag, b""), "little")
            for tag in (PROPERTY_ID_VENDOR, PROPERTY_ID_PRODUCT)
        )
        if identity != GEMPC_TWIN:
            raise AssertionError(f"wIdVendor, wIdProduct {identity}, not {GEMPC_TWIN}")
        for tag, expected in PIN_PROPERTIES.items():
            value = properties.get(tag)
            if value is None or int.from_bytes(value, "little") != expected:
                raise AssertionError(f"PIN property {tag:02X} is {value!r}, not {expected}")
    verify = (found[FEATURE_VERIFY_PIN_DIRECT], verify_structure(), "verification")
    modify = (found[FEATURE_MODIFY_PIN_DIRECT], modify_structure(), "modification")
    ok = [0x90, 0x00]
    # The first verification reads the keys of --keys; the host presses the
    # others when asked.
    steps = (
        (verify, None, ok),
        (verify, "9999E", [0x63, 0xC2]),
        (verify, "1234E", ok),
        (modify, "1234E5678E5678E", ok),
        (verify, "5678E", ok),
        (modify, "5678E1234E1234E", ok),
    )
    for (code, structure, what), keys, expected in steps:
        if keys is not None:
            print(f"CLIENT keys {keys}", flush=True)
        answer = connection.control(code, structure)
        print(f"PINPAD {what}, keys {keys or '(--keys)'}: {toHexString(answer)}", flush=True)
        if answer != expected:
            raise AssertionError(f"PIN {what}: {toHexString(answer)}, not {toHexString(expected)}")


def serve_args():
    """The options usbip-serve runs with (tools/usbip-guest.sh's USBIP_SERVE_ARGS)."""
    try:
        with open("/check/serve-args") as f:
            return f.read()
    except OSError:
        return ""


def wait_for_readers(present=True):
    """The readers pcscd lists, once it lists one (`present`) or none: libccid
    opens and lets go of the attached device on pcscd's hotplug thread, maybe
    after pcscd already serves clients (MOVE_TIMEOUT_SECONDS is the hang guard;
    past it, the list as it is)."""
    deadline = time.monotonic() + MOVE_TIMEOUT_SECONDS
    names = readers()
    while bool(names) != present and time.monotonic() < deadline:
        time.sleep(0.1)
        names = readers()
    return names


def device_dir():
    """The attached reader's sysfs folder (GemPC Twin's vendor id)."""
    for d in sorted(glob.glob("/sys/bus/usb/devices/*")):
        try:
            with open(f"{d}/idVendor") as f:
                if int(f.read(), 16) == GEMPC_TWIN[0]:
                    return d
        except (OSError, ValueError):
            continue
    raise AssertionError("the attached reader is not in /sys/bus/usb/devices")


def wait_for_list(present, what):
    """Wait until pcscd lists a reader (present) or none (not present)."""
    names = wait_for_readers(present)
    if bool(names) != present:
        raise AssertionError(f"no {what} within {MOVE_TIMEOUT_SECONDS:.0f} s")
    print(f"RECONFIGURE {what} seen in pcscd's reader list", flush=True)
    return names


def reconfigure():
    """bConfigurationValue 0 then 1: the kernel sends SET_CONFIGURATION 0 and 1,
    libccid lets the reader go and takes it again; then GET CHALLENGE answers."""
    value = f"{device_dir()}/bConfigurationValue"
    with open(value, "w") as f:
        f.write("0")
    wait_for_list(False, "reader gone (configuration 0)")
    with open(value, "w") as f:
        f.write("1")
    names = wait_for_list(True, "reader back (configuration 1)")
    with open(value) as f:
        configured = f.read().strip()
    if configured != "1":
        raise AssertionError(f"bConfigurationValue reads {configured!r} after writing 1")
    # pcscd lists the reader while libccid still opens it and before its event
    # thread has seen the card: a connect then fails SCARD_E_NO_SMARTCARD (seen
    # once in 11 runs). A client waits for the card first.
    _, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    wait_for(context, str(names[0]), scard.SCARD_STATE_PRESENT, "card after reconfiguring")
    scard.SCardReleaseContext(context)
    connection = names[0].createConnection()
    connection.connect()
    answer, sw1, sw2 = connection.transmit([0x00, 0x84, 0x00, 0x00, 0x08])
    if (sw1, sw2) != (0x90, 0x00) or len(answer) != 8:
        raise AssertionError(f"GET CHALLENGE after reconfiguring: {sw1:02X} {sw2:02X}")
    connection.disconnect()
    print("RECONFIGURE the reader answers after SET_CONFIGURATION 0 and 1", flush=True)


def main():
    names = wait_for_readers()
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
    pin_pad = ""
    if "--keys" in serve_args():
        check_pin_pad(connection)
        pin_pad = ", PIN pad checked"

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
    card_moved(context, reader, scard.SCARD_STATE_EMPTY, "removal")
    print("CLIENT insert-now", flush=True)
    card_moved(context, reader, scard.SCARD_STATE_PRESENT, "insertion")
    again = names[0].createConnection()
    again.connect()
    _, sw1, sw2 = again.transmit([0x00, 0x84, 0x00, 0x00, 0x08])
    if (sw1, sw2) != (0x90, 0x00):
        raise AssertionError(f"GET CHALLENGE on the new card: {sw1:02X} {sw2:02X}")
    checks += 1
    again.disconnect()
    scard.SCardReleaseContext(context)
    reconfigure()
    checks += 1
    print(
        f"CLIENT ok {checks} APDUs checked, {rate:.0f} round trips/s, card moves seen, "
        f"reconfigured{pin_pad}"
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # reported, not hidden: the summary says failed
        print(f"CLIENT failed: {type(e).__name__}: {e}")
        sys.exit(1)

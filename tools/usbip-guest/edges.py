#!/usr/bin/env python3
"""USB edge cases run inside the USB/IP guest (tools/usbip-guest.sh with
USBIP_GUEST_CHECK=edges) on the attached reader, through the guest's real
kernel (usbfs, vhci-hcd) with pyusb and no pcscd: the host-facing scenarios
cli/tests/usbip_serve.rs plays with its own USB/IP client, ported. The server
runs a slow card (`--slow --work-ms 1500`: a time extension before each
XfrBlock's answer, which comes 1.5 s later). Each case powers the card on
first (IccPowerOn: a DataBlock with the ATR), so each expects the card active:

- set-interface: SET_INTERFACE (interface 0, alternate setting 0, libusb's
  set_interface_alt_setting) inside a bulk-OUT message (64 bytes of an
  XfrBlock announcing 200 sent): the next message is read from its first byte;
- clear-halt-out: bulk OUT halted (SET_FEATURE(ENDPOINT_HALT), GET_STATUS says
  so) inside a message, then libusb_clear_halt: the same;
- clear-halt-in: bulk IN halted and cleared (libusb_clear_halt) after the first
  64-byte packet of a 162-byte answer: the packet the device had handed to the
  bus comes alone, ended by a zero-length packet (a read of 65546 bytes gets
  64), and the next answer comes whole;
- set-configuration: SET_CONFIGURATION 1 again (libusb_set_configuration of
  the active configuration: the kernel's usb_reset_configuration) while an
  answer waits on bulk IN: that answer is dropped, the next command's comes;
- class-abort: the class request ABORT (bRequest 01, wValue bSeq << 8 | bSlot)
  first, a GetSlotStatus then fails CMD_ABORTED, the PC_to_RDR_Abort of the
  same bSeq is answered with RDR_to_PC_SlotStatus, the next command works;
- set-configuration-refused: SET_CONFIGURATION 2 as a raw control transfer (the
  device has configuration 1 only): STALLed (-EPIPE), GET_CONFIGURATION still
  says 1 and the card is still active;
- malformed-abort: after the class ABORT (bSeq 5), a PC_to_RDR_Abort whose
  dwLength is 1 (with its byte, then without it: a short transfer) fails
  CMD_ABORTED as any other message and the slot still waits for its Abort;
  one with no pair waiting fails bError 1 (dwLength), and the class ABORT after
  it starts a pair of its own;
- abort-running: ABORT and PC_to_RDR_Abort while the slow card works on an
  ECHO: the ECHO fails CMD_ABORTED, the Abort gets the slot status, the next
  command works;
- unlink: a bulk-IN read that times out (libusb cancels it, vhci-hcd sends
  USBIP_CMD_UNLINK), idle and while the slow card works: nothing is lost (the
  ECHO's answer comes on the next read, once) and the next exchange gets its
  own answer.

Prints `EDGE <name>: ok` or `EDGE <name>: FAILED <details>` for each and
`EDGES ok N of N` or `EDGES FAILED <failed> of N: <names>` last."""

import errno
import sys
import time

import usb.core
import usb.util

# usbip-serve's reader: a GemPC Twin USB.
GEMPC_TWIN = (0x08E6, 0x3437)
# A hang guard for every transfer, not a timing assertion.
TIMEOUT_MS = 10000
# A read time-out that runs out while the slow card works (1500 ms).
SHORT_MS = 300
# A bulk-IN read as large as usbip_serve.rs's (BULK_IN_LEN).
BULK_IN_LEN = 65546

# CCID 1.1 §6.1, §6.2 message types.
ICC_POWER_ON = 0x62
GET_SLOT_STATUS = 0x65
XFR_BLOCK = 0x6F
ABORT = 0x72
DATA_BLOCK = 0x80
SLOT_STATUS = 0x81
# bmCommandStatus (bStatus bits 6-7): failed, time extension.
FAILED = 0x40
TIME_EXTENSION = 0x80
CMD_ABORTED = 0xFF

# USB 2.0 §9.4 requests to endpoint 0.
GET_STATUS = 0x00
SET_FEATURE = 0x03
GET_CONFIGURATION = 0x08
SET_CONFIGURATION = 0x09
ENDPOINT_HALT = 0x00
# CCID 1.1 §5.3.1: the class request ABORT, to the interface.
CLASS_ABORT = 0x01


def message(kind, seq, data=b""):
    """A PC_to_RDR message for slot 0, its three specific bytes 0."""
    return bytes([kind]) + len(data).to_bytes(4, "little") + bytes([0, seq, 0, 0, 0]) + bytes(data)


def echo(seq, data):
    """XfrBlock of the simulated card's ECHO (80 EE): `data` and 90 00 back."""
    return message(XFR_BLOCK, seq, bytes([0x80, 0xEE, 0, 0, len(data)]) + bytes(data) + b"\x00")


def hexs(data):
    return bytes(data).hex(" ")


class Reader:
    """The attached reader through pyusb: interface 0 claimed, its endpoints."""

    def __init__(self):
        self.dev = usb.core.find(idVendor=GEMPC_TWIN[0], idProduct=GEMPC_TWIN[1])
        if self.dev is None:
            raise AssertionError("the attached reader is not found (08E6:3437)")
        if self.dev.is_kernel_driver_active(0):
            self.dev.detach_kernel_driver(0)
        self.claim()
        interface = self.dev.get_active_configuration()[(0, 0)]
        kinds = {}
        for ep in interface:
            kind = (usb.util.endpoint_type(ep.bmAttributes), usb.util.endpoint_direction(ep.bEndpointAddress))
            kinds[kind] = ep.bEndpointAddress
        self.out = kinds[(usb.util.ENDPOINT_TYPE_BULK, usb.util.ENDPOINT_OUT)]
        self.bulk_in = kinds[(usb.util.ENDPOINT_TYPE_BULK, usb.util.ENDPOINT_IN)]
        self.interrupt = kinds[(usb.util.ENDPOINT_TYPE_INTR, usb.util.ENDPOINT_IN)]
        print(
            f"EDGE endpoints: bulk OUT {self.out:02X}, bulk IN {self.bulk_in:02X}, "
            f"interrupt IN {self.interrupt:02X}",
            flush=True,
        )

    def claim(self):
        usb.util.claim_interface(self.dev, 0)

    def release(self):
        usb.util.release_interface(self.dev, 0)

    def write(self, data):
        sent = self.dev.write(self.out, data, TIMEOUT_MS)
        if sent != len(data):
            raise AssertionError(f"bulk OUT took {sent} of {len(data)} bytes")

    def read(self, size=BULK_IN_LEN, timeout=TIMEOUT_MS):
        return bytes(self.dev.read(self.bulk_in, size, timeout))

    def answer(self, seq, size=BULK_IN_LEN):
        """The next bulk-IN read that is not a time extension (each of those
        checked to be one for `seq`)."""
        while True:
            got = self.read(size)
            if len(got) == 10 and got[7] == TIME_EXTENSION:
                if not is_time_extension(got, seq):
                    raise AssertionError(f"time extension {hexs(got)}, not for bSeq {seq}")
                continue
            return got

    def working(self, seq):
        """The next bulk-IN read is a time extension for `seq`: the slow card
        works on that command."""
        extension = self.read()
        if not is_time_extension(extension, seq):
            raise AssertionError(f"not a time extension for bSeq {seq} (the card works): {hexs(extension)}")

    def exchange(self, msg):
        self.write(msg)
        return self.answer(msg[6])

    def power_on(self, seq):
        """IccPowerOn: a DataBlock (bSlot 0, this bSeq, bStatus 0, bError 0)
        with an ATR of dwLength bytes."""
        got = self.exchange(message(ICC_POWER_ON, seq))
        length = int.from_bytes(got[1:5], "little")
        if got[0] != DATA_BLOCK or got[5:9] != bytes([0, seq, 0, 0]) or length == 0 or len(got) != 10 + length:
            raise AssertionError(f"IccPowerOn bSeq {seq}: {hexs(got)}")

    def expect(self, msg, expected, what):
        got = self.exchange(msg)
        if got != bytes(expected):
            raise AssertionError(f"{what}: {hexs(got)}, not {hexs(expected)}")

    def slot_status(self, seq):
        """GetSlotStatus: the card active, the clock running."""
        self.expect(message(GET_SLOT_STATUS, seq), slot_status_answer(seq), f"GetSlotStatus bSeq {seq:02X}")

    def halt(self, endpoint):
        """SET_FEATURE(ENDPOINT_HALT), then GET_STATUS says halted."""
        self.dev.ctrl_transfer(0x02, SET_FEATURE, ENDPOINT_HALT, endpoint, None, TIMEOUT_MS)
        self.assert_halted(endpoint, True)

    def assert_halted(self, endpoint, halted):
        status = bytes(self.dev.ctrl_transfer(0x82, GET_STATUS, 0, endpoint, 2, TIMEOUT_MS))
        if status != bytes([int(halted), 0]):
            raise AssertionError(f"GET_STATUS of {endpoint:02X}: {hexs(status)}, halted is {halted}")

    def class_abort(self, seq):
        self.dev.ctrl_transfer(0x21, CLASS_ABORT, seq << 8, 0, None, TIMEOUT_MS)

    def drain(self):
        """After a failed case: clear both bulk endpoints (a case may have
        left one halted; the clear also drops half a bulk-OUT message), then
        read what the device still has for the host."""
        try:
            self.dev.clear_halt(self.out)
            self.dev.clear_halt(self.bulk_in)
            while True:
                self.read(timeout=2000)
        except usb.core.USBError:  # the timeout that ends the reads, or worse: the next case says
            pass


def is_time_extension(got, seq):
    """`got` is an RDR_to_PC_DataBlock time extension for `seq`: dwLength 0,
    bSlot 0, bStatus 80 (time extension), a multiplier (bError) not 0,
    bChainParameter 0."""
    header = bytes([DATA_BLOCK, 0, 0, 0, 0, 0, seq, TIME_EXTENSION])
    return len(got) == 10 and got[:8] == header and got[8] != 0 and got[9] == 0


def slot_status_answer(seq, status=0, error=0):
    """RDR_to_PC_SlotStatus for bSlot 0 and `seq`: dwLength 0, bStatus,
    bError, bClockStatus 0 (running)."""
    return [SLOT_STATUS, 0, 0, 0, 0, 0, seq, status, error, 0]


def inside_a_long_message(r):
    """The first 64 bytes of an XfrBlock (bSeq 9) announcing 200: the device
    takes the packet and waits for the rest."""
    r.write(echo(9, [0xA5] * 194)[:64])


def starts_over(r, reset):
    """`reset` inside a long message: the next message is read from its first
    byte, and answered, as the one after it."""
    r.power_on(0x40)
    inside_a_long_message(r)
    reset()
    r.slot_status(0x42)
    r.slot_status(0x43)


def set_interface(r):
    starts_over(r, lambda: r.dev.set_interface_altsetting(interface=0, alternate_setting=0))


def clear_halt_out(r):
    def clear():
        r.halt(r.out)
        r.dev.clear_halt(r.out)
        r.assert_halted(r.out, False)

    starts_over(r, clear)


def clear_halt_in(r):
    r.power_on(0)
    r.write(echo(1, [0x5A] * 150))
    first = r.answer(1, 64)
    if first != bytes([DATA_BLOCK, 152, 0, 0, 0, 0, 1, 0, 0, 0]) + bytes([0x5A] * 54):
        raise AssertionError(f"first packet of the ECHO's answer: {hexs(first)}")
    r.halt(r.bulk_in)
    r.dev.clear_halt(r.bulk_in)
    r.assert_halted(r.bulk_in, False)
    held = r.read()
    if held != bytes([0x5A] * 64):
        raise AssertionError(f"after the clear: {len(held)} bytes {hexs(held[:16])}..., not the 64 bytes of 5A the bus held")
    r.slot_status(2)


def set_configuration(r):
    r.power_on(4)
    r.write(message(GET_SLOT_STATUS, 5))
    # usbfs resets the configuration only with no interface claimed.
    r.release()
    r.dev.set_configuration(1)
    r.claim()
    r.slot_status(6)
    r.slot_status(7)


def set_configuration_refused(r):
    r.power_on(4)
    try:
        r.dev.ctrl_transfer(0x00, SET_CONFIGURATION, 2, 0, None, TIMEOUT_MS)
    except usb.core.USBError as e:
        if e.errno != errno.EPIPE:
            raise AssertionError(f"SET_CONFIGURATION 2: {e}, not a STALL (EPIPE)") from e
    else:
        raise AssertionError("SET_CONFIGURATION 2 accepted")
    configuration = bytes(r.dev.ctrl_transfer(0x80, GET_CONFIGURATION, 0, 0, 1, TIMEOUT_MS))
    if configuration != b"\x01":
        raise AssertionError(f"GET_CONFIGURATION after the refusal: {hexs(configuration)}")
    r.slot_status(5)


def malformed_abort(r):
    def failed(seq, error):
        return slot_status_answer(seq, FAILED, error)

    def with_data(seq):
        return message(ABORT, seq, b"\xAA")

    r.power_on(4)
    r.class_abort(5)
    r.expect(with_data(5), failed(5, CMD_ABORTED), "an Abort bSeq 5 with a byte of data")
    r.expect(with_data(5)[:10], failed(5, CMD_ABORTED), "an Abort bSeq 5 a byte short")
    r.expect(message(GET_SLOT_STATUS, 7), failed(7, CMD_ABORTED), "GetSlotStatus bSeq 7: still waiting")
    r.expect(message(ABORT, 5), slot_status_answer(5), "its Abort bSeq 5")
    r.expect(with_data(6), failed(6, 1), "an Abort bSeq 6 with a byte, no pair waiting: bError 1")
    r.class_abort(6)
    r.expect(message(GET_SLOT_STATUS, 8), failed(8, CMD_ABORTED), "GetSlotStatus bSeq 8: a pair of its own")
    r.expect(message(ABORT, 6), slot_status_answer(6), "its Abort bSeq 6")
    r.slot_status(9)


def class_abort(r):
    r.power_on(4)
    r.class_abort(5)
    r.expect(message(GET_SLOT_STATUS, 6), slot_status_answer(6, FAILED, CMD_ABORTED), "GetSlotStatus bSeq 6: CMD_ABORTED")
    r.expect(message(ABORT, 5), slot_status_answer(5), "the Abort bSeq 5")
    r.slot_status(7)


def abort_running(r):
    r.power_on(0)
    r.write(echo(1, [0x12, 0x34]))
    r.working(1)
    r.class_abort(1)
    r.write(message(ABORT, 1))
    aborted = r.answer(1)
    if aborted != bytes([DATA_BLOCK, 0, 0, 0, 0, 0, 1, FAILED, CMD_ABORTED, 0]):
        raise AssertionError(f"the ECHO: {hexs(aborted)}, not CMD_ABORTED")
    status = r.read()
    if status != bytes(slot_status_answer(1)):
        raise AssertionError(f"the Abort bSeq 1: {hexs(status)}")
    r.slot_status(2)


def timed_out(r):
    """A bulk-IN read of SHORT_MS that must time out (the kernel unlinks it)."""
    try:
        got = r.read(timeout=SHORT_MS)
    except usb.core.USBTimeoutError:
        return
    raise AssertionError(f"a read that should time out got {hexs(got)}")


def unlink(r):
    r.power_on(0)
    timed_out(r)
    r.slot_status(1)
    r.write(echo(2, [0x12, 0x34]))
    r.working(2)
    timed_out(r)
    got = r.answer(2)
    expected = bytes([DATA_BLOCK, 4, 0, 0, 0, 0, 2, 0, 0, 0, 0x12, 0x34, 0x90, 0x00])
    if got != expected:
        raise AssertionError(f"the ECHO after the unlink: {hexs(got)}, not {hexs(expected)}")
    r.slot_status(3)


CASES = (
    ("set-interface", set_interface),
    ("clear-halt-out", clear_halt_out),
    ("clear-halt-in", clear_halt_in),
    ("set-configuration", set_configuration),
    ("set-configuration-refused", set_configuration_refused),
    ("class-abort", class_abort),
    ("malformed-abort", malformed_abort),
    ("abort-running", abort_running),
    ("unlink", unlink),
)


def main():
    try:
        r = Reader()
    except Exception as e:  # reported: the summary says failed
        print(f"EDGES FAILED {len(CASES)} of {len(CASES)}: no reader ({type(e).__name__}: {e})", flush=True)
        return 1
    failed = []
    for name, case in CASES:
        start = time.monotonic()
        try:
            case(r)
            print(f"EDGE {name}: ok ({time.monotonic() - start:.2f} s)", flush=True)
        except Exception as e:  # reported, not hidden
            print(f"EDGE {name}: FAILED {type(e).__name__}: {e}", flush=True)
            failed.append(name)
            r.drain()
    if failed:
        print(f"EDGES FAILED {len(failed)} of {len(CASES)}: {', '.join(failed)}", flush=True)
        return 1
    print(f"EDGES ok {len(CASES)} of {len(CASES)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

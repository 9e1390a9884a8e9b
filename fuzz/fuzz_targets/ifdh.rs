//! pcscd's arguments through the IFD handler (readerkit-pcsclite's exported
//! `IFDH*` functions, as pcscd calls them) on a `sim:` reader: capability tags
//! and lengths, power actions, protocol masks, APDUs with their protocol and
//! answer room, control codes with their input and answer room, any of the
//! pointers NULL, and a Lun nobody opened.
//!
//! Input: byte 0 picks the simulated card (`t0`, `t1`, `t0t1`, `t1crc`, `empty`),
//! then calls, each an op byte (low 3 bits; the high bits choose NULL pointers
//! and a wrong Lun) and its arguments: 0 `IFDHGetCapabilities` (a tag and the
//! room), 1 `IFDHSetCapabilities` (a tag and a value), 2
//! `IFDHSetProtocolParameters` (the mask byte), 3 `IFDHPowerICC` (the action and
//! the ATR room), 4 `IFDHTransmitToICC` (the protocol, the APDU, the answer
//! room), 5 `IFDHControl` (the code, the input, the answer room), 6
//! `IFDHICCPresence`, 7 `IFDHCreateChannelByName` on the Lun already open. A
//! byte string is a length byte and that many bytes; a room is one byte (up to
//! 255) or, above 0xF0, two more bytes. The channel is opened first and closed
//! at the end. The seeds are pcscd's calls of a session (`tests/pcscd.rs`): the
//! capabilities it asks at start, presence, power-up, the protocol, APDUs, the
//! part 10 feature request, the simulated reader's slot, fault and key
//! switches, a PIN verification on its pad, power-down.
//!
//! Checks, after every call:
//! * no panic (libfuzzer-sys's hook aborts before the binding's own
//!   `catch_unwind` could turn it into `IFD_COMMUNICATION_ERROR`), and every
//!   answer one of the `IFD_*` codes the call may give;
//! * a Lun nobody opened gets `IFD_NO_SUCH_DEVICE` (or
//!   `IFD_COMMUNICATION_ERROR` when the length pointer checked before it is
//!   NULL), an open one `IFD_COMMUNICATION_ERROR` when opened again;
//! * nothing written past the room the caller gave (guard bytes after every
//!   buffer), and a written length within that room; a capability or power-up
//!   that fails leaves the caller's length and buffer as they were (but the
//!   power-up's length: 0), a transmit or control that fails reports 0 bytes;
//! * `SCARD_ATTR_MAXINPUT` is a 4-byte DWORD in this host's byte order (pcsc-lite
//!   reads it in place): 65 544 for a `sim:` reader;
//! * a power-up or reset with nowhere to put the ATR, or an unknown action, is
//!   refused before the card is touched: the reader's ATR is the same before
//!   and after; a power-up that gives an ATR of 1 to 33 bytes leaves that ATR as
//!   the reader's (`TAG_IFD_ATR` and `SCARD_ATTR_ATR_STRING` both read it back);
//! * a transmit that succeeds over T=0 or T=1 returns at least SW1 SW2 and
//!   echoes the protocol in `RecvPci`; a mask with no T=0, T=1 or RAW bit is
//!   `IFD_PROTOCOL_NOT_SUPPORTED`; a control code that is no vendor code is
//!   `IFD_ERROR_NOT_SUPPORTED`.
#![no_main]

use std::ptr::null_mut;

use ifd_readerkit::ifdh::*;
use ifd_readerkit::part10::pcsclite_ctl_code;
use libfuzzer_sys::fuzz_target;
use readerkit::Status;
use readerkit::attr;
use readerkit_host_readers::sim::{FN_SIM_CARD, FN_SIM_FAULT, FN_SIM_KEYS};

/// The Lun the target opens (reader 0x42's slot 0), and one nobody opens.
const LUN: DWORD = 0x0042_0000;
const OTHER_LUN: DWORD = 0x0043_0000;

/// Bytes after every buffer handed out, which no call may write.
const GUARD: usize = 16;
const GUARD_BYTE: u8 = 0xA5;

/// The simulated cards a `sim:` reader names.
const CARDS: [&str; 5] = ["sim:t0", "sim:t1", "sim:t0t1", "sim:t1crc", "sim:empty"];

/// Capability tags pcscd asks, attributes of the core, and anything.
const TAGS: [DWORD; 12] = [
    TAG_IFD_ATR,
    TAG_IFD_SLOTNUM,
    TAG_IFD_SLOTS_NUMBER,
    TAG_IFD_SIMULTANEOUS_ACCESS,
    TAG_IFD_THREAD_SAFE,
    TAG_IFD_SLOT_THREAD_SAFE,
    TAG_IFD_POLLING_THREAD_KILLABLE,
    TAG_IFD_POLLING_THREAD_WITH_TIMEOUT,
    SCARD_ATTR_MAXINPUT,
    attr::ATR_STRING as DWORD,
    attr::VENDOR_NAME as DWORD,
    attr::CURRENT_PROTOCOL_TYPE as DWORD,
];

/// The calls' bytes (zeros past their end).
struct Input<'a> {
    bytes: &'a [u8],
}

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let (&b, rest) = self.bytes.split_first().unwrap_or((&0, &[]));
        self.bytes = rest;
        b
    }

    fn word(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    /// A length byte and that many bytes (fewer if the input ends).
    fn string(&mut self) -> Vec<u8> {
        let n = usize::from(self.byte()).min(self.bytes.len());
        let (taken, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        taken.to_vec()
    }

    /// A room: one byte, or two more above 0xF0.
    fn room(&mut self) -> usize {
        match self.byte() {
            0xF1..=0xFF => usize::from(u16::from_le_bytes([self.byte(), self.byte()])),
            n => usize::from(n),
        }
    }

    fn tag(&mut self) -> DWORD {
        match self.byte() {
            n @ 0..=239 => TAGS[usize::from(n) % TAGS.len()],
            _ => DWORD::from(self.word()),
        }
    }

    /// A control code: the simulated reader's switches, part 10's feature
    /// request and PIN functions, any vendor function, anything.
    fn control_code(&mut self) -> DWORD {
        let vendor = |function: u16| DWORD::from(pcsclite_ctl_code(function));
        match self.byte() % 8 {
            0 => vendor(FN_SIM_CARD),
            1 => vendor(FN_SIM_FAULT),
            2 => vendor(FN_SIM_KEYS),
            3 => vendor(3400),
            4 => vendor(readerkit::part10::FN_VERIFY_PIN_DIRECT),
            5 => vendor(readerkit::part10::FN_MODIFY_PIN_DIRECT),
            6 => vendor(u16::from_le_bytes([self.byte(), self.byte()]) & 0x0FFF),
            _ => DWORD::from(self.word()),
        }
    }
}

/// A buffer of `room` bytes followed by the guard.
struct Buffer {
    bytes: Vec<u8>,
    room: usize,
}

impl Buffer {
    fn new(room: usize) -> Buffer {
        let mut bytes = vec![0x5A; room];
        bytes.extend([GUARD_BYTE; GUARD]);
        Buffer { bytes, room }
    }

    fn ptr(&mut self, null: bool) -> *mut u8 {
        if null {
            null_mut()
        } else {
            self.bytes.as_mut_ptr()
        }
    }

    /// Check the guard; the first `n` bytes (at most the room).
    fn written(&self, what: &str, n: usize) -> &[u8] {
        assert!(
            self.bytes[self.room..].iter().all(|&b| b == GUARD_BYTE),
            "{what} wrote past its {} bytes",
            self.room
        );
        assert!(
            n <= self.room,
            "{what}: {n} bytes in a room of {}",
            self.room
        );
        &self.bytes[..n]
    }

    /// Check the guard and that nothing at all was written.
    fn untouched(&self, what: &str) {
        self.written(what, 0);
        assert!(
            self.bytes[..self.room].iter().all(|&b| b == 0x5A),
            "{what} failed but wrote its buffer"
        );
    }
}

/// Check `rc` against the codes `what` may give (every call may also give
/// `IFD_COMMUNICATION_ERROR` and `IFD_NO_SUCH_DEVICE`; a request's failure,
/// `any_status`, the code of any core status).
fn check_code(what: &str, rc: RESPONSECODE, allowed: &[RESPONSECODE], any_status: bool) {
    let always = [IFD_SUCCESS, IFD_COMMUNICATION_ERROR, IFD_NO_SUCH_DEVICE];
    let of_status = |rc: RESPONSECODE| {
        any_status && Status::ALL.iter().any(|s| s.to_ifd() as RESPONSECODE == rc)
    };
    assert!(
        always.contains(&rc) || allowed.contains(&rc) || of_status(rc),
        "{what}: undocumented answer {rc}"
    );
}

/// The reader's ATR through `tag` (room 64), empty without a powered card.
fn reader_atr(tag: DWORD) -> Vec<u8> {
    let mut buf = Buffer::new(64);
    let mut len: DWORD = 64;
    // SAFETY: a valid length and a buffer of its room.
    let rc = unsafe { IFDHGetCapabilities(LUN, tag, &mut len, buf.ptr(false)) };
    assert_eq!(rc, IFD_SUCCESS, "the ATR through {tag:#x}");
    buf.written("IFDHGetCapabilities", len as usize).to_vec()
}

fn get_capabilities(input: &mut Input<'_>, lun: DWORD, nulls: u8) -> RESPONSECODE {
    let tag = input.tag();
    let room = input.room();
    let mut buf = Buffer::new(room);
    let mut len = room as DWORD;
    let len_ptr: *mut DWORD = if nulls & 1 != 0 { null_mut() } else { &mut len };
    // SAFETY: the length NULL or valid, the buffer NULL or of `len` bytes.
    let rc = unsafe { IFDHGetCapabilities(lun, tag, len_ptr, buf.ptr(nulls & 2 != 0)) };
    let what = "IFDHGetCapabilities";
    check_code(
        what,
        rc,
        &[IFD_ERROR_TAG, IFD_ERROR_INSUFFICIENT_BUFFER],
        true,
    );
    if len_ptr.is_null() {
        assert_eq!(rc, IFD_COMMUNICATION_ERROR, "{what} with no length");
    }
    if rc == IFD_SUCCESS {
        let written = buf.written(what, len as usize);
        if tag == SCARD_ATTR_MAXINPUT {
            // A DWORD in this host's order, as pcsc-lite reads it: the longest
            // command APDU of a `sim:` reader (4 + 3 + 65 535 + 2).
            let value = <[u8; 4]>::try_from(written).ok().map(u32::from_ne_bytes);
            assert_eq!(value, Some(65_544), "{what}: MAXINPUT, a DWORD");
        }
    } else {
        assert_eq!(
            len, room as DWORD,
            "{what} failed ({rc}) but wrote its length"
        );
        buf.untouched(what);
    }
    rc
}

fn set_capabilities(input: &mut Input<'_>, lun: DWORD, nulls: u8) -> RESPONSECODE {
    let tag = input.tag();
    let mut value = input.string();
    let (ptr, len) = if nulls & 1 != 0 {
        (null_mut(), DWORD::from(input.byte()))
    } else {
        (value.as_mut_ptr(), value.len() as DWORD)
    };
    // SAFETY: the value NULL or of `len` bytes.
    let rc = unsafe { IFDHSetCapabilities(lun, tag, len, ptr) };
    check_code(
        "IFDHSetCapabilities",
        rc,
        &[IFD_ERROR_TAG, IFD_ERROR_SET_FAILURE],
        false,
    );
    rc
}

fn set_protocol(input: &mut Input<'_>, lun: DWORD) -> RESPONSECODE {
    let mask = DWORD::from(input.byte());
    let (flags, pts1) = (input.byte(), input.byte());
    // SAFETY: plain values.
    let rc = unsafe { IFDHSetProtocolParameters(lun, mask, flags, pts1, 0, 0) };
    check_code(
        "IFDHSetProtocolParameters",
        rc,
        &[
            IFD_PROTOCOL_NOT_SUPPORTED,
            IFD_ERROR_PTS_FAILURE,
            IFD_ICC_NOT_PRESENT,
        ],
        false,
    );
    if lun == LUN && mask & 7 == 0 {
        assert_eq!(rc, IFD_PROTOCOL_NOT_SUPPORTED, "protocol mask {mask:#x}");
    }
    rc
}

fn power(input: &mut Input<'_>, lun: DWORD, nulls: u8) -> RESPONSECODE {
    let action = match input.byte() % 5 {
        0 | 1 => IFD_POWER_UP,
        2 => IFD_POWER_DOWN,
        3 => IFD_RESET,
        _ => DWORD::from(input.word()),
    };
    let room = input.room();
    let mut buf = Buffer::new(room);
    let mut len = room as DWORD;
    let len_ptr: *mut DWORD = if nulls & 1 != 0 { null_mut() } else { &mut len };
    let atr_ptr = buf.ptr(nulls & 2 != 0);
    let known = [IFD_POWER_UP, IFD_POWER_DOWN, IFD_RESET].contains(&action);
    // Refused before the card is touched: an unknown action, a power-up or reset
    // with nowhere to put the ATR.
    let refused = lun == LUN
        && (!known || (action != IFD_POWER_DOWN && (len_ptr.is_null() || atr_ptr.is_null())));
    let before = refused.then(|| reader_atr(TAG_IFD_ATR));
    // SAFETY: the length NULL or valid, the buffer NULL or of `len` bytes.
    let rc = unsafe { IFDHPowerICC(lun, action, atr_ptr, len_ptr) };
    let what = "IFDHPowerICC";
    check_code(
        what,
        rc,
        &[
            IFD_NOT_SUPPORTED,
            IFD_ERROR_POWER_ACTION,
            IFD_ICC_NOT_PRESENT,
            IFD_ERROR_INSUFFICIENT_BUFFER,
        ],
        false,
    );
    if let Some(before) = before {
        assert_ne!(rc, IFD_SUCCESS, "{what} {action} should have been refused");
        assert_eq!(
            reader_atr(TAG_IFD_ATR),
            before,
            "a refused {what} touched the card"
        );
        buf.untouched(what);
        return rc;
    }
    if len_ptr.is_null() {
        buf.untouched(what);
        return rc;
    }
    let n = len as usize;
    if rc != IFD_SUCCESS {
        if rc != IFD_NO_SUCH_DEVICE {
            assert_eq!(n, 0, "{what} failed ({rc}) with a length");
        }
        buf.untouched(what);
        return rc;
    }
    let atr = buf.written(what, n).to_vec();
    assert!(atr.len() <= 33, "a {}-byte ATR", atr.len());
    if lun == LUN && action != IFD_POWER_DOWN && !atr.is_empty() {
        assert_eq!(reader_atr(TAG_IFD_ATR), atr, "TAG_IFD_ATR after {what}");
        assert_eq!(
            reader_atr(attr::ATR_STRING as DWORD),
            atr,
            "SCARD_ATTR_ATR_STRING after {what}"
        );
    }
    rc
}

/// An APDU: a few pcscd sends, or the fuzzer's bytes.
fn apdu(input: &mut Input<'_>) -> Vec<u8> {
    match input.byte() % 4 {
        0 => vec![0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00],
        1 => vec![0x00, 0x84, 0x00, 0x00, 0x08],
        _ => input.string(),
    }
}

fn transmit(input: &mut Input<'_>, lun: DWORD, nulls: u8) -> RESPONSECODE {
    let protocol = match input.byte() % 5 {
        0 => 0,
        1 | 2 => 1,
        3 => 4,
        _ => DWORD::from(input.word()),
    };
    let mut command = apdu(input);
    let room = input.room();
    let mut buf = Buffer::new(room);
    let mut len = room as DWORD;
    let len_ptr: *mut DWORD = if nulls & 1 != 0 { null_mut() } else { &mut len };
    let (tx, tx_len) = if nulls & 4 != 0 {
        (null_mut(), command.len() as DWORD)
    } else {
        (command.as_mut_ptr(), command.len() as DWORD)
    };
    let send = ScardIoHeader {
        protocol,
        length: 8,
    };
    let mut recv = ScardIoHeader {
        protocol: 0xEE,
        length: 0,
    };
    // SAFETY: the command NULL or of `tx_len` bytes, the answer NULL or of `len`
    // bytes, the length and RecvPci valid or NULL.
    let rc = unsafe {
        IFDHTransmitToICC(
            lun,
            send,
            tx,
            tx_len,
            buf.ptr(nulls & 2 != 0),
            len_ptr,
            &mut recv,
        )
    };
    let what = "IFDHTransmitToICC";
    check_code(
        what,
        rc,
        &[IFD_PROTOCOL_NOT_SUPPORTED, IFD_ERROR_INSUFFICIENT_BUFFER],
        true,
    );
    let Some(answer) = answered(what, rc, (!len_ptr.is_null()).then_some(len), &buf) else {
        return rc;
    };
    assert_eq!(recv.protocol, protocol, "{what}: RecvPci");
    if protocol <= 1 && !command.is_empty() {
        assert!(answer.len() >= 2, "{what} over T={protocol}: {answer:02X?}");
    }
    rc
}

/// The answer of a transmit or control whose byte count went to `count` (`None`:
/// its pointer was NULL, refused): the bytes written on success, none on a
/// failure (a count of 0, the buffer untouched).
fn answered<'b>(
    what: &str,
    rc: RESPONSECODE,
    count: Option<DWORD>,
    buf: &'b Buffer,
) -> Option<&'b [u8]> {
    let Some(n) = count else {
        assert_eq!(rc, IFD_COMMUNICATION_ERROR, "{what} with no count");
        buf.untouched(what);
        return None;
    };
    if rc != IFD_SUCCESS {
        assert_eq!(n, 0, "{what} failed ({rc}) with a count");
        buf.untouched(what);
        return None;
    }
    Some(buf.written(what, n as usize))
}

fn control(input: &mut Input<'_>, lun: DWORD, nulls: u8) -> RESPONSECODE {
    let code = input.control_code();
    let mut command = input.string();
    let room = input.room();
    let mut buf = Buffer::new(room);
    let mut returned: DWORD = 0xDEAD;
    let returned_ptr: *mut DWORD = if nulls & 1 != 0 {
        null_mut()
    } else {
        &mut returned
    };
    let tx = if nulls & 4 != 0 {
        null_mut()
    } else {
        command.as_mut_ptr()
    };
    // SAFETY: the input NULL or of its length, the answer NULL or of `room`
    // bytes, the count valid or NULL.
    let rc = unsafe {
        IFDHControl(
            lun,
            code,
            tx,
            command.len() as DWORD,
            buf.ptr(nulls & 2 != 0),
            room as DWORD,
            returned_ptr,
        )
    };
    let what = "IFDHControl";
    check_code(
        what,
        rc,
        &[IFD_ERROR_NOT_SUPPORTED, IFD_ERROR_INSUFFICIENT_BUFFER],
        true,
    );
    if lun == LUN && !returned_ptr.is_null() && vendor_ioctl(code).is_none() {
        assert_eq!(rc, IFD_ERROR_NOT_SUPPORTED, "{what} {code:#x}");
    }
    let count = (!returned_ptr.is_null()).then_some(returned);
    answered(what, rc, count, &buf);
    rc
}

/// One call; `false` once the input is used up.
fn step(input: &mut Input<'_>) -> bool {
    if input.bytes.is_empty() {
        return false;
    }
    let op = input.byte();
    // Now and then a Lun nobody opened.
    let lun = if op & 0xE0 == 0xE0 { OTHER_LUN } else { LUN };
    let nulls = (op >> 3) & 3 | if op & 0x80 != 0 && lun == LUN { 4 } else { 0 };
    let what = op & 7;
    let rc = match what {
        0 => get_capabilities(input, lun, nulls),
        1 => set_capabilities(input, lun, nulls),
        2 => set_protocol(input, lun),
        3 => power(input, lun, nulls),
        4 => transmit(input, lun, nulls),
        5 => control(input, lun, nulls),
        6 => {
            // SAFETY: a plain call.
            let rc = unsafe { IFDHICCPresence(lun) };
            check_code(
                "IFDHICCPresence",
                rc,
                &[IFD_ICC_PRESENT, IFD_ICC_NOT_PRESENT],
                false,
            );
            rc
        }
        _ => {
            // SAFETY: a NUL-terminated name.
            let rc = unsafe { IFDHCreateChannelByName(LUN, c"sim:t1".as_ptr()) };
            assert_eq!(rc, IFD_COMMUNICATION_ERROR, "a Lun opened twice");
            rc
        }
    };
    if lun == OTHER_LUN && what != 7 {
        // The length or count pointer is checked first in some calls.
        assert!(
            matches!(rc, IFD_NO_SUCH_DEVICE | IFD_COMMUNICATION_ERROR),
            "{rc} for a Lun nobody opened"
        );
    }
    true
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input { bytes: data };
    let card = CARDS[usize::from(input.byte()) % CARDS.len()];
    let name = std::ffi::CString::new(format!("{card}:log=off")).unwrap();
    // SAFETY: a NUL-terminated name.
    assert_eq!(
        unsafe { IFDHCreateChannelByName(LUN, name.as_ptr()) },
        IFD_SUCCESS,
        "opening {card}"
    );
    for _ in 0..64 {
        if !step(&mut input) {
            break;
        }
    }
    // SAFETY: a plain call on the Lun opened above.
    assert_eq!(unsafe { IFDHCloseChannel(LUN) }, IFD_SUCCESS);
});

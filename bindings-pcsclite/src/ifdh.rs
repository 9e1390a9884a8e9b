//! The ten IFD handler API v3 functions (`ifdhandler.h` of pcsc-lite), exported
//! with their exact C signatures, plus the polling pair handed to pcscd through
//! `TAG_IFD_POLLING_THREAD_WITH_TIMEOUT` / `TAG_IFD_STOP_POLLING_THREAD`.
//!
//! Every function checks its pointers, looks the Lun up, turns the call into one
//! [`readerkit::Device::control`] request (translating pcsc-lite's codes to the
//! core's), and maps the [`Status`] to an `IFD_*` code. A panic never crosses the
//! boundary: it becomes `IFD_COMMUNICATION_ERROR`.

#![allow(non_snake_case, non_camel_case_types)]

use std::ffi::{CStr, c_char, c_int, c_long, c_uchar, c_ulong};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread;
use std::time::{Duration, Instant};

use readerkit::device::submit_logged;
use readerkit::ioctl::{ATR_BUFFER_LEN, IO_REQUEST_LEN, Ioctl, PowerAction, Request, Transmit};
use readerkit::status::ifd;
use readerkit::trace::Level;
use readerkit::{Outcome, Status, attr};

use readerkit::platform::Woken;
use readerkit_host_readers::Reader;

use crate::log::{self, ERROR, INFO};
use crate::part10::{Pcsclite, pcsclite_ctl_function};
use crate::presence::{Answer, PollStart};
use crate::registry::{self, Channel};

/// `DWORD` on Linux (8 bytes on x86_64).
pub type DWORD = c_ulong;
/// `RESPONSECODE`.
pub type RESPONSECODE = c_long;

/// `SCARD_IO_HEADER`: 16 bytes on x86_64 Linux, passed by value. A C struct of the
/// host ABI: its fields are in the host's native byte order (unlike the core's
/// SCARD_IO_REQUEST bytes, which are little-endian and built explicitly).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ScardIoHeader {
    /// T number: 0, 1, or `SCARD_PROTOCOL_RAW` (4).
    pub protocol: DWORD,
    /// The PCI length (ignored).
    pub length: DWORD,
}

// The `IFD_*` response codes are the core's (`readerkit::status::ifd`), as the C type.
/// `IFD_SUCCESS`.
pub const IFD_SUCCESS: RESPONSECODE = ifd::SUCCESS as RESPONSECODE;
/// `IFD_ERROR_TAG`.
pub const IFD_ERROR_TAG: RESPONSECODE = ifd::ERROR_TAG as RESPONSECODE;
/// `IFD_ERROR_SET_FAILURE`.
pub const IFD_ERROR_SET_FAILURE: RESPONSECODE = ifd::ERROR_SET_FAILURE as RESPONSECODE;
/// `IFD_ERROR_PTS_FAILURE`.
pub const IFD_ERROR_PTS_FAILURE: RESPONSECODE = ifd::ERROR_PTS_FAILURE as RESPONSECODE;
/// `IFD_ERROR_NOT_SUPPORTED`.
pub const IFD_ERROR_NOT_SUPPORTED: RESPONSECODE = ifd::ERROR_NOT_SUPPORTED as RESPONSECODE;
/// `IFD_PROTOCOL_NOT_SUPPORTED`.
pub const IFD_PROTOCOL_NOT_SUPPORTED: RESPONSECODE = ifd::PROTOCOL_NOT_SUPPORTED as RESPONSECODE;
/// `IFD_ERROR_POWER_ACTION`.
pub const IFD_ERROR_POWER_ACTION: RESPONSECODE = ifd::ERROR_POWER_ACTION as RESPONSECODE;
/// `IFD_COMMUNICATION_ERROR`.
pub const IFD_COMMUNICATION_ERROR: RESPONSECODE = ifd::COMMUNICATION_ERROR as RESPONSECODE;
/// `IFD_RESPONSE_TIMEOUT`.
pub const IFD_RESPONSE_TIMEOUT: RESPONSECODE = ifd::RESPONSE_TIMEOUT as RESPONSECODE;
/// `IFD_NOT_SUPPORTED`.
pub const IFD_NOT_SUPPORTED: RESPONSECODE = ifd::NOT_SUPPORTED as RESPONSECODE;
/// `IFD_ICC_PRESENT`.
pub const IFD_ICC_PRESENT: RESPONSECODE = ifd::ICC_PRESENT as RESPONSECODE;
/// `IFD_ICC_NOT_PRESENT`.
pub const IFD_ICC_NOT_PRESENT: RESPONSECODE = ifd::ICC_NOT_PRESENT as RESPONSECODE;
/// `IFD_NO_SUCH_DEVICE`.
pub const IFD_NO_SUCH_DEVICE: RESPONSECODE = ifd::NO_SUCH_DEVICE as RESPONSECODE;
/// `IFD_ERROR_INSUFFICIENT_BUFFER`.
pub const IFD_ERROR_INSUFFICIENT_BUFFER: RESPONSECODE =
    ifd::ERROR_INSUFFICIENT_BUFFER as RESPONSECODE;

/// `SCARD_ATTR_MAXINPUT` (pcsc-lite `reader.h`, vendor-defined class 7): the
/// longest command APDU the reader takes, in bytes, as a 4-byte DWORD in the
/// host's byte order.
pub const SCARD_ATTR_MAXINPUT: DWORD = 0x0007_A007;

/// `IFD_POWER_UP`.
pub const IFD_POWER_UP: DWORD = 500;
/// `IFD_POWER_DOWN`.
pub const IFD_POWER_DOWN: DWORD = 501;
/// `IFD_RESET`.
pub const IFD_RESET: DWORD = 502;

/// `TAG_IFD_ATR`.
pub const TAG_IFD_ATR: DWORD = 0x0303;
/// `TAG_IFD_SLOTNUM`.
pub const TAG_IFD_SLOTNUM: DWORD = 0x0180;
/// `TAG_IFD_SLOT_THREAD_SAFE`.
pub const TAG_IFD_SLOT_THREAD_SAFE: DWORD = 0x0FAC;
/// `TAG_IFD_THREAD_SAFE`.
pub const TAG_IFD_THREAD_SAFE: DWORD = 0x0FAD;
/// `TAG_IFD_SLOTS_NUMBER`.
pub const TAG_IFD_SLOTS_NUMBER: DWORD = 0x0FAE;
/// `TAG_IFD_SIMULTANEOUS_ACCESS`.
pub const TAG_IFD_SIMULTANEOUS_ACCESS: DWORD = 0x0FAF;
/// `TAG_IFD_POLLING_THREAD_KILLABLE`.
pub const TAG_IFD_POLLING_THREAD_KILLABLE: DWORD = 0x0FB1;
/// `TAG_IFD_STOP_POLLING_THREAD`.
pub const TAG_IFD_STOP_POLLING_THREAD: DWORD = 0x0FB2;
/// `TAG_IFD_POLLING_THREAD_WITH_TIMEOUT`.
pub const TAG_IFD_POLLING_THREAD_WITH_TIMEOUT: DWORD = 0x0FB3;

/// How many readers (reader.conf entries) one loaded library serves.
pub const MAX_READERS: u8 = 16;
/// pcscd's largest APDU buffer (`MAX_BUFFER_SIZE_EXTENDED`).
pub const MAX_BUFFER_SIZE_EXTENDED: usize = 65_548;

/// The polling function type of `TAG_IFD_POLLING_THREAD_WITH_TIMEOUT`.
pub type PollFn = unsafe extern "C" fn(DWORD, c_int) -> RESPONSECODE;
/// The stop function type of `TAG_IFD_STOP_POLLING_THREAD`.
pub type StopFn = unsafe extern "C" fn(DWORD) -> RESPONSECODE;

/// Run `f`, turning a panic into `IFD_COMMUNICATION_ERROR`.
fn guard(name: &str, f: impl FnOnce() -> RESPONSECODE) -> RESPONSECODE {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(code) => code,
        Err(_) => {
            log::log(ERROR, &format!("{name}: internal error (panic caught)"));
            IFD_COMMUNICATION_ERROR
        }
    }
}

/// The `len` bytes a C caller passed at `ptr` (empty for 0), or `None` for more than
/// [`MAX_BUFFER_SIZE_EXTENDED`] bytes or a NULL `ptr` with bytes.
///
/// # Safety
/// A non-null `ptr` holds `len` bytes, unchanged while the slice lives.
unsafe fn caller_input<'a>(ptr: *const c_uchar, len: DWORD) -> Option<&'a [u8]> {
    let len = usize::try_from(len).ok()?;
    if len == 0 {
        Some(&[])
    } else if len > MAX_BUFFER_SIZE_EXTENDED || ptr.is_null() {
        None
    } else {
        // SAFETY: non-null and holding `len` bytes (the caller's contract).
        Some(unsafe { std::slice::from_raw_parts(ptr, len) })
    }
}

/// One request through the reader's port: `Ok(bytes written)` or the failure status
/// (only IS_PRESENT / IS_ABSENT pend, and only the polling function sends them).
/// Logged in the reader's log the core's way ([`submit_logged`]): failures at
/// `info`, every request at `debug`, with its outcome and time.
fn request(reader: &Reader, request: Request<'_>, output: &mut [u8]) -> Result<usize, Status> {
    submit_logged(&reader.log, &request, || {
        reader.port.submit(request, output)
    })
    .into_result()
}

fn ifd(status: Status) -> RESPONSECODE {
    status.to_ifd() as RESPONSECODE
}

/// Open the reader `Lun` names, the one `DeviceName` names (see the
/// crate documentation).
///
/// # Safety
/// `DeviceName` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IFDHCreateChannelByName(
    Lun: DWORD,
    DeviceName: *const c_char,
) -> RESPONSECODE {
    guard("IFDHCreateChannelByName", || {
        if DeviceName.is_null() {
            return IFD_COMMUNICATION_ERROR;
        }
        // SAFETY: non-null, and pcscd passes a NUL-terminated string (the caller's
        // contract above).
        let name = unsafe { CStr::from_ptr(DeviceName) }
            .to_string_lossy()
            .into_owned();
        create(Lun, &name)
    })
}

fn create(lun: DWORD, name: &str) -> RESPONSECODE {
    if registry::get(lun).is_some() {
        log::log(ERROR, &format!("Lun {lun:#x} is already open"));
        return IFD_COMMUNICATION_ERROR;
    }
    crate::trace::install();
    let index = (lun >> 16) as u32;
    match readerkit_host_readers::open::<Pcsclite>(name, index) {
        Ok(reader) => {
            let log = reader.log.clone();
            // A Lun taken meanwhile by a racing open: the reader is dropped, its
            // thread joined.
            if !registry::insert(lun, reader) {
                return IFD_COMMUNICATION_ERROR;
            }
            log::log(INFO, &format!("Lun {lun:#x}: opened {name}"));
            log.log(Level::Debug, format_args!("log level {}", log.level));
            IFD_SUCCESS
        }
        Err(Status::NotSupported) => {
            log::log(
                ERROR,
                &format!(
                    "unknown DEVICENAME {name:?} (sim:t0, sim:t1, vpcd:PORT, \
                     serial:PATH:CHIP..., ...; each may end in :log=off|error|info|debug|trace)"
                ),
            );
            IFD_NO_SUCH_DEVICE
        }
        Err(_) => IFD_COMMUNICATION_ERROR,
    }
}

/// Legacy open by channel number (reader.conf `CHANNELID` without `DEVICENAME`):
/// channel N opens `vpcd:N`, as vsmartcard's `CHANNELID 0x8C7B` does.
///
/// # Safety
/// Always safe to call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IFDHCreateChannel(Lun: DWORD, Channel: DWORD) -> RESPONSECODE {
    guard("IFDHCreateChannel", || match u16::try_from(Channel) {
        Ok(port) if port != 0 => create(Lun, &format!("vpcd:{port}")),
        _ => IFD_NO_SUCH_DEVICE,
    })
}

/// Power the card down, stop the reader's thread and forget the Lun.
///
/// pcscd may call it while another thread is still inside a call for the Lun (see
/// [`crate::registry`]): that call keeps the reader alive until it returns. The
/// power-down waits for a request in flight under the core's serialization lock
/// (a `vpcd:` reader cuts an exchange in flight instead), and a poll waiting on the
/// reader returns: its tracking request is cancelled and its wait stopped.
///
/// # Safety
/// Always safe to call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IFDHCloseChannel(Lun: DWORD) -> RESPONSECODE {
    guard("IFDHCloseChannel", || {
        let Some(channel) = registry::remove(Lun) else {
            return IFD_NO_SUCH_DEVICE;
        };
        let reader = &channel.reader;
        if reader.port.device().state().card_powered() {
            let mut atr = [0u8; ATR_BUFFER_LEN];
            let _ = request(reader, Request::Power(PowerAction::PowerDown), &mut atr);
        }
        reader.port.cancel_tracking();
        reader.port.device().platform().stop();
        reader.shutdown();
        IFD_SUCCESS
    })
}

/// Answer a capability: the `TAG_IFD_*` tags and `SCARD_ATTR_MAXINPUT` here, every
/// other tag as an `SCARD_ATTR_*` through the core's GET_ATTRIBUTE.
///
/// `*Length` is written on success only. pcscd relies on that: for a tag the
/// driver does not know (`IFD_ERROR_TAG`) it answers `SCARD_ATTR_DEVICE_FRIENDLY_NAME`
/// and `SCARD_ATTR_DEVICE_SYSTEM_NAME` itself, into the caller's buffer of the
/// length it passed here (`SCardGetAttrib` in pcscd's `winscard.c`).
///
/// The ATR (`TAG_IFD_ATR` and `SCARD_ATTR_ATR_STRING` alike) of a card that is
/// absent or not powered is empty: success with length 0, as CCID drivers answer
/// (pcscd clients read an empty ATR, not an error); the core itself answers
/// smclib's `InvalidDeviceState` / `NoMedia` for its other hosts.
///
/// # Safety
/// `Length` is NULL or valid; `Value` is NULL or holds `*Length` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IFDHGetCapabilities(
    Lun: DWORD,
    Tag: DWORD,
    Length: *mut DWORD,
    Value: *mut c_uchar,
) -> RESPONSECODE {
    guard("IFDHGetCapabilities", || {
        if Length.is_null() {
            return IFD_COMMUNICATION_ERROR;
        }
        let Some(channel) = registry::get(Lun) else {
            return IFD_NO_SUCH_DEVICE;
        };
        let reader = &channel.reader;
        // SAFETY: non-null, and the caller's contract makes it valid.
        let length = unsafe { &mut *Length };
        match Tag {
            TAG_IFD_SLOTNUM => write_bytes(length, Value, &[(Lun & 0xFFFF) as u8]),
            TAG_IFD_SLOTS_NUMBER => write_bytes(length, Value, &[1]),
            TAG_IFD_SIMULTANEOUS_ACCESS => write_bytes(length, Value, &[MAX_READERS]),
            TAG_IFD_THREAD_SAFE => write_bytes(length, Value, &[1]),
            TAG_IFD_SLOT_THREAD_SAFE => write_bytes(length, Value, &[0]),
            // Native byte order on purpose: pcscd copies these bytes into a function
            // pointer of its own process (a host ABI value, not a wire format).
            TAG_IFD_POLLING_THREAD_WITH_TIMEOUT => write_bytes(
                length,
                Value,
                &(ifdh_polling as PollFn as usize).to_ne_bytes(),
            ),
            TAG_IFD_STOP_POLLING_THREAD => write_bytes(
                length,
                Value,
                &(ifdh_stop_polling as StopFn as usize).to_ne_bytes(),
            ),
            // pthread_cancel inside Rust frames is undefined behaviour: never killable.
            TAG_IFD_POLLING_THREAD_KILLABLE => IFD_ERROR_TAG,
            // A DWORD in this host's byte order, as the core's DWORD attributes
            // are given (`get_attribute`): pcsc-lite reads it as a uint32_t in place.
            SCARD_ATTR_MAXINPUT => write_bytes(
                length,
                Value,
                &max_command_apdu(reader.max_apdu_data).to_ne_bytes(),
            ),
            tag => {
                let (tag, atr) = match tag {
                    TAG_IFD_ATR => (attr::ATR_STRING, true),
                    other => match u32::try_from(other) {
                        Ok(t) => (t, t == attr::ATR_STRING),
                        Err(_) => return IFD_ERROR_TAG,
                    },
                };
                get_attribute(reader, tag, atr, length, Value)
            }
        }
    })
}

/// The longest command APDU, in bytes, of a reader whose data field holds up to
/// `max_apdu_data` bytes: case 4 with the longest Lc and Le fields it needs
/// (short: 4 + 1 + 255 + 1 = 261; extended: 4 + 3 + 65 535 + 2 = 65 544).
fn max_command_apdu(max_apdu_data: u32) -> u32 {
    if max_apdu_data <= 255 {
        4 + 1 + max_apdu_data + 1
    } else {
        4 + 3 + max_apdu_data.min(65_535) + 2
    }
}

/// Write `bytes` as the capability value; `*length` is left alone if they do not fit.
fn write_bytes(length: &mut DWORD, value: *mut c_uchar, bytes: &[u8]) -> RESPONSECODE {
    if (*length as usize) < bytes.len() || value.is_null() {
        return IFD_ERROR_INSUFFICIENT_BUFFER;
    }
    // SAFETY: value is non-null and holds *length >= bytes.len() bytes (caller's
    // contract); the copy is bytewise, so alignment does not matter.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), value, bytes.len()) };
    *length = bytes.len() as DWORD;
    IFD_SUCCESS
}

/// One attribute from the core; `atr` marks the ATR tags, empty without a powered
/// card. `*length` is written on success only.
fn get_attribute(
    reader: &Reader,
    tag: u32,
    atr: bool,
    length: &mut DWORD,
    value: *mut c_uchar,
) -> RESPONSECODE {
    let room = if value.is_null() {
        0
    } else {
        (*length as usize).min(MAX_BUFFER_SIZE_EXTENDED)
    };
    let mut out = vec![0u8; room];
    match request(reader, Request::GetAttribute(tag), &mut out) {
        Ok(n) => {
            // Integers in this host's order: pcsc-lite's ABI is native (DWORD values
            // are read as uint32_t in place), the core writes them little-endian.
            if attr::is_dword(tag)
                && let Some(word) = out.get_mut(..4).filter(|_| n == 4)
            {
                let value = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
                word.copy_from_slice(&value.to_ne_bytes());
            }
            // SAFETY: value is non-null whenever room > 0, holds *length >= room >= n
            // bytes, and cannot overlap our own vector.
            unsafe { std::ptr::copy_nonoverlapping(out.as_ptr(), value, n.min(room)) };
            *length = n as DWORD;
            IFD_SUCCESS
        }
        // No card, or one not powered: no ATR, length 0.
        Err(Status::NoMedia | Status::InvalidDeviceState) if atr => {
            *length = 0;
            IFD_SUCCESS
        }
        Err(Status::NotSupported | Status::InvalidParameter | Status::InvalidDeviceRequest) => {
            IFD_ERROR_TAG
        }
        // A short buffer (BufferTooSmall, BufferOverflow) is
        // IFD_ERROR_INSUFFICIENT_BUFFER by the core's status table.
        Err(status) => ifd(status),
    }
}

/// Set an `SCARD_ATTR_*` through the core's SET_ATTRIBUTE.
///
/// # Safety
/// `Value` is NULL or holds `Length` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IFDHSetCapabilities(
    Lun: DWORD,
    Tag: DWORD,
    Length: DWORD,
    Value: *mut c_uchar,
) -> RESPONSECODE {
    guard("IFDHSetCapabilities", || {
        let Some(channel) = registry::get(Lun) else {
            return IFD_NO_SUCH_DEVICE;
        };
        let reader = &channel.reader;
        // A DWORD beyond 32 bits (LP64) names no tag; `.ok()` keeps the check a
        // refutable pattern where DWORD is 32 bits (no irrefutable-let warning).
        let Some(tag) = u32::try_from(Tag).ok() else {
            return IFD_ERROR_TAG;
        };
        // SAFETY: a non-null Value holds Length bytes (the caller's contract).
        let Some(value) = (unsafe { caller_input(Value, Length) }) else {
            return IFD_ERROR_SET_FAILURE;
        };
        match request(reader, Request::SetAttribute { tag, value }, &mut []) {
            Ok(_) => IFD_SUCCESS,
            Err(Status::NotSupported | Status::InvalidDeviceRequest) => IFD_ERROR_TAG,
            Err(_) => IFD_ERROR_SET_FAILURE,
        }
    })
}

/// Select the protocol (`Protocol` is pcsc-lite's mask: 1 = T=0, 2 = T=1, 4 = RAW);
/// the core decides the PPS from the ATR (pcscd always passes zero flags).
///
/// # Safety
/// Always safe to call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IFDHSetProtocolParameters(
    Lun: DWORD,
    Protocol: DWORD,
    Flags: c_uchar,
    PTS1: c_uchar,
    PTS2: c_uchar,
    PTS3: c_uchar,
) -> RESPONSECODE {
    let _ = (Flags, PTS1, PTS2, PTS3);
    guard("IFDHSetProtocolParameters", || {
        let Some(channel) = registry::get(Lun) else {
            return IFD_NO_SUCH_DEVICE;
        };
        let reader = &channel.reader;
        let mut mask = 0u32;
        if Protocol & 1 != 0 {
            mask |= readerkit::ProtocolMask::T0.0;
        }
        if Protocol & 2 != 0 {
            mask |= readerkit::ProtocolMask::T1.0;
        }
        if Protocol & 4 != 0 {
            mask |= readerkit::ProtocolMask::RAW.0;
        }
        if mask == 0 {
            return IFD_PROTOCOL_NOT_SUPPORTED;
        }
        let mut out = [0u8; 4];
        let set_protocol = Request::SetProtocol(readerkit::ProtocolMask(mask));
        match request(reader, set_protocol, &mut out) {
            Ok(_) => IFD_SUCCESS,
            Err(Status::NoMedia) => IFD_ICC_NOT_PRESENT,
            Err(Status::NotSupported) => IFD_PROTOCOL_NOT_SUPPORTED,
            Err(status) => {
                log::log(
                    ERROR,
                    &format!(
                        "Lun {Lun:#x}: protocol {Protocol}: {}",
                        status.description()
                    ),
                );
                IFD_ERROR_PTS_FAILURE
            }
        }
    })
}

/// Power up (cold), power down, or reset (warm; cold if unpowered) the card.
///
/// # Safety
/// `Atr` is NULL or holds `*AtrLength` bytes; `AtrLength` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IFDHPowerICC(
    Lun: DWORD,
    Action: DWORD,
    Atr: *mut c_uchar,
    AtrLength: *mut DWORD,
) -> RESPONSECODE {
    guard("IFDHPowerICC", || {
        let Some(channel) = registry::get(Lun) else {
            return IFD_NO_SUCH_DEVICE;
        };
        let reader = &channel.reader;
        let action = match Action {
            IFD_POWER_DOWN => PowerAction::PowerDown,
            IFD_POWER_UP => PowerAction::ColdReset,
            // The device makes it a cold reset for a card that is not powered.
            IFD_RESET => PowerAction::WarmReset,
            _ => return IFD_NOT_SUPPORTED,
        };
        // A power-up or reset with nowhere to put the ATR is refused before the card
        // is touched.
        if action != PowerAction::PowerDown && (AtrLength.is_null() || Atr.is_null()) {
            return IFD_COMMUNICATION_ERROR;
        }
        let mut atr = [0u8; ATR_BUFFER_LEN];
        let result = request(reader, Request::Power(action), &mut atr);
        // The power-down pcscd may ask with a NULL `AtrLength` gets the same code
        // as one with a length (nothing to copy either way).
        let length = if AtrLength.is_null() {
            None
        } else {
            // SAFETY: non-null and valid (caller's contract).
            Some(unsafe { &mut *AtrLength })
        };
        let room = length.as_ref().map_or(0, |l| **l as usize);
        let mut told = 0;
        let code = match result {
            Ok(0) => IFD_SUCCESS,
            Ok(n) => {
                // A power-up or reset has a non-null `Atr` and `AtrLength` (above).
                if Atr.is_null() || room < n {
                    IFD_ERROR_INSUFFICIENT_BUFFER
                } else {
                    // SAFETY: Atr is non-null and holds room >= n bytes.
                    unsafe { std::ptr::copy_nonoverlapping(atr.as_ptr(), Atr, n) };
                    told = n as DWORD;
                    IFD_SUCCESS
                }
            }
            Err(Status::NoMedia) => IFD_ICC_NOT_PRESENT,
            Err(status) => {
                log::log(
                    INFO,
                    &format!("Lun {Lun:#x}: power {Action}: {}", status.description()),
                );
                IFD_ERROR_POWER_ACTION
            }
        };
        if let Some(length) = length {
            *length = told;
        }
        code
    })
}

/// Send an APDU with the protocol pcscd names (`SendPci.Protocol`: 0, 1 or 4).
///
/// # Safety
/// `TxBuffer` holds `TxLength` bytes; `RxBuffer` holds `*RxLength` bytes;
/// `RxLength` and `RecvPci` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IFDHTransmitToICC(
    Lun: DWORD,
    SendPci: ScardIoHeader,
    TxBuffer: *mut c_uchar,
    TxLength: DWORD,
    RxBuffer: *mut c_uchar,
    RxLength: *mut DWORD,
    RecvPci: *mut ScardIoHeader,
) -> RESPONSECODE {
    guard("IFDHTransmitToICC", || {
        if RxLength.is_null() {
            return IFD_COMMUNICATION_ERROR;
        }
        // SAFETY: non-null and valid (caller's contract).
        let rx_length = unsafe { &mut *RxLength };
        let room = (*rx_length as usize).min(MAX_BUFFER_SIZE_EXTENDED);
        *rx_length = 0;
        let Some(channel) = registry::get(Lun) else {
            return IFD_NO_SUCH_DEVICE;
        };
        let reader = &channel.reader;
        // SAFETY: a non-null TxBuffer holds TxLength bytes (the caller's contract).
        let apdu = unsafe { caller_input(TxBuffer, TxLength) };
        let Some(apdu) = apdu.filter(|_| !RxBuffer.is_null()) else {
            return IFD_COMMUNICATION_ERROR;
        };
        let protocol = match SendPci.protocol {
            0 => readerkit::ProtocolMask::T0.0,
            1 => readerkit::ProtocolMask::T1.0,
            4 => readerkit::ProtocolMask::RAW.0,
            _ => return IFD_PROTOCOL_NOT_SUPPORTED,
        };
        let mut output = vec![0u8; IO_REQUEST_LEN + room];
        let transmit = Request::Transmit(Transmit { protocol, apdu });
        match request(reader, transmit, &mut output) {
            Ok(n) => {
                let reply = output
                    .get(..n)
                    .and_then(|answer| readerkit::ioctl::transmit_response(answer).ok())
                    .unwrap_or(&[]);
                // SAFETY: RxBuffer is non-null and holds room >= reply.len() bytes.
                unsafe { std::ptr::copy_nonoverlapping(reply.as_ptr(), RxBuffer, reply.len()) };
                *rx_length = reply.len() as DWORD;
                if !RecvPci.is_null() {
                    // SAFETY: non-null and valid (caller's contract).
                    unsafe { (*RecvPci).protocol = SendPci.protocol };
                }
                IFD_SUCCESS
            }
            Err(Status::BufferTooSmall | Status::BufferOverflow) => IFD_ERROR_INSUFFICIENT_BUFFER,
            Err(status) => {
                if status != Status::NoMedia {
                    log::log(
                        INFO,
                        &format!("Lun {Lun:#x}: transmit: {}", status.description()),
                    );
                }
                ifd(status)
            }
        }
    })
}

/// A reader-level command: pcsc-lite vendor codes `SCARD_CTL_CODE(2048..=4095)`
/// (and the same functions under their Windows codes) go to the core's vendor
/// callback; anything else is refused with `IFD_ERROR_NOT_SUPPORTED`.
///
/// # Safety
/// `TxBuffer` holds `TxLength` bytes, `RxBuffer` `RxLength` bytes;
/// `pdwBytesReturned` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IFDHControl(
    Lun: DWORD,
    dwControlCode: DWORD,
    TxBuffer: *mut c_uchar,
    TxLength: DWORD,
    RxBuffer: *mut c_uchar,
    RxLength: DWORD,
    pdwBytesReturned: *mut DWORD,
) -> RESPONSECODE {
    guard("IFDHControl", || {
        if pdwBytesReturned.is_null() {
            return IFD_COMMUNICATION_ERROR;
        }
        // SAFETY: non-null and valid (caller's contract).
        let returned = unsafe { &mut *pdwBytesReturned };
        *returned = 0;
        let Some(channel) = registry::get(Lun) else {
            return IFD_NO_SUCH_DEVICE;
        };
        let reader = &channel.reader;
        let Some(ioctl) = vendor_ioctl(dwControlCode) else {
            return IFD_ERROR_NOT_SUPPORTED;
        };
        let rx_len = if RxBuffer.is_null() {
            0
        } else {
            (RxLength as usize).min(MAX_BUFFER_SIZE_EXTENDED)
        };
        // SAFETY: a non-null TxBuffer holds TxLength bytes (the caller's contract).
        let Some(input) = (unsafe { caller_input(TxBuffer, TxLength) }) else {
            return IFD_COMMUNICATION_ERROR;
        };
        let mut output = vec![0u8; rx_len];
        let vendor = Request::Vendor {
            code: ioctl.code(),
            input,
        };
        match request(reader, vendor, &mut output) {
            Ok(n) => {
                // SAFETY: n <= output.len() = rx_len, and RxBuffer (non-null when
                // rx_len > 0) holds RxLength >= rx_len bytes.
                unsafe { std::ptr::copy_nonoverlapping(output.as_ptr(), RxBuffer, n.min(rx_len)) };
                *returned = n as DWORD;
                IFD_SUCCESS
            }
            Err(Status::NotSupported | Status::InvalidDeviceRequest) => IFD_ERROR_NOT_SUPPORTED,
            // A short buffer: IFD_ERROR_INSUFFICIENT_BUFFER by the core's table.
            Err(status) => ifd(status),
        }
    })
}

/// The core's vendor IOCTL for a pcsc-lite (`0x42000000 + fn`) or Windows control
/// code, if it is one.
pub fn vendor_ioctl(code: DWORD) -> Option<Ioctl> {
    let code = u32::try_from(code).ok()?;
    let ioctl = match pcsclite_ctl_function(code) {
        Some(function) => Ioctl::from_function(function),
        None => Ioctl::from_code(code),
    };
    match ioctl {
        Some(Ioctl::Vendor(f)) => Some(Ioctl::Vendor(f)),
        _ => None,
    }
}

/// `IFD_ICC_PRESENT` or `IFD_ICC_NOT_PRESENT`, from the core's card state, as pcscd
/// must see it (a card swapped between two looks is reported absent until pcscd's
/// event thread has seen it: [`crate::presence`]).
///
/// # Safety
/// Always safe to call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IFDHICCPresence(Lun: DWORD) -> RESPONSECODE {
    guard("IFDHICCPresence", || match registry::get(Lun) {
        Some(channel) if presence(&channel) => IFD_ICC_PRESENT,
        Some(_) => IFD_ICC_NOT_PRESENT,
        None => IFD_NO_SUCH_DEVICE,
    })
}

/// The presence to report: the core's, except for a card swapped since pcscd was
/// last told "present" (removed and another inserted between two looks, so the
/// state alone shows no change). That is reported absent to pcscd's event thread
/// (the thread that runs the polling function), so that pcscd ends the old card's
/// handles (`SCARD_W_REMOVED_CARD`) and powers the new card, and it stays owed
/// ([`Told::SwapOwed`](crate::presence::Told::SwapOwed)) until that thread, told
/// "absent" by its look just before it enters the polling function again, has
/// read it. A client thread's presence check (pcscd's `IFDPowerICC` looks first,
/// for a reset or a power-up) gets the core's state: the new card is in; the
/// first such check to see the swap wakes the poll so that the event thread
/// looks now. A host that never entered the polling function gets "absent" on
/// any thread, at most
/// [`UNPOLLED_SWAP_ANSWERS`](crate::presence::UNPOLLED_SWAP_ANSWERS) times for a
/// swap.
fn presence(channel: &Channel) -> bool {
    let device = channel.reader.port.device();
    let insertions = device.card_insertions();
    let present = device.state().card_present();
    let answer = channel
        .presence()
        .answer(present, insertions, thread::current().id());
    match answer {
        Answer::Present => true,
        Answer::Absent => false,
        Answer::PresentWakePoll => {
            device.platform().stop();
            true
        }
    }
}

/// pcscd's polling function (`TAG_IFD_POLLING_THREAD_WITH_TIMEOUT`): wait, through
/// the core's card tracking (IS_ABSENT with a card, IS_PRESENT without), until the
/// card moves, the timeout passes or pcscd calls the stop function.
unsafe extern "C" fn ifdh_polling(lun: DWORD, timeout_ms: c_int) -> RESPONSECODE {
    guard("IFDHPolling", || {
        let Some(channel) = registry::get(lun) else {
            return IFD_NO_SUCH_DEVICE;
        };
        let timeout = Duration::from_millis(u64::try_from(timeout_ms).unwrap_or(0));
        poll(&channel, timeout)
    })
}

fn poll(channel: &Channel, timeout: Duration) -> RESPONSECODE {
    let reader = &channel.reader;
    let platform = reader.port.device().platform();
    let deadline = Instant::now() + timeout;
    // This thread is pcscd's event thread for the reader; a swap's "absent" it has
    // not read yet makes it look at once.
    // The state is read before the presence lock is taken, as in `presence`.
    let present_now = reader.port.device().state().card_present();
    let start = channel
        .presence()
        .poll_entered(thread::current().id(), present_now);
    let (present, insertions) = match start {
        PollStart::LookNow => return IFD_SUCCESS,
        PollStart::Track {
            present,
            insertions,
        } => (present, insertions),
    };
    if platform.arm() {
        return IFD_SUCCESS;
    }
    // Wait for a change from what pcscd was last told (a swap it was told about as
    // a removal is a card to report at once), or from the state if it was told
    // nothing yet.
    let tracking = if present {
        Request::IsAbsent
    } else {
        Request::IsPresent
    };
    // A card swapped since pcscd was told "present" leaves the state as it was: no
    // tracking request would ever complete for it, so pcscd must look now.
    let swapped = || insertions.is_some_and(|told| told != reader.port.device().card_insertions());
    if swapped() {
        return IFD_SUCCESS;
    }
    match reader.port.submit(tracking, &mut []) {
        // The swap may have happened while the request was being armed.
        Outcome::Pending if swapped() => {
            reader.port.cancel_tracking();
            let _ = platform.take_completion();
            return IFD_SUCCESS;
        }
        Outcome::Pending => {}
        Outcome::Complete {
            status: Status::Success,
            ..
        } => return IFD_SUCCESS,
        // Another tracking request pends (a racing poll) or tracking failed: pcscd
        // sleeps 400 ms and polls again.
        Outcome::Complete { status, .. } => return ifd(status),
    }
    loop {
        match platform.wait(deadline) {
            Woken::Completed(_) => return IFD_SUCCESS,
            Woken::Events => reader.port.device().process_events(),
            Woken::Stopped | Woken::TimedOut => break,
        }
    }
    reader.port.cancel_tracking();
    let _ = platform.take_completion();
    IFD_SUCCESS
}

/// pcscd's stop function (`TAG_IFD_STOP_POLLING_THREAD`): make the poll return.
unsafe extern "C" fn ifdh_stop_polling(lun: DWORD) -> RESPONSECODE {
    guard("IFDHStopPolling", || match registry::get(lun) {
        Some(channel) => {
            channel.reader.port.device().platform().stop();
            IFD_SUCCESS
        }
        None => IFD_NO_SUCH_DEVICE,
    })
}

#[cfg(test)]
mod tests {
    use super::max_command_apdu;

    #[test]
    fn longest_command_apdu_of_each_backend() {
        // serial: short APDUs; vpcd: a whole message; sim: pcscd's largest.
        #[cfg(target_os = "linux")]
        assert_eq!(
            max_command_apdu(readerkit_host_readers::serial::MAX_APDU_DATA),
            261
        );
        assert_eq!(
            max_command_apdu(readerkit_host_readers::vpcd::MAX_APDU_DATA),
            65_535
        );
        assert_eq!(
            max_command_apdu(readerkit_host_readers::sim::MAX_APDU_DATA),
            65_544
        );
        assert_eq!(max_command_apdu(256), 4 + 3 + 256 + 2);
        assert_eq!(max_command_apdu(u32::MAX), 65_544, "never past extended Lc");
    }
}

//! A test platform and an in-memory reader driver for the device tests.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::vec::Vec;

use readerkit::caps::{IfdVersion, ReaderCapabilities, VendorAttributes, attr_string};
use readerkit::device::{AtrBuffer, ProtocolCall, ReaderFunctions, TransmitCall};
use readerkit::ioctl::{Ioctl, PowerAction, Request, Transmit};
use readerkit::platform::Platform;
use readerkit::timing::Timing;
use readerkit::tracking::Wait;
use readerkit::{Device, Outcome, Status};

/// A platform on std locks that records every tracking completion.
#[derive(Default)]
pub struct TestPlatform {
    pub completions: StdMutex<Vec<Status>>,
}

impl TestPlatform {
    pub fn completions(&self) -> Vec<Status> {
        self.completions.lock().unwrap().clone()
    }
}

impl Platform for TestPlatform {
    type Serial<T> = StdMutex<T>;
    type Short<T> = StdMutex<T>;

    fn complete_tracking(&self, status: Status) {
        self.completions.lock().unwrap().push(status);
    }
}

/// T=0 first, then T=1; negotiable; TA1 = 96, TC1 = 00, IFSC 254, BWI 4 / CWI 5, LRC.
/// The last byte is the TCK slot (see [`with_tck`]).
pub const ATR_T0_T1: [u8; 9] = [0x3B, 0xD0, 0x96, 0x00, 0x80, 0x31, 0xFE, 0x45, 0x00];
/// T=1 only, specific mode (TA2 = 01: T=1 with TA1's parameters).
pub const ATR_SPECIFIC_T1: [u8; 6] = [0x3B, 0x90, 0x11, 0x11, 0x01, 0x00];

/// Fix the TCK of a test ATR in place.
pub fn with_tck<const N: usize>(mut atr: [u8; N]) -> [u8; N] {
    let tck = atr[1..N - 1].iter().fold(0, |a, b| a ^ b);
    atr[N - 1] = tck;
    atr
}

/// An in-memory reader: the card answers every APDU with its data echoed and 90 00.
pub struct MemReader {
    pub atr: Vec<u8>,
    pub calls: Vec<&'static str>,
    pub transmit_status: Option<Status>,
    pub tracking_waits: Vec<Wait>,
    pub last_protocol_call: Option<readerkit::pps::Negotiation>,
}

impl MemReader {
    pub fn new(atr: &[u8]) -> MemReader {
        MemReader {
            atr: atr.to_vec(),
            calls: Vec::new(),
            transmit_status: None,
            tracking_waits: Vec::new(),
            last_protocol_call: None,
        }
    }
}

pub fn power(r: &mut MemReader, action: PowerAction, atr: &mut AtrBuffer) -> Result<(), Status> {
    r.calls.push("power");
    if action != PowerAction::PowerDown {
        atr.extend_from_slice(&r.atr)
            .map_err(|_| Status::BufferOverflow)?;
    }
    Ok(())
}

pub fn transmit(
    r: &mut MemReader,
    call: &TransmitCall<'_>,
    reply: &mut [u8],
) -> Result<usize, Status> {
    r.calls.push("transmit");
    if let Some(status) = r.transmit_status {
        return Err(status);
    }
    let data = call.apdu.get(5..).unwrap_or(&[]);
    let len = data.len() + 2;
    let out = reply.get_mut(..len).ok_or(Status::BufferTooSmall)?;
    out[..data.len()].copy_from_slice(data);
    out[data.len()..].copy_from_slice(&[0x90, 0x00]);
    Ok(len)
}

pub fn set_protocol(r: &mut MemReader, call: &ProtocolCall<'_>) -> Result<Timing, Status> {
    r.calls.push("set_protocol");
    r.last_protocol_call = Some(call.negotiation);
    // The in-memory card accepts every PPS.
    Ok(call.negotiation.timing)
}

pub fn tracking(r: &mut MemReader, wait: Wait) -> Result<(), Status> {
    r.calls.push("tracking");
    r.tracking_waits.push(wait);
    Ok(())
}

pub fn vendor(
    r: &mut MemReader,
    code: u32,
    input: &[u8],
    output: &mut [u8],
) -> Result<usize, Status> {
    r.calls.push("vendor");
    let out = output
        .get_mut(..input.len() + 4)
        .ok_or(Status::BufferTooSmall)?;
    out[..4].copy_from_slice(&code.to_le_bytes());
    out[4..].copy_from_slice(input);
    Ok(input.len() + 4)
}

pub fn eject(r: &mut MemReader) -> Result<(), Status> {
    r.calls.push("eject");
    Ok(())
}

pub fn confiscate(r: &mut MemReader) -> Result<(), Status> {
    r.calls.push("confiscate");
    Ok(())
}

pub fn all_functions() -> ReaderFunctions<MemReader> {
    ReaderFunctions {
        power: Some(power),
        transmit: Some(transmit),
        set_protocol: Some(set_protocol),
        card_tracking: Some(tracking),
        vendor_ioctl: Some(vendor),
        eject: Some(eject),
        swallow: None,
        confiscate: Some(confiscate),
    }
}

pub fn vendor_attributes() -> VendorAttributes {
    VendorAttributes {
        vendor_name: attr_string(b"readerkit"),
        ifd_type: attr_string(b"In-memory reader"),
        unit: 0,
        ifd_version: IfdVersion {
            major: 1,
            minor: 2,
            build: 3,
        },
        serial_number: attr_string(b""),
    }
}

pub type TestDevice = Device<TestPlatform, MemReader>;

pub fn device_with(functions: ReaderFunctions<MemReader>, atr: &[u8]) -> TestDevice {
    Device::new(
        TestPlatform::default(),
        functions,
        MemReader::new(atr),
        ReaderCapabilities::typical(),
        vendor_attributes(),
    )
}

pub fn device() -> TestDevice {
    device_with(all_functions(), &with_tck(ATR_T0_T1))
}

/// Run one request with an output buffer of `out_len` bytes.
pub fn call(dev: &TestDevice, ioctl: Ioctl, input: &[u8], out_len: usize) -> (Outcome, Vec<u8>) {
    let mut out = vec![0u8; out_len];
    let outcome = dev.control(ioctl.code(), input, &mut out);
    if let Outcome::Complete { bytes_written, .. } = outcome {
        out.truncate(bytes_written);
    }
    (outcome, out)
}

pub fn status_of(outcome: Outcome) -> Status {
    outcome.status().expect("completed")
}

pub fn u32_input(v: u32) -> [u8; 4] {
    v.to_le_bytes()
}

/// TRANSMIT input: SCARD_IO_REQUEST {protocol, 8} + apdu.
pub fn transmit_input(protocol: u32, apdu: &[u8]) -> Vec<u8> {
    let request = Request::Transmit(Transmit { protocol, apdu });
    let mut v = vec![0u8; request.input_len()];
    request.emit(&mut v).expect("sized by input_len");
    v
}

pub static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub fn bump() -> usize {
    COUNTER.fetch_add(1, Ordering::SeqCst)
}

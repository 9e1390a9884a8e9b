//! An in-memory reader driver for the device tests: the card answers every APDU
//! with its data echoed and 90 00, every callback is recorded, and a platform on std
//! locks records every tracking completion.

use std::sync::Mutex as StdMutex;

use readerkit::atr::Atr;
use readerkit::caps::ReaderCapabilities;
use readerkit::device::{AtrBuffer, ProtocolCall, ReaderFunctions, TransmitCall};
use readerkit::ioctl::PowerAction;
use readerkit::platform::{Platform, SpinPlatform};
use readerkit::pps::Negotiation;
use readerkit::timing::Timing;
use readerkit::tracking::Wait;
use readerkit::{Device, Failure, Status};

use crate::vendor;

/// A platform on std locks that records every tracking completion.
#[derive(Debug, Default)]
pub struct TestPlatform {
    /// The completions handed to [`Platform::complete_tracking`], in order.
    pub completions: StdMutex<Vec<Status>>,
}

impl TestPlatform {
    /// The completions so far.
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

/// Fix the TCK (the XOR of T0 to the byte before it) of a test ATR in place, as the
/// core's ATR module computes it.
pub fn with_tck<const N: usize>(mut atr: [u8; N]) -> [u8; N] {
    let parsed = Atr::parse(&atr).expect("a test ATR");
    atr[N - 1] = parsed.expected_tck().expect("a test ATR with a TCK");
    atr
}

/// An in-memory reader: the card answers every APDU with its data echoed and 90 00.
#[derive(Debug)]
pub struct MemReader {
    /// The ATR the card answers a reset with.
    pub atr: Vec<u8>,
    /// The callbacks run, by name, in order.
    pub calls: Vec<&'static str>,
    /// When set, TRANSMIT fails with this status.
    pub transmit_status: Option<Failure>,
    /// When set, POWER fails a power-down with this status (a reset still
    /// answers the ATR).
    pub power_down_status: Option<Failure>,
    /// The waits card tracking was started for.
    pub tracking_waits: Vec<Wait>,
    /// The negotiation of the last SET_PROTOCOL.
    pub last_protocol_call: Option<Negotiation>,
}

impl MemReader {
    /// A reader whose card answers `atr`.
    pub fn new(atr: &[u8]) -> MemReader {
        MemReader {
            atr: atr.to_vec(),
            calls: Vec::new(),
            transmit_status: None,
            power_down_status: None,
            tracking_waits: Vec::new(),
            last_protocol_call: None,
        }
    }
}

/// POWER: the ATR on a reset, nothing on power-down (or
/// [`MemReader::power_down_status`]).
pub fn power(r: &mut MemReader, action: PowerAction, atr: &mut AtrBuffer) -> Result<(), Failure> {
    r.calls.push("power");
    if action == PowerAction::PowerDown {
        return r.power_down_status.map_or(Ok(()), Err);
    }
    atr.extend_from_slice(&r.atr)
        .map_err(|_| Failure::BufferOverflow)
}

/// TRANSMIT: the command's data (after a 5-byte header) and 90 00, or
/// [`MemReader::transmit_status`].
pub fn transmit(
    r: &mut MemReader,
    call: &TransmitCall<'_>,
    reply: &mut [u8],
) -> Result<usize, Failure> {
    r.calls.push("transmit");
    if let Some(status) = r.transmit_status {
        return Err(status);
    }
    let data = call.apdu.get(5..).unwrap_or(&[]);
    let len = data.len() + 2;
    let out = reply.get_mut(..len).ok_or(Failure::BufferTooSmall)?;
    out[..data.len()].copy_from_slice(data);
    out[data.len()..].copy_from_slice(&[0x90, 0x00]);
    Ok(len)
}

/// SET_PROTOCOL: the in-memory card accepts every PPS.
pub fn set_protocol(r: &mut MemReader, call: &ProtocolCall<'_>) -> Result<Timing, Failure> {
    r.calls.push("set_protocol");
    r.last_protocol_call = Some(call.negotiation);
    Ok(call.negotiation.timing)
}

/// Card tracking: recorded, nothing to start.
pub fn tracking(r: &mut MemReader, wait: Wait) -> Result<(), Failure> {
    r.calls.push("tracking");
    r.tracking_waits.push(wait);
    Ok(())
}

/// Vendor IOCTL: the code (little-endian) followed by the input.
pub fn vendor(
    r: &mut MemReader,
    code: u32,
    input: &[u8],
    output: &mut [u8],
) -> Result<usize, Failure> {
    r.calls.push("vendor");
    let out = output
        .get_mut(..input.len() + 4)
        .ok_or(Failure::BufferTooSmall)?;
    out[..4].copy_from_slice(&code.to_le_bytes());
    out[4..].copy_from_slice(input);
    Ok(input.len() + 4)
}

/// EJECT: recorded.
pub fn eject(r: &mut MemReader) -> Result<(), Failure> {
    r.calls.push("eject");
    Ok(())
}

/// CONFISCATE: recorded.
pub fn confiscate(r: &mut MemReader) -> Result<(), Failure> {
    r.calls.push("confiscate");
    Ok(())
}

/// Every callback but SWALLOW.
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

/// The device under test: an in-memory reader on the recording platform.
pub type TestDevice = Device<TestPlatform, MemReader>;

/// A device with `functions` whose card answers `atr`, with the typical
/// capabilities and [`vendor::attributes`].
pub fn device_with(functions: ReaderFunctions<MemReader>, atr: &[u8]) -> TestDevice {
    device_on(TestPlatform::default(), functions, atr)
}

/// [`device_with`] on `platform`.
fn device_on<P: Platform>(
    platform: P,
    functions: ReaderFunctions<MemReader>,
    atr: &[u8],
) -> Device<P, MemReader> {
    Device::new(
        platform,
        functions,
        MemReader::new(atr),
        ReaderCapabilities::typical(),
        vendor::attributes(),
    )
}

/// A device with every callback whose card answers [`ATR_T0_T1`].
pub fn device() -> TestDevice {
    device_with(all_functions(), &with_tck(ATR_T0_T1))
}

/// [`device`] on a [`SpinPlatform`], which names its one context: a call made
/// from inside one of the device's callbacks (or `with_driver`) is refused.
pub fn spin_device() -> Device<SpinPlatform, MemReader> {
    device_on(SpinPlatform::new(), all_functions(), &with_tck(ATR_T0_T1))
}

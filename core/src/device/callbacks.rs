//! The reader driver's callback table (smclib's `ReaderFunction[]`).
//!
//! Each entry is an `Option` of a plain function taking the driver's own context
//! `&mut D` and failing with a [`Failure`] (a status that cannot say success). An
//! absent entry means the request is answered
//! [`Status::NotSupported`](crate::Status::NotSupported) without calling anything.
//! The library holds the serialization lock around every call, so no two callbacks
//! ever run at once, and it validates the request and the card state before calling.

use core::cell::Cell;

use crate::atr;
use crate::caps::{CardCapabilities, FieldSizes, ReaderCapabilities};
use crate::ioctl::PowerAction;
use crate::pps;
use crate::protocol::Protocol;
use crate::status::Failure;
use crate::timing::Timing;
use crate::tracking::Wait;

/// Where a power callback puts the card's ATR (at most 33 bytes, [`atr::MAX_LEN`]).
pub type AtrBuffer = heapless::Vec<u8, { atr::MAX_LEN }>;

/// POWER: power down, cold or warm reset. On a reset, push the ATR bytes as received
/// into the buffer (an inverse-convention ATR may be left undecoded: TS = 03). The
/// library parses it, fills the card capabilities and sets the state.
pub type PowerFn<D> = fn(&mut D, PowerAction, &mut AtrBuffer) -> Result<(), Failure>;

/// TRANSMIT: send the APDU with the selected protocol and write the response APDU
/// (data and SW1 SW2) into the reply buffer; return its length in bytes.
pub type TransmitFn<D> = fn(&mut D, &TransmitCall<'_>, &mut [u8]) -> Result<usize, Failure>;

/// SET_PROTOCOL: make `protocol` the one in force (doing the PPS exchange the call
/// carries, if any) and return the transmission parameters now in force.
pub type SetProtocolFn<D> = fn(&mut D, &ProtocolCall<'_>) -> Result<Timing, Failure>;

/// IS_PRESENT / IS_ABSENT when the card is not yet in the awaited state: start
/// watching for the event (the driver then reports it with
/// [`Device::card_inserted`](super::Device::card_inserted) /
/// [`Device::card_removed`](super::Device::card_removed)). `Ok` means the request pends.
pub type TrackingFn<D> = fn(&mut D, Wait) -> Result<(), Failure>;

/// A vendor IOCTL (function 2048..=4095): the IOCTL code, its input and output
/// buffers; return the number of output bytes written.
pub type VendorFn<D> = fn(&mut D, u32, &[u8], &mut [u8]) -> Result<usize, Failure>;

/// EJECT, SWALLOW or CONFISCATE.
pub type MechanismFn<D> = fn(&mut D) -> Result<(), Failure>;

/// The reader driver's callbacks; `None` = not supported.
#[derive(Debug)]
pub struct ReaderFunctions<D> {
    /// `RDF_CARD_POWER`.
    pub power: Option<PowerFn<D>>,
    /// `RDF_TRANSMIT`.
    pub transmit: Option<TransmitFn<D>>,
    /// `RDF_SET_PROTOCOL`.
    pub set_protocol: Option<SetProtocolFn<D>>,
    /// `RDF_CARD_TRACKING`.
    pub card_tracking: Option<TrackingFn<D>>,
    /// `RDF_IOCTL_VENDOR`.
    pub vendor_ioctl: Option<VendorFn<D>>,
    /// `RDF_CARD_EJECT`.
    pub eject: Option<MechanismFn<D>>,
    /// `RDF_READER_SWALLOW`.
    pub swallow: Option<MechanismFn<D>>,
    /// `RDF_CARD_CONFISCATE`.
    pub confiscate: Option<MechanismFn<D>>,
}

impl<D> ReaderFunctions<D> {
    /// A table with no callbacks, to fill with struct update syntax.
    pub const NONE: ReaderFunctions<D> = ReaderFunctions {
        power: None,
        transmit: None,
        set_protocol: None,
        card_tracking: None,
        vendor_ioctl: None,
        eject: None,
        swallow: None,
        confiscate: None,
    };
}

impl<D> Clone for ReaderFunctions<D> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<D> Copy for ReaderFunctions<D> {}

/// Settings changed by SET_ATTRIBUTE that callbacks must honour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Settings {
    /// `SCARD_ATTR_SUPRESS_T1_IFS_REQUEST`: do not send S(IFS request) after the ATR.
    pub suppress_t1_ifs_request: bool,
}

/// A callback's word that it deactivated the card's contacts itself, as ISO/IEC
/// 7816-3 asks after a failed PPS (9.3) or a failed T=1 resynchronisation (11.6.3.2
/// rule 6.4). Once the callback returns, the device takes the card for unpowered,
/// as after a POWER down (GET_STATE says so; TRANSMIT and SET_PROTOCOL wait for a
/// reset), and the request fails: with the callback's failure, or
/// [`Status::InvalidDeviceState`](crate::Status::InvalidDeviceState) if it claimed
/// success.
#[derive(Debug, Default)]
pub struct Deactivation(Cell<bool>);

impl Deactivation {
    /// Say the card's contacts are now deactivated.
    pub fn report(&self) {
        self.0.set(true);
    }

    /// Whether [`Deactivation::report`] was called.
    pub fn reported(&self) -> bool {
        self.0.get()
    }
}

/// A TRANSMIT callback's word that the T=1 information field sizes in force
/// changed during its exchange (ISO/IEC 7816-3:2006 11.4.2): the card's
/// S(IFS request) set a new IFSC (11.6.2.3), the card acknowledged the reader's
/// S(IFS request) announcing its IFSD, or a resynchronisation put both back to
/// their initial values. Once the callback returns (whether it succeeded or
/// failed, unless it deactivated the card or the card changed meanwhile), the
/// device keeps the reported sizes for the powered card: they are what
/// `SCARD_ATTR_CURRENT_IFSC` / `CURRENT_IFSD` answer until the next report,
/// reset or SET_PROTOCOL (a new ATR or a fresh protocol session: the ATR's IFSC
/// and the IFSD the reader announces again).
#[derive(Debug, Default)]
pub struct FieldSizeReport {
    /// The IFSC reported, 0 if none (no size is 0).
    ifsc: Cell<u8>,
    /// The IFSD reported, 0 if none.
    ifsd: Cell<u8>,
}

impl FieldSizeReport {
    /// Say the IFSC in force is now `ifsc` bytes; [`Failure::InvalidParameter`]
    /// (nothing recorded) unless it is 1 to 254 (ISO/IEC 7816-3:2006 11.4.2).
    pub fn report_ifsc(&self, ifsc: u8) -> Result<(), Failure> {
        self.ifsc.set(checked_size(ifsc)?);
        Ok(())
    }

    /// Say the IFSD in force is now `ifsd` bytes; [`Failure::InvalidParameter`]
    /// (nothing recorded) unless it is 1 to 254.
    pub fn report_ifsd(&self, ifsd: u8) -> Result<(), Failure> {
        self.ifsd.set(checked_size(ifsd)?);
        Ok(())
    }

    /// Say both sizes in force are now `sizes` (what a driver running its own
    /// T=1 engine reports after each exchange); [`Failure::InvalidParameter`]
    /// (nothing recorded) unless both are 1 to 254.
    pub fn report(&self, sizes: FieldSizes) -> Result<(), Failure> {
        let ifsc = checked_size(sizes.ifsc)?;
        self.ifsd.set(checked_size(sizes.ifsd)?);
        self.ifsc.set(ifsc);
        Ok(())
    }

    /// `sizes` with what was reported put in (a size not reported is kept).
    pub fn applied_to(&self, sizes: FieldSizes) -> FieldSizes {
        FieldSizes {
            ifsc: or_reported(self.ifsc.get(), sizes.ifsc),
            ifsd: or_reported(self.ifsd.get(), sizes.ifsd),
        }
    }
}

/// A field size reported (non-zero), or else `known`, in bytes.
pub(super) const fn or_reported(reported: u8, known: u8) -> u8 {
    if reported == 0 { known } else { reported }
}

/// A T=1 information field size, 1 to 254 bytes (0 and 255 are reserved).
fn checked_size(size: u8) -> Result<u8, Failure> {
    if crate::t1::is_valid_ifs(size) {
        Ok(size)
    } else {
        Err(Failure::InvalidParameter)
    }
}

/// What a TRANSMIT callback gets besides the reply buffer.
#[derive(Debug)]
pub struct TransmitCall<'a> {
    /// The protocol in force.
    pub protocol: Protocol,
    /// The command APDU (checked: at least 4 bytes for T=0/T=1, consistent lengths).
    pub apdu: &'a [u8],
    /// The card's capabilities.
    pub card: &'a CardCapabilities,
    /// Settings from SET_ATTRIBUTE.
    pub settings: Settings,
    /// Where the callback says it deactivated the card.
    pub deactivation: Deactivation,
    /// Where the callback reports the T=1 information field sizes in force, when
    /// they may have changed (`card` holds the ATR's IFSC and the announced
    /// IFSD, not these).
    pub field_sizes: FieldSizeReport,
}

/// What a SET_PROTOCOL callback gets.
#[derive(Debug)]
pub struct ProtocolCall<'a> {
    /// The protocol to establish.
    pub protocol: Protocol,
    /// What to send: the PPS request, if any (`negotiation.request`), and the
    /// parameters to switch to once the card accepted it ([`pps::Negotiation::accept`]
    /// says which). Without a request, switch to `negotiation.timing` directly.
    /// After a failed PPS, deactivate the card, say so in `deactivation` and fail
    /// (the caller resets it and may retry with `SCARD_PROTOCOL_DEFAULT`).
    pub negotiation: pps::Negotiation,
    /// The card's capabilities.
    pub card: &'a CardCapabilities,
    /// The reader's capabilities.
    pub reader: &'a ReaderCapabilities,
    /// Settings from SET_ATTRIBUTE.
    pub settings: Settings,
    /// Where the callback says it deactivated the card.
    pub deactivation: Deactivation,
}

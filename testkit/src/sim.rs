//! A [`Device`] over a [`LineReader`]: the whole stack as card-sim, hal-readers and
//! the pcsc-lite binding's fake serial chip run it; and the simulated card alone,
//! powered, for the tests that talk to it byte by byte.

use readerkit::Device;
use readerkit::caps::ReaderCapabilities;
use readerkit::line::{Line, LineReader};
use readerkit::platform::SpinPlatform;
use readerkit_card_sim::fault::{IfsRequest, Trigger, Wtx};
use readerkit_card_sim::{Card, Config, Faults, Profile, SimLine};

use crate::vendor;

/// A device over any line, on the bare-metal spin platform.
pub type LineDevice<L> = Device<SpinPlatform, LineReader<L>>;

/// A device over the simulated card.
pub type SimDevice = LineDevice<SimLine>;

/// A device for `reader` with `capabilities`, vendor `readerkit`.
pub fn line_device<L: Line>(
    reader: LineReader<L>,
    capabilities: ReaderCapabilities,
) -> LineDevice<L> {
    Device::new(
        SpinPlatform::new(),
        LineReader::functions(),
        reader,
        capabilities,
        vendor::named(b"readerkit"),
    )
}

/// A device with the typical capabilities over `card` (an empty slot for `None`),
/// extended APDUs over T=0 in ENVELOPE.
pub fn device(card: Option<Card>) -> SimDevice {
    line_device(
        LineReader::new(SimLine::holding(card)).with_t0_envelope(),
        ReaderCapabilities::typical(),
    )
}

/// A device with `capabilities` over `card` in a `SimLine<N>` (an empty slot for
/// `None`), the card already reported inserted: a reader's slot as a CCID test or
/// fuzz target serves it.
pub fn inserted<const N: usize>(
    card: Option<Card<N>>,
    capabilities: ReaderCapabilities,
) -> LineDevice<SimLine<N>> {
    let present = card.is_some();
    let device = line_device(LineReader::new(SimLine::holding(card)), capabilities);
    if present {
        device.card_inserted();
    }
    device
}

/// A card of `profile` with `faults` and buffers of `N` bytes, powered on, its
/// ATR read (in one read, nothing left behind) and checked against the
/// profile's: a card a test then talks to byte by byte.
pub fn powered<const N: usize>(profile: Profile, faults: Faults) -> Card<N> {
    let atr = profile.atr();
    let mut card = Card::<N>::create(Config::new(profile).with_faults(faults));
    card.power_on();
    let mut buf = [0u8; 40];
    let n = card.read(&mut buf);
    assert_eq!(&buf[..n], atr.as_slice(), "ATR");
    assert_eq!(card.pending(), 0);
    card
}

/// A card's fault switches: all off but those `set` turns on
/// (`faults(|f| f.corrupt_edc = Trigger::Nth(2))`).
pub fn faults(set: impl FnOnce(&mut Faults)) -> Faults {
    let mut faults = Faults::default();
    set(&mut faults);
    faults
}

/// The faults of a card that asks for `count` waiting time extensions before the
/// answers `answer` selects (T=1: S(WTX request) blocks carrying `multiplier`; T=0:
/// NULL bytes), nothing else.
pub fn wtx_before(answer: Trigger, multiplier: u8, count: u8) -> Faults {
    faults(|f| {
        f.wtx = Some(Wtx {
            answer,
            multiplier,
            count,
        })
    })
}

/// The faults of a card that sends an S(IFS request) announcing `ifsc` (bytes)
/// before the answers `answer` selects, nothing else.
pub fn ifs_request_before(answer: Trigger, ifsc: u8) -> Faults {
    faults(|f| f.ifs_request = Some(IfsRequest { answer, ifsc }))
}

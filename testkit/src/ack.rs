//! An allocation-free reader with no state (`()`): power answers [`ATR`], every APDU
//! gets 90 00, every PPS is accepted at the card's own timing, tracking starts at
//! once. For counting allocations and timing dispatch: it adds nothing of its own.

use readerkit::Failure;
use readerkit::device::{AtrBuffer, ProtocolCall, ReaderFunctions, TransmitCall};
use readerkit::ioctl::PowerAction;
use readerkit::timing::Timing;
use readerkit::tracking::Wait;

/// T=0 first, then T=1; negotiable; TA1 = 96, TC1 = 00, IFSC 254, BWI 4 / CWI 5,
/// LRC; TCK included.
pub const ATR: [u8; 9] = [0x3B, 0xD0, 0x96, 0x00, 0x80, 0x31, 0xFE, 0x45, 0x4C];

/// POWER: [`ATR`] on a reset, nothing on power-down.
pub fn power(_: &mut (), action: PowerAction, atr: &mut AtrBuffer) -> Result<(), Failure> {
    if action != PowerAction::PowerDown {
        atr.extend_from_slice(&ATR)
            .map_err(|_| Failure::BufferOverflow)?;
    }
    Ok(())
}

/// TRANSMIT: 90 00 whatever the command.
pub fn transmit(_: &mut (), _: &TransmitCall<'_>, reply: &mut [u8]) -> Result<usize, Failure> {
    let sw = reply.get_mut(..2).ok_or(Failure::BufferTooSmall)?;
    sw.copy_from_slice(&[0x90, 0x00]);
    Ok(2)
}

/// SET_PROTOCOL: the card's timing from its ATR.
pub fn set_protocol(_: &mut (), call: &ProtocolCall<'_>) -> Result<Timing, Failure> {
    Ok(call.card.timing)
}

/// Card tracking: nothing to start.
pub fn tracking(_: &mut (), _: Wait) -> Result<(), Failure> {
    Ok(())
}

/// Power, SET_PROTOCOL, TRANSMIT and card tracking.
pub fn functions() -> ReaderFunctions<()> {
    ReaderFunctions {
        power: Some(power),
        transmit: Some(transmit),
        set_protocol: Some(set_protocol),
        card_tracking: Some(tracking),
        ..ReaderFunctions::NONE
    }
}

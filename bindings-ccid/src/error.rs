//! `bError` of a failed command (CCID 1.1 §6.2.6, Table 6.2-2), and how the core's
//! [`Status`] maps onto it.

use readerkit::Status;

/// Why a command failed: the `bError` byte of an answer whose command status is
/// "failed". Positive values name the offset of the offending field in the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SlotError {
    /// 0x00: the command is not supported.
    CommandNotSupported,
    /// A field of the command is bad: its offset (1 = `dwLength`, 5 = `bSlot`, 7..
    /// = the command's own fields, 10.. = `abData`). 1..=127.
    BadField(u8),
    /// 0xE0: the slot is busy with another command.
    SlotBusy,
    /// 0xEF: PIN entry cancelled.
    PinCancelled,
    /// 0xF0: PIN entry timed out.
    PinTimeout,
    /// 0xF2: busy with an automatic sequence.
    BusyWithAutoSequence,
    /// 0xF3: the protocol was deactivated.
    DeactivatedProtocol,
    /// 0xF4: procedure byte conflict.
    ProcedureByteConflict,
    /// 0xF5: the card's class is not supported.
    IccClassNotSupported,
    /// 0xF6: the card's protocol is not supported.
    IccProtocolNotSupported,
    /// 0xF7: the ATR's check byte is wrong.
    BadAtrTck,
    /// 0xF8: the ATR's initial character is wrong.
    BadAtrTs,
    /// 0xFB: hardware error.
    HardwareError,
    /// 0xFC: the answer does not fit (overrun).
    XfrOverrun,
    /// 0xFD: parity error during the exchange.
    XfrParityError,
    /// 0xFE: no card, or the card is mute.
    IccMute,
    /// 0xFF: the command was aborted.
    CommandAborted,
}

impl SlotError {
    /// The `bError` byte.
    pub const fn code(self) -> u8 {
        match self {
            SlotError::CommandNotSupported => 0x00,
            SlotError::BadField(offset) => offset,
            SlotError::SlotBusy => 0xE0,
            SlotError::PinCancelled => 0xEF,
            SlotError::PinTimeout => 0xF0,
            SlotError::BusyWithAutoSequence => 0xF2,
            SlotError::DeactivatedProtocol => 0xF3,
            SlotError::ProcedureByteConflict => 0xF4,
            SlotError::IccClassNotSupported => 0xF5,
            SlotError::IccProtocolNotSupported => 0xF6,
            SlotError::BadAtrTck => 0xF7,
            SlotError::BadAtrTs => 0xF8,
            SlotError::HardwareError => 0xFB,
            SlotError::XfrOverrun => 0xFC,
            SlotError::XfrParityError => 0xFD,
            SlotError::IccMute => 0xFE,
            SlotError::CommandAborted => 0xFF,
        }
    }

    /// The error for a failure of the core during a card exchange: no card or a
    /// mute card is [`SlotError::IccMute`], a parity or protocol failure
    /// [`SlotError::XfrParityError`], an answer too long for the buffer
    /// [`SlotError::XfrOverrun`], a malformed command APDU the offset of `abData`,
    /// an unsupported request [`SlotError::CommandNotSupported`], a sleeping
    /// reader [`SlotError::HardwareError`], anything else
    /// [`SlotError::HardwareError`] too.
    pub const fn from_status(status: Status) -> SlotError {
        match status {
            Status::NoMedia | Status::IoTimeout | Status::InvalidDeviceState => SlotError::IccMute,
            Status::DeviceProtocolError => SlotError::XfrParityError,
            Status::BufferTooSmall | Status::BufferOverflow => SlotError::XfrOverrun,
            Status::InvalidParameter => SlotError::BadField(10),
            Status::NotSupported | Status::InvalidDeviceRequest => SlotError::CommandNotSupported,
            Status::UnrecognizedMedia => SlotError::BadAtrTs,
            Status::DeviceBusy => SlotError::SlotBusy,
            Status::Cancelled => SlotError::CommandAborted,
            // The reader sleeps (`Device::suspend` until `Device::resume`): the
            // reader, not the card, cannot act. ICC_MUTE would tell the host the
            // card did not answer (a mute card) and CMD_SLOT_BUSY that another
            // command runs; neither is so. The card's state is kept (`bmICCStatus`
            // says it) and a change is reported on waking.
            Status::DeviceNotReady => SlotError::HardwareError,
            _ => SlotError::HardwareError,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_those_of_the_ccid_table() {
        assert_eq!(SlotError::CommandNotSupported.code(), 0x00);
        assert_eq!(SlotError::BadField(5).code(), 5);
        assert_eq!(SlotError::SlotBusy.code(), 0xE0);
        assert_eq!(SlotError::IccMute.code(), 0xFE);
        assert_eq!(SlotError::HardwareError.code(), 0xFB);
        assert_eq!(SlotError::CommandAborted.code(), 0xFF);
    }

    #[test]
    fn core_failures_map_to_the_nearest_error() {
        assert_eq!(SlotError::from_status(Status::NoMedia), SlotError::IccMute);
        assert_eq!(
            SlotError::from_status(Status::IoTimeout),
            SlotError::IccMute
        );
        assert_eq!(
            SlotError::from_status(Status::BufferTooSmall),
            SlotError::XfrOverrun
        );
        assert_eq!(
            SlotError::from_status(Status::Unsuccessful),
            SlotError::HardwareError
        );
    }

    #[test]
    fn a_sleeping_reader_is_a_hardware_error_not_a_mute_card() {
        assert_eq!(
            SlotError::from_status(Status::DeviceNotReady),
            SlotError::HardwareError
        );
        assert_eq!(SlotError::from_status(Status::DeviceNotReady).code(), 0xFB);
    }
}

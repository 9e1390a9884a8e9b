//! RDR_to_PC answers (CCID 1.1 §6.2): the header with `bStatus`, `bError` and the
//! message-specific byte, written after the data is already in place.

use crate::error::SlotError;
use crate::message::{self, pc_to_rdr, rdr_to_pc};

/// Write `bytes` at the start of an answer's data area `data`: their length, or
/// [`SlotError::XfrOverrun`] if they do not fit.
pub(crate) fn put_data(data: &mut [u8], bytes: &[u8]) -> Result<usize, SlotError> {
    let out = data.get_mut(..bytes.len()).ok_or(SlotError::XfrOverrun)?;
    out.copy_from_slice(bytes);
    Ok(bytes.len())
}

/// `bmICCStatus`: bits 0-1 of `bStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IccStatus {
    /// 0: a card is present and active (powered).
    PresentActive,
    /// 1: a card is present and inactive (not powered).
    PresentInactive,
    /// 2: no card.
    Absent,
}

impl IccStatus {
    /// The card status a `bStatus` byte reports (bits 0-1; the reserved 3 reads
    /// as no card).
    pub const fn from_status_byte(status: u8) -> IccStatus {
        match status & 0x03 {
            0 => IccStatus::PresentActive,
            1 => IccStatus::PresentInactive,
            _ => IccStatus::Absent,
        }
    }
}

/// `bmCommandStatus`: bits 6-7 of `bStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandStatus {
    /// 0: processed without error.
    Processed,
    /// 1: failed; `bError` says why.
    Failed,
    /// 2: time extension requested; `bError` is the multiplier.
    TimeExtension,
}

/// The kind of answer a command gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnswerKind {
    /// RDR_to_PC_DataBlock (IccPowerOn, XfrBlock, Secure); the specific byte is
    /// `bChainParameter`.
    DataBlock,
    /// RDR_to_PC_SlotStatus; the specific byte is `bClockStatus`.
    SlotStatus,
    /// RDR_to_PC_Parameters; the specific byte is `bProtocolNum`.
    Parameters,
    /// RDR_to_PC_Escape.
    Escape,
    /// RDR_to_PC_DataRateAndClockFrequency.
    DataRateAndClock,
}

impl AnswerKind {
    /// The answer to a command of `message_type` (an unknown type gets a slot
    /// status, CCID 1.1 §6.2.6).
    pub const fn for_command(message_type: u8) -> AnswerKind {
        match message_type {
            pc_to_rdr::ICC_POWER_ON | pc_to_rdr::XFR_BLOCK | pc_to_rdr::SECURE => {
                AnswerKind::DataBlock
            }
            pc_to_rdr::GET_PARAMETERS | pc_to_rdr::RESET_PARAMETERS | pc_to_rdr::SET_PARAMETERS => {
                AnswerKind::Parameters
            }
            pc_to_rdr::ESCAPE => AnswerKind::Escape,
            pc_to_rdr::SET_DATA_RATE_AND_CLOCK => AnswerKind::DataRateAndClock,
            _ => AnswerKind::SlotStatus,
        }
    }

    /// The `bMessageType` of the answer.
    pub const fn message_type(self) -> u8 {
        match self {
            AnswerKind::DataBlock => rdr_to_pc::DATA_BLOCK,
            AnswerKind::SlotStatus => rdr_to_pc::SLOT_STATUS,
            AnswerKind::Parameters => rdr_to_pc::PARAMETERS,
            AnswerKind::Escape => rdr_to_pc::ESCAPE,
            AnswerKind::DataRateAndClock => rdr_to_pc::DATA_RATE_AND_CLOCK,
        }
    }
}

/// The header of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Answer {
    /// Which answer.
    pub kind: AnswerKind,
    /// `bSlot`, echoed from the command.
    pub slot: u8,
    /// `bSeq`, echoed from the command.
    pub seq: u8,
    /// The card's state.
    pub icc: IccStatus,
    /// How the command ended.
    pub command: CommandStatus,
    /// `bError` (0 unless failed or time extension).
    pub error: u8,
    /// The message-specific byte: `bChainParameter`, `bClockStatus` or
    /// `bProtocolNum` (0 for the others).
    pub specific: u8,
}

impl Answer {
    /// A DataBlock asking the host for more time (`bmCommandStatus` = 2, `bError` =
    /// the BWT `multiplier`) for the command `slot`/`seq` still running on an
    /// active card.
    pub const fn time_extension(slot: u8, seq: u8, multiplier: u8) -> Answer {
        Answer {
            kind: AnswerKind::DataBlock,
            slot,
            seq,
            icc: IccStatus::PresentActive,
            command: CommandStatus::TimeExtension,
            error: multiplier,
            specific: 0,
        }
    }

    /// `bStatus`: `bmICCStatus | bmCommandStatus << 6`.
    pub const fn status_byte(&self) -> u8 {
        let icc = match self.icc {
            IccStatus::PresentActive => 0,
            IccStatus::PresentInactive => 1,
            IccStatus::Absent => 2,
        };
        let command = match self.command {
            CommandStatus::Processed => 0,
            CommandStatus::Failed => 1,
            CommandStatus::TimeExtension => 2,
        };
        icc | command << 6
    }

    /// Write the header into `out[..10]`, with `dwLength` = `data_len`; the data
    /// is expected at `out[10..10 + data_len]` already. Returns the message
    /// length, or `None` if `out` cannot hold it.
    pub fn emit(&self, data_len: usize, out: &mut [u8]) -> Option<usize> {
        let total = message::HEADER_LEN.checked_add(data_len)?;
        let length = u32::try_from(data_len).ok()?;
        out.get(..total)?;
        out.get_mut(..message::HEADER_LEN)?
            .copy_from_slice(&self.header_with_length(length));
        Some(total)
    }

    /// The whole answer when it carries no data: its 10-byte header, `dwLength`
    /// 0.
    pub fn header(&self) -> [u8; message::HEADER_LEN] {
        self.header_with_length(0)
    }

    /// The header with `dwLength` = `length` (bytes of data after it).
    fn header_with_length(&self, length: u32) -> [u8; message::HEADER_LEN] {
        let specific = match self.kind {
            AnswerKind::Escape | AnswerKind::DataRateAndClock => {
                [self.status_byte(), self.error, 0]
            }
            _ => [self.status_byte(), self.error, self.specific],
        };
        message::header(
            self.kind.message_type(),
            length,
            self.slot,
            self.seq,
            specific,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_byte_packs_both_fields() {
        let mut a = Answer {
            kind: AnswerKind::SlotStatus,
            slot: 0,
            seq: 3,
            icc: IccStatus::Absent,
            command: CommandStatus::Failed,
            error: 0xFE,
            specific: 0,
        };
        assert_eq!(a.status_byte(), 0x42);
        a.icc = IccStatus::PresentInactive;
        a.command = CommandStatus::TimeExtension;
        assert_eq!(a.status_byte(), 0x81);
        let mut out = [0u8; 10];
        assert_eq!(a.emit(0, &mut out), Some(10));
        assert_eq!(out, [0x81, 0, 0, 0, 0, 0, 3, 0x81, 0xFE, 0]);
        assert_eq!(a.emit(1, &mut out), None);
    }

    #[test]
    fn icc_status_reads_back_from_the_status_byte() {
        for icc in [
            IccStatus::PresentActive,
            IccStatus::PresentInactive,
            IccStatus::Absent,
        ] {
            let a = Answer::time_extension(0, 0, 1);
            let a = Answer { icc, ..a };
            assert_eq!(IccStatus::from_status_byte(a.status_byte()), icc);
        }
        assert_eq!(IccStatus::from_status_byte(0x43), IccStatus::Absent);
    }
}

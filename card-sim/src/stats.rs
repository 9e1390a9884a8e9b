//! Counters of what crossed the I/O line, and a short log of the APDUs the card
//! executed: what a wire-efficiency benchmark needs (bytes on the wire per payload
//! byte).

use heapless::HistoryBuf;

/// How many APDUs [`ApduLog`] remembers.
pub const LOG_LEN: usize = 16;

/// Counters since the card was created or [`Card::reset_stats`] was called (resets do
/// not clear them).
///
/// [`Card::reset_stats`]: crate::card::Card::reset_stats
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Bytes the reader wrote to the card while powered (ignored ones included,
    /// rejected ones of a parity error included).
    pub bytes_to_card: u64,
    /// Bytes the card sent (ATR included).
    pub bytes_from_card: u64,
    /// ATRs sent.
    pub atrs: u32,
    /// PPS requests answered.
    pub pps: u32,
    /// T=1 blocks received (valid or not).
    pub blocks_to_card: u32,
    /// T=1 blocks sent.
    pub blocks_from_card: u32,
    /// T=1 I-blocks sent.
    pub i_blocks_from_card: u32,
    /// T=1 R-blocks sent.
    pub r_blocks_from_card: u32,
    /// T=1 S-blocks sent.
    pub s_blocks_from_card: u32,
    /// T=1 invalid blocks received (EDC, parity, length or format errors).
    pub invalid_blocks: u32,
    /// T=1 blocks sent again at the reader's request.
    pub retransmissions: u32,
    /// T=0 procedure bytes sent (ACK, INS ⊕ FF, NULL).
    pub procedure_bytes: u32,
    /// T=0 GET RESPONSE commands answered with data.
    pub get_responses: u32,
    /// Parity errors signalled or simulated.
    pub parity_errors: u32,
    /// Application commands executed (GET RESPONSE and ENVELOPE parts excluded).
    pub commands: u32,
    /// Bytes of command data fields executed.
    pub command_data_bytes: u64,
    /// Bytes of response data fields produced (status words excluded).
    pub response_data_bytes: u64,
    /// Bytes the card could not queue because the reader did not read them.
    pub output_overflow: u32,
}

impl Stats {
    /// Bytes on the line in both directions.
    pub const fn wire_bytes(&self) -> u64 {
        self.bytes_to_card + self.bytes_from_card
    }

    /// Payload bytes: command and response data fields.
    pub const fn payload_bytes(&self) -> u64 {
        self.command_data_bytes + self.response_data_bytes
    }
}

/// One executed APDU. A command that does not parse (too short, too long) is answered
/// `67 00` and logged with the header bytes it had, 0 for those it lacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApduRecord {
    /// Class byte.
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Length of the command data field.
    pub nc: usize,
    /// Ne, if Le was present.
    pub ne: Option<usize>,
    /// Length of the response data field.
    pub nr: usize,
    /// The status word.
    pub sw: u16,
}

/// The last [`LOG_LEN`] APDUs the application executed, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApduLog {
    records: HistoryBuf<ApduRecord, LOG_LEN>,
    total: u32,
}

impl ApduLog {
    pub(crate) fn push(&mut self, record: ApduRecord) {
        self.records.write(record);
        self.total = self.total.wrapping_add(1);
    }

    /// Records in order, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &ApduRecord> {
        self.records.oldest_ordered()
    }

    /// The most recent record.
    pub fn last(&self) -> Option<&ApduRecord> {
        self.records.recent()
    }

    /// How many APDUs were logged in total (including those no longer held).
    pub const fn total(&self) -> u32 {
        self.total
    }

    /// Forget everything.
    pub fn clear(&mut self) {
        self.records.clear();
        self.total = 0;
    }
}

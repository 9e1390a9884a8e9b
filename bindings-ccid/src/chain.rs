//! Extended APDUs chained across XfrBlock messages (CCID 1.1 §6.1.4
//! `wLevelParameter`, §6.2.1 `bChainParameter`), for APDUs and responses longer
//! than one message holds (`dwMaxCCIDMessageLength` - 10 bytes of data).
//!
//! The host sends a long command in parts: `wLevelParameter` 01 (begins), 03
//! (continues) ..., 02 (ends); the reader answers each part but the last with an
//! empty DataBlock whose `bChainParameter` is 10 ("send the next part"). A
//! response longer than a message goes back the same way: the first part with
//! `bChainParameter` 01, then for each XfrBlock with `wLevelParameter` 10 and no
//! data the next part, 03 while more follows, 02 for the last.
//!
//! The parts are collected in a buffer the builder gives
//! ([`CcidReader::with_apdu_buffer`](crate::CcidReader::with_apdu_buffer)): no
//! allocation, and its size bounds the APDUs. The command sits at its start and
//! the response is written after it, behind the core's 8-byte `SCARD_IO_REQUEST`
//! header: a buffer of `c + 8 + r` bytes carries a command of `c` bytes and a
//! response of `r`. A command longer than the buffer fails with `XfrOverrun`, as
//! does a response that does not fit behind it.

use readerkit::ioctl::IO_REQUEST_LEN;

use crate::error::SlotError;

/// `wLevelParameter` of an XfrBlock and `bChainParameter` of its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// 00: the whole APDU in this message (or the response in this answer).
    Whole,
    /// 01: the APDU begins here and continues in the next message.
    Begins,
    /// 02: the APDU ends with this message.
    Ends,
    /// 03: the APDU continues: neither its first nor its last part.
    Continues,
    /// 10: an empty message asking for the next part (of the response from the
    /// host; of the command from the reader).
    NextPart,
}

/// Each level and its code (CCID 1.1 §6.1.4, §6.2.1).
const CODES: [(Level, u8); 5] = [
    (Level::Whole, 0x00),
    (Level::Begins, 0x01),
    (Level::Ends, 0x02),
    (Level::Continues, 0x03),
    (Level::NextPart, 0x10),
];

impl Level {
    /// The level of a `wLevelParameter`; `None` for a value CCID does not define.
    pub fn from_code(code: u16) -> Option<Level> {
        CODES
            .iter()
            .find(|(_, c)| u16::from(*c) == code)
            .map(|(level, _)| *level)
    }

    /// Its code (the `bChainParameter` byte; `wLevelParameter` is the same
    /// value).
    pub fn code(self) -> u8 {
        CODES
            .iter()
            .find(|(level, _)| *level == self)
            .map_or(0, |(_, c)| *c)
    }
}

/// Where the chaining is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No chained APDU.
    Idle,
    /// Command parts for `slot` collected: `len` bytes at the buffer's start.
    Command { slot: u8, len: usize },
    /// The response for `slot` goes out: `buffer[sent..end]` is still to go.
    Response { slot: u8, sent: usize, end: usize },
}

/// What a command part led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// Stored: answer an empty DataBlock with `bChainParameter` 10.
    Stored,
    /// The last part came: the APDU is `command()` (its length here).
    Complete(usize),
}

/// The chaining state and its buffer.
#[derive(Debug)]
pub(crate) struct Chaining<'b> {
    buffer: &'b mut [u8],
    state: State,
}

impl<'b> Chaining<'b> {
    pub(crate) fn new(buffer: &'b mut [u8]) -> Chaining<'b> {
        Chaining {
            buffer,
            state: State::Idle,
        }
    }

    /// Forget any chained APDU of `slot` (another command came for it).
    pub(crate) fn drop_slot(&mut self, slot: u8) {
        let owner = match self.state {
            State::Idle => return,
            State::Command { slot, .. } | State::Response { slot, .. } => slot,
        };
        if owner == slot {
            self.state = State::Idle;
        }
    }

    /// A part of a command for `slot` at `level` (begins, continues or ends).
    /// A part out of order is `BadField(8)` (the offset of
    /// `wLevelParameter`) and a command longer than the buffer `XfrOverrun`;
    /// both drop what was collected.
    pub(crate) fn command_part(
        &mut self,
        slot: u8,
        level: Level,
        data: &[u8],
    ) -> Result<Part, SlotError> {
        let have = match (level, self.state) {
            (Level::Begins, _) => 0,
            (Level::Continues | Level::Ends, State::Command { slot: owner, len })
                if owner == slot =>
            {
                len
            }
            _ => return Err(self.fail(SlotError::BadField(8))),
        };
        let end = have
            .checked_add(data.len())
            .filter(|end| *end <= self.buffer.len())
            .ok_or_else(|| self.fail(SlotError::XfrOverrun))?;
        self.buffer[have..end].copy_from_slice(data);
        if level == Level::Ends {
            self.state = State::Idle;
            Ok(Part::Complete(end))
        } else {
            self.state = State::Command { slot, len: end };
            Ok(Part::Stored)
        }
    }

    /// The complete command (`len` bytes from [`Part::Complete`]) and the room
    /// after it for the core's answer (`SCARD_IO_REQUEST` header, response).
    pub(crate) fn command_and_output(&mut self, len: usize) -> (&[u8], &mut [u8]) {
        let (command, output) = self.buffer.split_at_mut(len.min(self.buffer.len()));
        (command, output)
    }

    /// The whole buffer as the core's output, for a command that came whole.
    pub(crate) fn output(&mut self) -> &mut [u8] {
        self.buffer
    }

    /// The core wrote a response of `response_len` bytes into the output that
    /// starts at `output_at` (0 for [`Chaining::output`], the command's length
    /// for [`Chaining::command_and_output`]): send it, starting now.
    pub(crate) fn response_ready(&mut self, slot: u8, output_at: usize, response_len: usize) {
        let sent = output_at + IO_REQUEST_LEN;
        self.state = State::Response {
            slot,
            sent,
            end: sent + response_len,
        };
    }

    /// The next part of the response for `slot` into `out` (as much as fits):
    /// its length and `bChainParameter` (whole, the first of several, one in
    /// the middle, the last). `BadField(8)` if no response waits.
    pub(crate) fn next_response_part(
        &mut self,
        slot: u8,
        first: bool,
        out: &mut [u8],
    ) -> Result<(usize, Level), SlotError> {
        let State::Response {
            slot: owner,
            sent,
            end,
        } = self.state
        else {
            return Err(self.fail(SlotError::BadField(8)));
        };
        if owner != slot {
            return Err(self.fail(SlotError::BadField(8)));
        }
        let len = (end - sent).min(out.len());
        out[..len].copy_from_slice(&self.buffer[sent..sent + len]);
        let last = sent + len == end;
        let chain = match (first, last) {
            (true, true) => Level::Whole,
            (true, false) => Level::Begins,
            (false, false) => Level::Continues,
            (false, true) => Level::Ends,
        };
        self.state = if last {
            State::Idle
        } else {
            State::Response {
                slot,
                sent: sent + len,
                end,
            }
        };
        Ok((len, chain))
    }

    fn fail(&mut self, error: SlotError) -> SlotError {
        self.state = State::Idle;
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_parts_in_order_are_collected() {
        let mut buffer = [0u8; 16];
        let mut chain = Chaining::new(&mut buffer);
        assert_eq!(
            chain.command_part(0, Level::Begins, &[1, 2]),
            Ok(Part::Stored)
        );
        assert_eq!(
            chain.command_part(0, Level::Continues, &[3]),
            Ok(Part::Stored)
        );
        assert_eq!(
            chain.command_part(0, Level::Ends, &[4, 5]),
            Ok(Part::Complete(5))
        );
        let (command, output) = chain.command_and_output(5);
        assert_eq!(command, [1, 2, 3, 4, 5]);
        assert_eq!(output.len(), 11);
    }

    #[test]
    fn parts_out_of_order_or_too_long_are_refused_and_dropped() {
        let mut buffer = [0u8; 4];
        let mut chain = Chaining::new(&mut buffer);
        let out_of_order = Err(SlotError::BadField(8));
        assert_eq!(chain.command_part(0, Level::Continues, &[1]), out_of_order);
        assert_eq!(chain.command_part(0, Level::Ends, &[1]), out_of_order);
        assert_eq!(Level::from_code(0x07), None);
        assert_eq!(Level::from_code(0x10), Some(Level::NextPart));
        chain.command_part(0, Level::Begins, &[1]).unwrap();
        // Another slot cannot continue slot 0's APDU; that drops it.
        assert_eq!(chain.command_part(1, Level::Ends, &[1]), out_of_order);
        assert_eq!(chain.command_part(0, Level::Ends, &[1]), out_of_order);
        chain.command_part(0, Level::Begins, &[1, 2, 3]).unwrap();
        assert_eq!(
            chain.command_part(0, Level::Continues, &[4, 5]),
            Err(SlotError::XfrOverrun)
        );
        assert_eq!(chain.command_part(0, Level::Ends, &[4]), out_of_order);
        // Another command for the slot drops its parts.
        chain.command_part(0, Level::Begins, &[1]).unwrap();
        chain.drop_slot(1);
        assert_eq!(
            chain.command_part(0, Level::Ends, &[2]),
            Ok(Part::Complete(2))
        );
        chain.command_part(0, Level::Begins, &[1]).unwrap();
        chain.drop_slot(0);
        assert_eq!(chain.command_part(0, Level::Ends, &[2]), out_of_order);
    }

    #[test]
    fn response_goes_out_in_parts() {
        let mut buffer = [0u8; 20];
        let mut chain = Chaining::new(&mut buffer);
        chain.output()[8..15].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7]);
        chain.response_ready(0, 0, 7);
        let mut out = [0u8; 3];
        assert_eq!(
            chain.next_response_part(1, false, &mut out),
            Err(SlotError::BadField(8)),
            "another slot's request drops it"
        );
        chain.response_ready(0, 0, 7);
        let parts = [
            (true, [1, 2, 3], 3, Level::Begins),
            (false, [4, 5, 6], 3, Level::Continues),
            (false, [7, 5, 6], 1, Level::Ends),
        ];
        for (first, bytes, len, chain_parameter) in parts {
            assert_eq!(
                chain.next_response_part(0, first, &mut out),
                Ok((len, chain_parameter))
            );
            assert_eq!(out, bytes);
        }
        assert_eq!(
            chain.next_response_part(0, false, &mut out),
            Err(SlotError::BadField(8)),
            "nothing more"
        );
        chain.response_ready(0, 0, 2);
        assert_eq!(
            chain.next_response_part(0, true, &mut out),
            Ok((2, Level::Whole))
        );
    }
}

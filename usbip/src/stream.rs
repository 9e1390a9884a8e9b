//! The URB phase of a connection as a byte stream: whatever the peer sends, in
//! pieces of any size, cut into URB commands with their OUT data, sans-I/O.
//!
//! Each command is a [`URB_HEADER_LEN`]-byte header, checked by
//! [`protocol::parse_urb`] (against the imported device's `devid`) before
//! anything else is read, then (for an OUT
//! submission) the data the header announces, at most [`protocol::MAX_TRANSFER`]
//! bytes, collected as it arrives (not allocated on the header's word). So the
//! decoder never holds more than one header and one transfer, whatever the peer
//! claims. A malformed header ends the stream: the decoder keeps its error and
//! reads nothing more (USB/IP has no way to skip to the next command).

use crate::protocol::{self, ProtocolError, URB_HEADER_LEN, UrbCommand};

/// Where the decoder is in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Reading a header: `have` bytes of it so far.
    Header {
        /// Bytes of the header read.
        have: usize,
    },
    /// Reading the OUT data of `command` into the data buffer.
    Data {
        /// The command whose data is read.
        command: UrbCommand,
        /// Bytes of data announced.
        wanted: usize,
    },
    /// A header was malformed: the stream is over.
    Failed(ProtocolError),
}

/// The URB command stream of one connection.
#[derive(Debug, Clone)]
pub struct UrbStream {
    /// The `devid` every command must carry.
    devid: u32,
    state: State,
    header: [u8; URB_HEADER_LEN],
    data: Vec<u8>,
}

impl UrbStream {
    /// A stream at the start of the URB phase of a connection that imported
    /// device `devid` ([`protocol::DeviceInfo::devid`]): a command naming
    /// another device ends it ([`ProtocolError::Device`]).
    pub fn new(devid: u32) -> Self {
        UrbStream {
            devid,
            state: State::Header { have: 0 },
            header: [0; URB_HEADER_LEN],
            data: Vec::new(),
        }
    }

    /// The error that ended the stream, if one did.
    pub fn failed(&self) -> Option<ProtocolError> {
        match self.state {
            State::Failed(error) => Some(error),
            _ => None,
        }
    }

    /// Bytes held for the command being read (header and data), at most
    /// [`URB_HEADER_LEN`] + [`protocol::MAX_TRANSFER`].
    pub fn buffered(&self) -> usize {
        match self.state {
            State::Header { have } => have,
            State::Data { .. } => URB_HEADER_LEN + self.data.len(),
            State::Failed(_) => 0,
        }
    }

    /// Take bytes from the front of `input` until a command is complete, and return
    /// it with its OUT data (empty for IN and unlink); `None` when `input` ran out
    /// first (what was read is kept). After an error every call returns it again
    /// and takes nothing.
    pub fn next(
        &mut self,
        input: &mut &[u8],
    ) -> Option<Result<(UrbCommand, Vec<u8>), ProtocolError>> {
        loop {
            match self.state.clone() {
                State::Failed(error) => return Some(Err(error)),
                State::Header { have } => {
                    let rest = self.header.get_mut(have..).unwrap_or(&mut []);
                    let taken = take(input, rest);
                    let have = have + taken;
                    if have < URB_HEADER_LEN {
                        self.state = State::Header { have };
                        return None;
                    }
                    match protocol::parse_urb(&self.header, self.devid) {
                        Err(error) => self.state = State::Failed(error),
                        Ok(command) => {
                            let wanted = match command {
                                UrbCommand::Submit(submit) => submit.out_len(),
                                UrbCommand::Unlink { .. } => 0,
                            };
                            self.data = Vec::new();
                            self.state = State::Data { command, wanted };
                        }
                    }
                }
                State::Data { command, wanted } => {
                    let missing = wanted.saturating_sub(self.data.len());
                    let (now, later) = input.split_at(missing.min(input.len()));
                    self.data.extend_from_slice(now);
                    *input = later;
                    if self.data.len() < wanted {
                        return None;
                    }
                    self.state = State::Header { have: 0 };
                    return Some(Ok((command, std::mem::take(&mut self.data))));
                }
            }
        }
    }
}

/// Copy the front of `input` into `dest` (as much as fits), advance `input` past
/// it, and return how many bytes moved.
fn take(input: &mut &[u8], dest: &mut [u8]) -> usize {
    let n = dest.len().min(input.len());
    let (now, later) = input.split_at(n);
    if let Some(dest) = dest.get_mut(..n) {
        dest.copy_from_slice(now);
    }
    *input = later;
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Direction, MAX_TRANSFER};

    /// The devid of the headers below (word 2).
    const DEVID: u32 = 0;

    fn header(words: [u32; 10]) -> Vec<u8> {
        let mut bytes: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
        bytes.resize(URB_HEADER_LEN, 0);
        bytes
    }

    #[test]
    fn commands_come_out_whatever_the_pieces() {
        let mut wire = header([1, 5, 0, 0, 1, 0, 3, 0, 0, 0]);
        wire.extend_from_slice(&[0xAA, 0xBB, 0xCC]);
        wire.extend(header([2, 6, 0, 0, 0, 5, 0, 0, 0, 0]));
        for piece in [1, 7, 48, 50, wire.len()] {
            let mut stream = UrbStream::new(DEVID);
            let mut got = Vec::new();
            for chunk in wire.chunks(piece) {
                let mut input = chunk;
                while let Some(next) = stream.next(&mut input) {
                    got.push(next.unwrap());
                }
                assert!(input.is_empty());
            }
            assert_eq!(got.len(), 2, "pieces of {piece}");
            let (UrbCommand::Submit(submit), data) = &got[0] else {
                panic!("not a submit");
            };
            assert_eq!(
                (submit.seqnum, submit.direction, submit.endpoint),
                (5, Direction::Out, 1)
            );
            assert_eq!(data, &[0xAA, 0xBB, 0xCC]);
            assert_eq!(
                got[1],
                (
                    UrbCommand::Unlink {
                        seqnum: 6,
                        victim: 5
                    },
                    Vec::new()
                )
            );
            assert_eq!(stream.buffered(), 0);
        }
    }

    #[test]
    fn a_malformed_header_ends_the_stream() {
        let mut wire = header([9, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        wire.extend(header([2, 6, 0, 0, 0, 5, 0, 0, 0, 0]));
        let mut stream = UrbStream::new(DEVID);
        let mut input = &wire[..];
        assert_eq!(
            stream.next(&mut input),
            Some(Err(ProtocolError::Command(9)))
        );
        assert_eq!(
            input.len(),
            URB_HEADER_LEN,
            "nothing read past the bad header"
        );
        assert_eq!(
            stream.next(&mut input),
            Some(Err(ProtocolError::Command(9)))
        );
        assert_eq!(stream.failed(), Some(ProtocolError::Command(9)));
    }

    #[test]
    fn a_claimed_length_is_not_allocated_before_it_arrives() {
        // 128 KiB announced, 10 bytes sent: the decoder holds the 10.
        let wire = header([1, 1, 0, 0, 1, 0, MAX_TRANSFER as u32, 0, 0, 0]);
        let mut stream = UrbStream::new(DEVID);
        let mut input = &wire[..];
        assert_eq!(stream.next(&mut input), None);
        let mut more = &[0u8; 10][..];
        assert_eq!(stream.next(&mut more), None);
        assert_eq!(stream.buffered(), URB_HEADER_LEN + 10);
    }
}

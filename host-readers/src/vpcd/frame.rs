//! vpcd framing, sans I/O: bytes in, whole messages out, each with the offset in
//! the byte stream where its length prefix began (so the reader can tell a message
//! begun before it sent a command from one begun after).

/// Largest vpcd message (the length field is 16 bits).
pub const MAX_MESSAGE: usize = 0xFFFF;

/// One whole message from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Offset of the first byte of its length prefix in the connection's stream.
    pub start: u64,
    /// The message.
    pub body: Vec<u8>,
}

/// Where the assembler is within the current message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Reading the 2-byte length; `got` bytes of it so far.
    Length { got: usize, first: u8 },
    /// Reading `len` bytes of body.
    Body { len: usize },
}

/// Cuts the peer's byte stream into messages.
#[derive(Debug)]
pub struct Assembler {
    part: Part,
    /// Bytes pushed so far.
    offset: u64,
    /// Where the message in progress began.
    start: u64,
    body: Vec<u8>,
}

impl Default for Assembler {
    fn default() -> Self {
        Assembler::new()
    }
}

impl Assembler {
    /// At the start of a connection.
    pub fn new() -> Assembler {
        Assembler {
            part: Part::Length { got: 0, first: 0 },
            offset: 0,
            start: 0,
            body: Vec::new(),
        }
    }

    /// Bytes pushed so far (the offset the next byte will have).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes of the unfinished message held so far, its length prefix included:
    /// at most 2 + [`MAX_MESSAGE`], whatever the peer sends (0 between messages).
    pub fn buffered(&self) -> usize {
        match self.part {
            Part::Length { got, .. } => got,
            Part::Body { .. } => 2 + self.body.len(),
        }
    }

    /// Take `bytes`, calling `on_frame` for every message they complete.
    pub fn push(&mut self, mut bytes: &[u8], mut on_frame: impl FnMut(Frame)) {
        while let Some((&byte, rest)) = bytes.split_first() {
            match self.part {
                Part::Length { got: 0, .. } => {
                    self.start = self.offset;
                    self.part = Part::Length {
                        got: 1,
                        first: byte,
                    };
                    self.advance(1);
                    bytes = rest;
                }
                Part::Length { first, .. } => {
                    let len = usize::from(u16::from_be_bytes([first, byte]));
                    self.advance(1);
                    bytes = rest;
                    self.body.clear();
                    self.part = Part::Body { len };
                    if len == 0 {
                        self.finish(&mut on_frame);
                    }
                }
                Part::Body { len } => {
                    let take = (len - self.body.len()).min(bytes.len());
                    let (now, later) = bytes.split_at(take);
                    self.body.extend_from_slice(now);
                    self.advance(take);
                    bytes = later;
                    if self.body.len() == len {
                        self.finish(&mut on_frame);
                    }
                }
            }
        }
    }

    fn advance(&mut self, n: usize) {
        self.offset = self.offset.wrapping_add(n as u64);
    }

    fn finish(&mut self, on_frame: &mut impl FnMut(Frame)) {
        self.part = Part::Length { got: 0, first: 0 };
        on_frame(Frame {
            start: self.start,
            body: core::mem::take(&mut self.body),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(chunks: &[&[u8]]) -> Vec<Frame> {
        let mut a = Assembler::new();
        let mut out = Vec::new();
        for chunk in chunks {
            a.push(chunk, |f| out.push(f));
        }
        out
    }

    #[test]
    fn whole_split_and_empty_messages_with_their_offsets() {
        let f = frames(&[&[0, 2, 0xAA, 0xBB, 0, 0, 0], &[1], &[0xCC, 0]]);
        assert_eq!(
            f,
            [
                Frame {
                    start: 0,
                    body: vec![0xAA, 0xBB]
                },
                Frame {
                    start: 4,
                    body: vec![]
                },
                Frame {
                    start: 6,
                    body: vec![0xCC]
                },
            ]
        );
    }

    #[test]
    fn byte_by_byte_equals_all_at_once() {
        let stream: Vec<u8> = [&[0x01, 0x00][..], &[7; 256], &[0xFF, 0xFF], &[9; 65_535]].concat();
        let mut one = Assembler::new();
        let mut bytewise = Vec::new();
        for b in &stream {
            one.push(&[*b], |f| bytewise.push(f));
        }
        assert_eq!(bytewise, frames(&[&stream]));
        assert_eq!(bytewise.len(), 2);
        assert_eq!(bytewise[1].start, 258);
        assert_eq!(bytewise[1].body.len(), MAX_MESSAGE);
        assert_eq!(one.offset(), stream.len() as u64);
        assert_eq!(one.buffered(), 0);
    }

    #[test]
    fn an_unfinished_message_is_held_up_to_its_length() {
        let mut a = Assembler::new();
        let mut count = 0;
        a.push(&[0xFF], |_| count += 1);
        assert_eq!(a.buffered(), 1);
        a.push(&[0xFF], |_| count += 1);
        assert_eq!(a.buffered(), 2);
        // More than one message's worth: the first completes, the rest is held.
        a.push(&[5; MAX_MESSAGE + 3], |_| count += 1);
        assert_eq!(count, 1);
        assert_eq!(a.buffered(), 3);
        assert_eq!(a.offset(), 2 + MAX_MESSAGE as u64 + 3);
    }
}

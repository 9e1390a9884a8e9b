//! A vpcd peer's bytes, cut into pieces the way a trickling peer sends them,
//! through the reader's read path: the framing
//! (`readerkit_host_readers::vpcd::frame::Assembler`, what the listener feeds
//! every read of the socket into) and the choice of the answer among the messages
//! (`vpcd::inbox::Inbox`), with the reader's commands going out between pieces.
//!
//! Input: a count byte N, then N cut bytes (piece sizes: a byte `c` is a piece of
//! `c + 1` bytes, 255 the rest of the stream), a count byte M, M action bytes (one
//! before each piece, in turn: `a % 5` = 0 nothing, 1 a command goes out with
//! `a / 5` bytes of the stream already on their way (in the kernel), 2 the
//! exchange ends, 3 the answer is taken, 4 the connection ends), then the stream.
//! The stream is framed three ways: all at once, in the fuzzer's pieces, byte by
//! byte. Oracles:
//! * no panic;
//! * the same frames (start offsets and bodies) every way, and the same as a
//!   reference reading of the stream (2-byte big-endian length, that many bytes);
//! * each frame's body is exactly what its length prefix announced, never more
//!   than `MAX_MESSAGE` bytes, and starts where the previous frame ended;
//! * after every piece the assembler holds exactly the unfinished message's
//!   bytes (at most 2 + `MAX_MESSAGE`: no growth with the stream) and its offset
//!   is the number of bytes pushed;
//! * the answer taken is the reference's first message that begins at or after
//!   the command went out, once it has arrived whole (and before the exchange or
//!   the connection ended), nothing otherwise; every other message is counted
//!   discarded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use readerkit_host_readers::vpcd::frame::{Assembler, Frame, MAX_MESSAGE};
use readerkit_host_readers::vpcd::inbox::Inbox;

/// The stream read the simple way: every whole message, and the bytes of the
/// unfinished one at the end.
fn reference(stream: &[u8]) -> (Vec<Frame>, usize) {
    let mut frames = Vec::new();
    let mut at = 0;
    while let Some(&[hi, lo]) = stream.get(at..at + 2) {
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        let Some(body) = stream.get(at + 2..at + 2 + len) else {
            break;
        };
        frames.push(Frame {
            start: at as u64,
            body: body.to_vec(),
        });
        at += 2 + len;
    }
    (frames, stream.len() - at)
}

/// Push `pieces` one after the other, checking the assembler after each.
fn framed<'a>(pieces: impl Iterator<Item = &'a [u8]>) -> (Vec<Frame>, Assembler) {
    let mut assembler = Assembler::new();
    let mut frames = Vec::new();
    let mut pushed = 0;
    for piece in pieces {
        assembler.push(piece, |frame| {
            assert!(frame.body.len() <= MAX_MESSAGE);
            frames.push(frame);
        });
        pushed += piece.len();
        assert_eq!(assembler.offset(), pushed as u64);
        let ended = frames
            .last()
            .map_or(0, |f| f.start as usize + 2 + f.body.len());
        assert_eq!(assembler.buffered(), pushed - ended);
        assert!(assembler.buffered() <= 2 + MAX_MESSAGE);
    }
    (frames, assembler)
}

/// The fuzzer's pieces of `stream`.
fn pieces<'a>(mut stream: &'a [u8], cuts: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
    let mut cuts = cuts.iter().cycle();
    std::iter::from_fn(move || {
        if stream.is_empty() {
            return None;
        }
        let size = match cuts.next() {
            None | Some(255) => stream.len(),
            Some(&c) => usize::from(c) + 1,
        };
        let (piece, rest) = stream.split_at(size.min(stream.len()));
        stream = rest;
        Some(piece)
    })
}

/// The answer a command awaits, as the reference reading says.
struct Awaited {
    /// The first whole message that begins at or after the command went out.
    answer: Option<Frame>,
    /// Stream offset where the connection ended, if it did.
    ended_at: Option<usize>,
    taken: bool,
}

impl Awaited {
    /// What `Inbox::take_answer` must give with `pushed` bytes of the stream framed.
    fn take(&mut self, pushed: usize) -> Option<Vec<u8>> {
        let frame = self.answer.as_ref().filter(|_| !self.taken)?;
        let end = frame.start as usize + 2 + frame.body.len();
        if end > pushed.min(self.ended_at.unwrap_or(usize::MAX)) {
            return None;
        }
        self.taken = true;
        Some(frame.body.clone())
    }
}

/// The stream framed in the fuzzer's pieces into an inbox, the fuzzer's actions
/// between the pieces, checked against the reference reading.
fn read_path<'a>(
    stream: &[u8],
    pieces: impl Iterator<Item = &'a [u8]>,
    actions: &[u8],
    expected: &[Frame],
) {
    let mut assembler = Assembler::new();
    let mut inbox = Inbox::new();
    let mut awaited: Option<Awaited> = None;
    let (mut pushed, mut frames, mut answers) = (0, 0u64, 0u64);
    let mut actions = actions.iter().cycle();
    for piece in pieces {
        let action = actions.next().copied().unwrap_or(0);
        match action % 5 {
            1 => {
                let from = pushed + usize::from(action / 5).min(stream.len() - pushed);
                inbox.await_answer(from as u64);
                awaited = Some(Awaited {
                    answer: expected.iter().find(|f| f.start >= from as u64).cloned(),
                    ended_at: None,
                    taken: false,
                });
            }
            2 => {
                inbox.clear();
                awaited = None;
            }
            3 => {
                let want = awaited.as_mut().and_then(|a| a.take(pushed));
                assert_eq!(inbox.take_answer(), want, "taken at {pushed}");
            }
            4 => {
                inbox.stop_awaiting();
                if let Some(a) = awaited.as_mut() {
                    a.ended_at.get_or_insert(pushed);
                }
            }
            _ => {}
        }
        assembler.push(piece, |frame| {
            frames += 1;
            answers += u64::from(inbox.deliver(frame));
        });
        pushed += piece.len();
    }
    let want = awaited.as_mut().and_then(|a| a.take(pushed));
    assert_eq!(inbox.take_answer(), want, "taken at the end");
    assert_eq!(inbox.discarded(), frames - answers);
}

fuzz_target!(|data: &[u8]| {
    let (cuts, rest) = counted(data);
    let (actions, stream) = counted(rest);
    let (expected, unfinished) = reference(stream);
    for frame in &expected {
        let at = frame.start as usize;
        let prefix = u16::from_be_bytes([stream[at], stream[at + 1]]);
        assert_eq!(usize::from(prefix), frame.body.len());
    }

    let (whole, assembler) = framed(std::iter::once(stream));
    assert_eq!(whole, expected);
    assert_eq!(assembler.buffered(), unfinished);

    let (cut, assembler) = framed(pieces(stream, cuts));
    assert_eq!(cut, expected, "cut at {cuts:?}");
    assert_eq!(assembler.buffered(), unfinished);

    let (bytewise, _) = framed(stream.chunks(1));
    assert_eq!(bytewise, expected);

    read_path(stream, pieces(stream, cuts), actions, &expected);
});

/// A count byte and that many bytes (as many as there are), and the rest.
fn counted(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((&count, rest)) = data.split_first() else {
        return (&[], &[]);
    };
    rest.split_at(usize::from(count).min(rest.len()))
}

//! A vpcd peer's bytes, cut into pieces the way a trickling peer sends them,
//! through the reader's framing (`readerkit_host_readers::vpcd::frame::Assembler`,
//! what the listener feeds every read of the socket into).
//!
//! Input: a count byte N, then N cut bytes (piece sizes: a byte `c` is a piece of
//! `c + 1` bytes, 255 the rest of the stream), then the stream. The stream is
//! framed three ways: all at once, in the fuzzer's pieces, byte by byte. Oracles:
//! * no panic;
//! * the same frames (start offsets and bodies) every way, and the same as a
//!   reference reading of the stream (2-byte big-endian length, that many bytes);
//! * each frame's body is exactly what its length prefix announced, never more
//!   than `MAX_MESSAGE` bytes, and starts where the previous frame ended;
//! * after every piece the assembler holds exactly the unfinished message's
//!   bytes (at most 2 + `MAX_MESSAGE`: no growth with the stream) and its offset
//!   is the number of bytes pushed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use readerkit_host_readers::vpcd::frame::{Assembler, Frame, MAX_MESSAGE};

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

fuzz_target!(|data: &[u8]| {
    let Some((&count, rest)) = data.split_first() else {
        return;
    };
    let (cuts, stream) = rest.split_at(usize::from(count).min(rest.len()));
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
});

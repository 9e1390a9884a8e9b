//! A hostile or broken host on a GemPC Twin serial line, as a seeded script: bytes
//! trickled with gaps shorter and longer than the reader's frame gap, garbage
//! between frames, bad LRCs, headers announcing up to 4 GiB, frames cut short,
//! commands sent before the last answer was read, the same `bSeq` twice, every
//! PC_to_RDR type with a malformed field, NAKs after answers and after the
//! reader's own NAK, and answers left unread until the terminal is full. After
//! each abuse a plain GetSlotStatus must get its answer. For `readerkit
//! ccid-serve` and the QEMU firmware alike (both a GemPC Twin: they echo).

use std::fs::File;
use std::io::{Read, Write};
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, poll};

use crate::ccid::{message, message_with};
use crate::rng::Rng;
use crate::twin_peer::{frame, read_message, read_n};

/// The reader's NAK frame.
pub const NAK: [u8; 3] = [0x03, 0x15, 0x16];

/// How long the line stays quiet to have the reader drop a frame begun: more
/// than the frame gap of ccid-serve and the firmware (1 s).
pub const SILENCE: Duration = Duration::from_millis(1300);

/// One kind of abuse, then the answer the next valid command must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abuse {
    /// Bytes that start no frame (never SYNC) between frames: no answer.
    Garbage,
    /// A frame whose LRC is wrong: NAK.
    BadLrc,
    /// A header announcing more than the reader takes (up to 0xFFFFFFFF), then
    /// silence: NAK.
    HugeLength,
    /// A frame cut short, then silence: NAK.
    CutShort,
    /// A valid frame a byte at a time, gaps under the frame gap: served.
    Trickle,
    /// A valid frame a byte at a time with one gap over the frame gap: NAKs
    /// only (the rest of the frame is stray bytes or frames cut short).
    TrickleBroken,
    /// Two commands in one write, the same `bSeq`, before reading: both
    /// answered, in order.
    Chatty,
    /// A PC_to_RDR message with one malformed field: CMD_FAILED naming it.
    Malformed,
    /// A NAK after an answer: the answer again.
    NakAfterAnswer,
    /// A NAK after the reader's NAK: its NAK again, not an older answer.
    NakAfterNak,
}

impl Abuse {
    /// Every abuse.
    pub const ALL: [Abuse; 10] = [
        Abuse::Garbage,
        Abuse::BadLrc,
        Abuse::HugeLength,
        Abuse::CutShort,
        Abuse::Trickle,
        Abuse::TrickleBroken,
        Abuse::Chatty,
        Abuse::Malformed,
        Abuse::NakAfterAnswer,
        Abuse::NakAfterNak,
    ];
}

/// A malformed message and the answer's type and `bError` (CCID 1.1 §6.2.6: the
/// offset of the bad field; 0 for a command not supported).
struct Malformed {
    message: Vec<u8>,
    answer_type: u8,
    error: u8,
}

/// Every PC_to_RDR type with one bad field (slot 0 has the only card, `seq`
/// the message's `bSeq`).
fn malformed(seq: u8) -> Vec<Malformed> {
    let bad = |message: Vec<u8>, answer_type: u8, error: u8| Malformed {
        message,
        answer_type,
        error,
    };
    let with = |kind, specific, data: &[u8]| message_with(kind, 0, seq, specific, data);
    vec![
        // IccPowerOn: bPowerSelect 4; data.
        bad(with(0x62, [4, 0, 0], &[]), 0x80, 7),
        bad(with(0x62, [0, 0, 0], &[1]), 0x80, 1),
        // IccPowerOff, GetSlotStatus, GetParameters, ResetParameters, Abort:
        // data where none goes.
        bad(with(0x63, [0; 3], &[1]), 0x81, 1),
        bad(with(0x65, [0; 3], &[1, 2]), 0x81, 1),
        bad(with(0x6C, [0; 3], &[1]), 0x82, 1),
        bad(with(0x6D, [0; 3], &[1]), 0x82, 1),
        bad(with(0x72, [0; 3], &[1]), 0x81, 1),
        // SetParameters: bProtocolNum 2; T=0 data of 4 bytes; T=1 of 5.
        bad(with(0x61, [2, 0, 0], &[0x11, 0, 0, 0, 0]), 0x82, 7),
        bad(with(0x61, [0, 0, 0], &[0x11, 0, 0, 0]), 0x82, 1),
        bad(with(0x61, [1, 0, 0], &[0x11, 0x10, 0, 0x45, 0]), 0x82, 1),
        // SetParameters: bmTCCKST0 03, bClockStop 4; bmTCCKST1 00, bIFSC FF.
        bad(with(0x61, [0, 0, 0], &[0x11, 0x03, 0, 0x0A, 0]), 0x82, 11),
        bad(with(0x61, [0, 0, 0], &[0x11, 0x00, 0, 0x0A, 4]), 0x82, 14),
        bad(
            with(0x61, [1, 0, 0], &[0x11, 0x00, 0, 0x45, 0, 0xFE, 0]),
            0x82,
            11,
        ),
        bad(
            with(0x61, [1, 0, 0], &[0x11, 0x10, 0, 0x45, 0, 0xFF, 0]),
            0x82,
            15,
        ),
        // IccClock: bClockCommand 2.
        bad(with(0x6E, [2, 0, 0], &[]), 0x81, 7),
        // T0APDU: bmChanges 4.
        bad(with(0x6A, [4, 0, 0], &[]), 0x81, 7),
        // Mechanical: bFunction 0 and 6.
        bad(with(0x71, [0, 0, 0], &[]), 0x81, 7),
        bad(with(0x71, [6, 0, 0], &[]), 0x81, 7),
        // SetDataRateAndClockFrequency: 7 bytes of data.
        bad(with(0x73, [0; 3], &[0; 7]), 0x84, 1),
        // A slot that does not exist.
        bad(message_with(0x65, 1, seq, [0; 3], &[]), 0x81, 5),
        bad(message_with(0x62, 7, seq, [0; 3], &[]), 0x80, 5),
        // A type that is no PC_to_RDR command: not supported (a slot status).
        bad(with(0x60, [0; 3], &[]), 0x81, 0),
        bad(with(0xFF, [0; 3], &[]), 0x81, 0),
    ]
}

/// The hostile host on an open terminal.
pub struct Abuser {
    /// The reader's terminal, opened raw.
    pub port: File,
    rng: Rng,
    seq: u8,
    /// What was done, for the failure message.
    log: Vec<String>,
}

impl Abuser {
    /// The host on `port`, its script from `seed` (not 0).
    pub fn new(port: File, seed: u64) -> Abuser {
        Abuser {
            port,
            rng: Rng(seed),
            seq: 0,
            log: Vec::new(),
        }
    }

    fn next_seq(&mut self) -> u8 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn write(&mut self, bytes: &[u8]) {
        self.port.write_all(bytes).expect("write to the reader");
    }

    /// Read the echo of `sent` and return the answer that follows.
    fn answer_to(&mut self, sent: &[u8]) -> Vec<u8> {
        assert_eq!(
            read_message(&mut self.port),
            sent,
            "the echo; {:?}",
            self.log
        );
        read_message(&mut self.port)
    }

    /// A GetSlotStatus for slot 0 must get its answer: slot status, this `bSeq`,
    /// no error.
    pub fn probe(&mut self) {
        let seq = self.next_seq();
        let status = message(0x65, seq, &[]);
        self.write(&frame(&status));
        let answer = self.answer_to(&status);
        assert_eq!(answer[..1], [0x81], "{answer:02X?}; {:?}", self.log);
        assert_eq!(answer[5..7], [0, seq], "{answer:02X?}; {:?}", self.log);
        assert_eq!(answer[7] & 0xC0, 0, "{answer:02X?}; {:?}", self.log);
    }

    /// Nothing comes from the reader for `quiet`.
    fn expect_nothing(&mut self, quiet: Duration) {
        let mut fds = [PollFd::new(&self.port, PollFlags::POLLIN)];
        let ms = i32::try_from(quiet.as_millis()).unwrap_or(i32::MAX);
        let ready = poll(&mut fds, ms).expect("poll");
        if ready > 0 {
            let mut buf = [0u8; 64];
            let n = self.port.read(&mut buf).unwrap_or(0);
            panic!("unexpected {:02X?}; {:?}", &buf[..n], self.log);
        }
    }

    /// Read whatever the reader sends until it is quiet for `quiet`.
    fn drain(&mut self, quiet: Duration) -> Vec<u8> {
        let mut got = Vec::new();
        loop {
            let mut fds = [PollFd::new(&self.port, PollFlags::POLLIN)];
            let ms = i32::try_from(quiet.as_millis()).unwrap_or(i32::MAX);
            if poll(&mut fds, ms).expect("poll") == 0 {
                return got;
            }
            let mut buf = [0u8; 512];
            let n = self.port.read(&mut buf).expect("read");
            got.extend_from_slice(&buf[..n]);
        }
    }

    /// Run `abuse` and check the reader's answer to it (the probe after it is the
    /// caller's).
    pub fn abuse(&mut self, abuse: Abuse) {
        self.log.push(format!("{abuse:?}"));
        match abuse {
            Abuse::Garbage => {
                let n = 1 + self.rng.below(40);
                let bytes: Vec<u8> = (0..n)
                    .map(|_| match self.rng.below(256) as u8 {
                        0x03 => 0x04,
                        b => b,
                    })
                    .collect();
                self.log.push(format!("garbage {bytes:02X?}"));
                self.write(&bytes);
                self.expect_nothing(Duration::from_millis(50));
            }
            Abuse::BadLrc => {
                let seq = self.next_seq();
                let mut bad = frame(&message(0x65, seq, &[]));
                let last = bad.len() - 1;
                bad[last] ^= 1 + self.rng.below(255) as u8;
                self.write(&bad);
                self.expect_nak();
            }
            Abuse::HugeLength => {
                let length = match self.rng.below(3) {
                    0 => u32::MAX,
                    1 => 0x8000_0000 + self.rng.next_u64() as u32 / 2,
                    _ => 0x1_0000 + self.rng.below(0xFFFF) as u32,
                };
                let mut header = vec![0x03, 0x06, 0x6F];
                header.extend_from_slice(&length.to_le_bytes());
                header.extend_from_slice(&[0, self.next_seq(), 0, 0, 0]);
                let some_data = self.rng.below(20);
                header.extend_from_slice(&vec![0x00; some_data]);
                self.log.push(format!("dwLength {length:#X}"));
                self.write(&header);
                self.expect_nak();
            }
            Abuse::CutShort => {
                self.frame_then_silence();
                self.expect_nak();
            }
            Abuse::Trickle => {
                let seq = self.next_seq();
                let status = message(0x65, seq, &[]);
                for byte in frame(&status) {
                    self.write(&[byte]);
                    let gap = self.rng.below(120) as u64;
                    std::thread::sleep(Duration::from_millis(gap));
                }
                let answer = self.answer_to(&status);
                assert_eq!(answer[5..7], [0, seq], "{answer:02X?}; {:?}", self.log);
            }
            Abuse::TrickleBroken => {
                let rest = self.frame_then_silence();
                for byte in rest {
                    self.write(&[byte]);
                    std::thread::sleep(Duration::from_millis(10));
                }
                // The NAK for the cut, then perhaps NAKs for frames begun among
                // the rest (each dropped after the frame gap): NAKs only.
                std::thread::sleep(SILENCE);
                let got = self.drain(Duration::from_millis(200));
                assert!(
                    !got.is_empty() && got.chunks(3).all(|c| c == NAK),
                    "NAKs only, got {got:02X?}; {:?}",
                    self.log
                );
            }
            Abuse::Chatty => {
                let seq = self.next_seq();
                let twice = message(0x65, seq, &[]);
                let mut both = frame(&twice);
                both.extend_from_slice(&frame(&twice));
                self.write(&both);
                for _ in 0..2 {
                    let answer = self.answer_to(&twice);
                    assert_eq!(answer[..1], [0x81], "{answer:02X?}; {:?}", self.log);
                    assert_eq!(answer[5..9], [0, seq, 0x01, 0], "{:?}", self.log);
                }
            }
            Abuse::Malformed => {
                let mut all = malformed(0);
                let one = all.swap_remove(self.rng.below(all.len()));
                self.send_malformed(one);
            }
            Abuse::NakAfterAnswer => {
                let seq = self.next_seq();
                let status = message(0x65, seq, &[]);
                self.write(&frame(&status));
                let answer = self.answer_to(&status);
                self.write(&NAK);
                assert_eq!(read_message(&mut self.port), answer, "{:?}", self.log);
            }
            Abuse::NakAfterNak => {
                let mut bad = frame(&message(0x65, self.next_seq(), &[]));
                bad[2] ^= 0x80;
                self.write(&bad);
                self.expect_nak();
                self.write(&NAK);
                self.expect_nak();
            }
        }
    }

    /// `steps` abuses drawn from the seed, each followed by a [`Abuser::probe`].
    pub fn run(&mut self, steps: usize) {
        for _ in 0..steps {
            let abuse = Abuse::ALL[self.rng.below(Abuse::ALL.len())];
            self.abuse(abuse);
            self.probe();
        }
    }

    /// Every malformed message of the table in turn, each with its answer
    /// checked.
    pub fn every_malformed(&mut self) {
        for one in malformed(0) {
            self.send_malformed(one);
        }
    }

    /// Send `one` with the next `bSeq`: CMD_FAILED, the `bError` of the table.
    fn send_malformed(&mut self, one: Malformed) {
        let seq = self.next_seq();
        let mut sent = one.message;
        sent[6] = seq;
        self.log.push(format!("malformed {sent:02X?}"));
        self.write(&frame(&sent));
        let answer = self.answer_to(&sent);
        assert_eq!(
            [answer[0], answer[6], answer[7] & 0xC0, answer[8]],
            [one.answer_type, seq, 0x40, one.error],
            "{answer:02X?}; {:?}",
            self.log
        );
    }

    /// Write the start of a GetSlotStatus frame (cut at a point drawn from the
    /// seed), then keep quiet for [`SILENCE`]; returns the rest of the frame.
    fn frame_then_silence(&mut self) -> Vec<u8> {
        let mut whole = frame(&message(0x65, self.next_seq(), &[]));
        let cut = 1 + self.rng.below(whole.len() - 1);
        self.log.push(format!("cut at {cut}"));
        let rest = whole.split_off(cut);
        self.write(&whole);
        std::thread::sleep(SILENCE);
        rest
    }

    /// The reader's NAK (within `read_n`'s 5 s: the host keeps quiet
    /// meanwhile, so a frame begun is dropped after the reader's frame gap).
    fn expect_nak(&mut self) {
        assert_eq!(read_n(&mut self.port, 3), NAK, "{:?}", self.log);
    }

    /// Send `message` with the next `bSeq` (in place of its own) and return the
    /// answer (its echo checked).
    pub fn command(&mut self, message: &[u8]) -> Vec<u8> {
        let mut sent = message.to_vec();
        sent[6] = self.next_seq();
        self.write(&frame(&sent));
        self.answer_to(&sent)
    }

    /// `count` GetSlotStatus frames and `last` after them (with the next `bSeq`
    /// in place of its own: a command whose answer is long, a card's) written
    /// from another thread while this host reads nothing for `stall`, then
    /// read: every echo and answer, in order; returns the answer to `last`.
    /// `count` must be large enough that the reader's answers fill the terminal
    /// (about 68 KiB: its line buffer and its flip buffers) and the reader stops
    /// reading while its writes wait: the writer is then still writing after
    /// `stall`, which is checked.
    pub fn unread_answers(&mut self, count: usize, stall: Duration, last: &[u8]) -> Vec<u8> {
        let mut flood = Vec::new();
        let mut sent = Vec::new();
        for _ in 0..count {
            sent.push(message(0x65, self.next_seq(), &[]));
        }
        let mut long = last.to_vec();
        long[6] = self.next_seq();
        sent.push(long);
        for message in &sent {
            flood.extend_from_slice(&frame(message));
        }
        let mut writer = self.port.try_clone().expect("clone the terminal");
        let writing = std::thread::spawn(move || writer.write_all(&flood));
        std::thread::sleep(stall);
        assert!(
            !writing.is_finished(),
            "{count} frames fit in the terminal: nothing was left unread"
        );
        let mut answer = Vec::new();
        for (i, message) in sent.iter().enumerate() {
            answer = self.answer_to(message);
            assert_eq!(
                [answer[5], answer[6], answer[7] & 0xC0],
                [0, message[6], 0],
                "answer {i}: {answer:02X?}; {:?}",
                self.log
            );
        }
        writing
            .join()
            .expect("the writer")
            .expect("all frames written");
        answer
    }
}

/// A host that opens the terminal at `path`, writes 200 GetSlotStatus frames and
/// a power-on cut short after them, and closes it at once, reading nothing.
pub fn flood_and_leave(path: &str) {
    let mut port = crate::twin_peer::open_raw(path);
    let mut flood = Vec::new();
    for seq in 0..200u8 {
        flood.extend_from_slice(&frame(&message(0x65, seq, &[])));
    }
    flood.extend_from_slice(&frame(&message(0x62, 200, &[]))[..6]);
    port.write_all(&flood).expect("write to the reader");
}

//! Arbitrary bulk-OUT bytes against the CCID reader (message parser + dispatcher)
//! over simulated cards, directly or through the GemPC Twin serial decoder.
//!
//! Input layout: byte 0 picks the card (bits 0-2: t0, t1, t0t1, t1crc, none), the
//! exchange level (bits 3-4: TPDU, short APDU, extended APDU, extended APDU
//! chained across messages through a 2 KiB buffer), whether the slot is
//! powered first (bit 5) and whether the rest is a serial stream (bit 6); the rest
//! is either that stream or messages, each prefixed by its length (one byte).
//! Every message with a header must get an answer that echoes its bSlot and bSeq,
//! whose dwLength counts its data, of the kind its command gets, whose
//! bmICCStatus agrees with the slot's card state afterwards, and that is no longer
//! than the reader's `dwMaxCCIDMessageLength` (1024 bytes; the answer buffer is
//! larger). In a serial stream, a host's NAK must get what the oracle's own
//! bookkeeping says (`Expected`): the reader's last frame since the command
//! started (its answer, or its NAK after a damaged frame), nothing before the
//! answer, and bytes outside frames (card movement notifications; a stray byte
//! from 80 stands for a time request the reader sent) change nothing, as
//! `twin::Sent::after` rules.
#![no_main]

use libfuzzer_sys::fuzz_target;
use readerkit::Device;
use readerkit::line::LineReader;
use readerkit::platform::SpinPlatform;
use readerkit_card_sim::{Card, Config, Profile, SimLine};
use readerkit_ccid::reader::{Config as CcidConfig, ExchangeLevel, icc_status};
use readerkit_ccid::tpdu;
use readerkit_ccid::twin::{self, Decoder, Event, Sent, Step};
use readerkit_ccid::{AnswerKind, CcidReader, HandleError};
use readerkit_testkit::sim::inserted;

type Slot = Device<SpinPlatform, LineReader<SimLine<1024>>>;
type Reader<'a> = CcidReader<'a, SpinPlatform, LineReader<SimLine<1024>>>;

fn slot(kind: u8) -> Slot {
    let profile = match kind % 5 {
        0 => Some(Profile::t0()),
        1 => Some(Profile::t1()),
        2 => Some(Profile::t0_t1()),
        3 => Some(Profile::t1_crc()),
        _ => None,
    };
    let card = profile.map(|p| Card::create(Config::new(p)));
    inserted(card, twin::Profile::GemPcTwin.capabilities())
}

/// What a host's NAK must get, by the oracle's own bookkeeping.
enum Expected {
    Nothing,
    Nak,
    /// The frame of this answer.
    Frame(Vec<u8>),
}

impl Expected {
    /// The bytes on the line, framed here (not by `twin::encode`).
    fn bytes(&self) -> Vec<u8> {
        match self {
            Expected::Nothing => Vec::new(),
            Expected::Nak => vec![0x03, 0x15, 0x16],
            Expected::Frame(message) => {
                let mut frame = vec![0x03, 0x06];
                frame.extend_from_slice(message);
                frame.push(readerkit::t1::lrc(&frame));
                frame
            }
        }
    }
}

/// Room for a reader's answer (bytes): the oracle's answer buffer and its copy
/// kept for a host's NAK; more than [`MAX_MESSAGE`], so that an answer longer
/// than the reader declares would fit it.
const ANSWER_CAP: usize = 1100;

/// The reader's `dwMaxCCIDMessageLength`, in bytes.
const MAX_MESSAGE: usize = 1024;

/// Handle `message` and check its answer; returns the answer (none without a
/// header) and whether a card movement notification went out after it.
fn check(reader: &mut Reader<'_>, slots: &[Slot], message: &[u8]) -> (Option<Vec<u8>>, bool) {
    let mut answer = [0u8; ANSWER_CAP];
    let answered = match reader.handle(message, &mut answer) {
        Err(HandleError::Truncated) => {
            assert!(message.len() < 10);
            None
        }
        Err(e) => panic!("{e:?}"),
        Ok(len) => {
            assert!((10..=answer.len()).contains(&len));
            assert!(
                len <= MAX_MESSAGE,
                "dwMaxCCIDMessageLength bounds every answer, whatever the buffer"
            );
            let a = &answer[..len];
            assert_eq!(
                u32::from_le_bytes([a[1], a[2], a[3], a[4]]) as usize,
                len - 10,
                "dwLength counts the data"
            );
            assert_eq!((a[5], a[6]), (message[5], message[6]), "bSlot, bSeq echoed");
            assert_eq!(a[0], AnswerKind::for_command(message[0]).message_type());
            assert_ne!(a[7] >> 6, 3, "bmCommandStatus is 0, 1 or 2");
            if let Some(device) = slots.get(usize::from(message[5])) {
                // A card the protocol lost stays active for the host until it
                // powers it (libccid reads an inactive card it powered as a swap).
                let icc = match icc_status(device.state()) {
                    readerkit_ccid::IccStatus::PresentActive => 0,
                    readerkit_ccid::IccStatus::PresentInactive if device.card_lost() => 0,
                    readerkit_ccid::IccStatus::PresentInactive => 1,
                    readerkit_ccid::IccStatus::Absent => 2,
                };
                assert_eq!(
                    a[7] & 0x03,
                    icc,
                    "bmICCStatus is the card's state for the host"
                );
            } else {
                assert_eq!((a[7], a[8]), (0x42, 5), "bad slot");
            }
            Some(a.to_vec())
        }
    };
    (answered, reader.slot_change(&mut answer).is_some())
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let slots = [slot(control & 0x07)];
    let level = match (control >> 3) & 0x03 {
        0 => ExchangeLevel::Tpdu,
        1 => ExchangeLevel::ShortApdu,
        _ => ExchangeLevel::ExtendedApdu,
    };
    let config = CcidConfig {
        level,
        max_message_len: MAX_MESSAGE as u32,
        escape: Some(twin::escape),
        ..CcidConfig::short_apdu()
    };
    let Ok(reader) = CcidReader::new(&slots, config) else {
        return;
    };
    let reader = reader.with_line_access(tpdu::line_of::<SimLine<1024>>);
    let mut buffer = [0u8; 2048];
    let mut reader = if (control >> 3) & 0x03 == 3 {
        reader.with_apdu_buffer(&mut buffer)
    } else {
        reader
    };
    if control & 0x20 != 0 {
        let _ = check(&mut reader, &slots, &[0x62, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    }
    if control & 0x40 != 0 {
        let mut decoder = Decoder::<1024>::new();
        // What the reader keeps for a host's NAK, and what the oracle expects.
        let (mut sent, mut kept, mut expected) =
            (Sent::Nothing, [0u8; ANSWER_CAP], Expected::Nothing);
        for &byte in rest {
            match decoder.push(byte) {
                Some(Event::Message) => {
                    let message = decoder.message().to_vec();
                    sent = sent.after(Step::Command);
                    expected = Expected::Nothing;
                    let (answer, notified) = check(&mut reader, &slots, &message);
                    if let Some(answer) = answer {
                        kept[..answer.len()].copy_from_slice(&answer);
                        sent = sent.after(Step::Frame(answer.len()));
                        expected = Expected::Frame(answer);
                    }
                    if notified {
                        sent = sent.after(Step::Unframed);
                    }
                }
                Some(Event::Nak) => {
                    let mut out = [0u8; ANSWER_CAP + twin::FRAMING_LEN];
                    let len = sent
                        .again(&kept)
                        .encode(&mut out)
                        .expect("room for a frame");
                    assert_eq!(out[..len], expected.bytes()[..], "what a NAK gets");
                }
                Some(Event::Stray(0x80..)) => sent = sent.after(Step::Unframed),
                Some(Event::BadLrc | Event::TooLong | Event::Cut) => {
                    sent = sent.after(Step::Nak);
                    expected = Expected::Nak;
                }
                Some(_) | None => {}
            }
        }
    } else {
        let mut rest = rest;
        while let Some((&len, tail)) = rest.split_first() {
            let take = usize::from(len).min(tail.len());
            let (message, next) = tail.split_at(take);
            let _ = check(&mut reader, &slots, message);
            rest = next;
        }
    }
});

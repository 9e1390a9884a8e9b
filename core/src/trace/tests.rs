use std::string::{String, ToString};
use std::vec::Vec;

use readerkit_testkit::t1::block;

use super::*;
use crate::line::{Framing, Reset};
use crate::protocol::Protocol;
use crate::t1::Edc;

/// Collects each event's text.
#[derive(Default)]
struct Lines(Vec<String>);

impl Sink for Lines {
    fn event(&mut self, event: &Event<'_>) {
        self.0.push(event.to_string());
    }
}

/// `protocol` set up with the default guard time (no extra N).
fn framing(protocol: Protocol) -> Framing {
    Framing {
        protocol: Some(protocol),
        extra_guard_n: 0,
    }
}

/// A decoder that has seen a cold reset answered by `atr` (hex words, TCK
/// appended) and then T=1 framing, and the lines it gave so far.
fn t1_after(atr: &str) -> (Decoder, Lines) {
    let mut d = Decoder::new();
    let mut sink = Lines::default();
    let atr = crate::atr::with_tck(atr);
    d.reset(&mut sink, Reset::Cold, Ok(&atr[..]));
    d.framing(&mut sink, framing(Protocol::T1));
    (d, sink)
}

#[test]
fn t1_blocks_are_decoded_across_split_receives() {
    // 3B 80 81 31 FE 45 TCK: T=1, IFSC 254, no TC3 → LRC.
    let (mut d, mut sink) = t1_after("3B 80 81 31 FE 45");
    let i_block = block(0x20, &[0xAA; 254]);
    d.sent(&mut sink, &i_block);
    let r = block(0x91, &[]);
    d.received(&mut sink, &r[..3], 3);
    d.received(&mut sink, &r[3..], 1);
    let wtx = block(0xC3, &[0x03]);
    d.received(&mut sink, &wtx[..3], 3);
    d.received(&mut sink, &wtx[3..], 2);
    let lines = sink.0;
    assert!(
        lines[0].starts_with("<- ATR (cold reset) 3B 80 81 31"),
        "{lines:?}"
    );
    assert!(lines[0].contains(": T=1, F=372 D=1, IFSC=254"), "{lines:?}");
    assert_eq!(lines[1], "protocol T=1 established, N=0");
    assert_eq!(lines[2], "-> I(N(S)=0, M=1) 254 bytes");
    assert_eq!(lines[3], "<- R(N(R)=1, EDC error)");
    assert_eq!(lines[4], "<- S(WTX request, 3)");
    assert_eq!(lines.len(), 5);
}

/// The card's longest valid block, 254 bytes of INF with a CRC (259 bytes), in
/// three receives: one block, whole (the decoder holds `t1::MAX_BLOCK_LEN`).
#[test]
fn the_longest_crc_block_is_decoded_whole() {
    // 3B 80 81 71 FE 45 01 TCK: T=1, IFSC 254, TC3 = 01 → CRC.
    let (mut d, mut sink) = t1_after("3B 80 81 71 FE 45 01");
    let mut block = std::vec![0x00, 0x00, 254];
    block.extend(core::iter::repeat_n(0x5A, 254));
    let crc = Edc::Crc.compute(&block);
    block.extend_from_slice(&crc);
    assert_eq!(block.len(), 259);
    d.received(&mut sink, &block[..3], 3);
    d.received(&mut sink, &block[3..200], 197);
    d.received(&mut sink, &block[200..], 59);
    let lines = sink.0;
    assert_eq!(lines[2], "<- I(N(S)=0, M=0) 254 bytes", "{lines:?}");
    assert_eq!(lines.len(), 3, "{lines:?}");
}

#[test]
fn a_block_with_a_bad_edc_says_so() {
    let mut d = Decoder::new();
    let mut sink = Lines::default();
    d.framing(&mut sink, framing(Protocol::T1));
    d.received(&mut sink, &[0x00, 0x00, 0x01, 0x90, 0x00], 5);
    assert!(
        sink.0[1].starts_with("<- invalid T=1 block ("),
        "{:?}",
        sink.0
    );
}

#[test]
fn pps_and_t0_procedure_bytes_are_decoded() {
    let mut d = Decoder::new();
    let mut sink = Lines::default();
    d.reset(&mut sink, Reset::Cold, Ok(&[0x3B, 0x00][..]));
    let pps = [0xFF, 0x10, 0x94, 0xFF ^ 0x10 ^ 0x94];
    d.sent(&mut sink, &pps);
    d.received(&mut sink, &pps[..2], 2);
    d.received(&mut sink, &pps[2..], 2);
    d.framing(&mut sink, framing(Protocol::T0));
    d.sent(&mut sink, &[0x00, 0xA4, 0x04, 0x00, 0x02]);
    d.received(&mut sink, &[0x60, 0xA4], 2);
    d.sent(&mut sink, &[0x3F, 0x00]);
    d.received(&mut sink, &[0x61], 1);
    d.received(&mut sink, &[0x10], 1);
    let lines = sink.0;
    assert_eq!(
        lines[1],
        "-> PPS request FF 10 94 7B : PPS T=0, PPS1 94 (F=512, D=8)"
    );
    assert_eq!(
        lines[2],
        "<- PPS answer FF 10 94 7B : PPS T=0, PPS1 94 (F=512, D=8)"
    );
    assert_eq!(lines[4], "-> T=0 header CLA 00 INS A4 P1 04 P2 00 P3 02");
    assert_eq!(lines[5], "<- T=0 procedure NULL 60 (more time)");
    assert_eq!(lines[6], "<- T=0 procedure ACK A4 (all data)");
    assert_eq!(
        lines[7], "-> T=0 data 2 bytes",
        "data to the card: its count only"
    );
    assert_eq!(lines[8], "<- T=0 procedure SW1 61");
    assert_eq!(lines[9], "<- T=0 status 61 10");
}

/// What the reader sends is shown by its count only (it may hold a PIN its PIN
/// pad read); what the card sends keeps its first bytes.
#[test]
fn data_to_the_card_shows_its_count_only() {
    use super::event::Direction::{FromCard, ToCard};
    let pin = [0x31, 0x32, 0x33, 0x34, 0xFF, 0xFF, 0xFF, 0xFF];
    // The VERIFY's I-block with a CRC, read as LRC (a decoder that missed the
    // ATR): invalid, either way.
    let mut block = std::vec![0x00, 0x00, 0x0D, 0x00, 0x20, 0x00, 0x80, 0x08];
    block.extend_from_slice(&pin);
    let crc = Edc::Crc.compute(&block);
    block.extend_from_slice(&crc);
    let lines = [
        Event::T0Data {
            direction: ToCard,
            bytes: &pin,
        },
        Event::Bytes {
            direction: ToCard,
            bytes: &pin,
        },
        Event::T0Header(&pin),
        Event::T0Data {
            direction: FromCard,
            bytes: &pin,
        },
        Event::Bytes {
            direction: FromCard,
            bytes: &pin,
        },
        Event::T1Block {
            direction: ToCard,
            bytes: &block,
            edc: Edc::Lrc,
        },
        Event::T1Block {
            direction: FromCard,
            bytes: &block,
            edc: Edc::Lrc,
        },
    ]
    .map(|event| event.to_string());
    assert_eq!(
        lines,
        [
            "-> T=0 data 8 bytes",
            "-> 8 bytes",
            "-> T=0 header? 8 bytes",
            "<- T=0 data 8 bytes: 31 32 33 34 FF FF FF FF",
            "<- 8 bytes: 31 32 33 34 FF FF FF FF",
            "-> invalid T=1 block (T=1 block EDC mismatch), 18 bytes",
            "<- invalid T=1 block (T=1 block EDC mismatch), 18 bytes: \
             00 00 0D 00 20 00 80 08 31 32 33 34 FF FF FF FF 88 D9",
        ]
    );
}

#[test]
fn a_hostile_megabyte_gives_bounded_lines() {
    let hostile = std::vec![0x5Au8; 1 << 20];
    for phase in [None, Some(Protocol::T0), Some(Protocol::T1)] {
        let mut d = Decoder::new();
        let mut sink = Lines::default();
        d.reset(&mut sink, Reset::Cold, Ok(&hostile[..]));
        if let Some(protocol) = phase {
            d.framing(&mut sink, framing(protocol));
        }
        d.sent(&mut sink, &hostile);
        d.received(&mut sink, &hostile, hostile.len());
        d.sent(&mut sink, &[0xFF]);
        d.received(&mut sink, &hostile, hostile.len());
        d.timeout(&mut sink, 1000);
        let longest = sink.0.iter().map(String::len).max().unwrap_or(0);
        assert!(longest < 300, "{longest}: {:?}", sink.0);
        assert!(
            sink.0.iter().any(|l| l.contains("(1048576 bytes)")),
            "{:?}",
            sink.0
        );
    }
}

#[test]
fn text_buf_cuts_at_a_character_boundary() {
    let text = TextBuf::<8>::render(&"ab\u{b5}\u{b5}\u{b5}\u{b5}");
    assert_eq!(text.as_str(), "ab\u{b5}\u{b5}\u{b5}");
    assert!(text.is_cut());
    let whole = TextBuf::<8>::render(&"abc");
    assert_eq!(whole.as_str(), "abc");
    assert!(!whole.is_cut());
}

#[test]
fn levels_parse_and_order() {
    assert_eq!(Level::parse("TRACE"), Some(Level::Trace));
    assert_eq!(Level::parse("nope"), None);
    assert!(Level::Debug < Level::Trace && Level::Off < Level::Error);
    let _ = Edc::Crc;
}

#[test]
fn request_lines_are_bounded_and_say_the_outcome() {
    use crate::device::Outcome;
    use crate::ioctl::{Request, Transmit};
    let apdu = std::vec![0u8; 1 << 20];
    let request = Request::Transmit(Transmit {
        protocol: 2,
        apdu: &apdu,
    });
    let line = RequestLine {
        request: &request,
        outcome: Outcome::Complete {
            status: crate::Status::NoMedia,
            bytes_written: 0,
        },
        elapsed_us: Some(42),
    };
    let text = line.to_string();
    assert!(
        text.starts_with("TRANSMIT T=1, 1048576 bytes: 00 00"),
        "{text}"
    );
    assert!(text.ends_with(" in 42 µs"), "{text}");
    assert!(text.len() < 300, "{text}");
    assert_eq!(line.level(), Level::Info);
}

#[test]
fn transmit_lines_name_the_protocol_or_show_its_bits() {
    use crate::device::Outcome;
    use crate::ioctl::{Request, Transmit};
    let outcome = Outcome::Complete {
        status: crate::Status::Success,
        bytes_written: 0,
    };
    for (bits, start) in [
        (1, "TRANSMIT T=0, 1 bytes: 00"),
        (2, "TRANSMIT T=1, 1 bytes: 00"),
        (0x1_0000, "TRANSMIT raw, 1 bytes: 00"),
        (3, "TRANSMIT protocol 0x3, 1 bytes: 00"),
    ] {
        let request = Request::Transmit(Transmit {
            protocol: bits,
            apdu: &[0],
        });
        let line = RequestLine {
            request: &request,
            outcome,
            elapsed_us: None,
        };
        let text = line.to_string();
        assert!(text.starts_with(start), "{text}");
    }
}

#[test]
fn transmit_lines_show_a_commands_data_by_its_count_only() {
    use crate::device::Outcome;
    use crate::ioctl::{Request, Transmit};
    let outcome = Outcome::Complete {
        status: crate::Status::Success,
        bytes_written: 0,
    };
    let mut extended = std::vec![0x00, 0x20, 0x00, 0x81, 0x00, 0x01, 0x2C];
    extended.extend([0x31; 300]);
    extended.extend([0x01, 0x00]);
    for (apdu, shown) in [
        // Case 1 and case 2: no data, shown whole.
        (&[0x00, 0x70, 0x80, 0x00][..], "00 70 80 00"),
        (&[0x00, 0x84, 0x00, 0x00, 0x08], "00 84 00 00 08"),
        (
            &[0x00, 0x84, 0x00, 0x00, 0x00, 0x01, 0x00],
            "00 84 00 00 00 01 00",
        ),
        // Case 3 and 4, short: a VERIFY typed on the PC, a SELECT with Le.
        (
            &[0x00, 0x20, 0x00, 0x81, 0x04, 0x31, 0x32, 0x33, 0x34],
            "00 20 00 81 04 <4 data bytes>",
        ),
        (
            &[0x00, 0xA4, 0x04, 0x00, 0x02, 0x31, 0x32, 0x00],
            "00 A4 04 00 02 <2 data bytes> 00",
        ),
        // Case 4 extended.
        (&extended, "00 20 00 81 00 01 2C <300 data bytes> 01 00"),
        // No APDU: the header's place in hex, the rest counted.
        (
            &[0x00, 0x20, 0x00, 0x81, 0x09, 0x31, 0x32, 0x33, 0x34],
            "00 20 00 81 <5 bytes, not an APDU>",
        ),
        (&[0x31, 0x32, 0x33], "31 32 33"),
        (&[], ""),
    ] {
        let request = Request::Transmit(Transmit { protocol: 2, apdu });
        let line = RequestLine {
            request: &request,
            outcome,
            elapsed_us: None,
        };
        let expected = std::format!(
            "TRANSMIT T=1, {} bytes: {shown} -> success, 0 bytes",
            apdu.len()
        );
        assert_eq!(line.to_string(), expected);
    }
    let request = Request::Vendor {
        code: 0x0031_3520,
        input: &[0x31, 0x32, 0x33, 0x34],
    };
    let text = RequestSummary(&request).to_string();
    assert_eq!(text, "vendor IOCTL 0x00313520, input 4 bytes");
}

#[cfg(feature = "log")]
#[test]
fn log_sink_sends_events_at_their_level_under_its_target() {
    use std::sync::Mutex;

    static RECORDS: Mutex<Vec<(log::Level, String, String)>> = Mutex::new(Vec::new());
    struct Capture;
    impl log::Log for Capture {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }
        fn log(&self, record: &log::Record<'_>) {
            RECORDS.lock().unwrap().push((
                record.level(),
                record.target().to_string(),
                record.args().to_string(),
            ));
        }
        fn flush(&self) {}
    }
    static CAPTURE: Capture = Capture;
    log::set_logger(&CAPTURE).unwrap();
    log::set_max_level(log::LevelFilter::Trace);

    let mut sink = LogSink {
        target: "rk-test",
        level: Level::Debug,
    };
    let mut d = Decoder::new();
    d.framing(&mut sink, framing(Protocol::T1));
    d.error(&mut sink, crate::status::Failure::NoMedia);
    sink.level = Level::Trace;
    d.sent(&mut sink, &block(0xC3, &[0x03]));
    let records: Vec<_> = RECORDS
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.1 == "rk-test")
        .cloned()
        .collect();
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[0].0, log::Level::Debug, "the line error, at debug");
    assert!(records[0].2.starts_with("line error: "), "{records:?}");
    assert_eq!(
        records[1],
        (
            log::Level::Trace,
            "rk-test".to_string(),
            "-> S(WTX request, 3)".to_string()
        )
    );
}

//! A small hand-rolled reader for the tests: raw byte exchanges, a T=0 APDU loop and
//! a T=1 block codec. Deliberately independent of the crate's own encoders (its own
//! LRC and CRC, its own block layout).
#![allow(dead_code, unreachable_pub, unused_imports)]

use readerkit_card_sim::{Card, Faults, Profile};
pub use readerkit_testkit::apdu::{echo_extended, pattern};
pub use readerkit_testkit::hex::parse as hex;
pub use readerkit_testkit::sim::{faults, ifs_request_before, wtx_before};

/// Everything the card has queued.
pub fn read_all<const N: usize>(card: &mut Card<N>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 7]; // odd size on purpose: reads split across calls
    loop {
        let n = card.read(&mut buf);
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Write (expecting no parity error), then read everything.
pub fn xfer<const N: usize>(card: &mut Card<N>, bytes: &[u8]) -> Vec<u8> {
    card.write(bytes).expect("no parity error");
    read_all(card)
}

/// What the card answers to the raw bytes `command` (spaced hex), as spaced hex.
pub fn answer<const N: usize>(card: &mut Card<N>, command: &str) -> String {
    readerkit_testkit::hex::hex(&xfer(card, &hex(command)))
}

/// The response APDU to the command APDU `apdu` (spaced hex) sent by [`t0_apdu`],
/// as spaced hex.
pub fn t0_answer<const N: usize>(card: &mut Card<N>, apdu: &str) -> String {
    readerkit_testkit::hex::hex(&t0_apdu(card, &hex(apdu)))
}

/// A powered card whose ATR has been read and checked against the profile.
pub fn powered(profile: Profile) -> Card {
    powered_with(profile, Faults::default())
}

/// A powered card with `faults`, its ATR read and checked against the profile
/// (the test kit's [`powered`](readerkit_testkit::sim::powered), at the default
/// capacity).
pub fn powered_with(profile: Profile, faults: Faults) -> Card {
    readerkit_testkit::sim::powered(profile, faults)
}

// ---------------------------------------------------------------- T=0

/// Send a short command APDU over T=0 the way a simple reader does: header, data on
/// ACK/INS^FF, NULL ignored, 61xx => GET RESPONSE, 6Cxx => repeat with P3 = xx.
/// Returns the response APDU (data + SW).
pub fn t0_apdu<const N: usize>(card: &mut Card<N>, apdu: &[u8]) -> Vec<u8> {
    // Case 4 goes out as case 3 (Le is not sent over T=0).
    let (header, data) = match apdu.len() {
        4 => ([apdu[0], apdu[1], apdu[2], apdu[3], 0], &[][..]),
        5 => ([apdu[0], apdu[1], apdu[2], apdu[3], apdu[4]], &[][..]),
        _ => {
            let lc = apdu[4] as usize;
            (
                [apdu[0], apdu[1], apdu[2], apdu[3], apdu[4]],
                &apdu[5..5 + lc],
            )
        }
    };
    let mut response = Vec::new();
    let mut hdr = header;
    let mut to_send: &[u8] = data;
    loop {
        let outgoing = matches!(hdr[1], 0xB0 | 0x84 | 0xC0);
        card.write(&hdr).unwrap();
        let mut expect_data = if outgoing {
            if hdr[4] == 0 { 256 } else { hdr[4] as usize }
        } else {
            0
        };
        let mut got = Vec::new();
        let sw = loop {
            let mut b = [0u8; 1];
            assert_eq!(card.read(&mut b), 1, "card mute waiting for procedure byte");
            let pb = b[0];
            if pb == 0x60 {
                continue;
            } else if pb == hdr[1] {
                if outgoing {
                    for _ in 0..expect_data {
                        assert_eq!(card.read(&mut b), 1);
                        got.push(b[0]);
                    }
                    expect_data = 0;
                } else {
                    card.write(to_send).unwrap();
                    to_send = &[];
                }
            } else if pb == !hdr[1] {
                if outgoing {
                    assert_eq!(card.read(&mut b), 1);
                    got.push(b[0]);
                    expect_data -= 1;
                } else {
                    card.write(&to_send[..1]).unwrap();
                    to_send = &to_send[1..];
                }
            } else if pb & 0xF0 == 0x60 || pb & 0xF0 == 0x90 {
                assert_eq!(card.read(&mut b), 1);
                break [pb, b[0]];
            } else {
                panic!("unexpected procedure byte {pb:02X}");
            }
        };
        response.extend_from_slice(&got);
        match sw {
            [0x61, xx] => {
                hdr = [0x00, 0xC0, 0x00, 0x00, xx];
                continue;
            }
            [0x6C, xx] => {
                hdr[4] = xx;
                continue;
            }
            _ => {
                response.extend_from_slice(&sw);
                assert_eq!(card.pending(), 0, "card sent more than expected");
                return response;
            }
        }
    }
}

// ---------------------------------------------------------------- T=1

/// The LRC of T=1 blocks and the ATR's TCK: testkit's XOR fold, independent
/// of the core's.
pub use readerkit_testkit::t1::lrc;

/// CRC-16 as libccid computes it, table-free, written independently.
pub fn crc(data: &[u8]) -> [u8; 2] {
    let mut reg: u16 = 0xFFFF;
    for &byte in data {
        for bit in 0..8 {
            let input = (byte >> bit) & 1;
            let lsb = (reg & 1) as u8;
            reg >>= 1;
            if input ^ lsb != 0 {
                reg ^= 0x8408;
            }
        }
    }
    reg.to_be_bytes()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestEdc {
    Lrc,
    Crc,
}

impl TestEdc {
    pub fn len(self) -> usize {
        match self {
            TestEdc::Lrc => 1,
            TestEdc::Crc => 2,
        }
    }
}

/// Encode a block.
pub fn block(edc: TestEdc, nad: u8, pcb: u8, inf: &[u8]) -> Vec<u8> {
    let mut b = vec![nad, pcb, inf.len() as u8];
    b.extend_from_slice(inf);
    match edc {
        TestEdc::Lrc => b.push(lrc(&b)),
        TestEdc::Crc => {
            let c = crc(&b);
            b.extend_from_slice(&c);
        }
    }
    b
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub nad: u8,
    pub pcb: u8,
    pub inf: Vec<u8>,
}

/// Decode exactly one block; panics on EDC or length errors.
pub fn parse(edc: TestEdc, bytes: &[u8]) -> Block {
    assert!(bytes.len() >= 3 + edc.len(), "short block {bytes:02X?}");
    let len = bytes[2] as usize;
    assert_eq!(
        bytes.len(),
        3 + len + edc.len(),
        "block length {bytes:02X?}"
    );
    let body = &bytes[..3 + len];
    match edc {
        TestEdc::Lrc => assert_eq!(lrc(body), bytes[3 + len], "LRC {bytes:02X?}"),
        TestEdc::Crc => assert_eq!(&crc(body)[..], &bytes[3 + len..], "CRC {bytes:02X?}"),
    }
    Block {
        nad: bytes[0],
        pcb: bytes[1],
        inf: body[3..].to_vec(),
    }
}

/// Whether the EDC of `bytes` (a complete block) is right.
pub fn edc_ok(edc: TestEdc, bytes: &[u8]) -> bool {
    let len = bytes[2] as usize;
    if bytes.len() != 3 + len + edc.len() {
        return false;
    }
    let body = &bytes[..3 + len];
    match edc {
        TestEdc::Lrc => lrc(body) == bytes[3 + len],
        TestEdc::Crc => crc(body)[..] == bytes[3 + len..],
    }
}

/// A minimal T=1 reader: sequence numbers, chaining both ways with acks; no error
/// recovery (tests drive that by hand).
pub struct T1Reader {
    pub edc: TestEdc,
    pub ns: u8,
    pub ifsc: usize,
}

impl T1Reader {
    pub fn new(edc: TestEdc) -> Self {
        T1Reader {
            edc,
            ns: 0,
            ifsc: 254,
        }
    }

    /// Send a block and read one block back.
    pub fn exchange<const N: usize>(&self, card: &mut Card<N>, raw: &[u8]) -> Block {
        let reply = xfer(card, raw);
        parse(self.edc, &reply)
    }

    /// Send an I-block (N(S) managed here) and read the reply.
    pub fn send_i<const N: usize>(&mut self, card: &mut Card<N>, inf: &[u8], more: bool) -> Block {
        let pcb = (self.ns << 6) | if more { 0x20 } else { 0 };
        self.ns ^= 1;
        self.exchange(card, &block(self.edc, 0, pcb, inf))
    }

    /// A whole APDU exchange with chaining; returns the response APDU and the number
    /// of blocks the card sent.
    pub fn transceive<const N: usize>(
        &mut self,
        card: &mut Card<N>,
        apdu: &[u8],
    ) -> (Vec<u8>, usize) {
        let chunks: Vec<&[u8]> = apdu.chunks(self.ifsc).collect();
        let mut reply = None;
        let mut card_blocks = 0;
        for (i, chunk) in chunks.iter().enumerate() {
            let more = i + 1 < chunks.len();
            let expected_nr = self.ns ^ 1;
            let b = self.send_i(card, chunk, more);
            card_blocks += 1;
            if more {
                assert_eq!(
                    b.pcb,
                    0x80 | (expected_nr << 4),
                    "R-ack expected, got {b:02X?}"
                );
            } else {
                reply = Some(b);
            }
        }
        let mut b = reply.unwrap();
        let mut response = Vec::new();
        loop {
            assert_eq!(b.pcb & 0x80, 0, "I-block expected, got {b:02X?}");
            response.extend_from_slice(&b.inf);
            if b.pcb & 0x20 == 0 {
                return (response, card_blocks);
            }
            let card_ns = (b.pcb >> 6) & 1;
            b = self.exchange(card, &block(self.edc, 0, 0x80 | ((card_ns ^ 1) << 4), &[]));
            card_blocks += 1;
        }
    }
}

//! Helpers shared by the fuzz targets: a reader over the fuzzer's bytes, a
//! UART whose far side the fuzzer plays ([`uart`]), a
//! builder of well-formed command APDUs for the simulated card's application, and
//! the C-caller harnesses of the `c_api` and `c_threads` targets ([`c_api`],
//! [`c_threads`]), and the rule of T=1 `transmit` both T=1 targets check ([`t1`]).

use readerkit_card_sim::app;

pub mod c_api;
pub mod c_threads;
pub mod t1;
pub mod uart;

/// The fuzzer's bytes, taken from the front; reads past the end give zeros (so
/// short inputs still run, as a well-behaved card and a clean line).
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Input<'a> {
        Input { data }
    }

    /// The next byte, 0 once the input is used up.
    pub fn byte(&mut self) -> u8 {
        self.try_byte().unwrap_or(0)
    }

    /// The next byte, `None` once the input is used up.
    pub fn try_byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }

    /// The next two bytes, little endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    /// Up to `n` bytes (fewer once the input runs out).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// Whether the input is used up.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// Which way the data of a command goes over T=0, as the card decides it from INS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// READ BINARY, GET CHALLENGE: P3 is Le (cases 1 and 2 only).
    FromCard,
    /// SELECT, UPDATE BINARY, VERIFY, ECHO: P3 is Lc (cases 1, 3 and 4).
    ToCard,
    /// A class or instruction the card does not know: it answers this status word
    /// right after the header.
    Refused(u16),
}

/// A command APDU and what the card will make of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Apdu {
    /// The APDU bytes (well formed).
    pub bytes: Vec<u8>,
    /// Data direction over T=0.
    pub direction: Direction,
    /// Header `CLA INS P1 P2`.
    pub header: [u8; 4],
    /// Offset and length of the data field in `bytes`.
    pub data: (usize, usize),
    /// Ne, if Le is present.
    pub ne: Option<usize>,
}

impl Apdu {
    /// The data field.
    pub fn data(&self) -> &[u8] {
        &self.bytes[self.data.0..self.data.0 + self.data.1]
    }
}

/// A well-formed APDU whose case fits the direction the card gives its INS (so that
/// T=0 has one meaning for it): the fuzzer picks the command, P1 P2, short or
/// extended lengths, Nc (up to `max_nc` bytes) and Ne.
pub fn apdu(input: &mut Input<'_>, max_nc: usize) -> Apdu {
    let pick = input.byte();
    let (cla, ins, direction) = match pick % 8 {
        0 => (0x00, app::INS_SELECT, Direction::ToCard),
        1 => (0x00, app::INS_READ_BINARY, Direction::FromCard),
        2 => (0x00, app::INS_UPDATE_BINARY, Direction::ToCard),
        3 if pick & 0x80 == 0 => (0x00, app::INS_GET_CHALLENGE, Direction::FromCard),
        3 => (0x00, app::INS_GET_DATA, Direction::FromCard),
        4 => (0x00, app::INS_VERIFY, Direction::ToCard),
        5 => (app::CLA_PROPRIETARY, app::INS_ECHO, Direction::ToCard),
        6 => {
            // An instruction class 00 lacks; never 6x/9x (not T=0 INS bytes).
            let ins = match input.byte() {
                b if matches!(b & 0xF0, 0x60 | 0x90) => 0x12,
                app::INS_SELECT
                | app::INS_READ_BINARY
                | app::INS_UPDATE_BINARY
                | app::INS_GET_CHALLENGE
                | app::INS_GET_DATA
                | app::INS_VERIFY
                | app::INS_GET_RESPONSE
                | app::INS_ENVELOPE => 0x12,
                b => b,
            };
            (0x00, ins, Direction::Refused(app::sw::INS_NOT_SUPPORTED))
        }
        _ => {
            // Not FF (PPSS), nor EF, which becomes FF with the chaining bit of an
            // ENVELOPE piece.
            let cla = match input.byte() {
                0x00 | app::CLA_PROPRIETARY | 0xEF | 0xFF => 0xA0,
                c => c,
            };
            (cla, 0x12, Direction::Refused(app::sw::CLA_NOT_SUPPORTED))
        }
    };
    let (p1, p2) = (input.byte(), input.byte());
    let shape = input.byte();
    let extended = shape & 0x80 != 0;
    // Case 1..=4; a command that gets data only has cases 1 and 2, others 1, 3, 4.
    let case = match (direction, shape & 3) {
        (Direction::FromCard, _) => 2,
        (_, 0 | 1) => 1,
        (_, 2) => 3,
        _ => 4,
    };
    let max_nc = if extended {
        max_nc.min(65_535)
    } else {
        max_nc.min(255)
    };
    let nc = match case {
        3 | 4 => {
            let n = if extended {
                usize::from(input.u16())
            } else {
                usize::from(input.byte())
            };
            (n % max_nc.max(1)).max(1)
        }
        _ => 0,
    };
    let ne = match case {
        2 | 4 => Some(if extended {
            match input.u16() {
                0 => 65_536,
                n => usize::from(n),
            }
        } else {
            match input.byte() {
                0 => 256,
                n => usize::from(n),
            }
        }),
        _ => None,
    };
    let mut bytes = vec![cla, ins, p1, p2];
    if nc > 0 {
        if extended {
            bytes.push(0);
            bytes.extend_from_slice(&(nc as u16).to_be_bytes());
        } else {
            bytes.push(nc as u8);
        }
    }
    let start = bytes.len();
    let given = input.bytes(nc);
    bytes.extend_from_slice(given);
    bytes.extend((given.len()..nc).map(|i| i as u8));
    if let Some(ne) = ne {
        if extended {
            if nc == 0 {
                bytes.push(0);
            }
            bytes.extend_from_slice(&((ne % 65_536) as u16).to_be_bytes());
        } else {
            bytes.push((ne % 256) as u8);
        }
    }
    Apdu {
        bytes,
        direction,
        header: [cla, ins, p1, p2],
        data: (start, nc),
        ne,
    }
}

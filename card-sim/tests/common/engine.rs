//! A small test "reader" that drives the core's sans-I/O T=0 and T=1 engines against
//! the simulated card, byte by byte: the engine's bytes are written to the card
//! (repeating a character the card rejects with a parity error, as a UART does on
//! the error signal), the card's bytes are read back and fed to the engine, and "the
//! card returned nothing" is the waiting time running out.
//!
//! Shared by `engine_t0.rs`, `engine_t1.rs` and the `t1_throughput` bench (included
//! with `#[path]`, so the older `common/mod.rs` helpers stay untouched).
#![allow(dead_code, unreachable_pub, unused_imports)]

use readerkit::{t0, t1};
use readerkit_card_sim::{Card, Faults, Profile};
pub use readerkit_testkit::apdu::{echo_extended, echo_short, pattern, with_sw};
pub use readerkit_testkit::sim::{faults, ifs_request_before, powered, wtx_before};

/// Upper bound on reader-loop iterations: a protocol engine that never ends an
/// exchange makes the test fail instead of hanging.
pub const MAX_STEPS: usize = 200_000;

/// A powered, well-behaved card, its ATR read and checked.
pub fn card(profile: Profile) -> Card {
    powered(profile, Faults::default())
}

/// What the reader loop saw.
#[derive(Debug, Default, Clone)]
pub struct Wire {
    /// Bytes written to the card (repetitions included).
    pub to_card: u64,
    /// Bytes read from the card.
    pub from_card: u64,
    /// Characters repeated after the card signalled a parity error.
    pub repetitions: u32,
    /// Times the card said nothing when the engine waited.
    pub timeouts: u32,
    /// T=1: every block the engine sent, with the WTX multiplier of its wait.
    pub sent: Vec<(Vec<u8>, u8)>,
    /// T=1: every (possibly truncated) block read from the card.
    pub received: Vec<Vec<u8>>,
}

/// Write `bytes`, repeating from the rejected character on each parity error.
pub fn write_repeating<const N: usize>(card: &mut Card<N>, bytes: &[u8], wire: &mut Wire) {
    let mut tx = bytes;
    loop {
        match card.write(tx) {
            Ok(()) => {
                wire.to_card += tx.len() as u64;
                return;
            }
            Err(e) => {
                // The rejected character went on the line too.
                wire.to_card += e.accepted as u64 + 1;
                wire.repetitions += 1;
                assert!(wire.repetitions < 1000, "card rejects every repetition");
                tx = &tx[e.accepted..];
            }
        }
    }
}

// ------------------------------------------------------------------------ T=0

/// Run one APDU through the T=0 engine and the card. `chunk` bounds how many bytes
/// are read from the card per feed (1 = strictly byte by byte).
pub fn t0_run<const N: usize>(
    card: &mut Card<N>,
    apdu: &[u8],
    config: t0::Config,
    response_capacity: usize,
    chunk: usize,
    wire: &mut Wire,
) -> Result<Vec<u8>, t0::Error> {
    let mut response = vec![0u8; response_capacity];
    let mut ex = t0::Exchange::new(apdu, &mut response, config)?;
    let mut buf = vec![0u8; chunk.max(1)];
    let mut action = ex.action();
    for _ in 0..MAX_STEPS {
        action = match action {
            Ok(t0::Action::Send(bytes)) => {
                let bytes = bytes.to_vec();
                write_repeating(card, &bytes, wire);
                ex.sent()
            }
            Ok(t0::Action::Expect { count, .. }) => {
                let want = count.min(buf.len());
                let n = card.read(&mut buf[..want]);
                wire.from_card += n as u64;
                if n == 0 {
                    wire.timeouts += 1;
                    ex.timeout()
                } else {
                    ex.feed(&buf[..n])
                }
            }
            Ok(t0::Action::Done { .. }) | Err(_) => {
                return ex.into_response().map(<[u8]>::to_vec);
            }
        };
    }
    panic!("T=0 exchange of {apdu:02X?} did not end within {MAX_STEPS} steps");
}

/// T=0 with the default configuration (WT 1 s, no ENVELOPE), byte by byte, with a
/// response buffer of 64 KiB + 2.
pub fn t0_apdu<const N: usize>(card: &mut Card<N>, apdu: &[u8]) -> Result<Vec<u8>, t0::Error> {
    t0_run(
        card,
        apdu,
        t0::Config::new(1_000_000),
        65_538,
        1,
        &mut Wire::default(),
    )
}

// ------------------------------------------------------------------------ T=1

/// An owned copy of a T=1 action (so the transaction can be driven again).
enum Next {
    Send(Vec<u8>, u8),
    Done(usize),
}

fn own(action: Result<t1::Action<'_>, t1::Error>) -> Result<Next, t1::Error> {
    Ok(match action? {
        t1::Action::Send { block, wait } => Next::Send(block.to_vec(), wait.wtx),
        t1::Action::Done { response_len } => Next::Done(response_len),
    })
}

/// Read one block from the card: the prologue, then as many bytes as LEN and the
/// EDC say, one byte at a time. Returns what arrived (empty: nothing at all; shorter
/// than the block: the card stopped, i.e. the character waiting time ran out).
pub fn read_block<const N: usize>(card: &mut Card<N>, edc_len: usize) -> Vec<u8> {
    let mut block = Vec::new();
    let mut b = [0u8; 1];
    let mut need = 3;
    while block.len() < need {
        if card.read(&mut b) == 0 {
            break;
        }
        block.push(b[0]);
        if block.len() == 3 {
            need = 3 + usize::from(block[2]) + edc_len;
        }
    }
    block
}

/// Engine configuration matching a card profile: its IFSC and EDC, IFSD 254.
pub fn t1_config(profile: &Profile) -> t1::Config {
    let edc = match profile.t1.edc {
        readerkit_card_sim::edc::Edc::Lrc => t1::Edc::Lrc,
        readerkit_card_sim::edc::Edc::Crc => t1::Edc::Crc,
    };
    t1::Config::new(profile.t1.ifsc, edc)
}

/// Run one APDU through the T=1 engine and the card; returns the response length
/// written to `response`.
pub fn t1_run<const N: usize>(
    engine: &mut t1::Engine,
    card: &mut Card<N>,
    apdu: &[u8],
    response: &mut [u8],
    wire: &mut Wire,
) -> Result<usize, t1::Error> {
    let edc_len = match engine.config().edc {
        t1::Edc::Lrc => 1,
        t1::Edc::Crc => 2,
    };
    let mut tx = engine.transmit(apdu, response)?;
    let mut next = own(tx.action())?;
    for _ in 0..MAX_STEPS {
        match next {
            Next::Done(len) => return Ok(len),
            Next::Send(block, wtx) => {
                write_repeating(card, &block, wire);
                wire.sent.push((block, wtx));
                let reply = read_block(card, edc_len);
                wire.from_card += reply.len() as u64;
                let complete =
                    reply.len() >= 3 && reply.len() == 3 + usize::from(reply[2]) + edc_len;
                next = if complete {
                    let r = tx.receive(&reply);
                    wire.received.push(reply);
                    own(r)?
                } else {
                    // Nothing, or fewer bytes than LEN announced: BWT / CWT exceeded.
                    wire.timeouts += 1;
                    if !reply.is_empty() {
                        wire.received.push(reply);
                    }
                    own(tx.timeout())?
                };
            }
        }
    }
    panic!("T=1 exchange did not end within {MAX_STEPS} steps");
}

/// A T=1 session: engine and card together.
pub struct T1Session<const N: usize = { readerkit_card_sim::DEFAULT_CAPACITY }> {
    pub engine: t1::Engine,
    pub card: Card<N>,
    pub wire: Wire,
}

impl<const N: usize> T1Session<N> {
    pub fn new(profile: Profile, faults: Faults) -> Self {
        let config = t1_config(&profile);
        Self::with_config(profile, faults, config)
    }

    pub fn with_config(profile: Profile, faults: Faults, config: t1::Config) -> Self {
        T1Session {
            engine: t1::Engine::new(config).expect("valid config"),
            card: powered(profile, faults),
            wire: Wire::default(),
        }
    }

    /// One APDU; the response APDU (data + SW1 SW2).
    pub fn apdu(&mut self, apdu: &[u8]) -> Result<Vec<u8>, t1::Error> {
        let mut response = vec![0u8; t1::MAX_RESPONSE_LEN];
        let len = t1_run(
            &mut self.engine,
            &mut self.card,
            apdu,
            &mut response,
            &mut self.wire,
        )?;
        response.truncate(len);
        Ok(response)
    }

    /// ECHO `data` (extended APDU, Le 0000); the response APDU.
    pub fn echo(&mut self, data: &[u8]) -> Result<Vec<u8>, t1::Error> {
        self.apdu(&echo_extended(data, 0))
    }
}

/// What an ECHO of `data` answers when it works: `data`, then 90 00.
pub fn echoed<E>(data: &[u8]) -> Result<Vec<u8>, E> {
    Ok(with_sw(data, 0x9000))
}

// ------------------------------------------------------------------------ APDUs

/// Expected contents of EF 0101 from `offset`, `len` bytes (initial contents).
pub fn ef_0101(offset: usize, len: usize) -> Vec<u8> {
    (offset..offset + len)
        .map(readerkit_card_sim::app::ef_0101_initial)
        .collect()
}

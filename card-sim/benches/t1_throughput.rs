//! T=1 throughput of the core's engine and the simulated card, in memory: one
//! extended ECHO of 4096 bytes (case 4E, Le = 0000) per iteration, IFSC = IFSD =
//! 254, LRC. Reports MB/s of payload (4096 bytes out + 4096 back) with criterion's
//! `Throughput::Bytes`, and prints once, before measuring, the wire efficiency: bytes
//! on the line in both directions per payload byte, measured by the card's counters,
//! against the ISO/IEC 7816-3 minimum for these parameters (full IFSC-sized
//! I-blocks with a 3-byte prologue and a 1-byte LRC, and one 4-byte R-block per
//! chained I-block to acknowledge it, in each direction).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use readerkit::t1::{self, Action, Edc, Engine};
use readerkit_card_sim::{Card, Profile};
use readerkit_testkit::apdu::{echo_extended, pattern};

const PAYLOAD: usize = 4096;
const IFS: usize = 254;
const PROLOGUE: usize = 3;
const EPILOGUE: usize = 1; // LRC

/// A powered T=1 card (ATR read) and an engine for it, IFSD already announced.
fn setup() -> (Engine, Card) {
    let mut card = Card::new(Profile::t1());
    card.power_on();
    let mut atr = [0u8; 33];
    let _ = card.read(&mut atr);
    let mut config = t1::Config::new(IFS as u8, Edc::Lrc);
    config.ifsd = IFS as u8;
    let mut engine = Engine::new(config).expect("config");
    // One small APDU carries the S(IFS request) announcing IFSD 254.
    let mut response = [0u8; 8];
    exchange(
        &mut engine,
        &mut card,
        &[0x00, 0x20, 0x00, 0x80],
        &mut response,
    );
    assert!(engine.ifsd_announced());
    (engine, card)
}

/// One APDU through engine and card: every block written to the card, the card's
/// block read back by its LEN. Returns the response length.
fn exchange(engine: &mut Engine, card: &mut Card, apdu: &[u8], response: &mut [u8]) -> usize {
    let mut tx = engine.transmit(apdu, response).expect("transmit");
    let mut block = [0u8; t1::MAX_BLOCK_LEN];
    let mut reply = [0u8; t1::MAX_BLOCK_LEN];
    let mut len = match tx.action().expect("action") {
        Action::Send { block: b, .. } => {
            block[..b.len()].copy_from_slice(b);
            b.len()
        }
        Action::Done { response_len } => return response_len,
    };
    loop {
        card.write(&block[..len]).expect("no parity error");
        let mut got = card.read(&mut reply[..3]);
        if got == 3 {
            let total = 3 + usize::from(reply[2]) + EPILOGUE;
            got += card.read(&mut reply[3..total]);
        }
        let next = if got == 0 {
            tx.timeout()
        } else {
            tx.receive(&reply[..got])
        };
        match next.expect("exchange") {
            Action::Send { block: b, .. } => {
                block[..b.len()].copy_from_slice(b);
                len = b.len();
            }
            Action::Done { response_len } => return response_len,
        }
    }
}

/// The fewest bytes ISO/IEC 7816-3 T=1 needs to carry `apdu_len` bytes of command
/// and `response_len` bytes of response with IFSC = IFSD = `IFS`: each direction's
/// data in ceil(len / IFS) I-blocks, and each I-block but the last of a chain
/// acknowledged by a 4-byte R-block from the other side.
fn iso_minimum(apdu_len: usize, response_len: usize) -> usize {
    let side = |n: usize| {
        let blocks = n.div_ceil(IFS);
        n + blocks * (PROLOGUE + EPILOGUE) + (blocks - 1) * (PROLOGUE + EPILOGUE)
    };
    side(apdu_len) + side(response_len)
}

fn t1_echo_4k(c: &mut Criterion) {
    // The ECHO APDU: 4 header + 3 Lc + data + 2 Le.
    let apdu = echo_extended(&pattern(PAYLOAD), 0);
    let mut response = vec![0u8; PAYLOAD + 2];

    // Wire efficiency, measured once.
    let (mut engine, mut card) = setup();
    card.reset_stats();
    let n = exchange(&mut engine, &mut card, &apdu, &mut response);
    assert_eq!(n, PAYLOAD + 2);
    assert_eq!(&response[..PAYLOAD], &apdu[7..7 + PAYLOAD]);
    assert_eq!(&response[PAYLOAD..], [0x90, 0x00]);
    let stats = *card.stats();
    let payload = stats.payload_bytes() as f64; // 4096 out + 4096 back
    let wire = stats.wire_bytes() as f64;
    let minimum = iso_minimum(apdu.len(), PAYLOAD + 2) as f64;
    println!(
        "t1_throughput: ECHO {PAYLOAD} B, IFSC = IFSD = {IFS}, LRC: {} wire bytes \
         ({} to card, {} from card, {} blocks) for {} payload bytes = {:.4} wire B per \
         payload B; ISO minimum {} bytes = {:.4}; ratio {:.4}",
        stats.wire_bytes(),
        stats.bytes_to_card,
        stats.bytes_from_card,
        stats.blocks_to_card + stats.blocks_from_card,
        stats.payload_bytes(),
        wire / payload,
        minimum,
        minimum / payload,
        wire / minimum,
    );

    let mut group = c.benchmark_group("t1");
    group.throughput(Throughput::Bytes(stats.payload_bytes()));
    group.bench_function("echo_4096_ifs254", |b| {
        b.iter(|| {
            let n = exchange(&mut engine, &mut card, black_box(&apdu), &mut response);
            black_box(n)
        })
    });
    group.finish();
}

criterion_group!(benches, t1_echo_4k);
criterion_main!(benches);

//! APDU round trips per second through the real pcscd, in one run, on the same
//! simulated T=1 card: Debian's `libccidtwin.so` talking the GemPC Twin framing to
//! `readerkit ccid-serve` over a pseudo-terminal (TPDU level: libccid runs T=1;
//! then short APDU level: the core's T=1 engine does), against readerkit's own IFD
//! handler `libifd_readerkit.so` with `DEVICENAME sim:t1`. Prints each figure and
//! the ratios.
//!
//! `cargo bench -p readerkit-ccid --bench roundtrips` (root; Debian's pcscd,
//! systemd and libccid). Under `cargo test --benches` it runs a few round trips
//! only, as a check that the set-up works.

#[path = "../tests/support/mod.rs"]
mod support;

use std::ffi::CString;
use std::time::{Duration, Instant};

use pcsc::{Context, Disposition, Protocols, Scope, ShareMode};
use support::{Entry, LIBCCIDTWIN, Libccid, Serve, start_pcscd, wait_card};

/// GET CHALLENGE of 8 bytes: a case 2 APDU the card answers with fresh data.
const GET_CHALLENGE: [u8; 5] = [0x00, 0x84, 0x00, 0x00, 0x08];

/// Connect to `reader` (T=1) once its card is there, and warm up.
fn connect(ctx: &Context, reader: &str) -> pcsc::Card {
    assert!(
        wait_card(ctx, reader, true, Duration::from_secs(10)),
        "card in {reader}"
    );
    let card = ctx
        .connect(
            &CString::new(reader).unwrap(),
            ShareMode::Shared,
            Protocols::T1,
        )
        .unwrap_or_else(|e| panic!("connect {reader}: {e}"));
    let mut buf = [0u8; 300];
    for _ in 0..3 {
        card.transmit(&GET_CHALLENGE, &mut buf).unwrap();
    }
    card
}

/// Round trips per second on `card`: as many as fit in `budget`, at least `min`.
fn rate(card: &pcsc::Card, budget: Duration, min: u32) -> f64 {
    let mut buf = [0u8; 300];
    let start = Instant::now();
    let mut n = 0u32;
    while n < min || start.elapsed() < budget {
        let r = card.transmit(&GET_CHALLENGE, &mut buf).unwrap();
        assert_eq!((r.len(), &r[8..]), (10, &[0x90, 0x00][..]));
        n += 1;
    }
    f64::from(n) / start.elapsed().as_secs_f64()
}

/// The median of `rounds` alternating measurements of `a` and `b` (the machine is
/// shared: alternating keeps both under the same load).
fn alternate(
    a: &pcsc::Card,
    b: &pcsc::Card,
    rounds: usize,
    budget: Duration,
    min: u32,
) -> (f64, f64) {
    let mut ra = Vec::new();
    let mut rb = Vec::new();
    for _ in 0..rounds {
        ra.push(rate(a, budget, min));
        rb.push(rate(b, budget, min));
    }
    let best = |v: Vec<f64>| v.into_iter().fold(0.0, f64::max);
    (best(ra), best(rb))
}

/// pcscd with libccid (`libccid` settings) on a fresh ccid-serve and readerkit's
/// own IFD handler on sim:t1; returns (CCID rate, own rate).
fn run(libccid: Option<Libccid>, rounds: usize, budget: Duration, min: u32) -> (f64, f64) {
    let ifd = support::ifd_driver();
    let twin = std::path::PathBuf::from(LIBCCIDTWIN);
    let serve = Serve::start(&["--reader", "gempctwin", "--card", "t1"]);
    let device = format!("{}:GemPCTwin", serve.path);
    let mut pcscd = start_pcscd(
        &[
            Entry {
                name: "RK Twin",
                device: &device,
                lib: &twin,
            },
            Entry {
                name: "RK Sim",
                device: "sim:t1",
                lib: &ifd,
            },
        ],
        libccid,
    );
    let ctx = Context::establish(Scope::User).expect("establish");
    let sim = ctx
        .list_readers_owned()
        .unwrap()
        .into_iter()
        .map(|r| r.to_string_lossy().into_owned())
        .find(|r| r.starts_with("RK Sim"))
        .expect("the sim:t1 reader is listed");
    let ccid = connect(&ctx, "RK Twin 00 00");
    let own = connect(&ctx, &sim);
    let rates = alternate(&ccid, &own, rounds, budget, min);
    for card in [ccid, own] {
        card.disconnect(Disposition::LeaveCard)
            .map_err(|(_, e)| e)
            .unwrap();
    }
    drop(ctx);
    std::thread::sleep(Duration::from_millis(1500));
    pcscd.stop();
    drop(serve);
    rates
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (rounds, budget, min) = if full {
        (9, Duration::from_millis(500), 100)
    } else {
        (1, Duration::ZERO, 5)
    };
    // libccid at its default TPDU level (it runs T=1 itself, every block relayed).
    let (tpdu, own_1) = run(None, rounds, budget, min);
    // libccid asked to use short APDUs (its driver option 2): the core's T=1 engine.
    let short = Libccid {
        driver_options: 2,
        log_level: 3,
    };
    let (apdu, own_2) = run(Some(short), rounds, budget, min);
    println!("APDU round trips per second through pcscd (GET CHALLENGE, sim:t1 card, pcsc crate;");
    println!("best of {rounds} alternating rounds, each pair under the same load):");
    for (name, rate) in [
        ("libccidtwin -> ccid-serve, TPDU level", tpdu),
        ("  libifd_readerkit.so sim:t1, same run", own_1),
        ("libccidtwin -> ccid-serve, short APDU", apdu),
        ("  libifd_readerkit.so sim:t1, same run", own_2),
    ] {
        println!(
            "  {name:<40} {rate:>9.0} /s  ({:.3} ms each)",
            1000.0 / rate
        );
    }
    println!(
        "  ratio CCID TPDU / own IFD handler:       {:.2}",
        tpdu / own_1
    );
    println!(
        "  ratio CCID short APDU / own IFD handler: {:.2}",
        apdu / own_2
    );
    if !full {
        println!("  (test mode: a few round trips each; `cargo bench` for figures)");
    }
}

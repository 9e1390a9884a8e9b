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
use support::{Entry, LIBCCIDTWIN, Libccid, Pcscd, Serve, wait_card};

/// GET CHALLENGE of 8 bytes: a case 2 APDU the card answers with fresh data.
const GET_CHALLENGE: [u8; 5] = [0x00, 0x84, 0x00, 0x00, 0x08];

/// Round trips per second on `reader`: as many as fit in `budget`, at least `min`.
fn measure(ctx: &Context, reader: &str, budget: Duration, min: u32) -> f64 {
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
    let start = Instant::now();
    let mut n = 0u32;
    while n < min || start.elapsed() < budget {
        let r = card.transmit(&GET_CHALLENGE, &mut buf).unwrap();
        assert_eq!((r.len(), &r[8..]), (10, &[0x90, 0x00][..]), "{reader}");
        n += 1;
    }
    let rate = f64::from(n) / start.elapsed().as_secs_f64();
    card.disconnect(Disposition::LeaveCard)
        .map_err(|(_, e)| e)
        .unwrap();
    rate
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (budget, min) = if full {
        (Duration::from_secs(3), 200)
    } else {
        (Duration::ZERO, 5)
    };
    let ifd = support::ifd_driver();
    let twin = std::path::PathBuf::from(LIBCCIDTWIN);

    // Run 1: libccid at its default TPDU level, and readerkit's IFD handler.
    let (tpdu, own) = {
        let serve = Serve::start(&["--reader", "gempctwin", "--card", "t1"]);
        let device = format!("{}:GemPCTwin", serve.path);
        let mut pcscd = Pcscd::start(
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
            None,
        );
        let ctx = Context::establish(Scope::User).expect("establish");
        let sim = ctx
            .list_readers_owned()
            .unwrap()
            .into_iter()
            .map(|r| r.to_string_lossy().into_owned())
            .find(|r| r.starts_with("RK Sim"))
            .expect("the sim:t1 reader is listed");
        let tpdu = measure(&ctx, "RK Twin 00 00", budget, min);
        let own = measure(&ctx, &sim, budget, min);
        drop(ctx);
        std::thread::sleep(Duration::from_millis(1500));
        pcscd.stop();
        (tpdu, own)
    };
    // Run 2: libccid asked to use short APDUs (its driver option 2).
    let apdu = {
        let serve = Serve::start(&["--reader", "gempctwin", "--card", "t1"]);
        let device = format!("{}:GemPCTwin", serve.path);
        let mut pcscd = Pcscd::start(
            &[Entry {
                name: "RK Twin",
                device: &device,
                lib: &twin,
            }],
            Some(Libccid {
                driver_options: 2,
                log_level: 3,
            }),
        );
        let ctx = Context::establish(Scope::User).expect("establish");
        let apdu = measure(&ctx, "RK Twin 00 00", budget, min);
        drop(ctx);
        std::thread::sleep(Duration::from_millis(1500));
        pcscd.stop();
        apdu
    };
    println!("APDU round trips per second through pcscd (GET CHALLENGE, sim:t1 card, pcsc crate):");
    for (name, rate) in [
        ("libccidtwin -> ccid-serve, TPDU level", tpdu),
        ("libccidtwin -> ccid-serve, short APDU", apdu),
        ("libifd_readerkit.so sim:t1 (own IFD)", own),
    ] {
        println!(
            "  {name:<40} {rate:>9.0} /s  ({:.3} ms each)",
            1000.0 / rate
        );
    }
    println!(
        "  ratio CCID TPDU / own IFD handler:       {:.2}",
        tpdu / own
    );
    println!(
        "  ratio CCID short APDU / own IFD handler: {:.2}",
        apdu / own
    );
    if !full {
        println!("  (test mode: a few round trips each; `cargo bench` for figures)");
    }
}

//! APDU round trips per second through the real pcscd, in one run: readerkit
//! `sim:t1`, readerkit `vpcd:` with vicc, and Debian's own vpcd driver with the same
//! kind of vicc. Prints each figure and the ratios.
//!
//! `cargo bench -p readerkit-pcsclite --bench roundtrips` (root, Debian packages as
//! for the end-to-end test).

use std::path::Path;
use std::time::Duration;

use pcsc::{Context, Protocols, Scope};
use readerkit_testkit::apdu::SELECT_MF;
use readerkit_testkit::pcsc::{
    connect, disconnect, reader_names, round_trips_per_second, wait_card,
};
use readerkit_testkit::pcscd::{Entry, Pcscd, free_port_runs, ifd_driver};
use readerkit_testkit::vicc::{DEBIAN_VPCD, Vicc, require_debian_vpcd, require_vicc};

/// Round trips per second on `reader`: as many as fit in `budget` (at least `min`).
fn measure(ctx: &Context, reader: &str, budget: Duration, min: u32) -> f64 {
    let card = connect(ctx, reader, Protocols::ANY);
    let rate = round_trips_per_second(&card, &SELECT_MF, budget, min, |r| {
        assert_eq!(r, [0x90, 0x00], "{reader}")
    });
    disconnect(card);
    rate
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would pass nothing useful.
    require_vicc();
    require_debian_vpcd();
    let lib = ifd_driver();
    // Debian's vpcd listens on its port and the next (two slots).
    let ports = free_port_runs(&[1, 2]);
    let (ours_port, debian_port) = (ports[0], ports[1]);
    let ours = format!("vpcd:{ours_port}");
    let debian = format!("/dev/null:{debian_port}");
    let _pcscd = Pcscd::start(&[
        Entry {
            name: "RK T1",
            device: "sim:t1",
            lib: &lib,
        },
        Entry {
            name: "RK VPCD",
            device: &ours,
            lib: &lib,
        },
        Entry {
            name: "Debian VPCD",
            device: &debian,
            lib: Path::new(DEBIAN_VPCD),
        },
    ]);
    let ctx = Context::establish(Scope::User).expect("establish");
    let _vicc_ours = Vicc::start(ours_port);
    let _vicc_debian = Vicc::start(debian_port);
    let readers = reader_names(&ctx);
    let debian_reader = readers
        .iter()
        .find(|r| r.starts_with("Debian VPCD") && r.ends_with("00"))
        .cloned()
        .expect("Debian's vpcd reader listed");
    assert!(
        wait_card(&ctx, "RK VPCD 01 00", true, Duration::from_secs(15)),
        "vicc on readerkit vpcd"
    );
    assert!(
        wait_card(&ctx, &debian_reader, true, Duration::from_secs(15)),
        "vicc on Debian vpcd"
    );

    let sim = measure(&ctx, "RK T1 00 00", Duration::from_secs(2), 100);
    let rk_vpcd = measure(&ctx, "RK VPCD 01 00", Duration::from_secs(2), 100);
    let deb_vpcd = measure(&ctx, &debian_reader, Duration::from_secs(2), 20);
    println!("APDU round trips per second through pcscd (SELECT MF, pcsc crate client):");
    println!(
        "  readerkit sim:t1            {sim:>10.0} /s  ({:.3} ms each)",
        1000.0 / sim
    );
    println!(
        "  readerkit vpcd: + vicc      {rk_vpcd:>10.0} /s  ({:.3} ms each)",
        1000.0 / rk_vpcd
    );
    println!(
        "  Debian vpcd (libifdvpcd) + vicc {deb_vpcd:>6.1} /s  ({:.3} ms each)",
        1000.0 / deb_vpcd
    );
    println!(
        "  ratio readerkit vpcd / Debian vpcd: {:.1}x",
        rk_vpcd / deb_vpcd
    );
    println!(
        "  ratio readerkit sim:t1 / Debian vpcd: {:.1}x",
        sim / deb_vpcd
    );
}

//! APDU round trips per second through `readerkit usbip-serve`: a scripted USB/IP
//! client on 127.0.0.1 (the host side vhci-hcd plays) sends XfrBlock ECHO APDUs of
//! 16 bytes as bulk OUT and bulk IN URBs to the usb-device CCID class on its
//! virtual bus, the simulated T=1 card behind it. Prints figures, asserts nothing
//! about speed: `cargo bench -p readerkit-cli --bench usbip_roundtrips`.
//!
//! `tools/usbip-guest.sh` measures the same through a guest's kernel, libccid and
//! pcscd (under QEMU's TCG there, so mostly the emulation's cost).

use std::time::{Duration, Instant};

use readerkit_testkit::ccid::message as ccid;
use readerkit_testkit::served::Served;
use readerkit_testkit::usbip::Client;

/// Length of one measured round, in ms.
const ROUND_MS: u64 = 1000;
/// Rounds measured (the best is shown too: the machine is shared).
const ROUNDS: usize = 5;

fn main() {
    let served = Served::start(
        env!("CARGO_BIN_EXE_readerkit"),
        &["usbip-serve", "--port", "0", "--card", "t1"],
    );
    let port: u16 = served.first_line.parse().expect("the port");
    let mut client = Client::import(port);
    client.configure(1);
    let mut seq = 2u32;
    let atr = client.exchange(seq, &ccid(0x62, 0, &[]));
    assert_eq!(atr[0], 0x80, "IccPowerOn answered with a DataBlock");
    let mut apdu = vec![0x80, 0xEE, 0, 0, 16];
    apdu.extend(0..16u8);
    apdu.push(0);
    let mut rates = Vec::new();
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let mut count = 0u32;
        while start.elapsed() < Duration::from_millis(ROUND_MS) {
            seq += 2;
            let answer = client.exchange(seq, &ccid(0x6F, seq as u8, &apdu));
            assert_eq!(answer[answer.len() - 2..], [0x90, 0x00]);
            count += 1;
        }
        rates.push(f64::from(count) / start.elapsed().as_secs_f64());
    }
    let best = rates.iter().copied().fold(0.0, f64::max);
    let shown: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
    println!(
        "usbip-serve: ECHO 16 bytes over USB/IP (2 URBs each): rounds {} round trips/s, best {best:.0} ({:.0} µs each)",
        shown.join(" "),
        1e6 / best
    );
}

//! The example firmware itself driven by the real host stack: `tools/qemu-firmware.sh
//! ccid` runs the firmware (the core, its engines, the TDA8035 driver and this
//! binding, built for Cortex-M4) on QEMU's mps2-an386 with its UART on a
//! pseudo-terminal; Debian's pcscd loads Debian's `libccidtwin.so` for it
//! (`DEVICENAME <pty>:GemPCTwin`); the `pcsc` crate is the client. The card is the
//! simulated card behind the firmware's simulated TDA8035 (it offers T=0 and T=1).
//!
//! QEMU, pcscd and libccid must be installed: a missing one fails the test.

#[path = "support/mod.rs"]
mod support;

use std::ffi::CString;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pcsc::{Disposition, Protocols, ShareMode};
use support::{echo, echo_after_insertion, hex, pcscd_for, stop_and_check, tx, wait_card};

/// The firmware under QEMU (`tools/qemu-firmware.sh ccid`); killed on drop.
struct Firmware {
    /// The pseudo-terminal of its UART.
    path: String,
    child: Child,
    stdin: ChildStdin,
    /// The firmware's console (UART1) so far.
    console: Arc<Mutex<String>>,
}

impl Firmware {
    fn start() -> Firmware {
        let script = support::workspace().join("tools/qemu-firmware.sh");
        let mut child = Command::new(&script)
            .arg("ccid")
            // Its own target directory: never waits on the test build's lock.
            .env(
                "CARGO_TARGET_DIR",
                support::target_dir().join("qemu-firmware"),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", script.display()));
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let path = first.trim().to_string();
        assert!(
            path.starts_with("/dev/pts/"),
            "qemu-firmware.sh ccid prints the pty first (is qemu-system-arm installed?): {path:?}"
        );
        let console = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&console);
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                eprintln!("firmware: {line}");
                let mut all = sink.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        let stdin = child.stdin.take().unwrap();
        Firmware {
            path,
            child,
            stdin,
            console,
        }
    }

    /// A control line to the simulated slot: `remove` or `insert`.
    fn control(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    fn console(&self) -> String {
        self.console.lock().unwrap().clone()
    }
}

impl Drop for Firmware {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SELECT_MF: [u8; 7] = [0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00];

/// SELECT, GET CHALLENGE, ECHO of `lengths`, an unknown instruction.
fn session(card: &pcsc::Card, lengths: impl Iterator<Item = usize>) {
    assert_eq!(tx(card, &SELECT_MF).unwrap(), [0x90, 0x00], "SELECT MF");
    let a = tx(card, &[0x00, 0x84, 0x00, 0x00, 0x08]).unwrap();
    let b = tx(card, &[0x00, 0x84, 0x00, 0x00, 0x08]).unwrap();
    assert_eq!((a.len(), &a[8..]), (10, &[0x90, 0x00][..]), "GET CHALLENGE");
    assert_ne!(a, b, "two challenges differ");
    for n in lengths {
        let data: Vec<u8> = (0..n).map(|i| (i * 7 + n) as u8).collect();
        let r = tx(card, &echo(&data)).unwrap();
        assert_eq!(r[..n], data[..], "ECHO {n}");
        assert_eq!(r[n..], [0x90, 0x00], "ECHO {n}");
    }
    assert_eq!(tx(card, &[0x00, 0x12, 0x00, 0x00]).unwrap(), [0x6D, 0x00]);
}

fn atr_of(card: &pcsc::Card) -> Vec<u8> {
    let mut names = [0u8; 256];
    let mut atr = [0u8; 64];
    card.status2(&mut names, &mut atr).unwrap().atr().to_vec()
}

fn protocol_of(card: &pcsc::Card) -> Option<pcsc::Protocol> {
    let mut names = [0u8; 256];
    let mut atr = [0u8; 64];
    card.status2(&mut names, &mut atr).unwrap().protocol2()
}

/// ECHO round trips of 16 bytes per second for `duration` (a figure, not a check).
fn round_trips(card: &pcsc::Card, duration: Duration) -> f64 {
    let apdu = echo(&[0x5A; 16]);
    let start = Instant::now();
    let mut count = 0u32;
    while start.elapsed() < duration {
        assert_eq!(tx(card, &apdu).unwrap().len(), 18);
        count += 1;
    }
    f64::from(count) / start.elapsed().as_secs_f64()
}

#[test]
fn pcscd_and_libccidtwin_drive_the_qemu_firmware() {
    let mut firmware = Firmware::start();
    let device = format!("{}:GemPCTwin", firmware.path);
    let (pcscd, ctx) = pcscd_for(&device, "RK QEMU", None);
    let name = "RK QEMU 00 00";
    let reader = CString::new(name).unwrap();
    assert!(
        wait_card(&ctx, name, true, Duration::from_secs(10)),
        "card seen; pcscd log:\n{}",
        pcscd.log()
    );

    // T=1 (negotiated by libccid's PPS), the whole session.
    let card = ctx
        .connect(&reader, ShareMode::Shared, Protocols::T1)
        .expect("connect T=1");
    assert_eq!(protocol_of(&card), Some(pcsc::Protocol::T1));
    let atr = atr_of(&card);
    assert_eq!(atr.first(), Some(&0x3B), "ATR {}", hex(&atr));
    eprintln!("ATR through the firmware: {}", hex(&atr));
    session(&card, 1..=255);
    let t1_rate = round_trips(&card, Duration::from_secs(3));

    // Reset, and T=0 after it (the card offers both).
    let mut card = card;
    card.reconnect(ShareMode::Shared, Protocols::T0, Disposition::ResetCard)
        .expect("reconnect with reset, T=0");
    assert_eq!(protocol_of(&card), Some(pcsc::Protocol::T0));
    session(&card, [1usize, 2, 17, 100, 254, 255].into_iter());
    let t0_rate = round_trips(&card, Duration::from_secs(3));
    card.disconnect(Disposition::UnpowerCard)
        .map_err(|(_, e)| e)
        .unwrap();

    // Removal and insertion at the simulated slot, seen by SCardGetStatusChange.
    firmware.control("remove");
    assert!(
        wait_card(&ctx, name, false, Duration::from_secs(10)),
        "removal seen"
    );
    assert_eq!(
        ctx.connect(&reader, ShareMode::Shared, Protocols::T1).err(),
        Some(pcsc::Error::NoSmartcard)
    );
    firmware.control("insert");
    assert!(
        wait_card(&ctx, name, true, Duration::from_secs(10)),
        "insertion seen"
    );
    echo_after_insertion(&ctx, name, Protocols::T1);
    drop(ctx);
    let log = stop_and_check(pcscd);

    eprintln!(
        "ECHO 16 bytes through pcscd + libccidtwin + the QEMU firmware: T=1 {t1_rate:.0}/s, T=0 {t0_rate:.0}/s"
    );
    assert!(
        log.contains("Firmware: readerkit-ccid"),
        "libccid read the firmware's version string"
    );
    let console = firmware.console();
    assert!(
        console.contains("stack high water: CCID command"),
        "the firmware measured its stack:\n{console}"
    );
}

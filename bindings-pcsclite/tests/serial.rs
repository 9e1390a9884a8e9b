//! The `serial:` backend end to end, with no hardware: the real pcscd loads
//! `libifd_readerkit.so` with `DEVICENAME serial:/dev/pts/N:tda8029`; on the master
//! side of that pseudo-terminal a simulated TDA8029 (ALPAR) with the simulated T=1
//! card behind it answers (`support/pty_tda8029.rs`); pyscard
//! (`tests/py/serial_session.py`) runs a session through it. Card insertion and
//! removal travel as the chip's unsolicited frames.
//!
//! Also, without pcscd: the IFDH entry point refuses malformed `serial:`
//! DEVICENAMEs with `IFD_NO_SUCH_DEVICE` and unreachable hardware with
//! `IFD_COMMUNICATION_ERROR`.
//!
//! pcscd runs under the same file lock as the other pcscd tests: never two at once.
#![cfg(target_os = "linux")]

#[path = "support/ifdh.rs"]
mod ifdh;
#[path = "support/pty_tda8029.rs"]
mod pty_tda8029;
#[path = "support/pcscd.rs"]
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use ifd_readerkit::{IFD_COMMUNICATION_ERROR, IFD_NO_SUCH_DEVICE, IFD_SUCCESS};
use ifdh::{close, open};
use pcsc::{Context, Protocols, Scope};
use pty_tda8029::FakeChip;
use readerkit_card_sim::Profile;
use readerkit_hal::alpar::cmd;
use readerkit_testkit::hex;
use readerkit_testkit::pcsc::{connect, reader_names, step, wait_card};
use readerkit_testkit::pcscd::Pcscd;

const READER: &str = "RK SERIAL 00 00";

#[test]
fn serial_tda8029_over_a_pty_under_pcscd() {
    let started = Instant::now();
    let chip = FakeChip::start(Profile::t1());
    let device = format!("serial:{}:tda8029", chip.path.display());
    let mut pcscd = Pcscd::start_readerkit(&[("RK SERIAL", &device)]);
    let ctx = Context::establish(Scope::User).expect("establish context (pcscd started)");
    step(&format!("pcscd up with {device}"), started);

    let names = reader_names(&ctx);
    assert_eq!(names, [READER]);
    assert!(
        chip.count(cmd::CHECK_PRESENCE_CARD) >= 1,
        "the driver probed the chip when opening"
    );
    assert!(
        wait_card(&ctx, READER, false, Duration::from_secs(5)),
        "empty slot"
    );

    chip.insert();
    assert!(
        wait_card(&ctx, READER, true, Duration::from_secs(5)),
        "insertion frame (60 00 01 A0 01) reaches pcscd"
    );
    step("card inserted (unsolicited ALPAR frame)", started);

    let atr = hex(Profile::t1().atr().as_slice());
    support::require_pyscard();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/serial_session.py");
    let out = Command::new("/usr/bin/python3")
        .args([script, READER, &atr])
        .env("PCSCLITE_CSOCK_NAME", &pcscd.socket)
        .output()
        .expect("run /usr/bin/python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("OK"),
        "pyscard session failed:\n{stdout}\n{}\npcscd log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        pcscd.log()
    );
    step(
        "pyscard session (SELECT MF, GET CHALLENGE, ECHO, reset)",
        started,
    );
    assert!(chip.count(cmd::POWER_UP_5V) >= 2, "power-up and reset");
    assert!(
        chip.count(cmd::CARD_COMMAND) >= 9,
        "every APDU went over the pty"
    );

    // The pcsc crate, too: a card command on a fresh connection.
    {
        let card = connect(&ctx, READER, Protocols::ANY);
        let mut buf = [0u8; 258];
        let r = card
            .transmit(&[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00], &mut buf)
            .expect("SELECT MF");
        assert_eq!(r, [0x90, 0x00]);
        card.disconnect(pcsc::Disposition::UnpowerCard)
            .map_err(|(_, e)| e)
            .expect("disconnect");
    }
    assert!(chip.count(cmd::POWER_OFF) >= 1, "unpower reaches the chip");

    chip.remove();
    assert!(
        wait_card(&ctx, READER, false, Duration::from_secs(5)),
        "removal frame (60 00 01 A0 00) reaches pcscd"
    );
    step("card removed (unsolicited ALPAR frame)", started);

    drop(ctx);
    pcscd.stop_and_check_log();
    step("pcscd stopped (SIGINT), log clean", started);
}

#[test]
fn serial_devicenames_are_checked() {
    for bad in [
        "serial:",
        "serial:/dev/ttyUSB0",
        "serial:ttyUSB0:tda8029",
        "serial:/dev/ttyUSB0:tda8029:fast",
        "serial:/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27",
        "serial:/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=17,OFF=22",
    ] {
        assert_eq!(open(0x0070_0000, bad), IFD_NO_SUCH_DEVICE, "{bad}");
    }
    // Well-formed, but nothing there.
    for absent in [
        "serial:/dev/readerkit-no-such-tty:tda8029",
        "serial:/dev/readerkit-no-such-tty:tda8035:gpiochip0:CMDVCC=17,RSTIN=27,OFF=22",
    ] {
        assert_eq!(
            open(0x0071_0000, absent),
            IFD_COMMUNICATION_ERROR,
            "{absent}"
        );
    }
}

#[test]
fn silent_pty_is_a_communication_error_and_a_live_one_opens() {
    // A pty with nobody on the master side: no TDA8029 answers the probe.
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let path = nix::unistd::ttyname(std::os::fd::AsRawFd::as_raw_fd(&pty.slave)).unwrap();
    let started = Instant::now();
    assert_eq!(
        open(0x0072_0000, &format!("serial:{}:tda8029", path.display())),
        IFD_COMMUNICATION_ERROR
    );
    assert!(started.elapsed() < Duration::from_secs(5), "bounded probe");
    // A GPIO chip on a real tty that has no such GPIO character device.
    assert_eq!(
        open(
            0x0073_0000,
            &format!(
                "serial:{}:tda8035:/dev/readerkit-no-such-gpiochip:CMDVCC=17,RSTIN=27,OFF=22",
                path.display()
            )
        ),
        IFD_COMMUNICATION_ERROR
    );
    drop(pty);

    // With the simulated chip there, the channel opens and closes (worker joined).
    let chip = FakeChip::start(Profile::t1());
    let lun = 0x0074_0000;
    assert_eq!(
        open(
            lun,
            &format!("serial:{}:tda8029:38400", chip.path.display())
        ),
        IFD_SUCCESS
    );
    assert_eq!(close(lun), IFD_SUCCESS);
}

//! `readerkit ccid-serve` on its pseudo-terminal, spoken to directly with the
//! bytes libccid sends (no pcscd here; `bindings-ccid/tests/pcscd.rs` runs the real
//! host stack): the path comes alone on the first line, a GemPC Twin echoes each
//! frame and answers the firmware request, the SEC1210 does not echo, stdin moves
//! cards, and bad options are usage errors.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};

/// libccid's first frame on open: Escape `02` (firmware version), seq 0.
const FIRMWARE_REQUEST: [u8; 14] = [
    0x03, 0x06, 0x6B, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x6D,
];

struct Served {
    child: Child,
    stdin: ChildStdin,
    port: File,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(args: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_readerkit"))
        .arg("ccid-serve")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let path = line.trim_end_matches('\n');
    assert!(path.starts_with("/dev/pts/"), "{line:?}");
    let port = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut termios = tcgetattr(port.as_fd()).unwrap();
    cfmakeraw(&mut termios);
    tcsetattr(port.as_fd(), SetArg::TCSANOW, &termios).unwrap();
    let stdin = child.stdin.take().unwrap();
    Served { child, stdin, port }
}

/// Read exactly `n` bytes (within 5 s).
fn read_n(port: &mut File, n: usize) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    while got.len() < n {
        assert!(Instant::now() < deadline, "only {got:02X?} of {n} bytes");
        let mut fds = [PollFd::new(&*port, PollFlags::POLLIN)];
        if poll(&mut fds, 100).unwrap() == 0 {
            continue;
        }
        let mut buf = [0u8; 512];
        let k = port.read(&mut buf[..n - got.len()]).unwrap();
        got.extend_from_slice(&buf[..k]);
    }
    got
}

fn frame(message: &[u8]) -> Vec<u8> {
    let mut f = vec![0x03, 0x06];
    f.extend_from_slice(message);
    f.push(f.iter().fold(0, |a, b| a ^ b));
    f
}

#[test]
fn gempctwin_echoes_and_answers_the_firmware_request() {
    let mut s = serve(&["--reader", "gempctwin", "--card", "t1"]);
    s.port.write_all(&FIRMWARE_REQUEST).unwrap();
    assert_eq!(read_n(&mut s.port, 14), FIRMWARE_REQUEST, "the echo");
    let firmware = b"readerkit-ccid GemPC Twin 0.1";
    // RDR_to_PC_Escape, bStatus 01: a card present, not powered.
    let mut message = vec![0x83, firmware.len() as u8, 0, 0, 0, 0, 0, 0x01, 0, 0];
    message.extend_from_slice(firmware);
    assert_eq!(read_n(&mut s.port, message.len() + 3), frame(&message));

    // A bad LRC is answered with NAK.
    let mut bad = FIRMWARE_REQUEST;
    bad[13] ^= 0xFF;
    s.port.write_all(&bad).unwrap();
    assert_eq!(read_n(&mut s.port, 3), [0x03, 0x15, 0x16]);

    // The card is taken out: an unframed NotifySlotChange, then GetSlotStatus says
    // absent.
    writeln!(s.stdin, "remove 0").unwrap();
    s.stdin.flush().unwrap();
    assert_eq!(read_n(&mut s.port, 2), [0x50, 0x02]);
    let status = [0x65, 0, 0, 0, 0, 0, 7, 0, 0, 0];
    s.port.write_all(&frame(&status)).unwrap();
    assert_eq!(read_n(&mut s.port, 13), frame(&status), "the echo");
    assert_eq!(
        read_n(&mut s.port, 13),
        frame(&[0x81, 0, 0, 0, 0, 0, 7, 0x02, 0x00, 0x03])
    );
    writeln!(s.stdin, "insert 0").unwrap();
    s.stdin.flush().unwrap();
    assert_eq!(read_n(&mut s.port, 2), [0x50, 0x03]);
}

#[test]
fn sec1210_has_two_slots_and_no_echo() {
    let mut s = serve(&["--reader", "sec1210", "--card", "t0,empty"]);
    for (slot, icc) in [(0u8, 0x01u8), (1, 0x02)] {
        let status = [0x65, 0, 0, 0, 0, slot, 9, 0, 0, 0];
        s.port.write_all(&frame(&status)).unwrap();
        assert_eq!(
            read_n(&mut s.port, 13),
            frame(&[0x81, 0, 0, 0, 0, slot, 9, icc, 0x00, 0x03])
        );
    }
    // Slot 2 does not exist: bError 5.
    let status = [0x65, 0, 0, 0, 0, 2, 10, 0, 0, 0];
    s.port.write_all(&frame(&status)).unwrap();
    assert_eq!(
        read_n(&mut s.port, 13),
        frame(&[0x81, 0, 0, 0, 0, 2, 10, 0x42, 0x05, 0x03])
    );
}

#[test]
fn bad_options_are_usage_errors() {
    for args in [
        &["--reader", "omnikey"][..],
        &["--card", "t9"],
        &["--bogus"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_readerkit"))
            .arg("ccid-serve")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}: no pty path printed");
    }
}

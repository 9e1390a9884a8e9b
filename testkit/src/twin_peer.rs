//! A raw peer on a GemPC Twin serial line (the framing Debian's `libccidtwin.so`
//! speaks: SYNC 03, ACK 06, the CCID message, LRC): for tests that send what
//! libccid would not (a second command while one runs, an abort) to
//! `readerkit ccid-serve` or the QEMU firmware on their pseudo-terminals.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};

/// The pseudo-terminal at `path`, opened for reading and writing in raw mode (no
/// line discipline between the bytes and the peer).
pub fn open_raw(path: &str) -> File {
    let port = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {path}: {e}"));
    let mut termios = tcgetattr(port.as_fd()).unwrap();
    cfmakeraw(&mut termios);
    tcsetattr(port.as_fd(), SetArg::TCSANOW, &termios).unwrap();
    port
}

/// Read exactly `n` bytes (within 5 s, else the test fails).
pub fn read_n(port: &mut File, n: usize) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    while got.len() < n {
        assert!(Instant::now() < deadline, "only {got:02X?} of {n} bytes");
        let mut fds = [PollFd::new(&*port, PollFlags::POLLIN)];
        if poll(&mut fds, 100).unwrap() == 0 {
            continue;
        }
        let mut buf = [0u8; 512];
        let want = (n - got.len()).min(buf.len());
        let k = port.read(&mut buf[..want]).unwrap();
        got.extend_from_slice(&buf[..k]);
    }
    got
}

/// `message` as one frame: SYNC, ACK, the message, LRC.
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut f = vec![0x03, 0x06];
    f.extend_from_slice(message);
    f.push(crate::t1::lrc(&f));
    f
}

/// Send `message` as one frame and check the reader's echo (a GemPC Twin echoes
/// each frame): the same frame back, byte for byte, with nothing before it.
pub fn send_echoed(port: &mut File, message: &[u8]) {
    port.write_all(&frame(message)).unwrap();
    assert_eq!(
        read_n(port, message.len() + 3),
        frame(message),
        "the echo of {message:02X?}"
    );
}

/// Read one frame and return its message (the frame's SYNC/ACK, length and LRC
/// checked).
pub fn read_message(port: &mut File) -> Vec<u8> {
    let (requests, message) = read_answer(port);
    assert_eq!(requests, [], "time requests before {message:02X?}");
    message
}

/// Read the GemPC Twin's unframed time requests (`80 | multiplier`: the card asks
/// for more time) up to the next frame, then that frame; returns the time
/// requests and the frame's message (checked as in [`read_message`]).
pub fn read_answer(port: &mut File) -> (Vec<u8>, Vec<u8>) {
    let mut requests = Vec::new();
    let mut whole = loop {
        let [byte] = read_n(port, 1)[..] else {
            unreachable!("read_n reads one byte")
        };
        match byte {
            0x03 => break vec![byte],
            0x80.. => requests.push(byte),
            _ => panic!("{byte:02X} after time requests {requests:02X?}"),
        }
    };
    whole.extend_from_slice(&read_n(port, 11));
    assert_eq!(whole[1], 0x06, "{whole:02X?}");
    let len = u32::from_le_bytes([whole[3], whole[4], whole[5], whole[6]]) as usize;
    whole.extend_from_slice(&read_n(port, len + 1));
    assert_eq!(crate::t1::lrc(&whole), 0, "LRC of {whole:02X?}");
    (requests, whole[2..whole.len() - 1].to_vec())
}

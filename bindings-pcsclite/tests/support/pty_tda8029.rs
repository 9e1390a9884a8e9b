//! A simulated NXP TDA8029 on the master side of a pseudo-terminal, with the
//! simulated card (`card-sim`) behind it. The driver opens the slave side
//! (`/dev/pts/N`) as if it were the chip's serial port.
//!
//! The chip speaks ALPAR frames (built and reassembled with `readerkit-hal`'s
//! `alpar` codec, whose frames are checked byte for byte against open drivers in
//! its own unit tests). Behind it the card is reached byte by byte, as the real
//! chip does with its own firmware: a readerkit `Device` over `LineReader<SimLine>`
//! does the ATR, PPS and T=0/T=1 (the chip "negotiates at power-up").
//!
//! Commands answered: check_presence_card (09), power_up_5V/3V/1V8 (6E/6D/68, the
//! ATR back), power_off (4D), card_command (00, the response APDU back); anything
//! else, or a card command without a powered card, gets an `E0` error answer.
//! [`FakeChip::insert`] / [`FakeChip::remove`] send the unsolicited `A0` frames.
//! Every command code received is recorded.

#![allow(dead_code, unreachable_pub)]

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
use readerkit::caps::ReaderCapabilities;
use readerkit::ioctl::PowerAction;
use readerkit::line::LineReader;
use readerkit::protocol::{Protocol, ProtocolMask};
use readerkit_card_sim::{Card, Profile, SimLine};
use readerkit_hal::alpar::{self, Decoder, Frame, cmd};
use readerkit_testkit::sim::{SimDevice as CardDevice, line_device};

enum Control {
    Insert,
    Remove,
}

/// A running fake TDA8029; stopped on drop.
pub struct FakeChip {
    /// The slave side's path, for the DEVICENAME.
    pub path: PathBuf,
    /// Command codes received, in order.
    pub commands: Arc<Mutex<Vec<u8>>>,
    control: Sender<Control>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Kept open so the master never sees EIO while the driver has the slave
    /// closed (between pcscd's open attempts).
    _slave: OwnedFd,
}

impl FakeChip {
    /// Open a pty (raw mode) and start the chip on its master side, no card in the
    /// slot.
    pub fn start(profile: Profile) -> FakeChip {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let mut termios = tcgetattr(pty.slave.as_fd()).expect("tcgetattr");
        cfmakeraw(&mut termios);
        tcsetattr(pty.slave.as_fd(), SetArg::TCSANOW, &termios).expect("raw mode");
        let path = nix::unistd::ttyname(pty.slave.as_raw_fd()).expect("ttyname");
        let commands = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (control, rx) = channel();
        let master = File::from(pty.master);
        let (seen, flag) = (commands.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("fake-tda8029".into())
            .spawn(move || run(master, rx, seen, flag, profile))
            .expect("spawn the fake chip");
        FakeChip {
            path,
            commands,
            control,
            stop,
            thread: Some(thread),
            _slave: pty.slave,
        }
    }

    /// Put the card in the slot (the chip announces it).
    pub fn insert(&self) {
        let _ = self.control.send(Control::Insert);
    }

    /// Take the card out (the chip announces it).
    pub fn remove(&self) {
        let _ = self.control.send(Control::Remove);
    }

    /// How many times `command` was received.
    pub fn count(&self, command: u8) -> usize {
        self.commands
            .lock()
            .unwrap()
            .iter()
            .filter(|&&c| c == command)
            .count()
    }
}

impl Drop for FakeChip {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Chip {
    port: File,
    profile: Profile,
    card: Option<CardDevice>,
    /// Protocol bit in force after power-up (0 = card not powered).
    protocol: u32,
}

/// The chip's answer frame (`60`, or `E0` when `ok` is false), built by the
/// driver's own codec: LEN and LRC are never written by hand here.
fn encoded(ok: bool, command: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; alpar::MAX_FRAME];
    let n = Frame {
        ok,
        command,
        payload,
    }
    .encode(&mut out)
    .expect("every answer of the fake fits an ALPAR frame");
    out.truncate(n);
    out
}

/// A normal answer to `command` with `payload`.
fn frame(command: u8, payload: &[u8]) -> Vec<u8> {
    encoded(true, command, payload)
}

/// An error answer (`E0`) to `command` with the error `code`.
fn error_frame(command: u8, code: u8) -> Vec<u8> {
    encoded(false, command, &[code])
}

/// ALPAR error codes used by the fake: card absent, card not powered (mute),
/// unknown command.
const E_ABSENT: u8 = 0xC0;
const E_MUTE: u8 = 0xA2;
const E_UNKNOWN: u8 = 0x20;

impl Chip {
    fn send(&mut self, bytes: &[u8]) {
        self.port.write_all(bytes).expect("write to the pty master");
    }

    fn handle(&mut self, command: u8, payload: &[u8]) -> Vec<u8> {
        match command {
            cmd::CHECK_PRESENCE_CARD => frame(command, &[u8::from(self.card.is_some())]),
            cmd::POWER_UP_5V | cmd::POWER_UP_3V | cmd::POWER_UP_1V8 => {
                let Some(dev) = &self.card else {
                    return error_frame(command, E_ABSENT);
                };
                self.protocol = 0;
                let mut atr = [0u8; 33];
                let Ok(atr_len) = dev.power_card(PowerAction::ColdReset, &mut atr) else {
                    return error_frame(command, E_MUTE);
                };
                // Option byte 00: the chip applies the ATR's parameters (PPS).
                match dev.select_protocol(ProtocolMask(3)) {
                    Ok(p) => self.protocol = p.bit(),
                    Err(_) => return error_frame(command, E_MUTE),
                }
                frame(command, &atr[..atr_len])
            }
            cmd::POWER_OFF => {
                if let Some(dev) = &self.card {
                    let _ = dev.power_card(PowerAction::PowerDown, &mut [0u8; 33]);
                }
                self.protocol = 0;
                frame(command, &[])
            }
            cmd::CARD_COMMAND => {
                let Some(dev) = &self.card else {
                    return error_frame(command, E_ABSENT);
                };
                if self.protocol == 0 {
                    return error_frame(command, E_MUTE);
                }
                let Some(protocol) = Protocol::from_bit(self.protocol) else {
                    return error_frame(command, E_MUTE);
                };
                let mut out = vec![0u8; 8 + alpar::MAX_PAYLOAD];
                match dev.transmit_apdu(protocol, payload, &mut out) {
                    Ok(response) => frame(command, response),
                    Err(_) => error_frame(command, E_MUTE),
                }
            }
            _ => error_frame(command, E_UNKNOWN),
        }
    }

    fn insert(&mut self) {
        // The chip's own firmware: no ENVELOPE for extended APDUs over T=0.
        let dev = line_device(
            LineReader::new(SimLine::new(Card::new(self.profile.clone()))),
            ReaderCapabilities::typical(),
        );
        dev.card_inserted();
        self.card = Some(dev);
        self.protocol = 0;
        self.send(&frame(cmd::CARD_EVENT, &[0x01]));
    }

    fn remove(&mut self) {
        self.card = None;
        self.protocol = 0;
        self.send(&frame(cmd::CARD_EVENT, &[0x00]));
    }
}

fn run(
    port: File,
    control: Receiver<Control>,
    seen: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    profile: Profile,
) {
    let mut chip = Chip {
        port,
        profile,
        card: None,
        protocol: 0,
    };
    let mut decoder = Decoder::new();
    let mut buf = [0u8; 1024];
    while !stop.load(Ordering::Acquire) {
        while let Ok(c) = control.try_recv() {
            match c {
                Control::Insert => chip.insert(),
                Control::Remove => chip.remove(),
            }
        }
        let readable = {
            let mut fds = [PollFd::new(&chip.port, PollFlags::POLLIN)];
            matches!(poll(&mut fds, 10), Ok(n) if n > 0)
                && fds[0]
                    .revents()
                    .is_some_and(|r| r.contains(PollFlags::POLLIN))
        };
        if !readable {
            continue;
        }
        let n = match chip.port.read(&mut buf) {
            Ok(n) => n,
            Err(_) => {
                std::thread::sleep(std::time::Duration::from_millis(10));
                continue;
            }
        };
        for &b in &buf[..n] {
            let answer = match decoder.feed(b) {
                Some(Ok(f)) if f.ok => {
                    seen.lock().unwrap().push(f.command);
                    let (command, payload) = (f.command, f.payload.to_vec());
                    chip.handle(command, &payload)
                }
                // Broken or E0-started host frames are dropped, as the chip does.
                _ => continue,
            };
            chip.send(&answer);
        }
    }
}

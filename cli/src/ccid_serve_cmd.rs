//! `readerkit ccid-serve`: simulated cards behind a CCID reader (the
//! `readerkit-ccid` binding over the core) on a new pseudo-terminal, with the
//! GemPC Twin serial framing, so Debian's `libccidtwin.so` under pcscd uses it as
//! a `GemPCTwin` or `SEC1210` reader.
//!
//! The terminal's path is printed alone on the first line of stdout; the reader is
//! served until the process is killed. Lines on stdin move cards:
//! `remove [SLOT]`, `insert [SLOT]` (slot 0 by default).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::process::ExitCode;

use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
use readerkit::Device;
use readerkit::caps::{IfdVersion, VendorAttributes, attr_string};
use readerkit::line::LineReader;
use readerkit::platform::SpinPlatform;
use readerkit_card_sim::{Card, Config, Profile, SimLine};
use readerkit_ccid::CcidReader;
use readerkit_ccid::twin::{self, Decoder, Event};

/// Usage text of `readerkit ccid-serve`.
pub(crate) const USAGE: &str = "\
Usage: readerkit ccid-serve [--reader gempctwin|sec1210] [--card KIND[,KIND]] [--trace]

Serves simulated cards behind a CCID reader with the GemPC Twin serial framing on
a new pseudo-terminal, for Debian's libccidtwin.so under pcscd (reader.conf:
DEVICENAME <path>:GemPCTwin or <path>:SEC1210). Prints the terminal's path alone
on the first line, then serves until killed.

  --reader   gempctwin (one slot, the default) or sec1210 (two slots)
  --card     the card of each slot: t0, t1, t0t1, t1crc or empty (default t1;
             one value applies to every slot)
  --trace    print every frame on stderr

Lines on stdin move cards: `remove [SLOT]`, `insert [SLOT]`.
";

/// Buffer size of each simulated card (short APDUs only travel this framing).
const CARD_CAPACITY: usize = 1024;
/// libccid's `dwMaxCCIDMessageLength` for these readers, in bytes.
const MAX_MESSAGE: usize = 271;

type SimDevice = Device<SpinPlatform, LineReader<SimLine<CARD_CAPACITY>>>;

fn card_profile(kind: &str) -> Result<Option<Profile>, String> {
    Ok(Some(match kind {
        "t0" => Profile::t0(),
        "t1" => Profile::t1(),
        "t0t1" => Profile::t0_t1(),
        "t1crc" => Profile::t1_crc(),
        "empty" => return Ok(None),
        other => return Err(format!("unknown card `{other}`")),
    }))
}

struct Options {
    profile: twin::Profile,
    cards: Vec<String>,
    trace: bool,
}

fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut options = Options {
        profile: twin::Profile::GemPcTwin,
        cards: vec!["t1".into()],
        trace: false,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |what: &str| {
            inline
                .clone()
                .or_else(|| args.next().cloned())
                .ok_or(format!("{what} needs a value"))
        };
        match name {
            "--reader" => {
                options.profile = match value("--reader")?.to_ascii_lowercase().as_str() {
                    "gempctwin" => twin::Profile::GemPcTwin,
                    "sec1210" => twin::Profile::Sec1210,
                    other => return Err(format!("unknown reader `{other}`")),
                }
            }
            "--card" => options.cards = value("--card")?.split(',').map(str::to_string).collect(),
            "--trace" => options.trace = true,
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    for card in &options.cards {
        card_profile(card)?;
    }
    Ok(Some(options))
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn new_card(kind: &str) -> Option<Card<CARD_CAPACITY>> {
    card_profile(kind)
        .ok()
        .flatten()
        .map(|p| Card::create(Config::new(p)))
}

fn open_slot(profile: twin::Profile, index: usize, kind: &str) -> SimDevice {
    let card = new_card(kind);
    let present = card.is_some();
    let line = match card {
        Some(card) => SimLine::new(card),
        None => SimLine::empty(),
    };
    let device = Device::new(
        SpinPlatform::new(),
        LineReader::<SimLine<CARD_CAPACITY>>::functions(),
        LineReader::new(line),
        profile.capabilities(),
        VendorAttributes {
            vendor_name: attr_string(b"readerkit"),
            ifd_type: attr_string(format!("ccid-serve {}", profile.name()).as_bytes()),
            unit: index as u32,
            ifd_version: IfdVersion {
                major: 0,
                minor: 1,
                build: 0,
            },
            serial_number: attr_string(b"CCID0001"),
        },
    );
    if present {
        device.card_inserted();
    }
    device
}

/// Run `readerkit ccid-serve`.
pub(crate) fn run(args: &[String]) -> ExitCode {
    let options = match parse(args) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => return crate::usage_error(&message),
    };
    match serve(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("readerkit ccid-serve: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(options: &Options) -> Result<(), String> {
    let profile = options.profile;
    let slots: Vec<SimDevice> = (0..profile.slots())
        .map(|i| {
            let kind = options
                .cards
                .get(i)
                .or(options.cards.last())
                .map_or("t1", String::as_str);
            open_slot(profile, i, kind)
        })
        .collect();
    let mut reader = CcidReader::new(&slots, profile.config())
        .map_err(|e| format!("reader configuration: {e:?}"))?;
    // The first notification reports every slot; the host asks for the slot status
    // when it opens the reader, so it is not sent.
    let _ = reader.slot_change(&mut [0u8; 8]);

    let pty = nix::pty::openpty(None, None).map_err(|e| format!("openpty: {e}"))?;
    let mut termios = tcgetattr(pty.slave.as_fd()).map_err(|e| format!("tcgetattr: {e}"))?;
    cfmakeraw(&mut termios);
    tcsetattr(pty.slave.as_fd(), SetArg::TCSANOW, &termios)
        .map_err(|e| format!("raw mode: {e}"))?;
    let path = nix::unistd::ttyname(pty.slave.as_raw_fd()).map_err(|e| format!("ttyname: {e}"))?;
    // The slave stays open here too, so the master never reads EIO while pcscd has
    // it closed.
    let _slave = pty.slave;
    let mut port = File::from(pty.master);
    println!("{}", path.display());
    std::io::stdout().flush().map_err(|e| e.to_string())?;

    let trace = options.trace;
    let mut decoder = Decoder::<MAX_MESSAGE>::new();
    let mut answer = [0u8; MAX_MESSAGE];
    let mut frame = [0u8; MAX_MESSAGE + twin::FRAMING_LEN];
    let mut last_frame: Vec<u8> = Vec::new();
    let mut input = [0u8; 4096];
    let mut stdin = std::io::stdin();
    let mut stdin_open = true;
    let mut line = String::new();
    loop {
        let (port_ready, stdin_ready) = {
            let stdin_fd = stdin.as_fd();
            let mut fds = vec![PollFd::new(&port, PollFlags::POLLIN)];
            if stdin_open {
                fds.push(PollFd::new(&stdin_fd, PollFlags::POLLIN));
            }
            poll(&mut fds, -1).map_err(|e| format!("poll: {e}"))?;
            let ready = |fd: &PollFd<'_>| {
                fd.revents()
                    .is_some_and(|r| r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP))
            };
            (ready(&fds[0]), fds.get(1).is_some_and(ready))
        };
        if stdin_ready {
            let mut chunk = [0u8; 256];
            match stdin.read(&mut chunk) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => line.push_str(&String::from_utf8_lossy(&chunk[..n])),
            }
            while let Some(end) = line.find('\n') {
                let command: String = line.drain(..=end).collect();
                control(&slots, options, command.trim());
            }
            if let Some(n) = reader.slot_change(&mut answer) {
                if trace {
                    eprintln!("<- {}", hex(&answer[..n]));
                }
                port.write_all(&answer[..n]).map_err(|e| e.to_string())?;
            }
        }
        if !port_ready {
            continue;
        }
        let n = match port.read(&mut input) {
            Ok(n) => n,
            Err(e) => return Err(format!("reading the terminal: {e}")),
        };
        for &byte in &input[..n] {
            let reply: &[u8] = match decoder.push(byte) {
                None | Some(Event::Stray(_)) => continue,
                Some(Event::Nak) => &last_frame,
                Some(Event::Message) => {
                    let message = decoder.message();
                    if trace {
                        eprintln!("-> {}", hex(message));
                    }
                    if profile.echoes() {
                        let len = twin::encode(message, &mut frame).unwrap_or(0);
                        port.write_all(&frame[..len]).map_err(|e| e.to_string())?;
                    }
                    let Ok(len) = reader.handle(message, &mut answer) else {
                        continue;
                    };
                    if trace {
                        eprintln!("<- {}", hex(&answer[..len]));
                    }
                    let len = twin::encode(&answer[..len], &mut frame).unwrap_or(0);
                    last_frame.clear();
                    last_frame.extend_from_slice(&frame[..len]);
                    &last_frame
                }
                // A bad LRC or a message too long: ask for the frame again.
                Some(_) => &twin::NAK_FRAME,
            };
            port.write_all(reply).map_err(|e| e.to_string())?;
        }
    }
}

/// A control line from stdin: `remove [SLOT]` or `insert [SLOT]`.
fn control(slots: &[SimDevice], options: &Options, command: &str) {
    let mut words = command.split_whitespace();
    let verb = words.next().unwrap_or("");
    let slot: usize = words.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let Some(device) = slots.get(slot) else {
        eprintln!("readerkit ccid-serve: no slot {slot}");
        return;
    };
    match verb {
        "remove" => {
            device.with_driver(|r| r.line_mut().remove());
            device.card_removed();
        }
        "insert" => {
            let kind = options
                .cards
                .get(slot)
                .or(options.cards.last())
                .map_or("t1", String::as_str);
            let Some(card) = new_card(if kind == "empty" { "t1" } else { kind }) else {
                return;
            };
            device.with_driver(|r| r.line_mut().insert(card));
            device.card_inserted();
        }
        "" => {}
        other => eprintln!("readerkit ccid-serve: unknown control `{other}`"),
    }
}

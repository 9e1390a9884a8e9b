//! `readerkit demo`: the whole stack on the simulated card, in this process.
//!
//! `Device::control` → the `LineReader` callbacks → the PPS / T=0 / T=1 engines → a
//! traced `SimLine` → the simulated card. Every request is printed with its answer,
//! and (unless `--no-wire`) every byte that crosses the card's I/O line; with
//! `--trace`, the core's decoder (`readerkit::trace`) says what those bytes are
//! (ATR, PPS, T=0 procedure bytes, T=1 blocks) and each request its time.

use std::cell::Cell;
use std::process::ExitCode;
use std::time::Instant;

use readerkit::caps::{ReaderCapabilities, VendorAttributes};
use readerkit::device::{AtrBuffer, PerfCounters};
use readerkit::ioctl::{self, PowerAction, Request, Transmit};
use readerkit::line::{Framing, Line, LineReader, Reset};
use readerkit::platform::SpinPlatform;
use readerkit::protocol::{Protocol, ProtocolMask};
use readerkit::timing::Timing;
use readerkit::trace::{BoundedHex, Event, Sink, TracedLine};
use readerkit::{CardState, Device, Failure, Outcome, Status, apdu, attr};
use readerkit_card_sim::{Card, Profile, SimLine};

use crate::hex;

/// Card profiles of the simulated card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ProfileName {
    /// T=0 only.
    T0,
    /// T=1 with LRC.
    T1,
    /// T=1 with CRC.
    #[value(name = "t1-crc", alias = "t1_crc")]
    T1Crc,
    /// T=0 and T=1 offered.
    #[value(name = "t0-t1", alias = "t0_t1")]
    T0T1,
}

/// Arguments of `readerkit demo`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = concat!(
        "Examples:\n",
        "  readerkit demo\n",
        "  readerkit demo --profile t0 --no-wire\n",
        "  readerkit demo --profile t1-crc --trace --no-wire\n\n",
        "Exit status:\n",
        "  0  every step answered as expected\n",
        "  1  a step did not\n",
        "  2  usage error (unknown option, bad or missing argument)"
    )
)]
pub(crate) struct Args {
    /// The simulated card's profile.
    #[arg(long, value_enum, default_value = "t1")]
    profile: ProfileName,
    /// Do not print the bytes on the card's I/O line.
    #[arg(long)]
    no_wire: bool,
    /// Decode every exchange on the line (ATR, PPS, T=0 procedure bytes, T=1
    /// blocks) and time each request.
    #[arg(long)]
    trace: bool,
}

thread_local! {
    static WIRE: Cell<bool> = const { Cell::new(true) };
    static TRACE: Cell<bool> = const { Cell::new(false) };
}

/// Prints the core's decoded trace events, when `--trace` asks for them.
struct PrintSink;

impl Sink for PrintSink {
    fn enabled(&self, _level: readerkit::trace::Level) -> bool {
        TRACE.with(Cell::get)
    }
    fn event(&mut self, event: &Event<'_>) {
        println!("      trace: {event}");
    }
}

/// A `Line` that prints the bytes crossing it.
struct Traced<L>(L);

fn wire(direction: &str, bytes: &[u8]) {
    if WIRE.with(Cell::get) && !bytes.is_empty() {
        println!("      {direction} {}", BoundedHex(bytes));
    }
}

impl<L: Line> Line for Traced<L> {
    fn reset(&mut self, reset: Reset, atr: &mut AtrBuffer) -> Result<(), Failure> {
        let result = self.0.reset(reset, atr);
        wire("<-", atr);
        result
    }
    fn deactivate(&mut self) -> Result<(), Failure> {
        self.0.deactivate()
    }
    fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        wire("->", bytes);
        self.0.send(bytes)
    }
    fn receive(&mut self, buf: &mut [u8], first_us: u32, next_us: u32) -> Result<usize, Failure> {
        let n = self.0.receive(buf, first_us, next_us)?;
        wire("<-", &buf[..n]);
        Ok(n)
    }
    fn set_timing(&mut self, timing: Timing) -> Result<(), Failure> {
        if WIRE.with(Cell::get) {
            println!(
                "      line now F={} D={} at {} kHz ({} bit/s)",
                timing.f,
                timing.d,
                timing.clock_khz,
                timing.baud()
            );
        }
        self.0.set_timing(timing)
    }
    fn set_framing(&mut self, framing: Framing) -> Result<(), Failure> {
        if WIRE.with(Cell::get) {
            match framing.protocol {
                Some(protocol) => println!(
                    "      framing for {protocol}, extra guard time N = {} etu",
                    framing.extra_guard_n
                ),
                None => println!(
                    "      framing before a protocol (PPS), extra guard time N = {} etu",
                    framing.extra_guard_n
                ),
            }
        }
        self.0.set_framing(framing)
    }
}

/// An attribute's value as the demo shows it: a number for the attributes the
/// core lists as DWORDs ([`attr::is_dword`]: written little-endian), text if it
/// is printable, else hex.
fn attribute_text(tag: u32, value: &[u8]) -> String {
    if attr::is_dword(tag)
        && let Ok(word) = <[u8; 4]>::try_from(value)
    {
        return u32::from_le_bytes(word).to_string();
    }
    if value.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        return format!("\"{}\"", String::from_utf8_lossy(value));
    }
    hex::encode(value, " ")
}

type DemoDevice = Device<SpinPlatform, LineReader<TracedLine<Traced<SimLine>, PrintSink>>>;

struct Session {
    dev: DemoDevice,
    failures: usize,
}

impl Session {
    fn request(&mut self, what: &str, request: Request<'_>, out_len: usize) -> Option<Vec<u8>> {
        println!("> {what}");
        let mut out = vec![0u8; out_len];
        let started = Instant::now();
        let outcome = self.dev.submit(request, &mut out);
        if TRACE.with(Cell::get) {
            println!(
                "  = {} in {} µs",
                outcome
                    .status()
                    .map_or("pending".to_string(), |s| s.to_string()),
                started.elapsed().as_micros()
            );
        }
        match outcome {
            Outcome::Complete {
                status: Status::Success,
                bytes_written,
            } => {
                out.truncate(bytes_written);
                Some(out)
            }
            Outcome::Complete { status, .. } => {
                println!("  < {}", completion(Some(status)));
                None
            }
            Outcome::Pending => {
                println!("  < pending");
                None
            }
        }
    }

    fn attribute(&mut self, what: &str, tag: u32) {
        if let Some(value) = self.request(
            &format!("GET_ATTRIBUTE {what}"),
            Request::GetAttribute(tag),
            64,
        ) {
            println!("  < {}", attribute_text(tag, &value));
        }
    }

    fn apdu(&mut self, what: &str, protocol: u32, command: &[u8], expect_sw: u16) {
        let shown = BoundedHex(command);
        match self.request(
            &format!("TRANSMIT {what}: {shown}"),
            Request::Transmit(Transmit {
                protocol,
                apdu: command,
            }),
            8 + 70_000,
        ) {
            Some(out) => {
                let response = ioctl::transmit_response(&out)
                    .ok()
                    .and_then(|bytes| apdu::Response::parse(bytes).ok());
                let Some(response) = response else {
                    println!("  ! malformed TRANSMIT answer");
                    self.failures += 1;
                    return;
                };
                let (data, sw) = (response.data(), response.sw());
                let data_shown = BoundedHex(data);
                println!(
                    "  < {data_shown}{}SW {sw:04X}",
                    if data.is_empty() { "" } else { "  " }
                );
                if sw != expect_sw {
                    println!("  ! expected SW {expect_sw:04X}");
                    self.failures += 1;
                }
            }
            None => self.failures += 1,
        }
    }
}

fn profile(name: ProfileName) -> (Profile, &'static str) {
    match name {
        ProfileName::T0 => (Profile::t0(), "t0"),
        ProfileName::T1 => (Profile::t1(), "t1"),
        ProfileName::T1Crc => (Profile::t1_crc(), "t1-crc"),
        ProfileName::T0T1 => (Profile::t0_t1(), "t0-t1"),
    }
}

/// A request's end as the demo prints it: the status with its NTSTATUS, or
/// `pending` while it has none.
fn completion(status: Option<Status>) -> String {
    match status {
        Some(status) => format!("{status} (NTSTATUS {:#010X})", status.to_ntstatus()),
        None => "pending".to_string(),
    }
}

/// Run `readerkit demo`.
pub(crate) fn run(args: Args) -> ExitCode {
    if args.no_wire {
        WIRE.with(|w| w.set(false));
    }
    TRACE.with(|t| t.set(args.trace));
    let (card_profile, profile_name) = profile(args.profile);
    let reader = ReaderCapabilities::typical();
    println!(
        "readerkit demo: the whole stack on the simulated card (profile {profile_name}), in process"
    );
    println!(
        "reader: T=0 and T=1, clock {} kHz (max {} kHz), up to {} bit/s, IFSD {}\n",
        reader.default_clock_khz, reader.max_clock_khz, reader.max_data_rate, reader.max_ifsd
    );
    let dev = Device::new(
        SpinPlatform::new(),
        LineReader::functions(),
        LineReader::new(TracedLine::new(Traced(SimLine::empty()), PrintSink)).with_t0_envelope(),
        reader,
        VendorAttributes::readerkit(b"simulated reader", 0, b"SIM-0001"),
    );
    let mut s = Session { dev, failures: 0 };
    if let Some(state) = s.request("GET_STATE", Request::GetState, 4) {
        let value = u32::from_le_bytes(state.try_into().unwrap_or([0xFF; 4]));
        match CardState::from_windows(value) {
            Some(CardState::Absent) => println!("  < {value} (SCARD_ABSENT)"),
            _ => {
                println!("  < {value}: expected 1 (SCARD_ABSENT)");
                s.failures += 1;
            }
        }
    }
    s.request("IS_PRESENT (wait for a card)", Request::IsPresent, 0);
    println!("* a card is inserted; the insertion event goes through the event queue");
    s.dev
        .with_driver(|r| r.line_mut().line_mut().0.insert(Card::new(card_profile)));
    s.dev.card_inserted();
    s.dev.process_events();
    println!(
        "  tracking request completed: {}",
        completion(s.dev.platform().take_completion())
    );
    match s.request(
        "POWER cold reset",
        Request::Power(PowerAction::ColdReset),
        ioctl::ATR_BUFFER_LEN,
    ) {
        Some(atr) => println!(
            "  < ATR {}  (state {:?})",
            hex::encode(&atr, " "),
            s.dev.state()
        ),
        None => return ExitCode::FAILURE,
    }
    s.attribute("VENDOR_NAME", attr::VENDOR_NAME);
    s.attribute("CURRENT_IFSC", attr::CURRENT_IFSC);
    let protocol = match s.request(
        "SET_PROTOCOL T=0 | T=1 (optimal parameters)",
        Request::SetProtocol(ProtocolMask(3)),
        4,
    ) {
        Some(p) => {
            let p = u32::from_le_bytes(p.try_into().unwrap_or([0; 4]));
            let shown =
                Protocol::from_bit(p).map_or_else(|| format!("protocol {p:#x}"), |p| p.to_string());
            println!("  < {shown}  (state {:?})", s.dev.state());
            p
        }
        None => return ExitCode::FAILURE,
    };
    s.attribute("CURRENT_F", attr::CURRENT_F);
    s.attribute("CURRENT_D", attr::CURRENT_D);
    s.apdu(
        "SELECT MF",
        protocol,
        &[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00],
        0x9000,
    );
    s.apdu(
        "SELECT 2F00 with FCI",
        protocol,
        &[0x00, 0xA4, 0x00, 0x00, 0x02, 0x2F, 0x00, 0x00],
        0x9000,
    );
    s.apdu(
        "READ BINARY 16 bytes",
        protocol,
        &[0x00, 0xB0, 0x00, 0x00, 0x10],
        0x9000,
    );
    s.apdu(
        "GET CHALLENGE 8 bytes",
        protocol,
        &[0x00, 0x84, 0x00, 0x00, 0x08],
        0x9000,
    );
    s.apdu(
        "VERIFY wrong PIN",
        protocol,
        &[0x00, 0x20, 0x00, 0x80, 0x04, b'0', b'0', b'0', b'0'],
        0x63C2,
    );
    s.apdu(
        "VERIFY PIN 1234",
        protocol,
        &[0x00, 0x20, 0x00, 0x80, 0x04, b'1', b'2', b'3', b'4'],
        0x9000,
    );
    let data: Vec<u8> = (0..1024u32).map(|i| (i * 31 + 7) as u8).collect();
    let mut echo = vec![0x80, 0xEE, 0x00, 0x00, 0x00, 0x04, 0x00];
    echo.extend_from_slice(&data);
    echo.extend_from_slice(&[0x00, 0x00]);
    s.apdu("ECHO 1024 bytes (extended APDU)", protocol, &echo, 0x9000);
    s.apdu(
        "unknown instruction",
        protocol,
        &[0x00, 0x50, 0x00, 0x00],
        0x6D00,
    );
    let perf_len = ioctl::PERF_COUNTERS_LEN;
    if let Some(perf) = s.request("GET_PERF_CNTR", Request::GetPerfCounter, perf_len) {
        match PerfCounters::from_bytes(&perf) {
            Some(c) => println!(
                "  < {} transmissions, {} bytes sent, {} bytes received",
                c.transmissions(),
                c.bytes_sent(),
                c.bytes_received()
            ),
            None => {
                println!("  ! malformed GET_PERF_CNTR answer ({} bytes)", perf.len());
                s.failures += 1;
            }
        }
    }
    s.request("IS_ABSENT (wait for removal)", Request::IsAbsent, 0);
    println!("* the card is pulled out");
    s.dev.with_driver(|r| r.line_mut().line_mut().0.remove());
    s.dev.card_removed();
    s.dev.process_events();
    println!(
        "  tracking request completed: {}",
        completion(s.dev.platform().take_completion())
    );
    println!("> TRANSMIT GET CHALLENGE after removal");
    let get_challenge = Request::Transmit(Transmit {
        protocol,
        apdu: &[0x00, 0x84, 0x00, 0x00, 0x08],
    });
    let outcome = s.dev.submit(get_challenge, &mut [0u8; 64]);
    println!("  < {}", completion(outcome.status()));
    if outcome.status() != Some(Status::NoMedia) {
        s.failures += 1;
    }
    if s.failures == 0 {
        println!("\ndemo: every step answered as expected");
        ExitCode::SUCCESS
    } else {
        println!("\ndemo: {} step(s) answered unexpectedly", s.failures);
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dword_attributes_are_numbers_and_the_others_text_or_hex() {
        assert_eq!(attribute_text(attr::CURRENT_F, &[0x74, 1, 0, 0]), "372");
        assert_eq!(attribute_text(attr::CURRENT_IFSC, &[32, 0, 0, 0]), "32");
        assert_eq!(
            attribute_text(attr::VENDOR_NAME, b"RKit"),
            "\"RKit\"",
            "four bytes of a string are no number"
        );
        assert_eq!(
            attribute_text(attr::ATR_STRING, &[0x3B, 0x00, 0x01, 0x02]),
            "3B 00 01 02"
        );
        assert_eq!(
            attribute_text(attr::VENDOR_NAME, b"readerkit"),
            "\"readerkit\""
        );
    }
}

//! The times `LineReader` hands its line, against ISO/IEC 7816-3:2006: T=0's
//! WT = WI × 960 × Fi / f (clause 10.2) and T=1's BWT = 11 etu + 2^BWI × 960 ×
//! Fd / f (clause 11.4.3), where f is the clock in force (a PPS that moves the
//! card to another clock changes f, so the times must follow it), and the extra
//! guard time of TC1 (clause 8.3), in etu of the F/D in force.

use readerkit::Failure;
use readerkit::caps::ReaderCapabilities;
use readerkit::device::AtrBuffer;
use readerkit::ioctl::Ioctl;
use readerkit::line::{Framing, Line, LineReader, Reset};
use readerkit::timing::Timing;
use readerkit_card_sim::{Card, Profile, SimLine};
use readerkit_testkit::apdu::{SELECT_MF, get_challenge};
use readerkit_testkit::client::{apdu, control, power_up, select};
use readerkit_testkit::sim::line_device;
use readerkit_testkit::t1::lrc;

/// The simulated card's line, keeping the last framing since the reset or the
/// deactivation, the first-byte time limit of every receive while that framing
/// has a protocol, and every send with the framing in force for it (`None`: none
/// set since the reset); with `atr`, the line reports that ATR instead of the
/// card's.
#[derive(Debug)]
struct Timed {
    line: SimLine,
    first_us: Vec<u32>,
    framing: Option<Framing>,
    sent: Vec<(Vec<u8>, Option<Framing>)>,
    atr: Option<Vec<u8>>,
}

impl Timed {
    fn new(profile: Profile) -> Timed {
        Timed {
            line: SimLine::holding(Some(Card::new(profile))),
            first_us: Vec::new(),
            framing: None,
            sent: Vec::new(),
            atr: None,
        }
    }
}

impl Line for Timed {
    fn reset(&mut self, reset: Reset, atr: &mut AtrBuffer) -> Result<(), Failure> {
        self.framing = None;
        self.line.reset(reset, atr)?;
        if let Some(bytes) = &self.atr {
            atr.clear();
            atr.extend_from_slice(bytes).expect("at most 33 bytes");
        }
        Ok(())
    }

    fn deactivate(&mut self) -> Result<(), Failure> {
        self.framing = None;
        self.line.deactivate()
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.sent.push((bytes.to_vec(), self.framing));
        self.line.send(bytes)
    }

    fn receive(&mut self, buf: &mut [u8], first_us: u32, next_us: u32) -> Result<usize, Failure> {
        if self.framing.is_some_and(|f| f.protocol.is_some()) {
            self.first_us.push(first_us);
        }
        self.line.receive(buf, first_us, next_us)
    }

    fn set_timing(&mut self, timing: Timing) -> Result<(), Failure> {
        self.line.set_timing(timing)
    }

    fn set_framing(&mut self, framing: Framing) -> Result<(), Failure> {
        self.framing = Some(framing);
        self.line.set_framing(framing)
    }
}

/// A reader whose PPS raises the clock from its default 3.58 MHz to 4 MHz: fast
/// enough (250 000 bit/s) for the cards' TA1 at the higher clock.
fn fast_reader() -> ReaderCapabilities {
    ReaderCapabilities {
        max_data_rate: 250_000,
        ..ReaderCapabilities::typical()
    }
}

/// Power up `profile`'s card, select `mask`, send two APDUs; the timing the PPS
/// set and the first-byte limits of every receive after it.
fn run(profile: Profile, mask: u32) -> (Timing, Vec<u32>) {
    let dev = line_device(LineReader::new(Timed::new(profile)), fast_reader());
    dev.card_inserted();
    power_up(&dev).expect("power up");
    let protocol = select(&dev, mask).expect("set protocol");
    assert_eq!(apdu(&dev, protocol, &SELECT_MF), Ok(vec![0x90, 0x00]));
    let challenge = apdu(&dev, protocol, &get_challenge(8)).expect("GET CHALLENGE");
    assert_eq!(challenge[8..], [0x90, 0x00]);
    dev.with_driver(|r| {
        let line = r.line();
        let timing = line.line.timing().expect("the PPS switched the line");
        (timing, line.first_us.clone())
    })
}

#[test]
fn t0_waits_wt_at_the_clock_the_pps_set() {
    // TA1 = 95: Fi = 9 (F = 512, f(max) 5 MHz), Di = 5 (D = 16); no TC2, WI = 10.
    let (timing, waits) = run(Profile::t0(), 1);
    assert_eq!(
        timing,
        Timing {
            f: 512,
            d: 16,
            clock_khz: 4_000
        },
        "the PPS moved the card from 3.58 MHz to 4 MHz"
    );
    // WT = 10 × 960 × 512 clock cycles = 1.2288 s at 4 MHz (1.373 s at 3.58 MHz).
    let wt_us = 1_228_800;
    assert_eq!(timing.t0_waiting_time_us(10, 512), wt_us);
    assert!(!waits.is_empty());
    assert!(
        waits.iter().all(|&w| w == wt_us),
        "every T=0 receive waits WT at 4 MHz, {wt_us} µs: {waits:?}"
    );
}

#[test]
fn t1_waits_bwt_at_the_clock_the_pps_set() {
    // TA1 = 96: F = 512, D = 32; TB3 = 45: BWI 4, CWI 5.
    let (timing, waits) = run(Profile::t1(), 2);
    assert_eq!(
        timing,
        Timing {
            f: 512,
            d: 32,
            clock_khz: 4_000
        }
    );
    // BWT = 11 etu + 16 × 960 × 372 clock cycles: 11 × 16 + 5 713 920 cycles at
    // 4 MHz = 1 428 524 µs (rounded up); the CWT for the rest of a block.
    let bwt_us = 1_428_524;
    assert_eq!(timing.t1_block_waiting_time_us(4, 1), bwt_us);
    let cwt_us = timing.t1_character_waiting_time_us(5);
    assert!(waits.contains(&bwt_us), "{waits:?}");
    assert!(
        waits.iter().all(|&w| w == bwt_us || w == cwt_us),
        "each block's first byte within BWT at 4 MHz ({bwt_us} µs), the rest within \
         CWT ({cwt_us} µs): {waits:?}"
    );
}

#[test]
fn extra_guard_time_counts_fi_di_cycles_when_the_atr_indicates_t15() {
    // TA1 = 41 (F 1116, D 1), TC1 = 05, TD1 = 80 (T=0), TD2 = 1F (T=15), TA3 = 07;
    // the simulated T=0 card behind it answers the APDUs.
    let mut atr = vec![0x3B, 0xD0, 0x41, 0x05, 0x80, 0x1F, 0x07];
    atr.push(lrc(&atr[1..]));
    let mut line = Timed::new(Profile::t0());
    line.atr = Some(atr);
    let dev = line_device(LineReader::new(line), ReaderCapabilities::typical());
    dev.card_inserted();
    power_up(&dev).expect("power up");
    // 1116 / 1 at 4 MHz is slower than the default rate: no PPS, F 372, D 1 stay.
    assert_eq!(select(&dev, 1), Ok(1));
    assert_eq!(apdu(&dev, 1, &SELECT_MF), Ok(vec![0x90, 0x00]));
    let (timing, framing) = dev.with_driver(|r| (r.line().line.timing(), r.line().framing));
    assert_eq!(timing, Some(Timing::default_at(3_580)));
    // With T=15 in the ATR, N counts Fi/Di = 1116 clock cycles (clause 8.3): 5 × 1116
    // cycles are 15 etu of 372 cycles, not 5.
    assert_eq!(
        framing,
        Some(Framing {
            protocol: Some(readerkit::Protocol::T0),
            extra_guard_n: 15
        })
    );
}

/// ISO/IEC 7816-3:2006 8.3 and 9: TC1's extra guard time applies from the ATR
/// on, the PPS request included; the line is told before the request goes out,
/// with no protocol yet.
#[test]
fn pps_request_goes_out_with_tc1_guard_time() {
    // TA1 = 95 (F 512, D 16: the simulated T=0 card's), TC1 = 05; T=0 only.
    let mut line = Timed::new(Profile::t0());
    line.atr = Some(vec![0x3B, 0x50, 0x95, 0x05]);
    let dev = line_device(LineReader::new(line), fast_reader());
    dev.card_inserted();
    power_up(&dev).expect("power up");
    assert_eq!(select(&dev, 1), Ok(1));
    assert_eq!(apdu(&dev, 1, &SELECT_MF), Ok(vec![0x90, 0x00]));
    let sent = dev.with_driver(|r| r.line().sent.clone());
    let (request, framing) = &sent[0];
    assert_eq!(
        request[..2],
        [0xFF, 0x10],
        "the PPS request: {request:02X?}"
    );
    assert_eq!(
        *framing,
        Some(Framing {
            protocol: None,
            extra_guard_n: 5
        }),
        "TC1's N, no protocol yet, for the PPS request"
    );
    // After the PPS: T=0 with the same N, for the APDU.
    assert_eq!(
        sent[1].1,
        Some(Framing {
            protocol: Some(readerkit::Protocol::T0),
            extra_guard_n: 5
        })
    );
    let timing = dev.with_driver(|r| r.line().line.timing());
    assert_eq!(
        timing.map(|t| (t.f, t.d)),
        Some((512, 16)),
        "the PPS went through"
    );
}

/// TA2 bit 5: the card runs TA2's protocol at once with parameters it does not
/// announce. The device does not refuse it: SET_PROTOCOL selects that protocol
/// (no PPS: none is allowed in specific mode) and the line stays at Fd = 372,
/// Dd = 1, the only parameters a reader knows (CONFORMANCE, TA2 row).
#[test]
fn specific_mode_with_implicit_parameters_runs_at_the_defaults() {
    // TA1 = 13 (F 372, D 4), TB1 = 00, TD1 = 90 (T=0; TA2, TD2), TA2 = 11 (specific
    // mode, T=1, implicit parameters), TD2 = 01 (T=1), TCK = 23.
    let atr = vec![0x3B, 0xB0, 0x13, 0x00, 0x90, 0x11, 0x01, 0x23];
    let mut line = Timed::new(Profile::t1());
    line.atr = Some(atr);
    let dev = line_device(LineReader::new(line), ReaderCapabilities::typical());
    dev.card_inserted();
    power_up(&dev).expect("power up");
    // T=0 alone is refused although TD1 offers it: the card runs TA2's T=1.
    assert_eq!(select(&dev, 1), Err(readerkit::Status::NotSupported));
    assert_eq!(select(&dev, 3), Ok(2));
    assert_eq!(apdu(&dev, 2, &SELECT_MF), Ok(vec![0x90, 0x00]));
    let (timing, framing) = dev.with_driver(|r| (r.line().line.timing(), r.line().framing));
    assert_eq!(timing, Some(Timing::default_at(3_580)), "not TA1's D = 4");
    assert_eq!(
        framing.and_then(|f| f.protocol),
        Some(readerkit::Protocol::T1)
    );
}

/// GET_STATE's answer (smclib numbering: 5 NEGOTIABLE, 6 SPECIFIC).
fn get_state<D>(dev: &readerkit_testkit::sim::LineDevice<D>) -> u32 {
    let out = control(dev, Ioctl::GetState, &[], 4).expect("GET_STATE");
    u32::from_le_bytes(out.try_into().expect("4 bytes"))
}

/// ISO/IEC 7816-3:2006 6.3.1: a card in specific mode runs TA1's Fi/Di from the
/// ATR on. When the reader cannot run that rate (above its `max_data_rate` at
/// every clock it has up to Fi's f(max)), the card is powered but its protocol is
/// not selected: GET_STATE says NEGOTIABLE, SET_PROTOCOL answers `NotSupported`
/// (libccid rejects such a card in its SET_PROTOCOL too) and nothing goes to the
/// card at a rate the line lacks. The same card behind a reader fast enough runs
/// at TA1's rate.
#[test]
fn specific_mode_faster_than_the_reader_is_not_selected() {
    // TA1 = 96 (F 512, D 32: 223 750 bit/s at 3.58 MHz, 250 000 at 4 MHz), TD1 = 11
    // (T=1; TA2), TA2 = 01 (specific mode, T=1, TA1's parameters), TCK = F7.
    let mut atr = vec![0x3B, 0x90, 0x96, 0x11, 0x01];
    atr.push(lrc(&atr[1..]));

    // The typical reader: at most 115 200 bit/s.
    let mut line = Timed::new(Profile::t1());
    line.atr = Some(atr.clone());
    let dev = line_device(LineReader::new(line), ReaderCapabilities::typical());
    dev.card_inserted();
    assert_eq!(
        power_up(&dev).map(|a| a.len()),
        Ok(atr.len()),
        "power-up succeeds"
    );
    assert_eq!(get_state(&dev), 5, "NEGOTIABLE, no protocol in force");
    assert_eq!(select(&dev, 2), Err(readerkit::Status::NotSupported));
    assert_eq!(select(&dev, 3), Err(readerkit::Status::NotSupported));
    assert_eq!(
        apdu(&dev, 2, &SELECT_MF),
        Err(readerkit::Status::InvalidDeviceState)
    );
    assert_eq!(get_state(&dev), 5);
    let (timing, sent) = dev.with_driver(|r| (r.line().line.timing(), r.line().sent.clone()));
    assert_eq!(timing, None, "the line was never asked for TA1's rate");
    assert!(sent.is_empty(), "nothing went to the card: {sent:02X?}");

    // A reader up to 250 000 bit/s: selected at power-up, run at TA1's rate.
    let mut line = Timed::new(Profile::t1());
    line.atr = Some(atr);
    let dev = line_device(LineReader::new(line), fast_reader());
    dev.card_inserted();
    power_up(&dev).expect("power up");
    assert_eq!(get_state(&dev), 6, "SPECIFIC");
    assert_eq!(select(&dev, 3), Ok(2));
    assert_eq!(apdu(&dev, 2, &SELECT_MF), Ok(vec![0x90, 0x00]));
    let timing = dev.with_driver(|r| r.line().line.timing());
    assert_eq!(timing.map(|t| (t.f, t.d)), Some((512, 32)));
}

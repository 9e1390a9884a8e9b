//! A driver that holds a `LineReader` as a field beside state of its own: the
//! power, SET_PROTOCOL, TRANSMIT and tracking callbacks come from
//! `LineReader::functions_for`, the vendor IOCTL is the driver's, and both see the
//! same reader; the T=0/T=1 options come from one `line::Config`.

use readerkit::caps::ReaderCapabilities;
use readerkit::ioctl::scard_ctl_code;
use readerkit::line::{Config, LineReader};
use readerkit::platform::SpinPlatform;
use readerkit::{Device, Failure, ReaderFunctions, Status};
use readerkit_card_sim::fault::Mute;
use readerkit_card_sim::{Card, Profile, SimLine};
use readerkit_testkit::apdu::echo;
use readerkit_testkit::client::{apdu, power_up, select};
use readerkit_testkit::sim::faults;
use readerkit_testkit::vendor;

/// The driver's own vendor IOCTL: how many times it ran, and the D the line runs.
const VENDOR_STATE: u32 = scard_ctl_code(3600);

struct Driver {
    reader: LineReader<SimLine>,
    vendor_calls: u32,
}

impl AsMut<LineReader<SimLine>> for Driver {
    fn as_mut(&mut self) -> &mut LineReader<SimLine> {
        &mut self.reader
    }
}

impl Driver {
    /// Answers [`VENDOR_STATE`] with the call count (4 bytes LE) and the line's D (4
    /// bytes LE, 0 before any PPS).
    fn vendor_state(&mut self, code: u32, output: &mut [u8]) -> Result<usize, Failure> {
        if code != VENDOR_STATE {
            return Err(Failure::NotSupported);
        }
        self.vendor_calls += 1;
        let line_d = self.reader.line().timing().map_or(0, |t| u32::from(t.d));
        let out = output.get_mut(..8).ok_or(Failure::BufferTooSmall)?;
        out[..4].copy_from_slice(&self.vendor_calls.to_le_bytes());
        out[4..].copy_from_slice(&line_d.to_le_bytes());
        Ok(8)
    }
}

fn device(profile: Profile, config: Config) -> Device<SpinPlatform, Driver> {
    let functions = ReaderFunctions {
        // The driver's own vendor IOCTL beside the LineReader's callbacks.
        vendor_ioctl: Some(|d: &mut Driver, code, _, output| d.vendor_state(code, output)),
        ..LineReader::functions_for::<Driver>()
    };
    let driver = Driver {
        reader: LineReader::with_config(SimLine::new(Card::new(profile)), config),
        vendor_calls: 0,
    };
    let dev = Device::new(
        SpinPlatform::new(),
        functions,
        driver,
        ReaderCapabilities::typical(),
        vendor::named(b"readerkit"),
    );
    dev.card_inserted();
    dev
}

fn vendor_call(dev: &Device<SpinPlatform, Driver>) -> (u32, u32) {
    let mut out = [0u8; 8];
    let n = dev
        .control(VENDOR_STATE, &[], &mut out)
        .into_result()
        .expect("vendor IOCTL");
    assert_eq!(n, 8);
    let word = |i: usize| u32::from_le_bytes(out[i..i + 4].try_into().unwrap());
    (word(0), word(4))
}

#[test]
fn line_reader_callbacks_and_the_drivers_own_share_one_context() {
    let dev = device(Profile::t1(), Config::DEFAULT);
    assert_eq!(vendor_call(&dev), (1, 0), "no PPS yet");
    power_up(&dev).expect("power up through the LineReader");
    assert_eq!(select(&dev, 2), Ok(2), "SET_PROTOCOL with PPS");
    // The driver's callback sees the PPS the line reader did (TA1 = 96: D = 16 on the
    // typical reader) and its own count.
    assert_eq!(vendor_call(&dev), (2, 16));
    let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    let response = apdu(&dev, 2, &echo(&data)).expect("T=1 TRANSMIT");
    assert_eq!(&response[..1000], &data[..]);
    assert_eq!(&response[1000..], [0x90, 0x00]);
    assert_eq!(
        dev.with_driver(|d| (d.vendor_calls, d.reader.config().t1_max_retries)),
        (2, readerkit::t1::DEFAULT_MAX_RETRIES)
    );
}

#[test]
fn the_config_carries_the_t0_options() {
    // A 300-byte data field needs ENVELOPE over T=0: refused by default ...
    let data: Vec<u8> = (0..300u32).map(|i| (i * 3) as u8).collect();
    let dev = device(Profile::t0(), Config::DEFAULT);
    power_up(&dev).expect("power up");
    assert_eq!(select(&dev, 1), Ok(1));
    assert_eq!(apdu(&dev, 1, &echo(&data)), Err(Status::NotSupported));
    // ... carried with the option set in the Config.
    let dev = device(Profile::t0(), Config::DEFAULT.with_t0_envelope());
    power_up(&dev).expect("power up");
    assert_eq!(select(&dev, 1), Ok(1));
    let response = apdu(&dev, 1, &echo(&data)).expect("ENVELOPE");
    assert_eq!(&response[..300], &data[..]);
    assert_eq!(&response[300..], [0x90, 0x00]);
    // Changing the options in place applies from the next protocol established.
    dev.with_driver(|d| d.reader.config_mut().t0_extended = readerkit::t0::Extended::NotSupported);
    assert!(
        apdu(&dev, 1, &echo(&data)).is_ok(),
        "session keeps its options"
    );
    power_up(&dev).expect("power up");
    assert_eq!(select(&dev, 1), Ok(1));
    assert_eq!(apdu(&dev, 1, &echo(&data)), Err(Status::NotSupported));
}

#[test]
fn the_config_carries_the_t1_retry_limits() {
    // A card that goes mute after the PPS: the bytes it is sent are counted.
    let bytes_until_timeout = |config: Config| {
        let dev = device(Profile::t1(), config);
        power_up(&dev).expect("power up");
        assert_eq!(select(&dev, 2), Ok(2));
        dev.with_driver(|d| {
            let card = d.reader.line_mut().card_mut().expect("card");
            card.set_faults(faults(|f| f.mute = Mute::AfterAnswers(0)));
            card.reset_stats();
        });
        assert_eq!(
            apdu(&dev, 2, &[0x00, 0x84, 0x00, 0x00, 0x08]),
            Err(Status::IoTimeout)
        );
        dev.with_driver(|d| d.reader.line().card().expect("card").stats().bytes_to_card)
    };
    // No retry, no resynchronisation: S(IFS request) once (3 + 1 + 1 bytes with
    // LRC), the I-block once (3 + 5 + 1 bytes).
    let strict = Config {
        t1_max_retries: 0,
        t1_max_resynchs: 0,
        ..Config::DEFAULT
    };
    assert_eq!(bytes_until_timeout(strict), 5 + 9);
    let default = bytes_until_timeout(Config::DEFAULT);
    assert!(default > 2 * (5 + 9), "{default}");
}

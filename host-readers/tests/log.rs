//! What the readers say in the host's log: a bad `READERKIT_LOG` once, and each
//! request's line at the core's levels ([`submit_logged`] with a [`Reader`]'s log),
//! read back through a `log` facade logger of the test's own.

use std::sync::Mutex;

use readerkit::attr;
use readerkit::device::submit_logged;
use readerkit::ioctl::{PowerAction, Request};
use readerkit::trace::Level;
use readerkit::{Outcome, Status};
use readerkit_host_readers::reader_log::{LEVEL_VARIABLE, TARGET};
use readerkit_host_readers::{Host, Reader, open};

struct TestHost;

impl Host for TestHost {
    fn ctl_code(function: u16) -> u32 {
        readerkit::ioctl::scard_ctl_code(function)
    }
}

/// Every record written, as `(level, text)`.
static RECORDS: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

struct Kept;

impl log::Log for Kept {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target() == TARGET
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let line = (record.level(), record.args().to_string());
            RECORDS.lock().unwrap().push(line);
        }
    }
    fn flush(&self) {}
}

static KEPT: Kept = Kept;

/// The records so far whose text contains `what`.
fn records_with(what: &str) -> Vec<(log::Level, String)> {
    let _ = log::set_logger(&KEPT);
    log::set_max_level(log::LevelFilter::Trace);
    let records = RECORDS.lock().unwrap();
    records
        .iter()
        .filter(|(_, text)| text.contains(what))
        .cloned()
        .collect()
}

fn open_logged(device_name: &str) -> Reader {
    let _ = records_with("");
    open::<TestHost>(device_name, 0).unwrap()
}

/// One request through the reader's port with its line, as a host sends it.
fn request(reader: &Reader, request: Request<'_>, output: &mut [u8]) -> Outcome {
    submit_logged(&reader.log, &request, || {
        reader.port.submit(request, output)
    })
}

#[test]
fn a_bad_level_variable_is_said_once_and_readers_log_at_info() {
    // SAFETY: the one test of this binary that reads the environment; the other
    // opens readers with a `log=` option, which never look at it.
    unsafe { std::env::set_var(LEVEL_VARIABLE, "loud") };
    let first = open_logged("sim:t1");
    let second = open_logged("sim:t0");
    assert_eq!(first.log.level, Level::Info);
    assert_eq!(second.log.level, Level::Info);
    let said = records_with("READERKIT_LOG=\"loud\" is not a level");
    assert_eq!(said.len(), 1, "said once for two opens: {said:?}");
    assert_eq!(said[0].0, log::Level::Warn);
}

#[test]
fn request_lines_at_info_are_the_failures_and_at_debug_every_request() {
    let quiet = open_logged("sim:empty:log=info");
    let mut atr = [0u8; 33];
    let power = Request::Power(PowerAction::ColdReset);
    assert_eq!(
        request(&quiet, power, &mut atr).into_result(),
        Err(Status::NoMedia)
    );
    let mut name = [0u8; 64];
    let vendor_name = Request::GetAttribute(attr::VENDOR_NAME);
    assert!(
        request(&quiet, vendor_name, &mut name)
            .into_result()
            .is_ok()
    );
    let lines = records_with("sim:empty:log=info: ");
    assert_eq!(lines.len(), 1, "the failure only: {lines:?}");
    assert_eq!(lines[0].0, log::Level::Info);
    assert!(
        lines[0]
            .1
            .starts_with("sim:empty:log=info: POWER cold reset -> ")
            && lines[0].1.ends_with(" µs"),
        "{lines:?}"
    );

    let chatty = open_logged("sim:t1:log=debug");
    let n = request(&chatty, power, &mut atr).into_result().unwrap();
    assert!(n > 0);
    let lines = records_with("sim:t1:log=debug: POWER cold reset -> success");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0].0, log::Level::Debug);
    assert!(lines[0].1.ends_with(" µs"), "{lines:?}");
}

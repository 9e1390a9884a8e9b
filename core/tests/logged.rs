//! [`Device::control_logged`]: the same outcome as [`Device::control`], and the one
//! line each request gets in the binding's log, at its level, with its time.

use std::cell::{Cell, RefCell};
use std::fmt;

use readerkit::Status;
use readerkit::device::RequestLog;
use readerkit::ioctl::Ioctl;
use readerkit::trace::Level;
use readerkit_testkit::client::status_of;
use readerkit_testkit::memory::device;

/// A log up to `level` that keeps its lines; its clock (if any) advances 7 µs a read.
struct Kept {
    level: Level,
    clock: Option<Cell<u64>>,
    lines: RefCell<Vec<(Level, String)>>,
}

impl Kept {
    fn new(level: Level) -> Kept {
        Kept {
            level,
            clock: None,
            lines: RefCell::new(Vec::new()),
        }
    }

    fn take(&self) -> Vec<(Level, String)> {
        self.lines.take()
    }
}

impl RequestLog for Kept {
    fn enabled(&self, level: Level) -> bool {
        level != Level::Off && level <= self.level
    }
    fn write(&self, level: Level, line: &dyn fmt::Display) {
        assert!(self.enabled(level), "written at a level that is off");
        self.lines.borrow_mut().push((level, line.to_string()));
    }
    fn now_us(&self) -> Option<u64> {
        let clock = self.clock.as_ref()?;
        clock.set(clock.get() + 7);
        Some(clock.get())
    }
}

/// `control` and `control_logged` on two fresh devices give the same outcome and
/// output for the request; returns its status.
fn both(log: &Kept, code: u32, input: &[u8], output_len: usize) -> Status {
    let (plain, logged) = (device(), device());
    let (mut out_plain, mut out_logged) = (vec![0u8; output_len], vec![0u8; output_len]);
    let expected = plain.control(code, input, &mut out_plain);
    let outcome = logged.control_logged(code, input, &mut out_logged, log);
    assert_eq!(outcome, expected, "IOCTL {code:#010X}");
    assert_eq!(out_logged, out_plain, "IOCTL {code:#010X}");
    status_of(outcome)
}

#[test]
fn a_refused_request_is_one_info_line_with_its_code() {
    let log = Kept::new(Level::Info);
    assert_eq!(
        both(&log, Ioctl::GetState.code(), &[], 3),
        Status::BufferTooSmall
    );
    let lines = log.take();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0].0, Level::Info);
    assert!(
        lines[0].1.starts_with("IOCTL 0x00310038 refused: "),
        "{lines:?}"
    );
    assert!(lines[0].1.ends_with(&Status::BufferTooSmall.to_string()));
}

#[test]
fn a_failed_request_is_logged_at_info_a_served_one_only_at_debug() {
    let info = Kept::new(Level::Info);
    // No card: POWER fails after validation.
    assert_eq!(
        both(&info, Ioctl::Power.code(), &1u32.to_le_bytes(), 33),
        Status::NoMedia
    );
    both(&info, Ioctl::GetState.code(), &[], 4);
    let lines = info.take();
    assert_eq!(lines.len(), 1, "only the failure at info: {lines:?}");
    assert_eq!(lines[0].0, Level::Info);
    assert_eq!(
        lines[0].1,
        format!("POWER cold reset -> {}", Status::NoMedia)
    );

    let debug = Kept::new(Level::Debug);
    both(&debug, Ioctl::GetState.code(), &[], 4);
    assert_eq!(
        debug.take(),
        [(Level::Debug, "GET_STATE -> success, 4 bytes".to_owned())]
    );
}

#[test]
fn a_log_with_a_clock_gives_each_request_its_time() {
    let mut log = Kept::new(Level::Debug);
    log.clock = Some(Cell::new(100));
    both(&log, Ioctl::GetState.code(), &[], 4);
    assert_eq!(
        log.take(),
        [(
            Level::Debug,
            "GET_STATE -> success, 4 bytes in 7 µs".to_owned()
        )]
    );
}

#[test]
fn with_info_off_nothing_is_written() {
    for level in [Level::Off, Level::Error] {
        let log = Kept::new(level);
        both(&log, Ioctl::GetState.code(), &[], 3);
        both(&log, Ioctl::Power.code(), &1u32.to_le_bytes(), 33);
        assert_eq!(log.take(), [], "{level:?}");
    }
}

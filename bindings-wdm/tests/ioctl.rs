//! Every IOCTL path through fake IRPs: the NTSTATUS and `Information` the IRP is
//! completed with, and what the caller gets back.

mod support;

use std::sync::Arc;

use readerkit::ioctl::{Ioctl, scard_ctl_code, transmit_response};
use readerkit::status::Status;
use readerkit_card_sim::atr::Profile;
use readerkit_testkit::client::transmit_input;
use readerkit_wdm::irp::{IoStatus, Major, mj};
use readerkit_wdm::ntstatus;
use readerkit_wdm::reader::Dispatch;
use support::*;

const T1: u32 = 2;

fn done(status: Status, information: usize) -> IoStatus {
    IoStatus {
        status: status.to_ntstatus(),
        information,
    }
}

/// Send an IOCTL that completes at once with `io`: the dispatch routine returns its
/// status and the IRP is completed with it; the IRP's record.
fn answered(r: &Reader, code: u32, input: &[u8], output_len: usize, io: IoStatus) -> Arc<Record> {
    let (st, rec) = ioctl(r, code, input, output_len);
    assert_eq!(st, io.status, "IOCTL {code:#010X}");
    assert_eq!(rec.completed(), Some(io), "IOCTL {code:#010X}");
    rec
}

/// Card in, powered, T=1 selected.
fn ready() -> Reader {
    let r = reader();
    insert(&r);
    let (st, rec) = ioctl(&r, Ioctl::Power.code(), &1u32.to_le_bytes(), 33);
    assert_eq!(st, ntstatus::SUCCESS);
    assert_eq!(rec.output(), Profile::t1().atr().as_slice());
    let (st, rec) = ioctl(&r, Ioctl::SetProtocol.code(), &T1.to_le_bytes(), 4);
    assert_eq!(st, ntstatus::SUCCESS);
    assert_eq!(rec.output(), T1.to_le_bytes());
    r
}

#[test]
fn get_state_and_attributes_without_card() {
    let r = reader();
    let rec = answered(&r, Ioctl::GetState.code(), &[], 4, done(Status::Success, 4));
    assert_eq!(rec.output(), 1u32.to_le_bytes(), "SCARD_ABSENT");
    assert!(!rec.pending.load(std::sync::atomic::Ordering::SeqCst));

    let (st, rec) = ioctl(
        &r,
        Ioctl::GetAttribute.code(),
        &readerkit::attr::VENDOR_NAME.to_le_bytes(),
        32,
    );
    assert_eq!(st, ntstatus::SUCCESS);
    assert_eq!(rec.output(), b"readerkit");

    answered(
        &r,
        Ioctl::GetLastError.code(),
        &[],
        4,
        done(Status::Success, 4),
    );
    let (_, rec) = ioctl(&r, Ioctl::GetPerfCounter.code(), &[], 64);
    assert_eq!(rec.completed().unwrap().status, ntstatus::SUCCESS);
    assert!(rec.completed().unwrap().information > 0);
}

#[test]
fn refused_requests_complete_with_the_core_status_and_no_data() {
    let r = reader();
    let cases: &[(u32, &[u8], usize, Status)] = &[
        // Output too small for the fixed answer.
        (Ioctl::GetState.code(), &[], 3, Status::BufferTooSmall),
        // A smart card code with an unknown function.
        (
            readerkit::ioctl::scard_ctl_code(99),
            &[],
            4,
            Status::InvalidDeviceRequest,
        ),
        // POWER with a short input, and an unknown power code.
        (Ioctl::Power.code(), &[1, 0], 33, Status::InvalidParameter),
        (
            Ioctl::Power.code(),
            &7u32.to_le_bytes(),
            33,
            Status::InvalidParameter,
        ),
        // No card.
        (
            Ioctl::Power.code(),
            &1u32.to_le_bytes(),
            33,
            Status::NoMedia,
        ),
        // Mechanisms and vendor IOCTLs the virtual reader does not have.
        (Ioctl::Eject.code(), &[], 0, Status::NotSupported),
        (
            Ioctl::Vendor(2048).code(),
            &[1, 2, 3],
            16,
            Status::NotSupported,
        ),
    ];
    for &(code, input, out, status) in cases {
        answered(&r, code, input, out, done(status, 0));
    }
}

#[test]
fn bad_buffers_are_refused_by_the_binding() {
    let r = reader();
    // Not METHOD_BUFFERED (METHOD_NEITHER): refused before the buffer is looked at.
    let (irp, rec) = FakeIrp::ioctl(Ioctl::GetState.code() | 3, &[], 4);
    let Dispatch::Done(st) = r.dispatch(irp) else {
        panic!()
    };
    assert_eq!(st, ntstatus::INVALID_DEVICE_REQUEST);
    assert_eq!(rec.completed(), Some(IoStatus::status(st)));
    // Lengths but no system buffer.
    let (mut irp, rec) = FakeIrp::ioctl(Ioctl::GetState.code(), &[], 4);
    irp.buffer = None;
    let _ = r.dispatch(irp);
    assert_eq!(
        rec.completed(),
        Some(IoStatus::status(ntstatus::INVALID_PARAMETER))
    );
    // A system buffer shorter than the output length.
    let (mut irp, rec) = FakeIrp::ioctl(Ioctl::GetState.code(), &[], 4);
    irp.output_len = 64;
    let _ = r.dispatch(irp);
    assert_eq!(
        rec.completed(),
        Some(IoStatus::status(ntstatus::INVALID_PARAMETER))
    );
    // An input longer than the scratch buffer (1024 bytes).
    let input = vec![0u8; 2000];
    let io = done(Status::InsufficientResources, 0);
    answered(&r, Ioctl::Transmit.code(), &input, 300, io);
}

/// Found by tools/wdm-wine.sh's hostile caller: a 2000-byte input to a request that
/// reads none or one word was refused STATUS_INSUFFICIENT_RESOURCES (the binding
/// copies at most 1024 input bytes); only the bytes the core reads are copied, so the
/// request gets smclib's answer.
#[test]
fn an_oversized_input_is_refused_only_where_it_is_read() {
    let r = reader();
    let mut input = vec![0xEEu8; 2000];
    let rec = answered(
        &r,
        Ioctl::GetState.code(),
        &input,
        4,
        done(Status::Success, 4),
    );
    assert_eq!(rec.output(), 1u32.to_le_bytes(), "SCARD_ABSENT");
    let io = done(Status::InvalidDeviceRequest, 0);
    answered(&r, scard_ctl_code(99), &input, 0, io);
    input[..4].copy_from_slice(&0x0001_0100u32.to_le_bytes()); // SCARD_ATTR_VENDOR_NAME
    let rec = answered(
        &r,
        Ioctl::GetAttribute.code(),
        &input,
        64,
        done(Status::Success, 9),
    );
    assert_eq!(rec.output(), b"readerkit");
    let io = done(Status::InsufficientResources, 0);
    answered(&r, Ioctl::SetAttribute.code(), &input, 0, io);
}

#[test]
fn power_protocol_transmit() {
    let r = ready();
    let (_, rec) = ioctl(&r, Ioctl::GetState.code(), &[], 4);
    assert_eq!(rec.output(), 6u32.to_le_bytes(), "SCARD_SPECIFIC");

    // GET CHALLENGE: header + 8 bytes + SW.
    let challenge = transmit_input(T1, &[0x00, 0x84, 0x00, 0x00, 0x08]);
    let io = done(Status::Success, 8 + 8 + 2);
    let rec = answered(&r, Ioctl::Transmit.code(), &challenge, 8 + 258, io);
    let out = rec.output();
    assert_eq!(out[..4], T1.to_le_bytes(), "the answer's header names T=1");
    let response = transmit_response(&out).unwrap();
    assert_eq!(response.len(), 8 + 2);
    assert_eq!(response[8..], [0x90, 0x00]);

    // Output too small for header + SW.
    let io = done(Status::BufferTooSmall, 0);
    answered(&r, Ioctl::Transmit.code(), &challenge, 9, io);

    // A 600-byte extended ECHO: the input is longer than the stack copy and goes
    // through the scratch buffer; input and output share the system buffer.
    let data: Vec<u8> = (0..600u32).map(|i| (i * 7) as u8).collect();
    let mut apdu = vec![0x80, 0xEE, 0x00, 0x00, 0x00, 0x02, 0x58];
    apdu.extend_from_slice(&data);
    apdu.extend_from_slice(&[0x00, 0x00]);
    let (st, rec) = ioctl(
        &r,
        Ioctl::Transmit.code(),
        &transmit_input(T1, &apdu),
        8 + 602,
    );
    assert_eq!(st, ntstatus::SUCCESS);
    let out = rec.output();
    let response = transmit_response(&out).unwrap();
    assert_eq!(response.len(), 602);
    assert_eq!(response[..600], data);
    assert_eq!(response[600..], [0x90, 0x00]);

    // Power down: no data.
    let power_down = 0u32.to_le_bytes();
    answered(
        &r,
        Ioctl::Power.code(),
        &power_down,
        33,
        done(Status::Success, 0),
    );
    // TRANSMIT now: no protocol selected.
    let io = done(Status::InvalidDeviceState, 0);
    answered(&r, Ioctl::Transmit.code(), &challenge, 300, io);
}

#[test]
fn card_tracking_pends_and_completes_on_the_event() {
    let r = reader();
    // Absent already: IS_ABSENT completes at once.
    answered(&r, Ioctl::IsAbsent.code(), &[], 0, done(Status::Success, 0));
    // IS_PRESENT pends.
    let rec = pending_is_present(&r);
    assert!(rec.pending.load(std::sync::atomic::Ordering::SeqCst));
    assert!(rec.routine.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(rec.completed(), None);
    // A second tracking request while one pends: STATUS_DEVICE_BUSY.
    let busy = IoStatus::status(ntstatus::DEVICE_BUSY);
    answered(&r, Ioctl::IsAbsent.code(), &[], 0, busy);
    // Other requests still flow.
    let (st, _) = ioctl(&r, Ioctl::GetState.code(), &[], 4);
    assert_eq!(st, ntstatus::SUCCESS);
    insert(&r);
    assert_eq!(rec.completed(), Some(done(Status::Success, 0)));
    // IS_ABSENT pends until removal.
    let (st, rec) = ioctl(&r, Ioctl::IsAbsent.code(), &[], 0);
    assert_eq!(st, ntstatus::PENDING);
    remove(&r);
    assert_eq!(rec.completed(), Some(done(Status::Success, 0)));
    // All remove-lock references are back (the device's own only).
    assert_eq!(r.device().platform().remove_lock().holders(), 1);
}

#[test]
fn other_major_functions_are_handed_back() {
    let r = reader();
    let (irp, rec) = FakeIrp::new(Major::from_codes(mj::PNP, 0x09));
    assert!(matches!(r.dispatch(irp), Dispatch::Forward(..)));
    assert_eq!(rec.completed(), None);
    let (irp, _) = FakeIrp::new(Major::from_codes(mj::POWER, 0x02));
    assert!(matches!(r.dispatch(irp), Dispatch::Forward(..)));
}

/// A request from inside one of the reader's own callbacks (here: code run under the
/// serialization lock, as a callback is) is refused with DEVICE_BUSY instead of
/// deadlocking: the WDM platform names the calling thread. A request from another
/// thread meanwhile still waits its turn and is served.
#[test]
fn reentry_from_a_callback_is_refused_not_deadlocked() {
    let r = std::sync::Arc::new(ready());
    let (tx, rx) = std::sync::mpsc::channel();
    let inner = r.clone();
    std::thread::spawn(move || {
        let status = inner.device().with_driver(|_| {
            let (_, rec) = ioctl(&inner, code(Ioctl::Power), &1u32.to_le_bytes(), 33);
            rec.completed().map(|s| s.status)
        });
        tx.send(status).unwrap();
    });
    let status = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("a re-entrant request deadlocked");
    assert_eq!(status, Some(Status::DeviceBusy.to_ntstatus()));
    // The reader is intact: the same request from outside works.
    let (_, rec) = ioctl(&r, code(Ioctl::Power), &1u32.to_le_bytes(), 33);
    assert_eq!(rec.completed().map(|s| s.status), Some(0));
}

#[test]
fn requests_are_logged_at_their_level_and_bounded() {
    use readerkit::trace::Level;
    let r = reader();
    let _ = logged();
    // Default level info: a request that succeeds is not logged, one that fails is.
    let (st, _) = ioctl(&r, Ioctl::GetState.code(), &[], 4);
    assert_eq!(st, ntstatus::SUCCESS);
    let apdu = [0x00, 0x84, 0x00, 0x00, 0x08];
    let (st, _) = ioctl(&r, Ioctl::Transmit.code(), &transmit_input(T1, &apdu), 64);
    assert_ne!(st, ntstatus::SUCCESS);
    let lines = logged();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0].0, Level::Info);
    assert!(
        lines[0]
            .1
            .starts_with("readerkit: TRANSMIT T=1, 5 bytes: 00 84 00 00 08 -> "),
        "{lines:?}"
    );
    // Debug: every request with its outcome.
    r.set_log_level(Level::Debug);
    let (st, _) = ioctl(&r, Ioctl::GetState.code(), &[], 4);
    assert_eq!(st, ntstatus::SUCCESS);
    assert_eq!(
        logged(),
        [(
            Level::Debug,
            "readerkit: GET_STATE -> success, 4 bytes".to_owned()
        )]
    );
    // A long hostile input: the line stays within the kernel's bound.
    let (_, _) = ioctl(
        &r,
        Ioctl::Transmit.code(),
        &transmit_input(T1, &[0xEE; 1000]),
        64,
    );
    let lines = logged();
    assert!(lines[0].1.contains("1000 bytes: EE EE"), "{lines:?}");
    assert!(
        lines
            .iter()
            .all(|(_, l)| l.len() < readerkit_wdm::trace::LINE_MAX)
    );
    // Off: nothing.
    r.set_log_level(Level::Off);
    let _ = ioctl(&r, Ioctl::Transmit.code(), &transmit_input(T1, &apdu), 64);
    assert!(logged().is_empty());
}

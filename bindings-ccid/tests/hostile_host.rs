//! pcscd and Debian's `libccidtwin.so` open `readerkit ccid-serve`'s reader after
//! a hostile host had the terminal (`readerkit_testkit::twin_abuse`): after each
//! abuse, and after a host that flooded the reader and closed the terminal
//! without reading one answer, the reader opens and an APDU goes round. The
//! abuses themselves, each answered as it should be, are checked in the CLI's
//! `ccid_serve_abuse.rs`; the QEMU firmware's run is in `qemu_firmware.rs`.

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

use pcsc::Protocols;
use readerkit_testkit::twin_abuse::{Abuse, Abuser, flood_and_leave};
use readerkit_testkit::twin_peer::open_raw;
use support::{Serve, echo_after_insertion, pcscd_for, stop_and_check};

/// pcscd opens the reader on `device` and ECHOes an APDU through it.
fn pcscd_round_trip(device: &str) {
    let (pcscd, ctx) = pcscd_for(device, "RK Abused", None);
    echo_after_insertion(
        &ctx,
        "RK Abused 00 00",
        Protocols::T1,
        Duration::from_secs(5),
    );
    drop(ctx);
    stop_and_check(pcscd);
}

#[test]
fn pcscd_opens_the_reader_after_each_abuse() {
    let serve = Serve::start(&["--reader", "gempctwin", "--card", "t1"]);
    let device = format!("{}:GemPCTwin", serve.path);
    for (i, abuse) in Abuse::ALL.into_iter().enumerate() {
        let mut host = Abuser::new(open_raw(&serve.path), 11 + i as u64);
        host.abuse(abuse);
        drop(host);
        pcscd_round_trip(&device);
    }
}

/// A host that writes 200 commands, a frame cut short after them, and closes
/// the terminal without reading: once ccid-serve has seen it go, what it left
/// is answered to nobody, and libccid's first read is the answer to its own
/// firmware request. (pcscd waits for that: the bytes of a host that opens the
/// terminal and writes before ccid-serve has read the close cannot be told
/// from the gone host's, and its first frame is dropped with them.) Before,
/// libccid read "Firmware: " (the answer to a GetSlotStatus) and every answer
/// after that was one behind: the card's ATR never came.
#[test]
fn pcscd_opens_the_reader_after_a_host_that_flooded_it_and_left() {
    let serve = Serve::start_watched(&["--trace", "--reader", "gempctwin", "--card", "t1"]);
    flood_and_leave(&serve.path);
    serve.wait_stderr("(the host closed the terminal");
    pcscd_round_trip(&format!("{}:GemPCTwin", serve.path));
}

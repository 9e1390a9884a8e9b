//! Readers opened by device name, used through their port only, as a host binding
//! uses them (no pcscd, no IFDH calls).

use readerkit::ioctl::{Request, scard_ctl_code};
use readerkit::part10::{
    FEATURE_GET_TLV_PROPERTIES, FEATURE_IFD_PIN_PROPERTIES, FN_GET_FEATURE_REQUEST,
};
use readerkit::pin::{FEATURE_MODIFY_PIN_DIRECT, FEATURE_VERIFY_PIN_DIRECT};
use readerkit::trace::Level;
use readerkit::{Outcome, Status};
use readerkit_host_readers::sim::FN_SIM_CARD;
use readerkit_host_readers::{Host, Reader, open};

/// A host with control codes of its own, so that an announced code shows whose
/// encoding it is.
struct Tagged;

impl Host for Tagged {
    fn ctl_code(function: u16) -> u32 {
        0x7700_0000 + u32::from(function)
    }
}

/// A vendor function under the core's (Windows) code, as a host hands it on.
fn vendor(reader: &Reader, function: u16, input: &[u8], output: &mut [u8]) -> Outcome {
    let code = scard_ctl_code(function);
    reader.port.submit(Request::Vendor { code, input }, output)
}

#[test]
fn part10_answers_announce_the_hosts_control_codes() {
    let reader = open::<Tagged>("sim:t1", 0).unwrap();
    let mut out = [0u8; 64];
    let n = vendor(&reader, FN_GET_FEATURE_REQUEST, &[], &mut out)
        .into_result()
        .unwrap();
    assert_eq!(n % 6, 0, "whole TLVs: {:02X?}", &out[..n]);
    let features: Vec<(u8, u32)> = out[..n]
        .chunks(6)
        .map(|tlv| {
            assert_eq!(tlv[1], 4, "{tlv:02X?}");
            (tlv[0], u32::from_be_bytes([tlv[2], tlv[3], tlv[4], tlv[5]]))
        })
        .collect();
    // The PIN pad's features too: the host's codes reach the core's PIN pad.
    for tag in [
        FEATURE_GET_TLV_PROPERTIES,
        FEATURE_VERIFY_PIN_DIRECT,
        FEATURE_MODIFY_PIN_DIRECT,
        FEATURE_IFD_PIN_PROPERTIES,
    ] {
        let code = Tagged::ctl_code(FN_GET_FEATURE_REQUEST + u16::from(tag));
        assert!(
            features.contains(&(tag, code)),
            "{tag:#04X} in {features:X?}"
        );
    }
}

#[test]
fn the_sim_slot_switch_moves_the_card() {
    let reader = open::<Tagged>("sim:t1", 1).unwrap();
    let device = reader.port.device();
    assert!(device.state().card_present());
    assert_eq!(
        vendor(&reader, FN_SIM_CARD, &[0], &mut []).into_result(),
        Ok(0)
    );
    assert!(!device.state().card_present());
    assert_eq!(
        vendor(&reader, FN_SIM_CARD, &[1], &mut []).into_result(),
        Ok(0)
    );
    assert!(device.state().card_present());
    assert_eq!(device.card_insertions(), 2);
    assert_eq!(
        vendor(&reader, FN_SIM_CARD, &[7], &mut []).into_result(),
        Err(Status::InvalidParameter)
    );
}

#[test]
fn device_names_pick_the_reader_and_its_log_level() {
    let reader = open::<Tagged>("sim:t0:log=trace", 0).unwrap();
    assert_eq!(reader.log.name, "sim:t0:log=trace");
    assert_eq!(reader.log.level, Level::Trace);
    assert_eq!(
        reader.max_apdu_data,
        readerkit_host_readers::sim::MAX_APDU_DATA
    );
    for bad in [
        "",
        "sim",
        "sim:t2",
        "sim:t1:log=loud",
        "pcsc:t1",
        "vpcd:",
        "serial:",
    ] {
        assert_eq!(
            open::<Tagged>(bad, 0).err(),
            Some(Status::NotSupported),
            "{bad:?}"
        );
    }
}

/// A reader dropped without being shut down (the losing side of two racing opens
/// of one slot, which a host drops) must still stop and join its thread: a
/// detached listener would outlive the library (pcscd `dlclose`s it) and keep its
/// port bound.
#[test]
fn a_dropped_reader_joins_its_thread() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let reader = open::<Tagged>(&format!("vpcd:{port}"), 0).unwrap();
    drop(reader);
    // The listener thread owned the listening socket: once joined, the port is free.
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "the vpcd listener thread outlived its reader"
    );
}

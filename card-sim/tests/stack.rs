//! The whole stack on the simulated card: `Device::control` → `LineReader`
//! callbacks → PPS / T=0 / T=1 engines → `SimLine` → simulated card, for every
//! profile, with card removal mid-session and a mute card.

use readerkit::atr::Convention as AtrConvention;
use readerkit::caps::FieldSizes;
use readerkit::ioctl::{Ioctl, PowerAction};
use readerkit::timing::Timing;
use readerkit::{CardState, Protocol, Status, attr};
use readerkit_card_sim::atr::Convention;
use readerkit_card_sim::fault::{Faults, Mute, Trigger};
use readerkit_card_sim::{Card, Config, Profile};
use readerkit_testkit::apdu::{SELECT_MF, SELECT_MF_FCI, echo, get_challenge};
use readerkit_testkit::client::{
    apdu, check_inverse_convention_t1, check_mute_after_one_answer, control, power_up, select,
};
use readerkit_testkit::sim::{SimDevice, device, faults, ifs_request_before};

fn session(profile: Profile, mask: u32) -> (SimDevice, u32) {
    let dev = device(Some(Card::new(profile)));
    dev.card_inserted();
    power_up(&dev).expect("power up");
    let protocol = select(&dev, mask).expect("set protocol");
    (dev, protocol)
}

#[test]
fn t1_card_negotiates_pps_and_moves_short_and_extended_apdus() {
    let (dev, protocol) = session(Profile::t1(), 3);
    assert_eq!(protocol, 2);
    // TA1 = 96: the typical reader (max 115 200 bit/s) settles on F 512, D 16 at 3.58 MHz.
    let timing = dev
        .with_driver(|r| r.line().timing())
        .expect("PPS switched the line");
    assert_eq!(
        timing,
        Timing {
            f: 512,
            d: 16,
            clock_khz: 3580
        }
    );
    let out = control(&dev, Ioctl::GetAttribute, &attr::CURRENT_D.to_le_bytes(), 4).unwrap();
    assert_eq!(out, 16u32.to_le_bytes());

    assert_eq!(apdu(&dev, 2, &SELECT_MF).unwrap(), [0x90, 0x00]);
    let challenge = apdu(&dev, 2, &get_challenge(8)).unwrap();
    assert_eq!(challenge.len(), 10);
    assert_eq!(challenge[8..], [0x90, 0x00]);
    for len in [1usize, 200, 255, 256, 1000, 4096] {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
        let response = apdu(&dev, 2, &echo(&data)).unwrap();
        assert_eq!(response[..len], data[..], "ECHO {len}");
        assert_eq!(response[len..], [0x90, 0x00]);
    }
    assert_eq!(
        apdu(&dev, 2, &[0x00, 0x99, 0x00, 0x00]).unwrap(),
        [0x6D, 0x00]
    );
    assert_eq!(
        apdu(&dev, 2, &[0xA5, 0x84, 0x00, 0x00, 0x08]).unwrap(),
        [0x6E, 0x00]
    );
    let perf = control(&dev, Ioctl::GetPerfCounter, &[], 12).unwrap();
    assert_eq!(perf[..4], 10u32.to_le_bytes(), "10 transmissions");
}

#[test]
fn t0_card_runs_get_response_and_envelope() {
    let (dev, protocol) = session(Profile::t0(), 3);
    assert_eq!(protocol, 1, "T=0 is all this card offers");
    // SELECT with FCI: case 4 turned into case 3 + GET RESPONSE.
    let fci = apdu(&dev, 1, &SELECT_MF_FCI).unwrap();
    assert_eq!(fci[0], 0x6F, "FCI template");
    assert_eq!(fci[fci.len() - 2..], [0x90, 0x00]);
    let data: Vec<u8> = (0..600).map(|i| i as u8).collect();
    let response = apdu(&dev, 1, &echo(&data)).unwrap();
    assert_eq!(response[..600], data[..], "extended ECHO through ENVELOPE");
    assert_eq!(
        apdu(&dev, 2, &get_challenge(8)),
        Err(Status::InvalidParameter),
        "wrong header protocol"
    );
}

#[test]
fn dual_card_default_bit_keeps_t0_and_crc_card_runs_t1() {
    let (dev, protocol) = session(Profile::t0_t1(), 0x8000_0003);
    // DEFAULT asks for no PPS1; T=1 preferred, so PPS for the protocol only.
    assert_eq!(protocol, 2);
    assert_eq!(
        dev.with_driver(|r| r.line().timing()),
        Some(Timing::default_at(3580))
    );
    assert_eq!(
        apdu(&dev, 2, &[0x00, 0x84, 0x00, 0x00, 0x04])
            .unwrap()
            .len(),
        6
    );

    let (crc, protocol) = session(Profile::t1_crc(), 2);
    assert_eq!(protocol, 2);
    let out = control(
        &crc,
        Ioctl::GetAttribute,
        &attr::CURRENT_EBC_ENCODING.to_le_bytes(),
        4,
    )
    .unwrap();
    assert_eq!(out, 1u32.to_le_bytes());
    let data = [0x5A; 300];
    assert_eq!(apdu(&crc, 2, &echo(&data)).unwrap()[..300], data[..]);
}

#[test]
fn inverse_convention_card() {
    let config = Config::new(Profile::t1().with_convention(Convention::Inverse));
    let dev = device(Some(Card::with_config(config)));
    dev.card_inserted();
    check_inverse_convention_t1(&dev);
    // The core read the ATR in the inverse convention.
    let caps = dev.card_capabilities().unwrap();
    assert_eq!(caps.atr.convention(), AtrConvention::Inverse);
    assert_eq!(caps.atr.as_bytes()[0], 0x3F);
}

#[test]
fn removal_mid_session_is_no_media_and_reinsertion_starts_fresh() {
    let (dev, _) = session(Profile::t1(), 2);
    dev.with_driver(|r| r.line_mut().remove());
    dev.card_removed();
    assert_eq!(apdu(&dev, 2, &get_challenge(8)), Err(Status::NoMedia));
    assert_eq!(dev.state(), CardState::Absent);
    // The card vanishes under the driver before the event arrives: a clean error.
    dev.with_driver(|r| r.line_mut().insert(Card::new(Profile::t1())));
    dev.card_inserted();
    power_up(&dev).unwrap();
    select(&dev, 2).unwrap();
    dev.with_driver(|r| r.line_mut().remove());
    assert_eq!(apdu(&dev, 2, &get_challenge(8)), Err(Status::NoMedia));
    dev.with_driver(|r| r.line_mut().insert(Card::new(Profile::t0())));
    dev.card_removed();
    dev.card_inserted();
    assert_eq!(dev.state(), CardState::Swallowed);
    power_up(&dev).unwrap();
    assert_eq!(select(&dev, 3), Ok(1), "the new card is a T=0 card");
}

#[test]
fn mute_cards_time_out_and_the_reader_recovers_after_a_reset() {
    let mute = Config::new(Profile::t1()).with_faults(faults(|f| f.mute = Mute::Always));
    let dev = device(Some(Card::with_config(mute)));
    dev.card_inserted();
    assert_eq!(power_up(&dev), Err(Status::IoTimeout));
    assert_eq!(dev.state(), CardState::Swallowed);

    let (dev, _) = session(Profile::t1(), 2);
    set_card_faults(&dev, faults(|f| f.mute = Mute::AfterAnswers(1)));
    check_mute_after_one_answer(&dev, 2);
}

/// A T=0 exchange that fails once its header is out leaves the card somewhere in
/// it: waiting for a data byte (SELECT with Le 1 and no data: the card reads P3
/// as Lc while the reader waits for response data), or still sending (GET
/// CHALLENGE with no P3 byte: the reader sends P3 00 for case 1, the card reads
/// Le 256 and sends 256 bytes). The card is deactivated, and every command after
/// it fails until a reset, instead of reading the failed command's bytes as its
/// answer (the SELECT's 6A 86, the challenge's first bytes); after the reset the
/// card answers again. A command refused before it went out, or one whose response did not
/// fit, leaves the card in step.
#[test]
fn a_t0_exchange_broken_mid_way_fails_every_command_until_a_reset() {
    let (dev, protocol) = session(Profile::t0(), 1);
    let challenge = get_challenge(8);
    // 8 bytes of the SCARD_IO_REQUEST header and room for 4 of the 10.
    let mut out = [0u8; 12];
    assert_eq!(
        dev.transmit_apdu(Protocol::T0, &challenge, &mut out),
        Err(Status::BufferTooSmall),
        "10 bytes into 4"
    );
    assert_eq!(apdu(&dev, protocol, &[0x00]), Err(Status::InvalidParameter));
    assert_eq!(apdu(&dev, protocol, &challenge).unwrap().len(), 10);
    for broken in [
        &[0x00, 0xA4, 0x04, 0x00, 0x01][..],
        &[0x00, 0x84, 0x00, 0x00],
    ] {
        assert!(apdu(&dev, protocol, broken).is_err(), "{broken:02X?}");
        // T=0 has no way back into step but a reset: the line reader deactivated
        // the card and told the device, which says unpowered, as after a POWER
        // down or a failed T=1 resynchronisation.
        let powered = dev.with_driver(|r| r.line_mut().card_mut().unwrap().is_powered());
        assert!(!powered, "after {broken:02X?}: the card was left active");
        assert_eq!(dev.state(), CardState::Swallowed, "after {broken:02X?}");
        for _ in 0..2 {
            assert_eq!(
                apdu(&dev, protocol, &challenge),
                Err(Status::InvalidDeviceState),
                "after {broken:02X?}: refused, not answered with stale bytes"
            );
        }
        // SET_PROTOCOL resets nothing: refused on the unpowered card.
        assert_eq!(
            select(&dev, 1),
            Err(Status::InvalidDeviceState),
            "after {broken:02X?}: SET_PROTOCOL with no reset"
        );
        assert_eq!(
            apdu(&dev, protocol, &challenge),
            Err(Status::InvalidDeviceState),
            "after {broken:02X?} and SET_PROTOCOL: refused, not answered with stale bytes"
        );
        // A warm reset (what pcscd's SCARD_RESET_CARD asks) reactivates it: the
        // device makes it a cold reset.
        let mut atr = [0u8; 33];
        dev.power_card(PowerAction::WarmReset, &mut atr)
            .expect("reset");
        assert_eq!(select(&dev, 1), Ok(1));
        assert_eq!(apdu(&dev, protocol, &challenge).unwrap().len(), 10);
    }
}

/// ISO/IEC 7816-3:2006 11.6.3.2 rule 6.4: when resynchronisation fails (every
/// S(RESYNCH request) of the exchange answered with a corrupted block here), the
/// interface device deactivates the card (or warm-resets it). Nothing more goes to
/// the card until the caller resets it; then it works again.
#[test]
fn failed_t1_resynchronisation_deactivates_the_card_until_a_reset() {
    let (dev, protocol) = session(Profile::t1(), 2);
    let get_challenge = get_challenge(8);
    assert!(apdu(&dev, protocol, &get_challenge).is_ok());
    set_card_faults(&dev, faults(|f| f.corrupt_edc = Trigger::Every));
    assert_eq!(
        apdu(&dev, protocol, &get_challenge),
        Err(Status::DeviceProtocolError)
    );
    let (powered, blocks) = dev.with_driver(|r| {
        let card = r.line_mut().card_mut().unwrap();
        (card.is_powered(), card.stats().blocks_to_card)
    });
    assert!(
        !powered,
        "the card was left active after resynchronisation failed"
    );
    // The device knows: GET_STATE says unpowered, as after a POWER down.
    assert_eq!(dev.state(), CardState::Swallowed);
    assert_eq!(
        apdu(&dev, protocol, &get_challenge),
        Err(Status::InvalidDeviceState)
    );
    dev.with_driver(|r| {
        let card = r.line_mut().card_mut().unwrap();
        assert_eq!(
            card.stats().blocks_to_card,
            blocks,
            "a block went to the card"
        );
        card.set_faults(Faults::default());
    });
    assert_eq!(select(&dev, protocol), Err(Status::InvalidDeviceState));
    // A warm reset (Windows' SCARD_WARM_RESET) reactivates the card: the device
    // makes it a cold reset.
    let mut atr = [0u8; 33];
    dev.power_card(PowerAction::WarmReset, &mut atr)
        .expect("warm reset after the deactivation");
    assert_eq!(select(&dev, protocol), Ok(protocol));
    assert!(apdu(&dev, protocol, &get_challenge).is_ok());
}

/// ISO/IEC 7816-3:2006 9.3: a PPS exchange that fails (here the card takes the
/// request as damaged and stays silent) leaves the card to be deactivated.
#[test]
fn failed_pps_deactivates_the_card() {
    let config = Config::new(Profile::t1()).with_faults(faults(|f| {
        f.parity_error = Trigger::Nth(1);
    }));
    let dev = device(Some(Card::with_config(config)));
    dev.card_inserted();
    power_up(&dev).expect("power up");
    assert!(select(&dev, 2).is_err(), "the PPS succeeded");
    let powered = dev.with_driver(|r| r.line_mut().card_mut().unwrap().is_powered());
    assert!(!powered, "the card was left active after the failed PPS");
    assert_eq!(
        dev.state(),
        CardState::Swallowed,
        "the device took the deactivated card for powered"
    );
    // A warm reset (Windows' SCARD_WARM_RESET) of the deactivated card activates
    // it: its contacts are off, so only a cold reset can bring it back.
    set_card_faults(&dev, Faults::default());
    let mut atr = [0u8; 33];
    dev.power_card(PowerAction::WarmReset, &mut atr)
        .expect("warm reset after the deactivation");
    assert_eq!(select(&dev, 2), Ok(2), "the PPS again, now answered");
}

/// Replace the simulated card's fault switches.
fn set_card_faults(dev: &SimDevice, faults: Faults) {
    dev.with_driver(|r| r.line_mut().card_mut().unwrap().set_faults(faults));
}

/// The DWORD attribute `tag` of the device.
fn dword_attribute(dev: &SimDevice, tag: u32) -> u32 {
    let out = control(dev, Ioctl::GetAttribute, &tag.to_le_bytes(), 4).expect("attribute");
    u32::from_le_bytes(out.try_into().expect("a DWORD"))
}

/// ISO/IEC 7816-3:2006 11.4.2, 11.6.2.3: the card's S(IFS request) sets the IFSC
/// in force until the next reset; `SCARD_ATTR_CURRENT_IFSC` answers it, not the
/// ATR's TA3, and the reader's commands go out in pieces of that size.
#[test]
fn the_cards_s_ifs_request_is_the_current_ifsc_until_a_reset() {
    let (dev, protocol) = session(Profile::t1(), 2);
    // TA3 = FE: the ATR's IFSC is 254; the reader announces an IFSD of 254.
    assert_eq!(dword_attribute(&dev, attr::CURRENT_IFSC), 254);
    assert_eq!(dword_attribute(&dev, attr::CURRENT_IFSD), 254);
    assert_eq!(apdu(&dev, protocol, &SELECT_MF).unwrap(), [0x90, 0x00]);
    // The card acknowledged the reader's S(IFS request): the IFSD is the reader's.
    assert_eq!(dword_attribute(&dev, attr::CURRENT_IFSD), 254);
    set_card_faults(&dev, ifs_request_before(Trigger::Nth(1), 16));
    let data: Vec<u8> = (0..200).map(|i| i as u8).collect();
    let response = apdu(&dev, protocol, &echo(&data)).unwrap();
    assert_eq!(response[..200], data[..]);
    assert_eq!(dword_attribute(&dev, attr::CURRENT_IFSC), 16);
    assert_eq!(dword_attribute(&dev, attr::CURRENT_IFSD), 254);
    // The typed side answers the same sizes (a CCID GetParameters reads them).
    let in_force = FieldSizes {
        ifsc: 16,
        ifsd: 254,
    };
    assert_eq!(dev.field_sizes(), Some(in_force));
    // The next command travels in 16-byte I-blocks.
    let blocks = dev.with_driver(|r| r.line().card().unwrap().stats().blocks_to_card);
    let command = echo(&data);
    assert_eq!(apdu(&dev, protocol, &command).unwrap()[200..], [0x90, 0x00]);
    let sent = dev.with_driver(|r| r.line().card().unwrap().stats().blocks_to_card) - blocks;
    // Each I-block but the last acknowledged by an R-block, the last by the answer.
    assert_eq!(sent as usize, command.len().div_ceil(16));
    assert_eq!(
        dword_attribute(&dev, attr::CURRENT_IFSC),
        16,
        "still in force"
    );
    // A reset brings the ATR's value back, before and after the first exchange.
    set_card_faults(&dev, Faults::default());
    let mut atr = [0u8; 33];
    dev.power_card(PowerAction::ColdReset, &mut atr)
        .expect("cold reset");
    assert_eq!(dword_attribute(&dev, attr::CURRENT_IFSC), 254);
    assert_eq!(dev.field_sizes().map(|sizes| sizes.ifsc), Some(254));
    assert_eq!(select(&dev, 2), Ok(2));
    assert_eq!(apdu(&dev, 2, &SELECT_MF).unwrap(), [0x90, 0x00]);
    assert_eq!(dword_attribute(&dev, attr::CURRENT_IFSC), 254);
}

/// With `SCARD_ATTR_SUPRESS_T1_IFS_REQUEST` set, the reader never announces its
/// IFSD: the IFSD in force stays ISO's initial 32 bytes (11.4.2), and
/// `SCARD_ATTR_CURRENT_IFSD` says so once T=1 ran.
#[test]
fn a_suppressed_ifsd_announcement_leaves_the_current_ifsd_at_32() {
    let dev = device(Some(Card::new(Profile::t1())));
    dev.card_inserted();
    let mut input = attr::SUPPRESS_T1_IFS_REQUEST.to_le_bytes().to_vec();
    input.extend_from_slice(&1u32.to_le_bytes());
    control(&dev, Ioctl::SetAttribute, &input, 0).expect("suppress");
    power_up(&dev).expect("power up");
    assert_eq!(select(&dev, 2), Ok(2));
    assert_eq!(apdu(&dev, 2, &SELECT_MF).unwrap(), [0x90, 0x00]);
    assert_eq!(dword_attribute(&dev, attr::CURRENT_IFSD), 32);
    assert_eq!(dword_attribute(&dev, attr::CURRENT_IFSC), 254);
}

//! Every command through `CcidReader::handle` on simulated cards, with the answers
//! compared byte for byte: the refusals of CCID 1.1 §6.2.6 (bad slot, bad length,
//! unsupported command, card absent or mute, bad fields) and the normal paths.

use readerkit::Device;
use readerkit::caps::ReaderCapabilities;
use readerkit::line::LineReader;
use readerkit::platform::SpinPlatform;
use readerkit_card_sim::fault::Trigger;
use readerkit_card_sim::{Card, Config, Profile, SimLine};
use readerkit_ccid::reader::{ClassRequest, Config as CcidConfig, ExchangeLevel};
use readerkit_ccid::twin;
use readerkit_ccid::{CcidReader, HandleError, Notice, PinSupport, SlotError};
use readerkit_testkit::apdu::get_challenge;
use readerkit_testkit::ccid::{message, message_with};
use readerkit_testkit::sim::{ifs_request_before, inserted};
use readerkit_testkit::t1::block;

type Slot = Device<SpinPlatform, LineReader<SimLine<1024>>>;
type Reader<'a> = CcidReader<'a, SpinPlatform, LineReader<SimLine<1024>>>;
/// What a message checks (named in a failure), the message and the exact answer it
/// gets.
type Case = (&'static str, Vec<u8>, Vec<u8>);

const ATR_T1: [u8; 20] = [
    0x3B, 0x9B, 0x96, 0x81, 0x71, 0xFE, 0x45, 0x00, 0x80, 0x65, 0x52, 0x4B, 0x53, 0x49, 0x4D, 0x73,
    0x10, 0x21, 0x40, 0xEF,
];
const ATR_T0: [u8; 14] = [
    0x3B, 0x1B, 0x95, 0x80, 0x65, 0x52, 0x4B, 0x53, 0x49, 0x4D, 0x73, 0x10, 0x21, 0x40,
];

fn slot(profile: Option<Profile>) -> Slot {
    let card = profile.map(|p| Card::create(Config::new(p)));
    inserted(card, twin::Profile::GemPcTwin.capabilities())
}

/// A reader with `config` over one slot holding a card of `profile` (`None`:
/// empty); the slot is leaked, so that the reader can borrow it for the test.
fn reader(profile: Option<Profile>, config: CcidConfig) -> Reader<'static> {
    let slots = Box::leak(Box::new([slot(profile)]));
    CcidReader::new(slots, config).unwrap()
}

fn handle(reader: &mut Reader<'_>, m: &[u8]) -> Vec<u8> {
    let mut answer = [0u8; 271];
    let len = reader.handle(m, &mut answer).expect("an answer");
    answer[..len].to_vec()
}

/// Each message of `cases` through `reader`, in order, answered exactly.
fn answers(reader: &mut Reader<'_>, cases: &[Case]) {
    for (what, message, answer) in cases {
        assert_eq!(handle(reader, message), *answer, "{what}: {message:02X?}");
    }
}

/// An RDR_to_PC header: `kind`, `dwLength` `len`, `bSlot`, `bSeq`, `bStatus`,
/// `bError` and the message-specific byte.
fn header(kind: u8, len: u32, slot: u8, seq: u8, status: u8, error: u8, specific: u8) -> Vec<u8> {
    let mut h = vec![kind];
    h.extend_from_slice(&len.to_le_bytes());
    h.extend_from_slice(&[slot, seq, status, error, specific]);
    h
}

/// A whole RDR_to_PC answer for slot 0: the [`header`] (its `dwLength` that of
/// `data`), then `data`.
fn reply(kind: u8, seq: u8, status: u8, error: u8, specific: u8, data: &[u8]) -> Vec<u8> {
    let len = u32::try_from(data.len()).unwrap();
    [
        header(kind, len, 0, seq, status, error, specific),
        data.to_vec(),
    ]
    .concat()
}

/// The [`bare`] answer of a slot command failed CMD_ABORTED: RDR_to_PC_SlotStatus,
/// failed (40) with the card present and inactive (1), `bError` FF, the clock
/// stopped (3).
const ABORTED: [u8; 4] = [0x81, 0x41, 0xFF, 0x03];
/// The [`bare`] answer of a slot command answered as usual with the card
/// present and inactive: RDR_to_PC_SlotStatus, `bError` 0, the clock stopped (3).
const FINE: [u8; 4] = [0x81, 0x01, 0x00, 0x03];

/// The class request ABORT for slot 0 with `bSeq` `seq`, accepted; a failure
/// names the test's line.
#[track_caller]
fn class_abort(reader: &mut Reader<'_>, seq: u8) {
    let value = u16::from(seq) << 8;
    assert_eq!(
        reader.class_request(ClassRequest::Abort, value, &mut []),
        Ok(0),
        "class ABORT bSeq {seq}"
    );
}

/// A case answered by a bare RDR_to_PC header (`dwLength` 0) that echoes the
/// message's `bSlot` and `bSeq`, with `[kind, bStatus, bError, specific]`.
fn bare(what: &'static str, message: Vec<u8>, [kind, status, error, specific]: [u8; 4]) -> Case {
    let answer = header(kind, 0, message[5], message[6], status, error, specific);
    (what, message, answer)
}

fn apdu_config() -> CcidConfig {
    CcidConfig {
        escape: Some(twin::escape),
        ..CcidConfig::short_apdu()
    }
}

#[test]
fn refusals_are_byte_exact() {
    let mut r = reader(Some(Profile::t1()), apdu_config());
    let get_challenge = get_challenge(8);
    let t1_params = [0x11, 0, 0, 0x0A, 0];
    answers(
        &mut r,
        &[
            // Failed, ICC absent, bError 5 (offset of bSlot), a slot status.
            bare(
                "bad slot",
                message_with(0x65, 1, 7, [0; 3], &[]),
                [0x81, 0x42, 0x05, 0x03],
            ),
            bare(
                "bad slot on XfrBlock: a data block",
                message_with(0x6F, 9, 8, [0; 3], &get_challenge),
                [0x80, 0x42, 0x05, 0x00],
            ),
            bare(
                "DwLength says 2, one byte follows: bError 1",
                message(0x6F, 9, &[0x00, 0x84])[..11].to_vec(),
                [0x80, 0x41, 0x01, 0x00],
            ),
            bare(
                "longer than dwMaxCCIDMessageLength (271): bError 1",
                message(0x6F, 10, &[0u8; 262]),
                [0x80, 0x41, 0x01, 0x00],
            ),
            bare(
                "unknown command: slot status, command not supported",
                message(0x70, 11, &[]),
                [0x81, 0x41, 0x00, 0x03],
            ),
            bare(
                "IccPowerOn with bPowerSelect 4: bError 7",
                message_with(0x62, 0, 12, [4, 0, 0], &[]),
                [0x80, 0x41, 0x07, 0x00],
            ),
            bare(
                "XfrBlock before power on: card inactive, mute",
                message(0x6F, 13, &get_challenge),
                [0x80, 0x41, 0xFE, 0x00],
            ),
            bare(
                "GetSlotStatus with data: bError 1",
                message(0x65, 14, &[1]),
                [0x81, 0x41, 0x01, 0x03],
            ),
            bare(
                "Secure (no PIN pad): not supported",
                message(0x69, 15, &[0; 4]),
                [0x80, 0x41, 0x00, 0x00],
            ),
            bare(
                "T0APDU: not supported",
                message_with(0x6A, 0, 16, [1, 0, 0], &[]),
                [0x81, 0x41, 0x00, 0x03],
            ),
            bare(
                "mechanical lock: not supported",
                message_with(0x71, 0, 17, [4, 0, 0], &[]),
                [0x81, 0x41, 0x00, 0x03],
            ),
            bare(
                "mechanical function 9: bError 7",
                message_with(0x71, 0, 18, [9, 0, 0], &[]),
                [0x81, 0x41, 0x07, 0x03],
            ),
            // Both SetParameters before power on would be mute, but the fields
            // are checked first.
            bare(
                "SetParameters T=2: bError 7",
                message_with(0x61, 0, 19, [2, 0, 0], &t1_params),
                [0x82, 0x41, 0x07, 0x00],
            ),
            bare(
                "SetParameters with a T=0 structure for T=1: bError 1",
                message_with(0x61, 0, 20, [1, 0, 0], &t1_params),
                [0x82, 0x41, 0x01, 0x00],
            ),
            bare(
                "an Escape the handler does not know: an Escape answer, not supported",
                message(0x6B, 21, &[0x1F, 0x03]),
                [0x83, 0x41, 0x00, 0x00],
            ),
            bare(
                "IccClock stop: not supported",
                message_with(0x6E, 0, 22, [1, 0, 0], &[]),
                [0x81, 0x41, 0x00, 0x03],
            ),
            bare(
                "IccClock bClockCommand 2: bError 7",
                message_with(0x6E, 0, 23, [2, 0, 0], &[]),
                [0x81, 0x41, 0x07, 0x03],
            ),
        ],
    );
    // Fewer than 10 bytes: nothing to answer; an answer buffer under 10 bytes.
    let mut answer = [0u8; 271];
    assert_eq!(
        r.handle(&[0x65, 0, 0], &mut answer),
        Err(HandleError::Truncated)
    );
    assert_eq!(
        r.handle(&message(0x65, 0, &[]), &mut answer[..9]),
        Err(HandleError::AnswerTooSmall)
    );
}

#[test]
fn no_card_is_absent_and_mute() {
    let mut r = reader(None, apdu_config());
    answers(
        &mut r,
        &[
            bare(
                "GetSlotStatus: absent",
                message(0x65, 1, &[]),
                [0x81, 0x02, 0x00, 0x03],
            ),
            bare(
                "IccPowerOn: mute",
                message(0x62, 2, &[]),
                [0x80, 0x42, 0xFE, 0x00],
            ),
            bare(
                "XfrBlock: mute",
                message(0x6F, 3, &get_challenge(8)),
                [0x80, 0x42, 0xFE, 0x00],
            ),
            bare(
                "GetParameters: mute",
                message(0x6C, 4, &[]),
                [0x82, 0x42, 0xFE, 0x00],
            ),
            bare(
                "IccPowerOff without a card succeeds",
                message(0x63, 5, &[]),
                [0x81, 0x02, 0x00, 0x03],
            ),
        ],
    );
}

/// A sleeping reader (the core's `Device::suspend` until `Device::resume`)
/// fails IccPowerOn with HW_ERROR (0xFB), not ICC_MUTE: the reader cannot act,
/// the card is not at fault; the card's state (present, powered down by the
/// suspend) is still answered, and on waking the card powers up again.
#[test]
fn a_sleeping_reader_fails_power_on_with_a_hardware_error() {
    let slots: &'static [Slot; 1] = Box::leak(Box::new([slot(Some(Profile::t1()))]));
    let mut r = CcidReader::new(slots, apdu_config()).unwrap();
    let atr_answer = reply(0x80, 1, 0x00, 0x00, 0x00, &ATR_T1);
    assert_eq!(handle(&mut r, &message(0x62, 1, &[])), atr_answer);
    assert_eq!(slots[0].suspend(), Ok(true), "the card was in and powered");
    answers(
        &mut r,
        &[
            bare(
                "IccPowerOn while asleep: failed, card present inactive, HW_ERROR",
                message(0x62, 2, &[]),
                [0x80, 0x41, 0xFB, 0x00],
            ),
            bare(
                "GetSlotStatus while asleep: the card as the suspend left it",
                message(0x65, 3, &[]),
                FINE,
            ),
        ],
    );
    slots[0].resume(true);
    let atr_answer = reply(0x80, 4, 0x00, 0x00, 0x00, &ATR_T1);
    assert_eq!(handle(&mut r, &message(0x62, 4, &[])), atr_answer);
}

#[test]
fn power_on_transfer_parameters_power_off_at_short_apdu_level() {
    let mut r = reader(Some(Profile::t1()), apdu_config());
    let atr_answer = reply(0x80, 1, 0x00, 0x00, 0x00, &ATR_T1);
    assert_eq!(handle(&mut r, &message(0x62, 1, &[])), atr_answer);
    // Any supported voltage is accepted too (a warm reset of the active card).
    assert_eq!(
        &handle(&mut r, &message_with(0x62, 0, 2, [2, 0, 0], &[]))[10..],
        ATR_T1
    );
    // The first XfrBlock selects T=1 (PPS to TA1 = 96) and runs the APDU.
    let answer = handle(
        &mut r,
        &message(0x6F, 3, &[0x80, 0xEE, 0, 0, 2, 0xAB, 0xCD, 0]),
    );
    let expected = reply(0x80, 3, 0x00, 0x00, 0x00, &[0xAB, 0xCD, 0x90, 0x00]);
    assert_eq!(answer, expected);
    // Case 1 APDU.
    let answer = handle(&mut r, &message(0x6F, 4, &[0x00, 0x12, 0x00, 0x00]));
    assert_eq!(&answer[10..], &[0x6D, 0x00]);
    // GetParameters: T=1, Fi/Di 96, CRC off, BWI/CWI 4/5, IFSC FE.
    let answer = handle(&mut r, &message(0x6C, 5, &[]));
    let parameters = [0x96, 0x10, 0x00, 0x45, 0x00, 0xFE, 0x00];
    assert_eq!(answer, reply(0x82, 5, 0x00, 0x00, 0x01, &parameters));
    answers(
        &mut r,
        &[
            // The parameters in force are not sent.
            bare(
                "SetParameters asking for Fi/Di 11 while 96 is in force: not changeable",
                message_with(0x61, 0, 6, [1, 0, 0], &[0x11, 0x10, 0, 0x45, 0, 0xFE, 0]),
                [0x82, 0x40, 10, 0x00],
            ),
            bare(
                "ResetParameters cannot bring F/D back to 11 while the card runs at 96",
                message(0x6D, 61, &[]),
                [0x82, 0x40, 10, 0x00],
            ),
            // 4 MHz * 32 / 512 = 250000 bit/s.
            (
                "SetDataRateAndClockFrequency answers what is in force",
                message(0x73, 7, &[0; 8]),
                reply(
                    0x84,
                    7,
                    0x00,
                    0x00,
                    0x00,
                    &[4000u32.to_le_bytes(), 250_000u32.to_le_bytes()].concat(),
                ),
            ),
            bare(
                "IccClock restart",
                message(0x6E, 8, &[]),
                [0x81, 0x00, 0x00, 0x00],
            ),
        ],
    );
    class_abort(&mut r, 9);
    answers(
        &mut r,
        &[
            bare(
                "Abort after the class ABORT",
                message(0x72, 9, &[]),
                [0x81, 0x00, 0x00, 0x00],
            ),
            bare(
                "IccPowerOff: inactive, clock stopped",
                message(0x63, 10, &[]),
                FINE,
            ),
        ],
    );
}

/// GetParameters' `bIFSC` is the IFSC in force (CCID 1.1 §6.2.3: the size
/// negotiated): the ATR's TA3 (FE) until the card's S(IFS request) announces 16
/// bytes in the middle of an XfrBlock, 16 from then on, FE again after a reset.
#[test]
fn get_parameters_answers_the_ifsc_the_card_asked_for() {
    let faults = ifs_request_before(Trigger::Nth(1), 0x10);
    let card = Card::create(Config::new(Profile::t1()).with_faults(faults));
    let slots = Box::leak(Box::new([inserted(
        Some(card),
        twin::Profile::GemPcTwin.capabilities(),
    )]));
    let mut r = CcidReader::new(slots, apdu_config()).unwrap();
    let get_parameters = |r: &mut Reader<'_>, seq: u8| {
        let answer = handle(r, &message(0x6C, seq, &[]));
        assert_eq!(answer[..10], header(0x82, 7, 0, seq, 0x00, 0x00, 0x01));
        answer[15]
    };
    assert_eq!(&handle(&mut r, &message(0x62, 1, &[]))[10..], ATR_T1);
    assert_eq!(
        get_parameters(&mut r, 2),
        0xFE,
        "the ATR's TA3 before any exchange"
    );
    let answer = handle(&mut r, &message(0x6F, 3, &[0x00, 0x12, 0x00, 0x00]));
    assert_eq!(
        &answer[10..],
        &[0x6D, 0x00],
        "the APDU ran across the S(IFS)"
    );
    assert_eq!(slots[0].field_sizes().map(|s| s.ifsc), Some(0x10));
    assert_eq!(
        get_parameters(&mut r, 4),
        0x10,
        "the IFSC the card asked for"
    );
    assert_eq!(&handle(&mut r, &message(0x62, 5, &[]))[10..], ATR_T1);
    assert_eq!(
        get_parameters(&mut r, 6),
        0xFE,
        "a reset: the ATR's TA3 again"
    );
}

/// CCID 1.1 §5.3.1: a class ABORT whose PC_to_RDR_Abort (same `bSlot`, same
/// `bSeq`) has not come fails every command to the slot with CMD_ABORTED until
/// it does; one that follows its PC_to_RDR_Abort completes the pair.
#[test]
fn class_abort_pairs_with_its_abort_message() {
    let mut r = reader(Some(Profile::t1()), apdu_config());
    class_abort(&mut r, 9);
    answers(
        &mut r,
        &[
            bare(
                "class ABORT first: GetSlotStatus",
                message(0x65, 7, &[]),
                ABORTED,
            ),
            bare(
                "and IccPowerOn",
                message(0x62, 8, &[]),
                [0x80, 0x41, 0xFF, 0x00],
            ),
            bare("an Abort of another bSeq", message(0x72, 8, &[]), ABORTED),
            bare("its Abort: the pair is done", message(0x72, 9, &[]), FINE),
            bare("commands run again", message(0x65, 10, &[]), FINE),
            bare("Abort first", message(0x72, 11, &[]), FINE),
        ],
    );
    // Its class ABORT completes the pair: nothing fails after it.
    class_abort(&mut r, 11);
    answers(
        &mut r,
        &[
            bare("after the pair", message(0x65, 12, &[]), FINE),
            bare("an Abort again", message(0x72, 13, &[]), FINE),
            bare("then another command", message(0x65, 14, &[]), FINE),
        ],
    );
    // The Abort 13 is no longer the last message: its class ABORT comes first
    // of a pair of its own.
    class_abort(&mut r, 13);
    answers(
        &mut r,
        &[
            bare("waiting for Abort 13", message(0x65, 15, &[]), ABORTED),
            bare("Abort 13", message(0x72, 13, &[]), FINE),
        ],
    );
}

/// A class ABORT for a slot a one-slot reader does not have (1, 9, 255):
/// `class_request` refuses it (`bError` 5: the transport stalls the request),
/// and heard as news (`CcidReader::hear`, which cannot fail) it does nothing:
/// slot 0's commands run as before, the slot lacked is refused as before.
#[test]
fn class_abort_of_a_slot_the_reader_lacks_changes_nothing() {
    let mut r = reader(Some(Profile::t1()), apdu_config());
    for slot in [1u8, 9, 255] {
        assert_eq!(
            r.class_request(ClassRequest::Abort, u16::from(slot) | 7 << 8, &mut []),
            Err(SlotError::BadField(5))
        );
        r.hear(Notice::ClassAbort { slot, seq: 7 });
    }
    answers(
        &mut r,
        &[
            bare(
                "slot 0: its status, not CMD_ABORTED",
                message(0x65, 8, &[]),
                FINE,
            ),
            bare(
                "slot 1: still no such slot",
                message_with(0x65, 1, 9, [0; 3], &[]),
                [0x81, 0x42, 0x05, 0x03],
            ),
        ],
    );
}

/// A PC_to_RDR_Abort whose `dwLength` is not 0 (CCID 1.1 §6.1.13: a header
/// alone) is a malformed message, not the Abort a class ABORT pairs with
/// (§5.3.1). After the class ABORT (bSeq 5) it fails CMD_ABORTED as any other
/// message and the slot still waits for its Abort; before the class ABORT
/// (bSeq 6) it is answered bError 1 and is not the slot's last Abort, so the
/// class ABORT that follows starts a pair of its own. Before, the first
/// completed the pair (answered bError 1, the next GetSlotStatus as usual) and
/// the second made the class ABORT complete (the GetSlotStatus after it as
/// usual).
#[test]
fn a_malformed_abort_is_not_the_one_a_class_abort_waits_for() {
    let mut r = reader(Some(Profile::t1()), apdu_config());
    let bad_length = [0x81, 0x41, 0x01, 0x03];
    // dwLength 1 with its byte; dwLength 1 without it (a short transfer).
    let with_data = |seq| message(0x72, seq, &[0xAA]);
    let lacking_data = |seq| message(0x72, seq, &[0xAA])[..10].to_vec();
    class_abort(&mut r, 5);
    answers(
        &mut r,
        &[
            bare("a byte of data", with_data(5), ABORTED),
            bare("a byte short", lacking_data(5), ABORTED),
            bare("still waiting", message(0x65, 7, &[]), ABORTED),
            bare("its Abort", message(0x72, 5, &[]), FINE),
            bare("bError 1, no pair waits", with_data(6), bad_length),
        ],
    );
    class_abort(&mut r, 6);
    answers(
        &mut r,
        &[
            bare("a pair of its own", message(0x65, 8, &[]), ABORTED),
            bare("its Abort", message(0x72, 6, &[]), FINE),
            bare("commands run", message(0x65, 9, &[]), FINE),
        ],
    );
}

#[test]
fn t0_case1_and_case4_at_tpdu_level() {
    let mut r = reader(Some(Profile::t0()), twin::Profile::GemPcTwin.config());
    assert_eq!(&handle(&mut r, &message(0x62, 1, &[]))[10..], ATR_T0);
    // libccid's PPS for TA1 = 95: the core negotiates it and the answer echoes it.
    let answer = handle(
        &mut r,
        &message_with(0x6F, 0, 2, [0, 4, 0], &[0xFF, 0x10, 0x95, 0x7A]),
    );
    assert_eq!(
        answer,
        reply(0x80, 2, 0x00, 0x00, 0x00, &[0xFF, 0x10, 0x95, 0x7A])
    );
    // SetParameters T=0 with the negotiated Fi/Di.
    let answer = handle(&mut r, &message(0x61, 3, &[0x95, 0x00, 0x00, 0x0A, 0x00]));
    assert_eq!(answer[..10], header(0x82, 5, 0, 3, 0x00, 0x00, 0x00)[..]);
    assert_eq!(answer[10], 0x95);
    let answer = handle(&mut r, &message(0x6F, 4, &[0x00, 0x12, 0x00, 0x00]));
    assert_eq!(&answer[10..], &[0x6D, 0x00]);
    let answer = handle(&mut r, &message(0x6F, 5, &[0x80, 0xEE, 0, 0, 1, 0x5A, 0]));
    assert_eq!(&answer[10..], &[0x5A, 0x90, 0x00]);
}

#[test]
fn slot_changes_are_notified_once() {
    let slots = [slot(Some(Profile::t1())), slot(None)];
    let mut r = CcidReader::new(&slots, twin::Profile::Sec1210.config()).unwrap();
    let mut out = [0u8; 8];
    assert_eq!(r.slot_change(&mut out), Some(2));
    assert_eq!(out[..2], [0x50, 0b0000_1011]);
    assert_eq!(r.slot_change(&mut out), None);
    slots[0].with_driver(|d| d.line_mut().remove());
    slots[0].card_removed();
    assert_eq!(r.slot_change(&mut out), Some(2));
    assert_eq!(out[..2], [0x50, 0b0000_0010]);
    assert_eq!(r.slot_change(&mut out), None);
    // A card put in: present, changed.
    let put_in = || {
        let card = Card::create(Config::new(Profile::t1()));
        slots[0].with_driver(|d| d.line_mut().insert(card));
        slots[0].card_inserted();
    };
    put_in();
    assert_eq!(r.slot_change(&mut out), Some(2));
    assert_eq!(out[..2], [0x50, 0b0000_0011]);
    // Taken out and another put in between two looks: present, as last
    // notified, but changed (a new card).
    slots[0].with_driver(|d| d.line_mut().remove());
    slots[0].card_removed();
    put_in();
    assert_eq!(r.slot_change(&mut out), Some(2));
    assert_eq!(out[..2], [0x50, 0b0000_0011], "a card swapped");
    assert_eq!(r.slot_change(&mut out), None);
    // A hardware error carries the seq of the slot's last command.
    handle(&mut r, &message_with(0x65, 1, 0x33, [0; 3], &[]));
    assert_eq!(r.hardware_error(1, 1, &mut out), Some(4));
    assert_eq!(out[..4], [0x51, 1, 0x33, 1]);
    // Descriptor of the two-slot reader.
    let d = r.descriptor();
    assert_eq!(d.max_slot_index, 1);
    assert_eq!(d.default_clock_khz, 4000, "the first slot's capabilities");
    assert_eq!(d.features & 0x0007_0000, 0x0001_0000);
}

#[test]
fn time_extension_and_slot_busy_answers() {
    let r = reader(Some(Profile::t1()), apdu_config());
    let mut out = [0u8; 16];
    assert_eq!(r.time_extension(0, 5, 3, &mut out), Some(10));
    assert_eq!(out[..10], header(0x80, 0, 0, 5, 0x81, 3, 0)[..]);
    let m = message(0x6F, 6, &[0, 0x84, 0, 0, 8]);
    assert_eq!(r.slot_busy(&m, &mut out), Some(10));
    assert_eq!(out[..10], header(0x80, 0, 0, 6, 0x41, 0xE0, 0)[..]);
    let _ = ReaderCapabilities::typical();
    let _ = ExchangeLevel::Tpdu;
}

#[test]
fn set_parameters_with_default_fidi_selects_without_pps() {
    let mut r = reader(Some(Profile::t1()), twin::Profile::Sec1210.config());
    assert_eq!(&handle(&mut r, &message(0x62, 1, &[]))[10..], ATR_T1);
    // What libccid sends a SEC1210 (automatic PPS by the reader): T=1 at 11.
    let answer = handle(
        &mut r,
        &message_with(0x61, 0, 2, [1, 0, 0], &[0x11, 0x10, 0, 0x45, 0, 0xFE, 0]),
    );
    let parameters = [0x11, 0x10, 0x00, 0x45, 0x00, 0xFE, 0x00];
    assert_eq!(answer, reply(0x82, 2, 0x00, 0x00, 0x01, &parameters));
    // At the default F/D, ResetParameters answers the parameters in force.
    let answer = handle(&mut r, &message(0x6D, 21, &[]));
    assert_eq!(answer[..10], header(0x82, 7, 0, 21, 0x00, 0x00, 0x01)[..]);
    assert_eq!(answer[10], 0x11);
    // Asking for T=0 now that T=1 is in force: bError 7 (bProtocolNum).
    assert_eq!(
        handle(
            &mut r,
            &message_with(0x61, 0, 3, [0, 0, 0], &[0x11, 0, 0, 0x0A, 0])
        ),
        header(0x82, 0, 0, 3, 0x40, 0x07, 0x00)
    );
}

#[test]
fn extended_apdu_in_one_message_and_chaining_refused() {
    let slots = [slot(Some(Profile::t1()))];
    let config = CcidConfig {
        level: ExchangeLevel::ExtendedApdu,
        max_message_len: 1024,
        ..CcidConfig::short_apdu()
    };
    let mut r = CcidReader::new(&slots, config).unwrap();
    let mut answer = [0u8; 1024];
    let power_on = message(0x62, 1, &[]);
    assert_eq!(r.handle(&power_on, &mut answer), Ok(10 + ATR_T1.len()));
    // ECHO of 300 bytes, extended form: through the core's T=1 engine (chained
    // both ways on the card side).
    let data: Vec<u8> = (0..300u16).map(|i| (i * 3) as u8).collect();
    let mut apdu = vec![0x80, 0xEE, 0x00, 0x00, 0x00, 0x01, 0x2C];
    apdu.extend_from_slice(&data);
    apdu.extend_from_slice(&[0x00, 0x00]);
    let len = r.handle(&message(0x6F, 2, &apdu), &mut answer).unwrap();
    let response = [&data[..], &[0x90, 0x00]].concat();
    assert_eq!(answer[..len], reply(0x80, 2, 0x00, 0x00, 0x00, &response));
    // An answer buffer too short for the response: overrun.
    let len = r
        .handle(&message(0x6F, 3, &apdu), &mut answer[..200])
        .unwrap();
    assert_eq!(answer[..len], header(0x80, 0, 0, 3, 0x40, 0xFC, 0x00)[..]);
    // wLevelParameter 1 (an APDU that begins and continues): refused, bError 8.
    assert_eq!(
        handle(&mut r, &message_with(0x6F, 0, 4, [0, 1, 0], &apdu[..100])),
        header(0x80, 0, 0, 4, 0x40, 0x08, 0x00)
    );
    // The slot is still usable after the overrun.
    let answer = handle(&mut r, &message(0x6F, 5, &[0x80, 0xEE, 0, 0, 1, 0x77, 0]));
    assert_eq!(&answer[10..], &[0x77, 0x90, 0x00]);
}

/// An Escape handler with a 300-byte answer: longer than a 271-byte message.
fn long_escape(
    _: &mut readerkit_ccid::EscapeContext,
    _: &[u8],
    answer: &mut [u8],
) -> Result<usize, readerkit_ccid::SlotError> {
    let out = answer
        .get_mut(..300)
        .ok_or(readerkit_ccid::SlotError::XfrOverrun)?;
    out.fill(0x5A);
    Ok(300)
}

/// `dwMaxCCIDMessageLength` bounds every answer, whatever the transport's
/// buffer: a reader declaring 271 bytes answered into a 1024-byte buffer fails
/// a longer response with XFR_OVERRUN (a host reads at most what the
/// descriptor promised: libusb reports an overflow for the rest), and the
/// slot stays usable.
#[test]
fn answers_never_exceed_the_declared_message_length() {
    let slots = [slot(Some(Profile::t1()))];
    let config = CcidConfig {
        level: ExchangeLevel::ExtendedApdu,
        escape: Some(long_escape),
        ..CcidConfig::short_apdu()
    };
    let mut r = CcidReader::new(&slots, config).unwrap();
    assert_eq!(r.descriptor().max_message_len, 271);
    let mut answer = [0u8; 1024];
    let power_on = message(0x62, 1, &[]);
    assert_eq!(r.handle(&power_on, &mut answer), Ok(10 + ATR_T1.len()));
    // GET CHALLENGE of 300 bytes (extended Le, a 7-byte command): its 302-byte
    // response fits the buffer but not a 271-byte message.
    let challenge = [0x00, 0x84, 0x00, 0x00, 0x00, 0x01, 0x2C];
    let len = r
        .handle(&message(0x6F, 2, &challenge), &mut answer)
        .unwrap();
    assert_eq!(
        answer[..len],
        header(0x80, 0, 0, 2, 0x40, 0xFC, 0x00)[..],
        "a 302-byte response in a 271-byte reader"
    );
    // 259 bytes of challenge and SW: 271 bytes, the longest message, goes out.
    let challenge = [0x00, 0x84, 0x00, 0x00, 0x00, 0x01, 0x03];
    let len = r
        .handle(&message(0x6F, 3, &challenge), &mut answer)
        .unwrap();
    assert_eq!(
        (len, &answer[..10]),
        (271, &header(0x80, 261, 0, 3, 0, 0, 0)[..])
    );
    // An Escape answer of 300 bytes, likewise.
    let len = r.handle(&message(0x6B, 4, &[0x01]), &mut answer).unwrap();
    assert_eq!(
        answer[..len],
        header(0x83, 0, 0, 4, 0x40, 0xFC, 0x00)[..],
        "an Escape answer of 300 bytes in a 271-byte reader"
    );
    // The slot still answers.
    let answer = handle(&mut r, &message(0x6F, 5, &[0x80, 0xEE, 0, 0, 1, 0x77, 0]));
    assert_eq!(&answer[10..], &[0x77, 0x90, 0x00]);
}

#[test]
fn t1_blocks_are_relayed_at_tpdu_level_given_the_line() {
    let echo = [0x80, 0xEE, 0x00, 0x00, 0x02, 0xAB, 0xCD, 0x00];
    for with_line in [false, true] {
        let reader = reader(Some(Profile::t1()), twin::Profile::GemPcTwin.config());
        let mut r = if with_line {
            reader.with_line_access(readerkit_ccid::tpdu::line_of)
        } else {
            reader
        };
        assert_eq!(&handle(&mut r, &message(0x62, 1, &[]))[10..], ATR_T1);
        let answer = handle(
            &mut r,
            &message_with(0x61, 0, 2, [1, 0, 0], &[0x96, 0x10, 0, 0x45, 0, 0xFE, 0]),
        );
        assert_eq!(answer[7], 0x00, "T=1 selected");
        let answer = handle(&mut r, &message(0x6F, 3, &block(0x00, &echo)));
        if with_line {
            // The card's I-block, N(S) = 0, as it sent it.
            let card_block = block(0x00, &[0xAB, 0xCD, 0x90, 0x00]);
            assert_eq!(answer, reply(0x80, 3, 0x00, 0x00, 0x00, &card_block));
            // A block whose LEN disagrees with its length: bError 10.
            let mut bad = block(0x40, &echo);
            bad[2] = 3;
            assert_eq!(
                handle(&mut r, &message(0x6F, 4, &bad)),
                header(0x80, 0, 0, 4, 0x40, 10, 0x00)
            );
        } else {
            assert_eq!(
                answer,
                header(0x80, 0, 0, 3, 0x40, 0x00, 0x00),
                "not supported"
            );
        }
    }
}

/// The parts of an XfrBlock exchange: (wLevelParameter, abData) sent, and the
/// answer's (bChainParameter, abData) expected.
type Exchange<'a> = (u16, &'a [u8], u8, &'a [u8]);

/// A reader at the extended APDU level (271-byte messages) over a powered T=1
/// card, chaining through a buffer of `buffer_len` bytes, handed to `test`.
fn with_chaining_reader(buffer_len: usize, test: impl FnOnce(&mut Reader<'_>)) {
    let slots = [slot(Some(Profile::t1()))];
    let config = CcidConfig {
        level: ExchangeLevel::ExtendedApdu,
        ..CcidConfig::short_apdu()
    };
    let mut buffer = vec![0u8; buffer_len];
    let mut r = CcidReader::new(&slots, config)
        .unwrap()
        .with_apdu_buffer(&mut buffer);
    let power_on = handle(&mut r, &message(0x62, 1, &[]));
    assert_eq!(power_on[10..], ATR_T1);
    test(&mut r);
}

#[test]
fn extended_apdu_chained_across_messages_both_ways() {
    with_chaining_reader(1300, chained_both_ways);
}

fn chained_both_ways(r: &mut Reader<'_>) {
    let mut answer = [0u8; 271];
    // ECHO of 600 bytes, extended form: 609 bytes of command in parts of 261
    // (dwMaxCCIDMessageLength 271 - 10), 602 of response likewise.
    let data: Vec<u8> = (0..600u16).map(|i| (i * 7) as u8).collect();
    let mut apdu = vec![0x80, 0xEE, 0x00, 0x00, 0x00, 0x02, 0x58];
    apdu.extend_from_slice(&data);
    apdu.extend_from_slice(&[0x00, 0x00]);
    let mut response = data.clone();
    response.extend_from_slice(&[0x90, 0x00]);
    let steps: [Exchange; 6] = [
        (0x01, &apdu[..261], 0x10, &[]),
        (0x03, &apdu[261..522], 0x10, &[]),
        (0x02, &apdu[522..], 0x01, &response[..261]),
        (0x10, &[], 0x03, &response[261..522]),
        (0x10, &[], 0x02, &response[522..]),
        // Nothing more to send: wLevelParameter 10 is out of place.
        (0x10, &[], 0x00, &[]),
    ];
    for (i, (level, part, chain, expected)) in steps.into_iter().enumerate() {
        let seq = 2 + i as u8;
        let [lo, hi] = level.to_le_bytes();
        let len = r
            .handle(&message_with(0x6F, 0, seq, [0, lo, hi], part), &mut answer)
            .unwrap();
        let (status, error) = if i == 5 { (0x40, 0x08) } else { (0x00, 0x00) };
        let whole = reply(0x80, seq, status, error, chain, expected);
        assert_eq!(answer[..len], whole, "step {i}");
    }
    // A whole APDU answers through the buffer with bChainParameter 00.
    let answer = handle(r, &message(0x6F, 9, &[0x80, 0xEE, 0, 0, 1, 0x77, 0]));
    assert_eq!(answer, reply(0x80, 9, 0, 0, 0, &[0x77, 0x90, 0x00]));
}

#[test]
fn extended_apdu_chaining_refusals() {
    with_chaining_reader(300, chaining_refusals);
}

fn chaining_refusals(r: &mut Reader<'_>) {
    let part = [0x11u8; 200];
    let refused = |seq, error| header(0x80, 0, 0, seq, 0x40, error, 0);
    // Continues or ends without a beginning; an unknown wLevelParameter.
    for (seq, level) in [(2u8, [0, 3, 0]), (3, [0, 2, 0]), (4, [0, 4, 0])] {
        assert_eq!(
            handle(r, &message_with(0x6F, 0, seq, level, &part)),
            refused(seq, 8)
        );
    }
    // Longer than the buffer: overrun, and the parts are dropped.
    handle(r, &message_with(0x6F, 0, 5, [0, 1, 0], &part));
    assert_eq!(
        handle(r, &message_with(0x6F, 0, 6, [0, 3, 0], &part)),
        refused(6, 0xFC)
    );
    assert_eq!(
        handle(r, &message_with(0x6F, 0, 7, [0, 2, 0], &part[..1])),
        refused(7, 8)
    );
    // Another command for the slot drops the parts collected.
    handle(r, &message_with(0x6F, 0, 8, [0, 1, 0], &part[..4]));
    handle(r, &message(0x65, 9, &[]));
    assert_eq!(
        handle(r, &message_with(0x6F, 0, 10, [0, 2, 0], &part[..1])),
        refused(10, 8)
    );
    // A request for more of the response must have no data.
    let bad_length = header(0x80, 0, 0, 11, 0x40, 0x01, 0);
    assert_eq!(
        handle(r, &message_with(0x6F, 0, 11, [0, 0x10, 0], &[1])),
        bad_length
    );
    // The response does not fit behind the command in the buffer: overrun.
    let mut apdu = vec![0x80, 0xEE, 0x00, 0x00, 0x00, 0x00, 0x96];
    apdu.extend_from_slice(&[0x22; 150]);
    apdu.extend_from_slice(&[0x00, 0x00]);
    handle(r, &message_with(0x6F, 0, 12, [0, 1, 0], &apdu[..100]));
    let len = apdu.len();
    assert_eq!(
        handle(r, &message_with(0x6F, 0, 13, [0, 2, 0], &apdu[100..len])),
        refused(13, 0xFC)
    );
}

/// GET_FIRMWARE_FEATURES (Escape 6A) through the reader: the handler sees the
/// keypad the reader was given, so the PIN features follow `with_pin_support`.
#[test]
fn firmware_features_follow_the_keypad() {
    let features = |support: PinSupport| {
        let mut r = reader(None, apdu_config()).with_pin_support(support);
        let answer = handle(&mut r, &message(0x6B, 3, &[0x6A]));
        assert_eq!(answer[..10], header(0x83, 21, 0, 3, 0x02, 0x00, 0x00));
        answer[10..].to_vec()
    };
    let mut none = [0u8; 21];
    none[12] = 0x01;
    assert_eq!(features(PinSupport::NONE), none);
    let mut pad = none;
    pad[3] = 0x07; // max size, OK key, timeout: all the core's entry knows
    pad[4] = 0x60; // VerifyPinDirect, ModifyPinDirect
    pad[8] = 0x04; // bNumberMessageFix
    pad[13..15].copy_from_slice(&[1, 32]);
    assert_eq!(features(PinSupport::BOTH), pad);
}

/// A card swapped between two looks is a change however many insertions came
/// in between: 256 (where a count kept to its low byte would see the same
/// card) and 257. The core applies each event as it comes (a look at its
/// insertion count does it), as it would between CCID's looks.
#[test]
fn slot_change_sees_a_swap_after_256_insertions() {
    let slots = [slot(Some(Profile::t1()))];
    let mut r = CcidReader::new(&slots, CcidConfig::short_apdu()).unwrap();
    let mut out = [0u8; 2];
    assert_eq!(r.slot_change(&mut out), Some(2), "the first look reports");
    for swaps in [256u32, 257] {
        let before = slots[0].card_insertions();
        for _ in 0..swaps {
            slots[0].card_removed();
            slots[0].card_inserted();
            slots[0].card_insertions();
        }
        assert_eq!(slots[0].card_insertions(), before + swaps);
        assert_eq!(r.slot_change(&mut out), Some(2), "{swaps} swaps");
        assert_eq!(out, [0x50, 0b0000_0011], "present, changed");
        assert_eq!(r.slot_change(&mut out), None);
    }
}

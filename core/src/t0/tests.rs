//! T=0 engine tests: scripted exchanges, every error path, a model card and random replies.

use super::*;
use crate::status::Status;
use readerkit_testkit::rng::Rng;
use std::collections::VecDeque;
use std::vec::Vec;

/// One step of a scripted card: once the reader has sent `expect` (since the last
/// step), the card answers `reply`.
type Step<'s> = (&'s [u8], &'s [u8]);

struct Run {
    result: Result<Vec<u8>, Error>,
    sent: Vec<Vec<u8>>,
    steps_done: usize,
}

/// Drive an exchange against a scripted card, feeding the card's bytes in parts of
/// at most `split` bytes (regardless of what the engine asked for).
fn run(apdu: &[u8], cap: usize, cfg: Config, script: &[Step<'_>], split: usize) -> Run {
    let mut buf = std::vec![0xEEu8; cap];
    let mut sent = Vec::new();
    let mut acc = Vec::new();
    let mut card: VecDeque<u8> = VecDeque::new();
    let mut step = 0;
    let mut ex = match Exchange::new(apdu, &mut buf, cfg) {
        Ok(ex) => ex,
        Err(e) => {
            return Run {
                result: Err(e),
                sent,
                steps_done: 0,
            };
        }
    };
    let mut action = ex.action();
    for _ in 0..1_000_000 {
        action = match action {
            Ok(Action::Send(b)) => {
                assert!(!b.is_empty());
                sent.push(b.to_vec());
                acc.extend_from_slice(b);
                let next = ex.sent();
                if let Some((expect, reply)) = script.get(step) {
                    if acc == *expect {
                        card.extend(reply.iter());
                        acc.clear();
                        step += 1;
                    }
                }
                next
            }
            Ok(Action::Expect { count, timeout_us }) => {
                assert!(count > 0);
                assert_eq!(timeout_us, cfg.waiting_time_us);
                if card.is_empty() {
                    ex.timeout()
                } else if split == SLOTS {
                    // Data straight into the response buffer, the rest fed.
                    if let Some(slot) = ex.data_slot() {
                        assert!(slot.len() <= count);
                        let n = slot.len().min(card.len());
                        for (dst, src) in slot.iter_mut().zip(card.drain(..n)) {
                            *dst = src;
                        }
                        ex.received(n)
                    } else {
                        let n = count.min(card.len());
                        let part: Vec<u8> = card.drain(..n).collect();
                        ex.feed(&part)
                    }
                } else {
                    let n = split.min(card.len());
                    let part: Vec<u8> = card.drain(..n).collect();
                    ex.feed(&part)
                }
            }
            Ok(Action::Done { response_len }) => {
                assert!(card.is_empty(), "card bytes left over");
                let r = ex.response().unwrap().to_vec();
                assert_eq!(r.len(), response_len);
                return Run {
                    result: Ok(r),
                    sent,
                    steps_done: step,
                };
            }
            Err(e) => {
                return Run {
                    result: Err(e),
                    sent,
                    steps_done: step,
                };
            }
        };
    }
    panic!("exchange did not terminate");
}

fn cfg() -> Config {
    Config::new(1_000)
}

/// `split` for [`run`]: data through [`Exchange::data_slot`] and
/// [`Exchange::received`], everything else fed as the engine asks.
const SLOTS: usize = 0;

/// Run with every split from 1 to 8, one huge one and data slots; all must agree.
fn run_all_splits(apdu: &[u8], cap: usize, c: Config, script: &[Step<'_>]) -> Run {
    let first = run(apdu, cap, c, script, usize::MAX);
    for split in [SLOTS, 1, 2, 3, 4, 5, 6, 7, 8] {
        let r = run(apdu, cap, c, script, split);
        assert_eq!(r.result, first.result, "split {split}");
        assert_eq!(r.sent, first.sent, "split {split}");
    }
    first
}

fn flat(sent: &[Vec<u8>]) -> Vec<u8> {
    sent.concat()
}

/// An exchange of `apdu` into `buf` whose command header has gone out.
fn header_sent<'a>(apdu: &'a [u8], buf: &'a mut [u8]) -> Exchange<'a> {
    let mut ex = Exchange::new(apdu, buf, cfg()).unwrap();
    assert!(ex.sent().is_ok());
    ex
}

#[test]
fn data_slot_takes_a_burst_in_place() {
    let apdu = [0x00, 0x84, 0x00, 0x00, 0x04];
    let mut buf = [0u8; 16];
    let mut ex = Exchange::new(&apdu, &mut buf, cfg()).unwrap();
    let expect = |count| {
        Ok(Action::Expect {
            count,
            timeout_us: 1_000,
        })
    };
    assert!(ex.data_slot().is_none(), "header to send");
    assert_eq!(ex.sent(), expect(1));
    assert!(ex.data_slot().is_none(), "procedure byte expected");
    assert_eq!(ex.feed(&[0x84]), expect(4));
    let slot = ex.data_slot().unwrap();
    assert_eq!(slot.len(), 4);
    slot[..3].copy_from_slice(&[1, 2, 3]);
    assert_eq!(ex.received(3), expect(1));
    assert_eq!(ex.received(0), expect(1));
    let slot = ex.data_slot().unwrap();
    assert_eq!(slot.len(), 1);
    slot[0] = 4;
    assert_eq!(ex.received(1), expect(1));
    assert!(ex.data_slot().is_none(), "SW1 expected");
    assert_eq!(ex.feed(&[0x90, 0x00]), Ok(Action::Done { response_len: 6 }));
    assert_eq!(ex.into_response(), Ok(&[1, 2, 3, 4, 0x90, 0x00][..]));
}

/// A driver step of [`zero_bytes_in_every_state`].
enum DriverStep {
    Sent,
    Feed(&'static [u8]),
    Timeout,
}

/// `feed(&[])` and `received(0)` in every state (the module documentation's
/// rule): the first is taken wherever the exchange runs, the second only with
/// a data slot; refused otherwise; neither changes anything.
#[test]
fn zero_bytes_in_every_state() {
    use DriverStep::{Feed, Sent, Timeout};
    const GET4: &[u8] = &[0x00, 0x84, 0x00, 0x00, 0x04];
    const UPDATE1: &[u8] = &[0x00, 0xD6, 0x00, 0x00, 0x01, 0x11];
    // State, APDU, response buffer length, the steps there, whether a data
    // slot is open there.
    type Row = (
        &'static str,
        &'static [u8],
        usize,
        &'static [DriverStep],
        bool,
    );
    let rows: [Row; 8] = [
        ("header to send", GET4, 16, &[], false),
        ("procedure byte", GET4, 16, &[Sent], false),
        ("data, slot", GET4, 16, &[Sent, Feed(&[0x84])], true),
        (
            "data, buffer full",
            GET4,
            4,
            &[Sent, Feed(&[0x84, 1, 2])],
            false,
        ),
        ("SW2", GET4, 16, &[Sent, Feed(&[0x90])], false),
        ("data to send", UPDATE1, 16, &[Sent, Feed(&[0xD6])], false),
        ("complete", GET4, 16, &[Sent, Feed(&[0x90, 0x00])], false),
        ("failed", GET4, 16, &[Sent, Timeout], false),
    ];
    for (state, apdu, cap, steps, slot) in rows {
        for zero in ["feed", "received"] {
            let mut buf = [0u8; 16];
            let mut ex = Exchange::new(apdu, &mut buf[..cap], cfg()).unwrap();
            for step in steps {
                let _ = match step {
                    Sent => ex.sent(),
                    Feed(bytes) => ex.feed(bytes),
                    Timeout => ex.timeout(),
                };
            }
            assert_eq!(ex.data_slot().is_some(), slot, "{state}: data slot");
            let running = !matches!(ex.state, State::Complete { .. } | State::Failed(_));
            let before = pending(&mut ex);
            let (taken, r) = match zero {
                "feed" => (running, std::format!("{:?}", ex.feed(&[]))),
                _ => (slot, std::format!("{:?}", ex.received(0))),
            };
            let expected = if taken {
                std::format!("{:?}", ex.action())
            } else {
                std::format!("{:?}", Err::<Action<'_>, _>(Error::Sequence))
            };
            assert_eq!(r, expected, "{zero} zero bytes at {state}");
            assert_eq!(pending(&mut ex), before, "{zero} zero bytes at {state}");
        }
    }
}

#[test]
fn received_beyond_the_slot_or_out_of_turn_is_refused() {
    let apdu = [0x00, 0x84, 0x00, 0x00, 0x04];
    let mut buf = [0u8; 16];
    let mut ex = header_sent(&apdu, &mut buf);
    assert!(ex.feed(&[0x84]).is_ok());
    assert_eq!(ex.received(5), Err(Error::Sequence));
    assert_eq!(
        ex.action(),
        Ok(Action::Expect {
            count: 4,
            timeout_us: 1_000
        })
    );

    let mut ex = header_sent(&apdu, &mut buf);
    assert_eq!(ex.received(1), Err(Error::Sequence));

    // Data that does not fit the buffer gets no slot: feed drops it.
    let mut buf = [0u8; 4];
    let mut ex = header_sent(&apdu, &mut buf);
    assert!(ex.feed(&[0x84]).is_ok());
    assert_eq!(ex.data_slot().map(|s| s.len()), Some(2));
    assert!(ex.received(2).is_ok());
    assert!(ex.data_slot().is_none());
    assert_eq!(
        ex.feed(&[3, 4, 0x90, 0x00]),
        Err(Error::ResponseBufferTooSmall)
    );
}

#[test]
fn case_1_gets_p3_zero_and_an_ack_is_a_protocol_error() {
    let apdu = [0x00, 0x70, 0x00, 0x00];
    let header = [0x00, 0x70, 0x00, 0x00, 0x00];
    let r = run_all_splits(&apdu, 2, cfg(), &[(&header, &[0x90, 0x00])]);
    assert_eq!(r.result, Ok(std::vec![0x90, 0x00]));
    assert_eq!(r.sent, [header.to_vec()]);
    // An ACK: there are no data to send.
    let r = run(&apdu, 2, cfg(), &[(&header, &[0x70])], 1);
    assert_eq!(r.result, Err(Error::UnexpectedProcedureByte(0x70)));
    assert_eq!(
        Status::from(r.result.unwrap_err()),
        Status::DeviceProtocolError
    );
}

#[test]
fn case_2s_ack_all() {
    let apdu = [0x00, 0x84, 0x00, 0x00, 0x08];
    let reply = [0x84, 1, 2, 3, 4, 5, 6, 7, 8, 0x90, 0x00];
    let r = run_all_splits(&apdu, 10, cfg(), &[(&apdu, &reply)]);
    assert_eq!(r.result, Ok(std::vec![1, 2, 3, 4, 5, 6, 7, 8, 0x90, 0x00]));
}

#[test]
fn case_2s_null_bytes_and_one_byte_acks() {
    let apdu = [0x00, 0x84, 0x00, 0x00, 0x03];
    // NULL, NULL, INS^FF + 1 byte, NULL, INS^FF + 1 byte, INS + rest, NULL, SW.
    let reply = [
        0x60, 0x60, 0x7B, 0xA1, 0x60, 0x7B, 0xA2, 0x84, 0xA3, 0x60, 0x90, 0x00,
    ];
    let r = run_all_splits(&apdu, 64, cfg(), &[(&apdu, &reply)]);
    assert_eq!(r.result, Ok(std::vec![0xA1, 0xA2, 0xA3, 0x90, 0x00]));
}

#[test]
fn case_2s_le_zero_is_256() {
    let apdu = [0x00, 0xB0, 0x00, 0x00, 0x00];
    let mut reply = std::vec![0xB0];
    reply.extend((0..=255u8).collect::<Vec<_>>());
    reply.extend([0x90, 0x00]);
    let r = run_all_splits(&apdu, 258, cfg(), &[(&apdu, &reply)]);
    let resp = r.result.unwrap();
    assert_eq!(resp.len(), 258);
    assert_eq!(&resp[256..], [0x90, 0x00]);
}

/// READ BINARY with Le = 16 answered `6C 04`: the resend with P3 = 04 brings 4
/// bytes. GET CHALLENGE with Le = 4 answered `6C 08`: the resend brings 8, of which
/// the response keeps the first 4 and the status word (ISO/IEC 7816-4:1995 Annex A,
/// La > Le), so a buffer of Ne + 2 bytes holds it, in place (data slots) or fed in
/// any split; a smaller one still fails.
#[test]
fn case_2s_6cxx_resends_with_corrected_p3() {
    let cases: [(u8, u8, &[u8], &[u8]); 2] = [
        (
            0xB0,
            0x10,
            &[0xB0, 9, 8, 7, 6, 0x90, 0x00],
            &[9, 8, 7, 6, 0x90, 0x00],
        ),
        (
            0x84,
            0x04,
            &[0x84, 1, 2, 3, 4, 5, 6, 7, 8, 0x90, 0x00],
            &[1, 2, 3, 4, 0x90, 0x00],
        ),
    ];
    for (ins, le, reply, response) in cases {
        let apdu = [0x00, ins, 0x00, 0x00, le];
        let la = reply.len() as u8 - 3;
        let resend = [0x00, ins, 0x00, 0x00, la];
        let script: [Step<'_>; 2] = [(&apdu, &[0x6C, la]), (&resend, reply)];
        for cap in [response.len(), 64] {
            let r = run_all_splits(&apdu, cap, cfg(), &script);
            assert_eq!(
                r.result.as_deref(),
                Ok(response),
                "INS {ins:02X}, cap {cap}"
            );
            assert_eq!(flat(&r.sent), [&apdu[..], &resend].concat());
        }
        let r = run_all_splits(&apdu, response.len() - 1, cfg(), &script);
        assert_eq!(r.result, Err(Error::ResponseBufferTooSmall));
    }
}

#[test]
fn case_2s_61xx_in_many_parts() {
    // The card answers 61 02 four times, 2 bytes at a time, then 90 00.
    let apdu = [0x00, 0xCA, 0x01, 0x02, 0x00];
    let gr = [0x00, 0xC0, 0x00, 0x00, 0x02];
    let script: [Step<'_>; 5] = [
        (&apdu, &[0x61, 0x02]),
        (&gr, &[0xC0, 1, 2, 0x61, 0x02]),
        (&gr, &[0xC0, 3, 4, 0x61, 0x02]),
        (&gr, &[0x60, 0x3F, 5, 0x3F, 6, 0x61, 0x02]),
        (&gr, &[0xC0, 7, 8, 0x90, 0x00]),
    ];
    let r = run_all_splits(&apdu, 64, cfg(), &script);
    assert_eq!(r.result, Ok(std::vec![1, 2, 3, 4, 5, 6, 7, 8, 0x90, 0x00]));
    assert_eq!(r.sent.len(), 5);
}

#[test]
fn case_3s_ack_all_and_one_by_one() {
    let apdu = [0x00, 0xD6, 0x00, 0x00, 0x03, 0x11, 0x22, 0x33];
    let r = run_all_splits(
        &apdu,
        2,
        cfg(),
        &[(&apdu[..5], &[0xD6]), (&apdu[5..], &[0x90, 0x00])],
    );
    assert_eq!(r.result, Ok(std::vec![0x90, 0x00]));
    assert_eq!(r.sent, [apdu[..5].to_vec(), apdu[5..].to_vec()]);
    // One byte at a time with INS ^ FF, then the rest with INS.
    let script: [Step<'_>; 4] = [
        (&apdu[..5], &[0x29]),
        (&[0x11], &[0x60, 0x29]),
        (&[0x22], &[0xD6]),
        (&[0x33], &[0x90, 0x00]),
    ];
    let r = run_all_splits(&apdu, 2, cfg(), &script);
    assert_eq!(r.result, Ok(std::vec![0x90, 0x00]));
    assert_eq!(r.sent.len(), 4);
    // An ACK after all data went out is a protocol error.
    let r = run(
        &apdu,
        2,
        cfg(),
        &[(&apdu[..5], &[0xD6]), (&apdu[5..], &[0xD6])],
        1,
    );
    assert_eq!(r.result, Err(Error::UnexpectedProcedureByte(0xD6)));
}

#[test]
fn case_3s_error_before_data() {
    let apdu = [0x00, 0xD6, 0x00, 0x00, 0x02, 0x11, 0x22];
    let r = run_all_splits(&apdu, 2, cfg(), &[(&apdu[..5], &[0x6A, 0x82])]);
    assert_eq!(r.result, Ok(std::vec![0x6A, 0x82]));
    assert_eq!(r.sent.len(), 1);
}

#[test]
fn case_3s_61xx_without_le_is_returned() {
    let apdu = [0x00, 0xD6, 0x00, 0x00, 0x01, 0x11];
    let r = run_all_splits(
        &apdu,
        2,
        cfg(),
        &[(&apdu[..5], &[0xD6]), (&apdu[5..], &[0x61, 0x10])],
    );
    assert_eq!(r.result, Ok(std::vec![0x61, 0x10]));
}

#[test]
fn case_4s_via_get_response() {
    // SELECT by AID with Le = 00: the card answers 61 05, GET RESPONSE brings FCI.
    let apdu = [0x00, 0xA4, 0x04, 0x00, 0x02, 0xA0, 0x00, 0x00];
    let script: [Step<'_>; 3] = [
        (&apdu[..5], &[0xA4]),
        (&apdu[5..7], &[0x61, 0x05]),
        (
            &[0x00, 0xC0, 0x00, 0x00, 0x05],
            &[0xC0, 0x6F, 0x03, 0x84, 0x01, 0xA0, 0x90, 0x00],
        ),
    ];
    let r = run_all_splits(&apdu, 64, cfg(), &script);
    assert_eq!(
        r.result,
        Ok(std::vec![0x6F, 0x03, 0x84, 0x01, 0xA0, 0x90, 0x00])
    );
    // Le is not sent over T=0: the first TPDU is the case 3 part only.
    assert_eq!(r.sent[0], apdu[..5].to_vec());
    assert_eq!(r.sent[1], apdu[5..7].to_vec());
}

#[test]
fn case_4s_9000_without_data_is_just_sw() {
    let apdu = [0x00, 0xA4, 0x04, 0x00, 0x02, 0xA0, 0x00, 0x00];
    let r = run_all_splits(
        &apdu,
        64,
        cfg(),
        &[(&apdu[..5], &[0xA4]), (&apdu[5..7], &[0x90, 0x00])],
    );
    assert_eq!(r.result, Ok(std::vec![0x90, 0x00]));
    assert_eq!(r.sent.len(), 2);
}

#[test]
fn case_4s_get_response_capped_by_le_and_6cxx_on_get_response() {
    // Le = 3 but the card offers 0x10: GET RESPONSE asks for 3.
    let apdu = [0x00, 0xA4, 0x04, 0x00, 0x01, 0xA0, 0x03];
    let script: [Step<'_>; 3] = [
        (&apdu[..5], &[0xA4]),
        (&apdu[5..6], &[0x61, 0x10]),
        (
            &[0x00, 0xC0, 0x00, 0x00, 0x03],
            &[0xC0, 1, 2, 3, 0x61, 0x0D],
        ),
    ];
    let r = run_all_splits(&apdu, 64, cfg(), &script);
    // Ne satisfied: the remaining 61 0D goes to the caller.
    assert_eq!(r.result, Ok(std::vec![1, 2, 3, 0x61, 0x0D]));
    // GET RESPONSE answered 6C 02: asked again with P3 = 02.
    let script: [Step<'_>; 4] = [
        (&apdu[..5], &[0xA4]),
        (&apdu[5..6], &[0x61, 0x02]),
        (&[0x00, 0xC0, 0x00, 0x00, 0x02], &[0x6C, 0x01]),
        (&[0x00, 0xC0, 0x00, 0x00, 0x01], &[0xC0, 0x42, 0x90, 0x00]),
    ];
    let r = run_all_splits(&apdu, 64, cfg(), &script);
    assert_eq!(r.result, Ok(std::vec![0x42, 0x90, 0x00]));
}

#[test]
fn get_response_class_follows_the_policy() {
    let apdu = [0x03, 0xCA, 0x00, 0x00, 0x00];
    let script: [Step<'_>; 2] = [
        (&apdu, &[0x61, 0x01]),
        (&[0x03, 0xC0, 0x00, 0x00, 0x01], &[0xC0, 7, 0x90, 0x00]),
    ];
    assert_eq!(
        run(&apdu, 8, cfg(), &script, 1).result,
        Ok(std::vec![7, 0x90, 0x00])
    );
    let sim = [0xA0, 0xF2, 0x00, 0x00, 0x00];
    let script: [Step<'_>; 2] = [
        (&sim, &[0x61, 0x01]),
        (&[0xA0, 0xC0, 0x00, 0x00, 0x01], &[0xC0, 7, 0x90, 0x00]),
    ];
    let mut c = cfg();
    c.get_response_class = GetResponseClass::FromCommand;
    assert_eq!(
        run(&sim, 8, c, &script, 1).result,
        Ok(std::vec![7, 0x90, 0x00])
    );
    assert_eq!(GetResponseClass::Interindustry.class_for(0xA0), 0x00);
    assert_eq!(GetResponseClass::Interindustry.class_for(0x1C), 0x00);
    assert_eq!(GetResponseClass::Interindustry.class_for(0x7F), 0x4F);
    assert_eq!(GetResponseClass::FromCommand.class_for(0x13), 0x03);
    assert_eq!(GetResponseClass::Fixed(0x80).class_for(0x00), 0x80);
}

#[test]
fn response_buffer_too_small() {
    // Data within one TPDU: read and discarded, then BufferTooSmall.
    let apdu = [0x00, 0x84, 0x00, 0x00, 0x08];
    let reply = [0x84, 1, 2, 3, 4, 5, 6, 7, 8, 0x90, 0x00];
    let r = run_all_splits(&apdu, 9, cfg(), &[(&apdu, &reply)]);
    assert_eq!(r.result, Err(Error::ResponseBufferTooSmall));
    assert_eq!(Status::from(r.result.unwrap_err()), Status::BufferTooSmall);
    // Exactly enough room.
    assert!(run(&apdu, 10, cfg(), &[(&apdu, &reply)], 3).result.is_ok());
    // 61xx announcing more than fits: no GET RESPONSE at all.
    let apdu = [0x00, 0xCA, 0x00, 0x00, 0x00];
    let r = run(&apdu, 6, cfg(), &[(&apdu, &[0x61, 0x05])], 1);
    assert_eq!(r.result, Err(Error::ResponseBufferTooSmall));
    assert_eq!(r.sent.len(), 1);
    // A buffer without room for SW1 SW2.
    let mut tiny = [0u8; 1];
    assert_eq!(
        Exchange::new(&apdu, &mut tiny, cfg()).unwrap_err(),
        Error::ResponseBufferTooSmall
    );
}

#[test]
fn extended_without_envelope() {
    // 2E and 3E/4E with Nc <= 255 map onto short TPDUs.
    let apdu = [0x00, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x03];
    let r = run_all_splits(
        &apdu,
        8,
        cfg(),
        &[(
            &[0x00, 0xB0, 0x00, 0x00, 0x03],
            &[0xB0, 1, 2, 3, 0x90, 0x00],
        )],
    );
    assert_eq!(r.result, Ok(std::vec![1, 2, 3, 0x90, 0x00]));
    // 2E with Ne = 65 536: P3 = 00, then GET RESPONSE.
    let apdu = [0x00, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00];
    let mut first = std::vec![0xB0];
    first.extend(core::iter::repeat_n(0x11, 256));
    first.extend([0x61, 0x02]);
    let script: [Step<'_>; 2] = [
        (&[0x00, 0xB0, 0x00, 0x00, 0x00], &first),
        (
            &[0x00, 0xC0, 0x00, 0x00, 0x02],
            &[0xC0, 0x22, 0x33, 0x90, 0x00],
        ),
    ];
    let resp = run_all_splits(&apdu, 300, cfg(), &script).result.unwrap();
    assert_eq!(resp.len(), 260);
    assert_eq!(&resp[255..], [0x11, 0x22, 0x33, 0x90, 0x00]);
    // 3E with Nc = 300: refused unless ENVELOPE is configured.
    let mut big = std::vec![0x00, 0xD6, 0x00, 0x00, 0x00, 0x01, 0x2C];
    big.extend((0..300u32).map(|i| i as u8));
    let mut buf = [0u8; 2];
    let e = Exchange::new(&big, &mut buf, cfg()).unwrap_err();
    assert_eq!(e, Error::ExtendedNotSupported);
    assert_eq!(Status::from(e), Status::NotSupported);
}

#[test]
fn extended_via_envelope() {
    // 4E, Nc = 300, Le = 00 00: 307 + 2 = 309 bytes = 255 + 54 in two ENVELOPEs.
    let mut big = std::vec![0x00, 0xD6, 0x00, 0x00, 0x00, 0x01, 0x2C];
    big.extend((0..300u32).map(|i| i as u8));
    big.extend([0x00, 0x00]);
    assert_eq!(big.len(), 309);
    let h1 = [0x10, 0xC2, 0x00, 0x00, 0xFF];
    let h2 = [0x00, 0xC2, 0x00, 0x00, 54];
    // The second chunk's first byte goes alone (INS ^ FF), the rest after INS.
    let mut c = cfg();
    c.extended = Extended::Envelope;
    let script: [Step<'_>; 6] = [
        (&h1, &[0xC2]),
        (&big[..255], &[0x90, 0x00]),
        (&h2, &[0x3D]),
        (&big[255..256], &[0xC2]),
        (&big[256..], &[0x61, 0x01]),
        (&[0x00, 0xC0, 0x00, 0x00, 0x01], &[0xC0, 0x5A, 0x90, 0x00]),
    ];
    let r = run_all_splits(&big, 16, c, &script);
    assert_eq!(r.result, Ok(std::vec![0x5A, 0x90, 0x00]));
    assert_eq!(r.sent[0], h1.to_vec());
    assert_eq!(r.sent[2], h2.to_vec());
    // An error status on the first chunk ends the exchange.
    let r = run(
        &big,
        16,
        c,
        &[(&h1, &[0xC2]), (&big[..255], &[0x6D, 0x00])],
        2,
    );
    assert_eq!(r.result, Ok(std::vec![0x6D, 0x00]));
}

#[test]
fn invalid_commands() {
    let mut buf = [0u8; 8];
    assert_eq!(
        Status::from(
            Exchange::new(&[0x00, 0xA4, 0x00, 0x00, 0x08, 0x00], &mut buf, cfg()).unwrap_err()
        ),
        Status::InvalidParameter
    );
    assert_eq!(
        Exchange::new(&[0x00, 0x61, 0, 0], &mut buf, cfg()).unwrap_err(),
        Error::InvalidIns(0x61)
    );
    assert_eq!(
        Exchange::new(&[0x00, 0x9F, 0, 0], &mut buf, cfg()).unwrap_err(),
        Error::InvalidIns(0x9F)
    );
}

#[test]
fn hostile_limits() {
    let apdu = [0x00, 0x84, 0x00, 0x00, 0x08];
    // Endless NULL bytes.
    let nulls = std::vec![0x60; 2000];
    let mut c = cfg();
    c.max_null_bytes = 10;
    let r = run(&apdu, 16, c, &[(&apdu, &nulls[..11])], 4);
    assert_eq!(r.result, Err(Error::TooManyNullBytes));
    assert_eq!(Status::from(r.result.unwrap_err()), Status::IoTimeout);
    let r = run(&apdu, 16, c, &[(&apdu, &[0x60; 10])], 4);
    assert_eq!(r.result, Err(Error::Timeout));
    // Endless 6C xx.
    let mut script: Vec<Step<'_>> = std::vec![(&apdu[..], &[0x6C, 0x08][..])];
    for _ in 0..400 {
        script.push((&apdu[..], &[0x6C, 0x08][..]));
    }
    let r = run(&apdu, 16, cfg(), &script, 2);
    assert_eq!(r.result, Err(Error::TooManyRounds));
    assert_eq!(r.sent.len(), 301);
    // Garbage procedure byte.
    let r = run(&apdu, 16, cfg(), &[(&apdu, &[0x12])], 1);
    assert_eq!(r.result, Err(Error::UnexpectedProcedureByte(0x12)));
    // A byte after SW2, with the engine done.
    let r = run(&apdu, 16, cfg(), &[(&apdu, &[0x90, 0x00, 0x00])], 8);
    assert_eq!(r.result, Err(Error::UnexpectedByte(0x00)));
    // A byte after ACK for outgoing data, before the reader sent it.
    let apdu3 = [0x00, 0xD6, 0x00, 0x00, 0x01, 0x11];
    let r = run(&apdu3, 2, cfg(), &[(&apdu3[..5], &[0xD6, 0x90])], 8);
    assert_eq!(r.result, Err(Error::UnexpectedByte(0x90)));
    // Silence.
    let r = run(&apdu, 16, cfg(), &[], 1);
    assert_eq!(r.result, Err(Error::Timeout));
    assert_eq!(r.steps_done, 0);
}

/// A driver step the engine is not waiting for.
#[derive(Debug, Clone, Copy)]
enum Misuse {
    Sent,
    Received(usize),
    Timeout,
    Feed(&'static [u8]),
}

/// The steps out of order for the pending action: with something to send,
/// any `received` and `timeout`; waiting for the card, `sent`, and `received`
/// without a data slot or past its end; after the end, every step.
fn misuses(ex: &mut Exchange<'_>) -> Vec<Misuse> {
    let slot = ex.data_slot().map(|s| s.len());
    match (ex.action(), slot) {
        (Ok(Action::Send(_)), _) => {
            std::vec![Misuse::Received(0), Misuse::Received(1), Misuse::Timeout]
        }
        (Ok(Action::Expect { .. }), Some(len)) => {
            std::vec![Misuse::Sent, Misuse::Received(len + 1)]
        }
        (Ok(Action::Expect { .. }), None) => {
            std::vec![Misuse::Sent, Misuse::Received(0), Misuse::Received(1)]
        }
        (Ok(Action::Done { .. }) | Err(_), _) => std::vec![
            Misuse::Sent,
            Misuse::Received(0),
            Misuse::Received(1),
            Misuse::Timeout,
            Misuse::Feed(&[]),
            Misuse::Feed(&[0x90, 0x00]),
        ],
    }
}

/// The pending action, the data slot's length and the response, to compare.
fn pending(ex: &mut Exchange<'_>) -> std::string::String {
    let action = std::format!("{:?}", ex.action());
    let slot = ex.data_slot().map(|s| s.len());
    std::format!("{action} slot {slot:?} response {:?}", ex.response())
}

/// Drive GET CHALLENGE-like case 4 through every state of the engine against
/// `card` (silent once it has said everything), trying every misuse of
/// [`misuses`] before each step and at the end: each must be refused with
/// [`Error::Sequence`] and change nothing. How the exchange ended and the
/// number of refusals.
fn refuse_every_misuse(card: &[u8]) -> (Result<Vec<u8>, Error>, usize) {
    let apdu = [0x00, 0x88, 0x00, 0x00, 0x02, 0x11, 0x22, 0x04];
    let mut card: VecDeque<u8> = card.iter().copied().collect();
    let mut buf = [0u8; 16];
    let mut ex = Exchange::new(&apdu, &mut buf, cfg()).unwrap();
    let mut refused = 0;
    loop {
        for misuse in misuses(&mut ex) {
            let before = pending(&mut ex);
            let r = match misuse {
                Misuse::Sent => ex.sent().map(|_| ()),
                Misuse::Received(n) => ex.received(n).map(|_| ()),
                Misuse::Timeout => ex.timeout().map(|_| ()),
                Misuse::Feed(bytes) => ex.feed(bytes).map(|_| ()),
            };
            assert_eq!(r, Err(Error::Sequence), "{misuse:?} at {before}");
            assert_eq!(pending(&mut ex), before, "{misuse:?} changed the exchange");
            refused += 1;
        }
        let _ = match ex.action() {
            Ok(Action::Send(_)) => ex.sent(),
            Ok(Action::Expect { .. }) => match (card.pop_front(), ex.data_slot()) {
                (None, _) => ex.timeout(),
                (Some(b), Some(slot)) => {
                    slot[0] = b;
                    ex.received(1)
                }
                (Some(b), None) => ex.feed(&[b]),
            },
            Ok(Action::Done { .. }) | Err(_) => break,
        };
    }
    assert!(card.is_empty());
    (ex.into_response().map(<[u8]>::to_vec), refused)
}

#[test]
fn a_step_out_of_order_or_after_the_end_is_refused_and_changes_nothing() {
    // Case 4: header, ACK, data out, 61 04, GET RESPONSE, ACK, four bytes
    // of data in (into the data slot), 90 00: every state of the engine.
    // 3 sends (header, data, GET RESPONSE) × 3, 6 procedure / SW bytes × 3,
    // 4 data bytes × 2, then 6 at the end.
    let full = [0x88, 0x61, 0x04, 0xC0, 1, 2, 3, 4, 0x90, 0x00];
    let (end, refused) = refuse_every_misuse(&full);
    assert_eq!(end, Ok(std::vec![1, 2, 3, 4, 0x90, 0x00]));
    assert_eq!(refused, 9 + 18 + 8 + 6);
    // The card falls silent in the middle of the data: failed, and the
    // steps after that are refused the same way.
    let (end, refused) = refuse_every_misuse(&full[..6]);
    assert_eq!(end, Err(Error::Timeout));
    // 3 sends × 3, 4 procedure / SW bytes × 3, 3 data bytes (the third
    // times out) × 2, then 6 at the end.
    assert_eq!(refused, 9 + 12 + 6 + 6);
}

#[test]
fn bytes_while_the_engine_has_something_to_send_are_the_cards() {
    // Case 3: after the ACK the reader sends the data; a byte before that
    // is the card speaking out of turn, in the call of the ACK or in the next.
    let apdu = [0x00, 0xD6, 0x00, 0x00, 0x01, 0x11];
    let mut buf = [0u8; 2];
    for split in [&[0xD6, 0x90][..], &[0xD6]] {
        let mut ex = header_sent(&apdu, &mut buf);
        let r = ex.feed(split).map(|_| ());
        let r = if split.len() == 1 {
            assert_eq!(ex.action(), Ok(Action::Send(&[0x11])));
            ex.feed(&[0x90]).map(|_| ())
        } else {
            r
        };
        assert_eq!(r, Err(Error::UnexpectedByte(0x90)), "split {split:02X?}");
        assert_eq!(ex.action(), Err(Error::UnexpectedByte(0x90)));
    }
    // No bytes: nothing happened.
    let mut ex = Exchange::new(&apdu, &mut buf, cfg()).unwrap();
    assert_eq!(ex.feed(&[]), Ok(Action::Send(&apdu[..5])));
}

#[test]
fn misuse_is_reported() {
    let apdu = [0x00, 0x84, 0x00, 0x00, 0x08];
    let mut buf = [0u8; 16];
    let mut ex = header_sent(&apdu, &mut buf);
    let waiting = std::format!("{:?}", ex.action());
    assert_eq!(ex.sent(), Err(Error::Sequence));
    assert_eq!(
        std::format!("{:?}", ex.action()),
        waiting,
        "a refused step changes nothing"
    );
    assert_eq!(ex.into_response(), Err(Error::Sequence));
    let mut ex = header_sent(&apdu, &mut buf);
    assert_eq!(ex.response(), None);
    assert_eq!(ex.timeout(), Err(Error::Timeout));
    // After the failure every step is refused; the exchange still says how
    // it ended.
    assert_eq!(ex.feed(&[0x90, 0x00]), Err(Error::Sequence));
    assert_eq!(ex.action(), Err(Error::Timeout));
    assert_eq!(ex.into_response(), Err(Error::Timeout));
    assert_eq!(
        Status::from(Error::Sequence),
        Status::InvalidDeviceState,
        "a driver bug, not the card's"
    );
    assert_eq!(
        std::format!("{}", Error::InvalidIns(0x6A)),
        "INS 6A cannot be sent over T=0"
    );
}

/// A random byte.
fn byte(rng: &mut Rng) -> u8 {
    rng.next_u64() as u8
}

fn random_apdu(rng: &mut Rng) -> Vec<u8> {
    let ins = [0xA4, 0xB0, 0xC0, 0xD6, 0x84, 0x20][rng.below(6)];
    let mut a = std::vec![byte(rng) & 0x7F, ins, byte(rng), byte(rng)];
    match rng.below(6) {
        0 => {}
        1 => a.push(byte(rng)),
        2 | 3 => {
            let n = 1 + rng.below(20);
            a.push(n as u8);
            a.extend((0..n).map(|_| byte(rng)));
            if rng.below(2) == 0 {
                a.push(byte(rng));
            }
        }
        4 => a.extend([0, byte(rng) & 1, byte(rng)]),
        _ => {
            let n = 256 + rng.below(300);
            a.extend([0, (n >> 8) as u8, n as u8]);
            a.extend((0..n).map(|_| byte(rng)));
            if rng.below(2) == 0 {
                a.extend([byte(rng) & 1, byte(rng)]);
            }
        }
    }
    a
}

/// An action without its borrow, to compare across steps.
fn owned(action: Result<Action<'_>, Error>) -> Result<(Vec<u8>, usize, usize), Error> {
    action.map(|a| match a {
        Action::Send(b) => (b.to_vec(), 0, 0),
        Action::Expect { count, .. } => (Vec::new(), count, 0),
        Action::Done { response_len } => (Vec::new(), 0, response_len),
    })
}

fn hostile_byte(rng: &mut Rng, ins: u8) -> u8 {
    match rng.below(10) {
        0 => 0x60,
        1 => ins,
        2 => ins ^ 0xFF,
        3 => 0x61,
        4 => 0x6C,
        5 => 0x90,
        6 => 0x00,
        7 => 0xC0 ^ (byte(rng) & 0x3F),
        _ => byte(rng),
    }
}

#[test]
fn hostile_random_cards_never_panic_and_terminate() {
    let mut rng = Rng(0x1234_5678);
    let mut outcomes = [0usize; 2];
    for _ in 0..20_000 {
        let apdu = random_apdu(&mut rng);
        let cap = rng.below(300);
        let mut buf = std::vec![0u8; cap];
        let mut c = Config::new(10);
        c.max_null_bytes = rng.below(20) as u32;
        c.max_rounds = rng.below(40) as u16;
        if rng.below(2) == 0 {
            c.extended = Extended::Envelope;
        }
        let Ok(mut ex) = Exchange::new(&apdu, &mut buf, c) else {
            continue;
        };
        let ins = apdu[1];
        let mut steps = 0u32;
        loop {
            steps += 1;
            assert!(steps < 200_000, "no termination for {apdu:02X?}");
            // What each step returns is what `action` says afterwards.
            let next = match ex.action() {
                Ok(Action::Send(b)) => {
                    assert!(!b.is_empty());
                    if rng.below(50) == 0 {
                        // The card speaks out of turn.
                        owned(ex.feed(&[byte(&mut rng)]))
                    } else {
                        owned(ex.sent())
                    }
                }
                Ok(Action::Expect { count, .. }) => {
                    if rng.below(100) == 0 {
                        owned(ex.timeout())
                    } else {
                        let n = 1 + rng.below(count.min(300) + 3);
                        let part: Vec<u8> = (0..n).map(|_| hostile_byte(&mut rng, ins)).collect();
                        owned(ex.feed(&part))
                    }
                }
                Ok(Action::Done { response_len }) => {
                    assert!(response_len >= 2 && response_len <= cap);
                    outcomes[0] += 1;
                    break;
                }
                Err(_) => {
                    outcomes[1] += 1;
                    break;
                }
            };
            assert_eq!(next, owned(ex.action()));
        }
    }
    // Both ends are reached.
    assert!(outcomes[0] > 0 && outcomes[1] > 0, "{outcomes:?}");
}

/// Which errors leave the card inside the exchange (the LineReader then
/// refuses every command until a reset): none refused before the header went
/// out, none ended after the card's status word.
#[test]
fn errors_that_leave_the_card_mid_exchange() {
    for (error, mid_exchange) in [
        (Error::Apdu(apdu::Error::TooShort), false),
        (Error::InvalidIns(0x60), false),
        (Error::ExtendedNotSupported, false),
        (Error::ResponseBufferTooSmall, false),
        (Error::TooManyRounds, false),
        (Error::UnexpectedProcedureByte(0x55), true),
        (Error::UnexpectedByte(0x55), true),
        (Error::TooManyNullBytes, true),
        (Error::Timeout, true),
        (Error::Sequence, true),
    ] {
        assert_eq!(error.leaves_card_mid_exchange(), mid_exchange, "{error:?}");
    }
}

#[test]
fn an_exchange_says_whether_it_leaves_the_card_mid_exchange() {
    // GET CHALLENGE, Le = 4: the card's ACK, 4 bytes, 90 00.
    let apdu = [0x00, 0x84, 0x00, 0x00, 0x04];
    let card = [0x84, 1, 2, 3, 4, 0x90, 0x00];
    // (case, response buffer, what the card sends, then silence, mid-exchange)
    let cases: [(&str, usize, &[u8], bool); 5] = [
        ("complete", 6, &card, false),
        ("not begun: abandoned", 6, &[], true),
        ("header sent, the card silent", 6, &[], true),
        ("ended by 90 00, the response too large", 5, &card, false),
        ("a byte out of place", 6, &[0x84, 1, 2, 3, 4, 0x12], true),
    ];
    for (case, cap, bytes, mid) in cases {
        let mut response = [0u8; 8];
        let mut ex = Exchange::new(&apdu, &mut response[..cap], cfg()).unwrap();
        if case != "not begun: abandoned" {
            ex.sent().unwrap();
            if bytes.is_empty() {
                assert_eq!(ex.timeout(), Err(Error::Timeout), "{case}");
            } else {
                let _ = ex.feed(bytes);
            }
        }
        assert_eq!(ex.leaves_card_mid_exchange(), mid, "{case}");
    }
}

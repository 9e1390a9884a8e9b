//! PPS tests: request encoding, the exchange's every path, and the choice of parameters.

use super::*;
use crate::status::Status;

const T0_T1: ProtocolMask = ProtocolMask(0x3);

fn reader() -> ReaderLimits<'static> {
    ReaderLimits {
        default_clock_khz: 4_000,
        max_clock_khz: 4_000,
        max_data_rate_bps: 344_086,
        clocks_khz: &[],
        data_rates_bps: &[],
    }
}

#[test]
fn request_bytes_and_pck() {
    let r = Request::new(1, Some(0x96), None, None);
    assert_eq!(r.as_bytes(), [0xFF, 0x11, 0x96, 0x78]);
    let r = Request::new(0, Some(0x13), None, None);
    assert_eq!(r.as_bytes(), [0xFF, 0x10, 0x13, 0xFC]);
    let r = Request::new(1, None, None, None);
    assert_eq!(r.as_bytes(), [0xFF, 0x01, 0xFE]);
    let r = Request::new(0, Some(0x18), Some(0x02), Some(0x03));
    assert_eq!(
        r.as_bytes(),
        [
            0xFF,
            0x70,
            0x18,
            0x02,
            0x03,
            0xFF ^ 0x70 ^ 0x18 ^ 0x02 ^ 0x03
        ]
    );
    assert_eq!(
        (r.pps1(), r.pps2(), r.pps3()),
        (Some(0x18), Some(2), Some(3))
    );
    let r = Request::new(1, None, Some(0x05), None);
    assert_eq!(r.as_bytes(), [0xFF, 0x21, 0x05, 0xDB]);
    assert_eq!(
        (r.pps1(), r.pps2(), r.pps3(), r.protocol()),
        (None, Some(5), None, 1)
    );
    assert_eq!(xor(r.as_bytes()), 0);
}

#[test]
fn ta1_96_with_a_4_mhz_344_kbps_reader() {
    let offer = CardOffer::negotiable(0x96, T0_T1, 0);
    let n = negotiate(&offer, &reader(), &Wanted::optimal(Protocol::T1)).unwrap();
    // F = 512, D = 32 at 4 MHz = 250 000 bit/s <= 344 086.
    assert_eq!(
        n.timing,
        Timing {
            f: 512,
            d: 32,
            clock_khz: 4_000
        }
    );
    assert_eq!(n.timing.baud(), 250_000);
    assert_eq!(n.request.unwrap().as_bytes(), [0xFF, 0x11, 0x96, 0x78]);
    assert_eq!(n.default_timing, Timing::default_at(4_000));
    // The card echoes: the new timing applies.
    let echo = Response::parse(&[0xFF, 0x11, 0x96, 0x78]).unwrap();
    assert_eq!(n.accept(&echo), Ok(n.timing));
}

#[test]
fn ta1_11_needs_no_pps() {
    let offer = CardOffer::negotiable(0x11, T0_T1, 0);
    let n = negotiate(&offer, &reader(), &Wanted::optimal(Protocol::T0)).unwrap();
    assert_eq!(n.request, None);
    assert_eq!(n.timing, Timing::default_at(4_000));
    // T=1 is not the first protocol: PPS without PPS1.
    let n = negotiate(&offer, &reader(), &Wanted::optimal(Protocol::T1)).unwrap();
    assert_eq!(n.request.unwrap().as_bytes(), [0xFF, 0x01, 0xFE]);
    assert_eq!(n.timing, Timing::default_at(4_000));
}

#[test]
fn too_fast_card_is_slowed_down() {
    // TA1 = 97: D = 64 gives 500 000 bit/s, too fast; D = 32 fits (libccid's 0x97 -> 0x96).
    let offer = CardOffer::negotiable(0x97, ProtocolMask::T1, 1);
    let n = negotiate(&offer, &reader(), &Wanted::optimal(Protocol::T1)).unwrap();
    assert_eq!(n.request.unwrap().pps1(), Some(0x96));
    // TA1 = 18 (F 372, D 12 = 129 032 bit/s) against a list of 4 MHz rates for
    // D = 1, 2, 4, 8, 16, 32: D = 12 is not there, D = 8 (86 021) is.
    let rates = [10_752, 21_505, 43_010, 86_021, 172_043, 344_086];
    let limits = ReaderLimits {
        data_rates_bps: &rates,
        ..reader()
    };
    let offer = CardOffer::negotiable(0x18, ProtocolMask::T0, 0);
    let n = negotiate(&offer, &limits, &Wanted::optimal(Protocol::T0)).unwrap();
    assert_eq!(n.request.unwrap().as_bytes(), [0xFF, 0x10, 0x14, 0xFB]);
    assert_eq!(
        n.timing,
        Timing {
            f: 372,
            d: 8,
            clock_khz: 4_000
        }
    );
    // TA1 = 96 against that list: nothing fits above the default: no PPS.
    let offer = CardOffer::negotiable(0x96, ProtocolMask::T0, 0);
    let n = negotiate(&offer, &limits, &Wanted::optimal(Protocol::T0)).unwrap();
    assert_eq!(n.request, None);
    assert_eq!(n.timing, Timing::default_at(4_000));
}

#[test]
fn clock_list_and_fmax() {
    // A reader with 3.57, 4.8 and 8 MHz clocks.
    let clocks = [3_571, 4_800, 8_000];
    let limits = ReaderLimits {
        default_clock_khz: 3_571,
        max_clock_khz: 8_000,
        max_data_rate_bps: 1_000_000,
        clocks_khz: &clocks,
        data_rates_bps: &[],
    };
    let at = |f, d, clock_khz| Timing { f, d, clock_khz };
    // (case, TA1, PPS1 requested, timing)
    let cases = [
        (
            "Fi = 1 (f max 5 MHz), Di = 3: the 4.8 MHz clock",
            0x13,
            Some(0x13),
            at(372, 4, 4_800),
        ),
        (
            "Fi = 3 (f max 8 MHz): the 8 MHz clock is allowed",
            0x33,
            Some(0x33),
            at(744, 4, 8_000),
        ),
        (
            "a card slower than the default (Fi = 6, D = 1): no PPS",
            0x61,
            None,
            Timing::default_at(3_571),
        ),
        (
            "reserved Fi and Di: the defaults",
            0x7A,
            None,
            Timing::default_at(3_571),
        ),
    ];
    for (case, ta1, pps1, timing) in cases {
        let offer = CardOffer::negotiable(ta1, ProtocolMask::T0, 0);
        let n = negotiate(&offer, &limits, &Wanted::optimal(Protocol::T0)).unwrap();
        assert_eq!(n.request.map(|r| r.pps1()), pps1.map(Some), "{case}");
        assert_eq!(n.timing, timing, "{case}");
    }
}

#[test]
fn default_and_explicit_choices() {
    let offer = CardOffer::negotiable(0x96, T0_T1, 0);
    let n = negotiate(&offer, &reader(), &Wanted::default_parameters(Protocol::T0)).unwrap();
    assert_eq!(n.request, None);
    let w = Wanted {
        protocol: Protocol::T0,
        choice: Choice::Explicit { fi: 9, di: 4 },
        pps2: None,
        pps3: None,
    };
    let n = negotiate(&offer, &reader(), &w).unwrap();
    assert_eq!(n.request.unwrap().pps1(), Some(0x94));
    assert_eq!(
        n.timing,
        Timing {
            f: 512,
            d: 8,
            clock_khz: 4_000
        }
    );
    let w = Wanted {
        choice: Choice::Explicit { fi: 9, di: 7 },
        ..w
    };
    assert_eq!(
        negotiate(&offer, &reader(), &w),
        Err(Error::UnsupportedParameters)
    );
    // PPS2 only.
    let w = Wanted {
        pps2: Some(1),
        ..Wanted::default_parameters(Protocol::T0)
    };
    let n = negotiate(&offer, &reader(), &w).unwrap();
    assert_eq!(n.request.unwrap().as_bytes(), [0xFF, 0x20, 0x01, 0xDE]);
}

#[test]
fn protocol_and_specific_mode() {
    let offer = CardOffer::negotiable(0x96, ProtocolMask::T0, 0);
    let e = negotiate(&offer, &reader(), &Wanted::optimal(Protocol::T1)).unwrap_err();
    assert_eq!(
        (e, Status::from(e)),
        (Error::ProtocolNotOffered, Status::NotSupported)
    );
    assert_eq!(
        negotiate(&offer, &reader(), &Wanted::optimal(Protocol::Raw)),
        Err(Error::ProtocolNotOffered)
    );
    // Specific mode T=1 with TA1 = 96: no PPS, TA1 applies at once.
    let specific = CardOffer {
        specific: Some(SpecificMode::from_ta2(0x01)),
        ..CardOffer::negotiable(0x96, T0_T1, 0)
    };
    let n = negotiate(&specific, &reader(), &Wanted::optimal(Protocol::T1)).unwrap();
    assert_eq!(
        (n.request, n.timing),
        (
            None,
            Timing {
                f: 512,
                d: 32,
                clock_khz: 4_000
            }
        )
    );
    assert_eq!(
        negotiate(&specific, &reader(), &Wanted::optimal(Protocol::T0)),
        Err(Error::SpecificMode(1))
    );
    // Too fast for the reader, and no lowering allowed in specific mode.
    let fast = CardOffer {
        fi: 9,
        di: 7,
        ..specific
    };
    assert_eq!(
        negotiate(&fast, &reader(), &Wanted::optimal(Protocol::T1)),
        Err(Error::UnsupportedParameters)
    );
    let implicit = CardOffer {
        specific: Some(SpecificMode::from_ta2(0x91)),
        ..specific
    };
    assert_eq!(
        negotiate(&implicit, &reader(), &Wanted::optimal(Protocol::T1)),
        Err(Error::ImplicitParameters)
    );
    let m = SpecificMode::from_ta2(0x91);
    assert_eq!(
        (m.protocol, m.implicit_parameters, m.can_change),
        (1, true, false)
    );
    let plain = CardOffer {
        specific: Some(SpecificMode::from_ta2(0x00)),
        ..CardOffer::negotiable(0x11, T0_T1, 0)
    };
    let n = negotiate(&plain, &reader(), &Wanted::optimal(Protocol::T0)).unwrap();
    assert_eq!((n.request, n.timing), (None, Timing::default_at(4_000)));
}

#[test]
fn response_validation() {
    let req = Request::new(1, Some(0x96), None, None);
    let ok = |bytes: &[u8]| req.check(&Response::parse(bytes).unwrap());
    // Exact echo.
    assert_eq!(
        ok(&[0xFF, 0x11, 0x96, 0x78]),
        Ok(Accepted {
            pps1: true,
            pps2: false,
            pps3: false
        })
    );
    // PPS1 absent: Fd/Dd.
    assert_eq!(
        ok(&[0xFF, 0x01, 0xFE]),
        Ok(Accepted {
            pps1: false,
            pps2: false,
            pps3: false
        })
    );
    // Another PPS1, another protocol, an unrequested PPS2.
    assert_eq!(ok(&[0xFF, 0x11, 0x95, 0x7B]), Err(Error::Mismatch));
    assert_eq!(ok(&[0xFF, 0x10, 0x96, 0x79]), Err(Error::Mismatch));
    assert_eq!(ok(&[0xFF, 0x31, 0x96, 0x00, 0x58]), Err(Error::Mismatch));
    // Malformed answers.
    assert_eq!(
        Response::parse(&[0xFF, 0x11, 0x96, 0x79]),
        Err(Error::BadPck)
    );
    assert_eq!(
        Response::parse(&[0xFE, 0x11, 0x96, 0x78]),
        Err(Error::BadPpss(0xFE))
    );
    assert_eq!(
        Response::parse(&[0xFF, 0x91, 0x96, 0xF8]),
        Err(Error::BadPps0(0x91))
    );
    assert_eq!(Response::parse(&[0xFF, 0x11, 0x96]), Err(Error::Truncated));
    assert_eq!(
        Response::parse(&[0xFF, 0x01, 0xFE, 0x00]),
        Err(Error::TooLong)
    );
    assert_eq!(Response::parse(&[]), Err(Error::Truncated));
    assert!(Error::BadPck.needs_reset() && Error::Timeout.needs_reset());
    assert!(!Error::ProtocolNotOffered.needs_reset());
    assert!(!Error::Sequence.needs_reset());
    assert!(Error::Unsolicited.needs_reset());
    assert_eq!(
        Status::from(Error::Unsolicited),
        Status::DeviceProtocolError
    );
    assert_eq!(Status::from(Error::Sequence), Status::InvalidDeviceState);
    // Declined PPS2, accepted PPS1.
    let req = Request::new(0, Some(0x13), Some(0x01), None);
    let resp = Response::parse(&[0xFF, 0x10, 0x13, 0xFC]).unwrap();
    assert_eq!(
        req.check(&resp),
        Ok(Accepted {
            pps1: true,
            pps2: false,
            pps3: false
        })
    );
    // Negotiation::accept with PPS1 declined gives the default timing.
    let offer = CardOffer::negotiable(0x96, T0_T1, 0);
    let n = negotiate(&offer, &reader(), &Wanted::optimal(Protocol::T1)).unwrap();
    assert_eq!(
        n.accept(&Response::parse(&[0xFF, 0x01, 0xFE]).unwrap()),
        Ok(n.default_timing)
    );
    let none = negotiate(&offer, &reader(), &Wanted::default_parameters(Protocol::T0)).unwrap();
    assert_eq!(
        none.accept(&Response::parse(&[0xFF, 0x00, 0xFF]).unwrap()),
        Err(Error::Unsolicited)
    );
}

#[test]
fn response_reader_counts_bytes() {
    let mut r = ResponseReader::new();
    assert_eq!(r.needed(), 3);
    r.feed(&[0xFF]).unwrap();
    assert_eq!(r.needed(), 2);
    r.feed(&[0x71]).unwrap();
    assert_eq!(r.needed(), 4);
    r.feed(&[0x18, 0x00]).unwrap();
    assert_eq!(r.needed(), 2);
    assert!(!r.is_complete());
    assert_eq!(r.response(), Err(Error::Truncated));
    r.feed(&[0x00, 0xFF ^ 0x71 ^ 0x18]).unwrap();
    assert!(r.is_complete());
    assert_eq!(r.needed(), 0);
    let resp = r.response().unwrap();
    assert_eq!(
        (resp.pps1(), resp.pps2(), resp.pps3(), resp.protocol()),
        (Some(0x18), Some(0), Some(0), 1)
    );
    assert_eq!(r.feed(&[0x00]), Err(Error::TooLong));
    let mut r = ResponseReader::new();
    assert_eq!(r.feed(&[0x3B]), Err(Error::BadPpss(0x3B)));
    let mut r = ResponseReader::new();
    assert_eq!(r.feed(&[0xFF, 0x80]), Err(Error::BadPps0(0x80)));
    // One byte at a time and all at once agree.
    let msg = Request::new(1, Some(0x95), None, None);
    let mut a = ResponseReader::new();
    for &b in msg.as_bytes() {
        assert!(a.needed() > 0);
        a.feed(&[b]).unwrap();
    }
    let mut b = ResponseReader::new();
    b.feed(msg.as_bytes()).unwrap();
    assert_eq!(a.response(), b.response());
    assert!(msg.check(&a.response().unwrap()).unwrap().pps1);
}

#[test]
fn every_short_answer_parses_or_errs() {
    let mut rng = readerkit_testkit::rng::Rng(0x9E37_79B9);
    for _ in 0..50_000 {
        let x = rng.next_u64();
        let len = (x % 8) as usize;
        let bytes: std::vec::Vec<u8> = (0..len)
            .map(|i| (x >> (i * 4)) as u8 | if i == 0 { 0xF0 } else { 0 })
            .collect();
        let parsed = Response::parse(&bytes);
        let mut r = ResponseReader::new();
        let fed = r.feed(&bytes);
        if let Ok(p) = parsed {
            assert!(fed.is_ok());
            assert_eq!(r.response(), Ok(p));
            assert_eq!(p.as_bytes(), &bytes[..]);
        }
    }
}

#[test]
fn messages_print_in_trace_form() {
    let shown = |r: Request| std::format!("{}", *r);
    assert_eq!(
        shown(Request::new(1, Some(0x94), None, None)),
        "PPS T=1, PPS1 94 (F=512, D=8)"
    );
    assert_eq!(shown(Request::new(0, None, None, None)), "PPS T=0");
    assert_eq!(
        shown(Request::new(1, Some(0x7F), Some(0x01), Some(0x02))),
        "PPS T=1, PPS1 7F (F=RFU, D=RFU), PPS2 01, PPS3 02"
    );
}

fn t1_negotiation() -> Negotiation {
    let offer = CardOffer::negotiable(0x96, T0_T1, 0);
    negotiate(&offer, &reader(), &Wanted::optimal(Protocol::T1)).unwrap()
}

#[test]
fn exchange_sends_expects_and_accepts_in_any_split() {
    let n = t1_negotiation();
    let request = n.request.unwrap();
    for split in 1..=4 {
        let mut pps = n.exchange(9_600);
        assert_eq!(pps.action(), Ok(Action::Send(request.as_bytes())));
        assert_eq!(
            pps.sent(),
            Ok(Action::Expect {
                count: 3,
                timeout_us: 9_600
            })
        );
        let mut answer = request.as_bytes();
        let mut last = pps.action();
        while !answer.is_empty() {
            let (part, rest) = answer.split_at(split.min(answer.len()));
            answer = rest;
            last = pps.feed(part);
        }
        assert_eq!(last, Ok(Action::Done { timing: n.timing }), "split {split}");
    }
    // Bytes beyond the answer in the call that completes it are the card's.
    let mut pps = n.exchange(9_600);
    assert!(pps.sent().is_ok());
    let mut long = request.as_bytes().to_vec();
    long.push(0);
    assert_eq!(pps.feed(&long), Err(Error::TooLong));
    // PPS1 declined: the default timing.
    let mut pps = n.exchange(9_600);
    assert!(pps.sent().is_ok());
    assert_eq!(
        pps.feed(&[0xFF, 0x01, 0xFE]),
        Ok(Action::Done {
            timing: n.default_timing
        })
    );
    // No request: done at once.
    let keep = Negotiation { request: None, ..n };
    assert_eq!(
        keep.exchange(1).action(),
        Ok(Action::Done { timing: n.timing })
    );
}

#[test]
fn exchange_failures_stick() {
    let n = t1_negotiation();
    let mut pps = n.exchange(9_600);
    assert!(pps.sent().is_ok());
    assert_eq!(pps.feed(&[0xFF, 0x10, 0x13, 0xFC]), Err(Error::Mismatch));
    assert_eq!(pps.action(), Err(Error::Mismatch));

    let mut pps = n.exchange(9_600);
    assert!(pps.sent().is_ok());
    assert_eq!(pps.feed(&[0x3B]), Err(Error::BadPpss(0x3B)));

    let mut pps = n.exchange(9_600);
    assert!(pps.sent().is_ok());
    assert!(pps.feed(&[0xFF, 0x11]).is_ok());
    assert_eq!(pps.timeout(), Err(Error::Timeout));
    assert_eq!(pps.action(), Err(Error::Timeout));

    // The card's bytes before the request went out.
    let mut pps = n.exchange(9_600);
    assert_eq!(pps.feed(&[0xFF]), Err(Error::Unsolicited));
    // No bytes: nothing happened.
    let mut pps = n.exchange(9_600);
    let before = pps;
    assert_eq!(pps.feed(&[]), before.action());
    assert_eq!(pps, before);
}

/// A driver step the exchange is not waiting for.
#[derive(Debug, Clone, Copy)]
enum Misuse {
    Sent,
    Timeout,
    Feed(&'static [u8]),
}

/// Steps that take an exchange somewhere (`None`: `sent` while there is
/// something to send, else silence; `Some`: the card's bytes), and the steps
/// then refused.
type Walk<'a> = (&'a [Option<&'a [u8]>], &'a [Misuse]);

#[test]
fn a_step_out_of_order_or_after_the_end_is_refused_and_changes_nothing() {
    use Misuse::*;
    let n = t1_negotiation();
    let echo = n.request.unwrap();
    let (echo, first) = (echo.as_bytes(), echo.as_bytes()[..2].to_vec());
    let after_the_end: &[Misuse] = &[Sent, Timeout, Feed(&[]), Feed(&[0xFF])];
    let cases: [Walk<'_>; 7] = [
        (&[], &[Timeout]),
        (&[None], &[Sent]),
        (&[None, Some(&first)], &[Sent]),
        (&[None, Some(echo)], after_the_end),
        (&[None, Some(&[0xFF, 0x10, 0x13, 0xFC])], after_the_end),
        (&[None, Some(&first), Some(&[])], &[Sent]),
        (&[None, Some(&first), None], after_the_end),
    ];
    for (steps, misuses) in cases {
        let mut pps = n.exchange(9_600);
        for step in steps {
            let _ = match step {
                None if pps.action().is_ok_and(|a| matches!(a, Action::Send(_))) => pps.sent(),
                None => pps.timeout(),
                Some(bytes) => pps.feed(bytes),
            };
        }
        let before = pps;
        for &misuse in misuses {
            let r = match misuse {
                Sent => pps.sent().map(|_| ()),
                Timeout => pps.timeout().map(|_| ()),
                Feed(bytes) => pps.feed(bytes).map(|_| ()),
            };
            let at = before.action();
            assert_eq!(r, Err(Error::Sequence), "{misuse:?} at {at:?}");
            assert_eq!(pps, before, "{misuse:?} at {at:?} changed the exchange");
        }
    }
    // Without a request the exchange is done at once: nothing to send.
    let mut done = Negotiation { request: None, ..n }.exchange(1);
    let before = done;
    assert_eq!(done.sent(), Err(Error::Sequence));
    assert_eq!(done.feed(&[0xFF]), Err(Error::Sequence));
    assert_eq!(done, before);
}

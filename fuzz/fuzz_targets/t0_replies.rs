//! Fuzz the T=0 engine with a fuzzer-chosen command APDU and hostile card replies fed
//! in fuzzer-chosen splits; also `apdu::Command::parse` and the PPS answer parser.
//!
//! Input layout: `[flags, cap, apdu_len, apdu..., then card chunks]`, each card chunk
//! being `[n, n bytes]` (n taken modulo 32). When the input runs out, the card is
//! silent (timeout). The same input is also fed whole to the parsers. Once the
//! exchange ended, every step must be refused with `Error::Sequence`, changing
//! nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use readerkit::apdu::{Command, Response as ApduResponse};
use readerkit::pps::{self, ResponseReader};
use readerkit::t0::{Action, Config, Error, Exchange, Extended, GetResponseClass};

/// Upper bound on engine steps: every step consumes input or ends the exchange, up to
/// the NULL/round limits (at most 64 each here) and the data of one APDU.
const MAX_STEPS: usize = 1_000_000;

fn fuzz_parsers(data: &[u8]) {
    if let Ok(c) = Command::parse(data) {
        assert_eq!(c.as_bytes(), data);
        assert!(c.nc() <= 65_535);
        assert!(c.nc() + 4 <= data.len());
        if let Some(ne) = c.ne() {
            assert!((1..=65_536).contains(&ne));
        }
        assert_eq!(c.case().is_extended(), c.is_extended());
    }
    if let Ok(r) = ApduResponse::parse(data) {
        assert_eq!(r.data().len() + 2, data.len());
    }
    for window in [data.get(..6).unwrap_or(data), data] {
        let parsed = pps::Response::parse(window);
        let mut reader = ResponseReader::new();
        let mut fed = Ok(());
        for &b in window {
            let before = reader.needed();
            fed = reader.feed(&[b]);
            if fed.is_err() {
                break;
            }
            assert!(before > 0);
        }
        if let Ok(p) = parsed {
            assert!(fed.is_ok());
            assert_eq!(reader.response(), Ok(p));
            assert_eq!(p.as_bytes(), window);
            // A request echoing the answer accepts it fully.
            let req = pps::Request::new(p.protocol(), p.pps1(), p.pps2(), p.pps3());
            let acc = req.check(&p).unwrap();
            assert_eq!(acc.pps1, p.pps1().is_some());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    fuzz_parsers(data);

    let [flags, cap, apdu_len, rest @ ..] = data else {
        return;
    };
    let apdu_len = usize::from(*apdu_len) * 2;
    let (apdu, mut card) = rest.split_at(apdu_len.min(rest.len()));
    let mut config = Config::new(1_000);
    config.max_null_bytes = u32::from(flags & 0x3F);
    config.max_rounds = u16::from(flags & 0x1F) * 2;
    if flags & 0x40 != 0 {
        config.extended = Extended::Envelope;
    }
    config.get_response_class = if flags & 0x80 != 0 {
        GetResponseClass::FromCommand
    } else {
        GetResponseClass::Interindustry
    };
    let cap = usize::from(*cap) * 2;
    let mut buf = vec![0u8; cap];
    let Ok(mut ex) = Exchange::new(apdu, &mut buf, config) else {
        return;
    };

    let mut steps = 0;
    let mut action = ex.action();
    loop {
        steps += 1;
        assert!(steps < MAX_STEPS, "T=0 engine did not terminate");
        action = match action {
            Ok(Action::Send(bytes)) => {
                assert!(!bytes.is_empty() && bytes.len() <= 255);
                ex.sent()
            }
            Ok(Action::Expect { count, timeout_us }) => {
                assert!(count > 0 && count <= 256);
                assert_eq!(timeout_us, 1_000);
                match card.split_first() {
                    None => ex.timeout(),
                    Some((&n, tail)) => {
                        let n = usize::from(n % 32).min(tail.len());
                        let (part, tail) = tail.split_at(n);
                        card = tail;
                        ex.feed(part)
                    }
                }
            }
            Ok(Action::Done { response_len }) => {
                assert!(response_len >= 2 && response_len <= cap);
                assert_eq!(ex.response().map(<[u8]>::len), Some(response_len));
                break;
            }
            Err(e) => {
                assert!(!readerkit::Status::from(e).is_success());
                assert_eq!(ex.action(), Err(e));
                break;
            }
        };
    }
    // Ended: every step is refused and changes nothing.
    let end = format!("{:?} {:?}", ex.action(), ex.response());
    for step in 0..5 {
        let refused = match step {
            0 => ex.sent().map(|_| ()),
            1 => ex.timeout().map(|_| ()),
            2 => ex.received(0).map(|_| ()),
            3 => ex.feed(&[]).map(|_| ()),
            _ => ex.feed(card).map(|_| ()),
        };
        assert_eq!(refused, Err(Error::Sequence), "step {step} after {end}");
        assert_eq!(format!("{:?} {:?}", ex.action(), ex.response()), end);
    }
});

//! The card side of the PPS exchange (ISO/IEC 7816-3:2006 clause 9).

use heapless::Vec;
use readerkit::timing::{baud_rate_adjustment, clock_rate_conversion};

use super::{Card, State};
use crate::edc::lrc;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Pps {
    /// The request so far: PPSS, PPS0, PPS1..PPS3 and PCK at most.
    buf: Vec<u8, 6>,
    bad: bool,
}

impl<const N: usize> Card<N> {
    pub(super) fn pps_char(&mut self, b: u8, parity_error: bool) {
        let p = &mut self.pps;
        p.bad |= parity_error;
        // A byte past the sixth is dropped: the request is complete by then.
        let _ = p.buf.push(b);
        let Some(&pps0) = p.buf.get(1) else {
            return;
        };
        let expected = 3 + (pps0 & 0x70).count_ones() as usize;
        if p.buf.len() < expected {
            return;
        }
        let request = p.buf.clone();
        let bad = p.bad;
        self.pps_evaluate(&request[..expected], bad);
    }

    fn pps_evaluate(&mut self, req: &[u8], bad: bool) {
        let pps0 = req[1];
        let t = pps0 & 0x0F;
        let pck_ok = lrc(req) == 0;
        if bad || !pck_ok || pps0 & 0x80 != 0 || t > 1 || !self.profile.protocols.offers(t) {
            self.state = State::PpsFailed;
            return;
        }
        // PPS1, if present, is the byte after PPS0.
        let pps1 = if pps0 & 0x10 != 0 { Some(req[2]) } else { None };
        let accepted = pps1.filter(|&v| self.accepts(v >> 4, v & 0x0F));
        let mut answer = [0u8; 4];
        answer[0] = 0xFF;
        answer[1] = t | if accepted.is_some() { 0x10 } else { 0 };
        let mut len = 2;
        if let Some(v) = accepted {
            answer[2] = v;
            len = 3;
        }
        answer[len] = lrc(&answer[..len]);
        len += 1;
        self.send(&answer[..len]);
        self.stats.pps += 1;
        let (fi, di) = match accepted {
            Some(v) => (v >> 4, v & 0x0F),
            None => (1, 1),
        };
        self.session.fi = fi;
        self.session.di = di;
        self.start_protocol(t);
    }

    /// Whether the card can work at Fi/Di: the defaults, or the F of its TA1 with a D
    /// no larger than the D of its TA1.
    fn accepts(&self, fi: u8, di: u8) -> bool {
        let (card_fi, card_di) = self.profile.fi_di();
        let (Some(_), Some(d)) = (clock_rate_conversion(fi), baud_rate_adjustment(di)) else {
            return false;
        };
        if (fi, di) == (1, 1) {
            return true;
        }
        let card_d = baud_rate_adjustment(card_di).unwrap_or(1);
        fi == card_fi && d <= card_d
    }
}

//! The protocol data structures of GetParameters / SetParameters / RDR_to_PC_Parameters
//! (CCID 1.1 §6.1.7, Tables 6.1-6 and 6.1-7), built from what the core knows of the
//! card.

use readerkit::Protocol;
use readerkit::atr::{ClockStop, Convention, rate_byte};
use readerkit::caps::CardCapabilities;
use readerkit::t1::is_valid_ifs;
use readerkit::timing::{self, DI_DEFAULT, FI_DEFAULT, Timing};

/// Length of the T=0 structure, in bytes.
pub const T0_LEN: usize = 5;
/// Length of the T=1 structure, in bytes.
pub const T1_LEN: usize = 7;

/// The offset in its message (10 + the field's index) of the first field of a
/// SetParameters protocol data structure that is malformed whatever the card
/// (CCID 1.1 Tables 6.1-6 and 6.1-7), `None` if there is none: `bmTCCKST0`
/// other than 00 or 02 (only bit 1, the convention, may be set), `bmTCCKST1`
/// other than 10 to 13 (bit 4 set; bit 0 the checksum, bit 1 the convention),
/// `bClockStop` above 3, `bIFSC` 00 or FF (ISO/IEC 7816-3 11.4.2: 01 to FE).
/// `data` has the protocol's length already ([`T0_LEN`], [`T1_LEN`]); whether
/// `bmFindexDindex` can be had is the reader's decision.
pub fn malformed_field(protocol: Protocol, data: &[u8]) -> Option<usize> {
    const DATA: usize = crate::message::HEADER_LEN;
    const TCCKS: usize = 1;
    const CLOCK_STOP: usize = 4;
    const IFSC: usize = 5;
    let t1 = protocol == Protocol::T1;
    let tccks_ok = |b: u8| {
        if t1 {
            b & !0x03 == 0x10
        } else {
            b & !0x02 == 0
        }
    };
    if !data.get(TCCKS).copied().is_some_and(tccks_ok) {
        return Some(DATA + TCCKS);
    }
    if data.get(CLOCK_STOP).is_none_or(|&b| b > 3) {
        return Some(DATA + CLOCK_STOP);
    }
    if t1 && data.get(IFSC).is_none_or(|&b| !is_valid_ifs(b)) {
        return Some(DATA + IFSC);
    }
    None
}

/// `bmFindexDindex` of the default F and D (Fi = Di = 1): the ATR's default
/// TA1, 0x11.
pub(crate) const DEFAULT_FINDEX_DINDEX: u8 = rate_byte(FI_DEFAULT, DI_DEFAULT);

/// `bmFindexDindex` of the parameters in force: the ISO indices of `timing`'s F
/// and D (Fi is the card's own where it gives the same F; F = 372 is written as
/// Fi = 1, the ATR's default TA1 = 0x11).
pub fn findex_dindex(timing: &Timing, card_fi: u8) -> u8 {
    let fi = if timing::clock_rate_conversion(card_fi).is_some_and(|r| r.f == timing.f) {
        card_fi
    } else {
        (1..16u8)
            .find(|&fi| timing::clock_rate_conversion(fi).is_some_and(|r| r.f == timing.f))
            .unwrap_or(FI_DEFAULT)
    };
    let di = (1..16u8)
        .find(|&di| timing::baud_rate_adjustment(di) == Some(timing.d))
        .unwrap_or(DI_DEFAULT);
    rate_byte(fi, di)
}

/// Write the protocol data structure of `protocol` for `card` into `out`; returns
/// its length (5 or 7), or `None` if `out` is too short or `protocol` is neither
/// T=0 nor T=1. `ifsc` is the T=1 IFSC in force, in bytes (the core's
/// [`Device::field_sizes`](readerkit::Device::field_sizes)): `bIFSC` is the size
/// negotiated (CCID 1.1 §6.2.3), which after the card's S(IFS request) is no
/// longer the ATR's TA3.
pub fn emit(
    protocol: Protocol,
    card: &CardCapabilities,
    ifsc: u8,
    out: &mut [u8],
) -> Option<usize> {
    let p = &card.parameters;
    let fidi = findex_dindex(&card.timing, p.fi);
    let inverse = u8::from(card.atr.convention() == Convention::Inverse) << 1;
    let clock_stop = p.clock_stop.map_or(0, ClockStop::bits);
    match protocol {
        Protocol::T0 => {
            let out = out.get_mut(..T0_LEN)?;
            out.copy_from_slice(&[fidi, inverse, p.n, p.wi, clock_stop]);
            Some(T0_LEN)
        }
        Protocol::T1 => {
            let out = out.get_mut(..T1_LEN)?;
            out.copy_from_slice(&[
                fidi,
                0x10 | inverse | p.edc.tc_bit(),
                p.n,
                p.bwi << 4 | (p.cwi & 0x0F),
                clock_stop,
                ifsc,
                0,
            ]);
            Some(T1_LEN)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CRC card whose T=15 TA says clock stop in state L: `bmTCCKST1` carries
    /// the CRC bit, `bClockStop` is 1 in both structures.
    #[test]
    fn emit_codes_the_edc_and_the_clock_stop() {
        use readerkit::atr::Atr;
        use readerkit::caps::ReaderCapabilities;
        use readerkit::t1::lrc;
        // TD1 81 (T=1), TD2 C1 (TC3, TD3; T=1), TC3 01 (CRC), TD3 1F (TA4; T=15),
        // TA4 47 (clock stop L, classes A B C).
        let mut atr = [0x3B, 0x80, 0x81, 0xC1, 0x01, 0x1F, 0x47, 0];
        atr[7] = lrc(&atr[1..7]);
        let atr = Atr::parse(&atr).unwrap();
        let card = CardCapabilities::new(atr, &ReaderCapabilities::typical());
        let mut out = [0u8; T1_LEN];
        assert_eq!(emit(Protocol::T1, &card, 254, &mut out), Some(T1_LEN));
        assert_eq!(out, [0x11, 0x11, 0, 0x4D, 1, 254, 0]);
        assert_eq!(emit(Protocol::T0, &card, 254, &mut out), Some(T0_LEN));
        assert_eq!(out[..T0_LEN], [0x11, 0x00, 0, 10, 1]);
    }

    #[test]
    fn malformed_fields_are_named_by_their_offset() {
        let t0 = [0x11, 0x00, 0x00, 0x0A, 0x00];
        let t1 = [0x11, 0x10, 0x00, 0x45, 0x00, 0xFE, 0x00];
        assert_eq!(malformed_field(Protocol::T0, &t0), None);
        assert_eq!(malformed_field(Protocol::T1, &t1), None);
        // Inverse convention, CRC, clock stop 3, IFSC 1: well formed.
        assert_eq!(
            malformed_field(Protocol::T0, &[0x11, 0x02, 0, 0x0A, 3]),
            None
        );
        assert_eq!(
            malformed_field(Protocol::T1, &[0x11, 0x13, 0, 0x45, 3, 1, 0]),
            None
        );
        // (protocol, the well-formed structure, index changed, value, offset named)
        let cases: [(Protocol, &[u8], usize, u8, usize); 10] = [
            (Protocol::T0, &t0, 1, 0x01, 11),
            (Protocol::T0, &t0, 1, 0x10, 11),
            (Protocol::T0, &t0, 4, 4, 14),
            (Protocol::T0, &t0, 4, 0xFF, 14),
            (Protocol::T1, &t1, 1, 0x00, 11),
            (Protocol::T1, &t1, 1, 0x14, 11),
            (Protocol::T1, &t1, 1, 0x30, 11),
            (Protocol::T1, &t1, 4, 4, 14),
            (Protocol::T1, &t1, 5, 0x00, 15),
            (Protocol::T1, &t1, 5, 0xFF, 15),
        ];
        for (protocol, good, at, value, offset) in cases {
            let mut bad = good.to_vec();
            bad[at] = value;
            assert_eq!(malformed_field(protocol, &bad), Some(offset), "{bad:02X?}");
        }
        // Too short (the caller checks the length first): named, not read past.
        assert_eq!(malformed_field(Protocol::T1, &t1[..5]), Some(15));
        assert_eq!(malformed_field(Protocol::T0, &[]), Some(11));
    }
}

//! The protocol data structures of GetParameters / SetParameters / RDR_to_PC_Parameters
//! (CCID 1.1 §6.1.7, Tables 6.1-6 and 6.1-7), built from what the core knows of the
//! card.

use readerkit::Protocol;
use readerkit::atr::{ClockStop, Convention};
use readerkit::caps::CardCapabilities;
use readerkit::timing::{self, Timing};

/// Length of the T=0 structure, in bytes.
pub const T0_LEN: usize = 5;
/// Length of the T=1 structure, in bytes.
pub const T1_LEN: usize = 7;

/// `bmFindexDindex` of the parameters in force: the ISO indices of `timing`'s F
/// and D (Fi is the card's own where it gives the same F; F = 372 is written as
/// Fi = 1, the ATR's default TA1 = 0x11).
pub fn findex_dindex(timing: &Timing, card_fi: u8) -> u8 {
    let fi = if timing::clock_rate_conversion(card_fi).is_some_and(|r| r.f == timing.f) {
        card_fi
    } else {
        (1..16u8)
            .find(|&fi| timing::clock_rate_conversion(fi).is_some_and(|r| r.f == timing.f))
            .unwrap_or(1)
    };
    let di = (1..16u8)
        .find(|&di| timing::baud_rate_adjustment(di) == Some(timing.d))
        .unwrap_or(1);
    fi << 4 | di
}

/// Write the protocol data structure of `protocol` for `card` into `out`; returns
/// its length (5 or 7), or `None` if `out` is too short or `protocol` is neither
/// T=0 nor T=1.
pub fn emit(protocol: Protocol, card: &CardCapabilities, out: &mut [u8]) -> Option<usize> {
    let p = &card.parameters;
    let fidi = findex_dindex(&card.timing, p.fi);
    let inverse = u8::from(card.atr.convention() == Convention::Inverse) << 1;
    let clock_stop = match p.clock_stop {
        None | Some(ClockStop::NotSupported) => 0,
        Some(ClockStop::Low) => 1,
        Some(ClockStop::High) => 2,
        Some(ClockStop::NoPreference) => 3,
    };
    match protocol {
        Protocol::T0 => {
            let out = out.get_mut(..T0_LEN)?;
            out.copy_from_slice(&[fidi, inverse, p.n, p.wi, clock_stop]);
            Some(T0_LEN)
        }
        Protocol::T1 => {
            let out = out.get_mut(..T1_LEN)?;
            let crc = u8::from(p.edc.epilogue_len() == 2);
            out.copy_from_slice(&[
                fidi,
                0x10 | inverse | crc,
                p.n,
                p.bwi << 4 | (p.cwi & 0x0F),
                clock_stop,
                p.ifsc,
                0,
            ]);
            Some(T1_LEN)
        }
        _ => None,
    }
}

//! Arbitrary bytes against the ATR checked view.
//!
//! Input layout: 4 bytes of card clock in kHz (little endian; 0 is allowed and
//! treated as 1 kHz by `Timing`), then the ATR bytes. Every accessor, the derived
//! parameters, the check, the analysis and every timing must not panic; the checked
//! view keeps all the bytes and at most 15 historical bytes. The historical bytes'
//! checked view (of the ATR's, and of the input's first 15 bytes) walks objects that
//! lie within them; every status word has a meaning that does not panic. The
//! historical bytes sit at `historical_offset`, right before TCK (or the end).
//! `Timing::new` over the input's first bytes (F, D, clock as a C driver would
//! give them) is `Some` exactly when none of them is 0 (its documented rule), and
//! then keeps them and computes without panicking, its BWT × 255 exact (against
//! 128-bit arithmetic). The extra guard time in etu of every timing keeps TC1's
//! 0 and 255 and puts any other N in 1..=254.
#![no_main]

use libfuzzer_sys::fuzz_target;
use readerkit::atr::{Atr, Historical, Tck};
use readerkit::caps::{CardCapabilities, ReaderCapabilities};
use readerkit::sw::StatusWord;
use readerkit::timing::{self, Timing};

fn fuzz_historical(bytes: &[u8]) {
    let Ok(h) = Historical::parse(bytes) else {
        return;
    };
    assert_eq!(h.as_bytes(), bytes);
    let _ = (h.category(), h.status_at_end(), h.dir_reference());
    assert!(h.unstructured().len() <= bytes.len());
    let mut end = 0;
    for object in h.objects() {
        assert!(object.offset >= end, "objects overlap");
        end = object.offset + 1 + object.value.len();
        assert!(end <= bytes.len(), "object beyond the historical bytes");
        assert_eq!(&bytes[object.offset + 1..end], object.value);
        let _ = (object.name(), format!("{:?}", object.data()));
    }
    let _ = format!("{h:?}");
}

/// F (2 bytes, little endian), D and the clock (4 bytes, little endian) from an
/// untrusted source.
fn fuzz_untrusted_timing(data: &[u8]) {
    let byte = |i: usize| data.get(i).copied().unwrap_or(0);
    let f = u16::from_le_bytes([byte(0), byte(1)]);
    let d = byte(2);
    let clock = u32::from_le_bytes([byte(3), byte(4), byte(5), byte(6)]);
    let t = Timing::new(f, d, clock);
    assert_eq!(
        t.is_some(),
        f != 0 && d != 0 && clock != 0,
        "{f} {d} {clock}"
    );
    if let Some(t) = t {
        assert_eq!((t.f, t.d, t.clock_khz), (f, d, clock));
        let _ = (t.etu_ns(), t.baud(), t.etu_to_us(u32::from(d)));
        let _ = (t.guard_time_us(d, false), t.guard_time_us(d, true));
        let _ = (
            t.t0_waiting_time_us(d, f),
            t.t1_character_waiting_time_us(d),
        );
        let _ = t.t1_block_guard_time_us();
        // Exact (nothing saturates on the way to a shorter time), capped at
        // u32::MAX: against the value in 128 bits. The input byte `d` serves as
        // the BWI too.
        let bwi = d.min(15);
        let (f_wide, d_wide) = (u128::from(f), u128::from(d));
        let cycles = (11 * f_wide + (1u128 << bwi) * 960 * 372 * d_wide) * 255;
        let exact = (cycles * 1_000).div_ceil(d_wide * u128::from(clock));
        assert_eq!(
            u128::from(t.t1_block_waiting_time_us(bwi, 255)),
            exact.min(u128::from(u32::MAX)),
            "{t:?} BWI {bwi}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    if let [sw1, sw2, ..] = data {
        let sw = StatusWord::new(*sw1, *sw2);
        let _ = (sw.class().name(), sw.to_string());
    }
    fuzz_historical(data.get(..15).unwrap_or(data));
    let (clock, raw) = if data.len() >= 4 {
        let (c, rest) = data.split_at(4);
        (u32::from_le_bytes([c[0], c[1], c[2], c[3]]), rest)
    } else {
        (3580, data)
    };
    fuzz_untrusted_timing(data);
    let Ok(atr) = Atr::parse(raw) else { return };
    fuzz_historical(atr.historical());
    let start = atr.historical_offset();
    let tck_len = usize::from(atr.tck_byte().is_some());
    assert_eq!(
        start + atr.historical().len() + tck_len,
        raw.len(),
        "the historical bytes end right before TCK"
    );
    // In the direct convention (an inverse ATR's bytes are decoded).
    let bytes = atr.as_bytes();
    assert_eq!(
        &bytes[start..start + atr.historical().len()],
        atr.historical()
    );
    assert_eq!(atr.as_bytes().len(), raw.len());
    assert!(atr.historical().len() <= 15);
    assert!(matches!(atr.ts(), 0x3B | 0x3F));
    assert_eq!(atr.t0(), atr.as_bytes()[1]);
    assert_eq!(atr.historical().len(), usize::from(atr.t0() & 0x0F));
    assert_eq!(atr.tck_byte().is_some(), atr.tck() != Tck::Absent);
    let _ = atr.convention();
    let _ = format!("{atr:?}");
    assert!(atr.groups().count() <= readerkit::atr::MAX_LEN);
    for group in atr.groups() {
        let _ = group.protocol();
    }
    let p = atr.parameters();
    let checked = p.check(atr.tck());
    if checked.is_ok() {
        // A usable ATR has a known F and offers T=0 or T=1.
        assert!(p.fmax_khz().is_some());
        assert!(!p.protocols.is_empty());
    } else if atr.tck() == Tck::Bad {
        assert_eq!(checked, Err(readerkit::atr::Unsupported::BadTck));
    }
    let _ = p.default_protocol();
    let analysis = atr.analysis();
    for flag in analysis.flags.iter() {
        let _ = (flag.name(), flag.description());
    }
    let caps = CardCapabilities::new(atr.clone(), &ReaderCapabilities::typical());
    let initial = p.initial_timing(clock);
    let card = Timing::from_indices(p.fi, p.di, clock);
    assert_eq!(
        card.is_some(),
        timing::clock_rate_conversion(p.fi).is_some()
            && timing::baud_rate_adjustment(p.di).is_some()
    );
    for t in [Some(Timing::default_at(clock)), Some(initial), card]
        .into_iter()
        .flatten()
    {
        let _ = t.etu_ns();
        let _ = t.baud();
        let _ = t.etu_to_us(u32::from(p.n));
        let _ = t.guard_time_us(p.n, false);
        let _ = t.guard_time_us(p.n, true);
        let _ = t.t0_waiting_time_us(p.wi, p.announced_f());
        let _ = t.t1_character_waiting_time_us(p.cwi);
        let _ = t.t1_block_waiting_time_us(p.bwi, 1);
        let _ = t.t1_block_waiting_time_us(p.bwi, 255);
        let _ = t.t1_block_guard_time_us();
        // TC1 in etu of `t`: 0 and 255 (the minimum) kept, any other N at least 1
        // and at most 254 (with T=15, Fi/Di cycles rounded up to etu).
        let n = caps.extra_guard_n_at(&t);
        match p.n {
            0 | 255 => assert_eq!(n, p.n),
            _ => assert!((1..=254).contains(&n), "{t:?} N {} -> {n}", p.n),
        }
    }
});

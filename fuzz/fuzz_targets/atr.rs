//! Arbitrary bytes against the ATR checked view.
//!
//! Input layout: 4 bytes of card clock in kHz (little endian; 0 is allowed and
//! treated as 1 kHz by `Timing`), then the ATR bytes. Every accessor, the derived
//! parameters, the check, the analysis and every timing must not panic; the checked
//! view keeps all the bytes and at most 15 historical bytes. The historical bytes'
//! checked view (of the ATR's, and of the input's first 15 bytes) walks objects that
//! lie within them; every status word has a meaning that does not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use readerkit::atr::{Atr, Historical, Tck};
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
    let Ok(atr) = Atr::parse(raw) else { return };
    fuzz_historical(atr.historical());
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
        let fi_f = timing::clock_rate_conversion(p.fi).map_or(timing::F_DEFAULT, |r| r.f);
        let _ = t.etu_ns();
        let _ = t.baud();
        let _ = t.etu_to_us(u32::from(p.n));
        let _ = t.guard_time_us(p.n, false);
        let _ = t.guard_time_us(p.n, true);
        let _ = t.t0_waiting_time_us(p.wi, fi_f);
        let _ = t.t1_character_waiting_time_us(p.cwi);
        let _ = t.t1_block_waiting_time_us(p.bwi, 1);
        let _ = t.t1_block_waiting_time_us(p.bwi, 255);
        let _ = t.t1_block_guard_time_us();
    }
});

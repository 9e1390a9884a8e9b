//! Hostile reader.conf `DEVICENAME`s through the host readers' device-name parser
//! (`readerkit_host_readers::DeviceName::parse`: the `log=` option, `sim:`,
//! `vpcd:` and `serial:`), the way pcscd hands them over. Nothing is opened.
//!
//! Input: the name's bytes, read twice: as a `str` when they are UTF-8, and the
//! way the IFD handler reads its C string (up to the first NUL, invalid UTF-8
//! replaced). Oracles, for every name that parses:
//! * a vpcd host is not empty and has no `=`, NUL, other control character or
//!   space (what the resolver would refuse only when the reader is opened);
//! * every number is in the range the documentation promises (vpcd port 1 to
//!   65 535 and timeout 1 to 86 400 s; serial baud 1 200 to 4 000 000 bit/s,
//!   TDA8029 clock 1 000 to 20 000 kHz, crystal 1 000 to 40 000 kHz, card clock
//!   1 000 to 5 000 kHz, GPIO line offsets 0 to 1 023 and distinct);
//! * the parse printed back in the documented syntax (`canonical` below) parses
//!   to the same reader, settings and level;
//! * without a level, the name with `:log=debug` appended parses to the same
//!   reader at level debug (every device name takes a trailing `:log=LEVEL`);
//! * the name without its `log=` option (`DeviceName::reader`) parses to the same
//!   reader with no level.
#![no_main]

use std::fmt::Write;

use libfuzzer_sys::fuzz_target;
use readerkit::trace::Level;
use readerkit_card_sim::SlotCard;
use readerkit_hal::Class;
use readerkit_hal::chip::ClockDivider;
use readerkit_host_readers::DeviceName;
use readerkit_host_readers::device_name::Kind;
use readerkit_host_readers::serial::spec::{GpioChip, Spec as SerialSpec};
use readerkit_host_readers::vpcd::spec::{MAX_DEADLINE_S, Spec as VpcdSpec};

/// The name of `slot`, one of `SlotCard::NAMES`.
fn slot_name(slot: &SlotCard) -> &'static str {
    SlotCard::NAMES
        .into_iter()
        .find(|name| SlotCard::from_name(name).as_ref() == Some(slot))
        .expect("every slot card has a name")
}

fn class_letter(class: Class) -> char {
    match class {
        Class::A => 'A',
        Class::B => 'B',
        Class::C => 'C',
    }
}

fn chip_name(chip: GpioChip) -> &'static str {
    match chip {
        GpioChip::Tda8035 => "tda8035",
        GpioChip::Tda8024 => "tda8024",
        GpioChip::St8024 => "st8024",
        GpioChip::St8024L => "st8024l",
        GpioChip::Ncn8025 => "ncn8025",
    }
}

fn divider(divider: ClockDivider) -> u32 {
    match divider {
        ClockDivider::Div1 => 1,
        ClockDivider::Div2 => 2,
        ClockDivider::Div4 => 4,
        ClockDivider::Div8 => 8,
    }
}

/// `spec` printed back in the syntax of `host-readers/src/vpcd/mod.rs`, every option spelt out.
fn vpcd_name(spec: &VpcdSpec) -> String {
    format!("vpcd:{}:timeout={}", spec.address, spec.deadline.as_secs())
}

/// `spec` printed back in the syntax of `host-readers/src/serial/mod.rs`, every option spelt out.
fn serial_name(spec: &SerialSpec) -> String {
    match spec {
        SerialSpec::Alpar {
            path,
            baud,
            class,
            clock_khz,
        } => format!(
            "serial:{path}:tda8029:{baud}:class={}:clock={clock_khz}",
            class_letter(*class)
        ),
        SerialSpec::Gpio {
            path,
            chip,
            gpiochip,
            pins,
            config,
        } => {
            let mut name = format!(
                "serial:{path}:{}:{gpiochip}:CMDVCC={},RSTIN={},OFF={}",
                chip_name(*chip),
                pins.cmdvcc,
                pins.rstin,
                pins.off
            );
            for (pin, offset) in [
                ("VSEL0", pins.vsel0),
                ("VSEL1", pins.vsel1),
                ("CLKDIV1", pins.clkdiv1),
                ("CLKDIV2", pins.clkdiv2),
            ] {
                if let Some(offset) = offset {
                    write!(name, ",{pin}={offset}").unwrap();
                }
            }
            let classes: String = [Class::A, Class::B, Class::C]
                .into_iter()
                .filter(|&c| config.classes.contains(c))
                .map(class_letter)
                .collect();
            write!(
                name,
                ":clock={}:div={}:classes={classes}:echo={}",
                config.xtal_khz,
                divider(config.divider),
                u8::from(config.echo)
            )
            .unwrap();
            name
        }
    }
}

/// `name` printed back in the documented syntax.
fn canonical(name: &DeviceName) -> String {
    let mut text = match &name.kind {
        Kind::Sim(slot) => format!("sim:{}", slot_name(slot)),
        Kind::Vpcd(spec) => vpcd_name(spec),
        Kind::Serial(spec) => serial_name(spec),
        _ => unreachable!("a kind this target does not know"),
    };
    if let Some(level) = name.level {
        write!(text, ":log={level}").unwrap();
    }
    text
}

fn check_ranges(kind: &Kind) {
    match kind {
        Kind::Sim(_) => {}
        Kind::Vpcd(spec) => {
            let (host, port) = spec.address.rsplit_once(':').expect("HOST:PORT");
            assert!(!host.is_empty(), "{spec:?}");
            assert!(
                !host
                    .chars()
                    .any(|c| c == '=' || c == ' ' || c.is_ascii_control()),
                "{spec:?}"
            );
            let port: u16 = port.parse().expect("a decimal port");
            assert_ne!(port, 0, "{spec:?}");
            assert!(
                (1..=MAX_DEADLINE_S).contains(&spec.deadline.as_secs())
                    && spec.deadline.subsec_nanos() == 0,
                "{spec:?}"
            );
        }
        Kind::Serial(SerialSpec::Alpar {
            path,
            baud,
            clock_khz,
            ..
        }) => {
            assert!(path.starts_with('/') && path.len() > 1 && !path.contains('\0'));
            assert!((1_200..=4_000_000).contains(baud), "baud {baud}");
            assert!((1_000..=20_000).contains(clock_khz), "clock {clock_khz}");
        }
        Kind::Serial(SerialSpec::Gpio {
            path,
            gpiochip,
            pins,
            config,
            ..
        }) => {
            assert!(path.starts_with('/') && path.len() > 1 && !path.contains('\0'));
            assert!(gpiochip.starts_with('/') && !gpiochip.contains(':'));
            assert!(pins.offsets().all(|offset| offset <= 1_023), "{pins:?}");
            assert!(!pins.has_duplicates(), "{pins:?}");
            assert!((1_000..=40_000).contains(&config.xtal_khz), "{config:?}");
            assert!(
                (1_000..=5_000).contains(&config.card_clock_khz()),
                "{config:?}"
            );
            assert!(config.classes.0 != 0 && config.classes.0 & !7 == 0);
        }
        _ => unreachable!("a kind this target does not know"),
    }
}

fn check(text: &str) {
    let Ok(name) = DeviceName::parse(text) else {
        return;
    };
    check_ranges(&name.kind);

    let printed = canonical(&name);
    let again = DeviceName::parse(&printed)
        .unwrap_or_else(|e| panic!("{text:?} parsed, its canonical form {printed:?} did not: {e}"));
    assert_eq!(
        (&again.kind, again.level),
        (&name.kind, name.level),
        "{text:?} / {printed:?}"
    );

    let bare = DeviceName::parse(&name.reader)
        .unwrap_or_else(|e| panic!("{text:?} parsed, {:?} did not: {e}", name.reader));
    assert_eq!((&bare.kind, bare.level), (&name.kind, None), "{text:?}");

    if name.level.is_none() {
        let logged = format!("{text}:log=debug");
        let with_level = DeviceName::parse(&logged)
            .unwrap_or_else(|e| panic!("{text:?} parsed, {logged:?} did not: {e}"));
        assert_eq!(
            (&with_level.kind, with_level.level),
            (&name.kind, Some(Level::Debug)),
            "{logged:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check(text);
    }
    // The IFD handler's way: CStr::from_ptr (up to the NUL), to_string_lossy.
    let c_string = data.split(|&b| b == 0).next().unwrap_or_default();
    check(&String::from_utf8_lossy(c_string));
});

//! The committed header `include/readerkit.h` must be what cbindgen generates now.
//!
//! Regenerate it with
//! `cargo test -p readerkit-c --test header -- --ignored regenerate`.

use std::path::PathBuf;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn generate() -> String {
    let dir = crate_dir();
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .generate()
        .expect("cbindgen failed");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("utf-8 header")
}

#[test]
fn header_is_up_to_date() {
    let path = crate_dir().join("include/readerkit.h");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let fresh = generate();
    if committed != fresh {
        let line = committed
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(fresh.lines().count()));
        panic!(
            "{} differs from what cbindgen generates now (first difference at line {}:\n  committed: {:?}\n  generated: {:?}).\n\
             Regenerate it with: cargo test -p readerkit-c --test header -- --ignored regenerate",
            path.display(),
            line + 1,
            committed.lines().nth(line),
            fresh.lines().nth(line),
        );
    }
}

#[test]
#[ignore = "writes include/readerkit.h; run explicitly to regenerate"]
fn regenerate() {
    std::fs::write(crate_dir().join("include/readerkit.h"), generate()).expect("write header");
}

/// `BufferOverflow` → `BUFFER_OVERFLOW`.
fn c_name(value: impl std::fmt::Debug) -> String {
    let mut out = String::new();
    for (i, c) in format!("{value:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The value of `#define name value` in the committed header.
fn define(header: &str, name: &str) -> Option<u64> {
    header.lines().find_map(|line| {
        let rest = line.strip_prefix("#define ")?.strip_prefix(name)?;
        let value = rest.strip_prefix(' ')?.trim();
        match value.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => value.parse().ok(),
        }
    })
}

/// The C status codes are an API with frozen values; the core owns the order (a new
/// status comes last). Every `RK_STATUS_*` is the status's place in the core's
/// order, as C sees it in the header; `RK_STATUS_PENDING` is one past the last, so
/// it is the one value that moves when a status is added (16 -> 17 with
/// `RK_STATUS_DEVICE_NOT_READY`: a C driver is rebuilt against the new header).
/// And the header has no second copy of the core's status table (the `rk_status_to_*`
/// functions read the core's).
#[test]
fn header_status_constants_are_the_cores_order() {
    let header = std::fs::read_to_string(crate_dir().join("include/readerkit.h")).unwrap();
    for (i, status) in readerkit::Status::ALL.iter().enumerate() {
        let constant = format!("RK_STATUS_{}", c_name(*status));
        assert_eq!(define(&header, &constant), Some(i as u64), "{constant}");
    }
    assert_eq!(define(&header, "RK_STATUS_DEVICE_NOT_READY"), Some(16));
    assert_eq!(define(&header, "RK_STATUS_PENDING"), Some(17));
    for space in ["NTSTATUS", "WIN32", "IFD", "SCARD"] {
        let copy = format!("#define RK_{space}_");
        assert!(
            !header.contains(&copy),
            "the header copies the status table: {copy}"
        );
    }
}

/// The codes C and the library pass each other for a POWER action (to the POWER
/// callback, the line's `reset`, `rk_sim_power`), a card event (`rk_card_event`),
/// a log level and a PIN prompt are the core's own: `PowerAction::code`,
/// `CardEvent`'s value, and `Level`'s and `Prompt`'s place in their declarations
/// (the binding passes `level as u32`, `prompt as u32`).
#[test]
fn header_power_event_level_and_prompt_codes_are_the_cores() {
    use readerkit::event::CardEvent::{Fault, Inserted, Removed};
    use readerkit::ioctl::PowerAction::{ColdReset, PowerDown, WarmReset};
    use readerkit::pin::Prompt::{ConfirmNewPin, EnterCurrentPin, EnterNewPin, EnterPin};
    use readerkit::trace::Level::{Debug, Error, Info, Off, Trace};
    let header = std::fs::read_to_string(crate_dir().join("include/readerkit.h")).unwrap();
    let mut codes = named("RK_POWER", &[PowerDown, ColdReset, WarmReset], |p| {
        p.code().into()
    });
    codes.extend(named("RK_CARD", &[Inserted, Removed, Fault], |e| e as u64));
    codes.extend(named("RK_LOG", &[Off, Error, Info, Debug, Trace], |l| {
        l as u64
    }));
    let prompts = [EnterPin, EnterCurrentPin, EnterNewPin, ConfirmNewPin];
    codes.extend(named("RK_PROMPT", &prompts, |p| p as u64));
    for (constant, value) in codes {
        // `RK_POWER_POWER_DOWN` is spelt `RK_POWER_DOWN`.
        let constant = constant.replace("POWER_POWER_", "POWER_");
        assert_eq!(define(&header, &constant), Some(value), "{constant}");
    }
}

/// Each of `values` with its C constant's name (`prefix` and its own) and its
/// core value.
fn named<T: std::fmt::Debug + Copy>(
    prefix: &str,
    values: &[T],
    value: impl Fn(T) -> u64,
) -> Vec<(String, u64)> {
    let name = |v| format!("{prefix}_{}", c_name(v));
    values.iter().map(|&v| (name(v), value(v))).collect()
}

/// Every `RK_IOCTL_*` in the header is the core's code of the IOCTL of that name,
/// and the header has one for each standard request a C driver sends.
#[test]
fn header_ioctl_constants_are_the_cores_codes() {
    let header = std::fs::read_to_string(crate_dir().join("include/readerkit.h")).unwrap();
    let mut names = Vec::new();
    for line in header.lines() {
        let Some(rest) = line.strip_prefix("#define RK_IOCTL_") else {
            continue;
        };
        let name = rest.split(' ').next().unwrap_or_default();
        let constant = format!("RK_IOCTL_{name}");
        let value = define(&header, &constant).expect("a number");
        let ioctl = u32::try_from(value)
            .ok()
            .and_then(readerkit::Ioctl::from_code)
            .unwrap_or_else(|| panic!("{constant} = {value:#x} is no smart card IOCTL"));
        assert_eq!(c_name(ioctl), name, "{constant} = {value:#x}");
        names.push(name.to_owned());
    }
    assert_eq!(names.len(), 12, "POWER to GET_LAST_ERROR: {names:?}");
}

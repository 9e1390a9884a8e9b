//! The `serial:` device name (what follows `serial:`), syntax in [`super`].

use readerkit::Status;
use readerkit_hal::chip::ClockDivider;
use readerkit_hal::interface::Config;
use readerkit_hal::linux::PinNumbers;
use readerkit_hal::{Class, Classes};

use crate::device_name::{self, in_range, number};

/// Default ALPAR link rate (the TDA8029's after reset).
pub const ALPAR_DEFAULT_BAUD: u32 = 38_400;
/// Default card clock reported for a TDA8029, in kHz.
pub const ALPAR_DEFAULT_CLOCK_KHZ: u32 = 3_686;
/// Default crystal frequency of a GPIO + UART chip, in kHz.
pub const GPIO_DEFAULT_CLOCK_KHZ: u32 = 4_000;

/// A GPIO + UART interface chip named in a device name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GpioChip {
    /// NXP TDA8035.
    Tda8035,
    /// NXP TDA8024.
    Tda8024,
    /// ST ST8024.
    St8024,
    /// ST ST8024L.
    St8024L,
    /// onsemi NCN8025.
    Ncn8025,
}

impl GpioChip {
    fn from_name(name: &str) -> Option<GpioChip> {
        Some(match name {
            "tda8035" => GpioChip::Tda8035,
            "tda8024" => GpioChip::Tda8024,
            "st8024" => GpioChip::St8024,
            "st8024l" => GpioChip::St8024L,
            "ncn8025" => GpioChip::Ncn8025,
            _ => return None,
        })
    }
}

/// A parsed `serial:` device name (what follows `serial:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    /// A TDA8029 over ALPAR.
    Alpar {
        /// Serial device path.
        path: String,
        /// Link rate, bit/s.
        baud: u32,
        /// Class for power-up.
        class: Class,
        /// Card clock reported, kHz.
        clock_khz: u32,
    },
    /// A GPIO + UART chip.
    Gpio {
        /// Serial device path (the card's I/O line).
        path: String,
        /// The chip.
        chip: GpioChip,
        /// GPIO character device path.
        gpiochip: String,
        /// Control line offsets.
        pins: PinNumbers,
        /// Board settings (crystal, divider, classes, echo).
        config: Config,
    },
}

/// The chip name of a TDA8029 (ALPAR) reader.
pub(super) const ALPAR_NAME: &str = "tda8029";

fn is_chip(field: &str) -> bool {
    field == ALPAR_NAME || GpioChip::from_name(field).is_some()
}

fn class(value: &str) -> Result<Class, Status> {
    match value {
        "A" | "a" => Ok(Class::A),
        "B" | "b" => Ok(Class::B),
        "C" | "c" => Ok(Class::C),
        _ => Err(Status::NotSupported),
    }
}

fn classes(value: &str) -> Result<Classes, Status> {
    let mut set = 0u8;
    for c in value.chars() {
        let bit = class(c.encode_utf8(&mut [0; 4]))?.bit();
        if set & bit != 0 {
            return Err(Status::NotSupported);
        }
        set |= bit;
    }
    if set == 0 {
        return Err(Status::NotSupported);
    }
    Ok(Classes(set))
}

/// Parse what follows `serial:`; see the module documentation. Every malformed
/// spec is [`Status::NotSupported`].
pub fn parse(spec: &str) -> Result<Spec, Status> {
    let fields: Vec<&str> = spec.split(':').collect();
    let at = fields
        .iter()
        .position(|f| is_chip(f))
        .ok_or(Status::NotSupported)?;
    let path = fields[..at].join(":");
    if !path.starts_with('/') || path.len() < 2 || path.contains('\0') {
        return Err(Status::NotSupported);
    }
    let chip = fields[at];
    let rest = &fields[at + 1..];
    if chip == ALPAR_NAME {
        parse_alpar(path, rest)
    } else {
        let chip = GpioChip::from_name(chip).ok_or(Status::NotSupported)?;
        parse_gpio(path, chip, rest)
    }
}

/// `[BAUD][:class=X][:clock=KHZ]`, each at most once (`baud=BAUD` too).
fn parse_alpar(path: String, rest: &[&str]) -> Result<Spec, Status> {
    let (mut baud, options) = match rest {
        [first, options @ ..] if !first.contains('=') => (Some(number(first)?), options),
        options => (None, options),
    };
    let (mut cls, mut clock) = (None, None);
    for (key, value) in device_name::options(options)? {
        match key {
            "baud" if baud.is_none() => baud = Some(number(value)?),
            "class" => cls = Some(class(value)?),
            "clock" => clock = Some(number(value)?),
            _ => return Err(Status::NotSupported),
        }
    }
    Ok(Spec::Alpar {
        path,
        baud: in_range(baud.unwrap_or(ALPAR_DEFAULT_BAUD), 1_200, 4_000_000)?,
        class: cls.unwrap_or(Class::A),
        clock_khz: in_range(clock.unwrap_or(ALPAR_DEFAULT_CLOCK_KHZ), 1_000, 20_000)?,
    })
}

/// `GPIOCHIP:PINS[:clock=KHZ][:div=N][:classes=ABC][:echo=0|1]`.
fn parse_gpio(path: String, chip: GpioChip, rest: &[&str]) -> Result<Spec, Status> {
    let [gpiochip, pin_list, options @ ..] = rest else {
        return Err(Status::NotSupported);
    };
    let gpiochip = if gpiochip.starts_with('/') {
        (*gpiochip).to_owned()
    } else if gpiochip.starts_with("gpiochip")
        && number::<u32>(&gpiochip["gpiochip".len()..]).is_ok()
    {
        format!("/dev/{gpiochip}")
    } else {
        return Err(Status::NotSupported);
    };
    let pins = parse_pins(pin_list)?;
    let mut config = Config::new(GPIO_DEFAULT_CLOCK_KHZ);
    for (key, value) in device_name::options(options)? {
        match key {
            "clock" => config.xtal_khz = in_range(number(value)?, 1_000, 40_000)?,
            "div" => {
                config.divider = match value {
                    "1" => ClockDivider::Div1,
                    "2" => ClockDivider::Div2,
                    "4" => ClockDivider::Div4,
                    "8" => ClockDivider::Div8,
                    _ => return Err(Status::NotSupported),
                }
            }
            "classes" => config.classes = classes(value)?,
            "echo" => {
                config.echo = match value {
                    "0" => false,
                    "1" => true,
                    _ => return Err(Status::NotSupported),
                }
            }
            _ => return Err(Status::NotSupported),
        }
    }
    // ISO/IEC 7816-3: the card clock is 1 to 5 MHz at activation.
    in_range(config.card_clock_khz(), 1_000, 5_000)?;
    Ok(Spec::Gpio {
        path,
        chip,
        gpiochip,
        pins,
        config,
    })
}

/// `CMDVCC=n,RSTIN=n,OFF=n[,VSEL0=n][,VSEL1=n][,CLKDIV1=n][,CLKDIV2=n]`, names in
/// any order, each at most once, no line used twice.
fn parse_pins(list: &str) -> Result<PinNumbers, Status> {
    let mut slots: [Option<u32>; 7] = [None; 7];
    const NAMES: [&str; 7] = [
        "CMDVCC", "RSTIN", "OFF", "VSEL0", "VSEL1", "CLKDIV1", "CLKDIV2",
    ];
    for item in list.split(',') {
        let (name, value) = item.split_once('=').ok_or(Status::NotSupported)?;
        let index = NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))
            .ok_or(Status::NotSupported)?;
        // A GPIO chip has at most a few hundred lines; offsets are u32 in the ABI.
        let offset = in_range(number(value)?, 0, 1023)?;
        if slots[index].replace(offset).is_some() {
            return Err(Status::NotSupported);
        }
    }
    let [cmdvcc, rstin, off, vsel0, vsel1, clkdiv1, clkdiv2] = slots;
    let pins = PinNumbers {
        cmdvcc: cmdvcc.ok_or(Status::NotSupported)?,
        rstin: rstin.ok_or(Status::NotSupported)?,
        off: off.ok_or(Status::NotSupported)?,
        vsel0,
        vsel1,
        clkdiv1,
        clkdiv2,
    };
    if pins.has_duplicates() {
        return Err(Status::NotSupported);
    }
    Ok(pins)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tda8029_specs() {
        assert_eq!(
            parse("/dev/ttyUSB0:tda8029"),
            Ok(Spec::Alpar {
                path: "/dev/ttyUSB0".into(),
                baud: 38_400,
                class: Class::A,
                clock_khz: ALPAR_DEFAULT_CLOCK_KHZ,
            })
        );
        assert_eq!(
            parse("/dev/pts/7:tda8029:115200:class=B:clock=3579"),
            Ok(Spec::Alpar {
                path: "/dev/pts/7".into(),
                baud: 115_200,
                class: Class::B,
                clock_khz: 3_579,
            })
        );
        // A by-path name with colons in it.
        let Ok(Spec::Alpar { path, .. }) =
            parse("/dev/serial/by-path/pci-0000:00:14.0-usb-0:2:1.0-port0:tda8029:baud=9600")
        else {
            panic!("by-path");
        };
        assert_eq!(
            path,
            "/dev/serial/by-path/pci-0000:00:14.0-usb-0:2:1.0-port0"
        );
    }

    #[test]
    fn gpio_specs() {
        assert_eq!(
            parse("/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27,OFF=22"),
            Ok(Spec::Gpio {
                path: "/dev/ttyS0".into(),
                chip: GpioChip::Tda8035,
                gpiochip: "/dev/gpiochip0".into(),
                pins: PinNumbers {
                    cmdvcc: 17,
                    rstin: 27,
                    off: 22,
                    vsel0: None,
                    vsel1: None,
                    clkdiv1: None,
                    clkdiv2: None,
                },
                config: Config::new(4_000),
            })
        );
        let spec = "/dev/ttyAMA0:ncn8025:/dev/gpiochip4:off=5,cmdvcc=6,RSTIN=13,VSEL0=19,VSEL1=26,CLKDIV1=20,CLKDIV2=21:clock=8000:div=2:classes=AB:echo=0";
        let Ok(Spec::Gpio {
            chip,
            gpiochip,
            pins,
            config,
            ..
        }) = parse(spec)
        else {
            panic!("{spec}");
        };
        assert_eq!(chip, GpioChip::Ncn8025);
        assert_eq!(gpiochip, "/dev/gpiochip4");
        assert_eq!(
            pins.offsets().collect::<Vec<_>>(),
            [6, 13, 5, 19, 26, 20, 21]
        );
        assert_eq!(config.xtal_khz, 8_000);
        assert_eq!(config.divider, ClockDivider::Div2);
        assert_eq!(config.card_clock_khz(), 4_000);
        assert_eq!(config.classes, Classes::AB);
        assert!(!config.echo);
        for name in ["tda8024", "st8024", "st8024l"] {
            let spec = format!("/dev/ttyS1:{name}:gpiochip1:CMDVCC=1,RSTIN=2,OFF=3");
            assert!(matches!(parse(&spec), Ok(Spec::Gpio { .. })), "{spec}");
        }
    }

    #[test]
    fn malformed_specs_are_refused() {
        for bad in [
            "",
            "tda8029",
            "/dev/ttyUSB0",
            "/dev/ttyUSB0:",
            "ttyUSB0:tda8029",
            "/:tda8029",
            "/dev/ttyUSB0:tda8030",
            "/dev/ttyUSB0:TDA8029",
            "/dev/ttyUSB0:tda8029:0",
            "/dev/ttyUSB0:tda8029:-9600",
            "/dev/ttyUSB0:tda8029:9600:9600",
            "/dev/ttyUSB0:tda8029:baud=9600:baud=9600",
            "/dev/ttyUSB0:tda8029:9600:baud=9600",
            "/dev/ttyUSB0:tda8029:class=B:9600",
            "/dev/ttyUSB0:tda8029:99999999999",
            "/dev/ttyUSB0:tda8029:class=D",
            "/dev/ttyUSB0:tda8029:class=A:class=B",
            "/dev/ttyUSB0:tda8029:clock=5",
            "/dev/ttyUSB0:tda8029:speed=9600",
            "/dev/ttyUSB0:tda8029:0x9600",
            "/dev/ttyS0:tda8035",
            "/dev/ttyS0:tda8035:gpiochip0",
            "/dev/ttyS0:tda8035:gpiochip0:",
            "/dev/ttyS0:tda8035:gpio0:CMDVCC=17,RSTIN=27,OFF=22",
            "/dev/ttyS0:tda8035:gpiochipX:CMDVCC=17,RSTIN=27,OFF=22",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=17,OFF=22",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27,OFF=22,CMDVCC=3",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27,OFF=22,VSEL2=4",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27,OFF=",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27,OFF=99999",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17;RSTIN=27;OFF=22",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27,OFF=22:clock",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27,OFF=22:clock=4000:clock=4000",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27,OFF=22:clock=20000",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27,OFF=22:clock=4000:div=8",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27,OFF=22:div=3",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27,OFF=22:classes=",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27,OFF=22:classes=AA",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27,OFF=22:echo=yes",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27,OFF=22:colour=red",
        ] {
            assert_eq!(parse(bad), Err(Status::NotSupported), "{bad:?}");
        }
    }
}

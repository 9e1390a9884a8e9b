//! pcsc-lite's control-code encoding (`0x42000000 + fn`), which is what a client
//! passes to `SCardControl` and what the readers announce in their PC/SC part 10
//! answers ([`readerkit::part10`]).

use readerkit_host_readers::Host;

/// pcsc-lite's `SCARD_CTL_CODE(0)`: its control codes are this plus the function.
const PCSCLITE_CTL_BASE: u32 = 0x4200_0000;

/// pcsc-lite's `SCARD_CTL_CODE(function)` = `0x42000000 + function`. The one
/// encoder of this layout; [`pcsclite_ctl_function`] is its inverse.
pub const fn pcsclite_ctl_code(function: u16) -> u32 {
    PCSCLITE_CTL_BASE + function as u32
}

/// The function number of a pcsc-lite control code, the inverse of
/// [`pcsclite_ctl_code`]; `None` for a code outside `0x42000000..=0x4200FFFF`
/// (a Windows `SCARD_CTL_CODE`, for one: [`readerkit::ioctl::scard_ctl_function`]).
pub const fn pcsclite_ctl_function(code: u32) -> Option<u16> {
    match code.checked_sub(PCSCLITE_CTL_BASE) {
        Some(function) if function <= u16::MAX as u32 => Some(function as u16),
        _ => None,
    }
}

/// The readers' host: pcsc-lite (its control codes).
#[derive(Debug, Clone, Copy)]
pub struct Pcsclite;

impl Host for Pcsclite {
    fn ctl_code(function: u16) -> u32 {
        pcsclite_ctl_code(function)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctl_code_layout_round_trips_every_function_and_refuses_other_codes() {
        for function in 0..=u16::MAX {
            let code = pcsclite_ctl_code(function);
            assert_eq!(pcsclite_ctl_function(code), Some(function), "fn {function}");
        }
        assert_eq!(pcsclite_ctl_code(3400), 0x4200_0D48);
        for code in [
            0,
            0x4200_0000 - 1,
            0x4201_0000,
            u32::MAX,
            readerkit::ioctl::scard_ctl_code(3400),
        ] {
            assert_eq!(pcsclite_ctl_function(code), None, "{code:#x}");
        }
    }

    #[test]
    fn vendor_functions_arrive_under_either_layout_and_nothing_else_does() {
        use crate::ifdh::vendor_ioctl;
        use readerkit::Ioctl;
        use readerkit::ioctl::scard_ctl_code;
        for function in [2048u16, 3400, 3500, 4095] {
            let vendor = Some(Ioctl::Vendor(function));
            assert_eq!(vendor_ioctl(pcsclite_ctl_code(function).into()), vendor);
            assert_eq!(vendor_ioctl(scard_ctl_code(function).into()), vendor);
        }
        // Not vendor functions; a pcsc-lite function wider than Windows' 12 bits
        // (0x4000 + 2048 would alias 2048 there); no code at all; beyond 32 bits.
        for code in [
            pcsclite_ctl_code(1),
            pcsclite_ctl_code(2047),
            pcsclite_ctl_code(4096),
            pcsclite_ctl_code(0x4000 + 2048),
            scard_ctl_code(5),
            0x0031_2001,
            0,
        ] {
            assert_eq!(vendor_ioctl(code.into()), None, "{code:#x}");
        }
        // Where DWORD (unsigned long) is 64 bits, as on LP64: a code beyond 32
        // bits. On a 32-bit target no DWORD can hold one.
        #[cfg(target_pointer_width = "64")]
        assert_eq!(vendor_ioctl(0x1_4200_0D48), None);
    }
}

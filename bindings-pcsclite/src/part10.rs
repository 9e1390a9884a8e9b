//! pcsc-lite's control-code encoding (`0x42000000 + fn`), which is what a client
//! passes to `SCardControl` and what the readers announce in their PC/SC part 10
//! answers ([`readerkit::part10`]).

use readerkit_host_readers::Host;

/// pcsc-lite's `SCARD_CTL_CODE(code)`.
pub const fn pcsclite_ctl_code(function: u16) -> u32 {
    0x4200_0000 + function as u32
}

/// The readers' host: pcsc-lite (its control codes).
#[derive(Debug, Clone, Copy)]
pub struct Pcsclite;

impl Host for Pcsclite {
    fn ctl_code(function: u16) -> u32 {
        pcsclite_ctl_code(function)
    }
}

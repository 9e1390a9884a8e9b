//! What the host binding serving the readers decides for them.

/// The host binding's side of the readers: how its clients name a vendor function.
///
/// A reader announces control codes in its PC/SC part 10 answers (the feature
/// list, the PIN pad's features), which a client passes back to `SCardControl`;
/// their encoding is the host's: pcsc-lite `0x42000000 + function`, Windows
/// `SCARD_CTL_CODE(function)` = `0x00310000 | function << 2`.
pub trait Host {
    /// The control code a client of this host passes for vendor `function`.
    fn ctl_code(function: u16) -> u32;
}

//! PC/SC part 10 on the vendor-IOCTL path: the core's [`readerkit::part10`] answers,
//! with pcsc-lite's control-code encoding (`0x42000000 + fn`), which is what a client
//! passes back to `SCardControl`; plus the simulated card's fault switch.

use readerkit::Failure;
pub use readerkit::part10::function_of;

/// pcsc-lite's `SCARD_CTL_CODE(code)`.
pub const fn pcsclite_ctl_code(function: u16) -> u32 {
    0x4200_0000 + function as u32
}

/// The simulated card's fault switch (a readerkit vendor IOCTL, `sim:` only): input
/// `[0]` clears faults, `[1, n]` mutes the card after `n` more answers, `[2]` mutes
/// it at once; a reset ends the muteness.
pub const FN_SIM_FAULT: u16 = 3500;

/// The simulated card's slot switch (a readerkit vendor IOCTL, `sim:` only): input
/// `[0]` takes the card out, `[1]` puts a new card in, `[2]` swaps it for a new one
/// at once (a removal and an insertion between two looks of the host).
pub const FN_SIM_CARD: u16 = 3501;

/// The simulated reader's key switch (a readerkit vendor IOCTL, `sim:` only): the
/// input is the script its PIN pad plays next, one byte a key: `0`-`9`, `E`
/// Enter, `C` Cancel, `X` Clear, `B` Backspace (100 ms of simulated time apart);
/// after the script, silence, so an empty script times out at once. Any other
/// byte is refused (invalid parameter).
pub const FN_SIM_KEYS: u16 = 3502;

/// Answer a part 10 request, or `None` if `function` is none of them.
/// `max_apdu_data` is announced as `dwMaxAPDUDataSize`.
pub fn answer(
    function: u16,
    output: &mut [u8],
    max_apdu_data: u32,
) -> Option<Result<usize, Failure>> {
    readerkit::part10::answer(function, output, max_apdu_data, pcsclite_ctl_code)
}

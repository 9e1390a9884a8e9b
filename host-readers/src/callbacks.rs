//! Driver callbacks several readers share.

use readerkit::Failure;
use readerkit::ioctl::scard_ctl_function;
use readerkit::part10;
use readerkit::tracking::Wait;

use crate::host::Host;

/// Card-tracking callback of a reader whose own thread watches the card and
/// reports insertion and removal to the device: there is nothing to arm.
pub(crate) fn tracking_by_watcher<D>(_: &mut D, _: Wait) -> Result<(), Failure> {
    Ok(())
}

/// Answer a PC/SC part 10 request with host `H`'s control codes, announcing
/// `max_apdu_data` bytes as `dwMaxAPDUDataSize`; `None` if `code` is none of them.
pub(crate) fn part10_answer<H: Host>(
    code: u32,
    output: &mut [u8],
    max_apdu_data: u32,
) -> Option<Result<usize, Failure>> {
    let function = scard_ctl_function(code)?;
    part10::answer(function, output, max_apdu_data, H::ctl_code)
}

/// Vendor callback answering PC/SC part 10 only (host `H`'s control codes,
/// `MAX_APDU_DATA` bytes as `dwMaxAPDUDataSize`); every other vendor code is not
/// supported.
pub(crate) fn part10_vendor<H: Host, D, const MAX_APDU_DATA: u32>(
    _: &mut D,
    code: u32,
    _input: &[u8],
    output: &mut [u8],
) -> Result<usize, Failure> {
    part10_answer::<H>(code, output, MAX_APDU_DATA).unwrap_or(Err(Failure::NotSupported))
}

//! The TPDU level for T=1: the host runs the T=1 protocol itself and every XfrBlock
//! carries one block, which goes to the card as it is; the card's block comes back.
//! This needs the card's [`Line`], which the reader gets from the slot's driver
//! context through a [`LineAccess`] function given to
//! [`CcidReader::with_line_access`](crate::CcidReader::with_line_access);
//! [`line_of`] is the one for the core's [`LineReader`].

use readerkit::caps::CardCapabilities;
use readerkit::line::{BlockRead, Line, LineReader, receive_t1_block};
use readerkit::status::Failure;
use readerkit::t1::{MAX_BLOCK_LEN, block_len};

use crate::error::SlotError;

/// How the reader reaches the card's line in a slot's driver context `D` (called
/// under the core's serialization lock), or `None` if this driver cannot relay raw
/// blocks (its hardware runs the protocol itself).
pub type LineAccess<D> = fn(&mut D) -> Option<&mut dyn Line>;

/// The [`LineAccess`] of the core's [`LineReader`]: its line.
pub fn line_of<L: Line>(driver: &mut LineReader<L>) -> Option<&mut dyn Line> {
    Some(driver.line_mut())
}

/// Send the T=1 `block` to the card and read its answer block into `reply`;
/// returns the answer's length. The prologue must come within the block waiting
/// time (times `bwi_multiplier`, the host's WTX; 0 counts as 1), each further
/// character within the character waiting time.
///
/// Refusals: a block longer than [`MAX_BLOCK_LEN`] or whose LEN disagrees with its
/// length is `BadField(10)`; no answer is [`SlotError::IccMute`]; an answer that
/// does not fit `reply` is [`SlotError::XfrOverrun`].
pub fn relay_t1_block(
    line: &mut dyn Line,
    card: &CardCapabilities,
    bwi_multiplier: u8,
    block: &[u8],
    reply: &mut [u8],
) -> Result<usize, SlotError> {
    let edc = card.parameters.edc;
    let well_formed = block.len() <= MAX_BLOCK_LEN
        && block
            .get(2)
            .is_some_and(|&len| block.len() == block_len(len, edc));
    if !well_formed {
        return Err(SlotError::BadField(10));
    }
    let status = |f: Failure| SlotError::from_status(f.into());
    line.send(block).map_err(status)?;
    let bwt_us = card
        .timing
        .t1_block_waiting_time_us(card.parameters.bwi, bwi_multiplier.max(1));
    let cwt_us = card.cwt_us();
    match receive_t1_block(line, reply, bwt_us, cwt_us, edc).map_err(status)? {
        BlockRead::Complete(total) => Ok(total),
        BlockRead::Short(_) => Err(SlotError::IccMute),
        BlockRead::TooLong(_) => Err(SlotError::XfrOverrun),
    }
}

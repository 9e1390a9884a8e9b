//! Interrupt-IN messages (CCID 1.1 §6.3): RDR_to_PC_NotifySlotChange and
//! RDR_to_PC_HardwareError.

use crate::message::rdr_to_pc;

/// Length of a NotifySlotChange for `slots` slots: the type byte and two bits per
/// slot, rounded up to whole bytes.
pub const fn slot_change_len(slots: usize) -> usize {
    1 + (slots * 2).div_ceil(8)
}

/// Write a NotifySlotChange: for slot `i`, `present(i)` gives (card present, state
/// changed since the last notification). Returns the length, or `None` if `out`
/// is too short.
pub fn emit_slot_change(
    slots: usize,
    present: impl Fn(usize) -> (bool, bool),
    out: &mut [u8],
) -> Option<usize> {
    let len = slot_change_len(slots);
    let out = out.get_mut(..len)?;
    out.fill(0);
    out[0] = rdr_to_pc::NOTIFY_SLOT_CHANGE;
    for slot in 0..slots {
        let (is_present, changed) = present(slot);
        let bits = u8::from(is_present) | u8::from(changed) << 1;
        let byte = out.get_mut(1 + slot / 4)?;
        *byte |= bits << ((slot % 4) * 2);
    }
    Some(len)
}

/// Hardware error codes of RDR_to_PC_HardwareError.
pub mod hardware_error {
    /// The card drew too much current.
    pub const OVERCURRENT: u8 = 0x01;
}

/// Write a RDR_to_PC_HardwareError for `slot`: `seq` is the sequence number of
/// the command running when the error happened, `code` the error (see
/// [`hardware_error`]). Returns 4, or `None` if `out` is too short.
pub fn emit_hardware_error(slot: u8, seq: u8, code: u8, out: &mut [u8]) -> Option<usize> {
    let out = out.get_mut(..4)?;
    out.copy_from_slice(&[rdr_to_pc::HARDWARE_ERROR, slot, seq, code]);
    Some(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_bits_per_slot() {
        let mut out = [0xEE; 4];
        assert_eq!(emit_slot_change(1, |_| (true, true), &mut out), Some(2));
        assert_eq!(&out[..2], &[0x50, 0x03]);
        assert_eq!(emit_slot_change(1, |_| (false, true), &mut out), Some(2));
        assert_eq!(&out[..2], &[0x50, 0x02]);
        let states = [
            (true, false),
            (false, true),
            (true, true),
            (false, false),
            (true, true),
        ];
        assert_eq!(emit_slot_change(5, |i| states[i], &mut out), Some(3));
        assert_eq!(&out[..3], &[0x50, 0b0011_1001, 0b0000_0011]);
        assert_eq!(emit_slot_change(5, |i| states[i], &mut out[..2]), None);
    }

    #[test]
    fn hardware_error_message() {
        let mut out = [0u8; 4];
        assert_eq!(
            emit_hardware_error(1, 7, hardware_error::OVERCURRENT, &mut out),
            Some(4)
        );
        assert_eq!(out, [0x51, 1, 7, 1]);
    }
}

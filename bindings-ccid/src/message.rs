//! The 10-byte CCID message header (CCID 1.1 §6.1 and §6.2), as a checked view of
//! untrusted bytes in the style of smoltcp's packet wrappers.
//!
//! ```text
//!  0            1..5               5       6      7..10
//!  bMessageType dwLength (LE u32)  bSlot   bSeq   three command-specific bytes
//! ```

/// Length of every CCID message header, in bytes.
pub const HEADER_LEN: usize = 10;

/// The shortest `dwMaxCCIDMessageLength` a reader may declare, and the one for
/// short APDUs, in bytes (271): a header and 261 bytes, a short APDU's longest
/// command (CLA INS P1 P2, Lc, 255 bytes of data, Le) and more than its longest
/// answer (256 bytes and SW1 SW2).
pub const SHORT_APDU_MESSAGE_LEN: usize = HEADER_LEN + 261;

/// Offsets of the header fields (also the `bError` values naming a bad field).
pub mod field {
    /// `bMessageType`.
    pub const MESSAGE_TYPE: usize = 0;
    /// `dwLength`, little-endian, 4 bytes.
    pub const LENGTH: usize = 1;
    /// `bSlot`.
    pub const SLOT: usize = 5;
    /// `bSeq`.
    pub const SEQ: usize = 6;
    /// First of the three command-specific bytes.
    pub const SPECIFIC: usize = 7;
    /// First byte of `abData`.
    pub const DATA: usize = 10;
}

/// PC_to_RDR message types (bulk-OUT), CCID 1.1 §6.1.
pub mod pc_to_rdr {
    /// PC_to_RDR_IccPowerOn.
    pub const ICC_POWER_ON: u8 = 0x62;
    /// PC_to_RDR_IccPowerOff.
    pub const ICC_POWER_OFF: u8 = 0x63;
    /// PC_to_RDR_GetSlotStatus.
    pub const GET_SLOT_STATUS: u8 = 0x65;
    /// PC_to_RDR_XfrBlock.
    pub const XFR_BLOCK: u8 = 0x6F;
    /// PC_to_RDR_GetParameters.
    pub const GET_PARAMETERS: u8 = 0x6C;
    /// PC_to_RDR_ResetParameters.
    pub const RESET_PARAMETERS: u8 = 0x6D;
    /// PC_to_RDR_SetParameters.
    pub const SET_PARAMETERS: u8 = 0x61;
    /// PC_to_RDR_Escape.
    pub const ESCAPE: u8 = 0x6B;
    /// PC_to_RDR_IccClock.
    pub const ICC_CLOCK: u8 = 0x6E;
    /// PC_to_RDR_T0APDU.
    pub const T0_APDU: u8 = 0x6A;
    /// PC_to_RDR_Secure.
    pub const SECURE: u8 = 0x69;
    /// PC_to_RDR_Mechanical.
    pub const MECHANICAL: u8 = 0x71;
    /// PC_to_RDR_Abort.
    pub const ABORT: u8 = 0x72;
    /// PC_to_RDR_SetDataRateAndClockFrequency.
    pub const SET_DATA_RATE_AND_CLOCK: u8 = 0x73;
}

/// RDR_to_PC message types (bulk-IN and interrupt-IN), CCID 1.1 §6.2 and §6.3.
pub mod rdr_to_pc {
    /// RDR_to_PC_DataBlock.
    pub const DATA_BLOCK: u8 = 0x80;
    /// RDR_to_PC_SlotStatus.
    pub const SLOT_STATUS: u8 = 0x81;
    /// RDR_to_PC_Parameters.
    pub const PARAMETERS: u8 = 0x82;
    /// RDR_to_PC_Escape.
    pub const ESCAPE: u8 = 0x83;
    /// RDR_to_PC_DataRateAndClockFrequency.
    pub const DATA_RATE_AND_CLOCK: u8 = 0x84;
    /// RDR_to_PC_NotifySlotChange (interrupt-IN).
    pub const NOTIFY_SLOT_CHANGE: u8 = 0x50;
    /// RDR_to_PC_HardwareError (interrupt-IN).
    pub const HARDWARE_ERROR: u8 = 0x51;
}

/// Why bytes are not a CCID message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Fewer than [`HEADER_LEN`] bytes: there is no header to answer.
    Truncated,
    /// `dwLength` disagrees with the bytes after the header (answered with
    /// `bError` = 1, the offset of `dwLength`).
    LengthMismatch,
}

/// A CCID message: a header and `abData`, over any byte buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Message<T> {
    /// Wrap `buffer` without checking it; on a buffer shorter than a header the
    /// header accessors read zeros.
    /// Use [`Message::new_checked`] for untrusted bytes.
    pub const fn new_unchecked(buffer: T) -> Message<T> {
        Message { buffer }
    }

    /// Wrap `buffer` after checking that it holds a header
    /// ([`Error::Truncated`] otherwise). `dwLength` is not checked here, so that a
    /// message with a bad length can still be answered; see [`Message::check_len`].
    pub fn new_checked(buffer: T) -> Result<Message<T>, Error> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Message { buffer })
    }

    /// Check that `dwLength` counts exactly the bytes after the header
    /// ([`Error::Truncated`] for an unchecked buffer shorter than a header).
    pub fn check_len(&self) -> Result<(), Error> {
        let after = self
            .buffer
            .as_ref()
            .len()
            .checked_sub(HEADER_LEN)
            .ok_or(Error::Truncated)?;
        if u32::try_from(after).ok() == Some(self.length()) {
            Ok(())
        } else {
            Err(Error::LengthMismatch)
        }
    }

    fn header(&self) -> &[u8; HEADER_LEN] {
        self.buffer
            .as_ref()
            .first_chunk()
            .unwrap_or(&[0; HEADER_LEN])
    }

    /// `bMessageType`.
    pub fn message_type(&self) -> u8 {
        self.header()[field::MESSAGE_TYPE]
    }

    /// `dwLength`: the length of `abData` the sender announces, in bytes.
    pub fn length(&self) -> u32 {
        let h = self.header();
        u32::from_le_bytes([h[1], h[2], h[3], h[4]])
    }

    /// The length of the whole message the header announces (the header and
    /// `dwLength` bytes of `abData`), in bytes; `None` if it does not fit a `usize`.
    pub fn announced_len(&self) -> Option<usize> {
        usize::try_from(self.length()).ok()?.checked_add(HEADER_LEN)
    }

    /// `bSlot`.
    pub fn slot(&self) -> u8 {
        self.header()[field::SLOT]
    }

    /// `bSeq`.
    pub fn seq(&self) -> u8 {
        self.header()[field::SEQ]
    }

    /// The three command-specific bytes (offsets 7, 8, 9).
    pub fn specific(&self) -> [u8; 3] {
        let h = self.header();
        [h[7], h[8], h[9]]
    }

    /// `abData`: every byte after the header.
    pub fn data(&self) -> &[u8] {
        self.buffer.as_ref().get(HEADER_LEN..).unwrap_or(&[])
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

/// The 10-byte header: `message_type`, `length` (of `abData`, bytes), `slot`,
/// `seq` and the three specific bytes. The one place the layout is written.
pub const fn header(
    message_type: u8,
    length: u32,
    slot: u8,
    seq: u8,
    specific: [u8; 3],
) -> [u8; HEADER_LEN] {
    let [l0, l1, l2, l3] = length.to_le_bytes();
    let [s0, s1, s2] = specific;
    [message_type, l0, l1, l2, l3, slot, seq, s0, s1, s2]
}

/// Write [`header`] into `out[..10]`. `None` if `out` is shorter than 10 bytes.
pub fn emit_header(
    out: &mut [u8],
    message_type: u8,
    length: u32,
    slot: u8,
    seq: u8,
    specific: [u8; 3],
) -> Option<()> {
    out.get_mut(..HEADER_LEN)?
        .copy_from_slice(&header(message_type, length, slot, seq, specific));
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_where_ccid_puts_them() {
        let bytes = [0x6B, 0x01, 0, 0, 0, 0x00, 0x07, 0xA, 0xB, 0xC, 0x02];
        let m = Message::new_checked(&bytes[..]).unwrap();
        assert_eq!(m.message_type(), 0x6B);
        assert_eq!(m.length(), 1);
        assert_eq!(m.announced_len(), Some(11), "the header and one byte");
        assert_eq!(m.slot(), 0);
        assert_eq!(m.seq(), 7);
        assert_eq!(m.specific(), [0xA, 0xB, 0xC]);
        assert_eq!(m.data(), &[0x02]);
        assert_eq!(m.check_len(), Ok(()));
    }

    #[test]
    fn short_buffers_and_bad_lengths_are_caught() {
        assert_eq!(Message::new_checked(&[0u8; 9][..]), Err(Error::Truncated));
        let mut bytes = [0x65, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xAA];
        let m = Message::new_checked(&bytes[..]).unwrap();
        assert_eq!(m.check_len(), Err(Error::LengthMismatch));
        bytes[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        let m = Message::new_checked(&bytes[..10]).unwrap();
        assert_eq!(m.check_len(), Err(Error::LengthMismatch));
    }

    #[test]
    fn an_unchecked_short_buffer_reads_zeros_and_fails_its_length_check() {
        let m = Message::new_unchecked(&[0x6F, 1, 2][..]);
        assert_eq!(
            (m.message_type(), m.length(), m.slot(), m.seq()),
            (0, 0, 0, 0)
        );
        assert_eq!(m.specific(), [0; 3]);
        assert_eq!(m.data(), &[] as &[u8]);
        assert_eq!(m.check_len(), Err(Error::Truncated));
    }

    #[test]
    fn emit_header_writes_what_the_view_reads() {
        let mut out = [0u8; 10];
        emit_header(&mut out, 0x80, 0x0102_0304, 1, 9, [1, 2, 3]).unwrap();
        let m = Message::new_checked(&out[..]).unwrap();
        assert_eq!(
            (m.message_type(), m.length(), m.slot(), m.seq()),
            (0x80, 0x0102_0304, 1, 9)
        );
        assert_eq!(m.specific(), [1, 2, 3]);
        assert_eq!(emit_header(&mut [0u8; 9], 0x80, 0, 0, 0, [0; 3]), None);
    }
}

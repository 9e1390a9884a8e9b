//! The command for the card with the PIN in place, in a buffer wiped when it
//! is dropped.

use core::fmt;

use zeroize::Zeroize;

/// The command APDU for the card, PIN in place, as
/// [`VerifyRequest::enter`](super::VerifyRequest::enter) and
/// [`ModifyRequest::enter`](super::ModifyRequest::enter) build it: an `N`-byte
/// buffer, wiped when dropped, of which the first [`PinApdu::as_bytes`] are the
/// command. Its `Debug` shows the length only.
pub struct PinApdu<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> PinApdu<N> {
    /// The command `write` puts into a zeroed `N`-byte buffer, returning its
    /// length in bytes (a length past `N`, which the formatting never returns,
    /// is taken as `N`), or `write`'s error (the buffer wiped all the same).
    pub(crate) fn write<E>(write: impl FnOnce(&mut [u8]) -> Result<usize, E>) -> Result<Self, E> {
        let mut command = PinApdu {
            bytes: [0; N],
            len: 0,
        };
        command.len = write(&mut command.bytes)?.min(N);
        Ok(command)
    }

    /// The command bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl<const N: usize> Drop for PinApdu<N> {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl<const N: usize> fmt::Debug for PinApdu<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PinApdu({} bytes)", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::PinApdu;
    use std::format;

    #[test]
    fn holds_what_was_written_and_shows_only_its_length() {
        let command = PinApdu::<8>::write(|out| {
            out[..5].copy_from_slice(&[0x00, 0x20, 0x00, 0x81, 0x12]);
            Ok::<_, ()>(5)
        })
        .unwrap();
        assert_eq!(command.as_bytes(), [0x00, 0x20, 0x00, 0x81, 0x12]);
        assert_eq!(format!("{command:?}"), "PinApdu(5 bytes)");
    }

    #[test]
    fn a_length_past_the_buffer_is_the_buffer_and_an_error_is_passed_on() {
        let whole = PinApdu::<4>::write(|out| {
            out.fill(0x12);
            Ok::<_, ()>(9)
        })
        .unwrap();
        assert_eq!(whole.as_bytes(), [0x12; 4]);
        assert_eq!(
            PinApdu::<4>::write(|_| Err::<usize, _>("refused")).err(),
            Some("refused")
        );
    }
}

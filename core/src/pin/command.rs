//! The command for the card with the PIN in place, in a buffer wiped when it
//! is dropped.

use core::fmt;

use zeroize::Zeroize;

/// The command for the card, PIN in place: an `N`-byte buffer, wiped when
/// dropped, of which the first [`Command::as_bytes`] are the command. Its
/// `Debug` shows the length only.
pub struct Command<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Command<N> {
    /// The command `write` puts into a wiped `N`-byte buffer, returning its
    /// length (a [`super::VerifyRequest::enter`] or
    /// [`super::ModifyRequest::enter`]), or `write`'s error.
    pub fn write<E>(write: impl FnOnce(&mut [u8]) -> Result<usize, E>) -> Result<Self, E> {
        let mut command = Command {
            bytes: [0; N],
            len: 0,
        };
        command.len = write(&mut command.bytes)?;
        Ok(command)
    }

    /// The command bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl<const N: usize> Drop for Command<N> {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl<const N: usize> fmt::Debug for Command<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Command({} bytes)", self.len)
    }
}

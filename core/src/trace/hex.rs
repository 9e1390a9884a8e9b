//! Bounded hex dumps of untrusted bytes.

use core::fmt;

/// The most bytes a trace line shows as hex; the rest is counted.
pub const MAX_SHOWN_BYTES: usize = 32;

/// `bytes` as space-separated hex, at most [`MAX_SHOWN_BYTES`] of them followed by
/// ` ... (N bytes)`: a line's length does not depend on the input's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoundedHex<'a>(pub &'a [u8]);

impl fmt::Display for BoundedHex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self.0.get(..MAX_SHOWN_BYTES).unwrap_or(self.0);
        for (i, b) in shown.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{b:02X}")?;
        }
        if shown.len() < self.0.len() {
            write!(f, " ... ({} bytes)", self.0.len())?;
        }
        Ok(())
    }
}

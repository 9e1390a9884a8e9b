//! Rendering an event into a fixed buffer, for sinks without an allocator.

use core::ffi::CStr;
use core::fmt;

/// A fixed-capacity text line: writes past `N` bytes are dropped (at a character
/// boundary) and the line is marked as cut. Rendering never fails.
#[derive(Debug, Clone)]
pub struct TextBuf<const N: usize> {
    text: heapless::String<N>,
    cut: bool,
}

impl<const N: usize> Default for TextBuf<N> {
    fn default() -> Self {
        TextBuf::new()
    }
}

impl<const N: usize> TextBuf<N> {
    /// An empty line.
    pub const fn new() -> TextBuf<N> {
        TextBuf {
            text: heapless::String::new(),
            cut: false,
        }
    }

    /// `value`'s `Display` form, cut to `N` bytes.
    pub fn render(value: &dyn fmt::Display) -> TextBuf<N> {
        let mut buf = TextBuf::new();
        let _ = fmt::write(&mut buf, format_args!("{value}"));
        buf
    }

    /// The text so far.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether some text did not fit.
    pub fn is_cut(&self) -> bool {
        self.cut
    }

    /// The text as a C string written into `out` (for a `DbgPrintEx` or a C
    /// callback): as much of it as fits before the NUL (all of it when `out` has
    /// `N + 1` bytes), with a NUL inside the text shown as `?` so that it cannot end
    /// the string early. Empty if `out` is.
    pub fn to_c_str<'o>(&self, out: &'o mut [u8]) -> &'o CStr {
        let Some(room) = out.len().checked_sub(1) else {
            return Default::default();
        };
        let text = self.as_str().as_bytes();
        let len = text.len().min(room);
        for (dst, &b) in out.iter_mut().zip(&text[..len]) {
            *dst = if b == 0 { b'?' } else { b };
        }
        out[len] = 0;
        CStr::from_bytes_until_nul(out).unwrap_or_default()
    }
}

impl<const N: usize> fmt::Write for TextBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.cut {
            return Ok(());
        }
        let room = N - self.text.len();
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        let (fits, dropped) = s.split_at(take);
        if self.text.push_str(fits).is_err() || !dropped.is_empty() {
            self.cut = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::TextBuf;

    #[test]
    fn a_c_str_holds_the_text_with_nuls_shown_and_cut_to_its_buffer() {
        let text = TextBuf::<8>::render(&"ab\0cd");
        assert_eq!(text.to_c_str(&mut [0xFF; 9]), c"ab?cd");
        // Room for three bytes and the NUL: cut, still terminated.
        assert_eq!(text.to_c_str(&mut [0xFF; 4]), c"ab?");
        assert_eq!(text.to_c_str(&mut [0xFF; 1]), c"");
        assert_eq!(text.to_c_str(&mut []), c"");
    }
}

//! The C out-structs the library writes whole (`rk_action`, `rk_atr_info`, the
//! default configs): a typed write leaves their padding bytes undefined, so they
//! are compared by their fields only. After a call, the harness puts the padding
//! bytes of each struct the call may have written back as they were before it
//! (writing over undefined bytes is defined): the arena's comparison then sees no
//! change there, and every later read of the arena reads defined bytes.

use std::mem::offset_of;

use readerkit_c::{rk_action, rk_atr_info, rk_line_config, rk_t0_config, rk_t1_config};

use super::arena::{ARENA_LEN, R, arena};

/// The length of the field `field` reads.
fn field_len<S, F>(_field: fn(&S) -> &F) -> usize {
    size_of::<F>()
}

/// `(offset, length)` of every field of a struct, named all (the pattern fails to
/// compile when the struct gains a field the list misses, which would be taken
/// for padding).
macro_rules! fields {
    ($t:ident { $($f:ident),+ $(,)? }) => {{
        let _every_field = |s: &$t| {
            let $t { $($f: _),+ } = s;
        };
        vec![$((offset_of!($t, $f), field_len(|s: &$t| &s.$f))),+]
    }};
}

/// A C struct the library writes whole.
pub(crate) trait CStruct {
    /// `(offset, length)` of each field; the other bytes are padding.
    fn fields() -> Vec<(usize, usize)>;
}

impl CStruct for rk_action {
    fn fields() -> Vec<(usize, usize)> {
        fields!(rk_action {
            kind,
            data,
            len,
            timeout_us,
            wtx,
            status
        })
    }
}

impl CStruct for rk_atr_info {
    fn fields() -> Vec<(usize, usize)> {
        fields!(rk_atr_info {
            bytes,
            len,
            inverse_convention,
            historical_offset,
            historical_len,
            tck,
            protocols,
            first_protocol,
            fi,
            di,
            n,
            wi,
            specific_mode,
            specific_protocol,
            specific_implicit,
            specific_can_change,
            ifsc,
            cwi,
            bwi,
            edc,
            clock_stop,
            classes,
            fmax_khz,
            usable,
        })
    }
}

impl CStruct for rk_t0_config {
    fn fields() -> Vec<(usize, usize)> {
        fields!(rk_t0_config {
            waiting_time_us,
            max_null_bytes,
            max_rounds,
            envelope,
            get_response_class
        })
    }
}

impl CStruct for rk_t1_config {
    fn fields() -> Vec<(usize, usize)> {
        fields!(rk_t1_config {
            ifsc,
            ifsd,
            edc,
            nad,
            send_ifs_request,
            max_retries,
            max_resynchs,
            max_card_requests
        })
    }
}

impl CStruct for rk_line_config {
    fn fields() -> Vec<(usize, usize)> {
        fields!(rk_line_config {
            t0_envelope,
            t0_get_response_class,
            t1_max_retries,
            t1_max_resynchs
        })
    }
}

/// Where a call may write a C struct whole: its place in the arena and the
/// struct's padding (offsets from its start).
#[derive(Debug, Clone)]
pub(crate) struct Written {
    at: R,
    padding: Vec<usize>,
}

impl Written {
    /// A `T` at `at` (NULL: nothing).
    pub(crate) fn of<T: CStruct>(at: R) -> Written {
        let fields = T::fields();
        let padding = (0..size_of::<T>())
            .filter(|&i| {
                !fields
                    .iter()
                    .any(|&(off, len)| (off..off + len).contains(&i))
            })
            .collect();
        Written { at, padding }
    }

    /// The arena offsets of its padding bytes.
    pub(crate) fn padding(&self) -> impl Iterator<Item = usize> + '_ {
        let at = self.at;
        self.padding
            .iter()
            .map(move |i| at.off + i)
            .filter(move |&p| !at.null && p < ARENA_LEN)
    }
}

/// Put `was` back at arena offset `at` (a padding byte a call may have left
/// undefined).
pub(crate) fn restore(at: usize, was: u8) {
    // SAFETY: inside the arena; a write, never a read, of a byte that may be
    // undefined.
    unsafe { arena().wrapping_add(at).write(was) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_action_has_padding_after_kind_wtx_and_status() {
        let padding = Written::of::<rk_action>(R::at(0, size_of::<rk_action>())).padding;
        // kind (u32) then the pointer: 4 bytes; wtx (u8) then status (u32): 3;
        // status, then the end of the 8-aligned struct: 4.
        assert_eq!(padding, vec![4, 5, 6, 7, 29, 30, 31, 36, 37, 38, 39]);
    }

    #[test]
    fn a_line_config_has_padding_after_the_envelope_byte() {
        let at = R::at(0, size_of::<rk_line_config>());
        // t0_envelope (u8), then the 2-aligned class: 1 byte.
        assert_eq!(Written::of::<rk_line_config>(at).padding, vec![1]);
    }
}

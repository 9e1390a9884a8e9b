//! The caller's buffers an open T=0 exchange or T=1 transaction holds from its
//! begin call to its end call: the command APDU (read) and the response buffer
//! (written). One check and one way to borrow them for both engines.

use crate::guard::{Region, bytes, bytes_mut, check_disjoint};
use crate::status::{RK_STATUS_INVALID_PARAMETER, rk_status};

/// Where the held buffers lie, for the overlap checks of every later call (the
/// default: none, overlapping nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Held {
    /// The command APDU (read).
    pub(crate) apdu: Region,
    /// The response buffer (written).
    pub(crate) response: Region,
}

/// The buffers, borrowed until the engine ends (`'static` stands for that).
pub(crate) struct Borrowed {
    /// Where they lie.
    pub(crate) held: Held,
    /// The command APDU.
    pub(crate) apdu: &'static [u8],
    /// The response buffer.
    pub(crate) response: &'static mut [u8],
}

impl Held {
    /// Borrow the APDU and the response buffer for an engine about to begin. NULL
    /// for either, or buffers overlapping each other or one of `written` (what the
    /// begin call writes: the engine's storage, an out-pointer), is
    /// `RK_STATUS_INVALID_PARAMETER` (the engine keeps a shared view of the APDU and
    /// an exclusive one of the response: the same bytes in both would be undefined
    /// behaviour).
    ///
    /// # Safety
    ///
    /// `apdu` and `response` are valid for their lengths until the engine ends, and
    /// the response buffer is accessed by nothing else meanwhile.
    pub(crate) unsafe fn borrow(
        apdu: *const u8,
        apdu_len: usize,
        response: *mut u8,
        response_len: usize,
        written: &[Region],
    ) -> Result<Borrowed, rk_status> {
        if apdu.is_null() || response.is_null() {
            return Err(RK_STATUS_INVALID_PARAMETER);
        }
        let held = Held {
            apdu: Region::bytes(apdu, apdu_len),
            response: Region::bytes(response, response_len),
        };
        check_disjoint(&[held.response], &[held.apdu])?;
        check_disjoint(written, &[held.apdu, held.response])?;
        Ok(Borrowed {
            held,
            // SAFETY: valid until the engine ends per the contract.
            apdu: unsafe { bytes(apdu, apdu_len) }?,
            // SAFETY: valid and exclusive until the engine ends per the contract.
            response: unsafe { bytes_mut(response, response_len) }?,
        })
    }

    /// `Ok(())` if what a call on the open engine writes (`written`: its storage,
    /// out-pointers) and reads (`read`: card bytes) overlaps neither the held
    /// buffers nor each other.
    pub(crate) fn check_call(self, written: &[Region], read: Region) -> Result<(), rk_status> {
        check_disjoint(&[self.response], &[read, self.apdu])?;
        check_disjoint(written, &[read, self.apdu, self.response])
    }
}

//! The boundary's slice check: NULL only with length 0, never more than
//! `isize::MAX` bytes, for shared and mutable views alike.

use crate::guard::{bytes, bytes_mut};
use crate::status::{RK_STATUS_INVALID_PARAMETER, rk_status};

/// The lengths of the shared and the mutable view of `ptr`/`len`.
///
/// # Safety
///
/// `ptr` is NULL, or valid for `len` bytes unless `len` is refused.
unsafe fn views(ptr: *mut u8, len: usize) -> [Result<usize, rk_status>; 2] {
    // SAFETY: per the contract; the view ends at once.
    let shared = unsafe { bytes(ptr, len) }.map(<[u8]>::len);
    // SAFETY: as above.
    let exclusive = unsafe { bytes_mut(ptr, len) }.map(|s| s.len());
    [shared, exclusive]
}

#[test]
fn a_c_buffer_becomes_a_slice_only_with_a_pointer_and_a_length_that_fit() {
    let mut buf = [1u8, 2, 3];
    let at = buf.as_mut_ptr();
    let null = core::ptr::null_mut();
    let refused = Err(RK_STATUS_INVALID_PARAMETER);
    let cases = [
        (null, 0, Ok(0)),
        (null, 1, refused),
        (at, 0, Ok(0)),
        (at, 3, Ok(3)),
        (at, isize::MAX as usize + 1, refused),
        (at, usize::MAX, refused),
    ];
    for (ptr, len, expected) in cases {
        // SAFETY: NULL, or `buf` with at most its length, or a length refused.
        assert_eq!(unsafe { views(ptr, len) }, [expected; 2], "{len} bytes");
    }
}

//! A refused call writes nothing, not even an out-pointer's "nothing" (found by the
//! `c_api` fuzz target: `rk_sim_read` wrote 0 to `*len` before it refused a card
//! that was not there).

use core::ptr;

use super::Zeroed;
use crate::*;

#[test]
fn sim_read_refused_leaves_len_alone() {
    let storage = Zeroed::<rk_sim_card>::new();
    let mut out = [0u8; 8];
    let mut len = usize::MAX;
    // Storage with no card in it (zeroed, never initialised).
    // SAFETY: zeroed storage; our buffer and out-pointer.
    let st = unsafe { rk_sim_read(storage.ptr(), out.as_mut_ptr(), 8, &mut len) };
    assert_eq!(st, RK_STATUS_INVALID_DEVICE_STATE);
    assert_eq!(len, usize::MAX, "no card: *len written");
    // NULL output with a capacity.
    // SAFETY: as above; the NULL buffer is refused before any use.
    let st = unsafe { rk_sim_read(storage.ptr(), ptr::null_mut(), 8, &mut len) };
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    assert_eq!(len, usize::MAX, "NULL output: *len written");
}

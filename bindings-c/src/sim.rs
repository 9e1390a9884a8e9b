//! Test-only (feature `sim`): the simulated card of `readerkit-card-sim` as C calls,
//! so C tests and examples can back a reader driver with a card. Not for production
//! builds; the header declares these functions only when `RK_FEATURE_SIM` is defined.

use readerkit::ioctl::PowerAction;
use readerkit_card_sim::{Card, Profile};
use static_assertions::const_assert;

use crate::guard::{
    Region, bytes, bytes_mut, check_disjoint, check_opt_ptr, entry, guard, write_opt,
};
use crate::slot::{Slot, Stored};
use crate::status::*;

/// Simulated card profile: T=0 only.
pub const RK_SIM_PROFILE_T0: u32 = 0;
/// Simulated card profile: T=1 with LRC.
pub const RK_SIM_PROFILE_T1: u32 = 1;
/// Simulated card profile: T=1 with CRC.
pub const RK_SIM_PROFILE_T1_CRC: u32 = 2;
/// Simulated card profile: T=0 and T=1.
pub const RK_SIM_PROFILE_T0_T1: u32 = 3;

/// Size of [`rk_sim_card`], bytes.
pub const RK_SIM_CARD_STORAGE_SIZE: usize = 16384;
/// The length of [`rk_sim_card`]'s opaque array, in 8-byte words.
pub const RK_SIM_CARD_STORAGE_WORDS: usize = RK_SIM_CARD_STORAGE_SIZE / 8;

/// Storage for one simulated card (test-only).
#[repr(C)]
pub struct rk_sim_card {
    /// Opaque.
    pub opaque: [u64; RK_SIM_CARD_STORAGE_WORDS],
}

impl Stored for Card {
    const MAGIC: u32 = crate::slot::magic::SIM_CARD;
}
const_assert!(RK_SIM_CARD_STORAGE_SIZE % 8 == 0);

/// Create a simulated card with `profile` (`RK_SIM_PROFILE_*`) in `card` storage.
///
/// # Safety
///
/// `card` is valid storage of `card_len` bytes (zeroed or released).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_sim_init(
    card: *mut rk_sim_card,
    card_len: usize,
    profile: u32,
) -> rk_status {
    entry(|| {
        // SAFETY: forwarded contract.
        unsafe { Slot::<Card>::check_free(card, card_len) }?;
        let profile = match profile {
            RK_SIM_PROFILE_T0 => Profile::t0(),
            RK_SIM_PROFILE_T1 => Profile::t1(),
            RK_SIM_PROFILE_T1_CRC => Profile::t1_crc(),
            RK_SIM_PROFILE_T0_T1 => Profile::t0_t1(),
            _ => return Err(RK_STATUS_INVALID_PARAMETER),
        };
        // SAFETY: forwarded contract.
        unsafe { Slot::init(card, card_len, Card::new(profile)) }?;
        Ok(())
    })
}

/// Release a simulated card.
///
/// # Safety
///
/// `card` is NULL or card storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_sim_deinit(card: *mut rk_sim_card) -> rk_status {
    // SAFETY: forwarded contract.
    guard(|| unsafe { Slot::<Card>::release_in(card) })
}

/// Power the card (`action`: `RK_POWER_COLD_RESET` or `RK_POWER_WARM_RESET`, after
/// which its ATR waits to be read, or `RK_POWER_DOWN`); any other action is
/// `RK_STATUS_INVALID_PARAMETER`.
///
/// # Safety
///
/// `card` is NULL or card storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_sim_power(card: *mut rk_sim_card, action: u32) -> rk_status {
    entry(|| {
        let action = PowerAction::from_code(action).ok_or(RK_STATUS_INVALID_PARAMETER)?;
        // SAFETY: forwarded contract.
        let card = unsafe { Slot::<Card>::value_mut(card) }?;
        match action {
            PowerAction::ColdReset => card.power_on(),
            PowerAction::WarmReset => card.warm_reset(),
            PowerAction::PowerDown => card.power_off(),
        }
        Ok(())
    })
}

/// Bytes the reader sends on the I/O line. `RK_STATUS_DEVICE_PROTOCOL_ERROR` if the
/// card signalled a parity error; `RK_STATUS_INVALID_PARAMETER` if `data` lies in
/// the card's storage.
///
/// # Safety
///
/// `card` is NULL or card storage; `data` valid for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_sim_write(
    card: *mut rk_sim_card,
    data: *const u8,
    len: usize,
) -> rk_status {
    entry(|| {
        check_disjoint(&[Slot::<Card>::region(card)], &[Region::bytes(data, len)])?;
        // SAFETY: valid for `len` bytes per the contract, outside the card (checked).
        let data = unsafe { bytes(data, len) }?;
        // SAFETY: forwarded contract.
        let card = unsafe { Slot::<Card>::value_mut(card) }?;
        card.write(data)
            .map_err(|_| RK_STATUS_DEVICE_PROTOCOL_ERROR)
    })
}

/// Read up to `capacity` bytes the card sent; their count to `*len` (0: silent).
/// `out`, `*len` and the card's storage must not overlap, and `len` must be aligned
/// (`RK_STATUS_INVALID_PARAMETER`).
///
/// # Safety
///
/// `card` is NULL or card storage; `out` valid for `capacity` bytes; `len` NULL or
/// valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_sim_read(
    card: *mut rk_sim_card,
    out: *mut u8,
    capacity: usize,
    len: *mut usize,
) -> rk_status {
    entry(|| {
        check_opt_ptr(len.cast_const())?;
        check_disjoint(
            &[
                Region::bytes(out, capacity),
                Region::of(len),
                Slot::<Card>::region(card),
            ],
            &[],
        )?;
        // SAFETY: valid for `capacity` bytes per the contract.
        let out = unsafe { bytes_mut(out, capacity) }?;
        // SAFETY: forwarded contract.
        let card = unsafe { Slot::<Card>::value_mut(card) }?;
        // Only now that nothing can be refused: a refused call writes nothing.
        let n = card.read(out);
        // SAFETY: NULL or aligned (checked) and valid for a write per the contract.
        unsafe { write_opt(len, n) };
        Ok(())
    })
}

//! The reader's sleep and wake-up: `rk_device_suspend` / `rk_device_resume`
//! around a low-power state, and `rk_device_sleep_with` / `rk_device_wake_with`
//! for a driver with its own sleep and wake steps (stop polling, power the reader
//! down and up), each transition one step however many threads ask for it.

use core::ffi::c_void;

use crate::device::{CDevice, CDriver, answer, on_device, rk_device, try_answer, try_on_device};
use crate::guard::check_ptr;
use crate::status::*;

// The entry points the docs below name.
#[cfg(doc)]
use crate::{
    callbacks::rk_reader_functions, device::rk_card_event, device::rk_device_control,
    device::rk_device_init, device::rk_device_state, device::rk_process_events,
};

/// A driver's own sleep step (stop polling, power the reader down), given to
/// [`rk_device_sleep_with`]: it gets the `ctx` given to [`rk_device_init`] and
/// runs under the device's serialization lock, like a callback.
pub type rk_sleep_step = Option<unsafe extern "C" fn(ctx: *mut c_void)>;

/// A driver's own wake step (power the reader up, look at the card), given to
/// [`rk_device_wake_with`]: it gets the `ctx` given to [`rk_device_init`], runs
/// under the device's serialization lock, like a callback, and returns whether a
/// card is in the reader now.
pub type rk_wake_step = Option<unsafe extern "C" fn(ctx: *mut c_void) -> bool>;

/// The reader goes to sleep (system sleep, selective suspend): the card, if one is
/// in, is powered down through the driver's POWER (its ATR and protocol are
/// forgotten), and the device is asleep until [`rk_device_resume`]; it remembers
/// whether a card was in. `*card_before` (aligned, not inside the device storage)
/// says so, for information. Already asleep: nothing is done again, and
/// `*card_before` says whether a card was in when it went to sleep (`true` after a
/// power-down that failed). Errors (nothing written): from inside a callback
/// `RK_STATUS_DEVICE_BUSY` and nothing changes (an awake device stays awake); a
/// POWER callback that fails to power the card down, its status (the card is then
/// unpowered, as after any failed POWER; the device is asleep all the same and
/// takes the card as in, so waking reports its removal).
///
/// While asleep, `rk_device_control` itself answers a request that needs the
/// reader or the card `RK_STATUS_DEVICE_NOT_READY` (POWER, SET_PROTOCOL,
/// TRANSMIT, EJECT, SWALLOW, CONFISCATE, vendor requests, SET_ATTRIBUTE, new
/// IS_PRESENT / IS_ABSENT) and calls no callback; GET_STATE, GET_ATTRIBUTE,
/// GET_LAST_ERROR and GET_PERF_CNTR are answered, and an IS_PRESENT / IS_ABSENT
/// pending before stays pending. The driver needs no check of its own.
///
/// A driver with a sleep and a wake step of its own, or that may sleep and wake
/// from two threads, calls [`rk_device_sleep_with`] and [`rk_device_wake_with`]
/// instead: they make each transition, the step included, one step (this call
/// and [`rk_device_resume`] do not wait for them).
///
/// # Safety
///
/// `dev` is NULL or device storage; `card_before` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_device_suspend(
    dev: *const rk_device,
    card_before: *mut bool,
) -> rk_status {
    // SAFETY: forwarded contract.
    unsafe { try_answer(dev, card_before, check_ptr, |d| d.suspend().map_err(to_rk)) }
}

/// Whether the device is asleep, between [`rk_device_suspend`] and
/// [`rk_device_resume`], into `*asleep` (aligned, not inside the device storage),
/// for information: the device itself refuses the requests that need the reader
/// while asleep (`RK_STATUS_DEVICE_NOT_READY`, see [`rk_device_suspend`]), so a
/// driver need not ask before `rk_device_control`.
///
/// # Safety
///
/// `dev` is NULL or device storage; `asleep` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_device_asleep(dev: *const rk_device, asleep: *mut bool) -> rk_status {
    // SAFETY: forwarded contract.
    unsafe { answer(dev, asleep, check_ptr, CDevice::asleep) }
}

/// The reader woke up, with a card in it if `present_now`. Only if the device is
/// asleep ([`rk_device_suspend`]): it saw no card events while asleep and the card
/// may have been swapped, so a removal is reported if a card was in when it went
/// to sleep or the device holds one now (reported inserted since) and an
/// insertion if one is in now, both are applied at once (the card is then present
/// and unpowered; a pending IS_PRESENT / IS_ABSENT completes through
/// `tracking_complete`), and the device is awake. Awake (no suspend before, or a
/// second resume): nothing is done, and `RK_STATUS_SUCCESS`.
///
/// # Safety
///
/// `dev` is NULL or device storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_device_resume(dev: *const rk_device, present_now: bool) -> rk_status {
    // SAFETY: forwarded contract.
    unsafe { on_device(dev, |d| d.resume(present_now)) }
}

/// The reader goes to sleep with the driver's own step: as [`rk_device_suspend`]
/// (the card, if one is in, powered down through the driver's POWER), then `sleep`
/// (NULL: none) with the driver's `ctx`, under the serialization lock like a
/// callback. The whole is one step against [`rk_device_wake_with`] and another
/// `rk_device_sleep_with` (a power thread and a selective-suspend timer, say): two
/// at once put the device to sleep once and run one `sleep` once, the second
/// returning only once the device sleeps, its step run; a sleep step never runs
/// inside a wake, nor a wake step inside a sleep. `*card_before` (aligned, not
/// inside the device storage) says whether a card was in. Already asleep: nothing
/// is done, no step runs, and `*card_before` says whether a card was in when it
/// went to sleep (`true` after a power-down that failed).
///
/// Errors (nothing written): `RK_STATUS_INVALID_PARAMETER` for a NULL or
/// misaligned device, or a NULL or inside-the-storage `card_before` (nothing
/// done, no step);
/// `RK_STATUS_INVALID_DEVICE_STATE` for storage that holds no device;
/// `RK_STATUS_DEVICE_BUSY` from inside one of the device's callbacks, its own
/// sleep or wake step, or `events_pending` called during a transition (nothing
/// changes: an awake device stays awake, no step runs); a POWER callback that fails to power the card down, its status, after
/// `sleep` ran (the card is then unpowered, as after any failed POWER; the device
/// is asleep all the same and takes the card as in, so waking reports its
/// removal).
///
/// Inside `sleep` the device already sleeps: calls back into it are answered as
/// from a callback (see [`rk_reader_functions`]), and while it sleeps
/// [`rk_device_control`] refuses what needs the reader (see [`rk_device_suspend`]).
/// A tracking completion a transition makes is delivered through
/// `tracking_complete` once the transition has ended, with no library lock held:
/// `tracking_complete` may start the next one.
///
/// A card event `sleep` reports ([`rk_card_event`], a removal seen while powering
/// the reader down) is queued, not applied by this call: the next
/// [`rk_device_control`] request with valid parameters (even one refused
/// `RK_STATUS_DEVICE_NOT_READY` while asleep), [`rk_device_state`], the wake, or
/// [`rk_process_events`] called after reporting it (from `sleep` too) applies it;
/// an `events_pending` hook hears of it at once. The whole rule, for every
/// binding: the core's `readerkit::device` documentation, "When a queued card
/// event is applied".
///
/// # Safety
///
/// `dev` is NULL or device storage; `card_before` is NULL or valid for a write;
/// `sleep` is NULL or a function safe to call with the device's `ctx`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_device_sleep_with(
    dev: *const rk_device,
    sleep: rk_sleep_step,
    card_before: *mut bool,
) -> rk_status {
    let step = sleep.map(|f| {
        move |d: &mut CDriver| {
            // SAFETY: the C driver supplied `f` for this context, per the contract.
            unsafe { f(d.ctx) }
        }
    });
    // SAFETY: forwarded contract.
    unsafe {
        try_answer(dev, card_before, check_ptr, |d| {
            d.sleep_with(step).map_err(to_rk)
        })
    }
}

/// The reader wakes up with the driver's own step: `wake` (NULL: none), with the
/// driver's `ctx` under the serialization lock like a callback, brings the reader
/// back and says whether a card is in now (without a step, a card the device holds
/// is taken as in); then as [`rk_device_resume`] with that answer: a removal and an
/// insertion for a card that may have been swapped are applied at once (a pending
/// IS_PRESENT / IS_ABSENT completes through `tracking_complete`) and the device is
/// awake. The whole is one step against [`rk_device_sleep_with`] and another
/// `rk_device_wake_with`: two at once wake the device once and run one `wake`
/// once, the second returning only once the device is awake. Awake (no sleep
/// before, or a second wake): nothing is done, no step runs, and
/// `RK_STATUS_SUCCESS`.
///
/// Errors (nothing changes, no step runs): `RK_STATUS_INVALID_PARAMETER` for a
/// NULL or misaligned device; `RK_STATUS_INVALID_DEVICE_STATE` for storage that
/// holds no device; `RK_STATUS_DEVICE_BUSY` from inside one of the device's
/// callbacks, its own sleep or wake step, or `events_pending` called during a
/// transition (an asleep device stays asleep).
///
/// # Safety
///
/// `dev` is NULL or device storage; `wake` is NULL or a function safe to call with
/// the device's `ctx`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_device_wake_with(
    dev: *const rk_device,
    wake: rk_wake_step,
) -> rk_status {
    let step = wake.map(|f| {
        move |d: &mut CDriver| {
            // SAFETY: the C driver supplied `f` for this context, per the contract.
            unsafe { f(d.ctx) }
        }
    });
    // SAFETY: forwarded contract.
    unsafe { try_on_device(dev, |d| d.wake_with(step).map_err(to_rk)) }
}

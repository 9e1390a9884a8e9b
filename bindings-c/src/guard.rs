//! The FFI guard: no panic crosses the boundary, and pointer checks.

#[cfg(feature = "std")]
use crate::status::RK_STATUS_UNSUCCESSFUL;
use crate::status::{RK_STATUS_INVALID_PARAMETER, RK_STATUS_SUCCESS, rk_status};

/// Run `f`; a panic becomes `RK_STATUS_UNSUCCESSFUL` (with `std`; without it the
/// firmware's `panic = "abort"` applies).
#[cfg(feature = "std")]
pub(crate) fn guard(f: impl FnOnce() -> rk_status) -> rk_status {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(RK_STATUS_UNSUCCESSFUL)
}

/// Run `f` (without `std` a panic aborts: build with `panic = "abort"`).
#[cfg(not(feature = "std"))]
pub(crate) fn guard(f: impl FnOnce() -> rk_status) -> rk_status {
    f()
}

/// What an entry point's body gives back when it gets through: nothing
/// (`RK_STATUS_SUCCESS`) or a status of its own (a request's outcome).
pub(crate) trait Answer {
    /// The status the entry point returns.
    fn status(self) -> rk_status;
}

impl Answer for () {
    fn status(self) -> rk_status {
        RK_STATUS_SUCCESS
    }
}

impl Answer for rk_status {
    fn status(self) -> rk_status {
        self
    }
}

/// Run an entry point's body under [`guard`]: it checks each argument with `?`, and
/// `Err(status)` is the status returned.
pub(crate) fn entry<A: Answer>(f: impl FnOnce() -> Result<A, rk_status>) -> rk_status {
    guard(|| f().map_or_else(|status| status, Answer::status))
}

/// `Ok(())` if `ptr` is non-null and aligned for `T`.
pub(crate) fn check_ptr<T>(ptr: *const T) -> Result<(), rk_status> {
    if ptr.is_null() || (ptr as usize) % core::mem::align_of::<T>() != 0 {
        Err(RK_STATUS_INVALID_PARAMETER)
    } else {
        Ok(())
    }
}

/// The `T` at `ptr`, copied: `RK_STATUS_INVALID_PARAMETER` if `ptr` is NULL or
/// misaligned.
///
/// # Safety
///
/// `ptr` is NULL or valid for a read of `T`.
pub(crate) unsafe fn read_in<T>(ptr: *const T) -> Result<T, rk_status> {
    check_ptr(ptr)?;
    // SAFETY: checked non-null and aligned; readable per the caller.
    Ok(unsafe { ptr.read() })
}

/// Write `value` to `*out`: `RK_STATUS_INVALID_PARAMETER` if `out` is NULL or
/// misaligned (nothing written).
///
/// # Safety
///
/// `out` is NULL or valid for a write of `T`.
pub(crate) unsafe fn write_out<T>(out: *mut T, value: T) -> Result<(), rk_status> {
    check_ptr(out.cast_const())?;
    // SAFETY: checked non-null and aligned; writable per the caller.
    unsafe { out.write(value) };
    Ok(())
}

/// `Ok(true)` if a C buffer `ptr`/`len` is a slice's parts, `Ok(false)` if it is
/// NULL with length 0 (an empty slice), `RK_STATUS_INVALID_PARAMETER` otherwise
/// (NULL with a length, or longer than `isize::MAX`).
fn slice_parts(ptr: *const u8, len: usize) -> Result<bool, rk_status> {
    match (ptr.is_null(), len) {
        (true, 0) => Ok(false),
        (false, n) if n <= isize::MAX as usize => Ok(true),
        _ => Err(RK_STATUS_INVALID_PARAMETER),
    }
}

/// A byte slice from a C pointer and length; `NULL` is allowed only with length 0.
///
/// # Safety
///
/// If `ptr` is non-null it must point to `len` readable bytes that stay valid and
/// unmodified for `'a`.
pub(crate) unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> Result<&'a [u8], rk_status> {
    Ok(match slice_parts(ptr, len)? {
        // SAFETY: non-null, length bounded, and the caller guarantees `len`
        // readable bytes valid for 'a.
        true => unsafe { core::slice::from_raw_parts(ptr, len) },
        false => &[],
    })
}

/// A mutable byte slice from a C pointer and length; `NULL` only with length 0.
///
/// # Safety
///
/// If `ptr` is non-null it must point to `len` writable bytes, valid and not
/// accessed through any other pointer for `'a`.
pub(crate) unsafe fn bytes_mut<'a>(ptr: *mut u8, len: usize) -> Result<&'a mut [u8], rk_status> {
    Ok(match slice_parts(ptr, len)? {
        // SAFETY: non-null, length bounded, and the caller guarantees `len`
        // writable, exclusively ours bytes valid for 'a.
        true => unsafe { core::slice::from_raw_parts_mut(ptr, len) },
        false => &mut [],
    })
}

/// `Ok(())` if an optional out-pointer is NULL (not wanted) or aligned for `T`; a
/// misaligned one is `RK_STATUS_INVALID_PARAMETER` (never silently skipped: the
/// caller would lose the value).
pub(crate) fn check_opt_ptr<T>(ptr: *const T) -> Result<(), rk_status> {
    if ptr.is_null() {
        Ok(())
    } else {
        check_ptr(ptr)
    }
}

/// Write `value` through an optional out-pointer (NULL = not wanted) that
/// [`check_opt_ptr`] accepted (a misaligned pointer is still never written).
///
/// # Safety
///
/// `ptr` is NULL or valid for a write of `T`.
pub(crate) unsafe fn write_opt<T>(ptr: *mut T, value: T) {
    if !ptr.is_null() && (ptr as usize) % core::mem::align_of::<T>() == 0 {
        // SAFETY: non-null, aligned, and valid for writes per the caller.
        unsafe { ptr.write(value) }
    }
}

/// A range of the caller's memory, compared by address only: the library refuses
/// calls whose buffers, out-pointers and objects overlap where one of them is
/// written, because a shared and a mutable view of the same bytes (or a write into
/// bytes still to be read) is undefined behaviour or a silent wrong answer. The
/// default is [`Region::NONE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Region {
    start: usize,
    len: usize,
}

impl Region {
    /// No bytes: overlaps nothing.
    pub(crate) const NONE: Region = Region { start: 0, len: 0 };

    /// `len` bytes at `ptr` (NULL or empty: overlaps nothing).
    pub(crate) fn bytes(ptr: *const u8, len: usize) -> Region {
        Region {
            start: ptr as usize,
            len: if ptr.is_null() { 0 } else { len },
        }
    }

    /// The `T` at `ptr` (NULL: overlaps nothing).
    pub(crate) fn of<T>(ptr: *const T) -> Region {
        Region::bytes(ptr.cast(), core::mem::size_of::<T>())
    }

    /// `true` if the two ranges share a byte (empty ranges share none).
    pub(crate) fn overlaps(self, other: Region) -> bool {
        self.len != 0
            && other.len != 0
            && self.start < other.start.saturating_add(other.len)
            && other.start < self.start.saturating_add(self.len)
    }
}

/// `Err(RK_STATUS_INVALID_PARAMETER)` if a `written` region overlaps another written
/// region or a `read` one (read-only regions may overlap each other).
pub(crate) fn check_disjoint(written: &[Region], read: &[Region]) -> Result<(), rk_status> {
    for (i, w) in written.iter().enumerate() {
        let clash = written[i + 1..]
            .iter()
            .chain(read)
            .any(|other| w.overlaps(*other));
        if clash {
            return Err(RK_STATUS_INVALID_PARAMETER);
        }
    }
    Ok(())
}

//! A std mutex for [`Platform`](readerkit::platform::Platform) implementations that
//! counts, per thread, how many library locks are held: to check that a completion
//! or a callback runs with none held.

use std::cell::Cell;
use std::sync::Mutex as StdMutex;

use readerkit::platform::Mutex;

thread_local! {
    /// Library locks this thread holds now.
    static HELD: Cell<u32> = const { Cell::new(0) };
}

/// How many [`Counted`] locks the calling thread holds now.
pub fn held() -> u32 {
    HELD.with(Cell::get)
}

/// A std mutex that counts, per thread, the library locks held (a poisoned lock is
/// taken over: a test's panic shows, not a second one).
pub struct Counted<T>(StdMutex<T>);

impl<T> Mutex<T> for Counted<T> {
    fn new(value: T) -> Self {
        Counted(StdMutex::new(value))
    }

    fn lock<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        HELD.with(|h| h.set(h.get() + 1));
        let r = f(&mut guard);
        HELD.with(|h| h.set(h.get() - 1));
        r
    }
}

//! A callback a reader's parts hand each other (wake a thread, report a removal),
//! boxed so that its type does not leak into theirs.

/// A boxed `Fn()` callable from any thread; its `Debug` shows only that it is one,
/// so the structures holding one derive theirs.
pub(crate) struct Hook(Box<dyn Fn() + Send + Sync>);

impl Hook {
    /// Box `f`.
    pub(crate) fn new(f: impl Fn() + Send + Sync + 'static) -> Hook {
        Hook(Box::new(f))
    }

    /// Call it.
    pub(crate) fn call(&self) {
        (self.0)()
    }
}

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hook(..)")
    }
}

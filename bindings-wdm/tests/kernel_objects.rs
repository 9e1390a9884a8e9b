//! What keeps the kernel layer's KMUTEX and KEVENT sound, on the host: [`Placement`]
//! (a kernel object is initialised where it is, again after a move) and
//! [`ReentryGuard`] (a recursive kernel lock entered twice by its holder is noticed).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use support::race;

use readerkit_wdm::placement::Placement;
use readerkit_wdm::reentry::{Reentered, ReentryGuard};

mod support;

/// A stand-in for a kernel object: `init` records the address it was initialised at,
/// as KeInitializeMutex links the wait list to itself.
struct Object {
    placement: Placement,
    linked_to: AtomicUsize,
    inits: AtomicUsize,
}

impl Object {
    fn new() -> Object {
        Object {
            placement: Placement::new(),
            linked_to: AtomicUsize::new(0),
            inits: AtomicUsize::new(0),
        }
    }

    fn here(&self) -> usize {
        self as *const Object as usize
    }

    /// What KMutex::lock does first.
    fn use_it(&self) {
        let here = self.here();
        self.placement.ensure(here, || {
            self.linked_to.store(here, Ordering::SeqCst);
            self.inits.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(
            self.linked_to.load(Ordering::SeqCst),
            here,
            "used at an address it was not initialised at"
        );
    }
}

#[test]
fn initialised_once_where_it_is() {
    let o = Object::new();
    assert_eq!(o.placement.initialised_at(), None);
    o.use_it();
    o.use_it();
    assert_eq!(o.inits.load(Ordering::SeqCst), 1);
    assert_eq!(o.placement.initialised_at(), Some(o.here()));
}

/// The hazard of the old lazy initialisation (a "done" flag): used once, then moved
/// (a reader used inside `ReaderDriver::create`, then written to the device
/// extension), the object was used at the new address with the old address's links.
#[test]
fn a_moved_object_is_initialised_again_at_its_new_address() {
    let object = Object::new();
    object.use_it();
    let old = object.here();
    // Moved (to the heap): it carries its old links along.
    let moved = Box::new(object);
    assert_ne!(moved.here(), old);
    assert_eq!(moved.placement.initialised_at(), Some(old));
    // With a plain "initialised" flag, this use would run on the old address's links.
    moved.use_it();
    assert_eq!(moved.inits.load(Ordering::SeqCst), 2);
    assert_eq!(moved.placement.initialised_at(), Some(moved.here()));
}

#[test]
fn racing_first_uses_initialise_once() {
    for _ in 0..200 {
        let o = Arc::new(Object::new());
        race(4, {
            let o = o.clone();
            move || o.use_it()
        });
        assert_eq!(o.inits.load(Ordering::SeqCst), 1);
    }
}

#[test]
fn reentering_the_holder_is_refused_and_released_after() {
    let guard = ReentryGuard::new();
    let outer = guard.enter().expect("first entry");
    // The holder enters again (a recursive KMUTEX lets it through): refused.
    assert_eq!(guard.enter().map(drop), Err(Reentered));
    drop(outer);
    // Released: the next acquisition enters.
    let again = guard.enter().expect("entry after release");
    drop(again);
}

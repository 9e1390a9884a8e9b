//! Card events and the fixed-size, lock-free queue that carries them.
//!
//! Insertion, removal and faults are reported from wherever the reader driver learns
//! of them: an interrupt handler, a DPC, a polling thread. [`EventQueue::push`] never
//! blocks and never takes a lock, so it is safe in interrupt context and while a
//! callback holds the serialization lock. The device drains the queue later, under
//! its short lock only.
//!
//! The queue is a bounded multi-producer multi-consumer ring (after D. Vyukov) over
//! atomics alone. When it is full nothing is lost that matters: the queue remembers
//! that it overflowed and what the latest event was, and the consumer then replays a
//! removal followed by that latest event, so a card swapped during the storm is
//! never mistaken for the old one.

use crate::sync::{AtomicU8, AtomicUsize, Ordering, spin_hint};

/// Something that happened to the card, reported asynchronously.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CardEvent {
    /// A card was inserted.
    Inserted = 1,
    /// The card was removed.
    Removed = 2,
    /// The card's contacts were deactivated by the hardware (over-current, a card
    /// pulled during a session, a supervisor fault): the card, if still there, is
    /// no longer powered.
    Fault = 3,
}

impl CardEvent {
    /// The event of its `repr(u8)` value (1 inserted, 2 removed, 3 fault); `None`
    /// for any other.
    pub const fn from_u8(value: u8) -> Option<CardEvent> {
        match value {
            1 => Some(CardEvent::Inserted),
            2 => Some(CardEvent::Removed),
            3 => Some(CardEvent::Fault),
            _ => None,
        }
    }
}

/// What [`EventQueue::pop`] hands back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Popped {
    /// The next event, in order.
    Event(CardEvent),
    /// The queue overflowed: events were dropped and the last one pushed was this.
    /// Treat as a removal followed by this event.
    Overflowed(CardEvent),
}

#[derive(Debug)]
struct Slot {
    sequence: AtomicUsize,
    event: AtomicU8,
}

/// A lock-free queue of up to `N` card events; `N` must be a power of two.
#[derive(Debug)]
pub struct EventQueue<const N: usize> {
    slots: [Slot; N],
    enqueue_pos: AtomicUsize,
    dequeue_pos: AtomicUsize,
    /// The latest event pushed while the queue was full (0 if none since the last drain).
    overflow: AtomicU8,
    /// The latest event pushed at all.
    latest: AtomicU8,
}

impl<const N: usize> Default for EventQueue<N> {
    fn default() -> Self {
        EventQueue::new()
    }
}

impl<const N: usize> EventQueue<N> {
    const CAPACITY_IS_POWER_OF_TWO: () = assert!(N.is_power_of_two(), "N must be a power of two");

    /// An empty queue.
    pub fn new() -> EventQueue<N> {
        #[allow(clippy::let_unit_value)]
        let () = Self::CAPACITY_IS_POWER_OF_TWO;
        EventQueue {
            slots: core::array::from_fn(|i| Slot {
                sequence: AtomicUsize::new(i),
                event: AtomicU8::new(0),
            }),
            enqueue_pos: AtomicUsize::new(0),
            dequeue_pos: AtomicUsize::new(0),
            overflow: AtomicU8::new(0),
            latest: AtomicU8::new(0),
        }
    }

    /// Queue an event. Never blocks; returns `false` if the queue was full (the event
    /// is then remembered as an overflow, see [`Popped::Overflowed`]).
    pub fn push(&self, event: CardEvent) -> bool {
        self.latest.store(event as u8, Ordering::Release);
        let mut pos = self.enqueue_pos.load(Ordering::Relaxed);
        loop {
            let slot = &self.slots[pos % N];
            let sequence = slot.sequence.load(Ordering::Acquire);
            let lag = sequence.wrapping_sub(pos) as isize;
            if lag == 0 {
                match self.enqueue_pos.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        slot.event.store(event as u8, Ordering::Relaxed);
                        slot.sequence.store(pos.wrapping_add(1), Ordering::Release);
                        return true;
                    }
                    Err(current) => pos = current,
                }
            } else if lag < 0 {
                self.overflow.store(event as u8, Ordering::Release);
                return false;
            } else {
                // Another producer moved on; catch up.
                spin_hint();
                pos = self.enqueue_pos.load(Ordering::Relaxed);
            }
        }
    }

    /// Take the next event, if any. Queued events come first, in order; an overflow
    /// comes after them.
    pub fn pop(&self) -> Option<Popped> {
        let mut pos = self.dequeue_pos.load(Ordering::Relaxed);
        loop {
            let slot = &self.slots[pos % N];
            let sequence = slot.sequence.load(Ordering::Acquire);
            let lag = sequence.wrapping_sub(pos.wrapping_add(1)) as isize;
            if lag == 0 {
                match self.dequeue_pos.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        let event = slot.event.load(Ordering::Relaxed);
                        slot.sequence.store(pos.wrapping_add(N), Ordering::Release);
                        // Only this module writes slots, always with a valid event.
                        return CardEvent::from_u8(event).map(Popped::Event);
                    }
                    Err(current) => pos = current,
                }
            } else if lag < 0 {
                return self.take_overflow();
            } else {
                spin_hint();
                pos = self.dequeue_pos.load(Ordering::Relaxed);
            }
        }
    }

    fn take_overflow(&self) -> Option<Popped> {
        if self.overflow.swap(0, Ordering::AcqRel) == 0 {
            return None;
        }
        let latest = self.latest.load(Ordering::Acquire);
        CardEvent::from_u8(latest).map(Popped::Overflowed)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn fifo_order_and_wraparound() {
        let q: EventQueue<4> = EventQueue::new();
        for round in 0..10 {
            let events = [CardEvent::Inserted, CardEvent::Fault, CardEvent::Removed];
            for e in events {
                assert!(q.push(e), "round {round}");
            }
            for e in events {
                assert_eq!(q.pop(), Some(Popped::Event(e)));
            }
            assert_eq!(q.pop(), None);
        }
    }

    #[test]
    fn overflow_reports_the_latest_event_after_the_queued_ones() {
        let q: EventQueue<2> = EventQueue::new();
        assert!(q.push(CardEvent::Inserted));
        assert!(q.push(CardEvent::Removed));
        assert!(!q.push(CardEvent::Inserted));
        assert!(!q.push(CardEvent::Fault));
        assert_eq!(q.pop(), Some(Popped::Event(CardEvent::Inserted)));
        assert_eq!(q.pop(), Some(Popped::Event(CardEvent::Removed)));
        assert_eq!(q.pop(), Some(Popped::Overflowed(CardEvent::Fault)));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn concurrent_producers_lose_nothing() {
        use std::sync::Arc;
        let q: Arc<EventQueue<1024>> = Arc::new(EventQueue::new());
        let producers: std::vec::Vec<_> = (0..4)
            .map(|_| {
                let q = Arc::clone(&q);
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        assert!(q.push(CardEvent::Inserted));
                    }
                })
            })
            .collect();
        let mut seen = 0;
        while seen < 800 {
            if let Some(p) = q.pop() {
                assert_eq!(p, Popped::Event(CardEvent::Inserted));
                seen += 1;
            }
        }
        for p in producers {
            p.join().unwrap();
        }
        assert_eq!(q.pop(), None);
    }
}

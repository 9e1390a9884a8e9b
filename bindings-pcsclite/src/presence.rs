//! What `IFDHICCPresence` has told pcscd of one slot, and how a card swapped
//! between two looks reaches pcscd's event thread as a removal.
//!
//! A swap (the card removed and another inserted between two looks) leaves the
//! core's state "present"; only the device's insertion count moved. The driver
//! reports it as one "absent", so pcscd ends the old card's handles and powers
//! the new one. That "absent" must reach pcscd's *event thread*, and only it:
//! pcsc-lite 1.9.9's power paths ask `IFDHICCPresence` first too (`IFDPowerICC`,
//! from `SCardConnect`'s power-up of an unpowered card, `SCardDisconnect`,
//! `SCardReconnect` and `SCardEndTransaction`, and from the event thread's own
//! power-up and power-down). A client's reset told "absent" makes pcscd write the
//! reader's public state "empty" without counting an event, from the client's
//! thread, with no lock against the event thread: when the event thread reads
//! the "absent" first, the reset's "empty" can land after its insertion, and when
//! the reset reads it first, the event thread (whose private copy still says
//! "present") sees no change. Either way the reader stays empty with the new card
//! in it.
//!
//! The event thread runs `IFDStatusICC` (→ `IFDHICCPresence`), then the polling
//! function, in a loop; nothing else enters the polling function. So once that
//! thread is known, the "absent" is the polling thread's alone: owed
//! ([`Told::SwapOwed`]) until it has been told it by the look just before it
//! enters the polling function again. Other threads' looks get the core's state
//! (the new card is in: a reset finds it), and the first of them to see the swap
//! wakes the poll so that the event thread looks now.

use std::thread::ThreadId;

/// How many "absent" answers a swap gets at most on a host that never entered
/// the polling function (which thread is its event thread is unknown there):
/// one for a reset's check that may come first, one for the event thread.
pub const UNPOLLED_SWAP_ANSWERS: u8 = 2;

/// What pcscd was last told of the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Told {
    /// Nothing yet (before the first `IFDHICCPresence`).
    Nothing,
    /// A card, the one the device's insertion count named then
    /// ([`readerkit_host_readers::AnyDevice::card_insertions`]).
    Present {
        /// The insertion count when pcscd was told.
        insertions: u32,
    },
    /// No card.
    Absent,
    /// The card pcscd was told of was swapped: the polling thread's looks answer
    /// "absent" until it has been told so (other threads' looks, the core's
    /// state; see the module documentation).
    SwapOwed {
        /// "Absent" answers given for this swap so far.
        answers: u8,
        /// How far the "absent" has reached the polling thread.
        to_poller: Owed,
    },
}

/// How far a swap's owed "absent" has reached the polling thread, which decides
/// what its next entry into the polling function does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owed {
    /// The polling thread has not been told yet: its next poll returns at once,
    /// so that it looks.
    Untold,
    /// The polling thread's latest look was answered "absent": its next poll
    /// settles the swap.
    Told,
    /// The polling function already returned at once for it: the next poll
    /// settles the swap whether or not the polling thread looked in between (a
    /// host whose polling thread never looks itself is not held for ever).
    CutShort,
}

/// `IFDHICCPresence`'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `IFD_ICC_PRESENT`.
    Present,
    /// `IFD_ICC_NOT_PRESENT`.
    Absent,
    /// `IFD_ICC_PRESENT` for a swap just seen off the polling thread: wake the
    /// polling function so that pcscd's event thread looks now.
    PresentWakePoll,
}

/// How the polling function starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollStart {
    /// Return at once: pcscd's event thread has a swap's "absent" to read.
    LookNow,
    /// Wait for the slot to change from what pcscd was told.
    Track {
        /// pcscd was told a card is present (else absent).
        present: bool,
        /// The insertion count pcscd's card had, if it was told one: a different
        /// count now is a swap to report at once.
        insertions: Option<u32>,
    },
}

/// The slot's presence as told to pcscd, and which thread runs the polling
/// function (pcscd's event thread for the reader).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presence {
    /// What pcscd was last told.
    pub told: Told,
    /// The thread that last entered the polling function, if any did.
    pub poller: Option<ThreadId>,
}

impl Default for Presence {
    fn default() -> Presence {
        Presence::new()
    }
}

impl Presence {
    /// Nothing told, no poll seen.
    pub const fn new() -> Presence {
        Presence {
            told: Told::Nothing,
            poller: None,
        }
    }

    /// The answer to a look by thread `caller`, the core showing a card
    /// (`present`) and `insertions` cards inserted so far.
    ///
    /// The core's state, except for a swap: a card pcscd was told of whose
    /// insertion count moved while the state still shows a card. That is
    /// "absent" to the polling thread, owed ([`Told::SwapOwed`]) until it is told
    /// so and enters the polling function again (see [`Presence::poll_entered`]);
    /// another thread's look gets the core's state, and the first to see the swap
    /// wakes the poll ([`Answer::PresentWakePoll`]). On a host that never entered
    /// the polling function any look gets the "absent", for at most
    /// [`UNPOLLED_SWAP_ANSWERS`] looks.
    pub fn answer(&mut self, present: bool, insertions: u32, caller: ThreadId) -> Answer {
        let on_poller = self.poller == Some(caller);
        let off_poller = self.poller.is_some() && !on_poller;
        match self.told {
            Told::SwapOwed { .. } if off_poller => {
                if present {
                    Answer::Present
                } else {
                    Answer::Absent
                }
            }
            Told::SwapOwed { answers, to_poller } => {
                let answers = answers.saturating_add(1);
                self.told = if self.poller.is_none() && answers >= UNPOLLED_SWAP_ANSWERS {
                    Told::Absent
                } else {
                    let to_poller = match to_poller {
                        Owed::Untold if on_poller => Owed::Told,
                        other => other,
                    };
                    Told::SwapOwed { answers, to_poller }
                };
                Answer::Absent
            }
            Told::Present { insertions: told } if present && told != insertions => {
                self.told = Told::SwapOwed {
                    answers: 1,
                    to_poller: if on_poller { Owed::Told } else { Owed::Untold },
                };
                if off_poller {
                    Answer::PresentWakePoll
                } else {
                    Answer::Absent
                }
            }
            _ if present => {
                self.told = Told::Present { insertions };
                Answer::Present
            }
            _ => {
                self.told = Told::Absent;
                Answer::Absent
            }
        }
    }

    /// Thread `caller` enters the polling function, the core showing a card
    /// (`present`) now: it is the polling thread from now on. A swap's owed
    /// "absent" is settled if the polling thread's latest look was told it, else
    /// the poll returns at once (once) so that it looks again.
    pub fn poll_entered(&mut self, caller: ThreadId, present: bool) -> PollStart {
        if self.poller != Some(caller) {
            self.poller = Some(caller);
            if let Told::SwapOwed {
                answers,
                to_poller: Owed::Told,
            } = self.told
            {
                // A new polling thread has been told nothing yet.
                self.told = Told::SwapOwed {
                    answers,
                    to_poller: Owed::Untold,
                };
            }
        }
        match self.told {
            Told::SwapOwed {
                answers,
                to_poller: Owed::Untold,
            } => {
                self.told = Told::SwapOwed {
                    answers,
                    to_poller: Owed::CutShort,
                };
                PollStart::LookNow
            }
            Told::SwapOwed { .. } | Told::Absent => {
                self.told = Told::Absent;
                PollStart::Track {
                    present: false,
                    insertions: None,
                }
            }
            Told::Present { insertions } => PollStart::Track {
                present: true,
                insertions: Some(insertions),
            },
            Told::Nothing => PollStart::Track {
                present,
                insertions: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn other_thread() -> ThreadId {
        std::thread::spawn(|| std::thread::current().id())
            .join()
            .unwrap()
    }

    /// `caller` enters the polling function and it settles the swap: it tracks
    /// the slot as told absent.
    fn poll_settles(p: &mut Presence, caller: ThreadId) -> bool {
        matches!(
            p.poll_entered(caller, true),
            PollStart::Track { present: false, .. }
        )
    }

    /// A card told present to this thread, which then enters the polling
    /// function: it tracks the card (present, insertion 1). Returns the
    /// thread's id, the poller's.
    fn polled_present() -> (Presence, ThreadId) {
        let poller = std::thread::current().id();
        let mut p = Presence::new();
        assert_eq!(p.answer(true, 1, poller), Answer::Present);
        assert_eq!(
            p.poll_entered(poller, true),
            PollStart::Track {
                present: true,
                insertions: Some(1)
            }
        );
        (p, poller)
    }

    /// A card told present to the polling thread, swapped, and the swap seen
    /// first by another thread's look (a reset's): that look wakes the poll.
    fn swap_seen_first_off_the_poller() -> (Presence, ThreadId, ThreadId) {
        let (mut p, poller) = polled_present();
        let reset = other_thread();
        assert_eq!(p.answer(true, 2, reset), Answer::PresentWakePoll);
        (p, poller, reset)
    }

    /// A new [`Presence`] asked by this thread alone (no poller), in turn,
    /// for each step's core state (present, insertion count): each answer
    /// as the step says.
    fn answered_in_turn(steps: &[(bool, u32, Answer)]) -> Presence {
        let me = std::thread::current().id();
        let mut p = Presence::new();
        for (i, &(present, insertions, answer)) in steps.iter().enumerate() {
            assert_eq!(p.answer(present, insertions, me), answer, "step {i}");
        }
        p
    }

    #[test]
    fn plain_presence_follows_the_core() {
        let p = answered_in_turn(&[
            (false, 0, Answer::Absent),
            (true, 1, Answer::Present),
            (true, 1, Answer::Present),
            (false, 1, Answer::Absent),
        ]);
        assert_eq!(p.told, Told::Absent);
    }

    #[test]
    fn unpolled_host_gets_two_absent_answers_for_a_swap() {
        answered_in_turn(&[
            (true, 1, Answer::Present),
            (true, 2, Answer::Absent),
            (true, 2, Answer::Absent),
            (true, 2, Answer::Present),
            (true, 2, Answer::Present),
        ]);
    }

    #[test]
    fn swap_seen_by_the_poller_itself_is_settled_at_its_next_poll() {
        let (mut p, poller) = polled_present();
        assert_eq!(p.answer(true, 2, poller), Answer::Absent);
        assert_eq!(
            p.poll_entered(poller, true),
            PollStart::Track {
                present: false,
                insertions: None
            }
        );
        assert_eq!(p.answer(true, 2, poller), Answer::Present);
    }

    #[test]
    fn a_reset_seeing_the_swap_first_leaves_it_owed_to_the_poller() {
        let (mut p, poller, reset) = swap_seen_first_off_the_poller();
        // pcscd's reset path looks first, as often as it likes: the card is in.
        for _ in 0..5 {
            assert_eq!(p.answer(true, 2, reset), Answer::Present);
        }
        // The event thread's look says absent, then its poll settles it.
        assert_eq!(p.answer(true, 2, poller), Answer::Absent);
        assert_eq!(
            p.answer(true, 2, reset),
            Answer::Present,
            "never the reset's"
        );
        assert_eq!(
            p.answer(false, 2, reset),
            Answer::Absent,
            "the core's state"
        );
        assert_eq!(p.answer(true, 2, poller), Answer::Absent, "still owed");
        assert!(poll_settles(&mut p, poller));
        assert_eq!(p.answer(true, 2, reset), Answer::Present);
    }

    #[test]
    fn a_poll_before_the_poller_looked_returns_at_once_once() {
        let (mut p, poller, _) = swap_seen_first_off_the_poller();
        // The event thread looked before the swap and enters its poll now.
        assert_eq!(p.poll_entered(poller, true), PollStart::LookNow);
        assert_eq!(p.answer(true, 2, poller), Answer::Absent);
        assert!(poll_settles(&mut p, poller));
        // A host whose polling thread never looks itself: held one poll only.
        let (mut q, poller, reset) = swap_seen_first_off_the_poller();
        assert_eq!(q.poll_entered(poller, true), PollStart::LookNow);
        assert!(poll_settles(&mut q, poller));
        assert_eq!(q.answer(true, 2, reset), Answer::Present);
    }

    #[test]
    fn a_new_polling_thread_is_owed_the_swap_again() {
        let (mut p, old) = polled_present();
        let new = other_thread();
        // The old polling thread read the swap, but a new one polls now.
        assert_eq!(p.answer(true, 2, old), Answer::Absent);
        assert_eq!(p.poll_entered(new, true), PollStart::LookNow);
        assert_eq!(p.answer(true, 2, new), Answer::Absent);
        assert!(poll_settles(&mut p, new));
        assert_eq!(p.answer(true, 2, new), Answer::Present);
    }
}

//! Which commands may run while others do: the busy decision every transport
//! shares (CCID 1.1 §6.1: "a second command while one is running answers
//! CMD_SLOT_BUSY"; §5.3.1 and §6.1.13: ABORT).
//!
//! A transport that keeps reading the host while a command runs (a worker per
//! reader in `ccid-serve`, the card line's wait loop polling the host UART in
//! the firmware) asks [`Gate::admit`] about each message before running it:
//!
//! - [`Admission::Run`]: run it; its slot is busy until [`Gate::finish`].
//! - [`Admission::Busy`]: answer [`answer_busy`] at once (CMD_SLOT_BUSY, `bError`
//!   E0, the new message's `bSlot`/`bSeq`); the running command is not touched.
//! - [`Admission::Abort`]: a PC_to_RDR_Abort (a well-formed one: a header
//!   alone, `dwLength` 0) for the busy slot: stop the running command (the
//!   card line gives up), then run the Abort after it.
//!   [`Gate::finish`] of the stopped command says [`Finish::Aborted`]: its answer
//!   becomes CMD_ABORTED ([`answer_aborted`], `bError` FF).
//!
//! The class request ABORT (USB control endpoint) stops the running command
//! the same way through [`Gate::abort_request`]; the PC_to_RDR_Abort that
//! follows it is then admitted as [`Admission::Abort`] (nothing more to stop).
//!
//! When the host goes (a USB bus reset, SET_CONFIGURATION, a USB/IP client's
//! connection ending) while a command runs, [`Gate::disown`] stops that command
//! too, and its answer goes to nobody ([`Finish::Disowned`]): a host that starts
//! over must not receive answers to what it never sent. An Abort the gone host
//! had queued goes with it. The new host knows of no command, so the slot is
//! still busy to it: its PC_to_RDR_Abort (the way a host brings a slot back to
//! "ready for a new command", CCID 1.1 §6.1.13) is queued behind the stopping
//! command and answered with its slot status once that command has ended, and
//! anything else it sends meanwhile gets CMD_SLOT_BUSY. So every message of
//! either host gets exactly one answer, each with its own `bSeq`.
//!
//! One slot at a time runs a command ([`MAX_BUSY_SLOTS`], the descriptor's
//! `bMaxCCIDBusySlots`): every transport here has one runner for the reader
//! ([`crate::CcidReader::handle`] takes the whole reader), so a command for
//! another slot while one runs is refused with CMD_SLOT_BUSY too. On the
//! dual-slot SEC1210, then, a command for slot 1 while slot 0 works is refused
//! (libccid's serial driver assumes 1 for these readers, and pcscd's one lock
//! per reader never sends one). The count is a constant, not a setting: a
//! descriptor cannot promise more than the transports do.

use crate::answer::{Answer, AnswerKind, CommandStatus, IccStatus};
use crate::error::SlotError;
use crate::message::{HEADER_LEN, Message, pc_to_rdr};
use crate::reader::MAX_SLOTS;

/// What to do with a message that came while the reader may be busy.
///
/// Not `#[non_exhaustive]`, on purpose: each decision asks something different
/// of a transport (run, answer at once, stop the running command), so a
/// transport matches it exhaustively (no wildcard arm, no `==` against one
/// decision), and a new decision fails to build every transport that does not
/// handle it yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Admission {
    /// Run it (its slot, if it names one that exists, is busy until
    /// [`Gate::finish`]).
    Run,
    /// Answer CMD_SLOT_BUSY ([`answer_busy`]) and drop it.
    Busy,
    /// Stop the command running on the message's slot (if the class ABORT did
    /// not already), then run this PC_to_RDR_Abort once it has finished.
    Abort,
}

/// How many slots run a command at once (`bMaxCCIDBusySlots` of every class
/// descriptor this crate writes): the transports have one runner per reader.
pub const MAX_BUSY_SLOTS: u8 = 1;

/// How a command admitted by [`Gate::admit`] ended.
///
/// [`Finish::answer`] says what goes to the host (the answer, CMD_ABORTED,
/// nothing). Not `#[non_exhaustive]`, on purpose: it, and a transport that
/// decides for itself (the USB port rewrites the answer where it goes out),
/// match it exhaustively (no wildcard arm, no `==` against one ending), so a new
/// ending fails to build every place that does not handle it yet: a wildcard
/// would send some answer for it unseen, which is how an answer reaches a host
/// that never asked ([`Finish::Disowned`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Finish {
    /// It ran to its end: send its answer.
    Completed,
    /// It was stopped by an abort: send [`answer_aborted`] instead of its answer.
    Aborted,
    /// Its host has gone ([`Gate::disown`]): send nothing.
    Disowned,
}

impl Finish {
    /// What goes to the host for a command that ended so, its answer's first
    /// `len` bytes in `answer`: the length to send, `len` for a completed one
    /// and 10 for an aborted one, whose answer is rewritten in place as
    /// CMD_ABORTED ([`answer_aborted`]); `None` when nothing goes: its host has
    /// gone, or (aborted) `answer` is shorter than a header.
    pub fn answer(self, answer: &mut [u8], len: usize) -> Option<usize> {
        match self {
            Finish::Completed => Some(len),
            Finish::Aborted => answer_aborted(answer),
            Finish::Disowned => None,
        }
    }
}

/// Why a running command is being stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum StopCause {
    /// Its host aborted it (class ABORT or PC_to_RDR_Abort).
    Abort,
    /// Its host has gone ([`Gate::disown`]).
    HostGone,
}

/// What one slot is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum SlotRun {
    Idle,
    Running,
    /// Being stopped for `cause`; `abort_queued`: a PC_to_RDR_Abort (of the
    /// host there is now) has come and runs next.
    Stopping {
        cause: StopCause,
        abort_queued: bool,
    },
}

/// The busy state of every slot of a reader.
#[derive(Debug, Clone)]
pub struct Gate {
    slots: [SlotRun; MAX_SLOTS],
    slot_count: usize,
}

impl Gate {
    /// A gate for `slot_count` slots (at most [`MAX_SLOTS`]), of which
    /// [`MAX_BUSY_SLOTS`] run commands at once. A `const fn`, so that a firmware
    /// can keep its gate in a `static`.
    pub const fn new(slot_count: usize) -> Gate {
        Gate {
            slots: [SlotRun::Idle; MAX_SLOTS],
            slot_count: if slot_count < MAX_SLOTS {
                slot_count
            } else {
                MAX_SLOTS
            },
        }
    }

    /// How many slots the gate keeps (at most [`MAX_SLOTS`]).
    pub const fn slot_count(&self) -> usize {
        self.slot_count
    }

    /// `true` while a command is being stopped by an abort or because its host
    /// has gone (until its [`Gate::finish`], or [`Gate::release`] of its slot).
    pub fn stopping(&self) -> bool {
        self.slots
            .iter()
            .any(|s| matches!(s, SlotRun::Stopping { .. }))
    }

    /// How many slots run a command now.
    pub fn busy_slots(&self) -> usize {
        self.slots[..self.slot_count]
            .iter()
            .filter(|s| **s != SlotRun::Idle)
            .count()
    }

    /// `true` if `slot` runs a command (or is being stopped).
    pub fn is_busy(&self, slot: u8) -> bool {
        self.slots
            .get(usize::from(slot))
            .is_some_and(|s| *s != SlotRun::Idle)
    }

    /// `true` if the transport may answer `message` at once, on the thread that
    /// read it ([`crate::CcidReader::handle`] there, no hand-off to the runner):
    /// no command runs, and the dispatcher answers it from the reader's state
    /// alone, with no card exchange and no `Device` callback
    /// ([`answers_from_state`]). Nothing becomes busy, so [`Gate::admit`] and
    /// [`Gate::finish`] are not called for it. Only the transport's reading
    /// thread admits commands, so the answer stays true until that thread
    /// admits one. The gate does not see the runner's queue, though: a message
    /// [`Gate::admit`] lets run without making anything busy (no header, a slot
    /// that does not exist) while a command runs may still be with the runner
    /// after that command has finished, so a transport that hands such messages
    /// to its runner also waits until the runner has answered them all.
    ///
    /// This keeps the host's status and configuration requests (libccid's
    /// GetSlotStatus polls, its Escapes on open, each with a read time-out as
    /// short as 100 ms) from waiting on a runner thread that may not be
    /// scheduled in time.
    pub fn answers_at_once(&self, message: &[u8]) -> bool {
        if self.busy_slots() > 0 {
            return false;
        }
        let Ok(message) = Message::new_checked(message) else {
            // No header: nothing to answer, nothing to run.
            return true;
        };
        usize::from(message.slot()) >= self.slot_count || answers_from_state(message.message_type())
    }

    /// Decide about the message `bytes` (bulk OUT). A message without a
    /// header or for a slot that does not exist is [`Admission::Run`] without
    /// making anything busy: the dispatcher refuses it without touching a
    /// card. Only a well-formed PC_to_RDR_Abort (a header alone, `dwLength` 0,
    /// CCID 1.1 §6.1.13) is [`Admission::Abort`]: a malformed one is as any
    /// other message (CMD_SLOT_BUSY while the slot is busy; the running
    /// command goes on).
    pub fn admit(&mut self, bytes: &[u8]) -> Admission {
        let Ok(message) = Message::new_checked(bytes) else {
            return Admission::Run;
        };
        let index = usize::from(message.slot());
        if index >= self.slot_count {
            return Admission::Run;
        }
        // A malformed Abort is any other message: it stops nothing.
        let abort = crate::abort::is_abort(bytes);
        let busy = self.busy_slots();
        let slot = &mut self.slots[index];
        let cause = match *slot {
            SlotRun::Idle if busy >= usize::from(MAX_BUSY_SLOTS) => return Admission::Busy,
            SlotRun::Idle => {
                *slot = SlotRun::Running;
                return Admission::Run;
            }
            SlotRun::Running if abort => StopCause::Abort,
            SlotRun::Stopping {
                cause,
                abort_queued: false,
            } if abort => cause,
            SlotRun::Running | SlotRun::Stopping { .. } => return Admission::Busy,
        };
        *slot = SlotRun::Stopping {
            cause,
            abort_queued: true,
        };
        Admission::Abort
    }

    /// The class request ABORT for `slot`: `true` if a command runs there and the
    /// transport must stop it (its [`Gate::finish`] then says
    /// [`Finish::Aborted`]); `false` if there is nothing to stop.
    pub fn abort_request(&mut self, slot: u8) -> bool {
        match self.slots.get_mut(usize::from(slot)) {
            Some(run @ SlotRun::Running) => {
                *run = SlotRun::Stopping {
                    cause: StopCause::Abort,
                    abort_queued: false,
                };
                true
            }
            _ => false,
        }
    }

    /// The host has gone while `slot` runs a command: stop it (as an abort
    /// does), send nothing for it ([`Gate::finish`] then says
    /// [`Finish::Disowned`]) and forget a PC_to_RDR_Abort that host had queued.
    /// `true` if a command runs there (the transport must stop it), `false` if
    /// the slot is idle.
    pub fn disown(&mut self, slot: u8) -> bool {
        match self.slots.get_mut(usize::from(slot)) {
            Some(run @ (SlotRun::Running | SlotRun::Stopping { .. })) => {
                *run = SlotRun::Stopping {
                    cause: StopCause::HostGone,
                    abort_queued: false,
                };
                true
            }
            _ => false,
        }
    }

    /// The command admitted on `slot` has finished. If a PC_to_RDR_Abort is
    /// queued behind a stopped command, the slot stays busy for it.
    pub fn finish(&mut self, slot: u8) -> Finish {
        let Some(run) = self.slots.get_mut(usize::from(slot)) else {
            return Finish::Completed;
        };
        let finish = match *run {
            SlotRun::Stopping {
                cause: StopCause::Abort,
                ..
            } => Finish::Aborted,
            SlotRun::Stopping {
                cause: StopCause::HostGone,
                ..
            } => Finish::Disowned,
            SlotRun::Idle | SlotRun::Running => Finish::Completed,
        };
        *run = match *run {
            SlotRun::Stopping {
                abort_queued: true, ..
            } => SlotRun::Running,
            _ => SlotRun::Idle,
        };
        finish
    }

    /// `slot` is idle again whatever it was doing: the host that asked for its
    /// command (and any PC_to_RDR_Abort queued behind it) has gone.
    pub fn release(&mut self, slot: u8) {
        if let Some(run) = self.slots.get_mut(usize::from(slot)) {
            *run = SlotRun::Idle;
        }
    }
}

/// `true` for the PC_to_RDR commands [`crate::CcidReader::handle`] answers from
/// the reader's state alone, with no card exchange and no `Device` callback:
/// GetSlotStatus, GetParameters, Escape (an [`crate::reader::EscapeFn`] sees the
/// reader's settings, never a device) and SetDataRateAndClockFrequency (it
/// answers the values in force).
pub const fn answers_from_state(message_type: u8) -> bool {
    matches!(
        message_type,
        pc_to_rdr::GET_SLOT_STATUS
            | pc_to_rdr::GET_PARAMETERS
            | pc_to_rdr::ESCAPE
            | pc_to_rdr::SET_DATA_RATE_AND_CLOCK
    )
}

/// The CMD_SLOT_BUSY answer to `message` (the answer kind its command gets, its
/// `bSlot` and `bSeq`, `bError` E0, the card as `icc`). Returns 10, or `None`
/// without a header or room for one; [`busy_header`] for a message whose header
/// was read already, which cannot fail.
pub fn answer_busy(message: &[u8], icc: IccStatus, out: &mut [u8]) -> Option<usize> {
    let message = Message::new_checked(message).ok()?;
    out.get_mut(..HEADER_LEN)?
        .copy_from_slice(&busy_header(&message, icc));
    Some(HEADER_LEN)
}

/// The CMD_SLOT_BUSY answer (10 bytes, no data) to the command `message`, a
/// message checked to hold a header ([`Message::new_checked`]): the answer
/// kind its command gets, its `bSlot` and `bSeq`, `bError` E0, the card as
/// `icc`.
pub fn busy_header<T: AsRef<[u8]>>(message: &Message<T>, icc: IccStatus) -> [u8; HEADER_LEN] {
    let kind = AnswerKind::for_command(message.message_type());
    Answer {
        kind,
        slot: message.slot(),
        seq: message.seq(),
        icc,
        command: CommandStatus::Failed,
        error: SlotError::SlotBusy.code(),
        specific: match kind {
            // bClockStatus: stopped in an unknown state (the card is busy).
            AnswerKind::SlotStatus => 3,
            _ => 0,
        },
    }
    .header()
}

/// Turn the answer of a stopped command (its first 10 bytes in `answer`) into
/// CMD_ABORTED: no data, `bmCommandStatus` failed, `bError` FF; message type,
/// slot, seq, card status and a slot status's clock byte kept. Returns 10, or
/// `None` if `answer` is shorter than a header; [`abort_answer`] for an answer
/// buffer of a size known when the program is built, which cannot fail.
pub fn answer_aborted(answer: &mut [u8]) -> Option<usize> {
    abort(answer.get_mut(..HEADER_LEN)?);
    Some(HEADER_LEN)
}

/// [`answer_aborted`] in an answer buffer of `N` bytes: `N` is at least a
/// header (checked when the program is built), so it cannot fail. Returns the
/// answer's length, 10.
pub fn abort_answer<const N: usize>(answer: &mut [u8; N]) -> usize {
    const { assert!(N >= HEADER_LEN, "an answer buffer holds a header") };
    // In bounds: the assertion above.
    abort(&mut answer[..HEADER_LEN]);
    HEADER_LEN
}

/// Rewrite `header` (10 bytes) as [`answer_aborted`] says.
fn abort(header: &mut [u8]) {
    header[1..5].fill(0);
    header[7] = (header[7] & 0x03) | 0x40;
    header[8] = SlotError::CommandAborted.code();
    if header[0] != AnswerKind::SlotStatus.message_type() {
        header[9] = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: u8, slot: u8, seq: u8) -> [u8; 10] {
        [kind, 0, 0, 0, 0, slot, seq, 0, 0, 0]
    }

    use pc_to_rdr::{ABORT, GET_SLOT_STATUS, XFR_BLOCK};

    /// One step of a gate's life and what it must give.
    enum Step {
        /// A message (type, slot) and the gate's decision.
        Admit(u8, u8, Admission),
        /// The command on a slot ends.
        End(u8, Finish),
        /// The class request ABORT for a slot: whether something is to stop.
        ClassAbort(u8, bool),
        /// How many slots are busy now.
        BusySlots(usize),
        /// Whether a command is being stopped now.
        Stopping(bool),
        /// The host goes: whether a command runs on the slot.
        HostGone(u8, bool),
    }
    use Step::*;

    /// Run `steps` on a gate of `slots` slots.
    fn run(slots: usize, steps: &[Step]) {
        let mut gate = Gate::new(slots);
        for (i, step) in steps.iter().enumerate() {
            match *step {
                Admit(kind, slot, admission) => {
                    let message = header(kind, slot, i as u8);
                    assert_eq!(gate.admit(&message), admission, "step {i}");
                }
                End(slot, finish) => assert_eq!(gate.finish(slot), finish, "step {i}"),
                ClassAbort(slot, stop) => assert_eq!(gate.abort_request(slot), stop, "step {i}"),
                BusySlots(count) => assert_eq!(gate.busy_slots(), count, "step {i}"),
                Stopping(stopping) => assert_eq!(gate.stopping(), stopping, "step {i}"),
                HostGone(slot, runs) => assert_eq!(gate.disown(slot), runs, "step {i}"),
            }
        }
    }

    #[test]
    fn second_command_on_a_busy_slot_is_busy_and_leaves_the_first_running() {
        run(
            1,
            &[
                Admit(XFR_BLOCK, 0, Admission::Run),
                Admit(GET_SLOT_STATUS, 0, Admission::Busy),
                BusySlots(1),
                End(0, Finish::Completed),
                BusySlots(0),
                Admit(GET_SLOT_STATUS, 0, Admission::Run),
            ],
        );
    }

    #[test]
    fn other_slot_is_refused_while_one_runs() {
        run(
            2,
            &[
                Admit(XFR_BLOCK, 0, Admission::Run),
                Admit(XFR_BLOCK, 1, Admission::Busy),
                Admit(ABORT, 1, Admission::Busy),
                BusySlots(1),
                End(0, Finish::Completed),
                Admit(XFR_BLOCK, 1, Admission::Run),
            ],
        );
    }

    #[test]
    fn bad_slot_and_truncated_messages_run_without_making_anything_busy() {
        let mut gate = Gate::new(1);
        assert_eq!(gate.admit(&[XFR_BLOCK, 0]), Admission::Run);
        assert_eq!(gate.busy_slots(), 0);
        run(
            1,
            &[
                Admit(XFR_BLOCK, 7, Admission::Run),
                BusySlots(0),
                End(7, Finish::Completed),
                End(200, Finish::Completed),
            ],
        );
    }

    /// A PC_to_RDR_Abort whose `dwLength` is not 0 (announcing a byte it has,
    /// or one it lacks) is a malformed message, not an Abort: CMD_SLOT_BUSY,
    /// and the running command goes on; a well-formed one then stops it.
    #[test]
    fn a_malformed_abort_stops_nothing() {
        let mut gate = Gate::new(1);
        assert_eq!(gate.admit(&header(XFR_BLOCK, 0, 1)), Admission::Run);
        let with_data = [ABORT, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0xAA];
        let lacking_data = [ABORT, 1, 0, 0, 0, 0, 3, 0, 0, 0];
        for malformed in [&with_data[..], &lacking_data[..]] {
            assert_eq!(gate.admit(malformed), Admission::Busy, "{malformed:02X?}");
            assert!(!gate.stopping());
        }
        assert_eq!(gate.admit(&header(ABORT, 0, 4)), Admission::Abort);
        assert!(gate.stopping());
    }

    #[test]
    fn abort_message_stops_the_running_command_then_runs() {
        run(
            1,
            &[
                Admit(XFR_BLOCK, 0, Admission::Run),
                Stopping(false),
                Admit(ABORT, 0, Admission::Abort),
                Stopping(true),
                // A second Abort, or anything else, while it stops: busy.
                Admit(ABORT, 0, Admission::Busy),
                Admit(XFR_BLOCK, 0, Admission::Busy),
                End(0, Finish::Aborted),
                // The queued Abort runs now: the slot stays busy until it ends.
                Stopping(false),
                BusySlots(1),
                End(0, Finish::Completed),
                BusySlots(0),
            ],
        );
    }

    #[test]
    fn class_abort_then_abort_message() {
        run(
            1,
            &[
                // Nothing runs: nothing to stop.
                ClassAbort(0, false),
                ClassAbort(9, false),
                Admit(XFR_BLOCK, 0, Admission::Run),
                ClassAbort(0, true),
                Stopping(true),
                ClassAbort(0, false),
                Admit(ABORT, 0, Admission::Abort),
                End(0, Finish::Aborted),
                Stopping(false),
                End(0, Finish::Completed),
                // Class ABORT whose PC_to_RDR_Abort comes after the command ended.
                Admit(XFR_BLOCK, 0, Admission::Run),
                ClassAbort(0, true),
                End(0, Finish::Aborted),
                Admit(ABORT, 0, Admission::Run),
            ],
        );
    }

    #[test]
    fn release_ends_a_stop_and_the_slot_count_is_kept_to_max_slots() {
        let mut gate = Gate::new(2);
        assert_eq!(gate.slot_count(), 2);
        assert_eq!(gate.admit(&header(XFR_BLOCK, 1, 0)), Admission::Run);
        assert!(gate.abort_request(1));
        assert!(gate.stopping());
        gate.release(1);
        assert!(!gate.stopping());
        assert_eq!(gate.busy_slots(), 0);
        assert_eq!(Gate::new(MAX_SLOTS + 3).slot_count(), MAX_SLOTS);
    }

    /// The host goes while a command runs (a bus reset); the new host's
    /// PC_to_RDR_Abort waits for that command and then runs: one answer each,
    /// none for the gone host's command.
    #[test]
    fn new_hosts_abort_runs_after_the_disowned_command() {
        run(
            1,
            &[
                Admit(XFR_BLOCK, 0, Admission::Run),
                HostGone(0, true),
                Stopping(true),
                // The class ABORT of the new host: already being stopped.
                ClassAbort(0, false),
                Admit(GET_SLOT_STATUS, 0, Admission::Busy),
                Admit(ABORT, 0, Admission::Abort),
                Admit(ABORT, 0, Admission::Busy),
                End(0, Finish::Disowned),
                // The new host's Abort runs, for it.
                BusySlots(1),
                Stopping(false),
                End(0, Finish::Completed),
                BusySlots(0),
                HostGone(0, false),
            ],
        );
    }

    /// The old host's Abort queued behind its stopping command goes with it; the
    /// new host's Abort takes its place.
    #[test]
    fn a_gone_hosts_queued_abort_is_dropped() {
        run(
            1,
            &[
                Admit(XFR_BLOCK, 0, Admission::Run),
                Admit(ABORT, 0, Admission::Abort),
                HostGone(0, true),
                End(0, Finish::Disowned),
                BusySlots(0),
                Admit(XFR_BLOCK, 0, Admission::Run),
                ClassAbort(0, true),
                HostGone(0, true),
                Admit(ABORT, 0, Admission::Abort),
                End(0, Finish::Disowned),
                BusySlots(1),
                End(0, Finish::Completed),
                BusySlots(0),
            ],
        );
    }

    /// What may be answered where it was read: only while nothing runs, and
    /// only what needs no card.
    #[test]
    fn answers_at_once_only_what_needs_no_card_while_nothing_runs() {
        use pc_to_rdr::{ESCAPE, GET_PARAMETERS, ICC_POWER_ON, SET_DATA_RATE_AND_CLOCK};
        let mut gate = Gate::new(2);
        let at_once = |gate: &Gate, kind, slot| gate.answers_at_once(&header(kind, slot, 0));
        for kind in [
            GET_SLOT_STATUS,
            GET_PARAMETERS,
            ESCAPE,
            SET_DATA_RATE_AND_CLOCK,
        ] {
            assert!(at_once(&gate, kind, 1), "{kind:02X}");
        }
        for kind in [XFR_BLOCK, ICC_POWER_ON, ABORT, pc_to_rdr::SECURE, 0x00] {
            assert!(!at_once(&gate, kind, 0), "{kind:02X}");
        }
        // Refused without a card: no header, a slot that does not exist.
        assert!(gate.answers_at_once(&[GET_SLOT_STATUS, 0]));
        assert!(at_once(&gate, XFR_BLOCK, 2));
        // While a command runs (on either slot), everything goes to the gate.
        assert_eq!(gate.admit(&header(XFR_BLOCK, 0, 1)), Admission::Run);
        for (kind, slot) in [(GET_SLOT_STATUS, 0), (ESCAPE, 1), (XFR_BLOCK, 2)] {
            assert!(!at_once(&gate, kind, slot), "{kind:02X} for slot {slot}");
        }
        assert!(!gate.answers_at_once(&[GET_SLOT_STATUS]));
        assert_eq!(gate.finish(0), Finish::Completed);
        assert!(at_once(&gate, GET_SLOT_STATUS, 0));
    }

    #[test]
    fn abort_of_an_idle_slot_just_runs() {
        run(1, &[Admit(ABORT, 0, Admission::Run), BusySlots(1)]);
    }

    #[test]
    fn busy_answer_echoes_slot_and_seq() {
        let mut out = [0u8; 12];
        let cases = [
            (pc_to_rdr::XFR_BLOCK, 1, 0x42, IccStatus::PresentActive),
            (pc_to_rdr::GET_SLOT_STATUS, 0, 7, IccStatus::PresentInactive),
        ];
        let expected = [
            [0x80, 0, 0, 0, 0, 1, 0x42, 0x40, 0xE0, 0],
            [0x81, 0, 0, 0, 0, 0, 7, 0x41, 0xE0, 3],
        ];
        for ((kind, slot, seq, icc), expected) in cases.into_iter().zip(expected) {
            let len = answer_busy(&header(kind, slot, seq), icc, &mut out);
            assert_eq!(len, Some(10));
            assert_eq!(out[..10], expected);
            let message = Message::new_unchecked(header(kind, slot, seq));
            assert_eq!(busy_header(&message, icc), expected);
        }
        assert_eq!(answer_busy(&[0x6F], IccStatus::Absent, &mut out), None);
        assert_eq!(
            answer_busy(&header(0x6F, 0, 0), IccStatus::Absent, &mut [0; 9]),
            None
        );
    }

    #[test]
    fn aborted_answer_keeps_the_header_and_drops_the_data() {
        let mut answer = [0x80, 2, 0, 0, 0, 0, 5, 0x00, 0, 0, 0x90, 0x00];
        assert_eq!(answer_aborted(&mut answer), Some(10));
        assert_eq!(&answer[..10], &[0x80, 0, 0, 0, 0, 0, 5, 0x40, 0xFF, 0]);
        let mut status = [0x81, 0, 0, 0, 0, 0, 6, 0x01, 0, 3];
        answer_aborted(&mut status);
        assert_eq!(status, [0x81, 0, 0, 0, 0, 0, 6, 0x41, 0xFF, 3]);
        assert_eq!(answer_aborted(&mut [0; 9]), None);
        let mut buffer = [0x80, 2, 0, 0, 0, 0, 5, 0x00, 0, 0, 0x90, 0x00];
        assert_eq!(abort_answer(&mut buffer), 10);
        assert_eq!(buffer[..10], answer[..10]);
    }

    #[test]
    fn each_finish_sends_its_answer_cmd_aborted_or_nothing() {
        let answer = [0x80, 2, 0, 0, 0, 0, 5, 0x00, 0, 0, 0x90, 0x00];
        let mut sent = answer;
        assert_eq!(Finish::Completed.answer(&mut sent, 12), Some(12));
        assert_eq!(sent, answer, "a completed answer goes out as it is");
        assert_eq!(Finish::Aborted.answer(&mut sent, 12), Some(10));
        assert_eq!(&sent[..10], &[0x80, 0, 0, 0, 0, 0, 5, 0x40, 0xFF, 0]);
        assert_eq!(Finish::Aborted.answer(&mut [0; 9], 9), None);
        let mut sent = answer;
        assert_eq!(Finish::Disowned.answer(&mut sent, 12), None);
        assert_eq!(sent, answer, "nothing rewritten for a host gone");
    }
}

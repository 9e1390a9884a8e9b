//! The CCID interface of a reader whose commands run outside the USB class, so
//! that the host is heard while one runs.
//!
//! [`CcidPort`] is a [`UsbClass`] without the reader: it assembles messages and
//! decides about each with [`Gate`] (the busy decision every transport shares).
//! An admitted message waits until the runner takes it ([`CcidPort::take`]),
//! runs it on its [`CcidReader`] and hands the answer back
//! ([`CcidPort::finish`]). Meanwhile the card line's wait keeps polling the bus
//! (`usb.poll(&mut [&mut port])`): another message gets CMD_SLOT_BUSY at once,
//! [`CcidPort::time_extension`] sends a time extension for the running command,
//! and ABORT (the class request, or PC_to_RDR_Abort) makes
//! [`CcidPort::stopping`] true, so that the line gives up; the stopped
//! command's answer goes out as CMD_ABORTED and the PC_to_RDR_Abort runs next.
//!
//! The class request ABORT also goes to the runner, as news for the reader
//! ([`Task::Notice`], [`Notice::ClassAbort`], before the messages that came
//! after it), for the reader to pair it with its PC_to_RDR_Abort (CCID 1.1
//! §5.3.1, the `abort` module): until that Abort comes, the reader fails the
//! slot's commands CMD_ABORTED, as behind [`super::CcidClass`]. The rule stays
//! the reader's; the port only carries the request to it, and tells it when
//! the host has gone ([`Notice::HostGone`]): the next host has no abort under
//! way. The runner passes each notice on whole ([`CcidReader::hear`], which
//! cannot fail).
//!
//! ```text
//! loop {
//!     usb.poll(&mut [&mut port]);
//!     match port.take(&mut message) {
//!         Some(Task::Command(command)) => {
//!             // The card line's wait calls usb.poll(&mut [&mut port]), and
//!             // port.time_extension(m) when the card asks for more time. The
//!             // command has a header and `answer` is an array of at least
//!             // one: respond cannot fail.
//!             let n = reader.respond(&command, &mut answer);
//!             while !port.finish(&answer, n) {
//!                 usb.poll(&mut [&mut port]);
//!             }
//!         }
//!         Some(Task::Notice(notice)) => reader.hear(notice),
//!         None => {}
//!     }
//!     if let Some(n) = reader.slot_change(&mut note) { port.notify(&note[..n]); }
//! }
//! ```
//!
//! A runner on a thread of its own (a host's worker, which the scheduler may
//! not run in time) calls [`CcidPort::answer_at_once`] where it polls the bus:
//! a message that needs no card while nothing runs or waits (libccid's
//! GetSlotStatus polls, its Escapes on open: [`Gate::answers_at_once`]) is then
//! answered right there, from the reader, without waiting for the runner. A
//! runner that polls the bus itself between commands (the firmware) need not:
//! [`CcidPort::take`] hands such a message over as any other.
//!
//! It costs a second pair of message buffers (the runner's) besides the port's.
//! A reader with a PIN pad: the runner calls
//! [`CcidReader::handle_with_keypad`] with its keypad (the port runs no command,
//! so it takes none; [`super::CcidClass::with_keypad`] is the class's), and the
//! reader's `with_pin_support` comes before [`CcidPort::new`], which copies the
//! class descriptor.

use readerkit::Device;
use readerkit::platform::Platform;
use usb_device::Result as UsbResult;
use usb_device::bus::{UsbBus, UsbBusAllocator};
use usb_device::class::{ControlIn, ControlOut, UsbClass};
use usb_device::descriptor::DescriptorWriter;
use usb_device::endpoint::EndpointAddress;

use super::pipe::Pipe;
use super::{class_request, request};
use crate::answer::Answer;
use crate::busy::{self, Admission, Finish, Gate};
use crate::descriptor;
use crate::message::{HEADER_LEN, Message};
use crate::notice::Notice;
use crate::reader::{CcidReader, ClassRequest, ConfigError, HandleError, MAX_SLOTS, SlotCards};

/// The runner's part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Job {
    /// No command admitted.
    Idle,
    /// An admitted message waits in the pipe for [`CcidPort::take`].
    Waiting,
    /// A PC_to_RDR_Abort waits for [`CcidPort::take`] (its stopped command ended).
    AbortWaiting,
    /// The runner runs the command `slot`/`seq`.
    Running { slot: u8, seq: u8 },
    /// The runner runs a command of `slot` whose host has gone
    /// ([`CcidPort::disown`]): stopped, its answer dropped. (The gate knows
    /// too, for the slots it tracks; this also covers a message it does not
    /// track, for a slot the reader lacks.)
    Orphaned { slot: u8 },
}

/// What [`CcidPort::take`] hands the runner.
///
/// Not `#[non_exhaustive]`, on purpose: each asks something different of the
/// runner, so a runner matches it exhaustively and a new one fails to build
/// every runner that does not handle it yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task<'m> {
    /// Run this command ([`CcidReader::respond`], which cannot fail: it has a
    /// header) and hand its answer to [`CcidPort::finish`].
    Command(Message<&'m [u8]>),
    /// Pass this on to the reader ([`CcidReader::hear`], which cannot fail):
    /// the host's class request ABORT for a slot the reader has
    /// ([`Notice::ClassAbort`]), so that the reader pairs it with its
    /// PC_to_RDR_Abort, or the news that the host has gone
    /// ([`Notice::HostGone`], [`CcidPort::disown`]). Nothing is answered and
    /// nothing is owed to [`CcidPort::finish`]. It comes before any bulk-OUT
    /// message the reader has not seen yet (the host gone first, then the
    /// class requests, by slot), so that the reader hears it first.
    Notice(Notice),
}

/// A class request's data stage, answered from what the reader said at start.
#[derive(Debug, Clone, Copy)]
struct Values {
    bytes: [u8; 8],
    len: usize,
}

/// The CCID interface with `N`-byte message buffers, for commands run outside
/// on the reader whose slots are `C` (`[Device<P, D, EVENTS>]`).
pub struct CcidPort<'a, B: UsbBus, C: SlotCards + ?Sized, const N: usize> {
    pipe: Pipe<'a, B, N>,
    descriptor: [u8; descriptor::LEN],
    clocks: Values,
    rates: Values,
    /// The slots' busy state: which exist, which run, which are being stopped.
    gate: Gate,
    job: Job,
    /// The PC_to_RDR_Abort for the running command's slot, run after it.
    queued_abort: [u8; HEADER_LEN],
    /// Per slot, the `bSeq` of a class request ABORT the runner has not been
    /// handed yet ([`Notice::ClassAbort`]); a second one for the slot replaces
    /// the first. That matches CCID 1.1 §5.3.1: a slot has one abort under
    /// way, the one of the class request that came last, which pairs with
    /// the PC_to_RDR_Abort of its `bSeq`, or is complete at once if the
    /// slot's last bulk-OUT message was that Abort. The reader too keeps one
    /// class ABORT per slot, a second replacing the first and looking at the
    /// same last message: handed both, it would end where the last alone
    /// leaves it (`CcidClass`, which passes each on at once, answers the
    /// same).
    class_aborts: [Option<u8>; MAX_SLOTS],
    /// The host has gone and the runner has not been told yet
    /// ([`Notice::HostGone`]).
    host_gone: bool,
    /// The reader's slots, whose card state the busy answers give (read while
    /// the runner holds the reader and the command its serialization lock).
    cards: &'a C,
}

impl<'a, B: UsbBus, P: Platform, D, const EVENTS: usize, const N: usize>
    CcidPort<'a, B, [Device<P, D, EVENTS>], N>
{
    /// The interface on `alloc` for `reader` (its descriptor, slots, clocks and
    /// data rates; the reader itself stays with the runner, its slots are read
    /// for the busy answers' card status), bulk endpoints of `max_packet_size`
    /// bytes. Errors as [`super::CcidClass::new`].
    pub fn new<'d: 'a>(
        alloc: &'a UsbBusAllocator<B>,
        reader: &mut CcidReader<'d, P, D, EVENTS>,
        max_packet_size: u16,
    ) -> Result<Self, ConfigError> {
        let class_descriptor = reader.descriptor();
        let pipe = Pipe::new(alloc, max_packet_size, class_descriptor.max_message_len)?;
        let mut values = |which| {
            let mut bytes = [0u8; 8];
            let len = reader.class_request(which, 0, &mut bytes).unwrap_or(0);
            Values { bytes, len }
        };
        let clocks = values(ClassRequest::GetClockFrequencies);
        let rates = values(ClassRequest::GetDataRates);
        Ok(CcidPort {
            pipe,
            descriptor: class_descriptor.to_bytes(),
            clocks,
            rates,
            gate: reader.gate(),
            job: Job::Idle,
            queued_abort: [0; HEADER_LEN],
            class_aborts: [None; MAX_SLOTS],
            host_gone: false,
            cards: reader.slots(),
        })
    }
}

impl<'a, B: UsbBus, C: SlotCards + ?Sized, const N: usize> CcidPort<'a, B, C, N> {
    /// The runner's next task, `None` while it runs a command or has nothing
    /// to do. First the news for the reader ([`Task::Notice`]): that the host
    /// has gone ([`Notice::HostGone`]), then a class request ABORT it has not
    /// been handed yet ([`Notice::ClassAbort`]), so that the reader hears of
    /// both before the messages that follow them. Then the next admitted message ([`Task::Command`]),
    /// copied into `message`; its slot is busy until [`CcidPort::finish`].
    /// Its header is checked (for [`CcidReader::respond`], which cannot fail);
    /// one waiting without a header is dropped (`None`: with no `bSlot` and
    /// `bSeq` there is nothing to answer; the pipe completes no such message,
    /// so this does not happen). `message` holds `N` bytes, as the port's own
    /// buffer does, so every message fits.
    /// A message left for [`CcidPort::answer_at_once`] is admitted and taken
    /// here too.
    pub fn take<'m>(&mut self, message: &'m mut [u8; N]) -> Option<Task<'m>> {
        if let Some(notice) = self.notice() {
            return Some(Task::Notice(notice));
        }
        if self.job == Job::Idle {
            let len = self.at_once()?.len();
            // Nothing runs, so it runs (a slot that exists is busy until
            // `finish`), as `service` would have decided.
            self.gate
                .admit(self.pipe.incoming.get(..len).unwrap_or(&[]));
            self.job = Job::Waiting;
        }
        let source = match self.job {
            Job::Waiting => self.pipe.incoming.get(..self.pipe.message_len()?)?,
            Job::AbortWaiting => &self.queued_abort[..],
            Job::Idle | Job::Running { .. } | Job::Orphaned { .. } => return None,
        };
        let len = source.len();
        let running = match Message::new_checked(source) {
            Ok(header) => {
                message.get_mut(..len)?.copy_from_slice(source);
                Some(Job::Running {
                    slot: header.slot(),
                    seq: header.seq(),
                })
            }
            // No header (the pipe completes no message shorter than one; a
            // queued Abort is a whole header): nothing to run, no slot to
            // answer for. Dropped, as the pipe drops such a transfer.
            Err(_) => None,
        };
        if self.job == Job::Waiting {
            self.pipe.consume();
        }
        self.job = running.unwrap_or(Job::Idle);
        running?;
        let message: &'m [u8] = message;
        Message::new_checked(message.get(..len)?)
            .ok()
            .map(Task::Command)
    }

    /// The news for the reader the runner has not been handed yet
    /// ([`Notice::HostGone`], then [`Notice::ClassAbort`]), handed over now;
    /// `None` if there is none or the runner runs a command (the reader is
    /// its). Out of line: the firmware's loop that inlines [`CcidPort::take`]
    /// is 262 B smaller in flash this way.
    #[inline(never)]
    fn notice(&mut self) -> Option<Notice> {
        if matches!(self.job, Job::Running { .. } | Job::Orphaned { .. }) {
            return None;
        }
        if core::mem::take(&mut self.host_gone) {
            return Some(Notice::HostGone);
        }
        let (slot, seq) = self
            .class_aborts
            .iter_mut()
            .enumerate()
            .find_map(|(slot, seq)| Some((slot, seq.take()?)))?;
        // A slot index below `MAX_SLOTS`: it fits.
        let slot = u8::try_from(slot).ok()?;
        Some(Notice::ClassAbort { slot, seq })
    }

    /// The running command's answer (`len` bytes of `answer`; 0: none, the
    /// runner has no answer) goes out, as CMD_ABORTED if it was stopped
    /// (rewritten in the bulk-IN buffer; `answer` is only read), or nowhere if
    /// its host has gone ([`CcidPort::disown`]). Nothing past `len` is read.
    /// `false` while bulk-IN is busy: poll the bus and call again.
    pub fn finish(&mut self, answer: &[u8], len: usize) -> bool {
        let (slot, owned) = match self.job {
            Job::Running { slot, .. } => (slot, true),
            Job::Orphaned { slot } => (slot, false),
            Job::Idle | Job::Waiting | Job::AbortWaiting => return true,
        };
        if owned && !self.pipe.can_send() {
            return false;
        }
        let finish = self.gate.finish(slot);
        if owned {
            self.send_answer(answer, len, finish);
        }
        self.job = if self.gate.is_busy(slot) {
            // A PC_to_RDR_Abort came for the stopped command (from the host
            // there is now): it runs now.
            Job::AbortWaiting
        } else {
            Job::Idle
        };
        self.service();
        true
    }

    /// Send the answer of the command that ended as `finish` says.
    fn send_answer(&mut self, answer: &[u8], len: usize, finish: Finish) {
        let len = len.min(answer.len()).min(N);
        let len = match finish {
            Finish::Completed | Finish::Aborted => len,
            // Its host has gone: nothing goes out (the job is orphaned then, so
            // this is not reached; matched for the build to check it).
            Finish::Disowned => return,
        };
        let outgoing = &mut self.pipe.outgoing;
        outgoing[..len].copy_from_slice(&answer[..len]);
        let len = match finish {
            // Rewritten where it goes out (`outgoing` holds `N` >= 10 bytes).
            Finish::Aborted if len > 0 => busy::abort_answer(outgoing),
            _ => len,
        };
        self.pipe.send(len);
    }

    /// The complete message waiting, if [`CcidPort::answer_at_once`] may answer
    /// it: nothing is admitted (no command runs or waits), no news waits for
    /// the runner to tell the reader (a host gone, a class request ABORT: the
    /// reader must hear of them first), bulk-IN is free, and it needs no card
    /// ([`Gate::answers_at_once`]).
    fn at_once(&self) -> Option<&[u8]> {
        let news = self.host_gone || self.class_aborts.iter().any(Option::is_some);
        if self.job != Job::Idle || news || !self.pipe.can_send() {
            return None;
        }
        let message = self.pipe.incoming.get(..self.pipe.message_len()?)?;
        self.gate.answers_at_once(message).then_some(message)
    }

    /// Answer the message waiting here and now, if it needs no card and nothing
    /// is admitted (no command runs, none waits for the runner, so no answer of
    /// an earlier message is owed and none can be overtaken): `handle` (the
    /// runner's [`CcidReader::handle`], free while nothing runs) writes its
    /// answer straight into the bulk-IN buffer. `true` if it answered one;
    /// `false` leaves the message to the gate and [`CcidPort::take`].
    ///
    /// For a runner on a thread of its own: call it where the bus is polled,
    /// before [`CcidPort::take`], so that the host's status and configuration
    /// requests (libccid's GetSlotStatus polls, its Escapes on open, some read
    /// with a time-out of 100 ms) do not wait for that thread to be scheduled.
    /// `handle` runs only when it answers, so a runner that keeps its reader
    /// behind a lock takes the lock there.
    pub fn answer_at_once(
        &mut self,
        handle: impl FnOnce(&[u8], &mut [u8]) -> Result<usize, HandleError>,
    ) -> bool {
        let Some(len) = self.at_once().map(<[u8]>::len) else {
            return false;
        };
        let pipe = &mut self.pipe;
        let message = pipe.incoming.get(..len).unwrap_or(&[]);
        match handle(message, &mut pipe.outgoing[..]) {
            Ok(answered) => pipe.send(answered),
            // No header (the pipe completes no message shorter than one):
            // nothing to answer, dropped as `take` drops it. Never too small:
            // the bulk-IN buffer holds `N` bytes, a header at least
            // (`CcidPort::send_header` checks it when the program is built).
            Err(HandleError::Truncated | HandleError::AnswerTooSmall) => {}
        }
        pipe.consume();
        true
    }

    /// Ask the host for more time for the running command (`bmCommandStatus` 2,
    /// `bError` = the BWT `multiplier`). `false` if no command runs or bulk-IN is
    /// busy (the next request for more time tries again).
    pub fn time_extension(&mut self, multiplier: u8) -> bool {
        let Job::Running { slot, seq } = self.job else {
            return false;
        };
        if !self.pipe.can_send() {
            return false;
        }
        self.send_header(Answer::time_extension(slot, seq, multiplier).header());
        true
    }

    /// Send a 10-byte answer without data.
    fn send_header(&mut self, header: [u8; HEADER_LEN]) {
        const { assert!(N >= HEADER_LEN, "a message buffer holds a header") };
        // In bounds: the assertion above.
        self.pipe.outgoing[..HEADER_LEN].copy_from_slice(&header);
        self.pipe.send(HEADER_LEN);
    }

    /// `true` while the running command is being stopped by an ABORT, or
    /// runs for a host that has gone ([`CcidPort::disown`]): the card line
    /// should give up waiting.
    pub fn stopping(&self) -> bool {
        matches!(self.job, Job::Orphaned { .. }) || self.gate.stopping()
    }

    /// The host has gone (its connection ended, it reset the bus or set the
    /// configuration): nothing more is sent for what it asked. A message
    /// waiting for the runner, or a PC_to_RDR_Abort queued, is dropped; a
    /// running command is stopped as an ABORT stops it ([`CcidPort::stopping`]
    /// turns true) and its answer, handed to [`CcidPort::finish`] as usual, is
    /// dropped instead of sent, so that it cannot reach the next host. Until it
    /// ends, the next host's PC_to_RDR_Abort for its slot waits for it and then
    /// runs (its slot status answers it), and the next host's other messages get
    /// CMD_SLOT_BUSY ([`Gate::disown`]). A class request ABORT not yet handed
    /// to the runner goes too, and the runner's next task tells the reader
    /// ([`Notice::HostGone`]). Returns `true` while such a command runs (the
    /// runner still owes [`CcidPort::finish`] its answer).
    pub fn disown(&mut self) -> bool {
        self.class_aborts = [None; MAX_SLOTS];
        self.host_gone = true;
        match self.job {
            Job::Idle => false,
            Job::Waiting => {
                let waiting = self
                    .pipe
                    .message_len()
                    .and_then(|len| self.pipe.incoming.get(..len));
                if let Some(Ok(header)) = waiting.map(Message::new_checked) {
                    self.gate.release(header.slot());
                }
                self.pipe.consume();
                self.job = Job::Idle;
                false
            }
            Job::AbortWaiting => {
                // A whole header, copied from a checked message.
                self.gate
                    .release(Message::new_unchecked(&self.queued_abort).slot());
                self.job = Job::Idle;
                false
            }
            Job::Running { slot, .. } | Job::Orphaned { slot } => {
                self.gate.disown(slot);
                self.job = Job::Orphaned { slot };
                true
            }
        }
    }

    /// Send a NotifySlotChange (from [`CcidReader::slot_change`]); `false` while
    /// the previous one is still going out.
    pub fn notify(&mut self, message: &[u8]) -> bool {
        self.pipe.notify(message)
    }

    /// The address of the interrupt-IN endpoint that carries the
    /// notifications ([`CcidPort::notify`]), as the bus allocated it.
    pub fn interrupt_endpoint(&self) -> EndpointAddress {
        self.pipe.interrupt_address()
    }

    /// Decide about a complete message: it waits for the runner, is answered
    /// CMD_SLOT_BUSY, or is the PC_to_RDR_Abort that stops the running command.
    pub fn service(&mut self) {
        let (Some(len), true) = (self.pipe.message_len(), self.pipe.can_send()) else {
            return;
        };
        // A message admitted already, or one left for `answer_at_once` (or
        // `take`, whichever the runner calls first).
        if self.job == Job::Waiting || self.at_once().is_some() {
            return;
        }
        let message = self.pipe.incoming.get(..len).unwrap_or(&[]);
        match self.gate.admit(message) {
            // A message the gate does not track (no header, no such slot) waits
            // for the running command to end.
            Admission::Run if self.job != Job::Idle => {}
            Admission::Run => self.job = Job::Waiting,
            Admission::Busy => {
                // The card as the core knows it now (a removal while the
                // command runs shows at once), not as the last answer said.
                // (`SlotCards::answer_busy` spelled out: the USB firmware's
                // stack is 16 B smaller, and flash 112 B, this way.)
                // Unchecked: the gate answers Busy only for a message it read
                // a header from (`Gate::admit`).
                let header = Message::new_unchecked(message);
                let icc = self.cards.icc_status(header.slot());
                let reply = busy::busy_header(&header, icc);
                self.send_header(reply);
                self.pipe.consume();
            }
            Admission::Abort => {
                self.queued_abort.copy_from_slice(&message[..HEADER_LEN]);
                self.pipe.consume();
            }
        }
    }
}

impl<B: UsbBus, C: SlotCards + ?Sized, const N: usize> UsbClass<B> for CcidPort<'_, B, C, N> {
    fn get_configuration_descriptors(&self, writer: &mut DescriptorWriter) -> UsbResult<()> {
        self.pipe.write_descriptors(writer, &self.descriptor)
    }

    // A bus reset, or a SET_CONFIGURATION (`control_out`): the host starts
    // over, so what it asked before is disowned.
    fn reset(&mut self) {
        self.disown();
        self.pipe.reset();
    }

    // `UsbDevice::poll` calls this after the endpoint events below: the messages
    // they completed and the bulk-IN they freed are looked at here.
    fn poll(&mut self) {
        self.service();
    }

    fn endpoint_out(&mut self, addr: EndpointAddress) {
        self.pipe.endpoint_out(addr);
    }

    fn endpoint_in_complete(&mut self, addr: EndpointAddress) {
        self.pipe.endpoint_in_complete(addr);
    }

    fn control_in(&mut self, xfer: ControlIn<B>) {
        let req = *xfer.request();
        if !self.pipe.is_ours(&req) {
            return;
        }
        let values = match class_request(req.request) {
            Some(ClassRequest::GetClockFrequencies) => self.clocks,
            Some(ClassRequest::GetDataRates) => self.rates,
            _ => {
                let _ = xfer.reject();
                return;
            }
        };
        let _ = xfer.accept_with(values.bytes.get(..values.len).unwrap_or(&[]));
    }

    fn control_out(&mut self, xfer: ControlOut<B>) {
        let req = *xfer.request();
        // On SET_CONFIGURATION, what the host asked before is disowned (`reset`).
        if !self.pipe.control_out(&req).follow(self) {
            return;
        }
        let [slot, seq] = req.value.to_le_bytes();
        if req.request != request::ABORT || usize::from(slot) >= self.gate.slot_count() {
            let _ = xfer.reject();
            return;
        }
        // A command running there is stopped ([`CcidPort::stopping`]); the
        // reader pairs the request with its PC_to_RDR_Abort once the runner
        // is handed it ([`Notice::ClassAbort`]).
        self.gate.abort_request(slot);
        if let Some(pending) = self.class_aborts.get_mut(usize::from(slot)) {
            *pending = Some(seq);
        }
        let _ = xfer.accept();
    }
}

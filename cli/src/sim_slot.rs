//! The simulated cards behind `ccid-serve` and `usbip-serve`: the options both
//! take about how the cards behave, and each slot's device over a line that tells
//! the transport when the card asks for more time and goes deaf when the transport
//! stops the command running (ABORT).

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use readerkit::Device;
use readerkit::caps::{ReaderCapabilities, VendorAttributes};
use readerkit::line::LineReader;
use readerkit::platform::SpinPlatform;
use readerkit_card_sim::fault::{Faults, Mute, Trigger, Wtx};
use readerkit_card_sim::{Card, Config, SimLine, SlotCard};
use readerkit_ccid::more_time::{MoreTime, WatchedLine};
use readerkit_ccid::stop::StoppableLine;
use readerkit_cli::control::Move;

/// Buffer size of each simulated card, in bytes (the longest APDU it takes or
/// answers, extended ones included, is a little shorter).
pub(crate) const CARD_CAPACITY: usize = 1024;

/// How the simulated cards behave (the options `ccid-serve` and `usbip-serve`
/// share).
#[derive(Debug, Clone, Copy, clap::Args)]
pub(crate) struct CardBehaviour {
    /// The cards ask for more time before every answer (T=1 S(WTX) with multiplier
    /// 2, T=0 NULL bytes); the reader passes it on to the host.
    #[arg(long)]
    pub(crate) slow: bool,
    /// With --slow: the card works this long (ms) behind each request for more
    /// time. The reader keeps listening meanwhile: another command gets
    /// CMD_SLOT_BUSY, a PC_to_RDR_Abort stops the command (CMD_ABORTED).
    #[arg(long, value_name = "MS", default_value_t = 0, requires = "slow")]
    pub(crate) work_ms: u64,
    /// The cards answer this many commands after each reset (over T=0 every
    /// command header counts, GET RESPONSE included), then fall silent in the
    /// middle of the next one until the card is reset: a card that stops
    /// answering mid-exchange.
    #[arg(long, value_name = "N")]
    pub(crate) mute_after: Option<u32>,
}

impl CardBehaviour {
    /// The card's work behind each request for more time.
    pub(crate) fn work(&self) -> Duration {
        Duration::from_millis(self.work_ms)
    }
}

/// What the card's requests for more time are reported to.
pub(crate) type Notify = Box<dyn FnMut(MoreTime) + Send>;
/// Whether the command running is being aborted.
pub(crate) type Stopping = Box<dyn Fn() -> bool + Send>;
/// The card's line: the simulated card, deaf once an abort stops the command
/// running (the core's engine then fails it, answered CMD_ABORTED), watched for
/// requests for more time.
pub(crate) type CardLine = WatchedLine<StoppableLine<SimLine<CARD_CAPACITY>, Stopping>, Notify>;
/// A slot's device over that line.
pub(crate) type SimDevice = Device<SpinPlatform, LineReader<CardLine>>;

/// A card of `kind` (one of card-sim's [`SlotCard::NAMES`]; `None` for `empty`)
/// that behaves as `behaviour` says.
pub(crate) fn new_card(kind: &str, behaviour: CardBehaviour) -> Option<Card<CARD_CAPACITY>> {
    let faults = Faults {
        wtx: behaviour.slow.then_some(Wtx {
            answer: Trigger::Every,
            multiplier: 2,
            count: 1,
        }),
        mute: behaviour.mute_after.map_or(Mute::Never, Mute::AfterAnswers),
        ..Faults::default()
    };
    SlotCard::from_name(kind)?
        .profile()
        .map(|p| Card::create(Config::new(p.clone()).with_faults(faults)))
}

/// A slot holding a card of `kind` (reported inserted), its line deaf while
/// `stopping` says so and reporting requests for more time to `notify`.
pub(crate) fn open_slot(
    kind: &str,
    behaviour: CardBehaviour,
    stopping: Stopping,
    notify: Notify,
    capabilities: ReaderCapabilities,
    vendor: VendorAttributes,
) -> SimDevice {
    let card = new_card(kind, behaviour);
    let present = card.is_some();
    let line = StoppableLine::new(SimLine::holding(card), stopping);
    let line = WatchedLine::new(line, notify);
    let device = Device::new(
        SpinPlatform::new(),
        LineReader::<CardLine>::functions(),
        LineReader::new(line),
        capabilities,
        vendor,
    );
    if present {
        device.card_inserted();
    }
    device
}

/// The movement and slot a control line read on stdin names ([`Move::parse`],
/// for a reader of `slots` slots); `None` for an empty line, and for anything
/// else, which is reported on stderr as `readerkit COMMAND: unknown control
/// `LINE`` or `no slot `N``.
pub(crate) fn control_move(line: &str, slots: usize, command: &str) -> Option<(Move, usize)> {
    Move::parse(line, slots).unwrap_or_else(|refusal| {
        eprintln!("readerkit {command}: {refusal}");
        None
    })
}

/// Report `moved` to `device`'s core at once (its card-event queue: never
/// blocks, also while a command runs on the slot, so the slot status tells it
/// from now on) and return what is left to do on the card's line
/// ([`LineMove::apply`], where no command runs). An inserted card is of `kind`
/// (`empty`: t1); `None` if none can be made (nothing is reported).
pub(crate) fn report(
    moved: Move,
    device: &SimDevice,
    kind: &str,
    behaviour: CardBehaviour,
) -> Option<LineMove> {
    let line = match moved {
        Move::Remove => LineMove::Remove,
        Move::Insert => {
            let kind = if kind == "empty" { "t1" } else { kind };
            LineMove::Insert(Box::new(new_card(kind, behaviour)?))
        }
    };
    match line {
        LineMove::Remove => device.card_removed(),
        LineMove::Insert(_) => device.card_inserted(),
    }
    Some(line)
}

/// The line's part of a card movement already reported to the core
/// ([`report`]): the card taken off the simulated line or put on it.
pub(crate) enum LineMove {
    /// The card leaves the line.
    Remove,
    /// This card goes on the line.
    Insert(Box<Card<CARD_CAPACITY>>),
}

impl LineMove {
    /// Do it on `device`'s line, under the device's serialization lock: it
    /// waits for a command running on the device, so call it where commands
    /// run (the command worker), between two of them.
    pub(crate) fn apply(self, device: &SimDevice) {
        device.with_driver(|r| {
            let line = r.line_mut().inner_mut().inner_mut();
            match self {
                LineMove::Remove => {
                    line.remove();
                }
                LineMove::Insert(card) => line.insert(*card),
            }
        });
    }
}

/// The stop of the command running: set by an abort, waited on by the card's
/// work (`--work-ms`), cleared when the command's answer goes out.
#[derive(Debug, Default)]
pub(crate) struct StopSignal {
    stop: Mutex<bool>,
    stopped: Condvar,
}

/// `mutex`'s guard, also after a panic while it was held (the data is plain).
pub(crate) fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl StopSignal {
    /// Stop the command running (wakes its work).
    pub(crate) fn stop(&self) {
        *locked(&self.stop) = true;
        self.stopped.notify_all();
    }

    /// The next command runs unstopped.
    pub(crate) fn clear(&self) {
        *locked(&self.stop) = false;
    }

    /// `true` while the command running is being stopped.
    pub(crate) fn stopping(&self) -> bool {
        *locked(&self.stop)
    }

    /// The card works for `work`, cut short by [`StopSignal::stop`].
    pub(crate) fn work(&self, work: Duration) {
        let stop = locked(&self.stop);
        let _ = self.stopped.wait_timeout_while(stop, work, |stop| !*stop);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// `--work-ms` takes any u64 (clap refuses the rest): the longest work
    /// waits, without overflowing a deadline, until a stop cuts it.
    #[test]
    fn the_longest_work_waits_until_stopped() {
        let signal = Arc::new(StopSignal::default());
        let stopper = {
            let signal = Arc::clone(&signal);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                signal.stop();
            })
        };
        let behaviour = CardBehaviour {
            slow: true,
            work_ms: u64::MAX,
            mute_after: None,
        };
        signal.work(behaviour.work());
        assert!(signal.stopping(), "the work ended only by the stop");
        stopper.join().unwrap();
    }
}

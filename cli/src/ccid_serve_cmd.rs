//! `readerkit ccid-serve`: simulated cards behind a CCID reader (the
//! `readerkit-ccid` binding over the core) on a new pseudo-terminal, with the
//! GemPC Twin serial framing, so Debian's `libccidtwin.so` under pcscd uses it as
//! a `GemPCTwin` or `SEC1210` reader.
//!
//! The terminal's path is printed alone on the first line of stdout; the reader is
//! served until the process is killed. Lines on stdin move cards:
//! `remove [SLOT]`, `insert [SLOT]` (slot 0 by default), and press keys of the
//! `gempcpinpad` reader's keypad: `keys KEYS` (see [`key_script`]).
//!
//! A host frame the line goes quiet inside for [`FRAME_GAP`] is dropped and
//! answered NAK, as a frame with a bad LRC is: the next frame starts afresh.
//!
//! The host may close the terminal and open it again (pcscd stopped, killed or
//! restarted): ccid-serve watches the terminal's opens, closes and writes with
//! inotify ([`HostWatch`]), which queues every one in order, so a host that
//! closes and a next one that opens before ccid-serve looks are two hosts, the
//! close seen first ([`HostLine`]). What the gone host asked is no business of
//! the next one: the command running is stopped, and its answer, like that of
//! any message the gone host left queued, goes to nobody
//! ([`Running::host_gone`]). Nor are the bytes it wrote and left unread: they
//! are all in the terminal once its close is queued, and are dropped
//! ([`HostSide::closed`]), those of a host that opened, wrote and closed unseen
//! included, while the next host's bytes, written after its open, are its own.
//! One case stays where they cannot be told apart: a host that closes with
//! bytes unread, and a next one that opens and writes before ccid-serve reads
//! the close. Then both are dropped (the next host's first frame goes
//! unanswered), not the gone host's answered to the next one (libccid's flush
//! on open does not reach them: they wait on the master's side).
//!
//! ccid-serve keeps its own host-side end of the terminal (the slave descriptor
//! of `openpty`) open for its whole life and never opens the terminal's path:
//! an open of its own would be folded into a next host's unread open and hide
//! that host ([`HostWatch`]'s docs). What the gone host left unread of
//! ccid-serve's answers is dropped through that end. So the master side never
//! hangs up (no POLLHUP, no EIO): hosts' closes are known from inotify alone,
//! and after lost events (an overflow of inotify's queue) the host is taken
//! for gone and a host for there afterwards. Nothing is written while no host
//! has the terminal ([`HostPort`]): with ccid-serve's end open, bytes nobody
//! reads would fill the host's input and block the writes. A write that waits
//! on a host that leaves its input full ends when a host closes the terminal
//! ([`HostPort::write`]): the close no longer hangs the terminal up.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
use readerkit::caps::VendorAttributes;
use readerkit::line::LineReader;
use readerkit::pin::Key;
use readerkit::platform::SpinPlatform;
use readerkit_card_sim::SlotCard;
use readerkit_ccid::busy::{self, Admission, Finish, Gate};
use readerkit_ccid::message::pc_to_rdr::XFR_BLOCK;
use readerkit_ccid::message::{self, HEADER_LEN, Message};
use readerkit_ccid::more_time::MoreTime;
use readerkit_ccid::notify::slot_change_len;
use readerkit_ccid::reader::{ExchangeLevel, MAX_SLOTS, SlotCards};
use readerkit_ccid::tpdu;
use readerkit_ccid::twin::{self, Decoder, Event, LastFrame};
use readerkit_ccid::{CcidReader, PinSupport};

use crate::hex;
use crate::host_watch::{HostChange, HostWatch, drop_host_input};
use crate::sim_keypad::{self, QueuedKeypad};
use crate::sim_slot::{
    self, CardBehaviour, CardLine, LineMove, SimDevice, StopSignal, locked, open_slot,
};
use readerkit_cli::key_script::{self, KeyStep};

/// `--reader`: which CCID reader is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ReaderArg {
    /// Gemalto GemPC Twin: one slot.
    #[value(name = "gempctwin")]
    GemPcTwin,
    /// SEC1210: two slots.
    #[value(name = "sec1210")]
    Sec1210,
    /// Gemalto GemPC PinPad: one slot and a keypad (PIN verification and
    /// modification through PC_to_RDR_Secure).
    #[value(name = "gempcpinpad")]
    GemPcPinPad,
}

/// Arguments of `readerkit ccid-serve`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = concat!(
        "Examples:\n",
        "  readerkit ccid-serve\n",
        "  readerkit ccid-serve --reader sec1210 --card t0,t1 --trace\n",
        "  readerkit ccid-serve --reader gempcpinpad --keys 1234E\n\n",
        "Keys (--keys and `keys KEYS` lines on stdin): 0-9 digits, E enter (OK),\n",
        "C cancel, B backspace, L clear, `.` a pause of 100 ms before the next key.\n\n",
        "Exit status:\n",
        "  -  none while it serves: it serves until killed (the end of stdin does not stop it)\n",
        "  1  the terminal could not be set up or served\n",
        "  2  usage error (unknown option, bad or missing argument)"
    )
)]
pub(crate) struct Args {
    /// The reader: gempctwin (one slot), sec1210 (two slots) or gempcpinpad (one
    /// slot and a keypad).
    #[arg(long, value_enum, ignore_case = true, default_value = "gempctwin")]
    reader: ReaderArg,
    /// The card of each slot: t0, t1, t0t1, t1crc or empty (one value applies to
    /// every slot).
    #[arg(long, value_name = "KIND[,KIND]", value_delimiter = ',', default_value = "t1",
          value_parser = SlotCard::NAMES)]
    card: Vec<String>,
    #[command(flatten)]
    behaviour: CardBehaviour,
    /// Print every frame on stderr in hex: the host's commands in full, as
    /// `pcscd --apdu` logs them (a PIN typed on the PC too; keys pressed on the
    /// keypad show as `digit`).
    #[arg(long)]
    trace: bool,
    /// Keys pressed on the gempcpinpad's keypad at start (more come as `keys KEYS`
    /// lines on stdin); they wait in a queue until a PIN entry reads them.
    #[arg(long, value_name = "KEYS", value_parser = key_script::parse_arg)]
    keys: Option<String>,
}

/// The name of the thread that runs the commands needing the card (tests find it
/// by this name in `/proc`).
pub(crate) const WORKER_NAME: &str = "ccid-worker";

/// How often the gone host's jobs are looked at again while the next host's
/// messages wait for them to end, in ms ([`HostLine::Opening`]).
const HOST_LOOK_MS: u16 = 20;

/// The longest the next host's messages wait in the terminal for the gone host's
/// command, and what it left queued behind it, to end (it is being stopped,
/// which takes a few ms; [`Running::winding_down`]): then the next
/// host starts on a free reader instead of hearing CMD_SLOT_BUSY. One that does
/// not end by then is left to the gate (CMD_SLOT_BUSY until it does).
const WIND_DOWN: Duration = Duration::from_secs(1);

/// Whether a host has the terminal open, as the [`HostWatch`] tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostLine {
    /// No host has the terminal open (none yet, or it closed it).
    Closed,
    /// A host opened it at `since` while the gone host's jobs were still
    /// winding down: its bytes wait in the terminal ([`WIND_DOWN`] at most).
    Opening { since: Instant },
    /// A host has it open and is served.
    Open,
}

/// The reading thread's side of the host: who has the terminal, and the frame
/// being read from it.
struct HostSide {
    /// The terminal's master side.
    port: File,
    line: HostLine,
    watch: HostWatch,
    decoder: Decoder<MAX_MESSAGE>,
    /// While a frame is begun: when the line has been quiet inside it too long.
    cut_at: Option<Instant>,
}

impl HostSide {
    fn new(port: File, watch: HostWatch) -> HostSide {
        HostSide {
            port,
            line: HostLine::Closed,
            watch,
            decoder: Decoder::new(),
            cut_at: None,
        }
    }

    /// Follow the hosts' opens and closes the watch has read, in order.
    fn follow(&mut self, running: &Running, trace: bool) -> Result<(), String> {
        while let Some(change) = self.watch.next_change() {
            match change {
                HostChange::Opened => {
                    if self.line == HostLine::Closed {
                        running.host_came();
                        self.line = HostLine::Opening {
                            since: Instant::now(),
                        };
                    }
                }
                HostChange::Closed => self.closed(running, trace)?,
            }
        }
        Ok(())
    }

    /// The host closed the terminal: the bytes it wrote and left unread are
    /// dropped (nobody is there for their answers, and the next host would
    /// read those ahead of its own), and what it asked is let go
    /// ([`Running::host_gone`]).
    fn closed(&mut self, running: &Running, trace: bool) -> Result<(), String> {
        if self.watch.unread_writes() {
            // All in the terminal now: its writes' events came before its
            // close. A next host's bytes cannot be among them unless it opened
            // (and wrote) before they were read out: the events say.
            let writes_seen = self.watch.writes_seen();
            let dropped = discard_input(&mut self.port);
            self.watch.all_read(writes_seen);
            self.watch.read()?;
            let mixed = self.watch.write_after_open_pending();
            if trace && dropped > 0 {
                let mixed = if mixed {
                    ", and the first of the next host's, which opened and wrote before they were read"
                } else {
                    ""
                };
                eprintln!(
                    "-> (the host closed the terminal: {dropped} bytes it left dropped{mixed})"
                );
            }
        }
        if self.line != HostLine::Closed {
            running.host_gone();
        }
        if self.line == HostLine::Open {
            // Said once the gone host's commands and answers are let go.
            if trace {
                eprintln!("-> (the host closed the terminal)");
            }
        }
        self.line = HostLine::Closed;
        self.decoder = Decoder::new();
        self.cut_at = None;
        Ok(())
    }
}

/// libccid's `dwMaxCCIDMessageLength` for these readers, in bytes: the short
/// APDU one.
const MAX_MESSAGE: usize = message::SHORT_APDU_MESSAGE_LEN;
/// How long the line may stay quiet inside a host's frame before the frame is
/// dropped and answered NAK: [`twin::FRAME_GAP_MS`].
const FRAME_GAP: Duration = Duration::from_millis(twin::FRAME_GAP_MS as u64);

type SimReader<'d> = CcidReader<'d, SpinPlatform, LineReader<CardLine>>;

/// What the reading thread hands to the command worker, which does each in turn.
enum Job {
    /// A message to run on the reader (admitted by the gate), from the host that
    /// had the terminal when it came: `host` is [`Running::hosts_gone`] then.
    Message { message: Vec<u8>, host: u64 },
    /// A card movement on slot `slot`, reported to the core already: the card
    /// goes on or off the line, then the NotifySlotChange goes out.
    Move { slot: usize, line: LineMove },
}

/// What the I/O loop, the command worker and the card lines share.
///
/// Lock order: the reader (held by the worker while a command runs, during which
/// the card line's [`Running::more_time`] takes `last_frame`), then
/// `last_frame`, then `gate`; `command`, `echo`, `port` and the stop signal's are
/// taken last and alone. The reading thread never holds `last_frame` while it
/// waits for the reader ([`Running::answer_at_once`]).
struct Running {
    profile: twin::Profile,
    /// The command being handled.
    command: Mutex<Option<Handling>>,
    /// The card's S(WTX request) went to the host as it is (TPDU level): the
    /// card does its work (`--work-ms`) once the host's next block (its S(WTX)
    /// response) has reached it, not before the host has even seen the request.
    work_owed: AtomicBool,
    port: Mutex<HostPort>,
    /// The echo of the command running (GemPC Twin), not sent yet: it goes out with
    /// the answer in one write, or before the first request for more time or
    /// another frame.
    echo: Mutex<Vec<u8>>,
    /// What a host's NAK gets again: the last answer (CMD_SLOT_BUSY answers
    /// included), the SEC1210's request for more time, or NAK sent; nothing
    /// from a command's start until its answer ([`Running::forget_last_frame`]).
    /// Card movement notifications and time request bytes, unframed, leave it
    /// alone.
    last_frame: Mutex<LastFrame<MAX_MESSAGE>>,
    /// Jobs handed to the worker and not done yet (a message whose answer is not
    /// out, a card movement not notified). The reading thread adds one before
    /// each hand-off; the worker takes it away once the answer is sent, holding
    /// `last_frame`, or the movement is notified. The gate alone cannot say the
    /// worker is idle: a message for a slot that does not exist, admitted while
    /// a command runs, goes to the worker without making anything busy.
    jobs_out: AtomicUsize,
    /// How many hosts have closed the terminal ([`Running::host_gone`]): a
    /// message's answer goes to nobody once the count has moved on since it
    /// came. Counted, and read before an answer goes out, holding `last_frame`.
    hosts_gone: AtomicU64,
    /// Which slots run a command (CMD_SLOT_BUSY and ABORT decisions).
    gate: Mutex<Gate>,
    /// The command running is being aborted.
    stop: StopSignal,
    /// The card's work behind each request for more time (`--work-ms`).
    work: Duration,
    trace: bool,
}

/// The command the worker is handling, as a request for more time names it.
#[derive(Debug, Clone, Copy)]
struct Handling {
    /// Its bSlot.
    slot: u8,
    /// Its bSeq.
    seq: u8,
    /// The reader's exchange level when it started.
    level: ExchangeLevel,
}

impl Running {
    /// Ask the host for more time for the command running
    /// (`twin::Profile::more_time`), then let the card work for `--work-ms`
    /// (cut short by an abort). Where the host sees the request itself (a T=1
    /// card's S(WTX) block at the TPDU level), it grants it with its next block:
    /// the card works then ([`Running::owed_work`]).
    fn more_time(&self, more: MoreTime) {
        let Some(Handling { slot, seq, level }) = *locked(&self.command) else {
            return;
        };
        let Some(extension) = self.profile.more_time(more, level, slot, seq) else {
            self.work_owed.store(true, Ordering::SeqCst);
            return;
        };
        // Written piece by piece into a buffer that grows: no length to get
        // wrong, and no failure to stand for (a fixed buffer's encode could fail).
        let mut bytes = Vec::with_capacity(HEADER_LEN + twin::FRAMING_LEN);
        extension.write(|piece| bytes.extend_from_slice(piece));
        if self.trace {
            eprintln!("<- (more time) {}", hex::encode(&bytes, " "));
        }
        {
            let mut last = locked(&self.last_frame);
            // The SEC1210's is a frame a NAK gets again; a GemPC Twin's is one
            // byte outside any frame, and a NAK gets what it got before.
            if let Some(message) = extension.message() {
                last.keep(message);
            }
            self.send(&bytes);
        }
        self.stop.work(self.work);
    }

    /// Before the worker runs `message`: the work a T=1 card owes since its
    /// S(WTX) went to the host, done now if `message` is the host's next block
    /// (an XfrBlock: the grant), as part of that command (an abort cuts it
    /// short); any other message forgets it (the host powered the card off).
    fn owed_work(&self, message: &[u8]) {
        let owed = self.work_owed.swap(false, Ordering::SeqCst);
        if owed && message.first() == Some(&XFR_BLOCK) {
            self.stop.work(self.work);
        }
    }

    /// Write `bytes` to the host, after the echo still pending (if any); to
    /// nobody while no host has the terminal ([`HostPort`]).
    fn send(&self, bytes: &[u8]) {
        let mut out = std::mem::take(&mut *locked(&self.echo));
        out.extend_from_slice(bytes);
        let mut port = locked(&self.port);
        if port.host == PortHost::There {
            port.write(&out);
        }
    }

    /// A host opened the terminal: what is written goes to it from now on,
    /// after nothing older (the host's input is emptied: bytes written before
    /// it came are nobody's).
    fn host_came(&self) {
        let mut port = locked(&self.port);
        port.drop_host_input();
        port.host = PortHost::There;
    }

    /// A host's NAK: send the last frame again ([`LastFrame::again`]); the
    /// echo still pending goes out in any case.
    fn send_again(&self) {
        let last = locked(&self.last_frame);
        let mut frame = Vec::new();
        last.again().write(|piece| frame.extend_from_slice(piece));
        self.send(&frame);
    }

    /// Ask the host for its frame again (damaged, too long or cut short). The
    /// NAK is the last frame now: a host's NAK gets it again, not an older
    /// answer the host would take for the answer to the frame it damaged
    /// ([`twin::Sent::Nak`]).
    fn send_nak(&self) {
        let mut last = locked(&self.last_frame);
        last.nak();
        self.send(&twin::NAK_FRAME);
    }

    /// A command goes to the worker: until its answer is out no frame of it can
    /// be sent again, and a host's NAK must not get an older answer, which the
    /// host would take for this command's ([`LastFrame::forget`]).
    fn forget_last_frame(&self) {
        locked(&self.last_frame).forget();
    }

    /// `true` while the command running is being aborted.
    fn stopping(&self) -> bool {
        self.stop.stopping()
    }

    /// The gate's decision about `message`; an Abort for the busy slot stops the
    /// command running.
    fn admit(&self, message: &[u8]) -> Admission {
        let mut gate = locked(&self.gate);
        let admission = gate.admit(message);
        if admission == Admission::Abort {
            self.stop.stop();
        }
        admission
    }

    /// Answer `message` here, on the thread that read it, if it needs no card
    /// and no command runs (`Gate::answers_at_once`): its echo (GemPC Twin) and
    /// answer in one write, kept for a NAK. `false` if it must go through the
    /// gate. Only while the worker has nothing left to answer (`jobs_out`): then
    /// the reader and the pending echo are free, and no answer of an earlier
    /// message can come after this one.
    fn answer_at_once(
        &self,
        reader: &Mutex<SimReader<'_>>,
        message: &[u8],
        answer: &mut [u8],
        frame: &mut [u8],
    ) -> bool {
        {
            // Taken first, as the worker does before it frees the slot: the
            // answer of a command that has just finished goes out before this
            // one.
            let _last = locked(&self.last_frame);
            if self.jobs_out.load(Ordering::SeqCst) != 0
                || !locked(&self.gate).answers_at_once(message)
            {
                return false;
            }
        }
        // The worker is idle and gets no job but from this thread: no frame
        // goes out before this answer. `last_frame` is let go while the reader
        // is held (the lock order of `Running`).
        let len = match locked(reader).handle(message, answer) {
            Ok(len) => len,
            Err(e) => {
                // Not reached: the reading thread hands over only messages
                // with a header, and `answer` holds `MAX_MESSAGE` bytes.
                eprintln!(
                    "readerkit ccid-serve: the reader refused a message ({e:?}), not answered"
                );
                return true;
            }
        };
        if self.trace {
            eprintln!("<- {}", hex::encode(&answer[..len], " "));
        }
        let mut last = locked(&self.last_frame);
        self.send_answer(&mut last, message, &answer[..len], frame);
        true
    }

    /// Send the echo of the host's `message` (if the reader echoes) and the
    /// frame of `answer` in one write; the answer's frame becomes `last`, the
    /// `last_frame` held by the caller, which a host's NAK gets again.
    fn send_answer(
        &self,
        last: &mut LastFrame<MAX_MESSAGE>,
        message: &[u8],
        answer: &[u8],
        frame: &mut [u8],
    ) {
        let mut echo = Vec::new();
        if self.profile.echoes() {
            let len = self.profile.echo(message, frame);
            echo.extend_from_slice(&frame[..len]);
        }
        self.send_kept(last, echo, answer);
    }

    /// Keep `answer` in `last` (the `last_frame` held by the caller, which a
    /// host's NAK gets again) and send its frame after `before` and the echo
    /// still pending, in one write: the host wakes once for all.
    fn send_kept(&self, last: &mut LastFrame<MAX_MESSAGE>, before: Vec<u8>, answer: &[u8]) {
        last.keep(answer);
        let mut out = before;
        twin::write_frame(answer, |piece| out.extend_from_slice(piece));
        self.send(&out);
    }

    /// The host closed the terminal: the command running (on any slot) is
    /// disowned, stopped as an abort stops it, and its answer goes to nobody
    /// ([`Finish::Disowned`]); the frame kept for a NAK and the work a card owes
    /// the gone host's S(WTX) grant are forgotten. A host
    /// that opens the terminal next knows nothing of either: nothing is
    /// written until it comes ([`Running::host_came`]).
    fn host_gone(&self) {
        self.work_owed.store(false, Ordering::SeqCst);
        let mut last = locked(&self.last_frame);
        self.hosts_gone.fetch_add(1, Ordering::SeqCst);
        // With `last_frame` held no answer is on its way, and none of the gone
        // host's will go out now; one that went out as the host closed waits
        // unread in the terminal and would be the next host's first read.
        {
            let mut port = locked(&self.port);
            port.host = PortHost::Away;
            port.drop_host_input();
        }
        last.forget();
        let mut gate = locked(&self.gate);
        let mut runs = false;
        for slot in 0..self.profile.slots() {
            runs |= u8::try_from(slot).is_ok_and(|slot| gate.disown(slot));
        }
        if runs {
            self.stop.stop();
        }
    }

    /// `true` while the worker has jobs left: after a host has gone, its
    /// command being stopped, or a message it left queued (a PC_to_RDR_Abort
    /// of its command, which the gate forgot with it).
    fn winding_down(&self) -> bool {
        self.jobs_out.load(Ordering::SeqCst) != 0
    }

    /// The command on `slot` finished; the next one runs unstopped.
    fn finish(&self, slot: u8) -> Finish {
        let mut gate = locked(&self.gate);
        let finish = gate.finish(slot);
        self.stop.clear();
        finish
    }
}

/// The terminal as ccid-serve writes to it (the worker and the reading
/// thread), and whether a host is there to read.
struct HostPort {
    /// The terminal's master side.
    master: File,
    /// ccid-serve's own host-side end (`openpty`'s slave), open for
    /// ccid-serve's whole life: the terminal's path is never opened again
    /// (module docs).
    host_end: File,
    host: PortHost,
    /// The hosts' opens and closes, for a write that waits on a host that
    /// does not read ([`HostPort::write`]): a watch of its own, as the
    /// reading thread's may be the one waiting.
    closes: HostWatch,
}

/// Whether a host is there to read what [`HostPort`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortHost {
    /// None: nothing is written. With ccid-serve's own end open, bytes nobody
    /// reads would stay in the host's input, and once it is full (about
    /// 4 KiB, then the pty's 64 KiB buffer) block the master's writes.
    Away,
    /// A host has the terminal open (as far as the watch has read: one that
    /// came and went unseen gets what is written meanwhile, dropped when its
    /// close is read).
    There,
}

impl HostPort {
    /// Drop what the host's input holds unread ([`drop_host_input`]).
    fn drop_host_input(&mut self) {
        let _ = drop_host_input(&self.host_end);
    }

    /// Write `bytes` to the host. While its input is full (a host that does
    /// not read) the write waits, as long as the host has the terminal: once a
    /// host closes it meanwhile, the rest (and all that is written until the
    /// reading thread sees a host come, [`Running::host_came`]) goes to nobody
    /// and the input is dropped. (ccid-serve's own end keeps the terminal from hanging up, so
    /// without this a write to a host that left it full would wait forever.)
    fn write(&mut self, bytes: &[u8]) {
        // The changes before this write are not about it.
        let _ = self.closed_since();
        let mut rest = bytes;
        while !rest.is_empty() {
            match self.master.write(rest) {
                Ok(0) => return,
                Ok(n) => rest = rest.get(n..).unwrap_or_default(),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if self.closed_since() {
                        // Nobody reads what comes next either, until the
                        // reading thread sees a host come.
                        self.host = PortHost::Away;
                        self.drop_host_input();
                        return;
                    }
                    let closes = self.closes.fd();
                    let mut fds = [
                        PollFd::new(&self.master, PollFlags::POLLOUT),
                        PollFd::new(&closes, PollFlags::POLLIN),
                    ];
                    if poll(&mut fds, -1).is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    }

    /// `true` if a host closed the terminal (its last file) since the last
    /// call, or events were lost.
    fn closed_since(&mut self) -> bool {
        if self.closes.read().is_err() {
            return true;
        }
        let mut closed = false;
        while let Some(change) = self.closes.next_change() {
            closed |= change == HostChange::Closed;
        }
        closed
    }
}

struct Options {
    profile: twin::Profile,
    cards: Vec<String>,
    behaviour: CardBehaviour,
    trace: bool,
    keys: Vec<KeyStep>,
}

fn open_ccid_slot(
    running: &Arc<Running>,
    index: usize,
    kind: &str,
    behaviour: CardBehaviour,
) -> SimDevice {
    let profile = running.profile;
    let stopping = Arc::clone(running);
    let shared = Arc::clone(running);
    open_slot(
        kind,
        behaviour,
        Box::new(move || stopping.stopping()),
        Box::new(move |more| shared.more_time(more)),
        profile.capabilities(),
        VendorAttributes::readerkit(
            format!("ccid-serve {}", profile.name()).as_bytes(),
            index as u32,
            b"CCID0001",
        ),
    )
}

/// Run `readerkit ccid-serve`.
pub(crate) fn run(args: Args) -> ExitCode {
    let profile = reader_profile(args.reader);
    let slots = profile.slots();
    if args.card.len() > slots {
        crate::usage_error(
            "ccid-serve",
            format!(
                "--card gives {} cards, the reader has {slots} slot(s)",
                args.card.len()
            ),
        );
    }
    if args.keys.is_some() && profile.pin_support() == PinSupport::NONE {
        crate::usage_error("ccid-serve", "--keys needs a keypad: --reader gempcpinpad");
    }
    let options = Options {
        profile,
        cards: args.card,
        behaviour: args.behaviour,
        trace: args.trace,
        keys: sim_keypad::script_of(args.keys.as_deref()),
    };
    crate::serve_status("ccid-serve", serve(&options))
}

/// The GemPC Twin framing profile of `--reader`.
fn reader_profile(reader: ReaderArg) -> twin::Profile {
    match reader {
        ReaderArg::GemPcTwin => twin::Profile::GemPcTwin,
        ReaderArg::Sec1210 => twin::Profile::Sec1210,
        ReaderArg::GemPcPinPad => twin::Profile::GemPcPinPad,
    }
}

fn serve(options: &Options) -> Result<(), String> {
    let profile = options.profile;
    let pty = nix::pty::openpty(None, None).map_err(|e| format!("openpty: {e}"))?;
    let mut termios = tcgetattr(pty.slave.as_fd()).map_err(|e| format!("tcgetattr: {e}"))?;
    cfmakeraw(&mut termios);
    tcsetattr(pty.slave.as_fd(), SetArg::TCSANOW, &termios)
        .map_err(|e| format!("raw mode: {e}"))?;
    let path = nix::unistd::ttyname(pty.slave.as_raw_fd()).map_err(|e| format!("ttyname: {e}"))?;
    // Kept open for ccid-serve's whole life, opened before the watch is added
    // (its open is never an event): the gone host's unread input is dropped
    // through it, the path never opened again (`HostWatch`'s docs). So the
    // master side never hangs up: hosts' closes come from the watch alone.
    let host_end = File::from(pty.slave);
    // Never waits: a write to a host that does not read waits in
    // `HostPort::write`, which a host's close ends.
    fcntl(pty.master.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
        .map_err(|e| format!("non-blocking terminal: {e}"))?;
    let port = File::from(pty.master);
    // Watched before anyone knows the path: no host's open goes unseen.
    let watch = HostWatch::new(&path)?;
    let closes = HostWatch::new(&path)?;
    let running = Arc::new(Running {
        profile,
        command: Mutex::new(None),
        work_owed: AtomicBool::new(false),
        port: Mutex::new(HostPort {
            master: port.try_clone().map_err(|e| e.to_string())?,
            host_end,
            host: PortHost::Away,
            closes,
        }),
        echo: Mutex::new(Vec::new()),
        last_frame: Mutex::new(LastFrame::new()),
        jobs_out: AtomicUsize::new(0),
        hosts_gone: AtomicU64::new(0),
        gate: Mutex::new(Gate::new(profile.slots())),
        stop: StopSignal::default(),
        work: options.behaviour.work(),
        trace: options.trace,
    });
    let slots: Vec<SimDevice> = (0..profile.slots())
        .map(|i| open_ccid_slot(&running, i, card_kind(options, i), options.behaviour))
        .collect();
    let reader = CcidReader::new(&slots, profile.config())
        .map_err(|e| format!("reader configuration: {e:?}"))?
        .with_line_access(tpdu::line_of::<CardLine>)
        .with_pin_support(profile.pin_support());
    *locked(&running.gate) = reader.gate();
    let stopping = Arc::clone(&running);
    let (key_sender, keypad) =
        QueuedKeypad::new(options.trace, Box::new(move || stopping.stopping()));
    sim_keypad::press(&key_sender, &options.keys);
    // stdin is read on a thread of its own, so keys reach the keypad while a PIN
    // entry holds the worker; the other lines come back through `controls`, to
    // the reading thread, which hands card movements to the worker.
    let (controls, control_writer) = UnixStream::pair().map_err(|e| format!("socket pair: {e}"))?;
    // Keys lines reach a keypad only on a reader that has one.
    let keys = (profile.pin_support() != PinSupport::NONE).then_some(key_sender);
    std::thread::spawn(move || read_stdin(control_writer, keys));
    let reader = Mutex::new(reader);
    // The first notification reports every slot; the host asks for the slot status
    // when it opens the reader, so it is not sent.
    let _ = locked(&reader).slot_change(&mut [0u8; slot_change_len(MAX_SLOTS)]);
    println!("{}", path.display());
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    std::thread::scope(|scope| {
        let (jobs, queue) = std::sync::mpsc::channel();
        let (reader, running, devices) = (&reader, &*running, &slots[..]);
        std::thread::Builder::new()
            .name(WORKER_NAME.into())
            .spawn_scoped(scope, move || {
                run_commands(reader, devices, queue, keypad, running)
            })
            .map_err(|e| format!("command worker: {e}"))?;
        let host = HostSide::new(port, watch);
        listen(host, controls, jobs, reader, &slots, options, running)
    })
}

/// Read the host and stdin until the terminal fails. A message that needs no
/// card while no command runs (slot status, parameters, Escape: all libccid
/// sends on open but the power-on) is answered here at once (`busy::Gate::answers_at_once`);
/// every other one goes through the gate: those admitted go to the worker in
/// `jobs`, the others are answered CMD_SLOT_BUSY at once, while the worker's
/// command goes on. A card movement on stdin is reported to the core here at
/// once (the slot status, CMD_SLOT_BUSY answers included, tells it from then
/// on) and goes to the worker for the rest (the card's line and the
/// NotifySlotChange, after the command running): this thread never waits for
/// a command.
fn listen(
    mut host: HostSide,
    mut controls: UnixStream,
    jobs: Sender<Job>,
    reader: &Mutex<SimReader<'_>>,
    slots: &[SimDevice],
    options: &Options,
    running: &Running,
) -> Result<(), String> {
    let trace = options.trace;
    let mut answer = [0u8; MAX_MESSAGE];
    let mut frame = [0u8; MAX_MESSAGE + twin::FRAMING_LEN];
    let mut input = [0u8; 4096];
    let mut stdin_open = true;
    let mut line = String::new();
    loop {
        let timeout = match host.line {
            // No host: the next one's open wakes the watch.
            HostLine::Closed => -1,
            // Looked at again after a while, for the gone host's jobs.
            HostLine::Opening { .. } => i32::from(HOST_LOOK_MS),
            HostLine::Open => host.cut_at.map_or(-1, |at| {
                let left = at.saturating_duration_since(Instant::now()).as_millis();
                i32::try_from(left).unwrap_or(i32::MAX)
            }),
        };
        let open = host.line == HostLine::Open;
        let writes_seen = host.watch.writes_seen();
        let (port_ready, port_empty, stdin_ready, watch_ready) = {
            let stdin_fd = controls.as_fd();
            let watch_fd = host.watch.fd();
            let mut fds = vec![PollFd::new(&watch_fd, PollFlags::POLLIN)];
            let stdin_at = stdin_open.then(|| {
                fds.push(PollFd::new(&stdin_fd, PollFlags::POLLIN));
                fds.len() - 1
            });
            let port_at = open.then(|| {
                fds.push(PollFd::new(&host.port, PollFlags::POLLIN));
                fds.len() - 1
            });
            poll(&mut fds, timeout).map_err(|e| format!("poll: {e}"))?;
            let ready = |at: Option<usize>, flags: PollFlags| {
                at.and_then(|i| fds.get(i))
                    .and_then(|fd| fd.revents())
                    .is_some_and(|r| r.intersects(flags))
            };
            let any = PollFlags::POLLIN | PollFlags::POLLHUP;
            (
                ready(port_at, any),
                open && !ready(port_at, PollFlags::POLLIN),
                ready(stdin_at, any),
                ready(Some(0), PollFlags::POLLIN),
            )
        };
        if port_empty {
            // Nothing left to read (the poll takes in what the host's writes
            // put on their way): the writes seen before it are all read.
            host.watch.all_read(writes_seen);
        }
        if stdin_ready {
            let mut chunk = [0u8; 256];
            match controls.read(&mut chunk) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => line.push_str(&String::from_utf8_lossy(&chunk[..n])),
            }
            while let Some(end) = line.find('\n') {
                let command: String = line.drain(..=end).collect();
                if let Some((slot, moved)) = control(slots, options, command.trim()) {
                    running.jobs_out.fetch_add(1, Ordering::SeqCst);
                    let job = Job::Move { slot, line: moved };
                    jobs.send(job).map_err(|e| e.to_string())?;
                }
            }
        }
        if watch_ready {
            host.watch.read()?;
        }
        host.follow(running, trace)?;
        if let HostLine::Opening { since } = host.line {
            // Its messages wait in the terminal until the gone host's jobs have
            // ended (`WIND_DOWN` at most): none of them can then finish on the
            // gate a command of the new host's.
            if running.winding_down() && since.elapsed() < WIND_DOWN {
                continue;
            }
            if trace {
                eprintln!("-> (the host opened the terminal)");
            }
            host.line = HostLine::Open;
            continue;
        }
        if host.line != HostLine::Open {
            continue;
        }
        if !port_ready {
            if host.cut_at.is_some_and(|at| Instant::now() >= at) {
                host.cut_at = None;
                if host.decoder.line_quiet().is_some() {
                    if trace {
                        eprintln!("-> (a frame cut short: the line went quiet)");
                    }
                    running.send_nak();
                }
            }
            continue;
        }
        let read = host.port.read(&mut input);
        // Whose bytes these are: the events queued meanwhile say. A close
        // among them makes them a gone host's (written before it), or, if a
        // next host opened after it, maybe some of that one's first: nobody
        // is there for their answers, and none is answered to the wrong host.
        // (The master side never hangs up: ccid-serve keeps its own end.)
        host.watch.read()?;
        if !readable(&host.port) {
            // All read: the host's writes seen so far left nothing behind.
            host.watch.all_read(host.watch.writes_seen());
        }
        if host.watch.close_pending() {
            host.follow(running, trace)?;
            continue;
        }
        let n = match &read {
            Ok(n) if *n > 0 => *n,
            Ok(_) => continue,
            // Nothing there after all (the master side never waits).
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(format!("reading the terminal: {e}")),
        };
        let decoder = &mut host.decoder;
        for &byte in &input[..n] {
            match decoder.push(byte) {
                None | Some(Event::Stray(_)) => {}
                Some(Event::Nak) => running.send_again(),
                Some(Event::Message) => {
                    let message = decoder.message();
                    if trace {
                        eprintln!("-> {}", hex::encode(message, " "));
                    }
                    // The decoder completes no frame shorter than a header (it
                    // reads dwLength from the first 10 bytes): one would be
                    // said here, never answered with something made up.
                    let Ok(header) = Message::new_checked(message) else {
                        eprintln!(
                            "readerkit ccid-serve: a {}-byte message without a CCID header, not answered",
                            message.len()
                        );
                        continue;
                    };
                    if running.answer_at_once(reader, message, &mut answer, &mut frame) {
                        continue;
                    }
                    match running.admit(message) {
                        admission @ (Admission::Run | Admission::Abort) => {
                            if admission == Admission::Run {
                                running.forget_last_frame();
                            }
                            running.jobs_out.fetch_add(1, Ordering::SeqCst);
                            let job = Job::Message {
                                message: message.to_vec(),
                                host: running.hosts_gone.load(Ordering::SeqCst),
                            };
                            jobs.send(job).map_err(|e| e.to_string())?;
                            continue;
                        }
                        Admission::Busy => {}
                    }
                    // The card as the core knows it now, not as the running
                    // command's answer will say.
                    let busy = busy::busy_header(&header, slots.icc_status(header.slot()));
                    if trace {
                        eprintln!("<- (busy) {}", hex::encode(&busy, " "));
                    }
                    // The busy answer is the last frame now: a NAK gets it again.
                    let mut last = locked(&running.last_frame);
                    running.send_answer(&mut last, message, &busy, &mut frame);
                }
                // A bad LRC or a message too long: ask for the frame again.
                Some(_) => running.send_nak(),
            }
        }
        host.cut_at = (!host.decoder.is_idle()).then(|| Instant::now() + FRAME_GAP);
    }
}

/// The most a gone host can have left in the terminal, in bytes: Linux's pty
/// buffer (64 KiB) and the line discipline's read buffer (4 KiB), twice over.
/// [`discard_input`] drops no more, so a next host that writes without pause
/// cannot keep the reading thread dropping for ever.
const MOST_LEFT_BY_A_HOST: usize = 2 * (65_536 + 4_096);

/// Read and drop what the terminal's master side `port` holds from a host that
/// has closed it, at most [`MOST_LEFT_BY_A_HOST`] bytes; returns how many.
/// Reads only what is there: never waits.
fn discard_input(port: &mut File) -> usize {
    let mut dropped = 0;
    let mut chunk = [0u8; 4096];
    while dropped < MOST_LEFT_BY_A_HOST && readable(port) {
        let room = chunk.len().min(MOST_LEFT_BY_A_HOST - dropped);
        match port.read(&mut chunk[..room]) {
            Ok(n) if n > 0 => dropped += n,
            _ => break,
        }
    }
    dropped
}

/// `true` if the terminal's master side `port` has bytes to read now (the poll
/// takes in those on their way from the host's writes).
fn readable(port: &File) -> bool {
    let mut fds = [PollFd::new(port, PollFlags::POLLIN)];
    poll(&mut fds, 0).is_ok_and(|n| n > 0)
        && fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN))
}

/// The command worker: do the jobs in order: run each admitted message on the
/// reader and send its answer (CMD_ABORTED if an abort stopped it); move a
/// card on its line and send the NotifySlotChange.
fn run_commands(
    reader: &Mutex<SimReader<'_>>,
    slots: &[SimDevice],
    queue: Receiver<Job>,
    mut keypad: QueuedKeypad,
    running: &Running,
) {
    let profile = running.profile;
    let mut answer = [0u8; MAX_MESSAGE];
    let mut frame = [0u8; MAX_MESSAGE + twin::FRAMING_LEN];
    for job in queue {
        let mut done = JobDone::new(&running.jobs_out);
        let (message, host) = match job {
            Job::Message { message, host } => (message, host),
            Job::Move { slot, line } => {
                if let Some(device) = slots.get(slot) {
                    line.apply(device);
                }
                if let Some(n) = locked(reader).slot_change(&mut answer) {
                    if running.trace {
                        eprintln!("<- {}", hex::encode(&answer[..n], " "));
                    }
                    // Unframed: `last_frame` stays as it is, a NAK after the
                    // notification gets the answer before it (`twin::Step::Unframed`).
                    running.send(&answer[..n]);
                }
                continue;
            }
        };
        if profile.echoes() {
            let len = profile.echo(&message, &mut frame);
            *locked(&running.echo) = frame[..len].to_vec();
        }
        let header = Message::new_unchecked(&message[..]);
        let slot = header.slot();
        running.owed_work(&message);
        let handled = {
            let mut reader = locked(reader);
            *locked(&running.command) = Some(Handling {
                slot,
                seq: header.seq(),
                level: reader.level(),
            });
            let handled = if profile.pin_support() == PinSupport::NONE {
                reader.handle(&message, &mut answer)
            } else {
                reader.handle_with_keypad(&message, &mut answer, &mut keypad)
            };
            *locked(&running.command) = None;
            handled
        };
        let len = match handled {
            Ok(len) => len,
            Err(e) => {
                // Not reached: the reading thread admits only messages with a
                // header, and `answer` holds `MAX_MESSAGE` bytes.
                eprintln!(
                    "readerkit ccid-serve: the reader refused a message ({e:?}), not answered"
                );
                done.hold(&running.last_frame);
                locked(&running.echo).clear();
                continue;
            }
        };
        // Held until the answer is out, so that the reading thread's answer to
        // the host's next message (`Running::answer_at_once`) cannot overtake it.
        let last = done.hold(&running.last_frame);
        // None if the host closed the terminal meanwhile (`Running::host_gone`).
        let len = running.finish(slot).answer(&mut answer, len);
        // Its host has gone (this command disowned, or a message left queued
        // behind it): the answer goes to nobody, not to the next host.
        let sent_by_host_there = running.hosts_gone.load(Ordering::SeqCst) == host;
        let Some(len) = len.filter(|_| sent_by_host_there) else {
            locked(&running.echo).clear();
            continue;
        };
        if running.trace {
            eprintln!("<- {}", hex::encode(&answer[..len], " "));
        }
        // The echo (if still pending) and the answer in one write.
        running.send_kept(last, Vec::new(), &answer[..len]);
    }
}

/// A job the worker took, counted in `Running::jobs_out` until this is dropped
/// (at the end of the job, whichever way it ends). If it holds `last_frame` (a
/// message: the lock taken before its answer goes out), the count goes down
/// before the lock is let go: the reading thread, which takes `last_frame`
/// before it reads the count (`Running::answer_at_once`), finds the worker idle
/// only once the answer is out, and answers nothing ahead of it.
struct JobDone<'a> {
    jobs_out: &'a AtomicUsize,
    last_frame: Option<MutexGuard<'a, LastFrame<MAX_MESSAGE>>>,
}

impl<'a> JobDone<'a> {
    fn new(jobs_out: &'a AtomicUsize) -> Self {
        JobDone {
            jobs_out,
            last_frame: None,
        }
    }

    /// Take `last_frame` until the job is done; the frame, to keep the answer in.
    fn hold(
        &mut self,
        last_frame: &'a Mutex<LastFrame<MAX_MESSAGE>>,
    ) -> &mut LastFrame<MAX_MESSAGE> {
        self.last_frame.insert(locked(last_frame))
    }
}

impl Drop for JobDone<'_> {
    fn drop(&mut self) {
        self.jobs_out.fetch_sub(1, Ordering::SeqCst);
        // `last_frame`, a field, is let go after this body.
    }
}

/// Read stdin: `keys KEYS` lines press keys (pauses included) on the keypad's
/// channel (`keys`, if the reader has a keypad); every other line goes to
/// `controls`. The end of stdin closes it.
fn read_stdin(mut controls: UnixStream, keys: Option<Sender<Key>>) {
    let stdin = std::io::stdin();
    let mut line = String::new();
    loop {
        line.clear();
        match stdin.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        match key_script::keys_line(&line) {
            Some(script) => match &keys {
                Some(keys) => sim_keypad::press_line(keys, script, "ccid-serve"),
                None => {
                    eprintln!("readerkit ccid-serve: no keypad (start with --reader gempcpinpad)")
                }
            },
            None => {
                if controls.write_all(line.as_bytes()).is_err() {
                    return;
                }
            }
        }
    }
}

/// The card kind of `slot`: its own `--card` value, else the last one.
fn card_kind(options: &Options, slot: usize) -> &str {
    options
        .cards
        .get(slot)
        .or(options.cards.last())
        .map_or("t1", String::as_str)
}

/// A control line from stdin: `remove [SLOT]` or `insert [SLOT]` (anything else
/// is refused on stderr and moves nothing), reported to
/// the slot's core at once ([`sim_slot::report`], which never blocks); returns the
/// slot and what is left to do on its line.
fn control(slots: &[SimDevice], options: &Options, command: &str) -> Option<(usize, LineMove)> {
    let (moved, slot) = sim_slot::control_move(command, slots.len(), "ccid-serve")?;
    let device = slots.get(slot)?;
    let line = sim_slot::report(moved, device, card_kind(options, slot), options.behaviour)?;
    Some((slot, line))
}

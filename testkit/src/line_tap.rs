//! A go-between on a GemPC Twin serial line (the framing of
//! [`twin_peer`](crate::twin_peer)): a pseudo-terminal of its own for the host
//! (Debian's `libccidtwin.so`, through pcscd's reader.conf), every byte relayed
//! both ways to the reader's terminal (`readerkit ccid-serve`), each unit it
//! relayed logged, and one reader→host frame damaged when told to.
//!
//! libccid 1.5.2 never sends a NAK: a frame whose LRC is wrong is logged
//! (`Wrong LRC: 0x..`) and used as read. So the tap can also stand in for a host
//! that does check ([`Action::NakAfterMovement`]): it keeps the damaged frame
//! from libccid, waits for the reader's next card-movement notification, passes
//! that on, sends the reader a NAK itself and passes on what the reader answers
//! it with. libccid then gets the answer it waits for only if the reader answers
//! a NAK after a notification with its last frame.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};

use crate::twin_abuse::NAK as NAK_FRAME;
use crate::twin_peer::open_raw;

/// First byte of every frame.
const SYNC: u8 = 0x03;
/// Control byte of a frame that carries a message.
const ACK: u8 = 0x06;
/// Control byte of a NAK.
const NAK: u8 = 0x15;
/// First byte of a card-movement notification (`50 bmSlotICCState`).
const MOVEMENT: u8 = 0x50;
/// Bytes of a CCID message header.
const HEADER: usize = 10;

/// One unit on the line: a frame, a NAK, or a byte outside any frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unit {
    /// A whole frame (SYNC, ACK, the CCID message, LRC), as relayed.
    Frame(Vec<u8>),
    /// `03 15 16`: the last frame again, please.
    Nak,
    /// A card-movement notification `50 bmSlotICCState` (02 absent, 03 present).
    Movement(u8),
    /// A T=0 card's request for more time (one byte, 80..FF).
    TimeRequest(u8),
    /// A byte that starts none of the above (relayed as is).
    Stray(u8),
}

impl Unit {
    /// The CCID message of a frame (without SYNC, ACK and LRC).
    pub fn message(&self) -> Option<&[u8]> {
        match self {
            Unit::Frame(bytes) => bytes.get(2..bytes.len().saturating_sub(1)),
            _ => None,
        }
    }

    /// `true` for a frame carrying an answer (RDR_to_PC, message type 80..84),
    /// not the echo of a host's command.
    pub fn is_answer(&self) -> bool {
        matches!(self.message(), Some([0x80..=0x84, ..]))
    }
}

/// What the tap relayed or did, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relayed {
    /// Host → reader, passed on.
    FromHost(Unit),
    /// Reader → host, passed on as read.
    FromReader(Unit),
    /// Reader → host, passed on with one byte damaged: the frame as read and
    /// as sent.
    Damaged {
        /// The frame the reader sent.
        read: Vec<u8>,
        /// The frame the host got.
        sent: Vec<u8>,
    },
    /// Reader → host, picked for [`Action::Damage`] of a byte it does not have
    /// ([`Byte::Message`] past the end of its message): passed on as read, and
    /// the fault is spent (not tried on a later frame).
    NoSuchByte {
        /// The frame the reader sent, which the host got unchanged.
        read: Vec<u8>,
        /// The byte the fault named.
        byte: Byte,
    },
    /// Reader → host, kept from the host (the tap NAKs it instead).
    Withheld(Vec<u8>),
    /// The tap's own NAK, sent to the reader.
    TapNak,
}

/// Which reader→host frame the tap works on, counted from [`LineTap::arm`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// The first answer frame after the next card-movement notification.
    AfterMovement,
    /// The `n`th answer frame (1 = the next one) of message type `message_type`
    /// (80 DataBlock, 81 SlotStatus, ...); echoes and other answers do not count.
    Nth {
        /// bMessageType of the answers counted.
        message_type: u8,
        /// Which of them (1 = the next one).
        n: usize,
    },
}

/// Which byte of a frame [`Action::Damage`] changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Byte {
    /// The LRC (the message arrives intact, its check fails).
    Lrc,
    /// Byte `i` of the CCID message (0 = bMessageType, 10 = the first data
    /// byte). A picked frame whose message is shorter is passed on as read
    /// ([`Relayed::NoSuchByte`]): its length is known only once it comes.
    Message(usize),
}

/// What the tap does to the frame it picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Flip the lowest bit of one byte and pass the frame on.
    Damage(Byte),
    /// Keep the frame from the host (say so on [`LineTap::wait_withheld`]), pass
    /// on the reader's next card-movement notification, then send the reader a
    /// NAK and pass on what it answers.
    NakAfterMovement,
}

/// A fault to play once: `action` on the frame `pick` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// Which frame.
    pub pick: Pick,
    /// What to do to it.
    pub action: Action,
}

/// Where the tap stands with its fault.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Plan {
    /// Relay only.
    Relay,
    /// Watch the reader's units for `fault`: whether a notification went by
    /// (for [`Pick::AfterMovement`]) and the answers counted (for [`Pick::Nth`]).
    Armed {
        fault: Fault,
        movement_seen: bool,
        answers: usize,
    },
    /// A frame withheld; waiting for the reader's next notification.
    Holding,
}

/// The state the relay thread and the test share.
struct Shared {
    log: Mutex<Vec<Relayed>>,
    plan: Mutex<Plan>,
    stop: AtomicBool,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running go-between; its thread stops on drop.
pub struct LineTap {
    /// The terminal the host opens (`/dev/pts/N`): give it pcscd's reader.conf.
    pub path: String,
    shared: Arc<Shared>,
    withheld: Receiver<Vec<u8>>,
    thread: Option<JoinHandle<()>>,
}

impl LineTap {
    /// Open a new pseudo-terminal for the host (raw mode; the tap keeps its
    /// slave side open too, so the host may close and open it again) and the
    /// reader's terminal at `reader` (raw mode), and relay between them.
    pub fn start(reader: &str) -> LineTap {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let mut termios = tcgetattr(pty.slave.as_fd()).expect("tcgetattr");
        cfmakeraw(&mut termios);
        tcsetattr(pty.slave.as_fd(), SetArg::TCSANOW, &termios).expect("tcsetattr");
        let path = nix::unistd::ttyname(pty.slave.as_raw_fd())
            .expect("ttyname")
            .display()
            .to_string();
        let reader = open_raw(reader);
        let shared = Arc::new(Shared {
            log: Mutex::new(Vec::new()),
            plan: Mutex::new(Plan::Relay),
            stop: AtomicBool::new(false),
        });
        let (tell, withheld) = channel();
        let relay = Relay {
            host: File::from(pty.master),
            _host_slave: pty.slave,
            reader,
            shared: shared.clone(),
            tell,
            from_reader: Vec::new(),
            from_host: Vec::new(),
        };
        let thread = std::thread::Builder::new()
            .name("line tap".into())
            .spawn(move || relay.run())
            .expect("spawn the line tap");
        LineTap {
            path,
            shared,
            withheld,
            thread: Some(thread),
        }
    }

    /// Play `fault` once, on the frames from now on.
    pub fn arm(&self, fault: Fault) {
        *locked(&self.shared.plan) = Plan::Armed {
            fault,
            movement_seen: false,
            answers: 0,
        };
    }

    /// Wait (up to `limit`) until the tap withholds the frame of an
    /// [`Action::NakAfterMovement`]; the frame, or `None` after `limit`.
    pub fn wait_withheld(&self, limit: Duration) -> Option<Vec<u8>> {
        self.withheld.recv_timeout(limit).ok()
    }

    /// What the tap relayed and did so far, in order.
    pub fn log(&self) -> Vec<Relayed> {
        locked(&self.shared.log).clone()
    }
}

impl Drop for LineTap {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The relay thread's side.
struct Relay {
    host: File,
    _host_slave: OwnedFd,
    reader: File,
    shared: Arc<Shared>,
    tell: Sender<Vec<u8>>,
    /// Reader bytes not yet a whole unit.
    from_reader: Vec<u8>,
    /// Host bytes not yet a whole unit (relayed already, logged when whole).
    from_host: Vec<u8>,
}

impl Relay {
    fn run(mut self) {
        let mut buf = [0u8; 1024];
        while !self.shared.stop.load(Ordering::SeqCst) {
            let mut fds = [
                PollFd::new(&self.host, PollFlags::POLLIN),
                PollFd::new(&self.reader, PollFlags::POLLIN),
            ];
            if poll(&mut fds, 50).unwrap_or(0) <= 0 {
                continue;
            }
            let ready = |fd: &PollFd<'_>| {
                fd.revents()
                    .is_some_and(|r| r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP))
            };
            let (host_ready, reader_ready) = (ready(&fds[0]), ready(&fds[1]));
            if host_ready {
                let Ok(n) = self.host.read(&mut buf) else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = self.reader.write_all(&buf[..n]);
                self.from_host.extend_from_slice(&buf[..n]);
                while let Some(unit) = take_unit(&mut self.from_host) {
                    self.record(Relayed::FromHost(unit));
                }
            }
            if reader_ready {
                let n = match self.reader.read(&mut buf) {
                    Ok(n) if n > 0 => n,
                    // The reader's end is gone (its process ended): nothing
                    // more comes.
                    _ => {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                };
                self.from_reader.extend_from_slice(&buf[..n]);
                while let Some(unit) = take_unit(&mut self.from_reader) {
                    self.reader_unit(unit);
                }
            }
        }
    }

    fn record(&self, relayed: Relayed) {
        locked(&self.shared.log).push(relayed);
    }

    /// Pass `bytes` on to the host, logged as `relayed` first: a test that has
    /// read them from the host's side finds them in [`LineTap::log`].
    fn send_host(&mut self, bytes: &[u8], relayed: Relayed) {
        self.record(relayed);
        let _ = self.host.write_all(bytes);
    }

    /// One whole unit from the reader: passed on, damaged or withheld, as the
    /// plan says.
    ///
    /// The plan stays locked until it is written back, so that a
    /// [`LineTap::arm`] meanwhile waits and is not overwritten by the plan
    /// read before it.
    fn reader_unit(&mut self, unit: Unit) {
        let shared = self.shared.clone();
        let mut held = locked(&shared.plan);
        let mut plan = held.clone();
        let bytes = unit_bytes(&unit);
        match (&mut plan, &unit) {
            (Plan::Holding, Unit::Movement(_)) => {
                self.send_host(&bytes, Relayed::FromReader(unit));
                self.record(Relayed::TapNak);
                let _ = self.reader.write_all(&NAK_FRAME);
                plan = Plan::Relay;
            }
            (
                Plan::Armed {
                    movement_seen,
                    answers,
                    fault,
                },
                _,
            ) => {
                if matches!(unit, Unit::Movement(_)) {
                    *movement_seen = true;
                }
                let picked = unit.is_answer()
                    && match fault.pick {
                        Pick::AfterMovement => *movement_seen,
                        Pick::Nth { message_type, n } => {
                            if unit.message().and_then(|m| m.first()) == Some(&message_type) {
                                *answers += 1;
                            }
                            *answers == n
                        }
                    };
                if !picked {
                    self.send_host(&bytes, Relayed::FromReader(unit));
                } else {
                    match fault.action {
                        Action::Damage(at) => {
                            if let Some(sent) = damaged(&bytes, at) {
                                let relayed = Relayed::Damaged {
                                    read: bytes,
                                    sent: sent.clone(),
                                };
                                self.send_host(&sent, relayed);
                            } else {
                                let relayed = Relayed::NoSuchByte {
                                    read: bytes.clone(),
                                    byte: at,
                                };
                                self.send_host(&bytes, relayed);
                            }
                            plan = Plan::Relay;
                        }
                        Action::NakAfterMovement => {
                            self.record(Relayed::Withheld(bytes.clone()));
                            let _ = self.tell.send(bytes);
                            plan = Plan::Holding;
                        }
                    }
                }
            }
            _ => self.send_host(&bytes, Relayed::FromReader(unit)),
        }
        *held = plan;
    }
}

/// `frame` (SYNC, ACK, message, LRC) with the lowest bit of byte `at` flipped;
/// `None` if it has no such byte.
fn damaged(frame: &[u8], at: Byte) -> Option<Vec<u8>> {
    let message = frame.len().checked_sub(3)?;
    let i = match at {
        Byte::Lrc => frame.len() - 1,
        Byte::Message(i) if i < message => 2 + i,
        Byte::Message(_) => return None,
    };
    let mut sent = frame.to_vec();
    sent[i] ^= 0x01;
    Some(sent)
}

/// The bytes of `unit` on the line.
fn unit_bytes(unit: &Unit) -> Vec<u8> {
    match unit {
        Unit::Frame(bytes) => bytes.clone(),
        Unit::Nak => NAK_FRAME.to_vec(),
        Unit::Movement(state) => vec![MOVEMENT, *state],
        Unit::TimeRequest(b) | Unit::Stray(b) => vec![*b],
    }
}

/// Take the first whole unit off `bytes`, if there is one.
fn take_unit(bytes: &mut Vec<u8>) -> Option<Unit> {
    let (unit, len) = match bytes.as_slice() {
        [] => return None,
        [MOVEMENT, state, ..] => (Unit::Movement(*state), 2),
        [MOVEMENT] => return None,
        [SYNC, NAK, lrc, ..] if *lrc == SYNC ^ NAK => (Unit::Nak, 3),
        [SYNC, ACK, header @ ..] => {
            let length = header.get(1..5)?;
            let data = u32::from_le_bytes(length.try_into().ok()?) as usize;
            let len = 2usize
                .saturating_add(HEADER)
                .saturating_add(data)
                .saturating_add(1);
            let frame = bytes.get(..len)?;
            (Unit::Frame(frame.to_vec()), len)
        }
        [SYNC] | [SYNC, NAK] | [SYNC, NAK, _] => return None,
        [b @ 0x80..=0xFF, ..] => (Unit::TimeRequest(*b), 1),
        [b, ..] => (Unit::Stray(*b), 1),
    };
    bytes.drain(..len);
    Some(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_taken_whole_and_only_whole() {
        let answer = crate::twin_peer::frame(&[0x81, 0, 0, 0, 0, 0, 7, 0, 0, 0]);
        let mut line = vec![0x50, 0x02, 0x83];
        line.extend_from_slice(&answer);
        line.extend_from_slice(&NAK_FRAME);
        line.extend_from_slice(&[0x03, 0x06, 0x80, 2]);
        let mut units = Vec::new();
        while let Some(unit) = take_unit(&mut line) {
            units.push(unit);
        }
        assert_eq!(
            units,
            [
                Unit::Movement(2),
                Unit::TimeRequest(0x83),
                Unit::Frame(answer.clone()),
                Unit::Nak
            ]
        );
        assert!(units[2].is_answer());
        assert_eq!(line, [0x03, 0x06, 0x80, 2], "a frame cut short stays");
    }

    /// A fault naming a message byte past the end of the picked frame: the
    /// frame reaches the host as read, the log says so, and the tap relays on
    /// (it once panicked on the index, which ended its relay thread).
    #[test]
    fn damage_past_the_message_passes_the_frame_on_as_read() {
        use crate::twin_peer::{frame, read_n};
        let reader = nix::pty::openpty(None, None).expect("openpty");
        let reader_path = nix::unistd::ttyname(reader.slave.as_raw_fd())
            .expect("ttyname")
            .display()
            .to_string();
        let mut reader_line = File::from(reader.master);
        let tap = LineTap::start(&reader_path);
        let mut host = open_raw(&tap.path);
        let status = frame(&[0x81, 0, 0, 0, 0, 0, 7, 0, 0, 0]);
        for at in [Byte::Message(10), Byte::Message(usize::MAX)] {
            tap.arm(Fault {
                pick: Pick::Nth {
                    message_type: 0x81,
                    n: 1,
                },
                action: Action::Damage(at),
            });
            reader_line.write_all(&status).unwrap();
            assert_eq!(read_n(&mut host, status.len()), status, "{at:?}");
            assert_eq!(
                tap.log().last(),
                Some(&Relayed::NoSuchByte {
                    read: status.clone(),
                    byte: at
                })
            );
        }
        // The tap still damages a byte the frame has.
        tap.arm(Fault {
            pick: Pick::Nth {
                message_type: 0x81,
                n: 1,
            },
            action: Action::Damage(Byte::Message(9)),
        });
        reader_line.write_all(&status).unwrap();
        let mut sent = status.clone();
        sent[11] ^= 0x01;
        assert_eq!(read_n(&mut host, status.len()), sent);
    }

    #[test]
    fn a_frame_too_short_for_a_message_has_none() {
        for bytes in [vec![], vec![SYNC], vec![SYNC, ACK]] {
            assert_eq!(Unit::Frame(bytes).message(), None);
        }
        assert_eq!(
            Unit::Frame(vec![SYNC, ACK, 0x81, 0x84]).message(),
            Some(&[0x81][..])
        );
    }
}

//! The connection to the virtual card, shared by the listener thread (which reads
//! everything the peer sends, as it arrives) and the driver's callbacks (which
//! write a command and wait for its answer).
//!
//! Rules that keep answers in step with commands:
//! * the answer to a command is the first message that *begins* after the command
//!   is sent: bytes already received (read or still in the kernel) when the
//!   command goes out belong to messages nobody asked for, which are discarded
//!   (the choice, sans I/O: [`super::inbox`]);
//! * a whole exchange (command written, answer read) has one deadline; a peer
//!   that misses it, trickling or stalled, is dropped;
//! * an exchange that ends without its answer leaves the stream out of step, so
//!   the connection is dropped: a later command can never get an earlier answer.
//!
//! Whoever ends a connection (the listener seeing the peer hang up, an exchange
//! failing, the reader closing) reports the removal at once, before anyone waiting
//! on the connection wakes: the card state is never stale after a failed exchange.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use readerkit::Failure;
use zeroize::Zeroize;

use super::frame::Assembler;
use super::inbox::Inbox;
use super::monitor::Monitor;
use super::sys::{self, Interest};
use crate::hook::Hook;
use crate::reader_log::TARGET;

/// Identifies one connection (one card) for as long as the reader is open.
pub(super) type ConnId = u64;

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// The peer hung up (or the socket failed).
    PeerClosed,
    /// The peer answered with an empty message: vpcd's "card gone".
    EmptyAnswer,
    /// A message did not get through, or its answer did not come, within the
    /// deadline.
    Deadline,
    /// Writing to the peer failed.
    WriteFailed,
    /// The exchange was cut off: the card is powered down or the reader closes.
    Cut,
    /// The reader closes.
    Stopped,
}

impl End {
    fn text(self) -> &'static str {
        match self {
            End::PeerClosed => "the card hung up",
            End::EmptyAnswer => "the card sent an empty answer (gone)",
            End::Deadline => "the card missed its deadline",
            End::WriteFailed => "writing to the card failed",
            End::Cut => "an exchange was cut off",
            End::Stopped => "the reader closes",
        }
    }
}

/// Whether a message expects an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reply {
    /// Power commands: no answer.
    None,
    /// GET_ATR and command APDUs.
    Expected,
}

#[derive(Debug)]
struct Conn {
    id: ConnId,
    stream: Arc<TcpStream>,
}

#[derive(Debug, Default)]
struct State {
    conn: Option<Conn>,
    last_id: ConnId,
    /// Bytes of the current connection read (and framed) so far.
    consumed: u64,
    /// The answer awaited on the current connection.
    inbox: Inbox,
    /// The connection an exchange is using right now.
    in_flight: Option<ConnId>,
}

/// What [`Link::receive`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Received {
    /// Keep reading.
    Open,
    /// The connection is over (ended here, or already ended).
    Closed,
}

/// See the module documentation. A new link has no connection.
#[derive(Debug, Default)]
pub(super) struct Link {
    state: Monitor<State>,
    on_removed: OnceLock<Hook>,
}

impl Link {
    /// Set what reports a removal (once, before the first connection).
    pub(super) fn set_on_removed(&self, report: Hook) {
        let _ = self.on_removed.set(report);
    }

    /// Take a newly accepted connection as the card; the caller reports the
    /// insertion.
    pub(super) fn install(&self, stream: TcpStream) -> io::Result<ConnId> {
        stream.set_nonblocking(true)?;
        stream.set_nodelay(true)?;
        let mut s = self.state.lock();
        s.last_id += 1;
        let id = s.last_id;
        s.conn = Some(Conn {
            id,
            stream: Arc::new(stream),
        });
        s.consumed = 0;
        s.inbox = Inbox::new();
        Ok(id)
    }

    /// The current connection, if a card is connected.
    pub(super) fn current(&self) -> Option<ConnId> {
        self.state.lock().conn.as_ref().map(|c| c.id)
    }

    /// The current connection's socket, if it is `id`.
    pub(super) fn stream(&self, id: ConnId) -> Option<Arc<TcpStream>> {
        self.state
            .lock()
            .conn
            .as_ref()
            .filter(|c| c.id == id)
            .map(|c| c.stream.clone())
    }

    /// End connection `id` if it is still the current one: hang up, report the
    /// removal, wake whoever waits on it. Returns `true` if this call ended it.
    pub(super) fn end(&self, id: ConnId, why: End) -> bool {
        let discarded = {
            let mut s = self.state.lock();
            if s.conn.as_ref().map(|c| c.id) != Some(id) {
                return false;
            }
            if let Some(conn) = s.conn.take() {
                let _ = conn.stream.shutdown(Shutdown::Both);
            }
            // An answer already delivered stays for its exchange: the card answered,
            // then hung up.
            s.inbox.stop_awaiting();
            // Report before anyone waiting here can return: a caller that sees its
            // exchange fail then sees the card gone.
            if let Some(report) = self.on_removed.get() {
                report.call();
            }
            self.state.notify_all();
            s.inbox.discarded()
        };
        let extra = if discarded > 0 {
            format!(" ({discarded} message(s) nobody asked for were discarded)")
        } else {
            String::new()
        };
        log::info!(target: TARGET, "vpcd: card removed: {}{extra}", why.text());
        true
    }

    /// Cut off the exchange in flight, if any: its connection ends.
    pub(super) fn cut_in_flight(&self) {
        let in_flight = self.state.lock().in_flight;
        if let Some(id) = in_flight {
            self.end(id, End::Cut);
        }
    }

    /// Read what the peer sent on connection `id` (called by the listener when the
    /// socket is readable), framing it and handing the answer to a waiting
    /// exchange; messages nobody asked for are discarded.
    pub(super) fn receive(
        &self,
        id: ConnId,
        assembler: &mut Assembler,
        buf: &mut [u8],
    ) -> Received {
        let mut s = self.state.lock();
        let Some(stream) = s
            .conn
            .as_ref()
            .filter(|c| c.id == id)
            .map(|c| c.stream.clone())
        else {
            return Received::Closed;
        };
        // Read under the lock, so that `consumed` plus the kernel's pending count is
        // exact whenever an exchange looks at it. One read per call: a peer that
        // floods cannot keep the lock from an exchange that must give up.
        let read = loop {
            match (&*stream).read(buf) {
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        match read {
            Ok(n) if n > 0 => {
                let state = &mut *s;
                let mut woke = false;
                assembler.push(&buf[..n], |frame| woke |= state.inbox.deliver(frame));
                s.consumed = assembler.offset();
                if woke {
                    self.state.notify_all();
                }
                Received::Open
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => Received::Open,
            // The end of the stream, or a failed socket.
            _ => {
                drop(s);
                self.end(id, End::PeerClosed);
                Received::Closed
            }
        }
    }

    /// Send `message` on connection `id` and, if `reply` says so, return its
    /// answer; the whole exchange must finish by `deadline`. Any failure ends the
    /// connection (and reports the removal) before returning.
    pub(super) fn exchange(
        &self,
        id: ConnId,
        message: &[u8],
        reply: Reply,
        deadline: Instant,
    ) -> Result<Vec<u8>, Failure> {
        let len = u16::try_from(message.len()).map_err(|_| Failure::InvalidParameter)?;
        let stream = {
            let mut s = self.state.lock();
            let stream = s
                .conn
                .as_ref()
                .filter(|c| c.id == id)
                .map(|c| c.stream.clone())
                .ok_or(Failure::NoMedia)?;
            match reply {
                Reply::None => s.inbox.clear(),
                Reply::Expected => {
                    // Whatever the kernel holds now was sent before this command.
                    let pending = sys::bytes_pending(stream.as_raw_fd()).unwrap_or(0);
                    let from = s.consumed + pending as u64;
                    s.inbox.await_answer(from);
                }
            }
            s.in_flight = Some(id);
            stream
        };
        let result = self.send_and_wait(id, &stream, len, message, reply, deadline);
        let mut s = self.state.lock();
        s.in_flight = None;
        s.inbox.clear();
        result
    }

    fn send_and_wait(
        &self,
        id: ConnId,
        stream: &TcpStream,
        len: u16,
        message: &[u8],
        reply: Reply,
        deadline: Instant,
    ) -> Result<Vec<u8>, Failure> {
        let mut frame = Vec::with_capacity(2 + message.len());
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(message);
        let written = write_all(stream, &frame, deadline);
        // The frame holds the whole command (a PIN pad's VERIFY: the PIN); the
        // allocator would keep its bytes.
        frame.as_mut_slice().zeroize();
        if let Err(why) = written {
            self.end(id, why);
            return Err(if why == End::Deadline {
                Failure::IoTimeout
            } else {
                Failure::NoMedia
            });
        }
        if reply == Reply::None {
            return Ok(Vec::new());
        }
        let mut s = self.state.lock();
        loop {
            if let Some(answer) = s.inbox.take_answer() {
                drop(s);
                if answer.is_empty() {
                    self.end(id, End::EmptyAnswer);
                    return Err(Failure::NoMedia);
                }
                return Ok(answer);
            }
            if s.conn.as_ref().map(|c| c.id) != Some(id) {
                // Ended (and reported) by the listener or a cut.
                return Err(Failure::NoMedia);
            }
            s = match self.state.wait_until(s, deadline) {
                Ok(s) => s,
                Err(s) => {
                    drop(s);
                    self.end(id, End::Deadline);
                    return Err(Failure::IoTimeout);
                }
            };
        }
    }
}

/// Write all of `bytes` to the (non-blocking) socket by `deadline`.
fn write_all(stream: &TcpStream, mut bytes: &[u8], deadline: Instant) -> Result<(), End> {
    while !bytes.is_empty() {
        match (&*stream).write(bytes) {
            Ok(0) => return Err(End::WriteFailed),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                match sys::wait(&[(stream, Interest::Write)], Some(deadline)) {
                    Ok(ready) if ready.first() == Some(&true) => {}
                    Ok(_) => return Err(End::Deadline),
                    Err(_) => return Err(End::WriteFailed),
                }
            }
            Err(_) => return Err(End::WriteFailed),
        }
    }
    Ok(())
}

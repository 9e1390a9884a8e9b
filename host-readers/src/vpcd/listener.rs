//! The listener thread of a `vpcd:` reader: accept one card at a time, report its
//! insertion, read everything it sends (so a hang-up is seen the moment it
//! happens, unread bytes or not), report its removal, and wait until the host has
//! seen the removal before letting the next card in. It sleeps in `poll(2)` on the
//! listening socket or the connection, and on a wake-up pipe for stopping: no tick.

use std::io::{ErrorKind, Read};
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::VpcdDevice;
use super::frame::{Assembler, MAX_MESSAGE};
use super::gate::Gate;
use super::link::{ConnId, End, Link, Received};
use super::sys::{self, Interest};
use crate::reader_log::TARGET;

/// What the listener thread works with.
pub(super) struct Listener {
    /// The listening socket (non-blocking).
    pub(super) socket: TcpListener,
    /// The connection it shares with the driver.
    pub(super) link: Arc<Link>,
    /// The removal gate.
    pub(super) gate: Arc<Gate>,
    /// The device to report card events to.
    pub(super) device: Arc<VpcdDevice>,
    /// Readable when the thread should look at `stop` (non-blocking).
    pub(super) wake: UnixStream,
}

/// How a wait ended.
enum Woke {
    /// The socket waited on is ready.
    Ready,
    /// Stop.
    Stop,
}

impl Listener {
    /// Run until `stop` is set (and the wake pipe written).
    pub(super) fn run(mut self, stop: Arc<AtomicBool>) {
        let mut buf = vec![0u8; MAX_MESSAGE + 2];
        'cards: while !stop.load(Ordering::Acquire) {
            if !self.gate.wait_seen() {
                break;
            }
            match self.wait(&stop, Which::Listener) {
                Woke::Stop => break,
                Woke::Ready => {}
            }
            let stream = match self.socket.accept() {
                Ok((stream, _)) => stream,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                    continue;
                }
                Err(e) => {
                    log::error!(target: TARGET, "vpcd: accept: {e}");
                    continue;
                }
            };
            let id = match self.link.install(stream) {
                Ok(id) => id,
                Err(e) => {
                    log::error!(target: TARGET, "vpcd: cannot set the connection up: {e}");
                    continue;
                }
            };
            self.gate.inserted();
            self.device.card_inserted();
            log::info!(target: TARGET, "vpcd: card inserted");
            let mut assembler = Assembler::new();
            loop {
                match self.wait(&stop, Which::Conn(id)) {
                    Woke::Stop => break 'cards,
                    Woke::Ready => {}
                }
                if let Received::Closed = self.link.receive(id, &mut assembler, &mut buf) {
                    break;
                }
            }
        }
        if let Some(id) = self.link.current() {
            self.link.end(id, End::Stopped);
        }
    }

    /// Sleep until the listening socket (or connection `id`) is readable or a
    /// stop is asked for.
    fn wait(&mut self, stop: &AtomicBool, which: Which) -> Woke {
        loop {
            if stop.load(Ordering::Acquire) {
                return Woke::Stop;
            }
            let ready = match which {
                Which::Listener => sys::wait(
                    &[(&self.socket, Interest::Read), (&self.wake, Interest::Read)],
                    None,
                ),
                Which::Conn(id) => {
                    // The connection may have been ended (and its socket replaced)
                    // by an exchange: then there is nothing more to read.
                    let Some(stream) = self.link.stream(id) else {
                        return Woke::Ready;
                    };
                    sys::wait(
                        &[(&*stream, Interest::Read), (&self.wake, Interest::Read)],
                        None,
                    )
                }
            };
            match ready {
                Ok(ready) => {
                    if ready.get(1) == Some(&true) {
                        if self.drain_wake() {
                            continue;
                        }
                        // The waking side is gone: nobody can stop us later.
                        return Woke::Stop;
                    }
                    if ready.first() == Some(&true) {
                        return Woke::Ready;
                    }
                }
                Err(e) => {
                    log::error!(target: TARGET, "vpcd: poll: {e}");
                    return Woke::Stop;
                }
            }
        }
    }

    /// Empty the wake-up pipe; `false` if its other end is gone.
    fn drain_wake(&mut self) -> bool {
        let mut bytes = [0u8; 16];
        loop {
            match self.wake.read(&mut bytes) {
                Ok(0) => return false,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
    }
}

/// Which socket [`Listener::wait`] watches.
#[derive(Debug, Clone, Copy)]
enum Which {
    Listener,
    Conn(ConnId),
}

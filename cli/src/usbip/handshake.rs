//! The operation phase of USB/IP connections, off the device's thread: a device
//! list is answered at once (also while the device is imported), an import of the
//! exported bus id is handed to the device's thread, which owns the device; an
//! import while another holds the device is refused as busy, one of another bus id
//! as no such device. At most [`MAX_HANDSHAKES`] connections are in their
//! operation phase at once, [`MAX_PER_PEER`] of them from one address
//! ([`admission`](super::admission)): one over that is closed at once, so a peer
//! opening connections by the thousand holds that many threads, not thousands,
//! and one address cannot take every place. An
//! imported connection gets TCP keepalive ([`keep_alive`]): a client that
//! vanishes without closing lets the device go within about a minute.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::time::Duration;

use nix::sys::socket::{setsockopt, sockopt};
use readerkit_usbip::protocol::{self, DeviceInfo, Operation};

use super::admission::{Admission, MAX_HANDSHAKES, MAX_PER_PEER, Refused};

/// How long a client may take to send its operation and bus id, in s.
const OPERATION_TIMEOUT_S: u64 = 10;
/// TCP keepalive of an imported connection: the first probe after this many
/// seconds without traffic, in s.
const KEEPALIVE_IDLE_S: u32 = 30;
/// TCP keepalive: seconds between unanswered probes, in s.
const KEEPALIVE_INTERVAL_S: u32 = 10;
/// TCP keepalive: unanswered probes before the connection is given up (its
/// reads fail, the device is free): after 30 + 3 × 10 = 60 s of silence.
const KEEPALIVE_PROBES: u32 = 3;
/// How long data sent on an imported connection may stay unacknowledged before
/// the connection is given up, in ms (TCP_USER_TIMEOUT): keepalive probes only
/// an idle connection, so a vanished client sent a notification would
/// otherwise hold the device for the retransmissions' 15 minutes or so.
const UNACKED_TIMEOUT_MS: u32 = 60_000;

/// What the connections share.
#[derive(Clone)]
pub(crate) struct Exported {
    /// The device as the list shows it.
    pub(crate) info: Arc<DeviceInfo>,
    /// Set while a client holds the device (cleared by the device's thread).
    pub(crate) imported: Arc<AtomicBool>,
    /// Where accepted imports go: the device's thread.
    pub(crate) imports: Sender<TcpStream>,
    /// Print each operation on stderr.
    pub(crate) trace: bool,
}

/// Accept connections until the listener fails, each handshake on a thread of its
/// own (a silent client holds only its own thread, for at most
/// [`OPERATION_TIMEOUT_S`]); a connection that comes while [`MAX_HANDSHAKES`]
/// are in flight, or [`MAX_PER_PEER`] from its address, is closed at once.
pub(crate) fn accept(listener: &TcpListener, exported: &Exported) {
    let admission = Admission::default();
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                eprintln!("readerkit usbip-serve: accept: {e}");
                continue;
            }
        };
        let place = match stream.peer_addr() {
            Ok(peer) => admission.admit(peer.ip()),
            // Gone already (reset before this look): nothing to serve.
            Err(_) => continue,
        };
        // Dropped, the stream closes the connection.
        let place = match place {
            Ok(place) => place,
            Err(refused) => {
                if exported.trace {
                    eprintln!("usbip: {}: connection closed", refusal(refused));
                }
                continue;
            }
        };
        let exported = exported.clone();
        let spawned = std::thread::Builder::new()
            .name("usbip-handshake".into())
            .spawn(move || {
                let mut stream = stream;
                let ended = handshake(&mut stream, &exported);
                // Given back before the connection closes or goes to the
                // device: a client that sees the end and connects again at
                // once finds its place free.
                drop(place);
                match ended {
                    Ok(Ended::Answered) => {}
                    Ok(Ended::Imported) => hand_over(stream, &exported),
                    Err(e) => eprintln!("readerkit usbip-serve: {e}"),
                }
            });
        if let Err(e) = spawned {
            eprintln!("readerkit usbip-serve: handshake thread: {e}");
        }
    }
}

/// What the trace says of a connection refused a place.
fn refusal(refused: Refused) -> String {
    match refused {
        Refused::Full => format!("{MAX_HANDSHAKES} handshakes in flight"),
        Refused::PeerFull(peer) => format!("{MAX_PER_PEER} handshakes in flight from {peer}"),
    }
}

/// Turn TCP keepalive on for an imported connection ([`KEEPALIVE_IDLE_S`],
/// [`KEEPALIVE_INTERVAL_S`], [`KEEPALIVE_PROBES`]) and bound how long its data
/// may go unacknowledged ([`UNACKED_TIMEOUT_MS`]): USB/IP itself has no
/// time-out, so without them a client whose host vanished (powered off, its
/// network gone: no FIN, no RST) would hold the device for good.
fn keep_alive(stream: &TcpStream) -> nix::Result<()> {
    setsockopt(stream, sockopt::KeepAlive, &true)?;
    setsockopt(stream, sockopt::TcpKeepIdle, &KEEPALIVE_IDLE_S)?;
    setsockopt(stream, sockopt::TcpKeepInterval, &KEEPALIVE_INTERVAL_S)?;
    setsockopt(stream, sockopt::TcpKeepCount, &KEEPALIVE_PROBES)?;
    setsockopt(stream, sockopt::TcpUserTimeout, &UNACKED_TIMEOUT_MS)
}

/// How a connection's operation phase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// Its operation was answered (the device list, or an import refused).
    Answered,
    /// Its import was accepted (the reply is the device thread's to send).
    Imported,
}

/// Read the connection's operation and answer it, or accept its import.
fn handshake(stream: &mut TcpStream, exported: &Exported) -> Result<Ended, String> {
    let timeout = Some(Duration::from_secs(OPERATION_TIMEOUT_S));
    stream
        .set_read_timeout(timeout)
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let mut header = [0u8; protocol::OP_HEADER_LEN];
    stream
        .read_exact(&mut header)
        .map_err(|e| format!("operation: {e}"))?;
    let operation = protocol::parse_operation(&header).map_err(|e| e.to_string())?;
    if exported.trace {
        eprintln!("usbip: {operation:?}");
    }
    if operation == Operation::DevList {
        let reply = protocol::devlist_reply(std::slice::from_ref(&*exported.info));
        stream.write_all(&reply).map_err(|e| e.to_string())?;
        return Ok(Ended::Answered);
    }
    let mut busid = [0u8; protocol::BUSID_LEN];
    stream
        .read_exact(&mut busid)
        .map_err(|e| format!("bus id: {e}"))?;
    let busid = protocol::parse_busid(&busid).map_err(|e| e.to_string())?;
    let refused = if busid != exported.info.busid {
        Some(protocol::ST_NODEV)
    } else if exported.imported.swap(true, Ordering::AcqRel) {
        Some(protocol::ST_DEV_BUSY)
    } else {
        None
    };
    if let Some(status) = refused {
        let _ = stream.write_all(&protocol::import_refused(status));
        return Err(format!("import of `{busid}` refused (status {status})"));
    }
    Ok(Ended::Imported)
}

/// Hand an accepted import to the device's thread, with TCP keepalive on.
fn hand_over(stream: TcpStream, exported: &Exported) {
    if let Err(e) = stream.set_read_timeout(None) {
        exported.imported.store(false, Ordering::Release);
        eprintln!("readerkit usbip-serve: {e}");
        return;
    }
    if let Err(e) = keep_alive(&stream) {
        // Served all the same: only a vanished client would go unnoticed.
        eprintln!("readerkit usbip-serve: TCP keepalive: {e}");
    }
    if exported.imports.send(stream).is_err() {
        exported.imported.store(false, Ordering::Release);
        eprintln!("readerkit usbip-serve: the device is gone");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::getsockopt;
    use std::net::Ipv4Addr;

    /// `keep_alive` on the server's end of a connected loopback pair: the
    /// options read back are the ones an imported connection is meant to
    /// have (the integration test `an_imported_connection_has_a_keepalive_timer`
    /// shows the handshake calls it on one). A peer vanishing for real (probes
    /// or data unanswered for a minute) is not played out.
    #[test]
    fn keep_alive_sets_the_keepalive_timers_and_the_user_timeout() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (served, _) = listener.accept().unwrap();
        assert_eq!(getsockopt(&served, sockopt::TcpUserTimeout), Ok(0));
        keep_alive(&served).unwrap();
        let read_back = (
            getsockopt(&served, sockopt::KeepAlive),
            getsockopt(&served, sockopt::TcpKeepIdle),
            getsockopt(&served, sockopt::TcpKeepInterval),
            getsockopt(&served, sockopt::TcpKeepCount),
            getsockopt(&served, sockopt::TcpUserTimeout),
        );
        assert_eq!(
            read_back,
            (Ok(true), Ok(30), Ok(10), Ok(3), Ok(60_000)),
            "SO_KEEPALIVE, TCP_KEEPIDLE s, TCP_KEEPINTVL s, TCP_KEEPCNT, TCP_USER_TIMEOUT ms"
        );
    }
}

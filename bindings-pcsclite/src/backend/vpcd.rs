//! `vpcd:PORT` / `vpcd:HOST:PORT`: an APDU-level reader speaking vsmartcard's vpcd
//! protocol. It listens on 127.0.0.1:PORT (or HOST:PORT) for one virtual card at a
//! time (`vicc`, jCardSim, ...); the card is present while it is connected.
//!
//! Every message either way is a 2-byte big-endian length and that many bytes. A
//! 1-byte message from the reader is a control command: 0 power off, 1 power on,
//! 2 reset, 4 get ATR (answered with the ATR); anything longer is a command APDU,
//! answered with the response APDU.

use super::{part10_vendor, tracking_by_watcher};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use readerkit::caps::{IfdVersion, ReaderCapabilities, ReaderType, VendorAttributes, attr_string};
use readerkit::device::{AtrBuffer, ProtocolCall, TransmitCall};
use readerkit::ioctl::PowerAction;
use readerkit::timing::Timing;
use readerkit::{Device, ReaderFunctions, Status};

use super::Worker;
use crate::platform::StdPlatform;

/// Largest vpcd message (the length field is 16 bits).
pub const MAX_MESSAGE: usize = 0xFFFF;
/// `dwMaxAPDUDataSize` of a `vpcd:` reader: a whole extended command APDU
/// (7 header bytes, 2 for Le) must fit one message.
pub const MAX_APDU_DATA: u32 = (MAX_MESSAGE - 9) as u32;
/// How long the card may take to answer one message.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the listener looks for a new card or a closed connection.
const TICK: Duration = Duration::from_millis(10);

const CTRL_OFF: u8 = 0;
const CTRL_ON: u8 = 1;
const CTRL_RESET: u8 = 2;
const CTRL_ATR: u8 = 4;

/// The connection to the card, shared by the driver and the listener thread.
type Connection = Arc<Mutex<Option<TcpStream>>>;

fn lock(conn: &Connection) -> MutexGuard<'_, Option<TcpStream>> {
    conn.lock().unwrap_or_else(|e| e.into_inner())
}

/// The driver context of a `vpcd:` reader.
#[derive(Debug)]
pub struct Vpcd {
    conn: Connection,
    reply: Vec<u8>,
}

/// A `vpcd:` device.
pub type VpcdDevice = Device<StdPlatform, Vpcd>;

impl Vpcd {
    /// Send one message; with `answer`, receive the reply into `self.reply`. Any I/O
    /// failure drops the connection (the listener then reports the card removed).
    fn exchange(&mut self, message: &[u8], answer: bool) -> Result<(), Status> {
        let len = u16::try_from(message.len()).map_err(|_| Status::InvalidParameter)?;
        let mut guard = lock(&self.conn);
        let stream = guard.as_mut().ok_or(Status::NoMedia)?;
        let result = (|| -> std::io::Result<()> {
            let mut frame = Vec::with_capacity(2 + message.len());
            frame.extend_from_slice(&len.to_be_bytes());
            frame.extend_from_slice(message);
            stream.write_all(&frame)?;
            if answer {
                let mut head = [0u8; 2];
                stream.read_exact(&mut head)?;
                let n = usize::from(u16::from_be_bytes(head));
                self.reply.resize(n, 0);
                stream.read_exact(&mut self.reply)?;
            }
            Ok(())
        })();
        match result {
            Ok(()) if answer && self.reply.is_empty() => {
                // An empty answer is how a vpcd card says it is gone.
                *guard = None;
                Err(Status::NoMedia)
            }
            Ok(()) => Ok(()),
            Err(e) => {
                *guard = None;
                Err(match e.kind() {
                    ErrorKind::WouldBlock | ErrorKind::TimedOut => Status::IoTimeout,
                    _ => Status::NoMedia,
                })
            }
        }
    }

    fn power(&mut self, action: PowerAction, atr: &mut AtrBuffer) -> Result<(), Status> {
        let control = match action {
            PowerAction::PowerDown => return self.exchange(&[CTRL_OFF], false),
            PowerAction::ColdReset => CTRL_ON,
            PowerAction::WarmReset => CTRL_RESET,
        };
        self.exchange(&[control], false)?;
        self.exchange(&[CTRL_ATR], true)?;
        atr.clear();
        atr.extend_from_slice(&self.reply)
            .map_err(|_| Status::UnrecognizedMedia)
    }

    /// The card negotiates nothing over vpcd: the protocol is only recorded.
    fn set_protocol(&mut self, call: &ProtocolCall<'_>) -> Result<Timing, Status> {
        Ok(call.card.timing)
    }

    fn transmit(&mut self, call: &TransmitCall<'_>, reply: &mut [u8]) -> Result<usize, Status> {
        self.exchange(call.apdu, true)?;
        let n = self.reply.len();
        reply
            .get_mut(..n)
            .ok_or(Status::BufferTooSmall)?
            .copy_from_slice(&self.reply);
        Ok(n)
    }
}

/// Parse `PORT` or `HOST:PORT`.
fn address(spec: &str) -> Result<String, Status> {
    let (host, port) = match spec.rsplit_once(':') {
        Some((host, port)) => (host, port),
        None => ("127.0.0.1", spec),
    };
    let port: u16 = port.parse().map_err(|_| Status::NotSupported)?;
    if host.is_empty() {
        return Err(Status::NotSupported);
    }
    Ok(format!("{host}:{port}"))
}

/// Open a `vpcd:` reader; `spec` is what follows `vpcd:`.
pub fn open(spec: &str, index: u32) -> Result<(Arc<VpcdDevice>, Worker), Status> {
    let addr = address(spec)?;
    let listener = TcpListener::bind(&addr).map_err(|e| {
        crate::log::log(
            crate::log::ERROR,
            &format!("vpcd: cannot listen on {addr}: {e}"),
        );
        Status::Unsuccessful
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|_| Status::Unsuccessful)?;
    let conn: Connection = Arc::new(Mutex::new(None));
    let functions = ReaderFunctions {
        power: Some(Vpcd::power),
        set_protocol: Some(Vpcd::set_protocol),
        transmit: Some(Vpcd::transmit),
        card_tracking: Some(tracking_by_watcher),
        vendor_ioctl: Some(part10_vendor::<_, MAX_APDU_DATA>),
        ..ReaderFunctions::NONE
    };
    let device = Arc::new(Device::new(
        StdPlatform::new(),
        functions,
        Vpcd {
            conn: conn.clone(),
            reply: Vec::new(),
        },
        ReaderCapabilities {
            reader_type: ReaderType::VENDOR,
            channel: index as u16,
            ..ReaderCapabilities::typical()
        },
        VendorAttributes {
            vendor_name: attr_string(b"readerkit"),
            ifd_type: attr_string(format!("vpcd:{spec}").as_bytes()),
            unit: index,
            ifd_version: IfdVersion {
                major: 0,
                minor: 1,
                build: 0,
            },
            serial_number: attr_string(b"VPCD0001"),
        },
    ));
    let dev = device.clone();
    let worker = super::spawn("readerkit-vpcd", move |stop| {
        listen(listener, conn, dev, stop)
    })?;
    Ok((device, worker))
}

/// The listener thread: accept one card at a time, report insertion, notice the
/// connection closing (or the driver dropping it) and report removal.
fn listen(listener: TcpListener, conn: Connection, device: Arc<VpcdDevice>, stop: Arc<AtomicBool>) {
    let mut connected = false;
    while !stop.load(Ordering::Acquire) {
        let present = match conn.try_lock() {
            Ok(mut guard) => {
                if let Some(stream) = guard.as_ref() {
                    if closed(stream) {
                        *guard = None;
                    }
                }
                guard.is_some()
            }
            // The driver is talking to the card: it is there.
            Err(_) => true,
        };
        if connected && !present {
            connected = false;
            device.card_removed();
        }
        if !connected {
            match listener.accept() {
                Ok((stream, _)) => {
                    if configure(&stream).is_ok() {
                        *lock(&conn) = Some(stream);
                        connected = true;
                        device.card_inserted();
                        continue;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => crate::log::log(crate::log::ERROR, &format!("vpcd: accept: {e}")),
            }
        }
        std::thread::sleep(TICK);
    }
    if connected {
        *lock(&conn) = None;
        device.card_removed();
    }
}

fn configure(stream: &TcpStream) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))
}

/// Has the card closed the connection? (Only called while no exchange runs.)
fn closed(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return true;
    }
    let mut byte = [0u8; 1];
    let gone = match stream.peek(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    };
    gone || stream.set_nonblocking(false).is_err()
}

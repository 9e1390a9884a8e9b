//! The operation phase of USB/IP connections, off the device's thread: a device
//! list is answered at once (also while the device is imported), an import of the
//! exported bus id is handed to the device's thread, which owns the device; an
//! import while another holds the device is refused as busy, one of another bus id
//! as no such device.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::time::Duration;

use readerkit_usbip::protocol::{self, DeviceInfo, Operation};

/// How long a client may take to send its operation and bus id, in s.
const OPERATION_TIMEOUT_S: u64 = 10;

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
/// [`OPERATION_TIMEOUT_S`]).
pub(crate) fn accept(listener: &TcpListener, exported: &Exported) {
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let exported = exported.clone();
                std::thread::spawn(move || {
                    if let Err(e) = handshake(stream, &exported) {
                        eprintln!("readerkit usbip-serve: {e}");
                    }
                });
            }
            Err(e) => eprintln!("readerkit usbip-serve: accept: {e}"),
        }
    }
}

fn handshake(mut stream: TcpStream, exported: &Exported) -> Result<(), String> {
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
        return stream.write_all(&reply).map_err(|e| e.to_string());
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
    stream.set_read_timeout(None).map_err(|e| e.to_string())?;
    if exported.imports.send(stream).is_err() {
        exported.imported.store(false, Ordering::Release);
        return Err("the device is gone".into());
    }
    Ok(())
}

//! Whether a daemon a test started is ready for clients: its socket is in the
//! listening state, read from the kernel's socket table (`/proc/net/unix`), never
//! by connecting (a connection would start a socket-activated daemon early, or be
//! served as a client).
//!
//! The socket file existing is not enough: a server binds (which creates the file)
//! before it listens, and a client connecting in between is refused with
//! ECONNREFUSED. systemd-socket-activate does exactly that (`socket_address_listen`:
//! `bind`, then `listen`), and libpcsclite reports the refusal as
//! `SCARD_E_NO_SERVICE` without retrying.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::owned_child::OwnedChild;

/// The kernel's table of Unix-domain sockets of this network namespace.
const UNIX_TABLE: &str = "/proc/net/unix";
/// `__SO_ACCEPTCON`: the flag `/proc/net/unix` shows for a socket in the listening
/// state (the kernel's `unix_seq_show`).
const SO_ACCEPTCON: u32 = 0x0001_0000;
/// How often [`wait_for_unix`] looks again, in ms.
const POLL_MS: u64 = 5;

/// Whether a Unix-domain socket bound to `path` is listening.
///
/// # Errors
/// If `/proc/net/unix` cannot be read.
pub fn unix_listening(path: &Path) -> io::Result<bool> {
    let table = std::fs::read(UNIX_TABLE)?;
    Ok(table_has_listener(&table, path.as_os_str().as_bytes()))
}

/// Whether `table` (the text of `/proc/net/unix`) has a listening socket bound to
/// `path`.
fn table_has_listener(table: &[u8], path: &[u8]) -> bool {
    table
        .split(|&b| b == b'\n')
        .skip(1) // the header
        .filter_map(listening_path)
        .any(|bound| bound == path)
}

/// The path a row of `/proc/net/unix` is bound to, if the socket listens.
///
/// A row is `Num RefCount Protocol Flags Type St Inode`, then ` PATH` when the
/// socket is bound; fields are separated by spaces, Inode is padded with spaces to
/// five characters; Flags is hexadecimal.
fn listening_path(row: &[u8]) -> Option<&[u8]> {
    let mut rest = row;
    let mut flags = None;
    for field in 0..7 {
        let start = rest.iter().position(|&b| b != b' ')?;
        rest = rest.get(start..)?;
        let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        let (text, after) = rest.split_at(end);
        if field == 3 {
            flags = u32::from_str_radix(std::str::from_utf8(text).ok()?, 16).ok();
        }
        rest = after;
    }
    let path = rest.strip_prefix(b" ")?;
    (flags? & SO_ACCEPTCON != 0).then_some(path)
}

/// Wait until `child` (the daemon, or the socket activator that holds its socket)
/// listens on the Unix-domain socket `path`.
///
/// # Panics
/// If `child` exits first, or `timeout` passes (a hang guard), with `what` (the
/// daemon's name, and where its log is) in the message.
pub fn wait_for_unix(child: &mut OwnedChild, path: &Path, timeout: Duration, what: &str) {
    let deadline = Instant::now() + timeout;
    loop {
        match unix_listening(path) {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => panic!("{what}: cannot read {UNIX_TABLE}: {e}"),
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{what} exited ({status}) before listening on {}",
                path.display()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {} within {timeout:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(POLL_MS));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, bind, listen, socket};
    use std::os::fd::AsRawFd;

    #[test]
    fn rows_of_the_kernel_table() {
        let table = b"Num       RefCount Protocol Flags    Type St Inode Path\n\
            0000000000000000: 00000002 00000000 00010000 0001 01 23456 /run/a.sock\n\
            0000000000000000: 00000002 00000000 00000000 0001 01 23457 /run/bound.sock\n\
            0000000000000000: 00000003 00000000 00000000 0001 03   789 /run/a.sock\n\
            0000000000000000: 00000002 00000000 00010000 0001 01    12 /run/with space\n\
            0000000000000000: 00000002 00000000 00010000 0005 01 23458 @abstract\n\
            0000000000000000: 00000002 00000000 00000000 0002 01 23459\n";
        assert!(table_has_listener(table, b"/run/a.sock"));
        assert!(table_has_listener(table, b"/run/with space"));
        assert!(table_has_listener(table, b"@abstract"));
        // Bound, not listening: the file exists, a client is refused.
        assert!(!table_has_listener(table, b"/run/bound.sock"));
        assert!(!table_has_listener(table, b"/run/other.sock"));
        assert!(!table_has_listener(table, b"/run/a"));
        // Hostile rows: nothing read out of them, no panic.
        for row in [
            &b""[..],
            b"0000000000000000:",
            b"0000000000000000: 00000002 00000000 zz010000 0001 01 1 /run/a.sock",
            b"0000000000000000: 00000002 00000000 00010000 0001 01 1",
            b"0000000000000000: 00000002 00000000 00010000",
            b"                                                             ",
        ] {
            assert_eq!(
                listening_path(row),
                None,
                "{:?}",
                String::from_utf8_lossy(row)
            );
        }
    }

    #[test]
    fn a_bound_socket_is_ready_only_once_it_listens() {
        let path =
            std::env::temp_dir().join(format!("readerkit-listening-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let socket = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .expect("a Unix stream socket");
        bind(socket.as_raw_fd(), &UnixAddr::new(&path).unwrap()).expect("bind");
        // What systemd-socket-activate's client sees between its bind and listen:
        // the file is there (the old readiness check), a connection is refused.
        assert!(path.exists());
        let refused = std::os::unix::net::UnixStream::connect(&path).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        assert!(!unix_listening(&path).unwrap(), "bound is not ready");

        listen(&socket, 1).expect("listen");
        assert!(unix_listening(&path).unwrap(), "listening is ready");
        std::os::unix::net::UnixStream::connect(&path).expect("a client gets through");

        drop(socket);
        assert!(!unix_listening(&path).unwrap(), "closed is not ready");
        std::fs::remove_file(&path).unwrap();
    }
}

//! The two system calls std does not offer: `poll(2)` over several descriptors
//! with a deadline, and `FIONREAD` (bytes received but not yet read).

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

/// What to wait for on one descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Interest {
    /// Data (or the end of the stream, or an error) to read.
    Read,
    /// Room to write (or an error).
    Write,
}

/// Wait until one of `fds` is ready for its interest or `deadline` passes (`None`:
/// no deadline). Returns which are ready (all `false` when the time ran out). A
/// hang-up or an error counts as ready: the next read or write reports it.
pub(super) fn wait(
    fds: &[(&dyn AsRawFd, Interest)],
    deadline: Option<Instant>,
) -> io::Result<Vec<bool>> {
    let mut polled: Vec<libc::pollfd> = fds
        .iter()
        .map(|(fd, interest)| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: match interest {
                Interest::Read => libc::POLLIN,
                Interest::Write => libc::POLLOUT,
            },
            revents: 0,
        })
        .collect();
    loop {
        let timeout_ms: libc::c_int = match deadline {
            None => -1,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                // Round up so that a wake-up never comes before the deadline.
                let ms = left.as_micros().div_ceil(1000);
                libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
            }
        };
        // SAFETY: `polled` is a live, exclusively borrowed array of `polled.len()`
        // pollfd structures; poll(2) writes only their `revents` fields.
        let rc = unsafe {
            libc::poll(
                polled.as_mut_ptr(),
                polled.len() as libc::nfds_t,
                timeout_ms,
            )
        };
        if rc >= 0 {
            return Ok(polled.iter().map(|p| p.revents != 0).collect());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Bytes the kernel holds for `fd` that nobody has read yet.
pub(super) fn bytes_pending(fd: RawFd) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer, which points at a live
    // local of that type.
    let rc = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n as *mut libc::c_int) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(n).unwrap_or(0))
}

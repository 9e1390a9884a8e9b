//! Who has a pseudo-terminal's host side open, from inotify events on its path
//! (`/dev/pts/N`): the kernel queues an IN_OPEN for every open, an IN_CLOSE_* for
//! every last close of an opened file and an IN_MODIFY for every write, in the
//! order they happen. None is lost between two looks: a host that closes and a
//! next one that opens before `ccid-serve` runs again are two hosts, the first
//! one's close seen first.
//!
//! The kernel folds an event into the one queued just before it, if that one
//! is not read yet and the two are alike (same mask on the same watch): two
//! opens in a row with nothing queued between them would be one IN_OPEN. Hosts'
//! opens and closes alternate, so nobody else may open the path: `ccid-serve`
//! never does. It keeps its own host-side end (the slave descriptor of
//! `openpty`, opened before the watch is added, so never seen) for its whole
//! life, and drops what a gone host left unread through it
//! ([`drop_host_input`]). Before, it opened the path to do that, and that open,
//! folded into a next host's unread open, hid that host until it closed.
//!
//! Each event is queued once its deed is done: a host's bytes are in the
//! terminal before its IN_MODIFY, and its IN_OPEN is queued before the host
//! holds the file it could write with. So the bytes of a host whose close has
//! been read are all in the terminal, and bytes read before an IN_OPEN was
//! queued cannot be the new host's.
//!
//! If the kernel's queue overflows (IN_Q_OVERFLOW: a host that stalls
//! `ccid-serve` for about 16 384 events) the count of hosts cannot be made
//! again: the terminal never hangs up while `ccid-serve` holds its own end. The
//! rule is then that the host that had it is gone (its command stopped, its
//! unread bytes dropped) and that a host has it afterwards, served as its bytes
//! come ([`Hosts::Unknown`]); the next close ends that host, however many had
//! the terminal open.

use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::termios::{FlushArg, tcflush};

/// A change of who has the terminal open, in the order it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostChange {
    /// The terminal was opened while nobody had it open: a new host.
    Opened,
    /// Its last opener closed it: the host has gone.
    Closed,
}

/// How many hosts have the terminal open, as the events read so far say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hosts {
    /// This many opened files of the terminal are open (hosts' only).
    Counted(usize),
    /// Events were lost (IN_Q_OVERFLOW): a host is taken to have the
    /// terminal, how many is unknown; the next close ends it.
    Unknown,
}

/// Drop what the terminal holds for its host and the host has not read,
/// through `ccid-serve`'s own host-side end `host_end` (the master side
/// cannot: its flush leaves the host's input alone). Never opens the
/// terminal's path (module docs). `false` if the flush failed (the bytes stay).
pub(crate) fn drop_host_input(host_end: impl AsFd) -> bool {
    tcflush(host_end.as_fd(), FlushArg::TCIFLUSH).is_ok()
}

/// The opens, closes and writes of a terminal's host side, as inotify reports
/// them (hosts' only: `ccid-serve` never opens the path, module docs).
pub(crate) struct HostWatch {
    inotify: Inotify,
    hosts: Hosts,
    /// How many writes (IN_MODIFY events) have been read from inotify: each
    /// write's number.
    writes_queued: u64,
    /// The number of the last write handed out, the host's that has (or had)
    /// the terminal.
    writes_done: u64,
    /// Up to which number the writes' bytes are known read: those read from
    /// inotify before a look found nothing left in the terminal.
    writes_read: u64,
    /// Events read and not yet handed out by [`HostWatch::next_change`].
    pending: VecDeque<Event>,
}

/// One inotify event that matters here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Open,
    Close,
    /// A write, and its number.
    Write(u64),
    /// The kernel's queue overflowed: events were lost (writes among them,
    /// taken for one, numbered).
    Overflow(u64),
    /// After an overflow that ended a host: a host is taken to have the
    /// terminal.
    Presumed,
}

impl HostWatch {
    /// Watch the terminal at `path`, which nobody has open now.
    pub(crate) fn new(path: &Path) -> Result<HostWatch, String> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .map_err(|e| format!("inotify: {e}"))?;
        let mask = AddWatchFlags::IN_OPEN | AddWatchFlags::IN_CLOSE | AddWatchFlags::IN_MODIFY;
        inotify
            .add_watch(path, mask)
            .map_err(|e| format!("inotify on {}: {e}", path.display()))?;
        Ok(HostWatch {
            inotify,
            hosts: Hosts::Counted(0),
            writes_queued: 0,
            writes_done: 0,
            writes_read: 0,
            pending: VecDeque::new(),
        })
    }

    /// The descriptor to poll: readable while events wait.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.inotify.as_fd()
    }

    /// Read the events waiting (never waits); they come out of
    /// [`HostWatch::next_change`].
    pub(crate) fn read(&mut self) -> Result<(), String> {
        loop {
            let events = match self.inotify.read_events() {
                Ok(events) => events,
                Err(Errno::EAGAIN) => return Ok(()),
                Err(e) => return Err(format!("reading inotify: {e}")),
            };
            for event in events {
                let mask = event.mask;
                if mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                    self.writes_queued += 1;
                    self.pending.push_back(Event::Overflow(self.writes_queued));
                }
                if mask.contains(AddWatchFlags::IN_OPEN) {
                    self.pending.push_back(Event::Open);
                }
                if mask.contains(AddWatchFlags::IN_MODIFY) {
                    self.writes_queued += 1;
                    self.pending.push_back(Event::Write(self.writes_queued));
                }
                if mask.intersects(AddWatchFlags::IN_CLOSE) {
                    self.pending.push_back(Event::Close);
                }
            }
        }
    }

    /// The next change of host among the events read, in order.
    pub(crate) fn next_change(&mut self) -> Option<HostChange> {
        while let Some(event) = self.pending.pop_front() {
            match (event, self.hosts) {
                (Event::Write(number), _) => self.writes_done = number,
                (Event::Open, Hosts::Unknown) => {}
                (Event::Open, Hosts::Counted(open)) => {
                    self.hosts = Hosts::Counted(open + 1);
                    if open == 0 {
                        return Some(HostChange::Opened);
                    }
                }
                (Event::Close, Hosts::Unknown) => {
                    self.hosts = Hosts::Counted(0);
                    return Some(HostChange::Closed);
                }
                (Event::Close, Hosts::Counted(open)) => {
                    // A close with no open counted cannot come (only hosts'
                    // opens and closes are queued): it changes nothing.
                    if open > 0 {
                        self.hosts = Hosts::Counted(open - 1);
                        if open == 1 {
                            return Some(HostChange::Closed);
                        }
                    }
                }
                (Event::Overflow(number), hosts) => {
                    // What was lost is unknown (module docs): the host (if
                    // any) is taken for gone and its bytes for unread, and a
                    // host for there afterwards.
                    self.writes_done = number;
                    self.hosts = Hosts::Unknown;
                    if hosts == Hosts::Counted(0) {
                        return Some(HostChange::Opened);
                    }
                    self.pending.push_front(Event::Presumed);
                    return Some(HostChange::Closed);
                }
                (Event::Presumed, _) => return Some(HostChange::Opened),
            }
        }
        None
    }

    /// `true` if the events read and not handed out yet end the host that has
    /// the terminal open now (its close, or a lost event).
    pub(crate) fn close_pending(&self) -> bool {
        let mut hosts = self.hosts;
        for event in &self.pending {
            match (event, hosts) {
                (Event::Write(_) | Event::Presumed | Event::Open, Hosts::Unknown)
                | (Event::Write(_) | Event::Presumed | Event::Close, Hosts::Counted(0)) => {}
                (Event::Overflow(_), _) | (Event::Close, Hosts::Unknown | Hosts::Counted(1)) => {
                    return true;
                }
                (Event::Open, Hosts::Counted(open)) => hosts = Hosts::Counted(open + 1),
                (Event::Close, Hosts::Counted(open)) => hosts = Hosts::Counted(open - 1),
                (Event::Write(_) | Event::Presumed, Hosts::Counted(_)) => {}
            }
        }
        false
    }

    /// `true` if an event read and not handed out yet says a host wrote after
    /// an open.
    pub(crate) fn write_after_open_pending(&self) -> bool {
        self.pending
            .iter()
            .skip_while(|&&e| e != Event::Open)
            .any(|e| matches!(e, Event::Write(_)))
    }

    /// `true` while a write handed out (the host's) may have left bytes in
    /// the terminal not read yet.
    pub(crate) fn unread_writes(&self) -> bool {
        self.writes_read < self.writes_done
    }

    /// How many writes have been read from inotify so far: give it to
    /// [`HostWatch::all_read`] once a look after this call finds the terminal
    /// empty.
    pub(crate) fn writes_seen(&self) -> u64 {
        self.writes_queued
    }

    /// The terminal was found empty after `writes_seen` writes had been read
    /// from inotify: their bytes are all read.
    pub(crate) fn all_read(&mut self, writes_seen: u64) {
        self.writes_read = self.writes_read.max(writes_seen);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;

    /// A terminal, its path and `ccid-serve`'s own host-side end, as `serve`
    /// keeps them: the slave end opened before the watch is added.
    struct Terminal {
        _master: std::os::fd::OwnedFd,
        own_end: std::os::fd::OwnedFd,
        path: std::path::PathBuf,
    }

    fn terminal() -> Terminal {
        let pty = nix::pty::openpty(None, None).unwrap();
        let path = nix::unistd::ttyname(pty.slave.as_raw_fd()).unwrap();
        Terminal {
            _master: pty.master,
            own_end: pty.slave,
            path,
        }
    }

    fn open(path: &Path) -> std::fs::File {
        OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::libc::O_NOCTTY)
            .open(path)
            .unwrap()
    }

    fn changes(watch: &mut HostWatch) -> Vec<HostChange> {
        watch.read().unwrap();
        std::iter::from_fn(|| watch.next_change()).collect()
    }

    /// A fresh terminal and a watch on it, added after `ccid-serve`'s own end.
    fn watched() -> (Terminal, HostWatch) {
        let terminal = terminal();
        let watch = HostWatch::new(&terminal.path).unwrap();
        (terminal, watch)
    }

    /// A host opens the terminal at `path` and `watch` sees it come; a failure
    /// points at the test's line.
    #[track_caller]
    fn host_opens(path: &Path, watch: &mut HostWatch) -> std::fs::File {
        let host = open(path);
        assert_eq!(changes(watch), [HostChange::Opened], "the host's open");
        host
    }

    #[test]
    fn a_close_and_an_open_between_two_looks_are_two_hosts() {
        let (terminal, mut watch) = watched();
        let path = &terminal.path;
        let mut first = open(path);
        first.write_all(b"left behind").unwrap();
        drop(first);
        let _second = open(path);
        watch.read().unwrap();
        assert!(watch.close_pending());
        assert_eq!(watch.next_change(), Some(HostChange::Opened));
        assert_eq!(watch.next_change(), Some(HostChange::Closed));
        // The first host's write came before its close.
        assert!(watch.unread_writes());
        assert!(!watch.close_pending());
        // The next host has not written.
        assert!(!watch.write_after_open_pending());
        assert_eq!(watch.next_change(), Some(HostChange::Opened));
        assert_eq!(watch.next_change(), None);
    }

    /// The gone host's unread input is dropped after its close is read,
    /// maybe while the next host's open is queued and unread: that open is
    /// still seen (before, ccid-serve opened the path to flush, and the
    /// kernel folded its open into the host's: `[]`).
    #[test]
    fn the_flush_after_a_close_hides_no_next_host() {
        let (terminal, mut watch) = watched();
        let path = &terminal.path;
        let first = host_opens(path, &mut watch);
        drop(first);
        assert_eq!(changes(&mut watch), [HostChange::Closed]);
        let _second = open(path);
        assert!(drop_host_input(&terminal.own_end));
        assert_eq!(changes(&mut watch), [HostChange::Opened]);
    }

    #[test]
    fn a_host_ends_with_the_last_close_and_writes_count_until_read() {
        let (terminal, mut watch) = watched();
        let path = &terminal.path;
        let host = host_opens(path, &mut watch);
        // A second file of the same host's, opened and closed.
        drop(open(path));
        assert_eq!(changes(&mut watch), []);
        (&host).write_all(b"x").unwrap();
        assert_eq!(changes(&mut watch), []);
        assert!(watch.unread_writes());
        let seen = watch.writes_seen();
        watch.all_read(seen);
        assert!(!watch.unread_writes());
        drop(host);
        assert_eq!(changes(&mut watch), [HostChange::Closed]);
    }

    /// Events lost (the kernel's queue overflowed while nobody read it): the
    /// host that had the terminal is taken for gone, and a host for there
    /// afterwards, which the next close ends.
    #[test]
    fn after_lost_events_the_host_is_gone_and_one_is_there_until_a_close() {
        let (terminal, mut watch) = watched();
        let path = &terminal.path;
        let host = host_opens(path, &mut watch);
        let limit: usize = std::fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // An open and a close each, never two alike in a row: none folded.
        for _ in 0..limit / 2 + 1 {
            drop(open(path));
        }
        watch.read().unwrap();
        assert!(watch.close_pending());
        assert_eq!(watch.next_change(), Some(HostChange::Closed));
        assert_eq!(watch.next_change(), Some(HostChange::Opened));
        assert_eq!(watch.next_change(), None);
        // The bytes of the host taken for gone count as unread.
        assert!(watch.unread_writes());
        // Another file opened and closed: the first close ends the host.
        drop(open(path));
        assert_eq!(changes(&mut watch), [HostChange::Closed]);
        drop(host);
        assert_eq!(changes(&mut watch), []);
    }
}

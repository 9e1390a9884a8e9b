//! Who has a pseudo-terminal's host side open, from inotify events on its path
//! (`/dev/pts/N`): the kernel queues an IN_OPEN for every open, an IN_CLOSE_* for
//! every last close of an opened file and an IN_MODIFY for every write, in the
//! order they happen. None is lost between two looks: a host that closes and a
//! next one that opens before `ccid-serve` runs again are two hosts, the first
//! one's close seen first.
//!
//! With one exception: the kernel folds an event into the one queued just
//! before it, if that one is not read yet and the two are alike (same mask on
//! the same watch), so two opens in a row with nothing queued between them are
//! one IN_OPEN (and two such closes one IN_CLOSE). Hosts' opens and closes
//! alternate, but `ccid-serve`'s own open ([`HostWatch::own_open`]) can follow
//! a next host's open that is still queued: the two are one event, taken for
//! the own open, and that host is not seen until it closes (a known gap:
//! inotify says nothing of who opened).
//!
//! Each event is queued once its deed is done: a host's bytes are in the
//! terminal before its IN_MODIFY, and its IN_OPEN is queued before the host
//! holds the file it could write with. So the bytes of a host whose close has
//! been read are all in the terminal, and bytes read before an IN_OPEN was
//! queued cannot be the new host's.

use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

/// A change of who has the terminal open, in the order it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostChange {
    /// The terminal was opened while nobody had it open: a new host.
    Opened,
    /// Its last opener closed it: the host has gone.
    Closed,
}

/// The opens, closes and writes of a terminal's host side, as inotify reports
/// them, less those of `ccid-serve`'s own opens ([`HostWatch::own_open`]).
pub(crate) struct HostWatch {
    inotify: Inotify,
    /// How many opened files of the terminal are open (hosts' only).
    open: usize,
    /// Opens and closes of `ccid-serve`'s own, not seen yet among the events.
    own_opens: usize,
    own_closes: usize,
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
            open: 0,
            own_opens: 0,
            own_closes: 0,
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

    /// The next change of host among the events read, in order; `hung_up` says
    /// whether nobody has the terminal open now (asked only after an overflow,
    /// to count again).
    pub(crate) fn next_change(&mut self, hung_up: impl Fn() -> bool) -> Option<HostChange> {
        while let Some(event) = self.pending.pop_front() {
            match event {
                Event::Write(number) => self.writes_done = number,
                Event::Open if self.own_opens > 0 => self.own_opens -= 1,
                Event::Close if self.own_closes > 0 => self.own_closes -= 1,
                Event::Open => {
                    self.open += 1;
                    if self.open == 1 {
                        return Some(HostChange::Opened);
                    }
                }
                Event::Close => {
                    self.open = self.open.saturating_sub(1);
                    if self.open == 0 {
                        return Some(HostChange::Closed);
                    }
                }
                Event::Overflow(number) => {
                    // What was lost is unknown: the host (if any) is taken for
                    // gone and any bytes for unread, and the count starts again
                    // from what the terminal says now.
                    self.writes_done = number;
                    self.own_opens = 0;
                    self.own_closes = 0;
                    let was_open = self.open > 0;
                    self.open = usize::from(!hung_up());
                    if was_open {
                        if self.open > 0 {
                            self.pending.push_front(Event::Open);
                            self.open = 0;
                        }
                        return Some(HostChange::Closed);
                    }
                    if self.open > 0 {
                        return Some(HostChange::Opened);
                    }
                }
            }
        }
        None
    }

    /// `true` if the events read and not handed out yet end the host that has
    /// the terminal open now (its close, or a lost event).
    pub(crate) fn close_pending(&self) -> bool {
        let (mut open, mut own_opens, mut own_closes) =
            (self.open, self.own_opens, self.own_closes);
        for event in &self.pending {
            match event {
                Event::Write(_) => {}
                Event::Overflow(_) => return true,
                Event::Open if own_opens > 0 => own_opens -= 1,
                Event::Close if own_closes > 0 => own_closes -= 1,
                Event::Open => open += 1,
                Event::Close => {
                    open = open.saturating_sub(1);
                    if open == 0 {
                        return true;
                    }
                }
            }
        }
        false
    }

    /// Take every host for gone (the terminal hung up without a close among
    /// the events: some were lost).
    pub(crate) fn forget_hosts(&mut self) {
        self.open = 0;
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

    /// `ccid-serve` itself opened and closed the terminal (between two reads):
    /// those two events are not a host's. Its open is folded into a host's
    /// open queued just before it and not read yet (module docs): that host's
    /// open is then taken for this one.
    pub(crate) fn own_open(&mut self) {
        self.own_opens += 1;
        self.own_closes += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;

    fn terminal() -> (std::os::fd::OwnedFd, std::path::PathBuf) {
        let pty = nix::pty::openpty(None, None).unwrap();
        let path = nix::unistd::ttyname(pty.slave.as_raw_fd()).unwrap();
        drop(pty.slave);
        (pty.master, path)
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
        std::iter::from_fn(|| watch.next_change(|| false)).collect()
    }

    #[test]
    fn a_close_and_an_open_between_two_looks_are_two_hosts() {
        let (_master, path) = terminal();
        let mut watch = HostWatch::new(&path).unwrap();
        let mut first = open(&path);
        first.write_all(b"left behind").unwrap();
        drop(first);
        let _second = open(&path);
        watch.read().unwrap();
        assert!(watch.close_pending());
        assert_eq!(watch.next_change(|| false), Some(HostChange::Opened));
        assert_eq!(watch.next_change(|| false), Some(HostChange::Closed));
        // The first host's write came before its close.
        assert!(watch.unread_writes());
        assert!(!watch.close_pending());
        // The next host has not written.
        assert!(!watch.write_after_open_pending());
        assert_eq!(watch.next_change(|| false), Some(HostChange::Opened));
        assert_eq!(watch.next_change(|| false), None);
    }

    #[test]
    fn own_opens_are_not_hosts_and_writes_count_until_read() {
        let (_master, path) = terminal();
        let mut watch = HostWatch::new(&path).unwrap();
        let host = open(&path);
        assert_eq!(changes(&mut watch), [HostChange::Opened]);
        drop(open(&path));
        watch.own_open();
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
}

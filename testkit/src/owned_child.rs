//! A child process that a test owns with everything it starts: a long-lived
//! server or emulator (QEMU through a script, `readerkit ccid-serve`) must not
//! outlive a failed test. A leftover that inherited the test's stdout or stderr
//! holds that pipe open, so a piped run (`tools/test.sh | tee`, CI) waits for it
//! forever instead of ending with the failure.
//!
//! The child runs in a process group of its own, which [`OwnedChild::kill`] (and
//! the drop, also during a failure's unwinding) kills with SIGKILL as a whole: a
//! script and what it started (QEMU, its `sed`, a `cargo build`). And the
//! child gets SIGKILL from the kernel when the thread that started it ends
//! (Linux `PR_SET_PDEATHSIG`), so it also dies with a test process that is killed
//! or aborts (no drop runs then). Start it on the thread that keeps it (a test's
//! own thread): a helper thread that ends takes the child with it.
//!
//! Nothing outside reaps the child: [`OwnedChild`] hands out its pipes and pid
//! but not the [`Child`], and its own [`OwnedChild::wait`] and
//! [`OwnedChild::try_wait`] record the reaping. Once the child is reaped its pid
//! is free for the kernel to give to another process, which may lead a group of
//! its own: a later `killpg` on that number could kill a stranger. So the group
//! is killed while the exited child, a zombie still, keeps its number taken
//! (looked at with `waitid(WNOWAIT)`), then the child is reaped, and nothing is
//! signalled after.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus};

/// Where an [`OwnedChild`] is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not reaped: its pid, which is also its group's id, is taken.
    Running,
    /// Its group was killed and the child reaped: its pid may now be another
    /// process's, so nothing is signalled any more.
    Reaped,
}

/// A child process in a process group of its own that dies with its owner:
/// killed with its group on drop, and by the kernel when the thread that
/// started it ends. Hands out its pid and pipes; it alone waits for the child.
pub struct OwnedChild {
    child: Child,
    state: State,
}

impl OwnedChild {
    /// Spawn `command` as an owned child (see the module documentation); its
    /// pipes and environment are as `command` sets them.
    ///
    /// # Errors
    /// As [`Command::spawn`].
    pub fn spawn(command: &mut Command) -> io::Result<OwnedChild> {
        let parent = std::process::id();
        command.process_group(0);
        // SAFETY: the closure runs in the forked child before exec and makes only
        // async-signal-safe system calls (prctl, getppid, _exit), no allocation
        // and no lock.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The parent ended between fork and prctl: the signal never comes.
                if libc::getppid() as u32 != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        let child = command.spawn()?;
        Ok(OwnedChild {
            child,
            state: State::Running,
        })
    }

    /// The child's pid (also its process group's id), as [`Child::id`]; after
    /// the child is reaped it may be another process's.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Send the child (not its group) `signal`, as `kill(2)`; nothing once the
    /// child is reaped (its pid may be another process's then).
    ///
    /// # Errors
    /// As `kill(2)`.
    pub fn signal(&self, signal: libc::c_int) -> io::Result<()> {
        if self.state == State::Reaped {
            return Ok(());
        }
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid fits pid_t");
        // SAFETY: kill(2) on our child, not reaped, so the pid is still its own (a
        // zombie's at worst); no memory involved.
        if unsafe { libc::kill(pid, signal) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// The child's stdin pipe, if the command piped it and it was not taken
    /// already.
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    /// The child's stdout pipe, if the command piped it and it was not taken
    /// already.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// The child's stderr pipe, if the command piped it and it was not taken
    /// already.
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.child.stderr.take()
    }

    /// Kill the child's process group with SIGKILL (the child and whatever it
    /// started and did not move to a group of its own) and reap the child. Once;
    /// later calls, and calls after [`OwnedChild::wait`] or a
    /// [`OwnedChild::try_wait`] that saw the child end, do nothing.
    pub fn kill(&mut self) {
        if self.state == State::Reaped {
            return;
        }
        self.kill_group();
        let _ = self.reap();
    }

    /// Wait for the child to end; then kill what it left in its group and reap
    /// it. After the first call that returns `Ok`, the same status again.
    ///
    /// # Errors
    /// As `waitid(2)` and [`Child::wait`].
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        if self.state == State::Running {
            self.exited(0)?;
            self.kill_group();
        }
        self.reap()
    }

    /// If the child has ended: kill what it left in its group, reap it and
    /// return its status; `None` while it runs.
    ///
    /// # Errors
    /// As `waitid(2)` and [`Child::wait`].
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.state == State::Running {
            if !self.exited(libc::WNOHANG)? {
                return Ok(None);
            }
            self.kill_group();
        }
        self.reap().map(Some)
    }

    /// Whether the child has exited, without reaping it (`waitid` with
    /// `WNOWAIT`): it stays a zombie and keeps its pid and group id taken.
    /// `flags` is 0 (block until it exits) or `WNOHANG`.
    fn exited(&self, flags: libc::c_int) -> io::Result<bool> {
        let pid = libc::id_t::from(self.child.id());
        loop {
            // SAFETY: an all-zero siginfo_t is a valid value (plain integers).
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // SAFETY: waitid(2) writes only into `info`, which lives on this frame.
            let rc = unsafe {
                libc::waitid(
                    libc::P_PID,
                    pid,
                    &mut info,
                    libc::WEXITED | libc::WNOWAIT | flags,
                )
            };
            if rc == 0 {
                // SAFETY: waitid filled `info` (or left si_pid 0 under WNOHANG
                // when the child runs on); si_pid is valid for SIGCHLD records.
                return Ok(unsafe { info.si_pid() } != 0);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// SIGKILL to the child's group; only while the child is not reaped (its
    /// pid, a zombie's at worst, names that group and no other).
    fn kill_group(&self) {
        debug_assert_eq!(self.state, State::Running);
        let group = libc::pid_t::try_from(self.child.id()).expect("a pid fits pid_t");
        // SAFETY: killpg(2) on the group this value started; no memory involved.
        unsafe { libc::killpg(group, libc::SIGKILL) };
    }

    /// Reap the child (or return the status [`Child`] kept from reaping it).
    fn reap(&mut self) -> io::Result<ExitStatus> {
        self.state = State::Reaped;
        self.child.wait()
    }
}

impl Drop for OwnedChild {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;

    /// Block until `pid` (a child of this process) has exited, without reaping
    /// it; the signal that killed it, if one did.
    fn killed_by(pid: u32) -> Option<i32> {
        // SAFETY: an all-zero siginfo_t is a valid value (plain integers).
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid(2) writes only into `info`, on this frame.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                libc::id_t::from(pid),
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        assert_eq!(rc, 0, "waitid: {}", io::Error::last_os_error());
        // SAFETY: waitid filled `info` with a SIGCHLD record.
        let status = unsafe { info.si_status() };
        (info.si_code == libc::CLD_KILLED).then_some(status)
    }

    /// `sleep 20` in the process group `group` (not an owned child: the test
    /// watches what the owned one does to it).
    fn sleeper_in(group: u32) -> Child {
        Command::new("sleep")
            .arg("20")
            .process_group(i32::try_from(group).unwrap())
            .spawn()
            .expect("start sleep")
    }

    /// An owned `cat` that ends when its stdin closes, and a sleeper in its
    /// group; `cat` has ended and been waited for (its status is returned).
    fn waited_with_a_leftover() -> (OwnedChild, Child, ExitStatus) {
        let mut owned = OwnedChild::spawn(Command::new("cat").stdin(Stdio::piped())).unwrap();
        let leftover = sleeper_in(owned.id());
        drop(owned.take_stdin());
        let status = owned.wait().expect("wait for cat");
        (owned, leftover, status)
    }

    #[test]
    fn waiting_kills_what_the_child_left_in_its_group() {
        let (mut owned, mut leftover, status) = waited_with_a_leftover();
        assert!(status.success(), "cat ends with its stdin: {status}");
        assert_eq!(killed_by(leftover.id()), Some(libc::SIGKILL));
        // Waited once: the same status again, and a try_wait sees it too.
        assert_eq!(owned.wait().unwrap(), status);
        assert_eq!(owned.try_wait().unwrap(), Some(status));
        leftover.wait().unwrap();
    }

    #[test]
    fn try_wait_reaps_and_records_it() {
        let mut owned = OwnedChild::spawn(Command::new("cat").stdin(Stdio::piped())).unwrap();
        assert_eq!(
            owned.try_wait().unwrap(),
            None,
            "cat runs until stdin closes"
        );
        assert_eq!(owned.state, State::Running);
        let mut leftover = sleeper_in(owned.id());
        drop(owned.take_stdin());
        // Bounded: a try_wait that never saw the end fails here, not hangs the run.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let status = loop {
            if let Some(status) = owned.try_wait().unwrap() {
                break status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "cat still running 10 s after its stdin closed"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        assert!(status.success(), "{status}");
        assert_eq!(owned.state, State::Reaped);
        // The try_wait that saw the end killed what cat left in its group.
        assert_eq!(killed_by(leftover.id()), Some(libc::SIGKILL));
        leftover.wait().unwrap();
    }

    /// Once the child is reaped its pid may lead someone else's group. Stand-in
    /// for that stranger: a process that joins the same group id after the
    /// reaping (the killed leftover, a zombie this test has not reaped, keeps
    /// the group in being). The drop must not kill it.
    #[test]
    fn a_reaped_childs_drop_signals_no_group() {
        let (owned, mut leftover, _) = waited_with_a_leftover();
        assert_eq!(killed_by(leftover.id()), Some(libc::SIGKILL));
        let mut stranger = sleeper_in(owned.id());
        drop(owned);
        // A SIGKILL sent by the drop is pending before this SIGTERM (and SIGKILL
        // wins): the stranger ends by SIGTERM only if the drop sent nothing.
        // SAFETY: kill(2) on this test's own child.
        let pid = libc::pid_t::try_from(stranger.id()).unwrap();
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let status = stranger.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGTERM), "{status}");
        leftover.wait().unwrap();
    }

    #[test]
    fn signal_reaches_the_running_child_and_nothing_once_reaped() {
        let mut owned = OwnedChild::spawn(Command::new("cat").stdin(Stdio::piped())).unwrap();
        owned.signal(libc::SIGTERM).expect("kill(SIGTERM)");
        let status = owned.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGTERM), "{status}");
        // Reaped: its pid may be another process's; nothing is sent.
        assert!(owned.signal(libc::SIGTERM).is_ok());
    }

    #[test]
    fn the_drop_kills_a_running_childs_group() {
        let owned = OwnedChild::spawn(Command::new("cat").stdin(Stdio::piped())).unwrap();
        let mut member = sleeper_in(owned.id());
        drop(owned);
        let status = member.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{status}");
    }
}

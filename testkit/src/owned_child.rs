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

use std::io;
use std::ops::{Deref, DerefMut};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

/// A child process in a process group of its own that dies with its owner:
/// killed with its group on drop, and by the kernel when the thread that
/// started it ends. Derefs to the [`Child`] (its pid, pipes, `try_wait`).
pub struct OwnedChild {
    child: Child,
    /// Whether the group was killed and the child reaped already.
    ended: bool,
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
            ended: false,
        })
    }

    /// Kill the child's process group with SIGKILL (the child and whatever it
    /// started and did not move to a group of its own) and reap the child. Once;
    /// later calls do nothing.
    pub fn kill(&mut self) {
        if self.ended {
            return;
        }
        self.ended = true;
        // The group's id is the child's pid (`process_group(0)`); it names the
        // group while any member lives, the child reaped or not.
        let group = libc::pid_t::try_from(self.child.id()).expect("a pid fits pid_t");
        // SAFETY: killpg(2) on the group this value started; no memory involved.
        unsafe { libc::killpg(group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

impl Deref for OwnedChild {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.child
    }
}

impl DerefMut for OwnedChild {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for OwnedChild {
    fn drop(&mut self) {
        self.kill();
    }
}

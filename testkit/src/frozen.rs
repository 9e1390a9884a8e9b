//! A thread of another process held still with ptrace: to its process's other
//! threads and to its peers it looks like a thread the scheduler does not run for
//! as long as the test likes (a starved worker), deterministically.

use std::time::{Duration, Instant};

use nix::sys::ptrace;
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

/// A stopped thread of another process, running again on drop. Drop it on the
/// thread that froze it (ptrace binds a tracee to one tracer thread). Needs
/// CAP_SYS_PTRACE or a child process (tests run as root).
pub struct FrozenThread {
    tid: Pid,
}

impl FrozenThread {
    /// Stop the thread named `name` (its `comm`, as `std::thread::Builder::name`
    /// sets it) of process `pid` once it sleeps in a futex wait (a condition
    /// variable, a channel, a lock), waiting up to 5 s for the thread to exist and
    /// up to 5 s for that: a worker held still at rest, not in the middle of what
    /// it was doing. A thread frozen at once may be caught on its way out of a
    /// write whose bytes the test has already read, the locks it writes under
    /// still held, and then the threads of its process that need them wait for it
    /// too.
    ///
    /// # Panics
    /// If no such thread appears, it does not sleep within 5 s, or ptrace
    /// refuses.
    pub fn freeze_waiting(pid: u32, name: &str) -> FrozenThread {
        let tid = find_thread(pid, name);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !in_futex_wait(pid, tid) {
            assert!(
                Instant::now() < deadline,
                "thread {name:?} of {pid} never waited"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        FrozenThread::stop(Pid::from_raw(tid as i32))
    }

    /// Stop the main thread of process `pid` (its thread id is the process id;
    /// unnamed threads share its `comm`, so [`FrozenThread::freeze_waiting`]
    /// cannot name it).
    ///
    /// # Panics
    /// If ptrace refuses.
    pub fn freeze_main(pid: u32) -> FrozenThread {
        FrozenThread::stop(Pid::from_raw(pid as i32))
    }

    fn stop(tid: Pid) -> FrozenThread {
        ptrace::seize(tid, ptrace::Options::empty())
            .unwrap_or_else(|e| panic!("PTRACE_SEIZE of thread {tid}: {e}"));
        ptrace::interrupt(tid).unwrap_or_else(|e| panic!("PTRACE_INTERRUPT of {tid}: {e}"));
        waitpid(tid, Some(WaitPidFlag::__WALL))
            .unwrap_or_else(|e| panic!("waiting for {tid} to stop: {e}"));
        FrozenThread { tid }
    }
}

impl Drop for FrozenThread {
    fn drop(&mut self) {
        let _ = ptrace::detach(self.tid, None);
    }
}

/// `true` if thread `tid` of process `pid` sleeps in the futex system call
/// (`/proc/PID/task/TID/stat`'s state S, and `syscall` naming it).
fn in_futex_wait(pid: u32, tid: u32) -> bool {
    let task = format!("/proc/{pid}/task/{tid}");
    let stat = std::fs::read_to_string(format!("{task}/stat")).unwrap_or_default();
    // The state follows the command name, which is in parentheses.
    let sleeping = stat
        .rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('S'));
    let syscall = std::fs::read_to_string(format!("{task}/syscall")).unwrap_or_default();
    let number = syscall
        .split_whitespace()
        .next()
        // A C long, as the system call numbers are (32 bits on armv7).
        .and_then(|n| n.parse::<nix::libc::c_long>().ok());
    sleeping && number == Some(nix::libc::SYS_futex)
}

/// The id of the thread named `name` in process `pid` (polled in
/// `/proc/PID/task`, 5 s at most).
fn find_thread(pid: u32, name: &str) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap_or_else(|e| panic!("threads of {pid}: {e}"));
        for task in tasks.flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if comm.trim_end() == name {
                if let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) {
                    return tid;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "no thread {name:?} in process {pid}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

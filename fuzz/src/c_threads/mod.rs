//! Threads of a C host on one device: two or three threads make fuzzer-chosen
//! calls on one shared `rk_device` (requests of every kind, card insertions and
//! removals, event processing, cancellation, a PIN entry) while the driver's
//! callbacks (`driver`) linger, report events and call back in.
//!
//! Input: a byte giving the number of threads (2 or 3) and a byte of table flags
//! (card tracking, vendor, mechanisms), then one stream per thread (the rest cut
//! in equal parts), each holding that thread's calls and its callbacks' choices.
//!
//! Checks:
//! * no two serialized callbacks ever run at once (an atomic count in each);
//! * every call returns a documented status: `RK_STATUS_PENDING` only from
//!   IS_PRESENT / IS_ABSENT, never `RK_STATUS_UNSUCCESSFUL` (the callbacks never
//!   return it: it would be a panic the FFI guard caught), `RK_STATUS_DEVICE_BUSY`
//!   only for a second tracking request or a call from inside a callback (a call
//!   from another thread waits for the lock), and `*bytes_written` within the
//!   output;
//! * every pending request completes exactly once, by the end (after
//!   `rk_device_deinit`, which must succeed once the threads are done);
//! * no deadlock: every thread ends within a hang guard (`HANG_GUARD`);
//! * LeakSanitizer: nothing left allocated.

pub(crate) mod driver;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use readerkit_c::*;

use driver::{Shared, byte, exhausted, in_callback, set_stream};

/// Calls per thread at most.
const MAX_CALLS: usize = 24;
/// How long the threads of one run may take before the run counts as a
/// deadlock (hang guard, not a speed check: a run takes about a millisecond).
const HANG_GUARD: Duration = Duration::from_secs(10);

/// The device storage, shared by the threads.
struct Device {
    words: Vec<u64>,
}

impl Device {
    /// The storage, for every call (the library writes to it): from
    /// `as_mut_ptr`, as `Vec::as_ptr`'s pointer must never be written through.
    fn ptr(&mut self) -> *mut rk_device {
        self.words.as_mut_ptr().cast()
    }
}

/// The pointer the threads use (the storage outlives them).
#[derive(Clone, Copy)]
struct DevPtr(*const rk_device);

// SAFETY: the C API allows every rk_device_* call but deinit from any thread
// once the device is initialised; the storage outlives the threads.
unsafe impl Send for DevPtr {}

/// A `PIN_VERIFY_STRUCTURE`: 4 to 8 ASCII digits into an 8-byte block, validated
/// by Enter or a time-out, 1 s for each key.
const VERIFY_PIN: &[u8] = &[
    1, 1, 0x82, 0x08, 0x00, 8, 4, 0x06, 0x00, 0x09, 0x04, 0, 0, 0, 0, 13, 0, 0, 0, 0x00, 0x20,
    0x00, 0x01, 8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
];

/// The part 10 control code of `FEATURE_VERIFY_PIN_DIRECT`.
const VERIFY_PIN_DIRECT: u32 = readerkit::ioctl::scard_ctl_code(RK_FN_VERIFY_PIN_DIRECT as u16);

/// One request through `rk_device_control`, checked.
fn control(dev: DevPtr, shared: &Shared, code: u32, input: &[u8]) {
    let mut output = [0u8; 64];
    let out_len = usize::from(byte() % 65);
    let mut written = usize::MAX;
    // SAFETY: the live device; local buffers.
    let st = unsafe {
        rk_device_control(
            dev.0,
            code,
            input.as_ptr(),
            input.len(),
            output.as_mut_ptr(),
            out_len,
            &mut written,
        )
    };
    let tracking = code == RK_IOCTL_IS_PRESENT || code == RK_IOCTL_IS_ABSENT;
    assert!(st <= RK_STATUS_PENDING, "request {code:#x}: status {st}");
    assert!(
        st != RK_STATUS_UNSUCCESSFUL,
        "request {code:#x}: UNSUCCESSFUL"
    );
    assert!(
        tracking || st != RK_STATUS_PENDING,
        "request {code:#x}: PENDING"
    );
    assert!(
        tracking || in_callback() || st != RK_STATUS_DEVICE_BUSY,
        "request {code:#x} from another thread: DEVICE_BUSY instead of waiting"
    );
    assert!(
        written <= out_len,
        "request {code:#x}: {written} bytes of {out_len}"
    );
    if st == RK_STATUS_PENDING {
        shared.pending.fetch_add(1, Ordering::SeqCst);
    }
}

/// One fuzzer-chosen call on the device.
fn one_call(dev: DevPtr, shared: &Shared) {
    let word = |v: u32| v.to_le_bytes();
    match byte() % 12 {
        0 => control(dev, shared, RK_IOCTL_POWER, &word(u32::from(byte() % 3))),
        1 => {
            let protocols = [RK_PROTOCOL_T0, RK_PROTOCOL_T1, 3][usize::from(byte() % 3)];
            control(dev, shared, RK_IOCTL_SET_PROTOCOL, &word(protocols));
        }
        2 => {
            let mut input = [0u8; 13];
            input[..4].copy_from_slice(&word(u32::from(byte() % 2) + 1));
            input[4..8].copy_from_slice(&word(8));
            input[8..].copy_from_slice(&[0x00, 0x84, 0x00, 0x00, 0x08]);
            control(dev, shared, RK_IOCTL_TRANSMIT, &input);
        }
        3 => control(dev, shared, RK_IOCTL_GET_STATE, &[]),
        4 => control(dev, shared, RK_IOCTL_GET_ATTRIBUTE, &word(0x0009_0303)),
        5 => {
            let code = [RK_IOCTL_IS_PRESENT, RK_IOCTL_IS_ABSENT][usize::from(byte() & 1)];
            control(dev, shared, code, &[]);
        }
        6 | 7 => {
            let event = u32::from(byte() % 3) + 1;
            // SAFETY: the live device.
            assert_eq!(unsafe { rk_card_event(dev.0, event) }, RK_STATUS_SUCCESS);
        }
        8 => {
            // SAFETY: the live device.
            assert_eq!(unsafe { rk_process_events(dev.0) }, RK_STATUS_SUCCESS);
        }
        9 => {
            let mut was = false;
            // SAFETY: the live device, a local out-pointer.
            assert_eq!(
                unsafe { rk_cancel_tracking(dev.0, &mut was) },
                RK_STATUS_SUCCESS
            );
        }
        10 => {
            let code = [
                RK_IOCTL_EJECT,
                RK_IOCTL_SWALLOW,
                RK_IOCTL_CONFISCATE,
                readerkit::ioctl::scard_ctl_code(readerkit::ioctl::VENDOR_FIRST),
            ][usize::from(byte() % 4)];
            control(dev, shared, code, &[]);
        }
        _ => control(dev, shared, VERIFY_PIN_DIRECT, VERIFY_PIN),
    }
}

/// One thread's calls.
fn worker(dev: DevPtr, shared: Arc<Shared>, bytes: Vec<u8>, done: mpsc::Sender<()>) {
    set_stream(bytes);
    for _ in 0..MAX_CALLS {
        if exhausted() {
            break;
        }
        one_call(dev, &shared);
    }
    let _ = done.send(());
}

/// One run of the `c_threads` target over the fuzzer's `data`.
pub fn run(data: &[u8]) {
    let (head, rest) = data.split_at(data.len().min(2));
    let threads = 2 + usize::from(head.first().copied().unwrap_or(0) % 2);
    let flags = head.get(1).copied().unwrap_or(0xFF);
    let shared = Arc::new(Shared::new());
    let mut device = Device {
        words: vec![0u64; RK_DEVICE_STORAGE_WORDS],
    };
    let storage = device.ptr();
    let table = driver::table(flags);
    let mut caps = std::mem::MaybeUninit::<rk_reader_caps>::zeroed();
    // SAFETY: a local out-pointer; zero is a valid rk_reader_caps.
    let caps = unsafe {
        assert_eq!(rk_reader_caps_typical(caps.as_mut_ptr()), RK_STATUS_SUCCESS);
        caps.assume_init()
    };
    let ctx = Arc::as_ptr(&shared).cast_mut().cast();
    // SAFETY: zeroed storage of the documented size, local table and caps; the
    // context outlives the device.
    let st = unsafe {
        rk_device_init(
            storage,
            RK_DEVICE_STORAGE_SIZE,
            &table,
            ctx,
            &caps,
            std::ptr::null(),
        )
    };
    assert_eq!(st, RK_STATUS_SUCCESS, "rk_device_init");
    shared.dev.store(storage, Ordering::Release);
    let keypad = driver::keypad();
    // SAFETY: the device, no other thread yet; local ops.
    assert_eq!(
        unsafe { rk_device_set_keypad(storage, &keypad) },
        RK_STATUS_SUCCESS
    );

    let (done_tx, done_rx) = mpsc::channel();
    let part = rest.len().div_ceil(threads).max(1);
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let bytes = rest.chunks(part).nth(i).unwrap_or(&[]).to_vec();
            let (shared, done) = (Arc::clone(&shared), done_tx.clone());
            let dev = DevPtr(storage.cast_const());
            std::thread::spawn(move || worker(dev, shared, bytes, done))
        })
        .collect();
    for _ in 0..threads {
        if done_rx.recv_timeout(HANG_GUARD).is_err() {
            // A thread blocked in the library (or it panicked: the panic
            // hook already aborted): abort with the threads' stacks for a core.
            eprintln!("c_threads: a thread did not finish within {HANG_GUARD:?}: deadlock");
            std::process::abort();
        }
    }
    for h in handles {
        h.join().expect("worker thread");
    }
    assert_eq!(shared.active.load(Ordering::SeqCst), 0);
    // SAFETY: the device, idle: every thread is done.
    assert_eq!(
        unsafe { rk_device_deinit(storage) },
        RK_STATUS_SUCCESS,
        "rk_device_deinit"
    );
    let (pending, completed) = (
        shared.pending.load(Ordering::SeqCst),
        shared.completed.load(Ordering::SeqCst),
    );
    assert_eq!(pending, completed, "pending requests and their completions");
    drop(device);
}

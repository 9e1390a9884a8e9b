//! Fake IRPs, a `std` kernel and a reader over the simulated card, for the tests.
#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::thread;

use readerkit::caps::{ReaderCapabilities, VendorAttributes};
use readerkit::device::ReaderFunctions;
use readerkit::event::CardEvent;
use readerkit::ioctl::Ioctl;
use readerkit::line::LineReader;
use readerkit::tracking::handoff::Cancelable;
use readerkit_card_sim::atr::Profile;
use readerkit_card_sim::{Card, SimLine};
use readerkit_wdm::irp::{IoStatus, Irp, Major, PowerParams, mj};
use readerkit_wdm::reader::Dispatch;
use readerkit_wdm::{DriverHooks, Event, Kernel, WdmReader, ntstatus};

/// `std::sync` for both locks, a condvar event; log lines kept per thread
/// ([`logged`]).
pub struct StdKernel;

thread_local! {
    static LOGGED: std::cell::RefCell<Vec<(readerkit::trace::Level, String)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The lines this thread's requests logged through [`Kernel::log`], taken.
pub fn logged() -> Vec<(readerkit::trace::Level, String)> {
    LOGGED.with(|l| l.take())
}

pub struct StdEvent {
    set: Mutex<bool>,
    cv: Condvar,
}

impl Event for StdEvent {
    fn new() -> Self {
        StdEvent {
            set: Mutex::new(false),
            cv: Condvar::new(),
        }
    }
    fn set(&self) {
        *self.set.lock().unwrap() = true;
        self.cv.notify_all();
    }
    fn wait(&self) {
        let mut set = self.set.lock().unwrap();
        while !*set {
            set = self.cv.wait(set).unwrap();
        }
    }
}

impl Kernel for StdKernel {
    type Serial<T> = Mutex<T>;
    type Short<T> = Mutex<T>;
    type Event = StdEvent;

    fn current_thread() -> Option<std::num::NonZeroUsize> {
        thread_local! {
            static MARK: u8 = const { 0 };
        }
        // A thread-local's address is unique among live threads.
        MARK.with(|m| std::num::NonZeroUsize::new(m as *const u8 as usize))
    }

    fn log(level: readerkit::trace::Level, line: &std::ffi::CStr) {
        let line = line.to_str().expect("UTF-8 log line").to_owned();
        LOGGED.with(|l| l.borrow_mut().push((level, line)));
    }
}

/// What the I/O manager would observe of an IRP: completions, IoStatus, the output.
#[derive(Default)]
pub struct Record {
    pub completions: AtomicUsize,
    pub status: AtomicU32,
    pub information: AtomicUsize,
    /// `Irp->Cancel`.
    pub cancel: AtomicBool,
    /// `Irp->CancelRoutine != NULL`.
    pub routine: AtomicBool,
    pub pending: AtomicBool,
    pub buffer: Mutex<Vec<u8>>,
    /// Run inside `IoCompleteRequest`, after the completion is recorded.
    pub on_complete: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl Record {
    pub fn completed(&self) -> Option<IoStatus> {
        match self.completions.load(Ordering::SeqCst) {
            0 => None,
            1 => Some(IoStatus {
                status: self.status.load(Ordering::SeqCst),
                information: self.information.load(Ordering::SeqCst),
            }),
            n => panic!("IRP completed {n} times"),
        }
    }

    /// The bytes the I/O manager copies back to the caller (`Information` bytes).
    pub fn output(&self) -> Vec<u8> {
        let n = self.information.load(Ordering::SeqCst);
        self.buffer.lock().unwrap()[..n].to_vec()
    }
}

pub struct FakeIrp {
    pub major: Major,
    pub code: u32,
    pub input_len: usize,
    pub output_len: usize,
    pub buffer: Option<Vec<u8>>,
    pub power: Option<PowerParams>,
    /// `FileObject` of the current stack location (0: the tests' one default handle).
    pub file: usize,
    pub rec: Arc<Record>,
}

impl FakeIrp {
    pub fn new(major: Major) -> (FakeIrp, Arc<Record>) {
        let rec = Arc::new(Record::default());
        (
            FakeIrp {
                major,
                code: 0,
                input_len: 0,
                output_len: 0,
                buffer: None,
                power: None,
                file: 0,
                rec: rec.clone(),
            },
            rec,
        )
    }

    /// A METHOD_BUFFERED device-control IRP as the I/O manager builds it: one system
    /// buffer of max(input, output) bytes holding the input.
    pub fn ioctl(code: u32, input: &[u8], output_len: usize) -> (FakeIrp, Arc<Record>) {
        let (mut irp, rec) = FakeIrp::new(Major::DeviceControl);
        irp.code = code;
        irp.input_len = input.len();
        irp.output_len = output_len;
        let len = input.len().max(output_len);
        if len > 0 {
            let mut buf = vec![0xEEu8; len];
            buf[..input.len()].copy_from_slice(input);
            irp.buffer = Some(buf);
        }
        (irp, rec)
    }
}

impl Cancelable for FakeIrp {
    fn id(&self) -> usize {
        Arc::as_ptr(&self.rec) as usize
    }
    fn handle(&self) -> usize {
        self.file
    }
    fn arm_cancel(&mut self) {
        // An exchange, as IoSetCancelRoutine's.
        self.rec.routine.swap(true, Ordering::SeqCst);
    }
    fn disarm_cancel(&mut self) -> bool {
        self.rec.routine.swap(false, Ordering::SeqCst)
    }
    fn cancel_requested(&self) -> bool {
        self.rec.cancel.load(Ordering::SeqCst)
    }
}

impl Irp for FakeIrp {
    fn major(&self) -> Major {
        self.major
    }
    fn ioctl_code(&self) -> u32 {
        self.code
    }
    fn input_len(&self) -> usize {
        self.input_len
    }
    fn output_len(&self) -> usize {
        self.output_len
    }
    fn system_buffer(&mut self) -> Option<&mut [u8]> {
        self.buffer.as_deref_mut()
    }
    fn power(&self) -> Option<PowerParams> {
        self.power
    }
    fn mark_pending(&mut self) {
        self.rec.pending.store(true, Ordering::SeqCst);
    }
    fn complete(self, io: IoStatus) {
        assert!(
            !self.rec.routine.load(Ordering::SeqCst),
            "IRP completed with its cancel routine still set"
        );
        self.rec.status.store(io.status, Ordering::SeqCst);
        self.rec.information.store(io.information, Ordering::SeqCst);
        *self.rec.buffer.lock().unwrap() = self.buffer.unwrap_or_default();
        self.rec.completions.fetch_add(1, Ordering::SeqCst);
        let hook = self.rec.on_complete.lock().unwrap().take();
        if let Some(hook) = hook {
            hook();
        }
    }
}

pub type Driver = LineReader<SimLine>;
pub type Reader = WdmReader<StdKernel, FakeIrp, Driver>;

/// The test reader's attributes: readerkit's, model `virtual reader`, serial number
/// `WDM-0001`.
pub fn vendor() -> VendorAttributes {
    VendorAttributes::readerkit(b"virtual reader", 0, b"WDM-0001")
}

fn wake(driver: &mut Driver) -> bool {
    driver.line().card().is_some()
}

/// A started reader with an empty slot.
pub fn reader() -> Reader {
    reader_with(LineReader::functions())
}

/// [`reader`] with the driver's `functions`.
pub fn reader_with(functions: ReaderFunctions<Driver>) -> Reader {
    reader_with_hooks(
        functions,
        DriverHooks {
            wake: Some(wake),
            ..DriverHooks::NONE
        },
    )
}

/// [`reader_with`] with the binding's `hooks` instead of the wake hook.
pub fn reader_with_hooks(functions: ReaderFunctions<Driver>, hooks: DriverHooks<Driver>) -> Reader {
    let r = Reader::new(
        functions,
        LineReader::new(SimLine::empty()).with_t0_envelope(),
        ReaderCapabilities::typical(),
        vendor(),
        hooks,
    );
    r.start();
    r
}

pub fn insert(r: &Reader) {
    r.device()
        .with_driver(|d| d.line_mut().insert(Card::new(Profile::t1())));
    r.report(CardEvent::Inserted);
}

pub fn remove(r: &Reader) {
    r.device().with_driver(|d| {
        d.line_mut().remove();
    });
    r.report(CardEvent::Removed);
}

/// `IoCancelIrp`: set Cancel, take the cancel routine, call it if it was set.
pub fn io_cancel_irp(r: &Reader, rec: &Arc<Record>) {
    rec.cancel.store(true, Ordering::SeqCst);
    if rec.routine.swap(false, Ordering::SeqCst) {
        r.cancel_routine(Arc::as_ptr(rec) as usize);
    }
}

/// Send an IOCTL; the dispatch routine's return and the IRP's record.
pub fn ioctl(r: &Reader, code: u32, input: &[u8], output_len: usize) -> (u32, Arc<Record>) {
    let (irp, rec) = FakeIrp::ioctl(code, input, output_len);
    match r.dispatch(irp) {
        Dispatch::Done(status) => (status, rec),
        Dispatch::Forward(..) => panic!("device control forwarded"),
    }
}

/// IS_PRESENT, which must pend (no card yet); the IRP's record.
pub fn pending_is_present(r: &Reader) -> Arc<Record> {
    let (st, rec) = ioctl(r, Ioctl::IsPresent.code(), &[], 0);
    assert_eq!(st, ntstatus::PENDING, "IS_PRESENT pends");
    rec
}

pub fn major(r: &Reader, major: u8) -> (u32, Arc<Record>) {
    let (irp, rec) = FakeIrp::new(Major::from_codes(major, 0));
    match r.dispatch(irp) {
        Dispatch::Done(status) => (status, rec),
        Dispatch::Forward(..) => panic!("forwarded"),
    }
}

pub fn open(r: &Reader) -> u32 {
    major(r, mj::CREATE).0
}

/// Create, cleanup or close through the file object `file`.
pub fn file_major(r: &Reader, major: u8, file: usize) -> (u32, Arc<Record>) {
    let (mut irp, rec) = FakeIrp::new(Major::from_codes(major, 0));
    irp.file = file;
    match r.dispatch(irp) {
        Dispatch::Done(status) => (status, rec),
        Dispatch::Forward(..) => panic!("forwarded"),
    }
}

/// An IOCTL through the file object `file`.
pub fn file_ioctl(
    r: &Reader,
    file: usize,
    code: u32,
    input: &[u8],
    output_len: usize,
) -> (u32, Arc<Record>) {
    let (mut irp, rec) = FakeIrp::ioctl(code, input, output_len);
    irp.file = file;
    match r.dispatch(irp) {
        Dispatch::Done(status) => (status, rec),
        Dispatch::Forward(..) => panic!("device control forwarded"),
    }
}

pub fn code(ioctl: Ioctl) -> u32 {
    ioctl.code()
}

/// Run `f` on `threads` threads released together by a barrier; what each returned,
/// in thread order.
pub fn race<T: Send + 'static>(
    threads: usize,
    f: impl Fn() -> T + Send + Sync + 'static,
) -> Vec<T> {
    let f = Arc::new(f);
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (f, barrier) = (f.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                f()
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

//! The QEMU board: `qemu-system-arm -M mps2-an386` (Cortex-M4), with the simulated
//! card behind a simulated TDA8035.
//!
//! * Memory: code at 0 (ZBT SSRAM1), RAM at `0x2000_0000` (`mps2.x`).
//! * Console: the CMSDK APB UART0 at `0x4000_4000` prints the session. With
//!   feature `ccid` UART0 carries the CCID reader's GemPC Twin framing instead
//!   (`-serial pty`), and the console is UART1 at `0x4000_5000`, which also takes
//!   control lines: `remove` takes the card out of the slot, `insert` puts a fresh
//!   one in, `slow N` makes the card slow (below; `slow 0`: prompt again),
//!   `wtx N` makes it ask for more time in T=1 (below; `wtx 0`: never).
//! * A slow card (`slow N`): before every answer the T=0 card sends N NULL
//!   procedure bytes (requests for more time) and works after each for
//!   [`WORK_POLLS`] polls of the line of [`WORK_POLL_US`] µs each (measured on
//!   TIMER0, QEMU's clock), about 0.2 s: long enough for the host to send
//!   another command meanwhile, well inside the work waiting time the driver
//!   counts (one etu per poll). It also works before its ATR, for
//!   [`ATR_WORK_POLLS`] polls of [`ATR_WORK_POLL_US`] µs, about 0.2 s, within the
//!   first character's 40 000 clock cycles: a power on takes long enough for the
//!   host's next command to come while it runs. The CCID reader reads the host in
//!   the line's waits (the delay calls `ccid::while_waiting`).
//! * A card asking for more time in T=1 (`wtx N`, N from 1 to 255): before every
//!   answer the card sends one S(WTX request) block with multiplier N, and
//!   answers once the reader's S(WTX response) has come (over T=0 it sends one
//!   NULL byte instead). It does no work behind it: the request is what the
//!   host's side is tested on (who is asked for the time, `ccid::more_time`).
//! * The card line: the chip's pins and the UART on the card's I/O line are the
//!   simulated hardware of this module ([`readerkit_card_sim::Card`] behind a
//!   TDA8035 model: CMDVCC low powers the card, RSTIN rising resets it and its ATR
//!   comes out of the UART, every character sent is echoed as on the shared I/O
//!   line). The driver reaches it the way it reaches registers: each pin or UART
//!   access is an `svc`, and the hardware runs in the SVCall handler.
//! * Two stacks: the firmware (`Device`, `LineReader`, the engines, the chip driver
//!   and this session) runs in thread mode on the process stack (PSP); the simulated
//!   hardware runs in handler mode on the main stack (MSP). Both are painted, so
//!   their high-water marks are the driver's own depth and the simulation's.
//! * The verdict leaves through semihosting (SYS_EXIT_EXTENDED): 0 when every
//!   request was answered as it must be.
//!
//! Instruction counts: the functions `fw_mark_request` / `fw_mark_done` bracket
//! each request, and the simulated hardware runs from the entry of `svcall` to the
//! instruction after an `svc`, so an instruction trace (`-d exec -singlestep`) can
//! be split per request into the firmware's instructions and the simulation's.

use core::fmt::Write as _;
use core::mem::MaybeUninit;
use core::ptr::{read_volatile, write_volatile};
#[cfg(feature = "ccid")]
use core::sync::atomic::{AtomicU32, Ordering};

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{ErrorType, InputPin, OutputPin};
use embedded_hal_nb::serial::{self, ErrorKind};
#[cfg(not(feature = "ccid"))]
use readerkit::Outcome;
use readerkit_card_sim::fault::{Faults, Trigger, Wtx};
use readerkit_card_sim::{Card, Config as CardConfig, Profile};
use readerkit_hal::interface::NoPin;
use readerkit_hal::{ConfigError, Parity, UartConfig};

use crate::rt::StaticCell;
#[cfg(not(feature = "ccid"))]
use crate::{
    Dev,
    session::{Probe, Step, Verdict},
};

/// The TDA8035's crystal, in kHz.
pub const XTAL_KHZ: u32 = 3_580;

/// The simulated hardware's entry.
pub const SVCALL: Option<unsafe extern "C" fn()> = Some(svcall);

/// Every request type on a card offering T=0 and T=1: each protocol negotiated by
/// PPS after a cold reset, then SELECT and a short and an extended ECHO.
#[cfg(not(feature = "ccid"))]
pub const SCRIPT: &[Step] = &[
    Step::Poll,
    Step::ColdReset,
    Step::SetProtocol(2),
    Step::SelectMf,
    Step::Echo(255),
    Step::Echo(1024),
    Step::ColdReset,
    Step::SetProtocol(1),
    Step::SelectMf,
    Step::Echo(255),
    Step::Echo(1024),
    Step::PowerDown,
];

/// Capacity of the simulated card's buffers (an extended ECHO of 1024 bytes).
const CARD_CAPACITY: usize = 1536;
/// The host's buffers: the largest request (an ECHO of 1024 bytes with extended
/// lengths after the 8-byte SCARD_IO_REQUEST) and answer.
#[cfg(not(feature = "ccid"))]
const HOST_BUFFER_LEN: usize = 8 + 4 + 3 + 1024 + 2;

// ---------------------------------------------------------------- console, exit

const UART0: usize = 0x4000_4000;
#[cfg(feature = "ccid")]
const UART1: usize = 0x4000_5000;

/// The console's UART: UART0, or UART1 when UART0 carries CCID.
#[cfg(not(feature = "ccid"))]
const CONSOLE: usize = UART0;
#[cfg(feature = "ccid")]
const CONSOLE: usize = UART1;

/// A CMSDK APB UART: DATA at 0, STATE at 4 (bit 0: TX buffer full, bit 1: RX
/// buffer full), CTRL at 8 (bit 0: TX enable, bit 1: RX enable), BAUDDIV at 0x10.
#[derive(Clone, Copy)]
struct CmsdkUart(usize);

impl CmsdkUart {
    /// Transmit and receive on (QEMU ignores the rate; 16 is the least divider).
    fn init(self) {
        // SAFETY: BAUDDIV and CTRL of a CMSDK UART of the board.
        unsafe {
            write_volatile((self.0 + 0x10) as *mut u32, 16);
            write_volatile((self.0 + 0x08) as *mut u32, 3);
        }
    }

    /// Also raise the UART's receive interrupt (CTRL bit 3) for each byte that
    /// comes, so that [`HostUart::idle`] can sleep until one does.
    #[cfg(feature = "ccid")]
    fn init_waking(self) {
        self.init();
        // SAFETY: CTRL of a CMSDK UART of the board.
        unsafe { write_volatile((self.0 + 0x08) as *mut u32, 3 | 8) };
    }

    /// A received byte waits in DATA.
    fn has_byte(self) -> bool {
        // SAFETY: STATE of a CMSDK UART.
        unsafe { read_volatile((self.0 + 0x04) as *const u32) & 2 != 0 }
    }

    fn read(self) -> Option<u8> {
        if !self.has_byte() {
            return None;
        }
        // SAFETY: DATA of a CMSDK UART; reading it takes the byte.
        Some(unsafe { read_volatile(self.0 as *const u32) } as u8)
    }

    /// Clear the latched receive interrupt (INTSTATUS bit 1, write one to clear).
    #[cfg(feature = "ccid")]
    fn clear_receive_interrupt(self) {
        // SAFETY: INTSTATUS of a CMSDK UART.
        unsafe { write_volatile((self.0 + 0x0C) as *mut u32, 2) };
    }

    fn write(self, bytes: &[u8]) {
        for &b in bytes {
            // SAFETY: STATE and DATA of a CMSDK UART.
            unsafe {
                while read_volatile((self.0 + 0x04) as *const u32) & 1 != 0 {}
                write_volatile(self.0 as *mut u32, u32::from(b));
            }
        }
    }
}

/// The console.
struct Console;

impl Console {
    fn init() {
        #[cfg(not(feature = "ccid"))]
        CmsdkUart(CONSOLE).init();
        #[cfg(feature = "ccid")]
        {
            CmsdkUart(CONSOLE).init_waking();
            CmsdkUart(UART0).init_waking();
            // SAFETY: NVIC_ISER0 of the Cortex-M4: enables the two receive
            // interrupts, whose handler (`uart_received`) is in the vector table.
            unsafe { write_volatile(NVIC_ISER0 as *mut u32, RX_INTERRUPTS) };
        }
    }
}

impl core::fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        CmsdkUart(CONSOLE).write(s.as_bytes());
        Ok(())
    }
}

/// Leave QEMU with `code` as its exit status (semihosting SYS_EXIT_EXTENDED,
/// reason ADP_Stopped_ApplicationExit).
fn exit(code: u32) -> ! {
    let block = [0x2_0026u32, code];
    loop {
        // SAFETY: the semihosting call reads the two words of `block`.
        unsafe {
            core::arch::asm!("bkpt #0xAB", in("r0") 0x20, in("r1") block.as_ptr(), options(nostack));
        }
    }
}

/// A fault: say so and fail.
pub fn fault() -> ! {
    let _ = writeln!(Console, "firmware: fault");
    exit(2)
}

/// A panic: say where and fail.
pub fn panicked(info: &core::panic::PanicInfo) -> ! {
    let _ = writeln!(Console, "firmware: {info}");
    exit(3)
}

// ---------------------------------------------------------------- markers

static MARK: MaybeUninit<u32> = MaybeUninit::uninit();

/// Functions the instruction trace recognises by address (distinct bodies, so
/// that none is merged with another).
macro_rules! marker {
    ($name:ident, $value:expr) => {
        #[inline(never)]
        #[unsafe(no_mangle)]
        extern "C" fn $name() {
            // SAFETY: a word of RAM only the markers write.
            unsafe { write_volatile(MARK.as_ptr().cast_mut(), $value) };
        }
    };
}
marker!(fw_mark_request, 1);
marker!(fw_mark_done, 2);

// ---------------------------------------------------------------- stacks

unsafe extern "C" {
    static mut _driver_stack_start: u32;
    static mut _driver_stack_end: u32;
    static mut _sim_stack_start: u32;
    static mut _sim_stack_end: u32;
}

const PAINT: u32 = 0xA5C3_5A3C;

fn current_sp() -> usize {
    let sp: usize;
    // SAFETY: reads SP.
    unsafe {
        core::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags))
    };
    sp
}

/// Words left unpainted below the stack pointer: the painting function's own frame
/// (which the compiler may push after the stack pointer is read).
const PAINT_MARGIN: usize = 64;

/// Paint the stack in use from `bottom` up to `top` (exclusive), or up to
/// [`PAINT_MARGIN`] bytes below this function's stack pointer if `top` is above
/// that.
#[inline(never)]
fn paint(bottom: *mut u32, top: *mut u32) {
    paint_idle(
        bottom,
        (current_sp() - PAINT_MARGIN).min(top as usize) as *mut u32,
    );
}

/// Paint an idle stack (the main stack, seen from thread mode) from `bottom` up to
/// `limit` (exclusive).
#[inline(never)]
fn paint_idle(bottom: *mut u32, limit: *mut u32) {
    let mut p = bottom;
    while p < limit {
        // SAFETY: [bottom, limit) is stack memory below every live frame (or the
        // idle main stack); nothing else runs meanwhile.
        unsafe {
            write_volatile(p, PAINT);
            p = p.add(1);
        }
    }
}

/// The lowest address written since painting, scanning up from `bottom`.
fn lowest_used(bottom: *mut u32, top: *mut u32) -> usize {
    let mut p = bottom;
    // SAFETY: reads inside the stack region.
    while p < top && unsafe { read_volatile(p) } == PAINT {
        p = unsafe { p.add(1) };
    }
    p as usize
}

fn driver_stack() -> (*mut u32, *mut u32) {
    (&raw mut _driver_stack_start, &raw mut _driver_stack_end)
}

fn sim_stack() -> (*mut u32, *mut u32) {
    (&raw mut _sim_stack_start, &raw mut _sim_stack_end)
}

// ---------------------------------------------------------------- start

/// Entry from the reset handler (on the main stack): console, the simulated card,
/// both stacks painted, then the firmware on the process stack.
pub fn start() -> ! {
    Console::init();
    // SAFETY: nothing else touches the hardware model before the first `svc`.
    unsafe {
        (*HARDWARE.get()).write(Hardware {
            card: Card::create(CardConfig::new(Profile::t0_t1())),
            present: true,
            powered: false,
            rst: false,
            echo: None,
            control: Control::LineStart,
            slow: 0,
            wtx: 0,
            work: Work::Answering,
        });
    }
    let (bottom, top) = driver_stack();
    paint(bottom, top);
    unsafe extern "C" {
        /// Switch thread mode to the process stack at `psp`, reset the main stack
        /// to `msp` (for handlers) and jump to `entry`.
        fn run_on_psp(psp: *mut u32, msp: *mut u32, entry: extern "C" fn() -> !) -> !;
    }
    // SAFETY: both are the top of their (8-byte aligned) stack regions; the
    // frames on the main stack are abandoned.
    unsafe { run_on_psp(top, sim_stack().1, thread_entry) }
}

core::arch::global_asm!(
    ".section .text.run_on_psp,\"ax\",%progbits",
    ".global run_on_psp",
    ".type run_on_psp,%function",
    ".thumb_func",
    "run_on_psp:",
    "  msr psp, r0",
    "  mrs r3, control",
    "  orr r3, r3, #2",
    "  msr control, r3",
    "  isb",
    "  msr msp, r1",
    "  bx r2",
);

extern "C" fn thread_entry() -> ! {
    // The main stack is idle from here on: paint it for the simulation's mark.
    let (bottom, top) = sim_stack();
    paint_idle(bottom, top);
    crate::run()
}

// ---------------------------------------------------------------- probe

#[cfg(not(feature = "ccid"))]
#[unsafe(link_section = ".host")]
static INPUT: StaticCell<[u8; HOST_BUFFER_LEN]> = StaticCell::new([0; HOST_BUFFER_LEN]);
#[cfg(not(feature = "ccid"))]
#[unsafe(link_section = ".host")]
static OUTPUT: StaticCell<[u8; HOST_BUFFER_LEN]> = StaticCell::new([0; HOST_BUFFER_LEN]);

/// The host's request and answer buffers (in `.host`: the application's RAM, not
/// the driver's).
#[cfg(not(feature = "ccid"))]
pub fn host_buffers() -> (&'static mut [u8], &'static mut [u8]) {
    // SAFETY: called once, from `run`; nothing else touches the buffers.
    unsafe { (&mut *INPUT.get(), &mut *OUTPUT.get()) }
}

/// Stack marks per request, printed with the session.
#[cfg(not(feature = "ccid"))]
pub struct StackProbe {
    /// Deepest driver stack of any request, in bytes below the caller of
    /// `Device::control`.
    driver: usize,
    /// Deepest use of the whole process stack (start-up included), in bytes.
    thread: usize,
    /// Deepest use of the simulation's stack, in bytes.
    sim: usize,
    /// This request's marks.
    last: (usize, usize),
}

/// The probe of this board; the thread stack's start-up use is taken now.
#[cfg(not(feature = "ccid"))]
pub fn probe() -> StackProbe {
    let (bottom, top) = driver_stack();
    let thread = top as usize - lowest_used(bottom, top);
    let _ = writeln!(
        Console,
        "firmware: readerkit on mps2-an386 (Cortex-M4), simulated card behind a simulated TDA8035"
    );
    StackProbe {
        driver: 0,
        thread,
        sim: 0,
        last: (0, 0),
    }
}

#[cfg(not(feature = "ccid"))]
impl Probe for StackProbe {
    #[inline(never)]
    fn request(
        &mut self,
        _index: usize,
        _step: Step,
        request: &mut dyn FnMut() -> Outcome,
    ) -> Outcome {
        let (bottom, top) = driver_stack();
        let (sim_bottom, sim_top) = sim_stack();
        let base = current_sp();
        paint(bottom, top);
        paint_idle(sim_bottom, sim_top);
        let outcome = measured(request);
        let lowest = lowest_used(bottom, top);
        let sim = sim_top as usize - lowest_used(sim_bottom, sim_top);
        self.last = (base.saturating_sub(lowest), sim);
        self.driver = self.driver.max(self.last.0);
        self.thread = self.thread.max(top as usize - lowest);
        self.sim = self.sim.max(sim);
        outcome
    }

    fn answered(&mut self, index: usize, step: Step, ok: bool, answer: &[u8]) {
        let mut out = Console;
        let _ = write!(out, "request {index}: {}", step.name());
        if let Step::Echo(n) = step {
            let _ = write!(out, " {n} bytes");
        }
        let verdict = if ok { "ok" } else { "WRONG" };
        let _ = write!(
            out,
            ": {verdict}, answer {} B, driver stack {} B, simulation stack {} B",
            answer.len(),
            self.last.0,
            self.last.1
        );
        if step == Step::ColdReset {
            let _ = write!(out, ", ATR");
            for b in answer {
                let _ = write!(out, " {b:02X}");
            }
        }
        let _ = writeln!(out);
    }
}

/// Run one request between the trace markers. Never inlined: the stack pointer
/// of [`StackProbe::request`], read before this call, is the base of the
/// request's measured depth, and everything below it is the driver's.
#[cfg(not(feature = "ccid"))]
#[inline(never)]
fn measured(request: &mut dyn FnMut() -> Outcome) -> Outcome {
    fw_mark_request();
    let outcome = request();
    fw_mark_done();
    outcome
}

/// Print the marks and leave QEMU with the verdict.
#[cfg(not(feature = "ccid"))]
pub fn finish(_dev: &Dev, verdict: Verdict, probe: StackProbe) -> ! {
    let mut out = Console;
    let _ = writeln!(
        out,
        "stack high water: driver {} B (below the caller of Device::control), process stack {} B (start-up, session and driver), simulated card {} B (main stack)",
        probe.driver, probe.thread, probe.sim
    );
    match verdict.failed {
        None => {
            let _ = writeln!(out, "firmware: {} requests ok", verdict.ok);
            exit(0)
        }
        Some(index) => {
            let _ = writeln!(
                out,
                "firmware: request {index} FAILED after {} requests ok",
                verdict.ok
            );
            exit(1)
        }
    }
}

// ---------------------------------------------------------------- CCID

/// The host's port: UART0, on a pseudo-terminal of the host (`-serial pty`).
#[cfg(feature = "ccid")]
pub struct HostUart;

/// When the host's last byte came: [`timer0`]'s count as it was read.
#[cfg(feature = "ccid")]
static LAST_HOST_BYTE: AtomicU32 = AtomicU32::new(0);

#[cfg(feature = "ccid")]
impl crate::ccid::HostPort for HostUart {
    fn read(&mut self) -> Option<u8> {
        let byte = CmsdkUart(UART0).read();
        if byte.is_some() {
            LAST_HOST_BYTE.store(timer0(), Ordering::Relaxed);
        }
        byte
    }
    /// On TIMER0, which wraps every 171 s: a gap is measured right if it is
    /// looked at within that (the serving loop looks all the time while a frame
    /// is begun).
    fn quiet_us(&mut self) -> u32 {
        LAST_HOST_BYTE
            .load(Ordering::Relaxed)
            .wrapping_sub(timer0())
            / TICKS_PER_US
    }
    fn write(&mut self, bytes: &[u8]) {
        CmsdkUart(UART0).write(bytes)
    }
    /// Sleep (WFI) until a byte comes from the host or on the console, whose
    /// control lines move the card. A firmware spinning here instead keeps
    /// QEMU's vCPU thread busy on a whole host core while idle, and the host's
    /// scheduler then treats it as a CPU hog: on a loaded machine its answers
    /// came up to 0.8 s late, past libccid's 100 ms read time-out at open.
    fn idle(&mut self) {
        // SAFETY: CPSID/CPSIE only mask and unmask interrupts, WFI only waits.
        // With interrupts masked, a byte that comes after the look below still
        // ends the WFI (a pending interrupt wakes it even while masked), and its
        // handler runs at CPSIE: no byte is slept through.
        unsafe {
            core::arch::asm!("cpsid i", options(nostack, preserves_flags));
            if !CmsdkUart(UART0).has_byte() && !CmsdkUart(CONSOLE).has_byte() {
                core::arch::asm!("wfi", options(nostack, preserves_flags));
            }
            core::arch::asm!("cpsie i", options(nostack, preserves_flags));
        }
    }
}

/// NVIC_ISER0: a one enables external interrupt n (bit n).
#[cfg(feature = "ccid")]
const NVIC_ISER0: usize = 0xE000_E100;
/// The receive interrupts of UART0 (IRQ 0) and UART1 (IRQ 2) on mps2-an386.
#[cfg(feature = "ccid")]
const RX_INTERRUPTS: u32 = 1 << 0 | 1 << 2;

/// The handler of both receive interrupts: it only clears them (the bytes are
/// read by the serving loop); taking it is what ends [`HostUart::idle`]'s sleep.
#[cfg(feature = "ccid")]
unsafe extern "C" fn uart_received() {
    CmsdkUart(UART0).clear_receive_interrupt();
    CmsdkUart(CONSOLE).clear_receive_interrupt();
}

/// External interrupts 0 to 2 (after the 15 exceptions of `rt`): UART0 receive,
/// UART0 transmit (never enabled), UART1 receive.
#[cfg(feature = "ccid")]
#[unsafe(link_section = ".vector_table.interrupts")]
#[used]
static INTERRUPTS: [crate::rt::Vector; 3] = [
    crate::rt::Vector {
        handler: uart_received,
    },
    crate::rt::Vector { reserved: 0 },
    crate::rt::Vector {
        handler: uart_received,
    },
];

/// The host's port.
#[cfg(feature = "ccid")]
pub fn host_port() -> HostUart {
    HostUart
}

/// Stack marks of the CCID commands, printed on the console when they grow.
#[cfg(feature = "ccid")]
pub struct StackMeter {
    /// Deepest stack of any command, in bytes below the caller of
    /// `CcidReader::handle`.
    command: usize,
    /// Commands handled.
    commands: u32,
}

/// The meter of this board (says what the firmware is on the console).
#[cfg(feature = "ccid")]
pub fn meter() -> StackMeter {
    let _ = writeln!(
        Console,
        "firmware: readerkit CCID reader (GemPC Twin framing on UART0) on mps2-an386 (Cortex-M4), simulated card behind a simulated TDA8035; lines `remove` / `insert` here move the card"
    );
    StackMeter {
        command: 0,
        commands: 0,
    }
}

#[cfg(feature = "ccid")]
impl crate::ccid::Meter for StackMeter {
    #[inline(never)]
    fn command<R>(&mut self, run: impl FnOnce() -> R) -> R {
        let (bottom, top) = driver_stack();
        let base = current_sp();
        paint(bottom, top);
        let result = measured_command(run);
        let lowest = lowest_used(bottom, top);
        self.commands += 1;
        let depth = base.saturating_sub(lowest);
        if depth > self.command {
            self.command = depth;
            let _ = writeln!(
                Console,
                "stack high water: CCID command {depth} B (below the caller of CcidReader::handle), process stack {} B, after {} commands",
                top as usize - lowest,
                self.commands
            );
        }
        result
    }
}

/// Run one command between the trace markers. Never inlined: the stack pointer of
/// [`StackMeter::command`], read before this call, is the base of the measured
/// depth.
#[cfg(feature = "ccid")]
#[inline(never)]
fn measured_command<R>(run: impl FnOnce() -> R) -> R {
    fw_mark_request();
    let result = run();
    fw_mark_done();
    result
}

// ---------------------------------------------------------------- the card line

/// A slow card's work after each NULL byte, in polls of the line (each counted
/// as one etu by the driver: far below the 9 600-etu work waiting time).
const WORK_POLLS: u16 = 2_000;
/// The wall-clock length of one poll of a slow card's work, in µs.
const WORK_POLL_US: u32 = 100;
/// A slow card's work between reset and ATR, in polls of the line (each counted
/// as one etu by the driver: below the ATR's first-character limit, 40 000
/// clock cycles + 12 etu, about 119 etu at the default 372 cycles an etu).
const ATR_WORK_POLLS: u16 = 50;
/// The wall-clock length of one poll of a slow card's work before its ATR, in µs.
const ATR_WORK_POLL_US: u32 = 4_000;
/// TIMER0, a CMSDK APB timer (CTRL at 0, VALUE at 4, RELOAD at 8) counting
/// down at the 25 MHz system clock.
const TIMER0: usize = 0x4000_0000;
/// TIMER0 ticks per µs.
const TICKS_PER_US: u32 = 25;

/// TIMER0's count, down from `u32::MAX` at [`TICKS_PER_US`] a µs (QEMU's
/// clock), free-running from the first read: wraps every 171 s.
fn timer0() -> u32 {
    // SAFETY: CTRL, VALUE and RELOAD of the board's TIMER0, used by nothing else.
    unsafe {
        if read_volatile(TIMER0 as *const u32) & 1 == 0 {
            write_volatile((TIMER0 + 8) as *mut u32, u32::MAX);
            write_volatile((TIMER0 + 4) as *mut u32, u32::MAX);
            write_volatile(TIMER0 as *mut u32, 1);
        }
        read_volatile((TIMER0 + 4) as *const u32)
    }
}

/// Wait `us` µs of QEMU's clock on TIMER0.
fn spin_us(us: u32) {
    let start = timer0();
    let ticks = us.saturating_mul(TICKS_PER_US);
    while start.wrapping_sub(timer0()) < ticks {}
}

/// What the console's control line read so far says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    /// At the start of a line.
    LineStart,
    /// `slow N` or `wtx N`: the setting and the digits so far.
    Number(Setting, u8),
    /// The rest of the line means nothing.
    Skip,
}

/// What a control line with a number sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setting {
    /// `slow N`: the T=0 card's NULL bytes before every answer.
    Slow,
    /// `wtx N`: the multiplier of the card's S(WTX request) before every answer.
    Wtx,
}

/// Where a slow card is between answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Work {
    /// The reader sent last, or the card sent NULL bytes only since: a NULL byte
    /// now is a request for more time.
    Procedure,
    /// The card is working towards `task`: the line stays quiet for `polls` more
    /// polls.
    Working { polls: u16, task: Task },
    /// The card sends data or a status.
    Answering,
}

/// What a slow card works towards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Task {
    /// Its next procedure byte, after a NULL byte.
    Procedure,
    /// Its ATR, after a reset.
    Atr,
}

impl Task {
    /// The card's work for this task: its polls, each of `poll_us` µs.
    fn start(self) -> Work {
        let polls = match self {
            Task::Procedure => WORK_POLLS,
            Task::Atr => ATR_WORK_POLLS,
        };
        Work::Working { polls, task: self }
    }

    /// The wall-clock length of one poll of this work, in µs.
    fn poll_us(self) -> u32 {
        match self {
            Task::Procedure => WORK_POLL_US,
            Task::Atr => ATR_WORK_POLL_US,
        }
    }

    /// Where the card is once the work is done.
    fn done(self) -> Work {
        match self {
            Task::Procedure => Work::Procedure,
            Task::Atr => Work::Answering,
        }
    }
}

/// The TDA8035 model with the card in its slot.
struct Hardware {
    card: Card<CARD_CAPACITY>,
    /// A card is in the slot.
    present: bool,
    /// CMDVCC is low: the card is powered.
    powered: bool,
    rst: bool,
    /// What RX holds: the echo of the last character sent (or the card's error
    /// signal on it).
    echo: Option<Answer>,
    /// The console's control line.
    control: Control,
    /// NULL bytes the T=0 card sends before every answer (`slow N`).
    slow: u8,
    /// The multiplier of the S(WTX request) the T=1 card sends before every
    /// answer, 0 for none (`wtx N`).
    wtx: u8,
    /// The slow card's work.
    work: Work,
}

static HARDWARE: StaticCell<MaybeUninit<Hardware>> = StaticCell::new(MaybeUninit::uninit());

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Cmdvcc,
    Rstin,
    Status,
}

/// A request to the hardware.
#[derive(Debug, Clone, Copy)]
enum Op {
    Set(Signal, bool),
    Get(Signal),
    Send(u8),
    Receive,
}

/// The hardware's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Done,
    Level(bool),
    Byte(u8),
    Error(ErrorKind),
    Empty,
}

struct Mailbox {
    op: Op,
    answer: Answer,
}

static MAILBOX: StaticCell<Mailbox> = StaticCell::new(Mailbox {
    op: Op::Receive,
    answer: Answer::Done,
});

/// One access to the hardware: `op` in the mailbox, `svc`, the answer back.
fn access(op: Op) -> Answer {
    // SAFETY: thread mode is the only writer of `op` and reads `answer` after the
    // SVCall handler (which runs to completion inside `svc`) wrote it; the asm
    // block is a compiler barrier for memory.
    unsafe {
        (*MAILBOX.get()).op = op;
        core::arch::asm!("svc #0", options(nostack));
        (*MAILBOX.get()).answer
    }
}

#[unsafe(no_mangle)]
unsafe extern "C" fn svcall() {
    // SAFETY: the handler runs only inside `access` (thread mode waits in `svc`),
    // after `start` initialised HARDWARE.
    unsafe {
        let mailbox = &mut *MAILBOX.get();
        let hardware = (*HARDWARE.get()).assume_init_mut();
        mailbox.answer = hardware.serve(mailbox.op);
    }
}

impl Hardware {
    /// Control lines from the console: a line starting with `r` takes the card
    /// out (the chip deactivates it), one starting with `i` puts a fresh card in,
    /// `slow N` makes the card send N NULL bytes before every answer, `wtx N`
    /// an S(WTX request) with multiplier N.
    fn controls(&mut self) {
        while let Some(b) = CmsdkUart(CONSOLE).read() {
            self.control = match (self.control, b) {
                (Control::Number(setting, n), b'\n') => {
                    let _ = match setting {
                        Setting::Slow => {
                            self.slow = n;
                            writeln!(Console, "slow card: {n} NULL bytes before every answer")
                        }
                        Setting::Wtx => {
                            self.wtx = n;
                            writeln!(Console, "wtx card: S(WTX) x{n} before every answer")
                        }
                    };
                    self.card.set_faults(self.faults());
                    Control::LineStart
                }
                (_, b'\n') => Control::LineStart,
                (Control::LineStart, b'r') => {
                    self.present = false;
                    self.card.power_off();
                    self.echo = None;
                    Control::Skip
                }
                (Control::LineStart, b'i') if !self.present => {
                    self.card =
                        Card::create(CardConfig::new(Profile::t0_t1()).with_faults(self.faults()));
                    self.present = true;
                    Control::Skip
                }
                (Control::LineStart, b's') => Control::Number(Setting::Slow, 0),
                (Control::LineStart, b'w') => Control::Number(Setting::Wtx, 0),
                (Control::Number(setting, n), b'0'..=b'9') => {
                    Control::Number(setting, n.saturating_mul(10).saturating_add(b - b'0'))
                }
                (number @ Control::Number(..), _) => number,
                _ => Control::Skip,
            };
        }
    }

    /// The card's faults: a slow card's NULL bytes, its S(WTX request).
    fn faults(&self) -> Faults {
        Faults {
            t0_null_bytes: self.slow,
            wtx: (self.wtx > 0).then_some(Wtx {
                answer: Trigger::Every,
                multiplier: self.wtx,
                count: 1,
            }),
            ..Faults::default()
        }
    }

    /// The card's next byte on the line, if it sends one now.
    fn card_byte(&mut self) -> Option<u8> {
        if let Work::Working { polls, task } = self.work {
            self.work = match polls {
                0 => task.done(),
                _ => Work::Working {
                    polls: polls - 1,
                    task,
                },
            };
            spin_us(task.poll_us());
            return None;
        }
        let mut byte = [0u8; 1];
        if !(self.powered && self.present && self.card.read(&mut byte) == 1) {
            return None;
        }
        self.work = match (self.work, byte[0]) {
            (Work::Procedure, readerkit::t0::NULL) if self.slow > 0 => Task::Procedure.start(),
            _ => Work::Answering,
        };
        Some(byte[0])
    }

    fn serve(&mut self, op: Op) -> Answer {
        match op {
            Op::Set(Signal::Cmdvcc, high) => {
                self.powered = !high;
                // A card switched on or off has no work in hand.
                self.work = Work::Answering;
                if high {
                    self.card.power_off();
                    self.echo = None;
                }
                Answer::Done
            }
            Op::Set(Signal::Rstin, high) => {
                if high && !self.rst && self.powered && self.present {
                    self.work = match self.slow {
                        0 => Work::Answering,
                        _ => Task::Atr.start(),
                    };
                    self.card.cold_reset();
                }
                self.rst = high;
                Answer::Done
            }
            Op::Set(Signal::Status, _) => Answer::Done,
            // OFF is high while a card is in the slot (nothing faults).
            Op::Get(Signal::Status) => {
                self.controls();
                Answer::Level(self.present)
            }
            Op::Get(Signal::Cmdvcc) => Answer::Level(!self.powered),
            Op::Get(Signal::Rstin) => Answer::Level(self.rst),
            Op::Send(byte) => {
                self.work = Work::Procedure;
                self.echo = Some(if !self.powered || !self.present {
                    Answer::Byte(byte)
                } else {
                    match self.card.write(&[byte]) {
                        Ok(()) => Answer::Byte(byte),
                        // The card's error signal: a framing error on the echo.
                        Err(_) => Answer::Error(ErrorKind::FrameFormat),
                    }
                });
                Answer::Done
            }
            Op::Receive => {
                if let Some(echo) = self.echo.take() {
                    return echo;
                }
                match self.card_byte() {
                    Some(byte) => Answer::Byte(byte),
                    None => Answer::Empty,
                }
            }
        }
    }
}

/// A pin of the chip.
pub struct SimPin(Signal);

impl ErrorType for SimPin {
    type Error = core::convert::Infallible;
}

impl OutputPin for SimPin {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        access(Op::Set(self.0, false));
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Self::Error> {
        access(Op::Set(self.0, true));
        Ok(())
    }
}

impl InputPin for SimPin {
    fn is_high(&mut self) -> Result<bool, Self::Error> {
        Ok(access(Op::Get(self.0)) == Answer::Level(true))
    }
    fn is_low(&mut self) -> Result<bool, Self::Error> {
        self.is_high().map(|h| !h)
    }
}

/// The chip's control pins (voltage selection tied: class A only is wired... the
/// model ignores it).
pub type Pins = readerkit_hal::interface::Pins<SimPin, SimPin, SimPin, NoPin, NoPin, NoPin, NoPin>;

/// CMDVCCN, RSTIN, OFF.
pub fn pins() -> Pins {
    Pins {
        cmdvcc: SimPin(Signal::Cmdvcc),
        rstin: SimPin(Signal::Rstin),
        status: SimPin(Signal::Status),
        vsel0: NoPin,
        vsel1: NoPin,
        clkdiv1: NoPin,
        clkdiv2: NoPin,
    }
}

/// The UART on the card's I/O line.
pub struct SimUart;

/// A receive error on the card's I/O line.
#[derive(Debug)]
pub struct UartError(ErrorKind);

impl serial::Error for UartError {
    fn kind(&self) -> ErrorKind {
        self.0
    }
}

impl serial::ErrorType for SimUart {
    type Error = UartError;
}

impl serial::Read<u8> for SimUart {
    fn read(&mut self) -> nb::Result<u8, UartError> {
        match access(Op::Receive) {
            Answer::Byte(b) => Ok(b),
            Answer::Error(kind) => Err(nb::Error::Other(UartError(kind))),
            _ => Err(nb::Error::WouldBlock),
        }
    }
}

impl serial::Write<u8> for SimUart {
    fn write(&mut self, word: u8) -> nb::Result<(), UartError> {
        access(Op::Send(word));
        Ok(())
    }
    fn flush(&mut self) -> nb::Result<(), UartError> {
        Ok(())
    }
}

impl UartConfig for SimUart {
    fn configure(&mut self, baud_bps: u32, _parity: Parity) -> Result<(), ConfigError> {
        // The simulation has no clock: any rate is as good as another.
        if baud_bps == 0 {
            Err(ConfigError)
        } else {
            Ok(())
        }
    }
}

/// The UART.
pub fn uart() -> SimUart {
    SimUart
}

/// The delay: the simulation has no clock, so waiting is free (the driver still
/// counts the time it asked for).
pub struct NoDelay;

impl DelayNs for NoDelay {
    /// Free; the CCID reader reads the host meanwhile (while a command runs).
    fn delay_ns(&mut self, _ns: u32) {
        #[cfg(feature = "ccid")]
        crate::ccid::while_waiting();
    }
}

/// The delay.
pub fn delay() -> NoDelay {
    NoDelay
}

/// The UART type.
pub type Uart = SimUart;
/// The delay type.
pub type Delay = NoDelay;

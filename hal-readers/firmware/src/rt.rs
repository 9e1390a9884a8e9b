//! The start-up code both boards share: the vector table, the reset handler
//! (`.bss` zeroed, `.data` copied, the FPU switched on), the panic handler.

use core::ptr::{read_volatile, write_volatile};

/// One entry of the vector table.
#[derive(Clone, Copy)]
pub union Vector {
    /// A handler that returns (an exception that is served and left).
    pub handler: unsafe extern "C" fn(),
    /// A handler that never returns (reset, faults).
    pub diverging: unsafe extern "C" fn() -> !,
    /// A reserved entry.
    pub reserved: usize,
}

unsafe extern "C" {
    static mut _sbss: u32;
    static mut _ebss: u32;
    static mut _sdata: u32;
    static mut _edata: u32;
    static _sidata: u32;
}

/// Coprocessor access control register: CP10 and CP11 (the FPU).
const CPACR: usize = 0xE000_ED88;

/// Reset handler: zero .bss, copy .data, enable the FPU (the target uses the hard
/// float ABI), run the board's entry.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reset() -> ! {
    // SAFETY: the linker script defines these symbols, word aligned, with
    // _sbss <= _ebss and _sdata <= _edata; nothing runs before this. CPACR is the
    // architectural register of every Cortex-M4F.
    unsafe {
        let mut p = &raw mut _sbss;
        while p < &raw mut _ebss {
            write_volatile(p, 0);
            p = p.add(1);
        }
        let mut d = &raw mut _sdata;
        let mut s = &raw const _sidata;
        while d < &raw mut _edata {
            write_volatile(d, read_volatile(s));
            d = d.add(1);
            s = s.add(1);
        }
        write_volatile(
            CPACR as *mut u32,
            read_volatile(CPACR as *const u32) | (0xF << 20),
        );
        core::arch::asm!("dsb", "isb", options(nostack, preserves_flags));
    }
    crate::board::start()
}

unsafe extern "C" fn default_handler() -> ! {
    crate::board::fault()
}

const DEFAULT: Vector = Vector {
    diverging: default_handler,
};
const RESERVED: Vector = Vector { reserved: 0 };

/// The 15 exception vectors after the initial stack pointer (which the linker
/// script writes): reset, NMI, the four faults, four reserved, SVCall, debug
/// monitor, reserved, PendSV, SysTick.
#[unsafe(link_section = ".vector_table.readerkit")]
#[used]
static EXCEPTIONS: [Vector; 15] = [
    Vector { diverging: reset },
    DEFAULT,
    DEFAULT,
    DEFAULT,
    DEFAULT,
    DEFAULT,
    RESERVED,
    RESERVED,
    RESERVED,
    RESERVED,
    match crate::board::SVCALL {
        Some(handler) => Vector { handler },
        None => DEFAULT,
    },
    DEFAULT,
    RESERVED,
    DEFAULT,
    DEFAULT,
];

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    crate::board::panicked(info)
}

/// A static the firmware reaches through a raw pointer: one core, and each user
/// says why its access is exclusive.
pub struct StaticCell<T>(core::cell::UnsafeCell<T>);

// SAFETY: single core; every access goes through `get` under its own SAFETY note.
unsafe impl<T> Sync for StaticCell<T> {}

impl<T> StaticCell<T> {
    /// A cell holding `value`.
    pub const fn new(value: T) -> Self {
        StaticCell(core::cell::UnsafeCell::new(value))
    }

    /// The pointer to the value.
    pub const fn get(&self) -> *mut T {
        self.0.get()
    }
}

/// Sleep until an interrupt, forever (the device board stops here).
#[cfg_attr(feature = "qemu", allow(dead_code))]
pub fn halt() -> ! {
    loop {
        // SAFETY: WFI only waits.
        unsafe { core::arch::asm!("wfi", options(nomem, nostack, preserves_flags)) };
    }
}

// The crate documentation is the README (one text for both).
#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), no_std)]
#![allow(non_camel_case_types)]

#[cfg(feature = "std")]
extern crate std;

pub mod action;
pub mod atr;
pub mod callbacks;
pub mod caps;
pub mod codes;
pub mod device;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod guard;
mod held;
pub mod keypad;
pub mod line;
pub mod line_config;
pub mod log;
#[cfg(feature = "sim")]
pub mod sim;
pub mod sleep;
mod slot;
pub mod status;
pub mod t0;
pub mod t1;
#[cfg(test)]
mod tests;

pub use action::*;
pub use atr::*;
pub use callbacks::*;
pub use caps::*;
pub use codes::*;
pub use device::*;
pub use keypad::*;
pub use line::*;
pub use line_config::*;
pub use log::*;
#[cfg(feature = "sim")]
pub use sim::*;
pub use sleep::*;
pub use status::*;
pub use t0::*;
pub use t1::*;

#[cfg(all(feature = "firmware", not(feature = "std"), not(test)))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

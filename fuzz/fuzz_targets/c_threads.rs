//! The C ABI (readerkit-c) from two or three threads at once on one device:
//! fuzzer-chosen calls and card events, callbacks that count themselves (never
//! two at once), a hang guard. The harness is `readerkit_fuzz::c_threads` (its
//! module documentation says what the input is and what is checked).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| readerkit_fuzz::c_threads::run(data));

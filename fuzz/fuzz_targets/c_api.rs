//! The C ABI (readerkit-c) as a careless C caller uses it: a sequence of `rk_*`
//! calls over one arena with guard bytes, driver callbacks played by the fuzzer,
//! and oracles after every call. The harness is `readerkit_fuzz::c_api` (its
//! module documentation says what the input is and what is checked).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| readerkit_fuzz::c_api::run(data));

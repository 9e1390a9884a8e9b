//! The C ABI's contracts, exercised through the `extern "C"` functions themselves
//! (no C compiler involved, so that Miri can run them: `tools/miri-c.sh`).

mod device;
mod engines;
mod keypad;
mod line;
mod log;

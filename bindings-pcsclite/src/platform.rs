//! The core's `std` platform ([`readerkit::platform::StdPlatform`]): std locks and a
//! condition variable on which pcscd's polling thread waits for card events.

pub use readerkit::platform::{StdPlatform, Woken};

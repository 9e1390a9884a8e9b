//! `libifd_readerkit.so`: a pcsc-lite IFD handler (API v3) over the readerkit core.
//!
//! pcscd loads the library from a reader.conf entry; the entry's `DEVICENAME` picks
//! the reader, one of [`readerkit_host_readers`]' (`sim:t1`, `vpcd:PORT`,
//! `serial:PATH:CHIP...`, each optionally ending in `:log=LEVEL`; the table is in
//! that crate's documentation). The readers' log goes into pcscd's ([`trace`]).
//!
//! The binding is thin: every IFDH call becomes one request through
//! [`readerkit::Device::control`] (pcsc-lite's `IFD_*` codes, `SCARD_CTL_CODE`s and
//! protocol numbers are translated at the edge, in [`ifdh`]).
//!
//! ```text
//! pcscd ─ IFDH* (extern "C", catch_unwind) ─ registry (Lun → Channel)
//!          └ Port::submit ─ Device ─ the reader's callbacks (readerkit-host-readers)
//! ```

pub mod ifdh;
mod log;
pub mod part10;
pub mod presence;
pub mod registry;
pub mod trace;

pub use ifdh::*;

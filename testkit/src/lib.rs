//! Shared test support for the readerkit workspace (a dev-dependency only).
//!
//! One place for what every crate's tests, benchmarks and examples need, so the
//! copies cannot drift:
//!
//! - [`memory`]: an in-memory reader driver that records its calls, with a
//!   recording platform and a ready [`memory::device`];
//! - [`ack`]: an allocation-free reader that answers every APDU with 90 00 (for the
//!   allocation counter and the dispatch benchmark);
//! - [`vendor`]: the typical vendor attributes;
//! - [`client`]: [`Device`](readerkit::Device) requests as owned bytes, over the
//!   core's typed client side;
//! - [`apdu`]: command APDUs the simulated card (and vicc) answer, and test data;
//! - [`ccid`]: CCID messages (PC_to_RDR) written out;
//! - [`mod@hex`]: spaced hex, both ways (strict: pairs of hex digits only);
//! - [`cli`]: checks of a command-line tool's text and usage errors;
//! - [`pin`]: typical PC/SC part 10 PIN verify and modify requests and their
//!   structures (the core's `emit`);
//! - [`locks`]: a platform mutex that counts the locks a thread holds;
//! - [`rng`]: a deterministic PRNG (xorshift64) for randomized tests;
//! - [`t1`]: T=1 blocks written out, with an LRC of their own (not the core's);
//! - [`thread`]: a hang guard for scenarios whose failure is a deadlock or a
//!   peer that never answers;
//! - [`usbip`]: a scripted USB/IP client (for `readerkit usbip-serve`);
//! - [`vpcd_peer`]: a scripted virtual card for a `vpcd:` reader (the vpcd
//!   protocol's card side);
//! - `sim` (feature `sim`): a `Device` over `LineReader<SimLine>`, a simulated
//!   card powered on with its ATR checked, and the card's fault switches built in
//!   one line;
//! - `pcsc` and `pcscd` (feature `pcscd`): PC/SC client helpers and a private,
//!   socket-activated pcscd;
//! - `owned_child` (feature `pcscd`): a child process in a process group of its
//!   own, killed with the group on drop and by the kernel when the thread that
//!   started it ends (a failed or killed test leaves no QEMU or server behind);
//! - `served` (feature `pcscd`): a server process a test starts, its first line
//!   of stdout, its process an `owned_child`;
//! - `ccid_serve` (feature `pcscd`): `readerkit ccid-serve` as a child process;
//! - `line_tap` (feature `pcscd`): a go-between on a GemPC Twin serial line
//!   (host's terminal ↔ reader's terminal) that logs what it relays and damages
//!   or NAKs one reader frame when told to;
//! - `listening` (feature `pcscd`): whether a daemon's socket listens yet, read
//!   from the kernel's socket table;
//! - `opensc` (feature `pcscd`): OpenSC's `opensc-tool` and `opensc-explorer` as
//!   PC/SC clients (a PIN verified on the reader's PIN pad);
//! - `frozen` (feature `pcscd`): one thread of a served process held still
//!   (ptrace), a starved thread made deterministic;
//! - `vicc` (feature `pcscd`): vsmartcard's virtual card for a vpcd reader;
//! - `twin_peer` and `twin_abuse` (feature `pcscd`): a raw peer on a GemPC Twin
//!   serial line, and a hostile host built on it (a seeded script of abuses).

pub mod ack;
pub mod apdu;
pub mod ccid;
#[cfg(feature = "pcscd")]
pub mod ccid_serve;
pub mod cli;
pub mod client;
#[cfg(feature = "pcscd")]
pub mod frozen;
pub mod hex;
#[cfg(feature = "pcscd")]
pub mod line_tap;
#[cfg(feature = "pcscd")]
pub mod listening;
pub mod locks;
pub mod memory;
#[cfg(feature = "pcscd")]
pub mod opensc;
#[cfg(feature = "pcscd")]
pub mod owned_child;
#[cfg(feature = "pcscd")]
pub mod pcsc;
#[cfg(feature = "pcscd")]
pub mod pcscd;
pub mod pin;
pub mod rng;
#[cfg(feature = "pcscd")]
pub mod served;
#[cfg(feature = "sim")]
pub mod sim;
pub mod t1;
pub mod thread;
#[cfg(feature = "pcscd")]
pub mod twin_abuse;
#[cfg(feature = "pcscd")]
pub mod twin_peer;
pub mod usbip;
pub mod vendor;
#[cfg(feature = "pcscd")]
pub mod vicc;
pub mod vpcd_peer;

pub use hex::hex;

//! The parsers of the `readerkit` command-line tool, as a library: the binary
//! (`src/main.rs`) takes them from here, and so does the fuzz crate (`fuzz/`,
//! target `cli`), which cannot link a binary.
//!
//! Everything here reads what a user or another package hands the tool: hex
//! bytes typed as APDUs and ATRs ([`hex`]), pcsc-tools' `smartcard_list.txt`
//! ([`smartcard_list`]), PIN pad key scripts ([`key_script`]), the serving
//! commands' card movements on stdin ([`control`]) and `--timeout` seconds
//! ([`seconds`]); what they refuse is shown back escaped ([`shown`]). One
//! module per concept; the subcommands stay in the binary.

pub mod control;
pub mod hex;
pub mod key_script;
pub mod seconds;
pub mod shown;
pub mod smartcard_list;

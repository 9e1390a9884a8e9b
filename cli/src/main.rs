//! `readerkit`: the command-line tool of the readerkit workspace.
//!
//! Arguments, help and usage errors come from clap (derive); every JSON output is
//! serialised by serde_json from typed structs. One module per subcommand; `main`
//! only dispatches. The parsers of what users and other packages hand the tool
//! (hex, smartcard_list.txt, key scripts, control lines, seconds) are the
//! crate's library (`src/lib.rs`), which the fuzz crate reaches.
//!
//! Exit codes, for every subcommand: 0 success, 1 the input was analysed and is bad
//! (not an ATR, a card error, no reader...), 2 usage error (clap's own code).

mod apdu_cmd;
mod atr_cmd;
mod ccid_serve_cmd;
mod demo_cmd;
mod historical_fmt;
mod host_watch;
mod pcsc_client;
mod scan_cmd;
mod sim_keypad;
mod sim_slot;
mod usbip;
mod usbip_serve_cmd;

use std::process::ExitCode;

use readerkit_cli::{hex, smartcard_list};

use clap::{Parser, Subcommand};

/// Exit code when the input was analysed and is bad (not an ATR, an APDU the card
/// refused to transport, pcscd or the reader missing).
pub(crate) const EXIT_BAD_INPUT: u8 = 1;

/// Report `message`, the reason `readerkit COMMAND` failed on its input: as a JSON
/// object `{"error": message}` on stdout with `--json`, else on stderr; the exit
/// status [`EXIT_BAD_INPUT`].
pub(crate) fn bad_input(command: &str, json: bool, message: &str) -> ExitCode {
    if json {
        println!("{}", serde_json::json!({ "error": message }));
    } else {
        eprintln!("readerkit {command}: {message}");
    }
    ExitCode::from(EXIT_BAD_INPUT)
}

/// The exit status section of the top-level `--help`.
macro_rules! exit_codes {
    () => {
        "Exit status:\n  0  success\n  1  the input was analysed and is bad (not an ATR, no reader, pcscd not running, card error...)\n  2  usage error (unknown option, bad or missing argument)"
    };
}

/// readerkit - smart-card reader driver toolkit.
#[derive(Debug, Parser)]
#[command(
    name = "readerkit",
    version,
    about = "readerkit - smart-card reader driver toolkit",
    after_help = concat!(
        "Examples:\n",
        "  readerkit atr 3B 9B 96 81 71 FE 45 00 80 65 52 4B 53 49 4D 73 10 21 40 EF\n",
        "  readerkit scan --json\n",
        "  readerkit apdu 00A4040007A0000005275242\n\n",
        exit_codes!()
    ),
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Analyse an Answer-to-Reset and identify the card (like pcsc-tools' ATR_analysis).
    ///
    /// Shows (ISO/IEC 7816-3:2006 clause 8) TS, T0, every
    /// TAi/TBi/TCi/TDi with its meaning, the historical bytes (category indicator,
    /// COMPACT-TLV objects of ISO/IEC 7816-4 with the card capabilities and the status
    /// indicator), TCK, the values ISO reserves, and the derived timing (etu, guard
    /// time, WWT for T=0, CWT/BWT/BGT for T=1) both at the default F/D (before PPS) and
    /// at the card's Fi/Di.
    ///
    /// Then identify the card from pcsc-tools' smartcard_list.txt, read at run time:
    /// --list PATH, else $XDG_CACHE_HOME/smartcard_list.txt (default
    /// ~/.cache/smartcard_list.txt), else /usr/share/pcsc/smartcard_list.txt. Every
    /// matching entry is printed.
    Atr(atr_cmd::Args),
    /// List the PC/SC readers and their cards, then follow insertions and removals
    /// (like pcsc_scan).
    ///
    /// Each card is shown with its ATR and its identification from
    /// smartcard_list.txt; card insertions and removals, and readers coming and going,
    /// are followed until interrupted (Ctrl-C) or --events / --timeout is reached. With --json every
    /// event is one JSON object on its own line: {"event": "reader" | "card_inserted" |
    /// "card_removed" | "reader_added" | "reader_removed", "reader": ..., "elapsed_ms":
    /// ..., "state": [...], "atr": ..., "identification": ...}.
    Scan(scan_cmd::Args),
    /// Send APDUs to a card through PC/SC and show each answer with its status word.
    ///
    /// The connection is shared; each APDU is sent in turn and printed with the
    /// answer, the status word with its ISO/IEC 7816-4 meaning and the time taken. An answer 61 xx is followed by GET RESPONSE (Le = xx) until
    /// the data is in, 6C xx by the same command again with Le = xx; each of these
    /// exchanges is shown, then the whole answer. --json prints one JSON object with
    /// every exchange.
    Apdu(apdu_cmd::Args),
    /// Run a session through the whole stack on the simulated card, in process.
    ///
    /// The stack is the core's request entry point, the line reader (PPS, T=0, T=1 engines) and the
    /// simulated card. Prints every request, its answer, and the bytes on the card's
    /// I/O line (-> to the card, <- from the card).
    Demo(demo_cmd::Args),
    /// Serve simulated cards behind a CCID reader on a pseudo-terminal (GemPC Twin
    /// framing), for libccidtwin under pcscd.
    ///
    /// Debian's libccidtwin.so under pcscd uses it as a reader (reader.conf:
    /// DEVICENAME <path>:GemPCTwin or <path>:SEC1210). Prints the terminal's path alone
    /// on the first line, then serves until killed. Lines on stdin move cards: `remove
    /// [SLOT]`, `insert [SLOT]` (slot 0 by default).
    CcidServe(ccid_serve_cmd::Args),
    /// Export a simulated card behind a USB CCID reader over USB/IP (for usbip
    /// attach, vhci-hcd and libccid on a Linux host).
    ///
    /// The reader is the readerkit-ccid usb-device class on a virtual bus, seen by
    /// the client as a GemPC Twin USB (08E6:3437, bus id 1-1), at the exchange level
    /// --level picks (short APDU by default).
    /// Listens on 127.0.0.1; prints the port alone on the first line, then serves
    /// until killed. Lines on stdin move the card: `remove`, `insert`.
    UsbipServe(usbip_serve_cmd::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Atr(args) => atr_cmd::run(args),
        Command::Scan(args) => scan_cmd::run(args),
        Command::Apdu(args) => apdu_cmd::run(args),
        Command::Demo(args) => demo_cmd::run(args),
        Command::CcidServe(args) => ccid_serve_cmd::run(args),
        Command::UsbipServe(args) => usbip_serve_cmd::run(args),
    }
}

/// The exit status of a serving subcommand: 0, or 1 with `readerkit SUBCOMMAND:
/// MESSAGE` on stderr.
pub(crate) fn serve_status(subcommand: &str, served: Result<(), String>) -> ExitCode {
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("readerkit {subcommand}: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Exit with a clap usage error naming `argument` (exit code 2).
pub(crate) fn usage_error(subcommand: &str, message: impl std::fmt::Display) -> ! {
    use clap::CommandFactory;
    let mut command = Cli::command();
    let command = command
        .find_subcommand_mut(subcommand)
        .cloned()
        .unwrap_or_else(Cli::command);
    let mut command = command.bin_name(format!("readerkit {subcommand}"));
    command
        .error(clap::error::ErrorKind::ValueValidation, message)
        .exit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}

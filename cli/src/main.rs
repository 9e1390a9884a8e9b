//! `readerkit`: the command-line tool of the readerkit workspace.
//!
//! Arguments, help and usage errors come from clap (derive); every JSON output is
//! serialised by serde_json from typed structs. One module per subcommand; `main`
//! only dispatches.
//!
//! Exit codes, for every subcommand: 0 success, 1 the input was analysed and is bad
//! (not an ATR, a card error, no reader...), 2 usage error (clap's own code).

mod apdu_cmd;
mod atr_cmd;
mod ccid_serve_cmd;
mod demo_cmd;
mod hex;
mod historical_fmt;
mod pcsc_client;
mod scan_cmd;
mod smartcard_list;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code when the input was analysed and is bad (not an ATR, an APDU the card
/// refused to transport, pcscd or the reader missing).
pub(crate) const EXIT_BAD_INPUT: u8 = 1;

/// The exit status section of every `--help`.
macro_rules! exit_codes {
    () => {
        "Exit status:\n  0  success\n  1  the input was analysed and is bad (not an ATR, no reader, pcscd not running, card error...)\n  2  usage error (unknown option, bad or missing argument)"
    };
}
pub(crate) use exit_codes;

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
    Atr(atr_cmd::Args),
    /// List the PC/SC readers and their cards, then follow insertions and removals
    /// (like pcsc_scan).
    Scan(scan_cmd::Args),
    /// Send APDUs to a card through PC/SC and show each answer with its status word.
    Apdu(apdu_cmd::Args),
    /// Run a session through the whole stack on the simulated card, in process.
    Demo(demo_cmd::Args),
    /// Serve simulated cards behind a CCID reader on a pseudo-terminal (GemPC Twin
    /// framing), for libccidtwin under pcscd.
    CcidServe(ccid_serve_cmd::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Atr(args) => atr_cmd::run(args),
        Command::Scan(args) => scan_cmd::run(args),
        Command::Apdu(args) => apdu_cmd::run(args),
        Command::Demo(args) => demo_cmd::run(args),
        Command::CcidServe(args) => ccid_serve_cmd::run(args),
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

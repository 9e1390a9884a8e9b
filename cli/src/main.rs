//! `readerkit`: the command-line tool of the readerkit workspace.
//!
//! One module per subcommand; `main` only dispatches. Exit codes: 0 success, 1 the
//! input was not acceptable (for `atr`: not an ATR), 2 usage error.

mod atr_cmd;
mod ccid_serve_cmd;
mod demo_cmd;
mod json;

use std::process::ExitCode;

/// Exit code for a usage error (unknown subcommand or option, missing argument).
pub(crate) const EXIT_USAGE: u8 = 2;

const USAGE: &str = "\
readerkit - smart-card reader driver toolkit

Usage:
  readerkit atr [--json] [--clock-khz KHZ] HEX...
  readerkit demo [--profile t0|t1|t1-crc|t0-t1] [--no-wire]
  readerkit ccid-serve [--reader gempctwin|sec1210] [--card KIND[,KIND]] [--trace]
  readerkit help [SUBCOMMAND]
  readerkit --help | -h

Subcommands:
  atr    analyse an Answer-to-Reset (ISO/IEC 7816-3), like pcsc-tools' ATR_analysis
  demo   run a session through the whole stack on the simulated card
  ccid-serve  simulated cards behind a CCID reader on a pseudo-terminal (GemPC Twin framing)

Run `readerkit atr --help` for the options of a subcommand.
Exit status: 0 success, 1 invalid input (e.g. not an ATR), 2 usage error.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return ExitCode::from(EXIT_USAGE);
    };
    match command.as_str() {
        "-h" | "--help" => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        "help" => match rest.first().map(String::as_str) {
            None => {
                print!("{USAGE}");
                ExitCode::SUCCESS
            }
            Some("atr") => {
                print!("{}", atr_cmd::USAGE);
                ExitCode::SUCCESS
            }
            Some("demo") => {
                print!("{}", demo_cmd::USAGE);
                ExitCode::SUCCESS
            }
            Some("ccid-serve") => {
                print!("{}", ccid_serve_cmd::USAGE);
                ExitCode::SUCCESS
            }
            Some(other) => usage_error(&format!("unknown subcommand `{other}`")),
        },
        "atr" => atr_cmd::run(rest),
        "demo" => demo_cmd::run(rest),
        "ccid-serve" => ccid_serve_cmd::run(rest),
        other => usage_error(&format!("unknown subcommand `{other}`")),
    }
}

pub(crate) fn usage_error(message: &str) -> ExitCode {
    eprintln!("readerkit: {message}\n");
    eprint!("{USAGE}");
    ExitCode::from(EXIT_USAGE)
}

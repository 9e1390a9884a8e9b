//! `readerkit apdu`: connect to a card through PC/SC, send each APDU, and show the
//! command, the answer, the status word with its ISO/IEC 7816-4 meaning and the
//! time taken. `61 xx` is followed by GET RESPONSE and `6C xx` by the same command
//! with Le = xx, as a T=0 transport does (and as scriptor / OpenSC do for cards
//! that answer so over T=1 too).

use std::ffi::CString;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use pcsc::{Card, Context, Protocols, ReaderState, ShareMode, State};
use readerkit::apdu::{Case, Command};
use readerkit::sw::StatusWord;
use readerkit::t0::{GetResponseClass, INS_GET_RESPONSE};
use serde::Serialize;

use crate::EXIT_BAD_INPUT;
use crate::hex;
use crate::pcsc_client::{self, explain};
use readerkit_cli::shown::escaped;

/// At most this many GET RESPONSE commands follow one APDU (a card answering
/// `61 xx` for ever is cut off).
const MAX_GET_RESPONSE: usize = 64;

/// `--protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ProtocolArg {
    /// T=0.
    T0,
    /// T=1.
    T1,
}

/// Arguments of `readerkit apdu`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = concat!(
        "Examples:\n",
        "  readerkit apdu 00A4040007A0000005275242 '00 B0 00 00 10'\n",
        "  readerkit apdu --reader 'RK T0' --protocol t0 --json 00:84:00:00:08\n\n",
        "Exit status:\n",
        "  0  every APDU was exchanged (whatever its status word)\n",
        "  1  pcscd not running, no reader, no card, or an exchange failed\n",
        "  2  usage error (unknown option, an APDU that is not hex or not a valid command APDU)"
    )
)]
pub(crate) struct Args {
    /// The reader: its exact name or a unique part of it (default: the first reader
    /// with a card).
    #[arg(long, value_name = "NAME")]
    reader: Option<String>,
    /// The protocol to connect with (default: whichever the card and reader agree on).
    #[arg(long, value_enum, value_name = "t0|t1")]
    protocol: Option<ProtocolArg>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Do not follow 61 xx with GET RESPONSE nor 6C xx with the command again.
    #[arg(long)]
    raw: bool,
    /// The command APDUs, one per argument, in hex (spaces and colons allowed
    /// inside an argument).
    #[arg(value_name = "APDU", required = true, num_args = 1..)]
    apdus: Vec<String>,
}

/// One command/answer pair on the wire.
#[derive(Debug, Serialize)]
struct Exchange {
    /// `command`, `get_response` (after 61 xx) or `resend_with_le` (after 6C xx).
    why: &'static str,
    command: String,
    response: String,
    sw: String,
    sw_meaning: String,
    time_us: u64,
}

/// One APDU given on the command line and everything it took.
#[derive(Debug, Serialize)]
struct ApduJson {
    command: String,
    exchanges: Vec<Exchange>,
    /// The data of every exchange joined, and the last status word.
    response: String,
    data: String,
    sw: String,
    sw_meaning: String,
    time_us: u64,
}

#[derive(Debug, Serialize)]
struct Session {
    reader: String,
    protocol: &'static str,
    atr: String,
    apdus: Vec<ApduJson>,
    error: Option<String>,
}

/// Run the subcommand.
pub(crate) fn run(args: Args) -> ExitCode {
    let mut apdus = Vec::new();
    for word in &args.apdus {
        let bytes = match hex::parse(std::slice::from_ref(word)) {
            Ok(bytes) => bytes,
            Err(e) => crate::usage_error(
                "apdu",
                format!("invalid value '{word}' for '<APDU>...': {e}"),
            ),
        };
        if let Err(e) = Command::parse(&bytes) {
            crate::usage_error(
                "apdu",
                format!("invalid value '{word}' for '<APDU>...': {e}"),
            );
        }
        apdus.push(bytes);
    }
    let mut session = Session {
        reader: String::new(),
        protocol: "",
        atr: String::new(),
        apdus: Vec::new(),
        error: None,
    };
    let result = exchange_all(&args, &apdus, &mut session);
    if let Err(message) = &result {
        session.error = Some(message.clone());
    }
    if args.json {
        println!("{}", serde_json::to_string(&session).unwrap_or_default());
    } else if let Err(message) = &result {
        eprintln!("readerkit apdu: {message}");
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(EXIT_BAD_INPUT),
    }
}

fn exchange_all(args: &Args, apdus: &[Vec<u8>], session: &mut Session) -> Result<(), String> {
    let ctx = pcsc_client::establish()?;
    let reader = choose_reader(&ctx, args.reader.as_deref())?;
    let name = pcsc_client::name(&reader);
    let protocols = match args.protocol {
        Some(ProtocolArg::T0) => Protocols::T0,
        Some(ProtocolArg::T1) => Protocols::T1,
        None => Protocols::ANY,
    };
    let card = ctx
        .connect(&reader, ShareMode::Shared, protocols)
        .map_err(|e| explain(e, Some(&name)))?;
    let status = card.status2_owned().map_err(|e| explain(e, Some(&name)))?;
    session.reader = name.clone();
    session.protocol = match status.protocol2() {
        Some(pcsc::Protocol::T0) => "T=0",
        Some(pcsc::Protocol::T1) => "T=1",
        Some(pcsc::Protocol::RAW) => "raw",
        _ => "unknown",
    };
    session.atr = hex::encode(status.atr(), "");
    if !args.json {
        println!(
            "Reader: {} ({}), ATR {}",
            escaped(&name),
            session.protocol,
            hex::encode(status.atr(), " ")
        );
    }
    for apdu in apdus {
        let result = exchange(&card, apdu, !args.raw, args.json);
        match result {
            Ok(done) => session.apdus.push(done),
            Err(failed) => {
                let (partial, e) = *failed;
                session.apdus.push(partial);
                return Err(explain(e, Some(&name)));
            }
        }
    }
    let _ = card.disconnect(pcsc::Disposition::LeaveCard);
    Ok(())
}

/// The reader `wanted` names (exactly, or as the only reader whose name contains
/// it, ignoring case), or the first reader with a card.
fn choose_reader(ctx: &Context, wanted: Option<&str>) -> Result<CString, String> {
    let names = pcsc_client::readers(ctx)?;
    if names.is_empty() {
        return Err(explain(pcsc::Error::NoReadersAvailable, None));
    }
    let shown: Vec<String> = names.iter().map(|n| pcsc_client::name(n)).collect();
    let list = shown
        .iter()
        .map(|n| format!("`{}`", escaped(n)))
        .collect::<Vec<_>>()
        .join(", ");
    match wanted {
        Some(wanted) => {
            let shown_wanted = escaped(wanted);
            if let Some(i) = shown.iter().position(|n| n == wanted) {
                return Ok(names[i].clone());
            }
            let lower = wanted.to_lowercase();
            let hits: Vec<usize> = (0..shown.len())
                .filter(|&i| shown[i].to_lowercase().contains(&lower))
                .collect();
            match hits.as_slice() {
                [i] => Ok(names[*i].clone()),
                [] => Err(format!(
                    "no reader named `{shown_wanted}` (--reader): the readers are {list}"
                )),
                _ => Err(format!(
                    "`{shown_wanted}` (--reader) names several readers: {list}; give more of the name"
                )),
            }
        }
        None => {
            let mut states: Vec<ReaderState> = names
                .iter()
                .map(|n| ReaderState::new(n.clone(), State::UNAWARE))
                .collect();
            match ctx.get_status_change(Some(Duration::ZERO), &mut states) {
                Ok(()) | Err(pcsc::Error::Timeout) => {}
                Err(e) => return Err(explain(e, None)),
            }
            states
                .iter()
                .find(|s| s.event_state().contains(State::PRESENT))
                .map(|s| s.name().to_owned())
                .ok_or_else(|| {
                    format!("no card in any reader ({list}): insert one, or name the reader with --reader")
                })
        }
    }
}

/// The GET RESPONSE for `xx` bytes (a `61 xx` answer) to a command of class `cla`:
/// its class byte by the core's interindustry rule, as the core's T=0 engine
/// sends it (the same logical channel, secure messaging and chaining bits
/// cleared; `00` for a proprietary class).
fn get_response(cla: u8, xx: u8) -> Vec<u8> {
    let cla = GetResponseClass::Interindustry.class_for(cla);
    vec![cla, INS_GET_RESPONSE, 0x00, 0x00, xx]
}

/// `apdu` with its Le set to `le` (short), for a 6C xx answer; `None` for an
/// extended APDU.
fn with_le(apdu: &[u8], le: u8) -> Option<Vec<u8>> {
    let command = Command::parse(apdu).ok()?;
    let mut out = apdu.to_vec();
    match command.case() {
        Case::Case1 | Case::Case3Short => out.push(le),
        Case::Case2Short | Case::Case4Short => *out.last_mut()? = le,
        _ => return None,
    }
    Some(out)
}

type Failed = Box<(ApduJson, pcsc::Error)>;

fn transmit(
    card: &Card,
    why: &'static str,
    apdu: &[u8],
    quiet: bool,
) -> Result<(Exchange, Vec<u8>), pcsc::Error> {
    let mut buf = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
    if !quiet {
        let note = match why {
            "get_response" => "   (GET RESPONSE)",
            "resend_with_le" => "   (again, with the Le the card asked for)",
            _ => "",
        };
        println!("> {}{note}", hex::encode(apdu, " "));
    }
    let started = Instant::now();
    let answer = card.transmit(apdu, &mut buf)?.to_vec();
    let time_us = started.elapsed().as_micros() as u64;
    let sw = match answer.as_slice() {
        [.., sw1, sw2] => Some(StatusWord::new(*sw1, *sw2)),
        _ => None,
    };
    let (sw_text, meaning) = match sw {
        Some(sw) => (format!("{:04X}", sw.0), sw.to_string()),
        None => (String::new(), "answer without a status word".to_string()),
    };
    if !quiet {
        println!("< {}", hex::encode(&answer, " "));
        println!(
            "  SW {}: {meaning} ({:.3} ms)",
            sw.map_or("----".to_string(), |sw| format!(
                "{:02X} {:02X}",
                sw.sw1(),
                sw.sw2()
            )),
            time_us as f64 / 1000.0
        );
    }
    Ok((
        Exchange {
            why,
            command: hex::encode(apdu, ""),
            response: hex::encode(&answer, ""),
            sw: sw_text,
            sw_meaning: meaning,
            time_us,
        },
        answer,
    ))
}

/// Send `apdu`, then GET RESPONSE / the command with the right Le as the status
/// words ask (unless `follow` is off).
fn exchange(card: &Card, apdu: &[u8], follow: bool, quiet: bool) -> Result<ApduJson, Failed> {
    let mut done = ApduJson {
        command: hex::encode(apdu, ""),
        exchanges: Vec::new(),
        response: String::new(),
        data: String::new(),
        sw: String::new(),
        sw_meaning: String::new(),
        time_us: 0,
    };
    let mut data: Vec<u8> = Vec::new();
    let mut next: (&'static str, Vec<u8>) = ("command", apdu.to_vec());
    let mut resent = false;
    let mut get_responses = 0;
    let last_sw = loop {
        let (exchange, answer) = match transmit(card, next.0, &next.1, quiet) {
            Ok(x) => x,
            Err(e) => return Err(Box::new((done, e))),
        };
        done.time_us += exchange.time_us;
        done.exchanges.push(exchange);
        let (body, sw) = match answer.as_slice() {
            [body @ .., sw1, sw2] => (body, Some((*sw1, *sw2))),
            _ => (&answer[..], None),
        };
        data.extend_from_slice(body);
        match sw {
            Some((0x61, xx)) if follow && get_responses < MAX_GET_RESPONSE => {
                get_responses += 1;
                next = ("get_response", get_response(apdu[0], xx));
            }
            Some((0x6C, xx)) if follow && !resent && body.is_empty() => {
                match with_le(&next.1, xx) {
                    Some(again) => {
                        resent = true;
                        next = ("resend_with_le", again);
                    }
                    None => break sw,
                }
            }
            _ => break sw,
        }
    };
    let mut response = data.clone();
    if let Some((sw1, sw2)) = last_sw {
        response.extend_from_slice(&[sw1, sw2]);
        let sw = StatusWord::new(sw1, sw2);
        done.sw = format!("{:04X}", sw.0);
        done.sw_meaning = sw.to_string();
    }
    done.response = hex::encode(&response, "");
    done.data = hex::encode(&data, "");
    if !quiet && done.exchanges.len() > 1 {
        println!(
            "= {}   ({} exchanges, {:.3} ms)",
            hex::encode(&response, " "),
            done.exchanges.len(),
            done.time_us as f64 / 1000.0
        );
    }
    if !quiet {
        println!();
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_response_keeps_the_channel_and_resend_sets_le() {
        let cla = |command_cla| get_response(command_cla, 0x10)[0];
        assert_eq!(get_response(0x00, 0x10), [0x00, 0xC0, 0x00, 0x00, 0x10]);
        assert_eq!(
            cla(0x80),
            0x00,
            "proprietary class: interindustry GET RESPONSE"
        );
        assert_eq!(cla(0x83), 0x00, "no interindustry channel to keep");
        assert_eq!(cla(0x0B), 0x03, "channel 3, secure messaging cleared");
        assert_eq!(cla(0x1B), 0x03, "chaining bit cleared");
        assert_eq!(cla(0x45), 0x45, "further channel 9");
        assert_eq!(
            cla(0x75),
            0x45,
            "further channel 9, secure messaging and chaining cleared"
        );
        assert_eq!(
            with_le(&[0, 0xB0, 0, 0, 0x20], 0x0C),
            Some(vec![0, 0xB0, 0, 0, 0x0C])
        );
        assert_eq!(
            with_le(&[0, 0xB0, 0, 0], 0x0C),
            Some(vec![0, 0xB0, 0, 0, 0x0C])
        );
        assert_eq!(
            with_le(&[0, 0xA4, 0, 0, 1, 0x3F], 4),
            Some(vec![0, 0xA4, 0, 0, 1, 0x3F, 4])
        );
        assert_eq!(with_le(&[0, 0xB0, 0, 0, 0, 0x01, 0x00], 4), None);
    }
}

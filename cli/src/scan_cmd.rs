//! `readerkit scan`: the PC/SC readers and their cards, then every insertion and
//! removal (of cards and of readers) until interrupted, like pcsc-tools'
//! `pcsc_scan`; with `--json`, one JSON object per line and event.

use std::ffi::CString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use pcsc::{Context, ReaderState, State};
use serde::Serialize;

use crate::atr_cmd::{self, Identification, Source};
use crate::bad_input;
use crate::hex;
use crate::pcsc_client::{self, explain};
use readerkit_cli::shown::escaped;

/// Arguments of `readerkit scan`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = concat!(
        "Examples:\n",
        "  readerkit scan\n",
        "  readerkit scan --json --events 2 --timeout 30\n\n",
        "Exit status:\n",
        "  0  listed, and followed until --events or --timeout\n",
        "  1  pcscd not running, or a PC/SC call failed\n",
        "  2  usage error (unknown option, bad or missing argument)"
    )
)]
pub(crate) struct Args {
    /// One JSON object per line and event.
    #[arg(long)]
    json: bool,
    /// Stop after this many events following the initial listing (0: list and stop;
    /// default: follow until interrupted).
    #[arg(long, value_name = "N")]
    events: Option<u64>,
    /// Stop after this many seconds (default: follow until interrupted).
    #[arg(long, value_name = "SECONDS", value_parser = readerkit_cli::seconds::parse)]
    timeout: Option<Duration>,
    /// smartcard_list.txt to identify the cards with (see `readerkit atr --help`).
    #[arg(long, value_name = "PATH")]
    list: Option<PathBuf>,
    /// Do not identify the cards.
    #[arg(long, conflicts_with = "list")]
    no_list: bool,
}

/// One event, as printed with `--json`.
#[derive(Debug, Serialize)]
struct Event<'a> {
    /// `reader` (initial listing), `card_inserted`, `card_removed`, `reader_added`,
    /// `reader_removed`.
    event: &'static str,
    reader: String,
    /// Milliseconds since the scan started.
    elapsed_ms: u64,
    /// The PC/SC state flags (`present`, `empty`, `inuse`, `exclusive`, `mute`...).
    state: Vec<&'static str>,
    /// The card's ATR in hex, while a card is present.
    atr: Option<String>,
    /// What smartcard_list.txt says of it.
    identification: Option<&'a Identification>,
}

/// A watched reader and what was last said about it.
struct Watched {
    state: ReaderState,
    present: bool,
    atr: Vec<u8>,
}

struct Scan {
    json: bool,
    started: Instant,
    source: Option<Source>,
}

const FLAGS: [(State, &str); 9] = [
    (State::IGNORE, "ignore"),
    (State::UNKNOWN, "unknown"),
    (State::UNAVAILABLE, "unavailable"),
    (State::EMPTY, "empty"),
    (State::PRESENT, "present"),
    (State::ATRMATCH, "atrmatch"),
    (State::EXCLUSIVE, "exclusive"),
    (State::INUSE, "inuse"),
    (State::MUTE, "mute"),
];

fn flags(state: State) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = FLAGS
        .iter()
        .filter(|(f, _)| state.contains(*f))
        .map(|(_, n)| *n)
        .collect();
    if state.contains(State::UNPOWERED) {
        names.push("unpowered");
    }
    names
}

impl Scan {
    fn report(&self, event: &'static str, w: &Watched) {
        let state = w.state.event_state();
        let gone = matches!(event, "card_removed" | "reader_removed");
        let atr = (!gone && w.present && !w.atr.is_empty()).then(|| w.atr.clone());
        let identification = match (&atr, &self.source) {
            (Some(atr), Some(source)) => Some(atr_cmd::identify(source, atr)),
            _ => None,
        };
        let reader = pcsc_client::name(w.state.name());
        let elapsed_ms = self.started.elapsed().as_millis() as u64;
        if self.json {
            let e = Event {
                event,
                reader,
                elapsed_ms,
                state: flags(state),
                atr: atr.as_deref().map(|a| hex::encode(a, "")),
                identification: identification.as_ref(),
            };
            println!("{}", serde_json::to_string(&e).unwrap_or_default());
            return;
        }
        let when = format!("[{:>8.3} s]", elapsed_ms as f64 / 1000.0);
        let what = match event {
            "reader" => "reader",
            "reader_added" => "reader added",
            "reader_removed" => "reader removed",
            "card_inserted" => "card inserted",
            _ => "card removed",
        };
        println!("{when} {what}: {}", escaped(&reader));
        if !gone {
            println!("  state: {}", flags(state).join(", "));
        }
        if let Some(atr) = &atr {
            println!("  ATR: {}", hex::encode(atr, " "));
        }
        if let Some(id) = &identification {
            for line in atr_cmd::identification_text(id).lines().skip(1) {
                println!("  {line}");
            }
        }
    }
}

fn watched(name: CString) -> Watched {
    Watched {
        state: ReaderState::new(name, State::UNAWARE),
        present: false,
        atr: Vec::new(),
    }
}

/// Run the subcommand.
pub(crate) fn run(args: Args) -> ExitCode {
    let source =
        (!args.no_list).then(|| atr_cmd::identification_source("scan", args.list.as_deref()));
    let scan = Scan {
        json: args.json,
        started: Instant::now(),
        source,
    };
    // A time-out past what the clock can count never comes: no deadline.
    let deadline = args.timeout.and_then(|t| scan.started.checked_add(t));
    match watch(&scan, args.events, deadline) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => bad_input("scan", scan.json, &message),
    }
}

fn watch(scan: &Scan, max_events: Option<u64>, deadline: Option<Instant>) -> Result<(), String> {
    let ctx = pcsc_client::establish()?;
    let mut readers: Vec<Watched> = pcsc_client::readers(&ctx)?
        .into_iter()
        .map(watched)
        .collect();
    if readers.is_empty() && !scan.json {
        println!("no reader yet: waiting for one (plug one in, or configure one for pcscd)");
    }
    // The current state of every reader, at once.
    poll(&ctx, &mut readers, Some(Duration::ZERO))?;
    for w in &mut readers {
        update(w);
        scan.report("reader", w);
    }
    let mut pnp = ReaderState::new(pcsc::PNP_NOTIFICATION(), State::UNAWARE);
    let mut events = 0u64;
    loop {
        if max_events.is_some_and(|max| events >= max) {
            return Ok(());
        }
        let timeout = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) => Some(left),
                None => return Ok(()),
            },
            None => None,
        };
        for w in &mut readers {
            w.state.sync_current_state();
        }
        pnp.sync_current_state();
        let mut states: Vec<ReaderState> = Vec::with_capacity(readers.len() + 1);
        for w in &mut readers {
            states.push(std::mem::replace(
                &mut w.state,
                ReaderState::new(CString::default(), State::UNAWARE),
            ));
        }
        states.push(pnp);
        let result = ctx.get_status_change(timeout, &mut states);
        pnp = states
            .pop()
            .unwrap_or_else(|| ReaderState::new(pcsc::PNP_NOTIFICATION(), State::UNAWARE));
        for (w, s) in readers.iter_mut().zip(states) {
            w.state = s;
        }
        match result {
            Ok(()) => {}
            Err(pcsc::Error::Timeout) => continue,
            Err(e) => return Err(explain(e, None)),
        }
        // Cards.
        let mut gone = Vec::new();
        for (i, w) in readers.iter_mut().enumerate() {
            let now = w.state.event_state();
            if !now.contains(State::CHANGED) {
                continue;
            }
            if now.intersects(State::UNKNOWN | State::IGNORE) {
                gone.push(i);
                continue;
            }
            let (was, old_atr) = (w.present, w.atr.clone());
            update(w);
            let swapped = was && w.present && w.atr != old_atr;
            if was && (!w.present || swapped) {
                scan.report("card_removed", w);
                events += 1;
            }
            if w.present && (!was || swapped) {
                scan.report("card_inserted", w);
                events += 1;
            }
        }
        for i in gone.into_iter().rev() {
            let w = readers.remove(i);
            scan.report("reader_removed", &w);
            events += 1;
        }
        // Readers.
        if pnp.event_state().contains(State::CHANGED) {
            let names = pcsc_client::readers(&ctx)?;
            readers.retain(|w| {
                let keep = names.iter().any(|n| n.as_c_str() == w.state.name());
                if !keep {
                    scan.report("reader_removed", w);
                    events += 1;
                }
                keep
            });
            for name in names {
                if readers.iter().all(|w| w.state.name() != name.as_c_str()) {
                    let mut w = watched(name);
                    let mut one = [w.state];
                    poll_states(&ctx, &mut one, Some(Duration::ZERO))?;
                    let [s] = one;
                    w.state = s;
                    update(&mut w);
                    scan.report("reader_added", &w);
                    events += 1;
                    readers.push(w);
                }
            }
        }
    }
}

/// Record what the last status change says about the card.
fn update(w: &mut Watched) {
    let now = w.state.event_state();
    w.present = now.contains(State::PRESENT);
    w.atr = if w.present {
        w.state.atr().to_vec()
    } else {
        Vec::new()
    };
}

fn poll(ctx: &Context, readers: &mut [Watched], timeout: Option<Duration>) -> Result<(), String> {
    if readers.is_empty() {
        return Ok(());
    }
    let mut states: Vec<ReaderState> = readers
        .iter_mut()
        .map(|w| {
            std::mem::replace(
                &mut w.state,
                ReaderState::new(CString::default(), State::UNAWARE),
            )
        })
        .collect();
    let result = poll_states(ctx, &mut states, timeout);
    for (w, s) in readers.iter_mut().zip(states) {
        w.state = s;
    }
    result
}

fn poll_states(
    ctx: &Context,
    states: &mut [ReaderState],
    timeout: Option<Duration>,
) -> Result<(), String> {
    match ctx.get_status_change(timeout, states) {
        Ok(()) | Err(pcsc::Error::Timeout) => Ok(()),
        Err(e) => Err(explain(e, None)),
    }
}

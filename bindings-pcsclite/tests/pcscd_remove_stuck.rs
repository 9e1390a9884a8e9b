//! The real pcscd (Debian's) takes one of our readers away while a client's
//! transmit on it is stuck behind a `vpcd:` card that answers late or not at all
//! (a scripted peer, `readerkit_testkit::vpcd_peer`); the client is the `pcsc`
//! crate.
//!
//! Debian's pcscd 1.9.9 takes a reader of reader.conf away only when it shuts
//! down (RFCleanupReaders, RFRemoveReader). With a transmit under way it only drops
//! its reference to the reader: our IFDHCloseChannel does not run, the stuck
//! IFDHTransmitToICC ends with the process, and the client's call with pcscd's
//! socket. SIGUSR1 (what `pcscd -H`, "re-read the reader.conf files", sends)
//! removes nothing: the log says `Received signal: 10` and no more. In the 1.9.9-2
//! binary the signal thread calls HPReCheckSerialReaders, empty in the libudev
//! build, and nothing calls RFReCheckReaderConf (which would not remove a reader
//! whose entry is gone anyway, only one still listed that stopped answering). The
//! test checks that too, so that it fails, and asks to be extended, the day
//! SIGUSR1 starts removing readers.
//!
//! libpcsclite caches the socket name at its first use; the two pcscd of this test
//! (the second brings the reader back) listen on the same path, one after the
//! other.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pcsc::{Context, Error, Protocols, Scope};
use readerkit_testkit::pcsc::{connect, disconnect, reader_names, step, tx, wait_card};
use readerkit_testkit::pcscd::{Pcscd, free_port};
use readerkit_testkit::vpcd_peer::{ATR_A, Peer, echo_answer, echo_command};

const NAME: &str = "RK STUCK";
const READER: &str = "RK STUCK 00 00";

/// INS of the command the card answers only after [`SLOW`].
const INS_SLOW: u8 = 0x46;
/// INS of the command the card never answers.
const INS_SILENT: u8 = 0x48;
/// How long the slow command takes.
const SLOW: Duration = Duration::from_secs(5);

/// A command with `ins` (case 3, two data bytes).
fn command(ins: u8) -> [u8; 7] {
    [0x80, ins, 0x00, 0x00, 0x02, 0xAA, 0xBB]
}

/// The card behind the reader on `port`: answers [`INS_SLOW`] after [`SLOW`] (with
/// 6D 00), never answers [`INS_SILENT`], echoes the rest at once. Each command
/// that reaches it is sent to `seen` (its INS) before the card works on it.
fn serve_card(port: u16, seen: mpsc::Sender<u8>) -> JoinHandle<()> {
    let mut peer = Peer::connect(port);
    std::thread::spawn(move || {
        peer.serve(&ATR_A, |peer, apdu| {
            let ins = apdu.get(1).copied().unwrap_or_default();
            let _ = seen.send(ins);
            match ins {
                INS_SILENT => {}
                INS_SLOW => {
                    std::thread::sleep(SLOW);
                    peer.send(&echo_answer(apdu));
                }
                _ => peer.send(&echo_answer(apdu)),
            }
            true
        });
    })
}

/// Transmit `apdu` to the reader on a client thread of its own (its own context
/// and connection); the result and how long the call took.
fn transmit_on_a_thread(apdu: [u8; 7]) -> JoinHandle<(Result<Vec<u8>, Error>, Duration)> {
    std::thread::spawn(move || {
        let ctx = Context::establish(Scope::User).expect("the client's context");
        let card = connect(&ctx, READER, Protocols::ANY);
        let started = Instant::now();
        let result = tx(&card, &apdu);
        let took = started.elapsed();
        // Whatever became of the card and of pcscd: end the handle without a reset.
        let _ = card.disconnect(pcsc::Disposition::LeaveCard);
        (result, took)
    })
}

/// Wait (at most 5 s) until the card has `ins` in hand.
fn wait_seen(seen: &mpsc::Receiver<u8>, ins: u8) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match seen.recv_timeout(left) {
            Ok(got) if got == ins => return,
            Ok(_) => {}
            Err(e) => panic!("the card never got INS {ins:02X}: {e}"),
        }
    }
}

/// Join `client`, failing if it has not returned within `timeout`.
fn join_within<T>(client: JoinHandle<T>, timeout: Duration, what: &str) -> T {
    let deadline = Instant::now() + timeout;
    while !client.is_finished() {
        assert!(
            Instant::now() < deadline,
            "{what}: the client's call still hangs after {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    client.join().expect("the client's thread")
}

/// A pcscd with our reader on the card's port, a client context, and the card
/// behind the reader (seen by pcscd).
struct Session {
    pcscd: Pcscd,
    ctx: Context,
    /// The INS of each command that reached the card.
    seen: mpsc::Receiver<u8>,
    card_side: JoinHandle<()>,
}

impl Session {
    /// Start pcscd with the reader on `port` and put the card in.
    fn start(port: u16) -> Session {
        let device = format!("vpcd:{port}:timeout=60");
        let pcscd = Pcscd::start_readerkit(&[(NAME, &device)]);
        let ctx = Context::establish(Scope::User).expect("establish context (pcscd started)");
        assert_eq!(reader_names(&ctx), [READER]);
        let (seen_tx, seen) = mpsc::channel();
        let card_side = serve_card(port, seen_tx);
        assert!(
            wait_card(&ctx, READER, true, Duration::from_secs(5)),
            "the card is seen"
        );
        Session {
            pcscd,
            ctx,
            seen,
            card_side,
        }
    }

    /// A new connection echoes `data` at once; `what` names the moment.
    fn assert_echoes(&self, data: &[u8], what: &str) {
        let card = connect(&self.ctx, READER, Protocols::ANY);
        let answer = [data, &[0x90, 0x00]].concat();
        assert_eq!(tx(&card, &echo_command(data)), Ok(answer), "{what}");
        disconnect(card);
    }

    /// Stop pcscd (if still running) and wait for the card's thread, which ends
    /// when the reader hangs up.
    fn end(self) {
        drop(self.ctx);
        drop(self.pcscd);
        self.card_side.join().expect("the card's thread");
    }
}

#[test]
fn pcscd_removes_a_reader_while_a_transmit_on_it_is_stuck() {
    let started = Instant::now();
    let port = free_port();
    let mut session = Session::start(port);
    step("pcscd up, card in", started);

    // SIGUSR1 with the reader's entry gone, while a transmit waits for the slow card.
    let client = transmit_on_a_thread(command(INS_SLOW));
    wait_seen(&session.seen, INS_SLOW);
    let pcscd = &mut session.pcscd;
    std::fs::write(pcscd.dir.join("conf/readers"), "").expect("empty reader.conf");
    pcscd.hotplug();
    let deadline = Instant::now() + Duration::from_secs(2);
    while !pcscd.log().contains("Received signal: 10") {
        assert!(Instant::now() < deadline, "pcscd got SIGUSR1");
        std::thread::sleep(Duration::from_millis(20));
    }
    // pcscd answers meanwhile, and (1.9.9) still lists the reader.
    assert_eq!(
        reader_names(&session.ctx),
        [READER],
        "SIGUSR1 removed the reader: extend this test"
    );
    let (result, took) = join_within(client, SLOW + Duration::from_secs(5), "SIGUSR1");
    eprintln!("    the slow transmit after SIGUSR1: {result:02X?} in {took:?}");
    assert_eq!(result, Ok(vec![0x6D, 0x00]), "the card's answer ({took:?})");
    assert!(took >= SLOW, "it waited for the card: {took:?}");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        reader_names(&session.ctx),
        [READER],
        "no removal a second later"
    );
    session.assert_echoes(&[1, 2, 3], "the reader still works");
    step(
        "SIGUSR1 (pcscd -H): nothing removed, the slow answer arrives",
        started,
    );

    // pcscd shuts down, removing the reader, while a transmit waits for the silent
    // card: it exits by itself, and the client's call ends with its connection to
    // pcscd (libpcsclite's SCARD_F_COMM_ERROR), not at the 60 s deadline.
    let client = transmit_on_a_thread(command(INS_SILENT));
    wait_seen(&session.seen, INS_SILENT);
    let pcscd = &mut session.pcscd;
    let stopping = Instant::now();
    assert!(pcscd.stop(), "pcscd exits by itself on SIGINT (not killed)");
    eprintln!("    pcscd stopped {:?} after SIGINT", stopping.elapsed());
    pcscd.check_driver_log();
    let log = pcscd.log();
    assert!(
        log.contains(&format!("Stopping reader: {READER}")),
        "pcscd removed the reader"
    );
    // pcscd skips the reader's IFDHCloseChannel while the transmit holds it
    // (RFRemoveReader only drops its reference): a figure, not an assertion.
    eprintln!(
        "    IFDHCloseChannel ran: {}",
        log.contains("Unloading reader driver")
    );
    let (result, took) = join_within(client, Duration::from_secs(5), "SIGINT");
    eprintln!("    the stuck transmit: {result:02X?} after {took:?}");
    assert_eq!(
        result,
        Err(Error::CommError),
        "the stuck transmit ({took:?})"
    );
    session.end();
    step("pcscd stopped while the transmit was stuck", started);

    // The reader back (in a new pcscd: the entry restored): it works again.
    let mut session = Session::start(port);
    session.assert_echoes(&[4, 5, 6], "the reader works again");
    session.pcscd.stop_and_check_log();
    session.end();
    step(
        "the reader back in a new pcscd works; pcscd stopped, log clean",
        started,
    );
}

//! The example firmware itself driven by the real host stack: `tools/qemu-firmware.sh
//! ccid` runs the firmware (the core, its engines, the TDA8035 driver and this
//! binding, built for Cortex-M4) on QEMU's mps2-an386 with its UART on a
//! pseudo-terminal; Debian's pcscd loads Debian's `libccidtwin.so` for it
//! (`DEVICENAME <pty>:GemPCTwin`); the `pcsc` crate is the client. The card is the
//! simulated card behind the firmware's simulated TDA8035 (it offers T=0 and T=1).
//!
//! QEMU, pcscd and libccid must be installed: a missing one fails the test.

#[path = "support/mod.rs"]
mod support;

use std::ffi::CString;
use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pcsc::{Disposition, Protocols, ShareMode};
use readerkit_testkit::apdu::{self, SELECT_MF};
use readerkit_testkit::ccid::message;
use readerkit_testkit::owned_child::OwnedChild;
use readerkit_testkit::t1;
use readerkit_testkit::twin_abuse::{Abuse, Abuser, NAK};
use readerkit_testkit::twin_peer::{
    frame, open_raw, read_answer, read_message, read_n, send_echoed,
};
use support::{echo, echo_after_insertion, hex, pcscd_for, stop_and_check, tx, wait_card};

/// The firmware under QEMU (`tools/qemu-firmware.sh ccid`); killed on drop
/// (QEMU and its `sed` with the script's process group, also when
/// [`Firmware::start`] fails half way: an [`OwnedChild`]).
struct Firmware {
    /// The pseudo-terminal of its UART.
    path: String,
    child: OwnedChild,
    stdin: ChildStdin,
    /// The firmware's console (UART1) so far.
    console: Arc<Mutex<String>>,
    /// The harness's own descriptor of the pty, held until QEMU ends (see
    /// [`Firmware::start`]); nothing reads it after the start.
    _held: std::fs::File,
}

impl Firmware {
    fn start() -> Firmware {
        let script = support::workspace().join("tools/qemu-firmware.sh");
        let mut child = OwnedChild::spawn(
            Command::new(&script)
                .arg("ccid")
                // Its own target directory: never waits on the test build's lock.
                .env(
                    "CARGO_TARGET_DIR",
                    support::target_dir().join("qemu-firmware"),
                )
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit()),
        )
        .unwrap_or_else(|e| panic!("start {}: {e}", script.display()));
        let mut stdout = BufReader::new(child.take_stdout().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let path = first.trim().to_string();
        assert!(
            path.starts_with("/dev/pts/"),
            "qemu-firmware.sh ccid prints the pty first (is qemu-system-arm installed?): {path:?}"
        );
        let console = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&console);
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                eprintln!("firmware: {line}");
                let mut all = sink.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        // QEMU looks whether anything holds its pty open only once a second
        // (its pty chardev's reconnect timer) and reads nothing from it until it
        // has seen so: a client's first bytes waited up to 1 s (libccid's first
        // command, its firmware-version escape, took 0.99 s of its 2 s limit).
        // So the harness opens the pty itself, waits for one slot status to come
        // back (QEMU reads the pty from then on), and holds it open until QEMU
        // ends: pcscd and raw peers find it connected.
        let mut held = open_raw(&path);
        send_echoed(&mut held, &[0x65, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(read_message(&mut held)[..1], [0x81], "a slot status");
        let stdin = child.take_stdin().unwrap();
        Firmware {
            path,
            child,
            stdin,
            console,
            _held: held,
        }
    }

    /// A control line to the simulated slot: `remove` or `insert`.
    fn control(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// CPU time QEMU has used so far (all its threads, user and system), in ms:
    /// `/proc/<pid>/stat` fields 14 and 15, in USER_HZ ticks (100 a second on
    /// Linux). The script execs QEMU, so the child's pid is QEMU's.
    fn cpu_ms(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("QEMU's /proc stat");
        // After the command name in parentheses: state is field 3, utime 14, stime 15.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .expect("stat has (comm)")
            .1
            .split_whitespace()
            .collect();
        let ticks = |field: usize| -> u64 { fields[field - 3].parse().expect("a tick count") };
        (ticks(14) + ticks(15)) * 10
    }

    fn console(&self) -> String {
        self.console.lock().unwrap().clone()
    }

    /// Wait (at most 10 s, a hang guard) until the console has said `line`.
    fn wait_console(&self, line: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.console().contains(line) {
            assert!(Instant::now() < deadline, "console never said {line:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The firmware started with the simulated card `card` (a control line such
    /// as `slow 5`, taken once its console has said `said`) and a raw GemPC Twin
    /// peer on its UART: what every raw-peer test of a special card starts with.
    fn start_with_card(card: &str, said: &str) -> (Firmware, std::fs::File) {
        let mut firmware = Firmware::start();
        firmware.control(card);
        firmware.wait_console(said);
        let port = open_raw(&firmware.path);
        (firmware, port)
    }
}

/// SELECT, GET CHALLENGE, ECHO of `lengths`, an unknown instruction.
fn session(card: &pcsc::Card, lengths: impl Iterator<Item = usize>) {
    assert_eq!(tx(card, &SELECT_MF).unwrap(), [0x90, 0x00], "SELECT MF");
    let a = tx(card, &apdu::get_challenge(8)).unwrap();
    let b = tx(card, &apdu::get_challenge(8)).unwrap();
    assert_eq!((a.len(), &a[8..]), (10, &[0x90, 0x00][..]), "GET CHALLENGE");
    assert_ne!(a, b, "two challenges differ");
    for n in lengths {
        let data: Vec<u8> = (0..n).map(|i| (i * 7 + n) as u8).collect();
        let r = tx(card, &echo(&data)).unwrap();
        assert_eq!(r[..n], data[..], "ECHO {n}");
        assert_eq!(r[n..], [0x90, 0x00], "ECHO {n}");
    }
    assert_eq!(tx(card, &[0x00, 0x12, 0x00, 0x00]).unwrap(), [0x6D, 0x00]);
}

fn atr_of(card: &pcsc::Card) -> Vec<u8> {
    let mut names = [0u8; 256];
    let mut atr = [0u8; 64];
    card.status2(&mut names, &mut atr).unwrap().atr().to_vec()
}

fn protocol_of(card: &pcsc::Card) -> Option<pcsc::Protocol> {
    let mut names = [0u8; 256];
    let mut atr = [0u8; 64];
    card.status2(&mut names, &mut atr).unwrap().protocol2()
}

/// ECHO round trips of 16 bytes per second for `duration` (a figure, not a check).
fn round_trips(card: &pcsc::Card, duration: Duration) -> f64 {
    let apdu = echo(&[0x5A; 16]);
    let start = Instant::now();
    let mut count = 0u32;
    while start.elapsed() < duration {
        assert_eq!(tx(card, &apdu).unwrap().len(), 18);
        count += 1;
    }
    f64::from(count) / start.elapsed().as_secs_f64()
}

#[test]
fn pcscd_and_libccidtwin_drive_the_qemu_firmware() {
    let mut firmware = Firmware::start();
    let device = format!("{}:GemPCTwin", firmware.path);
    let (pcscd, ctx) = pcscd_for(&device, "RK QEMU", None);
    let name = "RK QEMU 00 00";
    let reader = CString::new(name).unwrap();
    assert!(
        wait_card(&ctx, name, true, Duration::from_secs(10)),
        "card seen; pcscd log:\n{}",
        pcscd.log()
    );

    // T=1 (negotiated by libccid's PPS), the whole session.
    let card = ctx
        .connect(&reader, ShareMode::Shared, Protocols::T1)
        .expect("connect T=1");
    assert_eq!(protocol_of(&card), Some(pcsc::Protocol::T1));
    let atr = atr_of(&card);
    assert_eq!(atr.first(), Some(&0x3B), "ATR {}", hex(&atr));
    eprintln!("ATR through the firmware: {}", hex(&atr));
    session(&card, 1..=255);
    let t1_rate = round_trips(&card, Duration::from_secs(3));

    // Reset, and T=0 after it (the card offers both).
    let mut card = card;
    card.reconnect(ShareMode::Shared, Protocols::T0, Disposition::ResetCard)
        .expect("reconnect with reset, T=0");
    assert_eq!(protocol_of(&card), Some(pcsc::Protocol::T0));
    session(&card, [1usize, 2, 17, 100, 254, 255].into_iter());
    let t0_rate = round_trips(&card, Duration::from_secs(3));
    card.disconnect(Disposition::UnpowerCard)
        .map_err(|(_, e)| e)
        .unwrap();

    // Removal and insertion at the simulated slot, seen by SCardGetStatusChange.
    firmware.control("remove");
    assert!(
        wait_card(&ctx, name, false, Duration::from_secs(10)),
        "removal seen"
    );
    assert_eq!(
        ctx.connect(&reader, ShareMode::Shared, Protocols::T1).err(),
        Some(pcsc::Error::NoSmartcard)
    );
    firmware.control("insert");
    echo_after_insertion(&ctx, name, Protocols::T1, Duration::from_secs(10));
    drop(ctx);
    let log = stop_and_check(pcscd);

    eprintln!(
        "ECHO 16 bytes through pcscd + libccidtwin + the QEMU firmware: T=1 {t1_rate:.0}/s, T=0 {t0_rate:.0}/s"
    );
    assert!(
        log.contains("Firmware: readerkit-ccid"),
        "libccid read the firmware's version string"
    );
    let console = firmware.console();
    assert!(
        console.contains("stack high water: CCID command"),
        "the firmware measured its stack:\n{console}"
    );
}

/// PC_to_RDR_IccPowerOn, slot 0.
fn power_on(seq: u8) -> [u8; 10] {
    [0x62, 0, 0, 0, 0, 0, seq, 0, 0, 0]
}

/// The header of an RDR_to_PC_DataBlock for slot 0 with `len` bytes of data
/// (below 256) answering message `seq`, with no error.
fn data_block(len: u8, seq: u8) -> [u8; 10] {
    [0x80, len, 0, 0, 0, 0, seq, 0, 0, 0]
}

/// PC_to_RDR_SetParameters, slot 0: T=0, Fi/Di 1/1, WI 10.
fn set_t0(seq: u8) -> [u8; 15] {
    [0x61, 5, 0, 0, 0, 0, seq, 0, 0, 0, 0x11, 0, 0, 0x0A, 0]
}

/// GET CHALLENGE for 8 bytes, a T=0 TPDU in an XfrBlock for slot 0.
fn get_challenge(seq: u8) -> Vec<u8> {
    message(0x6F, seq, &apdu::get_challenge(8))
}

/// The card powered (IccPowerOn `seq`) and set to T=`protocol`, 0 or 1
/// (SetParameters `seq + 1`: [`set_t0`] or [`set_t1`]); the answers checked:
/// each with its bSeq and no error, the Parameters answer's bProtocolNum the
/// protocol.
fn power_on_and_set(port: &mut std::fs::File, protocol: u8, seq: u8) {
    send_echoed(port, &power_on(seq));
    let atr = read_message(port);
    assert_eq!(atr[6..9], [seq, 0x00, 0x00], "powered: {atr:02X?}");
    let set = match protocol {
        0 => set_t0(seq + 1).to_vec(),
        _ => set_t1(seq + 1).to_vec(),
    };
    send_echoed(port, &set);
    let parameters = read_message(port);
    assert_eq!(parameters[..1], [0x82], "{parameters:02X?}");
    assert_eq!(
        parameters[6..10],
        [seq + 1, 0x00, 0x00, protocol],
        "T={protocol}: {parameters:02X?}"
    );
}

/// Start a slow command and wait for its first time request (the GemPC Twin's
/// unframed `80 | multiplier` byte, multiplier 1 for a T=0 NULL byte): the card
/// works behind it now.
fn start_slow_command(port: &mut std::fs::File, message: &[u8]) {
    send_echoed(port, message);
    assert_eq!(read_n(port, 1), [0x81], "a time request");
}

/// The firmware's CCID reader keeps reading the host while a slow card works
/// (`slow 5`: five NULL bytes before every answer, about 0.2 s of work after
/// each, and 0.2 s before its ATR): a second command from a raw peer (libccid
/// never sends one) is echoed and refused with CMD_SLOT_BUSY at once (bError E0,
/// its own bSeq, the card as it is: present and inactive while it is being
/// powered, active afterwards), every NULL byte goes out as a time request, and
/// the first command's answer comes afterwards intact. A PC_to_RDR_Abort stops a running command: CMD_ABORTED
/// (bError FF), then the Abort's slot status; the card works again after a new
/// power on.
#[test]
fn qemu_firmware_answers_slot_busy_time_extensions_and_abort() {
    const NULLS: usize = 5;
    let (_firmware, mut port) = Firmware::start_with_card(
        &format!("slow {NULLS}"),
        &format!("slow card: {NULLS} NULL bytes"),
    );
    // Sent with the power on, a slot status comes while the card works towards
    // its ATR.
    let status = [0x65, 0, 0, 0, 0, 0, 2, 0, 0, 0];
    port.write_all(&[frame(&power_on(1)), frame(&status)].concat())
        .unwrap();
    assert_eq!(
        read_message(&mut port),
        power_on(1),
        "the echo of the power on"
    );
    assert_eq!(
        read_message(&mut port),
        status,
        "the echo of the slot status"
    );
    assert_eq!(
        read_message(&mut port),
        [0x81, 0, 0, 0, 0, 0, 2, 0x41, 0xE0, 0x03],
        "CMD_SLOT_BUSY with the card present and not active (bmICCStatus 1)"
    );
    let atr = read_message(&mut port);
    assert_eq!(atr[6..9], [1, 0x00, 0x00], "powered: {atr:02X?}");
    send_echoed(&mut port, &set_t0(2));
    let parameters = read_message(&mut port);
    assert_eq!(parameters[..1], [0x82], "{parameters:02X?}");
    assert_eq!(
        parameters[6..9],
        [2, 0x00, 0x00],
        "T=0 set: {parameters:02X?}"
    );

    start_slow_command(&mut port, &get_challenge(3));
    let status = [0x65, 0, 0, 0, 0, 0, 4, 0, 0, 0];
    port.write_all(&frame(&status)).unwrap();
    let (mut requests, echo) = read_answer(&mut port);
    assert_eq!(echo, status, "the echo of the second command");
    let (more, busy) = read_answer(&mut port);
    requests.extend(more);
    assert_eq!(
        busy,
        [0x81, 0, 0, 0, 0, 0, 4, 0x40, 0xE0, 0x03],
        "CMD_SLOT_BUSY"
    );
    let (more, answer) = read_answer(&mut port);
    requests.extend(more);
    assert_eq!(answer[..10], data_block(10, 3));
    assert_eq!(answer[18..], [0x90, 0x00], "{answer:02X?}");
    // One time request for each NULL byte (the first one read above).
    assert_eq!(requests, [0x81; NULLS - 1], "time requests");
    // Not busy any more.
    let status = [0x65, 0, 0, 0, 0, 0, 5, 0, 0, 0];
    send_echoed(&mut port, &status);
    assert_eq!(
        read_message(&mut port),
        [0x81, 0, 0, 0, 0, 0, 5, 0x00, 0x00, 0x00]
    );

    start_slow_command(&mut port, &get_challenge(6));
    let abort = [0x72, 0, 0, 0, 0, 0, 7, 0, 0, 0];
    port.write_all(&frame(&abort)).unwrap();
    let (_, echo) = read_answer(&mut port);
    assert_eq!(echo, abort, "the echo of the abort");
    // CMD_ABORTED for the command and the Abort's slot status: the T=0 card was
    // left inside its exchange, which only a reset ends, so the line deactivated
    // it, yet the slot stays active for the host (bmICCStatus 0: a stock driver
    // takes an inactive card it powered for a swapped one) until it powers the
    // card on again.
    let (_, aborted) = read_answer(&mut port);
    assert_eq!(aborted, [0x80, 0, 0, 0, 0, 0, 6, 0x40, 0xFF, 0x00]);
    let (_, abort_status) = read_answer(&mut port);
    assert_eq!(abort_status[..1], [0x81], "{abort_status:02X?}");
    assert_eq!(abort_status[6..9], [7, 0x00, 0x00], "{abort_status:02X?}");

    power_on_and_set(&mut port, 0, 8);
    start_slow_command(&mut port, &get_challenge(10));
    let (requests, answer) = read_answer(&mut port);
    assert_eq!(requests, [0x81; NULLS - 1], "time requests");
    assert_eq!(answer[..10], data_block(10, 10));
    assert_eq!(answer[18..], [0x90, 0x00], "{answer:02X?}");
}

/// The idle firmware sleeps (WFI until a byte comes on a UART) instead of
/// spinning on the UART's status: a spinning guest keeps QEMU's vCPU thread on a
/// whole host core, and on a loaded 2-core machine the host's scheduler then
/// serves the emulated reader as a CPU hog, its answers late past libccid's
/// 100 ms read time-out when it opens the reader. The firmware answers a slot
/// status first (it is up and the pty is connected), then, with nobody talking
/// to it for 2 s, QEMU uses under 5 % of a core (a spinning firmware: its whole
/// share, 25 % or more of a core even with 8 busy processes on 2 cores).
#[test]
fn qemu_firmware_sleeps_while_idle() {
    let firmware = Firmware::start();
    let mut port = open_raw(&firmware.path);
    let status = [0x65, 0, 0, 0, 0, 0, 1, 0, 0, 0];
    send_echoed(&mut port, &status);
    assert_eq!(read_message(&mut port)[..1], [0x81], "a slot status");
    let (start, cpu_start) = (Instant::now(), firmware.cpu_ms());
    std::thread::sleep(Duration::from_secs(2));
    let (wall, cpu) = (start.elapsed(), firmware.cpu_ms() - cpu_start);
    let wall_ms = u64::try_from(wall.as_millis()).unwrap();
    eprintln!("idle QEMU: {cpu} ms of CPU in {wall_ms} ms");
    assert!(
        cpu * 20 < wall_ms,
        "QEMU used {cpu} ms of CPU in {wall_ms} ms while the firmware was idle"
    );
}

/// A raw peer that goes quiet inside a frame (half a header: a host killed
/// mid-write; a header announcing 4 GiB: its length garbled on the line) is
/// answered NAK once the line has been quiet for the firmware's frame gap (1 s),
/// and the next whole frame is echoed and answered. Before, the next frame's
/// bytes completed the old header (dwLength read from them, 100 MB or 4 GiB
/// skipped): the firmware answered nothing again.
#[test]
fn qemu_firmware_answers_nak_to_a_frame_cut_short_and_serves_the_next() {
    let firmware = Firmware::start();
    let mut port = open_raw(&firmware.path);
    let status = |seq| [0x65, 0, 0, 0, 0, 0, seq, 0, 0, 0];
    let header_of_4_gib = [0x03, 0x06, 0x6F, 0xFF, 0xFF, 0xFF, 0xFF, 0, 1, 0, 0, 0];
    for (seq, cut) in [(1u8, &frame(&status(0))[..5]), (2, &header_of_4_gib[..])] {
        port.write_all(cut).unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        port.write_all(&frame(&status(seq))).unwrap();
        assert_eq!(read_n(&mut port, 3), NAK, "NAK for {cut:02X?}");
        assert_eq!(read_message(&mut port), status(seq), "the echo");
        let answer = read_message(&mut port);
        assert_eq!(answer[..1], [0x81], "a slot status: {answer:02X?}");
        assert_eq!(answer[6..9], [seq, 0x01, 0x00], "served after {cut:02X?}");
    }
}

/// A hostile host (`readerkit_testkit::twin_abuse`, the script `readerkit
/// ccid-serve` gets in the CLI's `ccid_serve_abuse.rs`): each abuse once, a
/// seeded script of them, every PC_to_RDR type with a malformed field, answers
/// (a 256-byte GET CHALLENGE's last) left unread until the terminal is full;
/// after each, a plain GetSlotStatus
/// gets its answer. Then pcscd and libccidtwin open the reader and an APDU
/// goes round. Before, a NAK after the firmware's own NAK got the last answer
/// again, an answer the host would take for the one to its damaged frame.
#[test]
fn qemu_firmware_holds_up_against_a_hostile_host() {
    let firmware = Firmware::start();
    let mut host = Abuser::new(open_raw(&firmware.path), 0x5EED_2027);
    for abuse in Abuse::ALL {
        host.abuse(abuse);
        host.probe();
    }
    host.run(12);
    host.every_malformed();
    let atr = host.command(&power_on(0));
    assert_eq!(
        [atr[0], atr[7], atr[8]],
        [0x80, 0, 0],
        "powered: {atr:02X?}"
    );
    assert_eq!(host.command(&set_t0(0))[7..9], [0, 0], "T=0 set");
    let get_256 = message(0x6F, 0, &apdu::get_challenge(0));
    let answer = host.unread_answers(8000, Duration::from_secs(2), &get_256);
    assert_eq!(answer[..5], [0x80, 2, 1, 0, 0], "258 bytes: {answer:02X?}");
    assert_eq!(answer[answer.len() - 2..], [0x90, 0x00]);
    host.probe();
    drop(host);
    let device = format!("{}:GemPCTwin", firmware.path);
    let (pcscd, ctx) = pcscd_for(&device, "RK QEMU", None);
    echo_after_insertion(
        &ctx,
        "RK QEMU 00 00",
        Protocols::T1,
        Duration::from_secs(10),
    );
    drop(ctx);
    stop_and_check(pcscd);
}

/// Read the firmware's NAK frame, skipping time requests (`80 | multiplier`)
/// before it.
fn read_nak(port: &mut std::fs::File) {
    let mut byte = read_n(port, 1);
    while byte[0] >= 0x80 {
        byte = read_n(port, 1);
    }
    byte.extend(read_n(port, 2));
    assert_eq!(byte, NAK, "a NAK");
}

/// While a slow command runs, a host's NAK gets the last frame the firmware
/// sent meanwhile: nothing before any, then the CMD_SLOT_BUSY answer to a
/// second command, then, after a damaged frame, the firmware's own NAK; the
/// command's answer comes after.
/// Before, a NAK while a command ran was ignored (the host waited for a frame
/// that never came).
#[test]
fn qemu_firmware_answers_a_nak_during_a_command_with_the_last_frame() {
    let (_firmware, mut port) = Firmware::start_with_card("slow 5", "slow card: 5 NULL bytes");
    power_on_and_set(&mut port, 0, 1);
    start_slow_command(&mut port, &get_challenge(3));
    // Nothing sent since the echo: the NAK gets nothing (not the parameters
    // answer, bSeq 2), so the next frame is the echo of the slot status.
    port.write_all(&NAK).unwrap();
    let status = [0x65, 0, 0, 0, 0, 0, 4, 0, 0, 0];
    port.write_all(&frame(&status)).unwrap();
    assert_eq!(read_answer(&mut port).1, status, "the echo");
    let busy = [0x81, 0, 0, 0, 0, 0, 4, 0x40, 0xE0, 0x03];
    assert_eq!(read_answer(&mut port).1, busy, "CMD_SLOT_BUSY");
    port.write_all(&NAK).unwrap();
    assert_eq!(read_answer(&mut port).1, busy, "CMD_SLOT_BUSY again");
    let mut damaged = frame(&status);
    damaged[12] ^= 0xFF;
    port.write_all(&damaged).unwrap();
    read_nak(&mut port);
    port.write_all(&NAK).unwrap();
    read_nak(&mut port);
    let answer = read_answer(&mut port).1;
    assert_eq!(answer[..10], data_block(10, 3));
}

/// A NAK after a card movement notification gets the answer before it: the
/// notification (`50 bmSlotICCState`) is outside any frame and the host skips
/// it (libccid reads it and reads on), so a host that found that answer damaged
/// still waits for it. Before, the firmware wrote the notification over the
/// answer it kept and answered such a NAK with nothing: the host waited for an
/// answer that never came. Then the next command sees the card gone.
#[test]
fn qemu_firmware_answers_a_nak_after_a_notification_with_the_answer_before_it() {
    let mut firmware = Firmware::start();
    let mut port = open_raw(&firmware.path);
    let status = |seq| [0x65, 0, 0, 0, 0, 0, seq, 0, 0, 0];
    send_echoed(&mut port, &status(1));
    let present = read_message(&mut port);
    assert_eq!(present[..7], [0x81, 0, 0, 0, 0, 0, 1], "{present:02X?}");
    assert_ne!(present[7] & 0x03, 0x02, "a card: {present:02X?}");
    firmware.control("remove");
    assert_eq!(read_n(&mut port, 2), [0x50, 0x02], "the card went");
    port.write_all(&NAK).unwrap();
    assert_eq!(read_message(&mut port), present, "the answer again");
    send_echoed(&mut port, &status(2));
    let absent = read_message(&mut port);
    assert_eq!(
        absent[..9],
        [0x81, 0, 0, 0, 0, 0, 2, 0x02, 0],
        "no card: {absent:02X?}"
    );
}

/// PC_to_RDR_SetParameters, slot 0: T=1, Fi/Di 1/1, LRC, BWI 4 / CWI 13, IFSC 32.
fn set_t1(seq: u8) -> [u8; 17] {
    [
        0x61, 7, 0, 0, 0, 0, seq, 1, 0, 0, 0x11, 0x10, 0, 0x4D, 0, 0x20, 0,
    ]
}

/// A T=1 block (NAD 0, LRC) with `pcb` and `inf` in an XfrBlock for slot 0.
fn t1_block(seq: u8, pcb: u8, inf: &[u8]) -> Vec<u8> {
    message(0x6F, seq, &t1::block(pcb, inf))
}

/// A T=1 card's request for more time (`wtx 3`: an S(WTX request) with
/// multiplier 3 before every answer) reaches the host as the exchange level says
/// (`twin::Profile::more_time` in the firmware's `ccid::more_time`): at the TPDU
/// level the host relays T=1 blocks, so the S(WTX request) block itself is the
/// answer to its I-block, with no time request byte, and the host's S(WTX
/// response) gets the card's I-block; at the short APDU level (Escape `1F 02`)
/// the reader's own T=1 engine grants it and the host is asked with the time
/// request byte `83` before the APDU's answer.
#[test]
fn qemu_firmware_passes_a_t1_cards_wtx_on_as_the_exchange_level_says() {
    let (_firmware, mut port) = Firmware::start_with_card("wtx 3", "wtx card: S(WTX) x3");
    power_on_and_set(&mut port, 1, 1);

    // TPDU level: GET CHALLENGE in an I-block; the card's answer is S(WTX).
    send_echoed(&mut port, &t1_block(3, 0x00, &apdu::get_challenge(8)));
    let (requests, answer) = read_answer(&mut port);
    assert_eq!(requests, [], "no time request at the TPDU level");
    assert_eq!(answer[..10], data_block(5, 3), "{answer:02X?}");
    assert_eq!(
        answer[10..14],
        [0x00, 0xC3, 0x01, 0x03],
        "S(WTX x3): {answer:02X?}"
    );
    // The host grants it: the card's I-block with the challenge and 90 00.
    send_echoed(&mut port, &t1_block(4, 0xE3, &[0x03]));
    let (requests, answer) = read_answer(&mut port);
    assert_eq!(requests, [], "{answer:02X?}");
    assert_eq!(answer[..10], data_block(14, 4), "{answer:02X?}");
    assert_eq!(
        answer[10..13],
        [0x00, 0x00, 10],
        "an I-block: {answer:02X?}"
    );
    assert_eq!(answer[21..23], [0x90, 0x00], "{answer:02X?}");

    // Short APDU level: the reader's T=1 engine grants the S(WTX), the host is
    // asked for the time.
    send_echoed(&mut port, &message(0x6B, 5, &[0x1F, 0x02]));
    let switched = read_message(&mut port);
    assert_eq!(
        switched[..9],
        [0x83, 0, 0, 0, 0, 0, 5, 0, 0],
        "{switched:02X?}"
    );
    power_on_and_set(&mut port, 1, 6);
    send_echoed(&mut port, &get_challenge(8));
    let (requests, answer) = read_answer(&mut port);
    assert_eq!(requests, [0x83], "the time request for S(WTX) x3");
    assert_eq!(answer[..10], data_block(10, 8), "{answer:02X?}");
    assert_eq!(answer[18..], [0x90, 0x00], "{answer:02X?}");
}

//! End to end: the real pcscd (Debian) loads `libifd_readerkit.so` from a
//! reader.conf and real clients drive it — the `pcsc` crate here, pyscard
//! (`tests/py/session.py`) and `pcsc_scan` alongside, vsmartcard's `vicc` behind the
//! `vpcd:` backend.
//!
//! All scenarios share one pcscd, in one test, so they never run two daemons at
//! once (a file lock also serializes against the benchmark and the demo).

#[path = "support/pcscd.rs"]
mod support;

use std::ffi::CString;
use std::process::Command;
use std::ptr::null;
use std::time::{Duration, Instant};

use pcsc::{Attribute, Context, Disposition, Error, Protocols, Scope, ShareMode, ctl_code};
use readerkit_card_sim::app::SERIAL_NUMBER;
use readerkit_testkit::apdu::{SELECT_MF, SELECT_MF_FCI, echo, get_challenge};
use readerkit_testkit::hex;
use readerkit_testkit::pcsc::{
    GET_FEATURE_REQUEST, connect, disconnect, disconnect_with, reader, reader_names, reader_state,
    reset, step, tx, wait_card,
};
use readerkit_testkit::pcscd::{Pcscd, free_port, require_pcscd};
use readerkit_testkit::vicc::{ATR_VICC, Vicc, require_vicc};

const T1: &str = "RK T1 00 00";
const T0: &str = "RK T0 01 00";
const VPCD: &str = "RK VPCD 02 00";
const DUAL: &str = "RK DUAL 03 00";
const ATR_T1: &str = "3B 9B 96 81 71 FE 45 00 80 65 52 4B 53 49 4D 73 10 21 40 EF";
const ATR_T0: &str = "3B 1B 95 80 65 52 4B 53 49 4D 73 10 21 40";

#[test]
fn pcscd_end_to_end() {
    let started = Instant::now();
    // Everything the scenarios below use, checked before the long run starts.
    require_pcscd();
    support::require_pyscard();
    support::require_pcsc_scan();
    require_vicc();
    let port = free_port();
    let vpcd_dev = format!("vpcd:{port}");
    let mut pcscd = Pcscd::start_readerkit(&[
        ("RK T1", "sim:t1"),
        ("RK T0", "sim:t0"),
        ("RK VPCD", &vpcd_dev),
        ("RK DUAL", "sim:t0t1"),
    ]);
    let ctx = Context::establish(Scope::User).expect("establish context (pcscd started)");
    step("pcscd up", started);

    // Readers listed with their names.
    let names = reader_names(&ctx);
    assert_eq!(names, [T1, T0, VPCD, DUAL]);

    t1_session(&ctx);
    step("T=1 session (pcsc crate)", started);
    t0_session(&ctx);
    step("T=0 session (pcsc crate)", started);
    dual_protocol_card(&ctx);
    step("a T=0 + T=1 card switched by SCardReconnect", started);
    attributes_pcscd_relies_on(&ctx);
    step(
        "attributes: names, MAXINPUT, ATR of an unpowered card",
        started,
    );
    extended_limits(&ctx);
    step("extended APDUs up to 65535 bytes", started);
    mute_card_recovers(&ctx);
    step("mute card, recovery after reset", started);
    swapped_card_is_a_new_card(&ctx);
    step("card swapped at once: removal + insertion seen", started);
    swap_then_reset_reaches_the_poll(&ctx);
    step(
        "card swapped, handle reset at once: removal + insertion seen",
        started,
    );
    concurrent_clients(&pcscd);
    step(
        "two readers, two clients at once (pcsc crate + pyscard)",
        started,
    );
    pcsc_scan_sees_readers(&pcscd);
    step("pcsc_scan", started);
    vpcd_with_vicc(&ctx, port);
    step("vpcd: backend with vicc", started);

    drop(ctx);
    pcscd.stop_and_check_log();
    step("pcscd stopped (SIGINT), log clean", started);
}

fn t1_session(ctx: &Context) {
    let card = connect(ctx, T1, Protocols::T1);
    let mut atr = [0u8; 64];
    assert_eq!(
        hex(card.get_attribute(Attribute::AtrString, &mut atr).unwrap()),
        ATR_T1
    );
    let mut names = [0u8; 256];
    let mut atr2 = [0u8; 64];
    let status = card.status2(&mut names, &mut atr2).unwrap();
    assert_eq!(hex(status.atr()), ATR_T1);
    assert_eq!(status.protocol2(), Some(pcsc::Protocol::T1));
    let mut vendor = [0u8; 64];
    let vendor = card
        .get_attribute(Attribute::VendorName, &mut vendor)
        .unwrap();
    assert_eq!(vendor.strip_suffix(b"\0").unwrap_or(vendor), b"readerkit");
    let mut version = [0u8; 8];
    assert_eq!(
        card.get_attribute(Attribute::VendorIfdVersion, &mut version)
            .unwrap(),
        0x0001_0000u32.to_le_bytes()
    );
    let mut proto = [0u8; 8];
    assert_eq!(
        card.get_attribute(Attribute::CurrentProtocolType, &mut proto)
            .unwrap(),
        2u32.to_le_bytes()
    );

    let a = tx(&card, &get_challenge(8)).unwrap();
    let b = tx(&card, &get_challenge(8)).unwrap();
    assert_eq!((a.len(), &a[8..]), (10, &[0x90, 0x00][..]));
    assert_ne!(a, b, "two challenges differ");
    for n in (1..=255).chain([256, 1000, 4096, 4097, 10_000]) {
        let data: Vec<u8> = (0..n).map(|i| (i * 7 + n) as u8).collect();
        let r = tx(&card, &echo(&data)).unwrap();
        assert_eq!(r[..n], data[..], "ECHO {n}");
        assert_eq!(r[n..], [0x90, 0x00]);
    }
    assert_eq!(tx(&card, &[0x00, 0x99, 0x00, 0x00]).unwrap(), [0x6D, 0x00]);

    // PC/SC part 10: the feature list, then the TLV properties it names.
    let mut buf = [0u8; 256];
    let features = card
        .control(GET_FEATURE_REQUEST, &[], &mut buf)
        .unwrap()
        .to_vec();
    // The TLV properties, then the PIN pad's features (tests/pcscd_pinpad.rs).
    assert_eq!(features.len(), 24);
    assert_eq!(features[..2], [0x12, 4], "FEATURE_GET_TLV_PROPERTIES");
    let code = u64::from(u32::from_be_bytes(features[2..6].try_into().unwrap()));
    let props = card.control(code, &[], &mut buf).unwrap();
    assert_eq!(
        props[..6],
        [0x0A, 4, 0x00, 0x00, 0x01, 0x00],
        "dwMaxAPDUDataSize = 65536"
    );
    // Unknown codes: a vendor code nobody handles, a standard one, one outside.
    assert_eq!(
        card.control(ctl_code(3000), &[], &mut buf).err(),
        Some(Error::UnsupportedFeature)
    );
    assert_eq!(
        card.control(ctl_code(1), &[], &mut buf).err(),
        Some(Error::UnsupportedFeature)
    );
    assert_eq!(
        card.control(0x1234_5678, &[], &mut buf).err(),
        Some(Error::UnsupportedFeature)
    );

    // Reconnect with reset; the card is usable again, then disconnect with unpower.
    let mut card = card;
    reset(&mut card, Protocols::T1);
    assert_eq!(tx(&card, &SELECT_MF).unwrap(), [0x90, 0x00]);
    disconnect_with(card, Disposition::UnpowerCard);
}

fn t0_session(ctx: &Context) {
    let card = connect(ctx, T0, Protocols::T0 | Protocols::T1);
    let mut atr = [0u8; 64];
    assert_eq!(
        hex(card.get_attribute(Attribute::AtrString, &mut atr).unwrap()),
        ATR_T0
    );
    // 61xx: a case 4 SELECT with FCI travels as case 3 + GET RESPONSE.
    let fci = tx(&card, &SELECT_MF_FCI).unwrap();
    assert_eq!(fci[0], 0x6F);
    assert_eq!(fci[fci.len() - 2..], [0x90, 0x00]);
    // 6Cxx: READ BINARY asking 32 bytes where 12 are left; the engine re-asks with Le = 12.
    assert_eq!(
        tx(&card, &[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x01, 0x01]).unwrap(),
        [0x90, 0x00]
    );
    let r = tx(&card, &[0x00, 0xB0, 0x01, 0xF4, 0x20]).unwrap();
    assert_eq!(r.len(), 14, "12 bytes and SW: {}", hex(&r));
    // 6Cxx above Le: GET DATA of the 8-byte serial number with Le = 4 into a
    // buffer of Ne + 2 bytes, as a client sizes it. The card answers 6C 08, the
    // engine re-asks with P3 = 08 and keeps the first 4 bytes (ISO/IEC 7816-4
    // Annex A); keeping all 8 overflowed the buffer (SCARD_E_INSUFFICIENT_BUFFER).
    let mut exact = [0u8; 6];
    let serial = card
        .transmit(&[0x00, 0xCA, 0x01, 0x01, 0x04], &mut exact)
        .unwrap();
    assert_eq!(serial, [&SERIAL_NUMBER[..4], &[0x90, 0x00]].concat());
    let challenge = tx(&card, &get_challenge(16)).unwrap();
    assert_eq!((challenge.len(), &challenge[16..]), (18, &[0x90, 0x00][..]));
    for n in [1usize, 255] {
        let data = vec![0xA5; n];
        let r = tx(&card, &echo(&data)).unwrap();
        assert_eq!(r[..n], data[..]);
    }
    // T=0 cannot carry INS 9X (ISO 7816-3): use another unknown INS.
    assert_eq!(tx(&card, &[0x00, 0x50, 0x00, 0x00]).unwrap(), [0x6D, 0x00]);
    t0_out_of_step_until_reset(card);
}

/// A command the card reads otherwise than the client meant breaks the T=0
/// exchange after its header went out: SELECT with Le 1 and no data (the card
/// waits for a data byte, the reader for response data), GET CHALLENGE without
/// P3 (the card sends 256 bytes to a case 1 command). It fails, and so does
/// every command after it until the client reconnects with a reset. Before, the
/// next command read the failed one's bytes as its answer (the SELECT's 6A 86,
/// then 6E 00 for the rest of its header; the challenge's first two bytes as a
/// status word), and every answer after it was another command's.
fn t0_out_of_step_until_reset(mut card: pcsc::Card) {
    for broken in [
        &[0x00, 0xA4, 0x04, 0x00, 0x01][..],
        &[0x00, 0x84, 0x00, 0x00],
    ] {
        assert_eq!(
            tx(&card, broken),
            Err(Error::NotTransacted),
            "{broken:02X?}"
        );
        for _ in 0..2 {
            assert_eq!(
                tx(&card, &get_challenge(8)),
                Err(Error::NotTransacted),
                "after {broken:02X?}: refused, not another command's bytes"
            );
        }
        reset(&mut card, Protocols::T0);
        assert_eq!(tx(&card, &get_challenge(8)).unwrap().len(), 10);
    }
    disconnect_with(card, Disposition::ResetCard);
}

/// A card offering T=0 and T=1 (TA2 absent: negotiable): pcscd prefers T=1; a
/// SCardReconnect with a reset switches it to T=0 (PPS again) and back, each
/// protocol carrying its own kind of exchange (T=0's 61xx GET RESPONSE, T=1's
/// chaining).
fn dual_protocol_card(ctx: &Context) {
    let protocol = |card: &pcsc::Card| {
        let mut proto = [0u8; 4];
        let attribute = card.get_attribute(Attribute::CurrentProtocolType, &mut proto);
        let mut names = [0u8; 64];
        let mut atr = [0u8; 64];
        let status = card.status2(&mut names, &mut atr).unwrap();
        (status.protocol2(), attribute.unwrap().to_vec())
    };
    let mut card = connect(ctx, DUAL, Protocols::T0 | Protocols::T1);
    assert_eq!(
        protocol(&card),
        (Some(pcsc::Protocol::T1), 2u32.to_le_bytes().to_vec())
    );
    assert_eq!(tx(&card, &get_challenge(8)).unwrap().len(), 10);
    for (wanted, active, number) in [
        (Protocols::T0, pcsc::Protocol::T0, 1u32),
        (Protocols::T1, pcsc::Protocol::T1, 2),
        (Protocols::T0, pcsc::Protocol::T0, 1),
    ] {
        card.reconnect(ShareMode::Shared, wanted, Disposition::ResetCard)
            .unwrap_or_else(|e| panic!("reconnect with a reset to {active:?}: {e}"));
        assert_eq!(
            protocol(&card),
            (Some(active), number.to_le_bytes().to_vec())
        );
        // A case 4 SELECT with FCI (T=0: case 3 and GET RESPONSE), and an ECHO
        // longer than one T=1 block.
        let fci = tx(&card, &SELECT_MF_FCI).unwrap();
        assert_eq!((fci[0], &fci[fci.len() - 2..]), (0x6F, &[0x90, 0x00][..]));
        let data = vec![0x5A; 255];
        let r = tx(&card, &echo(&data)).unwrap();
        assert_eq!((&r[..255], &r[255..]), (&data[..], &[0x90, 0x00][..]));
    }
    disconnect_with(card, Disposition::ResetCard);
}

/// `SCardGetAttrib` through libpcsclite's raw API on a SHARED connection to
/// `reader`, for tags the `pcsc` crate gets wrong: the value, or the `SCARD_E_*`
/// code.
fn raw_get_attrib(reader: &str, tag: u32) -> Result<Vec<u8>, i64> {
    use pcsc_sys as sys;
    let name = CString::new(reader).unwrap();
    let mut ctx: sys::SCARDCONTEXT = 0;
    let mut card: sys::SCARDHANDLE = 0;
    let mut protocol: sys::DWORD = 0;
    let mut buf = [0u8; 264];
    let mut len = buf.len() as sys::DWORD;
    // SAFETY: every pointer is to a live local of the type the function writes;
    // `name` is NUL-terminated; `len` is the size of `buf`.
    let rv = unsafe {
        let rv = sys::SCardEstablishContext(sys::SCARD_SCOPE_USER, null(), null(), &mut ctx);
        assert_eq!(rv, sys::SCARD_S_SUCCESS, "SCardEstablishContext");
        let rv = sys::SCardConnect(
            ctx,
            name.as_ptr(),
            sys::SCARD_SHARE_SHARED,
            sys::SCARD_PROTOCOL_ANY,
            &mut card,
            &mut protocol,
        );
        assert_eq!(rv, sys::SCARD_S_SUCCESS, "SCardConnect {reader}");
        let rv = sys::SCardGetAttrib(card, sys::DWORD::from(tag), buf.as_mut_ptr(), &mut len);
        sys::SCardDisconnect(card, sys::SCARD_LEAVE_CARD);
        sys::SCardReleaseContext(ctx);
        rv
    };
    if rv == sys::SCARD_S_SUCCESS {
        Ok(buf[..len as usize].to_vec())
    } else {
        Err(rv as i64)
    }
}

/// Attributes pcscd and its clients rely on: pcscd answers the reader's names
/// itself when the driver does not know the tag (and uses the length the driver
/// left); SCARD_ATTR_MAXINPUT; the ATR of a present card that is not powered is
/// empty, not an error (as CCID drivers answer).
fn attributes_pcscd_relies_on(ctx: &Context) {
    let card = connect(ctx, T1, Protocols::T1);
    let mut buf = [0u8; 64];
    // pcsc-sys 1.3 defines SCARD_CLASS_SYSTEM as 0, so the `pcsc` crate's
    // DeviceFriendlyName / DeviceSystemName are 0x3 / 0x4: ask with the real tags.
    for (tag, name) in [(0x7FFF_0003, "FRIENDLY_NAME"), (0x7FFF_0004, "SYSTEM_NAME")] {
        assert_eq!(
            raw_get_attrib(T1, tag),
            Ok(b"RK T1 00 00\0".to_vec()),
            "SCARD_ATTR_DEVICE_{name}"
        );
    }
    // The largest command APDU: 4 + 3 + 65535 + 2 bytes, a DWORD.
    assert_eq!(
        card.get_attribute(Attribute::Maxinput, &mut buf),
        Ok(&65_544u32.to_ne_bytes()[..]),
        "SCARD_ATTR_MAXINPUT"
    );
    // Unpower the card, then look at it through a DIRECT connection (which pcscd
    // does not power up): present, not powered, an empty ATR.
    disconnect_with(card, Disposition::UnpowerCard);
    let direct = ctx
        .connect(&reader(T1), ShareMode::Direct, Protocols::UNDEFINED)
        .expect("DIRECT connection");
    assert_eq!(
        direct.get_attribute(Attribute::IccInterfaceStatus, &mut buf),
        Ok(&[0u8][..]),
        "the card is not powered"
    );
    assert!(
        matches!(
            direct.get_attribute(Attribute::IccPresence, &mut buf),
            Ok([1 | 2])
        ),
        "the card is present"
    );
    assert_eq!(
        direct.get_attribute(Attribute::AtrString, &mut buf),
        Ok(&[][..]),
        "the ATR of an unpowered card is empty"
    );
    // A SHARED connection powers it again: the ATR is back.
    let card = connect(ctx, T1, Protocols::T1);
    assert_eq!(
        hex(direct
            .get_attribute(Attribute::AtrString, &mut buf)
            .unwrap()),
        ATR_T1
    );
    disconnect(card);
    disconnect(direct);
}

fn extended_limits(ctx: &Context) {
    let card = connect(ctx, T1, Protocols::T1);
    // The largest command pcscd passes: 65535 data bytes with extended Lc and Le.
    for n in [32_768usize, 65_535] {
        let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
        let r = tx(&card, &echo(&data)).unwrap();
        assert_eq!(r.len(), n + 2, "ECHO {n}");
        assert_eq!(r[..n], data[..]);
    }
    disconnect(card);
}

/// A card swapped at once (readerkit's sim slot switch): pcscd sees a removal and
/// an insertion, the old handle gets `SCARD_W_REMOVED_CARD`, a new one works.
fn swapped_card_is_a_new_card(ctx: &Context) {
    let card = connect(ctx, T1, Protocols::T1);
    assert_eq!(tx(&card, &get_challenge(8)).unwrap().len(), 10);
    let events = |ctx: &Context| reader_state(ctx, T1).event_count();
    let before = events(ctx);
    let mut buf = [0u8; 16];
    card.control(ctl_code(3501), &[2], &mut buf).unwrap();
    // At once, before pcscd has looked: the old handle never reaches the new card
    // (pcscd may not know yet why; the core refuses the unpowered card).
    assert!(tx(&card, &get_challenge(8)).is_err());
    let deadline = Instant::now() + Duration::from_secs(5);
    while events(ctx) < before + 2 {
        assert!(
            Instant::now() < deadline,
            "pcscd saw a removal and an insertion ({before} -> {})",
            events(ctx)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(wait_card(ctx, T1, true, Duration::from_secs(5)), "new card");
    assert_eq!(
        tx(&card, &get_challenge(8)),
        Err(Error::RemovedCard),
        "the old card's handle"
    );
    drop(card);
    let card = connect(ctx, T1, Protocols::T1);
    assert_eq!(tx(&card, &get_challenge(8)).unwrap().len(), 10);
    disconnect_with(card, Disposition::ResetCard);
}

/// A card swapped at once, then the handle that swapped it disconnected with
/// SCARD_RESET_CARD at once: pcscd's reset path asks IFDHICCPresence before the
/// event thread does (IFDPowerICC checks presence first), and the "absent" the
/// swap owes must still reach the event thread's poll. Else pcscd marks the
/// reader empty without counting, its event thread still thinks "present" and
/// sees no change: empty for good with the new card in. Several rounds, since
/// the two threads race.
fn swap_then_reset_reaches_the_poll(ctx: &Context) {
    for round in 0..200 {
        // As after the swap test before: a reset on the last disconnect, which
        // also stops pcscd's poll (its event thread then looks and polls again).
        let warm = connect(ctx, T1, Protocols::T1);
        disconnect_with(warm, Disposition::ResetCard);
        let card = connect(ctx, T1, Protocols::T1);
        assert_eq!(tx(&card, &get_challenge(8)).unwrap().len(), 10);
        let before = reader_state(ctx, T1).event_count();
        let mut buf = [0u8; 16];
        card.control(ctl_code(3501), &[2], &mut buf).unwrap();
        disconnect_with(card, Disposition::ResetCard);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let state = reader_state(ctx, T1);
            let counted = state.event_count().wrapping_sub(before);
            if counted >= 2 && state.event_state().contains(pcsc::State::PRESENT) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: pcscd counted a removal and an insertion \
                 ({before} -> {}, state {:?})",
                state.event_count(),
                state.event_state()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let card = connect(ctx, T1, Protocols::T1);
        let mut atr = [0u8; 64];
        assert_eq!(
            hex(card.get_attribute(Attribute::AtrString, &mut atr).unwrap()),
            ATR_T1,
            "round {round}: the new card's ATR"
        );
        assert_eq!(tx(&card, &get_challenge(8)).unwrap().len(), 10);
        disconnect(card);
    }
}

fn mute_card_recovers(ctx: &Context) {
    let mut card = connect(ctx, T1, Protocols::T1);
    let mut buf = [0u8; 16];
    // readerkit's sim fault switch: the card answers one more command, then goes
    // mute until the next reset (the fault stays armed: one answer per reset).
    card.control(ctl_code(3500), &[1, 1], &mut buf).unwrap();
    assert_eq!(tx(&card, &get_challenge(8)).unwrap().len(), 10);
    let err = tx(&card, &get_challenge(8)).unwrap_err();
    assert_eq!(err, Error::NotTransacted, "a mute card is a clear error");
    reset(&mut card, Protocols::T1);
    assert_eq!(tx(&card, &get_challenge(8)).unwrap().len(), 10);
    card.control(ctl_code(3500), &[0], &mut buf).unwrap();
    for _ in 0..3 {
        assert_eq!(tx(&card, &get_challenge(8)).unwrap().len(), 10);
    }
    disconnect_with(card, Disposition::ResetCard);
}

fn concurrent_clients(pcscd: &Pcscd) {
    support::require_pyscard();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/session.py");
    let python = Command::new("/usr/bin/python3")
        .args([script, T1, T0, "3"])
        .env("PCSCLITE_CSOCK_NAME", &pcscd.socket)
        .output();
    // Meanwhile this process hammers both readers from its own contexts.
    let worker = |name: &'static str, proto: Protocols| {
        std::thread::spawn(move || {
            let ctx = Context::establish(Scope::User).unwrap();
            let card = connect(&ctx, name, proto);
            for i in 0..200usize {
                let data = vec![i as u8; 1 + i % 200];
                let r = tx(&card, &echo(&data)).unwrap();
                assert_eq!(r[..data.len()], data[..], "{name} round {i}");
            }
        })
    };
    let a = worker(T1, Protocols::T1);
    let b = worker(T0, Protocols::T0);
    a.join().unwrap();
    b.join().unwrap();
    let out = python.expect("run pyscard session");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("OK"),
        "pyscard session failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn pcsc_scan_sees_readers(pcscd: &Pcscd) {
    support::require_pcsc_scan();
    let out = Command::new("timeout")
        .args(["5", "/usr/bin/pcsc_scan", "-r"])
        .env("PCSCLITE_CSOCK_NAME", &pcscd.socket)
        .output()
        .expect("pcsc_scan");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(T1) && text.contains(T0),
        "pcsc_scan -r:\n{text}"
    );
}

fn vpcd_with_vicc(ctx: &Context, port: u16) {
    assert!(
        wait_card(ctx, VPCD, false, Duration::from_secs(2)),
        "no card before vicc"
    );
    let mut vicc = Vicc::start(port);
    assert!(
        wait_card(ctx, VPCD, true, Duration::from_secs(15)),
        "vicc connected"
    );
    let card = connect(ctx, VPCD, Protocols::ANY);
    let mut atr = [0u8; 64];
    assert_eq!(
        hex(card.get_attribute(Attribute::AtrString, &mut atr).unwrap()),
        ATR_VICC
    );
    assert_eq!(tx(&card, &SELECT_MF).unwrap(), [0x90, 0x00]);
    let challenge = tx(&card, &get_challenge(8)).unwrap();
    assert_eq!(challenge[challenge.len() - 2..], [0x90, 0x00]);
    let mut buf = [0u8; 64];
    let features = card.control(GET_FEATURE_REQUEST, &[], &mut buf).unwrap();
    assert_eq!(features[0], 0x12);
    disconnect_with(card, Disposition::UnpowerCard);
    vicc.stop();
    assert!(
        wait_card(ctx, VPCD, false, Duration::from_secs(5)),
        "removal seen after vicc exits"
    );
}

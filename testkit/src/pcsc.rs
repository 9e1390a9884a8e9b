//! PC/SC client helpers over the `pcsc` crate (libpcsclite): what the end-to-end
//! tests and benchmarks against pcscd do again and again.

use std::ffi::CString;
use std::time::{Duration, Instant};

use pcsc::ffi::DWORD;
use pcsc::{Card, Context, Disposition, Error, Protocols, ReaderState, ShareMode, State};

use crate::hex::hex;

/// A reader name as the C client library takes it.
pub fn reader(name: &str) -> CString {
    CString::new(name).expect("a reader name has no NUL")
}

/// SCardConnect in shared mode with `protocols`; panics naming the reader on failure.
///
/// The `pcsc` crate's `Card` disconnects with SCARD_RESET_CARD when dropped (a
/// direct connection's too): if the card may have gone, end it with
/// [`disconnect`] instead (see there).
pub fn connect(ctx: &Context, name: &str, protocols: Protocols) -> Card {
    ctx.connect(&reader(name), ShareMode::Shared, protocols)
        .unwrap_or_else(|e| panic!("connect {name}: {e}"))
}

/// SCardDisconnect leaving the card as it is; panics on failure.
///
/// The way to end a handle whose card may have gone (removed while connected,
/// or a slot switched through it). Dropping the `Card` resets instead, and a
/// reset that finds the card out makes pcscd 1.9.9 mark the reader empty
/// without counting a removal; if the card is back before pcscd's next poll
/// (400 ms for a serial reader) pcscd says empty with the card in until a poll
/// sees a removal (bindings-ccid/README, "Known host behaviour").
pub fn disconnect(card: Card) {
    disconnect_with(card, Disposition::LeaveCard);
}

/// SCardDisconnect with `disposition` (reset, unpower, ...); panics on failure.
pub fn disconnect_with(card: Card, disposition: Disposition) {
    card.disconnect(disposition)
        .map_err(|(_, e)| e)
        .unwrap_or_else(|e| panic!("disconnect ({disposition:?}): {e}"));
}

/// SCardReconnect in shared mode with `protocols`, resetting the card; panics on
/// failure.
pub fn reset(card: &mut Card, protocols: Protocols) {
    card.reconnect(ShareMode::Shared, protocols, Disposition::ResetCard)
        .unwrap_or_else(|e| panic!("reconnect with a reset: {e}"));
}

/// SCardTransmit with room for the largest (extended) response.
pub fn tx(card: &Card, apdu: &[u8]) -> Result<Vec<u8>, Error> {
    let mut buf = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
    card.transmit(apdu, &mut buf).map(|r| r.to_vec())
}

/// Reader `name`'s state now (SCardGetStatusChange from `UNAWARE`, which answers at
/// once; 5 s as a hang guard), synced so that it can be waited on from here: its
/// event counter is pcscd's count of removals and insertions. Panics on failure.
pub fn reader_state(ctx: &Context, name: &str) -> ReaderState {
    let mut states = [ReaderState::new(reader(name), State::UNAWARE)];
    ctx.get_status_change(Duration::from_secs(5), &mut states)
        .unwrap_or_else(|e| panic!("get_status_change {name}: {e}"));
    let [mut state] = states;
    state.sync_current_state();
    state
}

/// Wait until reader `name` reports a card present (`true`) or absent (`false`),
/// through SCardGetStatusChange; `false` if `timeout` passed first.
pub fn wait_card(ctx: &Context, name: &str, present: bool, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut state = ReaderState::new(reader(name), State::UNAWARE);
    loop {
        let mut states = [state];
        let left = deadline.saturating_duration_since(Instant::now());
        match ctx.get_status_change(Some(left.min(Duration::from_millis(500))), &mut states) {
            Ok(()) | Err(Error::Timeout) => {}
            Err(e) => panic!("get_status_change {name}: {e}"),
        }
        let [s] = states;
        let now = s.event_state();
        if now.contains(State::PRESENT) == present && !now.contains(State::UNKNOWN) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        state = s;
        state.sync_current_state();
    }
}

/// Wait until pcscd's own poll has seen the card leave reader `name`: the
/// reader empty with its event count (pcscd's count of removals and
/// insertions) moved from `events`, the count read before the removal; `false` if
/// `timeout` passed first. Unlike `wait_card(.., false, ..)` this is not
/// satisfied by a reset or an unpower that found the card gone (pcscd writes
/// "empty" then without counting; bindings-ccid/README, "Known host
/// behaviour"), so a card put back after it is seen as an insertion.
pub fn wait_removal(ctx: &Context, name: &str, events: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let state = reader_state(ctx, name);
        let now = state.event_state();
        if now.contains(State::EMPTY) && state.event_count() != events {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wait until each reader of `names` shows a card, `timeout` for each; panics
/// naming the first that does not.
pub fn wait_cards(ctx: &Context, names: &[&str], timeout: Duration) {
    for name in names {
        assert!(
            wait_card(ctx, name, true, timeout),
            "no card in {name} within {timeout:?}"
        );
    }
}

/// Round trips per second of `command` on `card`: as many as fit in `budget`, at
/// least `min`, after three to warm up; `check` sees every response (it asserts).
pub fn round_trips_per_second(
    card: &Card,
    command: &[u8],
    budget: Duration,
    min: u32,
    check: impl Fn(&[u8]),
) -> f64 {
    let mut buf = [0u8; 300];
    for _ in 0..3 {
        card.transmit(command, &mut buf).expect("warm-up transmit");
    }
    let start = Instant::now();
    let mut n = 0u32;
    while n < min || start.elapsed() < budget {
        check(card.transmit(command, &mut buf).expect("transmit"));
        n += 1;
    }
    f64::from(n) / start.elapsed().as_secs_f64()
}

/// pcsc-lite `SCARD_CTL_CODE(3400)`: CM_IOCTL_GET_FEATURE_REQUEST, the core's
/// [`FN_GET_FEATURE_REQUEST`](readerkit::part10::FN_GET_FEATURE_REQUEST), as a
/// `DWORD` (32 bits on a 32-bit host, 64 on a 64-bit one).
pub const GET_FEATURE_REQUEST: DWORD =
    pcsc::ctl_code(readerkit::part10::FN_GET_FEATURE_REQUEST as DWORD);

/// The reader's CM_IOCTL_GET_FEATURE_REQUEST answer as (tag, control code)
/// pairs (6-byte TLVs, code big-endian), checked to be whole TLVs; each code a
/// `DWORD`, as [`Card::control`] takes it.
pub fn feature_list(card: &Card) -> Vec<(u8, DWORD)> {
    let mut buf = [0u8; 256];
    let features = card
        .control(GET_FEATURE_REQUEST, &[], &mut buf)
        .expect("CM_IOCTL_GET_FEATURE_REQUEST");
    assert_eq!(features.len() % 6, 0, "TLVs of 6 bytes: {}", hex(features));
    features
        .chunks(6)
        .map(|t| {
            assert_eq!(t[1], 4, "a 4-byte code: {}", hex(features));
            (
                t[0],
                DWORD::from(u32::from_be_bytes([t[2], t[3], t[4], t[5]])),
            )
        })
        .collect()
}

/// SCardListReaders: the reader names, in pcscd's order.
pub fn reader_names(ctx: &Context) -> Vec<String> {
    ctx.list_readers_owned()
        .expect("list readers")
        .into_iter()
        .map(|r| r.to_string_lossy().into_owned())
        .collect()
}

/// Print a step of a long end-to-end test with the seconds since `started`, on
/// stderr (shown with `--nocapture` or when the test fails).
pub fn step(name: &str, started: Instant) {
    eprintln!("[{:>6.2} s] {name}", started.elapsed().as_secs_f64());
}

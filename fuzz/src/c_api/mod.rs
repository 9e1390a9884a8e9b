//! The C ABI (readerkit-c) as a careless C caller uses it, with valid memory only:
//! the fuzzer's bytes choose a sequence of `rk_*` calls over one fixed arena (six
//! aligned storage slots for devices, engines and simulated cards, then a byte
//! area for buffers and out-pointers, guard bytes between them), with pointers and
//! lengths that stay inside the arena: calls in any order (a step before its begin
//! or after its end, deinit twice, a device used after deinit, a storage reused
//! while in use, by the same kind of object or another), storage lengths too small
//! or too big, misaligned storage and out-pointers, buffers that overlap each
//! other or an object, out-of-range codes (power actions, card events, protocols,
//! log levels, sim profiles, statuses), and driver callbacks (the reader table,
//! the line, the keypad) that fail, answer garbage or claim more bytes than their
//! buffer holds, or call back into the device.
//!
//! Input: two bytes (little endian) giving the length of the calls' bytes, the
//! calls' bytes (each call takes its choices from them), then the callbacks' bytes
//! (read past their end: zeros, a driver that succeeds and answers honestly, the
//! line moving the simulated card's bytes). The committed seeds run a line device
//! over the simulated card through POWER, SET_PROTOCOL and TRANSMIT over T=0 and
//! over T=1 (and then a PIN VERIFY or MODIFY, `seed-pin-line-*`), a table device
//! through a pending IS_ABSENT and PIN entries, a table device whose TRANSMIT
//! callback reports a T=1 field size the device then answers for `CURRENT_IFSC`
//! (`seed-table-field-sizes`, an input the fuzzer found), a line device put to
//! sleep by a step that reports a card event (`seed-sleep-step-event`, an input
//! the fuzzer found), and `rk_atr_parse` on an ATR with TCK and a historical
//! byte.
//!
//! What the harness never does, because the contract makes it undefined: name
//! bytes that belong to ANOTHER live object (its storage, or the APDU and response
//! buffers an open exchange holds) in a call on some object. Within one call's own
//! objects anything goes: the library promises to refuse the overlap, and the
//! decoder aims for it: where a buffer or out-pointer would go anywhere in the
//! arena, half the time it goes over one of the call's own objects (at the size
//! the library gives it, readerkit-c's `fuzzing::object_len`), the buffers an
//! engine holds, or the call's other arguments (`decode::buffer_over`,
//! `out_over`).
//!
//! Checks, after every call:
//! * no panic: libfuzzer-sys's panic hook aborts before `catch_unwind` in the FFI
//!   guard can turn a panic into `RK_STATUS_UNSUCCESSFUL`; and
//!   `RK_STATUS_UNSUCCESSFUL` itself only comes from a call during which a
//!   callback returned it or a code that is no status;
//! * every status is a documented `RK_STATUS_*`, `RK_STATUS_PENDING` only from
//!   IS_PRESENT / IS_ABSENT;
//! * no byte of the arena changed outside the call's own objects and the buffers
//!   and out-pointers it names (the guard bytes included), and a refused call
//!   (`RK_STATUS_INVALID_PARAMETER`, `_INVALID_DEVICE_STATE`, `_DEVICE_BUSY`, a
//!   storage too small) changed nothing at all (an engine step out of order:
//!   nothing but its action, the pending one again); a live object's storage
//!   is compared by its state, not its bytes (`snapshot`), and a C struct the
//!   call writes whole (an action, an ATR's description, a default config) by
//!   its fields, not its padding (`padding`); a device request refused without
//!   calling a callback leaves `rk_device_state` as it was;
//! * a call whose arguments overlap where the library's rule refuses them (a
//!   region it writes, the object's storage included, sharing a byte with
//!   another it writes or reads; an engine step's too with the buffers the
//!   engine holds) is refused, with `RK_STATUS_INVALID_PARAMETER` where the
//!   library checks that first, and changes nothing at all (`oracle::Overlap`);
//! * a storage that holds a live object of any kind is never taken by an init or
//!   begin call (and the objects the harness tracks are exactly the live ones: at
//!   the end each is released with success, and LeakSanitizer sees no leak);
//! * `*bytes_written`, an action's DONE length, `rk_sim_read`'s count and a parsed
//!   ATR's lengths never exceed the buffer given; a SEND action's bytes are
//!   readable; an action is FAILED exactly when the status is a failure;
//! * the queries `rk_t0_out_of_step` and `rk_t1_resynch_failed` (on a live,
//!   busy, freed or other kind of object, the out-pointer NULL or over the
//!   object or the buffers an exchange holds) succeed exactly on a live exchange
//!   / idle engine with a clear out-pointer (a busy engine: `_DEVICE_BUSY`),
//!   then write one bool and change no object's state, and otherwise nothing;
//!   the answer is the model's where it knows it: an exchange that completed
//!   or an engine just initialised or reset is in step, one begun and not
//!   ended or timed out is out of step (`model::Harness::known`);
//! * T=1 field sizes (`field_sizes`): a TRANSMIT callback's
//!   `rk_transmit_report_ifsc` / `_ifsd` succeeds exactly with 1 to 254 bytes
//!   on its own call (or a copy of it), and is `RK_STATUS_INVALID_PARAMETER` on
//!   NULL, a misaligned pointer, a copy with `internal` NULL, or outside any
//!   callback; after a request on a table device whose TRANSMIT callbacks ran
//!   without deactivating the card or seeing a card event, GET_ATTRIBUTE
//!   `CURRENT_IFSC` / `CURRENT_IFSD` answer the last size of each accepted, or
//!   what they answered before where none was; `rk_t1_field_sizes` (on any
//!   object, out-pointers NULL, over the engine or on the same byte) succeeds
//!   exactly on an idle engine with clear, separate out-pointers (a busy one:
//!   `_DEVICE_BUSY`), writes two sizes of 1 to 254 bytes, the configuration's
//!   IFSC and 32 after an init or reset (`model::Harness::t1_sizes`), and
//!   otherwise nothing;
//! * tracking: each pending request completes exactly once, with a documented
//!   status; log lines are NUL-terminated within `RK_LOG_LINE_MAX` bytes;
//! * PIN pad: `VERIFY_PIN_DIRECT` / `MODIFY_PIN_DIRECT` get well-formed
//!   structures with fuzzer-chosen fields, the keypad the fuzzer's keys
//!   (time-outs, Cancel, Clear, Backspace, garbage; no key once the callbacks'
//!   bytes run out), and `pin` checks the answer against its own model of the
//!   entry: the keys asked for and their time-outs, 64 00 / 64 01 / 64 02 /
//!   64 03 in two bytes, or exactly the formatted command sent and the card's
//!   answer returned (a line device: what its `send` callback got, read as T=0
//!   or T=1 after the framing `set_framing` last announced);
//! * the checks of untrusted C input, against rules written here from the
//!   header: `rk_atr_parse`'s historical bytes are the core's for the same
//!   bytes; `rk_device_init` refuses capabilities with `max_ifsd` 0 or 255 or no
//!   protocol bit and, with every other argument right, takes the others;
//!   `rk_device_set_keypad` succeeds exactly with a `next_key` and a minimum of
//!   1 to the maximum; SET_PROTOCOL never succeeds when its callback answered a
//!   timing with a zero F, D or clock.
//!
//! The pieces: `arena` (the memory), `snapshot` (the write check), `padding` (the
//! C structs compared by their fields), `model` (what the
//! harness knows), `decode` (the arguments), `callbacks` (the driver),
//! `field_sizes` (the field size reports and their oracle),
//! `oracle` (the checks every call gets), `pin` (PIN requests and their
//! oracle) and `ops` (the calls).

pub(crate) mod arena;
pub(crate) mod callbacks;
pub(crate) mod decode;
pub(crate) mod field_sizes;
pub(crate) mod model;
pub(crate) mod ops;
pub(crate) mod oracle;
pub(crate) mod padding;
pub(crate) mod pin;
pub(crate) mod snapshot;

use arena::{ARENA_LEN, set_arena};
use model::{H, Harness, byte, exhausted};

/// Calls per input at most.
const MAX_CALLS: usize = 96;

/// One run of the `c_api` target over the fuzzer's `data`.
pub fn run(data: &[u8]) {
    let mut words = vec![0u64; ARENA_LEN.div_ceil(8)];
    set_arena(words.as_mut_ptr().cast());
    snapshot::forget(None);
    // Input: the length of the calls' stream (two bytes, little endian), the calls'
    // bytes, then the callbacks' bytes.
    let split = usize::from(u16::from_le_bytes([
        data.first().copied().unwrap_or(0),
        data.get(1).copied().unwrap_or(0),
    ]));
    let rest = data.get(2..).unwrap_or(&[]);
    let (calls, callbacks) = rest.split_at(split.min(rest.len()));
    H.with(|h| {
        *h.borrow_mut() = Harness::new(calls.to_vec(), callbacks.to_vec());
    });
    for _ in 0..MAX_CALLS {
        if exhausted() {
            break;
        }
        let op = byte();
        match op % 8 {
            0 => ops::device::op_device_init(op & 8 != 0),
            1 | 2 => ops::device::op_device(op >> 3),
            3 => ops::engines::op_t0(op >> 3),
            4 => ops::engines::op_t1(op >> 3),
            5 => ops::misc::op_sim(op >> 3),
            _ => ops::misc::op_misc(op >> 3),
        }
    }
    ops::misc::teardown();
    set_arena(std::ptr::null_mut());
    drop(words);
}

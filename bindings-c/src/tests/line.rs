//! A device over a C line (`rk_device_init_line`) through the C signatures, its
//! line backed by the simulated card (`rk_sim_*`): PPS, T=0 and T=1 run by the
//! library; everything the line's callbacks return is checked (counts larger than
//! the buffer, unknown codes, silence), and calls from inside them are refused
//! without waiting.

use core::cell::{Cell, RefCell};
use core::ffi::c_void;
use core::mem::MaybeUninit;
use core::ptr;

use readerkit_testkit::thread::hang_guarded;

use super::device::control;
use super::{SPECIFIC, SWALLOWED, ctx, init_device, no_callbacks, read, typical_caps};
use crate::*;

/// How the line behaves besides moving the simulated card's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The simulated card, faithfully.
    Card,
    /// `reset` and `receive` claim one byte more than the buffer holds.
    Overlong,
    /// `receive` never returns a byte (the time always runs out).
    Silent,
    /// `reset` and `receive` return a code that is no `RK_STATUS_*`.
    UnknownStatus,
    /// `reset` returns `RK_STATUS_PENDING`, which a line callback cannot mean.
    Pending,
    /// `send` calls back into the device first.
    CallBack,
}

/// What `set_framing` was told: the protocol (`RK_PROTOCOL_*`) and TC1's N.
type FramingSeen = (u32, u8);

/// The line's context: the simulated card and what the callbacks saw. Reached only
/// through shared references (the callbacks re-enter the device).
struct Ctx {
    dev: *mut rk_device,
    card: *mut rk_sim_card,
    mode: Cell<Mode>,
    receives: Cell<usize>,
    /// The smallest first-byte time limit `receive` was given, µs.
    min_first_us: Cell<u32>,
    timing: Cell<Option<rk_timing>>,
    framing: Cell<Option<FramingSeen>>,
    /// Per `send`: its first byte and the framing in force for it.
    sends: RefCell<Vec<(u8, Option<FramingSeen>)>>,
    seen: RefCell<Vec<(&'static str, rk_status)>>,
    completions: RefCell<Vec<rk_status>>,
}

unsafe extern "C" fn reset(
    c: *mut c_void,
    reset: u32,
    atr: *mut u8,
    cap: usize,
    len: *mut usize,
) -> rk_status {
    // SAFETY: the context of this device.
    let c = unsafe { ctx::<Ctx>(c) };
    match c.mode.get() {
        Mode::Overlong => {
            // SAFETY: the library's out-pointer.
            unsafe { len.write(cap + 1) };
            return RK_STATUS_SUCCESS;
        }
        Mode::UnknownStatus => return 999,
        Mode::Pending => return RK_STATUS_PENDING,
        _ => {}
    }
    assert!([RK_POWER_COLD_RESET, RK_POWER_WARM_RESET].contains(&reset));
    // SAFETY: our card.
    let st = unsafe { rk_sim_power(c.card, reset) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    // SAFETY: the library's buffer and out-pointer, valid for the call.
    unsafe { rk_sim_read(c.card, atr, cap, len) }
}

unsafe extern "C" fn deactivate(c: *mut c_void) -> rk_status {
    // SAFETY: the context of this device.
    let c = unsafe { ctx::<Ctx>(c) };
    // SAFETY: our card.
    unsafe { rk_sim_power(c.card, RK_POWER_DOWN) }
}

unsafe extern "C" fn send(c: *mut c_void, bytes: *const u8, len: usize) -> rk_status {
    // SAFETY: the context of this device.
    let c = unsafe { ctx::<Ctx>(c) };
    if c.mode.get() == Mode::CallBack {
        call_back(c);
    }
    if len > 0 {
        // SAFETY: the library's bytes, `len` of them, valid for the call.
        let first = unsafe { bytes.read() };
        c.sends.borrow_mut().push((first, c.framing.get()));
    }
    // SAFETY: our card; the library's bytes, valid for the call.
    unsafe { rk_sim_write(c.card, bytes, len) }
}

unsafe extern "C" fn receive(
    c: *mut c_void,
    buf: *mut u8,
    cap: usize,
    first_us: u32,
    _next_us: u32,
    received: *mut usize,
) -> rk_status {
    // SAFETY: the context of this device.
    let c = unsafe { ctx::<Ctx>(c) };
    c.receives.set(c.receives.get() + 1);
    c.min_first_us.set(c.min_first_us.get().min(first_us));
    match c.mode.get() {
        Mode::Overlong => {
            // SAFETY: the library's out-pointer.
            unsafe { received.write(cap + 1) };
            RK_STATUS_SUCCESS
        }
        Mode::Silent => {
            // SAFETY: as above.
            unsafe { received.write(0) };
            RK_STATUS_SUCCESS
        }
        Mode::UnknownStatus => 999,
        // SAFETY: our card; the library's buffer and out-pointer.
        _ => unsafe { rk_sim_read(c.card, buf, cap, received) },
    }
}

unsafe extern "C" fn set_timing(c: *mut c_void, timing: *const rk_timing) -> rk_status {
    // SAFETY: the library's timing, valid for the call.
    let timing = unsafe { timing.read() };
    // SAFETY: the context of this device.
    unsafe { ctx::<Ctx>(c) }.timing.set(Some(timing));
    RK_STATUS_SUCCESS
}

unsafe extern "C" fn set_framing(c: *mut c_void, protocol: u32, extra_guard_n: u8) -> rk_status {
    // SAFETY: the context of this device.
    unsafe { ctx::<Ctx>(c) }
        .framing
        .set(Some((protocol, extra_guard_n)));
    RK_STATUS_SUCCESS
}

unsafe extern "C" fn tracking_complete(c: *mut c_void, status: rk_status) {
    // SAFETY: the context of this device.
    unsafe { ctx::<Ctx>(c) }
        .completions
        .borrow_mut()
        .push(status);
}

fn ops() -> rk_line_ops {
    rk_line_ops {
        reset: Some(reset),
        deactivate: Some(deactivate),
        send: Some(send),
        receive: Some(receive),
        set_timing: Some(set_timing),
        set_framing: Some(set_framing),
    }
}

/// Inside `send`: calls back into the device (the request, de-initialisation and a
/// second initialisation must be refused; a read-only request is answered).
fn call_back(c: &Ctx) {
    let mut out = [0u8; 64];
    let transmit = [2, 0, 0, 0, 8, 0, 0, 0, 0x00, 0x84, 0x00, 0x00, 0x08];
    c.saw(
        "transmit",
        control(c.dev, RK_IOCTL_TRANSMIT, &transmit, &mut out),
    );
    c.saw(
        "get state",
        control(c.dev, RK_IOCTL_GET_STATE, &[], &mut out),
    );
    // SAFETY: an initialised device.
    c.saw("deinit", unsafe { rk_device_deinit(c.dev) });
    let caps = typical_caps();
    // SAFETY: the storage of an initialised device, our table and caps.
    let again = unsafe {
        rk_device_init_line(
            c.dev,
            size_of::<rk_device>(),
            &ops(),
            ptr::null(),
            ptr::null_mut(),
            &caps,
            ptr::null(),
        )
    };
    c.saw("init again", again);
    let config = default_line_config();
    // SAFETY: an initialised device; our config.
    c.saw("line config", unsafe {
        rk_device_set_line_config(c.dev, &config)
    });
}

impl Ctx {
    fn saw(&self, what: &'static str, status: rk_status) {
        self.seen.borrow_mut().push((what, status));
    }
}

/// A line device and its simulated card in heap storage, reached only through the
/// raw pointers made here (as a C driver would).
pub(super) struct Fixture {
    dev: *mut rk_device,
    ctx: *mut Ctx,
    card: *mut rk_sim_card,
}

// SAFETY: the device is thread-safe after init; the context and card are used by
// one thread at a time (the fixture moves to the hang guard's thread).
unsafe impl Send for Fixture {}

impl Fixture {
    /// With `tracking`, the table adds `tracking_complete` (no `card_tracking`).
    pub(super) fn new(profile: u32, tracking: bool) -> Fixture {
        let dev = Box::into_raw(Box::new(rk_device {
            opaque: [0; RK_DEVICE_STORAGE_WORDS],
        }));
        let card = Box::into_raw(Box::new(rk_sim_card {
            opaque: [0; RK_SIM_CARD_STORAGE_WORDS],
        }));
        // SAFETY: zeroed storage of the right size.
        let st = unsafe { rk_sim_init(card, size_of::<rk_sim_card>(), profile) };
        assert_eq!(st, RK_STATUS_SUCCESS);
        let ctx = Box::into_raw(Box::new(Ctx {
            dev,
            card,
            mode: Cell::new(Mode::Card),
            receives: Cell::new(0),
            min_first_us: Cell::new(u32::MAX),
            timing: Cell::new(None),
            framing: Cell::new(None),
            sends: RefCell::new(Vec::new()),
            seen: RefCell::new(Vec::new()),
            completions: RefCell::new(Vec::new()),
        }));
        let table = rk_reader_functions {
            tracking_complete: Some(tracking_complete),
            ..rk_reader_functions::default()
        };
        let table: *const rk_reader_functions = if tracking { &table } else { ptr::null() };
        let caps = typical_caps();
        // SAFETY: zeroed storage, our tables and caps; the context and card outlive
        // the device (Drop).
        let st = unsafe {
            rk_device_init_line(
                dev,
                size_of::<rk_device>(),
                &ops(),
                table,
                ctx.cast(),
                &caps,
                ptr::null(),
            )
        };
        assert_eq!(st, RK_STATUS_SUCCESS);
        // SAFETY: an initialised device.
        let st = unsafe { rk_card_event(dev, RK_CARD_INSERTED) };
        assert_eq!(st, RK_STATUS_SUCCESS);
        Fixture { dev, ctx, card }
    }

    pub(super) fn dev(&self) -> *const rk_device {
        self.dev
    }

    fn ctx(&self) -> &Ctx {
        // SAFETY: alive until Drop; shared access only.
        unsafe { &*self.ctx }
    }

    pub(super) fn power_up(&self) -> rk_status {
        control(
            self.dev,
            RK_IOCTL_POWER,
            &1u32.to_le_bytes(),
            &mut [0u8; 33],
        )
    }

    pub(super) fn set_protocol(&self, protocol: u32) -> rk_status {
        let input = protocol.to_le_bytes();
        control(self.dev, RK_IOCTL_SET_PROTOCOL, &input, &mut [0u8; 4])
    }

    /// GET CHALLENGE: the status and the response APDU.
    pub(super) fn get_challenge(&self, protocol: u32) -> (rk_status, Vec<u8>) {
        let mut input = Vec::from(protocol.to_le_bytes());
        input.extend_from_slice(&[8, 0, 0, 0, 0x00, 0x84, 0x00, 0x00, 0x08]);
        let mut out = [0u8; 64];
        let mut n = 0usize;
        // SAFETY: our buffers, disjoint.
        let st = unsafe {
            rk_device_control(
                self.dev,
                RK_IOCTL_TRANSMIT,
                input.as_ptr(),
                input.len(),
                out.as_mut_ptr(),
                out.len(),
                &mut n,
            )
        };
        (st, out[8.min(n)..n].to_vec())
    }

    #[track_caller]
    fn state(&self) -> u32 {
        // SAFETY: an initialised device.
        unsafe { read(self.dev, rk_device_state) }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // SAFETY: an initialised, idle device.
        let st = unsafe { rk_device_deinit(self.dev) };
        // SAFETY: an initialised card, no longer used by the device.
        let card_st = unsafe { rk_sim_deinit(self.card) };
        // SAFETY: made by Box::into_raw in new(), released once, after the device.
        drop(unsafe { Box::from_raw(self.dev) });
        // SAFETY: as above.
        drop(unsafe { Box::from_raw(self.card) });
        // SAFETY: as above.
        drop(unsafe { Box::from_raw(self.ctx) });
        if !std::thread::panicking() {
            assert_eq!((st, card_st), (RK_STATUS_SUCCESS, RK_STATUS_SUCCESS));
        }
    }
}

#[test]
fn a_line_device_runs_pps_then_t0_or_t1_over_the_simulated_card() {
    for (profile, protocol) in [
        (RK_SIM_PROFILE_T0, RK_PROTOCOL_T0),
        (RK_SIM_PROFILE_T1, RK_PROTOCOL_T1),
        (RK_SIM_PROFILE_T1_CRC, RK_PROTOCOL_T1),
    ] {
        let f = Fixture::new(profile, false);
        assert_eq!(f.power_up(), RK_STATUS_SUCCESS);
        assert_eq!(f.set_protocol(protocol), RK_STATUS_SUCCESS);
        // The simulated cards offer TA1 = Fi 512 / Di 16: PPS switched the line.
        let timing = f.ctx().timing.get().expect("set_timing called");
        assert_eq!((timing.f, timing.d), (512, 16), "profile {profile}");
        assert_eq!(f.ctx().framing.get().map(|(p, _)| p), Some(protocol));
        // The PPS request went out after set_framing(RK_PROTOCOL_NONE, TC1's N):
        // the simulated cards have no TC1, N = 0.
        let sends = f.ctx().sends.borrow().clone();
        assert_eq!(
            sends.first(),
            Some(&(0xFF, Some((RK_PROTOCOL_NONE, 0)))),
            "profile {profile}"
        );
        let (st, response) = f.get_challenge(protocol);
        assert_eq!(st, RK_STATUS_SUCCESS, "profile {profile}");
        assert_eq!(response.len(), 10);
        assert_eq!(&response[8..], &[0x90, 0x00]);
        assert_eq!(f.state(), SPECIFIC);
        assert!(f.ctx().min_first_us.get() > 0, "receive got a time limit");
    }
}

#[test]
fn null_or_incomplete_line_tables_are_refused_and_the_storage_stays_free() {
    let mut dev = Box::new(rk_device {
        opaque: [0; RK_DEVICE_STORAGE_WORDS],
    });
    let dev: *mut rk_device = &mut *dev;
    let caps = typical_caps();
    let init = |line: *const rk_line_ops, table: *const rk_reader_functions| {
        // SAFETY: zeroed storage; `line` and `table` NULL or valid (or misaligned:
        // refused before any read).
        unsafe {
            rk_device_init_line(
                dev,
                size_of::<rk_device>(),
                line,
                table,
                ptr::null_mut(),
                &caps,
                ptr::null(),
            )
        }
    };
    let mut incomplete = Vec::new();
    for i in 0..5 {
        let mut o = ops();
        match i {
            0 => o.reset = None,
            1 => o.deactivate = None,
            2 => o.send = None,
            3 => o.receive = None,
            _ => o.set_timing = None,
        }
        incomplete.push(o);
    }
    let with_power = rk_reader_functions {
        power: Some(unreachable_power),
        ..rk_reader_functions::default()
    };
    let with_transmit = rk_reader_functions {
        transmit: Some(unreachable_transmit),
        ..rk_reader_functions::default()
    };
    let ops_ = ops();
    let misaligned = ptr::from_ref(&ops_).cast::<u8>().wrapping_add(1).cast();
    let mut refused = vec![
        init(ptr::null(), ptr::null()),
        init(misaligned, ptr::null()),
        init(&ops_, &with_power),
        init(&ops_, &with_transmit),
    ];
    refused.extend(incomplete.iter().map(|o| init(o, ptr::null())));
    assert!(
        refused.iter().all(|st| *st == RK_STATUS_INVALID_PARAMETER),
        "{refused:?}"
    );
    let mut state = 0u32;
    // SAFETY: zeroed storage (never initialised), our out-pointer.
    let st = unsafe { rk_device_state(dev, &mut state) };
    assert_eq!(
        st, RK_STATUS_INVALID_DEVICE_STATE,
        "nothing was initialised"
    );
    // set_framing is optional; the table may be NULL.
    let mut minimal = ops();
    minimal.set_framing = None;
    assert_eq!(init(&minimal, ptr::null()), RK_STATUS_SUCCESS);
    // SAFETY: initialised above, idle.
    assert_eq!(unsafe { rk_device_deinit(dev) }, RK_STATUS_SUCCESS);
}

unsafe extern "C" fn unreachable_power(
    _: *mut c_void,
    _: u32,
    _: *mut u8,
    _: usize,
    _: *mut usize,
) -> rk_status {
    unreachable!("a line device's table must not have power")
}

unsafe extern "C" fn unreachable_transmit(
    _: *mut c_void,
    _: *const rk_transmit_call,
    _: *mut u8,
    _: usize,
    _: *mut usize,
) -> rk_status {
    unreachable!("a line device's table must not have transmit")
}

#[test]
fn a_count_larger_than_the_buffer_is_buffer_overflow_and_nothing_changes() {
    let f = Fixture::new(RK_SIM_PROFILE_T1, false);
    f.ctx().mode.set(Mode::Overlong);
    assert_eq!(f.power_up(), RK_STATUS_BUFFER_OVERFLOW);
    assert_eq!(f.state(), SWALLOWED, "no ATR was taken");
    f.ctx().mode.set(Mode::Card);
    assert_eq!(f.power_up(), RK_STATUS_SUCCESS);
    assert_eq!(f.set_protocol(RK_PROTOCOL_T1), RK_STATUS_SUCCESS);
    f.ctx().mode.set(Mode::Overlong);
    assert_eq!(f.get_challenge(RK_PROTOCOL_T1).0, RK_STATUS_BUFFER_OVERFLOW);
    assert_eq!(f.state(), SPECIFIC);
    // The card answered a block nobody read: a fresh reset brings it back.
    f.ctx().mode.set(Mode::Card);
    assert_eq!(f.power_up(), RK_STATUS_SUCCESS);
    assert_eq!(f.set_protocol(RK_PROTOCOL_T1), RK_STATUS_SUCCESS);
    assert_eq!(f.get_challenge(RK_PROTOCOL_T1).0, RK_STATUS_SUCCESS);
}

#[test]
fn a_silent_line_ends_the_request_with_a_timeout_never_a_hang() {
    hang_guarded("silent line", || {
        for (profile, protocol, expect) in [
            (RK_SIM_PROFILE_T0, RK_PROTOCOL_T0, RK_STATUS_IO_TIMEOUT),
            (RK_SIM_PROFILE_T1, RK_PROTOCOL_T1, RK_STATUS_IO_TIMEOUT),
        ] {
            let f = Fixture::new(profile, false);
            assert_eq!(f.power_up(), RK_STATUS_SUCCESS);
            assert_eq!(f.set_protocol(protocol), RK_STATUS_SUCCESS);
            f.ctx().mode.set(Mode::Silent);
            f.ctx().receives.set(0);
            f.ctx().min_first_us.set(u32::MAX);
            assert_eq!(f.get_challenge(protocol).0, expect, "profile {profile}");
            let receives = f.ctx().receives.get();
            assert!((1..=64).contains(&receives), "{receives} receives");
            assert!(
                f.ctx().min_first_us.get() > 0,
                "every wait had a time limit"
            );
        }
    });
}

#[test]
fn an_unknown_or_pending_code_from_a_line_callback_is_unsuccessful() {
    let f = Fixture::new(RK_SIM_PROFILE_T0, false);
    for mode in [Mode::UnknownStatus, Mode::Pending] {
        f.ctx().mode.set(mode);
        assert_eq!(f.power_up(), RK_STATUS_UNSUCCESSFUL, "{mode:?}");
        assert_eq!(f.state(), SWALLOWED);
    }
    f.ctx().mode.set(Mode::Card);
    assert_eq!(f.power_up(), RK_STATUS_SUCCESS);
    assert_eq!(f.set_protocol(RK_PROTOCOL_T0), RK_STATUS_SUCCESS);
    f.ctx().mode.set(Mode::UnknownStatus);
    assert_eq!(f.get_challenge(RK_PROTOCOL_T0).0, RK_STATUS_UNSUCCESSFUL);
}

#[test]
fn calls_from_inside_a_line_callback_are_refused_and_the_request_completes() {
    hang_guarded("calls from inside a line callback", || {
        let f = Fixture::new(RK_SIM_PROFILE_T1, false);
        assert_eq!(f.power_up(), RK_STATUS_SUCCESS);
        assert_eq!(f.set_protocol(RK_PROTOCOL_T1), RK_STATUS_SUCCESS);
        f.ctx().mode.set(Mode::CallBack);
        let (st, response) = f.get_challenge(RK_PROTOCOL_T1);
        f.ctx().mode.set(Mode::Card);
        assert_eq!(st, RK_STATUS_SUCCESS);
        assert_eq!(&response[8..], &[0x90, 0x00]);
        let seen = f.ctx().seen.borrow().clone();
        assert_eq!(
            &seen[..5],
            &[
                ("transmit", RK_STATUS_DEVICE_BUSY),
                ("get state", RK_STATUS_SUCCESS),
                ("deinit", RK_STATUS_DEVICE_BUSY),
                ("init again", RK_STATUS_DEVICE_BUSY),
                ("line config", RK_STATUS_DEVICE_BUSY),
            ]
        );
        assert_eq!(f.state(), SPECIFIC);
    });
}

#[test]
fn card_tracking_pends_with_tracking_complete_and_is_unsupported_without() {
    let without = Fixture::new(RK_SIM_PROFILE_T0, false);
    let st = control(without.dev, RK_IOCTL_IS_ABSENT, &[], &mut []);
    assert_eq!(st, RK_STATUS_NOT_SUPPORTED);

    let with = Fixture::new(RK_SIM_PROFILE_T0, true);
    assert_eq!(
        control(with.dev, RK_IOCTL_IS_ABSENT, &[], &mut []),
        RK_STATUS_PENDING
    );
    // SAFETY: an initialised device.
    let st = unsafe { rk_card_event(with.dev, RK_CARD_REMOVED) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    // SAFETY: as above.
    assert_eq!(unsafe { rk_process_events(with.dev) }, RK_STATUS_SUCCESS);
    assert_eq!(*with.ctx().completions.borrow(), [RK_STATUS_SUCCESS]);
}

/// `rk_line_config_default` into a local.
fn default_line_config() -> rk_line_config {
    let mut config = MaybeUninit::<rk_line_config>::uninit();
    // SAFETY: a local out-pointer.
    let st = unsafe { rk_line_config_default(config.as_mut_ptr()) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    // SAFETY: written above.
    unsafe { config.assume_init() }
}

#[test]
fn the_line_config_sets_the_t1_retry_limits_from_the_next_set_protocol() {
    hang_guarded("line config", || {
        let d = default_line_config();
        assert_eq!((d.t0_envelope, d.t0_get_response_class), (0, -1));
        assert_eq!(
            (d.t1_max_retries, d.t1_max_resynchs),
            (
                readerkit::t1::DEFAULT_MAX_RETRIES,
                readerkit::t1::DEFAULT_MAX_RESYNCHS
            )
        );
        let f = Fixture::new(RK_SIM_PROFILE_T1, false);
        // How many times a T=1 exchange with a silent card waits for it.
        let waits = |f: &Fixture| {
            assert_eq!(f.power_up(), RK_STATUS_SUCCESS);
            assert_eq!(f.set_protocol(RK_PROTOCOL_T1), RK_STATUS_SUCCESS);
            f.ctx().mode.set(Mode::Silent);
            f.ctx().receives.set(0);
            assert_eq!(f.get_challenge(RK_PROTOCOL_T1).0, RK_STATUS_IO_TIMEOUT);
            f.ctx().mode.set(Mode::Card);
            f.ctx().receives.get()
        };
        let with_defaults = waits(&f);
        let set = |config: &rk_line_config| {
            // SAFETY: an initialised device; our config.
            unsafe { rk_device_set_line_config(f.dev(), config) }
        };
        let strict = rk_line_config {
            t1_max_retries: 0,
            t1_max_resynchs: 0,
            ..d
        };
        assert_eq!(set(&strict), RK_STATUS_SUCCESS);
        let strict_waits = waits(&f);
        assert!(
            strict_waits < with_defaults,
            "{strict_waits} waits with no retry, {with_defaults} with the defaults"
        );
        // Refused, the config unchanged: a class outside -2..=255, NULL.
        for class in [-3, 256] {
            let bad = rk_line_config {
                t0_get_response_class: class,
                ..d
            };
            assert_eq!(set(&bad), RK_STATUS_INVALID_PARAMETER, "class {class}");
        }
        // SAFETY: NULL is refused.
        let st = unsafe { rk_device_set_line_config(f.dev(), ptr::null()) };
        assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
        assert_eq!(waits(&f), strict_waits, "the refusals changed nothing");
        assert_eq!(set(&d), RK_STATUS_SUCCESS);
        assert_eq!(waits(&f), with_defaults);
        // A device over a callback table has no line to configure.
        let table_dev = super::Zeroed::<rk_device>::new();
        // SAFETY: zeroed storage; no callbacks, no context.
        let st = unsafe { init_device(table_dev.ptr(), &no_callbacks(), ptr::null_mut()) };
        assert_eq!(st, RK_STATUS_SUCCESS);
        // SAFETY: an initialised device; our config.
        let st = unsafe { rk_device_set_line_config(table_dev.ptr(), &d) };
        assert_eq!(st, RK_STATUS_NOT_SUPPORTED);
        // SAFETY: an idle device.
        let st = unsafe { rk_device_deinit(table_dev.ptr()) };
        assert_eq!(st, RK_STATUS_SUCCESS);
    });
}

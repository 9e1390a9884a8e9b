//! The device through its C signatures, with callbacks written as `extern "C"`
//! functions: out-pointers that are misaligned or alias a buffer are refused before
//! anything runs, calls from inside a callback never wait for the lock the callback
//! holds, and a card removed during TRANSMIT is answered like one removed during
//! POWER (a success keeps its answer, a failure becomes NO_MEDIA).

use core::cell::{Cell, RefCell};
use core::ffi::c_void;
use core::ptr;

use readerkit_testkit::thread::hang_guarded;

use super::{ABSENT, HeapDevice, NEGOTIABLE, SPECIFIC, SWALLOWED, answer, ctx, misaligned, read};
use crate::*;

/// T=0 first, then T=1, negotiable, TA1 = 96; the last byte is the TCK.
pub(super) const ATR: [u8; 9] = [0x3B, 0xD0, 0x96, 0x00, 0x80, 0x31, 0xFE, 0x45, 0x4C];

/// What a callback does besides its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inside {
    Nothing,
    /// Call back into the device: the requests, deinit, state, events.
    CallBack,
    /// The card is pulled; the events hook processes the event at once.
    PullCard,
}

/// The driver context. Callbacks re-enter each other (a completion arms tracking,
/// a callback reports an event whose hook processes it), so it is only ever
/// reached through shared references: every field is a cell.
struct Ctx {
    dev: *mut rk_device,
    power_calls: Cell<usize>,
    tracking_calls: Cell<usize>,
    inside_power: Cell<Inside>,
    inside_transmit: Cell<Inside>,
    /// Statuses seen by calls made from inside callbacks, in order.
    seen: RefCell<Vec<(&'static str, rk_status)>>,
    completions: RefCell<Vec<rk_status>>,
    rearm_on_completion: Cell<bool>,
    process_in_events_hook: Cell<bool>,
    /// The next POWER / TRANSMIT callback fails (after its `inside_*` action) with
    /// RK_STATUS_IO_TIMEOUT, as a driver does when the card leaves mid-exchange.
    fail_next: Cell<bool>,
    /// The next POWER callback, whatever the action, reports one ATR byte more than
    /// the buffer holds, as a broken driver might.
    overlong_atr: Cell<bool>,
    /// The next SET_PROTOCOL / TRANSMIT callback says it deactivated the card (a
    /// SET_PROTOCOL one then fails as after a refused PPS; a TRANSMIT one fails if
    /// `fail_next`, else claims success).
    deactivate_next: Cell<bool>,
    /// The action of the last POWER callback.
    last_power: Cell<u32>,
}

impl Ctx {
    fn dev(&self) -> *const rk_device {
        self.dev
    }

    fn saw(&self, what: &'static str, status: rk_status) {
        self.seen.borrow_mut().push((what, status));
    }

    fn seen(&self) -> Vec<(&'static str, rk_status)> {
        self.seen.borrow().clone()
    }
}

pub(super) fn control(
    dev: *const rk_device,
    code: u32,
    input: &[u8],
    output: &mut [u8],
) -> rk_status {
    let mut n = 0usize;
    // SAFETY: our buffers, disjoint.
    unsafe {
        rk_device_control(
            dev,
            code,
            input.as_ptr(),
            input.len(),
            output.as_mut_ptr(),
            output.len(),
            &mut n,
        )
    }
}

/// Inside a callback: every kind of call back into the device.
fn call_back(c: &Ctx) {
    let dev = c.dev();
    let mut out = [0u8; 64];
    let transmit = [2, 0, 0, 0, 8, 0, 0, 0, 0x00, 0x84, 0x00, 0x00, 0x08];
    let calls: [(&str, u32, &[u8]); 7] = [
        ("power", RK_IOCTL_POWER, &[1, 0, 0, 0]),
        ("transmit", RK_IOCTL_TRANSMIT, &transmit),
        ("set protocol", RK_IOCTL_SET_PROTOCOL, &[2, 0, 0, 0]),
        (
            "set attribute",
            RK_IOCTL_SET_ATTRIBUTE,
            &[0x07, 0x00, 0x08, 0x00, 1],
        ),
        ("is present", RK_IOCTL_IS_PRESENT, &[]),
        ("get state", RK_IOCTL_GET_STATE, &[]),
        ("get last error", RK_IOCTL_GET_LAST_ERROR, &[]),
    ];
    for (name, code, input) in calls {
        let st = control(dev, code, input, &mut out);
        c.saw(name, st);
    }
    // SAFETY: an initialised device.
    c.saw("deinit", unsafe { rk_device_deinit(c.dev) });
    let mut state = 0u32;
    // SAFETY: an initialised device, our out-pointer.
    c.saw("state", unsafe { rk_device_state(dev, &mut state) });
    // SAFETY: an initialised device.
    c.saw("process events", unsafe { rk_process_events(dev) });
    let mut card_before = false;
    // SAFETY: an initialised device, our out-pointer.
    c.saw("suspend", unsafe {
        rk_device_suspend(dev, &mut card_before)
    });
    let mut count = 0u32;
    // SAFETY: an initialised device, our out-pointer.
    c.saw("insertions", unsafe {
        rk_device_card_insertions(dev, &mut count)
    });
}

unsafe extern "C" fn power(
    c: *mut c_void,
    action: u32,
    atr: *mut u8,
    capacity: usize,
    atr_len: *mut usize,
) -> rk_status {
    // SAFETY: the context given at init.
    let c = unsafe { ctx::<Ctx>(c) };
    c.power_calls.set(c.power_calls.get() + 1);
    c.last_power.set(action);
    if action != RK_POWER_DOWN {
        // SAFETY: the library's ATR buffer and length out-pointer for this call.
        unsafe { answer(&ATR, atr, capacity, atr_len) };
    }
    act(c, c.inside_power.replace(Inside::Nothing));
    if c.fail_next.replace(false) {
        return RK_STATUS_IO_TIMEOUT;
    }
    if c.overlong_atr.replace(false) {
        // SAFETY: the library's length out-pointer for this call.
        unsafe { atr_len.write(capacity + 1) };
    }
    RK_STATUS_SUCCESS
}

fn act(c: &Ctx, inside: Inside) {
    match inside {
        Inside::Nothing => {}
        Inside::CallBack => call_back(c),
        Inside::PullCard => {
            // SAFETY: an initialised device.
            let st = unsafe { rk_card_event(c.dev(), RK_CARD_REMOVED) };
            c.saw("card removed", st);
        }
    }
}

unsafe extern "C" fn transmit(
    c: *mut c_void,
    call: *const rk_transmit_call,
    reply: *mut u8,
    capacity: usize,
    reply_len: *mut usize,
) -> rk_status {
    // SAFETY: the context given at init.
    let c = unsafe { ctx::<Ctx>(c) };
    act(c, c.inside_transmit.replace(Inside::Nothing));
    if c.deactivate_next.replace(false) {
        // SAFETY: the call this callback received.
        let st = unsafe { rk_transmit_report_deactivation(call) };
        assert_eq!(st, RK_STATUS_SUCCESS);
    }
    if c.fail_next.replace(false) {
        return RK_STATUS_IO_TIMEOUT;
    }
    // SAFETY: the library's reply buffer and length out-pointer for this call.
    unsafe { answer(&[0x90, 0x00], reply, capacity, reply_len) }
}

unsafe extern "C" fn set_protocol(
    c: *mut c_void,
    call: *const rk_protocol_call,
    timing: *mut rk_timing,
) -> rk_status {
    // SAFETY: the context given at init.
    if unsafe { ctx::<Ctx>(c) }.deactivate_next.replace(false) {
        // The card refused the PPS; the contacts are deactivated (ISO/IEC 7816-3 9.3).
        // SAFETY: the call this callback received.
        let st = unsafe { rk_protocol_report_deactivation(call) };
        assert_eq!(st, RK_STATUS_SUCCESS);
        return RK_STATUS_DEVICE_PROTOCOL_ERROR;
    }
    // SAFETY: the library's call and out-pointer.
    let call = unsafe { &*call };
    if call.pps_len == 0 {
        // SAFETY: as above.
        unsafe { timing.write(call.timing) };
        return RK_STATUS_SUCCESS;
    }
    // The card echoes the PPS request. First into a buffer that also holds the
    // timing out-parameter: refused.
    let mut shared = [0u32; 4];
    let bytes = shared.as_mut_ptr().cast::<u8>();
    let n = usize::from(call.pps_len);
    // SAFETY: our buffer (16 bytes ≥ 6).
    unsafe { ptr::copy_nonoverlapping(call.pps.as_ptr(), bytes, n) };
    // SAFETY: the library's call; our buffer, refused before it is written.
    let refused = unsafe { rk_pps_accept(call, bytes, n, bytes.cast::<rk_timing>()) };
    if refused != RK_STATUS_INVALID_PARAMETER {
        return RK_STATUS_UNSUCCESSFUL;
    }
    // SAFETY: the library's call and out-pointer, the request's own bytes.
    unsafe { rk_pps_accept(call, call.pps.as_ptr(), n, timing) }
}

unsafe extern "C" fn card_tracking(c: *mut c_void, _wait: u32) -> rk_status {
    // SAFETY: the context given at init.
    let c = unsafe { ctx::<Ctx>(c) };
    c.tracking_calls.set(c.tracking_calls.get() + 1);
    RK_STATUS_SUCCESS
}

unsafe extern "C" fn tracking_complete(c: *mut c_void, status: rk_status) {
    // SAFETY: the context given at init; the library holds no lock now, and no
    // callback runs on this thread.
    let c = unsafe { ctx::<Ctx>(c) };
    c.completions.borrow_mut().push(status);
    if c.rearm_on_completion.replace(false) {
        let st = control(c.dev(), RK_IOCTL_IS_PRESENT, &[], &mut []);
        c.saw("re-armed", st);
    }
}

unsafe extern "C" fn events_pending(c: *mut c_void) {
    // SAFETY: the context given at init.
    let c = unsafe { ctx::<Ctx>(c) };
    if c.process_in_events_hook.get() {
        // SAFETY: an initialised device.
        let st = unsafe { rk_process_events(c.dev()) };
        c.saw("process events", st);
    }
}

/// The device of these tests, with this file's callbacks and context.
type Fixture = HeapDevice<Ctx>;

// SAFETY: the device is thread-safe after init and the context is used by one
// thread at a time in these tests (the fixture moves to the hang guard's thread).
unsafe impl Send for Fixture {}

impl Fixture {
    fn new() -> Fixture {
        let table = rk_reader_functions {
            power: Some(power),
            transmit: Some(transmit),
            set_protocol: Some(set_protocol),
            card_tracking: Some(card_tracking),
            tracking_complete: Some(tracking_complete),
            events_pending: Some(events_pending),
            ..rk_reader_functions::default()
        };
        HeapDevice::init(
            |dev| Ctx {
                dev,
                power_calls: Cell::new(0),
                tracking_calls: Cell::new(0),
                inside_power: Cell::new(Inside::Nothing),
                inside_transmit: Cell::new(Inside::Nothing),
                seen: RefCell::new(Vec::new()),
                completions: RefCell::new(Vec::new()),
                rearm_on_completion: Cell::new(false),
                process_in_events_hook: Cell::new(false),
                fail_next: Cell::new(false),
                overlong_atr: Cell::new(false),
                deactivate_next: Cell::new(false),
                last_power: Cell::new(RK_POWER_DOWN),
            },
            &table,
        )
    }

    fn insert(&self) {
        // SAFETY: an initialised device.
        let st = unsafe { rk_card_event(self.dev(), RK_CARD_INSERTED) };
        assert_eq!(st, RK_STATUS_SUCCESS);
    }

    fn power_up(&self) -> rk_status {
        self.power(RK_POWER_COLD_RESET)
    }

    /// A device with a card in, powered.
    fn powered() -> Fixture {
        let f = Fixture::new();
        f.insert();
        assert_eq!(f.power_up(), RK_STATUS_SUCCESS);
        f
    }

    fn power(&self, action: u32) -> rk_status {
        let input = action.to_le_bytes();
        control(self.dev(), RK_IOCTL_POWER, &input, &mut [0u8; 33])
    }

    /// What `get` (`rk_device_state` and the like) writes, asserted a success.
    #[track_caller]
    fn read<T: Default>(
        &self,
        get: unsafe extern "C" fn(*const rk_device, *mut T) -> rk_status,
    ) -> T {
        // SAFETY: an initialised device.
        unsafe { read(self.dev(), get) }
    }

    #[track_caller]
    fn state(&self) -> u32 {
        self.read(rk_device_state)
    }

    fn set_protocol_t1(&self) -> rk_status {
        let t1 = 2u32.to_le_bytes();
        control(self.dev(), RK_IOCTL_SET_PROTOCOL, &t1, &mut [0u8; 4])
    }

    fn transmit(&self) -> rk_status {
        let input = [2, 0, 0, 0, 8, 0, 0, 0, 0x00, 0x84, 0x00, 0x00, 0x08];
        control(self.dev(), RK_IOCTL_TRANSMIT, &input, &mut [0u8; 64])
    }
}

#[test]
fn a_misaligned_bytes_written_is_refused_before_the_request_runs() {
    let f = Fixture::new();
    f.insert();
    let mut words = [0usize; 2];
    let misaligned = misaligned(&mut words);
    let input = 1u32.to_le_bytes();
    let mut out = [0u8; 33];
    // SAFETY: our buffers; the call refuses the pointer before writing through it.
    let st = unsafe {
        rk_device_control(
            f.dev(),
            RK_IOCTL_POWER,
            input.as_ptr(),
            4,
            out.as_mut_ptr(),
            out.len(),
            misaligned,
        )
    };
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    assert_eq!(f.ctx().power_calls.get(), 0, "POWER did not run");
    assert_eq!(words, [0, 0], "nothing written");
    assert_eq!(f.power_up(), RK_STATUS_SUCCESS);
}

#[test]
fn a_bytes_written_inside_the_input_or_output_is_refused() {
    let f = Fixture::new();
    f.insert();
    // COLD_RESET in the first word; a count written there first would turn it into
    // POWER_DOWN.
    let mut input = [0usize; 2];
    input[0] = 1;
    let input_ptr = input.as_mut_ptr();
    let mut out = [0usize; 5];
    let out_ptr = out.as_mut_ptr();
    for bytes_written in [input_ptr, out_ptr.wrapping_add(1)] {
        // SAFETY: our buffers; refused before anything is read or written.
        let st = unsafe {
            rk_device_control(
                f.dev(),
                RK_IOCTL_POWER,
                input_ptr.cast::<u8>(),
                4,
                out_ptr.cast::<u8>(),
                size_of::<[usize; 5]>(),
                bytes_written,
            )
        };
        assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    }
    assert_eq!(f.ctx().power_calls.get(), 0, "POWER did not run");
    assert_eq!(input[0], 1, "the request is intact");
    assert_eq!(f.state(), 3, "still unpowered (swallowed)");
}

#[test]
fn buffers_and_out_pointers_inside_the_device_are_refused() {
    let f = Fixture::new();
    f.insert();
    let inside = f.dev().cast_mut().cast::<u8>().wrapping_add(256);
    let input = 1u32.to_le_bytes();
    let mut n = 0usize;
    // SAFETY: refused before the pointers are used.
    let st = unsafe {
        rk_device_control(
            f.dev(),
            RK_IOCTL_POWER,
            input.as_ptr(),
            4,
            inside,
            33,
            &mut n,
        )
    };
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    // SAFETY: as above.
    let st = unsafe { rk_device_state(f.dev(), inside.cast::<u32>()) };
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    // SAFETY: as above.
    let st = unsafe { rk_cancel_tracking(f.dev(), inside.cast::<bool>()) };
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    assert_eq!(f.power_up(), RK_STATUS_SUCCESS, "the device is intact");
}

#[test]
fn calls_from_inside_a_callback_never_wait_for_its_lock() {
    hang_guarded("calls from inside a callback", || {
        let f = Fixture::new();
        f.insert();
        f.ctx().inside_power.set(Inside::CallBack);
        assert_eq!(f.power_up(), RK_STATUS_SUCCESS);
        let busy = RK_STATUS_DEVICE_BUSY;
        let ok = RK_STATUS_SUCCESS;
        assert_eq!(
            f.ctx().seen(),
            vec![
                ("power", busy),
                ("transmit", busy),
                ("set protocol", busy),
                ("set attribute", busy),
                ("is present", busy),
                ("get state", ok),
                ("get last error", ok),
                ("deinit", busy),
                ("state", ok),
                ("process events", ok),
                ("suspend", busy),
                ("insertions", ok),
            ]
        );
        assert_eq!(f.ctx().power_calls.get(), 1, "no POWER ran re-entrantly");
        assert_eq!(f.state(), 5, "negotiable: the outer POWER committed");
    });
}

#[test]
fn a_card_pulled_during_transmit_is_answered_like_power_and_tracking_may_rearm() {
    hang_guarded("card pulled during transmit", || {
        let f = Fixture::new();
        f.insert();
        assert_eq!(f.power_up(), RK_STATUS_SUCCESS);
        let st = control(
            f.dev(),
            RK_IOCTL_SET_PROTOCOL,
            &2u32.to_le_bytes(),
            &mut [0u8; 4],
        );
        assert_eq!(
            st, RK_STATUS_SUCCESS,
            "PPS accepted (after a refused overlap)"
        );
        assert_eq!(f.state(), 6);
        assert_eq!(f.transmit(), RK_STATUS_SUCCESS);
        assert_eq!(
            control(f.dev(), RK_IOCTL_IS_ABSENT, &[], &mut []),
            RK_STATUS_PENDING
        );
        let c = f.ctx();
        c.inside_transmit.set(Inside::PullCard);
        c.fail_next.set(true);
        c.process_in_events_hook.set(true);
        c.rearm_on_completion.set(true);
        assert_eq!(
            f.transmit(),
            RK_STATUS_NO_MEDIA,
            "the exchange failed because the card left"
        );
        assert_eq!(f.state(), 1, "absent");
        assert_eq!(
            *c.completions.borrow(),
            vec![RK_STATUS_SUCCESS],
            "IS_ABSENT completed once"
        );
        assert_eq!(
            c.seen(),
            vec![
                ("process events", RK_STATUS_SUCCESS),
                ("card removed", RK_STATUS_SUCCESS),
                ("re-armed", RK_STATUS_PENDING),
            ]
        );
        assert_eq!(c.tracking_calls.get(), 2);
        c.process_in_events_hook.set(false);
        f.insert();
        // SAFETY: an initialised device.
        assert_eq!(unsafe { rk_process_events(f.dev()) }, RK_STATUS_SUCCESS);
        assert_eq!(
            *c.completions.borrow(),
            vec![RK_STATUS_SUCCESS, RK_STATUS_SUCCESS],
            "the re-armed IS_PRESENT completed on the insertion"
        );
        // The same pull during POWER: the same answer.
        c.inside_power.set(Inside::PullCard);
        c.fail_next.set(true);
        assert_eq!(f.power_up(), RK_STATUS_NO_MEDIA);
        // A callback that succeeded before the card left keeps its answer, for
        // POWER as for TRANSMIT; nothing is recorded for the card that left.
        f.insert();
        c.inside_power.set(Inside::PullCard);
        assert_eq!(f.power_up(), RK_STATUS_SUCCESS);
        assert_eq!(f.state(), ABSENT, "absent: the ATR was not recorded");
        f.insert();
        assert_eq!(f.power_up(), RK_STATUS_SUCCESS);
        let t1 = 2u32.to_le_bytes();
        let st = control(f.dev(), RK_IOCTL_SET_PROTOCOL, &t1, &mut [0u8; 4]);
        assert_eq!(st, RK_STATUS_SUCCESS);
        c.inside_transmit.set(Inside::PullCard);
        assert_eq!(f.transmit(), RK_STATUS_SUCCESS);
        assert_eq!(f.state(), ABSENT);
    });
}

#[test]
fn a_power_callback_count_past_the_atr_buffer_is_buffer_overflow_on_every_action() {
    let f = Fixture::new();
    f.insert();
    for action in [RK_POWER_COLD_RESET, RK_POWER_WARM_RESET, RK_POWER_DOWN] {
        assert_eq!(f.power_up(), RK_STATUS_SUCCESS);
        assert_eq!(f.state(), NEGOTIABLE);
        f.ctx().overlong_atr.set(true);
        assert_eq!(
            f.power(action),
            RK_STATUS_BUFFER_OVERFLOW,
            "action {action}"
        );
        assert_eq!(f.state(), SWALLOWED, "action {action}: no ATR was taken");
    }
    assert_eq!(f.power_up(), RK_STATUS_SUCCESS, "the device is intact");
    assert_eq!(f.state(), NEGOTIABLE);
}

#[test]
fn a_callback_that_deactivated_the_card_leaves_it_unpowered() {
    let f = Fixture::powered();
    let c = f.ctx();
    // A refused PPS: SET_PROTOCOL fails with the callback's status, the card is
    // unpowered, and a warm reset is done as a cold one.
    c.deactivate_next.set(true);
    assert_eq!(f.set_protocol_t1(), RK_STATUS_DEVICE_PROTOCOL_ERROR);
    assert_eq!(f.state(), SWALLOWED, "unpowered after SET_PROTOCOL");
    assert_eq!(f.power(RK_POWER_WARM_RESET), RK_STATUS_SUCCESS);
    assert_eq!(c.last_power.get(), RK_POWER_COLD_RESET);
    assert_eq!(f.state(), NEGOTIABLE);
    // A failed T=1 resynchronisation: TRANSMIT fails with the callback's status,
    // and the next TRANSMIT waits for a reset.
    assert_eq!(f.set_protocol_t1(), RK_STATUS_SUCCESS);
    c.deactivate_next.set(true);
    c.fail_next.set(true);
    assert_eq!(f.transmit(), RK_STATUS_IO_TIMEOUT);
    assert_eq!(f.state(), SWALLOWED, "unpowered after TRANSMIT");
    assert_eq!(f.transmit(), RK_STATUS_INVALID_DEVICE_STATE);
    // A callback that says it deactivated the card but claims success: the
    // request fails all the same.
    assert_eq!(f.power_up(), RK_STATUS_SUCCESS);
    assert_eq!(f.set_protocol_t1(), RK_STATUS_SUCCESS);
    assert_eq!(f.state(), SPECIFIC);
    c.deactivate_next.set(true);
    assert_eq!(f.transmit(), RK_STATUS_INVALID_DEVICE_STATE);
    assert_eq!(f.state(), SWALLOWED);
    // Without a report, the same failure leaves the card powered.
    assert_eq!(f.power_up(), RK_STATUS_SUCCESS);
    assert_eq!(f.set_protocol_t1(), RK_STATUS_SUCCESS);
    c.fail_next.set(true);
    assert_eq!(f.transmit(), RK_STATUS_IO_TIMEOUT);
    assert_eq!(f.state(), SPECIFIC);
}

#[test]
fn a_deactivation_report_on_a_call_the_library_did_not_make_is_refused() {
    // SAFETY: NULL is refused.
    let st = unsafe { rk_transmit_report_deactivation(ptr::null()) };
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    // SAFETY: as above.
    let st = unsafe { rk_protocol_report_deactivation(ptr::null()) };
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    let timing = rk_timing {
        f: 372,
        d: 1,
        clock_khz: 4000,
    };
    let transmit = rk_transmit_call {
        protocol: RK_PROTOCOL_T1,
        apdu: ptr::null(),
        apdu_len: 0,
        timing,
        ifsc: 32,
        ifsd: 254,
        edc: RK_EDC_LRC,
        bwi: 4,
        bwt_us: 0,
        cwt_us: 0,
        wwt_us: 0,
        suppress_t1_ifs_request: false,
        internal: ptr::null(),
    };
    // SAFETY: a local call with no internal pointer: refused.
    let st = unsafe { rk_transmit_report_deactivation(&transmit) };
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    // SAFETY: as above; so are the field size reports.
    let st = unsafe { rk_transmit_report_ifsc(&transmit, 16) };
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    // SAFETY: as above.
    let st = unsafe { rk_transmit_report_ifsd(&transmit, 16) };
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    // SAFETY: NULL is refused.
    let st = unsafe { rk_transmit_report_ifsc(ptr::null(), 16) };
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    let protocol = rk_protocol_call {
        protocol: RK_PROTOCOL_T1,
        pps: [0; 6],
        pps_len: 0,
        timing,
        default_timing: timing,
        internal: ptr::null(),
    };
    // SAFETY: as above.
    let st = unsafe { rk_protocol_report_deactivation(&protocol) };
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
}

impl Fixture {
    #[track_caller]
    fn insertions(&self) -> u32 {
        self.read(rk_device_card_insertions)
    }

    #[track_caller]
    fn suspend(&self) -> bool {
        self.read(rk_device_suspend)
    }

    #[track_caller]
    fn asleep(&self) -> bool {
        self.read(rk_device_asleep)
    }

    fn resume(&self, present_now: bool) {
        // SAFETY: an initialised device.
        let st = unsafe { rk_device_resume(self.dev(), present_now) };
        assert_eq!(st, RK_STATUS_SUCCESS);
    }
}

#[test]
fn suspend_powers_the_card_down_and_resume_reports_a_possible_swap() {
    let f = Fixture::new();
    let c = f.ctx();
    assert_eq!(f.insertions(), 0);
    assert!(!f.asleep());
    assert!(!f.suspend(), "no card in");
    assert!(f.asleep());
    assert_eq!(c.power_calls.get(), 0, "nothing to power down");
    f.resume(false);
    assert!(!f.asleep());
    assert_eq!(f.state(), ABSENT);
    f.insert();
    assert_eq!(f.insertions(), 1);
    assert_eq!(f.power_up(), RK_STATUS_SUCCESS);
    assert_eq!(
        control(f.dev(), RK_IOCTL_IS_ABSENT, &[], &mut []),
        RK_STATUS_PENDING
    );
    assert!(f.suspend(), "a card was in");
    assert_eq!(c.last_power.get(), RK_POWER_DOWN);
    assert_eq!(f.state(), SWALLOWED, "unpowered");
    // A card in on waking: maybe another one. The removal completes IS_ABSENT, the
    // insertion counts.
    f.resume(true);
    assert_eq!(*c.completions.borrow(), vec![RK_STATUS_SUCCESS]);
    assert_eq!(f.insertions(), 2, "a new card for a polling host");
    assert_eq!(f.state(), SWALLOWED, "present, unpowered");
    // Awake: a second resume reports nothing (no removal, no new card).
    f.resume(true);
    assert_eq!(f.insertions(), 2);
    assert_eq!(c.completions.borrow().len(), 1);
    // Taken out while asleep.
    assert!(f.suspend());
    f.resume(false);
    assert_eq!(f.state(), ABSENT);
    assert_eq!(f.insertions(), 2);
    // Refused: a NULL or inside-the-device out-pointer, no device.
    // SAFETY: refused before anything is written.
    let st = unsafe { rk_device_suspend(f.dev(), ptr::null_mut()) };
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    let inside = f.dev().cast::<u32>().cast_mut().wrapping_add(8);
    // SAFETY: as above.
    let st = unsafe { rk_device_card_insertions(f.dev(), inside) };
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    // SAFETY: NULL is refused.
    let st = unsafe { rk_device_resume(ptr::null(), true) };
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    // SAFETY: as above.
    let st = unsafe { rk_device_asleep(f.dev(), ptr::null_mut()) };
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
}

#[test]
fn suspend_reports_a_power_down_that_failed_and_writes_nothing() {
    let f = Fixture::powered();
    let c = f.ctx();
    c.fail_next.set(true);
    let mut card_before = false;
    // SAFETY: an initialised device and a bool of ours.
    let st = unsafe { rk_device_suspend(f.dev(), &mut card_before) };
    assert_eq!(st, RK_STATUS_IO_TIMEOUT, "the POWER callback's status");
    assert_eq!(c.last_power.get(), RK_POWER_DOWN);
    assert!(!card_before, "nothing written");
    assert_eq!(f.state(), SWALLOWED, "unpowered, as after any failed POWER");
    assert!(f.asleep(), "asleep all the same");
    // Asleep all the same, with the card taken as in: a second suspend does
    // nothing and says so; waking without a card reports the removal.
    let power_calls = c.power_calls.get();
    assert!(f.suspend(), "a card was in");
    assert_eq!(c.power_calls.get(), power_calls, "no second power-down");
    f.resume(false);
    assert_eq!(f.state(), ABSENT, "the removal reported");
}

/// While asleep `rk_device_control` itself refuses what needs the reader or the
/// card (`RK_STATUS_DEVICE_NOT_READY`, no callback runs, nothing written), answers
/// the read-only requests, and keeps a tracking request pending from before; after
/// `rk_device_resume` the same requests are served. The driver asks nothing.
#[test]
fn requests_that_need_the_reader_are_refused_while_asleep() {
    let f = Fixture::powered();
    let c = f.ctx();
    assert_eq!(f.set_protocol_t1(), RK_STATUS_SUCCESS);
    assert_eq!(
        control(f.dev(), RK_IOCTL_IS_ABSENT, &[], &mut []),
        RK_STATUS_PENDING
    );
    assert!(f.suspend());
    let (power_calls, tracking_calls) = (c.power_calls.get(), c.tracking_calls.get());
    assert_eq!(f.power_up(), RK_STATUS_DEVICE_NOT_READY);
    assert_eq!(f.set_protocol_t1(), RK_STATUS_DEVICE_NOT_READY);
    assert_eq!(f.transmit(), RK_STATUS_DEVICE_NOT_READY);
    assert_eq!(
        control(f.dev(), RK_IOCTL_IS_PRESENT, &[], &mut []),
        RK_STATUS_DEVICE_NOT_READY
    );
    let mut n = 99usize;
    let mut out = [0xEEu8; 33];
    // SAFETY: our buffers, disjoint.
    let st = unsafe {
        rk_device_control(
            f.dev(),
            RK_IOCTL_POWER,
            [1u8, 0, 0, 0].as_ptr(),
            4,
            out.as_mut_ptr(),
            out.len(),
            &mut n,
        )
    };
    assert_eq!(st, RK_STATUS_DEVICE_NOT_READY);
    assert_eq!((n, out), (0, [0xEE; 33]), "nothing written");
    assert_eq!(c.power_calls.get(), power_calls, "no POWER callback");
    assert_eq!(c.tracking_calls.get(), tracking_calls, "no tracking armed");
    // Read-only requests are answered.
    let mut state = [0u8; 4];
    assert_eq!(
        control(f.dev(), RK_IOCTL_GET_STATE, &[], &mut state),
        RK_STATUS_SUCCESS
    );
    assert_eq!(
        u32::from_le_bytes(state),
        SWALLOWED,
        "powered down for sleep"
    );
    assert!(c.completions.borrow().is_empty(), "IS_ABSENT still pending");
    f.resume(true);
    assert_eq!(*c.completions.borrow(), vec![RK_STATUS_SUCCESS]);
    assert_eq!(f.power_up(), RK_STATUS_SUCCESS);
    assert_eq!(f.set_protocol_t1(), RK_STATUS_SUCCESS);
    assert_eq!(f.transmit(), RK_STATUS_SUCCESS);
}

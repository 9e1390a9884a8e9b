//! The exported IFDH functions called directly, as pcscd would, with bad input:
//! NULL pointers, short buffers, unknown Luns and tags never crash and get the
//! right `IFD_*` code. Also the polling pair and several Luns from several threads.

#[path = "support/ifdh.rs"]
mod ifdh;

use std::ffi::c_int;
use std::ptr::{null, null_mut};
use std::time::{Duration, Instant};

use ifd_readerkit::part10::pcsclite_ctl_code;
use ifd_readerkit::*;
use ifdh::{cap, close, control, open, power_up, presence, transmit};
use readerkit_testkit::pcscd::free_port;

/// IFDHTransmitToICC on T=1 of `apdu` into a 16-byte answer buffer, with
/// `answer_len` as its room and the length written back: `None` passes NULL.
fn transmit_t1_raw(
    lun: DWORD,
    apdu: Option<&mut [u8]>,
    answer_len: Option<&mut DWORD>,
) -> RESPONSECODE {
    let send = ScardIoHeader {
        protocol: 1,
        length: 16,
    };
    let mut answer = [0u8; 16];
    let (command, command_len) = match apdu {
        Some(apdu) => (apdu.as_mut_ptr(), apdu.len() as DWORD),
        // The length a caller with a NULL command claims anyway.
        None => (null_mut(), 5),
    };
    let answer_len = answer_len.map_or(null_mut(), |len| len as *mut DWORD);
    // SAFETY: valid buffers, or NULL where the caller asked for it, which the
    // function must handle.
    unsafe {
        IFDHTransmitToICC(
            lun,
            send,
            command,
            command_len,
            answer.as_mut_ptr(),
            answer_len,
            null_mut(),
        )
    }
}

#[test]
fn bad_input_gets_ifd_codes_never_a_crash() {
    let lun: DWORD = 0x00A0_0000;
    // SAFETY (all calls below): pointers are valid or deliberately NULL, which the
    // functions must handle.
    unsafe {
        assert_eq!(
            IFDHCreateChannelByName(lun, null()),
            IFD_COMMUNICATION_ERROR
        );
        assert_eq!(open(lun, "nonsense"), IFD_NO_SUCH_DEVICE);
        assert_eq!(open(lun, "sim:t9"), IFD_NO_SUCH_DEVICE);
        assert_eq!(open(lun, "vpcd:notaport"), IFD_NO_SUCH_DEVICE);
        assert_eq!(open(lun, "sim:t1:log=loud"), IFD_NO_SUCH_DEVICE);
        assert_eq!(open(lun, "sim:t1:log=info:log=trace"), IFD_NO_SUCH_DEVICE);
        assert_eq!(open(lun, "sim:t1"), IFD_SUCCESS);
        assert_eq!(open(lun, "sim:t1"), IFD_COMMUNICATION_ERROR, "Lun taken");

        // Unknown Lun.
        let other: DWORD = 0x00A1_0000;
        assert_eq!(IFDHICCPresence(other), IFD_NO_SUCH_DEVICE);
        assert_eq!(IFDHCloseChannel(other), IFD_NO_SUCH_DEVICE);
        assert_eq!(power_up(other), Err(IFD_NO_SUCH_DEVICE));
        assert_eq!(cap(other, TAG_IFD_SLOTS_NUMBER, 1), Err(IFD_NO_SUCH_DEVICE));

        // Capabilities: NULL length, zero room, unknown tag, killable refused.
        assert_eq!(
            IFDHGetCapabilities(lun, TAG_IFD_SLOTS_NUMBER, null_mut(), null_mut()),
            IFD_COMMUNICATION_ERROR
        );
        assert_eq!(
            cap(lun, TAG_IFD_SLOTS_NUMBER, 0),
            Err(IFD_ERROR_INSUFFICIENT_BUFFER)
        );
        let mut len: DWORD = 1;
        assert_eq!(
            IFDHGetCapabilities(lun, TAG_IFD_SLOTS_NUMBER, &mut len, null_mut()),
            IFD_ERROR_INSUFFICIENT_BUFFER
        );
        assert_eq!(cap(lun, TAG_IFD_SLOTS_NUMBER, 1), Ok(vec![1]));
        assert_eq!(cap(lun, TAG_IFD_SIMULTANEOUS_ACCESS, 1), Ok(vec![16]));
        assert_eq!(cap(lun, TAG_IFD_THREAD_SAFE, 1), Ok(vec![1]));
        assert_eq!(cap(lun, TAG_IFD_SLOTNUM, 1), Ok(vec![0]));
        assert_eq!(
            cap(lun, TAG_IFD_POLLING_THREAD_KILLABLE, 1),
            Err(IFD_ERROR_TAG)
        );
        assert_eq!(cap(lun, 0x1234_5678, 64), Err(IFD_ERROR_TAG));
        // A tag wider than 32 bits whose low half names an attribute: refused,
        // not truncated. Only an LP64 host's DWORD (a C unsigned long) holds one.
        #[cfg(target_pointer_width = "64")]
        assert_eq!(cap(lun, 0x1_0000_0000_0303, 64), Err(IFD_ERROR_TAG));
        assert_eq!(
            cap(lun, 0x7FFF_0003, 64),
            Err(IFD_ERROR_TAG),
            "friendly name: pcscd answers"
        );
        // A function pointer of this host: 8 bytes on a 64-bit one, 4 on armv7.
        let pointer = size_of::<usize>();
        assert_eq!(
            cap(lun, TAG_IFD_POLLING_THREAD_WITH_TIMEOUT, pointer - 1),
            Err(IFD_ERROR_INSUFFICIENT_BUFFER)
        );
        assert_eq!(
            cap(lun, TAG_IFD_POLLING_THREAD_WITH_TIMEOUT, pointer).map(|v| v.len()),
            Ok(pointer)
        );
        assert_eq!(cap(lun, 0x0001_0100, 64), Ok(b"readerkit".to_vec()));
        // A DWORD in this host's byte order, as pcsc-lite reads it (a uint32_t in
        // place; the core's own DWORD attributes are converted likewise): the
        // largest command APDU of a `sim:` reader, 4 + 3 + 65 535 + 2 bytes.
        assert_eq!(
            cap(lun, SCARD_ATTR_MAXINPUT, 4),
            Ok(65_544u32.to_ne_bytes().to_vec()),
            "SCARD_ATTR_MAXINPUT"
        );
        assert_eq!(cap(lun, 0x0001_0100, 3), Err(IFD_ERROR_INSUFFICIENT_BUFFER));
        assert_eq!(
            IFDHSetCapabilities(lun, 0x1234_5678, 1, [1u8].as_mut_ptr()),
            IFD_ERROR_TAG
        );
        assert_eq!(
            IFDHSetCapabilities(lun, 0x7FFF_0007, 4, null_mut()),
            IFD_ERROR_SET_FAILURE
        );
        // Lengths past pcscd's largest buffer are refused before any byte is read
        // (the one-byte buffers below are never read).
        let past_max = MAX_BUFFER_SIZE_EXTENDED as DWORD + 1;
        assert_eq!(
            IFDHSetCapabilities(lun, 0x7FFF_0007, past_max, [1u8].as_mut_ptr()),
            IFD_ERROR_SET_FAILURE
        );

        // Power: NULL length, short ATR buffer, unknown action.
        assert_eq!(IFDHICCPresence(lun), IFD_ICC_PRESENT);
        assert_eq!(
            cap(lun, TAG_IFD_ATR, 33),
            Ok(vec![]),
            "no ATR before power-up"
        );
        assert_eq!(
            IFDHPowerICC(lun, IFD_POWER_UP, null_mut(), null_mut()),
            IFD_COMMUNICATION_ERROR
        );
        let mut len: DWORD = 33;
        assert_eq!(
            IFDHPowerICC(lun, IFD_POWER_UP, null_mut(), &mut len),
            IFD_COMMUNICATION_ERROR
        );
        assert_eq!(
            cap(lun, TAG_IFD_ATR, 33),
            Ok(vec![]),
            "a refused power-up leaves the card unpowered"
        );
        let mut small = [0u8; 4];
        let mut len: DWORD = 4;
        assert_eq!(
            IFDHPowerICC(lun, IFD_POWER_UP, small.as_mut_ptr(), &mut len),
            IFD_ERROR_INSUFFICIENT_BUFFER
        );
        assert_eq!(len, 0);
        assert_eq!(
            IFDHPowerICC(lun, 999, small.as_mut_ptr(), &mut len),
            IFD_NOT_SUPPORTED
        );
        let atr = power_up(lun).unwrap();
        assert_eq!(cap(lun, TAG_IFD_ATR, 33), Ok(atr.clone()));

        // Transmit before SET_PROTOCOL, with NULLs, an unknown protocol number.
        assert_eq!(
            transmit(lun, 1, &[0, 0x84, 0, 0, 8]),
            Err(IFD_COMMUNICATION_ERROR)
        );
        assert_eq!(
            IFDHSetProtocolParameters(lun, 0, 0, 0, 0, 0),
            IFD_PROTOCOL_NOT_SUPPORTED
        );
        assert_eq!(IFDHSetProtocolParameters(lun, 2, 0, 0, 0, 0), IFD_SUCCESS);
        assert_eq!(
            transmit(lun, 7, &[0, 0x84, 0, 0, 8]),
            Err(IFD_PROTOCOL_NOT_SUPPORTED)
        );
        assert_eq!(
            transmit(lun, 0, &[0, 0x84, 0, 0, 8]),
            Err(IFD_COMMUNICATION_ERROR),
            "T=0 header on T=1"
        );
        let mut apdu = [0u8, 0x84, 0, 0, 8];
        let mut rx_len: DWORD = 16;
        assert_eq!(
            transmit_t1_raw(lun, None, Some(&mut rx_len)),
            IFD_COMMUNICATION_ERROR,
            "NULL command"
        );
        assert_eq!(rx_len, 0);
        assert_eq!(
            transmit_t1_raw(lun, Some(&mut apdu), None),
            IFD_COMMUNICATION_ERROR,
            "NULL answer length"
        );
        let header = ScardIoHeader {
            protocol: 1,
            length: 16,
        };
        rx_len = 16;
        let (tx, tx_len) = (apdu.as_mut_ptr(), apdu.len() as DWORD);
        assert_eq!(
            IFDHTransmitToICC(lun, header, tx, tx_len, null_mut(), &mut rx_len, null_mut()),
            IFD_COMMUNICATION_ERROR,
            "NULL answer buffer"
        );
        assert_eq!(
            IFDHTransmitToICC(
                lun,
                header,
                tx,
                past_max,
                [0u8; 16].as_mut_ptr(),
                &mut rx_len,
                null_mut()
            ),
            IFD_COMMUNICATION_ERROR,
            "a command past pcscd's largest buffer"
        );
        rx_len = 4;
        assert_eq!(
            transmit_t1_raw(lun, Some(&mut apdu), Some(&mut rx_len)),
            IFD_ERROR_INSUFFICIENT_BUFFER,
            "10-byte answer, 4-byte buffer"
        );
        assert_eq!(transmit(lun, 1, &[0, 0x84, 0, 0, 8]).unwrap().len(), 10);

        // Control: NULL returned-length, unknown codes, short output.
        let mut out = [0u8; 64];
        let mut n: DWORD = 99;
        assert_eq!(
            IFDHControl(
                lun,
                0x4200_0D48,
                null_mut(),
                0,
                out.as_mut_ptr(),
                64,
                null_mut()
            ),
            IFD_COMMUNICATION_ERROR
        );
        for code in [0x4200_0001, 0x4200_0BB8, 0xDEAD_BEEF] {
            assert_eq!(
                control(lun, code, 64),
                (IFD_ERROR_NOT_SUPPORTED, vec![]),
                "{code:#x}: refused, nothing written"
            );
        }
        assert_eq!(
            control(lun, 0x4200_0D48, 3).0,
            IFD_ERROR_INSUFFICIENT_BUFFER
        );
        assert_eq!(
            IFDHControl(lun, 0x4200_0D48, null_mut(), 0, null_mut(), 64, &mut n),
            IFD_ERROR_INSUFFICIENT_BUFFER
        );
        let (rc, features) = control(lun, 0x4200_0D48, 64);
        assert_eq!(rc, IFD_SUCCESS);
        // The TLV properties, then the PIN pad's three features (a `sim:` reader
        // has a scripted keypad), in pcsc-lite's encoding.
        assert_eq!(features.len(), 24);
        assert_eq!(
            features[6..24],
            [
                6, 4, 0x42, 0, 0x0D, 0x4E, 7, 4, 0x42, 0, 0x0D, 0x4F, 0x0A, 4, 0x42, 0, 0x0D, 0x52
            ]
        );
        // The Windows code of the same request reaches the same answer.
        assert_eq!(control(lun, 0x0031_3520, 64), (IFD_SUCCESS, features));
        assert_eq!(
            IFDHControl(
                lun,
                0x4200_0DAC,
                null_mut(),
                5,
                out.as_mut_ptr(),
                64,
                &mut n
            ),
            IFD_COMMUNICATION_ERROR
        );
        assert_eq!(
            IFDHControl(
                lun,
                0x4200_0D48,
                [0u8].as_mut_ptr(),
                past_max,
                out.as_mut_ptr(),
                64,
                &mut n
            ),
            IFD_COMMUNICATION_ERROR
        );

        assert_eq!(IFDHCloseChannel(lun), IFD_SUCCESS);
        assert_eq!(IFDHICCPresence(lun), IFD_NO_SUCH_DEVICE);
    }
}

type Poll = unsafe extern "C" fn(DWORD, c_int) -> RESPONSECODE;
type Stop = unsafe extern "C" fn(DWORD) -> RESPONSECODE;

/// The function address the capability `tag` hands out, as pcscd reads it: an
/// integer made a pointer again (an `as` cast, which Miri accepts as the C side's
/// copy of the bytes; a transmute of the integer would have no provenance).
fn fn_cap(lun: DWORD, tag: DWORD) -> *const () {
    let bytes = cap(lun, tag, size_of::<usize>()).unwrap();
    usize::from_ne_bytes(bytes.try_into().unwrap()) as *const ()
}

/// The polling function `lun` hands out (TAG_IFD_POLLING_THREAD_WITH_TIMEOUT).
fn polling_fn(lun: DWORD) -> Poll {
    let address = fn_cap(lun, TAG_IFD_POLLING_THREAD_WITH_TIMEOUT);
    // SAFETY: the capability hands out this exact function type.
    unsafe { std::mem::transmute::<*const (), Poll>(address) }
}

/// The function that stops `lun`'s polling (TAG_IFD_STOP_POLLING_THREAD).
fn stop_polling_fn(lun: DWORD) -> Stop {
    let address = fn_cap(lun, TAG_IFD_STOP_POLLING_THREAD);
    // SAFETY: the capability hands out this exact function type.
    unsafe { std::mem::transmute::<*const (), Stop>(address) }
}

#[test]
fn polling_waits_for_the_timeout_or_the_stop_function() {
    let lun: DWORD = 0x00B0_0000;
    assert_eq!(open(lun, "sim:t1"), IFD_SUCCESS);
    let (poll, stop) = (polling_fn(lun), stop_polling_fn(lun));
    let start = Instant::now();
    // SAFETY: plain calls through the driver's function pointers.
    assert_eq!(unsafe { poll(lun, 200) }, IFD_SUCCESS);
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(190), "waited {waited:?}");
    let poller = std::thread::spawn(move || {
        let start = Instant::now();
        // SAFETY: as above.
        let rc = unsafe { poll(lun, 600_000) };
        (rc, start.elapsed())
    });
    std::thread::sleep(Duration::from_millis(100));
    // SAFETY: as above.
    assert_eq!(unsafe { stop(lun) }, IFD_SUCCESS);
    let (rc, waited) = poller.join().unwrap();
    assert_eq!(rc, IFD_SUCCESS);
    assert!(waited < Duration::from_secs(5), "stop ended the poll");
    // SAFETY: as above.
    unsafe {
        assert_eq!(IFDHCloseChannel(lun), IFD_SUCCESS);
        assert_eq!(poll(lun, 10), IFD_NO_SUCH_DEVICE);
    }
}

#[test]
fn vpcd_presence_follows_the_connection() {
    use std::io::{Read, Write};
    let port = free_port();
    let lun: DWORD = 0x00C0_0000;
    assert_eq!(open(lun, &format!("vpcd:{port}")), IFD_SUCCESS);
    // SAFETY: plain calls.
    unsafe { assert_eq!(IFDHICCPresence(lun), IFD_ICC_NOT_PRESENT) };
    let poll = polling_fn(lun);
    let poller = std::thread::spawn(move || {
        let start = Instant::now();
        // SAFETY: as above.
        let rc = unsafe { poll(lun, 10_000) };
        (rc, start.elapsed())
    });
    std::thread::sleep(Duration::from_millis(50));
    // A minimal virtual card: answers GET_ATR and echoes APDUs with 9000.
    let mut card = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (rc, waited) = poller.join().unwrap();
    assert_eq!(rc, IFD_SUCCESS);
    assert!(
        waited < Duration::from_secs(2),
        "the poll woke on insertion: {waited:?}"
    );
    // SAFETY: plain call.
    unsafe { assert_eq!(IFDHICCPresence(lun), IFD_ICC_PRESENT) };
    let vicc = std::thread::spawn(move || {
        let mut head = [0u8; 2];
        while card.read_exact(&mut head).is_ok() {
            let mut msg = vec![0u8; usize::from(u16::from_be_bytes(head))];
            card.read_exact(&mut msg).unwrap();
            let answer: Vec<u8> = match msg.as_slice() {
                [4] => vec![0x3B, 0x00],
                [_] => continue,
                apdu => [&apdu[5..], &[0x90, 0x00][..]].concat(),
            };
            let mut frame = (answer.len() as u16).to_be_bytes().to_vec();
            frame.extend_from_slice(&answer);
            card.write_all(&frame).unwrap();
            if msg.len() > 1 && msg[4] == 0xFF {
                break; // hang up
            }
        }
    });
    assert_eq!(power_up(lun), Ok(vec![0x3B, 0x00]));
    // SAFETY: plain call.
    unsafe { assert_eq!(IFDHSetProtocolParameters(lun, 1, 0, 0, 0, 0), IFD_SUCCESS) };
    assert_eq!(
        transmit(lun, 0, &[0x80, 0x10, 0, 0, 2, 0xAB, 0xCD]),
        Ok(vec![0xAB, 0xCD, 0x90, 0x00])
    );
    let big: Vec<u8> = [&[0x80, 0x10, 0, 0, 0xFF][..], &[0x55; 255][..]].concat();
    assert_eq!(transmit(lun, 0, &big).unwrap().len(), 257);
    vicc.join().unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    // SAFETY: plain calls.
    while unsafe { IFDHICCPresence(lun) } != IFD_ICC_NOT_PRESENT {
        assert!(Instant::now() < deadline, "removal seen");
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: plain call.
    unsafe { assert_eq!(IFDHCloseChannel(lun), IFD_SUCCESS) };
}

/// The `sim:` slot switch (`FN_SIM_CARD`): 0 out, 1 in, 2 swap at once.
fn slot_switch(lun: DWORD, action: u8) -> RESPONSECODE {
    let mut input = [action];
    let mut out = [0u8; 8];
    let mut n: DWORD = 0;
    // SAFETY: valid buffers of the lengths given.
    unsafe {
        IFDHControl(
            lun,
            pcsclite_ctl_code(3501).into(),
            input.as_mut_ptr(),
            1,
            out.as_mut_ptr(),
            8,
            &mut n,
        )
    }
}

#[test]
fn a_card_swapped_between_two_looks_is_reported_absent_once() {
    let lun: DWORD = 0x00B3_0000;
    assert_eq!(open(lun, "sim:t1"), IFD_SUCCESS);
    let poll = polling_fn(lun);
    let quick_poll = || {
        let start = Instant::now();
        // SAFETY: a plain call through the driver's function pointer.
        assert_eq!(unsafe { poll(lun, 5_000) }, IFD_SUCCESS);
        start.elapsed()
    };
    // SAFETY: plain calls with a registered Lun.
    unsafe {
        assert_eq!(IFDHICCPresence(lun), IFD_ICC_PRESENT);
        let old_atr = power_up(lun).unwrap();
        assert_eq!(slot_switch(lun, 2), IFD_SUCCESS);
        // pcscd's poll returns at once for a card it was not told about, and the
        // next look says "absent": pcscd drops the old card's handles.
        assert!(quick_poll() < Duration::from_secs(1));
        assert_eq!(IFDHICCPresence(lun), IFD_ICC_NOT_PRESENT);
        // Then the new card is there, at once, and works.
        assert!(quick_poll() < Duration::from_secs(1));
        assert_eq!(IFDHICCPresence(lun), IFD_ICC_PRESENT);
        assert_eq!(IFDHICCPresence(lun), IFD_ICC_PRESENT, "absent only once");
        assert_eq!(power_up(lun).unwrap(), old_atr, "same profile");
        // Nothing moves now: the poll waits for its time-out.
        let start = Instant::now();
        assert_eq!(poll(lun, 200), IFD_SUCCESS);
        assert!(start.elapsed() >= Duration::from_millis(190));
        // Out and in as two looks apart: plain absent, then present.
        assert_eq!(slot_switch(lun, 0), IFD_SUCCESS);
        assert_eq!(IFDHICCPresence(lun), IFD_ICC_NOT_PRESENT);
        assert_eq!(slot_switch(lun, 1), IFD_SUCCESS);
        assert_eq!(IFDHICCPresence(lun), IFD_ICC_PRESENT);
        assert_eq!(slot_switch(lun, 7), IFD_COMMUNICATION_ERROR);
        assert_eq!(IFDHCloseChannel(lun), IFD_SUCCESS);
    }
}

/// pcscd's call order when a client resets its handle right after a swap
/// (pcsc-lite 1.9.9): the reset's `IFDPowerICC` looks first, from a client
/// thread, before the event thread's look. The reset finds the new card (told
/// "absent", pcscd would write the reader "empty" from the client's thread, racing
/// the event thread's own removal and insertion), its look wakes the poll, and the
/// event thread reads the swap's "absent" (else it sees no change) and its next
/// poll and look bring the new card.
#[test]
fn a_reset_looking_first_leaves_the_swap_to_the_polling_thread() {
    let lun: DWORD = 0x00B4_0000;
    assert_eq!(open(lun, "sim:t1"), IFD_SUCCESS);
    let poll = polling_fn(lun);
    let (go, wait_go) = std::sync::mpsc::channel::<()>();
    let (polled, wait_polled) = std::sync::mpsc::channel::<()>();
    // pcscd's event thread: look, poll, look, ...
    let event_thread = std::thread::spawn(move || {
        // SAFETY: plain calls with a registered Lun, through the driver's pointer.
        unsafe {
            let first = IFDHICCPresence(lun);
            // A first poll makes this thread the polling thread before the swap.
            assert_eq!(poll(lun, 1), IFD_SUCCESS);
            polled.send(()).unwrap();
            let start = Instant::now();
            assert_eq!(poll(lun, 10_000), IFD_SUCCESS);
            let woke = start.elapsed();
            wait_go.recv().unwrap();
            let after_swap = IFDHICCPresence(lun);
            let start = Instant::now();
            assert_eq!(poll(lun, 10_000), IFD_SUCCESS);
            let quick = start.elapsed();
            let new_card = IFDHICCPresence(lun);
            (first, woke, after_swap, quick, new_card)
        }
    });
    wait_polled.recv().unwrap();
    // Let the event thread's poll start waiting.
    std::thread::sleep(Duration::from_millis(100));
    assert!(power_up(lun).is_ok());
    assert_eq!(slot_switch(lun, 2), IFD_SUCCESS);
    // The reset's own presence check (a client thread) comes first, twice: the
    // card is in, the "absent" is the event thread's.
    // SAFETY: plain calls with a registered Lun.
    unsafe {
        assert_eq!(IFDHICCPresence(lun), IFD_ICC_PRESENT, "the reset's look");
        assert_eq!(
            IFDHICCPresence(lun),
            IFD_ICC_PRESENT,
            "the reset's look again"
        );
    }
    go.send(()).unwrap();
    let (first, woke, after_swap, quick, new_card) = event_thread.join().unwrap();
    assert_eq!(first, IFD_ICC_PRESENT);
    assert!(
        woke < Duration::from_secs(5),
        "the swap woke the poll: {woke:?}"
    );
    assert_eq!(
        after_swap, IFD_ICC_NOT_PRESENT,
        "the event thread reads the swap's absent"
    );
    assert!(
        quick < Duration::from_secs(1),
        "the new card at once: {quick:?}"
    );
    assert_eq!(new_card, IFD_ICC_PRESENT);
    // SAFETY: plain calls with a registered Lun.
    unsafe {
        assert_eq!(IFDHICCPresence(lun), IFD_ICC_PRESENT, "settled");
        assert_eq!(IFDHCloseChannel(lun), IFD_SUCCESS);
    }
}

/// A power-down asked with a NULL `AtrLength` gets the code the same request with
/// a length gets: success with a card, "not present" without one.
#[test]
fn a_power_down_answers_alike_with_or_without_a_length() {
    let lun: DWORD = 0x00B5_0000;
    assert_eq!(open(lun, "sim:t1"), IFD_SUCCESS);
    let power_down = |with_length: bool| {
        let mut len: DWORD = 33;
        let length = if with_length {
            &mut len as *mut DWORD
        } else {
            null_mut()
        };
        // SAFETY: `length` is NULL or a valid DWORD; a power-down writes no ATR.
        let rc = unsafe { IFDHPowerICC(lun, IFD_POWER_DOWN, null_mut(), length) };
        (rc, len)
    };
    power_up(lun).unwrap();
    assert_eq!(power_down(false).0, IFD_SUCCESS);
    power_up(lun).unwrap();
    assert_eq!(power_down(true), (IFD_SUCCESS, 0));
    assert_eq!(slot_switch(lun, 0), IFD_SUCCESS);
    let without = power_down(false).0;
    assert_eq!(power_down(true), (without, 0));
    assert_eq!(without, IFD_ICC_NOT_PRESENT);
    // SAFETY: a plain call with a registered Lun.
    unsafe { assert_eq!(IFDHCloseChannel(lun), IFD_SUCCESS) };
}

/// pcscd closes a Lun from its reader-removal path while other threads may still be
/// in the driver for it: its event thread's poll (stopped, but maybe not yet
/// returned), and a client's call when `IFDCloseIFD` gave up waiting for the
/// reader's lock (it calls `IFDHCloseChannel` without it after 0.5 s). Here threads
/// transmit, look at the presence, ask a control and a capability, and poll, while
/// the Lun is closed and opened again on another reader: every call gets a defined
/// `IFD_*` code, the poll in flight returns at the close, and once reopened the Lun
/// is the new reader (its empty slot), whatever the old one's callers still do.
#[test]
fn closing_a_lun_under_running_calls_then_reopening_it() {
    use readerkit::part10::FN_GET_FEATURE_REQUEST;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let lun: DWORD = 0x00B6_0000;
    assert_eq!(open(lun, "sim:t1"), IFD_SUCCESS);
    power_up(lun).unwrap();
    // SAFETY: plain call with a registered Lun.
    assert_eq!(
        unsafe { IFDHSetProtocolParameters(lun, 2, 0, 0, 0, 0) },
        IFD_SUCCESS
    );
    let poll = polling_fn(lun);
    let stop = stop_polling_fn(lun);
    let done = Arc::new(AtomicBool::new(false));
    let polls_returned = Arc::new(AtomicUsize::new(0));
    let caller = |f: fn(DWORD) -> RESPONSECODE| {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut codes = Vec::new();
            while !done.load(Ordering::SeqCst) {
                let code = f(lun);
                if !codes.contains(&code) {
                    codes.push(code);
                }
            }
            codes
        })
    };
    let callers = [
        caller(|lun| match transmit(lun, 1, &[0, 0x84, 0, 0, 8]) {
            Ok(answer) if answer.len() == 10 => IFD_SUCCESS,
            Ok(_) => IFD_COMMUNICATION_ERROR - 1000,
            Err(code) => code,
        }),
        caller(|lun| {
            // SAFETY: plain call.
            unsafe { IFDHICCPresence(lun) }
        }),
        caller(|lun| {
            let get_feature_request = pcsclite_ctl_code(FN_GET_FEATURE_REQUEST);
            control(lun, get_feature_request.into(), 64).0
        }),
        caller(|lun| cap(lun, TAG_IFD_SLOTNUM, 1).err().unwrap_or(IFD_SUCCESS)),
    ];
    let poller = {
        let (done, returned) = (done.clone(), polls_returned.clone());
        std::thread::spawn(move || {
            let mut codes = Vec::new();
            while !done.load(Ordering::SeqCst) {
                // SAFETY: a plain call through the driver's function pointer.
                let code = unsafe { poll(lun, 600_000) };
                returned.fetch_add(1, Ordering::SeqCst);
                if !codes.contains(&code) {
                    codes.push(code);
                }
            }
            codes
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let returned_before = polls_returned.load(Ordering::SeqCst);
    let t0 = Instant::now();
    assert_eq!(close(lun), IFD_SUCCESS);
    assert!(t0.elapsed() < Duration::from_secs(5), "the close waited");
    // The poll that was waiting on the closed reader returns (the close cancels
    // its tracking request and stops the wait).
    let deadline = Instant::now() + Duration::from_secs(5);
    while polls_returned.load(Ordering::SeqCst) == returned_before {
        assert!(
            Instant::now() < deadline,
            "the poll in flight on the closed Lun did not return"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // The same Lun on another reader: an empty slot, nothing of the old one.
    assert_eq!(open(lun, "sim:empty"), IFD_SUCCESS);
    for _ in 0..20 {
        assert_eq!(presence(lun), IFD_ICC_NOT_PRESENT);
        assert_eq!(
            transmit(lun, 1, &[0, 0x84, 0, 0, 8]),
            Err(IFD_ICC_NOT_PRESENT)
        );
    }
    done.store(true, Ordering::SeqCst);
    let codes: Vec<Vec<RESPONSECODE>> = callers.into_iter().map(|c| c.join().unwrap()).collect();
    // A poll on the new reader's empty slot waits for a card: stop it (the stop is
    // kept for a poll that has not begun waiting yet).
    while !poller.is_finished() {
        // SAFETY: a plain call through the driver's function pointer.
        unsafe { stop(lun) };
        std::thread::sleep(Duration::from_millis(5));
    }
    let poll_codes = poller.join().unwrap();
    // A poll that took the old reader before the close may have its tracking
    // request cancelled by the close while arming it (`Cancelled`): it answers
    // that status's code (IFD_COMMUNICATION_ERROR), as for any failed tracking,
    // and pcscd sleeps and polls again (Miri's scheduler gives [612, 617, 0] with
    // some seeds, e.g. -Zmiri-seed=9).
    assert!(
        poll_codes
            .iter()
            .all(|c| [IFD_SUCCESS, IFD_NO_SUCH_DEVICE, IFD_COMMUNICATION_ERROR].contains(c)),
        "poll: {poll_codes:?}"
    );
    // Transmit: the old card (or, on the old reader after its close powered it
    // down, a refusal for the unpowered card), no reader, or the new empty slot.
    let unpowered = readerkit::Status::InvalidDeviceState.to_ifd() as RESPONSECODE;
    let allowed: [&[RESPONSECODE]; 4] = [
        &[
            IFD_SUCCESS,
            IFD_NO_SUCH_DEVICE,
            IFD_ICC_NOT_PRESENT,
            unpowered,
        ],
        &[IFD_ICC_PRESENT, IFD_ICC_NOT_PRESENT, IFD_NO_SUCH_DEVICE],
        &[IFD_SUCCESS, IFD_NO_SUCH_DEVICE],
        &[IFD_SUCCESS, IFD_NO_SUCH_DEVICE],
    ];
    for (which, (seen, allowed)) in ["transmit", "presence", "control", "capability"]
        .iter()
        .zip(codes.iter().zip(allowed))
    {
        assert!(
            seen.iter().all(|c| allowed.contains(c)),
            "{which}: {seen:?}, allowed {allowed:?}"
        );
        assert!(
            seen.contains(&IFD_SUCCESS) || *which == "presence",
            "{which} ran"
        );
    }
    assert_eq!(close(lun), IFD_SUCCESS);
}

//! Arbitrary IOCTL codes and buffers, interleaved with card events, against the
//! device entry point. Checks: no panic; a completed request never reports more
//! bytes than the output holds, nor any on failure; a request refused by validation
//! changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use readerkit::caps::{ReaderCapabilities, VendorAttributes, attr_string};
use readerkit::device::{AtrBuffer, ProtocolCall, TransmitCall};
use readerkit::ioctl::{Ioctl, PowerAction, Request};
use readerkit::platform::SpinPlatform;
use readerkit::timing::Timing;
use readerkit::tracking::Wait;
use readerkit::{Device, Outcome, ReaderFunctions, Status};

/// The card's ATR and reply come from the fuzzer too.
struct Reader {
    atr: [u8; 33],
    atr_len: usize,
    reply_len: usize,
}

fn power(r: &mut Reader, action: PowerAction, atr: &mut AtrBuffer) -> Result<(), Status> {
    if action != PowerAction::PowerDown {
        atr.extend_from_slice(&r.atr[..r.atr_len])
            .map_err(|_| Status::BufferOverflow)?;
    }
    Ok(())
}

fn transmit(r: &mut Reader, _: &TransmitCall<'_>, reply: &mut [u8]) -> Result<usize, Status> {
    let len = r.reply_len.min(reply.len());
    reply[..len].fill(0x90);
    Ok(len)
}

fn set_protocol(_: &mut Reader, call: &ProtocolCall<'_>) -> Result<Timing, Status> {
    Ok(call.card.timing)
}

fn tracking(_: &mut Reader, _: Wait) -> Result<(), Status> {
    Ok(())
}

fn vendor(_: &mut Reader, _: u32, input: &[u8], output: &mut [u8]) -> Result<usize, Status> {
    let len = input.len().min(output.len());
    output[..len].copy_from_slice(&input[..len]);
    Ok(len)
}

const CODES: [Ioctl; 14] = [
    Ioctl::Power,
    Ioctl::GetAttribute,
    Ioctl::SetAttribute,
    Ioctl::Confiscate,
    Ioctl::Transmit,
    Ioctl::Eject,
    Ioctl::Swallow,
    Ioctl::IsPresent,
    Ioctl::IsAbsent,
    Ioctl::SetProtocol,
    Ioctl::GetState,
    Ioctl::GetLastError,
    Ioctl::GetPerfCounter,
    Ioctl::Vendor(3400),
];

fuzz_target!(|data: &[u8]| {
    let Some((&atr_len, rest)) = data.split_first() else {
        return;
    };
    let atr_len = usize::from(atr_len) % 34;
    let Some((atr_bytes, mut rest)) = rest.split_at_checked(atr_len) else {
        return;
    };
    let mut atr = [0u8; 33];
    atr[..atr_len].copy_from_slice(atr_bytes);
    let dev: Device<SpinPlatform, Reader> = Device::new(
        SpinPlatform::new(),
        ReaderFunctions {
            power: Some(power),
            transmit: Some(transmit),
            set_protocol: Some(set_protocol),
            card_tracking: Some(tracking),
            vendor_ioctl: Some(vendor),
            ..ReaderFunctions::NONE
        },
        Reader {
            atr,
            atr_len,
            reply_len: 2,
        },
        ReaderCapabilities::typical(),
        VendorAttributes {
            vendor_name: attr_string(b"fuzz"),
            ..VendorAttributes::default()
        },
    );
    let mut output = [0u8; 300];
    // Each step: selector, code byte(s), output length, input length, input.
    while let [selector, a, b, out_len, in_len, tail @ ..] = rest {
        let in_len = usize::from(*in_len).min(tail.len());
        let (input, next) = tail.split_at(in_len);
        rest = next;
        match selector % 8 {
            0 => dev.card_inserted(),
            1 => dev.card_removed(),
            2 => dev.card_fault(),
            3 => {
                dev.cancel_tracking();
            }
            _ => {
                let code = if selector & 0x80 != 0 {
                    u32::from_le_bytes([*a, *b, *selector, *out_len])
                } else {
                    CODES[usize::from(*a) % CODES.len()].code()
                };
                dev.with_driver(|r| r.reply_len = usize::from(*b));
                let out_len = usize::from(*out_len);
                let before = (
                    dev.state(),
                    dev.card_capabilities(),
                    dev.perf_counters().to_bytes(),
                );
                let refused = Request::parse(code, input, out_len).is_err();
                match dev.control(code, input, &mut output[..out_len]) {
                    Outcome::Complete {
                        status,
                        bytes_written,
                    } => {
                        assert!(bytes_written <= out_len);
                        if status != Status::Success {
                            assert_eq!(bytes_written, 0);
                        }
                        if refused {
                            assert_ne!(status, Status::Success);
                            let after = (
                                dev.state(),
                                dev.card_capabilities(),
                                dev.perf_counters().to_bytes(),
                            );
                            assert_eq!(before, after, "a refused request changed state");
                        }
                    }
                    Outcome::Pending => assert!(!refused),
                }
            }
        }
    }
});

//! A WDM reader with a PIN pad, through fake IRPs: IOCTL_SMARTCARD_GET_FEATURE_REQUEST
//! announces the PC/SC part 10 PIN features with their Windows control codes, and
//! VERIFY/MODIFY_PIN_DIRECT are served by the core with the driver's keypad (a
//! scripted one) on the simulated card (PIN "1234", 3 tries, ASCII).

mod support;

use readerkit::caps::ReaderCapabilities;
use readerkit::device::PinPad;
use readerkit::event::CardEvent;
use readerkit::ioctl::{Ioctl, scard_ctl_code};
use readerkit::line::LineReader;
use readerkit::pin::{Key, Keypad, Prompt};
use readerkit::status::Status;
use readerkit_card_sim::atr::Profile;
use readerkit_card_sim::{Card, ScriptedKeypad, SimLine};
use readerkit_testkit::pin::{modify_structure, verify_structure};
use readerkit_wdm::irp::IoStatus;
use readerkit_wdm::reader::Dispatch;
use readerkit_wdm::{DriverHooks, WdmReader, ntstatus};
use support::{FakeIrp, Record, StdKernel, vendor};

/// The driver context: the line to the card and the reader's keypad.
struct PadDriver {
    reader: LineReader<SimLine>,
    keypad: ScriptedKeypad,
}

impl AsMut<LineReader<SimLine>> for PadDriver {
    fn as_mut(&mut self) -> &mut LineReader<SimLine> {
        &mut self.reader
    }
}

type PadReader = WdmReader<StdKernel, FakeIrp, PadDriver>;

const T1: u32 = 2;

fn reader() -> PadReader {
    let mut r = PadReader::new(
        LineReader::functions_for::<PadDriver>(),
        PadDriver {
            reader: LineReader::new(SimLine::empty()).with_t0_envelope(),
            keypad: ScriptedKeypad::new(),
        },
        ReaderCapabilities::typical(),
        vendor(),
        DriverHooks::NONE,
    );
    r.set_pin_pad(PinPad {
        next_key: |d, timeout_ms| d.keypad.next_key(timeout_ms),
        prompt: Some(|d, prompt| d.keypad.prompt(prompt)),
        ctl_code: scard_ctl_code,
        min_pin_digits: 4,
        max_pin_digits: 8,
    });
    r.start();
    r
}

fn ioctl(
    r: &PadReader,
    code: u32,
    input: &[u8],
    output_len: usize,
) -> (u32, std::sync::Arc<Record>) {
    let (irp, rec) = FakeIrp::ioctl(code, input, output_len);
    match r.dispatch(irp) {
        Dispatch::Done(status) => (status, rec),
        Dispatch::Forward(..) => panic!("device control forwarded"),
    }
}

/// Card in, powered, T=1 selected.
fn ready() -> PadReader {
    let r = reader();
    r.device()
        .with_driver(|d| d.reader.line_mut().insert(Card::new(Profile::t1())));
    r.report(CardEvent::Inserted);
    let (st, _) = ioctl(&r, Ioctl::Power.code(), &1u32.to_le_bytes(), 33);
    assert_eq!(st, ntstatus::SUCCESS);
    let (st, _) = ioctl(&r, Ioctl::SetProtocol.code(), &T1.to_le_bytes(), 4);
    assert_eq!(st, ntstatus::SUCCESS);
    r
}

fn load(r: &PadReader, keys: &str) {
    let mut pad = ScriptedKeypad::new();
    for b in keys.bytes() {
        let key = match b {
            b'E' => Key::Enter,
            b'C' => Key::Cancel,
            d => Key::Digit(d - b'0'),
        };
        assert!(pad.press(100, key));
    }
    r.device().with_driver(|d| d.keypad = pad);
}

/// A PIN request with `keys` on the keypad: the IRP's status and output.
fn pin(r: &PadReader, function: u16, structure: &[u8], keys: &str) -> (u32, Vec<u8>) {
    load(r, keys);
    let (st, rec) = ioctl(r, Ioctl::Vendor(function).code(), structure, 258);
    (st, rec.output())
}

#[test]
fn feature_request_names_the_pin_features_with_windows_codes() {
    let r = reader();
    let (st, rec) = ioctl(&r, Ioctl::Vendor(3400).code(), &[], 64);
    assert_eq!(st, ntstatus::SUCCESS);
    assert_eq!(
        rec.output(),
        [
            6, 4, 0x00, 0x31, 0x35, 0x38, 7, 4, 0x00, 0x31, 0x35, 0x3C, 0x0A, 4, 0x00, 0x31, 0x35,
            0x48
        ],
        "FEATURE_VERIFY_PIN_DIRECT = SCARD_CTL_CODE(3406), MODIFY = (3407), \
         IFD_PIN_PROPERTIES = (3410)"
    );
    let (st, rec) = ioctl(&r, Ioctl::Vendor(3418).code(), &[], 64);
    assert_eq!(st, ntstatus::SUCCESS);
    assert_eq!(rec.output(), [1, 2, 0, 0, 2, 1, 7, 6, 1, 4, 7, 1, 8]);
}

#[test]
fn verify_and_modify_through_irps() {
    let r = ready();
    let v = verify_structure();
    let m = modify_structure();
    let ok = |sw: [u8; 2]| (ntstatus::SUCCESS, sw.to_vec());
    assert_eq!(pin(&r, 3406, &v, "1234E"), ok([0x90, 0x00]));
    assert_eq!(pin(&r, 3406, &v, "12C"), ok([0x64, 0x01]));
    assert_eq!(pin(&r, 3406, &v, "12"), ok([0x64, 0x00]));
    assert_eq!(pin(&r, 3406, &v, "12E"), ok([0x64, 0x03]));
    assert_eq!(pin(&r, 3407, &m, "1234E5678E5679E"), ok([0x64, 0x02]));
    assert_eq!(pin(&r, 3407, &m, "1234E5678E5678E"), ok([0x90, 0x00]));
    for sw2 in [0xC2, 0xC1, 0xC0] {
        assert_eq!(pin(&r, 3406, &v, "0000E"), ok([0x63, sw2]));
    }
    assert_eq!(pin(&r, 3406, &v, "5678E"), ok([0x69, 0x83]));
    r.device().with_driver(|d| {
        assert_eq!(d.keypad.prompts()[0], Prompt::EnterPin);
    });
}

#[test]
fn malformed_structures_complete_the_irp_with_invalid_parameter_before_any_key() {
    let r = ready();
    let v = verify_structure();
    let mut bad = v.clone();
    bad[2] = 0x83;
    load(&r, "1234E");
    for input in [&v[..10], &bad[..], &modify_structure()[..]] {
        let (st, rec) = ioctl(&r, Ioctl::Vendor(3406).code(), input, 258);
        assert_eq!(st, Status::InvalidParameter.to_ntstatus());
        assert_eq!(
            rec.completed(),
            Some(IoStatus {
                status: Status::InvalidParameter.to_ntstatus(),
                information: 0
            })
        );
    }
    let (st, _) = ioctl(&r, Ioctl::Vendor(3406).code(), &v, 1);
    assert_eq!(st, Status::BufferTooSmall.to_ntstatus());
    r.device()
        .with_driver(|d| assert_eq!(d.keypad.remaining(), 5, "no key was read"));
    let (st, rec) = ioctl(&r, Ioctl::Vendor(3406).code(), &v, 258);
    assert_eq!((st, rec.output()), (ntstatus::SUCCESS, vec![0x90, 0x00]));
}

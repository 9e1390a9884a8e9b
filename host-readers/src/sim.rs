//! `sim:PROFILE`: the simulated card in-process, reached byte by byte through the
//! core's [`LineReader`] (PPS, T=0 and T=1 engines) over [`SimLine`], traced into
//! the reader's log ([`TracedLine`]: decoded at `log=trace`).

use std::sync::Arc;

use readerkit::caps::{ReaderCapabilities, VendorAttributes};
use readerkit::device::{Outcome, PinPad};
use readerkit::ioctl::{Request, scard_ctl_function};
use readerkit::line::LineReader;
use readerkit::pin::Keypad;
use readerkit::trace::TracedLine;

use readerkit::{Device, Failure, Ioctl, ReaderFunctions, Status};
use readerkit_card_sim::fault::{Faults, IfsRequest, Mute, Trigger};
use readerkit_card_sim::keypad::key_of_letter;
use readerkit_card_sim::{Card, Config, Profile, ScriptedKeypad, SimLine, SlotCard};

use readerkit::platform::StdPlatform;

use crate::callbacks::part10_answer;
use crate::host::Host;
use crate::port::{AnyDevice, Port};
use crate::reader_log::ReaderLog;

/// The simulated card's fault switch (a readerkit vendor function, `sim:` only):
/// input `[0]` clears faults, `[1, n]` mutes the card after `n` more answers, `[2]`
/// mutes it at once; a reset ends the muteness. `[3, n]` (T=1): the card sends an
/// S(IFS request) announcing an IFSC of `n` bytes (1 to 254) before its next
/// answer, and again before the first answer after each reset, until `[0]`.
pub const FN_SIM_FAULT: u16 = 3500;

/// The simulated card's slot switch (a readerkit vendor function, `sim:` only):
/// input `[0]` takes the card out, `[1]` puts a new card in, `[2]` swaps it for a
/// new one at once (a removal and an insertion between two looks of the host).
pub const FN_SIM_CARD: u16 = 3501;

/// The simulated reader's key switch (a readerkit vendor function, `sim:` only):
/// the input is the script its PIN pad plays next, one byte a key: `0`-`9`, `E`
/// Enter, `C` Cancel, `B` Backspace, `L` Clear, in either case (100 ms of simulated
/// time apart; card-sim's `key_of_letter`);
/// after the script, silence, so an empty script times out at once. Any other
/// byte is refused (invalid parameter).
pub const FN_SIM_KEYS: u16 = 3502;

/// The simulated card's buffer size: pcscd's largest APDU buffer
/// (`MAX_BUFFER_SIZE_EXTENDED` = 4 + 3 + 65536 + 3 + 2), so every extended APDU
/// pcscd passes fits.
pub const SIM_CAPACITY: usize = 65_548;
/// `dwMaxAPDUDataSize` of a `sim:` reader.
pub const MAX_APDU_DATA: u32 = 65_536;

/// The card's line of a `sim:` reader, traced into the reader's log.
pub type SimTracedLine = TracedLine<SimLine<SIM_CAPACITY>, ReaderLog>;
/// The driver context of a `sim:` reader: the line to its card, and its PIN pad
/// (a scripted keypad the key switch, [`FN_SIM_KEYS`], loads).
pub struct SimReader {
    /// Boxed: the card's buffers are large, and the device is moved through
    /// several frames while it is built.
    reader: Box<LineReader<SimTracedLine>>,
    keypad: ScriptedKeypad,
}

impl SimReader {
    /// The line to the card.
    pub fn line_mut(&mut self) -> &mut SimTracedLine {
        self.reader.line_mut()
    }
}

impl AsMut<LineReader<SimTracedLine>> for SimReader {
    fn as_mut(&mut self) -> &mut LineReader<SimTracedLine> {
        &mut self.reader
    }
}

/// Gap between two scripted key presses, in ms of simulated time.
const KEY_GAP_MS: u32 = 100;

/// A `sim:` reader's PIN pad on host `H`: the scripted keypad, announced as 4 to
/// 12 digits.
fn pin_pad<H: Host>() -> PinPad<SimReader> {
    PinPad {
        next_key: |reader, timeout_ms| reader.keypad.next_key(timeout_ms),
        prompt: Some(|reader, prompt| reader.keypad.prompt(prompt)),
        ctl_code: H::ctl_code,
        min_pin_digits: 4,
        max_pin_digits: 12,
    }
}

/// The key switch's script, one letter a key ([`key_of_letter`]), each
/// [`KEY_GAP_MS`] after the previous; after the last, silence (a time-out). `None`
/// for any other byte or a script longer than the keypad holds.
fn key_script(script: &[u8]) -> Option<ScriptedKeypad> {
    let mut keypad = ScriptedKeypad::new();
    for &letter in script {
        let key = key_of_letter(letter)?;
        if !keypad.press(KEY_GAP_MS, key) {
            return None;
        }
    }
    Some(keypad)
}
/// A `sim:` device.
pub type SimDevice = Device<StdPlatform, SimReader>;

/// Vendor IOCTLs: PC/SC part 10 (the PIN pad's part is the core's), the fault
/// switch ([`FN_SIM_FAULT`]) and the key switch ([`FN_SIM_KEYS`]).
fn vendor<H: Host>(
    reader: &mut SimReader,
    code: u32,
    input: &[u8],
    output: &mut [u8],
) -> Result<usize, Failure> {
    if let Some(answer) = part10_answer::<H>(code, output, MAX_APDU_DATA) {
        return answer;
    }
    let function = scard_ctl_function(code);
    if function == Some(FN_SIM_KEYS) {
        reader.keypad = key_script(input).ok_or(Failure::InvalidParameter)?;
        return Ok(0);
    }
    if function != Some(FN_SIM_FAULT) {
        return Err(Failure::NotSupported);
    }
    let faults = match input {
        [0] => Faults::default(),
        [1, n] => Faults {
            mute: Mute::AfterAnswers(u32::from(*n)),
            ..Faults::default()
        },
        [2] => Faults {
            mute: Mute::Always,
            ..Faults::default()
        },
        [3, ifsc @ 1..=254] => Faults {
            ifs_request: Some(IfsRequest {
                answer: Trigger::Nth(1),
                ifsc: *ifsc,
            }),
            ..Faults::default()
        },
        _ => return Err(Failure::InvalidParameter),
    };
    let card = reader
        .line_mut()
        .line_mut()
        .card_mut()
        .ok_or(Failure::NoMedia)?;
    card.set_faults(faults);
    Ok(0)
}

/// A `sim:` reader: its device, and the profile of the cards its slot switch
/// ([`FN_SIM_CARD`]) puts in.
pub struct SimPort {
    device: SimDevice,
    profile: Profile,
}

impl SimPort {
    /// The slot switch: take the card out, put a new one in, or both at once; each
    /// change reported to the device as the card event it is.
    fn switch(&self, input: &[u8]) -> Result<usize, Status> {
        let (remove, insert) = match input {
            [0] => (true, false),
            [1] => (false, true),
            [2] => (true, true),
            _ => return Err(Status::InvalidParameter),
        };
        let (removed, inserted) = self.device.with_driver(|reader| {
            let line = reader.line_mut().line_mut();
            let removed = remove && line.remove().is_some();
            let inserted = insert && line.card_mut().is_none();
            if inserted {
                line.insert(new_card(&self.profile));
            }
            (removed, inserted)
        });
        if removed {
            self.device.card_removed();
        }
        if inserted {
            self.device.card_inserted();
        }
        Ok(0)
    }
}

fn new_card(profile: &Profile) -> Card<SIM_CAPACITY> {
    Card::create(Config::new(profile.clone()))
}

impl Port for SimPort {
    fn submit(&self, request: Request<'_>, output: &mut [u8]) -> Outcome {
        if let Request::Vendor { code, input } = request
            && Ioctl::from_code(code) == Some(Ioctl::Vendor(FN_SIM_CARD))
        {
            return match self.switch(input) {
                Ok(_) => Outcome::Complete {
                    status: Status::Success,
                    bytes_written: 0,
                },
                Err(status) => Outcome::Complete {
                    status,
                    bytes_written: 0,
                },
            };
        }
        self.device.submit(request, output)
    }
    fn device(&self) -> &dyn AnyDevice {
        &self.device
    }
}

/// Open a `sim:` reader of host `H` with the card `slot` names (`empty`: no card
/// yet; its slot switch puts T=1 cards in); `name` is its device name (`sim:t1`),
/// its name in its vendor attributes.
pub fn open<H: Host>(slot: &SlotCard, name: &str, index: u32, log: ReaderLog) -> Arc<SimPort> {
    let card = slot.profile().map(new_card);
    let present = card.is_some();
    let line = SimLine::holding(card);
    let functions = ReaderFunctions {
        vendor_ioctl: Some(vendor::<H>),
        ..LineReader::functions_for::<SimReader>()
    };
    let driver = SimReader {
        reader: Box::new(LineReader::new(TracedLine::new(line, log)).with_t0_envelope()),
        keypad: ScriptedKeypad::new(),
    };
    let mut device = Device::new(
        StdPlatform::new(),
        functions,
        driver,
        ReaderCapabilities {
            channel: index as u16,
            ..ReaderCapabilities::typical()
        },
        VendorAttributes::readerkit(name.as_bytes(), index, b"SIM0001"),
    );
    device.set_pin_pad(pin_pad::<H>());
    if present {
        device.card_inserted();
    }
    Arc::new(SimPort {
        device,
        profile: slot.inserted_profile(),
    })
}

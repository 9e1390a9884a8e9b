//! A card pulled out while a T=1 command is on its way (as its block goes out, or
//! right after): the request fails, and the command (a VERIFY's PIN) is not left
//! behind in the line reader's T=1 engine, whose block buffer the device's `Debug`
//! shows.

use readerkit::Failure;
use readerkit::caps::ReaderCapabilities;
use readerkit::device::AtrBuffer;
use readerkit::line::{Framing, Line, LineReader, Reset};
use readerkit::timing::Timing;
use readerkit_card_sim::{Card, Profile, SimLine};
use readerkit_testkit::apdu::SELECT_MF;
use readerkit_testkit::client::{apdu, power_up, select};
use readerkit_testkit::sim::line_device;

/// When the card is taken out, relative to the next send.
#[derive(Debug, Clone, Copy)]
enum Pull {
    /// Before it: the send fails.
    BeforeSend,
    /// Right after it: the card got the bytes, nothing comes back.
    AfterSend,
}

/// The simulated card's line, whose card is taken out at the next send once
/// `pull` is set.
#[derive(Debug)]
struct Pulled {
    line: SimLine,
    pull: Option<Pull>,
}

impl Line for Pulled {
    fn reset(&mut self, reset: Reset, atr: &mut AtrBuffer) -> Result<(), Failure> {
        self.line.reset(reset, atr)
    }

    fn deactivate(&mut self) -> Result<(), Failure> {
        self.line.deactivate()
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        if let Some(Pull::BeforeSend) = self.pull {
            self.line.remove();
        }
        let sent = self.line.send(bytes);
        if let Some(Pull::AfterSend) = self.pull {
            self.line.remove();
        }
        sent
    }

    fn receive(&mut self, buf: &mut [u8], first_us: u32, next_us: u32) -> Result<usize, Failure> {
        self.line.receive(buf, first_us, next_us)
    }

    fn set_timing(&mut self, timing: Timing) -> Result<(), Failure> {
        self.line.set_timing(timing)
    }

    fn set_framing(&mut self, framing: Framing) -> Result<(), Failure> {
        self.line.set_framing(framing)
    }
}

#[test]
fn a_command_cut_off_by_a_removal_is_not_kept_in_the_t1_engine() {
    for pull in [Pull::BeforeSend, Pull::AfterSend] {
        cut_off(pull);
    }
}

fn cut_off(pull: Pull) {
    let line = Pulled {
        line: SimLine::holding(Some(Card::new(Profile::t1()))),
        pull: None,
    };
    let dev = line_device(LineReader::new(line), ReaderCapabilities::typical());
    dev.card_inserted();
    power_up(&dev).expect("power up");
    assert_eq!(select(&dev, 2), Ok(2), "T=1");
    // A first APDU: the IFSD announcement is behind, the next block out is the
    // VERIFY's I-block.
    assert_eq!(apdu(&dev, 2, &SELECT_MF), Ok(vec![0x90, 0x00]));

    dev.with_driver(|reader| reader.line_mut().pull = Some(pull));
    let verify = [
        0x00, 0x20, 0x00, 0x80, 0x08, 0x31, 0x32, 0x33, 0x34, 0xFF, 0xFF, 0xFF, 0xFF,
    ];
    let failed = apdu(&dev, 2, &verify);
    assert!(
        failed.is_err(),
        "{pull:?}: the card went mid-exchange: {failed:?}"
    );
    let shown = format!("{dev:?}");
    assert!(
        shown.contains("card: None"),
        "{pull:?}: the card is out: {shown}"
    );
    assert!(
        !shown.contains("49, 50, 51, 52"),
        "{pull:?}: the PIN in the device's state: {shown}"
    );
}

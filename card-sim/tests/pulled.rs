//! A card pulled out while a T=1 command is on its way: the request fails, and
//! the command (a VERIFY's PIN) is not left behind in the line reader's T=1
//! engine, whose block buffer the device's `Debug` shows.

use readerkit::Failure;
use readerkit::caps::ReaderCapabilities;
use readerkit::device::AtrBuffer;
use readerkit::line::{Framing, Line, LineReader, Reset};
use readerkit::timing::Timing;
use readerkit_card_sim::{Card, Profile, SimLine};
use readerkit_testkit::client::{apdu, power_up, select};
use readerkit_testkit::sim::line_device;

/// The simulated card's line, whose card is taken out right after the next
/// send once `pull` is set (the card got the bytes; nothing comes back).
#[derive(Debug)]
struct Pulled {
    line: SimLine,
    pull: bool,
}

impl Line for Pulled {
    fn reset(&mut self, reset: Reset, atr: &mut AtrBuffer) -> Result<(), Failure> {
        self.line.reset(reset, atr)
    }

    fn deactivate(&mut self) -> Result<(), Failure> {
        self.line.deactivate()
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        let sent = self.line.send(bytes);
        if self.pull {
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
    let line = Pulled {
        line: SimLine::holding(Some(Card::new(Profile::t1()))),
        pull: false,
    };
    let dev = line_device(LineReader::new(line), ReaderCapabilities::typical());
    dev.card_inserted();
    power_up(&dev).expect("power up");
    assert_eq!(select(&dev, 2), Ok(2), "T=1");
    // A first APDU: the IFSD announcement is behind, the next block out is the
    // VERIFY's I-block.
    let select_mf = [0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00];
    assert_eq!(apdu(&dev, 2, &select_mf), Ok(vec![0x90, 0x00]));

    dev.with_driver(|reader| reader.line_mut().pull = true);
    let verify = [
        0x00, 0x20, 0x00, 0x80, 0x08, 0x31, 0x32, 0x33, 0x34, 0xFF, 0xFF, 0xFF, 0xFF,
    ];
    let failed = apdu(&dev, 2, &verify);
    assert!(failed.is_err(), "the card went mid-exchange: {failed:?}");
    let shown = format!("{dev:?}");
    assert!(shown.contains("card: None"), "the card is out: {shown}");
    assert!(
        !shown.contains("49, 50, 51, 52"),
        "the PIN in the device's state: {shown}"
    );
}

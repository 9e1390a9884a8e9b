//! The simulated card as a [`readerkit::line::Line`]: what a UART and a card
//! interface chip would give a reader driver, with the card behind it.
//!
//! The simulation has no clock: a receive that finds fewer bytes than asked stands
//! for a time-out, whatever the time limit. A parity error the card signals makes
//! the line repeat the character (ISO/IEC 7816-3 7.3), at most
//! [`MAX_REPETITIONS`] times per character; after that the send fails with
//! [`Failure::DeviceProtocolError`]. An inverse-convention card is recognised from TS
//! (`03` on the wire) and decoded in both directions from then on.

use readerkit::device::AtrBuffer;
use readerkit::line::{Line, Reset};
use readerkit::status::Failure;
use readerkit::timing::Timing;

use crate::card::Card;
use readerkit::atr::invert_convention;

/// Repetitions of one character after parity errors before the line gives up.
pub const MAX_REPETITIONS: u32 = 3;

/// A card slot with (or without) a simulated card in it.
#[derive(Debug, Clone)]
pub struct SimLine<const N: usize = { crate::DEFAULT_CAPACITY }> {
    card: Option<Card<N>>,
    inverse: bool,
    timing: Option<Timing>,
}

impl<const N: usize> SimLine<N> {
    /// A slot holding `card`.
    pub fn new(card: Card<N>) -> SimLine<N> {
        SimLine {
            card: Some(card),
            inverse: false,
            timing: None,
        }
    }

    /// An empty slot.
    pub fn empty() -> SimLine<N> {
        SimLine {
            card: None,
            inverse: false,
            timing: None,
        }
    }

    /// A slot holding `card`, or an empty slot for `None`.
    pub fn holding(card: Option<Card<N>>) -> SimLine<N> {
        match card {
            Some(card) => SimLine::new(card),
            None => SimLine::empty(),
        }
    }

    /// Put a card in the slot (replacing any).
    pub fn insert(&mut self, card: Card<N>) {
        self.card = Some(card);
        self.inverse = false;
        self.timing = None;
    }

    /// Take the card out; the line then answers [`Failure::NoMedia`].
    pub fn remove(&mut self) -> Option<Card<N>> {
        self.timing = None;
        self.card.take()
    }

    /// The card in the slot.
    pub fn card(&self) -> Option<&Card<N>> {
        self.card.as_ref()
    }

    /// The card in the slot, mutably (to switch faults on, say).
    pub fn card_mut(&mut self) -> Option<&mut Card<N>> {
        self.card.as_mut()
    }

    /// The parameters the reader last set with [`Line::set_timing`] since the last
    /// reset (`None`: the defaults).
    pub fn timing(&self) -> Option<Timing> {
        self.timing
    }

    fn present(&mut self) -> Result<&mut Card<N>, Failure> {
        self.card.as_mut().ok_or(Failure::NoMedia)
    }
}

impl<const N: usize> Line for SimLine<N> {
    fn reset(&mut self, reset: Reset, atr: &mut AtrBuffer) -> Result<(), Failure> {
        self.timing = None;
        self.inverse = false;
        let card = self.present()?;
        match reset {
            Reset::Cold => card.cold_reset(),
            Reset::Warm => card.warm_reset(),
        }
        let mut buf = [0u8; 33];
        let n = card.read(&mut buf);
        if n == 0 {
            // A mute card: no ATR within the initial waiting time.
            return Err(Failure::IoTimeout);
        }
        atr.clear();
        atr.extend_from_slice(&buf[..n])
            .map_err(|_| Failure::UnrecognizedMedia)?;
        self.inverse = buf[0] == readerkit::atr::TS_INVERSE_RAW;
        Ok(())
    }

    fn deactivate(&mut self) -> Result<(), Failure> {
        self.timing = None;
        if let Some(card) = self.card.as_mut() {
            card.power_off();
        }
        Ok(())
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        let inverse_convention = self.inverse;
        let card = self.present()?;
        let mut encoded = [0u8; 64];
        for chunk in bytes.chunks(encoded.len()) {
            let out = &mut encoded[..chunk.len()];
            for (o, &b) in out.iter_mut().zip(chunk) {
                *o = if inverse_convention {
                    invert_convention(b)
                } else {
                    b
                };
            }
            let mut from = 0;
            let mut repetitions = 0;
            while from < out.len() {
                match card.write(&out[from..]) {
                    Ok(()) => break,
                    Err(parity) => {
                        repetitions += 1;
                        if repetitions > MAX_REPETITIONS {
                            return Err(Failure::DeviceProtocolError);
                        }
                        from += parity.accepted;
                    }
                }
            }
        }
        Ok(())
    }

    fn receive(&mut self, buf: &mut [u8], _first_us: u32, _next_us: u32) -> Result<usize, Failure> {
        let inverse_convention = self.inverse;
        let card = self.present()?;
        let n = card.read(buf);
        if inverse_convention {
            for b in &mut buf[..n] {
                *b = invert_convention(*b);
            }
        }
        Ok(n)
    }

    fn set_timing(&mut self, timing: Timing) -> Result<(), Failure> {
        self.present()?;
        self.timing = Some(timing);
        Ok(())
    }
}

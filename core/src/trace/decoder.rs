//! The decoder: which protocol the bytes on the line belong to, and where one
//! message ends.

use super::event::{Direction, Event, T0Procedure};
use super::{Level, Sink};
use crate::atr::Atr;
use crate::line::{Framing, Reset};
use crate::protocol::Protocol;
use crate::status::Failure;
use crate::t1::Edc;
use crate::timing::Timing;

/// Largest valid T=1 block: prologue, 254 bytes of INF, two bytes of CRC.
const BLOCK_MAX: usize = crate::t1::MAX_BLOCK_LEN;
/// Largest PPS message.
const PPS_MAX: usize = crate::pps::MAX_LEN;

/// Where the T=0 exchange is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum T0State {
    /// The next bytes sent are a header.
    Header,
    /// Procedure bytes expected after the header INS.
    Procedure { ins: u8 },
    /// ACK: data follows, either way, then procedure bytes again.
    Data { ins: u8, left: usize },
    /// SW2 expected after SW1.
    Sw2 { sw1: u8 },
}

/// Where the line is, as far as the trace can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reset just happened: a PPS may follow.
    AfterReset,
    /// A PPS request went out; its answer is being collected.
    PpsAnswer,
    /// T=0 in force.
    T0(T0State),
    /// T=1 in force with this EDC.
    T1(Edc),
    /// Nothing to decode (deactivated, or unknown).
    Raw,
}

/// Decodes the calls on a line into [`Event`]s; [`super::TracedLine`] drives it, a
/// driver that does its own I/O can too. Holds one T=1 block (259 bytes), no
/// allocation.
#[derive(Debug, Clone)]
pub struct Decoder {
    phase: Phase,
    /// EDC the ATR announced (used when T=1 is established).
    edc: Edc,
    /// A T=1 block or PPS answer being collected across receive calls.
    pending: heapless::Vec<u8, BLOCK_MAX>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

fn emit<S: Sink + ?Sized>(sink: &mut S, event: Event<'_>) {
    if sink.enabled(event.level()) {
        sink.event(&event);
    }
}

impl Decoder {
    /// A decoder that has seen nothing yet.
    pub const fn new() -> Decoder {
        Decoder {
            phase: Phase::Raw,
            edc: Edc::Lrc,
            pending: heapless::Vec::new(),
        }
    }

    /// A reset returned `result`, with `atr` in the buffer.
    pub fn reset<S: Sink + ?Sized>(
        &mut self,
        sink: &mut S,
        reset: Reset,
        result: Result<&[u8], Failure>,
    ) {
        self.pending.clear();
        match result {
            Ok(bytes) => {
                self.edc = Atr::parse(bytes).map_or(Edc::Lrc, |atr| atr.parameters().edc);
                self.phase = Phase::AfterReset;
                emit(sink, Event::Atr { reset, bytes });
            }
            Err(status) => {
                self.phase = Phase::Raw;
                emit(sink, Event::ResetFailed { reset, status });
            }
        }
    }

    /// The contacts were deactivated.
    pub fn deactivated<S: Sink + ?Sized>(&mut self, sink: &mut S) {
        self.phase = Phase::Raw;
        self.pending.clear();
        emit(sink, Event::Deactivated);
    }

    /// The line switched to `timing`.
    pub fn timing<S: Sink + ?Sized>(&mut self, sink: &mut S, timing: Timing) {
        emit(sink, Event::Timing(timing));
    }

    /// A protocol was established with `framing`, or (no protocol in it) the
    /// guard time set for the PPS exchange, which leaves the phase as it is.
    pub fn framing<S: Sink + ?Sized>(&mut self, sink: &mut S, framing: Framing) {
        if let Some(protocol) = framing.protocol {
            self.pending.clear();
            self.phase = match protocol {
                Protocol::T0 => Phase::T0(T0State::Header),
                Protocol::T1 => Phase::T1(self.edc),
                Protocol::Raw => Phase::Raw,
            };
        }
        emit(sink, Event::Framing(framing));
    }

    /// A line call failed.
    pub fn error<S: Sink + ?Sized>(&mut self, sink: &mut S, status: Failure) {
        emit(sink, Event::LineError(status));
    }

    /// `bytes` went to the card.
    pub fn sent<S: Sink + ?Sized>(&mut self, sink: &mut S, bytes: &[u8]) {
        let direction = Direction::ToCard;
        match self.phase {
            Phase::AfterReset | Phase::PpsAnswer if bytes.first() == Some(&crate::pps::PPSS) => {
                self.phase = Phase::PpsAnswer;
                self.pending.clear();
                emit(sink, Event::Pps { direction, bytes });
            }
            Phase::T0(T0State::Header) | Phase::T0(T0State::Procedure { .. })
                if bytes.len() == crate::t0::HEADER_LEN =>
            {
                let ins = bytes[1];
                self.phase = Phase::T0(T0State::Procedure { ins });
                emit(sink, Event::T0Header(bytes));
            }
            Phase::T0(T0State::Data { ins, .. }) => {
                // The reader sends what the ACK asked for in one go.
                self.phase = Phase::T0(T0State::Procedure { ins });
                emit(sink, Event::T0Data { direction, bytes });
            }
            Phase::T1(edc) => emit(
                sink,
                Event::T1Block {
                    direction,
                    bytes,
                    edc,
                },
            ),
            _ => emit(sink, Event::Bytes { direction, bytes }),
        }
    }

    /// Nothing arrived within `first_us` µs.
    pub fn timeout<S: Sink + ?Sized>(&mut self, sink: &mut S, first_us: u32) {
        self.flush(sink);
        emit(sink, Event::Timeout { first_us });
    }

    /// `bytes` came from the card in answer to a receive call for `asked` bytes
    /// (fewer than asked: the time ran out).
    pub fn received<S: Sink + ?Sized>(&mut self, sink: &mut S, bytes: &[u8], asked: usize) {
        let direction = Direction::FromCard;
        match self.phase {
            Phase::PpsAnswer => {
                self.collect(bytes);
                let need = self.pps_len();
                if self.pending.len() >= need || bytes.len() < asked {
                    let end = self.pending.len().min(PPS_MAX);
                    let bytes = &self.pending[..end];
                    emit(sink, Event::Pps { direction, bytes });
                    self.pending.clear();
                    self.phase = Phase::Raw;
                }
            }
            Phase::T0(state) => self.t0_received(sink, state, bytes),
            Phase::T1(edc) => {
                let overflow = self.collect(bytes);
                let need = self.block_len(edc);
                if self.pending.len() >= need || bytes.len() < asked || overflow {
                    emit(
                        sink,
                        Event::T1Block {
                            direction,
                            bytes: &self.pending,
                            edc,
                        },
                    );
                    self.pending.clear();
                }
            }
            Phase::AfterReset | Phase::Raw => emit(sink, Event::Bytes { direction, bytes }),
        }
    }

    fn t0_received<S: Sink + ?Sized>(&mut self, sink: &mut S, state: T0State, bytes: &[u8]) {
        let direction = Direction::FromCard;
        let mut state = state;
        let mut rest = bytes;
        while let Some((&b, tail)) = rest.split_first() {
            state = match state {
                T0State::Header => {
                    emit(
                        sink,
                        Event::Bytes {
                            direction,
                            bytes: rest,
                        },
                    );
                    rest = &[];
                    T0State::Header
                }
                T0State::Procedure { ins } => {
                    rest = tail;
                    let procedure = T0Procedure::of(b, ins);
                    emit(sink, Event::T0Procedure(procedure));
                    match procedure {
                        T0Procedure::Null => T0State::Procedure { ins },
                        T0Procedure::Ack(_) => T0State::Data {
                            ins,
                            left: usize::MAX,
                        },
                        T0Procedure::AckOne(_) => T0State::Data { ins, left: 1 },
                        T0Procedure::Sw1(sw1) => T0State::Sw2 { sw1 },
                        T0Procedure::Invalid(_) => T0State::Header,
                    }
                }
                T0State::Data { ins, left } => {
                    // A data burst: the receive call that follows an ACK.
                    let take = rest.len().min(left);
                    let (data, after) = rest.split_at(take);
                    rest = after;
                    emit(
                        sink,
                        Event::T0Data {
                            direction,
                            bytes: data,
                        },
                    );
                    T0State::Procedure { ins }
                }
                T0State::Sw2 { sw1 } => {
                    rest = tail;
                    emit(sink, Event::T0Status(sw1, b));
                    T0State::Header
                }
            };
        }
        self.phase = Phase::T0(state);
    }

    /// Append to the pending message; returns whether bytes had to be dropped.
    fn collect(&mut self, bytes: &[u8]) -> bool {
        let room = BLOCK_MAX - self.pending.len();
        let (fits, dropped) = bytes.split_at(bytes.len().min(room));
        self.pending.extend_from_slice(fits).is_err() || !dropped.is_empty()
    }

    /// Length of the PPS message being collected, from PPS0 (the shortest until it
    /// is seen).
    fn pps_len(&self) -> usize {
        match self.pending.get(1) {
            Some(&pps0) => crate::pps::message_len(pps0),
            _ => crate::pps::MIN_LEN,
        }
    }

    /// Length of the T=1 block being collected, from LEN (the prologue until it is
    /// seen).
    fn block_len(&self, edc: Edc) -> usize {
        if self.pending.len() >= crate::t1::PROLOGUE_LEN {
            crate::t1::block_len(self.pending[2], edc)
        } else {
            crate::t1::PROLOGUE_LEN
        }
    }

    /// Show what was collected but not complete.
    fn flush<S: Sink + ?Sized>(&mut self, sink: &mut S) {
        if !self.pending.is_empty() {
            emit(
                sink,
                Event::Bytes {
                    direction: Direction::FromCard,
                    bytes: &self.pending,
                },
            );
            self.pending.clear();
        }
    }

    /// Whether `sink` wants line events at all (callers may skip the decoder).
    pub fn wanted<S: Sink + ?Sized>(sink: &S) -> bool {
        sink.enabled(Level::Trace) || sink.enabled(Level::Debug)
    }
}

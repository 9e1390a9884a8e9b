//! Fault injection: switches that make the card misbehave in precise, repeatable ways.
//!
//! Every "Nth" counts from 1 and restarts at every reset (cold or warm) and at every
//! [`Card::set_faults`](crate::card::Card::set_faults). What is counted:
//!
//! * *blocks sent*: every T=1 block the card sends (I, R or S, retransmissions
//!   included);
//! * *answers*: every command the card answers: over T=1 every complete command APDU
//!   received, over T=0 every 5-byte header received (GET RESPONSE included);
//! * *characters received*: every byte written to the card after the ATR (PPS
//!   included), a rejected character and its repetition counting twice.

/// When a one-shot fault fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Trigger {
    /// Never.
    #[default]
    Off,
    /// On the Nth event only (1-based; `Nth(0)` never fires).
    Nth(u32),
    /// On every event.
    Every,
}

impl Trigger {
    /// Whether the fault fires on event number `count` (1-based).
    pub const fn fires(self, count: u32) -> bool {
        match self {
            Trigger::Off => false,
            Trigger::Nth(n) => n == count,
            Trigger::Every => true,
        }
    }
}

/// A card that stops talking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mute {
    /// The card answers normally.
    #[default]
    Never,
    /// The card does not even send its ATR.
    Always,
    /// The card answers this many commands (see "answers" in the module
    /// documentation), then sends nothing at all, not even T=1 R- or S-blocks, until
    /// the next reset. The fault stays set: the answer count restarts at every reset,
    /// so after a reset the card again answers this many commands before falling
    /// silent (switch it off with [`Card::set_faults`](crate::Card::set_faults)).
    AfterAnswers(u32),
}

/// Waiting time extension requested by the card before an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Wtx {
    /// Before which answers.
    pub answer: Trigger,
    /// T=1: the multiplier in the S(WTX request) INF field (1 to 255).
    pub multiplier: u8,
    /// How many requests in a row: T=1 S(WTX request) blocks (each answered by the
    /// reader's S(WTX response) before the next one or the answer is sent); T=0 NULL
    /// procedure bytes (`60`) before the first procedure byte of the answer.
    pub count: u8,
}

/// An S(IFS request) sent by the card before an answer, announcing a new IFSC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IfsRequest {
    /// Before which answers (T=1 only).
    pub answer: Trigger,
    /// The new IFSC (1 to 254). The card uses it once the reader has answered with
    /// the matching S(IFS response).
    pub ifsc: u8,
}

/// How a T=0 card asks for the data of a command (ISO/IEC 7816-3:2006 10.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum T0Procedure {
    /// ACK = INS: all remaining data bytes at once.
    #[default]
    Ack,
    /// ACK = INS ⊕ FF before every single data byte, in both directions.
    OneByteAtATime,
}

/// All fault switches. `Faults::default()` is a well-behaved card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Faults {
    /// T=1: the selected block sent has its last EDC byte's low bit flipped (the
    /// card keeps a correct copy for retransmission).
    pub corrupt_edc: Trigger,
    /// T=1: the selected block sent lacks its last byte (the reader must notice it
    /// with the character waiting time).
    pub drop_byte: Trigger,
    /// T=1: the selected block sent carries the wrong sequence number: N(S) flipped
    /// in an I-block, N(R) flipped in an R-block (EDC recomputed, so the block is
    /// otherwise valid); S-blocks are unaffected. Retransmissions are correct.
    pub wrong_sequence: Trigger,
    /// Waiting time extension before selected answers (T=1 S(WTX), T=0 NULL bytes).
    pub wtx: Option<Wtx>,
    /// T=1: the card sends an S(IFS request) before selected answers.
    pub ifs_request: Option<IfsRequest>,
    /// A mute card.
    pub mute: Mute,
    /// A parity error on the selected received character. Over T=0 (and during PPS
    /// when T=0 is the default protocol) the card signals it (ISO/IEC 7816-3:2006
    /// 7.3): [`Card::write`](crate::card::Card::write) returns
    /// [`ParityError`](crate::card::ParityError), the character is discarded and the
    /// reader must repeat it. Over T=1 there is no error signal: the character is
    /// kept but its block is invalid, and the card answers an R-block with the
    /// EDC/parity error bit.
    pub parity_error: Trigger,
    /// T=0: at most this many data bytes per GET RESPONSE (announced in 61xx), so
    /// long answers come in many parts. `None`: up to 256 bytes. `Some(0)` is
    /// treated as `Some(1)`.
    pub t0_get_response_max: Option<u8>,
    /// T=0: how the card acknowledges data transfers.
    pub t0_procedure: T0Procedure,
    /// T=0: this many NULL bytes (`60`) before the first procedure byte or status
    /// word of every answer (a slow card).
    pub t0_null_bytes: u8,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers() {
        assert!(!Trigger::Off.fires(1));
        assert!(Trigger::Nth(3).fires(3));
        assert!(!Trigger::Nth(3).fires(2));
        assert!(!Trigger::Nth(0).fires(1));
        assert!(Trigger::Every.fires(7));
    }
}

//! The T=1 block on the wire: a checked view ([`Block`]) over untrusted bytes and the
//! validated meaning of a block ([`Repr`]), which also emits blocks.

use core::fmt;

use super::edc::Edc;

// Independent of card-sim/src/card/t1.rs on purpose: the simulated card must not share the reader's code, so that its tests mean something.
/// Length of the prologue field (NAD, PCB, LEN), in bytes.
pub const PROLOGUE_LEN: usize = 3;
/// Largest information field of any block, in bytes (IFSC and IFSD are at most 254).
pub const MAX_INF_LEN: usize = 254;
/// Largest block, in bytes: prologue + 254 bytes of INF + a 2-byte CRC.
pub const MAX_BLOCK_LEN: usize = PROLOGUE_LEN + MAX_INF_LEN + 2;

/// Whether `n` bytes is a valid information field size, IFSC or IFSD: 1 to 254
/// (ISO/IEC 7816-3:2006 11.4.2; 0 and 255 are reserved), wherever it comes from
/// (TA3 of the ATR, an S(IFS) block, a configuration).
pub const fn is_valid_ifs(n: u8) -> bool {
    n != 0 && n as usize <= MAX_INF_LEN
}

/// `n` bytes brought into the valid information field sizes, 1 to 254.
pub const fn clamp_ifs(n: u8) -> u8 {
    match n {
        0 => 1,
        n if n as usize > MAX_INF_LEN => MAX_INF_LEN as u8,
        n => n,
    }
}

/// Length of the whole block whose LEN field is `len` under `edc`, in bytes: what a
/// reader has to read once it has the prologue.
pub const fn block_len(len: u8, edc: Edc) -> usize {
    len_with_inf(len as usize, edc)
}

/// Length of a block with an information field of `inf_len` bytes under `edc`, in
/// bytes: the one formula, for any length (a [`Repr`]'s INF may be longer than LEN
/// can say, which [`Repr::emit`] then refuses).
const fn len_with_inf(inf_len: usize, edc: Edc) -> usize {
    PROLOGUE_LEN + inf_len + edc.epilogue_len()
}

// The PCB's coding (ISO/IEC 7816-3:2006 11.3.2.2), bit 8 being 0x80.
/// PCB bits 8 and 7 of an S-block (bit 8 clear: an I-block).
const PCB_S: u8 = 0xC0;
/// PCB bits 8 and 7 of an R-block.
const PCB_R: u8 = 0x80;
/// The PCB bits that tell the block's type: 8 and 7.
const PCB_TYPE_MASK: u8 = 0xC0;
/// I-block, bit 7: the send-sequence number N(S).
const PCB_I_NS: u8 = 0x40;
/// I-block, bit 6: the more-data bit M (another block of the chain follows).
const PCB_I_MORE: u8 = 0x20;
/// R-block, bit 5: N(R), the sequence number of the I-block expected next.
const PCB_R_NR: u8 = 0x10;
/// S-block, bit 6: set in a response, clear in a request.
const PCB_S_RESPONSE: u8 = 0x20;

/// Why bytes are not a valid T=1 block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BlockError {
    /// Fewer bytes than a prologue and a 1-byte epilogue (4 bytes).
    Truncated,
    /// LEN is 255 (reserved) or disagrees with the number of bytes received.
    Length,
    /// The epilogue does not match the block (EDC or parity error).
    Edc,
    /// The PCB has a reserved coding (R-block with b6 set or an unknown error code,
    /// unknown S-block type).
    Pcb,
    /// The information field does not suit the block type (for example an S(IFS) block
    /// without exactly one byte, an IFS of 0 or 255, a WTX multiplier of 0).
    Inf,
    /// The caller's buffer is too small to emit the block into.
    BufferTooSmall,
}

impl BlockError {
    /// `true` for errors of the transmission itself (EDC or parity), which ISO/IEC
    /// 7816-3 answers with an R-block coded "EDC or parity error"; every other error is
    /// answered with "other error".
    pub const fn is_edc(self) -> bool {
        matches!(self, BlockError::Edc)
    }
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BlockError::Truncated => "T=1 block shorter than 4 bytes",
            BlockError::Length => "T=1 block length field invalid",
            BlockError::Edc => "T=1 block EDC mismatch",
            BlockError::Pcb => "T=1 block with reserved PCB",
            BlockError::Inf => "T=1 block information field invalid for its type",
            BlockError::BufferTooSmall => "buffer too small for T=1 block",
        })
    }
}

impl core::error::Error for BlockError {}

/// A checked view of a T=1 block in a byte buffer.
///
/// A block is (ISO/IEC 7816-3:2006 clause 11.3):
///
/// | field | bytes | content |
/// | --- | --- | --- |
/// | NAD | 1 | node address: destination (b7–b5) and source (b3–b1) |
/// | PCB | 1 | protocol control byte: the block type and its parameters |
/// | LEN | 1 | length of INF, 0 to 254 (255 is reserved) |
/// | INF | LEN | information field |
/// | EDC | 1 or 2 | LRC or CRC over NAD to INF (see [`Edc`]) |
///
/// PCB coding:
///
/// | block | b8 b7 | rest |
/// | --- | --- | --- |
/// | I | `0` N(S) | b6 = M (more data follows, chaining), b5–b1 reserved |
/// | R | `1 0` | b6 = 0, b5 = N(R), b4–b1 = 0 no error, 1 EDC or parity error, 2 other error |
/// | S | `1 1` | b6 = response, b5–b1 = 0 RESYNCH, 1 IFS, 2 ABORT, 3 WTX |
///
/// [`Block::new_checked`] guarantees that the accessors never panic: the buffer holds
/// a prologue, exactly LEN information bytes and a 1- or 2-byte epilogue. It does not
/// check the EDC or the PCB; [`Repr::parse`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Block<T> {
    /// Check the framing of `buffer`: at least 4 bytes, LEN ≠ 255, and
    /// `buffer.len()` = 3 + LEN + 1 or 3 + LEN + 2 (LRC or CRC epilogue).
    pub fn new_checked(buffer: T) -> Result<Block<T>, BlockError> {
        let bytes = buffer.as_ref();
        let len = match bytes.get(2) {
            Some(&len) if bytes.len() > PROLOGUE_LEN => len,
            _ => return Err(BlockError::Truncated),
        };
        if usize::from(len) > MAX_INF_LEN {
            return Err(BlockError::Length);
        }
        let body = PROLOGUE_LEN + usize::from(len);
        match bytes.len().checked_sub(body) {
            Some(1 | 2) => Ok(Block { buffer }),
            _ => Err(BlockError::Length),
        }
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The node address byte (NAD).
    pub fn nad(&self) -> u8 {
        self.bytes().first().copied().unwrap_or(0)
    }

    /// The protocol control byte (PCB).
    pub fn pcb(&self) -> u8 {
        self.bytes().get(1).copied().unwrap_or(0)
    }

    /// The length of the information field (LEN), in bytes.
    pub fn len_field(&self) -> u8 {
        self.bytes().get(2).copied().unwrap_or(0)
    }

    /// The information field (INF).
    pub fn inf(&self) -> &[u8] {
        let end = PROLOGUE_LEN + usize::from(self.len_field());
        self.bytes().get(PROLOGUE_LEN..end).unwrap_or(&[])
    }

    /// The prologue and information field: the bytes the EDC covers.
    pub fn covered(&self) -> &[u8] {
        let end = PROLOGUE_LEN + usize::from(self.len_field());
        self.bytes().get(..end).unwrap_or(&[])
    }

    /// The epilogue field (EDC), 1 or 2 bytes.
    pub fn epilogue(&self) -> &[u8] {
        let start = PROLOGUE_LEN + usize::from(self.len_field());
        self.bytes().get(start..).unwrap_or(&[])
    }

    /// `true` if the epilogue is the `edc` code of the block (and has its length).
    pub fn verify_edc(&self, edc: Edc) -> bool {
        edc.verify(self.covered(), self.epilogue())
    }
}

/// A sequence number, N(S) of an I-block or N(R) of an R-block: 0 or 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Seq {
    /// Sequence number 0 (the first I-block after the ATR or a resynchronisation).
    #[default]
    Zero,
    /// Sequence number 1.
    One,
}

impl Seq {
    /// The other sequence number (they count modulo 2).
    #[must_use]
    pub const fn next(self) -> Seq {
        match self {
            Seq::Zero => Seq::One,
            Seq::One => Seq::Zero,
        }
    }

    const fn from_bit(set: bool) -> Seq {
        if set { Seq::One } else { Seq::Zero }
    }

    const fn bit(self, mask: u8) -> u8 {
        match self {
            Seq::Zero => 0,
            Seq::One => mask,
        }
    }
}

/// The error indication of an R-block (PCB b4–b1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RCode {
    /// Error-free acknowledgement (0).
    Ok,
    /// EDC or parity error in the last block received (1).
    Edc,
    /// Any other error in the last block received (2).
    Other,
}

impl RCode {
    const fn bits(self) -> u8 {
        match self {
            RCode::Ok => 0,
            RCode::Edc => 1,
            RCode::Other => 2,
        }
    }
}

/// An S-block (supervisory block) with its parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SBlock {
    /// S(RESYNCH request), PCB C0: reset the sequence numbers (interface device only).
    ResynchRequest,
    /// S(RESYNCH response), PCB E0.
    ResynchResponse,
    /// S(IFS request), PCB C1: the sender's new maximum information field size
    /// (1 to 254 bytes).
    IfsRequest(u8),
    /// S(IFS response), PCB E1, repeating the size of the request.
    IfsResponse(u8),
    /// S(ABORT request), PCB C2: abort the chain in progress.
    AbortRequest,
    /// S(ABORT response), PCB E2.
    AbortResponse,
    /// S(WTX request), PCB C3: the card asks for a block waiting time of BWT multiplied
    /// by the factor (1 to 255) for the next block.
    WtxRequest(u8),
    /// S(WTX response), PCB E3, repeating the factor of the request.
    WtxResponse(u8),
}

impl SBlock {
    /// The response to this request (`None` for a response).
    pub const fn response(self) -> Option<SBlock> {
        match self {
            SBlock::ResynchRequest => Some(SBlock::ResynchResponse),
            SBlock::IfsRequest(n) => Some(SBlock::IfsResponse(n)),
            SBlock::AbortRequest => Some(SBlock::AbortResponse),
            SBlock::WtxRequest(n) => Some(SBlock::WtxResponse(n)),
            _ => None,
        }
    }

    const fn pcb_and_param(self) -> (u8, Option<u8>) {
        match self {
            SBlock::ResynchRequest => (PCB_S, None),
            SBlock::ResynchResponse => (PCB_S | PCB_S_RESPONSE, None),
            SBlock::IfsRequest(n) => (PCB_S | 1, Some(n)),
            SBlock::IfsResponse(n) => (PCB_S | PCB_S_RESPONSE | 1, Some(n)),
            SBlock::AbortRequest => (PCB_S | 2, None),
            SBlock::AbortResponse => (PCB_S | PCB_S_RESPONSE | 2, None),
            SBlock::WtxRequest(n) => (PCB_S | 3, Some(n)),
            SBlock::WtxResponse(n) => (PCB_S | PCB_S_RESPONSE | 3, Some(n)),
        }
    }

    fn parse(pcb: u8, inf: &[u8]) -> Result<SBlock, BlockError> {
        let response = pcb & PCB_S_RESPONSE != 0;
        match (pcb & 0x1F, inf) {
            (0, []) => Ok(if response {
                SBlock::ResynchResponse
            } else {
                SBlock::ResynchRequest
            }),
            (2, []) => Ok(if response {
                SBlock::AbortResponse
            } else {
                SBlock::AbortRequest
            }),
            (1, &[n]) if is_valid_ifs(n) => Ok(if response {
                SBlock::IfsResponse(n)
            } else {
                SBlock::IfsRequest(n)
            }),
            (3, &[n]) if n != 0 => Ok(if response {
                SBlock::WtxResponse(n)
            } else {
                SBlock::WtxRequest(n)
            }),
            (0..=3, _) => Err(BlockError::Inf),
            _ => Err(BlockError::Pcb),
        }
    }
}

/// What a block says, by type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind<'a> {
    /// Information block: N(S), the more-data bit M and up to 254 bytes of APDU.
    I {
        /// Send sequence number N(S).
        ns: Seq,
        /// More-data bit: another I-block of the same chain follows.
        more: bool,
        /// The information field, 0 to 254 bytes.
        inf: &'a [u8],
    },
    /// Receive-ready block: acknowledges (or asks again for) an I-block.
    R {
        /// N(R): the N(S) of the I-block the sender expects next.
        nr: Seq,
        /// The error indication.
        code: RCode,
    },
    /// Supervisory block.
    S(SBlock),
}

/// The validated meaning of a T=1 block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr<'a> {
    /// The node address byte, as on the wire.
    pub nad: u8,
    /// The block type and its parameters.
    pub kind: Kind<'a>,
}

impl<'a> Repr<'a> {
    /// Validate a checked block: the epilogue against `edc` (an epilogue of the wrong
    /// length is an EDC error), then the PCB coding and the INF length for its type.
    pub fn parse(block: &Block<&'a [u8]>, edc: Edc) -> Result<Repr<'a>, BlockError> {
        if !block.verify_edc(edc) {
            return Err(BlockError::Edc);
        }
        let pcb = block.pcb();
        let inf: &'a [u8] = {
            let bytes: &'a [u8] = block.buffer;
            let end = PROLOGUE_LEN + usize::from(block.len_field());
            bytes.get(PROLOGUE_LEN..end).ok_or(BlockError::Length)?
        };
        let kind = match pcb & PCB_TYPE_MASK {
            PCB_S => Kind::S(SBlock::parse(pcb, inf)?),
            PCB_R => {
                if !inf.is_empty() {
                    return Err(BlockError::Inf);
                }
                let code = match pcb & 0x2F {
                    0 => RCode::Ok,
                    1 => RCode::Edc,
                    2 => RCode::Other,
                    _ => return Err(BlockError::Pcb),
                };
                Kind::R {
                    nr: Seq::from_bit(pcb & PCB_R_NR != 0),
                    code,
                }
            }
            // b8 = 0: I-block; b5–b1 are reserved and ignored on reception.
            _ => Kind::I {
                ns: Seq::from_bit(pcb & PCB_I_NS != 0),
                more: pcb & PCB_I_MORE != 0,
                inf,
            },
        };
        Ok(Repr {
            nad: block.nad(),
            kind,
        })
    }

    /// Frame and parse `bytes` in one step: [`Block::new_checked`] then [`Repr::parse`].
    pub fn parse_bytes(bytes: &'a [u8], edc: Edc) -> Result<Repr<'a>, BlockError> {
        Repr::parse(&Block::new_checked(bytes)?, edc)
    }

    /// The PCB of this block.
    pub fn pcb(&self) -> u8 {
        match self.kind {
            Kind::I { ns, more, .. } => ns.bit(PCB_I_NS) | if more { PCB_I_MORE } else { 0 },
            Kind::R { nr, code } => PCB_R | nr.bit(PCB_R_NR) | code.bits(),
            Kind::S(s) => s.pcb_and_param().0,
        }
    }

    fn inf_len(&self) -> usize {
        match self.kind {
            Kind::I { inf, .. } => inf.len(),
            Kind::R { .. } => 0,
            Kind::S(s) => match s.pcb_and_param().1 {
                Some(_) => 1,
                None => 0,
            },
        }
    }

    /// The length of the emitted block with `edc`, in bytes (4 to 259 for a block
    /// [`Repr::emit`] accepts).
    pub fn buffer_len(&self, edc: Edc) -> usize {
        len_with_inf(self.inf_len(), edc)
    }

    /// Write the block, with its epilogue, to the start of `buffer`; returns its length
    /// in bytes. Fails if the information field is longer than 254 bytes or `buffer`
    /// too short; `buffer` is then untouched.
    pub fn emit(&self, buffer: &mut [u8], edc: Edc) -> Result<usize, BlockError> {
        let inf_len = self.inf_len();
        let Ok(len) = u8::try_from(inf_len) else {
            return Err(BlockError::Inf);
        };
        if inf_len > MAX_INF_LEN {
            return Err(BlockError::Inf);
        }
        let total = self.buffer_len(edc);
        let body = PROLOGUE_LEN + inf_len;
        let out = buffer.get_mut(..total).ok_or(BlockError::BufferTooSmall)?;
        let (covered, epilogue) = out.split_at_mut(body);
        let (prologue, inf_out) = covered.split_at_mut(PROLOGUE_LEN);
        prologue.copy_from_slice(&[self.nad, self.pcb(), len]);
        match self.kind {
            Kind::I { inf, .. } => inf_out.copy_from_slice(inf),
            Kind::R { .. } => {}
            Kind::S(s) => {
                if let Some(param) = s.pcb_and_param().1 {
                    inf_out.copy_from_slice(&[param]);
                }
            }
        }
        let code = edc.compute(covered);
        epilogue.copy_from_slice(code.get(..edc.epilogue_len()).unwrap_or(&[]));
        Ok(total)
    }
}

/// Trace form, as protocol analysers write blocks: `I(N(S)=0, M=1) 254 bytes`,
/// `R(N(R)=1, EDC error)`, `S(WTX request, 3)`; a NAD other than 0 is appended.
impl fmt::Display for Repr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bit = |seq: Seq| seq.bit(1);
        match self.kind {
            Kind::I { ns, more, inf } => write!(
                f,
                "I(N(S)={}, M={}) {} bytes",
                bit(ns),
                u8::from(more),
                inf.len()
            )?,
            Kind::R { nr, code } => write!(f, "R(N(R)={}{})", bit(nr), code)?,
            Kind::S(s) => write!(f, "S({s})")?,
        }
        if self.nad != 0 {
            write!(f, " NAD {:02X}", self.nad)?;
        }
        Ok(())
    }
}

impl fmt::Display for RCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RCode::Ok => "",
            RCode::Edc => ", EDC error",
            RCode::Other => ", other error",
        })
    }
}

impl fmt::Display for SBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SBlock::ResynchRequest => f.write_str("RESYNCH request"),
            SBlock::ResynchResponse => f.write_str("RESYNCH response"),
            SBlock::IfsRequest(n) => write!(f, "IFS request, {n}"),
            SBlock::IfsResponse(n) => write!(f, "IFS response, {n}"),
            SBlock::AbortRequest => f.write_str("ABORT request"),
            SBlock::AbortResponse => f.write_str("ABORT response"),
            SBlock::WtxRequest(n) => write!(f, "WTX request, {n}"),
            SBlock::WtxResponse(n) => write!(f, "WTX response, {n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emit(repr: Repr<'_>, edc: Edc) -> std::vec::Vec<u8> {
        let mut buf = [0u8; MAX_BLOCK_LEN];
        let n = repr.emit(&mut buf, edc).unwrap();
        assert_eq!(n, repr.buffer_len(edc));
        buf[..n].to_vec()
    }

    #[test]
    fn ifs_sizes_are_1_to_254() {
        for n in 0..=u8::MAX {
            assert_eq!(is_valid_ifs(n), (1..=254).contains(&n), "{n}");
            assert!(is_valid_ifs(clamp_ifs(n)), "{n}");
            if is_valid_ifs(n) {
                assert_eq!(clamp_ifs(n), n);
            }
        }
        assert_eq!((clamp_ifs(0), clamp_ifs(255)), (1, 254));
    }

    #[test]
    fn block_len_is_what_emit_writes() {
        let ifs = Repr {
            nad: 0,
            kind: Kind::S(SBlock::IfsRequest(0xFE)),
        };
        for edc in [Edc::Lrc, Edc::Crc] {
            assert_eq!(block_len(1, edc), emit(ifs, edc).len(), "{edc:?}");
        }
        assert_eq!(block_len(254, Edc::Crc), MAX_BLOCK_LEN);
    }

    #[test]
    fn emits_known_blocks() {
        let s = |s| Repr {
            nad: 0,
            kind: Kind::S(s),
        };
        assert_eq!(
            emit(s(SBlock::IfsRequest(0xFE)), Edc::Lrc),
            [0x00, 0xC1, 0x01, 0xFE, 0x3E]
        );
        assert_eq!(
            emit(s(SBlock::IfsRequest(0xFE)), Edc::Crc),
            [0x00, 0xC1, 0x01, 0xFE, 0x54, 0x4E]
        );
        assert_eq!(
            emit(s(SBlock::ResynchRequest), Edc::Lrc),
            [0x00, 0xC0, 0x00, 0xC0]
        );
        assert_eq!(
            emit(s(SBlock::WtxResponse(2)), Edc::Lrc),
            [0x00, 0xE3, 0x01, 0x02, 0xE0]
        );
        assert_eq!(
            emit(s(SBlock::AbortResponse), Edc::Lrc),
            [0x00, 0xE2, 0x00, 0xE2]
        );
        let r = |nr, code| Repr {
            nad: 0,
            kind: Kind::R { nr, code },
        };
        assert_eq!(
            emit(r(Seq::One, RCode::Ok), Edc::Lrc),
            [0x00, 0x90, 0x00, 0x90]
        );
        assert_eq!(
            emit(r(Seq::Zero, RCode::Edc), Edc::Lrc),
            [0x00, 0x81, 0x00, 0x81]
        );
        assert_eq!(
            emit(r(Seq::One, RCode::Other), Edc::Lrc),
            [0x00, 0x92, 0x00, 0x92]
        );
        let i = Repr {
            nad: 0,
            kind: Kind::I {
                ns: Seq::One,
                more: true,
                inf: &[0x00, 0xA4, 0x04, 0x00],
            },
        };
        assert_eq!(
            emit(i, Edc::Lrc),
            [0x00, 0x60, 0x04, 0x00, 0xA4, 0x04, 0x00, 0xC4]
        );
    }

    #[test]
    fn round_trips() {
        let inf: std::vec::Vec<u8> = (0..=253u8).collect();
        let mut reprs = std::vec![
            Kind::I {
                ns: Seq::Zero,
                more: false,
                inf: &[]
            },
            Kind::I {
                ns: Seq::One,
                more: true,
                inf: &inf
            },
            Kind::R {
                nr: Seq::One,
                code: RCode::Other
            },
        ];
        for s in [
            SBlock::ResynchRequest,
            SBlock::ResynchResponse,
            SBlock::IfsRequest(1),
            SBlock::IfsResponse(254),
            SBlock::AbortRequest,
            SBlock::AbortResponse,
            SBlock::WtxRequest(255),
            SBlock::WtxResponse(1),
        ] {
            reprs.push(Kind::S(s));
        }
        for edc in [Edc::Lrc, Edc::Crc] {
            for kind in &reprs {
                let repr = Repr {
                    nad: 0x12,
                    kind: *kind,
                };
                let bytes = emit(repr, edc);
                assert_eq!(Repr::parse_bytes(&bytes, edc), Ok(repr));
                // Any single flipped bit of the EDC is caught.
                let mut bad = bytes.clone();
                *bad.last_mut().unwrap() ^= 0x01;
                assert_eq!(Repr::parse_bytes(&bad, edc), Err(BlockError::Edc));
            }
        }
    }

    #[test]
    fn rejects_bad_framing() {
        assert_eq!(Block::new_checked(&[][..]), Err(BlockError::Truncated));
        assert_eq!(
            Block::new_checked(&[0, 0, 0][..]),
            Err(BlockError::Truncated)
        );
        assert_eq!(
            Block::new_checked(&[0, 0, 0xFF, 0][..]),
            Err(BlockError::Length)
        );
        assert_eq!(
            Block::new_checked(&[0, 0, 1, 0][..]),
            Err(BlockError::Length)
        );
        assert_eq!(
            Block::new_checked(&[0, 0, 0, 0, 0, 0][..]),
            Err(BlockError::Length)
        );
        let long = [0u8; 300];
        assert_eq!(Block::new_checked(&long[..]), Err(BlockError::Length));
        // An LRC-sized epilogue under CRC is an EDC error, not a panic.
        assert_eq!(
            Repr::parse_bytes(&[0, 0x80, 0, 0x80], Edc::Crc),
            Err(BlockError::Edc)
        );
        let b = Block::new_checked(&[1, 2, 1, 9, 3, 4][..]).unwrap();
        assert_eq!(
            (b.nad(), b.pcb(), b.len_field(), b.inf()),
            (1, 2, 1, &[9][..])
        );
        assert_eq!(b.epilogue(), &[3, 4]);
    }

    #[test]
    fn rejects_reserved_codings() {
        let lrc = |bytes: &[u8]| {
            let mut v = bytes.to_vec();
            v.push(super::super::edc::lrc(bytes));
            v
        };
        let parse = |bytes: &[u8]| Repr::parse_bytes(&lrc(bytes), Edc::Lrc).map(|_| ());
        assert_eq!(parse(&[0, 0xA0, 0]), Err(BlockError::Pcb)); // R with b6 set
        assert_eq!(parse(&[0, 0x83, 0]), Err(BlockError::Pcb)); // R error code 3
        assert_eq!(parse(&[0, 0x80, 1, 0]), Err(BlockError::Inf)); // R with INF
        assert_eq!(parse(&[0, 0xC4, 0]), Err(BlockError::Pcb)); // S type 4
        assert_eq!(parse(&[0, 0xC1, 0]), Err(BlockError::Inf)); // IFS without size
        assert_eq!(parse(&[0, 0xC1, 1, 0]), Err(BlockError::Inf)); // IFS 0
        assert_eq!(parse(&[0, 0xC1, 1, 0xFF]), Err(BlockError::Inf)); // IFS 255
        assert_eq!(parse(&[0, 0xC3, 1, 0]), Err(BlockError::Inf)); // WTX 0
        assert_eq!(parse(&[0, 0xC0, 1, 0]), Err(BlockError::Inf)); // RESYNCH with INF
        assert_eq!(parse(&[0, 0x1F, 0]), Ok(())); // I-block reserved bits ignored
    }

    #[test]
    fn emit_refuses_small_buffer_and_long_inf() {
        let mut small = [0u8; 4];
        let i = Repr {
            nad: 0,
            kind: Kind::I {
                ns: Seq::Zero,
                more: false,
                inf: &[1],
            },
        };
        assert_eq!(
            i.emit(&mut small, Edc::Lrc),
            Err(BlockError::BufferTooSmall)
        );
        assert_eq!(small, [0; 4]);
        let inf = [0u8; 255];
        let i = Repr {
            nad: 0,
            kind: Kind::I {
                ns: Seq::Zero,
                more: false,
                inf: &inf,
            },
        };
        let mut big = [0u8; 300];
        assert_eq!(i.emit(&mut big, Edc::Lrc), Err(BlockError::Inf));
    }

    #[test]
    fn blocks_print_in_trace_form() {
        let shown = |nad, kind| std::format!("{}", Repr { nad, kind });
        let inf = [0u8; 254];
        assert_eq!(
            shown(
                0,
                Kind::I {
                    ns: Seq::Zero,
                    more: true,
                    inf: &inf
                }
            ),
            "I(N(S)=0, M=1) 254 bytes"
        );
        assert_eq!(
            shown(
                0,
                Kind::R {
                    nr: Seq::One,
                    code: RCode::Edc
                }
            ),
            "R(N(R)=1, EDC error)"
        );
        assert_eq!(
            shown(
                0,
                Kind::R {
                    nr: Seq::Zero,
                    code: RCode::Ok
                }
            ),
            "R(N(R)=0)"
        );
        assert_eq!(
            shown(0, Kind::S(SBlock::WtxRequest(3))),
            "S(WTX request, 3)"
        );
        assert_eq!(
            shown(0x21, Kind::S(SBlock::IfsResponse(254))),
            "S(IFS response, 254) NAD 21"
        );
    }
}

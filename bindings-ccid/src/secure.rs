//! PC_to_RDR_Secure (CCID 1.1 §6.1.11): PIN verification and modification on the
//! reader's keypad, the PIN never crossing USB or the serial line.
//!
//! The structure is checked once, by the core's [`VerifyRequest::parse_ccid`] and
//! [`ModifyRequest::parse_ccid`] in [`SecureData::parse`], which the reader calls
//! before it touches the card (its protocol selection included); [`prepare`]
//! takes the checked value to read the keys. A bad structure fails the command
//! with `bError` = the offset of the field at fault (libccid logs "error on byte
//! N") and changes nothing. The keys come from the core's [`Keypad`]; the command
//! with the PIN in place goes to the card, and the card's answer is the answer.
//! How the user's part ends:
//!
//! | entry outcome | answer |
//! | --- | --- |
//! | complete | the card's answer (9000, 63Cx, 6983...) |
//! | time-out | failed, `bError` 0xF0 (libccid answers 64 00) |
//! | Cancel key | failed, `bError` 0xEF (libccid answers 64 01) |
//! | the two new PINs differ | DataBlock `64 02` (PC/SC part 10 §2.5.2) |
//! | PIN shorter than the minimum | DataBlock `64 03` |

use readerkit::apdu;
use readerkit::pin::{Keypad, ModifyRequest, PinApdu, PinError, VerifyRequest};
use readerkit::t1::{Edc, MAX_BLOCK_LEN, MAX_INF_LEN, PROLOGUE_LEN, block_len};
use zeroize::Zeroize;

use crate::error::SlotError;
use crate::message::HEADER_LEN;

/// `bPINSupport` bits of the class descriptor (CCID 1.1 §5.1), which libccid
/// turns into FEATURE_VERIFY_PIN_DIRECT / FEATURE_MODIFY_PIN_DIRECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PinSupport(pub u8);

impl PinSupport {
    /// No PIN pad.
    pub const NONE: PinSupport = PinSupport(0);
    /// PIN verification (bit 0).
    pub const VERIFY: PinSupport = PinSupport(0x01);
    /// PIN modification (bit 1).
    pub const MODIFY: PinSupport = PinSupport(0x02);
    /// Both.
    pub const BOTH: PinSupport = PinSupport(0x03);

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: PinSupport) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }
}

/// `bPINOperation`, the first byte of PC_to_RDR_Secure's `abData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinOperation {
    /// 0: PIN verification.
    Verify,
    /// 1: PIN modification.
    Modify,
}

/// Offset of `bPINOperation` in the message.
const OPERATION_AT: usize = HEADER_LEN;
/// Offset of the structure's first byte (`bTimeOut`) in the message.
const STRUCTURE_AT: usize = HEADER_LEN + 1;

/// The most bytes the command for the card can take: CLA INS P1 P2 Lc and 255 data
/// bytes ([`apdu::MAX_SHORT_NC`]).
pub const MAX_APDU_LEN: usize = 5 + apdu::MAX_SHORT_NC;

/// The command for the card, PIN in place, in a buffer wiped when dropped.
pub struct PinCommand {
    command: PinApdu<MAX_APDU_LEN>,
    /// `bTeoPrologue`: NAD and PCB for a T=1 card at the TPDU level.
    pub prologue: [u8; 3],
}

impl PinCommand {
    /// The command APDU.
    pub fn apdu(&self) -> &[u8] {
        self.command.as_bytes()
    }
}

impl core::fmt::Debug for PinCommand {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PinCommand({} bytes)", self.apdu().len())
    }
}

/// A T=1 I-block carrying a [`PinCommand`] (TPDU level), wiped when dropped.
pub struct T1Block {
    bytes: [u8; MAX_BLOCK_LEN],
    len: usize,
}

impl T1Block {
    /// The block: NAD and PCB from the command's prologue, LEN from its length
    /// (a variable-length PIN block may have changed it), the APDU, the EDC.
    /// A command longer than an INF field (254 bytes) is [`SlotError::XfrOverrun`].
    pub fn new(command: &PinCommand, edc: Edc) -> Result<T1Block, SlotError> {
        let apdu = command.apdu();
        let inf_len = u8::try_from(apdu.len())
            .ok()
            .filter(|&n| usize::from(n) <= MAX_INF_LEN)
            .ok_or(SlotError::XfrOverrun)?;
        let mut block = T1Block {
            bytes: [0; MAX_BLOCK_LEN],
            len: block_len(inf_len, edc),
        };
        let [nad, pcb, _] = command.prologue;
        block.bytes[..PROLOGUE_LEN].copy_from_slice(&[nad, pcb, inf_len]);
        let body = PROLOGUE_LEN + apdu.len();
        block.bytes[PROLOGUE_LEN..body].copy_from_slice(apdu);
        let check = edc.compute(&block.bytes[..body]);
        block.bytes[body..block.len].copy_from_slice(&check[..edc.epilogue_len()]);
        Ok(block)
    }

    /// The block's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Wipe the block (also done on drop).
    pub fn wipe(&mut self) {
        self.bytes.zeroize();
    }
}

impl Drop for T1Block {
    fn drop(&mut self) {
        self.wipe();
    }
}

/// How a Secure command ends before the card is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The command fails with this `bError`.
    Failed(SlotError),
    /// The command succeeds with this status word as its data (64 02, 64 03).
    StatusWord([u8; 2]),
}

/// The `bError` of a structure the core refused: the offset, in the message, of
/// the field at fault (`dwLength` when the structure or its APDU is too short).
pub fn field_of(operation: PinOperation, data: &[u8], error: PinError) -> SlotError {
    let at = |i: usize| SlotError::BadField(u8::try_from(STRUCTURE_AT + i).unwrap_or(1));
    let apdu_at = match operation {
        PinOperation::Verify => VerifyRequest::CCID_HEADER_LEN,
        PinOperation::Modify => {
            let count = data.get(1 + 10).copied().unwrap_or(0);
            ModifyRequest::ccid_header_len(count)
        }
    };
    let modify = operation == PinOperation::Modify;
    match error {
        PinError::ReservedEncoding => at(1),
        PinError::BlockOutsideApdu => at(2),
        PinError::BadPinLimits if modify => at(6),
        PinError::BadPinLimits => at(4),
        PinError::NoValidationCondition if modify => at(9),
        PinError::NoValidationCondition => at(6),
        PinError::BadMessageCount if modify => at(10),
        PinError::BadMessageCount => at(7),
        // The APDU's Lc disagrees with the bytes that follow it; an APDU too short
        // to have one is a length error.
        PinError::BadApdu if 1 + apdu_at + 4 < data.len() => at(apdu_at + 4),
        PinError::BufferTooSmall => SlotError::XfrOverrun,
        _ => SlotError::BadField(1),
    }
}

/// The refusal of an entry outcome or a bad structure.
fn refusal(operation: PinOperation, data: &[u8], error: PinError) -> Refusal {
    match error {
        PinError::Timeout => Refusal::Failed(SlotError::PinTimeout),
        PinError::Cancelled => Refusal::Failed(SlotError::PinCancelled),
        e if e.is_entry_outcome() => Refusal::StatusWord(e.status_word()),
        e => Refusal::Failed(field_of(operation, data, e)),
    }
}

/// A Secure command's `abData`, checked ([`SecureData::parse`]): its operation
/// and its structure, parsed once and carried to [`prepare`], so that the
/// structure the reader checked before touching the card is the one whose PIN
/// is read.
#[derive(Debug, Clone, Copy)]
pub struct SecureData<'a> {
    /// The whole `abData` (`bPINOperation` first): the offsets of the fields
    /// [`prepare`] refuses after the keys (the APDU's Lc) are found in it.
    data: &'a [u8],
    structure: Structure<'a>,
}

/// The structure of a [`SecureData`], as the core parsed it.
#[derive(Debug, Clone, Copy)]
enum Structure<'a> {
    Verify(VerifyRequest<'a>),
    Modify(ModifyRequest<'a>),
}

impl<'a> SecureData<'a> {
    /// Check the Secure command's `abData` (`bPINOperation` and its structure)
    /// without reading a key or reaching the card; a refusal is the `bError` of
    /// the field at fault ([`field_of`]). The reader checks first, so that a
    /// refused command changes nothing (not even the protocol it would select
    /// for the card).
    pub fn parse(data: &'a [u8]) -> Result<SecureData<'a>, SlotError> {
        let (&operation, structure) = data.split_first().ok_or(SlotError::BadField(1))?;
        let operation = match operation {
            0 => PinOperation::Verify,
            1 => PinOperation::Modify,
            // Transfer PIN, wait ICC response, cancel, resend, send next APDU: the
            // reader runs each operation whole, so none of these is needed.
            _ => return Err(SlotError::BadField(OPERATION_AT as u8)),
        };
        let refuse = |e: PinError| field_of(operation, data, e);
        let structure = match operation {
            PinOperation::Verify => {
                Structure::Verify(VerifyRequest::parse_ccid(structure).map_err(refuse)?)
            }
            PinOperation::Modify => {
                Structure::Modify(ModifyRequest::parse_ccid(structure).map_err(refuse)?)
            }
        };
        Ok(SecureData { data, structure })
    }

    /// The operation (`bPINOperation`).
    pub fn operation(&self) -> PinOperation {
        match self.structure {
            Structure::Verify(_) => PinOperation::Verify,
            Structure::Modify(_) => PinOperation::Modify,
        }
    }
}

/// Read the PIN(s) of a checked Secure command from `keypad` and build the
/// command for the card. Every refusal of the structure came before the first
/// key ([`SecureData::parse`]); what remains are the entry outcomes and a
/// command that cannot be formatted with the PIN typed.
pub fn prepare<K: Keypad + ?Sized>(
    secure: &SecureData<'_>,
    keypad: &mut K,
) -> Result<PinCommand, Refusal> {
    let data = secure.data;
    match &secure.structure {
        Structure::Verify(request) => {
            let refuse = |e: PinError| refusal(PinOperation::Verify, data, e);
            Ok(PinCommand {
                command: request.enter(keypad).map_err(refuse)?,
                prologue: request.prologue,
            })
        }
        Structure::Modify(request) => {
            let refuse = |e: PinError| refusal(PinOperation::Modify, data, e);
            Ok(PinCommand {
                command: request.enter(keypad).map_err(refuse)?,
                prologue: request.prologue,
            })
        }
    }
}

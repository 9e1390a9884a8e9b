//! The historical bytes of an ATR (ISO/IEC 7816-4:2020 clause 12.1.1, clause 8.1.1
//! in the 2005 edition): the category indicator, the COMPACT-TLV objects and the
//! status indicator, as a checked view.
//!
//! [`Historical::parse`] checks the structure once (every COMPACT-TLV object lies
//! within the bytes, a category 00 has its 3-byte status indicator); afterwards
//! [`Historical::objects`] walks the objects without failing, and each
//! [`Object::data`] says what the object holds, with the three software function
//! tables of the card capabilities, the card service data and the life cycle status
//! decoded. Nothing allocates.

use core::fmt;

use crate::sw::StatusWord;

/// At most 15 historical bytes (K is a nibble of T0).
pub const MAX_LEN: usize = 15;

/// Why historical bytes do not follow their category's structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// More than 15 bytes.
    TooLong(usize),
    /// Category 00 with fewer than the 3 bytes of the status indicator after it.
    MissingStatusIndicator {
        /// How many bytes follow the category indicator.
        available: usize,
    },
    /// Category 10 with no DIR data reference after it.
    MissingDirReference,
    /// A COMPACT-TLV object announces more bytes than remain.
    Truncated {
        /// Offset of the object's tag-and-length byte in the historical bytes.
        offset: usize,
        /// The object's tag (high nibble of that byte).
        tag: u8,
        /// The length it announces (low nibble).
        len: u8,
        /// How many bytes remain after it.
        available: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::TooLong(n) => write!(f, "{n} historical bytes (at most 15)"),
            Error::MissingStatusIndicator { available } => write!(
                f,
                "category 00 needs a 3-byte status indicator, {available} byte(s) follow"
            ),
            Error::MissingDirReference => f.write_str("category 10 without its DIR data reference"),
            Error::Truncated {
                offset,
                tag,
                len,
                available,
            } => write!(
                f,
                "COMPACT-TLV object {tag:X}{len:X} at offset {offset} announces {len} byte(s), {available} remain"
            ),
        }
    }
}

impl core::error::Error for Error {}

/// The category indicator (the first historical byte) and what it says follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// `00`: COMPACT-TLV objects, then a status indicator in the last 3 bytes (LCS,
    /// SW1, SW2), not in TLV form.
    StatusAtEnd,
    /// `10`: the next byte is a DIR data reference.
    DirReference,
    /// `80`: COMPACT-TLV objects; a status indicator, if any, is object `8x`.
    CompactTlv,
    /// `81` to `8F`: reserved for future use.
    Reserved(u8),
    /// Any other value: a proprietary format.
    Proprietary(u8),
}

impl Category {
    /// The category of indicator `byte`.
    pub const fn from_indicator(byte: u8) -> Category {
        match byte {
            0x00 => Category::StatusAtEnd,
            0x10 => Category::DirReference,
            0x80 => Category::CompactTlv,
            0x81..=0x8F => Category::Reserved(byte),
            _ => Category::Proprietary(byte),
        }
    }

    /// The indicator byte.
    pub const fn indicator(self) -> u8 {
        match self {
            Category::StatusAtEnd => 0x00,
            Category::DirReference => 0x10,
            Category::CompactTlv => 0x80,
            Category::Reserved(b) | Category::Proprietary(b) => b,
        }
    }

    /// A short stable identifier: `"status_at_end"`, `"dir_reference"`,
    /// `"compact_tlv"`, `"reserved"`, `"proprietary"`.
    pub const fn name(self) -> &'static str {
        match self {
            Category::StatusAtEnd => "status_at_end",
            Category::DirReference => "dir_reference",
            Category::CompactTlv => "compact_tlv",
            Category::Reserved(_) => "reserved",
            Category::Proprietary(_) => "proprietary",
        }
    }

    /// What the category says, in words.
    pub const fn description(self) -> &'static str {
        match self {
            Category::StatusAtEnd => {
                "COMPACT-TLV objects, then a status indicator in the last 3 bytes"
            }
            Category::DirReference => "the next byte is a DIR data reference",
            Category::CompactTlv => "COMPACT-TLV objects",
            Category::Reserved(_) => "reserved for future use",
            Category::Proprietary(_) => "proprietary format",
        }
    }
}

/// A checked view of the historical bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Historical<'a> {
    bytes: &'a [u8],
    /// Where the COMPACT-TLV objects end (they start at 1); 0 when there are none.
    objects_end: usize,
}

impl<'a> Historical<'a> {
    /// Check `bytes` (the historical bytes of an ATR, see
    /// [`Atr::historical`](super::Atr::historical)) against their category's
    /// structure.
    pub fn parse(bytes: &'a [u8]) -> Result<Historical<'a>, Error> {
        if bytes.len() > MAX_LEN {
            return Err(Error::TooLong(bytes.len()));
        }
        let objects_end = match bytes.first().map(|&b| Category::from_indicator(b)) {
            None => 0,
            Some(Category::StatusAtEnd) => {
                let available = bytes.len() - 1;
                if available < 3 {
                    return Err(Error::MissingStatusIndicator { available });
                }
                bytes.len() - 3
            }
            Some(Category::CompactTlv) => bytes.len(),
            Some(Category::DirReference) => {
                if bytes.len() < 2 {
                    return Err(Error::MissingDirReference);
                }
                0
            }
            Some(Category::Reserved(_) | Category::Proprietary(_)) => 0,
        };
        if objects_end > 1 {
            check_objects(bytes, objects_end)?;
        }
        Ok(Historical { bytes, objects_end })
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The category, or `None` without historical bytes.
    pub fn category(&self) -> Option<Category> {
        self.bytes.first().map(|&b| Category::from_indicator(b))
    }

    /// The COMPACT-TLV objects, in order (none unless the category is 00 or 80).
    pub fn objects(&self) -> Objects<'a> {
        Objects {
            bytes: self.bytes.get(1..self.objects_end).unwrap_or(&[]),
            offset: 1,
        }
    }

    /// The mandatory status indicator of category 00 (its last 3 bytes).
    pub fn status_at_end(&self) -> Option<StatusIndicator> {
        match (self.category(), self.bytes.last_chunk::<3>()) {
            (Some(Category::StatusAtEnd), Some(&[lcs, sw1, sw2])) => Some(StatusIndicator {
                lcs: Some(LifeCycle(lcs)),
                sw: Some(StatusWord::new(sw1, sw2)),
            }),
            _ => None,
        }
    }

    /// The DIR data reference of category 10.
    pub fn dir_reference(&self) -> Option<u8> {
        match self.category() {
            Some(Category::DirReference) => self.bytes.get(1).copied(),
            _ => None,
        }
    }

    /// The bytes after the category indicator that no structure covers: those of
    /// a reserved or proprietary category, and any after a DIR data reference.
    pub fn unstructured(&self) -> &'a [u8] {
        let from = match self.category() {
            Some(Category::Reserved(_) | Category::Proprietary(_)) => 1,
            Some(Category::DirReference) => 2,
            _ => return &[],
        };
        self.bytes.get(from..).unwrap_or(&[])
    }
}

fn check_objects(bytes: &[u8], end: usize) -> Result<(), Error> {
    let mut offset = 1;
    while offset < end {
        let (tag, len) = (bytes[offset] >> 4, bytes[offset] & 0x0F);
        let available = end - offset - 1;
        if usize::from(len) > available {
            return Err(Error::Truncated {
                offset,
                tag,
                len,
                available,
            });
        }
        offset += 1 + usize::from(len);
    }
    Ok(())
}

/// Iterator over the COMPACT-TLV objects of a checked [`Historical`].
#[derive(Debug, Clone)]
pub struct Objects<'a> {
    bytes: &'a [u8],
    /// Offset of `bytes[0]` in the historical bytes.
    offset: usize,
}

impl<'a> Iterator for Objects<'a> {
    type Item = Object<'a>;

    fn next(&mut self) -> Option<Object<'a>> {
        let (&head, rest) = self.bytes.split_first()?;
        let len = usize::from(head & 0x0F).min(rest.len());
        let (value, rest) = rest.split_at(len);
        let object = Object {
            offset: self.offset,
            tag: head >> 4,
            value,
        };
        self.bytes = rest;
        self.offset += 1 + len;
        Some(object)
    }
}

/// One COMPACT-TLV object: a tag-and-length byte (tag in the high nibble, length in
/// the low one) and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Object<'a> {
    /// Offset of the tag-and-length byte in the historical bytes.
    pub offset: usize,
    /// The tag, 0 to 15 (COMPACT-TLV tag `x` stands for BER-TLV tag `4x`).
    pub tag: u8,
    /// The value (0 to 15 bytes).
    pub value: &'a [u8],
}

/// The name of COMPACT-TLV tag `tag` (0..=15).
pub const fn tag_name(tag: u8) -> &'static str {
    match tag {
        0x1 => "country code",
        0x2 => "issuer identification number",
        0x3 => "card service data",
        0x4 => "initial access data",
        0x5 => "card issuer's data",
        0x6 => "pre-issuing data",
        0x7 => "card capabilities",
        0x8 => "status indicator",
        0xF => "application identifier",
        _ => "reserved",
    }
}

impl<'a> Object<'a> {
    /// The name of the tag.
    pub const fn name(&self) -> &'static str {
        tag_name(self.tag)
    }

    /// What the object holds.
    pub fn data(&self) -> Data<'a> {
        let v = self.value;
        match (self.tag, v) {
            (0x1, _) => Data::CountryCode(v),
            (0x2, _) => Data::IssuerIdentification(v),
            (0x3, &[b]) => Data::CardService(CardService(b)),
            (0x4, _) => Data::InitialAccess(v),
            (0x5, _) => Data::CardIssuer(v),
            (0x6, _) => Data::PreIssuing(v),
            (0x7, [first, ..]) => Data::CardCapabilities(CardCapabilities {
                selection: SelectionMethods(*first),
                coding: v.get(1).map(|&b| DataCoding(b)),
                chaining: v.get(2).map(|&b| Chaining(b)),
                extra: v.get(3..).unwrap_or(&[]),
            }),
            (0x8, &[lcs]) => Data::Status(StatusIndicator {
                lcs: Some(LifeCycle(lcs)),
                sw: None,
            }),
            (0x8, &[sw1, sw2]) => Data::Status(StatusIndicator {
                lcs: None,
                sw: Some(StatusWord::new(sw1, sw2)),
            }),
            (0x8, &[lcs, sw1, sw2]) => Data::Status(StatusIndicator {
                lcs: Some(LifeCycle(lcs)),
                sw: Some(StatusWord::new(sw1, sw2)),
            }),
            (0xF, _) => Data::ApplicationIdentifier(v),
            (0x3 | 0x7 | 0x8, _) => Data::BadLength(v),
            _ => Data::Reserved(v),
        }
    }
}

/// What a COMPACT-TLV object holds, by tag (ISO/IEC 7816-4:2020 clause 12.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Data<'a> {
    /// Tag 1: country code (ISO 3166-1) and national data.
    CountryCode(&'a [u8]),
    /// Tag 2: issuer identification number (ISO/IEC 7812-1).
    IssuerIdentification(&'a [u8]),
    /// Tag 3: the card service data byte.
    CardService(CardService),
    /// Tag 4: initial access data.
    InitialAccess(&'a [u8]),
    /// Tag 5: card issuer's data.
    CardIssuer(&'a [u8]),
    /// Tag 6: pre-issuing data.
    PreIssuing(&'a [u8]),
    /// Tag 7: card capabilities (the three software function tables).
    CardCapabilities(CardCapabilities<'a>),
    /// Tag 8: status indicator (LCS, SW, or both).
    Status(StatusIndicator),
    /// Tag F: application identifier.
    ApplicationIdentifier(&'a [u8]),
    /// Tag 3, 7 or 8 with a length its definition does not allow (3: one byte; 7:
    /// at least one; 8: one to three).
    BadLength(&'a [u8]),
    /// Tags 0 and 9 to E: not defined.
    Reserved(&'a [u8]),
}

/// Bit `n` of `byte` as ISO/IEC 7816 numbers them: b8 (0x80) down to b1 (0x01).
const fn bit(byte: u8, n: u32) -> bool {
    byte & (1 << (n - 1)) != 0
}

/// Bits `high` down to `low` of `byte` (b8..b1 as in [`bit`]), as a number.
const fn bits(byte: u8, high: u32, low: u32) -> u8 {
    (byte >> (low - 1)) & ((1u32 << (high - low + 1)) - 1) as u8
}

/// How EF.DIR and EF.ATR/INFO can be read (card service data bits 4 to 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EfAccess {
    /// `100`: by READ BINARY (transparent EF).
    ReadBinary,
    /// `010`: by GET DATA (TLV structure).
    GetData,
    /// `000`: by READ RECORD(s) (record structure).
    ReadRecord,
    /// Any other value: reserved for future use (the 3 bits).
    Reserved(u8),
}

/// The card service data byte (COMPACT-TLV tag 3; ISO/IEC 7816-4:2020 table 116).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CardService(pub u8);

impl CardService {
    /// Bit 8: application selection by full DF name.
    pub const fn selection_by_full_df_name(self) -> bool {
        bit(self.0, 8)
    }
    /// Bit 7: application selection by partial DF name.
    pub const fn selection_by_partial_df_name(self) -> bool {
        bit(self.0, 7)
    }
    /// Bit 6: BER-TLV data objects available in EF.DIR.
    pub const fn data_objects_in_ef_dir(self) -> bool {
        bit(self.0, 6)
    }
    /// Bit 5: BER-TLV data objects available in EF.ATR/INFO.
    pub const fn data_objects_in_ef_atr(self) -> bool {
        bit(self.0, 5)
    }
    /// Bits 4 to 2: how EF.DIR and EF.ATR/INFO are read.
    pub const fn ef_access(self) -> EfAccess {
        match bits(self.0, 4, 2) {
            0b100 => EfAccess::ReadBinary,
            0b010 => EfAccess::GetData,
            0b000 => EfAccess::ReadRecord,
            other => EfAccess::Reserved(other),
        }
    }
    /// Bit 1 clear: the card has a master file (MF).
    pub const fn has_mf(self) -> bool {
        !bit(self.0, 1)
    }
}

/// The first software function table: selection methods (card capabilities byte 1;
/// ISO/IEC 7816-4:2020 table 118).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SelectionMethods(pub u8);

impl SelectionMethods {
    /// The methods, bit 8 first, each with the bit that announces it.
    pub const ALL: [(u8, &'static str); 8] = [
        (0x80, "DF selection by full DF name"),
        (0x40, "DF selection by partial DF name"),
        (0x20, "DF selection by path"),
        (0x10, "DF selection by file identifier"),
        (0x08, "implicit DF selection"),
        (0x04, "short EF identifier supported"),
        (0x02, "record number supported"),
        (0x01, "record identifier supported"),
    ];

    /// The methods the byte announces, bit 8 first.
    pub fn iter(self) -> impl Iterator<Item = &'static str> {
        Self::ALL
            .into_iter()
            .filter(move |(mask, _)| self.0 & mask != 0)
            .map(|(_, name)| name)
    }
}

/// Behaviour of write functions (data coding byte bits 7 and 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteBehaviour {
    /// `00`: one-time write.
    OneTime,
    /// `01`: proprietary.
    Proprietary,
    /// `10`: write OR.
    Or,
    /// `11`: write AND.
    And,
}

impl WriteBehaviour {
    /// In words.
    pub const fn description(self) -> &'static str {
        match self {
            WriteBehaviour::OneTime => "one-time write",
            WriteBehaviour::Proprietary => "proprietary",
            WriteBehaviour::Or => "write OR",
            WriteBehaviour::And => "write AND",
        }
    }
}

/// The second software function table: the data coding byte (card capabilities
/// byte 2; ISO/IEC 7816-4:2020 table 119).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataCoding(pub u8);

impl DataCoding {
    /// Bit 8: EFs of BER-TLV structure supported.
    pub const fn tlv_efs(self) -> bool {
        bit(self.0, 8)
    }
    /// Bits 7 and 6: behaviour of write functions.
    pub const fn write_behaviour(self) -> WriteBehaviour {
        match bits(self.0, 7, 6) {
            0 => WriteBehaviour::OneTime,
            1 => WriteBehaviour::Proprietary,
            2 => WriteBehaviour::Or,
            _ => WriteBehaviour::And,
        }
    }
    /// Bit 5: the value `FF` is valid as the first byte of a BER-TLV tag (clear:
    /// `FF` is padding).
    pub const fn ff_tag_valid(self) -> bool {
        bit(self.0, 5)
    }
    /// Bits 4 to 1: the data unit size, in quartets (a power of 2, 1 to 32 768).
    pub const fn data_unit_quartets(self) -> u16 {
        1 << bits(self.0, 4, 1)
    }
}

/// Logical channel number assignment (third table bits 5 and 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelAssignment {
    /// `00`: no logical channel.
    None,
    /// `01`: by the interface device.
    InterfaceDevice,
    /// `10`: by the card.
    Card,
    /// `11`: by the interface device and the card.
    Both,
}

impl ChannelAssignment {
    /// In words.
    pub const fn description(self) -> &'static str {
        match self {
            ChannelAssignment::None => "no logical channel",
            ChannelAssignment::InterfaceDevice => "by the interface device",
            ChannelAssignment::Card => "by the card",
            ChannelAssignment::Both => "by the interface device and the card",
        }
    }
}

/// The third software function table: command chaining, length fields and logical
/// channels (card capabilities byte 3; ISO/IEC 7816-4:2020 table 120).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Chaining(pub u8);

impl Chaining {
    /// Bit 8: command chaining.
    pub const fn command_chaining(self) -> bool {
        bit(self.0, 8)
    }
    /// Bit 7: extended Lc and Le fields.
    pub const fn extended_lengths(self) -> bool {
        bit(self.0, 7)
    }
    /// Bit 6: extended length information in EF.ATR/INFO (RFU before the 2013
    /// edition).
    pub const fn extended_length_info(self) -> bool {
        bit(self.0, 6)
    }
    /// Bits 5 and 4: logical channel number assignment.
    pub const fn channel_assignment(self) -> ChannelAssignment {
        match bits(self.0, 5, 4) {
            0 => ChannelAssignment::None,
            1 => ChannelAssignment::InterfaceDevice,
            2 => ChannelAssignment::Card,
            _ => ChannelAssignment::Both,
        }
    }
    /// Bits 3 to 1: maximum number of logical channels, 1 to 8 (8: eight or more).
    pub const fn max_channels(self) -> u8 {
        bits(self.0, 3, 1) + 1
    }
}

/// The card capabilities (COMPACT-TLV tag 7): one to three software function
/// tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardCapabilities<'a> {
    /// First table: selection methods.
    pub selection: SelectionMethods,
    /// Second table: data coding byte, if present.
    pub coding: Option<DataCoding>,
    /// Third table: command chaining, length fields, logical channels, if present.
    pub chaining: Option<Chaining>,
    /// Bytes after the third table (not defined by ISO/IEC 7816-4).
    pub extra: &'a [u8],
}

/// The life cycle status byte LCS (ISO/IEC 7816-4:2020 table 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LifeCycle(pub u8);

/// The life cycle state an LCS byte announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LifeCycleState {
    /// `00`.
    NoInformation,
    /// `01`.
    Creation,
    /// `03`.
    Initialisation,
    /// `05`, `07`: operational state, activated.
    Activated,
    /// `04`, `06`: operational state, deactivated.
    Deactivated,
    /// `0C` to `0F`.
    Termination,
    /// `10` to `FF`: proprietary.
    Proprietary,
    /// `02`, `08` to `0B`: reserved for future use.
    Reserved,
}

impl LifeCycle {
    /// The state.
    pub const fn state(self) -> LifeCycleState {
        match self.0 {
            0x00 => LifeCycleState::NoInformation,
            0x01 => LifeCycleState::Creation,
            0x03 => LifeCycleState::Initialisation,
            0x05 | 0x07 => LifeCycleState::Activated,
            0x04 | 0x06 => LifeCycleState::Deactivated,
            0x0C..=0x0F => LifeCycleState::Termination,
            0x10..=0xFF => LifeCycleState::Proprietary,
            _ => LifeCycleState::Reserved,
        }
    }
}

impl LifeCycleState {
    /// In words.
    pub const fn description(self) -> &'static str {
        match self {
            LifeCycleState::NoInformation => "no information given",
            LifeCycleState::Creation => "creation state",
            LifeCycleState::Initialisation => "initialisation state",
            LifeCycleState::Activated => "operational state (activated)",
            LifeCycleState::Deactivated => "operational state (deactivated)",
            LifeCycleState::Termination => "termination state",
            LifeCycleState::Proprietary => "proprietary",
            LifeCycleState::Reserved => "reserved for future use",
        }
    }
}

/// A status indicator: the life cycle status, a status word, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusIndicator {
    /// LCS, if present.
    pub lcs: Option<LifeCycle>,
    /// SW1 SW2, if present.
    pub sw: Option<StatusWord>,
}

#[cfg(test)]
mod tests {
    use super::super::Atr;
    use super::*;
    use readerkit_testkit::rng::Rng;
    use std::string::ToString;

    fn hist(atr: &[u8]) -> heapless::Vec<u8, 15> {
        heapless::Vec::from_slice(Atr::parse(atr).unwrap().historical()).unwrap()
    }

    #[test]
    fn category_80_card_capabilities_and_pre_issuing_data() {
        // readerkit's own sim:t1 ATR; hand-decoded: 80 | 65 52 4B 53 49 4D (tag 6,
        // 5 bytes "RKSIM") | 73 10 21 40 (tag 7, 3 bytes). ATR_analysis 1.7 prints
        // the same objects for it.
        let bytes = hist(&[
            0x3B, 0x9B, 0x96, 0x81, 0x71, 0xFE, 0x45, 0x00, 0x80, 0x65, 0x52, 0x4B, 0x53, 0x49,
            0x4D, 0x73, 0x10, 0x21, 0x40, 0xEF,
        ]);
        let h = Historical::parse(&bytes).unwrap();
        assert_eq!(h.category(), Some(Category::CompactTlv));
        let objects: heapless::Vec<Object<'_>, 8> = h.objects().collect();
        assert_eq!(objects.len(), 2);
        assert_eq!((objects[0].offset, objects[0].tag), (1, 6));
        assert_eq!(objects[0].data(), Data::PreIssuing(b"RKSIM"));
        assert_eq!(
            (objects[1].offset, objects[1].name()),
            (7, "card capabilities")
        );
        let Data::CardCapabilities(caps) = objects[1].data() else {
            panic!("{:?}", objects[1].data())
        };
        assert!(
            caps.selection
                .iter()
                .eq(["DF selection by file identifier"])
        );
        let coding = caps.coding.unwrap();
        assert!(!coding.tlv_efs());
        assert_eq!(coding.write_behaviour(), WriteBehaviour::Proprietary);
        assert!(!coding.ff_tag_valid());
        assert_eq!(coding.data_unit_quartets(), 2);
        let chaining = caps.chaining.unwrap();
        assert!(!chaining.command_chaining() && chaining.extended_lengths());
        assert_eq!(chaining.channel_assignment(), ChannelAssignment::None);
        assert_eq!(chaining.max_channels(), 1);
        assert_eq!(h.status_at_end(), None);
    }

    #[test]
    fn category_00_has_its_status_indicator_at_the_end() {
        // Built by hand: 00 | 31 C0 (tag 3, 1 byte: card service data C0 = bits 8
        // and 7, selection by full and partial DF name; access bits 000 = READ
        // RECORD; bit 1 clear = with MF) | 07 90 00 (LCS 07 = activated, SW 9000).
        let h = Historical::parse(&[0x00, 0x31, 0xC0, 0x07, 0x90, 0x00]).unwrap();
        assert_eq!(h.category(), Some(Category::StatusAtEnd));
        let status = h.status_at_end().unwrap();
        assert_eq!(status.lcs.unwrap().state(), LifeCycleState::Activated);
        assert_eq!(status.sw, Some(StatusWord(0x9000)));
        let objects: heapless::Vec<Object<'_>, 4> = h.objects().collect();
        assert_eq!(objects.len(), 1);
        let Data::CardService(cs) = objects[0].data() else {
            panic!()
        };
        assert!(cs.selection_by_full_df_name() && cs.selection_by_partial_df_name());
        assert!(!cs.data_objects_in_ef_dir() && !cs.data_objects_in_ef_atr());
        assert_eq!(cs.ef_access(), EfAccess::ReadRecord);
        assert!(cs.has_mf());
        assert_eq!(
            Historical::parse(&[0x00, 0x90, 0x00]),
            Err(Error::MissingStatusIndicator { available: 2 })
        );
    }

    #[test]
    fn status_objects_of_every_length() {
        let h = Historical::parse(&[0x80, 0x81, 0x05, 0x82, 0x6A, 0x82, 0x83, 0x0F, 0x90, 0x00])
            .unwrap();
        let data: heapless::Vec<Data<'_>, 4> = h.objects().map(|o| o.data()).collect();
        assert_eq!(
            data.as_slice(),
            &[
                Data::Status(StatusIndicator {
                    lcs: Some(LifeCycle(5)),
                    sw: None
                }),
                Data::Status(StatusIndicator {
                    lcs: None,
                    sw: Some(StatusWord(0x6A82))
                }),
                Data::Status(StatusIndicator {
                    lcs: Some(LifeCycle(0x0F)),
                    sw: Some(StatusWord(0x9000))
                }),
            ]
        );
        assert_eq!(LifeCycle(0x0F).state(), LifeCycleState::Termination);
        assert_eq!(LifeCycle(0x02).state(), LifeCycleState::Reserved);
        assert_eq!(LifeCycle(0x42).state(), LifeCycleState::Proprietary);
        // Tag 8 with 4 bytes, tag 3 with 2, tag 7 with none: bad lengths.
        let h = Historical::parse(&[0x80, 0x84, 1, 2, 3, 4, 0x32, 1, 2, 0x70]).unwrap();
        assert!(h.objects().all(|o| matches!(o.data(), Data::BadLength(_))));
    }

    #[test]
    fn other_categories() {
        let h = Historical::parse(&[0x10, 0x42, 0x01]).unwrap();
        assert_eq!(h.category(), Some(Category::DirReference));
        assert_eq!(
            (h.dir_reference(), h.unstructured()),
            (Some(0x42), &[1][..])
        );
        assert_eq!(h.objects().count(), 0);
        assert_eq!(Historical::parse(&[0x10]), Err(Error::MissingDirReference));
        let h = Historical::parse(b"JCOP").unwrap();
        assert_eq!(h.category(), Some(Category::Proprietary(b'J')));
        assert_eq!(h.unstructured(), b"COP");
        assert_eq!(h.objects().count(), 0);
        let h = Historical::parse(&[0x85, 1]).unwrap();
        assert_eq!(h.category(), Some(Category::Reserved(0x85)));
        let h = Historical::parse(&[]).unwrap();
        assert_eq!((h.category(), h.objects().count()), (None, 0));
        assert_eq!(Historical::parse(&[0; 16]), Err(Error::TooLong(16)));
        for b in [0x00, 0x10, 0x80, 0x81, 0x8F, 0x7F, 0xFF] {
            assert_eq!(Category::from_indicator(b).indicator(), b);
        }
    }

    #[test]
    fn truncated_objects_are_refused_with_their_place() {
        // 80 | 31 C0 | 65 52 4B: tag 6 announces 5 bytes, 2 remain.
        let err = Historical::parse(&[0x80, 0x31, 0xC0, 0x65, 0x52, 0x4B]).unwrap_err();
        assert_eq!(
            err,
            Error::Truncated {
                offset: 3,
                tag: 6,
                len: 5,
                available: 2
            }
        );
        assert_eq!(
            err.to_string(),
            "COMPACT-TLV object 65 at offset 3 announces 5 byte(s), 2 remain"
        );
        // Category 00: the objects may not run into the status indicator.
        assert!(matches!(
            Historical::parse(&[0x00, 0x62, 0xAA, 0x07, 0x90, 0x00]),
            Err(Error::Truncated { offset: 1, .. })
        ));
    }

    #[test]
    fn every_input_parses_or_errs_without_panicking() {
        let mut rng = Rng(0x9E37_79B9);
        let mut buf = [0u8; 16];
        for _ in 0..100_000 {
            let len = rng.below(17);
            buf.fill_with(|| rng.next_u64() as u8);
            buf[0] = [0x00, 0x80, 0x10, buf[0]][rng.below(4)];
            if let Ok(h) = Historical::parse(&buf[..len]) {
                let mut covered = 1;
                for o in h.objects() {
                    assert_eq!(o.offset, covered);
                    covered += 1 + o.value.len();
                    let _ = o.data();
                }
                let _ = (h.status_at_end(), h.dir_reference(), h.unstructured());
            }
        }
    }
}

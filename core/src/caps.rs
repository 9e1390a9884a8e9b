//! What the reader driver tells the library about its reader, and what the library
//! learns about the card.

use crate::atr::{Atr, Parameters};
use crate::protocol::{Protocol, ProtocolMask};
use crate::status::Status;
use crate::t1::MAX_INF_LEN;
use crate::timing::Timing;

/// Largest IFSD, in bytes: T=1's largest information field.
const MAX_IFSD: u8 = MAX_INF_LEN as u8;

/// Longest vendor string (`MAXIMUM_ATTR_STRING_LENGTH`), in bytes.
pub const MAX_ATTR_STRING_LEN: usize = 32;

/// A vendor string: ASCII, at most 32 bytes, no terminating NUL.
pub type AttrString = heapless::Vec<u8, MAX_ATTR_STRING_LEN>;

/// Make an [`AttrString`], cutting `s` at 32 bytes.
pub fn attr_string(s: &[u8]) -> AttrString {
    s.iter().copied().take(MAX_ATTR_STRING_LEN).collect()
}

/// How the reader is attached (`SCARD_READER_TYPE_*`), also the high word of
/// `SCARD_ATTR_CHANNEL_ID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReaderType(pub u32);

impl ReaderType {
    /// `SCARD_READER_TYPE_SERIAL`.
    pub const SERIAL: ReaderType = ReaderType(0x01);
    /// `SCARD_READER_TYPE_USB`.
    pub const USB: ReaderType = ReaderType(0x20);
    /// `SCARD_READER_TYPE_VENDOR`.
    pub const VENDOR: ReaderType = ReaderType(0xF0);
}

/// Mechanical properties (`SCARD_READER_SWALLOWS` ...), a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Mechanics(pub u32);

impl Mechanics {
    /// The reader pulls the card into position.
    pub const SWALLOWS: Mechanics = Mechanics(0x1);
    /// The reader can eject the card.
    pub const EJECTS: Mechanics = Mechanics(0x2);
    /// The reader can retain the card.
    pub const CONFISCATES: Mechanics = Mechanics(0x4);
}

/// The reader's capabilities, fixed for the life of the device
/// (`SCARD_READER_CAPABILITIES`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderCapabilities {
    /// Protocols driver and reader support together.
    pub protocols: ProtocolMask,
    /// How the reader is attached.
    pub reader_type: ReaderType,
    /// Logical channel: port number, USB device number, 0 if none.
    pub channel: u16,
    /// Mechanical properties.
    pub mechanics: Mechanics,
    /// Default card clock, in kHz.
    pub default_clock_khz: u32,
    /// Maximum card clock, in kHz.
    pub max_clock_khz: u32,
    /// Default data rate, in bit/s.
    pub default_data_rate: u32,
    /// Maximum data rate, in bit/s.
    pub max_data_rate: u32,
    /// Largest T=1 information field the reader accepts (IFSD), 1..=254 bytes.
    pub max_ifsd: u8,
    /// Power management: 0 if the reader cannot power the card down while inserted.
    pub power_management: u32,
}

impl ReaderCapabilities {
    /// A typical UART reader: T=0 and T=1, 3.58 MHz default and 4 MHz max clock,
    /// 9600 to 115200 bit/s, IFSD 254, power management.
    pub const fn typical() -> ReaderCapabilities {
        ReaderCapabilities {
            protocols: ProtocolMask(ProtocolMask::T0.0 | ProtocolMask::T1.0),
            reader_type: ReaderType::SERIAL,
            channel: 0,
            mechanics: Mechanics(0),
            default_clock_khz: 3_580,
            max_clock_khz: 4_000,
            default_data_rate: 9_600,
            max_data_rate: 115_200,
            max_ifsd: MAX_IFSD,
            power_management: 1,
        }
    }

    /// The same capabilities for a reader whose card clock is fixed at `clock_khz`
    /// kHz: that clock as the default and the maximum, and the default data rate
    /// the one of F = 372, D = 1 at it, in bit/s ([`Timing::baud`], rounded down).
    pub const fn with_fixed_clock(self, clock_khz: u32) -> ReaderCapabilities {
        ReaderCapabilities {
            default_clock_khz: clock_khz,
            max_clock_khz: clock_khz,
            default_data_rate: Timing::default_at(clock_khz).baud(),
            ..self
        }
    }

    /// `Ok(())` if these capabilities describe a reader (at least one protocol, an
    /// IFSD of 1..=254 bytes); else `InvalidParameter`, for capabilities from an
    /// untrusted source (a C driver, a configuration).
    pub fn check(&self) -> Result<(), Status> {
        if self.protocols.protocols().is_empty() || !crate::t1::is_valid_ifs(self.max_ifsd) {
            return Err(Status::InvalidParameter);
        }
        Ok(())
    }
}

/// The reader's version (`SCARD_ATTR_VENDOR_IFD_VERSION` = 0xMMmmbbbb).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IfdVersion {
    /// Major version.
    pub major: u8,
    /// Minor version.
    pub minor: u8,
    /// Build number.
    pub build: u16,
}

impl IfdVersion {
    /// This crate's version, 0.1.0: the version of the readers readerkit itself
    /// provides (see [`VendorAttributes::readerkit`]).
    pub const READERKIT: IfdVersion = IfdVersion {
        major: 0,
        minor: 1,
        build: 0,
    };

    /// The DWORD form, 0xMMmmbbbb.
    pub const fn to_u32(self) -> u32 {
        ((self.major as u32) << 24) | ((self.minor as u32) << 16) | self.build as u32
    }

    /// The version a DWORD 0xMMmmbbbb names (the inverse of [`IfdVersion::to_u32`]).
    pub const fn from_u32(version: u32) -> IfdVersion {
        IfdVersion {
            major: (version >> 24) as u8,
            minor: (version >> 16) as u8,
            build: version as u16,
        }
    }
}

/// The vendor's description of the reader (`VENDOR_ATTR`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VendorAttributes {
    /// Manufacturer name, required.
    pub vendor_name: AttrString,
    /// Reader model, required.
    pub ifd_type: AttrString,
    /// Zero-based instance number of this reader type.
    pub unit: u32,
    /// Reader version.
    pub ifd_version: IfdVersion,
    /// Serial number; empty if unknown.
    pub serial_number: AttrString,
}

impl VendorAttributes {
    /// The attributes of a reader readerkit itself provides (the simulated, vpcd,
    /// serial and CCID readers of its bindings and tools): vendor `readerkit`,
    /// version [`IfdVersion::READERKIT`], model `ifd_type`, instance `unit`, serial
    /// number `serial_number` (each string cut at 32 bytes).
    pub fn readerkit(ifd_type: &[u8], unit: u32, serial_number: &[u8]) -> VendorAttributes {
        VendorAttributes {
            vendor_name: attr_string(b"readerkit"),
            ifd_type: attr_string(ifd_type),
            unit,
            ifd_version: IfdVersion::READERKIT,
            serial_number: attr_string(serial_number),
        }
    }
}

/// What the library knows about the powered card: its ATR, the parameters derived
/// from it, and what is in force now (`SCARD_CARD_CAPABILITIES`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardCapabilities {
    /// The checked ATR.
    pub atr: Atr,
    /// The parameters it announces.
    pub parameters: Parameters,
    /// The protocol in force, once one is (state Specific): from the power-up on
    /// for a card in specific mode (TA2) that the reader can run, see
    /// [`CardCapabilities::new`].
    pub selected: Option<Protocol>,
    /// F, D and the clock in force on the line.
    pub timing: Timing,
    /// The T=1 information field size the reader announces, in bytes (its
    /// [`ReaderCapabilities::max_ifsd`], at most 254).
    pub ifsd: u8,
}

/// T=1 information field sizes (ISO/IEC 7816-3:2006 11.4.2), each 1 to 254 bytes:
/// what a TRANSMIT callback reports ([`FieldSizeReport`]) and
/// `SCARD_ATTR_CURRENT_IFSC` / `CURRENT_IFSD` answer.
///
/// [`FieldSizeReport`]: crate::device::FieldSizeReport
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldSizes {
    /// IFSC: the longest INF the reader may send the card, in bytes.
    pub ifsc: u8,
    /// IFSD: the longest INF the card may send the reader, in bytes.
    pub ifsd: u8,
}

impl CardCapabilities {
    /// The capabilities of a card that just answered `atr`, read by a reader with
    /// `reader` capabilities.
    ///
    /// A card in specific mode (TA2) runs TA2's protocol at TA1's Fi/Di from the
    /// ATR on (ISO/IEC 7816-3:2006 6.3.1): that protocol is [`selected`] if the
    /// reader has it and can run TA1's rate ([`pps::negotiate`] accepts the offer:
    /// the rate at most [`ReaderCapabilities::max_data_rate`], the clock at most
    /// Fi's f(max)), or the parameters are implicit (TA2 bit 5: run at Fd/Dd).
    /// Otherwise nothing is selected: the card is powered and NEGOTIABLE, and
    /// SET_PROTOCOL refuses it (`NotSupported`, as `negotiate` does), as libccid
    /// rejects a specific-mode card whose rate the reader lacks. ISO has the
    /// reader warm-reset such a card when TA2 b8 allows (a POWER warm reset by the
    /// caller) or deactivate it.
    ///
    /// [`selected`]: CardCapabilities::selected
    /// [`pps::negotiate`]: crate::pps::negotiate
    pub fn new(atr: Atr, reader: &ReaderCapabilities) -> CardCapabilities {
        let parameters = atr.parameters();
        let timing = parameters.initial_timing(reader.default_clock_khz);
        let selected = match parameters.mode {
            crate::atr::Mode::Specific(_) => parameters
                .default_protocol()
                .filter(|&protocol| runs_specific_mode(&parameters, protocol, reader)),
            crate::atr::Mode::Negotiable => None,
        };
        CardCapabilities {
            atr,
            parameters,
            selected,
            timing,
            // The IFSD the reader announces with its first S(IFS request).
            ifsd: crate::t1::clamp_ifs(reader.max_ifsd),
        }
    }

    /// T=1 block waiting time in force, in µs.
    pub fn bwt_us(&self) -> u32 {
        self.timing.t1_block_waiting_time_us(self.parameters.bwi, 1)
    }

    /// T=1 character waiting time in force, in µs.
    pub fn cwt_us(&self) -> u32 {
        self.timing
            .t1_character_waiting_time_us(self.parameters.cwi)
    }

    /// T=0 work waiting time in force, in µs: [`CardCapabilities::wwt_us_at`] the
    /// timing in force.
    pub fn wwt_us(&self) -> u32 {
        self.wwt_us_at(&self.timing)
    }

    /// T=0 work waiting time WT = WI × 960 × Fi / f, in µs, with the card's WI and
    /// Fi (TA1's, whatever F is in force) and f the clock of `timing`: after a PPS
    /// that changed the clock, the new one.
    pub fn wwt_us_at(&self, timing: &Timing) -> u32 {
        timing.t0_waiting_time_us(self.parameters.wi, self.parameters.announced_f())
    }

    /// The extra guard time of TC1 as whole etu under `timing` (the N a [`Line`]
    /// adds after each character it sends, 255 for the minimum guard time):
    /// [`Parameters::extra_guard_n_at`] for this card's ATR, which counts N in
    /// Fi/Di clock cycles when the ATR indicates T=15 (ISO/IEC 7816-3:2006 8.3).
    ///
    /// [`Line`]: crate::line::Line
    pub fn extra_guard_n_at(&self, timing: &Timing) -> u8 {
        self.parameters
            .extra_guard_n_at(self.atr.indicates_t15(), timing)
    }
}

/// Whether a reader with `reader` capabilities can run the specific mode of a card
/// announcing `parameters`, in `protocol` (TA2's): the reader has the protocol and
/// [`pps::negotiate`](crate::pps::negotiate) accepts TA1's Fi/Di for it (implicit
/// parameters run at Fd/Dd, which every reader can).
fn runs_specific_mode(
    parameters: &Parameters,
    protocol: Protocol,
    reader: &ReaderCapabilities,
) -> bool {
    use crate::pps;
    let accepted = pps::negotiate(
        &pps::CardOffer::of(parameters),
        &pps::ReaderLimits::of(reader),
        &pps::Wanted::optimal(protocol),
    );
    reader.protocols.contains(protocol)
        && matches!(accepted, Ok(_) | Err(pps::Error::ImplicitParameters))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed card clock is the default and the maximum, and the default data
    /// rate is that clock over 372 (rounded down); nothing else changes.
    #[test]
    fn a_fixed_clock_sets_both_clocks_and_the_default_rate() {
        let typical = ReaderCapabilities::typical();
        for (khz, rate) in [(4_000, 10_752), (4_800, 12_903), (3_686, 9_908), (1, 2)] {
            let fixed = typical.clone().with_fixed_clock(khz);
            assert_eq!((fixed.default_clock_khz, fixed.max_clock_khz), (khz, khz));
            assert_eq!(fixed.default_data_rate, rate, "{khz} kHz");
            assert_eq!(
                ReaderCapabilities {
                    default_clock_khz: typical.default_clock_khz,
                    max_clock_khz: typical.max_clock_khz,
                    default_data_rate: typical.default_data_rate,
                    ..fixed
                },
                typical
            );
        }
    }

    #[test]
    fn check_wants_a_protocol_and_an_ifsd_of_1_to_254() {
        let typical = ReaderCapabilities::typical();
        assert_eq!(typical.check(), Ok(()));
        for max_ifsd in [0, 255] {
            let caps = ReaderCapabilities {
                max_ifsd,
                ..typical.clone()
            };
            assert_eq!(caps.check(), Err(Status::InvalidParameter), "{max_ifsd}");
        }
        for protocols in [0, ProtocolMask::RAW.0 << 1] {
            let caps = ReaderCapabilities {
                protocols: ProtocolMask(protocols),
                ..typical.clone()
            };
            assert_eq!(
                caps.check(),
                Err(Status::InvalidParameter),
                "{protocols:#x}"
            );
        }
    }

    #[test]
    fn readerkit_readers_carry_this_crates_version() {
        let version = |part: &str| part.parse::<u32>().unwrap();
        let v = IfdVersion::READERKIT;
        assert_eq!(
            [u32::from(v.major), u32::from(v.minor), u32::from(v.build)],
            [
                version(env!("CARGO_PKG_VERSION_MAJOR")),
                version(env!("CARGO_PKG_VERSION_MINOR")),
                version(env!("CARGO_PKG_VERSION_PATCH")),
            ]
        );
        let attributes = VendorAttributes::readerkit(b"sim:t1", 2, b"SIM0001");
        assert_eq!(attributes.vendor_name.as_slice(), b"readerkit");
        assert_eq!(attributes.ifd_type.as_slice(), b"sim:t1");
        assert_eq!(attributes.unit, 2);
        assert_eq!(attributes.serial_number.as_slice(), b"SIM0001");
        assert_eq!(attributes.ifd_version.to_u32(), 0x0001_0000);
    }

    /// The card's capabilities for `atr` (hex, TCK appended when `tck`).
    fn card(atr: &str, tck: bool) -> CardCapabilities {
        let bytes = if tck {
            crate::atr::with_tck(atr)
        } else {
            readerkit_testkit::hex::parse(atr)
        };
        let atr = Atr::parse(&bytes).unwrap();
        assert_eq!(
            atr.tck(),
            if tck {
                crate::atr::Tck::Ok
            } else {
                crate::atr::Tck::Absent
            }
        );
        CardCapabilities::new(atr, &ReaderCapabilities::typical())
    }

    #[test]
    fn extra_guard_time_counts_fi_di_cycles_when_t15_is_present() {
        // TA1 = 41 (Fi 4: F 1116, Di 1), TC1 = 05, TD1 = 80 (T=0), TD2 = 1F (T=15),
        // TA3 = 07 (classes A, B, C).
        let t15 = card("3B D0 41 05 80 1F 07", true);
        let defaults = Timing::default_at(3_580);
        // 5 × 1116 cycles = 15 etu of 372 cycles (ISO/IEC 7816-3:2006 8.3, R = Fi/Di).
        assert_eq!(t15.extra_guard_n_at(&defaults), 15);
        // At TA1's own F and D, N counts etu as without T=15.
        let ta1 = Timing::from_indices(4, 1, 3_580).unwrap();
        assert_eq!(t15.extra_guard_n_at(&ta1), 5);
        // F 512, D 16 (32 cycles an etu): 5580 cycles are 174.4 etu, rounded up.
        let fast = Timing {
            f: 512,
            d: 16,
            clock_khz: 4_000,
        };
        assert_eq!(t15.extra_guard_n_at(&fast), 175);
        // Without T=15, N is etu of the timing in force, whatever it is.
        let t0 = card("3B 50 41 05", false);
        for timing in [defaults, ta1, fast] {
            assert_eq!(t0.extra_guard_n_at(&timing), 5);
        }
        // 255 (the minimum guard time) and 0 stay; a large N is capped at 254.
        for (tc1, n) in [("FF", 255), ("00", 0), ("FE", 254), ("33", 153)] {
            let c = card(&std::format!("3B D0 41 {tc1} 80 1F 07"), true);
            assert_eq!(c.extra_guard_n_at(&defaults), n, "TC1 {tc1}");
        }
    }

    #[test]
    fn ifd_version_reads_back_its_dword() {
        let v = IfdVersion::from_u32(0x0102_0304);
        assert_eq!(
            v,
            IfdVersion {
                major: 1,
                minor: 2,
                build: 0x0304
            }
        );
        assert_eq!(v.to_u32(), 0x0102_0304);
    }
}

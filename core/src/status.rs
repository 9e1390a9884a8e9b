//! The one status type of the library, and its translations.
//!
//! Every request ends in a [`Status`]. Its variants are named after the NTSTATUS
//! values that the Windows smart card driver library (smclib) returns, so the WDM
//! binding maps them one to one; the pcsc-lite binding and C callers get their own
//! codes through [`Status::to_ifd`] and [`Status::to_scard`].
//!
//! | mapping | one to one? |
//! | --- | --- |
//! | [`Status::to_ntstatus`] / [`Status::from_ntstatus`] | yes, both ways |
//! | [`Status::to_win32`] (what `RtlNtStatusToDosError` gives) | no: two statuses share `ERROR_MORE_DATA` |
//! | [`Status::to_ifd`] / [`Status::from_ifd`] | no: pcsc-lite has fewer codes; `from_ifd` inverts the codes that have one status |
//! | [`Status::to_scard`] / [`Status::from_scard`] | no: `from_scard` inverts the codes that have one status |

use core::ffi::CStr;
use core::fmt;

/// Declares [`Status`] and [`Failure`] from one table, so that each status is
/// written once: its name, its documentation and its [`Codes`].
///
/// The input reads like the two enums: their documentation and attributes, and in
/// `Status` a row a variant, `Name => Codes { .. },` under the variant's
/// documentation, `Success` first. `Failure` has no body: its variants are the
/// other rows, with the same names in the same order. The macro declares:
/// - `enum Status` (every row) and `enum Failure` (every row but `Success`, each
///   variant documented by a link to its status);
/// - `Status::ALL`, the variants in declaration order, and `CODES`, the rows' codes
///   in the same order (row `i` belongs to the status whose discriminant is `i`);
/// - `Status::failure` and `Failure::status`, the conversions between the two.
macro_rules! status_table {
    (
        $(#[$status_meta:meta])*
        pub enum Status {
            $(#[$success_meta:meta])*
            Success => $success_codes:expr,
            $(
                $(#[$meta:meta])*
                $name:ident => $codes:expr,
            )+
        }

        $(#[$failure_meta:meta])*
        pub enum Failure;
    ) => {
        $(#[$status_meta])*
        pub enum Status {
            $(#[$success_meta])*
            Success,
            $(
                $(#[$meta])*
                $name,
            )+
        }

        $(#[$failure_meta])*
        pub enum Failure {
            $(
                #[doc = concat!("[`Status::", stringify!($name), "`].")]
                $name,
            )+
        }

        /// The codes of every status, in declaration order.
        const CODES: [Codes; Status::ALL.len()] = [$success_codes, $($codes,)+];

        impl Status {
            /// Every status, in declaration order (for tables and tests).
            // Its length counts the rows: `Success` and the failures.
            pub const ALL: [Status; 1 + [$(Status::$name),+].len()] =
                [Status::Success, $(Status::$name,)+];

            /// The failure this status reports; `None` for [`Status::Success`].
            pub const fn failure(self) -> Option<Failure> {
                match self {
                    Status::Success => None,
                    $(Status::$name => Some(Failure::$name),)+
                }
            }
        }

        impl Failure {
            /// The status of this failure.
            pub const fn status(self) -> Status {
                match self {
                    $(Failure::$name => Status::$name,)+
                }
            }
        }
    };
}

status_table! {
    /// The outcome of a request.
    ///
    /// Reader-driver callbacks fail with a [`Failure`], which is every status but
    /// success ([`Status::failure`], `From<Failure>`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    #[non_exhaustive]
    pub enum Status {
        /// The request succeeded (`STATUS_SUCCESS`).
        Success => Codes {
            ntstatus: 0x0000_0000,
            win32: 0,
            ifd: ifd::SUCCESS,
            scard: scard::S_SUCCESS,
            description: c"success",
        },
        /// A library-internal buffer is too small for the data (`STATUS_BUFFER_OVERFLOW`).
        BufferOverflow => Codes {
            ntstatus: 0x8000_0005,
            win32: 234, // ERROR_MORE_DATA
            ifd: ifd::ERROR_INSUFFICIENT_BUFFER,
            scard: scard::E_INSUFFICIENT_BUFFER,
            description: c"internal buffer overflow",
        },
        /// The device cannot take the request now (`STATUS_DEVICE_BUSY`): a
        /// card-tracking request is already pending, or the request came from inside
        /// one of the device's own callbacks (see [`Device`](crate::Device)).
        DeviceBusy => Codes {
            ntstatus: 0x8000_0011,
            win32: 170, // ERROR_BUSY
            ifd: ifd::COMMUNICATION_ERROR,
            scard: scard::E_SHARING_VIOLATION,
            description: c"device busy",
        },
        /// A generic failure (`STATUS_UNSUCCESSFUL`).
        Unsuccessful => Codes {
            ntstatus: 0xC000_0001,
            win32: 31, // ERROR_GEN_FAILURE
            ifd: ifd::COMMUNICATION_ERROR,
            scard: scard::F_INTERNAL_ERROR,
            description: c"unsuccessful",
        },
        /// A buffer or value in the request is malformed (`STATUS_INVALID_PARAMETER`).
        InvalidParameter => Codes {
            ntstatus: 0xC000_000D,
            win32: 87, // ERROR_INVALID_PARAMETER
            ifd: ifd::COMMUNICATION_ERROR,
            scard: scard::E_INVALID_PARAMETER,
            description: c"invalid parameter",
        },
        /// The request is unknown, or names no known protocol (`STATUS_INVALID_DEVICE_REQUEST`).
        InvalidDeviceRequest => Codes {
            ntstatus: 0xC000_0010,
            win32: 1, // ERROR_INVALID_FUNCTION
            ifd: ifd::COMMUNICATION_ERROR,
            scard: scard::E_INVALID_VALUE,
            description: c"invalid device request",
        },
        /// The card's ATR is not ISO 7816-3 or names parameters nobody supports
        /// (`STATUS_UNRECOGNIZED_MEDIA`).
        UnrecognizedMedia => Codes {
            ntstatus: 0xC000_0014,
            win32: 1785, // ERROR_UNRECOGNIZED_MEDIA
            ifd: ifd::ERROR_POWER_ACTION,
            scard: scard::E_CARD_UNSUPPORTED,
            description: c"unrecognized card",
        },
        /// The caller's output buffer cannot hold the answer (`STATUS_BUFFER_TOO_SMALL`).
        BufferTooSmall => Codes {
            ntstatus: 0xC000_0023,
            win32: 122, // ERROR_INSUFFICIENT_BUFFER
            ifd: ifd::ERROR_INSUFFICIENT_BUFFER,
            scard: scard::E_INSUFFICIENT_BUFFER,
            description: c"buffer too small",
        },
        /// The device is being removed; no new request is accepted (`STATUS_DELETE_PENDING`).
        DeletePending => Codes {
            ntstatus: 0xC000_0056,
            win32: 5, // ERROR_ACCESS_DENIED
            ifd: ifd::NO_SUCH_DEVICE,
            scard: scard::E_READER_UNAVAILABLE,
            description: c"device removal pending",
        },
        /// Memory or another resource ran out (`STATUS_INSUFFICIENT_RESOURCES`).
        InsufficientResources => Codes {
            ntstatus: 0xC000_009A,
            win32: 1450, // ERROR_NO_SYSTEM_RESOURCES
            ifd: ifd::COMMUNICATION_ERROR,
            scard: scard::E_NO_MEMORY,
            description: c"insufficient resources",
        },
        /// The card or the reader did not answer in time (`STATUS_IO_TIMEOUT`).
        IoTimeout => Codes {
            ntstatus: 0xC000_00B5,
            win32: 121, // ERROR_SEM_TIMEOUT
            ifd: ifd::RESPONSE_TIMEOUT,
            scard: scard::E_TIMEOUT,
            description: c"I/O timeout",
        },
        /// The reader driver offers no such function, or the card no such protocol
        /// (`STATUS_NOT_SUPPORTED`).
        NotSupported => Codes {
            ntstatus: 0xC000_00BB,
            win32: 50, // ERROR_NOT_SUPPORTED
            ifd: ifd::NOT_SUPPORTED,
            scard: scard::E_UNSUPPORTED_FEATURE,
            description: c"not supported",
        },
        /// A pending request was cancelled or its handle closed (`STATUS_CANCELLED`).
        Cancelled => Codes {
            ntstatus: 0xC000_0120,
            win32: 995, // ERROR_OPERATION_ABORTED
            ifd: ifd::COMMUNICATION_ERROR,
            scard: scard::E_CANCELLED,
            description: c"cancelled",
        },
        /// No card is in the reader (`STATUS_NO_MEDIA`).
        NoMedia => Codes {
            ntstatus: 0xC000_0178,
            win32: 1112, // ERROR_NO_MEDIA_IN_DRIVE
            ifd: ifd::ICC_NOT_PRESENT,
            scard: scard::E_NO_SMARTCARD,
            description: c"no card",
        },
        /// The card is not in the state the request needs (`STATUS_INVALID_DEVICE_STATE`).
        InvalidDeviceState => Codes {
            ntstatus: 0xC000_0184,
            win32: 22, // ERROR_BAD_COMMAND
            ifd: ifd::COMMUNICATION_ERROR,
            scard: scard::E_NOT_READY,
            description: c"invalid device state",
        },
        /// The card broke the transmission protocol (`STATUS_DEVICE_PROTOCOL_ERROR`).
        DeviceProtocolError => Codes {
            ntstatus: 0xC000_0186,
            win32: 1117, // ERROR_IO_DEVICE
            ifd: ifd::COMMUNICATION_ERROR,
            scard: scard::F_COMM_ERROR,
            description: c"device protocol error",
        },
        /// The reader sleeps and cannot take the request (`STATUS_DEVICE_NOT_READY`):
        /// between [`Device::suspend`](crate::Device::suspend) and
        /// [`Device::resume`](crate::Device::resume), every request but the
        /// read-only ones.
        DeviceNotReady => Codes {
            ntstatus: 0xC000_00A3,
            win32: 21, // ERROR_NOT_READY
            ifd: ifd::COMMUNICATION_ERROR,
            scard: scard::E_NOT_READY,
            description: c"device not ready (asleep)",
        },
    }

    /// Why a reader-driver callback or a [`Line`](crate::line::Line) failed: every
    /// [`Status`] but [`Status::Success`], so that a failure can never read as success.
    /// Each variant is the status of the same name (`From<Failure> for Status`); the
    /// core's engine errors convert into it (`From<t0::Error>` and the others).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    #[non_exhaustive]
    // Its variants are the rows above but `Success` (see `status_table!`).
    pub enum Failure;
}

/// A status's codes in every family and its description: the one place each
/// mapping is written; every conversion, both ways, reads it.
struct Codes {
    /// The NTSTATUS value (unsigned 32-bit pattern).
    ntstatus: u32,
    /// What `RtlNtStatusToDosError` gives for `ntstatus`.
    win32: u32,
    /// The pcsc-lite `IFD_*` code.
    ifd: u32,
    /// The `SCARD_*` code (Windows values).
    scard: u32,
    /// A short English description, NUL-terminated for C callers.
    description: &'static CStr,
}

/// The code families a status maps to, for the inverse look-ups.
#[derive(Clone, Copy)]
enum Family {
    NtStatus,
    Ifd,
    Scard,
}

impl Codes {
    const fn code(&self, family: Family) -> u32 {
        match family {
            Family::NtStatus => self.ntstatus,
            Family::Ifd => self.ifd,
            Family::Scard => self.scard,
        }
    }
}

impl Status {
    /// This status's row of the table.
    const fn codes(self) -> &'static Codes {
        &CODES[self as usize]
    }

    /// The status whose `family` code is `code`, if exactly one status has it.
    const fn with_code(family: Family, code: u32) -> Option<Status> {
        let mut found = None;
        let mut i = 0;
        while i < CODES.len() {
            if CODES[i].code(family) == code {
                if found.is_some() {
                    return None;
                }
                found = Some(Status::ALL[i]);
            }
            i += 1;
        }
        found
    }

    /// `true` for [`Status::Success`].
    pub const fn is_success(self) -> bool {
        matches!(self, Status::Success)
    }

    /// `Ok(())` for success, else the failure: how a binding turns a status code
    /// from a foreign driver (C, WDM) into a callback's result.
    pub const fn into_result(self) -> Result<(), Failure> {
        match self.failure() {
            None => Ok(()),
            Some(failure) => Err(failure),
        }
    }

    /// The NTSTATUS value (as the unsigned 32-bit pattern).
    pub const fn to_ntstatus(self) -> u32 {
        self.codes().ntstatus
    }

    /// The status for an NTSTATUS value, if it is one of ours.
    ///
    /// `STATUS_TIMEOUT` (0x102, a success code some drivers return for a silent card)
    /// is read as [`Status::IoTimeout`], as Microsoft's sample reader drivers do.
    pub const fn from_ntstatus(value: u32) -> Option<Status> {
        const STATUS_TIMEOUT: u32 = 0x0000_0102;
        if value == STATUS_TIMEOUT {
            return Some(Status::IoTimeout);
        }
        Status::with_code(Family::NtStatus, value)
    }

    /// The Win32 error code that Windows' `RtlNtStatusToDosError` gives for this status
    /// (what a WinSCard application sees when the error passes through unchanged).
    pub const fn to_win32(self) -> u32 {
        self.codes().win32
    }

    /// The pcsc-lite IFD handler code (`IFD_*` of `ifdhandler.h`) for this status.
    ///
    /// pcsc-lite has no code for several statuses; they become
    /// `IFD_COMMUNICATION_ERROR` (612), which pcscd reports as
    /// `SCARD_E_NOT_TRANSACTED`. Handlers refine this per call where pcsc-lite has a
    /// specific code (for example `IFD_ERROR_POWER_ACTION` for a failed power-up).
    pub const fn to_ifd(self) -> u32 {
        self.codes().ifd
    }

    /// The status for an `IFD_*` code, where that code stands for exactly one status.
    pub const fn from_ifd(code: u32) -> Option<Status> {
        Status::with_code(Family::Ifd, code)
    }

    /// The PC/SC `SCARD_*` result code (Windows `winerror.h` values) for this status.
    ///
    /// pcsc-lite uses the same values except `SCARD_E_UNSUPPORTED_FEATURE`, which it
    /// defines as 0x8010001F; [`scard::UNSUPPORTED_FEATURE_PCSCLITE`] has it.
    pub const fn to_scard(self) -> u32 {
        self.codes().scard
    }

    /// The status for an `SCARD_*` code, where that code stands for exactly one status
    /// (pcsc-lite's `SCARD_E_UNSUPPORTED_FEATURE` included).
    pub const fn from_scard(code: u32) -> Option<Status> {
        if code == scard::UNSUPPORTED_FEATURE_PCSCLITE {
            return Some(Status::NotSupported);
        }
        Status::with_code(Family::Scard, code)
    }

    /// A short English description, without the NTSTATUS name.
    pub const fn description(self) -> &'static str {
        // Every description is ASCII (checked by a test), so never the empty default.
        match core::str::from_utf8(self.c_description().to_bytes()) {
            Ok(text) => text,
            Err(_) => "",
        }
    }

    /// [`Status::description`] as a NUL-terminated string, for C callers.
    pub const fn c_description(self) -> &'static CStr {
        self.codes().description
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

impl core::error::Error for Status {}

/// Every failure is a status, and so is every error that converts into a failure
/// (the engines' errors: `From<t0::Error> for Failure` and the others), so that
/// `?` turns any of them into the request's status in one place.
impl<E: Into<Failure>> From<E> for Status {
    fn from(error: E) -> Status {
        error.into().status()
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.status().description())
    }
}

impl core::error::Error for Failure {}

/// `STATUS_PENDING`, the NTSTATUS of a request that completes later. No
/// [`Status`]: the core completes a pending request later
/// ([`Outcome::Pending`](crate::Outcome::Pending)) instead of returning it.
pub const NTSTATUS_PENDING: u32 = 0x0000_0103;
/// `ERROR_IO_PENDING`, the Win32 error of a request that completes later.
pub const WIN32_IO_PENDING: u32 = 997;

/// pcsc-lite `IFD_*` response codes (`ifdhandler.h`).
pub mod ifd {
    /// `IFD_SUCCESS`
    pub const SUCCESS: u32 = 0;
    /// `IFD_ERROR_TAG`: unknown capability tag.
    pub const ERROR_TAG: u32 = 600;
    /// `IFD_ERROR_SET_FAILURE`
    pub const ERROR_SET_FAILURE: u32 = 601;
    /// `IFD_ERROR_VALUE_READ_ONLY`
    pub const ERROR_VALUE_READ_ONLY: u32 = 602;
    /// `IFD_ERROR_PTS_FAILURE`
    pub const ERROR_PTS_FAILURE: u32 = 605;
    /// `IFD_ERROR_NOT_SUPPORTED`
    pub const ERROR_NOT_SUPPORTED: u32 = 606;
    /// `IFD_PROTOCOL_NOT_SUPPORTED`
    pub const PROTOCOL_NOT_SUPPORTED: u32 = 607;
    /// `IFD_ERROR_POWER_ACTION`
    pub const ERROR_POWER_ACTION: u32 = 608;
    /// `IFD_ERROR_SWALLOW`
    pub const ERROR_SWALLOW: u32 = 609;
    /// `IFD_ERROR_EJECT`
    pub const ERROR_EJECT: u32 = 610;
    /// `IFD_ERROR_CONFISCATE`
    pub const ERROR_CONFISCATE: u32 = 611;
    /// `IFD_COMMUNICATION_ERROR`
    pub const COMMUNICATION_ERROR: u32 = 612;
    /// `IFD_RESPONSE_TIMEOUT`
    pub const RESPONSE_TIMEOUT: u32 = 613;
    /// `IFD_NOT_SUPPORTED`
    pub const NOT_SUPPORTED: u32 = 614;
    /// `IFD_ICC_PRESENT`
    pub const ICC_PRESENT: u32 = 615;
    /// `IFD_ICC_NOT_PRESENT`
    pub const ICC_NOT_PRESENT: u32 = 616;
    /// `IFD_NO_SUCH_DEVICE`
    pub const NO_SUCH_DEVICE: u32 = 617;
    /// `IFD_ERROR_INSUFFICIENT_BUFFER`
    pub const ERROR_INSUFFICIENT_BUFFER: u32 = 618;
}

/// PC/SC `SCARD_*` result codes (Windows `winerror.h` values).
pub mod scard {
    /// `SCARD_S_SUCCESS`
    pub const S_SUCCESS: u32 = 0;
    /// `SCARD_F_INTERNAL_ERROR`
    pub const F_INTERNAL_ERROR: u32 = 0x8010_0001;
    /// `SCARD_E_CANCELLED`
    pub const E_CANCELLED: u32 = 0x8010_0002;
    /// `SCARD_E_INVALID_PARAMETER`
    pub const E_INVALID_PARAMETER: u32 = 0x8010_0004;
    /// `SCARD_E_NO_MEMORY`
    pub const E_NO_MEMORY: u32 = 0x8010_0006;
    /// `SCARD_E_INSUFFICIENT_BUFFER`
    pub const E_INSUFFICIENT_BUFFER: u32 = 0x8010_0008;
    /// `SCARD_E_TIMEOUT`
    pub const E_TIMEOUT: u32 = 0x8010_000A;
    /// `SCARD_E_SHARING_VIOLATION`
    pub const E_SHARING_VIOLATION: u32 = 0x8010_000B;
    /// `SCARD_E_NO_SMARTCARD`
    pub const E_NO_SMARTCARD: u32 = 0x8010_000C;
    /// `SCARD_E_PROTO_MISMATCH`
    pub const E_PROTO_MISMATCH: u32 = 0x8010_000F;
    /// `SCARD_E_NOT_READY`
    pub const E_NOT_READY: u32 = 0x8010_0010;
    /// `SCARD_E_INVALID_VALUE`
    pub const E_INVALID_VALUE: u32 = 0x8010_0011;
    /// `SCARD_F_COMM_ERROR`
    pub const F_COMM_ERROR: u32 = 0x8010_0013;
    /// `SCARD_E_NOT_TRANSACTED`
    pub const E_NOT_TRANSACTED: u32 = 0x8010_0016;
    /// `SCARD_E_READER_UNAVAILABLE`
    pub const E_READER_UNAVAILABLE: u32 = 0x8010_0017;
    /// `SCARD_E_CARD_UNSUPPORTED`
    pub const E_CARD_UNSUPPORTED: u32 = 0x8010_001C;
    /// `SCARD_E_UNSUPPORTED_FEATURE` (Windows value).
    pub const E_UNSUPPORTED_FEATURE: u32 = 0x8010_0022;
    /// `SCARD_E_UNSUPPORTED_FEATURE` as pcsc-lite defines it.
    pub const UNSUPPORTED_FEATURE_PCSCLITE: u32 = 0x8010_001F;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_are_ascii_and_not_empty() {
        // Usable in constants, as before the table held C strings.
        const SUCCESS: &str = Status::Success.description();
        assert_eq!(SUCCESS, "success");
        for s in Status::ALL {
            assert!(s.c_description().to_bytes().is_ascii(), "{s:?}");
            assert!(!s.description().is_empty(), "{s:?}");
        }
    }

    #[test]
    fn ntstatus_is_one_to_one_both_ways() {
        for s in Status::ALL {
            assert_eq!(Status::from_ntstatus(s.to_ntstatus()), Some(s), "{s:?}");
        }
        let mut codes: heapless::Vec<u32, { Status::ALL.len() }> =
            Status::ALL.iter().map(|s| s.to_ntstatus()).collect();
        codes.sort_unstable();
        for pair in codes.windows(2) {
            assert_ne!(pair[0], pair[1]);
        }
        assert_eq!(Status::from_ntstatus(0x102), Some(Status::IoTimeout));
        assert_eq!(Status::from_ntstatus(0xC000_0002), None);
    }

    #[test]
    fn ifd_round_trips_where_one_to_one() {
        for s in Status::ALL {
            let code = s.to_ifd();
            if let Some(back) = Status::from_ifd(code) {
                assert_eq!(back, s, "IFD {code} claims one status");
                let sharing = Status::ALL.iter().filter(|o| o.to_ifd() == code).count();
                assert_eq!(sharing, 1, "IFD {code} is shared but from_ifd inverts it");
            }
        }
        assert_eq!(Status::NoMedia.to_ifd(), 616);
        assert_eq!(Status::BufferTooSmall.to_ifd(), 618);
        assert_eq!(Status::from_ifd(612), None);
    }

    #[test]
    fn scard_round_trips_where_one_to_one() {
        for s in Status::ALL {
            let code = s.to_scard();
            let sharing = Status::ALL.iter().filter(|o| o.to_scard() == code).count();
            if sharing == 1 {
                assert_eq!(Status::from_scard(code), Some(s));
            } else {
                assert_eq!(Status::from_scard(code), None);
            }
        }
        assert_eq!(Status::NoMedia.to_scard(), 0x8010_000C);
        assert_eq!(
            Status::from_scard(scard::UNSUPPORTED_FEATURE_PCSCLITE),
            Some(Status::NotSupported)
        );
    }

    #[test]
    fn failure_is_every_status_but_success() {
        let mut failures = 0;
        for s in Status::ALL {
            match s.failure() {
                None => assert_eq!(s, Status::Success),
                Some(f) => {
                    assert_eq!(Status::from(f), s);
                    assert_eq!(std::format!("{f}"), std::format!("{s}"));
                    assert_eq!(s.into_result(), Err(f));
                    failures += 1;
                }
            }
        }
        assert_eq!(failures, Status::ALL.len() - 1);
        assert_eq!(Status::Success.into_result(), Ok(()));
    }

    #[test]
    fn win32_values_match_rtl_table() {
        assert_eq!(Status::IoTimeout.to_win32(), 121);
        assert_eq!(Status::NoMedia.to_win32(), 1112);
        assert_eq!(Status::DeviceProtocolError.to_win32(), 1117);
    }
}

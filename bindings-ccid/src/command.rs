//! Every PC_to_RDR command of CCID 1.1 §6.1 with its fields checked
//! ([`Command::parse`], smoltcp's `Repr::parse`) and written back ([`Command::emit`]).

use readerkit::Protocol;

use crate::error::SlotError;
use crate::message::{self, Message, emit_header, field, pc_to_rdr};

/// The byte of each value of a command-specific field, written once: `code` (the
/// byte in the message) and `from_code` (the value of a byte, `None` for one CCID
/// does not define) for `Enum { Variant = byte, .. }`.
macro_rules! byte_codes {
    ($name:ident { $($variant:ident = $code:literal),+ $(,)? }) => {
        impl $name {
            /// The byte in the message.
            pub const fn code(self) -> u8 {
                match self {
                    $($name::$variant => $code,)+
                }
            }

            /// The value of a byte; `None` for one CCID does not define.
            pub const fn from_code(code: u8) -> Option<$name> {
                match code {
                    $($code => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

/// `bPowerSelect` of IccPowerOn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Voltage {
    /// 0: the reader chooses.
    Automatic,
    /// 1: 5.0 V.
    V5,
    /// 2: 3.0 V.
    V3,
    /// 3: 1.8 V.
    V1_8,
}

impl Voltage {
    /// The bit of this voltage in the descriptor's `bVoltageSupport` (0 for
    /// automatic).
    pub const fn support_bit(self) -> u8 {
        match self {
            Voltage::Automatic => 0,
            Voltage::V5 => 0x01,
            Voltage::V3 => 0x02,
            Voltage::V1_8 => 0x04,
        }
    }
}

/// `bClockCommand` of IccClock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClockCommand {
    /// 0: restart the clock.
    Restart,
    /// 1: stop the clock in the state the card asks for.
    Stop,
}

/// `bFunction` of Mechanical.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MechanicalFunction {
    /// 1: accept the card.
    Accept,
    /// 2: eject the card.
    Eject,
    /// 3: capture (confiscate) the card.
    Capture,
    /// 4: lock the card.
    Lock,
    /// 5: unlock the card.
    Unlock,
}

byte_codes!(Voltage { Automatic = 0, V5 = 1, V3 = 2, V1_8 = 3 });
byte_codes!(ClockCommand { Restart = 0, Stop = 1 });
byte_codes!(MechanicalFunction { Accept = 1, Eject = 2, Capture = 3, Lock = 4, Unlock = 5 });

/// A PC_to_RDR command, its fields checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    /// IccPowerOn (0x62).
    IccPowerOn {
        /// The voltage asked for.
        voltage: Voltage,
    },
    /// IccPowerOff (0x63).
    IccPowerOff,
    /// GetSlotStatus (0x65).
    GetSlotStatus,
    /// XfrBlock (0x6F).
    XfrBlock {
        /// `bBWI`: block waiting time multiplier for this exchange (0 = as is).
        bwi: u8,
        /// `wLevelParameter` (extended APDU chaining; 0 at other levels).
        level: u16,
        /// The TPDU or APDU.
        data: &'a [u8],
    },
    /// GetParameters (0x6C).
    GetParameters,
    /// ResetParameters (0x6D).
    ResetParameters,
    /// SetParameters (0x61).
    SetParameters {
        /// `bProtocolNum`: T=0 or T=1.
        protocol: Protocol,
        /// The protocol data structure (5 bytes for T=0, 7 for T=1).
        data: &'a [u8],
    },
    /// Escape (0x6B).
    Escape {
        /// The vendor command.
        data: &'a [u8],
    },
    /// IccClock (0x6E).
    IccClock {
        /// Restart or stop.
        command: ClockCommand,
    },
    /// T0APDU (0x6A).
    T0Apdu {
        /// `bmChanges`.
        changes: u8,
        /// `bClassGetResponse`.
        class_get_response: u8,
        /// `bClassEnvelope`.
        class_envelope: u8,
    },
    /// Secure (0x69): PIN verification or modification.
    Secure {
        /// `bBWI`.
        bwi: u8,
        /// `wLevelParameter`.
        level: u16,
        /// The PIN operation data structure.
        data: &'a [u8],
    },
    /// Mechanical (0x71).
    Mechanical {
        /// What to do with the card.
        function: MechanicalFunction,
    },
    /// Abort (0x72).
    Abort,
    /// SetDataRateAndClockFrequency (0x73).
    SetDataRateAndClock {
        /// `dwClockFrequency`, in kHz.
        clock_khz: u32,
        /// `dwDataRate`, in bit/s.
        data_rate: u32,
    },
}

fn no_data(message: &Message<&[u8]>) -> Result<(), SlotError> {
    if message.length() == 0 {
        Ok(())
    } else {
        Err(SlotError::BadField(field::LENGTH as u8))
    }
}

impl<'a> Command<'a> {
    /// The command a message holds. The caller has checked `dwLength` against the
    /// bytes ([`Message::check_len`]). Refusals, as CCID 1.1 §6.2.6 names them: an
    /// unknown message type is [`SlotError::CommandNotSupported`]; `abData` on a
    /// command that takes none, or of the wrong size, is `BadField(1)`; a bad
    /// command-specific byte is `BadField` of its offset (7, 8 or 9).
    pub fn parse(message: &Message<&'a [u8]>) -> Result<Command<'a>, SlotError> {
        let [b7, b8, b9] = message.specific();
        let data: &'a [u8] = message
            .into_inner()
            .get(message::HEADER_LEN..)
            .unwrap_or(&[]);
        let level = u16::from_le_bytes([b8, b9]);
        let bad = |offset: usize| SlotError::BadField(offset as u8);
        Ok(match message.message_type() {
            pc_to_rdr::ICC_POWER_ON => {
                no_data(message)?;
                let voltage = Voltage::from_code(b7).ok_or(bad(7))?;
                Command::IccPowerOn { voltage }
            }
            pc_to_rdr::ICC_POWER_OFF => {
                no_data(message)?;
                Command::IccPowerOff
            }
            pc_to_rdr::GET_SLOT_STATUS => {
                no_data(message)?;
                Command::GetSlotStatus
            }
            pc_to_rdr::XFR_BLOCK => Command::XfrBlock {
                bwi: b7,
                level,
                data,
            },
            pc_to_rdr::GET_PARAMETERS => {
                no_data(message)?;
                Command::GetParameters
            }
            pc_to_rdr::RESET_PARAMETERS => {
                no_data(message)?;
                Command::ResetParameters
            }
            pc_to_rdr::SET_PARAMETERS => {
                let (protocol, len) = match b7 {
                    0 => (Protocol::T0, crate::parameters::T0_LEN),
                    1 => (Protocol::T1, crate::parameters::T1_LEN),
                    _ => return Err(bad(7)),
                };
                if data.len() != len {
                    return Err(bad(field::LENGTH));
                }
                if let Some(offset) = crate::parameters::malformed_field(protocol, data) {
                    return Err(bad(offset));
                }
                Command::SetParameters { protocol, data }
            }
            pc_to_rdr::ESCAPE => Command::Escape { data },
            pc_to_rdr::ICC_CLOCK => {
                no_data(message)?;
                let command = ClockCommand::from_code(b7).ok_or(bad(7))?;
                Command::IccClock { command }
            }
            pc_to_rdr::T0_APDU => {
                no_data(message)?;
                if b7 > 0x03 {
                    return Err(bad(7));
                }
                Command::T0Apdu {
                    changes: b7,
                    class_get_response: b8,
                    class_envelope: b9,
                }
            }
            pc_to_rdr::SECURE => Command::Secure {
                bwi: b7,
                level,
                data,
            },
            pc_to_rdr::MECHANICAL => {
                no_data(message)?;
                let function = MechanicalFunction::from_code(b7).ok_or(bad(7))?;
                Command::Mechanical { function }
            }
            pc_to_rdr::ABORT => {
                no_data(message)?;
                Command::Abort
            }
            pc_to_rdr::SET_DATA_RATE_AND_CLOCK => {
                let fields: [u8; 8] = data.try_into().map_err(|_| bad(field::LENGTH))?;
                let [c0, c1, c2, c3, r0, r1, r2, r3] = fields;
                Command::SetDataRateAndClock {
                    clock_khz: u32::from_le_bytes([c0, c1, c2, c3]),
                    data_rate: u32::from_le_bytes([r0, r1, r2, r3]),
                }
            }
            _ => return Err(SlotError::CommandNotSupported),
        })
    }

    /// The `bMessageType` of this command.
    pub const fn message_type(&self) -> u8 {
        match self {
            Command::IccPowerOn { .. } => pc_to_rdr::ICC_POWER_ON,
            Command::IccPowerOff => pc_to_rdr::ICC_POWER_OFF,
            Command::GetSlotStatus => pc_to_rdr::GET_SLOT_STATUS,
            Command::XfrBlock { .. } => pc_to_rdr::XFR_BLOCK,
            Command::GetParameters => pc_to_rdr::GET_PARAMETERS,
            Command::ResetParameters => pc_to_rdr::RESET_PARAMETERS,
            Command::SetParameters { .. } => pc_to_rdr::SET_PARAMETERS,
            Command::Escape { .. } => pc_to_rdr::ESCAPE,
            Command::IccClock { .. } => pc_to_rdr::ICC_CLOCK,
            Command::T0Apdu { .. } => pc_to_rdr::T0_APDU,
            Command::Secure { .. } => pc_to_rdr::SECURE,
            Command::Mechanical { .. } => pc_to_rdr::MECHANICAL,
            Command::Abort => pc_to_rdr::ABORT,
            Command::SetDataRateAndClock { .. } => pc_to_rdr::SET_DATA_RATE_AND_CLOCK,
        }
    }

    /// Length of the message [`Command::emit`] writes, in bytes.
    pub fn message_len(&self) -> usize {
        message::HEADER_LEN
            + match self {
                Command::XfrBlock { data, .. }
                | Command::SetParameters { data, .. }
                | Command::Escape { data }
                | Command::Secure { data, .. } => data.len(),
                Command::SetDataRateAndClock { .. } => 8,
                _ => 0,
            }
    }

    /// Write this command as a message for `slot` with sequence number `seq` (the
    /// host side, for tests and tools; parsing what this writes gives the command
    /// back). Returns the length written, or `None` if `out` is too short or the
    /// data is longer than `u32::MAX`.
    pub fn emit(&self, slot: u8, seq: u8, out: &mut [u8]) -> Option<usize> {
        let len = self.message_len();
        let out = out.get_mut(..len)?;
        let data_len = u32::try_from(len - message::HEADER_LEN).ok()?;
        let (specific, data): ([u8; 3], &[u8]) = match self {
            Command::IccPowerOn { voltage } => ([voltage.code(), 0, 0], &[]),
            Command::XfrBlock { bwi, level, data } | Command::Secure { bwi, level, data } => {
                let [l0, l1] = level.to_le_bytes();
                ([*bwi, l0, l1], data)
            }
            Command::SetParameters { protocol, data } => {
                ([protocol.iso_number().unwrap_or(0), 0, 0], data)
            }
            Command::Escape { data } => ([0; 3], data),
            Command::IccClock { command } => ([command.code(), 0, 0], &[]),
            Command::T0Apdu {
                changes,
                class_get_response,
                class_envelope,
            } => ([*changes, *class_get_response, *class_envelope], &[]),
            Command::Mechanical { function } => ([function.code(), 0, 0], &[]),
            Command::SetDataRateAndClock {
                clock_khz,
                data_rate,
            } => {
                let (head, tail) = out.split_at_mut(message::HEADER_LEN);
                emit_header(head, self.message_type(), 8, slot, seq, [0; 3])?;
                tail[..4].copy_from_slice(&clock_khz.to_le_bytes());
                tail[4..].copy_from_slice(&data_rate.to_le_bytes());
                return Some(len);
            }
            _ => ([0; 3], &[]),
        };
        let (head, tail) = out.split_at_mut(message::HEADER_LEN);
        emit_header(head, self.message_type(), data_len, slot, seq, specific)?;
        tail.copy_from_slice(data);
        Some(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Command<'_>, SlotError> {
        let message = Message::new_checked(bytes).unwrap();
        Command::parse(&message)
    }

    #[test]
    fn parse_undoes_emit() {
        let apdu = [0x00, 0x84, 0x00, 0x00, 0x08];
        let t1 = [0x11, 0x10, 0x00, 0x4D, 0x00, 0x20, 0x00];
        let samples = [
            Command::IccPowerOn {
                voltage: Voltage::V3,
            },
            Command::IccPowerOff,
            Command::GetSlotStatus,
            Command::XfrBlock {
                bwi: 2,
                level: 0x0102,
                data: &apdu,
            },
            Command::GetParameters,
            Command::ResetParameters,
            Command::SetParameters {
                protocol: Protocol::T1,
                data: &t1,
            },
            Command::Escape { data: &[0x02] },
            Command::IccClock {
                command: ClockCommand::Stop,
            },
            Command::T0Apdu {
                changes: 3,
                class_get_response: 0xFF,
                class_envelope: 0x00,
            },
            Command::Secure {
                bwi: 0,
                level: 0,
                data: &apdu,
            },
            Command::Mechanical {
                function: MechanicalFunction::Eject,
            },
            Command::Abort,
            Command::SetDataRateAndClock {
                clock_khz: 4000,
                data_rate: 10752,
            },
        ];
        for command in samples {
            let mut out = [0u8; 32];
            let len = command.emit(1, 0x42, &mut out).unwrap();
            let message = Message::new_checked(&out[..len]).unwrap();
            assert_eq!(message.check_len(), Ok(()));
            assert_eq!((message.slot(), message.seq()), (1, 0x42));
            assert_eq!(Command::parse(&message), Ok(command), "{command:?}");
        }
    }

    /// Every byte of `bPowerSelect`, `bClockCommand` and `bFunction`: a value CCID
    /// defines reads as the variant whose code it is, any other is `BadField(7)`.
    #[test]
    fn specific_bytes_read_as_their_variant_or_are_refused() {
        for b in 0..=u8::MAX {
            let message = |kind: u8| [kind, 0, 0, 0, 0, 0, 0, b, 0, 0];
            let (power_on, clock, mechanical) = (message(0x62), message(0x6E), message(0x71));
            let (power_on, clock, mechanical) =
                (parse(&power_on), parse(&clock), parse(&mechanical));
            let expected_power_on = match b {
                0..=3 => Ok(Command::IccPowerOn {
                    voltage: [Voltage::Automatic, Voltage::V5, Voltage::V3, Voltage::V1_8]
                        [usize::from(b)],
                }),
                _ => Err(SlotError::BadField(7)),
            };
            let expected_clock = match b {
                0 => Ok(Command::IccClock {
                    command: ClockCommand::Restart,
                }),
                1 => Ok(Command::IccClock {
                    command: ClockCommand::Stop,
                }),
                _ => Err(SlotError::BadField(7)),
            };
            use MechanicalFunction::*;
            let expected_mechanical = match b {
                1..=5 => Ok(Command::Mechanical {
                    function: [Accept, Eject, Capture, Lock, Unlock][usize::from(b - 1)],
                }),
                _ => Err(SlotError::BadField(7)),
            };
            assert_eq!(power_on, expected_power_on, "bPowerSelect {b:02X}");
            assert_eq!(clock, expected_clock, "bClockCommand {b:02X}");
            assert_eq!(mechanical, expected_mechanical, "bFunction {b:02X}");
        }
    }

    #[test]
    fn bad_fields_are_named_by_their_offset() {
        use SlotError::{BadField, CommandNotSupported};
        let cases: [(&[u8], SlotError); 10] = [
            // IccPowerOn with bPowerSelect = 4.
            (&[0x62, 0, 0, 0, 0, 0, 0, 4, 0, 0], BadField(7)),
            // GetSlotStatus with a data byte.
            (&[0x65, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xAA], BadField(1)),
            // SetParameters T=1 with a T=0 structure.
            (
                &[0x61, 5, 0, 0, 0, 0, 0, 1, 0, 0, 0x11, 0, 0, 0x0A, 0],
                BadField(1),
            ),
            // SetParameters for T=2.
            (&[0x61, 0, 0, 0, 0, 0, 0, 2, 0, 0], BadField(7)),
            // SetParameters T=0 with bmTCCKST0 03 (bit 0 set), T=1 with bIFSC 0.
            (
                &[0x61, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0x11, 0x03, 0, 0x0A, 0],
                BadField(11),
            ),
            (
                &[
                    0x61, 7, 0, 0, 0, 0, 0, 1, 0, 0, 0x11, 0x10, 0, 0x45, 0, 0, 0,
                ],
                BadField(15),
            ),
            // Mechanical function 0 and 6.
            (&[0x71, 0, 0, 0, 0, 0, 0, 0, 0, 0], BadField(7)),
            (&[0x71, 0, 0, 0, 0, 0, 0, 6, 0, 0], BadField(7)),
            // Unknown message type.
            (&[0x70, 0, 0, 0, 0, 0, 0, 0, 0, 0], CommandNotSupported),
            // SetDataRateAndClockFrequency with 7 bytes.
            (
                &[0x73, 7, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7],
                BadField(1),
            ),
        ];
        for (message, error) in cases {
            assert_eq!(parse(message), Err(error), "{message:02X?}");
        }
    }
}

//! The CCID class descriptor (CCID 1.1 §5.1, 54 bytes), generated from the reader's
//! capabilities and the binding's configuration rather than written by hand.

use readerkit::caps::{Mechanics, ReaderCapabilities};
use readerkit::protocol::ProtocolMask;

use crate::reader::ExchangeLevel;

/// Length of the class descriptor, in bytes.
pub const LEN: usize = 0x36;
/// `bDescriptorType` of the CCID class descriptor.
pub const DESCRIPTOR_TYPE: u8 = 0x21;

/// `dwFeatures` bits (CCID 1.1 Table 5.1-1).
pub mod features {
    /// Automatic parameter configuration based on the ATR.
    pub const AUTO_CONF_ATR: u32 = 0x0000_0002;
    /// Automatic activation of the card on insertion.
    pub const AUTO_ACTIVATION: u32 = 0x0000_0004;
    /// Automatic voltage selection.
    pub const AUTO_VOLTAGE: u32 = 0x0000_0008;
    /// Automatic clock frequency change.
    pub const AUTO_CLOCK: u32 = 0x0000_0010;
    /// Automatic baud rate change.
    pub const AUTO_BAUD: u32 = 0x0000_0020;
    /// Automatic parameter negotiation (proprietary).
    pub const AUTO_PPS_PROPRIETARY: u32 = 0x0000_0040;
    /// Automatic PPS according to the active parameters.
    pub const AUTO_PPS_CURRENT: u32 = 0x0000_0080;
    /// The clock can be stopped.
    pub const CLOCK_STOP: u32 = 0x0000_0100;
    /// NAD values other than 00 accepted (T=1).
    pub const NAD: u32 = 0x0000_0200;
    /// Automatic IFSD exchange as the first exchange (T=1).
    pub const AUTO_IFSD: u32 = 0x0000_0400;
    /// TPDU level exchanges.
    pub const TPDU: u32 = 0x0001_0000;
    /// Short APDU level exchanges.
    pub const SHORT_APDU: u32 = 0x0002_0000;
    /// Short and extended APDU level exchanges.
    pub const EXTENDED_APDU: u32 = 0x0004_0000;
}

/// The fields of the class descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassDescriptor {
    /// `bMaxSlotIndex`: number of slots - 1.
    pub max_slot_index: u8,
    /// `bVoltageSupport`: 1 = 5 V, 2 = 3 V, 4 = 1.8 V.
    pub voltage_support: u8,
    /// `dwProtocols`: bit 0 = T=0, bit 1 = T=1.
    pub protocols: u32,
    /// `dwDefaultClock`, in kHz.
    pub default_clock_khz: u32,
    /// `dwMaximumClock`, in kHz.
    pub max_clock_khz: u32,
    /// `dwDataRate`: default data rate, in bit/s.
    pub data_rate: u32,
    /// `dwMaxDataRate`, in bit/s.
    pub max_data_rate: u32,
    /// `dwMaxIFSD`, in bytes.
    pub max_ifsd: u32,
    /// `dwMechanical`: 1 accept, 2 eject, 4 capture, 8 lock.
    pub mechanical: u32,
    /// `dwFeatures`.
    pub features: u32,
    /// `dwMaxCCIDMessageLength`, in bytes.
    pub max_message_len: u32,
    /// `wLcdLayout`: lines << 8 | characters per line of the display (0: none).
    pub lcd_layout: u16,
    /// `bPINSupport`: bit 0 PIN verification, bit 1 PIN modification (libccid
    /// announces FEATURE_VERIFY_PIN_DIRECT / FEATURE_MODIFY_PIN_DIRECT from it).
    pub pin_support: u8,
}

impl ClassDescriptor {
    /// The descriptor of a reader with `slots` slots (1..=256) of capabilities
    /// `reader`, exchanging at `level`, with messages up to `max_message_len`
    /// bytes and the voltages of `voltage_support`.
    ///
    /// The reader configures the card from its ATR and selects the voltage, clock
    /// and data rate itself (the core does), so `dwFeatures` says so; at the APDU
    /// levels the core's T=1 engine also sends the IFSD request.
    pub fn new(
        reader: &ReaderCapabilities,
        slots: usize,
        level: ExchangeLevel,
        max_message_len: u32,
        voltage_support: u8,
    ) -> ClassDescriptor {
        let protocols = u32::from(reader.protocols.contains(readerkit::Protocol::T0))
            | u32::from(reader.protocols.contains(readerkit::Protocol::T1)) << 1;
        let mut features = features::AUTO_CONF_ATR
            | features::AUTO_VOLTAGE
            | features::AUTO_CLOCK
            | features::AUTO_BAUD;
        // APDU levels: the reader selects the protocol and runs PPS on its own
        // (the host sends neither PPS nor SetParameters). TPDU level: the host sends
        // SetParameters, and the reader runs PPS for the protocol it names.
        let apdu = features::AUTO_PPS_PROPRIETARY | features::AUTO_IFSD;
        features |= match level {
            ExchangeLevel::Tpdu => features::TPDU | features::AUTO_PPS_CURRENT,
            ExchangeLevel::ShortApdu => features::SHORT_APDU | apdu,
            ExchangeLevel::ExtendedApdu => features::EXTENDED_APDU | apdu,
        };
        let mut mechanical = 0;
        if reader.mechanics.0 & Mechanics::EJECTS.0 != 0 {
            mechanical |= 0x02;
        }
        if reader.mechanics.0 & Mechanics::CONFISCATES.0 != 0 {
            mechanical |= 0x04;
        }
        ClassDescriptor {
            max_slot_index: u8::try_from(slots.saturating_sub(1)).unwrap_or(u8::MAX),
            voltage_support,
            protocols,
            default_clock_khz: reader.default_clock_khz,
            max_clock_khz: reader.max_clock_khz,
            data_rate: reader.default_data_rate,
            max_data_rate: reader.max_data_rate,
            max_ifsd: u32::from(reader.max_ifsd),
            mechanical,
            features,
            max_message_len,
            lcd_layout: 0,
            pin_support: 0,
        }
    }

    /// The protocols as the core's mask.
    pub fn protocol_mask(&self) -> ProtocolMask {
        ProtocolMask(self.protocols & 0x3)
    }

    /// The 54 descriptor bytes.
    pub fn to_bytes(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[0] = LEN as u8;
        b[1] = DESCRIPTOR_TYPE;
        b[2..4].copy_from_slice(&0x0110u16.to_le_bytes());
        b[4] = self.max_slot_index;
        b[5] = self.voltage_support;
        b[6..10].copy_from_slice(&self.protocols.to_le_bytes());
        b[10..14].copy_from_slice(&self.default_clock_khz.to_le_bytes());
        b[14..18].copy_from_slice(&self.max_clock_khz.to_le_bytes());
        b[18] = 0; // bNumClockSupported: default and maximum only
        b[19..23].copy_from_slice(&self.data_rate.to_le_bytes());
        b[23..27].copy_from_slice(&self.max_data_rate.to_le_bytes());
        b[27] = 0; // bNumDataRatesSupported: any rate in the range
        b[28..32].copy_from_slice(&self.max_ifsd.to_le_bytes());
        b[32..36].copy_from_slice(&0u32.to_le_bytes()); // dwSynchProtocols
        b[36..40].copy_from_slice(&self.mechanical.to_le_bytes());
        b[40..44].copy_from_slice(&self.features.to_le_bytes());
        b[44..48].copy_from_slice(&self.max_message_len.to_le_bytes());
        b[48] = 0xFF; // bClassGetResponse: echo the command's class
        b[49] = 0xFF; // bClassEnvelope: echo the command's class
        b[50..52].copy_from_slice(&self.lcd_layout.to_le_bytes());
        b[52] = self.pin_support;
        // bMaxCCIDBusySlots: what the transports run at once, not a setting.
        b[53] = crate::busy::MAX_BUSY_SLOTS;
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_follows_the_capabilities() {
        let reader = ReaderCapabilities {
            default_clock_khz: 4000,
            max_clock_khz: 4000,
            default_data_rate: 10752,
            max_data_rate: 344_086,
            ..ReaderCapabilities::typical()
        };
        let d = ClassDescriptor::new(&reader, 2, ExchangeLevel::ShortApdu, 271, 0x07);
        let b = d.to_bytes();
        assert_eq!(&b[..6], &[0x36, 0x21, 0x10, 0x01, 0x01, 0x07]);
        assert_eq!(&b[6..10], &[0x03, 0, 0, 0]);
        assert_eq!(&b[10..14], &4000u32.to_le_bytes());
        assert_eq!(&b[23..27], &344_086u32.to_le_bytes());
        assert_eq!(&b[28..32], &254u32.to_le_bytes());
        assert_eq!(
            u32::from_le_bytes(b[40..44].try_into().unwrap()) & 0x0007_0000,
            0x0002_0000
        );
        assert_eq!(&b[44..48], &271u32.to_le_bytes());
        assert_eq!(b[53], 1, "bMaxCCIDBusySlots, even with two slots");
        let t0_only = ReaderCapabilities {
            protocols: ProtocolMask::T0,
            ..reader
        };
        let d = ClassDescriptor::new(&t0_only, 1, ExchangeLevel::Tpdu, 271, 0x01);
        assert_eq!(d.protocols, 1);
        assert_eq!(d.max_slot_index, 0);
        assert_eq!(d.features & features::TPDU, features::TPDU);
        assert_eq!(d.features & features::AUTO_IFSD, 0);
    }
}

//! GET_ATTRIBUTE answers the library gives itself.

use crate::attr;
use crate::caps::{FieldSizes, ReaderCapabilities, VendorAttributes};
use crate::state::CardState;
use crate::status::Status;

use super::card::{Snapshot, not_ready, sizes_in_force};
use super::perf::PerfCounters;

/// An attribute value before encoding.
enum Value<'a> {
    Dword(u32),
    Byte(u8),
    Bytes(&'a [u8]),
}

/// Write the value of `tag` into `out`; returns the bytes written.
pub(super) fn read(
    tag: u32,
    reader: &ReaderCapabilities,
    vendor: &VendorAttributes,
    card: &Snapshot,
    (atr, reported): (&[u8], FieldSizes),
    perf: &PerfCounters,
    out: &mut [u8],
) -> Result<usize, Status> {
    let value = reader_value(tag, reader, vendor, perf)
        .or_else(|| presence_value(tag, card))
        .map(Ok)
        .or_else(|| card_value(tag, card, atr, reported))
        .ok_or(Status::NotSupported)??;
    let bytes: &[u8];
    let scratch;
    match value {
        Value::Dword(v) => {
            // The one list hosts use to find the integers (pcsc-lite reorders them).
            debug_assert!(attr::is_dword(tag), "attr::is_dword misses {tag:#x}");
            scratch = v.to_le_bytes();
            bytes = &scratch;
        }
        Value::Byte(b) => {
            debug_assert!(!attr::is_dword(tag), "attr::is_dword lists {tag:#x}");
            scratch = [b, 0, 0, 0];
            bytes = &scratch[..1];
        }
        Value::Bytes(b) => {
            debug_assert!(!attr::is_dword(tag), "attr::is_dword lists {tag:#x}");
            bytes = b;
        }
    }
    let dest = out.get_mut(..bytes.len()).ok_or(Status::BufferTooSmall)?;
    dest.copy_from_slice(bytes);
    Ok(bytes.len())
}

fn reader_value<'a>(
    tag: u32,
    reader: &ReaderCapabilities,
    vendor: &'a VendorAttributes,
    perf: &PerfCounters,
) -> Option<Value<'a>> {
    Some(match tag {
        attr::VENDOR_NAME => Value::Bytes(&vendor.vendor_name),
        attr::VENDOR_IFD_TYPE => Value::Bytes(&vendor.ifd_type),
        attr::VENDOR_IFD_VERSION => Value::Dword(vendor.ifd_version.to_u32()),
        attr::VENDOR_IFD_SERIAL_NO if !vendor.serial_number.is_empty() => {
            Value::Bytes(&vendor.serial_number)
        }
        attr::CHANNEL_ID => Value::Dword((reader.reader_type.0 << 16) | u32::from(reader.channel)),
        attr::PROTOCOL_TYPES => Value::Dword(reader.protocols.0 & 0xFFFF),
        attr::DEFAULT_CLK => Value::Dword(reader.default_clock_khz),
        attr::MAX_CLK => Value::Dword(reader.max_clock_khz),
        attr::DEFAULT_DATA_RATE => Value::Dword(reader.default_data_rate),
        attr::MAX_DATA_RATE => Value::Dword(reader.max_data_rate),
        attr::MAX_IFSD => Value::Dword(u32::from(reader.max_ifsd)),
        attr::POWER_MGMT_SUPPORT => Value::Dword(reader.power_management),
        attr::CHARACTERISTICS => Value::Dword(reader.mechanics.0),
        attr::DEVICE_UNIT => Value::Dword(vendor.unit),
        attr::PERF_NUM_TRANSMISSIONS => Value::Dword(perf.transmissions()),
        attr::PERF_BYTES_TRANSMITTED => {
            Value::Dword(perf.bytes_sent().wrapping_add(perf.bytes_received()))
        }
        _ => return None,
    })
}

/// ICC_PRESENCE: 0 no card, 1 a card not in position (a reader that swallows
/// has not swallowed it), 2 a card in position, 4 the last card was confiscated;
/// ICC_INTERFACE_STATUS: the contacts are active.
fn presence_value<'a>(tag: u32, card: &Snapshot) -> Option<Value<'a>> {
    let state = card.state;
    Some(match tag {
        attr::ICC_PRESENCE => Value::Byte(match state {
            CardState::Unknown | CardState::Absent if card.confiscated => 4,
            CardState::Unknown | CardState::Absent => 0,
            CardState::Present => 1,
            _ => 2,
        }),
        attr::ICC_INTERFACE_STATUS => Value::Byte(u8::from(state.card_powered())),
        _ => return None,
    })
}

/// Attributes of the powered card: `InvalidDeviceState` without one (present but
/// not powered), `NoMedia` without a card, as smclib documents for GET_ATTRIBUTE
/// (WDM and C ABI hosts see these). The pcsc-lite binding turns both into an empty
/// ATR for `SCARD_ATTR_ATR_STRING`, as CCID drivers answer pcscd.
///
/// `reported`: the T=1 field sizes TRANSMIT callbacks reported since the reset
/// (0 each where none was: the ATR's IFSC, the IFSD the reader announces).
fn card_value<'a>(
    tag: u32,
    snapshot: &Snapshot,
    atr: &'a [u8],
    reported: FieldSizes,
) -> Option<Result<Value<'a>, Status>> {
    let no_card = || not_ready(snapshot.state);
    if tag == attr::ATR_STRING {
        return Some(if atr.is_empty() {
            Err(no_card())
        } else {
            Ok(Value::Bytes(atr))
        });
    }
    let known = matches!(
        tag,
        attr::ICC_TYPE_PER_ATR
            | attr::CURRENT_PROTOCOL_TYPE
            | attr::CURRENT_CLK
            | attr::CURRENT_F
            | attr::CURRENT_D
            | attr::CURRENT_N
            | attr::CURRENT_W
            | attr::CURRENT_IFSC
            | attr::CURRENT_IFSD
            | attr::CURRENT_BWT
            | attr::CURRENT_CWT
            | attr::CURRENT_EBC_ENCODING
    );
    if !known {
        return None;
    }
    let Some(card) = snapshot.card.as_ref() else {
        return Some(Err(no_card()));
    };
    let p = &card.parameters;
    let sizes = sizes_in_force(card, reported);
    Some(Ok(Value::Dword(match tag {
        attr::ICC_TYPE_PER_ATR => return Some(Ok(Value::Byte(1))),
        attr::CURRENT_PROTOCOL_TYPE => card.selected.map_or(0, |proto| proto.bit()),
        attr::CURRENT_CLK => card.timing.clock_khz,
        attr::CURRENT_F => u32::from(card.timing.f),
        attr::CURRENT_D => u32::from(card.timing.d),
        attr::CURRENT_N => u32::from(p.n),
        attr::CURRENT_W => u32::from(p.wi),
        attr::CURRENT_IFSC => u32::from(sizes.ifsc),
        attr::CURRENT_IFSD => u32::from(sizes.ifsd),
        attr::CURRENT_BWT => card.bwt_us(),
        attr::CURRENT_CWT => card.cwt_us(),
        _ => u32::from(p.edc.tc_bit()),
    })))
}

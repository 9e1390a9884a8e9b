//! The protocol options of a line device ([`rk_line_config`]): what the card's
//! ATR does not say, the core's [`readerkit::line::Config`] for C.

use readerkit::line::Config;

use crate::codes::{class_code, class_of, envelope_code, envelope_of};
use crate::device::{CDevice, CLineReader, rk_device};
use crate::guard::{entry, read_in, write_out};
use crate::slot::Slot;
use crate::status::*;

// The entry points the docs below name.
#[cfg(doc)]
use crate::device::rk_device_init_line;

/// The protocol options of a device over a line ([`rk_device_init_line`]).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct rk_line_config {
    /// Non-zero: carry extended APDUs over T=0 in chained ENVELOPE commands, for
    /// cards that take ENVELOPE (default 0: refuse them). A byte, not a C `bool`,
    /// so that any value C stores is valid.
    pub t0_envelope: u8,
    /// The class byte of the GET RESPONSE and ENVELOPE commands T=0 generates: -1
    /// = interindustry (default), -2 = the command's own class (GSM SIM cards,
    /// `A0`), 0..=255 = this class byte.
    pub t0_get_response_class: i16,
    /// T=1: consecutive error-recovery transmissions before a resynchronisation.
    pub t1_max_retries: u8,
    /// T=1: resynchronisations per APDU before the exchange fails (and the card is
    /// deactivated, ISO/IEC 7816-3 rule 6.4).
    pub t1_max_resynchs: u8,
}

impl From<Config> for rk_line_config {
    fn from(c: Config) -> rk_line_config {
        rk_line_config {
            t0_envelope: envelope_code(c.t0_extended),
            t0_get_response_class: class_code(c.t0_get_response_class),
            t1_max_retries: c.t1_max_retries,
            t1_max_resynchs: c.t1_max_resynchs,
        }
    }
}

/// Refused (`RK_STATUS_INVALID_PARAMETER`): a GET RESPONSE class outside -2..=255.
impl TryFrom<rk_line_config> for Config {
    type Error = rk_status;

    fn try_from(c: rk_line_config) -> Result<Config, rk_status> {
        Ok(Config {
            t0_extended: envelope_of(c.t0_envelope),
            t0_get_response_class: class_of(c.t0_get_response_class)?,
            t1_max_retries: c.t1_max_retries,
            t1_max_resynchs: c.t1_max_resynchs,
        })
    }
}

/// Fill `*config` with the defaults a line device starts with.
///
/// # Safety
///
/// `config` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_line_config_default(config: *mut rk_line_config) -> rk_status {
    // SAFETY: forwarded contract.
    entry(|| unsafe { write_out(config, Config::DEFAULT.into()) })
}

/// Set the protocol options of a device over a line: they apply from the next
/// protocol established, by SET_PROTOCOL or, for a card in specific mode, by the
/// first TRANSMIT after a reset (a session keeps its options until then). Errors:
/// `RK_STATUS_INVALID_PARAMETER` (a NULL or misaligned `config`, a GET RESPONSE
/// class outside -2..=255), `RK_STATUS_NOT_SUPPORTED` (a device made with
/// `rk_device_init`, which has no line), `RK_STATUS_INVALID_DEVICE_STATE` (storage
/// that holds no device), `RK_STATUS_DEVICE_BUSY` (called from inside one of the
/// device's callbacks). Waits for a callback running on another thread.
///
/// # Safety
///
/// `dev` is NULL or device storage; `config` is NULL or valid for reads.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_device_set_line_config(
    dev: *const rk_device,
    config: *const rk_line_config,
) -> rk_status {
    entry(|| {
        // SAFETY: forwarded contract.
        let config = Config::try_from(unsafe { read_in(config) }?)?;
        // SAFETY: forwarded contract.
        let device = unsafe { Slot::<CDevice>::value(dev) }?;
        let set = device.try_with_driver(|d| {
            let reader: &mut CLineReader = d.as_mut();
            if reader.line().line().is_absent() {
                return Err(RK_STATUS_NOT_SUPPORTED);
            }
            *reader.config_mut() = config;
            Ok(())
        });
        set.map_err(to_rk)?
    })
}

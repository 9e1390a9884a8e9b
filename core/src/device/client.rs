//! The client side of a device: the common requests as typed calls, for code that
//! sits above [`Device`] (a CCID slot, a test, a demo, firmware with fixed requests).
//! Each call is exactly [`Device::submit`] of its [`Request`]; no input buffer is
//! built and nothing is validated twice.

use super::Device;
use crate::ioctl::{self, ATR_BUFFER_LEN, PowerAction, Request, Transmit};
use crate::platform::Platform;
use crate::protocol::{Protocol, ProtocolMask};
use crate::status::Status;

impl<P: Platform, D, const EVENTS: usize> Device<P, D, EVENTS> {
    /// POWER: power the card down, or reset it cold or warm and read its ATR into
    /// `atr`. Returns the ATR's length in bytes (0 for a power-down).
    pub fn power_card(
        &self,
        action: PowerAction,
        atr: &mut [u8; ATR_BUFFER_LEN],
    ) -> Result<usize, Status> {
        self.submit(Request::Power(action), atr).into_result()
    }

    /// SET_PROTOCOL: select one of the protocols in `mask` (with PPS where the card
    /// is negotiable); returns the protocol selected.
    pub fn select_protocol(&self, mask: ProtocolMask) -> Result<Protocol, Status> {
        let mut selected = [0u8; 4];
        self.submit(Request::SetProtocol(mask), &mut selected)
            .into_result()?;
        Protocol::from_bit(u32::from_le_bytes(selected)).ok_or(Status::Unsuccessful)
    }

    /// TRANSMIT: send `apdu` with `protocol` (the one selected) and return the
    /// response APDU, which is placed in `output` after the `SCARD_IO_REQUEST` header
    /// (so `output` needs 8 bytes more than the longest expected response).
    pub fn transmit_apdu<'o>(
        &self,
        protocol: Protocol,
        apdu: &[u8],
        output: &'o mut [u8],
    ) -> Result<&'o [u8], Status> {
        let request = Request::Transmit(Transmit {
            protocol: protocol.bit(),
            apdu,
        });
        let written = self.submit(request, output).into_result()?;
        ioctl::transmit_response(output.get(..written).ok_or(Status::Unsuccessful)?)
    }

    /// GET_ATTRIBUTE: the value of attribute `tag`, read into `output`.
    pub fn read_attribute<'o>(&self, tag: u32, output: &'o mut [u8]) -> Result<&'o [u8], Status> {
        let written = self
            .submit(Request::GetAttribute(tag), output)
            .into_result()?;
        output.get(..written).ok_or(Status::Unsuccessful)
    }
}

//! The USB/IP wire format (the Linux kernel's `Documentation/usb/usbip_protocol.rst`):
//! checked views of what a client sends and the encoders of the server's replies.
//!
//! Every field is big-endian. A connection starts with an operation
//! (`OP_REQ_DEVLIST`, or `OP_REQ_IMPORT` after which it carries URBs:
//! `USBIP_CMD_SUBMIT` / `USBIP_CMD_UNLINK` from the client, `USBIP_RET_SUBMIT` /
//! `USBIP_RET_UNLINK` from the server). The peer is untrusted: each header is read
//! into a fixed-size array and parsed here into a value or a [`ProtocolError`], and
//! transfer lengths are bounded by [`MAX_TRANSFER`] before any buffer is made.

use usb_device::control::Request;

/// Protocol version of every operation header (USB/IP 1.1.1).
pub(crate) const VERSION: u16 = 0x0111;
/// Operation: the client asks for the list of exported devices.
pub(crate) const OP_REQ_DEVLIST: u16 = 0x8005;
/// Operation: the list of exported devices.
pub(crate) const OP_REP_DEVLIST: u16 = 0x0005;
/// Operation: the client imports a device by its bus id.
pub(crate) const OP_REQ_IMPORT: u16 = 0x8003;
/// Operation: the answer to an import.
pub(crate) const OP_REP_IMPORT: u16 = 0x0003;
/// URB command: submit a transfer.
pub(crate) const CMD_SUBMIT: u32 = 1;
/// URB command: cancel a submitted transfer.
pub(crate) const CMD_UNLINK: u32 = 2;
/// URB reply: a transfer completed.
pub const RET_SUBMIT: u32 = 3;
/// URB reply: the result of an unlink.
pub const RET_UNLINK: u32 = 4;

/// Length of an operation header (version, code, status), in bytes.
pub const OP_HEADER_LEN: usize = 8;
/// Length of a bus id field (NUL-padded text), in bytes.
pub const BUSID_LEN: usize = 32;
/// Length of a sysfs path field (NUL-padded text), in bytes.
const PATH_LEN: usize = 256;
/// Length of every URB command and reply header, in bytes.
pub const URB_HEADER_LEN: usize = 48;
/// Largest transfer buffer accepted, in bytes: libccid asks for 65 546 at most
/// (an extended APDU answer and its header); anything above is refused.
pub const MAX_TRANSFER: usize = 1 << 17;
/// `speed` of a full-speed device (the kernel's `USB_SPEED_FULL`).
pub const SPEED_FULL: u32 = 2;
/// Transfer flag: end an OUT transfer that fills its last packet with a
/// zero-length packet (the kernel's `URB_ZERO_PACKET`).
pub const URB_ZERO_PACKET: u32 = 0x0040;

/// Negative errno of a transfer to an endpoint the device does not have
/// (`-ENOENT`, what the kernel's `usb_submit_urb` answers).
pub const STATUS_NO_ENDPOINT: i32 = -2;
/// Negative errno of a transfer refused because too many are in flight
/// (`-ENOMEM`, as `usb_submit_urb` when it has no room).
pub const STATUS_NO_ROOM: i32 = -12;
/// Negative errno of a transfer whose OUT data disagrees with its length
/// (`-EINVAL`).
pub const STATUS_INVALID: i32 = -22;
/// Negative errno of a transfer the device stalled (`-EPIPE`).
pub const STATUS_STALL: i32 = -32;
/// Negative errno of a transfer whose data did not fit its buffer (`-EOVERFLOW`).
pub const STATUS_OVERFLOW: i32 = -75;
/// Negative errno of a transfer its endpoint was shut down under (`-ESHUTDOWN`,
/// what the kernel completes the transfers of an endpoint with when a change of
/// configuration disables it).
pub const STATUS_SHUT_DOWN: i32 = -108;
/// Negative errno of an unlinked transfer (`-ECONNRESET`).
pub const STATUS_UNLINKED: i32 = -104;
/// Negative errno of a transfer the device did not finish (`-ETIMEDOUT`).
pub const STATUS_TIMED_OUT: i32 = -110;

/// Why a client's message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The operation header's version is not 0x0111 (USB/IP 1.1.1).
    Version(u16),
    /// An operation code this server does not serve.
    Operation(u16),
    /// A URB command code other than `CMD_SUBMIT` / `CMD_UNLINK`.
    Command(u32),
    /// A direction other than 0 (OUT) or 1 (IN).
    Direction(u32),
    /// An endpoint number above 15.
    Endpoint(u32),
    /// A transfer length below 0 or above [`MAX_TRANSFER`].
    Length(i32),
    /// An isochronous transfer (`number_of_packets` other than 0 or -1): the
    /// device has no isochronous endpoint.
    Isochronous(i32),
    /// A bus id that is not NUL-terminated ASCII.
    BusId,
    /// A URB command naming another device (its `devid`) than the one
    /// imported: Linux's usbip-host takes it as an invalid request and closes
    /// the connection.
    Device(u32),
}

impl core::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ProtocolError::Version(v) => write!(f, "protocol version {v:#06x}, not 0x0111"),
            ProtocolError::Operation(c) => write!(f, "unknown operation {c:#06x}"),
            ProtocolError::Command(c) => write!(f, "unknown URB command {c:#x}"),
            ProtocolError::Direction(d) => write!(f, "direction {d} (0 OUT, 1 IN)"),
            ProtocolError::Endpoint(e) => write!(f, "endpoint {e} (0-15)"),
            ProtocolError::Length(l) => write!(f, "transfer length {l} (0-{MAX_TRANSFER})"),
            ProtocolError::Isochronous(n) => write!(f, "isochronous transfer ({n} packets)"),
            ProtocolError::BusId => write!(f, "bus id not NUL-terminated ASCII"),
            ProtocolError::Device(d) => write!(f, "URB for device {d:#010x}, not the one imported"),
        }
    }
}

/// The operation a connection starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `OP_REQ_DEVLIST`: nothing follows.
    DevList,
    /// `OP_REQ_IMPORT`: a [`BUSID_LEN`]-byte bus id follows.
    Import,
}

/// Parse an operation header.
pub fn parse_operation(header: &[u8; OP_HEADER_LEN]) -> Result<Operation, ProtocolError> {
    let version = u16::from_be_bytes([header[0], header[1]]);
    if version != VERSION {
        return Err(ProtocolError::Version(version));
    }
    match u16::from_be_bytes([header[2], header[3]]) {
        OP_REQ_DEVLIST => Ok(Operation::DevList),
        OP_REQ_IMPORT => Ok(Operation::Import),
        other => Err(ProtocolError::Operation(other)),
    }
}

/// The bus id of an `OP_REQ_IMPORT`: the text before the first NUL.
pub fn parse_busid(field: &[u8; BUSID_LEN]) -> Result<&str, ProtocolError> {
    let end = field
        .iter()
        .position(|&b| b == 0)
        .ok_or(ProtocolError::BusId)?;
    let text = field.get(..end).ok_or(ProtocolError::BusId)?;
    if !text.is_ascii() {
        return Err(ProtocolError::BusId);
    }
    core::str::from_utf8(text).map_err(|_| ProtocolError::BusId)
}

/// Transfer direction of a URB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Host to device.
    Out,
    /// Device to host.
    In,
}

/// A `USBIP_CMD_SUBMIT`: one transfer on one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submit {
    /// The client's sequence number, echoed in the reply.
    pub seqnum: u32,
    /// Direction of the transfer.
    pub direction: Direction,
    /// Endpoint number (0-15).
    pub endpoint: u8,
    /// The kernel's `transfer_flags` (only [`URB_ZERO_PACKET`] is used).
    pub flags: u32,
    /// Transfer buffer length, in bytes (at most [`MAX_TRANSFER`]); for OUT that
    /// many bytes follow the header.
    pub length: usize,
    /// `number_of_packets` (0 or -1: not isochronous), echoed in the reply.
    pub number_of_packets: i32,
    /// The SETUP packet of a control transfer (endpoint 0).
    pub setup: [u8; 8],
}

impl Submit {
    /// How many data bytes follow the header on the wire.
    pub fn out_len(&self) -> usize {
        match self.direction {
            Direction::Out => self.length,
            Direction::In => 0,
        }
    }
}

/// Whether `setup` is SET_CONFIGURATION (a standard request to the device,
/// bRequest 9, any configuration value): one the device accepts resets its
/// endpoints other than 0 (USB 2.0 §9.1.1.5).
pub fn is_set_configuration(setup: &[u8; 8]) -> bool {
    setup[..2] == [0x00, Request::SET_CONFIGURATION]
}

/// The interface a SET_INTERFACE names (a standard request to an interface,
/// bRequest 11; its wIndex), if `setup` is one: one the device accepts resets
/// the halt of that interface's endpoints (USB 2.0 §9.4.5).
pub fn set_interface(setup: &[u8; 8]) -> Option<u8> {
    (setup[..2] == [0x01, Request::SET_INTERFACE]).then_some(setup[4])
}

/// A URB command from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrbCommand {
    /// A transfer to run.
    Submit(Submit),
    /// Cancel the transfer `victim`; `seqnum` is this command's own.
    Unlink {
        /// This command's sequence number, echoed in the reply.
        seqnum: u32,
        /// The sequence number of the transfer to cancel.
        victim: u32,
    },
}

fn be32(header: &[u8; URB_HEADER_LEN], at: usize) -> u32 {
    let mut word = [0u8; 4];
    if let Some(bytes) = header.get(at..at + 4) {
        word.copy_from_slice(bytes);
    }
    u32::from_be_bytes(word)
}

/// Parse a URB command header of the connection that imported device `devid`
/// ([`DeviceInfo::devid`]). As Linux's usbip-host, the `devid` is checked
/// first, for every command: another is [`ProtocolError::Device`].
pub fn parse_urb(header: &[u8; URB_HEADER_LEN], devid: u32) -> Result<UrbCommand, ProtocolError> {
    let named = be32(header, 8);
    if named != devid {
        return Err(ProtocolError::Device(named));
    }
    let seqnum = be32(header, 4);
    match be32(header, 0) {
        CMD_SUBMIT => {}
        CMD_UNLINK => {
            return Ok(UrbCommand::Unlink {
                seqnum,
                victim: be32(header, 20),
            });
        }
        other => return Err(ProtocolError::Command(other)),
    }
    let direction = match be32(header, 12) {
        0 => Direction::Out,
        1 => Direction::In,
        other => return Err(ProtocolError::Direction(other)),
    };
    let endpoint = match be32(header, 16) {
        e @ 0..=15 => e as u8,
        other => return Err(ProtocolError::Endpoint(other)),
    };
    let raw_length = be32(header, 24) as i32;
    let length = usize::try_from(raw_length)
        .ok()
        .filter(|&l| l <= MAX_TRANSFER)
        .ok_or(ProtocolError::Length(raw_length))?;
    let number_of_packets = be32(header, 32) as i32;
    if !matches!(number_of_packets, 0 | -1) {
        return Err(ProtocolError::Isochronous(number_of_packets));
    }
    let mut setup = [0u8; 8];
    setup.copy_from_slice(&header[40..48]);
    Ok(UrbCommand::Submit(Submit {
        seqnum,
        direction,
        endpoint,
        flags: be32(header, 20),
        length,
        number_of_packets,
        setup,
    }))
}

/// What an exported device looks like in `OP_REP_DEVLIST` / `OP_REP_IMPORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The sysfs path shown by `usbip list` (at most 255 bytes kept).
    pub path: String,
    /// The bus id clients import (at most 31 bytes kept).
    pub busid: String,
    /// Bus number.
    pub busnum: u32,
    /// Device number on the bus.
    pub devnum: u32,
    /// The kernel's `enum usb_device_speed`.
    pub speed: u32,
    /// idVendor, idProduct, bcdDevice of the device descriptor.
    pub ids: [u16; 3],
    /// bDeviceClass, bDeviceSubClass, bDeviceProtocol.
    pub class: [u8; 3],
    /// bConfigurationValue of the configuration in use.
    pub configuration: u8,
    /// bNumConfigurations.
    pub configurations: u8,
    /// bInterfaceClass, bInterfaceSubClass, bInterfaceProtocol of each interface.
    pub interfaces: Vec<[u8; 3]>,
}

impl DeviceInfo {
    /// The `devid` its URB commands carry once imported: the bus number in the
    /// high 16 bits, the device number in the low (as usbip-host and vhci-hcd
    /// make it from the import's `busnum` and `devnum`).
    pub fn devid(&self) -> u32 {
        self.busnum << 16 | self.devnum & 0xFFFF
    }
}

fn put_text(out: &mut Vec<u8>, text: &str, field: usize) {
    let bytes = text.as_bytes();
    let kept = bytes.get(..bytes.len().min(field - 1)).unwrap_or(&[]);
    out.extend_from_slice(kept);
    out.resize(out.len() + field - kept.len(), 0);
}

impl DeviceInfo {
    /// Append the 312-byte device record (and, for the device list, the
    /// interfaces' 4-byte records).
    fn encode(&self, out: &mut Vec<u8>, with_interfaces: bool) {
        put_text(out, &self.path, PATH_LEN);
        put_text(out, &self.busid, BUSID_LEN);
        for word in [self.busnum, self.devnum, self.speed] {
            out.extend_from_slice(&word.to_be_bytes());
        }
        for half in self.ids {
            out.extend_from_slice(&half.to_be_bytes());
        }
        out.extend_from_slice(&self.class);
        let interfaces = u8::try_from(self.interfaces.len()).unwrap_or(u8::MAX);
        out.extend_from_slice(&[self.configuration, self.configurations, interfaces]);
        if with_interfaces {
            for interface in self.interfaces.iter().take(usize::from(interfaces)) {
                out.extend_from_slice(interface);
                out.push(0);
            }
        }
    }
}

fn op_header(code: u16, status: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(OP_HEADER_LEN);
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&status.to_be_bytes());
    out
}

/// `OP_REP_DEVLIST` listing `devices`.
pub fn devlist_reply(devices: &[DeviceInfo]) -> Vec<u8> {
    let mut out = op_header(OP_REP_DEVLIST, 0);
    let count = u32::try_from(devices.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&count.to_be_bytes());
    for device in devices {
        device.encode(&mut out, true);
    }
    out
}

/// `OP_REP_IMPORT` status: the device is imported by another client already
/// (usbip's `ST_DEV_BUSY`).
pub const ST_DEV_BUSY: u32 = 2;
/// `OP_REP_IMPORT` status: no device has that bus id (usbip's `ST_NODEV`).
pub const ST_NODEV: u32 = 4;

/// `OP_REP_IMPORT` of an import accepted: status 0 and the device.
pub fn import_reply(device: &DeviceInfo) -> Vec<u8> {
    let mut out = op_header(OP_REP_IMPORT, 0);
    device.encode(&mut out, false);
    out
}

/// `OP_REP_IMPORT` of an import refused: the header alone, with `status`.
pub fn import_refused(status: u32) -> Vec<u8> {
    op_header(OP_REP_IMPORT, status)
}

fn urb_reply(command: u32, seqnum: u32, status: i32) -> Vec<u8> {
    let mut out = Vec::with_capacity(URB_HEADER_LEN);
    out.extend_from_slice(&command.to_be_bytes());
    out.extend_from_slice(&seqnum.to_be_bytes());
    // devid, direction and ep are 0 in replies.
    out.resize(20, 0);
    out.extend_from_slice(&status.to_be_bytes());
    out
}

/// `USBIP_RET_SUBMIT`: `status` (0 or a negative errno), `actual_length` bytes
/// transferred; `data` (the IN data, empty for OUT) follows the header.
pub fn ret_submit(
    seqnum: u32,
    status: i32,
    actual_length: usize,
    number_of_packets: i32,
    data: &[u8],
) -> Vec<u8> {
    let mut out = urb_reply(RET_SUBMIT, seqnum, status);
    let actual = i32::try_from(actual_length).unwrap_or(i32::MAX);
    out.extend_from_slice(&actual.to_be_bytes());
    // start_frame.
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&number_of_packets.to_be_bytes());
    // error_count and padding.
    out.resize(URB_HEADER_LEN, 0);
    out.extend_from_slice(data);
    out
}

/// `USBIP_RET_UNLINK` with `status`: [`STATUS_UNLINKED`] when the transfer was
/// cancelled, 0 when it had completed already.
pub fn ret_unlink(seqnum: u32, status: i32) -> Vec<u8> {
    let mut out = urb_reply(RET_UNLINK, seqnum, status);
    out.resize(URB_HEADER_LEN, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submit_header(fields: [u32; 10], setup: [u8; 8]) -> [u8; URB_HEADER_LEN] {
        let mut header = [0u8; URB_HEADER_LEN];
        for (i, word) in fields.iter().enumerate() {
            header[i * 4..i * 4 + 4].copy_from_slice(&word.to_be_bytes());
        }
        header[40..].copy_from_slice(&setup);
        header
    }

    #[test]
    fn operations_are_checked() {
        let header = |version: u16, code: u16| {
            let mut h = [0u8; 8];
            h[..2].copy_from_slice(&version.to_be_bytes());
            h[2..4].copy_from_slice(&code.to_be_bytes());
            h
        };
        assert_eq!(
            parse_operation(&header(0x0111, 0x8005)),
            Ok(Operation::DevList)
        );
        assert_eq!(
            parse_operation(&header(0x0111, 0x8003)),
            Ok(Operation::Import)
        );
        assert_eq!(
            parse_operation(&header(0x0106, 0x8005)),
            Err(ProtocolError::Version(0x0106))
        );
        assert_eq!(
            parse_operation(&header(0x0111, 0x8002)),
            Err(ProtocolError::Operation(0x8002))
        );
    }

    #[test]
    fn bus_ids_are_checked() {
        let mut field = [0u8; BUSID_LEN];
        field[..3].copy_from_slice(b"1-1");
        assert_eq!(parse_busid(&field), Ok("1-1"));
        assert_eq!(parse_busid(&[b'x'; BUSID_LEN]), Err(ProtocolError::BusId));
        field[1] = 0xC3;
        assert_eq!(parse_busid(&field), Err(ProtocolError::BusId));
    }

    /// The devid of bus 1, device 2.
    const DEVID: u32 = 0x0001_0002;

    #[test]
    fn urb_headers_are_checked() {
        let setup = [0x80, 6, 0, 1, 0, 0, 18, 0];
        let ok = submit_header([1, 7, DEVID, 1, 0, 0, 18, 0, 0, 0], setup);
        let UrbCommand::Submit(s) = parse_urb(&ok, DEVID).unwrap() else {
            panic!("not a submit");
        };
        assert_eq!(
            (s.seqnum, s.direction, s.endpoint, s.length, s.setup),
            (7, Direction::In, 0, 18, setup)
        );
        assert_eq!(s.out_len(), 0);
        let unlink = submit_header([2, 9, DEVID, 0, 0, 7, 0, 0, 0, 0], [0; 8]);
        assert_eq!(
            parse_urb(&unlink, DEVID),
            Ok(UrbCommand::Unlink {
                seqnum: 9,
                victim: 7
            })
        );
        let refused = [
            (
                [5, 1, DEVID, 0, 0, 0, 0, 0, 0, 0],
                ProtocolError::Command(5),
            ),
            (
                [1, 1, DEVID, 2, 0, 0, 0, 0, 0, 0],
                ProtocolError::Direction(2),
            ),
            (
                [1, 1, DEVID, 0, 16, 0, 0, 0, 0, 0],
                ProtocolError::Endpoint(16),
            ),
            (
                [1, 1, DEVID, 0, 1, 0, u32::MAX, 0, 0, 0],
                ProtocolError::Length(-1),
            ),
            (
                [1, 1, DEVID, 0, 1, 0, 1 << 17 | 1, 0, 0, 0],
                ProtocolError::Length(1 << 17 | 1),
            ),
            (
                [1, 1, DEVID, 0, 1, 0, 0, 0, 3, 0],
                ProtocolError::Isochronous(3),
            ),
            // Another device, before anything else is looked at: a submit,
            // an unlink, an unknown command.
            (
                [1, 1, DEVID + 1, 1, 0, 0, 18, 0, 0, 0],
                ProtocolError::Device(DEVID + 1),
            ),
            ([2, 9, 0, 0, 0, 7, 0, 0, 0, 0], ProtocolError::Device(0)),
            (
                [5, 1, 0x20002, 0, 0, 0, 0, 0, 0, 0],
                ProtocolError::Device(0x20002),
            ),
        ];
        for (fields, error) in refused {
            assert_eq!(parse_urb(&submit_header(fields, [0; 8]), DEVID), Err(error));
        }
    }

    #[test]
    fn replies_have_the_documented_layout() {
        let info = DeviceInfo {
            path: "/sys/devices/readerkit/usb1/1-1".into(),
            busid: "1-1".into(),
            busnum: 1,
            devnum: 2,
            speed: SPEED_FULL,
            ids: [0x08E6, 0x3437, 0x0010],
            class: [0, 0, 0],
            configuration: 1,
            configurations: 1,
            interfaces: vec![[0x0B, 0, 0]],
        };
        assert_eq!(info.devid(), 0x0001_0002);
        let list = devlist_reply(std::slice::from_ref(&info));
        assert_eq!(list.len(), 8 + 4 + 312 + 4);
        assert_eq!(list[..12], [1, 0x11, 0, 5, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(&list[12 + 256..12 + 259], b"1-1");
        assert_eq!(list[12 + 300..12 + 306], [0x08, 0xE6, 0x34, 0x37, 0, 0x10]);
        assert_eq!(list[12 + 309..], [1, 1, 1, 0x0B, 0, 0, 0]);
        assert_eq!(import_reply(&info).len(), 8 + 312);
        assert_eq!(import_reply(&info)[..8], [1, 0x11, 0, 3, 0, 0, 0, 0]);
        assert_eq!(import_refused(ST_NODEV), [1, 0x11, 0, 3, 0, 0, 0, 4]);
        let ret = ret_submit(7, STATUS_STALL, 2, 0, &[0xAA, 0xBB]);
        assert_eq!(ret.len(), 50);
        assert_eq!(ret[..8], [0, 0, 0, 3, 0, 0, 0, 7]);
        assert_eq!(ret[20..28], [0xFF, 0xFF, 0xFF, 0xE0, 0, 0, 0, 2]);
        assert_eq!(
            ret_unlink(9, STATUS_UNLINKED)[20..24],
            (-104i32).to_be_bytes()
        );
    }
}

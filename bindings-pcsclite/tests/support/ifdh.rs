//! The exported IFDH functions called directly, as pcscd calls them, wrapped for
//! the tests: owned buffers in, `Result`s of `IFD_*` codes out. Shared by the tests
//! that bypass pcscd (`#[path]`-included).

#![allow(dead_code, unreachable_pub)]

use std::ffi::CString;

use ifd_readerkit::*;

/// IFDHCreateChannelByName with `device` as the DEVICENAME.
pub fn open(lun: DWORD, device: &str) -> RESPONSECODE {
    let name = CString::new(device).expect("a DEVICENAME has no NUL");
    // SAFETY: a valid NUL-terminated string.
    unsafe { IFDHCreateChannelByName(lun, name.as_ptr()) }
}

/// IFDHCloseChannel.
pub fn close(lun: DWORD) -> RESPONSECODE {
    // SAFETY: plain call.
    unsafe { IFDHCloseChannel(lun) }
}

/// IFDHICCPresence.
pub fn presence(lun: DWORD) -> RESPONSECODE {
    // SAFETY: plain call.
    unsafe { IFDHICCPresence(lun) }
}

/// IFDHPowerICC(IFD_POWER_UP) with room for 33 bytes; the ATR.
pub fn power_up(lun: DWORD) -> Result<Vec<u8>, RESPONSECODE> {
    let mut atr = [0u8; 33];
    let mut len: DWORD = 33;
    // SAFETY: valid buffers.
    let rc = unsafe { IFDHPowerICC(lun, IFD_POWER_UP, atr.as_mut_ptr(), &mut len) };
    if rc == IFD_SUCCESS {
        Ok(atr[..len as usize].to_vec())
    } else {
        Err(rc)
    }
}

/// IFDHTransmitToICC of `apdu` with the send header's protocol `t` (pcsc-lite's
/// SCARD_IO_HEADER carries the protocol number: 0 = T=0, 1 = T=1), room for an
/// extended response; the response APDU.
pub fn transmit(lun: DWORD, t: DWORD, apdu: &[u8]) -> Result<Vec<u8>, RESPONSECODE> {
    let mut rx = vec![0u8; 65_548];
    let mut len = rx.len() as DWORD;
    let mut recv = ScardIoHeader::default();
    let mut tx = apdu.to_vec();
    let send = ScardIoHeader {
        protocol: t,
        length: 16,
    };
    // SAFETY: valid buffers.
    let rc = unsafe {
        IFDHTransmitToICC(
            lun,
            send,
            tx.as_mut_ptr(),
            tx.len() as DWORD,
            rx.as_mut_ptr(),
            &mut len,
            &mut recv,
        )
    };
    if rc == IFD_SUCCESS {
        Ok(rx[..len as usize].to_vec())
    } else {
        Err(rc)
    }
}

/// IFDHGetCapabilities of `tag` with `room` bytes; the value.
pub fn cap(lun: DWORD, tag: DWORD, room: usize) -> Result<Vec<u8>, RESPONSECODE> {
    let mut buf = vec![0u8; room];
    let mut len = room as DWORD;
    // SAFETY: valid buffers.
    let rc = unsafe { IFDHGetCapabilities(lun, tag, &mut len, buf.as_mut_ptr()) };
    if rc == IFD_SUCCESS {
        Ok(buf[..len as usize].to_vec())
    } else {
        Err(rc)
    }
}

/// IFDHControl of `code` with no input and `room` bytes for the answer: the code
/// returned and the bytes it says it wrote.
pub fn control(lun: DWORD, code: DWORD, room: usize) -> (RESPONSECODE, Vec<u8>) {
    let mut out = vec![0u8; room];
    let mut written: DWORD = 99;
    // SAFETY: valid buffers (no input: a null pointer with length 0).
    let rc = unsafe {
        IFDHControl(
            lun,
            code,
            std::ptr::null_mut(),
            0,
            out.as_mut_ptr(),
            room as DWORD,
            &mut written,
        )
    };
    let written = written as usize;
    assert!(written <= room, "{written} bytes written into {room}");
    out.truncate(written);
    (rc, out)
}

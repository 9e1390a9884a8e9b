//! The card's ISO/IEC 7816-4 application.
//!
//! Files: the master file `3F00` with two transparent EFs,
//!
//! * `2F00` ([`EF_DIR`], 32 bytes, an EF.DIR-style application template), updatable
//!   only after a successful VERIFY;
//! * `0101` ([`EF_0101_LEN`] = 512 bytes, byte `i` initially
//!   [`ef_0101_initial`]`(i)`), always updatable.
//!
//! File contents persist across resets and power cycles (they are the card's
//! non-volatile memory), as do the PIN and its retry counter; the selection and the
//! verified state do not.
//!
//! A PIN block may be padded with `FF` bytes after the digits (ISO 9564 style, as
//! PIN pads with fixed-size blocks send it): trailing `FF`s are not part of the PIN.
//!
//! Commands (CLA `00` unless noted):
//!
//! | command | APDU | answers |
//! | --- | --- | --- |
//! | SELECT | `00 A4 00 P2 [02 FID] [Le]`, no data = MF | P2 `0C`: 9000; P2 `00`: FCI `6F..`; P2 `04`: FCP `62..`; 6A82 unknown file; 6A86 other P1/P2; 6700 Lc not 0 or 2 |
//! | READ BINARY | `00 B0 P1 P2 Le` (offset P1P2 < 8000) | data, 9000; 6282 if the file ends before Ne bytes; 6B00 offset at or past the end; 6986 no EF selected; 6A81 P1 b8 (SFI) |
//! | UPDATE BINARY | `00 D6 P1 P2 Lc data` | 9000; 6A84 past the end; 6982 EF 2F00 without VERIFY; 6700 no data |
//! | GET CHALLENGE | `00 84 00 00 Le` | Ne pseudo-random bytes (xorshift64*, seeded by [`Config::seed`]), 9000 |
//! | GET DATA | `00 CA 01 01 Le`: the serial number | its 8 bytes ([`SERIAL_NUMBER`]), 9000; `6C 08` when Ne is under 8 (a wrong Le: the exact length in SW2); 6A88 other P1 P2 |
//! | VERIFY | `00 20 00 80 [Lc PIN]` | 9000; 63Cx (x tries left, 63C0 on the attempt that blocks); 6983 blocked; no data: 9000 if verified, else 63Cx; 6A88 P2 not 80 |
//! | CHANGE REFERENCE DATA | `00 24 00 80 Lc current‖new` (two blocks of equal length), `00 24 01 80 Lc new` (after VERIFY) | 9000 and the new PIN is kept; 63Cx / 6983 as VERIFY for a wrong current PIN; 6982 P1 01 without VERIFY; 6A80 a new PIN not of 4-16 digits or blocks of odd total length; 6A88 P2 not 80 |
//! | ECHO | `80 EE 00 00 Lc data [Le]` | the data back (at most Ne bytes if Le is present), 9000 |
//! | GET RESPONSE | `xx C0 ...` with nothing pending | 6985 (the T=0 layer answers it when data is pending) |
//!
//! Other errors: CLA other than `00`/`80` 6E00; unknown INS 6D00; inconsistent
//! length fields or a command too long for the card's buffer 6700; P1/P2 6A86.

use heapless::Vec;

use crate::apdu::Command;

/// Status words used by the application and the transmission layers.
pub mod sw {
    /// Normal processing.
    pub const OK: u16 = 0x9000;
    /// End of file reached before reading Ne bytes.
    pub const END_OF_FILE: u16 = 0x6282;
    /// Wrong PIN, `x` tries left (`0x63C0 | x`).
    pub const WRONG_PIN: u16 = 0x63C0;
    /// Wrong length.
    pub const WRONG_LENGTH: u16 = 0x6700;
    /// Wrong Le field, `xx` bytes available (`0x6C00 | xx`).
    pub const WRONG_LE: u16 = 0x6C00;
    /// Command incompatible with file structure / no current EF.
    pub const NO_CURRENT_EF: u16 = 0x6986;
    /// Security status not satisfied.
    pub const SECURITY_STATUS: u16 = 0x6982;
    /// Authentication method blocked.
    pub const BLOCKED: u16 = 0x6983;
    /// Conditions of use not satisfied.
    pub const CONDITIONS: u16 = 0x6985;
    /// Incorrect data field.
    pub const WRONG_DATA: u16 = 0x6A80;
    /// Function not supported.
    pub const FUNCTION_NOT_SUPPORTED: u16 = 0x6A81;
    /// File not found.
    pub const FILE_NOT_FOUND: u16 = 0x6A82;
    /// Not enough memory space in the file.
    pub const NOT_ENOUGH_MEMORY: u16 = 0x6A84;
    /// Incorrect parameters P1-P2.
    pub const WRONG_P1P2: u16 = 0x6A86;
    /// Referenced data not found.
    pub const REFERENCE_NOT_FOUND: u16 = 0x6A88;
    /// Wrong parameters P1-P2 (offset outside the EF).
    pub const WRONG_OFFSET: u16 = 0x6B00;
    /// Instruction not supported.
    pub const INS_NOT_SUPPORTED: u16 = 0x6D00;
    /// Class not supported.
    pub const CLA_NOT_SUPPORTED: u16 = 0x6E00;
}

/// INS of SELECT.
pub const INS_SELECT: u8 = 0xA4;
/// INS of READ BINARY.
pub const INS_READ_BINARY: u8 = 0xB0;
/// INS of UPDATE BINARY.
pub const INS_UPDATE_BINARY: u8 = 0xD6;
/// INS of GET CHALLENGE.
pub const INS_GET_CHALLENGE: u8 = 0x84;
/// INS of GET DATA.
pub const INS_GET_DATA: u8 = 0xCA;
/// P1 P2 of GET DATA for the card's serial number.
pub const TAG_SERIAL_NUMBER: u16 = 0x0101;
/// The card's serial number, as GET DATA gives it: always all 8 bytes, so a
/// client asking fewer gets `6C 08`.
pub const SERIAL_NUMBER: [u8; 8] = *b"RKSIM001";
/// INS of VERIFY.
pub const INS_VERIFY: u8 = 0x20;
/// INS of CHANGE REFERENCE DATA.
pub const INS_CHANGE_REFERENCE_DATA: u8 = 0x24;
/// INS of ECHO (CLA `80`).
pub const INS_ECHO: u8 = 0xEE;
/// INS of GET RESPONSE.
pub const INS_GET_RESPONSE: u8 = 0xC0;
/// INS of ENVELOPE.
pub const INS_ENVELOPE: u8 = 0xC2;
/// The proprietary class of ECHO.
pub const CLA_PROPRIETARY: u8 = 0x80;
/// P2 of VERIFY: the card's only PIN reference.
pub const PIN_REFERENCE: u8 = 0x80;

/// File identifier of the master file.
pub const FID_MF: u16 = 0x3F00;
/// File identifier of the EF.DIR-style EF.
pub const FID_DIR: u16 = 0x2F00;
/// File identifier of the updatable EF.
pub const FID_0101: u16 = 0x0101;
/// Size of EF `0101`.
pub const EF_0101_LEN: usize = 512;

/// Initial contents of EF `2F00`: an application template with an AID and a label.
pub const EF_DIR: [u8; 32] = [
    0x61, 0x1E, 0x4F, 0x08, 0xA0, 0x00, 0x00, 0x05, 0x27, 0x52, 0x4B, 0x31, 0x50, 0x12, b'r', b'e',
    b'a', b'd', b'e', b'r', b'k', b'i', b't', b' ', b'c', b'a', b'r', b'd', b' ', b's', b'i', b'm',
];

/// Initial byte `i` of EF `0101`.
pub const fn ef_0101_initial(i: usize) -> u8 {
    (i.wrapping_mul(7).wrapping_add(i >> 8)) as u8
}

/// Whether an instruction is one this application knows (in some class).
pub(crate) const fn known_ins(cla: u8, ins: u8) -> bool {
    match cla {
        0x00 => matches!(
            ins,
            INS_SELECT
                | INS_READ_BINARY
                | INS_UPDATE_BINARY
                | INS_GET_CHALLENGE
                | INS_GET_DATA
                | INS_VERIFY
                | INS_CHANGE_REFERENCE_DATA
                | INS_GET_RESPONSE
                | INS_ENVELOPE
        ),
        CLA_PROPRIETARY => matches!(ins, INS_ECHO | INS_GET_RESPONSE | INS_ENVELOPE),
        _ => false,
    }
}

/// Whether a class byte is one this application knows.
pub(crate) const fn known_cla(cla: u8) -> bool {
    matches!(cla, 0x00 | CLA_PROPRIETARY)
}

/// GET DATA: the serial number whole, or `6C 08` for an Le under its length.
fn get_data(cmd: &Command<'_>, out: &mut [u8]) -> Answer {
    if u16::from_be_bytes([cmd.p1, cmd.p2]) != TAG_SERIAL_NUMBER {
        return Answer::sw(sw::REFERENCE_NOT_FOUND);
    }
    let Some(ne) = cmd.ne else {
        return Answer::sw(sw::WRONG_LENGTH);
    };
    if !cmd.data.is_empty() {
        return Answer::sw(sw::WRONG_LENGTH);
    }
    let n = SERIAL_NUMBER.len();
    if ne < n {
        return Answer::sw(sw::WRONG_LE | n as u16);
    }
    match out.get_mut(..n) {
        Some(dst) => {
            dst.copy_from_slice(&SERIAL_NUMBER);
            Answer { len: n, sw: sw::OK }
        }
        None => Answer::sw(sw::WRONG_LE | n as u16),
    }
}

/// Application settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The PIN (VERIFY data must match it exactly).
    pub pin: Vec<u8, 16>,
    /// PIN retry counter limit.
    pub pin_tries: u8,
    /// Seed of the GET CHALLENGE generator (0 is replaced by a fixed constant).
    pub seed: u64,
}

impl Default for Config {
    /// PIN `31 32 33 34` ("1234"), 3 tries, seed `0x5EED`.
    fn default() -> Self {
        let mut pin = Vec::new();
        let _ = pin.extend_from_slice(b"1234");
        Config {
            pin,
            pin_tries: 3,
            seed: 0x5EED,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Selected {
    Mf,
    Dir,
    Ef0101,
}

/// The application state: file contents, selection, PIN state, random generator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    config: Config,
    selected: Selected,
    dir: [u8; 32],
    ef0101: [u8; EF_0101_LEN],
    pin: Vec<u8, 16>,
    tries_left: u8,
    verified: bool,
    prng: u64,
}

/// What the application answered: `len` bytes of response data (written to the
/// caller's buffer) and a status word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// Length of the response data field.
    pub len: usize,
    /// SW1-SW2.
    pub sw: u16,
}

impl Answer {
    const fn sw(sw: u16) -> Answer {
        Answer { len: 0, sw }
    }
}

impl App {
    /// A fresh application.
    pub fn new(config: Config) -> App {
        let prng = if config.seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            config.seed
        };
        let mut ef0101 = [0u8; EF_0101_LEN];
        for (i, b) in ef0101.iter_mut().enumerate() {
            *b = ef_0101_initial(i);
        }
        App {
            pin: config.pin.clone(),
            tries_left: config.pin_tries,
            config,
            selected: Selected::Mf,
            dir: EF_DIR,
            ef0101,
            verified: false,
            prng,
        }
    }

    /// What a reset does to the application: the MF is selected and the PIN is no
    /// longer verified.
    pub fn reset(&mut self) {
        self.selected = Selected::Mf;
        self.verified = false;
    }

    /// The contents of a transparent EF.
    pub fn file(&self, fid: u16) -> Option<&[u8]> {
        match fid {
            FID_DIR => Some(&self.dir),
            FID_0101 => Some(&self.ef0101),
            _ => None,
        }
    }

    /// PIN tries left.
    pub const fn pin_tries_left(&self) -> u8 {
        self.tries_left
    }

    /// Whether the PIN was verified since the last reset.
    pub const fn is_verified(&self) -> bool {
        self.verified
    }

    fn next_random(&mut self) -> u64 {
        let mut x = self.prng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.prng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Execute a command; response data goes to `out` (at most `out.len()` bytes).
    pub fn process(&mut self, cmd: &Command<'_>, out: &mut [u8]) -> Answer {
        if !known_cla(cmd.cla) {
            return Answer::sw(sw::CLA_NOT_SUPPORTED);
        }
        if !known_ins(cmd.cla, cmd.ins) {
            return Answer::sw(sw::INS_NOT_SUPPORTED);
        }
        match cmd.ins {
            INS_SELECT => self.select(cmd, out),
            INS_READ_BINARY => self.read_binary(cmd, out),
            INS_UPDATE_BINARY => self.update_binary(cmd),
            INS_GET_CHALLENGE => self.get_challenge(cmd, out),
            INS_GET_DATA => get_data(cmd, out),
            INS_VERIFY => self.verify(cmd),
            INS_CHANGE_REFERENCE_DATA => self.change_reference_data(cmd),
            INS_ECHO => {
                if cmd.p1 != 0 || cmd.p2 != 0 {
                    return Answer::sw(sw::WRONG_P1P2);
                }
                let n = cmd
                    .data
                    .len()
                    .min(cmd.ne.unwrap_or(usize::MAX))
                    .min(out.len());
                out[..n].copy_from_slice(&cmd.data[..n]);
                Answer { len: n, sw: sw::OK }
            }
            // GET RESPONSE with nothing pending, ENVELOPE outside T=0.
            INS_GET_RESPONSE => Answer::sw(sw::CONDITIONS),
            _ => Answer::sw(sw::INS_NOT_SUPPORTED),
        }
    }

    fn select(&mut self, cmd: &Command<'_>, out: &mut [u8]) -> Answer {
        if cmd.p1 != 0 || !matches!(cmd.p2, 0x00 | 0x04 | 0x0C) {
            return Answer::sw(sw::WRONG_P1P2);
        }
        let target = match *cmd.data {
            [] => Selected::Mf,
            [hi, lo] => match u16::from_be_bytes([hi, lo]) {
                FID_MF => Selected::Mf,
                FID_DIR => Selected::Dir,
                FID_0101 => Selected::Ef0101,
                _ => return Answer::sw(sw::FILE_NOT_FOUND),
            },
            _ => return Answer::sw(sw::WRONG_LENGTH),
        };
        self.selected = target;
        if cmd.p2 == 0x0C {
            return Answer::sw(sw::OK);
        }
        let tag = if cmd.p2 == 0x04 { 0x62 } else { 0x6F };
        let mut fci: Vec<u8, 16> = Vec::new();
        let (fid, size) = match target {
            Selected::Mf => (FID_MF, None),
            Selected::Dir => (FID_DIR, Some(self.dir.len())),
            Selected::Ef0101 => (FID_0101, Some(self.ef0101.len())),
        };
        let fdb = if size.is_some() { 0x01 } else { 0x38 };
        let _ = fci.extend_from_slice(&[tag, 0, 0x82, 0x01, fdb, 0x83, 0x02]);
        let _ = fci.extend_from_slice(&fid.to_be_bytes());
        if let Some(size) = size {
            let _ = fci.extend_from_slice(&[0x80, 0x02]);
            let _ = fci.extend_from_slice(&(size as u16).to_be_bytes());
        }
        fci[1] = (fci.len() - 2) as u8;
        let n = fci.len().min(cmd.ne.unwrap_or(usize::MAX)).min(out.len());
        out[..n].copy_from_slice(&fci[..n]);
        Answer { len: n, sw: sw::OK }
    }

    fn current_ef(&mut self) -> Option<(&mut [u8], bool)> {
        match self.selected {
            Selected::Mf => None,
            Selected::Dir => Some((&mut self.dir[..], self.verified)),
            Selected::Ef0101 => Some((&mut self.ef0101[..], true)),
        }
    }

    fn read_binary(&mut self, cmd: &Command<'_>, out: &mut [u8]) -> Answer {
        if cmd.p1 & 0x80 != 0 {
            return Answer::sw(sw::FUNCTION_NOT_SUPPORTED);
        }
        let Some(ne) = cmd.ne else {
            return Answer::sw(sw::WRONG_LENGTH);
        };
        if !cmd.data.is_empty() {
            return Answer::sw(sw::WRONG_LENGTH);
        }
        let offset = usize::from(u16::from_be_bytes([cmd.p1, cmd.p2]));
        let Some((file, _)) = self.current_ef() else {
            return Answer::sw(sw::NO_CURRENT_EF);
        };
        if offset >= file.len() {
            return Answer::sw(sw::WRONG_OFFSET);
        }
        let avail = file.len() - offset;
        let n = avail.min(ne).min(out.len());
        out[..n].copy_from_slice(&file[offset..offset + n]);
        let sw = if n < ne { sw::END_OF_FILE } else { sw::OK };
        Answer { len: n, sw }
    }

    fn update_binary(&mut self, cmd: &Command<'_>) -> Answer {
        if cmd.p1 & 0x80 != 0 {
            return Answer::sw(sw::FUNCTION_NOT_SUPPORTED);
        }
        if cmd.data.is_empty() {
            return Answer::sw(sw::WRONG_LENGTH);
        }
        let offset = usize::from(u16::from_be_bytes([cmd.p1, cmd.p2]));
        let Some((file, writable)) = self.current_ef() else {
            return Answer::sw(sw::NO_CURRENT_EF);
        };
        if !writable {
            return Answer::sw(sw::SECURITY_STATUS);
        }
        if offset >= file.len() {
            return Answer::sw(sw::WRONG_OFFSET);
        }
        let Some(dest) = file.get_mut(offset..offset + cmd.data.len()) else {
            return Answer::sw(sw::NOT_ENOUGH_MEMORY);
        };
        dest.copy_from_slice(cmd.data);
        Answer::sw(sw::OK)
    }

    fn get_challenge(&mut self, cmd: &Command<'_>, out: &mut [u8]) -> Answer {
        if cmd.p1 != 0 || cmd.p2 != 0 {
            return Answer::sw(sw::WRONG_P1P2);
        }
        let Some(ne) = cmd.ne else {
            return Answer::sw(sw::WRONG_LENGTH);
        };
        if !cmd.data.is_empty() {
            return Answer::sw(sw::WRONG_LENGTH);
        }
        let n = ne.min(out.len());
        for chunk in out[..n].chunks_mut(8) {
            let r = self.next_random().to_be_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
        Answer { len: n, sw: sw::OK }
    }

    fn verify(&mut self, cmd: &Command<'_>) -> Answer {
        if cmd.p1 != 0 {
            return Answer::sw(sw::WRONG_P1P2);
        }
        if cmd.p2 != PIN_REFERENCE {
            return Answer::sw(sw::REFERENCE_NOT_FOUND);
        }
        if self.tries_left == 0 {
            return Answer::sw(sw::BLOCKED);
        }
        if cmd.data.is_empty() {
            return Answer::sw(if self.verified {
                sw::OK
            } else {
                sw::WRONG_PIN | u16::from(self.tries_left.min(15))
            });
        }
        self.check_pin(cmd.data)
    }

    /// Compare `block` with the PIN: reset the counter and set the verified state
    /// on a match, count a try down otherwise.
    fn check_pin(&mut self, block: &[u8]) -> Answer {
        if unpadded(block) == self.pin.as_slice() {
            self.verified = true;
            self.tries_left = self.config.pin_tries;
            Answer::sw(sw::OK)
        } else {
            self.verified = false;
            self.tries_left = self.tries_left.saturating_sub(1);
            Answer::sw(sw::WRONG_PIN | u16::from(self.tries_left.min(15)))
        }
    }

    fn change_reference_data(&mut self, cmd: &Command<'_>) -> Answer {
        if cmd.p2 != PIN_REFERENCE {
            return Answer::sw(sw::REFERENCE_NOT_FOUND);
        }
        let new = match cmd.p1 {
            // Current PIN and new PIN, two blocks of the same size.
            0x00 => {
                if self.tries_left == 0 {
                    return Answer::sw(sw::BLOCKED);
                }
                if cmd.data.is_empty() || cmd.data.len() % 2 != 0 {
                    return Answer::sw(sw::WRONG_DATA);
                }
                let (current, new) = cmd.data.split_at(cmd.data.len() / 2);
                let checked = self.check_pin(current);
                if checked.sw != sw::OK {
                    return checked;
                }
                new
            }
            // New PIN only, after VERIFY.
            0x01 if self.verified => cmd.data,
            0x01 => return Answer::sw(sw::SECURITY_STATUS),
            _ => return Answer::sw(sw::WRONG_P1P2),
        };
        let new = unpadded(new);
        let digits = new.iter().all(u8::is_ascii_digit);
        match Vec::from_slice(new) {
            Ok(pin) if digits && new.len() >= 4 => {
                self.pin = pin;
                Answer::sw(sw::OK)
            }
            _ => Answer::sw(sw::WRONG_DATA),
        }
    }
}

/// A PIN block without its trailing `FF` padding.
fn unpadded(block: &[u8]) -> &[u8] {
    let end = block.iter().rposition(|&b| b != 0xFF).map_or(0, |i| i + 1);
    &block[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    fn run(app: &mut App, apdu: &[u8]) -> (std::vec::Vec<u8>, u16) {
        let mut out = [0u8; 600];
        let a = app.process(&Command::parse(apdu).unwrap(), &mut out);
        (out[..a.len].to_vec(), a.sw)
    }

    /// The status word of VERIFY with `pin` (P2 80, the PIN).
    fn verify(app: &mut App, pin: &[u8]) -> u16 {
        pin_command(app, 0x20, 0, pin)
    }

    /// The status word of CHANGE REFERENCE DATA (P1 `p1`, P2 80) with `data`.
    fn change(app: &mut App, p1: u8, data: &[u8]) -> u16 {
        pin_command(app, 0x24, p1, data)
    }

    fn pin_command(app: &mut App, ins: u8, p1: u8, data: &[u8]) -> u16 {
        let mut apdu = vec![0, ins, p1, 0x80, data.len() as u8];
        apdu.extend_from_slice(data);
        run(app, &apdu).1
    }

    #[test]
    fn select_read_update() {
        let mut app = App::new(Config::default());
        assert_eq!(run(&mut app, &[0, 0xB0, 0, 0, 4]).1, sw::NO_CURRENT_EF);
        assert_eq!(
            run(&mut app, &[0, 0xA4, 0, 0x0C, 2, 1, 2]).1,
            sw::FILE_NOT_FOUND
        );
        assert_eq!(
            run(&mut app, &[0, 0xA4, 0, 0x0C, 2, 1, 1]),
            (vec![], 0x9000)
        );
        let (d, s) = run(&mut app, &[0, 0xB0, 0x01, 0xFE, 0]);
        assert_eq!(s, sw::END_OF_FILE);
        assert_eq!(d, [ef_0101_initial(510), ef_0101_initial(511)]);
        assert_eq!(run(&mut app, &[0, 0xB0, 0x02, 0x00, 1]).1, sw::WRONG_OFFSET);
        assert_eq!(run(&mut app, &[0, 0xD6, 0, 1, 2, 0xAA, 0xBB]).1, sw::OK);
        assert_eq!(run(&mut app, &[0, 0xB0, 0, 0, 3]).0, [0, 0xAA, 0xBB]);
        assert_eq!(
            run(&mut app, &[0, 0xD6, 0x01, 0xFF, 2, 1, 1]).1,
            sw::NOT_ENOUGH_MEMORY
        );
        let (fci, s) = run(&mut app, &[0, 0xA4, 0, 0, 2, 0x2F, 0, 0]);
        assert_eq!(s, sw::OK);
        assert_eq!(
            fci,
            [0x6F, 0x0B, 0x82, 1, 1, 0x83, 2, 0x2F, 0, 0x80, 2, 0, 32]
        );
        assert_eq!(run(&mut app, &[0, 0xD6, 0, 0, 1, 0]).1, sw::SECURITY_STATUS);
        assert_eq!(
            run(&mut app, &[0, 0xA4, 1, 0, 2, 0x2F, 0]).1,
            sw::WRONG_P1P2
        );
        assert_eq!(run(&mut app, &[0, 0xA4, 0, 0, 1, 0x2F]).1, sw::WRONG_LENGTH);
    }

    #[test]
    fn verify_counts_down_and_blocks() {
        let mut app = App::new(Config::default());
        assert_eq!(run(&mut app, &[0, 0x20, 0, 0x80]).1, 0x63C3);
        assert_eq!(verify(&mut app, b"1"), 0x63C2);
        assert_eq!(verify(&mut app, b"1234"), 0x9000);
        assert!(app.is_verified());
        assert_eq!(run(&mut app, &[0, 0x20, 0, 0x80]).1, 0x9000);
        assert_eq!(
            run(&mut app, &[0, 0x20, 0, 0x81]).1,
            sw::REFERENCE_NOT_FOUND
        );
        for expected in [0x63C2, 0x63C1, 0x63C0, 0x6983, 0x6983] {
            assert_eq!(verify(&mut app, b"\x00"), expected);
        }
        assert_eq!(verify(&mut app, b"1234"), sw::BLOCKED);
    }

    #[test]
    fn change_reference_data_changes_the_pin() {
        let mut app = App::new(Config::default());
        let old_and_new = b"1234\xFF\xFF\xFF\xFF56789\xFF\xFF\xFF";
        assert_eq!(change(&mut app, 0, old_and_new), 0x9000);
        assert!(app.is_verified());
        assert_eq!(verify(&mut app, b"1234"), 0x63C2);
        assert_eq!(verify(&mut app, b"56789"), 0x9000);
        // A padded VERIFY block is the same PIN.
        assert_eq!(verify(&mut app, b"56789\xFF\xFF\xFF"), 0x9000);
        // P1 01: the new PIN alone, only once verified.
        assert_eq!(change(&mut app, 1, b"4321"), 0x9000);
        app.reset();
        assert_eq!(change(&mut app, 1, b"1111"), sw::SECURITY_STATUS);
        assert_eq!(verify(&mut app, b"4321"), 0x9000);
    }

    #[test]
    fn change_reference_data_refusals() {
        let mut app = App::new(Config::default());
        // Wrong current PIN: counted like VERIFY, the PIN stays.
        let wrong = b"00005678";
        assert_eq!(change(&mut app, 0, wrong), 0x63C2);
        // Odd length, a short or non-digit new PIN, other P1/P2.
        assert_eq!(change(&mut app, 0, b"123"), sw::WRONG_DATA);
        assert_eq!(change(&mut app, 0, b"1234567\xFF"), sw::WRONG_DATA);
        assert_eq!(run(&mut app, &[0, 0x24, 2, 0x80, 0]).1, sw::WRONG_P1P2);
        assert_eq!(
            run(&mut app, &[0, 0x24, 0, 0x81, 0]).1,
            sw::REFERENCE_NOT_FOUND
        );
        assert_eq!(verify(&mut app, b"1234"), 0x9000);
        // Blocked: every change refused.
        for _ in 0..3 {
            change(&mut app, 0, wrong);
        }
        assert_eq!(change(&mut app, 0, wrong), sw::BLOCKED);
    }

    #[test]
    fn challenge_is_deterministic_per_seed() {
        let mut a = App::new(Config::default());
        let mut b = App::new(Config::default());
        let (x, s) = run(&mut a, &[0, 0x84, 0, 0, 13]);
        assert_eq!((x.len(), s), (13, 0x9000));
        assert_eq!(x, run(&mut b, &[0, 0x84, 0, 0, 13]).0);
        assert_ne!(x, run(&mut a, &[0, 0x84, 0, 0, 13]).0);
        let mut c = App::new(Config {
            seed: 99,
            ..Config::default()
        });
        assert_ne!(x, run(&mut c, &[0, 0x84, 0, 0, 13]).0);
        assert_eq!(run(&mut a, &[0, 0x84, 0, 0]).1, sw::WRONG_LENGTH);
        assert_eq!(run(&mut a, &[0, 0x84, 1, 0, 8]).1, sw::WRONG_P1P2);
    }

    #[test]
    fn get_data_gives_the_serial_number_whole_or_its_length() {
        let mut app = App::new(Config::default());
        let serial = SERIAL_NUMBER.to_vec();
        assert_eq!(run(&mut app, &[0, 0xCA, 1, 1, 8]), (serial.clone(), sw::OK));
        assert_eq!(run(&mut app, &[0, 0xCA, 1, 1, 0]), (serial, sw::OK));
        assert_eq!(run(&mut app, &[0, 0xCA, 1, 1, 4]), (vec![], 0x6C08));
        assert_eq!(
            run(&mut app, &[0, 0xCA, 1, 2, 8]).1,
            sw::REFERENCE_NOT_FOUND
        );
        assert_eq!(run(&mut app, &[0, 0xCA, 1, 1]).1, sw::WRONG_LENGTH);
        assert_eq!(run(&mut app, &[0, 0xCA, 1, 1, 1, 0, 8]).1, sw::WRONG_LENGTH);
    }

    #[test]
    fn echo_and_errors() {
        let mut app = App::new(Config::default());
        assert_eq!(
            run(&mut app, &[0x80, 0xEE, 0, 0, 3, 1, 2, 3, 0]),
            (vec![1, 2, 3], 0x9000)
        );
        assert_eq!(run(&mut app, &[0x80, 0xEE, 0, 0, 3, 1, 2, 3, 2]).0, [1, 2]);
        assert_eq!(run(&mut app, &[0x80, 0xEE, 0, 1, 1, 1]).1, sw::WRONG_P1P2);
        assert_eq!(
            run(&mut app, &[0x00, 0xEE, 0, 0, 1, 1]).1,
            sw::INS_NOT_SUPPORTED
        );
        assert_eq!(run(&mut app, &[0x80, 0xA4, 0, 0]).1, sw::INS_NOT_SUPPORTED);
        assert_eq!(run(&mut app, &[0x40, 0xA4, 0, 0]).1, sw::CLA_NOT_SUPPORTED);
        assert_eq!(run(&mut app, &[0x00, 0xC0, 0, 0, 5]).1, sw::CONDITIONS);
    }
}

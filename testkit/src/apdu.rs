//! Command APDUs the simulated card (`card-sim`) and vicc answer, and test data.

/// The simulated card's ECHO command (`80 EE 00 00`) for `data`: short form (Lc, Le
/// = 00) up to 255 bytes, extended form (00 Lc1 Lc2 … Le = 00 00) above.
pub fn echo(data: &[u8]) -> Vec<u8> {
    if data.len() <= 255 {
        echo_short(data, Some(0))
    } else {
        echo_extended(data, 0)
    }
}

/// ECHO, short: `Lc data [Le]`; `data` is at most 255 bytes.
pub fn echo_short(data: &[u8], le: Option<u8>) -> Vec<u8> {
    assert!(data.len() <= 255, "short Lc is at most 255");
    let mut c = vec![0x80, 0xEE, 0x00, 0x00, data.len() as u8];
    c.extend_from_slice(data);
    c.extend(le);
    c
}

/// ECHO, extended whatever the length (case 4E): `00 Lc(2) data Le(2)`; `data` is
/// at most 65 535 bytes.
pub fn echo_extended(data: &[u8], le: u16) -> Vec<u8> {
    let lc = u16::try_from(data.len()).expect("extended Lc is at most 65 535");
    let mut c = vec![0x80, 0xEE, 0x00, 0x00, 0x00];
    c.extend_from_slice(&lc.to_be_bytes());
    c.extend_from_slice(data);
    c.extend_from_slice(&le.to_be_bytes());
    c
}

/// `data` followed by the status word `sw`: the response APDU a test expects.
pub fn with_sw(data: &[u8], sw: u16) -> Vec<u8> {
    let mut v = data.to_vec();
    v.extend_from_slice(&sw.to_be_bytes());
    v
}

/// SELECT of the master file by its identifier 3F00, no answer data
/// (`00 A4 00 0C 02 3F 00`): answered `90 00` by the simulated card and vicc.
pub const SELECT_MF: [u8; 7] = [0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00];

/// SELECT of the master file asking for its FCI (`00 A4 00 00 02 3F 00 00`, case
/// 4): the simulated card answers its FCI template (`6F ...`) and `90 00`; not for
/// vicc, whose ISO 7816 card fails on P2 = 00.
pub const SELECT_MF_FCI: [u8; 8] = [0x00, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00, 0x00];

/// GET CHALLENGE for `le` bytes (`00 84 00 00 Le`).
pub const fn get_challenge(le: u8) -> [u8; 5] {
    [0x00, 0x84, 0x00, 0x00, le]
}

/// `n` bytes of a pattern whose period is not a block or chunk size (so a lost or
/// doubled chunk shows).
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 37 + i / 253 + 5) as u8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_forms() {
        assert_eq!(echo(&[1, 2]), [0x80, 0xEE, 0, 0, 2, 1, 2, 0]);
        let long = echo(&[7; 256]);
        assert_eq!(long[..7], [0x80, 0xEE, 0, 0, 0, 1, 0]);
        assert_eq!(long.len(), 7 + 256 + 2);
        assert_eq!(echo_extended(&[9], 0), [0x80, 0xEE, 0, 0, 0, 0, 1, 9, 0, 0]);
        assert_eq!(echo_short(&[9], None), [0x80, 0xEE, 0, 0, 1, 9]);
        assert_eq!(with_sw(&[1], 0x6282), [1, 0x62, 0x82]);
    }
}

//! Command APDUs the simulated card (`card-sim`) and vicc answer, and test data.

/// The simulated card's ECHO command (`80 EE 00 00`) for `data`: short form (Lc, Le
/// = 00) up to 255 bytes, extended form (00 Lc1 Lc2 … Le = 00 00) above.
pub fn echo(data: &[u8]) -> Vec<u8> {
    if data.len() <= 255 {
        let mut c = vec![0x80, 0xEE, 0x00, 0x00, data.len() as u8];
        c.extend_from_slice(data);
        c.push(0x00);
        c
    } else {
        echo_extended(data)
    }
}

/// The ECHO command in the extended form whatever the length (case 4E, Le = 00 00);
/// `data` is at most 65 535 bytes.
pub fn echo_extended(data: &[u8]) -> Vec<u8> {
    let lc = u16::try_from(data.len()).expect("extended Lc is at most 65 535");
    let mut c = vec![0x80, 0xEE, 0x00, 0x00, 0x00];
    c.extend_from_slice(&lc.to_be_bytes());
    c.extend_from_slice(data);
    c.extend_from_slice(&[0x00, 0x00]);
    c
}

/// GET CHALLENGE for `le` bytes (`00 84 00 00 Le`).
pub const fn get_challenge(le: u8) -> [u8; 5] {
    [0x00, 0x84, 0x00, 0x00, le]
}

/// `n` bytes of a pattern that does not repeat within 251 bytes (so a lost or
/// doubled chunk shows).
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 + i / 251) as u8).collect()
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
        assert_eq!(echo_extended(&[9]), [0x80, 0xEE, 0, 0, 0, 0, 1, 9, 0, 0]);
    }
}

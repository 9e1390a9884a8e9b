//! T=1 blocks (ISO/IEC 7816-3 §11.3) as a test writes them to a reader: NAD,
//! PCB, LEN, the information field, LRC.
//!
//! Written here with a fold of its own, independent of the core's encoder
//! (`readerkit::t1`) on purpose: a test that built its blocks with the core would
//! check the core against itself.

/// The longitudinal redundancy check of `bytes`: their XOR (a GemPC Twin frame
/// ends with the same sum).
pub fn lrc(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |a, b| a ^ b)
}

/// A T=1 block with NAD 0, `pcb`, `inf` and its LRC; `inf` is at most 255 bytes
/// (LEN is one byte; a test may write one longer than the 254 a card takes).
pub fn block(pcb: u8, inf: &[u8]) -> Vec<u8> {
    let len = u8::try_from(inf.len()).expect("LEN is one byte: at most 255 bytes");
    let mut block = vec![0x00, pcb, len];
    block.extend_from_slice(inf);
    block.push(lrc(&block));
    block
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_i_block_and_an_s_block_byte_for_byte() {
        assert_eq!(block(0x00, &[]), [0x00, 0x00, 0x00, 0x00]);
        // S(WTX response) with multiplier 3: 00 E3 01 03, LRC E3 ^ 01 ^ 03 = E1.
        assert_eq!(block(0xE3, &[0x03]), [0x00, 0xE3, 0x01, 0x03, 0xE1]);
        assert_eq!(
            block(0x40, &[0x00, 0x84, 0x00, 0x00, 0x08]),
            [0x00, 0x40, 0x05, 0x00, 0x84, 0x00, 0x00, 0x08, 0xC9]
        );
    }
}

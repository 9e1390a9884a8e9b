//! CCID messages (USB CCID 1.1 §6.1) as the tests of the CCID binding and of
//! `readerkit usbip-serve` send them, the header written out here rather than by
//! the binding under test.

/// A PC_to_RDR message: `kind` (`bMessageType`), `dwLength` = the length of
/// `data`, `slot`, `seq`, the three message-specific bytes, then `data`.
pub fn message_with(kind: u8, slot: u8, seq: u8, specific: [u8; 3], data: &[u8]) -> Vec<u8> {
    let mut m = vec![kind];
    m.extend_from_slice(&u32::try_from(data.len()).unwrap_or(u32::MAX).to_le_bytes());
    m.extend_from_slice(&[slot, seq]);
    m.extend_from_slice(&specific);
    m.extend_from_slice(data);
    m
}

/// A PC_to_RDR message for slot 0 with message-specific bytes 0: `kind`, `seq`,
/// `data`.
pub fn message(kind: u8, seq: u8, data: &[u8]) -> Vec<u8> {
    message_with(kind, 0, seq, [0; 3], data)
}

/// While a command runs on slot 0, send GetSlotStatus through `exchange` (given
/// each try's `bSeq`, from `first_seq`, and the message; it returns the answer)
/// until its CMD_SLOT_BUSY answer says the card is absent: each answer checked
/// byte for byte (`bmICCStatus` present and active, or absent). Tries 20 ms
/// apart for at most 10 s, a hang guard for a removal that never shows.
/// Returns the last `bSeq` used.
pub fn busy_until_absent(first_seq: u8, mut exchange: impl FnMut(u8, &[u8]) -> Vec<u8>) -> u8 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut seq = first_seq;
    while std::time::Instant::now() < deadline {
        let answer = exchange(seq, &message(0x65, seq, &[]));
        let icc = answer.get(7).map_or(0, |status| status & 0x03);
        // The icc read back from the answer itself: only these two may pass.
        assert!(
            icc == 0x00 || icc == 0x02,
            "bmICCStatus {icc}, neither present and active nor absent: {answer:02X?}"
        );
        assert_eq!(
            answer,
            [0x81, 0, 0, 0, 0, 0, seq, 0x40 | icc, 0xE0, 0x03],
            "CMD_SLOT_BUSY"
        );
        if icc == 0x02 {
            return seq;
        }
        seq = seq.wrapping_add(1);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("the removal never shows in the busy answers");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_then_data() {
        assert_eq!(
            message_with(0x6F, 1, 7, [2, 3, 4], &[0xAA, 0xBB]),
            [0x6F, 2, 0, 0, 0, 1, 7, 2, 3, 4, 0xAA, 0xBB]
        );
        assert_eq!(message(0x65, 9, &[]), [0x65, 0, 0, 0, 0, 0, 9, 0, 0, 0]);
    }

    #[test]
    fn busy_until_absent_returns_the_seq_of_the_first_absent_answer() {
        let icc = |seq: u8| if seq < 3 { 0x00 } else { 0x02 };
        let busy =
            |seq: u8, _: &[u8]| std::vec![0x81, 0, 0, 0, 0, 0, seq, 0x40 | icc(seq), 0xE0, 3];
        assert_eq!(busy_until_absent(1, busy), 3);
    }

    #[test]
    #[should_panic(expected = "bmICCStatus 1, neither present and active nor absent")]
    fn busy_until_absent_refuses_a_card_present_but_inactive() {
        // A powered card that the busy answer calls inactive (bmICCStatus 1).
        busy_until_absent(1, |seq, _| {
            std::vec![0x81, 0, 0, 0, 0, 0, seq, 0x41, 0xE0, 3]
        });
    }
}

//! A hostile card against the T=1 engine.
//!
//! Input layout: 12 bytes of parameters (IFSC, IFSD, EDC, NAD, flags, retry limits,
//! card request limit, APDU length, response buffer size), then the card's replies,
//! each introduced by a tag byte (low 2 bits): 0 time-out, 1 character error,
//! 2 raw bytes (length byte, bytes), 3 a well-formed block (PCB, LEN, INF) with the
//! right NAD and EDC so that the fuzzer reaches deep states. Once the input runs out
//! the card is silent. The engine must not panic, must only emit valid blocks, must
//! end within the documented bound, and must then refuse every input with
//! `Error::NoTransaction`, changing nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use readerkit::t1::{Action, Config, Edc, Engine, Error, MAX_BLOCK_LEN, MAX_RESPONSE_LEN, Repr};
use readerkit_fuzz::t1;

struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }

    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input { data };
    let mut p = [0u8; 12];
    for b in &mut p {
        *b = input.byte().unwrap_or(0);
    }
    let edc = if p[2] & 1 == 0 { Edc::Lrc } else { Edc::Crc };
    let config = Config {
        ifsc: p[0],
        ifsd: p[1],
        edc,
        // b8 and b4 of a NAD are unused: a config with them set is refused.
        nad: p[3] & 0x77,
        send_ifs_request: p[4] & 1 != 0,
        max_retries: p[5] % 5,
        max_resynchs: p[6] % 5,
        max_card_requests: u16::from(p[7]),
    };
    let Ok(mut engine) = Engine::new(config) else {
        return;
    };
    // Up to 1 KiB: long enough for chains of many blocks at any IFSC, short enough
    // that one input runs in microseconds (a 64 KiB APDU at IFSC 1 is 65 536 blocks).
    let apdu_len =
        usize::from(u16::from_le_bytes([p[8], p[9]]) % 1024) + usize::from(p[4] >> 7) * 9;
    let apdu: Vec<u8> = (0..apdu_len).map(|i| (i as u8) ^ p[10]).collect();
    let mut response = vec![0u8; usize::from(p[11]) * 8];
    let card_nad = config.nad.rotate_left(4);

    // Several APDUs per input, so that state carried between them is exercised.
    for round in 0..3 {
        let apdu = &apdu[..apdu.len().saturating_sub(round * 7)];
        // Every exchange below runs to its end, so only a failed one leaves a
        // resynchronisation owed; with none allowed, transmit refuses the next APDU
        // (no transaction that fails before its first block).
        let can_start = t1::can_start(&engine, &config);
        let Some(mut tx) = t1::began(can_start, apdu, engine.transmit(apdu, &mut response)) else {
            return;
        };
        let bound = (usize::from(config.max_resynchs) + 1)
            * (apdu.len() + MAX_RESPONSE_LEN + 2)
            * (usize::from(config.max_retries) + 2)
            + (usize::from(config.max_card_requests) + 1) * (usize::from(config.max_retries) + 2);
        let mut steps = 0usize;
        let mut action = tx.action();
        loop {
            match action {
                Err(_) => break,
                Ok(Action::Done { response_len }) => {
                    assert!(response_len <= MAX_RESPONSE_LEN);
                    assert_eq!(tx.response().len(), response_len);
                    break;
                }
                Ok(Action::Send { block, wait }) => {
                    assert!(wait.wtx >= 1);
                    assert!(block.len() >= 4 && block.len() <= MAX_BLOCK_LEN);
                    let repr =
                        Repr::parse_bytes(block, edc).expect("engine emitted an invalid block");
                    assert_eq!(repr.nad, config.nad);
                    steps += 1;
                    assert!(steps <= bound, "no end after {steps} blocks");
                }
            }
            action = match input.byte() {
                None => tx.timeout(),
                Some(tag) => match tag & 3 {
                    0 => tx.timeout(),
                    1 => tx.line_error(),
                    2 => {
                        let n = usize::from(input.byte().unwrap_or(0));
                        let raw = input.bytes(n);
                        tx.receive(raw)
                    }
                    _ => {
                        let pcb = input.byte().unwrap_or(0);
                        let len = usize::from(input.byte().unwrap_or(0)).min(254);
                        let inf = input.bytes(len);
                        let mut block = [0u8; MAX_BLOCK_LEN];
                        block[0] = if tag & 4 == 0 { card_nad } else { tag };
                        block[1] = pcb;
                        block[2] = inf.len() as u8;
                        block[3..3 + inf.len()].copy_from_slice(inf);
                        let body = 3 + inf.len();
                        let code = edc.compute(&block[..body]);
                        let edc_len = edc.epilogue_len();
                        block[body..body + edc_len].copy_from_slice(&code[..edc_len]);
                        tx.receive(&block[..body + edc_len])
                    }
                },
            };
        }
        // Ended: every input is refused and changes nothing.
        let end = format!("{:?}", tx.action());
        for step in 0..3 {
            let refused = match step {
                0 => tx.receive(input.data).map(|_| ()),
                1 => tx.timeout().map(|_| ()),
                _ => tx.line_error().map(|_| ()),
            };
            assert_eq!(
                refused,
                Err(Error::NoTransaction),
                "step {step} after {end}"
            );
            assert_eq!(format!("{:?}", tx.action()), end, "step {step} changed it");
        }
    }
});

//! The card side of T=0 (ISO/IEC 7816-3:2006 clause 10).

use super::Card;
use crate::app::{self, INS_ENVELOPE, INS_GET_RESPONSE, known_cla, known_ins, sw};
use crate::fault::T0Procedure;

/// The command chaining bit of CLA.
const CLA_CHAINING: u8 = 0x10;

/// The NULL procedure byte.
const NULL: u8 = 0x60;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Rx {
    /// Collecting the 5-byte header.
    #[default]
    Header,
    /// Collecting `remaining` data bytes of an incoming command.
    Data { remaining: usize },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct T0 {
    hdr: [u8; 5],
    hdr_len: usize,
    rx: Rx,
    /// An ENVELOPE sequence is being assembled in the command buffer.
    envelope: bool,
    /// The data being received belongs to an ENVELOPE.
    receiving_envelope: bool,
    /// That ENVELOPE is the last of its sequence (CLA without the chaining bit).
    envelope_last: bool,
    /// Response data waits for GET RESPONSE.
    pending: bool,
}

/// Whether the command with this INS gets data from the card (P3 = Le).
const fn outgoing(ins: u8) -> bool {
    matches!(
        ins,
        app::INS_READ_BINARY | app::INS_GET_CHALLENGE | app::INS_GET_DATA | INS_GET_RESPONSE
    )
}

/// Encode a length 1..=256 as a P3/SW2 byte (256 is 00).
const fn len_byte(n: usize) -> u8 {
    (n & 0xFF) as u8
}

impl<const N: usize> Card<N> {
    pub(super) fn t0_char(&mut self, b: u8) {
        match self.t0.rx {
            Rx::Header => {
                self.t0.hdr[self.t0.hdr_len] = b;
                self.t0.hdr_len += 1;
                if self.t0.hdr_len == 5 {
                    self.t0.hdr_len = 0;
                    self.t0_header();
                }
            }
            Rx::Data { remaining } => {
                self.cmd_push(b);
                let remaining = remaining - 1;
                if remaining == 0 {
                    self.t0.rx = Rx::Header;
                    self.t0_data_complete();
                } else {
                    self.t0.rx = Rx::Data { remaining };
                    if self.faults.t0_procedure == T0Procedure::OneByteAtATime {
                        self.t0_procedure(!self.t0.hdr[1]);
                    }
                }
            }
        }
    }

    fn t0_procedure(&mut self, b: u8) {
        self.stats.procedure_bytes += 1;
        self.send_byte(b);
    }

    fn t0_sw(&mut self, sw: u16) {
        self.send(&sw.to_be_bytes());
    }

    fn t0_header(&mut self) {
        if !self.count_answer() {
            return;
        }
        let mut nulls = u32::from(self.faults.t0_null_bytes);
        if let Some(wtx) = self.faults.wtx {
            if wtx.answer.fires(self.answers) {
                nulls += u32::from(wtx.count);
            }
        }
        for _ in 0..nulls {
            self.t0_procedure(NULL);
        }
        let [cla, ins, p1, p2, p3] = self.t0.hdr;
        // Command chaining (CLA b5) is understood for ENVELOPE only.
        let chained = cla & CLA_CHAINING != 0 && ins == INS_ENVELOPE;
        let cla = if chained { cla & !CLA_CHAINING } else { cla };
        if !known_cla(cla) {
            return self.t0_sw(sw::CLA_NOT_SUPPORTED);
        }
        if !known_ins(cla, ins) || (ins == INS_ENVELOPE && !self.profile.envelope) {
            return self.t0_sw(sw::INS_NOT_SUPPORTED);
        }
        if ins == INS_GET_RESPONSE {
            return self.t0_get_response(p1, p2, p3);
        }
        // Any other command discards a pending answer.
        self.t0.pending = false;
        if ins == INS_ENVELOPE {
            if p1 != 0 || p2 != 0 {
                self.t0.envelope = false;
                return self.t0_sw(sw::WRONG_P1P2);
            }
            if !self.t0.envelope {
                self.t0.envelope = true;
                self.cmd_clear();
            }
            self.t0.envelope_last = !chained;
            if p3 == 0 {
                if chained {
                    return self.t0_sw(sw::OK);
                }
                // End of the sequence: execute the assembled APDU.
                self.t0.envelope = false;
                self.execute();
                return self.t0_answer_incoming();
            }
            self.t0.receiving_envelope = true;
            return self.t0_receive(ins, p3);
        }
        self.t0.envelope = false;
        self.cmd_clear();
        for b in [cla, ins, p1, p2] {
            self.cmd_push(b);
        }
        if outgoing(ins) {
            self.cmd_push(p3);
            self.execute();
            let le = if p3 == 0 { 256 } else { usize::from(p3) };
            if self.resp_len == 0 {
                return self.t0_sw(self.resp_sw);
            }
            if self.resp_len != le {
                return self.t0_sw(0x6C00 | u16::from(len_byte(self.resp_len)));
            }
            self.t0_send_data(ins, 0, le);
            return self.t0_sw(self.resp_sw);
        }
        if p3 == 0 {
            self.execute();
            return self.t0_answer_incoming();
        }
        self.cmd_push(p3);
        self.t0.receiving_envelope = false;
        self.t0_receive(ins, p3)
    }

    /// Ask for `p3` data bytes.
    fn t0_receive(&mut self, ins: u8, p3: u8) {
        self.t0.rx = Rx::Data {
            remaining: usize::from(p3),
        };
        match self.faults.t0_procedure {
            T0Procedure::Ack => self.t0_procedure(ins),
            T0Procedure::OneByteAtATime => self.t0_procedure(!ins),
        }
    }

    fn t0_data_complete(&mut self) {
        if self.t0.receiving_envelope {
            self.t0.receiving_envelope = false;
            if !self.t0.envelope_last {
                if self.cmd_overflow {
                    self.t0.envelope = false;
                    return self.t0_sw(sw::WRONG_LENGTH);
                }
                return self.t0_sw(sw::OK);
            }
            self.t0.envelope = false;
        }
        self.execute();
        self.t0_answer_incoming();
    }

    /// The answer to a command that sent data: `61 xx` if response data waits, else
    /// the status word.
    fn t0_answer_incoming(&mut self) {
        if self.resp_len == 0 {
            return self.t0_sw(self.resp_sw);
        }
        self.t0.pending = true;
        self.resp_pos = 0;
        let next = self.t0_next_chunk();
        self.t0_sw(0x6100 | u16::from(len_byte(next)));
    }

    /// How many bytes the next GET RESPONSE gives.
    fn t0_next_chunk(&self) -> usize {
        let max = match self.faults.t0_get_response_max {
            Some(m) => usize::from(m.max(1)),
            None => 256,
        };
        (self.resp_len - self.resp_pos).min(max)
    }

    fn t0_get_response(&mut self, p1: u8, p2: u8, p3: u8) {
        if !self.t0.pending {
            return self.t0_sw(sw::CONDITIONS);
        }
        if p1 != 0 || p2 != 0 {
            return self.t0_sw(sw::WRONG_P1P2);
        }
        let chunk = self.t0_next_chunk();
        let le = if p3 == 0 { 256 } else { usize::from(p3) };
        if le > chunk {
            return self.t0_sw(0x6C00 | u16::from(len_byte(chunk)));
        }
        self.stats.get_responses += 1;
        self.t0_send_data(INS_GET_RESPONSE, self.resp_pos, le);
        self.resp_pos += le;
        if self.resp_pos < self.resp_len {
            let next = self.t0_next_chunk();
            self.t0_sw(0x6100 | u16::from(len_byte(next)));
        } else {
            self.t0.pending = false;
            self.t0_sw(self.resp_sw);
        }
    }

    /// Procedure byte(s) and `len` response bytes from `from`.
    fn t0_send_data(&mut self, ins: u8, from: usize, len: usize) {
        let one_by_one = self.faults.t0_procedure == T0Procedure::OneByteAtATime;
        if !one_by_one {
            self.t0_procedure(ins);
        }
        for i in from..from + len {
            if one_by_one {
                self.t0_procedure(!ins);
            }
            let b = self.resp_byte(i);
            self.send_byte(b);
        }
    }
}

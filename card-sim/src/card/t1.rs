//! The card side of T=1 (ISO/IEC 7816-3:2006 clause 11).

use heapless::Vec;

use super::{Card, State};
use crate::atr::Profile;
use crate::edc::Edc;

// Block coding independent of readerkit's core/src/t1/block.rs on purpose: the simulated card must not share the reader's code, so that its tests mean something.
/// The longest block: prologue, 255 bytes of INF (LEN = FF is invalid but must be
/// read to its end), two bytes of CRC.
pub(super) const BLOCK_MAX: usize = 3 + 255 + 2;

/// IFSD before any S(IFS request) from the reader.
pub(super) const IFSD_DEFAULT: u8 = 32;

/// Whether `n` bytes is an information field size the card takes, 1 to 254
/// (ISO/IEC 7816-3:2006 11.4.2).
const fn valid_ifs(n: u8) -> bool {
    n != 0 && n <= 254
}

/// `n` bytes brought into the valid information field sizes, 1 to 254: the IFSC
/// the card announces or asks for, whatever its profile or fault says.
const fn ifs(n: u8) -> u8 {
    match n {
        0 => 1,
        255 => 254,
        n => n,
    }
}

/// R-block code (low bits of the PCB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RCode {
    /// Error-free acknowledgement.
    ErrorFree = 0,
    /// EDC or parity error.
    Edc = 1,
    /// Other error.
    Other = 2,
}

/// S-block kind (low bits of the PCB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SKind {
    /// S(RESYNCH ...): back to the state after the ATR.
    Resynch = 0,
    /// S(IFS ...): a new information field size.
    Ifs = 1,
    /// S(ABORT ...): drop the chain under way.
    Abort = 2,
    /// S(WTX ...): a waiting time extension.
    Wtx = 3,
}

impl SKind {
    /// The kind an S-block's PCB names; `None` for the reserved ones.
    const fn of(pcb: u8) -> Option<SKind> {
        match pcb & 0x1F {
            0 => Some(SKind::Resynch),
            1 => Some(SKind::Ifs),
            2 => Some(SKind::Abort),
            3 => Some(SKind::Wtx),
            _ => None,
        }
    }

    /// The PCB of the S(kind request).
    const fn request(self) -> u8 {
        0xC0 | self as u8
    }

    /// The PCB of the S(kind response).
    const fn response(self) -> u8 {
        0xE0 | self as u8
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Waiting for a command (or for anything after the last block of an answer).
    Idle,
    /// Receiving a chained command.
    ReceivingChain,
    /// Sending a chained answer; waiting for R(N(R)).
    SendingChain,
    /// Sent S(WTX request); waiting for S(WTX response).
    AwaitingWtx,
    /// Sent S(IFS request) with this IFSC; waiting for S(IFS response).
    AwaitingIfs(u8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct T1 {
    /// The block being received.
    rx: Vec<u8, BLOCK_MAX>,
    rx_bad: bool,
    /// N(S) of the next I-block the card sends.
    ns: u8,
    /// N(S) expected in the reader's next I-block.
    nr: u8,
    /// N(S) of the last I-block sent.
    last_i_ns: u8,
    pub(super) ifsc: u8,
    pub(super) ifsd: u8,
    edc: Edc,
    /// NAD of the card's blocks.
    nad: u8,
    /// Last I-, R- or S(request) block sent, for retransmission (empty: none).
    last: Vec<u8, BLOCK_MAX>,
    mode: Mode,
    wtx_left: u8,
    ifs_pending: bool,
}

impl T1 {
    pub(super) fn new(profile: &Profile) -> T1 {
        T1 {
            rx: Vec::new(),
            rx_bad: false,
            ns: 0,
            nr: 0,
            last_i_ns: 0,
            ifsc: ifs(profile.t1.ifsc),
            ifsd: IFSD_DEFAULT,
            edc: profile.t1.edc,
            nad: 0,
            last: Vec::new(),
            mode: Mode::Idle,
            wtx_left: 0,
            ifs_pending: false,
        }
    }
}

/// Build a block: prologue, INF from `inf(i)`, EDC. Returns the block and its length.
fn build(
    edc: Edc,
    nad: u8,
    pcb: u8,
    len: usize,
    inf: impl Fn(usize) -> u8,
) -> ([u8; BLOCK_MAX], usize) {
    let mut b = [0u8; BLOCK_MAX];
    let len = len.min(254);
    b[0] = nad;
    b[1] = pcb;
    b[2] = len as u8;
    for i in 0..len {
        b[3 + i] = inf(i);
    }
    let n = 3 + len;
    let mut e = [0u8; 2];
    let el = edc.compute(&b[..n], &mut e);
    b[n..n + el].copy_from_slice(&e[..el]);
    (b, n + el)
}

impl<const N: usize> Card<N> {
    pub(super) fn t1_char(&mut self, b: u8, parity_error: bool) {
        let t = &mut self.t1;
        if t.rx.is_empty() {
            t.rx_bad = false;
        }
        // A byte past BLOCK_MAX is dropped: the block is complete by then.
        let _ = t.rx.push(b);
        t.rx_bad |= parity_error;
        let complete = match t.rx.get(2) {
            Some(&len) => t.rx.len() >= 3 + usize::from(len) + t.edc.epilogue_len(),
            None => false,
        };
        if complete {
            self.t1_block();
            self.t1.rx.clear();
        }
    }

    pub(super) fn t1_line_idle(&mut self) {
        if !self.t1.rx.is_empty() {
            self.t1.rx.clear();
            self.stats.blocks_to_card += 1;
            self.t1_invalid(RCode::Other);
        }
    }

    /// Handle the complete block in `rx` (cleared after).
    fn t1_block(&mut self) {
        self.stats.blocks_to_card += 1;
        let t = &self.t1;
        let len = usize::from(t.rx[2]);
        let n = 3 + len;
        let edc_ok = t.edc.check(&t.rx[..n], &t.rx[n..n + t.edc.epilogue_len()]);
        if !edc_ok || t.rx_bad {
            return self.t1_invalid(RCode::Edc);
        }
        let nad = t.rx[0];
        let pcb = t.rx[1];
        if len == 255 || nad & 0x88 != 0 {
            return self.t1_invalid(RCode::Other);
        }
        // Answer with SAD and DAD swapped.
        self.t1.nad = ((nad & 0x07) << 4) | ((nad >> 4) & 0x07);
        let mut inf = [0u8; 255];
        inf[..len].copy_from_slice(&self.t1.rx[3..n]);
        let inf = &inf[..len];
        match pcb & 0xC0 {
            0x00 | 0x40 => self.t1_i_block(pcb, inf),
            0x80 => self.t1_r_block(pcb, len),
            _ => self.t1_s_block(pcb, inf),
        }
    }

    fn t1_invalid(&mut self, code: RCode) {
        self.stats.invalid_blocks += 1;
        match self.t1.mode {
            Mode::AwaitingWtx | Mode::AwaitingIfs(_) => self.t1_retransmit(),
            _ => self.t1_send_r(code),
        }
    }

    fn t1_i_block(&mut self, pcb: u8, inf: &[u8]) {
        let ns = (pcb >> 6) & 1;
        let more = pcb & 0x20 != 0;
        if pcb & 0x1F != 0 || inf.len() > usize::from(self.t1.ifsc) {
            return self.t1_invalid(RCode::Other);
        }
        match self.t1.mode {
            Mode::Idle | Mode::ReceivingChain => {}
            Mode::SendingChain | Mode::AwaitingWtx | Mode::AwaitingIfs(_) => {
                return self.t1_invalid(RCode::Other);
            }
        }
        if ns != self.t1.nr {
            return self.t1_invalid(RCode::Other);
        }
        if self.t1.mode == Mode::Idle {
            self.cmd_clear();
        }
        for &b in inf {
            self.cmd_push(b);
        }
        self.t1.nr ^= 1;
        if more {
            self.t1.mode = Mode::ReceivingChain;
            self.t1_send_r(RCode::ErrorFree);
        } else {
            self.t1.mode = Mode::Idle;
            self.execute();
            self.t1_start_answer();
        }
    }

    fn t1_r_block(&mut self, pcb: u8, len: usize) {
        if len != 0 || pcb & 0x20 != 0 {
            return self.t1_invalid(RCode::Other);
        }
        let nr = (pcb >> 4) & 1;
        match self.t1.mode {
            Mode::SendingChain if nr != self.t1.last_i_ns => self.t1_send_chunk(),
            _ if !self.t1.last.is_empty() => self.t1_retransmit(),
            _ => self.t1_send_r(RCode::ErrorFree),
        }
    }

    fn t1_s_block(&mut self, pcb: u8, inf: &[u8]) {
        let response = pcb & 0x20 != 0;
        match (response, SKind::of(pcb), inf) {
            (false, Some(SKind::Resynch), []) => {
                let profile_ifsc = ifs(self.profile.t1.ifsc);
                let t = &mut self.t1;
                t.ns = 0;
                t.nr = 0;
                t.ifsd = IFSD_DEFAULT;
                t.ifsc = profile_ifsc;
                t.mode = Mode::Idle;
                t.last.clear();
                t.wtx_left = 0;
                t.ifs_pending = false;
                self.cmd_clear();
                self.resp_len = 0;
                self.t1_send_s(SKind::Resynch.response(), &[]);
            }
            (false, Some(SKind::Ifs), &[v]) if valid_ifs(v) => {
                self.t1.ifsd = v;
                self.t1_send_s(SKind::Ifs.response(), &[v]);
            }
            (false, Some(SKind::Abort), []) => {
                self.t1.mode = Mode::Idle;
                self.t1.wtx_left = 0;
                self.t1.ifs_pending = false;
                self.cmd_clear();
                self.resp_len = 0;
                self.t1_send_s(SKind::Abort.response(), &[]);
            }
            (true, Some(SKind::Wtx), &[_]) if self.t1.mode == Mode::AwaitingWtx => {
                self.t1_continue_answer()
            }
            (true, Some(SKind::Ifs), &[v]) if self.t1.mode == Mode::AwaitingIfs(v) => {
                self.t1.ifsc = v;
                self.t1_continue_answer();
            }
            _ => self.t1_invalid(RCode::Other),
        }
    }

    fn t1_start_answer(&mut self) {
        if !self.count_answer() {
            return;
        }
        self.resp_pos = 0;
        self.t1.wtx_left = match self.faults.wtx {
            Some(w) if w.answer.fires(self.answers) => w.count,
            _ => 0,
        };
        self.t1.ifs_pending = match self.faults.ifs_request {
            Some(r) => r.answer.fires(self.answers),
            None => false,
        };
        self.t1_continue_answer();
    }

    fn t1_continue_answer(&mut self) {
        if self.t1.ifs_pending {
            self.t1.ifs_pending = false;
            let v = self
                .faults
                .ifs_request
                .map_or(self.t1.ifsc, |r| ifs(r.ifsc));
            self.t1.mode = Mode::AwaitingIfs(v);
            let (b, n) = build(self.t1.edc, self.t1.nad, SKind::Ifs.request(), 1, |_| v);
            return self.t1_emit(&b[..n], true);
        }
        if self.t1.wtx_left > 0 {
            self.t1.wtx_left -= 1;
            let m = self.faults.wtx.map_or(1, |w| w.multiplier.max(1));
            self.t1.mode = Mode::AwaitingWtx;
            let (b, n) = build(self.t1.edc, self.t1.nad, SKind::Wtx.request(), 1, |_| m);
            return self.t1_emit(&b[..n], true);
        }
        self.t1_send_chunk();
    }

    /// Send the next I-block of the answer.
    fn t1_send_chunk(&mut self) {
        let total = self.resp_len + 2;
        let remaining = total.saturating_sub(self.resp_pos);
        let n = remaining.min(usize::from(self.t1.ifsd));
        let more = remaining > n;
        let ns = self.t1.ns;
        let pcb = (ns << 6) | if more { 0x20 } else { 0 };
        let from = self.resp_pos;
        let (b, len) = build(self.t1.edc, self.t1.nad, pcb, n, |i| {
            self.resp_byte(from + i)
        });
        self.resp_pos += n;
        self.t1.last_i_ns = ns;
        self.t1.ns ^= 1;
        self.t1.mode = if more { Mode::SendingChain } else { Mode::Idle };
        self.t1_emit(&b[..len], true);
    }

    fn t1_send_r(&mut self, code: RCode) {
        let pcb = 0x80 | (self.t1.nr << 4) | code as u8;
        let (b, n) = build(self.t1.edc, self.t1.nad, pcb, 0, |_| 0);
        self.t1_emit(&b[..n], true);
    }

    fn t1_send_s(&mut self, pcb: u8, inf: &[u8]) {
        let (b, n) = build(self.t1.edc, self.t1.nad, pcb, inf.len(), |i| inf[i]);
        // S-responses are not retransmitted: the reader repeats its request instead.
        self.t1_emit(&b[..n], false);
    }

    fn t1_retransmit(&mut self) {
        self.stats.retransmissions += 1;
        let last = self.t1.last.clone();
        self.t1_emit(&last, false);
    }

    /// Send a block, recording it for retransmission if asked, applying the faults.
    fn t1_emit(&mut self, block: &[u8], record: bool) {
        if self.state != State::T1 {
            return;
        }
        if record {
            // Every block fits: `build` caps LEN at 254.
            self.t1.last = Vec::from_slice(block).unwrap_or_default();
        }
        self.blocks_sent = self.blocks_sent.wrapping_add(1);
        let count = self.blocks_sent;
        let mut wire = [0u8; BLOCK_MAX];
        wire[..block.len()].copy_from_slice(block);
        let mut len = block.len();
        let pcb = block[1];
        self.stats.blocks_from_card += 1;
        match pcb & 0xC0 {
            0x00 | 0x40 => self.stats.i_blocks_from_card += 1,
            0x80 => self.stats.r_blocks_from_card += 1,
            _ => self.stats.s_blocks_from_card += 1,
        }
        let edc_len = self.t1.edc.epilogue_len();
        if self.faults.wrong_sequence.fires(count) {
            let flip = match pcb & 0xC0 {
                0x00 | 0x40 => 0x40,
                0x80 => 0x10,
                _ => 0,
            };
            if flip != 0 {
                wire[1] ^= flip;
                let body = len - edc_len;
                let mut e = [0u8; 2];
                self.t1.edc.compute(&wire[..body], &mut e);
                wire[body..len].copy_from_slice(&e[..edc_len]);
            }
        }
        if self.faults.corrupt_edc.fires(count) {
            wire[len - 1] ^= 0x01;
        }
        if self.faults.drop_byte.fires(count) {
            len -= 1;
        }
        self.send(&wire[..len]);
    }
}

//! ISO/IEC 7816-3 transmission factors and the times derived from them.
//!
//! The card's bit duration, the elementary time unit (etu), is `F / D` clock cycles,
//! where F is the clock rate conversion integer and D the baud rate adjustment integer
//! (ISO/IEC 7816-3:2006 clause 7.1). The ATR announces them as the 4-bit indices Fi and
//! Di in TA1; [`clock_rate_conversion`] and [`baud_rate_adjustment`] turn indices
//! into values (Tables 7 and 8). Every time below is computed exactly in clock cycles
//! and converted to microseconds at a given card clock, rounding up, so a driver that
//! waits the returned time never waits too little.

/// Clock rate conversion for the index Fi (high nibble of TA1): the integer F and the
/// maximum clock frequency f(max) in kHz. `None` for reserved (RFU) indices.
pub const fn clock_rate_conversion(fi: u8) -> Option<ClockRate> {
    let (f, fmax_khz) = match fi {
        0 => (372, 4_000),
        1 => (372, 5_000),
        2 => (558, 6_000),
        3 => (744, 8_000),
        4 => (1116, 12_000),
        5 => (1488, 16_000),
        6 => (1860, 20_000),
        9 => (512, 5_000),
        10 => (768, 7_500),
        11 => (1024, 10_000),
        12 => (1536, 15_000),
        13 => (2048, 20_000),
        _ => return None,
    };
    Some(ClockRate { f, fmax_khz })
}

/// Baud rate adjustment integer D for the index Di (low nibble of TA1). `None` for
/// reserved (RFU) indices. Di = 7 (D = 64) was added by ISO/IEC 7816-3:2006.
pub const fn baud_rate_adjustment(di: u8) -> Option<u8> {
    match di {
        1 => Some(1),
        2 => Some(2),
        3 => Some(4),
        4 => Some(8),
        5 => Some(16),
        6 => Some(32),
        7 => Some(64),
        8 => Some(12),
        9 => Some(20),
        _ => None,
    }
}

/// One row of the clock rate conversion table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockRate {
    /// Clock rate conversion integer F (clock cycles per etu at D = 1).
    pub f: u16,
    /// Maximum card clock frequency f(max), in kHz.
    pub fmax_khz: u32,
}

/// Default index Fi before any PPS (F = 372, f(max) = 5 MHz).
pub const FI_DEFAULT: u8 = 1;
/// Default index Di before any PPS (D = 1).
pub const DI_DEFAULT: u8 = 1;
/// Clock rate conversion integer of the default, F = 372 (also Fd in BWT).
pub const F_DEFAULT: u16 = 372;

/// T=1 block guard time BGT, in etu: the least delay between the leading edges of
/// two consecutive characters sent in opposite directions (ISO/IEC 7816-3:2006
/// 11.4.3), the turnaround a T=1 line keeps.
pub const T1_BGT_ETU: u16 = 22;

/// The transmission parameters in force on the line: F, D and the card clock.
///
/// All methods return microseconds rounded up (or etu), exact for every F, D,
/// clock, BWI and WTX multiplier (nothing saturates on the way, so no time comes
/// out too short); a time beyond `u32::MAX` µs (71 minutes) is `u32::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timing {
    /// Clock rate conversion integer F.
    pub f: u16,
    /// Baud rate adjustment integer D.
    pub d: u8,
    /// Card clock frequency, in kHz (must not be 0; 0 is treated as 1).
    pub clock_khz: u32,
}

impl Timing {
    /// The parameters before PPS: F = 372, D = 1, at `clock_khz`.
    pub const fn default_at(clock_khz: u32) -> Timing {
        Timing {
            f: F_DEFAULT,
            d: 1,
            clock_khz,
        }
    }

    /// F, D and the clock as an untrusted source gives them (a C driver, a
    /// configuration), or `None` if any of them is 0. No method divides by a zero
    /// (each is taken as 1 where it divides), but the times they give mean nothing:
    /// with F = 0 an etu lasts 0 ns, with D = 0 F seconds (saturated at `u32::MAX`
    /// ns).
    pub const fn new(f: u16, d: u8, clock_khz: u32) -> Option<Timing> {
        if f == 0 || d == 0 || clock_khz == 0 {
            return None;
        }
        Some(Timing { f, d, clock_khz })
    }

    /// Parameters for the ISO indices Fi/Di, or `None` if either is reserved.
    pub const fn from_indices(fi: u8, di: u8, clock_khz: u32) -> Option<Timing> {
        match (clock_rate_conversion(fi), baud_rate_adjustment(di)) {
            (Some(rate), Some(d)) => Some(Timing {
                f: rate.f,
                d,
                clock_khz,
            }),
            _ => None,
        }
    }

    /// The clock in kHz, 0 taken as 1.
    const fn khz(&self) -> u64 {
        if self.clock_khz == 0 {
            1
        } else {
            self.clock_khz as u64
        }
    }

    const fn hz(&self) -> u64 {
        self.khz() * 1000
    }

    /// Convert `cycles_num / cycles_den` clock cycles to microseconds, rounding up.
    ///
    /// Cycles / kHz is milliseconds, so µs = cycles × 1000 / (den × kHz): for
    /// every time this type computes (at most 255 × 2^15 × 960 × 372 × 255
    /// cycles, BWT × WTX at the largest BWI, D and multiplier) the product stays
    /// below 2^64, and the result is exact (then saturated at `u32::MAX`).
    const fn cycle_fraction_to_us(&self, cycles_num: u64, cycles_den: u64) -> u32 {
        let num = cycles_num.saturating_mul(1_000);
        let den = cycles_den.saturating_mul(self.khz());
        let us = num.div_ceil(den);
        if us > u32::MAX as u64 {
            u32::MAX
        } else {
            us as u32
        }
    }

    /// `cycles` card clock cycles in microseconds, rounded up (an RST low time,
    /// the 40 000 cycles within which TS begins, ISO/IEC 7816-3:2006 6.2.2 and 8.2).
    pub const fn cycles_to_us(&self, cycles: u32) -> u32 {
        self.cycle_fraction_to_us(cycles as u64, 1)
    }

    /// One etu in nanoseconds, rounded up.
    pub const fn etu_ns(&self) -> u32 {
        let num = (self.f as u64).saturating_mul(1_000_000_000);
        let den = (self.d as u64).saturating_mul(self.hz());
        let ns = num.div_ceil(if den == 0 { 1 } else { den });
        if ns > u32::MAX as u64 {
            u32::MAX
        } else {
            ns as u32
        }
    }

    /// `n` etu in microseconds, rounded up.
    pub const fn etu_to_us(&self, n: u32) -> u32 {
        let d = if self.d == 0 { 1 } else { self.d as u64 };
        self.cycle_fraction_to_us(n as u64 * self.f as u64, d)
    }

    /// The bit rate on the I/O line, in bit/s (rounded down); an F of 0 is taken
    /// as 1.
    pub const fn baud(&self) -> u32 {
        let f = if self.f == 0 { 1 } else { self.f as u64 };
        let b = self.hz() * self.d as u64 / f;
        if b > u32::MAX as u64 {
            u32::MAX
        } else {
            b as u32
        }
    }

    /// Character guard time (from the leading edge of one character to the next) in
    /// microseconds, for extra guard time `n` (TC1) under `protocol_t1`:
    /// 12 etu + N·F/D clock cycles, or for N = 255 the minimum, 12 etu (T=0) or
    /// 11 etu (T=1) (ISO/IEC 7816-3:2006 clause 8.3). That is TC1's N when T=15 is
    /// absent from the ATR; with T=15, N·Fi/Di cycles: pass
    /// [`CardCapabilities::extra_guard_n_at`](crate::caps::CardCapabilities::extra_guard_n_at)
    /// (N in etu of this timing).
    pub const fn guard_time_us(&self, n: u8, protocol_t1: bool) -> u32 {
        self.etu_to_us(guard_time_etu(n, protocol_t1))
    }

    /// T=0 waiting time WT = WI × 960 × Fi / f, in microseconds (clause 10.2), where
    /// `fi_f` is the F announced in TA1 (not the one in force).
    pub const fn t0_waiting_time_us(&self, wi: u8, fi_f: u16) -> u32 {
        self.cycle_fraction_to_us(wi as u64 * 960 * fi_f as u64, 1)
    }

    /// T=1 character waiting time CWT = (11 + 2^CWI) etu, in microseconds (clause 11.4.3).
    pub const fn t1_character_waiting_time_us(&self, cwi: u8) -> u32 {
        self.etu_to_us(t1_cwt_etu(cwi))
    }

    /// T=1 block waiting time BWT = 11 etu + 2^BWI × 960 × 372 / f, in microseconds
    /// (clause 11.4.3), multiplied as a whole by a WTX factor (1 for none): the
    /// card's S(WTX request) conveys "an integer multiplier of the BWT value"
    /// (clause 11.6.2.3, rule 3), so the 11 etu are multiplied too.
    pub const fn t1_block_waiting_time_us(&self, bwi: u8, wtx: u8) -> u32 {
        let bwi = if bwi > 15 { 15 } else { bwi };
        let wtx = if wtx == 0 { 1 } else { wtx as u64 };
        let d = if self.d == 0 { 1 } else { self.d as u64 };
        // 11 etu = 11 F / D cycles; the second term is (2^BWI · 960 · 372) cycles.
        let bwt = 11 * self.f as u64 + (1u64 << bwi) * 960 * F_DEFAULT as u64 * d;
        self.cycle_fraction_to_us(bwt * wtx, d)
    }

    /// T=1 block guard time BGT = 22 etu ([`T1_BGT_ETU`]), in microseconds
    /// (clause 11.4.3).
    pub const fn t1_block_guard_time_us(&self) -> u32 {
        self.etu_to_us(T1_BGT_ETU as u32)
    }
}

/// Character guard time in etu for extra guard time `n`, rounded up (see
/// [`Timing::guard_time_us`] for the exact value in µs). `n` counts etu: when the
/// ATR indicates T=15, TC1 counts Fi/Di clock cycles instead and is converted first
/// ([`CardCapabilities::extra_guard_n_at`](crate::caps::CardCapabilities::extra_guard_n_at)).
pub const fn guard_time_etu(n: u8, protocol_t1: bool) -> u32 {
    match (n, protocol_t1) {
        (255, true) => 11,
        (255, false) => 12,
        (n, _) => 12 + n as u32,
    }
}

/// T=1 character waiting time in etu, CWT = 11 + 2^CWI.
pub const fn t1_cwt_etu(cwi: u8) -> u32 {
    let cwi = if cwi > 15 { 15 } else { cwi };
    11 + (1u32 << cwi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_refuses_a_zero_f_d_or_clock() {
        assert_eq!(Timing::new(372, 1, 4_000), Some(Timing::default_at(4_000)));
        assert_eq!(Timing::new(0, 1, 4_000), None);
        assert_eq!(Timing::new(372, 0, 4_000), None);
        assert_eq!(Timing::new(372, 1, 0), None);
    }

    #[test]
    fn tables_match_iso_7816_3() {
        assert_eq!(clock_rate_conversion(1).unwrap().f, 372);
        assert_eq!(clock_rate_conversion(9).unwrap().f, 512);
        assert_eq!(clock_rate_conversion(13).unwrap().fmax_khz, 20_000);
        for rfu in [7, 8, 14, 15] {
            assert!(clock_rate_conversion(rfu).is_none());
        }
        assert_eq!(baud_rate_adjustment(8), Some(12));
        assert_eq!(baud_rate_adjustment(7), Some(64));
        for rfu in [0, 10, 15] {
            assert!(baud_rate_adjustment(rfu).is_none());
        }
    }

    #[test]
    fn default_timing_at_3_57_mhz() {
        let t = Timing::default_at(3_571);
        // 372 / 3.571 MHz = 104.17 µs
        assert_eq!(t.etu_ns(), 104_173);
        assert_eq!(t.baud(), 9_599);
        // WT = 10 × 960 × 372 / f = 3 571 200 cycles = 1 000 056 µs
        assert_eq!(t.t0_waiting_time_us(10, 372), 1_000_057);
        // CWT (CWI 13) = 8203 etu
        assert_eq!(t.t1_character_waiting_time_us(13), 854_528);
        assert_eq!(t1_cwt_etu(13), 8_203);
        // BWT (BWI 4) = 11 etu + 16 × 960 × 372 cycles
        assert_eq!(t.t1_block_waiting_time_us(4, 1), 1_601_236);
        // WTX multiplies the whole BWT, its 11 etu included (rule 3): wtx × (11 × 372
        // + 16 × 960 × 372) cycles at 3.571 MHz, rounded up.
        for wtx in [1u64, 2, 3, 255] {
            let cycles = wtx * (11 * 372 + 16 * 960 * 372);
            let us = (cycles * 1_000_000).div_ceil(3_571_000) as u32;
            assert_eq!(t.t1_block_waiting_time_us(4, wtx as u8), us, "wtx {wtx}");
        }
        assert_eq!(t.t1_block_waiting_time_us(4, 2), 3_202_472);
        assert_eq!(t.guard_time_us(0, false), 1_251);
        // 40 000 cycles (TS at the latest) at 3.571 MHz: 11 201.3 µs, rounded up.
        assert_eq!(t.cycles_to_us(40_000), 11_202);
        // TC1 = 255: the minimum guard time, 12 etu under T=0 and 11 etu under T=1
        // (clause 8.3; the same CGT as 11.2's); BGT is 22 etu (11.2).
        assert_eq!(guard_time_etu(255, true), 11);
        assert_eq!(guard_time_etu(255, false), 12);
        assert_eq!(guard_time_etu(254, true), 12 + 254);
        assert_eq!(t.t1_block_guard_time_us(), t.etu_to_us(22));
        assert_eq!(t.t1_block_guard_time_us(), 2_292);
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let t = Timing {
            f: 2048,
            d: 1,
            clock_khz: 1,
        };
        assert_eq!(t.t0_waiting_time_us(255, 2048), u32::MAX);
        assert!(t.t1_block_waiting_time_us(15, 255) == u32::MAX);
        // The fields are public, so a `Timing` need not come from `Timing::new`: a
        // zero F, D or clock divides nothing (each is taken as 1 where it divides).
        for (f, d, clock_khz) in [(372, 0, 0), (0, 1, 4_000), (0, 0, 0)] {
            let z = Timing { f, d, clock_khz };
            let _ = (
                z.etu_ns(),
                z.etu_to_us(u32::MAX),
                z.baud(),
                z.t1_block_guard_time_us(),
                z.t1_block_waiting_time_us(4, 1),
            );
        }
        let f_zero = Timing {
            f: 0,
            ..Timing::default_at(4_000)
        };
        let f_one = Timing {
            f: 1,
            ..Timing::default_at(4_000)
        };
        assert_eq!(f_zero.baud(), f_one.baud(), "F = 0 taken as 1");
    }

    /// Every time, at the extremes of every input, against the exact value in
    /// 128 bits: a product that saturated on the way gives a time too short (with
    /// µs = cycles × 10^6 / Hz, F 1, D 64 at 4 GHz, BWI 12, WTX 255 gave 72 s for
    /// 93 s).
    #[test]
    fn times_are_exact_at_the_extremes() {
        let exact = |cycles: u128, den: u128, khz: u32| -> u32 {
            let us = (cycles * 1_000).div_ceil(den * u128::from(khz.max(1)));
            u32::try_from(us).unwrap_or(u32::MAX)
        };
        for f in [1u16, 372, 2048, u16::MAX] {
            for d in [1u8, 64, u8::MAX] {
                for clock_khz in [1u32, 3_580, 20_000, 4_000_000, u32::MAX] {
                    let t = Timing { f, d, clock_khz };
                    let (f, d) = (u128::from(f), u128::from(d));
                    for bwi in 0..=15u8 {
                        for wtx in [1u8, 2, u8::MAX] {
                            let cycles =
                                (11 * f + (1u128 << bwi) * 960 * 372 * d) * u128::from(wtx);
                            assert_eq!(
                                t.t1_block_waiting_time_us(bwi, wtx),
                                exact(cycles, d, clock_khz),
                                "{t:?} BWI {bwi} WTX {wtx}"
                            );
                        }
                    }
                    for wi in [1u8, 10, u8::MAX] {
                        assert_eq!(
                            t.t0_waiting_time_us(wi, u16::MAX),
                            exact(u128::from(wi) * 960 * 65_535, 1, clock_khz)
                        );
                    }
                    for cycles in [1u32, 400, 40_000, u32::MAX] {
                        assert_eq!(
                            t.cycles_to_us(cycles),
                            exact(u128::from(cycles), 1, clock_khz),
                            "{t:?} {cycles} cycles"
                        );
                    }
                    for n in [1u32, 22, u32::MAX] {
                        assert_eq!(
                            t.etu_to_us(n),
                            exact(u128::from(n) * f, d, clock_khz),
                            "{t:?} {n} etu"
                        );
                    }
                }
            }
        }
        let t = Timing {
            f: 2048,
            d: 64,
            clock_khz: 4_000_000,
        };
        // (11 × 32 + 2^15 × 960 × 372) × 255 cycles at 4 GHz = 746.009 418 s.
        assert_eq!(t.t1_block_waiting_time_us(15, 255), 746_009_418);
    }
}

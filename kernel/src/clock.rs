//! The wall clock as sessions read it: twice per statement (its start, for
//! `now()` and timeouts, and its end, for the duration histogram).
//!
//! `clock_gettime` costs about 26 ns on this project's VMs, two of them a
//! tenth of an embedded point select. Where the kernel itself keeps time
//! with the CPU's time-stamp counter (the `tsc` clocksource: constant rate,
//! synchronised across CPUs), each thread instead reads the counter (11 ns)
//! and extrapolates from its last reading of the real clock, which it takes
//! again every 20 ms. A real reading anchors only when the counter reads
//! bracketing it are a few microseconds apart (no preemption in between).
//! The rate comes from two such anchors 5 ms or more apart; a span that
//! disagrees with it (the clock was stepped) starts the measurement over.
//! Anywhere else every read goes to the OS.

/// Microseconds since the Unix epoch.
#[inline]
pub(crate) fn unix_micros() -> i64 {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    if tsc::usable() {
        return tsc::now();
    }
    os_micros()
}

/// The OS's wall clock, in microseconds since the Unix epoch.
#[cfg(unix)]
pub(crate) fn os_micros() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write to; CLOCK_REALTIME always
    // exists, and on failure `ts` stays zero.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    // time_t and long are i64 on 64-bit targets, narrower on others.
    #[allow(clippy::useless_conversion)]
    let (sec, nsec) = (i64::from(ts.tv_sec), i64::from(ts.tv_nsec));
    sec * 1_000_000 + nsec / 1_000
}

#[cfg(not(unix))]
pub(crate) fn os_micros() -> i64 {
    // Seconds and microseconds apart: `as_micros` would multiply in u128.
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64 * 1_000_000 + i64::from(d.subsec_micros()))
        .unwrap_or(0)
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod tsc {
    use std::cell::Cell;
    use std::sync::OnceLock;

    /// How long an anchor serves before the real clock is read again.
    const REFRESH_US: u64 = 20_000;
    /// The shortest span a rate is measured over.
    const MIN_SPAN_US: i64 = 5_000;
    /// A span whose microseconds differ from the extrapolation by more
    /// than this did not come from the counter's rate (a clock step).
    const MAX_SKEW_US: i64 = 200;
    /// The most ticks a counter-clock-counter reading may span and still
    /// anchor: a few microseconds at any real rate (the read takes ~30 ns).
    const MAX_PAIR_TICKS: u64 = 10_000;

    #[derive(Clone, Copy)]
    struct Anchor {
        /// Counter and clock at the last real reading (0: none yet).
        tsc: u64,
        us: i64,
        /// Microseconds per tick, 32.32 fixed point (0: not measured).
        rate: u64,
        /// Ticks an anchor serves (`REFRESH_US` at `rate`).
        refresh: u64,
    }

    thread_local! {
        static ANCHOR: Cell<Anchor> = const {
            Cell::new(Anchor {
                tsc: 0,
                us: 0,
                rate: 0,
                refresh: 0,
            })
        };
    }

    /// Whether the kernel keeps time with the counter (then it is
    /// invariant and synchronised across CPUs, or the kernel would have
    /// switched away from it).
    pub fn usable() -> bool {
        static USABLE: OnceLock<bool> = OnceLock::new();
        *USABLE.get_or_init(|| {
            std::fs::read_to_string(
                "/sys/devices/system/clocksource/clocksource0/current_clocksource",
            )
            .is_ok_and(|s| s.trim() == "tsc")
        })
    }

    #[inline]
    fn rdtsc() -> u64 {
        // SAFETY: RDTSC exists on every x86_64 CPU and only reads a counter.
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    #[inline]
    pub fn now() -> i64 {
        let t = rdtsc();
        ANCHOR.with(|cell| {
            let a = cell.get();
            let dt = t.wrapping_sub(a.tsc);
            if a.rate != 0 && dt < a.refresh {
                // dt * rate < REFRESH_US << 32: no overflow.
                return a.us + (dt.wrapping_mul(a.rate) >> 32) as i64;
            }
            let us = super::os_micros();
            let t1 = rdtsc();
            // Only a pair read close together anchors: a thread preempted
            // between the two reads would skew the rate by the pause.
            if t1.wrapping_sub(t) <= MAX_PAIR_TICKS {
                cell.set(reanchor(a, t + (t1 - t) / 2, us));
            }
            us
        })
    }

    /// The anchor after a real reading `us` at counter `t`.
    fn reanchor(a: Anchor, t: u64, us: i64) -> Anchor {
        let fresh = Anchor { tsc: t, us, ..a };
        if a.tsc == 0 || t <= a.tsc {
            return Anchor {
                rate: 0,
                refresh: 0,
                ..fresh
            };
        }
        let ticks = t - a.tsc;
        let span = us - a.us;
        if a.rate != 0 {
            let expected = a.us + ((u128::from(ticks) * u128::from(a.rate)) >> 32) as i64;
            if (us - expected).abs() > MAX_SKEW_US {
                // Stepped, or a bad rate: measure again from here.
                return Anchor {
                    rate: 0,
                    refresh: 0,
                    ..fresh
                };
            }
        }
        if span < MIN_SPAN_US {
            // Too short to measure: keep the older anchor, let it grow.
            return if a.rate == 0 { a } else { fresh };
        }
        let rate = ((span as u128) << 32) / u128::from(ticks);
        let Ok(rate) = u64::try_from(rate) else {
            return Anchor {
                rate: 0,
                refresh: 0,
                ..fresh
            };
        };
        if rate == 0 {
            return Anchor {
                rate: 0,
                refresh: 0,
                ..fresh
            };
        }
        let refresh =
            u64::try_from((u128::from(REFRESH_US) << 32) / u128::from(rate)).unwrap_or(u64::MAX);
        Anchor {
            rate,
            refresh,
            ..fresh
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn anchors_measure_a_rate_and_drop_it_at_a_step() {
            let none = Anchor {
                tsc: 0,
                us: 0,
                rate: 0,
                refresh: 0,
            };
            // 3000 ticks per microsecond.
            let a = reanchor(none, 3_000_000, 1_000);
            assert_eq!((a.tsc, a.us, a.rate), (3_000_000, 1_000, 0));
            // Too short a span: the first anchor stays.
            let b = reanchor(a, 3_000_000 + 3_000 * 1_000, 2_000);
            assert_eq!((b.tsc, b.us, b.rate), (a.tsc, a.us, 0));
            // 10 ms later: a rate, and extrapolation agrees with it.
            let c = reanchor(a, 3_000_000 + 3_000 * 10_000, 11_000);
            assert!(c.rate != 0);
            let dt = 3_000 * 5_000u64;
            assert!(dt < c.refresh);
            let guess = c.us + (dt.wrapping_mul(c.rate) >> 32) as i64;
            assert!((guess - 16_000).abs() <= 1, "{guess}");
            // A reading an hour off the extrapolation: no rate until
            // measured again.
            let d = reanchor(c, c.tsc + 3_000 * 20_000, 11_000 + 3_600_000_000);
            assert_eq!(d.rate, 0);
            assert_eq!(d.us, 11_000 + 3_600_000_000);
        }

        #[test]
        fn the_counter_clock_stays_close_to_the_real_one() {
            if !usable() {
                return;
            }
            let end = std::time::Instant::now() + std::time::Duration::from_millis(120);
            let mut worst = 0;
            while std::time::Instant::now() < end {
                // Bracketed by real readings, so a preemption between the
                // reads (CI runs tests side by side) widens the bracket
                // instead of counting as error.
                let before = super::super::os_micros();
                let ours = now();
                let after = super::super::os_micros();
                let off = (before - ours).max(ours - after).max(0);
                worst = worst.max(off);
            }
            // Anchors read within a few microseconds, spans of 5 ms or more:
            // tens of microseconds at worst over a 20 ms extrapolation.
            assert!(worst < 1_000, "off by {worst} us");
        }
    }
}

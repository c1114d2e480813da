//! Time as the contract defines it: microseconds since the Unix epoch, UTC, and
//! windows counted back from the as-of instant `T`, never by calendar.

/// Microseconds since 1970-01-01T00:00:00Z. Every timestamp is normalised to this.
pub type Micros = i64;

/// One day, 86,400 s, in microseconds.
pub const MICROS_PER_DAY: Micros = 86_400_000_000;
/// One week, 604,800 s, in microseconds.
pub const MICROS_PER_WEEK: Micros = 7 * MICROS_PER_DAY;

/// The instant `T` every computation is "as of".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AsOf(pub Micros);

impl AsOf {
    /// `T - ts` in microseconds; negative for events after `T`.
    #[inline]
    pub fn delta(self, ts: Micros) -> Micros {
        self.0.saturating_sub(ts)
    }

    /// Whether `ts` lies in "the last `days` days": `(T - days*86400 s, T]`.
    #[inline]
    pub fn in_last_days(self, ts: Micros, days: u32) -> bool {
        let d = self.delta(ts);
        d >= 0 && d < i64::from(days) * MICROS_PER_DAY
    }

    /// The day index `floor((T - ts) / 86400 s)` of a timestamp at or before `T`.
    #[inline]
    pub fn day_index(self, ts: Micros) -> i64 {
        self.delta(ts).div_euclid(MICROS_PER_DAY)
    }

    /// The week index `floor((T - ts) / 604800 s)` of a timestamp at or before `T`.
    #[inline]
    pub fn week_index(self, ts: Micros) -> i64 {
        self.delta(ts).div_euclid(MICROS_PER_WEEK)
    }

    /// Parses an RFC 3339 instant such as `2026-11-30T00:00:00Z` or
    /// `2026-11-30T12:00:00.5+02:00`; a bare date `2026-11-30` means its midnight UTC.
    pub fn parse_rfc3339(s: &str) -> Result<AsOf, String> {
        parse_rfc3339(s).map(AsOf)
    }

    /// Formats `T` as RFC 3339 in UTC with microseconds when they are not zero.
    pub fn to_rfc3339(self) -> String {
        format_rfc3339(self.0)
    }
}

/// Days from 1970-01-01 to the civil date (proleptic Gregorian), after H. Hinnant.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn format_rfc3339(us: Micros) -> String {
    let days = us.div_euclid(MICROS_PER_DAY);
    let rem = us.rem_euclid(MICROS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let secs = rem / 1_000_000;
    let frac = rem % 1_000_000;
    let (hh, mm, ss) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if frac == 0 {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{frac:06}Z")
    }
}

fn parse_rfc3339(s: &str) -> Result<Micros, String> {
    let bad = || format!("'{s}' is not an RFC 3339 time; write it like 2026-11-30T00:00:00Z or 2026-11-30");
    let b = s.trim().as_bytes();
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        let part = b.get(r).ok_or_else(bad)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        std::str::from_utf8(part).map_err(|_| bad())?.parse::<i64>().map_err(|_| bad())
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    let days = days_from_civil(y, mo as u32, d as u32);
    // Reject dates such as 2026-02-30 that the day arithmetic would roll over.
    if civil_from_days(days) != (y, mo as u32, d as u32) {
        return Err(bad());
    }
    if b.len() == 10 {
        return Ok(days * MICROS_PER_DAY);
    }
    if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 19 || b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let (hh, mi, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if hh > 23 || mi > 59 || ss > 60 {
        return Err(bad());
    }
    let mut i = 19;
    let mut frac_us = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(bad());
        }
        let digits = &b[start..i];
        for k in 0..6 {
            frac_us = frac_us * 10 + digits.get(k).map_or(0, |c| i64::from(c - b'0'));
        }
    }
    let offset_s = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let o = oh * 3600 + om * 60;
            if sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return Err(bad()),
    };
    let secs = days * 86_400 + hh * 3600 + mi * 60 + ss - offset_s;
    Ok(secs * 1_000_000 + frac_us)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_half_open() {
        let t = AsOf(100 * MICROS_PER_DAY);
        assert!(t.in_last_days(t.0, 7), "T itself is in");
        assert!(!t.in_last_days(t.0 - 7 * MICROS_PER_DAY, 7), "T - 7d is out");
        assert!(t.in_last_days(t.0 - 7 * MICROS_PER_DAY + 1, 7));
        assert!(!t.in_last_days(t.0 + 1, 7), "after T is out");
        assert_eq!(t.day_index(t.0 - 1), 0);
        assert_eq!(t.day_index(t.0 - MICROS_PER_DAY), 1);
        assert_eq!(t.week_index(t.0 - MICROS_PER_WEEK + 1), 0);
        assert_eq!(t.week_index(t.0 - MICROS_PER_WEEK), 1);
    }

    #[test]
    fn rfc3339_round_trips_and_rejects() {
        let t = AsOf::parse_rfc3339("2026-11-30T12:34:56Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-30T12:34:56Z");
        let t2 = AsOf::parse_rfc3339("2026-11-30T14:34:56.25+02:00").unwrap();
        assert_eq!(t2.0, t.0 + 250_000);
        assert_eq!(AsOf::parse_rfc3339("1970-01-02").unwrap().0, MICROS_PER_DAY);
        for s in ["", "yesterday", "2026-13-01", "2026-02-30", "2026-11-30T25:00:00Z", "2026-11-30T10:00:00"] {
            assert!(AsOf::parse_rfc3339(s).is_err(), "{s}");
        }
    }

    #[test]
    fn civil_round_trip() {
        for d in [-800_000i64, -1, 0, 1, 19_000, 20_787, 2_000_000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }
}

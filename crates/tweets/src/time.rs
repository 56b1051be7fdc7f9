//! Tweet creation times to epoch milliseconds: v1 `Mon Nov 09 23:17:05 +0000 2015` and v2
//! ISO 8601 `2019-09-05T22:10:38.000Z`.
//!
//! Written by hand rather than with a date crate: two fixed formats, on the hot path of every
//! tweet that lacks `timestamp_ms`, and a general-purpose `strptime` costs more than the rest of
//! the field extraction.

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian; H. Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day count from 1970-01-01: the inverse of
/// [`days_from_civil`] (the same algorithm), for partition names.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn num(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn month(s: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    MONTHS.iter().position(|m| *m == s).map(|i| i as u32 + 1)
}

/// A broken-down UTC-offset time.
struct Civil {
    y: i64,
    mo: u32,
    d: u32,
    h: u32,
    mi: u32,
    s: u32,
    ms: u32,
    offset_s: i64,
}

fn millis(c: Civil) -> Option<i64> {
    let Civil {
        y,
        mo,
        d,
        h,
        mi,
        s,
        ms,
        offset_s,
    } = c;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let secs = days_from_civil(y, mo, d) * 86_400
        + i64::from(h) * 3600
        + i64::from(mi) * 60
        + i64::from(s)
        - offset_s;
    Some(secs * 1000 + i64::from(ms))
}

/// `+0000` / `-0530` -> seconds east of UTC.
fn offset(s: &str) -> Option<i64> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    // Exactly four digits once every `:` is dropped (`hhmm`, `hh:mm`); read in place, as this
    // runs for most tweets.
    let mut digits = [0u8; 4];
    let mut n = 0;
    for &b in rest.as_bytes() {
        if b == b':' {
            continue;
        }
        if n == digits.len() || !b.is_ascii_digit() {
            return None;
        }
        digits[n] = b - b'0';
        n += 1;
    }
    if n != digits.len() {
        return None;
    }
    let h = i64::from(digits[0] * 10 + digits[1]);
    let m = i64::from(digits[2] * 10 + digits[3]);
    Some(sign * (h * 3600 + m * 60))
}

/// v1 `created_at`: `Www Mmm dd HH:MM:SS +zzzz yyyy`.
fn parse_v1(s: &str) -> Option<i64> {
    parse_v1_exact(s).unwrap_or_else(|| parse_v1_split(s))
}

/// [`parse_v1`] of any spacing.
fn parse_v1_split(s: &str) -> Option<i64> {
    let mut parts = s.split_ascii_whitespace();
    let _weekday = parts.next()?;
    let mo = month(parts.next()?)?;
    let d = num(parts.next()?)?;
    let hms = parts.next()?;
    let off = offset(parts.next()?)?;
    let y = i64::from(num(parts.next()?)?);
    let mut t = hms.split(':');
    let (h, mi, sec) = (num(t.next()?)?, num(t.next()?)?, num(t.next()?)?);
    millis(Civil {
        y,
        mo,
        d,
        h,
        mi,
        s: sec,
        ms: 0,
        offset_s: off,
    })
}

/// [`parse_v1`] of the one layout Twitter writes (every field at a fixed column, one space
/// between): read in place, without splitting. `None` when `s` is not laid out so; else what
/// the general path gives, as the layout leaves it no other reading.
fn parse_v1_exact(s: &str) -> Option<Option<i64>> {
    let b: &[u8; 30] = s.as_bytes().try_into().ok()?;
    let digit = |i: usize| b[i].is_ascii_digit().then(|| u32::from(b[i] - b'0'));
    let two = |i: usize| Some(digit(i)? * 10 + digit(i + 1)?);
    let spaces = [3, 7, 10, 19, 25].iter().all(|&i| b[i] == b' ');
    let weekday = b[..3].iter().all(|c| !c.is_ascii_whitespace());
    if !spaces || !weekday || b[13] != b':' || b[16] != b':' || !matches!(b[20], b'+' | b'-') {
        return None;
    }
    let (d, h, mi, sec) = (two(8)?, two(11)?, two(14)?, two(17)?);
    let (oh, om) = (two(21)?, two(23)?);
    let y = two(26)? * 100 + two(28)?;
    let sign = if b[20] == b'-' { -1 } else { 1 };
    Some(month(s.get(4..7)?).and_then(|mo| {
        millis(Civil {
            y: i64::from(y),
            mo,
            d,
            h,
            mi,
            s: sec,
            ms: 0,
            offset_s: sign * (i64::from(oh) * 3600 + i64::from(om) * 60),
        })
    }))
}

/// ISO 8601 / RFC 3339: `yyyy-mm-ddTHH:MM:SS[.fff][Z|±hh:mm]`.
fn parse_iso(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let y = i64::from(num(s.get(0..4)?)?);
    let mo = num(s.get(5..7)?)?;
    let d = num(s.get(8..10)?)?;
    let h = num(s.get(11..13)?)?;
    let mi = num(s.get(14..16)?)?;
    let sec = num(s.get(17..19)?)?;
    let mut rest = s.get(19..)?;
    let mut ms = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        let f = &frac[..digits];
        // Milliseconds: the first three digits, right-padded with zeros.
        ms = f
            .bytes()
            .chain(std::iter::repeat(b'0'))
            .take(3)
            .fold(0, |acc, b| acc * 10 + u32::from(b - b'0'));
        rest = &frac[digits..];
    }
    let off = match rest {
        "" | "Z" | "z" => 0,
        o => offset(o)?,
    };
    millis(Civil {
        y,
        mo,
        d,
        h,
        mi,
        s: sec,
        ms,
        offset_s: off,
    })
}

/// Epoch milliseconds of a v1 or ISO 8601 creation time.
pub fn parse_created_at(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        parse_iso(s)
    } else {
        parse_v1(s)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_created_at as p;

    #[test]
    fn v1_format() {
        // date -u -d '2015-11-09 23:17:05' +%s -> 1447111025
        assert_eq!(p("Mon Nov 09 23:17:05 +0000 2015"), Some(1_447_111_025_000));
        assert_eq!(p("Mon Nov 09 23:17:05 +0100 2015"), Some(1_447_107_425_000));
        assert_eq!(p("Thu Jan 01 00:00:00 +0000 1970"), Some(0));
        assert_eq!(p("Tue Feb 29 12:00:00 +0000 2000"), Some(951_825_600_000));
    }

    #[test]
    fn v1_fixed_layout_reads_as_the_general_path() {
        let base = "Mon Nov 09 23:17:05 +0100 2015";
        let mut cases = vec![
            base.to_owned(),
            "Mon Nov 09 23:17:05 -0530 2015".to_owned(),
            "Mon Xyz 09 23:17:05 +0000 2015".to_owned(),
            "Mon Feb 31 25:17:05 +0000 2015".to_owned(),
        ];
        // Every single-byte change of the fixed layout.
        for i in 0..base.len() {
            for c in [" ", "0", "9", ":", "+", "-", "a", "\t", "é"] {
                let mut s = base.to_owned();
                s.replace_range(i..=i, c);
                cases.push(s);
            }
        }
        let mut read_in_place = 0;
        for s in &cases {
            if let Some(fast) = super::parse_v1_exact(s) {
                assert_eq!(fast, super::parse_v1_split(s), "{s:?}");
                read_in_place += 1;
            }
        }
        // The digit-to-digit changes, the weekday's and the offset sign's at least.
        assert!(read_in_place > 40, "{read_in_place}");
        assert_eq!(super::parse_v1_exact(base), Some(Some(1_447_107_425_000)));
    }

    #[test]
    fn iso_format() {
        // date -u -d '2019-09-05T22:10:38Z' +%s -> 1567721438
        assert_eq!(p("2019-09-05T22:10:38.000Z"), Some(1_567_721_438_000));
        assert_eq!(p("2019-09-05T22:10:38.5Z"), Some(1_567_721_438_500));
        assert_eq!(p("2019-09-05T23:10:38+01:00"), Some(1_567_721_438_000));
        assert_eq!(p("2019-09-05T22:10:38Z"), Some(1_567_721_438_000));
        assert_eq!(p("2019-09-05T22:10:38.1234Z"), Some(1_567_721_438_123));
        assert_eq!(p("2019-09-05T17:40:38-0430"), Some(1_567_721_438_000));
    }

    #[test]
    fn garbage_is_none() {
        for s in [
            "",
            "yesterday",
            "Mon Foo 09 23:17:05 +0000 2015",
            "2019-13-05T22:10:38Z",
            "2019-09-05",
            "Mon Nov 09 23:17:05 +1é2 2015",
            "Mon Nov 09 23:17:05 +01000 2015",
            "Mon Nov 09 23:17:05 +01:0 2015",
            "2019-09-05T22:10:38+0a:00",
        ] {
            assert_eq!(p(s), None, "{s}");
        }
    }
}

#[cfg(test)]
mod civil_tests {
    use super::{civil_from_days, days_from_civil};

    #[test]
    fn civil_from_days_inverts_days_from_civil() {
        // Every day from 1600 to 2400 (leap centuries included) round-trips, in order.
        let (first, last) = (days_from_civil(1600, 1, 1), days_from_civil(2400, 12, 31));
        let mut previous = civil_from_days(first - 1);
        for z in first..=last {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z, "{y}-{m}-{d}");
            assert!((y, m, d) > previous);
            previous = (y, m, d);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(days_from_civil(2000, 2, 29)), (2000, 2, 29));
    }
}

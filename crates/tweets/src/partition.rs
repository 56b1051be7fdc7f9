//! Time partitions of the index (`INDEX_PARTITION=none|month|day`): which index an operation
//! on a tweet goes to, decided from the tweet id alone, and the retention arithmetic on
//! partition names. Pure: no I/O, no clock (callers pass `now`).
//!
//! A tweet id is a Snowflake: `(id >> 22) + 1288834974657` is its creation time in epoch
//! milliseconds (UTC). So the partition of a tweet, of its delete, of its edit and of every
//! compliance event about it follows from the id, with no lookup: one id, one index, for
//! every operation. `{index}-YYYY.MM` for `month`, `{index}-YYYY.MM.DD` for `day`.
//!
//! Tweets from before Snowflake ids (2010-11-04) have small sequential ids (below about
//! 3·10^10): the same formula puts all of them in the first seconds of the Snowflake epoch,
//! hence in the partition `{index}-2010.11` (`{index}-2010.11.04`). That is deliberate: a
//! delete or compliance event carries only the id, so routing their documents by
//! `created_at` would send the delete to another index than its tweet, and the tweet would
//! survive its delete. They are few (archives only) and all older than that bucket's date,
//! so retention never keeps them longer than their newer neighbours.

use std::fmt;
use std::str::FromStr;

use crate::time::{civil_from_days, days_from_civil};

/// Twitter's Snowflake epoch: 2010-11-04T01:42:54.657Z.
pub const SNOWFLAKE_EPOCH_MS: i64 = 1_288_834_974_657;

const DAY_MS: i64 = 86_400_000;

/// The creation time (epoch ms, UTC) a tweet id carries.
pub fn snowflake_ms(id: u64) -> i64 {
    // `id >> 22` is below 2^42: no overflow.
    (id >> 22) as i64 + SNOWFLAKE_EPOCH_MS
}

/// How the index is partitioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Partition {
    /// One index, named `ES_INDEX` (the default).
    #[default]
    None,
    /// `{index}-YYYY.MM`.
    Month,
    /// `{index}-YYYY.MM.DD`.
    Day,
}

/// `INDEX_PARTITION` or a retention that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("{0:?} is not a partitioning (expected none, month or day)")]
    Partition(String),
    #[error(
        "{0:?} is not a retention (expected a positive number and a unit: 400d, 13mo, 2y; or off)"
    )]
    Retention(String),
    #[error("tweet id {0:?} is not a number: its partition cannot be known")]
    NotATweetId(String),
}

impl FromStr for Partition {
    type Err = LifecycleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "none" => Ok(Partition::None),
            "month" => Ok(Partition::Month),
            "day" => Ok(Partition::Day),
            _ => Err(LifecycleError::Partition(s.to_owned())),
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Partition::None => "none",
            Partition::Month => "month",
            Partition::Day => "day",
        })
    }
}

impl Partition {
    /// The period holding `ms` (epoch milliseconds, UTC); `None` for [`Partition::None`].
    pub fn period_at(self, ms: i64) -> Option<Period> {
        let days = ms.div_euclid(DAY_MS);
        let (year, month, day) = civil_from_days(days);
        match self {
            Partition::None => None,
            Partition::Month => Some(Period {
                year,
                month,
                day: 0,
            }),
            Partition::Day => Some(Period { year, month, day }),
        }
    }

    /// The period of the tweet with this id (decimal, as in `_id`): one shift. `Ok(None)`
    /// for [`Partition::None`].
    pub fn period_of_id(self, id: &str) -> Result<Option<Period>, LifecycleError> {
        if self == Partition::None {
            return Ok(None);
        }
        let n: u64 = id
            .parse()
            .map_err(|_| LifecycleError::NotATweetId(id.to_owned()))?;
        Ok(self.period_at(snowflake_ms(n)))
    }

    /// The index of the tweet with this id: `base` for [`Partition::None`], else
    /// `{base}-{period}`.
    pub fn index_of_id(self, base: &str, id: &str) -> Result<String, LifecycleError> {
        Ok(match self.period_of_id(id)? {
            None => base.to_owned(),
            Some(period) => period.index_name(base),
        })
    }

    /// The pattern every partition of `base` matches (`{base}-*`).
    pub fn pattern(base: &str) -> String {
        format!("{base}-*")
    }
}

/// A partition's period: a calendar month (`day == 0`) or a day, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Period {
    year: i64,
    month: u32,
    day: u32,
}

impl Period {
    /// `{base}-YYYY.MM` or `{base}-YYYY.MM.DD`.
    pub fn index_name(&self, base: &str) -> String {
        format!("{base}-{self}")
    }

    /// The period an index name of `base`'s family names (`twitter-2024.05` ->
    /// May 2024); `None` for any other name (the compliance index, a migration's leftovers,
    /// a user's own `twitter-backup`).
    pub fn from_index_name(base: &str, name: &str) -> Option<Period> {
        let suffix = name.strip_prefix(base)?.strip_prefix('-')?;
        let mut parts = suffix.split('.');
        let year = fixed_digits(parts.next()?, 4)?;
        let month = fixed_digits(parts.next()?, 2)?;
        let day = match parts.next() {
            None => 0,
            Some(d) => fixed_digits(d, 2)?,
        };
        if parts.next().is_some() || !(1..=12).contains(&month) {
            return None;
        }
        let period = Period {
            year: i64::from(year),
            month,
            day,
        };
        if day != 0 {
            // A day that does not exist (2024.02.30) names no period.
            let (y, m, d) = civil_from_days(period.start_ms().div_euclid(DAY_MS));
            if (y, m, d) != (period.year, month, day) {
                return None;
            }
        }
        Some(period)
    }

    /// Whether this is a day (else a month).
    pub fn is_day(&self) -> bool {
        self.day != 0
    }

    /// The first millisecond of the period.
    pub fn start_ms(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day.max(1)) * DAY_MS
    }

    /// The first millisecond after the period.
    pub fn end_ms(&self) -> i64 {
        if self.is_day() {
            self.start_ms() + DAY_MS
        } else {
            let (year, month) = add_months(self.year, self.month, 1);
            days_from_civil(year, month, 1) * DAY_MS
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}.{:02}", self.year, self.month)?;
        if self.day != 0 {
            write!(f, ".{:02}", self.day)?;
        }
        Ok(())
    }
}

fn fixed_digits(s: &str, len: usize) -> Option<u32> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn add_months(year: i64, month: u32, add: i64) -> (i64, u32) {
    let index = year * 12 + i64::from(month) - 1 + add;
    (index.div_euclid(12), (index.rem_euclid(12) + 1) as u32)
}

/// How long partitions are kept (`RETENTION`): calendar months (`13mo`), days (`400d`),
/// weeks (`8w`) or years (`2y`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    Days(u32),
    Months(u32),
}

impl FromStr for Retention {
    type Err = LifecycleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || LifecycleError::Retention(s.to_owned());
        let t = s.trim().to_ascii_lowercase();
        let digits = t.bytes().take_while(u8::is_ascii_digit).count();
        let (number, unit) = t.split_at(digits);
        let n: u32 = number.parse().map_err(|_| bad())?;
        if n == 0 {
            return Err(bad());
        }
        // Bounded so that every computation below stays far inside i64 milliseconds.
        let within = |v: u32, max: u32| if v <= max { Ok(v) } else { Err(bad()) };
        match unit {
            "d" => Ok(Retention::Days(within(n, 365_000)?)),
            "w" => Ok(Retention::Days(within(n, 52_000)? * 7)),
            "mo" => Ok(Retention::Months(within(n, 12_000)?)),
            "y" => Ok(Retention::Months(within(n, 1_000)? * 12)),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Retention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Retention::Days(d) => write!(f, "{d}d"),
            Retention::Months(m) => write!(f, "{m}mo"),
        }
    }
}

impl Retention {
    /// Reads `RETENTION`: unset, empty or `off` is `None`.
    pub fn parse_setting(value: Option<&str>) -> Result<Option<Retention>, LifecycleError> {
        match value.map(str::trim) {
            None | Some("") => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("off") => Ok(None),
            Some(v) => v.parse().map(Some),
        }
    }

    /// The instant `now_ms` minus the retention (calendar months, clamped to the month's
    /// last day: 13 months before 2025-03-31 is 2024-02-29).
    pub fn cutoff_ms(&self, now_ms: i64) -> i64 {
        match *self {
            Retention::Days(d) => now_ms - i64::from(d) * DAY_MS,
            Retention::Months(m) => {
                let days = now_ms.div_euclid(DAY_MS);
                let in_day = now_ms.rem_euclid(DAY_MS);
                let (y, mo, d) = civil_from_days(days);
                let (y, mo) = add_months(y, mo, -i64::from(m));
                let last = days_from_civil(add_months(y, mo, 1).0, add_months(y, mo, 1).1, 1)
                    - days_from_civil(y, mo, 1);
                let d = d.min(last as u32);
                days_from_civil(y, mo, d) * DAY_MS + in_day
            }
        }
    }

    /// Whether the partition for `period` is past retention at `now_ms`: its whole period
    /// ends at or before `now - retention`. Judged by the period (the name), not by when the
    /// index was created, so a backfilled old partition is removed on time, never early.
    pub fn expired(&self, period: &Period, now_ms: i64) -> bool {
        period.end_ms() <= self.cutoff_ms(now_ms)
    }

    /// The retention in whole days, rounded up (a month counts 31 days): for lifecycle
    /// engines whose ages have no calendar months (ISM `min_index_age`, ILM `min_age`), so
    /// that they never delete before [`Retention::expired`] would.
    pub fn max_days(&self) -> u64 {
        match *self {
            Retention::Days(d) => u64::from(d),
            Retention::Months(m) => u64::from(m) * 31,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(iso: &str) -> i64 {
        crate::time::parse_created_at(iso).unwrap()
    }

    #[test]
    fn a_tweet_id_names_its_partition() {
        // (id, month, day): ids from real tweets of known creation time.
        let table = [
            // 2019-09-05T21:52:54.618Z
            ("1169730148599832576", "2019.09", "2019.09.05"),
            // The Snowflake epoch itself.
            ("0", "2010.11", "2010.11.04"),
            // A pre-Snowflake sequential id (2007): the epoch's bucket, like its delete.
            ("20", "2010.11", "2010.11.04"),
            ("29700859247", "2010.11", "2010.11.04"),
            // Just before and after a month boundary, to the millisecond.
            (
                &id_at(ms("2024-01-31T23:59:59.999Z")),
                "2024.01",
                "2024.01.31",
            ),
            (
                &id_at(ms("2024-02-01T00:00:00.000Z")),
                "2024.02",
                "2024.02.01",
            ),
            (
                &id_at(ms("2024-02-29T12:00:00.000Z")),
                "2024.02",
                "2024.02.29",
            ),
            ("18446744073709551615", "2150.03", "2150.03.18"),
        ];
        for (id, month, day) in table {
            assert_eq!(
                Partition::Month.index_of_id("twitter", id).unwrap(),
                format!("twitter-{month}"),
                "{id}"
            );
            assert_eq!(
                Partition::Day.index_of_id("twitter", id).unwrap(),
                format!("twitter-{day}"),
                "{id}"
            );
            assert_eq!(
                Partition::None.index_of_id("twitter", id).unwrap(),
                "twitter"
            );
        }
        assert_eq!(
            Partition::Month.index_of_id("t", "12a"),
            Err(LifecycleError::NotATweetId("12a".into()))
        );
        // `none` needs no numeric id.
        assert_eq!(Partition::None.index_of_id("t", "x").unwrap(), "t");
    }

    fn id_at(ms: i64) -> String {
        (((ms - SNOWFLAKE_EPOCH_MS) as u64) << 22).to_string()
    }

    #[test]
    fn the_snowflake_time_of_an_id() {
        // (1169730148599832576 >> 22) + 1288834974657, worked by hand.
        assert_eq!(
            snowflake_ms(1_169_730_148_599_832_576),
            ms("2019-09-05T21:52:54.618Z")
        );
        let t = ms("2024-05-03T04:05:06.789Z");
        assert_eq!(snowflake_ms(id_at(t).parse().unwrap()), t);
        assert_eq!(snowflake_ms(0), SNOWFLAKE_EPOCH_MS);
    }

    #[test]
    fn settings_parse_and_name_bad_values() {
        assert_eq!("month".parse(), Ok(Partition::Month));
        assert_eq!(" Day ".parse(), Ok(Partition::Day));
        assert_eq!("none".parse(), Ok(Partition::None));
        assert!("weekly".parse::<Partition>().is_err());
        let table = [
            ("13mo", Some(Retention::Months(13))),
            ("400d", Some(Retention::Days(400))),
            ("8w", Some(Retention::Days(56))),
            ("2y", Some(Retention::Months(24))),
            ("off", None),
            ("", None),
        ];
        for (text, want) in table {
            assert_eq!(Retention::parse_setting(Some(text)), Ok(want), "{text}");
        }
        assert_eq!(Retention::parse_setting(None), Ok(None));
        for bad in ["13", "0d", "13m", "-1d", "1.5y", "d", "99999999d"] {
            assert!(Retention::parse_setting(Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(Retention::Months(13).to_string(), "13mo");
    }

    #[test]
    fn names_read_back_into_periods() {
        let may = Period::from_index_name("twitter", "twitter-2024.05").unwrap();
        assert!(!may.is_day());
        assert_eq!(may.start_ms(), ms("2024-05-01T00:00:00Z"));
        assert_eq!(may.end_ms(), ms("2024-06-01T00:00:00Z"));
        let dec = Period::from_index_name("tw", "tw-2023.12").unwrap();
        assert_eq!(dec.end_ms(), ms("2024-01-01T00:00:00Z"));
        let leap = Period::from_index_name("twitter", "twitter-2024.02.29").unwrap();
        assert_eq!(leap.end_ms(), ms("2024-03-01T00:00:00Z"));
        assert_eq!(leap.index_name("twitter"), "twitter-2024.02.29");
        for other in [
            "twitter",
            "twitter_compliance",
            "twitter-backup",
            "twitter-2024.13",
            "twitter-2023.02.29",
            "twitter-2024.5",
            "twitter-2024.05.01.01",
            "twitterx-2024.05",
            "other-2024.05",
        ] {
            assert_eq!(Period::from_index_name("twitter", other), None, "{other}");
        }
    }

    #[test]
    fn retention_removes_a_partition_once_its_whole_period_is_past() {
        let now = ms("2025-06-15T10:00:00Z");
        let months = Retention::Months(13); // cutoff 2024-05-15T10:00
        let days = Retention::Days(400); // cutoff 2024-05-11T10:00
        // (partition, expired by 13mo, expired by 400d)
        let table = [
            ("twitter-2024.04", true, true),
            // Ends 2024-06-01, after both cutoffs: kept although it began before them.
            ("twitter-2024.05", false, false),
            ("twitter-2024.05.10", true, true),
            ("twitter-2024.05.11", true, false),
            ("twitter-2024.05.14", true, false),
            ("twitter-2024.05.15", false, false),
            ("twitter-2010.11", true, true),
            ("twitter-2025.06", false, false),
        ];
        for (name, by_months, by_days) in table {
            let period = Period::from_index_name("twitter", name).unwrap();
            assert_eq!(months.expired(&period, now), by_months, "{name} 13mo");
            assert_eq!(days.expired(&period, now), by_days, "{name} 400d");
        }
        // Calendar months clamp to the shorter month's last day.
        assert_eq!(
            Retention::Months(13).cutoff_ms(ms("2025-03-31T00:00:00Z")),
            ms("2024-02-29T00:00:00Z")
        );
        assert_eq!(Retention::Months(13).max_days(), 403);
    }
}

//! The IANA time zone a window's cron is read in, over `jiff`'s bundled copy of the tz
//! database (nothing read from disk: Lambda's `provided.al2023` image has no zoneinfo to rely on).
//!
//! Why not `chrono-tz`: its database is static tables of pointers, which a position-independent
//! binary must relocate at every process start: some 28,000 relocations and a megabyte of pages
//! copied before `main`, which doubled the dynamic-loader work of every function that linked it
//! and added about 1.5 ms to its cold start (`make coldstart`). `jiff` keeps the database as
//! compiled TZif bytes (about a thousand relocations in all).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use jiff::tz::{AmbiguousOffset, TimeZone};

#[derive(Debug, Clone)]
pub(super) struct Zone(TimeZone);

impl Zone {
    /// The zone named `name` (`UTC`, `Europe/Berlin`, ...), if the database has it.
    pub(super) fn named(name: &str) -> Option<Zone> {
        TimeZone::get(name).ok().map(Zone)
    }

    /// The local calendar date at instant `t`.
    pub(super) fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        let offset = self.0.to_offset(timestamp(t)).seconds();
        (t + chrono::Duration::seconds(i64::from(offset))).date_naive()
    }

    /// The instant a local wall-clock time names: the first of two in a fold, none in a gap.
    pub(super) fn earliest(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        let civil = jiff::civil::DateTime::constant(
            i16::try_from(chrono::Datelike::year(&local)).ok()?,
            chrono::Datelike::month(&local) as i8,
            chrono::Datelike::day(&local) as i8,
            chrono::Timelike::hour(&local) as i8,
            chrono::Timelike::minute(&local) as i8,
            chrono::Timelike::second(&local) as i8,
            0,
        );
        let offset = match self.0.to_ambiguous_timestamp(civil).offset() {
            AmbiguousOffset::Unambiguous { offset } => offset,
            // Before the clocks go back: the first time the wall clock shows this.
            AmbiguousOffset::Fold { before, .. } => before,
            AmbiguousOffset::Gap { .. } => return None,
        };
        Some(local.and_utc() - chrono::Duration::seconds(i64::from(offset.seconds())))
    }
}

fn timestamp(t: DateTime<Utc>) -> jiff::Timestamp {
    // Every chrono instant a window handles (years 1970-2199) is in jiff's range.
    jiff::Timestamp::from_second(t.timestamp()).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

//! Periods of a backfill or status range: the hours (or days) of a range, walked in resumable chunks.
//!
//! A range is `[from, to)`: `from` is included, `to` is not. A chunk is at most `chunk_size`
//! periods; each chunk ends with a cursor (the first period not yet done) that a later call
//! passes back as `resume_from`.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};

use crate::layout::Granularity;

/// The most periods one backfill or status range may span (about eleven years of hours).
pub const MAX_PERIODS: i64 = 100_000;

/// Parses `2026-11-23`, `2026-11-23T10`, `2026-11-23T10:00`, `2026-11-23T10:00:00` or RFC 3339
/// (`2026-11-23T10:00:00Z`, offsets converted to UTC).
/// Years outside 0000 to 9999 are refused: a layout's `{yyyy}` is four digits, so a partition of
/// year -1 or 10000 would be registered at a location no key of the table can match.
pub fn parse_time(s: &str) -> Result<NaiveDateTime, String> {
    let t = parse_any_year(s)?;
    if !(0..=9999).contains(&t.year()) {
        return Err(format!(
            "{:?} is outside the years 0000 to 9999 that partition layouts can name",
            s.trim()
        ));
    }
    Ok(t)
}

fn parse_any_year(s: &str) -> Result<NaiveDateTime, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc).naive_utc());
    }
    for format in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Ok(t);
        }
    }
    if let Some((date, hour)) = s.split_once('T') {
        if hour.len() == 2 && hour.bytes().all(|b| b.is_ascii_digit()) {
            if let (Ok(d), Ok(h)) = (
                NaiveDate::parse_from_str(date, "%Y-%m-%d"),
                hour.parse::<u32>(),
            ) {
                if let Some(t) = d.and_hms_opt(h, 0, 0) {
                    return Ok(t);
                }
            }
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        // 00:00:00 exists on every date.
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight"));
    }
    Err(format!(
        "{s:?} is not a time (use 2026-11-23, 2026-11-23T10 or 2026-11-23T10:00:00Z)"
    ))
}

/// A validated range of periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeriodRange {
    /// First period (truncated to the granularity).
    pub start: NaiveDateTime,
    /// First period *not* in the range.
    pub end: NaiveDateTime,
    pub granularity: Granularity,
}

impl PeriodRange {
    /// `[from, to)` in periods of `granularity`; `from` is rounded down, `to` up, so a partial
    /// period at either end is included.
    pub fn new(
        from: NaiveDateTime,
        to: NaiveDateTime,
        granularity: Granularity,
    ) -> Result<Self, String> {
        if to <= from {
            return Err(format!("`to` ({to}) must be after `from` ({from})"));
        }
        let start = granularity.truncate(from);
        let mut end = granularity.truncate(to);
        if end < to {
            // `to` comes from a command: the last hour or day chrono holds has no end.
            end = end.checked_add_signed(granularity.step()).ok_or_else(|| {
                format!(
                    "`to` ({to}) is too late: its {granularity} ends after the last time there is"
                )
            })?;
        }
        let range = Self {
            start,
            end,
            granularity,
        };
        if range.len() > MAX_PERIODS {
            return Err(format!(
                "the range spans {} {}s; at most {MAX_PERIODS} per command",
                range.len(),
                granularity
            ));
        }
        Ok(range)
    }

    pub fn len(&self) -> i64 {
        let step = self.granularity.step().num_seconds();
        (self.end - self.start).num_seconds() / step
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every period, in order.
    pub fn periods(&self) -> impl Iterator<Item = NaiveDateTime> + '_ {
        let step = self.granularity.step();
        (0..self.len()).map(move |i| self.start + step * (i as i32))
    }

    /// The chunk starting at `cursor` (or the start): at most `size` periods, and the cursor of
    /// the next chunk (`None` when this chunk finishes the range).
    pub fn chunk(&self, cursor: Option<NaiveDateTime>, size: usize) -> Result<Chunk, String> {
        let from = match cursor {
            None => self.start,
            Some(c) => {
                let c = self.granularity.truncate(c);
                if c < self.start || c >= self.end {
                    return Err(format!(
                        "resume_from {c} is outside the range [{}, {})",
                        self.start, self.end
                    ));
                }
                c
            }
        };
        let step = self.granularity.step();
        let remaining = ((self.end - from).num_seconds() / step.num_seconds()) as usize;
        let take = remaining.min(size.max(1));
        let periods: Vec<NaiveDateTime> = (0..take).map(|i| from + step * (i as i32)).collect();
        let after = from + step * (take as i32);
        Ok(Chunk {
            periods,
            next: (after < self.end).then_some(after),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub periods: Vec<NaiveDateTime>,
    pub next: Option<NaiveDateTime>,
}

/// How cursors are written in responses (and accepted back as `resume_from`).
pub fn format_cursor(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        parse_time(s).unwrap()
    }

    #[test]
    fn times_parse_in_every_documented_form() {
        let want = NaiveDate::from_ymd_opt(2026, 11, 23)
            .unwrap()
            .and_hms_opt(10, 0, 0)
            .unwrap();
        for s in [
            "2026-11-23T10",
            "2026-11-23T10:00",
            "2026-11-23T10:00:00",
            "2026-11-23T10:00:00Z",
            "2026-11-23T11:00:00+01:00",
        ] {
            assert_eq!(parse_time(s).unwrap(), want, "{s}");
        }
        assert_eq!(
            parse_time("2026-11-23").unwrap(),
            want - chrono::Duration::hours(10)
        );
        for bad in ["yesterday", "2026-13-01", "2026-11-23T25", "2026-11-23T1"] {
            assert!(
                parse_time(bad).unwrap_err().contains("is not a time"),
                "{bad}"
            );
        }
    }

    #[test]
    fn ranges_include_partial_periods_and_exclude_the_end() {
        let r = PeriodRange::new(
            t("2026-11-23T10:30"),
            t("2026-11-23T13:00"),
            Granularity::Hour,
        )
        .unwrap();
        assert_eq!(r.len(), 3);
        let p: Vec<_> = r.periods().collect();
        assert_eq!(
            p,
            vec![t("2026-11-23T10"), t("2026-11-23T11"), t("2026-11-23T12")]
        );
        let d = PeriodRange::new(t("2026-11-01"), t("2026-11-03T01"), Granularity::Day).unwrap();
        assert_eq!(d.len(), 3);
        assert!(
            PeriodRange::new(t("2026-11-02"), t("2026-11-01"), Granularity::Day)
                .unwrap_err()
                .contains("must be after")
        );
        let too_long =
            PeriodRange::new(t("2000-01-01"), t("2026-01-01"), Granularity::Hour).unwrap_err();
        assert!(too_long.contains("at most 100000"), "{too_long}");
    }

    #[test]
    fn chunks_resume_from_the_cursor_and_cover_the_range_once() {
        let r = PeriodRange::new(t("2026-11-01"), t("2026-11-02T02"), Granularity::Hour).unwrap();
        assert_eq!(r.len(), 26);
        let mut cursor = None;
        let mut all = Vec::new();
        let mut chunks = 0;
        loop {
            let c = r.chunk(cursor, 10).unwrap();
            chunks += 1;
            all.extend(c.periods.iter().copied());
            match c.next {
                Some(n) => cursor = Some(parse_time(&format_cursor(n)).unwrap()),
                None => break,
            }
        }
        assert_eq!(chunks, 3);
        assert_eq!(all, r.periods().collect::<Vec<_>>());
        assert!(
            r.chunk(Some(t("2026-12-01")), 10)
                .unwrap_err()
                .contains("outside the range")
        );
    }
}

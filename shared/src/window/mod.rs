//! Recurring time windows: a start written as an EventBridge cron expression (see [`cron`]
//! for exactly what is accepted), a length, and the IANA time zone the cron is read in. Alerts'
//! mute windows and the scaler's excluded periods are both this. Pure: the clock is passed in.
//!
//! What "during" means, exactly:
//! - An occurrence starts at each local wall-clock time the cron names, and lasts `duration`
//!   of elapsed time: it is active from its start (included) to start + duration (excluded),
//!   whatever the clocks do meanwhile. Across the fall-back hour a window `01:00` + `2h` ends
//!   at 02:00 by the clock (two real hours later); across spring-forward at 04:00.
//! - A start the clock skips (02:30 on a spring-forward night in New York) happens when the
//!   clock jumps past it: at the end of the gap (03:00, the transition itself), so the night's
//!   window is not lost. It keeps its full duration.
//! - A start the clock shows twice (01:30 on a fall-back night) happens once, the first time.
//! - Occurrences that overlap (a start every hour, two hours long) make one stretch of
//!   activity; [`TimeWindow::is_active`] reports the latest occurrence begun, which ends last.

mod cron;
mod zone;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

pub use cron::CronError;
use cron::{Cron, LAST_YEAR};
use zone::Zone;

/// The longest window: a month (a December change freeze). Longer is a pause, not a window.
pub const MAX_DURATION_DAYS: i64 = 31;

/// The longest clock gap a start may fall into: a whole day (Pacific/Apia skipped 30 December
/// 2011), and an hour's slack.
const MAX_GAP_MINUTES: i64 = 25 * 60;

/// A window as written in configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    pub name: String,
    /// EventBridge cron, six fields, optionally as `cron(...)`.
    pub cron: String,
    /// `2h`, `90m`, `1h30m`, `1d`: days, hours, minutes in that order.
    pub duration: String,
    /// IANA name, e.g. `Europe/Berlin`; `UTC` for none.
    pub time_zone: String,
}

/// A parsed, checked window.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "WindowSpec", into = "WindowSpec")]
pub struct TimeWindow {
    spec: WindowSpec,
    cron: Cron,
    duration: Duration,
    tz: Zone,
}

/// Everything else is read from the spec.
impl PartialEq for TimeWindow {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

/// The occurrence of a window in effect now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActiveWindow {
    pub name: String,
    pub started: DateTime<Utc>,
    /// Exclusive: at `ends` the window is over.
    pub ends: DateTime<Utc>,
}

/// What is wrong with a window, by field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("name {0:?}: a non-empty name of letters, digits, '-', '_' and '.' (at most 64)")]
    Name(String),
    #[error("cron: {0}")]
    Cron(#[from] CronError),
    #[error("cron {0:?}: never fires (a day the month does not have?)")]
    NeverFires(String),
    #[error("duration {value:?}: {problem}")]
    Duration { value: String, problem: String },
    #[error(
        "time_zone {0:?}: not an IANA time zone name (e.g. Europe/Berlin, America/New_York, UTC)"
    )]
    TimeZone(String),
}

impl TryFrom<WindowSpec> for TimeWindow {
    type Error = WindowError;
    fn try_from(spec: WindowSpec) -> Result<Self, WindowError> {
        let name_ok = !spec.name.is_empty()
            && spec.name.len() <= 64
            && spec
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !name_ok {
            return Err(WindowError::Name(spec.name));
        }
        let cron = Cron::parse(&spec.cron)?;
        let duration = parse_duration(&spec.duration)?;
        let tz = Zone::named(&spec.time_zone)
            .ok_or_else(|| WindowError::TimeZone(spec.time_zone.clone()))?;
        let window = TimeWindow {
            spec,
            cron,
            duration,
            tz,
        };
        let epoch = DateTime::<Utc>::UNIX_EPOCH - Duration::days(2);
        if window.next_start(epoch).is_none() {
            return Err(WindowError::NeverFires(window.spec.cron));
        }
        Ok(window)
    }
}

impl From<TimeWindow> for WindowSpec {
    fn from(w: TimeWindow) -> Self {
        w.spec
    }
}

impl TimeWindow {
    pub fn new(
        name: &str,
        cron: &str,
        duration: &str,
        time_zone: &str,
    ) -> Result<Self, WindowError> {
        TimeWindow::try_from(WindowSpec {
            name: name.into(),
            cron: cron.into(),
            duration: duration.into(),
            time_zone: time_zone.into(),
        })
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn spec(&self) -> &WindowSpec {
        &self.spec
    }

    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// The occurrence `now` is in, if any (see the module's rules).
    pub fn is_active(&self, now: DateTime<Utc>) -> Option<ActiveWindow> {
        let started = self.last_start_at_or_before(now)?;
        let ends = started + self.duration;
        (now < ends).then(|| ActiveWindow {
            name: self.spec.name.clone(),
            started,
            ends,
        })
    }

    /// The first start strictly after `now` (`None` when the cron's years are over).
    pub fn next_start(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let from = self.local_date(now).pred_opt()?;
        let mut best: Option<DateTime<Utc>> = None;
        // A start shifted out of a clock gap can overtake the next date's first start: look
        // at two more matching dates after the first that has one.
        let mut more: Option<u8> = None;
        for date in self.matching_dates_from(from) {
            if more == Some(0) {
                break;
            }
            if let Some(s) = self.starts_on(date).into_iter().find(|s| *s > now) {
                best = Some(best.map_or(s, |b| b.min(s)));
                more.get_or_insert(3);
            }
            more = more.map(|m| m - 1);
        }
        best
    }

    /// The latest start at or before `now` that could still be running.
    fn last_start_at_or_before(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let earliest = self.local_date(now - self.duration).pred_opt()?;
        let mut date = self.local_date(now).succ_opt()?;
        let mut best: Option<DateTime<Utc>> = None;
        let mut more: Option<u8> = None;
        while date >= earliest && more != Some(0) {
            if let Some(s) = self.starts_on(date).into_iter().filter(|s| *s <= now).max() {
                best = best.max(Some(s));
                more.get_or_insert(3);
            }
            more = more.map(|m| m - 1);
            date = date.pred_opt()?;
        }
        best
    }

    fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        self.tz.local_date(t)
    }

    /// The instants the window starts at on one local date, in order.
    fn starts_on(&self, date: NaiveDate) -> Vec<DateTime<Utc>> {
        if !self.cron.date_matches(date) {
            return vec![];
        }
        let mut starts: Vec<_> = self
            .cron
            .times()
            .filter_map(|(h, m)| date.and_hms_opt(h, m, 0))
            .filter_map(|local| resolve(&self.tz, local))
            .collect();
        starts.sort();
        starts.dedup();
        starts
    }

    /// The local dates the cron fires on, from `from`, skipping years and months it does not.
    fn matching_dates_from(&self, from: NaiveDate) -> impl Iterator<Item = NaiveDate> + '_ {
        (from.year()..=LAST_YEAR)
            .filter(|y| self.cron.year_matches(*y))
            .flat_map(move |y| {
                (1..=12)
                    .filter(move |m| self.cron.month_matches(*m))
                    .map(move |m| (y, m))
            })
            .flat_map(|(y, m)| (1..=31).filter_map(move |d| NaiveDate::from_ymd_opt(y, m, d)))
            .filter(move |d| *d >= from && self.cron.date_matches(*d))
    }
}

/// A local wall-clock time as an instant: the first of two in a fold, the end of the gap for
/// one the clock skips.
fn resolve(tz: &Zone, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    tz.earliest(local)
        .or_else(|| (1..=MAX_GAP_MINUTES).find_map(|m| tz.earliest(local + Duration::minutes(m))))
}

/// `1d2h30m`-style: days, hours, minutes, each at most once and in that order; at least a
/// minute, at most [`MAX_DURATION_DAYS`].
fn parse_duration(text: &str) -> Result<Duration, WindowError> {
    let bad = |problem: &str| WindowError::Duration {
        value: text.to_string(),
        problem: problem.to_string(),
    };
    let form = "not a duration like 2h, 90m, 1h30m or 1d (days, hours, minutes in that order)";
    let mut total = Duration::zero();
    let mut digits = String::new();
    let mut last_unit = usize::MAX;
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = ['d', 'h', 'm']
            .iter()
            .position(|u| *u == c)
            .ok_or_else(|| bad(form))?;
        if digits.is_empty() || (last_unit != usize::MAX && unit <= last_unit) {
            return Err(bad(form));
        }
        let n: i64 = digits.parse().map_err(|_| bad(form))?;
        let per = [24 * 60, 60, 1][unit];
        let minutes = n
            .checked_mul(per)
            .filter(|m| *m <= MAX_DURATION_DAYS * 24 * 60);
        total += Duration::minutes(minutes.ok_or_else(|| bad("longer than 31 days"))?);
        digits.clear();
        last_unit = unit;
    }
    if !digits.is_empty() || last_unit == usize::MAX {
        return Err(bad(form));
    }
    if total < Duration::minutes(1) {
        return Err(bad("shorter than a minute"));
    }
    if total > Duration::days(MAX_DURATION_DAYS) {
        return Err(bad("longer than 31 days"));
    }
    Ok(total)
}

#[cfg(test)]
mod tests;

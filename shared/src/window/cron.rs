//! The cron dialect a window's start is written in: AWS EventBridge's six fields, because that
//! is what our templates already hold (`cron(0 2 * * ? *)`).
//!
//! `minutes hours day-of-month month day-of-week year`, optionally wrapped in `cron(...)`:
//!
//! | field | values | also |
//! |---|---|---|
//! | minutes | 0-59 | `, - * /` |
//! | hours | 0-23 | `, - * /` |
//! | day-of-month | 1-31 | `, - * / ?`, `L` (the last day of the month, alone) |
//! | month | 1-12 or JAN-DEC | `, - * /` |
//! | day-of-week | 1-7 or SUN-SAT (**1 is Sunday**, as in EventBridge, not 0) | `, - * ? /`, `d#n` (the n-th such weekday of the month, alone) |
//! | year | 1970-2199 | `, - * /` |
//!
//! Exactly one of day-of-month and day-of-week is `?` (EventBridge's rule: the other one
//! says which days). Not accepted, each with an error saying so: `W`, `L` in day-of-week or
//! with an offset, ranges that wrap (`FRI-MON`: write `FRI-SAT,SUN-MON`), and five-field Unix
//! cron. Names are case-insensitive.

use chrono::{Datelike, NaiveDate};

/// A parse problem: the field, the value it holds, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {value:?}: {problem}")]
pub struct CronError {
    pub field: &'static str,
    pub value: String,
    pub problem: String,
}

/// The values of one field a cron allows, as a set over `lo..=hi`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Set {
    lo: u32,
    allowed: Vec<bool>,
}

impl Set {
    fn has(&self, v: u32) -> bool {
        v >= self.lo
            && self
                .allowed
                .get((v - self.lo) as usize)
                .copied()
                .unwrap_or(false)
    }

    fn values(&self) -> impl Iterator<Item = u32> + '_ {
        (self.lo..)
            .zip(&self.allowed)
            .filter(|(_, a)| **a)
            .map(|(v, _)| v)
    }
}

/// Which days of a month match.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Days {
    OfMonth(Set),
    LastOfMonth,
    /// Day-of-week numbered 1 (Sunday) to 7 (Saturday).
    OfWeek(Set),
    /// The `nth` (1-5) such weekday of the month.
    NthWeekday {
        weekday: u32,
        nth: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cron {
    minutes: Set,
    hours: Set,
    days: Days,
    months: Set,
    years: Set,
}

pub(super) const FIRST_YEAR: i32 = 1970;
pub(super) const LAST_YEAR: i32 = 2199;

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// One field's name, range and the names it accepts for its numbers.
struct Field {
    name: &'static str,
    lo: u32,
    hi: u32,
    names: &'static [&'static str],
}

const MINUTES: Field = Field::plain("minutes", 0, 59);
const HOURS: Field = Field::plain("hours", 0, 23);
const DAY_OF_MONTH: Field = Field::plain("day-of-month", 1, 31);
const MONTH: Field = Field {
    name: "month",
    lo: 1,
    hi: 12,
    names: &MONTHS,
};
const DAY_OF_WEEK: Field = Field {
    name: "day-of-week",
    lo: 1,
    hi: 7,
    names: &WEEKDAYS,
};
const YEAR: Field = Field::plain("year", FIRST_YEAR as u32, LAST_YEAR as u32);

impl Field {
    const fn plain(name: &'static str, lo: u32, hi: u32) -> Self {
        Field {
            name,
            lo,
            hi,
            names: &[],
        }
    }

    fn error(&self, value: &str, problem: impl Into<String>) -> CronError {
        CronError {
            field: self.name,
            value: value.to_string(),
            problem: problem.into(),
        }
    }

    fn number(&self, text: &str, whole: &str) -> Result<u32, CronError> {
        let upper = text.to_ascii_uppercase();
        if let Some(i) = self.names.iter().position(|n| *n == upper) {
            return Ok(self.lo + i as u32);
        }
        let n: u32 = text.parse().map_err(|_| {
            let names = if self.names.is_empty() {
                String::new()
            } else {
                format!(" or {}-{}", self.names[0], self.names[self.names.len() - 1])
            };
            self.error(
                whole,
                format!("{text:?} is not a number {}-{}{names}", self.lo, self.hi),
            )
        })?;
        if !(self.lo..=self.hi).contains(&n) {
            let hint = if self.name == "day-of-week" && n == 0 {
                " (EventBridge numbers Sunday 1, not 0)"
            } else {
                ""
            };
            return Err(self.error(
                whole,
                format!("{n} is out of range {}-{}{hint}", self.lo, self.hi),
            ));
        }
        Ok(n)
    }

    /// A list of `*`, `n`, `a-b`, each optionally `/step`.
    fn set(&self, text: &str) -> Result<Set, CronError> {
        let mut allowed = vec![false; (self.hi - self.lo + 1) as usize];
        for item in text.split(',') {
            let (range, step) = match item.split_once('/') {
                Some((r, s)) => {
                    let step: u32 = s.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                        self.error(text, format!("step {s:?} is not a positive number"))
                    })?;
                    (r, step)
                }
                None => (item, 1),
            };
            let (from, to) = match range {
                "*" => (self.lo, self.hi),
                r => match r.split_once('-') {
                    Some((a, b)) => (self.number(a, text)?, self.number(b, text)?),
                    // `5/15`: from 5 to the end, every 15.
                    None if item.contains('/') => (self.number(r, text)?, self.hi),
                    None => {
                        let n = self.number(r, text)?;
                        (n, n)
                    }
                },
            };
            if from > to {
                return Err(self.error(
                    text,
                    format!("range {range:?} runs backwards (ranges do not wrap: split it in two)"),
                ));
            }
            for v in (from..=to).step_by(step as usize) {
                allowed[(v - self.lo) as usize] = true;
            }
        }
        Ok(Set {
            lo: self.lo,
            allowed,
        })
    }

    /// Rejects the EventBridge characters we do not take, naming them.
    fn refuse_specials(&self, text: &str) -> Result<(), CronError> {
        let upper = text.to_ascii_uppercase();
        let stripped: String = self.names.iter().fold(upper, |s, n| s.replace(n, ""));
        if let Some(c) = stripped.chars().find(|c| "LW#?".contains(*c)) {
            return Err(self.error(text, format!("{c:?} is not supported in {}", self.name)));
        }
        Ok(())
    }

    fn plain_set(&self, text: &str) -> Result<Set, CronError> {
        self.refuse_specials(text)?;
        self.set(text)
    }
}

impl Cron {
    pub(super) fn parse(text: &str) -> Result<Self, CronError> {
        let inner = text.trim();
        let inner = inner
            .strip_prefix("cron(")
            .and_then(|s| s.strip_suffix(')'))
            .unwrap_or(inner);
        let parts: Vec<&str> = inner.split_whitespace().collect();
        let [min, hour, dom, month, dow, year] = parts[..] else {
            let hint = if parts.len() == 5 {
                " (a five-field Unix cron? add the year, e.g. `*`, and write `?` in day-of-month or day-of-week)"
            } else {
                ""
            };
            return Err(CronError {
                field: "expression",
                value: text.to_string(),
                problem: format!(
                    "has {} fields; EventBridge cron has 6: minutes hours day-of-month month day-of-week year{hint}",
                    parts.len()
                ),
            });
        };
        Ok(Cron {
            minutes: MINUTES.plain_set(min)?,
            hours: HOURS.plain_set(hour)?,
            days: days(dom, dow)?,
            months: MONTH.plain_set(month)?,
            years: YEAR.plain_set(year)?,
        })
    }

    pub(super) fn year_matches(&self, year: i32) -> bool {
        u32::try_from(year).is_ok_and(|y| self.years.has(y))
    }

    pub(super) fn month_matches(&self, month: u32) -> bool {
        self.months.has(month)
    }

    /// Whether the cron fires on this (local) date at all.
    pub(super) fn date_matches(&self, date: NaiveDate) -> bool {
        if !self.year_matches(date.year()) || !self.months.has(date.month()) {
            return false;
        }
        let dow = date.weekday().num_days_from_sunday() + 1;
        match &self.days {
            Days::OfMonth(set) => set.has(date.day()),
            Days::LastOfMonth => date
                .succ_opt()
                .is_none_or(|next| next.month() != date.month()),
            Days::OfWeek(set) => set.has(dow),
            Days::NthWeekday { weekday, nth } => {
                dow == *weekday && (date.day() - 1) / 7 + 1 == *nth
            }
        }
    }

    /// The (hour, minute) pairs it fires at on a matching date, in order.
    pub(super) fn times(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.hours
            .values()
            .flat_map(move |h| self.minutes.values().map(move |m| (h, m)))
    }
}

fn days(dom: &str, dow: &str) -> Result<Days, CronError> {
    match (dom, dow) {
        _ if (dom == "?") == (dow == "?") => Err(CronError {
            field: "day-of-month",
            value: dom.to_string(),
            problem: format!(
                "with day-of-week {dow:?}: exactly one of them must be `?` (e.g. `0 2 * * ? *` every day, `0 2 ? * MON-FRI *` on weekdays)"
            ),
        }),
        ("?", _) => day_of_week(dow),
        (_, _) if dom.eq_ignore_ascii_case("L") => Ok(Days::LastOfMonth),
        (_, _) => Ok(Days::OfMonth(DAY_OF_MONTH.plain_set(dom)?)),
    }
}

fn day_of_week(dow: &str) -> Result<Days, CronError> {
    let Some((day, nth)) = dow.split_once('#') else {
        return Ok(Days::OfWeek(DAY_OF_WEEK.plain_set(dow)?));
    };
    let weekday = DAY_OF_WEEK.number(day, dow)?;
    let nth = nth
        .parse()
        .ok()
        .filter(|n| (1..=5).contains(n))
        .ok_or_else(|| DAY_OF_WEEK.error(dow, format!("{nth:?} after `#` is not 1-5")))?;
    Ok(Days::NthWeekday { weekday, nth })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn fields_lists_ranges_steps_and_names() {
        let c = Cron::parse("cron(0/15 1-3,22 ? jan-MAR MON-FRI 2026-2030/2)").unwrap();
        assert_eq!(
            c.minutes.values().collect::<Vec<_>>(),
            [0, 15, 30, 45],
            "0/15"
        );
        assert_eq!(c.hours.values().collect::<Vec<_>>(), [1, 2, 3, 22]);
        assert!(c.year_matches(2028) && !c.year_matches(2027));
        assert!(c.date_matches(date("2026-01-05")), "a Monday in January");
        assert!(!c.date_matches(date("2026-01-04")), "a Sunday");
        assert!(!c.date_matches(date("2026-04-06")), "April");
        let times: Vec<_> = Cron::parse("30 2 * * ? *").unwrap().times().collect();
        assert_eq!(times, [(2, 30)]);
    }

    #[test]
    fn last_day_and_nth_weekday() {
        let last = Cron::parse("0 0 L * ? *").unwrap();
        assert!(last.date_matches(date("2028-02-29")) && !last.date_matches(date("2028-02-28")));
        assert!(last.date_matches(date("2026-12-31")));
        let first_sunday = Cron::parse("0 3 ? * 1#1 *").unwrap();
        assert!(first_sunday.date_matches(date("2026-03-01")));
        assert!(!first_sunday.date_matches(date("2026-03-08")));
        let second_sun = Cron::parse("0 3 ? * SUN#2 *").unwrap();
        assert!(second_sun.date_matches(date("2026-03-08")));
    }

    #[test]
    fn errors_name_the_field_and_the_value() {
        let err = |s: &str| Cron::parse(s).unwrap_err().to_string();
        assert_eq!(
            err("0 2 * * *"),
            "expression \"0 2 * * *\": has 5 fields; EventBridge cron has 6: minutes hours day-of-month month day-of-week year (a five-field Unix cron? add the year, e.g. `*`, and write `?` in day-of-month or day-of-week)"
        );
        assert_eq!(
            err("61 2 * * ? *"),
            "minutes \"61\": 61 is out of range 0-59"
        );
        assert_eq!(
            err("0 2 ? * 0 *"),
            "day-of-week \"0\": 0 is out of range 1-7 (EventBridge numbers Sunday 1, not 0)"
        );
        assert!(err("0 2 * * * *").starts_with(
            "day-of-month \"*\": with day-of-week \"*\": exactly one of them must be `?`"
        ));
        assert!(err("0 2 ? * ? *").contains("exactly one of them must be `?`"));
        assert_eq!(
            err("0 2 ? * FRI-MON *"),
            "day-of-week \"FRI-MON\": range \"FRI-MON\" runs backwards (ranges do not wrap: split it in two)"
        );
        assert_eq!(
            err("0 2 15W * ? *"),
            "day-of-month \"15W\": 'W' is not supported in day-of-month"
        );
        assert_eq!(
            err("0 2 ? * 6L *"),
            "day-of-week \"6L\": 'L' is not supported in day-of-week"
        );
        assert_eq!(
            err("0 2 ? * 2#6 *"),
            "day-of-week \"2#6\": \"6\" after `#` is not 1-5"
        );
        assert_eq!(
            err("0 2 * FOO ? *"),
            "month \"FOO\": \"FOO\" is not a number 1-12 or JAN-DEC"
        );
        assert_eq!(
            err("*/0 2 * * ? *"),
            "minutes \"*/0\": step \"0\" is not a positive number"
        );
        assert_eq!(
            err("0 2 * * ? 2300"),
            "year \"2300\": 2300 is out of range 1970-2199"
        );
    }
}

//! The restart time proportional sizing adds to a target's capacity (the input that piles up
//! while a rescale stops the job), measured from the scaler's own savepoint rescales (stop to
//! the resubmitted job running) instead of a fixed guess. Pure: the samples the target's state
//! keeps, and the value a decision uses with why.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How many of the latest measurements a target keeps: enough for a median to shrug off one
/// odd rescale, few enough to follow a job whose state (and so its restart) grows.
pub const KEPT: usize = 5;

/// `measured_restart` of a proportional sizing: use the median of the measured restarts,
/// never more than `max_seconds` (a savepoint that hung for an hour is not the next
/// restart's length); `restart_seconds` stays the value used until there is a measurement.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MeasuredRestart {
    pub max_seconds: f64,
}

impl MeasuredRestart {
    pub fn validate(&self, fallback_seconds: f64) -> Result<(), String> {
        // Written so that NaN fails too.
        if !(self.max_seconds.is_finite() && self.max_seconds >= 1.0) {
            return Err(format!(
                "proportional measured_restart.max_seconds must be a number of seconds >= 1, got {}",
                self.max_seconds
            ));
        }
        if fallback_seconds > self.max_seconds {
            return Err(format!(
                "proportional restart_seconds ({fallback_seconds}, used until a rescale is measured) \
                 cannot exceed measured_restart.max_seconds ({})",
                self.max_seconds
            ));
        }
        Ok(())
    }
}

/// One measured restart: a savepoint rescale from `from` to `to` that stopped the job at
/// `stopped_at` and saw the resubmitted job running `seconds` later.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct RestartSample {
    pub stopped_at: DateTime<Utc>,
    pub seconds: f64,
    pub from: u32,
    pub to: u32,
}

/// Keeps `sample` among the latest [`KEPT`]; a duration that is not a finite, non-negative
/// number (a clock that went back) is not kept: the stored JSON could not hold NaN.
pub fn remember(samples: &mut Vec<RestartSample>, sample: RestartSample) -> bool {
    if !(sample.seconds.is_finite() && sample.seconds >= 0.0) {
        return false;
    }
    samples.push(sample);
    let extra = samples.len().saturating_sub(KEPT);
    samples.drain(..extra);
    true
}

/// Where the restart time of a decision came from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "basis", rename_all = "snake_case")]
pub enum RestartBasis {
    /// `restart_seconds` as configured (no `measured_restart`).
    Configured,
    /// `measured_restart` is on but no rescale has been measured yet: `restart_seconds`.
    Fallback,
    /// The median of `samples` measurements, `capped` at `max_seconds` when above it.
    Measured {
        samples: usize,
        median: f64,
        capped: bool,
    },
}

/// The restart time a decision sizes with, and why.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RestartTime {
    pub seconds: f64,
    #[serde(flatten)]
    pub basis: RestartBasis,
}

impl RestartTime {
    /// For the decision's reason: `restart 95 s (median of 3 measured rescales)`.
    pub fn describe(&self) -> String {
        let secs = self.seconds;
        match self.basis {
            RestartBasis::Configured => format!("restart {secs:.0} s (configured)"),
            RestartBasis::Fallback => {
                format!("restart {secs:.0} s (configured: no rescale measured yet)")
            }
            RestartBasis::Measured {
                samples,
                capped: false,
                ..
            } => format!(
                "restart {secs:.0} s (median of {samples} measured rescale{})",
                if samples == 1 { "" } else { "s" }
            ),
            RestartBasis::Measured {
                samples, median, ..
            } => format!(
                "restart {secs:.0} s (median {median:.0} s of {samples} measured rescale{}, \
                 capped at measured_restart.max_seconds)",
                if samples == 1 { "" } else { "s" }
            ),
        }
    }
}

/// The restart time to size with: `configured` alone without `measured`; with it, the median
/// of the samples at most `max_seconds`, or `configured` while there are none.
pub fn restart_time(
    configured: f64,
    measured: Option<MeasuredRestart>,
    samples: &[RestartSample],
) -> RestartTime {
    let Some(m) = measured else {
        return RestartTime {
            seconds: configured,
            basis: RestartBasis::Configured,
        };
    };
    let Some(median) = median(samples.iter().map(|s| s.seconds)) else {
        return RestartTime {
            seconds: configured,
            basis: RestartBasis::Fallback,
        };
    };
    RestartTime {
        seconds: median.min(m.max_seconds),
        basis: RestartBasis::Measured {
            samples: samples.len(),
            median,
            capped: median > m.max_seconds,
        },
    }
}

/// The middle value (the mean of the two middle ones for an even count); `None` for none.
fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(seconds: f64) -> RestartSample {
        RestartSample {
            stopped_at: "2026-11-23T10:00:00Z".parse().unwrap(),
            seconds,
            from: 1,
            to: 2,
        }
    }

    const CAP: Option<MeasuredRestart> = Some(MeasuredRestart { max_seconds: 300.0 });

    #[test]
    fn configured_without_measurement_fallback_until_the_first_sample() {
        let none = restart_time(120.0, None, &[sample(40.0)]);
        assert_eq!(
            (none.seconds, none.basis),
            (120.0, RestartBasis::Configured)
        );
        let fallback = restart_time(120.0, CAP, &[]);
        assert_eq!(
            (fallback.seconds, fallback.basis),
            (120.0, RestartBasis::Fallback)
        );
        assert_eq!(
            fallback.describe(),
            "restart 120 s (configured: no rescale measured yet)"
        );
    }

    #[test]
    fn the_median_of_the_measurements_shrugs_off_one_odd_rescale() {
        let samples = [sample(40.0), sample(1000.0), sample(50.0)];
        let t = restart_time(120.0, CAP, &samples);
        assert_eq!(t.seconds, 50.0);
        assert_eq!(t.describe(), "restart 50 s (median of 3 measured rescales)");
        let even = restart_time(120.0, CAP, &samples[..2]);
        assert_eq!(even.seconds, 300.0, "mean of 40 and 1000 is 520, capped");
        assert_eq!(
            even.basis,
            RestartBasis::Measured {
                samples: 2,
                median: 520.0,
                capped: true
            }
        );
        assert!(even.describe().contains("median 520 s of 2"), "{even:?}");
    }

    #[test]
    fn only_the_latest_finite_measurements_are_kept() {
        let mut kept = Vec::new();
        for s in 0..7 {
            assert!(remember(&mut kept, sample(s as f64)));
        }
        assert_eq!(
            kept.iter().map(|s| s.seconds).collect::<Vec<_>>(),
            [2.0, 3.0, 4.0, 5.0, 6.0]
        );
        assert!(!remember(&mut kept, sample(f64::NAN)));
        assert!(!remember(&mut kept, sample(-3.0)));
        assert_eq!(kept.len(), KEPT);
    }

    #[test]
    fn the_maximum_is_checked_against_the_fallback() {
        let m = MeasuredRestart { max_seconds: 60.0 };
        assert!(m.validate(30.0).is_ok());
        assert!(
            m.validate(120.0)
                .unwrap_err()
                .contains("cannot exceed measured_restart.max_seconds")
        );
        let nan = MeasuredRestart {
            max_seconds: f64::NAN,
        };
        assert!(nan.validate(0.0).unwrap_err().contains(">= 1"));
    }
}

//! Proportional sizing, after the Flink Kubernetes Operator's autoscaler: size a target for the
//! capacity that drains the backlog within the catch-up time, absorbs a restart, and carries the
//! input rate at the target utilisation. Pure arithmetic, no AWS.

use serde::{Deserialize, Serialize};

use crate::restart::MeasuredRestart;

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Proportional {
    /// Fraction of its true capacity the target should run at (the operator's target utilisation).
    #[serde(default = "default_utilisation")]
    pub target_utilisation: f64,
    /// Time in which a backlog should be drained.
    #[serde(default = "default_catch_up")]
    pub catch_up_seconds: f64,
    /// How long a rescale stops processing (savepoint and restart), to be caught up as well;
    /// with `measured_restart`, only until the scaler has measured one of its rescales.
    #[serde(default = "default_restart")]
    pub restart_seconds: f64,
    /// Size with the median of the target's measured restarts instead (`restart`), at most
    /// `max_seconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_restart: Option<MeasuredRestart>,
}

fn default_utilisation() -> f64 {
    0.7
}
fn default_catch_up() -> f64 {
    600.0
}
fn default_restart() -> f64 {
    120.0
}

impl Proportional {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.target_utilisation > 0.0 && self.target_utilisation <= 1.0) {
            return Err(format!(
                "proportional target_utilisation must be in (0, 1], got {}",
                self.target_utilisation
            ));
        }
        // Written so that NaN fails too.
        let valid = self.catch_up_seconds.is_finite()
            && self.catch_up_seconds >= 1.0
            && self.restart_seconds.is_finite()
            && self.restart_seconds >= 0.0;
        if !valid {
            return Err(
                "proportional catch_up_seconds must be >= 1 and restart_seconds >= 0".into(),
            );
        }
        match self.measured_restart {
            Some(m) => m.validate(self.restart_seconds),
            None => Ok(()),
        }
    }
}

/// The target's load, read from CloudWatch at decision time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LoadSample {
    /// Records per second arriving.
    pub input_rate: f64,
    /// Records per second the target processes now.
    pub processing_rate: f64,
    /// Fraction of time the target is busy (0..1], when known: the true processing rate is the
    /// observed rate divided by it (what the target could do at 100%).
    pub busy_ratio: Option<f64>,
    /// Records waiting.
    pub backlog_records: f64,
}

impl LoadSample {
    /// A Kinesis source's backlog from its lag: iterator age (or `millisBehindLatest`) times the
    /// input rate. The operator's autoscaler cannot see a Kinesis backlog; we can.
    pub fn backlog_from_lag(lag_ms: f64, input_rate: f64) -> f64 {
        (lag_ms.max(0.0) / 1000.0) * input_rate.max(0.0)
    }

    /// What the target could process at full utilisation at its current size.
    pub fn true_processing_rate(&self) -> f64 {
        match self.busy_ratio {
            Some(b) if b > 0.01 => self.processing_rate / b.min(1.0),
            _ => self.processing_rate,
        }
    }

    /// Whether the observed processing rate is the target's capacity (it is busy, or has a
    /// backlog to work through), so that effectiveness can be judged from it.
    pub fn saturated(&self) -> bool {
        self.busy_ratio.is_some() || self.backlog_records > self.input_rate.max(1.0)
    }

    /// Seconds the current backlog takes to drain at the current capacity, beyond the input.
    pub fn backlog_seconds(&self) -> f64 {
        let spare = self.true_processing_rate() - self.input_rate;
        if self.backlog_records <= 0.0 {
            0.0
        } else if spare <= 0.0 {
            f64::INFINITY
        } else {
            self.backlog_records / spare
        }
    }
}

/// Records per second the target must be able to process.
pub fn target_capacity(p: &Proportional, load: &LoadSample) -> f64 {
    load.backlog_records.max(0.0) / p.catch_up_seconds
        + load.input_rate.max(0.0) * p.restart_seconds / p.catch_up_seconds
        + load.input_rate.max(0.0) / p.target_utilisation
}

/// `ceil(current x target capacity / true processing rate)`, at least 1; `None` when the target
/// processes nothing now (no basis to scale from).
pub fn proportional_size(current: u32, p: &Proportional, load: &LoadSample) -> Option<u32> {
    let rate = load.true_processing_rate();
    if rate.is_nan() || rate <= 0.0 || current == 0 {
        return None;
    }
    let size = (current as f64 * target_capacity(p, load) / rate).ceil();
    Some(size.clamp(1.0, u32::MAX as f64) as u32)
}

/// How a size must line up with the target's structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "align", rename_all = "snake_case")]
pub enum Alignment {
    None,
    /// A Flink job: a divisor of its max parallelism, so key groups spread evenly.
    KeyGroups {
        max_parallelism: u32,
    },
    /// A Flink job reading a Kinesis stream: a divisor of its shard count, so every source
    /// subtask reads as many shards (above the shard count, extra subtasks would idle).
    Shards {
        shards: u32,
        max_parallelism: u32,
    },
    /// A Kinesis stream: multiples of 25% of the current shard count finish resharding faster.
    QuarterSteps {
        current: u32,
    },
}

/// The sizes a target may take in one decision: from `current` towards the recommendation,
/// within the policy's `lower..=upper`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeWindow {
    pub current: u32,
    pub lower: u32,
    pub upper: u32,
}

impl SizeWindow {
    /// The sizes on the decision's side of `current`: a scale-in never aligns back up to (or
    /// past) the current size, a scale-out never back down to it.
    fn side_of(&self, size: u32) -> (u32, u32) {
        let (lower, upper) = (self.lower.max(1), self.upper.max(1));
        match size.cmp(&self.current) {
            std::cmp::Ordering::Less => (lower, upper.min(self.current.saturating_sub(1))),
            std::cmp::Ordering::Greater => (lower.max(self.current.saturating_add(1)), upper),
            std::cmp::Ordering::Equal => (size, size),
        }
    }
}

/// `size` lined up with the target's structure, in the direction of the decision: the smallest
/// aligned size at or above `size` on the decision's side of the current size; failing that,
/// for divisor alignments, the fewest units that leave the busiest unit no more to do than
/// `size` would (the Flink operator's downward search); failing that, `size` itself.
pub fn align(size: u32, alignment: Alignment, window: SizeWindow) -> u32 {
    let (lo, hi) = window.side_of(size);
    if size == window.current || lo > hi {
        return size;
    }
    let up = |aligned: &dyn Fn(u32) -> bool, ceiling: u32| {
        (size.max(lo)..=hi.min(ceiling)).find(|&c| aligned(c))
    };
    match alignment {
        Alignment::None => size,
        Alignment::KeyGroups { max_parallelism } => {
            // Like the operator: search up to half the max parallelism.
            let divides = |c: u32| max_parallelism % c == 0;
            up(&divides, max_parallelism / 2)
                .or_else(|| same_busiest(max_parallelism, size, lo))
                .unwrap_or(size)
                .min(max_parallelism.max(1))
        }
        Alignment::Shards {
            shards,
            max_parallelism,
        } => {
            if size >= shards {
                size.min(max_parallelism.max(1))
            } else {
                let divides = |c: u32| shards % c == 0;
                up(&divides, shards)
                    .or_else(|| same_busiest(shards, size, lo))
                    .unwrap_or(size)
            }
        }
        Alignment::QuarterSteps { current } => {
            if current < 4 {
                return size;
            }
            // In u64: eight times a (hypothetical) 2^29-shard stream is past u32.
            (2..=8u64)
                .map(|k| (u64::from(current) * k).div_ceil(4))
                .find(|&c| c >= u64::from(size.max(lo)) && c <= u64::from(hi))
                .map_or(size, |c| c as u32)
        }
    }
}

/// The fewest units, not below `lo`, whose busiest unit holds as many of `parts` (shards, key
/// groups) as the busiest of `size` units would: fewer units at no extra load on any one.
/// `None` when that is `size` itself or below `lo`.
fn same_busiest(parts: u32, size: u32, lo: u32) -> Option<u32> {
    if size == 0 || parts == 0 {
        return None;
    }
    let busiest = parts.div_ceil(size);
    let fewest = parts.div_ceil(busiest);
    (fewest < size && fewest >= lo).then_some(fewest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Proportional {
        Proportional {
            target_utilisation: 0.5,
            catch_up_seconds: 100.0,
            restart_seconds: 10.0,
            measured_restart: None,
        }
    }

    #[test]
    fn capacity_follows_the_operator_formula() {
        let load = LoadSample {
            input_rate: 1000.0,
            processing_rate: 1000.0,
            busy_ratio: None,
            backlog_records: 50_000.0,
        };
        // 50_000/100 + 1000*10/100 + 1000/0.5 = 500 + 100 + 2000
        assert_eq!(target_capacity(&p(), &load), 2600.0);
        // 4 x 2600 / 1000 = 10.4 -> 11
        assert_eq!(proportional_size(4, &p(), &load), Some(11));
        let busy = LoadSample {
            busy_ratio: Some(0.5),
            ..load
        };
        // True rate 2000: 4 x 2600 / 2000 = 5.2 -> 6
        assert_eq!(proportional_size(4, &p(), &busy), Some(6));
        let idle = LoadSample {
            processing_rate: 0.0,
            ..load
        };
        assert_eq!(proportional_size(4, &p(), &idle), None);
    }

    #[test]
    fn kinesis_lag_becomes_a_backlog() {
        assert_eq!(LoadSample::backlog_from_lag(30_000.0, 2000.0), 60_000.0);
        assert_eq!(LoadSample::backlog_from_lag(-5.0, 2000.0), 0.0);
        let draining = LoadSample {
            input_rate: 100.0,
            processing_rate: 300.0,
            busy_ratio: None,
            backlog_records: 10_000.0,
        };
        assert_eq!(draining.backlog_seconds(), 50.0);
        assert!(draining.saturated());
    }

    fn out(current: u32, upper: u32) -> SizeWindow {
        SizeWindow {
            current,
            lower: 1,
            upper,
        }
    }

    #[test]
    fn sizes_align_to_key_groups_shards_and_quarters() {
        let kg = Alignment::KeyGroups {
            max_parallelism: 128,
        };
        assert_eq!(align(5, kg, out(2, 1000)), 8);
        assert_eq!(align(3, kg, out(2, 1000)), 4);
        assert_eq!(
            align(5, kg, out(2, 6)),
            5,
            "no divisor within the upper bound"
        );
        assert_eq!(
            align(70, kg, out(2, 1000)),
            64,
            "above half the max: 64 do as much each"
        );
        assert_eq!(align(200, kg, out(2, 1000)), 128);
        let shards = Alignment::Shards {
            shards: 12,
            max_parallelism: 128,
        };
        assert_eq!(align(5, shards, out(2, 100)), 6);
        assert_eq!(align(7, shards, out(2, 100)), 12);
        assert_eq!(align(15, shards, out(2, 100)), 15);
        let q = Alignment::QuarterSteps { current: 8 };
        assert_eq!(align(9, q, out(8, 16)), 10);
        assert_eq!(align(11, q, out(8, 16)), 12);
        let scale_in = SizeWindow {
            current: 8,
            lower: 1,
            upper: 16,
        };
        assert_eq!(align(5, q, scale_in), 6, "scale-in: 75%");
        let two = Alignment::QuarterSteps { current: 2 };
        assert_eq!(align(3, two, out(2, 4)), 3);
    }

    /// A prime source stream: the scale-in to 3 used to align up to 7 and be cancelled.
    #[test]
    fn a_scale_in_below_a_prime_shard_count_stays_a_scale_in() {
        let shards = Alignment::Shards {
            shards: 7,
            max_parallelism: 128,
        };
        let window = SizeWindow {
            current: 7,
            lower: 1,
            upper: 32,
        };
        assert_eq!(
            align(3, shards, window),
            3,
            "3 subtasks: at most 3 shards each"
        );
        assert_eq!(align(4, shards, window), 4);
        let twelve = Alignment::Shards {
            shards: 12,
            max_parallelism: 128,
        };
        let from_twelve = SizeWindow {
            current: 12,
            lower: 1,
            upper: 32,
        };
        assert_eq!(
            align(5, twelve, from_twelve),
            6,
            "a divisor above, below 12"
        );
        assert_eq!(
            align(7, twelve, from_twelve),
            6,
            "no divisor in 7..12: 6 subtasks do as much each"
        );
        let kg = Alignment::KeyGroups {
            max_parallelism: 128,
        };
        let from_64 = SizeWindow {
            current: 64,
            lower: 1,
            upper: 128,
        };
        assert_eq!(align(40, kg, from_64), 32, "never back up to 64");
    }

    /// Every mode, both directions, prime, power-of-two and odd counts: the aligned size is on
    /// the decision's side of the current size and within bounds (or the size asked for), and
    /// a divisor alignment never gives a unit more to do than the size asked for would.
    #[test]
    fn every_alignment_keeps_the_direction_of_the_decision() {
        let counts = [
            1u32, 2, 3, 4, 5, 7, 8, 9, 12, 13, 15, 16, 31, 32, 64, 97, 128,
        ];
        for &n in &counts {
            let modes = [
                Alignment::None,
                Alignment::KeyGroups { max_parallelism: n },
                Alignment::Shards {
                    shards: n,
                    max_parallelism: 128,
                },
                Alignment::QuarterSteps { current: n },
            ];
            for mode in modes {
                for current in 1..=40u32 {
                    for size in 1..=40u32 {
                        let bounds = [(1, 40), (2, 20), (size.min(current), size.max(current))];
                        for (lower, upper) in bounds {
                            // A job's parallelism never exceeds its max parallelism.
                            let ceiling = match mode {
                                Alignment::KeyGroups { max_parallelism } => max_parallelism,
                                _ => u32::MAX,
                            };
                            let upper = upper.min(ceiling);
                            if lower > upper || size > upper || current > upper || size < lower {
                                continue;
                            }
                            let window = SizeWindow {
                                current,
                                lower,
                                upper,
                            };
                            let got = align(size, mode, window);
                            let what = format!("{mode:?} {window:?} size {size} -> {got}");
                            if got == size {
                                continue;
                            }
                            assert!(got >= lower && got <= upper, "out of bounds: {what}");
                            if size < current {
                                assert!(got < current, "a scale-in undone: {what}");
                            } else {
                                assert!(got > current, "a scale-out undone: {what}");
                            }
                            if let Alignment::KeyGroups {
                                max_parallelism: parts,
                            }
                            | Alignment::Shards { shards: parts, .. } = mode
                            {
                                if size < parts && got < size {
                                    assert!(
                                        parts.div_ceil(got) <= parts.div_ceil(size),
                                        "a busier unit than asked for: {what}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

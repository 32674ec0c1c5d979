//! Proportional sizing, after the Flink Kubernetes Operator's autoscaler: size a target for the
//! capacity that drains the backlog within the catch-up time, absorbs a restart, and carries the
//! input rate at the target utilisation. Pure arithmetic, no AWS.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Proportional {
    /// Fraction of its true capacity the target should run at (the operator's target utilisation).
    #[serde(default = "default_utilisation")]
    pub target_utilisation: f64,
    /// Time in which a backlog should be drained.
    #[serde(default = "default_catch_up")]
    pub catch_up_seconds: f64,
    /// How long a rescale stops processing (savepoint and restart), to be caught up as well.
    #[serde(default = "default_restart")]
    pub restart_seconds: f64,
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
        Ok(())
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

/// The smallest aligned size at or above `size` (never above `upper`), or `size` itself when no
/// aligned size fits.
pub fn align(size: u32, alignment: Alignment, upper: u32) -> u32 {
    let first_divisor = |n: u32, from: u32, to: u32| (from..=to.min(n)).find(|p| n % p == 0);
    match alignment {
        Alignment::None => size,
        Alignment::KeyGroups { max_parallelism } => {
            // Like the operator: search up to half the max parallelism, else take the size.
            first_divisor(max_parallelism, size, upper.min(max_parallelism / 2))
                .unwrap_or(size)
                .min(max_parallelism)
        }
        Alignment::Shards {
            shards,
            max_parallelism,
        } => {
            if size >= shards {
                size.min(max_parallelism)
            } else {
                first_divisor(shards, size, upper).unwrap_or(size)
            }
        }
        Alignment::QuarterSteps { current } => {
            if current < 4 {
                return size;
            }
            // In u64: eight times a (hypothetical) 2^29-shard stream is past u32.
            (2..=8u64)
                .map(|k| (u64::from(current) * k).div_ceil(4))
                .find(|&c| c >= u64::from(size) && c <= u64::from(upper))
                .map_or(size, |c| c as u32)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Proportional {
        Proportional {
            target_utilisation: 0.5,
            catch_up_seconds: 100.0,
            restart_seconds: 10.0,
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

    #[test]
    fn sizes_align_to_key_groups_shards_and_quarters() {
        let kg = Alignment::KeyGroups {
            max_parallelism: 128,
        };
        assert_eq!(align(5, kg, 1000), 8);
        assert_eq!(align(3, kg, 1000), 4);
        assert_eq!(align(5, kg, 6), 5, "no divisor within the upper bound");
        assert_eq!(align(70, kg, 1000), 70, "above half the max: taken as is");
        assert_eq!(align(200, kg, 1000), 128);
        let shards = Alignment::Shards {
            shards: 12,
            max_parallelism: 128,
        };
        assert_eq!(align(5, shards, 100), 6);
        assert_eq!(align(7, shards, 100), 12);
        assert_eq!(align(15, shards, 100), 15);
        let q = Alignment::QuarterSteps { current: 8 };
        assert_eq!(align(9, q, 16), 10);
        assert_eq!(align(11, q, 16), 12);
        assert_eq!(align(5, q, 16), 6, "scale-in: 75%");
        assert_eq!(align(3, Alignment::QuarterSteps { current: 2 }, 4), 3);
    }
}

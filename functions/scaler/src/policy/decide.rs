//! The decision, pure: the target's observed shape, its load and remembered state, and the
//! alarm's direction in; a [`ScalingDecision`] out, and the state's bookkeeping updated
//! (pending scale-in window, scale-up record, blocked scale-ups). A chain of small stages, each
//! of which may end the decision: [`excluded_period`] (one of the target's excluded periods is
//! in effect), [`gate`] (paused, busy, blocked, cooldown, ineffective),
//! [`recommend`] (the sizing), [`scale_in_limits`] (draining, 40% floor, HDFS, delay window),
//! [`service_limits`] (alignment, the target's ceiling, Kinesis' API limits and quota) and
//! [`bounds`] (min and max); then [`act`] records what the action is expected to achieve.

use chrono::{DateTime, Duration, Utc};

use super::config::{Direction, Sizing, TargetKind, TargetPolicy};
use super::decision::{Observed, ScalingDecision, SkipReason};
use super::state::{PendingScaleIn, ScaleUpRecord, TargetState};
use crate::restart::{RestartSample, RestartTime, restart_time};
use crate::sizing::{Alignment, LoadSample, Proportional, SizeWindow, align, proportional_size};

/// Kinesis allows 10 `UpdateShardCount` calls per stream in a rolling 24 hours.
pub const KINESIS_CALLS_PER_DAY: usize = 10;
/// One scale-in step goes at most down to 40% of the current size (the Flink autoscaler's
/// default `scale-down.max-factor` of 0.6).
pub const SCALE_IN_FLOOR: f64 = 0.4;

/// The size `sizing` leads to from `current`, before bounds and service limits; `None` when
/// proportional sizing has no load to work from.
pub fn next_size(
    current: u32,
    direction: Direction,
    sizing: Sizing,
    load: Option<&LoadSample>,
) -> Option<u32> {
    Some(match (direction, sizing) {
        (Direction::Out, Sizing::Step(s)) => current.saturating_add(s),
        (Direction::Out, Sizing::Factor(f)) => {
            ((current as f64 * f).ceil() as u32).max(current + 1)
        }
        (Direction::In, Sizing::Step(s)) => current.saturating_sub(s),
        (Direction::In, Sizing::Factor(f)) => {
            ((current as f64 / f).floor() as u32).min(current.saturating_sub(1))
        }
        (_, Sizing::Proportional(p)) => proportional_size(current, &p, load?)?,
    })
}

/// Whether a scale-up raised throughput by at least `min_fraction` of what it was expected to;
/// `None` when that cannot be judged (the target is not saturated, so its processed rate is
/// the input rate, not its capacity; or the check is off).
pub fn effectiveness(
    up: &ScaleUpRecord,
    load: &LoadSample,
    min_fraction: f64,
) -> Option<Result<(), String>> {
    if !load.saturated() || up.expected_rate <= up.rate_before || min_fraction <= 0.0 {
        return None;
    }
    let expected = up.expected_rate - up.rate_before;
    let actual = load.true_processing_rate() - up.rate_before;
    Some(if actual < min_fraction * expected {
        Err(format!(
            "the scale-up from {} to {} at {} raised throughput by {actual:.0} records/s, \
             less than {:.0}% of the expected {expected:.0}: scale-ups blocked until `resume`",
            up.from,
            up.to,
            up.at,
            min_fraction * 100.0
        ))
    } else {
        Ok(())
    })
}

/// What one decision is about.
struct Ask<'a> {
    policy: &'a TargetPolicy,
    direction: Direction,
    load: Option<&'a LoadSample>,
    now: DateTime<Utc>,
}

impl Ask<'_> {
    fn id(&self) -> &str {
        &self.policy.id
    }
    fn skip(&self, reason: SkipReason, detail: impl Into<String>) -> ScalingDecision {
        ScalingDecision::skip(self.id(), reason, detail)
    }
    fn defer(&self, reason: SkipReason, detail: impl Into<String>) -> ScalingDecision {
        ScalingDecision::defer(self.id(), reason, detail)
    }
}

/// A target ready to be sized.
struct Ready {
    current: u32,
    alignment: Alignment,
    max_size: Option<u32>,
    hdfs_percent: Option<f64>,
}

/// The sizing's recommendation, and for proportional sizing the restart time it used.
struct Recommendation {
    sizing: Sizing,
    recommended: u32,
    restart: Option<RestartTime>,
}

/// The size the stages arrive at, and what limited it.
struct Plan {
    to: u32,
    limits: Vec<String>,
    /// The sizes one step may go to at all (the 40% floor, HDFS, the target's ceiling,
    /// Kinesis' half to double): the policy's bounds are approached within them, a step at a
    /// time, never by a step the target or its service refuses.
    lowest: u32,
    highest: u32,
}

impl Plan {
    fn limit(&mut self, to: u32, why: impl Into<String>) {
        self.limits.push(why.into());
        self.to = to;
    }

    fn at_least(&mut self, lowest: u32) {
        self.lowest = self.lowest.max(lowest);
    }

    fn at_most(&mut self, highest: u32) {
        self.highest = self.highest.min(highest);
    }
}

/// A stage either hands on what the next needs, or ends the decision.
type Stage<T> = Result<T, ScalingDecision>;

/// Decides one target's action for one alarm direction, updating the state's bookkeeping
/// (pending scale-in, scale-up record, blocked scale-ups).
pub fn decide(
    policy: &TargetPolicy,
    state: &mut TargetState,
    observed: &Observed,
    direction: Direction,
    load: Option<&LoadSample>,
    why: &str,
    now: DateTime<Utc>,
) -> ScalingDecision {
    let ask = Ask {
        policy,
        direction,
        load,
        now,
    };
    stages(&ask, state, observed, why).unwrap_or_else(|ended| ended)
}

fn stages(
    ask: &Ask,
    state: &mut TargetState,
    observed: &Observed,
    why: &str,
) -> Stage<ScalingDecision> {
    excluded_period(ask)?;
    let ready = gate(ask, state, observed)?;
    let rec = recommend(ask, state, &ready)?;
    let mut plan = Plan {
        to: rec.recommended,
        limits: Vec::new(),
        lowest: 0,
        highest: u32::MAX,
    };
    if ask.direction == Direction::In {
        scale_in_limits(ask, state, &ready, &mut plan)?;
    }
    service_limits(ask, state, &ready, &mut plan)?;
    bounds(ask, &ready, &mut plan)?;
    Ok(act(ask, state, &ready, &rec, &plan, why))
}

/// No scaling while an excluded period is in effect: never in, out only when the policy says
/// so. Before the gate, so a blocked decision leaves the state's bookkeeping alone (a scale-out
/// that may not happen does not cancel a waiting scale-in). When periods overlap, the first
/// configured one in effect names the block.
fn excluded_period(ask: &Ask) -> Stage<()> {
    if ask.direction == Direction::Out && ask.policy.scale_out_during_exclusion {
        return Ok(());
    }
    let periods = &ask.policy.excluded_periods;
    let Some(active) = periods.iter().find_map(|p| p.is_active(ask.now)) else {
        return Ok(());
    };
    Err(ask.skip(
        SkipReason::ExcludedPeriod,
        format!(
            "excluded period {} from {} until {}: no scale-{} during it",
            active.name,
            active.started,
            active.ends,
            ask.direction.word()
        ),
    ))
}

/// Whether the target may be sized at all now: not paused, ready, scale-ups not blocked, out of
/// its cooldown, and its last scale-up not ineffective.
fn gate(ask: &Ask, state: &mut TargetState, observed: &Observed) -> Stage<Ready> {
    if state.paused {
        return Err(ask.skip(
            SkipReason::Paused,
            "the target is paused (ops command resume)",
        ));
    }
    let ready = match observed {
        Observed::Ready {
            size,
            alignment,
            max_size,
            hdfs_percent,
        } => Ready {
            current: *size,
            alignment: *alignment,
            max_size: *max_size,
            hdfs_percent: *hdfs_percent,
        },
        Observed::Busy { detail } => return Err(ask.defer(SkipReason::Busy, detail.clone())),
        Observed::Unsupported { detail } => {
            return Err(ask.skip(SkipReason::Unsupported, detail.clone()));
        }
        Observed::OwnedElsewhere { detail } => {
            return Err(ask.skip(SkipReason::OwnedElsewhere, detail.clone()));
        }
    };
    if ask.direction == Direction::Out {
        // Any scale-out recommendation cancels a waiting scale-in.
        state.memo.pending_scale_in = None;
        if let Some(why_blocked) = &state.memo.blocked_scale_up {
            return Err(ask.skip(SkipReason::Ineffective, why_blocked.clone()));
        }
    }
    cooldown(ask, state)?;
    if ask.direction == Direction::Out
        && let (Some(up), Some(load)) = (&state.memo.last_scale_up, ask.load)
        && let Some(Err(detail)) = effectiveness(up, load, ask.policy.min_effectiveness)
    {
        state.memo.blocked_scale_up = Some(detail.clone());
        return Err(ask.skip(SkipReason::Ineffective, detail));
    }
    Ok(ready)
}

fn cooldown(ask: &Ask, state: &TargetState) -> Stage<()> {
    let Some(last) = state.last_action_at else {
        return Ok(());
    };
    let cooldown = match ask.direction {
        Direction::Out => ask.policy.scale_out_cooldown_seconds,
        Direction::In => ask.policy.scale_in_cooldown_seconds,
    };
    let until = last + Duration::seconds(cooldown);
    if ask.now < until {
        return Err(ask.skip(
            SkipReason::Cooldown,
            format!(
                "last action at {last}; no scale-{} before {until}",
                ask.direction.word()
            ),
        ));
    }
    Ok(())
}

/// The size the policy's sizing recommends; ends the decision when there is no basis for one
/// (`no_data`, deferred) or no change is needed (`sufficient`). Proportional sizing uses the
/// restart time measured from the target's rescales when its policy asks for it.
fn recommend(ask: &Ask, state: &TargetState, ready: &Ready) -> Stage<Recommendation> {
    let (sizing, restart) = match ask.direction {
        Direction::Out => ask.policy.scale_out,
        Direction::In => ask.policy.scale_in,
    }
    .with_restart(&state.memo.restarts);
    let Some(recommended) = next_size(ready.current, ask.direction, sizing, ask.load) else {
        return Err(ask.defer(
            SkipReason::NoData,
            "proportional sizing has no recent input and processing rates to size from",
        ));
    };
    let sufficient = match ask.direction {
        Direction::Out => recommended <= ready.current,
        Direction::In => recommended >= ready.current,
    };
    if sufficient {
        let with = restart.map(|r| format!("; {}", r.describe()));
        return Err(ask.skip(
            SkipReason::Sufficient,
            format!(
                "the measured load needs {recommended}, the target has {}: no scale-{}{}",
                ready.current,
                ask.direction.word(),
                with.unwrap_or_default()
            ),
        ));
    }
    Ok(Recommendation {
        sizing,
        recommended,
        restart,
    })
}

impl Sizing {
    /// Proportional sizing with the restart time it is to use (configured, or measured from
    /// `restarts`); other sizings as they are.
    fn with_restart(self, restarts: &[RestartSample]) -> (Sizing, Option<RestartTime>) {
        let Sizing::Proportional(p) = self else {
            return (self, None);
        };
        let restart = restart_time(p.restart_seconds, p.measured_restart, restarts);
        let sized = Proportional {
            restart_seconds: restart.seconds,
            ..p
        };
        (Sizing::Proportional(sized), Some(restart))
    }
}

/// On the way down: not while draining a backlog, never below 40% of the current size in one
/// step, never so far that HDFS overfills, and only after the delay window, to the highest
/// size recommended in it.
fn scale_in_limits(
    ask: &Ask,
    state: &mut TargetState,
    ready: &Ready,
    plan: &mut Plan,
) -> Stage<()> {
    let current = ready.current;
    if let Some(load) = ask.load {
        let secs = load.backlog_seconds();
        if secs > ask.policy.scale_in_max_backlog_seconds {
            return Err(ask.skip(
                SkipReason::Draining,
                format!(
                    "a backlog of {:.0} records takes {secs:.0} s to drain (limit {} s): no scale-in while draining",
                    load.backlog_records, ask.policy.scale_in_max_backlog_seconds
                ),
            ));
        }
    }
    let floor = (current as f64 * SCALE_IN_FLOOR).ceil() as u32;
    plan.at_least(floor);
    if plan.to < floor {
        plan.limit(floor, "40% floor");
    }
    hdfs_limit(ask, ready, plan)?;
    delay_window(ask, state, plan)
}

/// A core group shrinks only as far as keeps HDFS under its limit (the data stays; it spreads
/// over fewer nodes).
fn hdfs_limit(ask: &Ask, ready: &Ready, plan: &mut Plan) -> Stage<()> {
    let (
        Some(pct),
        TargetKind::EmrInstanceGroup {
            hdfs_max_utilisation_percent: max_pct,
            ..
        },
    ) = (ready.hdfs_percent, &ask.policy.kind)
    else {
        return Ok(());
    };
    let current = ready.current;
    let hdfs_floor = (current as f64 * pct / max_pct).ceil() as u32;
    if hdfs_floor >= current {
        return Err(ask.skip(
            SkipReason::HdfsProtection,
            format!(
                "HDFS is {pct:.0}% full: {current} core nodes cannot shrink below {max_pct:.0}%"
            ),
        ));
    }
    plan.at_least(hdfs_floor);
    if plan.to < hdfs_floor {
        plan.limit(hdfs_floor, format!("HDFS at {pct:.0}%"));
    }
    Ok(())
}

/// Waits out the delay window, then takes the highest size recommended in it.
fn delay_window(ask: &Ask, state: &mut TargetState, plan: &mut Plan) -> Stage<()> {
    let pending = match state.memo.pending_scale_in.take() {
        Some(p) => PendingScaleIn {
            since: p.since,
            highest: p.highest.max(plan.to),
        },
        None => PendingScaleIn {
            since: ask.now,
            highest: plan.to,
        },
    };
    let due = pending.since + Duration::seconds(ask.policy.scale_in_delay_seconds);
    if ask.now < due {
        let detail = format!(
            "scale-in to {} recommended since {}; it waits until {due} and then goes to the highest size recommended meanwhile",
            pending.highest, pending.since
        );
        state.memo.pending_scale_in = Some(pending);
        return Err(ask.skip(SkipReason::Stabilising, detail));
    }
    if pending.highest > plan.to {
        plan.limits
            .push(format!("highest recommendation since {}", pending.since));
    }
    plan.to = pending.highest;
    Ok(())
}

/// What the target's service allows: aligned sizes, its own ceiling, and for Kinesis half to
/// double per call and 10 calls a day.
fn service_limits(ask: &Ask, state: &TargetState, ready: &Ready, plan: &mut Plan) -> Stage<()> {
    let policy = ask.policy;
    let window = SizeWindow {
        current: ready.current,
        lower: policy.min,
        upper: ready.max_size.unwrap_or(policy.max).min(policy.max),
    };
    plan.to = align(plan.to, ready.alignment, window);
    if let Some(m) = ready.max_size {
        plan.at_most(m);
        if plan.to > m {
            plan.limit(
                m,
                format!("the target's own ceiling {m} (max parallelism, or shard quota)"),
            );
        }
    }
    if let TargetKind::KinesisStream { .. } = policy.kind {
        // UpdateShardCount: at most double, at least half the open shards per call.
        let current = ready.current;
        let (lo, hi) = (current.div_ceil(2), current.saturating_mul(2));
        plan.at_least(lo);
        plan.at_most(hi);
        if plan.to > hi || plan.to < lo {
            plan.limits
                .push("UpdateShardCount allows half to double per call".into());
        }
        plan.to = plan.to.clamp(lo, hi);
        let recent = state
            .kinesis_calls
            .iter()
            .filter(|t| ask.now - **t < Duration::hours(24))
            .count();
        if recent >= KINESIS_CALLS_PER_DAY {
            return Err(ask.skip(
                SkipReason::QuotaExhausted,
                format!(
                    "{recent} UpdateShardCount calls in the last 24 h (limit {KINESIS_CALLS_PER_DAY})"
                ),
            ));
        }
    }
    Ok(())
}

/// The policy's bounds, approached within what one step may do (a target far outside them,
/// after a resize by hand or a changed policy, gets there in steps the service takes); ends
/// the decision when they leave no move in the asked direction.
fn bounds(ask: &Ask, ready: &Ready, plan: &mut Plan) -> Stage<()> {
    let (policy, current) = (ask.policy, ready.current);
    let mut bounded = plan.to.clamp(policy.min, policy.max);
    if bounded != plan.to {
        let which = if bounded < plan.to { "max" } else { "min" };
        plan.limit(bounded, which);
    }
    // On the way down the floors hold, on the way up the ceilings.
    let within = match ask.direction {
        Direction::In => bounded.max(plan.lowest),
        Direction::Out => bounded.min(plan.highest),
    };
    if within != bounded {
        plan.limit(within, "one step toward the bounds");
        bounded = within;
    }
    if bounded == current {
        return Err(ask.skip(
            SkipReason::AtBound,
            format!(
                "size {current} is at the policy bound (min {}, max {})",
                policy.min, policy.max
            ),
        ));
    }
    let moved_in_direction = match ask.direction {
        Direction::Out => bounded > current,
        Direction::In => bounded < current,
    };
    if !moved_in_direction {
        return Err(ask.skip(
            SkipReason::AtBound,
            format!(
                "limits ({}) leave no scale-{} from {current}",
                plan.limits.join(", "),
                ask.direction.word()
            ),
        ));
    }
    Ok(())
}

/// The action, with what limited it and (for a scale-up with load) what it should achieve.
fn act(
    ask: &Ask,
    state: &mut TargetState,
    ready: &Ready,
    rec: &Recommendation,
    plan: &Plan,
    why: &str,
) -> ScalingDecision {
    let (current, to) = (ready.current, plan.to);
    state.memo.pending_scale_in = None;
    // What the scale-up should achieve, per unit added; from nothing (a task group at 0)
    // there is no rate per unit to expect, and no record (its rate would be infinite or NaN,
    // which the stored JSON cannot hold: the whole memo would no longer read back).
    state.memo.last_scale_up = match (ask.direction, ask.load) {
        (Direction::Out, Some(load)) if current > 0 => Some(ScaleUpRecord {
            at: ask.now,
            from: current,
            to,
            rate_before: load.true_processing_rate(),
            expected_rate: load.true_processing_rate() * to as f64 / current as f64,
            checked: false,
        })
        .filter(|up| up.rate_before.is_finite() && up.expected_rate.is_finite()),
        _ => None,
    };
    let mut reason = why.to_string();
    if matches!(rec.sizing, Sizing::Proportional(_))
        && let Some(load) = ask.load
    {
        reason.push_str(&format!(
            "; load {:.0} records/s in, {:.0} processed (true {:.0}), backlog {:.0}: {} needed",
            load.input_rate,
            load.processing_rate,
            load.true_processing_rate(),
            load.backlog_records,
            rec.recommended
        ));
        if let Some(restart) = rec.restart {
            reason.push_str(&format!("; {}", restart.describe()));
        }
    }
    if !plan.limits.is_empty() {
        reason.push_str(&format!(" (limited by {})", plan.limits.join(", ")));
    }
    ScalingDecision::Act {
        target: ask.id().to_string(),
        from: current,
        to,
        reason,
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn kinesis() -> TargetPolicy {
        serde_json::from_str(
            r#"{"id": "raw", "kind": "kinesis_stream", "stream": "s", "min": 2, "max": 10}"#,
        )
        .unwrap()
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T12:00:00Z")
            .unwrap()
            .to_utc()
    }

    /// Decides with a fresh copy of `state`, at `now() + at_minutes`.
    fn run(
        p: &TargetPolicy,
        state: &mut TargetState,
        size: u32,
        dir: Direction,
        load: Option<&LoadSample>,
        at_minutes: i64,
    ) -> ScalingDecision {
        decide(
            p,
            state,
            &Observed::ready(size),
            dir,
            load,
            "why",
            now() + Duration::minutes(at_minutes),
        )
    }

    fn d(p: &TargetPolicy, state: &TargetState, size: u32, dir: Direction) -> ScalingDecision {
        run(p, &mut state.clone(), size, dir, None, 0)
    }

    fn act(d: &ScalingDecision) -> Option<(u32, u32)> {
        match d {
            ScalingDecision::Act { from, to, .. } => Some((*from, *to)),
            _ => None,
        }
    }

    fn skipped(d: &ScalingDecision) -> Option<SkipReason> {
        match d {
            ScalingDecision::Skip { reason, .. } => Some(*reason),
            _ => None,
        }
    }

    /// The raw stream with a weekday lunchtime period (11:00 to 13:00 UTC; `now()` is a
    /// Tuesday at 12:00) and whether scale-outs may go on during it.
    fn excluded(scale_out: bool) -> TargetPolicy {
        serde_json::from_str(&format!(
            r#"{{"id": "raw", "kind": "kinesis_stream", "stream": "s", "min": 2, "max": 10,
                "scale_in_delay_seconds": 0, "scale_out_during_exclusion": {scale_out},
                "excluded_periods": [{{"name": "batch-loads", "cron": "0 11 ? * MON-FRI *",
                                       "duration": "2h", "time_zone": "UTC"}}]}}"#
        ))
        .unwrap()
    }

    #[test]
    fn an_excluded_period_blocks_scale_in_always_and_scale_out_unless_allowed() {
        let st = TargetState::default();
        let blocked = d(&excluded(false), &st, 4, Direction::Out);
        assert_eq!(skipped(&blocked), Some(SkipReason::ExcludedPeriod));
        let ScalingDecision::Skip { detail, .. } = &blocked else {
            panic!("{blocked:?}")
        };
        assert_eq!(
            detail,
            "excluded period batch-loads from 2026-11-24 11:00:00 UTC until 2026-11-24 13:00:00 UTC: no scale-out during it"
        );
        assert_eq!(
            skipped(&d(&excluded(true), &st, 4, Direction::In)),
            Some(SkipReason::ExcludedPeriod),
            "scale-in is blocked whatever the policy says"
        );
        assert_eq!(
            act(&d(&excluded(true), &st, 4, Direction::Out)),
            Some((4, 8))
        );
        // At 13:00 the period is over.
        let p = excluded(false);
        let after = run(&p, &mut st.clone(), 4, Direction::Out, None, 60);
        assert_eq!(act(&after), Some((4, 8)));
        let after = run(&p, &mut st.clone(), 4, Direction::In, None, 60);
        assert_eq!(act(&after), Some((4, 3)));
    }

    #[test]
    fn a_blocked_scale_out_leaves_a_waiting_scale_in_alone() {
        let mut st = TargetState::default();
        let waiting = PendingScaleIn {
            since: now() - Duration::minutes(5),
            highest: 3,
        };
        st.memo.pending_scale_in = Some(waiting.clone());
        let out = run(&excluded(false), &mut st, 4, Direction::Out, None, 0);
        assert_eq!(skipped(&out), Some(SkipReason::ExcludedPeriod));
        assert_eq!(st.memo.pending_scale_in, Some(waiting));
    }

    #[test]
    fn scale_out_doubles_within_bounds_and_api_limits() {
        let p = kinesis();
        let st = TargetState::default();
        assert_eq!(act(&d(&p, &st, 2, Direction::Out)), Some((2, 4)));
        assert_eq!(
            act(&d(&p, &st, 8, Direction::Out)),
            Some((8, 10)),
            "capped by max"
        );
        assert_eq!(
            skipped(&d(&p, &st, 10, Direction::Out)),
            Some(SkipReason::AtBound)
        );
    }

    #[test]
    fn scale_in_waits_for_its_delay_and_takes_the_highest_recommendation() {
        let mut p = kinesis();
        p.scale_in = Sizing::Factor(4.0);
        p.scale_in_delay_seconds = 3600;
        let mut st = TargetState::default();
        // First recommendation (10 / 4 -> 2, held at the 40% floor: 4) only starts the window.
        let first = run(&p, &mut st, 10, Direction::In, None, 0);
        assert_eq!(skipped(&first), Some(SkipReason::Stabilising), "{first:?}");
        assert_eq!(st.memo.pending_scale_in.as_ref().unwrap().highest, 4);
        // A later, higher recommendation (12 / 4 -> 3, floor 5) raises the target.
        let mid = run(&p, &mut st, 12, Direction::In, None, 30);
        assert_eq!(skipped(&mid), Some(SkipReason::Stabilising));
        assert_eq!(st.memo.pending_scale_in.as_ref().unwrap().highest, 5);
        // After the window: the highest recommendation, not the latest.
        let due = run(&p, &mut st, 10, Direction::In, None, 61);
        assert_eq!(act(&due), Some((10, 5)), "{due:?}");
        assert!(st.memo.pending_scale_in.is_none());
        // A scale-out recommendation cancels a waiting scale-in.
        let mut st = TargetState::default();
        run(&p, &mut st, 10, Direction::In, None, 0);
        run(&p, &mut st, 10, Direction::Out, None, 10);
        assert!(st.memo.pending_scale_in.is_none());
        // Without a delay: never below 40% of the current size in one step (4), and a stream
        // at most halves per UpdateShardCount (5); never below min.
        p.scale_in_delay_seconds = 0;
        assert_eq!(
            act(&d(&p, &TargetState::default(), 10, Direction::In)),
            Some((10, 5))
        );
        let mut group = p.clone();
        group.kind = TargetKind::EmrInstanceGroup {
            cluster_id: "j-1".into(),
            instance_group_id: "ig-1".into(),
            allow_core: false,
            hdfs_max_utilisation_percent: 80.0,
            yarn_rm_url: None,
            decommission_timeout_seconds: 120,
        };
        assert_eq!(
            act(&d(&group, &TargetState::default(), 10, Direction::In)),
            Some((10, 4))
        );
        assert_eq!(
            skipped(&d(&p, &TargetState::default(), 2, Direction::In)),
            Some(SkipReason::AtBound)
        );
        p.scale_in = Sizing::Step(1);
        p.min = 1;
        assert_eq!(
            act(&d(&p, &TargetState::default(), 2, Direction::In)),
            Some((2, 1)),
            "small targets can still shrink"
        );
    }

    #[test]
    fn no_scale_in_while_draining_a_backlog() {
        let mut p = kinesis();
        p.scale_in_delay_seconds = 0;
        let draining = LoadSample {
            input_rate: 100.0,
            processing_rate: 200.0,
            busy_ratio: None,
            backlog_records: 60_000.0,
        };
        let d = run(
            &p,
            &mut TargetState::default(),
            6,
            Direction::In,
            Some(&draining),
            0,
        );
        assert_eq!(skipped(&d), Some(SkipReason::Draining), "{d:?}");
        let drained = LoadSample {
            backlog_records: 0.0,
            ..draining
        };
        let d = run(
            &p,
            &mut TargetState::default(),
            6,
            Direction::In,
            Some(&drained),
            0,
        );
        assert_eq!(act(&d), Some((6, 5)));
    }

    /// A Flink job sized proportionally, its load, and its shape (parallelism 4 of 128).
    fn proportional() -> (TargetPolicy, LoadSample, Observed) {
        let p: TargetPolicy = serde_json::from_str(
            r#"{"id": "job", "kind": "flink_job", "rest_url": "http://127.0.0.1:8081", "job_name": "j",
                "mode": "adaptive", "min": 1, "max": 64,
                "scale_out": {"proportional": {"target_utilisation": 0.5, "catch_up_seconds": 100, "restart_seconds": 10}},
                "load": {"input_rate": {"namespace": "n", "name": "in"}, "processing_rate": {"namespace": "n", "name": "out"}}}"#,
        )
        .unwrap();
        let load = LoadSample {
            input_rate: 1000.0,
            processing_rate: 1000.0,
            busy_ratio: None,
            backlog_records: 50_000.0,
        };
        let observed = Observed::Ready {
            size: 4,
            alignment: Alignment::KeyGroups {
                max_parallelism: 128,
            },
            max_size: Some(128),
            hdfs_percent: None,
        };
        (p, load, observed)
    }

    #[test]
    fn proportional_sizing_aligns_and_reports_the_load() {
        let (p, load, observed) = proportional();
        let mut st = TargetState::default();
        let d = decide(
            &p,
            &mut st,
            &observed,
            Direction::Out,
            Some(&load),
            "lag",
            now(),
        );
        // 11 needed, aligned up to 16 (a divisor of 128).
        assert_eq!(act(&d), Some((4, 16)), "{d:?}");
        let ScalingDecision::Act { reason, .. } = &d else {
            unreachable!()
        };
        assert!(reason.contains("11 needed"), "{reason}");
        let rec = st.memo.last_scale_up.as_ref().unwrap();
        assert_eq!((rec.rate_before, rec.expected_rate), (1000.0, 4000.0));
        // Enough capacity already: no scale-out.
        let calm = LoadSample {
            processing_rate: 10_000.0,
            backlog_records: 0.0,
            ..load
        };
        let d = decide(
            &p,
            &mut TargetState::default(),
            &observed,
            Direction::Out,
            Some(&calm),
            "x",
            now(),
        );
        assert_eq!(skipped(&d), Some(SkipReason::Sufficient));
    }

    /// The proportional job in savepoint mode, its restart measured (at most 300 s; 10 s
    /// configured until a rescale is measured).
    fn measured() -> (TargetPolicy, LoadSample, Observed) {
        let (mut p, load, observed) = proportional();
        p.kind = serde_json::from_value(serde_json::json!({"kind": "flink_job",
            "rest_url": "http://127.0.0.1:8081", "job_name": "j", "mode": "savepoint", "jar_id": "jar"}))
        .unwrap();
        let Sizing::Proportional(prop) = &mut p.scale_out else {
            unreachable!()
        };
        prop.measured_restart = Some(crate::restart::MeasuredRestart { max_seconds: 300.0 });
        (p, load, observed)
    }

    fn restarts(seconds: &[f64]) -> TargetState {
        let mut st = TargetState::default();
        for s in seconds {
            crate::restart::remember(
                &mut st.memo.restarts,
                RestartSample {
                    stopped_at: now() - Duration::hours(1),
                    seconds: *s,
                    from: 2,
                    to: 4,
                },
            );
        }
        st
    }

    fn reason(d: &ScalingDecision) -> &str {
        match d {
            ScalingDecision::Act { reason, .. } => reason,
            ScalingDecision::Skip { detail, .. } | ScalingDecision::Defer { detail, .. } => detail,
        }
    }

    #[test]
    fn proportional_sizing_uses_the_median_measured_restart_within_its_maximum() {
        let (p, load, observed) = measured();
        let at = |st: &mut TargetState| {
            decide(&p, st, &observed, Direction::Out, Some(&load), "lag", now())
        };
        // No measurement: the configured 10 s (500 + 100 + 2000 = 2600: 11, aligned to 16).
        let fallback = at(&mut TargetState::default());
        assert_eq!(act(&fallback), Some((4, 16)));
        assert!(
            reason(&fallback).contains("restart 10 s (configured: no rescale measured yet)"),
            "{fallback:?}"
        );
        // Measured 200, 250 and 5000 s: the median 250 s. 500 + 2500 + 2000 = 5000: 20 -> 32.
        let d = at(&mut restarts(&[200.0, 5000.0, 250.0]));
        assert_eq!(act(&d), Some((4, 32)), "{d:?}");
        assert!(
            reason(&d).contains("20 needed; restart 250 s (median of 3 measured rescales)"),
            "{d:?}"
        );
        // Measured far above the maximum: 300 s. 500 + 3000 + 2000 = 5500: 22 -> 32.
        let d = at(&mut restarts(&[900.0]));
        assert!(
            reason(&d)
                .contains("22 needed; restart 300 s (median 900 s of 1 measured rescale, capped"),
            "{d:?}"
        );
        // The restart used is said when no change is needed too.
        let calm = LoadSample {
            processing_rate: 10_000.0,
            backlog_records: 0.0,
            ..load
        };
        let d = decide(
            &p,
            &mut restarts(&[30.0]),
            &observed,
            Direction::Out,
            Some(&calm),
            "x",
            now(),
        );
        assert_eq!(skipped(&d), Some(SkipReason::Sufficient));
        assert!(
            reason(&d).ends_with("no scale-out; restart 30 s (median of 1 measured rescale)"),
            "{d:?}"
        );
    }

    #[test]
    fn without_measured_restart_the_configured_value_stays_whatever_was_measured() {
        let (p, load, observed) = proportional();
        let d = decide(
            &p,
            &mut restarts(&[250.0]),
            &observed,
            Direction::Out,
            Some(&load),
            "lag",
            now(),
        );
        assert_eq!(act(&d), Some((4, 16)));
        assert!(reason(&d).contains("restart 10 s (configured)"), "{d:?}");
    }

    #[test]
    fn proportional_sizing_defers_without_data_and_stays_under_the_jobs_ceiling() {
        let (p, load, observed) = proportional();
        // No data: deferred, not dropped.
        let d = decide(
            &p,
            &mut TargetState::default(),
            &observed,
            Direction::Out,
            None,
            "x",
            now(),
        );
        assert!(
            matches!(
                d,
                ScalingDecision::Defer {
                    reason: SkipReason::NoData,
                    ..
                }
            ),
            "{d:?}"
        );
        // Never above the job's max parallelism.
        let small = Observed::Ready {
            size: 4,
            alignment: Alignment::None,
            max_size: Some(6),
            hdfs_percent: None,
        };
        let d = decide(
            &p,
            &mut TargetState::default(),
            &small,
            Direction::Out,
            Some(&load),
            "x",
            now(),
        );
        assert_eq!(act(&d), Some((4, 6)));
    }

    #[test]
    fn an_ineffective_scale_up_blocks_the_next() {
        let mut p = kinesis();
        p.scale_out_cooldown_seconds = 60;
        let mut st = TargetState::default();
        let before = LoadSample {
            input_rate: 1000.0,
            processing_rate: 500.0,
            busy_ratio: None,
            backlog_records: 100_000.0,
        };
        assert_eq!(
            act(&run(&p, &mut st, 2, Direction::Out, Some(&before), 0)),
            Some((2, 4))
        );
        st.last_action_at = Some(now());
        // Twice the shards, but throughput barely moved (500 -> 520, expected 1000).
        let after = LoadSample {
            processing_rate: 520.0,
            ..before
        };
        let d = run(&p, &mut st, 4, Direction::Out, Some(&after), 10);
        assert_eq!(skipped(&d), Some(SkipReason::Ineffective), "{d:?}");
        assert!(st.memo.blocked_scale_up.is_some());
        assert_eq!(
            skipped(&run(&p, &mut st, 4, Direction::Out, Some(&before), 20)),
            Some(SkipReason::Ineffective),
            "stays blocked"
        );
        // An effective one is not blocked.
        let mut st = TargetState::default();
        run(&p, &mut st, 2, Direction::Out, Some(&before), 0);
        st.last_action_at = Some(now());
        let good = LoadSample {
            processing_rate: 950.0,
            ..before
        };
        assert!(act(&run(&p, &mut st, 4, Direction::Out, Some(&good), 10)).is_some());
    }

    #[test]
    fn core_groups_keep_hdfs_below_its_limit() {
        let mut p: TargetPolicy = serde_json::from_str(
            r#"{"id": "core", "kind": "emr_instance_group", "cluster_id": "j-1", "instance_group_id": "ig-1",
                "allow_core": true, "hdfs_max_utilisation_percent": 80, "min": 1, "max": 20,
                "scale_in": {"step": 5}, "scale_in_delay_seconds": 0}"#,
        )
        .unwrap();
        let at = |pct: f64| Observed::Ready {
            size: 10,
            alignment: Alignment::None,
            max_size: None,
            hdfs_percent: Some(pct),
        };
        let d = decide(
            &p,
            &mut TargetState::default(),
            &at(56.0),
            Direction::In,
            None,
            "x",
            now(),
        );
        assert_eq!(act(&d), Some((10, 7)), "56% on 10 nodes is 80% on 7: {d:?}");
        let d = decide(
            &p,
            &mut TargetState::default(),
            &at(79.0),
            Direction::In,
            None,
            "x",
            now(),
        );
        assert_eq!(skipped(&d), Some(SkipReason::HdfsProtection));
        p.scale_in = Sizing::Step(1);
        let d = decide(
            &p,
            &mut TargetState::default(),
            &at(10.0),
            Direction::In,
            None,
            "x",
            now(),
        );
        assert_eq!(act(&d), Some((10, 9)));
    }

    #[test]
    fn cooldowns_and_pause() {
        let p = kinesis();
        let recent = TargetState {
            last_action_at: Some(now() - Duration::minutes(2)),
            ..Default::default()
        };
        assert_eq!(
            skipped(&d(&p, &recent, 4, Direction::Out)),
            Some(SkipReason::Cooldown)
        );
        let later = TargetState {
            last_action_at: Some(now() - Duration::minutes(30)),
            ..Default::default()
        };
        assert!(act(&d(&p, &later, 4, Direction::Out)).is_some());
        assert_eq!(
            skipped(&d(&p, &later, 4, Direction::In)),
            Some(SkipReason::Cooldown),
            "the scale-in stabilisation window is longer"
        );
        let paused = TargetState {
            paused: true,
            ..Default::default()
        };
        assert_eq!(
            skipped(&d(&p, &paused, 4, Direction::Out)),
            Some(SkipReason::Paused)
        );
    }

    #[test]
    fn busy_unsupported_owned_elsewhere_and_the_kinesis_quota() {
        let p = kinesis();
        let busy = Observed::Busy {
            detail: "UPDATING".into(),
        };
        assert!(matches!(
            decide(
                &p,
                &mut TargetState::default(),
                &busy,
                Direction::Out,
                None,
                "x",
                now()
            ),
            ScalingDecision::Defer {
                reason: SkipReason::Busy,
                ..
            }
        ));
        for (observed, reason) in [
            (
                Observed::Unsupported {
                    detail: "on-demand".into(),
                },
                SkipReason::Unsupported,
            ),
            (
                Observed::OwnedElsewhere {
                    detail: "managed scaling".into(),
                },
                SkipReason::OwnedElsewhere,
            ),
        ] {
            let d = decide(
                &p,
                &mut TargetState::default(),
                &observed,
                Direction::Out,
                None,
                "x",
                now(),
            );
            assert_eq!(skipped(&d), Some(reason));
        }
        let quota = TargetState {
            kinesis_calls: vec![now() - Duration::hours(1); 10],
            ..Default::default()
        };
        assert_eq!(
            skipped(&d(&p, &quota, 4, Direction::Out)),
            Some(SkipReason::QuotaExhausted)
        );
        let old_calls = TargetState {
            kinesis_calls: vec![now() - Duration::hours(25); 10],
            ..Default::default()
        };
        assert!(act(&d(&p, &old_calls, 4, Direction::Out)).is_some());
    }

    #[test]
    fn kinesis_targets_prefer_quarter_steps() {
        let mut p = kinesis();
        p.max = 100;
        p.scale_out = Sizing::Step(1);
        let observed = Observed::Ready {
            size: 8,
            alignment: Alignment::QuarterSteps { current: 8 },
            max_size: None,
            hdfs_percent: None,
        };
        let d = decide(
            &p,
            &mut TargetState::default(),
            &observed,
            Direction::Out,
            None,
            "x",
            now(),
        );
        assert_eq!(act(&d), Some((8, 10)), "9 rounds up to 125%");
        // Only 3 shards left in the account's quota: doubling stops at 11.
        p.scale_out = Sizing::Factor(2.0);
        let quota = Observed::Ready {
            size: 8,
            alignment: Alignment::QuarterSteps { current: 8 },
            max_size: Some(11),
            hdfs_percent: None,
        };
        let d = decide(
            &p,
            &mut TargetState::default(),
            &quota,
            Direction::Out,
            None,
            "x",
            now(),
        );
        assert_eq!(act(&d), Some((8, 11)), "{d:?}");
        let ScalingDecision::Act { reason, .. } = &d else {
            unreachable!()
        };
        assert!(reason.contains("shard quota"), "{reason}");
    }
}

//! The decision, for any policy that parses, any observation, load and remembered state, in
//! either direction: never a panic; an action keeps every guarantee `policy/decide.rs` states
//! (not paused, out of its cooldown, not blocked; a scale-out at most to max, the target's
//! ceiling and for Kinesis double; a scale-in at least to min, 40% of the size, the HDFS floor
//! and for Kinesis half, only after its delay window and not while draining; at most 10
//! UpdateShardCall calls a day); and the state it leaves is stored and read back as it is.

use chrono::Duration;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use scaler::policy::{
    Direction, LoadSample, Observed, Policies, SCALE_IN_FLOOR, ScalingDecision, SkipReason,
    TargetKind, TargetPolicy, TargetState, decide,
};
use serde_json::json;

use crate::r#gen::{load, now, observed, state, target};

pub fn policy(target: &serde_json::Value) -> Result<TargetPolicy, TestCaseError> {
    let text = json!({"targets": [target], "rules": []}).to_string();
    let p = Policies::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
    Ok(p.targets[0].clone())
}

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![Just(Direction::Out), Just(Direction::In)]
}

/// The gates an action passed.
fn check_gates(
    p: &TargetPolicy,
    before: &TargetState,
    dir: Direction,
) -> Result<(), TestCaseError> {
    prop_assert!(!before.paused, "acted on a paused target");
    if let Some(last) = before.last_action_at {
        let cooldown = match dir {
            Direction::Out => p.scale_out_cooldown_seconds,
            Direction::In => p.scale_in_cooldown_seconds,
        };
        let until = Duration::try_seconds(cooldown).and_then(|d| last.checked_add_signed(d));
        prop_assert!(
            until.is_some_and(|u| u <= now()),
            "acted inside the cooldown (last {last}, {cooldown} s)"
        );
    }
    if dir == Direction::Out {
        prop_assert!(
            before.memo.blocked_scale_up.is_none(),
            "acted while scale-ups are blocked"
        );
    }
    Ok(())
}

/// The limits on the size an action goes to.
fn check_limits(
    p: &TargetPolicy,
    before: &TargetState,
    observed: &Observed,
    load: Option<&LoadSample>,
    dir: Direction,
    (from, to): (u32, u32),
) -> Result<(), TestCaseError> {
    let Observed::Ready {
        size,
        max_size,
        hdfs_percent,
        ..
    } = observed
    else {
        return Err(TestCaseError::fail("acted on a target that is not ready"));
    };
    prop_assert_eq!(from, *size);
    let kinesis = matches!(p.kind, TargetKind::KinesisStream { .. });
    match dir {
        Direction::Out => {
            prop_assert!(to > from, "a scale-out from {from} to {to}");
            prop_assert!(to <= p.max, "scale-out to {to} above max {}", p.max);
            prop_assert!(
                max_size.is_none_or(|m| to <= m),
                "scale-out to {to} above the target's ceiling {max_size:?}"
            );
            prop_assert!(
                !kinesis || u64::from(to) <= 2 * u64::from(from),
                "UpdateShardCount {from} -> {to}"
            );
        }
        Direction::In => {
            prop_assert!(to < from, "a scale-in from {from} to {to}");
            prop_assert!(to >= p.min, "scale-in to {to} below min {}", p.min);
            let floor = (from as f64 * SCALE_IN_FLOOR).ceil() as u32;
            prop_assert!(
                to >= floor,
                "scale-in {from} -> {to} below the 40% floor {floor}"
            );
            prop_assert!(
                !kinesis || to >= from.div_ceil(2),
                "UpdateShardCount {from} -> {to}"
            );
            if let (
                Some(pct),
                TargetKind::EmrInstanceGroup {
                    hdfs_max_utilisation_percent: max,
                    ..
                },
            ) = (hdfs_percent, &p.kind)
            {
                let hdfs_floor = (from as f64 * pct / max).ceil() as u32;
                prop_assert!(
                    to >= hdfs_floor,
                    "scale-in {from} -> {to} overfills HDFS (floor {hdfs_floor})"
                );
            }
            if let Some(l) = load {
                prop_assert!(
                    l.backlog_seconds() <= p.scale_in_max_backlog_seconds,
                    "scale-in while draining"
                );
            }
            let waited = before
                .memo
                .pending_scale_in
                .as_ref()
                .map(|w| w.since)
                .unwrap_or(now());
            prop_assert!(
                waited + Duration::seconds(p.scale_in_delay_seconds.min(1 << 40)) <= now(),
                "scale-in before its delay"
            );
        }
    }
    if kinesis {
        let recent = before
            .kinesis_calls
            .iter()
            .filter(|t| now() - **t < Duration::hours(24))
            .count();
        prop_assert!(recent < 10, "an UpdateShardCount call beyond the 10 a day");
    }
    Ok(())
}

/// Two JSON documents alike, numbers to within a last digit or so (serde_json reads floats
/// back to the nearest double only with its `float_roundtrip` feature).
fn alike(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value::*;
    match (a, b) {
        (Number(x), Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 1e-12 * x.abs().max(y.abs())
        }
        (Array(x), Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| alike(x, y)),
        (Object(x), Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| alike(v, w)))
        }
        _ => a == b,
    }
}

/// The state as DynamoDB holds it (the memo as its JSON attribute) reads back as it was.
fn check_stored(state: &TargetState) -> Result<(), TestCaseError> {
    let text = serde_json::to_string(&state.memo).unwrap();
    let back: Result<scaler::policy::Memo, _> = serde_json::from_str(&text);
    prop_assert!(
        back.is_ok(),
        "the memo does not read back: {text}: {back:?}"
    );
    let stored = serde_json::to_value(back.unwrap()).unwrap();
    let kept = serde_json::to_value(&state.memo).unwrap();
    prop_assert!(alike(&stored, &kept), "{stored} read back, {kept} kept");
    Ok(())
}

proptest! {
    #[test]
    fn a_decision_keeps_every_guarantee_the_policy_states(
        t in target(), observed in observed(), load in load(), before in state(), dir in direction(),
    ) {
        let p = policy(&t)?;
        let mut after = before.clone();
        let d = decide(&p, &mut after, &observed, dir, load.as_ref(), "generated", now());
        prop_assert_eq!(d.target(), "t");
        match &d {
            ScalingDecision::Act { from, to, .. } => {
                check_gates(&p, &before, dir)?;
                check_limits(&p, &before, &observed, load.as_ref(), dir, (*from, *to))?;
                prop_assert!(after.memo.pending_scale_in.is_none());
            }
            ScalingDecision::Skip { reason: SkipReason::Paused, .. } => prop_assert!(before.paused),
            ScalingDecision::Skip { detail, .. } | ScalingDecision::Defer { detail, .. } => {
                prop_assert!(!detail.is_empty());
            }
        }
        if !matches!(observed, Observed::Ready { .. }) || before.paused {
            let acted = matches!(d, ScalingDecision::Act { .. });
            prop_assert!(!acted, "acted on a target not ready, or paused");
        }
        check_stored(&after)?;
    }

    #[test]
    fn a_waiting_scale_in_never_lowers_its_target(
        t in target(), sizes in prop::collection::vec(4u32..200, 2..6), step_minutes in 1i64..120,
    ) {
        // Within one delay window the size waited for is the highest recommended so far.
        let p = policy(&t)?;
        let mut state = TargetState::default();
        for (i, size) in sizes.iter().enumerate() {
            let before = state.memo.pending_scale_in.clone();
            let at = now() + Duration::minutes(step_minutes * i as i64);
            decide(&p, &mut state, &Observed::ready(*size), Direction::In, None, "x", at);
            if let (Some(b), Some(w)) = (before, &state.memo.pending_scale_in)
                && b.since == w.since
            {
                prop_assert!(w.highest >= b.highest, "{} fell to {}", b.highest, w.highest);
            }
        }
    }
}

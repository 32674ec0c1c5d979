use super::*;
use crate::model::AlertKind;

const S: i64 = 1000;

fn cfg() -> GroupConfig {
    GroupConfig {
        by: vec!["account".into(), "region".into()],
        wait: Duration::from_secs(30),
        interval: Duration::from_secs(300),
        max_members: DEFAULT_MAX_MEMBERS,
    }
}

fn alert(name: &str, severity: Severity, id: &str) -> Alert {
    let state = if severity == Severity::Resolved {
        "OK"
    } else {
        "ALARM"
    };
    Alert {
        kind: AlertKind::MetricAlarm,
        severity,
        title: format!("{state} {name}"),
        summary: String::new(),
        source: "aws.cloudwatch".into(),
        detail_type: "CloudWatch Alarm State Change".into(),
        resource: name.into(),
        region: Some("us-east-1".into()),
        account: Some("1".into()),
        time: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        state: state.into(),
        previous_state: None,
        event_id: id.into(),
        console_url: None,
        runbook_url: None,
        details: vec![],
        fingerprint: format!("fp-{name}"),
        suppressed_by: None,
        labels: BTreeMap::new(),
    }
}

/// Applies a claim step as the service would (the write lands).
fn claimed(step: FlushStep) -> Group {
    match step {
        FlushStep::Claimed(g) => *g,
        other => panic!("expected a claim, got {other:?}"),
    }
}

#[test]
fn the_first_member_schedules_flush_one_after_group_wait_and_later_ones_nothing() {
    let (g, req) = add_member(None, &alert("a", Severity::Critical, "e1"), &cfg(), 0);
    let req = req.unwrap();
    assert_eq!((req.flush, req.delay_seconds), (1, 30));
    let (g, req) = add_member(
        Some(g),
        &alert("b", Severity::Critical, "e2"),
        &cfg(),
        5 * S,
    );
    assert!(req.is_none(), "a flush is scheduled already");
    assert_eq!(g.members.len(), 2);
    let (g2, req) = add_member(
        Some(g.clone()),
        &alert("b", Severity::Critical, "e2"),
        &cfg(),
        6 * S,
    );
    assert!(req.is_none());
    assert_eq!(g2, g, "the same delivery joining again changes nothing");
}

#[test]
fn a_flush_claims_every_pending_member_once_and_a_redelivery_finds_it_done() {
    let mut g = None;
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        g = Some(
            add_member(
                g,
                &alert(name, Severity::Critical, &format!("e{i}")),
                &cfg(),
                0,
            )
            .0,
        );
    }
    let g = claimed(claim_flush(g, 1, 30 * S, 40 * S));
    let sending = g.sending.clone().unwrap();
    assert_eq!(
        (sending.kind, sending.members.len()),
        (BatchKind::Initial, 3)
    );
    assert_eq!(
        claim_flush(Some(g.clone()), 1, 31 * S, 41 * S),
        FlushStep::InFlight
    );
    let (g, next) = mark_flushed(g, &sending, 31 * S, &cfg()).unwrap();
    assert!(next.is_none() && g.flushed == 1 && g.members.iter().all(|m| m.notified));
    assert_eq!(
        claim_flush(Some(g), 1, 32 * S, 42 * S),
        FlushStep::Nothing(None)
    );
}

#[test]
fn a_late_member_is_one_follow_up_after_group_interval() {
    let (g, _) = add_member(None, &alert("a", Severity::Critical, "e1"), &cfg(), 0);
    let g = claimed(claim_flush(Some(g), 1, 30 * S, 40 * S));
    let sending = g.sending.clone().unwrap();
    let (g, _) = mark_flushed(g, &sending, 30 * S, &cfg()).unwrap();
    let (g, req) = add_member(
        Some(g),
        &alert("b", Severity::Warning, "e2"),
        &cfg(),
        60 * S,
    );
    let req = req.unwrap();
    assert_eq!(
        (req.flush, req.delay_seconds),
        (2, 270),
        "the last flush + 300 s"
    );
    let (g, req) = add_member(
        Some(g),
        &alert("c", Severity::Warning, "e3"),
        &cfg(),
        61 * S,
    );
    assert!(req.is_none());
    let g = claimed(claim_flush(Some(g), 2, 330 * S, 340 * S));
    let sending = g.sending.clone().unwrap();
    assert_eq!(sending.kind, BatchKind::FollowUp);
    let listed: Vec<_> = sending.members.iter().map(|(fp, _)| fp.as_str()).collect();
    assert_eq!(listed, ["fp-b", "fp-c"]);
}

#[test]
fn a_member_joining_during_the_publish_gets_the_next_flush() {
    let (g, _) = add_member(None, &alert("a", Severity::Critical, "e1"), &cfg(), 0);
    let g = claimed(claim_flush(Some(g), 1, 30 * S, 40 * S));
    let sending = g.sending.clone().unwrap();
    let (g, req) = add_member(
        Some(g),
        &alert("b", Severity::Critical, "e2"),
        &cfg(),
        31 * S,
    );
    assert!(req.is_none(), "flush 1 is scheduled (in flight)");
    let (g, next) = mark_flushed(g, &sending, 32 * S, &cfg()).unwrap();
    let next = next.unwrap();
    assert_eq!((next.flush, next.delay_seconds), (2, 300));
    assert!(
        g.members
            .iter()
            .find(|m| m.fingerprint == "fp-b")
            .unwrap()
            .pending
    );
}

#[test]
fn resolution_is_sent_once_when_every_problem_member_resolved() {
    let mut g = add_member(None, &alert("a", Severity::Critical, "e1"), &cfg(), 0).0;
    g = add_member(Some(g), &alert("b", Severity::Critical, "e2"), &cfg(), 0).0;
    let g = claimed(claim_flush(Some(g), 1, 30 * S, 40 * S));
    let s = g.sending.clone().unwrap();
    let (g, _) = mark_flushed(g, &s, 30 * S, &cfg()).unwrap();
    let (g, req) = add_member(
        Some(g),
        &alert("a", Severity::Resolved, "e3"),
        &cfg(),
        100 * S,
    );
    assert!(
        req.is_none(),
        "one resolved, one still firing: nothing to say"
    );
    let (g, req) = add_member(
        Some(g),
        &alert("b", Severity::Resolved, "e4"),
        &cfg(),
        200 * S,
    );
    assert_eq!(req.unwrap().flush, 2);
    let g = claimed(claim_flush(Some(g), 2, 330 * S, 340 * S));
    let s = g.sending.clone().unwrap();
    assert_eq!((s.kind, s.members.len()), (BatchKind::Resolution, 2));
    let (g, next) = mark_flushed(g, &s, 330 * S, &cfg()).unwrap();
    assert!(next.is_none() && g.members.is_empty() && g.round == 2);
    let (_, req) = add_member(
        Some(g),
        &alert("a", Severity::Critical, "e5"),
        &cfg(),
        400 * S,
    );
    assert_eq!(
        req.unwrap().delay_seconds,
        30,
        "a new round waits group_wait again"
    );
}

#[test]
fn a_problem_resolved_before_its_flush_is_quiet() {
    let g = add_member(None, &alert("a", Severity::Critical, "e1"), &cfg(), 0).0;
    let g = add_member(
        Some(g),
        &alert("a", Severity::Resolved, "e2"),
        &cfg(),
        10 * S,
    )
    .0;
    match claim_flush(Some(g), 1, 30 * S, 40 * S) {
        FlushStep::Quiet(g) => assert!(g.members.is_empty() && g.flushed == 1),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_expired_claim_is_taken_over_and_its_stale_mark_refused() {
    let g = add_member(None, &alert("a", Severity::Critical, "e1"), &cfg(), 0).0;
    let g = claimed(claim_flush(Some(g), 1, 30 * S, 40 * S));
    let first = g.sending.clone().unwrap();
    let g = claimed(claim_flush(Some(g), 1, 41 * S, 50 * S));
    let second = g.sending.clone().unwrap();
    assert_eq!(
        first.members, second.members,
        "the same members, sent again"
    );
    assert!(
        mark_flushed(g.clone(), &first, 42 * S, &cfg()).is_none(),
        "no longer its claim"
    );
    let (g, _) = mark_flushed(g, &second, 42 * S, &cfg()).unwrap();
    assert!(mark_flushed(g, &first, 43 * S, &cfg()).is_none());
}

#[test]
fn a_flush_never_scheduled_does_nothing_and_a_lost_one_is_queued_again() {
    let g = add_member(None, &alert("a", Severity::Critical, "e1"), &cfg(), 0).0;
    assert_eq!(
        claim_flush(Some(g.clone()), 7, 30 * S, 40 * S),
        FlushStep::Nothing(None)
    );
    let late = 30 * S + OVERDUE_GRACE_MS + S;
    let (_, req) = add_member(Some(g), &alert("b", Severity::Critical, "e2"), &cfg(), late);
    assert_eq!(req.map(|r| (r.flush, r.delay_seconds)), Some((1, 0)));
}

#[test]
fn group_keys_follow_the_labels_and_a_missing_label_is_empty() {
    let a = alert("a", Severity::Critical, "e1");
    let mut b = alert("b", Severity::Critical, "e2");
    assert_eq!(group_key(&a, &cfg().by).0, group_key(&b, &cfg().by).0);
    b.region = None;
    let (key, labels) = group_key(&b, &cfg().by);
    assert_ne!(key, group_key(&a, &cfg().by).0);
    assert_eq!(labels["region"], "");
}

#[test]
fn a_full_group_takes_no_new_member_but_updates_its_own() {
    let cfg = GroupConfig {
        max_members: 2,
        ..cfg()
    };
    let (g, _) = add_member(None, &alert("a", Severity::Critical, "e1"), &cfg, 0);
    assert!(!is_full(
        Some(&g),
        &alert("b", Severity::Critical, "e2"),
        &cfg
    ));
    let (g, _) = add_member(Some(g), &alert("b", Severity::Critical, "e2"), &cfg, S);
    assert!(is_full(
        Some(&g),
        &alert("c", Severity::Critical, "e3"),
        &cfg
    ));
    // A member's recovery still reaches its entry, so the round can resolve.
    assert!(!is_full(
        Some(&g),
        &alert("a", Severity::Resolved, "e4"),
        &cfg
    ));
    assert!(!is_full(None, &alert("c", Severity::Critical, "e3"), &cfg));
}

#[test]
fn a_full_group_of_long_members_and_its_claim_fit_in_a_dynamodb_item() {
    // The longest an alert makes them: a 1,024-character title, a 512-character resource, a
    // 256-character event id: the byte bound, not the count, fills the group.
    let mut group: Option<Group> = None;
    let mut joined = 0;
    for i in 0..DEFAULT_MAX_MEMBERS {
        let mut a = alert(
            &format!("{i:04}{}", "r".repeat(508)),
            Severity::Critical,
            &"e".repeat(256),
        );
        a.title = "t".repeat(1024);
        a.fingerprint = format!("{i:032x}");
        if is_full(group.as_ref(), &a, &cfg()) {
            continue;
        }
        let (g, _) = add_member(group, &a, &cfg(), i as i64);
        group = Some(g);
        joined += 1;
    }
    assert!((100..DEFAULT_MAX_MEMBERS).contains(&joined), "{joined}");
    // With every member listed in a flush's claim, the body still fits.
    let g = group.unwrap();
    let flush = g.scheduled.unwrap();
    let claimed = claimed(claim_flush(Some(g), flush, 60 * S, 90 * S));
    let body = serde_json::to_string(&claimed).unwrap();
    assert!(body.len() < 390 * 1024, "{} bytes", body.len());
}

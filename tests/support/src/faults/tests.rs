use super::*;

#[test]
fn the_nth_call_meets_its_fault_and_every_call_is_counted() {
    let s = Script::default();
    s.fail("put", 2, Fault::Throttled);
    s.fail_from("get", 3, Fault::Denied);
    assert_eq!(s.next("put"), None);
    assert_eq!(s.clone().next("put"), Some(Fault::Throttled));
    assert_eq!(s.next("put"), None);
    assert_eq!(
        (s.next("get"), s.next("get"), s.next("get"), s.next("get")),
        (None, None, Some(Fault::Denied), Some(Fault::Denied))
    );
    assert_eq!(
        (s.calls("put"), s.calls("get"), s.calls("other")),
        (3, 4, 0)
    );
}

#[test]
fn fail_next_queues_after_the_calls_made_and_the_faults_scripted() {
    let s = Script::default();
    assert_eq!(s.next("put"), None);
    s.fail_next("put", Fault::Throttled);
    s.fail_next("put", Fault::ServerError);
    s.fail("put", 5, Fault::Denied);
    s.fail_next("put", Fault::LostResponse);
    let got: Vec<_> = (0..5).map(|_| s.next("put")).collect();
    assert_eq!(
        got,
        [
            Some(Fault::Throttled),
            Some(Fault::ServerError),
            Some(Fault::LostResponse),
            Some(Fault::Denied),
            None
        ]
    );
}

#[test]
fn a_lost_response_takes_effect_and_fails_the_others_do_not_take_effect() {
    let s = Script::default();
    s.fail("put", 1, Fault::LostResponse);
    s.fail("put", 2, Fault::ServerError);
    let mut applied = 0;
    let lost = s.call("put", || applied += 1).unwrap_err();
    assert_eq!(
        (applied, lost.class, lost.code),
        (1, ErrorClass::Retryable, None)
    );
    let failed = s.call("put", || applied += 1).unwrap_err();
    assert_eq!(applied, 1);
    assert_eq!(failed.code.as_deref(), Some("InternalServerError"));
    assert!(s.call("put", || applied += 1).is_ok());
    assert_eq!(applied, 2);
    assert_eq!(Fault::Denied.aws_error("put").class, ErrorClass::Permanent);
    assert_eq!(
        Fault::Throttled.http_error("jobs"),
        "jobs: HTTP 429: injected"
    );
}

#[test]
fn a_hook_runs_once_before_the_next_call_with_its_key() {
    let i: Interleave<Vec<String>> = Interleave::default();
    i.before_next("write", |s, key| s.push(format!("theirs {key}")));
    let mut state = Vec::new();
    i.run("read", &mut state, "a");
    i.clone().run("write", &mut state, "a");
    i.run("write", &mut state, "b");
    assert_eq!(state, ["theirs a"]);
}

#[test]
fn a_lock_poisoned_by_a_failed_test_thread_still_opens() {
    let m = Arc::new(Mutex::new(1));
    let held = m.clone();
    let _ = std::thread::spawn(move || {
        let _guard = held.lock().unwrap();
        panic!("an assertion failed while holding the lock");
    })
    .join();
    assert!(m.is_poisoned());
    *lock(&m) += 1;
    assert_eq!(*lock(&m), 2);
}

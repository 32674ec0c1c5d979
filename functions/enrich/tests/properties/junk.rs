//! Whatever arrives: the events/enrich files mutated at random places (members removed,
//! values replaced by any JSON, text cut or spliced), any JSON, any text. `parse_invocation`
//! never panics; a payload is a batch whose records are accounted for, a command, or an error
//! that says what it saw; and wherever the one-pass path takes a payload, the record-by-record
//! path reads the same.

use std::sync::LazyLock;

use enrich::input::{InputError, Invocation, parse_invocation};
use enrich::ops::{dry_run_records, parse_command};
use proptest::prelude::*;
use serde_json::Value;

use crate::r#gen::{json_value, text};
use crate::input::{accounted_for, paths_agree};

pub static FIXTURES: LazyLock<Vec<Value>> = LazyLock::new(|| {
    streamops_test_support::event_files("enrich")
        .into_iter()
        .map(|(_, v)| v)
        .collect()
});

/// Every JSON pointer into `v`, the root first.
pub fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let escaped = k.replace('~', "~0").replace('/', "~1");
                pointers(child, format!("{at}/{escaped}"), out);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                pointers(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
pub enum Mutation {
    Remove(usize),
    Replace(usize, Value),
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Remove),
        (any::<usize>(), json_value()).prop_map(|(at, v)| Mutation::Replace(at, v)),
    ]
}

/// Applies mutations at pointers chosen by index (modulo how many there are).
pub fn mutate(mut v: Value, mutations: &[Mutation]) -> Value {
    for m in mutations {
        let mut all = Vec::new();
        pointers(&v, String::new(), &mut all);
        let pick = |i: usize| all[i % all.len()].clone();
        match m {
            Mutation::Replace(i, new) => {
                let at = pick(*i);
                if at.is_empty() {
                    v = new.clone();
                } else if let Some(slot) = v.pointer_mut(&at) {
                    *slot = new.clone();
                }
            }
            Mutation::Remove(i) => {
                let at = pick(*i);
                let Some((parent, last)) = at.rsplit_once('/') else {
                    continue;
                };
                let last = last.replace("~1", "/").replace("~0", "~");
                match v.pointer_mut(parent) {
                    Some(Value::Object(o)) => drop(o.remove(&last)),
                    Some(Value::Array(a)) => {
                        if let Ok(i) = last.parse::<usize>() {
                            a.remove(i);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    v
}

/// A payload: a mutated fixture (as JSON or as cut text), any JSON, or any text.
pub fn payload_text() -> impl Strategy<Value = String> {
    let fixture = || {
        (0..FIXTURES.len(), prop::collection::vec(mutation(), 0..4))
            .prop_map(|(i, ms)| mutate(FIXTURES[i].clone(), &ms).to_string())
    };
    prop_oneof![
        6 => fixture(),
        1 => (fixture(), any::<prop::sample::Index>(), text(6)).prop_map(|(t, at, junk)| {
            let mut cut = at.index(t.len() + 1);
            while !t.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("{}{junk}", &t[..cut])
        }),
        1 => json_value().prop_map(|v| v.to_string()),
        1 => text(40),
    ]
}

proptest! {
    #[test]
    fn any_payload_is_a_batch_a_command_or_a_clear_error(json in payload_text()) {
        paths_agree(&json)?;
        match parse_invocation(&json) {
            Ok(Invocation::Stream(b)) => accounted_for(&b)?,
            Ok(Invocation::Command(v)) => {
                prop_assert!(v.get("command").is_some());
                // A command is carried out or refused in words, never a panic.
                if let Ok(enrich::ops::EnrichCommand::DryRun { records, event }) = parse_command(&v) {
                    match dry_run_records(&records, event.as_ref()) {
                        Ok(inputs) => prop_assert!(inputs.len() >= records.len()),
                        Err(e) => prop_assert!(e.contains("dry-run"), "{e}"),
                    }
                }
            }
            Err(e @ InputError::Unrecognized(_)) => {
                prop_assert!(e.to_string().contains("keys seen"), "{e}");
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}

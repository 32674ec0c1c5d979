//! Every file in events/enrich/ is a valid input of this function: a Kinesis or Kafka event
//! whose records all decode with coordinates, or an ops command that parses.

use enrich::input::{Invocation, parse_invocation};
use enrich::ops::parse_command;
use streamops_test_support::repo_root;

#[test]
fn every_enrich_event_file_parses_as_enrich_input() {
    let dir = repo_root().join("events/enrich");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        match parse_invocation(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())) {
            Invocation::Stream(batch) => {
                assert!(!batch.records.is_empty(), "{}", path.display());
                for r in &batch.records {
                    assert!(
                        enrich::origin::is_position(&r.origin.position),
                        "{}: {:?}",
                        path.display(),
                        r.origin
                    );
                }
            }
            Invocation::Command(v) => {
                parse_command(&v).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
        }
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} files in {}", dir.display());
}

//! Every file in events/checkpoints/ is a valid input of this function: an ops command that
//! parses, or an S3 / EventBridge object event that reads as object events.

use checkpoints::ops::parse_command;
use checkpoints::service::parse_events;
use streamops_test_support::repo_root;

#[test]
fn every_checkpoints_event_file_parses_as_checkpoints_input() {
    let dir = repo_root().join("events/checkpoints");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        match parse_command(&v) {
            Some(cmd) => {
                cmd.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
            None => {
                let events = parse_events(&v).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(!events.is_empty());
            }
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} files in {}", dir.display());
}

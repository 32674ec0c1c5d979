//! Every file in events/alerts/ is a valid input of this function: an ops command that parses,
//! or an event that normalizes into well-formed (not "malformed") alerts.

use alerts::normalize::{NormalizeOptions, normalize};
use alerts::ops::parse_command;
use streamops_test_support::repo_root;

#[test]
fn every_alerts_event_file_parses_as_alerts_input() {
    let dir = repo_root().join("events/alerts");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        match parse_command(&value) {
            Some(cmd) => {
                cmd.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
            None => {
                let alerts = normalize(&value, chrono::Utc::now(), &NormalizeOptions::default());
                assert!(!alerts.is_empty(), "{}", path.display());
                for a in alerts {
                    assert_ne!(a.state, "MALFORMED", "{}: {}", path.display(), a.summary);
                }
            }
        }
        checked += 1;
    }
    assert!(checked >= 13, "only {checked} files in {}", dir.display());
}

//! Every file in events/scaler/ is a valid input: an ops command that parses, or an alarm state
//! change that reads as one.

use scaler::ops::parse_command;
use scaler::service::parse_alarm;
use streamops_test_support::repo_root;

#[test]
fn every_scaler_event_file_parses_as_scaler_input() {
    let dir = repo_root().join("events/scaler");
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
                parse_alarm(&v).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
        }
        checked += 1;
    }
    assert!(checked >= 9, "only {checked} files in {}", dir.display());
}

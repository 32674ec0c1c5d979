//! Every file in events/alerts/ is a valid input of this function: an ops command that parses,
//! or an event that normalizes into well-formed (not "malformed") alerts.

use alerts::normalize::{NormalizeOptions, normalize};
use alerts::ops::parse_command;
use streamops_test_support::event_files;

#[test]
fn every_alerts_event_file_parses_as_alerts_input() {
    let mut checked = 0;
    for (path, value) in event_files("alerts") {
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
    assert!(checked >= 13, "only {checked} files in events/alerts");
}

//! Every file in events/checkpoints/ is a valid input of this function: an ops command that
//! parses, or an S3 / EventBridge object event that reads as object events.

use checkpoints::{parse_command, parse_events};
use streamops_test_support::event_files;

#[test]
fn every_checkpoints_event_file_parses_as_checkpoints_input() {
    let files = event_files("checkpoints");
    for (path, v) in &files {
        match parse_command(v) {
            Some(cmd) => {
                cmd.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
            None => {
                let events = parse_events(v).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(!events.is_empty(), "{}", path.display());
            }
        }
    }
    assert!(
        files.len() >= 10,
        "only {} files in events/checkpoints",
        files.len()
    );
}

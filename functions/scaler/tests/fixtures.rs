//! Every file in events/scaler/ is a valid input: an ops command that parses, or an alarm state
//! change that reads as one.

use scaler::ops::parse_command;
use scaler::service::parse_alarms;
use streamops_test_support::event_files;

#[test]
fn every_scaler_event_file_parses_as_scaler_input() {
    let files = event_files("scaler");
    for (path, v) in &files {
        match parse_command(v) {
            Some(cmd) => {
                cmd.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
            None => {
                parse_alarms(v).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
        }
    }
    assert!(
        files.len() >= 11,
        "only {} files in events/scaler",
        files.len()
    );
}

//! Every file in events/enrich/ is a valid input of this function: a Kinesis or Kafka event
//! whose records all decode with coordinates, or an ops command that parses.

use enrich::input::{Invocation, parse_invocation};
use enrich::ops::parse_command;
use streamops_test_support::event_files;

#[test]
fn every_enrich_event_file_parses_as_enrich_input() {
    let files = event_files("enrich");
    for (path, v) in &files {
        match parse_invocation(&v.to_string()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        {
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
    }
    assert!(
        files.len() >= 5,
        "only {} files in events/enrich",
        files.len()
    );
}

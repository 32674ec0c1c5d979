//! Generated-input (property) tests of shared's readers of outside input (issue 16): alarm
//! transitions in their three deliveries, S3 object events in every envelope and their
//! form-URL-encoded keys, REST endpoints and responses, the ops-command envelope, the checkpoints
//! book's keys, configuration values and outside text. Never a panic; bad input gets an error
//! naming the field (or a skip reason); round trips where there is one.
//!
//! Plain unit tests: a bare `cargo test` runs them, `PROPTEST_CASES` sets the cases per property
//! (default 256). Shrunk failures are kept in `tests/proptest-regressions/` and replayed first;
//! each real bug found also has a named test in `tests/regressions.rs`.

mod alarm;
mod misc;
mod object_event;
mod window;

//! Generated-input (property) tests of alerts (issue 16): whatever arrives becomes an alert or
//! a malformed-input warning that names the problem, and every alert renders within SNS's
//! rules (subject under 100 ASCII characters without control characters, message and
//! attributes within 256 KB, JSON formats valid JSON). Silences mute exactly what they match;
//! configuration and ops commands are read or refused naming what is wrong. Plain unit tests,
//! 256 cases a property unless `PROPTEST_CASES` says otherwise; shrunk failures are kept in
//! `tests/proptest-regressions/` and as named tests in `tests/regressions.rs`.

mod commands;
mod r#gen;
mod normalize;
mod render;
mod silences;
#[path = "../support/mod.rs"]
mod support;

//! Generated-input (property) tests of the scaler (issue 16): `SCALER_POLICIES` is read (and
//! round-trips) or refused naming the target and the problem; for any policy that parses and
//! any observation, load and remembered state the decision keeps every guarantee the policy
//! code claims (bounds, the 40% scale-in floor, HDFS, the target's ceiling, Kinesis' half to
//! double and 10 calls a day, pause, cooldowns, blocks, delay windows) and never panics; the
//! state it leaves is stored and read back as it is. Metrics, sizing, alarm events and ops
//! commands too. Plain unit tests, 256 cases a property unless `PROPTEST_CASES` says
//! otherwise; shrunk failures are kept in `tests/proptest-regressions/` and as named tests in
//! `tests/regressions.rs`.

mod commands;
mod decisions;
mod r#gen;
mod policies;
#[path = "../support/mod.rs"]
mod support;

//! Generated-input (property) tests of the partitions function (issue 16): layouts and keys,
//! the SQL built from any key, `PARTITIONS_TABLES`, the ops commands and their time ranges, and
//! whole batches through the service over in-memory fakes. Never a panic; bad input gets a clear
//! error or a skip reason; round trips where there is one (key render/parse, layout
//! render/match); SQL built from any key is rejected or holds only validated values; named keys
//! admitted exactly when their rule admits them.
//!
//! Plain unit tests: a bare `cargo test` runs them, `PROPTEST_CASES` sets the cases per property
//! (default 256). Shrunk failures are kept in `tests/proptest-regressions/` and replayed first;
//! each real bug found also has a named test in `tests/regressions.rs`.

mod config;
mod generate;
mod keys_sql;
mod named_keys;
mod ops;
mod service;
#[path = "../support/mod.rs"]
mod support;

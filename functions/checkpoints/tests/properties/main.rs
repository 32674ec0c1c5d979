//! Generated-input (property) tests of the checkpoints function (issue 16): object keys as
//! Flink and strangers write them, the `_metadata` header, restore paths, the ops commands and
//! `CHECKPOINTS_*` configuration, and the retention plan. Never a panic; bad input gets a
//! clear error or an ignore reason; round trips where there is one (a checkpoint or savepoint
//! key classifies back to its job, id and directory; a restore path reads as the directory the
//! book writes, whichever way it was written); a prune plan never lets go of a point the book
//! still needs.
//!
//! Plain unit tests: a bare `cargo test` runs them, `PROPTEST_CASES` sets the cases per property
//! (default 256). Shrunk failures are kept in `tests/proptest-regressions/` and replayed first.

mod config_and_commands;
mod keys_and_headers;
mod retention;

//! Says, on a bare `cargo test`, that the tests needing moto and a real Flink were not built.

fn main() {
    println!("cargo:rerun-if-env-changed=CARGO_FEATURE_INTEGRATION");
    if std::env::var_os("CARGO_FEATURE_INTEGRATION").is_none() {
        println!(
            "cargo:warning=unit tests only: the moto and Flink integration tests run with `make test` \
             (or `make setup` then `cargo test --workspace --all-features`)"
        );
    }
}

"""No panic on an input path (issue 16): every `unwrap()`, `expect(`, `unreachable!`, `panic!`,
`todo!` and `unimplemented!` in non-test Rust source (functions/*/src, shared/src: the part of
each file before its test module) is one of the sites below, each with the reason outside input
cannot reach it. A new one fails this test: return the crate's error instead (Classified
retryable or permanent), or add it here with its reason. A lock is taken through a helper that
recovers from poisoning, never `.lock().unwrap()` / `.lock().expect(`."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PANICKY = re.compile(r"\.unwrap\(\)|\.expect\(|\bunreachable!|\bpanic!|\btodo!|\bunimplemented!")
LOCK = re.compile(r"\.(lock|read|write)\(\)\s*\.(unwrap|expect)\b")

# A developer's benchmark binary: it reads the shipped spec and its own generated records only.
WHOLE_FILES = {"functions/enrich/src/bin/enrich-bench.rs", "functions/enrich/src/bin/enrich-bench/avro.rs",
               "functions/enrich/src/bin/enrich-bench/protobuf.rs"}

# (file, what the line holds): why outside input cannot reach it.
ALLOWED = {
    ("functions/alerts/src/store.rs", 'expect("silence serializes")'):
        "strings and timestamps always serialize",
    ("functions/alerts/src/store.rs", 'expect("item body serializes")'):
        "inhibitors and muted targets are strings, string maps and timestamps: they always serialize",
    ("functions/alerts/src/store.rs", 'expect("an activity serializes")'):
        "an activity is strings, a string map, an enum, a flag and timestamps: it always serializes",
    ("functions/alerts/src/store.rs", 'expect("group body serializes")'):
        "a group is strings, numbers, enums and timestamps: it always serializes",
    ("functions/alerts/src/publisher.rs", 'expect("data_type is set")'):
        "the SDK builder fails only without data_type, which is set",
    ("functions/checkpoints/src/objects.rs", 'expect("key is set")'):
        "the SDK builder fails only without the key, which is set",
    ("functions/checkpoints/src/objects.rs", 'expect("objects are set")'):
        "the SDK builder fails only without the objects, which are set",
    ("functions/checkpoints/src/service/retention.rs", 'expect("decisions come from points")'):
        "plan_retention makes one decision per point, carrying its location",
    ("functions/checkpoints/src/config.rs", 'expect("empty prefixes are valid")'):
        "a constant that parses; used only after a problem is recorded",
    ("functions/enrich/src/encoding.rs", 'expect("writing to a Vec")'):
        "serializing strings, numbers and JSON values into a Vec cannot fail (two sites)",
    ("functions/enrich/src/encoding.rs", 'expect("ASCII digits and separators")'):
        "the buffer is written with ASCII only",
    ("functions/enrich/src/pipeline/pii.rs", 'expect("hex digits are ASCII")'):
        "hex digits only",
    ("functions/enrich/src/values/avro.rs", 'expect("writing to a Vec cannot fail")'):
        "formatting numbers into a Vec cannot fail (two sites)",
    ("functions/enrich/src/values/avro.rs", 'expect("a finite float serializes")'):
        "serde_json refuses only non-finite floats, which are turned away just before",
    ("functions/enrich/src/values/direct.rs", 'expect("an integer serializes")'):
        "an i64 into a Vec cannot fail",
    ("functions/enrich/src/values/avro.rs", 'expect("a string serializes")'):
        "a str into a Vec cannot fail",
    ("functions/enrich/src/values/protobuf.rs", 'expect("a finite float serializes")'):
        "serde_json refuses only non-finite floats, which are written as strings just before",
    ("functions/enrich/src/values/protobuf.rs", 'expect("writing to a Vec cannot fail")'):
        "formatting numbers into a Vec cannot fail",
    ("functions/enrich/src/values/protobuf.rs", 'expect("a string serializes")'):
        "a str into a Vec cannot fail",
    ("functions/enrich/src/values/protodirect.rs", 'expect("an integer serializes")'):
        "an integer into a Vec cannot fail",
    ("functions/enrich/src/pipeline/pii.rs", 'expect("a spec with hmac rules is keyed before records are finished")'):
        "the service waits for the key (key_ready) before it finishes a batch; Enricher::new refuses hmac rules without one",
    ("functions/enrich/src/origin.rs", 'expect("hex digits are ASCII")'):
        "hex digits only",
    ("functions/enrich/src/quarantine.rs", 'expect("entries always serialize")'):
        "strings, numbers and JSON values into a Vec",
    ("functions/enrich/src/service/deliver.rs", 'expect("every record has a disposition")'):
        "every branch above assigns each record's disposition",
    ("functions/enrich/src/service/batch.rs", 'expect("response serializes")'):
        "a list of strings",
    ("functions/enrich/src/config.rs", 'expect("shipped spec is valid")'):
        "the spec compiled in, parsed by a unit test",
    ("functions/enrich/src/adapters/reference.rs", 'expect("keys are set")'):
        "the SDK builder fails only without the keys, which are set",
    ("functions/enrich/src/adapters/kinesis.rs", 'expect("data and partition key are set")'):
        "the SDK builder fails only without them, and both are set",
    ("functions/enrich/src/arrival.rs", 'expect("written from a str")'):
        "the buffer only ever holds whole characters copied from a str",
    ("functions/partitions/src/registry.rs", 'expect("item is set")'):
        "the SDK builder fails only without the item, which is set",
    ("functions/partitions/src/periods.rs", 'expect("midnight")'):
        "00:00:00 exists on every date",
    ("functions/partitions/src/layout.rs", 'expect("valid hour")'):
        "the hour of an existing time, or 0",
    ("functions/partitions/src/service/mod.rs", 'expect("serializable")'):
        "strings, numbers and maps keyed by strings or unit enums (two sites)",
    ("functions/partitions/src/config.rs", 'expect("tables parsed when there is no problem")'):
        "read_tables records a problem whenever it returns None",
    ("functions/partitions/src/table_config.rs", 'expect("checked")'):
        "parse_layout adds a problem whenever it returns None; problems return first",
    ("functions/partitions/src/table_config.rs", 'expect("valid sample")'):
        "a constant date and time that exist",
    ("functions/scaler/src/audit.rs", 'expect("audit entries serialize")'):
        "strings, numbers and JSON values",
    ("functions/scaler/src/service/act.rs", 'unreachable!("a savepoint rescale is of a Flink job")'):
        "its only caller calls it from its Flink-job branch",
    ("functions/scaler/src/service/rescale.rs", 'unreachable!("advance runs until the machine stops")'):
        "advance loops while a step advances and hands over the first other outcome",
    ("functions/scaler/src/targets.rs", 'unreachable!("Flink rescales go through the service")'):
        "act sends Flink jobs to their own rescale before calling resize",
    ("shared/src/aws.rs", 'unreachable!("a LazyClient without a builder is made from a built client")'):
        "only From<C> makes one without a builder, and it sets the client, so get_or_init never calls its closure",
    ("functions/scaler/src/adapters/dynamo.rs", 'expect("memo serializes")'):
        "strings, numbers and timestamps",
}

# Sites an entry stands for, where more than one.
COUNTS = {
    ("functions/enrich/src/encoding.rs", 'expect("writing to a Vec")'): 2,
    ("functions/enrich/src/values/avro.rs", 'expect("writing to a Vec cannot fail")'): 2,
    ("functions/partitions/src/service/mod.rs", 'expect("serializable")'): 2,
}


def code_part(path: Path) -> list[str]:
    """The lines before the file's test module (as scripts/shape_report.py counts them)."""
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"\s*#\[cfg\(test\)\]", line):
            return lines[:i]
    return lines


def sites() -> list[tuple[str, int, str]]:
    out = []
    sources = sorted((ROOT / "shared" / "src").rglob("*.rs"))
    sources += sorted((ROOT / "functions").glob("*/src/**/*.rs"))
    for path in sources:
        rel = path.relative_to(ROOT).as_posix()
        if rel in WHOLE_FILES or path.name == "tests.rs":
            continue
        for n, line in enumerate(code_part(path), 1):
            code = line.split("//")[0] if not line.lstrip().startswith("//") else ""
            if PANICKY.search(code) or LOCK.search(code):
                out.append((rel, n, line.strip()))
    return out


def test_every_panic_site_in_non_test_code_is_allowed_with_a_reason():
    unexplained = []
    used: dict[tuple[str, str], int] = {}
    for rel, n, line in sites():
        entry = next((k for k in ALLOWED if k[0] == rel and k[1] in line), None)
        if entry is None:
            unexplained.append(f"{rel}:{n}: {line}")
        else:
            used[entry] = used.get(entry, 0) + 1
    assert not unexplained, "panics outside input may reach (return an error instead, or allow " \
        "them in this file with the reason):\n" + "\n".join(unexplained)
    wrong = {k: (used.get(k, 0), COUNTS.get(k, 1)) for k in ALLOWED if used.get(k, 0) != COUNTS.get(k, 1)}
    assert not wrong, f"allowed sites gone or repeated (found, allowed): {wrong}"


def test_no_lock_is_unwrapped():
    locks = [s for s in sites() if LOCK.search(s[2])]
    assert not locks, f"a poisoned lock would fail every later invocation: {locks}"


def test_the_scan_finds_what_it_guards_against():
    """The patterns catch the forms they are for (and not `unwrap_or`), so the tests above
    cannot pass by matching nothing."""
    hits = [bool(PANICKY.search(s)) for s in
            ["x.unwrap()", "x.expect(\"y\")", "unreachable!()", "panic!(\"z\")", "x.unwrap_or(1)",
             "x.unwrap_or_else(f)", "x.unwrap_or_default()"]]
    assert hits == [True, True, True, True, False, False, False]
    assert LOCK.search("self.m.lock().unwrap()") and LOCK.search('m.read().expect("x")')
    assert len(sites()) >= sum(COUNTS.get(k, 1) for k in ALLOWED)

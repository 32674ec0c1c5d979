//! KPL aggregated Kinesis records: the four magic bytes `F3 89 9A C2`, a protobuf
//! `AggregatedRecord` and the MD5 digest of that protobuf body as a 16-byte trailer. The KPL
//! (and Flink's Kinesis sink, and aws-kinesis-agg) packs many user records into one Kinesis
//! record this way; each user record gets the Kinesis sequence number plus its index in the
//! aggregate (the sub-sequence number, as the KCL numbers them).
//!
//! The message, proto2 (from the KPL's `messages.proto`, read as a format description):
//!
//! ```text
//! AggregatedRecord { repeated string partition_key_table = 1;
//!                    repeated string explicit_hash_key_table = 2;
//!                    repeated Record records = 3; }
//! Record { required uint64 partition_key_index = 1; optional uint64 explicit_hash_key_index = 2;
//!          required bytes data = 3; repeated Tag tags = 4; }
//! Tag { required string key = 1; optional string value = 2; }
//! ```
//!
//! A small hand-written reader, not `prost`: three messages of a few fields each, and reading
//! by hand borrows the partition keys and the data straight out of the Kinesis record's bytes
//! (no owned `String`/`Vec` per field before the input record is built, no build script, no
//! extra dependency tree). Unknown fields are skipped as protobuf requires, so a producer that
//! adds a field still decodes.

use std::fmt;

use md5::{Digest, Md5};

/// The first four bytes of every KPL aggregate. A JSON record cannot start with them (0xF3 is
/// not where UTF-8 text or JSON starts), so plain records are never mistaken for aggregates.
pub const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];
const DIGEST_LEN: usize = 16;

/// One user record of an aggregate, borrowed from the aggregate's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord<'a> {
    /// From the aggregate's partition key table.
    pub partition_key: &'a str,
    pub data: &'a [u8],
}

/// What the bytes of a Kinesis record are.
#[derive(Debug, PartialEq, Eq)]
pub enum Framing<'a> {
    /// No magic: a plain record, read as it always was.
    Plain,
    /// A sound aggregate: its user records in order (index = sub-sequence number).
    Aggregate(Vec<UserRecord<'a>>),
    /// The magic, but not a sound aggregate: the whole Kinesis record is poison.
    Corrupt(Corruption),
}

/// Why bytes that start with the magic are not a sound aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Corruption {
    /// Shorter than the magic and the digest together.
    TooShort(usize),
    /// The MD5 trailer does not match the protobuf body.
    DigestMismatch,
    /// The protobuf ends inside a field (`at`: where the body ran out).
    Truncated { at: usize },
    /// A varint longer than 10 bytes.
    VarintTooLong { at: usize },
    /// A field with the wrong wire type, or a group (which the message has none of).
    WireType { field: u64, wire: u8, at: usize },
    /// A user record without its required `partition_key_index` or `data`.
    MissingField { record: usize, field: &'static str },
    /// A user record names a table entry that is not there.
    IndexOutOfRange {
        record: usize,
        table: &'static str,
        index: u64,
        len: usize,
    },
    /// A partition key that is not UTF-8 (a protobuf `string` must be).
    PartitionKeyNotUtf8 { entry: usize },
    /// No user records at all: nothing would account for the Kinesis record.
    Empty,
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Corruption::TooShort(n) => write!(
                f,
                "{n} bytes: shorter than the magic and the 16-byte MD5 trailer"
            ),
            Corruption::DigestMismatch => {
                f.write_str("the MD5 trailer does not match the protobuf body")
            }
            Corruption::Truncated { at } => {
                write!(f, "the protobuf ends inside a field at byte {at}")
            }
            Corruption::VarintTooLong { at } => {
                write!(f, "a varint longer than 10 bytes at byte {at}")
            }
            Corruption::WireType { field, wire, at } => {
                write!(f, "field {field} has wire type {wire} at byte {at}")
            }
            Corruption::MissingField { record, field } => {
                write!(f, "user record {record} has no {field}")
            }
            Corruption::IndexOutOfRange {
                record,
                table,
                index,
                len,
            } => write!(
                f,
                "user record {record} names {table} entry {index}; the table has {len}"
            ),
            Corruption::PartitionKeyNotUtf8 { entry } => {
                write!(f, "partition key table entry {entry} is not UTF-8")
            }
            Corruption::Empty => f.write_str("the aggregate holds no user records"),
        }
    }
}

/// Reads the framing of a Kinesis record's bytes.
pub fn framing(bytes: &[u8]) -> Framing<'_> {
    if !bytes.starts_with(&MAGIC) {
        return Framing::Plain;
    }
    match deaggregate(bytes) {
        Ok(records) => Framing::Aggregate(records),
        Err(c) => Framing::Corrupt(c),
    }
}

fn deaggregate(bytes: &[u8]) -> Result<Vec<UserRecord<'_>>, Corruption> {
    if bytes.len() < MAGIC.len() + DIGEST_LEN {
        return Err(Corruption::TooShort(bytes.len()));
    }
    let (body, digest) = bytes[MAGIC.len()..].split_at(bytes.len() - MAGIC.len() - DIGEST_LEN);
    if Md5::digest(body).as_slice() != digest {
        return Err(Corruption::DigestMismatch);
    }
    let aggregate = read_aggregate(body)?;
    if aggregate.records.is_empty() {
        return Err(Corruption::Empty);
    }
    // Records may come before the tables in the body: indexes are resolved once all is read.
    aggregate
        .records
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let index = r.partition_key_index.ok_or(Corruption::MissingField {
                record: i,
                field: "partition_key_index",
            })?;
            let data = r.data.ok_or(Corruption::MissingField {
                record: i,
                field: "data",
            })?;
            let out_of_range = |table, index, len| Corruption::IndexOutOfRange {
                record: i,
                table,
                index,
                len,
            };
            let partition_key = *usize::try_from(index)
                .ok()
                .and_then(|k| aggregate.partition_keys.get(k))
                .ok_or(out_of_range(
                    "partition_key_table",
                    index,
                    aggregate.partition_keys.len(),
                ))?;
            if let Some(h) = r.explicit_hash_key_index
                && usize::try_from(h).map_or(true, |h| h >= aggregate.explicit_hash_keys)
            {
                return Err(out_of_range(
                    "explicit_hash_key_table",
                    h,
                    aggregate.explicit_hash_keys,
                ));
            }
            Ok(UserRecord {
                partition_key,
                data,
            })
        })
        .collect()
}

struct Aggregate<'a> {
    partition_keys: Vec<&'a str>,
    /// Only their number matters: enrich writes with its own partition keys.
    explicit_hash_keys: usize,
    records: Vec<RawRecord<'a>>,
}

#[derive(Default)]
struct RawRecord<'a> {
    partition_key_index: Option<u64>,
    explicit_hash_key_index: Option<u64>,
    data: Option<&'a [u8]>,
}

fn read_aggregate(body: &[u8]) -> Result<Aggregate<'_>, Corruption> {
    let mut out = Aggregate {
        partition_keys: Vec::new(),
        explicit_hash_keys: 0,
        records: Vec::new(),
    };
    let mut r = Reader::new(body, 0);
    while let Some((field, value)) = r.field()? {
        match (field.number, value) {
            (1, Wire::Bytes(b)) => {
                let key = std::str::from_utf8(b).map_err(|_| Corruption::PartitionKeyNotUtf8 {
                    entry: out.partition_keys.len(),
                })?;
                out.partition_keys.push(key);
            }
            (2, Wire::Bytes(_)) => out.explicit_hash_keys += 1,
            (3, Wire::Bytes(b)) => out.records.push(read_record(b, field.value_at)?),
            (1..=3, _) => return Err(field.wrong_type()),
            _ => {}
        }
    }
    Ok(out)
}

fn read_record(bytes: &[u8], base: usize) -> Result<RawRecord<'_>, Corruption> {
    let mut out = RawRecord::default();
    let mut r = Reader::new(bytes, base);
    while let Some((field, value)) = r.field()? {
        match (field.number, value) {
            (1, Wire::Varint(v)) => out.partition_key_index = Some(v),
            (2, Wire::Varint(v)) => out.explicit_hash_key_index = Some(v),
            (3, Wire::Bytes(b)) => out.data = Some(b),
            // Tags are read for soundness only: enrich has no use for them.
            (4, Wire::Bytes(b)) => read_tag(b, field.value_at)?,
            (1..=4, _) => return Err(field.wrong_type()),
            _ => {}
        }
    }
    Ok(out)
}

fn read_tag(bytes: &[u8], base: usize) -> Result<(), Corruption> {
    let mut r = Reader::new(bytes, base);
    while let Some((field, value)) = r.field()? {
        if matches!(field.number, 1 | 2) && !matches!(value, Wire::Bytes(_)) {
            return Err(field.wrong_type());
        }
    }
    Ok(())
}

/// A field's value by wire type (groups, 3 and 4, are refused: the message has none).
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

struct Field {
    number: u64,
    wire: u8,
    /// Offset of the field's tag in the aggregate body, for the message.
    at: usize,
    /// Offset of a length-delimited value's first byte in the aggregate body.
    value_at: usize,
}

impl Field {
    fn wrong_type(&self) -> Corruption {
        Corruption::WireType {
            field: self.number,
            wire: self.wire,
            at: self.at,
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Where `buf` starts in the aggregate body.
    base: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    fn truncated(&self) -> Corruption {
        Corruption::Truncated {
            at: self.base + self.pos,
        }
    }

    fn varint(&mut self) -> Result<u64, Corruption> {
        let start = self.base + self.pos;
        let mut value = 0u64;
        for i in 0..10 {
            let byte = *self.buf.get(self.pos).ok_or_else(|| self.truncated())?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Corruption::VarintTooLong { at: start })
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], Corruption> {
        let left = (self.buf.len() - self.pos) as u64;
        if n > left {
            self.pos = self.buf.len();
            return Err(self.truncated());
        }
        let start = self.pos;
        self.pos += n as usize;
        Ok(&self.buf[start..self.pos])
    }

    /// The next field, or `None` at the end of the message.
    fn field(&mut self) -> Result<Option<(Field, Wire<'a>)>, Corruption> {
        if self.pos == self.buf.len() {
            return Ok(None);
        }
        let at = self.base + self.pos;
        let key = self.varint()?;
        let mut field = Field {
            number: key >> 3,
            wire: (key & 7) as u8,
            at,
            value_at: at,
        };
        let value = match field.wire {
            0 => Wire::Varint(self.varint()?),
            1 => self.take(8).map(|_| Wire::Fixed)?,
            2 => {
                let len = self.varint()?;
                // Nested readers report offsets in the whole body.
                field.value_at = self.base + self.pos;
                Wire::Bytes(self.take(len)?)
            }
            5 => self.take(4).map(|_| Wire::Fixed)?,
            _ => return Err(field.wrong_type()),
        };
        Ok(Some((field, value)))
    }
}

/// A KPL aggregate of `records` (partition key, data): for the bench and the property tests,
/// which need many aggregates of known content. The committed fixtures come from a real
/// producer (aws-kinesis-agg, tests/support/kpl_fixture.py), so this encoder is checked against
/// it rather than against itself. Partition keys are de-duplicated into the table as the KPL does.
#[doc(hidden)]
pub fn encode_aggregate(records: &[(&str, &[u8])]) -> Vec<u8> {
    let mut keys: Vec<&str> = Vec::new();
    let mut body = Vec::new();
    let mut entries = Vec::new();
    for (key, data) in records {
        let index = match keys.iter().position(|k| k == key) {
            Some(i) => i,
            None => {
                keys.push(key);
                keys.len() - 1
            }
        };
        let mut rec = Vec::with_capacity(data.len() + 8);
        put_varint(&mut rec, 1 << 3);
        put_varint(&mut rec, index as u64);
        put_bytes(&mut rec, 3, data);
        entries.push(rec);
    }
    for key in &keys {
        put_bytes(&mut body, 1, key.as_bytes());
    }
    for rec in &entries {
        put_bytes(&mut body, 3, rec);
    }
    let mut out = Vec::with_capacity(MAGIC.len() + body.len() + DIGEST_LEN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&body);
    out.extend_from_slice(&Md5::digest(&body));
    out
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_varint(out, (field << 3) | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        encode_aggregate(&[("u1", b"{\"a\":1}"), ("u2", b"{\"a\":2}"), ("u1", b"")])
    }

    /// `body` framed as an aggregate with a correct digest.
    fn framed(body: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(body);
        out.extend_from_slice(&Md5::digest(body));
        out
    }

    #[test]
    fn an_aggregate_reads_back_in_order_with_keys_from_the_table() {
        let bytes = sample();
        let Framing::Aggregate(users) = framing(&bytes) else {
            panic!("not an aggregate: {:?}", framing(&bytes));
        };
        let got: Vec<(&str, &[u8])> = users.iter().map(|u| (u.partition_key, u.data)).collect();
        assert_eq!(
            got,
            [("u1", &b"{\"a\":1}"[..]), ("u2", b"{\"a\":2}"), ("u1", b"")]
        );
        assert_eq!(framing(br#"{"a":1}"#), Framing::Plain);
        assert_eq!(framing(b""), Framing::Plain);
    }

    #[test]
    fn unknown_fields_are_skipped_and_tables_may_follow_the_records() {
        // Record: pk index 0, an unknown fixed32 field 9, data "x", a tag; then the table.
        let mut rec = vec![0x08, 0x00, 0x4d, 1, 2, 3, 4, 0x1a, 1, b'x'];
        rec.extend_from_slice(&[0x22, 3, 0x0a, 1, b'k']);
        let mut body = vec![0x1a, rec.len() as u8];
        body.extend_from_slice(&rec);
        body.extend_from_slice(&[0x0a, 2, b'p', b'k', 0x51, 0, 0, 0, 0, 0, 0, 0, 0]);
        let bytes = framed(&body);
        let Framing::Aggregate(users) = framing(&bytes) else {
            panic!("not an aggregate");
        };
        assert_eq!(
            users,
            [UserRecord {
                partition_key: "pk",
                data: b"x"
            }]
        );
    }

    #[test]
    fn corrupt_aggregates_say_why() {
        let good = sample();
        let mut bad_digest = good.clone();
        *bad_digest.last_mut().unwrap() ^= 1;
        let mut flipped_body = good.clone();
        flipped_body[6] ^= 0x40;
        let cases: Vec<(Vec<u8>, Corruption)> = vec![
            (MAGIC.to_vec(), Corruption::TooShort(4)),
            (bad_digest, Corruption::DigestMismatch),
            (flipped_body, Corruption::DigestMismatch),
            // A record field that claims 9 bytes where 1 is left.
            (framed(&[0x1a, 9, 0x08]), Corruption::Truncated { at: 3 }),
            // An unknown varint field whose value never ends.
            (
                framed(&[
                    0x20, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
                ]),
                Corruption::VarintTooLong { at: 1 },
            ),
            (
                framed(&[0x0b]),
                Corruption::WireType {
                    field: 1,
                    wire: 3,
                    at: 0,
                },
            ),
            (
                framed(&[0x18, 1]),
                Corruption::WireType {
                    field: 3,
                    wire: 0,
                    at: 0,
                },
            ),
            (
                framed(&[0x0a, 1, b'k', 0x1a, 5, 0x08, 1, 0x1a, 1, b'x']),
                Corruption::IndexOutOfRange {
                    record: 0,
                    table: "partition_key_table",
                    index: 1,
                    len: 1,
                },
            ),
            (
                framed(&[0x0a, 1, b'k', 0x1a, 7, 0x08, 0, 0x10, 0, 0x1a, 1, b'x']),
                Corruption::IndexOutOfRange {
                    record: 0,
                    table: "explicit_hash_key_table",
                    index: 0,
                    len: 0,
                },
            ),
            (
                framed(&[0x0a, 1, b'k', 0x1a, 3, 0x1a, 1, b'x']),
                Corruption::MissingField {
                    record: 0,
                    field: "partition_key_index",
                },
            ),
            (
                framed(&[0x0a, 1, b'k', 0x1a, 2, 0x08, 0]),
                Corruption::MissingField {
                    record: 0,
                    field: "data",
                },
            ),
            (
                framed(&[0x0a, 1, 0xff]),
                Corruption::PartitionKeyNotUtf8 { entry: 0 },
            ),
            (framed(&[0x0a, 1, b'k']), Corruption::Empty),
        ];
        for (bytes, want) in cases {
            match framing(&bytes) {
                Framing::Corrupt(got) => {
                    assert_eq!(got, want, "{bytes:02x?}");
                    assert!(!got.to_string().is_empty());
                }
                other => panic!("{bytes:02x?}: {other:?}, expected {want:?}"),
            }
        }
    }
}

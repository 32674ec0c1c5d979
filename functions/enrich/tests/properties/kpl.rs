//! KPL aggregates on generated Kinesis batches: aggregates of random user records (random
//! payloads, partition keys shared through the table or not) with random corruption (a damaged
//! MD5 trailer or body, a protobuf cut short and re-digested, a partition key index past the
//! table, no user records), mixed with plain records that have their own envelope faults. Both
//! input paths read the same; a sound aggregate becomes its user records in order, each under
//! the Kinesis sequence number with sub-sequence numbers 0, 1, ...; a corrupt one is one record,
//! poison `corrupt_aggregate`, with the aggregate's bytes.

use enrich::input::kpl::{MAGIC, encode_aggregate};
use enrich::input::{InputRecord, Original, parse_invocation};
use enrich::origin::SourceKind;
use enrich::poison::PoisonReason;
use md5::{Digest, Md5};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::envelope::*;
use crate::r#gen::{Payload, payload};
use crate::input::{accounted_for, kinesis_reference, paths_agree, stream};

/// How an aggregate is damaged, if at all.
#[derive(Debug, Clone)]
pub enum Damage {
    None,
    /// One bit of the trailer, or of the body (by index, modulo the length): the MD5 fails.
    Digest(usize),
    Body(usize),
    /// The last `n` bytes of the protobuf dropped (n modulo the last field's length) and the
    /// digest made anew: the MD5 holds, the protobuf ends inside a field.
    Cut(usize),
    /// A user record names partition key table entry `table + over`, re-digested.
    IndexPastTable(u64),
}

#[derive(Debug, Clone)]
pub struct Aggregate {
    /// Envelope (sequence number, shard, arrival, envelope fault); its payload is replaced.
    pub envelope: KinesisRecord,
    pub users: Vec<(String, Payload)>,
    pub damage: Damage,
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        6 => Just(Damage::None),
        1 => any::<usize>().prop_map(Damage::Digest),
        1 => any::<usize>().prop_map(Damage::Body),
        1 => any::<usize>().prop_map(Damage::Cut),
        1 => (0u64..1000).prop_map(Damage::IndexPastTable),
    ]
}

/// Boxed at each level: the composed strategy's value trees are large enough in a debug build
/// to overflow a test thread's stack unboxed.
pub fn aggregate() -> BoxedStrategy<Aggregate> {
    let key = prop_oneof![
        3 => "user-[0-3]".prop_map(String::from),
        1 => crate::r#gen::text(12),
    ];
    (
        kinesis_record().boxed(),
        prop::collection::vec((key, payload().boxed()).boxed(), 0..6).boxed(),
        damage(),
    )
        .prop_map(|(envelope, users, damage)| Aggregate {
            envelope,
            users,
            damage,
        })
        .boxed()
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(body);
    out.extend_from_slice(&Md5::digest(body));
    out
}

impl Aggregate {
    /// The sound aggregate of the user records.
    fn sound(&self) -> Vec<u8> {
        let users: Vec<(&str, &[u8])> = self
            .users
            .iter()
            .map(|(k, p)| (k.as_str(), &p.bytes[..]))
            .collect();
        encode_aggregate(&users)
    }

    /// The bytes as delivered in `kinesis.data`.
    pub fn bytes(&self) -> Vec<u8> {
        let mut sound = self.sound();
        let body_len = sound.len() - MAGIC.len() - 16;
        match self.damage {
            Damage::None => sound,
            Damage::Digest(at) => {
                let at = sound.len() - 16 + at % 16;
                sound[at] ^= 1 << (at % 8);
                sound
            }
            Damage::Body(at) if body_len > 0 => {
                let at = MAGIC.len() + at % body_len;
                sound[at] ^= 1 << (at % 8);
                sound
            }
            Damage::Cut(n) if !self.users.is_empty() => {
                // encode_aggregate writes the records last: the last one's field is
                // tag, length, record.
                let (_, p) = self.users.last().unwrap();
                let mut rec_len = 2 + p.bytes.len() + varint_len(p.bytes.len());
                rec_len += 1; // the partition key index (< 128: at most 5 keys)
                let field_len = 1 + varint_len(rec_len) + rec_len;
                let body = &sound[MAGIC.len()..MAGIC.len() + body_len];
                framed(&body[..body_len - (1 + n % (field_len - 1))])
            }
            Damage::IndexPastTable(over) => {
                let mut body = sound[MAGIC.len()..MAGIC.len() + body_len].to_vec();
                let table = {
                    let mut keys: Vec<&str> = self.users.iter().map(|(k, _)| k.as_str()).collect();
                    keys.sort();
                    keys.dedup();
                    keys.len() as u64
                };
                let mut rec = vec![0x08];
                put_varint(&mut rec, table + over);
                rec.extend_from_slice(&[0x1a, 1, b'x']);
                body.push(0x1a);
                put_varint(&mut body, rec.len() as u64);
                body.extend_from_slice(&rec);
                framed(&body)
            }
            // Damage that needs a body or a record to act on, on an aggregate without one:
            // the aggregate as made (corrupt anyway when it has no user records).
            Damage::Body(_) | Damage::Cut(_) => sound,
        }
    }

    /// What the input layer must make of the aggregate's bytes, when its envelope is sound.
    pub fn corrupt(&self) -> bool {
        self.users.is_empty() || !matches!(self.damage, Damage::None)
    }

    pub fn record(&self) -> KinesisRecord {
        let mut r = self.envelope.clone();
        r.payload = Payload {
            bytes: self.bytes(),
            expect: None,
            event: None,
        };
        r
    }
}

fn varint_len(v: usize) -> usize {
    let mut out = Vec::new();
    put_varint(&mut out, v as u64);
    out.len()
}

/// A batch entry: a plain record or an aggregate.
#[derive(Debug, Clone)]
pub enum Entry {
    Plain(KinesisRecord),
    Aggregated(Aggregate),
}

impl Entry {
    fn record(&self) -> KinesisRecord {
        match self {
            Entry::Plain(r) => r.clone(),
            Entry::Aggregated(a) => a.record(),
        }
    }
}

fn entry() -> BoxedStrategy<Entry> {
    prop_oneof![
        1 => kinesis_record().prop_map(Entry::Plain).boxed(),
        2 => aggregate().prop_map(Entry::Aggregated).boxed(),
    ]
    .boxed()
}

/// The input records an aggregate must become, checked against what was read.
fn aggregate_reference(a: &Aggregate, got: &[InputRecord]) -> Result<usize, TestCaseError> {
    let record = a.record();
    // An envelope fault decides alone: the record is what it was before aggregates existed.
    if record.envelope_poison().is_some() {
        kinesis_reference(&record, &got[0])?;
        return Ok(1);
    }
    let first = &got[0];
    prop_assert_eq!(first.origin.source, SourceKind::Kinesis);
    if a.corrupt() {
        prop_assert_eq!(first.origin.sub_sequence, None);
        prop_assert_eq!(&first.origin.position, &a.envelope.sequence);
        prop_assert_eq!(&first.original, &Original::Bytes(a.bytes()));
        let poison = first.poison.as_ref().map(|p| p.reason);
        prop_assert_eq!(
            poison,
            Some(PoisonReason::CorruptAggregate),
            "{:?}",
            a.damage
        );
        return Ok(1);
    }
    prop_assert!(got.len() >= a.users.len());
    for (i, ((key, p), r)) in a.users.iter().zip(got).enumerate() {
        prop_assert_eq!(&r.origin.position, &a.envelope.sequence);
        prop_assert_eq!(r.origin.sub_sequence, Some(i as u32));
        prop_assert_eq!(r.origin.key.as_deref(), Some(key.as_str()));
        prop_assert_eq!(&r.original, &Original::Bytes(p.bytes.clone()));
        prop_assert!(r.poison.is_none());
        prop_assert_eq!(&r.origin.shard, &first.origin.shard);
        prop_assert_eq!(r.origin.arrival, first.origin.arrival);
    }
    Ok(a.users.len())
}

proptest! {
    #[test]
    fn aggregates_read_the_same_on_both_paths_as_their_user_records(
        entries in prop::collection::vec(entry(), 1..8)
    ) {
        let records: Vec<KinesisRecord> = entries.iter().map(Entry::record).collect();
        let json = kinesis_event(&records).to_string();
        let fast = paths_agree(&json)?;
        let refused = records.iter().any(KinesisRecord::refused_by_the_type);
        prop_assert_eq!(fast.is_none(), refused);
        let b = stream(parse_invocation(&json));
        accounted_for(&b)?;
        let mut at = 0;
        for e in &entries {
            prop_assert!(at < b.records.len(), "fewer records than the batch holds");
            at += match e {
                Entry::Plain(r) => {
                    kinesis_reference(r, &b.records[at])?;
                    prop_assert_eq!(b.records[at].origin.sub_sequence, None);
                    1
                }
                Entry::Aggregated(a) => aggregate_reference(a, &b.records[at..])?,
            };
        }
        prop_assert_eq!(at, b.records.len());
        // Every input record has an event id of its own (sequence numbers are drawn at
        // random, so two entries may share one: ids then are equal only in that case).
        for (i, x) in b.records.iter().enumerate() {
            for y in &b.records[i + 1..] {
                let same_place = x.origin.shard == y.origin.shard
                    && x.origin.position == y.origin.position
                    && x.origin.sub_sequence == y.origin.sub_sequence;
                prop_assert_eq!(x.origin.event_id() == y.origin.event_id(), same_place);
            }
        }
    }
}

//! The exact `approximateArrivalTimestamp` of a Kinesis record, noted in the same pass that
//! reads the record into aws_lambda_events' type.
//!
//! aws_lambda_events 1.2.1 turns the number back into text and takes the digits after the point
//! as milliseconds: `1795425335.5` becomes .005 s and `1795425335.98` becomes .098 s. Kinesis
//! writes the shortest decimal, so every arrival whose milliseconds are under 100 or end in a
//! zero is misread: about one record in five, by up to 0.9 s. The record type stays as it is;
//! [`ArrivalSeed`] wraps the deserializer while the record is read and notes the number as the
//! parser hands it over. A second pass over each record (to find the number in its text) cost
//! a fifth of the handler's throughput; this costs nothing measurable.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};

/// Reads a `T` and notes, in `seen`, a number the type reads without a type hint. In a
/// Kinesis record that is only the arrival timestamp: every other member is read as a string,
/// an option or a struct.
pub struct ArrivalSeed<'c, T> {
    seen: &'c Cell<Option<f64>>,
    read: PhantomData<T>,
}

impl<'c, T> ArrivalSeed<'c, T> {
    pub fn new(seen: &'c Cell<Option<f64>>) -> Self {
        Self {
            seen,
            read: PhantomData,
        }
    }
}

impl<'de, T: de::Deserialize<'de>> DeserializeSeed<'de> for ArrivalSeed<'_, T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        T::deserialize(Spy {
            inner: deserializer,
            seen: self.seen,
        })
    }
}

/// Epoch seconds (a number, or a string holding one) to the millisecond.
pub fn from_epoch_seconds(seconds: f64) -> Option<chrono::DateTime<chrono::Utc>> {
    if !seconds.is_finite() {
        return None;
    }
    chrono::DateTime::from_timestamp_millis((seconds * 1000.0).round() as i64)
}

/// The deserializer, passed on unchanged except that structs and maps keep being watched and an
/// untyped read (`deserialize_any`) has its number noted (and a float handed on as its text,
/// see [`NumberSpy::visit_f64`]).
struct Spy<'c, D> {
    inner: D,
    seen: &'c Cell<Option<f64>>,
}

macro_rules! pass_on {
    ($($method:ident),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.inner.$method(visitor)
        })*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Spy<'_, D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_any(NumberSpy {
            inner: visitor,
            seen: self.seen,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner.deserialize_struct(
            name,
            fields,
            MembersSpy {
                inner: visitor,
                seen: self.seen,
            },
        )
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_map(MembersSpy {
            inner: visitor,
            seen: self.seen,
        })
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner.deserialize_newtype_struct(
            name,
            NewtypeSpy {
                inner: visitor,
                seen: self.seen,
            },
        )
    }

    pass_on!(
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_option,
        deserialize_unit,
        deserialize_seq,
        deserialize_identifier,
        deserialize_ignored_any,
    );

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner.deserialize_unit_struct(name, visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner.deserialize_tuple(len, visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner.deserialize_tuple_struct(name, len, visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner.deserialize_enum(name, variants, visitor)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// A struct or map visitor whose member values keep being watched.
struct MembersSpy<'c, V> {
    inner: V,
    seen: &'c Cell<Option<f64>>,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for MembersSpy<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.inner.expecting(f)
    }

    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<V::Value, M::Error> {
        self.inner.visit_map(MapSpy {
            inner: map,
            seen: self.seen,
        })
    }
}

struct MapSpy<'c, M> {
    inner: M,
    seen: &'c Cell<Option<f64>>,
}

impl<'de, M: MapAccess<'de>> MapAccess<'de> for MapSpy<'_, M> {
    type Error = M::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, M::Error> {
        self.inner.next_key_seed(seed)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, M::Error> {
        self.inner.next_value_seed(SeedSpy {
            inner: seed,
            seen: self.seen,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

struct SeedSpy<'c, S> {
    inner: S,
    seen: &'c Cell<Option<f64>>,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for SeedSpy<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.inner.deserialize(Spy {
            inner: deserializer,
            seen: self.seen,
        })
    }
}

/// A newtype's visitor: what it wraps keeps being watched (the timestamp is a newtype).
struct NewtypeSpy<'c, V> {
    inner: V,
    seen: &'c Cell<Option<f64>>,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for NewtypeSpy<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.inner.expecting(f)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<V::Value, D::Error> {
        self.inner.visit_newtype_struct(Spy {
            inner: deserializer,
            seen: self.seen,
        })
    }
}

/// An untyped read's visitor: numbers (and numeric strings) are noted, then everything is
/// handed to the real visitor as it came.
struct NumberSpy<'c, V> {
    inner: V,
    seen: &'c Cell<Option<f64>>,
}

/// A float's text on the stack (epoch seconds need about 20 characters).
#[derive(Default)]
struct ShortText {
    buf: [u8; 32],
    len: usize,
}

impl ShortText {
    fn as_str(&self) -> &str {
        // `buf[..len]` is only ever copied from a &str (see `push`), whole characters.
        std::str::from_utf8(&self.buf[..self.len]).expect("written from a str")
    }
}

impl fmt::Write for ShortText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

macro_rules! note_and_pass_on {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            self.seen.set(Some(v as f64));
            self.inner.$method(v)
        })*
    };
}

macro_rules! pass_on_value {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            self.inner.$method(v)
        })*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for NumberSpy<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.inner.expecting(f)
    }

    note_and_pass_on!(visit_u64: u64, visit_i64: i64);

    /// Handed on as its shortest decimal text, which the type accepts and reads back to the
    /// same number. Why: the type's untagged "string or number" tries a string first, and for a
    /// number that attempt builds an error message (formatting the float) only to drop it; that
    /// was 3 to 4% of the handler's time. The record read is identical (a test checks).
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<V::Value, E> {
        self.seen.set(Some(v));
        let mut text = ShortText::default();
        if v.is_finite() && fmt::Write::write_fmt(&mut text, format_args!("{v}")).is_ok() {
            self.inner.visit_str(text.as_str())
        } else {
            self.inner.visit_f64(v)
        }
    }

    pass_on_value!(
        visit_bool: bool,
        visit_i8: i8,
        visit_i16: i16,
        visit_i32: i32,
        visit_i128: i128,
        visit_u8: u8,
        visit_u16: u16,
        visit_u32: u32,
        visit_u128: u128,
        visit_f32: f32,
        visit_char: char,
        visit_string: String,
        visit_byte_buf: Vec<u8>,
    );

    fn visit_str<E: de::Error>(self, v: &str) -> Result<V::Value, E> {
        self.seen.set(v.trim().parse().ok());
        self.inner.visit_str(v)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<V::Value, E> {
        self.seen.set(v.trim().parse().ok());
        self.inner.visit_borrowed_str(v)
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<V::Value, E> {
        self.inner.visit_bytes(v)
    }

    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<V::Value, E> {
        self.inner.visit_borrowed_bytes(v)
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.inner.visit_some(deserializer)
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<V::Value, D::Error> {
        self.inner.visit_newtype_struct(deserializer)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.inner.visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(map)
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.inner.visit_enum(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::kinesis::KinesisEventRecord;

    fn record(arrival: &str) -> String {
        format!(
            r#"{{"kinesis": {{"kinesisSchemaVersion": "1.0", "partitionKey": "k", "sequenceNumber": "1",
                "data": "e30=", "approximateArrivalTimestamp": {arrival}}},
                "eventSource": "aws:kinesis", "eventID": "shardId-000000000000:1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/raw"}}"#
        )
    }

    fn read_sonic(text: &str) -> (KinesisEventRecord, Option<f64>) {
        let seen = Cell::new(None);
        let mut de = sonic_rs::Deserializer::from_str(text);
        let rec = ArrivalSeed::<KinesisEventRecord>::new(&seen)
            .deserialize(&mut de)
            .unwrap();
        (rec, seen.get())
    }

    fn read_serde_json(text: &str) -> (KinesisEventRecord, Option<f64>) {
        let seen = Cell::new(None);
        let mut de = serde_json::Deserializer::from_str(text);
        let rec = ArrivalSeed::<KinesisEventRecord>::new(&seen)
            .deserialize(&mut de)
            .unwrap();
        (rec, seen.get())
    }

    #[test]
    fn the_arrival_is_read_exactly_where_aws_lambda_events_misreads_it() {
        for (arrival, millis) in [
            ("1795425335.5", 500),
            ("1795425335.05", 50),
            ("1795425335.98", 980),
            ("1795425335.987", 987),
            ("1795425335.005", 5),
            ("1795425335", 0),
            ("\"1795425335.25\"", 250),
        ] {
            let text = record(arrival);
            let plain: KinesisEventRecord = serde_json::from_str(&text).unwrap();
            for (rec, seen) in [read_sonic(&text), read_serde_json(&text)] {
                // The type is read exactly as without the seed (the seed only watches)...
                assert_eq!(rec, plain, "{arrival}");
                // ...and the noted number is the exact time.
                let exact = from_epoch_seconds(seen.expect(arrival)).unwrap();
                assert_eq!(exact.timestamp(), 1_795_425_335, "{arrival}");
                assert_eq!(exact.timestamp_subsec_millis(), millis, "{arrival}");
            }
        }
        // Proof that the workaround is needed: the type's own reading of .5 is .005.
        let plain: KinesisEventRecord = serde_json::from_str(&record("1795425335.5")).unwrap();
        assert_eq!(
            plain
                .kinesis
                .approximate_arrival_timestamp
                .timestamp_subsec_millis(),
            5,
            "aws_lambda_events reads .5 s as 5 ms; when this fails it is fixed upstream and \
             arrival.rs can go"
        );
    }

    #[test]
    fn a_record_the_type_rejects_is_still_rejected() {
        let bad = record("1795425335.5").replace("\"e30=\"", "\"not base64!\"");
        let seen = Cell::new(None);
        let mut de = sonic_rs::Deserializer::from_str(&bad);
        assert!(
            ArrivalSeed::<KinesisEventRecord>::new(&seen)
                .deserialize(&mut de)
                .is_err()
        );
        assert_eq!(from_epoch_seconds(f64::NAN), None);
    }
}

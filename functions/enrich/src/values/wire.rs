//! The wire headers schema registries put in front of an Avro body, parsed without any I/O.
//!
//! - AWS Glue Schema Registry: a header version byte (3), a compression byte (0 none, 5 zlib),
//!   the 16-byte schema version id (a UUID), then the body (zlib-compressed when so marked).
//! - Confluent: a magic byte (0), the schema id as 4 bytes big-endian, then the body.

use std::borrow::Cow;
use std::fmt;

/// The Glue serializer's header version byte.
pub const GLUE_HEADER_VERSION: u8 = 3;
/// Glue's compression byte: none.
pub const GLUE_COMPRESSION_NONE: u8 = 0;
/// Glue's compression byte: zlib (the Java serializer's `Deflater`, with the zlib wrapper).
pub const GLUE_COMPRESSION_ZLIB: u8 = 5;
const GLUE_HEADER_LEN: usize = 18;
const CONFLUENT_HEADER_LEN: usize = 5;
/// A decompressed body larger than this is refused: a record's value cannot be enriched past
/// Kinesis' 1 MiB output limit anyway, and a zlib bomb must not take the sandbox's memory.
pub const MAX_INFLATED_BYTES: usize = 4 * 1024 * 1024;

/// Which registry a schema id belongs to, and the id itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SchemaId {
    /// A Glue schema version id (a UUID).
    Glue([u8; 16]),
    /// A Confluent schema id.
    Confluent(u32),
}

impl fmt::Display for SchemaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaId::Glue(b) => {
                // The UUID's canonical 8-4-4-4-12 form, as the Glue API names it.
                for (i, byte) in b.iter().enumerate() {
                    if matches!(i, 4 | 6 | 8 | 10) {
                        f.write_str("-")?;
                    }
                    write!(f, "{byte:02x}")?;
                }
                Ok(())
            }
            SchemaId::Confluent(id) => write!(f, "{id}"),
        }
    }
}

/// Why a value's header cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("value is {0} bytes, shorter than the {1}-byte header")]
    TooShort(usize, usize),
    #[error("Glue header version byte is {0}, expected 3")]
    GlueVersion(u8),
    #[error("Glue compression byte is {0}, expected 0 (none) or 5 (zlib)")]
    GlueCompression(u8),
    #[error("Confluent magic byte is {0}, expected 0")]
    ConfluentMagic(u8),
    #[error("zlib body does not inflate: {0}")]
    Inflate(String),
}

/// A framed value: whose schema it was written with, and the Avro body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framed<'a> {
    pub schema: SchemaId,
    /// Borrowed from the value, or inflated from it.
    pub body: Cow<'a, [u8]>,
}

/// A Glue Schema Registry framed value.
pub fn glue(value: &[u8]) -> Result<Framed<'_>, HeaderError> {
    if value.len() < GLUE_HEADER_LEN {
        return Err(HeaderError::TooShort(value.len(), GLUE_HEADER_LEN));
    }
    if value[0] != GLUE_HEADER_VERSION {
        return Err(HeaderError::GlueVersion(value[0]));
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(&value[2..GLUE_HEADER_LEN]);
    let rest = &value[GLUE_HEADER_LEN..];
    let body = match value[1] {
        GLUE_COMPRESSION_NONE => Cow::Borrowed(rest),
        GLUE_COMPRESSION_ZLIB => Cow::Owned(inflate(rest)?),
        other => return Err(HeaderError::GlueCompression(other)),
    };
    Ok(Framed {
        schema: SchemaId::Glue(id),
        body,
    })
}

/// A Confluent wire-format value.
pub fn confluent(value: &[u8]) -> Result<Framed<'_>, HeaderError> {
    if value.len() < CONFLUENT_HEADER_LEN {
        return Err(HeaderError::TooShort(value.len(), CONFLUENT_HEADER_LEN));
    }
    if value[0] != 0 {
        return Err(HeaderError::ConfluentMagic(value[0]));
    }
    let id = u32::from_be_bytes([value[1], value[2], value[3], value[4]]);
    Ok(Framed {
        schema: SchemaId::Confluent(id),
        body: Cow::Borrowed(&value[CONFLUENT_HEADER_LEN..]),
    })
}

fn inflate(zlib: &[u8]) -> Result<Vec<u8>, HeaderError> {
    miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(zlib, MAX_INFLATED_BYTES)
        .map_err(|e| HeaderError::Inflate(format!("{:?}", e.status)))
}

/// `id` as Glue's API spells a schema version id, parsed back (for configuration and tests).
pub fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let hex: Vec<u8> = text.bytes().filter(|b| *b != b'-').collect();
    if hex.len() != 32 || text.len() != 36 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "b7b4a7f0-9c1d-4c4e-8f3a-0d2e5c6b7a81";

    fn glue_framed(compression: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![GLUE_HEADER_VERSION, compression];
        out.extend_from_slice(&parse_uuid(ID).unwrap());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn glue_headers_name_their_schema_version_and_inflate_zlib() {
        let plain = glue_framed(0, b"\x02ab");
        let f = glue(&plain).unwrap();
        assert_eq!(f.schema.to_string(), ID);
        assert_eq!(&*f.body, b"\x02ab");
        let zlib = miniz_oxide::deflate::compress_to_vec_zlib(b"\x02ab", 6);
        let compressed = glue_framed(5, &zlib);
        let f = glue(&compressed).unwrap();
        assert_eq!(&*f.body, b"\x02ab");
        // A header alone is a value with an empty body (Avro's encoding of an empty record).
        assert_eq!(&*glue(&glue_framed(0, b"")).unwrap().body, b"");
    }

    #[test]
    fn bad_glue_headers_say_why() {
        assert_eq!(glue(b"\x03\x00"), Err(HeaderError::TooShort(2, 18)));
        let mut v = glue_framed(0, b"x");
        v[0] = 0;
        assert_eq!(glue(&v), Err(HeaderError::GlueVersion(0)));
        assert_eq!(
            glue(&glue_framed(1, b"x")),
            Err(HeaderError::GlueCompression(1))
        );
        assert!(matches!(
            glue(&glue_framed(5, b"not zlib")),
            Err(HeaderError::Inflate(_))
        ));
    }

    #[test]
    fn a_zlib_bomb_is_refused_not_inflated() {
        let big = vec![0u8; MAX_INFLATED_BYTES + 1];
        let zlib = miniz_oxide::deflate::compress_to_vec_zlib(&big, 9);
        assert!(zlib.len() < 64 * 1024);
        assert!(matches!(
            glue(&glue_framed(5, &zlib)),
            Err(HeaderError::Inflate(_))
        ));
    }

    #[test]
    fn confluent_headers_are_a_magic_byte_and_a_big_endian_id() {
        let f = confluent(&[0, 0, 0, 1, 2, 9, 9]).unwrap();
        assert_eq!(f.schema, SchemaId::Confluent(258));
        assert_eq!(&*f.body, &[9, 9]);
        assert_eq!(confluent(&[0, 0, 1]), Err(HeaderError::TooShort(3, 5)));
        assert_eq!(
            confluent(&[1, 0, 0, 0, 1]),
            Err(HeaderError::ConfluentMagic(1))
        );
    }

    #[test]
    fn uuids_read_back() {
        assert_eq!(SchemaId::Glue(parse_uuid(ID).unwrap()).to_string(), ID);
        assert_eq!(parse_uuid("b7b4a7f09c1d4c4e8f3a0d2e5c6b7a81"), None);
        assert_eq!(parse_uuid("zzb4a7f0-9c1d-4c4e-8f3a-0d2e5c6b7a81"), None);
    }
}

//! Kinesis Producer Library (KPL) record aggregation: the documented wire format, both ways.
//!
//! An aggregate is the magic `F3 89 9A C2`, a protobuf `AggregatedRecord`
//! (`repeated string partition_key_table = 1; repeated string explicit_hash_key_table = 2;
//! repeated Record records = 3;` where `Record` is `uint64 partition_key_index = 1;
//! uint64 explicit_hash_key_index = 2; bytes data = 3; repeated Tag tags = 4;`) and the MD5 of
//! the protobuf bytes. Lambda hands aggregates to the function as they are; [`deaggregate`]
//! splits one into its user records, [`aggregate`] builds one (for tests and for the
//! `event kinesis` command).
//!
//! Hand-written rather than `prost`: the format is two messages and four fields, and a
//! reader this size avoids a code generator (build script or derive macro) in the Lambda's
//! build for it. Unknown fields are skipped as protobuf requires. Not here: Kinesis events,
//! base64 (the Lambda crate), what the records hold (the framer).

use md5::{Digest, Md5};

/// The first four bytes of every KPL aggregate.
pub const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];
const DIGEST_LEN: usize = 16;

/// One user record of an aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub partition_key: String,
    pub explicit_hash_key: Option<String>,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KplError {
    #[error("KPL aggregate MD5 mismatch (truncated or corrupted record)")]
    Digest,
    #[error("KPL aggregate protobuf is malformed: {0}")]
    Malformed(&'static str),
}

/// True when `data` starts with the KPL magic and is long enough to hold a digest: such a
/// record is an aggregate (a JSON or gzip record never starts with `F3`).
pub fn is_aggregate(data: &[u8]) -> bool {
    data.len() >= MAGIC.len() + DIGEST_LEN && data.starts_with(&MAGIC)
}

/// The user records of an aggregate, in order. A wrong digest or a malformed message is an
/// error for the whole aggregate: its records cannot be trusted one by one.
pub fn deaggregate(data: &[u8]) -> Result<Vec<UserRecord>, KplError> {
    if !is_aggregate(data) {
        return Err(KplError::Malformed("no KPL magic"));
    }
    let (message, digest) = data[MAGIC.len()..].split_at(data.len() - MAGIC.len() - DIGEST_LEN);
    if Md5::digest(message).as_slice() != digest {
        return Err(KplError::Digest);
    }
    let mut partition_keys = Vec::new();
    let mut hash_keys = Vec::new();
    let mut raw_records = Vec::new();
    let mut reader = Reader::new(message);
    while let Some((field, wire)) = reader.key()? {
        match (field, wire) {
            (1, WIRE_LEN) => partition_keys.push(reader.string()?),
            (2, WIRE_LEN) => hash_keys.push(reader.string()?),
            (3, WIRE_LEN) => raw_records.push(reader.bytes()?),
            (_, wire) => reader.skip(wire)?,
        }
    }
    raw_records
        .into_iter()
        .map(|raw| {
            let mut partition_key_index = None;
            let mut hash_key_index = None;
            let mut data = None;
            let mut reader = Reader::new(raw);
            while let Some((field, wire)) = reader.key()? {
                match (field, wire) {
                    (1, WIRE_VARINT) => partition_key_index = Some(reader.varint()?),
                    (2, WIRE_VARINT) => hash_key_index = Some(reader.varint()?),
                    (3, WIRE_LEN) => data = Some(reader.bytes()?.to_vec()),
                    (_, wire) => reader.skip(wire)?,
                }
            }
            let partition_key = partition_key_index
                .and_then(|i| partition_keys.get(usize::try_from(i).ok()?))
                .ok_or(KplError::Malformed(
                    "record without a valid partition key index",
                ))?
                .clone();
            let explicit_hash_key = match hash_key_index {
                None => None,
                Some(i) => Some(
                    usize::try_from(i)
                        .ok()
                        .and_then(|i| hash_keys.get(i))
                        .ok_or(KplError::Malformed("record with an invalid hash key index"))?
                        .clone(),
                ),
            };
            Ok(UserRecord {
                partition_key,
                explicit_hash_key,
                data: data.ok_or(KplError::Malformed("record without data"))?,
            })
        })
        .collect()
}

/// Builds one aggregate of `records` (partition keys deduplicated into the table, as the KPL does).
pub fn aggregate(records: &[UserRecord]) -> Vec<u8> {
    let mut partition_keys: Vec<&str> = Vec::new();
    let mut hash_keys: Vec<&str> = Vec::new();
    let mut body = Vec::new();
    let mut encoded_records = Vec::new();
    for record in records {
        let pk = position_or_push(&mut partition_keys, &record.partition_key);
        let mut encoded = Vec::new();
        put_key(&mut encoded, 1, WIRE_VARINT);
        put_varint(&mut encoded, pk as u64);
        if let Some(hash_key) = &record.explicit_hash_key {
            let hk = position_or_push(&mut hash_keys, hash_key);
            put_key(&mut encoded, 2, WIRE_VARINT);
            put_varint(&mut encoded, hk as u64);
        }
        put_len(&mut encoded, 3, &record.data);
        encoded_records.push(encoded);
    }
    for key in &partition_keys {
        put_len(&mut body, 1, key.as_bytes());
    }
    for key in &hash_keys {
        put_len(&mut body, 2, key.as_bytes());
    }
    for encoded in &encoded_records {
        put_len(&mut body, 3, encoded);
    }
    let mut out = Vec::with_capacity(MAGIC.len() + body.len() + DIGEST_LEN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&body);
    out.extend_from_slice(&Md5::digest(&body));
    out
}

fn position_or_push<'a>(table: &mut Vec<&'a str>, key: &'a str) -> usize {
    match table.iter().position(|k| *k == key) {
        Some(i) => i,
        None => {
            table.push(key);
            table.len() - 1
        }
    }
}

const WIRE_VARINT: u8 = 0;
const WIRE_FIXED64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_FIXED32: u8 = 5;

fn put_key(out: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(out, (u64::from(field) << 3) | u64::from(wire));
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_len(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(out, field, WIRE_LEN);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A protobuf reader over one message's bytes.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    /// The next field number and wire type, or `None` at the end of the message.
    fn key(&mut self) -> Result<Option<(u64, u8)>, KplError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        Ok(Some((key >> 3, (key & 7) as u8)))
    }

    fn varint(&mut self) -> Result<u64, KplError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self
                .rest
                .split_first()
                .ok_or(KplError::Malformed("truncated varint"))?;
            self.rest = rest;
            value |= u64::from(byte & 0x7F) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(KplError::Malformed("varint longer than 10 bytes"))
    }

    fn take(&mut self, len: u64) -> Result<&'a [u8], KplError> {
        let len = usize::try_from(len)
            .ok()
            .filter(|len| *len <= self.rest.len())
            .ok_or(KplError::Malformed("field longer than its message"))?;
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }

    fn bytes(&mut self) -> Result<&'a [u8], KplError> {
        let len = self.varint()?;
        self.take(len)
    }

    fn string(&mut self) -> Result<String, KplError> {
        let bytes = self.bytes()?;
        String::from_utf8(bytes.to_vec()).map_err(|_| KplError::Malformed("key is not UTF-8"))
    }

    fn skip(&mut self, wire: u8) -> Result<(), KplError> {
        match wire {
            WIRE_VARINT => self.varint().map(drop),
            WIRE_FIXED64 => self.take(8).map(drop),
            WIRE_LEN => self.bytes().map(drop),
            WIRE_FIXED32 => self.take(4).map(drop),
            _ => Err(KplError::Malformed("unsupported wire type")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(pk: &str, hash: Option<&str>, data: &[u8]) -> UserRecord {
        UserRecord {
            partition_key: pk.into(),
            explicit_hash_key: hash.map(Into::into),
            data: data.to_vec(),
        }
    }

    #[test]
    fn round_trip_keeps_order_keys_and_data() {
        let records = vec![
            record("user-1", None, br#"{"id_str":"1"}"#),
            record("user-2", Some("123"), &[0x1f, 0x8b, 0, 1, 2]),
            record("user-1", None, b""),
            record("user-3", Some("123"), &vec![b'x'; 300]),
        ];
        let aggregate = aggregate(&records);
        assert!(is_aggregate(&aggregate));
        assert_eq!(deaggregate(&aggregate).unwrap(), records);
    }

    #[test]
    fn bad_aggregates_are_errors() {
        let good = aggregate(&[record("k", None, b"{}")]);
        let mut wrong_digest = good.clone();
        let last = wrong_digest.len() - 1;
        wrong_digest[last] ^= 1;
        let mut truncated_field = MAGIC.to_vec();
        let body = [0x1a, 0x10, 0x08]; // field 3, length 16, only one byte follows
        truncated_field.extend_from_slice(&body);
        truncated_field.extend_from_slice(&Md5::digest(body));
        let mut no_pk = MAGIC.to_vec();
        let body = [0x1a, 0x03, 0x1a, 0x01, b'x']; // a record with data, no key table
        no_pk.extend_from_slice(&body);
        no_pk.extend_from_slice(&Md5::digest(body));
        let table = [
            (&wrong_digest, KplError::Digest),
            (
                &truncated_field,
                KplError::Malformed("field longer than its message"),
            ),
            (
                &no_pk,
                KplError::Malformed("record without a valid partition key index"),
            ),
        ];
        for (data, expected) in table {
            assert_eq!(deaggregate(data), Err(expected));
        }
        assert!(!is_aggregate(b"{\"id_str\":\"1\"}"));
        assert!(!is_aggregate(&MAGIC));
    }

    #[test]
    fn unknown_fields_are_skipped() {
        let mut body = Vec::new();
        put_len(&mut body, 1, b"pk");
        put_key(&mut body, 9, WIRE_FIXED32);
        body.extend_from_slice(&[1, 2, 3, 4]);
        let mut inner = Vec::new();
        put_key(&mut inner, 1, WIRE_VARINT);
        put_varint(&mut inner, 0);
        put_len(&mut inner, 4, b"\x0a\x01t"); // a tag
        put_len(&mut inner, 3, b"data");
        put_len(&mut body, 3, &inner);
        let mut data = MAGIC.to_vec();
        data.extend_from_slice(&body);
        data.extend_from_slice(&Md5::digest(&body));
        assert_eq!(deaggregate(&data).unwrap(), [record("pk", None, b"data")]);
    }
}

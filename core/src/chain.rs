//! The canonical encoding of a history row and its SHA-256 hash (the per-entity hash chain).
//!
//! A history row's hash covers every column except the hash itself, `prev_hash` included,
//! so that changing any value, deleting a row or reordering rows breaks the chain. The
//! encoding is unambiguous and independent of session settings: each field is its column
//! name and a typed value, length-prefixed; timestamps are integers (microseconds since
//! 2000-01-01 UTC, PostgreSQL's own representation), never text in some DateStyle.

use sha2::{Digest, Sha256};

/// Domain separation: a hash made for anything else can never match a history row's.
const DOMAIN: &[u8] = b"pulse history row v1\0";

/// A column value, in the canonical form the hash covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    Null,
    /// Integers of any width (int2, int4, int8, xid8), and timestamps as microseconds.
    Int(i64),
    /// `xid8` and other unsigned 64-bit values.
    Unsigned(u64),
    Bool(bool),
    /// Text, and the canonical text of jsonb (jsonb_out orders keys and normalizes spacing).
    Text(&'a str),
    /// bytea and uuid (16 raw bytes).
    Bytes(&'a [u8]),
    /// A one-dimensional text array without NULL elements.
    TextArray(Vec<&'a str>),
}

impl Value<'_> {
    fn tag(&self) -> u8 {
        match self {
            Self::Null => 0,
            Self::Int(_) => 1,
            Self::Unsigned(_) => 2,
            Self::Bool(_) => 3,
            Self::Text(_) => 4,
            Self::Bytes(_) => 5,
            Self::TextArray(_) => 6,
        }
    }
}

/// Accumulates the canonical encoding of one row, field by field, in column order.
#[derive(Clone, Debug, Default)]
pub struct RowEncoder {
    bytes: Vec<u8>,
}

fn put_len_prefixed(out: &mut Vec<u8>, data: &[u8]) {
    // Column values are far below 4 GiB (PostgreSQL's limit is 1 GiB).
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
}

impl RowEncoder {
    pub fn new(table: &str) -> Self {
        let mut bytes = DOMAIN.to_vec();
        put_len_prefixed(&mut bytes, table.as_bytes());
        Self { bytes }
    }

    pub fn field(&mut self, name: &str, value: &Value<'_>) -> &mut Self {
        put_len_prefixed(&mut self.bytes, name.as_bytes());
        self.bytes.push(value.tag());
        match value {
            Value::Null => {}
            Value::Int(v) => self.bytes.extend_from_slice(&v.to_be_bytes()),
            Value::Unsigned(v) => self.bytes.extend_from_slice(&v.to_be_bytes()),
            Value::Bool(v) => self.bytes.push(u8::from(*v)),
            Value::Text(v) => put_len_prefixed(&mut self.bytes, v.as_bytes()),
            Value::Bytes(v) => put_len_prefixed(&mut self.bytes, v),
            Value::TextArray(items) => {
                self.bytes
                    .extend_from_slice(&(items.len() as u32).to_be_bytes());
                for item in items {
                    put_len_prefixed(&mut self.bytes, item.as_bytes());
                }
            }
        }
        self
    }

    pub fn encoding(&self) -> &[u8] {
        &self.bytes
    }

    /// SHA-256 of the encoding: the row's `row_hash`.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(&self.bytes).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(summary: &str) -> RowEncoder {
        let mut e = RowEncoder::new("audit.project_history");
        e.field("project_id", &Value::Int(7))
            .field("version", &Value::Int(2))
            .field("operation", &Value::Text("UPDATE"))
            .field("snapshot", &Value::Text(r#"{"name": "Apollo"}"#))
            .field("changed_columns", &Value::TextArray(vec!["name"]))
            .field("change_summary", &Value::Text(summary))
            .field("reason", &Value::Null)
            .field("changed_at", &Value::Int(848_000_000_000_000))
            .field("transaction_id", &Value::Unsigned(1234))
            .field("prev_hash", &Value::Bytes(&[9u8; 32]));
        e
    }

    #[test]
    fn the_same_row_hashes_the_same() {
        assert_eq!(sample("name: A → B").hash(), sample("name: A → B").hash());
    }

    #[test]
    fn any_change_of_a_value_changes_the_hash() {
        assert_ne!(sample("name: A → B").hash(), sample("name: A → C").hash());
    }

    #[test]
    fn known_answer() {
        // Pins the encoding: changing it breaks every chain already written.
        let mut e = RowEncoder::new("t");
        e.field("a", &Value::Int(1)).field("b", &Value::Null);
        let expected: Vec<u8> = [
            DOMAIN,
            &[0, 0, 0, 1],
            b"t",
            &[0, 0, 0, 1],
            b"a",
            &[1],
            &1i64.to_be_bytes(),
            &[0, 0, 0, 1],
            b"b",
            &[0],
        ]
        .concat();
        assert_eq!(e.encoding(), expected.as_slice());
        assert_eq!(e.hash(), <[u8; 32]>::from(Sha256::digest(&expected)));
    }

    #[test]
    fn boundaries_between_fields_are_unambiguous() {
        // "ab" + "c" must differ from "a" + "bc", in names and in values.
        let mut one = RowEncoder::new("t");
        one.field("x", &Value::Text("ab"))
            .field("y", &Value::Text("c"));
        let mut two = RowEncoder::new("t");
        two.field("x", &Value::Text("a"))
            .field("y", &Value::Text("bc"));
        assert_ne!(one.hash(), two.hash());
        let mut three = RowEncoder::new("t");
        three.field("xy", &Value::Text("abc"));
        assert_ne!(one.hash(), three.hash());
    }

    #[test]
    fn null_empty_and_types_are_distinct() {
        let hash = |v: Value<'_>| {
            let mut e = RowEncoder::new("t");
            e.field("v", &v);
            e.hash()
        };
        let all = [
            hash(Value::Null),
            hash(Value::Text("")),
            hash(Value::Bytes(b"")),
            hash(Value::TextArray(vec![])),
            hash(Value::TextArray(vec![""])),
            hash(Value::Int(0)),
            hash(Value::Unsigned(0)),
            hash(Value::Bool(false)),
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn the_table_is_part_of_the_hash() {
        let mut a = RowEncoder::new("audit.project_history");
        a.field("v", &Value::Int(1));
        let mut b = RowEncoder::new("audit.document_history");
        b.field("v", &Value::Int(1));
        assert_ne!(a.hash(), b.hash());
    }
}

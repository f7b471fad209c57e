//! SHA-256 over bytea with the `sha2` crate, equal to PostgreSQL's built-in `sha256()` (a
//! regression test compares them on every length up to two blocks and beyond).

use pgrx::prelude::*;
use sha2::{Digest, Sha256};

/// Whether `value` is a SHA-256 in pulse's stored form: 64 lower-case hex digits.
pub fn is_sha256_hex(value: &str) -> bool {
    value.len() == 64
        && value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[pg_schema]
mod pulse {
    use super::*;

    /// SHA-256 of `data` as 64 lower-case hex digits (`encode(sha256(data), 'hex')`).
    #[pg_extern(immutable, strict, parallel_safe)]
    fn sha256_hex(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    /// SHA-256 of `data` as 32 raw bytes (`sha256(data)`).
    #[pg_extern(immutable, strict, parallel_safe)]
    fn sha256_bytes(data: &[u8]) -> Vec<u8> {
        Sha256::digest(data).to_vec()
    }

    /// Whether `value` is 64 lower-case hexadecimal digits.
    #[pg_extern(immutable, strict, parallel_safe, name = "is_sha256_hex")]
    fn is_sha256_hex_sql(value: &str) -> bool {
        is_sha256_hex(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_is_64_lower_case_hex_digits() {
        assert!(is_sha256_hex(&hex::encode(Sha256::digest(b""))));
        assert!(!is_sha256_hex(&"A".repeat(64)));
        assert!(!is_sha256_hex(&"a".repeat(63)));
    }
}

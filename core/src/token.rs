//! Session bearer tokens.
//!
//! A token is `pulse_` followed by the unpadded URL-safe base64 of 32 random
//! bytes (49 ASCII characters in total). The prefix makes leaked tokens easy to
//! spot by secret scanners and in logs; URL-safe base64 keeps the token usable
//! in headers, URLs and single-quoted SQL literals without escaping.
//!
//! The database stores only [`token_hash`] of a token, never the token itself,
//! so a read of the sessions table does not yield usable credentials. Tokens
//! carry 256 bits of entropy, so a fast unsalted hash is sufficient (no
//! password-style stretching is needed) and lets lookups go through an index.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::{DecodeError, DecodeSliceError, Engine as _};
use sha2::{Digest, Sha256};

/// Number of random bytes in a token.
pub const TOKEN_BYTES: usize = 32;
/// Fixed prefix of every token.
pub const TOKEN_PREFIX: &str = "pulse_";
/// Length of the base64 part: ceil(32 * 4 / 3) without padding.
const ENCODED_LEN: usize = 43;
/// Total token length in bytes (and characters; tokens are ASCII).
pub const TOKEN_LEN: usize = TOKEN_PREFIX.len() + ENCODED_LEN;

/// Why a string is not a well-formed token. No variant carries any part of
/// the token, because the string may be a valid credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("session token must start with \"pulse_\"")]
    WrongPrefix,
    #[error("session token must be exactly 49 characters long")]
    WrongLength,
    #[error("session token contains characters outside the URL-safe base64 alphabet")]
    InvalidCharacter,
    #[error("session token is not canonically encoded")]
    NonCanonical,
}

/// Builds a token from caller-supplied randomness (the extension uses
/// PostgreSQL's `pg_strong_random`, so this crate needs no RNG).
pub fn encode_token(random: &[u8; TOKEN_BYTES]) -> String {
    let mut out = String::with_capacity(TOKEN_LEN);
    out.push_str(TOKEN_PREFIX);
    URL_SAFE_NO_PAD.encode_string(random, &mut out);
    out
}

/// SHA-256 of the token's UTF-8 bytes.
///
/// This is deliberately the plain digest of the whole string, prefix included,
/// so that SQL can compute the identical value without the extension:
/// `sha256(convert_to(token, 'UTF8'))` (PostgreSQL 11+). Valid tokens are
/// ASCII, so the result does not depend on the server encoding.
///
/// No format check is done here; call [`check_token_format`] first so garbage
/// is rejected with a clear error instead of simply not being found.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Checks prefix, length, alphabet and canonical encoding.
///
/// Canonical encoding matters: 43 base64 characters carry 258 bits, so the
/// last character has 2 unused bits. Accepting non-zero unused bits would let
/// four different strings decode to the same random bytes while hashing to
/// four different [`token_hash`] values; rejecting them keeps exactly one
/// spelling per token.
pub fn check_token_format(token: &str) -> Result<(), TokenError> {
    decode_token(token).map(|_| ())
}

/// Like [`check_token_format`] but also returns the 32 random bytes.
pub fn decode_token(token: &str) -> Result<[u8; TOKEN_BYTES], TokenError> {
    let body = token
        .strip_prefix(TOKEN_PREFIX)
        .ok_or(TokenError::WrongPrefix)?;
    if token.len() != TOKEN_LEN {
        return Err(TokenError::WrongLength);
    }
    // Checked explicitly (rather than relying on the decoder) so that '='
    // padding and standard-alphabet '+' '/' get the alphabet error.
    if !body
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(TokenError::InvalidCharacter);
    }
    let mut out = [0u8; TOKEN_BYTES];
    match URL_SAFE_NO_PAD.decode_slice(body, &mut out) {
        Ok(TOKEN_BYTES) => Ok(out),
        Err(DecodeSliceError::DecodeError(DecodeError::InvalidLastSymbol(..))) => {
            Err(TokenError::NonCanonical)
        }
        // Unreachable given the length and alphabet checks above, but map
        // conservatively instead of panicking.
        Ok(_) | Err(_) => Err(TokenError::WrongLength),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counting() -> [u8; 32] {
        std::array::from_fn(|i| i as u8)
    }

    /// Independently computed with Python:
    /// `"pulse_" + base64.urlsafe_b64encode(bytes(range(32))).rstrip(b"=")`.
    const COUNTING_TOKEN: &str = "pulse_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    /// `hashlib.sha256(COUNTING_TOKEN.encode()).hexdigest()`
    const COUNTING_TOKEN_SHA256: &str =
        "1434578af034fc0b004a3050ca57f6c05972ee02f6c55061b17631b629bd1fc2";

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn encodes_known_value() {
        let t = encode_token(&counting());
        assert_eq!(t, COUNTING_TOKEN);
        assert_eq!(t.len(), TOKEN_LEN);
        assert_eq!(TOKEN_LEN, 49);
    }

    #[test]
    fn round_trips() {
        for seed in 0u8..=255 {
            let bytes: [u8; 32] = std::array::from_fn(|i| {
                seed.wrapping_mul(151)
                    .wrapping_add((i as u8).wrapping_mul(89))
            });
            let t = encode_token(&bytes);
            assert_eq!(t.len(), TOKEN_LEN);
            assert!(t.starts_with(TOKEN_PREFIX));
            assert_eq!(check_token_format(&t), Ok(()));
            assert_eq!(decode_token(&t), Ok(bytes));
        }
        // Extremes exercise '-' and '_' (values 62 and 63).
        for bytes in [[0u8; 32], [0xff; 32], [0xfb; 32]] {
            assert_eq!(decode_token(&encode_token(&bytes)), Ok(bytes));
        }
        assert_eq!(
            encode_token(&[0xff; 32]),
            "pulse___________________________________________8"
        );
    }

    #[test]
    fn hash_matches_sha256_vector() {
        assert_eq!(hex(&token_hash(COUNTING_TOKEN)), COUNTING_TOKEN_SHA256);
        // FIPS 180-2 test vector, to show the function is plain SHA-256.
        assert_eq!(
            hex(&token_hash("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn rejects_wrong_prefix() {
        let body = &COUNTING_TOKEN[TOKEN_PREFIX.len()..];
        for p in [
            "", "Pulse_", "PULSE_", "pulse-", "pulse", "xulse_", " pulse_",
        ] {
            assert_eq!(
                check_token_format(&format!("{p}{body}")),
                Err(TokenError::WrongPrefix),
                "{p}"
            );
        }
        assert_eq!(check_token_format(""), Err(TokenError::WrongPrefix));
        assert_eq!(
            check_token_format("Bearer pulse_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"),
            Err(TokenError::WrongPrefix)
        );
    }

    #[test]
    fn rejects_wrong_length() {
        assert_eq!(check_token_format("pulse_"), Err(TokenError::WrongLength));
        assert_eq!(
            check_token_format(&COUNTING_TOKEN[..TOKEN_LEN - 1]),
            Err(TokenError::WrongLength)
        );
        assert_eq!(
            check_token_format(&format!("{COUNTING_TOKEN}A")),
            Err(TokenError::WrongLength)
        );
        assert_eq!(
            check_token_format(&format!("{COUNTING_TOKEN} ")),
            Err(TokenError::WrongLength)
        );
        // Padding appended to an otherwise valid token.
        assert_eq!(
            check_token_format(&format!("{COUNTING_TOKEN}=")),
            Err(TokenError::WrongLength)
        );
        // Multi-byte character: right char count, wrong byte count.
        let mut multibyte = COUNTING_TOKEN[..TOKEN_LEN - 1].to_string();
        multibyte.push('é');
        assert_eq!(check_token_format(&multibyte), Err(TokenError::WrongLength));
    }

    #[test]
    fn rejects_bad_alphabet() {
        let base = COUNTING_TOKEN;
        for bad in ['+', '/', '=', ' ', '.', '\0', '\n', '\''] {
            let mut t = base[..TOKEN_LEN - 1].to_string();
            t.push(bad);
            assert_eq!(
                check_token_format(&t),
                Err(TokenError::InvalidCharacter),
                "{bad:?}"
            );
            let t = format!("{}{bad}{}", &base[..10], &base[11..]);
            assert_eq!(
                check_token_format(&t),
                Err(TokenError::InvalidCharacter),
                "{bad:?}"
            );
        }
        // Standard-alphabet encoding of bytes that produce '+' and '/'.
        let url_safe = encode_token(&[0xfb; 32]);
        let body = url_safe[TOKEN_PREFIX.len()..]
            .replace('-', "+")
            .replace('_', "/");
        assert!(body.contains('+') && body.contains('/'));
        let std_b64 = format!("{TOKEN_PREFIX}{body}");
        assert_eq!(
            check_token_format(&std_b64),
            Err(TokenError::InvalidCharacter)
        );
    }

    #[test]
    fn rejects_non_canonical_trailing_bits() {
        // Last char '8' = 0b111100 is canonical for 0xff..; '9', '-', '_'
        // differ only in the 2 unused bits.
        let canonical = encode_token(&[0xff; 32]);
        assert!(canonical.ends_with('8'));
        for last in ['9', '-', '_'] {
            let mut t = canonical[..TOKEN_LEN - 1].to_string();
            t.push(last);
            assert_eq!(check_token_format(&t), Err(TokenError::NonCanonical));
        }
        // Same for a token ending in 'A' (canonical) vs 'B', 'C', 'D'.
        let zeros = encode_token(&[0; 32]);
        assert!(zeros.ends_with('A'));
        for last in ['B', 'C', 'D'] {
            let mut t = zeros[..TOKEN_LEN - 1].to_string();
            t.push(last);
            assert_eq!(check_token_format(&t), Err(TokenError::NonCanonical));
        }
    }

    #[test]
    fn errors_never_contain_the_token() {
        let secret_body = "SeCrEtSeCrEtSeCrEtSeCrEtSeCrEtSeCrEtSeCrEt9";
        for t in [
            format!("pulse_{secret_body}"),
            format!("pulse_{secret_body}x"),
            format!("Pulse_{secret_body}"),
            format!("pulse_{}+", &secret_body[..42]),
        ] {
            let err = check_token_format(&t).expect_err(&t);
            for rendered in [err.to_string(), format!("{err:?}")] {
                assert!(!rendered.contains(&t));
                assert!(!rendered.contains("SeCrEt"));
            }
        }
    }
}

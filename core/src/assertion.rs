//! Signed identity assertions.
//!
//! After authenticating a session, the backend that did the work writes an
//! assertion into a transaction-local setting. Other backends that execute
//! parts of the same statement (Citus workers, parallel workers) never saw the
//! authentication, so they read the setting instead. Anyone can `SET` that
//! setting, which is why the assertion carries an HMAC under a server-side key:
//! the MAC, not the setting's location, is what makes it trustworthy.
//!
//! Text form (ASCII, no spaces or quotes, so it can be placed in a
//! single-quoted SQL literal without escaping):
//!
//! ```text
//! v1.<user_id>.<session uuid>.<expires_at_unix>.<mac>
//! ```
//!
//! `mac` is the unpadded URL-safe base64 of HMAC-SHA256(key, text before the
//! last dot). Every field has exactly one accepted spelling, so one set of
//! claims has exactly one valid assertion string per key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::uuid_text::{parse_uuid, uuid_to_string};

type HmacSha256 = Hmac<Sha256>;

/// Version tag of the only format this module produces and accepts.
pub const VERSION: &str = "v1";
/// Minimum key length: HMAC-SHA256 keys shorter than the hash output reduce
/// the security margin, and a short key is usually a configuration mistake
/// (e.g. a passphrase instead of random bytes).
pub const MIN_KEY_LEN: usize = 32;
/// Upper bound on accepted input; the longest valid v1 assertion is
/// 2 + 1 + 10 + 1 + 36 + 1 + 19 + 1 + 43 = 114 bytes. Bounding it early keeps
/// hostile settings from costing anything.
pub const MAX_ASSERTION_LEN: usize = 128;
/// Length of the base64 MAC (32 bytes, unpadded).
const MAC_TEXT_LEN: usize = 43;

/// Who the caller is, as attested by the backend that authenticated them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claims {
    /// Positive user id.
    pub user_id: i32,
    /// Session id (a PostgreSQL `uuid`, as raw bytes).
    pub session_id: [u8; 16],
    /// Unix time (seconds) from which the assertion is no longer valid; must be >= 0.
    pub expires_at_unix: i64,
}

/// Why an assertion could not be produced or accepted. Variants carry only
/// static text, never any part of the key or the assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AssertionError {
    #[error("identity assertion key must be at least 32 bytes")]
    KeyTooShort,
    /// `sign` refuses claims that `verify` would not accept.
    #[error("identity assertion claims are invalid: {0}")]
    InvalidClaims(&'static str),
    #[error("identity assertion is malformed: {0}")]
    Malformed(&'static str),
    #[error("identity assertion version is not supported")]
    UnsupportedVersion,
    #[error("identity assertion signature is invalid")]
    BadSignature,
    #[error("identity assertion has expired")]
    Expired,
}

/// Produces the signed text form of `claims`.
///
/// Fails with [`AssertionError::KeyTooShort`] for keys under [`MIN_KEY_LEN`]
/// bytes and with [`AssertionError::InvalidClaims`] for a non-positive
/// `user_id` or a negative `expires_at_unix` (which [`verify`] would reject).
pub fn sign(key: &[u8], claims: &Claims) -> Result<String, AssertionError> {
    check_key(key)?;
    if claims.user_id <= 0 {
        return Err(AssertionError::InvalidClaims("user_id must be positive"));
    }
    if claims.expires_at_unix < 0 {
        return Err(AssertionError::InvalidClaims(
            "expires_at_unix must not be negative",
        ));
    }
    let mut text = format!(
        "{VERSION}.{}.{}.{}",
        claims.user_id,
        uuid_to_string(&claims.session_id),
        claims.expires_at_unix
    );
    let tag = new_mac(key)?
        .chain_update(text.as_bytes())
        .finalize()
        .into_bytes();
    text.push('.');
    URL_SAFE_NO_PAD.encode_string(tag, &mut text);
    Ok(text)
}

/// Parses and authenticates an assertion and checks that it has not expired
/// (`now_unix < expires_at_unix`).
///
/// Order matters: the string is only *parsed* before the MAC check; no field
/// value influences anything but parsing until the MAC has been verified, and
/// expiry is checked last, so an unauthenticated string can only ever yield
/// `Malformed`, `UnsupportedVersion` or `BadSignature`.
pub fn verify(key: &[u8], assertion: &str, now_unix: i64) -> Result<Claims, AssertionError> {
    check_key(key)?;
    if assertion.len() > MAX_ASSERTION_LEN {
        return Err(AssertionError::Malformed("too long"));
    }

    // Version first, so that a future format with a different layout gets a
    // clear "unsupported" rather than a confusing parse error.
    let version = assertion.split('.').next().unwrap_or("");
    if version != VERSION {
        let looks_versioned = version.len() > 1
            && version.starts_with('v')
            && version[1..].bytes().all(|b| b.is_ascii_digit());
        return Err(if looks_versioned {
            AssertionError::UnsupportedVersion
        } else {
            AssertionError::Malformed("expected v1.<user>.<session>.<expiry>.<mac>")
        });
    }

    // The MAC covers exactly the text before the last dot.
    let (signed, mac_text) = assertion
        .rsplit_once('.')
        .ok_or(AssertionError::Malformed("expected 5 dot-separated fields"))?;
    let fields: Vec<&str> = signed.split('.').collect();
    let [_, user_text, session_text, expiry_text] = fields[..] else {
        return Err(AssertionError::Malformed("expected 5 dot-separated fields"));
    };

    let user_id = parse_user_id(user_text)?;
    let session_id = parse_uuid(session_text).ok_or(AssertionError::Malformed(
        "session id must be a lower-case hyphenated uuid",
    ))?;
    let expires_at_unix = parse_expiry(expiry_text)?;
    let tag = decode_mac(mac_text)?;

    // Mac::verify_slice compares in constant time, so response timing does not
    // reveal how many leading MAC bytes a forgery got right.
    let mut mac = new_mac(key)?;
    mac.update(signed.as_bytes());
    mac.verify_slice(&tag)
        .map_err(|_| AssertionError::BadSignature)?;

    if now_unix >= expires_at_unix {
        return Err(AssertionError::Expired);
    }
    Ok(Claims {
        user_id,
        session_id,
        expires_at_unix,
    })
}

fn check_key(key: &[u8]) -> Result<(), AssertionError> {
    if key.len() < MIN_KEY_LEN {
        return Err(AssertionError::KeyTooShort);
    }
    Ok(())
}

fn new_mac(key: &[u8]) -> Result<HmacSha256, AssertionError> {
    // HMAC accepts keys of any length, so this cannot fail; mapping the error
    // keeps the functions panic-free without an unwrap.
    HmacSha256::new_from_slice(key).map_err(|_| AssertionError::KeyTooShort)
}

/// Plain decimal digits, no sign, no leading zero.
fn is_canonical_decimal(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
}

fn parse_user_id(s: &str) -> Result<i32, AssertionError> {
    const ERR: AssertionError =
        AssertionError::Malformed("user id must be a positive decimal integer");
    // Rust's integer parsing accepts a leading '+', hence the explicit check.
    if !is_canonical_decimal(s) {
        return Err(ERR);
    }
    match s.parse::<i32>() {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(ERR),
    }
}

fn parse_expiry(s: &str) -> Result<i64, AssertionError> {
    const ERR: AssertionError =
        AssertionError::Malformed("expiry must be a non-negative decimal integer");
    if !is_canonical_decimal(s) {
        return Err(ERR);
    }
    s.parse::<i64>().map_err(|_| ERR)
}

fn decode_mac(s: &str) -> Result<[u8; 32], AssertionError> {
    const ERR: AssertionError =
        AssertionError::Malformed("signature must be 43 characters of unpadded URL-safe base64");
    if s.len() != MAC_TEXT_LEN {
        return Err(ERR);
    }
    // The engine rejects '=' and non-zero trailing bits, so each MAC has one
    // spelling; otherwise the last character could be altered without
    // invalidating the assertion.
    let mut out = [0u8; 32];
    match URL_SAFE_NO_PAD.decode_slice(s, &mut out) {
        Ok(32) => Ok(out),
        _ => Err(ERR),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [0x0b; 32];
    const NOW: i64 = 1_600_000_000;

    /// Known answer, computed independently with Python:
    /// `base64.urlsafe_b64encode(hmac.new(b'\x0b'*32,
    ///  b'v1.42.00000000-0000-0000-0000-000000000001.1700000000',
    ///  hashlib.sha256).digest()).rstrip(b'=')`
    const KAT_MAC: &str = "53327wXU8wghXnlxoYp5VcL6OrDisf7PL8Aiai4UvgY";
    const KAT_SIGNED: &str = "v1.42.00000000-0000-0000-0000-000000000001.1700000000";

    fn kat_claims() -> Claims {
        let mut session_id = [0u8; 16];
        session_id[15] = 1;
        Claims {
            user_id: 42,
            session_id,
            expires_at_unix: 1_700_000_000,
        }
    }

    fn sample_claims() -> Claims {
        Claims {
            user_id: 1_234_567,
            session_id: [
                0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17,
                0x40, 0xff,
            ],
            expires_at_unix: NOW + 60,
        }
    }

    /// Re-signs arbitrary text with the test key, to build assertions that are
    /// correctly signed but syntactically invalid.
    fn sign_raw(text: &str) -> String {
        let tag = new_mac(&KEY)
            .unwrap()
            .chain_update(text.as_bytes())
            .finalize()
            .into_bytes();
        format!("{text}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    #[test]
    fn known_answer() {
        let a = sign(&KEY, &kat_claims()).unwrap();
        assert_eq!(a, format!("{KAT_SIGNED}.{KAT_MAC}"));
        assert_eq!(verify(&KEY, &a, 1_699_999_999), Ok(kat_claims()));
    }

    #[test]
    fn round_trip() {
        let claims = sample_claims();
        let a = sign(&KEY, &claims).unwrap();
        assert!(a.starts_with("v1.1234567.123e4567-e89b-12d3-a456-4266141740ff.1600000060."));
        assert_eq!(verify(&KEY, &a, NOW), Ok(claims));

        for user_id in [1, 9, 10, i32::MAX] {
            for expires_at_unix in [1, 10, i64::MAX] {
                let c = Claims {
                    user_id,
                    session_id: [0xab; 16],
                    expires_at_unix,
                };
                let a = sign(&KEY, &c).unwrap();
                assert!(a.len() <= MAX_ASSERTION_LEN);
                assert_eq!(verify(&KEY, &a, 0), Ok(c));
            }
        }
        let longest = sign(
            &KEY,
            &Claims {
                user_id: i32::MAX,
                session_id: [0xff; 16],
                expires_at_unix: i64::MAX,
            },
        )
        .unwrap();
        assert_eq!(longest.len(), 114);
    }

    #[test]
    fn output_is_sql_literal_safe() {
        let a = sign(&KEY, &sample_claims()).unwrap();
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
    }

    #[test]
    fn any_single_character_change_is_rejected() {
        let a = sign(&KEY, &sample_claims()).unwrap();
        let chars: Vec<char> = a.chars().collect();
        let mut replacements: Vec<char> = (0x20u8..0x7f).map(char::from).collect();
        replacements.extend(['é', '\0', '\n']);
        for i in 0..chars.len() {
            for &r in &replacements {
                if r == chars[i] {
                    continue;
                }
                let mut changed = chars.clone();
                changed[i] = r;
                let changed: String = changed.into_iter().collect();
                assert!(verify(&KEY, &changed, NOW).is_err(), "{changed}");
            }
            // Deletion and insertion at every position, too.
            let mut deleted = chars.clone();
            deleted.remove(i);
            let deleted: String = deleted.into_iter().collect();
            assert!(verify(&KEY, &deleted, NOW).is_err(), "{deleted}");
            for ins in ['0', 'A', '.', '-'] {
                let mut inserted = chars.clone();
                inserted.insert(i, ins);
                let inserted: String = inserted.into_iter().collect();
                assert!(verify(&KEY, &inserted, NOW).is_err(), "{inserted}");
            }
        }
        // Appending anything is rejected as well.
        for suffix in ["A", ".", "=", " ", "\n"] {
            assert!(verify(&KEY, &format!("{a}{suffix}"), NOW).is_err());
        }
    }

    #[test]
    fn non_canonical_mac_encoding_is_rejected() {
        // The 43rd character has 2 unused bits; flipping them would decode to
        // the same MAC if the decoder were lenient.
        let a = sign(&KEY, &kat_claims()).unwrap();
        assert!(a.ends_with('Y')); // 'Y' = 24 = 0b011000, low bits 00
        for last in ['Z', 'a', 'b'] {
            let mut t = a[..a.len() - 1].to_string();
            t.push(last);
            assert!(matches!(
                verify(&KEY, &t, 0),
                Err(AssertionError::Malformed(_))
            ));
        }
        assert!(matches!(
            verify(&KEY, &format!("{a}="), 0),
            Err(AssertionError::Malformed(_))
        ));
    }

    #[test]
    fn different_key_is_rejected() {
        let a = sign(&KEY, &sample_claims()).unwrap();
        let mut other = KEY;
        other[31] ^= 1;
        assert_eq!(verify(&other, &a, NOW), Err(AssertionError::BadSignature));
        assert_eq!(
            verify(&[0x0b; 33], &a, NOW),
            Err(AssertionError::BadSignature)
        );
    }

    #[test]
    fn short_keys_are_refused() {
        for len in [0, 1, 16, 31] {
            let key = vec![0x0b; len];
            assert_eq!(
                sign(&key, &sample_claims()),
                Err(AssertionError::KeyTooShort)
            );
            assert_eq!(
                verify(&key, &format!("{KAT_SIGNED}.{KAT_MAC}"), 0),
                Err(AssertionError::KeyTooShort)
            );
        }
        assert!(sign(&[0u8; 32], &sample_claims()).is_ok());
        assert!(sign(&[0u8; 200], &sample_claims()).is_ok());
    }

    #[test]
    fn expiry_boundary() {
        let c = sample_claims();
        let a = sign(&KEY, &c).unwrap();
        assert_eq!(verify(&KEY, &a, c.expires_at_unix - 1), Ok(c));
        assert_eq!(
            verify(&KEY, &a, c.expires_at_unix),
            Err(AssertionError::Expired)
        );
        assert_eq!(
            verify(&KEY, &a, c.expires_at_unix + 1),
            Err(AssertionError::Expired)
        );
        assert_eq!(verify(&KEY, &a, i64::MIN), Ok(c));
        assert_eq!(verify(&KEY, &a, i64::MAX), Err(AssertionError::Expired));
        // expires_at = 0 is well-formed but expired at any non-negative time.
        let zero = Claims {
            expires_at_unix: 0,
            ..c
        };
        let a = sign(&KEY, &zero).unwrap();
        assert!(a.contains(".0."));
        assert_eq!(verify(&KEY, &a, 0), Err(AssertionError::Expired));
        assert_eq!(verify(&KEY, &a, -1), Ok(zero));
    }

    #[test]
    fn signature_is_checked_before_expiry() {
        // An expired assertion with a wrong MAC must say BadSignature: nothing
        // about an unauthenticated string's claims may leak into the outcome.
        let a = sign(&KEY, &kat_claims()).unwrap();
        let mut other = KEY;
        other[0] = 0;
        assert_eq!(
            verify(&other, &a, i64::MAX),
            Err(AssertionError::BadSignature)
        );
    }

    #[test]
    fn forged_assertions_are_rejected() {
        // Hand-written claims with made-up MACs.
        for forged in [
            "v1.1.00000000-0000-0000-0000-000000000001.9999999999.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "v1.1.00000000-0000-0000-0000-000000000001.9999999999.53327wXU8wghXnlxoYp5VcL6OrDisf7PL8Aiai4UvgY",
            "v1.43.00000000-0000-0000-0000-000000000001.1700000000.53327wXU8wghXnlxoYp5VcL6OrDisf7PL8Aiai4UvgY",
            "v1.42.00000000-0000-0000-0000-000000000002.1700000000.53327wXU8wghXnlxoYp5VcL6OrDisf7PL8Aiai4UvgY",
            "v1.42.00000000-0000-0000-0000-000000000001.1800000000.53327wXU8wghXnlxoYp5VcL6OrDisf7PL8Aiai4UvgY",
        ] {
            assert_eq!(
                verify(&KEY, forged, 0),
                Err(AssertionError::BadSignature),
                "{forged}"
            );
        }
        // A MAC made with a different (e.g. guessed, all-zero) key.
        let mut guessed = [0u8; 32];
        guessed[0] = 1;
        let forged = sign(&guessed, &kat_claims()).unwrap();
        assert_eq!(verify(&KEY, &forged, 0), Err(AssertionError::BadSignature));
        // Unkeyed SHA-256 of the signed text is not a valid MAC.
        use sha2::Digest;
        let digest = Sha256::digest(KAT_SIGNED.as_bytes());
        let forged = format!("{KAT_SIGNED}.{}", URL_SAFE_NO_PAD.encode(digest));
        assert_eq!(verify(&KEY, &forged, 0), Err(AssertionError::BadSignature));
    }

    #[test]
    fn malformed_inputs_are_rejected() {
        let valid = format!("{KAT_SIGNED}.{KAT_MAC}");
        let malformed = |s: &str| {
            assert!(
                matches!(verify(&KEY, s, 0), Err(AssertionError::Malformed(_))),
                "{s}: {:?}",
                verify(&KEY, s, 0)
            );
        };
        malformed("");
        malformed(".");
        malformed("v1");
        malformed("v1.");
        malformed("v1....");
        malformed(&format!("{valid}."));
        malformed(&format!("{valid}.{KAT_MAC}"));
        malformed(&format!(" {valid}"));
        malformed(&format!("{valid} "));
        malformed(&format!("{valid}\n"));
        malformed(&valid.replace(".42.", ". 42."));
        malformed(KAT_SIGNED);
        malformed(&format!("{KAT_SIGNED}.{}", &KAT_MAC[..42]));
        malformed(&format!("{KAT_SIGNED}.{KAT_MAC}A"));
        malformed(&format!("'{valid}'"));
        malformed("V1.42.00000000-0000-0000-0000-000000000001.1700000000.53327wXU8wghXnlxoYp5VcL6OrDisf7PL8Aiai4UvgY");
        malformed(&"v1.".repeat(60));

        // Correctly signed but non-canonical fields: the strict parser must
        // reject them even though the MAC matches, so one claim set has only
        // one spelling.
        for text in [
            "v1.042.00000000-0000-0000-0000-000000000001.1700000000",
            "v1.+42.00000000-0000-0000-0000-000000000001.1700000000",
            "v1.-42.00000000-0000-0000-0000-000000000001.1700000000",
            "v1.0.00000000-0000-0000-0000-000000000001.1700000000",
            "v1.2147483648.00000000-0000-0000-0000-000000000001.1700000000",
            "v1..00000000-0000-0000-0000-000000000001.1700000000",
            "v1.42.00000000-0000-0000-0000-00000000000A.1700000000",
            "v1.42.ABCDEF00-0000-0000-0000-000000000001.1700000000",
            "v1.42.00000000000000000000000000000001.1700000000",
            "v1.42.{00000000-0000-0000-0000-000000000001}.1700000000",
            "v1.42.00000000-0000-0000-0000-000000000001.01700000000",
            "v1.42.00000000-0000-0000-0000-000000000001.+1700000000",
            "v1.42.00000000-0000-0000-0000-000000000001.-1700000000",
            "v1.42.00000000-0000-0000-0000-000000000001.-1",
            "v1.42.00000000-0000-0000-0000-000000000001.",
            "v1.42.00000000-0000-0000-0000-000000000001.9223372036854775808",
            "v1.42.00000000-0000-0000-0000-000000000001.1.7e9",
            "v1.42.00000000-0000-0000-0000-000000000001.1700000000.extra",
            "v1.42.00000000-0000-0000-0000-000000000001",
        ] {
            malformed(&sign_raw(text));
        }
    }

    #[test]
    fn unsupported_version() {
        for v in ["v0", "v2", "v10", "v01"] {
            let a = format!("{v}.42.00000000-0000-0000-0000-000000000001.1700000000.{KAT_MAC}");
            assert_eq!(
                verify(&KEY, &a, 0),
                Err(AssertionError::UnsupportedVersion),
                "{v}"
            );
        }
    }

    #[test]
    fn sign_refuses_unverifiable_claims() {
        for user_id in [0, -1, i32::MIN] {
            let c = Claims {
                user_id,
                ..sample_claims()
            };
            assert!(matches!(
                sign(&KEY, &c),
                Err(AssertionError::InvalidClaims(_))
            ));
        }
        let c = Claims {
            expires_at_unix: -1,
            ..sample_claims()
        };
        assert!(matches!(
            sign(&KEY, &c),
            Err(AssertionError::InvalidClaims(_))
        ));
    }

    #[test]
    fn errors_do_not_echo_input() {
        let a = sign(&KEY, &sample_claims()).unwrap();
        let mac = a.rsplit('.').next().unwrap().to_string();
        let tampered = a.replace("1234567", "7654321");
        for input in [tampered.as_str(), "v1.x", "garbage"] {
            let err = verify(&KEY, input, NOW).unwrap_err();
            for rendered in [err.to_string(), format!("{err:?}")] {
                assert!(!rendered.contains(input));
                assert!(!rendered.contains(&mac));
                assert!(!rendered.contains("7654321"));
            }
        }
    }
}

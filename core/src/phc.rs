//! Validation of password hashes before they are stored.
//!
//! The application hashes passwords itself (argon2id recommended) and hands the
//! database a PHC-style string. The database cannot verify that a hash was
//! computed correctly, but it *can* refuse anything that is not structurally a
//! hash, which is what stops the classic mistake of storing a plaintext
//! password (or a truncated / mangled hash that would lock the user out).
//!
//! Security rule for this module: the input may well be a password typed into
//! the wrong field, so no error ever carries any part of it. Every payload in
//! [`PhcError`] is a `&'static str` or a constant, which makes leaking the input
//! impossible by construction rather than by care.
//!
//! Decisions worth knowing:
//! * Salt and hash of argon2/scrypt are standard base64 (`A-Za-z0-9+/`) without
//!   `=` padding, decoded *strictly*: non-zero trailing bits in the last
//!   character are rejected. The argon2 reference implementation and the common
//!   scrypt producers (passlib, hashlib-based code) emit canonical base64, and
//!   the reference argon2 decoder rejects non-canonical input too, so strictness
//!   costs nothing and keeps one hash = one string.
//! * bcrypt's 53-character tail is only checked against the bcrypt alphabet and
//!   length, not for canonical trailing bits, because some historical
//!   implementations stored non-canonical salts that crypt_blowfish still
//!   verifies; rejecting them would lock real users out.
//! * argon2 `keyid=`/`data=` parameters are rejected: they are obsolete in the
//!   PHC argon2 encoding and no mainstream library emits them.
//! * scrypt additionally requires `r * p < 2^30` (RFC 7914 §2), which every
//!   implementation enforces, so no genuine hash violates it.

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::{DecodeError, Engine as _};

/// Longest accepted string. Real hashes are ~100 bytes; the cap bounds work and
/// storage for hostile input.
pub const MAX_HASH_LEN: usize = 512;

/// Minimum decoded salt length for argon2/scrypt (recommended minimum by the
/// argon2 RFC 9106 is 16; 8 is the hard floor of the argon2 spec).
pub const MIN_SALT_BYTES: usize = 8;
/// Minimum decoded output length for argon2/scrypt; shorter outputs are too
/// weak to be a deliberate choice.
pub const MIN_HASH_BYTES: usize = 16;
/// Maximum decoded output length for argon2/scrypt.
pub const MAX_HASH_BYTES: usize = 1024;

/// Length of the bcrypt salt+hash tail (22 salt characters + 31 hash characters).
const BCRYPT_TAIL_LEN: usize = 53;
const BCRYPT_SALT_LEN: usize = 22;

/// The hash families the database accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PasswordHashAlgorithm {
    Argon2id,
    Argon2i,
    Argon2d,
    Bcrypt,
    Scrypt,
}

impl PasswordHashAlgorithm {
    /// Stable lower-case name, suitable for storing next to the hash or for
    /// policies such as "only argon2id".
    pub fn name(&self) -> &'static str {
        match self {
            Self::Argon2id => "argon2id",
            Self::Argon2i => "argon2i",
            Self::Argon2d => "argon2d",
            Self::Bcrypt => "bcrypt",
            Self::Scrypt => "scrypt",
        }
    }
}

impl std::fmt::Display for PasswordHashAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a string was refused as a password hash.
///
/// Messages are user-facing. No variant carries any part of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhcError {
    #[error(
        "password hash must be a PHC string ($argon2id$..., $2b$..., $scrypt$...), not a password"
    )]
    LooksLikePlaintext,
    #[error("password hash is too long (at most {max} bytes)")]
    TooLong { max: usize },
    #[error("password hash must contain only ASCII characters")]
    NotAscii,
    #[error(
        "unsupported password hash algorithm; use argon2id (recommended), argon2i, argon2d, bcrypt ($2a$, $2b$, $2y$) or scrypt"
    )]
    UnknownAlgorithm,
    /// Wrong number or arrangement of `$`-separated fields.
    #[error("malformed password hash: {reason}")]
    Malformed { reason: &'static str },
    #[error("malformed password hash parameter {param}: {reason}")]
    MalformedParameters {
        param: &'static str,
        reason: &'static str,
    },
    #[error("invalid salt in password hash: {reason}")]
    InvalidSalt { reason: &'static str },
    #[error("invalid hash value in password hash: {reason}")]
    InvalidHash { reason: &'static str },
}

/// Checks that `s` is a well-formed argon2, bcrypt or scrypt hash string and
/// returns its algorithm.
///
/// This is a structural check only; it cannot tell whether the hash was
/// computed from anything in particular.
pub fn validate_password_hash(s: &str) -> Result<PasswordHashAlgorithm, PhcError> {
    // Plaintext check first: a long or non-ASCII password should get the most
    // helpful message, not "too long" / "not ASCII".
    if !s.starts_with('$') {
        return Err(PhcError::LooksLikePlaintext);
    }
    if s.len() > MAX_HASH_LEN {
        return Err(PhcError::TooLong { max: MAX_HASH_LEN });
    }
    if !s.is_ascii() {
        return Err(PhcError::NotAscii);
    }

    // s starts with '$', so the first split item is the empty string.
    let mut fields = s[1..].split('$');
    let id = fields.next().unwrap_or("");
    let rest: Vec<&str> = fields.collect();

    match id {
        "argon2id" => validate_argon2(&rest).map(|()| PasswordHashAlgorithm::Argon2id),
        "argon2i" => validate_argon2(&rest).map(|()| PasswordHashAlgorithm::Argon2i),
        "argon2d" => validate_argon2(&rest).map(|()| PasswordHashAlgorithm::Argon2d),
        // $2x$ (and bare $2$) are deliberately absent: $2x$ marks hashes from
        // the buggy pre-2011 crypt_blowfish, $2$ is the original broken variant.
        "2a" | "2b" | "2y" => validate_bcrypt(&rest).map(|()| PasswordHashAlgorithm::Bcrypt),
        "scrypt" => validate_scrypt(&rest).map(|()| PasswordHashAlgorithm::Scrypt),
        _ => Err(PhcError::UnknownAlgorithm),
    }
}

/// `[v=<16|19>$]m=<m>,t=<t>,p=<p>$<salt>$<hash>` (the part after `$argon2xx$`).
fn validate_argon2(fields: &[&str]) -> Result<(), PhcError> {
    let mut fields = fields.iter().copied();
    let mut next = fields.next();

    // The version field is optional in the PHC grammar (absent means 0x10), so
    // only treat the field as a version if it says so.
    if let Some(v) = next.and_then(|f| f.strip_prefix("v=")) {
        let version = parse_decimal(v, "v")?;
        if version != 16 && version != 19 {
            return Err(PhcError::MalformedParameters {
                param: "v",
                reason: "must be 16 or 19",
            });
        }
        next = fields.next();
    }

    let params = next.ok_or(PhcError::Malformed {
        reason: "missing parameters (expected m=...,t=...,p=...)",
    })?;
    let [m, t, p] = parse_params(
        params,
        ["m", "t", "p"],
        "parameters must be m, t, p in this order",
    )?;

    const U32_MAX: u64 = u32::MAX as u64;
    // Bounds are those of the argon2 specification (RFC 9106 §3.1).
    if !(1..=16_777_215).contains(&p) {
        return Err(PhcError::MalformedParameters {
            param: "p",
            reason: "must be between 1 and 16777215",
        });
    }
    if !(1..=U32_MAX).contains(&t) {
        return Err(PhcError::MalformedParameters {
            param: "t",
            reason: "must be between 1 and 4294967295",
        });
    }
    if m > U32_MAX {
        return Err(PhcError::MalformedParameters {
            param: "m",
            reason: "must be at most 4294967295",
        });
    }
    if m < 8 * p {
        return Err(PhcError::MalformedParameters {
            param: "m",
            reason: "must be at least 8 * p (KiB)",
        });
    }

    validate_salt_and_hash(fields.next(), fields.next())?;
    if fields.next().is_some() {
        return Err(PhcError::Malformed {
            reason: "unexpected field after the hash value",
        });
    }
    Ok(())
}

/// `ln=<ln>,r=<r>,p=<p>$<salt>$<hash>` (the part after `$scrypt$`).
fn validate_scrypt(fields: &[&str]) -> Result<(), PhcError> {
    let mut fields = fields.iter().copied();
    let params = fields.next().ok_or(PhcError::Malformed {
        reason: "missing parameters (expected ln=...,r=...,p=...)",
    })?;
    let [ln, r, p] = parse_params(
        params,
        ["ln", "r", "p"],
        "parameters must be ln, r, p in this order",
    )?;

    // N = 2^ln must be > 1 and fit in 64 bits.
    if !(1..=63).contains(&ln) {
        return Err(PhcError::MalformedParameters {
            param: "ln",
            reason: "must be between 1 and 63",
        });
    }
    const LIMIT: u64 = 1 << 30;
    if !(1..LIMIT).contains(&r) {
        return Err(PhcError::MalformedParameters {
            param: "r",
            reason: "must be between 1 and 1073741823",
        });
    }
    if !(1..LIMIT).contains(&p) {
        return Err(PhcError::MalformedParameters {
            param: "p",
            reason: "must be between 1 and 1073741823",
        });
    }
    // RFC 7914 §2: r * p < 2^30. Both are < 2^30, so the product cannot overflow u64.
    if r * p >= LIMIT {
        return Err(PhcError::MalformedParameters {
            param: "p",
            reason: "r * p must be less than 1073741824",
        });
    }

    validate_salt_and_hash(fields.next(), fields.next())?;
    if fields.next().is_some() {
        return Err(PhcError::Malformed {
            reason: "unexpected field after the hash value",
        });
    }
    Ok(())
}

/// `<cost>$<22 salt chars><31 hash chars>` (the part after `$2b$`).
fn validate_bcrypt(fields: &[&str]) -> Result<(), PhcError> {
    let [cost, tail] = fields else {
        return Err(PhcError::Malformed {
            reason: "bcrypt hashes have the form $2b$<cost>$<53 characters>",
        });
    };

    // Exactly two digits: bcrypt implementations parse the cost positionally,
    // so "4" or "004" would not be read back as intended.
    if cost.len() != 2 || !cost.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PhcError::MalformedParameters {
            param: "cost",
            reason: "must be two decimal digits",
        });
    }
    let cost_value: u8 = cost.parse().map_err(|_| PhcError::MalformedParameters {
        param: "cost",
        reason: "must be two decimal digits",
    })?;
    if !(4..=31).contains(&cost_value) {
        return Err(PhcError::MalformedParameters {
            param: "cost",
            reason: "must be between 04 and 31",
        });
    }

    if tail.len() != BCRYPT_TAIL_LEN {
        return Err(PhcError::InvalidHash {
            reason: "bcrypt salt and hash must be exactly 53 characters (22 + 31)",
        });
    }
    // The length check above is in bytes and the input is ASCII, so this split
    // is on a character boundary.
    let (salt, hash) = tail.split_at(BCRYPT_SALT_LEN);
    if !salt.bytes().all(is_bcrypt_char) {
        return Err(PhcError::InvalidSalt {
            reason: "bcrypt salt must use only ./A-Za-z0-9",
        });
    }
    if !hash.bytes().all(is_bcrypt_char) {
        return Err(PhcError::InvalidHash {
            reason: "bcrypt hash must use only ./A-Za-z0-9",
        });
    }
    Ok(())
}

fn is_bcrypt_char(b: u8) -> bool {
    b == b'.' || b == b'/' || b.is_ascii_alphanumeric()
}

/// Parses `name1=v1,name2=v2,...` requiring exactly the given names in the
/// given order. Order is fixed because every producer emits this order and a
/// fixed order keeps one hash = one string.
fn parse_params<const N: usize>(
    field: &str,
    names: [&'static str; N],
    order_hint: &'static str,
) -> Result<[u64; N], PhcError> {
    let mut values = [0u64; N];
    let mut pieces = field.split(',');
    for (value, name) in values.iter_mut().zip(names) {
        let piece = pieces.next().unwrap_or("");
        let raw = piece
            .split_once('=')
            .filter(|(key, _)| *key == name)
            .map(|(_, raw)| raw)
            .ok_or(PhcError::MalformedParameters {
                param: name,
                reason: order_hint,
            })?;
        *value = parse_decimal(raw, name)?;
    }
    if pieces.next().is_some() {
        return Err(PhcError::MalformedParameters {
            param: names[N - 1],
            reason: "unexpected extra parameter after it",
        });
    }
    Ok(values)
}

/// PHC decimal: ASCII digits, no sign, no leading zero (except "0" itself).
fn parse_decimal(raw: &str, param: &'static str) -> Result<u64, PhcError> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PhcError::MalformedParameters {
            param,
            reason: "must be a decimal number",
        });
    }
    if raw.len() > 1 && raw.starts_with('0') {
        return Err(PhcError::MalformedParameters {
            param,
            reason: "must not have leading zeros",
        });
    }
    raw.parse().map_err(|_| PhcError::MalformedParameters {
        param,
        reason: "is out of range",
    })
}

fn validate_salt_and_hash(salt: Option<&str>, hash: Option<&str>) -> Result<(), PhcError> {
    let salt_len = decode_b64_len(salt).map_err(|reason| PhcError::InvalidSalt { reason })?;
    if salt_len < MIN_SALT_BYTES {
        return Err(PhcError::InvalidSalt {
            reason: "must decode to at least 8 bytes",
        });
    }
    let hash_len = decode_b64_len(hash).map_err(|reason| PhcError::InvalidHash { reason })?;
    if hash_len < MIN_HASH_BYTES {
        return Err(PhcError::InvalidHash {
            reason: "must decode to at least 16 bytes",
        });
    }
    if hash_len > MAX_HASH_BYTES {
        return Err(PhcError::InvalidHash {
            reason: "must decode to at most 1024 bytes",
        });
    }
    Ok(())
}

/// Decodes a PHC base64 field and returns the decoded length; the error is a
/// static reason so the caller can wrap it as salt or hash.
fn decode_b64_len(field: Option<&str>) -> Result<usize, &'static str> {
    let field = match field {
        None | Some("") => return Err("missing"),
        Some(f) => f,
    };
    // Explicit checks first give clearer messages than the decoder's errors.
    if field.contains('=') {
        return Err("must be base64 without '=' padding");
    }
    if !field
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    {
        return Err("must be base64 (A-Za-z0-9+/)");
    }
    match STANDARD_NO_PAD.decode(field) {
        Ok(bytes) => Ok(bytes.len()),
        Err(DecodeError::InvalidLastSymbol(..)) => {
            Err("is not canonical base64 (non-zero trailing bits)")
        }
        Err(_) => Err("has an impossible base64 length"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PasswordHashAlgorithm as A;

    const ARGON2ID: &str =
        "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";
    const BCRYPT: &str = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";
    const SCRYPT: &str =
        "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E";

    fn param_err(s: &str) -> &'static str {
        match validate_password_hash(s) {
            Err(PhcError::MalformedParameters { param, .. }) => param,
            other => panic!("expected MalformedParameters, got {other:?}"),
        }
    }

    #[test]
    fn accepts_real_hashes() {
        assert_eq!(validate_password_hash(ARGON2ID), Ok(A::Argon2id));
        assert_eq!(validate_password_hash(BCRYPT), Ok(A::Bcrypt));
        assert_eq!(validate_password_hash(SCRYPT), Ok(A::Scrypt));
    }

    #[test]
    fn accepts_argon2_variants_and_versions() {
        let i = ARGON2ID.replacen("argon2id", "argon2i", 1);
        let d = ARGON2ID.replacen("argon2id", "argon2d", 1);
        assert_eq!(validate_password_hash(&i), Ok(A::Argon2i));
        assert_eq!(validate_password_hash(&d), Ok(A::Argon2d));
        let v16 = ARGON2ID.replacen("v=19", "v=16", 1);
        assert_eq!(validate_password_hash(&v16), Ok(A::Argon2id));
        let no_version = ARGON2ID.replacen("v=19$", "", 1);
        assert_eq!(validate_password_hash(&no_version), Ok(A::Argon2id));
    }

    #[test]
    fn accepts_parameter_extremes() {
        // Minimal legal argon2: m = 8 * p, t = 1, 8-byte salt, 16-byte hash.
        let min = "$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA";
        assert_eq!(validate_password_hash(min), Ok(A::Argon2id));
        let max = "$argon2id$v=19$m=4294967295,t=4294967295,p=16777215$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA";
        assert_eq!(validate_password_hash(max), Ok(A::Argon2id));
        for cost in ["04", "10", "31"] {
            let s = BCRYPT.replacen("$12$", &format!("${cost}$"), 1);
            assert_eq!(validate_password_hash(&s), Ok(A::Bcrypt), "cost {cost}");
        }
        for prefix in ["$2a$", "$2y$"] {
            let s = BCRYPT.replacen("$2b$", prefix, 1);
            assert_eq!(validate_password_hash(&s), Ok(A::Bcrypt));
        }
        let s = SCRYPT.replacen("ln=16", "ln=1", 1);
        assert_eq!(validate_password_hash(&s), Ok(A::Scrypt));
        let s = SCRYPT.replacen("ln=16,r=8,p=1", "ln=63,r=1073741823,p=1", 1);
        assert_eq!(validate_password_hash(&s), Ok(A::Scrypt));
    }

    #[test]
    fn accepts_hashlib_scrypt_hash() {
        // Produced independently with Python:
        // hashlib.scrypt(b"password", salt=bytes(range(16)), n=2**14, r=8, p=1, dklen=32)
        // and base64 without padding.
        let s = "$scrypt$ln=14,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$6iMJXpgeItuXSS3ial5ceU6o+LQA0aKIA8ORmTlhNMU";
        assert_eq!(validate_password_hash(s), Ok(A::Scrypt));
    }

    #[test]
    fn rejects_plaintext() {
        for s in [
            "hunter2",
            "correct horse battery staple",
            "",
            "argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
            " $argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
            "pässwörd",
            &"x".repeat(1000),
        ] {
            assert_eq!(validate_password_hash(s), Err(PhcError::LooksLikePlaintext));
        }
    }

    #[test]
    fn rejects_unknown_algorithms() {
        for s in [
            "$",
            "$$",
            "$md5$rounds=1000$saltsalt$hashhashhashhashhash",
            "$1$saltsalt$hashhashhashhashhashha",
            "$5$rounds=5000$saltsalt$hash",
            "$6$saltsalt$hash",
            "$2x$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
            "$2$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
            "$ARGON2ID$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
            "$argon2$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
            "$pbkdf2-sha256$29000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$ecretP4ssword!",
        ] {
            assert_eq!(
                validate_password_hash(s),
                Err(PhcError::UnknownAlgorithm),
                "{s}"
            );
        }
    }

    #[test]
    fn rejects_too_long_and_non_ascii() {
        let long = format!("{ARGON2ID}{}", "A".repeat(MAX_HASH_LEN));
        assert_eq!(
            validate_password_hash(&long),
            Err(PhcError::TooLong { max: MAX_HASH_LEN })
        );
        let non_ascii = ARGON2ID.replacen("c29t", "c29é", 1);
        assert_eq!(validate_password_hash(&non_ascii), Err(PhcError::NotAscii));
        assert_eq!(
            validate_password_hash("$argon2id$v=19$m=65536,t=3,p=4$sält$hash"),
            Err(PhcError::NotAscii)
        );
    }

    #[test]
    fn rejects_truncated_argon2() {
        for s in [
            "$argon2id",
            "$argon2id$",
            "$argon2id$v=19",
            "$argon2id$v=19$",
            "$argon2id$v=19$m=65536,t=3,p=4",
            "$argon2id$v=19$m=65536,t=3,p=4$",
            "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA",
            "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$",
        ] {
            assert!(validate_password_hash(s).is_err(), "{s}");
        }
        assert_eq!(
            validate_password_hash("$argon2id$v=19$m=65536,t=3,p=4"),
            Err(PhcError::InvalidSalt { reason: "missing" })
        );
        assert_eq!(
            validate_password_hash("$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA"),
            Err(PhcError::InvalidHash { reason: "missing" })
        );
        assert!(matches!(
            validate_password_hash("$argon2id$v=19"),
            Err(PhcError::Malformed { .. })
        ));
        // An extra trailing field is not silently ignored.
        let extra = format!("{ARGON2ID}$AAAA");
        assert!(matches!(
            validate_password_hash(&extra),
            Err(PhcError::Malformed { .. })
        ));
    }

    #[test]
    fn rejects_bad_argon2_parameters() {
        let with = |params: &str| ARGON2ID.replacen("m=65536,t=3,p=4", params, 1);
        // m < 8 * p
        assert_eq!(param_err(&with("m=31,t=3,p=4")), "m");
        assert_eq!(param_err(&with("m=7,t=3,p=1")), "m");
        assert_eq!(param_err(&with("m=4294967296,t=3,p=4")), "m");
        assert_eq!(param_err(&with("m=65536,t=0,p=4")), "t");
        assert_eq!(param_err(&with("m=65536,t=4294967296,p=4")), "t");
        assert_eq!(param_err(&with("m=65536,t=3,p=0")), "p");
        assert_eq!(param_err(&with("m=999999999,t=3,p=16777216")), "p");
        // leading zeros, signs, empty, non-decimal
        assert_eq!(param_err(&with("m=065536,t=3,p=4")), "m");
        assert_eq!(param_err(&with("m=65536,t=03,p=4")), "t");
        assert_eq!(param_err(&with("m=65536,t=3,p=04")), "p");
        assert_eq!(param_err(&with("m=+65536,t=3,p=4")), "m");
        assert_eq!(param_err(&with("m=-1,t=3,p=4")), "m");
        assert_eq!(param_err(&with("m=,t=3,p=4")), "m");
        assert_eq!(param_err(&with("m=0x10,t=3,p=4")), "m");
        assert_eq!(param_err(&with("m=99999999999999999999999,t=3,p=4")), "m");
        // order, missing, extra, spaces
        assert_eq!(param_err(&with("t=3,m=65536,p=4")), "m");
        assert_eq!(param_err(&with("m=65536,p=4,t=3")), "t");
        assert_eq!(param_err(&with("m=65536,t=3")), "p");
        assert_eq!(param_err(&with("m=65536,t=3,p=4,keyid=AAAA")), "p");
        assert_eq!(param_err(&with("m=65536,t=3,p=4,")), "p");
        assert_eq!(param_err(&with("m=65536, t=3,p=4")), "t");
        assert_eq!(param_err(&with("M=65536,t=3,p=4")), "m");
        // version
        assert_eq!(param_err(&ARGON2ID.replacen("v=19", "v=18", 1)), "v");
        assert_eq!(param_err(&ARGON2ID.replacen("v=19", "v=019", 1)), "v");
        assert_eq!(param_err(&ARGON2ID.replacen("v=19", "v=", 1)), "v");
        // version given after the parameters is not a version field
        let swapped = ARGON2ID.replacen("v=19$m=65536,t=3,p=4", "m=65536,t=3,p=4$v=19", 1);
        assert!(validate_password_hash(&swapped).is_err());
    }

    #[test]
    fn rejects_bad_argon2_salt_and_hash() {
        let salt = "c29tZXNhbHRzb21lc2FsdA";
        let hash = "RdescudvJCsgt3ub+b+dWRWJTmaaJObG";
        let with_salt = |s: &str| ARGON2ID.replacen(salt, s, 1);
        let with_hash = |h: &str| ARGON2ID.replacen(hash, h, 1);
        let salt_err =
            |s: &str| matches!(validate_password_hash(s), Err(PhcError::InvalidSalt { .. }));
        let hash_err =
            |s: &str| matches!(validate_password_hash(s), Err(PhcError::InvalidHash { .. }));

        assert!(salt_err(&with_salt("c29tZXNhbHRzb21lc2FsdA==")), "padding");
        assert!(salt_err(&with_salt("c29tZXNhbHRzb21lc2FsdA=")), "padding");
        assert!(!salt_err(&with_salt("c29tZXNhbHRz")), "9 bytes is enough");
        assert!(salt_err(&with_salt("AAAAAAAAAA")), "7 bytes is too short");
        assert!(
            salt_err(&with_salt("c29tZXNhbHRzb21lc2FsdB")),
            "non-canonical trailing bits"
        );
        assert!(
            salt_err(&with_salt("c29tZXNhbHRzb21lc2Fsd")),
            "impossible length"
        );
        assert!(
            salt_err(&with_salt("c29tZXNh-HRzb21lc2FsdA")),
            "url-safe alphabet"
        );
        assert!(
            salt_err(&with_salt("c29tZXNh_HRzb21lc2FsdA")),
            "url-safe alphabet"
        );
        assert!(salt_err(&with_salt("c29tZXNh HRzb21lc2FsdA")), "space");

        assert!(
            hash_err(&with_hash("RdescudvJCsgt3ub+b+dWRWJTmaaJObG=")),
            "padding"
        );
        assert!(
            hash_err(&with_hash("AAAAAAAAAAAAAAAAAAAA")),
            "15 bytes is too short"
        );
        assert!(
            hash_err(&with_hash("RdescudvJCsgt3ub+b+dWRWJTmaaJObGA")),
            "impossible length"
        );
        assert!(
            hash_err(&with_hash("RdescudvJCsgt3ub+b+dWRWJTmaaJObG.")),
            "bad char"
        );
    }

    #[test]
    fn hash_byte_limit_is_enforced() {
        // A 1025-byte hash cannot fit in MAX_HASH_LEN characters, so test the
        // helper directly to keep the limit honest if MAX_HASH_LEN ever grows.
        let too_big = "A".repeat(1368); // 1368 * 6 / 8 = 1026 bytes
        assert_eq!(
            validate_salt_and_hash(Some("AAAAAAAAAAA"), Some(&too_big)),
            Err(PhcError::InvalidHash {
                reason: "must decode to at most 1024 bytes"
            })
        );
        let max = "A".repeat(1366); // 1366 * 6 = 8196 bits -> 1024 bytes + 4 zero trailing bits
        assert_eq!(
            validate_salt_and_hash(Some("AAAAAAAAAAA"), Some(&max)),
            Ok(())
        );
    }

    #[test]
    fn rejects_bad_bcrypt() {
        // cost out of range or badly written
        assert_eq!(param_err(&BCRYPT.replacen("$12$", "$03$", 1)), "cost");
        assert_eq!(param_err(&BCRYPT.replacen("$12$", "$32$", 1)), "cost");
        assert_eq!(param_err(&BCRYPT.replacen("$12$", "$00$", 1)), "cost");
        assert_eq!(param_err(&BCRYPT.replacen("$12$", "$4$", 1)), "cost");
        assert_eq!(param_err(&BCRYPT.replacen("$12$", "$012$", 1)), "cost");
        assert_eq!(param_err(&BCRYPT.replacen("$12$", "$+4$", 1)), "cost");
        assert_eq!(param_err(&BCRYPT.replacen("$12$", "$$", 1)), "cost");
        // 52 and 54 characters
        let short = &BCRYPT[..BCRYPT.len() - 1];
        assert!(matches!(
            validate_password_hash(short),
            Err(PhcError::InvalidHash { .. })
        ));
        let long = format!("{BCRYPT}W");
        assert!(matches!(
            validate_password_hash(&long),
            Err(PhcError::InvalidHash { .. })
        ));
        // characters outside the bcrypt alphabet, in the salt and in the hash
        let bad_salt = BCRYPT.replacen("R9h/", "R9h+", 1);
        assert!(matches!(
            validate_password_hash(&bad_salt),
            Err(PhcError::InvalidSalt { .. })
        ));
        let bad_hash = BCRYPT.replacen("jWMUW", "jWMU=", 1);
        assert!(matches!(
            validate_password_hash(&bad_hash),
            Err(PhcError::InvalidHash { .. })
        ));
        // structure
        for s in [
            "$2b$",
            "$2b$12",
            "$2b$12$",
            "$2b$12$R9h/cIPz0gi.URNNX3kh2O$PST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
        ] {
            assert!(validate_password_hash(s).is_err(), "{s}");
        }
        assert!(matches!(
            validate_password_hash("$2b$12"),
            Err(PhcError::Malformed { .. })
        ));
    }

    #[test]
    fn rejects_bad_scrypt() {
        let with = |params: &str| SCRYPT.replacen("ln=16,r=8,p=1", params, 1);
        assert_eq!(param_err(&with("ln=0,r=8,p=1")), "ln");
        assert_eq!(param_err(&with("ln=64,r=8,p=1")), "ln");
        assert_eq!(param_err(&with("ln=016,r=8,p=1")), "ln");
        assert_eq!(param_err(&with("ln=16,r=0,p=1")), "r");
        assert_eq!(param_err(&with("ln=16,r=1073741824,p=1")), "r");
        assert_eq!(param_err(&with("ln=16,r=8,p=0")), "p");
        assert_eq!(param_err(&with("ln=16,r=8,p=1073741824")), "p");
        assert_eq!(param_err(&with("ln=16,r=32768,p=32768")), "p"); // r*p = 2^30
        assert_eq!(param_err(&with("r=8,ln=16,p=1")), "ln");
        assert_eq!(param_err(&with("n=65536,r=8,p=1")), "ln");
        assert_eq!(param_err(&with("ln=16,r=8")), "p");
        assert_eq!(param_err(&with("ln=16,r=8,p=1,x=1")), "p");
        // salt / hash
        let short_salt = SCRYPT.replacen("aM15713r3Xsvxbi31lqr1Q", "aM15713r3Q", 1);
        assert!(matches!(
            validate_password_hash(&short_salt),
            Err(PhcError::InvalidSalt { .. })
        ));
        let padded = SCRYPT.replacen("iCs5E", "iCs5E=", 1);
        assert!(matches!(
            validate_password_hash(&padded),
            Err(PhcError::InvalidHash { .. })
        ));
        for s in [
            "$scrypt",
            "$scrypt$",
            "$scrypt$ln=16,r=8,p=1",
            "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q",
        ] {
            assert!(validate_password_hash(s).is_err(), "{s}");
        }
        // A version field is not part of the scrypt format.
        let versioned = SCRYPT.replacen("$ln=", "$v=1$ln=", 1);
        assert!(validate_password_hash(&versioned).is_err());
    }

    #[test]
    fn algorithm_names() {
        assert_eq!(A::Argon2id.name(), "argon2id");
        assert_eq!(A::Argon2i.name(), "argon2i");
        assert_eq!(A::Argon2d.name(), "argon2d");
        assert_eq!(A::Bcrypt.name(), "bcrypt");
        assert_eq!(A::Scrypt.name(), "scrypt");
        assert_eq!(A::Argon2id.to_string(), "argon2id");
    }

    #[test]
    fn plaintext_message_is_user_facing() {
        assert_eq!(
            PhcError::LooksLikePlaintext.to_string(),
            "password hash must be a PHC string ($argon2id$..., $2b$..., $scrypt$...), not a password"
        );
        assert_eq!(
            PhcError::MalformedParameters {
                param: "m",
                reason: "must be at least 8 * p (KiB)"
            }
            .to_string(),
            "malformed password hash parameter m: must be at least 8 * p (KiB)"
        );
    }

    #[test]
    fn errors_never_contain_the_input() {
        // Distinctive "secrets" planted in every position a user might put a
        // password, including salt and hash fields of otherwise valid hashes.
        let secret = "Tr0ub4dor3xyzQ";
        let inputs = [
            secret.to_string(),
            format!("${secret}"),
            format!("${secret}$"),
            format!("$argon2id${secret}"),
            format!("$argon2id$v=19${secret}"),
            format!("$argon2id$v=19$m=65536,t=3,p=4${secret}"),
            format!("$argon2id$v=19$m=65536,t=3,p=4${secret}="),
            format!("$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA${secret}"),
            format!("$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA${secret}!"),
            format!("$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$RdescudvJCsgt3ub+b+dWRWJTmaaJObG${secret}"),
            format!("$argon2id$v=19$m={secret},t=3,p=4$c29tZXNhbHRzb21lc2FsdA$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"),
            format!("$argon2id$v=19$m=65536,t=3,p=4,{secret}=1$c29tZXNhbHRzb21lc2FsdA$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"),
            format!("$2b$12${secret}"),
            format!("$2b${secret}$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"),
            format!("$2b$12${secret}{}", "A".repeat(53 - secret.len() - 1)),
            format!("$2b$12${}{secret}+", "A".repeat(53 - secret.len() - 1)),
            format!("$scrypt$ln=16,r=8,p=1${secret}$"),
            format!("$scrypt$ln={secret},r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E"),
            format!("$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$RdescudvJCsgt3ub+b+dWRWJTmaaJObG{secret}é"),
            format!("${secret}{}", "x".repeat(600)),
            "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA=$RdescudvJCsgt3ub+b+dWRWJTmaaJObG".to_string(),
            "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$RdescudvJCsgt3ub+b+dWRWJTmaaJOb".to_string(),
            "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMU".to_string(),
            "hunter2".to_string(),
            "correct horse battery staple".to_string(),
        ];
        let salts_and_hashes = [
            "c29tZXNhbHRzb21lc2FsdA",
            "RdescudvJCsgt3ub+b+dWRWJTmaaJOb",
            "R9h/cIPz0gi.URNNX3kh2O",
            "PST9/PgBkqquzi.Ss7KIUgO2t0jWMU",
            "hunter2",
            "correct horse",
        ];
        for input in &inputs {
            let err = validate_password_hash(input).expect_err(input);
            for rendered in [err.to_string(), format!("{err:?}")] {
                assert!(!rendered.contains(input.as_str()), "{rendered}");
                assert!(!rendered.contains(secret), "{rendered}");
                for piece in salts_and_hashes {
                    assert!(!rendered.contains(piece), "{rendered}");
                }
            }
        }
    }
}

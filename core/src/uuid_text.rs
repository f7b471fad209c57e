//! Canonical UUID text without a uuid crate.
//!
//! Only the canonical form PostgreSQL itself prints for `uuid::text`
//! (lower-case, hyphenated 8-4-4-4-12) is accepted. Anything that ends up
//! inside signed text must have exactly one spelling, otherwise the same value
//! could be presented under different byte strings.

const HEX: &[u8; 16] = b"0123456789abcdef";
/// Byte offsets of the hyphens in the 36-character form.
const HYPHENS: [usize; 4] = [8, 13, 18, 23];
/// Length of the canonical text form.
pub const UUID_TEXT_LEN: usize = 36;

/// Formats 16 bytes as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in lower case,
/// identical to PostgreSQL's output for the `uuid` type.
pub fn uuid_to_string(bytes: &[u8; 16]) -> String {
    let mut out = String::with_capacity(UUID_TEXT_LEN);
    for (i, b) in bytes.iter().enumerate() {
        // Hyphens precede bytes 4, 6, 8 and 10.
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0x0f)] as char);
    }
    out
}

/// Parses the canonical lower-case hyphenated form; returns `None` for any
/// other spelling (upper case, braces, no hyphens, `urn:uuid:` prefix, ...).
pub fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let s = s.as_bytes();
    if s.len() != UUID_TEXT_LEN {
        return None;
    }
    let mut out = [0u8; 16];
    let mut nibbles = 0usize;
    for (i, &c) in s.iter().enumerate() {
        if HYPHENS.contains(&i) {
            if c != b'-' {
                return None;
            }
            continue;
        }
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return None,
        };
        out[nibbles / 2] |= if nibbles.is_multiple_of(2) { v << 4 } else { v };
        nibbles += 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: [u8; 16] = [
        0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40,
        0x00,
    ];
    const SAMPLE_TEXT: &str = "123e4567-e89b-12d3-a456-426614174000";

    #[test]
    fn formats_canonically() {
        assert_eq!(uuid_to_string(&SAMPLE), SAMPLE_TEXT);
        assert_eq!(
            uuid_to_string(&[0; 16]),
            "00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(
            uuid_to_string(&[0xff; 16]),
            "ffffffff-ffff-ffff-ffff-ffffffffffff"
        );
        let mut one = [0u8; 16];
        one[15] = 1;
        assert_eq!(uuid_to_string(&one), "00000000-0000-0000-0000-000000000001");
    }

    #[test]
    fn parses_canonical_form() {
        assert_eq!(parse_uuid(SAMPLE_TEXT), Some(SAMPLE));
        assert_eq!(
            parse_uuid("ffffffff-ffff-ffff-ffff-ffffffffffff"),
            Some([0xff; 16])
        );
    }

    #[test]
    fn round_trips() {
        for seed in 0u8..=255 {
            let bytes: [u8; 16] =
                std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8 * 17));
            assert_eq!(parse_uuid(&uuid_to_string(&bytes)), Some(bytes));
        }
    }

    #[test]
    fn rejects_non_canonical_forms() {
        for s in [
            "",
            "123E4567-E89B-12D3-A456-426614174000",
            "123e4567-e89b-12d3-a456-42661417400A",
            "123e4567e89b12d3a456426614174000",
            "{123e4567-e89b-12d3-a456-426614174000}",
            "urn:uuid:123e4567-e89b-12d3-a456-426614174000",
            "123e4567-e89b-12d3-a456-4266141740000",
            "123e4567-e89b-12d3-a456-42661417400",
            "123e4567-e89b-12d3-a4564-26614174000",
            "123e4567_e89b_12d3_a456_426614174000",
            "123e4567-e89b-12d3-a456-42661417400g",
            "123e4567-e89b-12d3-a456 426614174000",
            "+23e4567-e89b-12d3-a456-426614174000",
            "123e4567-e89b-12d3-a456-4266141740é",
        ] {
            assert_eq!(parse_uuid(s), None, "{s}");
        }
    }
}

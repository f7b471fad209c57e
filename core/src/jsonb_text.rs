//! The text PostgreSQL's `jsonb_out` prints for a JSON value, computed without PostgreSQL.
//!
//! A history row's hash covers its snapshot as `jsonb_out` prints it (decision log D12: keys
//! in jsonb order, fixed spacing), and `audit.verify()` recomputes it so from the stored row.
//! Capture already holds the snapshot as a `serde_json::Value`; printing it here spares a
//! round trip through PostgreSQL's parser and printer for every history row. The rules are
//! PostgreSQL 15's (`JsonbToCString`, `escape_json`, `numeric_in`/`numeric_out`):
//!
//! - object keys ordered shorter first, then bytewise (`lengthCompareJsonbStringValue`);
//! - `{"k": v, "k2": v2}` and `[a, b]`: a space after each colon and comma;
//! - strings escape `"`, `\`, `\b \f \n \r \t`, other control characters as `\u00xx`;
//! - numbers as `numeric_out` prints what `numeric_in` read: no exponent, the scale of the
//!   input (`1.50` stays `1.50`, `1e3` is `1000`, `1.5e-7` is `0.00000015`), no sign on zero.
//!
//! `tests` below pin each rule; the in-database test `jsonb_text_equals_jsonb_out` compares
//! this printer with `jsonb_out` itself on 2,000 generated values.

use serde_json::{Map, Number, Value};

/// The text `jsonb_out` prints for `value` after `jsonb_in` read serde_json's text of it.
pub fn jsonb_text(value: &Value) -> String {
    let mut out = String::with_capacity(256);
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map),
    }
}

/// The entries of `map` in jsonb's key order: shorter keys first, then bytewise
/// (`lengthCompareJsonbStringValue`).
pub fn entries_in_jsonb_order(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_unstable_by(|(a, _), (b, _)| {
        a.len()
            .cmp(&b.len())
            .then_with(|| a.as_bytes().cmp(b.as_bytes()))
    });
    entries
}

fn write_object(out: &mut String, map: &Map<String, Value>) {
    out.push('{');
    for (i, (key, value)) in entries_in_jsonb_order(map).into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_string(out, key);
        out.push_str(": ");
        write_value(out, value);
    }
    out.push('}');
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    // Copy runs of characters that need no escape in one go (the common case: all of them).
    let mut start = 0;
    for (at, byte) in s.bytes().enumerate() {
        let escape = match byte {
            0x08 => "\\b",
            0x0c => "\\f",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            b'"' => "\\\"",
            b'\\' => "\\\\",
            byte if byte < 0x20 => "",
            _ => continue,
        };
        out.push_str(&s[start..at]);
        if escape.is_empty() {
            out.push_str(&format!("\\u{byte:04x}"));
        } else {
            out.push_str(escape);
        }
        start = at + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

fn write_number(out: &mut String, n: &Number) {
    if n.is_i64() || n.is_u64() {
        out.push_str(&n.to_string());
    } else {
        out.push_str(&numeric_text(&n.to_string()));
    }
}

/// `numeric_out(numeric_in(text))` for a JSON number's text: `-?digits(.digits)?(e[+-]?digits)?`.
pub fn numeric_text(text: &str) -> String {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (
            &unsigned[..at],
            unsigned[at + 1..].parse::<i64>().unwrap_or(0),
        ),
        None => (unsigned, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: String = format!("{int_part}{frac_part}");
    // numeric_in keeps the input's digits after the point, less the exponent.
    let scale = (frac_part.len() as i64 - exponent).max(0) as usize;
    // Where the point falls among `digits`.
    let point = int_part.len() as i64 + exponent;
    let (whole, fraction) = if point <= 0 {
        (
            String::new(),
            format!("{}{digits}", "0".repeat((-point) as usize)),
        )
    } else if point as usize >= digits.len() {
        (
            format!("{digits}{}", "0".repeat(point as usize - digits.len())),
            String::new(),
        )
    } else {
        (
            digits[..point as usize].to_owned(),
            digits[point as usize..].to_owned(),
        )
    };
    let whole = whole.trim_start_matches('0');
    let fraction: String = fraction
        .chars()
        .chain(std::iter::repeat('0'))
        .take(scale)
        .collect();
    let zero = whole.is_empty() && fraction.chars().all(|c| c == '0');
    let mut out = String::new();
    if negative && !zero {
        out.push('-');
    }
    out.push_str(if whole.is_empty() { "0" } else { whole });
    if scale > 0 {
        out.push('.');
        out.push_str(&fraction);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_ordered_shorter_first_then_bytewise() {
        let value = json!({"bb": 1, "a": 2, "ab": 3, "c": {"zz": null, "y": true}, "": []});
        assert_eq!(
            jsonb_text(&value),
            r#"{"": [], "a": 2, "c": {"y": true, "zz": null}, "ab": 3, "bb": 1}"#
        );
    }

    #[test]
    fn multibyte_keys_compare_by_byte_length() {
        // "é" is two bytes: longer than "z", shorter than "abc".
        let value = json!({"abc": 1, "é": 2, "z": 3});
        assert_eq!(jsonb_text(&value), r#"{"z": 3, "é": 2, "abc": 1}"#);
    }

    #[test]
    fn strings_escape_as_escape_json_does() {
        let value = json!([
            "a\"b\\c/d",
            "\u{8}\u{c}\n\r\t",
            "\u{1}\u{1f}\u{7f}",
            "ünï ✓"
        ]);
        assert_eq!(
            jsonb_text(&value),
            "[\"a\\\"b\\\\c/d\", \"\\b\\f\\n\\r\\t\", \"\\u0001\\u001f\u{7f}\", \"ünï ✓\"]"
        );
    }

    #[test]
    fn containers_and_scalars() {
        assert_eq!(jsonb_text(&json!({})), "{}");
        assert_eq!(jsonb_text(&json!([])), "[]");
        assert_eq!(
            jsonb_text(&json!([null, true, false, [1, [2]], {"a": {}}])),
            r#"[null, true, false, [1, [2]], {"a": {}}]"#
        );
        assert_eq!(jsonb_text(&json!("x")), r#""x""#);
        assert_eq!(
            jsonb_text(&json!(-9_223_372_036_854_775_808_i64)),
            "-9223372036854775808"
        );
        assert_eq!(
            jsonb_text(&json!(18_446_744_073_709_551_615_u64)),
            "18446744073709551615"
        );
    }

    #[test]
    fn numbers_print_as_numeric_out() {
        for (input, expected) in [
            ("0", "0"),
            ("-0", "0"),
            ("-0.0", "0.0"),
            ("1.50", "1.50"),
            ("100.0", "100.0"),
            ("1e3", "1000"),
            ("1.5e3", "1500"),
            ("1.25e1", "12.5"),
            ("1.5e-7", "0.00000015"),
            ("-2.5E-3", "-0.0025"),
            ("123e-2", "1.23"),
            ("0.001e2", "0.1"),
            ("007.5", "7.5"),
            ("1e21", "1000000000000000000000"),
            ("5e-324", &format!("0.{}5", "0".repeat(323))),
        ] {
            assert_eq!(numeric_text(input), expected, "{input}");
        }
    }

    #[test]
    fn floats_go_through_serde_json_text() {
        let value: Value = serde_json::from_str("[0.1, 1e21, 2.5e-5, -0.0, 1.0]").unwrap();
        assert_eq!(
            jsonb_text(&value),
            "[0.1, 1000000000000000000000, 0.000025, 0.0, 1.0]"
        );
    }
}

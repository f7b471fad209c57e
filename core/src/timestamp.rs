//! PostgreSQL timestamps (microseconds since 2000-01-01 00:00:00 UTC) as ISO 8601 text.
//!
//! Snapshots hold timestamps as text that does not depend on the session's DateStyle or
//! TimeZone, so that the same row always gives the same snapshot; PostgreSQL reads this
//! form back with `::timestamptz`.

/// Days from 1970-01-01 to 2000-01-01.
const POSTGRES_EPOCH_DAYS: i64 = 10_957;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The civil date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `2026-11-25T14:21:27.123456Z`; whole seconds omit the fraction. PostgreSQL's infinite
/// timestamps become `infinity` / `-infinity`.
pub fn format_utc(micros_since_2000: i64) -> String {
    match micros_since_2000 {
        i64::MAX => return "infinity".into(),
        i64::MIN => return "-infinity".into(),
        _ => {}
    }
    let days = micros_since_2000.div_euclid(MICROS_PER_DAY);
    let in_day = micros_since_2000.rem_euclid(MICROS_PER_DAY);
    let (year, month, day) = civil_from_days(days + POSTGRES_EPOCH_DAYS);
    let seconds = (in_day / 1_000_000) as u32;
    let fraction = (in_day % 1_000_000) as u32;
    let (h, m, s) = (seconds / 3_600, seconds / 60 % 60, seconds % 60);
    // Every captured row formats a few timestamps: digits are written by hand for the
    // four-digit years of any real row, three times fewer instructions than `format!`, which
    // prints the others (years before year 0, which is 1 BC, with a sign; after 9999, with a
    // fifth digit).
    let Ok(year @ 0..=9999) = u32::try_from(year) else {
        let mut out = format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}");
        if fraction != 0 {
            out.push_str(&format!(".{fraction:06}"));
        }
        out.push('Z');
        return out;
    };
    let mut out = String::with_capacity(27);
    for (value, width, after) in [
        (year, 4, '-'),
        (month, 2, '-'),
        (day, 2, 'T'),
        (h, 2, ':'),
        (m, 2, ':'),
        (s, 2, '.'),
    ] {
        push_digits(&mut out, value, width);
        out.push(after);
    }
    if fraction == 0 {
        out.pop();
    } else {
        push_digits(&mut out, fraction, 6);
    }
    out.push('Z');
    out
}

/// `value` in decimal, zero-padded to `width` digits (`value` < 10^width).
fn push_digits(out: &mut String, value: u32, width: u32) {
    let mut divisor = 10u32.pow(width - 1);
    while divisor > 0 {
        out.push(char::from(b'0' + (value / divisor % 10) as u8));
        divisor /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(format_utc(0), "2000-01-01T00:00:00Z");
        assert_eq!(format_utc(1), "2000-01-01T00:00:00.000001Z");
        assert_eq!(format_utc(-1), "1999-12-31T23:59:59.999999Z");
        // 2026-11-25 14:21:27.5 UTC = Unix 1795616487.5
        assert_eq!(
            format_utc((1_795_616_487 - 946_684_800) * 1_000_000 + 500_000),
            "2026-11-25T14:21:27.500000Z"
        );
        // A leap day and the turn of a century that is not a leap year.
        assert_eq!(
            format_utc(60 * MICROS_PER_DAY - 1),
            "2000-02-29T23:59:59.999999Z"
        );
        assert_eq!(
            format_utc((36_525 + 59) * MICROS_PER_DAY),
            "2100-03-01T00:00:00Z"
        );
        assert_eq!(format_utc(i64::MAX), "infinity");
        assert_eq!(format_utc(i64::MIN), "-infinity");
    }

    /// What `format_utc` printed before its digits were written by hand: `format!` for
    /// every year.
    fn format_utc_with_format(micros_since_2000: i64) -> String {
        let days = micros_since_2000.div_euclid(MICROS_PER_DAY);
        let in_day = micros_since_2000.rem_euclid(MICROS_PER_DAY);
        let (year, month, day) = civil_from_days(days + POSTGRES_EPOCH_DAYS);
        let seconds = in_day / 1_000_000;
        let fraction = in_day % 1_000_000;
        let (h, m, s) = (seconds / 3_600, seconds / 60 % 60, seconds % 60);
        let mut out = format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}");
        if fraction != 0 {
            out.push_str(&format!(".{fraction:06}"));
        }
        out.push('Z');
        out
    }

    #[test]
    fn hand_written_digits_equal_format_over_the_whole_range() {
        // PostgreSQL's finite timestamps run from 4714-11-24 BC to 294276 AD.
        let (first, last) = (-211_813_488_000_000_000i64, 9_223_371_331_200_000_000i64);
        let mut samples = vec![first, last, 0, -1, 1, 999_999, 1_000_000];
        // Around the edges of the hand-written years: 0000-01-01 (1 BC) is day -730,485
        // from 2000-01-01, 0001-01-01 day -730,119 and 10000-01-01 day 2,921,939.
        for day in [
            -730_486i64,
            -730_485,
            -730_120,
            -730_119,
            2_921_938,
            2_921_939,
        ] {
            for offset in [-1, 0, 1, MICROS_PER_DAY - 1] {
                samples.push(day * MICROS_PER_DAY + offset);
            }
        }
        // And a million instants spread over the range (a fixed linear congruential walk).
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..1_000_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let span = (i128::from(last) - i128::from(first)) as u64;
            let micros = (i128::from(first) + i128::from(x % span)) as i64;
            // Half of them on whole seconds, which print no fraction.
            samples.push(if x & 1 == 0 {
                micros - micros.rem_euclid(1_000_000)
            } else {
                micros
            });
        }
        for micros in samples {
            assert_eq!(
                format_utc(micros),
                format_utc_with_format(micros),
                "{micros}"
            );
        }
    }

    #[test]
    fn every_day_of_four_centuries_round_trips_in_order() {
        // Consecutive days give consecutive, strictly increasing dates.
        let mut previous = format_utc(-365 * MICROS_PER_DAY * 200);
        for day in (-365 * 200)..(365 * 200) {
            let text = format_utc(day * MICROS_PER_DAY);
            assert!(
                text > previous || day == -365 * 200,
                "{text} after {previous}"
            );
            previous = text;
        }
    }
}

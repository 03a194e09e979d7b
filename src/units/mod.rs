//! Quantities with units: simulated time ([`SimTime`]), and durations (`250ms`, `90s`, `5m`,
//! `2h`), rates (`20/s`, `1200/min`) and sizes (`16GiB`, `20GB`) as scenario files write them.
//!
//! A bare number is refused where a unit is needed (except zero), because `90` could mean
//! seconds or milliseconds and a capacity plan should not hinge on a guess.
//!
//! This module names nothing else of the crate, so that every other module may use it.

mod time;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use std::fmt;
pub use time::SimTime;

/// Refuses YAML's `.nan` and `.inf` (as the scenario loader passes them on) with a message
/// that says so, where a quantity of kind `what` is expected.
pub fn refuse_non_finite(s: &str, what: &str, example: &str) -> Result<(), String> {
    let t = s.trim().to_ascii_lowercase();
    if matches!(t.as_str(), ".nan" | ".inf" | "-.inf" | "+.inf") {
        return Err(format!(
            "`{}` is not a number: expected a {what} such as {example}",
            s.trim()
        ));
    }
    Ok(())
}

/// Parses a duration such as `250ms`, `1.5s`, `5m`, `2h`, `100us`, `1d`.
pub fn parse_duration(s: &str) -> Result<SimTime, String> {
    refuse_non_finite(s, "duration", "`250ms` or `90s`")?;
    let t = s.trim();
    let (num, unit) = split_number(t);
    let v: f64 = num.parse().map_err(|_| {
        format!("expected a duration such as `250ms`, `90s`, `5m` or `2h`, found `{s}`")
    })?;
    let scale = match unit.trim() {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        "" if v == 0.0 => 1.0,
        "" => {
            return Err(format!(
                "the duration `{s}` has no unit: write e.g. `{v}s` or `{v}ms`"
            ));
        }
        u => {
            return Err(format!(
                "unknown duration unit `{u}` in `{s}`: use ns, us, ms, s, m, h or d"
            ));
        }
    };
    if v < 0.0 {
        return Err(format!("a duration must be zero or positive, found `{s}`"));
    }
    let secs = v * scale;
    // (An overflow to infinity is out of range too.)
    if secs.is_nan() || secs > MAX_DURATION_SECS {
        return Err(format!(
            "the duration `{s}` is longer than the limit of 10 years"
        ));
    }
    Ok(SimTime::from_secs_f64(secs))
}

/// A count for a message: whole below a million, else in scientific notation with two
/// figures at most (`3.6e12`, `1e9`), which reads better than thirteen digits.
pub fn fmt_count(x: f64) -> String {
    if x < 1e6 {
        format!("{}", x.round())
    } else {
        format!("{x:.1e}").replace(".0e", "e")
    }
}

/// The longest duration a scenario may name (10 years): beyond it a run is surely a typo.
pub const MAX_DURATION_SECS: f64 = 10.0 * 365.0 * 86400.0;

/// Parses a rate such as `20/s`, `1200/min`, `3/h`, `0.5/ms`; returns events per second.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    refuse_non_finite(s, "rate", "`20/s` or `1200/min`")?;
    let t = s.trim();
    if t.parse::<f64>() == Ok(0.0) {
        return Ok(0.0);
    }
    let Some((num, per)) = t.split_once('/') else {
        return Err(format!(
            "expected a rate such as `20/s` or `1200/min`, found `{s}`"
        ));
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("expected a rate such as `20/s` or `1200/min`, found `{s}`"))?;
    let per_secs = match per.trim() {
        "ns" => 1e-9,
        "us" => 1e-6,
        "ms" => 1e-3,
        "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" | "day" => 86400.0,
        u => {
            return Err(format!(
                "unknown rate unit `/{u}` in `{s}`: use /s, /min, /h or /d"
            ));
        }
    };
    if v < 0.0 {
        return Err(format!("a rate must be zero or positive, found `{s}`"));
    }
    if !(v / per_secs).is_finite() {
        return Err(format!("the rate `{s}` is too large to represent"));
    }
    Ok(v / per_secs)
}

/// Parses a size such as `16GiB`, `20GB`, `512MiB`; returns bytes.
pub fn parse_bytes(s: &str) -> Result<f64, String> {
    refuse_non_finite(s, "size", "`16GiB` or `20GB`")?;
    let v = parse_bytes_unbounded(s)?;
    if !v.is_finite() {
        return Err(format!("the size `{s}` is too large to represent"));
    }
    Ok(v)
}

/// [`parse_bytes`], except that a size too large for a float is infinite rather than an
/// error (for callers that name their own limit).
pub fn parse_bytes_unbounded(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (num, unit) = split_number(t);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("expected a size such as `16GiB` or `20GB`, found `{s}`"))?;
    let scale = match unit.trim() {
        "B" => 1.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        "" if v == 0.0 => 1.0,
        "" => return Err(format!("the size `{s}` has no unit: write e.g. `{v}GiB`")),
        u => {
            return Err(format!(
                "unknown size unit `{u}` in `{s}`: use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB"
            ));
        }
    };
    if v < 0.0 {
        return Err(format!("a size must be zero or positive, found `{s}`"));
    }
    Ok(v * scale)
}

/// Splits `"12.5ms"` into `("12.5", "ms")`.
fn split_number(t: &str) -> (&str, &str) {
    let end = t
        .char_indices()
        .find(|&(i, c)| {
            !(c.is_ascii_digit()
                || c == '.'
                || c == '_'
                // A sign leads the number or its exponent (`1e-300`).
                || ((c == '-' || c == '+') && (i == 0 || t[..i].ends_with(['e', 'E'])))
                || ((c == 'e' || c == 'E')
                    && t[i + 1..]
                        .starts_with(|d: char| d.is_ascii_digit() || d == '-' || d == '+')
                    && i > 0))
        })
        .map(|(i, _)| i)
        .unwrap_or(t.len());
    (&t[..end], &t[end..])
}

/// Accepts a string or a number from the scenario and hands it to `parse` as text.
struct TextVisitor<F>(&'static str, F);

impl<T, F: Fn(&str) -> Result<T, String>> Visitor<'_> for TextVisitor<F> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.0)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.1)(v).map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        (self.1)(&v.to_string()).map_err(E::custom)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        (self.1)(&v.to_string()).map_err(E::custom)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        (self.1)(&v.to_string()).map_err(E::custom)
    }
}

/// A duration field (`250ms`, `90s`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub SimTime);

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor(
            "a duration such as `250ms` or `90s`",
            |s: &str| parse_duration(s).map(Duration),
        ))
    }
}

/// A rate field (`20/s`, `1200/min`), stored per second.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub struct Rate(pub f64);

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor(
            "a rate such as `20/s` or `1200/min`",
            |s: &str| parse_rate(s).map(Rate),
        ))
    }
}

/// A size field (`16GiB`), stored in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub struct Bytes(pub f64);

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor("a size such as `16GiB`", |s: &str| {
            parse_bytes(s).map(Bytes)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), SimTime::from_millis(250));
        assert_eq!(parse_duration("90s").unwrap(), SimTime::from_secs(90));
        assert_eq!(parse_duration("5m").unwrap(), SimTime::from_secs(300));
        assert_eq!(parse_duration("2h").unwrap(), SimTime::from_secs(7200));
        assert_eq!(parse_duration("1.5s").unwrap(), SimTime::from_millis(1500));
        assert_eq!(parse_duration("100us").unwrap(), SimTime(100_000));
        assert_eq!(parse_duration("0").unwrap(), SimTime::ZERO);
        assert!(parse_duration("90").unwrap_err().contains("no unit"));
        assert!(parse_duration("-5s").unwrap_err().contains("positive"));
        assert!(
            parse_duration("5 parsecs")
                .unwrap_err()
                .contains("unknown duration unit")
        );
        assert!(parse_duration("100000d").unwrap_err().contains("limit"));
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("20/s").unwrap(), 20.0);
        assert_eq!(parse_rate("1200/min").unwrap(), 20.0);
        assert_eq!(parse_rate("3600/h").unwrap(), 1.0);
        assert!(parse_rate("-2/s").is_err());
        assert!(parse_rate("20").is_err());
        assert_eq!(parse_rate("0").unwrap(), 0.0);
    }

    #[test]
    fn sizes() {
        assert_eq!(
            parse_bytes("16GiB").unwrap(),
            16.0 * 1024.0 * 1024.0 * 1024.0
        );
        assert_eq!(parse_bytes("20GB").unwrap(), 20e9);
        assert_eq!(parse_bytes("1.5e3MB").unwrap(), 1.5e9);
        assert!(parse_bytes("20").is_err());
    }
}

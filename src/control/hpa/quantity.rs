//! Kubernetes quantities (`resource.Quantity`: `500m`, `0.6`, `2k`, `1Gi`), kept in
//! milli-units as the controller computes with `MilliValue()`.

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::fmt;

/// Parses a Kubernetes quantity (`500m`, `0.6`, `2k`, `1Gi`, `1e3`) into milli-units,
/// rounding up as `Quantity.MilliValue()` does.
pub fn parse_quantity(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let bad = || format!("expected a quantity such as `500m`, `0.6`, `2k` or `1Gi`, found `{s}`");
    let (neg, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let num_end = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (num, suffix) = body.split_at(num_end);
    if num.is_empty() || num == "." || num.matches('.').count() > 1 {
        return Err(bad());
    }
    let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
    let digits = format!("{int_part}{frac_part}");
    if digits.len() > 30 {
        return Err(bad());
    }
    let mantissa: i128 = digits.parse().map_err(|_| bad())?;
    // value = mantissa * 10^exp10 * 2^exp2
    let mut exp10: i32 = -(frac_part.len() as i32);
    let mut exp2: u32 = 0;
    match suffix {
        "" => {}
        "n" => exp10 -= 9,
        "u" => exp10 -= 6,
        "m" => exp10 -= 3,
        "k" => exp10 += 3,
        "M" => exp10 += 6,
        "G" => exp10 += 9,
        "T" => exp10 += 12,
        "P" => exp10 += 15,
        "E" => exp10 += 18,
        "Ki" => exp2 = 10,
        "Mi" => exp2 = 20,
        "Gi" => exp2 = 30,
        "Ti" => exp2 = 40,
        "Pi" => exp2 = 50,
        "Ei" => exp2 = 60,
        e if e.starts_with(['e', 'E']) => {
            exp10 += e[1..].parse::<i32>().map_err(|_| bad())?;
        }
        _ => return Err(bad()),
    }
    let too_big = || format!("the quantity `{s}` is too large");
    // To milli-units: one more factor 10^3.
    exp10 += 3;
    let mut v = mantissa.checked_mul(1i128 << exp2).ok_or_else(too_big)?;
    if exp10 >= 0 {
        let p = 10i128.checked_pow(exp10 as u32).ok_or_else(too_big)?;
        v = v.checked_mul(p).ok_or_else(too_big)?;
    } else {
        let p = 10i128.checked_pow((-exp10) as u32).unwrap_or(i128::MAX);
        // Round up (towards +inf for positive values), as MilliValue does.
        v = (v + p - 1) / p;
    }
    let v = if neg { -v } else { v };
    i64::try_from(v).map_err(|_| too_big())
}

/// A Kubernetes quantity in milli-units; written as a string (`"500m"`) or a number (`30`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quantity(pub i64);

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Quantity;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a quantity such as `500m`, `0.6` or `2k`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
                parse_quantity(v).map(Quantity).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
                v.checked_mul(1000)
                    .map(Quantity)
                    .ok_or_else(|| E::custom(format!("the quantity {v} is too large")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
                i64::try_from(v)
                    .map_err(|_| E::custom(format!("the quantity {v} is too large")))
                    .and_then(|v| self.visit_i64(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
                parse_quantity(&format!("{v}"))
                    .map(Quantity)
                    .map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// Formats milli-units the way `kubectl` shows them: whole units when exact, else `NNNm`.
pub fn format_milli(v: i64) -> String {
    if v % 1000 == 0 {
        format!("{}", v / 1000)
    } else {
        format!("{v}m")
    }
}

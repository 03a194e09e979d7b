//! A duration field that also takes a distribution: `repair_time: 4h` is exactly four hours,
//! `repair_time: {lognormal: {mean: 4h, sd: 2h}}` a draw each time.

use super::dist::{Dist, Q, Secs};
use crate::engine::SimTime;
use crate::units::parse_duration;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use std::fmt;

/// What a plain duration means where a distribution may also stand.
pub(super) type Plain = fn(f64) -> Dist<Secs>;

/// Reads a plain duration (turned into a distribution by `plain`, given seconds) or a
/// distribution.
pub(super) fn duration_or_dist<'de, D: Deserializer<'de>>(
    d: D,
    expecting: &'static str,
    plain: Plain,
) -> Result<Dist<Secs>, D::Error> {
    struct V(&'static str, Plain);
    impl<'de> Visitor<'de> for V {
        type Value = Dist<Secs>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Dist<Secs>, E> {
            let t = parse_duration(v).map_err(E::custom)?;
            Ok((self.1)(t.nanos() as f64 / 1e9))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dist<Secs>, E> {
            self.visit_str(&v.to_string())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dist<Secs>, E> {
            self.visit_str(&v.to_string())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Dist<Secs>, E> {
            self.visit_str(&v.to_string())
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Dist<Secs>, A::Error> {
            Dist::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_any(V(expecting, plain))
}

/// A duration that is either fixed (written as a plain duration) or drawn from a
/// distribution.
#[derive(Clone, Debug, PartialEq)]
pub struct Delay(pub Dist<Secs>);

impl Delay {
    /// A fixed delay.
    pub fn fixed(t: SimTime) -> Delay {
        Delay(Dist::Fixed(Q::new(t.nanos() as f64 / 1e9)))
    }
}

impl<'de> Deserialize<'de> for Delay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        duration_or_dist(
            d,
            "a duration such as `4h` or a distribution such as `{exponential: {mean: 4h}}`",
            |s| Dist::Fixed(Q::new(s)),
        )
        .map(Delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_duration_is_fixed_and_a_mapping_is_a_distribution() {
        let d: Delay = serde_json::from_str("\"4h\"").unwrap();
        assert_eq!(d, Delay::fixed(SimTime::from_secs(14_400)));
        let d: Delay = serde_json::from_str(r#"{"exponential": {"mean": "2h"}}"#).unwrap();
        assert_eq!(
            d.0,
            Dist::Exponential {
                mean: Q::new(7200.0)
            }
        );
        assert!(serde_json::from_str::<Delay>("\"soon\"").is_err());
    }
}

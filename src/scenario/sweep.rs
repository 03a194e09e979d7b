//! The serde shape of the `sweep:` block. It is part of the scenario file, so it lives here;
//! the `sweep` module expands it into points.

use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess, Visitor};

/// The `sweep:` block of a scenario, as serde sees it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// How the axes combine.
    #[serde(default)]
    pub mode: SweepMode,
    /// The swept paths, in the order written (the values are read from the located tree).
    pub grid: GridKeys,
}

/// How the axes of a grid combine into points.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepMode {
    /// Every combination; the first path varies slowest, as in nested loops.
    #[default]
    Cartesian,
    /// The i-th value of every path together; all paths need as many values.
    Zip,
}

impl SweepMode {
    /// The name used in the scenario and in sweep.json.
    pub fn name(self) -> &'static str {
        match self {
            SweepMode::Cartesian => "cartesian",
            SweepMode::Zip => "zip",
        }
    }
}

/// The paths of a `grid:` mapping in file order; their values are checked later.
#[derive(Debug, Clone, Default)]
pub struct GridKeys(pub Vec<String>);

impl<'de> Deserialize<'de> for GridKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = GridKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a mapping from dotted paths to lists or ranges of values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<GridKeys, A::Error> {
                let mut keys = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    map.next_value::<IgnoredAny>()?;
                    keys.push(k);
                }
                Ok(GridKeys(keys))
            }
        }
        d.deserialize_map(V)
    }
}

//! User-defined GPUs, as a scenario's `gpus:` list writes them.

use super::{GpuProfile, builtin_gpu, builtin_gpu_names};
use crate::units::{Bytes, parse_bytes_unbounded, refuse_non_finite};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::fmt;

/// Limits on user-defined figures. They are far above any GPU made so far; a value beyond them
/// is surely a unit mistake (TFLOPS given in FLOPS, bytes in bits).
const MAX_TFLOPS: f64 = 100_000.0;
/// 16 TiB of device memory.
const MAX_MEMORY_BYTES: f64 = 16.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0;
/// 1 PB/s, for memory and interconnect bandwidth.
const MAX_BANDWIDTH_BYTES_PER_S: f64 = 1e15;
/// 1 kB/s, the least bandwidth a scenario may name other than zero: at it a 16 GB image
/// pulls for six months, so anything less is surely a unit mistake.
const MIN_BANDWIDTH_BYTES_PER_S: f64 = 1e3;
/// 10 kW per GPU.
const MAX_TDP_WATTS: f64 = 10_000.0;

/// Interconnect assumed for a user-defined GPU that names none and has no `based_on`:
/// PCIe Gen3 x16, 32 GB/s (as the T4 datasheet states it), the slowest link a data-centre GPU has.
const DEFAULT_INTERCONNECT_BYTES_PER_S: f64 = 32e9;

/// Parses a bandwidth such as `2039GB/s`, `2TB/s` or `900 GB/s`; returns bytes per second.
///
/// A size without `/s` (`2039GB`) is taken as per second too, since no other time base makes
/// sense for a GPU's bandwidth; any other time base is refused.
pub fn parse_bandwidth(s: &str) -> Result<f64, String> {
    refuse_non_finite(s, "bandwidth", "`2039GB/s` or `2TB/s`")?;
    let t = s.trim();
    let size = match t.split_once('/') {
        Some((size, per)) => {
            if !matches!(per.trim(), "s" | "sec") {
                return Err(format!(
                    "a bandwidth is per second, e.g. `2039GB/s` or `2TB/s`; found `{s}`"
                ));
            }
            size
        }
        None => t,
    };
    let v = parse_bytes_unbounded(size).map_err(|e| {
        format!("expected a bandwidth such as `2039GB/s` or `2TB/s`, found `{s}` ({e})")
    })?;
    // Well-formed but out of range: say so, with the limit.
    if v > 0.0 && v < MIN_BANDWIDTH_BYTES_PER_S {
        return Err(format!(
            "the bandwidth `{}` is out of range: the least is 1kB/s",
            s.trim()
        ));
    }
    if v > MAX_BANDWIDTH_BYTES_PER_S {
        return Err(format!(
            "the bandwidth `{}` is out of range: the most is 1PB/s",
            s.trim()
        ));
    }
    Ok(v)
}

/// A bandwidth field (`2039GB/s`, `2TB/s`), stored in bytes per second.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub struct Bandwidth(pub f64);

impl<'de> Deserialize<'de> for Bandwidth {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Bandwidth;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a bandwidth such as `2039GB/s` or `2TB/s`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bandwidth, E> {
                parse_bandwidth(v).map(Bandwidth).map_err(E::custom)
            }
            // Numbers go through the same parser, which refuses them unless zero: a bare
            // number has no unit.
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Bandwidth, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Bandwidth, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Bandwidth, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(V)
    }
}

/// A GPU defined in a scenario's `gpus:` list.
///
/// With `based_on`, it starts from that built-in profile (its MIG profiles included) and
/// overrides the fields given; without, it must give `fp16_tflops`, `memory` and `bandwidth`,
/// and the rest default: `int8_tops` to `fp16_tflops` (no faster INT8 path), `fp8_tflops` to 0
/// (unsupported), `tdp_watts` to 0 (unknown), `interconnect` to PCIe Gen3 x16 (32 GB/s),
/// `sustained_compute_fraction` to 1 (and `llm_compute_fraction` to it), no MIG. Inherited MIG profiles are kept as they are,
/// names included, even where `memory` is overridden.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuSpec {
    /// The profile's name, as node pools refer to it.
    pub name: String,
    /// A built-in GPU to inherit from.
    pub based_on: Option<String>,
    /// Dense FP16/BF16 tensor TFLOPS.
    pub fp16_tflops: Option<f64>,
    /// Dense INT8 tensor TOPS.
    pub int8_tops: Option<f64>,
    /// Dense FP8 tensor TFLOPS; 0 for none.
    pub fp8_tflops: Option<f64>,
    /// Device memory: give the total `nvidia-smi` prints, in MiB or GiB (`81920MiB`, `80GiB`).
    /// Decimal units are taken literally: `80GB` is 80 x 10^9 bytes, 7% less than an "80 GB"
    /// A100 has.
    pub memory: Option<Bytes>,
    /// Memory bandwidth (`2039GB/s`).
    pub bandwidth: Option<Bandwidth>,
    /// Board power in watts.
    pub tdp_watts: Option<f64>,
    /// Per-GPU interconnect bandwidth (`900GB/s`).
    pub interconnect: Option<Bandwidth>,
    /// Fraction of peak compute sustained relative to the A100 reference, in (0, 1]; see
    /// [`GpuProfile::sustained_compute_fraction`]. Default 1 (or the `based_on` GPU's).
    pub sustained_compute_fraction: Option<f64>,
    /// The same for an LLM's weight matrix multiplies; see
    /// [`GpuProfile::llm_compute_fraction`]. Default: `sustained_compute_fraction` (or the
    /// `based_on` GPU's).
    pub llm_compute_fraction: Option<f64>,
}

/// Checks `v` lies in (0, max] (or [0, max] if `zero_ok`); the message names the field.
fn check(
    gpu: &str,
    field: &str,
    v: f64,
    max: f64,
    max_text: &str,
    zero_ok: bool,
) -> Result<(), String> {
    let low_ok = if zero_ok { v >= 0.0 } else { v > 0.0 };
    if v.is_finite() && low_ok && v <= max {
        Ok(())
    } else {
        let low = if zero_ok {
            "zero or positive"
        } else {
            "positive"
        };
        Err(format!(
            "GPU `{gpu}`: `{field}` must be {low} and at most {max_text}, found {v}"
        ))
    }
}

impl GpuSpec {
    /// Builds the profile, inheriting from `based_on` where given, and checks every figure.
    pub fn resolve(&self) -> Result<GpuProfile, String> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err("a GPU in `gpus` has an empty `name`".to_string());
        }
        let mut p = match &self.based_on {
            Some(base) => {
                let mut p = builtin_gpu(base).ok_or_else(|| {
                    format!(
                        "GPU `{name}`: `based_on: {base}` is not a built-in GPU; built-in GPUs \
                         are: {}",
                        builtin_gpu_names()
                    )
                })?;
                p.source = format!("user-defined, based on {base} ({})", p.source);
                p
            }
            None => {
                let missing: Vec<&str> = [
                    ("fp16_tflops", self.fp16_tflops.is_none()),
                    ("memory", self.memory.is_none()),
                    ("bandwidth", self.bandwidth.is_none()),
                ]
                .iter()
                .filter(|(_, m)| *m)
                .map(|(f, _)| *f)
                .collect();
                if !missing.is_empty() {
                    return Err(format!(
                        "GPU `{name}` has no `based_on`, so it must give `fp16_tflops`, `memory` \
                         and `bandwidth`; missing: `{}`",
                        missing.join("`, `")
                    ));
                }
                GpuProfile {
                    name: String::new(),
                    fp16_tflops: 0.0,
                    int8_tops: 0.0,
                    fp8_tflops: 0.0,
                    memory_bytes: 0.0,
                    bandwidth_bytes_per_s: 0.0,
                    tdp_watts: 0.0,
                    interconnect_bytes_per_s: DEFAULT_INTERCONNECT_BYTES_PER_S,
                    sustained_compute_fraction: 1.0,
                    llm_compute_fraction: 1.0,
                    mig: Vec::new(),
                    source: "user-defined".to_string(),
                }
            }
        };
        p.name = name.to_string();
        if let Some(v) = self.fp16_tflops {
            check(name, "fp16_tflops", v, MAX_TFLOPS, "100000 TFLOPS", false)?;
            p.fp16_tflops = v;
        }
        if let Some(v) = self.int8_tops {
            check(name, "int8_tops", v, MAX_TFLOPS, "100000 TOPS", false)?;
            p.int8_tops = v;
        } else if self.based_on.is_none() {
            p.int8_tops = p.fp16_tflops;
        }
        if let Some(v) = self.fp8_tflops {
            check(name, "fp8_tflops", v, MAX_TFLOPS, "100000 TFLOPS", true)?;
            p.fp8_tflops = v;
        }
        if let Some(Bytes(v)) = self.memory {
            check(name, "memory", v, MAX_MEMORY_BYTES, "16TiB", false)?;
            p.memory_bytes = v;
        }
        if let Some(Bandwidth(v)) = self.bandwidth {
            check(
                name,
                "bandwidth",
                v,
                MAX_BANDWIDTH_BYTES_PER_S,
                "1PB/s",
                false,
            )?;
            p.bandwidth_bytes_per_s = v;
        }
        if let Some(v) = self.tdp_watts {
            check(name, "tdp_watts", v, MAX_TDP_WATTS, "10000 W", false)?;
            p.tdp_watts = v;
        }
        if let Some(Bandwidth(v)) = self.interconnect {
            check(
                name,
                "interconnect",
                v,
                MAX_BANDWIDTH_BYTES_PER_S,
                "1PB/s",
                false,
            )?;
            p.interconnect_bytes_per_s = v;
        }
        if let Some(v) = self.sustained_compute_fraction {
            check(name, "sustained_compute_fraction", v, 1.0, "1", false)?;
            p.sustained_compute_fraction = v;
            // A standalone GPU's one measured fraction stands for both.
            if self.based_on.is_none() {
                p.llm_compute_fraction = v;
            }
        }
        if let Some(v) = self.llm_compute_fraction {
            check(name, "llm_compute_fraction", v, 1.0, "1", false)?;
            p.llm_compute_fraction = v;
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> GpuSpec {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn bandwidth_parsing() {
        assert_eq!(parse_bandwidth("2039GB/s").unwrap(), 2039e9);
        assert_eq!(parse_bandwidth("2TB/s").unwrap(), 2e12);
        assert_eq!(parse_bandwidth(" 900 GB / s ").unwrap(), 900e9);
        assert_eq!(parse_bandwidth("2039GB").unwrap(), 2039e9);
        assert!(
            parse_bandwidth("2TB/min")
                .unwrap_err()
                .contains("per second")
        );
        assert!(parse_bandwidth("2039").unwrap_err().contains("no unit"));
        assert!(parse_bandwidth("fast").is_err());
    }

    #[test]
    fn based_on_inherits_and_overrides() {
        let g =
            spec("{name: a100-lowpower, based_on: a100-80gb, tdp_watts: 300, bandwidth: 1.9TB/s}")
                .resolve()
                .unwrap();
        assert_eq!(g.name, "a100-lowpower");
        assert_eq!(g.fp16_tflops, 312.0);
        assert_eq!(g.int8_tops, 624.0);
        assert_eq!(
            g.memory_bytes,
            80.0 * (1u64 << 30) as f64,
            "nvidia-smi's 81,920 MiB"
        );
        assert_eq!(g.tdp_watts, 300.0);
        assert_eq!(g.bandwidth_bytes_per_s, 1.9e12);
        assert_eq!(g.mig.len(), 5, "MIG profiles are inherited");
        assert!(g.source.contains("based on a100-80gb"));
        let t = spec("{name: t4-cheap, based_on: t4}").resolve().unwrap();
        assert_eq!(t.sustained_compute_fraction, 0.74, "inherited");
        let t = spec("{name: t4-cool, based_on: t4, sustained_compute_fraction: 0.9}")
            .resolve()
            .unwrap();
        assert_eq!(t.sustained_compute_fraction, 0.9);
    }

    #[test]
    fn llm_compute_fraction_is_inherited_or_follows_the_sustained_fraction() {
        let h = spec("{name: h, based_on: h100-80gb, sustained_compute_fraction: 0.7}")
            .resolve()
            .unwrap();
        assert_eq!(h.sustained_compute_fraction, 0.7);
        assert_eq!(
            h.llm_compute_fraction, 1.0,
            "the H100's measured GEMM fraction stays"
        );
        let g = spec("{name: g, fp16_tflops: 100, memory: 24GiB, bandwidth: 1TB/s, sustained_compute_fraction: 0.9}")
            .resolve()
            .unwrap();
        assert_eq!(
            g.llm_compute_fraction, 0.9,
            "a standalone GPU's one fraction stands for both"
        );
        let g = spec("{name: g, based_on: t4, llm_compute_fraction: 0.8}")
            .resolve()
            .unwrap();
        assert_eq!(
            (g.sustained_compute_fraction, g.llm_compute_fraction),
            (0.74, 0.8)
        );
        let e = spec("{name: g, based_on: t4, llm_compute_fraction: 1.5}")
            .resolve()
            .unwrap_err();
        assert!(e.contains("`llm_compute_fraction`"), "{e}");
    }

    #[test]
    fn standalone_gpu_needs_three_fields() {
        let g = spec("{name: l4, fp16_tflops: 121, memory: 24GB, bandwidth: 300GB/s}")
            .resolve()
            .unwrap();
        assert_eq!(g.int8_tops, 121.0, "INT8 defaults to the FP16 rate");
        assert_eq!(g.fp8_tflops, 0.0);
        assert_eq!(g.interconnect_bytes_per_s, 32e9);
        assert!(g.mig.is_empty());
        assert_eq!(g.sustained_compute_fraction, 1.0);

        let e = spec("{name: x, fp16_tflops: 100}").resolve().unwrap_err();
        assert!(
            e.contains("must give `fp16_tflops`, `memory` and `bandwidth`"),
            "{e}"
        );
        assert!(e.contains("missing: `memory`, `bandwidth`"), "{e}");
    }

    #[test]
    fn bad_values_refused() {
        let e = spec("{name: x, based_on: a100-80gb, fp16_tflops: -5}")
            .resolve()
            .unwrap_err();
        assert!(e.contains("`fp16_tflops` must be positive"), "{e}");
        let e = spec("{name: x, based_on: a100-80gb, fp16_tflops: 312e12}")
            .resolve()
            .unwrap_err();
        assert!(e.contains("at most 100000 TFLOPS"), "{e}");
        let e = spec("{name: x, based_on: t4, memory: 20TiB}")
            .resolve()
            .unwrap_err();
        assert!(e.contains("`memory`") && e.contains("16TiB"), "{e}");
        let e = spec("{name: x, based_on: t4, bandwidth: 0GB/s}")
            .resolve()
            .unwrap_err();
        assert!(e.contains("`bandwidth` must be positive"), "{e}");
        let e = spec("{name: x, based_on: t4, tdp_watts: 70000}")
            .resolve()
            .unwrap_err();
        assert!(e.contains("`tdp_watts`") && e.contains("10000 W"), "{e}");
        // FP8 may be zero (unsupported) but not negative.
        assert!(
            spec("{name: x, based_on: t4, fp8_tflops: 0}")
                .resolve()
                .is_ok()
        );
        assert!(
            spec("{name: x, based_on: t4, fp8_tflops: -1}")
                .resolve()
                .is_err()
        );
        let e = spec("{name: x, based_on: a200}").resolve().unwrap_err();
        assert!(
            e.contains("not a built-in GPU") && e.contains("a100-80gb"),
            "{e}"
        );
        assert!(spec("{name: ' ', based_on: t4}").resolve().is_err());
        let e = spec("{name: x, based_on: t4, sustained_compute_fraction: 1.5}")
            .resolve()
            .unwrap_err();
        assert!(
            e.contains("`sustained_compute_fraction`") && e.contains("at most 1"),
            "{e}"
        );
    }

    #[test]
    fn yaml_errors() {
        assert!(serde_saphyr::from_str::<GpuSpec>("{name: x, fp16: 3}").is_err());
        assert!(serde_saphyr::from_str::<GpuSpec>("{name: x, memory: 80}").is_err());
        assert!(serde_saphyr::from_str::<GpuSpec>("{name: x, bandwidth: 2TB/h}").is_err());
    }
}

//! Batch-latency models for non-LLM networks (image classifiers, encoders such as BERT): how
//! long a GPU, or a MIG / time-sliced share of one, takes to run a batch of `b` items.
//!
//! The built-in models use a roofline,
//!
//! ```text
//! a(b) = overhead + max( b * flops_per_item / (peak_ops * sustained * compute_fraction * compute_efficiency),
//!                        (weight_bytes + b * activation_bytes_per_item)
//!                            / (bandwidth * bandwidth_fraction * memory_efficiency) )
//! ```
//!
//! where `peak_ops` is the GPU's dense tensor rate for the model's precision and `sustained` the
//! GPU's [`GpuProfile::sustained_compute_fraction`]. Each built-in's `compute_efficiency` is
//! calibrated so that an A100-80GB reproduces NVIDIA's MLPerf Inference v1.1 Offline result, and
//! its `overhead` (per-batch launch and scheduling cost, which the roofline lacks) so that batch 1
//! reproduces NVIDIA's MLPerf v1.1 SingleStream latency on an A100.
//!
//! A scenario may instead give a measured latency table (see [`BatchLatencySpec`]).

use crate::engine::SimTime;
use crate::hardware::{
    GpuProfile, GpuSharing, Share, builtin_gpu, builtin_gpu_names, fmt_bytes, fmt_num,
    render_table, share,
};
use crate::units::{Bytes, Duration};
use serde::Deserialize;
use std::fmt;

/// The arithmetic a model runs in, which selects the GPU's peak rate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// FP16/BF16 tensor cores.
    #[default]
    Fp16,
    /// INT8 tensor cores.
    Int8,
    /// FP8 tensor cores; on GPUs without FP8 the model runs at the FP16 rate.
    Fp8,
}

impl Precision {
    /// The GPU's dense peak for this precision, in operations per second (datasheet figure,
    /// before [`GpuProfile::sustained_compute_fraction`]).
    pub fn peak_ops(self, gpu: &GpuProfile) -> f64 {
        let tera = match self {
            Precision::Fp16 => gpu.fp16_tflops,
            Precision::Int8 => gpu.int8_tops,
            Precision::Fp8 if gpu.fp8_tflops > 0.0 => gpu.fp8_tflops,
            Precision::Fp8 => gpu.fp16_tflops,
        };
        tera * 1e12
    }

    /// The compute rate this GPU sustains for this precision: peak times the GPU's sustained
    /// fraction, in operations per second.
    pub fn sustained_ops(self, gpu: &GpuProfile) -> f64 {
        self.peak_ops(gpu) * gpu.sustained_compute_fraction
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::Fp16 => "fp16",
            Precision::Int8 => "int8",
            Precision::Fp8 => "fp8",
        })
    }
}

/// A roofline batch-latency model of one network.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchModel {
    /// Model name, e.g. `resnet50`.
    pub name: String,
    /// Arithmetic operations per item (a multiply-add counts as 2, as tensor TOPS do).
    pub flops_per_item: f64,
    /// Bytes of weights read once per batch.
    pub weight_bytes: f64,
    /// Bytes of activations moved to and from device memory per item.
    pub activation_bytes_per_item: f64,
    /// The precision it runs in.
    pub precision: Precision,
    /// Share of the sustained peak compute the model's kernels reach at large batch.
    pub compute_efficiency: f64,
    /// Share of the peak memory bandwidth reached.
    pub memory_efficiency: f64,
    /// Fixed per-batch cost: kernel launches, synchronisation, host work.
    pub overhead: SimTime,
    /// The batch size the profile was calibrated with.
    pub max_batch: u32,
    /// Where the figures come from.
    pub source: String,
}

impl BatchModel {
    /// Seconds of compute for `b` items on `share` of `gpu` (no overhead).
    fn compute_secs(&self, gpu: &GpuProfile, share: &Share, b: u32) -> f64 {
        let rate =
            self.precision.sustained_ops(gpu) * share.compute_fraction * self.compute_efficiency;
        f64::from(b) * self.flops_per_item / rate
    }

    /// Seconds of memory traffic for `b` items on `share` of `gpu` (no overhead).
    fn memory_secs(&self, gpu: &GpuProfile, share: &Share, b: u32) -> f64 {
        let rate = gpu.bandwidth_bytes_per_s * share.bandwidth_fraction * self.memory_efficiency;
        (self.weight_bytes + f64::from(b) * self.activation_bytes_per_item) / rate
    }

    /// Latency of a batch of `b` items on one unit `share` of `gpu`; zero for an empty batch.
    pub fn batch_latency(&self, gpu: &GpuProfile, share: &Share, b: u32) -> SimTime {
        if b == 0 {
            return SimTime::ZERO;
        }
        let roof = self
            .compute_secs(gpu, share, b)
            .max(self.memory_secs(gpu, share, b));
        self.overhead + SimTime::from_secs_f64(roof)
    }

    /// Items per second when batches of `b` run back to back: `b / a(b)`.
    pub fn saturated_throughput(&self, gpu: &GpuProfile, share: &Share, b: u32) -> f64 {
        throughput(b, self.batch_latency(gpu, share, b))
    }
}

/// `b / latency`, zero for an empty batch or a zero latency.
fn throughput(b: u32, latency: SimTime) -> f64 {
    let s = latency.as_secs_f64();
    if b == 0 || s <= 0.0 {
        0.0
    } else {
        f64::from(b) / s
    }
}

/// ResNet-50 v1.5 as MLPerf Inference runs it: INT8, 224x224 images.
fn resnet50() -> BatchModel {
    // He et al. 2016, Table 1: ResNet-50 is 3.8e9 multiply-adds. MLPerf uses v1.5, which moves
    // the stride-2 of each downsampling bottleneck from the 1x1 to the 3x3 convolution; a
    // layer-by-layer count then gives 4.09e9 multiply-adds (torchvision's model table lists the
    // same 4.09 "GFLOPS"). Two operations per multiply-add.
    const FLOPS: f64 = 2.0 * 4.09e9;
    // 25.6M parameters (25,557,032 in the reference model), one byte each in INT8.
    const WEIGHTS: f64 = 25.6e6;
    // Conv/pool outputs total 11.3M elements per image (own count over the v1.5 layers); with
    // TensorRT's fusion each is written once and read once, one byte each in INT8, plus the
    // 224x224x3 INT8 input: 2 x 11.31e6 + 150,528 = 22.77 MB per image.
    const ACTIVATIONS: f64 = 22.77e6;
    BatchModel {
        name: "resnet50".to_string(),
        flops_per_item: FLOPS,
        weight_bytes: WEIGHTS,
        activation_bytes_per_item: ACTIVATIONS,
        precision: Precision::Int8,
        // Calibrated: an A100-80GB at b = 2048 (NVIDIA's v1.1 offline batch size,
        // configs/resnet50/Offline) gives MLPerf v1.1's 39,190 samples/s, i.e. 52% of 624 TOPS.
        compute_efficiency: 0.518,
        // FACTS.md: decode of one sequence reached 77% of the HBM bandwidth ceiling.
        memory_efficiency: 0.77,
        // MLPerf Inference v1.1 closed, NVIDIA, A100-PCIe-80GB x1, ResNet-50 SingleStream: mean
        // latency 0.473 ms (p90 0.479 ms). Batch 1 is memory-bound here (31 us of roofline), so
        // the per-batch overhead is 0.473 - 0.031 = 0.442 ms.
        overhead: SimTime(442_000),
        max_batch: 2048,
        source: "MLPerf Inference v1.1 (NVIDIA A100 Offline 39,190/s, SingleStream 0.473 ms); \
                 He et al. 2016"
            .to_string(),
    }
}

/// BERT-large on SQuAD v1.1 as MLPerf Inference's BERT-99 runs it: INT8, max sequence 384.
fn bert_large() -> BatchModel {
    // NVIDIA's MLPerf harness packs sequences without padding, so the work per sample follows
    // the real sequence length. Zhang et al., "Reducing BERT Computation by Padding Removal and
    // Curriculum Learning" (ISPASS 2021): padding is 54% of SQuAD v1.1's tokens at max length
    // 384, so the mean sequence is 0.46 x 384 = 177 tokens.
    const SEQ: f64 = 177.0;
    const LAYERS: f64 = 24.0; // Devlin et al. 2019: BERT-large L = 24, H = 1024
    const HIDDEN: f64 = 1024.0;
    // Encoder matrices per layer: Q, K, V, output (4 H^2) and the 4H feed-forward (8 H^2):
    // 24 x 12 x 1024^2 = 301,989,888 weights.
    const ENCODER_PARAMS: f64 = LAYERS * 12.0 * HIDDEN * HIDDEN;
    // 2 ops per weight per token, plus attention's QK^T and AV: 4 x seq x H per token per layer.
    // = 110 GFLOP per mean-length sample (the padded 384-token sample is 246 GFLOP, which
    // matches OpenVINO's model card for BERT-large SQuAD, 246.93 GOps).
    const FLOPS: f64 = SEQ * (2.0 * ENCODER_PARAMS + 4.0 * SEQ * HIDDEN * LAYERS);
    // Activations that reach DRAM per token per layer with fused attention (scores stay on
    // chip): QKV 3H, context H, projection+LayerNorm H, GELU 4H, FFN-out+LayerNorm H = 10H,
    // each written and read once, one byte in INT8.
    const ACTIVATIONS: f64 = SEQ * LAYERS * 10.0 * HIDDEN * 2.0;
    BatchModel {
        name: "bert-large".to_string(),
        flops_per_item: FLOPS,
        // The encoder weights in INT8; the embedding table is gathered, not streamed.
        weight_bytes: ENCODER_PARAMS,
        activation_bytes_per_item: ACTIVATIONS,
        precision: Precision::Int8,
        // Calibrated: an A100-80GB at b = 1280 (NVIDIA's v1.1 offline batch size for one
        // A100-SXM-80GB, configs/bert/Offline) gives MLPerf v1.1's 3,538 samples/s: 63% of 624
        // TOPS. Cross-check: NVIDIA's TensorRT BERT demo (demo/BERT/README.md) runs padded
        // 384-token batches of 128 in 89.0 ms on an A100-40GB, 57% of 624 TOPS.
        compute_efficiency: 0.626,
        memory_efficiency: 0.77, // FACTS.md: 77% of HBM bandwidth measured
        // MLPerf Inference v1.1 closed, NVIDIA, A100-PCIe-80GB x1, BERT-99 SingleStream: mean
        // latency 1.471 ms (p90 1.598 ms). Batch 1 is compute-bound (0.282 ms of roofline), so
        // the per-batch overhead is 1.471 - 0.282 = 1.189 ms.
        overhead: SimTime(1_189_000),
        max_batch: 1280,
        source: "MLPerf Inference v1.1 (NVIDIA A100 Offline 3,538/s, SingleStream 1.471 ms); \
                 Devlin et al. 2019; Zhang et al. 2021 (SQuAD padding)"
            .to_string(),
    }
}

/// The built-in batch models: `resnet50` and `bert-large`.
pub fn builtin_batch_models() -> Vec<BatchModel> {
    vec![resnet50(), bert_large()]
}

/// The built-in batch model named `name`, if there is one.
pub fn builtin_batch_model(name: &str) -> Option<BatchModel> {
    builtin_batch_models().into_iter().find(|m| m.name == name)
}

/// A batch-latency curve: a roofline model or a measured table.
#[derive(Clone, Debug, PartialEq)]
pub enum BatchCurve {
    /// Latency from the roofline of [`BatchModel`].
    Roofline(BatchModel),
    /// Latency measured on a reference GPU at a few batch sizes.
    ///
    /// Between points the latency is interpolated linearly; beyond the last it is extrapolated
    /// along the line through the last two points (through the origin when there is only one
    /// point); below the first point it is the first point's latency (a smaller batch is never
    /// slower, so this is an upper bound). On another GPU, or on a share of one, the measured
    /// latency is scaled by the ratio of the two GPUs' sustained compute for `precision` and
    /// divided by the share's compute fraction. The reference GPU is looked up by name in the
    /// `gpus` given to [`BatchCurve::latency`] (then among the built-ins);
    /// [`BatchLatencySpec::curve`] has checked that it exists. This treats the whole measured
    /// latency as compute, which overstates the slowdown of small batches (whose fixed costs do
    /// not scale) and ignores memory bandwidth: a deliberate, simple rule.
    Table {
        /// The name of the GPU the points were measured on (whole, unshared).
        gpu: String,
        /// (batch size, latency of a batch of that size), sorted by batch size.
        points: Vec<(u32, SimTime)>,
        /// The precision the model ran in, which picks the peak rates compared across GPUs.
        precision: Precision,
    },
}

impl BatchCurve {
    /// Latency of a batch of `b` items on one unit `share` of `gpu`; zero for an empty batch.
    ///
    /// `gpus` (the built-in and scenario-defined GPUs) is where a table's reference GPU is found;
    /// a roofline ignores it. Should the reference GPU be missing from `gpus` and the built-ins,
    /// the table is used unscaled across GPUs (only the share's compute fraction applies).
    pub fn latency(&self, gpu: &GpuProfile, share: &Share, b: u32, gpus: &[GpuProfile]) -> SimTime {
        match self {
            BatchCurve::Roofline(m) => m.batch_latency(gpu, share, b),
            BatchCurve::Table {
                gpu: reference,
                points,
                precision,
            } => {
                if b == 0 {
                    return SimTime::ZERO;
                }
                let measured = interpolate(points, b);
                let reference = gpus
                    .iter()
                    .find(|g| &g.name == reference)
                    .cloned()
                    .or_else(|| builtin_gpu(reference));
                let speedup = match reference {
                    Some(r) => precision.sustained_ops(gpu) / precision.sustained_ops(&r),
                    None => 1.0,
                };
                SimTime::from_secs_f64(measured / (speedup * share.compute_fraction))
            }
        }
    }

    /// Items per second when batches of `b` run back to back on one unit `share` of `gpu`
    /// (`gpus` as for [`BatchCurve::latency`]).
    pub fn saturated_throughput(
        &self,
        gpu: &GpuProfile,
        share: &Share,
        b: u32,
        gpus: &[GpuProfile],
    ) -> f64 {
        throughput(b, self.latency(gpu, share, b, gpus))
    }

    /// The largest batch the curve was calibrated or measured at.
    pub fn max_batch(&self) -> u32 {
        match self {
            BatchCurve::Roofline(m) => m.max_batch,
            BatchCurve::Table { points, .. } => points.last().map_or(1, |p| p.0),
        }
    }
}

/// Measured latency in seconds at batch `b` (>= 1) from sorted, validated points.
fn interpolate(points: &[(u32, SimTime)], b: u32) -> f64 {
    let x = f64::from(b);
    let pt = |i: usize| (f64::from(points[i].0), points[i].1.as_secs_f64());
    let n = points.len();
    let (b0, t0) = pt(0);
    if x <= b0 {
        return t0;
    }
    if n == 1 {
        return t0 * x / b0;
    }
    // The segment that holds b, or the last one to extrapolate along.
    let i = points.iter().position(|p| p.0 >= b).unwrap_or(n - 1).max(1);
    let (xa, ta) = pt(i - 1);
    let (xb, tb) = pt(i);
    ta + (x - xa) * (tb - ta) / (xb - xa)
}

/// Default compute efficiency of a user-defined roofline model.
pub const DEFAULT_COMPUTE_EFFICIENCY: f64 = 0.6;
/// Default memory efficiency of a user-defined roofline model (FACTS.md: 77% of HBM bandwidth
/// measured for batch-1 decode).
pub const DEFAULT_MEMORY_EFFICIENCY: f64 = 0.77;
/// Default `max_batch` of a user-defined roofline model; informational (`capsim profiles`).
pub const DEFAULT_MAX_BATCH: u32 = 64;

/// Limits on user-defined figures, beyond which a value is surely a unit mistake.
const MAX_FLOPS_PER_ITEM: f64 = 1e18;
const MAX_BYTES: f64 = 16.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0; // 16 TiB
const MAX_OVERHEAD_SECS: f64 = 60.0;
const MAX_MAX_BATCH: u32 = 1_000_000;

/// A model's batch latency as a scenario writes it (`batch_latency:` of a model): EITHER the
/// roofline parameters
///
/// ```yaml
/// batch_latency: {flops_per_item: 8.2e9, weights: 25.6MB, activations_per_item: 22.8MB,
///                 precision: int8, compute_efficiency: 0.5, memory_efficiency: 0.77, overhead: 0.4ms}
/// ```
///
/// (`flops_per_item`, `weights` and `activations_per_item` required; `precision` defaults to
/// fp16, `compute_efficiency` to 0.6, `memory_efficiency` to 0.77, `overhead` to 0, `max_batch`
/// to 64), OR a table measured on one GPU
///
/// ```yaml
/// batch_latency: {gpu: a100-80gb, precision: int8, points: [[1, 1.2ms], [8, 3.1ms], [32, 9ms]]}
/// ```
///
/// (see [`BatchCurve::Table`] for how it is read and scaled).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchLatencySpec {
    /// Roofline: operations per item.
    pub flops_per_item: Option<f64>,
    /// Roofline: weight bytes read per batch.
    pub weights: Option<Bytes>,
    /// Roofline: activation bytes moved per item.
    pub activations_per_item: Option<Bytes>,
    /// Both forms: the precision (default fp16).
    pub precision: Option<Precision>,
    /// Roofline: share of peak compute reached (default 0.6).
    pub compute_efficiency: Option<f64>,
    /// Roofline: share of peak bandwidth reached (default 0.77).
    pub memory_efficiency: Option<f64>,
    /// Roofline: fixed cost per batch (default 0).
    pub overhead: Option<Duration>,
    /// Roofline: the batch size the figures are meant for (default 64; informational).
    pub max_batch: Option<u32>,
    /// Table: the GPU the points were measured on.
    pub gpu: Option<String>,
    /// Table: `[batch size, latency]` pairs, sorted by batch size.
    pub points: Option<Vec<(u32, Duration)>>,
}

/// A spec that passed [`BatchLatencySpec::check`], before any GPU name is looked up.
enum Checked {
    Roofline(BatchModel),
    Table {
        gpu: String,
        points: Vec<(u32, SimTime)>,
        precision: Precision,
    },
}

impl BatchLatencySpec {
    /// Checks the spec's shape and figures without looking up the table's GPU. Messages name the
    /// field; the caller adds where the spec is (`models[2].batch_latency`).
    pub fn check(&self) -> Result<(), String> {
        self.checked().map(|_| ())
    }

    /// Checks the spec and builds its curve; a table's `gpu` must be one of `gpus` (the built-in
    /// and scenario-defined GPUs). A user-defined roofline is named `user-defined`; rename it if
    /// the name matters.
    pub fn curve(&self, gpus: &[GpuProfile]) -> Result<BatchCurve, String> {
        match self.checked()? {
            Checked::Roofline(m) => Ok(BatchCurve::Roofline(m)),
            Checked::Table {
                gpu,
                points,
                precision,
            } => {
                if !gpus.iter().any(|g| g.name == gpu) {
                    let names: Vec<&str> = gpus.iter().map(|g| g.name.as_str()).collect();
                    let known = if names.is_empty() {
                        builtin_gpu_names()
                    } else {
                        names.join(", ")
                    };
                    return Err(format!(
                        "`gpu: {gpu}` is not a known GPU; known GPUs are: {known} (or define it \
                         under `gpus`)"
                    ));
                }
                Ok(BatchCurve::Table {
                    gpu,
                    points,
                    precision,
                })
            }
        }
    }

    fn checked(&self) -> Result<Checked, String> {
        let roofline_fields = [
            ("flops_per_item", self.flops_per_item.is_some()),
            ("weights", self.weights.is_some()),
            ("activations_per_item", self.activations_per_item.is_some()),
            ("compute_efficiency", self.compute_efficiency.is_some()),
            ("memory_efficiency", self.memory_efficiency.is_some()),
            ("overhead", self.overhead.is_some()),
            ("max_batch", self.max_batch.is_some()),
        ];
        let given: Vec<&str> = roofline_fields
            .iter()
            .filter(|f| f.1)
            .map(|f| f.0)
            .collect();
        let table = self.gpu.is_some() || self.points.is_some();
        let precision = self.precision.unwrap_or_default();
        if table {
            if !given.is_empty() {
                return Err(format!(
                    "give either the roofline fields or a measured table (`gpu`, `points`), not \
                     both; found `{}` with the table",
                    given.join("`, `")
                ));
            }
            let Some(gpu) = &self.gpu else {
                return Err(
                    "a measured table needs `gpu`: the GPU the points were measured on".into(),
                );
            };
            let Some(raw) = &self.points else {
                return Err("a measured table needs `points`: [[batch, latency], ...]".into());
            };
            return Ok(Checked::Table {
                gpu: gpu.clone(),
                points: validate_points(raw)?,
                precision,
            });
        }
        let missing: Vec<&str> = roofline_fields[..3]
            .iter()
            .filter(|f| !f.1)
            .map(|f| f.0)
            .collect();
        if missing.len() == 3 {
            return Err(
                "give either the roofline fields (`flops_per_item`, `weights`, \
                 `activations_per_item`, ...) or a measured table (`gpu`, `points`)"
                    .into(),
            );
        }
        if !missing.is_empty() {
            return Err(format!(
                "the roofline needs `flops_per_item`, `weights` and `activations_per_item`; \
                 missing: `{}`",
                missing.join("`, `")
            ));
        }
        let flops = self.flops_per_item.unwrap_or_default();
        if !(flops.is_finite() && flops > 0.0 && flops <= MAX_FLOPS_PER_ITEM) {
            return Err(format!(
                "`flops_per_item` must be positive and at most 1e18, found {flops}"
            ));
        }
        let bytes = |field: &str, v: f64| {
            if v.is_finite() && (0.0..=MAX_BYTES).contains(&v) {
                Ok(v)
            } else {
                Err(format!("`{field}` must be at most 16TiB, found {v} bytes"))
            }
        };
        let weights = bytes("weights", self.weights.unwrap_or_default().0)?;
        let activations = bytes(
            "activations_per_item",
            self.activations_per_item.unwrap_or_default().0,
        )?;
        let efficiency = |field: &str, v: Option<f64>, default: f64| {
            let v = v.unwrap_or(default);
            if v.is_finite() && v > 0.0 && v <= 1.0 {
                Ok(v)
            } else {
                Err(format!(
                    "`{field}` must be above 0 and at most 1, found {v}"
                ))
            }
        };
        let compute_efficiency = efficiency(
            "compute_efficiency",
            self.compute_efficiency,
            DEFAULT_COMPUTE_EFFICIENCY,
        )?;
        let memory_efficiency = efficiency(
            "memory_efficiency",
            self.memory_efficiency,
            DEFAULT_MEMORY_EFFICIENCY,
        )?;
        let overhead = self.overhead.unwrap_or_default().0;
        if overhead.as_secs_f64() > MAX_OVERHEAD_SECS {
            return Err(format!("`overhead` must be at most 60s, found {overhead}"));
        }
        let max_batch = self.max_batch.unwrap_or(DEFAULT_MAX_BATCH);
        if max_batch == 0 || max_batch > MAX_MAX_BATCH {
            return Err(format!(
                "`max_batch` must be between 1 and {MAX_MAX_BATCH}, found {max_batch}"
            ));
        }
        Ok(Checked::Roofline(BatchModel {
            name: "user-defined".to_string(),
            flops_per_item: flops,
            weight_bytes: weights,
            activation_bytes_per_item: activations,
            precision,
            compute_efficiency,
            memory_efficiency,
            overhead,
            max_batch,
            source: "user-defined (scenario `models`)".to_string(),
        }))
    }
}

/// Checks a measured table: at least one point, batch sizes >= 1 and strictly increasing,
/// latencies positive and non-decreasing.
fn validate_points(raw: &[(u32, Duration)]) -> Result<Vec<(u32, SimTime)>, String> {
    if raw.is_empty() {
        return Err("`points` is empty: give at least one [batch, latency] pair".to_string());
    }
    let mut out: Vec<(u32, SimTime)> = Vec::with_capacity(raw.len());
    for (i, &(b, Duration(t))) in raw.iter().enumerate() {
        if b == 0 {
            return Err(format!(
                "`points[{i}]`: the batch size must be at least 1, found 0"
            ));
        }
        if t == SimTime::ZERO {
            return Err(format!(
                "`points[{i}]`: the latency must be positive, found 0"
            ));
        }
        if let Some(&(pb, pt)) = out.last() {
            if b <= pb {
                return Err(format!(
                    "`points` must be sorted by batch size without repeats: `points[{i}]` has \
                     batch {b} after batch {pb}"
                ));
            }
            if t < pt {
                return Err(format!(
                    "`points` latencies must not decrease as the batch grows: `points[{i}]` \
                     (batch {b}) takes {t}, less than the {pt} of batch {pb}"
                ));
            }
        }
        out.push((b, t));
    }
    Ok(out)
}

/// The built-in batch models as an aligned text table, for `capsim profiles`; throughput and
/// batch-1 latency are on a whole A100-80GB.
pub fn profiles_table() -> String {
    let headers = [
        "model",
        "precision",
        "GFLOP/item",
        "weights",
        "act/item",
        "compute eff",
        "mem eff",
        "overhead",
        "max batch",
        "A100-80GB items/s @max",
        "A100-80GB batch-1",
        "source",
    ];
    let a100 = builtin_gpu("a100-80gb").expect("a100-80gb is built in");
    let whole = share(&a100, &GpuSharing::None).expect("a whole GPU is always a valid share");
    let rows: Vec<Vec<String>> = builtin_batch_models()
        .iter()
        .map(|m| {
            vec![
                m.name.clone(),
                m.precision.to_string(),
                fmt_num(m.flops_per_item / 1e9),
                fmt_bytes(m.weight_bytes),
                fmt_bytes(m.activation_bytes_per_item),
                fmt_num(m.compute_efficiency),
                fmt_num(m.memory_efficiency),
                format!("{}ms", fmt_num(m.overhead.as_millis_f64())),
                m.max_batch.to_string(),
                format!("{:.0}", m.saturated_throughput(&a100, &whole, m.max_batch)),
                format!(
                    "{}ms",
                    fmt_num(m.batch_latency(&a100, &whole, 1).as_millis_f64())
                ),
                m.source.clone(),
            ]
        })
        .collect();
    render_table(&headers, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(name: &str) -> GpuProfile {
        builtin_gpu(name).unwrap()
    }

    fn whole(g: &GpuProfile) -> Share {
        share(g, &GpuSharing::None).unwrap()
    }

    /// Throughput of `model` on a whole `gpu` at batch `b`.
    fn tput(model: &BatchModel, g: &str, b: u32) -> f64 {
        let g = gpu(g);
        model.saturated_throughput(&g, &whole(&g), b)
    }

    #[test]
    fn calibrated_to_mlperf_offline() {
        // FACTS.md: MLPerf Inference v1.1, DGX-A100 (A100-SXM-80GB), per GPU, Offline.
        let r = builtin_batch_model("resnet50").unwrap();
        let t = tput(&r, "a100-80gb", r.max_batch);
        assert!((t / 39_190.0 - 1.0).abs() < 0.01, "resnet50 {t}");
        let b = builtin_batch_model("bert-large").unwrap();
        let t = tput(&b, "a100-80gb", b.max_batch);
        assert!((t / 3_538.0 - 1.0).abs() < 0.01, "bert-large {t}");
        for m in builtin_batch_models() {
            assert!((0.3..=0.95).contains(&m.compute_efficiency), "{}", m.name);
            assert_eq!(m.memory_efficiency, 0.77);
        }
    }

    #[test]
    fn batch_one_matches_mlperf_single_stream() {
        // MLPerf v1.1 NVIDIA A100-PCIe-80GB SingleStream means: 0.473 ms and 1.471 ms.
        let a = gpu("a100-80gb");
        let s = whole(&a);
        let r = builtin_batch_model("resnet50")
            .unwrap()
            .batch_latency(&a, &s, 1);
        assert!((r.as_millis_f64() - 0.473).abs() < 0.005, "{r}");
        let b = builtin_batch_model("bert-large")
            .unwrap()
            .batch_latency(&a, &s, 1);
        assert!((b.as_millis_f64() - 1.471).abs() < 0.005, "{b}");
    }

    #[test]
    fn throughput_rises_with_batch_and_flattens() {
        for m in builtin_batch_models() {
            let mut last = 0.0;
            let mut b = 1;
            while b <= m.max_batch {
                let t = tput(&m, "a100-80gb", b);
                assert!(t >= last, "{} b={b}: {t} < {last}", m.name);
                last = t;
                b *= 2;
            }
            // Flat at the top: doubling the batch up to max_batch gains under 3%.
            let half = tput(&m, "a100-80gb", m.max_batch / 2);
            let full = tput(&m, "a100-80gb", m.max_batch);
            assert!(full / half < 1.03, "{}: {half} -> {full}", m.name);
            // ...but batching matters a lot at the bottom.
            assert!(
                tput(&m, "a100-80gb", 64) > 3.0 * tput(&m, "a100-80gb", 1),
                "{}",
                m.name
            );
        }
    }

    #[test]
    fn gpu_ordering_at_batch_64() {
        for m in builtin_batch_models() {
            let [h100, a100, v100, t4] =
                ["h100-80gb", "a100-80gb", "v100-32gb", "t4"].map(|g| tput(&m, g, 64));
            assert!(
                h100 > a100 && a100 > v100 && v100 > t4,
                "{}: {h100} {a100} {v100} {t4}",
                m.name
            );
            assert!(tput(&m, "h200", 64) >= h100, "{}", m.name);
        }
    }

    #[test]
    fn hopper_and_t4_near_published_results() {
        // MLPerf v3.0 DGX-H100 per GPU: ResNet-50 90,930/s, BERT-99 9,138/s (FP8 on H100, whose
        // FP8 and INT8 peaks are equal). NVIDIA's v1.1 harness expects 6,100/s ResNet-50 on T4.
        let r = builtin_batch_model("resnet50").unwrap();
        let b = builtin_batch_model("bert-large").unwrap();
        let near = |got: f64, want: f64| (got / want - 1.0).abs() < 0.07;
        assert!(near(tput(&r, "h100-80gb", r.max_batch), 90_930.0));
        assert!(near(tput(&b, "h100-80gb", b.max_batch), 9_138.0));
        assert!(near(tput(&r, "t4", 256), 6_100.0));
    }

    #[test]
    fn mig_slice_is_at_least_seven_times_slower() {
        let a = gpu("a100-80gb");
        let full = whole(&a);
        let slice = share(&a, &GpuSharing::Mig("1g.10gb".into())).unwrap();
        for m in builtin_batch_models() {
            for b in [1, 8, 64, 256, m.max_batch] {
                let lf = m.batch_latency(&a, &full, b).nanos() as f64 - m.overhead.nanos() as f64;
                let ls = m.batch_latency(&a, &slice, b).nanos() as f64 - m.overhead.nanos() as f64;
                // Compute-bound: exactly 7x; memory-bound: 8x. The per-batch overhead is a fixed
                // host-side cost and does not scale, so it is taken out (1 ns of rounding slack).
                assert!(ls >= 7.0 * lf - 8.0, "{} b={b}: {ls} vs {lf}", m.name);
                assert!(ls <= 8.0 * lf + 8.0, "{} b={b}: {ls} vs {lf}", m.name);
            }
            let b = m.max_batch;
            let ratio = m.batch_latency(&a, &slice, b).as_secs_f64()
                / m.batch_latency(&a, &full, b).as_secs_f64();
            assert!(ratio > 6.8, "{}: {ratio}", m.name);
        }
    }

    #[test]
    fn time_slicing_divides_the_gpu() {
        let a = gpu("a100-80gb");
        let quarter = share(&a, &GpuSharing::TimeSlicing(4)).unwrap();
        let m = builtin_batch_model("resnet50").unwrap();
        let t_full = m.saturated_throughput(&a, &whole(&a), 1024);
        let t_q = m.saturated_throughput(&a, &quarter, 1024);
        assert!(
            (4.0 * t_q / t_full - 1.0).abs() < 0.05,
            "{t_q} x 4 vs {t_full}"
        );
    }

    #[test]
    fn never_faster_than_physics() {
        for m in builtin_batch_models() {
            for g in builtin_gpus_all() {
                for sharing in [GpuSharing::None, GpuSharing::TimeSlicing(3)] {
                    let s = share(&g, &sharing).unwrap();
                    for b in [1, 2, 7, 64, 1000] {
                        let secs = m.batch_latency(&g, &s, b).as_secs_f64();
                        let peak = m.precision.peak_ops(&g) * s.compute_fraction;
                        let bw = g.bandwidth_bytes_per_s * s.bandwidth_fraction;
                        assert!(
                            secs >= f64::from(b) * m.flops_per_item / peak,
                            "{} on {}",
                            m.name,
                            g.name
                        );
                        assert!(secs >= m.weight_bytes / bw, "{} on {}", m.name, g.name);
                    }
                }
            }
        }
    }

    fn builtin_gpus_all() -> Vec<GpuProfile> {
        crate::hardware::builtin_gpus()
    }

    #[test]
    fn precision_peaks() {
        let h = gpu("h100-80gb");
        let a = gpu("a100-80gb");
        assert_eq!(Precision::Fp8.peak_ops(&h), 1979e12);
        assert_eq!(
            Precision::Fp8.peak_ops(&a),
            312e12,
            "no FP8 on A100: FP16 rate"
        );
        assert_eq!(Precision::Int8.peak_ops(&a), 624e12);
        assert_eq!(Precision::Fp16.peak_ops(&gpu("t4")), 65e12);
        assert_eq!(
            BatchModel {
                overhead: SimTime(5),
                ..resnet50()
            }
            .batch_latency(&a, &whole(&a), 0),
            SimTime::ZERO
        );
    }

    fn gpus() -> Vec<GpuProfile> {
        crate::hardware::builtin_gpus()
    }

    fn spec(yaml: &str) -> BatchLatencySpec {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn ms(v: f64) -> SimTime {
        SimTime::from_secs_f64(v * 1e-3)
    }

    #[test]
    fn table_interpolates_and_extrapolates() {
        let c = spec("{gpu: a100-80gb, points: [[1, 1.2ms], [8, 3.1ms], [32, 9ms]]}")
            .curve(&gpus())
            .unwrap();
        let a = gpu("a100-80gb");
        let s = whole(&a);
        assert_eq!(c.latency(&a, &s, 1, &gpus()), ms(1.2));
        assert_eq!(c.latency(&a, &s, 8, &gpus()), ms(3.1));
        assert_eq!(c.latency(&a, &s, 32, &gpus()), ms(9.0));
        // Between 8 and 32: 3.1 + 12 x (5.9 / 24).
        assert_eq!(c.latency(&a, &s, 20, &gpus()), ms(3.1 + 12.0 * 5.9 / 24.0));
        // Between 1 and 8.
        assert_eq!(c.latency(&a, &s, 4, &gpus()), ms(1.2 + 3.0 * 1.9 / 7.0));
        // Beyond 32, along the 8..32 line.
        assert_eq!(c.latency(&a, &s, 64, &gpus()), ms(9.0 + 32.0 * 5.9 / 24.0));
        assert_eq!(c.latency(&a, &s, 0, &gpus()), SimTime::ZERO);
        assert_eq!(c.max_batch(), 32);
        // Another GPU: scaled by sustained FP16 compute (default precision): 312 vs 65 x 0.74.
        let t4 = gpu("t4");
        let scale = 312.0 / (65.0 * 0.74);
        let got = c.latency(&t4, &whole(&t4), 8, &gpus()).as_secs_f64();
        assert!((got / (3.1e-3 * scale) - 1.0).abs() < 1e-6, "{got}");
        // A MIG slice: divided by its compute fraction.
        let slice = share(&a, &GpuSharing::Mig("2g.20gb".into())).unwrap();
        let got = c.latency(&a, &slice, 8, &gpus()).as_secs_f64();
        assert!((got / (3.1e-3 * 3.5) - 1.0).abs() < 1e-6, "{got}");
    }

    #[test]
    fn table_on_a_scenario_gpu() {
        // The reference GPU may be one defined under `gpus`: it is found in the list given.
        let mut list = gpus();
        let mut half = gpu("a100-80gb");
        half.name = "a100-half".into();
        half.fp16_tflops = 156.0;
        list.push(half);
        let c = spec("{gpu: a100-half, points: [[1, 2ms]]}")
            .curve(&list)
            .unwrap();
        let a = gpu("a100-80gb");
        assert_eq!(c.latency(&a, &whole(&a), 1, &list), ms(1.0));
        assert!(
            spec("{gpu: a100-half, points: [[1, 2ms]]}")
                .curve(&gpus())
                .is_err()
        );
        // A reference missing at run time (never after curve()): used unscaled.
        assert_eq!(c.latency(&a, &whole(&a), 1, &[]), ms(2.0));
    }

    #[test]
    fn table_edges() {
        let c = spec("{gpu: t4, precision: int8, points: [[4, 2ms]]}")
            .curve(&gpus())
            .unwrap();
        let t4 = gpu("t4");
        let s = whole(&t4);
        assert_eq!(
            c.latency(&t4, &s, 1, &gpus()),
            ms(2.0),
            "below the first point: its latency"
        );
        assert_eq!(
            c.latency(&t4, &s, 8, &gpus()),
            ms(4.0),
            "one point: proportional beyond it"
        );
        let c = spec("{gpu: t4, points: [[2, 2ms], [4, 2ms]]}")
            .curve(&gpus())
            .unwrap();
        assert_eq!(c.latency(&t4, &s, 100, &gpus()), ms(2.0), "flat stays flat");
    }

    #[test]
    fn table_validation() {
        let e = |y: &str| spec(y).curve(&gpus()).unwrap_err();
        let msg = e("{gpu: a100-80gb, points: [[8, 3ms], [1, 1ms]]}");
        assert!(
            msg.contains("sorted by batch size") && msg.contains("points[1]"),
            "{msg}"
        );
        let msg = e("{gpu: a100-80gb, points: [[1, 3ms], [1, 4ms]]}");
        assert!(msg.contains("without repeats"), "{msg}");
        let msg = e("{gpu: a100-80gb, points: [[0, 3ms]]}");
        assert!(msg.contains("at least 1"), "{msg}");
        let msg = e("{gpu: a100-80gb, points: [[1, 0ms]]}");
        assert!(msg.contains("latency must be positive"), "{msg}");
        let msg = e("{gpu: a100-80gb, points: [[1, 3ms], [2, 2ms]]}");
        assert!(msg.contains("must not decrease"), "{msg}");
        let msg = e("{gpu: a100-80gb, points: []}");
        assert!(msg.contains("empty"), "{msg}");
        let msg = e("{gpu: tpu-v5, points: [[1, 1ms]]}");
        assert!(
            msg.contains("not a known GPU") && msg.contains("a100-80gb"),
            "{msg}"
        );
        let msg = e("{points: [[1, 1ms]]}");
        assert!(msg.contains("needs `gpu`"), "{msg}");
        let msg = e("{gpu: t4}");
        assert!(msg.contains("needs `points`"), "{msg}");
        let msg = e("{gpu: t4, points: [[1, 1ms]], flops_per_item: 1e9}");
        assert!(
            msg.contains("not both") && msg.contains("flops_per_item"),
            "{msg}"
        );
        assert!(msg.starts_with("give either"), "{msg}");
        // check() sees the shape without the GPU list.
        assert!(spec("{gpu: tpu-v5, points: [[1, 1ms]]}").check().is_ok());
        assert!(
            spec("{gpu: t4, points: [[2, 1ms], [1, 1ms]]}")
                .check()
                .is_err()
        );
        assert!(serde_saphyr::from_str::<BatchLatencySpec>("{gpu: t4, points: [[1, 5]]}").is_err());
        assert!(serde_saphyr::from_str::<BatchLatencySpec>("{gpu: t4, pionts: []}").is_err());
    }

    #[test]
    fn user_roofline() {
        let c = spec(
            "{flops_per_item: 8.18e9, weights: 25.6MB, activations_per_item: 22.77MB, \
             precision: int8, compute_efficiency: 0.518, overhead: 442us, max_batch: 2048}",
        )
        .curve(&gpus())
        .unwrap();
        let BatchCurve::Roofline(m) = &c else {
            panic!("expected a roofline")
        };
        let builtin = resnet50();
        assert_eq!(m.name, "user-defined");
        assert_eq!(m.memory_efficiency, 0.77, "default");
        let a = gpu("a100-80gb");
        assert_eq!(
            c.latency(&a, &whole(&a), 100, &gpus()),
            builtin.batch_latency(&a, &whole(&a), 100)
        );

        let d = spec("{flops_per_item: 1e9, weights: 1GB, activations_per_item: 0}")
            .curve(&gpus())
            .unwrap();
        let BatchCurve::Roofline(d) = d else { panic!() };
        assert_eq!(
            (d.precision, d.compute_efficiency, d.overhead, d.max_batch),
            (Precision::Fp16, 0.6, SimTime::ZERO, 64)
        );
    }

    #[test]
    fn user_roofline_validation() {
        let e = |y: &str| spec(y).curve(&gpus()).unwrap_err();
        let msg = e("{precision: int8}");
        assert!(msg.contains("give either the roofline fields"), "{msg}");
        let msg = e("{flops_per_item: 1e9}");
        assert!(
            msg.contains("missing: `weights`, `activations_per_item`"),
            "{msg}"
        );
        let msg = e("{flops_per_item: -1, weights: 1GB, activations_per_item: 1MB}");
        assert!(msg.contains("`flops_per_item` must be positive"), "{msg}");
        let msg = e(
            "{flops_per_item: 1e9, weights: 1GB, activations_per_item: 1MB, compute_efficiency: 1.5}",
        );
        assert!(
            msg.contains("`compute_efficiency` must be above 0 and at most 1"),
            "{msg}"
        );
        let msg = e(
            "{flops_per_item: 1e9, weights: 1GB, activations_per_item: 1MB, memory_efficiency: 0}",
        );
        assert!(msg.contains("`memory_efficiency`"), "{msg}");
        let msg = e("{flops_per_item: 1e9, weights: 20TiB, activations_per_item: 1MB}");
        assert!(msg.contains("`weights` must be at most 16TiB"), "{msg}");
        let msg = e("{flops_per_item: 1e9, weights: 1GB, activations_per_item: 1MB, overhead: 2m}");
        assert!(msg.contains("`overhead` must be at most 60s"), "{msg}");
        let msg = e("{flops_per_item: 1e9, weights: 1GB, activations_per_item: 1MB, max_batch: 0}");
        assert!(msg.contains("`max_batch`"), "{msg}");
    }

    #[test]
    fn table_lists_models() {
        let t = profiles_table();
        assert!(t.contains("resnet50") && t.contains("bert-large"), "{t}");
        assert!(t.contains("0.473ms") && t.contains("1.47ms"), "{t}");
    }
}

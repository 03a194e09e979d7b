//! GPU hardware profiles: the built-in datasheet figures, user-defined GPUs from a scenario's
//! `gpus:` list, and how a GPU is shared between pods (`gpu_sharing`: whole, MIG, time slicing).
//!
//! Units inside the simulator are plain SI: FLOP/s-style rates are kept as the datasheet's
//! TFLOPS/TOPS figures (multiply by 1e12 where used), sizes in bytes and bandwidths in bytes per
//! second. Device memory is what the driver reports (`nvidia-smi`'s total, in MiB), not the
//! datasheet's rounded decimal gigabytes: an "80 GB" A100 has 80 GiB, 7% more than 80 x 10^9
//! bytes, and an "80 GB" H100 79.6 GiB.

mod spec;
mod table;

pub use spec::{Bandwidth, GpuSpec, parse_bandwidth};
pub(crate) use table::{fmt_bytes, fmt_num, render_table};

use serde::Deserialize;
use std::fmt;

/// One GPU model's figures, as used by the latency models. (The default, all 0, is only the
/// placeholder of a CPU pool, whose figures nothing reads.)
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GpuProfile {
    /// Profile name, e.g. `a100-80gb`.
    pub name: String,
    /// Dense (no sparsity) FP16/BF16 tensor-core rate, in TFLOPS.
    pub fp16_tflops: f64,
    /// Dense INT8 tensor-core rate, in TOPS. For V100, which has no INT8 tensor cores, this is
    /// its FP16 tensor rate (see the V100 entry in [`builtin_gpus`]).
    pub int8_tops: f64,
    /// Dense FP8 tensor-core rate, in TFLOPS; 0 where the GPU has no FP8 support.
    pub fp8_tflops: f64,
    /// Device memory in bytes: the total the driver reports (`nvidia-smi --query-gpu=memory.total`,
    /// in MiB), which is what the memory budget of a serving engine starts from.
    pub memory_bytes: f64,
    /// Peak device-memory bandwidth in bytes per second.
    pub bandwidth_bytes_per_s: f64,
    /// Board power (TDP) in watts; 0 when unknown (user-defined GPUs that do not give it).
    pub tdp_watts: f64,
    /// Per-GPU interconnect bandwidth in bytes per second: NVLink where the GPU has it, else PCIe.
    pub interconnect_bytes_per_s: f64,
    /// The fraction of its datasheet peak compute this GPU sustains under continuous tensor load,
    /// relative to the A100 on which the models' efficiencies are calibrated (A100 = 1). Below 1
    /// for parts that measured benchmarks show fall short of peak-ratio scaling: power-capped
    /// (T4 at 70 W cannot hold its boost clock) or newer parts whose software reaches a smaller
    /// share of a much higher peak (H100). The effective compute rate of a model on this GPU is
    /// `peak x sustained_compute_fraction x model efficiency`.
    pub sustained_compute_fraction: f64,
    /// The same fraction for an LLM's weight matrix multiplies (thousands of rows of FP16, BF16,
    /// INT8 or FP8 GEMMs through cuBLAS), relative to the A100. It differs from
    /// `sustained_compute_fraction` where measurements differ: Vidur's operator profiles show
    /// the H100 running Llama-2's GEMMs at the same share of its own peak as the A100 does,
    /// whereas MLPerf's convolution and BERT results fall short of it (see [`builtin_gpus`]).
    pub llm_compute_fraction: f64,
    /// The MIG profiles the GPU offers; empty where it has no MIG.
    pub mig: Vec<MigProfile>,
    /// Where the figures come from.
    pub source: String,
}

/// One Multi-Instance GPU profile, such as `1g.10gb`.
#[derive(Clone, Debug, PartialEq)]
pub struct MigProfile {
    /// The profile's name as `nvidia-smi mig -lgip` prints it, e.g. `1g.10gb`.
    pub name: String,
    /// Share of the GPU's compute: the number of compute slices out of 7.
    pub compute_fraction: f64,
    /// Share of the GPU's memory, and of its memory bandwidth: memory slices out of 8.
    pub memory_fraction: f64,
    /// How many instances of this profile fit on one GPU.
    pub max_instances: u32,
}

impl GpuProfile {
    /// The MIG profile named `name`, if this GPU offers it.
    pub fn mig_profile(&self, name: &str) -> Option<&MigProfile> {
        self.mig.iter().find(|m| m.name == name)
    }

    /// The names of the GPU's MIG profiles, comma-separated (`none` if it has no MIG).
    pub fn mig_names(&self) -> String {
        if self.mig.is_empty() {
            "none".to_string()
        } else {
            self.mig
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    }
}

/// Decimal gigabyte, the unit of the datasheets' bandwidths.
const GB: f64 = 1e9;

/// Mebibyte, the unit in which `nvidia-smi` reports device memory.
const MIB: f64 = 1024.0 * 1024.0;

/// The MIG geometry shared by A100, H100 and H200 (NVIDIA MIG User Guide, "Supported MIG
/// Profiles"): 7 compute slices and 8 memory slices per GPU. Each entry is
/// (compute slices, memory slices, max instances); the names differ only in the memory size.
const MIG_GEOMETRY: [(u32, u32, u32); 5] = [(1, 1, 7), (2, 2, 3), (3, 4, 2), (4, 4, 1), (7, 8, 1)];

/// Builds the five standard MIG profiles from the memory sizes (in GB, as in the profile names)
/// that go with 1g, 2g, 3g, 4g and 7g.
fn mig_profiles(mem_gb: [u32; 5]) -> Vec<MigProfile> {
    MIG_GEOMETRY
        .iter()
        .zip(mem_gb)
        .map(|(&(g, mem_slices, max), gb)| MigProfile {
            name: format!("{g}g.{gb}gb"),
            compute_fraction: f64::from(g) / 7.0,
            memory_fraction: f64::from(mem_slices) / 8.0,
            max_instances: max,
        })
        .collect()
}

/// The built-in GPU profiles.
///
/// Figures are the NVIDIA datasheets' (as collected in the project's FACTS.md); every rate is
/// the dense figure, i.e. half the "with sparsity" number the datasheets print first.
/// MIG compute fractions are slice counts out of 7 as the MIG User Guide states them; the real
/// instances get slightly less (on A100 a 1g slice has 14 of the 108 SMs, 7g has 98), which is
/// within the accuracy of these models. `sustained_compute_fraction` is the one figure that is
/// not from a datasheet: it comes from MLPerf results, as the comments below say.
pub fn builtin_gpus() -> Vec<GpuProfile> {
    const A100_SRC: &str = "NVIDIA A100 Tensor Core GPU datasheet (SXM4); NVIDIA MIG User Guide";
    const V100_SRC: &str = "NVIDIA Tesla V100 datasheet (SXM2)";
    const H100_SRC: &str = "NVIDIA H100 Tensor Core GPU datasheet (SXM5); NVIDIA MIG User Guide";
    const H200_SRC: &str = "NVIDIA H200 Tensor Core GPU datasheet (SXM); NVIDIA MIG User Guide";
    // V100 has no INT8 tensor cores: its INT8 path is DP4A on the CUDA cores (4 x 15.7 FP32
    // TFLOPS = 62.8 TOPS, V100 SXM2 datasheet), slower than its FP16 tensor cores, so TensorRT
    // runs "INT8" networks on V100 mostly with FP16 tensor-core kernels. The effective INT8 rate
    // is therefore the FP16 tensor rate, 125 TFLOPS.
    // T4: NVIDIA's MLPerf Inference v1.1 closed harness expects 6,100 ResNet-50 samples/s
    // offline from one T4 (configs/resnet50/Offline, T4x1 `offline_expected_qps`), against
    // 39,190 x 130/624 = 8,165 if it scaled with peak INT8 from the A100: it sustains ~74%,
    // consistent with its 70 W cap keeping the clock below the 1,590 MHz boost the peak assumes.
    const T4_SUSTAINED: f64 = 0.74;
    // H100 SXM: MLPerf Inference v3.0 closed, NVIDIA DGX-H100 (8x H100-SXM-80GB), offline per GPU:
    // ResNet-50 727,437/8 = 90,930 samples/s and BERT-99 73,107.6/8 = 9,138 samples/s, i.e. 2.32x
    // and 2.58x the A100, not the 3.17x of peak INT8. 0.78 puts the calibrated ResNet-50 and
    // BERT-large models within about 5% of both. H200 has the same compute die and power (H200
    // datasheet), so it gets the same figure; its extra bandwidth still counts where memory binds.
    const HOPPER_SUSTAINED: f64 = 0.78;
    // LLM GEMMs on H100: Vidur's profiles (microsoft/vidur, data/profiling/compute/{a100,h100}/
    // meta-llama/Llama-2-{7b,70b}-hf/mlp.csv, tensor parallel 1) time the four weight matrix
    // multiplies of a layer at 2,048 and 4,096 tokens. Llama-2-7B reaches 78% and 75% of the
    // H100's 989 TFLOPS (70% and 72% of the A100's 312), Llama-2-70B 71% and 69% (77% and 76%
    // on A100): the same share of each GPU's own peak, so 1 relative to the A100, where the
    // MLPerf CNN and BERT results above give 0.78. H200 has the same die.
    const HOPPER_LLM: f64 = 1.0;
    let v100 = |name: &str, mem_mib: f64| GpuProfile {
        name: name.to_string(),
        fp16_tflops: 125.0, // V100 SXM2 datasheet: 125 tensor TFLOPS
        int8_tops: 125.0,   // = FP16 tensor rate, see above
        fp8_tflops: 0.0,
        memory_bytes: mem_mib * MIB,          // see the calls below
        bandwidth_bytes_per_s: 900.0 * GB,    // V100 SXM2 datasheet: 900 GB/s
        tdp_watts: 300.0,                     // V100 SXM2 datasheet: 300 W
        interconnect_bytes_per_s: 300.0 * GB, // V100 SXM2 datasheet: NVLink 300 GB/s
        sustained_compute_fraction: 1.0,      // no same-harness benchmark found; assumed as A100
        llm_compute_fraction: 1.0,            // likewise assumed
        mig: Vec::new(),                      // MIG arrived with Ampere
        source: V100_SRC.to_string(),
    };
    vec![
        GpuProfile {
            name: "a100-40gb".to_string(),
            fp16_tflops: 312.0, // A100 datasheet: 312 TFLOPS FP16/BF16 tensor (624 sparse)
            int8_tops: 624.0,   // A100 datasheet: 624 TOPS INT8 tensor (1,248 sparse)
            fp8_tflops: 0.0,    // no FP8 before Hopper
            // nvidia-smi total on A100-SXM4-40GB: 40,960 MiB (modal-labs/modal-client#2797);
            // CUDA itself reports 40,339 MiB there (deviceQuery, driver 12.2,
            // bottlerocket-os/bottlerocket#3873): the driver keeps the rest.
            memory_bytes: 40_960.0 * MIB,
            bandwidth_bytes_per_s: 1555.0 * GB, // A100 40GB SXM datasheet: 1,555 GB/s
            tdp_watts: 400.0,                   // A100 SXM datasheet: 400 W
            interconnect_bytes_per_s: 600.0 * GB, // A100 datasheet: NVLink 600 GB/s
            sustained_compute_fraction: 1.0,    // the calibration reference
            llm_compute_fraction: 1.0,          // the calibration reference
            mig: mig_profiles([5, 10, 20, 20, 40]), // MIG User Guide: 1g.5gb ... 7g.40gb
            source: A100_SRC.to_string(),
        },
        GpuProfile {
            name: "a100-80gb".to_string(),
            fp16_tflops: 312.0, // A100 datasheet: 312 TFLOPS FP16/BF16 tensor
            int8_tops: 624.0,   // A100 datasheet: 624 TOPS INT8 tensor
            fp8_tflops: 0.0,
            // nvidia-smi total on A100-SXM4-80GB: 81,920 MiB = 80 GiB (modal-labs/modal-client#2797;
            // the same on A800 80GB, vllm-project/vllm#41519); CUDA reports 81,049 MiB on the
            // 80GB PCIe part (ekondis/mixbench#47).
            memory_bytes: 81_920.0 * MIB,
            bandwidth_bytes_per_s: 2039.0 * GB, // A100 80GB SXM datasheet: 2,039 GB/s
            tdp_watts: 400.0,                   // A100 SXM datasheet: 400 W
            interconnect_bytes_per_s: 600.0 * GB, // A100 datasheet: NVLink 600 GB/s
            sustained_compute_fraction: 1.0,    // the calibration reference
            llm_compute_fraction: 1.0,          // the calibration reference
            mig: mig_profiles([10, 20, 40, 40, 80]), // MIG User Guide: 1g.10gb ... 7g.80gb
            source: A100_SRC.to_string(),
        },
        // nvidia-smi on Tesla V100-SXM2-16GB: 16,160 MiB (driver 440.64,
        // 4paradigm/k8s-vgpu-scheduler#7; PyTorch's total_memory prints the same 16160MB).
        v100("v100-16gb", 16_160.0),
        // nvidia-smi on Tesla V100-SXM2-32GB: 32,768 MiB (driver 525.105.17, Wan-Video/Wan2.1#5;
        // driver 418 printed 32,480 MiB, godweiyang/GrabGPU#5).
        v100("v100-32gb", 32_768.0),
        GpuProfile {
            name: "t4".to_string(),
            fp16_tflops: 65.0, // T4 datasheet: 65 TFLOPS mixed precision (FP16/FP32)
            int8_tops: 130.0,  // T4 datasheet: 130 INT8 TOPS
            fp8_tflops: 0.0,
            // nvidia-smi total on Tesla T4: 15,360 MiB (modal-labs/modal-client#2797): the 16 GiB of
            // GDDR6 less the sixteenth ECC takes; CUDA reports 14.75 GiB of it
            // (hpcaitech/Open-Sora#697). Older drivers printed 15,109 MiB.
            memory_bytes: 15_360.0 * MIB,
            bandwidth_bytes_per_s: 320.0 * GB, // T4 datasheet: 320+ GB/s
            tdp_watts: 70.0,                   // T4 datasheet: 70 W
            interconnect_bytes_per_s: 32.0 * GB, // T4 datasheet: PCIe Gen3 x16, 32 GB/s
            sustained_compute_fraction: T4_SUSTAINED,
            llm_compute_fraction: T4_SUSTAINED, // the power cap slows every kernel
            mig: Vec::new(),                    // Turing has no MIG
            source: "NVIDIA T4 Tensor Core GPU datasheet".to_string(),
        },
        GpuProfile {
            name: "h100-80gb".to_string(),
            // H100 SXM datasheet: 1,979 TFLOPS FP16/BF16 with sparsity, i.e. 989.5 dense;
            // FACTS.md rounds it to 989.
            fp16_tflops: 989.0,
            int8_tops: 1979.0,  // H100 SXM datasheet: 3,958 TOPS INT8 with sparsity
            fp8_tflops: 1979.0, // H100 SXM datasheet: 3,958 TFLOPS FP8 with sparsity
            // nvidia-smi total on H100 80GB HBM3: 81,559 MiB = 79.6 GiB
            // (modal-labs/modal-client#2797, vllm-project/vllm#55169 with driver 580.105.08);
            // CUDA reports 79.11 GiB of it (vllm-project/vllm#27508).
            memory_bytes: 81_559.0 * MIB,
            bandwidth_bytes_per_s: 3350.0 * GB, // H100 SXM datasheet: 3.35 TB/s
            tdp_watts: 700.0,                   // H100 SXM datasheet: up to 700 W
            interconnect_bytes_per_s: 900.0 * GB, // H100 SXM datasheet: NVLink 900 GB/s
            sustained_compute_fraction: HOPPER_SUSTAINED,
            llm_compute_fraction: HOPPER_LLM,
            mig: mig_profiles([10, 20, 40, 40, 80]), // datasheet: up to 7 MIGs @ 10 GB
            source: H100_SRC.to_string(),
        },
        GpuProfile {
            name: "h200".to_string(),
            fp16_tflops: 989.0, // H200 SXM datasheet: same compute as H100 SXM
            int8_tops: 1979.0,  // H200 SXM datasheet: 3,958 TOPS INT8 with sparsity
            fp8_tflops: 1979.0, // H200 SXM datasheet: 3,958 TFLOPS FP8 with sparsity
            // nvidia-smi total on H200: 143,771 MiB = 140.4 GiB (driver 550.144.03,
            // sgl-project/sglang#3196).
            memory_bytes: 143_771.0 * MIB,
            bandwidth_bytes_per_s: 4800.0 * GB, // H200 SXM datasheet: 4.8 TB/s
            tdp_watts: 700.0,                   // H200 SXM datasheet: up to 700 W
            interconnect_bytes_per_s: 900.0 * GB, // H200 SXM datasheet: NVLink 900 GB/s
            sustained_compute_fraction: HOPPER_SUSTAINED,
            llm_compute_fraction: HOPPER_LLM,
            mig: mig_profiles([18, 35, 71, 71, 141]), // datasheet: up to 7 MIGs @ 18 GB
            source: H200_SRC.to_string(),
        },
    ]
}

/// The built-in GPU profile named `name`, if there is one.
pub fn builtin_gpu(name: &str) -> Option<GpuProfile> {
    builtin_gpus().into_iter().find(|g| g.name == name)
}

/// The names of the built-in GPUs, comma-separated, for error messages.
pub fn builtin_gpu_names() -> String {
    builtin_gpus()
        .iter()
        .map(|g| g.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// How a node pool's GPUs are shared between pods (the scenario's `gpu_sharing`).
///
/// YAML: `gpu_sharing: none`, `gpu_sharing: {mig: 1g.10gb}`, `gpu_sharing: {time_slicing: 4}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum GpuSharing {
    /// Each pod gets a whole GPU.
    #[default]
    None,
    /// The GPU is partitioned into MIG instances of the named profile, all of the same profile.
    Mig(String),
    /// The NVIDIA device plugin's time slicing: the GPU is advertised as this many replicas.
    TimeSlicing(u32),
}

impl fmt::Display for GpuSharing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuSharing::None => write!(f, "none"),
            GpuSharing::Mig(p) => write!(f, "mig {p}"),
            GpuSharing::TimeSlicing(n) => write!(f, "time_slicing {n}"),
        }
    }
}

/// The most replicas time slicing may advertise per GPU: a sanity limit of capsim's, not of the
/// device plugin; beyond it each pod's share is too small to model meaningfully.
pub const MAX_TIME_SLICES: u32 = 64;

/// What one schedulable unit (one `nvidia.com/gpu` as pods see it) of a shared GPU gets.
#[derive(Clone, Debug, PartialEq)]
pub struct Share {
    /// How many schedulable units one physical GPU provides.
    pub units_per_gpu: u32,
    /// The unit's fraction of the GPU's tensor compute.
    pub compute_fraction: f64,
    /// The unit's fraction of the GPU's memory bandwidth.
    pub bandwidth_fraction: f64,
    /// Device memory the unit can use, in bytes.
    pub memory_bytes: f64,
    /// A short description for reports, e.g. `mig 1g.10gb`.
    pub label: String,
}

/// What each unit of `gpu` gets under `sharing`.
///
/// - `none`: one unit, the whole GPU.
/// - `mig p`: `p.max_instances` units, each with `p`'s compute and memory fractions; memory
///   bandwidth follows the memory slices (a 1g slice owns 1 of the 8 memory slices).
/// - `time_slicing n` (1..=64): `n` units, each with 1/n of the compute and bandwidth and the
///   whole memory. This is the worst case, when all n pods are busy at once; an idle neighbour
///   leaves its time to the others. Time slicing in the NVIDIA device plugin gives no memory
///   isolation: every pod sees (and may exhaust) the whole memory.
pub fn share(gpu: &GpuProfile, sharing: &GpuSharing) -> Result<Share, String> {
    match sharing {
        GpuSharing::None => Ok(Share {
            units_per_gpu: 1,
            compute_fraction: 1.0,
            bandwidth_fraction: 1.0,
            memory_bytes: gpu.memory_bytes,
            label: "whole GPU".to_string(),
        }),
        GpuSharing::Mig(p) => {
            if gpu.mig.is_empty() {
                return Err(format!(
                    "gpu_sharing: {} does not support MIG (MIG needs an A100, H100 or H200 class \
                     GPU); use `time_slicing` to share it",
                    gpu.name
                ));
            }
            let Some(m) = gpu.mig_profile(p) else {
                return Err(format!(
                    "gpu_sharing: {} has no MIG profile `{p}`; its MIG profiles are: {}",
                    gpu.name,
                    gpu.mig_names()
                ));
            };
            Ok(Share {
                units_per_gpu: m.max_instances,
                compute_fraction: m.compute_fraction,
                bandwidth_fraction: m.memory_fraction,
                memory_bytes: gpu.memory_bytes * m.memory_fraction,
                label: format!("mig {}", m.name),
            })
        }
        GpuSharing::TimeSlicing(n) => {
            if *n == 0 || *n > MAX_TIME_SLICES {
                return Err(format!(
                    "gpu_sharing: time_slicing must be between 1 and {MAX_TIME_SLICES}, found {n}"
                ));
            }
            let f = 1.0 / f64::from(*n);
            Ok(Share {
                units_per_gpu: *n,
                compute_fraction: f,
                bandwidth_fraction: f,
                memory_bytes: gpu.memory_bytes,
                label: format!("time-sliced 1/{n}"),
            })
        }
    }
}

/// The built-in GPUs as an aligned text table, for `capsim profiles`.
pub fn profiles_table() -> String {
    let headers = [
        "gpu",
        "FP16 TFLOPS",
        "INT8 TOPS",
        "FP8 TFLOPS",
        "memory",
        "bandwidth GB/s",
        "TDP W",
        "interconnect GB/s",
        "MIG profiles",
        "source",
    ];
    let rows: Vec<Vec<String>> = builtin_gpus()
        .iter()
        .map(|g| {
            vec![
                g.name.clone(),
                fmt_num(g.fp16_tflops),
                fmt_num(g.int8_tops),
                if g.fp8_tflops > 0.0 {
                    fmt_num(g.fp8_tflops)
                } else {
                    "-".to_string()
                },
                format!(
                    "{}MiB ({}GiB)",
                    fmt_num(g.memory_bytes / MIB),
                    fmt_num(g.memory_bytes / (1u64 << 30) as f64)
                ),
                fmt_num(g.bandwidth_bytes_per_s / GB),
                fmt_num(g.tdp_watts),
                fmt_num(g.interconnect_bytes_per_s / GB),
                if g.mig.is_empty() {
                    "-".to_string()
                } else {
                    g.mig
                        .iter()
                        .map(|m| m.name.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                },
                g.source.clone(),
            ]
        })
        .collect();
    render_table(&headers, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (name, FP16 TFLOPS, datasheet memory GB, bandwidth GB/s, TDP W), literally from FACTS.md's
    /// table. The datasheet's memory is only checked to round to the driver's (see below).
    const FACTS: [(&str, f64, f64, f64, f64); 7] = [
        ("a100-40gb", 312.0, 40.0, 1555.0, 400.0),
        ("a100-80gb", 312.0, 80.0, 2039.0, 400.0),
        ("v100-16gb", 125.0, 16.0, 900.0, 300.0),
        ("v100-32gb", 125.0, 32.0, 900.0, 300.0),
        ("t4", 65.0, 16.0, 320.0, 70.0),
        ("h100-80gb", 989.0, 80.0, 3350.0, 700.0),
        ("h200", 989.0, 141.0, 4800.0, 700.0),
    ];

    /// Device memory in bytes for `mib` MiB as nvidia-smi prints it.
    fn mib(mib: u64) -> f64 {
        (mib << 20) as f64
    }

    #[test]
    fn a100_40gb_memory_is_nvidia_smis_40960_mib() {
        // modal-labs/modal-client#2797: nvidia-smi total on A100 40GB.
        assert_eq!(builtin_gpu("a100-40gb").unwrap().memory_bytes, mib(40_960));
    }

    #[test]
    fn a100_80gb_memory_is_nvidia_smis_81920_mib() {
        // modal-labs/modal-client#2797: exactly 80 GiB.
        let m = builtin_gpu("a100-80gb").unwrap().memory_bytes;
        assert_eq!(m, mib(81_920));
        assert_eq!(m, 80.0 * (1u64 << 30) as f64);
    }

    #[test]
    fn v100_16gb_memory_is_nvidia_smis_16160_mib() {
        // 4paradigm/k8s-vgpu-scheduler#7 (driver 440.64).
        assert_eq!(builtin_gpu("v100-16gb").unwrap().memory_bytes, mib(16_160));
    }

    #[test]
    fn v100_32gb_memory_is_nvidia_smis_32768_mib() {
        // Wan-Video/Wan2.1#5 (driver 525.105.17).
        assert_eq!(builtin_gpu("v100-32gb").unwrap().memory_bytes, mib(32_768));
    }

    #[test]
    fn t4_memory_is_nvidia_smis_15360_mib() {
        // modal-labs/modal-client#2797: 16 GiB less the ECC sixteenth.
        let m = builtin_gpu("t4").unwrap().memory_bytes;
        assert_eq!(m, mib(15_360));
        assert_eq!(m, mib(16 * 1024) * 15.0 / 16.0);
    }

    #[test]
    fn h100_80gb_memory_is_nvidia_smis_81559_mib() {
        // modal-labs/modal-client#2797 and vllm-project/vllm#55169.
        assert_eq!(builtin_gpu("h100-80gb").unwrap().memory_bytes, mib(81_559));
    }

    #[test]
    fn h200_memory_is_nvidia_smis_143771_mib() {
        // sgl-project/sglang#3196 (driver 550.144.03).
        assert_eq!(builtin_gpu("h200").unwrap().memory_bytes, mib(143_771));
    }

    #[test]
    fn builtins_match_facts() {
        let all = builtin_gpus();
        assert_eq!(all.len(), FACTS.len());
        for (name, tflops, mem_gb, bw_gbs, tdp) in FACTS {
            let g = builtin_gpu(name).unwrap_or_else(|| panic!("missing {name}"));
            assert_eq!(g.fp16_tflops, tflops, "{name} fp16");
            // The datasheet's figure is the driver's, rounded: within 6% in GB or GiB (the T4's
            // ECC takes 1/16; the H200's 141 GB is 140.4 GiB).
            let gib = g.memory_bytes / (1u64 << 30) as f64;
            let near = |x: f64| (x / mem_gb - 1.0).abs() < 0.07;
            assert!(
                near(gib) || near(g.memory_bytes / 1e9),
                "{name} memory {gib} GiB"
            );
            assert_eq!(g.bandwidth_bytes_per_s, bw_gbs * 1e9, "{name} bandwidth");
            assert_eq!(g.tdp_watts, tdp, "{name} tdp");
            assert!(!g.source.is_empty());
        }
        // FACTS.md: T4 INT8 130 TOPS; the datasheet INT8 / FP8 / interconnect figures.
        assert_eq!(builtin_gpu("t4").unwrap().int8_tops, 130.0);
        assert_eq!(builtin_gpu("t4").unwrap().interconnect_bytes_per_s, 32e9);
        assert_eq!(builtin_gpu("a100-80gb").unwrap().int8_tops, 624.0);
        assert_eq!(
            builtin_gpu("a100-40gb").unwrap().interconnect_bytes_per_s,
            600e9
        );
        assert_eq!(builtin_gpu("h100-80gb").unwrap().fp8_tflops, 1979.0);
        assert_eq!(builtin_gpu("h200").unwrap().int8_tops, 1979.0);
        assert_eq!(builtin_gpu("h200").unwrap().interconnect_bytes_per_s, 900e9);
        assert_eq!(builtin_gpu("v100-16gb").unwrap().int8_tops, 125.0);
        assert_eq!(
            builtin_gpu("v100-32gb").unwrap().interconnect_bytes_per_s,
            300e9
        );
        assert_eq!(builtin_gpu("a100-80gb").unwrap().fp8_tflops, 0.0);
        assert!(builtin_gpu("b200").is_none());
    }

    #[test]
    fn mig_profiles_per_facts() {
        let a40 = builtin_gpu("a100-40gb").unwrap();
        assert_eq!(
            a40.mig_names(),
            "1g.5gb, 2g.10gb, 3g.20gb, 4g.20gb, 7g.40gb"
        );
        // FACTS.md: 1g.5gb (1/7, 1/8, 7), 2g.10gb (2/7, 2/8, 3), 3g.20gb (3/7, 4/8, 2),
        // 4g.20gb (4/7, 4/8, 1), 7g.40gb (whole GPU).
        let expect = [
            ("1g.5gb", 1.0 / 7.0, 1.0 / 8.0, 7),
            ("2g.10gb", 2.0 / 7.0, 2.0 / 8.0, 3),
            ("3g.20gb", 3.0 / 7.0, 4.0 / 8.0, 2),
            ("4g.20gb", 4.0 / 7.0, 4.0 / 8.0, 1),
            ("7g.40gb", 1.0, 1.0, 1),
        ];
        for (name, c, m, n) in expect {
            let p = a40.mig_profile(name).unwrap();
            assert!((p.compute_fraction - c).abs() < 1e-12, "{name}");
            assert!((p.memory_fraction - m).abs() < 1e-12, "{name}");
            assert_eq!(p.max_instances, n, "{name}");
        }
        assert_eq!(
            builtin_gpu("a100-80gb").unwrap().mig_names(),
            "1g.10gb, 2g.20gb, 3g.40gb, 4g.40gb, 7g.80gb"
        );
        assert_eq!(
            builtin_gpu("h100-80gb").unwrap().mig_names(),
            "1g.10gb, 2g.20gb, 3g.40gb, 4g.40gb, 7g.80gb"
        );
        assert_eq!(
            builtin_gpu("h200").unwrap().mig_names(),
            "1g.18gb, 2g.35gb, 3g.71gb, 4g.71gb, 7g.141gb"
        );
        assert!(builtin_gpu("t4").unwrap().mig.is_empty());
        assert!(builtin_gpu("v100-32gb").unwrap().mig.is_empty());
    }

    #[test]
    fn share_whole_mig_and_time_slicing() {
        let a = builtin_gpu("a100-80gb").unwrap();
        let whole = share(&a, &GpuSharing::None).unwrap();
        assert_eq!(whole.units_per_gpu, 1);
        assert_eq!(whole.compute_fraction, 1.0);
        assert_eq!(whole.memory_bytes, mib(81_920));

        let mig = share(&a, &GpuSharing::Mig("1g.10gb".into())).unwrap();
        assert_eq!(mig.units_per_gpu, 7);
        assert!((mig.compute_fraction - 1.0 / 7.0).abs() < 1e-12);
        assert!((mig.bandwidth_fraction - 1.0 / 8.0).abs() < 1e-12);
        assert_eq!(mig.memory_bytes, mib(10_240));
        assert_eq!(mig.label, "mig 1g.10gb");

        let three = share(&a, &GpuSharing::Mig("3g.40gb".into())).unwrap();
        assert_eq!(three.units_per_gpu, 2);
        assert!((three.bandwidth_fraction - 0.5).abs() < 1e-12);

        let ts = share(&a, &GpuSharing::TimeSlicing(4)).unwrap();
        assert_eq!(ts.units_per_gpu, 4);
        assert_eq!(ts.compute_fraction, 0.25);
        assert_eq!(ts.bandwidth_fraction, 0.25);
        assert_eq!(
            ts.memory_bytes,
            mib(81_920),
            "time slicing does not partition memory"
        );
    }

    #[test]
    fn share_errors() {
        let a = builtin_gpu("a100-80gb").unwrap();
        let e = share(&a, &GpuSharing::Mig("1g.5gb".into())).unwrap_err();
        assert!(e.contains("no MIG profile `1g.5gb`"), "{e}");
        assert!(
            e.contains("1g.10gb, 2g.20gb, 3g.40gb, 4g.40gb, 7g.80gb"),
            "{e}"
        );

        let t4 = builtin_gpu("t4").unwrap();
        let e = share(&t4, &GpuSharing::Mig("1g.10gb".into())).unwrap_err();
        assert!(e.contains("t4 does not support MIG"), "{e}");

        assert!(
            share(&a, &GpuSharing::TimeSlicing(0))
                .unwrap_err()
                .contains("between 1 and 64")
        );
        assert!(share(&a, &GpuSharing::TimeSlicing(65)).is_err());
        assert!(share(&t4, &GpuSharing::TimeSlicing(64)).is_ok());
    }

    #[derive(Deserialize)]
    struct Pool {
        #[serde(default)]
        gpu_sharing: GpuSharing,
    }

    #[test]
    fn gpu_sharing_yaml() {
        let p: Pool = serde_saphyr::from_str("gpu_sharing: none").unwrap();
        assert_eq!(p.gpu_sharing, GpuSharing::None);
        let p: Pool = serde_saphyr::from_str("gpu_sharing: {mig: 1g.10gb}").unwrap();
        assert_eq!(p.gpu_sharing, GpuSharing::Mig("1g.10gb".into()));
        let p: Pool = serde_saphyr::from_str("gpu_sharing: {time_slicing: 4}").unwrap();
        assert_eq!(p.gpu_sharing, GpuSharing::TimeSlicing(4));
        let p: Pool = serde_saphyr::from_str("{}").unwrap();
        assert_eq!(p.gpu_sharing, GpuSharing::None);
        assert!(serde_saphyr::from_str::<Pool>("gpu_sharing: {mps: 2}").is_err());
        assert!(serde_saphyr::from_str::<Pool>("gpu_sharing: {time_slicing: -1}").is_err());
    }

    #[test]
    fn table_lists_every_gpu() {
        let t = profiles_table();
        for g in builtin_gpus() {
            assert!(t.contains(&g.name));
        }
        assert!(t.contains(" 2039 "), "{t}");
        assert!(t.contains("1g.18gb"), "{t}");
        // Aligned: every line of the table has its columns at the same offsets.
        let lines: Vec<&str> = t.lines().collect();
        let col = lines[0].find("INT8 TOPS").unwrap();
        assert!(lines[2..].iter().all(|l| l[..col].ends_with(' ')));
    }
}

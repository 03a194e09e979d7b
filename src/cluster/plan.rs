//! The cluster's part of a plan: node pools, node failures, the node lifecycle controller's
//! timing, and what a pod needs from a node.

use crate::engine::SimTime;
use crate::hardware::{GpuProfile, Share};
use crate::workload::Sampler;

/// A node pool with its GPU and how GPUs are split.
#[derive(Debug, Clone)]
pub struct PoolPlan {
    /// Pool name.
    pub name: String,
    /// The GPU in each node.
    pub gpu: GpuProfile,
    /// GPUs per node.
    pub gpus_per_node: u32,
    /// Nodes.
    pub nodes: u32,
    /// The schedulable unit (a whole GPU, a MIG slice or a time slice).
    pub share: Share,
    /// Price of a whole GPU hour.
    pub price_per_gpu_hour: f64,
    /// Cluster autoscaler: fewest nodes.
    pub min_nodes: u32,
    /// Cluster autoscaler: most nodes (equal to `nodes` and `min_nodes`: no autoscaling).
    pub max_nodes: u32,
    /// From a scale-up decision to a Ready node.
    pub provision_time: SimTime,
    /// How long a node stays unneeded before it is removed.
    pub unneeded_time: SimTime,
    /// Image pull bandwidth of a node, bytes per second.
    pub pull_bandwidth: Option<f64>,
    /// Balloon pods: (count, units each).
    pub balloons: (u32, u32),
    /// How its nodes fail, if they do.
    pub failures: Option<FailurePlan>,
    /// Racks and islands, for topology-aware placement.
    pub topology: Option<super::Topology>,
    /// CPUs per node of a CPU pool (None: a GPU pool, whose unit is a GPU share). A CPU
    /// pool's schedulable unit is a thousandth of a CPU ([`CPU_UNITS_PER_CPU`]).
    pub cpus_per_node: Option<f64>,
    /// Memory per node, bytes (None: not modelled; pods' memory requests are not checked).
    pub memory_per_node: Option<u64>,
    /// Price of one node for one hour (besides `price_per_gpu_hour`).
    pub price_per_node_hour: f64,
}

/// Schedulable units per CPU on a CPU pool: a pod's CPU request in milli-CPUs, as
/// Kubernetes counts it.
pub const CPU_UNITS_PER_CPU: u32 = 1000;

impl PoolPlan {
    /// Schedulable units per node.
    pub fn units_per_node(&self) -> u32 {
        match self.cpus_per_node {
            Some(c) => (c * f64::from(CPU_UNITS_PER_CPU)).round() as u32,
            None => self.gpus_per_node * self.share.units_per_gpu,
        }
    }

    /// The share of one node a replica of `gpus` whole-GPU equivalents and `cpus` CPUs is
    /// charged for: its CPUs of the node's on a CPU pool, its GPUs of the node's on a GPU
    /// pool (memory is not charged).
    pub fn node_share(&self, gpus: f64, cpus: f64) -> f64 {
        match self.cpus_per_node {
            Some(c) if c > 0.0 => cpus / c,
            Some(_) => 0.0,
            None if self.gpus_per_node > 0 => gpus / f64::from(self.gpus_per_node),
            None => 0.0,
        }
    }

    /// The price of one replica of `gpus` whole-GPU equivalents and `cpus` CPUs for one hour:
    /// its GPUs at `price_per_gpu_hour` plus its [share](Self::node_share) of a node at
    /// `price_per_node_hour`.
    pub fn replica_price_per_hour(&self, gpus: f64, cpus: f64) -> f64 {
        let gpu = gpus * self.price_per_gpu_hour;
        // Added only when there is a node price, so that GPU-priced results stay bit for bit.
        if self.price_per_node_hour > 0.0 {
            gpu + self.node_share(gpus, cpus) * self.price_per_node_hour
        } else {
            gpu
        }
    }

    /// Whether the cluster autoscaler manages this pool (it scans only then).
    pub fn autoscaled(&self) -> bool {
        self.min_nodes != self.max_nodes || self.balloons.0 > 0
    }
}

/// Node failures of one pool.
#[derive(Debug, Clone)]
pub struct FailurePlan {
    /// Up time of one node, drawn anew at each join (exponential with mean `mtbf`); None: no
    /// random failures.
    pub up_time: Option<Sampler>,
    /// Time from a failure to the node rejoining empty, in seconds.
    pub repair: Sampler,
    /// Scheduled failures: (node index, time), in time order.
    pub at: Vec<(u32, SimTime)>,
}

/// Cluster-wide settings: the node lifecycle controller of kube-controller-manager and the
/// kubelet's heartbeat.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClusterPlan {
    /// A node whose last heartbeat is older than this is marked NotReady
    /// (`--node-monitor-grace-period`, 50s since Kubernetes 1.29; 40s before).
    pub node_monitor_grace_period: SimTime,
    /// How often the node lifecycle controller looks (`--node-monitor-period`, 5s).
    pub node_monitor_period: SimTime,
    /// From NotReady to the eviction of the node's pods: the `tolerationSeconds` (300) of the
    /// `node.kubernetes.io/not-ready` and `unreachable` taints that the DefaultTolerationSeconds
    /// admission plugin adds to every pod.
    pub pod_eviction_timeout: SimTime,
    /// The kubelet renews its node Lease this often (`nodeStatusUpdateFrequency`, 10s; the
    /// lease renew interval is a quarter of the 40s lease duration).
    pub node_status_update_frequency: SimTime,
}

impl Default for ClusterPlan {
    fn default() -> Self {
        ClusterPlan {
            node_monitor_grace_period: SimTime::from_secs(50),
            node_monitor_period: SimTime::from_secs(5),
            pod_eviction_timeout: SimTime::from_secs(300),
            node_status_update_frequency: SimTime::from_secs(10),
        }
    }
}

/// What one pod of a workload asks of the cluster: room on one node and the time to start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PodTemplate {
    /// Index of its node pool.
    pub pool: usize,
    /// Schedulable units it needs on one node.
    pub units: u32,
    /// Its priority: it may preempt training pods of lower priority.
    pub priority: i32,
    /// The container image (pods with equal images share a node's image cache).
    pub image: u32,
    /// Time to pull the image on a node without it.
    pub pull: SimTime,
    /// From the image being on the node to the pod being Ready (container start, model load,
    /// readiness probe).
    pub start: SimTime,
    /// `terminationGracePeriodSeconds`: how long a pod being deleted may finish its work.
    pub grace: SimTime,
    /// Memory it requests, bytes (0: none).
    pub memory: u64,
}

//! The serde types of the `control_plane:` section: kube-apiserver, API Priority and
//! Fairness, etcd, the endpoints API, the kubelets' heartbeats, other clients, node-join
//! bursts and DaemonSets. Counts are read as u64 so that an absurd value meets the checks'
//! limits, with their names, rather than a machine integer's range; defaults are applied
//! (with their sources) where the section is resolved, in `validate/control_plane.rs`.

use crate::units::{Bytes, Duration};
use serde::{Deserialize, Deserializer};

/// `control_plane:`. Every field may be omitted.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlPlaneSpec {
    /// kube-apiserver replicas behind a load balancer (default 1).
    #[serde(default)]
    pub apiservers: Option<u64>,
    /// `--max-requests-inflight` per server (default 400).
    #[serde(default)]
    pub max_requests_inflight: Option<u64>,
    /// `--max-mutating-requests-inflight` per server (default 200).
    #[serde(default)]
    pub max_mutating_requests_inflight: Option<u64>,
    /// `default` (API Priority and Fairness with kube-apiserver's default configuration) or
    /// `disabled` (the max-in-flight filter).
    #[serde(default)]
    pub apf: ApfSpec,
    /// CPU cores per API server (default 16).
    #[serde(default)]
    pub apiserver_cpus: Option<u64>,
    /// etcd's members, disk and quota.
    #[serde(default)]
    pub etcd: EtcdSpec,
    /// `slices` (EndpointSlices) or `legacy` (one Endpoints object per service).
    #[serde(default)]
    pub endpoints: EndpointsSpec,
    /// The kubelets' heartbeat settings (KubeletConfiguration's names).
    #[serde(default)]
    pub kubelet: KubeletSpec,
    /// Other API load: per-node agents, operators, CI.
    #[serde(default)]
    pub clients: Vec<ClientSpec>,
    /// Nodes added in bursts.
    #[serde(default)]
    pub node_joins: Vec<NodeJoinSpec>,
    /// DaemonSets: one pod on every node.
    #[serde(default)]
    pub daemonsets: Vec<DaemonSetSpec>,
}

/// Reads `control_plane:` where present: an empty value (`control_plane:` alone, or `~`)
/// asks for the control plane with every default, as `{}` does.
pub fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ControlPlaneSpec>, D::Error> {
    Ok(Some(
        Option::<ControlPlaneSpec>::deserialize(d)?.unwrap_or_default(),
    ))
}

/// API Priority and Fairness on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApfSpec {
    /// kube-apiserver's default FlowSchemas and PriorityLevelConfigurations.
    #[default]
    Default,
    /// `--enable-priority-and-fairness=false`: the max-in-flight filter.
    Disabled,
}

/// How endpoints reach kube-proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointsSpec {
    /// EndpointSlices of up to 100 endpoints each.
    #[default]
    Slices,
    /// One Endpoints object per service, as before Kubernetes 1.19.
    Legacy,
}

/// `control_plane.etcd`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtcdSpec {
    /// Members, odd (default 3).
    #[serde(default)]
    pub members: Option<u64>,
    /// The WAL's disk (default `local_ssd`).
    #[serde(default)]
    pub disk: Option<EtcdDiskSpec>,
    /// `--quota-backend-bytes` (default 2GiB).
    #[serde(default)]
    pub quota_backend_bytes: Option<Bytes>,
    /// Random writes per second of the disk (default: the disk's own, 3,000 for
    /// `network_ssd`, 100,000 otherwise).
    #[serde(default)]
    pub iops: Option<u64>,
}

/// etcd's disk: a named kind or a given commit latency.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum EtcdDiskSpec {
    /// A local NVMe SSD.
    LocalSsd,
    /// A network-attached SSD (a cloud persistent disk).
    NetworkSsd,
    /// `{write_latency: 2ms}`: a commit's latency as measured.
    WriteLatency(Duration),
}

/// `control_plane.kubelet`, in KubeletConfiguration's names.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubeletSpec {
    /// `nodeStatusUpdateFrequency` (default 10s).
    #[serde(default)]
    pub node_status_update_frequency: Option<Duration>,
    /// `nodeStatusReportFrequency` (default 5m, or `node_status_update_frequency` when that
    /// is given, as the kubelet defaults it).
    #[serde(default)]
    pub node_status_report_frequency: Option<Duration>,
    /// `nodeLeaseDurationSeconds` (default 40s), whole seconds.
    #[serde(default)]
    pub node_lease_duration: Option<Duration>,
}

/// Where a client's reads go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadFromSpec {
    /// The watch cache (`resourceVersion=0`).
    Cache,
    /// etcd, a quorum read.
    Etcd,
}

/// One entry of `control_plane.clients`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// Names it in messages.
    pub name: String,
    /// One instance per node.
    #[serde(default)]
    pub per_node: bool,
    /// Instances when not per node (default 1).
    #[serde(default)]
    pub count: Option<u64>,
    /// `get`, `list`, `create`, `update`, `patch` or `delete`.
    pub verb: String,
    /// A plural lower-case REST name (`events`, `pods`, ...).
    pub resource: String,
    /// Each instance calls once per period.
    pub every: Duration,
    /// `cache` or `etcd` (default), for reads.
    #[serde(default)]
    pub read_from: Option<ReadFromSpec>,
    /// A default priority level's name (default: the `service-accounts` FlowSchema's,
    /// workload-low).
    #[serde(default)]
    pub priority_level: Option<String>,
}

/// One entry of `control_plane.node_joins`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeJoinSpec {
    /// The node pool they join.
    pub pool: String,
    /// When the first joins.
    pub time: Duration,
    /// How many.
    pub nodes: u64,
    /// Spread evenly over this long (default 0s: all at once).
    #[serde(default)]
    pub over: Duration,
}

/// One entry of `control_plane.daemonsets`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonSetSpec {
    /// Its name.
    pub name: String,
    /// Whether a node-wide Service selects its pods (they are its endpoints).
    #[serde(default)]
    pub service: bool,
}

//! The control-plane part of a plan: API servers, API Priority and Fairness, etcd, the
//! endpoints API, the kubelets' heartbeats, other clients and node-join bursts.

use crate::engine::SimTime;

/// An API verb, as kube-apiserver's request info names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verb {
    /// Read one object.
    Get,
    /// Read a collection.
    List,
    /// Create an object.
    Create,
    /// Replace an object.
    Update,
    /// Patch an object.
    Patch,
    /// Delete an object.
    Delete,
}

impl Verb {
    /// Every verb, in the order above.
    pub const ALL: [Verb; 6] = [
        Verb::Get,
        Verb::List,
        Verb::Create,
        Verb::Update,
        Verb::Patch,
        Verb::Delete,
    ];

    /// Whether it writes (a mutating call, for APF and the SLO).
    pub fn mutating(self) -> bool {
        !matches!(self, Verb::Get | Verb::List)
    }

    /// The name a scenario and the results write.
    pub fn name(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
        }
    }
}

/// An API resource, by its plural lower-case REST name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    /// `leases` (coordination.k8s.io): kubelet heartbeats and leader election.
    Leases,
    /// `pods` (and their `binding` and `status` subresources).
    Pods,
    /// `nodes` (and `nodes/status`).
    Nodes,
    /// `endpoints`: the legacy per-service object.
    Endpoints,
    /// `endpointslices` (discovery.k8s.io).
    Endpointslices,
    /// `events`.
    Events,
    /// `configmaps`.
    Configmaps,
    /// `services`.
    Services,
    /// `deployments` (and `deployments/scale`, which the HPA writes).
    Deployments,
    /// `replicasets`.
    Replicasets,
    /// `jobs` (batch).
    Jobs,
    /// `workloads` (Kueue's kueue.x-k8s.io).
    Workloads,
}

impl Resource {
    /// Every resource, in the order above (the order of the `api/<resource>` components).
    pub const ALL: [Resource; 12] = [
        Resource::Leases,
        Resource::Pods,
        Resource::Nodes,
        Resource::Endpoints,
        Resource::Endpointslices,
        Resource::Events,
        Resource::Configmaps,
        Resource::Services,
        Resource::Deployments,
        Resource::Replicasets,
        Resource::Jobs,
        Resource::Workloads,
    ];

    /// Its plural lower-case REST name.
    pub fn name(self) -> &'static str {
        match self {
            Resource::Leases => "leases",
            Resource::Pods => "pods",
            Resource::Nodes => "nodes",
            Resource::Endpoints => "endpoints",
            Resource::Endpointslices => "endpointslices",
            Resource::Events => "events",
            Resource::Configmaps => "configmaps",
            Resource::Services => "services",
            Resource::Deployments => "deployments",
            Resource::Replicasets => "replicasets",
            Resource::Jobs => "jobs",
            Resource::Workloads => "workloads",
        }
    }

    /// Its index in [`Resource::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// How endpoints reach kube-proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointsMode {
    /// EndpointSlices of up to 100 endpoints each (Kubernetes 1.19 and later).
    Slices,
    /// One Endpoints object per service holding every endpoint, as before 1.19.
    Legacy,
}

/// etcd: the members and the disk under them.
#[derive(Debug, Clone, PartialEq)]
pub struct EtcdPlan {
    /// Members (odd, 1 to 7): a write commits when a majority has it on disk.
    pub members: u32,
    /// The disk's name as the scenario gave it (`local_ssd`, `network_ssd`, or `custom`).
    pub disk: String,
    /// One commit's fixed cost: the WAL fsync plus the round trip to a quorum.
    pub commit_latency: SimTime,
    /// Serial cost of applying one write (the MVCC store and bbolt), which bounds the
    /// throughput of large batches.
    pub per_write: SimTime,
    /// Sequential write bandwidth of the WAL disk, bytes per second.
    pub disk_bandwidth: f64,
    /// Random writes per second the disk serves: the backend's commits (every 100 ms, the
    /// pages the writes dirtied) hold the disk, and the WAL's fsyncs wait for them.
    pub iops: f64,
    /// The database size at which etcd raises its NOSPACE alarm and refuses writes
    /// (`--quota-backend-bytes`, 2 GiB by default).
    pub quota_bytes: u64,
}

/// The kubelet's heartbeat settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KubeletPlan {
    /// Lease renewal period (`nodeStatusUpdateFrequency`, 10 s; the lease is renewed every
    /// 10 s too).
    pub status_update: SimTime,
    /// Period of full node status reports when nothing changed
    /// (`nodeStatusReportFrequency`, 5 min).
    pub status_report: SimTime,
    /// The lease's duration (`nodeLeaseDurationSeconds`, 40 s).
    pub lease_duration: SimTime,
    /// How often the kubelet renews its lease: a quarter of the lease's duration
    /// (`nodeLeaseRenewIntervalFraction` = 0.25 in pkg/kubelet/kubelet.go), 10 s by default.
    pub lease_renew: SimTime,
}

/// The priority levels of kube-apiserver's default APF configuration (the mandatory `exempt`
/// and `catch-all`, and the suggested ones), by the names a client's `priority_level` gives.
pub const PRIORITY_LEVELS: [&str; 8] = [
    "exempt",
    "system",
    "node-high",
    "leader-election",
    "workload-high",
    "workload-low",
    "global-default",
    "catch-all",
];

/// The constants of etcd's disk, by the name [`EtcdPlan::disk`] holds: (the commit
/// latency, the per-write cost, the sequential bandwidth in bytes per second, the random
/// writes per second). A `custom` disk's commit latency is the scenario's `write_latency`,
/// passed in as `write_latency` (the named disks ignore it).
pub fn etcd_disk(name: &str, write_latency: SimTime) -> (SimTime, SimTime, f64, f64) {
    // Serial apply per write: etcd v3.6's performance guide (3 members, 8 vCPUs, SSD
    // persistent disk) gets 583 writes/s at 1.6 ms with one client and 44,341 writes/s at
    // 22 ms with 1,000: batches of about 1,000 take 22 ms, (22 - 1.6) ms / 1,000 = 20.4 us
    // each.
    let per_write = SimTime(20_400);
    match name {
        // The guide's machines wrote to a network SSD (a GCE SSD persistent disk): a batch of
        // one commits in 1.58 ms (1.6 ms less the apply). 250 MB/s and 3,000 IOPS: the
        // baseline of AWS's gp3 volumes, a common network SSD.
        "network_ssd" => (SimTime(1_580_000), per_write, 250e6, 3_000.0),
        // OpenAI (2018) measured about 200 us per write on local SSD; with the quorum's round
        // trip in one zone (about as long again) a commit takes 0.4 ms. 1 GB/s and 100,000
        // IOPS: an NVMe drive (estimate; such drives do several hundred thousand).
        "local_ssd" => (SimTime(400_000), per_write, 1e9, 100_000.0),
        // `custom`: the given commit latency on a local disk.
        _ => (write_latency, per_write, 1e9, 100_000.0),
    }
}

/// Where a client's reads are served from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFrom {
    /// The API server's watch cache (`resourceVersion=0`, as informers list).
    Cache,
    /// etcd, a quorum read (no resourceVersion, as plain clients and `kubectl get` read).
    Etcd,
}

/// Other API load: an agent on every node, an operator, a CI system.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientPlan {
    /// Names it in messages.
    pub name: String,
    /// One instance per node (a DaemonSet's agent), else `count` instances.
    pub per_node: bool,
    /// Instances when not per node (1 and unused when per node).
    pub count: u32,
    /// What it calls.
    pub verb: Verb,
    /// On what.
    pub resource: Resource,
    /// Each instance calls once per period, at a random phase.
    pub every: SimTime,
    /// Where its reads are served from.
    pub read_from: ReadFrom,
    /// The priority level its FlowSchema sends it to (None: `service-accounts`, i.e.
    /// workload-low, as a pod's service account is classified by default).
    pub priority_level: Option<String>,
}

/// Nodes added in a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeJoinPlan {
    /// The pool they join.
    pub pool: u16,
    /// When the first joins.
    pub time: SimTime,
    /// How many.
    pub nodes: u32,
    /// Spread evenly over this long (zero: all at once).
    pub over: SimTime,
}

/// A DaemonSet: one pod on every node, optionally the endpoints of a Service (a node-wide
/// service such as a metrics exporter: each node's pod is one endpoint).
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonSetPlan {
    /// Its name.
    pub name: String,
    /// Whether a Service selects its pods (they are endpoints).
    pub service: bool,
}

/// The control plane of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlPlanePlan {
    /// kube-apiserver replicas behind a load balancer.
    pub apiservers: u32,
    /// `--max-requests-inflight` per server.
    pub max_requests_inflight: u32,
    /// `--max-mutating-requests-inflight` per server.
    pub max_mutating_requests_inflight: u32,
    /// API Priority and Fairness with the default configuration (false: the older
    /// max-in-flight filter, which rejects at once when full).
    pub apf: bool,
    /// CPU cores per API server, shared by the requests it executes.
    pub cpus: u32,
    /// etcd.
    pub etcd: EtcdPlan,
    /// Endpoints or EndpointSlices.
    pub endpoints: EndpointsMode,
    /// The kubelets' heartbeats.
    pub kubelet: KubeletPlan,
    /// Other clients.
    pub clients: Vec<ClientPlan>,
    /// Node-join bursts.
    pub node_joins: Vec<NodeJoinPlan>,
    /// DaemonSets (one pod per node each).
    pub daemonsets: Vec<DaemonSetPlan>,
}

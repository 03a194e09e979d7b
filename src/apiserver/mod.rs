//! The control plane: kube-apiserver replicas with API Priority and Fairness, etcd, watches
//! and their fan-out, EndpointSlices (or legacy Endpoints), and the kubelets' heartbeats.
//!
//! Every change of the simulated cluster is an API call: the world hands the cluster's pod
//! and node notices to [`ControlPlane::pod_notice`] and [`ControlPlane::node_notice`], and the
//! control plane issues the calls Kubernetes would (a pod's create, binding, status patches
//! and delete, a node's registration, the endpoints controller's updates, the HPA's scale
//! writes), plus its own periodic load: lease renewals, node status reports, leader
//! election and the scenario's `clients:`.
//!
//! A call goes to one API server (clients keep their connection to one), where APF
//! classifies it into a priority level and either starts it, queues it, or answers 429 (the
//! client retries after a second, as client-go does with APF's `Retry-After: 1`). A started
//! call holds its seats while it runs: CPU work (a fixed cost per call plus the bytes it
//! decodes and encodes, slowed when more calls run than the server has cores), then for a
//! write the etcd commit (see [`etcd`]), then for a write with many watchers the final seats
//! of APF's watch-notification estimate. After a write, each server sends the watch event
//! to its share of the interested watchers; the bytes and the CPU count.
//!
//! Feedback into the cluster: a service pod's Ready reaches its routing only when the
//! kubelet's status patch and then the endpoints controller's update are written and
//! delivered; a pod's create and bind calls delay its start; an HPA's scale write waits in
//! APF like any call before the cluster sees it.

pub mod apf;
pub mod cost;
pub mod etcd;
pub mod plan;
pub mod ring;
mod stats;

pub use plan::ControlPlanePlan;
pub use stats::{APF_COMPONENTS, APISERVER_METRICS, ApiResult, ApiSample, LevelSample};

use crate::cluster::{NodeChange, NodeId, Owner, PodChange, PodId};
use crate::engine::{SimRng, SimTime, Sink, stream};
use apf::{Borrowing, MaxInflight, Offer, PackedHand, QueueSet, Requester, Ticket, WorkEstimate};
use etcd::{Committed, Etcd};
use plan::{EndpointsMode, ReadFrom, Resource, Verb};
use rand::RngExt;
use ring::Ring;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// The control plane's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiEv {
    /// The next kubelet's heartbeat (lease renewal, and every 30th a status report).
    Lease,
    /// The next call of client `.0`.
    Client(u16),
    /// Call `.0` is sent (a retry after 429, or a call sent later than it was made).
    Send(u32),
    /// Seats may have freed or a queued call's wait limit passed at server `.0`, level `.1`.
    Wake(u16, u8),
    /// etcd's current batch is committed.
    Commit,
    /// Call `.0` is answered and its result delivered: its continuation runs.
    Done(u32),
    /// The next nodes of burst `.0` join.
    Join(u16),
    /// kube-controller-manager and kube-scheduler renew their leader leases.
    LeaderElection,
    /// APF adjusts the levels' concurrency limits from their seat demand (every 10 s).
    Borrow,
}

/// What the control plane asks the world to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// A service pod's Ready reached the endpoints: it may receive work now.
    PodReady(PodId),
    /// The HPA's scale write for service `.0` to `.1` replicas is done.
    Scale(u32, u32),
    /// `.1` nodes join pool `.0` (a node-join burst).
    JoinNodes(u16, u32),
}

/// What runs when a call is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Then {
    Nothing,
    /// The pod's create call: its latency delays the pod's start.
    Created(PodId),
    /// The pod's binding: likewise.
    Bound(PodId),
    /// The kubelet's status patch of a Ready service pod: the endpoints come next.
    ReadyPatched(PodId),
    /// The endpoints controller's write for service `.0`.
    Endpoints(u32),
    /// The HPA's scale write.
    Scale(u32, u32),
    /// The endpoints controller's write for service `.0`, refused (etcd is full).
    EndpointsRefused(u32),
}

/// Who makes a call: the requester APF classifies, and the connection that picks its
/// API server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    /// A node's kubelet (by node member number).
    Kubelet(u32),
    /// A node's kube-proxy.
    KubeProxy(u32),
    /// kube-scheduler.
    Scheduler,
    /// kube-controller-manager's controllers (each a kube-system service account, as
    /// kubeadm runs them with `--use-service-account-credentials`).
    Controller,
    /// Leader election: kube-controller-manager (false) or kube-scheduler (true).
    Leader(bool),
    /// Instance `.1` of client `.0`.
    Client(u32, u32),
}

impl Who {
    fn requester(self) -> Requester {
        match self {
            Who::Kubelet(n) => Requester::Kubelet(n),
            Who::KubeProxy(_) => Requester::KubeProxy,
            Who::Scheduler | Who::Leader(true) => Requester::Scheduler,
            Who::Controller => Requester::KubeSystemServiceAccount(0),
            Who::Leader(false) => Requester::ControllerManager,
            Who::Client(c, _) => Requester::ServiceAccount(c),
        }
    }

    /// What picks its server: clients keep their connection to one.
    fn connection(self) -> u64 {
        match self {
            Who::Kubelet(m) => u64::from(m) * 2,
            Who::KubeProxy(m) => u64::from(m) * 2 + 1,
            Who::Scheduler | Who::Leader(true) => 1,
            Who::Controller | Who::Leader(false) => 0,
            Who::Client(c, i) => ((u64::from(c) + 1) << 32) + u64::from(i),
        }
    }
}

/// A ticket slot of no call.
const NO_TICKET: u32 = u32::MAX;
/// The ticket of a call that holds a max-in-flight slot (APF off).
const INFLIGHT_SLOT: u32 = u32::MAX - 1;

/// One API call in flight.
#[derive(Clone, Copy, Debug)]
struct Call {
    /// When it was first sent (its latency runs to its final answer).
    first: SimTime,
    /// When this attempt reached APF; for a write, from then on, when it reached etcd.
    arrived: SimTime,
    /// When it started executing (after its wait in APF).
    started: SimTime,
    server: u16,
    level: u8,
    tries: u8,
    res: Resource,
    verb: Verb,
    flow: u64,
    work: WorkEstimate,
    /// CPU at full speed.
    cpu: SimTime,
    /// Bytes written to etcd (0: no write).
    write: u32,
    /// Live bytes the write adds to etcd (negative: removes).
    grow: i32,
    /// Bytes read from etcd by a quorum read.
    etcd_read: u64,
    /// Watch events: watchers interested in the change, bytes each.
    fanout: u32,
    event_bytes: u32,
    then: Then,
    /// Its APF ticket's slot at its level while it executes.
    ticket: u32,
    /// The `clients:` entry that made it (NO_CLIENT: none).
    client: u16,
    /// Its flow's hand at its level, when dealt already.
    hand: Option<PackedHand>,
}

impl Call {
    /// A call of nothing, to be filled in.
    const BLANK: Call = Call {
        first: SimTime::ZERO,
        arrived: SimTime::ZERO,
        started: SimTime::ZERO,
        server: 0,
        level: 0,
        tries: 0,
        res: Resource::Leases,
        verb: Verb::Get,
        flow: 0,
        work: WorkEstimate::ONE,
        cpu: SimTime::ZERO,
        write: 0,
        grow: 0,
        etcd_read: 0,
        fanout: 0,
        event_bytes: 0,
        then: Then::Nothing,
        ticket: NO_TICKET,
        client: NO_CLIENT,
        hand: None,
    };
}

/// A call's `client` when no `clients:` entry made it.
const NO_CLIENT: u16 = u16::MAX;

/// What one `clients:` entry saw since the warm-up.
#[derive(Clone, Default)]
struct ClientStats {
    answered: u64,
    rejected: u64,
    latency: crate::stats::LatencyHist,
}

/// Retries of a call answered 429 before its client gives up (client-go's default
/// `maxRetries` of 10 for responses with Retry-After).
const MAX_TRIES: u8 = 11;
/// What APF's 429 asks the client to wait (`Retry-After: 1`), which client-go honours.
const RETRY_AFTER: SimTime = SimTime::from_secs(1);
/// Leader election: kube-controller-manager and kube-scheduler renew every `retryPeriod`
/// (2 s, their default leader-election configuration).
const LEADER_RENEW: SimTime = SimTime::from_secs(2);
/// Cluster-wide watchers of pods besides the kubelets: kube-controller-manager (one watch
/// shared by its informers), kube-scheduler.
const POD_WATCHERS: u32 = 2;
/// Cluster-wide watchers of nodes: kube-controller-manager, kube-scheduler.
const NODE_WATCHERS: u32 = 2;

/// One priority level at one server.
struct Level {
    qs: QueueSet<u32>,
    /// Stages of started calls: (when, 0 = execution ends / 1 = final seats go back,
    /// ticket slot).
    releases: BinaryHeap<Reverse<(SimTime, u8, u32)>>,
    tickets: Vec<Ticket>,
    free_tickets: Vec<u32>,
    /// When a wake is scheduled (MAX: none).
    wake_at: SimTime,
    /// Seats in use as last recorded in the statistics.
    seats: u32,
}

/// One API server.
struct Server {
    levels: Vec<Level>,
    /// APF's concurrency limits, adjusted every 10 s.
    borrowing: Borrowing,
    /// The max-in-flight filter (APF off), and the ends of the calls holding its slots
    /// (true: mutating).
    inflight: MaxInflight,
    inflight_ends: BinaryHeap<Reverse<(SimTime, bool)>>,
    /// Its own CPU work (see `cpu_load`).
    cpu: CpuEnds,
}

/// Ends of CPU work that runs now, and of some that ended: those stay until the count could
/// pass the cores (see [`ControlPlane::cpu_load`]).
#[derive(Default)]
struct CpuEnds {
    ends: BinaryHeap<Reverse<SimTime>>,
    /// The latest end.
    last: SimTime,
}

impl CpuEnds {
    fn len(&self) -> usize {
        self.ends.len()
    }

    /// Drops the ends by `now`.
    #[cold]
    fn prune(&mut self, now: SimTime) {
        if self.last <= now {
            self.ends.clear();
        }
        while self.ends.peek().is_some_and(|r| r.0 <= now) {
            self.ends.pop();
        }
    }

    fn push(&mut self, end: SimTime) {
        self.ends.push(Reverse(end));
        self.last = self.last.max(end);
    }
}

/// A node as the control plane sees it.
#[derive(Debug, Clone, Copy, Default)]
struct NodeApi {
    up: bool,
    /// Its heartbeat's turn at which it also sends a status report (of every
    /// `report_every`).
    report_offset: u32,
    /// Where its kubelet's lease renewals go.
    lease: Route,
}

/// Where a kubelet's lease renewals go: the same server, priority level, flow and hand of
/// queues at every renewal, worked out once when its node joins (classifying, hashing and
/// dealing were most of the cost of the commonest call).
#[derive(Debug, Clone, Copy, Default)]
struct Route {
    server: u16,
    level: u8,
    flow: u64,
    hand: Option<PackedHand>,
}

/// A pod's API timing.
#[derive(Debug, Clone, Copy, Default)]
struct PodApi {
    generation: u32,
    /// Latency of its create and bind calls: its containers start this much later.
    delay: SimTime,
    bound_at: SimTime,
    /// Its service (u32::MAX: none).
    svc: u32,
    /// Ready, on its way to the endpoints.
    ready_pending: bool,
    in_endpoints: bool,
}

/// A service's endpoints.
#[derive(Debug, Default)]
struct Svc {
    endpoints: u32,
    /// Pods whose Ready waits for the next endpoints write.
    waiting: Vec<PodId>,
    /// Pods whose Ready the write in flight carries.
    carried: Vec<PodId>,
    in_flight: bool,
    /// A change came while a write was in flight.
    dirty: bool,
}

/// The control plane of one replication.
pub struct ControlPlane {
    plan: ControlPlanePlan,
    servers: Vec<Server>,
    /// Nominal seats per level, per server.
    nominal: Vec<u32>,
    max_seats: Vec<u32>,
    etcd: Etcd,
    calls: Vec<Call>,
    free: Vec<u32>,
    nodes: Vec<Vec<NodeApi>>,
    lease_ring: Ring,
    lease_at: SimTime,
    /// A kubelet's lease renewal, but for its time and [`Route`].
    lease_call: Call,
    report_every: u32,
    clients: Vec<(Ring, SimTime)>,
    pods: Vec<PodApi>,
    svcs: Vec<Svc>,
    /// DaemonSet endpoints (node-wide services), one per DaemonSet with a Service.
    ds_svcs: Vec<u32>,
    joins_next: Vec<u32>,
    answers: VecDeque<Answer>,
    rng: SimRng,
    batch: Vec<u32>,
    /// Live objects.
    pods_live: u64,
    nodes_live: u64,
    /// Events created per minute over the last hour (TTL), oldest first.
    events: VecDeque<(u64, u64)>,
    events_live: u64,
    pub(crate) stats: stats::Stats,
    clients_seen: Vec<ClientStats>,
    /// The client whose call is being made (tags the next new call).
    calling: u16,
    /// The event queue's lanes for the lease ring's turn and etcd's commit (this one and the
    /// next), where it has them: each has one event pending at most times.
    lanes: usize,
    /// The watchers and event bytes of the last write sent to its watchers, and the CPU
    /// each server spent on it.
    fan_work: ((u32, u32), SimTime),
    /// CPU work every server runs alike (a watch event's fan-out), counted at each.
    shared_cpu: CpuEnds,
    /// Each `clients:` entry's priority level, flow and hand of queues (the same at every
    /// server: a level's queues are).
    client_class: Vec<(usize, u64, Option<PackedHand>)>,
}

/// Whether `component` names one of the control plane's result components.
pub fn is_component(component: &str) -> bool {
    component == "apiserver"
        || component == "etcd"
        || component.starts_with("apf/")
        || component.starts_with("api/")
        || component.starts_with("client/")
}

/// The metrics of each kind of control-plane component, for `checks:`.
pub const APISERVER_COMPONENT_METRICS: &[&str] = &[
    "requests_rps",
    "mutating_rps",
    "readonly_rps",
    "mutating_latency_p99_ms",
    "readonly_latency_p99_ms",
    "slo_mutating_p99_worst_ms",
    "mutating_p99_worst_ms",
    "slo_readonly_p99_worst_ms",
    "slo_list_p99_worst_ms",
    "pod_startup_p99_ms",
    "rejected_429",
    "watch_events_per_s",
    "watch_bytes_per_s",
    "memory_gib",
    "slo_met",
];
/// `apf/<level>`'s metrics.
pub const APF_METRICS: &[&str] = &[
    "nominal_seats",
    "dispatched_rps",
    "wait_p99_ms",
    "rejected_429",
    "seats_in_use_mean",
];
/// `api/<resource>`'s metrics.
pub const RESOURCE_METRICS: &[&str] = &["writes_per_s", "reads_per_s", "watch_bytes_per_s"];
/// `etcd`'s metrics.
pub const ETCD_METRICS: &[&str] = &[
    "writes_per_s",
    "write_latency_p99_ms",
    "db_size_gib",
    "writes_refused",
];
/// `client/<name>`'s metrics.
pub const CLIENT_METRICS: &[&str] = &["requests_rps", "rejected_429", "latency_p99_ms"];

/// The control plane's result components for a scenario whose `clients:` are named
/// `clients`, each with its metrics.
pub fn components<'a>(
    clients: impl Iterator<Item = &'a str>,
) -> Vec<(String, &'static [&'static str])> {
    let mut out: Vec<(String, &'static [&'static str])> = vec![
        ("apiserver".into(), APISERVER_COMPONENT_METRICS),
        ("etcd".into(), ETCD_METRICS),
    ];
    out.extend(
        apf::DEFAULT_LEVELS
            .iter()
            .map(|l| (format!("apf/{}", l.name), APF_METRICS)),
    );
    out.extend(
        Resource::ALL
            .iter()
            .map(|r| (format!("api/{}", r.name()), RESOURCE_METRICS)),
    );
    out.extend(clients.map(|c| (format!("client/{c}"), CLIENT_METRICS)));
    out
}

fn node_member(n: NodeId) -> u32 {
    // Pools fit 8 bits and nodes 24 (validation bounds both).
    (u32::from(n.pool) << 24) | n.node
}

fn member_node(m: u32) -> (u16, u32) {
    ((m >> 24) as u16, m & 0x00ff_ffff)
}

impl ControlPlane {
    /// The control plane of replication `rep`, for a cluster of `nodes[pool]` nodes and
    /// `services` services.
    pub fn new(
        plan: &ControlPlanePlan,
        nodes: &[u32],
        services: usize,
        seed: u64,
        rep: u32,
    ) -> ControlPlane {
        let levels = &apf::DEFAULT_LEVELS;
        let limit = plan.max_requests_inflight + plan.max_mutating_requests_inflight;
        let nominal = apf::nominal_seats(limit, levels);
        let max_seats: Vec<u32> = levels
            .iter()
            .zip(&nominal)
            .map(|(l, &n)| apf::level_max_seats(l, n))
            .collect();
        let servers = (0..plan.apiservers)
            .map(|_| {
                let borrowing = Borrowing::new(limit, levels);
                Server {
                    levels: levels
                        .iter()
                        .zip(borrowing.current())
                        .map(|(l, &n)| Level {
                            qs: QueueSet::new(l, n),
                            releases: BinaryHeap::new(),
                            tickets: Vec::new(),
                            free_tickets: Vec::new(),
                            wake_at: SimTime::MAX,
                            seats: 0,
                        })
                        .collect(),
                    borrowing,
                    inflight: MaxInflight::new(
                        plan.max_requests_inflight,
                        plan.max_mutating_requests_inflight,
                    ),
                    inflight_ends: BinaryHeap::new(),
                    cpu: CpuEnds::default(),
                }
            })
            .collect();
        // The ring turns at the lease renewals; a status report rides on every
        // `report_every`-th (the kubelet's status loop reports when the report period passed).
        let report_every = (plan.kubelet.status_report.0 / plan.kubelet.lease_renew.0.max(1))
            .clamp(1, u64::from(u32::MAX)) as u32;
        let mut cp = ControlPlane {
            servers,
            nominal,
            max_seats,
            etcd: Etcd::new(plan.etcd.clone()),
            calls: Vec::new(),
            free: Vec::new(),
            nodes: nodes
                .iter()
                .map(|&n| vec![NodeApi::default(); n as usize])
                .collect(),
            lease_ring: Ring::new(plan.kubelet.lease_renew),
            lease_at: SimTime::MAX,
            lease_call: Call::BLANK,
            report_every,
            clients: plan
                .clients
                .iter()
                .map(|c| (Ring::new(c.every), SimTime::MAX))
                .collect(),
            pods: Vec::new(),
            svcs: (0..services).map(|_| Svc::default()).collect(),
            ds_svcs: Vec::new(),
            joins_next: vec![0; plan.node_joins.len()],
            answers: VecDeque::new(),
            rng: stream(seed, rep, "apiserver"),
            batch: Vec::new(),
            pods_live: 0,
            nodes_live: 0,
            events: VecDeque::new(),
            events_live: 0,
            stats: stats::Stats::new(plan, levels.len()),
            clients_seen: vec![ClientStats::default(); plan.clients.len()],
            calling: NO_CLIENT,
            lanes: usize::MAX - 1,
            fan_work: ((0, 0), SimTime::ZERO),
            shared_cpu: CpuEnds::default(),
            client_class: Vec::new(),
            plan: plan.clone(),
        };
        cp.ds_svcs = vec![0; cp.plan.daemonsets.iter().filter(|d| d.service).count()];
        // Every instance of a client makes the same calls as its service account, so they
        // classify alike: once.
        cp.client_class = (0..cp.plan.clients.len())
            .map(|ci| {
                let c = &cp.plan.clients[ci];
                let (level, flow) =
                    cp.classify_fresh(Who::Client(ci as u32, 0), c.verb, c.resource);
                let hand = cp
                    .servers
                    .first()
                    .and_then(|s| s.levels[level].qs.pack_hand(flow));
                (level, flow, hand)
            })
            .collect();
        // A lease's watchers (see `watchers`) do not grow with the cluster, so neither does
        // the rest of its shape.
        cp.lease_call = cp.shape(
            SimTime::ZERO,
            Who::Kubelet(0),
            Verb::Update,
            Resource::Leases,
            cost::LEASE_BYTES,
            0,
            Then::Nothing,
        );
        cp
    }

    /// The event queue's lanes the control plane may use: two, from lane `first`.
    pub const LANES: usize = 2;

    /// Schedules the lease ring's turns and etcd's commits in lanes `first` and `first + 1`
    /// (see [`ControlPlane::LANES`]) when they are free.
    pub fn use_lanes(&mut self, first: usize) {
        self.lanes = first;
    }

    /// Registers the nodes present at the start (they exist already: no calls) and
    /// schedules the periodic load.
    pub fn start(&mut self, q: &mut impl Sink<ApiEv>) {
        let now = SimTime::ZERO;
        for pool in 0..self.nodes.len() {
            for node in 0..self.nodes[pool].len() as u32 {
                self.add_node(now, pool as u16, node);
            }
        }
        let ds = self.plan.daemonsets.len() as u64;
        let nodes = self.nodes_live;
        self.pods_live += ds * nodes;
        for e in &mut self.ds_svcs {
            *e = nodes as u32;
        }
        let ep: u64 = self.ds_svcs.iter().map(|&n| cost::endpoints_bytes(n)).sum();
        self.etcd.preload(
            nodes as f64 * f64::from(cost::NODE_BYTES + cost::LEASE_BYTES)
                + (ds * nodes) as f64 * f64::from(cost::POD_BYTES)
                + ep as f64,
        );
        self.reschedule_rings(q);
        q.at(LEADER_RENEW, ApiEv::LeaderElection);
        if self.plan.apf {
            q.at(apf::BORROWING_PERIOD, ApiEv::Borrow);
        }
        for (b, j) in self.plan.node_joins.iter().enumerate() {
            q.at(j.time, ApiEv::Join(b as u16));
        }
    }

    /// Whether an answer waits for the world.
    #[inline]
    pub fn has_answer(&self) -> bool {
        !self.answers.is_empty()
    }

    /// The next answer for the world, oldest first.
    pub fn next_answer(&mut self) -> Option<Answer> {
        self.answers.pop_front()
    }

    /// Statistics restart at the end of the warm-up.
    pub fn warmup_end(&mut self, now: SimTime) {
        self.etcd.warmup_end();
        for x in &mut self.clients_seen {
            *x = ClientStats::default();
        }
        let seats: Vec<Vec<u32>> = self
            .servers
            .iter()
            .map(|s| s.levels.iter().map(|l| l.qs.seats_in_use()).collect())
            .collect();
        self.stats.restart(now, &seats);
    }

    /// A node joins the rings (its kubelet and per-node clients start calling).
    fn add_node(&mut self, now: SimTime, pool: u16, node: u32) {
        let per = &mut self.nodes[pool as usize];
        if per.len() <= node as usize {
            per.resize(node as usize + 1, NodeApi::default());
        }
        let offset = self.rng.random_range(0..self.report_every);
        let n = &mut per[node as usize];
        if n.up {
            return;
        }
        n.up = true;
        n.report_offset = offset;
        self.nodes_live += 1;
        let m = (u32::from(pool) << 24) | node;
        let who = Who::Kubelet(m);
        let (level, flow) = self.classify(who, Verb::Update, Resource::Leases);
        let server = self.server_of(who);
        let hand = self.servers[usize::from(server)].levels[level]
            .qs
            .pack_hand(flow);
        self.nodes[pool as usize][node as usize].lease = Route {
            server,
            level: level as u8,
            flow,
            hand,
        };
        let period = self.plan.kubelet.lease_renew.0;
        let phase = self.rng.random_range(0..period.max(1));
        self.lease_ring.insert(now, phase, m);
        for (ci, c) in self.plan.clients.iter().enumerate() {
            if c.per_node {
                let phase = self.rng.random_range(0..c.every.0.max(1));
                self.clients[ci].0.insert(now, phase, m);
            }
        }
    }

    fn remove_node(&mut self, pool: u16, node: u32) {
        let Some(n) = self.nodes[pool as usize].get_mut(node as usize) else {
            return;
        };
        if !n.up {
            return;
        }
        n.up = false;
        self.nodes_live -= 1;
        let m = (u32::from(pool) << 24) | node;
        self.lease_ring.remove(m);
        for (ci, c) in self.plan.clients.iter().enumerate() {
            if c.per_node {
                self.clients[ci].0.remove(m);
            }
        }
    }

    /// Schedules each ring's next turn where it moved.
    fn reschedule_rings(&mut self, q: &mut impl Sink<ApiEv>) {
        self.reschedule_leases(q);
        for ci in 0..self.clients.len() {
            if !self.plan.clients[ci].per_node && self.clients[ci].0.is_empty() {
                // Fixed instances join once, at random phases.
                let c = &self.plan.clients[ci];
                for i in 0..c.count {
                    let phase = self.rng.random_range(0..c.every.0.max(1));
                    self.clients[ci].0.insert(q.now(), phase, i);
                }
            }
            self.reschedule_client(ci, q);
        }
    }

    /// Schedules the lease ring's next turn if it moved.
    fn reschedule_leases(&mut self, q: &mut impl Sink<ApiEv>) {
        let t = self.lease_ring.next_time().unwrap_or(SimTime::MAX);
        if t != self.lease_at {
            self.lease_at = t;
            if t != SimTime::MAX {
                q.at_free_lane(self.lanes, t, ApiEv::Lease);
            }
        }
    }

    /// Schedules client `ci`'s ring's next turn if it moved.
    fn reschedule_client(&mut self, ci: usize, q: &mut impl Sink<ApiEv>) {
        let t = self.clients[ci].0.next_time().unwrap_or(SimTime::MAX);
        if t != self.clients[ci].1 {
            self.clients[ci].1 = t;
            if t != SimTime::MAX {
                q.at(t, ApiEv::Client(ci as u16));
            }
        }
    }

    /// Handles one of its timers.
    pub fn handle(&mut self, now: SimTime, ev: ApiEv, q: &mut impl Sink<ApiEv>) {
        match ev {
            ApiEv::Lease => {
                if now != self.lease_at {
                    return;
                }
                self.lease_at = SimTime::MAX;
                if let Some((m, cycle)) = self.lease_ring.advance() {
                    let (pool, node) = member_node(m);
                    self.heartbeat(now, pool, node, cycle, q);
                }
                // A call moves no ring: only this one turned.
                self.reschedule_leases(q);
            }
            ApiEv::Client(ci) => {
                let ci = ci as usize;
                if now != self.clients[ci].1 {
                    return;
                }
                self.clients[ci].1 = SimTime::MAX;
                if let Some((m, _)) = self.clients[ci].0.advance() {
                    self.client_call(now, ci, m, q);
                }
                self.reschedule_client(ci, q);
            }
            ApiEv::Send(c) => self.arrive(now, c, q),
            ApiEv::Wake(s, l) => {
                let lv = &mut self.servers[s as usize].levels[l as usize];
                if lv.wake_at != now {
                    return;
                }
                lv.wake_at = SimTime::MAX;
                self.settle(now, s as usize, l as usize, q);
            }
            ApiEv::Commit => self.on_commit(now, q),
            ApiEv::Done(c) => {
                let call = self.calls[c as usize];
                self.free_call(c);
                self.then(now, call, q);
            }
            ApiEv::Join(b) => self.on_join(now, b as usize, q),
            ApiEv::Borrow => {
                for s in 0..self.servers.len() {
                    let levels = self.servers[s].levels.len();
                    for l in 0..levels {
                        self.settle(now, s, l, q);
                    }
                    let srv = &mut self.servers[s];
                    let demand: Vec<apf::SeatDemand> = srv
                        .levels
                        .iter_mut()
                        .map(|lv| lv.qs.take_demand(now))
                        .collect();
                    let limits = srv.borrowing.update(&demand).to_vec();
                    for (l, limit) in limits.into_iter().enumerate() {
                        self.servers[s].levels[l].qs.set_limit(now, limit);
                        self.drain(now, s, l, q);
                    }
                }
                q.at(now + apf::BORROWING_PERIOD, ApiEv::Borrow);
            }
            ApiEv::LeaderElection => {
                for sched in [false, true] {
                    self.call(
                        now,
                        Who::Leader(sched),
                        Verb::Update,
                        Resource::Leases,
                        cost::LEASE_BYTES,
                        0,
                        Then::Nothing,
                        q,
                    );
                }
                q.at(now + LEADER_RENEW, ApiEv::LeaderElection);
            }
        }
    }

    fn on_join(&mut self, now: SimTime, b: usize, q: &mut impl Sink<ApiEv>) {
        let j = self.plan.node_joins[b];
        let done = self.joins_next[b];
        // Node i of the burst joins at time + over x i / nodes.
        let mut k = done;
        while k < j.nodes {
            let at = j.time + SimTime(j.over.0 / u64::from(j.nodes) * u64::from(k));
            if at > now {
                q.at(at, ApiEv::Join(b as u16));
                break;
            }
            k += 1;
        }
        self.joins_next[b] = k;
        if k > done {
            self.answers.push_back(Answer::JoinNodes(j.pool, k - done));
        }
    }

    /// A kubelet's heartbeat: its lease renewal, and on its turn the node status report.
    fn heartbeat(
        &mut self,
        now: SimTime,
        pool: u16,
        node: u32,
        cycle: u64,
        q: &mut impl Sink<ApiEv>,
    ) {
        let n = self.nodes[pool as usize][node as usize];
        let who = Who::Kubelet(node_member(NodeId {
            pool,
            generation: 0,
            node,
        }));
        let r = n.lease;
        debug_assert_eq!(r.level, self.lease_call.level);
        let id = self.new_call(Call {
            first: now,
            arrived: now,
            started: now,
            server: r.server,
            flow: r.flow,
            hand: r.hand,
            ..self.lease_call
        });
        self.arrive(now, id, q);
        if (cycle + u64::from(n.report_offset)).is_multiple_of(u64::from(self.report_every)) {
            self.call(
                now,
                who,
                Verb::Patch,
                Resource::Nodes,
                cost::NODE_BYTES,
                0,
                Then::Nothing,
                q,
            );
        }
    }

    fn client_call(&mut self, now: SimTime, ci: usize, member: u32, q: &mut impl Sink<ApiEv>) {
        let c = &self.plan.clients[ci];
        let (verb, res, from) = (c.verb, c.resource, c.read_from);
        let who = Who::Client(ci as u32, member);
        let bytes = self.object_bytes(res);
        self.calling = ci as u16;
        if verb == Verb::List {
            let objects = self.objects(res);
            let total = objects * u64::from(bytes);
            self.list(now, who, res, objects, total, false, from, q);
        } else {
            self.call(now, who, verb, res, bytes, 0, Then::Nothing, q);
        }
    }

    /// Bytes of one object of `res`.
    fn object_bytes(&self, res: Resource) -> u32 {
        match res {
            Resource::Leases => cost::LEASE_BYTES,
            Resource::Pods => cost::POD_BYTES,
            Resource::Nodes => cost::NODE_BYTES,
            Resource::Events => cost::EVENT_BYTES,
            Resource::Endpoints | Resource::Endpointslices => {
                cost::ENDPOINT_BYTES * cost::ENDPOINTS_PER_SLICE
            }
            Resource::Services => cost::SERVICE_BYTES,
            _ => cost::WORKLOAD_BYTES,
        }
    }

    /// Objects of `res` stored now.
    fn objects(&self, res: Resource) -> u64 {
        let services = (self.svcs.len() + self.ds_svcs.len()) as u64;
        match res {
            Resource::Leases => self.nodes_live + 2,
            Resource::Pods => self.pods_live,
            Resource::Nodes => self.nodes_live,
            Resource::Events => self.events_live,
            Resource::Endpoints | Resource::Services => services,
            Resource::Endpointslices => self.slices(),
            Resource::Deployments | Resource::Replicasets => self.svcs.len() as u64,
            _ => 0,
        }
    }

    fn slices(&self) -> u64 {
        let per = u64::from(cost::ENDPOINTS_PER_SLICE);
        self.svcs
            .iter()
            .map(|s| u64::from(s.endpoints))
            .chain(self.ds_svcs.iter().map(|&n| u64::from(n)))
            .map(|n| n.div_ceil(per).max(1))
            .sum()
    }

    /// Watchers APF counts for a write of one object of `res`: the watches of the whole
    /// resource (a label or field selector other than the name does not narrow them, so
    /// every kubelet's watch of its node's pods counts), plus those naming the object (a
    /// node's kubelet and kube-proxy watch it by `metadata.name`) (upstream's watch
    /// tracker, `GetInterestedWatchCount`).
    fn watchers(&self, res: Resource) -> u64 {
        let nodes = self.nodes_live;
        match res {
            Resource::Pods => nodes + u64::from(POD_WATCHERS),
            Resource::Nodes => u64::from(NODE_WATCHERS) + 2,
            Resource::Leases => 1,
            Resource::Endpoints | Resource::Endpointslices | Resource::Services => nodes + 2,
            Resource::Events => 0,
            _ => 1,
        }
    }

    /// Watchers one change of `res` is sent to (selectors filter the kubelets' pods and
    /// nodes to their own).
    fn interested(&self, res: Resource) -> u32 {
        match res {
            Resource::Pods => POD_WATCHERS + 1,
            Resource::Nodes => NODE_WATCHERS + 2,
            _ => self.watchers(res).min(u64::from(u32::MAX)) as u32,
        }
    }

    /// The priority level and flow of a call by `who`: the default FlowSchemas, unless a
    /// client names its level.
    fn classify(&self, who: Who, verb: Verb, res: Resource) -> (usize, u64) {
        if let Who::Client(c, _) = who {
            let (level, flow, _) = self.client_class[c as usize];
            debug_assert_eq!((level, flow), self.classify_fresh(who, verb, res));
            return (level, flow);
        }
        self.classify_fresh(who, verb, res)
    }

    /// The hand of queues of `who`'s flow at its level, where it is known already.
    fn hand_of(&self, who: Who) -> Option<PackedHand> {
        match who {
            Who::Client(c, _) => self.client_class[c as usize].2,
            _ => None,
        }
    }

    /// [`ControlPlane::classify`] worked out.
    fn classify_fresh(&self, who: Who, verb: Verb, res: Resource) -> (usize, u64) {
        let m = apf::classify(who.requester(), verb, res);
        if let Who::Client(c, _) = who
            && let Some(l) = self.plan.clients[c as usize]
                .priority_level
                .as_deref()
                .and_then(apf::level_index)
        {
            return (l, m.flow);
        }
        (m.level, m.flow)
    }

    /// Makes a call that is not a LIST: a write of `bytes` (or a read of one object).
    #[allow(clippy::too_many_arguments)]
    fn call(
        &mut self,
        now: SimTime,
        who: Who,
        verb: Verb,
        res: Resource,
        bytes: u32,
        grow: i64,
        then: Then,
        q: &mut impl Sink<ApiEv>,
    ) {
        let c = self.shape(now, who, verb, res, bytes, grow, then);
        let id = self.new_call(c);
        self.arrive(now, id, q);
    }

    /// The call [`ControlPlane::call`] makes.
    #[allow(clippy::too_many_arguments)]
    fn shape(
        &self,
        now: SimTime,
        who: Who,
        verb: Verb,
        res: Resource,
        bytes: u32,
        grow: i64,
        then: Then,
    ) -> Call {
        let (level, flow) = self.classify(who, verb, res);
        let (work, cpu, write, fanout, event_bytes) = if verb.mutating() {
            let watchers = self.watchers(res);
            let work = apf::mutating_work(watchers, self.max_seats[level]);
            // Decode the request, encode for etcd and for the response.
            let cpu = cost::CALL_CPU + cost::codec(3.0 * f64::from(bytes));
            let ev = if verb == Verb::Delete {
                cost::SMALL_BYTES.max(bytes)
            } else {
                bytes
            };
            (work, cpu, bytes.max(1), self.interested(res), ev)
        } else {
            (
                WorkEstimate::ONE,
                cost::CALL_CPU + cost::codec(f64::from(bytes)),
                0,
                0,
                0,
            )
        };
        Call {
            first: now,
            arrived: now,
            started: now,
            server: self.server_of(who),
            level: level as u8,
            tries: 0,
            res,
            verb,
            flow,
            work,
            cpu,
            write,
            grow: grow.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
            etcd_read: 0,
            fanout,
            event_bytes,
            then,
            ticket: NO_TICKET,
            client: NO_CLIENT,
            hand: self.hand_of(who),
        }
    }

    /// A LIST of `objects` stored objects of `object_bytes` each, `returned` bytes of which
    /// come back (a selector narrows them), from the watch cache or etcd.
    #[allow(clippy::too_many_arguments)]
    fn list(
        &mut self,
        now: SimTime,
        who: Who,
        res: Resource,
        objects: u64,
        returned: u64,
        selector: bool,
        from: ReadFrom,
        q: &mut impl Sink<ApiEv>,
    ) {
        let (level, flow) = self.classify(who, Verb::List, res);
        let query = apf::ListQuery {
            stored: objects,
            avg_object_bytes: u64::from(self.object_bytes(res)),
            limit: 0,
            selector,
            from_cache: from == ReadFrom::Cache,
            single: false,
        };
        // SizeBasedListCostEstimate, on by default since Kubernetes 1.34.
        let work = apf::list_work(&query, self.max_seats[level], apf::ListCost::BySize);
        // The server reads every stored object (from its cache, or decoded from what etcd
        // sends) and encodes what it returns.
        let scanned = objects.saturating_mul(u64::from(self.object_bytes(res)));
        let (cpu, etcd_read) = match from {
            ReadFrom::Cache => {
                // An indexed selector finds its objects without a scan.
                let scan = if selector { 0 } else { objects };
                (
                    cost::CALL_CPU
                        + cost::codec(returned as f64)
                        + SimTime(cost::CACHE_SCAN_CPU.0.saturating_mul(scan)),
                    0,
                )
            }
            ReadFrom::Etcd => (
                cost::CALL_CPU + cost::codec(scanned as f64 + returned as f64),
                scanned,
            ),
        };
        let c = Call {
            first: now,
            arrived: now,
            started: now,
            server: self.server_of(who),
            level: level as u8,
            tries: 0,
            res,
            verb: Verb::List,
            flow,
            work,
            cpu,
            write: 0,
            grow: 0,
            etcd_read,
            fanout: 0,
            event_bytes: 0,
            then: Then::Nothing,
            ticket: NO_TICKET,
            client: NO_CLIENT,
            hand: self.hand_of(who),
        };
        let id = self.new_call(c);
        self.arrive(now, id, q);
    }

    /// The server a client talks to: its connection goes to one, through the load
    /// balancer.
    fn server_of(&self, who: Who) -> u16 {
        let s = self.servers.len() as u64;
        // A multiplicative hash spreads connections evenly over the servers.
        ((who.connection().wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) % s) as u16
    }

    fn new_call(&mut self, mut c: Call) -> u32 {
        c.client = std::mem::replace(&mut self.calling, NO_CLIENT);
        match self.free.pop() {
            Some(id) => {
                self.calls[id as usize] = c;
                id
            }
            None => {
                self.calls.push(c);
                (self.calls.len() - 1) as u32
            }
        }
    }

    fn free_call(&mut self, id: u32) {
        self.free.push(id);
    }

    /// Call `id` reaches its server: APF queues, starts or rejects it (or, with APF off,
    /// the max-in-flight filter admits or rejects it).
    fn arrive(&mut self, now: SimTime, id: u32, q: &mut impl Sink<ApiEv>) {
        let c = &mut self.calls[id as usize];
        c.arrived = now;
        let (s, l) = (c.server as usize, c.level as usize);
        let (flow, hand, work, verb) = (c.flow, c.hand, c.work, c.verb);
        if !self.plan.apf {
            let srv = &mut self.servers[s];
            while let Some(&Reverse((t, mutating))) = srv.inflight_ends.peek() {
                if t > now {
                    break;
                }
                srv.inflight_ends.pop();
                srv.inflight
                    .done(if mutating { Verb::Update } else { Verb::Get });
            }
            match srv.inflight.admit(verb, Requester::ServiceAccount(0)) {
                apf::Admission::Rejected => self.reject(now, id, q),
                a => {
                    if a == apf::Admission::Slot {
                        self.calls[id as usize].ticket = INFLIGHT_SLOT;
                    }
                    self.stats.dispatched(s, l, SimTime::ZERO);
                    self.execute(now, id, q);
                }
            }
            return;
        }
        self.settle(now, s, l, q);
        if let Offer::Rejected(id, _) = self.servers[s].levels[l]
            .qs
            .offer_dealt(now, flow, hand, work, id)
        {
            self.reject(now, id, q);
        }
        self.drain(now, s, l, q);
    }

    /// Starts the calls APF started at server `s`, level `l`, records the seats in use and
    /// arms the next wake.
    fn drain(&mut self, now: SimTime, s: usize, l: usize, q: &mut impl Sink<ApiEv>) {
        let lv = &self.servers[s].levels[l];
        if !lv.qs.has_started() && lv.qs.waiting() == 0 && lv.qs.seats_in_use() == lv.seats {
            // Nothing started, no seat changed hands and nothing waits for a wake.
            return;
        }
        while let Some(st) = self.servers[s].levels[l].qs.dispatch() {
            let lv = &mut self.servers[s].levels[l];
            let slot = match lv.free_tickets.pop() {
                Some(k) => {
                    lv.tickets[k as usize] = st.ticket;
                    k
                }
                None => {
                    lv.tickets.push(st.ticket);
                    (lv.tickets.len() - 1) as u32
                }
            };
            let c = &mut self.calls[st.item as usize];
            c.ticket = slot;
            c.work = st.work;
            self.stats.dispatched(s, l, st.waited);
            self.execute(now, st.item, q);
        }
        self.note_seats(now, s, l);
        self.arm(s, l, q);
    }

    /// Brings the statistics' seats in use at server `s`, level `l` up to date at `t`.
    fn note_seats(&mut self, t: SimTime, s: usize, l: usize) {
        let lv = &mut self.servers[s].levels[l];
        let now_seats = lv.qs.seats_in_use();
        if now_seats != lv.seats {
            let delta = i64::from(now_seats) - i64::from(lv.seats);
            lv.seats = now_seats;
            self.stats.seats(s, l, t, delta);
        }
    }

    /// Ends the executions and gives back the final seats due by `now` at server `s`,
    /// level `l`, starts what that lets start, and answers 429 to what waited too long.
    fn settle(&mut self, now: SimTime, s: usize, l: usize, q: &mut impl Sink<ApiEv>) {
        loop {
            let lv = &mut self.servers[s].levels[l];
            let Some(&Reverse((t, stage, slot))) = lv.releases.peek() else {
                break;
            };
            if t > now {
                break;
            }
            lv.releases.pop();
            let ticket = lv.tickets[slot as usize];
            if stage == 0
                && let Some(at) = lv.qs.finish(t, ticket)
            {
                lv.releases.push(Reverse((at, 1, slot)));
            } else {
                if stage == 1 {
                    lv.qs.release(t, ticket);
                }
                lv.free_tickets.push(slot);
            }
            self.note_seats(t, s, l);
            self.drain(now, s, l, q);
        }
        while let Some(id) = self.servers[s].levels[l].qs.expire(now) {
            self.reject(now, id, q);
        }
        self.drain(now, s, l, q);
    }

    /// Schedules a wake at the level's next release or wait limit, if calls wait there.
    fn arm(&mut self, s: usize, l: usize, q: &mut impl Sink<ApiEv>) {
        let lv = &mut self.servers[s].levels[l];
        if lv.qs.waiting() == 0 {
            return;
        }
        let rel = lv.releases.peek().map_or(SimTime::MAX, |r| r.0.0);
        let t = rel.min(lv.qs.next_deadline().unwrap_or(SimTime::MAX));
        if t < lv.wake_at {
            lv.wake_at = t;
            q.at(t, ApiEv::Wake(s as u16, l as u8));
        }
    }

    /// A 429: the client retries after `Retry-After`, or gives up.
    fn reject(&mut self, now: SimTime, id: u32, q: &mut impl Sink<ApiEv>) {
        let c = &mut self.calls[id as usize];
        c.tries += 1;
        c.ticket = NO_TICKET;
        self.stats
            .rejected(c.server as usize, c.level as usize, c.res);
        if let Some(x) = self.clients_seen.get_mut(usize::from(c.client)) {
            x.rejected += 1;
        }
        if c.tries >= MAX_TRIES {
            let c = *c;
            if let Some(x) = self.clients_seen.get_mut(usize::from(c.client)) {
                x.answered += 1;
                x.latency.record(now.since(c.first));
            }
            self.stats
                .answered(now, c.res, c.verb, now.since(c.first), SimTime::ZERO);
            self.free_call(id);
            // What waited on it proceeds as if the call had gone through late: the model
            // has no failed calls in the cluster.
            self.then(now, c, q);
            return;
        }
        q.at(now + RETRY_AFTER, ApiEv::Send(id));
    }

    /// CPU time `work` at server `s` from `now`, slowed when more runs than it has cores.
    fn run_cpu(&mut self, now: SimTime, s: usize, work: SimTime) -> SimTime {
        let running = self.cpu_load(now, s);
        let cores = u64::from(self.plan.cpus);
        let end = if running > cores {
            now + SimTime((work.0 as u128 * u128::from(running) / u128::from(cores)) as u64)
        } else {
            now + work
        };
        self.servers[s].cpu.push(end);
        end
    }

    /// The work running at server `s` at `now`, counting one more: exact when above the
    /// server's cores, else at most that. Ends that passed are dropped only when the count
    /// could pass the cores: until then they cannot slow anything down.
    #[inline]
    fn cpu_load(&mut self, now: SimTime, s: usize) -> u64 {
        let srv = &mut self.servers[s].cpu;
        if (srv.len() + self.shared_cpu.len()) as u64 >= u64::from(self.plan.cpus) {
            srv.prune(now);
            self.shared_cpu.prune(now);
        }
        (srv.len() + self.shared_cpu.len()) as u64 + 1
    }

    /// Call `id` starts at its server.
    fn execute(&mut self, now: SimTime, id: u32, q: &mut impl Sink<ApiEv>) {
        let c = &mut self.calls[id as usize];
        c.started = now;
        let (s, cpu, etcd_read, write) = (c.server as usize, c.cpu, c.etcd_read, c.write);
        let mut done = self.run_cpu(now, s, cpu);
        if etcd_read > 0 {
            done = self.etcd.read(done, etcd_read as f64);
        }
        if write > 0 {
            if self.etcd.refuses() {
                // etcd's NOSPACE alarm: the write fails, and what waited on it does not
                // happen (the HPA tries again at its next sync; a Ready pod stays out of
                // the endpoints).
                self.etcd.refused += 1;
                let c = &mut self.calls[id as usize];
                c.then = match c.then {
                    Then::Endpoints(si) => Then::EndpointsRefused(si),
                    Then::Created(_) | Then::Bound(_) => c.then,
                    _ => Then::Nothing,
                };
                self.finish(now, done, id, q);
                return;
            }
            // etcd's write latency runs from here.
            self.calls[id as usize].arrived = done;
            if let Some(t) = self.etcd.submit(done, id, write) {
                q.at_free_lane(self.lanes + 1, t, ApiEv::Commit);
            }
            return;
        }
        self.finish(now, done, id, q);
    }

    /// Call `id` is answered at `done` (now or later): its seats go back then (and its
    /// final seats after APF's additional latency), its latency is recorded, and its
    /// continuation runs then.
    fn finish(&mut self, now: SimTime, done: SimTime, id: u32, q: &mut impl Sink<ApiEv>) {
        let c = &self.calls[id as usize];
        let (s, l) = (c.server as usize, c.level as usize);
        let (ticket, res, verb, first, started) = (c.ticket, c.res, c.verb, c.first, c.started);
        let (client, then) = (c.client, c.then);
        match ticket {
            NO_TICKET => {}
            INFLIGHT_SLOT => self.servers[s]
                .inflight_ends
                .push(Reverse((done, verb.mutating()))),
            slot => {
                let lv = &mut self.servers[s].levels[l];
                lv.releases.push(Reverse((done, 0, slot)));
                self.arm(s, l, q);
            }
        }
        let _ = now;
        // The SLO's latency leaves out the wait in APF's queues (sig-scalability's API call
        // latency SLI).
        self.stats
            .answered(done, res, verb, done.since(first), done.since(started));
        if let Some(x) = self.clients_seen.get_mut(usize::from(client)) {
            x.answered += 1;
            x.latency.record(done.since(first));
        }
        if then == Then::Nothing {
            self.free_call(id);
        } else {
            q.at(done, ApiEv::Done(id));
        }
    }

    fn on_commit(&mut self, now: SimTime, q: &mut impl Sink<ApiEv>) {
        let mut batch = std::mem::take(&mut self.batch);
        match self.etcd.commit(now, &mut batch) {
            Committed::Later(t) => q.at_free_lane(self.lanes + 1, t, ApiEv::Commit),
            Committed::Done(next) => {
                if let Some(t) = next {
                    q.at_free_lane(self.lanes + 1, t, ApiEv::Commit);
                }
                for &id in &batch {
                    let c = &self.calls[id as usize];
                    let (arrived, grow) = (c.arrived, c.grow);
                    let endpoints = matches!(c.then, Then::Endpoints(_));
                    self.stats.etcd_write(now.since(arrived));
                    self.etcd.resize(f64::from(grow));
                    let delay = self.fan_out(now, id);
                    if endpoints {
                        // The endpoints reach kube-proxy when the fan-out has sent them.
                        self.finish(now, now + delay, id, q);
                    } else {
                        self.finish(now, now, id, q);
                    }
                }
            }
        }
        self.batch = batch;
    }

    /// Each server sends the watch event of write `c` to its share of the interested
    /// watchers. Returns the mean delay to a watcher.
    fn fan_out(&mut self, now: SimTime, id: u32) -> SimTime {
        let c = &self.calls[id as usize];
        let (fanout, event_bytes, res) = (c.fanout, c.event_bytes, c.res);
        let bytes = f64::from(event_bytes);
        self.stats
            .watch(res, u64::from(fanout), bytes * f64::from(fanout));
        if fanout == 0 {
            return SimTime::ZERO;
        }
        // The same event and watchers as the last write's (most are lease renewals): the same
        // work.
        let key = (fanout, event_bytes);
        let work = if self.fan_work.0 == key {
            self.fan_work.1
        } else {
            let per_server = u64::from(fanout).div_ceil(self.servers.len() as u64);
            let work = cost::codec(bytes)
                + SimTime(cost::WATCH_SEND_CPU.0 * per_server)
                + SimTime::from_secs_f64(bytes * per_server as f64 * cost::NS_PER_SENT_BYTE * 1e-9);
            self.fan_work = (key, work);
            work
        };
        let cores = u64::from(self.plan.cpus);
        if (0..self.servers.len()).all(|s| self.cpu_load(now, s) <= cores) {
            // Every server sends at full speed: one end stands for each server's.
            self.shared_cpu.push(now + work);
            return SimTime(work.0 / 2);
        }
        let mut mean = SimTime::ZERO;
        for s in 0..self.servers.len() {
            let end = self.run_cpu(now, s, work);
            mean = mean.max(SimTime(end.since(now).0 / 2));
        }
        mean
    }

    /// What follows call `c`'s answer.
    fn then(&mut self, now: SimTime, c: Call, q: &mut impl Sink<ApiEv>) {
        match c.then {
            Then::Nothing => {}
            Then::Created(pod) | Then::Bound(pod) => {
                if let Some(p) = self.pod_api(pod) {
                    p.delay = p.delay + now.since(c.first);
                }
            }
            Then::ReadyPatched(pod) => {
                let Some(p) = self.pod_api(pod) else {
                    return;
                };
                if !std::mem::replace(&mut p.ready_pending, false) || p.svc == u32::MAX {
                    return;
                }
                p.in_endpoints = true;
                let si = p.svc as usize;
                self.svcs[si].endpoints += 1;
                self.svcs[si].waiting.push(pod);
                self.endpoints_changed(now, si, q);
            }
            Then::Endpoints(si) => {
                let si = si as usize;
                let svc = &mut self.svcs[si];
                svc.in_flight = false;
                for pod in std::mem::take(&mut svc.carried) {
                    self.answers.push_back(Answer::PodReady(pod));
                }
                if std::mem::take(&mut self.svcs[si].dirty) {
                    self.endpoints_changed(now, si, q);
                }
            }
            Then::Scale(si, d) => self.answers.push_back(Answer::Scale(si, d)),
            Then::EndpointsRefused(si) => {
                // The pods it carried wait for a write that succeeds.
                let svc = &mut self.svcs[si as usize];
                svc.in_flight = false;
                let carried = std::mem::take(&mut svc.carried);
                svc.waiting.extend(carried);
            }
        }
    }

    fn pod_api(&mut self, pod: PodId) -> Option<&mut PodApi> {
        self.pods
            .get_mut(pod.slot as usize)
            .filter(|p| p.generation == pod.generation)
    }

    /// The endpoints of service `si` changed: the endpoints controller writes them (one
    /// write at a time per service; changes meanwhile are folded into the next).
    fn endpoints_changed(&mut self, now: SimTime, si: usize, q: &mut impl Sink<ApiEv>) {
        let legacy = self.plan.endpoints == EndpointsMode::Legacy;
        let svc = &mut self.svcs[si];
        if svc.in_flight {
            svc.dirty = true;
            return;
        }
        svc.in_flight = true;
        svc.carried = std::mem::take(&mut svc.waiting);
        let n = svc.endpoints;
        let bytes = cost::endpoint_change_bytes(n, legacy).min(u64::from(u32::MAX)) as u32;
        let res = if legacy {
            Resource::Endpoints
        } else {
            Resource::Endpointslices
        };
        self.call(
            now,
            Who::Controller,
            Verb::Update,
            res,
            bytes,
            0,
            Then::Endpoints(si as u32),
            q,
        );
    }

    /// A node-wide service's endpoints changed (a DaemonSet pod came or went).
    fn ds_endpoints_changed(&mut self, now: SimTime, q: &mut impl Sink<ApiEv>) {
        let legacy = self.plan.endpoints == EndpointsMode::Legacy;
        let res = if legacy {
            Resource::Endpoints
        } else {
            Resource::Endpointslices
        };
        for k in 0..self.ds_svcs.len() {
            let n = self.ds_svcs[k];
            let bytes = cost::endpoint_change_bytes(n, legacy).min(u64::from(u32::MAX)) as u32;
            self.call(
                now,
                Who::Controller,
                Verb::Update,
                res,
                bytes,
                0,
                Then::Nothing,
                q,
            );
        }
    }

    /// Events written (by the scheduler or a kubelet); they live for the event TTL.
    fn events(&mut self, now: SimTime, who: Who, n: u32, q: &mut impl Sink<ApiEv>) {
        let minute = now.0 / 60_000_000_000;
        let ttl_min = cost::EVENT_TTL.0 / 60_000_000_000;
        while self
            .events
            .front()
            .is_some_and(|&(m, _)| m + ttl_min <= minute)
        {
            let (_, k) = self.events.pop_front().unwrap_or_default();
            self.events_live -= k;
            self.etcd.resize(-(k as f64) * f64::from(cost::EVENT_BYTES));
        }
        match self.events.back_mut() {
            Some((m, k)) if *m == minute => *k += u64::from(n),
            _ => self.events.push_back((minute, u64::from(n))),
        }
        self.events_live += u64::from(n);
        for _ in 0..n {
            self.call(
                now,
                who,
                Verb::Create,
                Resource::Events,
                cost::EVENT_BYTES,
                i64::from(cost::EVENT_BYTES),
                Then::Nothing,
                q,
            );
        }
    }

    /// The HPA writes a service's scale: the cluster sees it when the write is done.
    pub fn scale(&mut self, now: SimTime, si: usize, desired: u32, q: &mut impl Sink<ApiEv>) {
        self.call(
            now,
            Who::Controller,
            Verb::Update,
            Resource::Deployments,
            cost::SMALL_BYTES,
            0,
            Then::Scale(si as u32, desired),
            q,
        );
        self.call(
            now,
            Who::Controller,
            Verb::Update,
            Resource::Replicasets,
            cost::WORKLOAD_BYTES,
            0,
            Then::Nothing,
            q,
        );
    }

    /// A pod changed. Returns true when its Ready must wait for the API (the world then
    /// gets [`Answer::PodReady`] later instead of passing the notice on).
    #[allow(clippy::too_many_arguments)]
    pub fn pod_notice(
        &mut self,
        now: SimTime,
        pod: PodId,
        owner: Owner,
        change: PodChange,
        node: Option<NodeId>,
        image_at: SimTime,
        created: SimTime,
        q: &mut impl Sink<ApiEv>,
    ) -> bool {
        let kubelet = node.map(|n| Who::Kubelet(node_member(n)));
        let slot = pod.slot as usize;
        match change {
            PodChange::Created => {
                if self.pods.len() <= slot {
                    self.pods.resize(slot + 1, PodApi::default());
                }
                self.pods[slot] = PodApi {
                    generation: pod.generation,
                    svc: u32::MAX,
                    ..PodApi::default()
                };
                self.pods_live += 1;
                self.call(
                    now,
                    Who::Controller,
                    Verb::Create,
                    Resource::Pods,
                    cost::POD_BYTES,
                    i64::from(cost::POD_BYTES),
                    Then::Created(pod),
                    q,
                );
                false
            }
            PodChange::Bound => {
                if let Some(p) = self.pod_api(pod) {
                    p.bound_at = now;
                }
                self.call(
                    now,
                    Who::Scheduler,
                    Verb::Create,
                    Resource::Pods,
                    cost::SMALL_BYTES,
                    0,
                    Then::Bound(pod),
                    q,
                );
                self.events(now, Who::Scheduler, 1, q);
                false
            }
            PodChange::Ready => {
                let who = kubelet.unwrap_or(Who::Controller);
                let (delay, bound_at) = self
                    .pod_api(pod)
                    .map_or((SimTime::ZERO, now), |p| (p.delay, p.bound_at));
                // Start-up, as the SLO measures it: from creation to Ready as the API shows
                // it, less the image pull.
                let pull = image_at.since(bound_at.min(image_at));
                self.events(now, who, cost::EVENTS_PER_POD_START - 1, q);
                let service = matches!(owner, Owner::Service(_));
                let then = match owner {
                    Owner::Service(si) => {
                        if let Some(p) = self.pod_api(pod) {
                            p.svc = si;
                            p.ready_pending = true;
                        }
                        Then::ReadyPatched(pod)
                    }
                    _ => Then::Nothing,
                };
                // The kubelet started the pod `delay` late: its status patch goes then.
                let at = now + delay;
                self.stats
                    .pod_started(at.since(created).since(pull.min(at.since(created))));
                let id = self.new_call(Call {
                    first: at,
                    arrived: at,
                    started: at,
                    server: self.server_of(who),
                    res: Resource::Pods,
                    verb: Verb::Patch,
                    then,
                    ..Call::BLANK
                });
                self.prepare(id, who);
                if delay > SimTime::ZERO {
                    q.at(at, ApiEv::Send(id));
                } else {
                    self.arrive(now, id, q);
                }
                service
            }
            PodChange::Terminating => {
                self.call(
                    now,
                    Who::Controller,
                    Verb::Delete,
                    Resource::Pods,
                    cost::POD_BYTES,
                    0,
                    Then::Nothing,
                    q,
                );
                self.leave_endpoints(now, pod, owner, q);
                false
            }
            PodChange::NotReady => {
                self.call(
                    now,
                    Who::Controller,
                    Verb::Patch,
                    Resource::Pods,
                    cost::POD_BYTES,
                    0,
                    Then::Nothing,
                    q,
                );
                self.leave_endpoints(now, pod, owner, q);
                false
            }
            PodChange::Preempted => {
                self.call(
                    now,
                    Who::Scheduler,
                    Verb::Delete,
                    Resource::Pods,
                    cost::POD_BYTES,
                    0,
                    Then::Nothing,
                    q,
                );
                false
            }
            PodChange::Gone { bound } => {
                let who = if bound {
                    kubelet.unwrap_or(Who::Controller)
                } else {
                    Who::Controller
                };
                self.leave_endpoints(now, pod, owner, q);
                self.pods_live = self.pods_live.saturating_sub(1);
                self.call(
                    now,
                    who,
                    Verb::Delete,
                    Resource::Pods,
                    cost::SMALL_BYTES,
                    -i64::from(cost::POD_BYTES),
                    Then::Nothing,
                    q,
                );
                if let Some(p) = self.pod_api(pod) {
                    p.generation = u32::MAX;
                }
                false
            }
            PodChange::Lost | PodChange::GraceOver => false,
        }
    }

    /// Fills in call `id`'s classification and costs as a status patch from `who`.
    fn prepare(&mut self, id: u32, who: Who) {
        let (level, flow) = self.classify(who, Verb::Patch, Resource::Pods);
        let watchers = self.watchers(Resource::Pods);
        let work = apf::mutating_work(watchers, self.max_seats[level]);
        let fanout = self.interested(Resource::Pods);
        let c = &mut self.calls[id as usize];
        c.level = level as u8;
        c.flow = flow;
        c.work = work;
        c.cpu = cost::CALL_CPU + cost::codec(3.0 * f64::from(cost::POD_BYTES));
        c.write = cost::POD_BYTES;
        c.fanout = fanout;
        c.event_bytes = cost::POD_BYTES;
    }

    fn leave_endpoints(
        &mut self,
        now: SimTime,
        pod: PodId,
        owner: Owner,
        q: &mut impl Sink<ApiEv>,
    ) {
        let Owner::Service(si) = owner else {
            return;
        };
        let was = self
            .pod_api(pod)
            .map(|p| {
                p.ready_pending = false;
                std::mem::replace(&mut p.in_endpoints, false)
            })
            .unwrap_or(false);
        if was {
            let svc = &mut self.svcs[si as usize];
            svc.endpoints = svc.endpoints.saturating_sub(1);
            svc.waiting.retain(|&p| p != pod);
            self.endpoints_changed(now, si as usize, q);
        }
    }

    /// A node changed.
    pub fn node_notice(
        &mut self,
        now: SimTime,
        node: NodeId,
        change: NodeChange,
        q: &mut impl Sink<ApiEv>,
    ) {
        let kubelet = Who::Kubelet(node_member(node));
        match change {
            NodeChange::Joined => {
                self.add_node(now, node.pool, node.node);
                let per_node = [
                    (kubelet, Verb::Create, Resource::Nodes, cost::NODE_BYTES),
                    (kubelet, Verb::Create, Resource::Leases, cost::LEASE_BYTES),
                    (kubelet, Verb::Patch, Resource::Nodes, cost::NODE_BYTES),
                ];
                for (who, verb, res, bytes) in per_node {
                    let grow = if verb == Verb::Create {
                        i64::from(bytes)
                    } else {
                        0
                    };
                    self.call(now, who, verb, res, bytes, grow, Then::Nothing, q);
                }
                // The new node's kubelet and kube-proxy list what they watch, from the
                // watch cache as informers do.
                let proxy = Who::KubeProxy(node_member(node));
                let pods = self.objects(Resource::Pods);
                // By `spec.nodeName`, which the watch cache indexes: a new node has no pods.
                self.list(
                    now,
                    kubelet,
                    Resource::Pods,
                    pods,
                    0,
                    true,
                    ReadFrom::Cache,
                    q,
                );
                let legacy = self.plan.endpoints == EndpointsMode::Legacy;
                let (res, objects, bytes) = if legacy {
                    let eps: u64 = self
                        .svcs
                        .iter()
                        .map(|s| cost::endpoints_bytes(s.endpoints))
                        .chain(self.ds_svcs.iter().map(|&n| cost::endpoints_bytes(n)))
                        .sum();
                    (Resource::Endpoints, self.objects(Resource::Endpoints), eps)
                } else {
                    let n = self.slices();
                    let eps: u64 = self
                        .svcs
                        .iter()
                        .map(|s| cost::endpoints_bytes(s.endpoints))
                        .chain(self.ds_svcs.iter().map(|&n| cost::endpoints_bytes(n)))
                        .sum();
                    (Resource::Endpointslices, n, eps)
                };
                self.list(now, proxy, res, objects, bytes, false, ReadFrom::Cache, q);
                let services = self.objects(Resource::Services);
                self.list(
                    now,
                    proxy,
                    Resource::Services,
                    services,
                    services * u64::from(cost::SERVICE_BYTES),
                    false,
                    ReadFrom::Cache,
                    q,
                );
                // Its agents (per-node clients) start, and list at once as informers do.
                let m = node_member(node);
                for ci in 0..self.plan.clients.len() {
                    if self.plan.clients[ci].per_node {
                        self.client_call(now, ci, m, q);
                    }
                }
                // Its DaemonSet pods.
                for _ in 0..self.plan.daemonsets.len() {
                    self.pods_live += 1;
                    for (who, verb) in [
                        (Who::Controller, Verb::Create),
                        (Who::Scheduler, Verb::Create),
                        (kubelet, Verb::Patch),
                    ] {
                        self.call(
                            now,
                            who,
                            verb,
                            Resource::Pods,
                            cost::POD_BYTES,
                            0,
                            Then::Nothing,
                            q,
                        );
                    }
                }
                if !self.ds_svcs.is_empty() {
                    for e in &mut self.ds_svcs {
                        *e += 1;
                    }
                    self.ds_endpoints_changed(now, q);
                }
                self.reschedule_rings(q);
            }
            NodeChange::Failed => {
                // Its kubelet goes silent.
                self.remove_node(node.pool, node.node);
                self.reschedule_rings(q);
            }
            NodeChange::NotReady => {
                self.call(
                    now,
                    Who::Controller,
                    Verb::Patch,
                    Resource::Nodes,
                    cost::NODE_BYTES,
                    0,
                    Then::Nothing,
                    q,
                );
                if !self.ds_svcs.is_empty() {
                    for e in &mut self.ds_svcs {
                        *e = e.saturating_sub(1);
                    }
                    self.ds_endpoints_changed(now, q);
                }
            }
            NodeChange::Removed => {
                self.remove_node(node.pool, node.node);
                let ds = self.plan.daemonsets.len() as u64;
                self.pods_live = self.pods_live.saturating_sub(ds);
                for res in [Resource::Nodes, Resource::Leases] {
                    self.call(
                        now,
                        Who::Controller,
                        Verb::Delete,
                        res,
                        cost::SMALL_BYTES,
                        -i64::from(self.object_bytes(res)),
                        Then::Nothing,
                        q,
                    );
                }
                self.reschedule_rings(q);
            }
        }
    }

    /// The figures of the replication.
    pub fn finish_run(self, end: SimTime, warmup: SimTime) -> ApiResult {
        let seats: Vec<Vec<u32>> = self
            .servers
            .iter()
            .map(|s| s.levels.iter().map(|l| l.qs.seats_in_use()).collect())
            .collect();
        let memory = self.memory_bytes();
        let mut r = self.stats.finish(
            end,
            &seats,
            &self.nominal,
            apf::DEFAULT_LEVELS.iter().map(|l| l.name),
            &self.etcd,
            memory,
            self.plan.apf,
        );
        // One component per `clients:` entry: how its calls fared.
        let secs = end.since(warmup.min(end)).as_secs_f64().max(1e-9);
        for (c, x) in self.plan.clients.iter().zip(&self.clients_seen) {
            let name = format!("client/{}", c.name);
            let p99 = if x.latency.count() > 0 {
                x.latency.quantile_ms(0.99)
            } else {
                0.0
            };
            r.metrics
                .push((name.clone(), "requests_rps", x.answered as f64 / secs));
            r.metrics
                .push((name.clone(), "rejected_429", x.rejected as f64));
            r.metrics.push((name, "latency_p99_ms", p99));
        }
        r
    }

    /// Memory of one API server now: a base, the watch cache's decoded objects, and its
    /// share of the watches.
    fn memory_bytes(&self) -> f64 {
        let objects = self.etcd.live_bytes;
        // Every node's kubelet and kube-proxy watch their own Node, beside the watches
        // counted per write.
        let watches: u64 =
            Resource::ALL.iter().map(|&r| self.watchers(r)).sum::<u64>() + 2 * self.nodes_live;
        cost::BASE_MEMORY
            + objects * cost::CACHE_BYTES_PER_BYTE
            + watches as f64 / self.servers.len() as f64 * cost::WATCHER_BYTES
    }

    /// The timeseries sample at `now`, `secs` seconds after the last one: per priority level
    /// (summed over the servers) the calls dispatched and rejected per second over the
    /// interval and the calls queued and seats held at the sample; the servers' requests,
    /// mutating p99 and watch bytes over the interval and one server's memory now (the
    /// summary reports its peak over the samples); etcd's writes and size. Reads the
    /// simulation's state without changing it.
    pub fn sample(&mut self, now: SimTime, secs: f64) -> stats::ApiSample {
        let memory = self.memory_bytes();
        self.stats.memory(memory);
        let mut x = self.stats.take_interval(secs);
        const GIB: f64 = (1u64 << 30) as f64;
        x.memory_gib = memory / GIB;
        x.db_size_gib = self.etcd.db_bytes / GIB;
        match (&mut x.levels, self.plan.apf) {
            (Some(levels), true) => {
                for (l, out) in levels.iter_mut().enumerate() {
                    for srv in &self.servers {
                        let lv = &srv.levels[l];
                        out.queue_length += f64::from(lv.qs.waiting());
                        out.seats_in_use += f64::from(seats_at(lv, now));
                    }
                }
            }
            (levels, _) => *levels = None,
        }
        x
    }
}

/// Seats held at level `lv` at `now`: what its queue set holds less what is due back by
/// then (the level hands seats back lazily, when a call arrives or a wake comes).
fn seats_at(lv: &Level, now: SimTime) -> u32 {
    let due: u32 = lv
        .releases
        .iter()
        .map(|&Reverse((t, stage, slot))| {
            let ticket = lv.tickets[slot as usize];
            // An execution's end frees its seats then, or after its final seats' linger.
            let back = if stage == 0 { t + ticket.linger } else { t };
            if back <= now { ticket.seats() } else { 0 }
        })
        .sum();
    lv.qs.seats_in_use().saturating_sub(due)
}

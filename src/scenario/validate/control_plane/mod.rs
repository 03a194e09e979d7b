//! `control_plane:`: the API servers and their in-flight limits, APF, etcd, the endpoints
//! API, the kubelets' heartbeats, other clients, node-join bursts and DaemonSets, checked
//! and resolved with upstream's defaults.

use super::{Errs, did_you_mean, unique_names};
use crate::apiserver::plan::{
    ClientPlan, ControlPlanePlan, DaemonSetPlan, EndpointsMode, EtcdPlan, KubeletPlan,
    NodeJoinPlan, PRIORITY_LEVELS, ReadFrom, Resource, Verb, etcd_disk,
};
use crate::cluster::ClusterPlan;
use crate::engine::SimTime;
use crate::scenario::control_plane::{ApfSpec, EndpointsSpec, EtcdDiskSpec, ReadFromSpec};
use crate::scenario::types::{Scenario, limits};
use crate::sim::plan::PoolPlan;

/// Defaults, each from its upstream source.
mod default {
    use crate::engine::SimTime;

    /// One API server: what `kubeadm init` sets up (a single control-plane node; more are
    /// added with `kubeadm join --control-plane`), and the conservative choice: capacity is
    /// added by choice, not assumed.
    pub const APISERVERS: u32 = 1;
    /// kube-apiserver's `--max-requests-inflight` default.
    pub const MAX_REQUESTS_INFLIGHT: u32 = 400;
    /// kube-apiserver's `--max-mutating-requests-inflight` default.
    pub const MAX_MUTATING_REQUESTS_INFLIGHT: u32 = 200;
    /// Ours (kube-apiserver has no such setting): a control-plane machine sized for
    /// thousands of nodes.
    pub const APISERVER_CPUS: u32 = 16;
    /// Three members: etcd's recommended minimum for a cluster that survives one member's
    /// loss (etcd's FAQ and its clustering guide's examples).
    pub const ETCD_MEMBERS: u32 = 3;
    /// etcd's `--quota-backend-bytes` default, 2 GiB.
    pub const QUOTA_BYTES: u64 = 2 << 30;
    /// KubeletConfiguration's `nodeStatusUpdateFrequency` default.
    pub const STATUS_UPDATE: SimTime = SimTime::from_secs(10);
    /// KubeletConfiguration's `nodeStatusReportFrequency` default (when
    /// `nodeStatusUpdateFrequency` is not given; else that, pkg/kubelet/apis/config/v1beta1).
    pub const STATUS_REPORT: SimTime = SimTime::from_secs(5 * 60);
    /// KubeletConfiguration's `nodeLeaseDurationSeconds` default.
    pub const LEASE_DURATION: SimTime = SimTime::from_secs(40);
}

/// Most API server replicas.
pub const MAX_APISERVERS: u64 = 100;
/// Largest in-flight limit of either kind, per server.
pub const MAX_INFLIGHT: u64 = 100_000;
/// Most CPU cores per API server.
pub const MAX_APISERVER_CPUS: u64 = 1024;
/// Most etcd members: etcd's documentation advises against clusters above seven members
/// (each write must reach a majority).
pub const MAX_ETCD_MEMBERS: u64 = 7;
/// Longest commit latency a `write_latency` may give.
pub const MAX_WRITE_LATENCY: SimTime = SimTime::from_secs(10);
/// Smallest etcd quota.
pub const MIN_QUOTA_BYTES: f64 = (1u64 << 20) as f64;
/// Largest etcd quota: etcd suggests at most 8 GiB and warns above it; far above is a slip.
pub const MAX_QUOTA_BYTES: f64 = (100u64 << 30) as f64;
/// A client's shortest period: one call a second per instance, so that one client entry
/// costs at most a second's events per instance; more calls are more instances (`count`).
pub const MIN_CLIENT_PERIOD: SimTime = SimTime::from_secs(1);
/// Most instances of one client.
pub const MAX_CLIENT_COUNT: u64 = 1_000_000;

/// `control_plane:`, resolved (None when absent or with errors). The kubelets' lease renew
/// interval becomes the cluster's heartbeat (`cluster.node_status_update_frequency`), which
/// the node lifecycle controller's grace period must exceed.
pub(super) fn resolve(
    e: &mut Errs,
    sc: &Scenario,
    pools: &[Option<PoolPlan>],
    cluster: &mut ClusterPlan,
) -> Option<ControlPlanePlan> {
    let cp = sc.control_plane.as_ref()?;
    let mut ok = true;
    let mut count = |e: &mut Errs, field: &str, v: Option<u64>, dflt: u32, max: u64| -> u32 {
        let Some(v) = v else { return dflt };
        if v == 0 || v > max {
            e.at(
                &format!("control_plane.{field}"),
                format!(
                    "{} must be from 1 to {max} (found {v})",
                    field.rsplit('.').next().unwrap_or(field)
                ),
            );
            ok = false;
            return dflt;
        }
        v as u32
    };
    let apiservers = count(
        e,
        "apiservers",
        cp.apiservers,
        default::APISERVERS,
        MAX_APISERVERS,
    );
    let max_requests_inflight = count(
        e,
        "max_requests_inflight",
        cp.max_requests_inflight,
        default::MAX_REQUESTS_INFLIGHT,
        MAX_INFLIGHT,
    );
    let max_mutating_requests_inflight = count(
        e,
        "max_mutating_requests_inflight",
        cp.max_mutating_requests_inflight,
        default::MAX_MUTATING_REQUESTS_INFLIGHT,
        MAX_INFLIGHT,
    );
    let cpus = count(
        e,
        "apiserver_cpus",
        cp.apiserver_cpus,
        default::APISERVER_CPUS,
        MAX_APISERVER_CPUS,
    );
    let etcd = etcd_plan(e, cp, &mut ok);
    let kubelet = kubelet_plan(e, cp, cluster, &mut ok);
    let clients = clients(e, cp, &mut ok);
    let node_joins = node_joins(e, sc, pools, &mut ok);
    unique_names(
        e,
        "control_plane.daemonsets",
        cp.daemonsets.iter().map(|d| d.name.as_str()),
    );
    for (i, d) in cp.daemonsets.iter().enumerate() {
        if d.service && sc.services.iter().any(|s| s.name == d.name) {
            e.at(
                &format!("control_plane.daemonsets[{i}].name"),
                format!(
                    "a service named `{}` is in `services` already: the DaemonSet's Service \
                     would take the same name",
                    d.name
                ),
            );
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    // The heartbeat the node lifecycle controller watches is the lease's renewal.
    cluster.node_status_update_frequency = kubelet.as_ref()?.lease_renew;
    Some(ControlPlanePlan {
        apiservers,
        max_requests_inflight,
        max_mutating_requests_inflight,
        apf: cp.apf == ApfSpec::Default,
        cpus,
        etcd: etcd?,
        endpoints: match cp.endpoints {
            EndpointsSpec::Slices => EndpointsMode::Slices,
            EndpointsSpec::Legacy => EndpointsMode::Legacy,
        },
        kubelet: kubelet?,
        clients,
        node_joins,
        daemonsets: cp
            .daemonsets
            .iter()
            .map(|d| DaemonSetPlan {
                name: d.name.clone(),
                service: d.service,
            })
            .collect(),
    })
}

/// `control_plane.etcd`.
fn etcd_plan(
    e: &mut Errs,
    cp: &crate::scenario::control_plane::ControlPlaneSpec,
    ok: &mut bool,
) -> Option<EtcdPlan> {
    let members = match cp.etcd.members {
        None => Some(default::ETCD_MEMBERS),
        Some(m) if m % 2 == 1 && m <= MAX_ETCD_MEMBERS => Some(m as u32),
        Some(m) => {
            e.at(
                "control_plane.etcd.members",
                format!(
                    "members must be odd and from 1 to {MAX_ETCD_MEMBERS} (found {m}): a write \
                     commits on a majority, so an even count tolerates no more failures than \
                     the odd count below it, and etcd advises against more than \
                     {MAX_ETCD_MEMBERS}"
                ),
            );
            None
        }
    };
    let disk = match cp.etcd.disk {
        None | Some(EtcdDiskSpec::LocalSsd) => Some(("local_ssd", SimTime::ZERO)),
        Some(EtcdDiskSpec::NetworkSsd) => Some(("network_ssd", SimTime::ZERO)),
        Some(EtcdDiskSpec::WriteLatency(d)) if d.0 > SimTime::ZERO && d.0 <= MAX_WRITE_LATENCY => {
            Some(("custom", d.0))
        }
        Some(EtcdDiskSpec::WriteLatency(d)) => {
            e.at(
                "control_plane.etcd.disk.write_latency",
                format!(
                    "write_latency must be longer than 0s and at most {MAX_WRITE_LATENCY} \
                     (found {})",
                    d.0
                ),
            );
            None
        }
    };
    let quota_bytes = match cp.etcd.quota_backend_bytes {
        None => Some(default::QUOTA_BYTES),
        Some(b) if (MIN_QUOTA_BYTES..=MAX_QUOTA_BYTES).contains(&b.0) => Some(b.0.round() as u64),
        Some(b) => {
            e.at(
                "control_plane.etcd.quota_backend_bytes",
                format!(
                    "quota_backend_bytes must be from 1MiB to 100GiB (found {} bytes); etcd \
                     suggests at most 8GiB and warns above it",
                    crate::units::fmt_count(b.0)
                ),
            );
            None
        }
    };
    let (Some(members), Some((disk, given)), Some(quota_bytes)) = (members, disk, quota_bytes)
    else {
        *ok = false;
        return None;
    };
    let (commit_latency, per_write, disk_bandwidth, disk_iops) = etcd_disk(disk, given);
    let iops = match cp.etcd.iops {
        None => disk_iops,
        Some(n) if (1..=10_000_000).contains(&n) => n as f64,
        Some(n) => {
            e.at(
                "control_plane.etcd.iops",
                format!("iops must be from 1 to 10000000 (found {n})"),
            );
            *ok = false;
            return None;
        }
    };
    Some(EtcdPlan {
        members,
        disk: disk.to_string(),
        commit_latency,
        per_write,
        disk_bandwidth,
        iops,
        quota_bytes,
    })
}

/// `control_plane.kubelet`, with the kubelet's own defaulting: a report frequency not given
/// follows a given update frequency.
fn kubelet_plan(
    e: &mut Errs,
    cp: &crate::scenario::control_plane::ControlPlaneSpec,
    cluster: &ClusterPlan,
    ok: &mut bool,
) -> Option<KubeletPlan> {
    let k = &cp.kubelet;
    let at = |f: &str| format!("control_plane.kubelet.{f}");
    let status_update = k
        .node_status_update_frequency
        .map_or(default::STATUS_UPDATE, |d| d.0);
    let status_report = match (
        k.node_status_report_frequency,
        k.node_status_update_frequency,
    ) {
        (Some(r), _) => r.0,
        (None, Some(u)) => u.0,
        (None, None) => default::STATUS_REPORT,
    };
    let lease_duration = k
        .node_lease_duration
        .map_or(default::LEASE_DURATION, |d| d.0);
    let mut good = true;
    for (field, v) in [
        ("node_status_update_frequency", status_update),
        ("node_status_report_frequency", status_report),
        ("node_lease_duration", lease_duration),
    ] {
        if v == SimTime::ZERO {
            e.at(&at(field), format!("{field} must be longer than 0s"));
            good = false;
        }
    }
    if good && !lease_duration.nanos().is_multiple_of(1_000_000_000) {
        e.at(
            &at("node_lease_duration"),
            format!(
                "node_lease_duration is whole seconds, as the kubelet's \
                 nodeLeaseDurationSeconds (found {lease_duration})"
            ),
        );
        good = false;
    }
    // pkg/kubelet/kubelet.go: renewInterval = leaseDuration x nodeLeaseRenewIntervalFraction
    // (0.25).
    let lease_renew = SimTime(lease_duration.nanos() / 4);
    if good && lease_renew >= cluster.node_monitor_grace_period {
        e.at(
            &at("node_lease_duration"),
            format!(
                "the kubelet renews its lease every quarter of node_lease_duration ({lease_renew}), \
                 but the node lifecycle controller marks a node NotReady after \
                 cluster.node_monitor_grace_period ({}) without a renewal: every node would go \
                 NotReady between renewals; shorten node_lease_duration or lengthen the grace \
                 period",
                cluster.node_monitor_grace_period
            ),
        );
        good = false;
    }
    if !good {
        *ok = false;
        return None;
    }
    Some(KubeletPlan {
        status_update,
        status_report,
        lease_duration,
        lease_renew,
    })
}

/// `control_plane.clients`.
fn clients(
    e: &mut Errs,
    cp: &crate::scenario::control_plane::ControlPlaneSpec,
    ok: &mut bool,
) -> Vec<ClientPlan> {
    unique_names(
        e,
        "control_plane.clients",
        cp.clients.iter().map(|c| c.name.as_str()),
    );
    let verbs: Vec<&str> = Verb::ALL.iter().map(|v| v.name()).collect();
    let resources: Vec<&str> = Resource::ALL.iter().map(|r| r.name()).collect();
    let mut out = Vec::new();
    for (i, c) in cp.clients.iter().enumerate() {
        let at = |f: &str| format!("control_plane.clients[{i}].{f}");
        let before = e.out.len();
        let verb = Verb::ALL.into_iter().find(|v| v.name() == c.verb);
        if verb.is_none() {
            e.at(
                &at("verb"),
                format!("unknown verb `{}`{}", c.verb, did_you_mean(&c.verb, &verbs)),
            );
        }
        let resource = Resource::ALL.into_iter().find(|r| r.name() == c.resource);
        if resource.is_none() {
            e.at(
                &at("resource"),
                format!(
                    "unknown resource `{}` (resources are named by their plural lower-case REST \
                     name){}",
                    c.resource,
                    did_you_mean(&c.resource, &resources)
                ),
            );
        }
        if c.every.0 < MIN_CLIENT_PERIOD {
            e.at(
                &at("every"),
                format!(
                    "every must be at least {MIN_CLIENT_PERIOD} (found {}): one instance calls at \
                     most once a second; for more calls, raise `count` or add clients",
                    c.every.0
                ),
            );
        }
        // 1 when per node too (the plan ignores it there).
        let count = match (c.per_node, c.count) {
            (_, None) => 1,
            (true, Some(_)) => {
                e.at(
                    &at("count"),
                    "give `per_node: true` or `count`, not both: a per-node client has one \
                     instance on every node",
                );
                1
            }
            (false, Some(n)) if n == 0 || n > MAX_CLIENT_COUNT => {
                e.at(
                    &at("count"),
                    format!("count must be from 1 to {MAX_CLIENT_COUNT} (found {n})"),
                );
                1
            }
            (false, Some(n)) => n as u32,
        };
        if let (Some(v), Some(_)) = (verb, c.read_from)
            && v.mutating()
        {
            e.at(
                &at("read_from"),
                format!(
                    "read_from applies to reads (get, list): a `{}` is a write, which etcd \
                     always serves",
                    v.name()
                ),
            );
        }
        if let Some(p) = &c.priority_level
            && !PRIORITY_LEVELS.contains(&p.as_str())
        {
            e.at(
                &at("priority_level"),
                format!(
                    "unknown priority level `{p}`{}",
                    did_you_mean(p, &PRIORITY_LEVELS)
                ),
            );
        }
        let (Some(verb), Some(resource)) = (verb, resource) else {
            *ok = false;
            continue;
        };
        if e.out.len() > before {
            *ok = false;
            continue;
        }
        out.push(ClientPlan {
            name: c.name.clone(),
            per_node: c.per_node,
            count,
            verb,
            resource,
            every: c.every.0,
            // A plain client reads without a resourceVersion: a quorum read from etcd.
            read_from: match c.read_from {
                Some(ReadFromSpec::Cache) => ReadFrom::Cache,
                Some(ReadFromSpec::Etcd) | None => ReadFrom::Etcd,
            },
            priority_level: c.priority_level.clone(),
        });
    }
    out
}

/// `control_plane.node_joins`: each names a pool, and a pool's nodes with every join stay
/// within the limit of one pool.
fn node_joins(
    e: &mut Errs,
    sc: &Scenario,
    pools: &[Option<PoolPlan>],
    ok: &mut bool,
) -> Vec<NodeJoinPlan> {
    let Some(cp) = &sc.control_plane else {
        return Vec::new();
    };
    let pool_names: Vec<&str> = sc.node_pools.iter().map(|p| p.name.as_str()).collect();
    // Per pool: its most nodes (initial or the cluster autoscaler's maximum) plus the joins.
    let mut most: Vec<u64> = pools
        .iter()
        .map(|p| {
            p.as_ref()
                .map_or(0, |p| u64::from(p.nodes.max(p.max_nodes)))
        })
        .collect();
    let mut out = Vec::new();
    for (i, j) in cp.node_joins.iter().enumerate() {
        let at = |f: &str| format!("control_plane.node_joins[{i}].{f}");
        let before = e.out.len();
        let pool = sc.node_pools.iter().position(|p| p.name == j.pool);
        if pool.is_none() {
            e.at(
                &at("pool"),
                format!(
                    "unknown node pool `{}`{}",
                    j.pool,
                    did_you_mean(&j.pool, &pool_names)
                ),
            );
        }
        if j.nodes == 0 || j.nodes > limits::MAX_NODES {
            e.at(
                &at("nodes"),
                format!(
                    "nodes must be from 1 to {} (found {})",
                    limits::MAX_NODES,
                    j.nodes
                ),
            );
        } else if let Some(p) = pool
            && let Some(m) = most.get_mut(p)
        {
            *m += j.nodes;
            if *m > limits::MAX_NODES {
                e.at(
                    &at("nodes"),
                    format!(
                        "pool `{}` would have {m} nodes with this join (its most nodes plus the \
                         joins so far): the limit is {} per pool",
                        j.pool,
                        limits::MAX_NODES
                    ),
                );
            }
        }
        // A join at or after the end never happens (a run shortened with `--set duration`).
        let pool = pool.and_then(|p| {
            let index = u16::try_from(p).ok();
            if index.is_none() {
                e.at(
                    &at("pool"),
                    format!(
                        "node joins reach the first {} node pools only; `{}` is pool {p}",
                        u32::from(u16::MAX) + 1,
                        j.pool
                    ),
                );
            }
            index
        });
        let Some(pool) = pool else {
            *ok = false;
            continue;
        };
        if e.out.len() > before {
            *ok = false;
            continue;
        }
        out.push(NodeJoinPlan {
            pool,
            time: j.time.0,
            nodes: j.nodes as u32,
            over: j.over.0,
        });
    }
    out
}

#[cfg(test)]
mod tests;

//! Classification by kube-apiserver's default FlowSchemas
//! (`pkg/apis/flowcontrol/bootstrap/default.go`, kubernetes/apiserver @ 24a394e5): which
//! schema a request matches, hence its priority level, and its flow.

use super::config::level;
use crate::apiserver::plan::{Resource, Verb};

/// Who sends a request, as far as the default FlowSchemas can tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Requester {
    /// The kubelet of a node (user `system:node:<name>`, group `system:nodes`).
    Kubelet(u32),
    /// kube-proxy, running as the `kube-system/kube-proxy` service account (as kubeadm
    /// deploys it). Its flow is by namespace, so every node's kube-proxy shares one.
    KubeProxy,
    /// kube-scheduler (user `system:kube-scheduler`).
    Scheduler,
    /// kube-controller-manager with its own credentials (user
    /// `system:kube-controller-manager`): its leader election and, without
    /// `--use-service-account-credentials`, its controllers.
    ControllerManager,
    /// A service account of `kube-system`, by number: the controller-manager's controllers
    /// with `--use-service-account-credentials` (kubeadm's default; the endpoint-slice,
    /// replicaset, deployment controllers ...), and system add-ons.
    KubeSystemServiceAccount(u32),
    /// A service account of any other namespace (a pod's agent, an operator), by number.
    ServiceAccount(u32),
    /// Any other authenticated user (a person, CI), by number.
    User(u32),
    /// A member of `system:masters` (cluster admin).
    Masters,
}

/// The namespace a request is in, which the by-namespace schemas use as its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Namespace {
    /// None: a cluster-scoped object, or a list or watch across all namespaces.
    All,
    /// `kube-system`.
    KubeSystem,
    /// `kube-node-lease`, where the kubelets' leases are.
    KubeNodeLease,
    /// Another namespace, by number.
    Named(u32),
}

/// How a schema tells flows apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distinguisher {
    /// Not at all (one flow).
    None,
    /// By the requesting user's name.
    ByUser,
    /// By the request's namespace.
    ByNamespace,
}

/// One default FlowSchema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowSchema {
    /// Its name.
    pub name: &'static str,
    /// `matchingPrecedence`: lower is tried first.
    pub precedence: u32,
    /// Its priority level's index in [`super::DEFAULT_LEVELS`].
    pub level: usize,
    /// How it tells flows apart.
    pub distinguisher: Distinguisher,
}

const fn schema(
    name: &'static str,
    precedence: u32,
    level: usize,
    distinguisher: Distinguisher,
) -> FlowSchema {
    FlowSchema {
        name,
        precedence,
        level,
        distinguisher,
    }
}

/// The default FlowSchemas in matching order (precedence, then name), with their
/// precedences, levels and distinguishers from default.go @ 24a394e5. `probes` matches only
/// `/healthz`, `/readyz` and `/livez`, which are not modelled.
pub const DEFAULT_FLOW_SCHEMAS: [FlowSchema; 11] = [
    schema("exempt", 1, level::EXEMPT, Distinguisher::None),
    schema("probes", 2, level::EXEMPT, Distinguisher::None),
    schema(
        "system-leader-election",
        100,
        level::LEADER_ELECTION,
        Distinguisher::ByUser,
    ),
    schema(
        "system-node-high",
        400,
        level::NODE_HIGH,
        Distinguisher::ByUser,
    ),
    schema("system-nodes", 500, level::SYSTEM, Distinguisher::ByUser),
    schema(
        "kube-controller-manager",
        800,
        level::WORKLOAD_HIGH,
        Distinguisher::ByNamespace,
    ),
    schema(
        "kube-scheduler",
        800,
        level::WORKLOAD_HIGH,
        Distinguisher::ByNamespace,
    ),
    schema(
        "kube-system-service-accounts",
        900,
        level::WORKLOAD_HIGH,
        Distinguisher::ByNamespace,
    ),
    schema(
        "service-accounts",
        9000,
        level::WORKLOAD_LOW,
        Distinguisher::ByUser,
    ),
    schema(
        "global-default",
        9900,
        level::GLOBAL_DEFAULT,
        Distinguisher::ByUser,
    ),
    schema("catch-all", 10000, level::CATCH_ALL, Distinguisher::ByUser),
];

/// The outcome of classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    /// The FlowSchema's name.
    pub schema: &'static str,
    /// The priority level's index in [`super::DEFAULT_LEVELS`].
    pub level: usize,
    /// The flow's hash, from the schema's name and the distinguisher (user or namespace):
    /// the same in every run. 0 where upstream computes none (the exempt and catch-all
    /// levels, which have no queues).
    pub flow: u64,
}

/// Whether the default schema at `index` of [`DEFAULT_FLOW_SCHEMAS`] matches: by index
/// rather than by name, since this runs for every request (a test checks the names).
const fn matches(index: usize, who: Requester, verb: Verb, resource: Resource) -> bool {
    use Requester::*;
    let kube_system_sa = matches!(who, KubeProxy | KubeSystemServiceAccount(_));
    match index {
        // exempt: group system:masters.
        0 => matches!(who, Masters),
        // probes: only /healthz, /readyz and /livez, no resource.
        1 => false,
        // system-leader-election: get, create and update of leases.
        2 => {
            (matches!(who, ControllerManager | Scheduler) || kube_system_sa)
                && matches!(verb, Verb::Get | Verb::Create | Verb::Update)
                && matches!(resource, Resource::Leases)
        }
        // system-node-high: nodes (and their status) and leases, any verb.
        3 => matches!(who, Kubelet(_)) && matches!(resource, Resource::Nodes | Resource::Leases),
        // system-nodes.
        4 => matches!(who, Kubelet(_)),
        // kube-controller-manager.
        5 => matches!(who, ControllerManager),
        // kube-scheduler.
        6 => matches!(who, Scheduler),
        // kube-system-service-accounts.
        7 => kube_system_sa,
        // service-accounts: every service account.
        8 => matches!(who, ServiceAccount(_)) || kube_system_sa,
        // global-default and catch-all: everyone is authenticated or not.
        _ => true,
    }
}

/// Classifies a request in the namespace its kind usually has: kubelets' leases in
/// `kube-node-lease`, other leases in `kube-system`, everything else across all namespaces
/// (or cluster-scoped). See [`classify_in`] to give the namespace.
pub fn classify(who: Requester, verb: Verb, resource: Resource) -> Match {
    let ns = match (who, resource) {
        (Requester::Kubelet(_), Resource::Leases) => Namespace::KubeNodeLease,
        (_, Resource::Leases) => Namespace::KubeSystem,
        _ => Namespace::All,
    };
    classify_in(who, verb, resource, ns)
}

/// Classifies a request by the default FlowSchemas: the first that matches in precedence
/// order decides the level, and its distinguisher the flow.
pub fn classify_in(who: Requester, verb: Verb, resource: Resource, ns: Namespace) -> Match {
    let (kind, n) = user_of(who);
    let index = usize::from(SCHEMA_INDEX[kind][verb as usize][resource.index()]);
    let fs = DEFAULT_FLOW_SCHEMAS[index];
    // Upstream hashes only for levels with more than one queue.
    let queued = super::DEFAULT_LEVELS[fs.level].queues > 1;
    let flow = if !queued {
        0
    } else {
        match fs.distinguisher {
            Distinguisher::None => FlowHash(SCHEMA_STATES[index]).finish(),
            Distinguisher::ByUser => {
                let mut h = FlowHash(USER_STATES[index][kind]);
                if let Some(suffix) = USER_SUFFIXES[kind] {
                    h.number(n).text(suffix);
                }
                h.finish()
            }
            Distinguisher::ByNamespace => {
                let (kind, n) = namespace_of(ns);
                let mut h = FlowHash(NAMESPACE_STATES[index][kind]);
                if NAMESPACE_NUMBERED[kind] {
                    h.number(n);
                }
                h.finish()
            }
        }
    };
    Match {
        schema: fs.name,
        level: fs.level,
        flow,
    }
}

/// User names by requester kind (see [`user_of`]): the text before the requester's number
/// (all of it for a requester without one)...
const USER_PREFIXES: [&str; 8] = [
    "system:node:node-",
    "system:serviceaccount:kube-system:kube-proxy",
    "system:kube-scheduler",
    "system:kube-controller-manager",
    "system:serviceaccount:kube-system:sa-",
    "system:serviceaccount:client-",
    "user-",
    "system:admin",
];

/// ...and the text after the number (None: no number).
const USER_SUFFIXES: [Option<&str>; 8] = [
    Some(""),
    None,
    None,
    None,
    Some(""),
    Some(":default"),
    Some(""),
    None,
];

/// A requester of each kind (see [`user_of`]). Which schema matches depends on the kind,
/// the verb and the resource, never on the requester's number.
const KIND_EXAMPLES: [Requester; USER_PREFIXES.len()] = [
    Requester::Kubelet(0),
    Requester::KubeProxy,
    Requester::Scheduler,
    Requester::ControllerManager,
    Requester::KubeSystemServiceAccount(0),
    Requester::ServiceAccount(0),
    Requester::User(0),
    Requester::Masters,
];

/// The index of the first schema that matches, by requester kind, verb and resource:
/// [`matches`] tried in order once, at compile time, rather than for every request.
const SCHEMA_INDEX: [[[u8; Resource::ALL.len()]; Verb::ALL.len()]; KIND_EXAMPLES.len()] = {
    let mut t = [[[0; Resource::ALL.len()]; Verb::ALL.len()]; KIND_EXAMPLES.len()];
    let mut k = 0;
    while k < KIND_EXAMPLES.len() {
        let mut v = 0;
        while v < Verb::ALL.len() {
            let mut r = 0;
            while r < Resource::ALL.len() {
                // catch-all, the last, matches everyone.
                let mut i = 0;
                while i + 1 < SCHEMAS
                    && !matches(i, KIND_EXAMPLES[k], Verb::ALL[v], Resource::ALL[r])
                {
                    i += 1;
                }
                t[k][Verb::ALL[v] as usize][Resource::ALL[r] as usize] = i as u8;
                r += 1;
            }
            v += 1;
        }
        k += 1;
    }
    t
};

/// The requester's kind (its index in [`USER_PREFIXES`]) and number.
fn user_of(who: Requester) -> (usize, u32) {
    match who {
        Requester::Kubelet(n) => (0, n),
        Requester::KubeProxy => (1, 0),
        Requester::Scheduler => (2, 0),
        Requester::ControllerManager => (3, 0),
        Requester::KubeSystemServiceAccount(n) => (4, n),
        Requester::ServiceAccount(n) => (5, n),
        Requester::User(n) => (6, n),
        Requester::Masters => (7, 0),
    }
}

/// Namespace names by kind (see [`namespace_of`]): the text before the number ("" for
/// none)...
const NAMESPACE_PREFIXES: [&str; 4] = ["", "kube-system", "kube-node-lease", "ns-"];

/// ...and whether a number follows.
const NAMESPACE_NUMBERED: [bool; 4] = [false, false, false, true];

/// The namespace's kind (its index in [`NAMESPACE_PREFIXES`]) and number.
fn namespace_of(ns: Namespace) -> (usize, u32) {
    match ns {
        Namespace::All => (0, 0),
        Namespace::KubeSystem => (1, 0),
        Namespace::KubeNodeLease => (2, 0),
        Namespace::Named(n) => (3, n),
    }
}

/// FNV-1a's state after `bytes`, from `state`.
const fn fnv(mut state: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        state = (state ^ bytes[i] as u64).wrapping_mul(FlowHash::PRIME);
        i += 1;
    }
    state
}

const SCHEMAS: usize = DEFAULT_FLOW_SCHEMAS.len();

/// The hash's state after each schema's name and the 0 that follows it. The flow hash runs
/// for every request, and the same prefixes come again and again: they are hashed once, at
/// compile time, and only a requester's number and what follows it per request.
const SCHEMA_STATES: [u64; SCHEMAS] = {
    let mut t = [0; SCHEMAS];
    let mut i = 0;
    while i < SCHEMAS {
        t[i] = fnv(
            fnv(FlowHash::OFFSET, DEFAULT_FLOW_SCHEMAS[i].name.as_bytes()),
            &[0],
        );
        i += 1;
    }
    t
};

/// The state after each schema's prefix and each of `texts`.
const fn prefix_states<const N: usize>(texts: &[&str; N]) -> [[u64; N]; SCHEMAS] {
    let mut t = [[0; N]; SCHEMAS];
    let mut i = 0;
    while i < SCHEMAS {
        let mut k = 0;
        while k < N {
            t[i][k] = fnv(SCHEMA_STATES[i], texts[k].as_bytes());
            k += 1;
        }
        i += 1;
    }
    t
}

/// The state after each schema's prefix and each user name's text before its number.
const USER_STATES: [[u64; USER_PREFIXES.len()]; SCHEMAS] = prefix_states(&USER_PREFIXES);

/// The state after each schema's prefix and each namespace's text before its number.
const NAMESPACE_STATES: [[u64; NAMESPACE_PREFIXES.len()]; SCHEMAS] =
    prefix_states(&NAMESPACE_PREFIXES);

/// A 64-bit hash of (schema name, 0, distinguisher) in the spirit of upstream's flow id
/// (which takes 8 bytes of a SHA-256 of the same). Upstream's exact values depend on real
/// names, which a simulation does not have, so this uses FNV-1a with a final avalanche
/// (MurmurHash3's fmix64) so that every bit the dealer reads is mixed. Built without
/// allocating, since it runs for every request.
struct FlowHash(u64);

impl FlowHash {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;

    fn byte(&mut self, b: u8) -> &mut Self {
        self.0 = (self.0 ^ u64::from(b)).wrapping_mul(Self::PRIME);
        self
    }

    fn text(&mut self, s: &str) -> &mut Self {
        self.0 = fnv(self.0, s.as_bytes());
        self
    }

    /// Decimal digits, most significant first, as they would be printed.
    fn number(&mut self, n: u32) -> &mut Self {
        let mut digits = [0u8; 10];
        let mut i = digits.len();
        let mut v = n;
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        for &d in &digits[i..] {
            self.byte(d);
        }
        self
    }

    fn finish(&self) -> u64 {
        let mut k = self.0;
        k ^= k >> 33;
        k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
        k ^= k >> 33;
        k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        k ^ (k >> 33)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(who: Requester, verb: Verb, res: Resource) -> (&'static str, usize) {
        let m = classify(who, verb, res);
        (m.schema, m.level)
    }

    #[test]
    fn schemas_are_in_matching_order() {
        let names: Vec<&str> = DEFAULT_FLOW_SCHEMAS.iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "exempt",
                "probes",
                "system-leader-election",
                "system-node-high",
                "system-nodes",
                "kube-controller-manager",
                "kube-scheduler",
                "kube-system-service-accounts",
                "service-accounts",
                "global-default",
                "catch-all"
            ]
        );
        for w in DEFAULT_FLOW_SCHEMAS.windows(2) {
            assert!((w[0].precedence, w[0].name) < (w[1].precedence, w[1].name));
        }
    }

    #[test]
    fn kubelets() {
        use Requester::Kubelet;
        // Leases and node objects: system-node-high, whatever the verb.
        for v in Verb::ALL {
            assert_eq!(
                at(Kubelet(3), v, Resource::Leases),
                ("system-node-high", level::NODE_HIGH)
            );
            assert_eq!(
                at(Kubelet(3), v, Resource::Nodes),
                ("system-node-high", level::NODE_HIGH)
            );
        }
        // Everything else a kubelet does: system-nodes, level system.
        for r in [
            Resource::Pods,
            Resource::Events,
            Resource::Configmaps,
            Resource::Services,
        ] {
            assert_eq!(
                at(Kubelet(3), Verb::Get, r),
                ("system-nodes", level::SYSTEM)
            );
            assert_eq!(
                at(Kubelet(3), Verb::Patch, r),
                ("system-nodes", level::SYSTEM)
            );
        }
        // By user: two kubelets are two flows; one kubelet is one flow across verbs.
        let a = classify(Kubelet(1), Verb::Update, Resource::Leases).flow;
        let b = classify(Kubelet(2), Verb::Update, Resource::Leases).flow;
        assert_ne!(a, b);
        assert_eq!(a, classify(Kubelet(1), Verb::Get, Resource::Nodes).flow);
        // Another schema is another flow for the same user.
        assert_ne!(a, classify(Kubelet(1), Verb::Get, Resource::Pods).flow);
    }

    #[test]
    fn controllers_and_leader_election() {
        use Requester::*;
        // Leader election: get, create and update of leases only.
        for who in [ControllerManager, Scheduler, KubeSystemServiceAccount(7)] {
            for v in [Verb::Get, Verb::Create, Verb::Update] {
                assert_eq!(
                    at(who, v, Resource::Leases),
                    ("system-leader-election", level::LEADER_ELECTION)
                );
            }
        }
        // A patch of a lease is not leader election.
        assert_eq!(
            at(ControllerManager, Verb::Patch, Resource::Leases),
            ("kube-controller-manager", level::WORKLOAD_HIGH)
        );
        // Endpoints and configmaps are no longer leader election (leases only since the
        // schema's rules were narrowed).
        assert_eq!(
            at(ControllerManager, Verb::Update, Resource::Endpoints),
            ("kube-controller-manager", level::WORKLOAD_HIGH)
        );
        assert_eq!(
            at(Scheduler, Verb::Create, Resource::Pods),
            ("kube-scheduler", level::WORKLOAD_HIGH)
        );
        assert_eq!(
            at(
                KubeSystemServiceAccount(1),
                Verb::Update,
                Resource::Endpointslices
            ),
            ("kube-system-service-accounts", level::WORKLOAD_HIGH)
        );
        assert_eq!(
            at(KubeProxy, Verb::List, Resource::Endpointslices),
            ("kube-system-service-accounts", level::WORKLOAD_HIGH)
        );
        // Operators elsewhere: service-accounts (workload-low), even for their leases.
        assert_eq!(
            at(ServiceAccount(4), Verb::Update, Resource::Leases),
            ("service-accounts", level::WORKLOAD_LOW)
        );
        assert_eq!(
            at(ServiceAccount(4), Verb::List, Resource::Events),
            ("service-accounts", level::WORKLOAD_LOW)
        );
    }

    #[test]
    fn users_and_admins() {
        use Requester::*;
        assert_eq!(
            at(User(1), Verb::List, Resource::Pods),
            ("global-default", level::GLOBAL_DEFAULT)
        );
        assert_eq!(
            at(Masters, Verb::Delete, Resource::Nodes),
            ("exempt", level::EXEMPT)
        );
        // The exempt level has no queues: no flow hash, as upstream.
        assert_eq!(classify(Masters, Verb::Get, Resource::Pods).flow, 0);
        assert_ne!(
            classify(User(1), Verb::Get, Resource::Pods).flow,
            classify(User(2), Verb::Get, Resource::Pods).flow
        );
    }

    #[test]
    fn by_namespace_flows() {
        use Requester::*;
        // The workload-high schemas are by namespace: the user does not matter, the
        // namespace does. Every kube-proxy's endpointslice list is one flow.
        let ks = |n| classify(KubeSystemServiceAccount(n), Verb::Update, Resource::Pods).flow;
        assert_eq!(ks(1), ks(2));
        assert_eq!(ks(1), classify(KubeProxy, Verb::List, Resource::Pods).flow);
        let in_ns =
            |n| classify_in(Scheduler, Verb::Create, Resource::Pods, Namespace::Named(n)).flow;
        assert_ne!(in_ns(1), in_ns(2));
        assert_eq!(in_ns(1), in_ns(1));
    }

    #[test]
    fn the_schema_table_is_the_first_match() {
        let who = [
            Requester::Kubelet(17),
            Requester::KubeProxy,
            Requester::Scheduler,
            Requester::ControllerManager,
            Requester::KubeSystemServiceAccount(3),
            Requester::ServiceAccount(9),
            Requester::User(2),
            Requester::Masters,
        ];
        for r in who {
            for verb in Verb::ALL {
                for res in Resource::ALL {
                    let first = (0..DEFAULT_FLOW_SCHEMAS.len())
                        .find(|&i| matches(i, r, verb, res))
                        .expect("catch-all matches everyone");
                    let m = classify_in(r, verb, res, Namespace::All);
                    assert_eq!(
                        m.schema, DEFAULT_FLOW_SCHEMAS[first].name,
                        "{r:?} {verb:?} {res:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn flows_hash_the_whole_names() {
        // The hashes from the precomputed prefixes against the names written out in full.
        let who = [
            (Requester::Kubelet(0), "system:node:node-0".to_string()),
            (Requester::Kubelet(7499), "system:node:node-7499".into()),
            (
                Requester::KubeProxy,
                "system:serviceaccount:kube-system:kube-proxy".into(),
            ),
            (Requester::Scheduler, "system:kube-scheduler".into()),
            (
                Requester::ControllerManager,
                "system:kube-controller-manager".into(),
            ),
            (
                Requester::KubeSystemServiceAccount(12),
                "system:serviceaccount:kube-system:sa-12".into(),
            ),
            (
                Requester::ServiceAccount(4_000_000_000),
                "system:serviceaccount:client-4000000000:default".into(),
            ),
            (Requester::User(3), "user-3".into()),
            (Requester::Masters, "system:admin".into()),
        ];
        let namespaces = [
            (Namespace::All, String::new()),
            (Namespace::KubeSystem, "kube-system".into()),
            (Namespace::KubeNodeLease, "kube-node-lease".into()),
            (Namespace::Named(105), "ns-105".into()),
        ];
        let mut seen = 0;
        for (r, user) in &who {
            for (ns, ns_name) in &namespaces {
                for verb in Verb::ALL {
                    for res in Resource::ALL {
                        let m = classify_in(*r, verb, res, *ns);
                        let fs = DEFAULT_FLOW_SCHEMAS.iter().find(|f| f.name == m.schema);
                        let fs = fs.expect("a default schema");
                        if crate::apiserver::apf::DEFAULT_LEVELS[fs.level].queues <= 1 {
                            assert_eq!(m.flow, 0);
                            continue;
                        }
                        let mut h = FlowHash(FlowHash::OFFSET);
                        h.text(fs.name).byte(0);
                        match fs.distinguisher {
                            Distinguisher::None => {}
                            Distinguisher::ByUser => {
                                h.text(user);
                            }
                            Distinguisher::ByNamespace => {
                                h.text(ns_name);
                            }
                        }
                        assert_eq!(m.flow, h.finish(), "{r:?} {verb:?} {res:?} {ns:?}");
                        seen += 1;
                    }
                }
            }
        }
        assert!(seen > 1000, "{seen}");
    }

    #[test]
    fn flow_hash_is_stable() {
        // The same inputs give the same hash in every run (no per-process seed): pin a
        // value computed by this definition so that a change of it is noticed.
        let h = classify(Requester::Kubelet(0), Verb::Update, Resource::Leases).flow;
        let mut f = FlowHash(FlowHash::OFFSET);
        f.text("system-node-high")
            .byte(0)
            .text("system:node:node-0");
        assert_eq!(h, f.finish());
        let mut g = FlowHash(FlowHash::OFFSET);
        g.number(1234567890);
        let mut s = FlowHash(FlowHash::OFFSET);
        s.text("1234567890");
        assert_eq!(g.0, s.0);
        // FNV-1a of the empty input is the offset basis.
        assert_eq!(FlowHash(FlowHash::OFFSET).0, 0xcbf29ce484222325);
        // FNV-1a of "a" is 0xaf63dc4c8601ec8c (the published test vector).
        let mut a = FlowHash(FlowHash::OFFSET);
        a.text("a");
        assert_eq!(a.0, 0xaf63dc4c8601ec8c);
    }
}

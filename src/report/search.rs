//! What a capacity search found: the candidates it simulated and what they mean per GPU.
//!
//! `sweep::search` runs the search and fills these types; they live in report, which draws
//! and writes them, so that report needs nothing of sweep.

use crate::sim::Report;

/// What the search varies.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadKind {
    /// An open loop: every rate field of the arrival process, scaled by one factor. The
    /// load is expressed as that factor times `base_rps`.
    Open {
        /// The arrival process's key in the scenario (`poisson`, `on_off`, ...).
        process: &'static str,
        /// Each rate field of the process, with its value in the scenario (per second).
        fields: Vec<(&'static str, f64)>,
        /// The nominal mean rate of the process in the scenario (per second); for processes
        /// other than Poisson the reported rate is the measured mean arrival rate instead.
        base_rps: f64,
    },
    /// A closed loop: the number of users.
    Closed {
        /// Users in the scenario.
        base_users: u64,
    },
}

impl LoadKind {
    /// True for a closed loop.
    pub fn is_closed(&self) -> bool {
        matches!(self, LoadKind::Closed { .. })
    }
}

/// A load the user wants to be sized for (`--target-rate` / `--target-users`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// Requests per second (open loop).
    RateRps(f64),
    /// Concurrent users (closed loop).
    Users(u64),
}

/// One SLO term judged on one candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct TermCheck {
    /// The metric's name in the summary (`latency_p99_ms`, ...), or `dropped_fraction`.
    pub metric: String,
    /// The bound (ms for latencies).
    pub bound: f64,
    /// The mean over replications.
    pub mean: f64,
    /// The value judged: `ci95_high`, or the mean when there is no interval (one
    /// replication). NaN when nothing was measured (which fails).
    pub value: f64,
    /// `value <= bound`.
    pub holds: bool,
}

/// One simulated candidate load.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The load: users (closed loop) or the scale factor of the scenario's rates (open loop).
    pub load: f64,
    /// The arrival rate it stands for (open loop: nominal for Poisson, else measured mean).
    pub rate_rps: f64,
    /// Whether the SLO held (every term, no saturation).
    pub pass: bool,
    /// Replications in which the service saturated.
    pub saturated_replications: u32,
    /// Each term, in the order of the SLO.
    pub terms: Vec<TermCheck>,
    /// The simulation's report.
    pub report: Report,
}

impl Candidate {
    /// The term that fails worst (highest value over bound), or `saturated` when the service
    /// could not keep up; `None` if the candidate passed.
    pub fn binding(&self) -> Option<Binding> {
        if self.pass {
            return None;
        }
        if self.saturated_replications > 0 {
            return Some(Binding {
                metric: "saturated".into(),
                value: self.saturated_replications as f64,
                bound: 0.0,
            });
        }
        // A term measured as nothing (NaN) is the worst of all: nothing completed.
        let score = |t: &TermCheck| {
            if t.value.is_finite() {
                t.value / t.bound
            } else {
                f64::INFINITY
            }
        };
        self.terms
            .iter()
            .filter(|t| !t.holds)
            .max_by(|a, b| score(a).total_cmp(&score(b)))
            .map(|t| Binding {
                metric: t.metric.clone(),
                value: t.value,
                bound: t.bound,
            })
    }
}

/// The SLO term that stops the load from growing further.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// The metric (`latency_p99_ms`, ...), or `saturated` (then `value` counts the
    /// replications that saturated).
    pub metric: String,
    /// Its pessimistic value just above the maximum load.
    pub value: f64,
    /// Its bound.
    pub bound: f64,
}

/// Resources needed for a target load, assuming capacity grows linearly with replicas.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sizing {
    /// The target: requests per second or users.
    pub target: f64,
    /// Replicas: ceil(target / capacity of one replica at the maximum load); `None` when that
    /// is more than one service may have ([`MAX_REPLICAS`]): no feasible count.
    pub replicas: Option<u64>,
    /// GPUs: replicas x GPUs per replica (whole-GPU equivalents); NaN without a count.
    pub gpus: f64,
    /// CPUs: replicas x CPUs per replica; NaN without a count.
    pub cpus: f64,
    /// Price of those replicas for one hour (`gpus` x the pool's `price_per_gpu_hour`, or
    /// replicas x the price of one where the pool has a node price); NaN without a count.
    pub cost_per_hour: f64,
}

/// Most replicas a sizing may ask for: the most one service may have.
pub const MAX_REPLICAS: u64 = crate::cluster::MAX_REPLICAS as u64;

/// What a search found.
#[derive(Debug, Clone)]
pub struct SearchResult {
    /// Scenario name.
    pub scenario: String,
    /// Service searched.
    pub service: String,
    /// Index of the workload whose load was varied.
    pub workload: usize,
    /// What was varied.
    pub kind: LoadKind,
    /// Replications per candidate.
    pub replications: u32,
    /// The SLO terms: (metric, bound).
    pub slo: Vec<(String, f64)>,
    /// Every candidate simulated, in the order they ran.
    pub candidates: Vec<Candidate>,
    /// Index into `candidates` of the largest passing load; `None` when the SLO held at no
    /// load tried.
    pub best: Option<usize>,
    /// Index into `candidates` of the smallest failing load above the best; `None` when no
    /// load up to the bracket limit failed (the maximum is then a lower bound).
    pub above: Option<usize>,
    /// Whole-GPU equivalents of one replica.
    pub gpus_per_replica: f64,
    /// CPUs one replica requests (0 where none are given on a GPU pool).
    pub cpus_per_replica: f64,
    /// The service's node pool.
    pub pool: String,
    /// The GPU profile of that pool.
    pub gpu: String,
    /// The pool's `price_per_gpu_hour` (0 when the scenario gives none; capsim has no
    /// built-in GPU prices).
    pub price_per_gpu_hour: f64,
    /// The pool's `price_per_node_hour` (0 when none).
    pub price_per_node_hour: f64,
    /// One replica's price for an hour: its GPUs at `price_per_gpu_hour` plus its share of a
    /// node (its CPUs on a CPU pool, its GPUs on a GPU pool) at `price_per_node_hour`, as the
    /// run's `cost_per_1k_requests` charges it.
    pub price_per_replica_hour: f64,
    /// The searched service and the services its requests reach through calls: the tiers
    /// that can bind (another application's in the same scenario cannot).
    pub tiers: Vec<String>,
}

impl SearchResult {
    fn best_candidate(&self) -> Option<&Candidate> {
        self.best.map(|i| &self.candidates[i])
    }

    /// Largest arrival rate meeting the SLO (open loop; NaN when none or closed loop).
    pub fn max_rate_rps(&self) -> f64 {
        match (&self.kind, self.best_candidate()) {
            (LoadKind::Open { .. }, Some(c)) => c.rate_rps,
            _ => f64::NAN,
        }
    }

    /// Largest number of users meeting the SLO (closed loop).
    pub fn max_users(&self) -> Option<u64> {
        match (&self.kind, self.best_candidate()) {
            (LoadKind::Closed { .. }, Some(c)) => Some(c.load as u64),
            _ => None,
        }
    }

    fn at_best(&self, metric: &str) -> f64 {
        self.best_candidate()
            .map_or(f64::NAN, |c| c.report.mean(&self.service, metric))
    }

    /// The service's mean GPUs at the maximum load.
    pub fn gpus(&self) -> f64 {
        self.at_best("gpus")
    }

    /// Measured throughput at the maximum load, requests per second.
    pub fn throughput_rps(&self) -> f64 {
        self.at_best("throughput_rps")
    }

    /// Throughput at the maximum load per GPU.
    pub fn rps_per_gpu(&self) -> f64 {
        self.throughput_rps() / self.gpus()
    }

    /// Users per GPU at the maximum load (closed loop; NaN otherwise).
    pub fn users_per_gpu(&self) -> f64 {
        self.max_users()
            .map_or(f64::NAN, |u| u as f64 / self.gpus())
    }

    /// Cost of 1,000 requests at the maximum load.
    pub fn cost_per_1k_requests(&self) -> f64 {
        self.at_best("cost_per_1k_requests")
    }

    /// Price per hour of the service at the maximum load: `gpus` x the pool's
    /// `price_per_gpu_hour`, or, where the pool has a `price_per_node_hour`, its mean
    /// replicas x [`Self::price_per_replica_hour`].
    pub fn cost_per_hour(&self) -> f64 {
        if self.price_per_node_hour > 0.0 {
            self.replicas() * self.price_per_replica_hour
        } else {
            self.gpus() * self.price_per_gpu_hour
        }
    }

    /// A service that uses no GPU (a CPU pool's): its size reads in replicas and CPUs.
    pub fn cpu_only(&self) -> bool {
        self.gpus_per_replica == 0.0
    }

    /// The service's mean replicas at the maximum load.
    pub fn replicas(&self) -> f64 {
        self.at_best("replicas_mean")
    }

    /// The CPUs those replicas request.
    pub fn cpus(&self) -> f64 {
        self.replicas() * self.cpus_per_replica
    }

    /// Whether the service's pool has a price (per GPU or per node): its costs mean something.
    pub fn priced(&self) -> bool {
        self.price_per_gpu_hour > 0.0 || self.price_per_node_hour > 0.0
    }

    /// Price per hour of one user at the maximum load: [`Self::cost_per_hour`] over
    /// `max_users` (closed loop; NaN otherwise).
    pub fn cost_per_user_hour(&self) -> f64 {
        self.max_users()
            .map_or(f64::NAN, |u| self.cost_per_hour() / u as f64)
    }

    /// The tier that binds, for a service that calls others: the bottleneck (highest
    /// working utilization in its call graph, among [`Self::tiers`]) at the smallest failing
    /// load above the maximum (else at the maximum), with its utilization there. None for a
    /// service in no call graph.
    pub fn binding_tier(&self) -> Option<(String, f64)> {
        let c = &self.candidates[self.above.or(self.best)?];
        c.report
            .rows
            .iter()
            .filter(|row| {
                row.metric == "bottleneck"
                    && row.estimate.mean > 0.0
                    && self.tiers.contains(&row.component)
            })
            .map(|row| {
                let u = c.report.tier_utilization(&row.component);
                (row.component.clone(), row.estimate.mean, u)
            })
            // The most often bottleneck over the replications, then the busiest.
            .max_by(|a, b| a.1.total_cmp(&b.1).then(a.2.total_cmp(&b.2)))
            .map(|(name, _, u)| (name, u))
    }

    /// The binding SLO term, judged at the smallest failing load above the maximum.
    pub fn binding(&self) -> Option<Binding> {
        self.above.and_then(|i| self.candidates[i].binding())
    }

    /// The load of the smallest failing candidate above the maximum, as a rate (open loop)
    /// or users (closed loop).
    pub fn binding_load(&self) -> f64 {
        self.above.map_or(f64::NAN, |i| {
            let c = &self.candidates[i];
            if self.kind.is_closed() {
                c.load
            } else {
                c.rate_rps
            }
        })
    }

    /// Replicas and GPUs for `target`, scaling the maximum load linearly with replicas
    /// (exact for per-replica routing, where replicas are independent queues; conservative
    /// for a shared queue, which pools better as it grows). `None` when no load passed or
    /// the target's kind does not match the loop.
    pub fn size_for(&self, target: Target) -> Option<Sizing> {
        let c = self.best_candidate()?;
        let (t, max) = match (target, &self.kind) {
            (Target::RateRps(r), LoadKind::Open { .. }) => (r, c.rate_rps),
            (Target::Users(u), LoadKind::Closed { .. }) => (u as f64, c.load),
            _ => return None,
        };
        let replicas_mean = c.report.mean(&self.service, "replicas_mean");
        if !(max > 0.0 && replicas_mean > 0.0) {
            return None;
        }
        let per_replica = max / replicas_mean;
        // A hair of tolerance so that a target equal to the maximum needs no extra replica.
        // Compared before the conversion: `as u64` would turn 1e300 into 2^64 - 1.
        let needed = ((t / per_replica) * (1.0 - 1e-9)).ceil().max(1.0);
        let replicas = (needed <= MAX_REPLICAS as f64).then_some(needed as u64);
        let gpus = replicas.map_or(f64::NAN, |r| r as f64 * self.gpus_per_replica);
        let cpus = replicas.map_or(f64::NAN, |r| r as f64 * self.cpus_per_replica);
        let cost_per_hour = if self.price_per_node_hour > 0.0 {
            replicas.map_or(f64::NAN, |r| r as f64 * self.price_per_replica_hour)
        } else {
            gpus * self.price_per_gpu_hour
        };
        Some(Sizing {
            target: t,
            replicas,
            gpus,
            cpus,
            cost_per_hour,
        })
    }
}

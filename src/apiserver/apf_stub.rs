//! Stand-in for API Priority and Fairness while the real one is built (FIFO per level).

use super::plan::{Resource, Verb};
use crate::engine::SimTime;
use std::collections::VecDeque;

/// A priority level's configuration.
#[derive(Debug, Clone, Copy)]
pub struct LevelConfig {
    /// Name.
    pub name: &'static str,
    /// Not limited.
    pub exempt: bool,
    /// Nominal concurrency shares.
    pub shares: u32,
    /// Queue length limit.
    pub queue_length_limit: u32,
    /// Queues.
    pub queues: u32,
    /// Hand size.
    pub hand_size: u32,
}

const fn lvl(name: &'static str, shares: u32, queues: u32, hand: u32) -> LevelConfig {
    LevelConfig {
        name,
        exempt: false,
        shares,
        queue_length_limit: 50,
        queues,
        hand_size: hand,
    }
}

/// The default levels.
pub const DEFAULT_LEVELS: [LevelConfig; 8] = [
    LevelConfig {
        name: "exempt",
        exempt: true,
        shares: 0,
        queue_length_limit: 0,
        queues: 0,
        hand_size: 0,
    },
    lvl("system", 30, 64, 6),
    lvl("node-high", 40, 64, 6),
    lvl("leader-election", 10, 16, 4),
    lvl("workload-high", 40, 128, 6),
    lvl("workload-low", 100, 128, 6),
    lvl("global-default", 20, 128, 6),
    lvl("catch-all", 5, 0, 0),
];

/// Nominal seats.
pub fn nominal_seats(limit: u32, levels: &[LevelConfig]) -> Vec<u32> {
    let sum: u32 = levels.iter().filter(|l| !l.exempt).map(|l| l.shares).sum();
    levels
        .iter()
        .map(|l| {
            if l.exempt {
                0
            } else {
                (u64::from(limit) * u64::from(l.shares)).div_ceil(u64::from(sum)) as u32
            }
        })
        .collect()
}

/// Max seats of a request at a level.
pub fn max_seats(nominal: u32, hand: u32) -> u32 {
    let a = (nominal as f64 * 0.15).ceil() as u32;
    let b = nominal.checked_div(hand).unwrap_or(nominal);
    a.min(b).max(1)
}

/// Seats and time a request holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WorkEstimate {
    /// Seats while executing.
    pub initial_seats: u32,
    /// Seats after, for the watch fan-out.
    pub final_seats: u32,
    /// How long the final seats are held.
    pub additional_latency: SimTime,
}

/// A LIST of `objects`.
pub fn list_work(objects: u64, max_seats: u32) -> WorkEstimate {
    WorkEstimate {
        initial_seats: (objects.div_ceil(100) as u32).clamp(1, max_seats.min(10)),
        ..Default::default()
    }
}

/// A write watched by `watchers`.
pub fn mutating_work(watchers: u64, max_seats: u32) -> WorkEstimate {
    let mut w = WorkEstimate {
        initial_seats: 1,
        ..Default::default()
    };
    if watchers >= 10 {
        let f = watchers.div_ceil(10) as u32;
        let capped = f.min(max_seats);
        w.final_seats = capped;
        w.additional_latency = SimTime(5_000_000 * u64::from(f) / u64::from(capped));
    }
    w
}

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requester {
    /// A node's kubelet.
    Kubelet(u32),
    /// A node's kube-proxy.
    KubeProxy(u32),
    /// The scheduler.
    Scheduler,
    /// kube-controller-manager.
    ControllerManager,
    /// Leader election of kcm and the scheduler.
    LeaderElection,
    /// A service account outside kube-system.
    ServiceAccount(u32),
}

/// A classification.
#[derive(Debug, Clone, Copy)]
pub struct Match {
    /// Level index.
    pub level: usize,
    /// Flow hash.
    pub flow: u64,
}

/// Classifies.
pub fn classify(r: Requester, verb: Verb, res: Resource) -> Match {
    let (level, flow) = match r {
        Requester::Kubelet(n) => {
            let high = matches!(res, Resource::Leases | Resource::Nodes) && verb.mutating();
            (if high { 2 } else { 1 }, u64::from(n))
        }
        Requester::KubeProxy(_) => (4, 1 << 40),
        Requester::Scheduler => (4, 2 << 40),
        Requester::ControllerManager => (4, 3 << 40),
        Requester::LeaderElection => (3, 4 << 40),
        Requester::ServiceAccount(c) => (5, (5 << 40) + u64::from(c)),
    };
    Match { level, flow }
}

/// The answer to an offer.
pub enum Offer<T> {
    /// Start now.
    Dispatch(T),
    /// Waits.
    Queued,
    /// 429.
    Rejected(T),
}

/// One level's queue.
#[derive(Debug)]
pub struct QueueSet<T> {
    limit: u32,
    in_use: u32,
    q: VecDeque<(SimTime, WorkEstimate, T)>,
    max_len: usize,
}

/// How long a request may wait.
pub const WAIT_LIMIT: SimTime = SimTime::from_secs(15);

impl<T: Copy> QueueSet<T> {
    /// A level.
    pub fn new(cfg: &LevelConfig, limit: u32) -> Self {
        QueueSet {
            limit,
            in_use: 0,
            q: VecDeque::new(),
            max_len: (cfg.queues * cfg.queue_length_limit) as usize,
        }
    }
    /// Offers.
    pub fn offer(&mut self, now: SimTime, _flow: u64, w: WorkEstimate, item: T) -> Offer<T> {
        let seats = w.initial_seats.max(w.final_seats);
        if self.q.is_empty() && self.in_use + seats <= self.limit.max(seats) {
            self.in_use += seats;
            return Offer::Dispatch(item);
        }
        if self.q.len() >= self.max_len {
            return Offer::Rejected(item);
        }
        self.q.push_back((now + WAIT_LIMIT, w, item));
        Offer::Queued
    }
    /// Releases.
    pub fn release(&mut self, _now: SimTime, w: WorkEstimate, _exec: SimTime) {
        self.in_use -= w.initial_seats.max(w.final_seats);
    }
    /// Dispatches.
    pub fn dispatch(&mut self, _now: SimTime) -> Option<(T, WorkEstimate)> {
        let &(_, w, item) = self.q.front()?;
        let seats = w.initial_seats.max(w.final_seats);
        if self.in_use + seats <= self.limit || self.in_use == 0 {
            self.q.pop_front();
            self.in_use += seats;
            return Some((item, w));
        }
        None
    }
    /// Expires.
    pub fn expire(&mut self, now: SimTime) -> Option<T> {
        let &(d, _, item) = self.q.front()?;
        if d <= now {
            self.q.pop_front();
            return Some(item);
        }
        None
    }
    /// Next deadline.
    pub fn next_deadline(&self) -> Option<SimTime> {
        self.q.front().map(|x| x.0)
    }
    /// Seats in use.
    pub fn seats_in_use(&self) -> u32 {
        self.in_use
    }
    /// Waiting.
    pub fn waiting(&self) -> usize {
        self.q.len()
    }
}

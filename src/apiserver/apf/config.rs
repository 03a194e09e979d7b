//! The default priority levels and the arithmetic that turns a server's seats into each
//! level's nominal, lendable and borrowable seats.
//!
//! Every number here is from kubernetes/apiserver at commit 24a394e5 (master of July 2026,
//! the published copy of kubernetes/kubernetes `staging/src/k8s.io/apiserver`); the file is
//! named next to each.

/// How a priority level treats a request that cannot start at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitResponse {
    /// No limit at all (the `exempt` level): every request starts at once.
    Exempt,
    /// Wait in the level's queues.
    Queue,
    /// Answer 429 at once (the `catch-all` level).
    Reject,
}

/// One PriorityLevelConfiguration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelConfig {
    /// Its name.
    pub name: &'static str,
    /// What happens to a request beyond its limit.
    pub response: LimitResponse,
    /// `nominalConcurrencyShares`.
    pub nominal_shares: u32,
    /// `lendablePercent`: the part of its nominal seats other levels may borrow.
    pub lendable_percent: u32,
    /// `borrowingLimitPercent` (None: unlimited, the API's default).
    pub borrowing_limit_percent: Option<u32>,
    /// `queues` (0 unless it queues).
    pub queues: u32,
    /// `handSize` (0 unless it queues).
    pub hand_size: u32,
    /// `queueLengthLimit` (0 unless it queues).
    pub queue_length_limit: u32,
}

impl LevelConfig {
    /// Whether it is the exempt level.
    pub fn exempt(&self) -> bool {
        self.response == LimitResponse::Exempt
    }

    /// Whether it rejects at once instead of queuing.
    pub fn rejects(&self) -> bool {
        self.response == LimitResponse::Reject
    }
}

/// Indices of the default levels in [`DEFAULT_LEVELS`].
pub mod level {
    /// `exempt`.
    pub const EXEMPT: usize = 0;
    /// `system`.
    pub const SYSTEM: usize = 1;
    /// `node-high`.
    pub const NODE_HIGH: usize = 2;
    /// `leader-election`.
    pub const LEADER_ELECTION: usize = 3;
    /// `workload-high`.
    pub const WORKLOAD_HIGH: usize = 4;
    /// `workload-low`.
    pub const WORKLOAD_LOW: usize = 5;
    /// `global-default`.
    pub const GLOBAL_DEFAULT: usize = 6;
    /// `catch-all`.
    pub const CATCH_ALL: usize = 7;
}

const fn queued(
    name: &'static str,
    nominal_shares: u32,
    lendable_percent: u32,
    queues: u32,
    hand_size: u32,
) -> LevelConfig {
    LevelConfig {
        name,
        response: LimitResponse::Queue,
        nominal_shares,
        lendable_percent,
        borrowing_limit_percent: None,
        queues,
        hand_size,
        // Every suggested level has queueLengthLimit 50 (default.go @ 24a394e5).
        queue_length_limit: 50,
    }
}

/// kube-apiserver's default PriorityLevelConfigurations (mandatory and suggested), from
/// `pkg/apis/flowcontrol/bootstrap/default.go` @ 24a394e5. None sets a borrowing limit, so
/// every level may borrow without limit.
pub const DEFAULT_LEVELS: [LevelConfig; 8] = [
    // exempt: shares 0, lendable 0 %.
    LevelConfig {
        name: "exempt",
        response: LimitResponse::Exempt,
        nominal_shares: 0,
        lendable_percent: 0,
        borrowing_limit_percent: None,
        queues: 0,
        hand_size: 0,
        queue_length_limit: 0,
    },
    // system: shares 30, lendable 33 %, 64 queues, hand 6.
    queued("system", 30, 33, 64, 6),
    // node-high: shares 40, lendable 25 %, 64 queues, hand 6.
    queued("node-high", 40, 25, 64, 6),
    // leader-election: shares 10, lendable 0 %, 16 queues, hand 4.
    queued("leader-election", 10, 0, 16, 4),
    // workload-high: shares 40, lendable 50 %, 128 queues, hand 6.
    queued("workload-high", 40, 50, 128, 6),
    // workload-low: shares 100, lendable 90 %, 128 queues, hand 6.
    queued("workload-low", 100, 90, 128, 6),
    // global-default: shares 20, lendable 50 %, 128 queues, hand 6.
    queued("global-default", 20, 50, 128, 6),
    // catch-all: shares 5, lendable 0 %, limit response Reject.
    LevelConfig {
        name: "catch-all",
        response: LimitResponse::Reject,
        nominal_shares: 5,
        lendable_percent: 0,
        borrowing_limit_percent: None,
        queues: 0,
        hand_size: 0,
        queue_length_limit: 0,
    },
];

/// The index of the default level of that name.
pub fn level_index(name: &str) -> Option<usize> {
    DEFAULT_LEVELS.iter().position(|l| l.name == name)
}

/// kube-apiserver's `--max-requests-inflight` default, 400 (`pkg/server/config.go` @ 24a394e5).
pub const DEFAULT_MAX_REQUESTS_INFLIGHT: u32 = 400;
/// kube-apiserver's `--max-mutating-requests-inflight` default, 200 (same file).
pub const DEFAULT_MAX_MUTATING_REQUESTS_INFLIGHT: u32 = 200;

/// Each level's nominal concurrency limit: ceil(server_limit x shares / the sum of every
/// level's shares), in floating point as `apf_controller.go` (@ 24a394e5) computes it. The
/// server's limit is `--max-requests-inflight` + `--max-mutating-requests-inflight`. The
/// ceilings make the sum a little more than the server's limit, as upstream.
pub fn nominal_seats(server_limit: u32, levels: &[LevelConfig]) -> Vec<u32> {
    let share_sum: f64 = levels.iter().map(|l| f64::from(l.nominal_shares)).sum();
    levels
        .iter()
        .map(|l| {
            if share_sum <= 0.0 {
                return 0;
            }
            (f64::from(server_limit) * f64::from(l.nominal_shares) / share_sum).ceil() as u32
        })
        .collect()
}

/// A level's seat bounds, as `apf_controller.go` derives them from its nominal seats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelLimits {
    /// Nominal concurrency limit.
    pub nominal: u32,
    /// Seats it may lend: round(nominal x lendablePercent / 100).
    pub lendable: u32,
    /// Seats it may borrow: round(nominal x borrowingLimitPercent / 100), or the server's
    /// whole limit when the percent is unset.
    pub borrowing: u32,
    /// The least it keeps: nominal - lendable.
    pub min: u32,
    /// The most it may have: nominal + borrowing.
    pub max: u32,
    /// Its limit before the first borrowing adjustment: nominal - lendable / 2 (integer
    /// division).
    pub initial: u32,
}

/// Go's `math.Round`: halves away from zero (Rust's `f64::round` does the same).
fn round_half_away(x: f64) -> u32 {
    x.round() as u32
}

/// Every level's bounds from the server's limit.
pub fn level_limits(server_limit: u32, levels: &[LevelConfig]) -> Vec<LevelLimits> {
    nominal_seats(server_limit, levels)
        .into_iter()
        .zip(levels)
        .map(|(nominal, l)| {
            let lendable =
                round_half_away(f64::from(nominal) * f64::from(l.lendable_percent) / 100.0);
            // The exempt level's borrowing limit is never read upstream: unlimited.
            let borrowing = match l.borrowing_limit_percent {
                Some(p) if !l.exempt() => {
                    round_half_away(f64::from(nominal) * f64::from(p) / 100.0)
                }
                _ => server_limit,
            };
            LevelLimits {
                nominal,
                lendable,
                borrowing,
                min: nominal - lendable.min(nominal),
                max: nominal + borrowing,
                initial: nominal - lendable / 2,
            }
        })
        .collect()
}

/// The largest width a request of a queuing level may be given:
/// max(1, min(ceil(0.15 x nominal), nominal / hand_size)), with integer division, per
/// `apf_controller.go` @ 24a394e5 (`priorityLevelMaxSeatsPercent` = 0.15). The work
/// estimator then caps it again (see [`super::work`]).
pub fn max_seats(nominal: u32, hand_size: u32) -> u32 {
    let by_percent = (f64::from(nominal) * 0.15).ceil();
    let by_hand = f64::from(nominal.checked_div(hand_size).unwrap_or(0));
    by_percent.min(by_hand).max(1.0) as u32
}

/// The width cap the work estimator sees for a level: [`max_seats`] for a queuing level,
/// 0 (meaning "none recorded", so only the estimator's own limit applies) for the exempt
/// and rejecting levels, which upstream records nothing for.
pub fn level_max_seats(level: &LevelConfig, nominal: u32) -> u32 {
    match level.response {
        LimitResponse::Queue => max_seats(nominal, level.hand_size),
        LimitResponse::Exempt | LimitResponse::Reject => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER: u32 = DEFAULT_MAX_REQUESTS_INFLIGHT + DEFAULT_MAX_MUTATING_REQUESTS_INFLIGHT;

    #[test]
    fn nominal_seats_from_600() {
        // Shares: 0 + 30 + 40 + 10 + 40 + 100 + 20 + 5 = 245.
        // system 600*30/245 = 73.47 -> 74; node-high 600*40/245 = 97.96 -> 98;
        // leader-election 24.49 -> 25; workload-high 98; workload-low 244.90 -> 245;
        // global-default 48.98 -> 49; catch-all 12.24 -> 13; exempt 0.
        assert_eq!(SERVER, 600);
        assert_eq!(
            nominal_seats(SERVER, &DEFAULT_LEVELS),
            vec![0, 74, 98, 25, 98, 245, 49, 13]
        );
    }

    #[test]
    fn lendable_and_borrowing_bounds_from_600() {
        let l = level_limits(600, &DEFAULT_LEVELS);
        // lendable = round(nominal x percent / 100), halves away from zero:
        // system 74*.33 = 24.42 -> 24; node-high 98*.25 = 24.5 -> 25; workload-high
        // 98*.5 = 49; workload-low 245*.9 = 220.5 -> 221; global-default 49*.5 = 24.5 -> 25.
        let lendable: Vec<u32> = l.iter().map(|x| x.lendable).collect();
        assert_eq!(lendable, vec![0, 24, 25, 0, 49, 221, 25, 0]);
        let min: Vec<u32> = l.iter().map(|x| x.min).collect();
        assert_eq!(min, vec![0, 50, 73, 25, 49, 24, 24, 13]);
        // No default sets a borrowing limit: each may borrow the server's 600.
        let max: Vec<u32> = l.iter().map(|x| x.max).collect();
        assert_eq!(max, vec![600, 674, 698, 625, 698, 845, 649, 613]);
        // initial = nominal - lendable / 2: 74 - 12, 98 - 12, 25, 98 - 24, 245 - 110, 49 - 12.
        let initial: Vec<u32> = l.iter().map(|x| x.initial).collect();
        assert_eq!(initial, vec![0, 62, 86, 25, 74, 135, 37, 13]);
        let mut limited = DEFAULT_LEVELS;
        limited[level::SYSTEM].borrowing_limit_percent = Some(50);
        // round(74 x 50 / 100) = 37.
        assert_eq!(level_limits(600, &limited)[level::SYSTEM].max, 74 + 37);
    }

    #[test]
    fn max_seats_per_level_from_600() {
        // system: min(ceil(11.1) = 12, 74/6 = 12) = 12; node-high: min(ceil(14.7) = 15,
        // 98/6 = 16) = 15; leader-election: min(ceil(3.75) = 4, 25/4 = 6) = 4;
        // workload-low: min(ceil(36.75) = 37, 245/6 = 40) = 37; global-default:
        // min(ceil(7.35) = 8, 49/6 = 8) = 8.
        let nominal = nominal_seats(600, &DEFAULT_LEVELS);
        let got: Vec<u32> = DEFAULT_LEVELS
            .iter()
            .zip(&nominal)
            .map(|(l, &n)| level_max_seats(l, n))
            .collect();
        assert_eq!(got, vec![0, 12, 15, 4, 15, 37, 8, 0]);
        // The floor of 1 and the hand bound: 5 seats, hand 6 -> min(1, 0) -> 1.
        assert_eq!(max_seats(5, 6), 1);
        assert_eq!(max_seats(0, 6), 1);
        // 1,000 seats, hand 6: min(150, 166) = 150.
        assert_eq!(max_seats(1000, 6), 150);
    }

    #[test]
    fn level_names_index_the_table() {
        assert_eq!(level_index("node-high"), Some(level::NODE_HIGH));
        assert_eq!(level_index("catch-all"), Some(level::CATCH_ALL));
        assert_eq!(level_index("nope"), None);
        assert!(DEFAULT_LEVELS[level::EXEMPT].exempt());
        assert!(DEFAULT_LEVELS[level::CATCH_ALL].rejects());
    }
}

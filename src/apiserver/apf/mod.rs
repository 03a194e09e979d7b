//! API Priority and Fairness as kube-apiserver implements it: the default priority levels
//! and FlowSchemas, seats per request, shuffle sharding, per-level fair queuing, the
//! periodic borrowing of seats between levels, and the max-in-flight filter used when APF
//! is off. A library for the control-plane simulation: plain integers and [`SimTime`], no
//! randomness, no hash-map iteration.
//!
//! Sources: kubernetes/apiserver at commit 24a394e516bfda066d7e2221d7d92c052de27c54 (master,
//! July 2026; the published copy of kubernetes/kubernetes `staging/src/k8s.io/apiserver`),
//! file by file as each module says, and the Kubernetes documentation's API Priority and
//! Fairness page for the shuffle-sharding collision table.
//!
//! [`SimTime`]: crate::engine::SimTime

pub mod borrowing;
pub mod classify;
pub mod config;
pub mod maxinflight;
pub mod queueset;
pub mod shuffle;
pub mod work;

pub use borrowing::{BORROWING_PERIOD, Borrowing, SeatDemand};
pub use classify::{Match, Namespace, Requester, classify, classify_in};
pub use config::{
    DEFAULT_LEVELS, LevelConfig, LevelLimits, LimitResponse, level, level_index, level_limits,
    level_max_seats, max_seats, nominal_seats,
};
pub use maxinflight::{Admission, MaxInflight};
pub use queueset::{Offer, QUEUE_WAIT_LIMIT, QueueSet, RejectReason, Started, Ticket};
pub use shuffle::{PackedHand, collision_probability, deal};
pub use work::{ListCost, ListQuery, WorkEstimate, list_work, mutating_work};

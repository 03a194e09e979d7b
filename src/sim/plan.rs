//! A scenario resolved for simulation: every name looked up, every profile applied, every
//! distribution compiled. Built once, shared read-only by all replications.
//!
//! Each part's plan type lives next to the domain it configures (node pools and failures in
//! [`crate::cluster`], services and workloads in [`crate::serving`], autoscalers in
//! [`crate::control`]); they are re-exported here.

pub use crate::cluster::{ClusterPlan, FailurePlan, PodTemplate, PoolPlan};
pub use crate::control::plan::{AutoscalerPlan, Pipelines};
use crate::engine::SimTime;
pub use crate::serving::plan::{
    Batching, Cost, LlmPlan, Load, Routing, ServicePlan, SloPlan, WorkloadPlan,
};

/// Everything one replication needs.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Scenario name.
    pub name: String,
    /// Master seed.
    pub seed: u64,
    /// Simulated time of one replication.
    pub duration: SimTime,
    /// Statistics start here.
    pub warmup: SimTime,
    /// Independent replications.
    pub replications: u32,
    /// Timeseries sampling period.
    pub report_interval: SimTime,
    /// Waiting requests beyond which a service is declared saturated.
    pub max_queue: u32,
    /// Events one replication may process before it is stopped (`limits.max_events`).
    pub max_events: u64,
    /// Node pools.
    pub pools: Vec<PoolPlan>,
    /// Cluster-wide settings (the node lifecycle controller).
    pub cluster: ClusterPlan,
    /// Services, in scenario order.
    pub services: Vec<ServicePlan>,
    /// Workloads, in scenario order.
    pub workloads: Vec<WorkloadPlan>,
    /// Training jobs, if the scenario has any.
    pub training: Option<crate::training::TrainingPlan>,
    /// The control plane, if the scenario models it.
    pub control_plane: Option<crate::apiserver::ControlPlanePlan>,
}

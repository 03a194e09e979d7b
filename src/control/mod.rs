//! Control loops that act on the simulated cluster, written to decide exactly as their
//! Kubernetes counterparts do.
//!
//! - [`hpa`]: the HorizontalPodAutoscaler (autoscaling/v2): spec types with the API server's
//!   defaults and validation, the replica calculator, stabilization and scaling policies, a
//!   stateful [`hpa::HpaController`] for the simulator and [`hpa::explain`] for
//!   `capsim hpa explain`.
//! - [`kpa`]: Knative's Pod Autoscaler (concurrency target, stable and panic windows, scale to
//!   zero).
//! - [`keda`]: KEDA's scale-to-zero executor in front of an HPA on external metrics.

//! - [`pipeline`]: the autoscalers as they run in the simulated cluster, with the metric
//!   pipelines that feed them.

pub mod hpa;
pub mod keda;
pub mod kpa;
pub mod pipeline;
pub mod plan;

pub use pipeline::{Control, ControlEv, CpuUse, PodInput, PodSignal, SvcSignal, SyncInput};
pub use plan::{AutoscalerPlan, Pipelines};

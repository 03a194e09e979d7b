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

pub mod hpa;
pub mod keda;
pub mod kpa;

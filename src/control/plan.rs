//! The control part of a plan: each service's autoscaler and its metric pipelines.

use crate::control::hpa::{ControllerConfig, HpaSpec};
use crate::control::keda::KedaConfig;
use crate::control::kpa::KpaConfig;
use crate::engine::SimTime;

/// How often metrics are collected and over what window they average, per pipeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pipelines {
    /// metrics-server: resource metrics (CPU) resolution, also their window.
    pub resource_interval: SimTime,
    /// Prometheus scrape interval, for custom (Pods) and External metrics.
    pub custom_interval: SimTime,
    /// The Prometheus adapter's averaging window.
    pub custom_window: SimTime,
}

/// A service's autoscaler, resolved.
#[derive(Debug, Clone)]
pub enum AutoscalerPlan {
    /// A HorizontalPodAutoscaler.
    Hpa {
        /// The spec (validated).
        spec: HpaSpec,
        /// Controller flags.
        cfg: ControllerConfig,
        /// Sync period.
        sync: SimTime,
        /// Metric pipelines.
        pipelines: Pipelines,
    },
    /// Knative's KPA.
    Kpa(KpaConfig),
    /// KEDA: its executor plus the HPA it creates.
    Keda {
        /// The ScaledObject, resolved.
        keda: KedaConfig,
        /// The HPA KEDA creates (External metrics `s{i}-{metric}`).
        spec: HpaSpec,
        /// Controller flags.
        cfg: ControllerConfig,
        /// Sync period.
        sync: SimTime,
        /// Metric pipelines.
        pipelines: Pipelines,
    },
}

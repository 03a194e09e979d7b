//! The control plane: kube-apiserver replicas with API Priority and Fairness, etcd, watches
//! and their fan-out, EndpointSlices (or legacy Endpoints), and the kubelets' heartbeats.

pub mod apf;
pub mod plan;

pub use plan::ControlPlanePlan;

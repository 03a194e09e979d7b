//! # capsim
//!
//! A discrete-event capacity simulator for GPU clusters on Kubernetes: every request, batch
//! and pod is an event on one simulated clock.
//!
//! A short tour, following the data:
//!
//! 1. [`scenario`] reads a YAML scenario (quantities with [`units`], defaults, strict fields,
//!    `--set` overrides) and resolves it into a [`sim::Plan`]: GPU profiles from [`hardware`],
//!    model costs from [`models`], arrival processes and distributions from [`workload`].
//! 2. [`sim`] runs replications in parallel; each is a single-threaded event loop over the
//!    kernel of [`engine`] (integer-nanosecond time, a (time, sequence) event queue, named
//!    random streams) that routes each event to the subsystem that owns it: [`cluster`]
//!    (nodes, pods, the scheduler, the cluster autoscaler, node failures), [`serving`] (the
//!    request path: workloads, routing, replicas attached to pods, batching, LLM engines)
//!    and [`control`] (the HPA, KPA and KEDA with their metric pipelines). The cluster tells
//!    the owners of its pods what happened to them through notices.
//! 3. [`stats`] turns what happened into HDR percentiles and Student-t confidence intervals,
//!    and [`report`] writes summary.csv, summary.json and timeseries.csv.
//!
//! ```no_run
//! let plan = capsim::scenario::plan_file("scenarios/quickstart.yaml".as_ref(), &[]).unwrap();
//! let report = capsim::sim::simulate(&plan, false).unwrap();
//! println!("p99 = {} ms", report.mean("resnet", "latency_p99_ms"));
//! ```
#![warn(missing_docs)]

pub mod apiserver;
pub mod cli;
pub mod cluster;
pub mod control;
pub mod engine;
pub mod error;
pub mod hardware;
pub mod models;
pub mod report;
pub mod scenario;
pub mod serving;
pub mod sim;
pub mod stats;
pub mod sweep;
pub mod training;
pub mod units;
pub mod workload;

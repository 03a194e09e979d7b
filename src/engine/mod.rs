//! The discrete-event kernel: integer-nanosecond time, the event queue and random streams.
//!
//! The kernel is single-threaded per replication; parallelism lives above it, across
//! replications and sweep points.

mod queue;
mod rng;
mod sink;

pub use queue::EventQueue;
pub use rng::{SimRng, stream};
pub use sink::Sink;
// Time is a unit that scenario files and the kernel share; it lives in `units`.
pub use crate::units::SimTime;

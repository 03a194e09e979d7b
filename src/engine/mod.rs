//! The discrete-event kernel: integer-nanosecond time, the event queue and random streams.
//!
//! The kernel is single-threaded per replication; parallelism lives above it, across
//! replications and sweep points.

mod queue;
mod rng;
mod sink;
mod time;

pub use queue::EventQueue;
pub use rng::{SimRng, stream};
pub use sink::Sink;
pub use time::SimTime;

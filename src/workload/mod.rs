//! Workloads: what requests arrive, when, and how big they are.
//!
//! - [`dist`]: the distributions a scenario writes for durations (`service_time`, think
//!   times) and counts (`prompt_tokens`, `output_tokens`), compiled into [`Sampler`]s.
//! - [`delay`]: durations that may also be distributions (`repair_time`).
//! - [`arrivals`]: the arrival processes of `workloads[].arrivals` (poisson, on_off,
//!   diurnal, step, ramp, trace, closed), compiled into an [`ArrivalProcess`] for open loops
//!   or a [`ClosedLoop`] of users.
//!
//! Parsing, checking and compiling are separate steps: serde parses ([`Dist`],
//! [`ArrivalSpec`]), `check()` validates with messages that name the field and the limit,
//! and `compile()` reads any CSV file and builds the form the simulator draws from, so that
//! `capsim validate` can stop before any file is read. Nothing here allocates per draw and
//! nothing dispatches through `Box<dyn>`.
//!
//! Every random draw takes the caller's [`SimRng`](crate::engine::SimRng): give each
//! workload its own [`stream`](crate::engine::stream) and the same seed yields the same
//! arrivals on any machine.

pub mod arrivals;
pub mod datafile;
pub mod delay;
pub mod dist;
pub mod jobtrace;
mod trace;

pub use arrivals::{ArrivalProcess, ArrivalSpec, Arrivals, ClosedLoop, ThinkTime};
pub use delay::Delay;
pub use dist::{Count, Dist, Q, Quantity, Sampler, Secs};

use crate::engine::SimTime;

// Here, not in arrivals.rs: the processes and trace replay (trace.rs) both produce it.
/// One request arrival. Token counts come only from traces that have those columns; when
/// absent the workload's `prompt_tokens`/`output_tokens` distributions apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// When the request arrives.
    pub at: SimTime,
    /// The trace row's prompt tokens, if it has them.
    pub prompt_tokens: Option<u32>,
    /// The trace row's output tokens, if it has them.
    pub output_tokens: Option<u32>,
}

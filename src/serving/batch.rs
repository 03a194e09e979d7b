//! Batch formation of an inference replica: when a queued batch starts and how big it is.
//!
//! The request path owns the queues and the clock; this function decides.

use super::plan::Batching;
use crate::engine::SimTime;

/// What a replica with a free execution slot does with its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Start a batch of this many requests now.
    Now(usize),
    /// Wait: the batch may still fill; decide again at this time.
    WaitUntil(SimTime),
    /// Nothing is queued.
    Idle,
}

/// Batch formation, Triton-style: a full batch starts at once; a partial one starts when its
/// oldest request has waited `max_delay` (Triton's `max_queue_delay_microseconds`).
/// Without batching every request is a batch of one.
#[inline]
pub fn take(batching: Batching, queued: usize, oldest_arrival: SimTime, now: SimTime) -> Take {
    if queued == 0 {
        return Take::Idle;
    }
    match batching {
        // An LLM engine admits requests itself, between iterations.
        Batching::None | Batching::Continuous => Take::Now(1),
        Batching::Dynamic {
            max_batch,
            max_delay,
        } => {
            if queued >= max_batch as usize {
                Take::Now(max_batch as usize)
            } else {
                let due = oldest_arrival + max_delay;
                if now >= due {
                    Take::Now(queued)
                } else {
                    Take::WaitUntil(due)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DYN: Batching = Batching::Dynamic {
        max_batch: 8,
        max_delay: SimTime(5_000_000),
    };

    #[test]
    fn full_batches_start_at_once() {
        assert_eq!(take(DYN, 20, SimTime(0), SimTime(0)), Take::Now(8));
        assert_eq!(take(DYN, 8, SimTime(0), SimTime(0)), Take::Now(8));
    }

    #[test]
    fn partial_batches_wait_for_the_delay() {
        assert_eq!(
            take(DYN, 3, SimTime(1_000_000), SimTime(2_000_000)),
            Take::WaitUntil(SimTime(6_000_000))
        );
        assert_eq!(
            take(DYN, 3, SimTime(1_000_000), SimTime(6_000_000)),
            Take::Now(3)
        );
    }

    #[test]
    fn no_batching_takes_one() {
        assert_eq!(
            take(Batching::None, 5, SimTime(0), SimTime(0)),
            Take::Now(1)
        );
        assert_eq!(take(Batching::None, 0, SimTime(0), SimTime(0)), Take::Idle);
    }
}

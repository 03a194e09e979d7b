//! How a subsystem schedules its own events without knowing the world's event type.
//!
//! Each subsystem (cluster, serving, control) has its own event enum; the world's event type
//! wraps them (`From<ClusterEv> for Ev`, ...). A subsystem takes `&mut impl Sink<ItsEvent>`,
//! and the world passes its [`EventQueue`], so the subsystem needs no import of the world and
//! the call compiles to a plain push.

use super::{EventQueue, SimTime};

/// Somewhere to schedule events of type `E`.
pub trait Sink<E> {
    /// The current time.
    fn now(&self) -> SimTime;
    /// Schedules `event` at absolute time `at` (a time in the past runs now).
    fn at(&mut self, at: SimTime, event: E);
    /// Schedules `event` in lane `lane` when the queue has it, else in the heap (see
    /// [`EventQueue::schedule_lane`]).
    fn at_lane(&mut self, lane: usize, at: SimTime, event: E);
    /// Schedules `event` in lane `lane` when the queue has it and it is free, else in the
    /// heap (see [`EventQueue::schedule_free_lane`]): the order is the same as [`Sink::at`]'s.
    fn at_free_lane(&mut self, lane: usize, at: SimTime, event: E);
}

impl<E, W: From<E>> Sink<E> for EventQueue<W> {
    #[inline]
    fn now(&self) -> SimTime {
        EventQueue::now(self)
    }

    #[inline(always)]
    fn at(&mut self, at: SimTime, event: E) {
        self.schedule(at, W::from(event));
    }

    #[inline(always)]
    fn at_lane(&mut self, lane: usize, at: SimTime, event: E) {
        if lane < self.lanes() {
            self.schedule_lane(lane, at, W::from(event));
        } else {
            self.schedule(at, W::from(event));
        }
    }

    #[inline(always)]
    fn at_free_lane(&mut self, lane: usize, at: SimTime, event: E) {
        if lane < self.lanes() {
            self.schedule_free_lane(lane, at, W::from(event));
        } else {
            self.schedule(at, W::from(event));
        }
    }
}

//! Periodic callers at random phases, walked in time order by one pending event.
//!
//! Every kubelet renews its lease every 10 s at its own phase; 7,500 of them would keep
//! 7,500 timers in the event queue. A ring keeps the members sorted by phase and walks them:
//! one event, due at the next member's turn. Each member carries what its turn needs (a
//! kubelet's route to its API server), read in walking order rather than looked up.

use crate::engine::SimTime;

/// Members calling once per period, each at its phase, each with a payload `P`.
#[derive(Debug, Clone)]
pub struct Ring<P = ()> {
    period: u64,
    /// (phase in ns within the period, member, payload), sorted by phase.
    members: Vec<(u64, u32, P)>,
    /// The next to call in the current cycle.
    next: usize,
    /// Start of the current cycle.
    cycle_start: u64,
    /// Completed cycles.
    cycles: u64,
}

impl<P: Copy> Ring<P> {
    /// An empty ring of period `period` (more than zero).
    pub fn new(period: SimTime) -> Ring<P> {
        Ring {
            period: period.0.max(1),
            members: Vec::new(),
            next: 0,
            cycle_start: 0,
            cycles: 0,
        }
    }

    /// Members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether it has no member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// When the next member calls.
    pub fn next_time(&self) -> Option<SimTime> {
        if self.members.is_empty() {
            return None;
        }
        Some(match self.members.get(self.next) {
            Some(&(phase, _, _)) => SimTime(self.cycle_start + phase),
            None => SimTime(self.cycle_start + self.period + self.members[0].0),
        })
    }

    /// The member whose turn it is (at [`Ring::next_time`]), the cycle it calls in (counted
    /// from 0 since the ring began) and its payload, moving on to the next.
    pub fn advance(&mut self) -> Option<(u32, u64, P)> {
        if self.members.is_empty() {
            return None;
        }
        if self.next >= self.members.len() {
            self.next = 0;
            self.cycle_start += self.period;
            self.cycles += 1;
        }
        let (_, m, p) = self.members[self.next];
        self.next += 1;
        Some((m, self.cycles, p))
    }

    /// Adds `member` at `phase` (ns, below the period) with `payload`. A member whose phase
    /// has passed in the current cycle calls first in the next.
    pub fn insert(&mut self, now: SimTime, phase: u64, member: u32, payload: P) {
        let phase = phase % self.period;
        if self.members.is_empty() {
            // A new walk: the cycle containing `now`.
            self.cycle_start = now.0 - now.0 % self.period;
            self.next = 0;
        }
        let p = self.members.partition_point(|&(f, _, _)| f <= phase);
        let due_now = self.cycle_start + phase >= now.0;
        self.members.insert(p, (phase, member, payload));
        if p < self.next || (p == self.next && !due_now) {
            self.next += 1;
        }
    }

    /// Removes `member` (if present).
    pub fn remove(&mut self, member: u32) {
        if let Some(p) = self.members.iter().position(|&(_, m, _)| m == member) {
            self.members.remove(p);
            if p < self.next {
                self.next -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_call_once_per_period_in_phase_order() {
        let mut r: Ring = Ring::new(SimTime::from_secs(10));
        r.insert(SimTime::ZERO, 3_000_000_000, 7, ());
        r.insert(SimTime::ZERO, 1_000_000_000, 5, ());
        let mut seen = Vec::new();
        for _ in 0..4 {
            let t = r.next_time().unwrap();
            let (m, _, ()) = r.advance().unwrap();
            seen.push((t.as_secs_f64(), m));
        }
        assert_eq!(seen, [(1.0, 5), (3.0, 7), (11.0, 5), (13.0, 7)]);
    }

    #[test]
    fn a_member_added_after_its_phase_waits_for_the_next_cycle() {
        let mut r: Ring = Ring::new(SimTime::from_secs(10));
        r.insert(SimTime::ZERO, 5_000_000_000, 1, ());
        assert_eq!(r.advance(), Some((1, 0, ())));
        // At 6 s a member of phase 2 s joins: its first call is at 12 s, after member 1's
        // at 15 s? No: 12 s comes first.
        r.insert(SimTime::from_secs(6), 2_000_000_000, 2, ());
        assert_eq!(r.next_time(), Some(SimTime::from_secs(12)));
        assert_eq!(r.advance(), Some((2, 1, ())));
        assert_eq!(r.next_time(), Some(SimTime::from_secs(15)));
        r.remove(1);
        assert_eq!(r.next_time(), Some(SimTime::from_secs(22)));
    }
}

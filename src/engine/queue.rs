//! The future-event list: a binary heap keyed by (time, insertion sequence).
//!
//! Equal times pop in insertion order, which makes runs deterministic without any
//! tie-breaking by event content.

use super::SimTime;

/// One pending event. (time, seq) as two u64s rather than a u128 keeps entries 8-aligned, so
/// an entry with a small event is 24 bytes instead of 32.
struct Entry<E> {
    time: u64,
    seq: u64,
    event: E,
}

impl<E> Entry<E> {
    #[inline(always)]
    fn before(&self, other: &Entry<E>) -> bool {
        (self.time, self.seq) < (other.time, other.seq)
    }
}

/// A priority queue of events of type `E`, earliest first, FIFO among equal times.
///
/// A binary min-heap written out by hand: sifts move a hole instead of swapping, and the
/// (time, seq) order is total, so no tie can depend on the event's content.
pub struct EventQueue<E> {
    heap: Vec<Entry<E>>,
    // Lanes hold at most one event each, outside the heap: a stream that always has exactly
    // one pending event (the next arrival of a workload) then costs a compare instead of a
    // heap push and pop. Ordering is the same (time, seq) as in the heap.
    lanes: Vec<Option<Entry<E>>>,
    seq: u64,
    now: SimTime,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    /// An empty queue at time zero.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty queue with room for `n` pending events.
    pub fn with_capacity(n: usize) -> Self {
        EventQueue {
            heap: Vec::with_capacity(n),
            lanes: Vec::new(),
            seq: 0,
            now: SimTime::ZERO,
        }
    }

    /// Adds `n` lanes, each holding at most one pending event outside the heap (see
    /// [`EventQueue::schedule_lane`]). Meant for a handful of streams: `pop` scans them.
    pub fn with_lanes(mut self, n: usize) -> Self {
        self.lanes = (0..n).map(|_| None).collect();
        self
    }

    /// Number of lanes.
    pub fn lanes(&self) -> usize {
        self.lanes.len()
    }

    /// Schedules `event` at `at` in lane `lane`, replacing the lane's pending event if any.
    /// It pops in the same (time, insertion) order as any other event.
    #[inline]
    pub fn schedule_lane(&mut self, lane: usize, at: SimTime, event: E) {
        self.lanes[lane] = Some(Entry {
            time: at.max(self.now).0,
            seq: self.seq,
            event,
        });
        self.seq += 1;
    }

    /// The time of the last popped event.
    #[inline]
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Schedules `event` at absolute time `at`. Times in the past are clamped to now,
    /// so that causality holds even if a model computes a stale time.
    #[inline]
    pub fn schedule(&mut self, at: SimTime, event: E) {
        let entry = Entry {
            time: at.max(self.now).0,
            seq: self.seq,
            event,
        };
        self.seq += 1;
        // Sift up: move parents down until the entry's place is found.
        let mut i = self.heap.len();
        self.heap.push(entry);
        let h = &mut self.heap;
        while i > 0 {
            let parent = (i - 1) / 2;
            if h[i].before(&h[parent]) {
                h.swap(i, parent);
                i = parent;
            } else {
                break;
            }
        }
    }

    /// Schedules `event` after `delay` from now.
    #[inline]
    pub fn schedule_in(&mut self, delay: SimTime, event: E) {
        self.schedule(self.now + delay, event);
    }

    /// Pops the earliest event and advances the clock to its time.
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        if !self.lanes.is_empty() {
            // The earliest lane, if it beats the heap's top, goes first.
            let mut best: Option<(usize, u64, u64)> = None;
            for (i, l) in self.lanes.iter().enumerate() {
                if let Some(e) = l
                    && best.is_none_or(|(_, t, s)| (e.time, e.seq) < (t, s))
                {
                    best = Some((i, e.time, e.seq));
                }
            }
            if let Some((i, t, s)) = best
                && self.heap.first().is_none_or(|h| (t, s) < (h.time, h.seq))
                && let Some(e) = self.lanes[i].take()
            {
                self.now = SimTime(e.time);
                return Some((self.now, e.event));
            }
        }
        let last = self.heap.pop()?;
        let top = if self.heap.is_empty() {
            last
        } else {
            let top = std::mem::replace(&mut self.heap[0], last);
            // Sift the moved entry down.
            let h = &mut self.heap;
            let n = h.len();
            let mut i = 0;
            loop {
                let l = 2 * i + 1;
                if l >= n {
                    break;
                }
                let r = l + 1;
                let c = if r < n && h[r].before(&h[l]) { r } else { l };
                if h[c].before(&h[i]) {
                    h.swap(i, c);
                    i = c;
                } else {
                    break;
                }
            }
            top
        };
        self.now = SimTime(top.time);
        Some((self.now, top.event))
    }

    /// The time of the earliest pending event.
    pub fn peek_time(&self) -> Option<SimTime> {
        self.heap
            .first()
            .into_iter()
            .chain(self.lanes.iter().flatten())
            .map(|e| SimTime(e.time))
            .min()
    }

    /// Number of pending events.
    pub fn len(&self) -> usize {
        self.heap.len() + self.lanes.iter().flatten().count()
    }

    /// Whether no event is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total number of events ever scheduled.
    pub fn scheduled_total(&self) -> u64 {
        self.seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_and_fifo_on_ties() {
        let mut q = EventQueue::new();
        q.schedule(SimTime(30), "c");
        q.schedule(SimTime(10), "a1");
        q.schedule(SimTime(20), "b");
        q.schedule(SimTime(10), "a2");
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, vec!["a1", "a2", "b", "c"]);
        assert_eq!(q.now(), SimTime(30));
    }

    #[test]
    fn lanes_pop_in_the_same_order_as_the_heap() {
        // Ties between a lane and the heap go by insertion order, as within the heap.
        let mut q = EventQueue::new().with_lanes(2);
        q.schedule(SimTime(10), "h1");
        q.schedule_lane(0, SimTime(10), "l0");
        q.schedule_lane(1, SimTime(5), "l1");
        q.schedule(SimTime(5), "h0");
        q.schedule(SimTime(20), "h2");
        assert_eq!(q.len(), 5);
        assert_eq!(q.peek_time(), Some(SimTime(5)));
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, vec!["l1", "h0", "h1", "l0", "h2"]);
        assert!(q.is_empty());
    }

    #[test]
    fn past_times_are_clamped_to_now() {
        let mut q = EventQueue::new();
        q.schedule(SimTime(100), 1);
        q.pop();
        q.schedule(SimTime(5), 2);
        assert_eq!(q.pop(), Some((SimTime(100), 2)));
    }
}

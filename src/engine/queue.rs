//! The future-event list, keyed by (time, insertion sequence).
//!
//! Equal times pop in insertion order, which makes runs deterministic without any
//! tie-breaking by event content.
//!
//! Three structures give that order, each where it is fastest, and the queue moves its events
//! from one to the next as their number crosses a threshold (with hysteresis):
//!
//! - an array sorted latest first while very few are pending (a small served queue holds a
//!   handful: one per busy slot, a timer or two): a pop takes the last entry without a
//!   comparison, and a push steps back over the few entries due before it. A heap's sifts
//!   compare random times at every level, and each comparison is a coin toss for the
//!   processor's branch predictor;
//! - a binary min-heap while few events are pending (up to a thousand); sifts are short and
//!   the array stays in the first cache lines;
//! - a radix heap (Ahuja, Mehlhorn, Orlin and Tarjan 1990) when many are (timers of thousands
//!   of nodes and pods). Simulated time never goes back (times in the past are clamped to
//!   now), so an event can go to the bucket of the highest bit in which its time differs
//!   from the last time taken out: a push is one `leading_zeros`, and a pop takes the front of
//!   the run (the earliest events, sorted) or, when it is empty, makes the lowest non-empty
//!   bucket the run: sorted when it holds a few events, else spread over the buckets below.
//!   Each event moves a few times through arrays read in order, where a binary heap of
//!   100,000 events jumps about memory 17 levels deep per operation. Every bucket stays in
//!   insertion order among equal times (a bucket is filled by spreading only while it is
//!   empty, spreading keeps order, and events enter from the binary heap sorted), so equal
//!   times leave in the order they were scheduled.

use super::SimTime;
use std::collections::VecDeque;

/// One pending event. (time, seq) as two u64s rather than a u128 keeps entries 8-aligned, so
/// an entry with a small event is 24 bytes instead of 32.
struct Entry<E> {
    time: u64,
    seq: u64,
    event: E,
}

impl<E> Entry<E> {
    #[inline(always)]
    fn key(&self) -> u128 {
        // One 128-bit comparison (a compare and a subtract with borrow) instead of a
        // comparison of times and then, on a tie, of sequences.
        (self.time as u128) << 64 | self.seq as u128
    }

    #[inline(always)]
    fn before(&self, other: &Entry<E>) -> bool {
        self.key() < other.key()
    }
}

/// The sorted array becomes a binary heap above this many events...
const SORTED_ABOVE: usize = 16;
/// ...and the heap a sorted array again below this many.
const SORTED_BELOW: usize = 8;
/// Buckets of the radix heap, one per bit in which a time can first differ from `last`.
const BUCKETS: usize = 64;
/// The binary heap hands its events to the radix heap above this many...
const RADIX_ABOVE: usize = 1024;
/// ...and takes them back below this many.
const BINARY_BELOW: usize = 256;
/// A lowest bucket of at most this many events is sorted into the run instead of spread: it
/// would otherwise move down a bucket or more per spread until each event stood alone.
const SORT_AT_MOST: usize = 48;

/// `EventQueue::first_lane` when no lane holds an event.
const NO_LANE: usize = usize::MAX;

/// Places of the run looked at one by one, from the front, before a binary search when an
/// event lands inside it.
const LOOK_FIRST: usize = 4;

/// The radix heap.
struct Radix<E> {
    /// The run: events whose time agrees with `last` on every bit from `run_bits` up, in
    /// (time, seq) order. Every event of the buckets comes after every event of the run.
    current: VecDeque<Entry<E>>,
    /// Bits below which a time belongs to the run (0: only `last` itself).
    run_bits: u32,
    /// `buckets[b]`: events whose time differs from `last` first in bit b (b >= `run_bits`).
    buckets: Vec<Vec<Entry<E>>>,
    /// The smallest key, (time, seq) as one number, in each bucket (`u128::MAX` when empty):
    /// the minimum is known without spreading, so a lane that comes first pops alone and
    /// `last` never passes the clock.
    least: [u128; BUCKETS],
    /// Bit b set: `buckets[b]` is not empty.
    occupied: u64,
    /// The reference: the smallest time taken out of the buckets so far.
    last: u64,
    /// Events held.
    len: usize,
    /// `SORT_AT_MOST` (other values in tests, to take both ways often).
    sort_at_most: usize,
}

impl<E> Radix<E> {
    fn new() -> Self {
        Radix {
            current: VecDeque::new(),
            run_bits: 0,
            buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
            least: [u128::MAX; BUCKETS],
            occupied: 0,
            last: 0,
            len: 0,
            sort_at_most: SORT_AT_MOST,
        }
    }

    /// Files `e` (time >= `last`, outside the run) in its bucket.
    #[inline(always)]
    fn put(&mut self, e: Entry<E>) {
        let b = (63 - (e.time ^ self.last).leading_zeros()) as usize;
        if e.key() < self.least[b] {
            self.least[b] = e.key();
        }
        self.buckets[b].push(e);
        self.occupied |= 1 << b;
    }

    #[inline(always)]
    fn push(&mut self, e: Entry<E>) {
        self.len += 1;
        if (e.time ^ self.last) >> self.run_bits != 0 {
            self.put(e);
        } else if self.current.back().is_none_or(|b| b.time <= e.time) {
            // Its seq is the largest: it goes after every event at its time or before.
            self.current.push_back(e);
        } else {
            // An event that lands inside the run is mostly due soon (a run sorted from a
            // small bucket can span minutes, and timers of milliseconds keep coming): look
            // from the front for a few places before halving the whole run.
            let head = self.current.len().min(LOOK_FIRST);
            let mut at = 0;
            while at < head && self.current[at].time <= e.time {
                at += 1;
            }
            if at == LOOK_FIRST {
                at = self.current.partition_point(|x| x.time <= e.time);
            }
            if at == 0 {
                self.current.push_front(e);
            } else {
                self.current.insert(at, e);
            }
        }
    }

    #[inline(always)]
    fn least(&self) -> Option<u128> {
        if let Some(e) = self.current.front() {
            Some(e.key())
        } else if self.occupied != 0 {
            Some(self.least[self.occupied.trailing_zeros() as usize])
        } else {
            None
        }
    }

    #[inline]
    fn pop(&mut self) -> Option<Entry<E>> {
        if self.current.is_empty() && self.occupied != 0 {
            self.refill();
        }
        let e = self.current.pop_front()?;
        self.len -= 1;
        Some(e)
    }

    /// Makes the lowest bucket the run (its events are the earliest): sorted when small,
    /// else spread over the buckets below until the earliest time stands alone.
    fn refill(&mut self) {
        let b = self.occupied.trailing_zeros() as usize;
        let mut spread = std::mem::take(&mut self.buckets[b]);
        self.occupied &= !(1 << b);
        // The new reference agrees with the old one on bits above b, so the higher buckets
        // keep their meaning; every event of bucket b agrees with it from bit b up.
        self.last = (self.least[b] >> 64) as u64;
        self.least[b] = u128::MAX;
        if spread.len() <= self.sort_at_most {
            spread.sort_unstable_by_key(Entry::key);
            self.current.extend(spread.drain(..));
            self.run_bits = b as u32;
        } else {
            self.run_bits = 0;
            // Every event of bucket b goes to the run or a lower bucket, all empty now: order
            // is kept.
            for e in spread.drain(..) {
                if e.time == self.last {
                    self.current.push_back(e);
                } else {
                    self.put(e);
                }
            }
        }
        // The emptied allocation goes back, so buckets do not reallocate as they refill.
        self.buckets[b] = spread;
    }

    /// Takes every event out, in no particular order.
    fn drain_into(&mut self, out: &mut Vec<Entry<E>>) {
        out.extend(self.current.drain(..));
        for b in 0..BUCKETS {
            out.append(&mut self.buckets[b]);
            self.least[b] = u128::MAX;
        }
        self.occupied = 0;
        self.run_bits = 0;
        self.len = 0;
    }
}

/// A priority queue of events of type `E`, earliest first, FIFO among equal times.
pub struct EventQueue<E> {
    /// The sorted array (latest first) or the binary heap, while `radix` is off.
    heap: Vec<Entry<E>>,
    /// `heap` is the sorted array.
    sorted: bool,
    /// While `sorted`: the (time, seq) of its last entry, the earliest (`u128::MAX`: none),
    /// kept as it changes so that pop compares it with the lanes' without reading the array.
    sorted_least: u128,
    /// The radix heap holds the events (and `heap` is empty).
    radix_on: bool,
    radix: Radix<E>,
    /// `RADIX_ABOVE`, `BINARY_BELOW`, `SORTED_ABOVE` and `SORTED_BELOW` (others in tests, to
    /// switch often).
    radix_above: usize,
    binary_below: usize,
    sorted_above: usize,
    sorted_below: usize,
    // Lanes hold at most one event each, outside the heap: a stream that always has exactly
    // one pending event (the next arrival of a workload) then costs a compare instead of a
    // push and a pop. Ordering is the same (time, seq) as in the heap.
    lanes: Vec<Option<Entry<E>>>,
    /// The lane holding the earliest lane event (`NO_LANE`: none), kept as lanes change so
    /// that a pop from the heap does not scan them.
    first_lane: usize,
    /// The (time, seq) of `first_lane`'s event (`u128::MAX`: none): pop compares it with the
    /// heap's least without reaching into the lanes.
    first_lane_key: u128,
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
            heap: Vec::with_capacity(n.min(RADIX_ABOVE + 1)),
            sorted: true,
            sorted_least: u128::MAX,
            radix_on: false,
            radix: Radix::new(),
            radix_above: RADIX_ABOVE,
            binary_below: BINARY_BELOW,
            sorted_above: SORTED_ABOVE,
            sorted_below: SORTED_BELOW,
            lanes: Vec::new(),
            first_lane: NO_LANE,
            first_lane_key: u128::MAX,
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

    /// The queue with other switching thresholds (tests: switch often, or never back) and
    /// another largest bucket sorted rather than spread.
    #[cfg(test)]
    fn with_thresholds(
        mut self,
        (radix_above, binary_below): (usize, usize),
        (sorted_above, sorted_below): (usize, usize),
        sort: usize,
    ) -> Self {
        self.radix_above = radix_above;
        self.binary_below = binary_below;
        self.sorted_above = sorted_above;
        self.sorted_below = sorted_below;
        self.radix.sort_at_most = sort;
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
        let e = Entry {
            time: at.max(self.now).0,
            seq: self.seq,
            event,
        };
        self.seq += 1;
        let key = e.key();
        self.lanes[lane] = Some(e);
        if lane == self.first_lane {
            // It replaced the earliest: another lane may be earlier now.
            self.find_first_lane();
        } else if key < self.first_lane_key {
            self.first_lane = lane;
            self.first_lane_key = key;
        }
    }

    /// Finds the lane holding the earliest lane event.
    fn find_first_lane(&mut self) {
        let mut best: Option<(usize, u128)> = None;
        for (i, l) in self.lanes.iter().enumerate() {
            if let Some(e) = l
                && best.is_none_or(|(_, k)| e.key() < k)
            {
                best = Some((i, e.key()));
            }
        }
        (self.first_lane, self.first_lane_key) = best.unwrap_or((NO_LANE, u128::MAX));
    }

    /// Schedules `event` at `at` in lane `lane` when the lane holds no event, else in the
    /// heap: unlike [`EventQueue::schedule_lane`] it never replaces an event, and either way
    /// it pops in the same (time, insertion) order as any other event.
    #[inline]
    pub fn schedule_free_lane(&mut self, lane: usize, at: SimTime, event: E) {
        if self.lanes[lane].is_none() {
            self.schedule_lane(lane, at, event);
        } else {
            self.schedule(at, event);
        }
    }

    /// The time of the last popped event.
    #[inline]
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Schedules `event` at absolute time `at`. Times in the past are clamped to now,
    /// so that causality holds even if a model computes a stale time.
    #[inline(always)]
    pub fn schedule(&mut self, at: SimTime, event: E) {
        let entry = Entry {
            time: at.max(self.now).0,
            seq: self.seq,
            event,
        };
        self.seq += 1;
        if self.radix_on {
            self.radix_push(entry);
            return;
        }
        if self.sorted {
            // Latest first: step back over the entries due before it (an equal time was
            // scheduled earlier and goes first: its seq is smaller).
            let h = &mut self.heap;
            let mut at = h.len();
            while at > 0 && h[at - 1].time <= entry.time {
                at -= 1;
            }
            if at == h.len() {
                self.sorted_least = entry.key();
            }
            h.insert(at, entry);
            if h.len() > self.radix_above {
                self.move_to_radix();
            } else if h.len() > self.sorted_above {
                // Earliest first, an array sorted is a valid heap.
                h.reverse();
                self.sorted = false;
            }
            return;
        }
        // The binary heap's push, in the caller (a served queue schedules once per request):
        // sift up, moving parents down until the entry's place is found.
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
        if self.heap.len() > self.radix_above {
            self.move_to_radix();
        }
    }

    /// The radix heap's push, out of line: the callers inline the binary heap's.
    #[inline(never)]
    fn radix_push(&mut self, entry: Entry<E>) {
        self.radix.push(entry);
    }

    /// Moves the binary heap's events to the radix heap, in (time, seq) order so that each
    /// bucket holds equal times in insertion order.
    #[cold]
    fn move_to_radix(&mut self) {
        self.heap.sort_unstable_by_key(Entry::key);
        self.radix.last = self.now.0;
        for e in self.heap.drain(..) {
            self.radix.push(e);
        }
        self.radix_on = true;
        self.sorted = false;
    }

    /// Moves the radix heap's events back to the binary heap.
    #[cold]
    fn move_to_binary(&mut self) {
        let mut all = std::mem::take(&mut self.heap);
        self.radix.drain_into(&mut all);
        // A sorted array is a valid heap.
        all.sort_unstable_by_key(Entry::key);
        self.heap = all;
        self.radix_on = false;
    }

    /// Schedules `event` after `delay` from now.
    #[inline]
    pub fn schedule_in(&mut self, delay: SimTime, event: E) {
        self.schedule(self.now + delay, event);
    }

    /// Keeps `sorted_least` as the sorted array's last key.
    #[inline(always)]
    fn note_sorted_least(&mut self) {
        self.sorted_least = self.heap.last().map_or(u128::MAX, Entry::key);
    }

    /// The (time, seq) of the heap's earliest event (`u128::MAX`: none).
    #[inline(always)]
    fn heap_least(&self) -> u128 {
        if self.radix_on {
            self.radix.least().unwrap_or(u128::MAX)
        } else if self.sorted {
            self.sorted_least
        } else {
            self.heap.first().map_or(u128::MAX, Entry::key)
        }
    }

    /// Pops the earliest event and advances the clock to its time.
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        // The earliest lane, if it beats the heap's top, goes first.
        // (No lane event: its key is u128::MAX, which no heap event beats.)
        if self.first_lane_key < self.heap_least()
            && let Some(e) = self.lanes[self.first_lane].take()
        {
            if self.lanes.len() == 1 {
                // The one lane is empty now (one workload: every arrival): no scan.
                self.first_lane = NO_LANE;
                self.first_lane_key = u128::MAX;
            } else {
                self.find_first_lane();
            }
            self.now = SimTime(e.time);
            return Some((self.now, e.event));
        }
        let top = if self.radix_on {
            let top = self.radix.pop()?;
            if self.radix.len < self.binary_below {
                self.move_to_binary();
            }
            top
        } else if self.sorted {
            let top = self.heap.pop()?;
            self.note_sorted_least();
            top
        } else {
            let top = self.binary_pop()?;
            if self.heap.len() < self.sorted_below {
                self.heap
                    .sort_unstable_by_key(|e| std::cmp::Reverse(e.key()));
                self.sorted = true;
                self.note_sorted_least();
            }
            top
        };
        self.now = SimTime(top.time);
        Some((self.now, top.event))
    }

    #[inline]
    fn binary_pop(&mut self) -> Option<Entry<E>> {
        let last = self.heap.pop()?;
        if self.heap.is_empty() {
            return Some(last);
        }
        let top = std::mem::replace(&mut self.heap[0], last);
        // Sift the moved entry down. The heap is split at the first child, so that the
        // entry and its children are reached without a bounds check each.
        let h = &mut self.heap[..];
        let mut i = 0;
        loop {
            let l = 2 * i + 1;
            if l >= h.len() {
                break;
            }
            let (above, kids) = h.split_at_mut(l);
            let (c, child) = match kids {
                [a, b, ..] if b.before(a) => (l + 1, b),
                [a, ..] => (l, a),
                [] => break,
            };
            let e = &mut above[i];
            if child.before(e) {
                std::mem::swap(e, child);
                i = c;
            } else {
                break;
            }
        }
        Some(top)
    }

    /// The time of the earliest pending event.
    pub fn peek_time(&self) -> Option<SimTime> {
        Some(self.heap_least())
            .filter(|&k| k != u128::MAX)
            .map(|k| (k >> 64) as u64)
            .into_iter()
            .chain(self.lanes.iter().flatten().map(|e| e.time))
            .min()
            .map(SimTime)
    }

    /// Number of pending events.
    pub fn len(&self) -> usize {
        self.heap.len() + self.radix.len + self.lanes.iter().flatten().count()
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

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Against a sorted reference: random delays (many equal, some zero), pops
        /// interleaved with pushes, lanes included: every pop is the (time, seq) minimum.
        #[test]
        fn pops_in_time_then_insertion_order(
            ops in proptest::collection::vec((0u8..5, 0u64..20, 0u64..5), 1..400),
            thresholds in proptest::sample::select(vec![(8, 2), (0, 0), (30, 10), (1 << 20, 0)]),
            sorted in proptest::sample::select(vec![
                (SORTED_ABOVE, SORTED_BELOW),
                (0, 0),
                (3, 1),
                (6, 6),
                (usize::MAX, 0),
            ]),
            sort in proptest::sample::select(vec![0, 1, 4, SORT_AT_MOST, usize::MAX]),
        ) {
            let mut q = EventQueue::new()
                .with_lanes(3)
                .with_thresholds(thresholds, sorted, sort);
            let mut model: Vec<(u64, u64, u64)> = Vec::new(); // (time, seq, id)
            // Three lanes, the delay's parity picking one of the first two (the third stays
            // empty).
            let mut lanes: [Option<(u64, u64, u64)>; 3] = [None; 3];
            let mut seq = 0;
            for (id, (op, delay, scale)) in ops.into_iter().enumerate() {
                let id = id as u64;
                let at = q.now().0 + delay * 10u64.pow(scale as u32);
                let l = (delay % 2) as usize;
                match op {
                    0 | 1 => {
                        q.schedule(SimTime(at), id);
                        model.push((at, seq, id));
                        seq += 1;
                    }
                    2 => {
                        q.schedule_lane(l, SimTime(at), id);
                        lanes[l] = Some((at, seq, id));
                        seq += 1;
                    }
                    3 => {
                        // The lane if it is free, else the heap.
                        q.schedule_free_lane(l, SimTime(at), id);
                        if lanes[l].is_none() {
                            lanes[l] = Some((at, seq, id));
                        } else {
                            model.push((at, seq, id));
                        }
                        seq += 1;
                    }
                    _ => {
                        let mut all = model.clone();
                        all.extend(lanes.iter().flatten());
                        let want = all.iter().min().copied();
                        proptest::prop_assert_eq!(
                            q.peek_time(),
                            want.map(|w| SimTime(w.0))
                        );
                        let got = q.pop();
                        proptest::prop_assert_eq!(got, want.map(|w| (SimTime(w.0), w.2)));
                        if let Some(w) = want {
                            if let Some(x) = lanes.iter_mut().find(|x| **x == Some(w)) {
                                *x = None;
                            } else {
                                model.retain(|m| *m != w);
                            }
                        }
                    }
                }
                proptest::prop_assert_eq!(q.len(), model.len() + lanes.iter().flatten().count());
            }
        }
    }

    #[test]
    fn a_busy_lane_sends_the_next_event_to_the_heap() {
        let mut q = EventQueue::new().with_lanes(1);
        q.schedule_free_lane(0, SimTime(10), "lane");
        // The lane holds "lane": these go to the heap, and nothing is replaced.
        q.schedule_free_lane(0, SimTime(10), "second");
        q.schedule_free_lane(0, SimTime(5), "early");
        q.schedule(SimTime(10), "heap");
        assert_eq!(q.len(), 4);
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, vec!["early", "lane", "second", "heap"]);
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

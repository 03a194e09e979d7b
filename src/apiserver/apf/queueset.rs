//! One priority level's fair queuing on one server, after
//! `pkg/util/flowcontrol/fairqueuing/queueset/queueset.go` (kubernetes/apiserver @ 24a394e5).
//!
//! Requests are shuffle-sharded into queues; the queue whose oldest request would finish
//! first in virtual time (R, seat-seconds of fair service per queue) dispatches next, ties
//! broken round-robin after the last queue that dispatched; a request starts only if its
//! seats fit, and a head that does not fit stops dispatching (unless nothing executes, when
//! even a request wider than the limit starts). Everything is integer arithmetic on upstream's
//! fixed point (1e8 per seat-second), so a run is deterministic.
//!
//! The caller drives it in simulated time: [`QueueSet::offer`] on arrival, then
//! [`QueueSet::dispatch`] until None to take what starts; [`QueueSet::finish`] when a
//! request's execution ends (with its [`Ticket`]), and [`QueueSet::release`] when its final
//! seats' additional latency is over, if `finish` said so; [`QueueSet::expire`] at
//! [`QueueSet::next_deadline`] (HTTP 429); [`QueueSet::set_limit`] after each borrowing
//! adjustment. Each of offer, finish, release and set_limit dispatches what it can, as
//! upstream does after the same events, and leaves what started for `dispatch`.

use std::collections::VecDeque;

use super::borrowing::{DemandIntegrator, SeatDemand};
use super::config::{LevelConfig, LimitResponse};
use super::shuffle::{PackedHand, card_checked, deal_checked};
use super::work::{WorkEstimate, duration_per_seat, seat_seconds};
use crate::engine::SimTime;

/// How long a request may wait in a queue: a quarter of the request timeout (60 s by
/// default, `pkg/server/config.go` @ 24a394e5; the quarter is `RequestTimeout/4` in the same
/// file), hence 15 s.
pub const QUEUE_WAIT_LIMIT: SimTime = SimTime::from_secs(15);

/// The service time every request is assumed to take when it is dispatched (3 ms,
/// `estimatedServiceDuration` in queueset.go @ 24a394e5); corrected at completion.
pub const ESTIMATED_SERVICE_DURATION: SimTime = SimTime::from_millis(3);

const NONE: u32 = u32::MAX;

/// The total work of [`WorkEstimate::ONE`] in virtual time: one seat for the estimated
/// service duration, in units of 10 seat-nanoseconds (see [`seat_seconds`]).
const ONE_TOTAL_WORK: u64 = ESTIMATED_SERVICE_DURATION.nanos() / 10;

/// What the caller keeps for a request that started, and hands back to
/// [`QueueSet::finish`] and [`QueueSet::release`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    queue: u32,
    seats: u32,
    initial_seats: u32,
    /// When it started.
    pub start: SimTime,
    /// How long its seats stay held after it finishes (its final seats' additional latency).
    pub linger: SimTime,
}

impl Ticket {
    /// The seats it holds from start until released: the larger of its initial and final
    /// seats, for the whole time, as upstream.
    pub fn seats(&self) -> u32 {
        self.seats
    }
}

/// A request that starts executing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started<T> {
    /// The caller's request.
    pub item: T,
    /// Its work estimate; the final seats are cut to the limit (and the latency stretched)
    /// when they exceeded it at dispatch, as upstream.
    pub work: WorkEstimate,
    /// What to hand back when it finishes.
    pub ticket: Ticket,
    /// How long it waited in its queue.
    pub waited: SimTime,
}

/// Why a request was turned away at once (HTTP 429).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// Its queue held `queueLengthLimit` requests while every seat was taken
    /// (`queue-full`).
    QueueFull,
    /// The level rejects rather than queues, and its seats were taken
    /// (`concurrency-limit`).
    ConcurrencyLimit,
}

/// The outcome of [`QueueSet::offer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer<T> {
    /// Queued, or started already: [`QueueSet::dispatch`] returns it when it starts.
    Accepted,
    /// Turned away: the request and why.
    Rejected(T, RejectReason),
}

/// Counts since the queue set was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueSetCounts {
    /// Requests started.
    pub dispatched: u64,
    /// Rejected because their queue was full.
    pub queue_full: u64,
    /// Rejected by a rejecting level at its limit.
    pub concurrency_limit: u64,
    /// Removed from a queue at the wait limit.
    pub timed_out: u64,
}

struct Slot<T> {
    item: Option<T>,
    arrival: SimTime,
    arrival_r: u64,
    work: WorkEstimate,
    total_work: u64,
    queue: u32,
    /// The next in its queue, or in the free list.
    next: u32,
    older: u32,
    newer: u32,
}

#[derive(Debug, Clone, Copy)]
struct Queue {
    head: u32,
    tail: u32,
    waiting: u32,
    /// Sum of the waiting requests' total work (what shuffle sharding compares).
    work_sum: u64,
    executing: u32,
    seats_in_use: u32,
    /// The virtual time at which its next request is due to start.
    next_r: u64,
    active: bool,
}

impl Queue {
    const EMPTY: Queue = Queue {
        head: NONE,
        tail: NONE,
        waiting: 0,
        work_sum: 0,
        executing: 0,
        seats_in_use: 0,
        next_r: 0,
        active: false,
    };
}

/// A tournament tree of per-queue keys: the minimum, and the first queue at or after an
/// index holding it, in O(log queues).
struct MinTree {
    size: usize,
    node: Vec<u64>,
}

impl MinTree {
    fn new(n: usize) -> MinTree {
        let size = n.next_power_of_two().max(1);
        MinTree {
            size,
            node: vec![u64::MAX; 2 * size],
        }
    }

    fn set(&mut self, i: usize, v: u64) {
        let mut p = i + self.size;
        if self.node[p] == v {
            return;
        }
        self.node[p] = v;
        // Up to the first ancestor whose minimum stays: those above it stay too.
        while p > 1 {
            p /= 2;
            let m = self.node[2 * p].min(self.node[2 * p + 1]);
            if self.node[p] == m {
                break;
            }
            self.node[p] = m;
        }
    }

    fn min(&self) -> u64 {
        self.node[1]
    }

    /// The first index >= `lo` whose key is at most `v`: walk right from leaf `lo` over
    /// whole subtrees until one holds such a key, then descend to its leftmost.
    fn first_from(&self, lo: usize, v: u64) -> Option<usize> {
        let mut p = lo + self.size;
        while self.node[p] > v {
            // Step to the subtree just right of p's: climb while p is a right child.
            while p & 1 == 1 {
                p >>= 1;
                if p == 0 {
                    return None;
                }
            }
            p += 1;
        }
        while p < self.size {
            p *= 2;
            if self.node[p] > v {
                p += 1;
            }
        }
        Some(p - self.size)
    }
}

/// One priority level's requests on one server.
pub struct QueueSet<T> {
    response: LimitResponse,
    hand: u32,
    queue_length_limit: u32,
    limit: u32,
    wait_limit: SimTime,
    queues: Vec<Queue>,
    finish_r: MinTree,
    slots: Vec<Slot<T>>,
    free: u32,
    oldest: u32,
    newest: u32,
    current_r: u64,
    synced: SimTime,
    robin: usize,
    /// Where in a hand the next arrival starts looking (the arrivals so far modulo the
    /// hand size).
    offset: u32,
    active_queues: u32,
    seats_in_use: u32,
    seats_waiting: u64,
    waiting: u32,
    executing: u32,
    demand: DemandIntegrator,
    ready: VecDeque<Started<T>>,
    counts: QueueSetCounts,
    /// Whether a request that finds nothing waiting skips the queue (off only in the test
    /// that compares both ways).
    pass_through_on: bool,
}

impl<T> QueueSet<T> {
    /// A level's queue set with `limit` seats (its current concurrency limit) and the
    /// default wait limit. Panics on a queuing level whose queues and hand size cannot be
    /// dealt (see [`super::shuffle::dealer_problem`]).
    pub fn new(level: &LevelConfig, limit: u32) -> QueueSet<T> {
        let queues = if level.response == LimitResponse::Queue {
            assert!(
                super::shuffle::dealer_problem(level.queues, level.hand_size).is_none(),
                "level {}: invalid queues {} / hand size {}",
                level.name,
                level.queues,
                level.hand_size
            );
            level.queues as usize
        } else {
            0
        };
        QueueSet {
            response: level.response,
            hand: level.hand_size,
            queue_length_limit: level.queue_length_limit,
            limit,
            wait_limit: QUEUE_WAIT_LIMIT,
            queues: vec![Queue::EMPTY; queues],
            finish_r: MinTree::new(queues),
            slots: Vec::new(),
            free: NONE,
            oldest: NONE,
            newest: NONE,
            current_r: 0,
            synced: SimTime::ZERO,
            robin: 0,
            offset: 0,
            active_queues: 0,
            seats_in_use: 0,
            seats_waiting: 0,
            waiting: 0,
            executing: 0,
            demand: DemandIntegrator::default(),
            ready: VecDeque::new(),
            counts: QueueSetCounts::default(),
            pass_through_on: true,
        }
    }

    /// Sets how long a request may wait (default [`QUEUE_WAIT_LIMIT`]); applies to requests
    /// already waiting too.
    pub fn set_wait_limit(&mut self, wait: SimTime) {
        self.wait_limit = wait;
    }

    /// A request arrives with its flow's hash and its work estimate. Rejected at once when
    /// the level rejects and its seats are taken, or when the chosen queue is full while
    /// every seat is taken; otherwise queued (or started), and [`QueueSet::dispatch`] hands
    /// it over when it starts.
    pub fn offer(&mut self, now: SimTime, flow: u64, work: WorkEstimate, item: T) -> Offer<T> {
        self.offer_dealt(now, flow, None, work, item)
    }

    /// The flow's hand at this level, packed for [`QueueSet::offer_dealt`]; None at a level
    /// that does not queue, or whose hand does not pack.
    pub fn pack_hand(&self, flow: u64) -> Option<PackedHand> {
        if self.queues.is_empty() {
            return None;
        }
        PackedHand::pack(&deal_checked(flow, self.queues.len() as u32, self.hand))
    }

    /// [`QueueSet::offer`] with the flow's hand dealt already (from
    /// [`QueueSet::pack_hand`] of this queue set and `flow`).
    pub fn offer_dealt(
        &mut self,
        now: SimTime,
        flow: u64,
        hand: Option<PackedHand>,
        work: WorkEstimate,
        item: T,
    ) -> Offer<T> {
        debug_assert!(hand.is_none() || hand == self.pack_hand(flow));
        self.sync(now);
        match self.response {
            LimitResponse::Exempt => {
                self.start(now, NONE, work, item, now);
                Offer::Accepted
            }
            LimitResponse::Reject => {
                if self.fits(work.max_seats()) {
                    self.start(now, NONE, work, item, now);
                    Offer::Accepted
                } else {
                    self.counts.concurrency_limit += 1;
                    Offer::Rejected(item, RejectReason::ConcurrencyLimit)
                }
            }
            LimitResponse::Queue => {
                let q = self.choose_queue(flow, hand);
                if self.seats_in_use >= self.limit
                    && self.queues[q].waiting >= self.queue_length_limit
                {
                    self.counts.queue_full += 1;
                    return Offer::Rejected(item, RejectReason::QueueFull);
                }
                if self.waiting == 0
                    && self.pass_through_on
                    && self.seats_in_use < self.limit
                    && self.fits(work.max_seats())
                {
                    self.pass_through(now, q, work, item);
                } else {
                    self.enqueue(now, q, work, item);
                    self.dispatch_all(now);
                }
                Offer::Accepted
            }
        }
    }

    /// The next request that started, in the order it started; None when none is left.
    /// Call it until None after each offer, finish, release and set_limit.
    pub fn dispatch(&mut self) -> Option<Started<T>> {
        self.ready.pop_front()
    }

    /// Whether [`QueueSet::dispatch`] has a request to hand over.
    pub fn has_started(&self) -> bool {
        !self.ready.is_empty()
    }

    /// A request's execution ended at `now`: corrects its queue's virtual time by the
    /// actual service time, and frees its seats unless it has final seats to hold. Returns
    /// when to call [`QueueSet::release`] in that case (now + its additional latency),
    /// else None.
    pub fn finish(&mut self, now: SimTime, ticket: Ticket) -> Option<SimTime> {
        self.sync(now);
        self.executing -= 1;
        if ticket.queue != NONE {
            let q = ticket.queue as usize;
            self.queues[q].executing -= 1;
            let actual = now.nanos() as i64 - ticket.start.nanos() as i64;
            let early = ESTIMATED_SERVICE_DURATION.nanos() as i64 - actual;
            let correction = seat_seconds(f64::from(ticket.initial_seats), early);
            // Two's complement: a late finish (negative correction) adds.
            self.queues[q].next_r = self.queues[q].next_r.wrapping_sub(correction as u64);
            self.bound(q);
            self.refresh(q);
        }
        let linger = if ticket.linger == SimTime::ZERO {
            self.free_seats(now, &ticket);
            None
        } else {
            Some(now + ticket.linger)
        };
        self.dispatch_all(now);
        linger
    }

    /// A finished request's final seats are released (at the time `finish` returned).
    pub fn release(&mut self, now: SimTime, ticket: Ticket) {
        self.sync(now);
        self.free_seats(now, &ticket);
        self.dispatch_all(now);
    }

    /// Removes the oldest waiting request if it has waited the wait limit or longer (the
    /// caller answers 429). As upstream, this dispatches nothing.
    pub fn expire(&mut self, now: SimTime) -> Option<T> {
        let s = self.oldest;
        if s == NONE || self.slots[s as usize].arrival + self.wait_limit > now {
            return None;
        }
        self.sync(now);
        let q = self.slots[s as usize].queue as usize;
        // Arrivals are in time order and queues are FIFO, so the oldest heads its queue.
        debug_assert_eq!(self.queues[q].head, s);
        let (item, work, _) = self.pop_head(q);
        self.waiting -= 1;
        self.seats_waiting -= u64::from(work.max_seats());
        self.counts.timed_out += 1;
        self.note_demand(now);
        self.bound(q);
        self.refresh(q);
        Some(item)
    }

    /// When the oldest waiting request reaches the wait limit.
    pub fn next_deadline(&self) -> Option<SimTime> {
        (self.oldest != NONE).then(|| self.slots[self.oldest as usize].arrival + self.wait_limit)
    }

    /// Sets the concurrency limit (after a borrowing adjustment) and dispatches what now
    /// fits.
    pub fn set_limit(&mut self, now: SimTime, limit: u32) {
        self.sync(now);
        self.limit = limit;
        self.dispatch_all(now);
    }

    /// The concurrency limit.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Seats held by executing and lingering requests.
    pub fn seats_in_use(&self) -> u32 {
        self.seats_in_use
    }

    /// Requests waiting in queues.
    pub fn waiting(&self) -> u32 {
        self.waiting
    }

    /// Seats the waiting requests ask for.
    pub fn seats_waiting(&self) -> u64 {
        self.seats_waiting
    }

    /// Requests executing (not counting those only holding final seats).
    pub fn executing(&self) -> u32 {
        self.executing
    }

    /// Counts of what happened.
    pub fn counts(&self) -> QueueSetCounts {
        self.counts
    }

    /// The seat demand (seats in use + seats waiting) since the last call, for the
    /// borrowing adjustment, and starts a new period.
    pub fn take_demand(&mut self, now: SimTime) -> SeatDemand {
        self.demand.take(now)
    }

    /// Advances virtual time to `now`: R grows at min(seats asked for, limit) / active
    /// queues seat-seconds per second.
    fn sync(&mut self, now: SimTime) {
        if now <= self.synced {
            return;
        }
        let dt = now.nanos() - self.synced.nanos();
        self.synced = now;
        // Upstream moves R and every queue back by half its range when R nears the top of
        // u64 (an epoch advance); at the most a level can grow R (its limit, under 1,000
        // seats, each 1e8 units per second) that takes years of simulated time, so it is
        // left out.
        if self.active_queues > 0 {
            let asked =
                (u64::from(self.seats_in_use) + self.seats_waiting).min(u64::from(self.limit));
            let ratio = asked as f64 / f64::from(self.active_queues);
            self.current_r += seat_seconds(ratio, dt as i64) as u64;
        }
    }

    fn note_demand(&mut self, now: SimTime) {
        self.demand
            .set(now, u64::from(self.seats_in_use) + self.seats_waiting);
    }

    /// Whether a request of `seats` may start now.
    fn fits(&self, seats: u32) -> bool {
        match self.response {
            LimitResponse::Exempt => true,
            _ if seats > self.limit => self.executing == 0,
            _ => self.seats_in_use + seats <= self.limit,
        }
    }

    /// The shortest queue (least waiting work) of the flow's hand, looked at from a
    /// rotating offset so that ties spread.
    fn choose_queue(&mut self, flow: u64, dealt: Option<PackedHand>) -> usize {
        let deck = self.queues.len() as u32;
        let offset = self.offset as usize;
        self.offset = if self.offset + 1 == self.hand {
            0
        } else {
            self.offset + 1
        };
        if self.waiting == 0 {
            // Every queue is empty, so the card at the offset wins: deal only up to it.
            return match dealt {
                Some(h) => h.card(offset),
                None => card_checked(flow, deck, self.hand, offset),
            } as usize;
        }
        let hand = match dealt {
            Some(h) => h.unpack(self.hand),
            None => deal_checked(flow, deck, self.hand),
        };
        let cards = hand.as_slice();
        let mut best = cards[offset] as usize;
        for i in 1..cards.len() {
            let q = cards[(offset + i) % cards.len()] as usize;
            if self.queues[q].work_sum < self.queues[best].work_sum {
                best = q;
            }
        }
        best
    }

    /// What [`QueueSet::enqueue`] and then [`QueueSet::dispatch_one`] do to a request that
    /// finds no request waiting and its seats free (most requests, in a level that is not
    /// overloaded), without linking it into its queue and out again: its queue is then the
    /// only one with a head, so it is the one dispatched, and its dispatch-tree key goes
    /// from none back to none.
    fn pass_through(&mut self, now: SimTime, q: usize, work: WorkEstimate, item: T) {
        let total = Self::total_work(&work);
        let asked = work.max_seats();
        let queue = &mut self.queues[q];
        if queue.executing == 0 {
            queue.next_r = self.current_r;
        }
        // `bound` with the request at the head.
        queue.next_r = queue.next_r.max(self.current_r);
        if !queue.active {
            queue.active = true;
            self.active_queues += 1;
        }
        // The demand while it waited for no time (enqueue's note).
        self.demand
            .set(now, u64::from(self.seats_in_use) + u64::from(asked));
        self.start_from(now, q, work, total, item, now);
    }

    /// Starts a request from queue `q` (its final seats cut to the limit when they exceed
    /// it, the latency stretched, as upstream) and charges the queue its work in virtual
    /// time.
    fn start_from(
        &mut self,
        now: SimTime,
        q: usize,
        mut work: WorkEstimate,
        total: u64,
        item: T,
        arrival: SimTime,
    ) {
        if work.final_seats > self.limit {
            // Too many final seats for the level: fewer, for longer, same work.
            let final_work = seat_seconds(
                f64::from(work.final_seats),
                work.additional_latency.nanos() as i64,
            );
            work.final_seats = self.limit;
            work.additional_latency = duration_per_seat(final_work, f64::from(self.limit));
        }
        self.robin = q;
        let seats = work.max_seats();
        let queue = &mut self.queues[q];
        queue.executing += 1;
        queue.seats_in_use += seats;
        queue.next_r += total;
        self.start(now, q as u32, work, item, arrival);
    }

    /// A request's work in virtual time: its initial seats for the estimated service
    /// duration plus its final seats for their additional latency.
    fn total_work(work: &WorkEstimate) -> u64 {
        if *work == WorkEstimate::ONE {
            // Most requests: skip the floating point.
            return ONE_TOTAL_WORK;
        }
        Self::total_work_of(work)
    }

    fn total_work_of(work: &WorkEstimate) -> u64 {
        (seat_seconds(
            f64::from(work.initial_seats),
            ESTIMATED_SERVICE_DURATION.nanos() as i64,
        ) + seat_seconds(
            f64::from(work.final_seats),
            work.additional_latency.nanos() as i64,
        )) as u64
    }

    /// Starts a request now (from queue `queue`, or none) and hands it to `dispatch`.
    fn start(&mut self, now: SimTime, queue: u32, work: WorkEstimate, item: T, arrival: SimTime) {
        let seats = work.max_seats();
        self.executing += 1;
        self.seats_in_use += seats;
        self.note_demand(now);
        self.counts.dispatched += 1;
        self.ready.push_back(Started {
            item,
            work,
            ticket: Ticket {
                queue,
                seats,
                initial_seats: work.initial_seats,
                start: now,
                linger: work.additional_latency,
            },
            waited: now.since(arrival),
        });
    }

    fn enqueue(&mut self, now: SimTime, q: usize, work: WorkEstimate, item: T) {
        if self.queues[q].waiting == 0 && self.queues[q].executing == 0 {
            self.queues[q].next_r = self.current_r;
        }
        let total_work = Self::total_work(&work);
        let slot = Slot {
            item: Some(item),
            arrival: now,
            arrival_r: self.current_r,
            work,
            total_work,
            queue: q as u32,
            next: NONE,
            older: self.newest,
            newer: NONE,
        };
        let s = if self.free != NONE {
            let s = self.free;
            self.free = self.slots[s as usize].next;
            self.slots[s as usize] = slot;
            s
        } else {
            self.slots.push(slot);
            (self.slots.len() - 1) as u32
        };
        if self.newest != NONE {
            self.slots[self.newest as usize].newer = s;
        } else {
            self.oldest = s;
        }
        self.newest = s;
        let queue = &mut self.queues[q];
        if queue.tail != NONE {
            self.slots[queue.tail as usize].next = s;
        } else {
            queue.head = s;
        }
        queue.tail = s;
        queue.waiting += 1;
        queue.work_sum += total_work;
        self.waiting += 1;
        self.seats_waiting += u64::from(work.max_seats());
        self.note_demand(now);
        self.bound(q);
        self.refresh(q);
    }

    /// Unlinks the head of queue `q` and frees its slot: the item, its estimate, its arrival.
    fn pop_head(&mut self, q: usize) -> (T, WorkEstimate, SimTime) {
        let s = self.queues[q].head;
        let slot = &mut self.slots[s as usize];
        let item = slot.item.take().expect("a queued slot holds its request");
        let (work, arrival, total, next, older, newer) = (
            slot.work,
            slot.arrival,
            slot.total_work,
            slot.next,
            slot.older,
            slot.newer,
        );
        slot.next = self.free;
        self.free = s;
        let queue = &mut self.queues[q];
        queue.head = next;
        if next == NONE {
            queue.tail = NONE;
        }
        queue.waiting -= 1;
        queue.work_sum -= total;
        if older != NONE {
            self.slots[older as usize].newer = newer;
        } else {
            self.oldest = newer;
        }
        if newer != NONE {
            self.slots[newer as usize].older = older;
        } else {
            self.newest = older;
        }
        (item, work, arrival)
    }

    /// Keeps a queue's next start no earlier than its oldest request's arrival in virtual
    /// time, so that an idle-looking queue cannot bank service.
    fn bound(&mut self, q: usize) {
        let head = self.queues[q].head;
        if head != NONE {
            let arrival_r = self.slots[head as usize].arrival_r;
            let queue = &mut self.queues[q];
            queue.next_r = queue.next_r.max(arrival_r);
        }
    }

    /// Updates queue `q`'s key in the dispatch tree and whether it is active.
    fn refresh(&mut self, q: usize) {
        let queue = self.queues[q];
        let key = if queue.head == NONE {
            u64::MAX
        } else {
            queue.next_r + self.slots[queue.head as usize].total_work
        };
        self.finish_r.set(q, key);
        let active = queue.waiting > 0 || queue.executing > 0;
        if active != queue.active {
            self.queues[q].active = active;
            if active {
                self.active_queues += 1;
            } else {
                self.active_queues -= 1;
            }
        }
    }

    fn dispatch_all(&mut self, now: SimTime) {
        while self.waiting > 0 && self.seats_in_use < self.limit && self.dispatch_one(now) {}
    }

    /// Starts the head of the queue whose head finishes first in virtual time, if it fits.
    fn dispatch_one(&mut self, now: SimTime) -> bool {
        let min = self.finish_r.min();
        if min == u64::MAX {
            return false;
        }
        let from = (self.robin + 1) % self.queues.len();
        let q = self
            .finish_r
            .first_from(from, min)
            .or_else(|| self.finish_r.first_from(0, min))
            .expect("the minimum is some queue's");
        let head = self.queues[q].head as usize;
        let asked = self.slots[head].work.max_seats();
        if !self.fits(asked) {
            return false;
        }
        let total = self.slots[head].total_work;
        let (item, work, arrival) = self.pop_head(q);
        self.waiting -= 1;
        self.seats_waiting -= u64::from(asked);
        self.start_from(now, q, work, total, item, arrival);
        self.bound(q);
        self.refresh(q);
        true
    }

    fn free_seats(&mut self, now: SimTime, ticket: &Ticket) {
        self.seats_in_use -= ticket.seats;
        if ticket.queue != NONE {
            self.queues[ticket.queue as usize].seats_in_use -= ticket.seats;
        }
        self.note_demand(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::apf::config::DEFAULT_LEVELS;

    const US: u64 = 1_000;
    const MS: u64 = 1_000_000;

    /// A queuing level with hand size 1, so flow hash h goes to queue h % queues.
    fn level(queues: u32, queue_length_limit: u32) -> LevelConfig {
        LevelConfig {
            name: "test",
            response: LimitResponse::Queue,
            nominal_shares: 1,
            lendable_percent: 0,
            borrowing_limit_percent: None,
            queues,
            hand_size: 1,
            queue_length_limit,
        }
    }

    fn seats(n: u32) -> WorkEstimate {
        WorkEstimate {
            initial_seats: n,
            ..WorkEstimate::ONE
        }
    }

    fn accept<T: std::fmt::Debug>(o: Offer<T>) {
        assert!(matches!(o, Offer::Accepted), "{o:?}");
    }

    fn drain<T>(qs: &mut QueueSet<T>) -> Vec<Started<T>> {
        std::iter::from_fn(|| qs.dispatch()).collect()
    }

    /// Runs one request at a time, each 1 ms, until all have run; the order they ran.
    fn serve_in_order(
        qs: &mut QueueSet<&'static str>,
        mut t: u64,
        first: Started<&'static str>,
    ) -> Vec<&'static str> {
        let mut order = vec![first.item];
        let mut running = first.ticket;
        loop {
            t += MS;
            assert_eq!(qs.finish(SimTime(t), running), None);
            let next = drain(qs);
            if next.is_empty() {
                return order;
            }
            assert_eq!(next.len(), 1);
            order.push(next[0].item);
            running = next[0].ticket;
        }
    }

    #[test]
    fn fifo_within_a_flow() {
        // One queue per flow (hand 1): its requests start in arrival order, even those
        // arriving at the same instant.
        let mut qs = QueueSet::new(&level(8, 50), 1);
        let names = ["a", "b", "c", "d", "e", "f", "g", "h"];
        for (i, n) in names.iter().enumerate() {
            accept(qs.offer(SimTime(i as u64 / 2 * US), 42, WorkEstimate::ONE, *n));
        }
        let first = drain(&mut qs);
        assert_eq!(first.len(), 1);
        assert_eq!(qs.waiting(), 7);
        assert_eq!(
            serve_in_order(&mut qs, 10 * US, first.into_iter().next().unwrap()),
            names
        );
    }

    #[test]
    fn a_flow_spread_over_its_hand_can_reorder() {
        // Upstream's default hand (6 of 64 queues): a flow's requests go to the least loaded
        // queue of its hand, so they spread, and only each queue is FIFO. One seat, eight
        // requests 1 us apart, each running 1 ms. a starts on hand[0] (R 0 -> 300,000); b-f
        // go to the empty hand[1..5]; g to hand[0] again (no waiting work there), h behind b.
        // a finishes at ~1.01 ms: hand[0] moves back 199,000 to 101,000, g would finish at
        // 401,000. b starts at R 100 (-> 300,100), finishes 1 ms later (back 200,000 to
        // 100,100): h would finish at 400,100 < 401,000, so h passes g.
        let mut qs = QueueSet::new(&DEFAULT_LEVELS[1], 1);
        let names = ["a", "b", "c", "d", "e", "f", "g", "h"];
        for (i, n) in names.iter().enumerate() {
            accept(qs.offer(SimTime(i as u64 * US), 42, WorkEstimate::ONE, *n));
        }
        let first = drain(&mut qs).into_iter().next().unwrap();
        assert_eq!(
            serve_in_order(&mut qs, 10 * US, first),
            ["a", "b", "c", "d", "e", "f", "h", "g"]
        );
    }

    #[test]
    fn two_flows_interleave() {
        // One seat. Flow 0 (queue 0) sends four requests, then flow 1 (queue 1) four. Each
        // runs 1 ms (3 ms estimated, so each completion moves its queue back 2 ms of R).
        // Hand computation of R (units of 1e-8 seat-s): a1 starts at R 0 and moves queue 0
        // to 300,000. b1 arrives at 4 us with R = 400 (one active queue, one seat: R grows
        // 100 per us), so queue 1 starts at 400 and b1 would finish at 300,400. a1 finishes
        // at 1 ms: queue 0 back to 100,000, a2 would finish at 400,000 > 300,400: b1 goes.
        // b1 finishes at 2 ms, queue 1 back to 100,400: a2 (400,000) before b2 (400,400),
        // and so on alternately. (Had a1 run 10 us longer, its queue would have lost 1,000
        // and b2 would pass a2: the correction charges actual service time.)
        let mut qs = QueueSet::new(&level(8, 50), 1);
        for (i, n) in ["a1", "a2", "a3", "a4"].iter().enumerate() {
            accept(qs.offer(SimTime(i as u64 * US), 0, WorkEstimate::ONE, *n));
        }
        for (i, n) in ["b1", "b2", "b3", "b4"].iter().enumerate() {
            accept(qs.offer(SimTime((4 + i as u64) * US), 1, WorkEstimate::ONE, *n));
        }
        let first = drain(&mut qs).into_iter().next().unwrap();
        assert_eq!(
            serve_in_order(&mut qs, 0, first),
            ["a1", "b1", "a2", "b2", "a3", "b3", "a4", "b4"]
        );
    }

    #[test]
    fn full_queue_rejects_only_when_seats_are_taken() {
        let mut qs = QueueSet::new(&level(8, 2), 1);
        accept(qs.offer(SimTime(0), 3, WorkEstimate::ONE, 1));
        accept(qs.offer(SimTime(1), 3, WorkEstimate::ONE, 2));
        accept(qs.offer(SimTime(2), 3, WorkEstimate::ONE, 3));
        // Queue 3 holds 2 = queueLengthLimit and the one seat is taken.
        assert_eq!(
            qs.offer(SimTime(3), 3, WorkEstimate::ONE, 4),
            Offer::Rejected(4, RejectReason::QueueFull)
        );
        // Another flow's queue is not full.
        accept(qs.offer(SimTime(4), 4, WorkEstimate::ONE, 5));
        assert_eq!(qs.counts().queue_full, 1);
        assert_eq!(qs.waiting(), 3);
        // The catch-all level rejects beyond its limit instead of queuing.
        let mut ca = QueueSet::new(&DEFAULT_LEVELS[7], 1);
        accept(ca.offer(SimTime(0), 0, WorkEstimate::ONE, 1));
        assert_eq!(
            ca.offer(SimTime(0), 0, WorkEstimate::ONE, 2),
            Offer::Rejected(2, RejectReason::ConcurrencyLimit)
        );
        let t = drain(&mut ca)[0].ticket;
        ca.finish(SimTime(5), t);
        accept(ca.offer(SimTime(6), 0, WorkEstimate::ONE, 3));
    }

    #[test]
    fn expiry_at_exactly_the_wait_limit() {
        let mut qs = QueueSet::new(&level(8, 50), 1);
        accept(qs.offer(SimTime(0), 0, WorkEstimate::ONE, "running"));
        accept(qs.offer(SimTime(500 * MS), 1, WorkEstimate::ONE, "waits"));
        assert_eq!(drain(&mut qs).len(), 1);
        // 0.5 s + 15 s.
        assert_eq!(qs.next_deadline(), Some(SimTime(15_500 * MS)));
        assert_eq!(qs.expire(SimTime(15_500 * MS - 1)), None);
        assert_eq!(qs.expire(SimTime(15_500 * MS)), Some("waits"));
        assert_eq!(qs.expire(SimTime(15_500 * MS)), None);
        assert_eq!((qs.waiting(), qs.counts().timed_out), (0, 1));
        assert_eq!(qs.next_deadline(), None);
    }

    #[test]
    fn wide_head_blocks_narrower_requests_until_its_seats_are_free() {
        // Four seats. Hand computation of R: a1-a3 (queue 0) start at t = 0 and take 3
        // seats. w (4 seats, queue 1) arrives at 1 ms: R = 3 seats x 1 ms = 300,000, so w
        // would finish at 300,000 + 4 x 300,000 = 1,500,000; 3 + 4 > 4 seats: it waits.
        // n (1 seat, queue 2) arrives at 11 ms: R grew min(7, 4) / 2 queues = 2 seats for
        // 10 ms = 2,000,000 -> 2,300,000, so n would finish at 2,600,000, after w: w is
        // chosen, does not fit, and n waits though a seat is free.
        let mut qs = QueueSet::new(&level(8, 50), 4);
        for n in ["a1", "a2", "a3"] {
            accept(qs.offer(SimTime(0), 0, WorkEstimate::ONE, n));
        }
        let a: Vec<Ticket> = drain(&mut qs).iter().map(|s| s.ticket).collect();
        assert_eq!(a.len(), 3);
        accept(qs.offer(SimTime(MS), 1, seats(4), "w"));
        accept(qs.offer(SimTime(11 * MS), 2, WorkEstimate::ONE, "n"));
        assert!(drain(&mut qs).is_empty());
        assert_eq!((qs.seats_in_use(), qs.waiting()), (3, 2));
        // Freeing two seats still leaves w blocked (1 + 4 > 4), and n behind it.
        qs.finish(SimTime(20 * MS), a[0]);
        qs.finish(SimTime(21 * MS), a[1]);
        assert!(drain(&mut qs).is_empty());
        // The last frees all four: w starts and fills them; n still waits.
        qs.finish(SimTime(22 * MS), a[2]);
        let w = drain(&mut qs);
        assert_eq!(w.iter().map(|s| s.item).collect::<Vec<_>>(), ["w"]);
        assert_eq!(w[0].waited, SimTime(21 * MS));
        assert_eq!(w[0].ticket.seats(), 4);
        qs.finish(SimTime(25 * MS), w[0].ticket);
        assert_eq!(
            drain(&mut qs).iter().map(|s| s.item).collect::<Vec<_>>(),
            ["n"]
        );
    }

    #[test]
    fn wider_than_the_limit_starts_only_when_nothing_executes() {
        let mut qs = QueueSet::new(&level(8, 50), 4);
        accept(qs.offer(SimTime(0), 0, WorkEstimate::ONE, "a"));
        accept(qs.offer(SimTime(1), 1, seats(6), "wide"));
        let a = drain(&mut qs);
        assert_eq!(a.len(), 1);
        qs.finish(SimTime(MS), a[0].ticket);
        let w = drain(&mut qs);
        assert_eq!(w[0].item, "wide");
        // It holds 6 seats, more than the limit.
        assert_eq!(qs.seats_in_use(), 6);
    }

    #[test]
    fn final_seats_linger_for_the_additional_latency() {
        // 1 seat executing, then 3 seats for 5 ms: the 3 are held from the start.
        let wide_final = WorkEstimate {
            initial_seats: 1,
            final_seats: 3,
            additional_latency: SimTime::from_millis(5),
        };
        let mut qs = QueueSet::new(&level(8, 50), 3);
        accept(qs.offer(SimTime(0), 0, wide_final, "m"));
        accept(qs.offer(SimTime(1), 1, WorkEstimate::ONE, "g"));
        let m = drain(&mut qs);
        assert_eq!(m.len(), 1);
        assert_eq!(qs.seats_in_use(), 3);
        let release_at = qs.finish(SimTime(2 * MS), m[0].ticket);
        assert_eq!(release_at, Some(SimTime(7 * MS)));
        assert!(drain(&mut qs).is_empty());
        assert_eq!(qs.executing(), 0);
        qs.release(SimTime(7 * MS), m[0].ticket);
        assert_eq!(drain(&mut qs)[0].item, "g");
        // Final seats above the limit are cut to it, the latency stretched: 6 seats x 5 ms
        // over 3 seats = 10 ms.
        let six = WorkEstimate {
            final_seats: 6,
            ..wide_final
        };
        let mut qs = QueueSet::new(&level(8, 50), 3);
        accept(qs.offer(SimTime(0), 0, six, "x"));
        let x = drain(&mut qs);
        assert_eq!(x[0].work.final_seats, 3);
        assert_eq!(x[0].work.additional_latency, SimTime::from_millis(10));
        assert_eq!(x[0].ticket.seats(), 3);
    }

    #[test]
    fn passing_through_an_idle_level_is_the_same_as_queuing_and_dispatching() {
        // Two queue sets, one taking every request through its queues (and dealing every
        // hand), get the same random arrivals, finishes, releases, expiries and limit
        // changes: everything they hand back and count must agree.
        let mut x = 11u64;
        let mut next = move |n: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % n
        };
        let lv = LevelConfig {
            hand_size: 3,
            ..level(8, 4)
        };
        let mut fast: QueueSet<u32> = QueueSet::new(&lv, 6);
        let mut slow: QueueSet<u32> = QueueSet::new(&lv, 6);
        slow.pass_through_on = false;
        fast.set_wait_limit(SimTime(40 * MS));
        slow.set_wait_limit(SimTime(40 * MS));
        let mut now = SimTime(0);
        // Executing (ticket, finish at) and lingering (ticket, release at).
        let mut running: Vec<(Ticket, SimTime)> = Vec::new();
        let mut lingering: Vec<(Ticket, SimTime)> = Vec::new();
        let mut passed = 0;
        for item in 0..20_000u32 {
            // Overloaded and light phases in turn.
            let gap = if (item / 2_000) % 2 == 0 {
                3 * MS
            } else {
                20 * MS
            };
            now = now + SimTime(next(gap));
            // What is due by now, in time order, on both.
            loop {
                let f = running.iter().enumerate().min_by_key(|(_, r)| r.1);
                let l = lingering.iter().enumerate().min_by_key(|(_, r)| r.1);
                match (f.map(|(i, r)| (i, r.1)), l.map(|(i, r)| (i, r.1))) {
                    (Some((i, t)), lt) if t <= now && lt.is_none_or(|(_, u)| t <= u) => {
                        let (ticket, _) = running.swap_remove(i);
                        let a = fast.finish(t, ticket);
                        assert_eq!(a, slow.finish(t, ticket));
                        if let Some(at) = a {
                            lingering.push((ticket, at));
                        }
                    }
                    (_, Some((i, t))) if t <= now => {
                        let (ticket, _) = lingering.swap_remove(i);
                        fast.release(t, ticket);
                        slow.release(t, ticket);
                    }
                    _ => break,
                }
                for (a, b) in drain(&mut fast).into_iter().zip(drain(&mut slow)) {
                    assert_eq!(a, b);
                    running.push((a.ticket, now + SimTime(next(6 * MS))));
                }
            }
            while let Some(e) = fast.expire(now) {
                assert_eq!(Some(e), slow.expire(now));
            }
            assert_eq!(slow.expire(now), None);
            if next(50) == 0 {
                let limit = 2 + next(8) as u32;
                fast.set_limit(now, limit);
                slow.set_limit(now, limit);
            }
            let work = WorkEstimate {
                initial_seats: 1 + next(2) as u32,
                final_seats: [0, 0, 2, 9][next(4) as usize],
                additional_latency: SimTime(next(4 * MS)),
            };
            let flow = next(5) * 0x9e37_79b9_7f4a_7c15;
            if fast.waiting() == 0 {
                passed += 1;
            }
            // The fast one takes some flows' hands dealt already.
            let dealt = if flow % 2 == 0 {
                fast.pack_hand(flow)
            } else {
                None
            };
            assert_eq!(
                fast.offer_dealt(now, flow, dealt, work, item),
                slow.offer(now, flow, work, item)
            );
            let (a, b) = (drain(&mut fast), drain(&mut slow));
            assert_eq!(a, b);
            for s in a {
                running.push((s.ticket, now + SimTime(next(6 * MS))));
            }
            assert_eq!(fast.counts(), slow.counts());
            assert_eq!(fast.seats_in_use(), slow.seats_in_use());
            assert_eq!(fast.waiting(), slow.waiting());
            assert_eq!(fast.next_deadline(), slow.next_deadline());
            assert_eq!(fast.take_demand(now), slow.take_demand(now));
            // And their state inside: virtual times, the round-robin position, the queues.
            assert_eq!(
                (fast.current_r, fast.robin, fast.active_queues, fast.offset),
                (slow.current_r, slow.robin, slow.active_queues, slow.offset)
            );
            for (a, b) in fast.queues.iter().zip(&slow.queues) {
                let key = |q: &Queue| {
                    (
                        q.next_r,
                        q.waiting,
                        q.work_sum,
                        q.executing,
                        q.seats_in_use,
                        q.active,
                    )
                };
                assert_eq!(key(a), key(b));
            }
            assert_eq!(fast.finish_r.node, slow.finish_r.node);
        }
        // Both ways were taken often: requests passed through, and queued, expired and were
        // turned away.
        let c = fast.counts();
        assert!(
            passed > 2_000 && c.timed_out > 100 && c.queue_full > 100,
            "{passed} {c:?}"
        );
        assert!(c.dispatched > 10_000, "{c:?}");
    }

    #[test]
    fn one_seats_total_work_is_the_formulas() {
        assert_eq!(
            QueueSet::<u32>::total_work_of(&WorkEstimate::ONE),
            ONE_TOTAL_WORK
        );
        assert_eq!(ONE_TOTAL_WORK, 300_000);
    }

    #[test]
    fn min_tree_finds_the_first_minimum_at_or_after() {
        // Against a scan, with few distinct keys so that ties are common.
        let mut x = 7u64;
        for n in [1usize, 3, 16, 64, 100] {
            let mut tree = MinTree::new(n);
            let mut keys = vec![u64::MAX; n];
            for _ in 0..300 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let i = (x >> 33) as usize % n;
                let v = match (x >> 20) % 6 {
                    5 => u64::MAX,
                    k => k,
                };
                tree.set(i, v);
                keys[i] = v;
                let min = *keys.iter().min().unwrap();
                assert_eq!(tree.min(), min);
                for lo in 0..n {
                    let want = (lo..n).find(|&j| keys[j] <= min);
                    assert_eq!(tree.first_from(lo, min), want, "n {n} lo {lo} {keys:?}");
                }
            }
        }
    }

    #[test]
    fn exempt_never_waits() {
        let mut qs = QueueSet::new(&DEFAULT_LEVELS[0], 0);
        for i in 0..100 {
            accept(qs.offer(SimTime(i), 0, WorkEstimate::ONE, i));
        }
        assert_eq!(drain(&mut qs).len(), 100);
        assert_eq!(qs.seats_in_use(), 100);
    }

    #[test]
    fn raising_the_limit_dispatches() {
        let mut qs = QueueSet::new(&level(8, 50), 1);
        for i in 0..4u64 {
            accept(qs.offer(SimTime(i), i, WorkEstimate::ONE, i));
        }
        assert_eq!(drain(&mut qs).len(), 1);
        qs.set_limit(SimTime(10), 3);
        assert_eq!(drain(&mut qs).len(), 2);
        assert_eq!(qs.waiting(), 1);
    }

    #[test]
    fn seat_demand_is_time_weighted() {
        // 2 seats for 5 s, then 4 (2 executing + 2 waiting) for 5 s: mean 3, deviation 1,
        // high watermark 4.
        let mut qs = QueueSet::new(&level(8, 50), 2);
        accept(qs.offer(SimTime(0), 0, seats(2), 0));
        accept(qs.offer(SimTime::from_secs(5), 1, seats(2), 1));
        let d = qs.take_demand(SimTime::from_secs(10));
        assert_eq!(d.duration, SimTime::from_secs(10));
        assert!((d.average - 3.0).abs() < 1e-12);
        assert!((d.deviation - 1.0).abs() < 1e-12);
        assert_eq!(d.max, 4);
        // A new period starts at the current value.
        let d = qs.take_demand(SimTime::from_secs(20));
        assert!((d.average - 4.0).abs() < 1e-12);
        assert_eq!(d.deviation, 0.0);
    }
}

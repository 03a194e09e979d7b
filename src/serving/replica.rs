//! An inference replica: the server attached to one pod of a service, with its queue, its
//! execution slots and (for an LLM) its continuous-batching engine.

use super::llm::{Engine, LlmRequest};
use crate::cluster::PodId;
use crate::engine::SimTime;
use std::collections::VecDeque;

/// A request in flight. Small and `Copy`: a finished request leaves only counters and
/// histogram entries behind.
#[derive(Clone, Copy, Debug)]
pub struct Req {
    /// When it arrived.
    pub arrival: SimTime,
    /// When it started (was taken into a batch or the engine's running set).
    pub started: SimTime,
    /// Index of its workload.
    pub wl: u32,
    /// Prompt tokens (0 when the workload gives none).
    pub prompt: u32,
    /// Output tokens (0 when the workload gives none).
    pub output: u32,
    /// The call frame it belongs to ([`NO_LINK`]: a user's request that calls nothing yet):
    /// at a service whose frame it is, the frame's own request (its work, or a step after an
    /// answer); elsewhere, a call made by that frame.
    pub link: u32,
}

/// No call frame.
pub const NO_LINK: u32 = u32::MAX;

impl LlmRequest for Req {
    #[inline]
    fn prompt_tokens(&self) -> u32 {
        self.prompt
    }
    #[inline]
    fn output_tokens(&self) -> u32 {
        self.output
    }
    #[inline]
    fn admitted(&mut self, now: SimTime) {
        self.started = now;
    }
}

/// A replica, named with its generation: the generation changes whenever the server behind
/// the id stops (its pod is gone or its node failed), so that completions and timers of the
/// old server are recognised as stale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RepId {
    /// Slot (the slot of its pod).
    pub slot: u32,
    /// Generation of the slot.
    pub generation: u32,
}

/// Where a replica is in its life, as the request path sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepState {
    /// Its pod is not Ready yet (or no longer, after its node was marked NotReady).
    Starting,
    /// In the service's endpoints, serving.
    Ready,
    /// Its pod is being deleted: no new requests; it finishes what it holds.
    Terminating,
    /// Its node failed: whatever is sent to it is lost.
    Dead,
    /// No pod.
    Gone,
}

/// No slot (the end of a replica's idle list).
pub(super) const NO_SLOT: u32 = u32::MAX;

/// One execution slot: the batch it runs (empty when idle), the first request held inline
/// (a batch of one, most batches, then lives in the slot's cache line rather than behind a
/// pointer), and while idle the next idle slot of its replica. One cache line.
#[repr(align(64))]
pub struct Slot {
    first: Req,
    rest: Vec<Req>,
    len: u32,
    next_free: u32,
}

impl Slot {
    /// An idle slot.
    pub fn new() -> Slot {
        Slot {
            first: Req {
                arrival: SimTime::ZERO,
                started: SimTime::ZERO,
                wl: 0,
                prompt: 0,
                output: 0,
                link: NO_LINK,
            },
            rest: Vec::new(),
            len: 0,
            next_free: NO_SLOT,
        }
    }

    /// Requests of its batch.
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether it runs nothing.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds `r` to its batch, after the others.
    #[inline]
    pub fn push(&mut self, r: Req) {
        if self.len == 0 {
            self.first = r;
        } else {
            self.rest.push(r);
        }
        self.len += 1;
    }

    /// The requests of its batch, in the order they were added.
    #[inline]
    pub fn iter(&self) -> impl Iterator<Item = &Req> {
        std::slice::from_ref(&self.first)[..self.len.min(1) as usize]
            .iter()
            .chain(&self.rest)
    }

    /// Request `i` of its batch (`i` < `len`). Loops over a batch index it: cheaper than a
    /// chained iterator for the common batch of one.
    #[inline]
    pub fn get(&self, i: usize) -> &Req {
        if i == 0 {
            &self.first
        } else {
            &self.rest[i - 1]
        }
    }

    /// Request `i` of its batch (`i` < `len`).
    #[inline]
    pub fn get_mut(&mut self, i: usize) -> &mut Req {
        if i == 0 {
            &mut self.first
        } else {
            &mut self.rest[i - 1]
        }
    }

    /// Empties its batch.
    #[inline]
    pub fn clear(&mut self) {
        self.len = 0;
        self.rest.clear();
    }

    /// Moves its batch to the end of `out`, in order.
    pub fn drain_into(&mut self, out: &mut Vec<Req>) {
        out.extend(self.iter().copied());
        self.clear();
    }
}

impl Default for Slot {
    fn default() -> Slot {
        Slot::new()
    }
}

/// A replica's execution slots: the first inline, in the replica's second cache line, the
/// others behind a pointer. Most replicas run one batch at a time, and with thousands of
/// replicas a slot behind a pointer is a second miss that must wait for the first (the
/// pointer); inline, its address is known at once and both lines come together.
pub struct Slots {
    first: Slot,
    rest: Vec<Slot>,
    len: u32,
}

impl Slots {
    /// No slots.
    pub fn new() -> Slots {
        Slots {
            first: Slot::new(),
            rest: Vec::new(),
            len: 0,
        }
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether it has no slots.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `n` idle slots, and nothing else.
    pub fn reset(&mut self, n: usize) {
        self.first = Slot::new();
        self.rest.clear();
        self.rest.extend((1..n).map(|_| Slot::new()));
        self.len = n as u32;
    }

    /// The slots, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Slot> {
        std::slice::from_ref(&self.first)[..self.len.min(1) as usize]
            .iter()
            .chain(&self.rest)
    }

    /// The slots, in order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Slot> {
        std::slice::from_mut(&mut self.first)[..self.len.min(1) as usize]
            .iter_mut()
            .chain(&mut self.rest)
    }
}

impl Default for Slots {
    fn default() -> Slots {
        Slots::new()
    }
}

impl std::ops::Index<usize> for Slots {
    type Output = Slot;

    /// Slot `i` (`i` < `len`; slot 0 is not checked against `len`, which lies in a colder
    /// cache line: a replica is given its slots when it is attached).
    #[inline]
    fn index(&self, i: usize) -> &Slot {
        debug_assert!(i < self.len());
        if i == 0 {
            &self.first
        } else {
            &self.rest[i - 1]
        }
    }
}

impl std::ops::IndexMut<usize> for Slots {
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut Slot {
        debug_assert!(i < self.len());
        if i == 0 {
            &mut self.first
        } else {
            &mut self.rest[i - 1]
        }
    }
}

/// The server of one pod. What a request touches comes first: the fields in the first cache
/// line, the first execution slot in the second, on a 128-byte boundary (the pair of lines
/// that processors fetch together). With thousands of replicas each request finds its
/// replica out of cache, and every further line is a further miss.
#[repr(C, align(128))]
pub struct Replica {
    /// Requests routed to it and not started.
    pub queue: VecDeque<Req>,
    /// Generation (see [`RepId`]).
    pub generation: u32,
    /// Requests routed to it and not finished, as its load balancer counts them.
    pub outstanding: u32,
    /// Index of its service.
    pub svc: u32,
    /// Its ordinal in its StatefulSet (`u32::MAX` for a Deployment's pod).
    pub ordinal: u32,
    /// The first idle slot (per-replica routing), the next to use; the others follow
    /// through the slots. [`NO_SLOT`] when none.
    free: u32,
    /// Its position in its service's ready list while it is there and the service routes
    /// to the least outstanding or the better of two (the leaf of
    /// [`super::route::LoadTree`]), else `u32::MAX`.
    pub ready_at: u32,
    /// Where it is in its life.
    pub state: RepState,
    /// A batch timer is armed.
    pub timer: bool,
    /// Its pod holds room on a node.
    pub bound: bool,
    /// Its service calls others (copied from the plan at attach: a completion asks it
    /// without reading the plan).
    pub caller: bool,
    /// Tokens the iteration in flight generates.
    pub iter_tokens: u32,
    /// Execution slots (the first in the second cache line).
    pub slots: Slots,
    /// Requests it has started, cumulative (for requests-per-second metrics).
    pub started_total: u64,
    /// The continuous-batching engine of an LLM replica.
    pub llm: Option<Box<Engine<Req>>>,
    /// Its pod.
    pub pod: PodId,
    /// Requests of it waiting on calls outside its slots (async calls, connection waits):
    /// it has not drained while any remain.
    pub calls_out: u32,
    /// Slots held by requests waiting on a blocking call (not working).
    pub blocked: u32,
}

impl Replica {
    /// An empty slot of the replica table.
    pub(super) fn vacant() -> Replica {
        Replica {
            generation: 0,
            pod: PodId {
                slot: 0,
                generation: 0,
            },
            svc: 0,
            ordinal: u32::MAX,
            calls_out: 0,
            blocked: 0,
            caller: false,
            state: RepState::Gone,
            bound: false,
            queue: VecDeque::new(),
            slots: Slots::new(),
            free: NO_SLOT,
            outstanding: 0,
            timer: false,
            llm: None,
            iter_tokens: 0,
            started_total: 0,
            ready_at: u32::MAX,
        }
    }

    /// Slot `slot` is idle: it becomes the next to use.
    #[inline]
    pub(super) fn free_slot(&mut self, slot: u32) {
        self.slots[slot as usize].next_free = self.free;
        self.free = slot;
    }

    /// Takes the next idle slot.
    #[inline]
    pub(super) fn take_free(&mut self) -> Option<u32> {
        let slot = self.free;
        if slot == NO_SLOT {
            return None;
        }
        self.free = self.slots[slot as usize].next_free;
        Some(slot)
    }

    /// Whether an idle slot is there (per-replica routing).
    #[inline]
    pub(super) fn has_free(&self) -> bool {
        self.free != NO_SLOT
    }

    /// No slot is idle.
    pub(super) fn clear_free(&mut self) {
        self.free = NO_SLOT;
    }

    /// Its id now.
    #[inline]
    pub fn id(&self, slot: u32) -> RepId {
        RepId {
            slot,
            generation: self.generation,
        }
    }

    /// Whether it holds no request, queued or running.
    pub fn holds_nothing(&self) -> bool {
        self.outstanding == 0
            && self.calls_out == 0
            && self.queue.is_empty()
            && self.slots.iter().all(|s| s.is_empty())
            && self.llm.as_ref().is_none_or(|e| e.held() == 0 && !e.busy())
    }

    /// What it exposes to metric scrapers: None unless it is serving or draining.
    pub fn load(&self) -> Option<ReplicaLoad> {
        if !matches!(self.state, RepState::Ready | RepState::Terminating) {
            return None;
        }
        let (busy, held, kv) = match &self.llm {
            Some(e) => (
                if e.busy() { 1.0 } else { 0.0 },
                e.held(),
                f64::from(e.used_blocks()) / f64::from(e.config().kv_blocks.max(1)),
            ),
            None => {
                // A slot waiting on a blocking call is held, not working.
                let busy_slots =
                    self.slots.iter().filter(|s| !s.is_empty()).count() - self.blocked as usize;
                let running: usize = self.slots.iter().map(|s| s.len()).sum();
                (
                    busy_slots as f64 / self.slots.len().max(1) as f64,
                    running,
                    0.0,
                )
            }
        };
        Some(ReplicaLoad {
            busy,
            inflight: (self.queue.len() + held) as f64,
            queue: self.queue.len() as f64,
            kv,
            started: self.started_total,
        })
    }
}

/// What a replica's metrics say at one instant (what DCGM and its server export).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ReplicaLoad {
    /// Busy fraction of its execution slots (an LLM engine: an iteration running).
    pub busy: f64,
    /// Requests it holds, queued or running.
    pub inflight: f64,
    /// Requests queued at it.
    pub queue: f64,
    /// KV cache blocks used / all.
    pub kv: f64,
    /// Requests it has started, cumulative.
    pub started: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(wl: u32) -> Req {
        Req {
            arrival: SimTime(u64::from(wl)),
            started: SimTime::ZERO,
            wl,
            prompt: 0,
            output: 0,
            link: NO_LINK,
        }
    }

    #[test]
    fn a_slot_keeps_its_batch_in_order_and_fits_a_cache_line() {
        assert_eq!(size_of::<Slot>(), 64);
        // The replica's hot fields fill its first line, its first slot the second.
        assert_eq!(size_of::<Replica>(), 256);
        assert_eq!(std::mem::offset_of!(Replica, slots), 64);
        let mut s = Slot::new();
        assert!(s.is_empty());
        for w in [7, 8, 9] {
            s.push(req(w));
        }
        assert_eq!(s.len(), 3);
        assert_eq!((0..3).map(|i| s.get(i).wl).collect::<Vec<_>>(), [7, 8, 9]);
        s.get_mut(1).prompt = 5;
        assert_eq!(s.iter().map(|r| r.prompt).collect::<Vec<_>>(), [0, 5, 0]);
        let mut out = vec![req(1)];
        s.drain_into(&mut out);
        assert_eq!(out.iter().map(|r| r.wl).collect::<Vec<_>>(), [1, 7, 8, 9]);
        assert!(s.is_empty() && s.iter().next().is_none());
        s.push(req(4));
        assert_eq!(s.iter().map(|r| r.wl).collect::<Vec<_>>(), [4]);
    }

    #[test]
    fn idle_slots_are_taken_last_freed_first() {
        let mut r = Replica::vacant();
        r.slots.reset(3);
        assert!(!r.has_free());
        for s in [2, 1, 0] {
            r.free_slot(s);
        }
        assert_eq!(r.take_free(), Some(0));
        assert_eq!(r.take_free(), Some(1));
        r.free_slot(0);
        assert_eq!(r.take_free(), Some(0));
        assert_eq!(r.take_free(), Some(2));
        assert!(!r.has_free());
        assert_eq!(r.take_free(), None);
        r.free_slot(1);
        r.clear_free();
        assert_eq!(r.take_free(), None);
    }
}

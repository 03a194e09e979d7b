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
}

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

/// One execution slot: the batch it runs (empty when idle).
pub struct Slot {
    /// Requests of the batch in flight.
    pub batch: Vec<Req>,
}

/// The server of one pod.
pub struct Replica {
    /// Generation (see [`RepId`]).
    pub generation: u32,
    /// Its pod.
    pub pod: PodId,
    /// Index of its service.
    pub svc: u32,
    /// Where it is in its life.
    pub state: RepState,
    /// Its pod holds room on a node.
    pub bound: bool,
    /// Requests routed to it and not started.
    pub queue: VecDeque<Req>,
    /// Execution slots.
    pub slots: Vec<Slot>,
    /// Idle slots (per-replica routing), the next to use last.
    pub free: Vec<u32>,
    /// Requests routed to it and not finished, as its load balancer counts them.
    pub outstanding: u32,
    /// A batch timer is armed.
    pub timer: bool,
    /// The continuous-batching engine of an LLM replica.
    pub llm: Option<Engine<Req>>,
    /// Tokens the iteration in flight generates.
    pub iter_tokens: u32,
    /// Requests it has started, cumulative (for requests-per-second metrics).
    pub started_total: u64,
    /// Its position in its service's ready list while it is there and the service routes
    /// to the least outstanding (the leaf of [`super::route::LoadTree`]), else `u32::MAX`.
    pub ready_at: u32,
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
            state: RepState::Gone,
            bound: false,
            queue: VecDeque::new(),
            slots: Vec::new(),
            free: Vec::new(),
            outstanding: 0,
            timer: false,
            llm: None,
            iter_tokens: 0,
            started_total: 0,
            ready_at: u32::MAX,
        }
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
            && self.queue.is_empty()
            && self.slots.iter().all(|s| s.batch.is_empty())
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
                let busy_slots = self.slots.iter().filter(|s| !s.batch.is_empty()).count();
                let running: usize = self.slots.iter().map(|s| s.batch.len()).sum();
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

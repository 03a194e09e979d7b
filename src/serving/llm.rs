//! Continuous batching on one LLM replica, as vLLM's schedulers do it.
//!
//! The engine runs one *iteration* (one forward pass) at a time. Between iterations it decides
//! what the next one runs:
//!
//! - **Without chunked prefill** (vLLM's V0 scheduler, its default below 32k context): if
//!   waiting requests can be admitted, the iteration is a prefill of whole prompts only,
//!   admitted in arrival order while the iteration stays within `max_batch_tokens` tokens and
//!   the running set within `max_num_seqs` sequences and the KV cache has their blocks;
//!   otherwise it is a decode step of every running sequence (one token each).
//! - **With chunked prefill** (V0 when asked; always in vLLM's V1 scheduler): every iteration
//!   has a budget of `max_batch_tokens` tokens. Running decodes come first (one token each),
//!   then prompts already being prefilled continue with a chunk of what the budget leaves, then
//!   new requests start with a chunk. This is V1's order too: V1 walks its running list in
//!   admission order, and only the most recently admitted request can still be prefilling
//!   there, since an earlier one's remainder takes the budget before a later one is admitted.
//!
//! The KV cache is paged: `block_size` tokens per block. A prompt's blocks are allocated when it
//! is admitted (V0's block manager keeps a watermark of 1% of the blocks free, V1's none); a
//! decoding sequence takes a new block each time its context crosses a block boundary. When no
//! block is free, the most recently admitted running sequence is preempted by *recompute*: its
//! blocks are freed and it goes back to the front of the waiting line, to be prefilled again
//! (prompt plus the tokens it had generated) when there is room.
//!
//! Requests that can never run are rejected: a prompt of `max_context` tokens or more, a
//! prompt longer than `max_batch_tokens` without chunked prefill, or one whose KV cache
//! exceeds the whole cache. A sequence stops at `max_context` tokens (vLLM's `length` finish).
//!
//! The engine owns no clock and no queue of new requests: the event loop passes the queue to
//! draw from (a replica's own, or a service's shared queue) and the current time, and times
//! the iteration with the model's cost ([`crate::models::llm::LlmCost`]).

use crate::engine::SimTime;
use crate::models::llm::IterShape;
use std::collections::VecDeque;

/// Latency the API server adds to each request outside the GPU (HTTP, tokenization,
/// detokenization), when a scenario does not say. Calibrated in `tests/llm_calibration.rs`.
pub const DEFAULT_REQUEST_OVERHEAD: SimTime = SimTime(0);

/// What the engine needs to know of a request.
pub trait LlmRequest: Copy {
    /// Prompt length in tokens.
    fn prompt_tokens(&self) -> u32;
    /// Tokens to generate.
    fn output_tokens(&self) -> u32;
    /// Marks the request as taken into the running batch at `now`.
    fn admitted(&mut self, now: SimTime);
}

/// Scheduler limits and cache size of one replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// Largest number of running sequences (vLLM `max_num_seqs`).
    pub max_num_seqs: u32,
    /// Token budget of one iteration (vLLM `max_num_batched_tokens`).
    pub max_batch_tokens: u32,
    /// Split long prompts over iterations and mix them with decodes.
    pub chunked_prefill: bool,
    /// Tokens per KV cache block (vLLM `block_size`, 16 by default).
    pub block_size: u32,
    /// KV cache blocks of the replica.
    pub kv_blocks: u32,
    /// Longest sequence, prompt plus output (vLLM `max_model_len`).
    pub max_context: u32,
    /// Keep 1% of the blocks free when admitting (V0's block manager); V1 keeps none.
    pub watermark: bool,
}

impl EngineConfig {
    /// Blocks kept free when admitting new prompts: V0's `watermark` of 1%, none in V1.
    fn watermark(&self) -> u32 {
        if self.watermark {
            self.kv_blocks / 100
        } else {
            0
        }
    }

    fn blocks_for(&self, tokens: u32) -> u32 {
        tokens.div_ceil(self.block_size)
    }
}

/// A sequence the engine holds (running or preempted).
#[derive(Debug, Clone, Copy)]
struct Seq<R> {
    req: R,
    prompt: u32,
    output: u32,
    /// Tokens generated so far.
    generated: u32,
    /// Tokens the current prefill must compute: the prompt, plus the generated tokens after a
    /// preemption.
    target: u32,
    /// Tokens whose keys and values are in the cache.
    ctx: u32,
    /// KV blocks held.
    blocks: u32,
    /// Tokens processed in the iteration in flight (0: not part of it).
    step: u32,
    /// When the first output token came out (`None` before).
    first_token: Option<SimTime>,
}

impl<R> Seq<R> {
    #[inline]
    fn prefilling(&self) -> bool {
        self.ctx < self.target
    }
}

/// A request that finished.
#[derive(Debug, Clone, Copy)]
pub struct Finished<R> {
    /// The request.
    pub req: R,
    /// When its first token came out.
    pub first_token: SimTime,
    /// Tokens it generated (less than asked when it reached `max_context`).
    pub generated: u32,
}

/// What happened in one call, for the event loop's statistics.
#[derive(Debug)]
pub struct Outcome<R> {
    /// Requests taken from the queue into the running batch this call (their wait ends).
    pub admitted: Vec<R>,
    /// Requests that can never run, taken from the queue and refused.
    pub rejected: Vec<R>,
    /// Requests whose first token came out (time to first token).
    pub first_tokens: Vec<R>,
    /// Requests that finished.
    pub finished: Vec<Finished<R>>,
    /// Sequences preempted.
    pub preempted: u32,
}

impl<R> Default for Outcome<R> {
    fn default() -> Self {
        Outcome {
            admitted: Vec::new(),
            rejected: Vec::new(),
            first_tokens: Vec::new(),
            finished: Vec::new(),
            preempted: 0,
        }
    }
}

impl<R> Outcome<R> {
    /// Empties every list, keeping the allocations.
    pub fn clear(&mut self) {
        self.admitted.clear();
        self.rejected.clear();
        self.first_tokens.clear();
        self.finished.clear();
        self.preempted = 0;
    }
}

/// One replica's continuous-batching engine.
#[derive(Debug)]
pub struct Engine<R> {
    cfg: EngineConfig,
    free_blocks: u32,
    /// Running sequences in admission order (the last is the first preemption victim).
    running: Vec<Seq<R>>,
    /// Preempted sequences, first in line for readmission.
    preempted: VecDeque<Seq<R>>,
    in_flight: bool,
}

impl<R: LlmRequest> Engine<R> {
    /// An idle engine with an empty cache.
    pub fn new(cfg: EngineConfig) -> Engine<R> {
        Engine {
            cfg,
            free_blocks: cfg.kv_blocks,
            running: Vec::new(),
            preempted: VecDeque::new(),
            in_flight: false,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// Whether an iteration is running.
    pub fn busy(&self) -> bool {
        self.in_flight
    }

    /// KV cache blocks in use.
    pub fn used_blocks(&self) -> u32 {
        self.cfg.kv_blocks - self.free_blocks
    }

    /// Sequences in the running batch.
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// Sequences preempted and waiting to be prefilled again.
    pub fn preempted(&self) -> usize {
        self.preempted.len()
    }

    /// Requests the engine holds (running or preempted).
    pub fn held(&self) -> usize {
        self.running.len() + self.preempted.len()
    }

    /// Why a request can never run on this engine, if it cannot.
    fn unservable(&self, prompt: u32) -> bool {
        prompt >= self.cfg.max_context
            || (!self.cfg.chunked_prefill && prompt > self.cfg.max_batch_tokens)
            || self.cfg.blocks_for(prompt + 1) > self.cfg.kv_blocks
    }

    fn new_seq(req: R) -> Seq<R> {
        let prompt = req.prompt_tokens().max(1);
        Seq {
            req,
            prompt,
            output: req.output_tokens().max(1),
            generated: 0,
            target: prompt,
            ctx: 0,
            blocks: 0,
            step: 0,
            first_token: None,
        }
    }

    /// Plans the next iteration, drawing new requests from `queue`. Returns its shape, or
    /// `None` when there is nothing to run. Admissions, rejections and preemptions go to `out`.
    pub fn schedule(
        &mut self,
        now: SimTime,
        queue: &mut VecDeque<R>,
        out: &mut Outcome<R>,
    ) -> Option<IterShape> {
        debug_assert!(!self.in_flight);
        let mut shape = IterShape::default();
        if self.cfg.chunked_prefill {
            let mut budget = self.cfg.max_batch_tokens;
            self.schedule_decodes(&mut shape, &mut budget, out);
            // Prompts already being prefilled continue first.
            for i in 0..self.running.len() {
                if budget == 0 {
                    break;
                }
                let s = &mut self.running[i];
                if s.prefilling() && s.step == 0 {
                    let n = (s.target - s.ctx).min(budget);
                    budget -= n;
                    add_prefill(&mut shape, s, n);
                }
            }
            self.admit(now, queue, &mut shape, budget, out);
        } else {
            // A prefill-only iteration when anything can be admitted, else a decode step.
            self.admit(now, queue, &mut shape, self.cfg.max_batch_tokens, out);
            if shape.prefill_tokens == 0 {
                let mut budget = u32::MAX;
                self.schedule_decodes(&mut shape, &mut budget, out);
            }
        }
        if shape.prefill_tokens == 0 && shape.decode_seqs == 0 {
            return None;
        }
        self.in_flight = true;
        Some(shape)
    }

    /// Adds one decode token of every running, fully prefilled sequence, preempting the most
    /// recent sequences by recompute while the cache has no block for a new token.
    fn schedule_decodes(&mut self, shape: &mut IterShape, budget: &mut u32, out: &mut Outcome<R>) {
        let mut i = 0;
        while i < self.running.len() {
            if *budget == 0 {
                break;
            }
            if self.running[i].prefilling() {
                i += 1;
                continue;
            }
            let need = self.cfg.blocks_for(self.running[i].ctx + 1);
            if need > self.running[i].blocks {
                // Find a block, preempting from the back (possibly this sequence itself).
                while self.free_blocks == 0 {
                    let victim = self.running.len() - 1;
                    self.preempt(victim, shape);
                    out.preempted += 1;
                    if victim == i {
                        break;
                    }
                }
                if i >= self.running.len() {
                    break;
                }
                self.free_blocks -= 1;
                self.running[i].blocks += 1;
            }
            let s = &mut self.running[i];
            s.step = 1;
            *budget -= 1;
            shape.decode_seqs += 1;
            shape.decode_ctx_tokens += u64::from(s.ctx) + 1;
            i += 1;
        }
    }

    /// Preempts running sequence `i` by recompute: frees its blocks and puts it first in line.
    fn preempt(&mut self, i: usize, shape: &mut IterShape) {
        let mut s = self.running.remove(i);
        if s.step > 0 {
            // Scheduled in this iteration already (only decodes come before a preemption).
            shape.decode_seqs -= 1;
            shape.decode_ctx_tokens -= u64::from(s.ctx) + 1;
        }
        self.free_blocks += s.blocks;
        s.blocks = 0;
        s.ctx = 0;
        s.step = 0;
        s.target = s.prompt + s.generated;
        self.preempted.push_front(s);
    }

    /// Admits waiting sequences (preempted ones first, then `queue`) in order while the
    /// budget, `max_num_seqs` and the cache allow; the first that does not fit stops it.
    fn admit(
        &mut self,
        now: SimTime,
        queue: &mut VecDeque<R>,
        shape: &mut IterShape,
        mut budget: u32,
        out: &mut Outcome<R>,
    ) {
        let chunked = self.cfg.chunked_prefill;
        loop {
            if budget == 0 || self.running.len() >= self.cfg.max_num_seqs as usize {
                return;
            }
            let from_queue = self.preempted.is_empty();
            let mut s = match self.preempted.front() {
                Some(s) => *s,
                None => match queue.front() {
                    Some(r) => Self::new_seq(*r),
                    None => return,
                },
            };
            if from_queue && self.unservable(s.prompt) {
                out.rejected.push(s.req);
                queue.pop_front();
                continue;
            }
            let n = if chunked {
                (s.target - s.ctx).min(budget)
            } else {
                s.target
            };
            if n > budget {
                return;
            }
            let need = self.cfg.blocks_for(s.target);
            if need + self.cfg.watermark() > self.free_blocks {
                // A preempted sequence longer than the watermark allows still goes when the
                // cache is otherwise empty, or it would never run again.
                if !(self.running.is_empty() && need <= self.free_blocks) {
                    return;
                }
            }
            if from_queue {
                queue.pop_front();
                s.req.admitted(now);
                out.admitted.push(s.req);
            } else {
                self.preempted.pop_front();
            }
            self.free_blocks -= need;
            s.blocks = need;
            budget -= n;
            add_prefill(shape, &mut s, n);
            self.running.push(s);
        }
    }

    /// Empties the engine (its pod was killed): returns every request it held, frees the
    /// cache, forgets the iteration in flight.
    pub fn drain(&mut self) -> Vec<R> {
        self.in_flight = false;
        self.free_blocks = self.cfg.kv_blocks;
        let mut out: Vec<R> = self.running.drain(..).map(|s| s.req).collect();
        out.extend(self.preempted.drain(..).map(|s| s.req));
        out
    }

    /// Ends the iteration in flight at `now`: prefills advance, decodes emit a token, finished
    /// sequences leave and free their blocks.
    pub fn complete(&mut self, now: SimTime, out: &mut Outcome<R>) {
        debug_assert!(self.in_flight);
        self.in_flight = false;
        let max_context = self.cfg.max_context;
        let mut freed = 0;
        self.running.retain_mut(|s| {
            if s.step == 0 {
                return true;
            }
            let was_prefilling = s.prefilling();
            s.ctx += s.step;
            s.step = 0;
            if was_prefilling && s.prefilling() {
                return true;
            }
            // A finished prefill samples a token, as does every decode step.
            s.generated += 1;
            if s.first_token.is_none() {
                s.first_token = Some(now);
                out.first_tokens.push(s.req);
            }
            if s.generated >= s.output || s.ctx + 1 >= max_context {
                freed += s.blocks;
                out.finished.push(Finished {
                    req: s.req,
                    first_token: s.first_token.unwrap_or(now),
                    generated: s.generated,
                });
                return false;
            }
            true
        });
        self.free_blocks += freed;
    }
}

/// Adds a prefill chunk of `n` tokens of `s` to the iteration.
#[inline]
fn add_prefill<R>(shape: &mut IterShape, s: &mut Seq<R>, n: u32) {
    s.step = n;
    let (c, n64) = (s.ctx as f64, n as f64);
    shape.prefill_tokens += u64::from(n);
    // Causal attention: token j of the chunk attends to the c cached keys and j + 1 new ones.
    shape.prefill_pairs += n64 * c + n64 * (n64 + 1.0) / 2.0;
    if s.ctx + n == s.target {
        shape.prefill_seqs += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq)]
    struct R(u32, u32, u32);
    impl LlmRequest for R {
        fn prompt_tokens(&self) -> u32 {
            self.1
        }
        fn output_tokens(&self) -> u32 {
            self.2
        }
        fn admitted(&mut self, _now: SimTime) {}
    }

    fn cfg() -> EngineConfig {
        EngineConfig {
            max_num_seqs: 256,
            max_batch_tokens: 4096,
            chunked_prefill: false,
            block_size: 16,
            kv_blocks: 10_000,
            max_context: 4096,
            watermark: true,
        }
    }

    /// Runs the engine to completion at 1 s per iteration; returns (id, first token, finish).
    fn drain(
        e: &mut Engine<R>,
        q: &mut VecDeque<R>,
    ) -> (Vec<(u32, u64, u64)>, Vec<IterShape>, u32) {
        let mut out = Outcome::default();
        let mut done = Vec::new();
        let mut firsts = std::collections::BTreeMap::new();
        let mut shapes = Vec::new();
        let mut preempted = 0;
        let mut t = 0;
        while let Some(shape) = e.schedule(SimTime::ZERO, q, &mut out) {
            shapes.push(shape);
            t += 1;
            e.complete(SimTime::from_secs(t), &mut out);
            for r in &out.first_tokens {
                firsts.insert(r.0, t);
            }
            for f in &out.finished {
                assert_eq!(f.first_token, SimTime::from_secs(firsts[&f.req.0]));
                done.push((f.req.0, firsts[&f.req.0], t));
            }
            preempted += out.preempted;
            out.clear();
            assert!(t < 1_000_000);
        }
        (done, shapes, preempted)
    }

    #[test]
    fn one_request_prefills_then_decodes_each_token() {
        let mut e = Engine::new(cfg());
        let mut q: VecDeque<R> = [R(0, 100, 5)].into();
        let (done, shapes, _) = drain(&mut e, &mut q);
        // One prefill (emits token 1) and four decode steps.
        assert_eq!(done, vec![(0, 1, 5)]);
        assert_eq!(shapes.len(), 5);
        assert_eq!(shapes[0].prefill_tokens, 100);
        assert_eq!(shapes[0].prefill_seqs, 1);
        assert_eq!(shapes[0].prefill_pairs, 100.0 * 101.0 / 2.0);
        // Decode k reads the 100 prompt keys plus k generated ones.
        for (k, s) in shapes[1..].iter().enumerate() {
            assert_eq!(s.decode_seqs, 1);
            assert_eq!(s.decode_ctx_tokens, 101 + k as u64);
        }
        assert_eq!(e.used_blocks(), 0);
    }

    #[test]
    fn prefill_iterations_come_before_decodes_and_respect_token_budget() {
        let mut c = cfg();
        c.max_batch_tokens = 250;
        let mut e = Engine::new(c);
        let mut q: VecDeque<R> = (0..4).map(|i| R(i, 100, 3)).collect();
        let (done, shapes, _) = drain(&mut e, &mut q);
        // Two prompts fit each 250-token prefill; the second prefill runs before any decode.
        assert_eq!(shapes[0].prefill_tokens, 200);
        assert_eq!(shapes[1].prefill_tokens, 200);
        assert_eq!(shapes[1].decode_seqs, 0);
        assert_eq!(shapes[2].decode_seqs, 4);
        assert_eq!(done.len(), 4);
        assert!(done.iter().all(|d| d.2 == 4));
    }

    #[test]
    fn max_num_seqs_bounds_the_running_batch() {
        let mut c = cfg();
        c.max_num_seqs = 3;
        let mut e = Engine::new(c);
        let mut q: VecDeque<R> = (0..7).map(|i| R(i, 10, 4)).collect();
        let (done, shapes, _) = drain(&mut e, &mut q);
        assert_eq!(done.len(), 7);
        assert!(shapes.iter().all(|s| s.decode_seqs + s.prefill_seqs <= 3));
    }

    #[test]
    fn chunked_prefill_splits_prompts_and_mixes_decodes() {
        let mut c = cfg();
        c.chunked_prefill = true;
        c.max_batch_tokens = 64;
        let mut e = Engine::new(c);
        let mut q: VecDeque<R> = [R(0, 10, 50), R(1, 200, 2)].into();
        let (done, shapes, _) = drain(&mut e, &mut q);
        // First iteration: prompt 0 whole (10) and 54 tokens of prompt 1.
        assert_eq!(shapes[0].prefill_tokens, 64);
        assert_eq!(shapes[0].prefill_seqs, 1);
        // Then one decode of request 0 plus 63-token chunks of request 1.
        assert_eq!(shapes[1].decode_seqs, 1);
        assert_eq!(shapes[1].prefill_tokens, 63);
        // 54 + 63 + 63 = 180, the last 20 tokens in the fourth iteration.
        assert_eq!(shapes[3].prefill_tokens, 20);
        assert_eq!(shapes[3].prefill_seqs, 1);
        // The chunk after 54 cached tokens attends to them all.
        assert_eq!(shapes[1].prefill_pairs, 63.0 * 54.0 + 63.0 * 64.0 / 2.0);
        let r1 = done.iter().find(|d| d.0 == 1).unwrap();
        assert_eq!((r1.1, r1.2), (4, 5));
        assert!(
            shapes
                .iter()
                .all(|s| s.prefill_tokens + s.decode_seqs <= 64)
        );
    }

    #[test]
    fn kv_cache_full_preempts_the_newest_by_recompute() {
        let mut c = cfg();
        // 10 blocks of 16 tokens; two sequences of 64-token prompts need 4 blocks each and
        // grow to 64 + 40 = 104 tokens (7 blocks): both cannot finish together.
        c.kv_blocks = 10;
        let mut e = Engine::new(c);
        let mut q: VecDeque<R> = [R(0, 64, 40), R(1, 64, 40)].into();
        let (done, shapes, preempted) = drain(&mut e, &mut q);
        assert!(preempted >= 1, "{preempted}");
        assert_eq!(done.len(), 2);
        // The older request never stops; the newer is recomputed after a preemption: its
        // prompt plus what it had generated is prefilled again.
        assert_eq!(done[0].0, 0);
        assert_eq!(done[0].2, 40);
        assert!(shapes.iter().skip(1).any(|s| s.prefill_tokens > 64));
        assert!(shapes.iter().all(|s| s.decode_ctx_tokens <= 2 * 104));
        assert_eq!(e.used_blocks(), 0);
    }

    #[test]
    fn only_v0_keeps_a_watermark_of_free_blocks() {
        // 200 blocks: V0 keeps 2 free, so a prompt needing all 200 waits; V1 admits it.
        let mut c = cfg();
        c.kv_blocks = 200;
        let prompt = R(0, 200 * 16 - 1, 1);
        let mut out = Outcome::default();
        let mut q: VecDeque<R> = [prompt].into();
        let mut v0 = Engine::new(c);
        // Alone in an empty cache it still runs (the watermark only holds back a second one).
        assert!(v0.schedule(SimTime::ZERO, &mut q, &mut out).is_some());
        let mut v0 = Engine::new(c);
        let mut q: VecDeque<R> = [R(1, 16, 4), R(2, 199 * 16 - 1, 1)].into();
        v0.schedule(SimTime::ZERO, &mut q, &mut out);
        assert_eq!(
            v0.running(),
            1,
            "199 + 1 blocks would break the 2-block watermark"
        );
        c.watermark = false;
        let mut v1 = Engine::new(c);
        let mut q: VecDeque<R> = [R(1, 16, 4), R(2, 199 * 16 - 1, 1)].into();
        v1.schedule(SimTime::ZERO, &mut q, &mut out);
        assert_eq!(v1.running(), 2);
    }

    #[test]
    fn unservable_requests_are_rejected() {
        let mut c = cfg();
        c.max_batch_tokens = 100;
        let mut e = Engine::new(c);
        let mut q: VecDeque<R> = [R(0, 5000, 1), R(1, 101, 1), R(2, 50, 1)].into();
        let mut out = Outcome::default();
        let shape = e.schedule(SimTime::ZERO, &mut q, &mut out).unwrap();
        assert_eq!(out.rejected, vec![R(0, 5000, 1), R(1, 101, 1)]);
        assert_eq!(out.admitted, vec![R(2, 50, 1)]);
        assert_eq!(shape.prefill_tokens, 50);
    }

    #[test]
    fn output_stops_at_max_context() {
        let mut c = cfg();
        c.max_context = 20;
        let mut e = Engine::new(c);
        let mut q: VecDeque<R> = [R(0, 10, 100)].into();
        let mut out = Outcome::default();
        let mut generated = 0;
        let mut t = 0;
        while e.schedule(SimTime::ZERO, &mut q, &mut out).is_some() {
            t += 1;
            e.complete(SimTime::from_secs(t), &mut out);
            generated += out.finished.iter().map(|f| f.generated).sum::<u32>();
            out.clear();
        }
        // Context 10 + 10 generated = 20 tokens at most (the last one never cached).
        assert_eq!(generated, 10);
    }
}

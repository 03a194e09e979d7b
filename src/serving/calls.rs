//! Calls between services: after its own work, a request of a service that calls others makes
//! its calls in order (each entry a count of calls one after the other), `blocking` (its slot,
//! a worker thread, is held while the callee works) or `async` (the slot is freed and the
//! request continues at the callee), optionally returning to the caller for a step of work
//! after each answer (`then`), and answers its own caller (or its user) when the last call
//! has answered.
//!
//! Such a request keeps a [`Frame`] at the service it is at; the request itself carries the
//! frame's index in [`Req::link`]. At the frame's own service that request is the frame's
//! own (its work, or its step after an answer); anywhere else it is a call the frame made.
//! Calls form no cycle (validation refuses one), so a service never receives a call of its
//! own frame and the two cases cannot be confused.
//!
//! What can go wrong travels up: a call refused (queue full) or lost (its node failed) fails
//! the request that made it, counted as dropped (and failed) at the caller too, and so on up
//! to the user. A caller lost while its call is out leaves the frame behind, marked dead,
//! until the call answers into nothing.

use super::plan::{CallCount, CallMode, Routing};
use super::replica::{NO_LINK, NO_SLOT, RepId, RepState, Req};
use super::{Serving, ServingEv};
use crate::engine::{SimRng, SimTime, Sink, stream};
use crate::serving::plan::ServicePlan;
use rand::RngExt;
use std::collections::VecDeque;

/// How a request ended, as its caller learns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Answered.
    Ok,
    /// Refused somewhere on its way (a queue at its bound, an engine that cannot hold it).
    Dropped,
    /// Lost to a failure (its node, or a node of a call it waited for).
    Failed,
}

impl Answer {
    /// As the byte an event carries.
    pub(super) fn code(self) -> u8 {
        self as u8
    }

    /// From the byte an event carries.
    pub(super) fn from_code(c: u8) -> Answer {
        match c {
            0 => Answer::Ok,
            1 => Answer::Dropped,
            _ => Answer::Failed,
        }
    }
}

/// No connection pool (an entry without `max_connections`).
const NO_POOL: u16 = u16::MAX;

/// The state of one request that makes calls, at the service it is at.
pub(super) struct Frame {
    /// The frame of the request that called it ([`NO_LINK`]: a user's request).
    parent: u32,
    /// The service it is at.
    pub(super) svc: u32,
    /// The replica that ran its latest step: its connection pools are the ones used.
    rep: RepId,
    /// The slot it holds, or [`NO_SLOT`].
    slot: u32,
    /// The call entry it is in (`u16::MAX` before the first).
    entry: u16,
    /// Calls of the entry still to make after the current one.
    left: u32,
    /// A call is out (sent, or waiting for a connection).
    out: bool,
    /// The call out holds a connection of `rep`'s pool.
    conn: bool,
    /// It is outside its replica's slots and queue (async): counted in the replica's
    /// `calls_out`.
    away: bool,
    /// Its request was lost while a call was out: freed when the call answers.
    dead: bool,
    /// When the request arrived at `svc`.
    arrival: SimTime,
    /// Its queueing wait before its first step.
    wait: SimTime,
    /// When the call out was made (connection wait included).
    call_sent: SimTime,
    /// Time spent in calls so far (for its own share of the latency).
    call_ns: u64,
    /// The user's workload, and the request's token counts, which calls carry on.
    wl: u32,
    prompt: u32,
    output: u32,
}

/// A caller replica's connections to one callee.
#[derive(Default, Clone)]
pub(super) struct ConnPool {
    in_use: u32,
    /// Frames waiting for a connection, first come first served.
    waiters: VecDeque<u32>,
}

/// Frames, connection pools and the draws of calls, for one replication.
pub(super) struct Calls {
    pub(super) frames: Vec<Frame>,
    free: Vec<u32>,
    /// By replica slot: its connection pools (see `pool_of`).
    conns: Vec<Vec<ConnPool>>,
    /// By service, by call entry: the index of its connection pool, or [`NO_POOL`]. Entries
    /// to the same callee share one pool.
    pool_of: Vec<Vec<u16>>,
    /// By service: its pools' sizes.
    pool_sizes: Vec<Vec<u32>>,
    /// By service: the counts of calls and the steps after answers.
    rngs: Vec<SimRng>,
    /// Frames whose calls a finished batch answered, for its replica to tell once it is in
    /// order (a buffer kept between batches).
    pub(super) answers: Vec<u32>,
}

impl Calls {
    /// The calls of `services` in replication `rep`.
    pub(super) fn new(services: &[ServicePlan], seed: u64, rep: u32) -> Calls {
        let mut pool_of = Vec::with_capacity(services.len());
        let mut pool_sizes = Vec::with_capacity(services.len());
        for sp in services {
            let mut callees: Vec<usize> = Vec::new();
            let mut sizes = Vec::new();
            let of = sp
                .calls
                .iter()
                .map(|c| match c.max_connections {
                    None => NO_POOL,
                    Some(max) => {
                        let k = callees
                            .iter()
                            .position(|&s| s == c.service)
                            .unwrap_or_else(|| {
                                callees.push(c.service);
                                sizes.push(max);
                                callees.len() - 1
                            });
                        k as u16
                    }
                })
                .collect();
            pool_of.push(of);
            pool_sizes.push(sizes);
        }
        Calls {
            frames: Vec::new(),
            free: Vec::new(),
            conns: Vec::new(),
            pool_of,
            pool_sizes,
            answers: Vec::new(),
            rngs: services
                .iter()
                .map(|sp| stream(seed, rep, &format!("service/{}/calls", sp.name)))
                .collect(),
        }
    }

    /// Whether `req`, at service `si`, is the own request of its frame (not a call).
    #[inline]
    pub(super) fn is_own(&self, si: usize, req: &Req) -> bool {
        req.link != NO_LINK && self.frames[req.link as usize].svc == si as u32
    }

    /// A new pod's replica in slot `r` of service `si`: fresh connection pools.
    pub(super) fn attach(&mut self, r: u32, si: usize) {
        let r = r as usize;
        if self.conns.len() <= r {
            self.conns.resize_with(r + 1, Vec::new);
        }
        self.conns[r].clear();
        self.conns[r].resize_with(self.pool_sizes[si].len(), ConnPool::default);
    }

    fn alloc(&mut self, f: Frame) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.frames[i as usize] = f;
                i
            }
            None => {
                self.frames.push(f);
                (self.frames.len() - 1) as u32
            }
        }
    }

    fn release(&mut self, f: u32) {
        self.free.push(f);
    }
}

/// Calls of one entry a request makes.
fn draw(count: &CallCount, rng: &mut SimRng) -> u32 {
    match count {
        CallCount::Fixed(n) => *n,
        CallCount::Probability(p) => u32::from(rng.random::<f64>() < *p),
        CallCount::Drawn(s) => s.sample(rng).round().clamp(0.0, f64::from(u32::MAX)) as u32,
    }
}

impl Serving<'_> {
    /// The request `req` at service `si` ended with `ans` (answered, refused, lost): its
    /// user thinks again, or its caller learns of it.
    pub(super) fn answered(
        &mut self,
        now: SimTime,
        si: usize,
        req: Req,
        ans: Answer,
        q: &mut impl Sink<ServingEv>,
    ) {
        if req.link == NO_LINK {
            self.after_response(now, req, q);
        } else if self.calls.is_own(si, &req) {
            self.lose_frame(now, req.link, ans, q);
        } else {
            self.on_answer(now, req.link, ans, q);
        }
    }

    /// Tells the caller `parent` (or the user of workload `wl`) how its call ended.
    fn answer_parent(
        &mut self,
        now: SimTime,
        parent: u32,
        wl: u32,
        ans: Answer,
        q: &mut impl Sink<ServingEv>,
    ) {
        if parent == NO_LINK {
            let req = Req {
                arrival: now,
                started: now,
                wl,
                prompt: 0,
                output: 0,
                link: NO_LINK,
            };
            self.after_response(now, req, q);
        } else {
            self.on_answer(now, parent, ans, q);
        }
    }

    /// The step in slot `slot` of replica `r`, of a service that calls others, ended: its own
    /// work (a new frame) or its step after an answer (its frame goes on).
    pub(super) fn caller_done(
        &mut self,
        now: SimTime,
        r: u32,
        slot: u32,
        q: &mut impl Sink<ServingEv>,
    ) {
        let rep = &mut self.reps[r as usize];
        let id = rep.id(r);
        let si = rep.svc as usize;
        debug_assert_eq!(
            rep.slots[slot as usize].len(),
            1,
            "callers run batches of one"
        );
        let req = *rep.slots[slot as usize].get(0);
        let primary = rep.ordinal == 0;
        self.svcs[si].stats.work(now, -1, primary);
        let f = if self.calls.is_own(si, &req) {
            req.link
        } else {
            self.calls.alloc(Frame {
                parent: req.link,
                svc: si as u32,
                rep: id,
                slot,
                entry: u16::MAX,
                left: 0,
                out: false,
                conn: false,
                away: false,
                dead: false,
                arrival: req.arrival,
                wait: req.started.since(req.arrival),
                call_sent: now,
                call_ns: 0,
                wl: req.wl,
                prompt: req.prompt,
                output: req.output,
            })
        };
        let fr = &mut self.calls.frames[f as usize];
        fr.slot = slot;
        fr.rep = id;
        self.reps[r as usize].slots[slot as usize].get_mut(0).link = f;
        self.advance(now, f, q);
    }

    /// Frame `f` makes its next call, or completes when none is left.
    fn advance(&mut self, now: SimTime, f: u32, q: &mut impl Sink<ServingEv>) {
        let services = self.services;
        loop {
            let fr = &mut self.calls.frames[f as usize];
            let sp = &services[fr.svc as usize];
            if fr.left == 0 {
                let next = fr.entry.wrapping_add(1);
                if usize::from(next) >= sp.calls.len() {
                    self.complete_frame(now, f, q);
                    return;
                }
                fr.entry = next;
                fr.left = draw(
                    &sp.calls[usize::from(next)].count,
                    &mut self.calls.rngs[fr.svc as usize],
                );
                continue;
            }
            fr.left -= 1;
            if sp.calls[usize::from(fr.entry)].mode == CallMode::Async && fr.slot != NO_SLOT {
                self.release_hold(now, f, q);
                self.go_away(f);
            }
            self.send_call(now, f, q);
            return;
        }
    }

    /// Frame `f` leaves its replica's slots for an async call.
    fn go_away(&mut self, f: u32) {
        let fr = &mut self.calls.frames[f as usize];
        fr.away = true;
        let rep = fr.rep;
        if self.current(rep) {
            self.reps[rep.slot as usize].calls_out += 1;
        }
    }

    /// Frame `f` is back (or gone): its replica no longer waits for it.
    fn come_back(&mut self, f: u32) {
        let fr = &mut self.calls.frames[f as usize];
        if !fr.away {
            return;
        }
        fr.away = false;
        let rep = fr.rep;
        if self.current(rep) {
            let r = rep.slot;
            let rp = &mut self.reps[r as usize];
            rp.calls_out -= 1;
            self.note_drained(r);
        }
    }

    /// Frame `f` makes a call of its current entry: at once, or when its replica's pool to the
    /// callee has a connection free.
    fn send_call(&mut self, now: SimTime, f: u32, q: &mut impl Sink<ServingEv>) {
        let fr = &mut self.calls.frames[f as usize];
        fr.out = true;
        fr.call_sent = now;
        let si = fr.svc as usize;
        let entry = usize::from(fr.entry);
        let rep = fr.rep;
        if fr.slot != NO_SLOT {
            self.set_blocked(now, f, 1);
        }
        let k = self.calls.pool_of[si][entry];
        if k != NO_POOL && self.current(rep) {
            let max = self.calls.pool_sizes[si][usize::from(k)];
            let pool = &mut self.calls.conns[rep.slot as usize][usize::from(k)];
            if pool.in_use >= max {
                pool.waiters.push_back(f);
                return;
            }
            pool.in_use += 1;
            self.calls.frames[f as usize].conn = true;
        }
        self.dispatch_call(now, f, q);
    }

    /// The call of frame `f` goes to its callee.
    fn dispatch_call(&mut self, now: SimTime, f: u32, q: &mut impl Sink<ServingEv>) {
        let fr = &self.calls.frames[f as usize];
        let callee = self.services[fr.svc as usize].calls[usize::from(fr.entry)].service;
        let req = Req {
            arrival: now,
            started: now,
            wl: fr.wl,
            prompt: fr.prompt,
            output: fr.output,
            link: f,
        };
        self.admit(now, callee, req, q);
    }

    /// The connection frame `f`'s call held goes back to its pool, or to the pool's next
    /// waiter.
    fn release_conn(&mut self, now: SimTime, f: u32, q: &mut impl Sink<ServingEv>) {
        let fr = &mut self.calls.frames[f as usize];
        fr.conn = false;
        let rep = fr.rep;
        let k = self.calls.pool_of[fr.svc as usize][usize::from(fr.entry)];
        if !self.current(rep) {
            // Its replica is gone, and its pools with it.
            return;
        }
        let pool = &mut self.calls.conns[rep.slot as usize][usize::from(k)];
        match pool.waiters.pop_front() {
            Some(g) => {
                self.calls.frames[g as usize].conn = true;
                self.dispatch_call(now, g, q);
            }
            None => pool.in_use = pool.in_use.saturating_sub(1),
        }
    }

    /// The call out of frame `f` ended with `ans`.
    pub(super) fn on_answer(
        &mut self,
        now: SimTime,
        f: u32,
        ans: Answer,
        q: &mut impl Sink<ServingEv>,
    ) {
        let fr = &mut self.calls.frames[f as usize];
        fr.out = false;
        let si = fr.svc as usize;
        let holding = fr.slot != NO_SLOT;
        let dead = fr.dead;
        if !dead && holding {
            self.set_blocked(now, f, -1);
        }
        if self.calls.frames[f as usize].conn {
            self.release_conn(now, f, q);
        }
        if dead {
            self.calls.release(f);
            return;
        }
        if ans != Answer::Ok {
            self.fail_frame(now, f, ans, q);
            return;
        }
        let fr = &mut self.calls.frames[f as usize];
        fr.call_ns += now.since(fr.call_sent).0;
        let then = self.services[si].calls[usize::from(fr.entry)].then.as_ref();
        match then {
            None => self.advance(now, f, q),
            Some(t) if holding => {
                // Blocking: the worker does the step in the slot it held.
                let dur = t.sample_time(&mut self.calls.rngs[si]);
                let (rep, slot) = (fr.rep, fr.slot);
                let primary = self.reps[rep.slot as usize].ordinal == 0;
                let st = &mut self.svcs[si].stats;
                st.execution(now, 1, dur);
                st.work(now, 1, primary);
                q.at(
                    now + dur,
                    ServingEv::Done {
                        rep,
                        slot: slot as u16,
                    },
                );
            }
            Some(_) => self.requeue(now, f, q),
        }
    }

    /// The step of an async frame after an answer: back into its service's queue (its own
    /// replica's while that serves, else routed anew).
    fn requeue(&mut self, now: SimTime, f: u32, q: &mut impl Sink<ServingEv>) {
        self.come_back(f);
        let fr = &self.calls.frames[f as usize];
        let si = fr.svc as usize;
        let req = Req {
            arrival: fr.arrival,
            started: now,
            wl: fr.wl,
            prompt: fr.prompt,
            output: fr.output,
            link: f,
        };
        let own = fr.rep;
        let s = &mut self.svcs[si];
        s.running -= 1;
        s.waiting += 1;
        if self.holds(si, &req) {
            self.svcs[si].queue.push_back(req);
            if self.services[si].routing == Routing::SharedQueue {
                self.pump_shared(now, si, q);
            }
            return;
        }
        let r = if self.current(own) && self.reps[own.slot as usize].state == RepState::Ready {
            own.slot
        } else {
            self.route(si, &req)
        };
        let rep = &mut self.reps[r as usize];
        rep.outstanding += 1;
        if rep.state == RepState::Dead {
            self.sync_load(r);
            let s = &mut self.svcs[si];
            s.waiting -= 1;
            s.stats.unfinished_left(now, req.arrival);
            self.fail_req(now, si, req, q);
            return;
        }
        rep.queue.push_back(req);
        self.sync_load(r);
        self.pump_replica(now, r, q);
    }

    /// The duration of the step `req` (at service `si`) starts, if it is a frame's step after
    /// an answer rather than a request's own work.
    #[inline]
    pub(super) fn then_time(&mut self, si: usize, req: &Req) -> Option<SimTime> {
        if !self.calls.is_own(si, req) {
            return None;
        }
        let entry = self.calls.frames[req.link as usize].entry;
        let t = self.services[si].calls[usize::from(entry)].then.as_ref()?;
        Some(t.sample_time(&mut self.calls.rngs[si]))
    }

    /// Frame `f` is done (answered or failed): the slot it holds is free again, or, holding
    /// none, its replica no longer waits for it.
    fn let_go(&mut self, now: SimTime, f: u32, q: &mut impl Sink<ServingEv>) {
        if self.calls.frames[f as usize].slot != NO_SLOT {
            self.release_hold(now, f, q);
        } else {
            self.come_back(f);
        }
    }

    /// The slot frame `f` holds is free again.
    fn release_hold(&mut self, now: SimTime, f: u32, q: &mut impl Sink<ServingEv>) {
        let fr = &mut self.calls.frames[f as usize];
        let slot = std::mem::replace(&mut fr.slot, NO_SLOT);
        let r = fr.rep.slot;
        let si = fr.svc as usize;
        let rep = &mut self.reps[r as usize];
        rep.slots[slot as usize].clear();
        if self.services[si].routing == Routing::SharedQueue {
            if rep.state == RepState::Ready {
                self.svcs[si].idle.push((r, slot));
            }
            self.pump_shared(now, si, q);
        } else {
            rep.outstanding -= 1;
            rep.free_slot(slot);
            self.sync_load(r);
            self.pump_replica(now, r, q);
        }
        self.note_drained(r);
    }

    /// Frame `f`'s last call answered: its request answers in turn.
    fn complete_frame(&mut self, now: SimTime, f: u32, q: &mut impl Sink<ServingEv>) {
        self.let_go(now, f, q);
        let fr = &self.calls.frames[f as usize];
        let si = fr.svc as usize;
        let (parent, wl) = (fr.parent, fr.wl);
        let latency = now.since(fr.arrival);
        let own = latency.0.saturating_sub(fr.call_ns);
        let (arrival, wait) = (fr.arrival, fr.wait);
        let (prompt, output) = (fr.prompt, fr.output);
        let slo = self.services[si].slo.as_ref();
        let s = &mut self.svcs[si];
        s.running -= 1;
        let st = &mut s.stats;
        st.completions(now, 1);
        let in_window = st.completed(arrival, latency, u64::from(prompt), u64::from(output));
        if in_window {
            st.own_ns += u128::from(own);
            if let Some(slo) = slo {
                st.count_slo(slo.met(latency, wait, None, None));
            }
        }
        st.completed_left(now, 1, u64::from(in_window));
        self.calls.release(f);
        self.answer_parent(now, parent, wl, Answer::Ok, q);
    }

    /// A call of frame `f` failed (`ans`): so does its request.
    fn fail_frame(&mut self, now: SimTime, f: u32, ans: Answer, q: &mut impl Sink<ServingEv>) {
        self.let_go(now, f, q);
        let fr = &self.calls.frames[f as usize];
        let si = fr.svc as usize;
        let (parent, wl, arrival) = (fr.parent, fr.wl, fr.arrival);
        let has_slo = self.services[si].slo.is_some();
        let s = &mut self.svcs[si];
        s.running -= 1;
        s.stats.unfinished_left(now, arrival);
        s.stats.killed(arrival, ans == Answer::Failed);
        if has_slo {
            s.stats.count_slo(false);
        }
        self.calls.release(f);
        self.answer_parent(now, parent, wl, ans, q);
    }

    /// Frame `f`'s own request was killed where it was (its counts already taken): the frame
    /// ends, its caller learns of it.
    fn lose_frame(&mut self, now: SimTime, f: u32, ans: Answer, q: &mut impl Sink<ServingEv>) {
        let fr = &self.calls.frames[f as usize];
        if fr.out && fr.slot != NO_SLOT {
            self.set_blocked(now, f, -1);
        }
        let fr = &mut self.calls.frames[f as usize];
        fr.slot = NO_SLOT;
        let (parent, wl) = (fr.parent, fr.wl);
        if fr.out {
            fr.dead = true;
        } else {
            self.calls.release(f);
        }
        self.answer_parent(now, parent, wl, ans, q);
    }

    /// Replica `r` is being killed: the frames waiting for its connections stop waiting. Those
    /// holding its slots die with them; the async ones are returned, to fail once the
    /// replica's own requests are counted.
    pub(super) fn drop_conn_waiters(&mut self, now: SimTime, r: u32) -> Vec<u32> {
        let mut away = Vec::new();
        let Some(pools) = self.calls.conns.get_mut(r as usize) else {
            return away;
        };
        let mut held = Vec::new();
        for pool in pools.iter_mut() {
            pool.in_use = 0;
            for g in pool.waiters.drain(..) {
                let fr = &mut self.calls.frames[g as usize];
                fr.out = false;
                if fr.slot != NO_SLOT {
                    held.push(g);
                } else {
                    away.push(g);
                }
            }
        }
        for g in held {
            self.set_blocked(now, g, -1);
        }
        away
    }

    /// Fails the async frames [`Serving::drop_conn_waiters`] returned.
    pub(super) fn fail_waiters(
        &mut self,
        now: SimTime,
        frames: Vec<u32>,
        q: &mut impl Sink<ServingEv>,
    ) {
        for g in frames {
            self.fail_frame(now, g, Answer::Failed, q);
        }
    }

    /// Frame `f`, in its slot, starts (+1) or stops (-1) waiting on a call: its service's
    /// and its replica's counts of slots held but not working follow.
    fn set_blocked(&mut self, now: SimTime, f: u32, delta: i32) {
        let fr = &self.calls.frames[f as usize];
        self.svcs[fr.svc as usize]
            .stats
            .blocked
            .add(now, i64::from(delta));
        let rep = &mut self.reps[fr.rep.slot as usize];
        rep.blocked = rep.blocked.wrapping_add_signed(delta);
    }

    /// Whether `req` at service `si` must go to the service's primary (ordinal 0).
    #[inline]
    pub(super) fn wants_primary(&self, si: usize, req: &Req) -> bool {
        let sp = &self.services[si];
        if sp.routing == Routing::Primary {
            return true;
        }
        if req.link == NO_LINK || self.calls.is_own(si, req) {
            return false;
        }
        let fr = &self.calls.frames[req.link as usize];
        self.services[fr.svc as usize].calls[usize::from(fr.entry)].primary
    }

    /// Whether `req` waits in service `si`'s own queue: a shared queue, or no replica (or no
    /// primary, where it must go to one) to route it to. (Once per request: inlined.)
    #[inline(always)]
    pub(super) fn holds(&self, si: usize, req: &Req) -> bool {
        let s = &self.svcs[si];
        self.services[si].routing == Routing::SharedQueue
            || s.ready.is_empty()
            || (s.primary.is_none() && self.wants_primary(si, req))
    }

    /// A terminating replica that holds nothing any more is handed back to the world (once).
    pub(super) fn note_drained(&mut self, r: u32) {
        let rep = &self.reps[r as usize];
        if rep.state == RepState::Terminating
            && rep.holds_nothing()
            && !self.drained.contains(&rep.pod)
        {
            self.drained.push(rep.pod);
        }
    }
}

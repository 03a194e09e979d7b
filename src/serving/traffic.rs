//! The load: open workloads' arrivals and closed workloads' users, who think between a
//! response and their next request.

use super::plan::{Load, WorkloadPlan};
use super::{NO_LINK, Req, Serving, ServingEv};
use crate::engine::{SimRng, SimTime, Sink, stream};
use crate::workload::{ArrivalProcess, Sampler};

/// Workloads beyond this many schedule their arrivals in the heap.
pub const MAX_ARRIVAL_LANES: usize = 8;

/// One workload's state.
pub(super) struct Wl {
    pub(super) svc: u32,
    /// Closed loop: its users think after each response.
    closed: bool,
    proc: Option<ArrivalProcess>,
    arr_rng: SimRng,
    size_rng: SimRng,
    think_rng: SimRng,
    next_prompt: u32,
    next_output: u32,
    /// Its plan draws token counts (prompt or output): known here, the request path need not
    /// look at the plan.
    draws_sizes: bool,
}

/// A closed-loop user whose request finished (or was dropped) thinks, then sends again.
/// (Open workloads do nothing: the flag is tested first, as this runs once per request.)
#[inline(always)]
pub(super) fn think_again(
    workloads: &[WorkloadPlan],
    wl: &mut Wl,
    q: &mut impl Sink<ServingEv>,
    now: SimTime,
    w: u32,
) {
    if !wl.closed {
        return;
    }
    if let Load::Closed { think, .. } = &workloads[w as usize].load {
        let t = think.sample_time(&mut wl.think_rng);
        q.at(now + t, ServingEv::Think(w));
    }
}

impl Serving<'_> {
    /// Starts the load: each open workload's first arrival (in a lane of its own when there
    /// are few workloads: the queue scans lanes), each closed-loop user's first think.
    pub fn start_workloads(&mut self, seed: u64, rep: u32, q: &mut impl Sink<ServingEv>) {
        let use_lanes = self.workloads.len() <= MAX_ARRIVAL_LANES;
        for (wi, wp) in self.workloads.iter().enumerate() {
            let name = format!("workload/{wi}");
            let mut w = Wl {
                svc: wp.service as u32,
                closed: matches!(wp.load, Load::Closed { .. }),
                proc: None,
                arr_rng: stream(seed, rep, &format!("{name}/arrivals")),
                size_rng: stream(seed, rep, &format!("{name}/sizes")),
                think_rng: stream(seed, rep, &format!("{name}/think")),
                next_prompt: 0,
                next_output: 0,
                draws_sizes: wp.prompt_tokens.is_some() || wp.output_tokens.is_some(),
            };
            match &wp.load {
                Load::Open(p) => {
                    let mut p = p.clone();
                    if let Some(a) = p.next(SimTime::ZERO, &mut w.arr_rng) {
                        w.next_prompt = a.prompt_tokens.unwrap_or(0);
                        w.next_output = a.output_tokens.unwrap_or(0);
                        let lane = if use_lanes { wi } else { usize::MAX };
                        q.at_lane(lane, a.at, ServingEv::Arrival(wi as u32));
                    }
                    w.proc = Some(p);
                }
                Load::Closed { users, think } => {
                    self.svcs[wp.service].closed_users += users;
                    // Users start thinking at time zero, which staggers their first requests.
                    for _ in 0..*users {
                        let t = think.sample_time(&mut w.think_rng);
                        q.at(t, ServingEv::Think(wi as u32));
                    }
                }
            }
            self.wls.push(w);
        }
    }

    #[inline]
    pub(super) fn on_arrival(&mut self, now: SimTime, w: u32, q: &mut impl Sink<ServingEv>) {
        let wl = &mut self.wls[w as usize];
        let req = Req {
            arrival: now,
            started: now,
            wl: w,
            prompt: wl.next_prompt,
            output: wl.next_output,
            link: NO_LINK,
        };
        if let Some(p) = wl.proc.as_mut()
            && let Some(a) = p.next(now, &mut wl.arr_rng)
        {
            wl.next_prompt = a.prompt_tokens.unwrap_or(0);
            wl.next_output = a.output_tokens.unwrap_or(0);
            q.at_lane(w as usize, a.at, ServingEv::Arrival(w));
        }
        let req = self.sized(req);
        let si = self.wls[w as usize].svc as usize;
        self.admit(now, si, req, q);
    }

    pub(super) fn on_think(&mut self, now: SimTime, w: u32, q: &mut impl Sink<ServingEv>) {
        let req = self.sized(Req {
            arrival: now,
            started: now,
            wl: w,
            prompt: 0,
            output: 0,
            link: NO_LINK,
        });
        let si = self.wls[w as usize].svc as usize;
        self.admit(now, si, req, q);
    }

    /// Draws token counts from the workload's distributions where the arrival gave none.
    #[inline]
    fn sized(&mut self, mut req: Req) -> Req {
        let wl = &mut self.wls[req.wl as usize];
        if !wl.draws_sizes {
            return req;
        }
        let wp = &self.workloads[req.wl as usize];
        let draw = |d: &Option<Sampler>, rng: &mut SimRng, given: u32| match d {
            Some(d) if given == 0 => d.sample(rng).round().clamp(1.0, u32::MAX as f64) as u32,
            _ => given,
        };
        req.prompt = draw(&wp.prompt_tokens, &mut wl.size_rng, req.prompt);
        req.output = draw(&wp.output_tokens, &mut wl.size_rng, req.output);
        req
    }

    /// A closed-loop user whose request ended (answered or not) thinks, then sends again.
    pub(super) fn after_response(&mut self, now: SimTime, req: Req, q: &mut impl Sink<ServingEv>) {
        think_again(
            self.workloads,
            &mut self.wls[req.wl as usize],
            q,
            now,
            req.wl,
        );
    }
}

//! What a service measures: the counters, histograms and time integrals of the summary, and
//! the per-interval figures of the timeseries.
//!
//! The warm-up rule lives here once ([`ServiceStats::counts`]): a figure counts when its time
//! is at or after the end of the warm-up. Request figures (latency, wait, completed, dropped)
//! take the request's arrival as that time, so that a request is measured whole or not at
//! all; rates of what the service did (completions per second, batches, tokens generated)
//! take the time it happened.

use crate::engine::SimTime;
use crate::stats::{ClockIntegral, IntervalHist, LatencyHist, TimeIntegral};

/// One service's statistics in one replication.
#[derive(Default)]
pub struct ServiceStats {
    warmup: SimTime,
    /// Requests that arrived after the warm-up. (Of those, the requests started, the
    /// requests that waited and the requests completed are counted by the `wait` and
    /// `latency` histograms: see [`ServiceStats::started_count`].)
    pub arrivals: u64,
    /// Completions after the warm-up, whenever the request arrived (for throughput).
    pub completions_in_window: u64,
    /// Requests (arrived after the warm-up) dropped: refused, killed, or failed.
    pub dropped: u64,
    /// Of the dropped, requests lost to node failures.
    pub failed: u64,
    /// Requests (arrived after the warm-up) that met every per-request SLO bound.
    pub slo_ok: u64,
    /// Executions (batches or LLM iterations) started after the warm-up.
    pub batches: u64,
    /// Requests in those executions.
    pub batch_items: u64,
    /// Time those executions took.
    pub service_ns: u128,
    /// Prompt tokens of the completed requests.
    pub prompt_tokens: u64,
    /// Output tokens of the completed requests.
    pub output_tokens: u64,
    /// Latency of the completed requests.
    pub latency: LatencyHist,
    /// Wait of the started requests.
    pub wait: LatencyHist,
    /// Requests in the system over time.
    pub in_system: ClockIntegral,
    /// Of those, the requests that were already there when the warm-up ended, over time
    /// (Little's law is checked without them: they have no arrival in the window). Kept
    /// apart rather than the window's own arrivals because they are few and leave early.
    pub before_window_in_system: ClockIntegral,
    /// Requests that arrived after the warm-up and entered the system (not refused at the
    /// door).
    pub window_admitted: u64,
    /// Of those, requests that left without completing (killed, lost, refused by an engine),
    /// and the time they spent in the system.
    pub window_unfinished: u64,
    /// (See `window_unfinished`.)
    pub window_unfinished_ns: u128,
    /// Busy execution slots over time.
    pub busy: ClockIntegral,
    /// Busy execution slots of the replica of ordinal 0 (a StatefulSet's primary).
    pub primary_busy: ClockIntegral,
    /// Slots held by requests waiting on a blocking call (held, not working).
    pub blocked: ClockIntegral,
    /// Services that call others: the time of completed requests (arrived in the window)
    /// spent here rather than in calls, summed.
    pub own_ns: u128,
    /// Pods bound to a node over time.
    pub replicas: TimeIntegral,
    /// Most pods bound at once.
    pub replicas_max: i64,
    /// When the queue bound was reached, if it was.
    pub saturated_at: Option<SimTime>,
    /// Requests in the system at the end of the warm-up.
    pub in_system_at_window: i64,
    /// Requests waiting at the end of the warm-up.
    pub waiting_at_window: u64,
    /// Request-seconds in the system (the area under the backlog) at each mark of the
    /// second half of the window, for the saturation test.
    pub backlog_marks: Vec<f64>,
    /// Time to first token (LLM services).
    pub ttft: LatencyHist,
    /// Time per output token (LLM services).
    pub tpot: LatencyHist,
    /// Sequences preempted after the warm-up (LLM services).
    pub preemptions: u64,
    /// Tokens generated after the warm-up (LLM services).
    pub generated_tokens: u64,
    /// KV cache blocks in use over time (LLM services).
    pub kv_used: TimeIntegral,
    /// KV cache blocks of the bound pods over time (LLM services).
    pub kv_capacity: TimeIntegral,
    /// Request-seconds spent in the API server outside the engine (for Little's law).
    pub overhead_ns: u128,
    /// Seconds of report intervals (after warm-up) in which the SLO did not hold.
    pub out_of_slo_secs: f64,
    /// Requests admitted, cumulative from time zero (for request-rate metrics).
    pub admitted_total: u64,
    // Per report interval.
    /// Latency of the requests completed in the interval.
    pub iv_latency: IntervalHist,
    /// Time to first token of the first tokens of the interval.
    pub iv_ttft: IntervalHist,
    /// Arrivals in the interval.
    pub iv_arrivals: u64,
    /// Completions in the interval.
    pub iv_completions: u64,
    /// Busy slot-seconds at the last sample.
    pub iv_busy_area: f64,
    /// Bound-pod seconds at the last sample.
    pub iv_rep_area: f64,
    /// Request-seconds in the system at the last sample.
    pub iv_in_system_area: f64,
    /// The mean number in the system over each report interval, while the load is still as
    /// it started (for the detection of the initial transient).
    pub in_system_means: Vec<f64>,
    /// Requests judged against the SLO in the interval.
    pub iv_slo_done: u64,
    /// Of those, requests that missed it.
    pub iv_slo_miss: u64,
}

impl ServiceStats {
    /// Empty statistics of a run whose warm-up ends at `warmup`.
    pub fn new(warmup: SimTime) -> ServiceStats {
        ServiceStats {
            warmup,
            latency: LatencyHist::new(),
            wait: LatencyHist::new(),
            ttft: LatencyHist::new(),
            tpot: LatencyHist::new(),
            iv_latency: IntervalHist::new(),
            iv_ttft: IntervalHist::new(),
            ..Default::default()
        }
    }

    /// Requests (arrived after the warm-up) started: each left its wait in `wait`.
    pub fn started_count(&self) -> u64 {
        self.wait.count()
    }

    /// Of those, requests that waited before starting (a wait above zero).
    pub fn waited_count(&self) -> u64 {
        self.wait.nonzero_count()
    }

    /// Requests (arrived after the warm-up) completed: each left its latency in `latency`.
    pub fn completed_count(&self) -> u64 {
        self.latency.count()
    }

    /// The warm-up rule: what happens (or arrives) at `t` counts.
    #[inline]
    pub fn counts(&self, t: SimTime) -> bool {
        t >= self.warmup
    }

    /// A request arrived at `now`.
    #[inline]
    pub fn arrived(&mut self, now: SimTime) {
        self.iv_arrivals += 1;
        self.admitted_total += 1;
        if self.counts(now) {
            self.arrivals += 1;
        }
    }

    /// A request that arrived at `now` enters the system (a queue).
    #[inline]
    pub fn entered(&mut self, now: SimTime) {
        self.in_system.add(now, 1);
        if self.counts(now) {
            self.window_admitted += 1;
        }
    }

    /// `n` requests left the system at `now` by completing, `window` of them arrived after
    /// the warm-up.
    #[inline]
    pub fn completed_left(&mut self, now: SimTime, n: u64, window: u64) {
        self.in_system.add(now, -(n as i64));
        if window < n {
            self.before_window_in_system
                .add(now, -((n - window) as i64));
        }
    }

    /// A request that arrived at `arrival` left the system at `now` without completing.
    #[inline]
    pub fn unfinished_left(&mut self, now: SimTime, arrival: SimTime) {
        self.in_system.add(now, -1);
        if self.counts(arrival) {
            self.window_unfinished += 1;
            self.window_unfinished_ns += now.since(arrival).0 as u128;
        } else {
            self.before_window_in_system.add(now, -1);
        }
    }

    /// A request that arrived at `arrival` starts at `now`.
    #[inline]
    pub fn started(&mut self, arrival: SimTime, now: SimTime) {
        if self.counts(arrival) {
            self.wait.record(now.since(arrival));
        }
    }

    /// An execution of `items` requests taking `dur` starts at `now`.
    #[inline]
    pub fn execution(&mut self, now: SimTime, items: u64, dur: SimTime) {
        if self.counts(now) {
            self.batches += 1;
            self.batch_items += items;
            self.service_ns += dur.0 as u128;
        }
    }

    /// `n` requests completed at `now` (whenever they arrived).
    #[inline]
    pub fn completions(&mut self, now: SimTime, n: u64) {
        self.iv_completions += n;
        if self.counts(now) {
            self.completions_in_window += n;
        }
    }

    /// A request that arrived at `arrival` completed after `latency`, with these token
    /// counts; returns whether it counts in the window (the caller then judges its SLO).
    #[inline]
    pub fn completed(&mut self, arrival: SimTime, latency: SimTime, prompt: u64, out: u64) -> bool {
        self.iv_latency.record(latency);
        if !self.counts(arrival) {
            return false;
        }
        self.prompt_tokens += prompt;
        self.output_tokens += out;
        self.latency.record(latency);
        true
    }

    /// A request refused at `now` (queue full, or too long for the engine).
    #[inline]
    pub fn refused(&mut self, now: SimTime) {
        if self.counts(now) {
            self.dropped += 1;
        }
    }

    /// A request that arrived at `arrival` was killed (its pod's grace period ran out) or,
    /// with `failed`, lost to a node failure.
    #[inline]
    pub fn killed(&mut self, arrival: SimTime, failed: bool) {
        if self.counts(arrival) {
            self.dropped += 1;
            if failed {
                self.failed += 1;
            }
        }
    }

    /// Counts one request's verdict against the per-request SLO bounds: for the current
    /// report interval (`minutes_out_of_slo`) and, when met, for `slo_attainment`.
    #[inline]
    pub fn count_slo(&mut self, ok: bool) {
        self.iv_slo_done += 1;
        if ok {
            self.slo_ok += 1;
        } else {
            self.iv_slo_miss += 1;
        }
    }

    /// Closes the report interval of `secs` seconds ending at `now`, recording its mean number
    /// in the system while the load is `steady` (as it started). With an SLO (`allowed_miss`:
    /// the share of requests its strictest percentile lets miss), an interval that ends after
    /// the warm-up is out of SLO when more of its requests missed than that, or when requests
    /// waited (`waiting` at its end) and none completed (a cold start).
    pub fn end_interval(
        &mut self,
        now: SimTime,
        secs: f64,
        allowed_miss: Option<f64>,
        waiting: u64,
        steady: bool,
    ) {
        let area = self.in_system.area_secs(now);
        if steady {
            self.in_system_means
                .push((area - self.iv_in_system_area) / secs);
        }
        self.iv_in_system_area = area;
        if let Some(allowed) = allowed_miss
            && now > self.warmup
        {
            let out = if self.iv_slo_done > 0 {
                self.iv_slo_miss as f64 > allowed * self.iv_slo_done as f64
            } else {
                waiting > 0
            };
            if out {
                self.out_of_slo_secs += secs;
            }
        }
        self.iv_slo_done = 0;
        self.iv_slo_miss = 0;
        self.iv_arrivals = 0;
        self.iv_completions = 0;
        self.iv_latency.reset();
    }

    /// Marks the backlog's area at `now` (one of the equally spaced marks of the second half
    /// of the window).
    pub fn mark_backlog(&mut self, now: SimTime) {
        let a = self.in_system.area_secs(now);
        self.backlog_marks.push(a);
    }

    /// `delta` execution slots start (+) or stop (-) working, on the primary or not.
    #[inline]
    pub fn work(&mut self, now: SimTime, delta: i64, primary: bool) {
        self.busy.add(now, delta);
        if primary {
            self.primary_busy.add(now, delta);
        }
    }

    /// A pod of the service was bound (+1) or let go of its node (-1) at `now`.
    pub fn bound_pods(&mut self, now: SimTime, delta: i64) {
        self.replicas.add(now, delta);
        self.replicas_max = self.replicas_max.max(self.replicas.value());
    }

    /// The warm-up ends: the integrals restart for the summary, keeping the part of the
    /// current report interval already elapsed so that the next timeseries sample stays
    /// whole.
    pub fn warmup_end(&mut self, now: SimTime, waiting: u64) {
        let in_interval = self.busy.area_secs(now) - self.iv_busy_area;
        let in_system_in_interval = self.in_system.area_secs(now) - self.iv_in_system_area;
        self.iv_in_system_area = -in_system_in_interval;
        self.in_system.restart(now);
        // Before now its value counted nothing useful; from now it is the requests present.
        self.before_window_in_system = ClockIntegral::default();
        self.before_window_in_system
            .add(now, self.in_system.value());
        self.before_window_in_system.restart(now);
        self.busy.restart(now);
        self.blocked.restart(now);
        self.primary_busy.restart(now);
        let rep_in_interval = self.replicas.area_secs(now) - self.iv_rep_area;
        self.replicas.restart(now);
        self.iv_rep_area = -rep_in_interval;
        self.kv_used.restart(now);
        self.kv_capacity.restart(now);
        self.iv_busy_area = -in_interval;
        self.in_system_at_window = self.in_system.value();
        self.waiting_at_window = waiting;
    }
}

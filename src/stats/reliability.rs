//! Checkpointing under exponential failures: the optimal checkpoint intervals of Young (1974)
//! and Daly (2006), the exact expected wall time of a checkpointed job, and the expected
//! number of interruptions of a job spread over many nodes.
//!
//! All times are in seconds. `mtbf_s` is the mean time between failures of whatever is
//! checkpointed: for a job on N nodes whose nodes fail independently with MTBF M, that is
//! M / N (see [`interruptions`]).

/// Young's (1974) first-order optimal checkpoint interval, sqrt(2 C M), for a checkpoint
/// costing `cost_s` and failures with mean time between them `mtbf_s`.
///
/// J. W. Young, "A first order approximation to the optimum checkpoint interval",
/// Communications of the ACM 17(9), 1974, eq. (3).
pub fn young_interval(cost_s: f64, mtbf_s: f64) -> f64 {
    (2.0 * cost_s * mtbf_s).sqrt()
}

/// Daly's (2006) higher-order optimal checkpoint interval (time of work between checkpoints):
/// sqrt(2 d M) (1 + (1/3) sqrt(d / 2M) + (1/9) (d / 2M)) - d when the checkpoint cost d is
/// below 2M, else M.
///
/// J. T. Daly, "A higher order estimate of the optimum checkpoint interval for restart
/// dumps", Future Generation Computer Systems 22(3), 2006, eq. (37). It minimises the
/// per-segment expected wall time M e^{R/M} (e^{(tau+d)/M} - 1) / tau, which
/// [`expected_wall_time`] sums exactly.
pub fn daly_interval(cost_s: f64, mtbf_s: f64) -> f64 {
    let (d, m) = (cost_s, mtbf_s);
    if d >= 2.0 * m {
        return m;
    }
    let x = d / (2.0 * m);
    (2.0 * d * m).sqrt() * (1.0 + x.sqrt() / 3.0 + x / 9.0) - d
}

/// Exact expected completion (wall) time of `work_s` seconds of work under Poisson failures
/// of rate 1 / `mtbf_s`, with the simulator's semantics:
///
/// - the work is done in segments of `interval_s` seconds of work, each followed by a
///   checkpoint of `cost_s` seconds (no progress during it); the final segment is the
///   remaining work (a full interval when the work is a multiple of it) and is not followed
///   by a checkpoint; `None` means no checkpoints (one segment of all the work);
/// - a failure at any moment (working, checkpointing, restarting) loses everything since the
///   last completed checkpoint; `detection_s` seconds pass (failures then change nothing),
///   then a restart of `restart_s` seconds, which a failure interrupts again (detection, then
///   a new restart); then work resumes from the last completed checkpoint.
///
/// Derivation (a renewal argument per segment, as in Daly 2006, section 3, extended with
/// detection). Let X ~ Exp(1/M) be the time to the next failure, D the detection time.
/// A restart of length R completes after expected time E_R satisfying
/// E_R = E[min(X, R)] + P(X < R) (D + E_R), with E[min(X, R)] = M (1 - e^{-R/M}); hence
/// E_R = (M + D)(e^{R/M} - 1). A segment that needs T uninterrupted seconds (tau + cost, or
/// the final remainder) takes E_T = E[min(X, T)] + P(X < T)(D + E_R + E_T), hence
/// E_T = (e^{T/M} - 1)(M + D + E_R) = (M + D) e^{R/M} (e^{T/M} - 1).
/// Segments are independent (each starts just after a completed checkpoint, and failures
/// are memoryless), so the expected wall time is the sum over segments:
/// (M + D) e^{R/M} [k (e^{(tau + C)/M} - 1) + e^{(W - k tau)/M} - 1], k = ceil(W / tau) - 1.
/// With D = 0 each checkpointed segment is Daly's (2006, eq. 13) M e^{R/M} (e^{(tau+C)/M} - 1).
///
/// An infinite MTBF gives the failure-free time W + k C; a non-positive interval, infinity.
pub fn expected_wall_time(
    work_s: f64,
    interval_s: Option<f64>,
    cost_s: f64,
    restart_s: f64,
    detection_s: f64,
    mtbf_s: f64,
) -> f64 {
    if work_s <= 0.0 {
        return 0.0;
    }
    let (checkpointed, last) = match interval_s {
        None => (0.0, work_s),
        Some(tau) if tau <= 0.0 => return f64::INFINITY,
        Some(tau) => {
            let k = (work_s / tau).ceil() - 1.0;
            (k, work_s - k * tau)
        }
    };
    let tau = interval_s.unwrap_or(0.0);
    if mtbf_s.is_infinite() {
        return work_s + checkpointed * cost_s;
    }
    let m = mtbf_s;
    // exp_m1 keeps e^{T/M} - 1 accurate when T is tiny next to M.
    let segments = checkpointed * ((tau + cost_s) / m).exp_m1() + (last / m).exp_m1();
    (m + detection_s) * (restart_s / m).exp() * segments
}

/// Expected number of interruptions of a job on `nodes` nodes running `time_s` seconds, when
/// each node fails as a Poisson process with mean time between failures `node_mtbf_s` and a
/// failed node is replaced at once: the superposition of N independent Poisson processes of
/// rate 1/M is a Poisson process of rate N/M, so the count has mean N t / M and the job's
/// own MTBF is M / N. (With detection and restart downtime excluded from `time_s`, this
/// counts the failures that strike while the job holds its nodes.)
pub fn interruptions(nodes: u32, time_s: f64, node_mtbf_s: f64) -> f64 {
    nodes as f64 * time_s / node_mtbf_s
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_pcg::Pcg64;

    fn exp(rng: &mut Pcg64, mean: f64) -> f64 {
        -mean * (1.0 - rng.random::<f64>()).ln()
    }

    /// One run of a job with exactly the semantics documented on [`expected_wall_time`],
    /// simulated failure by failure.
    fn simulate_job(
        rng: &mut Pcg64,
        work: f64,
        interval: Option<f64>,
        cost: f64,
        restart: f64,
        detection: f64,
        mtbf: f64,
    ) -> f64 {
        let mut t = 0.0;
        let mut done = 0.0; // work saved by the last completed checkpoint
        let mut next_failure = exp(rng, mtbf);
        while done < work {
            // Uninterrupted time this segment needs: its work, then a checkpoint unless last.
            let seg = interval.map_or(work - done, |tau| tau.min(work - done));
            let need = if done + seg < work { seg + cost } else { seg };
            if t + need <= next_failure {
                t += need;
                done += seg;
                continue;
            }
            // Failed: detect (failures meanwhile are absorbed), then restart until one
            // restart runs to its end without a failure.
            t = next_failure;
            loop {
                t += detection;
                next_failure = t + exp(rng, mtbf);
                if t + restart <= next_failure {
                    t += restart;
                    break;
                }
                t = next_failure;
            }
        }
        t
    }

    #[test]
    fn young_and_daly_intervals_match_hand_values() {
        // sqrt(2 * 300 * 86400) = 7200; d / 2M = 1/576, so Daly adds 7200 (1/72 + 1/5184) - 300.
        assert!((young_interval(300.0, 86_400.0) - 7200.0).abs() < 1e-9);
        let daly = 7200.0 * (1.0 + 1.0 / 72.0 + 1.0 / 5184.0) - 300.0;
        assert!((daly_interval(300.0, 86_400.0) - daly).abs() < 1e-9);
        assert!((daly - 7_001.388_888_9).abs() < 1e-6);
        assert_eq!(daly_interval(500.0, 200.0), 200.0);
    }

    #[test]
    fn daly_interval_is_near_the_exact_optimum() {
        // Scan the exact per-work wall time for its minimum; Daly's interval must come within
        // 0.01% of the minimal cost, Young's within 0.5%.
        let (cost, mtbf) = (600.0, 20_000.0);
        let rate = |tau: f64| ((tau + cost) / mtbf).exp_m1() / tau;
        let best = (1..200_000)
            .map(|i| rate(i as f64 * 0.1))
            .fold(f64::INFINITY, f64::min);
        let daly = rate(daly_interval(cost, mtbf));
        let young = rate(young_interval(cost, mtbf));
        assert!(daly / best - 1.0 < 1e-4, "Daly {daly} vs {best}");
        assert!(young / best - 1.0 < 5e-3, "Young {young} vs {best}");
        assert!(daly < young);
    }

    #[test]
    fn expected_wall_time_equals_dalys_formula_without_detection() {
        // Daly (2006, eq. 13) charges every segment a checkpoint: T_w = M e^{R/M}
        // (e^{(tau+C)/M} - 1) W / tau. With C = 0 the last checkpoint costs nothing, so the
        // two agree exactly; with C > 0 they differ by the last segment's checkpoint,
        // M e^{R/M} (e^{(tau+C)/M} - e^{tau/M}).
        let points: [(f64, f64, f64, f64, f64); 3] = [
            (36_000.0, 3_600.0, 0.0, 600.0, 10_000.0),
            (100_000.0, 5_000.0, 120.0, 300.0, 50_000.0),
            (7_200.0, 900.0, 60.0, 60.0, 3_000.0),
        ];
        for &(w, tau, c, r, m) in &points {
            let daly = m * (r / m).exp() * (((tau + c) / m).exp() - 1.0) * w / tau;
            let last_checkpoint = m * (r / m).exp() * (((tau + c) / m).exp() - (tau / m).exp());
            let ours = expected_wall_time(w, Some(tau), c, r, 0.0, m);
            assert!(
                ((ours - (daly - last_checkpoint)) / ours).abs() < 1e-12,
                "{ours} vs {daly}"
            );
        }
    }

    #[test]
    fn expected_wall_time_edge_cases() {
        // No failures: the work plus the checkpoints that precede the last segment.
        assert_eq!(
            expected_wall_time(10_000.0, Some(3_000.0), 100.0, 50.0, 10.0, f64::INFINITY),
            10_300.0
        );
        assert_eq!(
            expected_wall_time(9_000.0, Some(3_000.0), 100.0, 50.0, 10.0, f64::INFINITY),
            9_200.0
        );
        assert_eq!(expected_wall_time(0.0, None, 1.0, 1.0, 1.0, 10.0), 0.0);
        assert!(expected_wall_time(10.0, Some(0.0), 1.0, 1.0, 1.0, 10.0).is_infinite());
        // No checkpoints: (M + D) e^{R/M} (e^{W/M} - 1); with W = M ln 2, R = 0: M + D.
        let m = 1000.0;
        let w = m * std::f64::consts::LN_2;
        assert!((expected_wall_time(w, None, 5.0, 0.0, 30.0, m) - 1030.0).abs() < 1e-9);
        // An interval longer than the work is no checkpoint at all.
        assert_eq!(
            expected_wall_time(w, Some(2.0 * w), 5.0, 7.0, 30.0, m),
            expected_wall_time(w, None, 5.0, 7.0, 30.0, m)
        );
    }

    #[test]
    fn expected_wall_time_matches_monte_carlo() {
        // (work, interval, cost, restart, detection, mtbf): failures are frequent enough that
        // checkpoints, restarts and detection are all struck many times.
        let points: [(f64, Option<f64>, f64, f64, f64, f64); 5] = [
            (36_000.0, Some(3_600.0), 300.0, 600.0, 120.0, 10_000.0),
            (36_000.0, Some(5_000.0), 900.0, 1_200.0, 0.0, 8_000.0),
            (20_000.0, Some(2_000.0), 400.0, 3_000.0, 600.0, 4_000.0),
            (5_000.0, None, 0.0, 200.0, 60.0, 5_000.0),
            (30_000.0, Some(6_000.0), 1_000.0, 500.0, 300.0, 30_000.0),
        ];
        let mut rng = Pcg64::seed_from_u64(14);
        for &(w, tau, c, r, d, m) in &points {
            let n = 200_000;
            let (mut sum, mut sum2) = (0.0, 0.0);
            for _ in 0..n {
                let t = simulate_job(&mut rng, w, tau, c, r, d, m);
                sum += t;
                sum2 += t * t;
            }
            let mean = sum / n as f64;
            let sem = ((sum2 / n as f64 - mean * mean) / n as f64).sqrt();
            let exact = expected_wall_time(w, tau, c, r, d, m);
            let err = (mean - exact).abs();
            assert!(
                err / exact < 0.01 && err < 4.0 * sem,
                "{:?}: simulated {mean} +- {sem}, exact {exact}",
                (w, tau, c, r, d, m)
            );
        }
    }

    #[test]
    fn interruptions_match_hand_values_and_monte_carlo() {
        // 16 nodes of MTBF 16 days for one day: one interruption expected.
        assert!((interruptions(16, 86_400.0, 16.0 * 86_400.0) - 1.0).abs() < 1e-12);
        // Each node a Poisson process: count the failures of 64 nodes over 10 days, MTBF 30
        // days, over 20,000 runs.
        let (nodes, time, mtbf) = (64u32, 10.0 * 86_400.0, 30.0 * 86_400.0);
        let mut rng = Pcg64::seed_from_u64(7);
        let runs = 20_000;
        let mut count = 0u64;
        for _ in 0..runs {
            for _ in 0..nodes {
                let mut t = exp(&mut rng, mtbf);
                while t < time {
                    count += 1;
                    t += exp(&mut rng, mtbf);
                }
            }
        }
        let mean = count as f64 / runs as f64;
        let exact = interruptions(nodes, time, mtbf);
        // The count is Poisson: its standard error is sqrt(exact / runs) = 0.033.
        assert!(
            (mean - exact).abs() < 4.0 * (exact / runs as f64).sqrt(),
            "{mean} vs {exact}"
        );
    }
}

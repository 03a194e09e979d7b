//! The statistics of `capsim check`'s gate on samples drawn from known distributions:
//! how often it fails a figure that did not move (the false-alarm rate it is designed for,
//! α = 0.001), and how often it catches a move of exactly the tolerance (the detection
//! probability `gate::detection` estimates, which decides the figures called too noisy).

use capsim::engine::stream;
use capsim::report::gate::{self, ALPHA, Sample};
use rand_distr::{Distribution, Normal};

/// Mean and sample sd of `n` draws of N(mean, sd), as the baseline file holds them.
fn draw(rng: &mut capsim::engine::SimRng, mean: f64, sd: f64, n: u32) -> Sample {
    let d = Normal::new(mean, sd).unwrap();
    let v: Vec<f64> = (0..n).map(|_| d.sample(rng)).collect();
    let m = v.iter().sum::<f64>() / f64::from(n);
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / f64::from(n - 1);
    Sample {
        mean: m,
        sd: var.sqrt(),
        n,
    }
}

/// The share of `trials` pairs (baseline, new run) that the gate fails, when the new run's
/// true mean is `shift` times the tolerance above the baseline's 100, both with sd `sd`.
fn fail_rate(n: u32, sd: f64, shift: f64, trials: u32, seed: u64) -> f64 {
    let tol = 0.05;
    let mut rng = stream(seed, n, "gate");
    let mut failed = 0;
    for _ in 0..trials {
        let old = draw(&mut rng, 100.0, sd, n);
        let new = draw(&mut rng, 100.0 * (1.0 + shift * tol), sd, n);
        failed += u32::from(gate::test(&old, &new, tol).moved);
    }
    f64::from(failed) / f64::from(trials)
}

#[test]
fn an_unmoved_figure_fails_at_most_at_the_designed_rate() {
    // Every replication count and noise level, from far below the tolerance (sd 0.5% of
    // the mean) to far above it (sd 15%): 20,000 pairs each, of one distribution.
    let trials = 20_000;
    let mut total = 0.0;
    let mut cells = 0.0;
    for n in [2, 3, 5, 8] {
        for sd in [0.5, 1.5, 5.0, 15.0] {
            let rate = fail_rate(n, sd, 0.0, trials, 1);
            // At most α plus 4 binomial standard deviations in any one cell.
            let bound = ALPHA + 4.0 * (ALPHA / f64::from(trials)).sqrt();
            assert!(rate <= bound, "n {n}, sd {sd}: {rate}");
            total += rate;
            cells += 1.0;
        }
    }
    // Over all 320,000 pairs: the rate the gate is designed for, or below (the shift
    // condition spares precise figures entirely).
    let mean = total / cells;
    assert!(mean <= ALPHA * 1.2, "{mean}");
}

#[test]
fn detection_of_a_tolerance_sized_move_is_as_estimated() {
    // For each replication count, a noise level where the estimate says the gate catches
    // a move of exactly 5% half the time and one where it says 90% (the line between
    // gated and too noisy); the simulated rate agrees within 5 points.
    for n in [3u32, 5, 8] {
        for target in [0.5, gate::POWER] {
            // Bisect the sd (detection falls as the sd grows).
            let (mut lo, mut hi) = (1e-3, 50.0);
            for _ in 0..60 {
                let mid = 0.5 * (lo + hi);
                if gate::detection(100.0, mid, n, 0.05) > target {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            let sd = 0.5 * (lo + hi);
            let rate = fail_rate(n, sd, 1.0, 20_000, 2);
            assert!(
                (rate - target).abs() < 0.05,
                "n {n}, sd {sd}: estimated {target}, simulated {rate}"
            );
        }
    }
}

#[test]
fn larger_moves_are_caught_more_often_and_precise_figures_always() {
    // sd 1% of the mean with 5 replications: gated (a 5% move is caught 90%+).
    assert!(gate::detection(100.0, 1.0, 5, 0.05) >= gate::POWER);
    assert!(fail_rate(5, 1.0, 1.0, 5_000, 3) >= 0.88);
    assert!(fail_rate(5, 1.0, 2.0, 5_000, 3) >= 0.999);
    // A real change of half the tolerance on a precise figure passes.
    assert!(fail_rate(5, 0.2, 0.5, 5_000, 3) == 0.0);
    // sd 10% with 3 replications: a 5% move is invisible, but +50% is caught mostly.
    assert!(fail_rate(3, 10.0, 1.0, 5_000, 3) < 0.02);
    assert!(fail_rate(3, 5.0, 10.0, 5_000, 3) > 0.8);
}

//! Stability of strict-FIFO multiserver-job systems: jobs that each need several servers at
//! once, served first come first served, where a head that does not fit blocks everything
//! behind it (Kueue's `strict_fifo` on one pool).
//!
//! The largest stable arrival rate is the throughput of the *saturated* system, whose queue
//! never empties (Baccelli and Foss, "On the saturation rule for the stability of queues",
//! J. Appl. Prob. 32(2), 1995; used for multiserver jobs by Grosof, Harchol-Balter and
//! Scheller-Wolf, "Stability for Two-class Multiserver-job Systems", arXiv:2010.00631, 2020):
//! with Poisson arrivals of rate lambda the queue is stable when lambda is below it and
//! unstable above. With exponential holding times the saturated system is a finite CTMC,
//! solved here exactly.

use std::collections::HashMap;

/// One class of jobs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JobClass {
    /// Servers (GPUs) the job holds at once, all for its whole duration.
    pub need: u32,
    /// Probability that a job is of this class (classes are drawn independently per job).
    pub probability: f64,
    /// Rate of its exponential holding time (1 / mean duration).
    pub rate: f64,
}

/// Largest number of CTMC states [`fifo_saturated_throughput`] solves: dense elimination
/// takes 32 MB and about a second at this size.
pub const MAX_STATES: usize = 2_000;

/// Checks the classes: at least one, each needing 1 to `servers` servers, with a positive
/// finite rate and a non-negative probability, the probabilities summing to 1.
fn validate(servers: u32, classes: &[JobClass]) -> Result<(), String> {
    if classes.is_empty() {
        return Err("no job classes".into());
    }
    for (i, c) in classes.iter().enumerate() {
        if c.need == 0 || c.need > servers {
            return Err(format!(
                "class {i}: need {} must be between 1 and the {servers} servers",
                c.need
            ));
        }
        if !(c.rate > 0.0 && c.rate.is_finite()) {
            return Err(format!("class {i}: rate {} must be positive", c.rate));
        }
        if !(c.probability >= 0.0 && c.probability.is_finite()) {
            return Err(format!(
                "class {i}: probability {} must be non-negative",
                c.probability
            ));
        }
    }
    let total: f64 = classes.iter().map(|c| c.probability).sum();
    if (total - 1.0).abs() > 1e-9 {
        return Err(format!("class probabilities sum to {total}, not 1"));
    }
    Ok(())
}

/// The rate at which jobs would fill the servers' capacity if no server ever idled while
/// jobs wait: servers / E[need / rate]. The queue is unstable above it under any policy;
/// strict FIFO's [`fifo_saturated_throughput`] lies below it.
pub fn naive_capacity(servers: u32, classes: &[JobClass]) -> f64 {
    let work: f64 = classes
        .iter()
        .map(|c| c.probability * c.need as f64 / c.rate)
        .sum();
    servers as f64 / work
}

/// Throughput (jobs completed per unit time) of the saturated strict-FIFO multiserver-job
/// system: `servers` servers; an endless queue of jobs whose classes are drawn independently
/// with the classes' probabilities; the head enters service as soon as its `need` servers
/// are free, else it blocks everything behind it. This is the largest stable Poisson arrival
/// rate of the FIFO queue (see the module's sources).
///
/// The CTMC's state is the number of jobs in service per class and the class of the blocked
/// head. From a state, a job of class i completes at rate n_i rate_i; then heads enter while
/// they fit, each next head drawn from the class distribution, until one does not: the
/// transition's probabilities are those of that chain of draws. The stationary distribution
/// pi solves pi Q = 0, sum pi = 1 (dense Gaussian elimination), and the throughput is
/// sum_s pi_s sum_i n_i(s) rate_i.
///
/// Errors: invalid classes, or more than [`MAX_STATES`] states.
pub fn fifo_saturated_throughput(servers: u32, classes: &[JobClass]) -> Result<f64, String> {
    validate(servers, classes)?;
    // Classes that never arrive would only add states.
    let classes: Vec<JobClass> = classes
        .iter()
        .copied()
        .filter(|c| c.probability > 0.0)
        .collect();
    let chain = Chain::build(servers, &classes)?;
    let pi = stationary(&chain.generator)?;
    Ok(chain
        .states
        .iter()
        .zip(&pi)
        .map(|((n, _), p)| {
            p * n
                .iter()
                .zip(&classes)
                .map(|(&k, c)| k as f64 * c.rate)
                .sum::<f64>()
        })
        .sum())
}

/// The saturated system's CTMC.
struct Chain<'a> {
    servers: u32,
    classes: &'a [JobClass],
    /// (jobs in service per class, class of the blocked head).
    states: Vec<(Vec<u32>, usize)>,
    index: HashMap<(Vec<u32>, usize), usize>,
    /// Memo of [`Chain::after_draw`].
    draws: HashMap<Vec<u32>, Vec<(usize, f64)>>,
    /// Row-major dense generator.
    generator: Vec<Vec<f64>>,
}

impl<'a> Chain<'a> {
    fn build(servers: u32, classes: &'a [JobClass]) -> Result<Self, String> {
        let mut chain = Chain {
            servers,
            classes,
            states: Vec::new(),
            index: HashMap::new(),
            draws: HashMap::new(),
            generator: Vec::new(),
        };
        let mut n = vec![0; classes.len()];
        chain.enumerate(&mut n, 0)?;
        let size = chain.states.len();
        chain.generator = vec![vec![0.0; size]; size];
        for s in 0..size {
            let (n, head) = chain.states[s].clone();
            for i in 0..classes.len() {
                if n[i] == 0 {
                    continue;
                }
                let rate = n[i] as f64 * classes[i].rate;
                let mut after = n.clone();
                after[i] -= 1;
                for (t, p) in chain.settle(&mut after, head) {
                    // Self-loops add and remove the same rate: they cancel, as they should.
                    chain.generator[s][t] += rate * p;
                    chain.generator[s][s] -= rate * p;
                }
            }
        }
        Ok(chain)
    }

    fn used(&self, n: &[u32]) -> u32 {
        n.iter().zip(self.classes).map(|(&k, c)| k * c.need).sum()
    }

    /// Lists every state whose first `from` counts are those of `n`, refusing more than
    /// [`MAX_STATES`].
    fn enumerate(&mut self, n: &mut Vec<u32>, from: usize) -> Result<(), String> {
        if from == n.len() {
            let free = self.servers - self.used(n);
            for head in 0..self.classes.len() {
                if self.classes[head].need > free {
                    if self.states.len() == MAX_STATES {
                        return Err(format!(
                            "the saturated system has more than {MAX_STATES} states"
                        ));
                    }
                    self.index.insert((n.clone(), head), self.states.len());
                    self.states.push((n.clone(), head));
                }
            }
            return Ok(());
        }
        let room = (self.servers - self.used(n)) / self.classes[from].need;
        for k in 0..=room {
            n[from] = k;
            self.enumerate(n, from + 1)?;
        }
        n[from] = 0;
        Ok(())
    }

    /// Where the system settles, with probabilities, from `n` in service and `head` at the
    /// head of the queue: the head enters if it fits, and so on.
    fn settle(&mut self, n: &mut [u32], head: usize) -> Vec<(usize, f64)> {
        if self.classes[head].need > self.servers - self.used(n) {
            return vec![(self.index[&(n.to_vec(), head)], 1.0)];
        }
        n[head] += 1;
        let out = self.after_draw(n);
        n[head] -= 1;
        out
    }

    /// Where the system settles from `n` in service when a fresh head is drawn.
    fn after_draw(&mut self, n: &mut [u32]) -> Vec<(usize, f64)> {
        if let Some(known) = self.draws.get(n) {
            return known.clone();
        }
        let mut out: Vec<(usize, f64)> = Vec::new();
        for j in 0..self.classes.len() {
            let p = self.classes[j].probability;
            for (t, q) in self.settle(n, j) {
                match out.iter_mut().find(|(u, _)| *u == t) {
                    Some(entry) => entry.1 += p * q,
                    None => out.push((t, p * q)),
                }
            }
        }
        self.draws.insert(n.to_vec(), out.clone());
        out
    }
}

/// The stationary distribution of an irreducible CTMC with generator `q`: pi Q = 0 with one
/// equation replaced by sum pi = 1, by Gaussian elimination with partial pivoting.
fn stationary(q: &[Vec<f64>]) -> Result<Vec<f64>, String> {
    let size = q.len();
    // Row r of the system is column r of Q (pi Q = 0 is Q^T pi^T = 0); the last is sum pi = 1.
    let mut a: Vec<Vec<f64>> = (0..size)
        .map(|r| {
            let mut row: Vec<f64> = (0..size).map(|c| q[c][r]).collect();
            row.push(0.0);
            row
        })
        .collect();
    a[size - 1] = vec![1.0; size + 1];
    for col in 0..size {
        let pivot = (col..size)
            .max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))
            .unwrap_or(col);
        if a[pivot][col].abs() < 1e-300 {
            return Err("the saturated system's chain is not irreducible".into());
        }
        a.swap(col, pivot);
        let (above, below) = a.split_at_mut(col + 1);
        let prow = &above[col];
        for row in below.iter_mut() {
            let f = row[col] / prow[col];
            if f != 0.0 {
                for (x, &y) in row[col..].iter_mut().zip(&prow[col..]) {
                    *x -= f * y;
                }
            }
        }
    }
    let mut pi = vec![0.0; size];
    for r in (0..size).rev() {
        let s: f64 = (r + 1..size).map(|c| a[r][c] * pi[c]).sum();
        pi[r] = (a[r][size] - s) / a[r][r];
    }
    Ok(pi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_pcg::Pcg64;

    fn class(need: u32, probability: f64, rate: f64) -> JobClass {
        JobClass {
            need,
            probability,
            rate,
        }
    }

    /// Throughput of the saturated system simulated job by job over `completions`
    /// completions (the first tenth discarded).
    fn simulate(servers: u32, classes: &[JobClass], completions: u64, seed: u64) -> f64 {
        let mut rng = Pcg64::seed_from_u64(seed);
        let draw = |rng: &mut Pcg64| {
            let mut u = rng.random::<f64>();
            for (j, c) in classes.iter().enumerate() {
                if u < c.probability {
                    return j;
                }
                u -= c.probability;
            }
            classes.len() - 1
        };
        let mut n = vec![0u32; classes.len()];
        let mut free = servers;
        let mut head = draw(&mut rng);
        let (mut t, mut t0) = (0.0, 0.0);
        for done in 0..completions {
            while classes[head].need <= free {
                free -= classes[head].need;
                n[head] += 1;
                head = draw(&mut rng);
            }
            let total: f64 = n.iter().zip(classes).map(|(&k, c)| k as f64 * c.rate).sum();
            t += -(1.0 - rng.random::<f64>()).ln() / total;
            let mut u = rng.random::<f64>() * total;
            let mut i = 0;
            while i + 1 < n.len() && u >= n[i] as f64 * classes[i].rate {
                u -= n[i] as f64 * classes[i].rate;
                i += 1;
            }
            n[i] -= 1;
            free += classes[i].need;
            if done == completions / 10 {
                t0 = t;
            }
        }
        (completions - completions / 10 - 1) as f64 / (t - t0)
    }

    /// Hand derivation for 1-server jobs (probability p, rate mu1) and k-server jobs (rate
    /// muk) on k servers, by renewal-reward over cycles of one k-server job and the N ~
    /// Geometric 1-server jobs before the next (P(N = j) = p^j q): with j <= k they all start
    /// together and the phase lasts their maximum, H_j / mu1; with j > k the servers stay
    /// full for j - k completions at rate k mu1, then the last k drain in H_k / mu1.
    /// Throughput = E[jobs per cycle] / E[cycle] = (1/q) / (1/muk + E[T(N)]).
    fn one_and_k_by_hand(k: u32, p: f64, mu1: f64, muk: f64) -> f64 {
        let q = 1.0 - p;
        let harmonic = |j: u32| (1..=j).map(|i| 1.0 / i as f64).sum::<f64>();
        let small: f64 = (0..=k)
            .map(|j| p.powi(j as i32) * q * harmonic(j) / mu1)
            .sum();
        // Sum over j > k of p^j q ((j - k)/(k mu1) + H_k/mu1); j - k given j > k is
        // 1 + Geometric, of mean 1/q.
        let large = p.powi(k as i32 + 1) * (1.0 / (q * k as f64 * mu1) + harmonic(k) / mu1);
        (1.0 / q) / (1.0 / muk + small + large)
    }

    #[test]
    fn one_class_fills_what_fits() {
        for (servers, need, rate) in [(8, 1, 0.5), (8, 8, 2.0), (8, 3, 1.0), (5, 2, 3.0)] {
            let x = fifo_saturated_throughput(servers, &[class(need, 1.0, rate)]).expect("valid");
            let exact = (servers / need) as f64 * rate;
            assert!((x - exact).abs() < 1e-12 * exact, "{servers} {need}: {x}");
        }
    }

    #[test]
    fn one_and_k_server_jobs_match_the_hand_derivation() {
        for (k, p, mu1, muk) in [
            (8, 0.9, 1.0, 1.0),
            (8, 0.5, 1.0, 1.0),
            (4, 0.7, 2.0, 0.5),
            (2, 0.3, 1.0, 3.0),
            (16, 0.95, 1.0, 1.0),
        ] {
            let classes = [class(1, p, mu1), class(k, 1.0 - p, muk)];
            let x = fifo_saturated_throughput(k, &classes).expect("valid");
            let hand = one_and_k_by_hand(k, p, mu1, muk);
            assert!((x - hand).abs() < 1e-9 * hand, "{k} {p}: {x} vs {hand}");
        }
    }

    #[test]
    fn one_node_of_8_gpus_is_well_below_the_naive_bound() {
        // The coordinator's case: 1-GPU jobs with probability 0.9, 8-GPU jobs with 0.1, all
        // of mean 1 h, on one 8-GPU node (rates per hour).
        let classes = [class(1, 0.9, 1.0), class(8, 0.1, 1.0)];
        let x = fifo_saturated_throughput(8, &classes).expect("valid");
        assert!((x - one_and_k_by_hand(8, 0.9, 1.0, 1.0)).abs() < 1e-9);
        assert!((naive_capacity(8, &classes) - 8.0 / 1.7).abs() < 1e-12);
        // 2.8368 jobs/h against 8 / 1.7 = 4.7059: the GPUs are 60.3% busy at saturation.
        assert!((x - 2.836_792_002).abs() < 1e-8, "{x}");
    }

    #[test]
    fn saturated_throughput_matches_monte_carlo() {
        for (servers, classes) in [
            (8, vec![class(1, 0.9, 1.0), class(8, 0.1, 1.0)]),
            (
                8,
                vec![class(1, 0.5, 1.0), class(2, 0.2, 0.5), class(4, 0.3, 2.0)],
            ),
            (
                6,
                vec![class(2, 0.6, 1.0), class(3, 0.25, 3.0), class(5, 0.15, 0.7)],
            ),
        ] {
            let x = fifo_saturated_throughput(servers, &classes).expect("valid");
            let sim = simulate(servers, &classes, 2_000_000, 3);
            assert!(
                (sim - x).abs() < 0.01 * x,
                "{classes:?}: simulated {sim}, exact {x}"
            );
            assert!(x < naive_capacity(servers, &classes));
        }
    }

    #[test]
    fn bad_classes_and_large_systems_are_refused() {
        let err = |servers, classes: &[JobClass]| {
            fifo_saturated_throughput(servers, classes).expect_err("refused")
        };
        assert_eq!(err(8, &[]), "no job classes");
        assert_eq!(
            err(8, &[class(9, 1.0, 1.0)]),
            "class 0: need 9 must be between 1 and the 8 servers"
        );
        assert_eq!(
            err(8, &[class(1, 0.5, 1.0)]),
            "class probabilities sum to 0.5, not 1"
        );
        assert_eq!(
            err(8, &[class(1, 1.0, 0.0)]),
            "class 0: rate 0 must be positive"
        );
        let many: Vec<JobClass> = (1..=8).map(|need| class(need, 0.125, 1.0)).collect();
        assert_eq!(
            err(64, &many),
            format!("the saturated system has more than {MAX_STATES} states")
        );
    }
}

//! Closed-form queueing results: the independent truth the simulator is validated against,
//! and quick estimates for capacity search.

/// Erlang C: probability that an arrival waits in an M/M/c queue with offered load
/// `a = lambda / mu` Erlangs (requires a < c).
pub fn erlang_c(c: u32, a: f64) -> f64 {
    if a >= c as f64 {
        return 1.0;
    }
    // Erlang B by its stable recursion B(k) = a B(k-1) / (k + a B(k-1)), then C from B.
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (k as f64 + a * b);
    }
    let rho = a / c as f64;
    b / (1.0 - rho * (1.0 - b))
}

/// Mean wait in queue of M/M/c with arrival rate `lambda` and service rate `mu` per server.
pub fn mmc_mean_wait(c: u32, lambda: f64, mu: f64) -> f64 {
    let a = lambda / mu;
    let rho = a / c as f64;
    if rho >= 1.0 {
        return f64::INFINITY;
    }
    erlang_c(c, a) / (c as f64 * mu * (1.0 - rho))
}

/// P(sojourn time > t) in M/M/1: exponential with rate mu - lambda.
pub fn mm1_sojourn_tail(lambda: f64, mu: f64, t: f64) -> f64 {
    (-(mu - lambda) * t).exp()
}

/// Pollaczek-Khinchine mean wait of M/G/1 with arrival rate `lambda`, mean service `es` and
/// squared coefficient of variation of service `scv`.
pub fn mg1_mean_wait(lambda: f64, es: f64, scv: f64) -> f64 {
    let rho = lambda * es;
    if rho >= 1.0 {
        return f64::INFINITY;
    }
    rho * (1.0 + scv) / (2.0 * (1.0 - rho)) * es
}

/// Exact solution of the machine-repairman model (M/M/c//N): `n` users each thinking for an
/// exponential time of mean `think`, then sending a request served by `c` servers with
/// exponential service of mean `service`. Returns (throughput, mean response time).
pub fn machine_repairman(n: u32, c: u32, think: f64, service: f64) -> (f64, f64) {
    // Birth-death chain on k = requests at the servers: birth (n-k)/think, death min(k,c)/service.
    // Unnormalised p_k built in log space to stay finite for thousands of users.
    let mut logp = Vec::with_capacity(n as usize + 1);
    logp.push(0.0f64);
    for k in 1..=n {
        let birth = (n - k + 1) as f64 / think;
        let death = k.min(c) as f64 / service;
        let prev = *logp.last().unwrap_or(&0.0);
        logp.push(prev + birth.ln() - death.ln());
    }
    let max = logp.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let p: Vec<f64> = logp.iter().map(|l| (l - max).exp()).collect();
    let total: f64 = p.iter().sum();
    let mean_k: f64 = p
        .iter()
        .enumerate()
        .map(|(k, pk)| k as f64 * pk)
        .sum::<f64>()
        / total;
    let throughput: f64 = p
        .iter()
        .enumerate()
        .map(|(k, pk)| (k as u32).min(c) as f64 / service * pk)
        .sum::<f64>()
        / total;
    (throughput, mean_k / throughput)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_c_matches_textbook_values() {
        // c = 1: P(wait) = rho.
        assert!((erlang_c(1, 0.7) - 0.7).abs() < 1e-12);
        // c = 2, a = 1: P(wait) = a^2/(2(1-rho)) / (1 + a + a^2/(2(1-rho))) = 1/3.
        assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
        // M/M/1 mean wait rho/(mu - lambda).
        assert!((mmc_mean_wait(1, 0.5, 1.0) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn pk_reduces_to_mm1_and_md1() {
        assert!((mg1_mean_wait(0.5, 1.0, 1.0) - 1.0).abs() < 1e-12);
        assert!((mg1_mean_wait(0.5, 1.0, 0.0) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn machine_repairman_single_user_has_no_queue() {
        let (x, r) = machine_repairman(1, 1, 9.0, 1.0);
        assert!((r - 1.0).abs() < 1e-12);
        assert!((x - 0.1).abs() < 1e-12);
        // Saturated: throughput tends to c / service.
        let (x, _) = machine_repairman(1000, 2, 1.0, 1.0);
        assert!((x - 2.0).abs() < 1e-9);
    }
}

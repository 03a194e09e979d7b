//! The range of every summary figure, and the 95% interval every result file shows for it:
//! inside that range (see [`crate::stats::Range`]), absent with one replication.

use crate::stats::{Estimate, Interval, Range};

/// The values `metric` can take in one replication; `None` for a name this table does not
/// know (its interval is then the plain t-interval). Every metric of
/// [`crate::sim::result`] is listed (a test holds the table to that).
pub fn range_of(metric: &str) -> Option<Range> {
    Some(match metric {
        // 0 or 1 in each replication.
        "saturated" | "slo_met" | "bottleneck" => Range::Indicator,
        // Shares and utilizations.
        "wait_probability"
        | "kv_cache_utilization"
        | "gpu_utilization"
        | "cpu_utilization"
        | "slot_utilization"
        | "primary_utilization"
        | "slo_attainment"
        | "gpu_allocation"
        | "cpu_allocation"
        | "goodput"
        | "fragmentation" => Range::Fraction,
        // Counts, rates, times, sizes and money.
        "requests"
        | "completed"
        | "dropped"
        | "failed"
        | "throughput_rps"
        | "arrival_rate_rps"
        | "latency_mean_ms"
        | "own_latency_mean_ms"
        | "latency_p50_ms"
        | "latency_p90_ms"
        | "latency_p95_ms"
        | "latency_p99_ms"
        | "wait_mean_ms"
        | "wait_p99_ms"
        | "ttft_mean_ms"
        | "ttft_p50_ms"
        | "ttft_p95_ms"
        | "ttft_p99_ms"
        | "tpot_mean_ms"
        | "tpot_p50_ms"
        | "tpot_p95_ms"
        | "tpot_p99_ms"
        | "service_time_mean_ms"
        | "batch_size_mean"
        | "prompt_tokens_mean"
        | "output_tokens_mean"
        | "output_tokens_per_s"
        | "output_tokens_per_s_per_gpu"
        | "preemptions"
        | "in_system_mean"
        | "littles_law_error"
        | "replicas_mean"
        | "replicas_max"
        | "pods_pending"
        | "pods_pending_end"
        | "transient_end_s"
        | "gpus"
        | "gpu_hours"
        | "cost_per_1k_requests"
        | "minutes_out_of_slo"
        | "users"
        | "users_per_gpu"
        | "jobs_submitted"
        | "jobs_completed"
        | "jobs_running"
        | "jobs_waiting"
        | "wait_mean_s"
        | "wait_p50_s"
        | "wait_p95_s"
        | "wait_p99_s"
        | "jct_mean_s"
        | "interruptions"
        | "restarts"
        | "lost_gpu_hours"
        | "queue_growth_rps"
        | "nodes"
        | "nodes_max"
        | "nodes_ready"
        | "node_failures"
        | "gpus_allocated"
        | "cpus"
        | "cpus_allocated"
        | "cost"
        | "events" => Range::NonNegative,
        _ => return None,
    })
}

/// The 95% interval of `metric`'s estimate `e`, inside the metric's range.
pub fn interval(metric: &str, e: &Estimate) -> Interval {
    e.interval(range_of(metric).unwrap_or(Range::Real))
}

/// `LOW .. HIGH` for the terminal and index.html, a `*` after an end cut at the figure's
/// range; empty without an interval.
pub fn fmt_interval(iv: &Interval) -> String {
    if !iv.low.is_finite() || !iv.high.is_finite() {
        return String::new();
    }
    let mark = |cut: bool| if cut { "*" } else { "" };
    format!(
        "{}{} .. {}{}",
        super::fmt_num(iv.low),
        mark(iv.cut_low),
        super::fmt_num(iv.high),
        mark(iv.cut_high)
    )
}

/// The note that explains a `*`, for a table that shows one.
pub const CUT_NOTE: &str = "* the t-interval reached past the figure's range (below 0, or above 1 \
     for a share) and is cut there: the figure is skewed near its bound, where the normal \
     approximation behind the interval is poor at this number of replications; more \
     replications give a trustworthy interval";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::result::{CLUSTER_METRICS, ENGINE_METRICS, SERVICE_METRICS};

    #[test]
    fn every_metric_has_a_range() {
        for m in SERVICE_METRICS
            .iter()
            .chain(CLUSTER_METRICS)
            .chain(ENGINE_METRICS)
            .chain(crate::training::TRAINING_METRICS)
        {
            assert!(
                range_of(m).is_some(),
                "no range for `{m}`: add it to range_of"
            );
        }
    }

    #[test]
    fn the_dropped_example_is_cut_at_zero() {
        // Values 0, 0, 1 (the issue's `dropped` [-1.1 .. 1.77]).
        let e = Estimate::from_values(&[0.0, 0.0, 1.0]);
        assert!(e.ci95_low < -1.0);
        let iv = interval("dropped", &e);
        assert_eq!(iv.low, 0.0);
        assert!(iv.cut_low && !iv.cut_high);
        assert_eq!(iv.high, e.ci95_high);
        assert_eq!(fmt_interval(&iv), "0* .. 1.76767");
        // An unknown metric keeps the plain t-interval.
        assert_eq!(interval("something_new", &e).low, e.ci95_low);
        // One replication: no interval at all.
        let one = Estimate::from_values(&[3.0]);
        assert_eq!(fmt_interval(&interval("dropped", &one)), "");
    }
}

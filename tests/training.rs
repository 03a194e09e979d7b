//! Training jobs against independent truths: Erlang C for one-GPU jobs, Daly's expected wall
//! time under failures with checkpoints, interruptions N t / M, the multiserver-job
//! saturation of strict FIFO, and the schedulers' published behaviour (the default
//! scheduler's gang deadlock, Coscheduling's Permit timeout, Kueue's requeue backoff).

mod common;

use capsim::stats::analytic::erlang_c;
use capsim::stats::msj::{JobClass, fifo_saturated_throughput, naive_capacity};
use capsim::stats::reliability::{daly_interval, expected_wall_time};
use common::{rel, run, series};

/// Writes a job trace to a file of its own and returns its path.
fn trace(name: &str, rows: &str) -> String {
    trace_with("submit_time_s,gpus,duration_s", name, rows)
}

/// [`trace`] with the given header row.
fn trace_with(header: &str, name: &str, rows: &str) -> String {
    let dir = std::env::temp_dir().join(format!("capsim-training-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.csv"));
    std::fs::write(&path, format!("{header}\n{rows}")).unwrap();
    path.display().to_string()
}

/// Under Kueue, the `queues:` line of a 32-GPU queue `q`, and the workload's `queue: q,`.
fn kueue_queue(scheduler: &str) -> (&'static str, &'static str) {
    if scheduler == "kueue" {
        ("queues: [{name: q, nominal_quota: 32}]", "queue: q,")
    } else {
        ("", "")
    }
}

/// Equal to the microsecond (times pass through seconds as floats).
fn near(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[test]
fn one_gpu_jobs_wait_as_erlang_c_says() {
    // c = 8 GPUs, lambda = 5.6/h, mean 1 h: rho = 0.7. Wq = C(c, a) / (c mu - lambda).
    let r = run("
name: erlang
seed: 11
duration: 6000h
warmup: 100h
replications: 6
report_interval: 10h
node_pools: [{name: a, gpu: h100-80gb, gpus_per_node: 8, nodes: 1}]
training:
  scheduler: coscheduling
  workloads:
    - {name: small, node_pool: a, arrivals: {poisson: {rate: 5.6/h}}, gpus: {fixed: 1},
       duration: {exponential: {mean: 1h}}}
");
    let truth = erlang_c(8, 5.6) / (8.0 - 5.6) * 3600.0;
    let got = r.mean("training/small", "wait_mean_s");
    assert!(rel(got, truth) < 0.05, "wait {got} s vs Erlang C {truth} s");
    let alloc = r.mean("training", "gpu_allocation");
    assert!(rel(alloc, 0.7) < 0.01, "allocation {alloc}");
    assert!(rel(r.mean("training", "goodput"), 1.0) < 1e-9);
}

/// One job of `nodes` whole nodes with `work` hours of work, on a pool with spare nodes
/// failing with the given node MTBF; mean completion time over replications (hours).
fn one_job_under_failures(
    nodes: u32,
    work_h: f64,
    node_mtbf_h: f64,
    checkpoint: &str,
    restart: &str,
    detection: &str,
    reps: u32,
) -> capsim::sim::Report {
    let file = trace(
        &format!("one-{nodes}-{work_h}-{node_mtbf_h}-{checkpoint}-{restart}-{detection}")
            .replace(['{', '}', ':', ' ', ','], ""),
        &format!("0,{},{}\n", nodes * 8, work_h * 3600.0),
    );
    run(&format!(
        "
name: failures
seed: 7
duration: 5000h
replications: {reps}
report_interval: 10h
node_pools:
  - {{name: a, gpu: h100-80gb, gpus_per_node: 8, nodes: {}, failures: {{mtbf: {node_mtbf_h}h, repair_time: 1h}}}}
training:
  scheduler: coscheduling
  workloads:
    - name: big
      node_pool: a
      arrivals: {{trace: {{file: {file}}}}}
      {checkpoint}
      restart_time: {restart}
      failure_detection: {detection}
",
        nodes * 3
    ))
}

#[test]
fn a_long_job_under_failures_takes_dalys_expected_wall_time() {
    // (nodes, work h, node MTBF h, interval s, cost s, restart s, detection s)
    let cases = [
        (8, 100.0, 80.0, 3600.0, 300.0, 600.0, 0.0),
        (4, 50.0, 100.0, 1800.0, 60.0, 300.0, 120.0),
        (16, 40.0, 400.0, 7200.0, 600.0, 900.0, 30.0),
    ];
    for (n, work, m, tau, cost, restart, det) in cases {
        let r = one_job_under_failures(
            n,
            work,
            m,
            &format!("checkpoint: {{interval: {tau}s, cost: {cost}s}}"),
            &format!("{restart}s"),
            &format!("{det}s"),
            300,
        );
        let truth = expected_wall_time(
            work * 3600.0,
            Some(tau),
            cost,
            restart,
            det,
            m * 3600.0 / f64::from(n),
        );
        let got = r.mean("training/big", "jct_mean_s");
        let e = r.get("training/big", "jct_mean_s").unwrap();
        assert!(
            rel(got, truth) < 0.02,
            "n {n}: completion {got} s [{} .. {}] vs Daly {truth} s",
            e.ci95_low,
            e.ci95_high
        );
    }
}

#[test]
fn goodput_is_highest_near_young_dalys_interval() {
    // Job MTBF 10 h (8 nodes of MTBF 80 h), checkpoints cost 5 min: Daly's interval ~ 1 h.
    let best = daly_interval(300.0, 36_000.0);
    let goodput = |tau: f64| {
        let r = one_job_under_failures(
            8,
            60.0,
            80.0,
            &format!("checkpoint: {{interval: {tau:.0}s, cost: 5m}}"),
            "5m",
            "0s",
            200,
        );
        r.mean("training/big", "goodput")
    };
    let (low, mid, high) = (goodput(best / 5.0), goodput(best), goodput(best * 5.0));
    assert!(mid > low && mid > high, "goodput {low} / {mid} / {high}");
}

#[test]
fn interruptions_grow_with_nodes_and_the_jobs_mtbf_shrinks_as_one_over_n() {
    // Interruptions per hour of wall time: N / M.
    for n in [2u32, 16] {
        let r = one_job_under_failures(
            n,
            40.0,
            200.0,
            "checkpoint: {interval: 10m, cost: 0s}",
            "0s",
            "0s",
            200,
        );
        let per_hour = r.mean("training/big", "interruptions")
            / (r.mean("training/big", "jct_mean_s") / 3600.0);
        let truth = f64::from(n) / 200.0;
        assert!(
            rel(per_hour, truth) < 0.06,
            "N {n}: {per_hour}/h vs {truth}/h"
        );
    }
}

/// Two jobs of 4 whole nodes submitted together on 4 nodes.
fn two_gangs(scheduler: &str) -> capsim::sim::Report {
    let file = trace("two-gangs", "0,32,3600\n0,32,3600\n");
    let (queues, queue) = kueue_queue(scheduler);
    run(&format!(
        "
name: gangs
duration: 10h
replications: 1
node_pools: [{{name: a, gpu: h100-80gb, gpus_per_node: 8, nodes: 4}}]
{queues}
training:
  scheduler: {scheduler}
  workloads:
    - {{name: pair, node_pool: a, {queue} arrivals: {{trace: {{file: {file}}}}}}}
"
    ))
}

#[test]
fn the_default_scheduler_deadlocks_two_gangs_and_the_gang_schedulers_do_not() {
    let greedy = two_gangs("greedy");
    assert_eq!(greedy.mean("training", "jobs_completed"), 0.0);
    assert!(greedy.jobs.iter().all(|(_, j)| j.state == "waiting"));
    // Each holds half the cluster for the whole run.
    assert!(rel(greedy.mean("cluster", "gpu_allocation"), 1.0) < 1e-9);
    for s in ["coscheduling", "kueue"] {
        let r = two_gangs(s);
        assert_eq!(r.mean("training", "jobs_completed"), 2.0, "{s}");
        let starts: Vec<f64> = r.jobs.iter().map(|(_, j)| j.start_s).collect();
        assert_eq!(starts, vec![0.0, 3600.0], "{s}");
    }
}

#[test]
fn a_gang_larger_than_the_room_binds_nothing_and_releases_its_reservations_at_the_timeout() {
    // minMember 8 (a job of 8 whole nodes) on 8 nodes, one held by a long job: members
    // reserve the 7 free nodes, wait in Permit for 60 s, all are released, back off 1 s,
    // 2 s, ... and try again.
    let file = trace("too-big", "0,8,100000\n0,64,3600\n");
    let r = run(&format!(
        "
name: permit
duration: 200s
replications: 1
report_interval: 500ms
node_pools: [{{name: a, gpu: h100-80gb, gpus_per_node: 8, nodes: 8}}]
training:
  scheduler: coscheduling
  workloads:
    - {{name: big, node_pool: a, arrivals: {{trace: {{file: {file}}}}}}}
"
    ));
    let alloc = series(&r, "cluster", "gpus_allocated");
    let at = |t: f64| alloc.iter().find(|(x, _)| (*x - t).abs() < 1e-9).unwrap().1;
    assert_eq!(at(30.0), 64.0);
    assert_eq!(at(59.5), 64.0);
    assert_eq!(at(60.5), 8.0, "released at the 60 s timeout");
    assert_eq!(at(61.5), 64.0, "reserved again after the 1 s backoff");
    assert_eq!(at(121.5), 8.0);
    assert_eq!(at(122.5), 8.0, "the second backoff is 2 s");
    assert_eq!(at(123.5), 64.0);
    assert_eq!(r.mean("training", "jobs_completed"), 0.0);
    assert!(r.jobs[1].1.start_s.is_nan());
}

#[test]
fn kueue_requeues_a_gang_that_never_fits_with_exponential_backoff() {
    // A long job holds one of 8 nodes. Job A (8 nodes) is admitted within its queue's quota
    // of 72 GPUs but never fits the 7 others; waitForPodsReady (1 m) evicts it and Kueue requeues it after 60 s, 120 s, 240 s,
    // 480 s. Small jobs B need 8 GPUs of the same quota: each is admitted only while A is
    // out, so B's starts show A's evictions: 60, 180 (requeued 120, evicted 180), 360, 660,
    // 1200 s.
    let file = trace(
        "backoff",
        "0,8,36000\n0,64,36000\n0.5,8,1\n130,8,1\n310,8,1\n610,8,1\n1150,8,1\n",
    );
    let r = run(&format!(
        "
name: backoff
duration: 2000s
replications: 1
node_pools: [{{name: a, gpu: h100-80gb, gpus_per_node: 8, nodes: 8}}]
queues: [{{name: q, nominal_quota: 72}}]
training:
  scheduler: kueue
  wait_for_pods_ready: 1m
  workloads:
    - {{name: mix, node_pool: a, queue: q, arrivals: {{trace: {{file: {file}}}}}}}
"
    ));
    let starts: Vec<f64> = r.jobs.iter().skip(2).map(|(_, j)| j.start_s).collect();
    let want = [60.0, 180.0, 360.0, 660.0, 1200.0];
    assert!(
        starts.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6) && starts.len() == 5,
        "{starts:?}"
    );
    assert_eq!(r.jobs[1].1.state, "waiting");
}

/// Strict or best-effort FIFO on one node of 8 GPUs: 1-GPU jobs (90%) and whole-node jobs
/// (10%), exponential 1 h, Poisson at `rate` per hour.
fn msj(strategy: &str, rate: f64) -> capsim::sim::Report {
    run(&format!(
        "
name: msj
seed: 5
duration: 4000h
warmup: 200h
replications: 6
report_interval: 10h
node_pools: [{{name: a, gpu: h100-80gb, gpus_per_node: 8, nodes: 1}}]
queues: [{{name: q, nominal_quota: 8, queueing_strategy: {strategy}}}]
training:
  scheduler: kueue
  workloads:
    - {{name: mix, node_pool: a, queue: q, arrivals: {{poisson: {{rate: {rate}/h}}}},
       gpus: {{choice: {{1: 0.9, 8: 0.1}}}}, duration: {{exponential: {{mean: 1h}}}}}}
"
    ))
}

#[test]
fn strict_fifo_saturates_at_the_multiserver_job_bound_far_below_the_naive_one() {
    let classes = [
        JobClass {
            need: 1,
            probability: 0.9,
            rate: 1.0,
        },
        JobClass {
            need: 8,
            probability: 0.1,
            rate: 1.0,
        },
    ];
    let x = fifo_saturated_throughput(8, &classes).unwrap();
    let naive = naive_capacity(8, &classes);
    assert!(x < 0.65 * naive, "{x} vs {naive}");
    // Below the bound: stable. Above it (still far below the naive bound): the backlog
    // grows, and jobs complete at the saturated system's rate.
    let below = msj("strict_fifo", 0.85 * x);
    assert_eq!(below.mean("training", "saturated"), 0.0);
    let above = msj("strict_fifo", 1.2 * x);
    assert_eq!(above.mean("training", "saturated"), 1.0);
    let done_per_h = above.mean("training", "jobs_completed") / 3800.0;
    assert!(
        rel(done_per_h, x) < 0.03,
        "{done_per_h}/h vs the bound {x}/h"
    );
    // Best effort at 1.3 times the strict bound, where strict FIFO cannot keep up: the
    // 1-GPU jobs pass a blocked whole-node head and the system stays stable, but the
    // whole-node jobs, which need a node the small jobs keep busy, wait several times longer.
    let best = msj("best_effort_fifo", 1.3 * x);
    assert_eq!(best.mean("training", "saturated"), 0.0);
    let small = best.mean("training/gpus_1", "wait_mean_s");
    let large = best.mean("training/gpus_2-8", "wait_mean_s");
    assert!(
        large > 3.0 * small,
        "whole-node jobs wait {large} s, 1-GPU jobs {small} s"
    );
}

/// A low-priority job of 4 nodes runs from 0; a high-priority one of 2 nodes arrives at
/// 3,700 s on 4 nodes; each 2 h of work, checkpoints every 30 min of work costing nothing, restart
/// 5 min.
fn priorities(scheduler: &str, preemption: &str) -> capsim::sim::Report {
    let (queues, queue) = kueue_queue(scheduler);
    let q = if queue.is_empty() { "" } else { "q" };
    let file = trace_with(
        "submit_time_s,gpus,duration_s,queue,priority",
        &format!("prio-{scheduler}"),
        &format!("0,32,7200,{q},0\n3700,16,7200,{q},10\n"),
    );
    run(&format!(
        "
name: prio
duration: 10h
replications: 1
node_pools: [{{name: a, gpu: h100-80gb, gpus_per_node: 8, nodes: 4}}]
{queues}
training:
  scheduler: {scheduler}
  preemption: {preemption}
  workloads:
    - {{name: w, node_pool: a, arrivals: {{trace: {{file: {file}}}}},
       checkpoint: {{interval: 30m, cost: 0s}}, restart_time: 5m}}
"
    ))
}

#[test]
fn a_higher_priority_gang_preempts_a_lower_one_whole_and_it_resumes_from_its_checkpoint() {
    for s in ["coscheduling", "kueue"] {
        let r = priorities(s, "lower_priority");
        let (low, high) = (&r.jobs[0].1, &r.jobs[1].1);
        assert!(
            near(high.start_s, 3700.0),
            "{s}: the high one starts at once"
        );
        assert!(near(high.end_s, 3700.0 + 7200.0), "{s}");
        // The low gang lost the 100 s since its checkpoint at 1 h, was recreated at once and
        // waited for room until the high one ended, paid 5 min of restart and worked its
        // remaining hour.
        assert_eq!(low.restarts, 1, "{s}");
        assert!(
            (low.lost_work_s - 100.0).abs() < 1e-6,
            "{s}: {}",
            low.lost_work_s
        );
        assert!(
            (low.end_s - (10_900.0 + 300.0 + 3600.0)).abs() < 1e-6,
            "{s}: low ends at {}",
            low.end_s
        );
        assert_eq!(r.mean("training", "interruptions"), 1.0, "{s}");
        // Never: the high one waits for the low one to end.
        let r = priorities(s, "never");
        assert!(near(r.jobs[1].1.start_s, 7200.0), "{s}");
        assert_eq!(r.jobs[0].1.restarts, 0, "{s}");
    }
}

#[test]
fn inference_pods_of_higher_priority_preempt_a_training_gang_to_absorb_a_spike() {
    // 4 nodes: a service of one 8-GPU replica (priority 1000) and, from 1 min, a training job
    // on the 3 other nodes. At 30 min the load goes from 2/s to 50/s; the HPA asks for 3 replicas, whose
    // pods preempt the gang whole (it loses at most the 20 min since its checkpoint) and
    // become Ready; the gang waits for room.
    let file = trace("spike", "60,24,36000\n");
    let r = run(&format!(
        r#"
name: spike
seed: 3
duration: 2h
replications: 1
report_interval: 10s
models:
  - {{name: m, service_time: {{exponential: {{mean: 50ms}}}}}}
node_pools: [{{name: p, gpu: h100-80gb, gpus_per_node: 8, nodes: 4}}]
services:
  - name: s
    model: m
    node_pool: p
    gpus_per_replica: 8
    priority: 1000
    startup_time: 10s
    autoscaler:
      kind: hpa
      minReplicas: 1
      maxReplicas: 3
      metrics:
        - type: Pods
          pods: {{metric: {{name: inflight_requests}}, target: {{type: AverageValue, averageValue: "1"}}}}
workloads:
  - service: s
    arrivals: {{step: {{from: 2/s, to: 50/s, at: 30m}}}}
training:
  scheduler: coscheduling
  workloads:
    - {{name: t, node_pool: p, arrivals: {{trace: {{file: {file}}}}},
       checkpoint: {{interval: 20m, cost: 0s}}, restart_time: 5m}}
"#
    ));
    assert_eq!(r.mean("s", "replicas_max"), 3.0);
    let ready = series(&r, "s", "ready");
    assert_eq!(
        ready.last().unwrap().1,
        3.0,
        "the spike's replicas are Ready"
    );
    assert_eq!(r.mean("training", "interruptions"), 1.0);
    assert_eq!(r.mean("training", "restarts"), 1.0);
    let job = &r.jobs[0].1;
    assert!(job.lost_work_s <= 1200.0 + 1e-6, "{}", job.lost_work_s);
    assert_eq!(
        job.state, "running",
        "it waits for room, its gang recreated"
    );
}

#[test]
fn search_finds_the_largest_job_rate_that_meets_a_wait_objective() {
    // 1-GPU jobs of 1 h on 8 GPUs with `slo: {wait_mean: 10m}`: Erlang C puts the exact
    // rate at 5.94 jobs/h; the search judges the upper end of each candidate's interval, so
    // it lands a little below, and never above.
    let yaml = "
name: search
seed: 3
duration: 3000h
warmup: 100h
replications: 4
report_interval: 10h
node_pools: [{name: a, gpu: h100-80gb, gpus_per_node: 8, nodes: 1}]
training:
  scheduler: coscheduling
  workloads:
    - {name: small, node_pool: a, arrivals: {poisson: {rate: 4/h}}, gpus: {fixed: 1},
       duration: {exponential: {mean: 1h}}, slo: {wait_mean: 10m}}
";
    let exact = {
        // Bisection on Erlang C's mean wait.
        let wait = |lam: f64| erlang_c(8, lam) / (8.0 - lam) * 3600.0;
        let (mut lo, mut hi) = (1.0, 7.99);
        for _ in 0..60 {
            let m = (lo + hi) / 2.0;
            if wait(m) < 600.0 { lo = m } else { hi = m }
        }
        lo
    };
    let search = capsim::sweep::search::Search::from_bytes(
        "search.yaml",
        yaml.as_bytes().to_vec(),
        std::path::Path::new("."),
        &[],
        "small",
    )
    .unwrap();
    let r = search.run(|_| {}).unwrap();
    let found = r.max_rate_rps() * 3600.0;
    assert!(
        found <= exact * 1.01 && found > exact * 0.93,
        "{found}/h vs {exact}/h"
    );
}

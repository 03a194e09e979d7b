//! Calls between services against queueing-network theory: Jackson's (and BCMP's) product
//! form for open networks, exact Mean Value Analysis for closed ones, Little's law for the
//! slots that blocking calls hold.

mod common;

use capsim::sim::Plan;
use capsim::stats::analytic::mmc_mean_wait;
use common::{plan, rel};

/// Two services: `web` (c slots on one replica, shared queue, exponential 10 ms) loaded by a
/// workload, and `db` (one slot, exponential `db_ms`).
fn two_tier(
    web_slots: u32,
    db_ms: f64,
    calls: &str,
    load: &str,
    duration_s: u32,
    reps: u32,
) -> Plan {
    plan(&format!(
        r#"
name: tiers
seed: 7
duration: {duration_s}s
warmup: {warm}s
replications: {reps}
report_interval: {duration_s}s
models:
  - {{name: web-m, service_time: {{exponential: {{mean: 10ms}}}}}}
  - {{name: db-m, service_time: {{exponential: {{mean: {db_ms}ms}}}}}}
node_pools:
  - {{name: p, gpu: a100-80gb, gpus_per_node: 8, nodes: 2}}
services:
  - {{name: web, model: web-m, node_pool: p, replicas: 1, concurrency: {web_slots}, routing: shared_queue,
     calls: {calls}}}
  - {{name: db, model: db-m, node_pool: p, replicas: 1, routing: shared_queue}}
workloads:
  - service: web
    arrivals: {load}
"#,
        warm = duration_s / 20
    ))
}

fn simulate(p: &Plan) -> capsim::sim::Report {
    capsim::sim::simulate(p, false).expect("within the event budget")
}

/// Open network, async calls: each station is an M/M/c at its total arrival rate and the
/// mean end-to-end time is the sum over visits (Jackson; with a fixed visit count, BCMP's
/// class switching at FCFS stations of class-independent exponential service).
#[test]
fn async_calls_match_jacksons_product_form() {
    let lambda = 100.0;
    let r_web = mmc_mean_wait(2, lambda, 100.0) + 0.010;
    for (calls, visits, db_ms) in [
        ("[{service: db, probability: 0.6, mode: async}]", 0.6, 8.0),
        ("[{service: db, count: {fixed: 2}, mode: async}]", 2.0, 3.0),
    ] {
        let p = two_tier(2, db_ms, calls, "{poisson: {rate: 100/s}}", 4000, 4);
        let r = simulate(&p);
        let mu_db = 1e3 / db_ms;
        let r_db = 1.0 / (mu_db - lambda * visits);
        let e2e = (r_web + visits * r_db) * 1e3;
        let sim = r.mean("web", "latency_mean_ms");
        let sim_db = r.mean("db", "latency_mean_ms");
        let own = r.mean("web", "own_latency_mean_ms");
        eprintln!(
            "visits {visits}: end to end {sim:.3} ms (Jackson {e2e:.3}), db {sim_db:.3} ({:.3}), web own {own:.3} ({:.3})",
            r_db * 1e3,
            r_web * 1e3
        );
        assert!(rel(sim, e2e) < 0.03, "end to end {sim} ms vs {e2e}");
        assert!(
            rel(sim_db, r_db * 1e3) < 0.03,
            "db {sim_db} ms vs {}",
            r_db * 1e3
        );
        assert!(
            rel(own, r_web * 1e3) < 0.03,
            "web's own {own} ms vs {}",
            r_web * 1e3
        );
        let db_rps = r.mean("db", "throughput_rps");
        assert!(
            rel(db_rps, lambda * visits) < 0.02,
            "db throughput {db_rps}"
        );
    }
}

/// Blocking calls: the caller's slots are held for its own work plus its calls' response
/// times (Little's law), while its working share stays its own work.
#[test]
fn blocking_calls_hold_the_callers_slots() {
    let lambda = 100.0;
    let p = two_tier(
        64,
        8.0,
        "[{service: db, probability: 0.6, mode: blocking}]",
        "{poisson: {rate: 100/s}}",
        4000,
        4,
    );
    let r = simulate(&p);
    let r_db = 1.0 / (125.0 - 60.0);
    // 64 slots at 1.9 busy: no wait at web.
    let held = lambda * (0.010 + 0.6 * r_db);
    let slot_u = r.mean("web", "slot_utilization");
    let work_u = r.mean("web", "gpu_utilization");
    let e2e = r.mean("web", "latency_mean_ms");
    eprintln!(
        "slots held {:.4} (Little {:.4}), working {:.4} ({:.4}), end to end {e2e:.3} ms ({:.3})",
        slot_u * 64.0,
        held,
        work_u * 64.0,
        lambda * 0.010,
        held / lambda * 1e3
    );
    assert!(rel(slot_u * 64.0, held) < 0.03);
    assert!(rel(work_u * 64.0, lambda * 0.010) < 0.02);
    assert!(rel(e2e, held / lambda * 1e3) < 0.03);
}

/// Closed network: N users thinking 100 ms, web (one slot, 10 ms) then db (one slot, 8 ms):
/// throughput and response time of exact Mean Value Analysis.
#[test]
fn closed_network_matches_mean_value_analysis() {
    let (z, demands) = (0.100, [0.010, 0.008]);
    for users in [5u32, 20] {
        let p = two_tier(
            1,
            8.0,
            "[{service: db, mode: async}]",
            &format!(
                "{{closed: {{users: {users}, think_time: {{exponential: {{mean: 100ms}}}}}}}}"
            ),
            3000,
            4,
        );
        let r = simulate(&p);
        let mut qlen = [0.0f64; 2];
        let (mut x, mut resp) = (0.0, 0.0);
        for n in 1..=users {
            let rk: Vec<f64> = (0..2).map(|k| demands[k] * (1.0 + qlen[k])).collect();
            resp = rk.iter().sum::<f64>();
            x = f64::from(n) / (z + resp);
            for k in 0..2 {
                qlen[k] = x * rk[k];
            }
        }
        let sim_x = r.mean("web", "throughput_rps");
        let sim_r = r.mean("web", "latency_mean_ms") * 1e-3;
        eprintln!("N={users}: X {sim_x:.3}/s (MVA {x:.3}), R {sim_r:.5} s (MVA {resp:.5})");
        assert!(rel(sim_x, x) < 0.02, "throughput {sim_x} vs MVA {x}");
        assert!(rel(sim_r, resp) < 0.03, "response {sim_r} vs MVA {resp}");
    }
}

/// An async call with a step back at the caller (`then`) of the caller's own service time:
/// the caller is visited twice per request (BCMP: one FCFS station at twice the rate).
#[test]
fn a_step_after_the_answer_visits_the_caller_again() {
    let lambda = 50.0;
    // The step takes what web's own work takes: exponential, 10 ms.
    let p = two_tier(
        2,
        8.0,
        "[{service: db, mode: async, then: {service_time: {exponential: {mean: 10ms}}}}]",
        "{poisson: {rate: 50/s}}",
        4000,
        4,
    );
    let r = simulate(&p);
    let r_web = mmc_mean_wait(2, 2.0 * lambda, 100.0) + 0.010;
    let r_db = 1.0 / (125.0 - lambda);
    let e2e = (2.0 * r_web + r_db) * 1e3;
    let sim = r.mean("web", "latency_mean_ms");
    let own = r.mean("web", "own_latency_mean_ms");
    eprintln!(
        "end to end {sim:.3} ms (BCMP {e2e:.3}), own {own:.3} ({:.3})",
        2e3 * r_web
    );
    assert!(rel(sim, e2e) < 0.03, "end to end {sim} vs {e2e}");
    assert!(rel(own, 2e3 * r_web) < 0.03, "own {own} vs {}", 2e3 * r_web);
    let util = r.mean("web", "gpu_utilization");
    assert!(
        rel(util, 2.0 * lambda * 0.010 / 2.0) < 0.02,
        "web busy {util}"
    );
}

/// A pool of k connections per caller replica in front of a callee with room to spare: the
/// calls queue for a connection as at an M/M/k (Erlang C), then take the callee's time.
#[test]
fn calls_wait_for_a_connection_of_the_pool() {
    let lambda = 100.0;
    let mut p = two_tier(
        64,
        20.0,
        "[{service: db, max_connections: 3}]",
        "{poisson: {rate: 100/s}}",
        4000,
        4,
    );
    p.services[1].concurrency = 64;
    let r = simulate(&p);
    let wq = mmc_mean_wait(3, lambda, 50.0);
    let e2e = (0.010 + wq + 0.020) * 1e3;
    let sim = r.mean("web", "latency_mean_ms");
    let db = r.mean("db", "latency_mean_ms");
    eprintln!(
        "end to end {sim:.3} ms (Erlang C {e2e:.3}: connection wait {:.3}), db {db:.3}",
        wq * 1e3
    );
    assert!(rel(sim, e2e) < 0.03, "end to end {sim} vs {e2e}");
    assert!(
        rel(db, 20.0) < 0.02,
        "db sojourn {db}: no queue at the db itself"
    );
}

/// A callee's node fails: the calls it held are lost, and each fails the request that made
/// it (one call per request: as many failed at the caller as at the callee).
#[test]
fn a_lost_call_fails_its_caller() {
    let p = plan(
        r#"
name: fail
seed: 3
duration: 30m
warmup: 1m
models:
  - {name: web-m, service_time: {exponential: {mean: 10ms}}}
  - {name: db-m, service_time: {exponential: {mean: 8ms}}}
node_pools:
  - {name: app, gpu: a100-80gb, gpus_per_node: 8, nodes: 1}
  - name: data
    gpu: a100-80gb
    gpus_per_node: 8
    nodes: 2
    failures: {at: [{node: 0, time: 10m}], repair_time: 1h}
services:
  - {name: web, model: web-m, node_pool: app, replicas: 1, concurrency: 16, calls: [{service: db}]}
  - {name: db, model: db-m, node_pool: data, replicas: 1, concurrency: 4}
workloads:
  - service: web
    arrivals: {poisson: {rate: 100/s}}
"#,
    );
    let r = simulate(&p);
    let (web, db) = (r.mean("web", "failed"), r.mean("db", "failed"));
    eprintln!("failed: web {web}, db {db}");
    assert!(db > 0.0, "the failure lost calls at db");
    assert_eq!(web, db, "every lost call fails its request");
    assert!(r.mean("web", "dropped") >= web);
    assert!(r.mean("web", "littles_law_error") < 0.01);
}

/// The bottleneck law: with every request making 1.3 queries (a third of three reads, three
/// writes in ten) at the database's primary, 4 ms each on its 4 slots, no number of app
/// replicas gets the throughput past 1 / D_max = 1 / 1.3 ms = 769 requests/s. Two app replicas
/// run out of worker threads first; eight and sixteen, or an HPA scaling out from two, reach
/// the database's bound and stop there.
#[test]
fn more_app_replicas_do_not_pass_the_databases_bound() {
    let d_max = 1.3 * 0.004 / 4.0;
    let mut x = Vec::new();
    // Fixed app replicas, then an HPA that scales the app out from 2 to 16 pods (its CPU
    // target low enough that it does).
    let hpa = "autoscaler: {kind: hpa, minReplicas: 2, maxReplicas: 16, metrics: [{type: Resource, \
               resource: {name: cpu, target: {type: Utilization, averageUtilization: 10}}}]}";
    for (app, scaler) in [(2u32, ""), (8, ""), (16, ""), (2, hpa)] {
        let r = common::run(&format!(
            r#"
name: bound
seed: 11
duration: 12m
warmup: 4m
replications: 2
node_pools:
  - {{name: cpu, cpus_per_node: 64, nodes: 16}}
models:
  - {{name: app-handler, service_time: {{exponential: {{mean: 40ms}}}}}}
  - {{name: db-query, service_time: {{exponential: {{mean: 4ms}}}}}}
services:
  - name: app
    node_pool: cpu
    model: app-handler
    cpus_per_replica: 2
    concurrency: 16
    replicas: {app}
    {scaler}
    calls:
      - {{service: database, count: {{fixed: 3}}, max_connections: 10}}
      - {{service: database, probability: 0.3, routing: primary, max_connections: 10}}
  - {{name: database, kind: statefulset, node_pool: cpu, model: db-query, cpus_per_replica: 4,
     concurrency: 4, replicas: 3}}
workloads:
  - service: app
    arrivals: {{closed: {{users: 3000, think_time: 1s}}}}
"#
        ));
        let tput = r.mean("app", "throughput_rps");
        let primary = r.mean("database", "primary_utilization");
        eprintln!(
            "{app} app replicas{}: {tput:.1} requests/s (bound {:.1}), primary busy {primary:.3}, app threads {:.3}",
            if scaler.is_empty() { "" } else { " and an HPA" },
            1.0 / d_max,
            r.mean("app", "slot_utilization")
        );
        if !scaler.is_empty() {
            let most = r.mean("app", "replicas_max");
            assert!(most >= 12.0, "the HPA scaled out to {most} pods only");
        }
        x.push((tput, primary));
    }
    assert!(
        x[0].0 < 0.9 / d_max,
        "two replicas' 32 threads bind first: {}",
        x[0].0
    );
    for &(tput, primary) in &x[1..] {
        assert!(tput <= 1.005 / d_max, "past the bound: {tput}");
        assert!(tput > 0.98 / d_max, "short of the bound: {tput}");
        assert!(primary > 0.98, "the primary is the bottleneck: {primary}");
    }
}

/// An app whose requests each call an LLM service (blocking) with the user's tokens. The app
/// never makes a request wait (64 threads at about 0.05 busy), so a request reaches the LLM
/// after an independent delay (its own work), and a Poisson stream displaced by independent
/// delays is Poisson at the same rate: the LLM sees the load a workload sending to it
/// directly gives it, and its figures match that run's (an independent run: another seed).
/// The app's end-to-end latency is its own work plus the LLM's response.
#[test]
fn an_llm_called_by_an_app_sees_the_load_sent_to_it_directly() {
    let scenario = |via_app: bool| {
        let (entry, app_calls) = if via_app {
            ("app", "calls: [{service: llm, mode: blocking}]")
        } else {
            ("llm", "")
        };
        // Different seeds: the two runs are independent samples of the same queue.
        let seed = if via_app { 11 } else { 12 };
        plan(&format!(
            r#"
name: app-llm
seed: {seed}
duration: 2400s
warmup: 120s
replications: 4
report_interval: 2400s
models:
  - {{name: app-m, service_time: {{exponential: {{mean: 5ms}}}}}}
node_pools:
  - {{name: cpu, cpus_per_node: 64, nodes: 2}}
  - {{name: gpu, gpu: a100-80gb, gpus_per_node: 8, nodes: 1}}
services:
  - {{name: app, model: app-m, node_pool: cpu, cpus_per_replica: 2, replicas: 1, concurrency: 64,
     routing: shared_queue, {app_calls}}}
  - {{name: llm, model: llama2-7b, node_pool: gpu, gpus_per_replica: 1, replicas: 2,
     routing: least_outstanding, batching: {{continuous: {{max_num_seqs: 64}}}}}}
workloads:
  - service: {entry}
    arrivals: {{poisson: {{rate: 6/s}}}}
    prompt_tokens: {{lognormal: {{mean: 512, sd: 256}}}}
    output_tokens: {{lognormal: {{mean: 128, sd: 64}}}}
"#
        ))
    };
    let direct = simulate(&scenario(false));
    let called = simulate(&scenario(true));
    for m in [
        "latency_mean_ms",
        "ttft_mean_ms",
        "tpot_mean_ms",
        "throughput_rps",
    ] {
        let (d, c) = (direct.mean("llm", m), called.mean("llm", m));
        eprintln!("llm {m}: called {c:.3}, direct {d:.3}");
        assert!(rel(c, d) < 0.03, "llm {m}: called {c} vs direct {d}");
    }
    let e2e = called.mean("app", "latency_mean_ms");
    let own = called.mean("app", "own_latency_mean_ms");
    let llm = called.mean("llm", "latency_mean_ms");
    eprintln!("app end to end {e2e:.3} ms = own {own:.3} + llm {llm:.3}");
    assert!(rel(own, 5.0) < 0.02, "the app's own work is 5 ms: {own}");
    assert!(
        rel(e2e, own + llm) < 0.01,
        "end to end {e2e} vs {own} + {llm}"
    );
    assert!(rel(called.mean("app", "throughput_rps"), 6.0) < 0.02);
}

/// An async call with a step after its answer brings the request back to a slot of the
/// caller, so a blocking call may follow it. web (64 threads, never a wait: an infinite
/// server, whose every delay is independent) does 10 ms of its own work, calls `a` async and,
/// back in a slot, 5 ms more, then calls `b` blocking, holding that slot. `a` and `b` are
/// M/M/1 queues fed by Poisson streams (a Poisson stream delayed independently stays
/// Poisson): the end to end is 10 + R_a + 5 + R_b, and by Little's law the threads held are
/// λ (10 + 5 + R_b) ms and the working ones λ 15 ms.
#[test]
fn a_blocking_call_may_follow_an_async_call_that_comes_back() {
    let p = plan(
        r#"
name: async-then-blocking
seed: 5
duration: 3000s
warmup: 150s
replications: 4
report_interval: 3000s
models:
  - {name: web-m, service_time: {exponential: {mean: 10ms}}}
  - {name: a-m, service_time: {exponential: {mean: 6ms}}}
  - {name: b-m, service_time: {exponential: {mean: 4ms}}}
node_pools:
  - {name: cpu, cpus_per_node: 64, nodes: 3}
services:
  - {name: web, model: web-m, node_pool: cpu, replicas: 1, concurrency: 64, routing: shared_queue,
     calls: [{service: a, mode: async, then: {service_time: {exponential: {mean: 5ms}}}},
             {service: b, mode: blocking}]}
  - {name: a, model: a-m, node_pool: cpu, replicas: 1, routing: shared_queue}
  - {name: b, model: b-m, node_pool: cpu, replicas: 1, routing: shared_queue}
workloads:
  - service: web
    arrivals: {poisson: {rate: 100/s}}
"#,
    );
    let r = simulate(&p);
    let lambda = 100.0;
    let r_a = 1.0 / (1e3 / 6.0 - lambda);
    let r_b = 1.0 / (1e3 / 4.0 - lambda);
    let e2e = (0.010 + r_a + 0.005 + r_b) * 1e3;
    let held = lambda * (0.015 + r_b);
    let sim = r.mean("web", "latency_mean_ms");
    let slots = r.mean("web", "slot_utilization") * 64.0;
    let working = r.mean("web", "gpu_utilization") * 64.0;
    eprintln!(
        "end to end {sim:.3} ms ({e2e:.3}); a {:.3} ({:.3}), b {:.3} ({:.3}); threads held \
         {slots:.4} ({held:.4}), working {working:.4} (1.5)",
        r.mean("a", "latency_mean_ms"),
        r_a * 1e3,
        r.mean("b", "latency_mean_ms"),
        r_b * 1e3
    );
    assert!(rel(sim, e2e) < 0.03, "end to end {sim} vs {e2e}");
    assert!(rel(r.mean("a", "latency_mean_ms"), r_a * 1e3) < 0.03);
    assert!(rel(r.mean("b", "latency_mean_ms"), r_b * 1e3) < 0.03);
    assert!(rel(slots, held) < 0.03, "threads held {slots} vs {held}");
    assert!(rel(working, lambda * 0.015) < 0.02, "working {working}");
}

/// The RAG example at 20 requests/s: each request holds an API thread for its whole chain
/// (own work, the search, the LLM's answer), so 192 threads carry at most 192 over that
/// time (Little's law), short of the load, while the LLM's KV cache is under half full. The
/// run says that the threads bind, not the LLM.
#[test]
fn threads_held_through_an_llm_bind_before_the_llm() {
    let overrides = [
        "workloads.0.arrivals.poisson.rate=20/s".to_string(),
        "checks=[]".to_string(),
    ];
    let p = capsim::scenario::plan_file(std::path::Path::new("scenarios/rag-app.yaml"), &overrides)
        .unwrap_or_else(|e| panic!("{e:?}"));
    let r = simulate(&p);
    let threads = 3.0 * 64.0;
    assert!(r.mean("api", "slot_utilization") > 0.99);
    // The API's own work is 20 ms (its model); the calls' times are their sojourns.
    let held_s =
        0.020 + (r.mean("search", "latency_mean_ms") + r.mean("llm", "latency_mean_ms")) * 1e-3;
    let x = r.mean("api", "throughput_rps");
    eprintln!(
        "throughput {x:.3}/s; threads / holding time {:.3}/s",
        threads / held_s
    );
    assert!(
        rel(x, threads / held_s) < 0.03,
        "{x} vs {}",
        threads / held_s
    );
    assert!(x < 19.0, "short of the 20/s offered: {x}");
    assert!(r.mean("llm", "kv_cache_utilization") < 0.6);
    let text = capsim::report::text_table(&r);
    assert!(
        text.contains("the threads bind") && text.contains("worker threads bind before it"),
        "{text}"
    );
}

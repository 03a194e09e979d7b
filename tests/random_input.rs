//! Property test: random and mutated scenario text never panics the loader or the checks;
//! it is accepted or refused with an error that names the file; and every accepted scenario
//! runs to its end within an event budget (stopped at the budget if need be).

use capsim::scenario;
use capsim::sim::Plan;
use proptest::prelude::*;
use std::path::Path;

/// Events a property-test run may process: small, so that each case takes milliseconds.
const BUDGET: u64 = 20_000;

/// Runs replication 0 of an accepted scenario under an event budget of at most [`BUDGET`]:
/// it must return, having processed no more than the budget and one event (the one that
/// passed it), and say it was stopped exactly when it passed the budget.
fn ends(mut plan: Plan) {
    plan.max_events = plan.max_events.min(BUDGET);
    let r = capsim::sim::run_replication(&plan, 0);
    assert!(
        r.events <= plan.max_events + 1,
        "{} events past a budget of {}",
        r.events,
        plan.max_events
    );
    assert_eq!(
        r.over_budget.is_some(),
        r.events > plan.max_events,
        "{} events, budget {}: {:?}",
        r.events,
        plan.max_events,
        r.over_budget
    );
}

const VALID: &str = "name: p
duration: 10s
replications: 1
models: [{name: m, service_time: {exponential: {mean: 10ms}}}]
node_pools:
  - {name: a, gpu: a100-80gb, gpus_per_node: 8, nodes: 1, gpu_sharing: {mig: 1g.10gb}}
services:
  - name: s
    model: m
    node_pool: a
    replicas: 2
    routing: least_outstanding
    slo: {latency_p99: 50ms}
workloads:
  - service: s
    arrivals: {on_off: {on_rate: 10/s, on_time: 1s, off_time: 2s}}
checks: [s.latency_p99_ms <= 50]
";

/// Loads and checks; returns whether it was accepted, after running it to its end. Any error
/// must name the file.
fn load(bytes: &[u8]) -> bool {
    match check(bytes) {
        Ok(plan) => {
            ends(plan);
            true
        }
        Err(_) => false,
    }
}

/// Loads and checks: the plan, or the errors' text (each naming the file).
fn check(bytes: &[u8]) -> Result<Plan, String> {
    match scenario::load_bytes("random.yaml", bytes, &[], Path::new(".")) {
        Err(e) => {
            assert!(e.to_string().contains("random.yaml"), "{e}");
            Err(e.to_string())
        }
        Ok(l) => match scenario::build_plan(&l) {
            Ok(plan) => Ok(plan),
            Err(es) => {
                assert!(!es.is_empty());
                assert!(es.iter().all(|e| e.file.contains("random.yaml")));
                Err(scenario::InputErrors(es).to_string())
            }
        },
    }
}

/// A closed loop of `users` with the given think time and service time, or an on/off load.
fn timed(users: u32, think: &str, service: &str, arrivals: Option<&str>) -> String {
    let arrivals = arrivals.map_or_else(
        || format!("{{closed: {{users: {users}, think_time: {think}}}}}"),
        str::to_string,
    );
    format!(
        "name: t
duration: 1s
replications: 1
models: [{{name: m, service_time: {service}}}]
node_pools: [{{name: a, gpu: t4, gpus_per_node: 4, nodes: 1}}]
services: [{{name: s, model: m, node_pool: a, replicas: 2}}]
workloads:
  - service: s
    arrivals: {arrivals}
"
    )
}

#[test]
fn the_valid_scenario_is_accepted() {
    assert!(load(VALID.as_bytes()));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        load(&bytes);
    }

    #[test]
    fn yaml_like_text_never_panics(text in "[a-z_:{}\\[\\], \n0-9./-]{0,300}") {
        load(text.as_bytes());
    }

    #[test]
    fn mutated_scenarios_never_panic(
        pos in 0usize..VALID.len(),
        len in 0usize..20,
        insert in "[a-z0-9:{}\\[\\], \n./-]{0,12}",
    ) {
        let end = (pos + len).min(VALID.len());
        let (pos, end) = (floor(pos), floor(end));
        let text = format!("{}{}{}", &VALID[..pos], insert, &VALID[end..]);
        load(text.as_bytes());
    }

    #[test]
    fn random_overrides_never_panic(path in "[a-z_.0-9]{0,30}", value in "[a-z0-9/{}: .-]{0,15}") {
        let set = vec![format!("{path}={value}")];
        if let Ok(l) = scenario::load_bytes("random.yaml", VALID.as_bytes(), &set, Path::new("."))
            && let Ok(plan) = scenario::build_plan(&l)
        {
            ends(plan);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Times at and near zero, where a run could stand still or crawl: each accepted scenario
    /// ends within the budget, and a loop in which no time can pass is refused by name.
    #[test]
    fn loops_with_any_times_end_within_the_budget(
        users in 1u32..20,
        think in prop::sample::select(vec![
            "0s", "1ns", "1us", "10ms", "{fixed: 0s}", "{uniform: {min: 0s, max: 2ns}}",
            "{pareto: {scale: 1ns, shape: 0.5}}", "{exponential: {mean: 1ns}}",
        ]),
        service in prop::sample::select(vec![
            "{fixed: 0s}", "{fixed: 1ns}", "{exponential: {mean: 1ns}}",
            "{exponential: {mean: 10ms}}", "{pareto: {scale: 1ns, shape: 0.8}}",
        ]),
        on_off in prop::sample::select(vec![
            None, Some("1ns"), Some("100ns"), Some("10us"), Some("1ms"),
        ]),
    ) {
        let arrivals = on_off.map(|t| {
            format!("{{on_off: {{on_rate: 1000/s, on_time: {t}, off_time: {t}}}}}")
        });
        let text = timed(users, think, service, arrivals.as_deref());
        match check(text.as_bytes()) {
            Ok(plan) => ends(plan),
            Err(message) => {
                let zero = |d: &str| d == "0s" || d == "{fixed: 0s}";
                prop_assert!(
                    message.contains("think_time") || message.contains("on_off"),
                    "{message}\n---\n{text}"
                );
                if on_off.is_none() && zero(think) && zero(service) {
                    prop_assert!(message.contains("never lets simulated time pass"), "{message}");
                }
            }
        }
        // No time passes in this loop at all: it must never be accepted.
        if on_off.is_none() && think == "0s" && service == "{fixed: 0s}" {
            prop_assert!(check(text.as_bytes()).is_err());
        }
    }
}

/// A valid training scenario: Kueue, a cohort, topology placement, failures, checkpoints.
const TRAINING: &str = "name: t
duration: 1d
replications: 1
node_pools:
  - {name: h, gpu: h100-80gb, gpus_per_node: 8, nodes: 16, topology: {rack: 4, island: 8}, failures: {mtbf: 10d}}
queues:
  - {name: a, cohort: c, nominal_quota: 64}
  - {name: b, cohort: c, nominal_quota: 64, borrowing_limit: 32}
training:
  scheduler: kueue
  placement: topology
  workloads:
    - name: w
      queue: a
      node_pool: h
      arrivals: {poisson: {rate: 4/h}}
      gpus: {choice: {1: 0.5, 8: 0.3, 32: 0.2}}
      duration: {exponential: {mean: 2h}}
      checkpoint: {interval: optimal, cost: 1m}
";

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Mutated training scenarios never panic the loader, the checks or the run.
    #[test]
    fn mutated_training_scenarios_never_panic(
        pos in 0usize..TRAINING.len(),
        len in 0usize..20,
        insert in "[a-z0-9:{}\\[\\], \n./-]{0,12}",
    ) {
        let end = (pos + len).min(TRAINING.len());
        let text = format!("{}{}{}", &TRAINING[..pos], insert, &TRAINING[end..]);
        load(text.as_bytes());
    }

    /// Any value in the fields of a training workload, a queue or the pool's topology is
    /// accepted and runs to its end, or is refused with a message that names the field.
    #[test]
    fn training_fields_with_any_values_never_panic(
        field in prop::sample::select(vec![
            ("rate: 4/h", "rate: "), ("1: 0.5, 8: 0.3", "1: "), ("cost: 1m", "cost: "),
            ("interval: optimal", "interval: "), ("mtbf: 10d", "mtbf: "),
            ("nominal_quota: 64}", "nominal_quota: "), ("rack: 4", "rack: "),
            ("island: 8", "island: "), ("mean: 2h", "mean: "), ("nodes: 16", "nodes: "),
        ]),
        value in prop::sample::select(vec![
            "0", "-1", "1e300", ".nan", "1ns", "0s", "1e-9/s", "1e9/s", "x", "{}", "[]",
            "3", "0.5", "4294967296", "1e12",
        ]),
    ) {
        let (from, key) = field;
        let close = if from.ends_with('}') { "}" } else { "" };
        let text = TRAINING.replacen(from, &format!("{key}{value}{close}"), 1);
        match check(text.as_bytes()) {
            Ok(plan) => ends(plan),
            Err(message) => prop_assert!(message.contains("random.yaml:"), "{message}"),
        }
    }
}

#[test]
fn the_valid_training_scenario_is_accepted() {
    assert!(load(TRAINING.as_bytes()));
}

/// The largest char boundary at or before `i` (VALID is ASCII, so `i` itself).
fn floor(i: usize) -> usize {
    let mut i = i.min(VALID.len());
    while !VALID.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A valid scenario with every field of `control_plane:` given.
const CONTROL_PLANE: &str = "name: c
duration: 1h
replications: 1
models: [{name: m, service_time: {exponential: {mean: 10ms}}}]
node_pools:
  - {name: a, gpu: t4, gpus_per_node: 4, nodes: 3}
services: [{name: s, model: m, node_pool: a, replicas: 2}]
workloads: [{service: s, arrivals: {poisson: {rate: 1/s}}}]
control_plane:
  apiservers: 3
  max_requests_inflight: 400
  max_mutating_requests_inflight: 200
  apf: default
  apiserver_cpus: 16
  etcd: {members: 5, disk: {write_latency: 2ms}, quota_backend_bytes: 8GiB}
  endpoints: legacy
  kubelet: {node_status_update_frequency: 10s, node_status_report_frequency: 5m, node_lease_duration: 40s}
  clients:
    - {name: agent, per_node: true, verb: list, resource: events, every: 60s}
    - {name: ci, count: 10, verb: get, resource: pods, every: 5s, read_from: cache, priority_level: workload-high}
  node_joins:
    - {pool: a, time: 10m, nodes: 50, over: 1m}
  daemonsets:
    - {name: exporter, service: true}
";

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Mutated control-plane scenarios never panic the loader, the checks or the run.
    #[test]
    fn mutated_control_plane_scenarios_never_panic(
        pos in 0usize..CONTROL_PLANE.len(),
        len in 0usize..20,
        insert in "[a-z0-9:{}\\[\\], \n./_-]{0,12}",
    ) {
        let end = (pos + len).min(CONTROL_PLANE.len());
        let text = format!("{}{}{}", &CONTROL_PLANE[..pos], insert, &CONTROL_PLANE[end..]);
        load(text.as_bytes());
    }

    /// Any value in a field of `control_plane:` is accepted and runs to its end, or is
    /// refused with a message that names the file and the field.
    #[test]
    fn control_plane_fields_with_any_values_never_panic(
        field in prop::sample::select(vec![
            ("apiservers: 3", "apiservers"), ("max_requests_inflight: 400", "max_requests_inflight"),
            ("apiserver_cpus: 16", "apiserver_cpus"), ("members: 5", "members"),
            ("write_latency: 2ms", "write_latency"), ("quota_backend_bytes: 8GiB", "quota_backend_bytes"),
            ("node_lease_duration: 40s", "node_lease_duration"),
            ("node_status_update_frequency: 10s", "node_status_update_frequency"),
            ("every: 60s", "every"), ("count: 10", "count"), ("nodes: 50", "nodes"),
            ("time: 10m", "time"), ("over: 1m", "over"), ("verb: get", "verb"),
            ("priority_level: workload-high", "priority_level"), ("endpoints: legacy", "endpoints"),
        ]),
        value in prop::sample::select(vec![
            "0", "-1", "1e300", ".nan", "1ns", "0s", "1s", "1GiB", "x", "{}", "[]", "~",
            "3", "0.5", "4294967296", "1e12", "100001", "7", "list", "59m",
        ]),
    ) {
        let (from, key) = field;
        let text = CONTROL_PLANE.replacen(from, &format!("{key}: {value}"), 1);
        match check(text.as_bytes()) {
            Ok(plan) => {
                prop_assert!(plan.control_plane.is_some());
                ends(plan);
            }
            Err(message) => {
                prop_assert!(message.contains("random.yaml:"), "{message}");
                prop_assert!(message.contains(key), "{key}: {message}\n---\n{text}");
            }
        }
    }
}

#[test]
fn the_valid_control_plane_scenario_is_accepted() {
    let plan = check(CONTROL_PLANE.as_bytes()).expect("accepted");
    let cp = plan.control_plane.as_ref().expect("a control plane");
    assert_eq!(
        (cp.apiservers, cp.etcd.members, cp.clients.len()),
        (3, 5, 2)
    );
    ends(plan);
}

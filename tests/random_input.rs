//! Property test: random and mutated scenario text never panics the loader or the checks;
//! it is accepted or refused with an error that names the file.

use capsim::scenario;
use proptest::prelude::*;
use std::path::Path;

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

/// Loads and checks; returns whether it was accepted. Any error must name the file.
fn load(bytes: &[u8]) -> bool {
    match scenario::load_bytes("random.yaml", bytes, &[], Path::new(".")) {
        Err(e) => {
            assert!(e.to_string().contains("random.yaml"), "{e}");
            false
        }
        Ok(l) => match scenario::build_plan(&l) {
            Ok(_) => true,
            Err(es) => {
                assert!(!es.is_empty());
                assert!(es.iter().all(|e| e.file.contains("random.yaml")));
                false
            }
        },
    }
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
        if let Ok(l) = scenario::load_bytes("random.yaml", VALID.as_bytes(), &set, Path::new(".")) {
            let _ = scenario::build_plan(&l);
        }
    }
}

/// The largest char boundary at or before `i` (VALID is ASCII, so `i` itself).
fn floor(i: usize) -> usize {
    let mut i = i.min(VALID.len());
    while !VALID.is_char_boundary(i) {
        i -= 1;
    }
    i
}

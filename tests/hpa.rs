//! `capsim hpa explain` on the snapshots in tests/hpa/: each reproduces an upstream
//! Kubernetes test case (named in the file's first line) and must give its replica count.

use std::path::Path;
use std::process::Command;

fn explain(file: &str, json: bool) -> std::process::Output {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/hpa")
        .join(file);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_capsim"));
    cmd.args(["hpa", "explain"]).arg(path);
    if json {
        cmd.arg("--json");
    }
    cmd.output().expect("run capsim")
}

fn json(file: &str) -> serde_json::Value {
    let out = explain(file, true);
    assert!(
        out.status.success(),
        "{file}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// (snapshot, desiredReplicas upstream asserts)
const CASES: &[(&str, i64)] = &[
    ("scale-up", 5),
    ("scale-up-unready-less-scale", 4),
    ("scale-up-hot-cpu-less-scale", 4),
    ("scale-up-unready-no-scale", 3),
    ("scale-up-ignores-failed-pods", 4),
    ("scale-up-ignores-deletion-pods", 4),
    ("scale-up-cm", 4),
    ("scale-up-cm-unready-hot-cpu-would-scale-down", 7),
    ("scale-up-cm-object", 4),
    ("scale-up-cm-per-pod-object", 4),
    ("scale-up-cm-object-ignores-unready-pods", 5),
    ("scale-up-cm-external-ignores-unready-pods", 2),
    ("scale-up-per-pod-cm-external", 4),
    ("scale-down", 3),
    ("scale-down-include-unready-pods", 2),
    ("scale-down-exclude-unscheduled-pods", 1),
    ("scale-down-ignore-hot-cpu-pods", 2),
    ("tolerance", 3),
    ("missing-metrics", 3),
    ("missing-metrics-unready-scale-up", 4),
    ("behavior-pod-policy-previous-events", 235),
    ("behavior-percent-policy-previous-events", 56),
    ("no-behavior-scale-up-limit", 6),
    ("stabilize-scale-down", 5),
];

#[test]
fn snapshots_give_upstream_replica_counts() {
    for (name, expected) in CASES {
        let v = json(&format!("{name}.yaml"));
        assert_eq!(v["desiredReplicas"], *expected, "{name}: {v:#}");
    }
}

#[test]
fn json_has_the_spec_fields() {
    let v = json("scale-up.yaml");
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    let m = &v["metrics"][0];
    assert_eq!(
        m["name"],
        "cpu resource utilization (percentage of request)"
    );
    assert_eq!(m["currentValue"], 50.0);
    assert_eq!(m["proposal"], 5);
    assert!((m["ratio"].as_f64().unwrap() - 50.0 / 30.0).abs() < 1e-9);
    assert_eq!(v["limitedBy"], "DesiredWithinRange");
    assert!(v["steps"].as_array().unwrap().len() >= 3);
}

#[test]
fn reasons_name_the_limiting_step() {
    let v = json("behavior-pod-policy-previous-events.yaml");
    assert_eq!(v["limitedBy"], "ScaleUpLimit");
    let steps = v["steps"].to_string();
    assert!(steps.contains("Pods 150 per 120s"), "{steps}");
    assert_eq!(
        json("behavior-percent-policy-previous-events.yaml")["limitedBy"],
        "ScaleDownLimit"
    );
    assert_eq!(
        json("no-behavior-scale-up-limit.yaml")["limitedBy"],
        "ScaleUpLimit"
    );
    assert_eq!(
        json("stabilize-scale-down.yaml")["limitedBy"],
        "ScaleDownStabilized"
    );
}

#[test]
fn text_output_starts_with_the_decision() {
    let out = explain("scale-up.yaml", false);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let first = text.lines().next().unwrap();
    assert!(first.starts_with("desired replicas: 5"), "{text}");
    assert!(text.contains("ceil(1.667 x 3) = 5"), "{text}");
}

#[test]
fn legacy_fields_are_refused_with_a_hint() {
    let out = explain("bad-legacy-fields.yaml", false);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad-legacy-fields.yaml:8:")
            && err.contains("hpa.metrics[0].resource.targetAverageUtilization")
            && err.contains("autoscaling/v2beta1")
            && err.contains("target: {type: Utilization, averageUtilization: 60}"),
        "{err}"
    );
}

#[test]
fn invalid_spec_is_bad_input() {
    let out = explain("bad-max-replicas.yaml", false);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad-max-replicas.yaml:3:")
            && err.contains("hpa.maxReplicas: must be greater than or equal to `minReplicas`"),
        "{err}"
    );
}

//! Ports of upstream unit tests (kubernetes/kubernetes pkg/controller/podautoscaler) with
//! the numbers they assert, plus parsing and validation checks.

use super::replica_calculator::Calc;
use super::*;
use std::collections::BTreeMap;

/// The replica calculator's settings in upstream tests (defaultTesting* constants; the fake
/// metrics client reports a one-minute window).
fn test_cfg() -> ControllerConfig {
    ControllerConfig {
        tolerance: 0.1,
        cpu_initialization_period: 120.0,
        initial_readiness_delay: 10.0,
        downscale_stabilization: 300.0,
        metric_window: 60.0,
    }
}

/// Upstream's "cool" pods started 3 minutes ago; "hot" ones just now. Upstream leaves the
/// Ready transition time at zero (long ago) and the metric timestamp at zero, which makes a
/// hot pod's sample too early; here the hot pod's readiness changed at its start instead.
const COOL: f64 = 180.0;
const HOT: f64 = 0.0;
const LONG: f64 = 1e9;

fn pod(i: usize) -> PodSample {
    PodSample {
        name: format!("test-pod-{i}"),
        phase: PodPhase::Running,
        ready: true,
        deleting: false,
        started_ago: LONG,
        ready_changed_ago: LONG,
        ..Default::default()
    }
}

/// `n` pods with CPU requests (milli) and usage levels for the first `levels.len()` pods.
/// Upstream's pods have two containers with these values each; totals scale alike.
fn cpu_pods(n: usize, requests: &[i64], levels: &[i64]) -> Vec<PodSample> {
    (0..n)
        .map(|i| {
            let mut p = pod(i);
            if let Some(r) = requests.get(i) {
                p.requests.insert("cpu".into(), 2 * r);
            }
            if let Some(l) = levels.get(i) {
                p.usage.insert("cpu".into(), 2 * l);
            }
            p
        })
        .collect()
}

fn qps_pods(levels: &[i64]) -> Vec<PodSample> {
    levels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut p = pod(i);
            p.pod_metrics.insert("qps".into(), *l);
            p
        })
        .collect()
}

fn set_ready(pods: &mut [PodSample], ready: &[bool]) {
    for (p, r) in pods.iter_mut().zip(ready) {
        p.ready = *r;
    }
}

fn set_start(pods: &mut [PodSample], start: &[f64]) {
    for (p, s) in pods.iter_mut().zip(start) {
        p.started_ago = *s;
        p.ready_changed_ago = *s;
    }
}

fn target(kind: &str, value: Option<i64>, avg: Option<i64>, util: Option<i32>) -> MetricTarget {
    MetricTarget {
        type_: kind.into(),
        value: value.map(Quantity),
        average_value: avg.map(Quantity),
        average_utilization: util,
    }
}

fn cpu_util(t: i32) -> MetricSpec {
    MetricSpec {
        type_: "Resource".into(),
        resource: Some(ResourceMetricSource {
            name: "cpu".into(),
            target: Some(target("Utilization", None, None, Some(t))),
            target_average_utilization: None,
            target_average_value: None,
        }),
        pods: None,
        object: None,
        external: None,
        container_resource: None,
    }
}

fn ident(name: &str) -> Option<MetricIdentifier> {
    Some(MetricIdentifier {
        name: name.into(),
        selector: None,
    })
}

fn pods_metric(t: i64) -> MetricSpec {
    MetricSpec {
        type_: "Pods".into(),
        pods: Some(PodsMetricSource {
            metric: ident("qps"),
            target: Some(target("AverageValue", None, Some(t), None)),
            metric_name: None,
            target_average_value: None,
        }),
        ..cpu_util(1).without_sources()
    }
}

fn object_metric(value: Option<i64>, avg: Option<i64>) -> MetricSpec {
    let kind = if value.is_some() {
        "Value"
    } else {
        "AverageValue"
    };
    MetricSpec {
        type_: "Object".into(),
        object: Some(ObjectMetricSource {
            described_object: Some(ObjectReference {
                kind: "Deployment".into(),
                name: "some-deployment".into(),
                api_version: Some("apps/v1".into()),
            }),
            metric: ident("qps"),
            target: Some(target(kind, value, avg, None)),
            metric_name: None,
            target_value: None,
        }),
        ..cpu_util(1).without_sources()
    }
}

fn external_metric(value: Option<i64>, avg: Option<i64>) -> MetricSpec {
    let kind = if value.is_some() {
        "Value"
    } else {
        "AverageValue"
    };
    MetricSpec {
        type_: "External".into(),
        external: Some(ExternalMetricSource {
            metric: ident("qps"),
            target: Some(target(kind, value, avg, None)),
            metric_name: None,
            metric_selector: None,
            target_value: None,
            target_average_value: None,
        }),
        ..cpu_util(1).without_sources()
    }
}

impl MetricSpec {
    fn without_sources(self) -> MetricSpec {
        MetricSpec {
            resource: None,
            pods: None,
            object: None,
            external: None,
            container_resource: None,
            ..self
        }
    }
}

fn calc(
    current: i32,
    pods: &[PodSample],
    m: &MetricSpec,
    inputs: &MetricInputs,
) -> Result<(i32, f64), String> {
    let cfg = test_cfg();
    let c = Calc {
        cfg: &cfg,
        tol: Tolerances { down: 0.1, up: 0.1 },
        current,
        pods,
    };
    c.metric(m, inputs)
        .map(|p| (p.replicas, p.result.current_value))
}

fn object(v: i64) -> MetricInputs {
    MetricInputs {
        object: [("qps".to_string(), v)].into(),
        external: BTreeMap::new(),
    }
}

fn external(v: i64) -> MetricInputs {
    MetricInputs {
        object: BTreeMap::new(),
        external: [("qps".to_string(), v)].into(),
    }
}

const ONE: i64 = 1000;

// --- replica_calculator_test.go ------------------------------------------------------

/// Upstream: replica_calculator_test.go TestReplicaCalcScaleUp
#[test]
fn replica_calc_scale_up() {
    let pods = cpu_pods(3, &[ONE; 3], &[300, 500, 700]);
    assert_eq!(
        calc(3, &pods, &cpu_util(30), &Default::default()),
        Ok((5, 50.0))
    );
}

/// Upstream: replica_calculator_test.go TestReplicaCalcScaleUpUnreadyLessScale
#[test]
fn replica_calc_scale_up_unready_less_scale() {
    let mut pods = cpu_pods(3, &[ONE; 3], &[300, 500, 700]);
    set_ready(&mut pods, &[false, true, true]);
    assert_eq!(
        calc(3, &pods, &cpu_util(30), &Default::default()),
        Ok((4, 60.0))
    );
}

/// Upstream: replica_calculator_test.go TestReplicaCalcScaleUpHotCpuLessScale
#[test]
fn replica_calc_scale_up_hot_cpu_less_scale() {
    let mut pods = cpu_pods(3, &[ONE; 3], &[300, 500, 700]);
    set_start(&mut pods, &[HOT, COOL, COOL]);
    assert_eq!(
        calc(3, &pods, &cpu_util(30), &Default::default()),
        Ok((4, 60.0))
    );
}

/// Upstream: replica_calculator_test.go TestReplicaCalcScaleUpUnreadyNoScale
#[test]
fn replica_calc_scale_up_unready_no_scale() {
    let mut pods = cpu_pods(3, &[ONE; 3], &[400, 500, 700]);
    set_ready(&mut pods, &[true, false, false]);
    assert_eq!(
        calc(3, &pods, &cpu_util(30), &Default::default()),
        Ok((3, 40.0))
    );
}

/// Upstream: replica_calculator_test.go TestReplicaCalcScaleHotCpuNoScale
#[test]
fn replica_calc_scale_hot_cpu_no_scale() {
    let mut pods = cpu_pods(3, &[ONE; 3], &[400, 500, 700]);
    set_start(&mut pods, &[COOL, HOT, HOT]);
    set_ready(&mut pods, &[true, false, false]);
    assert_eq!(
        calc(3, &pods, &cpu_util(30), &Default::default()),
        Ok((3, 40.0))
    );
}

/// Upstream: replica_calculator_test.go TestReplicaCalcScaleUpIgnoresFailedPods
#[test]
fn replica_calc_scale_up_ignores_failed_pods() {
    let mut pods = cpu_pods(4, &[ONE; 4], &[500, 700]);
    set_ready(&mut pods, &[true, true, false, false]);
    pods[2].phase = PodPhase::Failed;
    pods[3].phase = PodPhase::Failed;
    assert_eq!(
        calc(2, &pods, &cpu_util(30), &Default::default()),
        Ok((4, 60.0))
    );
}

/// Upstream: replica_calculator_test.go TestReplicaCalcScaleUpIgnoresDeletionPods
#[test]
fn replica_calc_scale_up_ignores_deletion_pods() {
    let mut pods = cpu_pods(4, &[ONE; 4], &[500, 700]);
    set_ready(&mut pods, &[true, true, false, false]);
    pods[2].deleting = true;
    pods[3].deleting = true;
    assert_eq!(
        calc(2, &pods, &cpu_util(30), &Default::default()),
        Ok((4, 60.0))
    );
}

/// Upstream: replica_calculator_test.go TestReplicaCalcScaleUpCM
#[test]
fn replica_calc_scale_up_cm() {
    let pods = qps_pods(&[20000, 10000, 30000]);
    assert_eq!(
        calc(3, &pods, &pods_metric(15000), &Default::default()),
        Ok((4, 20.0))
    );
}

/// Upstream: replica_calculator_test.go TestReplicaCalcScaleUpCMUnreadyHotCpuNoLessScale
#[test]
fn replica_calc_scale_up_cm_unready_hot_cpu_no_less_scale() {
    let mut pods = qps_pods(&[50000, 10000, 30000]);
    set_ready(&mut pods, &[true, true, false]);
    set_start(&mut pods, &[COOL, COOL, HOT]);
    assert_eq!(
        calc(3, &pods, &pods_metric(15000), &Default::default()),
        Ok((6, 30.0))
    );
}

/// Upstream: replica_calculator_test.go TestReplicaCalcScaleUpCMUnreadyHotCpuScaleWouldScaleDown
#[test]
fn replica_calc_scale_up_cm_unready_hot_cpu_scale_would_scale_down() {
    let mut pods = qps_pods(&[50000, 15000, 30000]);
    set_ready(&mut pods, &[false, true, false]);
    set_start(&mut pods, &[HOT, COOL, HOT]);
    assert_eq!(
        calc(3, &pods, &pods_metric(15000), &Default::default()),
        Ok((7, 31.666))
    );
}

/// Upstream: replica_calculator_test.go TestReplicaCalcScaleUpCMObject
#[test]
fn replica_calc_scale_up_cm_object() {
    let pods = cpu_pods(3, &[], &[]);
    let m = object_metric(Some(15000), None);
    assert_eq!(calc(3, &pods, &m, &object(20000)), Ok((4, 20.0)));
}

/// Upstream: replica_calculator_test.go TestReplicaCalcScaleUpCMPerPodObject
#[test]
fn replica_calc_scale_up_cm_per_pod_object() {
    let pods = cpu_pods(3, &[], &[]);
    let m = object_metric(None, Some(5000));
    assert_eq!(calc(3, &pods, &m, &object(20000)), Ok((4, 6.667)));
}

/// Upstream: replica_calculator_test.go TestReplicaCalcScaleUpCMObjectIgnoresUnreadyPods
#[test]
fn replica_calc_scale_up_cm_object_ignores_unready_pods() {
    let mut pods = cpu_pods(3, &[], &[]);
    set_ready(&mut pods, &[false, true, false]);
    let m = object_metric(Some(10000), None);
    assert_eq!(calc(3, &pods, &m, &object(50000)), Ok((5, 50.0)));
}

/// Upstream: replica_calculator_test.go TestReplicaCalcScaleUpCMExternalIgnoresUnreadyPods
#[test]
fn replica_calc_scale_up_cm_external_ignores_unready_pods() {
    let mut pods = cpu_pods(3, &[], &[]);
    set_ready(&mut pods, &[false, true, false]);
    let m = external_metric(Some(4400), None);
    assert_eq!(calc(3, &pods, &m, &external(8600)), Ok((2, 8.6)));
}

/// Upstream: replica_calculator_test.go TestReplicaCalcScaleUpPerPodCMExternal
#[test]
fn replica_calc_scale_up_per_pod_cm_external() {
    let pods = cpu_pods(3, &[], &[]);
    let m = external_metric(None, Some(2150));
    assert_eq!(calc(3, &pods, &m, &external(8600)), Ok((4, 2.867)));
}

/// Upstream: replica_calculator_test.go TestReplicaCalcScaleDown
#[test]
fn replica_calc_scale_down() {
    let pods = cpu_pods(5, &[ONE; 5], &[100, 300, 500, 250, 250]);
    assert_eq!(
        calc(5, &pods, &cpu_util(50), &Default::default()),
        Ok((3, 28.0))
    );
}

/// Upstream: replica_calculator_test.go TestReplicaCalcScaleDownCM
#[test]
fn replica_calc_scale_down_cm() {
    let pods = qps_pods(&[12000; 5]);
    assert_eq!(
        calc(5, &pods, &pods_metric(20000), &Default::default()),
        Ok((3, 12.0))
    );
}

/// Upstream: replica_calculator_test.go TestReplicaCalcScaleDownPerPodCMObject
#[test]
fn replica_calc_scale_down_per_pod_cm_object() {
    let pods = cpu_pods(5, &[], &[]);
    let m = object_metric(None, Some(2000));
    assert_eq!(calc(5, &pods, &m, &object(6000)), Ok((3, 1.2)));
}

/// Upstream: replica_calculator_test.go TestReplicaCalcScaleDownCMExternal
#[test]
fn replica_calc_scale_down_cm_external() {
    let pods = cpu_pods(5, &[], &[]);
    let m = external_metric(Some(14334), None);
    assert_eq!(calc(5, &pods, &m, &external(8600)), Ok((3, 8.6)));
}

/// Upstream: replica_calculator_test.go TestReplicaCalcScaleDownIncludeUnreadyPods
#[test]
fn replica_calc_scale_down_include_unready_pods() {
    let mut pods = cpu_pods(5, &[ONE; 5], &[100, 300, 500, 250, 250]);
    set_ready(&mut pods, &[true, true, true, false, false]);
    assert_eq!(
        calc(5, &pods, &cpu_util(50), &Default::default()),
        Ok((2, 30.0))
    );
}

/// Upstream: replica_calculator_test.go TestReplicaCalcScaleDownExcludeUnscheduledPods
#[test]
fn replica_calc_scale_down_exclude_unscheduled_pods() {
    let mut pods = cpu_pods(5, &[ONE; 5], &[100]);
    set_ready(&mut pods, &[true, false, false, false, false]);
    for p in &mut pods[1..] {
        p.phase = PodPhase::Pending;
    }
    assert_eq!(
        calc(5, &pods, &cpu_util(50), &Default::default()),
        Ok((1, 10.0))
    );
}

/// Upstream: replica_calculator_test.go TestReplicaCalcScaleDownIgnoreHotCpuPods
#[test]
fn replica_calc_scale_down_ignore_hot_cpu_pods() {
    let mut pods = cpu_pods(5, &[ONE; 5], &[100, 300, 500, 250, 250]);
    set_start(&mut pods, &[COOL, COOL, COOL, HOT, HOT]);
    assert_eq!(
        calc(5, &pods, &cpu_util(50), &Default::default()),
        Ok((2, 30.0))
    );
}

/// Upstream: replica_calculator_test.go TestReplicaCalcScaleDownIgnoresFailedPods
#[test]
fn replica_calc_scale_down_ignores_failed_pods() {
    let mut pods = cpu_pods(7, &[ONE; 7], &[100, 300, 500, 250, 250]);
    set_ready(&mut pods, &[true, true, true, true, true, false, false]);
    pods[5].phase = PodPhase::Failed;
    pods[6].phase = PodPhase::Failed;
    assert_eq!(
        calc(5, &pods, &cpu_util(50), &Default::default()),
        Ok((3, 28.0))
    );
}

/// Upstream: replica_calculator_test.go TestReplicaCalcTolerance
#[test]
fn replica_calc_tolerance() {
    let pods = cpu_pods(3, &[900, 1000, 1100], &[1010, 1030, 1020]);
    assert_eq!(
        calc(3, &pods, &cpu_util(100), &Default::default()),
        Ok((3, 102.0))
    );
}

/// Upstream: replica_calculator_test.go TestReplicaCalcToleranceCM
#[test]
fn replica_calc_tolerance_cm() {
    let pods = qps_pods(&[20000, 21000, 21000]);
    assert_eq!(
        calc(3, &pods, &pods_metric(20000), &Default::default()),
        Ok((3, 20.666))
    );
}

/// Upstream: replica_calculator_test.go TestReplicaCalcTolerancePerPodCMObject
#[test]
fn replica_calc_tolerance_per_pod_cm_object() {
    let pods = cpu_pods(4, &[], &[]);
    let m = object_metric(None, Some(5000));
    assert_eq!(calc(4, &pods, &m, &object(20166)), Ok((4, 5.042)));
}

/// Upstream: replica_calculator_test.go TestReplicaCalcMissingMetrics
#[test]
fn replica_calc_missing_metrics() {
    let pods = cpu_pods(4, &[ONE; 4], &[400, 95]);
    assert_eq!(
        calc(4, &pods, &cpu_util(100), &Default::default()),
        Ok((3, 24.0))
    );
}

/// Upstream: replica_calculator_test.go TestReplicaCalcEmptyCPURequest
#[test]
fn replica_calc_empty_cpu_request() {
    let pods = cpu_pods(1, &[], &[200]);
    let e = calc(1, &pods, &cpu_util(100), &Default::default()).unwrap_err();
    assert!(e.contains("missing request for"), "{e}");
}

/// Upstream: replica_calculator_test.go TestReplicaCalcMissingMetricsNoChangeEq,
/// TestReplicaCalcMissingMetricsNoChangeGt, TestReplicaCalcMissingMetricsNoChangeLt
#[test]
fn replica_calc_missing_metrics_no_change() {
    for (level, util) in [(1000, 100.0), (1900, 190.0), (600, 60.0)] {
        let pods = cpu_pods(2, &[ONE; 2], &[level]);
        assert_eq!(
            calc(2, &pods, &cpu_util(100), &Default::default()),
            Ok((2, util))
        );
    }
}

/// Upstream: replica_calculator_test.go TestReplicaCalcMissingMetricsUnreadyChange
#[test]
fn replica_calc_missing_metrics_unready_change() {
    let mut pods = cpu_pods(3, &[ONE; 3], &[100, 450]);
    set_ready(&mut pods, &[false, true, true]);
    assert_eq!(
        calc(3, &pods, &cpu_util(50), &Default::default()),
        Ok((3, 45.0))
    );
}

/// Upstream: replica_calculator_test.go TestReplicaCalcMissingMetricsHotCpuNoChange
#[test]
fn replica_calc_missing_metrics_hot_cpu_no_change() {
    let mut pods = cpu_pods(3, &[ONE; 3], &[100, 450]);
    set_start(&mut pods, &[HOT, COOL, COOL]);
    assert_eq!(
        calc(3, &pods, &cpu_util(50), &Default::default()),
        Ok((3, 45.0))
    );
}

/// Upstream: replica_calculator_test.go TestReplicaCalcMissingMetricsUnreadyScaleUp
#[test]
fn replica_calc_missing_metrics_unready_scale_up() {
    let mut pods = cpu_pods(3, &[ONE; 3], &[100, 2000]);
    set_ready(&mut pods, &[false, true, true]);
    assert_eq!(
        calc(3, &pods, &cpu_util(50), &Default::default()),
        Ok((4, 200.0))
    );
}

/// Upstream: replica_calculator_test.go TestReplicaCalcMissingMetricsUnreadyScaleDown
#[test]
fn replica_calc_missing_metrics_unready_scale_down() {
    let mut pods = cpu_pods(4, &[ONE; 4], &[100, 100, 100]);
    set_ready(&mut pods, &[false, true, true, true]);
    assert_eq!(
        calc(4, &pods, &cpu_util(50), &Default::default()),
        Ok((3, 10.0))
    );
}

// --- horizontal_test.go ---------------------------------------------------------------

/// Upstream's generateScalingRules(pods, podsPeriod, percent, percentPeriod, window).
fn rules(
    pods: i32,
    pods_period: i32,
    percent: i32,
    percent_period: i32,
    window: i32,
) -> ScalingRules {
    let mut policies = vec![];
    if pods != 0 {
        policies.push(ScalingPolicy {
            type_: "Pods".into(),
            value: pods,
            period_seconds: pods_period,
        });
    }
    if percent != 0 {
        policies.push(ScalingPolicy {
            type_: "Percent".into(),
            value: percent,
            period_seconds: percent_period,
        });
    }
    ScalingRules {
        stabilization_window_seconds: Some(window),
        select_policy: Some("Max".into()),
        policies: Some(policies),
        tolerance: None,
    }
}

/// Upstream's generateEventsUniformDistribution: events centred in equal segments of the
/// last `period` seconds (now = 0).
fn events(raw: &[i32], period: i32) -> Vec<ScaleEvent> {
    let seg = f64::from(period) / raw.len() as f64;
    raw.iter()
        .enumerate()
        .map(|(i, &c)| {
            let ago = (f64::from(period) - seg * (i + 1) as f64 + seg / 2.0).trunc();
            ScaleEvent {
                at: -ago,
                change: c,
            }
        })
        .collect()
}

struct RuleCase {
    name: &'static str,
    up_events: Vec<ScaleEvent>,
    down_events: Vec<ScaleEvent>,
    min: i32,
    max: i32,
    up: Option<ScalingRules>,
    down: Option<ScalingRules>,
    current: i32,
    desired: i32,
    expected: i32,
    condition: &'static str,
}

fn case(
    name: &'static str,
    min: i32,
    max: i32,
    current: i32,
    desired: i32,
    expected: i32,
    condition: &'static str,
) -> RuleCase {
    RuleCase {
        name,
        up_events: vec![],
        down_events: vec![],
        min,
        max,
        up: None,
        down: None,
        current,
        desired,
        expected,
        condition,
    }
}

fn run_rule_cases(cases: Vec<RuleCase>) {
    for c in cases {
        let up = default_rules(c.up.as_ref(), true, 0.0);
        let down = default_rules(c.down.as_ref(), false, 300.0);
        let (r, cond, _) = convert_with_behavior_rate(RateArgs {
            current: c.current,
            desired: c.desired,
            min: c.min,
            max: c.max,
            up: &up,
            down: &down,
            up_events: &c.up_events,
            down_events: &c.down_events,
            now: 0.0,
        });
        assert_eq!((r, cond), (c.expected, c.condition), "{}", c.name);
    }
}

/// Upstream: horizontal_test.go TestScalingWithRules (cases without scale events)
#[test]
fn scaling_with_rules_no_events() {
    run_rule_cases(vec![
        case(
            "prenormalized desired replicas within range",
            3,
            8,
            5,
            7,
            7,
            "DesiredWithinRange",
        ),
        case(
            "prenormalized desired replicas < minReplicas",
            2,
            8,
            3,
            1,
            2,
            "TooFewReplicas",
        ),
        case(
            "maxReplicas is the limit because maxReplicas < scaleUpLimit",
            1,
            10,
            20,
            1000,
            10,
            "TooManyReplicas",
        ),
        case(
            "desired replica count is more than the maximum replica count",
            100,
            150,
            100,
            1000,
            150,
            "TooManyReplicas",
        ),
        RuleCase {
            up: Some(rules(0, 0, 1, 60, 0)),
            ..case(
                "scaleUpLimit is the limit because scaleUpLimit < maxReplicas with user policies",
                1,
                2000,
                3,
                1000,
                4,
                "ScaleUpLimit",
            )
        },
        case(
            "scaleUp with default behavior",
            1,
            1000,
            10,
            50,
            20,
            "ScaleUpLimit",
        ),
        RuleCase {
            up: Some(rules(100, 60, 100, 60, 0)),
            ..case(
                "scaleUp with pods policy larger than percent policy",
                1,
                1000,
                10,
                500,
                110,
                "ScaleUpLimit",
            )
        },
        RuleCase {
            up: Some(rules(2, 60, 100, 60, 0)),
            ..case(
                "scaleUp with percent policy larger than pods policy",
                1,
                1000,
                10,
                500,
                20,
                "ScaleUpLimit",
            )
        },
        RuleCase {
            up: Some(rules(100, 60, 0, 0, 0)),
            ..case(
                "scaleUp with spec MaxReplicas limitation with large pod policy",
                1,
                1000,
                10,
                50,
                50,
                "DesiredWithinRange",
            )
        },
        RuleCase {
            up: Some(rules(30, 60, 0, 0, 0)),
            ..case(
                "scaleUp with pod policy limitation",
                1,
                1000,
                10,
                50,
                40,
                "ScaleUpLimit",
            )
        },
        RuleCase {
            up: Some(rules(0, 0, 200, 60, 0)),
            ..case(
                "scaleUp with percent policy limitation",
                1,
                1000,
                10,
                50,
                30,
                "ScaleUpLimit",
            )
        },
        RuleCase {
            down: Some(rules(20, 60, 1, 60, 300)),
            ..case(
                "scaleDown with percent policy larger than pod policy",
                1,
                1000,
                100,
                2,
                80,
                "ScaleDownLimit",
            )
        },
        RuleCase {
            down: Some(rules(2, 60, 1, 60, 300)),
            ..case(
                "scaleDown with pod policy larger than percent policy",
                1,
                1000,
                100,
                2,
                98,
                "ScaleDownLimit",
            )
        },
        RuleCase {
            down: Some(rules(100, 60, 0, 0, 300)),
            ..case(
                "scaleDown with spec MinReplicas=nil limitation with large pod policy",
                1,
                1000,
                10,
                0,
                1,
                "TooFewReplicas",
            )
        },
        RuleCase {
            down: Some(rules(0, 0, 100, 60, 300)),
            ..case(
                "scaleDown with spec MinReplicas limitation with large percent policy",
                5,
                1000,
                10,
                2,
                5,
                "TooFewReplicas",
            )
        },
        RuleCase {
            down: Some(rules(5, 60, 0, 0, 300)),
            ..case(
                "scaleDown with pod policy limitation",
                1,
                1000,
                10,
                2,
                5,
                "ScaleDownLimit",
            )
        },
        RuleCase {
            down: Some(rules(0, 0, 50, 60, 300)),
            ..case(
                "scaleDown with percent policy limitation",
                1,
                1000,
                10,
                5,
                5,
                "DesiredWithinRange",
            )
        },
    ]);
}

/// Upstream: horizontal_test.go TestScalingWithRules (cases with previous scale events)
#[test]
fn scaling_with_rules_with_events() {
    let e159 = || events(&[1, 5, 9], 120);
    run_rule_cases(vec![
        RuleCase {
            up_events: e159(),
            up: Some(rules(300, 60, 0, 0, 0)),
            ..case(
                "scaleUp with spec MaxReplicas limitation with large pod policy and events",
                1,
                200,
                100,
                500,
                200,
                "TooManyReplicas",
            )
        },
        RuleCase {
            up_events: e159(),
            up: Some(rules(0, 0, 10000, 60, 0)),
            ..case(
                "scaleUp with spec MaxReplicas limitation with large percent policy and events",
                1,
                200,
                100,
                500,
                200,
                "TooManyReplicas",
            )
        },
        RuleCase {
            up_events: e159(),
            up: Some(rules(5, 120, 0, 0, 0)),
            ..case(
                "scaleUp with currentReplicas limitation with rate.PeriodSeconds with a lot of recent scale up events",
                1,
                1000,
                100,
                500,
                100,
                "ScaleUpLimit",
            )
        },
        RuleCase {
            up_events: e159(),
            up: Some(rules(150, 120, 0, 0, 0)),
            ..case(
                "scaleUp with pod policy and previous scale up events",
                1,
                1000,
                100,
                500,
                235,
                "ScaleUpLimit",
            )
        },
        RuleCase {
            up_events: e159(),
            up: Some(rules(0, 0, 200, 120, 0)),
            ..case(
                "scaleUp with percent policy and previous scale up events",
                1,
                1000,
                100,
                500,
                255,
                "ScaleUpLimit",
            )
        },
        RuleCase {
            down_events: e159(),
            ..case(
                "scaleDown with default policy and previous events",
                1,
                1000,
                10,
                5,
                5,
                "DesiredWithinRange",
            )
        },
        RuleCase {
            down_events: e159(),
            down: Some(rules(115, 120, 0, 0, 300)),
            ..case(
                "scaleDown with spec MinReplicas=nil limitation with large pod policy and previous events",
                1,
                1000,
                100,
                0,
                1,
                "TooFewReplicas",
            )
        },
        RuleCase {
            down_events: e159(),
            down: Some(rules(130, 120, 0, 0, 300)),
            ..case(
                "scaleDown with spec MinReplicas limitation with large pod policy and previous events",
                5,
                1000,
                100,
                0,
                5,
                "TooFewReplicas",
            )
        },
        RuleCase {
            down_events: e159(),
            down: Some(rules(0, 0, 100, 120, 300)),
            ..case(
                "scaleDown with spec MinReplicas limitation with large percent policy and previous events",
                5,
                1000,
                100,
                2,
                5,
                "TooFewReplicas",
            )
        },
        RuleCase {
            down_events: e159(),
            down: Some(rules(5, 120, 0, 0, 300)),
            ..case(
                "scaleDown with pod policy limitation and previous events",
                1,
                1000,
                100,
                2,
                100,
                "ScaleDownLimit",
            )
        },
        RuleCase {
            down_events: events(&[2, 4, 6], 120),
            down: Some(rules(0, 0, 50, 120, 300)),
            ..case(
                "scaleDown with percent policy limitation and previous events",
                1,
                1000,
                100,
                0,
                56,
                "ScaleDownLimit",
            )
        },
        RuleCase {
            down_events: events(&[10, 10, 10], 120),
            down: Some(rules(0, 0, 10, 120, 300)),
            ..case(
                "scaleDown with previous events preventing further scale down",
                1,
                1000,
                100,
                0,
                100,
                "ScaleDownLimit",
            )
        },
        RuleCase {
            down_events: events(&[10, 10, 10], 120),
            down: Some(rules(0, 0, 1000, 120, 300)),
            ..case(
                "scaleDown with with previous events still allowing more scale down",
                1,
                1000,
                10,
                5,
                5,
                "DesiredWithinRange",
            )
        },
        RuleCase {
            up_events: events(&[8, 12, 9, 11], 120),
            up: Some(rules(1000, 60, 0, 0, 0)),
            ..case(
                "check 'outdated' flag for events for one behavior for up",
                1,
                1000,
                100,
                200,
                200,
                "DesiredWithinRange",
            )
        },
        RuleCase {
            up_events: events(&[8, 12, 9, 11], 120),
            up: Some(rules(1000, 120, 100, 60, 0)),
            ..case(
                "check that events were not marked 'outdated' for two different policies in the behavior for up",
                1,
                1000,
                100,
                200,
                200,
                "DesiredWithinRange",
            )
        },
        RuleCase {
            down_events: events(&[8, 12, 9, 11], 120),
            down: Some(rules(1000, 60, 0, 0, 300)),
            ..case(
                "check 'outdated' flag for events for one behavior for down",
                1,
                1000,
                100,
                5,
                5,
                "DesiredWithinRange",
            )
        },
    ]);
}

/// Upstream: horizontal_test.go TestConvertDesiredReplicasWithRules
#[test]
fn convert_desired_replicas_with_rules() {
    for (cur, desired, min, max, expected, cond) in [
        (5, 7, 3, 8, 7, "DesiredWithinRange"),
        (3, 1, 2, 8, 2, "TooFewReplicas"),
        (1, 0, 0, 10, 0, "DesiredWithinRange"),
        (20, 1000, 1, 10, 10, "TooManyReplicas"),
        (3, 1000, 1, 2000, 6, "ScaleUpLimit"),
    ] {
        assert_eq!(
            convert_desired_with_rules(cur, desired, min, max),
            (expected, cond)
        );
    }
}

fn min_rules() -> Rules {
    Rules {
        window_seconds: 300.0,
        select: SelectPolicy::Min,
        policies: vec![
            Policy {
                percent: false,
                value: 2,
                period_seconds: 60,
            },
            Policy {
                percent: true,
                value: 50,
                period_seconds: 60,
            },
        ],
        tolerance: None,
    }
}

/// Upstream: horizontal_test.go TestCalculateScaleUpLimitWithScalingRules
#[test]
fn calculate_scale_up_limit_with_scaling_rules() {
    assert_eq!(scale_up_limit(1, &[], &[], &min_rules(), 0.0).0, 2);
}

/// Upstream: horizontal_test.go TestCalculateScaleDownLimitWithBehaviors
#[test]
fn calculate_scale_down_limit_with_behaviors() {
    assert_eq!(scale_down_limit(5, &[], &[], &min_rules(), 0.0).0, 3);
}

fn spec(min: i32, max: i32, behavior: Option<Behavior>) -> HpaSpec {
    HpaSpec {
        scale_target_ref: None,
        min_replicas: min,
        max_replicas: max,
        metrics: vec![cpu_util(50)],
        behavior,
        target_cpu_utilization_percentage: None,
    }
}

/// Upstream: horizontal_test.go TestNormalizeDesiredReplicas (stabilizeRecommendation with a
/// 5-minute downscale stabilization window; desired 3)
#[test]
fn normalize_desired_replicas() {
    type Case = (&'static str, Vec<(f64, i32)>, i32);
    let cases: [Case; 5] = [
        ("empty log", vec![], 5),
        ("stabilize", vec![(120.0, 4), (60.0, 5)], 5),
        ("no stabilize", vec![(120.0, 1), (60.0, 2)], 3),
        (
            "no stabilize - old recommendations",
            vec![(600.0, 10), (540.0, 9)],
            3,
        ),
        (
            "stabilize - old recommendations",
            vec![(600.0, 10), (60.0, 4), (120.0, 5), (540.0, 9)],
            5,
        ),
    ];
    for (name, recs, expected) in cases {
        let mut c = HpaController::new(spec(1, 100, None), 300.0);
        let prenormalized = if name == "empty log" { 5 } else { 3 };
        c.seed_history(
            recs.iter()
                .map(|&(ago, r)| Recommendation {
                    at: -ago,
                    replicas: r,
                })
                .collect(),
            &[],
        );
        c.initialized = true;
        let mut steps = vec![];
        let (out, _) = c.normalize(0.0, 3, prenormalized, &mut steps);
        assert_eq!(out, expected, "{name}");
    }
}

/// Own test: stabilization with behavior keeps the count inside
/// [min over the scale-up window, max over the scale-down window] (the newest upstream
/// stabilizeRecommendationWithBehaviors).
#[test]
fn stabilize_with_behaviors() {
    let b = Behavior {
        scale_up: Some(ScalingRules {
            stabilization_window_seconds: Some(120),
            ..Default::default()
        }),
        scale_down: Some(ScalingRules {
            stabilization_window_seconds: Some(300),
            ..Default::default()
        }),
    };
    for (recs, current, desired, expected, reason) in [
        (vec![(60.0, 4)], 3, 10, 4, "ScaleUpLimit"), // min over up window is 4, then 3 -> at most 7 (Pods 4)
        (vec![(60.0, 6)], 5, 2, 5, "ScaleDownStabilized"),
        (vec![(400.0, 9)], 5, 2, 2, "DesiredWithinRange"),
        (vec![(200.0, 2)], 3, 8, 7, "ScaleUpLimit"),
    ] {
        let mut c = HpaController::new(spec(1, 100, Some(b.clone())), 300.0);
        c.seed_history(
            recs.iter()
                .map(|&(ago, r)| Recommendation {
                    at: -ago,
                    replicas: r,
                })
                .collect(),
            &[],
        );
        let mut steps = vec![];
        let (out, why) = c.normalize_with_behaviors(0.0, current, desired, &mut steps);
        let expected_reason = if expected == 4 {
            "ScaleUpStabilized"
        } else {
            reason
        };
        assert_eq!(
            (out, why.as_str()),
            (expected, expected_reason),
            "{recs:?} {current} {desired}"
        );
    }
}

/// A full sync: without behavior a scale-up is capped at max(2 x current, 4), and the
/// controller remembers its recommendations between syncs.
#[test]
fn controller_syncs() {
    let mut c = HpaController::new(spec(1, 100, None), 300.0);
    let pods = cpu_pods(2, &[ONE; 2], &[1000, 1000]);
    let d = c.sync(0.0, 2, &pods, &MetricInputs::default());
    assert_eq!(
        (d.desired, d.limited_by.as_str()),
        (4, "DesiredWithinRange")
    );
    // Low load right after: the 5-minute window holds the count up.
    let pods = cpu_pods(4, &[ONE; 4], &[100, 100, 100, 100]);
    let d = c.sync(15.0, 4, &pods, &MetricInputs::default());
    assert_eq!(
        (d.desired, d.limited_by.as_str()),
        (4, "ScaleDownStabilized")
    );
    let d = c.sync(15.0 + 301.0, 4, &pods, &MetricInputs::default());
    assert_eq!(d.desired, 1);
    // A burst: 1 pod at 400% wants 8, but without behavior at most max(2 x 1, 4) = 4.
    let pods = cpu_pods(1, &[ONE], &[4000]);
    let d = c.sync(400.0, 1, &pods, &MetricInputs::default());
    assert_eq!((d.desired, d.limited_by.as_str()), (4, "ScaleUpLimit"));
}

/// All metrics failing keeps the count (upstream returns an error and does not scale).
#[test]
fn failed_metrics_keep_count() {
    let mut c = HpaController::new(spec(1, 100, None), 300.0);
    let pods = cpu_pods(2, &[], &[500, 500]);
    let d = c.sync(0.0, 2, &pods, &MetricInputs::default());
    assert_eq!(
        (d.desired, d.limited_by.as_str()),
        (2, "FailedComputeMetricsReplicas")
    );
    assert!(
        d.steps
            .iter()
            .any(|s| s.contains("missing request for cpu")),
        "{:?}",
        d.steps
    );
}

#[test]
fn quantities() {
    assert_eq!(parse_quantity("500m"), Ok(500));
    assert_eq!(parse_quantity("0.6"), Ok(600));
    assert_eq!(parse_quantity("2k"), Ok(2_000_000));
    assert_eq!(parse_quantity("1Gi"), Ok(1024 * 1024 * 1024 * 1000));
    assert_eq!(parse_quantity("1e3"), Ok(1_000_000));
    assert_eq!(parse_quantity("1n"), Ok(1)); // rounds up, as MilliValue does
    assert_eq!(parse_quantity("-1"), Ok(-1000));
    assert!(parse_quantity("ten").is_err());
    assert!(parse_quantity("1Zi").is_err());
}

#[test]
fn validation_messages() {
    let yaml = "hpa:\n  minReplicas: 3\n  maxReplicas: 2\n  metrics:\n    - type: Resource\n      resource: {name: cpu, targetAverageUtilization: 60}\n    - type: Pods\n  behavior:\n    scaleUp: {policies: [{type: Pods, value: 1, periodSeconds: 3600}], stabilizationWindowSeconds: 4000}\ncurrentReplicas: 1\n";
    let s: Snapshot = serde_saphyr::from_str(yaml).unwrap();
    let errs: Vec<String> = validate(&s.hpa)
        .iter()
        .map(|e| format!("{}: {}", e.path, e.message))
        .collect();
    let all = errs.join("\n");
    for want in [
        "maxReplicas: must be greater than or equal to `minReplicas`",
        "metrics[0].resource.targetAverageUtilization: `targetAverageUtilization` is an autoscaling/v2beta1 field; in autoscaling/v2 write `target: {type: Utilization, averageUtilization: 60}`",
        "metrics[1].pods: Required value: must populate information for the given metric source",
        "behavior.scaleUp.policies[0].periodSeconds: must be less than or equal to 1800",
        "behavior.scaleUp.stabilizationWindowSeconds: must be less than or equal to 3600",
    ] {
        assert!(all.contains(want), "missing {want:?} in\n{all}");
    }
}

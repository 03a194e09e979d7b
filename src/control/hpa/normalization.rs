//! Normalization of the largest proposal (horizontal.go): the stabilization windows, then the
//! legacy limits (`convertDesiredReplicasWithRules`) or the `behavior` policies
//! (`convertDesiredReplicasWithBehaviorRate`), then `minReplicas..=maxReplicas`.

use super::controller::{HpaController, Recommendation};
use super::defaults::{Policy, Rules, SelectPolicy};

/// `convertDesiredReplicasWithRules`: the legacy limits (no `behavior`).
pub fn convert_desired_with_rules(
    current: i32,
    desired: i32,
    min: i32,
    max: i32,
) -> (i32, &'static str) {
    let scale_up_limit = (2.0 * f64::from(current)).max(4.0) as i32;
    let (max_allowed, reason) = if max > scale_up_limit {
        (scale_up_limit, "ScaleUpLimit")
    } else {
        (max, "TooManyReplicas")
    };
    if desired < min {
        (min, "TooFewReplicas")
    } else if desired > max_allowed {
        (max_allowed, reason)
    } else {
        (desired, "DesiredWithinRange")
    }
}

/// A past scale event: when (seconds, on the controller's clock) and how many pods.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScaleEvent {
    /// Time of the event.
    pub at: f64,
    /// Pods added (scale-up list) or removed (scale-down list), positive.
    pub change: i32,
}

fn change_in_period(events: &[ScaleEvent], now: f64, period: i32) -> i32 {
    events
        .iter()
        .filter(|e| now - e.at < f64::from(period))
        .map(|e| e.change)
        .sum()
}

/// `calculateScaleUpLimitWithScalingRules`: the highest count the policies allow, and the
/// policy that set it (`None` when scaling up is disabled).
pub fn scale_up_limit(
    current: i32,
    up_events: &[ScaleEvent],
    down_events: &[ScaleEvent],
    rules: &Rules,
    now: f64,
) -> (i32, Option<Policy>) {
    if rules.select == SelectPolicy::Disabled {
        return (current, None);
    }
    let mut best: Option<(i32, Policy)> = None;
    for p in &rules.policies {
        let start = current - change_in_period(up_events, now, p.period_seconds)
            + change_in_period(down_events, now, p.period_seconds);
        let proposed = if p.percent {
            (f64::from(start) * (1.0 + f64::from(p.value) / 100.0)).ceil() as i32
        } else {
            start + p.value
        };
        let better = match (best, rules.select) {
            (None, _) => true,
            (Some((b, _)), SelectPolicy::Min) => proposed < b,
            (Some((b, _)), _) => proposed > b,
        };
        if better {
            best = Some((proposed, *p));
        }
    }
    match best {
        Some((v, p)) => (v, Some(p)),
        None => (current, None),
    }
}

/// `calculateScaleDownLimitWithBehaviors`: the lowest count the policies allow, and the
/// policy that set it (`None` when scaling down is disabled).
pub fn scale_down_limit(
    current: i32,
    up_events: &[ScaleEvent],
    down_events: &[ScaleEvent],
    rules: &Rules,
    now: f64,
) -> (i32, Option<Policy>) {
    if rules.select == SelectPolicy::Disabled {
        return (current, None);
    }
    let mut best: Option<(i32, Policy)> = None;
    for p in &rules.policies {
        let start = current - change_in_period(up_events, now, p.period_seconds)
            + change_in_period(down_events, now, p.period_seconds);
        let proposed = if p.percent {
            // Go's int32(float) truncates towards zero.
            (f64::from(start) * (1.0 - f64::from(p.value) / 100.0)) as i32
        } else {
            start - p.value
        };
        let better = match (best, rules.select) {
            (None, _) => true,
            (Some((b, _)), SelectPolicy::Min) => proposed > b,
            (Some((b, _)), _) => proposed < b,
        };
        if better {
            best = Some((proposed, *p));
        }
    }
    match best {
        Some((v, p)) => (v, Some(p)),
        None => (current, None),
    }
}

/// Arguments of [`convert_with_behavior_rate`].
#[derive(Clone, Copy, Debug)]
pub struct RateArgs<'a> {
    /// Current replicas.
    pub current: i32,
    /// Desired (stabilized) replicas.
    pub desired: i32,
    /// minReplicas.
    pub min: i32,
    /// maxReplicas.
    pub max: i32,
    /// Scale-up rules.
    pub up: &'a Rules,
    /// Scale-down rules.
    pub down: &'a Rules,
    /// Past scale-ups.
    pub up_events: &'a [ScaleEvent],
    /// Past scale-downs.
    pub down_events: &'a [ScaleEvent],
    /// Now, on the events' clock.
    pub now: f64,
}

/// `convertDesiredReplicasWithBehaviorRate`: returns the count, upstream's reason and a line
/// of explanation.
pub fn convert_with_behavior_rate(a: RateArgs) -> (i32, &'static str, String) {
    if a.desired > a.current {
        let (mut limit, policy) =
            scale_up_limit(a.current, a.up_events, a.down_events, a.up, a.now);
        // Events still in their periods may push the limit below the current count.
        limit = limit.max(a.current);
        let (allowed, reason) = if a.max > limit {
            (limit, "ScaleUpLimit")
        } else {
            (a.max, "TooManyReplicas")
        };
        if a.desired > allowed {
            let why = match (reason, policy) {
                ("ScaleUpLimit", Some(p)) => format!(
                    "scale-up policies (selectPolicy {:?}) allow at most {allowed}, set by {p}",
                    a.up.select
                ),
                ("ScaleUpLimit", None) => "scale-up is disabled (selectPolicy Disabled)".into(),
                _ => format!("capped at maxReplicas {allowed}"),
            };
            return (allowed, reason, why);
        }
    } else if a.desired < a.current {
        let (mut limit, policy) =
            scale_down_limit(a.current, a.up_events, a.down_events, a.down, a.now);
        limit = limit.min(a.current);
        let (allowed, reason) = if a.min < limit {
            (limit, "ScaleDownLimit")
        } else {
            (a.min, "TooFewReplicas")
        };
        if a.desired < allowed {
            let why = match (reason, policy) {
                ("ScaleDownLimit", Some(p)) => format!(
                    "scale-down policies (selectPolicy {:?}) allow at least {allowed}, set by {p}",
                    a.down.select
                ),
                ("ScaleDownLimit", None) => "scale-down is disabled (selectPolicy Disabled)".into(),
                _ => format!("raised to minReplicas {allowed}"),
            };
            return (allowed, reason, why);
        }
    }
    (
        a.desired,
        "DesiredWithinRange",
        "the desired count is within the acceptable range".into(),
    )
}

// The controller's normalization steps: stabilization over its recorded recommendations, then
// the limits above.
impl HpaController {
    /// `normalizeDesiredReplicas` (no `behavior`).
    pub(super) fn normalize(
        &mut self,
        now: f64,
        current: i32,
        desired: i32,
        steps: &mut Vec<String>,
    ) -> (i32, String) {
        let window = self.cfg.downscale_stabilization;
        let stabilized = self
            .recommendations
            .iter()
            .filter(|r| now - r.at <= window)
            .map(|r| r.replicas)
            .fold(desired, i32::max);
        self.prune(now);
        self.recommendations.push(Recommendation {
            at: now,
            replicas: desired,
        });
        let mut reason = "DesiredWithinRange".to_string();
        if stabilized != desired {
            steps.push(format!(
                "ScaleDownStabilized: the highest recommendation of the last {}s is {stabilized}",
                window
            ));
            reason = "ScaleDownStabilized".into();
        }
        let (out, cond) = convert_desired_with_rules(
            current,
            stabilized,
            self.spec.min_replicas,
            self.spec.max_replicas,
        );
        if out != stabilized {
            let why = match cond {
                "ScaleUpLimit" => format!(
                    "without behavior a scale-up goes to at most max(2 x {current}, 4) = {out}"
                ),
                "TooManyReplicas" => format!("capped at maxReplicas {out}"),
                _ => format!("raised to minReplicas {out}"),
            };
            steps.push(format!("{cond}: {why}"));
            reason = cond.into();
        }
        (out, reason)
    }

    /// `normalizeDesiredReplicasWithBehaviors`.
    pub(super) fn normalize_with_behaviors(
        &mut self,
        now: f64,
        current: i32,
        desired: i32,
        steps: &mut Vec<String>,
    ) -> (i32, String) {
        let (upw, downw) = (self.up_rules.window_seconds, self.down_rules.window_seconds);
        let mut up_rec = desired;
        let mut down_rec = desired;
        for r in &self.recommendations {
            if now - r.at < upw {
                up_rec = up_rec.min(r.replicas);
            }
            if now - r.at < downw {
                down_rec = down_rec.max(r.replicas);
            }
        }
        let stabilized = current.max(up_rec).min(down_rec);
        self.prune(now);
        self.recommendations.push(Recommendation {
            at: now,
            replicas: desired,
        });
        let mut reason = "DesiredWithinRange".to_string();
        if stabilized != desired {
            let (r, text) = if desired >= current {
                (
                    "ScaleUpStabilized",
                    format!("the lowest recommendation of the last {upw}s is {up_rec}"),
                )
            } else {
                (
                    "ScaleDownStabilized",
                    format!("the highest recommendation of the last {downw}s is {down_rec}"),
                )
            };
            steps.push(format!("{r}: {text}; stabilized to {stabilized}"));
            reason = r.into();
        }
        let (out, cond, why) = convert_with_behavior_rate(RateArgs {
            current,
            desired: stabilized,
            min: self.spec.min_replicas,
            max: self.spec.max_replicas,
            up: &self.up_rules,
            down: &self.down_rules,
            up_events: &self.scale_up_events,
            down_events: &self.scale_down_events,
            now,
        });
        if out != stabilized {
            steps.push(format!("{cond}: {why}"));
            reason = cond.into();
        }
        (out, reason)
    }
}

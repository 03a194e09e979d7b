//! Probability distributions as scenario files write them, and their compiled samplers.
//!
//! One distribution type serves two unit contexts, told apart by a marker type:
//!
//! - [`Dist<Secs>`]: durations with units (`service_time: {exponential: {mean: 10ms}}`,
//!   think times); values are seconds as `f64`.
//! - [`Dist<Count>`]: plain non-negative numbers (`prompt_tokens: {lognormal: {mean: 512,
//!   sd: 256}}`, `output_tokens: {fixed: 128}`).
//!
//! YAML shapes (`X` is a duration such as `10ms` for [`Secs`], a plain number for [`Count`]):
//!
//! ```yaml
//! {fixed: X}
//! {exponential: {mean: X}}
//! {uniform: {min: X, max: X}}
//! {normal: {mean: X, sd: X}}              # truncated at 0 by resampling; needs mean >= 0
//! {lognormal: {mean: X, sd: X}}           # mean and sd of the variable itself, not of its log
//! {gamma: {shape: 2, scale: X}}           # or {gamma: {mean: X, sd: X}}
//! {pareto: {scale: X, shape: 2.5}}        # x_m and alpha
//! {empirical: {file: lat.csv, column: latency_ms, unit: ms}}   # unit: Secs only, default s
//! {choice: {1: 0.7, 2: 0.1, 4: 0.15, 8: 0.05}}   # value: probability; probabilities sum to 1
//! ```
//!
//! A scenario is parsed into a [`Dist`], checked with [`Dist::check`] and compiled with
//! [`Dist::compile`] into a [`Sampler`], which the simulator draws from.

use crate::engine::{SimRng, SimTime};
use crate::error::FieldError;
use crate::units::{MAX_DURATION_SECS, parse_duration};
use rand::RngExt;
use rand_distr::{Distribution, Exp1, StandardNormal};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::fmt;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;

/// The unit context of a distribution's parameters: how they are written and their limits.
pub trait Quantity: Copy + fmt::Debug + PartialEq + 'static {
    /// The largest value a parameter may take.
    const LIMIT: f64;
    /// [`Quantity::LIMIT`] as error messages name it.
    const LIMIT_TEXT: &'static str;
    /// Parses one parameter as the scenario writes it (text, or a number rendered as text).
    fn parse(text: &str) -> Result<f64, String>;
    /// Renders a value for messages, in the way the scenario would write it.
    fn show(v: f64) -> String;
    /// The factor that turns a value of an empirical CSV column into this quantity, given
    /// the distribution's `unit` field.
    fn csv_scale(unit: Option<&str>) -> Result<f64, String>;
}

/// Durations: written with units (`250ms`, `90s`), held in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Secs;

/// Plain non-negative numbers such as token counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Count;

/// Seconds in a simulated time, correctly rounded (`10ms` is exactly the `f64` nearest 0.01).
fn secs_of(t: SimTime) -> f64 {
    t.nanos() as f64 / 1e9
}

impl Quantity for Secs {
    const LIMIT: f64 = MAX_DURATION_SECS;
    const LIMIT_TEXT: &'static str = "10 years";
    fn parse(text: &str) -> Result<f64, String> {
        parse_duration(text).map(secs_of)
    }
    fn show(v: f64) -> String {
        if v.is_finite() && (0.0..=Self::LIMIT).contains(&v) {
            SimTime::from_secs_f64(v).to_string()
        } else {
            format!("{v}s")
        }
    }
    fn csv_scale(unit: Option<&str>) -> Result<f64, String> {
        let Some(u) = unit else { return Ok(1.0) };
        match parse_duration(&format!("1{}", u.trim())) {
            Ok(t) if !u.trim().is_empty() => Ok(secs_of(t)),
            _ => Err(format!(
                "empirical: unknown unit `{u}`: use ns, us, ms, s, m, h or d"
            )),
        }
    }
}

impl Quantity for Count {
    const LIMIT: f64 = 1e9;
    const LIMIT_TEXT: &'static str = "1e9";
    fn parse(text: &str) -> Result<f64, String> {
        text.trim()
            .parse::<f64>()
            .map_err(|_| format!("expected a plain number such as `512`, found `{text}`"))
    }
    fn show(v: f64) -> String {
        format!("{v}")
    }
    fn csv_scale(unit: Option<&str>) -> Result<f64, String> {
        match unit {
            None => Ok(1.0),
            Some(_) => {
                Err("empirical: `unit` applies only to durations; counts are plain numbers".into())
            }
        }
    }
}

/// One distribution parameter in the unit context `U` (seconds for [`Secs`]).
///
/// Deserializing never range-checks beyond what the unit syntax needs: [`Dist::check`] does,
/// so that the message can name the distribution and the parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Q<U>(pub f64, PhantomData<U>);

impl<U> Q<U> {
    /// A parameter of value `v` (seconds for [`Secs`]).
    pub const fn new(v: f64) -> Self {
        Q(v, PhantomData)
    }
}

impl<'de, U: Quantity> Deserialize<'de> for Q<U> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<U>(PhantomData<U>);
        impl<U: Quantity> Visitor<'_> for V<U> {
            type Value = Q<U>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as `10ms` or a plain number such as `512`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Q<U>, E> {
                U::parse(v).map(Q::new).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Q<U>, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Q<U>, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Q<U>, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A distribution as a scenario writes it; see the [module docs](self) for the YAML shapes.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields, bound = "")]
pub enum Dist<U: Quantity> {
    /// Always the same value: `{fixed: 128}`.
    Fixed(Q<U>),
    /// Exponential: `{exponential: {mean: 10ms}}`.
    Exponential {
        /// The mean (positive).
        mean: Q<U>,
    },
    /// Uniform on `[min, max]`: `{uniform: {min: 5ms, max: 15ms}}`.
    Uniform {
        /// The lower end.
        min: Q<U>,
        /// The upper end (at least `min`).
        max: Q<U>,
    },
    /// Normal truncated at zero by resampling (a negative draw is drawn again), so the
    /// compiled [`Sampler::mean`] is that of the truncated distribution, slightly above `mean`
    /// when `sd` is not small against `mean`. `mean >= 0` keeps resampling under 2 draws.
    Normal {
        /// The mean of the untruncated normal (zero or positive).
        mean: Q<U>,
        /// The standard deviation of the untruncated normal.
        sd: Q<U>,
    },
    /// Lognormal given by the mean and standard deviation of the variable itself (not of
    /// its logarithm): `{lognormal: {mean: 512, sd: 256}}`.
    Lognormal {
        /// The mean (positive).
        mean: Q<U>,
        /// The standard deviation.
        sd: Q<U>,
    },
    /// Gamma, given either by `shape` and `scale` (`{gamma: {shape: 2, scale: 5ms}}`) or by
    /// `mean` and `sd` (`{gamma: {mean: 10ms, sd: 5ms}}`), never a mix of the two.
    Gamma {
        /// The shape k (positive, no unit).
        shape: Option<f64>,
        /// The scale θ (positive); the mean is k·θ.
        scale: Option<Q<U>>,
        /// The mean (positive), with `sd`.
        mean: Option<Q<U>>,
        /// The standard deviation (positive), with `mean`.
        sd: Option<Q<U>>,
    },
    /// Pareto (type I): `P(X > x) = (scale/x)^shape` for `x >= scale`. The mean is finite
    /// only for `shape > 1` and the variance only for `shape > 2`.
    Pareto {
        /// The minimum value x_m (positive).
        scale: Q<U>,
        /// The tail index α (positive, no unit).
        shape: f64,
    },
    /// A uniform pick among the values of one column of a CSV file with a header row.
    /// Empty cells are skipped; other cells must be non-negative numbers.
    Empirical {
        /// The CSV file, relative to the scenario's directory.
        file: String,
        /// The header of the column to read.
        column: String,
        /// For durations: the unit of the column's values (`ms`, `s`, ...), default `s`.
        /// Refused for counts.
        #[serde(default)]
        unit: Option<String>,
    },
    /// A pick among listed values with given probabilities, which sum to 1:
    /// `{choice: {1: 0.7, 8: 0.3}}` (keys are values as the unit writes them: `30m` for
    /// durations).
    Choice(std::collections::BTreeMap<String, f64>),
}

/// Most values of one `choice` distribution.
pub const MAX_CHOICES: usize = 10_000;

/// An error about parameter `name` of `family` (`exponential.mean`).
fn param_error(family: &str, name: &str, message: String) -> FieldError {
    FieldError::new(format!("{family}.{name}"), message)
}

/// Checks one parameter: finite, non-negative, within the limit of its unit.
fn param<U: Quantity>(family: &str, name: &str, v: f64) -> Result<(), FieldError> {
    if !v.is_finite() {
        return Err(param_error(
            family,
            name,
            format!("{family}: {name} must be a finite number, found {v}"),
        ));
    }
    if v < 0.0 {
        return Err(param_error(
            family,
            name,
            format!("{family}: {name} ({}) must not be negative", U::show(v)),
        ));
    }
    if v > U::LIMIT {
        return Err(param_error(
            family,
            name,
            format!(
                "{family}: {name} ({}) is above the limit of {}",
                U::show(v),
                U::LIMIT_TEXT
            ),
        ));
    }
    Ok(())
}

/// [`param`], and not zero.
fn positive<U: Quantity>(family: &str, name: &str, v: f64) -> Result<(), FieldError> {
    param::<U>(family, name, v)?;
    if v == 0.0 {
        return Err(param_error(
            family,
            name,
            format!("{family}: {name} must be positive"),
        ));
    }
    Ok(())
}

/// A shape parameter: no unit, finite and positive.
fn shape_param(family: &str, v: f64) -> Result<(), FieldError> {
    if !v.is_finite() || v <= 0.0 {
        return Err(param_error(
            family,
            "shape",
            format!("{family}: shape must be a positive number, found {v}"),
        ));
    }
    Ok(())
}

impl<U: Quantity> Dist<U> {
    /// The family's name as the scenario writes it (`exponential`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Dist::Fixed(_) => "fixed",
            Dist::Exponential { .. } => "exponential",
            Dist::Uniform { .. } => "uniform",
            Dist::Normal { .. } => "normal",
            Dist::Lognormal { .. } => "lognormal",
            Dist::Gamma { .. } => "gamma",
            Dist::Pareto { .. } => "pareto",
            Dist::Empirical { .. } => "empirical",
            Dist::Choice(_) => "choice",
        }
    }

    /// Checks every parameter: finite, non-negative, within the unit's limit (10 years for
    /// durations, 1e9 for counts), `min <= max`, positive means and shapes where the family
    /// needs them. The message names the family and the parameter, and so does the error's
    /// field where the value has it written (`uniform.min`). An empirical distribution's file
    /// is read only by [`Dist::compile`].
    pub fn check(&self) -> Result<(), FieldError> {
        let f = self.name();
        match self {
            Dist::Fixed(v) => param::<U>(f, "value", v.0),
            Dist::Exponential { mean } => positive::<U>(f, "mean", mean.0),
            Dist::Uniform { min, max } => {
                param::<U>(f, "min", min.0)?;
                param::<U>(f, "max", max.0)?;
                if min.0 > max.0 {
                    return Err(param_error(
                        f,
                        "min",
                        format!(
                            "{f}: min ({}) is larger than max ({})",
                            U::show(min.0),
                            U::show(max.0)
                        ),
                    ));
                }
                Ok(())
            }
            Dist::Normal { mean, sd } => {
                param::<U>(f, "mean", mean.0)?;
                param::<U>(f, "sd", sd.0)
            }
            Dist::Lognormal { mean, sd } => {
                positive::<U>(f, "mean", mean.0)?;
                param::<U>(f, "sd", sd.0)
            }
            Dist::Gamma {
                shape,
                scale,
                mean,
                sd,
            } => gamma_shape_scale(*shape, *scale, *mean, *sd).map(|_| ()),
            Dist::Pareto { scale, shape } => {
                positive::<U>(f, "scale", scale.0)?;
                shape_param(f, *shape)
            }
            Dist::Empirical { file, column, unit } => {
                if file.trim().is_empty() {
                    return Err(param_error(
                        f,
                        "file",
                        format!("{f}: file must not be empty"),
                    ));
                }
                if column.trim().is_empty() {
                    return Err(param_error(
                        f,
                        "column",
                        format!("{f}: column must not be empty"),
                    ));
                }
                U::csv_scale(unit.as_deref())
                    .map(|_| ())
                    .map_err(FieldError::whole)
            }
            Dist::Choice(map) => choice_values::<U>(map).map(|_| ()),
        }
    }

    /// Checks the distribution and builds its sampler. An empirical distribution reads its
    /// CSV file here, relative to `base_dir`; errors in it are about the value as a whole.
    pub fn compile(&self, base_dir: &Path) -> Result<Sampler, FieldError> {
        self.check()?;
        Ok(match self {
            Dist::Fixed(v) => Sampler::with(Kind::Fixed(v.0), v.0, 0.0),
            Dist::Exponential { mean } => Sampler::with(Kind::Exponential(mean.0), mean.0, 1.0),
            Dist::Uniform { min, max } => {
                let (a, b) = (min.0, max.0);
                let mean = 0.5 * (a + b);
                let var = (b - a) * (b - a) / 12.0;
                Sampler::with(
                    Kind::Uniform {
                        min: a,
                        width: b - a,
                    },
                    mean,
                    scv(mean, var),
                )
            }
            Dist::Normal { mean, sd } => {
                let (m, v) = truncated_normal_moments(mean.0, sd.0);
                Sampler::with(
                    Kind::Normal {
                        mean: mean.0,
                        sd: sd.0,
                    },
                    m,
                    scv(m, v),
                )
            }
            Dist::Lognormal { mean, sd } => {
                let (mu, sigma) = lognormal_params(mean.0, sd.0);
                let c = sd.0 / mean.0;
                Sampler::with(Kind::Lognormal { mu, sigma }, mean.0, c * c)
            }
            Dist::Gamma {
                shape,
                scale,
                mean,
                sd,
            } => {
                let (k, theta) = gamma_shape_scale(*shape, *scale, *mean, *sd)?;
                let g = rand_distr::Gamma::new(k, theta)
                    .map_err(|e| FieldError::whole(format!("gamma: {e}")))?;
                Sampler::with(Kind::Gamma(g), k * theta, 1.0 / k)
            }
            Dist::Pareto { scale, shape } => {
                let (xm, a) = (scale.0, *shape);
                let p = rand_distr::Pareto::new(xm, a)
                    .map_err(|e| FieldError::whole(format!("pareto: {e}")))?;
                let mean = if a > 1.0 {
                    a * xm / (a - 1.0)
                } else {
                    f64::INFINITY
                };
                let c2 = if a > 2.0 {
                    1.0 / (a * (a - 2.0))
                } else {
                    f64::INFINITY
                };
                Sampler::with(Kind::Pareto(p), mean, c2)
            }
            Dist::Empirical { file, column, unit } => {
                let scale = U::csv_scale(unit.as_deref()).map_err(FieldError::whole)?;
                let values = read_column::<U>(&base_dir.join(file), column, scale)
                    .map_err(FieldError::whole)?;
                let n = values.len() as f64;
                let mean = values.iter().sum::<f64>() / n;
                // Population variance: the sampler picks exactly these values uniformly.
                let var = values.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
                Sampler::with(Kind::Empirical(values.into()), mean, scv(mean, var))
            }
            Dist::Choice(map) => {
                let pairs = choice_values::<U>(map)?;
                let mean: f64 = pairs.iter().map(|(v, p)| v * p).sum();
                let var: f64 = pairs.iter().map(|(v, p)| p * (v - mean) * (v - mean)).sum();
                // Cumulative probabilities, the last exactly 1 so that every draw lands.
                let mut acc = 0.0;
                let mut table: Vec<(f64, f64)> = pairs
                    .iter()
                    .map(|&(v, p)| {
                        acc += p;
                        (acc, v)
                    })
                    .collect();
                if let Some(last) = table.last_mut() {
                    last.0 = 1.0;
                }
                Sampler::with(Kind::Choice(table.into()), mean, scv(mean, var))
            }
        })
    }
}

/// The values and probabilities of a `choice`, in increasing order of value, checked: each
/// key a valid value of the unit, each probability in [0, 1], their sum 1 (within 1e-6).
fn choice_values<U: Quantity>(
    map: &std::collections::BTreeMap<String, f64>,
) -> Result<Vec<(f64, f64)>, FieldError> {
    let f = "choice";
    if map.is_empty() {
        return Err(FieldError::whole("choice: list at least one value"));
    }
    if map.len() > MAX_CHOICES {
        return Err(FieldError::whole(format!(
            "choice: {} values is above the limit of {MAX_CHOICES}",
            map.len()
        )));
    }
    let mut pairs = Vec::with_capacity(map.len());
    for (key, &p) in map {
        let v = U::parse(key).map_err(|e| param_error(f, key, format!("choice: {e}")))?;
        param::<U>(f, key, v)?;
        if !p.is_finite() || !(0.0..=1.0).contains(&p) {
            return Err(param_error(
                f,
                key,
                format!("choice: the probability of {key} must be in [0, 1], found {p}"),
            ));
        }
        pairs.push((v, p));
    }
    let sum: f64 = pairs.iter().map(|x| x.1).sum();
    if (sum - 1.0).abs() > 1e-6 {
        return Err(FieldError::whole(format!(
            "choice: the probabilities must sum to 1, they sum to {sum}"
        )));
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    if pairs.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(FieldError::whole(
            "choice: two keys name the same value".to_string(),
        ));
    }
    Ok(pairs)
}

/// Shape and scale of a gamma distribution from either way of writing it, checked.
fn gamma_shape_scale<U: Quantity>(
    shape: Option<f64>,
    scale: Option<Q<U>>,
    mean: Option<Q<U>>,
    sd: Option<Q<U>>,
) -> Result<(f64, f64), FieldError> {
    let f = "gamma";
    let (k, theta) = match (shape, scale, mean, sd) {
        (Some(k), Some(theta), None, None) => {
            shape_param(f, k)?;
            positive::<U>(f, "scale", theta.0)?;
            (k, theta.0)
        }
        (None, None, Some(m), Some(s)) => {
            positive::<U>(f, "mean", m.0)?;
            positive::<U>(f, "sd", s.0)?;
            // k = m²/s², θ = s²/m.
            let cv = s.0 / m.0;
            (1.0 / (cv * cv), s.0 * cv)
        }
        _ => {
            return Err(FieldError::whole(format!(
                "{f}: give either `shape` and `scale` or `mean` and `sd` \
                     (e.g. {{gamma: {{shape: 2, scale: 5ms}}}} or {{gamma: {{mean: 10ms, sd: 5ms}}}})"
            )));
        }
    };
    let m = k * theta;
    if !m.is_finite() || m > U::LIMIT || !theta.is_finite() || theta <= 0.0 || k <= 0.0 {
        return Err(FieldError::whole(format!(
            "{f}: the mean (shape × scale = {}) is outside the limit of {}",
            U::show(m),
            U::LIMIT_TEXT
        )));
    }
    Ok((k, theta))
}

/// Var/mean², zero for a distribution concentrated at zero.
fn scv(mean: f64, var: f64) -> f64 {
    if mean == 0.0 {
        0.0
    } else {
        var / (mean * mean)
    }
}

/// μ and σ of the underlying normal of a lognormal with the given mean and sd:
/// σ² = ln(1 + sd²/mean²), μ = ln(mean) − σ²/2.
fn lognormal_params(mean: f64, sd: f64) -> (f64, f64) {
    let c = sd / mean;
    let s2 = (c * c).ln_1p();
    (mean.ln() - 0.5 * s2, s2.sqrt())
}

/// Mean and variance of N(mu, sd²) truncated to [0, ∞) (mu >= 0):
/// with α = −mu/sd, Z = 1 − Φ(α), λ = φ(α)/Z: mean = mu + sd·λ, var = sd²(1 + αλ − λ²).
fn truncated_normal_moments(mu: f64, sd: f64) -> (f64, f64) {
    if sd == 0.0 {
        return (mu, 0.0);
    }
    let alpha = -mu / sd;
    let z = 1.0 - 0.5 * erfc(-alpha / std::f64::consts::SQRT_2);
    let phi = (-0.5 * alpha * alpha).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let lambda = phi / z;
    let var = sd * sd * (1.0 + alpha * lambda - lambda * lambda);
    (mu + sd * lambda, var.max(0.0))
}

/// The complementary error function for x >= 0, to about 1e-14 absolute: the Maclaurin series
/// of erf below 2.5 and the Laplace continued fraction of erfc above.
fn erfc(x: f64) -> f64 {
    debug_assert!(x >= 0.0);
    if x < 2.5 {
        // erf(x) = 2/√π Σ (−1)^n x^(2n+1) / (n! (2n+1))
        let x2 = x * x;
        let mut term = x; // (−1)^n x^(2n+1)/n!
        let mut sum = x;
        let mut n = 0.0;
        while term.abs() > 1e-17 * sum.abs().max(1e-300) {
            n += 1.0;
            term *= -x2 / n;
            sum += term / (2.0 * n + 1.0);
        }
        1.0 - sum * std::f64::consts::FRAC_2_SQRT_PI
    } else {
        // erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), from the tail.
        let mut f = x;
        for k in (1..=120).rev() {
            f = x + (k as f64 * 0.5) / f;
        }
        (-x * x).exp() / std::f64::consts::PI.sqrt() / f
    }
}

/// Reads the non-empty cells of `column` in a CSV file with a header row, times `scale`.
fn read_column<U: Quantity>(path: &Path, column: &str, scale: f64) -> Result<Vec<f64>, String> {
    let mut file = super::datafile::DataFile::open(path, "empirical")?;
    let shown = file.shown.clone();
    let headers = file.headers()?;
    let Some(col) = headers.iter().position(|h| h == column) else {
        let names: Vec<&str> = headers.iter().collect();
        return Err(format!(
            "empirical: {shown} has no column `{column}` (columns: {})",
            names.join(", ")
        ));
    };
    let mut values = Vec::new();
    let mut rec = csv::StringRecord::new();
    while file.next_row(&mut rec)? {
        let line = rec.position().map_or(0, |p| p.line());
        let cell = rec.get(col).unwrap_or("");
        if cell.is_empty() {
            continue;
        }
        let v: f64 = cell.parse().map_err(|_| {
            format!(
                "empirical: {shown}: line {line}: `{cell}` in column `{column}` is not a number"
            )
        })?;
        if !v.is_finite() || v < 0.0 {
            return Err(format!(
                "empirical: {shown}: line {line}: `{cell}` in column `{column}` is not a \
                 finite non-negative number"
            ));
        }
        let v = v * scale;
        if v > U::LIMIT {
            return Err(format!(
                "empirical: {shown}: line {line}: `{cell}` in column `{column}` is above the \
                 limit of {}",
                U::LIMIT_TEXT
            ));
        }
        values.push(v);
    }
    if values.is_empty() {
        return Err(format!(
            "empirical: {shown}: column `{column}` has no values"
        ));
    }
    Ok(values)
}

/// An exponential draw of mean `mean`.
#[inline(always)]
fn exponential(mean: f64, rng: &mut SimRng) -> f64 {
    let e: f64 = Exp1.sample(rng);
    mean * e
}

/// How a [`Sampler`] draws: one variant per family, parameters precomputed.
#[derive(Clone, Debug)]
enum Kind {
    Fixed(f64),
    Exponential(f64),
    Uniform { min: f64, width: f64 },
    Normal { mean: f64, sd: f64 },
    Lognormal { mu: f64, sigma: f64 },
    Gamma(rand_distr::Gamma<f64>),
    Pareto(rand_distr::Pareto<f64>),
    // Shared so that cloning a sampler per replication does not copy the column.
    Empirical(Arc<[f64]>),
    // (cumulative probability, value), cumulative increasing to exactly 1.
    Choice(Arc<[(f64, f64)]>),
}

/// A compiled distribution: draws values and knows its exact mean and SCV.
///
/// Values are seconds for a [`Dist<Secs>`] and plain numbers for a [`Dist<Count>`]; the
/// sampler does not remember which, so use [`Sampler::sample_time`] only for the former and
/// [`Sampler::sample_count`] only for the latter. Cloning is cheap.
#[derive(Clone, Debug)]
pub struct Sampler {
    kind: Kind,
    mean: f64,
    scv: f64,
}

impl Sampler {
    fn with(kind: Kind, mean: f64, scv: f64) -> Sampler {
        Sampler { kind, mean, scv }
    }

    /// One draw (seconds for durations), never negative.
    #[inline(always)]
    pub fn sample(&self, rng: &mut SimRng) -> f64 {
        // The exponential (M/M/c service times) is drawn in the caller; the other families
        // in a function of their own, so that the common draw costs no call and no jump table.
        if let Kind::Exponential(mean) = self.kind {
            return exponential(mean, rng);
        }
        self.sample_other(rng)
    }

    /// One draw of any family (the exponential too, for completeness).
    #[inline(never)]
    fn sample_other(&self, rng: &mut SimRng) -> f64 {
        match &self.kind {
            Kind::Fixed(v) => *v,
            Kind::Exponential(mean) => exponential(*mean, rng),
            Kind::Uniform { min, width } => min + width * rng.random::<f64>(),
            Kind::Normal { mean, sd } => {
                if *sd == 0.0 {
                    return *mean;
                }
                // Resampling: P(accept) = Φ(mean/sd) >= 1/2 since mean >= 0.
                loop {
                    let z: f64 = StandardNormal.sample(rng);
                    let x = mean + sd * z;
                    if x >= 0.0 {
                        return x;
                    }
                }
            }
            Kind::Lognormal { mu, sigma } => {
                let z: f64 = StandardNormal.sample(rng);
                (mu + sigma * z).exp()
            }
            Kind::Gamma(g) => g.sample(rng),
            Kind::Pareto(p) => p.sample(rng),
            Kind::Empirical(values) => values[rng.random_range(0..values.len())],
            Kind::Choice(table) => {
                let u: f64 = rng.random::<f64>();
                let i = table.partition_point(|&(c, _)| c <= u).min(table.len() - 1);
                table[i].1
            }
        }
    }

    /// One draw of a duration distribution as simulated time: seconds to nanoseconds,
    /// rounded. A heavy-tailed draw beyond the 10-year limit is clamped to it, so that the
    /// clock never saturates.
    #[inline]
    pub fn sample_time(&self, rng: &mut SimRng) -> SimTime {
        SimTime::from_secs_f64(self.sample(rng).min(MAX_DURATION_SECS))
    }

    /// One draw of a count distribution, rounded to the nearest integer and clamped to
    /// `0..=u32::MAX`.
    #[inline]
    pub fn sample_count(&self, rng: &mut SimRng) -> u32 {
        let v = self.sample(rng).round();
        if v >= u32::MAX as f64 {
            u32::MAX
        } else {
            v.max(0.0) as u32
        }
    }

    /// The exact mean of the draws: of the truncated distribution for `normal`, of the
    /// column's values for `empirical`, infinite for `pareto` with shape <= 1.
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// The exact squared coefficient of variation Var/mean² of the draws (as the
    /// Pollaczek–Khinchine formula wants it): 0 for `fixed`, 1 for `exponential`, 1/k for
    /// `gamma`, sd²/mean² for `lognormal`, that of the truncated distribution for `normal`,
    /// 1/(α(α−2)) for `pareto` (infinite for α <= 2), the population SCV of the values for
    /// `empirical`; 0 when the mean is 0.
    pub fn scv(&self) -> f64 {
        self.scv
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::stream;

    fn secs(yaml: &str) -> Dist<Secs> {
        serde_saphyr::from_str(yaml).unwrap()
    }
    fn count(yaml: &str) -> Dist<Count> {
        serde_saphyr::from_str(yaml).unwrap()
    }

    /// Sample mean and SCV of `n` draws.
    fn moments(s: &Sampler, n: usize, seed: u64) -> (f64, f64) {
        let mut rng = stream(seed, 0, "dist-test");
        let (mut sum, mut sum2) = (0.0, 0.0);
        for _ in 0..n {
            let x = s.sample(&mut rng);
            sum += x;
            sum2 += x * x;
        }
        let m = sum / n as f64;
        let var = sum2 / n as f64 - m * m;
        (m, var / (m * m))
    }

    /// Mean and SCV of 2e6 draws within 1% of the closed forms (the parameters are chosen
    /// so that 1% is beyond 3 standard errors of both estimators).
    fn assert_moments(s: &Sampler, mean: f64, scv: f64) {
        assert!(
            (s.mean() - mean).abs() <= 1e-12 * mean,
            "{} vs {mean}",
            s.mean()
        );
        assert!(
            (s.scv() - scv).abs() <= 1e-12 * scv.max(1e-300),
            "{} vs {scv}",
            s.scv()
        );
        let (m, c) = moments(s, 2_000_000, 7);
        assert!((m / mean - 1.0).abs() < 0.01, "mean {m} vs {mean}");
        if scv > 0.0 {
            assert!((c / scv - 1.0).abs() < 0.01, "scv {c} vs {scv}");
        } else {
            assert!(c.abs() < 1e-12, "scv {c}");
        }
    }

    fn compile<U: Quantity>(d: &Dist<U>) -> Sampler {
        d.compile(Path::new(".")).unwrap()
    }

    #[test]
    fn parses_the_spec_shapes() {
        assert_eq!(count("{fixed: 128}"), Dist::Fixed(Q::new(128.0)));
        assert_eq!(
            secs("{exponential: {mean: 10ms}}"),
            Dist::Exponential { mean: Q::new(0.01) }
        );
        assert_eq!(
            count("{lognormal: {mean: 512, sd: 256}}"),
            Dist::Lognormal {
                mean: Q::new(512.0),
                sd: Q::new(256.0)
            }
        );
        assert_eq!(
            secs("{gamma: {shape: 2, scale: 5ms}}"),
            Dist::Gamma {
                shape: Some(2.0),
                scale: Some(Q::new(0.005)),
                mean: None,
                sd: None
            }
        );
        assert!(matches!(
            secs("{empirical: {file: a.csv, column: x, unit: ms}}"),
            Dist::Empirical { unit: Some(u), .. } if u == "ms"
        ));
        assert_eq!(secs("{pareto: {scale: 1s, shape: 2.5}}").name(), "pareto");
        // Units are required for durations, refused for counts; unknown fields are errors.
        assert!(serde_saphyr::from_str::<Dist<Secs>>("{fixed: 5}").is_err());
        assert!(serde_saphyr::from_str::<Dist<Count>>("{fixed: 5ms}").is_err());
        assert!(serde_saphyr::from_str::<Dist<Secs>>("{exponential: {mean: 1s, sd: 1s}}").is_err());
        assert!(serde_saphyr::from_str::<Dist<Secs>>("{weibull: {shape: 1}}").is_err());
    }

    #[test]
    fn fixed_exponential_uniform() {
        assert_moments(&compile(&count("{fixed: 128}")), 128.0, 0.0);
        assert_moments(&compile(&secs("{exponential: {mean: 10ms}}")), 0.01, 1.0);
        assert_moments(
            &compile(&count("{uniform: {min: 2, max: 6}}")),
            4.0,
            16.0 / 12.0 / 16.0,
        );
    }

    #[test]
    fn truncated_normal() {
        // Half-normal: mean σ√(2/π), var σ²(1 − 2/π).
        let s = compile(&count("{normal: {mean: 0, sd: 3}}"));
        let pi = std::f64::consts::PI;
        let m = 3.0 * (2.0 / pi).sqrt();
        assert_moments(&s, m, 9.0 * (1.0 - 2.0 / pi) / (m * m));
        // Truncation cuts off 2.3% here; the closed form must see it.
        let s = compile(&secs("{normal: {mean: 10ms, sd: 5ms}}"));
        assert!(s.mean() > 0.01 * 1.005);
        let (m, c) = moments(&s, 2_000_000, 3);
        assert!((m / s.mean() - 1.0).abs() < 0.01 && (c / s.scv() - 1.0).abs() < 0.01);
        assert_moments(&s, s.mean(), s.scv());
        // Far from zero it is the plain normal.
        let s = compile(&count("{normal: {mean: 100, sd: 10}}"));
        assert!((s.mean() - 100.0).abs() < 1e-9 && (s.scv() - 0.01).abs() < 1e-9);
    }

    #[test]
    fn erfc_matches_reference_values() {
        for (x, want) in [
            (0.0, 1.0),
            (0.5, 0.479_500_122_186_953_5),
            (1.0, 0.157_299_207_050_285_1),
            (2.0, 0.004_677_734_981_047_266),
            (2.5, 0.000_406_952_017_444_959),
            (3.0, 2.209_049_699_858_544e-5),
            (5.0, 1.537_459_794_428_035e-12),
        ] {
            let got = erfc(x);
            assert!(
                (got - want).abs() <= 1e-14 + 1e-12 * want,
                "erfc({x}) = {got}"
            );
        }
    }

    #[test]
    fn lognormal_conversion_is_exact() {
        let (mu, sigma) = lognormal_params(512.0, 256.0);
        assert!((sigma * sigma - 1.25f64.ln()).abs() < 1e-15);
        assert!((mu - (512f64.ln() - 0.5 * 1.25f64.ln())).abs() < 1e-13);
        // Back again: E = exp(μ + σ²/2), SCV = exp(σ²) − 1.
        assert!(((mu + 0.5 * sigma * sigma).exp() - 512.0).abs() < 1e-9);
        assert!(((sigma * sigma).exp() - 1.0 - 0.25).abs() < 1e-15);
        assert_moments(
            &compile(&count("{lognormal: {mean: 512, sd: 256}}")),
            512.0,
            0.25,
        );
        let s = compile(&count("{lognormal: {mean: 512, sd: 0}}"));
        assert_eq!(s.sample(&mut stream(1, 0, "x")), 512.0f64.ln().exp());
    }

    #[test]
    fn gamma_both_ways() {
        assert_moments(
            &compile(&secs("{gamma: {shape: 2, scale: 5ms}}")),
            0.01,
            0.5,
        );
        assert_moments(
            &compile(&secs("{gamma: {mean: 10ms, sd: 5ms}}")),
            0.01,
            0.25,
        );
        assert_moments(
            &compile(&count("{gamma: {shape: 0.5, scale: 4}}")),
            2.0,
            2.0,
        );
    }

    #[test]
    fn pareto() {
        // α = 10: the fourth moment is finite, so the SCV estimate settles.
        let s = compile(&secs("{pareto: {scale: 1s, shape: 10}}"));
        assert_moments(&s, 10.0 / 9.0, 1.0 / 80.0);
        let s = compile(&secs("{pareto: {scale: 1s, shape: 2}}"));
        assert_eq!((s.mean(), s.scv()), (2.0, f64::INFINITY));
        let s = compile(&secs("{pareto: {scale: 1s, shape: 0.5}}"));
        assert_eq!(s.mean(), f64::INFINITY);
        // Heavy draws are clamped to the 10-year limit in simulated time.
        let mut rng = stream(1, 0, "p");
        let max = (0..100_000).map(|_| s.sample_time(&mut rng)).max().unwrap();
        assert!(max <= SimTime::from_secs_f64(MAX_DURATION_SECS));
    }

    fn err<U: Quantity>(d: Dist<U>) -> String {
        d.check().unwrap_err().message
    }

    #[test]
    fn check_names_the_parameter() {
        let field = |d: Dist<Count>| d.check().unwrap_err().field;
        assert_eq!(field(count("{uniform: {min: 5, max: 2}}")), "uniform.min");
        assert_eq!(field(count("{exponential: {mean: 0}}")), "exponential.mean");
        assert_eq!(field(count("{gamma: {shape: 2}}")), "");
        let e = err(count("{uniform: {min: 5, max: 2}}"));
        assert_eq!(e, "uniform: min (5) is larger than max (2)");
        let e = err(secs("{uniform: {min: 5s, max: 2s}}"));
        assert_eq!(e, "uniform: min (5s) is larger than max (2s)");
        assert!(err(count("{fixed: -1}")).contains("value (-1) must not be negative"));
        assert!(err(Dist::<Count>::Fixed(Q::new(f64::NAN))).contains("finite"));
        assert!(err(count("{fixed: 2e9}")).contains("limit of 1e9"));
        assert!(err(count("{exponential: {mean: 0}}")).contains("mean must be positive"));
        assert!(err(count("{normal: {mean: -1, sd: 1}}")).contains("normal: mean (-1)"));
        assert!(err(count("{lognormal: {mean: 5, sd: -1}}")).contains("lognormal: sd (-1)"));
        assert!(err(count("{gamma: {shape: 2}}")).contains("either `shape` and `scale`"));
        assert!(err(count("{gamma: {shape: 2, scale: 1, mean: 2}}")).contains("either"));
        assert!(err(count("{gamma: {shape: 0, scale: 1}}")).contains("shape must be a positive"));
        assert!(err(count("{gamma: {mean: 10, sd: 0}}")).contains("sd must be positive"));
        assert!(err(count("{gamma: {shape: 1e6, scale: 1e6}}")).contains("limit of 1e9"));
        assert!(err(count("{pareto: {scale: 1, shape: -2}}")).contains("shape"));
        assert!(err(count("{pareto: {scale: 0, shape: 2}}")).contains("scale must be positive"));
        let e = err(Dist::<Secs>::Exponential {
            mean: Q::new(MAX_DURATION_SECS * 2.0),
        });
        assert!(e.contains("limit of 10 years"), "{e}");
        assert!(
            err(count("{empirical: {file: a.csv, column: x, unit: ms}}"))
                .contains("only to durations")
        );
        assert!(
            err(secs("{empirical: {file: a.csv, column: x, unit: parsecs}}"))
                .contains("unknown unit")
        );
        assert!(err(secs("{empirical: {file: '', column: x}}")).contains("file"));
        assert!(secs("{normal: {mean: 0s, sd: 0s}}").check().is_ok());
    }

    /// A fresh directory under the system temp directory for one test.
    fn temp_dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("capsim-dist-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn empirical_reads_a_csv_column() {
        let dir = temp_dir("emp");
        std::fs::write(
            dir.join("lat.csv"),
            "id,latency_ms,other\n1, 10,x\n2,20,\n3,,y\n4,30,z\n",
        )
        .unwrap();
        let d = secs("{empirical: {file: lat.csv, column: latency_ms, unit: ms}}");
        let s = d.compile(&dir).unwrap();
        assert!((s.mean() - 0.02).abs() < 1e-15);
        let var = (0.01f64.powi(2) + 0.0 + 0.01f64.powi(2)) / 3.0;
        assert!((s.scv() - var / 0.0004).abs() < 1e-12);
        let mut rng = stream(3, 0, "emp");
        let mut seen = [0usize; 3];
        for _ in 0..30_000 {
            let t = s.sample_time(&mut rng);
            seen[(t.nanos() / 10_000_000 - 1) as usize] += 1;
        }
        assert!(
            seen.iter().all(|&n| (9_000..11_000).contains(&n)),
            "{seen:?}"
        );
        // Count context: plain numbers, no unit.
        let s = count("{empirical: {file: lat.csv, column: latency_ms}}")
            .compile(&dir)
            .unwrap();
        assert_eq!(s.mean(), 20.0);

        let e = secs("{empirical: {file: lat.csv, column: nope}}")
            .compile(&dir)
            .unwrap_err()
            .message;
        assert!(
            e.contains("lat.csv") && e.contains("no column `nope`") && e.contains("latency_ms"),
            "{e}"
        );
        let e = secs("{empirical: {file: missing.csv, column: x}}")
            .compile(&dir)
            .unwrap_err()
            .message;
        assert!(e.contains("missing.csv"), "{e}");
        std::fs::write(dir.join("bad.csv"), "x\n1\nabc\n").unwrap();
        let e = count("{empirical: {file: bad.csv, column: x}}")
            .compile(&dir)
            .unwrap_err()
            .message;
        assert!(
            e.contains("bad.csv") && e.contains("line 3") && e.contains("`abc`"),
            "{e}"
        );
        std::fs::write(dir.join("neg.csv"), "x\n1\n-2\n").unwrap();
        let e = count("{empirical: {file: neg.csv, column: x}}")
            .compile(&dir)
            .unwrap_err()
            .message;
        assert!(e.contains("line 3") && e.contains("non-negative"), "{e}");
        std::fs::write(dir.join("empty.csv"), "x,y\n,1\n").unwrap();
        let e = count("{empirical: {file: empty.csv, column: x}}")
            .compile(&dir)
            .unwrap_err()
            .message;
        assert!(e.contains("no values"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn same_seed_same_sequence() {
        for d in [
            "{exponential: {mean: 10ms}}",
            "{normal: {mean: 10ms, sd: 8ms}}",
            "{lognormal: {mean: 10ms, sd: 8ms}}",
            "{gamma: {shape: 0.3, scale: 8ms}}",
            "{pareto: {scale: 1ms, shape: 1.5}}",
            "{uniform: {min: 1ms, max: 8ms}}",
        ] {
            let s = compile(&secs(d));
            let draw = |seed| {
                let mut rng = stream(seed, 2, "svc");
                (0..1000)
                    .map(|_| s.sample_time(&mut rng))
                    .collect::<Vec<_>>()
            };
            assert_eq!(draw(11), draw(11), "{d}");
            assert_ne!(draw(11), draw(12), "{d}");
        }
    }

    #[test]
    fn counts_round_and_clamp() {
        let s = compile(&count("{fixed: 127.6}"));
        assert_eq!(s.sample_count(&mut stream(1, 0, "c")), 128);
        let s = compile(&count("{pareto: {scale: 1e9, shape: 0.01}}"));
        let mut rng = stream(1, 0, "c");
        assert!((0..1000).any(|_| s.sample_count(&mut rng) == u32::MAX));
    }
}

//! The `sweep:` block's expansion into points (its serde shape is a file type, in
//! [`crate::scenario::sweep`]).
//!
//! Serde only checks the outline (`mode` is `cartesian` or `zip`, `grid` is a mapping, no
//! unknown fields), so those mistakes get the usual located messages. The axes themselves are
//! read from the located tree, because each value must be re-applied to the scenario as a
//! `--set` assignment and every error must point at the grid entry it comes from.

use crate::report::fmt_num;
pub use crate::scenario::sweep::{GridKeys, SweepMode, SweepSpec};
use crate::scenario::yaml::{Key, Loc, Located, Node, suggest};
use crate::scenario::{InputErrors, LoadError};

/// Most points one sweep may have; beyond it a typo in a range (`step: 0.0001`) would
/// silently queue days of simulation.
pub const MAX_POINTS: usize = 100_000;

/// One value of an axis: the text re-applied as `path=yaml`, and the text shown in sweep.csv.
#[derive(Debug, Clone, PartialEq)]
pub struct AxisValue {
    /// YAML text of the value, read back exactly by `apply_override`.
    pub yaml: String,
    /// The value as shown in the sweep.csv column (a string without its quotes).
    pub display: String,
}

/// One swept path and its values.
#[derive(Debug, Clone)]
pub struct Axis {
    /// The path as written in the grid (also the sweep.csv column header).
    pub path: String,
    /// Where the grid entry was written.
    pub loc: Loc,
    /// The values, in order.
    pub values: Vec<AxisValue>,
}

impl Axis {
    /// The `--set` assignment for value `i`.
    pub fn assignment(&self, i: usize) -> String {
        format!("{}={}", self.path, self.values[i].yaml)
    }
}

/// An error at `loc` about the grid entry `path`.
fn err(file: &str, loc: Loc, path: &str, message: impl Into<String>) -> LoadError {
    LoadError {
        file: file.to_string(),
        line: loc.line,
        col: loc.col,
        field: if path.is_empty() {
            "sweep.grid".to_string()
        } else {
            format!("sweep.grid.{path}")
        },
        message: message.into(),
    }
}

/// Reads the axes of the `sweep:` block of `root` and checks the point count.
///
/// Returns the axes and the number of points. Only the shape of each value is checked here;
/// whether a path exists and a value fits is checked by applying it (see `super::Sweep`).
pub fn read_axes(
    file: &str,
    root: &Located,
    mode: SweepMode,
) -> Result<(Vec<Axis>, usize), InputErrors> {
    let Some(sweep) = root.get("sweep") else {
        return Err(LoadError {
            file: file.to_string(),
            line: 1,
            col: 1,
            field: "sweep".into(),
            message: "the scenario has no `sweep:` block; add one with a `grid:` of dotted paths \
                      and values, e.g. `sweep: {grid: {services.web.replicas: [1, 2, 4]}}`"
                .into(),
        }
        .into());
    };
    let grid = sweep.get("grid").unwrap_or(sweep);
    // Errors about the whole grid point at its `grid:` key.
    let grid_loc = match &sweep.node {
        Node::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.name == "grid")
            .map_or(sweep.loc, |(k, _)| k.loc),
        _ => sweep.loc,
    };
    let Node::Map(entries) = &grid.node else {
        return Err(err(file, grid.loc, "", "expected a mapping of paths to values").into());
    };
    if entries.is_empty() {
        return Err(err(
            file,
            grid_loc,
            "",
            "the grid is empty: give at least one path",
        )
        .into());
    }
    let mut errors = Vec::new();
    let mut axes = Vec::new();
    for (key, value) in entries {
        match read_axis(file, key, value) {
            Ok(a) => axes.push(a),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(InputErrors(errors));
    }
    let count = match mode {
        SweepMode::Cartesian => axes
            .iter()
            .try_fold(1usize, |n, a| n.checked_mul(a.values.len()))
            .filter(|&n| n <= MAX_POINTS),
        SweepMode::Zip => {
            let n = axes[0].values.len();
            for a in &axes[1..] {
                if a.values.len() != n {
                    errors.push(err(
                        file,
                        a.loc,
                        &a.path,
                        format!(
                            "mode `zip` needs the same number of values for every path: `{}` has {}, \
                             `{}` has {}",
                            axes[0].path,
                            n,
                            a.path,
                            a.values.len()
                        ),
                    ));
                }
            }
            if !errors.is_empty() {
                return Err(InputErrors(errors));
            }
            Some(n)
        }
    };
    let Some(count) = count else {
        let sizes: Vec<String> = axes.iter().map(|a| a.values.len().to_string()).collect();
        // In u128 so that the total of even absurd grids is shown rather than wrapped.
        let total = axes
            .iter()
            .try_fold(1u128, |n, a| n.checked_mul(a.values.len() as u128))
            .map_or_else(|| "too many".to_string(), |n| n.to_string());
        return Err(err(
            file,
            grid_loc,
            "",
            format!(
                "the grid has {} = {total} points, over the limit of {MAX_POINTS} points per \
                 sweep; use fewer values or split it into several sweeps",
                sizes.join(" x ")
            ),
        )
        .into());
    };
    Ok((axes, count))
}

/// Reads one grid entry: a list of values, `{from, to, step}` or `{from, to, points}`.
fn read_axis(file: &str, key: &Key, value: &Located) -> Result<Axis, LoadError> {
    let path = key.name.as_str();
    let here = |loc: Loc, m: String| err(file, loc, path, m);
    let values = match &value.node {
        Node::Seq(items) => {
            if items.is_empty() {
                return Err(here(value.loc, "the list of values is empty".into()));
            }
            if items.len() > MAX_POINTS {
                return Err(here(
                    value.loc,
                    format!(
                        "{} values, over the limit of {MAX_POINTS} points per sweep",
                        items.len()
                    ),
                ));
            }
            items.iter().map(listed).collect()
        }
        Node::Map(fields) => range(file, path, value.loc, fields)?,
        _ => {
            return Err(here(
                value.loc,
                "expected a list of values (`[1, 2, 4]`), a range (`{from: 1, to: 8, step: 1}`) \
                 or a log range (`{from: 1/s, to: 100/s, points: 5}`)"
                    .into(),
            ));
        }
    };
    Ok(Axis {
        path: path.to_string(),
        loc: key.loc,
        values,
    })
}

/// A value written in a list, as YAML text that reads back to the same node.
fn listed(item: &Located) -> AxisValue {
    let yaml = flow(&item.node);
    let display = match &item.node {
        Node::Str(s) => s.clone(),
        _ => yaml.clone(),
    };
    AxisValue { yaml, display }
}

/// YAML flow text of a node. Strings are written double-quoted the way JSON writes them
/// (valid YAML), so `"4"` stays a string and `10/s` is not read as anything else.
fn flow(node: &Node) -> String {
    match node {
        Node::Null => String::new(),
        Node::Bool(b) => b.to_string(),
        Node::Int(i) => i.to_string(),
        // Debug keeps a decimal point or exponent, so the text reads back as a float.
        Node::Float(f) => format!("{f:?}"),
        Node::Str(s) => quote(s),
        Node::Seq(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|i| match i.node {
                    Node::Null => "null".to_string(),
                    ref n => flow(n),
                })
                .collect();
            format!("[{}]", parts.join(", "))
        }
        Node::Map(entries) => {
            let parts: Vec<String> = entries
                .iter()
                .map(|(k, v)| {
                    let v = match v.node {
                        Node::Null => "null".to_string(),
                        ref n => flow(n),
                    };
                    format!("{}: {v}", quote(&k.name))
                })
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

/// A number as written in a range bound: `8`, `0.5`, `10/s`, `250ms`.
#[derive(Debug, Clone, Copy)]
struct Quantity<'a> {
    value: f64,
    unit: &'a str,
    integer: bool,
}

/// Reads a leading number and keeps the rest as its unit (`1200/min` is 1200 and `/min`).
fn quantity(node: &Node) -> Option<Quantity<'_>> {
    match node {
        Node::Int(i) => Some(Quantity {
            value: *i as f64,
            unit: "",
            integer: true,
        }),
        Node::Float(f) => Some(Quantity {
            value: *f,
            unit: "",
            integer: false,
        }),
        Node::Str(s) => {
            let s = s.trim();
            // The longest prefix made of number characters that parses as a number.
            let end = s
                .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
                .unwrap_or(s.len());
            (1..=end).rev().find_map(|n| {
                let num = &s[..n];
                let value: f64 = num.parse().ok()?;
                value.is_finite().then_some(Quantity {
                    value,
                    unit: &s[n..],
                    integer: num
                        .bytes()
                        .all(|b| b.is_ascii_digit() || b == b'-' || b == b'+'),
                })
            })
        }
        _ => None,
    }
}

/// A number for a message: in scientific notation with four figures at most where plain
/// digits would run long (`1.776e-15`, `1e16`).
fn readable(x: f64) -> String {
    if x != 0.0 && (x.abs() < 1e-4 || x.abs() >= 1e9) {
        let text = format!("{x:.3e}");
        match text.split_once('e') {
            Some((mantissa, exp)) if mantissa.contains('.') => {
                let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
                format!("{mantissa}e{exp}")
            }
            _ => text,
        }
    } else {
        fmt_num(x)
    }
}

/// Expands `{from, to, step}` (linear) or `{from, to, points}` (log-spaced).
fn range(
    file: &str,
    path: &str,
    loc: Loc,
    fields: &[(Key, Located)],
) -> Result<Vec<AxisValue>, LoadError> {
    const NAMES: [&str; 4] = ["from", "to", "step", "points"];
    let here = |loc: Loc, m: String| err(file, loc, path, m);
    for (k, _) in fields {
        if !NAMES.contains(&k.name.as_str()) {
            let hint = suggest(&k.name, &NAMES)
                .map(|s| format!("did you mean `{s}`? "))
                .unwrap_or_default();
            return Err(here(
                k.loc,
                format!(
                    "unknown range field `{}`; {hint}a range has `from`, `to` and either `step` \
                     (linear) or `points` (log-spaced)",
                    k.name
                ),
            ));
        }
    }
    let get = |name: &str| fields.iter().find(|(k, _)| k.name == name).map(|(_, v)| v);
    let bound = |name: &str| -> Result<(Quantity<'_>, Loc), LoadError> {
        let node = get(name).ok_or_else(|| here(loc, format!("the range has no `{name}`")))?;
        let q = quantity(&node.node).ok_or_else(|| {
            here(
                node.loc,
                format!("`{name}` must be a number, optionally with a unit (`8`, `10/s`, `250ms`)"),
            )
        })?;
        Ok((q, node.loc))
    };
    let (from, _) = bound("from")?;
    let (to, to_loc) = bound("to")?;
    if from.unit != to.unit {
        return Err(here(
            to_loc,
            format!(
                "`from` and `to` must have the same unit: `{}` and `{}`",
                from.unit, to.unit
            ),
        ));
    }
    let unit = from.unit;
    let value = |x: f64, integer: bool| {
        let text = if integer {
            format!("{}", x.round() as i64)
        } else {
            fmt_num(x)
        };
        let text = format!("{text}{unit}");
        AxisValue {
            // A bare number reads back as a number, one with a unit as a string.
            yaml: if unit.is_empty() {
                text.clone()
            } else {
                quote(&text)
            },
            display: text,
        }
    };
    let too_many = |n: f64, at: Loc| {
        here(
            at,
            format!(
                "the range has {} values, over the limit of {MAX_POINTS} points per sweep",
                crate::units::fmt_count(n)
            ),
        )
    };
    match (get("step"), get("points")) {
        (Some(_), Some(p)) => Err(here(
            p.loc,
            "give either `step` (linear) or `points` (log-spaced), not both".into(),
        )),
        (None, None) => Err(here(
            loc,
            "the range needs `step` (linear) or `points` (log-spaced)".into(),
        )),
        (Some(_), None) => {
            let (step, step_loc) = bound("step")?;
            if !step.unit.is_empty() && step.unit != unit {
                return Err(here(
                    step_loc,
                    format!("`step` must have the unit of `from` and `to` (`{unit}`)"),
                ));
            }
            if step.value <= 0.0 {
                return Err(here(step_loc, "`step` must be greater than 0".into()));
            }
            if to.value < from.value {
                return Err(here(
                    to_loc,
                    "`to` must be at least `from` (list the values to go down)".into(),
                ));
            }
            // A step the numbers of the range cannot resolve would repeat values.
            let resolution = from.value.abs().max(to.value.abs()) * f64::EPSILON;
            if step.value < resolution {
                return Err(here(
                    step_loc,
                    format!(
                        "`step` ({}) is below what numbers near {} can resolve (about {}): the \
                         values would repeat; use a larger step",
                        readable(step.value),
                        readable(from.value.abs().max(to.value.abs())),
                        readable(resolution)
                    ),
                ));
            }
            // The small tolerance keeps `to` when rounding leaves it a hair past the last step.
            let n = ((to.value - from.value) / step.value * (1.0 + 1e-12) + 1e-9).floor() + 1.0;
            if n > MAX_POINTS as f64 {
                return Err(here(
                    step_loc,
                    format!(
                        "the range from {} to {} by {} has {} values, over the limit of \
                         {MAX_POINTS} points per sweep; use a larger step",
                        readable(from.value),
                        readable(to.value),
                        readable(step.value),
                        crate::units::fmt_count(n)
                    ),
                ));
            }
            let integer = from.integer && to.integer && step.integer;
            // Each value from the start (not by accumulation), so errors do not add up.
            Ok((0..n as usize)
                .map(|i| value(from.value + i as f64 * step.value, integer))
                .collect())
        }
        (None, Some(p)) => {
            let points = match p.node {
                Node::Int(n) if n >= 1 => n as usize,
                _ => {
                    return Err(here(
                        p.loc,
                        "`points` must be a whole number of values, at least 1".into(),
                    ));
                }
            };
            if points > MAX_POINTS {
                return Err(too_many(points as f64, p.loc));
            }
            if from.value <= 0.0 || to.value <= 0.0 {
                return Err(here(
                    loc,
                    "a log range (`points`) needs `from` and `to` greater than 0".into(),
                ));
            }
            // Integer bounds without a unit (replicas, batch sizes) give integer values;
            // rounding can make neighbours equal, and a repeated point would be wasted.
            let integer = from.integer && to.integer && unit.is_empty();
            let ratio = to.value / from.value;
            let mut out: Vec<AxisValue> = Vec::with_capacity(points);
            for i in 0..points {
                let x = if points == 1 {
                    from.value
                } else if i == points - 1 {
                    to.value
                } else {
                    from.value * ratio.powf(i as f64 / (points - 1) as f64)
                };
                let v = value(x, integer);
                if out.last() != Some(&v) {
                    out.push(v);
                }
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::yaml::parse;

    fn axes(text: &str) -> Result<Vec<Vec<String>>, String> {
        let root = parse("t.yaml", text.as_bytes()).map_err(|e| e.to_string())?;
        read_axes("t.yaml", &root, SweepMode::Cartesian)
            .map(|(a, _)| {
                a.iter()
                    .map(|a| a.values.iter().map(|v| v.display.clone()).collect())
                    .collect()
            })
            .map_err(|e| e.to_string())
    }

    #[test]
    fn lists_ranges_and_log_ranges() {
        let a = axes(
            "sweep:\n  grid:\n    a: [1, 2.5, x, \"4\"]\n    b: {from: 1, to: 7, step: 3}\n    \
             c: {from: 1/s, to: 100/s, points: 5}\n    d: {from: 1, to: 64, points: 7}\n    \
             e: {from: 0.1, to: 0.3, step: 0.1}\n",
        )
        .unwrap();
        assert_eq!(a[0], ["1", "2.5", "x", "4"]);
        assert_eq!(a[1], ["1", "4", "7"]);
        assert_eq!(a[2], ["1/s", "3.16228/s", "10/s", "31.6228/s", "100/s"]);
        assert_eq!(a[3], ["1", "2", "4", "8", "16", "32", "64"]);
        assert_eq!(a[4], ["0.1", "0.2", "0.3"]);
    }

    #[test]
    fn list_values_read_back_as_written() {
        let root = parse(
            "t.yaml",
            b"sweep:\n  grid:\n    a: [1, 2.0, x, \"4\", true, {k: v}]\n",
        )
        .unwrap();
        let (a, _) = read_axes("t.yaml", &root, SweepMode::Zip).unwrap();
        let yaml: Vec<&str> = a[0].values.iter().map(|v| v.yaml.as_str()).collect();
        assert_eq!(
            yaml,
            ["1", "2.0", "\"x\"", "\"4\"", "true", "{\"k\": \"v\"}"]
        );
    }

    #[test]
    fn bad_grids_are_refused_with_their_place() {
        let e = axes("sweep:\n  grid:\n    a: {from: 1, to: 5, stp: 1}\n").unwrap_err();
        assert!(
            e.contains("t.yaml:3:25") && e.contains("did you mean `step`"),
            "{e}"
        );
        let e = axes("sweep:\n  grid:\n    a: {from: 1s, to: 5m, step: 1s}\n").unwrap_err();
        assert!(e.contains("same unit"), "{e}");
        let e = axes("sweep:\n  grid:\n    a: {from: 0, to: 1, step: 0.000001}\n").unwrap_err();
        assert!(e.contains("100000 points"), "{e}");
        let e = axes(
            "sweep:\n  grid:\n    a: {from: 1, to: 1000, step: 1}\n    b: {from: 1, to: 1000, step: 1}\n",
        )
        .unwrap_err();
        assert!(e.contains("1000 x 1000") && e.contains("t.yaml:2:3"), "{e}");
        let e = axes("sweep:\n  grid:\n    a: 5\n").unwrap_err();
        assert!(e.contains("t.yaml:3:8: sweep.grid.a"), "{e}");
    }
}

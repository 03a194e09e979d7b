//! `capsim sweep`.

use super::Outcome;
use crate::sweep::{self, Shard};
use clap::Args;
use std::path::PathBuf;

/// Arguments of `capsim sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The scenario file, with a `sweep:` block.
    pub scenario: PathBuf,
    /// Output folder (default: results/<scenario name>-sweep/, or
    /// results/<scenario name>-sweep-shard-I-of-N/ with --shard). Points already in it are
    /// not run again.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Run only shard I of N (I from 0): the points whose index (from 0) modulo N is I.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Print every point's summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Overrides applied to the scenario before the grid (recorded in sweep.json: shards
    /// merge only when run with the same ones).
    #[command(flatten)]
    pub overrides: super::Overrides,
}

pub(super) fn run(args: SweepArgs) -> anyhow::Result<Outcome> {
    let sw = sweep::load_file_with(&args.scenario, &args.overrides.to_list())?;
    let dir = args.out.clone().unwrap_or_else(|| {
        let name = match args.shard {
            Some(s) if s.count > 1 => format!("{}-sweep-shard-{}-of-{}", sw.name, s.index, s.count),
            _ => format!("{}-sweep", sw.name),
        };
        PathBuf::from("results").join(name)
    });
    let done = sweep::run(&sw, &dir, args.shard, true)?;
    if !done.saturated.is_empty() {
        eprintln!(
            "note: in {} point{} a service could not keep up with its load ({}); \
             its latencies describe a growing queue",
            done.saturated.len(),
            if done.saturated.len() == 1 { "" } else { "s" },
            sweep::points_name(&done.saturated, sw.points),
        );
    }
    if args.json {
        let columns: Vec<String> = sw.axes.iter().map(|a| a.path.clone()).collect();
        let points: Vec<serde_json::Value> = done
            .points
            .iter()
            .zip(&done.rows)
            .map(|(&i, rows)| sweep::output::point_json(i, &columns, rows))
            .collect();
        let json = serde_json::json!({
            "scenario": sw.name,
            "points": sw.points,
            "shard": args.shard.filter(|s| s.count > 1).map(|s| s.to_string()),
            "simulated": done.simulated,
            "reused": done.points.len() - done.simulated,
            "results": points,
        });
        super::emitln(&serde_json::to_string_pretty(&json)?);
    } else {
        let reused = done.points.len() - done.simulated;
        super::emitln(&format!(
            "{}: {} of {} points{} ({} simulated, {} already done)\nresults written to {}/",
            sw.name,
            done.points.len(),
            sw.points,
            args.shard
                .filter(|s| s.count > 1)
                .map(|s| format!(" in shard {s}"))
                .unwrap_or_default(),
            done.simulated,
            reused,
            dir.display()
        ));
    }
    Ok(Outcome::Ok)
}

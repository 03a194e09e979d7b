//! `capsim merge`.

use super::Outcome;
use clap::Args;
use std::path::PathBuf;

/// Arguments of `capsim merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Output folders of the shards of one sweep (`capsim sweep --shard I/N --out DIR`).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where to write the merged sweep (exactly what an unsharded sweep writes).
    #[arg(long)]
    pub out: PathBuf,
}

pub(super) fn run(args: MergeArgs) -> anyhow::Result<Outcome> {
    let merged = crate::sweep::merge(&args.dirs, &args.out)?;
    super::emitln(&format!(
        "{}: {} points merged from {} folders\nresults written to {}/",
        merged.manifest.scenario,
        merged.manifest.points,
        args.dirs.len(),
        args.out.display()
    ));
    Ok(Outcome::Ok)
}

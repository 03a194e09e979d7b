//! `capsim hpa explain`: one HPA decision from a snapshot, with its reasoning.

use super::Outcome;
use crate::control::hpa::{self, Snapshot};
use crate::scenario::{InputErrors, LoadError, yaml};
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `capsim hpa` subcommands.
#[derive(Debug, Subcommand)]
pub enum HpaCommand {
    /// Decide once from a snapshot, exactly as the Kubernetes HPA controller would.
    Explain(ExplainArgs),
}

/// Arguments of `capsim hpa explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The snapshot file (its format: docs/autoscaling.md#hpa-snapshot-files).
    pub snapshot: PathBuf,
    /// Print `{"desiredReplicas", "metrics", "limitedBy", "steps"}` as JSON.
    #[arg(long)]
    pub json: bool,
}

pub(super) fn run(cmd: HpaCommand) -> anyhow::Result<Outcome> {
    let HpaCommand::Explain(args) = cmd;
    let file = args.snapshot.display().to_string();
    let place = |field: &str, message: String| LoadError::unplaced(file.clone(), field, message);
    // Read one byte past the limit at most, so that a snapshot named `/dev/zero` is refused
    // rather than read forever.
    let mut bytes = Vec::new();
    std::fs::File::open(&args.snapshot)
        .and_then(|f| {
            let limit = yaml::MAX_FILE_BYTES as u64 + 1;
            std::io::Read::read_to_end(&mut std::io::Read::take(f, limit), &mut bytes)
        })
        .map_err(|e| InputErrors(vec![place("", format!("cannot read the snapshot: {e}"))]))?;
    if bytes.len() > yaml::MAX_FILE_BYTES {
        return Err(InputErrors(vec![place(
            "",
            format!(
                "the snapshot is larger than the 16 MiB limit ({} bytes) for snapshot files",
                yaml::MAX_FILE_BYTES
            ),
        )])
        .into());
    }
    let (snapshot, tree) = yaml::load_document::<Snapshot>(&file, &bytes, &[], "snapshot")
        .map_err(|e| InputErrors(vec![e]))?;
    let mut errors: Vec<LoadError> = hpa::validate(&snapshot.hpa)
        .into_iter()
        .map(|e| yaml::error_at(&file, &tree, &format!("hpa.{}", e.path), e.message))
        .collect();
    errors.extend(
        snapshot
            .check()
            .into_iter()
            .map(|e| yaml::error_at(&file, &tree, &e.path, e.message)),
    );
    if !errors.is_empty() {
        return Err(InputErrors(errors).into());
    }
    // A snapshot from which no count can be computed (no samples, no requests) is incomplete
    // input: exit 2, pointing at the pods.
    let decision = hpa::explain(&snapshot)
        .map_err(|e| InputErrors(vec![yaml::error_at(&file, &tree, "pods", e)]))?;
    if args.json {
        let metrics: Vec<serde_json::Value> = decision
            .metrics
            .iter()
            .map(|m| {
                serde_json::json!({
                    "name": m.name,
                    "currentValue": m.current_value,
                    "ratio": m.ratio,
                    "proposal": m.proposal,
                })
            })
            .collect();
        let out = serde_json::json!({
            "desiredReplicas": decision.desired,
            "metrics": metrics,
            "limitedBy": decision.limited_by,
            "steps": decision.steps,
        });
        super::emitln(&serde_json::to_string_pretty(&out)?);
    } else {
        let mut text = format!(
            "desired replicas: {} (current {}, limited by {})\n",
            decision.desired, snapshot.current_replicas, decision.limited_by
        );
        for s in &decision.steps {
            text.push_str(&format!("  - {s}\n"));
        }
        super::emit(&text);
    }
    Ok(Outcome::Ok)
}

//! The container image and the Kubernetes manifest agree with the crate and with each other.
//! (The manifest's schema is checked in `.ci/run` by `kubernetes-validate --strict`.)

use std::fs;

fn read(path: &str) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The value of `key = "value"` in Cargo.toml's `[package]` table.
fn cargo_field(key: &str) -> String {
    let toml = read("Cargo.toml");
    let line = toml
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{key} =")))
        .unwrap_or_else(|| panic!("Cargo.toml has no {key}"));
    line.split('"').nth(1).expect("a quoted value").to_string()
}

#[test]
fn dockerfile_builds_with_the_crates_rust_version_and_runs_as_non_root() {
    let docker = read("Dockerfile");
    let rust = cargo_field("rust-version");
    assert!(
        docker.contains(&format!("FROM rust:{rust}-")),
        "the build stage must use Rust {rust} (Cargo.toml's rust-version)"
    );
    assert!(
        docker.contains("--locked"),
        "the image builds from Cargo.lock"
    );
    let runtime = docker.rsplit("FROM ").next().unwrap();
    assert!(runtime.starts_with("gcr.io/distroless/static"), "{runtime}");
    assert!(
        runtime.contains("USER 65532"),
        "the runtime stage runs as non-root"
    );
}

#[test]
fn sweep_job_runs_the_image_of_this_version_and_merges_every_shard() {
    let job = read("deploy/k8s/sweep-job.yaml");
    let version = cargo_field("version");
    let images: Vec<&str> = job
        .lines()
        .filter_map(|l| l.trim().strip_prefix("image: "))
        .filter(|i| i.contains("capsim"))
        .collect();
    assert_eq!(images.len(), 2, "the shard and merge containers");
    for image in images {
        assert_eq!(image, format!("capsim:{version}"));
    }
    // N, the number of shards, is written in four places that must agree.
    let number_after = |key: &str| -> usize {
        let at = job.find(key).unwrap_or_else(|| panic!("no {key}")) + key.len();
        let digits: String = job[at..]
            .chars()
            .skip_while(|c| *c == ' ')
            .take_while(char::is_ascii_digit)
            .collect();
        digits
            .parse()
            .unwrap_or_else(|_| panic!("no number after {key}"))
    };
    let n = number_after("completions:");
    assert_eq!(number_after("$(JOB_COMPLETION_INDEX)/"), n, "--shard I/N");
    assert_eq!(number_after("-ge "), n, "the merge waits for N sweep.csv");
    let merge_args = job
        .lines()
        .skip_while(|l| !l.contains("args: [merge"))
        .take_while(|l| !l.contains("--out"))
        .collect::<String>();
    for i in 0..n {
        assert!(
            merge_args.contains(&format!("/results/shard-{i},")),
            "the merge reads shard {i}"
        );
    }
    assert!(!merge_args.contains(&format!("/results/shard-{n},")));
}

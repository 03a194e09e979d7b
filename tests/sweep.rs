//! `capsim sweep` and `capsim merge`: the output is the same bytes at any thread count, split
//! into shards and merged, and after an interruption and resume; bad grids exit 2 with the
//! file, line and column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod common;
use common::capsim;

/// A 3 x 3 grid of small M/M/c queues: fast, and with enough points for 3 shards.
const SCENARIO: &str = r#"name: tiny-sweep
seed: 3
duration: 20s
warmup: 2s
replications: 2
models:
  - name: exp
    service_time: {exponential: {mean: 10ms}}
node_pools:
  - name: pool
    gpu: t4
    gpus_per_node: 4
    nodes: 1
services:
  - name: web
    model: exp
    node_pool: pool
    replicas: 1
    routing: shared_queue
workloads:
  - service: web
    arrivals: {poisson: {rate: 50/s}}
sweep:
  grid:
    services.web.replicas: [1, 2, 3]
    workloads.0.arrivals.poisson.rate: {from: 20/s, to: 80/s, points: 3}
"#;

/// A fresh folder for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capsim-sweep-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Writes `text` as `name` under `dir` and returns its path.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write scenario");
    p
}

/// Runs a command that must succeed.
fn ok(args: &[&str]) -> String {
    let (code, stdout, stderr) = capsim(args);
    assert_eq!(code, 0, "capsim {args:?}: {stderr}");
    stdout
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Every file under `dir`, by relative path, with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).expect("readable folder") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .expect("under root")
                    .display()
                    .to_string();
                out.insert(rel, std::fs::read(&p).expect("readable file"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Asserts two output folders hold exactly the same files with the same bytes.
fn assert_same(a: &Path, b: &Path) {
    let (fa, fb) = (files(a), files(b));
    assert_eq!(
        fa.keys().collect::<Vec<_>>(),
        fb.keys().collect::<Vec<_>>(),
        "{} and {} hold different files",
        a.display(),
        b.display()
    );
    for (name, bytes) in &fa {
        assert!(
            bytes == &fb[name],
            "{name} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

#[test]
fn output_is_the_same_at_one_and_two_threads() {
    let dir = scratch("threads");
    let sc = write(&dir, "s.yaml", SCENARIO);
    let (one, two) = (dir.join("one"), dir.join("two"));
    for (out, threads) in [(&one, "1"), (&two, "2")] {
        let (code, _, stderr) = common::capsim_in(
            None,
            &[("RAYON_NUM_THREADS", threads)],
            &["sweep", s(&sc), "--out", s(out)],
        );
        assert_eq!(code, 0, "{stderr}");
    }
    assert_same(&one, &two);
    let names = files(&one);
    assert_eq!(names.keys().filter(|k| k.starts_with("points")).count(), 9);
    // Long format: the swept paths, then the fixed columns; points in grid order (the first
    // path varies slowest), values with their units.
    let csv = String::from_utf8(names["sweep.csv"].clone()).expect("utf-8");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "services.web.replicas,workloads.0.arrivals.poisson.rate,component,metric,mean,\
             ci95_low,ci95_high,replications"
        )
    );
    let rates: Vec<String> = csv
        .lines()
        .filter(|l| l.contains(",web,throughput_rps,"))
        .map(|l| l.split(',').take(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        rates,
        [
            "1 20/s", "1 40/s", "1 80/s", "2 20/s", "2 40/s", "2 80/s", "3 20/s", "3 40/s",
            "3 80/s"
        ]
    );
    // Each point file holds the same rows as sweep.csv for that point.
    let p4 = String::from_utf8(names["points/000004.csv"].clone()).expect("utf-8");
    for row in p4.lines().skip(1) {
        assert!(row.starts_with("2,40/s,"), "{row}");
        assert!(
            csv.contains(&format!("\n{row}\n")),
            "{row} not in sweep.csv"
        );
    }
}

#[test]
fn three_shards_merged_equal_one_sweep() {
    let dir = scratch("shards");
    let sc = write(&dir, "s.yaml", SCENARIO);
    let whole = dir.join("whole");
    ok(&["sweep", s(&sc), "--out", s(&whole)]);
    let shards: Vec<PathBuf> = (0..3).map(|i| dir.join(format!("shard-{i}"))).collect();
    for (i, d) in shards.iter().enumerate() {
        ok(&["sweep", s(&sc), "--shard", &format!("{i}/3"), "--out", s(d)]);
        // Shard i holds exactly the points i, i+3, i+6.
        let points: Vec<String> = files(d)
            .keys()
            .filter(|k| k.starts_with("points"))
            .cloned()
            .collect();
        let want: Vec<String> = (0..3)
            .map(|k| format!("points/{:06}.csv", i + 3 * k))
            .collect();
        assert_eq!(points, want);
    }
    // Missing points: refused, naming the shard that holds them.
    let partial = dir.join("partial");
    let (code, _, stderr) = capsim(&["merge", s(&shards[0]), s(&shards[2]), "--out", s(&partial)]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("3 of 9 points are missing") && stderr.contains("1/3"),
        "{stderr}"
    );
    let merged = dir.join("merged");
    let mut args = vec!["merge"];
    args.extend(shards.iter().map(|p| s(p)));
    args.extend(["--out", s(&merged)]);
    ok(&args);
    assert_same(&whole, &merged);
}

#[test]
fn merge_refuses_shards_of_different_scenarios() {
    let dir = scratch("mixed");
    let a = write(&dir, "a.yaml", SCENARIO);
    let b = write(&dir, "b.yaml", &SCENARIO.replace("seed: 3", "seed: 4"));
    ok(&[
        "sweep",
        s(&a),
        "--shard",
        "0/2",
        "--out",
        s(&dir.join("a0")),
    ]);
    ok(&[
        "sweep",
        s(&b),
        "--shard",
        "1/2",
        "--out",
        s(&dir.join("b1")),
    ]);
    let (code, _, stderr) = capsim(&[
        "merge",
        s(&dir.join("a0")),
        s(&dir.join("b1")),
        "--out",
        s(&dir.join("m")),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("another sweep"), "{stderr}");
    // Resuming into a folder of another scenario is refused too, rather than mixing points.
    let (code, _, stderr) = capsim(&["sweep", s(&b), "--out", s(&dir.join("a0"))]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("another sweep"), "{stderr}");
    // A folder that is not a sweep's.
    let (code, _, stderr) = capsim(&["merge", s(&dir), "--out", s(&dir.join("m"))]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no sweep.json"), "{stderr}");
}

#[test]
fn an_interrupted_sweep_resumes_without_rerunning_finished_points() {
    let dir = scratch("resume");
    let sc = write(&dir, "s.yaml", SCENARIO);
    let (first, out) = (dir.join("first"), dir.join("out"));
    ok(&["sweep", s(&sc), "--out", s(&first)]);
    ok(&["sweep", s(&sc), "--out", s(&out)]);
    // As if killed: some points never finished, sweep.csv never written.
    for p in [
        "points/000001.csv",
        "points/000005.csv",
        "points/000008.csv",
        "sweep.csv",
    ] {
        std::fs::remove_file(out.join(p)).expect("remove");
    }
    let stdout = ok(&["sweep", s(&sc), "--out", s(&out)]);
    assert!(stdout.contains("3 simulated, 6 already done"), "{stdout}");
    assert_same(&first, &out);
    // A point whose file exists is read back, not run again: a figure changed in its file
    // shows up in sweep.csv.
    let p2 = out.join("points/000002.csv");
    let text = std::fs::read_to_string(&p2).expect("point file");
    let row = text
        .lines()
        .find(|l| l.contains(",web,throughput_rps,"))
        .expect("throughput row")
        .to_string();
    let tampered_row = {
        let mut f: Vec<&str> = row.split(',').collect();
        f[4] = "12345.6";
        f.join(",")
    };
    std::fs::write(&p2, text.replace(&row, &tampered_row)).expect("tamper");
    let stdout = ok(&["sweep", s(&sc), "--out", s(&out)]);
    assert!(stdout.contains("0 simulated, 9 already done"), "{stdout}");
    let csv = std::fs::read_to_string(out.join("sweep.csv")).expect("sweep.csv");
    assert!(csv.contains(&tampered_row), "{csv}");
    // A point file that is not this point's (cut short by hand) is run again.
    std::fs::write(&p2, "services.web.replicas\n").expect("truncate");
    let stdout = ok(&["sweep", s(&sc), "--out", s(&out)]);
    assert!(stdout.contains("1 simulated, 8 already done"), "{stdout}");
    assert_same(&first, &out);
}

#[test]
fn json_lists_every_point() {
    let dir = scratch("json");
    let sc = write(&dir, "s.yaml", SCENARIO);
    let stdout = ok(&["sweep", s(&sc), "--out", s(&dir.join("o")), "--json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON on stdout");
    let results = json["results"].as_array().expect("results");
    assert_eq!(results.len(), 9);
    assert_eq!(results[5]["values"]["services.web.replicas"], "2");
    assert_eq!(
        results[5]["values"]["workloads.0.arrivals.poisson.rate"],
        "80/s"
    );
    assert!(
        results[5]["summary"]["web"]["throughput_rps"]["mean"]
            .as_f64()
            .unwrap()
            > 70.0
    );
}

/// Asserts that sweeping `text` exits 2 with `file:line:col` and every one of `needles`.
fn refused(case: &str, text: &str, line_col: (u32, u32), needles: &[&str]) {
    let dir = scratch(case);
    let sc = write(&dir, "s.yaml", text);
    let (code, stdout, stderr) = capsim(&["sweep", s(&sc), "--out", s(&dir.join("o"))]);
    assert_eq!(code, 2, "{case}: {stderr}");
    assert!(stdout.is_empty(), "{case}: {stdout}");
    let place = format!("{}:{}:{}: ", sc.display(), line_col.0, line_col.1);
    assert!(stderr.contains(&place), "{case}: want {place} in {stderr}");
    for n in needles {
        assert!(stderr.contains(n), "{case}: want `{n}` in {stderr}");
    }
    assert!(
        !dir.join("o").exists(),
        "{case}: a refused sweep wrote output"
    );
    // `capsim validate` checks the grid the same way, every point included.
    if case != "no-sweep-block" {
        let (code, _, stderr) = capsim(&["validate", s(&sc)]);
        assert_eq!(code, 2, "validate {case}: {stderr}");
        assert!(stderr.contains(&place), "validate {case}: {stderr}");
        for n in needles {
            assert!(
                stderr.contains(n),
                "validate {case}: want `{n}` in {stderr}"
            );
        }
    }
}

#[test]
fn bad_grids_exit_2_with_file_line_and_column() {
    // The grid's first entry is on line 25, column 5.
    let edit = |from: &str, to: &str| {
        assert!(SCENARIO.contains(from), "{from}");
        SCENARIO.replacen(from, to, 1)
    };
    refused(
        "typo-field",
        &edit("services.web.replicas:", "services.web.replica:"),
        (25, 5),
        &["sweep.grid.services.web.replica", "did you mean `replicas`"],
    );
    refused(
        "unknown-item",
        &edit("services.web.replicas:", "services.chat.replicas:"),
        (25, 5),
        &["no item named `chat`", "`web`"],
    );
    refused(
        "index-past-end",
        &edit("workloads.0.arrivals", "workloads.3.arrivals"),
        (26, 5),
        &["no item 3"],
    );
    refused(
        "zip-lengths",
        &edit("sweep:\n", "sweep:\n  mode: zip\n").replace("[1, 2, 3]", "[1, 2]"),
        (27, 5),
        &["mode `zip`", "has 2", "has 3"],
    );
    refused(
        "too-many-points",
        &edit("[1, 2, 3]", "{from: 1, to: 50000, step: 1}"),
        (24, 3),
        &["150000 points", "limit of 100000"],
    );
    refused(
        "bad-range",
        &edit("points: 3}", "pints: 3}"),
        (26, 63),
        &["did you mean `points`"],
    );
    refused(
        "bad-mode",
        &edit("sweep:\n", "sweep:\n  mode: grid\n"),
        (24, 9),
        &["sweep.mode", "`cartesian`"],
    );
    refused(
        "invalid-point",
        &edit("[1, 2, 3]", "[1, 2, -1]"),
        (25, 5),
        &[
            "sweep point 6",
            "services.web.replicas=-1",
            "(and 2 more invalid points)",
        ],
    );
    refused(
        "no-sweep-block",
        &SCENARIO[..SCENARIO.find("sweep:").expect("sweep block")],
        (1, 1),
        &["no `sweep:` block"],
    );
}

#[test]
fn the_example_sweep_runs() {
    let dir = scratch("example");
    let stdout = ok(&[
        "sweep",
        "scenarios/sweep-mmc.yaml",
        "--shard",
        "1/4",
        "--out",
        s(&dir.join("o")),
    ]);
    assert!(stdout.contains("5 of 20 points in shard 1/4"), "{stdout}");
}

/// Runs shards `shards` (of `count`) of the tiny sweep into `dir/shard-I-of-N`.
fn shards(dir: &Path, sc: &Path, count: usize, shards: &[usize]) -> Vec<PathBuf> {
    shards
        .iter()
        .map(|&i| {
            let d = dir.join(format!("shard-{i}-of-{count}"));
            ok(&[
                "sweep",
                s(sc),
                "--shard",
                &format!("{i}/{count}"),
                "--out",
                s(&d),
            ]);
            d
        })
        .collect()
}

/// `capsim merge DIRS --out OUT`: exit 2, and the message.
fn merge_refused(dirs: &[PathBuf], out: &Path) -> String {
    let mut args = vec!["merge"];
    args.extend(dirs.iter().map(|d| s(d)));
    args.extend(["--out", s(out)]);
    let (code, stdout, stderr) = capsim(&args);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(!out.join("sweep.csv").exists(), "merged anyway");
    stderr
}

/// Before: a point file copied into another shard's folder was merged as if it belonged
/// there. Now it is refused, naming the file and whose it is.
#[test]
fn merge_refuses_a_point_file_from_another_shard() {
    let dir = scratch("stray");
    let sc = write(&dir, "s.yaml", SCENARIO);
    let d = shards(&dir, &sc, 3, &[0, 1, 2]);
    let stray = d[0].join("points/000001.csv");
    std::fs::copy(d[1].join("points/000001.csv"), &stray).expect("copy");
    let stderr = merge_refused(&d, &dir.join("m"));
    assert!(
        stderr.contains(&format!(
            "{}: point 1 belongs to shard 1/3, not to this folder's shard 0/3 (sweep.json): \
             the file comes from another shard; remove it",
            s(&stray)
        )),
        "{stderr}"
    );
    // A point past the end of the grid.
    std::fs::rename(&stray, d[0].join("points/000099.csv")).expect("rename");
    let stderr = merge_refused(&d, &dir.join("m"));
    assert!(
        stderr.contains("000099.csv: there is no point 99 in this sweep of 9 points"),
        "{stderr}"
    );
}

/// Before: shards of a run in 2 shards and of one in 3 were merged together. Now refused, as
/// is the same shard given twice and a whole sweep beside shards.
#[test]
fn merge_refuses_shards_of_runs_in_different_shard_counts() {
    let dir = scratch("counts");
    let sc = write(&dir, "s.yaml", SCENARIO);
    let two = shards(&dir, &sc, 2, &[0]);
    let three = shards(&dir, &sc, 3, &[1, 2]);
    let stderr = merge_refused(
        &[two[0].clone(), three[0].clone(), three[1].clone()],
        &dir.join("m"),
    );
    assert!(
        stderr.contains(&format!(
            "{}: sweep.json: is shard 1/3 of a run in 3 shards, but {} is shard 0/2 of a run in 2",
            s(&three[0]),
            s(&two[0])
        )),
        "{stderr}"
    );
    let copy = dir.join("copy");
    std::fs::create_dir_all(copy.join("points")).expect("folder");
    for f in ["sweep.json", "sweep.csv"] {
        std::fs::copy(three[0].join(f), copy.join(f)).expect("copy");
    }
    let stderr = merge_refused(&[three[0].clone(), copy.clone()], &dir.join("m"));
    assert!(
        stderr.contains("sweep.json: is shard 1/3, as") && stderr.contains("give each shard once"),
        "{stderr}"
    );
    let whole = dir.join("whole");
    ok(&["sweep", s(&sc), "--out", s(&whole)]);
    let stderr = merge_refused(&[whole.clone(), three[0].clone()], &dir.join("m"));
    assert!(
        stderr.contains("holds a whole sweep, not a shard"),
        "{stderr}"
    );
}

/// Before: `merge A B --out A` merged into one of its own inputs. Now an --out that is an
/// input, inside one, or holds one is refused, and the inputs are untouched.
#[test]
fn merge_refuses_an_out_folder_among_its_inputs() {
    let dir = scratch("into-input");
    let sc = write(&dir, "s.yaml", SCENARIO);
    let d = shards(&dir, &sc, 2, &[0, 1]);
    let before = files(&d[0]);
    for (out, how) in [
        (d[0].clone(), "is"),
        (d[1].join("merged"), "is inside"),
        (dir.clone(), "holds"),
    ] {
        let mut args = vec!["merge", s(&d[0]), s(&d[1]), "--out", s(&out)];
        let (code, _, stderr) = capsim(&args);
        assert_eq!(code, 2, "{stderr}");
        let input = if how == "is inside" { &d[1] } else { &d[0] };
        assert!(
            stderr.contains(&format!(
                "{}: --out: {how} {}, one of the folders merged: merge into a folder apart \
                 from them",
                s(&out),
                s(input)
            )),
            "{stderr}"
        );
        args.clear();
    }
    assert!(files(&d[0]) == before, "an input changed");
    assert!(!d[1].join("merged").exists());
}

/// Before: a damaged point file was reported as "missing". Now it is named with what is
/// wrong with it.
#[test]
fn merge_names_a_damaged_point_file_instead_of_calling_it_missing() {
    let dir = scratch("damaged");
    let sc = write(&dir, "s.yaml", SCENARIO);
    let d = shards(&dir, &sc, 2, &[0, 1]);
    let point = d[1].join("points/000003.csv");
    let text = std::fs::read_to_string(&point).expect("point file");
    // Cut in the middle of a row, as a full disk would.
    std::fs::write(&point, &text[..text.len() / 2 + 3]).expect("cut");
    let stderr = merge_refused(&d, &dir.join("m"));
    assert!(
        stderr.contains(&format!(
            "{}: not a point file of this sweep: line ",
            s(&point)
        )) && stderr.contains("fields, not 8: the file is cut short or damaged"),
        "{stderr}"
    );
    assert!(!stderr.contains("missing"), "{stderr}");
    std::fs::write(&point, "").expect("empty");
    let stderr = merge_refused(&d, &dir.join("m"));
    assert!(
        stderr.contains(&format!(
            "{}: not a point file of this sweep: it is empty",
            s(&point)
        )),
        "{stderr}"
    );
}

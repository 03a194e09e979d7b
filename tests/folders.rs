//! Result folders: an `--out` that cannot be written is refused before anything is simulated,
//! a folder always holds one whole run (the earlier one or the new one, whatever the moment a
//! run is killed), and file names are unique and bounded whatever the service names.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

mod common;
use common::capsim;

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capsim-folders-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Every file of a results folder (they have no subfolders), with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("readable folder")
        .map(|e| {
            let e = e.expect("entry");
            assert!(e.path().is_file(), "{} is not a file", e.path().display());
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("readable file"),
            )
        })
        .collect()
}

/// A short quickstart run into `out`.
fn quick_run(out: &Path) -> Vec<String> {
    [
        "run",
        "scenarios/quickstart.yaml",
        "--replications",
        "1",
        "--set",
        "duration=3s",
        "--set",
        "warmup=1s",
        "--out",
        s(out),
    ]
    .iter()
    .map(|a| a.to_string())
    .collect()
}

/// A short LLM run (it writes ttft-cdf charts, which the quickstart does not).
fn llm_run(out: &Path) -> Vec<String> {
    [
        "run",
        "scenarios/llm-chat-a100.yaml",
        "--replications",
        "1",
        "--set",
        "duration=20s",
        "--set",
        "warmup=2s",
        "--out",
        s(out),
    ]
    .iter()
    .map(|a| a.to_string())
    .collect()
}

/// Runs `capsim ARGS`: (exit code, stderr).
fn run_args(args: &[String]) -> (i32, String) {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, stderr) = capsim(&refs);
    (code, stderr)
}

fn ok(args: &[String]) {
    let (code, stderr) = run_args(args);
    assert_eq!(code, 0, "capsim {args:?}: {stderr}");
}

/// Asserts exit 2 with `needle` in the message.
fn refused(args: &[String], needle: &str) {
    let (code, stderr) = run_args(args);
    assert_eq!(code, 2, "capsim {args:?}: {stderr}");
    assert!(stderr.contains(needle), "`{needle}` not in\n{stderr}");
}

/// A scenario that would simulate for minutes: a refusal that comes in seconds came before it.
const LONG: [&str; 4] = [
    "scenarios/quickstart.yaml",
    "--set",
    "duration=2h",
    "--set=warmup=1m",
];

/// Runs `capsim ARGS` and asserts exit 2 within seconds, nothing on stdout, and `needle` in
/// the message.
fn refused_at_once(args: &[&str], needle: &str) {
    let t0 = Instant::now();
    let (code, stdout, stderr) = capsim(args);
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(code, 2, "capsim {args:?}: exit {code}\n{stderr}");
    assert!(stdout.is_empty(), "capsim {args:?}: printed\n{stdout}");
    assert!(secs < 20.0, "capsim {args:?}: {secs} s: simulated first?");
    assert!(
        stderr.contains(needle),
        "capsim {args:?}: `{needle}` not in\n{stderr}"
    );
}

/// Before: `--out` was checked after the simulation, so a read-only or taken path lost the
/// whole run. Now every case is refused before simulating, exit 2, naming `--out`.
#[test]
fn an_out_that_cannot_be_written_is_refused_before_simulating() {
    let dir = scratch("unwritable");
    let file = dir.join("a-file");
    std::fs::write(&file, "not a folder").expect("file");
    let under_file = file.join("results");
    let foreign = dir.join("foreign");
    std::fs::create_dir_all(&foreign).expect("folder");
    std::fs::write(foreign.join("notes.txt"), "mine").expect("file");
    let sweep = dir.join("sweep");
    std::fs::create_dir_all(&sweep).expect("folder");
    std::fs::write(sweep.join("sweep.json"), "{}").expect("file");
    let cases: [(&Path, String); 4] = [
        (
            &under_file,
            format!("{}: --out: cannot create", s(&under_file)),
        ),
        (
            &file,
            format!("{}: --out: this is a file, not a folder", s(&file)),
        ),
        (
            &foreign,
            format!(
                "{}: --out: it is not empty and holds no capsim results (no `summary.csv` or \
                 `search.json`); capsim replaces its --out folder whole",
                s(&foreign)
            ),
        ),
        (
            &sweep,
            format!(
                "{}: --out: it holds the results of a sweep (`sweep.json`), which this command \
                 does not replace",
                s(&sweep)
            ),
        ),
    ];
    for (out, needle) in &cases {
        let mut run = vec!["run"];
        run.extend(LONG);
        run.extend(["--out", s(out)]);
        refused_at_once(&run, needle);
        let mut search = vec!["search"];
        search.extend(LONG);
        search.extend(["--service", "resnet", "--out", s(out)]);
        refused_at_once(&search, needle);
    }
    // check --out DIR writes DIR/<scenario>: a file there is refused before the first run.
    let taken = dir.join("taken");
    std::fs::create_dir_all(&taken).expect("folder");
    std::fs::write(taken.join("quickstart"), "taken").expect("file");
    let mut check = vec!["check"];
    check.extend(LONG);
    check.extend(["--update-baseline", "--baseline"]);
    let baseline = dir.join("baseline.csv");
    check.push(s(&baseline));
    check.extend(["--out", s(&taken)]);
    refused_at_once(&check, "quickstart: --out: this is a file, not a folder");
    assert!(!baseline.exists(), "the baseline was written");
    // A read-only folder (root writes anyway: then there is nothing to test).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let ro = dir.join("read-only");
        std::fs::create_dir_all(&ro).expect("folder");
        let mode = |m| std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(m));
        mode(0o555).expect("chmod");
        if std::fs::write(ro.join("probe"), "x").is_err() {
            let mut run = vec!["run"];
            run.extend(LONG);
            let inside = ro.join("results");
            run.extend(["--out", s(&inside)]);
            refused_at_once(&run, "--out: cannot write in");
        }
        mode(0o755).expect("chmod");
    }
}

/// Before: files of an earlier run stayed beside a later one's (`ttft-cdf.png` of an LLM
/// run beside a ResNet run). Now a run's folder holds exactly what a fresh run writes.
#[test]
fn a_run_replaces_its_folder_whole() {
    let dir = scratch("replace");
    let (out, fresh) = (dir.join("out"), dir.join("fresh"));
    ok(&llm_run(&out));
    assert!(out.join("ttft-cdf.png").is_file());
    // A file capsim does not write, in a results folder: refused, not removed.
    std::fs::write(out.join("notes.txt"), "mine").expect("file");
    refused(
        &quick_run(&out),
        "--out: it holds `notes.txt`, which capsim does not write",
    );
    std::fs::remove_file(out.join("notes.txt")).expect("remove");
    // What a file browser leaves is no reason to refuse (and goes with the folder).
    std::fs::write(out.join(".DS_Store"), "finder").expect("file");
    ok(&quick_run(&out));
    ok(&quick_run(&fresh));
    assert_eq!(
        files(&out).keys().collect::<Vec<_>>(),
        files(&fresh).keys().collect::<Vec<_>>()
    );
    assert!(
        files(&out) == files(&fresh),
        "the same bytes as a fresh run"
    );
    // Nothing is left beside it once the run is done.
    let beside: Vec<String> = std::fs::read_dir(&dir)
        .expect("folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(beside.len(), 2, "{beside:?}");
}

/// Starts `capsim ARGS` paused at step `step` of its write phase; returns the child and the
/// step's description, or None if it finished before reaching that step.
fn paused_at(args: &[String], out_env: &[(&str, String)]) -> (std::process::Child, Option<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_capsim"))
        .args(args)
        .envs(out_env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("capsim starts");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = std::io::BufReader::new(stderr).lines();
    let step = lines.by_ref().map_while(Result::ok).find_map(|l| {
        l.strip_prefix("capsim: test pause at step ")
            .map(str::to_string)
    });
    (child, step)
}

/// Kills `child` with SIGKILL, or with SIGTERM through `kill(1)`.
fn kill(child: &mut std::process::Child, term: bool) {
    if term {
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    } else {
        child.kill().expect("SIGKILL");
    }
    child.wait().expect("reaped");
}

/// Copies the files of `from` into a fresh folder `to`.
fn restore(from: &BTreeMap<String, Vec<u8>>, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).expect("folder");
    for (name, bytes) in from {
        std::fs::write(to.join(name), bytes).expect("write");
    }
}

/// Before: SIGTERM while a run wrote into a folder that held an earlier run left summary.csv
/// new, timeseries.csv empty and the rest old, with nothing marking it. Now a run killed
/// (SIGKILL and SIGTERM in turn) at every step of its write phase (`CAPSIM_TEST_PAUSE_AT`, a
/// test-only pause) leaves the earlier folder or the new one, whole. At the one step where
/// neither is in place (between the two renames of the commit), the next run into the
/// folder finishes the commit first.
#[test]
fn a_run_killed_during_its_write_phase_leaves_the_old_folder_or_the_new_one_whole() {
    if !cfg!(unix) {
        return;
    }
    let dir = scratch("killed");
    let (out, reference) = (dir.join("out"), dir.join("reference"));
    ok(&llm_run(&out));
    let old = files(&out);
    ok(&quick_run(&reference));
    let new = files(&reference);
    assert_ne!(
        old.keys().collect::<Vec<_>>(),
        new.keys().collect::<Vec<_>>()
    );
    let mut steps = Vec::new();
    for n in 1..60 {
        restore(&old, &out);
        let pause = [("CAPSIM_TEST_PAUSE_AT", n.to_string())];
        let (mut child, step) = paused_at(&quick_run(&out), &pause);
        let Some(step) = step else {
            // Past the last step: the run finished.
            assert!(child.wait().expect("exit").success());
            break;
        };
        kill(&mut child, n % 2 == 0);
        if out.exists() {
            let now = files(&out);
            assert!(
                now == old || now == new,
                "killed at step {step}: a mix of runs: {:?}",
                now.keys().collect::<Vec<_>>()
            );
        } else {
            assert!(
                step.ends_with("moved the earlier folder aside"),
                "{step}: no folder"
            );
            // The next run into the folder (killed as soon as it has begun) finishes the
            // commit of the whole new folder.
            let (mut next, at) =
                paused_at(&quick_run(&out), &[("CAPSIM_TEST_PAUSE_AT", "1".into())]);
            assert!(at.is_some_and(|a| a.ends_with("begun")));
            kill(&mut next, false);
            assert!(files(&out) == new, "not finished: {:?}", files(&out).keys());
        }
        steps.push(step);
    }
    // Every step of the write phase was reached: the files, then the three of the commit.
    let last = steps.len();
    assert!(last >= 10, "{steps:?}");
    assert!(steps[0].ends_with("begun"), "{steps:?}");
    assert!(
        steps[last - 3].ends_with("moved the earlier folder aside"),
        "{steps:?}"
    );
    assert!(
        steps[last - 1].ends_with("removed the earlier folder"),
        "{steps:?}"
    );
    assert!(
        steps.iter().any(|s| s.ends_with("wrote timeseries.csv")),
        "{steps:?}"
    );
    // A run to its end cleans up whatever the killed ones left beside the folder.
    ok(&quick_run(&out));
    assert!(files(&out) == new);
    assert!(!dir.join(".capsim-staging").exists());
}

/// Two runs into one folder at the same time: the second is refused (exit 2) while the first
/// writes, and the folder is the first's.
#[test]
fn a_second_run_into_a_folder_being_written_is_refused() {
    if !cfg!(unix) {
        return;
    }
    let dir = scratch("concurrent");
    let out = dir.join("out");
    let (mut first, step) = paused_at(&quick_run(&out), &[("CAPSIM_TEST_PAUSE_AT", "3".into())]);
    assert!(step.is_some());
    refused(
        &quick_run(&out),
        "--out: another capsim process is writing this folder now",
    );
    kill(&mut first, false);
    assert!(!out.exists());
    ok(&quick_run(&out));
    assert!(out.join("summary.csv").is_file());
}

/// A scenario with services named `names`, each with a little load.
fn services_yaml(names: &[String]) -> String {
    let mut y = String::from(
        "name: names\nduration: 5s\nreport_interval: 1s\nreplications: 1\n\
         node_pools: [{name: p, gpu: a100-80gb, gpus_per_node: 8, nodes: 1}]\nservices:\n",
    );
    for n in names {
        y.push_str(&format!(
            "  - {{name: '{n}', model: resnet50, node_pool: p, replicas: 1}}\n"
        ));
    }
    y.push_str("workloads:\n");
    for n in names {
        y.push_str(&format!(
            "  - {{service: '{n}', arrivals: {{poisson: {{rate: 50/s}}}}}}\n"
        ));
    }
    y
}

/// Before: services `x/y` and `x_y` wrote the same chart file, one silently overwritten.
/// Now each gets its own, and index.html shows both.
#[test]
fn services_named_x_slash_y_and_x_underscore_y_get_a_chart_each() {
    let dir = scratch("x-y");
    let sc = dir.join("s.yaml");
    std::fs::write(
        &sc,
        services_yaml(&["x/y".into(), "x_y".into(), "X_Y".into()]),
    )
    .expect("w");
    let out = dir.join("out");
    let (code, _, stderr) = capsim(&["run", s(&sc), "--out", s(&out)]);
    assert_eq!(code, 0, "{stderr}");
    let names: Vec<String> = files(&out)
        .into_keys()
        .filter(|n| n.contains("-timeseries") && n.ends_with(".png"))
        .collect();
    // x_y keeps its name; x/y gets a hash of its name; X_Y differs from x_y only in case,
    // which some file systems ignore, so it is numbered.
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(
        names.contains(&"x_y-timeseries.png".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"X_Y-timeseries-2.png".to_string()),
        "{names:?}"
    );
    let slash = names
        .iter()
        .find(|n| n.len() == "x_y-12345678-timeseries.png".len())
        .expect("x/y's chart");
    let html = std::fs::read_to_string(out.join("index.html")).expect("index.html");
    for n in &names {
        assert!(
            html.contains(&format!("href=\"{n}\"")),
            "{n} not on the page"
        );
    }
    assert!(slash.starts_with("x_y-"), "{slash}");
}

/// Before: a service named with 300 characters simulated fully, then failed "File name too
/// long". Now its chart's name is cut to a bounded length, with a hash of the whole name.
#[test]
fn a_service_named_with_300_characters_gets_a_chart_of_a_bounded_name() {
    let dir = scratch("long-name");
    let long = "s".repeat(300);
    let sc = dir.join("s.yaml");
    std::fs::write(&sc, services_yaml(&[long.clone(), format!("{long}t")])).expect("w");
    let out = dir.join("out");
    let (code, _, stderr) = capsim(&["run", s(&sc), "--out", s(&out)]);
    assert_eq!(code, 0, "{stderr}");
    let charts: Vec<String> = files(&out)
        .into_keys()
        .filter(|n| n.ends_with("-timeseries.svg"))
        .collect();
    assert_eq!(charts.len(), 2, "{charts:?}");
    for c in &charts {
        // 64 characters of the name, `-`, 8 hex digits, `-timeseries.svg`.
        assert_eq!(c.len(), 64 + 9 + "-timeseries.svg".len(), "{c}");
    }
}

//! The documentation stays true to itself and to the program: every relative link and anchor
//! in README.md and docs/*.md resolves, code that points into the docs points at a heading
//! that exists, the README stays a front door, and the command outputs the pages show
//! (`$ capsim ...` blocks, the README's quickstart first) are what those commands print.
//!
//! The slower outputs (a capacity search over three GPU types, about 20 s) are checked by
//! `cargo test --release --test docs -- --ignored`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// README.md and every page under docs/.
fn pages() -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    let mut all = vec![root().join("README.md")];
    all.extend(docs);
    all
}

/// GitHub's anchor of a heading: lower case; letters, digits, `-` and `_` kept; each space
/// becomes `-`; everything else (backticks, `:`, `.`, parentheses) dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The lines outside fenced code blocks, with their numbers from 1.
fn prose(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            out.push((i + 1, line));
        }
    }
    out
}

/// The anchors of a page's headings; a repeated heading gets `-1`, `-2`, ... as on GitHub.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    let mut out = BTreeSet::new();
    for (_, line) in prose(text) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
            let s = slug(&line[hashes..]);
            let n = seen.entry(s.clone()).or_insert(0);
            out.insert(if *n == 0 {
                s.clone()
            } else {
                format!("{s}-{n}")
            });
            *n += 1;
        }
    }
    out
}

/// The targets of the Markdown links `[label](target)` of a line (images too), code spans
/// left out first so that `[0 .. 1](x)` in code is not a link.
fn link_targets(line: &str) -> Vec<String> {
    let mut text = String::new();
    let mut in_code = false;
    for c in line.chars() {
        if c == '`' {
            in_code = !in_code;
        } else if !in_code {
            text.push(c);
        }
    }
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("](") {
        let after = &rest[i + 2..];
        match after.find(')') {
            Some(j) if !after[..j].contains(char::is_whitespace) => {
                out.push(after[..j].to_string());
                rest = &after[j..];
            }
            _ => rest = after,
        }
    }
    out
}

/// Where `target`, written in `page`, leads: an error when the file or the anchor is not
/// there. Web links are not followed.
fn check_target(page: &Path, target: &str) -> Result<(), String> {
    if target.starts_with("http://")
        || target.starts_with("https://")
        || target.starts_with("mailto:")
    {
        return Ok(());
    }
    let (path, anchor) = target.split_once('#').unwrap_or((target, ""));
    let file = if path.is_empty() {
        page.to_path_buf()
    } else {
        page.parent().expect("a folder").join(path)
    };
    if !file.exists() {
        return Err(format!("{target}: no file {}", file.display()));
    }
    if !anchor.is_empty() {
        if file.extension().is_none_or(|x| x != "md") {
            return Err(format!(
                "{target}: an anchor into a file that is not Markdown"
            ));
        }
        if !anchors(&read(&file)).contains(anchor) {
            return Err(format!("{target}: no heading with the anchor #{anchor}"));
        }
    }
    Ok(())
}

/// Every link of `text` (the page `page`) that does not resolve, as `page:line: problem`.
fn broken_links(page: &Path, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (n, line) in prose(text) {
        for target in link_targets(line) {
            if let Err(e) = check_target(page, &target) {
                out.push(format!("{}:{n}: {e}", page.display()));
            }
        }
    }
    out
}

#[test]
fn slugs_follow_github() {
    assert_eq!(
        slug(" `capsim sweep` and `capsim merge`"),
        "capsim-sweep-and-capsim-merge"
    );
    assert_eq!(slug(" What if: `--set`"), "what-if---set");
    assert_eq!(slug(" Charts and `index.html`"), "charts-and-indexhtml");
    assert_eq!(slug(" `models` (user-defined)"), "models-user-defined");
    assert_eq!(slug(" `node_pools`"), "node_pools");
    let a = anchors("# A\n## `x`\n```\n## not a heading\n```\n## x\n");
    assert_eq!(
        a,
        BTreeSet::from(["a".to_string(), "x".to_string(), "x-1".to_string()])
    );
}

#[test]
fn the_link_check_finds_what_is_broken() {
    let dir = std::env::temp_dir().join(format!("capsim-docs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let other = dir.join("other.md");
    std::fs::write(&other, "# Other\n## Part two\n").expect("write");
    let page = dir.join("page.md");
    let text = "# Page\n\
                [fine](other.md#part-two) [fine too](#page) `[not](a link)`\n\
                [bad anchor](other.md#part-three)\n\
                ```\n[in code](nowhere.md)\n```\n\
                [no file](missing.md) [web](https://example.com/#x)\n";
    std::fs::write(&page, text).expect("write");
    let found = broken_links(&page, text);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found[0].ends_with(":3: other.md#part-three: no heading with the anchor #part-three"));
    assert!(found[1].contains(":7: missing.md: no file"), "{}", found[1]);
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let broken: Vec<String> = pages()
        .iter()
        .flat_map(|p| broken_links(p, &read(p)))
        .collect();
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("readable folder") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn code_points_at_pages_and_headings_that_exist() {
    let mut files = Vec::new();
    for dir in ["src", "examples", "benches"] {
        rust_files(&root().join(dir), &mut files);
    }
    let mut broken = Vec::new();
    let mut seen = 0;
    for f in &files {
        let text = read(f);
        for (n, line) in text.lines().enumerate() {
            for (i, _) in line.match_indices(".md") {
                // The path before `.md`: `README` or `docs/NAME`.
                let start = line[..i]
                    .rfind(|c: char| !(c.is_alphanumeric() || "/_-".contains(c)))
                    .map_or(0, |s| s + 1);
                let path = &line[start..i];
                if !(path == "README" || path.starts_with("docs/")) {
                    continue;
                }
                let tail = &line[i + 3..];
                let anchor: String = tail
                    .strip_prefix('#')
                    .map(|a| {
                        a.chars()
                            .take_while(|c| c.is_alphanumeric() || "-_".contains(*c))
                            .collect()
                    })
                    .unwrap_or_default();
                let target = if anchor.is_empty() {
                    format!("{path}.md")
                } else {
                    format!("{path}.md#{anchor}")
                };
                seen += 1;
                if let Err(e) = check_target(&root().join("README.md"), &target) {
                    broken.push(format!("{}:{}: {e}", f.display(), n + 1));
                }
            }
        }
    }
    // `capsim hpa explain --help` names its page: the scan has something to check.
    assert!(seen > 0);
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

/// `capsim hpa explain --help` sends the user to the snapshot format's section (it once named
/// a README section that did not exist).
#[test]
fn hpa_explain_help_points_to_a_docs_section_that_exists() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_capsim"))
        .args(["hpa", "explain", "--help"])
        .output()
        .expect("capsim runs");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    let link = help
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .find(|w| w.contains(".md#"))
        .unwrap_or_else(|| panic!("no docs link in --help:\n{help}"));
    assert_eq!(link, "docs/autoscaling.md#hpa-snapshot-files");
    check_target(&root().join("README.md"), link).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn the_readme_is_a_front_door() {
    let readme = read(&root().join("README.md"));
    let first_block: Vec<&str> = readme
        .split("```")
        .nth(1)
        .expect("a first code block")
        .lines()
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        first_block[..2],
        [
            "cargo run --release -- run scenarios/quickstart.yaml",
            "cargo test --release"
        ]
    );
    let lines = readme.lines().count();
    assert!(
        lines <= 400,
        "README.md has {lines} lines: move reference into docs/"
    );
    // Every page of docs/ is reachable from the front door.
    for page in &pages()[1..] {
        let name = page.file_name().expect("a name").to_string_lossy();
        assert!(
            readme.contains(&format!("(docs/{name})"))
                || readme.contains(&format!("(docs/{name}#")),
            "README.md links nowhere to docs/{name}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The outputs the pages show are real
// ---------------------------------------------------------------------------------------

/// A shown command and its output: `$ capsim ARGS` (or `$ target/release/capsim ARGS`) on
/// the first line of a fenced block, the output after it.
struct Shown {
    page: PathBuf,
    line: usize,
    args: Vec<String>,
    output: Vec<String>,
}

/// Splits a command line into words, with single quotes as in a shell.
fn words(command: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in command.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(word);
    }
    out
}

/// Every shown command of every page.
fn shown_commands() -> Vec<Shown> {
    let mut out = Vec::new();
    for page in pages() {
        let text = read(&page);
        let lines: Vec<&str> = text.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            if lines[i].starts_with("```") {
                let end = (i + 1..lines.len())
                    .find(|&j| lines[j].starts_with("```"))
                    .unwrap_or(lines.len());
                let first = lines.get(i + 1).copied().unwrap_or("");
                let command = first
                    .strip_prefix("$ capsim ")
                    .or_else(|| first.strip_prefix("$ target/release/capsim "));
                if let Some(command) = command {
                    out.push(Shown {
                        page: page.clone(),
                        line: i + 2,
                        args: words(command),
                        output: lines[i + 2..end].iter().map(|l| l.to_string()).collect(),
                    });
                }
                i = end + 1;
            } else {
                i += 1;
            }
        }
    }
    out
}

/// Whether `shown` is `actual` with gaps: a line `...` stands for any lines (none included);
/// without a leading or trailing `...` the output starts or ends there.
fn matches_with_gaps(shown: &[String], actual: &[String]) -> Result<(), String> {
    let gap = |l: &String| l.trim() == "...";
    let runs: Vec<&[String]> = shown.split(gap).collect();
    let mut at = 0;
    for (k, run) in runs.iter().enumerate() {
        if run.is_empty() {
            continue;
        }
        let anchored_start = k == 0;
        let found = if anchored_start {
            (actual.len() >= run.len() && actual[..run.len()] == **run).then_some(0)
        } else {
            (at..=actual.len().saturating_sub(run.len()))
                .find(|&s| actual.len() >= s + run.len() && actual[s..s + run.len()] == **run)
        };
        match found {
            Some(s) => at = s + run.len(),
            None => {
                return Err(format!(
                    "these shown lines are not{} in the output, in this order:\n{}",
                    if anchored_start { " at the start" } else { "" },
                    run.join("\n")
                ));
            }
        }
    }
    let open_end = shown.last().is_some_and(gap);
    if !open_end && at != actual.len() {
        return Err(format!(
            "the output goes on after the shown lines:\n{}",
            actual[at..].join("\n")
        ));
    }
    Ok(())
}

/// Runs a shown command from the repository root. `run` gets `--out` into a scratch folder
/// (so the repository's results/ is left alone), and the folder's name in the output is put
/// back to the default `results/<scenario file stem>`. Returns stdout then stderr, by line.
fn run_shown(s: &Shown, scratch: &Path) -> Vec<String> {
    let mut args = s.args.clone();
    let mut default_out = None;
    if args.first().is_some_and(|a| a == "run") {
        let stem = Path::new(&args[1])
            .file_stem()
            .expect("a scenario file")
            .to_string_lossy()
            .into_owned();
        let out = scratch.join(format!("{}-{}", stem, s.line));
        args.extend(["--out".to_string(), out.to_string_lossy().into_owned()]);
        default_out = Some((
            out.to_string_lossy().into_owned(),
            format!("results/{stem}"),
        ));
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_capsim"))
        .args(&args)
        .current_dir(root())
        .output()
        .expect("capsim runs");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    if let Some((tmp, default)) = default_out {
        text = text.replace(&tmp, &default);
    }
    text.lines().map(str::to_string).collect()
}

/// Checks the shown commands that `pick` selects; returns how many it checked.
fn check_shown(pick: impl Fn(&Shown) -> bool) -> usize {
    let scratch = std::env::temp_dir().join(format!("capsim-docs-out-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).expect("scratch folder");
    let chosen: Vec<Shown> = shown_commands().into_iter().filter(|s| pick(s)).collect();
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = chosen
            .iter()
            .map(|s| {
                let scratch = &scratch;
                scope.spawn(move || {
                    let actual = run_shown(s, scratch);
                    matches_with_gaps(&s.output, &actual).err().map(|e| {
                        format!(
                            "{}:{}: `capsim {}`: {e}",
                            s.page.display(),
                            s.line,
                            s.args.join(" ")
                        )
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().expect("no panic"))
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    chosen.len()
}

/// Shown commands that take longer than a few seconds.
fn slow(s: &Shown) -> bool {
    s.args.iter().any(|a| a.contains("search-gpu-types"))
}

#[test]
fn the_readme_quickstart_output_is_a_real_run() {
    let readme: Vec<Shown> = shown_commands()
        .into_iter()
        .filter(|s| s.page.ends_with("README.md"))
        .collect();
    // The worked example: the whole output, no gaps.
    assert!(
        readme
            .iter()
            .any(|s| s.args == ["run", "scenarios/quickstart.yaml"]
                && !s.output.iter().any(|l| l.trim() == "...")
                && s.output.len() > 20),
        "README.md shows the quickstart's whole output"
    );
    let checked = check_shown(|s| s.page.ends_with("README.md"));
    assert_eq!(checked, readme.len());
}

#[test]
fn the_outputs_the_docs_show_are_real() {
    let checked = check_shown(|s| !s.page.ends_with("README.md") && !slow(s));
    assert!(checked >= 5, "{checked}");
}

#[test]
#[ignore = "about 20 s: cargo test --release --test docs -- --ignored"]
fn the_slow_outputs_the_docs_show_are_real() {
    assert!(check_shown(slow) >= 1);
}

/// The summary.csv, summary.json and timeseries.csv excerpts of docs/commands.md are the
/// quickstart's files.
#[test]
fn the_quickstart_file_excerpts_are_real() {
    let out = std::env::temp_dir().join(format!("capsim-docs-qs-{}", std::process::id()));
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_capsim"))
        .args(["run", "scenarios/quickstart.yaml", "--out"])
        .arg(&out)
        .current_dir(root())
        .output()
        .expect("capsim runs");
    assert!(status.status.success());
    let file_lines =
        |name: &str| -> Vec<String> { read(&out.join(name)).lines().map(str::to_string).collect() };
    let text = read(&root().join("docs/commands.md"));
    let blocks: Vec<Vec<String>> = text
        .split("```")
        .skip(1)
        .step_by(2)
        .map(|b| b.lines().skip(1).map(str::to_string).collect())
        .collect();
    let mut checked = 0;
    for block in &blocks {
        let Some(first) = block.first() else { continue };
        let file = if first.starts_with("scenario,component,metric,mean")
            && block.get(1).is_some_and(|l| l.starts_with("quickstart,"))
        {
            "summary.csv"
        } else if first == "time_s,component,metric,value" {
            "timeseries.csv"
        } else {
            continue;
        };
        matches_with_gaps(block, &file_lines(file))
            .unwrap_or_else(|e| panic!("docs/commands.md, the {file} excerpt: {e}"));
        checked += 1;
    }
    assert_eq!(checked, 2, "the summary.csv and timeseries.csv excerpts");
}

/// The snapshot format docs/autoscaling.md shows is a snapshot `capsim hpa explain` takes.
#[test]
fn the_snapshot_example_is_accepted() {
    let text = read(&root().join("docs/autoscaling.md"));
    let section = text
        .split("## HPA snapshot files")
        .nth(1)
        .expect("the section");
    let yaml = section
        .split("```yaml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a yaml block");
    let file =
        std::env::temp_dir().join(format!("capsim-docs-snapshot-{}.yaml", std::process::id()));
    std::fs::write(&file, yaml).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_capsim"))
        .args(["hpa", "explain"])
        .arg(&file)
        .output()
        .expect("capsim runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

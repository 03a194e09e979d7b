//! Result folders written whole. A command that writes an `--out` folder first makes sure it
//! can ([`Staged::begin`], before anything is simulated), then writes every file into a
//! temporary folder beside the target, and only once all are written puts that folder in
//! the target's place with renames ([`Staged::commit`]). So the target always holds one
//! whole run: the earlier one until the new one is complete, then the new one, with no file
//! of the earlier run left over.
//!
//! The temporary folders live in a hidden folder [`STAGING`] in the target's parent (on the
//! same file system, so a rename is atomic), named after the target and the process:
//! `KEY-PID.new` while a run writes, `KEY-PID.old` for the earlier run while it is replaced.
//! A lock file `KEY.lock` there is held for the whole write, so two processes never write
//! one folder at once, and whatever a killed run left is known to be dead: the next run into
//! the same folder removes it, or, if the kill fell between the two renames of a commit (the
//! target moved aside, the new folder not yet in its place), finishes that commit.
//!
//! `std` offers no atomic exchange of two folders, hence the two renames: between them, for
//! microseconds, the target does not exist.

use super::names::{file_safe, fnv1a64};
use std::fs::{self, File};
use std::path::{Path, PathBuf};

/// The hidden folder, in a results folder's parent, that holds its lock file and, while a
/// run writes, its temporary folder.
pub const STAGING: &str = ".capsim-staging";

/// The extensions of the files capsim writes into a results folder.
const EXTENSIONS: [&str; 6] = ["csv", "json", "png", "svg", "html", "tmp"];

/// Files a file browser leaves in any folder it shows: not a reason to refuse one.
const BROWSER_FILES: [&str; 3] = [".DS_Store", "Thumbs.db", "desktop.ini"];

/// What a results folder holds, which decides what may replace it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One run or search: `summary.csv` or `search.json` (`run`, `check --out`, `search`).
    Run,
    /// A sweep: `sweep.json` and `points/` (`merge`).
    Sweep,
}

impl Kind {
    fn markers(self) -> &'static [&'static str] {
        match self {
            Kind::Run => &["summary.csv", "search.json"],
            Kind::Sweep => &["sweep.json"],
        }
    }
}

/// Why `dir` may not be replaced by a folder of `kind`, if it may not: it holds something
/// capsim did not write, or results of the other kind (a sweep's points took hours; a `run`
/// must not wipe them by a slip of the command).
pub fn refuse_replacing(dir: &Path, kind: Kind) -> Option<String> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => return Some(format!("cannot read the folder: {e}")),
    };
    let mut names = Vec::new();
    for e in entries {
        match e {
            Ok(e) => names.push((e.file_name().to_string_lossy().into_owned(), e.path())),
            Err(e) => return Some(format!("cannot read the folder: {e}")),
        }
    }
    names.retain(|(n, _)| !BROWSER_FILES.contains(&n.as_str()));
    if names.is_empty() {
        return None;
    }
    names.sort();
    let has = |m: &str| names.iter().any(|(n, p)| n == m && p.is_file());
    let other = match kind {
        Kind::Run => Kind::Sweep,
        Kind::Sweep => Kind::Run,
    };
    if let Some(m) = other.markers().iter().find(|m| has(m)) {
        return Some(format!(
            "it holds the results of a {} (`{m}`), which this command does not replace",
            if other == Kind::Sweep {
                "sweep"
            } else {
                "run or search"
            }
        ));
    }
    if !kind.markers().iter().any(|m| has(m)) {
        return Some(format!(
            "it is not empty and holds no capsim results (no {})",
            kind.markers()
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        ));
    }
    let written = |p: &Path| {
        p.is_file()
            && p.extension()
                .is_some_and(|x| EXTENSIONS.iter().any(|e| x == *e))
    };
    for (name, path) in &names {
        let ok = if kind == Kind::Sweep && name == "points" && path.is_dir() {
            fs::read_dir(path).is_ok_and(|d| d.flatten().all(|e| written(&e.path())))
        } else {
            written(path) || (kind == Kind::Sweep && name == super::PAGES_TMP)
        };
        if !ok {
            return Some(format!("it holds `{name}`, which capsim does not write"));
        }
    }
    None
}

/// A results folder being written: the temporary folder to write into, and what to replace.
#[derive(Debug)]
pub struct Staged {
    target: PathBuf,
    kind: Kind,
    work: PathBuf,
    aside: PathBuf,
    staging: PathBuf,
    lock_path: PathBuf,
    /// Held until the commit is done; `None` where the file system has no locks.
    lock: Option<File>,
    committed: bool,
}

impl Staged {
    /// Prepares to write the folder `target` whole. Refuses (the message says why) a target
    /// that is a file, a folder that [`refuse_replacing`] refuses, a parent that cannot be
    /// created or written, and a folder another capsim process is writing. Leftovers of
    /// killed runs into the same folder are cleaned first.
    pub fn begin(target: &Path, kind: Kind) -> Result<Staged, String> {
        let explain = "capsim replaces its --out folder whole, so it writes only to a new or \
                       empty folder or to one that holds its own results; choose another folder";
        let target = match fs::symlink_metadata(target) {
            Ok(_) => {
                let real = fs::canonicalize(target).map_err(|e| e.to_string())?;
                if !real.is_dir() {
                    return Err("this is a file, not a folder".to_string());
                }
                if let Some(why) = refuse_replacing(&real, kind) {
                    return Err(format!("{why}; {explain}"));
                }
                if fs::metadata(&real).is_ok_and(|m| m.permissions().readonly()) {
                    return Err("the folder is read-only".to_string());
                }
                if mount_point(&real) {
                    return Err(
                        "the folder is a mount point, which cannot be renamed: name a \
                                folder inside it"
                            .to_string(),
                    );
                }
                real
            }
            Err(_) => {
                let parent = match target.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                fs::create_dir_all(&parent)
                    .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
                let name = target
                    .file_name()
                    .ok_or_else(|| "name a folder".to_string())?;
                fs::canonicalize(&parent)
                    .map_err(|e| e.to_string())?
                    .join(name)
            }
        };
        let (Some(parent), Some(name)) = (target.parent(), target.file_name()) else {
            return Err("a results folder cannot be the root".to_string());
        };
        let staging = parent.join(STAGING);
        fs::create_dir_all(&staging)
            .map_err(|e| format!("cannot write in {}: {e}", parent.display()))?;
        let name = name.to_string_lossy();
        let key = format!(
            "{}-{:016x}",
            file_safe(&name).chars().take(40).collect::<String>(),
            fnv1a64(name.as_bytes())
        );
        let lock_path = staging.join(format!("{key}.lock"));
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| format!("cannot write in {}: {e}", staging.display()))?;
        let lock = match lock.try_lock() {
            Ok(()) => {
                recover(&staging, &key, &target);
                Some(lock)
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(format!(
                    "another capsim process is writing this folder now (it holds {})",
                    lock_path.display()
                ));
            }
            // No locks on this file system: leftovers cannot be told from live runs, so they
            // are left alone.
            Err(fs::TryLockError::Error(_)) => None,
        };
        let pid = std::process::id();
        let staged = Staged {
            work: staging.join(format!("{key}-{pid}.new")),
            aside: staging.join(format!("{key}-{pid}.old")),
            target,
            kind,
            staging,
            lock_path,
            lock,
            committed: false,
        };
        // (On an error, dropping `staged` releases the lock and cleans up.)
        let _ = fs::remove_dir_all(&staged.work);
        fs::create_dir(&staged.work)
            .map_err(|e| format!("cannot create {}: {e}", staged.work.display()))?;
        test_pause("begun");
        Ok(staged)
    }

    /// The temporary folder to write every file into.
    pub fn path(&self) -> &Path {
        &self.work
    }

    /// The folder the results will be in (absolute).
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Puts the written folder in the target's place: the earlier folder (if any) is moved
    /// aside, the new one renamed into its place, and the earlier one removed.
    pub fn commit(mut self) -> Result<(), String> {
        let had = self.target.exists();
        // Checked again: something else may have put files there while the run went.
        if had && let Some(why) = refuse_replacing(&self.target, self.kind) {
            return Err(format!(
                "{why}, put there while capsim ran; nothing was replaced"
            ));
        }
        if had {
            fs::rename(&self.target, &self.aside)
                .map_err(|e| format!("cannot replace the folder: {e}"))?;
        }
        test_pause("moved the earlier folder aside");
        if let Err(e) = fs::rename(&self.work, &self.target) {
            if had {
                let _ = fs::rename(&self.aside, &self.target);
            }
            return Err(format!("cannot put the results in place: {e}"));
        }
        self.committed = true;
        test_pause("renamed the new folder into place");
        if had {
            // Left for the next run into this folder to remove, if it cannot be now.
            let _ = fs::remove_dir_all(&self.aside);
        }
        test_pause("removed the earlier folder");
        Ok(())
    }
}

impl Drop for Staged {
    /// Removes the temporary folder of a write that did not finish, the lock file, and the
    /// staging folder once nothing else is in it. (A process that opened the lock file just
    /// before it went may then write the same folder as a third one: each still puts a whole
    /// folder in place or fails, since a rename onto a folder that exists fails.)
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.work);
        }
        if let Some(lock) = self.lock.take() {
            let _ = fs::remove_file(&self.lock_path);
            drop(lock);
        }
        let _ = fs::remove_dir(&self.staging);
    }
}

/// Whether `dir` is on another file system than its parent (a rename of it would fail).
fn mount_point(dir: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let dev = |p: &Path| fs::metadata(p).map(|m| m.dev());
        if let (Some(parent), Ok(d)) = (dir.parent(), dev(dir)) {
            return dev(parent).is_ok_and(|p| p != d);
        }
    }
    let _ = dir;
    false
}

/// Cleans what killed runs into `target` left in `staging` (the caller holds the lock, so
/// every such run is over): a folder that was being written is removed; an earlier folder
/// moved aside is removed, unless the target is missing: then the kill fell between the two
/// renames of a commit, and the commit is finished with the new folder, which was whole.
fn recover(staging: &Path, key: &str, target: &Path) {
    let Ok(entries) = fs::read_dir(staging) else {
        return;
    };
    let prefix = format!("{key}-");
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && !n.ends_with(".lock"))
        })
        .collect();
    found.sort();
    for p in &found {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(run) = name.strip_suffix(".old") {
            let new = staging.join(format!("{run}.new"));
            if !target.exists() && new.is_dir() {
                if fs::rename(&new, target).is_err() {
                    let _ = fs::rename(p, target);
                }
            } else if !target.exists() {
                let _ = fs::rename(p, target);
            }
        }
    }
    for p in found {
        if p.exists() {
            let _ = fs::remove_dir_all(&p);
        }
    }
}

/// Test only: `CAPSIM_TEST_PAUSE_AT=N` stops the process at the Nth step of writing a results
/// folder (a file written, a rename) until it is killed, after saying so on stderr, so that a
/// test can kill it at every step in turn. Without the variable it does nothing.
pub fn test_pause(step: &str) {
    use std::sync::atomic::{AtomicU32, Ordering};
    static STEPS: AtomicU32 = AtomicU32::new(0);
    static AT: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    let at = *AT.get_or_init(|| {
        std::env::var("CAPSIM_TEST_PAUSE_AT")
            .ok()
            .and_then(|v| v.parse().ok())
    });
    if let Some(at) = at {
        let n = STEPS.fetch_add(1, Ordering::SeqCst) + 1;
        if n == at {
            eprintln!("capsim: test pause at step {n}: {step}");
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
    }
}

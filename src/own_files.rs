//! The files one run writes, by role, and the rule that they are distinct files.
//!
//! An export to `FILE` writes `FILE.partial`, its state (`FILE.state` or `--state`) and
//! `FILE.lock`, publishes `FILE` (removing a stale `FILE.manifest.json`, and with `--manifest`
//! writing it), and may keep a `--pending` ledger with its own lock. Two of
//! those names that are the same file would destroy data: a ledger named like the partial is
//! published as the output, a ledger named like the state is removed with it. So every pair is
//! compared as files, not as spellings, before anything is sent or created: the same device and
//! inode (on Windows, volume serial number and file index) where both exist, else the same
//! absolute path once the directory's own links are resolved. `first_clash` is the pure rule;
//! `check_distinct` reads the file system for it.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::exit::usage;
use crate::state;

/// The output and state of one run, as given (relative names stay relative).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunFiles {
    pub output: PathBuf,
    pub state: PathBuf,
}

impl RunFiles {
    /// The files of an export to `output`, with its state at `state` (default `FILE.state`).
    pub fn of(output: &Path, state: Option<&Path>) -> RunFiles {
        RunFiles {
            output: output.to_path_buf(),
            state: state.map_or_else(|| state::default_path(output), Path::to_path_buf),
        }
    }

    /// Every file the run writes, with the words that name it in a message.
    pub fn named(&self, ledger: Option<&Path>) -> Vec<(String, PathBuf)> {
        let shown = |what: &str, path: PathBuf| (format!("{what} {}", path.display()), path);
        let mut named = vec![
            shown("--output", self.output.clone()),
            shown("the export's partial file", partial_path(&self.output)),
            shown("the export's state file", self.state.clone()),
            shown(
                "the export's lock file",
                crate::disk::with_suffix(&self.output, ".lock"),
            ),
            shown("the export's manifest", crate::manifest::path(&self.output)),
        ];
        if let Some(ledger) = ledger {
            named.push(shown("--pending", ledger.to_path_buf()));
            named.push(shown(
                "the ledger's lock file",
                crate::disk::with_suffix(ledger, ".lock"),
            ));
        }
        named
    }
}

/// `FILE.partial`, where an export to `FILE` is written until it is complete.
pub fn partial_path(path: &Path) -> PathBuf {
    crate::disk::with_suffix(path, ".partial")
}

/// What makes two names the same file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The absolute path, its directory's links resolved where the directory exists.
    pub path: PathBuf,
    /// Device and inode (volume and file index on Windows), where the file exists.
    pub inode: Option<(u64, u64)>,
}

impl Identity {
    fn same_file(&self, other: &Identity) -> bool {
        self.path == other.path || (self.inode.is_some() && self.inode == other.inode)
    }
}

/// The first two entries (in order) that are the same file, if any.
pub fn first_clash(files: &[Identity]) -> Option<(usize, usize)> {
    files.iter().enumerate().find_map(|(i, a)| {
        let rest = files.get(i + 1..).unwrap_or_default();
        rest.iter()
            .position(|b| a.same_file(b))
            .map(|j| (i, i + 1 + j))
    })
}

/// Reads what identifies the file at `path`: never fails, a name that cannot be resolved is
/// compared by its absolute spelling.
pub fn identity(path: &Path) -> Identity {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let resolved = match (absolute.parent(), absolute.file_name()) {
        (Some(dir), Some(name)) => fs::canonicalize(dir).map(|dir| dir.join(name)).ok(),
        _ => None,
    };
    Identity {
        path: resolved.unwrap_or(absolute),
        inode: inode(path),
    }
}

#[cfg(unix)]
fn inode(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// On Windows, the volume's serial number and the file index, of the file a name leads to
/// (links followed, as `metadata` follows them on Unix); a name that cannot be opened to read
/// (a directory among them) has none.
#[cfg(windows)]
fn inode(path: &Path) -> Option<(u64, u64)> {
    let file = fs::File::open(path).ok()?;
    let (volume, index) = crate::sys_windows::identity(&file).ok()?;
    Some((u64::from(volume), index))
}

#[cfg(not(any(unix, windows)))]
fn inode(_path: &Path) -> Option<(u64, u64)> {
    None
}

/// Refuses (exit 2) a run two of whose files are the same file, naming both and the fix.
pub fn check_distinct(run: &RunFiles, ledger: Option<&Path>) -> Result<()> {
    let named = run.named(ledger);
    let identities: Vec<Identity> = named.iter().map(|(_, path)| identity(path)).collect();
    match first_clash(&identities) {
        None => Ok(()),
        Some((a, b)) => {
            let (first, second) = (&named[a].0, &named[b].0);
            Err(usage(format!(
                "{second} is the same file as {first}: name each of --output, --state and --pending differently, none of them after another's partial, state or lock file"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(path: &str) -> Identity {
        Identity {
            path: PathBuf::from(path),
            inode: None,
        }
    }

    #[test]
    fn names_clash_by_path_or_by_inode() {
        let files = [at("/d/a"), at("/d/b"), at("/d/c")];
        assert_eq!(first_clash(&files), None);
        assert_eq!(
            first_clash(&[at("/d/a"), at("/d/b"), at("/d/a")]),
            Some((0, 2))
        );
        let linked = |path: &str| Identity {
            path: PathBuf::from(path),
            inode: Some((1, 7)),
        };
        assert_eq!(
            first_clash(&[at("/d/a"), linked("/d/b"), linked("/e/c")]),
            Some((1, 2))
        );
        // Two files that do not exist yet are told apart by their paths alone.
        assert_eq!(first_clash(&[at("/d/a"), at("/d/b")]), None);
    }

    #[test]
    fn a_run_names_its_partial_state_locks_and_manifest() {
        let run = RunFiles::of(Path::new("out/n.csv"), None);
        let named = run.named(Some(Path::new("l.json")));
        let paths: Vec<&str> = named.iter().map(|(_, p)| p.to_str().unwrap()).collect();
        assert_eq!(
            paths,
            [
                "out/n.csv",
                "out/n.csv.partial",
                "out/n.csv.state",
                "out/n.csv.lock",
                "out/n.csv.manifest.json",
                "l.json",
                "l.json.lock"
            ]
        );
        assert_eq!(named[1].0, "the export's partial file out/n.csv.partial");
        assert_eq!(named[4].0, "the export's manifest out/n.csv.manifest.json");
        assert_eq!(named[5].0, "--pending l.json");
    }

    #[test]
    fn every_spelling_of_one_file_is_the_same_file() {
        let dir = std::env::temp_dir().join(format!("ge-own-{}", std::process::id()));
        // Process ids repeat (under wine, soon): a failed earlier run's files go first.
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("sub")).unwrap();
        let plain = identity(&dir.join("n.csv.partial"));
        let dotted = identity(&dir.join("sub/../n.csv.partial"));
        let here = identity(&dir.join("./n.csv.partial"));
        assert_eq!(plain.path, dotted.path);
        assert_eq!(plain.path, here.path);
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&dir, dir.join("link")).unwrap();
            assert_eq!(identity(&dir.join("link/n.csv.partial")).path, plain.path);
        }
        // A hard link is another name of the same file (device and inode, or on Windows
        // volume and file index).
        fs::write(dir.join("n.csv"), "x").unwrap();
        fs::hard_link(dir.join("n.csv"), dir.join("hard.json")).unwrap();
        let run = RunFiles::of(&dir.join("n.csv"), None);
        let err = check_distinct(&run, Some(&dir.join("hard.json"))).unwrap_err();
        assert_eq!(crate::exit::code_of(&err), crate::exit::Code::Usage);
        assert!(format!("{err:#}").contains("is the same file as --output"));
        let run = RunFiles::of(&dir.join("n.csv"), None);
        let err = check_distinct(&run, Some(&dir.join("sub/../n.csv.state"))).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("is the same file as the export's state file"),
            "{msg}"
        );
        assert!(check_distinct(&run, Some(&dir.join("ledger.json"))).is_ok());
        fs::remove_dir_all(&dir).unwrap();
    }
}

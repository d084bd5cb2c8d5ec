//! Test helpers: temporary directories, running the real binary, reading its output.
//!
//! Std only. Every test runs `genesys-export` as a child process with a cleared environment
//! (no proxy variables or credentials leak in from the machine) against a simulator started in
//! this process on a loopback port.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use genesys_sim::{Faults, Sim};
use time::OffsetDateTime;

pub const CLIENT_ID: &str = "sim-client";
pub const CLIENT_SECRET: &str = "sim-secret";

/// A fresh, empty directory for one test.
pub struct Dir {
    pub path: PathBuf,
}

impl Dir {
    pub fn new(name: &str) -> Dir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("it")
            .join(format!("{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Dir { path }
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The names of the files in the directory, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.path)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// Panics with the whole stderr unless the run exited with `code`.
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "exit code {} (wanted {code})\nstderr:\n{}",
            self.code, self.stderr
        );
        self
    }
}

/// `genesys-export conversations` pointed at the simulator, with the environment a user would
/// set for it.
pub fn command(sim: &Sim) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_genesys-export"));
    cmd.env_clear()
        .env("GENESYSCLOUD_OAUTHCLIENT_ID", CLIENT_ID)
        .env("GENESYSCLOUD_OAUTHCLIENT_SECRET", CLIENT_SECRET)
        .args([
            "conversations",
            "--api-base",
            &sim.url(),
            "--login-base",
            &sim.url(),
            // The simulator moves a job on per status poll, not with time: poll at once.
            "--job-poll",
            "1ms",
        ]);
    cmd
}

/// Runs `genesys-export conversations ARGS` against the simulator.
pub fn export(sim: &Sim, args: &[&str]) -> Run {
    let mut cmd = command(sim);
    cmd.args(args);
    run_command(cmd)
}

pub fn run_command(mut cmd: Command) -> Run {
    let started = Instant::now();
    let out = cmd.stdin(Stdio::null()).output().expect("the binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// Asserts that neither the secret nor any token the simulator issued was printed.
pub fn assert_no_secrets(run: &Run, sim: &Sim) {
    for (name, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(
            !text.contains(CLIENT_SECRET),
            "{name} shows the client secret"
        );
        for token in sim.issued_tokens() {
            assert!(!text.contains(&token), "{name} shows an access token");
        }
    }
}

/// The `conversation_id` column of a CSV export, in file order.
pub fn csv_ids(text: &str) -> Vec<String> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(headers.get(0), Some("conversation_id"));
    reader
        .records()
        .map(|r| r.unwrap().get(0).unwrap().to_string())
        .collect()
}

/// The `conversationId` of every line of a JSON Lines export, in file order.
pub fn jsonl_ids(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            value["conversationId"].as_str().unwrap().to_string()
        })
        .collect()
}

/// The records of a CSV export as (header → value) lookups.
pub fn csv_records(text: &str) -> Vec<csv::StringRecord> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    reader.records().map(|r| r.unwrap()).collect()
}

/// Every kind of API fault, each with probability `p`; 429s ask for no wait.
pub fn every_fault(p: f64) -> Faults {
    Faults {
        p_revoke: p,
        p_429: p,
        p_5xx: p,
        p_html: p,
        p_reset: p,
        p_truncate: p,
        p_bad_json: p,
        retry_after_secs: Some(0),
        ..Faults::default()
    }
}

/// Reads a file the test expects to exist.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Compares an export with the ground truth as sets: job results come in the API's order,
/// not by start time.
pub fn assert_same_ids(got: &[String], want: &[String]) {
    let mut got = got.to_vec();
    let mut want = want.to_vec();
    got.sort();
    want.sort();
    assert_ids_eq(&got, &want);
}

/// Compares an export with the simulator's ground truth, id by id, and reports the first
/// difference rather than two long lists.
pub fn assert_ids_eq(got: &[String], want: &[String]) {
    let mut seen = std::collections::HashSet::new();
    let dupes: Vec<&String> = got.iter().filter(|id| !seen.insert(*id)).collect();
    assert!(
        dupes.is_empty(),
        "{} ids written twice, e.g. {:?}",
        dupes.len(),
        &dupes[..dupes.len().min(3)]
    );
    let got_set: std::collections::HashSet<&String> = got.iter().collect();
    let missing: Vec<&String> = want.iter().filter(|id| !got_set.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "{} ids missing, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(3)]
    );
    let want_set: std::collections::HashSet<&String> = want.iter().collect();
    let extra: Vec<&String> = got.iter().filter(|id| !want_set.contains(id)).collect();
    assert!(
        extra.is_empty(),
        "{} ids not in the ground truth, e.g. {:?}",
        extra.len(),
        &extra[..extra.len().min(3)]
    );
    assert_eq!(got, want, "same ids, different order");
}

pub fn ts(s: &str) -> OffsetDateTime {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap()
}

//! Test helpers: temporary directories, the common arguments, running the real binary, reading
//! its output.
//!
//! Std only. Every test runs `genesys-export` as a child process with a cleared environment
//! (no proxy variables or credentials leak in from the machine) against a simulator started in
//! this process on a loopback port. Waits are for a condition, never for a length of time; the
//! bound each has only turns a hang into a failure.

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use genesys_sim::{Faults, Sim};
use time::OffsetDateTime;

pub const CLIENT_ID: &str = "sim-client";
pub const CLIENT_SECRET: &str = "sim-secret";

/// The range most tests export: two days of the simulator's data.
pub const FROM: &str = "2026-11-01T00:00:00Z";
pub const TO: &str = "2026-11-03T00:00:00Z";

/// `SIGABRT`, how a debug build dies at a crash point; `SIGKILL`, how a killed run dies.
pub const SIGABRT: i32 = 6;
pub const SIGKILL: i32 = 9;

/// How long any run or wait may take before the test fails: a hang, never a pass condition.
const TIMEOUT: Duration = Duration::from_secs(120);

/// The arguments of an export after `conversations`, built one option at a time.
#[derive(Clone, Debug, Default)]
pub struct Args(Vec<String>);

impl Args {
    /// No arguments at all.
    pub fn new() -> Args {
        Args::default()
    }

    /// `--from FROM --to TO`.
    pub fn range() -> Args {
        Args::between(FROM, TO)
    }

    /// `--from from --to to`.
    pub fn between(from: &str, to: &str) -> Args {
        Args::new().opt("--from", from).opt("--to", to)
    }

    /// Appends `name value`.
    pub fn opt(mut self, name: &str, value: &str) -> Args {
        self.0.push(name.to_string());
        self.0.push(value.to_string());
        self
    }

    /// Appends a flag without a value.
    pub fn flag(mut self, name: &str) -> Args {
        self.0.push(name.to_string());
        self
    }

    /// Appends all of `more`.
    pub fn with(mut self, more: &Args) -> Args {
        self.0.extend_from_slice(&more.0);
        self
    }

    /// Replaces the value of option `name`, which must be present.
    pub fn set(mut self, name: &str, value: &str) -> Args {
        let at = self
            .0
            .iter()
            .position(|a| a == name)
            .unwrap_or_else(|| panic!("{name} is not among {:?}", self.0));
        self.0[at + 1] = value.to_string();
        self
    }

    pub fn out(self, path: &Path) -> Args {
        self.opt("-o", path.to_str().unwrap())
    }

    pub fn mode(self, mode: &str) -> Args {
        self.opt("--mode", mode)
    }

    pub fn window(self, window: &str) -> Args {
        self.opt("--window", window)
    }

    pub fn page_size(self, size: &str) -> Args {
        self.opt("--page-size", size)
    }

    pub fn backoff(self, backoff: &str) -> Args {
        self.opt("--backoff", backoff)
    }

    pub fn format(self, format: &str) -> Args {
        self.opt("--format", format)
    }

    pub fn quiet(self) -> Args {
        self.flag("-q")
    }
}

impl<'a> IntoIterator for &'a Args {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

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
    /// The exit code, -1 when a signal ended the run.
    pub code: i32,
    /// The signal that ended the run, if one did.
    pub signal: Option<i32>,
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

    /// Panics unless the run died of `SIGABRT`, as it does at a crash point.
    pub fn expect_abort(&self) -> &Run {
        assert_eq!(
            self.signal,
            Some(SIGABRT),
            "the run was not aborted (exit code {})\nstderr:\n{}",
            self.code,
            self.stderr
        );
        self
    }
}

/// `genesys-export conversations` pointed at the simulator, with the environment a user would
/// set for it.
pub fn command(sim: &Sim) -> Command {
    command_at(&sim.url())
}

/// [`command`] pointed at `url` (a relay in front of the simulator).
pub fn command_at(url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_genesys-export"));
    pointed_at(&mut cmd, url);
    cmd
}

/// [`command`] started through `sh -c 'umask MASK; exec genesys-export …'`.
pub fn command_with_umask(sim: &Sim, umask: &str) -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.args([
        "-c",
        &format!("umask {umask}; exec \"$0\" \"$@\""),
        env!("CARGO_BIN_EXE_genesys-export"),
    ]);
    pointed_at(&mut cmd, &sim.url());
    cmd
}

/// [`command`] started through `wrapper`: a program and its first arguments, followed by the
/// binary and its arguments (`/usr/bin/time -o FILE`, `unshare … sh -c '…; exec "$0" "$@"'`).
pub fn command_wrapped(sim: &Sim, wrapper: &[&str]) -> Command {
    let (program, first) = wrapper.split_first().expect("a wrapper program");
    let mut cmd = Command::new(program);
    cmd.args(first).arg(env!("CARGO_BIN_EXE_genesys-export"));
    pointed_at(&mut cmd, &sim.url());
    cmd
}

/// [`command`] with the API at `api` and the login endpoint at `login`.
pub fn command_bases(api: &str, login: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_genesys-export"));
    pointed_at_bases(&mut cmd, api, login);
    cmd
}

/// The simulator's CA certificate (it serves HTTPS) in a file of `dir`, for `--ca-file`.
pub fn write_ca_file(sim: &Sim, dir: &Dir) -> PathBuf {
    let path = dir.join("ca.pem");
    std::fs::write(&path, sim.ca_pem().expect("the simulator serves HTTPS")).unwrap();
    path
}

/// The simulator's loopback socket address, from its URL.
pub fn sim_addr(sim: &Sim) -> std::net::SocketAddr {
    let url = sim.url();
    let port = url.rsplit(':').next().and_then(|p| p.parse().ok());
    std::net::SocketAddr::from((
        [127, 0, 0, 1],
        port.expect("the simulator's URL has a port"),
    ))
}

/// `genesys-export check` pointed at `url`, with the environment of [`command`].
pub fn check_command_at(url: &str) -> Command {
    check_command_bases(url, url)
}

/// `genesys-export check` with the API at `api` and the login endpoint at `login`.
pub fn check_command_bases(api: &str, login: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_genesys-export"));
    with_client(&mut cmd).args(["check", "--api-base", api, "--login-base", login]);
    cmd
}

/// A cleared environment holding the simulator's OAuth client.
fn with_client(cmd: &mut Command) -> &mut Command {
    cmd.env_clear()
        .env("GENESYSCLOUD_OAUTHCLIENT_ID", CLIENT_ID)
        .env("GENESYSCLOUD_OAUTHCLIENT_SECRET", CLIENT_SECRET)
}

/// The environment and first arguments of [`command`].
fn pointed_at(cmd: &mut Command, url: &str) {
    pointed_at_bases(cmd, url, url);
}

/// The environment and first arguments of [`command_bases`].
fn pointed_at_bases(cmd: &mut Command, api: &str, login: &str) {
    with_client(cmd).args([
        "conversations",
        "--api-base",
        api,
        "--login-base",
        login,
        // The simulator moves a job on per status poll, not with time: poll at once.
        "--job-poll",
        "1ms",
    ]);
}

/// Runs `genesys-export conversations ARGS` against the simulator.
pub fn export<I, S>(sim: &Sim, args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = command(sim);
    cmd.args(args);
    run_command(cmd)
}

/// Runs the export `args` with `GENESYS_EXPORT_CRASH_AT=spec` and checks that it died there:
/// aborted, leaving `FILE.partial` and `FILE.state` behind and no `FILE`, the state covering
/// no more than the partial holds. Returns the run.
pub fn crash_at(sim: &Sim, args: &Args, out: &Path, spec: &str) -> Run {
    let run = abort_at(sim, args, spec);
    assert!(!out.exists(), "{spec}: no FILE after a crash");
    let covered = saved_output_len(out).unwrap_or_else(|| panic!("{spec}: no state was left"));
    let partial = partial_len(out).unwrap_or_else(|| panic!("{spec}: no partial was left"));
    assert!(
        covered <= partial,
        "{spec}: the state covers {covered} bytes, the partial holds {partial}"
    );
    run
}

/// Runs the export `args` with `GENESYS_EXPORT_CRASH_AT=spec` and checks that it aborted,
/// printing no secret. Returns the run.
pub fn abort_at(sim: &Sim, args: &Args, spec: &str) -> Run {
    if !cfg!(debug_assertions) {
        panic!("crash points exist in debug builds only: run these tests without --release");
    }
    let mut cmd = command(sim);
    cmd.args(args).env("GENESYS_EXPORT_CRASH_AT", spec);
    let run = run_command(cmd);
    run.expect_abort();
    assert_no_secrets(&run, sim);
    run
}

/// Runs `args`, an export other than the one whose state `out` has saved, and checks that
/// it is refused: exit 2 naming the different export, the state file left as it was. Returns
/// the run.
pub fn refused_as_another_export(sim: &Sim, args: &Args, out: &Path) -> Run {
    let state = std::fs::read(state_path(out)).unwrap();
    let run = export(sim, args);
    run.expect_code(2);
    assert!(
        run.stderr.contains("belongs to a different export"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read(state_path(out)).unwrap(),
        state,
        "left untouched"
    );
    run
}

/// `FILE.partial` beside the output `out`.
pub fn partial_path(out: &Path) -> PathBuf {
    suffixed(out, ".partial")
}

/// `FILE.state` beside the output `out`.
pub fn state_path(out: &Path) -> PathBuf {
    suffixed(out, ".state")
}

fn suffixed(out: &Path, suffix: &str) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The length of `FILE.partial`, if there is one.
pub fn partial_len(out: &Path) -> Option<u64> {
    std::fs::metadata(partial_path(out)).ok().map(|m| m.len())
}

/// The saved state beside `out` as JSON, if there is one.
pub fn saved_state(out: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(state_path(out)).ok()?;
    Some(serde_json::from_str(&text).expect("the state is JSON"))
}

/// How many bytes of `FILE.partial` the saved state covers, if there is a state.
pub fn saved_output_len(out: &Path) -> Option<u64> {
    saved_state(out).map(|s| s["output_len"].as_u64().expect("output_len is a number"))
}

/// Runs `cmd` to its end, its output collected; fails the test if it runs for minutes.
pub fn run_command(cmd: Command) -> Run {
    finish(spawn(cmd))
}

/// Starts `cmd` with its output piped, for [`finish`].
pub fn spawn(mut cmd: Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs")
}

/// Waits for a child started by [`spawn`] and collects what is left of its output (a pipe the
/// test took reads as empty); fails the test if it runs for minutes.
pub fn finish(mut child: Child) -> Run {
    let started = Instant::now();
    let stdout = child.stdout.take().map(Watched::start);
    let stderr = child.stderr.take().map(Watched::start);
    let status = wait(&mut child);
    let text = |pipe: Option<Watched>| pipe.map(Watched::finish).unwrap_or_default();
    Run {
        code: status.code().unwrap_or(-1),
        signal: status.signal(),
        stdout: text(stdout),
        stderr: text(stderr),
        elapsed: started.elapsed(),
    }
}

/// Waits for `child` to exit; kills it and fails the test if it is still running after
/// [`TIMEOUT`].
pub fn wait(child: &mut Child) -> ExitStatus {
    let mut status = None;
    let exited = poll_until(|| {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the export was still running after {TIMEOUT:?}");
    }
    status.unwrap()
}

/// Polls `done` until it holds; fails the test, naming `what`, if it has not after
/// [`TIMEOUT`].
pub fn wait_for(what: &str, done: impl FnMut() -> bool) {
    assert!(poll_until(done), "gave up waiting for {what}");
}

/// Polls `done` until it holds (true) or [`TIMEOUT`] has passed (false).
fn poll_until(mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while !done() {
        if started.elapsed() > TIMEOUT {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
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

/// The lines of a `--log-format json` stderr, each checked to be one JSON object with a
/// `time` (an API timestamp), a `level` and a `message`.
pub fn json_log(stderr: &str) -> Vec<serde_json::Value> {
    stderr
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("a stderr line is not JSON ({e}): {line:?}"));
            let time = value["time"].as_str().unwrap_or_default();
            assert!(
                time.len() == "2026-11-26T15:04:05.123Z".len() && time.ends_with('Z'),
                "time: {line}"
            );
            ts(time);
            assert!(
                matches!(value["level"].as_str(), Some("info" | "warn" | "error")),
                "level: {line}"
            );
            assert!(value["message"].is_string(), "message: {line}");
            value
        })
        .collect()
}

/// Runs `cmd` (program, arguments and environment) on a terminal of its own: under
/// `script` from util-linux, which gives it a pseudo-terminal as stdin, stdout and stderr.
/// What the terminal showed is the run's `stdout` (`\r\n` line ends; stderr is empty).
pub fn run_in_terminal(cmd: &Command) -> Run {
    run_command(in_terminal(cmd))
}

/// `cmd` under `script`, as [`run_in_terminal`] runs it, to [`spawn`].
pub fn in_terminal(cmd: &Command) -> Command {
    let quote = |s: &OsStr| format!("'{}'", s.to_str().unwrap().replace('\'', r"'\''"));
    let line = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ");
    let mut terminal = Command::new("script");
    terminal.env_clear().args(["-qfec", &line, "/dev/null"]);
    for (name, value) in cmd.get_envs() {
        if let Some(value) = value {
            terminal.env(name, value);
        }
    }
    terminal
}
/// Midnight UTC `days` days before today: data for tests whose runs compare dates with the
/// real clock (a ledger's ageing) lies this far in the past, whatever day the tests run.
pub fn days_ago(days: i64) -> OffsetDateTime {
    let today = OffsetDateTime::now_utc().date().midnight().assume_utc();
    today - time::Duration::days(days)
}

/// `t` as the command line and the API write it: RFC 3339 in UTC.
pub fn stamp(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// The ids and the `conversation_end` of every row of a CSV export, in file order.
pub fn csv_ids_and_ends(text: &str) -> Vec<(String, String)> {
    csv_records(text)
        .iter()
        .map(|r| (r[0].to_string(), r[2].to_string()))
        .collect()
}

/// What a spawned run writes to a pipe, collected as it comes.
pub struct Watched(std::sync::Arc<std::sync::Mutex<Vec<u8>>>, JoinHandle<()>);

impl Watched {
    /// Reads `pipe` in the background until it closes.
    pub fn start(mut pipe: impl Read + Send + 'static) -> Watched {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let into = std::sync::Arc::clone(&seen);
        let reader = std::thread::spawn(move || {
            let mut buf = [0; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                into.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Watched(seen, reader)
    }

    /// What came so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Waits until what came holds `what`.
    pub fn wait_for(&self, what: &str) {
        wait_for(what, || self.text().contains(what));
    }

    /// Everything, once the pipe has closed.
    pub fn finish(self) -> String {
        let Watched(seen, reader) = self;
        reader.join().unwrap();
        let bytes = seen.lock().unwrap();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

//! Logs a machine can read and progress a person can see: `--log-format json` writes every
//! stderr line as one JSON object, the summary's figures as numbers; the progress line shows
//! on a terminal only.

use genesys_sim::{Fault, Faults, Sim, SimConfig};
use serde_json::Value;

use crate::util::*;

/// Windows of `Args::range()` at `--window 6h`.
const WINDOWS: u64 = 8;

/// A simulator whose run logs a 429, a refused token and deleted queues (a warning).
fn sim() -> Sim {
    let faults = Faults {
        script: vec![
            (
                2,
                Fault::RateLimit {
                    retry_after: Some("0".into()),
                },
            ),
            (4, Fault::Revoke),
        ],
        ..Faults::default()
    };
    Sim::start(SimConfig {
        conversations: 1200,
        deleted_queues: 2,
        faults,
        ..SimConfig::default()
    })
}

fn args(dir: &Dir) -> Args {
    Args::range()
        .mode("query")
        .window("6h")
        .backoff("20ms")
        .out(&dir.join("c.csv"))
}

/// Runs the export `args` and checks the file against the ground truth; returns the run and
/// the number of conversations.
fn export_checked(sim: &Sim, dir: &Dir, args: &Args) -> (Run, u64) {
    let run = export(sim, args);
    run.expect_code(0);
    assert_no_secrets(&run, sim);
    let truth = sim.ground_truth(ts(FROM), ts(TO));
    assert_ids_eq(&csv_ids(&read(&dir.join("c.csv"))), &truth);
    (run, truth.len() as u64)
}

/// The lines whose `field` is present.
fn with_field<'a>(log: &'a [Value], field: &str) -> Vec<&'a Value> {
    log.iter().filter(|l| !l[field].is_null()).collect()
}

#[test]
fn json_logs_are_one_object_per_line_and_the_summary_counts_are_numbers() {
    let sim = sim();
    let dir = Dir::new("logs-json");
    let (run, conversations) = export_checked(&sim, &dir, &args(&dir).opt("--log-format", "json"));
    let log = json_log(&run.stderr);
    let stats = sim.stats();

    let summary = log.last().unwrap();
    assert!(summary["message"].as_str().unwrap().starts_with("done: "));
    let number = |field: &str| {
        summary[field]
            .as_u64()
            .unwrap_or_else(|| panic!("{field} is not a number: {summary}"))
    };
    assert_eq!(number("conversations"), conversations);
    assert_eq!(number("windows"), WINDOWS);
    assert_eq!(number("token_requests"), stats.token_requests);
    assert_eq!(
        number("requests"),
        stats.api_requests + stats.token_requests
    );
    assert_eq!(summary["retries_by_cause"]["429"].as_u64(), Some(1));
    assert_eq!(summary["retries_by_cause"]["401"].as_u64(), Some(1));
    assert!(summary["elapsed_seconds"].is_f64(), "{summary}");

    // One line per window with its bounds and counts, adding up to the summary.
    let windows = with_field(&log, "window");
    assert_eq!(windows.len() as u64, WINDOWS);
    let written: u64 = windows
        .iter()
        .map(|w| w["conversations"].as_u64().unwrap())
        .sum();
    assert_eq!(written, conversations);
    assert_eq!(windows[0]["from"], FROM.replace('Z', ".000Z").as_str());
    assert_eq!(windows[7]["to"], TO.replace('Z', ".000Z").as_str());
    assert!(windows.iter().all(|w| w["windows"] == WINDOWS));

    // The retry, the refused token and the warning, typed.
    let retries = with_field(&log, "retry");
    assert!(retries
        .iter()
        .any(|r| r["cause"] == "429" && r["wait_seconds"].is_f64()));
    assert_eq!(with_field(&log, "token_replay").len(), 1, "{}", run.stderr);
    assert!(
        log.iter().any(|l| l["level"] == "warn"
            && l["message"].as_str().unwrap().contains("queue names")),
        "{}",
        run.stderr
    );
}

#[test]
fn json_error_lines_carry_the_exit_code() {
    let sim = sim();
    let dir = Dir::new("logs-error");
    #[track_caller]
    fn check(run: &Run, code: i32, says: &str) {
        run.expect_code(code);
        let log = json_log(&run.stderr);
        let last = log.last().unwrap();
        assert_eq!(last["level"], "error", "{}", run.stderr);
        assert_eq!(
            last["exit"].as_i64(),
            Some(i64::from(code)),
            "{}",
            run.stderr
        );
        assert!(last["message"].as_str().unwrap().contains(says), "{last}");
    }
    // A usage error is written in the format asked for, option or environment.
    let bad = args(&dir).opt("--window", "0s");
    check(
        &export(&sim, &bad.clone().opt("--log-format", "json")),
        2,
        "--window",
    );
    let mut cmd = command(&sim);
    cmd.args(&bad).env("GENESYS_EXPORT_LOG_FORMAT", "json");
    check(&run_command(cmd), 2, "--window");
    // So is a rejected secret, and it is not shown.
    let mut cmd = command(&sim);
    cmd.args(&args(&dir).opt("--log-format", "json"))
        .env("GENESYSCLOUD_OAUTHCLIENT_SECRET", "wrong-secret");
    let run = run_command(cmd);
    check(&run, 3, "");
    assert!(!run.stderr.contains("wrong-secret"), "{}", run.stderr);
    assert!(dir.files().is_empty(), "{:?}", dir.files());
}

#[test]
fn text_logs_without_a_terminal_have_no_progress_line() {
    let sim = sim();
    let dir = Dir::new("logs-text");
    let (run, conversations) = export_checked(&sim, &dir, &args(&dir));
    assert!(!run.stderr.contains(['\r', '\x1b']), "{:?}", run.stderr);
    let last = run.stderr.lines().last().unwrap();
    assert!(
        last.starts_with(&format!(
            "done: {conversations} conversations, {WINDOWS} windows"
        )),
        "{last}"
    );
    assert!(
        run.stderr.contains("\nwarning: queue names"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("token refused"), "{}", run.stderr);
}

#[test]
fn a_terminal_shows_the_progress_line_then_the_summary() {
    let sim = sim();
    let dir = Dir::new("logs-terminal");
    let mut cmd = command(&sim);
    cmd.args(&args(&dir));
    let run = run_in_terminal(&cmd);
    run.expect_code(0);
    assert_no_secrets(&run, &sim);
    let truth = sim.ground_truth(ts(FROM), ts(TO));
    assert_ids_eq(&csv_ids(&read(&dir.join("c.csv"))), &truth);
    let shown = &run.stdout;
    // Drawn in place; drawn again, complete, below the last window's line; erased before
    // the summary.
    assert!(shown.contains("\r\x1b[K"), "{shown:?}");
    let last_progress = format!("{} conversations, windows {WINDOWS}/{WINDOWS}", truth.len());
    assert!(shown.contains(&last_progress), "{shown:?}");
    let summary = format!("\r\x1b[Kdone: {} conversations", truth.len());
    assert!(shown.contains(&summary), "{shown:?}");
    assert!(shown.ends_with("\r\n"), "{shown:?}");
}

#[test]
fn no_progress_line_on_a_terminal_with_no_progress_json_or_the_data_there() {
    let sim = sim();
    let dir = Dir::new("logs-terminal-off");
    let to_stdout = Args::range().mode("query").window("6h").backoff("20ms");
    for (name, args) in [
        (
            "no-progress",
            args(&dir).flag("--no-progress").flag("--force"),
        ),
        (
            "json",
            args(&dir).opt("--log-format", "json").flag("--force"),
        ),
        ("-o -", to_stdout),
    ] {
        let mut cmd = command(&sim);
        cmd.args(&args);
        let run = run_in_terminal(&cmd);
        run.expect_code(0);
        assert!(!run.stdout.contains('\x1b'), "{name}: {:?}", run.stdout);
        let lines = run.stdout.replace("\r\n", "\n");
        assert!(!lines.contains('\r'), "{name}: {:?}", run.stdout);
        if name == "json" {
            json_log(&lines);
        }
    }
}

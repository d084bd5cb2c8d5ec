//! Crashes, kills and signals in the middle of an export, then the same command again: the
//! final file must be byte for byte the file an uninterrupted run writes.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use genesys_sim::{Fault, Faults, Sim, SimConfig};

use crate::util::*;

const FROM: &str = "2026-11-01T00:00:00Z";
const TO: &str = "2026-11-03T00:00:00Z";

fn sim_with(faults: Faults, latency_ms: u64) -> Sim {
    Sim::start(SimConfig {
        conversations: 700,
        token_lifetime: Duration::from_secs(1),
        latency: Duration::from_millis(latency_ms),
        faults,
        ..SimConfig::default()
    })
}

/// Expiring tokens, 429s and 5xx stay on while the export is killed and resumed.
fn faulty() -> Faults {
    Faults {
        p_429: 0.03,
        p_5xx: 0.03,
        p_revoke: 0.02,
        retry_after_secs: Some(0),
        ..Faults::default()
    }
}

fn args<'a>(out: &'a Path, format: &'a str) -> Vec<&'a str> {
    args_with(out, format, "3h", "10")
}

fn args_with<'a>(
    out: &'a Path,
    format: &'a str,
    window: &'a str,
    page_size: &'a str,
) -> Vec<&'a str> {
    vec![
        "--from",
        FROM,
        "--to",
        TO,
        "--window",
        window,
        "--page-size",
        page_size,
        "--backoff",
        "10ms",
        "--format",
        format,
        "-q",
        "-o",
        out.to_str().unwrap(),
        "--mode",
        "query",
    ]
}

/// The bytes of an uninterrupted export.
fn reference(sim: &Sim, format: &str) -> Vec<u8> {
    let dir = Dir::new("reference");
    let out = dir.join("ref.out");
    export(sim, &args(&out, format)).expect_code(0);
    std::fs::read(&out).unwrap()
}

/// Runs the export until it succeeds, crashing it first at `point:n` when given.
fn run_to_completion(sim: &Sim, out: &Path, format: &str, crash: Option<String>) -> usize {
    let mut runs = 0;
    let mut crash = crash;
    loop {
        let mut cmd = command(sim);
        cmd.args(args(out, format));
        if let Some(spec) = crash.take() {
            cmd.env("GENESYS_EXPORT_CRASH_AT", spec);
        }
        let run = run_command(cmd);
        runs += 1;
        assert_no_secrets(&run, sim);
        if run.code == 0 {
            return runs;
        }
        assert!(runs < 20, "no progress: {}", run.stderr);
    }
}

fn assert_done(out: &Path, want: &[u8]) {
    let got = std::fs::read(out).unwrap();
    assert!(
        got == want,
        "the resumed file differs from an uninterrupted export ({} vs {} bytes)",
        got.len(),
        want.len()
    );
    let dir = out.parent().unwrap();
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 1, "state and partial files are gone: {left:?}");
}

#[test]
fn crashes_at_every_kind_of_point_resume_byte_for_byte() {
    let sim = sim_with(faulty(), 0);
    let want = reference(&sim, "csv");
    let mut kill_points = 0;
    for point in ["page-written", "state-write", "state-saved"] {
        for n in [1, 2, 5, 13, 29, 47, 70] {
            let dir = Dir::new("crash");
            let out = dir.join("c.csv");
            let runs = run_to_completion(&sim, &out, "csv", Some(format!("{point}:{n}")));
            assert_eq!(runs, 2, "{point}:{n} crashed once, then resumed to the end");
            assert_done(&out, &want);
            kill_points += 1;
        }
    }
    assert_eq!(kill_points, 21);
}

#[test]
fn jsonl_resumes_byte_for_byte_too() {
    let sim = sim_with(faulty(), 0);
    let want = reference(&sim, "jsonl");
    for spec in ["page-written:3", "state-write:17", "state-saved:40"] {
        let dir = Dir::new("crash-jsonl");
        let out = dir.join("c.jsonl");
        run_to_completion(&sim, &out, "jsonl", Some(spec.to_string()));
        assert_done(&out, &want);
    }
}

#[test]
fn sigkill_at_random_moments_then_resume() {
    let sim = sim_with(faulty(), 5);
    let want = reference(&sim, "csv");
    let dir = Dir::new("sigkill");
    let out = dir.join("c.csv");
    // A fixed sequence of delays, so a failure reproduces.
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut kills = 0;
    for attempt in 0..40 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(30 + seed % 250);
        let mut cmd = command(&sim);
        cmd.args(args(&out, "csv"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            child.wait().unwrap();
            kills += 1;
            continue;
        }
        let status = child.wait().unwrap();
        assert!(status.success(), "attempt {attempt} failed: {status:?}");
        break;
    }
    assert!(kills >= 5, "only {kills} kills landed mid-run");
    // Whatever is left, the same command finishes it.
    if !out.exists() {
        run_to_completion(&sim, &out, "csv", None);
    }
    assert_done(&out, &want);
}

#[test]
fn sigterm_stops_cleanly_and_the_rerun_completes() {
    let sim = sim_with(faulty(), 15);
    let want = reference(&sim, "csv");
    let dir = Dir::new("sigterm");
    let out = dir.join("c.csv");
    let state = dir.join("c.csv.state");
    let mut cmd = command(&sim);
    cmd.args(args(&out, "csv"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    // Wait until a few pages are saved.
    let started = Instant::now();
    while std::fs::read_to_string(&state).map_or(true, |s| !s.contains("\"top_index\": 2")) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the export never got going"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted by SIGTERM"), "{stderr}");
    assert!(
        stderr.contains("running the same command again resumes"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(state.exists() && dir.join("c.csv.partial").exists() && !out.exists());
    let run = export(&sim, &args(&out, "csv"));
    run.expect_code(0);
    assert_done(&out, &want);
}

#[test]
fn a_different_command_against_a_saved_state_is_refused_untouched() {
    let sim = sim_with(Faults::default(), 0);
    let dir = Dir::new("mismatch");
    let out = dir.join("c.csv");
    let mut cmd = command(&sim);
    cmd.args(args(&out, "csv"))
        .env("GENESYS_EXPORT_CRASH_AT", "state-saved:6");
    assert_ne!(run_command(cmd).code, 0);
    let state = dir.join("c.csv.state");
    let partial = dir.join("c.csv.partial");
    let (state_before, partial_before) = (
        std::fs::read(&state).unwrap(),
        std::fs::read(&partial).unwrap(),
    );
    // The state holds positions, never a secret or a token.
    let text = String::from_utf8(state_before.clone()).unwrap();
    assert!(!text.contains(CLIENT_SECRET));
    assert!(sim
        .issued_tokens()
        .iter()
        .all(|t| !text.contains(t.as_str())));

    let mut changed = args(&out, "csv");
    changed[7] = "25"; // --page-size
    let run = export(&sim, &changed);
    run.expect_code(2);
    assert!(
        run.stderr.contains("belongs to a different export"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--restart"), "{}", run.stderr);
    assert_eq!(std::fs::read(&state).unwrap(), state_before);
    assert_eq!(std::fs::read(&partial).unwrap(), partial_before);

    // A state from a newer version is refused the same way.
    let newer = String::from_utf8(state_before.clone())
        .unwrap()
        .replace("\"version\": 2", "\"version\": 99");
    std::fs::write(&state, &newer).unwrap();
    let run = export(&sim, &args(&out, "csv"));
    run.expect_code(2);
    assert!(
        run.stderr.contains("newer genesys-export"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(&partial).unwrap(), partial_before);

    // --restart starts over and completes.
    let mut restart = changed.clone();
    restart.push("--restart");
    export(&sim, &restart).expect_code(0);
    assert_ids_eq(&csv_ids(&read(&out)), &sim.ground_truth(ts(FROM), ts(TO)));
    assert!(!state.exists() && !partial.exists());
}

#[test]
fn windows_over_the_paging_cap_split_and_complete_exactly() {
    let sim = Sim::start(SimConfig {
        conversations: 1500,
        result_cap: 200,
        faults: Faults {
            script: vec![(4, Fault::Status(503))],
            ..Faults::default()
        },
        ..SimConfig::default()
    });
    let dir = Dir::new("cap");
    let out = dir.join("c.csv");
    let run = export(
        &sim,
        &[
            "--mode",
            "query",
            "--from",
            FROM,
            "--to",
            TO,
            "--window",
            "1d",
            "--page-size",
            "50",
            "--backoff",
            "10ms",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    run.expect_code(0);
    assert!(run.stderr.contains("splitting it in two"), "{}", run.stderr);
    assert_ids_eq(&csv_ids(&read(&out)), &sim.ground_truth(ts(FROM), ts(TO)));
    assert!(sim.stats().max_page_number <= 4);
}

#[test]
fn a_split_window_resumes_exactly() {
    let sim = Sim::start(SimConfig {
        conversations: 1500,
        result_cap: 200,
        ..SimConfig::default()
    });
    let dir = Dir::new("cap-reference");
    let reference = dir.join("ref.csv");
    export(&sim, &args_with(&reference, "csv", "1d", "50")).expect_code(0);
    let want = std::fs::read(&reference).unwrap();
    for n in [4, 9, 15] {
        let dir = Dir::new("cap-crash");
        let out = dir.join("c.csv");
        let all = args_with(&out, "csv", "1d", "50");
        let mut cmd = command(&sim);
        cmd.args(&all)
            .env("GENESYS_EXPORT_CRASH_AT", format!("state-saved:{n}"));
        assert_ne!(run_command(cmd).code, 0);
        export(&sim, &all).expect_code(0);
        assert_done(&out, &want);
    }
}

#[test]
fn data_arriving_while_paging_is_neither_lost_nor_doubled() {
    let sim = Sim::start(SimConfig {
        conversations: 1200,
        arrivals_per_page: 4,
        ..SimConfig::default()
    });
    let initial = sim.initial_ids(ts(FROM), ts(TO));
    let run = export(
        &sim,
        &[
            "--mode",
            "query",
            "--from",
            FROM,
            "--to",
            TO,
            "--window",
            "6h",
            "--page-size",
            "25",
            "-q",
        ],
    );
    run.expect_code(0);
    let got = csv_ids(&run.stdout);
    let mut seen = std::collections::HashSet::new();
    assert!(
        got.iter().all(|id| seen.insert(id.clone())),
        "an id was written twice"
    );
    let missing: Vec<_> = initial.iter().filter(|id| !seen.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} conversations present at the start are missing",
        missing.len()
    );
    let truth: std::collections::HashSet<String> =
        sim.ground_truth(ts(FROM), ts(TO)).into_iter().collect();
    assert!(got.iter().all(|id| truth.contains(id)));
    assert!(got.len() > initial.len(), "some arrivals were exported too");
}
